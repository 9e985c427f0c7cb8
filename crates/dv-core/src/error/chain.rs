//! The causes below an error's message, as every front end shows them (the CLI's `caused by:` lines).

use super::Error;

impl Error {
    /// The causes below this error's message, outermost first: each with its URLs' secrets redacted, S3's
    /// XML bodies shown as their code and message and a Git configuration's parse error as its line alone, leaving out any the message or a cause above already says
    /// (object_store's and gix's errors often repeat their source in their own text). Empty for an I/O or
    /// database error, whose message shows its source.
    pub fn causes(&self) -> Vec<String> {
        if matches!(self, Error::Io { .. } | Error::Db { .. }) {
            return Vec::new();
        }
        let mut said = crate::redact::redact(&self.to_string());
        let mut out = Vec::new();
        let mut source = std::error::Error::source(self);
        while let Some(s) = source {
            let text = match s.downcast_ref::<gix::config::parse::Error>() {
                // gix quotes the bytes it could not parse, and a configuration file may hold credentials
                // (a token on a line of its own, a header's value): only where is said, never what.
                Some(e) => format!(
                    "the configuration file cannot be parsed at line {} (its text is not shown: it may hold \
                     credentials)",
                    e.line_number()
                ),
                None => crate::remote::without_s3_xml(&crate::redact::redact(&s.to_string())),
            };
            // A bare name (`Validation`: a library's name for a kind of error, with nothing of this one) says
            // nothing a reader can use.
            let bare =
                !text.is_empty() && text.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
            if !text.trim().is_empty() && !bare && !said.contains(text.as_str()) {
                said.push('\n');
                said.push_str(&text);
                out.push(text);
            }
            source = s.source();
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A cause with a cause of its own, as object_store's and gix's errors nest.
    #[derive(Debug)]
    struct Nested(&'static str, Option<Box<Nested>>);

    impl std::fmt::Display for Nested {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str(self.0)
        }
    }

    impl std::error::Error for Nested {
        fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
            self.1.as_deref().map(|n| n as _)
        }
    }

    #[test]
    fn causes_are_redacted_and_said_once() {
        let e = Error::Remote {
            remote: "o".into(),
            message: "cannot connect to http://127.0.0.1:1".into(),
            source: Some(Box::new(Nested(
                "GET http://u:hunter2@127.0.0.1:1/b?sig=s3cr3t failed: Connection refused",
                Some(Box::new(Nested(
                    "Connection refused",
                    Some(Box::new(Nested(
                        "tcp connect error: <Error><Code>SlowDown</Code><Message>m</Message></Error>",
                        Some(Box::new(Nested("Validation", None))),
                    ))),
                ))),
            ))),
        };
        assert_eq!(
            e.causes(),
            vec![
                "GET http://***@127.0.0.1:1/b?sig=*** failed: Connection refused".to_string(),
                "tcp connect error: SlowDown: m".to_string(),
            ]
        );
        // A cause the message already says is not said again.
        let e = Error::Git {
            path: "/r".into(),
            message: "bad config".into(),
            source: Some(Box::new(Nested(
                "bad config",
                Some(Box::new(Nested("line 3", None))),
            ))),
        };
        assert_eq!(e.causes(), vec!["line 3".to_string()]);
        let io = Error::io("/x", std::io::Error::other(Nested("inner", None)));
        assert!(io.causes().is_empty());
    }
}
