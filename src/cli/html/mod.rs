//! Self-contained HTML pages: `dv diff --html` (diff.rs) and `dv lineage --format html|svg` (lineage.rs). One file
//! each, with inline CSS, no script, no font or image from anywhere else (a Content-Security-Policy line says
//! so to the browser), so a report can be mailed, attached to a pull request or opened offline.
//!
//! Every string that comes from data (paths, cell values, column and tensor names, commands, commit messages)
//! goes through [`escape`]; the page's own markup is the only unescaped text.

pub mod diff;
pub mod lineage;

use std::fmt::Write;

/// `s` as HTML (or XML) text or attribute value: `& < > " '` as entities, and control characters but the line
/// feed and the tab shown as escapes (`\u{1b}`), since a page cannot hold them.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            '\n' | '\t' => out.push(c),
            c if c.is_control() => out.push_str(&c.escape_unicode().to_string()),
            c => out.push(c),
        }
    }
    out
}

/// A path, as people see it everywhere else ([`super::output::quote_path`]), escaped.
pub fn path(p: &str) -> String {
    escape(&super::output::quote_path(p))
}

/// A table cell's value: NULL set apart from the text "NULL", an empty text shown as such.
pub fn cell(c: &dv_core::table::Cell) -> String {
    match c {
        None => "<span class=\"null\">NULL</span>".into(),
        Some(s) if s.is_empty() => "<span class=\"null\">(empty)</span>".into(),
        Some(s) => escape(s),
    }
}

/// A whole page: `title` (escaped here) and the body's markup.
pub fn page(title: &str, body: &str) -> String {
    let mut s = String::with_capacity(body.len() + STYLE.len() + 512);
    let _ = write!(
        s,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'\">\n\
         <meta name=\"generator\" content=\"dv {}\">\n<title>{}</title>\n<style>{STYLE}</style>\n</head>\n\
         <body>\n{body}<footer>Made by dv {} — a self-contained page: no script, nothing loaded from the \
         network.</footer>\n</body>\n</html>\n",
        env!("CARGO_PKG_VERSION"),
        escape(title),
        env!("CARGO_PKG_VERSION"),
    );
    s
}

/// The one style sheet: system fonts, colours that also read in print, wide tables scrolling on their own.
const STYLE: &str = "
:root { color-scheme: light; --add: #e6ffec; --add-ink: #116329; --del: #ffebe9; --del-ink: #a40e26;
  --chg: #fff8c5; --chg-ink: #7d4e00; --line: #d0d7de; --muted: #59636e; }
* { box-sizing: border-box; }
body { font: 14px/1.45 system-ui, -apple-system, 'Segoe UI', Roboto, 'Helvetica Neue', Arial, sans-serif;
  color: #1f2328; margin: 0 auto; padding: 16px 24px 32px; max-width: 1200px; background: #fff; }
h1 { font-size: 22px; margin: 0 0 8px; }
h2 { font-size: 18px; margin: 0 0 6px; word-break: break-all; }
h3 { font-size: 15px; margin: 16px 0 6px; }
code, .mono, td.v, td.k { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, 'Liberation Mono', monospace;
  font-size: 12.5px; }
p { margin: 6px 0; }
h1 code, h2 code { font-size: inherit; }
.muted, .note { color: var(--muted); }
.note { font-style: italic; }
section.dataset { border: 1px solid var(--line); border-radius: 8px; padding: 12px 16px; margin: 16px 0; }
.scroll { overflow-x: auto; max-width: 100%; }
table { border-collapse: collapse; margin: 4px 0; }
th, td { border: 1px solid var(--line); padding: 3px 8px; text-align: left; vertical-align: top; }
th { background: #f6f8fa; font-weight: 600; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
td.v { white-space: pre-wrap; word-break: break-word; max-width: 420px; }
td.cmd { min-width: 18em; }
td.same { color: #b1b8c0; text-align: center; }
.badge { display: inline-block; border-radius: 10px; padding: 0 8px; font-size: 12px; font-weight: 600;
  vertical-align: 2px; border: 1px solid transparent; }
.added { background: var(--add); color: var(--add-ink); }
.deleted, .removed { background: var(--del); color: var(--del-ink); }
.modified, .changed, .stale { background: var(--chg); color: var(--chg-ink); }
.renamed { background: #ddf4ff; color: #0550ae; }
.unchanged, .up-to-date { background: #eef1f4; color: var(--muted); }
table.rows tr.modified { background: none; color: inherit; }
tr.added td:first-child { border-left: 3px solid var(--add-ink); }
tr.deleted td:first-child { border-left: 3px solid var(--del-ink); }
table.rows td.chg { background: var(--chg); }
del { background: var(--del); color: var(--del-ink); text-decoration: line-through; padding: 0 2px; }
ins { background: var(--add); color: var(--add-ink); text-decoration: none; padding: 0 2px; }
.arrow { color: var(--muted); padding: 0 4px; }
.null { color: var(--muted); font-style: italic; }
dl.sides { display: grid; grid-template-columns: max-content 1fr; gap: 2px 12px; margin: 8px 0 12px; }
dl.sides dt { font-weight: 600; }
dl.sides dd { margin: 0; }
.legend span { margin-right: 10px; }
footer { margin-top: 24px; color: var(--muted); font-size: 12px; }
svg text { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, 'Liberation Mono', monospace; }
";
