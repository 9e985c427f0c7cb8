//! What looks like a credential. One detector for everything dv writes into files that are committed to Git
//! (pointer annotations, step commands, remote settings), so that all of them refuse the same secrets.
//! A light check, not a scanner: it looks at names (`password`, `api-key`, `AccessToken`, …) and at value
//! shapes that are unmistakable (URLs with a password or a signed query, JWTs, AWS key ids, PEM private keys,
//! and the token formats of GitHub, Slack, Hugging Face, OpenAI, Stripe and Google). It never returns the value.
//! Hiding secrets in text that is shown is [`crate::redact`]'s job.

/// Words that make a name (an annotation key, a command-line option, a query parameter) a credential's name
/// when the name holds one of them as a whole word.
const SECRET_WORDS: &[&str] = &[
    "password",
    "passwd",
    "passphrase",
    "pwd",
    "secret",
    "credential",
    "credentials",
    "apikey",
    "privatekey",
    "authorization",
    "signature",
];

/// Words that make `X_key` (`api_key`, `AccessKey`, `X-Api-Key`) a credential's name. Any other `X_key` is
/// taken for a data key (`sort_key`, `label_key`, `text_key`, `cache_key`: Hugging Face and pandas names).
const CREDENTIAL_KEYS: &[&str] = &[
    "api",
    "access",
    "secret",
    "private",
    "signing",
    "encryption",
    "auth",
    "client",
    "master",
    "account",
    "storage",
    "sas",
    "session",
    "ssh",
    "gpg",
    "pgp",
    "service",
    "app",
    "consumer",
    "shared",
    "subscription",
    "admin",
    "deploy",
    "license",
    "openai",
    "anthropic",
    "aws",
    "gcp",
    "azure",
    "stripe",
    "hf",
    "wandb",
];

/// `name` split into lower-case words at `-`, `_`, `.` and lower-to-upper case changes (`AccessToken`).
fn words(name: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut word = String::new();
    let mut prev_lower = false;
    for c in name.chars() {
        if matches!(c, '-' | '_' | '.' | ' ') {
            if !word.is_empty() {
                out.push(std::mem::take(&mut word));
            }
            prev_lower = false;
            continue;
        }
        if c.is_uppercase() && prev_lower && !word.is_empty() {
            out.push(std::mem::take(&mut word));
        }
        prev_lower = c.is_lowercase() || c.is_ascii_digit();
        word.extend(c.to_lowercase());
    }
    if !word.is_empty() {
        out.push(word);
    }
    out
}

/// Whether `name` names a credential: it holds one of `SECRET_WORDS` as a word (so `keywords` is fine), ends
/// in `token` (`access_token`, `HF_TOKEN`; not `token_count`, not `tokenizer`), or is `X_key` / `XKey` for a
/// credential's X (`api_key`, `private.key`, `aws-secret-access-key`; not `sort_key`, `label_key`, `key`).
pub fn is_secret_name(name: &str) -> bool {
    let words = words(name);
    if words.iter().any(|w| SECRET_WORDS.contains(&w.as_str())) {
        return true;
    }
    let last = words.last().map(String::as_str);
    if last == Some("token") || last == Some("apikey") {
        return true;
    }
    last == Some("key")
        && words.len() > 1
        && words[..words.len() - 1]
            .iter()
            .any(|w| CREDENTIAL_KEYS.contains(&w.as_str()))
}

/// Whether a URL's query parameter carries a credential: Azure SAS signatures (`sig`), S3 presigned URLs'
/// `X-Amz-Signature`, `X-Amz-Credential`, `X-Amz-Security-Token`, and any credential's name.
pub(crate) fn is_secret_param(name: &str) -> bool {
    name.eq_ignore_ascii_case("sig") || name.eq_ignore_ascii_case("key") || is_secret_name(name)
}

/// What secret a URL carries, if any: `"a password"` or `"a secret in its query string (`sig`)"`. Only
/// URLs (`scheme://…`) are checked, and values that start like one with a slash missing; a folder path is
/// never a URL.
pub fn url_secret(url: &str) -> Option<String> {
    let Some((_, rest)) = url.split_once("://") else {
        return mistyped_url_password(url).then(|| "a password".to_string());
    };
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    if let Some((userinfo, _)) = rest[..authority_end].rsplit_once('@')
        && userinfo.contains(':')
    {
        return Some("a password".into());
    }
    if rest[..authority_end].eq_ignore_ascii_case("hooks.slack.com") {
        return Some("a Slack webhook".into());
    }
    let query = rest.split_once('?')?.1;
    let query = query.split('#').next().unwrap_or_default();
    query
        .split('&')
        .map(|pair| pair.split('=').next().unwrap_or_default())
        .find(|name| is_secret_param(name))
        .map(|name| format!("a secret in its query string (`{name}`)"))
}

/// A value without `://` that still starts like a URL with a password (`https:/u:pw@host`, `s3:u:pw@bucket`),
/// which would be taken for a folder path, password and all.
pub(crate) fn mistyped_url_password(value: &str) -> bool {
    let Some((scheme, rest)) = value.split_once(':') else {
        return false;
    };
    let looks_like_scheme = scheme.len() >= 2
        && scheme.starts_with(|c: char| c.is_ascii_alphabetic())
        && scheme
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '.' | '-'));
    let rest = rest.trim_start_matches('/');
    let authority = &rest[..rest.find(['/', '?', '#']).unwrap_or(rest.len())];
    looks_like_scheme
        && authority
            .rsplit_once('@')
            .is_some_and(|(user, _)| user.contains(':'))
}

/// Where each URL in `text` ends: at the first character that cannot be part of one in a message or a command.
pub(crate) fn url_end(after_scheme: &str) -> usize {
    after_scheme
        .find(|c: char| c.is_whitespace() || matches!(c, '"' | '\'' | '<' | '>' | '`' | ')'))
        .unwrap_or(after_scheme.len())
}

/// Token prefixes of services whose tokens are credentials, each with the shortest length of what follows.
const TOKEN_PREFIXES: &[(&str, usize, &str)] = &[
    ("ghp_", 20, "a GitHub token"),
    ("gho_", 20, "a GitHub token"),
    ("ghu_", 20, "a GitHub token"),
    ("ghs_", 20, "a GitHub token"),
    ("ghr_", 20, "a GitHub token"),
    ("github_pat_", 20, "a GitHub token"),
    ("glpat-", 20, "a GitLab token"),
    ("xoxb-", 10, "a Slack token"),
    ("xoxp-", 10, "a Slack token"),
    ("xoxa-", 10, "a Slack token"),
    ("xoxr-", 10, "a Slack token"),
    ("xoxs-", 10, "a Slack token"),
    ("xapp-", 10, "a Slack token"),
    ("hf_", 30, "a Hugging Face token"),
    ("sk-", 32, "an API secret key"),
    ("sk_live_", 20, "a Stripe key"),
    ("rk_live_", 20, "a Stripe key"),
    ("AIza", 35, "a Google API key"),
];

/// What credential `value` holds, if it holds one anywhere: a URL with a password or a signed query, a JWT, an
/// AWS access key id, a PEM private key, a service's token, or an `Authorization:` header.
pub fn value_secret(value: &str) -> Option<String> {
    if value.contains("-----BEGIN") && value.contains("PRIVATE KEY") {
        return Some("a private key".into());
    }
    let lower = value.to_ascii_lowercase();
    let bearer = lower.match_indices("bearer ").any(|(i, m)| {
        let token = value[i + m.len()..]
            .split_whitespace()
            .next()
            .unwrap_or_default();
        token.len() >= 16
    });
    if lower.contains("authorization:") || bearer {
        return Some("an authorization header".into());
    }
    if mistyped_url_password(value.trim()) {
        return Some("a URL with a password".into());
    }
    let mut rest = value;
    while let Some(at) = rest.find("://") {
        let start = rest[..at]
            .rfind(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '+' | '.' | '-')))
            .map_or(0, |i| i + 1);
        let end = at + 3 + url_end(&rest[at + 3..]);
        if let Some(what) = url_secret(&rest[start..end]) {
            return Some(format!("a URL with {what}"));
        }
        rest = &rest[end..];
    }
    if let Some(what) = assigned_secret(value) {
        return Some(what);
    }
    // `user:password@host:path` (scp-style, no scheme).
    for word in value.split_whitespace() {
        if !word.contains("://")
            && let Some((user, _)) = word.split_once('@')
            && let Some((name, pass)) = user.split_once(':')
            && !name.is_empty()
            && !pass.is_empty()
            && !user.contains('/')
        {
            return Some("a password (user:password@host)".into());
        }
    }
    // Tokens: the runs of characters that tokens are made of.
    for token in value.split(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.')))
    {
        if let Some(what) = token_secret(token) {
            return Some(what.into());
        }
    }
    None
}

/// A credential's name assigned a value inside `value`: `DB_PASSWORD=hunter2` (as in `env …` or `export …`),
/// `#access_token=…` in a URL, `X-Api-Key: 8f3a…` (a header: after `:` only a value of 8 or more characters
/// with a digit counts, so prose like "password: see the docs" passes).
fn assigned_secret(value: &str) -> Option<String> {
    let name_char = |c: char| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.');
    for (at, sep) in value.match_indices(['=', ':']) {
        let before = &value[..at];
        let name_start = before.rfind(|c: char| !name_char(c)).map_or(0, |i| i + 1);
        let name = &before[name_start..];
        if name.is_empty() || !is_secret_name(name) {
            continue;
        }
        let after = &value[at + sep.len()..];
        let given = if sep == "=" {
            after.starts_with(|c: char| !c.is_whitespace() && c != '&' && c != ';')
        } else {
            let v = after.split_whitespace().next().unwrap_or_default();
            v.len() >= 8 && v.bytes().any(|b| b.is_ascii_digit())
        };
        if given {
            return Some(format!("a value given to `{name}`"));
        }
    }
    None
}

/// What credential one token is, if it is one.
fn token_secret(token: &str) -> Option<&'static str> {
    let alnum = |s: &str| {
        s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    };
    if token.len() == 20
        && (token.starts_with("AKIA") || token.starts_with("ASIA"))
        && token
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
    {
        return Some("an AWS access key id");
    }
    let parts: Vec<&str> = token.split('.').collect();
    if parts.len() == 3
        && parts[0].starts_with("eyJ")
        && parts[0].len() >= 10
        && parts[1].len() >= 10
        && parts.iter().all(|p| alnum(p))
    {
        return Some("a JSON web token");
    }
    TOKEN_PREFIXES.iter().find_map(|(prefix, min, what)| {
        let tail = token.strip_prefix(prefix)?;
        (tail.len() >= *min && alnum(tail)).then_some(*what)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credential_names_are_whole_words_and_table_keys_are_not() {
        for name in [
            "password",
            "db_password",
            "DB_PASSWORD",
            "api_key",
            "apiKey",
            "aws-secret-access-key",
            "AccessToken",
            "credentials",
            "private.key",
            "HF_TOKEN",
            "access_token",
            "--api-key",
            "X-Amz-Signature",
            "passphrase",
        ] {
            assert!(is_secret_name(name), "{name}");
        }
        for name in [
            "key",
            "keywords",
            "tokenizer",
            "sort_key",
            "label_key",
            "text_key",
            "image_key",
            "cache_key",
            "hash_key",
            "token_count",
            "max_tokens",
            "keypoints",
            "primary-key",
            "owner",
            "license",
            "passage",
            "max_tokens_per_batch",
        ] {
            assert!(!is_secret_name(name), "{name}");
        }
    }

    #[test]
    fn credential_values_are_found_anywhere_in_a_value() {
        for value in [
            "AKIAIOSFODNN7EXAMPLE",
            "id=AKIAIOSFODNN7EXAMPLE,",
            "ghp_0123456789abcdefghijABCDEFGHIJ012345",
            "-----BEGIN OPENSSH PRIVATE KEY-----\nabc",
            "postgres://ana:hunter2@db.example/prod",
            "--db=postgres://ana:hunter2@db.example/prod",
            "see https://acct.blob.core.windows.net/c/x?sv=2022&sig=abc for the data",
            "https://b.s3.amazonaws.com/k?X-Amz-Signature=0a1b",
            "https://hooks.slack.com/services/T000/B000/XXXX",
            "xoxb-1234567890-abcdefghij",
            "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NSJ9.c2lnbmF0dXJl",
            "Authorization: Bearer abc",
            "-H 'Bearer 0123456789abcdefXYZ'",
            "hf_abcdefghijklmnopqrstuvwxyzABCDEFGH",
            "https:/u:hunter2@127.0.0.1/x",
            "AIzaSyA1234567890abcdefghijklmnopqrstuv",
            "password=hunter2",
            "env DB_PASSWORD=hunter2 sh -c x",
            "echo > y; export AWS_SECRET_ACCESS_KEY=wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
            "X-Api-Key: 8f3a9c1b2d4e5f60718293a4b5c6d7e8",
            "https://example.com/x#access_token=abcdef0123456789",
            "user:Hunter2Secret@host:/data",
        ] {
            assert!(value_secret(value).is_some(), "{value}");
        }
        for value in [
            "ana",
            "MIT",
            "tokenized text, AKIA-like ids are fine when short: AKIA12",
            "s3://bucket/prefix",
            "https://huggingface.co/datasets/x?row=3",
            "sk-learn",
            "the bearer of this data",
            "reset the password: see the docs",
            "git@github.com:org/repo.git",
            "password=",
            "label_key=label",
            "eyJ.not.a-token",
            "relative/dir:with@sign",
            "https://h/b?list-type=2&prefix=p",
        ] {
            assert_eq!(value_secret(value), None, "{value}");
        }
    }

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
}
