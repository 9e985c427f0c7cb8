//! Everything dv asks of Git goes through this module (and through `gix`).

use std::path::{Path, PathBuf};

use crate::{Error, Result};

/// Finds the root of the Git work tree that contains `dir`.
pub fn discover_work_tree(dir: &Path) -> Result<PathBuf> {
    use gix::discover::upwards::Error as E;
    let (path, _trust) =
        gix::discover::upwards(dir).map_err(|e| match e.downcast_any_ref::<E>() {
            Some(
                E::NoGitRepository { .. }
                | E::NoGitRepositoryWithinCeiling { .. }
                | E::NoGitRepositoryWithinFs { .. },
            ) => Error::NotAGitRepo(dir.to_path_buf()),
            _ => Error::Git {
                path: dir.to_path_buf(),
                message: e.to_string(),
            },
        })?;
    let (git_dir, work_tree) = path.into_repository_and_work_tree_directories();
    let work_tree = work_tree.ok_or_else(|| Error::Git {
        path: git_dir.clone(),
        message: "this is a bare repository: dv needs a work tree".into(),
    })?;
    let abs = if work_tree.is_absolute() {
        work_tree
    } else {
        dir.join(work_tree)
    };
    abs.canonicalize().map_err(|e| Error::io(abs, e))
}

/// An opened Git repository (through gix).
pub struct GitRepo {
    repo: gix::Repository,
}

fn git_err(path: &Path, e: impl std::fmt::Display) -> Error {
    Error::Git {
        path: path.to_path_buf(),
        message: e.to_string(),
    }
}

impl GitRepo {
    pub fn open(work_tree: &Path) -> Result<GitRepo> {
        let repo = gix::open(work_tree).map_err(|e| git_err(work_tree, e))?;
        Ok(GitRepo { repo })
    }

    /// The first path Git's index tracks at or below repository path `path`, if any.
    pub fn first_tracked_under(&self, path: &str) -> Result<Option<String>> {
        let index_path = self.repo.index_path();
        if !index_path.exists() {
            return Ok(None);
        }
        let index = self
            .repo
            .open_index()
            .map_err(|e| git_err(&index_path, e))?;
        let prefix = format!("{path}/");
        for e in index.entries() {
            let p = e.path(&index);
            if p == path.as_bytes() || p.starts_with(prefix.as_bytes()) {
                return Ok(Some(String::from_utf8_lossy(p).into_owned()));
            }
        }
        Ok(None)
    }

    /// Stages files of the work tree in Git's index, as `git add` would: writes each file's blob and
    /// updates (or creates) its index entry. `paths` are repository paths.
    pub fn stage(&self, work_tree: &Path, paths: &[String]) -> Result<()> {
        use gix::bstr::BStr;
        use gix::index::entry::{Flags, Mode, Stage, Stat};
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
            let data = std::fs::read(&abs).map_err(|e| Error::io(&abs, e))?;
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
        index
            .write(gix::index::write::Options::default())
            .map_err(|e| git_err(&index_path, e))?;
        Ok(())
    }
}
