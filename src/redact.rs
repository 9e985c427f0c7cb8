//! Secrets in URLs: finding them (so committed settings can refuse them) and hiding them in any text that is
//! shown (error messages and their causes), wherever a URL was copied into it.

/// Query-string parameters whose values are credentials: Azure SAS signatures (`sig`), S3 presigned URLs'
/// `X-Amz-Signature`, `X-Amz-Credential` and `X-Amz-Security-Token`, and the usual names for keys, tokens,
/// secrets and passwords. A name matches when it is `sig` or contains one of the longer words (any case).
const SECRET_WORDS: &[&str] = &[
    "signature",
    "token",
    "key",
    "secret",
    "password",
    "credential",
];

/// Whether a query parameter carries a secret.
fn secret_param(name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    name == "sig" || SECRET_WORDS.iter().any(|s| name.contains(s))
}

/// What secret a URL carries, if any: `"a password"` or `"a secret in its query string (`sig`)"`. Only
/// URLs (`scheme://…`) are checked; a folder path is never a URL.
pub fn url_secret(url: &str) -> Option<String> {
    let Some((_, rest)) = url.split_once("://") else {
        return mistyped_url_password(url);
    };
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    if let Some((userinfo, _)) = rest[..authority_end].rsplit_once('@')
        && userinfo.contains(':')
    {
        return Some("a password".into());
    }
    let query = rest.split_once('?')?.1;
    let query = query.split('#').next().unwrap_or_default();
    query
        .split('&')
        .map(|pair| pair.split('=').next().unwrap_or_default())
        .find(|name| secret_param(name))
        .map(|name| format!("a secret in its query string (`{name}`)"))
}

/// A value without `://` that still starts like a URL (`https:/u:pw@host`, `s3:u:pw@bucket`) would be taken for
/// a folder path, password and all: found the same way.
fn mistyped_url_password(value: &str) -> Option<String> {
    let (scheme, rest) = value.split_once(':')?;
    let looks_like_scheme = scheme.len() >= 2
        && scheme.starts_with(|c: char| c.is_ascii_alphabetic())
        && scheme
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '.' | '-'));
    let rest = rest.trim_start_matches('/');
    let authority = &rest[..rest.find(['/', '?', '#']).unwrap_or(rest.len())];
    match authority.rsplit_once('@') {
        Some((userinfo, _)) if looks_like_scheme && userinfo.contains(':') => {
            Some("a password".into())
        }
        _ => None,
    }
}

/// `text` with every URL's `user:password@` replaced by `***@` and the values of its secret query parameters
/// replaced by `***`. Anything that is not a URL is left as it is.
pub fn redact(text: &str) -> String {
    // A whole value that is a mistyped URL with a password (`https:/u:pw@host`): mask its user part.
    if !text.contains("://")
        && mistyped_url_password(text).is_some()
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
        let end = after
            .find(|c: char| c.is_whitespace() || matches!(c, '"' | '\'' | '<' | '>' | '`' | ')'))
            .unwrap_or(after.len());
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
            Some((name, _)) if secret_param(name) => format!("{name}=***"),
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
    fn secrets_in_urls_are_found() {
        assert_eq!(
            url_secret("s3://AKIA:hunter2@bucket/p").as_deref(),
            Some("a password")
        );
        assert_eq!(
            url_secret("http://u:p@127.0.0.1:9000").as_deref(),
            Some("a password")
        );
        assert!(
            url_secret("https://a.blob.core.windows.net/c?sv=1&sig=abc")
                .unwrap()
                .contains("`sig`")
        );
        assert!(url_secret("https://h/b?X-Amz-Signature=1").is_some());
        assert!(url_secret("https://h/b?x-amz-security-token=1").is_some());
        // Mistyped URLs that would pass for folder paths (found by the adversarial review).
        for mistyped in [
            "https:/u:hunter2@127.0.0.1/x",
            "s3:u:hunter2@bkt",
            "http:u:p@h",
        ] {
            assert_eq!(
                url_secret(mistyped).as_deref(),
                Some("a password"),
                "{mistyped}"
            );
        }
        for fine in [
            "relative/dir:with@sign",
            "c:u:p@x",
            "s3://bucket/prefix",
            "abfss://container@account.dfs.core.windows.net/p",
            "/srv/with:colon@sign/dir",
            "http://127.0.0.1:9000",
            "https://h/b?list-type=2&prefix=p",
            "https://h/b?content-type=x",
        ] {
            assert_eq!(url_secret(fine), None, "{fine}");
        }
    }

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
