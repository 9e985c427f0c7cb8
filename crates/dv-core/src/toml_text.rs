//! The TOML text dv writes (pointer files, step files, `.dv/config.toml`): quoting of strings, keys and lists,
//! inline values and table headers, in one place; and how an error in TOML dv reads is reported ([`error`]).
//!
//! The files are written by hand, not through serde and the `toml` serializer, because their exact bytes are
//! pinned (golden tests, and files users have committed): the serializer writes no comment header, writes a
//! table inside an array of tables as a `[params.value]` sub-table rather than inline.

/// A TOML string, quoted and escaped as the `toml` crate writes one.
pub fn string(s: &str) -> String {
    toml::Value::String(s.to_string()).to_string()
}

/// A key: bare when it is letters, digits, `_` and `-`, else quoted.
pub fn key(k: &str) -> String {
    if !k.is_empty()
        && k.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    {
        k.to_string()
    } else {
        string(k)
    }
}

/// A list of strings on one line: `["a", "b"]`.
pub fn string_list(items: &[String]) -> String {
    let q: Vec<String> = items.iter().map(|s| string(s)).collect();
    format!("[{}]", q.join(", "))
}

/// Any value on one line: tables as inline tables, `{ k = v, … }` (`{}` when empty).
pub fn inline(v: &toml::Value) -> String {
    match v {
        toml::Value::Table(t) => {
            let parts: Vec<String> = t
                .iter()
                .map(|(k, v)| format!("{} = {}", key(k), inline(v)))
                .collect();
            if parts.is_empty() {
                "{}".into()
            } else {
                format!("{{ {} }}", parts.join(", "))
            }
        }
        toml::Value::Array(a) => {
            let parts: Vec<String> = a.iter().map(inline).collect();
            format!("[{}]", parts.join(", "))
        }
        other => other.to_string(),
    }
}

/// A table's header after a blank line: `\n[NAME]\n`. `name` is written as given (dotted on purpose).
pub fn table(name: &str) -> String {
    format!("\n[{name}]\n")
}

/// An array-of-tables entry's header after a blank line: `\n[[NAME]]\n`.
pub fn array_table(name: &str) -> String {
    format!("\n[[{name}]]\n")
}

/// A parse error in the TOML `text` of `what`, as dv reports it: the message and the line it is on, without the
/// quoted snippet of the file (which could hold a secret).
pub fn error(what: &str, text: &str, e: &toml::de::Error) -> crate::Error {
    let message = match e.span() {
        Some(span) => {
            let line = 1 + text.as_bytes()[..span.start.min(text.len())]
                .iter()
                .filter(|&&b| b == b'\n')
                .count();
            format!("line {line}: {}", e.message())
        }
        None => e.message().to_string(),
    };
    crate::Error::format(what, message)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotes_as_the_files_pin() {
        assert_eq!(string("data/x.csv"), "\"data/x.csv\"");
        for tricky in ["a\"b", "it's \"x\"", "a\\b", "line\nbreak", "tab\t"] {
            let text = format!("k = {}", string(tricky));
            let back: toml::Table = text.parse().unwrap();
            assert_eq!(back["k"].as_str(), Some(tricky), "{text}");
        }
        assert_eq!(key("train_lr-2"), "train_lr-2");
        assert_eq!(key("batch size"), "\"batch size\"");
        assert_eq!(key(""), "\"\"");
        assert_eq!(key("é"), "\"é\"");
        assert_eq!(string_list(&["a".into(), "b".into()]), "[\"a\", \"b\"]");
        assert_eq!(string_list(&[]), "[]");
        let v: toml::Table = "a = 1\n\"b c\" = [true, { d = \"e\" }]\nf = {}"
            .parse()
            .unwrap();
        assert_eq!(
            inline(&toml::Value::Table(v)),
            "{ a = 1, \"b c\" = [true, { d = \"e\" }], f = {} }"
        );
        assert_eq!(table("remote.origin"), "\n[remote.origin]\n");
        assert_eq!(array_table("deps"), "\n[[deps]]\n");
    }
}
