//! A dv repository: the `.dv/` folder inside a Git work tree, its settings, its lock and its cache.

use std::fs::{self, File};
use std::path::{Path, PathBuf};

use crate::error::IoContext;
use crate::store::Store;
use crate::{Error, Result};

pub const DV_DIR: &str = ".dv";
pub const CONFIG_FILE: &str = "config.toml";
/// The repository format this dv writes and the newest it reads.
pub const REPO_FORMAT: u64 = 1;
/// The default zstd level: fast enough that compression keeps up with chunking on two cores.
pub const DEFAULT_COMPRESSION_LEVEL: i32 = 1;

const DV_GITIGNORE: &str =
    "# Per-machine dv state: never committed.\n/cache/\n/state.db*\n/config.local.toml\n/lock\n";

/// Settings from `.dv/config.toml` (committed).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Config {
    pub format: u64,
    /// zstd level for new objects; 0 stores them uncompressed.
    pub compression_level: i32,
    /// Whether `dv add` stages pointer files in Git's index.
    pub stage: bool,
    /// The remote `push`, `fetch` and `pull` use when none is named.
    pub default_remote: Option<String>,
    pub remotes: std::collections::BTreeMap<String, RemoteConfig>,
}

/// A remote's committed settings (never secrets: those belong in `config.local.toml` or the environment).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RemoteConfig {
    pub url: String,
    /// Backend options such as `endpoint`, `region`, `allow_http`, `profile`.
    pub settings: std::collections::BTreeMap<String, String>,
}

/// Remote settings `dv remote modify` accepts.
pub const REMOTE_SETTINGS: &[&str] = &[
    "endpoint",
    "region",
    "allow_http",
    "profile",
    "max_retries",
    "retry_timeout",
    "connect_timeout",
    "response_timeout",
    "unsigned_payload",
];

/// Per-machine settings and secrets, beside `config.toml` and never committed.
pub const LOCAL_CONFIG_FILE: &str = "config.local.toml";

#[derive(serde::Deserialize, Default)]
struct RawConfig {
    core: Option<RawCore>,
    remote:
        Option<std::collections::BTreeMap<String, std::collections::BTreeMap<String, toml::Value>>>,
}

#[derive(serde::Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawCore {
    format: Option<u64>,
    compression_level: Option<i32>,
    stage: Option<bool>,
    remote: Option<String>,
}

impl Config {
    pub fn parse(text: &str, what: &str) -> Result<Config> {
        let raw: RawConfig =
            toml::from_str(text).map_err(|e| Error::format(what, e.message().to_string()))?;
        let core = raw.core.unwrap_or_default();
        let format = core
            .format
            .ok_or_else(|| Error::format(what, "missing `core.format`"))?;
        if format > REPO_FORMAT {
            return Err(Error::NewerFormat {
                what: what.to_string(),
                found: format,
                supported: REPO_FORMAT,
            });
        }
        let compression_level = core.compression_level.unwrap_or(DEFAULT_COMPRESSION_LEVEL);
        if !(-7..=19).contains(&compression_level) {
            return Err(Error::format(
                what,
                format!("`core.compression_level` must be -7 to 19, not {compression_level}"),
            ));
        }
        let mut remotes = std::collections::BTreeMap::new();
        for (name, table) in raw.remote.unwrap_or_default() {
            check_remote_name(&name)
                .map_err(|why| Error::format(what, format!("remote {name:?}: {why}")))?;
            let mut url = None;
            let mut settings = std::collections::BTreeMap::new();
            for (key, value) in table {
                let text = match &value {
                    toml::Value::String(s) => s.clone(),
                    toml::Value::Boolean(b) => b.to_string(),
                    toml::Value::Integer(i) => i.to_string(),
                    other => {
                        return Err(Error::format(
                            what,
                            format!("remote.{name}.{key}: unsupported value {other}"),
                        ));
                    }
                };
                check_remote_setting(&key, &text)
                    .map_err(|why| Error::format(what, format!("remote.{name}.{key}: {why}")))?;
                if key == "url" {
                    url = Some(text);
                } else if REMOTE_SETTINGS.contains(&key.as_str()) {
                    settings.insert(key, text);
                } else {
                    return Err(Error::format(
                        what,
                        format!("remote.{name}: unknown setting `{key}`"),
                    ));
                }
            }
            let url =
                url.ok_or_else(|| Error::format(what, format!("remote.{name}: missing `url`")))?;
            remotes.insert(name, RemoteConfig { url, settings });
        }
        if let Some(d) = &core.remote
            && !remotes.contains_key(d)
        {
            return Err(Error::format(
                what,
                format!("`core.remote` names {d:?}, which has no [remote.{d}] table"),
            ));
        }
        Ok(Config {
            format,
            compression_level,
            stage: core.stage.unwrap_or(true),
            default_remote: core.remote,
            remotes,
        })
    }

    /// The file's text: canonical order, defaults left out.
    pub fn to_text(&self) -> String {
        let q = |s: &str| toml::Value::String(s.to_string()).to_string();
        let mut t = String::from(
            "# dv repository settings (committed with the project).\n\
             # Per-machine settings and secrets belong in config.local.toml beside this file.\n[core]\n",
        );
        t.push_str(&format!("format = {}\n", self.format));
        if self.compression_level != DEFAULT_COMPRESSION_LEVEL {
            t.push_str(&format!("compression_level = {}\n", self.compression_level));
        }
        if !self.stage {
            t.push_str("stage = false\n");
        }
        if let Some(d) = &self.default_remote {
            t.push_str(&format!("remote = {}\n", q(d)));
        }
        for (name, r) in &self.remotes {
            t.push_str(&format!("\n[remote.{name}]\nurl = {}\n", q(&r.url)));
            for (k, v) in &r.settings {
                t.push_str(&format!("{k} = {}\n", q(v)));
            }
        }
        t
    }

    fn initial_text() -> String {
        Config {
            format: REPO_FORMAT,
            compression_level: DEFAULT_COMPRESSION_LEVEL,
            stage: true,
            default_remote: None,
            remotes: Default::default(),
        }
        .to_text()
    }
}

/// Refuses a committed remote setting (the URL included) that carries a secret: a URL with a password or with
/// a credential in its query string. The message never repeats the value.
pub fn check_remote_setting(key: &str, value: &str) -> std::result::Result<(), String> {
    match crate::redact::url_secret(value) {
        None => Ok(()),
        Some(what) => Err(format!(
            "the {} holds {what}, and .dv/config.toml is committed: put credentials in the environment \
             (e.g. AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY) or in .dv/config.local.toml, never in a URL",
            if key == "url" { "URL" } else { key }
        )),
    }
}

/// Remote names: letters, digits, `-`, `_` and `.`, starting with a letter or digit.
pub fn check_remote_name(name: &str) -> std::result::Result<(), &'static str> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphanumeric())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if ok {
        Ok(())
    } else {
        Err("use letters, digits, '-', '_' and '.', starting with a letter or digit")
    }
}

pub struct Repo {
    /// The Git work tree root, canonical.
    pub root: PathBuf,
    pub config: Config,
    /// Where the object cache lives: this work tree's `.dv/cache`, or for a linked Git work tree the main
    /// work tree's, so all work trees of one repository share one cache (as they share Git's objects).
    cache_dir: PathBuf,
}

/// Holds the repository's write lock until dropped.
pub struct Lock {
    _file: File,
}

impl Repo {
    /// Finds the Git work tree containing `cwd` and its dv repository.
    pub fn discover(cwd: &Path) -> Result<Repo> {
        let tree = crate::git::discover_work_tree(cwd)?;
        let root = tree.root;
        let config_path = root.join(DV_DIR).join(CONFIG_FILE);
        let text = match fs::read_to_string(&config_path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(Error::NotInitialized(root));
            }
            Err(e) => return Err(Error::io(config_path, e)),
        };
        let config = Config::parse(&text, &config_path.display().to_string())?;
        let cache_dir = match tree.main {
            Some(main) if main.join(DV_DIR).join(CONFIG_FILE).is_file() => {
                main.join(DV_DIR).join("cache")
            }
            _ => root.join(DV_DIR).join("cache"),
        };
        Ok(Repo {
            root,
            config,
            cache_dir,
        })
    }

    /// Creates `.dv/` in the work tree containing `cwd`; returns the repo and whether anything was created.
    pub fn init(cwd: &Path) -> Result<(Repo, bool)> {
        let root = crate::git::discover_work_tree(cwd)?.root;
        let dv = root.join(DV_DIR);
        fs::create_dir_all(&dv).at(&dv)?;
        let mut created = false;
        let config_path = dv.join(CONFIG_FILE);
        if !config_path.exists() {
            crate::fsutil::write_atomic(&config_path, Config::initial_text().as_bytes())?;
            created = true;
        }
        let ignore_path = dv.join(".gitignore");
        if !ignore_path.exists() {
            crate::fsutil::write_atomic(&ignore_path, DV_GITIGNORE.as_bytes())?;
            created = true;
        }
        let repo = Repo::discover(&root)?;
        drop(repo.open_store()?);
        Ok((repo, created))
    }

    pub fn dv_dir(&self) -> PathBuf {
        self.root.join(DV_DIR)
    }

    pub fn cache_dir(&self) -> PathBuf {
        self.cache_dir.clone()
    }

    pub fn db_path(&self) -> PathBuf {
        self.dv_dir().join("state.db")
    }

    pub fn open_store(&self) -> Result<Store> {
        Store::open(&self.cache_dir(), &self.db_path())
    }

    /// Takes the repository's write lock, failing at once if another dv process holds it. The lock is released
    /// when the process exits, however it exits, so a crash never leaves a stale lock.
    pub fn lock(&self) -> Result<Lock> {
        let path = self.dv_dir().join("lock");
        let file = fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .at(&path)?;
        match file.try_lock() {
            Ok(()) => {
                // Name the holder for whoever waits (the lock itself is the flock, not this text).
                use std::io::{Seek, Write};
                let mut f = &file;
                let _ = f.set_len(0);
                let _ = f.seek(std::io::SeekFrom::Start(0));
                let _ = writeln!(f, "{}", std::process::id());
                Ok(Lock { _file: file })
            }
            Err(fs::TryLockError::WouldBlock) => {
                let holder = fs::read_to_string(&path)
                    .ok()
                    .and_then(|t| t.trim().parse::<u32>().ok());
                Err(Error::Locked { path, holder })
            }
            Err(fs::TryLockError::Error(e)) => Err(Error::io(path, e)),
        }
    }

    /// Rewrites `.dv/config.toml` with `config`.
    pub fn save_config(&mut self, config: Config) -> Result<()> {
        let path = self.dv_dir().join(CONFIG_FILE);
        crate::fsutil::write_atomic(&path, config.to_text().as_bytes())?;
        self.config = config;
        Ok(())
    }

    /// The `[remote.NAME]` table of `.dv/config.local.toml` (credentials and per-machine overrides), if any.
    pub fn local_remote_settings(
        &self,
        name: &str,
    ) -> Result<std::collections::BTreeMap<String, String>> {
        let path = self.dv_dir().join(LOCAL_CONFIG_FILE);
        let text = match fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Default::default()),
            Err(e) => return Err(Error::io(path, e)),
        };
        let what = path.display().to_string();
        let raw: RawConfig =
            toml::from_str(&text).map_err(|e| Error::format(&what, e.message().to_string()))?;
        let mut out = std::collections::BTreeMap::new();
        for (key, value) in raw
            .remote
            .unwrap_or_default()
            .remove(name)
            .unwrap_or_default()
        {
            let text = match value {
                toml::Value::String(s) => s,
                toml::Value::Boolean(b) => b.to_string(),
                toml::Value::Integer(i) => i.to_string(),
                other => {
                    return Err(Error::format(
                        &what,
                        format!("remote.{name}.{key}: unsupported value {other}"),
                    ));
                }
            };
            out.insert(key, text);
        }
        Ok(out)
    }

    /// The names (never the values) of the local settings of remote `name`.
    pub fn local_remote_setting_names(&self, name: &str) -> Result<Vec<String>> {
        Ok(self.local_remote_settings(name)?.into_keys().collect())
    }

    /// Absolute path of a repository path.
    pub fn abs(&self, repo_path: &str) -> PathBuf {
        crate::paths::to_abs(&self.root, repo_path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_parses_and_refuses() {
        let c = Config::parse(&Config::initial_text(), "c").unwrap();
        assert_eq!(c.format, 1);
        assert_eq!(c.compression_level, DEFAULT_COMPRESSION_LEVEL);
        assert!(matches!(
            Config::parse("[core]\nformat = 7\n", "c"),
            Err(Error::NewerFormat { found: 7, .. })
        ));
        assert!(Config::parse("[core]\nformat = 1\ncompresion_level = 3\n", "c").is_err());
        assert!(Config::parse("[core]\nformat = 1\ncompression_level = 99\n", "c").is_err());
        assert!(Config::parse("", "c").is_err());
    }

    #[test]
    fn remotes_round_trip_through_the_text() {
        let text = "[core]\nformat = 1\nremote = \"origin\"\n[remote.origin]\nurl = \"s3://b/p\"\nallow_http = true\n\
                    [remote.backup]\nurl = \"/mnt/x y\"\n";
        let c = Config::parse(text, "c").unwrap();
        assert_eq!(c.default_remote.as_deref(), Some("origin"));
        assert_eq!(c.remotes["origin"].settings["allow_http"], "true");
        assert_eq!(Config::parse(&c.to_text(), "c").unwrap(), c);
        assert!(Config::parse("[core]\nformat = 1\nremote = \"nope\"\n", "c").is_err());
        assert!(
            Config::parse(
                "[core]\nformat = 1\n[remote.o]\nurl = \"x\"\nsecret = \"s\"\n",
                "c"
            )
            .is_err()
        );
        assert!(Config::parse("[core]\nformat = 1\n[remote.o]\nregion = \"x\"\n", "c").is_err());
    }
}
