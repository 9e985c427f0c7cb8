use std::path::PathBuf;

use super::super::{Global, Outcome, output};
use crate::Result;
use crate::ops::compare::ChangeKind;
use crate::ops::datasets::Source;
use crate::repo::Repo;

/// Show tracked paths whose working copy differs from their pointer file.
///
/// Files whose size, times and inode match what dv recorded are not read. Without PATHs, every pointer file
/// in the work tree is checked.
#[derive(clap::Args)]
pub struct Args {
    /// Tracked paths, pointer files, or folders containing them.
    #[arg(value_name = "PATH")]
    paths: Vec<PathBuf>,
    /// Print the result as JSON.
    #[arg(long)]
    json: bool,
    /// Exit with status 1 when anything differs or is missing from the cache.
    #[arg(long)]
    exit_code: bool,
}

pub fn run(g: &Global, args: Args) -> Result<Outcome> {
    let repo = Repo::discover(&g.cwd)?;
    let paths = super::repo_paths(&repo, &g.cwd, &args.paths)?;
    let store = repo.open_store()?;
    let targets = crate::ops::datasets::resolve_targets(&repo, &Source::WorkTree, &paths)?;
    let report = crate::ops::status::status(&repo, &store, &targets)?;
    if args.json {
        output::print_json(&report)?;
    } else if report.datasets.is_empty() {
        output::status_line(g.quiet, "No data tracked yet: start with `dv add PATH`.");
    } else {
        for d in &report.datasets {
            let cache = if d.in_cache { "" } else { ", not in cache" };
            println!("{}: {}{cache}", d.path, d.state);
            if d.state == "deleted" {
                continue;
            }
            for c in &d.changes {
                let label = match c.change {
                    ChangeKind::New => "new:",
                    ChangeKind::Modified => "modified:",
                    ChangeKind::Deleted => "deleted:",
                };
                let slash = if c.folder { "/" } else { "" };
                println!("    {label:<10} {}{slash}", c.path);
            }
        }
    }
    if args.exit_code && !report.is_clean() {
        return Ok(Outcome::Differences);
    }
    Ok(Outcome::Success)
}
