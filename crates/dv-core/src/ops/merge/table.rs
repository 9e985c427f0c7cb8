//! The three-way merge of a keyed table changed on both sides, row by row and cell by cell.
//!
//! The changes are found on the row trees alone ([`rowtree::diff`] of the base against each side reads only the
//! nodes that differ). Columns merge by name: one added or dropped on one side is added or dropped. A row
//! added, deleted or changed on one side takes that change; a row changed on both merges cell by cell; the same
//! cell changed differently on both sides, or a row deleted on one side and changed on the other, is a
//! conflict. The merged file is then written from our file's bytes with the edits applied (csv_writer.rs):
//! rows that stay as ours are copied as they are, rows new from their side are appended in key order.

use std::collections::{BTreeMap, HashMap};

use super::rules::{ConflictKind, Favor, three_way};
use crate::pointer::{Pointer, TableRef};
use crate::session::Locked;
use crate::store::object::{Node, NodeKind, NodeSink};
use crate::table::rowtree::{self, NodeSource};
use crate::table::{Cell, Header, StoreNodes, TableSpec};
use crate::{Error, Result};

/// A table merged row by row: the merged file's node and table, and what conflicts.
pub struct MergedTable {
    pub node: Node,
    pub table: TableRef,
    pub conflicts: Vec<RowConflict>,
}

/// Merges table `path`, changed on both sides, row by row, the merged file and its row tree written to
/// `sink`. `None` when these versions do not merge row by row (keyless, keyed differently, formats apart): the
/// caller takes one side whole, as a conflict.
pub fn merge_table(
    s: &Locked<'_>,
    sink: &mut dyn NodeSink,
    path: &str,
    base: Option<&Pointer>,
    ours: &Pointer,
    theirs: &Pointer,
    favor: Favor,
) -> Result<Option<MergedTable>> {
    let store = s.store();
    let (Some(ot), Some(tt)) = (&ours.table, &theirs.table) else {
        return Ok(None);
    };
    let bt = match base {
        Some(b) => match &b.table {
            Some(t) => Some(t),
            // A file that became a table on both sides: no base rows to merge against.
            None => return Ok(None),
        },
        None => None,
    };
    if ot.key.is_empty()
        || ot.key != tt.key
        || bt.is_some_and(|b| b.key != ot.key)
        || ours.node.kind == NodeKind::Tree
        || theirs.node.kind == NodeKind::Tree
    {
        return Ok(None);
    }
    let header = |t: &TableRef| crate::table::read_header(store, &t.id);
    let (oh, th) = (header(ot)?, header(tt)?);
    let bh = bt.map(header).transpose()?;
    if !matches!(oh.format.as_str(), "csv" | "tsv" | "parquet") || oh.format != th.format {
        return Ok(None);
    }
    let started = std::time::Instant::now();
    // A second handle on the cache, so that both sides' changes are found at once.
    let second = store
        .reader_for_thread()
        .ok()
        .map(|s| Box::new(OwnedNodes(s)) as Box<dyn NodeSource + Send>);
    let rows = merge_rows(
        &StoreNodes(store),
        second,
        path,
        bh.as_ref(),
        &oh,
        &th,
        favor,
    )?;
    tracing::debug!(
        ms = started.elapsed().as_secs_f64() * 1e3,
        edits = rows.edits.len(),
        appended = rows.appended.len(),
        "table merge: changes found"
    );
    let edits = crate::table::csv_writer::Edits {
        key: &ot.key,
        columns: &rows.columns,
        from: &rows.from,
        their_from: &rows.their_from,
        rows: &rows.edits,
        appended: &rows.appended,
    };
    // The merged file, written into a temporary file in the cache.
    let tmp_dir = store.tmp_dir();
    let temp = || crate::fsutil::TempFile::beside(&tmp_dir.join("merged-table"), 0o600);
    let mut tmp = temp()?;
    let io = |e: std::io::Error| Error::io(tmp_dir.as_path(), e);
    let written = if oh.format == "parquet" {
        // Cells are taken from the file data of the side whose value they are: both files are read.
        let side_file = |p: &Pointer| -> Result<crate::fsutil::TempFile> {
            let mut f = temp()?;
            let mut w = std::io::BufWriter::new(f.file());
            store
                .copy_file(&p.node, &mut w)
                .map_err(|e| e.at_path(path))?;
            std::io::Write::flush(&mut w).map_err(io)?;
            drop(w);
            f.close();
            Ok(f)
        };
        let (of, tf) = (side_file(ours)?, side_file(theirs)?);
        tmp.close();
        // A column whose type their side changed and ours did not takes theirs.
        let their_type: Vec<bool> = rows
            .columns
            .iter()
            .map(|c| {
                let ty = |h: Option<&Header>| {
                    h.and_then(|h| h.column_index(c).map(|i| h.columns[i].ty.clone()))
                };
                let (b, o, t) = (ty(bh.as_ref()), ty(Some(&oh)), ty(Some(&th)));
                t.is_some() && b == o && t != b
            })
            .collect();
        crate::table::parquet_writer::rewrite(
            of.path(),
            tf.path(),
            path,
            &edits,
            &their_type,
            tmp.path(),
        )?
    } else {
        let mut ours_bytes = Vec::with_capacity(ours.node.size as usize);
        store
            .copy_file(&ours.node, &mut ours_bytes)
            .map_err(|e| e.at_path(path))?;
        let mut w = std::io::BufWriter::new(tmp.file());
        let n = crate::table::csv_writer::rewrite(&ours_bytes, path, &oh.format, &edits, &mut w)?;
        std::io::Write::flush(&mut w).map_err(io)?;
        drop(w);
        tmp.close();
        n
    };
    let spec = TableSpec {
        key: ot.key.clone(),
    };
    let sort = crate::table::sort::SortOptions::new(store.sort_memory(), tmp_dir.clone());
    // The file is read back as a table on a second thread (its row tree kept in memory, then stored) while
    // this one stores its chunks.
    let file = tmp.path();
    let (hashed, recorded) = std::thread::scope(|scope| {
        let table = scope.spawn(|| {
            let mut nodes = Collected::default();
            crate::table::record_to(file, path, &spec, &sort, &mut nodes).map(|r| (r, nodes))
        });
        let hashed = crate::store::store_file(file, ours.layout, sink);
        let recorded = table
            .join()
            .unwrap_or_else(|_| Err(Error::Internal("reading the merged table panicked".into())));
        (hashed, recorded)
    });
    let (hashed, (recorded, nodes)) = (hashed?, recorded?);
    for (id, kind, bytes) in nodes.0 {
        sink.put(id, kind, bytes)?;
    }
    let (merged, id) = recorded;
    tracing::debug!(
        ms = started.elapsed().as_secs_f64() * 1e3,
        "table merge: merged file written and recorded"
    );
    // The merged file, read back as dv reads tables, must hold the rows the merge made.
    if merged.rows != written {
        return Err(Error::Internal(format!(
            "{path}: the merged table holds {} rows where {written} were written",
            merged.rows
        )));
    }
    Ok(Some(MergedTable {
        node: hashed.node(
            three_way(
                &base.map(|b| b.node.exec),
                &Some(ours.node.exec),
                &Some(theirs.node.exec),
            )
            .copied()
            .flatten()
            .unwrap_or(match favor {
                Favor::Ours => ours.node.exec,
                Favor::Theirs => theirs.node.exec,
            }),
        ),
        table: TableRef {
            id,
            key: ot.key.clone(),
            rows: merged.rows,
        },
        conflicts: rows.conflicts,
    }))
}

/// A row or cell of a table the merge could not settle.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct RowConflict {
    /// The table's repository path.
    pub path: String,
    /// The row's key cells.
    pub key: Vec<Cell>,
    /// `modified-both` for a cell (named by `column`), or for a whole row: `added-both`, `deleted-by-us`,
    /// `deleted-by-them`.
    pub kind: ConflictKind,
    /// The cell's column; absent for a whole-row conflict.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub column: Option<String>,
    /// The cell on each side (`null`: NULL, or no such row or column there); absent for a whole-row conflict.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub base: Option<Cell>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ours: Option<Cell>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub theirs: Option<Cell>,
}

/// The merge of a table's rows: what to do to our file's rows to get the merged table.
#[derive(Debug, Default)]
pub struct RowMerge {
    /// The merged columns, in order: ours, less those dropped, then those added on their side.
    pub columns: Vec<String>,
    /// For each merged column, its name in our file (whose cell a row the merge leaves alone takes; a column
    /// either side renamed is matched through the rename); `None`: our file lacks it (NULL).
    pub from: Vec<Option<String>>,
    /// The same in their file.
    pub their_from: Vec<Option<String>>,
    /// By key: `None` deletes our row, `Some` replaces it (cells in `columns` order).
    pub edits: HashMap<Vec<u8>, Option<Vec<Cell>>>,
    /// Rows we lack, in key order (cells in `columns` order).
    pub appended: Vec<Vec<Cell>>,
    pub conflicts: Vec<RowConflict>,
}

/// One side's row: each cell by column name, for the columns that side has.
type Row = BTreeMap<String, Cell>;

/// Merges the rows of table `path` (`base`: `None` when the sides share no version), each conflict settled
/// as `favor` says. The three must share their key.
pub fn merge_rows(
    src: &dyn NodeSource,
    second: Option<Box<dyn NodeSource + Send>>,
    path: &str,
    base: Option<&Header>,
    ours: &Header,
    theirs: &Header,
    favor: Favor,
) -> Result<RowMerge> {
    if ours.key.is_empty() || ours.key != theirs.key || base.is_some_and(|b| b.key != ours.key) {
        return Err(Error::Internal(format!(
            "{path}: only tables keyed alike merge row by row"
        )));
    }
    // A column a side renamed (`dv diff`'s rule: dropped, and another added at its place with its type) is
    // merged under its base name, its cells matched across the sides, and written under its new name.
    let renamed = |side: &Header| -> Vec<(String, String)> {
        base.map(|b| {
            crate::table::diff::schema_changes(b, side)
                .into_iter()
                .filter(|c| c.change == crate::table::diff::SchemaChangeKind::Renamed)
                .filter_map(|c| Some((c.column, c.old_name?)))
                .collect()
        })
        .unwrap_or_default()
    };
    let (ro, rt) = (renamed(ours), renamed(theirs));
    let canon = |r: &[(String, String)], n: &str| -> String {
        r.iter()
            .find(|(now, _)| now == n)
            .map_or_else(|| n.to_string(), |(_, was)| was.clone())
    };
    let names = |h: Option<&Header>, r: &[(String, String)]| -> Vec<String> {
        h.map(|h| h.columns.iter().map(|c| canon(r, &c.name)).collect())
            .unwrap_or_default()
    };
    let (nb, no, nt) = (
        names(base, &[]),
        names(Some(ours), &ro),
        names(Some(theirs), &rt),
    );
    // Columns by name: present on a side or not, three-way.
    let has = |n: &[String], c: &String| n.contains(c);
    let mut columns: Vec<String> = no
        .iter()
        .filter(|c| *three_way(&has(&nb, c), &true, &has(&nt, c)).unwrap_or(&true))
        .cloned()
        .collect();
    columns.extend(nt.iter().filter(|c| !has(&no, c) && !has(&nb, c)).cloned());
    let mut every: Vec<&String> = nb.iter().chain(&no).chain(&nt).collect();
    every.sort();
    every.dedup();

    let base_root = base.and_then(|b| b.root);
    // The two diffs at once when a second source is given (their cost is reading and decoding nodes).
    let ((ob, oo), (tb, tt)) = match second {
        Some(other) => std::thread::scope(|scope| {
            let their_root = theirs.root;
            let theirs_diff = scope.spawn(move || rowtree::diff(&*other, base_root, their_root));
            let ours_diff = rowtree::diff(src, base_root, ours.root);
            let theirs_diff = theirs_diff
                .join()
                .unwrap_or_else(|_| Err(Error::Internal("a table diff panicked".into())));
            Ok::<_, Error>((ours_diff?, theirs_diff?))
        })?,
        None => (
            rowtree::diff(src, base_root, ours.root)?,
            rowtree::diff(src, base_root, theirs.root)?,
        ),
    };
    let to_map = |list: Vec<(Vec<u8>, Vec<u8>)>| -> BTreeMap<Vec<u8>, Vec<u8>> {
        list.into_iter().collect()
    };
    let (ob, oo, tb, tt) = (to_map(ob), to_map(oo), to_map(tb), to_map(tt));
    let decode = |h: &Header, r: &[(String, String)], stored: &[u8]| -> Result<Row> {
        Ok(h.columns
            .iter()
            .map(|c| canon(r, &c.name))
            .zip(h.row_cells(stored)?)
            .collect())
    };
    let mut keys: Vec<&Vec<u8>> = ob
        .keys()
        .chain(oo.keys())
        .chain(tb.keys())
        .chain(tt.keys())
        .collect();
    keys.sort();
    keys.dedup();

    // One pass over the changed rows with `columns` as the merged ones; a column in `revived` (dropped on one
    // side, kept because the conflict it caused was settled for the side that kept it) reads on the side
    // that dropped it as unchanged.
    let pass = |columns: Vec<String>, revived: &[String]| -> Result<RowMerge> {
        let mut out = RowMerge {
            columns,
            ..Default::default()
        };
        for key in &keys {
            let key: &Vec<u8> = key;
            let b_raw = ob.get(key).or_else(|| tb.get(key));
            let b = match b_raw {
                Some(r) => Some(decode(base.expect("a base row has a base"), &[], r)?),
                None => None,
            };
            // A side that did not change the row holds the base's bytes: read with that side's columns (a
            // column renamed there reads under its new name).
            let side = |changed: &BTreeMap<Vec<u8>, Vec<u8>>,
                        gone: &BTreeMap<Vec<u8>, Vec<u8>>,
                        h: &Header,
                        r: &[(String, String)]|
             -> Result<Option<Row>> {
                match changed.get(key) {
                    Some(row) => Ok(Some(decode(h, r, row)?)),
                    None if gone.contains_key(key) => Ok(None),
                    None => b_raw.map(|row| decode(h, r, row)).transpose(),
                }
            };
            let (o, t) = (side(&oo, &ob, ours, &ro)?, side(&tt, &tb, theirs, &rt)?);
            let key_cells = || crate::table::decode_key(key);
            let conflict = |kind,
                            column: Option<&String>,
                            base: Option<Cell>,
                            o: Option<Cell>,
                            t: Option<Cell>|
             -> Result<RowConflict> {
                Ok(RowConflict {
                    path: path.to_string(),
                    key: key_cells()?,
                    kind,
                    column: column.cloned(),
                    base: column.map(|_| base.flatten()),
                    ours: column.map(|_| o.flatten()),
                    theirs: column.map(|_| t.flatten()),
                })
            };
            let merged: Option<Row> = match (&b, &o, &t) {
                (_, None, None) => None,
                // Deleted on one side: a conflict when the other changed the row.
                (Some(b), None, Some(t)) | (Some(b), Some(t), None) => {
                    let ours_deleted = o.is_none();
                    if changed(b, t) {
                        out.conflicts.push(conflict(
                            if ours_deleted {
                                ConflictKind::DeletedOurs
                            } else {
                                ConflictKind::DeletedTheirs
                            },
                            None,
                            None,
                            None,
                            None,
                        )?);
                        // `t` is the side that kept the row.
                        match favor {
                            Favor::Ours => o.clone(),
                            Favor::Theirs => ours_deleted.then(|| t.clone()),
                        }
                    } else {
                        None
                    }
                }
                (None, None, Some(t)) => Some(t.clone()),
                (None, Some(o), None) => Some(o.clone()),
                (_, Some(o), Some(t)) => {
                    let mut row = Row::new();
                    for c in &every {
                        let bc = b.as_ref().and_then(|r| r.get(*c)).cloned();
                        let cell = |r: &Row, names: &[String]| {
                            if revived.contains(*c) && !names.contains(*c) {
                                bc.clone()
                            } else {
                                r.get(*c).cloned()
                            }
                        };
                        let (oc, tc) = (cell(o, &no), cell(t, &nt));
                        let value = match three_way(&bc, &oc, &tc) {
                            Some(v) => v.clone(),
                            None => {
                                out.conflicts.push(conflict(
                                    if b.is_some() {
                                        ConflictKind::Modified
                                    } else {
                                        ConflictKind::Added
                                    },
                                    Some(c),
                                    bc.clone(),
                                    oc.clone(),
                                    tc.clone(),
                                )?);
                                match favor {
                                    Favor::Ours => oc,
                                    Favor::Theirs => tc,
                                }
                            }
                        };
                        if let Some(v) = value {
                            row.insert((*c).clone(), v);
                        }
                    }
                    Some(row)
                }
            };
            // What that is to our file: nothing, a deletion, a replacement or a new row.
            let cells = |r: &Row| -> Vec<Cell> {
                out.columns
                    .iter()
                    .map(|c| r.get(c).cloned().flatten())
                    .collect()
            };
            match (&o, merged) {
                (None, None) => {}
                (Some(_), None) => {
                    out.edits.insert(key.clone(), None);
                }
                (None, Some(m)) => {
                    let row = cells(&m);
                    out.appended.push(row);
                }
                (Some(o), Some(m)) => {
                    let (was, now) = (cells(o), cells(&m));
                    if was != now {
                        out.edits.insert(key.clone(), Some(now));
                    }
                }
            }
        }
        Ok(out)
    };
    let first = pass(columns.clone(), &[])?;
    // A column dropped on one side whose cells the other changed: settled for the side that kept it, the
    // column stays, whole.
    let kept_by = match favor {
        Favor::Ours => &no,
        Favor::Theirs => &nt,
    };
    let mut revived: Vec<String> = first
        .conflicts
        .iter()
        .filter_map(|c| c.column.clone())
        .filter(|c| !columns.contains(c) && kept_by.contains(c))
        .collect();
    revived.sort();
    revived.dedup();
    let mut out = if revived.is_empty() {
        first
    } else {
        let mut wide: Vec<String> = no
            .iter()
            .filter(|c| columns.contains(c) || revived.contains(c))
            .cloned()
            .collect();
        let theirs_only: Vec<String> = nt
            .iter()
            .filter(|c| !no.contains(c) && (columns.contains(c) || revived.contains(c)))
            .cloned()
            .collect();
        wide.extend(theirs_only);
        let mut second = pass(wide, &revived)?;
        second.conflicts = first.conflicts;
        second
    };
    // Each merged column's name in the file (renamed where a side renamed it; renamed differently on both
    // sides is a conflict, settled by the side favored), and where it is in our file and in theirs.
    let outward = |r: &[(String, String)], c: &str| {
        r.iter()
            .find(|(_, was)| was == c)
            .map(|(now, _)| now.clone())
    };
    let mut written = Vec::with_capacity(out.columns.len());
    for c in &out.columns {
        written.push(match (outward(&ro, c), outward(&rt, c)) {
            (Some(o), Some(t)) if o != t => {
                out.conflicts.push(RowConflict {
                    path: path.to_string(),
                    key: Vec::new(),
                    kind: ConflictKind::Modified,
                    column: Some(c.clone()),
                    base: Some(Some(c.clone())),
                    ours: Some(Some(o.clone())),
                    theirs: Some(Some(t.clone())),
                });
                if favor == Favor::Theirs { t } else { o }
            }
            (Some(o), _) => o,
            (None, Some(t)) => t,
            (None, None) => c.clone(),
        });
    }
    let file_name = |names: &[String], r: &[(String, String)], c: &String| {
        names
            .contains(c)
            .then(|| outward(r, c).unwrap_or_else(|| c.clone()))
    };
    out.from = out.columns.iter().map(|c| file_name(&no, &ro, c)).collect();
    out.their_from = out.columns.iter().map(|c| file_name(&nt, &rt, c)).collect();
    out.columns = written;
    Ok(out)
}

/// Row-tree nodes read through a cache handle of one's own (for a second thread).
struct OwnedNodes(crate::store::Store);

impl NodeSource for OwnedNodes {
    fn node(&self, id: &crate::ObjectId) -> Result<rowtree::Node> {
        StoreNodes(&self.0).node(id)
    }
}

/// Objects kept in memory, in the order they came.
#[derive(Default)]
struct Collected(Vec<(crate::ObjectId, crate::store::object::ObjectKind, Vec<u8>)>);

impl NodeSink for Collected {
    fn put(
        &mut self,
        id: crate::ObjectId,
        kind: crate::store::object::ObjectKind,
        bytes: Vec<u8>,
    ) -> Result<()> {
        self.0.push((id, kind, bytes));
        Ok(())
    }
}

/// Whether row `x` differs from `base` in a column both have.
fn changed(base: &Row, x: &Row) -> bool {
    x.iter().any(|(c, v)| base.get(c).is_some_and(|bv| bv != v))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::table::rowtree::tests::MemNodes;
    use crate::table::{Column, encode_key, encode_row};
    use proptest::prelude::*;

    /// Rows by integer key: the cells after the key, in `columns[1..]` order.
    type Rows = BTreeMap<i64, Vec<Cell>>;

    /// A table keyed by its first column.
    fn table(m: &mut MemNodes, columns: &[&str], rows: &Rows) -> Header {
        let mut order: Vec<usize> = (0..columns.len()).collect();
        order.sort_by_key(|&i| columns[i]);
        let mut kv: Vec<(Vec<u8>, Vec<u8>)> = rows
            .iter()
            .map(|(k, rest)| {
                let ks = k.to_string();
                let cells: Vec<Option<&str>> = std::iter::once(Some(ks.as_str()))
                    .chain(rest.iter().map(|c| c.as_deref()))
                    .collect();
                (
                    encode_key(std::iter::once(Some(ks.as_str()))),
                    encode_row(order.iter().map(|&i| cells[i])),
                )
            })
            .collect();
        kv.sort();
        let root = rowtree::build(kv.into_iter(), m).unwrap();
        Header {
            format: "csv".into(),
            key: vec![columns[0].into()],
            columns: columns
                .iter()
                .map(|c| Column {
                    name: c.to_string(),
                    ty: "string".into(),
                })
                .collect(),
            rows: root.rows,
            root: root.id,
        }
    }

    /// Applies a merge to our rows, as the CSV rewrite does: by the merged columns.
    fn apply(ours: &Rows, ours_columns: &[&str], m: &RowMerge) -> Rows {
        let key = |k: i64| encode_key(std::iter::once(Some(k.to_string().as_str())));
        let mut out = Rows::new();
        for (k, rest) in ours {
            match m.edits.get(&key(*k)) {
                Some(None) => {}
                Some(Some(cells)) => {
                    out.insert(*k, cells[1..].to_vec());
                }
                None => {
                    let cells: Vec<Cell> = m.from[1..]
                        .iter()
                        .map(|from| {
                            ours_columns[1..]
                                .iter()
                                .position(|x| Some(*x) == from.as_deref())
                                .and_then(|i| rest[i].clone())
                        })
                        .collect();
                    out.insert(*k, cells);
                }
            }
        }
        for cells in &m.appended {
            let k: i64 = cells[0].as_deref().unwrap().parse().unwrap();
            assert!(
                out.insert(k, cells[1..].to_vec()).is_none(),
                "appended twice"
            );
        }
        out
    }

    fn v(s: &str) -> Cell {
        Some(s.to_string())
    }

    #[derive(Debug, Clone)]
    enum Edit {
        Set(usize, String),
        Delete(usize),
        Insert(i64, String),
    }

    fn script() -> impl Strategy<Value = Vec<Edit>> {
        proptest::collection::vec(
            prop_oneof![
                (any::<usize>(), "[a-c]{0,2}").prop_map(|(i, s)| Edit::Set(i, s)),
                any::<usize>().prop_map(Edit::Delete),
                (0i64..400, "[a-c]{0,2}").prop_map(|(k, s)| Edit::Insert(k, s)),
            ],
            0..30,
        )
    }

    /// Applies a side's script to `rows`: `column` is the cell it changes, `mine` the key residue (mod 4) it
    /// may delete and insert at; it never touches the other side's residue, so the two never conflict.
    fn run(rows: &mut Rows, script: &[Edit], column: usize, mine: i64, theirs: i64) {
        for e in script {
            let keys: Vec<i64> = rows.keys().copied().filter(|k| k % 4 != theirs).collect();
            match e {
                Edit::Set(i, s) if !keys.is_empty() => {
                    let k = keys[i % keys.len()];
                    rows.get_mut(&k).unwrap()[column] = v(s);
                }
                Edit::Delete(i) => {
                    let mine_keys: Vec<i64> =
                        keys.iter().copied().filter(|k| k % 4 == mine).collect();
                    if !mine_keys.is_empty() {
                        rows.remove(&mine_keys[i % mine_keys.len()]);
                    }
                }
                Edit::Insert(k, s) => {
                    let k = 1000 + k * 4 + mine;
                    let mut cells = vec![None, None];
                    cells[column] = v(s);
                    rows.insert(k, cells);
                }
                _ => {}
            }
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(48))]
        #[test]
        fn edits_that_do_not_conflict_all_merge_whichever_side_is_ours(
            n in 0i64..600,
            ours_script in script(),
            theirs_script in script(),
        ) {
            let cols = ["id", "a", "b"];
            let base: Rows = (0..n).map(|k| (k, vec![v(&format!("a{}", k % 5)), v(&format!("b{}", k % 3))])).collect();
            // Ours edits column a, deletes and inserts at keys 0 mod 4; theirs column b, at keys 1 mod 4.
            let (mut ours, mut theirs) = (base.clone(), base.clone());
            run(&mut ours, &ours_script, 0, 0, 1);
            run(&mut theirs, &theirs_script, 1, 1, 0);
            let mut want = base.clone();
            for k in base.keys() {
                match (ours.get(k), theirs.get(k)) {
                    (Some(o), Some(t)) => { want.insert(*k, vec![o[0].clone(), t[1].clone()]); }
                    _ => { want.remove(k); }
                }
            }
            for (k, r) in ours.iter().chain(&theirs).filter(|(k, _)| !base.contains_key(k)) {
                want.insert(*k, r.clone());
            }
            let mut m = MemNodes::default();
            let (hb, ho, ht) = (table(&mut m, &cols, &base), table(&mut m, &cols, &ours), table(&mut m, &cols, &theirs));
            let merged = merge_rows(&m, None, "t.csv", Some(&hb), &ho, &ht, Favor::Ours).unwrap();
            prop_assert!(merged.conflicts.is_empty(), "{:?}", merged.conflicts);
            prop_assert_eq!(apply(&ours, &cols, &merged), want.clone());
            let swapped = merge_rows(&m, None, "t.csv", Some(&hb), &ht, &ho, Favor::Ours).unwrap();
            prop_assert!(swapped.conflicts.is_empty());
            prop_assert_eq!(apply(&theirs, &cols, &swapped), want);
        }
    }

    #[test]
    fn the_same_cell_changed_differently_is_a_conflict_settled_by_the_side_favored() {
        let mut m = MemNodes::default();
        let cols = ["id", "a", "b"];
        let base: Rows = [(1, vec![v("x"), v("y")]), (2, vec![v("p"), v("q")])].into();
        let mut ours = base.clone();
        ours.get_mut(&1).unwrap()[0] = v("ours");
        ours.remove(&2);
        let mut theirs = base.clone();
        theirs.get_mut(&1).unwrap()[0] = v("theirs");
        theirs.get_mut(&1).unwrap()[1] = v("their b");
        theirs.get_mut(&2).unwrap()[1] = v("changed");
        let (hb, ho, ht) = (
            table(&mut m, &cols, &base),
            table(&mut m, &cols, &ours),
            table(&mut m, &cols, &theirs),
        );
        let merged = merge_rows(&m, None, "t.csv", Some(&hb), &ho, &ht, Favor::Ours).unwrap();
        assert_eq!(
            merged.conflicts,
            vec![
                RowConflict {
                    path: "t.csv".into(),
                    key: vec![v("1")],
                    kind: ConflictKind::Modified,
                    column: Some("a".into()),
                    base: Some(v("x")),
                    ours: Some(v("ours")),
                    theirs: Some(v("theirs")),
                },
                RowConflict {
                    path: "t.csv".into(),
                    key: vec![v("2")],
                    kind: ConflictKind::DeletedOurs,
                    column: None,
                    base: None,
                    ours: None,
                    theirs: None,
                },
            ]
        );
        // Ours where they conflict, their change to b kept either way.
        assert_eq!(
            apply(&ours, &cols, &merged),
            [(1, vec![v("ours"), v("their b")])].into()
        );
        let by_theirs = merge_rows(&m, None, "t.csv", Some(&hb), &ho, &ht, Favor::Theirs).unwrap();
        assert_eq!(
            apply(&ours, &cols, &by_theirs),
            [
                (1, vec![v("theirs"), v("their b")]),
                (2, vec![v("p"), v("changed")])
            ]
            .into()
        );
    }

    #[test]
    fn a_column_added_on_one_side_merges_with_row_edits_on_the_other() {
        let mut m = MemNodes::default();
        let base: Rows = (0..50).map(|k| (k, vec![v("x")])).collect();
        let mut ours = base.clone();
        ours.get_mut(&7).unwrap()[0] = v("edited");
        ours.insert(100, vec![v("new")]);
        let theirs: Rows = base
            .keys()
            .filter(|&&k| k != 3)
            .map(|&k| (k, vec![v("x"), v(&format!("c{k}"))]))
            .collect();
        let hb = table(&mut m, &["id", "a"], &base);
        let ho = table(&mut m, &["id", "a"], &ours);
        let ht = table(&mut m, &["id", "a", "c"], &theirs);
        let merged = merge_rows(&m, None, "t.csv", Some(&hb), &ho, &ht, Favor::Ours).unwrap();
        assert!(merged.conflicts.is_empty(), "{:?}", merged.conflicts);
        assert_eq!(merged.columns, ["id", "a", "c"]);
        let got = apply(&ours, &["id", "a"], &merged);
        assert_eq!(got[&7], vec![v("edited"), v("c7")]);
        assert_eq!(
            got[&100],
            vec![v("new"), None],
            "our new row has no value in their new column"
        );
        assert!(!got.contains_key(&3), "their deletion holds");
        assert_eq!(got.len(), 50);
        // And the other way round: their column dropped on our side... here, a column ours dropped while
        // theirs changed a cell in it is a conflict.
        let mut theirs2 = base.clone();
        theirs2.get_mut(&4).unwrap()[0] = v("changed");
        let dropped: Rows = base.keys().map(|&k| (k, vec![])).collect();
        let hd = table(&mut m, &["id"], &dropped);
        let ht2 = table(&mut m, &["id", "a"], &theirs2);
        let merged = merge_rows(&m, None, "t.csv", Some(&hb), &hd, &ht2, Favor::Ours).unwrap();
        assert_eq!(merged.columns, ["id"]);
        assert_eq!(merged.conflicts.len(), 1);
        assert_eq!(merged.conflicts[0].column.as_deref(), Some("a"));
    }

    #[test]
    fn a_column_renamed_on_one_side_takes_the_other_sides_edits_and_rows_under_its_new_name() {
        let mut m = MemNodes::default();
        let base: Rows = (0..20).map(|k| (k, vec![v("x")])).collect();
        let hb = table(&mut m, &["id", "a"], &base);
        // Renamed a → a2: the same bytes in every row, the same row tree.
        let ho = table(&mut m, &["id", "a2"], &base);
        assert_eq!(ho.root, hb.root);
        let mut theirs = base.clone();
        theirs.get_mut(&4).unwrap()[0] = v("y");
        theirs.insert(30, vec![v("new")]);
        let ht = table(&mut m, &["id", "a"], &theirs);
        let merged = merge_rows(&m, None, "t.csv", Some(&hb), &ho, &ht, Favor::Ours).unwrap();
        assert_eq!(merged.columns, ["id", "a2"]);
        assert!(merged.conflicts.is_empty(), "{:?}", merged.conflicts);
        let got = apply(&base, &["id", "a2"], &merged);
        assert_eq!(got[&4], vec![v("y")], "their edit, in our renamed column");
        assert_eq!(
            got[&30],
            vec![v("new")],
            "their new row's value, in our renamed column"
        );
        assert_eq!(got[&5], vec![v("x")]);
    }

    #[test]
    fn a_column_renamed_differently_on_both_sides_is_a_conflict() {
        // Second review: both renames were kept, the data twice.
        let mut m = MemNodes::default();
        let base: Rows = (0..10).map(|k| (k, vec![v("x"), v("1")])).collect();
        let hb = table(&mut m, &["id", "score", "w"], &base);
        let ho = table(&mut m, &["id", "points", "w"], &base);
        let ht = table(&mut m, &["id", "pts", "w"], &base);
        for (favor, want) in [(Favor::Ours, "points"), (Favor::Theirs, "pts")] {
            let merged = merge_rows(&m, None, "t.csv", Some(&hb), &ho, &ht, favor).unwrap();
            assert_eq!(merged.columns, ["id", want, "w"]);
            assert_eq!(merged.conflicts.len(), 1, "{:?}", merged.conflicts);
            assert_eq!(merged.conflicts[0].ours, Some(v("points")));
        }
    }

    #[test]
    fn rows_one_side_added_fill_the_column_the_other_renamed_from_the_right_column() {
        // Second review: a rename on our side lost the value of their new rows; with two equal columns in the
        // base, the wrong one was taken.
        let mut m = MemNodes::default();
        let base: Rows = (0..4).map(|k| (k, vec![v("0"), v("0")])).collect();
        let hb = table(&mut m, &["id", "a", "b"], &base);
        let renamed = table(&mut m, &["id", "c", "b"], &base);
        let mut added = base.clone();
        added.insert(7, vec![v("1"), v("2")]);
        let ha = table(&mut m, &["id", "a", "b"], &added);
        // Ours renamed, theirs added a row; then the other way round.
        let merged = merge_rows(&m, None, "t.csv", Some(&hb), &renamed, &ha, Favor::Ours).unwrap();
        let got = apply(&base, &["id", "c", "b"], &merged);
        let at = |name: &str| merged.columns.iter().position(|c| c == name).unwrap() - 1;
        assert_eq!(got[&7][at("c")], v("1"));
        assert_eq!(got[&7][at("b")], v("2"));
        let merged = merge_rows(&m, None, "t.csv", Some(&hb), &ha, &renamed, Favor::Ours).unwrap();
        let got = apply(&added, &["id", "a", "b"], &merged);
        let at = |name: &str| merged.columns.iter().position(|c| c == name).unwrap() - 1;
        assert_eq!(got[&7][at("c")], v("1"), "{:?}", merged.columns);
        assert_eq!(got[&7][at("b")], v("2"));
    }

    #[test]
    fn rows_left_alone_keep_the_cells_of_a_column_their_side_renamed() {
        // Adversarial review: a rename on their side came out NULL in every row our side did not edit.
        let mut m = MemNodes::default();
        let base: Rows = (0..30)
            .map(|k| (k, vec![v(&format!("n{k}")), v("1")]))
            .collect();
        let hb = table(&mut m, &["id", "name", "v"], &base);
        let ht = table(&mut m, &["id", "label", "v"], &base);
        let mut ours = base.clone();
        ours.get_mut(&1).unwrap()[1] = v("10");
        let ho = table(&mut m, &["id", "name", "v"], &ours);
        for (o, t, oc, tc, rows) in [
            (&ho, &ht, ["id", "name", "v"], ["id", "label", "v"], &ours),
            (&ht, &ho, ["id", "label", "v"], ["id", "name", "v"], &base),
        ] {
            let merged = merge_rows(&m, None, "t.csv", Some(&hb), o, t, Favor::Ours).unwrap();
            assert!(merged.conflicts.is_empty(), "{:?}", merged.conflicts);
            let got = apply(rows, &oc, &merged);
            let label = merged.columns.iter().position(|c| c == "label").unwrap() - 1;
            let value = merged.columns.iter().position(|c| c == "v").unwrap() - 1;
            for k in 0..30 {
                assert_eq!(got[&k][label], v(&format!("n{k}")), "{oc:?} row {k}");
            }
            assert_eq!(got[&1][value], v("10"));
            let _ = tc;
        }
    }

    #[test]
    fn a_dropped_column_whose_cell_the_other_side_changed_stays_whole_when_settled_for_that_side() {
        // Adversarial review: settling for the side that edited the cell still dropped the column.
        let mut m = MemNodes::default();
        let base: Rows = (0..5)
            .map(|k| (k, vec![v(&format!("n{k}")), v("1")]))
            .collect();
        let hb = table(&mut m, &["id", "name", "v"], &base);
        let dropped: Rows = base.iter().map(|(k, r)| (*k, vec![r[1].clone()])).collect();
        let ho = table(&mut m, &["id", "v"], &dropped);
        let mut theirs = base.clone();
        theirs.get_mut(&1).unwrap()[0] = v("AAA");
        theirs.get_mut(&2).unwrap()[1] = v("20");
        let ht = table(&mut m, &["id", "name", "v"], &theirs);
        let by_ours = merge_rows(&m, None, "t.csv", Some(&hb), &ho, &ht, Favor::Ours).unwrap();
        assert_eq!(by_ours.conflicts.len(), 1);
        assert_eq!(by_ours.columns, ["id", "v"]);
        let by_theirs = merge_rows(&m, None, "t.csv", Some(&hb), &ho, &ht, Favor::Theirs).unwrap();
        assert_eq!(by_theirs.conflicts.len(), 1, "still reported");
        assert_eq!(by_theirs.columns, ["id", "v", "name"]);
        let got = apply(&dropped, &["id", "v"], &by_theirs);
        assert_eq!(got[&1], vec![v("1"), v("AAA")]);
        assert_eq!(got[&2], vec![v("20"), v("n2")]);
        assert_eq!(got[&4], vec![v("1"), v("n4")], "every row keeps the column");
    }
}
