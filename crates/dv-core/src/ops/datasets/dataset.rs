//! What was found: a `Dataset` (a data path and its pointer), a `Target` (a dataset and the part of it an
//! operation is limited to), what a version holds at a path, and the rules for a path named inside a dataset.

use std::fs;

use crate::paths::{POINTER_SUFFIX, dataset_path_problem, join};
use crate::pointer::Pointer;
use crate::repo::Repo;
use crate::store::Store;
use crate::store::object::{Node, NodeKind};
use crate::{Error, Result};

/// A tracked path and the pointer file that describes it.
#[derive(Clone, Debug)]
pub struct Dataset {
    /// Repository path of the data (the pointer's path minus `.dv`).
    pub path: String,
    pub pointer: Pointer,
    /// The revision the pointer file was read at (as the user named it), or `None` for the work tree's.
    pub rev: Option<String>,
}

impl Dataset {
    /// The dataset that the pointer file of data path `path` describes, from the file's bytes `data` (`what`
    /// names the file in errors). The one way datasets are made from pointer files, wherever they are read
    /// (work tree, revision): a pointer file planted with a name such as `..dv` would make `.` or `..` a
    /// dataset, so `path` must pass [`dataset_path_problem`], or this is an error naming the pointer file.
    pub fn from_pointer(path: &str, data: &[u8], what: &str) -> Result<Dataset> {
        if let Some(why) = dataset_path_problem(path) {
            return Err(Error::format(
                what,
                format!("a pointer file cannot describe {path:?}: {why}"),
            ));
        }
        Ok(Dataset {
            path: path.to_string(),
            pointer: Pointer::decode(data, what)?,
            rev: None,
        })
    }

    pub fn pointer_path(&self) -> String {
        format!("{}{POINTER_SUFFIX}", self.path)
    }

    /// Which version this is, for messages: "revision 'v1'", or "the version 'data.dv' names".
    pub fn version(&self) -> String {
        match &self.rev {
            Some(rev) => format!("revision '{rev}'"),
            None => format!("the version '{}' names", self.pointer_path()),
        }
    }

    /// What this version holds at `path` (a repository path at or inside the dataset's), read from the
    /// cache's trees; a tree the cache lacks is [`Error::MissingObjects`].
    pub fn node_at(&self, store: &Store, path: &str) -> Result<InVersion> {
        let Some(rest) = path
            .strip_prefix(self.path.as_str())
            .filter(|r| r.is_empty() || r.starts_with('/'))
        else {
            return Ok(InVersion::Absent);
        };
        let mut node = self.pointer.node;
        let mut at = self.path.clone();
        for name in rest.split('/').filter(|n| !n.is_empty()) {
            if node.kind != NodeKind::Tree {
                return Ok(InVersion::BelowFile(at));
            }
            if !store.contains(&node.id)? {
                return Err(Error::MissingObjects {
                    path: at,
                    count: 1,
                    first: node.id,
                });
            }
            let tree = store.read_tree(&node.id)?;
            match tree.entries.iter().find(|e| e.name == name) {
                Some(e) => node = e.node,
                None => return Ok(InVersion::Absent),
            }
            at = join(&at, name);
        }
        Ok(InVersion::Node(node))
    }
}

/// What a version holds at a path: see [`Dataset::node_at`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum InVersion {
    Node(Node),
    Absent,
    /// Nothing, since this path above it is a file in the version.
    BelowFile(String),
}

/// A dataset and, optionally, the part of it (a repository path inside it) an operation is limited to.
#[derive(Clone, Debug)]
pub struct Target {
    pub dataset: Dataset,
    pub scope: Option<String>,
    /// The dataset was named as a whole (its path or its pointer file), not found as one of every dataset or of
    /// a folder's: a checkout or pull of a dataset held in part then makes it whole (see ops/partial.rs).
    pub named: bool,
}

impl Target {
    /// The rule for a path named inside a dataset that a command writes (checkout, pull): a named path limits
    /// what may be touched. The version must hold the path, so a folder at every level above it, and the work
    /// tree must not have a file (or link) at one of those levels: checking the path out would replace that
    /// file whole, and with it more than the path named. Either is an error naming the path that is in the way,
    /// checked before anything is planned.
    pub fn check_to_write(&self, repo: &Repo, store: &Store) -> Result<()> {
        let Some(scope) = &self.scope else {
            return Ok(());
        };
        let d = &self.dataset;
        let above = match d.node_at(store, scope)? {
            InVersion::Node(_) => None,
            InVersion::Absent => Some(None),
            InVersion::BelowFile(file) => Some(Some(file)),
        };
        if let Some(above) = above {
            return Err(Error::NotInVersion {
                path: scope.clone(),
                version: d.version(),
                above,
            });
        }
        let mut at = d.path.clone();
        let rest = scope[d.path.len()..].trim_start_matches('/');
        let mut names = rest.split('/').peekable();
        loop {
            let abs = repo.abs(&at);
            match fs::symlink_metadata(&abs) {
                Ok(m) if m.is_dir() => {}
                Ok(_) => {
                    return Err(Error::BlockedByFile {
                        path: scope.clone(),
                        version: d.version(),
                        blocker: at,
                    });
                }
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::NotFound | std::io::ErrorKind::NotADirectory
                    ) =>
                {
                    return Ok(());
                }
                Err(e) => return Err(Error::io(abs, e)),
            }
            match names.next() {
                // The last name is the path itself: what is there may be replaced.
                Some(name) if names.peek().is_some() => at = join(&at, name),
                _ => return Ok(()),
            }
        }
    }

    /// The rule for a path named inside a dataset that a command compares (status): the version or the work
    /// tree must hold it, else it is an error naming it (a typo must not read as "unchanged"). A version whose
    /// trees the cache lacks cannot tell, and passes.
    pub fn check_to_compare(&self, repo: &Repo, store: &Store) -> Result<()> {
        let Some(scope) = &self.scope else {
            return Ok(());
        };
        let d = &self.dataset;
        match d.node_at(store, scope) {
            Ok(InVersion::Node(_)) | Err(Error::MissingObjects { .. }) => Ok(()),
            Ok(_) if fs::symlink_metadata(repo.abs(scope)).is_ok() => Ok(()),
            Ok(_) => Err(Error::NotInVersion {
                path: scope.clone(),
                version: format!("{} or in the work tree", d.version()),
                above: None,
            }),
            Err(e) => Err(e),
        }
    }
}

/// The rule for paths named inside a dataset by a command that reads versions rather than the work tree
/// (`fetch`, `push`, `fsck`, `du`, `show`): the version of at least one target naming the path (a history
/// scope may have several) must hold it, else it is an error naming the path, as `checkout`
/// ([`Target::check_to_write`]) and `status` ([`Target::check_to_compare`]) refuse one: a typo must never pass
/// as done. A version whose trees the cache lacks (or cannot read) cannot tell, and passes (`fetch` asks once it
/// has them).
pub fn check_named_held(targets: &[Target], store: &Store) -> Result<()> {
    let mut scopes: Vec<&str> = targets.iter().filter_map(|t| t.scope.as_deref()).collect();
    scopes.sort_unstable();
    scopes.dedup();
    'scopes: for scope in scopes {
        let mut missing = None;
        for t in targets.iter().filter(|t| t.scope.as_deref() == Some(scope)) {
            match t.dataset.node_at(store, scope) {
                // A tree the cache lacks or cannot read: the command itself reports that (fsck as damage).
                Ok(InVersion::Node(_)) | Err(_) => continue 'scopes,
                Ok(InVersion::Absent | InVersion::BelowFile(_)) => {
                    missing.get_or_insert_with(|| t.dataset.version());
                }
            }
        }
        if let Some(version) = missing {
            return Err(Error::NotInVersion {
                path: scope.to_string(),
                version,
                above: None,
            });
        }
    }
    Ok(())
}
