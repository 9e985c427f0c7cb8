//! Reading split folders and files: whole (every index checked against what is below it), or one object at a
//! time for the walks that visit every object.

use super::{ManifestChild, ManifestNode, TreeChild, TreeNode, add};
use crate::store::object::{Manifest, Node, NodeKind, Tree, TreeEntry};
use crate::{Error, ObjectId, Result};

/// The nodes one stored object names, for walks that visit every object (push, fetch, gc, fsck): a tree leaf's
/// entries, a manifest leaf's chunks (as one-chunk files), or an index's children (as nodes of the index's kind,
/// each declaring the size and files below it). `kind` is the node kind that names the object; a file (one
/// chunk) names nothing.
pub fn children(kind: NodeKind, raw: &[u8]) -> Result<Vec<Node>> {
    Ok(match kind {
        NodeKind::File => Vec::new(),
        NodeKind::Chunked => match ManifestNode::decode(raw)? {
            ManifestNode::Leaf(m) => m
                .chunks
                .into_iter()
                .map(|(id, len)| Node {
                    kind: NodeKind::File,
                    id,
                    size: len as u64,
                    files: 1,
                    exec: false,
                })
                .collect(),
            ManifestNode::Index(i) => i
                .children
                .into_iter()
                .map(|c| Node {
                    kind: NodeKind::Chunked,
                    id: c.id,
                    size: c.size,
                    files: 1,
                    exec: false,
                })
                .collect(),
        },
        NodeKind::Tree => match TreeNode::decode(raw)? {
            TreeNode::Leaf(t) => t.entries.into_iter().map(|e| e.node).collect(),
            TreeNode::Index(i) => i
                .children
                .into_iter()
                .map(|c| Node {
                    kind: NodeKind::Tree,
                    id: c.id,
                    size: c.size,
                    files: c.files,
                    exec: false,
                })
                .collect(),
        },
    })
}

/// Reads the whole folder a tree id names, following index nodes; `read` returns a stored tree object's bytes.
/// Every index is checked against what is below it (entry counts, last names, sizes, files, levels, order).
pub fn read_tree(
    id: &ObjectId,
    read: &mut dyn FnMut(&ObjectId) -> Result<Vec<u8>>,
) -> Result<Tree> {
    let mut entries = Vec::new();
    collect_tree(id, None, read, &mut entries)?;
    Ok(Tree { entries })
}

/// What a node's parent index says of it.
struct Expect<'a> {
    level: u8,
    child: &'a TreeChild,
}

fn collect_tree(
    id: &ObjectId,
    expect: Option<Expect<'_>>,
    read: &mut dyn FnMut(&ObjectId) -> Result<Vec<u8>>,
    out: &mut Vec<TreeEntry>,
) -> Result<()> {
    let raw = read(id)?;
    let before = out.len();
    let node = TreeNode::decode(&raw).map_err(|e| Error::corrupt(id, e.to_string()))?;
    let level = node.level();
    if let Some(x) = &expect
        && x.level != level
    {
        return Err(Error::corrupt(
            id,
            format!(
                "a level-{level} node where its index says level {}",
                x.level
            ),
        ));
    }
    match node {
        TreeNode::Leaf(t) => {
            if let (Some(prev), Some(first)) = (out.last(), t.entries.first())
                && prev.name.as_bytes() >= first.name.as_bytes()
            {
                return Err(Error::corrupt(
                    id,
                    format!("entry {:?} is out of order across nodes", first.name),
                ));
            }
            out.extend(t.entries);
        }
        TreeNode::Index(index) => {
            for child in &index.children {
                let x = Expect {
                    level: index.level - 1,
                    child,
                };
                collect_tree(&child.id, Some(x), read, out)?;
            }
        }
    }
    if let Some(x) = expect {
        let below = &out[before..];
        let (mut size, mut files) = (0u64, 0u64);
        for e in below {
            size = add(size, e.node.size, "tree object")?;
            files = add(files, e.node.files, "tree object")?;
        }
        let last = below.last().map(|e| e.name.as_str());
        if below.len() as u64 != x.child.entries
            || last != Some(x.child.last.as_str())
            || size != x.child.size
            || files != x.child.files
        {
            return Err(Error::corrupt(
                id,
                "a tree node does not hold what its index says (entries, last name, size or files)",
            ));
        }
    }
    Ok(())
}

/// Reads the whole chunk list a manifest id names, following index nodes; `read` returns a stored manifest
/// object's bytes. Every index is checked against what is below it (chunk counts, sizes, levels).
pub fn read_manifest(
    id: &ObjectId,
    read: &mut dyn FnMut(&ObjectId) -> Result<Vec<u8>>,
) -> Result<Manifest> {
    let mut chunks = Vec::new();
    collect_manifest(id, None, read, &mut chunks)?;
    Ok(Manifest { chunks })
}

fn collect_manifest(
    id: &ObjectId,
    expect: Option<(u8, &ManifestChild)>,
    read: &mut dyn FnMut(&ObjectId) -> Result<Vec<u8>>,
    out: &mut Vec<(ObjectId, u32)>,
) -> Result<()> {
    let raw = read(id)?;
    let before = out.len();
    let node = ManifestNode::decode(&raw).map_err(|e| Error::corrupt(id, e.to_string()))?;
    let level = node.level();
    if let Some((want, _)) = expect
        && want != level
    {
        return Err(Error::corrupt(
            id,
            format!("a level-{level} node where its index says level {want}"),
        ));
    }
    match node {
        ManifestNode::Leaf(m) => out.extend(m.chunks),
        ManifestNode::Index(index) => {
            for child in &index.children {
                collect_manifest(&child.id, Some((index.level - 1, child)), read, out)?;
            }
        }
    }
    if let Some((_, child)) = expect {
        let below = &out[before..];
        let size: u64 = below.iter().map(|&(_, l)| l as u64).sum();
        if below.len() as u64 != child.chunks || size != child.size {
            return Err(Error::corrupt(
                id,
                "a manifest node does not hold what its index says (chunks or size)",
            ));
        }
    }
    Ok(())
}
