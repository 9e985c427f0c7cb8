//! An open repository for the length of one operation: the dv repository, its cache (store and state
//! database) and, opened on first use, its Git repository. [`Session`] reads; [`Locked`] is the session while it
//! holds the cache's write lock, and every operation that writes the cache or the work tree takes a `&Locked`,
//! so "this operation holds the lock" is checked by the compiler rather than promised in a comment.
//!
//! ```no_run
//! # fn main() -> dv_core::Result<()> {
//! let repo = dv_core::repo::Repo::discover(std::path::Path::new("."))?;
//! let session = repo.open()?; // opens the cache
//! let locked = session.lock()?; // waits for another dv process to finish writing
//! let opts = dv_core::ops::add::AddOptions::default();
//! let report = dv_core::ops::add::add(&locked, &["data".into()], &opts, &dv_core::progress::NoProgress)?;
//! # let _ = report; Ok(()) }
//! ```

use std::cell::OnceCell;

use crate::Result;
use crate::git::GitRepo;
use crate::repo::{Lock, Repo};
use crate::store::Store;

/// A repository opened for reading: no lock is held, so another dv process may be writing the cache at the
/// same time (readers cope: packs are immutable once sealed and the state database is transactional).
pub struct Session {
    repo: Repo,
    store: Store,
    git: OnceCell<GitRepo>,
}

/// The cache's write lock, held by a [`Session`] until this value is dropped. It dereferences to the session,
/// so everything that reads takes a `&Locked` as well.
pub struct Locked<'s> {
    session: &'s Session,
    _lock: Lock,
}

impl Repo {
    /// Opens this repository's cache. The session reads; [`Session::lock`] makes it write.
    pub fn open(self) -> Result<Session> {
        let store = self.open_store()?;
        Ok(Session {
            repo: self,
            store,
            git: OnceCell::new(),
        })
    }
}

impl Session {
    pub fn repo(&self) -> &Repo {
        &self.repo
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    /// The Git repository of the work tree, opened on first use and kept for the rest of the session.
    pub fn git(&self) -> Result<&GitRepo> {
        if let Some(git) = self.git.get() {
            return Ok(git);
        }
        let git = GitRepo::open(&self.repo.root)?;
        Ok(self.git.get_or_init(|| git))
    }

    /// Takes the cache's write lock, waiting as [`Repo::lock_wait`] says (an OS lock, released with the process
    /// however it ends). Then the state database is brought up to date with the packs on disk again: another
    /// process (of another work tree sharing the cache, with its own database) may have written or deleted
    /// packs since the session opened, and a writer must start from what is there.
    pub fn lock(&self) -> Result<Locked<'_>> {
        let lock = self.repo.lock()?;
        self.store.reconcile()?;
        Ok(Locked {
            session: self,
            _lock: lock,
        })
    }
}

impl std::ops::Deref for Locked<'_> {
    type Target = Session;

    fn deref(&self) -> &Session {
        self.session
    }
}

impl Locked<'_> {
    /// The other work trees that use this cache (those recorded when they took its lock, and Git's work trees of
    /// this repository), each opened as a dv repository; asked with the lock held, as the
    /// list is only stable then. A recorded one whose folder is missing is [`Error::MissingCacheUser`](crate::Error::MissingCacheUser).
    pub fn cache_users(&self) -> Result<Vec<Repo>> {
        let users = self.session.repo.cache_users()?;
        if let Some((root, record)) = users.missing.into_iter().next() {
            return Err(crate::Error::MissingCacheUser { root, record });
        }
        Ok(users.repos)
    }
}
