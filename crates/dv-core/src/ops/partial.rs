//! Datasets held in part. `dv pull data/part1` (or `dv checkout data/part1`) in a work tree that lacks `data`
//! materializes only that part: the rest of the folder is absent on purpose, not deleted. The state database
//! records, per dataset, the parts this work tree holds (its `partial` table), and:
//! - `status` reports no absent path outside them;
//! - `add` keeps the pointer's node for each absent path outside them: nothing is fetched and nothing dropped;
//! - `checkout` and `pull` without paths stand for those parts only; naming the dataset itself (its path or
//!   pointer file) makes it whole again, and clears the record.
//!
//! A path is absent on purpose when it is outside every recorded part and no recorded part is inside it; a
//! recorded part the work tree lacks is deleted, as anywhere in a dataset held whole.

use std::collections::{BTreeMap, BTreeSet};

use crate::ops::datasets::{InVersion, Target};
use crate::ops::walk::{Child, Walk, WalkDir};
use crate::paths::{is_within, join};
use crate::repo::Repo;
use crate::store::Store;
use crate::store::object::{Node, NodeKind};
use crate::{Error, Result};

/// True when `path` is absent on purpose in a dataset held in the parts `scopes` (none: held whole).
pub fn absent_on_purpose(scopes: &[String], path: &str) -> bool {
    !scopes.is_empty()
        && scopes
            .iter()
            .all(|s| !is_within(path, s) && !is_within(s, path))
}

/// What a checkout or pull makes of the record, per dataset: `None` held whole, else the parts held.
#[derive(Debug, Default)]
pub struct Updates(BTreeMap<String, Option<BTreeSet<String>>>);

/// Prepares a checkout or pull of `targets`: a dataset held in part and taken as one of every dataset (not
/// named) stands for the parts held (those its version still has); a path named inside a dataset the work tree
/// lacks, or holds in part, becomes a part held. Returns the targets to work on and the record to write.
pub fn expand(repo: &Repo, store: &Store, targets: &[Target]) -> Result<(Vec<Target>, Updates)> {
    let db = store.state_db();
    let mut out = Vec::with_capacity(targets.len());
    let mut updates = Updates::default();
    for t in targets {
        let d = &t.dataset.path;
        let held = db.partial_scopes(d)?;
        match (&t.scope, t.named) {
            (None, true) => {
                if !held.is_empty() {
                    updates.0.insert(d.clone(), None);
                }
                out.push(t.clone());
            }
            (None, false) if !held.is_empty() => {
                for scope in held {
                    // A part the version no longer has is not asked for (its trees may be still to fetch).
                    if matches!(
                        t.dataset.node_at(store, &scope),
                        Ok(InVersion::Absent | InVersion::BelowFile(_))
                    ) {
                        continue;
                    }
                    out.push(Target {
                        scope: Some(scope),
                        ..t.clone()
                    });
                }
            }
            (None, false) => out.push(t.clone()),
            (Some(scope), _) => {
                let absent = match std::fs::symlink_metadata(repo.abs(d)) {
                    Ok(_) => false,
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => true,
                    Err(e) => return Err(Error::io(repo.abs(d), e)),
                };
                if absent || !held.is_empty() {
                    let entry = updates
                        .0
                        .entry(d.clone())
                        .or_insert_with(|| Some(held.iter().cloned().collect()));
                    if let Some(parts) = entry {
                        parts.insert(scope.clone());
                    }
                }
                out.push(t.clone());
            }
        }
    }
    Ok((out, updates))
}

impl Updates {
    /// Records the parts held before the checkout writes, so that an interrupted one leaves what it did not
    /// write absent on purpose rather than deleted.
    pub fn record_parts(&self, store: &Store) -> Result<()> {
        for (dataset, parts) in &self.0 {
            if let Some(parts) = parts {
                store
                    .state_db()
                    .set_partial_scopes(dataset, &normalize(dataset, parts))?;
            }
        }
        Ok(())
    }

    /// Records the datasets made whole, once the checkout has written them.
    pub fn record_whole(&self, store: &Store) -> Result<()> {
        for (dataset, parts) in &self.0 {
            if parts.is_none() {
                store.state_db().set_partial_scopes(dataset, &[])?;
            }
        }
        Ok(())
    }
}

/// The parts, less those inside another; none when one is the dataset itself.
fn normalize(dataset: &str, parts: &BTreeSet<String>) -> Vec<String> {
    if parts.iter().any(|p| p == dataset) {
        return Vec::new();
    }
    parts
        .iter()
        .filter(|p| !parts.iter().any(|q| q != *p && is_within(p, q)))
        .cloned()
        .collect()
}

/// Adds to `walk` (of the dataset whose pointer names `want`) the pointer's node for each path absent on
/// purpose, so that `dv add` keeps as they were the parts this work tree does not hold. Returns how many
/// nodes it kept. The trees on the way must be in the cache (they are, after a pull of any part).
pub fn keep_absent(store: &Store, walk: &mut Walk, want: &Node, scopes: &[String]) -> Result<u64> {
    let mut kept = 0;
    graft(store, walk, 0, want, scopes, &mut kept)?;
    Ok(kept)
}

fn graft(
    store: &Store,
    walk: &mut Walk,
    dir: usize,
    want: &Node,
    scopes: &[String],
    kept: &mut u64,
) -> Result<()> {
    if want.kind != NodeKind::Tree {
        return Ok(());
    }
    let path = walk.dirs[dir].path.clone();
    let tree = store.read_tree(&want.id).map_err(|e| e.at_path(&path))?;
    let found = std::mem::take(&mut walk.dirs[dir].entries);
    let mut merged = Vec::with_capacity(found.len().max(tree.entries.len()));
    let mut below: Vec<(usize, Node)> = Vec::new();
    let mut old = tree.entries.into_iter().peekable();
    for (name, child) in found {
        while let Some(e) = old.next_if(|e| e.name.as_bytes() < name.as_bytes()) {
            absent(
                store,
                walk,
                &path,
                e.name,
                e.node,
                scopes,
                kept,
                &mut merged,
            )?;
        }
        if let Some(e) = old.next_if(|e| e.name == name)
            && let Child::Dir(d) = child
        {
            below.push((d, e.node));
        }
        merged.push((name, child));
    }
    for e in old {
        absent(
            store,
            walk,
            &path,
            e.name,
            e.node,
            scopes,
            kept,
            &mut merged,
        )?;
    }
    walk.dirs[dir].entries = merged;
    for (d, node) in below {
        graft(store, walk, d, &node, scopes, kept)?;
    }
    Ok(())
}

/// An entry of the pointer's tree that the work tree lacks: kept when absent on purpose; a folder holding a
/// part held is entered (the part was deleted, what is around it was never here).
#[allow(clippy::too_many_arguments)]
fn absent(
    store: &Store,
    walk: &mut Walk,
    dir: &str,
    name: String,
    node: Node,
    scopes: &[String],
    kept: &mut u64,
    merged: &mut Vec<(String, Child)>,
) -> Result<()> {
    let path = join(dir, &name);
    if absent_on_purpose(scopes, &path) {
        *kept += 1;
        merged.push((name, Child::Kept(node)));
    } else if node.kind == NodeKind::Tree
        && scopes.iter().any(|s| s != &path && is_within(s, &path))
    {
        let d = walk.dirs.len();
        walk.dirs.push(WalkDir {
            path,
            entries: Vec::new(),
            only_kept: true,
        });
        merged.push((name, Child::Dir(d)));
        graft(store, walk, d, &node, scopes, kept)?;
    }
    Ok(())
}
