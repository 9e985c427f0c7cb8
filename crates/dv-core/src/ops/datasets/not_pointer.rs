//! Files named like pointer files (`*.dv`) that make no dataset, with their problem (not a pointer file,
//! malformed, nested in another dataset's folder); the rule dropping pointer files whose data is Git's; and
//! the refusal, for commands that act on every pointer, of a malformed one.

use super::discover::Found;
use super::{Source, Target};
use crate::paths::POINTER_SUFFIX;
use crate::repo::Repo;
use crate::{Error, Result};

words! {
    /// Which kind of file named like a pointer file a [`NotPointer`] is. `status` and `fsck` report `Malformed`
    /// and `Nested` as problems; commands that would act on every pointer (`checkout`, `pull`, `gc`) refuse
    /// while a malformed one is in scope (see [`refuse_malformed`]).
    pub enum PointerProblem {
        /// Not a pointer file at all: `.dv` is also a video format.
        NotPointer = "not-pointer",
        /// A pointer file dv cannot read: damaged, from a newer dv, or naming a path no dataset may have, such
        /// as `..dv`.
        Malformed = "malformed",
        /// A pointer file Git tracks inside another dataset's folder.
        Nested = "nested",
        /// A version an old commit recorded in DVC's or git-lfs's files whose object `dv migrate …
        /// --all-commits` could not store: commands that restore a revision (`checkout`, `pull`, reads) refuse
        /// while one is in scope; `gc` and `push` go on (there is nothing of it to keep or send).
        NotMigrated = "not-migrated",
    }
}

/// A file named like a pointer file (`*.dv`) that describes no dataset, skipped when datasets are listed (with a
/// warning); naming it is still an error. `problem` says which kind.
#[derive(Clone, Debug, serde::Serialize)]
pub struct NotPointer {
    /// Repository path of the file.
    pub path: String,
    /// Why it was not read as a pointer file.
    pub reason: String,
    pub problem: PointerProblem,
    /// For a pointer file that Git tracks inside another dataset's folder: that dataset's path. Such a file is
    /// no dataset (a dataset's folder holds only its data), and checkout never replaces or deletes it (Git tracks it).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub inside: Option<String>,
    /// A malformed pointer file that holds Git's merge-conflict markers (its `reason` says so): what to do is
    /// to resolve the conflict. In `--json` only when true.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub conflict: bool,
}

impl NotPointer {
    /// A file named like a pointer file whose bytes are no pointer file (`e` says why).
    pub(super) fn unreadable(path: String, e: &Error) -> NotPointer {
        NotPointer {
            path,
            reason: e.to_string(),
            problem: PointerProblem::NotPointer,
            inside: None,
            conflict: false,
        }
    }

    /// A pointer file that cannot be read (`e` says why).
    pub(super) fn malformed(path: String, e: &Error) -> NotPointer {
        NotPointer {
            path,
            reason: e.to_string(),
            problem: PointerProblem::Malformed,
            inside: None,
            conflict: matches!(e, Error::ConflictedPointer { .. }),
        }
    }

    /// The dataset whose pointer file would be `path`, at a commit from before a migration, that recorded a
    /// version the migration could not store (`e`, an [`Error::NotMigrated`], says which).
    pub(super) fn not_migrated(path: String, e: &Error) -> NotPointer {
        NotPointer {
            path,
            reason: e.to_string(),
            problem: PointerProblem::NotMigrated,
            inside: None,
            conflict: false,
        }
    }

    /// True for what `status` and `fsck` report as a problem (a file that is no pointer file at all is not).
    pub fn is_problem(&self) -> bool {
        self.problem != PointerProblem::NotPointer
    }

    /// The pointer file `path`, which lies inside dataset `dataset`'s folder.
    pub(super) fn nested(path: String, dataset: &str) -> NotPointer {
        NotPointer {
            reason: format!(
                "a pointer file inside the folder of dataset '{dataset}', which holds only that dataset's data"
            ),
            path,
            problem: PointerProblem::Nested,
            inside: Some(dataset.to_string()),
            conflict: false,
        }
    }
}

/// The rule for what a pointer file may describe beyond a well-formed path ([`Dataset::from_pointer`](super::Dataset::from_pointer)): data that
/// is dv's to write. A pointer file whose data path Git itself tracks (a `README.md.dv` planted beside a committed
/// `README.md`), or whose data path is another dataset's pointer file (`x.dv.dv` beside `x.dv`), would make
/// checkout replace Git's file with data and ignore it. Such a pointer file is malformed: it is added to `skipped`
/// (commands that write refuse it, see [`refuse_malformed`]; the others report it) and its target dropped. What
/// Git tracks is asked of the source: Git's index for the work tree (there, a folder holding anything the index
/// tracks is Git's as well, as `dv add` holds), the commit's tree for a revision (only the path itself: a
/// commit that once held a pointer file inside a folder must not stop `gc` over history forever). Whatever the
/// source, checkout never writes into a folder Git's index tracks anything in ([`crate::ops::checkout`]).
pub(super) fn drop_not_dvs(
    repo: &Repo,
    source: &Source<'_>,
    targets: Vec<Target>,
    skipped: &mut Vec<NotPointer>,
) -> Result<Vec<Target>> {
    if targets.is_empty() {
        return Ok(targets);
    }
    let index = match source {
        Source::WorkTree => Some(crate::git::GitRepo::open(&repo.root)?.tracked()?),
        Source::Rev { .. } => None,
    };
    let mut kept = Vec::with_capacity(targets.len());
    for t in targets {
        let path = &t.dataset.path;
        let git_tracks = match (source, &index) {
            // An old commit's git-lfs file, which the LFS map makes a dataset (`dv migrate lfs
            // --all-commits`), is Git's file at that commit by nature: its pointer text is what Git held.
            (Source::Rev { git, commit }, _) => {
                git.has_file_at(commit, path)?
                    && !matches!(super::discover::lfs_pointer_at(repo, git, commit, path)?,
                        Found::Dataset(d) if d.pointer.node == t.dataset.pointer.node)
            }
            (Source::WorkTree, Some(index)) => index.tracks(path),
            (Source::WorkTree, None) => false,
        };
        // In the work tree, a folder holding anything Git's index tracks (a source folder a planted pointer
        // names, a submodule, a pointer file committed inside) is Git's too: `dv add` refuses such a folder,
        // and its ignore line would hide the user's next files there from Git.
        let tracked_inside = match &index {
            Some(index) if !git_tracks => index.under(path).next(),
            _ => None,
        };
        let why = if git_tracks {
            Some("Git tracks it, so it is no data of dv's".to_string())
        } else if let Some(inside) = tracked_inside {
            Some(format!(
                "Git tracks '{inside}' in it, and a dataset's folder holds only dv's data (stop tracking what \
                 is there with `git rm -r --cached {path}`, or remove the pointer file)"
            ))
        } else if let Some(data) = path.strip_suffix(POINTER_SUFFIX)
            && matches!(source.find_pointer(repo, data)?, Found::Dataset(_))
        {
            Some(format!("it is the pointer file of dataset '{data}'"))
        } else {
            None
        };
        match why {
            Some(why) => {
                let pointer = t.dataset.pointer_path();
                let reason = match &t.dataset.rev {
                    Some(rev) => format!(
                        "{pointer} at {rev}: a pointer file cannot describe {path:?}: {why}"
                    ),
                    None => format!("{pointer}: a pointer file cannot describe {path:?}: {why}"),
                };
                if !skipped.iter().any(|s| s.path == pointer) {
                    skipped.push(NotPointer {
                        path: pointer,
                        reason,
                        problem: PointerProblem::Malformed,
                        inside: None,
                        conflict: false,
                    });
                }
            }
            None => kept.push(t),
        }
    }
    skipped.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(kept)
}

/// Refuses when `skipped` holds a malformed pointer file: a command that acts on every pointer in scope
/// (`checkout` and `pull` write what they name, `gc` deletes what none names) must not go on without one it
/// cannot read. Commands that only read or report go on, warning about it.
pub fn refuse_malformed(skipped: &[NotPointer]) -> Result<()> {
    // An unresolved merge conflict first: its hint is the one that helps.
    let malformed = || {
        skipped
            .iter()
            .filter(|s| s.problem == PointerProblem::Malformed)
    };
    match malformed()
        .find(|s| s.conflict)
        .or_else(|| malformed().next())
    {
        Some(s) => Err(Error::MalformedPointer {
            message: s.reason.clone(),
            conflict: s.conflict,
        }),
        None => Ok(()),
    }
}

/// [`refuse_malformed`], and also refuses a version a migration could not store ([`PointerProblem::NotMigrated`]):
/// for commands that restore or read a revision's data (`checkout --rev`, `pull --rev`, `ls`, `get`), where going
/// on without it would give a mix of that revision and the work tree's.
pub fn refuse_unrestorable(skipped: &[NotPointer]) -> Result<()> {
    refuse_malformed(skipped)?;
    match skipped
        .iter()
        .find(|s| s.problem == PointerProblem::NotMigrated)
    {
        Some(s) => Err(Error::NotMigrated {
            message: s.reason.clone(),
        }),
        None => Ok(()),
    }
}
