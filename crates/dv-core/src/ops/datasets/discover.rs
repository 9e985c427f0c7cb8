//! Finding pointer files: in the work tree (a walk that never enters `.git`, `.dv` or a dataset's folder) or
//! at a revision, the pointer of one data path, and the dataset enclosing a path.

use std::fs;
use std::path::Path;

use super::{Dataset, NotPointer, PointerProblem};
use crate::error::IoContext;
use crate::paths::{POINTER_SUFFIX, dataset_path_problem, is_within, join, split};
use crate::pointer::Pointer;
use crate::repo::Repo;
use crate::{Error, Result};

/// What the pointer file of a data path holds.
pub(super) enum Found {
    None,
    Dataset(Dataset),
    /// A file is there, but it is not a pointer file (the error reading it as one).
    NotPointer(Error),
    /// A pointer file that cannot be read (damaged, a newer format, a path no dataset may have).
    Malformed(Error),
}

impl Found {
    /// A pointer file's bytes: a dataset, an error, or (for bytes that are no pointer file at all) not one.
    fn of(path: &str, data: &[u8], what: &str) -> Result<Found> {
        match Dataset::from_pointer(path, data, what) {
            Ok(d) => Ok(Found::Dataset(d)),
            Err(e) if !Pointer::looks_like(data) => Ok(Found::NotPointer(e)),
            Err(e) => Ok(Found::Malformed(e)),
        }
    }

    /// A dataset read at revision `rev` says so.
    fn at_rev(self, rev: &str) -> Found {
        match self {
            Found::Dataset(mut d) => {
                d.rev = Some(rev.to_string());
                Found::Dataset(d)
            }
            other => other,
        }
    }

    /// For a path the user named: a file that is not a pointer is an error.
    fn named(self) -> Result<Option<Dataset>> {
        match self {
            Found::None => Ok(None),
            Found::Dataset(d) => Ok(Some(d)),
            Found::NotPointer(e) | Found::Malformed(e) => Err(e),
        }
    }

    /// For a path dv looks at on its own (a parent folder's pointer): a file that is not a pointer is none.
    fn lenient(self) -> Option<Dataset> {
        match self {
            Found::Dataset(d) => Some(d),
            _ => None,
        }
    }
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
        self.find_pointer(repo, path)?.named()
    }

    pub(super) fn find_pointer(&self, repo: &Repo, path: &str) -> Result<Found> {
        match self {
            Source::WorkTree => find_pointer(repo, path),
            Source::Rev { git, commit } => {
                let pointer_path = format!("{path}{POINTER_SUFFIX}");
                match git.file_at(commit, &pointer_path)? {
                    // A commit from before `dv migrate dvc/lfs --all-commits`: its DVC record or LFS pointer
                    // file, if the map has it.
                    None => Ok(match dvc_pointer_at(repo, git, commit, path)? {
                        Found::None => lfs_pointer_at(repo, git, commit, path)?,
                        found => found,
                    }),
                    Some(data) => {
                        Found::of(path, &data, &format!("{pointer_path} at {}", commit.rev))
                            .map(|f| f.at_rev(&commit.rev))
                    }
                }
            }
        }
    }

    /// Every dataset at or below folder `dir`, sorted by path. Files named like pointer files that are not
    /// pointer files are skipped and added to `skipped`.
    pub fn find_datasets(
        &self,
        repo: &Repo,
        dir: &str,
        skipped: &mut Vec<NotPointer>,
    ) -> Result<Vec<Dataset>> {
        match self {
            Source::WorkTree => {
                if repo.abs(dir).is_dir() {
                    find_datasets_noting(repo, dir, skipped)
                } else {
                    Ok(Vec::new())
                }
            }
            Source::Rev { git, commit } => {
                let mut out: Vec<Dataset> = Vec::new();
                let mut not_pointers = Vec::new();
                for (pointer_path, data) in git.files_with_suffix_at(commit, dir, POINTER_SUFFIX)? {
                    let path = pointer_path
                        .strip_suffix(POINTER_SUFFIX)
                        .unwrap_or_default();
                    // `.dv` (at the root, dv's own folder) is not searched, as in the work tree.
                    if split(&pointer_path).1 == POINTER_SUFFIX || is_within(&pointer_path, ".dv") {
                        continue;
                    }
                    // Pointers inside a tracked folder are no datasets (a dataset's folder holds only its data);
                    // they are reported, so checkout does not replace them unasked.
                    if let Some(d) = out.iter().find(|d| is_within(path, &d.path)) {
                        skipped.push(NotPointer::nested(pointer_path.clone(), &d.path));
                        continue;
                    }
                    let what = format!("{pointer_path} at {}", commit.rev);
                    match Found::of(path, &data, &what)?.at_rev(&commit.rev) {
                        Found::Dataset(d) => out.push(d),
                        Found::NotPointer(e) => not_pointers.push((pointer_path, e)),
                        Found::Malformed(e) => {
                            skipped.push(NotPointer::malformed(pointer_path, &e))
                        }
                        Found::None => {}
                    }
                }
                // A `*.dv` file that is itself tracked data (its own pointer is `NAME.dv.dv`) is not skipped.
                for (pointer_path, e) in not_pointers {
                    if !out.iter().any(|d| is_within(&pointer_path, &d.path)) {
                        skipped.push(NotPointer::unreadable(pointer_path, &e));
                    }
                }
                // The DVC outputs of a commit from before `dv migrate dvc --all-commits`, where no pointer
                // file is (or holds, or lies in) them.
                let mut not_migrated = Vec::new();
                for d in migrated_datasets_at(repo, git, commit, dir, &mut not_migrated)? {
                    if !out
                        .iter()
                        .any(|x| is_within(&d.path, &x.path) || is_within(&x.path, &d.path))
                    {
                        out.push(d);
                    }
                }
                for n in not_migrated {
                    let path = n.path.strip_suffix(POINTER_SUFFIX).unwrap_or_default();
                    if !out
                        .iter()
                        .any(|x| is_within(path, &x.path) || is_within(&x.path, path))
                    {
                        skipped.push(n);
                    }
                }
                out.sort_by(|a, b| a.path.cmp(&b.path));
                Ok(out)
            }
        }
    }

    /// The dataset at `path` or holding it (a strict ancestor), if any.
    pub fn dataset_holding(&self, repo: &Repo, path: &str) -> Result<Option<Dataset>> {
        if let Some(d) = self.find_pointer(repo, path)?.lenient() {
            return Ok(Some(d));
        }
        enclosing_dataset_in(self, repo, path)
    }

    pub(super) fn not_tracked(&self, path: &str) -> Error {
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

/// A dataset the maps of a migration with `--all-commits` make of another tool's record at `commit`, as what
/// the pointer file lookup finds: a dataset, a version not migrated (an error that names it), or none.
fn found_of(mapped: crate::migrate::Mapped, path: &str, commit: &crate::git::Commit) -> Found {
    match mapped {
        crate::migrate::Mapped::Pointer(pointer) => Found::Dataset(Dataset {
            path: path.to_string(),
            pointer: *pointer,
            rev: Some(commit.rev.clone()),
        }),
        crate::migrate::Mapped::Missing(why) => Found::Malformed(not_migrated(path, commit, &why)),
        crate::migrate::Mapped::NotData => Found::None,
    }
}

fn not_migrated(path: &str, commit: &crate::git::Commit, why: &str) -> Error {
    Error::NotMigrated {
        message: format!(
            "'{}' at {}: dv cannot restore this version: {why}",
            display(path),
            commit.rev
        ),
    }
}

/// The dataset DVC recorded at `path` in `commit` (its `PATH.dvc` file, or the `dvc.lock` of a folder above
/// it), as the DVC map (`.dv/dvc-map`, written by `dv migrate dvc --all-commits`) turns it into a pointer.
/// None without a map or a record; a version the map lacks is a [`Found::Malformed`] naming it.
fn dvc_pointer_at(
    repo: &Repo,
    git: &crate::git::GitRepo,
    commit: &crate::git::Commit,
    path: &str,
) -> Result<Found> {
    let Some(map) = crate::migrate::map::DvcMap::load(repo)? else {
        return Ok(Found::None);
    };
    Ok(match crate::migrate::map::record_at(git, commit, path)? {
        Some(o) => found_of(map.lookup(&o), path, commit),
        None => Found::None,
    })
}

/// The dataset an LFS pointer file at `path` in `commit` stands for, through the LFS map (`.dv/lfs-map`,
/// written by `dv migrate lfs --all-commits`). None without a map or such a file; a version the map lacks is
/// a [`Found::Malformed`] naming it.
pub(super) fn lfs_pointer_at(
    repo: &Repo,
    git: &crate::git::GitRepo,
    commit: &crate::git::Commit,
    path: &str,
) -> Result<Found> {
    let Some(map) = crate::migrate::lfs::LfsMap::load(repo)? else {
        return Ok(Found::None);
    };
    if dataset_path_problem(path).is_some() {
        return Ok(Found::None);
    }
    Ok(match git.file_at(commit, path)? {
        Some(data) => found_of(map.lookup(&data), path, commit),
        None => Found::None,
    })
}

/// Every dataset the maps make of the records at or below `dir` in `commit` (LFS pointer files, then DVC
/// records, see [`dvc_pointer_at`] and [`lfs_pointer_at`]), those inside another left out. A version not
/// migrated is added to `skipped` instead.
fn migrated_datasets_at(
    repo: &Repo,
    git: &crate::git::GitRepo,
    commit: &crate::git::Commit,
    dir: &str,
    skipped: &mut Vec<NotPointer>,
) -> Result<Vec<Dataset>> {
    let mut found: Vec<(String, crate::migrate::Mapped)> = Vec::new();
    if let Some(map) = crate::migrate::map::DvcMap::load(repo)? {
        let mut problems = Vec::new();
        for (o, _) in crate::migrate::map::outputs_at(git, commit, dir, &mut problems)? {
            found.push((o.path.clone(), map.lookup(&o)));
        }
    }
    if let Some(map) = crate::migrate::lfs::LfsMap::load(repo)? {
        let max = crate::migrate::lfs::MAX_LFS_POINTER as u64;
        for (path, data) in git.small_blobs_at(commit, dir, max)? {
            if dataset_path_problem(&path).is_none() {
                found.push((path, map.lookup(&data)));
            }
        }
    }
    let mut out: Vec<Dataset> = Vec::new();
    let mut held: Vec<String> = Vec::new();
    for (path, mapped) in found {
        if matches!(mapped, crate::migrate::Mapped::NotData)
            || held
                .iter()
                .any(|h| is_within(&path, h) || is_within(h, &path))
        {
            continue;
        }
        held.push(path.clone());
        match found_of(mapped, &path, commit) {
            Found::Dataset(d) => out.push(d),
            Found::Malformed(e) => skipped.push(NotPointer::not_migrated(
                format!("{path}{POINTER_SUFFIX}"),
                &e,
            )),
            _ => {}
        }
    }
    Ok(out)
}

/// Reads the pointer file of data path `path` in the work tree, if there is one. A file there that is not a
/// pointer file is an error.
pub fn read_pointer(repo: &Repo, path: &str) -> Result<Option<Dataset>> {
    find_pointer(repo, path)?.named()
}

fn find_pointer(repo: &Repo, path: &str) -> Result<Found> {
    let pointer_path = format!("{path}{POINTER_SUFFIX}");
    // A folder on the way that is a link would read (and then write) a pointer outside the repository.
    crate::paths::check_no_linked_parents(&repo.root, &pointer_path)?;
    let abs = repo.abs(&pointer_path);
    match fs::symlink_metadata(&abs) {
        Ok(m) if m.is_file() => {}
        Ok(_) => return Ok(Found::None),
        // A path below a file (`f.bin/x`) has no pointer either.
        Err(e)
            if matches!(
                e.kind(),
                std::io::ErrorKind::NotFound | std::io::ErrorKind::NotADirectory
            ) =>
        {
            return Ok(Found::None);
        }
        Err(e) => return Err(Error::io(abs, e)),
    }
    let data = fs::read(&abs).at(&abs)?;
    Found::of(path, &data, &pointer_path)
}

/// The tracked dataset that contains repository path `path` (a strict ancestor of it), if any.
pub fn enclosing_dataset(repo: &Repo, path: &str) -> Result<Option<Dataset>> {
    enclosing_dataset_in(&Source::WorkTree, repo, path)
}

pub(super) fn enclosing_dataset_in(
    source: &Source<'_>,
    repo: &Repo,
    path: &str,
) -> Result<Option<Dataset>> {
    let mut cur = path;
    while !cur.is_empty() {
        let (parent, _) = split(cur);
        if !parent.is_empty()
            && let Some(d) = source.find_pointer(repo, parent)?.lenient()
        {
            return Ok(Some(d));
        }
        cur = parent;
    }
    Ok(None)
}

/// Every dataset whose pointer file lies at or below folder `dir` (a repository path), sorted by path.
/// Does not descend into `.git`, `.dv` or tracked data folders. Files named like pointer files that are not
/// pointer files are skipped.
pub fn find_datasets(repo: &Repo, dir: &str) -> Result<Vec<Dataset>> {
    find_datasets_noting(repo, dir, &mut Vec::new())
}

fn find_datasets_noting(
    repo: &Repo,
    dir: &str,
    skipped: &mut Vec<NotPointer>,
) -> Result<Vec<Dataset>> {
    let mut out = Vec::new();
    find_into(repo, &repo.abs(dir), dir, &mut out, skipped)?;
    out.sort_by(|a, b| a.path.cmp(&b.path));
    note_nested_pointers(repo, &out, skipped)?;
    skipped.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(out)
}

/// Adds to `skipped` every pointer file inside the folder of one of `datasets` that Git's index tracks (one
/// committed there on another branch, or added with `git add -f`): discovery does not descend into a dataset's
/// folder, so such a file is no dataset, but it is Git's, and checkout must not replace it unasked. Files there
/// that Git does not track are simply data.
fn note_nested_pointers(
    repo: &Repo,
    datasets: &[Dataset],
    skipped: &mut Vec<NotPointer>,
) -> Result<()> {
    let folders: Vec<&Dataset> = datasets
        .iter()
        .filter(|d| d.pointer.node.kind == crate::store::object::NodeKind::Tree)
        .collect();
    if folders.is_empty() {
        return Ok(());
    }
    let git = crate::git::GitRepo::open(&repo.root)?;
    for path in git.tracked_with_suffix(POINTER_SUFFIX)? {
        if let Some(d) = folders.iter().find(|d| is_within(&path, &d.path))
            && path != d.pointer_path()
            && repo.abs(&path).is_file()
        {
            skipped.push(NotPointer::nested(path, &d.path));
        }
    }
    skipped.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(())
}

fn find_into(
    repo: &Repo,
    abs: &Path,
    dir: &str,
    out: &mut Vec<Dataset>,
    skipped: &mut Vec<NotPointer>,
) -> Result<()> {
    let mut subdirs = Vec::new();
    let mut tracked = std::collections::HashSet::new();
    let mut not_pointers = Vec::new();
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
            match find_pointer(repo, &join(dir, data))? {
                Found::Dataset(d) => {
                    tracked.insert(data.to_string());
                    out.push(d);
                }
                Found::NotPointer(e) => not_pointers.push((name, e)),
                Found::Malformed(e) => skipped.push(NotPointer::malformed(join(dir, &name), &e)),
                Found::None => {}
            }
        }
    }
    // A `*.dv` file that is itself tracked data (its pointer is `NAME.dv.dv`) is not skipped: it is data. One
    // whose data path exists (`X.dv` beside `X`) may be that dataset's damaged pointer file (emptied, garbage, or
    // re-encoded): a problem, so that gc never collects X's data as unreachable.
    for (name, e) in not_pointers {
        if !tracked.contains(&name) {
            let path = join(dir, &name);
            let data = name.strip_suffix(POINTER_SUFFIX).unwrap_or_default();
            if fs::symlink_metadata(abs.join(data)).is_ok() {
                skipped.push(NotPointer {
                    reason: format!(
                        "{e}; '{}' beside it may be its data, so it is taken for a damaged pointer file",
                        join(dir, data)
                    ),
                    path,
                    problem: PointerProblem::Malformed,
                    inside: None,
                    conflict: false,
                });
            } else {
                skipped.push(NotPointer::unreadable(path, &e));
            }
        }
    }
    for name in subdirs {
        if !tracked.contains(&name) {
            find_into(repo, &abs.join(&name), &join(dir, &name), out, skipped)?;
        }
    }
    Ok(())
}

fn display(p: &str) -> String {
    if p.is_empty() { ".".into() } else { p.into() }
}
