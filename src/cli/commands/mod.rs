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

/// Opens a remote (the default one for `None`), and says so when that created a folder remote's folder.
pub fn open_remote(
    g: &super::Global,
    repo: &Repo,
    name: Option<&str>,
) -> Result<crate::remote::Remote> {
    let remote = crate::remote::Remote::open(repo, name)?;
    if let Some(dir) = &remote.created_folder {
        super::output::status_line(
            g.quiet,
            &format!(
                "Created the folder {} for remote '{}'.",
                dir.display(),
                remote.name
            ),
        );
    }
    Ok(remote)
}
