//! A dv repository: the `.dv/` folder inside a Git work tree, its settings, its lock and its cache.

use std::fs::{self, File};
use std::path::{Path, PathBuf};

use crate::error::IoContext;
pub use crate::lock::LockHolder;
use crate::store::Store;
use crate::{Error, Result};

pub const DV_DIR: &str = ".dv";
pub const CONFIG_FILE: &str = "config.toml";
/// The repository format this dv writes and the newest it reads.
pub const REPO_FORMAT: u64 = 1;
/// The default zstd level: fast enough that compression keeps up with chunking on two cores.
pub const DEFAULT_COMPRESSION_LEVEL: i32 = 1;

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
        use crate::toml_text::{string, table};
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
            t.push_str(&format!("remote = {}\n", string(d)));
        }
        for (name, r) in &self.remotes {
            // A name with a dot is quoted (`[remote."my.r"]`): bare, it would read back as nested tables.
            t.push_str(&table(&format!("remote.{}", crate::toml_text::key(name))));
            t.push_str(&format!("url = {}\n", string(&r.url)));
            for (k, v) in &r.settings {
                t.push_str(&format!("{k} = {}\n", string(v)));
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
    let found = crate::secret::url_secret(value).or_else(|| crate::secret::value_secret(value));
    match found {
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
}

/// Holds the cache's write lock until dropped.
pub struct Lock {
    _file: File,
}

/// The default time [`Session::lock`](crate::session::Session::lock) waits for another dv process.
pub const DEFAULT_LOCK_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(60);

/// Called once when [`Session::lock`](crate::session::Session::lock) has to wait: the holder, and how long it will wait at most.
pub type OnLockWait = std::sync::Arc<dyn Fn(&LockHolder, std::time::Duration) + Send + Sync>;

/// How [`Session::lock`](crate::session::Session::lock) waits for a lock another process holds.
#[derive(Clone)]
pub struct LockWait {
    pub timeout: std::time::Duration,
    /// The command this process runs, recorded in the lock file for whoever waits (`gc`, `push`, …).
    pub command: String,
    pub on_wait: Option<OnLockWait>,
}

impl Default for LockWait {
    fn default() -> Self {
        LockWait {
            timeout: DEFAULT_LOCK_TIMEOUT,
            command: "dv".into(),
            on_wait: None,
        }
    }
}

impl Repo {
    /// Finds the Git work tree containing `cwd` and its dv repository.
    pub fn discover(cwd: &Path) -> Result<Repo> {
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
        let cache_dir = match tree.main {
            Some(main) if main.join(DV_DIR).join(CONFIG_FILE).is_file() => {
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
            settings: crate::Settings::default(),
        })
    }

    /// Creates `.dv/` in the work tree containing `cwd`; returns the repo and whether anything was created.
    pub fn init(cwd: &Path) -> Result<(Repo, bool)> {
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
        let repo = Repo::discover(&root)?;
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
        self.dv_dir().join("state.db")
    }

    /// Opens the cache, tuned by [`Repo::settings`].
    pub fn open_store(&self) -> Result<Store> {
        Store::open(&self.cache_dir(), &self.db_path(), &self.settings)
    }

    /// The file whose advisory lock guards the cache: `lock` inside the cache folder, so every work tree (and
    /// later every repository) that shares a cache shares its lock.
    pub fn lock_path(&self) -> PathBuf {
        self.cache_dir.join("lock")
    }

    /// Takes the write lock of the cache this work tree uses, waiting up to `lock_wait.timeout` for another dv
    /// process to release it (calling `lock_wait.on_wait` once with the holder when it has to wait). The lock
    /// is released when the process exits, however it exits, so a crash never leaves a stale lock. Holding it,
    /// this work tree is recorded as a user of the cache (see [`Repo::cache_users`]).
    pub(crate) fn lock(&self) -> Result<Lock> {
        fs::create_dir_all(&self.cache_dir).at(&self.cache_dir)?;
        let path = self.lock_path();
        let file = fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .at(&path)?;
        let started = std::time::Instant::now();
        let mut told = false;
        loop {
            match file.try_lock() {
                Ok(()) => break,
                Err(fs::TryLockError::WouldBlock) => {
                    let holder = LockHolder::read(&path);
                    let waited = started.elapsed();
                    if waited >= self.lock_wait.timeout {
                        return Err(Error::Locked {
                            path,
                            holder,
                            waited,
                        });
                    }
                    if !told {
                        if let Some(f) = &self.lock_wait.on_wait {
                            f(&holder, self.lock_wait.timeout);
                        }
                        told = true;
                    }
                    let left = self.lock_wait.timeout - waited;
                    std::thread::sleep(left.min(std::time::Duration::from_millis(50)));
                }
                Err(fs::TryLockError::Error(e)) => return Err(Error::io(path, e)),
            }
        }
        // Name the holder for whoever waits (the lock itself is the flock, not this text).
        {
            use std::io::{Seek, Write};
            let mut f = &file;
            let _ = f.set_len(0);
            let _ = f.seek(std::io::SeekFrom::Start(0));
            let _ = write!(
                f,
                "pid {}\ncommand {}\nwork_tree {}\n",
                std::process::id(),
                self.lock_wait.command,
                self.root.display()
            );
        }
        let lock = Lock { _file: file };
        // The temporary files that killed dv processes made beside files Git may see (the cache being on
        // another file system) go now, as recorded: every command that writes the work tree takes this lock,
        // and a read-only one (status) never removes anything there.
        crate::fsutil::remove_recorded_temps(&self.cache_dir.join("tmp"), || self.journal_scope())?;
        self.register_user()?;
        Ok(lock)
    }

    /// Where a journal of this cache may name temporary files: this work tree and the others that use its
    /// cache, resolved (only this one when those cannot be listed: a leftover then stays, which loses nothing);
    /// and the journals Git tracks in the work tree holding the cache, which are never read. The caller holds
    /// the lock.
    fn journal_scope(&self) -> crate::fsutil::JournalScope {
        let mut roots = vec![
            self.root
                .canonicalize()
                .unwrap_or_else(|_| self.root.clone()),
        ];
        if let Ok(users) = self.cache_users() {
            roots.extend(users.into_iter().map(|u| u.root));
        }
        crate::fsutil::JournalScope {
            roots,
            tracked: self.tracked_journals(),
        }
    }

    /// The files Git tracks in the cache's `tmp/` (a commit brought them): journals there are never read.
    fn tracked_journals(&self) -> Vec<PathBuf> {
        // The cache is `<work tree>/.dv/cache`: this one's or the main work tree's. When Git's index cannot be
        // read, the rule for each entry still holds.
        let tmp = format!("{DV_DIR}/cache/tmp");
        self.cache_dir
            .parent()
            .and_then(Path::parent)
            .and_then(|holder| {
                let paths = crate::git::GitRepo::open(holder)
                    .and_then(|g| g.tracked_under(&tmp))
                    .ok()?;
                Some(paths.into_iter().map(|p| holder.join(p)).collect())
            })
            .unwrap_or_default()
    }

    /// The temporary files of dv's that the journals of this cache record in this work tree
    /// (`fsutil::recorded_temps`), as repository paths: made beside the data when the cache is on another file
    /// system, by a running command or by a killed one (whose leftovers the next command that takes the lock
    /// removes). Read without the lock and writing nothing, so `dv status` can skip them.
    pub fn recorded_temps(&self) -> Result<std::collections::HashSet<String>> {
        let root = self
            .root
            .canonicalize()
            .unwrap_or_else(|_| self.root.clone());
        let temps = crate::fsutil::recorded_temps(&self.cache_dir.join("tmp"), || {
            crate::fsutil::JournalScope {
                roots: vec![root.clone()],
                tracked: self.tracked_journals(),
            }
        })?;
        Ok(temps
            .iter()
            .filter_map(|p| p.strip_prefix(&root).ok()?.to_str().map(str::to_string))
            .collect())
    }

    /// The folder of the cache's list of the work trees that use it: one file each, named by a hash of the
    /// work tree's path and holding that path.
    fn users_dir(&self) -> PathBuf {
        self.cache_dir.join("worktrees")
    }

    fn user_file(&self, root: &Path) -> PathBuf {
        let hash = blake3::hash(root.as_os_str().as_encoded_bytes());
        self.users_dir().join(&hash.to_hex().as_str()[..16])
    }

    /// Records this work tree in its cache's list of users (the caller holds the lock).
    fn register_user(&self) -> Result<()> {
        let file = self.user_file(&self.root);
        let text = format!("{}\n", self.root.display());
        if fs::read(&file).ok().as_deref() != Some(text.as_bytes()) {
            let dir = self.users_dir();
            fs::create_dir_all(&dir).at(&dir)?;
            // In the cache's tmp/ too, so a killed run's temporary file is cleaned with the rest.
            self.write_file(&file, text.as_bytes())?;
        }
        Ok(())
    }

    /// The other work trees that use this work tree's cache: those recorded in the cache's list (when they
    /// took its lock) and Git's work trees of this repository (main and linked), each opened as a dv repository.
    /// Recorded work trees that are gone (deleted, no longer dv repositories, or using another cache now) are
    /// pruned from the list. The caller holds the lock.
    pub(crate) fn cache_users(&self) -> Result<Vec<Repo>> {
        let mut candidates: Vec<PathBuf> = Vec::new();
        let dir = self.users_dir();
        let mut recorded: Vec<(PathBuf, PathBuf)> = Vec::new();
        match fs::read_dir(&dir) {
            Ok(entries) => {
                for e in entries {
                    let e = e.at(&dir)?;
                    let name = e.file_name();
                    if name.to_str().is_some_and(crate::fsutil::is_temp_name) {
                        continue;
                    }
                    let text = fs::read_to_string(e.path()).at(e.path())?;
                    let root = PathBuf::from(text.trim_end_matches('\n'));
                    recorded.push((e.path(), root.clone()));
                    candidates.push(root);
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(Error::io(dir, e)),
        }
        // A work tree Git still lists but whose folder is gone (moved, on an unmounted drive: Git calls it
        // prunable) may hold data only this cache has: its pointers cannot be read, so nothing is safe to
        // collect until it is back or pruned.
        for root in crate::git::GitRepo::open(&self.root)?.work_trees()? {
            if !root.exists() {
                return Err(Error::MissingWorkTree(root));
            }
            candidates.push(root);
        }
        let mine = self.cache_dir.canonicalize().ok();
        let mut seen = std::collections::HashSet::new();
        seen.insert(self.root.clone());
        let mut out = Vec::new();
        let mut live = std::collections::HashSet::new();
        for root in candidates {
            let Ok(root) = root.canonicalize() else {
                continue;
            };
            if !seen.insert(root.clone()) {
                live.insert(root);
                continue;
            }
            let mut other = match Repo::discover(&root) {
                Ok(r) => r,
                Err(Error::NotAGitRepo(_) | Error::NotInitialized(_)) => continue,
                Err(e) => return Err(e),
            };
            if other.root != root || other.cache_dir.canonicalize().ok() != mine {
                continue;
            }
            live.insert(root);
            other.lock_wait = self.lock_wait.clone();
            other.settings = self.settings.clone();
            out.push(other);
        }
        live.insert(self.root.clone());
        for (file, root) in recorded {
            let root = root.canonicalize().unwrap_or(root);
            if !live.contains(&root) {
                match fs::remove_file(&file) {
                    Ok(()) => {}
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                    Err(e) => return Err(Error::io(file, e)),
                }
            }
        }
        Ok(out)
    }

    /// Writes `path`, a file dv keeps in the work tree, `.dv/` or the cache, atomically, its temporary file
    /// made where Git never looks and every dv command cleans: the cache's `tmp/` (see
    /// [`crate::fsutil::write_atomic_via`]).
    pub fn write_file(&self, path: &Path, data: &[u8]) -> Result<()> {
        let tmp = self.cache_dir.join("tmp");
        let _ = fs::create_dir_all(&tmp);
        crate::fsutil::write_atomic_via(path, data, &tmp)
    }

    /// Rewrites `.dv/config.toml` with `config`.
    pub fn save_config(&mut self, config: Config) -> Result<()> {
        let path = self.dv_dir().join(CONFIG_FILE);
        crate::paths::check_no_linked_parents(&self.root, &format!("{DV_DIR}/{CONFIG_FILE}"))?;
        self.write_file(&path, config.to_text().as_bytes())?;
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
