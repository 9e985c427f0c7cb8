//! `dv log`: the commits that changed a dataset's pointer file, newest first, with what changed each time.

use std::collections::HashMap;

use super::treediff::{self, Summary};
use crate::Result;
use crate::git::{Commit, CommitInfo, GitRepo};
use crate::paths::POINTER_SUFFIX;
use crate::pointer::Pointer;
use crate::store::Store;
use crate::store::object::Node;

#[derive(Clone, Debug, serde::Serialize)]
pub struct Version {
    pub commit: CommitInfo,
    /// "added", "modified" or "deleted".
    pub state: &'static str,
    pub kind: Option<&'static str>,
    pub size: Option<u64>,
    pub files: Option<u64>,
    /// Against the previous (older) version; absent when the cache lacks the objects to tell.
    pub changes: Option<Summary>,
}

#[derive(Clone, Debug, serde::Serialize)]
pub struct DatasetLog {
    pub path: String,
    pub versions: Vec<Version>,
}

/// The versions of each dataset path in the history of `start`.
pub fn log(
    git: &GitRepo,
    store: &Store,
    start: &Commit,
    paths: &[String],
) -> Result<Vec<DatasetLog>> {
    let history = git.history(start)?;
    let mut out = Vec::new();
    for path in paths {
        let pointer_path = format!("{path}{POINTER_SUFFIX}");
        let mut at: HashMap<gix::ObjectId, Option<gix::ObjectId>> = HashMap::new();
        let mut blob_at = |id: gix::ObjectId| -> Result<Option<gix::ObjectId>> {
            if let Some(b) = at.get(&id) {
                return Ok(*b);
            }
            let b = git.blob_id_at(id, &pointer_path)?;
            at.insert(id, b);
            Ok(b)
        };
        // Commits whose pointer differs from every parent's (as `git log -- PATH` selects them).
        // (commit, its pointer blob, the first parent's pointer blob)
        let mut touched: Vec<(gix::ObjectId, Option<gix::ObjectId>, Option<gix::ObjectId>)> =
            Vec::new();
        for (id, parents) in &history {
            let mine = blob_at(*id)?;
            let changed = if parents.is_empty() {
                mine.is_some()
            } else {
                let mut all_differ = true;
                for p in parents {
                    if blob_at(*p)? == mine {
                        all_differ = false;
                        break;
                    }
                }
                all_differ
            };
            if changed {
                let before = match parents.first() {
                    Some(p) => blob_at(*p)?,
                    None => None,
                };
                touched.push((*id, mine, before));
            }
        }
        let mut nodes: HashMap<gix::ObjectId, Node> = HashMap::new();
        let mut node_of = |blob: gix::ObjectId| -> Result<Node> {
            if let Some(n) = nodes.get(&blob) {
                return Ok(*n);
            }
            let n = Pointer::decode(&git.blob(blob)?, &pointer_path)?.node;
            nodes.insert(blob, n);
            Ok(n)
        };
        let mut versions = Vec::with_capacity(touched.len());
        for (id, blob, before) in &touched {
            let node = blob.map(&mut node_of).transpose()?;
            let older = before.map(&mut node_of).transpose()?;
            let state = match (&older, &node) {
                (_, None) => "deleted",
                (None, Some(_)) => "added",
                _ => "modified",
            };
            let diff = treediff::diff(store, path, older.as_ref(), node.as_ref())?;
            versions.push(Version {
                commit: git.commit_info(*id)?,
                state,
                kind: node.map(|n| n.kind.name()),
                size: node.map(|n| n.size),
                files: node.map(|n| n.files),
                changes: diff.missing.is_empty().then(|| diff.summary()),
            });
        }
        out.push(DatasetLog {
            path: path.clone(),
            versions,
        });
    }
    Ok(out)
}
