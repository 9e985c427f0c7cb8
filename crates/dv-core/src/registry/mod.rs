//! Registries: other repositories' datasets, read without a clone of them (`dv ls`, `dv get`, `dv import`).
//!
//! A source is named by a Git URL (mirrored under the user's cache folder: [`mirror`]), by a local path
//! (read in place), or is the current repository. [`open`] resolves the revision asked for, reads the source's
//! committed settings at it, and gives a [`Repo`] through which its remotes open (with the reader's own
//! settings for them from `[source."URL".remote.NAME]`) and its objects are kept: in the shared cache when the
//! user has one (`cache.dir`, `DV_CACHE_DIR`), else in the source's own folder under the user's cache.

use std::path::{Path, PathBuf};

use crate::git::{Commit, GitRepo};
use crate::repo::{CONFIG_FILE, Config, DV_DIR, LOCAL_CONFIG_FILE, REMOTE_SETTINGS, Repo, files};
use crate::{Error, Result, Settings};

pub mod mirror;

/// Where a source repository is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Location {
    /// The repository the command runs in.
    Here,
    /// A Git repository on this machine, read in place.
    Path(PathBuf),
    /// A Git URL, read through a mirror: as given (credentials and all, used to fetch) and as recorded.
    Url { url: String, shown: String },
}

impl Location {
    /// What the user typed: `.` or a path (relative to `cwd`) of an existing folder, else a URL `git` can fetch
    /// (`file://`, `ssh://`, `https://`, `http://`, `git://`, or scp-like `user@host:path`). `here` is the root
    /// of the repository the command runs in, if any.
    pub fn parse(text: &str, cwd: &Path, here: Option<&Path>) -> Result<Location> {
        if text.is_empty() || text.starts_with('-') {
            return Err(Error::usage(format!(
                "{text:?} is not a repository path or URL"
            )));
        }
        if !is_url(text) {
            let p = cwd.join(text);
            let p = p.canonicalize().map_err(|e| Error::io(&p, e))?;
            if here.is_some_and(|h| within_work_tree(&p, h)) {
                return Ok(Location::Here);
            }
            return Ok(Location::Path(p));
        }
        if text.contains("::") {
            return Err(Error::usage(format!(
                "{}: Git's remote helpers (`TRANSPORT::ADDRESS`) are not accepted as a source",
                crate::redact::redact(text)
            )));
        }
        Ok(Location::Url {
            url: text.to_string(),
            shown: without_credentials(text),
        })
    }

    /// How a pointer records this source, and how settings name it: the URL without credentials, or the path.
    pub fn record(&self, here: &Path) -> String {
        match self {
            Location::Here => here.display().to_string(),
            Location::Path(p) => p.display().to_string(),
            Location::Url { shown, .. } => shown.clone(),
        }
    }
}

/// True when `text` names a repository by URL (`file://`, `ssh://`, `https://`, `http://`, `git://`, or scp-like
/// `user@host:path`), not by a path on this machine.
pub fn is_url(text: &str) -> bool {
    ["file://", "ssh://", "https://", "http://", "git://"]
        .iter()
        .any(|p| text.starts_with(p))
        || scp_like(text)
}

/// True when folder `p` is work tree `root` or a folder of it (no other Git repository in between: a nested
/// repository is another source). Both canonical.
fn within_work_tree(p: &Path, root: &Path) -> bool {
    if !p.starts_with(root) {
        return false;
    }
    let mut at = p;
    while at != root {
        if at.join(".git").exists() {
            return false;
        }
        match at.parent() {
            Some(up) => at = up,
            None => return false,
        }
    }
    true
}

/// `user@host:path` or `host:path` as Git reads it: a colon before any slash, and more than one letter before
/// it (a drive letter is not a host).
fn scp_like(text: &str) -> bool {
    match (text.find(':'), text.find('/')) {
        (Some(colon), slash) => colon > 1 && slash.is_none_or(|s| colon < s),
        _ => false,
    }
}

/// A URL without the user name and password of its authority, nor a query string carrying a credential.
pub fn without_credentials(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut u) if u.has_host() => {
            let _ = u.set_username("");
            let _ = u.set_password(None);
            if u.query().is_some() && crate::secret::url_secret(u.as_str()).is_some() {
                u.set_query(None);
            }
            u.to_string()
        }
        _ => url.to_string(),
    }
}

/// A source repository opened at a revision.
pub struct Opened {
    /// Its Git repository (the mirror, or the repository itself).
    pub git: GitRepo,
    pub commit: Commit,
    /// The source as recorded (URL without credentials, or path).
    pub record: String,
    /// Its committed settings at the commit, the reader's own settings for its remotes, and the cache its
    /// objects are kept in.
    pub repo: Repo,
    /// What the mirror's sync did (`None` for a source read in place).
    pub synced: Option<mirror::Synced>,
    /// The objects go to the user's shared cache (`cache.dir`, `DV_CACHE_DIR`), not the source's own folder.
    pub shared_cache: bool,
}

/// The commit `rev` (`None`: HEAD) names in a source as last fetched, without fetching: from its mirror (`None`
/// when there is none yet), or from the repository itself for a path.
pub fn resolve_offline(
    location: &Location,
    rev: Option<&str>,
    settings: &Settings,
) -> Result<Option<(GitRepo, Commit)>> {
    let git = match location {
        Location::Here => return Ok(None),
        Location::Path(p) => GitRepo::open(p)?,
        Location::Url { shown, .. } => {
            let dir = mirror::mirror_dir(&side_dir(settings, shown)?);
            if !dir.join("HEAD").is_file() {
                return Ok(None);
            }
            GitRepo::open(&dir)?
        }
    };
    let commit = match (rev, location) {
        (Some(r), _) => git.resolve(r)?,
        (None, Location::Url { .. }) => Commit {
            rev: "HEAD".into(),
            ..git.resolve(mirror::HEAD_REF)?
        },
        (None, _) => git.resolve("HEAD")?,
    };
    Ok(Some((git, commit)))
}

/// `repo` (a source's, from [`open`]) keeping its objects in `dir` instead (`dv get` without a shared cache:
/// a cache in its temporary folder).
pub fn with_cache(repo: Repo, dir: &Path) -> Repo {
    repo.with_cache_dir(dir.to_path_buf())
}

/// The folder under the user's cache for source `record`: its mirror, its state database, its remotes'
/// index copies, and (without a shared cache) its objects.
fn side_dir(settings: &Settings, record: &str) -> Result<PathBuf> {
    let base = settings.user_cache.as_ref().ok_or_else(|| {
        Error::usage("dv keeps registries under the user's cache folder, and there is none: set HOME or XDG_CACHE_HOME")
    })?;
    let key = blake3::hash(record.as_bytes()).to_hex();
    Ok(base.join("sources").join(&key.as_str()[..16]))
}

/// The shared cache the reader uses, if any (as [`Repo::discover_with`] picks it, for a reader outside a
/// repository too).
fn shared_cache(settings: &Settings, here: Option<&Repo>) -> Result<Option<PathBuf>> {
    if let Some(dir) = &settings.cache_dir {
        return Ok(Some(dir.clone()));
    }
    if let Some(repo) = here
        && let Some(dir) = files::cache_dir_in(&repo.dv_dir().join(LOCAL_CONFIG_FILE))?
    {
        return Ok(Some(dir));
    }
    match &settings.user_config {
        Some(user) => files::cache_dir_in(user),
        None => Ok(None),
    }
}

/// Opens a source other than the current repository at `rev` (default: its `HEAD`). `here` is the repository
/// the command runs in, if any (its `.dv/config.local.toml` may set the source's remotes, and its shared cache
/// applies). The mirror's lock is held while it syncs.
pub fn open(
    location: &Location,
    rev: Option<&str>,
    settings: &Settings,
    here: Option<&Repo>,
) -> Result<Opened> {
    let record = match location {
        Location::Here => {
            return Err(Error::Internal(
                "registry::open is for other repositories".into(),
            ));
        }
        _ => location.record(Path::new("")),
    };
    let side = side_dir(settings, &record)?;
    std::fs::create_dir_all(&side).map_err(|e| Error::io(&side, e))?;
    let (git, synced, root) = match location {
        Location::Path(p) => (GitRepo::open(p)?, None, Some(p.clone())),
        Location::Url { url, shown } => {
            let dir = mirror::mirror_dir(&side);
            let lock_path = side.join("lock");
            let lock = std::fs::OpenOptions::new()
                .create(true)
                .truncate(false)
                .write(true)
                .open(&lock_path)
                .map_err(|e| Error::io(&lock_path, e))?;
            lock.lock().map_err(|e| Error::io(&lock_path, e))?;
            let _ = std::fs::write(side.join("url"), format!("{shown}\n"));
            let have = |dir: &Path| {
                rev.is_some_and(|r| {
                    r.len() == 40
                        && r.bytes().all(|b| b.is_ascii_hexdigit())
                        && GitRepo::open(dir).is_ok_and(|g| g.resolve(r).is_ok())
                })
            };
            let synced = mirror::sync(&dir, url, shown, have)?;
            let git = GitRepo::open(&dir)?;
            if let Some(r) = rev
                && git.resolve(r).is_err()
                && r.len() >= 7
                && r.bytes().all(|b| b.is_ascii_hexdigit())
            {
                // A commit no branch or tag names: asked for by id, where the server allows it.
                let _ = mirror::fetch_commit(&dir, url, shown, r);
            }
            drop(lock);
            (GitRepo::open(&dir)?, Some(synced), None)
        }
        Location::Here => unreachable!("returned above"),
    };
    let commit = match (rev, &synced) {
        (Some(r), _) => git.resolve(r)?,
        (None, Some(_)) => Commit {
            rev: "HEAD".into(),
            ..git.resolve(mirror::HEAD_REF)?
        },
        (None, None) => git.resolve("HEAD")?,
    };
    let config_path = format!("{DV_DIR}/{CONFIG_FILE}");
    let what = format!("{config_path} of {record} at {}", commit.rev);
    let text = git.file_at(&commit, &config_path)?.ok_or_else(|| {
        Error::usage(format!(
            "{record} at {} is not a dv repository: it has no {config_path}",
            commit.rev
        ))
    })?;
    let text = String::from_utf8(text).map_err(|_| Error::format(&what, "not UTF-8"))?;
    let mut config = Config::parse(&text, &what)?;
    // A revision from before the source had a remote: its data is where the source's remotes are now (its
    // default branch's settings), as a clone of it would find it.
    if config.remotes.is_empty() {
        let head = match &synced {
            Some(_) => git.resolve(mirror::HEAD_REF),
            None => git.resolve("HEAD"),
        };
        if let Ok(head) = head
            && head.id != commit.id
            && let Ok(Some(text)) = git.file_at(&head, &config_path)
            && let Ok(text) = String::from_utf8(text)
            && let Ok(now) = Config::parse(&text, &format!("{config_path} of {record} at HEAD"))
        {
            config.remotes = now.remotes;
            config.default_remote = now.default_remote;
        }
    }
    // The reader's settings for the source's remotes: the user's file, then this work tree's local file.
    let mut mine = match &settings.user_config {
        Some(user) => files::source_remotes_in(user, &record)?,
        None => Default::default(),
    };
    if let Some(repo) = here {
        for (name, set) in
            files::source_remotes_in(&repo.dv_dir().join(LOCAL_CONFIG_FILE), &record)?
        {
            mine.entry(name).or_default().extend(set);
        }
    }
    // An endpoint the source's committer chose receives the reader's signed requests (their access key id,
    // a session token): used only once the reader confirms it in their own settings.
    let unconfirmed: std::collections::BTreeMap<String, String> = config
        .remotes
        .iter()
        .filter_map(|(name, r)| {
            let committed = r.settings.get("endpoint")?;
            let confirmed = mine.get(name).is_some_and(|m| m.contains_key("endpoint"));
            (!confirmed).then(|| (name.clone(), committed.clone()))
        })
        .collect();
    let mut local = std::collections::BTreeMap::new();
    for (name, set) in mine {
        let mut rest = files::RemoteSettings::new();
        for (k, v) in set {
            if k == "url" {
                config
                    .remotes
                    .entry(name.clone())
                    .or_insert_with(|| crate::repo::RemoteConfig {
                        url: String::new(),
                        settings: Default::default(),
                    })
                    .url = v;
            } else if REMOTE_SETTINGS.contains(&k.as_str()) {
                if let Some(r) = config.remotes.get_mut(&name) {
                    r.settings.insert(k, v);
                }
            } else {
                rest.insert(k, v);
            }
        }
        local.insert(name, rest);
    }
    let shared = shared_cache(settings, here)?;
    let shared_cache = shared.is_some();
    let cache_dir = shared.unwrap_or_else(|| side.join("cache"));
    // A relative folder remote starts at the source's work tree: a mirror has none.
    let root = root.unwrap_or_else(|| side.join(NO_WORK_TREE));
    let repo = Repo::for_source(root, config, cache_dir, settings.clone(), local, side)
        .with_unconfirmed_endpoints(unconfirmed)
        .with_source_record(&record);
    Ok(Opened {
        git,
        commit,
        record,
        repo,
        synced,
        shared_cache,
    })
}

/// Opens the default remote (or `name`) of a source's repository `repo` (from [`open`]; `record` names the
/// source in messages) for reading, refusing a relative folder remote of a mirrored source (relative to a work
/// tree the reader does not have) with the setting that says where it is.
pub fn open_remote(repo: &Repo, record: &str, name: Option<&str>) -> Result<crate::remote::Remote> {
    let config = &repo.config;
    if config.remotes.is_empty() {
        return Err(Error::Remote {
            remote: "(none)".into(),
            message: format!("{record} has no remote, so its data cannot be read from here"),
            source: None,
        });
    }
    let chosen = name.or(config.default_remote.as_deref()).or_else(|| {
        (config.remotes.len() == 1)
            .then(|| config.remotes.keys().next().map(String::as_str))
            .flatten()
    });
    if let Some(n) = chosen
        && let Some(r) = config.remotes.get(n)
    {
        if let Some(endpoint) = repo.unconfirmed_endpoint(n) {
            return Err(Error::Remote {
                remote: n.to_string(),
                message: format!(
                    "the remote of {record} sends its requests, signed with your credentials, to {}, a server \
                     that repository's committed settings chose; if you trust it, confirm it: dv config --global \
                     set source.{record}.remote.{n}.endpoint {}",
                    crate::redact::redact(endpoint),
                    crate::redact::redact(endpoint)
                ),
                source: None,
            });
        }
        let relative = !r.url.contains("://") && !Path::new(&r.url).is_absolute();
        if relative && repo.root.ends_with(NO_WORK_TREE) {
            return Err(Error::Remote {
                remote: n.to_string(),
                message: format!(
                    "the remote of {record} is the folder {:?}, relative to that repository's work tree, which \
                     a mirror does not have; say where it is for this source: dv config --global set \
                     source.{record}.remote.{n}.url PATH",
                    r.url
                ),
                source: None,
            });
        }
    }
    crate::remote::Remote::open(repo, name, crate::remote::Access::Read)
}

/// The root given to a mirrored source's [`Repo`]: a folder that never exists.
const NO_WORK_TREE: &str = "no-work-tree";

/// A repository to read datasets from, at a revision or in its work tree: what `dv ls`, `dv get` and the
/// Python package read (see [`open_source`]).
pub struct SourceAt {
    /// Its repository: for the cache its objects are kept in, and its remotes.
    pub repo: Repo,
    /// The objects go to a cache the user keeps: this repository's, or a shared one (else the source's own
    /// folder under the user's cache).
    pub kept: bool,
    /// Its Git repository and the commit read; `None` for the pointers of the current repository's work tree.
    pub git: Option<GitRepo>,
    pub commit: Option<Commit>,
    /// The source as recorded (URL without credentials, or path), for messages.
    pub record: String,
}

impl SourceAt {
    /// Where its pointer files are read from.
    pub fn source(&self) -> crate::ops::datasets::Source<'_> {
        match (&self.git, &self.commit) {
            (Some(git), Some(c)) => crate::ops::datasets::Source::Rev {
                git,
                commit: c.clone(),
            },
            _ => crate::ops::datasets::Source::WorkTree,
        }
    }
}

/// Opens the repository `repo_arg` names (`.` or a path, relative to `cwd`, or a Git URL: see
/// [`Location::parse`]) at `rev` (`None`: the work tree's pointers for the current repository, `HEAD` for
/// another). `here` is the repository the caller runs in, if any.
pub fn open_source(
    repo_arg: &str,
    rev: Option<&str>,
    cwd: &Path,
    settings: &Settings,
    here: Option<Repo>,
) -> Result<SourceAt> {
    let location = Location::parse(repo_arg, cwd, here.as_ref().map(|r| r.root.as_path()))?;
    if location == Location::Here {
        let repo = here.expect("Here only inside a repository");
        let (git, commit) = match rev {
            Some(r) => {
                let git = GitRepo::open(&repo.root)?;
                let commit = git.resolve(r)?;
                (Some(git), Some(commit))
            }
            None => (None, None),
        };
        let record = repo.root.display().to_string();
        return Ok(SourceAt {
            repo,
            kept: true,
            git,
            commit,
            record,
        });
    }
    let opened = open(&location, rev, settings, here.as_ref())?;
    Ok(SourceAt {
        kept: opened.shared_cache,
        repo: opened.repo,
        git: Some(opened.git),
        commit: Some(opened.commit),
        record: opened.record,
    })
}

/// The remote a source's data comes from: the current repository's default one, or the source's (`record`
/// names it in messages).
pub fn remote_of(repo: &Repo, record: &str) -> Result<crate::remote::Remote> {
    if repo.is_source() {
        open_remote(repo, record, None)
    } else {
        crate::remote::Remote::open(repo, None, crate::remote::Access::Read)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locations_and_records() {
        let tmp = tempfile::tempdir().unwrap();
        let cwd = tmp.path().to_path_buf();
        assert!(matches!(
            Location::parse("https://u:p@h.example/r.git", &cwd, None).unwrap(),
            Location::Url { shown, .. } if shown == "https://h.example/r.git"
        ));
        assert!(matches!(
            Location::parse("git@github.com:org/reg.git", &cwd, None).unwrap(),
            Location::Url { .. }
        ));
        assert!(Location::parse("-uupload-pack=x", &cwd, None).is_err());
        assert!(Location::parse("ext::sh -c x", &cwd, None).is_err());
        assert!(Location::parse("/no/such/folder/here", &cwd, None).is_err());
        let here = cwd.canonicalize().unwrap();
        assert_eq!(
            Location::parse(".", &here, Some(&here)).unwrap(),
            Location::Here
        );
        assert_eq!(
            without_credentials("file:///srv/r.git"),
            "file:///srv/r.git"
        );
    }
}
