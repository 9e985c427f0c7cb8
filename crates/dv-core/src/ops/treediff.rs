//! Differences between two versions of a dataset, from their objects alone. Subtrees with equal ids are
//! skipped, so comparing two versions of a huge folder that differ in one file reads about the depth of the
//! tree, not the number of files.

use crate::paths::join;
use crate::store::Store;
use crate::store::object::{Node, NodeKind};
use crate::{ObjectId, Result};

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum FileChange {
    Added,
    Deleted,
    Modified,
    /// Same content under a new path.
    Renamed,
}

words! {
    /// How a whole dataset differs between two versions (`dv diff`).
    pub enum DatasetChange {
        /// Only the newer version has it.
        Added = "added",
        /// Only the older version has it.
        Deleted = "deleted",
        Modified = "modified",
        Unchanged = "unchanged",
    }
}

#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct FileDiff {
    pub path: String,
    pub change: FileChange,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub old_path: Option<String>,
    pub old_size: Option<u64>,
    pub new_size: Option<u64>,
}

/// Counts and bytes of a diff.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct Summary {
    pub files_added: u64,
    pub files_deleted: u64,
    pub files_modified: u64,
    pub files_renamed: u64,
    pub bytes_added: u64,
    pub bytes_deleted: u64,
}

#[derive(Default)]
pub struct TreeDiff {
    pub files: Vec<FileDiff>,
    /// Tree objects the cache lacks; what is below them was not compared.
    pub missing: Vec<ObjectId>,
    /// Tree objects read: about the depth of the change times two, not the size of the folder.
    pub trees_read: u64,
}

impl TreeDiff {
    pub fn summary(&self) -> Summary {
        let mut s = Summary::default();
        for f in &self.files {
            match f.change {
                FileChange::Added => {
                    s.files_added += 1;
                    s.bytes_added += f.new_size.unwrap_or(0);
                }
                FileChange::Deleted => {
                    s.files_deleted += 1;
                    s.bytes_deleted += f.old_size.unwrap_or(0);
                }
                FileChange::Modified => {
                    s.files_modified += 1;
                    let (old, new) = (f.old_size.unwrap_or(0), f.new_size.unwrap_or(0));
                    s.bytes_added += new.saturating_sub(old);
                    s.bytes_deleted += old.saturating_sub(new);
                }
                FileChange::Renamed => s.files_renamed += 1,
            }
        }
        s
    }
}

/// Compares version `a` with version `b` of the data at `path` (either may be absent).
pub fn diff(store: &Store, path: &str, a: Option<&Node>, b: Option<&Node>) -> Result<TreeDiff> {
    let mut out = TreeDiff::default();
    let mut added = Vec::new();
    let mut deleted = Vec::new();
    walk(store, path, a, b, &mut out, &mut added, &mut deleted)?;
    // Pair deleted and added files with the same content: renames.
    let mut by_content: std::collections::HashMap<(NodeKind, ObjectId), Vec<(String, u64)>> =
        Default::default();
    for (p, n) in deleted {
        by_content
            .entry((n.kind, n.id))
            .or_default()
            .push((p, n.size));
    }
    let mut still_added = Vec::new();
    for (p, n) in added {
        match by_content.get_mut(&(n.kind, n.id)).and_then(|v| v.pop()) {
            Some((old, size)) => out.files.push(FileDiff {
                path: p,
                change: FileChange::Renamed,
                old_path: Some(old),
                old_size: Some(size),
                new_size: Some(n.size),
            }),
            None => still_added.push((p, n)),
        }
    }
    for (p, n) in still_added {
        out.files.push(FileDiff {
            path: p,
            change: FileChange::Added,
            old_path: None,
            old_size: None,
            new_size: Some(n.size),
        });
    }
    for (_, left) in by_content {
        for (p, size) in left {
            out.files.push(FileDiff {
                path: p,
                change: FileChange::Deleted,
                old_path: None,
                old_size: Some(size),
                new_size: None,
            });
        }
    }
    out.files
        .sort_by(|x, y| x.path.cmp(&y.path).then(x.change.cmp(&y.change)));
    Ok(out)
}

fn walk(
    store: &Store,
    path: &str,
    a: Option<&Node>,
    b: Option<&Node>,
    out: &mut TreeDiff,
    added: &mut Vec<(String, Node)>,
    deleted: &mut Vec<(String, Node)>,
) -> Result<()> {
    match (a, b) {
        (None, None) => Ok(()),
        (Some(x), Some(y)) if x == y => Ok(()),
        (Some(x), Some(y)) if x.kind == NodeKind::Tree && y.kind == NodeKind::Tree => {
            let (Some(ta), Some(tb)) = (load(store, x, out)?, load(store, y, out)?) else {
                return Ok(());
            };
            let (mut i, mut j) = (0, 0);
            while i < ta.entries.len() || j < tb.entries.len() {
                let ea = ta.entries.get(i);
                let eb = tb.entries.get(j);
                let ord = match (ea, eb) {
                    (Some(p), Some(q)) => p.name.as_bytes().cmp(q.name.as_bytes()),
                    (Some(_), None) => std::cmp::Ordering::Less,
                    (None, _) => std::cmp::Ordering::Greater,
                };
                match ord {
                    std::cmp::Ordering::Less => {
                        let e = ea.expect("entry");
                        walk(
                            store,
                            &join(path, &e.name),
                            Some(&e.node),
                            None,
                            out,
                            added,
                            deleted,
                        )?;
                        i += 1;
                    }
                    std::cmp::Ordering::Greater => {
                        let e = eb.expect("entry");
                        walk(
                            store,
                            &join(path, &e.name),
                            None,
                            Some(&e.node),
                            out,
                            added,
                            deleted,
                        )?;
                        j += 1;
                    }
                    std::cmp::Ordering::Equal => {
                        let (p, q) = (ea.expect("entry"), eb.expect("entry"));
                        walk(
                            store,
                            &join(path, &p.name),
                            Some(&p.node),
                            Some(&q.node),
                            out,
                            added,
                            deleted,
                        )?;
                        i += 1;
                        j += 1;
                    }
                }
            }
            Ok(())
        }
        (Some(x), Some(y)) if x.kind.is_file() && y.kind.is_file() => {
            if same_chunks(store, x, y)? {
                return Ok(());
            }
            out.files.push(FileDiff {
                path: path.to_string(),
                change: FileChange::Modified,
                old_path: None,
                old_size: Some(x.size),
                new_size: Some(y.size),
            });
            Ok(())
        }
        (a, b) => {
            // One side is absent, or a file became a folder (or the reverse): all of one goes, all of the other comes.
            if let Some(x) = a {
                leaves(store, path, x, out, deleted)?;
            }
            if let Some(y) = b {
                leaves(store, path, y, out, added)?;
            }
            Ok(())
        }
    }
}

/// Whether two file nodes with different ids hold the same bytes: a large file has one id in each layout
/// (a flat manifest's or a split one's), so across a `dv format upgrade` the chunk lists are compared. False
/// when either manifest is not in the cache (nothing tells then).
fn same_chunks(store: &Store, x: &Node, y: &Node) -> Result<bool> {
    if x.kind != NodeKind::Chunked
        || y.kind != NodeKind::Chunked
        || x.size != y.size
        || x.exec != y.exec
        || !store.contains(&x.id)?
        || !store.contains(&y.id)?
    {
        return Ok(false);
    }
    Ok(store.read_manifest(&x.id)?.chunks == store.read_manifest(&y.id)?.chunks)
}

fn load(
    store: &Store,
    node: &Node,
    out: &mut TreeDiff,
) -> Result<Option<crate::store::object::Tree>> {
    if !store.contains(&node.id)? {
        out.missing.push(node.id);
        return Ok(None);
    }
    out.trees_read += 1;
    store.read_tree(&node.id).map(Some)
}

/// Every file at or below `node`.
fn leaves(
    store: &Store,
    path: &str,
    node: &Node,
    out: &mut TreeDiff,
    into: &mut Vec<(String, Node)>,
) -> Result<()> {
    if node.kind.is_file() {
        into.push((path.to_string(), *node));
        return Ok(());
    }
    if let Some(tree) = load(store, node, out)? {
        for e in &tree.entries {
            leaves(store, &join(path, &e.name), &e.node, out, into)?;
        }
    }
    Ok(())
}
