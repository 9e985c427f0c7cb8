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
    /// A folder (a folder entry, or a dataset that is a folder).
    pub folder: bool,
    /// The content id (a file's, a folder's tree, a dataset's root), hex.
    pub id: String,
    /// A file's executable bit.
    pub exec: bool,
}

/// What `dv ls` fetched to list what it found (the entries go to the caller one by one).
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct Listing {
    /// Entries listed.
    #[serde(skip)]
    pub entries: u64,
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
        folder: n.kind == NodeKind::Tree,
        id: n.id.to_hex(),
        exec: n.exec,
    }
}

/// Lists `path` (a repository path; `""`: the whole repository) in the datasets `source` holds, handing each
/// entry to `emit` as it is found: a folder with datasets below it lists them (with `recursive`, every file of
/// each); a dataset or a path inside one lists what is there (a folder's entries, or with `recursive` every
/// file below, depth first in name order). Every tree the listing needs is made sure of first (fetched from
/// `remote`, opened only when the cache lacks one); then the listing streams, holding one tree per level, so
/// memory does not grow with what it lists (a hostile version repeating one folder at every level lists
/// forever rather than filling memory).
pub fn ls(
    s: &Locked<'_>,
    source: &Source<'_>,
    path: &str,
    recursive: bool,
    remote: &dyn Fn() -> Result<Remote>,
    progress: &dyn Progress,
    emit: &mut dyn FnMut(Entry) -> Result<()>,
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
    let inside: Vec<Target> = inside.into_iter().cloned().collect();
    if !inside.is_empty() && !trees_held(s, &inside, recursive)? {
        let remote = remote()?;
        progress.start("Fetching trees", None, Unit::Bytes);
        let fetched = (|| {
            super::transfer::fetch_imports_of(
                s,
                Some(&remote),
                &inside,
                Some(recursive),
                progress,
            )?;
            let mut fetch = super::transfer::Fetch::new(s.store(), &remote, &inside)?;
            let result = fetch.trees(recursive, progress);
            fetch.finish(result)
        })();
        progress.finish();
        let report = fetched?;
        listing.fetched_objects = report.objects;
        listing.fetched_bytes = report.bytes;
        check_named_held(&inside, s.store())?;
    }
    for t in whole {
        listing.entries += 1;
        emit(entry(
            t.dataset.path.clone(),
            &t.dataset.pointer.node,
            EntryKind::Dataset,
        ))?;
    }
    for t in &inside {
        list_one(s, t, recursive, &mut |e| {
            listing.entries += 1;
            emit(e)
        })?;
    }
    Ok(listing)
}

/// Whether the cache holds every tree listing the targets needs (each tree read once, however often a
/// version repeats it).
fn trees_held(s: &Locked<'_>, targets: &[Target], recursive: bool) -> Result<bool> {
    let store = s.store();
    let mut seen = std::collections::HashSet::new();
    for t in targets {
        let at = t.scope.clone().unwrap_or_else(|| t.dataset.path.clone());
        let node = match t.dataset.node_at(store, &at) {
            Ok(InVersion::Node(n)) => n,
            // Said by the listing itself, once the trees are in.
            Ok(_) => continue,
            Err(Error::MissingObjects { .. }) => return Ok(false),
            Err(e) => return Err(e),
        };
        let mut folders = vec![node];
        while let Some(n) = folders.pop() {
            if n.kind != NodeKind::Tree || !seen.insert(n.id) {
                continue;
            }
            if !store.contains(&n.id)? {
                return Ok(false);
            }
            let tree = match store.read_tree(&n.id) {
                Ok(t) => t,
                Err(Error::MissingObjects { .. }) => return Ok(false),
                Err(e) => return Err(e),
            };
            if recursive {
                folders.extend(tree.entries.into_iter().map(|e| e.node));
            }
        }
    }
    Ok(true)
}

/// Lists one target's scope (or root) from the cache.
fn list_one(
    s: &Locked<'_>,
    t: &Target,
    recursive: bool,
    emit: &mut dyn FnMut(Entry) -> Result<()>,
) -> Result<()> {
    let store = s.store();
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
        return emit(entry(at, &node, EntryKind::File));
    }
    // Depth first: a stack of folders, each with the entries still to list (reversed, so `pop` takes them in
    // name order).
    let read = |dir: &str, n: &Node| -> Result<Vec<crate::store::object::TreeEntry>> {
        if !store.contains(&n.id)? {
            return Err(Error::MissingObjects {
                path: dir.to_string(),
                count: 1,
                first: n.id,
            });
        }
        let mut entries = store.read_tree(&n.id)?.entries;
        entries.reverse();
        Ok(entries)
    };
    let mut stack = vec![(at.clone(), read(&at, &node)?)];
    while let Some((dir, entries)) = stack.last_mut() {
        let Some(e) = entries.pop() else {
            stack.pop();
            continue;
        };
        let p = join(dir, &e.name);
        match (e.node.kind, recursive) {
            (NodeKind::Tree, true) => {
                let below = read(&p, &e.node)?;
                stack.push((p, below));
            }
            (NodeKind::Tree, false) => emit(entry(p, &e.node, EntryKind::Folder))?,
            _ => emit(entry(p, &e.node, EntryKind::File))?,
        }
    }
    Ok(())
}
