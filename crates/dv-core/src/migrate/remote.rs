//! Where DVC's objects are: its cache (`.dvc/cache`, or `cache.dir`), and the default remote of `.dvc/config`
//! with `.dvc/config.local` over it (a folder, or S3 through object_store: `endpointurl`, `access_key_id`,
//! `secret_access_key`, `region`, else the AWS variables of the settings' remote environment).

use std::path::PathBuf;
use std::sync::Arc;

use super::dvc::DvcConfig;
use super::objects::Place;
use crate::Result;
use crate::repo::Repo;

/// DVC's cache folders, its remote (if dv can read it), and why not (if it cannot).
pub(super) fn places(repo: &Repo) -> Result<(Vec<Place>, Option<Place>, Option<String>)> {
    let mut cfg = DvcConfig::default();
    let mut cache_dir = None;
    for f in [".dvc/config", ".dvc/config.local"] {
        if let Some(data) = crate::fsutil::read_own(&repo.abs(f))? {
            let text = String::from_utf8_lossy(&data);
            cfg.read(&text, f)?;
            cache_dir = cache_setting(&text).or(cache_dir);
        }
    }
    let dvc_dir = repo.abs(".dvc");
    let cache = match cache_dir {
        Some(d) => dvc_dir.join(d),
        None => dvc_dir.join("cache"),
    };
    let places = vec![
        Place::Folder {
            dir: cache.join("files/md5"),
            what: "DVC's cache".into(),
        },
        Place::Folder {
            dir: cache.clone(),
            what: "DVC's cache (DVC 2 layout)".into(),
        },
    ];
    let name = cfg
        .default_remote
        .clone()
        .or_else(|| (cfg.remotes.len() == 1).then(|| cfg.remotes.keys().next().cloned())?);
    let Some(name) = name else {
        return Ok((
            places,
            None,
            Some("`.dvc/config` names no default remote".into()),
        ));
    };
    let Some(settings) = cfg.remotes.get(&name) else {
        return Ok((
            places,
            None,
            Some(format!("`.dvc/config` has no remote '{name}'")),
        ));
    };
    let Some(url) = settings.get("url") else {
        return Ok((
            places,
            None,
            Some(format!("DVC remote '{name}' has no url")),
        ));
    };
    let what = format!("DVC remote '{name}' ({url})");
    if let Some(rest) = url.strip_prefix("s3://") {
        return match s3(repo, rest, settings, &what) {
            Ok(p) => Ok((places, Some(p), None)),
            Err(e) => Ok((places, None, Some(format!("{what}: {e}")))),
        };
    }
    if url.contains("://") && !url.starts_with("file://") {
        return Ok((
            places,
            None,
            Some(format!("{what}: dv reads DVC's folder and S3 remotes only")),
        ));
    }
    let path = PathBuf::from(url.strip_prefix("file://").unwrap_or(url));
    // DVC keeps a relative remote path relative to the config file's folder.
    let dir = if path.is_absolute() {
        path
    } else {
        dvc_dir.join(path)
    };
    Ok((places, Some(Place::Folder { dir, what }), None))
}

/// `[cache] dir = …`, when set.
fn cache_setting(text: &str) -> Option<String> {
    let mut in_cache = false;
    let mut dir = None;
    for line in text.lines().map(str::trim) {
        if line.starts_with('[') {
            in_cache = line == "[cache]" || line == "['cache']";
        } else if in_cache
            && let Some((k, v)) = line.split_once('=')
            && k.trim() == "dir"
        {
            dir = Some(v.trim().trim_matches(['\'', '"']).to_string());
        }
    }
    dir
}

fn s3(
    repo: &Repo,
    rest: &str,
    settings: &std::collections::BTreeMap<String, String>,
    what: &str,
) -> std::result::Result<Place, String> {
    use object_store::aws::{AmazonS3Builder, AmazonS3ConfigKey};
    let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
    let _ = rustls::crypto::ring::default_provider().install_default();
    let mut b = AmazonS3Builder::new().with_bucket_name(bucket);
    for (k, v) in repo.settings.remote_env.s3_options() {
        if let Ok(key) = k.parse::<AmazonS3ConfigKey>() {
            b = b.with_config(key, v);
        }
    }
    let setting = |k: &str| settings.get(k).cloned();
    if let Some(e) = setting("endpointurl") {
        if e.starts_with("http://") {
            b = b.with_allow_http(true);
        }
        b = b.with_endpoint(e).with_virtual_hosted_style_request(false);
    }
    if let Some(r) = setting("region") {
        b = b.with_region(r);
    } else if setting("endpointurl").is_some() {
        b = b.with_region("us-east-1");
    }
    if let (Some(id), Some(secret)) = (setting("access_key_id"), setting("secret_access_key")) {
        b = b.with_access_key_id(id).with_secret_access_key(secret);
    }
    let store = b.build().map_err(|e| e.to_string())?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the I/O runtime: {e}"))?;
    Ok(Place::Store {
        store: Arc::new(store),
        prefix: prefix.trim_matches('/').to_string(),
        what: what.to_string(),
        rt: Arc::new(rt),
    })
}
