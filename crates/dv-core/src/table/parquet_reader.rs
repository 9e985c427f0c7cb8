//! Reading Parquet tables through Arrow: cells as Arrow displays them (nulls stay NULL), column types from the
//! file's schema.

use std::fs::File;
use std::path::Path;

use arrow_array::{Array, RecordBatch};
use arrow_schema::DataType;

use super::rows::RowBuilder;
use super::{BATCH_ROWS, bad};
use super::{Column, TableSpec};
use crate::Result;
use crate::error::IoContext;

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

pub(super) fn read_parquet(
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
            b.push(&cells, &names)?;
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
