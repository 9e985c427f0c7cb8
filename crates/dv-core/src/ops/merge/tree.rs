//! The three-way merge of two versions of a folder against their common base, on tree objects alone: no file
//! data is read. A path changed on one side only takes that side; the same change on both sides is taken
//! once; different changes to the same path are a conflict (a folder on both sides is merged entry by entry,
//! so only the paths inside that differ conflict). A file's content and its executable bit merge apart.

use super::rules::{ConflictKind, Favor, three_way};
use crate::paths::join;
use crate::store::Store;
use crate::store::object::{Node, NodeKind, NodeSink, TreeEntry};
use crate::store::split::Layout;
use crate::{Error, Result};

/// One path the merge could not settle.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Conflict {
    /// Repository path.
    pub path: String,
    pub kind: ConflictKind,
    pub base: Option<Node>,
    pub ours: Option<Node>,
    pub theirs: Option<Node>,
}

/// Merges the trees and files below one dataset, writing the new trees to `sink` in `layout`.
pub struct TreeMerge<'a> {
    pub store: &'a Store,
    pub layout: Layout,
    pub favor: Favor,
    pub conflicts: Vec<Conflict>,
    /// Tensors of models merged tensor by tensor.
    pub tensor_conflicts: Vec<super::model::TensorConflict>,
}

impl TreeMerge<'_> {
    /// The merge of `ours` and `theirs` at repository path `path` against `base` (`None`: absent there);
    /// `None` when the result is absent. A conflict is recorded, and settled as `favor` says (our side while
    /// it stays a conflict, so the rest of the merge still has a result).
    pub fn merge(
        &mut self,
        sink: &mut dyn NodeSink,
        path: &str,
        base: Option<Node>,
        ours: Option<Node>,
        theirs: Option<Node>,
    ) -> Result<Option<Node>> {
        if let Some(side) = three_way(&base, &ours, &theirs) {
            return Ok(*side);
        }
        let is_tree = |n: &Option<Node>| n.is_some_and(|n| n.kind == NodeKind::Tree);
        match (ours, theirs) {
            (Some(o), Some(t)) if o.kind == NodeKind::Tree && t.kind == NodeKind::Tree => {
                let base = base.filter(|b| b.kind == NodeKind::Tree);
                self.merge_trees(sink, path, base, Some(o), Some(t))
            }
            // A folder on one side, deleted on the other: merged path by path, as Git merges files, so that
            // what one side added inside survives the other's deletion (and an edit inside still conflicts).
            (Some(_), None) | (None, Some(_)) if is_tree(&ours) || is_tree(&theirs) => {
                let base = base.filter(|b| b.kind == NodeKind::Tree);
                self.merge_trees(sink, path, base, ours, theirs)
            }
            // A file's content changed on one side and its executable bit on the other.
            (Some(o), Some(t))
                if o.kind.is_file()
                    && t.kind.is_file()
                    && let Some(b) = base.filter(|b| b.kind.is_file()) =>
            {
                let plain = |n: Node| Node { exec: false, ..n };
                let content = three_way(&plain(b), &plain(o), &plain(t)).copied();
                let exec = *three_way(&b.exec, &o.exec, &t.exec).expect("a bit has two values");
                if let Some(c) = content {
                    return Ok(Some(Node { exec, ..c }));
                }
                // A model changed on both sides: merged tensor by tensor.
                if crate::model::is_model_path(path)
                    && let Some((node, conflicts)) = super::model::merge_model(
                        self.store,
                        sink,
                        path,
                        [Some(b), Some(o), Some(t)],
                        self.favor,
                        self.layout,
                    )?
                {
                    self.tensor_conflicts.extend(conflicts);
                    return Ok(Some(Node { exec, ..node }));
                }
                Ok(self.conflict(path, ConflictKind::Modified, Some(b), ours, theirs))
            }
            (Some(_), Some(_)) => {
                let kind = if base.is_none() {
                    ConflictKind::Added
                } else {
                    ConflictKind::Modified
                };
                Ok(self.conflict(path, kind, base, ours, theirs))
            }
            (Some(_), None) => {
                Ok(self.conflict(path, ConflictKind::DeletedTheirs, base, ours, theirs))
            }
            (None, Some(_)) => {
                Ok(self.conflict(path, ConflictKind::DeletedOurs, base, ours, theirs))
            }
            (None, None) => Ok(None),
        }
    }

    fn conflict(
        &mut self,
        path: &str,
        kind: ConflictKind,
        base: Option<Node>,
        ours: Option<Node>,
        theirs: Option<Node>,
    ) -> Option<Node> {
        self.conflicts.push(Conflict {
            path: path.to_string(),
            kind,
            base,
            ours,
            theirs,
        });
        match self.favor {
            Favor::Theirs => theirs,
            Favor::Ours => ours,
        }
    }

    /// Two folders changed on both sides (or one deleted: `None`), entry by entry (an absent or non-folder
    /// base merges as if the folder were new on both sides, so that the same entries must agree). A folder
    /// whose merge keeps nothing is deleted, unless a side has it as an empty folder.
    fn merge_trees(
        &mut self,
        sink: &mut dyn NodeSink,
        path: &str,
        base: Option<Node>,
        ours: Option<Node>,
        theirs: Option<Node>,
    ) -> Result<Option<Node>> {
        let read = |n: Option<Node>| -> Result<Vec<TreeEntry>> {
            match n {
                Some(n) => Ok(self.store.read_tree(&n.id)?.entries),
                None => Ok(Vec::new()),
            }
        };
        let (b, o, t) = (read(base)?, read(ours)?, read(theirs)?);
        let mut names: Vec<&str> = b
            .iter()
            .chain(&o)
            .chain(&t)
            .map(|e| e.name.as_str())
            .collect();
        names.sort_unstable_by(|x, y| x.as_bytes().cmp(y.as_bytes()));
        names.dedup();
        let find = |entries: &[TreeEntry], name: &str| {
            entries
                .binary_search_by(|e| e.name.as_bytes().cmp(name.as_bytes()))
                .ok()
                .map(|i| entries[i].node)
        };
        let mut merged = Vec::with_capacity(names.len());
        for name in names {
            let child = join(path, name);
            let node = self.merge(sink, &child, find(&b, name), find(&o, name), find(&t, name))?;
            if let Some(node) = node {
                merged.push(TreeEntry {
                    name: name.to_string(),
                    node,
                });
            }
        }
        // A folder whose files are all gone goes too (as in Git), unless a side has it as an empty folder.
        let empty_on = |n: Option<Node>, entries: &[TreeEntry]| n.is_some() && entries.is_empty();
        if merged.is_empty() && !empty_on(ours, &o) && !empty_on(theirs, &t) {
            return Ok(None);
        }
        let (mut size, mut files) = (0u64, 0u64);
        for e in &merged {
            size = size
                .checked_add(e.node.size)
                .ok_or_else(|| Error::Internal(format!("'{path}': merged size overflows")))?;
            files = files
                .checked_add(e.node.files)
                .ok_or_else(|| Error::Internal(format!("'{path}': merged file count overflows")))?;
        }
        let id = crate::store::split::put_tree(&merged, self.layout, sink)?;
        Ok(Some(Node {
            kind: NodeKind::Tree,
            id,
            size,
            files,
            exec: false,
        }))
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use proptest::prelude::*;

    use super::*;
    use crate::ObjectId;
    use crate::table::StoreSink;

    /// The files a version may hold: folders nest, and no path is both a file and a folder.
    const PATHS: &[&str] = &["a/b/z", "a/x", "a/y", "c/w", "top"];

    fn file(content: u8) -> Node {
        let bytes = vec![content; content as usize + 1];
        Node {
            kind: NodeKind::File,
            id: ObjectId::of(&bytes),
            size: bytes.len() as u64,
            files: 1,
            exec: false,
        }
    }

    /// Stores the folder holding `files` (path → content) below `prefix`; `None` when it holds none.
    fn build(files: &BTreeMap<&str, u8>, prefix: &str, sink: &mut dyn NodeSink) -> Option<Node> {
        let mut entries: BTreeMap<String, Node> = BTreeMap::new();
        let mut folders: Vec<String> = Vec::new();
        for (path, &c) in files {
            let Some(rest) = path.strip_prefix(prefix) else {
                continue;
            };
            match rest.split_once('/') {
                None => {
                    entries.insert(rest.to_string(), file(c));
                }
                Some((dir, _)) => folders.push(dir.to_string()),
            }
        }
        folders.dedup();
        for dir in folders {
            if let Some(n) = build(files, &format!("{prefix}{dir}/"), sink) {
                entries.insert(dir, n);
            }
        }
        if entries.is_empty() {
            return None;
        }
        let entries: Vec<TreeEntry> = entries
            .into_iter()
            .map(|(name, node)| TreeEntry { name, node })
            .collect();
        let id = crate::store::split::put_tree(&entries, Layout::Flat, sink).unwrap();
        Some(Node {
            kind: NodeKind::Tree,
            id,
            size: entries.iter().map(|e| e.node.size).sum(),
            files: entries.iter().map(|e| e.node.files).sum(),
            exec: false,
        })
    }

    /// Every file below `node` as path → node, checking each folder's totals.
    fn flatten(store: &Store, node: Node, prefix: &str, out: &mut BTreeMap<String, Node>) {
        if node.kind != NodeKind::Tree {
            out.insert(prefix.trim_end_matches('/').to_string(), node);
            return;
        }
        let tree = store.read_tree(&node.id).unwrap();
        assert!(!tree.entries.is_empty(), "an empty folder at {prefix}");
        assert_eq!((tree.size(), tree.files()), (node.size, node.files));
        for e in tree.entries {
            flatten(store, e.node, &format!("{prefix}{}/", e.name), out);
        }
    }

    fn version() -> impl Strategy<Value = BTreeMap<&'static str, u8>> {
        proptest::collection::vec(proptest::option::of(0u8..3), PATHS.len()).prop_map(|v| {
            PATHS
                .iter()
                .zip(v)
                .filter_map(|(p, c)| c.map(|c| (*p, c)))
                .collect()
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(200))]
        /// Merging trees gives what merging file by file gives (as Git merges files): each path takes the side
        /// that changed it, and a path both sides changed differently is a conflict at that path.
        #[test]
        fn merging_trees_is_merging_each_file(
            base in version(), ours in version(), theirs in version()
        ) {
            let dir = tempfile::tempdir().unwrap();
            let store = Store::open(dir.path(), &dir.path().join("state.db"), &crate::Settings::default())
                .unwrap();
            let mut sink = StoreSink::new(&store, 0).unwrap();
            let (b, o, t) = (
                build(&base, "", &mut sink),
                build(&ours, "", &mut sink),
                build(&theirs, "", &mut sink),
            );
            // The dataset's root folder: present on each side (an empty version is an empty folder).
            let empty = crate::store::split::put_tree(&[], Layout::Flat, &mut sink).unwrap();
            sink.finish().unwrap();
            let mut want = BTreeMap::new();
            let mut conflicts = Vec::new();
            for p in PATHS {
                let (bb, oo, tt) = (base.get(p), ours.get(p), theirs.get(p));
                let side = if oo == tt || bb == tt {
                    oo
                } else if bb == oo {
                    tt
                } else {
                    conflicts.push(p.to_string());
                    oo
                };
                if let Some(&c) = side {
                    want.insert(p.to_string(), file(c));
                }
            }
            let mut sink = StoreSink::new(&store, 0).unwrap();
            let mut tm = TreeMerge { store: &store, layout: Layout::Flat, favor: Favor::Ours, conflicts: Vec::new(), tensor_conflicts: Vec::new() };
            let root = |n: Option<Node>| Some(n.unwrap_or(Node {
                kind: NodeKind::Tree, id: empty, size: 0, files: 0, exec: false,
            }));
            let merged = tm.merge(&mut sink, "d", root(b), root(o), root(t)).unwrap();
            sink.finish().unwrap();
            let mut got_conflicts: Vec<String> = tm
                .conflicts
                .iter()
                .map(|c| c.path.strip_prefix("d/").unwrap_or(&c.path).to_string())
                .collect();
            got_conflicts.sort();
            prop_assert_eq!(&got_conflicts, &conflicts);
            // Conflicts settle to our side in the result, as the model does.
            let mut got = BTreeMap::new();
            if let Some(m) = merged && m.files > 0 {
                flatten(&store, m, "", &mut got);
            }
            prop_assert_eq!(got, want);
        }
    }
}
