//! One file per command: its arguments (clap derive) and a `run` that calls the library and renders the result.

pub mod add;
pub mod checkout;
pub mod completions;
pub mod config;
pub mod diff;
pub mod du;
pub mod format;
pub mod fsck;
pub mod gc;
pub mod hooks;
pub mod init;
pub mod log;
pub mod merge;
pub mod meta;
pub mod migrate;
pub mod registry;
pub mod remote;
pub mod run;
pub mod show;
pub mod status;
pub mod transfer;

use std::path::PathBuf;

use dv_core::Result;
use dv_core::repo::Repo;

/// Warns when Git's sparse checkout would remove `.dv/` (and the cache in it, the only copy of unpushed data):
/// said by the commands that put data into the cache or look at the repository as a whole.
pub fn warn_sparse_checkout(s: &dv_core::session::Session) {
    if s.git().is_ok_and(|g| g.sparse_checkout_drops_dv()) {
        errln!(
            "warning: sparse checkout is on and its patterns leave out .dv/: Git deletes folders outside them, \
             ignored files included, and with .dv/cache the only copy of data not pushed yet; keep it with \
             `git sparse-checkout add .dv`"
        );
    }
}

/// Turns the paths a user typed into repository paths.
pub fn repo_paths(repo: &Repo, cwd: &std::path::Path, paths: &[PathBuf]) -> Result<Vec<String>> {
    paths
        .iter()
        .map(|p| dv_core::paths::to_repo_path(&repo.root, cwd, p))
        .collect()
}

/// Before a command writes datasets into the work tree (checkout, pull): the ignore lines it will add after,
/// checked now (a `.gitignore` that is a link is refused before any data is written). Each dataset whose
/// `.gitignore` lacks its line gets it, so Git never offers to commit the data of a pointer renamed with
/// `git mv` (or written by hand). The caller holds the cache lock.
pub fn plan_ignores(
    repo: &Repo,
    targets: &[dv_core::ops::datasets::Target],
) -> Result<dv_core::ops::ignore::IgnorePlan> {
    let data: Vec<_> = targets
        .iter()
        .map(|t| dv_core::ops::ignore::DataPath::of(&t.dataset))
        .collect();
    dv_core::ops::ignore::IgnorePlan::new(repo, &data)
}

/// After the command wrote the datasets: adds the lines [`plan_ignores`] found missing, saying where.
pub fn ignore_datasets(
    g: &super::Global,
    repo: &Repo,
    plan: dv_core::ops::ignore::IgnorePlan,
) -> Result<()> {
    for file in plan.apply(repo)? {
        super::output::status_line(
            g.quiet,
            &format!("Added the data's ignore line to {file} (commit it with Git)."),
        );
    }
    Ok(())
}

/// Warns when `.gitattributes` asks for dv's merge driver and this clone has not registered it (Git
/// configuration does not travel with a clone): Git would merge pointer files as text.
pub fn warn_merge_driver(g: &super::Global, repo: &Repo) {
    let missing = dv_core::git::GitRepo::open(&repo.root)
        .and_then(|git| dv_core::ops::hooks::merge_driver_missing(repo, &git));
    if missing.unwrap_or(false) {
        super::output::status_line(
            g.quiet,
            "warning: .gitattributes asks for dv's merge driver for pointer files, which this clone has not \
             registered: run `dv install`",
        );
    }
}

/// Opens a remote (the default one for `None`), and says so when that created a folder remote's folder (only
/// writing does).
pub fn open_remote(
    g: &super::Global,
    repo: &Repo,
    name: Option<&str>,
    access: dv_core::remote::Access,
) -> Result<dv_core::remote::Remote> {
    let remote = dv_core::remote::Remote::open(repo, name, access)?;
    // A committed endpoint is the commit author's choice of server, which then receives the user's signed
    // writes (and sees their access key id): said on every push, until the user confirms it (or chooses
    // another) in their own `.dv/config.local.toml`.
    if access == dv_core::remote::Access::Write
        && let Some(e) = remote.endpoint.as_ref().filter(|e| e.committed)
    {
        super::output::status_line(
            g.quiet,
            &format!(
                "warning: remote '{}' sends your requests to {}, an endpoint set in the committed \
                 .dv/config.toml; to confirm it (and silence this), set `endpoint` under [remote.{}] in \
                 .dv/config.local.toml",
                remote.name,
                dv_core::redact::redact(&e.url),
                remote.name
            ),
        );
    }
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
