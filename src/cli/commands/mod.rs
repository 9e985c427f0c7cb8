//! One file per command: its arguments (clap derive) and a `run` that calls the library and renders the result.

pub mod add;
pub mod checkout;
pub mod diff;
pub mod du;
pub mod fsck;
pub mod gc;
pub mod hooks;
pub mod init;
pub mod log;
pub mod meta;
pub mod remote;
pub mod run;
pub mod show;
pub mod status;
pub mod transfer;

use std::path::PathBuf;

use crate::Result;
use crate::repo::Repo;

/// Turns the paths a user typed into repository paths.
pub fn repo_paths(repo: &Repo, cwd: &std::path::Path, paths: &[PathBuf]) -> Result<Vec<String>> {
    paths
        .iter()
        .map(|p| crate::paths::to_repo_path(&repo.root, cwd, p))
        .collect()
}
