//! A table file's bytes as Arrow record batches with Arrow's own types (the Python package's
//! `dv.read_table`): Parquet as its schema says, CSV and TSV with their types inferred by arrow-csv from the
//! whole file (a header row first). Unlike `read.rs`, which keeps every CSV cell as its text for row diffs, this
//! gives what a data frame library would.

use std::io::Cursor;
use std::sync::Arc;

use arrow_array::{RecordBatch, RecordBatchReader};
use arrow_schema::SchemaRef;
use bytes::Bytes;

use super::read::format_of;
use crate::{Error, Result};

/// Rows per batch.
const BATCH_ROWS: usize = 64 * 1024;

/// Reads the table file `path` (its format from its name: `.csv`, `.tsv`/`.tab`, `.parquet`/`.pq`) from its
/// bytes `data`, keeping only `columns` (in the file's order) when given. An unknown column is an error naming
/// the file's columns.
///
/// The bytes come from anyone (a version someone pushed): a panic in the Arrow or Parquet readers on hostile
/// bytes is turned into an error naming the file, so an embedder (the Python package) gets an exception, not
/// a dead process or an uncatchable one.
pub fn read_batches(
    path: &str,
    data: Bytes,
    columns: Option<&[String]>,
) -> Result<(SchemaRef, Vec<RecordBatch>)> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| read(path, data, columns)))
        .unwrap_or_else(|_| Err(Error::format(path, "the table reader failed on this file")))
}

fn read(
    path: &str,
    data: Bytes,
    columns: Option<&[String]>,
) -> Result<(SchemaRef, Vec<RecordBatch>)> {
    let bad = |e: &dyn std::fmt::Display| Error::format(path, e.to_string());
    match format_of(path) {
        Some("parquet") => {
            use parquet::arrow::ProjectionMask;
            use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
            let builder = ParquetRecordBatchReaderBuilder::try_new(data)
                .map_err(|e| bad(&e))?
                .with_batch_size(BATCH_ROWS);
            let builder = match columns {
                Some(names) => {
                    let idx = indices(path, builder.schema(), names)?;
                    let mask = ProjectionMask::roots(builder.parquet_schema(), idx);
                    builder.with_projection(mask)
                }
                None => builder,
            };
            let reader = builder.build().map_err(|e| bad(&e))?;
            let schema = reader.schema();
            let batches = reader
                .collect::<std::result::Result<Vec<_>, _>>()
                .map_err(|e| bad(&e))?;
            Ok((schema, batches))
        }
        Some(f @ ("csv" | "tsv")) => {
            let format = arrow_csv::reader::Format::default()
                .with_header(true)
                .with_delimiter(if f == "tsv" { b'\t' } else { b',' });
            let (schema, _) = format
                .infer_schema(Cursor::new(&data[..]), None)
                .map_err(|e| bad(&e))?;
            let schema = Arc::new(schema);
            let mut builder = arrow_csv::ReaderBuilder::new(schema.clone())
                .with_format(format)
                .with_batch_size(BATCH_ROWS);
            if let Some(names) = columns {
                builder = builder.with_projection(indices(path, &schema, names)?);
            }
            let reader = builder.build(Cursor::new(data)).map_err(|e| bad(&e))?;
            let schema = reader.schema();
            let batches = reader
                .collect::<std::result::Result<Vec<_>, _>>()
                .map_err(|e| bad(&e))?;
            Ok((schema, batches))
        }
        _ => Err(Error::usage(format!(
            "'{path}' is not a table file dv reads (.csv, .tsv, .tab, .parquet, .pq)"
        ))),
    }
}

/// The positions of `names` in `schema`, in the file's order.
fn indices(path: &str, schema: &SchemaRef, names: &[String]) -> Result<Vec<usize>> {
    let mut idx = Vec::with_capacity(names.len());
    for n in names {
        match schema.index_of(n) {
            Ok(i) => idx.push(i),
            Err(_) => {
                let have: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
                return Err(Error::usage(format!(
                    "'{path}' has no column {n:?}; its columns are {}",
                    have.join(", ")
                )));
            }
        }
    }
    idx.sort_unstable();
    idx.dedup();
    Ok(idx)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_types_are_inferred_and_columns_projected() {
        let data = Bytes::from_static(b"id,name,score\n1,ann,2.5\n2,bob,\n");
        let (schema, batches) = read_batches("t.csv", data.clone(), None).unwrap();
        let types: Vec<String> = schema
            .fields()
            .iter()
            .map(|f| f.data_type().to_string())
            .collect();
        assert_eq!(types, ["Int64", "Utf8", "Float64"]);
        assert_eq!(batches.iter().map(|b| b.num_rows()).sum::<usize>(), 2);
        let (schema, _) =
            read_batches("t.csv", data.clone(), Some(&["score".into(), "id".into()])).unwrap();
        let names: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
        assert_eq!(names, ["id", "score"]);
        let err = read_batches("t.csv", data, Some(&["nope".into()])).unwrap_err();
        assert!(err.to_string().contains("id, name, score"), "{err}");
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        for name in ["t.parquet", "t.csv", "t.tsv"] {
            let data = Bytes::from_static(b"PAR1\x00\x01garbage\"\"\n\"unclosed");
            let _ = read_batches(name, data, None);
        }
        assert!(read_batches("t.txt", Bytes::new(), None).is_err());
    }
}
