//! Finding tracked datasets: pointer files in the work tree, and what the paths a user names refer to.

use std::fs;
use std::path::Path;

use crate::error::IoContext;
use crate::paths::{POINTER_SUFFIX, is_within, join, split};
use crate::pointer::Pointer;
use crate::repo::Repo;
use crate::{Error, Result};

/// A tracked path and the pointer file that describes it.
#[derive(Clone, Debug)]
pub struct Dataset {
    /// Repository path of the data (the pointer's path minus `.dv`).
    pub path: String,
    pub pointer: Pointer,
}

impl Dataset {
    pub fn pointer_path(&self) -> String {
        format!("{}{POINTER_SUFFIX}", self.path)
    }
}

/// A dataset and, optionally, the part of it (a repository path inside it) an operation is limited to.
#[derive(Clone, Debug)]
pub struct Target {
    pub dataset: Dataset,
    pub scope: Option<String>,
}

/// Where pointer files are read from: the work tree, or a commit.
pub enum Source<'a> {
    WorkTree,
    Rev {
        git: &'a crate::git::GitRepo,
        commit: crate::git::Commit,
    },
}

impl Source<'_> {
    /// The pointer of data path `path`, if there is one.
    pub fn read_pointer(&self, repo: &Repo, path: &str) -> Result<Option<Dataset>> {
        match self {
            Source::WorkTree => read_pointer(repo, path),
            Source::Rev { git, commit } => {
                let pointer_path = format!("{path}{POINTER_SUFFIX}");
                match git.file_at(commit, &pointer_path)? {
                    None => Ok(None),
                    Some(data) => Ok(Some(Dataset {
                        path: path.to_string(),
                        pointer: Pointer::decode(
                            &data,
                            &format!("{pointer_path} at {}", commit.rev),
                        )?,
                    })),
                }
            }
        }
    }

    /// Every dataset at or below folder `dir`, sorted by path.
    pub fn find_datasets(&self, repo: &Repo, dir: &str) -> Result<Vec<Dataset>> {
        match self {
            Source::WorkTree => {
                if repo.abs(dir).is_dir() {
                    find_datasets(repo, dir)
                } else {
                    Ok(Vec::new())
                }
            }
            Source::Rev { git, commit } => {
                let mut out: Vec<Dataset> = Vec::new();
                for (pointer_path, data) in git.files_with_suffix_at(commit, dir, POINTER_SUFFIX)? {
                    let path = pointer_path
                        .strip_suffix(POINTER_SUFFIX)
                        .unwrap_or_default();
                    if path.is_empty() || split(path).1.is_empty() {
                        continue;
                    }
                    // Pointers inside a tracked folder are that folder's data, not datasets.
                    if out.iter().any(|d| is_within(path, &d.path)) {
                        continue;
                    }
                    out.push(Dataset {
                        path: path.to_string(),
                        pointer: Pointer::decode(
                            &data,
                            &format!("{pointer_path} at {}", commit.rev),
                        )?,
                    });
                }
                Ok(out)
            }
        }
    }

    fn not_tracked(&self, path: &str) -> Error {
        let path = display(path);
        match self {
            Source::WorkTree => Error::NotTracked(path),
            Source::Rev { commit, .. } => Error::NotTrackedAt {
                path,
                rev: commit.rev.clone(),
            },
        }
    }
}

/// Reads the pointer file of data path `path` in the work tree, if there is one.
pub fn read_pointer(repo: &Repo, path: &str) -> Result<Option<Dataset>> {
    let pointer_path = format!("{path}{POINTER_SUFFIX}");
    let abs = repo.abs(&pointer_path);
    match fs::symlink_metadata(&abs) {
        Ok(m) if m.is_file() => {}
        Ok(_) => return Ok(None),
        // A path below a file (`f.bin/x`) has no pointer either.
        Err(e)
            if matches!(
                e.kind(),
                std::io::ErrorKind::NotFound | std::io::ErrorKind::NotADirectory
            ) =>
        {
            return Ok(None);
        }
        Err(e) => return Err(Error::io(abs, e)),
    }
    let data = fs::read(&abs).at(&abs)?;
    let pointer = Pointer::decode(&data, &pointer_path)?;
    Ok(Some(Dataset {
        path: path.to_string(),
        pointer,
    }))
}

/// The tracked dataset that contains repository path `path` (a strict ancestor of it), if any.
pub fn enclosing_dataset(repo: &Repo, path: &str) -> Result<Option<Dataset>> {
    enclosing_dataset_in(&Source::WorkTree, repo, path)
}

fn enclosing_dataset_in(source: &Source<'_>, repo: &Repo, path: &str) -> Result<Option<Dataset>> {
    let mut cur = path;
    while !cur.is_empty() {
        let (parent, _) = split(cur);
        if !parent.is_empty()
            && let Some(d) = source.read_pointer(repo, parent)?
        {
            return Ok(Some(d));
        }
        cur = parent;
    }
    Ok(None)
}

/// Every dataset whose pointer file lies at or below folder `dir` (a repository path), sorted by path.
/// Does not descend into `.git`, `.dv` or tracked data folders.
pub fn find_datasets(repo: &Repo, dir: &str) -> Result<Vec<Dataset>> {
    let mut out = Vec::new();
    find_into(repo, &repo.abs(dir), dir, &mut out)?;
    out.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(out)
}

fn find_into(repo: &Repo, abs: &Path, dir: &str, out: &mut Vec<Dataset>) -> Result<()> {
    let mut subdirs = Vec::new();
    let mut tracked = std::collections::HashSet::new();
    for entry in fs::read_dir(abs).at(abs)? {
        let entry = entry.at(abs)?;
        let Ok(name) = entry.file_name().into_string() else {
            continue;
        };
        let ft = entry.file_type().at(abs.join(&name))?;
        if ft.is_dir() {
            if name != ".git" && !(dir.is_empty() && name == ".dv") {
                subdirs.push(name);
            }
        } else if ft.is_file()
            && let Some(data) = name.strip_suffix(POINTER_SUFFIX)
            && !data.is_empty()
        {
            let path = join(dir, data);
            if let Some(d) = read_pointer(repo, &path)? {
                tracked.insert(data.to_string());
                out.push(d);
            }
        }
    }
    for name in subdirs {
        if !tracked.contains(&name) {
            find_into(repo, &abs.join(&name), &join(dir, &name), out)?;
        }
    }
    Ok(())
}

/// Resolves what the user named: a pointer file, a tracked path, a path inside a tracked folder, or a folder
/// containing pointer files. No paths means every dataset. Pointers are read from `source`.
pub fn resolve_targets(repo: &Repo, source: &Source<'_>, paths: &[String]) -> Result<Vec<Target>> {
    if paths.is_empty() {
        return Ok(source
            .find_datasets(repo, "")?
            .into_iter()
            .map(|dataset| Target {
                dataset,
                scope: None,
            })
            .collect());
    }
    let mut out: Vec<Target> = Vec::new();
    for p in paths {
        let p = p.as_str();
        if let Some(data) = p.strip_suffix(POINTER_SUFFIX)
            && let Some(dataset) = source.read_pointer(repo, data)?
        {
            out.push(Target {
                dataset,
                scope: None,
            });
        } else if let Some(dataset) = source.read_pointer(repo, p)? {
            out.push(Target {
                dataset,
                scope: None,
            });
        } else if let Some(dataset) = enclosing_dataset_in(source, repo, p)? {
            out.push(Target {
                dataset,
                scope: Some(p.to_string()),
            });
        } else {
            let found = source.find_datasets(repo, p)?;
            if found.is_empty() {
                return Err(source.not_tracked(p));
            }
            out.extend(found.into_iter().map(|dataset| Target {
                dataset,
                scope: None,
            }));
        }
    }
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

fn display(p: &str) -> String {
    if p.is_empty() { ".".into() } else { p.into() }
}
