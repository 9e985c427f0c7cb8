use std::path::PathBuf;

use super::super::{Global, Outcome, output};
use dv_core::Result;
use dv_core::ops::datasets::Source;
use dv_core::ops::meta::MetaReport;

/// Annotate datasets: small KEY=VALUE notes (owner, license, metrics, a description) kept in the pointer file.
///
/// Annotations live in the `[meta]` table of PATH.dv, so Git versions them with the data and `dv log` shows
/// them per version. `dv add` keeps them when the data changes; `dv add --meta KEY=VALUE` sets them too.
/// Pointer files are committed: never put secrets in annotations (keys like `password` or `api_key` are
/// refused).
#[derive(clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: Sub,
}

#[derive(clap::Subcommand)]
enum Sub {
    /// Set annotations (the others are kept); rewrites only the pointer file and stages it in Git.
    Set {
        /// The dataset (tracked path or pointer file).
        #[arg(value_name = "PATH")]
        path: PathBuf,
        /// Annotations to set: keys of ASCII letters, digits, '_', '-', '.'; values up to 4 KiB.
        #[arg(required = true, value_name = "KEY=VALUE")]
        entries: Vec<String>,
        /// Do not stage the pointer file in Git's index (also: `core.stage = false`).
        #[arg(long)]
        no_stage: bool,
        /// Print the result as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Remove annotations; rewrites only the pointer file and stages it in Git.
    Unset {
        /// The dataset (tracked path or pointer file).
        #[arg(value_name = "PATH")]
        path: PathBuf,
        /// Keys to remove (keys that are not set are reported, not an error).
        #[arg(required = true, value_name = "KEY")]
        keys: Vec<String>,
        /// Do not stage the pointer file in Git's index (also: `core.stage = false`).
        #[arg(long)]
        no_stage: bool,
        /// Print the result as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Print a dataset's annotations, one `KEY = VALUE` per line.
    Show {
        /// The dataset (tracked path or pointer file).
        #[arg(value_name = "PATH")]
        path: PathBuf,
        /// Read the pointer file at this revision instead of the work tree's.
        #[arg(long, value_name = "REV")]
        rev: Option<String>,
        /// Print the result as JSON.
        #[arg(long)]
        json: bool,
    },
}

pub fn run(g: &Global, args: Args) -> Result<Outcome> {
    let s = g.open()?;
    let repo = s.repo();
    let one_path = |p: &PathBuf| -> Result<String> {
        Ok(super::repo_paths(repo, &g.cwd, std::slice::from_ref(p))?.remove(0))
    };
    match args.command {
        Sub::Set {
            path,
            entries,
            no_stage,
            json,
        } => {
            let entries = entries
                .iter()
                .map(|e| dv_core::ops::meta::parse_entry(e))
                .collect::<Result<Vec<_>>>()?;
            let path = one_path(&path)?;
            let stage = repo.config.stage && !no_stage;
            let report = dv_core::ops::meta::set(&s.lock()?, &path, &entries, stage)?;
            written(g, &report, json)
        }
        Sub::Unset {
            path,
            keys,
            no_stage,
            json,
        } => {
            let path = one_path(&path)?;
            let stage = repo.config.stage && !no_stage;
            let report = dv_core::ops::meta::unset(&s.lock()?, &path, &keys, stage)?;
            for k in &report.absent {
                output::status_line(g.quiet, &format!("'{k}' was not set on {}", report.path));
            }
            written(g, &report, json)
        }
        Sub::Show { path, rev, json } => {
            let path = one_path(&path)?;
            let report = match &rev {
                None => dv_core::ops::meta::show(repo, &Source::WorkTree, &path)?,
                Some(rev) => {
                    let git = s.git()?;
                    let commit = git.resolve(rev)?;
                    let source = Source::Rev { git, commit };
                    dv_core::ops::meta::show(repo, &source, &path)?
                }
            };
            if json {
                output::print_json(&report)?;
            } else {
                for (k, v) in &report.meta {
                    outln!("{k} = {}", output::meta_value_text(v, usize::MAX));
                }
                if report.meta.is_empty() {
                    output::status_line(g.quiet, &format!("{} has no annotations.", report.path));
                }
            }
            Ok(Outcome::Success)
        }
    }
}

/// Renders the result of `set` or `unset`.
fn written(g: &Global, report: &MetaReport, json: bool) -> Result<Outcome> {
    if json {
        output::print_json(report)?;
        return Ok(Outcome::Success);
    }
    if !report.changed {
        output::status_line(g.quiet, &format!("{} unchanged.", report.pointer));
    } else if report.staged {
        output::status_line(
            g.quiet,
            &format!(
                "Updated {}; staged in Git: `git commit` records it.",
                report.pointer
            ),
        );
    } else {
        output::status_line(
            g.quiet,
            &format!(
                "Updated {}; to record it: git add {} && git commit",
                report.pointer,
                dv_core::paths::shell_word(&report.pointer)
            ),
        );
    }
    Ok(Outcome::Success)
}
