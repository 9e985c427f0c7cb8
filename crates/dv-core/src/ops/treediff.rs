//! Differences between two versions of a dataset, from their objects alone. Subtrees with equal ids are
//! skipped, and so are the parts of a split folder both versions share, so comparing two versions of a huge
//! folder that differ in one file reads about the depth of the tree, not the number of files.

use crate::paths::join;
use crate::store::Store;
use std::collections::HashSet;

use crate::store::object::{Node, NodeKind, TreeEntry};
use crate::store::split::TreeNode;
use crate::{Error, ObjectId, Result};

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum FileChange {
    Added,
    Deleted,
    Modified,
    /// Same content under a new path.
    Renamed,
}

words! {
    /// How a whole dataset differs between two versions (`dv diff`).
    pub enum DatasetChange {
        /// Only the newer version has it.
        Added = "added",
        /// Only the older version has it.
        Deleted = "deleted",
        Modified = "modified",
        Unchanged = "unchanged",
    }
}

#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct FileDiff {
    pub path: String,
    pub change: FileChange,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub old_path: Option<String>,
    pub old_size: Option<u64>,
    pub new_size: Option<u64>,
}

/// Counts and bytes of a diff.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct Summary {
    pub files_added: u64,
    pub files_deleted: u64,
    pub files_modified: u64,
    pub files_renamed: u64,
    pub bytes_added: u64,
    pub bytes_deleted: u64,
}

#[derive(Default)]
pub struct TreeDiff {
    pub files: Vec<FileDiff>,
    /// Tree objects the cache lacks; what is below them was not compared.
    pub missing: Vec<ObjectId>,
    /// Tree objects read: about the depth of the change times two, not the size of the folder.
    pub trees_read: u64,
}

impl TreeDiff {
    pub fn summary(&self) -> Summary {
        let mut s = Summary::default();
        for f in &self.files {
            match f.change {
                FileChange::Added => {
                    s.files_added += 1;
                    s.bytes_added += f.new_size.unwrap_or(0);
                }
                FileChange::Deleted => {
                    s.files_deleted += 1;
                    s.bytes_deleted += f.old_size.unwrap_or(0);
                }
                FileChange::Modified => {
                    s.files_modified += 1;
                    let (old, new) = (f.old_size.unwrap_or(0), f.new_size.unwrap_or(0));
                    s.bytes_added += new.saturating_sub(old);
                    s.bytes_deleted += old.saturating_sub(new);
                }
                FileChange::Renamed => s.files_renamed += 1,
            }
        }
        s
    }
}

/// Deleted files by content (kind, id) and executable bit, waiting to be paired with added ones.
type ByContent = std::collections::HashMap<(NodeKind, ObjectId, bool), Vec<(String, Node)>>;

/// Compares version `a` with version `b` of the data at `path` (either may be absent).
pub fn diff(store: &Store, path: &str, a: Option<&Node>, b: Option<&Node>) -> Result<TreeDiff> {
    let mut out = TreeDiff::default();
    let mut added = Vec::new();
    let mut deleted = Vec::new();
    walk(store, path, a, b, &mut out, &mut added, &mut deleted)?;
    // Pair deleted and added files with the same content and mode: renames (a rename that also changes the
    // executable bit stays a deletion and an addition, so that no change goes unsaid). The same content is the
    // same id, or, for a large file across a format upgrade, the same chunks under another id.
    let mut by_content: ByContent = Default::default();
    for (p, n) in deleted {
        by_content
            .entry((n.kind, n.id, n.exec))
            .or_default()
            .push((p, n));
    }
    let mut still_added = Vec::new();
    for (p, n) in added {
        let mut found = by_content
            .get_mut(&(n.kind, n.id, n.exec))
            .and_then(|v| v.pop());
        if found.is_none() && n.kind == NodeKind::Chunked {
            found = take_same_chunks(store, &mut by_content, &n)?;
        }
        match found {
            Some((old, o)) => out.files.push(FileDiff {
                path: p,
                change: FileChange::Renamed,
                old_path: Some(old),
                old_size: Some(o.size),
                new_size: Some(n.size),
            }),
            None => still_added.push((p, n)),
        }
    }
    for (p, n) in still_added {
        out.files.push(FileDiff {
            path: p,
            change: FileChange::Added,
            old_path: None,
            old_size: None,
            new_size: Some(n.size),
        });
    }
    for (_, left) in by_content {
        for (p, n) in left {
            out.files.push(FileDiff {
                path: p,
                change: FileChange::Deleted,
                old_path: None,
                old_size: Some(n.size),
                new_size: None,
            });
        }
    }
    out.files
        .sort_by(|x, y| x.path.cmp(&y.path).then(x.change.cmp(&y.change)));
    Ok(out)
}

fn walk(
    store: &Store,
    path: &str,
    a: Option<&Node>,
    b: Option<&Node>,
    out: &mut TreeDiff,
    added: &mut Vec<(String, Node)>,
    deleted: &mut Vec<(String, Node)>,
) -> Result<()> {
    match (a, b) {
        (None, None) => Ok(()),
        (Some(x), Some(y)) if x == y => Ok(()),
        (Some(x), Some(y)) if x.kind == NodeKind::Tree && y.kind == NodeKind::Tree => {
            let Some([ta, tb]) = differing_entries(store, [x.id, y.id], out)? else {
                return Ok(());
            };
            let (mut i, mut j) = (0, 0);
            while i < ta.len() || j < tb.len() {
                let ea = ta.get(i);
                let eb = tb.get(j);
                let ord = match (ea, eb) {
                    (Some(p), Some(q)) => p.name.as_bytes().cmp(q.name.as_bytes()),
                    (Some(_), None) => std::cmp::Ordering::Less,
                    (None, _) => std::cmp::Ordering::Greater,
                };
                match ord {
                    std::cmp::Ordering::Less => {
                        let e = ea.expect("entry");
                        walk(
                            store,
                            &join(path, &e.name),
                            Some(&e.node),
                            None,
                            out,
                            added,
                            deleted,
                        )?;
                        i += 1;
                    }
                    std::cmp::Ordering::Greater => {
                        let e = eb.expect("entry");
                        walk(
                            store,
                            &join(path, &e.name),
                            None,
                            Some(&e.node),
                            out,
                            added,
                            deleted,
                        )?;
                        j += 1;
                    }
                    std::cmp::Ordering::Equal => {
                        let (p, q) = (ea.expect("entry"), eb.expect("entry"));
                        walk(
                            store,
                            &join(path, &p.name),
                            Some(&p.node),
                            Some(&q.node),
                            out,
                            added,
                            deleted,
                        )?;
                        i += 1;
                        j += 1;
                    }
                }
            }
            Ok(())
        }
        (Some(x), Some(y)) if x.kind.is_file() && y.kind.is_file() => {
            if same_chunks(store, x, y)? {
                return Ok(());
            }
            out.files.push(FileDiff {
                path: path.to_string(),
                change: FileChange::Modified,
                old_path: None,
                old_size: Some(x.size),
                new_size: Some(y.size),
            });
            Ok(())
        }
        (a, b) => {
            // One side is absent, or a file became a folder (or the reverse): all of one goes, all of the other comes.
            if let Some(x) = a {
                leaves(store, path, x, out, deleted)?;
            }
            if let Some(y) = b {
                leaves(store, path, y, out, added)?;
            }
            Ok(())
        }
    }
}

/// One part of a folder on one side of [`differing_entries`]: a stored tree object, read or not yet.
struct Part {
    id: ObjectId,
    /// 0 for a leaf; an index's children are one level below it.
    level: u8,
    node: Option<TreeNode>,
}

impl Part {
    /// The stored object, read now if it was not; None when the cache lacks it.
    fn open(self, store: &Store, out: &mut TreeDiff) -> Result<Option<TreeNode>> {
        match self.node {
            Some(n) => Ok(Some(n)),
            None => read_node(store, &self.id, Some(self.level), out),
        }
    }
}

/// The entries of two versions of one folder (tree ids `roots`) that are not in both, each side sorted by name,
/// read node by node: a part of a split folder (a leaf, or an index and all below it) that both versions
/// hold is not read at all. Both sides hold such a part's entries exactly and, names being unique in a folder,
/// no other entry of either side has one of its names, so dropping it changes nothing in the comparison. Two
/// versions of a huge folder that differ in a few entries therefore cost a few nodes on each level, not the
/// folder. None when the cache lacks one of the nodes (recorded in `out.missing`; nothing of the folder is
/// compared, as when a whole tree is missing).
fn differing_entries(
    store: &Store,
    roots: [ObjectId; 2],
    out: &mut TreeDiff,
) -> Result<Option<[Vec<TreeEntry>; 2]>> {
    let mut sides: [Vec<Part>; 2] = [Vec::new(), Vec::new()];
    for (side, id) in sides.iter_mut().zip(roots) {
        let Some(node) = read_node(store, &id, None, out)? else {
            return Ok(None);
        };
        side.push(Part {
            id,
            level: node.level(),
            node: Some(node),
        });
    }
    loop {
        let held: [HashSet<ObjectId>; 2] = [0, 1].map(|k| sides[k].iter().map(|p| p.id).collect());
        for side in &mut sides {
            side.retain(|p| !(held[0].contains(&p.id) && held[1].contains(&p.id)));
        }
        let top = sides.iter().flatten().map(|p| p.level).max().unwrap_or(0);
        if top == 0 {
            break;
        }
        // Open the parts of the highest level, so both sides come down to the same level before they are
        // matched again.
        for side in &mut sides {
            let mut next = Vec::with_capacity(side.len());
            for p in side.drain(..) {
                if p.level != top {
                    next.push(p);
                    continue;
                }
                let id = p.id;
                let Some(node) = p.open(store, out)? else {
                    return Ok(None);
                };
                let TreeNode::Index(index) = node else {
                    return Err(Error::corrupt(
                        &id,
                        "a leaf where its index says level 1 or more",
                    ));
                };
                next.extend(index.children.into_iter().map(|c| Part {
                    id: c.id,
                    level: top - 1,
                    node: None,
                }));
            }
            *side = next;
        }
    }
    let mut entries: [Vec<TreeEntry>; 2] = [Vec::new(), Vec::new()];
    for (side, into) in sides.into_iter().zip(entries.iter_mut()) {
        for p in side {
            let id = p.id;
            let Some(node) = p.open(store, out)? else {
                return Ok(None);
            };
            match node {
                TreeNode::Leaf(t) => into.extend(t.entries),
                TreeNode::Index(_) => {
                    return Err(Error::corrupt(&id, "an index where its index says level 0"));
                }
            }
        }
        into.sort_unstable_by(|a, b| a.name.as_bytes().cmp(b.name.as_bytes()));
        if let Some(w) = into.windows(2).find(|w| w[0].name == w[1].name) {
            return Err(Error::corrupt(
                &roots[0],
                format!("entry {:?} is in two parts", w[0].name),
            ));
        }
    }
    Ok(Some(entries))
}

/// One tree object of a folder being compared, checked to be at `level` when its index gives one; None (and
/// recorded in `out.missing`) when the cache lacks it.
fn read_node(
    store: &Store,
    id: &ObjectId,
    level: Option<u8>,
    out: &mut TreeDiff,
) -> Result<Option<TreeNode>> {
    if !store.contains(id)? {
        out.missing.push(*id);
        return Ok(None);
    }
    out.trees_read += 1;
    let node = store.read_tree_node(id)?;
    let found = node.level();
    if let Some(want) = level
        && want != found
    {
        return Err(Error::corrupt(
            id,
            format!("a level-{found} node where its index says level {want}"),
        ));
    }
    Ok(Some(node))
}

/// A deleted large file holding the same chunks as `added` under another id (one manifest in each layout),
/// taken out of `deleted`. Only deleted files of the same kind, mode and size are candidates.
fn take_same_chunks(
    store: &Store,
    deleted: &mut ByContent,
    added: &Node,
) -> Result<Option<(String, Node)>> {
    for ((kind, _, exec), list) in deleted.iter_mut() {
        let Some((_, candidate)) = list.last() else {
            continue;
        };
        if *kind == added.kind
            && *exec == added.exec
            && candidate.size == added.size
            && same_chunks(store, candidate, added)?
        {
            return Ok(list.pop());
        }
    }
    Ok(None)
}

/// Whether two file nodes with different ids hold the same bytes: a large file has one id in each layout
/// (a flat manifest's or a split one's), so across a `dv format upgrade` the chunk lists are compared. In one
/// layout a manifest is a function of its chunks, so when both roots are leaves or both are indexes, different
/// ids are different bytes and nothing more is read (two versions of a huge file cost two objects). False
/// when either manifest is not in the cache (nothing tells then).
fn same_chunks(store: &Store, x: &Node, y: &Node) -> Result<bool> {
    if x.kind != NodeKind::Chunked
        || y.kind != NodeKind::Chunked
        || x.size != y.size
        || x.exec != y.exec
        || !store.contains(&x.id)?
        || !store.contains(&y.id)?
    {
        return Ok(false);
    }
    if store.manifest_is_split(&x.id)? == store.manifest_is_split(&y.id)? {
        return Ok(false);
    }
    Ok(store.read_manifest(&x.id)?.chunks == store.read_manifest(&y.id)?.chunks)
}

fn load(
    store: &Store,
    node: &Node,
    out: &mut TreeDiff,
) -> Result<Option<crate::store::object::Tree>> {
    if !store.contains(&node.id)? {
        out.missing.push(node.id);
        return Ok(None);
    }
    out.trees_read += 1;
    store.read_tree(&node.id).map(Some)
}

/// Every file at or below `node`.
fn leaves(
    store: &Store,
    path: &str,
    node: &Node,
    out: &mut TreeDiff,
    into: &mut Vec<(String, Node)>,
) -> Result<()> {
    if node.kind.is_file() {
        into.push((path.to_string(), *node));
        return Ok(());
    }
    if let Some(tree) = load(store, node, out)? {
        for e in &tree.entries {
            leaves(store, &join(path, &e.name), &e.node, out, into)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use proptest::prelude::*;

    use super::*;
    use crate::store::object::{NodeSink, ObjectKind};
    use crate::store::pack::Compression;
    use crate::store::split::{Layout, put_tree};

    /// Keeps what it is given, to store some of it.
    #[derive(Default)]
    struct Objects(BTreeMap<ObjectId, Vec<u8>>);

    impl NodeSink for Objects {
        fn put(&mut self, id: ObjectId, _: ObjectKind, bytes: Vec<u8>) -> Result<()> {
            self.0.insert(id, bytes);
            Ok(())
        }
    }

    /// The tree objects of a folder of `files` (name → content seed) in `layout`, and its tree node.
    fn folder(files: &BTreeMap<String, u64>, layout: Layout) -> (Objects, Node) {
        let entries: Vec<TreeEntry> = files
            .iter()
            .map(|(name, &seed)| TreeEntry {
                name: name.clone(),
                node: Node {
                    kind: NodeKind::File,
                    id: ObjectId::of(&seed.to_le_bytes()),
                    size: seed % 5000,
                    files: 1,
                    exec: false,
                },
            })
            .collect();
        let mut objects = Objects::default();
        let id = put_tree(&entries, layout, &mut objects).unwrap();
        let node = Node {
            kind: NodeKind::Tree,
            id,
            size: entries.iter().map(|e| e.node.size).sum(),
            files: entries.len() as u64,
            exec: false,
        };
        (objects, node)
    }

    /// Stores the objects of `kind` that `objects` yields.
    fn put<'a>(
        store: &Store,
        kind: ObjectKind,
        objects: impl Iterator<Item = (&'a ObjectId, &'a Vec<u8>)>,
    ) {
        let mut w = store.pack_writer();
        for (id, bytes) in objects {
            w.add(*id, kind, Compression::None, bytes.len() as u32, bytes)
                .unwrap();
        }
        store.register_packs(&w.finish().unwrap()).unwrap();
    }

    /// Stores the objects of both versions.
    fn put_both(store: &Store, a: &Objects, b: &Objects) {
        put(
            store,
            ObjectKind::Tree,
            a.0.iter()
                .chain(b.0.iter().filter(|(id, _)| !a.0.contains_key(id))),
        );
    }

    fn base(n: usize) -> BTreeMap<String, u64> {
        (0..n)
            .map(|i| (format!("img_{i:06}.jpg"), i as u64))
            .collect()
    }

    /// What the diff of two folders must say, from their whole listings (no content is shared between the
    /// deleted and the added, so there are no renames).
    fn expected(a: &BTreeMap<String, u64>, b: &BTreeMap<String, u64>) -> Vec<(String, FileChange)> {
        let mut out = Vec::new();
        for (name, seed) in a {
            match b.get(name) {
                None => out.push((format!("d/{name}"), FileChange::Deleted)),
                Some(s) if s != seed => out.push((format!("d/{name}"), FileChange::Modified)),
                Some(_) => {}
            }
        }
        for name in b.keys().filter(|n| !a.contains_key(*n)) {
            out.push((format!("d/{name}"), FileChange::Added));
        }
        out.sort();
        out
    }

    fn got(d: &TreeDiff) -> Vec<(String, FileChange)> {
        let mut v: Vec<_> = d.files.iter().map(|f| (f.path.clone(), f.change)).collect();
        v.sort();
        v
    }

    fn store() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().unwrap();
        let s = Store::open(
            dir.path(),
            &dir.path().join("state.db"),
            &crate::Settings::default(),
        )
        .unwrap();
        (dir, s)
    }

    /// One file edited in a split folder of 20,000: a few nodes read on each side, not the folder's ~300. The
    /// nodes both versions share are not even in the cache, and the diff is still whole.
    #[test]
    fn one_edit_in_a_huge_folder_reads_only_the_nodes_that_differ() {
        let (_dir, store) = store();
        let a = base(20_000);
        let mut b = a.clone();
        b.insert("img_012345.jpg".into(), 1_000_000);
        let ((oa, na), (ob, nb)) = (folder(&a, Layout::Split), folder(&b, Layout::Split));
        assert!(oa.0.len() > 300, "{} nodes", oa.0.len());
        put(
            &store,
            ObjectKind::Tree,
            oa.0.iter()
                .filter(|(id, _)| !ob.0.contains_key(id))
                .chain(ob.0.iter().filter(|(id, _)| !oa.0.contains_key(id))),
        );
        let d = diff(&store, "d", Some(&na), Some(&nb)).unwrap();
        assert_eq!((got(&d), d.missing.len()), (expected(&a, &b), 0));
        assert!(d.trees_read <= 8, "{} nodes read", d.trees_read);
        // Across layouts (a format upgrade) the same answer, reading everything.
        let (oflat, flat) = folder(&a, Layout::Flat);
        put_both(&store, &oflat, &ob);
        let d = diff(&store, "d", Some(&flat), Some(&nb)).unwrap();
        assert_eq!(got(&d), expected(&a, &b));
        let d = diff(&store, "d", Some(&nb), Some(&flat)).unwrap();
        assert_eq!(got(&d), expected(&b, &a));
    }

    /// Two versions of a huge file of the same size: two objects read (the manifests' roots), even when
    /// nothing below them is in the cache. Across layouts (a format 1 manifest against a split one) the chunk
    /// lists are compared, so an upgraded file is not "modified".
    #[test]
    fn two_versions_of_a_huge_file_cost_their_roots() {
        let (_dir, store) = store();
        let chunks: Vec<(ObjectId, u32)> = (0..5000u64)
            .map(|i| (ObjectId::of(&i.to_le_bytes()), 65536))
            .collect();
        let mut edited = chunks.clone();
        edited[2500].0 = ObjectId::of(b"edited");
        let file = |chunks: &[(ObjectId, u32)], layout: Layout, objects: &mut Objects| Node {
            kind: NodeKind::Chunked,
            id: crate::store::split::put_manifest(chunks, layout, objects).unwrap(),
            size: chunks.iter().map(|c| c.1 as u64).sum(),
            files: 1,
            exec: false,
        };
        let (mut oa, mut ob, mut oflat) = Default::default();
        let a = file(&chunks, Layout::Split, &mut oa);
        let b = file(&edited, Layout::Split, &mut ob);
        let flat = file(&chunks, Layout::Flat, &mut oflat);
        let mut w = store.pack_writer();
        for (id, bytes) in [(&a.id, &oa.0[&a.id]), (&b.id, &ob.0[&b.id])]
            .into_iter()
            .chain(&oflat.0)
        {
            w.add(
                *id,
                ObjectKind::Manifest,
                Compression::None,
                bytes.len() as u32,
                bytes,
            )
            .unwrap();
        }
        store.register_packs(&w.finish().unwrap()).unwrap();
        let d = diff(&store, "f", Some(&a), Some(&b)).unwrap();
        assert_eq!(got(&d), vec![("f".to_string(), FileChange::Modified)]);
        // Format 1 against format 2 reads both lists: the split one's leaves must be there.
        put(&store, ObjectKind::Manifest, oa.0.iter());
        assert!(same_chunks(&store, &flat, &a).unwrap());
        let d = diff(&store, "f", Some(&flat), Some(&a)).unwrap();
        assert!(d.files.is_empty(), "{:?}", got(&d));
    }

    /// A large file renamed across a format upgrade is a rename (its id changed with the layout, its chunks did
    /// not); a rename that also sets the executable bit is a deletion and an addition, so the mode change is
    /// not lost.
    #[test]
    fn renames_are_found_across_layouts_and_never_hide_a_mode_change() {
        let (_dir, store) = store();
        let chunks: Vec<(ObjectId, u32)> = (0..3000u64)
            .map(|i| (ObjectId::of(&i.to_le_bytes()), 65536))
            .collect();
        let mut objects = Objects::default();
        let file = |layout: Layout, objects: &mut Objects| Node {
            kind: NodeKind::Chunked,
            id: crate::store::split::put_manifest(&chunks, layout, objects).unwrap(),
            size: 3000 * 65536,
            files: 1,
            exec: false,
        };
        let (flat, split) = (
            file(Layout::Flat, &mut objects),
            file(Layout::Split, &mut objects),
        );
        put(&store, ObjectKind::Manifest, objects.0.iter());
        let tree = |entries: Vec<(&str, Node)>, objects: &mut Objects| {
            let entries: Vec<TreeEntry> = entries
                .into_iter()
                .map(|(name, node)| TreeEntry {
                    name: name.into(),
                    node,
                })
                .collect();
            Node {
                kind: NodeKind::Tree,
                id: put_tree(&entries, Layout::Split, objects).unwrap(),
                size: entries.iter().map(|e| e.node.size).sum(),
                files: entries.len() as u64,
                exec: false,
            }
        };
        let mut trees = Objects::default();
        let small = Node {
            kind: NodeKind::File,
            id: ObjectId::of(b"small"),
            size: 5,
            files: 1,
            exec: false,
        };
        let before = tree(vec![("big.bin", flat), ("run.sh", small)], &mut trees);
        let after = tree(
            vec![
                ("moved.bin", split),
                (
                    "tool.sh",
                    Node {
                        exec: true,
                        ..small
                    },
                ),
            ],
            &mut trees,
        );
        put(&store, ObjectKind::Tree, trees.0.iter());
        let d = diff(&store, "d", Some(&before), Some(&after)).unwrap();
        let listed: Vec<(String, FileChange, Option<String>)> = d
            .files
            .iter()
            .map(|f| (f.path.clone(), f.change, f.old_path.clone()))
            .collect();
        assert_eq!(
            listed,
            vec![
                (
                    "d/moved.bin".into(),
                    FileChange::Renamed,
                    Some("d/big.bin".into())
                ),
                ("d/run.sh".into(), FileChange::Deleted, None),
                ("d/tool.sh".into(), FileChange::Added, None),
            ]
        );
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(24))]
        /// Whatever the edits (in place, deletions, insertions, anywhere, in runs) and the layouts, the diff is
        /// the one the whole listings give.
        #[test]
        fn the_diff_read_node_by_node_is_the_diff_of_the_listings(
            n in 200usize..3000,
            edits in proptest::collection::vec((0u32..3, 0usize..3100, 1usize..40), 0..12),
            flat_a in proptest::bool::weighted(0.2),
        ) {
            let (_dir, store) = store();
            let a = base(n);
            let mut b = a.clone();
            let mut fresh = 10_000_000u64;
            for (kind, at, run) in edits {
                for i in at..at + run {
                    let name = format!("img_{i:06}.jpg");
                    match kind {
                        0 => { b.remove(&name); }
                        1 => { fresh += 1; b.insert(name, fresh); }
                        _ => { fresh += 1; b.insert(format!("{name}.new"), fresh); }
                    }
                }
            }
            let la = if flat_a { Layout::Flat } else { Layout::Split };
            let ((oa, na), (ob, nb)) = (folder(&a, la), folder(&b, Layout::Split));
            put_both(&store, &oa, &ob);
            let d = diff(&store, "d", Some(&na), Some(&nb)).unwrap();
            prop_assert_eq!(got(&d), expected(&a, &b));
            prop_assert!(d.missing.is_empty());
        }
    }
}
