//! Hiding secrets in URLs in any text that is shown (error messages and their causes), wherever a URL was
//! copied into it. Finding them is [`crate::secret`]'s job.

use crate::secret::{is_secret_param, url_end};

/// `text` with every URL's `user:password@` replaced by `***@` and the values of its secret query parameters
/// replaced by `***`. Anything that is not a URL is left as it is.
pub fn redact(text: &str) -> String {
    let text = redact_logins(text);
    let text = text.as_str();
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find("://") {
        let (before, after) = rest.split_at(at + 3);
        out.push_str(before);
        // The URL runs to the next character that cannot be part of one in a message.
        let end = url_end(after);
        out.push_str(&redact_url_tail(&after[..end]));
        rest = &after[end..];
    }
    out.push_str(rest);
    out
}

/// `text` with the password of every word that holds a login without `://` (`NAME:PASSWORD@HOST`): a mistyped URL
/// (`https:/u:pw@host`, also what a path made of a URL becomes once its `//` is collapsed) or an scp-style
/// `user:pw@host:path`.
fn redact_logins(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut word_start = 0;
    let delimiter =
        |c: char| c.is_whitespace() || matches!(c, '"' | '\'' | '`' | '(' | ')' | '<' | '>');
    for (i, c) in text.char_indices().chain([(text.len(), ' ')]) {
        if !delimiter(c) {
            continue;
        }
        let word = &text[word_start..i];
        out.push_str(&redact_login(word));
        if i < text.len() {
            out.push(c);
        }
        word_start = i + c.len_utf8();
    }
    out
}

fn redact_login(word: &str) -> String {
    if word.contains("://") {
        return word.to_string();
    }
    let Some((user, host)) = word.rsplit_once('@') else {
        return word.to_string();
    };
    match user.rsplit_once(':') {
        Some((name, pass)) if !name.is_empty() && !pass.is_empty() && !pass.contains('/') => {
            format!("{name}:***@{host}")
        }
        _ => word.to_string(),
    }
}

/// Redacts the part of a URL after `scheme://`.
fn redact_url_tail(tail: &str) -> String {
    let authority_end = tail.find(['/', '?', '#']).unwrap_or(tail.len());
    let (authority, path) = tail.split_at(authority_end);
    let mut out = match authority.rsplit_once('@') {
        Some((_, host)) => format!("***@{host}"),
        None => authority.to_string(),
    };
    let Some((before_query, query)) = path.split_once('?') else {
        out.push_str(path);
        return out;
    };
    out.push_str(before_query);
    out.push('?');
    let (query, fragment) = match query.split_once('#') {
        Some((q, f)) => (q, Some(f)),
        None => (query, None),
    };
    let pairs: Vec<String> = query
        .split('&')
        .map(|pair| match pair.split_once('=') {
            Some((name, _)) if is_secret_param(name) => format!("{name}=***"),
            _ => pair.to_string(),
        })
        .collect();
    out.push_str(&pairs.join("&"));
    if let Some(f) = fragment {
        out.push('#');
        out.push_str(f);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_in_text_are_redacted() {
        assert_eq!(
            redact("GET http://user:hunter2@127.0.0.1:9/b/k?list-type=2&sig=abc#f failed"),
            "GET http://***@127.0.0.1:9/b/k?list-type=2&sig=***#f failed"
        );
        assert_eq!(
            redact("\"s3://AKIA:hunter2@bucket\": bad, and (https://h/x?X-Amz-Credential=A%2Fb)"),
            "\"s3://***@bucket\": bad, and (https://h/x?X-Amz-Credential=***)"
        );
        // Logins without `://`: a URL path whose `//` was collapsed, an scp-style login.
        assert_eq!(
            redact("error: 'postgres:/user:Hunter2Secret@h/x' is not a file"),
            "error: 'postgres:/user:***@h/x' is not a file"
        );
        assert_eq!(
            redact("cannot read ana:Hunter2Secret@host:/data"),
            "cannot read ana:***@host:/data"
        );
        assert_eq!(
            redact("https:/u:hunter2@127.0.0.1/x"),
            "https:/u:***@127.0.0.1/x"
        );
        assert_eq!(
            redact("'/tmp/w/postgres:/user:Hunter2Secret@h/x': no such file"),
            "'/tmp/w/postgres:/user:***@h/x': no such file"
        );
        let plain = "no URL here: /srv/a@b:c, or ://, git@github.com:org/repo";
        assert_eq!(redact(plain), plain);
    }
}
