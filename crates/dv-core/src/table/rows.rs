//! Building a table's rows: checks the header against the key, encodes each row in stored column order with
//! its key, and hands full batches to the sort ([`super::sort`]) to spill.

use super::bad;
use super::run::{RunFile, RunWriter};
use super::sort::{Duplicates, KeyedRow, SortOptions, SortedRows, merge_runs, sort_batch};
use super::{MAX_COLUMNS, MAX_KEY_COLUMNS, TableSpec, encode_key, encode_row};
use crate::Result;

/// What a row costs in memory beyond its key and row buffers: the allocator's header and rounding of two
/// allocations. The (key, row) pair itself is counted by the batch vector's capacity.
pub(super) const ROW_OVERHEAD: usize = 32;

/// Collects rows, encoded in stored column order, with their keys; spills sorted batches past the budget.
pub(super) struct RowBuilder {
    /// Column indices in stored order (by name).
    order: Vec<usize>,
    key_cols: Vec<usize>,
    keyless: bool,
    /// The batch in memory.
    rows: Vec<KeyedRow>,
    /// Estimated memory of the rows in `rows` (their buffers), in bytes.
    used: usize,
    /// Rows pushed in all.
    count: u64,
    /// The first row with a NULL key cell.
    null_key_row: Option<(u64, String)>,
    sort: SortOptions,
    /// Sorted batches spilled to disk, oldest first.
    runs: Vec<RunFile>,
}

impl RowBuilder {
    pub(super) fn new(sort: SortOptions, keyless: bool) -> RowBuilder {
        RowBuilder {
            order: Vec::new(),
            key_cols: Vec::new(),
            keyless,
            rows: Vec::new(),
            used: 0,
            count: 0,
            null_key_row: None,
            sort,
            runs: Vec::new(),
        }
    }

    pub(super) fn start(&mut self, what: &str, names: &[String], spec: &TableSpec) -> Result<()> {
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
        self.keyless = self.key_cols.is_empty();
        self.order = (0..names.len()).collect();
        self.order.sort_by(|&a, &b| names[a].cmp(&names[b]));
        Ok(())
    }

    pub(super) fn push(&mut self, cells: &[Option<&str>], names: &[String]) -> Result<()> {
        let row = encode_row(self.order.iter().map(|&i| cells[i]));
        self.count += 1;
        let key = if self.keyless {
            // Filled in by `finish` (or the merge) with a copy of the row: counted here.
            self.used += row.len() + 4 + ROW_OVERHEAD / 2;
            Vec::new()
        } else {
            if self.null_key_row.is_none()
                && let Some(&c) = self.key_cols.iter().find(|&&c| cells[c].is_none())
            {
                self.null_key_row = Some((self.count, names[c].clone()));
            }
            encode_key(self.key_cols.iter().map(|&i| cells[i]))
        };
        self.used += key.capacity() + row.capacity() + ROW_OVERHEAD;
        self.rows.push((key, row));
        if self.used + self.rows.capacity() * std::mem::size_of::<KeyedRow>() >= self.sort.memory {
            self.spill()?;
        }
        Ok(())
    }

    /// Sorts the batch in memory and writes it out as a run.
    fn spill(&mut self) -> Result<()> {
        sort_batch(&mut self.rows, self.keyless);
        let mut w = RunWriter::create(&self.sort.tmp_dir)?;
        for (k, r) in &self.rows {
            w.write(k, r)?;
        }
        self.runs.push(w.finish()?);
        self.rows.clear();
        self.used = 0;
        Ok(())
    }

    pub(super) fn finish(self, what: &str, spec: &TableSpec) -> Result<SortedRows> {
        if let Some((row, col)) = self.null_key_row {
            return Err(bad(
                what,
                format!("row {row} has no value in key column {col:?}"),
            ));
        }
        let mut rows = self.rows;
        sort_batch(&mut rows, self.keyless);
        if !self.runs.is_empty() {
            return merge_runs(self.runs, rows, self.keyless, &self.sort, what, spec)
                .map(|m| SortedRows::Merge(Box::new(m)));
        }
        if self.keyless {
            // Keyless: a row is its own key; equal rows are told apart by their occurrence.
            let mut occurrence = 0u32;
            for i in 0..rows.len() {
                occurrence = if i > 0 && rows[i - 1].1 == rows[i].1 {
                    occurrence + 1
                } else {
                    0
                };
                let mut k = Vec::with_capacity(rows[i].1.len() + 4);
                k.extend_from_slice(&rows[i].1);
                k.extend_from_slice(&occurrence.to_be_bytes());
                rows[i].0 = k;
            }
            return Ok(SortedRows::Memory(rows));
        }
        let mut dups = Duplicates::default();
        let mut prev: Option<&[u8]> = None;
        for (k, _) in &rows {
            dups.see(prev, k);
            prev = Some(k);
        }
        if dups.distinct > 0 {
            return Err(dups.error(what, spec));
        }
        Ok(SortedRows::Memory(rows))
    }
}
