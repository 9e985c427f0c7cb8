//! `dv status`: which tracked paths differ from their pointer files, and whether the cache can restore them.

use super::compare::{ChangeKind, Comparer, Have};
use super::datasets::Target;
use crate::session::Session;
use crate::store::Store;
use crate::store::object::{Node, NodeKind};
use crate::{ObjectId, Result};

#[derive(Clone, Debug, serde::Serialize)]
pub struct FileStatus {
    pub path: String,
    pub change: ChangeKind,
    /// True for a folder (new or deleted as a whole).
    pub folder: bool,
}

words! {
    /// How a dataset's data path compares with its pointer file.
    pub enum DatasetState {
        Unchanged = "unchanged",
        Modified = "modified",
        /// The data path is gone.
        Deleted = "deleted",
        /// Nothing was found to differ, but folders in `not_compared` could not be compared: never `Unchanged`
        /// without a comparison.
        Unknown = "unknown",
    }
}

#[derive(Clone, Debug, serde::Serialize)]
pub struct DatasetStatus {
    pub path: String,
    pub pointer: String,
    pub state: DatasetState,
    /// False when objects the pointer names are missing from the local cache (`dv checkout` cannot restore it).
    pub in_cache: bool,
    pub changes: Vec<FileStatus>,
    /// Folders whose tree the cache lacks (say in a clone before `dv fetch`), so what is in them was not compared
    /// and `changes` may be incomplete; absent when everything was compared.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub not_compared: Vec<String>,
    /// The parts of the dataset this work tree holds, when it holds only some (after `dv pull data/part`): what
    /// it lacks outside them is absent on purpose, not deleted; absent when it holds the dataset whole.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub held: Vec<String>,
    /// A checkout or pull of the dataset began writing and did not finish: what the work tree lacks is still to
    /// come (not reported as deleted, kept by `add`) until one finishes. Absent when false.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub unfinished: bool,
    /// What keeps Git from ignoring the data (its `.gitignore` lacks the line, or cannot be read), if anything:
    /// a problem, which `status` reports and never fixes itself.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ignore: Option<super::ignore::IgnoreProblem>,
    /// With `--remote`: what the remote lacks.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub remote: Option<super::transfer::RemoteState>,
    /// An imported dataset: its source and whether it is behind (as last fetched from the source; with
    /// `--remote`, as the source is now). Absent for a dataset of this repository.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub import: Option<super::import::ImportState>,
}

#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct StatusReport {
    pub datasets: Vec<DatasetStatus>,
    /// Files whose content had to be read (the stat cache could not vouch for them).
    pub hashed_files: u64,
    /// Steps recorded by `dv run`, in dependency order, and whether each is up to date.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub steps: Vec<super::run::StepState>,
    /// Files named like pointer files (`*.dv`) that are not pointer files, skipped (`path`, `reason`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub not_pointers: Vec<super::datasets::NotPointer>,
    /// What keeps Git from ignoring dv's own per-machine files under `.dv/` (the cache, `state.db`): the
    /// lines `.dv/.gitignore` lacks; absent when there are none.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub ignore: Vec<super::ignore::IgnoreProblem>,
}

impl StatusReport {
    /// True when every dataset matches its pointer and is fully cached (an `unknown` one is not clean).
    pub fn is_clean(&self) -> bool {
        self.datasets.iter().all(|d| {
            d.state == DatasetState::Unchanged
                && d.in_cache
                && !d.unfinished
                && d.ignore.is_none()
                // An import stays on its source's remote unless pushed with --include-imports: not a
                // difference; one behind its source is.
                && (d.remote.as_ref().is_none_or(|r| r.pushed) || d.import.is_some())
                && d.import.as_ref().is_none_or(|i| !i.behind)
        }) && self.ignore.is_empty()
            && self.steps.iter().all(|s| !s.is_stale())
            && !self.not_pointers.iter().any(|s| s.is_problem())
    }
}

pub fn status(s: &Session, targets: &[Target]) -> Result<StatusReport> {
    let (repo, store) = (s.repo(), s.store());
    let mut report = StatusReport {
        ignore: super::ignore::own_ignore_problems(repo),
        ..Default::default()
    };
    let data: Vec<_> = targets
        .iter()
        .map(|t| super::ignore::DataPath::of(&t.dataset))
        .collect();
    let mut ignore = super::ignore::ignore_problems(repo, &data)?.into_iter();
    for t in targets {
        t.check_to_compare(repo, store)?;
        let d = &t.dataset;
        let mut cmp = Comparer::new(repo, store, t.scope.as_deref());
        cmp.layout = d.pointer.layout;
        cmp.held = super::partial::held(store, &d.path)?;
        let held = cmp.held.clone().unwrap_or_default();
        cmp.compare(&d.path, Some(&d.pointer.node))?;
        let out = cmp.out;
        report.hashed_files += out.refreshed.len() as u64;
        store
            .state_db()
            .put_stat_entries(out.refreshed.iter().map(|(p, e)| (p.as_str(), *e)))?;
        let in_cache = out.missing.is_empty() && is_complete(store, &d.pointer.node)?;
        let whole_gone = out
            .changes
            .iter()
            .any(|c| c.path == d.path && c.kind == ChangeKind::Deleted);
        let state = if whole_gone && out.changes.len() == 1 {
            DatasetState::Deleted
        } else if !out.changes.is_empty() {
            DatasetState::Modified
        } else if !out.missing.is_empty() {
            // A folder whose tree the cache lacks was not compared: what is in it may differ or not.
            DatasetState::Unknown
        } else {
            DatasetState::Unchanged
        };
        let mut changes: Vec<FileStatus> = out
            .changes
            .iter()
            .map(|c| FileStatus {
                path: c.path.clone(),
                change: c.kind,
                folder: matches!(c.have, Some(Have::Dir))
                    || c.want.is_some_and(|w| w.kind == NodeKind::Tree),
            })
            .collect();
        changes.sort_by(|a, b| a.path.cmp(&b.path));
        report.datasets.push(DatasetStatus {
            path: d.path.clone(),
            pointer: d.pointer_path(),
            state,
            in_cache,
            changes,
            not_compared: out.missing.iter().map(|m| m.path.clone()).collect(),
            held,
            unfinished: store.state_db().is_unfinished(&d.path)?,
            ignore: ignore.next().flatten(),
            remote: None,
            // Offline, and never an error: a source this machine cannot read says nothing here.
            import: super::import::import_state(repo, d, false).ok().flatten(),
        });
    }
    Ok(report)
}

/// True when every object below `node` is in the cache. Remembered per root, so it is checked once.
pub fn is_complete(store: &Store, node: &Node) -> Result<bool> {
    if store.state_db().is_complete(&node.id)? {
        return Ok(true);
    }
    let complete = first_missing(store, node)?.is_none();
    if complete {
        store.state_db().mark_complete(&node.id)?;
    }
    Ok(complete)
}

/// The first object below `node` that the cache lacks.
pub fn first_missing(store: &Store, node: &Node) -> Result<Option<ObjectId>> {
    match node.kind {
        NodeKind::File | NodeKind::Chunked => {
            Ok(match store.file_pieces(node.kind, &node.id, node.size)? {
                Ok(pieces) => pieces.iter().find(|p| p.at.is_none()).map(|p| p.id),
                Err(manifest) => Some(manifest),
            })
        }
        NodeKind::Tree => {
            if !store.contains(&node.id)? {
                return Ok(Some(node.id));
            }
            for e in store.read_tree(&node.id)?.entries {
                if let Some(m) = first_missing(store, &e.node)? {
                    return Ok(Some(m));
                }
            }
            Ok(None)
        }
    }
}
