//! Table operations over the cache: row-level diffs between versions, recorded row-change counts, a row's
//! history and reading rows of a version.

use crate::pointer::TableRef;
use crate::store::Store;
use crate::store::statedb::RowCounts;
use crate::table::diff::{Options, TableDiff};
use crate::table::{Cell, Header, StoreNodes, read_header, rowtree};
use crate::{ObjectId, Result};

/// Row-change counts from table version `old` to `new` (header ids): recorded by `dv add`, else computed (by
/// a diff that reads only what changed) and recorded.
pub fn row_counts(store: &Store, old: &ObjectId, new: &ObjectId) -> Result<RowCounts> {
    if let Some(c) = store.state_db().table_changes(old, new)? {
        return Ok(c);
    }
    let (a, b) = (read_header(store, old)?, read_header(store, new)?);
    let d = crate::table::diff::diff(&StoreNodes(store), Some(&a), Some(&b), &Options::default())?;
    let c = RowCounts {
        rows_added: d.rows_added,
        rows_deleted: d.rows_deleted,
        rows_modified: d.rows_modified,
    };
    store.state_db().put_table_changes(old, new, c)?;
    Ok(c)
}

/// The row-level diff between two versions of a table (either may be absent).
pub fn diff(
    store: &Store,
    a: Option<&TableRef>,
    b: Option<&TableRef>,
    opts: &Options,
) -> Result<TableDiff> {
    let ha = a.map(|t| read_header(store, &t.id)).transpose()?;
    let hb = b.map(|t| read_header(store, &t.id)).transpose()?;
    crate::table::diff::diff(&StoreNodes(store), ha.as_ref(), hb.as_ref(), opts)
}

/// One row of a version, by its key cells (in key column order); `None` when the table has no such row.
pub fn lookup_row(store: &Store, header: &Header, key: &[&str]) -> Result<Option<Vec<Cell>>> {
    let k = crate::table::encode_key(key.iter().map(|s| Some(*s)));
    match rowtree::lookup(&StoreNodes(store), header.root, &k)? {
        Some(row) => Ok(Some(header.row_cells(&row)?)),
        None => Ok(None),
    }
}

/// Rows of a version in key order, filtered, up to `limit`.
pub fn rows(
    store: &Store,
    header: &Header,
    filters: &[crate::table::diff::Filter],
    limit: Option<usize>,
) -> Result<Vec<Vec<Cell>>> {
    let mut out = Vec::new();
    if limit == Some(0) {
        return Ok(out);
    }
    let idx: Vec<Option<usize>> = filters
        .iter()
        .map(|f| header.column_index(&f.column))
        .collect();
    rowtree::for_each(&StoreNodes(store), header.root, &mut |_, row| {
        let cells = header.row_cells(row)?;
        if filters
            .iter()
            .zip(&idx)
            .all(|(f, i)| i.is_some_and(|i| f.matches(&cells[i])))
        {
            out.push(cells);
        }
        Ok(limit.is_none_or(|l| out.len() < l))
    })?;
    Ok(out)
}
