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
