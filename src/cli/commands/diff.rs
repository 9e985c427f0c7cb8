use std::path::PathBuf;

use super::super::{Global, Outcome, output};
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
    state: DatasetChange,
    summary: treediff::Summary,
    /// Tree objects read to compute this diff.
    trees_read: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    files: Option<Vec<treediff::FileDiff>>,
    /// For a table: the row-level diff.
    #[serde(skip_serializing_if = "Option::is_none")]
    table: Option<dv_core::table::diff::TableDiff>,
    /// For a `.safetensors` file: the tensor-level diff.
    #[serde(skip_serializing_if = "Option::is_none")]
    model: Option<dv_core::model::ModelDiff>,
}

pub fn run(g: &Global, args: Args) -> Result<Outcome> {
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
        limit: if args.stat { Some(0) } else { args.limit },
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
    let json = args.json || args.format.as_deref() == Some("json");
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
        results.push(DatasetDiff {
            path,
            state,
            summary: d.summary(),
            trees_read: d.trees_read,
            files: (!args.stat).then_some(d.files),
            table,
            model,
        });
    }
    if json {
        output::print_json(&results)?;
    } else if args.format.as_deref() == Some("csv") {
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

/// 1234567 as "1,234,567".
fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// A magnitude with six significant digits: 0.0123, 2, 1.5e-7.
fn magnitude(v: f64) -> String {
    if v == 0.0 {
        return "0".into();
    }
    if !(1e-4..1e7).contains(&v) {
        let t = format!("{v:.5e}");
        let (mantissa, exp) = t.split_once('e').unwrap_or((&t, "0"));
        let mantissa = mantissa.trim_end_matches('0').trim_end_matches('.');
        return format!("{mantissa}e{exp}");
    }
    let decimals = (5 - v.log10().floor() as i64).max(0) as usize;
    let t = format!("{v:.decimals$}");
    if t.contains('.') {
        t.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        t
    }
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
                        thousands(t.changed_elements.unwrap_or(0)),
                        thousands(t.elements)
                    );
                    if let Some(d) = t.max_abs_change {
                        l.push_str(&format!(", max |Δ| {}", magnitude(d)));
                    }
                    if t.non_finite_changes > 0 {
                        l.push_str(&format!(
                            ", {} to or from NaN/inf",
                            thousands(t.non_finite_changes)
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

#[cfg(test)]
mod model_text_tests {
    #[test]
    fn numbers_read_well() {
        assert_eq!(super::thousands(0), "0");
        assert_eq!(super::thousands(999), "999");
        assert_eq!(super::thousands(1234), "1,234");
        assert_eq!(super::thousands(16_777_216), "16,777,216");
        assert_eq!(super::magnitude(0.0), "0");
        assert_eq!(super::magnitude(2.0), "2");
        assert_eq!(super::magnitude(0.0123), "0.0123");
        assert_eq!(super::magnitude(0.10000002384185791), "0.1");
        assert_eq!(super::magnitude(123456.7), "123457");
        assert_eq!(super::magnitude(1.5e-7), "1.5e-7");
        assert_eq!(super::magnitude(3e9), "3e9");
    }
}
