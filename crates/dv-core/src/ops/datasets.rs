//! Finding tracked datasets: pointer files in the work tree, and what the paths a user names refer to.

use std::fs;
use std::path::Path;

use crate::error::IoContext;
use crate::paths::{POINTER_SUFFIX, dataset_path_problem, is_within, join, split};
use crate::pointer::Pointer;
use crate::repo::Repo;
use crate::store::Store;
use crate::store::object::{Node, NodeKind};
use crate::{Error, Result};

/// A tracked path and the pointer file that describes it.
#[derive(Clone, Debug)]
pub struct Dataset {
    /// Repository path of the data (the pointer's path minus `.dv`).
    pub path: String,
    pub pointer: Pointer,
    /// The revision the pointer file was read at (as the user named it), or `None` for the work tree's.
    pub rev: Option<String>,
}

impl Dataset {
    /// The dataset that the pointer file of data path `path` describes, from the file's bytes `data` (`what`
    /// names the file in errors). The one way datasets are made from pointer files, wherever they are read
    /// (work tree, revision): a pointer file planted with a name such as `..dv` would make `.` or `..` a
    /// dataset, so `path` must pass [`dataset_path_problem`], or this is an error naming the pointer file.
    pub fn from_pointer(path: &str, data: &[u8], what: &str) -> Result<Dataset> {
        if let Some(why) = dataset_path_problem(path) {
            return Err(Error::format(
                what,
                format!("a pointer file cannot describe {path:?}: {why}"),
            ));
        }
        Ok(Dataset {
            path: path.to_string(),
            pointer: Pointer::decode(data, what)?,
            rev: None,
        })
    }

    pub fn pointer_path(&self) -> String {
        format!("{}{POINTER_SUFFIX}", self.path)
    }

    /// Which version this is, for messages: "revision 'v1'", or "the version 'data.dv' names".
    pub fn version(&self) -> String {
        match &self.rev {
            Some(rev) => format!("revision '{rev}'"),
            None => format!("the version '{}' names", self.pointer_path()),
        }
    }

    /// What this version holds at `path` (a repository path at or inside the dataset's), read from the
    /// cache's trees; a tree the cache lacks is [`Error::MissingObjects`].
    pub fn node_at(&self, store: &Store, path: &str) -> Result<InVersion> {
        let Some(rest) = path
            .strip_prefix(self.path.as_str())
            .filter(|r| r.is_empty() || r.starts_with('/'))
        else {
            return Ok(InVersion::Absent);
        };
        let mut node = self.pointer.node;
        let mut at = self.path.clone();
        for name in rest.split('/').filter(|n| !n.is_empty()) {
            if node.kind != NodeKind::Tree {
                return Ok(InVersion::BelowFile(at));
            }
            if !store.contains(&node.id)? {
                return Err(Error::MissingObjects {
                    path: at,
                    count: 1,
                    first: node.id,
                });
            }
            let tree = store.read_tree(&node.id)?;
            match tree.entries.iter().find(|e| e.name == name) {
                Some(e) => node = e.node,
                None => return Ok(InVersion::Absent),
            }
            at = join(&at, name);
        }
        Ok(InVersion::Node(node))
    }
}

/// What a version holds at a path: see [`Dataset::node_at`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum InVersion {
    Node(Node),
    Absent,
    /// Nothing, since this path above it is a file in the version.
    BelowFile(String),
}

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
    /// to resolve the conflict.
    #[serde(skip)]
    pub conflict: bool,
}

impl NotPointer {
    /// A file named like a pointer file whose bytes are no pointer file (`e` says why).
    fn unreadable(path: String, e: &Error) -> NotPointer {
        NotPointer {
            path,
            reason: e.to_string(),
            problem: PointerProblem::NotPointer,
            inside: None,
            conflict: false,
        }
    }

    /// A pointer file that cannot be read (`e` says why).
    fn malformed(path: String, e: &Error) -> NotPointer {
        NotPointer {
            path,
            reason: e.to_string(),
            problem: PointerProblem::Malformed,
            inside: None,
            conflict: matches!(e, Error::ConflictedPointer { .. }),
        }
    }

    /// True for what `status` and `fsck` report as a problem (a file that is no pointer file at all is not).
    pub fn is_problem(&self) -> bool {
        self.problem != PointerProblem::NotPointer
    }

    /// The pointer file `path`, which lies inside dataset `dataset`'s folder.
    fn nested(path: String, dataset: &str) -> NotPointer {
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

/// What the pointer file of a data path holds.
enum Found {
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

/// A dataset and, optionally, the part of it (a repository path inside it) an operation is limited to.
#[derive(Clone, Debug)]
pub struct Target {
    pub dataset: Dataset,
    pub scope: Option<String>,
}

impl Target {
    /// The rule for a path named inside a dataset that a command writes (checkout, pull): a named path limits
    /// what may be touched. The version must hold the path, so a folder at every level above it, and the work
    /// tree must not have a file (or link) at one of those levels: checking the path out would replace that
    /// file whole, and with it more than the path named. Either is an error naming the path that is in the way,
    /// checked before anything is planned.
    pub fn check_to_write(&self, repo: &Repo, store: &Store) -> Result<()> {
        let Some(scope) = &self.scope else {
            return Ok(());
        };
        let d = &self.dataset;
        let above = match d.node_at(store, scope)? {
            InVersion::Node(_) => None,
            InVersion::Absent => Some(None),
            InVersion::BelowFile(file) => Some(Some(file)),
        };
        if let Some(above) = above {
            return Err(Error::NotInVersion {
                path: scope.clone(),
                version: d.version(),
                above,
            });
        }
        let mut at = d.path.clone();
        let rest = scope[d.path.len()..].trim_start_matches('/');
        let mut names = rest.split('/').peekable();
        loop {
            let abs = repo.abs(&at);
            match fs::symlink_metadata(&abs) {
                Ok(m) if m.is_dir() => {}
                Ok(_) => {
                    return Err(Error::BlockedByFile {
                        path: scope.clone(),
                        version: d.version(),
                        blocker: at,
                    });
                }
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::NotFound | std::io::ErrorKind::NotADirectory
                    ) =>
                {
                    return Ok(());
                }
                Err(e) => return Err(Error::io(abs, e)),
            }
            match names.next() {
                // The last name is the path itself: what is there may be replaced.
                Some(name) if names.peek().is_some() => at = join(&at, name),
                _ => return Ok(()),
            }
        }
    }

    /// The rule for a path named inside a dataset that a command compares (status): the version or the work
    /// tree must hold it, else it is an error naming it (a typo must not read as "unchanged"). A version whose
    /// trees the cache lacks cannot tell, and passes.
    pub fn check_to_compare(&self, repo: &Repo, store: &Store) -> Result<()> {
        let Some(scope) = &self.scope else {
            return Ok(());
        };
        let d = &self.dataset;
        match d.node_at(store, scope) {
            Ok(InVersion::Node(_)) | Err(Error::MissingObjects { .. }) => Ok(()),
            Ok(_) if fs::symlink_metadata(repo.abs(scope)).is_ok() => Ok(()),
            Ok(_) => Err(Error::NotInVersion {
                path: scope.clone(),
                version: format!("{} or in the work tree", d.version()),
                above: None,
            }),
            Err(e) => Err(e),
        }
    }
}

/// The rule for paths named inside a dataset by a command that reads versions rather than the work tree
/// (`fetch`, `push`, `fsck`, `du`, `show`): the version of at least one target naming the path (a history
/// scope may have several) must hold it, else it is an error naming the path, as `checkout`
/// ([`Target::check_to_write`]) and `status` ([`Target::check_to_compare`]) refuse one: a typo must never pass
/// as done. A version whose trees the cache lacks (or cannot read) cannot tell, and passes (`fetch` asks once it
/// has them).
pub fn check_named_held(targets: &[Target], store: &Store) -> Result<()> {
    let mut scopes: Vec<&str> = targets.iter().filter_map(|t| t.scope.as_deref()).collect();
    scopes.sort_unstable();
    scopes.dedup();
    'scopes: for scope in scopes {
        let mut missing = None;
        for t in targets.iter().filter(|t| t.scope.as_deref() == Some(scope)) {
            match t.dataset.node_at(store, scope) {
                // A tree the cache lacks or cannot read: the command itself reports that (fsck as damage).
                Ok(InVersion::Node(_)) | Err(_) => continue 'scopes,
                Ok(InVersion::Absent | InVersion::BelowFile(_)) => {
                    missing.get_or_insert_with(|| t.dataset.version());
                }
            }
        }
        if let Some(version) = missing {
            return Err(Error::NotInVersion {
                path: scope.to_string(),
                version,
                above: None,
            });
        }
    }
    Ok(())
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

    fn find_pointer(&self, repo: &Repo, path: &str) -> Result<Found> {
        match self {
            Source::WorkTree => find_pointer(repo, path),
            Source::Rev { git, commit } => {
                let pointer_path = format!("{path}{POINTER_SUFFIX}");
                match git.file_at(commit, &pointer_path)? {
                    None => Ok(Found::None),
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

/// Reads the pointer file of data path `path` in the work tree, if there is one. A file there that is not a
/// pointer file is an error.
pub fn read_pointer(repo: &Repo, path: &str) -> Result<Option<Dataset>> {
    find_pointer(repo, path)?.named()
}

fn find_pointer(repo: &Repo, path: &str) -> Result<Found> {
    let pointer_path = format!("{path}{POINTER_SUFFIX}");
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

fn enclosing_dataset_in(source: &Source<'_>, repo: &Repo, path: &str) -> Result<Option<Dataset>> {
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

/// Resolves what the user named: a pointer file, a tracked path, a path inside a tracked folder, or a folder
/// containing pointer files. No paths means every dataset. Pointers are read from `source`.
/// A pointer file in scope that cannot be read is an error here (for commands that have no way to report it);
/// [`resolve_targets_noting`] hands it to the caller instead.
pub fn resolve_targets(repo: &Repo, source: &Source<'_>, paths: &[String]) -> Result<Vec<Target>> {
    let mut skipped = Vec::new();
    let targets = resolve_targets_noting(repo, source, paths, &mut skipped)?;
    refuse_malformed(&skipped)?;
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

/// The rule for what a pointer file may describe beyond a well-formed path ([`Dataset::from_pointer`]): data that
/// is dv's to write. A pointer file whose data path Git itself tracks (a `README.md.dv` planted beside a committed
/// `README.md`), or whose data path is another dataset's pointer file (`x.dv.dv` beside `x.dv`), would make
/// checkout replace Git's file with data and ignore it. Such a pointer file is malformed: it is added to `skipped`
/// (commands that write refuse it, see [`refuse_malformed`]; the others report it) and its target dropped. What
/// Git tracks is asked of the source: Git's index for the work tree (there, a folder holding anything the index
/// tracks is Git's as well, as `dv add` holds), the commit's tree for a revision (only the path itself: a
/// commit that once held a pointer file inside a folder must not stop `gc` over history forever). Whatever the
/// source, checkout never writes into a folder Git's index tracks anything in ([`super::checkout`]).
fn drop_not_dvs(
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
            (Source::Rev { git, commit }, _) => git.has_file_at(commit, path)?,
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

fn display(p: &str) -> String {
    if p.is_empty() { ".".into() } else { p.into() }
}
