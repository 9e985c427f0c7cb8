use std::collections::{BTreeMap, HashMap};

use proptest::prelude::*;

use super::*;
use crate::store::object::{Node, NodeKind};

/// Keeps what is built, in memory.
#[derive(Default)]
struct Map(HashMap<ObjectId, (ObjectKind, Vec<u8>)>);

impl NodeSink for Map {
    fn put(&mut self, id: ObjectId, kind: ObjectKind, bytes: Vec<u8>) -> Result<()> {
        self.0.insert(id, (kind, bytes));
        Ok(())
    }
}

impl Map {
    fn reader(&self) -> impl FnMut(&ObjectId) -> Result<Vec<u8>> + '_ {
        |id| {
            self.0
                .get(id)
                .map(|(_, b)| b.clone())
                .ok_or_else(|| Error::Internal(format!("no object {id}")))
        }
    }

    /// What `other` holds that this does not: the nodes an edit wrote, and their bytes.
    fn new_in(&self, other: &Map) -> (usize, usize) {
        let new: Vec<_> = other
            .0
            .iter()
            .filter(|(id, _)| !self.0.contains_key(id))
            .collect();
        (new.len(), new.iter().map(|(_, (_, b))| b.len()).sum())
    }
}

fn entry(name: &str, seed: u64) -> TreeEntry {
    TreeEntry {
        name: name.into(),
        node: Node {
            kind: NodeKind::File,
            id: ObjectId::of(&seed.to_le_bytes()),
            size: seed % 4096 + 1,
            files: 1,
            exec: false,
        },
    }
}

fn entries(n: usize) -> Vec<TreeEntry> {
    let mut v: Vec<TreeEntry> = (0..n)
        .map(|i| entry(&format!("img_{i:07}.jpg"), i as u64))
        .collect();
    v.sort_by(|a, b| a.name.as_bytes().cmp(b.name.as_bytes()));
    v
}

fn chunks(n: usize) -> Vec<(ObjectId, u32)> {
    (0..n as u64)
        .map(|i| (ObjectId::of(&i.to_le_bytes()), 16384 + (i % 1000) as u32))
        .collect()
}

#[test]
fn small_folders_and_files_are_format_1_objects_byte_for_byte() {
    for n in [0, 1, 200, TREE_FLAT_MAX] {
        let e = entries(n);
        let mut sink = Map::default();
        let id = put_tree(&e, Layout::Split, &mut sink).unwrap();
        assert_eq!(id, ObjectId::of(&encode_entries(&e)), "{n} entries");
        assert_eq!(sink.0.len(), 1);
    }
    let c = chunks(MANIFEST_FLAT_MAX);
    let flat = Manifest { chunks: c.clone() }.encode();
    assert_eq!(
        put_manifest(&c, Layout::Split, &mut Map::default()).unwrap(),
        ObjectId::of(&flat)
    );
    // The flat layout never splits.
    let big = entries(5000);
    let mut sink = Map::default();
    let id = put_tree(&big, Layout::Flat, &mut sink).unwrap();
    assert_eq!(id, ObjectId::of(&encode_entries(&big)));
    assert_eq!(sink.0.len(), 1);
}

#[test]
fn golden_split_shapes() {
    // Pins the cut rule, the masks and both index encodings: a change here reshapes every split folder and file.
    let mut sink = Map::default();
    let tree = put_tree(&entries(3000), Layout::Split, &mut sink).unwrap();
    let tree_nodes = sink.0.len();
    let mut sink = Map::default();
    let manifest = put_manifest(&chunks(5000), Layout::Split, &mut sink).unwrap();
    let manifest_nodes = sink.0.len();
    assert_eq!(
        (tree.to_hex(), tree_nodes, manifest.to_hex(), manifest_nodes),
        (
            "8ee54d8e851339addf130c536c380c298303ac7e8e62d8a16f2cfe63f2b8ad42".to_string(),
            58,
            "62200eea229e0e05e9fe6ae0afdd6513e8b9354e14790f55d275618aaa152940".to_string(),
            21
        )
    );
    let index = TreeIndex {
        level: 1,
        children: vec![TreeChild {
            id: ObjectId([7; 32]),
            size: 0x0102,
            files: 3,
            entries: 4,
            last: "ab".into(),
        }],
    };
    let mut want = b"DVTX\x01\0\0\0\x01\x01\0\0\0".to_vec();
    want.extend_from_slice(&[
        2, 1, 0, 0, 0, 0, 0, 0, 3, 0, 0, 0, 0, 0, 0, 0, 4, 0, 0, 0, 0, 0, 0, 0,
    ]);
    want.extend_from_slice(&[7; 32]);
    want.extend_from_slice(b"\x02\0ab");
    assert_eq!(index.encode(), want);
    let index = ManifestIndex {
        level: 2,
        children: vec![ManifestChild {
            id: ObjectId([9; 32]),
            size: 5,
            chunks: 2,
        }],
    };
    let mut want = b"DVMX\x01\0\0\0\x02\x01\0\0\0".to_vec();
    want.extend_from_slice(&[5, 0, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0]);
    want.extend_from_slice(&[9; 32]);
    assert_eq!(index.encode(), want);
}

#[test]
fn one_edit_writes_a_few_small_nodes() {
    // 200,000 entries in one folder: one file changed, one added, one removed.
    let base = entries(200_000);
    let mut before = Map::default();
    let root = put_tree(&base, Layout::Split, &mut before).unwrap();
    let mut edits: Vec<Vec<TreeEntry>> = Vec::new();
    let mut changed = base.clone();
    changed[123_456].node.id = ObjectId([1; 32]);
    edits.push(changed);
    let mut added = base.clone();
    added.insert(99_999, entry("img_0099998.jpg~", 7));
    edits.push(added);
    let mut removed = base.clone();
    removed.remove(150_000);
    edits.push(removed);
    let depth = {
        let mut d = 0;
        let mut id = root;
        while let Ok(TreeNode::Index(i)) = TreeNode::decode(&before.0[&id].1) {
            d += 1;
            id = i.children[0].id;
        }
        d
    };
    assert!((2..=5).contains(&depth), "depth {depth}");
    for e in edits {
        let mut after = Map::default();
        put_tree(&e, Layout::Split, &mut after).unwrap();
        let (nodes, bytes) = before.new_in(&after);
        assert!(
            nodes <= depth + 2,
            "{nodes} new nodes for one edit (depth {depth})"
        );
        assert!(bytes <= 64 * 1024, "{bytes} new bytes for one edit");
    }
    // A file of 300,000 chunks (about 20 GiB): one chunk changed.
    let c = chunks(300_000);
    let mut before = Map::default();
    put_manifest(&c, Layout::Split, &mut before).unwrap();
    let mut edited = c.clone();
    edited[200_000] = (ObjectId([2; 32]), 20_000);
    let mut after = Map::default();
    put_manifest(&edited, Layout::Split, &mut after).unwrap();
    let (nodes, bytes) = before.new_in(&after);
    assert!(nodes <= 6, "{nodes} new manifest nodes for one edit");
    assert!(
        bytes <= 128 * 1024,
        "{bytes} new manifest bytes for one edit"
    );
}

#[test]
fn an_index_that_lies_is_refused() {
    let e = entries(2000);
    let mut sink = Map::default();
    let root = put_tree(&e, Layout::Split, &mut sink).unwrap();
    let TreeNode::Index(index) = TreeNode::decode(&sink.0[&root].1).unwrap() else {
        panic!("2000 entries make an index");
    };
    let lies: Vec<fn(&mut TreeIndex)> = vec![
        |i| i.children[0].entries += 1,
        |i| i.children[0].size += 1,
        |i| i.children[0].files -= 1,
        |i| i.children[0].last = "zzz".into(),
        |i| i.level += 1,
        |i| i.children.swap(0, 1),
        |i| {
            let c = i.children[0].clone();
            i.children.insert(1, c)
        },
    ];
    for (n, lie) in lies.iter().enumerate() {
        let mut bad = index.clone();
        lie(&mut bad);
        let bytes = bad.encode();
        let id = ObjectId::of(&bytes);
        sink.0.insert(id, (ObjectKind::Tree, bytes));
        assert!(
            read_tree(&id, &mut sink.reader()).is_err(),
            "lie {n} was accepted"
        );
    }
    assert_eq!(read_tree(&root, &mut sink.reader()).unwrap().entries, e);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    #[test]
    fn trees_round_trip_and_depend_on_their_entries_alone(
        names in proptest::collection::btree_set("[a-z0-9_][a-z0-9_.]{0,11}", 0..1500),
        seed in any::<u64>(),
    ) {
        let e: Vec<TreeEntry> = names
            .iter()
            .filter(|n| check_name(n).is_ok())
            .enumerate()
            .map(|(i, n)| entry(n, seed ^ i as u64))
            .collect();
        let mut sink = Map::default();
        let id = put_tree(&e, Layout::Split, &mut sink).unwrap();
        prop_assert_eq!(&read_tree(&id, &mut sink.reader()).unwrap().entries, &e);
        // Built from the same entries reached another way (inserted in reverse, half removed and put back):
        // the same nodes.
        let mut m: BTreeMap<Vec<u8>, TreeEntry> = BTreeMap::new();
        for x in e.iter().rev() {
            m.insert(x.name.as_bytes().to_vec(), x.clone());
        }
        let removed: Vec<_> = m.keys().step_by(2).cloned().collect();
        let mut back = Vec::new();
        for k in removed {
            back.push(m.remove(&k).unwrap());
        }
        for x in back {
            m.insert(x.name.as_bytes().to_vec(), x);
        }
        let again: Vec<TreeEntry> = m.into_values().collect();
        let mut sink2 = Map::default();
        prop_assert_eq!(put_tree(&again, Layout::Split, &mut sink2).unwrap(), id);
        let mut a: Vec<_> = sink.0.keys().collect();
        let mut b: Vec<_> = sink2.0.keys().collect();
        a.sort();
        b.sort();
        prop_assert_eq!(a, b);
    }

    #[test]
    fn manifests_round_trip(n in 2usize..6000, seed in any::<u64>()) {
        let c: Vec<(ObjectId, u32)> = (0..n as u64)
            .map(|i| (ObjectId::of(&(i ^ seed).to_le_bytes()), 1 + (i % 262_144) as u32))
            .collect();
        let mut sink = Map::default();
        let id = put_manifest(&c, Layout::Split, &mut sink).unwrap();
        prop_assert_eq!(read_manifest(&id, &mut sink.reader()).unwrap().chunks, c);
    }

    #[test]
    fn index_decoders_never_panic(data in proptest::collection::vec(any::<u8>(), 0..300)) {
        let mut tree = b"DVTX\x01\0\0\0".to_vec();
        tree.extend_from_slice(&data);
        let _ = TreeNode::decode(&tree);
        let mut manifest = b"DVMX\x01\0\0\0".to_vec();
        manifest.extend_from_slice(&data);
        let _ = ManifestNode::decode(&manifest);
        let _ = TreeNode::decode(&data);
        let _ = ManifestNode::decode(&data);
    }
}
