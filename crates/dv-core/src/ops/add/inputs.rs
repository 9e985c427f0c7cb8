//! What `dv add` is given: each path checked (inside the work tree, not reserved, not a pointer file, not
//! inside another dataset or holding one, a regular file or folder) and walked.

use std::fs::{self, File};

use crate::error::IoContext;
use crate::ops::walk::{Walk, WalkFile, walk};
use crate::paths::{POINTER_SUFFIX, is_reserved};
use crate::pointer::Pointer;
use crate::repo::Repo;
use crate::store::statedb::Stat;
use crate::{Error, Result};

/// One input to add: a file or a folder.
pub(super) enum Input {
    File(WalkFile),
    Dir(Walk),
}

/// Checks each path and walks it.
pub(super) fn collect_inputs(repo: &Repo, paths: &[String]) -> Result<Vec<(String, Input)>> {
    let mut sorted: Vec<&String> = paths.iter().collect();
    sorted.sort();
    sorted.dedup();
    let mut out: Vec<(String, Input)> = Vec::new();
    for path in sorted {
        let cannot = |reason: &str| Error::CannotAdd {
            path: if path.is_empty() {
                ".".into()
            } else {
                // A name with a newline or another control character is shown escaped.
                path.escape_debug().to_string()
            },
            reason: reason.into(),
        };
        if path.is_empty() {
            return Err(cannot(
                "it is the root of the work tree; add folders inside it",
            ));
        }
        if is_reserved(path) {
            return Err(cannot("it is inside .git or .dv"));
        }
        // Every name accepted here must be one a pointer file can describe (and check out) again.
        if let Some(why) = crate::paths::dataset_path_problem(path) {
            return Err(cannot(&why));
        }
        // Its pointer file must not replace a file that is not one (a DV video named `NAME.dv`, say).
        let pointer_abs = repo.abs(&format!("{path}{POINTER_SUFFIX}"));
        if let Ok(m) = fs::symlink_metadata(&pointer_abs)
            && (m.file_type().is_symlink()
                || !m.is_file()
                || !Pointer::looks_like(&fs::read(&pointer_abs).at(&pointer_abs)?))
        {
            // A link is refused as one, never read or written through.
            crate::fsutil::refuse_link(&pointer_abs)?;
            return Err(cannot(&format!(
                "its pointer file would replace '{path}{POINTER_SUFFIX}', which is not a dv pointer file"
            )));
        }
        if path.ends_with(POINTER_SUFFIX)
            && crate::ops::datasets::read_pointer(repo, path.trim_end_matches(POINTER_SUFFIX))
                .is_ok_and(|d| d.is_some())
        {
            return Err(cannot("it is a pointer file; add the data it describes"));
        }
        if let Some((prev, _)) = out.last()
            && crate::paths::is_within(path, prev)
        {
            return Err(cannot(&format!(
                "it is inside '{prev}', which is added too"
            )));
        }
        if let Some(d) = crate::ops::datasets::enclosing_dataset(repo, path)? {
            return Err(cannot(&format!(
                "it is inside '{}', which dv already tracks; add that instead",
                d.path
            )));
        }
        let abs = repo.abs(path);
        let meta = match fs::symlink_metadata(&abs) {
            Ok(m) => m,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(Error::NotFound(abs)),
            Err(e) => return Err(Error::io(abs, e)),
        };
        let input = if meta.is_file() {
            // Fail early and clearly on unreadable files.
            File::open(&abs).at(&abs)?;
            Input::File(WalkFile {
                path: path.clone(),
                stat: Stat::of(&meta),
            })
        } else if meta.is_dir() {
            // A dataset's folder holds only its data: one holding another dataset's pointer file is refused, and
            // so is one holding a pointer file dv cannot read (damaged, from a newer dv, or a `X.dv` with no dv
            // header beside `X`, taken for X's damaged pointer file), which would otherwise become data. Only a
            // folder with a file named like a pointer file is searched (a second walk of a million files
            // otherwise).
            let walked = walk(&abs, path)?;
            let mut skipped = Vec::new();
            let inner = if walked
                .files
                .iter()
                .any(|f| f.path.ends_with(POINTER_SUFFIX))
            {
                crate::ops::datasets::Source::WorkTree.find_datasets(repo, path, &mut skipped)?
            } else {
                Vec::new()
            };
            if let Some(bad) = skipped
                .iter()
                .find(|s| s.problem == crate::ops::datasets::PointerProblem::Malformed)
            {
                let fix = if bad.conflict {
                    format!(
                        "resolve that conflict first (`git checkout --ours {0}` or `--theirs`, then `git add \
                         {0}`)",
                        bad.path
                    )
                } else {
                    format!(
                        "fix or remove that file first (`git checkout -- {}` restores a committed one)",
                        bad.path
                    )
                };
                return Err(cannot(&format!(
                    "it holds '{}', a pointer file dv cannot read ({}), and a dataset cannot hold another; {fix}",
                    bad.path, bad.reason
                )));
            }
            if let Some(inner) = inner.first() {
                return Err(cannot(&format!(
                    "it holds the dataset '{}' (pointer file '{}'), and a dataset cannot hold another; add the \
                     folders beside it instead, or remove that dataset first (`git rm {}`)",
                    inner.path,
                    inner.pointer_path(),
                    inner.pointer_path()
                )));
            }
            Input::Dir(walked)
        } else if meta.file_type().is_symlink() {
            return Err(cannot(
                "it is a symbolic link; dv stores regular files and folders only",
            ));
        } else {
            return Err(cannot("it is not a regular file or folder"));
        };
        out.push((path.clone(), input));
    }
    Ok(out)
}
