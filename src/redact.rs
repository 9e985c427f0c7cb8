//! Hiding secrets in URLs in any text that is shown (error messages and their causes), wherever a URL was
//! copied into it. Finding them is [`crate::secret`]'s job.

use crate::secret::{is_secret_param, mistyped_url_password, url_end};

/// `text` with every URL's `user:password@` replaced by `***@` and the values of its secret query parameters
/// replaced by `***`. Anything that is not a URL is left as it is.
pub fn redact(text: &str) -> String {
    // A whole value that is a mistyped URL with a password (`https:/u:pw@host`): mask its user part.
    if !text.contains("://")
        && mistyped_url_password(text)
        && let Some((_, host)) = text.rsplit_once('@')
        && let Some((scheme, _)) = text.split_once(':')
    {
        return format!("{scheme}:***@{host}");
    }
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
        let plain = "no URL here: /srv/a@b:c, or ://";
        assert_eq!(redact(plain), plain);
    }
}
