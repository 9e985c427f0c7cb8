//! A dv repository: the `.dv/` folder inside a Git work tree, its settings, its lock and its cache.

use std::fs;
use std::path::{Path, PathBuf};

mod config;
pub mod files;
mod locking;
mod users;

pub use config::{
    Config, DEFAULT_COMPRESSION_LEVEL, LOCAL_CONFIG_FILE, REMOTE_SETTINGS, REPO_FORMAT,
    RemoteConfig, check_remote_name, check_remote_setting,
};
pub use locking::{DEFAULT_LOCK_TIMEOUT, Lock, LockWait, OnLockWait};

use crate::error::IoContext;
pub use crate::lock::LockHolder;
use crate::store::Store;
use crate::{Error, Result};

pub const DV_DIR: &str = ".dv";
pub const CONFIG_FILE: &str = "config.toml";

/// `.dv/cache/.gitignore`: the cache hides itself from Git (itself included), whatever folder it is in.
const CACHE_GITIGNORE: &str = "*\n";

/// `.dv/.gitignore` as `dv init` writes it.
const DV_GITIGNORE: &str =
    "# Per-machine dv state: never committed.\n/cache/\n/state.db*\n/config.local.toml\n/lock\n";
/// The lines of `.dv/.gitignore` that keep dv's per-machine files (the cache, the state database, local
/// settings and secrets, the lock) out of Git.
pub const DV_IGNORE_LINES: &[&str] = &["/cache/", "/state.db*", "/config.local.toml", "/lock"];
/// `.dv/.gitignore`, as a repository path.
pub const DV_IGNORE_FILE: &str = ".dv/.gitignore";

/// dv's own lines that the text of a `.dv/.gitignore` lacks (a line as Git reads it: trailing spaces dropped).
pub fn missing_own_ignore_lines(text: &str) -> Vec<&'static str> {
    DV_IGNORE_LINES
        .iter()
        .copied()
        .filter(|want| !text.lines().any(|l| l.trim_end() == *want))
        .collect()
}

/// The files dv keeps in `.dv/` beside the cache (each opened, written or replaced by some command).
const OWN_FILES: &[&str] = &[
    CONFIG_FILE,
    LOCAL_CONFIG_FILE,
    ".gitignore",
    "state.db",
    "state.db-wal",
    "state.db-shm",
    "state.db-journal",
    "lock",
    "cache",
];

/// The one rule for dv's own paths: nothing dv reads, writes or deletes under `.dv/` may be a symbolic link
/// (`.dv/` is committed, so a commit can carry one). With `whole` false, checks `dir` (a `.dv` folder) and the
/// files dv keeps in it; with `whole` true, `dir` is a cache folder, checked with everything below it, so no
/// pack, index or folder of it is reached through a link. A path that does not exist yet is fine.
fn check_own_files(dir: &Path, whole: bool) -> Result<()> {
    let is_link = |p: &Path| -> Result<bool> {
        match fs::symlink_metadata(p) {
            Ok(m) => Ok(m.file_type().is_symlink()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
            Err(e) if e.kind() == std::io::ErrorKind::NotADirectory => Ok(false),
            Err(e) => Err(Error::io(p, e)),
        }
    };
    let refuse = |p: &Path| {
        Err(Error::OwnFileLink {
            path: p.to_path_buf(),
        })
    };
    if is_link(dir)? {
        return refuse(dir);
    }
    if !whole {
        for name in OWN_FILES {
            let p = dir.join(name);
            if is_link(&p)? {
                return refuse(&p);
            }
        }
        return Ok(());
    }
    let mut folders = vec![dir.to_path_buf()];
    while let Some(folder) = folders.pop() {
        let entries = match fs::read_dir(&folder) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(Error::io(folder, e)),
        };
        for e in entries {
            let e = e.at(&folder)?;
            let kind = e.file_type().at(e.path())?;
            if kind.is_symlink() {
                return refuse(&e.path());
            }
            if kind.is_dir() {
                folders.push(e.path());
            }
        }
    }
    Ok(())
}

pub struct Repo {
    /// The Git work tree root, canonical.
    pub root: PathBuf,
    pub config: Config,
    /// Where the object cache lives: this work tree's `.dv/cache`, or for a linked Git work tree the main
    /// work tree's, so all work trees of one repository share one cache (as they share Git's objects).
    cache_dir: PathBuf,
    /// How [`Session::lock`](crate::session::Session::lock) waits (the CLI sets it from `DV_LOCK_TIMEOUT` and the command it runs).
    pub lock_wait: LockWait,
    /// What the core would otherwise take from the environment (the CLI maps its variables onto it): carried
    /// to the store [`Repo::open_store`] opens and to the remotes opened from this repository.
    pub settings: crate::Settings,
    /// For a registry's repository read through a mirror ([`Repo::for_source`]): its remotes' settings from
    /// the user's files, in place of a `.dv/config.local.toml`, and where their index copies go.
    source: Option<SourceSide>,
}

/// What a registry's repository takes from the reader's side: see [`Repo::for_source`].
#[derive(Clone, Debug)]
struct SourceSide {
    /// Per remote: the settings that are not committed ones (credentials), from the reader's files.
    local: std::collections::BTreeMap<String, files::RemoteSettings>,
    /// Where the copies of its remotes' indexes go, one folder per remote below it.
    index_dir: PathBuf,
    /// The state database that indexes the cache for it.
    db: PathBuf,
    /// Remotes whose committed `endpoint` the reader has not confirmed: remote name to endpoint.
    unconfirmed: std::collections::BTreeMap<String, String>,
    /// The source as recorded (its URL without credentials, or its path), for messages and hints.
    record: String,
}

/// Which cache a work tree uses: `DV_CACHE_DIR` ([`crate::Settings::cache_dir`]), else the `cache.dir` of
/// its `.dv/config.local.toml`, else that of the user's settings file, else `None` (its own, or for a
/// linked work tree the main work tree's).
fn shared_cache(dv_dir: &Path, settings: &crate::Settings) -> Result<Option<PathBuf>> {
    if let Some(dir) = &settings.cache_dir {
        return Ok(Some(dir.clone()));
    }
    if let Some(dir) = files::cache_dir_in(&dv_dir.join(LOCAL_CONFIG_FILE))? {
        return Ok(Some(dir));
    }
    match &settings.user_config {
        Some(user) => files::cache_dir_in(user),
        None => Ok(None),
    }
}

impl Repo {
    /// Finds the Git work tree containing `cwd` and its dv repository, with dv's default settings.
    pub fn discover(cwd: &Path) -> Result<Repo> {
        Repo::discover_with(cwd, &crate::Settings::default())
    }

    /// Finds the Git work tree containing `cwd` and its dv repository, which carries `settings` (and uses the
    /// cache they name, if they name one: see [`Settings::cache_dir`](crate::Settings)).
    pub fn discover_with(cwd: &Path, settings: &crate::Settings) -> Result<Repo> {
        let tree = crate::git::discover_work_tree(cwd)?;
        let root = tree.root;
        check_own_files(&root.join(DV_DIR), false)?;
        let config_path = root.join(DV_DIR).join(CONFIG_FILE);
        let text = match fs::read_to_string(&config_path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(Error::NotInitialized(root));
            }
            Err(e) => return Err(Error::io(config_path, e)),
        };
        let config = Config::parse(&text, &config_path.display().to_string())?;
        let cache_dir = match (shared_cache(&root.join(DV_DIR), settings)?, tree.main) {
            (Some(dir), _) => dir,
            (None, Some(main)) if main.join(DV_DIR).join(CONFIG_FILE).is_file() => {
                main.join(DV_DIR).join("cache")
            }
            _ => root.join(DV_DIR).join("cache"),
        };
        check_own_files(&cache_dir, true)?;
        Ok(Repo {
            root,
            config,
            cache_dir,
            lock_wait: LockWait::default(),
            settings: settings.clone(),
            source: None,
        })
    }

    /// A registry's repository as a reader sees it (`dv ls`, `get`, `import`): `root` is where a folder
    /// remote's relative path starts (`None`: nowhere; such a remote is refused), `config` its committed
    /// settings at the revision read, its objects kept in `cache_dir`, and `local` the reader's settings for
    /// its remotes (from `[source."URL".remote.NAME]`), which stand where a work tree's
    /// `.dv/config.local.toml` would; its state database and the copies of its remotes' indexes are kept in
    /// the folder `side`.
    pub(crate) fn for_source(
        root: PathBuf,
        config: Config,
        cache_dir: PathBuf,
        settings: crate::Settings,
        local: std::collections::BTreeMap<String, files::RemoteSettings>,
        side: PathBuf,
    ) -> Repo {
        // One state database per cache it indexes: the source's own, or each shared one.
        let db = if cache_dir == side.join("cache") {
            side.join("state.db")
        } else {
            let key = blake3::hash(cache_dir.as_os_str().as_encoded_bytes()).to_hex();
            side.join(format!("state-{}.db", &key.as_str()[..16]))
        };
        Repo {
            root,
            config,
            cache_dir,
            lock_wait: LockWait::default(),
            settings,
            source: Some(SourceSide {
                local,
                index_dir: side.join("remotes"),
                db,
                unconfirmed: Default::default(),
                record: String::new(),
            }),
        }
    }

    /// A source's record (see [`Repo::source_record`]).
    pub(crate) fn with_source_record(mut self, record: &str) -> Repo {
        if let Some(s) = &mut self.source {
            s.record = record.to_string();
        }
        self
    }

    /// For a registry's repository: the source as recorded (its URL without credentials, or its path).
    pub fn source_record(&self) -> Option<&str> {
        self.source.as_ref().map(|s| s.record.as_str())
    }

    /// A source's remotes whose committed endpoint the reader has not confirmed (see
    /// [`Repo::unconfirmed_endpoint`]).
    pub(crate) fn with_unconfirmed_endpoints(
        mut self,
        unconfirmed: std::collections::BTreeMap<String, String>,
    ) -> Repo {
        if let Some(s) = &mut self.source {
            s.unconfirmed = unconfirmed;
        }
        self
    }

    /// For a source: the endpoint its committed settings give remote `name` that the reader has not confirmed
    /// in their own (`source.URL.remote.NAME.endpoint`), if so.
    pub fn unconfirmed_endpoint(&self, name: &str) -> Option<&str> {
        self.source
            .as_ref()
            .and_then(|s| s.unconfirmed.get(name))
            .map(String::as_str)
    }

    /// This repository keeping its objects in `dir`.
    pub(crate) fn with_cache_dir(mut self, dir: PathBuf) -> Repo {
        // A source's state database indexes one cache: a cache of its own keeps its own beside it.
        if let Some(s) = &mut self.source {
            s.db = dir.join("state.db");
        }
        self.cache_dir = dir;
        self
    }

    /// Whether this is a registry's repository read through a mirror or in place (`dv ls`, `get`, `import`), not a work tree.
    pub fn is_source(&self) -> bool {
        self.source.is_some()
    }

    /// Where the copies of remote `name`'s index files are kept.
    pub fn remote_index_dir(&self, name: &str) -> PathBuf {
        match &self.source {
            Some(s) => s.index_dir.join(name),
            None => self.cache_dir.join("remotes").join(name).join("index"),
        }
    }

    /// Creates `.dv/` in the work tree containing `cwd`; returns the repo and whether anything was created.
    pub fn init(cwd: &Path) -> Result<(Repo, bool)> {
        Repo::init_with(cwd, &crate::Settings::default())
    }

    /// [`Repo::init`] with `settings` (see [`Repo::discover_with`]).
    pub fn init_with(cwd: &Path, settings: &crate::Settings) -> Result<(Repo, bool)> {
        let root = crate::git::discover_work_tree(cwd)?.root;
        let dv = root.join(DV_DIR);
        // `.dv` (committed, so anyone can make it a link) must not lead dv's own files out of the work tree.
        crate::paths::check_no_linked_parents(&root, &format!("{DV_DIR}/{CONFIG_FILE}"))?;
        check_own_files(&dv, false)?;
        check_own_files(&dv.join("cache"), true)?;
        fs::create_dir_all(&dv).at(&dv)?;
        let mut created = false;
        // Git must never see a temporary file of init's, yet `.dv/.gitignore`, which hides the cache, does not
        // exist before init writes it: so the cache hides itself first, with a `.gitignore` of its own made
        // whole in one step (see `create_whole`), and only then is a temporary file made in its `tmp/`.
        let cache = dv.join("cache");
        fs::create_dir_all(&cache).at(&cache)?;
        let cache_ignore = cache.join(".gitignore");
        if !crate::fsutil::create_whole(&cache_ignore, CACHE_GITIGNORE.as_bytes())?
            && crate::fsutil::read_own(&cache_ignore)?.as_deref()
                != Some(CACHE_GITIGNORE.as_bytes())
        {
            // Left empty by a kill where a file cannot be made whole in one step: written again in place.
            fs::write(&cache_ignore, CACHE_GITIGNORE).at(&cache_ignore)?;
        }
        crate::fault::point("init-cache-hidden");
        let tmp = cache.join("tmp");
        fs::create_dir_all(&tmp).at(&tmp)?;
        let config_path = dv.join(CONFIG_FILE);
        if !config_path.exists() {
            crate::fsutil::write_atomic_via(&config_path, Config::initial_text().as_bytes(), &tmp)?;
            created = true;
        }
        let repo = Repo::discover_with(&root, settings)?;
        created |= repo.ensure_own_ignore()?;
        drop(repo.open_store()?);
        Ok((repo, created))
    }

    /// Makes `.dv/.gitignore` hold dv's own lines ([`DV_IGNORE_LINES`]): written whole when missing, the
    /// lines it lacks appended otherwise (the user's lines stay). Returns whether it was written.
    pub fn ensure_own_ignore(&self) -> Result<bool> {
        let path = self.dv_dir().join(".gitignore");
        let new = match crate::fsutil::read_own(&path)? {
            None => DV_GITIGNORE.to_string(),
            Some(old) => {
                let old = String::from_utf8_lossy(&old).into_owned();
                let missing = missing_own_ignore_lines(&old);
                if missing.is_empty() {
                    return Ok(false);
                }
                let mut text = old;
                if !text.is_empty() && !text.ends_with('\n') {
                    text.push('\n');
                }
                for line in missing {
                    text.push_str(line);
                    text.push('\n');
                }
                text
            }
        };
        self.write_file(&path, new.as_bytes())?;
        Ok(true)
    }

    pub fn dv_dir(&self) -> PathBuf {
        self.root.join(DV_DIR)
    }

    pub fn cache_dir(&self) -> PathBuf {
        self.cache_dir.clone()
    }

    pub fn db_path(&self) -> PathBuf {
        match &self.source {
            Some(s) => s.db.clone(),
            None => self.dv_dir().join("state.db"),
        }
    }

    /// Opens the cache, tuned by [`Repo::settings`].
    pub fn open_store(&self) -> Result<Store> {
        Store::open(&self.cache_dir(), &self.db_path(), &self.settings)
    }

    /// Writes `path`, a file dv keeps in the work tree, `.dv/` or the cache, atomically, its temporary file
    /// made where Git never looks and every dv command cleans: the cache's `tmp/` (see
    /// [`crate::fsutil::write_atomic_via`]).
    pub fn write_file(&self, path: &Path, data: &[u8]) -> Result<()> {
        let tmp = self.cache_dir.join("tmp");
        let _ = fs::create_dir_all(&tmp);
        crate::fsutil::write_atomic_via(path, data, &tmp)
    }

    /// Absolute path of a repository path.
    pub fn abs(&self, repo_path: &str) -> PathBuf {
        crate::paths::to_abs(&self.root, repo_path)
    }
}
