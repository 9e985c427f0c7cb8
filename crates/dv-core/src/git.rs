//! Everything dv asks of Git goes through this module (and through `gix`).
//!
//! Long as the whole Git boundary: one `GitRepo` over `gix`, so every Git question dv asks reads in one place.

use std::path::{Path, PathBuf};

use crate::error::Source;
use crate::{Error, Result};

/// A Git work tree, and for a linked work tree (`git worktree add`) the main one.
pub struct WorkTree {
    /// The work tree root, canonical.
    pub root: PathBuf,
    /// The main work tree of the repository, when `root` is a linked work tree of a non-bare repository.
    pub main: Option<PathBuf>,
}

/// Finds the Git work tree that contains `dir`.
pub fn discover_work_tree(dir: &Path) -> Result<WorkTree> {
    use gix::discover::upwards::Error as E;
    let (path, _trust) =
        gix::discover::upwards(dir).map_err(|e| match e.downcast_any_ref::<E>() {
            Some(
                E::NoGitRepository { .. }
                | E::NoGitRepositoryWithinCeiling { .. }
                | E::NoGitRepositoryWithinFs { .. },
            ) => Error::NotAGitRepo(dir.to_path_buf()),
            _ => git_err(dir, e),
        })?;
    let linked = matches!(path, gix::discover::repository::Path::LinkedWorkTree { .. });
    let (git_dir, work_tree) = path.into_repository_and_work_tree_directories();
    let work_tree = work_tree.ok_or_else(|| Error::Git {
        path: git_dir.clone(),
        message: "this is a bare repository: dv needs a work tree".into(),
        source: None,
    })?;
    let absolute = |p: PathBuf| if p.is_absolute() { p } else { dir.join(p) };
    let abs = absolute(work_tree);
    let root = abs.canonicalize().map_err(|e| Error::io(abs, e))?;
    // A linked work tree's Git folder is `<common>/worktrees/<name>`; the main work tree holds `<common>` as `.git`.
    let main = if linked {
        let common = absolute(git_dir)
            .parent()
            .and_then(Path::parent)
            .map(Path::to_path_buf);
        common
            .filter(|c| c.file_name().is_some_and(|n| n == ".git"))
            .and_then(|c| c.parent().map(Path::to_path_buf))
            .and_then(|m| m.canonicalize().ok())
    } else {
        None
    };
    Ok(WorkTree { root, main })
}

/// An opened Git repository (through gix).
pub struct GitRepo {
    repo: gix::Repository,
}

/// gix's error `e` about `path`, kept as the error's source.
fn git_err(path: &Path, e: impl std::error::Error + Send + Sync + 'static) -> Error {
    Error::git(path, e)
}

/// What Git's index tracks: see [`GitRepo::tracked`].
pub struct Tracked {
    /// `None` in a repository that has no index yet.
    index: Option<gix::index::File>,
}

impl Tracked {
    /// Every path Git's index tracks at or below repository path `path` (`""`: everywhere), in index order.
    pub fn under<'a>(&'a self, path: &'a str) -> impl Iterator<Item = String> + 'a {
        let entries: &[gix::index::Entry] = match &self.index {
            None => &[],
            // The index is sorted by path: the entries starting with `path` are one run of it (`data2/x` is in
            // the run of `data` and filtered out below).
            Some(index) => index
                .prefixed_entries(path.as_bytes().into())
                .unwrap_or_default(),
        };
        let index = self.index.as_ref();
        entries.iter().filter_map(move |e| {
            let p = std::str::from_utf8(e.path(index?)).ok()?;
            crate::paths::is_within(p, path).then(|| p.to_string())
        })
    }

    /// True when Git's index tracks `path` itself or anything below it.
    pub fn holds(&self, path: &str) -> bool {
        self.under(path).next().is_some()
    }

    /// True when Git's index tracks the file (or link) `path` itself.
    pub fn tracks(&self, path: &str) -> bool {
        self.index
            .as_ref()
            .is_some_and(|index| index.entry_by_path(path.as_bytes().into()).is_some())
    }
}

/// What `dv log` shows of a commit.
#[derive(Clone, Debug, serde::Serialize)]
pub struct CommitInfo {
    pub id: String,
    pub author: String,
    pub email: String,
    /// Seconds since the Unix epoch.
    pub time: i64,
    pub offset_seconds: i32,
    pub summary: String,
}

/// A commit, resolved from a revision the user named.
#[derive(Clone, Debug)]
pub struct Commit {
    pub id: gix::ObjectId,
    /// The revision as the user wrote it, for messages.
    pub rev: String,
}

impl GitRepo {
    pub fn open(work_tree: &Path) -> Result<GitRepo> {
        let repo = gix::open(work_tree).map_err(|e| git_err(work_tree, e))?;
        Ok(GitRepo { repo })
    }

    /// Every work tree of this repository that Git knows: the main one (unless the repository is bare) and
    /// each linked one (`git worktree add`), whether or not its folder still exists.
    pub fn work_trees(&self) -> Result<Vec<PathBuf>> {
        let path = self.repo.git_dir().to_path_buf();
        let mut out = Vec::new();
        let main = self.repo.main_repo().map_err(|e| git_err(&path, e))?;
        if let Some(w) = main.workdir() {
            out.push(w.to_path_buf());
        }
        for proxy in self.repo.worktrees().map_err(|e| git_err(&path, e))? {
            if let Ok(base) = proxy.base() {
                out.push(base);
            }
        }
        Ok(out)
    }

    /// True when sparse checkout is on for this work tree and its patterns leave `.dv/` out. Git then removes
    /// the folder, ignored files included (cone mode clears every folder outside the cone), and with it the
    /// cache: the only copy of data not pushed yet.
    pub fn sparse_checkout_drops_dv(&self) -> bool {
        let on = self
            .repo
            .config_snapshot()
            .boolean("core.sparseCheckout")
            .unwrap_or(false);
        if !on {
            return false;
        }
        let patterns =
            std::fs::read_to_string(self.repo.git_dir().join("info").join("sparse-checkout"))
                .unwrap_or_default();
        !patterns.lines().map(str::trim).any(|l| {
            let l = l.trim_end_matches('/');
            l == "/.dv" || l == ".dv" || l == "/.dv/*" || l == "*"
        })
    }

    /// The Git folder that linked work trees share (`.git` of the main work tree).
    pub fn common_dir(&self) -> &Path {
        self.repo.common_dir()
    }

    /// The folder Git runs hooks from: `core.hooksPath` if set, else `hooks/` in the common Git folder.
    pub fn hooks_dir(&self, work_tree: &Path) -> PathBuf {
        let configured = self
            .repo
            .config_snapshot()
            .string("core.hooksPath")
            .map(|v| PathBuf::from(v.to_string()));
        match configured {
            Some(p) if p.is_absolute() => p,
            Some(p) => work_tree.join(p),
            None => self.repo.common_dir().join("hooks"),
        }
    }

    /// Resolves a revision (commit id, branch, tag, `HEAD~3`, …) to a commit.
    pub fn resolve(&self, rev: &str) -> Result<Commit> {
        let bad = |message: String, source: Source| Error::BadRevision {
            rev: rev.to_string(),
            message,
            source: Some(source),
        };
        let id = self
            .repo
            .rev_parse_single(rev)
            .map_err(|e| bad(e.to_string(), Box::new(e)))?;
        let commit = id
            .object()
            .map_err(|e| bad(e.to_string(), Box::new(e)))?
            .peel_to_commit()
            .map_err(|e| bad(format!("does not name a commit: {e}"), Box::new(e)))?;
        Ok(Commit {
            id: commit.id,
            rev: rev.to_string(),
        })
    }

    fn tree_of(&self, commit: &Commit) -> Result<gix::Tree<'_>> {
        let bad = |e: gix::Error| Error::BadRevision {
            rev: commit.rev.clone(),
            message: e.to_string(),
            source: Some(Box::new(e)),
        };
        self.repo
            .find_commit(commit.id)
            .map_err(bad)?
            .tree()
            .map_err(bad)
    }

    /// The content of the file at repository path `path` in `commit`, or `None` if there is no file there.
    pub fn file_at(&self, commit: &Commit, path: &str) -> Result<Option<Vec<u8>>> {
        let tree = self.tree_of(commit)?;
        let entry = tree
            .lookup_entry_by_path(path)
            .map_err(|e| git_err(Path::new(path), e))?;
        match entry {
            Some(e) if e.mode().is_blob() => {
                let obj = e.object().map_err(|e| git_err(Path::new(path), e))?;
                Ok(Some(obj.data.clone()))
            }
            _ => Ok(None),
        }
    }

    /// The commit HEAD points at, or `None` in a repository without commits.
    pub fn head(&self) -> Result<Option<Commit>> {
        match self.repo.head_id() {
            Ok(id) => Ok(Some(Commit {
                id: id.detach(),
                rev: "HEAD".into(),
            })),
            Err(_) if self.repo.head().map(|h| h.is_unborn()).unwrap_or(false) => Ok(None),
            Err(e) => Err(git_err(self.repo.git_dir(), e)),
        }
    }

    /// Commits reachable from `start`, newest first, each with its parents.
    pub fn history(&self, start: &Commit) -> Result<Vec<(gix::ObjectId, Vec<gix::ObjectId>)>> {
        use gix::revision::walk::Sorting;
        let walk = self
            .repo
            .rev_walk([start.id])
            .sorting(Sorting::ByCommitTime(Default::default()))
            .all()
            .map_err(|e| git_err(self.repo.git_dir(), e))?;
        let mut out = Vec::new();
        for info in walk {
            let info = info.map_err(|e| git_err(self.repo.git_dir(), e))?;
            out.push((info.id, info.parent_ids.iter().copied().collect()));
        }
        Ok(out)
    }

    /// The parents of commit `id`, first parent first.
    pub fn parents(&self, id: gix::ObjectId) -> Result<Vec<gix::ObjectId>> {
        let c = self
            .repo
            .find_commit(id)
            .map_err(|e| git_err(self.repo.git_dir(), e))?;
        Ok(c.parent_ids().map(|p| p.detach()).collect())
    }

    /// The commits at the tips of the branches, local (`refs/heads/*`) and remote-tracking (`refs/remotes/*`:
    /// a branch another clone pushed is as much a branch as a local one), or (`all_refs`) of every reference
    /// (tags too), and at HEAD, each named by its reference and each commit once; references that do not lead
    /// to a commit are skipped.
    pub fn ref_tips(&self, all_refs: bool) -> Result<Vec<Commit>> {
        let err = |e: gix::Error| git_err(self.repo.git_dir(), e);
        let platform = self.repo.references().map_err(err)?;
        let mut refs = Vec::new();
        if all_refs {
            refs.extend(platform.all().map_err(err)?);
        } else {
            refs.extend(platform.local_branches().map_err(err)?);
            refs.extend(platform.remote_branches().map_err(err)?);
        }
        let mut out: Vec<Commit> = Vec::new();
        for r in refs {
            let mut r = r.map_err(err)?;
            let name = r.name().as_bstr().to_string();
            if let Ok(c) = r.peel_to_commit()
                && !out.iter().any(|o| o.id == c.id)
            {
                out.push(Commit {
                    id: c.id,
                    rev: name,
                });
            }
        }
        if let Some(head) = self.head()?
            && !out.iter().any(|c| c.id == head.id)
        {
            out.push(head);
        }
        Ok(out)
    }

    /// Every commit reachable from any reference or HEAD, each once.
    pub fn all_commits(&self) -> Result<Vec<Commit>> {
        let tips = self.ref_tips(true)?;
        if tips.is_empty() {
            return Ok(Vec::new());
        }
        let walk = self
            .repo
            .rev_walk(tips.iter().map(|c| c.id))
            .all()
            .map_err(|e| git_err(self.repo.git_dir(), e))?;
        let mut out = Vec::new();
        for info in walk {
            let info = info.map_err(|e| git_err(self.repo.git_dir(), e))?;
            out.push(Commit {
                id: info.id,
                rev: info.id.to_string(),
            });
        }
        Ok(out)
    }

    /// What every stash entry (`git stash list`: `refs/stash` and its reflog) holds: for each entry, newest
    /// first, the stash commit (its tree is the work tree's tracked files as stashed), its index commit
    /// (second parent: what was staged) and, for `git stash -u`, its untracked-files commit (third parent),
    /// named `stash@{N}`, `stash@{N}^2`, `stash@{N}^3`, each commit once. The first parent (the HEAD the stash
    /// was made on) is a commit like any other and not included. Empty without stashes.
    pub fn stash_entries(&self) -> Result<Vec<Commit>> {
        let git_dir = self.repo.git_dir();
        let Some(reference) = self
            .repo
            .try_find_reference("refs/stash")
            .map_err(|e| git_err(git_dir, e))?
        else {
            return Ok(Vec::new());
        };
        let mut stashes: Vec<gix::ObjectId> = Vec::new();
        // `refs/stash` itself is stash@{0}, even were its reflog missing.
        if let Some(id) = reference.target().try_id() {
            stashes.push(id.to_owned());
        }
        let mut log = reference.log_iter();
        if let Some(lines) = log.rev().map_err(|e| git_err(git_dir, e))? {
            for (n, line) in lines.enumerate() {
                let line = line.map_err(|e| git_err(git_dir, e))?;
                // The newest line names what `refs/stash` does.
                if n == 0 && stashes.first() == Some(&line.new_oid) {
                    continue;
                }
                stashes.push(line.new_oid);
            }
        }
        let mut out: Vec<Commit> = Vec::new();
        for (n, id) in stashes.into_iter().enumerate() {
            let name = format!("stash@{{{n}}}");
            let mut add = |id: gix::ObjectId, rev: String| {
                if !out.iter().any(|c| c.id == id) {
                    out.push(Commit { id, rev });
                }
            };
            // An entry that is no commit (a dropped one whose objects Git pruned) holds nothing to keep.
            let Ok(commit) = self.repo.find_commit(id) else {
                continue;
            };
            add(id, name.clone());
            for (i, parent) in commit.parent_ids().enumerate().skip(1) {
                add(parent.detach(), format!("{name}^{}", i + 1));
            }
        }
        Ok(out)
    }

    /// The blob id of the file at `path` in commit `id`, if there is one.
    pub fn blob_id_at(&self, id: gix::ObjectId, path: &str) -> Result<Option<gix::ObjectId>> {
        Ok(self
            .entry_at(id, path)?
            .filter(|e| e.mode().is_blob())
            .map(|e| e.object_id()))
    }

    /// The entry at repository path `path` in commit `id`'s tree, if there is one.
    fn entry_at(
        &self,
        id: gix::ObjectId,
        path: &str,
    ) -> Result<Option<gix::object::tree::Entry<'_>>> {
        let tree = self
            .repo
            .find_commit(id)
            .and_then(|c| c.tree())
            .map_err(|e| git_err(self.repo.git_dir(), e))?;
        tree.lookup_entry_by_path(path)
            .map_err(|e| git_err(Path::new(path), e))
    }

    /// The size of blob `id`, read from its header (the blob is not read).
    pub fn blob_size(&self, id: gix::ObjectId) -> Result<u64> {
        Ok(self
            .repo
            .find_header(id)
            .map_err(|e| git_err(self.repo.git_dir(), e))?
            .size())
    }

    pub fn blob(&self, id: gix::ObjectId) -> Result<Vec<u8>> {
        Ok(self
            .repo
            .find_object(id)
            .map_err(|e| git_err(self.repo.git_dir(), e))?
            .data
            .clone())
    }

    /// Author, time and message of a commit.
    pub fn commit_info(&self, id: gix::ObjectId) -> Result<CommitInfo> {
        let err = |e: gix::Error| git_err(self.repo.git_dir(), e);
        let c = self.repo.find_commit(id).map_err(err)?;
        let author = c.author().map_err(err)?;
        let time = author.time().map_err(|e| git_err(self.repo.git_dir(), e))?;
        let summary = c.message().map_err(err)?.summary().to_string();
        Ok(CommitInfo {
            id: id.to_string(),
            author: author.name.to_string(),
            email: author.email.to_string(),
            time: time.seconds,
            offset_seconds: time.offset,
            summary,
        })
    }

    /// Every file in `commit` whose repository path ends with `suffix` and lies at or below `dir`.
    pub fn files_with_suffix_at(
        &self,
        commit: &Commit,
        dir: &str,
        suffix: &str,
    ) -> Result<Vec<(String, Vec<u8>)>> {
        self.blobs_at(commit, dir, |path, _| Ok(path.ends_with(suffix)))
    }

    /// Every file in `commit` at or below `dir` whose blob is at most `max` bytes, with its bytes (for finding
    /// git-lfs pointer files at a revision without reading every large blob).
    pub fn small_blobs_at(
        &self,
        commit: &Commit,
        dir: &str,
        max: u64,
    ) -> Result<Vec<(String, Vec<u8>)>> {
        self.blobs_at(commit, dir, |path, oid| {
            let header = self
                .repo
                .find_header(oid)
                .map_err(|e| git_err(Path::new(path), e))?;
            Ok(header.size() <= max)
        })
    }

    /// Every file in `commit` at or below `dir` that `want` (given its path and blob id) keeps, with its
    /// bytes, sorted by path.
    fn blobs_at(
        &self,
        commit: &Commit,
        dir: &str,
        mut want: impl FnMut(&str, gix::ObjectId) -> Result<bool>,
    ) -> Result<Vec<(String, Vec<u8>)>> {
        let tree = self.tree_of(commit)?;
        let records = tree
            .traverse()
            .breadthfirst
            .files()
            .map_err(|e| git_err(Path::new(dir), e))?;
        let mut out = Vec::new();
        for r in records {
            if !r.mode.is_blob() {
                continue;
            }
            let Ok(path) = std::str::from_utf8(&r.filepath) else {
                continue;
            };
            if crate::paths::is_within(path, dir) && want(path, r.oid)? {
                out.push((path.to_string(), self.blob(r.oid)?));
            }
        }
        out.sort();
        Ok(out)
    }

    /// Git's index, or None in a repository that has none yet (nothing staged ever).
    fn index(&self) -> Result<Option<gix::index::File>> {
        let index_path = self.repo.index_path();
        if !index_path.exists() {
            return Ok(None);
        }
        let index = self
            .repo
            .open_index()
            .map_err(|e| git_err(&index_path, e))?;
        Ok(Some(index))
    }

    /// A value of Git's configuration as this repository sees it (its own, the user's, the system's).
    pub fn config_string(&self, key: &str) -> Option<String> {
        self.repo
            .config_snapshot()
            .string(key)
            .map(|v| v.to_string())
    }

    /// For a file a merge left in conflict: the blob ids Git's index keeps of its base, our and their
    /// versions (`None` where that side has none); `None` when the file is not in conflict.
    pub fn conflict_stages(&self, path: &str) -> Result<Option<[Option<gix::ObjectId>; 3]>> {
        use gix::index::entry::Stage;
        let Some(index) = self.index()? else {
            return Ok(None);
        };
        let key: &gix::bstr::BStr = path.into();
        let stages = [Stage::Base, Stage::Ours, Stage::Theirs]
            .map(|st| index.entry_by_path_and_stage(key, st).map(|e| e.id));
        Ok(stages.iter().any(Option::is_some).then_some(stages))
    }

    /// Puts back the three versions of a merge conflict at repository path `path` that `git add` settled by
    /// accident, from the record Git keeps of them (`git update-index --unresolve`); true when they are back.
    pub fn unresolve(&self, path: &str) -> Result<bool> {
        let Some(root) = self.repo.workdir() else {
            return Ok(false);
        };
        let out = std::process::Command::new("git")
            .current_dir(root)
            .args(["update-index", "--unresolve", "--", path])
            .stdin(std::process::Stdio::null())
            .output()
            .map_err(|e| Error::Internal(format!("cannot run git update-index: {e}")))?;
        Ok(out.status.success() && self.conflict_stages(path)?.is_some())
    }

    /// The first path Git's index tracks at or below repository path `path`, if any.
    pub fn first_tracked_under(&self, path: &str) -> Result<Option<String>> {
        Ok(self.tracked()?.under(path).next())
    }

    /// Git's index, read once, for asking what it tracks (each question a binary search, not a scan).
    pub fn tracked(&self) -> Result<Tracked> {
        Ok(Tracked {
            index: self.index()?,
        })
    }

    /// True when commit `commit` holds a file (or a link, or a submodule) at repository path `path`: not a
    /// folder.
    pub fn has_file_at(&self, commit: &Commit, path: &str) -> Result<bool> {
        Ok(self
            .entry_at(commit.id, path)?
            .is_some_and(|e| !e.mode().is_tree()))
    }

    /// Every path Git's index tracks at or below repository path `path`.
    pub fn tracked_under(&self, path: &str) -> Result<Vec<String>> {
        Ok(self.tracked()?.under(path).collect())
    }

    /// Every path Git's index tracks that ends with `suffix`.
    pub fn tracked_with_suffix(&self, suffix: &str) -> Result<Vec<String>> {
        let Some(index) = self.index()? else {
            return Ok(Vec::new());
        };
        Ok(index
            .entries()
            .iter()
            .map(|e| e.path(&index))
            .filter(|p| p.ends_with(suffix.as_bytes()))
            .filter_map(|p| std::str::from_utf8(p).ok().map(str::to_string))
            .collect())
    }

    /// The lock file Git takes to change the index (`index.lock` beside it; a linked work tree has its own).
    fn index_lock_path(&self) -> PathBuf {
        let mut p = self.repo.index_path().into_os_string();
        p.push(".lock");
        PathBuf::from(p)
    }

    /// Takes Git's index lock, as `git add` does: refused, naming the lock file, while another process holds
    /// it (or a crashed one left it). Dropping the lock without committing removes it.
    fn lock_index(&self) -> Result<gix::lock::File> {
        use gix::lock::acquire::Fail;
        gix::lock::File::acquire_to_update_resource(
            self.repo.index_path(),
            Fail::Immediately,
            None,
            0,
        )
        .map_err(|e| {
            let lock = self.index_lock_path();
            if lock.symlink_metadata().is_ok() {
                Error::IndexLocked { lock }
            } else {
                git_err(&lock, e)
            }
        })
    }

    /// Checks, before a command writes anything it will stage, that staging can succeed: Git's index can be
    /// locked now (the lock is taken and released at once) and Git ignores none of `paths` (repository paths
    /// of files to stage; see [`GitRepo::check_not_ignored`]). A command that stages calls this before it
    /// writes the files, so a refusal leaves nothing half-done.
    pub fn check_stageable(&self, paths: &[String]) -> Result<()> {
        drop(self.lock_index()?);
        self.check_not_ignored(paths)
    }

    /// Refuses to stage a path Git ignores and does not track (Git itself would need `git add -f`), naming the
    /// rule and where it is written: a pointer file the user told Git to ignore is not dv's to commit.
    pub fn check_not_ignored(&self, paths: &[String]) -> Result<()> {
        if paths.is_empty() {
            return Ok(());
        }
        let mut ignores = self.ignores()?;
        for path in paths {
            if ignores.is_tracked(path) {
                continue;
            }
            if let Some(rule) = ignores.rule_for(path, false)?
                && !rule.negated
            {
                return Err(Error::IgnoredByGit {
                    path: path.clone(),
                    rule: rule.to_string(),
                });
            }
        }
        Ok(())
    }

    /// Git's ignore rules as `git check-ignore` applies them: `.gitignore` files of the work tree,
    /// `info/exclude` and `core.excludesFile`.
    pub fn ignores(&self) -> Result<Ignores<'_>> {
        let index = self
            .repo
            .index_or_empty()
            .map_err(|e| git_err(&self.repo.index_path(), e))?;
        let stack = self
            .repo
            .excludes(
                &index,
                None,
                gix::worktree::stack::state::ignore::Source::WorktreeThenIdMappingIfNotSkipped,
            )
            .map_err(|e| git_err(self.repo.git_dir(), e))?;
        let root = self
            .repo
            .workdir()
            .map(Path::to_path_buf)
            .unwrap_or_default();
        Ok(Ignores { stack, index, root })
    }

    /// Stages files of the work tree in Git's index, as `git add` would: writes each file's blob and
    /// updates (or creates) its index entry. `paths` are repository paths. Git's index lock is held from
    /// reading the index to writing it; a path Git ignores and does not track is refused (see
    /// [`GitRepo::check_not_ignored`]). Every command that stages goes through here.
    pub fn stage(&self, work_tree: &Path, paths: &[String]) -> Result<()> {
        use gix::bstr::BStr;
        use gix::index::entry::{Flags, Mode, Stage, Stat};
        use std::io::Write;
        let lock = self.lock_index()?;
        self.check_not_ignored(paths)?;
        let index_path = self.repo.index_path();
        let mut index = if index_path.exists() {
            self.repo
                .open_index()
                .map_err(|e| git_err(&index_path, e))?
        } else {
            gix::index::File::from_state(
                gix::index::State::new(self.repo.object_hash()),
                index_path.clone(),
            )
        };
        for path in paths {
            let abs = work_tree.join(path);
            // Never through a link: staging a link's target would put whatever it names into Git.
            let data = crate::fsutil::read_own(&abs)?.ok_or_else(|| {
                Error::io(&abs, std::io::Error::from(std::io::ErrorKind::NotFound))
            })?;
            let id = self
                .repo
                .write_blob(&data)
                .map_err(|e| git_err(&abs, e))?
                .detach();
            let meta = gix::index::fs::Metadata::from_path_no_follow(&abs)
                .map_err(|e| Error::io(&abs, e))?;
            let stat = Stat::from_fs(&meta).unwrap_or_default();
            let mode = if meta.is_executable() {
                Mode::FILE_EXECUTABLE
            } else {
                Mode::FILE
            };
            let key: &BStr = path.as_str().into();
            // Staging a file settles a merge conflict on it, as `git add` does: its base, ours and theirs
            // entries go (left beside a new entry, Git would read the index as broken).
            if [Stage::Base, Stage::Ours, Stage::Theirs]
                .iter()
                .any(|&st| index.entry_by_path_and_stage(key, st).is_some())
            {
                index.remove_entries(|_, p, e| p == key && e.stage() != Stage::Unconflicted);
            }
            match index.entry_mut_by_path_and_stage(key, Stage::Unconflicted) {
                Some(entry) => {
                    entry.id = id;
                    entry.stat = stat;
                    entry.mode = mode;
                }
                None => {
                    index.dangerously_push_entry(stat, id, Flags::empty(), mode, key);
                    index.sort_entries();
                }
            }
        }
        // gix does not update the cached-tree extension; a stale one could make Git commit old trees.
        index.remove_tree();
        let lock_path = self.index_lock_path();
        let mut out = std::io::BufWriter::with_capacity(64 * 1024, lock);
        index
            .write_to(&mut out, gix::index::write::Options::default())
            .map_err(|e| git_err(&lock_path, e))?;
        out.flush().map_err(|e| Error::io(&lock_path, e))?;
        let lock = out
            .into_inner()
            .map_err(|e| Error::io(&lock_path, e.into_error()))?;
        lock.commit().map_err(|e| git_err(&index_path, e))?;
        Ok(())
    }
}

impl GitRepo {
    /// The files Git's index tracks whose blob is at most `max` bytes, with their blob's bytes (for finding
    /// git-lfs pointer files without reading every large blob).
    pub fn small_blobs_in_index(&self, max: u64) -> Result<Vec<(String, Vec<u8>)>> {
        let Some(index) = self.index()? else {
            return Ok(Vec::new());
        };
        let mut out = Vec::new();
        for e in index.entries() {
            if !(e.mode == gix::index::entry::Mode::FILE
                || e.mode == gix::index::entry::Mode::FILE_EXECUTABLE)
                || e.stage() != gix::index::entry::Stage::Unconflicted
            {
                continue;
            }
            let Ok(path) = std::str::from_utf8(e.path(&index)) else {
                continue;
            };
            let header = self
                .repo
                .find_header(e.id)
                .map_err(|err| git_err(Path::new(path), err))?;
            if header.size() <= max {
                out.push((path.to_string(), self.blob(e.id)?));
            }
        }
        Ok(out)
    }

    /// Removes the entries of `paths` (repository paths of files deleted from the work tree) from Git's index,
    /// as `git rm --cached` would; paths the index lacks are left alone. Git's index lock is held throughout.
    pub fn remove_from_index(&self, paths: &[String]) -> Result<()> {
        use std::io::Write;
        let lock = self.lock_index()?;
        let index_path = self.repo.index_path();
        if !index_path.exists() {
            return Ok(());
        }
        let mut index = self
            .repo
            .open_index()
            .map_err(|e| git_err(&index_path, e))?;
        let gone: std::collections::HashSet<&[u8]> = paths.iter().map(|p| p.as_bytes()).collect();
        index.remove_entries(|_, p, _| {
            let p: &[u8] = p.as_ref();
            gone.contains(p)
        });
        index.remove_tree();
        let lock_path = self.index_lock_path();
        let mut out = std::io::BufWriter::with_capacity(64 * 1024, lock);
        index
            .write_to(&mut out, gix::index::write::Options::default())
            .map_err(|e| git_err(&lock_path, e))?;
        out.flush().map_err(|e| Error::io(&lock_path, e))?;
        let lock = out
            .into_inner()
            .map_err(|e| Error::io(&lock_path, e.into_error()))?;
        lock.commit().map_err(|e| git_err(&index_path, e))?;
        Ok(())
    }
}

/// A rule of Git's ignore files that matches a path.
#[derive(Clone, Debug)]
pub struct IgnoreRule {
    /// The pattern as Git reads it (`!/d`, `data/`).
    pub pattern: String,
    /// Where it is written: a repository path, or the path of a file outside the work tree.
    pub source: String,
    /// Its line in that file (1-based).
    pub line: usize,
    /// A negation (`!…`): the path is not ignored.
    pub negated: bool,
}

impl std::fmt::Display for IgnoreRule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "'{}' at {}:{}", self.pattern, self.source, self.line)
    }
}

/// Git's ignore rules, for asking about paths one by one ([`GitRepo::ignores`]).
pub struct Ignores<'r> {
    stack: gix::AttributeStack<'r>,
    index: gix::worktree::Index,
    root: PathBuf,
}

impl Ignores<'_> {
    /// The rule that decides whether Git ignores repository path `path` (a folder when `is_dir`), as `git
    /// check-ignore -v` finds it: the last matching pattern, or the one that ignores a folder above it (which
    /// no rule below can undo). `None` when no rule matches: Git does not ignore it.
    pub fn rule_for(&mut self, path: &str, is_dir: bool) -> Result<Option<IgnoreRule>> {
        let mode = is_dir.then_some(gix::index::entry::Mode::DIR);
        let platform = self
            .stack
            .at_entry(path, mode)
            .map_err(|e| git_err(Path::new(path), e))?;
        Ok(platform.matching_exclude_pattern().map(|m| {
            let source = match m.source {
                Some(s) => match s.strip_prefix(&self.root) {
                    Ok(rel) => rel.to_string_lossy().into_owned(),
                    Err(_) => s.display().to_string(),
                },
                None => "?".into(),
            };
            IgnoreRule {
                pattern: m.pattern.to_string(),
                source,
                line: m.sequence_number,
                negated: m.pattern.is_negative(),
            }
        }))
    }

    /// True when Git's index tracks the file `path` (ignore rules do not apply to it then).
    pub fn is_tracked(&self, path: &str) -> bool {
        let key: &gix::bstr::BStr = path.as_bytes().into();
        self.index.entry_by_path(key).is_some()
    }
}
