//! `dv ls`: the files of a dataset version, or the datasets of a repository, with sizes and ids, read from
//! pointer files and tree objects only: no file data, no manifest, and only the trees the listing needs
//! (fetched by ranged reads from the source's remote when the cache lacks them, and kept).

use super::datasets::{InVersion, Source, Target, check_named_held, resolve_targets};
use crate::paths::join;
use crate::progress::{Progress, Unit};
use crate::remote::Remote;
use crate::session::Locked;
use crate::store::object::{Node, NodeKind};
use crate::{Error, Result};

words! {
    /// What an entry of a listing is.
    pub enum EntryKind {
        /// A tracked file (or a file inside a tracked folder).
        File = "file",
        /// A folder inside a tracked folder.
        Folder = "folder",
        /// A dataset, listed whole (a repository's or a folder's datasets).
        Dataset = "dataset",
    }
}

/// One entry of a listing.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Entry {
    /// Repository path.
    pub path: String,
    pub kind: EntryKind,
    /// Bytes (of every file below, for a folder or a dataset).
    pub size: u64,
    /// Files (1 for a file).
    pub files: u64,
    /// The content id (a file's, a folder's tree, a dataset's root), hex.
    pub id: String,
    /// A file's executable bit.
    pub exec: bool,
}

/// What `dv ls` found, and what it fetched to find it.
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct Listing {
    pub entries: Vec<Entry>,
    /// Tree objects fetched from the remote (0 when the cache had every one needed).
    pub fetched_objects: u64,
    pub fetched_bytes: u64,
}

fn entry(path: String, n: &Node, kind: EntryKind) -> Entry {
    Entry {
        path,
        kind,
        size: n.size,
        files: if n.kind == NodeKind::Tree { n.files } else { 1 },
        id: n.id.to_hex(),
        exec: n.exec,
    }
}

/// Lists `path` (a repository path; `""`: the whole repository) in the datasets `source` holds: a folder with
/// datasets below it lists them (with `recursive`, every file of each); a dataset or a path inside one lists
/// what is there (a folder's entries, or with `recursive` every file below). `remote` opens the remote trees
/// come from, called only when the cache lacks one.
pub fn ls(
    s: &Locked<'_>,
    source: &Source<'_>,
    path: &str,
    recursive: bool,
    remote: &dyn Fn() -> Result<Remote>,
    progress: &dyn Progress,
) -> Result<Listing> {
    let repo = s.repo();
    let paths: Vec<String> = if path.is_empty() {
        Vec::new()
    } else {
        vec![path.to_string()]
    };
    let targets = resolve_targets(repo, source, &paths)?;
    let mut listing = Listing::default();
    // Datasets found under a folder are listed whole unless every file is asked for.
    let (whole, inside): (Vec<&Target>, Vec<&Target>) = targets
        .iter()
        .partition(|t| !recursive && !t.named && t.scope.is_none());
    for t in whole {
        listing.entries.push(entry(
            t.dataset.path.clone(),
            &t.dataset.pointer.node,
            EntryKind::Dataset,
        ));
    }
    let inside: Vec<Target> = inside.into_iter().cloned().collect();
    if inside.is_empty() {
        return Ok(listing);
    }
    let entries = match list_inside(s, &inside, recursive) {
        Err(Error::MissingObjects { .. }) => {
            let remote = remote()?;
            progress.start("Fetching trees", None, Unit::Bytes);
            let fetched = (|| {
                let mut fetch = super::transfer::Fetch::new(s.store(), &remote, &inside)?;
                let result = fetch.trees(recursive, progress);
                fetch.finish(result)
            })();
            progress.finish();
            let report = fetched?;
            listing.fetched_objects = report.objects;
            listing.fetched_bytes = report.bytes;
            check_named_held(&inside, s.store())?;
            list_inside(s, &inside, recursive)?
        }
        other => other?,
    };
    listing.entries.extend(entries);
    Ok(listing)
}

/// The entries of each target's scope (or root), from the cache.
fn list_inside(s: &Locked<'_>, targets: &[Target], recursive: bool) -> Result<Vec<Entry>> {
    let store = s.store();
    let mut out = Vec::new();
    for t in targets {
        let at = t.scope.clone().unwrap_or_else(|| t.dataset.path.clone());
        let node = match t.dataset.node_at(store, &at)? {
            InVersion::Node(n) => n,
            InVersion::Absent | InVersion::BelowFile(_) => {
                return Err(Error::NotInVersion {
                    path: at,
                    version: t.dataset.version(),
                    above: None,
                });
            }
        };
        if node.kind != NodeKind::Tree {
            out.push(entry(at, &node, EntryKind::File));
            continue;
        }
        let start = out.len();
        let mut folders = vec![(at, node)];
        while let Some((dir, n)) = folders.pop() {
            if !store.contains(&n.id)? {
                return Err(Error::MissingObjects {
                    path: dir,
                    count: 1,
                    first: n.id,
                });
            }
            let tree = store.read_tree(&n.id)?;
            let mut below = Vec::new();
            for e in tree.entries {
                let p = join(&dir, &e.name);
                match (e.node.kind, recursive) {
                    (NodeKind::Tree, true) => below.push((p, e.node)),
                    (NodeKind::Tree, false) => out.push(entry(p, &e.node, EntryKind::Folder)),
                    _ => out.push(entry(p, &e.node, EntryKind::File)),
                }
            }
            folders.extend(below);
        }
        out[start..].sort_by(|a, b| a.path.cmp(&b.path));
    }
    Ok(out)
}
