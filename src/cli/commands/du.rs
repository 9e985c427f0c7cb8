use std::path::PathBuf;

use super::super::{Global, Outcome, output};
use dv_core::Result;
use dv_core::ops::scope::Scope;

/// Show what each dataset version costs: its logical size, and the bytes it adds to the store after dedup
/// and compression.
///
/// Versions are taken oldest first: the first costs its whole deduplicated, compressed size, each later one
/// only the objects no earlier version of the dataset reached. By default the work tree's versions; with
/// --all-commits every version in history. Objects missing from the cache are counted as unknown.
#[derive(clap::Args)]
pub struct Args {
    /// Datasets (tracked paths, pointer files or folders holding them). Default: every dataset.
    #[arg(value_name = "PATH")]
    paths: Vec<PathBuf>,
    /// The versions the pointer files at this revision name, instead of the work tree's.
    #[arg(long, value_name = "REV", conflicts_with_all = ["all_branches", "all_commits"])]
    rev: Option<String>,
    /// Every version the tip of a branch, local or remote-tracking (or the work tree), names.
    #[arg(short = 'a', long, conflicts_with = "all_commits")]
    all_branches: bool,
    /// Every version any commit (or the work tree) names, in history order.
    #[arg(short = 'A', long)]
    all_commits: bool,
    /// Print the result as JSON.
    #[arg(long)]
    json: bool,
}

pub fn run(g: &Global, args: Args) -> Result<Outcome> {
    let s = g.open()?;
    let paths = super::repo_paths(s.repo(), &g.cwd, &args.paths)?;
    let scope = Scope::from_flags(args.rev.clone(), args.all_branches, args.all_commits);
    let report = dv_core::ops::du::du(&s, &scope, &paths)?;
    if args.json {
        output::print_json(&report)?;
    } else {
        let h = output::human_bytes;
        for d in &report.datasets {
            outln!("{}", d.path);
            outln!(
                "  {:>10}  {:>7}  {:>10}  VERSION",
                "LOGICAL",
                "FILES",
                "ADDS"
            );
            for v in &d.versions {
                let what = match &v.commit {
                    Some(c) => {
                        let summary: String = c.summary.chars().take(50).collect();
                        format!(
                            "{} {} {summary}",
                            &c.id[..10.min(c.id.len())],
                            &output::format_time(c.time, c.offset_seconds)[..10]
                        )
                    }
                    None if scope == Scope::Workspace => "work tree".into(),
                    None => "work tree (in no commit)".into(),
                };
                let unknown = if v.unknown_objects > 0 {
                    format!("  [{} object(s) not in the cache]", v.unknown_objects)
                } else {
                    String::new()
                };
                outln!(
                    "  {:>10}  {:>7}  {:>10}  {what}{unknown}",
                    h(v.size),
                    v.files,
                    h(v.adds)
                );
            }
            if d.versions.len() > 1 {
                outln!(
                    "  {:>10}  {:>7}  {:>10}  {} versions",
                    h(d.logical_bytes),
                    "",
                    h(d.stored_bytes),
                    d.versions.len()
                );
            }
        }
        if report.datasets.is_empty() {
            output::status_line(g.quiet, "No datasets in scope.");
        } else {
            outln!(
                "Total: {} version(s) of {} dataset(s): {} logical, {} stored after dedup and compression \
                 (the cache holds {} in {} pack(s)).",
                report.versions,
                report.datasets.len(),
                h(report.logical_bytes),
                h(report.stored_bytes),
                h(report.cache_bytes),
                report.cache_packs
            );
        }
    }
    if report.unknown_objects > 0 {
        errln!(
            "note: {} object(s) reached are not in the local cache (or cannot be read): their size, and that of \
             whatever lies below them, is not counted. `dv fetch` with the same scope brings them.",
            report.unknown_objects
        );
    }
    Ok(Outcome::Success)
}
