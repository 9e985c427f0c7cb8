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

    /// Records this work tree in its cache's list of users (the caller holds the lock).
    pub(super) fn register_user(&self) -> Result<()> {
        let file = self.user_file(&self.root);
        let text = format!("{}\n", self.root.display());
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
    /// only at times, a `cache.dir` changed since: what it put here may still be all it has); records of work
    /// trees that are gone (deleted, or no longer dv repositories) are pruned from the list. The caller holds
    /// the lock.
    pub(crate) fn cache_users(&self) -> Result<Vec<Repo>> {
        // (path, recorded here: the record's file)
        let mut candidates: Vec<(PathBuf, Option<PathBuf>)> = Vec::new();
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
                    let root = PathBuf::from(text.trim_end_matches('\n'));
                    candidates.push((root, Some(e.path())));
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(Error::io(dir, e)),
        }
        // A work tree Git still lists but whose folder is gone (moved, on an unmounted drive: Git calls it
        // prunable) may hold data only this cache has: its pointers cannot be read, so nothing is safe to
        // collect until it is back or pruned.
        for root in crate::git::GitRepo::open(&self.root)?.work_trees()? {
            if !root.exists() {
                return Err(Error::MissingWorkTree(root));
            }
            candidates.push((root, None));
        }
        let mine = self.cache_dir.canonicalize().ok();
        let me = self
            .root
            .canonicalize()
            .unwrap_or_else(|_| self.root.clone());
        let mut seen = std::collections::HashSet::new();
        let mut out = Vec::new();
        let mut gone = Vec::new();
        for (root, record) in candidates {
            let Ok(root) = root.canonicalize() else {
                gone.extend(record);
                continue;
            };
            if root == me || seen.contains(&root) {
                continue;
            }
            let mut other = match Repo::discover_with(&root, &self.settings) {
                Ok(r) => r,
                Err(Error::NotAGitRepo(_) | Error::NotInitialized(_)) => {
                    gone.extend(record);
                    continue;
                }
                Err(e) => return Err(e),
            };
            if other.root != root {
                gone.extend(record);
                continue;
            }
            if record.is_none() && other.cache_dir.canonicalize().ok() != mine {
                continue;
            }
            seen.insert(root);
            other.lock_wait = self.lock_wait.clone();
            other.settings = self.settings.clone();
            out.push(other);
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
