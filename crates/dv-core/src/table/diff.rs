//! Row-level diffs between two table versions: schema changes, then rows added, deleted and modified by key,
//! compared on the columns both versions share. Only the rows in subtrees the versions do not share are read.

use super::rowtree::{self, NodeSource};
use super::{Cell, Header};
use crate::{Error, Result};

words! {
    /// How a column changed between two table versions.
    pub enum SchemaChangeKind {
        Added = "added",
        Dropped = "dropped",
        /// Same type and place, new name.
        Renamed = "renamed",
        TypeChanged = "type_changed",
        /// Both versions have it, in a different order relative to the other shared columns.
        Reordered = "reordered",
    }
}

words! {
    /// What happened to a row between two table versions.
    pub enum RowChangeKind {
        Added = "added",
        Deleted = "deleted",
        Modified = "modified",
    }
}

words! {
    /// The comparison of a `--where` condition.
    pub enum CompareOp {
        Eq = "=",
        Ne = "!=",
        Lt = "<",
        Le = "<=",
        Gt = ">",
        Ge = ">=",
    }
}

#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct SchemaChange {
    pub change: SchemaChangeKind,
    pub column: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub old_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub old_type: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub new_type: Option<String>,
}

#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct CellChange {
    pub column: String,
    pub old: Cell,
    pub new: Cell,
}

#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct RowChange {
    pub change: RowChangeKind,
    /// The key cells (empty for a keyless table).
    pub key: Vec<Cell>,
    /// Modified rows: the cells that changed.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub cells: Vec<CellChange>,
    /// Added and deleted rows: the whole row, in its version's column order.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub row: Vec<(String, Cell)>,
}

#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct TableDiff {
    pub key: Vec<String>,
    pub rows_before: u64,
    pub rows_after: u64,
    pub rows_added: u64,
    pub rows_deleted: u64,
    pub rows_modified: u64,
    pub schema_changes: Vec<SchemaChange>,
    /// The changed rows (up to the limit asked for), in key order.
    pub rows: Vec<RowChange>,
    /// True when `rows` stops at the limit.
    pub truncated: bool,
}

/// A `--where` condition: `column OP value` with OP one of `=`, `!=`, `<`, `<=`, `>`, `>=`. Numbers compare as
/// numbers when both sides are numbers, otherwise as text; NULL matches only `!=`.
#[derive(Clone, Debug, PartialEq)]
pub struct Filter {
    pub column: String,
    pub op: CompareOp,
    pub value: String,
}

impl Filter {
    pub fn parse(s: &str) -> std::result::Result<Filter, String> {
        // Two-character operators first, so that `a<=1` is not read as `a < "=1"`.
        let ops = [
            ("!=", CompareOp::Ne),
            ("<=", CompareOp::Le),
            (">=", CompareOp::Ge),
            ("==", CompareOp::Eq),
            ("=", CompareOp::Eq),
            ("<", CompareOp::Lt),
            (">", CompareOp::Gt),
        ];
        for (word, op) in ops {
            if let Some((c, v)) = s.split_once(word) {
                let column = c.trim().to_string();
                if column.is_empty() {
                    break;
                }
                return Ok(Filter {
                    column,
                    op,
                    value: v.trim().to_string(),
                });
            }
        }
        Err(format!(
            "{s:?} is not a condition: use COLUMN=VALUE, !=, <, <=, > or >="
        ))
    }

    pub fn matches(&self, cell: &Cell) -> bool {
        let Some(v) = cell else {
            return self.op == CompareOp::Ne;
        };
        let ord = match (v.parse::<f64>(), self.value.parse::<f64>()) {
            (Ok(a), Ok(b)) => a.partial_cmp(&b),
            _ => Some(v.as_str().cmp(self.value.as_str())),
        };
        let Some(ord) = ord else { return false };
        use std::cmp::Ordering::*;
        match self.op {
            CompareOp::Eq => ord == Equal,
            CompareOp::Ne => ord != Equal,
            CompareOp::Lt => ord == Less,
            CompareOp::Le => ord != Greater,
            CompareOp::Gt => ord == Greater,
            CompareOp::Ge => ord != Less,
        }
    }
}

#[derive(Clone, Debug, Default)]
pub struct Options {
    /// Floats within this absolute difference are equal (default: compared exactly, as written).
    pub tolerance: Option<f64>,
    /// Keep at most this many rows in the result (counts are always complete).
    pub limit: Option<usize>,
    /// Compare and report only these columns (names in either version).
    pub columns: Option<Vec<String>>,
    /// Report only rows matching every condition (in either version, for a modified row).
    pub filters: Vec<Filter>,
}

/// How the columns of two versions correspond.
pub fn schema_changes(a: &Header, b: &Header) -> Vec<SchemaChange> {
    let mut out = Vec::new();
    let in_b = |n: &str| b.column_index(n);
    let in_a = |n: &str| a.column_index(n);
    let mut dropped: Vec<usize> = (0..a.columns.len())
        .filter(|&i| in_b(&a.columns[i].name).is_none())
        .collect();
    let mut added: Vec<usize> = (0..b.columns.len())
        .filter(|&i| in_a(&b.columns[i].name).is_none())
        .collect();
    // A column dropped and another added at the same position with the same type: a rename.
    let mut renames = Vec::new();
    dropped.retain(|&i| {
        if let Some(pos) = added
            .iter()
            .position(|&j| j == i && b.columns[j].ty == a.columns[i].ty)
        {
            renames.push((i, added.remove(pos)));
            false
        } else {
            true
        }
    });
    for &i in &dropped {
        out.push(SchemaChange {
            change: SchemaChangeKind::Dropped,
            column: a.columns[i].name.clone(),
            old_name: None,
            old_type: Some(a.columns[i].ty.clone()),
            new_type: None,
        });
    }
    for &(i, j) in &renames {
        out.push(SchemaChange {
            change: SchemaChangeKind::Renamed,
            column: b.columns[j].name.clone(),
            old_name: Some(a.columns[i].name.clone()),
            old_type: None,
            new_type: None,
        });
    }
    for &j in &added {
        out.push(SchemaChange {
            change: SchemaChangeKind::Added,
            column: b.columns[j].name.clone(),
            old_name: None,
            old_type: None,
            new_type: Some(b.columns[j].ty.clone()),
        });
    }
    for c in &b.columns {
        if let Some(i) = in_a(&c.name)
            && a.columns[i].ty != c.ty
        {
            out.push(SchemaChange {
                change: SchemaChangeKind::TypeChanged,
                column: c.name.clone(),
                old_name: None,
                old_type: Some(a.columns[i].ty.clone()),
                new_type: Some(c.ty.clone()),
            });
        }
    }
    // Reordered: the columns both have, in a different relative order.
    let shared_a: Vec<&str> = a
        .columns
        .iter()
        .map(|c| c.name.as_str())
        .filter(|n| in_b(n).is_some())
        .collect();
    let shared_b: Vec<&str> = b
        .columns
        .iter()
        .map(|c| c.name.as_str())
        .filter(|n| in_a(n).is_some())
        .collect();
    if shared_a != shared_b {
        for (pos, n) in shared_b.iter().enumerate() {
            if shared_a[pos] != *n {
                out.push(SchemaChange {
                    change: SchemaChangeKind::Reordered,
                    column: n.to_string(),
                    old_name: None,
                    old_type: None,
                    new_type: None,
                });
            }
        }
    }
    out
}

/// Pairs of (old column, new column, name shown) that both versions have, renames included.
fn shared_columns(a: &Header, b: &Header, changes: &[SchemaChange]) -> Vec<(usize, usize, String)> {
    let mut out = Vec::new();
    for (j, c) in b.columns.iter().enumerate() {
        let old = a.column_index(&c.name).or_else(|| {
            changes
                .iter()
                .find(|s| s.change == SchemaChangeKind::Renamed && s.column == c.name)
                .and_then(|s| a.column_index(s.old_name.as_deref()?))
        });
        if let Some(i) = old {
            out.push((i, j, c.name.clone()));
        }
    }
    out
}

fn equal(x: &Cell, y: &Cell, tolerance: Option<f64>) -> bool {
    if x == y {
        return true;
    }
    match (tolerance, x, y) {
        (Some(t), Some(a), Some(b)) => match (a.parse::<f64>(), b.parse::<f64>()) {
            (Ok(a), Ok(b)) => (a - b).abs() <= t,
            _ => false,
        },
        _ => false,
    }
}

/// Diffs version `a` against version `b` (either may be absent: a table added or deleted).
pub fn diff(
    src: &dyn NodeSource,
    a: Option<&Header>,
    b: Option<&Header>,
    opts: &Options,
) -> Result<TableDiff> {
    let empty = Header {
        format: String::new(),
        key: b.or(a).map(|h| h.key.clone()).unwrap_or_default(),
        columns: b.or(a).map(|h| h.columns.clone()).unwrap_or_default(),
        rows: 0,
        root: None,
    };
    let (a, b) = (a.unwrap_or(&empty), b.unwrap_or(&empty));
    if a.key != b.key && !a.columns.is_empty() && a.rows > 0 && b.rows > 0 {
        return Err(Error::format(
            "table diff",
            format!(
                "the key changed from ({}) to ({}): versions keyed differently cannot be matched row by row",
                a.key.join(", "),
                b.key.join(", ")
            ),
        ));
    }
    let schema = if std::ptr::eq(a, &empty) || std::ptr::eq(b, &empty) {
        Vec::new()
    } else {
        schema_changes(a, b)
    };
    let shared = shared_columns(a, b, &schema);
    let wanted = |name: &str, old_name: Option<&str>| {
        opts.columns.as_ref().is_none_or(|cols| {
            cols.iter()
                .any(|c| c == name || Some(c.as_str()) == old_name)
        })
    };
    let filter_ok = |h: &Header, cells: &[Cell]| {
        opts.filters.iter().all(|f| {
            h.column_index(&f.column)
                .is_some_and(|i| f.matches(&cells[i]))
        })
    };
    let (only_a, only_b) = rowtree::diff(src, a.root, b.root)?;
    let mut out = TableDiff {
        key: b.key.clone(),
        rows_before: a.rows,
        rows_after: b.rows,
        schema_changes: schema,
        ..Default::default()
    };
    let keyed = !b.key.is_empty();
    let key_cells = |k: &[u8], h: &Header, cells: &[Cell]| -> Result<Vec<Cell>> {
        if keyed {
            super::decode_key(k)
        } else {
            let _ = (h, cells);
            Ok(Vec::new())
        }
    };
    let whole = |h: &Header, cells: Vec<Cell>| -> Vec<(String, Cell)> {
        h.columns
            .iter()
            .map(|c| c.name.clone())
            .zip(cells)
            .filter(|(n, _)| wanted(n, None))
            .collect()
    };
    let push = |out: &mut TableDiff, rc: RowChange| {
        if opts.limit.is_none_or(|l| out.rows.len() < l) {
            out.rows.push(rc);
        } else {
            out.truncated = true;
        }
    };
    let (mut i, mut j) = (0, 0);
    while i < only_a.len() || j < only_b.len() {
        let order = match (only_a.get(i), only_b.get(j)) {
            (Some(x), Some(y)) => x.0.cmp(&y.0),
            (Some(_), None) => std::cmp::Ordering::Less,
            _ => std::cmp::Ordering::Greater,
        };
        match order {
            std::cmp::Ordering::Equal => {
                let (k, ra) = &only_a[i];
                let ca = a.row_cells(ra)?;
                let cb = b.row_cells(&only_b[j].1)?;
                i += 1;
                j += 1;
                let cells: Vec<CellChange> = shared
                    .iter()
                    .filter(|(x, _, name)| wanted(name, Some(&a.columns[*x].name)))
                    .filter(|(x, y, _)| !equal(&ca[*x], &cb[*y], opts.tolerance))
                    .map(|(x, y, name)| CellChange {
                        column: name.clone(),
                        old: ca[*x].clone(),
                        new: cb[*y].clone(),
                    })
                    .collect();
                if cells.is_empty() || !(filter_ok(a, &ca) || filter_ok(b, &cb)) {
                    continue;
                }
                out.rows_modified += 1;
                let key = key_cells(k, b, &cb)?;
                push(
                    &mut out,
                    RowChange {
                        change: RowChangeKind::Modified,
                        key,
                        cells,
                        row: Vec::new(),
                    },
                );
            }
            std::cmp::Ordering::Less => {
                let (k, r) = &only_a[i];
                i += 1;
                let cells = a.row_cells(r)?;
                if !filter_ok(a, &cells) {
                    continue;
                }
                out.rows_deleted += 1;
                let key = key_cells(k, a, &cells)?;
                let row = whole(a, cells);
                push(
                    &mut out,
                    RowChange {
                        change: RowChangeKind::Deleted,
                        key,
                        cells: Vec::new(),
                        row,
                    },
                );
            }
            std::cmp::Ordering::Greater => {
                let (k, r) = &only_b[j];
                j += 1;
                let cells = b.row_cells(r)?;
                if !filter_ok(b, &cells) {
                    continue;
                }
                out.rows_added += 1;
                let key = key_cells(k, b, &cells)?;
                let row = whole(b, cells);
                push(
                    &mut out,
                    RowChange {
                        change: RowChangeKind::Added,
                        key,
                        cells: Vec::new(),
                        row,
                    },
                );
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::table::rowtree::tests::MemNodes;
    use crate::table::{Column, encode_key, encode_row};
    use proptest::prelude::*;
    use std::collections::BTreeMap;

    /// Builds a keyed table (id, v) from a map.
    fn table(m: &mut MemNodes, rows: &BTreeMap<i64, String>) -> Header {
        let mut kv: Vec<(Vec<u8>, Vec<u8>)> = rows
            .iter()
            .map(|(k, v)| {
                let ks = k.to_string();
                (
                    encode_key(std::iter::once(Some(ks.as_str()))),
                    // Stored order is by column name: id, v.
                    encode_row([Some(ks.as_str()), Some(v.as_str())].into_iter()),
                )
            })
            .collect();
        kv.sort();
        let root = rowtree::build(kv.into_iter(), m).unwrap();
        Header {
            format: "csv".into(),
            key: vec!["id".into()],
            columns: vec![
                Column {
                    name: "id".into(),
                    ty: "int".into(),
                },
                Column {
                    name: "v".into(),
                    ty: "string".into(),
                },
            ],
            rows: root.rows,
            root: root.id,
        }
    }

    #[derive(Debug, Clone)]
    enum Edit {
        Update(usize, String),
        Delete(usize),
        Insert(i64, String),
    }

    fn edits() -> impl Strategy<Value = Vec<Edit>> {
        proptest::collection::vec(
            prop_oneof![
                (any::<usize>(), "[a-c]{0,3}").prop_map(|(i, v)| Edit::Update(i, v)),
                any::<usize>().prop_map(Edit::Delete),
                (-50i64..5000, "[a-c]{0,3}").prop_map(|(k, v)| Edit::Insert(k, v)),
            ],
            0..40,
        )
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]
        #[test]
        fn the_diff_is_the_edit_script(n in 0usize..3000, script in edits()) {
            let mut m = MemNodes::default();
            let before: BTreeMap<i64, String> = (0..n as i64).map(|i| (i * 3, format!("v{}", i % 7))).collect();
            let mut after = before.clone();
            for e in &script {
                match e {
                    Edit::Update(i, v) if !after.is_empty() => {
                        let k = *after.keys().nth(i % after.len()).unwrap();
                        after.insert(k, v.clone());
                    }
                    Edit::Delete(i) if !after.is_empty() => {
                        let k = *after.keys().nth(i % after.len()).unwrap();
                        after.remove(&k);
                    }
                    Edit::Insert(k, v) => {
                        after.insert(*k, v.clone());
                    }
                    _ => {}
                }
            }
            let (a, b) = (table(&mut m, &before), table(&mut m, &after));
            let d = diff(&m, Some(&a), Some(&b), &Options::default()).unwrap();
            // The reference, computed from the maps.
            let mut want: Vec<(&str, String)> = Vec::new();
            for (k, v) in &before {
                match after.get(k) {
                    None => want.push(("deleted", k.to_string())),
                    Some(w) if w != v => want.push(("modified", k.to_string())),
                    _ => {}
                }
            }
            for k in after.keys().filter(|k| !before.contains_key(k)) {
                want.push(("added", k.to_string()));
            }
            let mut got: Vec<(&str, String)> = d.rows.iter().map(|r| (r.change.as_str(), r.key[0].clone().unwrap())).collect();
            want.sort();
            got.sort();
            prop_assert_eq!(got, want);
            prop_assert_eq!(d.rows_after, after.len() as u64);
            // diff(a, a) is empty, and reads nothing but the headers.
            let same = diff(&m, Some(&b), Some(&b), &Options::default()).unwrap();
            prop_assert!(same.rows.is_empty());
        }
    }

    #[test]
    fn filters_parse_and_compare() {
        let f = Filter::parse("age >= 30").unwrap();
        assert!(f.matches(&Some("30".into())));
        assert!(f.matches(&Some("100".into())), "numbers compare as numbers");
        assert!(!f.matches(&Some("4".into())));
        assert!(!f.matches(&None));
        let g = Filter::parse("name!=bob").unwrap();
        assert!(g.matches(&None));
        assert!(Filter::parse("nothing").is_err());
        assert!(Filter::parse("=3").is_err());
    }
}
