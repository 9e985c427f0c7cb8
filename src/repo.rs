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
}

#[derive(serde::Deserialize, Default)]
struct RawConfig {
    core: Option<RawCore>,
}

#[derive(serde::Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawCore {
    format: Option<u64>,
    compression_level: Option<i32>,
    stage: Option<bool>,
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
        Ok(Config {
            format,
            compression_level,
            stage: core.stage.unwrap_or(true),
        })
    }

    fn initial_text() -> String {
        format!(
            "# dv repository settings (committed with the project).\n\
             # Per-machine settings and secrets belong in config.local.toml beside this file.\n\
             [core]\nformat = {REPO_FORMAT}\n"
        )
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
            Ok(()) => Ok(Lock { _file: file }),
            Err(fs::TryLockError::WouldBlock) => Err(Error::Locked(path)),
            Err(fs::TryLockError::Error(e)) => Err(Error::io(path, e)),
        }
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
}
