use std::path::PathBuf;

use super::super::{Global, Outcome, output, progress};
use dv_core::Result;
use dv_core::store::object::NodeKind;

/// Version files or folders: store their content in the cache and write a pointer file (PATH.dv) for Git.
///
/// Content is split into chunks, and only chunks the cache does not already hold are compressed and stored,
/// so a new version of a large file costs about what changed. Files whose size, times and inode are unchanged
/// since the last add are not read again. The data path is added to the .gitignore beside it.
#[derive(clap::Args)]
pub struct Args {
    /// Files or folders to version.
    #[arg(required = true, value_name = "PATH")]
    paths: Vec<PathBuf>,
    /// Do not stage the pointer files and .gitignore files in Git's index (also: `core.stage = false`).
    #[arg(long)]
    no_stage: bool,
    /// Also track a .csv, .tsv or .parquet file as a table, matching rows between versions by these key
    /// columns (comma-separated for a composite key). Remembered in the pointer file.
    #[arg(long, value_name = "COLUMNS", value_delimiter = ',')]
    key: Vec<String>,
    /// Track the file as a table without a key: rows are matched by their whole content.
    #[arg(long, conflicts_with = "key")]
    table: bool,
    /// Annotate the dataset (repeatable): owner, license, metrics, a description… Kept in the pointer file
    /// with the ones it has; never secrets. See `dv meta`.
    #[arg(long = "meta", value_name = "KEY=VALUE")]
    meta: Vec<String>,
    /// Record a dataset whose checkout or pull did not finish (killed or stopped) as its work tree is: what it
    /// had not written yet is recorded as deleted. Without it, such a dataset is refused.
    #[arg(long)]
    as_is: bool,
    /// Print the result as JSON.
    #[arg(long)]
    json: bool,
}

pub fn run(g: &Global, args: Args) -> Result<Outcome> {
    let meta = args
        .meta
        .iter()
        .map(|e| dv_core::ops::meta::parse_entry(e))
        .collect::<Result<Vec<_>>>()?;
    let s = g.open()?;
    let repo = s.repo();
    super::warn_sparse_checkout(&s);
    let paths = super::repo_paths(repo, &g.cwd, &args.paths)?;
    let s = s.lock()?;
    let progress = progress::for_terminal(g.quiet);
    let stage = repo.config.stage && !args.no_stage;
    let spec = (args.table || !args.key.is_empty()).then(|| dv_core::table::TableSpec {
        key: args.key.iter().map(|k| k.trim().to_string()).collect(),
    });
    let opts = dv_core::ops::add::AddOptions {
        stage,
        table: spec.as_ref(),
        meta: &meta,
        as_is: args.as_is,
    };
    let report = dv_core::ops::add::add(&s, &paths, &opts, progress.as_ref())?;
    if args.json {
        output::print_json(&report)?;
        return Ok(Outcome::Success);
    }
    // Quiet means no output but errors: the per-dataset lines go too.
    for d in report.datasets.iter().filter(|_| !g.quiet) {
        let what = if d.kind == NodeKind::Tree {
            format!("{} files, {}", d.files, output::human_bytes(d.size))
        } else {
            output::human_bytes(d.size)
        };
        let verb = if d.changed { "Added" } else { "Unchanged" };
        outln!("{verb} {} ({what}) -> {}", d.path, d.pointer);
        if let Some(t) = &d.table {
            let key = if t.key.is_empty() {
                "no key".to_string()
            } else {
                format!("key {}", t.key.join(","))
            };
            match &t.changes {
                Some(c) => outln!(
                    "    table: {} rows ({key}); {} added, {} deleted, {} modified",
                    t.rows,
                    c.rows_added,
                    c.rows_deleted,
                    c.rows_modified
                ),
                None => outln!("    table: {} rows ({key})", t.rows),
            }
        }
    }
    output::status_line(
        g.quiet,
        &format!(
            "Hashed {} in {} file(s); stored {} new object(s), {}.",
            output::human_bytes(report.hashed_bytes),
            report.hashed_files,
            report.new_objects,
            output::human_bytes(report.new_stored_bytes)
        ),
    );
    if report.datasets.iter().any(|d| d.changed) {
        if report.staged.is_empty() {
            // The files add wrote, each where it is (a dataset's `.gitignore` is beside it, not at the root).
            let files: Vec<String> = report
                .not_staged
                .iter()
                .map(|f| dv_core::paths::shell_word(f))
                .collect();
            output::status_line(
                g.quiet,
                &format!(
                    "To record this version: git add {} && git commit",
                    files.join(" ")
                ),
            );
        } else {
            output::status_line(g.quiet, "Staged in Git: `git commit` records this version.");
        }
    }
    Ok(Outcome::Success)
}
