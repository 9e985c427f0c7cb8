use std::path::PathBuf;

use super::super::{Global, Outcome, output};
use dv_core::ops::datasets::{Source, resolve_targets};
use dv_core::table::Cell;
use dv_core::table::diff::Filter;
use dv_core::{Error, Result};

/// Print rows of a table, from the work tree's version or a historical one, without checking it out.
///
/// Rows come in key order, read from the table's row tree in the cache.
#[derive(clap::Args)]
pub struct Args {
    /// A file tracked as a table (`dv add FILE --key COLUMNS` or `--table`).
    #[arg(value_name = "PATH")]
    path: PathBuf,
    /// The version the pointer file at this Git revision names (default: the work tree's pointer file).
    #[arg(long, value_name = "REV")]
    rev: Option<String>,
    /// Only rows where COLUMN OP VALUE holds (OP: = != < <= > >=); repeat to require several.
    #[arg(long = "where", value_name = "CONDITION")]
    filters: Vec<String>,
    /// At most N rows.
    #[arg(long, value_name = "N")]
    limit: Option<usize>,
    /// Output format: table (aligned text), json or csv.
    #[arg(long, value_name = "FORMAT", value_parser = ["table", "json", "csv"], default_value = "table")]
    format: String,
    /// Same as --format json.
    #[arg(long)]
    json: bool,
}

pub fn run(g: &Global, args: Args) -> Result<Outcome> {
    let s = g.open()?;
    let (repo, store) = (s.repo(), s.store());
    let paths = super::repo_paths(repo, &g.cwd, std::slice::from_ref(&args.path))?;
    let targets = match &args.rev {
        None => resolve_targets(repo, &Source::WorkTree, &paths)?,
        Some(rev) => {
            let git = s.git()?;
            let commit = git.resolve(rev)?;
            resolve_targets(repo, &Source::Rev { git, commit }, &paths)?
        }
    };
    dv_core::ops::datasets::check_named_held(&targets, store)?;
    let dataset = &targets[0].dataset;
    let table = dataset
        .pointer
        .table
        .as_ref()
        .ok_or_else(|| Error::BadPath {
            path: dataset.path.clone(),
            reason: "not tracked as a table (add it with `dv add PATH --key COLUMNS` or `--table`)"
                .into(),
        })?;
    if !store.contains(&table.id)? {
        return Err(Error::MissingObjects {
            path: dataset.path.clone(),
            count: 1,
            first: table.id,
        });
    }
    let header = dv_core::table::read_header(store, &table.id)?;
    let filters: Vec<Filter> = args
        .filters
        .iter()
        .map(|f| {
            let parsed = Filter::parse(f).map_err(|why| Error::usage(format!("--where: {why}")))?;
            if header.column_index(&parsed.column).is_none() {
                return Err(Error::usage(format!(
                    "--where {f:?}: the table has no column {:?}",
                    parsed.column
                )));
            }
            Ok(parsed)
        })
        .collect::<Result<_>>()?;
    let rows = dv_core::ops::table::rows(store, &header, &filters, args.limit)?;
    let names: Vec<&str> = header.columns.iter().map(|c| c.name.as_str()).collect();
    let format = if args.json {
        "json"
    } else {
        args.format.as_str()
    };
    match format {
        "json" => {
            let objs: Vec<serde_json::Map<String, serde_json::Value>> = rows
                .iter()
                .map(|r| {
                    names
                        .iter()
                        .zip(r)
                        .map(|(n, c)| (n.to_string(), serde_json::json!(c)))
                        .collect()
                })
                .collect();
            output::print_json(&objs)?;
        }
        "csv" => {
            let mut out = names
                .iter()
                .map(|n| output::csv_field(n))
                .collect::<Vec<_>>()
                .join(",");
            out.push('\n');
            for r in &rows {
                let line: Vec<String> = r
                    .iter()
                    .map(|c: &Cell| c.as_deref().map(output::csv_field).unwrap_or_default())
                    .collect();
                out.push_str(&line.join(","));
                out.push('\n');
            }
            output::print_text(&out);
        }
        _ => {
            let text: Vec<Vec<String>> = rows
                .iter()
                .map(|r| {
                    r.iter()
                        .map(|c| c.clone().unwrap_or_else(|| "NULL".into()))
                        .collect()
                })
                .collect();
            let mut widths: Vec<usize> = names.iter().map(|n| n.chars().count()).collect();
            for r in &text {
                for (w, c) in widths.iter_mut().zip(r) {
                    *w = (*w).max(c.chars().count());
                }
            }
            let line = |cells: Vec<&str>| -> String {
                cells
                    .iter()
                    .zip(&widths)
                    .map(|(c, w)| format!("{c:<w$}"))
                    .collect::<Vec<_>>()
                    .join("  ")
                    .trim_end()
                    .to_string()
            };
            let mut out = line(names.clone());
            out.push('\n');
            for r in &text {
                out.push_str(&line(r.iter().map(String::as_str).collect()));
                out.push('\n');
            }
            output::print_text(&out);
            output::status_line(g.quiet, &format!("{} of {} rows", rows.len(), header.rows));
        }
    }
    Ok(Outcome::Success)
}
