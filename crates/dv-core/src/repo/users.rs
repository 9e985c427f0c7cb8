//! The work trees that share a cache: each records itself when it takes the cache's lock, and Git lists its
//! own work trees; gc and repairs read every one of them before they delete anything.

use std::fs;
use std::path::{Path, PathBuf};

use super::Repo;
use crate::error::IoContext;
use crate::{Error, Result};

impl Repo {
    /// The folder of the cache's list of the work trees that use it: one file each, named by a hash of the
    /// work tree's path and holding that path.
    fn users_dir(&self) -> PathBuf {
        self.cache_dir.join("worktrees")
    }

    fn user_file(&self, root: &Path) -> PathBuf {
        let hash = blake3::hash(root.as_os_str().as_encoded_bytes());
        self.users_dir().join(&hash.to_hex().as_str()[..16])
    }

    /// Records this work tree in its cache's list of users (the caller holds the lock): its root, then its Git
    /// repository's common folder (which tells, once the work tree is gone, whether it was a linked work tree of
    /// a repository that still knows it).
    pub(super) fn register_user(&self) -> Result<()> {
        let file = self.user_file(&self.root);
        let common = crate::git::GitRepo::open(&self.root)
            .ok()
            .and_then(|g| g.common_dir().canonicalize().ok());
        let text = match common {
            Some(c) => format!("{}\n{}\n", self.root.display(), c.display()),
            None => format!("{}\n", self.root.display()),
        };
        if fs::read(&file).ok().as_deref() != Some(text.as_bytes()) {
            let dir = self.users_dir();
            fs::create_dir_all(&dir).at(&dir)?;
            // In the cache's tmp/ too, so a killed run's temporary file is cleaned with the rest.
            self.write_file(&file, text.as_bytes())?;
        }
        Ok(())
    }

    /// The other work trees that use this work tree's cache: those recorded in the cache's list (when they
    /// took its lock) and Git's work trees of this repository (main and linked) that use it, each opened as a
    /// dv repository. A recorded work tree counts whichever cache its settings name now (a `DV_CACHE_DIR` set
    /// only at times, a `cache.dir` changed since: what it put here may still be all it has).
    ///
    /// A record is dropped only when that is safe: it was a linked work tree of this repository that Git no
    /// longer lists (`git worktree remove`; one-line records from before shared caches were all such). A
    /// recorded work tree that cannot be read as recorded otherwise (its folder moved, empty as an unmounted
    /// drive's mount point, its `.git` or `.dv` moved aside) is in `missing`: what only it names cannot be
    /// told, and gc refuses until it is back or its record is deleted. The caller holds the lock.
    pub(crate) fn cache_users(&self) -> Result<CacheUsers> {
        // (path, the record's file and the Git common folder it names, if recorded here)
        let mut candidates: Vec<(PathBuf, Option<Record>)> = Vec::new();
        let dir = self.users_dir();
        match fs::read_dir(&dir) {
            Ok(entries) => {
                for e in entries {
                    let e = e.at(&dir)?;
                    let name = e.file_name();
                    if name.to_str().is_some_and(crate::fsutil::is_temp_name) {
                        continue;
                    }
                    let text = fs::read_to_string(e.path()).at(e.path())?;
                    let mut lines = text.lines();
                    let root = PathBuf::from(lines.next().unwrap_or(""));
                    let common = lines.next().filter(|l| !l.is_empty()).map(PathBuf::from);
                    candidates.push((root, Some((e.path(), common))));
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(Error::io(dir, e)),
        }
        // A work tree Git still lists but whose folder is gone (moved, on an unmounted drive: Git calls it
        // prunable) may hold data only this cache has: its pointers cannot be read, so nothing is safe to
        // collect until it is back or pruned.
        let git = crate::git::GitRepo::open(&self.root)?;
        let listed = git.work_trees()?;
        let mine_common = git.common_dir().canonicalize().ok();
        for root in &listed {
            if !root.exists() {
                return Err(Error::MissingWorkTree(root.clone()));
            }
            candidates.push((root.clone(), None));
        }
        let mine = self.cache_dir.canonicalize().ok();
        let me = self
            .root
            .canonicalize()
            .unwrap_or_else(|_| self.root.clone());
        let mut seen = std::collections::HashSet::new();
        let mut out = CacheUsers::default();
        let mut gone = Vec::new();
        // A record may go only when its work tree was a linked one of this repository that Git no longer lists
        // (`git worktree remove`), or it is a one-line record from before caches were shared (all such).
        let forgettable = |root: &Path, common: &Option<PathBuf>| match common {
            None => true,
            Some(c) => mine_common.as_ref() == Some(c) && !listed.iter().any(|l| l == root),
        };
        for (root, record) in candidates {
            // What the record names cannot be read as it was recorded: forgotten when that is safe, else missing.
            let mut unreadable = |root: PathBuf, record: Option<Record>, out: &mut CacheUsers| {
                if let Some((file, common)) = record {
                    if forgettable(&root, &common) {
                        gone.push(file);
                    } else {
                        out.missing.push((root, file));
                    }
                }
            };
            let Ok(canonical) = root.canonicalize() else {
                unreadable(root, record, &mut out);
                continue;
            };
            let root = canonical;
            if root == me || seen.contains(&root) {
                continue;
            }
            let mut other = match Repo::discover_with(&root, &self.settings) {
                Ok(r) => r,
                // Emptied (a drive's mount point), its `.git` or `.dv` moved aside: not readable now.
                Err(Error::NotAGitRepo(_) | Error::NotInitialized(_)) => {
                    unreadable(root, record, &mut out);
                    continue;
                }
                Err(e) => return Err(e),
            };
            if other.root != root {
                unreadable(root, record, &mut out);
                continue;
            }
            if record.is_none() && other.cache_dir.canonicalize().ok() != mine {
                continue;
            }
            seen.insert(root);
            other.lock_wait = self.lock_wait.clone();
            other.settings = self.settings.clone();
            out.repos.push(other);
        }
        for file in gone {
            match fs::remove_file(&file) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(Error::io(file, e)),
            }
        }
        Ok(out)
    }
}

/// A record of the cache's list: its file, and the Git common folder it names (none in an older record).
type Record = (PathBuf, Option<PathBuf>);

/// The other users of a cache: see [`Repo::cache_users`].
#[derive(Default)]
pub(crate) struct CacheUsers {
    pub repos: Vec<Repo>,
    /// Recorded users whose folder is missing (root, record file): nothing they name can be known.
    pub missing: Vec<(PathBuf, PathBuf)>,
}
