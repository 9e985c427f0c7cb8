use super::super::{Global, Outcome, output};
use dv_core::Result;
use dv_core::ops::hooks::HookAction;

/// Install Git hooks that run `dv checkout` after `git checkout` of a branch and after `git merge`/`pull`, and
/// dv's merge driver for pointer files.
///
/// Existing hooks are kept: dv adds a marked block to them and `dv uninstall` removes only that block. The
/// merge driver is registered in this clone's Git configuration, and `.gitattributes` (commit it) asks for it
/// for every `*.dv` file, so that `git merge` merges datasets path by path (see `dv merge-driver --help`).
#[derive(clap::Args)]
pub struct InstallArgs {
    /// Print the result as JSON.
    #[arg(long)]
    json: bool,
}

/// Remove the hooks `dv install` added, leaving the rest of each hook as it was, and the merge driver from this
/// clone's Git configuration.
#[derive(clap::Args)]
pub struct UninstallArgs {
    /// Print the result as JSON.
    #[arg(long)]
    json: bool,
}

pub fn install(g: &Global, args: InstallArgs) -> Result<Outcome> {
    let repo = g.repo()?;
    let git = dv_core::git::GitRepo::open(&repo.root)?;
    let exe = std::env::current_exe().map_err(|e| dv_core::Error::io("dv", e))?;
    let mut changes = dv_core::ops::hooks::install(
        &git.hooks_dir(&repo.root),
        &[&repo.root, git.common_dir()],
        &exe,
    )?;
    changes.extend(dv_core::ops::hooks::install_merge_driver(
        &repo, &git, &exe, true,
    )?);
    report(g, args.json, &changes)
}

pub fn uninstall(g: &Global, args: UninstallArgs) -> Result<Outcome> {
    let repo = g.repo()?;
    let git = dv_core::git::GitRepo::open(&repo.root)?;
    let mut changes = dv_core::ops::hooks::uninstall(
        &git.hooks_dir(&repo.root),
        &[&repo.root, git.common_dir()],
    )?;
    changes.extend(dv_core::ops::hooks::uninstall_merge_driver(&repo, &git)?);
    report(g, args.json, &changes)
}

fn report(g: &Global, json: bool, changes: &[dv_core::ops::hooks::HookChange]) -> Result<Outcome> {
    if json {
        output::print_json(&changes)?;
    } else if changes.is_empty() {
        output::status_line(g.quiet, "No dv hooks were installed.");
    } else {
        for c in changes {
            // "emptied" (its JSON name) said the hook was empty, while the user's own lines stay in it.
            let action = match c.action {
                HookAction::Emptied => "dv's block removed, the hook's other lines kept",
                a => a.as_str(),
            };
            output::status_line(
                g.quiet,
                &format!("{}: {action} ({})", c.hook, c.path.display()),
            );
        }
    }
    Ok(Outcome::Success)
}
