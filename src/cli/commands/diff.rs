use std::path::PathBuf;

use super::super::report::{Compared, DatasetDiff, Side};
use super::super::{Global, Outcome, html, output};
use dv_core::model::TensorStatus;
use dv_core::ops::datasets::{Source, resolve_targets};
use dv_core::ops::treediff::{self, DatasetChange, FileChange};
use dv_core::paths::is_within;
use dv_core::store::object::Node;
use dv_core::{Error, Result};

/// Compare dataset versions between two revisions, or a revision and the work tree's pointer files.
///
/// `dv diff` compares HEAD with the work tree, `dv diff A` compares A with the work tree, `dv diff A B`
/// compares A with B. Lists files added, deleted, modified and renamed (same content, new path), with sizes.
/// Folders whose content is the same on both sides are skipped without being read. With --html, the same as one
/// self-contained web page for people who do not use dv.
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
    /// Tables: show at most N changed rows (counts stay complete); with --html, at most N rows, files and
    /// tensors per dataset (default 1000).
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
    /// Output format: table (text), json, csv (the changed rows of tables) or html (as --html).
    #[arg(long, value_name = "FORMAT", value_parser = ["table", "json", "csv", "html"])]
    format: Option<String>,
    /// Write the report as one self-contained HTML page (no script, nothing loaded from the network), for
    /// people who do not use dv: on stdout, or into FILE with -o.
    #[arg(long, conflicts_with = "json")]
    html: bool,
    /// With --html: write the page to FILE (replaced whole, atomically) instead of stdout.
    #[arg(short = 'o', long = "output", value_name = "FILE")]
    output: Option<PathBuf>,
}

/// How the result is shown.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Shown {
    Text,
    Json,
    Csv,
    Html,
}

/// With --html and no --limit: the most changed rows, files and tensors listed per dataset.
const HTML_CAP: usize = 1000;

impl Args {
    /// The output asked for, or a usage error for flags that do not go together.
    fn shown(&self) -> Result<Shown> {
        let shown = match (self.html, self.format.as_deref()) {
            (true, Some(f)) if f != "html" => {
                return Err(Error::usage(format!(
                    "--html writes an HTML page and --format {f} asks for {f}: give one of them"
                )));
            }
            (true, _) | (false, Some("html")) => Shown::Html,
            _ if self.json || self.format.as_deref() == Some("json") => Shown::Json,
            (false, Some("csv")) => Shown::Csv,
            _ => Shown::Text,
        };
        if shown == Shown::Html && self.json {
            return Err(Error::usage(
                "--json and --format html ask for two outputs: give one of them",
            ));
        }
        if self.output.is_some() && shown != Shown::Html {
            return Err(Error::usage(
                "-o/--output writes the HTML report: use it with --html",
            ));
        }
        Ok(shown)
    }
}

pub fn run(g: &Global, args: Args) -> Result<Outcome> {
    let shown = args.shown()?;
    let s = g.open()?;
    let (repo, store, git) = (s.repo(), s.store(), s.git()?);
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
    let paths = super::repo_paths(repo, &g.cwd, &raw_paths)?;
    let (from, to) = match revs.len() {
        0 => {
            let head = git.head()?.ok_or_else(|| Error::BadRevision {
                rev: "HEAD".into(),
                message: "the repository has no commits yet".into(),
                source: None,
            })?;
            (Source::Rev { git, commit: head }, Source::WorkTree)
        }
        1 => (
            Source::Rev {
                git,
                commit: revs.remove(0),
            },
            Source::WorkTree,
        ),
        _ => {
            let b = revs.remove(1);
            let a = revs.remove(0);
            (
                Source::Rev { git, commit: a },
                Source::Rev { git, commit: b },
            )
        }
    };
    // Datasets on either side; a path need only exist on one.
    let side = |s: &Source<'_>| -> Result<Vec<dv_core::ops::datasets::Target>> {
        if paths.is_empty() {
            return resolve_targets(repo, s, &paths);
        }
        let mut out = Vec::new();
        for p in &paths {
            match resolve_targets(repo, s, std::slice::from_ref(p)) {
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
    let node_in = |targets: &[dv_core::ops::datasets::Target], path: &str| -> Option<Node> {
        targets
            .iter()
            .find(|t| t.dataset.path == path)
            .map(|t| t.dataset.pointer.node)
    };
    let table_in = |targets: &[dv_core::ops::datasets::Target], path: &str| {
        targets
            .iter()
            .find(|t| t.dataset.path == path)
            .and_then(|t| t.dataset.pointer.table.clone())
    };
    let opts = dv_core::table::diff::Options {
        tolerance: args.tolerance,
        limit: if args.stat {
            Some(0)
        } else if shown == Shown::Html {
            Some(args.limit.unwrap_or(HTML_CAP))
        } else {
            args.limit
        },
        columns: args.columns.clone(),
        filters: args
            .filters
            .iter()
            .map(|f| {
                dv_core::table::diff::Filter::parse(f)
                    .map_err(|why| Error::usage(format!("--where: {why}")))
            })
            .collect::<Result<_>>()?,
    };
    // The recorded steps on each side, to tell which a dataset's new version leaves out of date. A step file
    // dv cannot read costs that part of the report only.
    let steps_at = |side: &Source<'_>| match dv_core::ops::run::load_steps(repo, side) {
        Ok(steps) => steps,
        Err(e) => {
            errln!("warning: recorded steps not compared: {e}");
            Default::default()
        }
    };
    let (a_steps, b_steps) = (steps_at(&from), steps_at(&to));
    let dataset_in = |targets: &'_ [dv_core::ops::datasets::Target], path: &str| {
        targets
            .iter()
            .find(|t| t.dataset.path == path)
            .map(|t| t.dataset.clone())
    };
    let mut results = Vec::new();
    let mut any = false;
    for (path, scope) in names {
        let (a, b) = (node_in(&a_targets, &path), node_in(&b_targets, &path));
        let mut d = treediff::diff(store, &path, a.as_ref(), b.as_ref())?;
        if let Some(first) = d.missing.first() {
            return Err(Error::MissingObjects {
                path,
                count: d.missing.len(),
                first: *first,
            });
        }
        if let Some(scope) = &scope {
            // A path named inside a dataset must be in one of the versions compared, as status and checkout
            // require: a typo must not read as "unchanged".
            let sides: Vec<&dv_core::ops::datasets::Dataset> = [&a_targets, &b_targets]
                .into_iter()
                .filter_map(|ts| ts.iter().find(|t| t.dataset.path == path))
                .map(|t| &t.dataset)
                .collect();
            let mut held = false;
            for side in &sides {
                held |= matches!(
                    side.node_at(store, scope)?,
                    dv_core::ops::datasets::InVersion::Node(_)
                );
            }
            if !held {
                return Err(Error::NotInVersion {
                    path: scope.clone(),
                    version: sides
                        .iter()
                        .map(|d| d.version())
                        .collect::<Vec<_>>()
                        .join(" or in "),
                    above: None,
                });
            }
            d.files.retain(|f| {
                is_within(&f.path, scope)
                    || f.old_path.as_deref().is_some_and(|o| is_within(o, scope))
            });
        }
        let state = match (a, b) {
            (None, Some(_)) => DatasetChange::Added,
            (Some(_), None) => DatasetChange::Deleted,
            _ if d.files.is_empty() => DatasetChange::Unchanged,
            _ => DatasetChange::Modified,
        };
        any |= state != DatasetChange::Unchanged;
        let (ta, tb) = (table_in(&a_targets, &path), table_in(&b_targets, &path));
        let table = if ta.is_some() || tb.is_some() {
            Some(dv_core::ops::table::diff(
                store,
                ta.as_ref(),
                tb.as_ref(),
                &opts,
            )?)
        } else {
            None
        };
        let mut model = model_diff(store, &path, (&from, a.as_ref()), (&to, b.as_ref()))?;
        if let Some(m) = model.as_mut().filter(|_| args.stat) {
            m.tensors.clear();
        }
        let stale_steps = dv_core::ops::run::stale_steps(
            store,
            &path,
            (&a_steps, dataset_in(&a_targets, &path).as_ref()),
            (&b_steps, dataset_in(&b_targets, &path).as_ref()),
        )?;
        results.push(DatasetDiff {
            path,
            state,
            summary: d.summary(),
            trees_read: d.trees_read,
            files: (!args.stat).then_some(d.files),
            table,
            model,
            stale_steps,
        });
    }
    if shown == Shown::Html {
        let side = |s: &Source<'_>| -> Result<Side> {
            Ok(match s {
                Source::WorkTree => Side {
                    rev: None,
                    commit: None,
                },
                Source::Rev { git, commit } => Side {
                    rev: Some(commit.rev.clone()),
                    commit: Some(git.commit_info(commit.id)?),
                },
            })
        };
        let compared = Compared {
            from: side(&from)?,
            to: side(&to)?,
            paths,
        };
        let page = html::diff::report(&compared, &results, args.limit.unwrap_or(HTML_CAP));
        match &args.output {
            Some(file) => {
                let file = g.cwd.join(file);
                dv_core::fsutil::write_atomic(&file, page.as_bytes())?;
                output::status_line(g.quiet, &format!("Wrote the report to {}.", file.display()));
            }
            None => output::print_text(&page),
        }
    } else if shown == Shown::Json {
        output::print_json(&results)?;
    } else if shown == Shown::Csv {
        for r in &results {
            if let Some(t) = &r.table {
                out!("{}", output::table_diff_csv(t));
            }
        }
    } else {
        for r in &results {
            if r.state == DatasetChange::Unchanged {
                continue;
            }
            outln!(
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
                    FileChange::Renamed => outln!(
                        "    renamed:  {} -> {}{sizes}",
                        output::quote_path(f.old_path.as_deref().unwrap_or_default()),
                        output::quote_path(&f.path)
                    ),
                    FileChange::Added => {
                        outln!("    added:    {}{sizes}", output::quote_path(&f.path))
                    }
                    FileChange::Deleted => {
                        outln!("    deleted:  {}{sizes}", output::quote_path(&f.path))
                    }
                    FileChange::Modified => {
                        outln!("    modified: {}{sizes}", output::quote_path(&f.path))
                    }
                }
            }
            if let Some(t) = &r.table {
                out!("{}", output::table_diff_text(t));
            }
            if let Some(m) = &r.model {
                output::print_text(&model_diff_text(m));
            }
            for st in &r.stale_steps {
                let uses = match st.role {
                    dv_core::ops::run::StepRole::Input => "reads",
                    dv_core::ops::run::StepRole::Output => "writes",
                };
                let before = match st.before {
                    dv_core::ops::run::StepBefore::UpToDate => "up to date before",
                    dv_core::ops::run::StepBefore::Stale => "stale before too",
                    dv_core::ops::run::StepBefore::Absent => "not recorded before",
                };
                outln!(
                    "    stale step: {} {uses} {} ({before})",
                    st.step,
                    output::quote_path(&st.path)
                );
            }
        }
    }
    if args.exit_code && any {
        return Ok(Outcome::Differences);
    }
    Ok(Outcome::Success)
}

/// The tensor diff of a `.safetensors` file whose two versions differ; `None` for other paths, folders and
/// unchanged files.
fn model_diff(
    store: &dv_core::store::Store,
    path: &str,
    (from, a): (&Source<'_>, Option<&Node>),
    (to, b): (&Source<'_>, Option<&Node>),
) -> Result<Option<dv_core::model::ModelDiff>> {
    if !dv_core::model::is_model_path(path)
        || a == b
        || a.is_some_and(|n| !n.kind.is_file())
        || b.is_some_and(|n| !n.kind.is_file())
    {
        return Ok(None);
    }
    let label = |s: &Source<'_>| match s {
        Source::Rev { commit, .. } => format!("{path} at {}", commit.rev),
        Source::WorkTree => path.to_string(),
    };
    let (la, lb) = (label(from), label(to));
    dv_core::model::diff_stored(
        store,
        path,
        a.map(|n| (n, la.as_str())),
        b.map(|n| (n, lb.as_str())),
    )
    .map(Some)
}

/// The text form of a model diff: counts, then one line per added, removed or changed tensor.
fn model_diff_text(m: &dv_core::model::ModelDiff) -> String {
    use dv_core::model::safetensors::shape_text;
    let mut out = format!(
        "    tensors: {} added, {} removed, {} changed, {} unchanged ({} -> {} tensors)\n",
        m.added, m.removed, m.changed, m.unchanged, m.tensors_before, m.tensors_after
    );
    let shape = |s: &Option<Vec<u64>>| shape_text(s.as_deref().unwrap_or_default());
    for t in &m.tensors {
        let dtype = |d: Option<dv_core::model::safetensors::Dtype>| d.map_or("", |d| d.name());
        let (od, nd) = (dtype(t.old_dtype), dtype(t.new_dtype));
        let line = match t.status {
            TensorStatus::Added => format!("+ {}  {nd} {}", t.name, shape(&t.new_shape)),
            TensorStatus::Removed => format!("- {}  {od} {}", t.name, shape(&t.old_shape)),
            TensorStatus::Changed => match (od == nd, t.old_shape == t.new_shape) {
                (true, true) => {
                    let mut l = format!(
                        "~ {}  {nd} {}  changed {} of {} elements",
                        t.name,
                        shape(&t.new_shape),
                        output::thousands(t.changed_elements.unwrap_or(0)),
                        output::thousands(t.elements)
                    );
                    if let Some(d) = t.max_abs_change {
                        l.push_str(&format!(", max |Δ| {}", output::magnitude(d)));
                    }
                    if t.non_finite_changes > 0 {
                        l.push_str(&format!(
                            ", {} to or from NaN/inf",
                            output::thousands(t.non_finite_changes)
                        ));
                    }
                    l
                }
                (false, true) => format!("~ {}  {od} → {nd} {}", t.name, shape(&t.new_shape)),
                (true, false) => format!(
                    "~ {}  {nd} {} → {}",
                    t.name,
                    shape(&t.old_shape),
                    shape(&t.new_shape)
                ),
                (false, false) => format!(
                    "~ {}  {od} {} → {nd} {}",
                    t.name,
                    shape(&t.old_shape),
                    shape(&t.new_shape)
                ),
            },
        };
        out.push_str(&format!("    {line}\n"));
    }
    for c in &m.metadata {
        let v = |s: &Option<String>| s.as_deref().map_or("(none)".into(), |s| format!("{s:?}"));
        out.push_str(&format!(
            "    metadata: {} {} → {}\n",
            c.key,
            v(&c.old),
            v(&c.new)
        ));
    }
    out
}
