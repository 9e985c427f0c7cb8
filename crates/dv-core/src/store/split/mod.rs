//! Large folders and files as trees of small nodes (repository format 2), so that an edit writes a few small
//! nodes and two versions share every node that did not change. A folder of more than [`TREE_FLAT_MAX`]
//! entries is cut into leaves (ordinary tree objects, `DVTR`) under index nodes (`DVTX`); a file of more than
//! [`MANIFEST_FLAT_MAX`] chunks into leaves (ordinary manifests, `DVMF`) under index nodes (`DVMX`). Where a
//! node ends depends on its items alone (`crate::cut`), so the shape is a function of the content. Smaller
//! folders and files are one object, byte for byte what format 1 writes, so their ids do not change with the
//! format. See docs/format.md, "Split trees and manifests".
//!
//! Readers take both shapes wherever a tree or manifest is named: [`read_tree`] and [`read_manifest`]
//! assemble the whole list and check every index against what is below it.

use super::bytes::Reader;
use super::object::{
    MAX_OBJECT_SIZE, Manifest, NodeSink, ObjectKind, Tree, TreeEntry, check_name, encode_entries,
};
use crate::cut::boundary_hash;
use crate::{Error, ObjectId, Result};

mod read;

pub use read::{children, read_manifest, read_tree};

pub const TREE_INDEX_MAGIC: &[u8; 4] = b"DVTX";
pub const MANIFEST_INDEX_MAGIC: &[u8; 4] = b"DVMX";
pub const INDEX_VERSION: u32 = 1;

/// A folder of at most this many entries is one tree object, in either layout.
pub const TREE_FLAT_MAX: usize = 256;
/// A leaf of a split folder ends after an entry whose name's boundary hash has these bits zero (64 entries on
/// average), or at [`TREE_LEAF_MAX`] entries or [`TREE_LEAF_MAX_BYTES`] bytes.
const TREE_LEAF_MASK: u64 = 63;
const TREE_LEAF_MAX: usize = 1024;
const TREE_LEAF_MAX_BYTES: usize = 256 * 1024;
/// A file of at most this many chunks (about 80 MiB: FastCDC's chunks average about 78 KiB) has one manifest,
/// in either layout.
pub const MANIFEST_FLAT_MAX: usize = 1024;
/// A leaf of a split manifest ends after a chunk whose id's boundary hash has these bits zero (256 chunks, about
/// 20 MiB of the file, on average), or at [`MANIFEST_LEAF_MAX`] chunks.
const MANIFEST_LEAF_MASK: u64 = 255;
const MANIFEST_LEAF_MAX: usize = 2048;
/// An index node ends after a child whose last key's boundary hash (salted by the level) has these bits zero
/// (32 children on average), or at [`INDEX_MAX`] children.
const INDEX_MASK: u64 = 31;
const INDEX_MAX: usize = 256;
/// The deepest index a reader follows (far more than 2^64 items need).
pub const MAX_LEVEL: u8 = 32;

/// How a repository stores folders and files too large for one node.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Layout {
    /// Format 1: every folder is one tree object and every file one manifest (each at most 1 GiB).
    Flat,
    /// Format 2: large ones are split into leaves under index nodes.
    Split,
}

impl Layout {
    /// The layout of a repository format, or of a pointer or step file's version (both follow it).
    pub fn of_version(version: u64) -> Layout {
        if version >= 2 {
            Layout::Split
        } else {
            Layout::Flat
        }
    }
}

/// One child of a tree index node: a leaf (under a level-1 index) or an index one level down.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TreeChild {
    pub id: ObjectId,
    /// Bytes of all files below.
    pub size: u64,
    /// Files below (counting those inside subfolders, as a tree entry does).
    pub files: u64,
    /// Entries of the folder below (never 0).
    pub entries: u64,
    /// The name of the last entry below.
    pub last: String,
}

/// A tree index node (`DVTX`): the folder is its children's entries, in order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TreeIndex {
    pub level: u8,
    pub children: Vec<TreeChild>,
}

/// One child of a manifest index node.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ManifestChild {
    pub id: ObjectId,
    /// Bytes of the file below.
    pub size: u64,
    /// Chunks below (never 0).
    pub chunks: u64,
}

/// A manifest index node (`DVMX`): the file is its children's chunks, in order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ManifestIndex {
    pub level: u8,
    pub children: Vec<ManifestChild>,
}

/// A stored tree object: a leaf (a whole folder, or part of a split one) or an index.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TreeNode {
    Leaf(Tree),
    Index(TreeIndex),
}

/// A stored manifest object: a leaf (a whole file's chunks, or part of them) or an index.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ManifestNode {
    Leaf(Manifest),
    Index(ManifestIndex),
}

impl TreeIndex {
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(13 + self.children.len() * 80);
        out.extend_from_slice(TREE_INDEX_MAGIC);
        out.extend_from_slice(&INDEX_VERSION.to_le_bytes());
        out.push(self.level);
        out.extend_from_slice(&(self.children.len() as u32).to_le_bytes());
        for c in &self.children {
            out.extend_from_slice(&c.size.to_le_bytes());
            out.extend_from_slice(&c.files.to_le_bytes());
            out.extend_from_slice(&c.entries.to_le_bytes());
            out.extend_from_slice(c.id.as_bytes());
            out.extend_from_slice(&(c.last.len() as u16).to_le_bytes());
            out.extend_from_slice(c.last.as_bytes());
        }
        out
    }

    pub fn decode(data: &[u8]) -> Result<TreeIndex> {
        let mut r = Reader::new(data, "tree index node");
        r.header(TREE_INDEX_MAGIC, INDEX_VERSION)?;
        let level = r.u8()?;
        let level = check_level(&r, level)?;
        let count = r.u32()? as usize;
        // Each child takes at least 59 bytes: refuse counts the data cannot hold before allocating.
        if count == 0 || count > r.remaining() / 59 {
            return Err(r.error(format!(
                "{count} children do not fit {} bytes",
                r.remaining()
            )));
        }
        let mut children: Vec<TreeChild> = Vec::with_capacity(count);
        for _ in 0..count {
            let size = r.u64()?;
            let files = r.u64()?;
            let entries = r.u64()?;
            let id = r.id()?;
            let len = r.u16()? as usize;
            let last = std::str::from_utf8(r.take(len)?)
                .map_err(|_| r.error("a last name is not UTF-8"))?
                .to_string();
            check_name(&last).map_err(|why| r.error(format!("last name {last:?}: {why}")))?;
            if entries == 0 {
                return Err(r.error("a child without entries"));
            }
            if let Some(prev) = children.last()
                && prev.last.as_bytes() >= last.as_bytes()
            {
                return Err(r.error(format!("child ending at {last:?} is out of order")));
            }
            children.push(TreeChild {
                id,
                size,
                files,
                entries,
                last,
            });
        }
        r.finish()?;
        Ok(TreeIndex { level, children })
    }
}

impl ManifestIndex {
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(13 + self.children.len() * 48);
        out.extend_from_slice(MANIFEST_INDEX_MAGIC);
        out.extend_from_slice(&INDEX_VERSION.to_le_bytes());
        out.push(self.level);
        out.extend_from_slice(&(self.children.len() as u32).to_le_bytes());
        for c in &self.children {
            out.extend_from_slice(&c.size.to_le_bytes());
            out.extend_from_slice(&c.chunks.to_le_bytes());
            out.extend_from_slice(c.id.as_bytes());
        }
        out
    }

    pub fn decode(data: &[u8]) -> Result<ManifestIndex> {
        let mut r = Reader::new(data, "manifest index node");
        r.header(MANIFEST_INDEX_MAGIC, INDEX_VERSION)?;
        let level = r.u8()?;
        let level = check_level(&r, level)?;
        let count = r.u32()? as usize;
        if count == 0 || r.remaining() != count.saturating_mul(48) {
            return Err(r.error(format!(
                "{count} children do not fit {} bytes",
                r.remaining()
            )));
        }
        let mut children = Vec::with_capacity(count);
        for _ in 0..count {
            let size = r.u64()?;
            let chunks = r.u64()?;
            let id = r.id()?;
            // Every chunk holds 1 to MAX_SIZE bytes.
            let most = chunks.checked_mul(crate::chunk::MAX_SIZE as u64);
            if chunks == 0 || size < chunks || most.is_some_and(|m| size > m) {
                return Err(r.error(format!("{chunks} chunks cannot hold {size} bytes")));
            }
            children.push(ManifestChild { id, size, chunks });
        }
        r.finish()?;
        Ok(ManifestIndex { level, children })
    }
}

fn check_level(r: &Reader<'_>, level: u8) -> Result<u8> {
    if level == 0 || level > MAX_LEVEL {
        return Err(r.error(format!("level {level} out of range")));
    }
    Ok(level)
}

impl TreeNode {
    /// Decodes a stored tree object of either shape, by its magic.
    pub fn decode(data: &[u8]) -> Result<TreeNode> {
        if data.starts_with(TREE_INDEX_MAGIC) {
            TreeIndex::decode(data).map(TreeNode::Index)
        } else {
            Tree::decode(data).map(TreeNode::Leaf)
        }
    }

    /// 0 for a leaf; an index's children are one level below it.
    pub fn level(&self) -> u8 {
        match self {
            TreeNode::Leaf(_) => 0,
            TreeNode::Index(i) => i.level,
        }
    }
}

impl ManifestNode {
    /// Decodes a stored manifest object of either shape, by its magic.
    pub fn decode(data: &[u8]) -> Result<ManifestNode> {
        if data.starts_with(MANIFEST_INDEX_MAGIC) {
            ManifestIndex::decode(data).map(ManifestNode::Index)
        } else {
            Manifest::decode(data).map(ManifestNode::Leaf)
        }
    }

    /// 0 for a leaf; an index's children are one level below it.
    pub fn level(&self) -> u8 {
        match self {
            ManifestNode::Leaf(_) => 0,
            ManifestNode::Index(i) => i.level,
        }
    }
}

/// What a built node contributes to its parent index.
struct Built {
    id: ObjectId,
    size: u64,
    files: u64,
    count: u64,
    /// The key the parent level cuts by: the last name (trees) or the last chunk id (manifests).
    last: Vec<u8>,
}

fn add(a: u64, b: u64, what: &str) -> Result<u64> {
    a.checked_add(b)
        .ok_or_else(|| Error::format(what, "sizes overflow"))
}

fn put(sink: &mut dyn NodeSink, kind: ObjectKind, bytes: Vec<u8>) -> Result<ObjectId> {
    if bytes.len() as u64 > MAX_OBJECT_SIZE {
        return Err(Error::TooLargeForFormat {
            what: format!("a {} of {} bytes", kind.name(), bytes.len()),
        });
    }
    let id = ObjectId::of(&bytes);
    sink.put(id, kind, bytes)?;
    Ok(id)
}

/// Groups `level` (the leaves) under index nodes, level by level, until one node is left: the root.
fn build_index(
    mut level: Vec<Built>,
    sink: &mut dyn NodeSink,
    kind: ObjectKind,
    encode: &dyn Fn(u8, &[Built]) -> Vec<u8>,
) -> Result<ObjectId> {
    let mut height = 1u8;
    while level.len() > 1 {
        // Cut by hash; in the (rare, content-determined) case that this would not shrink the level, by size
        // alone, so the index always gets a root.
        let cuts = |b: &Built| boundary_hash(&b.last, height) & INDEX_MASK == 0;
        let by_hash = level.iter().filter(|b| cuts(b)).count() < level.len() - 1;
        let mut next = Vec::new();
        let mut node: Vec<Built> = Vec::new();
        let what = kind.name();
        let mut flush = |node: &mut Vec<Built>, next: &mut Vec<Built>| -> Result<()> {
            let children = std::mem::take(node);
            let id = put(sink, kind, encode(height, &children))?;
            let mut b = Built {
                id,
                size: 0,
                files: 0,
                count: 0,
                last: children.last().expect("a node has children").last.clone(),
            };
            for c in &children {
                b.size = add(b.size, c.size, what)?;
                b.files = add(b.files, c.files, what)?;
                b.count = add(b.count, c.count, what)?;
            }
            next.push(b);
            Ok(())
        };
        for child in level {
            let cut = by_hash && cuts(&child);
            node.push(child);
            if cut || node.len() >= INDEX_MAX {
                flush(&mut node, &mut next)?;
            }
        }
        if !node.is_empty() {
            flush(&mut node, &mut next)?;
        }
        level = next;
        height += 1;
    }
    Ok(level.pop().expect("one root").id)
}

/// Stores the folder of `entries` (sorted by name, unique) as `layout` says, writing every node to `sink`;
/// returns the id a tree entry or pointer names it by.
pub fn put_tree(
    entries: &[TreeEntry],
    layout: Layout,
    sink: &mut dyn NodeSink,
) -> Result<ObjectId> {
    if layout == Layout::Flat || entries.len() <= TREE_FLAT_MAX {
        return put(sink, ObjectKind::Tree, encode_entries(entries));
    }
    let mut leaves = Vec::new();
    let (mut start, mut bytes) = (0usize, 0usize);
    for (i, e) in entries.iter().enumerate() {
        bytes += 54 + e.name.len();
        let cut = boundary_hash(e.name.as_bytes(), 0) & TREE_LEAF_MASK == 0
            || i + 1 - start >= TREE_LEAF_MAX
            || bytes >= TREE_LEAF_MAX_BYTES
            || i + 1 == entries.len();
        if cut {
            let part = &entries[start..=i];
            let id = put(sink, ObjectKind::Tree, encode_entries(part))?;
            let mut b = Built {
                id,
                size: 0,
                files: 0,
                count: part.len() as u64,
                last: e.name.as_bytes().to_vec(),
            };
            for p in part {
                b.size = add(b.size, p.node.size, "tree object")?;
                b.files = add(b.files, p.node.files, "tree object")?;
            }
            leaves.push(b);
            start = i + 1;
            bytes = 0;
        }
    }
    build_index(leaves, sink, ObjectKind::Tree, &|level, children| {
        TreeIndex {
            level,
            children: children
                .iter()
                .map(|c| TreeChild {
                    id: c.id,
                    size: c.size,
                    files: c.files,
                    entries: c.count,
                    last: String::from_utf8(c.last.clone()).expect("names are UTF-8"),
                })
                .collect(),
        }
        .encode()
    })
}

/// Stores the manifest of a file of `chunks` (two or more, in order) as `layout` says, writing every node to
/// `sink`; returns the id a tree entry or pointer names the file by.
pub fn put_manifest(
    chunks: &[(ObjectId, u32)],
    layout: Layout,
    sink: &mut dyn NodeSink,
) -> Result<ObjectId> {
    let leaf = |part: &[(ObjectId, u32)]| {
        Manifest {
            chunks: part.to_vec(),
        }
        .encode()
    };
    if layout == Layout::Flat || chunks.len() <= MANIFEST_FLAT_MAX {
        return put(sink, ObjectKind::Manifest, leaf(chunks));
    }
    let mut leaves = Vec::new();
    let mut start = 0usize;
    for (i, (id, _)) in chunks.iter().enumerate() {
        let cut = boundary_hash(id.as_bytes(), 0) & MANIFEST_LEAF_MASK == 0
            || i + 1 - start >= MANIFEST_LEAF_MAX
            || i + 1 == chunks.len();
        if cut {
            let part = &chunks[start..=i];
            let node = put(sink, ObjectKind::Manifest, leaf(part))?;
            leaves.push(Built {
                id: node,
                size: part.iter().map(|&(_, l)| l as u64).sum(),
                files: 0,
                count: part.len() as u64,
                last: id.as_bytes().to_vec(),
            });
            start = i + 1;
        }
    }
    build_index(leaves, sink, ObjectKind::Manifest, &|level, children| {
        ManifestIndex {
            level,
            children: children
                .iter()
                .map(|c| ManifestChild {
                    id: c.id,
                    size: c.size,
                    chunks: c.count,
                })
                .collect(),
        }
        .encode()
    })
}

#[cfg(test)]
mod tests;
