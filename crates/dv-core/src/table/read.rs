//! Reading a table file: its format from its name, its columns and its keyed rows in key order. CSV and TSV
//! keep every cell as its exact text (an empty unquoted field is NULL); Parquet gives cells as Arrow displays
//! them (nulls stay NULL). The readers are `csv_reader.rs` and `parquet_reader.rs`; rows are collected by
//! `rows.rs` and sorted by [`super::sort`].

use std::path::Path;

use super::rows::RowBuilder;
use super::{Column, TableSpec, bad};
use crate::Result;

// Sorting lived here once: embedders' `table::read::...` paths keep working.
pub use super::sort::{
    KeyedRow, MERGE_FANIN, Merge, SORT_MEMORY, SortOptions, SortedRows, show_key,
};

/// A table read from a file: its format, columns and rows.
pub struct ReadTable {
    pub format: String,
    pub columns: Vec<Column>,
    pub rows: SortedRows,
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

/// Reads the table at `path` (`what` names it in errors) and keys its rows as `spec` says, sorting them within
/// `sort`'s memory budget.
pub fn read_table(
    path: &Path,
    what: &str,
    spec: &TableSpec,
    sort: &SortOptions,
) -> Result<ReadTable> {
    let format = format_of(what).ok_or_else(|| {
        bad(
            what,
            "not a table: dv reads .csv, .tsv and .parquet files as tables",
        )
    })?;
    let mut builder = RowBuilder::new(sort.clone(), spec.key.is_empty());
    let columns = match format {
        "parquet" => super::parquet_reader::read_parquet(path, what, spec, &mut builder)?,
        _ => super::csv_reader::read_csv(path, what, format, spec, &mut builder)?,
    };
    let rows = builder.finish(what, spec)?;
    Ok(ReadTable {
        format: format.to_string(),
        columns,
        rows,
    })
}
