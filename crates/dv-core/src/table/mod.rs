//! Tables: CSV, TSV and Parquet files tracked row by row. The file itself is versioned like any file (checkout
//! is bit for bit); in addition `dv add` builds a key-sorted row tree ([`rowtree`]) and a small header object
//! (format, key, columns with types, row count, root), so diffs between versions cost time in proportion to the
//! change. See docs/format.md, "Tables".

pub mod batches;
mod csv_reader;
pub mod csv_writer;
pub mod diff;
mod infer;
mod parquet_reader;
pub mod parquet_writer;
pub mod read;
mod rows;
pub mod rowtree;
mod run;
pub mod sort;

use crate::store::Store;
use crate::store::bytes::Reader;
use crate::store::object::ObjectKind;
use crate::{Error, ObjectId, Result};

/// Rows per Arrow batch, for CSV and Parquet alike.
const BATCH_ROWS: usize = 64 * 1024;

/// A table file dv cannot read as a table: `what` names it.
fn bad(what: &str, message: impl std::fmt::Display) -> Error {
    Error::format(what, message.to_string())
}

pub const HEADER_MAGIC: &[u8; 4] = b"DVTH";
pub const HEADER_VERSION: u32 = 1;

/// Most key columns accepted.
pub const MAX_KEY_COLUMNS: usize = 16;
/// Most columns accepted.
pub const MAX_COLUMNS: usize = 4096;

/// A cell: `None` is NULL (an empty unquoted CSV field, a Parquet null), distinct from `Some("")`.
pub type Cell = Option<String>;

#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Column {
    pub name: String,
    /// `int`, `float`, `bool`, `date`, `string` (or an Arrow type name for other Parquet types).
    #[serde(rename = "type")]
    pub ty: String,
}

/// What a table version is, apart from its rows: stored as an object, named in the pointer file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Header {
    /// `csv`, `tsv` or `parquet`.
    pub format: String,
    /// Key column names; empty for a keyless table (rows matched by their whole content).
    pub key: Vec<String>,
    /// In file order.
    pub columns: Vec<Column>,
    pub rows: u64,
    pub root: Option<ObjectId>,
}

impl Header {
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        out.extend_from_slice(HEADER_MAGIC);
        out.extend_from_slice(&HEADER_VERSION.to_le_bytes());
        put_str(&mut out, &self.format);
        out.extend_from_slice(&(self.key.len() as u32).to_le_bytes());
        for k in &self.key {
            put_str(&mut out, k);
        }
        out.extend_from_slice(&(self.columns.len() as u32).to_le_bytes());
        for c in &self.columns {
            put_str(&mut out, &c.name);
            put_str(&mut out, &c.ty);
        }
        out.extend_from_slice(&self.rows.to_le_bytes());
        match &self.root {
            None => out.push(0),
            Some(id) => {
                out.push(1);
                out.extend_from_slice(id.as_bytes());
            }
        }
        out
    }

    pub fn decode(data: &[u8]) -> Result<Header> {
        let mut r = Reader::new(data, "table header");
        r.header(HEADER_MAGIC, HEADER_VERSION)?;
        let format = get_str(&mut r)?;
        let nkey = r.u32()? as usize;
        if nkey > MAX_KEY_COLUMNS {
            return Err(r.error(format!("{nkey} key columns")));
        }
        let key = (0..nkey)
            .map(|_| get_str(&mut r))
            .collect::<Result<Vec<_>>>()?;
        let ncol = r.u32()? as usize;
        if ncol > MAX_COLUMNS || ncol == 0 {
            return Err(r.error(format!("{ncol} columns")));
        }
        let mut columns = Vec::with_capacity(ncol);
        for _ in 0..ncol {
            let name = get_str(&mut r)?;
            let ty = get_str(&mut r)?;
            columns.push(Column { name, ty });
        }
        let rows = r.u64()?;
        let root = match r.u8()? {
            0 => None,
            1 => Some(r.id()?),
            t => return Err(r.error(format!("bad root tag {t}"))),
        };
        r.finish()?;
        let h = Header {
            format,
            key,
            columns,
            rows,
            root,
        };
        h.check().map_err(|m| Error::format("table header", m))?;
        Ok(h)
    }

    /// Column names unique, key columns present, rows and root consistent.
    fn check(&self) -> std::result::Result<(), String> {
        let mut names: Vec<&str> = self.columns.iter().map(|c| c.name.as_str()).collect();
        names.sort_unstable();
        if let Some(w) = names.windows(2).find(|w| w[0] == w[1]) {
            return Err(format!("column {:?} appears twice", w[0]));
        }
        for k in &self.key {
            if names.binary_search(&k.as_str()).is_err() {
                return Err(format!("key column {k:?} is not a column"));
            }
        }
        if (self.rows == 0) != self.root.is_none() {
            return Err("row count and root disagree".into());
        }
        Ok(())
    }

    /// Column indices (into `columns`) in the order rows store their cells: by name.
    pub fn stored_order(&self) -> Vec<usize> {
        let mut idx: Vec<usize> = (0..self.columns.len()).collect();
        idx.sort_by(|&a, &b| self.columns[a].name.cmp(&self.columns[b].name));
        idx
    }

    /// Decodes a stored row into cells in file column order.
    pub fn row_cells(&self, stored: &[u8]) -> Result<Vec<Cell>> {
        let cells = decode_row(stored)?;
        if cells.len() != self.columns.len() {
            return Err(Error::format(
                "table row",
                format!(
                    "{} cells where the table has {} columns",
                    cells.len(),
                    self.columns.len()
                ),
            ));
        }
        let mut out = vec![None; cells.len()];
        for (cell, &col) in cells.into_iter().zip(&self.stored_order()) {
            out[col] = cell;
        }
        Ok(out)
    }

    pub fn column_index(&self, name: &str) -> Option<usize> {
        self.columns.iter().position(|c| c.name == name)
    }
}

fn put_str(out: &mut Vec<u8>, s: &str) {
    out.extend_from_slice(&(s.len() as u32).to_le_bytes());
    out.extend_from_slice(s.as_bytes());
}

fn get_str(r: &mut Reader) -> Result<String> {
    let len = r.u32()? as usize;
    if len > r.remaining() {
        return Err(r.error(format!("a string of {len} bytes overruns the object")));
    }
    let b = r.take(len)?;
    String::from_utf8(b.to_vec()).map_err(|_| r.error("a string is not UTF-8"))
}

/// A row's cells as stored: per cell a tag (0 NULL, 1 value) and, for a value, its length and UTF-8 bytes.
pub fn encode_row<'a>(cells: impl Iterator<Item = Option<&'a str>> + Clone) -> Vec<u8> {
    // Sized first: one allocation of the exact size (rows are held by the million while a table is sorted).
    let len = cells.clone().map(|c| c.map_or(1, |s| 5 + s.len())).sum();
    let mut out = Vec::with_capacity(len);
    for c in cells {
        match c {
            None => out.push(0),
            Some(s) => {
                out.push(1);
                put_str(&mut out, s);
            }
        }
    }
    out
}

pub fn decode_row(data: &[u8]) -> Result<Vec<Cell>> {
    let mut r = Reader::new(data, "table row");
    let mut out = Vec::new();
    while r.remaining() > 0 {
        match r.u8()? {
            0 => out.push(None),
            1 => out.push(Some(get_str(&mut r)?)),
            t => return Err(r.error(format!("bad cell tag {t}"))),
        }
    }
    Ok(out)
}

/// A key's sort encoding, cell by cell: 0x00 for NULL; 0x01 and the 8 big-endian bytes of the value with its sign
/// bit flipped for a canonical integer (so integer keys sort numerically); 0x02 and the UTF-8 bytes with 0x00
/// escaped as 0x00 0xFF, ended by 0x00 0x01, for any other text (so text keys sort as text). The encoding depends
/// on the value alone, never on a column's type, so the same key encodes the same way in every version.
pub fn encode_key<'a>(cells: impl Iterator<Item = Option<&'a str>> + Clone) -> Vec<u8> {
    // Sized first (exactly, unless a text holds 0x00 bytes), as rows are.
    let len = cells
        .clone()
        .map(|c| c.map_or(1, |s| (s.len() + 3).max(9)))
        .sum();
    let mut out = Vec::with_capacity(len);
    for c in cells {
        match c {
            None => out.push(0),
            Some(s) => match canonical_int(s) {
                Some(v) => {
                    out.push(1);
                    out.extend_from_slice(&((v as u64) ^ (1 << 63)).to_be_bytes());
                }
                None => {
                    out.push(2);
                    for &b in s.as_bytes() {
                        out.push(b);
                        if b == 0 {
                            out.push(0xFF);
                        }
                    }
                    out.extend_from_slice(&[0, 1]);
                }
            },
        }
    }
    out
}

/// Decodes a key made by [`encode_key`] back to cells.
pub fn decode_key(data: &[u8]) -> Result<Vec<Cell>> {
    let bad = |m: &str| Error::format("table key", m.to_string());
    let mut out = Vec::new();
    let mut i = 0;
    while i < data.len() {
        let tag = data[i];
        i += 1;
        match tag {
            0 => out.push(None),
            1 => {
                let b: [u8; 8] = data
                    .get(i..i + 8)
                    .and_then(|s| s.try_into().ok())
                    .ok_or_else(|| bad("truncated integer"))?;
                i += 8;
                out.push(Some(
                    ((u64::from_be_bytes(b) ^ (1 << 63)) as i64).to_string(),
                ));
            }
            2 => {
                let mut s = Vec::new();
                loop {
                    match (data.get(i), data.get(i + 1)) {
                        (Some(0), Some(0xFF)) => {
                            s.push(0);
                            i += 2;
                        }
                        (Some(0), Some(1)) => {
                            i += 2;
                            break;
                        }
                        (Some(&b), _) if b != 0 => {
                            s.push(b);
                            i += 1;
                        }
                        _ => return Err(bad("unterminated text")),
                    }
                }
                out.push(Some(String::from_utf8(s).map_err(|_| bad("not UTF-8"))?));
            }
            _ => return Err(bad("bad tag")),
        }
    }
    Ok(out)
}

/// The value of `s` if it is an integer written the one canonical way (no sign on zero, no leading zeros, no
/// plus), so that decoding gives back exactly `s`.
fn canonical_int(s: &str) -> Option<i64> {
    let digits = s.strip_prefix('-').unwrap_or(s);
    if digits.is_empty()
        || !digits.bytes().all(|b| b.is_ascii_digit())
        || (digits.len() > 1 && digits.starts_with('0'))
        || s == "-0"
    {
        return None;
    }
    s.parse().ok()
}

/// How a table is matched row to row.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TableSpec {
    /// Key columns; empty: keyless.
    pub key: Vec<String>,
}

pub use crate::store::writer::StoreSink;

/// Reads row-tree nodes and table headers from the cache.
pub struct StoreNodes<'a>(pub &'a Store);

impl rowtree::NodeSource for StoreNodes<'_> {
    fn node(&self, id: &ObjectId) -> Result<rowtree::Node> {
        rowtree::Node::decode(&self.0.read(id)?).map_err(|e| Error::Corrupt {
            id: *id,
            message: e.to_string(),
        })
    }
}

pub fn read_header(store: &Store, id: &ObjectId) -> Result<Header> {
    Header::decode(&store.read(id)?).map_err(|e| Error::Corrupt {
        id: *id,
        message: e.to_string(),
    })
}

/// Reads the table at `path`, builds its row tree and header into `sink`; returns the header and its id.
pub fn record(
    path: &std::path::Path,
    what: &str,
    spec: &TableSpec,
    sink: &mut StoreSink,
) -> Result<(Header, ObjectId)> {
    let sort = sort::SortOptions::new(sink.store().sort_memory(), sink.store().tmp_dir());
    record_to(path, what, spec, &sort, sink)
}

/// [`record`] into any node sink, sorting within `sort`'s budget.
pub(crate) fn record_to(
    path: &std::path::Path,
    what: &str,
    spec: &TableSpec,
    sort: &sort::SortOptions,
    sink: &mut dyn rowtree::NodeSink,
) -> Result<(Header, ObjectId)> {
    let table = read::read_table(path, what, spec, sort)?;
    let root = match table.rows {
        sort::SortedRows::Memory(rows) => rowtree::build(rows.into_iter(), sink)?,
        sort::SortedRows::Merge(mut merge) => {
            // Duplicate keys show only as the merge reaches them. The nodes written before are then unreferenced:
            // an unsealed pack is discarded with the sink, a sealed one is garbage for `dv gc`.
            let root = rowtree::build(&mut merge, sink)?;
            merge.finish()?;
            root
        }
    };
    let header = Header {
        format: table.format,
        key: spec.key.clone(),
        columns: table.columns,
        rows: root.rows,
        root: root.id,
    };
    let bytes = header.encode();
    let id = ObjectId::of(&bytes);
    sink.put(id, ObjectKind::Rows, bytes)?;
    Ok((header, id))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn keys_sort_numbers_as_numbers_and_round_trip() {
        let k = |s: &str| encode_key(std::iter::once(Some(s)));
        assert!(k("9") < k("10"));
        assert!(k("-5") < k("3"));
        assert!(k("10") < k("007"), "non-canonical integers are text");
        assert!(k("apple") < k("banana"));
        for s in [
            "0",
            "-1",
            "007",
            "",
            "a\0b",
            "9223372036854775807",
            "-9223372036854775808",
            "1e3",
        ] {
            assert_eq!(
                decode_key(&k(s)).unwrap(),
                vec![Some(s.to_string())],
                "{s:?}"
            );
        }
        let two = encode_key([Some("eu"), None].into_iter());
        assert_eq!(decode_key(&two).unwrap(), vec![Some("eu".into()), None]);
    }

    #[test]
    fn golden_header() {
        let h = Header {
            format: "csv".into(),
            key: vec!["id".into()],
            columns: vec![
                Column {
                    name: "id".into(),
                    ty: "int".into(),
                },
                Column {
                    name: "name".into(),
                    ty: "string".into(),
                },
            ],
            rows: 2,
            root: Some(ObjectId([7; 32])),
        };
        let bytes = h.encode();
        assert_eq!(&bytes[..8], b"DVTH\x01\x00\x00\x00");
        assert_eq!(bytes.len(), 8 + 7 + 4 + 6 + 4 + 6 + 7 + 8 + 10 + 8 + 1 + 32);
        assert_eq!(Header::decode(&bytes).unwrap(), h);
        let mut dup = h.clone();
        dup.columns[1].name = "id".into();
        assert!(
            Header::decode(&dup.encode())
                .unwrap_err()
                .to_string()
                .contains("twice")
        );
    }

    proptest! {
        #[test]
        fn key_order_is_consistent(a in proptest::option::of("[a-z0-9-]{0,6}"), b in proptest::option::of("[a-z0-9-]{0,6}")) {
            let ka = encode_key(std::iter::once(a.as_deref()));
            let kb = encode_key(std::iter::once(b.as_deref()));
            prop_assert_eq!(ka == kb, a == b);
            prop_assert_eq!(decode_key(&ka).unwrap(), vec![a]);
        }

        #[test]
        fn decoders_never_panic(data in proptest::collection::vec(any::<u8>(), 0..200)) {
            let _ = decode_key(&data);
            let _ = decode_row(&data);
            let _ = Header::decode(&data);
            let _ = rowtree::Node::decode(&data);
        }
    }
}
