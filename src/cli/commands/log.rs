use std::path::PathBuf;

use super::super::{Global, Outcome, output};
use dv_core::ops::log::RowState;
use dv_core::paths::POINTER_SUFFIX;
use dv_core::store::object::NodeKind;
use dv_core::{Error, Result};

/// List the commits that changed each dataset's pointer file, newest first, with what changed.
///
/// For each version: commit, date, author, message, the dataset's size and file count, and the files added,
/// deleted, modified and renamed against the version before it (when the cache holds both versions' trees).
#[derive(clap::Args)]
pub struct Args {
    /// Datasets (tracked paths or pointer files). Without PATHs, every dataset in the work tree.
    #[arg(value_name = "PATH")]
    paths: Vec<PathBuf>,
    /// Start from this revision instead of HEAD.
    #[arg(long, value_name = "REV")]
    rev: Option<String>,
    /// Tables: the history of the row with this key (comma-separated values for a composite key): each
    /// version where it was added, changed or deleted, with the changed cells.
    #[arg(long, value_name = "KEY")]
    row: Option<String>,
    /// Print the result as JSON.
    #[arg(long)]
    json: bool,
}

pub fn run(g: &Global, args: Args) -> Result<Outcome> {
    let s = g.open()?;
    let (repo, store, git) = (s.repo(), s.store(), s.git()?);
    let start = match &args.rev {
        Some(rev) => git.resolve(rev)?,
        None => match git.head()? {
            Some(c) => c,
            None => {
                if args.json {
                    output::print_json(&serde_json::json!([]))?;
                } else {
                    output::status_line(g.quiet, "No commits yet.");
                }
                return Ok(Outcome::Success);
            }
        },
    };
    let mut paths: Vec<String> = super::repo_paths(repo, &g.cwd, &args.paths)?
        .into_iter()
        .map(|p| {
            p.strip_suffix(POINTER_SUFFIX)
                .map(str::to_string)
                .unwrap_or(p)
        })
        .collect();
    if paths.is_empty() {
        paths = dv_core::ops::datasets::find_datasets(repo, "")?
            .into_iter()
            .map(|d| d.path)
            .collect();
    }
    let row_key: Option<Vec<String>> = args
        .row
        .as_ref()
        .map(|k| k.split(',').map(|s| s.trim().to_string()).collect());
    let migrated = dv_core::migrate::Maps::load(repo)?;
    let mut logs =
        dv_core::ops::log::log_with(git, store, &start, &paths, row_key.as_deref(), &migrated)?;
    if row_key.is_some() {
        for l in &mut logs {
            l.versions.retain(|v| {
                v.row
                    .as_ref()
                    .is_some_and(|r| !matches!(r.change, RowState::Unchanged | RowState::Absent))
            });
        }
    }
    if let Some(l) = logs
        .iter()
        .find(|l| l.versions.is_empty() && row_key.is_none())
    {
        return Err(Error::NotTrackedAt {
            path: l.path.clone(),
            rev: start.rev,
        });
    }
    if args.json {
        output::print_json(&logs)?;
        return Ok(Outcome::Success);
    }
    for (i, l) in logs.iter().enumerate() {
        if i > 0 {
            outln!();
        }
        outln!("{}", l.path);
        for v in &l.versions {
            let c = &v.commit;
            outln!(
                "  {}  {}  {}  {}",
                &c.id[..10],
                output::format_time(c.time, c.offset_seconds),
                c.author,
                c.summary
            );
            let what = match (v.size, v.files, v.kind) {
                (Some(size), Some(files), Some(NodeKind::Tree)) => {
                    format!("{files} files, {}", output::human_bytes(size))
                }
                (Some(size), _, _) => output::human_bytes(size),
                _ => String::new(),
            };
            let changes = v
                .changes
                .as_ref()
                .map(output::summary_text)
                .unwrap_or_default();
            outln!(
                "      {}{}{}",
                v.state,
                if what.is_empty() { "" } else { ": " },
                what
            );
            if !changes.is_empty() && v.table.is_none() {
                outln!("      {changes}");
            }
            if let Some(t) = &v.table {
                match &t.changes {
                    Some(c) => outln!(
                        "      {} rows: {} added, {} deleted, {} modified",
                        t.rows,
                        c.rows_added,
                        c.rows_deleted,
                        c.rows_modified
                    ),
                    None => outln!("      {} rows", t.rows),
                }
            }
            if !v.meta.is_empty() {
                let entries: Vec<String> = v
                    .meta
                    .iter()
                    .map(|(k, v)| format!("{k}={}", output::meta_value_text(v, 60)))
                    .collect();
                outln!("      meta: {}", entries.join(" "));
            }
            if let Some(r) = &v.row {
                let detail = match r.change {
                    RowState::Modified => r
                        .cells
                        .iter()
                        .map(|c| {
                            format!(
                                "{}: {} -> {}",
                                c.column,
                                c.old.as_deref().unwrap_or("NULL"),
                                c.new.as_deref().unwrap_or("NULL")
                            )
                        })
                        .collect::<Vec<_>>()
                        .join(", "),
                    _ => r
                        .row
                        .iter()
                        .map(|(n, c)| format!("{n}={}", c.as_deref().unwrap_or("NULL")))
                        .collect::<Vec<_>>()
                        .join(" "),
                };
                outln!("      row {}: {detail}", r.change);
            }
        }
    }
    Ok(Outcome::Success)
}
