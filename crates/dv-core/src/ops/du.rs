//! `dv du`: what each dataset version really costs. For every version in scope, its logical size and what it
//! adds to the store: the stored (deduplicated, compressed, in-pack) bytes of the objects it reaches that no
//! earlier version of the same dataset reached. Versions are taken oldest first, so the first costs its whole
//! deduplicated size and each later one only its delta.

use std::collections::{BTreeMap, HashMap, HashSet};

use super::datasets::{Dataset, Source, Target, resolve_targets};
use super::reach::{ObjectProblem, Reach, Walker};
use super::scope::Scope;
use crate::git::{Commit, CommitInfo, GitRepo};
use crate::pointer::Pointer;
use crate::session::Session;
use crate::store::object::NodeKind;
use crate::{Error, ObjectId, Result};

#[derive(Clone, Debug, serde::Serialize)]
pub struct DuReport {
    /// What was looked at, e.g. "the work tree and every commit".
    pub scope: String,
    pub datasets: Vec<DatasetUsage>,
    /// Versions listed, over all datasets.
    pub versions: u64,
    /// The sum of every listed version's logical size (what storing each whole would take).
    pub logical_bytes: u64,
    /// Stored bytes of every object any listed version reaches, each once (shared between datasets too).
    pub stored_bytes: u64,
    /// Objects counted in `stored_bytes`.
    pub objects: u64,
    /// Objects reached that the cache lacks or cannot read: their size, and whatever lies below them, is not
    /// counted anywhere.
    pub unknown_objects: u64,
    /// Stored bytes of every object in the cache, reached or not (`dv gc` removes the rest).
    pub cache_bytes: u64,
    pub cache_packs: u64,
}

#[derive(Clone, Debug, serde::Serialize)]
pub struct DatasetUsage {
    pub path: String,
    /// Oldest first.
    pub versions: Vec<VersionUsage>,
    /// The sum of the versions' logical sizes.
    pub logical_bytes: u64,
    /// The sum of the versions' `adds`: what the dataset's history costs in the store.
    pub stored_bytes: u64,
    pub unknown_objects: u64,
}

#[derive(Clone, Debug, serde::Serialize)]
pub struct VersionUsage {
    /// The id of the version's root object (as in the pointer file).
    pub id: String,
    pub kind: NodeKind,
    /// The oldest commit in scope whose pointer names this version; absent for a version only the work tree's
    /// pointer names.
    pub commit: Option<CommitInfo>,
    /// Logical size: bytes of the file, or of all files below the folder.
    pub size: u64,
    pub files: u64,
    /// Stored bytes of the objects this version reaches and no earlier version of the dataset did.
    pub adds: u64,
    /// How many objects that is.
    pub new_objects: u64,
    /// Objects first reached here that the cache lacks or cannot read (not counted in `adds`).
    pub unknown_objects: u64,
}

/// A dataset's distinct versions (root and table header ids) and each one's pointer and first commit.
type Versions = (
    HashSet<(ObjectId, Option<ObjectId>)>,
    Vec<(Pointer, Option<CommitInfo>)>,
);

/// The storage cost of the datasets `paths` name (every dataset without paths) in `scope`.
pub fn du(s: &Session, scope: &Scope, paths: &[String]) -> Result<DuReport> {
    let (repo, store) = (s.repo(), s.store());
    // Every (commit, datasets there) in scope, oldest first; the work tree (no commit) last.
    let git = match scope {
        Scope::Workspace => None,
        _ => Some(s.git()?),
    };
    let mut snapshots: Vec<(Option<CommitInfo>, Vec<Target>)> = Vec::new();
    match (scope, git) {
        (Scope::Workspace, _) => {
            snapshots.push((None, resolve_targets(repo, &Source::WorkTree, paths)?));
        }
        (Scope::Rev(rev), Some(git)) => {
            let commit = git.resolve(rev)?;
            let info = git.commit_info(commit.id)?;
            let targets = resolve_targets(repo, &Source::Rev { git, commit }, paths)?;
            snapshots.push((Some(info), targets));
        }
        (Scope::AllBranches | Scope::AllCommits, Some(git)) => {
            let commits = if *scope == Scope::AllBranches {
                git.ref_tips(false)?
            } else {
                git.all_commits()?
            };
            let mut first_error = None;
            let mut tolerate = |found: Result<Vec<Target>>| -> Result<Vec<Target>> {
                match found {
                    Ok(t) => Ok(t),
                    Err(e @ (Error::NotTracked(_) | Error::NotTrackedAt { .. })) => {
                        first_error.get_or_insert(e);
                        Ok(Vec::new())
                    }
                    Err(e) => Err(e),
                }
            };
            for (commit, info) in oldest_first(git, commits)? {
                // A version a migration could not store has no size to count: only a malformed pointer
                // file stops the walk.
                let mut skipped = Vec::new();
                let found = super::datasets::resolve_targets_noting(
                    repo,
                    &Source::Rev { git, commit },
                    paths,
                    &mut skipped,
                )
                .and_then(|t| super::datasets::refuse_malformed(&skipped).map(|()| t));
                let targets = tolerate(found)?;
                snapshots.push((Some(info), targets));
            }
            let targets = tolerate(resolve_targets(repo, &Source::WorkTree, paths))?;
            snapshots.push((None, targets));
            if let Some(e) = first_error
                && snapshots.iter().all(|(_, t)| t.is_empty())
            {
                return Err(e);
            }
        }
        _ => return Err(Error::Internal("du: no Git repository opened".into())),
    }

    let named: Vec<Target> = snapshots
        .iter()
        .flat_map(|(_, t)| t.iter().filter(|t| t.scope.is_some()).cloned())
        .collect();
    super::datasets::check_named_held(&named, store)?;

    // The distinct versions of each dataset, in the order they first appear.
    let mut by_path: BTreeMap<String, Versions> = BTreeMap::new();
    for (info, targets) in snapshots {
        for t in targets {
            let Dataset { path, pointer, .. } = t.dataset;
            let key = (pointer.node.id, pointer.table.as_ref().map(|t| t.id));
            let (seen, versions) = by_path.entry(path).or_default();
            if seen.insert(key) {
                versions.push((pointer, info.clone()));
            }
        }
    }

    let mut counted: HashSet<ObjectId> = HashSet::new();
    let mut report = DuReport {
        scope: scope.describe(),
        datasets: Vec::new(),
        versions: 0,
        logical_bytes: 0,
        stored_bytes: 0,
        objects: 0,
        unknown_objects: 0,
        cache_bytes: 0,
        cache_packs: 0,
    };
    let mut unknown: HashSet<String> = HashSet::new();
    for (path, (_, versions)) in by_path {
        let mut walker = Walker::new(store, false);
        let mut usage = DatasetUsage {
            path: path.clone(),
            versions: Vec::new(),
            logical_bytes: 0,
            stored_bytes: 0,
            unknown_objects: 0,
        };
        for (pointer, commit) in versions {
            let mut reached = Reach::default();
            walker.walk(&path, &pointer, &mut reached)?;
            let mut adds = 0u64;
            for id in &reached.live {
                let stored = match store.locate(id)? {
                    Some(loc) => loc.entry.stored_len as u64,
                    None => 0,
                };
                adds += stored;
                if counted.insert(*id) {
                    report.stored_bytes += stored;
                    report.objects += 1;
                }
            }
            for p in reached
                .problems
                .iter()
                .filter(|p| p.problem != ObjectProblem::Mismatch)
            {
                unknown.insert(p.object.clone());
            }
            let v = VersionUsage {
                id: pointer.node.id.to_hex(),
                kind: pointer.node.kind,
                commit,
                size: pointer.node.size,
                files: pointer.node.files,
                adds,
                new_objects: reached.live.len() as u64,
                unknown_objects: reached
                    .problems
                    .iter()
                    .filter(|p| p.problem != ObjectProblem::Mismatch)
                    .count() as u64,
            };
            usage.logical_bytes += v.size;
            usage.stored_bytes += v.adds;
            usage.unknown_objects += v.unknown_objects;
            usage.versions.push(v);
        }
        report.versions += usage.versions.len() as u64;
        report.logical_bytes += usage.logical_bytes;
        report.datasets.push(usage);
    }
    report.unknown_objects = unknown.len() as u64;
    for index in store.indexes_lenient()? {
        report.cache_packs += 1;
        report.cache_bytes += index
            .entries
            .iter()
            .map(|e| e.stored_len as u64)
            .sum::<u64>();
    }
    Ok(report)
}

/// `commits` in history order, oldest first: every parent before its children (among `commits`), otherwise
/// by author time, then by the walk's order reversed. Each with its commit information.
fn oldest_first(git: &GitRepo, commits: Vec<Commit>) -> Result<Vec<(Commit, CommitInfo)>> {
    let n = commits.len();
    let index: HashMap<gix::ObjectId, usize> =
        commits.iter().enumerate().map(|(i, c)| (c.id, i)).collect();
    let mut infos = Vec::with_capacity(n);
    let mut parents: Vec<Vec<usize>> = Vec::with_capacity(n);
    for c in &commits {
        infos.push(git.commit_info(c.id)?);
        parents.push(
            git.parents(c.id)?
                .iter()
                .filter_map(|p| index.get(p).copied())
                .collect(),
        );
    }
    // Walks list children before parents: reversed, ties in time come out parents first.
    let mut starts: Vec<usize> = (0..n).rev().collect();
    starts.sort_by_key(|&i| infos[i].time);
    let mut order = Vec::with_capacity(n);
    let mut visited = vec![false; n];
    for s in starts {
        let mut stack = vec![(s, false)];
        while let Some((i, expanded)) = stack.pop() {
            if expanded {
                order.push(i);
                continue;
            }
            if visited[i] {
                continue;
            }
            visited[i] = true;
            stack.push((i, true));
            for &p in parents[i].iter().rev() {
                if !visited[p] {
                    stack.push((p, false));
                }
            }
        }
    }
    let mut slots: Vec<Option<(Commit, CommitInfo)>> =
        commits.into_iter().zip(infos).map(Some).collect();
    Ok(order.into_iter().filter_map(|i| slots[i].take()).collect())
}
