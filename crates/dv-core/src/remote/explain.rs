//! The one place a remote's errors become dv's: what dv knows about the remote ([`Explain`]) turns the store's
//! error text into a message that says what is wrong, without secrets or S3's XML, and a hint where it can.

use crate::Error;
use crate::error::Source;

/// The error `e` of remote `name`, explained, and kept as the error's source.
pub(super) fn remote_err(name: &str, e: impl std::error::Error + Send + Sync + 'static) -> Error {
    explain(name, &Explain::default(), e.to_string(), Some(Box::new(e)))
}

/// An error of remote `name` that dv found itself (a bad setting): only text.
pub(super) fn remote_msg(name: &str, text: impl std::fmt::Display) -> Error {
    explain(name, &Explain::default(), text.to_string(), None)
}

/// What dv knows about a remote that explains its errors.
#[derive(Clone, Debug, Default)]
pub(super) struct Explain {
    /// The S3 bucket, for "the bucket X does not exist".
    pub(super) bucket: Option<String>,
    /// When no credentials were configured for S3, so that the store asks the instance metadata endpoint: that
    /// endpoint, and where dv looked before.
    pub(super) no_credentials: Option<(String, String)>,
    /// The `response_timeout` in force, for the hint.
    pub(super) response_timeout: Option<std::time::Duration>,
    /// For a registry's remote (`dv ls`, `get`, `import`): the source as recorded, so that hints name the
    /// reader's settings for it (`source.URL.remote.NAME.KEY`) rather than a remote of the reader's own.
    pub(super) source: Option<String>,
}

impl Explain {
    /// How the user sets `key` of remote `name`: `dv remote modify`, or for a registry's remote the reader's
    /// own setting for it.
    fn set(&self, name: &str, key: &str, value: &str) -> String {
        match &self.source {
            Some(src) => {
                format!("`dv config --global set source.{src}.remote.{name}.{key} {value}`")
            }
            None => format!("`dv remote modify {name} {key} {value}`"),
        }
    }

    /// Where the user puts credentials for remote `name`.
    fn credentials_place(&self, name: &str) -> String {
        match &self.source {
            Some(src) => format!(
                "with `dv config --global set source.{src}.remote.{name}.access_key_id …` (and \
                 secret_access_key)"
            ),
            None => format!("under [remote.{name}] in .dv/config.local.toml"),
        }
    }
}

/// S3 error codes that mean the credentials are wrong, missing or not allowed.
const S3_CREDENTIAL_CODES: &[&str] = &[
    "AccessDenied",
    "InvalidAccessKeyId",
    "SignatureDoesNotMatch",
    "InvalidToken",
    "ExpiredToken",
    "TokenRefreshRequired",
    "InvalidSecurity",
    "AuthorizationHeaderMalformed",
    "AccountProblem",
    "AllAccessDisabled",
    "NotSignedUp",
];

/// The one place a remote's error text becomes dv's error: URLs lose their secrets, a raw S3 XML body becomes
/// its code and message, and known situations (no credentials, a server that never answers, a missing bucket,
/// refused credentials) get a message that says so and a hint. `source`, the error the text is from, stays
/// behind the message as its source.
pub(super) fn explain(name: &str, x: &Explain, text: String, source: Option<Source>) -> Error {
    let mut e = explained(name, x, text);
    if let Error::Remote { source: s, .. } | Error::RemoteFailed { source: s, .. } = &mut e {
        *s = source;
    }
    e
}

fn explained(name: &str, x: &Explain, text: String) -> Error {
    let text = crate::redact::redact(&text);
    let hinted = |message: String, hint: String| Error::RemoteFailed {
        remote: name.to_string(),
        message,
        hint,
        source: None,
    };
    if let Some((endpoint, looked)) = &x.no_credentials
        && text.contains(&format!("{}/latest/", endpoint.trim_end_matches('/')))
    {
        return hinted(
            format!("no credentials found (looked in: {looked})"),
            format!(
                "set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, name an AWS profile (AWS_PROFILE, or {}), \
                 or put access_key_id and secret_access_key {}",
                x.set(name, "profile", "NAME"),
                x.credentials_place(name)
            ),
        );
    }
    if let Some(at) = ["no answer from ", "cannot connect to "]
        .iter()
        .filter_map(|p| text.find(p))
        .min()
    {
        let waited = x
            .response_timeout
            .map(|t| format!(" (now {})", super::http::seconds(t)))
            .unwrap_or_default();
        return hinted(
            text[at..].to_string(),
            format!(
                "check the remote's URL and endpoint{} and the network; a server that is slow to answer needs \
                 a longer wait: {}{waited}",
                if x.source.is_some() {
                    ""
                } else {
                    " (`dv remote list --long`)"
                },
                x.set(name, "response_timeout", "SECONDS")
            ),
        );
    }
    let credentials_hint = || {
        format!(
            "check the credentials dv uses for '{name}' (AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, the AWS \
             profile, or access_key_id and secret_access_key {}) and that they may use this bucket",
            x.credentials_place(name)
        )
    };
    // A refusal without S3's XML body (some servers send `Code: message`, some nothing).
    if s3_error(&text).is_none()
        && let Some(said) = refused(&text)
    {
        let said = said
            .split_once(": ")
            .map(|(_, body)| body)
            .filter(|b| !b.trim().is_empty())
            .unwrap_or(said);
        return hinted(
            format!("the server refused the credentials ({said})"),
            credentials_hint(),
        );
    }
    if let Some((code, message, whole)) = s3_error(&text) {
        let said = s3_said(code, message);
        if code == "NoSuchBucket" {
            let bucket = x.bucket.as_deref().unwrap_or("named in the URL");
            return hinted(
                format!("the bucket '{bucket}' does not exist ({said})"),
                "create it, or check the remote's URL (`dv remote list`)".into(),
            );
        }
        if S3_CREDENTIAL_CODES.contains(&code) || refused(&text).is_some() {
            return hinted(
                format!("the server refused the credentials ({said})"),
                credentials_hint(),
            );
        }
        return Error::Remote {
            remote: name.to_string(),
            message: text.replace(whole, &said),
            source: None,
        };
    }
    Error::Remote {
        remote: name.to_string(),
        message: text,
        source: None,
    }
}

/// `text` with each S3 XML error body in it told as its code and message, as [`explain`]'s messages tell it:
/// for the causes behind a message, which hold the store's raw text.
pub(crate) fn without_s3_xml(text: &str) -> String {
    let mut text = text.to_string();
    while let Some((said, whole)) =
        s3_error(&text).map(|(code, message, whole)| (s3_said(code, message), whole.to_string()))
    {
        text = text.replacen(&whole, &said, 1);
    }
    text
}

/// "Code: message", or the code alone.
fn s3_said(code: &str, message: &str) -> String {
    if message.is_empty() {
        code.to_string()
    } else {
        format!("{code}: {message}")
    }
}

/// What follows the status of a 401 or 403 answer in an error's text (`403 Forbidden: …`), if it is one.
fn refused(text: &str) -> Option<&str> {
    const STATUS: &str = "status code: ";
    let said = &text[text.find(STATUS)? + STATUS.len()..];
    (said.starts_with("401 ") || said.starts_with("403 ")).then_some(said)
}

/// The code and message of an S3 XML error body in `text`, and the body's text as it appears there.
fn s3_error(text: &str) -> Option<(&str, &str, &str)> {
    let element = |name: &str| -> Option<(usize, &str, usize)> {
        let open = format!("<{name}>");
        let start = text.find(&open)? + open.len();
        let len = text[start..].find(&format!("</{name}>"))?;
        Some((
            start,
            &text[start..start + len],
            start + len + name.len() + 3,
        ))
    };
    let (code_at, code, _) = element("Code")?;
    let message = element("Message").map(|(_, m, _)| m).unwrap_or_default();
    // The body: from the XML declaration (or the <Error> element) to the end of </Error>.
    let start = text[..code_at]
        .rfind("<?xml")
        .or_else(|| text[..code_at].rfind("<Error>"))?;
    let end = text[code_at..].find("</Error>").map(|e| code_at + e + 8)?;
    Some((code, message, &text[start..end]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_are_explained_without_secrets_or_xml() {
        let x = Explain {
            bucket: Some("b".into()),
            ..Explain::default()
        };
        let body = "<?xml version=\"1.0\"?><Error><Code>SlowDown</Code><Message>Reduce your rate.</Message></Error>";
        let e = explain(
            "o",
            &x,
            format!(
                "GET http://u:pw@h/b?sig=s1 - Server returned non-2xx status code: 503: {body}"
            ),
            None,
        );
        let text = e.to_string();
        assert_eq!(
            text,
            "remote 'o': GET http://***@h/b?sig=*** - Server returned non-2xx status code: 503: SlowDown: \
             Reduce your rate."
        );
        let e = explain(
            "o",
            &x,
            format!("403 {}", body.replace("SlowDown", "AccessDenied")),
            None,
        );
        assert!(matches!(e, Error::RemoteFailed { .. }), "{e}");
        assert!(
            e.to_string()
                .contains("refused the credentials (AccessDenied: ")
        );
        let e = explain("o", &x, body.replace("SlowDown", "NoSuchBucket"), None);
        assert!(
            e.to_string().contains("the bucket 'b' does not exist"),
            "{e}"
        );
    }
}
