//! Sorting a table's keyed rows with bounded memory: an external merge sort. Rows collect in memory until
//! their estimated size passes a budget ([`SortOptions::memory`], from [`crate::Settings::table_sort_memory`]),
//! then that batch is sorted and spilled to a run file (`run.rs`) in the store's temporary folder. At the
//! end the runs and the last batch are merged ([`Merge`]). A table that fits the budget is sorted in memory, as
//! one batch, and never touches the disk. Duplicate keys are reported the same way either way.

use std::cmp::Ordering;
use std::collections::{BinaryHeap, VecDeque};
use std::path::PathBuf;

use super::TableSpec;
use super::bad;
use super::run::{RunFile, RunReader, RunWriter};
use crate::{Error, Result};

/// Rows held in memory before a sorted batch is spilled to disk, by default (bytes, estimated;
/// [`crate::Settings::table_sort_memory`]).
pub const SORT_MEMORY: usize = 256 * 1024 * 1024;
/// Most run files merged at once; more are first merged in groups of this many (each open run holds about
/// 0.5 MiB of buffers and decoder state).
pub const MERGE_FANIN: usize = 32;

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

pub use super::run::KeyedRow;

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

/// Sorts a batch by key, or by row for a keyless table (whose keys are not made yet).
pub(super) fn sort_batch(rows: &mut [KeyedRow], keyless: bool) {
    if keyless {
        rows.sort_unstable_by(|a, b| a.1.cmp(&b.1));
    } else {
        rows.sort_unstable_by(|a, b| a.0.cmp(&b.0));
    }
}

/// The duplicate keys of a sorted sequence: how many distinct ones, and the first five.
#[derive(Default)]
pub(super) struct Duplicates {
    pub(super) distinct: usize,
    shown: Vec<Vec<u8>>,
    /// Whether the previous key was already counted.
    in_run: bool,
}

impl Duplicates {
    /// Sees `key`, which follows `prev` in key order.
    pub(super) fn see(&mut self, prev: Option<&[u8]>, key: &[u8]) {
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

    pub(super) fn error(&self, what: &str, spec: &TableSpec) -> Error {
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
pub(super) fn merge_runs(
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ObjectId;
    use crate::table::read::read_table;
    use crate::table::rows::ROW_OVERHEAD;
    use crate::table::rowtree::tests::MemNodes;
    use proptest::prelude::*;
    use std::path::Path;

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
