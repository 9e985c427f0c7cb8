//! From a remote's URL and settings to its object store: a folder, or an S3, GCS or Azure bucket configured
//! from the AWS profile, the environment, the committed settings and `.dv/config.local.toml`, in that order.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use object_store::ObjectStore;

use super::explain::{Explain, remote_err, remote_msg};
use super::folder::{folder_path, folder_store};
use super::{Access, RemoteEnv};
use crate::repo::{RemoteConfig, Repo};
use crate::{Error, Result};

/// Settings that are dv's own rather than the backend's.
const DV_SETTINGS: &[&str] = &[
    "profile",
    "max_retries",
    "retry_timeout",
    "connect_timeout",
    "response_timeout",
];

/// How long dv waits for a connection to a cloud remote, unless `connect_timeout` says otherwise.
pub const CONNECT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);
/// How long dv waits for a server to begin answering a request without a body, unless `response_timeout`
/// says otherwise.
pub const RESPONSE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

/// The object store behind a remote URL, what explains its errors, and the folder this created (if any).
pub(super) fn backend(
    repo: &Repo,
    name: &str,
    cfg: &RemoteConfig,
    access: Access,
) -> Result<(Arc<dyn ObjectStore>, Explain, Option<PathBuf>)> {
    let url = cfg.url.as_str();
    if let Some(dir) = folder_path(repo, url) {
        let (store, created) = folder_store(repo, name, &dir, access)?;
        return Ok((store, Explain::default(), created));
    }
    let local = repo.local_remote_settings(name)?;
    if let Some(region) = local.get("region") {
        crate::repo::check_remote_setting("region", region).map_err(|why| remote_msg(name, why))?;
    }
    let whence = match repo.source_record() {
        Some(src) => format!("in your settings for source.{src}.remote.{name}"),
        None => "in .dv/config.local.toml".to_string(),
    };
    let (store, mut explain) =
        cloud_backend(name, cfg, &local, &whence, &repo.settings.remote_env)?;
    explain.source = repo.source_record().map(str::to_string);
    Ok((store, explain, None))
}

/// An S3, GCS or Azure store. Settings apply in this order, later ones winning: the AWS profile's files, the
/// cloud's environment variables (`env`), the committed settings, then `.dv/config.local.toml`.
fn cloud_backend(
    name: &str,
    cfg: &RemoteConfig,
    local: &BTreeMap<String, String>,
    local_whence: &str,
    env: &RemoteEnv,
) -> Result<(Arc<dyn ObjectStore>, Explain)> {
    use object_store::{ObjectStoreScheme, aws, azure, gcp};
    let msg = |text: String| remote_msg(name, text);
    let url = url::Url::parse(&cfg.url).map_err(|e| msg(format!("{:?}: {e}", cfg.url)))?;
    let (scheme, prefix) = ObjectStoreScheme::parse(&url).map_err(|e| remote_err(name, e))?;
    // reqwest is built without a TLS crypto provider of its own: ring serves (installing twice is harmless).
    let _ = rustls::crypto::ring::default_provider().install_default();
    let retry = retry_config(name, cfg)?;
    let wait = |key: &str, default| -> Result<std::time::Duration> {
        match seconds_setting(name, cfg, key)? {
            Some(t) if t.is_zero() => Err(remote_msg(name, format!("{key} must be more than 0"))),
            t => Ok(t.unwrap_or(default)),
        }
    };
    let connect_timeout = wait("connect_timeout", CONNECT_TIMEOUT)?;
    let response_timeout = wait("response_timeout", RESPONSE_TIMEOUT)?;
    let mut explain = Explain {
        response_timeout: Some(response_timeout),
        ..Explain::default()
    };
    // The backend's own settings, in the order they apply.
    let mut options: Vec<(String, String, &str)> = vec![(
        "connect_timeout".into(),
        format!("{}ms", connect_timeout.as_millis().max(1)),
        "as dv's default",
    )];
    let committed: Vec<_> = cfg
        .settings
        .iter()
        .filter(|(k, _)| !DV_SETTINGS.contains(&k.as_str()))
        .map(|(k, v)| (k.clone(), v.clone(), "in .dv/config.toml"))
        .collect();
    let local: Vec<_> = local
        .iter()
        .map(|(k, v)| (k.clone(), v.clone(), local_whence))
        .collect();
    // dv's setting names that a backend spells its own way.
    fn gcs_name(k: &str) -> &str {
        if k == "endpoint" { "base_url" } else { k }
    }
    fn same_name(k: &str) -> &str {
        k
    }
    // `$endpoint`: the backend's key for the endpoint; `$emulator`: a key that, when true, allows plain HTTP.
    macro_rules! configure {
        ($builder:expr, $key:ty, $name:expr, $endpoint:expr, $emulator:expr) => {{
            let mut b = $builder
                .with_url(cfg.url.as_str())
                .with_http_connector(super::http::Connector { response_timeout });
            for (k, v, whence) in options.drain(..).chain(committed).chain(local) {
                let key: $key = $name(k.as_str())
                    .parse()
                    .map_err(|_| msg(format!("unknown setting `{k}` {whence}")))?;
                b = b.with_config(key, v);
            }
            let emulator: Option<$key> = $emulator;
            refuse_plain_http(
                name,
                b.get_config_value(&$endpoint).as_deref(),
                b.get_config_value(&<$key>::Client(object_store::ClientConfigKey::AllowHttp))
                    .as_deref(),
                emulator.and_then(|k| b.get_config_value(&k)).as_deref(),
            )?;
            Arc::new(
                b.with_retry(retry)
                    .build()
                    .map_err(|e| remote_err(name, e))?,
            ) as Arc<dyn ObjectStore>
        }};
    }
    let store = match scheme {
        ObjectStoreScheme::AmazonS3 => {
            let profile = cfg
                .settings
                .get("profile")
                .cloned()
                .or_else(|| env.aws_profile().map(str::to_string));
            // dv's default, which any setting below overrides: no SHA-256 of every uploaded byte for the
            // request signature. Integrity is end to end without it: every object is checked against its
            // BLAKE3 id when it is read back, and TLS protects real endpoints in transit.
            options.push(("unsigned_payload".into(), "true".into(), "as dv's default"));
            if let Some(profile) = &profile {
                options.extend(
                    env.aws_profile_settings(profile)
                        .map_err(msg)?
                        .into_iter()
                        .map(|(k, v)| (k, v, "in the AWS profile")),
                );
            }
            // The AWS_* environment variables the builder knows (AWS_ENDPOINT_URL, AWS_REGION, keys, ...).
            options.extend(
                env.s3_options()
                    .into_iter()
                    .map(|(k, v)| (k, v, "in the environment")),
            );
            explain.bucket = url.host_str().map(str::to_string);
            explain.no_credentials = s3_credential_search(
                profile.as_deref(),
                options.iter().chain(&committed).chain(&local),
            );
            configure!(
                aws::AmazonS3Builder::new(),
                aws::AmazonS3ConfigKey,
                same_name,
                aws::AmazonS3ConfigKey::Endpoint,
                None
            )
        }
        ObjectStoreScheme::GoogleCloudStorage => {
            configure!(
                env.gcs_builder(),
                gcp::GoogleConfigKey,
                gcs_name,
                gcp::GoogleConfigKey::BaseUrl,
                None
            )
        }
        ObjectStoreScheme::MicrosoftAzure => {
            configure!(
                env.azure_builder(),
                azure::AzureConfigKey,
                same_name,
                azure::AzureConfigKey::Endpoint,
                Some(azure::AzureConfigKey::UseEmulator)
            )
        }
        _ => return Err(msg(format!("unsupported URL {:?}", cfg.url))),
    };
    let store = if prefix.as_ref().is_empty() {
        store
    } else {
        Arc::new(object_store::prefix::PrefixStore::new(store, prefix)) as Arc<dyn ObjectStore>
    };
    Ok((store, explain))
}

/// The store's HTTP client refuses a plain `http://` endpoint unless `allow_http` is true, with no more than
/// "builder error" once the first request goes: say so before, naming the endpoint and the setting. `endpoint`,
/// `allow_http` and `emulator` (Azure's `use_emulator`, which allows plain HTTP itself) are the values the
/// backend's builder holds once every setting is applied.
fn refuse_plain_http(
    name: &str,
    endpoint: Option<&str>,
    allow_http: Option<&str>,
    emulator: Option<&str>,
) -> Result<()> {
    let truthy = |v: Option<&str>| {
        v.is_some_and(|v| {
            matches!(
                v.trim().to_ascii_lowercase().as_str(),
                "1" | "true" | "on" | "yes" | "y"
            )
        })
    };
    let Some(endpoint) = endpoint else {
        return Ok(());
    };
    let plain = endpoint
        .trim()
        .get(..7)
        .is_some_and(|s| s.eq_ignore_ascii_case("http://"));
    if !plain || truthy(allow_http) || truthy(emulator) {
        return Ok(());
    }
    Err(Error::RemoteFailed {
        remote: name.to_string(),
        message: format!(
            "the endpoint {} is plain HTTP, which dv uses only when allow_http is true",
            crate::redact::redact(endpoint)
        ),
        hint: format!(
            "if plain HTTP is meant (a local test server: requests and data then travel unencrypted), run \
             `dv remote modify {name} allow_http true`; otherwise use an https:// endpoint (`dv remote modify \
             {name} endpoint https://...`)"
        ),
        source: None,
    })
}

/// When the S3 settings name no credentials (no keys, no web identity, no container credentials, no
/// unsigned requests), object_store asks the instance metadata endpoint: that endpoint, and where dv looked
/// before, for the error if that fails too.
fn s3_credential_search<'a>(
    profile: Option<&str>,
    settings: impl Iterator<Item = &'a (String, String, &'a str)>,
) -> Option<(String, String)> {
    let mut metadata = "http://169.254.169.254".to_string();
    let mut keys = std::collections::BTreeSet::new();
    for (k, v, _) in settings {
        let k = k.strip_prefix("aws_").unwrap_or(k);
        if k == "metadata_endpoint" {
            metadata = v.clone();
        }
        if k == "skip_signature" && v != "true" {
            continue;
        }
        keys.insert(k.to_string());
    }
    let found = ["access_key_id", "secret_access_key", "skip_signature"]
        .iter()
        .any(|k| keys.contains(*k))
        || (keys.contains("web_identity_token_file") && keys.contains("role_arn"))
        || keys.contains("container_credentials_relative_uri")
        || keys.contains("container_credentials_full_uri");
    if found {
        return None;
    }
    let profile = match profile {
        Some(p) => format!("the AWS profile '{p}' (~/.aws/credentials, ~/.aws/config), "),
        None => String::new(),
    };
    Some((
        metadata.clone(),
        format!(
            "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY in the environment, {profile}.dv/config.local.toml, \
             web identity and container credentials (AWS_WEB_IDENTITY_TOKEN_FILE, \
             AWS_CONTAINER_CREDENTIALS_RELATIVE_URI), instance metadata at {metadata}"
        ),
    ))
}

/// A setting in seconds (a positive number), if set.
fn seconds_setting(
    name: &str,
    cfg: &RemoteConfig,
    key: &str,
) -> Result<Option<std::time::Duration>> {
    let Some(v) = cfg.settings.get(key) else {
        return Ok(None);
    };
    v.parse()
        .ok()
        .filter(|s: &f64| s.is_finite() && *s >= 0.0)
        .map(|s| Some(std::time::Duration::from_secs_f64(s)))
        .ok_or_else(|| remote_msg(name, format!("{key} must be seconds, not {v:?}")))
}

fn retry_config(name: &str, cfg: &RemoteConfig) -> Result<object_store::RetryConfig> {
    let mut retry = object_store::RetryConfig::default();
    if let Some(v) = cfg.settings.get("max_retries") {
        retry.max_retries = v.parse().map_err(|_| {
            remote_msg(
                name,
                format!("max_retries must be a whole number, not {v:?}"),
            )
        })?;
    }
    if let Some(t) = seconds_setting(name, cfg, "retry_timeout")? {
        retry.retry_timeout = t;
    }
    Ok(retry)
}

const SUPPORTED: &str = "use a folder path, file:///abs/path, s3://bucket/prefix, gs://bucket/prefix or \
                         az://container/prefix";

/// Checks a URL can be used as a remote, without connecting.
pub fn check_url(url: &str) -> std::result::Result<(), String> {
    use object_store::ObjectStoreScheme;
    if url.is_empty() {
        return Err("the URL is empty".into());
    }
    crate::repo::check_remote_setting("url", url)?;
    if let Some(rest) = url.strip_prefix("file://") {
        if !rest.starts_with('/') {
            return Err("a file:// URL needs an absolute path (file:///abs/path)".into());
        }
        return Ok(());
    }
    if !url.contains("://") {
        return Ok(());
    }
    let parsed = url::Url::parse(url).map_err(|e| format!("not a valid URL ({e}); {SUPPORTED}"))?;
    match ObjectStoreScheme::parse(&parsed) {
        Ok((
            ObjectStoreScheme::AmazonS3
            | ObjectStoreScheme::GoogleCloudStorage
            | ObjectStoreScheme::MicrosoftAzure,
            _,
        )) => Ok(()),
        _ => Err(format!("unsupported URL; {SUPPORTED}")),
    }
}

/// Whether `key` is a setting some backend (S3, GCS, Azure) or dv itself takes for a remote: what `dv config`
/// accepts for a remote's local settings and a source's.
pub fn is_remote_setting(key: &str) -> bool {
    use object_store::{aws, azure, gcp};
    key == "url"
        || crate::repo::REMOTE_SETTINGS.contains(&key)
        || key.parse::<aws::AmazonS3ConfigKey>().is_ok()
        || key.parse::<gcp::GoogleConfigKey>().is_ok()
        || key.parse::<azure::AzureConfigKey>().is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_checked() {
        for ok in [
            "/srv/x",
            "rel/dir",
            "file:///abs",
            "s3://bucket",
            "s3://bucket/some/prefix",
            "gs://b/p",
            "az://container/p",
        ] {
            assert_eq!(check_url(ok), Ok(()), "{ok}");
        }
        for bad in [
            "",
            "file://rel",
            "ftp://host/x",
            "http://example.com/x",
            "s3://",
        ] {
            assert!(check_url(bad).is_err(), "{bad}");
        }
    }
}
