//! What belongs to Git is never written or deleted by a checkout, forced or not.

use super::Plan;
use crate::ops::datasets::Target;
use crate::session::Session;
use crate::{Error, Result};

/// The rule that checkout never touches what belongs to Git, even with `--force`: a file Git's index tracks (a
/// pointer file committed inside a dataset's folder, a file a planted pointer names), a dataset folder holding
/// anything the index tracks (a source folder, an uninitialised submodule: nothing is written into it), and a
/// Git repository or linked work tree inside a dataset's folder (a folder holding `.git`, or a bare
/// repository: its history, its index, its own work; `dv add` refuses such a folder too) are Git's, whatever
/// dv's cache holds. A plan that would write, replace
/// or delete one (or anything in it) is an error naming each, before anything is done. Git's index is read
/// once, and only when the plan changes anything.
pub(super) fn refuse_git_owned(s: &Session, plan: &Plan, targets: &[Target]) -> Result<()> {
    let repo = s.repo();
    if plan.removes.is_empty() && plan.writes.is_empty() {
        return Ok(());
    }
    // Every path the plan would touch: what it removes, every file inside what it removes (`seen`), and what
    // it writes.
    let touched = || {
        plan.removes
            .iter()
            .map(|(p, _)| p.as_str())
            .chain(plan.seen.keys().map(String::as_str))
            .chain(plan.writes.iter().map(|w| w.path.as_str()))
    };
    let mut repositories: Vec<String> = touched()
        .filter_map(|p| {
            let mut at = 0;
            for name in p.split('/') {
                if name == ".git" {
                    return Some(p[..at.max(1) - 1].to_string());
                }
                at += name.len() + 1;
            }
            // A bare repository (`backup.git/`): a folder with HEAD, objects/ and refs/, as Git knows one.
            let (dir, name) = crate::paths::split(p);
            if name == "HEAD"
                && !dir.is_empty()
                && repo.abs(dir).join("objects").is_dir()
                && repo.abs(dir).join("refs").is_dir()
            {
                return Some(dir.to_string());
            }
            // A folder remote of dv's (`packs/` beside `index/`): what was pushed there may be its only copy.
            let mut at = 0;
            for name in p.split('/') {
                if name == "packs" && at > 0 && repo.abs(&p[..at - 1]).join("index").is_dir() {
                    return Some(p[..at - 1].to_string());
                }
                at += name.len() + 1;
            }
            None
        })
        .collect();
    repositories.sort();
    repositories.dedup();
    let index = s.git()?.tracked()?;
    let mut tracked: Vec<String> = plan
        .removes
        .iter()
        .flat_map(|(p, _)| index.under(p).collect::<Vec<_>>())
        .chain(
            plan.writes
                .iter()
                .flat_map(|w| index.under(&w.path).collect::<Vec<_>>()),
        )
        .collect();
    // A dataset folder holding anything Git tracks (a source folder a planted pointer names, an uninitialised
    // submodule) is Git's as a whole: nothing is written into it either, and its ignore line never added.
    for t in targets {
        let path = &t.dataset.path;
        let inside = |p: &str| crate::paths::is_within(p, path);
        // A binary search first: the scan of what the plan touches runs only for a folder Git tracks files in.
        if index.holds(path) && touched().any(inside) {
            tracked.extend(index.under(path));
        }
    }
    if tracked.is_empty() && repositories.is_empty() {
        return Ok(());
    }
    tracked.sort();
    tracked.dedup();
    Err(Error::GitOwned {
        tracked,
        repositories,
    })
}
