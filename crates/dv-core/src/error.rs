//! The library's error type. Every variant names the path or object it is about, so the CLI can print it as is.

mod chain;
mod hint;

pub use hint::REMOTE_COPY;

use std::io;
use std::path::PathBuf;

use crate::ObjectId;

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// The error of another library (gix, object_store) that an [`Error`] came from, kept as its `source()`: the
/// chain of causes shows it ([`Error::causes`]), and an embedder may downcast it.
pub type Source = Box<dyn std::error::Error + Send + Sync + 'static>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },

    #[error("{0} is not inside a Git work tree")]
    NotAGitRepo(PathBuf),

    /// `message` is the text of `source` when there is one (gix's error), so the message reads as before.
    #[error("{path}: Git: {message}")]
    Git {
        path: PathBuf,
        message: String,
        #[source]
        source: Option<Source>,
    },

    #[error("Git's index is locked: {} exists", lock.display())]
    IndexLocked { lock: PathBuf },

    #[error("Git ignores '{path}' by the rule {rule}, so dv will not stage it")]
    IgnoredByGit { path: String, rule: String },

    #[error("Git would not ignore the data of '{path}': the rule {rule} re-includes it")]
    DataNotIgnored { path: String, rule: String },

    #[error("revision '{rev}' cannot be used: {message}")]
    BadRevision {
        rev: String,
        message: String,
        #[source]
        source: Option<Source>,
    },

    #[error("{0} has no dv repository")]
    NotInitialized(PathBuf),

    #[error("'{path}' is outside the repository at {root}")]
    OutsideRepo { path: PathBuf, root: PathBuf },

    #[error("'{0}': no such file or directory")]
    NotFound(PathBuf),

    #[error("'{0}' is not tracked by dv")]
    NotTracked(String),

    #[error("'{path}' is not tracked by dv at revision '{rev}'")]
    NotTrackedAt { path: String, rev: String },

    /// A path named inside a dataset that the version (`version` describes it: "the version 'data.dv' names",
    /// "revision 'v1'") does not hold; `above` is the path above it that is a file there, if that is why.
    #[error(
        "'{path}' does not exist in {version}{}",
        above.as_ref().map(|a| format!(": '{a}' is a file there")).unwrap_or_default()
    )]
    NotInVersion {
        path: String,
        version: String,
        above: Option<String>,
    },

    /// A path named inside a dataset that cannot be checked out alone: `blocker`, above it, is a file (or a
    /// link) in the work tree where the version has a folder, and replacing it would touch more than the path.
    #[error(
        "'{path}' cannot be checked out alone: '{blocker}' is a file in the work tree, where {version} has a \
         folder"
    )]
    BlockedByFile {
        path: String,
        version: String,
        blocker: String,
    },

    #[error("'{path}' cannot be added: {reason}")]
    CannotAdd { path: String, reason: String },

    #[error(
        "'{path}' cannot be added: a checkout or pull of it did not finish (killed or stopped), so its work tree \
         is part one version, part another"
    )]
    UnfinishedCheckout { path: String },

    #[error("'{path}': {reason}")]
    BadPath { path: String, reason: String },

    /// What the user typed is wrong, in a way the argument parser cannot check: conflicting flags, or a flag's
    /// value that is malformed (`--where`, `--param`) or names what does not exist (a table column). The message
    /// names the flag or value and says what is expected.
    #[error("{message}")]
    Usage { message: String },

    /// Sound data that is not what the pointer file (or a tree) naming it declares: a hand-edited pointer, or
    /// one written by an older dv for a file that changed while it was added.
    #[error(
        "'{path}' is declared as {declared} bytes, but the data stored for it holds {holds}: its pointer file \
         (or a tree) disagrees with its data"
    )]
    SizeMismatch {
        path: String,
        declared: u64,
        holds: u64,
    },

    /// A sound object of another kind than the pointer file (or tree) naming it declares: a hand-edited pointer
    /// (`kind = "tree"` naming a file's chunk). The cache is fine; the pointer is wrong. `path` is empty until
    /// the caller that knows it fills it in ([`Error::at_path`]).
    #[error(
        "{} declared as a {declared}, but the object {id} stored for it is a {holds}: its pointer file (or a \
         tree) disagrees with its data",
        if path.is_empty() { "an object is".to_string() } else { format!("'{path}' is") }
    )]
    KindMismatch {
        path: String,
        id: ObjectId,
        declared: &'static str,
        holds: &'static str,
    },

    /// A linked work tree that shares the cache is listed by Git but its folder is gone: what it needs is
    /// unknown, so gc cannot run.
    #[error(
        "the work tree {} shares this cache, but its folder is missing, so gc cannot tell what it needs",
        .0.display()
    )]
    MissingWorkTree(PathBuf),

    /// A repository recorded as a user of this cache (it took its lock) is not where it was: what it needs is
    /// unknown, so gc cannot run.
    #[error(
        "the repository {} uses this cache, but it cannot be read there (missing, emptied, or no longer a dv \
         repository), so gc cannot tell what it needs",
        root.display()
    )]
    MissingCacheUser { root: PathBuf, record: PathBuf },

    /// A file written to while `dv add` read it: its size or id could not describe one content.
    #[error("{} changed while dv was reading it, so nothing was recorded for it", path.display())]
    ChangedWhileReading { path: PathBuf },

    /// A file dv would write or stage is a symbolic link: dv never follows one (a committed `.gitignore ->
    /// ~/.aws/credentials` must not put the credentials into Git).
    #[error(
        "'{}' is a symbolic link (to '{}'): dv never writes or stages a file through a link",
        path.display(),
        target.display()
    )]
    Link { path: PathBuf, target: PathBuf },

    /// A file or folder of dv's own under `.dv/` (or in the cache) that is a symbolic link: `.dv/` is
    /// committed, so a commit can carry a link there that would lead dv's reads, writes and deletions out of
    /// the repository (into another repository's cache, onto another program's database).
    #[error(
        "'{}' is a symbolic link: dv never reads, writes or deletes its own files through a link (one committed \
         to Git could lead them anywhere)",
        path.display()
    )]
    OwnFileLink { path: PathBuf },

    #[error("{what}: {message}")]
    Format { what: String, message: String },

    /// A pointer file in scope that cannot be read, for a command that acts on every pointer; `conflict` when it
    /// holds Git's merge-conflict markers ([`Error::ConflictedPointer`]).
    #[error("{message}")]
    MalformedPointer { message: String, conflict: bool },

    /// A dataset version a commit recorded in DVC's or git-lfs's files (from before `dv migrate …
    /// --all-commits`) whose object the migration could not store: dv cannot restore that version.
    #[error("{message}")]
    NotMigrated { message: String },

    /// A pointer file holding Git's merge-conflict markers (`<<<<<<<`): a merge or rebase left it unresolved.
    #[error("unresolved merge conflict in {what}")]
    ConflictedPointer { what: String },

    /// An annotation (`dv add --meta`, `dv meta set`) that cannot be written.
    #[error("{what}: {message}")]
    BadAnnotation { what: String, message: String },

    #[error(
        "{what} uses format version {found}, newer than this dv understands (up to {supported})"
    )]
    NewerFormat {
        what: String,
        found: u64,
        supported: u64,
    },

    #[error("object {id} is corrupt: {message}")]
    Corrupt { id: ObjectId, message: String },

    /// A folder or file list larger than one object may be in repository format 1.
    #[error("{what} is too large for repository format 1 (at most 1 GiB per object)")]
    TooLargeForFormat { what: String },

    #[error("{count} object(s) needed by '{path}' are not in the local cache (first: {first})")]
    MissingObjects {
        path: String,
        count: usize,
        first: ObjectId,
    },

    /// Several datasets were to be checked out and some lack objects: nothing was written. `missing` is the
    /// first one's error, `lacking` every dataset that lacks objects, `whole` those that could be checked out.
    #[error(
        "{missing}{}; nothing was checked out, though {} other dataset(s) are whole",
        if lacking.len() > 1 { format!(" (and {} more dataset(s) lack objects)", lacking.len() - 1) } else { String::new() },
        whole.len()
    )]
    MissingInSome {
        missing: Box<Error>,
        lacking: Vec<String>,
        whole: Vec<String>,
    },

    #[error("checkout would overwrite or delete local changes that are not stored by dv:\n{}", list_paths(.paths))]
    LocalChanges { paths: Vec<String> },

    #[error(
        "these files changed while the checkout ran, and were left as they are (everything else was checked \
         out):\n{}",
        list_paths(.paths)
    )]
    ChangedDuringCheckout { paths: Vec<String> },

    #[error(
        "checkout would write, replace or delete what belongs to Git (nothing was changed; --force does not change \
         that):{}{}",
        if .tracked.is_empty() { String::new() } else { format!("\n  files Git tracks:\n{}", list_paths(.tracked)) },
        if .repositories.is_empty() { String::new() } else {
            format!("\n  repositories (a folder holding .git, a bare Git repository, or a dv folder remote):\n{}", list_paths(.repositories))
        }
    )]
    GitOwned {
        tracked: Vec<String>,
        repositories: Vec<String>,
    },

    #[error(
        "{count} dataset version(s) were not pushed to '{remote}': objects they need are neither in the cache \
         nor on the remote (first: '{path}', object {missing}); everything else was pushed"
    )]
    PushIncomplete {
        remote: String,
        count: usize,
        path: String,
        missing: ObjectId,
    },

    /// `source` is the store's own error (object_store's), when one is behind the message.
    #[error("remote '{remote}': {message}")]
    Remote {
        remote: String,
        message: String,
        #[source]
        source: Option<Source>,
    },

    /// A remote failed in a way dv can explain, with the next step to take.
    #[error("remote '{remote}': {message}")]
    RemoteFailed {
        remote: String,
        message: String,
        hint: String,
        #[source]
        source: Option<Source>,
    },

    #[error("no remote is configured")]
    NoRemote,

    #[error("there is no remote named '{0}'")]
    UnknownRemote(String),

    #[error(
        "another dv process ({holder}) holds the cache lock ({}); gave up after waiting {:.1} s",
        path.display(),
        waited.as_secs_f64()
    )]
    Locked {
        path: PathBuf,
        holder: crate::lock::LockHolder,
        waited: std::time::Duration,
    },

    #[error("state database {path}: {source}")]
    Db {
        path: PathBuf,
        #[source]
        source: rusqlite::Error,
    },

    #[error("step '{name}': {message}")]
    Step { name: String, message: String },

    #[error("step '{name}' failed: {command} {status}; nothing was recorded")]
    StepFailed {
        name: String,
        command: String,
        status: String,
    },

    #[error("internal error: {0}")]
    Internal(String),
}

fn list_paths(paths: &[String]) -> String {
    let mut s = String::new();
    for p in paths.iter().take(20) {
        s.push_str("    ");
        s.push_str(&crate::paths::quoted(p));
        s.push('\n');
    }
    if paths.len() > 20 {
        s.push_str(&format!("    ... and {} more\n", paths.len() - 20));
    }
    s.trim_end().to_string()
}

impl Error {
    /// True for an I/O error saying the path does not exist (any more).
    pub fn is_not_found(&self) -> bool {
        matches!(self, Error::Io { source, .. } if source.kind() == io::ErrorKind::NotFound)
    }

    /// A stored object that does not hold what it must.
    pub fn corrupt(id: &crate::ObjectId, message: impl Into<String>) -> Error {
        Error::Corrupt {
            id: *id,
            message: message.into(),
        }
    }

    /// Wraps an I/O error with the path it happened on.
    pub fn io(path: impl Into<PathBuf>, source: io::Error) -> Error {
        Error::Io {
            path: path.into(),
            source,
        }
    }

    /// A Git error at `path`: gix's `source`, whose text is the message.
    pub fn git(
        path: impl Into<PathBuf>,
        source: impl std::error::Error + Send + Sync + 'static,
    ) -> Error {
        Error::Git {
            path: path.into(),
            message: source.to_string(),
            source: Some(Box::new(source)),
        }
    }

    /// A usage error: what the user typed is wrong (see [`Error::Usage`]).
    pub fn usage(message: impl Into<String>) -> Error {
        Error::Usage {
            message: message.into(),
        }
    }

    pub fn format(what: impl Into<String>, message: impl Into<String>) -> Error {
        Error::Format {
            what: what.into(),
            message: message.into(),
        }
    }

    /// Names the dataset path an error without one is about (a [`Error::KindMismatch`] found below the store).
    pub fn at_path(self, at: &str) -> Error {
        match self {
            Error::KindMismatch {
                path,
                id,
                declared,
                holds,
            } if path.is_empty() => Error::KindMismatch {
                path: at.to_string(),
                id,
                declared,
                holds,
            },
            other => other,
        }
    }

    /// True for errors that are dv's fault or a damaged store rather than the user's input.
    pub fn is_internal(&self) -> bool {
        matches!(
            self,
            Error::Internal(_) | Error::Db { .. } | Error::Corrupt { .. }
        )
    }
}

/// Adds a path to `io::Result`s: `fs::read(p).at(p)?`.
pub trait IoContext<T> {
    fn at(self, path: impl Into<PathBuf>) -> Result<T>;
}

impl<T> IoContext<T> for io::Result<T> {
    fn at(self, path: impl Into<PathBuf>) -> Result<T> {
        self.map_err(|e| Error::io(path, e))
    }
}
