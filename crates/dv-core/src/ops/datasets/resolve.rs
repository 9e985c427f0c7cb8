//! Resolving what a user names (a pointer file, a tracked path, a path inside a tracked folder, a folder
//! holding pointer files) into targets, one per dataset.

use super::discover::{Found, enclosing_dataset_in};
use super::not_pointer::drop_not_dvs;
use super::{NotPointer, Source, Target, refuse_unrestorable};
use crate::Result;
use crate::paths::{POINTER_SUFFIX, is_within};
use crate::repo::Repo;

/// Resolves what the user named: a pointer file, a tracked path, a path inside a tracked folder, or a folder
/// containing pointer files. No paths means every dataset. Pointers are read from `source`.
/// A pointer file in scope that cannot be read, or a version a migration could not store, is an error here
/// (for commands that have no way to report it);
/// [`resolve_targets_noting`] hands it to the caller instead.
pub fn resolve_targets(repo: &Repo, source: &Source<'_>, paths: &[String]) -> Result<Vec<Target>> {
    let mut skipped = Vec::new();
    let targets = resolve_targets_noting(repo, source, paths, &mut skipped)?;
    refuse_unrestorable(&skipped)?;
    Ok(targets)
}

/// [`resolve_targets`], adding the files named like pointer files that are not pointer files, and were
/// skipped, to `skipped`.
pub fn resolve_targets_noting(
    repo: &Repo,
    source: &Source<'_>,
    paths: &[String],
    skipped: &mut Vec<NotPointer>,
) -> Result<Vec<Target>> {
    if paths.is_empty() {
        let all = source
            .find_datasets(repo, "", skipped)?
            .into_iter()
            .map(|dataset| Target {
                dataset,
                scope: None,
                named: false,
            })
            .collect();
        return drop_not_dvs(repo, source, all, skipped);
    }
    let mut out: Vec<Target> = Vec::new();
    for p in paths {
        let p = p.as_str();
        // A path inside a tracked folder is part of that dataset, whatever its name: a pointer file there
        // (`data/inner.dv`) describes no dataset of its own, since a dataset's folder holds only its data.
        if let Some(dataset) = enclosing_dataset_in(source, repo, p)? {
            out.push(Target {
                dataset,
                scope: Some(p.to_string()),
                named: false,
            });
            continue;
        }
        // `NAME.dv` names the dataset `NAME`, unless that file is no pointer file (it may be data itself).
        let mut not_pointer = None;
        if let Some(data) = p.strip_suffix(POINTER_SUFFIX) {
            match source.find_pointer(repo, data)? {
                Found::Dataset(dataset) => {
                    out.push(Target {
                        dataset,
                        scope: None,
                        named: true,
                    });
                    continue;
                }
                Found::NotPointer(e) => not_pointer = Some(e),
                Found::Malformed(e) => return Err(e),
                Found::None => {}
            }
        }
        if let Some(dataset) = source.read_pointer(repo, p)? {
            out.push(Target {
                dataset,
                scope: None,
                named: true,
            });
        } else if let Some(e) = not_pointer {
            return Err(e);
        } else {
            let found = source.find_datasets(repo, p, skipped)?;
            if found.is_empty() {
                return Err(source.not_tracked(p));
            }
            out.extend(found.into_iter().map(|dataset| Target {
                dataset,
                scope: None,
                named: false,
            }));
        }
    }
    let mut out = drop_not_dvs(repo, source, out, skipped)?;
    // One target per dataset: a whole-dataset target absorbs narrower ones.
    out.sort_by(|a, b| a.dataset.path.cmp(&b.dataset.path));
    let mut merged: Vec<Target> = Vec::new();
    for t in out {
        if let Some(last) = merged.last_mut()
            && last.dataset.path == t.dataset.path
        {
            match (&last.scope, &t.scope) {
                (None, _) => {}
                (_, None) => last.scope = None,
                (Some(a), Some(b)) if is_within(b, a) => {}
                (Some(a), Some(b)) if is_within(a, b) => last.scope = Some(b.clone()),
                _ => merged.push(t),
            }
            continue;
        }
        merged.push(t);
    }
    Ok(merged)
}
