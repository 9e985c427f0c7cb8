use std::path::PathBuf;

use super::super::{Global, Outcome, output};
use crate::ops::datasets::{Source, resolve_targets};
use crate::ops::treediff::{self, FileChange};
use crate::paths::is_within;
use crate::repo::Repo;
use crate::store::object::Node;
use crate::{Error, Result};

/// Compare dataset versions between two revisions, or a revision and the work tree's pointer files.
///
/// `dv diff` compares HEAD with the work tree, `dv diff A` compares A with the work tree, `dv diff A B`
/// compares A with B. Lists files added, deleted, modified and renamed (same content, new path), with sizes.
/// Folders whose content is the same on both sides are skipped without being read.
#[derive(clap::Args)]
pub struct Args {
    /// Up to two revisions, then datasets or paths inside them (put paths after `--` if they could be
    /// mistaken for revisions).
    #[arg(value_name = "REV_OR_PATH")]
    args: Vec<String>,
    /// Paths, after `--`.
    #[arg(last = true, value_name = "PATH")]
    paths: Vec<PathBuf>,
    /// Print only the counts per dataset.
    #[arg(long)]
    stat: bool,
    /// Print the result as JSON.
    #[arg(long)]
    json: bool,
    /// Exit with status 1 when there are differences.
    #[arg(long)]
    exit_code: bool,
    /// Tables: show at most N changed rows (counts stay complete).
    #[arg(long, value_name = "N")]
    limit: Option<usize>,
    /// Tables: compare and show only these columns.
    #[arg(long, value_name = "COLUMNS", value_delimiter = ',')]
    columns: Option<Vec<String>>,
    /// Tables: only rows where COLUMN OP VALUE holds (OP: = != < <= > >=); repeat to require several.
    #[arg(long = "where", value_name = "CONDITION")]
    filters: Vec<String>,
    /// Tables: numbers within this absolute difference count as equal (default: exact).
    #[arg(long, value_name = "EPSILON")]
    tolerance: Option<f64>,
    /// Output format: table (text), json or csv (the changed rows of tables).
    #[arg(long, value_name = "FORMAT", value_parser = ["table", "json", "csv"])]
    format: Option<String>,
}

#[derive(serde::Serialize)]
struct DatasetDiff {
    path: String,
    /// "added", "deleted", "modified" or "unchanged".
    state: &'static str,
    summary: treediff::Summary,
    /// Tree objects read to compute this diff.
    trees_read: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    files: Option<Vec<treediff::FileDiff>>,
    /// For a table: the row-level diff.
    #[serde(skip_serializing_if = "Option::is_none")]
    table: Option<crate::table::diff::TableDiff>,
}

pub fn run(g: &Global, args: Args) -> Result<Outcome> {
    let repo = Repo::discover(&g.cwd)?;
    let git = crate::git::GitRepo::open(&repo.root)?;
    let store = repo.open_store()?;
    let mut revs = Vec::new();
    let mut raw_paths: Vec<PathBuf> = Vec::new();
    for a in &args.args {
        if raw_paths.is_empty()
            && revs.len() < 2
            && let Ok(c) = git.resolve(a)
        {
            revs.push(c);
        } else {
            raw_paths.push(PathBuf::from(a));
        }
    }
    raw_paths.extend(args.paths.iter().cloned());
    let paths = super::repo_paths(&repo, &g.cwd, &raw_paths)?;
    let (from, to) = match revs.len() {
        0 => {
            let head = git.head()?.ok_or_else(|| Error::BadRevision {
                rev: "HEAD".into(),
                message: "the repository has no commits yet".into(),
            })?;
            (
                Source::Rev {
                    git: &git,
                    commit: head,
                },
                Source::WorkTree,
            )
        }
        1 => (
            Source::Rev {
                git: &git,
                commit: revs.remove(0),
            },
            Source::WorkTree,
        ),
        _ => {
            let b = revs.remove(1);
            let a = revs.remove(0);
            (
                Source::Rev {
                    git: &git,
                    commit: a,
                },
                Source::Rev {
                    git: &git,
                    commit: b,
                },
            )
        }
    };
    // Datasets on either side; a path need only exist on one.
    let side = |s: &Source<'_>| -> Result<Vec<crate::ops::datasets::Target>> {
        if paths.is_empty() {
            return resolve_targets(&repo, s, &paths);
        }
        let mut out = Vec::new();
        for p in &paths {
            match resolve_targets(&repo, s, std::slice::from_ref(p)) {
                Ok(t) => out.extend(t),
                Err(Error::NotTracked(_) | Error::NotTrackedAt { .. }) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(out)
    };
    let (a_targets, b_targets) = (side(&from)?, side(&to)?);
    if !paths.is_empty() && a_targets.is_empty() && b_targets.is_empty() {
        return Err(Error::NotTracked(paths.join(", ")));
    }
    let mut names: Vec<(String, Option<String>)> = a_targets
        .iter()
        .chain(&b_targets)
        .map(|t| (t.dataset.path.clone(), t.scope.clone()))
        .collect();
    names.sort();
    names.dedup();
    let node_in = |targets: &[crate::ops::datasets::Target], path: &str| -> Option<Node> {
        targets
            .iter()
            .find(|t| t.dataset.path == path)
            .map(|t| t.dataset.pointer.node)
    };
    let table_in = |targets: &[crate::ops::datasets::Target], path: &str| {
        targets
            .iter()
            .find(|t| t.dataset.path == path)
            .and_then(|t| t.dataset.pointer.table.clone())
    };
    let opts = crate::table::diff::Options {
        tolerance: args.tolerance,
        limit: if args.stat { Some(0) } else { args.limit },
        columns: args.columns.clone(),
        filters: args
            .filters
            .iter()
            .map(|f| {
                crate::table::diff::Filter::parse(f).map_err(|why| Error::BadPath {
                    path: f.clone(),
                    reason: why,
                })
            })
            .collect::<Result<_>>()?,
    };
    let json = args.json || args.format.as_deref() == Some("json");
    let mut results = Vec::new();
    let mut any = false;
    for (path, scope) in names {
        let (a, b) = (node_in(&a_targets, &path), node_in(&b_targets, &path));
        let mut d = treediff::diff(&store, &path, a.as_ref(), b.as_ref())?;
        if let Some(first) = d.missing.first() {
            return Err(Error::MissingObjects {
                path,
                count: d.missing.len(),
                first: *first,
            });
        }
        if let Some(scope) = &scope {
            d.files.retain(|f| {
                is_within(&f.path, scope)
                    || f.old_path.as_deref().is_some_and(|o| is_within(o, scope))
            });
        }
        let state = match (a, b) {
            (None, Some(_)) => "added",
            (Some(_), None) => "deleted",
            _ if d.files.is_empty() => "unchanged",
            _ => "modified",
        };
        any |= state != "unchanged";
        let (ta, tb) = (table_in(&a_targets, &path), table_in(&b_targets, &path));
        let table = if ta.is_some() || tb.is_some() {
            Some(crate::ops::table::diff(
                &store,
                ta.as_ref(),
                tb.as_ref(),
                &opts,
            )?)
        } else {
            None
        };
        results.push(DatasetDiff {
            path,
            state,
            summary: d.summary(),
            trees_read: d.trees_read,
            files: (!args.stat).then_some(d.files),
            table,
        });
    }
    if json {
        output::print_json(&results)?;
    } else if args.format.as_deref() == Some("csv") {
        for r in &results {
            if let Some(t) = &r.table {
                print!("{}", output::table_diff_csv(t));
            }
        }
    } else {
        for r in &results {
            if r.state == "unchanged" {
                continue;
            }
            println!(
                "{} ({}): {}",
                r.path,
                r.state,
                output::summary_text(&r.summary)
            );
            for f in r.files.iter().flatten() {
                let sizes = match (f.old_size, f.new_size) {
                    (Some(o), Some(n)) if o != n => {
                        format!(
                            " ({} -> {})",
                            output::human_bytes(o),
                            output::human_bytes(n)
                        )
                    }
                    (Some(s), _) | (None, Some(s)) => format!(" ({})", output::human_bytes(s)),
                    _ => String::new(),
                };
                match f.change {
                    FileChange::Renamed => println!(
                        "    renamed:  {} -> {}{sizes}",
                        f.old_path.as_deref().unwrap_or_default(),
                        f.path
                    ),
                    FileChange::Added => println!("    added:    {}{sizes}", f.path),
                    FileChange::Deleted => println!("    deleted:  {}{sizes}", f.path),
                    FileChange::Modified => println!("    modified: {}{sizes}", f.path),
                }
            }
            if let Some(t) = &r.table {
                print!("{}", output::table_diff_text(t));
            }
        }
    }
    if args.exit_code && any {
        return Ok(Outcome::Differences);
    }
    Ok(Outcome::Success)
}
