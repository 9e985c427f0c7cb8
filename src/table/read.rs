//! Reading tables with Arrow: CSV and TSV (every cell kept as its exact text; an empty unquoted field is NULL)
//! and Parquet (cells as Arrow displays them; nulls stay NULL). Rows come out keyed and sorted.

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::sync::Arc;

use arrow_array::{Array, RecordBatch};
use arrow_schema::{DataType, Field, Schema};

use super::{Column, MAX_COLUMNS, MAX_KEY_COLUMNS, TableSpec, encode_key, encode_row};
use crate::error::IoContext;
use crate::{Error, Result};

const BATCH_ROWS: usize = 64 * 1024;

/// A table read from a file: its format, columns and (key, row) pairs sorted by key.
pub struct ReadTable {
    pub format: String,
    pub columns: Vec<Column>,
    pub rows: Vec<(Vec<u8>, Vec<u8>)>,
}

/// The table format a path's extension names, if any.
pub fn format_of(path: &str) -> Option<&'static str> {
    let lower = path.to_ascii_lowercase();
    if lower.ends_with(".csv") {
        Some("csv")
    } else if lower.ends_with(".tsv") || lower.ends_with(".tab") {
        Some("tsv")
    } else if lower.ends_with(".parquet") || lower.ends_with(".pq") {
        Some("parquet")
    } else {
        None
    }
}

fn bad(what: &str, message: impl std::fmt::Display) -> Error {
    Error::format(what, message.to_string())
}

/// Reads the table at `path` (`what` names it in errors) and keys its rows as `spec` says.
pub fn read_table(path: &Path, what: &str, spec: &TableSpec) -> Result<ReadTable> {
    let format = format_of(what).ok_or_else(|| {
        bad(
            what,
            "not a table: dv reads .csv, .tsv and .parquet files as tables",
        )
    })?;
    let mut builder = RowBuilder::default();
    let columns = match format {
        "parquet" => read_parquet(path, what, spec, &mut builder)?,
        _ => read_csv(path, what, format, spec, &mut builder)?,
    };
    let rows = builder.finish(what, spec, &columns)?;
    Ok(ReadTable {
        format: format.to_string(),
        columns,
        rows,
    })
}

/// Collects rows, encoded in stored column order, with their keys.
#[derive(Default)]
struct RowBuilder {
    /// Column indices in stored order (by name).
    order: Vec<usize>,
    key_cols: Vec<usize>,
    rows: Vec<(Vec<u8>, Vec<u8>)>,
    /// The first row with a NULL key cell.
    null_key_row: Option<(u64, String)>,
}

impl RowBuilder {
    fn start(&mut self, what: &str, names: &[String], spec: &TableSpec) -> Result<()> {
        if names.is_empty() {
            return Err(bad(what, "the table has no columns"));
        }
        if names.len() > MAX_COLUMNS {
            return Err(bad(
                what,
                format!(
                    "{} columns is more than dv accepts ({MAX_COLUMNS})",
                    names.len()
                ),
            ));
        }
        let mut sorted: Vec<&String> = names.iter().collect();
        sorted.sort();
        if let Some(w) = sorted.windows(2).find(|w| w[0] == w[1]) {
            return Err(bad(
                what,
                format!("column {:?} appears twice in the header", w[0]),
            ));
        }
        if spec.key.len() > MAX_KEY_COLUMNS {
            return Err(bad(what, format!("at most {MAX_KEY_COLUMNS} key columns")));
        }
        self.key_cols = spec
            .key
            .iter()
            .map(|k| {
                names.iter().position(|n| n == k).ok_or_else(|| {
                    bad(
                        what,
                        format!(
                            "key column {k:?} is not in the table (columns: {})",
                            names.join(", ")
                        ),
                    )
                })
            })
            .collect::<Result<_>>()?;
        self.order = (0..names.len()).collect();
        self.order.sort_by(|&a, &b| names[a].cmp(&names[b]));
        Ok(())
    }

    fn push(&mut self, cells: &[Option<&str>], names: &[String]) {
        let row = encode_row(self.order.iter().map(|&i| cells[i]));
        let key = if self.key_cols.is_empty() {
            Vec::new() // filled in by `finish`
        } else {
            if self.null_key_row.is_none()
                && let Some(&c) = self.key_cols.iter().find(|&&c| cells[c].is_none())
            {
                self.null_key_row = Some((self.rows.len() as u64 + 1, names[c].clone()));
            }
            encode_key(self.key_cols.iter().map(|&i| cells[i]))
        };
        self.rows.push((key, row));
    }

    fn finish(
        self,
        what: &str,
        spec: &TableSpec,
        columns: &[Column],
    ) -> Result<Vec<(Vec<u8>, Vec<u8>)>> {
        if let Some((row, col)) = self.null_key_row {
            return Err(bad(
                what,
                format!("row {row} has no value in key column {col:?}"),
            ));
        }
        let mut rows = self.rows;
        if spec.key.is_empty() {
            // Keyless: a row is its own key; equal rows are told apart by their occurrence.
            rows.sort_unstable_by(|a, b| a.1.cmp(&b.1));
            let mut occurrence = 0u32;
            for i in 0..rows.len() {
                occurrence = if i > 0 && rows[i - 1].1 == rows[i].1 {
                    occurrence + 1
                } else {
                    0
                };
                let mut k = rows[i].1.clone();
                k.extend_from_slice(&occurrence.to_be_bytes());
                rows[i].0 = k;
            }
            return Ok(rows);
        }
        rows.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        let dups: Vec<&[u8]> = rows
            .windows(2)
            .filter(|w| w[0].0 == w[1].0)
            .map(|w| w[0].0.as_slice())
            .collect();
        if !dups.is_empty() {
            let mut distinct = dups.clone();
            distinct.dedup();
            let shown: Vec<String> = distinct.iter().take(5).map(|k| show_key(k)).collect();
            let more = if distinct.len() > 5 {
                format!(" and {} more", distinct.len() - 5)
            } else {
                String::new()
            };
            let _ = columns;
            return Err(bad(
                what,
                format!(
                    "duplicate keys in key column(s) {}: {}{more}",
                    spec.key.join(", "),
                    shown.join("; ")
                ),
            ));
        }
        Ok(rows)
    }
}

/// A key for messages: its cells joined by commas.
pub fn show_key(key: &[u8]) -> String {
    match super::decode_key(key) {
        Ok(cells) => cells
            .iter()
            .map(|c| c.as_deref().unwrap_or("NULL").to_string())
            .collect::<Vec<_>>()
            .join(","),
        Err(_) => "?".into(),
    }
}

/// Per-column type inference over CSV text: the narrowest of int, float, bool, date that fits every value.
#[derive(Clone)]
struct Infer {
    int: bool,
    float: bool,
    boolean: bool,
    date: bool,
    any: bool,
}

impl Infer {
    fn new() -> Infer {
        Infer {
            int: true,
            float: true,
            boolean: true,
            date: true,
            any: false,
        }
    }

    fn see(&mut self, s: &str) {
        self.any = true;
        if self.int && s.parse::<i64>().is_err() {
            self.int = false;
        }
        if self.float && s.parse::<f64>().is_err() {
            self.float = false;
        }
        if self.boolean && !matches!(s, "true" | "false" | "TRUE" | "FALSE" | "True" | "False") {
            self.boolean = false;
        }
        if self.date && !is_date(s) {
            self.date = false;
        }
    }

    fn name(&self) -> &'static str {
        match () {
            _ if !self.any => "string",
            _ if self.int => "int",
            _ if self.float => "float",
            _ if self.boolean => "bool",
            _ if self.date => "date",
            _ => "string",
        }
    }
}

fn is_date(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 10
        && b[4] == b'-'
        && b[7] == b'-'
        && b.iter()
            .enumerate()
            .all(|(i, c)| i == 4 || i == 7 || c.is_ascii_digit())
}

/// The delimiter of a CSV: tab for TSV; otherwise the most frequent of `,` `;` `\t` `|` in the header line.
fn sniff_delimiter(path: &Path, format: &str) -> Result<u8> {
    if format == "tsv" {
        return Ok(b'\t');
    }
    let mut line = Vec::new();
    BufReader::new(File::open(path).at(path)?)
        .take_until_newline(&mut line)
        .at(path)?;
    let count = |d: u8| line.iter().filter(|&&c| c == d).count();
    Ok([b',', b';', b'\t', b'|']
        .into_iter()
        .max_by_key(|&d| (count(d), d == b','))
        .unwrap_or(b','))
}

trait TakeLine {
    fn take_until_newline(self, out: &mut Vec<u8>) -> std::io::Result<usize>;
}

impl<R: BufRead> TakeLine for R {
    fn take_until_newline(mut self, out: &mut Vec<u8>) -> std::io::Result<usize> {
        self.read_until(b'\n', out)
    }
}

fn read_csv(
    path: &Path,
    what: &str,
    format: &str,
    spec: &TableSpec,
    b: &mut RowBuilder,
) -> Result<Vec<Column>> {
    let delimiter = sniff_delimiter(path, format)?;
    // The header, parsed with the same CSV rules as the rows.
    let header = {
        let mut f = File::open(path).at(path)?;
        let (schema, _) = arrow_csv::reader::Format::default()
            .with_header(true)
            .with_delimiter(delimiter)
            .infer_schema(&mut f, Some(0))
            .map_err(|e| bad(what, csv_error(e)))?;
        schema
            .fields()
            .iter()
            .map(|f| f.name().clone())
            .collect::<Vec<String>>()
    };
    b.start(what, &header, spec)?;
    let schema = Arc::new(Schema::new(
        header
            .iter()
            .map(|n| Field::new(n, DataType::Utf8, true))
            .collect::<Vec<_>>(),
    ));
    let reader = arrow_csv::ReaderBuilder::new(schema)
        .with_header(true)
        .with_delimiter(delimiter)
        .with_batch_size(BATCH_ROWS)
        .build(File::open(path).at(path)?)
        .map_err(|e| bad(what, csv_error(e)))?;
    let mut infer = vec![Infer::new(); header.len()];
    for batch in reader {
        let batch = batch.map_err(|e| bad(what, csv_error(e)))?;
        let mut cells: Vec<Option<&str>> = Vec::with_capacity(header.len());
        let cols: Vec<&arrow_array::StringArray> = batch
            .columns()
            .iter()
            .map(|c| c.as_any().downcast_ref().expect("Utf8 columns"))
            .collect();
        for row in 0..batch.num_rows() {
            cells.clear();
            for (c, col) in cols.iter().enumerate() {
                if col.is_null(row) {
                    cells.push(None);
                } else {
                    let v = col.value(row);
                    infer[c].see(v);
                    cells.push(Some(v));
                }
            }
            b.push(&cells, &header);
        }
    }
    Ok(header
        .into_iter()
        .zip(infer)
        .map(|(name, i)| Column {
            name,
            ty: i.name().to_string(),
        })
        .collect())
}

/// Arrow's CSV errors already name the line and field; drop the error-kind prefix.
fn csv_error(e: arrow_schema::ArrowError) -> String {
    match e {
        arrow_schema::ArrowError::CsvError(m) | arrow_schema::ArrowError::ParseError(m) => m,
        other => other.to_string(),
    }
}

fn type_name(t: &DataType) -> String {
    match t {
        DataType::Int8
        | DataType::Int16
        | DataType::Int32
        | DataType::Int64
        | DataType::UInt8
        | DataType::UInt16
        | DataType::UInt32
        | DataType::UInt64 => "int".into(),
        DataType::Float16 | DataType::Float32 | DataType::Float64 => "float".into(),
        DataType::Boolean => "bool".into(),
        DataType::Date32 | DataType::Date64 => "date".into(),
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => "string".into(),
        other => other.to_string(),
    }
}

fn read_parquet(
    path: &Path,
    what: &str,
    spec: &TableSpec,
    b: &mut RowBuilder,
) -> Result<Vec<Column>> {
    use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
    let unreadable =
        |e: &dyn std::fmt::Display| bad(what, format!("not a readable Parquet file: {e}"));
    let file = File::open(path).at(path)?;
    let builder = ParquetRecordBatchReaderBuilder::try_new(file).map_err(|e| unreadable(&e))?;
    let schema = builder.schema().clone();
    let names: Vec<String> = schema.fields().iter().map(|f| f.name().clone()).collect();
    b.start(what, &names, spec)?;
    let reader = builder
        .with_batch_size(BATCH_ROWS)
        .build()
        .map_err(|e| unreadable(&e))?;
    let options = arrow_cast::display::FormatOptions::default();
    let mut text: Vec<Vec<Option<String>>> = Vec::new();
    for batch in reader {
        let batch: RecordBatch = batch.map_err(|e| unreadable(&e))?;
        text.clear();
        for col in batch.columns() {
            let f = arrow_cast::display::ArrayFormatter::try_new(col.as_ref(), &options)
                .map_err(|e| unreadable(&e))?;
            text.push(
                (0..batch.num_rows())
                    .map(|i| (!col.is_null(i)).then(|| f.value(i).to_string()))
                    .collect(),
            );
        }
        let mut cells: Vec<Option<&str>> = Vec::with_capacity(names.len());
        for row in 0..batch.num_rows() {
            cells.clear();
            cells.extend(text.iter().map(|c| c[row].as_deref()));
            b.push(&cells, &names);
        }
    }
    Ok(schema
        .fields()
        .iter()
        .map(|f| Column {
            name: f.name().clone(),
            ty: type_name(f.data_type()),
        })
        .collect())
}
