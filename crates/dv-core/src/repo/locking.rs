//! The cache's write lock: taking it (waiting for another process, naming the holder), and what taking it
//! cleans (temporary files that killed processes left, as their journals record them).

use std::fs::{self, File};
use std::path::{Path, PathBuf};

use super::{DV_DIR, LockHolder, Repo};
use crate::error::IoContext;
use crate::{Error, Result};

/// Holds the cache's write lock until dropped.
pub struct Lock {
    _file: File,
}

/// The default time [`Session::lock`](crate::session::Session::lock) waits for another dv process.
pub const DEFAULT_LOCK_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(60);

/// Called once when [`Session::lock`](crate::session::Session::lock) has to wait: the holder, and how long it will wait at most.
pub type OnLockWait = std::sync::Arc<dyn Fn(&LockHolder, std::time::Duration) + Send + Sync>;

/// How [`Session::lock`](crate::session::Session::lock) waits for a lock another process holds.
#[derive(Clone)]
pub struct LockWait {
    pub timeout: std::time::Duration,
    /// The command this process runs, recorded in the lock file for whoever waits (`gc`, `push`, …).
    pub command: String,
    pub on_wait: Option<OnLockWait>,
}

impl Default for LockWait {
    fn default() -> Self {
        LockWait {
            timeout: DEFAULT_LOCK_TIMEOUT,
            command: "dv".into(),
            on_wait: None,
        }
    }
}

impl Repo {
    /// The file whose advisory lock guards the cache: `lock` inside the cache folder, so every work tree (and
    /// later every repository) that shares a cache shares its lock.
    pub fn lock_path(&self) -> PathBuf {
        self.cache_dir.join("lock")
    }

    /// Takes the write lock of the cache this work tree uses, waiting up to `lock_wait.timeout` for another dv
    /// process to release it (calling `lock_wait.on_wait` once with the holder when it has to wait). The lock
    /// is released when the process exits, however it exits, so a crash never leaves a stale lock. Holding it,
    /// this work tree is recorded as a user of the cache (see [`Repo::cache_users`]).
    pub(crate) fn lock(&self) -> Result<Lock> {
        fs::create_dir_all(&self.cache_dir).at(&self.cache_dir)?;
        let path = self.lock_path();
        let file = fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .at(&path)?;
        let started = std::time::Instant::now();
        let mut told = false;
        loop {
            match file.try_lock() {
                Ok(()) => break,
                Err(fs::TryLockError::WouldBlock) => {
                    let holder = LockHolder::read(&path);
                    let waited = started.elapsed();
                    if waited >= self.lock_wait.timeout {
                        return Err(Error::Locked {
                            path,
                            holder,
                            waited,
                        });
                    }
                    if !told {
                        if let Some(f) = &self.lock_wait.on_wait {
                            f(&holder, self.lock_wait.timeout);
                        }
                        told = true;
                    }
                    let left = self.lock_wait.timeout - waited;
                    std::thread::sleep(left.min(std::time::Duration::from_millis(50)));
                }
                Err(fs::TryLockError::Error(e)) => return Err(Error::io(path, e)),
            }
        }
        // Name the holder for whoever waits (the lock itself is the flock, not this text).
        {
            use std::io::{Seek, Write};
            let mut f = &file;
            let _ = f.set_len(0);
            let _ = f.seek(std::io::SeekFrom::Start(0));
            let _ = write!(
                f,
                "pid {}\ncommand {}\nwork_tree {}\n",
                std::process::id(),
                self.lock_wait.command,
                self.root.display()
            );
        }
        let lock = Lock { _file: file };
        // The temporary files that killed dv processes made beside files Git may see (the cache being on
        // another file system) go now, as recorded: every command that writes the work tree takes this lock,
        // and a read-only one (status) never removes anything there.
        crate::fsutil::remove_recorded_temps(&self.cache_dir.join("tmp"), || self.journal_scope())?;
        // A registry read through a mirror has no work tree to keep data for.
        if !self.is_source() {
            self.register_user()?;
        }
        Ok(lock)
    }

    /// Where a journal of this cache may name temporary files: this work tree and the others that use its
    /// cache, resolved (only this one when those cannot be listed: a leftover then stays, which loses nothing);
    /// and the journals Git tracks in the work tree holding the cache, which are never read. The caller holds
    /// the lock.
    fn journal_scope(&self) -> crate::fsutil::JournalScope {
        let mut roots = vec![
            self.root
                .canonicalize()
                .unwrap_or_else(|_| self.root.clone()),
        ];
        if let Ok(users) = self.cache_users() {
            roots.extend(users.repos.into_iter().map(|u| u.root));
        }
        crate::fsutil::JournalScope {
            roots,
            tracked: self.tracked_journals(),
        }
    }

    /// The files Git tracks in the cache's `tmp/` (a commit brought them): journals there are never read.
    fn tracked_journals(&self) -> Vec<PathBuf> {
        // The cache is `<work tree>/.dv/cache`: this one's or the main work tree's. When Git's index cannot be
        // read, the rule for each entry still holds.
        let tmp = format!("{DV_DIR}/cache/tmp");
        self.cache_dir
            .parent()
            .and_then(Path::parent)
            .and_then(|holder| {
                let paths = crate::git::GitRepo::open(holder)
                    .and_then(|g| g.tracked_under(&tmp))
                    .ok()?;
                Some(paths.into_iter().map(|p| holder.join(p)).collect())
            })
            .unwrap_or_default()
    }

    /// The temporary files of dv's that the journals of this cache record in this work tree
    /// (`fsutil::recorded_temps`), as repository paths: made beside the data when the cache is on another file
    /// system, by a running command or by a killed one (whose leftovers the next command that takes the lock
    /// removes). Read without the lock and writing nothing, so `dv status` can skip them.
    pub fn recorded_temps(&self) -> Result<std::collections::HashSet<String>> {
        let root = self
            .root
            .canonicalize()
            .unwrap_or_else(|_| self.root.clone());
        let temps = crate::fsutil::recorded_temps(&self.cache_dir.join("tmp"), || {
            crate::fsutil::JournalScope {
                roots: vec![root.clone()],
                tracked: self.tracked_journals(),
            }
        })?;
        Ok(temps
            .iter()
            .filter_map(|p| p.strip_prefix(&root).ok()?.to_str().map(str::to_string))
            .collect())
    }
}
