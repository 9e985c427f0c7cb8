//! The objects a set of dataset versions reaches: trees, manifests, chunks, and for tables the header and
//! row tree. `fsck` checks that they are all there and sound; `gc` keeps exactly them.

use std::collections::{HashMap, HashSet};

use super::datasets::Target;
use crate::pointer::Pointer;
use crate::store::Store;
use crate::store::object::{NodeKind, ObjectKind};
use crate::table::rowtree::{Node as RowNode, NodeSource};
use crate::{Error, ObjectId, Result};

words! {
    /// What is wrong with an object a dataset version reaches.
    pub enum ObjectProblem {
        /// The cache lacks it.
        Missing = "missing",
        /// It fails verification or does not parse.
        Corrupt = "corrupt",
        /// It is sound, but the pointer or tree naming it declares another size or file count.
        Mismatch = "mismatch",
    }
}

/// A problem found while walking: the dataset it was found under and what is wrong.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Problem {
    pub dataset: String,
    pub object: String,
    pub problem: ObjectProblem,
    pub message: String,
}

#[derive(Default)]
pub struct Reach {
    /// Every object reached that the cache has and that read soundly (leaf chunks are only located, not read).
    pub live: HashSet<ObjectId>,
    pub problems: Vec<Problem>,
}

/// What the pointer or tree naming an object declares of it: its bytes and files, checked against the object.
#[derive(Clone, Copy, PartialEq, Eq)]
struct Declared {
    size: u64,
    files: u64,
}

enum Item {
    /// A node and what its parent declares of it (`by`: "a tree", "a manifest", or "" for the pointer file);
    /// `None` when what is declared is not to be checked (a node walked as the kind its object really is).
    Node(NodeKind, ObjectId, Option<Declared>, &'static str),
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
///
/// Every node is also checked against what names it: a pointer's or tree entry's size and file count must be
/// those of the object, or a checkout of it could never succeed (a file that changed while it was added, a
/// hand-edited pointer). What each node object holds is remembered, so a second, disagreeing reference to an
/// object walked before is caught too.
pub struct Walker<'a> {
    store: &'a Store,
    verify_chunks: bool,
    seen: HashSet<ObjectId>,
    /// Kind, size and file count of each node object walked (trees, manifests, chunks).
    holds: HashMap<ObjectId, (ObjectKind, Declared)>,
}

impl<'a> Walker<'a> {
    pub fn new(store: &'a Store, verify_chunks: bool) -> Walker<'a> {
        Walker {
            store,
            verify_chunks,
            seen: HashSet::new(),
            holds: HashMap::new(),
        }
    }

    /// Walks what `pointer` (of dataset `dataset`) reaches and no earlier walk did, into `out`.
    pub fn walk(&mut self, dataset: &str, pointer: &Pointer, out: &mut Reach) -> Result<()> {
        let (store, verify_chunks, seen, holds) = (
            self.store,
            self.verify_chunks,
            &mut self.seen,
            &mut self.holds,
        );
        let dataset = dataset.to_string();
        let root = Declared {
            size: pointer.node.size,
            files: pointer.node.files,
        };
        let mut stack = vec![Item::Node(
            pointer.node.kind,
            pointer.node.id,
            Some(root),
            "",
        )];
        if let Some(r) = &pointer.table {
            stack.push(Item::TableHeader(r.id));
        }
        let pointer_file = format!("{dataset}{}", crate::paths::POINTER_SUFFIX);
        let mismatch =
            |out: &mut Reach, id: ObjectId, by: &str, declared: Declared, holds: Declared| {
                let by = declared_by(by, &pointer_file);
                out.problems.push(Problem {
                dataset: dataset.clone(),
                object: id.to_hex(),
                problem: ObjectProblem::Mismatch,
                message: format!(
                    "{by} says {} bytes in {} file(s), but the object holds {} bytes in {} file(s)",
                    declared.size, declared.files, holds.size, holds.files
                ),
            });
            };
        let kind_mismatch =
            |out: &mut Reach, id: ObjectId, by: &str, declared: NodeKind, holds: ObjectKind| {
                let by = declared_by(by, &pointer_file);
                out.problems.push(Problem {
                    dataset: dataset.clone(),
                    object: id.to_hex(),
                    problem: ObjectProblem::Mismatch,
                    message: format!(
                        "{by} says it is a {}, but the object is a {}",
                        declared.object_kind().name(),
                        holds.name()
                    ),
                });
            };
        while let Some(item) = stack.pop() {
            let id = match &item {
                Item::Node(_, id, ..) | Item::TableHeader(id) | Item::RowNode(id) => *id,
            };
            // Every reference to a node is checked, also one to an object walked before.
            if let Item::Node(kind, _, Some(declared), by) = &item
                && let Some((k, h)) = holds.get(&id)
            {
                if *k != kind.object_kind() {
                    kind_mismatch(out, id, by, *kind, *k);
                } else if h != declared {
                    mismatch(out, id, by, *declared, *h);
                }
            }
            if !seen.insert(id) {
                continue;
            }
            let Some(loc) = store.locate(&id)? else {
                out.problems.push(Problem {
                    dataset: dataset.clone(),
                    object: id.to_hex(),
                    problem: ObjectProblem::Missing,
                    message: "not in the cache".into(),
                });
                continue;
            };
            // A node its object is not (a hand-edited pointer): reported, then walked as what the object is,
            // so that what it reaches stays live.
            let item = match item {
                Item::Node(kind, _, declared, by) if kind.object_kind() != loc.entry.kind => {
                    if declared.is_some() {
                        kind_mismatch(out, id, by, kind, loc.entry.kind);
                    }
                    match loc.entry.kind.node_kind() {
                        Some(k) => Item::Node(k, id, None, by),
                        None => {
                            out.live.insert(id);
                            continue;
                        }
                    }
                }
                other => other,
            };
            let read = match item {
                Item::Node(NodeKind::File, _, declared, by) => {
                    let h = Declared {
                        size: loc.entry.raw_len as u64,
                        files: 1,
                    };
                    holds.insert(id, (ObjectKind::Chunk, h));
                    if let Some(declared) = declared
                        && h != declared
                    {
                        mismatch(out, id, by, declared, h);
                    }
                    if verify_chunks {
                        store.read(&id).map(|_| ())
                    } else {
                        Ok(())
                    }
                }
                // A manifest or tree object: a whole one, a leaf of a split one, or an index over leaves (whose
                // children are manifests or trees in turn, each checked against what the index declares).
                Item::Node(kind @ (NodeKind::Chunked | NodeKind::Tree), _, declared, by) => {
                    store.children(kind, &id).map(|children| {
                        // Saturating: hostile sizes that overflow are a mismatch, never a panic.
                        let h = Declared {
                            size: children.iter().fold(0u64, |a, c| a.saturating_add(c.size)),
                            files: match kind {
                                NodeKind::Tree => {
                                    children.iter().fold(0u64, |a, c| a.saturating_add(c.files))
                                }
                                _ => 1,
                            },
                        };
                        holds.insert(id, (kind.object_kind(), h));
                        if let Some(declared) = declared
                            && h != declared
                        {
                            mismatch(out, id, by, declared, h);
                        }
                        let by = match kind {
                            NodeKind::Tree => "a tree",
                            _ => "a manifest",
                        };
                        stack.extend(children.into_iter().map(|c| {
                            let d = Declared {
                                size: c.size,
                                files: c.files,
                            };
                            Item::Node(c.kind, c.id, Some(d), by)
                        }))
                    })
                }
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
                        problem: ObjectProblem::Corrupt,
                        message: e.to_string(),
                    });
                }
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }
}

/// Who declared a node: the tree entry at `by`, or (for the root, `by` empty) the pointer file.
fn declared_by<'b>(by: &'b str, pointer_file: &'b str) -> &'b str {
    if by.is_empty() { pointer_file } else { by }
}
