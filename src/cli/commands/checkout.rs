use std::path::PathBuf;

use super::super::{Global, Outcome, output, progress};
use dv_core::Result;
use dv_core::ops::datasets::Source;

/// Make tracked paths match their pointer files, restoring data from the cache.
///
/// Every object is verified by its hash, and each file is written to a temporary file and renamed into place.
/// Working files whose content dv has not stored are never overwritten or deleted unless --force is given.
/// With --rev, the data is the version the pointer files at that Git revision name; Git's HEAD, the index and
/// the pointer files in the work tree are left as they are.
#[derive(clap::Args)]
pub struct Args {
    /// Tracked paths, pointer files, paths inside tracked folders, or folders containing pointer files.
    /// Without PATHs, every pointer file in the work tree.
    #[arg(value_name = "PATH")]
    paths: Vec<PathBuf>,
    /// Materialize the version named by the pointer files at this Git revision (commit, branch, tag, HEAD~2…).
    #[arg(long, value_name = "REV")]
    rev: Option<String>,
    /// Overwrite or delete local changes that dv has not stored.
    #[arg(short, long)]
    force: bool,
    /// Settle the merge conflicts of the named datasets with our side (what merged cleanly is kept), stage
    /// the pointer files, and check the data out.
    #[arg(long, conflicts_with_all = ["theirs", "rev"], requires = "paths")]
    ours: bool,
    /// Settle the merge conflicts of the named datasets with their side (see --ours).
    #[arg(long, conflicts_with = "rev", requires = "paths")]
    theirs: bool,
    /// Print the result as JSON.
    #[arg(long)]
    json: bool,
}

pub fn run(g: &Global, args: Args) -> Result<Outcome> {
    let s = g.open()?;
    let repo = s.repo();
    let paths = super::repo_paths(repo, &g.cwd, &args.paths)?;
    let s = s.lock()?;
    let favor = match (args.ours, args.theirs) {
        (true, _) => Some(dv_core::ops::merge::Favor::Ours),
        (_, true) => Some(dv_core::ops::merge::Favor::Theirs),
        _ => None,
    };
    if let Some(favor) = favor {
        settle(g, &s, &paths, favor)?;
    }
    let source = match &args.rev {
        None => Source::WorkTree,
        Some(rev) => {
            let git = s.git()?;
            let commit = git.resolve(rev)?;
            Source::Rev { git, commit }
        }
    };
    let mut skipped = Vec::new();
    let targets =
        dv_core::ops::datasets::resolve_targets_noting(repo, &source, &paths, &mut skipped)?;
    output::warn_not_pointers(&skipped);
    super::warn_merge_driver(g, repo);
    // A pointer file in merge conflict stops only its own dataset: the rest is checked out (a merge's clean
    // datasets follow), then the command fails naming it.
    let (conflicted, others): (Vec<_>, Vec<_>) = skipped.into_iter().partition(|s| s.conflict);
    // A version a migration could not store stops the checkout: the rest would be a mix of two revisions.
    dv_core::ops::datasets::refuse_unrestorable(&others)?;
    // A pointer renamed with `git mv` names data its .gitignore does not ignore yet: checked before any data
    // is written, the line added after.
    let ignores = super::plan_ignores(repo, &targets)?;
    let progress = progress::for_terminal(g.quiet);
    // The ignore lines are added right before any data is written: killed at any point, or stopped by a file
    // edited meanwhile, the checkout never leaves data Git would add.
    let mut ignores = Some(ignores);
    let opts = dv_core::ops::checkout::CheckoutOptions { force: args.force };
    let report = dv_core::ops::checkout::checkout(
        &s,
        &targets,
        &opts,
        &mut || match ignores.take() {
            Some(plan) => super::ignore_datasets(g, repo, plan),
            None => Ok(()),
        },
        progress.as_ref(),
    )?;
    if args.json {
        output::print_json(&report)?;
    } else {
        output::status_line(
            g.quiet,
            &format!(
                "Checked out {} dataset(s): {} file(s) written ({}), {} deleted, {} mode change(s).",
                report.datasets.len(),
                report.files_written,
                output::human_bytes(report.bytes_written),
                report.files_deleted,
                report.modes_changed
            ),
        );
    }
    if let Some(c) = conflicted.first() {
        return Err(dv_core::Error::MalformedPointer {
            message: format!("{} (the other datasets were checked out)", c.reason),
            conflict: true,
        });
    }
    Ok(Outcome::Success)
}

/// `--ours`/`--theirs`: each named dataset's conflicted pointer file merged again from the versions Git's
/// index keeps, its conflicts settled with that side, written and staged.
fn settle(
    g: &Global,
    s: &dv_core::session::Locked<'_>,
    paths: &[String],
    favor: dv_core::ops::merge::Favor,
) -> Result<()> {
    let repo = s.repo();
    let git = s.git()?;
    let remote = || dv_core::remote::Remote::open(repo, None, dv_core::remote::Access::Read);
    let mut staging = dv_core::ops::pointers::Staging::default();
    for p in paths {
        let path = p.strip_suffix(dv_core::paths::POINTER_SUFFIX).unwrap_or(p);
        let (resolved, pointer) = dv_core::ops::merge::resolve(s, git, path, favor, &remote)?;
        staging.write_pointer(
            repo,
            &format!("{}{}", resolved.path, dv_core::paths::POINTER_SUFFIX),
            &pointer,
        )?;
        output::status_line(
            g.quiet,
            &format!(
                "Settled {} conflict(s) in {} with {} side.",
                resolved.settled,
                resolved.path,
                if favor == dv_core::ops::merge::Favor::Ours {
                    "our"
                } else {
                    "their"
                }
            ),
        );
    }
    // Staged whatever the configuration says: staging is what tells Git the conflict is settled.
    staging.stage(repo, Some(git))?;
    Ok(())
}
