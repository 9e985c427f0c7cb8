//! Reading tables with Arrow: CSV and TSV (every cell kept as its exact text; an empty unquoted field is NULL)
//! and Parquet (cells as Arrow displays them; nulls stay NULL). Rows come out keyed and sorted.
//!
//! Sorting is an external merge sort with bounded memory: rows collect in memory until their estimated size
//! passes a budget ([`SortOptions::memory`], from [`crate::Settings::table_sort_memory`]), then that batch is
//! sorted and spilled to a zstd-compressed run file in the store's temporary folder. At the end the runs and the last batch are merged ([`Merge`]). A table that fits
//! the budget is sorted in memory, as one batch, and never touches the disk.

use std::cmp::Ordering;
use std::collections::{BinaryHeap, VecDeque};
use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow_array::{Array, RecordBatch};
use arrow_schema::{DataType, Field, Schema};

use super::{Column, MAX_COLUMNS, MAX_KEY_COLUMNS, TableSpec, encode_key, encode_row};
use crate::error::IoContext;
use crate::{Error, Result};

const BATCH_ROWS: usize = 64 * 1024;

/// Rows held in memory before a sorted batch is spilled to disk, by default (bytes, estimated;
/// [`crate::Settings::table_sort_memory`]).
pub const SORT_MEMORY: usize = 256 * 1024 * 1024;
/// What a row costs in memory beyond its key and row buffers: the allocator's header and rounding of two
/// allocations. The (key, row) pair itself is counted by the batch vector's capacity.
const ROW_OVERHEAD: usize = 32;
/// Most run files merged at once; more are first merged in groups of this many (each open run holds about
/// 0.5 MiB of buffers and decoder state).
pub const MERGE_FANIN: usize = 32;
/// The zstd window of run files (2^17 bytes): small, so each open run's decoder stays small.
const RUN_WINDOW_LOG: u32 = 17;

/// How rows are sorted: the memory budget, where runs are spilled, how many are merged at once.
#[derive(Clone, Debug)]
pub struct SortOptions {
    pub memory: usize,
    /// A folder whose stale temporary files dv removes (the store's `tmp`).
    pub tmp_dir: PathBuf,
    /// At least 2.
    pub fanin: usize,
}

impl SortOptions {
    pub fn new(memory: usize, tmp_dir: PathBuf) -> SortOptions {
        SortOptions {
            memory,
            tmp_dir,
            fanin: MERGE_FANIN,
        }
    }
}

/// A (key, row) pair: an encoded key and an encoded row.
pub type KeyedRow = (Vec<u8>, Vec<u8>);

/// A table read from a file: its format, columns and rows.
pub struct ReadTable {
    pub format: String,
    pub columns: Vec<Column>,
    pub rows: SortedRows,
}

/// A table's (key, row) pairs in key order, keys unique.
pub enum SortedRows {
    /// Sorted in memory and checked.
    Memory(Vec<KeyedRow>),
    /// Merged from spilled runs as they are consumed; duplicate keys (and read errors) are reported by
    /// [`Merge::finish`] once the iterator is done.
    Merge(Box<Merge>),
}

impl SortedRows {
    /// True when rows were spilled to disk.
    pub fn spilled(&self) -> bool {
        matches!(self, SortedRows::Merge(_))
    }
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
        "parquet" => read_parquet(path, what, spec, &mut builder)?,
        _ => read_csv(path, what, format, spec, &mut builder)?,
    };
    let rows = builder.finish(what, spec)?;
    Ok(ReadTable {
        format: format.to_string(),
        columns,
        rows,
    })
}

/// Collects rows, encoded in stored column order, with their keys; spills sorted batches past the budget.
struct RowBuilder {
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
    fn new(sort: SortOptions, keyless: bool) -> RowBuilder {
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
        self.keyless = self.key_cols.is_empty();
        self.order = (0..names.len()).collect();
        self.order.sort_by(|&a, &b| names[a].cmp(&names[b]));
        Ok(())
    }

    fn push(&mut self, cells: &[Option<&str>], names: &[String]) -> Result<()> {
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

    fn finish(self, what: &str, spec: &TableSpec) -> Result<SortedRows> {
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

/// Sorts a batch by key, or by row for a keyless table (whose keys are not made yet).
fn sort_batch(rows: &mut [KeyedRow], keyless: bool) {
    if keyless {
        rows.sort_unstable_by(|a, b| a.1.cmp(&b.1));
    } else {
        rows.sort_unstable_by(|a, b| a.0.cmp(&b.0));
    }
}

/// The duplicate keys of a sorted sequence: how many distinct ones, and the first five.
#[derive(Default)]
struct Duplicates {
    distinct: usize,
    shown: Vec<Vec<u8>>,
    /// Whether the previous key was already counted.
    in_run: bool,
}

impl Duplicates {
    /// Sees `key`, which follows `prev` in key order.
    fn see(&mut self, prev: Option<&[u8]>, key: &[u8]) {
        if prev == Some(key) {
            if !self.in_run {
                self.distinct += 1;
                if self.shown.len() < 5 {
                    self.shown.push(key.to_vec());
                }
                self.in_run = true;
            }
        } else {
            self.in_run = false;
        }
    }

    fn error(&self, what: &str, spec: &TableSpec) -> Error {
        let shown: Vec<String> = self.shown.iter().map(|k| show_key(k)).collect();
        let more = if self.distinct > 5 {
            format!(" and {} more", self.distinct - 5)
        } else {
            String::new()
        };
        bad(
            what,
            format!(
                "duplicate keys in key column(s) {}: {}{more}",
                spec.key.join(", "),
                shown.join("; ")
            ),
        )
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

/// A spilled run on disk, removed when dropped (on success and on error alike). Its name is a temporary name
/// (`.table-run.dv-tmp-<pid>-<n>`), so a crash's leftover is removed when the store is next opened.
struct RunFile {
    path: PathBuf,
}

impl Drop for RunFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// Writes a run: records of (u32 LE key length, key, u32 LE row length, row), sorted, through zstd level 1.
struct RunWriter {
    run: RunFile,
    out: BufWriter<zstd::Encoder<'static, File>>,
}

impl RunWriter {
    fn create(dir: &Path) -> Result<RunWriter> {
        let run = RunFile {
            path: crate::fsutil::temp_path_beside(&dir.join("table-run")),
        };
        let mut opts = std::fs::OpenOptions::new();
        opts.write(true).create_new(true);
        let file = opts.open(&run.path).at(&run.path)?;
        let mut enc = zstd::Encoder::new(file, 1).at(&run.path)?;
        enc.window_log(RUN_WINDOW_LOG).at(&run.path)?;
        Ok(RunWriter {
            run,
            out: BufWriter::with_capacity(128 * 1024, enc),
        })
    }

    fn write(&mut self, key: &[u8], row: &[u8]) -> Result<()> {
        for part in [key, row] {
            let len = u32::try_from(part.len())
                .map_err(|_| Error::Internal("a table row of 4 GiB or more".into()))?;
            self.out
                .write_all(&len.to_le_bytes())
                .and_then(|_| self.out.write_all(part))
                .at(&self.run.path)?;
        }
        Ok(())
    }

    fn finish(self) -> Result<RunFile> {
        let RunWriter { run, out } = self;
        let enc = out
            .into_inner()
            .map_err(|e| Error::io(&run.path, e.into_error()))?;
        enc.finish().at(&run.path)?;
        Ok(run)
    }
}

/// Reads a run back, record by record.
struct RunReader {
    run: RunFile,
    input: BufReader<zstd::Decoder<'static, BufReader<File>>>,
}

impl RunReader {
    fn open(run: RunFile) -> Result<RunReader> {
        let file = File::open(&run.path).at(&run.path)?;
        let dec =
            zstd::Decoder::with_buffer(BufReader::with_capacity(64 * 1024, file)).at(&run.path)?;
        Ok(RunReader {
            input: BufReader::with_capacity(64 * 1024, dec),
            run,
        })
    }

    fn next(&mut self) -> Result<Option<KeyedRow>> {
        fn part(r: &mut impl Read) -> std::io::Result<Vec<u8>> {
            let mut len = [0u8; 4];
            r.read_exact(&mut len)?;
            let mut v = vec![0u8; u32::from_le_bytes(len) as usize];
            r.read_exact(&mut v)?;
            Ok(v)
        }
        let path = &self.run.path;
        if self.input.fill_buf().at(path)?.is_empty() {
            return Ok(None);
        }
        let key = part(&mut self.input).at(path)?;
        let row = part(&mut self.input).at(path)?;
        Ok(Some((key, row)))
    }
}

/// One input of a merge.
enum Source {
    Run(RunReader),
    Memory(std::vec::IntoIter<KeyedRow>),
}

impl Source {
    fn next(&mut self) -> Result<Option<KeyedRow>> {
        match self {
            Source::Run(r) => r.next(),
            Source::Memory(rows) => Ok(rows.next()),
        }
    }
}

/// The next row of one source, ordered for a min-heap by key (by row when keyless), then by source.
struct Head {
    key: Vec<u8>,
    row: Vec<u8>,
    src: usize,
    keyless: bool,
}

impl Head {
    fn sort_key(&self) -> &[u8] {
        if self.keyless { &self.row } else { &self.key }
    }
}

impl Ord for Head {
    fn cmp(&self, other: &Head) -> Ordering {
        // Reversed: BinaryHeap pops its greatest.
        other
            .sort_key()
            .cmp(self.sort_key())
            .then(other.src.cmp(&self.src))
    }
}

impl PartialOrd for Head {
    fn partial_cmp(&self, other: &Head) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl PartialEq for Head {
    fn eq(&self, other: &Head) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for Head {}

/// A k-way merge of sorted sources: rows come out in order, duplicates included.
struct Heap {
    sources: Vec<Source>,
    heap: BinaryHeap<Head>,
    keyless: bool,
}

impl Heap {
    fn new(mut sources: Vec<Source>, keyless: bool) -> Result<Heap> {
        let mut heap = BinaryHeap::with_capacity(sources.len());
        for (src, s) in sources.iter_mut().enumerate() {
            if let Some((key, row)) = s.next()? {
                heap.push(Head {
                    key,
                    row,
                    src,
                    keyless,
                });
            }
        }
        Ok(Heap {
            sources,
            heap,
            keyless,
        })
    }

    fn pop(&mut self) -> Result<Option<KeyedRow>> {
        let Some(top) = self.heap.pop() else {
            return Ok(None);
        };
        if let Some((key, row)) = self.sources[top.src].next()? {
            self.heap.push(Head {
                key,
                row,
                src: top.src,
                keyless: self.keyless,
            });
        }
        Ok(Some((top.key, top.row)))
    }

    /// What the next row sorts by.
    fn peek(&self) -> Option<&[u8]> {
        self.heap.peek().map(Head::sort_key)
    }
}

/// Merges the runs, `fanin` at a time, until they and the last batch can be merged at once.
fn merge_runs(
    runs: Vec<RunFile>,
    last: Vec<KeyedRow>,
    keyless: bool,
    sort: &SortOptions,
    what: &str,
    spec: &TableSpec,
) -> Result<Merge> {
    let fanin = sort.fanin.max(2);
    tracing::debug!(
        runs = runs.len(),
        table = what,
        "table rows spilled, merging"
    );
    let mut runs: VecDeque<RunFile> = runs.into();
    // Oldest first, the merged run last: every row is rewritten about log_fanin(runs) times.
    while runs.len() >= fanin {
        let group = runs
            .drain(..fanin)
            .map(|r| RunReader::open(r).map(Source::Run))
            .collect::<Result<Vec<_>>>()?;
        let mut heap = Heap::new(group, keyless)?;
        let mut w = RunWriter::create(&sort.tmp_dir)?;
        while let Some((k, r)) = heap.pop()? {
            w.write(&k, &r)?;
        }
        drop(heap);
        runs.push_back(w.finish()?);
    }
    let mut sources = runs
        .into_iter()
        .map(|r| RunReader::open(r).map(Source::Run))
        .collect::<Result<Vec<_>>>()?;
    sources.push(Source::Memory(last.into_iter()));
    Ok(Merge {
        heap: Heap::new(sources, keyless)?,
        what: what.to_string(),
        spec: spec.clone(),
        occurrence: 0,
        done: false,
        error: None,
        duplicate: None,
    })
}

/// The final merge of spilled runs and the last batch, as an iterator of (key, row) pairs in key order. Keyless
/// rows get their keys here (row bytes and occurrence), exactly as an in-memory sort gives them. The iterator
/// stops at the first duplicate key or read error; [`Merge::finish`] then reports it, duplicates exactly as an
/// in-memory sort does (it reads the rest of the rows to find them all).
pub struct Merge {
    heap: Heap,
    what: String,
    spec: TableSpec,
    /// The occurrence number of the next keyless row.
    occurrence: u32,
    done: bool,
    error: Option<Error>,
    /// The first duplicate key found.
    duplicate: Option<Vec<u8>>,
}

impl Merge {
    fn step(&mut self) -> Result<Option<KeyedRow>> {
        let Some((key, row)) = self.heap.pop()? else {
            return Ok(None);
        };
        if self.heap.keyless {
            let mut k = Vec::with_capacity(row.len() + 4);
            k.extend_from_slice(&row);
            k.extend_from_slice(&self.occurrence.to_be_bytes());
            self.occurrence = if self.heap.peek() == Some(row.as_slice()) {
                self.occurrence + 1
            } else {
                0
            };
            return Ok(Some((k, row)));
        }
        if self.heap.peek() == Some(key.as_slice()) {
            self.duplicate = Some(key);
            return Ok(None);
        }
        Ok(Some((key, row)))
    }

    /// After the iterator is done: the read error or duplicate keys that stopped it, if any.
    pub fn finish(mut self) -> Result<()> {
        if let Some(e) = self.error.take() {
            return Err(e);
        }
        let Some(first) = self.duplicate.take() else {
            return Ok(());
        };
        let mut dups = Duplicates::default();
        dups.see(Some(&first), &first);
        let mut prev = first;
        while let Some((key, _)) = self.heap.pop()? {
            dups.see(Some(&prev), &key);
            prev = key;
        }
        Err(dups.error(&self.what, &self.spec))
    }
}

impl Iterator for Merge {
    type Item = KeyedRow;

    fn next(&mut self) -> Option<KeyedRow> {
        if self.done {
            return None;
        }
        match self.step() {
            Ok(Some(r)) => Some(r),
            Ok(None) => {
                self.done = true;
                None
            }
            Err(e) => {
                self.error = Some(e);
                self.done = true;
                None
            }
        }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ObjectId;
    use crate::table::rowtree::tests::MemNodes;
    use proptest::prelude::*;

    /// Writes a CSV of `rows` (an empty cell is NULL) and returns its path.
    fn write_csv(dir: &Path, cols: &[&str], rows: &[Vec<String>]) -> PathBuf {
        let mut text = cols.join(",");
        text.push('\n');
        for r in rows {
            text.push_str(&r.join(","));
            text.push('\n');
        }
        let path = dir.join("t.csv");
        std::fs::write(&path, text).unwrap();
        path
    }

    /// The header id `record` gives (or its error message) and whether the rows spilled (false when reading
    /// fails); checks that no run file is left behind.
    fn recorded(
        path: &Path,
        key: &[&str],
        memory: usize,
        fanin: usize,
    ) -> (Result<ObjectId, String>, bool) {
        let tmp = tempfile::tempdir().unwrap();
        let spec = TableSpec {
            key: key.iter().map(|k| k.to_string()).collect(),
        };
        let sort = SortOptions {
            memory,
            tmp_dir: tmp.path().to_path_buf(),
            fanin,
        };
        let spilled = read_table(path, "t.csv", &spec, &sort)
            .map(|t| t.rows.spilled())
            .unwrap_or(false);
        let mut sink = MemNodes::default();
        let id = crate::table::record_to(path, "t.csv", &spec, &sort, &mut sink)
            .map(|(_, id)| id)
            .map_err(|e| e.to_string());
        let left: Vec<_> = std::fs::read_dir(tmp.path()).unwrap().collect();
        assert!(left.is_empty(), "run files left behind: {left:?}");
        (id, spilled)
    }

    fn rows_strategy() -> impl Strategy<Value = Vec<(u32, String, String)>> {
        prop::collection::vec((0u32..300, "[a-c]{0,2}", "[x-z]{0,8}"), 0..400)
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(48))]

        /// Spilling (many small runs, merged a few at a time) gives the same row tree as sorting in memory, and
        /// the same errors: duplicate keys (found across runs) and NULL key cells.
        #[test]
        fn spilling_gives_the_same_table(
            rows in rows_strategy(),
            mode in 0u8..4,
            memory in 512usize..4096,
            fanin in 2usize..5,
        ) {
            let dir = tempfile::tempdir().unwrap();
            let (cols, key): (&[&str], &[&str]) = match mode {
                3 => (&["b", "a"], &[]),
                _ => (&["id", "a", "b"], &["id"]),
            };
            let table: Vec<Vec<String>> = rows
                .iter()
                .enumerate()
                .map(|(i, (n, a, b))| match mode {
                    // Unique integer keys in random order.
                    0 => vec![(n * 1000 + i as u32).to_string(), a.clone(), b.clone()],
                    // Unique text keys.
                    1 => vec![format!("k{n}-{i}"), a.clone(), b.clone()],
                    // Duplicates, now and then a NULL key.
                    2 => vec![if *n == 0 { String::new() } else { (n % 150).to_string() }, a.clone(), b.clone()],
                    // Keyless, with many equal rows.
                    _ => vec![b.chars().take(1).collect(), a.clone()],
                })
                .collect();
            let path = write_csv(dir.path(), cols, &table);
            let (in_memory, spilled) = recorded(&path, key, usize::MAX, MERGE_FANIN);
            prop_assert!(!spilled);
            let (on_disk, spilled) = recorded(&path, key, memory, fanin);
            prop_assert!(spilled || rows.len() * ROW_OVERHEAD < memory || on_disk.is_err());
            prop_assert_eq!(on_disk, in_memory);
        }
    }

    #[test]
    fn duplicate_keys_in_different_runs_are_reported_as_in_memory() {
        let dir = tempfile::tempdir().unwrap();
        // Keys 0..400, then 0..400 step 50 again: eight duplicates, each pair hundreds of rows apart.
        let mut table: Vec<Vec<String>> = (0..400)
            .map(|i| vec![i.to_string(), format!("v{i}")])
            .collect();
        table.extend(
            (0..400)
                .step_by(50)
                .map(|i| vec![i.to_string(), "again".into()]),
        );
        let path = write_csv(dir.path(), &["id", "v"], &table);
        let (in_memory, _) = recorded(&path, &["id"], usize::MAX, MERGE_FANIN);
        let (on_disk, spilled) = recorded(&path, &["id"], 2048, 3);
        assert!(spilled);
        assert_eq!(
            in_memory.clone().unwrap_err(),
            "t.csv: duplicate keys in key column(s) id: 0; 50; 100; 150; 200 and 3 more"
        );
        assert_eq!(on_disk, in_memory);
    }

    #[test]
    fn a_null_key_cell_is_reported_by_its_row_after_spills() {
        let dir = tempfile::tempdir().unwrap();
        let mut table: Vec<Vec<String>> = (0..300)
            .map(|i| vec![i.to_string(), format!("v{i}")])
            .collect();
        table[250][0] = String::new();
        let path = write_csv(dir.path(), &["id", "v"], &table);
        let (on_disk, _) = recorded(&path, &["id"], 1024, 2);
        assert_eq!(
            on_disk.unwrap_err(),
            "t.csv: row 251 has no value in key column \"id\""
        );
    }
}
