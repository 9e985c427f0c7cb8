use std::path::PathBuf;

use super::super::{Global, Outcome, output};
use dv_core::Result;
use dv_core::ops::merge::DriverOutcome;

/// Git's merge driver for pointer files (Git runs it; `dv install` registers it).
///
/// Merges two versions of a pointer file against their base as dv knows them: a dataset changed on one side
/// takes that side; folders changed on both sides merge path by path on their trees (no file data is read);
/// keyed tables changed on both sides merge row by row and cell by cell, `.safetensors` models tensor by
/// tensor; the same path (or cell, or tensor)
/// changed differently on both sides is a conflict, listed here and in the file left in place
/// of the pointer file, and settled with `dv checkout --ours PATH` or `--theirs PATH`. A file named like a
/// pointer file that is not one is merged by Git's text merge.
#[derive(clap::Args)]
pub struct Args {
    /// The base version (Git's %O; empty when the sides share none).
    #[arg(value_name = "BASE")]
    base: PathBuf,
    /// Our version (Git's %A): the result is written over it.
    #[arg(value_name = "OURS")]
    ours: PathBuf,
    /// Their version (Git's %B).
    #[arg(value_name = "THEIRS")]
    theirs: PathBuf,
    /// The pointer file's path in the repository (Git's %P).
    #[arg(value_name = "PATH")]
    path: String,
    /// Print the result as JSON.
    #[arg(long)]
    json: bool,
}

pub fn run(g: &Global, args: Args) -> Result<Outcome> {
    let merged = (|| {
        let s = g.open()?;
        let repo = s.repo();
        let s = s.lock()?;
        let remote = || dv_core::remote::Remote::open(repo, None, dv_core::remote::Access::Read);
        dv_core::ops::merge::driver(
            &s,
            &args.base,
            &args.ours,
            &args.theirs,
            &args.path,
            &remote,
        )
    })();
    // Whatever stopped the driver (no remote for the trees it lacks, the lock, a damaged cache), the file is
    // left in conflict: left as our side, it would read as merged, and their changes would be lost.
    let report = match merged {
        Ok(r) => r,
        Err(e) => {
            let (ours, theirs) = (std::fs::read(&args.ours), std::fs::read(&args.theirs));
            if let (Ok(o), Ok(t)) = (ours, theirs) {
                dv_core::ops::merge::mark_unmerged(&args.ours, &o, &t, &args.path, &e.to_string())?;
            }
            return Err(e);
        }
    };
    let conflicted = match report.outcome {
        DriverOutcome::Merged => false,
        DriverOutcome::Conflict => true,
        DriverOutcome::Text => report.text_conflicts > 0,
    };
    if args.json {
        output::print_json(&report)?;
    } else {
        // Git shows what a driver prints among its own lines: each says which file.
        match report.outcome {
            DriverOutcome::Merged => {
                output::status_line(g.quiet, &format!("dv: merged {}", report.path))
            }
            DriverOutcome::Text => output::status_line(
                g.quiet,
                &format!("dv: {} is not a pointer file: merged as text", report.path),
            ),
            DriverOutcome::Conflict => {
                let data = report.path.trim_end_matches(".dv");
                if let Some(why) = &report.problem {
                    errln!("dv: cannot merge {data}: {why}");
                }
                if report.problem.is_none() {
                    errln!("dv: conflict in {data}:");
                }
                for c in &report.conflicts {
                    errln!("  {} ({})", c.path, c.kind);
                }
                for c in &report.row_conflicts {
                    let key = dv_core::ops::merge::show_key(&c.key);
                    match &c.column {
                        Some(col) => errln!(
                            "  {} row {key} column {col} ({}): base {}, ours {}, theirs {}",
                            c.path,
                            c.kind,
                            cell_text(&c.base),
                            cell_text(&c.ours),
                            cell_text(&c.theirs)
                        ),
                        None => errln!("  {} row {key} ({})", c.path, c.kind),
                    }
                }
                for c in &report.tensor_conflicts {
                    let side = |v: &Option<String>| v.clone().unwrap_or_else(|| "none".into());
                    errln!(
                        "  {} tensor {:?} ({}): base {}, ours {}, theirs {}",
                        c.path,
                        c.tensor,
                        c.kind,
                        side(&c.base),
                        side(&c.ours),
                        side(&c.theirs)
                    );
                }
                for c in &report.meta_conflicts {
                    errln!("  meta.{} (modified-both)", c.key);
                }
                let w = dv_core::paths::shell_word(data);
                errln!(
                    "dv: settle it with `dv checkout --ours {w}` or `dv checkout --theirs {w}` (what merged \
                     cleanly is kept)"
                );
            }
        }
    }
    Ok(if conflicted {
        Outcome::Differences
    } else {
        Outcome::Success
    })
}

/// A conflicting cell for people: its value quoted, or NULL (no such cell on that side shows as NULL too).
fn cell_text(c: &Option<dv_core::table::Cell>) -> String {
    match c.as_ref().and_then(|c| c.as_ref()) {
        None => "NULL".to_string(),
        Some(v) => format!("{v:?}"),
    }
}
