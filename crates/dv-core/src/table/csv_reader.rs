//! Reading CSV and TSV tables through Arrow: the delimiter sniffed from the header line, every cell kept as its
//! exact text (an empty unquoted field is NULL), column types inferred ([`super::infer`]).

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::sync::Arc;

use arrow_array::Array;
use arrow_schema::{DataType, Field, Schema};

use super::infer::Infer;
use super::rows::RowBuilder;
use super::{BATCH_ROWS, bad};
use super::{Column, TableSpec};
use crate::Result;
use crate::error::IoContext;

/// The delimiter of a CSV: tab for TSV; otherwise the most frequent of `,` `;` `\t` `|` in the header line.
fn sniff_delimiter(path: &Path, format: &str) -> Result<u8> {
    if format == "tsv" {
        return Ok(b'\t');
    }
    let mut line = Vec::new();
    BufReader::new(File::open(path).at(path)?)
        .take_until_newline(&mut line)
        .at(path)?;
    Ok(super::csv_writer::delimiter_of(&line, format))
}

trait TakeLine {
    fn take_until_newline(self, out: &mut Vec<u8>) -> std::io::Result<usize>;
}

impl<R: BufRead> TakeLine for R {
    fn take_until_newline(mut self, out: &mut Vec<u8>) -> std::io::Result<usize> {
        self.read_until(b'\n', out)
    }
}

pub(super) fn read_csv(
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
            b.push(&cells, &header)?;
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
