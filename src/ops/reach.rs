//! The objects a set of dataset versions reaches: trees, manifests, chunks, and for tables the header and
//! row tree. `fsck` checks that they are all there and sound; `gc` keeps exactly them.

use std::collections::HashSet;

use super::datasets::Target;
use crate::pointer::Pointer;
use crate::store::Store;
use crate::store::object::NodeKind;
use crate::table::rowtree::{Node as RowNode, NodeSource};
use crate::{Error, ObjectId, Result};

/// A problem found while walking: the dataset it was found under and what is wrong.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Problem {
    pub dataset: String,
    pub object: String,
    /// `missing` (the cache lacks it) or `corrupt` (it fails verification or does not parse).
    pub problem: &'static str,
    pub message: String,
}

#[derive(Default)]
pub struct Reach {
    /// Every object reached that the cache has and that read soundly (leaf chunks are only located, not read).
    pub live: HashSet<ObjectId>,
    pub problems: Vec<Problem>,
}

enum Item {
    Node(NodeKind, ObjectId),
    TableHeader(ObjectId),
    RowNode(ObjectId),
}

/// Walks everything `targets` reach. Objects the cache lacks or cannot read are reported, not fatal; leaf
/// chunks are checked for presence only (`verify_chunks` reads and verifies them too).
pub fn reach(store: &Store, targets: &[Target], verify_chunks: bool) -> Result<Reach> {
    let mut out = Reach::default();
    let mut walker = Walker::new(store, verify_chunks);
    for t in targets {
        walker.walk(&t.dataset.path, &t.dataset.pointer, &mut out)?;
    }
    Ok(out)
}

/// A walk over several pointers in turn that never walks an object twice. Objects are content-addressed, so
/// everything below an object walked before was walked with it: each `walk` adds exactly the objects no
/// earlier one reached (what `dv du` charges to a version).
pub struct Walker<'a> {
    store: &'a Store,
    verify_chunks: bool,
    seen: HashSet<ObjectId>,
}

impl<'a> Walker<'a> {
    pub fn new(store: &'a Store, verify_chunks: bool) -> Walker<'a> {
        Walker {
            store,
            verify_chunks,
            seen: HashSet::new(),
        }
    }

    /// Walks what `pointer` (of dataset `dataset`) reaches and no earlier walk did, into `out`.
    pub fn walk(&mut self, dataset: &str, pointer: &Pointer, out: &mut Reach) -> Result<()> {
        let (store, verify_chunks, seen) = (self.store, self.verify_chunks, &mut self.seen);
        let dataset = dataset.to_string();
        let mut stack = vec![Item::Node(pointer.node.kind, pointer.node.id)];
        if let Some(r) = &pointer.table {
            stack.push(Item::TableHeader(r.id));
        }
        while let Some(item) = stack.pop() {
            let id = match &item {
                Item::Node(_, id) | Item::TableHeader(id) | Item::RowNode(id) => *id,
            };
            if !seen.insert(id) {
                continue;
            }
            if !store.contains(&id)? {
                out.problems.push(Problem {
                    dataset: dataset.clone(),
                    object: id.to_hex(),
                    problem: "missing",
                    message: "not in the cache".into(),
                });
                continue;
            }
            let read = match item {
                Item::Node(NodeKind::File, _) => {
                    if verify_chunks {
                        store.read(&id).map(|_| ())
                    } else {
                        Ok(())
                    }
                }
                Item::Node(NodeKind::Chunked, _) => store.read_manifest(&id).map(|m| {
                    stack.extend(
                        m.chunks
                            .into_iter()
                            .map(|(c, _)| Item::Node(NodeKind::File, c)),
                    )
                }),
                Item::Node(NodeKind::Tree, _) => store.read_tree(&id).map(|tree| {
                    stack.extend(
                        tree.entries
                            .into_iter()
                            .map(|e| Item::Node(e.node.kind, e.node.id)),
                    )
                }),
                Item::TableHeader(_) => crate::table::read_header(store, &id)
                    .map(|h| stack.extend(h.root.map(Item::RowNode))),
                Item::RowNode(_) => crate::table::StoreNodes(store).node(&id).map(|n| {
                    if let RowNode::Inner { children, .. } = n {
                        stack.extend(children.into_iter().map(|c| Item::RowNode(c.1)));
                    }
                }),
            };
            match read {
                Ok(()) => {
                    out.live.insert(id);
                }
                Err(e @ (Error::Corrupt { .. } | Error::Format { .. })) => {
                    out.problems.push(Problem {
                        dataset: dataset.clone(),
                        object: id.to_hex(),
                        problem: "corrupt",
                        message: e.to_string(),
                    });
                }
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }
}
