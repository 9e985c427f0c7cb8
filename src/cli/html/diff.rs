//! `dv diff --html`: the report of [`crate::cli::report`] as one page, written for a reader who has never used
//! dv. Per dataset: what changed (counts and bytes, exact), the files, a table's schema and rows (changed cells
//! old → new), a model's tensors, and the recorded steps the change leaves out of date. Long lists stop at the
//! cap the command was given, saying how many of how many they show.

use std::fmt::Write;

use super::{cell, escape, page, path};
use crate::cli::output::{human_bytes, magnitude, thousands};
use crate::cli::report::{Compared, DatasetDiff, Side};
use dv_core::model::ModelDiff;
use dv_core::ops::run::{StaleStep, StepBefore, StepRole};
use dv_core::ops::treediff::{DatasetChange, FileChange, FileDiff, Summary};
use dv_core::table::diff::{RowChange, RowChangeKind, SchemaChangeKind, TableDiff};

/// The whole page. `cap` is the most files and tensors listed per dataset (the rows of a table were capped
/// when the diff was made; the counts are always complete).
pub fn report(compared: &Compared, datasets: &[DatasetDiff], cap: usize) -> String {
    let (from, to) = (side_name(&compared.from), side_name(&compared.to));
    let mut b = String::new();
    let _ = write!(
        b,
        "<header>\n<h1>Data changes: <code>{}</code> <span class=\"arrow\">→</span> <code>{}</code></h1>\n\
         <dl class=\"sides\">\n<dt>Before</dt><dd>{}</dd>\n<dt>After</dt><dd>{}</dd>\n",
        escape(&from),
        escape(&to),
        side_detail(&compared.from),
        side_detail(&compared.to)
    );
    if !compared.paths.is_empty() {
        let paths: Vec<String> = compared
            .paths
            .iter()
            .map(|p| format!("<code>{}</code>", path(p)))
            .collect();
        let _ = writeln!(b, "<dt>Limited to</dt><dd>{}</dd>", paths.join(", "));
    }
    b.push_str("</dl>\n");
    let changed: Vec<&DatasetDiff> = datasets
        .iter()
        .filter(|d| d.state != DatasetChange::Unchanged)
        .collect();
    let _ = writeln!(
        b,
        "<p class=\"lead\">{} of {} {} changed.</p>",
        changed.len(),
        datasets.len(),
        plural(datasets.len() as u64, "dataset", "datasets")
    );
    b.push_str(
        "<p class=\"legend muted\">A dataset is a file or folder whose versions dv keeps. \
         <span><span class=\"badge added\">added</span> only in the after version</span>\
         <span><span class=\"badge deleted\">deleted</span> only in the before version</span>\
         <span><span class=\"badge modified\">modified</span> in both, different</span>\
         <span><del>old</del><span class=\"arrow\">→</span><ins>new</ins> a changed value</span></p>\n</header>\n",
    );
    if !changed.is_empty() {
        overview(&mut b, datasets);
    }
    for (i, d) in datasets.iter().enumerate() {
        if d.state != DatasetChange::Unchanged {
            dataset(&mut b, i, d, cap);
        }
    }
    let unchanged: Vec<String> = datasets
        .iter()
        .filter(|d| d.state == DatasetChange::Unchanged)
        .map(|d| format!("<code>{}</code>", path(&d.path)))
        .collect();
    if !unchanged.is_empty() {
        let _ = writeln!(
            b,
            "<p class=\"muted\">Unchanged: {}.</p>",
            unchanged.join(", ")
        );
    }
    page(&format!("dv diff {from} → {to}"), &b)
}

fn side_name(s: &Side) -> String {
    s.rev.clone().unwrap_or_else(|| "work tree".into())
}

fn side_detail(s: &Side) -> String {
    let Some(c) = &s.commit else {
        return "the pointer files in the work tree (not committed yet)".into();
    };
    format!(
        "<code>{}</code> commit <code>{}</code> “{}” by {}, {}",
        escape(s.rev.as_deref().unwrap_or_default()),
        escape(&c.id[..c.id.len().min(10)]),
        escape(&c.summary),
        escape(&c.author),
        escape(&crate::cli::output::format_time(c.time, c.offset_seconds))
    )
}

fn plural<'a>(n: u64, one: &'a str, many: &'a str) -> &'a str {
    if n == 1 { one } else { many }
}

fn badge(word: &str) -> String {
    let w = escape(word);
    format!("<span class=\"badge {w}\">{w}</span>")
}

/// One line per dataset: state, files and bytes, rows or tensors.
fn overview(b: &mut String, datasets: &[DatasetDiff]) {
    b.push_str(
        "<div class=\"scroll\"><table class=\"overview\">\n<tr><th>Dataset</th><th>Change</th><th>Files</th>\
         <th class=\"num\">Bytes added</th><th class=\"num\">Bytes deleted</th><th>Details</th></tr>\n",
    );
    for (i, d) in datasets.iter().enumerate() {
        if d.state == DatasetChange::Unchanged {
            continue;
        }
        let mut details = Vec::new();
        if let Some(t) = &d.table {
            details.push(format!(
                "rows: {} added, {} deleted, {} modified",
                thousands(t.rows_added),
                thousands(t.rows_deleted),
                thousands(t.rows_modified)
            ));
        }
        if let Some(m) = &d.model {
            details.push(format!(
                "tensors: {} added, {} removed, {} changed",
                thousands(m.added),
                thousands(m.removed),
                thousands(m.changed)
            ));
        }
        if !d.stale_steps.is_empty() {
            details.push(format!(
                "{} stale {}",
                d.stale_steps.len(),
                plural(d.stale_steps.len() as u64, "step", "steps")
            ));
        }
        let _ = writeln!(
            b,
            "<tr><td><a href=\"#d{i}\"><code>{}</code></a></td><td>{}</td><td>{}</td>\
             <td class=\"num\">{}</td><td class=\"num\">{}</td><td>{}</td></tr>",
            path(&d.path),
            badge(d.state.as_str()),
            files_summary(&d.summary),
            human_bytes(d.summary.bytes_added),
            human_bytes(d.summary.bytes_deleted),
            details.join("; ")
        );
    }
    b.push_str("</table></div>\n");
}

fn files_summary(s: &Summary) -> String {
    let mut t = format!(
        "{} added, {} deleted, {} modified",
        thousands(s.files_added),
        thousands(s.files_deleted),
        thousands(s.files_modified)
    );
    if s.files_renamed > 0 {
        let _ = write!(t, ", {} renamed", thousands(s.files_renamed));
    }
    t
}

fn dataset(b: &mut String, i: usize, d: &DatasetDiff, cap: usize) {
    let _ = write!(
        b,
        "<section class=\"dataset\" id=\"d{i}\">\n<h2>{} <code>{}</code></h2>\n",
        badge(d.state.as_str()),
        path(&d.path),
    );
    match d.files.as_deref() {
        // A dataset that is one file: its size says it all.
        Some([f]) if f.path == d.path && f.change != FileChange::Renamed => {
            let _ = writeln!(b, "<p>One file, {}.</p>", size(f));
        }
        files => {
            let _ = writeln!(
                b,
                "<p>Files: {} (+{}, −{}).</p>",
                files_summary(&d.summary),
                human_bytes(d.summary.bytes_added),
                human_bytes(d.summary.bytes_deleted)
            );
            if let Some(files) = files {
                file_list(b, files, cap);
            }
        }
    }
    if let Some(t) = &d.table {
        table(b, t);
    }
    if let Some(m) = &d.model {
        model(b, m, cap);
    }
    if !d.stale_steps.is_empty() {
        steps(b, &d.stale_steps);
    }
    b.push_str("</section>\n");
}

fn file_list(b: &mut String, files: &[FileDiff], cap: usize) {
    if files.is_empty() {
        return;
    }
    b.push_str("<h3>Files</h3>\n");
    if files.len() > cap {
        let _ = writeln!(
            b,
            "<p class=\"note\">Showing {} of {} changed files.</p>",
            thousands(cap as u64),
            thousands(files.len() as u64)
        );
    }
    b.push_str(
        "<div class=\"scroll\"><table class=\"files\">\n<tr><th>Change</th><th>Path</th>\
         <th class=\"num\">Size</th></tr>\n",
    );
    for f in files.iter().take(cap) {
        let (word, name) = match f.change {
            FileChange::Added => ("added", path(&f.path)),
            FileChange::Deleted => ("deleted", path(&f.path)),
            FileChange::Modified => ("modified", path(&f.path)),
            FileChange::Renamed => (
                "renamed",
                format!(
                    "{}<span class=\"arrow\">→</span>{}",
                    path(f.old_path.as_deref().unwrap_or_default()),
                    path(&f.path)
                ),
            ),
        };
        let _ = writeln!(
            b,
            "<tr class=\"{word}\"><td>{}</td><td class=\"mono\">{name}</td><td class=\"num\">{}</td></tr>",
            badge(word),
            size(f)
        );
    }
    b.push_str("</table></div>\n");
}

/// A file's size, old → new when it changed.
fn size(f: &FileDiff) -> String {
    match (f.old_size, f.new_size) {
        (Some(o), Some(n)) if o != n => format!(
            "{}<span class=\"arrow\">→</span>{}",
            human_bytes(o),
            human_bytes(n)
        ),
        (Some(s), _) | (None, Some(s)) => human_bytes(s),
        (None, None) => String::new(),
    }
}

fn table(b: &mut String, t: &TableDiff) {
    let changed = t.rows_added + t.rows_deleted + t.rows_modified;
    let key = if t.key.is_empty() {
        "no key: a changed row shows as deleted and added".to_string()
    } else {
        let cols: Vec<String> = t
            .key
            .iter()
            .map(|k| format!("<code>{}</code>", escape(k)))
            .collect();
        format!("rows matched by {}", cols.join(", "))
    };
    let _ = writeln!(
        b,
        "<h3>Table</h3>\n<p>Rows: <span class=\"badge added\">{} added</span> \
         <span class=\"badge deleted\">{} deleted</span> <span class=\"badge modified\">{} modified</span> \
         ({} → {} rows; {key}).</p>",
        thousands(t.rows_added),
        thousands(t.rows_deleted),
        thousands(t.rows_modified),
        thousands(t.rows_before),
        thousands(t.rows_after)
    );
    if !t.schema_changes.is_empty() {
        b.push_str("<h4>Schema changes</h4>\n<ul class=\"schema\">\n");
        for s in &t.schema_changes {
            let col = format!("<code>{}</code>", escape(&s.column));
            let ty =
                |t: &Option<String>| format!("<code>{}</code>", escape(t.as_deref().unwrap_or("")));
            let line = match s.change {
                SchemaChangeKind::Added => {
                    format!("{} column {col} ({})", badge("added"), ty(&s.new_type))
                }
                SchemaChangeKind::Dropped => format!("{} column {col}", badge("deleted")),
                SchemaChangeKind::Renamed => format!(
                    "{} column <code>{}</code><span class=\"arrow\">→</span>{col}",
                    badge("renamed"),
                    escape(s.old_name.as_deref().unwrap_or(""))
                ),
                SchemaChangeKind::TypeChanged => format!(
                    "{} column {col}: type {}<span class=\"arrow\">→</span>{}",
                    badge("modified"),
                    ty(&s.old_type),
                    ty(&s.new_type)
                ),
                SchemaChangeKind::Reordered => format!("column {col} moved"),
            };
            let _ = writeln!(b, "<li>{line}</li>");
        }
        b.push_str("</ul>\n");
    }
    if changed == 0 {
        return;
    }
    if t.rows.is_empty() {
        b.push_str("<p class=\"note\">No rows listed (--stat or --limit 0): the counts above are exact.</p>\n");
        return;
    }
    let _ = writeln!(
        b,
        "<p class=\"note\">Showing {} of {} changed rows{}.</p>",
        thousands(t.rows.len() as u64),
        thousands(changed),
        if t.truncated {
            " (raise --limit to see more)"
        } else {
            ""
        }
    );
    let of = |k: RowChangeKind| t.rows.iter().filter(move |r| r.change == k);
    if of(RowChangeKind::Modified).next().is_some() {
        modified_rows(b, t, of(RowChangeKind::Modified));
    }
    for (kind, title) in [
        (RowChangeKind::Added, "Added rows"),
        (RowChangeKind::Deleted, "Deleted rows"),
    ] {
        if of(kind).next().is_some() {
            whole_rows(b, title, kind, of(kind));
        }
    }
}

/// Modified rows: the key, then every column some shown row changed, each changed cell old → new.
fn modified_rows<'a>(
    b: &mut String,
    t: &TableDiff,
    rows: impl Iterator<Item = &'a RowChange> + Clone,
) {
    let mut columns: Vec<&str> = Vec::new();
    for r in rows.clone() {
        for c in &r.cells {
            if !columns.contains(&c.column.as_str()) {
                columns.push(&c.column);
            }
        }
    }
    b.push_str(
        "<h4>Modified rows</h4>\n<div class=\"scroll\"><table class=\"rows modified-rows\">\n<tr>",
    );
    for k in &t.key {
        let _ = write!(b, "<th class=\"key\">{}</th>", escape(k));
    }
    for c in &columns {
        let _ = write!(b, "<th>{}</th>", escape(c));
    }
    b.push_str("</tr>\n");
    for r in rows {
        b.push_str("<tr class=\"modified\">");
        for k in &r.key {
            let _ = write!(b, "<td class=\"k\">{}</td>", cell(k));
        }
        for c in &columns {
            match r.cells.iter().find(|x| x.column == *c) {
                Some(x) => {
                    let _ = write!(
                        b,
                        "<td class=\"v chg\"><del>{}</del><span class=\"arrow\">→</span><ins>{}</ins></td>",
                        cell(&x.old),
                        cell(&x.new)
                    );
                }
                None => b.push_str("<td class=\"same\" title=\"unchanged\">·</td>"),
            }
        }
        b.push_str("</tr>\n");
    }
    b.push_str("</table></div>\n");
}

/// Added or deleted rows, whole, in their version's columns.
fn whole_rows<'a>(
    b: &mut String,
    title: &str,
    kind: RowChangeKind,
    rows: impl Iterator<Item = &'a RowChange> + Clone,
) {
    let mut columns: Vec<&str> = Vec::new();
    for r in rows.clone() {
        for (n, _) in &r.row {
            if !columns.contains(&n.as_str()) {
                columns.push(n);
            }
        }
    }
    let _ = write!(
        b,
        "<h4>{title}</h4>\n<div class=\"scroll\"><table class=\"rows {kind}-rows\">\n<tr>"
    );
    for c in &columns {
        let _ = write!(b, "<th>{}</th>", escape(c));
    }
    b.push_str("</tr>\n");
    for r in rows {
        let _ = write!(b, "<tr class=\"{kind}\">");
        for c in &columns {
            match r.row.iter().find(|(n, _)| n == c) {
                Some((_, v)) => {
                    let _ = write!(b, "<td class=\"v\">{}</td>", cell(v));
                }
                None => b.push_str("<td class=\"same\">·</td>"),
            }
        }
        b.push_str("</tr>\n");
    }
    b.push_str("</table></div>\n");
}

fn model(b: &mut String, m: &ModelDiff, cap: usize) {
    use dv_core::model::safetensors::shape_text;
    let _ = writeln!(
        b,
        "<h3>Model tensors</h3>\n<p>Tensors: <span class=\"badge added\">{} added</span> \
         <span class=\"badge removed\">{} removed</span> <span class=\"badge changed\">{} changed</span> \
         {} unchanged ({} → {} tensors; {} compared).</p>",
        thousands(m.added),
        thousands(m.removed),
        thousands(m.changed),
        thousands(m.unchanged),
        thousands(m.tensors_before),
        thousands(m.tensors_after),
        human_bytes(m.bytes_compared)
    );
    if !m.tensors.is_empty() {
        if m.tensors.len() > cap {
            let _ = writeln!(
                b,
                "<p class=\"note\">Showing {} of {} changed tensors.</p>",
                thousands(cap as u64),
                thousands(m.tensors.len() as u64)
            );
        }
        b.push_str(
            "<div class=\"scroll\"><table class=\"tensors\">\n<tr><th>Change</th><th>Tensor</th><th>Dtype</th>\
             <th>Shape</th><th class=\"num\">Changed elements</th><th class=\"num\">Max |Δ|</th></tr>\n",
        );
        for t in m.tensors.iter().take(cap) {
            let dtype = |d: Option<dv_core::model::safetensors::Dtype>| d.map_or("", |d| d.name());
            let shape = |s: &Option<Vec<u64>>| s.as_deref().map(shape_text);
            let both = |old: Option<String>, new: Option<String>| match (old, new) {
                (Some(o), Some(n)) if o != n => format!(
                    "<del>{}</del><span class=\"arrow\">→</span><ins>{}</ins>",
                    escape(&o),
                    escape(&n)
                ),
                (_, Some(s)) | (Some(s), None) => escape(&s),
                (None, None) => String::new(),
            };
            let nonempty = |s: &str| (!s.is_empty()).then(|| s.to_string());
            let elements = match t.changed_elements {
                Some(n) => {
                    let share = if t.elements > 0 {
                        format!(" ({:.2}%)", n as f64 * 100.0 / t.elements as f64)
                    } else {
                        String::new()
                    };
                    format!("{} of {}{share}", thousands(n), thousands(t.elements))
                }
                None => thousands(t.elements),
            };
            let mut delta = t.max_abs_change.map(magnitude).unwrap_or_default();
            if t.non_finite_changes > 0 {
                let _ = write!(
                    delta,
                    " ({} to or from NaN/inf)",
                    thousands(t.non_finite_changes)
                );
            }
            let _ = writeln!(
                b,
                "<tr class=\"{}\"><td>{}</td><td class=\"mono\">{}</td><td class=\"mono\">{}</td>\
                 <td class=\"mono\">{}</td><td class=\"num\">{elements}</td><td class=\"num\">{}</td></tr>",
                t.status,
                badge(t.status.as_str()),
                escape(&t.name),
                both(nonempty(dtype(t.old_dtype)), nonempty(dtype(t.new_dtype))),
                both(shape(&t.old_shape), shape(&t.new_shape)),
                escape(&delta)
            );
        }
        b.push_str("</table></div>\n");
    }
    if !m.metadata.is_empty() {
        b.push_str(
            "<h4>Metadata</h4>\n<table class=\"metadata\">\n<tr><th>Key</th><th>Before</th><th>After</th></tr>\n",
        );
        for c in &m.metadata {
            let v = |s: &Option<String>| match s {
                Some(s) => escape(s),
                None => "<span class=\"null\">(none)</span>".into(),
            };
            let _ = writeln!(
                b,
                "<tr><td class=\"mono\">{}</td><td class=\"v\"><del>{}</del></td><td class=\"v\"><ins>{}</ins></td></tr>",
                escape(&c.key),
                v(&c.old),
                v(&c.new)
            );
        }
        b.push_str("</table>\n");
    }
}

fn steps(b: &mut String, steps: &[StaleStep]) {
    b.push_str(
        "<h3>Pipeline</h3>\n<p class=\"muted\">Recorded steps (<code>dv run</code>) whose input or output here \
         is not the after version: <code>dv repro</code> would run them again.</p>\n\
         <table class=\"steps\">\n<tr><th>Step</th><th>Uses</th><th>Path</th><th>Before</th></tr>\n",
    );
    for s in steps {
        let uses = match s.role {
            StepRole::Input => "reads",
            StepRole::Output => "writes",
        };
        let before = match s.before {
            StepBefore::UpToDate => "up to date: this change made it stale",
            StepBefore::Stale => "already stale",
            StepBefore::Absent => "not recorded then",
        };
        let _ = writeln!(
            b,
            "<tr><td><code>{}</code> {}</td><td>{uses}</td><td class=\"mono\">{}</td><td>{before}</td></tr>",
            escape(&s.step),
            badge("stale"),
            path(&s.path)
        );
    }
    b.push_str("</table>\n");
}
