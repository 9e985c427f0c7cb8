//! Datasets held in part. `dv pull data/part1` (or `dv checkout data/part1`) in a work tree that lacks `data`
//! materializes only that part: the rest of the folder is absent on purpose, not deleted. The state database
//! records, per dataset, the parts this work tree holds (its `partial` table), and:
//! - `status` reports no absent path outside them;
//! - `add` keeps the pointer's node for each absent path outside them (nothing is fetched, nothing dropped), and
//!   what the user wrote outside them becomes held;
//! - `checkout` and `pull` without paths compare the whole dataset but leave absent what is outside the parts
//!   (so a part the new version renames or deletes goes, as in a dataset held whole); naming the dataset itself
//!   (its path or pointer file) makes it whole again, and clears the record.
//!
//! A path is absent on purpose when it is outside every part held and no part held is inside it. A part is
//! recorded as begun before its checkout writes anything and as held once it has finished: what an interrupted
//! checkout left out of a part is still to come, not deleted (status and add take it as absent on purpose; the
//! next checkout or pull brings it). The same holds for any checkout that began writing and did not finish,
//! of a dataset held whole too: until one finishes, nothing the work tree lacks is taken for deleted.

use std::collections::{BTreeMap, BTreeSet};

use crate::ops::datasets::{InVersion, Target};
use crate::ops::walk::{Child, Walk, WalkDir};
use crate::paths::{is_within, join};
use crate::repo::Repo;
use crate::store::Store;
use crate::store::object::{Node, NodeKind};
use crate::{Error, Result};

/// The parts held of a dataset: `None` when it is held whole.
pub type Held = Option<Vec<String>>;

/// The parts `status` and `add` take as held: those whose checkout finished. (A checkout of the whole dataset
/// that did not finish is no reason to take anything as absent on purpose: status says it did not finish and
/// shows what is missing; add refuses such a dataset unless asked, see `ops::add`.)
pub fn held(store: &Store, dataset: &str) -> Result<Held> {
    let parts = store.state_db().partial_parts(dataset)?;
    Ok((!parts.is_empty()).then(|| {
        parts
            .into_iter()
            .filter(|(_, done)| *done)
            .map(|(p, _)| p)
            .collect()
    }))
}

/// The parts a checkout or pull without paths brings: every part recorded, finished or not.
pub fn to_bring(store: &Store, dataset: &str) -> Result<Held> {
    let parts = store.state_db().partial_parts(dataset)?;
    Ok((!parts.is_empty()).then(|| parts.into_iter().map(|(p, _)| p).collect()))
}

/// True when `path`, absent from the work tree, is absent on purpose in a dataset held as `held` says.
pub fn absent_on_purpose(held: Option<&[String]>, path: &str) -> bool {
    held.is_some_and(|h| h.iter().all(|s| !is_within(path, s) && !is_within(s, path)))
}

/// True when a part held lies strictly below `path`.
pub fn holds_below(held: &[String], path: &str) -> bool {
    held.iter().any(|s| s != path && is_within(s, path))
}

/// The targets a pull fetches: a dataset held in part and not named stands for its parts (those its version
/// still has, as far as the cache can tell before the fetch).
pub fn fetch_targets(store: &Store, targets: &[Target]) -> Result<Vec<Target>> {
    let mut out = Vec::with_capacity(targets.len());
    for t in targets {
        let parts = match (&t.scope, t.named) {
            (None, false) => to_bring(store, &t.dataset.path)?,
            _ => None,
        };
        let Some(parts) = parts else {
            out.push(t.clone());
            continue;
        };
        for scope in parts {
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
    Ok(out)
}

/// What a checkout or pull of some targets does to the record (see [`updates`]).
#[derive(Debug, Default)]
pub struct Updates {
    /// Parts named, per dataset, in a dataset the work tree lacks or holds in part.
    begun: BTreeMap<String, BTreeSet<String>>,
    /// Datasets held in part and checked out without paths: every part recorded is brought.
    brought: BTreeSet<String>,
    /// Datasets named whole.
    whole: BTreeSet<String>,
}

/// Decides, before a checkout or pull of `targets` touches the work tree, what it makes of the record.
pub fn updates(repo: &Repo, store: &Store, targets: &[Target]) -> Result<Updates> {
    let mut u = Updates::default();
    for t in targets {
        let d = &t.dataset.path;
        let partial = !store.state_db().partial_parts(d)?.is_empty();
        match &t.scope {
            None if t.named => {
                if partial {
                    u.whole.insert(d.clone());
                }
            }
            None => {
                if partial {
                    u.brought.insert(d.clone());
                }
            }
            Some(scope) => {
                let absent = match std::fs::symlink_metadata(repo.abs(d)) {
                    Ok(_) => false,
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => true,
                    Err(e) => return Err(Error::io(repo.abs(d), e)),
                };
                if absent || partial {
                    u.begun.entry(d.clone()).or_default().insert(scope.clone());
                }
            }
        }
    }
    Ok(u)
}

impl Updates {
    /// Records the parts begun, and the datasets named whole as whole, before the checkout writes anything
    /// (the checkout itself records that it has begun: see `checkout::Prepared::apply`).
    pub fn before(&self, store: &Store) -> Result<()> {
        let db = store.state_db();
        for dataset in &self.whole {
            db.drop_partial_parts(dataset, |_| false)?;
        }
        for (dataset, parts) in &self.begun {
            let known: BTreeSet<String> = db
                .partial_parts(dataset)?
                .into_iter()
                .map(|(p, _)| p)
                .collect();
            let new: Vec<String> = parts.difference(&known).cloned().collect();
            db.put_partial_parts(dataset, &new, false)?;
        }
        Ok(())
    }

    /// Records what the checkout, now finished, did: parts held, datasets whole.
    pub fn after(&self, store: &Store) -> Result<()> {
        let db = store.state_db();
        for dataset in &self.brought {
            let all: Vec<String> = db
                .partial_parts(dataset)?
                .into_iter()
                .map(|(p, _)| p)
                .collect();
            db.put_partial_parts(dataset, &all, true)?;
        }
        for (dataset, parts) in &self.begun {
            let parts: Vec<String> = parts.iter().cloned().collect();
            db.put_partial_parts(dataset, &parts, true)?;
            tidy(store, dataset)?;
        }
        for dataset in &self.whole {
            db.drop_partial_parts(dataset, |_| false)?;
        }
        Ok(())
    }
}

/// Forgets the parts inside another part held; all of them when the dataset itself is one.
fn tidy(store: &Store, dataset: &str) -> Result<()> {
    let db = store.state_db();
    let parts = db.partial_parts(dataset)?;
    let whole = parts.iter().any(|(p, done)| *done && p == dataset);
    db.drop_partial_parts(dataset, |s| {
        !whole
            && !parts
                .iter()
                .any(|(q, done)| *done && q != s && is_within(s, q))
    })
}

/// Records as held the paths `add` found outside the parts held (see [`keep_absent`]).
pub fn hold(store: &Store, dataset: &str, paths: &[String]) -> Result<()> {
    if paths.is_empty() {
        return Ok(());
    }
    store.state_db().put_partial_parts(dataset, paths, true)?;
    tidy(store, dataset)
}

/// What [`keep_absent`] kept and found.
#[derive(Debug, Default)]
pub struct Kept {
    /// Nodes kept as the pointer has them.
    pub nodes: u64,
    /// Paths the work tree has outside the parts held (written there by the user): held from now on.
    pub newly_held: Vec<String>,
}

/// Adds to `walk` (of the dataset whose pointer names `want`, held in the parts `held`) the pointer's node for
/// each path absent on purpose, so that `dv add` keeps as they were the parts this work tree does not hold, and
/// finds what the work tree has outside the parts held. The trees of the folders on the way must be in the
/// cache (they are, after a pull of any part); one that is not is an error naming the folder.
pub fn keep_absent(store: &Store, walk: &mut Walk, want: &Node, held: &[String]) -> Result<Kept> {
    let mut kept = Kept::default();
    graft(store, walk, 0, want, held, &mut kept)?;
    Ok(kept)
}

fn graft(
    store: &Store,
    walk: &mut Walk,
    dir: usize,
    want: &Node,
    held: &[String],
    kept: &mut Kept,
) -> Result<()> {
    if want.kind != NodeKind::Tree {
        return Ok(());
    }
    let path = walk.dirs[dir].path.clone();
    let tree = store.read_tree(&want.id).map_err(|e| match e {
        Error::MissingObjects { .. } => Error::CannotAdd {
            path: path.clone(),
            reason: format!(
                "this work tree holds only part of it, and the cache lacks its listing to keep the rest: \
                 `dv fetch {path}` first (it changes no working file), or take out what was written there"
            ),
        },
        e => e.at_path(&path),
    })?;
    let found = std::mem::take(&mut walk.dirs[dir].entries);
    let mut merged = Vec::with_capacity(found.len().max(tree.entries.len()));
    let mut below: Vec<(usize, Node)> = Vec::new();
    let mut old = tree.entries.into_iter().peekable();
    for (name, child) in found {
        while let Some(e) = old.next_if(|e| e.name.as_bytes() < name.as_bytes()) {
            absent(store, walk, &path, e.name, e.node, held, kept, &mut merged)?;
        }
        let p = join(&path, &name);
        let was = old.next_if(|e| e.name == name);
        if !held.iter().any(|s| is_within(&p, s)) {
            match (&child, was) {
                // A folder the version has, around a part held or outside them all: looked into.
                (Child::Dir(d), Some(e)) if e.node.kind == NodeKind::Tree => {
                    below.push((*d, e.node))
                }
                // Written by the user where nothing is held: held from now on.
                _ => kept.newly_held.push(p),
            }
        }
        merged.push((name, child));
    }
    for e in old {
        absent(store, walk, &path, e.name, e.node, held, kept, &mut merged)?;
    }
    walk.dirs[dir].entries = merged;
    for (d, node) in below {
        graft(store, walk, d, &node, held, kept)?;
    }
    Ok(())
}

/// An entry of the pointer's tree that the work tree lacks: kept when absent on purpose; a folder holding a
/// part held is entered (the part was deleted, what is around it was never here); else it was deleted.
#[allow(clippy::too_many_arguments)]
fn absent(
    store: &Store,
    walk: &mut Walk,
    dir: &str,
    name: String,
    node: Node,
    held: &[String],
    kept: &mut Kept,
    merged: &mut Vec<(String, Child)>,
) -> Result<()> {
    let path = join(dir, &name);
    if absent_on_purpose(Some(held), &path) {
        kept.nodes += 1;
        merged.push((name, Child::Kept(node)));
    } else if node.kind == NodeKind::Tree && holds_below(held, &path) {
        let d = walk.dirs.len();
        walk.dirs.push(WalkDir {
            path,
            entries: Vec::new(),
            only_kept: true,
        });
        merged.push((name, Child::Dir(d)));
        graft(store, walk, d, &node, held, kept)?;
    }
    Ok(())
}
