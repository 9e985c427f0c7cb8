//! Writing a CSV or TSV table with row edits applied, in the dialect of the file it starts from (delimiter,
//! line ending, quoting only where needed): rows left alone are copied byte for byte, so a merged file shares
//! its chunks with the version it came from. A change of columns rewrites every row.

use std::collections::HashMap;
use std::io::Write;

use super::{Cell, bad, encode_key};
use crate::Result;

/// What to do to a table file's rows.
pub struct Edits<'a> {
    /// The key columns.
    pub key: &'a [String],
    /// The columns to write, in order (the file's own unless columns were added or dropped).
    pub columns: &'a [String],
    /// For each of `columns`, the file's column a row left alone takes its cell from (`None`: NULL); empty:
    /// the column of the same name.
    pub from: &'a [Option<String>],
    /// The same in their file (read by the Parquet writer, which takes cells from it).
    pub their_from: &'a [Option<String>],
    /// By key ([`encode_key`]): `None` deletes the row, `Some` replaces it with cells in `columns` order.
    pub rows: &'a HashMap<Vec<u8>, Option<Vec<Cell>>>,
    /// New rows, cells in `columns` order, written after the file's rows.
    pub appended: &'a [Vec<Cell>],
}

/// The delimiter a table's header line uses: tab for TSV; otherwise the most frequent of `,` `;` `\t` `|`
/// (the rule [`super::csv_reader`] reads tables by).
pub(super) fn delimiter_of(header_line: &[u8], format: &str) -> u8 {
    if format == "tsv" {
        return b'\t';
    }
    let count = |d: u8| header_line.iter().filter(|&&c| c == d).count();
    [b',', b';', b'\t', b'|']
        .into_iter()
        .max_by_key(|&d| (count(d), d == b','))
        .unwrap_or(b',')
}

/// Where each column to write is among the file's columns `names` (`None`: none, written NULL).
pub(super) fn sources(
    names: &[String],
    edits: &Edits,
    from: &[Option<String>],
) -> Vec<Option<usize>> {
    edits
        .columns
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let name = match from.get(i) {
                Some(from) => from.as_deref(),
                None if from.is_empty() => Some(c.as_str()),
                None => None,
            };
            name.and_then(|n| names.iter().position(|x| x == n))
        })
        .collect()
}

/// Writes table file `src` (`what` names it, `format` is `csv` or `tsv`) to `out` with `edits` applied;
/// returns the rows written. Every edited key must be a row of `src`: one that is not is an error, as is a
/// file that does not parse the way dv read it.
pub fn rewrite(
    src: &[u8],
    what: &str,
    format: &str,
    edits: &Edits,
    out: &mut dyn Write,
) -> Result<u64> {
    let header_end = src
        .iter()
        .position(|&b| b == b'\n')
        .map_or(src.len(), |i| i + 1);
    let header_line = &src[..header_end];
    let delimiter = delimiter_of(header_line, format);
    let terminator: &[u8] = if header_line.ends_with(b"\r\n") {
        b"\r\n"
    } else {
        b"\n"
    };
    let mut reader = csv::ReaderBuilder::new()
        .delimiter(delimiter)
        .has_headers(true)
        .from_reader(src);
    let io = |e: std::io::Error| crate::Error::Internal(format!("writing {what}: {e}"));
    let parse = |e: csv::Error| bad(what, e.to_string());
    let names: Vec<String> = reader
        .byte_headers()
        .map_err(parse)?
        .iter()
        .map(|f| String::from_utf8_lossy(f).into_owned())
        .collect();
    let key_at: Vec<usize> = edits
        .key
        .iter()
        .map(|k| {
            names
                .iter()
                .position(|n| n == k)
                .ok_or_else(|| bad(what, format!("key column {k:?} is not in the file")))
        })
        .collect::<Result<_>>()?;
    // Where each output column is in the file (`None`: a column the file lacks, written NULL).
    let same_columns = names == edits.columns;
    let from = sources(&names, edits, edits.from);
    let put = |out: &mut dyn Write, cells: &mut dyn Iterator<Item = Option<&[u8]>>| -> Result<()> {
        let mut line = Vec::new();
        write_record(&mut line, cells, delimiter, terminator);
        out.write_all(&line).map_err(io)
    };
    if same_columns {
        out.write_all(header_line).map_err(io)?;
        if !header_line.ends_with(b"\n") {
            out.write_all(b"\n").map_err(io)?;
        }
    } else {
        put(out, &mut edits.columns.iter().map(|c| Some(c.as_bytes())))?;
    }
    let mut record = csv::ByteRecord::new();
    let mut rows = 0u64;
    let mut edited = 0usize;
    let mut ended = true;
    let mut start = header_end;
    loop {
        let more = reader.read_byte_record(&mut record).map_err(parse)?;
        if !more {
            break;
        }
        // The record's raw bytes: from where the one before ended to where the reader now stands.
        let mut end = reader.position().byte() as usize;
        // The reader ends a CRLF record at its CR: its LF is the record's too.
        if end > 0 && src.get(end - 1) == Some(&b'\r') && src.get(end) == Some(&b'\n') {
            end += 1;
        }
        let raw = &src[start.min(end)..end];
        start = end;
        let field = |i: usize| record.get(i).filter(|f| !f.is_empty());
        let key_text: Vec<Option<&str>> = key_at
            .iter()
            .map(|&i| field(i).map(|f| std::str::from_utf8(f).unwrap_or("")))
            .collect();
        let key = encode_key(key_text.into_iter());
        match edits.rows.get(&key) {
            Some(None) => {
                edited += 1;
                continue;
            }
            Some(Some(cells)) => {
                edited += 1;
                put(
                    out,
                    &mut cells.iter().map(|c| c.as_deref().map(str::as_bytes)),
                )?;
                ended = true;
            }
            None if same_columns => {
                out.write_all(raw).map_err(io)?;
                ended = raw.ends_with(b"\n");
            }
            None => {
                put(out, &mut from.iter().map(|&i| i.and_then(field)))?;
                ended = true;
            }
        }
        rows += 1;
    }
    if edited != edits.rows.len() {
        return Err(bad(
            what,
            format!(
                "{} of the rows to change are not in the file",
                edits.rows.len() - edited
            ),
        ));
    }
    if !ended && !edits.appended.is_empty() {
        out.write_all(terminator).map_err(io)?;
    }
    for cells in edits.appended {
        put(
            out,
            &mut cells.iter().map(|c| c.as_deref().map(str::as_bytes)),
        )?;
        rows += 1;
    }
    // What follows the last record (blank lines) stays at the end, when rows are copied as they are.
    let tail = &src[start.min(src.len())..];
    if same_columns && !tail.is_empty() {
        out.write_all(tail).map_err(io)?;
    }
    Ok(rows)
}

/// One record: each field quoted only when it must be (it holds the delimiter, a quote or a line break, or it
/// is the record's one field and empty, which would read as no record), quotes inside doubled.
fn write_record(
    out: &mut Vec<u8>,
    cells: &mut dyn Iterator<Item = Option<&[u8]>>,
    delimiter: u8,
    terminator: &[u8],
) {
    let start = out.len();
    let mut fields = 0;
    for cell in cells {
        if fields > 0 {
            out.push(delimiter);
        }
        fields += 1;
        let f = cell.unwrap_or(b"");
        if f.iter()
            .any(|&b| b == delimiter || b == b'"' || b == b'\n' || b == b'\r')
        {
            out.push(b'"');
            for &b in f {
                if b == b'"' {
                    out.push(b'"');
                }
                out.push(b);
            }
            out.push(b'"');
        } else {
            out.extend_from_slice(f);
        }
    }
    if fields == 1 && out.len() == start {
        out.extend_from_slice(b"\"\"");
    }
    out.extend_from_slice(terminator);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn k(s: &str) -> Vec<u8> {
        encode_key(std::iter::once(Some(s)))
    }

    fn run(
        src: &str,
        columns: &[&str],
        rows: &[(&str, Option<Vec<Cell>>)],
        appended: &[Vec<Cell>],
    ) -> String {
        let columns: Vec<String> = columns.iter().map(|s| s.to_string()).collect();
        let rows: HashMap<Vec<u8>, Option<Vec<Cell>>> =
            rows.iter().map(|(key, r)| (k(key), r.clone())).collect();
        let mut out = Vec::new();
        let key = vec!["id".to_string()];
        rewrite(
            src.as_bytes(),
            "t.csv",
            "csv",
            &Edits {
                key: &key,
                columns: &columns,
                from: &[],
                their_from: &[],
                rows: &rows,
                appended,
            },
            &mut out,
        )
        .unwrap();
        String::from_utf8(out).unwrap()
    }

    fn cells(v: &[Option<&str>]) -> Vec<Cell> {
        v.iter().map(|c| c.map(str::to_string)).collect()
    }

    #[test]
    fn unchanged_rows_keep_their_bytes_and_edits_follow_the_dialect() {
        let src = "id;name;note\r\n1;\"ann\";x\r\n2;bob;\r\n3;cy;\"a;b\"\r\n";
        let got = run(
            src,
            &["id", "name", "note"],
            &[
                ("2", Some(cells(&[Some("2"), Some("bo;b"), None]))),
                ("3", None),
            ],
            &[cells(&[Some("4"), Some("dee"), Some("n")])],
        );
        assert_eq!(
            got,
            "id;name;note\r\n1;\"ann\";x\r\n2;\"bo;b\";\r\n4;dee;n\r\n"
        );
    }

    #[test]
    fn blank_lines_after_the_last_row_stay_there() {
        // Second review: new rows went after the blank lines.
        assert_eq!(
            run(
                "id,v\n1,a\n\n",
                &["id", "v"],
                &[],
                &[cells(&[Some("2"), Some("b")])]
            ),
            "id,v\n1,a\n2,b\n\n"
        );
        // Found by the csv_rewrite fuzz target.
        assert_eq!(
            run("id,v\n!,a\n\n", &["id", "v"], &[], &[]),
            "id,v\n!,a\n\n"
        );
    }

    #[test]
    fn a_file_without_a_final_newline_gets_one_before_new_rows() {
        let got = run(
            "id,v\n1,a",
            &["id", "v"],
            &[],
            &[cells(&[Some("2"), Some("b")])],
        );
        assert_eq!(got, "id,v\n1,a\n2,b\n");
        assert_eq!(run("id,v\n1,a", &["id", "v"], &[], &[]), "id,v\n1,a");
    }

    #[test]
    fn new_columns_rewrite_every_row() {
        let got = run(
            "id,v\n1,a\n2,b\n",
            &["id", "v", "w"],
            &[("2", Some(cells(&[Some("2"), Some("b"), Some("z")])))],
            &[],
        );
        assert_eq!(got, "id,v,w\n1,a,\n2,b,z\n");
        let dropped = run("id,v,w\n1,a,q\n", &["id", "w"], &[], &[]);
        assert_eq!(dropped, "id,w\n1,q\n");
    }

    #[test]
    fn an_edit_for_a_row_the_file_lacks_is_an_error() {
        let rows: HashMap<Vec<u8>, Option<Vec<Cell>>> = [(k("9"), None)].into_iter().collect();
        let cols = vec!["id".to_string(), "v".to_string()];
        let key = vec!["id".to_string()];
        let e = rewrite(
            b"id,v\n1,a\n",
            "t.csv",
            "csv",
            &Edits {
                key: &key,
                columns: &cols,
                from: &[],
                their_from: &[],
                rows: &rows,
                appended: &[],
            },
            &mut Vec::new(),
        )
        .unwrap_err();
        assert!(e.to_string().contains("not in the file"), "{e}");
    }

    /// Parses CSV text into records (empty fields as NULL), as dv reads tables.
    fn parse(text: &[u8], delimiter: u8) -> Vec<Vec<Cell>> {
        let mut r = csv::ReaderBuilder::new()
            .delimiter(delimiter)
            .has_headers(false)
            .from_reader(text);
        r.records()
            .map(|rec| {
                rec.unwrap()
                    .iter()
                    .map(|f| (!f.is_empty()).then(|| f.to_string()))
                    .collect()
            })
            .collect()
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(128))]
        #[test]
        fn rewriting_gives_our_rows_with_the_edits_and_nothing_else(
            cells in proptest::collection::vec(proptest::option::of("[a-c;,\"\n ]{1,4}"), 0..60),
            crlf in proptest::bool::ANY,
            semicolon in proptest::bool::ANY,
            edits in proptest::collection::vec((0usize..20, proptest::option::of(proptest::option::of("[x;\"]{1,3}"))), 0..8),
        ) {
            let d = if semicolon { b';' } else { b',' };
            let term: &[u8] = if crlf { b"\r\n" } else { b"\n" };
            // Rows: id, v; written by the writer itself in the dialect chosen.
            let mut text = Vec::new();
            write_record(&mut text, &mut [Some(&b"id"[..]), Some(&b"v"[..])].into_iter(), d, term);
            let mut want: Vec<Vec<Cell>> = Vec::new();
            for (i, c) in cells.iter().enumerate() {
                let id = i.to_string();
                write_record(&mut text, &mut [Some(id.as_bytes()), c.as_deref().map(str::as_bytes)].into_iter(), d, term);
                want.push(vec![Some(id), c.clone()]);
            }
            // Unchanged, the file comes back byte for byte.
            let cols = vec!["id".to_string(), "v".to_string()];
            let key = vec!["id".to_string()];
            let none = HashMap::new();
            let mut out = Vec::new();
            let format = "csv";
            rewrite(&text, "t.csv", format, &Edits { key: &key, columns: &cols, from: &[],
                their_from: &[], rows: &none, appended: &[] }, &mut out).unwrap();
            proptest::prop_assert_eq!(&out, &text);
            // Edits: each replaces (Some) or deletes (None) a row that exists.
            let mut rows: HashMap<Vec<u8>, Option<Vec<Cell>>> = HashMap::new();
            for (i, e) in &edits {
                if *i < cells.len() {
                    let id = i.to_string();
                    rows.insert(k(&id), e.clone().map(|v| vec![Some(id.clone()), v]));
                }
            }
            for row in want.iter_mut() {
                let id = row[0].clone().unwrap();
                if let Some(e) = rows.get(&k(&id)) {
                    match e {
                        None => row.clear(),
                        Some(cells) => *row = cells.clone(),
                    }
                }
            }
            want.retain(|r| !r.is_empty());
            let appended = vec![vec![Some("999".to_string()), Some("new;\"".to_string())]];
            want.push(appended[0].clone());
            let mut out = Vec::new();
            let n = rewrite(&text, "t.csv", format, &Edits { key: &key, columns: &cols, from: &[],
                their_from: &[], rows: &rows, appended: &appended }, &mut out).unwrap();
            proptest::prop_assert_eq!(n as usize, want.len());
            let mut got = parse(&out, d);
            proptest::prop_assert_eq!(got.remove(0), vec![Some("id".to_string()), Some("v".to_string())]);
            proptest::prop_assert_eq!(got, want);
        }
    }
}
