//! Which pointer files an operation looks at: the work tree's, one revision's, every branch tip's, or every
//! commit's. `push`, `fetch`, `fsck` and `gc` share this, so "in scope" means the same thing everywhere.

use std::collections::HashSet;

use super::datasets::{NotPointer, PointerProblem, Source, Target, resolve_targets_noting};
use crate::git::GitRepo;
use crate::repo::Repo;
use crate::session::{Locked, Session};
use crate::{Error, ObjectId, Result};

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Scope {
    /// The pointer files in the work tree.
    Workspace,
    /// The pointer files at one revision.
    Rev(String),
    /// The work tree and the tip of every branch, local and remote-tracking.
    AllBranches,
    /// The work tree and every commit reachable from any reference.
    AllCommits,
}

impl Scope {
    /// The scope chosen by the usual flags (at most one is set; clap enforces it).
    pub fn from_flags(rev: Option<String>, all_branches: bool, all_commits: bool) -> Scope {
        match (rev, all_branches, all_commits) {
            (Some(r), _, _) => Scope::Rev(r),
            (None, true, _) => Scope::AllBranches,
            (None, false, true) => Scope::AllCommits,
            (None, false, false) => Scope::Workspace,
        }
    }

    /// A short description for messages.
    pub fn describe(&self) -> String {
        match self {
            Scope::Workspace => "the work tree".into(),
            Scope::Rev(r) => format!("revision '{r}'"),
            Scope::AllBranches => "the work tree and every branch".into(),
            Scope::AllCommits => "the work tree and every commit".into(),
        }
    }
}

/// The targets `paths` name in `scope` (every dataset when `paths` is empty). Across several revisions a path
/// only has to be tracked in one of them; the same dataset version seen at several revisions is listed once.
/// A pointer file in scope that cannot be read is an error here.
pub fn targets_in_scope(s: &Session, scope: &Scope, paths: &[String]) -> Result<Vec<Target>> {
    let mut skipped = Vec::new();
    let targets = targets_in_scope_noting(s, scope, paths, &mut skipped)?;
    super::datasets::refuse_malformed(&skipped)?;
    Ok(targets)
}

/// [`targets_in_scope`], adding the files named like pointer files that are not pointer files, and were
/// skipped, to `skipped` (each once).
pub fn targets_in_scope_noting(
    s: &Session,
    scope: &Scope,
    paths: &[String],
    skipped: &mut Vec<NotPointer>,
) -> Result<Vec<Target>> {
    let repo = s.repo();
    let resolve_targets =
        |repo: &Repo, source: &Source<'_>, paths: &[String], skipped: &mut Vec<NotPointer>| {
            let found = resolve_targets_noting(repo, source, paths, skipped);
            skipped.sort_by(|a, b| a.path.cmp(&b.path));
            skipped.dedup_by(|a, b| a.path == b.path);
            found
        };
    match scope {
        Scope::Workspace => resolve_targets(repo, &Source::WorkTree, paths, skipped),
        Scope::Rev(rev) => {
            let git = s.git()?;
            let commit = git.resolve(rev)?;
            resolve_targets(repo, &Source::Rev { git, commit }, paths, skipped)
        }
        Scope::AllBranches | Scope::AllCommits => {
            let git = s.git()?;
            let commits = if *scope == Scope::AllBranches {
                git.ref_tips(false)?
            } else {
                git.all_commits()?
            };
            let mut out = Vec::new();
            let mut seen: HashSet<(String, ObjectId, Option<ObjectId>, Option<String>)> =
                HashSet::new();
            let mut first_error = None;
            let mut add = |found: Result<Vec<Target>>, out: &mut Vec<Target>| -> Result<()> {
                match found {
                    Ok(ts) => {
                        for t in ts {
                            let key = (
                                t.dataset.path.clone(),
                                t.dataset.pointer.node.id,
                                t.dataset.pointer.table.as_ref().map(|r| r.id),
                                t.scope.clone(),
                            );
                            if seen.insert(key) {
                                out.push(t);
                            }
                        }
                        Ok(())
                    }
                    Err(e @ (Error::NotTracked(_) | Error::NotTrackedAt { .. })) => {
                        first_error.get_or_insert(e);
                        Ok(())
                    }
                    Err(e) => Err(e),
                }
            };
            add(
                resolve_targets(repo, &Source::WorkTree, paths, skipped),
                &mut out,
            )?;
            for commit in commits {
                let source = Source::Rev { git, commit };
                add(resolve_targets(repo, &source, paths, skipped), &mut out)?;
            }
            match first_error {
                Some(e) if out.is_empty() => Err(e),
                _ => Ok(out),
            }
        }
    }
}

/// What `gc` of the local cache must keep: the targets of `scope` in this work tree, the work-tree pointer
/// files (and, beyond the work-tree scope, the `HEAD`) of every other work tree that uses the same cache
/// (linked Git work trees share one; other repositories share one through `cache.dir` or `DV_CACHE_DIR`, and
/// for those `--all-branches` and `--all-commits` also read their own branches or commits), so data added
/// there, committed or not, is never collected from under them, and, whatever the scope, the pointer files every stash entry holds in each of these repositories
/// ([`stash_targets`]): data added and stashed is as uncommitted as data added and not stashed. Returns the
/// targets and the roots of those other work trees; files named like pointer files that are not pointer files
/// in this work tree's scope are added to `skipped`. The caller holds the cache lock.
pub fn targets_for_cache(
    s: &Locked<'_>,
    scope: &Scope,
    skipped: &mut Vec<NotPointer>,
) -> Result<(Vec<Target>, Vec<std::path::PathBuf>)> {
    let repo = s.repo();
    let mut targets = targets_in_scope_noting(s, scope, &[], skipped)?;
    // Linked work trees share one Git folder and so one `refs/stash`: each Git folder's stashes are read once.
    let mut stash_dirs = HashSet::new();
    let git = s.git()?;
    stash_dirs.insert(git.common_dir().to_path_buf());
    targets.extend(stash_targets(repo, git, skipped)?);
    let mut roots = Vec::new();
    for other in s.cache_users()? {
        // The other work tree's problems count too (named by their full path): gc refuses over a pointer file
        // it cannot read there as here.
        let mut theirs = Vec::new();
        targets.extend(resolve_targets_noting(
            &other,
            &Source::WorkTree,
            &[],
            &mut theirs,
        )?);
        let git = GitRepo::open(&other.root)?;
        // Another repository (not a work tree of this one) sharing the cache through `cache.dir` or
        // `DV_CACHE_DIR`: its history is its own, read from its Git.
        let another_repository = stash_dirs.insert(git.common_dir().to_path_buf());
        if another_repository {
            targets.extend(stash_targets(&other, &git, &mut theirs)?);
        }
        if *scope != Scope::Workspace {
            // An unborn HEAD has no pointers to keep.
            if let Ok(commit) = git.resolve("HEAD") {
                targets.extend(resolve_targets_noting(
                    &other,
                    &Source::Rev { git: &git, commit },
                    &[],
                    &mut theirs,
                )?);
            }
        }
        if another_repository && matches!(scope, Scope::AllBranches | Scope::AllCommits) {
            let commits = if *scope == Scope::AllBranches {
                git.ref_tips(false)?
            } else {
                git.all_commits()?
            };
            for commit in commits {
                targets.extend(resolve_targets_noting(
                    &other,
                    &Source::Rev { git: &git, commit },
                    &[],
                    &mut theirs,
                )?);
            }
        }
        skipped.extend(theirs.into_iter().map(|mut s| {
            s.path = other.root.join(&s.path).display().to_string();
            s
        }));
        roots.push(other.root.clone());
    }
    Ok((targets, roots))
}

/// The targets the pointer files of every stash entry name ([`GitRepo::stash_entries`]: the stashed work
/// tree, what was staged, and untracked files stashed with `-u`). A pointer file there that cannot be read is
/// added to `skipped`, named with the entry (`f.dv at stash@{0}`): each path once, and not when `skipped` already
/// names it with the same problem (or as malformed, the one that stops gc).
pub fn stash_targets(
    repo: &Repo,
    git: &GitRepo,
    skipped: &mut Vec<NotPointer>,
) -> Result<Vec<Target>> {
    let mut out = Vec::new();
    let mut found = Vec::new();
    for commit in git.stash_entries()? {
        out.extend(resolve_targets_noting(
            repo,
            &Source::Rev { git, commit },
            &[],
            &mut found,
        )?);
    }
    // A file is named once (the work tree and each entry usually hold the same ones), a malformed one first.
    found.sort_by_key(|s| s.problem != PointerProblem::Malformed);
    for s in found {
        if !skipped.iter().any(|k| {
            k.path == s.path && (k.problem == s.problem || k.problem == PointerProblem::Malformed)
        }) {
            skipped.push(s);
        }
    }
    Ok(out)
}

/// The paths of the datasets whose versions at some branch tip (local or remote-tracking) `targets` do not
/// name: what a gc in the work tree scope would not keep. Best effort: empty when the branches cannot be read.
pub fn versions_only_branches_name(s: &Session, targets: &[Target]) -> Vec<String> {
    let kept: HashSet<ObjectId> = targets.iter().map(|t| t.dataset.pointer.node.id).collect();
    let Ok(wider) = targets_in_scope(s, &Scope::AllBranches, &[]) else {
        return Vec::new();
    };
    let mut out: Vec<String> = wider
        .into_iter()
        .filter(|t| !kept.contains(&t.dataset.pointer.node.id))
        .map(|t| t.dataset.path)
        .collect();
    out.sort();
    out.dedup();
    out
}
