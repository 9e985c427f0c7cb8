//! Rendering: human text, JSON, errors with hints, sizes.

use std::io::{IsTerminal, Write};

use dv_core::Error;
use dv_core::table::diff::{RowChangeKind, SchemaChangeKind};

/// Colour only on a terminal, and never when NO_COLOR is set.
pub fn color_enabled() -> bool {
    std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty()) && std::io::stderr().is_terminal()
}

/// How a path is shown in human output (one rule for every command): see [`dv_core::paths::quoted`].
pub use dv_core::paths::quoted as quote_path;

/// `msg` with every control character but the newline escaped (`\x1b`): the last guard on stderr, so that
/// whatever reaches an error message (a path in an I/O error, a server's answer) cannot send terminal escapes.
fn without_escapes(msg: &str) -> std::borrow::Cow<'_, str> {
    if !msg.chars().any(|c| c.is_control() && c != '\n') {
        return std::borrow::Cow::Borrowed(msg);
    }
    std::borrow::Cow::Owned(
        msg.chars()
            .map(|c| match c {
                '\n' => "\n".to_string(),
                c if c.is_control() => c.escape_default().to_string(),
                c => c.to_string(),
            })
            .collect(),
    )
}

pub fn print_error(e: &Error) {
    let (red, yellow, reset) = if color_enabled() {
        ("\x1b[1;31m", "\x1b[1;33m", "\x1b[0m")
    } else {
        ("", "", "")
    };
    // Whatever reached the message (a URL from the configuration, the environment or a request), its
    // passwords and query-string secrets are never shown.
    use dv_core::redact::redact;
    let mut err = std::io::stderr().lock();
    let _ = writeln!(
        err,
        "{red}error{reset}: {}",
        without_escapes(&redact(&e.to_string()))
    );
    // The causes come redacted from the core; redacting each again keeps this the one last guard for every
    // line printed.
    for cause in e.causes() {
        let _ = writeln!(err, "  caused by: {}", without_escapes(&redact(&cause)));
    }
    if let Some(h) = e.hint() {
        let _ = writeln!(err, "\n{yellow}hint{reset}: {h}");
    }
}

/// Prints a value as pretty JSON on stdout.
pub fn print_json<T: serde::Serialize>(value: &T) -> dv_core::Result<()> {
    let text = serde_json::to_string_pretty(value)
        .map_err(|e| Error::Internal(format!("JSON output: {e}")))?;
    // A reader that went away (`| head`) ends the output quietly.
    write_out(format_args!("{text}\n"));
    Ok(())
}

/// A size for people: 1.5 KiB, 3.2 GiB.
pub fn human_bytes(n: u64) -> String {
    // Hand-written: indicatif's HumanBytes (a dependency already) prints two decimals, the output pins one.
    const UNITS: [&str; 6] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
    let mut v = n as f64;
    let mut unit = 0;
    while v >= 1024.0 && unit < UNITS.len() - 1 {
        v /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", UNITS[unit])
    }
}

/// 1234567 as "1,234,567".
pub fn thousands(n: u64) -> String {
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
pub fn magnitude(v: f64) -> String {
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

/// "+2 -1 ~3 files, 1 renamed, +1.5 MiB -20 B"
pub fn summary_text(s: &dv_core::ops::treediff::Summary) -> String {
    let mut t = format!(
        "{} added, {} deleted, {} modified",
        s.files_added, s.files_deleted, s.files_modified
    );
    if s.files_renamed > 0 {
        t.push_str(&format!(", {} renamed", s.files_renamed));
    }
    t.push_str(&format!(
        " (+{}, -{})",
        human_bytes(s.bytes_added),
        human_bytes(s.bytes_deleted)
    ));
    t
}

/// A commit time as `YYYY-MM-DD HH:MM +hhmm`, in the commit's own time zone.
pub fn format_time(seconds: i64, offset_seconds: i32) -> String {
    // Hand-written: jiff (here for gix) and chrono (for arrow) reject offsets past ±26 h a commit can hold.
    let local = seconds + offset_seconds as i64;
    let days = local.div_euclid(86_400);
    let secs = local.rem_euclid(86_400);
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    let sign = if offset_seconds < 0 { '-' } else { '+' };
    let off = offset_seconds.unsigned_abs();
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02} {sign}{:02}{:02}",
        secs / 3600,
        secs % 3600 / 60,
        off / 3600,
        off % 3600 / 60
    )
}

/// One warning line on stderr per file named like a pointer file that is not one (skipped when datasets were
/// listed), shown even when quiet.
pub fn warn_not_pointers(skipped: &[dv_core::ops::datasets::NotPointer]) {
    for s in skipped {
        if s.conflict {
            let data = s
                .path
                .strip_suffix(dv_core::paths::POINTER_SUFFIX)
                .unwrap_or(&s.path);
            let w = dv_core::paths::shell_word(data);
            errln!(
                "warning: skipped '{}': {} (settle it with `dv checkout --ours {w}` or `dv checkout --theirs {w}`)",
                quote_path(&s.path),
                s.reason
            );
        } else if s.is_problem() {
            errln!("warning: skipped '{}': {}", quote_path(&s.path), s.reason);
        } else {
            errln!(
                "warning: skipped '{}': not a dv pointer file ({})",
                quote_path(&s.path),
                s.reason
            );
        }
    }
}

/// A status line on stderr, unless quiet.
pub fn status_line(quiet: bool, msg: &str) {
    if !quiet {
        errln!("{msg}");
    }
}

/// A cell as text: NULL for a null, an empty string quoted so it is told apart.
fn cell_text(c: &dv_core::table::Cell) -> String {
    match c {
        None => "NULL".into(),
        Some(s) if s.is_empty() => "\"\"".into(),
        Some(s) => s.clone(),
    }
}

fn key_text(key: &[dv_core::table::Cell], names: &[String]) -> String {
    key.iter()
        .zip(names)
        .map(|(c, n)| format!("{n}={}", cell_text(c)))
        .collect::<Vec<_>>()
        .join(" ")
}

/// The text form of a table diff: counts, schema changes, then one line per changed row.
pub fn table_diff_text(t: &dv_core::table::diff::TableDiff) -> String {
    let mut out = format!(
        "    rows: {} added, {} deleted, {} modified ({} -> {} rows)\n",
        t.rows_added, t.rows_deleted, t.rows_modified, t.rows_before, t.rows_after
    );
    for s in &t.schema_changes {
        let line = match s.change {
            SchemaChangeKind::Added => format!(
                "column {} added ({})",
                s.column,
                s.new_type.as_deref().unwrap_or("")
            ),
            SchemaChangeKind::Dropped => format!("column {} dropped", s.column),
            SchemaChangeKind::Renamed => format!(
                "column {} renamed to {}",
                s.old_name.as_deref().unwrap_or(""),
                s.column
            ),
            SchemaChangeKind::TypeChanged => format!(
                "column {} type {} -> {}",
                s.column,
                s.old_type.as_deref().unwrap_or(""),
                s.new_type.as_deref().unwrap_or("")
            ),
            SchemaChangeKind::Reordered => format!("column {} moved", s.column),
        };
        out.push_str(&format!("    schema: {line}\n"));
    }
    for r in &t.rows {
        let key = key_text(&r.key, &t.key);
        match r.change {
            RowChangeKind::Modified => {
                let cells: Vec<String> = r
                    .cells
                    .iter()
                    .map(|c| {
                        format!(
                            "{}: {} -> {}",
                            c.column,
                            cell_text(&c.old),
                            cell_text(&c.new)
                        )
                    })
                    .collect();
                out.push_str(&format!("    ~ {key}  {}\n", cells.join(", ")));
            }
            change => {
                let sign = if change == RowChangeKind::Added {
                    '+'
                } else {
                    '-'
                };
                let cells: Vec<String> = r
                    .row
                    .iter()
                    .map(|(n, c)| format!("{n}={}", cell_text(c)))
                    .collect();
                out.push_str(&format!("    {sign} {}\n", cells.join(" ")));
            }
        }
    }
    // Rows were listed, and not all (with `--stat` none are: nothing to raise).
    if t.truncated && !t.rows.is_empty() {
        out.push_str("    ... (more rows: raise --limit)\n");
    }
    out
}

/// Quotes a CSV field when needed.
pub fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

/// A table diff as CSV: `change,key...,column,old,new`, one line per changed cell, added or deleted row; a NULL
/// cell is an empty field, as an empty text is.
pub fn table_diff_csv(t: &dv_core::table::diff::TableDiff) -> String {
    // Every record has at least four fields, so the writer's one special case (a record of a single empty field
    // written as `""`) never applies; flexible, since a key's length is the header's by construction anyway.
    let mut w = csv::WriterBuilder::new()
        .flexible(true)
        .from_writer(Vec::new());
    fn write<'a>(w: &mut csv::Writer<Vec<u8>>, record: impl Iterator<Item = &'a str>) {
        w.write_record(record).expect("CSV into memory");
    }
    fn cell(c: &dv_core::table::Cell) -> &str {
        c.as_deref().unwrap_or_default()
    }
    let key = t.key.iter().map(String::as_str);
    write(
        &mut w,
        std::iter::once("change")
            .chain(key)
            .chain(["column", "old", "new"]),
    );
    for r in &t.rows {
        let change = r.change.to_string();
        let lead = std::iter::once(change.as_str()).chain(r.key.iter().map(cell));
        if r.change == RowChangeKind::Modified {
            for c in &r.cells {
                let fields = [c.column.as_str(), cell(&c.old), cell(&c.new)];
                write(&mut w, lead.clone().chain(fields));
            }
        } else {
            write(&mut w, lead.chain(["", "", ""]));
        }
    }
    let bytes = w.into_inner().expect("CSV into memory");
    String::from_utf8(bytes).expect("CSV of UTF-8 fields")
}

/// Writes text to stdout; a closed pipe (`| head`) ends the output quietly.
pub fn print_text(s: &str) {
    write_out(format_args!("{s}"));
}

/// Set once stdout's reader has gone away (`dv log | head -1`): the rest of the output is dropped and the
/// command finishes as it would have (its work is never cut short by where its output goes), with its own exit
/// code, as ripgrep does, rather than dying of SIGPIPE as git does: a command that changes the repository is
/// never stopped halfway by a closed pipe.
static STDOUT_CLOSED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// The first error writing stdout other than a closed pipe (a full disk under `> file`): reported at the end.
static STDOUT_ERROR: std::sync::Mutex<Option<std::io::Error>> = std::sync::Mutex::new(None);

/// Everything the CLI prints on stdout goes through here (the `outln!` and `out!` macros, [`print_text`],
/// [`print_json`]).
pub fn write_out(args: std::fmt::Arguments) {
    use std::sync::atomic::Ordering;
    if STDOUT_CLOSED.load(Ordering::Relaxed) {
        return;
    }
    if let Err(e) = std::io::stdout().lock().write_fmt(args) {
        out_failed(e);
    }
}

fn out_failed(e: std::io::Error) {
    STDOUT_CLOSED.store(true, std::sync::atomic::Ordering::Relaxed);
    if e.kind() != std::io::ErrorKind::BrokenPipe {
        STDOUT_ERROR
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get_or_insert(e);
    }
}

/// Flushes stdout at the end of a command: an error writing it, other than a closed pipe, fails the command.
pub fn flush_out() -> dv_core::Result<()> {
    if !STDOUT_CLOSED.load(std::sync::atomic::Ordering::Relaxed)
        && let Err(e) = std::io::stdout().lock().flush()
    {
        out_failed(e);
    }
    match STDOUT_ERROR
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .take()
    {
        Some(e) => Err(Error::io("standard output", e)),
        None => Ok(()),
    }
}

/// Everything the CLI prints on stderr but errors goes through here (the `errln!` macro): a closed stderr is
/// not worth a panic, nor anything else.
pub fn write_err(args: std::fmt::Arguments) {
    let _ = std::io::stderr().lock().write_fmt(args);
}

/// An annotation value on one line: as is when that is unambiguous, else quoted with escapes (newlines,
/// tabs, quotes, leading or trailing spaces, empty). At most `max_chars` characters of it, then `…`.
pub fn meta_value_text(v: &str, max_chars: usize) -> String {
    let cut: String = v.chars().take(max_chars).collect();
    let more = if cut.len() < v.len() { "…" } else { "" };
    let plain = !v.is_empty()
        && v.trim() == v
        && !v.chars().any(|c| c.is_control() || c == '"' || c == '\\');
    if plain {
        format!("{cut}{more}")
    } else {
        format!("\"{}\"{more}", cut.escape_debug())
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn times_format_in_their_zone() {
        assert_eq!(super::format_time(0, 0), "1970-01-01 00:00 +0000");
        assert_eq!(
            super::format_time(1_795_000_000, 3600),
            "2026-11-18 12:06 +0100"
        );
        assert_eq!(
            super::format_time(951_782_400, -18_000),
            "2000-02-28 19:00 -0500"
        );
    }

    /// Pins the bytes: quoted only when a field holds a comma, a quote or a line break; quotes doubled; `\n` ends.
    #[test]
    fn table_diffs_as_csv() {
        use dv_core::table::diff::{CellChange, RowChange, RowChangeKind, TableDiff};
        let row = |change, key: &str| RowChange {
            change,
            key: vec![Some(key.to_string()), None],
            cells: Vec::new(),
            row: Vec::new(),
        };
        let mut modified = row(RowChangeKind::Modified, "a\"b");
        modified.cells = vec![
            CellChange {
                column: "x,y".into(),
                old: None,
                new: Some("line\nbreak".into()),
            },
            CellChange {
                column: "z".into(),
                old: Some(String::new()),
                new: Some(" cr\r ".into()),
            },
        ];
        let diff = TableDiff {
            key: vec!["id".into(), "k,2".into()],
            rows: vec![row(RowChangeKind::Added, "1"), modified],
            ..TableDiff::default()
        };
        assert_eq!(
            super::table_diff_csv(&diff),
            "change,id,\"k,2\",column,old,new\nadded,1,,,,\n\
             modified,\"a\"\"b\",,\"x,y\",,\"line\nbreak\"\n\
             modified,\"a\"\"b\",,z,,\" cr\r \"\n"
        );
    }

    #[test]
    fn human_sizes() {
        assert_eq!(super::human_bytes(0), "0 B");
        assert_eq!(super::human_bytes(1023), "1023 B");
        assert_eq!(super::human_bytes(1536), "1.5 KiB");
        assert_eq!(super::human_bytes(1 << 30), "1.0 GiB");
    }

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
