//! The key-sorted row tree of a table: a prolly tree. Rows are sorted by their encoded key; a leaf ends after
//! a row whose key hash has its low bits zero, an inner node after a child whose last key hash does; so the
//! tree's shape depends only on its rows, never on the edit history, and two versions share every subtree whose
//! rows are equal. A diff walks both trees level by level and drops the subtrees they share: its cost follows
//! the change, not the table. Nodes are ordinary objects (kind `Rows`); see docs/format.md, "Row trees".

use std::collections::HashSet;

pub use crate::cut::{boundary_hash, key_hash};
use crate::store::bytes::Reader;
pub use crate::store::object::NodeSink;
use crate::store::object::{MAX_OBJECT_SIZE, ObjectKind};
use crate::{Error, ObjectId, Result};

pub const NODE_MAGIC: &[u8; 4] = b"DVRN";
pub const NODE_VERSION: u32 = 1;
/// A leaf ends after a row whose key hash has these bits zero (about 64 rows a leaf)...
const LEAF_MASK: u64 = 63;
/// ...or once it holds this many bytes.
const LEAF_MAX_BYTES: usize = 64 * 1024;
/// An inner node ends after a child whose last key hash has these bits zero (about 32 children)...
const INNER_MASK: u64 = 31;
/// ...or at this many children.
const INNER_MAX: usize = 256;
/// Deepest tree accepted (2^64 rows need far fewer levels).
const MAX_LEVEL: u8 = 32;

/// One node, as stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Node {
    /// (encoded key, encoded row), sorted by key, keys unique.
    Leaf(Vec<(Vec<u8>, Vec<u8>)>),
    /// (last key below the child, child id, rows below the child), sorted by key; `level` ≥ 1.
    Inner {
        level: u8,
        children: Vec<(Vec<u8>, ObjectId, u64)>,
    },
}

impl Node {
    pub fn level(&self) -> u8 {
        match self {
            Node::Leaf(_) => 0,
            Node::Inner { level, .. } => *level,
        }
    }

    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        out.extend_from_slice(NODE_MAGIC);
        out.extend_from_slice(&NODE_VERSION.to_le_bytes());
        out.push(self.level());
        match self {
            Node::Leaf(rows) => {
                out.extend_from_slice(&(rows.len() as u32).to_le_bytes());
                for (k, r) in rows {
                    put_bytes(&mut out, k);
                    put_bytes(&mut out, r);
                }
            }
            Node::Inner { children, .. } => {
                out.extend_from_slice(&(children.len() as u32).to_le_bytes());
                for (k, id, rows) in children {
                    put_bytes(&mut out, k);
                    out.extend_from_slice(id.as_bytes());
                    out.extend_from_slice(&rows.to_le_bytes());
                }
            }
        }
        out
    }

    /// Parses and checks a node: header, lengths, and keys strictly increasing.
    pub fn decode(data: &[u8]) -> Result<Node> {
        let mut r = Reader::new(data, "row tree node");
        r.header(NODE_MAGIC, NODE_VERSION)?;
        let level = r.u8()?;
        if level > MAX_LEVEL {
            return Err(r.error(format!("level {level} is too deep")));
        }
        let count = r.u32()? as usize;
        if count == 0 {
            return Err(r.error("a node is never empty"));
        }
        // Every entry takes at least 8 bytes: bound the allocation by what is there.
        if count > r.remaining() / 8 {
            return Err(r.error(format!(
                "{count} entries do not fit {} bytes",
                r.remaining()
            )));
        }
        let node = if level == 0 {
            let mut rows: Vec<(Vec<u8>, Vec<u8>)> = Vec::with_capacity(count);
            for _ in 0..count {
                let k = get_bytes(&mut r)?;
                let v = get_bytes(&mut r)?;
                if rows.last().is_some_and(|(prev, _)| *prev >= k) {
                    return Err(r.error("keys are not strictly increasing"));
                }
                rows.push((k, v));
            }
            Node::Leaf(rows)
        } else {
            let mut children: Vec<(Vec<u8>, ObjectId, u64)> = Vec::with_capacity(count);
            for _ in 0..count {
                let k = get_bytes(&mut r)?;
                let id = r.id()?;
                let rows = r.u64()?;
                if rows == 0 {
                    return Err(r.error("a child with no rows"));
                }
                if children.last().is_some_and(|(prev, _, _)| *prev >= k) {
                    return Err(r.error("keys are not strictly increasing"));
                }
                children.push((k, id, rows));
            }
            Node::Inner { level, children }
        };
        r.finish()?;
        Ok(node)
    }

    pub fn rows(&self) -> u64 {
        match self {
            Node::Leaf(rows) => rows.len() as u64,
            Node::Inner { children, .. } => children.iter().map(|c| c.2).sum(),
        }
    }

    pub fn last_key(&self) -> &[u8] {
        match self {
            Node::Leaf(rows) => &rows.last().expect("never empty").0,
            Node::Inner { children, .. } => &children.last().expect("never empty").0,
        }
    }
}

fn put_bytes(out: &mut Vec<u8>, b: &[u8]) {
    out.extend_from_slice(&(b.len() as u32).to_le_bytes());
    out.extend_from_slice(b);
}

fn get_bytes(r: &mut Reader) -> Result<Vec<u8>> {
    let len = r.u32()? as usize;
    if len > r.remaining() {
        return Err(r.error(format!("a field of {len} bytes overruns the node")));
    }
    Ok(r.take(len)?.to_vec())
}

/// Where nodes come from.
pub trait NodeSource {
    fn node(&self, id: &ObjectId) -> Result<Node>;
}

/// The root of a row tree and its row count. An empty table has no root.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Root {
    pub id: Option<ObjectId>,
    pub rows: u64,
}

/// Builds the tree of `rows` (sorted by key, keys unique), writing every node to `sink`.
pub fn build(
    rows: impl Iterator<Item = (Vec<u8>, Vec<u8>)>,
    sink: &mut dyn NodeSink,
) -> Result<Root> {
    let mut level: Vec<(Vec<u8>, ObjectId, u64)> = Vec::new();
    let mut leaf: Vec<(Vec<u8>, Vec<u8>)> = Vec::new();
    let mut leaf_bytes = 0usize;
    let mut total = 0u64;
    let flush_leaf = |leaf: &mut Vec<(Vec<u8>, Vec<u8>)>,
                      level: &mut Vec<(Vec<u8>, ObjectId, u64)>,
                      sink: &mut dyn NodeSink|
     -> Result<()> {
        let node = Node::Leaf(std::mem::take(leaf));
        let last = node.last_key().to_vec();
        let rows = node.rows();
        let id = write(&node, sink)?;
        level.push((last, id, rows));
        Ok(())
    };
    for (k, v) in rows {
        total += 1;
        let boundary = boundary_hash(&k, 0) & LEAF_MASK == 0;
        leaf_bytes += k.len() + v.len() + 8;
        leaf.push((k, v));
        if boundary || leaf_bytes >= LEAF_MAX_BYTES {
            flush_leaf(&mut leaf, &mut level, sink)?;
            leaf_bytes = 0;
        }
    }
    if !leaf.is_empty() {
        flush_leaf(&mut leaf, &mut level, sink)?;
    }
    if level.is_empty() {
        return Ok(Root { id: None, rows: 0 });
    }
    let mut height = 1u8;
    while level.len() > 1 {
        // Boundaries by hash; in the (rare, content-determined) case that they would not shrink the level,
        // by size alone, so the tree always gets a root.
        let by_hash = level
            .iter()
            .filter(|c| boundary_hash(&c.0, height) & INNER_MASK == 0)
            .count()
            < level.len() - 1;
        let mut next = Vec::new();
        let mut node: Vec<(Vec<u8>, ObjectId, u64)> = Vec::new();
        for child in level {
            let boundary = by_hash && boundary_hash(&child.0, height) & INNER_MASK == 0;
            node.push(child);
            if boundary || node.len() >= INNER_MAX {
                next.push(write_inner(height, std::mem::take(&mut node), sink)?);
            }
        }
        if !node.is_empty() {
            next.push(write_inner(height, node, sink)?);
        }
        level = next;
        height += 1;
    }
    let (_, id, rows) = level.pop().expect("one root");
    debug_assert_eq!(rows, total);
    Ok(Root { id: Some(id), rows })
}

fn write(node: &Node, sink: &mut dyn NodeSink) -> Result<ObjectId> {
    let bytes = node.encode();
    if bytes.len() as u64 > MAX_OBJECT_SIZE {
        return Err(Error::Internal("row tree node too large".into()));
    }
    let id = ObjectId::of(&bytes);
    sink.put(id, ObjectKind::Rows, bytes)?;
    Ok(id)
}

fn write_inner(
    level: u8,
    children: Vec<(Vec<u8>, ObjectId, u64)>,
    sink: &mut dyn NodeSink,
) -> Result<(Vec<u8>, ObjectId, u64)> {
    let node = Node::Inner { level, children };
    let last = node.last_key().to_vec();
    let rows = node.rows();
    Ok((last, write(&node, sink)?, rows))
}

/// Reads a node and checks it sits at the level its parent implies.
fn child(src: &dyn NodeSource, id: &ObjectId, level: Option<u8>) -> Result<Node> {
    let n = src.node(id)?;
    if let Some(want) = level
        && n.level() != want
    {
        return Err(Error::Corrupt {
            id: *id,
            message: format!(
                "row tree node at level {} where {want} was expected",
                n.level()
            ),
        });
    }
    Ok(n)
}

/// The rows two trees do not share: (rows only in `a`, rows only in `b`), each sorted by key. A row whose key is
/// in both lists was modified (its bytes differ: rows identical on both sides are left out).
/// Shared subtrees are never read.
pub type RowList = Vec<(Vec<u8>, Vec<u8>)>;

pub fn diff(
    src: &dyn NodeSource,
    a: Option<ObjectId>,
    b: Option<ObjectId>,
) -> Result<(RowList, RowList)> {
    if a == b {
        return Ok((Vec::new(), Vec::new()));
    }
    let mut left: Vec<Node> = a
        .iter()
        .map(|id| child(src, id, None))
        .collect::<Result<_>>()?;
    let mut right: Vec<Node> = b
        .iter()
        .map(|id| child(src, id, None))
        .collect::<Result<_>>()?;
    loop {
        let la = left.iter().map(Node::level).max().unwrap_or(0);
        let lb = right.iter().map(Node::level).max().unwrap_or(0);
        let top = la.max(lb);
        if top == 0 {
            break;
        }
        // Children of the nodes at the top level; nodes below it wait until the others come down to them.
        let expand = |nodes: Vec<Node>| -> Result<(Vec<Node>, Vec<ObjectId>)> {
            let mut keep = Vec::new();
            let mut ids = Vec::new();
            for n in nodes {
                match n {
                    Node::Inner { level, children } if level == top => {
                        ids.extend(children.into_iter().map(|c| c.1));
                    }
                    other => keep.push(other),
                }
            }
            Ok((keep, ids))
        };
        let (mut keep_a, ids_a) = expand(left)?;
        let (mut keep_b, ids_b) = expand(right)?;
        let set_a: HashSet<ObjectId> = ids_a.iter().copied().collect();
        let set_b: HashSet<ObjectId> = ids_b.iter().copied().collect();
        for id in ids_a.iter().filter(|id| !set_b.contains(id)) {
            keep_a.push(child(src, id, Some(top - 1))?);
        }
        for id in ids_b.iter().filter(|id| !set_a.contains(id)) {
            keep_b.push(child(src, id, Some(top - 1))?);
        }
        left = keep_a;
        right = keep_b;
    }
    let rows = |nodes: Vec<Node>| -> RowList {
        let mut out: RowList = Vec::new();
        for n in nodes {
            if let Node::Leaf(rows) = n {
                out.extend(rows);
            }
        }
        out.sort_by(|x, y| x.0.cmp(&y.0));
        out
    };
    let (ra, rb) = (rows(left), rows(right));
    // Rows identical on both sides (in leaves that differ elsewhere) are not changes.
    let mut only_a = Vec::new();
    let mut only_b = Vec::new();
    let mut rb = rb.into_iter().peekable();
    for x in ra {
        while let Some(y) = rb.next_if(|y| y.0 < x.0) {
            only_b.push(y);
        }
        match rb.next_if(|y| y.0 == x.0) {
            Some(y) if y.1 == x.1 => {}
            Some(y) => {
                only_a.push(x);
                only_b.push(y);
            }
            None => only_a.push(x),
        }
    }
    only_b.extend(rb);
    Ok((only_a, only_b))
}

/// The row stored under `key`, if any: one path from the root.
pub fn lookup(src: &dyn NodeSource, root: Option<ObjectId>, key: &[u8]) -> Result<Option<Vec<u8>>> {
    let Some(mut id) = root else { return Ok(None) };
    let mut level = None;
    loop {
        match child(src, &id, level)? {
            Node::Leaf(rows) => {
                return Ok(rows
                    .binary_search_by(|(k, _)| k.as_slice().cmp(key))
                    .ok()
                    .map(|i| rows[i].1.clone()));
            }
            Node::Inner { level: l, children } => {
                let i = children.partition_point(|(last, _, _)| last.as_slice() < key);
                let Some(c) = children.get(i) else {
                    return Ok(None);
                };
                id = c.1;
                level = Some(l - 1);
            }
        }
    }
}

/// Called with (key, row); returns whether to go on.
pub type RowVisitor<'a> = dyn FnMut(&[u8], &[u8]) -> Result<bool> + 'a;

/// Calls `f` on every row in key order until it returns false. Reads one path of nodes at a time.
pub fn for_each(src: &dyn NodeSource, root: Option<ObjectId>, f: &mut RowVisitor) -> Result<()> {
    fn go(
        src: &dyn NodeSource,
        id: &ObjectId,
        level: Option<u8>,
        f: &mut RowVisitor,
    ) -> Result<bool> {
        match child(src, id, level)? {
            Node::Leaf(rows) => {
                for (k, v) in &rows {
                    if !f(k, v)? {
                        return Ok(false);
                    }
                }
                Ok(true)
            }
            Node::Inner { level, children } => {
                for c in &children {
                    if !go(src, &c.1, Some(level - 1), f)? {
                        return Ok(false);
                    }
                }
                Ok(true)
            }
        }
    }
    if let Some(id) = root {
        go(src, &id, None, f)?;
    }
    Ok(())
}

#[cfg(test)]
pub mod tests {
    use super::*;
    use std::collections::HashMap;

    #[derive(Default)]
    pub struct MemNodes(pub HashMap<ObjectId, Vec<u8>>, pub std::cell::Cell<u64>);

    impl NodeSink for MemNodes {
        fn put(&mut self, id: ObjectId, _: ObjectKind, bytes: Vec<u8>) -> Result<()> {
            self.0.insert(id, bytes);
            Ok(())
        }
    }

    impl NodeSource for MemNodes {
        fn node(&self, id: &ObjectId) -> Result<Node> {
            self.1.set(self.1.get() + 1);
            Node::decode(&self.0[id])
        }
    }

    fn rows(n: u64, edit: impl Fn(u64) -> Option<String>) -> Vec<(Vec<u8>, Vec<u8>)> {
        (0..n)
            .filter_map(|i| edit(i).map(|v| (i.to_be_bytes().to_vec(), v.into_bytes())))
            .collect()
    }

    #[test]
    fn golden_key_hash() {
        // Pinned: these values decide every row tree's shape.
        assert_eq!(key_hash(b""), 0xf52a15e9a9b5e89b);
        assert_eq!(key_hash(b"id=42"), 0x154d62ca910d46d7);
        assert_eq!(boundary_hash(b"id=42", 0), 0x1de6b3aadaab5274);
        assert_eq!(boundary_hash(b"id=42", 3), 0x683177886850737a);
        assert_eq!(key_hash(b"\x01\x80\0\0\0\0\0\0\x07"), 0x36f230ddaa4cc68e);
    }

    #[test]
    fn diff_reads_about_the_change_not_the_table() {
        let mut m = MemNodes::default();
        let a = build(
            rows(100_000, |i| Some(format!("row {i}"))).into_iter(),
            &mut m,
        )
        .unwrap();
        let b = build(
            rows(100_000, |i| match i {
                500 => Some("changed".into()),
                77_000 => None,
                _ => Some(format!("row {i}")),
            })
            .into_iter(),
            &mut m,
        )
        .unwrap();
        assert_eq!(a.rows, 100_000);
        assert_eq!(b.rows, 99_999);
        m.1.set(0);
        let (only_a, only_b) = diff(&m, a.id, b.id).unwrap();
        assert_eq!(only_a.len(), 2);
        assert_eq!(only_b.len(), 1);
        assert_eq!(only_b[0].1, b"changed");
        assert!(m.1.get() < 40, "read {} nodes", m.1.get());
        assert_eq!(diff(&m, a.id, a.id).unwrap(), (vec![], vec![]));
        assert_eq!(
            lookup(&m, b.id, &500u64.to_be_bytes()).unwrap().unwrap(),
            b"changed"
        );
        assert_eq!(lookup(&m, b.id, &77_000u64.to_be_bytes()).unwrap(), None);
        let mut n = 0;
        for_each(&m, b.id, &mut |_, _| {
            n += 1;
            Ok(true)
        })
        .unwrap();
        assert_eq!(n, 99_999);
    }

    #[test]
    fn shape_depends_only_on_content() {
        let mut m = MemNodes::default();
        let a = build(rows(5_000, |i| Some(format!("{i}"))).into_iter(), &mut m).unwrap();
        let b = build(rows(5_001, |i| Some(format!("{i}"))).into_iter(), &mut m).unwrap();
        let c = build(rows(5_000, |i| Some(format!("{i}"))).into_iter(), &mut m).unwrap();
        assert_eq!(a, c);
        assert_ne!(a.id, b.id);
        let empty = build(std::iter::empty(), &mut m).unwrap();
        assert_eq!(empty, Root { id: None, rows: 0 });
        let (gone, _) = diff(&m, a.id, None).unwrap();
        assert_eq!(gone.len(), 5_000);
    }

    #[test]
    fn bad_nodes_are_refused() {
        let good = Node::Leaf(vec![
            (b"a".to_vec(), b"1".to_vec()),
            (b"b".to_vec(), b"2".to_vec()),
        ])
        .encode();
        assert!(Node::decode(&good).is_ok());
        let unsorted = Node::Leaf(vec![
            (b"b".to_vec(), b"1".to_vec()),
            (b"a".to_vec(), b"2".to_vec()),
        ])
        .encode();
        assert!(
            Node::decode(&unsorted)
                .unwrap_err()
                .to_string()
                .contains("increasing")
        );
        for cut in 0..good.len() {
            assert!(Node::decode(&good[..cut]).is_err());
        }
        let mut huge = good.clone();
        huge[9..13].copy_from_slice(&u32::MAX.to_le_bytes());
        assert!(Node::decode(&huge).is_err());
    }
}
