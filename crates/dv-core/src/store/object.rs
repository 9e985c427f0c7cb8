//! The structured objects: file manifests and trees. Both are stored like any other object, named by the hash
//! of the bytes produced here; `decode` checks everything it reads (see docs/format.md).

use super::bytes::Reader;
use crate::{Error, ObjectId, Result};

/// What a stored object holds. Recorded in pack indexes as a hint; readers never rely on it for safety.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum ObjectKind {
    Chunk = 0,
    Manifest = 1,
    Tree = 2,
    /// Table objects: row tree nodes and table headers.
    Rows = 3,
}

impl ObjectKind {
    /// How messages name the kind.
    pub fn name(self) -> &'static str {
        match self {
            ObjectKind::Chunk => "file chunk",
            ObjectKind::Manifest => "manifest",
            ObjectKind::Tree => "tree",
            ObjectKind::Rows => "table object",
        }
    }

    /// The kind of node that names an object of this kind (a table object is named by no node).
    pub fn node_kind(self) -> Option<NodeKind> {
        match self {
            ObjectKind::Chunk => Some(NodeKind::File),
            ObjectKind::Manifest => Some(NodeKind::Chunked),
            ObjectKind::Tree => Some(NodeKind::Tree),
            ObjectKind::Rows => None,
        }
    }

    pub fn from_u8(v: u8) -> Option<ObjectKind> {
        match v {
            0 => Some(ObjectKind::Chunk),
            1 => Some(ObjectKind::Manifest),
            2 => Some(ObjectKind::Tree),
            3 => Some(ObjectKind::Rows),
            _ => None,
        }
    }
}

/// The largest object dv writes or accepts, raw or stored. Bounds every allocation made from untrusted lengths.
pub const MAX_OBJECT_SIZE: u64 = 1 << 30;

pub const MANIFEST_MAGIC: &[u8; 4] = b"DVMF";
pub const MANIFEST_VERSION: u32 = 1;
pub const TREE_MAGIC: &[u8; 4] = b"DVTR";
pub const TREE_VERSION: u32 = 1;

/// Where built objects go: the store's pack writer in `dv add`, nowhere when only ids are wanted
/// ([`Discard`]), a map in tests.
pub trait NodeSink {
    fn put(&mut self, id: ObjectId, kind: ObjectKind, bytes: Vec<u8>) -> Result<()>;
}

/// A sink that keeps nothing: for computing the ids of what would be stored.
pub struct Discard;

impl NodeSink for Discard {
    fn put(&mut self, _: ObjectId, _: ObjectKind, _: Vec<u8>) -> Result<()> {
        Ok(())
    }
}

/// The ordered chunks of a file that has more than one.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Manifest {
    pub chunks: Vec<(ObjectId, u32)>,
}

impl Manifest {
    pub fn size(&self) -> u64 {
        self.chunks.iter().map(|&(_, len)| len as u64).sum()
    }

    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(12 + self.chunks.len() * 36);
        out.extend_from_slice(MANIFEST_MAGIC);
        out.extend_from_slice(&MANIFEST_VERSION.to_le_bytes());
        out.extend_from_slice(&(self.chunks.len() as u32).to_le_bytes());
        for (id, len) in &self.chunks {
            out.extend_from_slice(id.as_bytes());
            out.extend_from_slice(&len.to_le_bytes());
        }
        out
    }

    pub fn decode(data: &[u8]) -> Result<Manifest> {
        let mut r = Reader::new(data, "file manifest");
        r.header(MANIFEST_MAGIC, MANIFEST_VERSION)?;
        let count = r.u32()? as usize;
        if r.remaining() != count.saturating_mul(36) {
            return Err(r.error(format!("{count} chunks do not fit {} bytes", r.remaining())));
        }
        let mut chunks = Vec::with_capacity(count);
        for _ in 0..count {
            let id = r.id()?;
            let len = r.u32()?;
            if len == 0 || len as usize > crate::chunk::MAX_SIZE {
                return Err(r.error(format!("chunk length {len} out of range")));
            }
            chunks.push((id, len));
        }
        r.finish()?;
        Ok(Manifest { chunks })
    }
}

/// What a tree entry (or a pointer file) names.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum NodeKind {
    /// A file stored as one chunk: the id is the chunk's, i.e. the BLAKE3 of the whole file.
    File = 0,
    /// A file stored as a manifest of chunks: the id is the manifest's.
    Chunked = 1,
    /// A folder: the id is a tree object's.
    Tree = 2,
}

/// Serialized as its name (`file`, `chunked`, `tree`), as reports and pointer files write it.
impl serde::Serialize for NodeKind {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.serialize_str(self.name())
    }
}

impl std::fmt::Display for NodeKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.pad(self.name())
    }
}

impl NodeKind {
    /// The kind of object a node of this kind names.
    pub fn object_kind(self) -> ObjectKind {
        match self {
            NodeKind::File => ObjectKind::Chunk,
            NodeKind::Chunked => ObjectKind::Manifest,
            NodeKind::Tree => ObjectKind::Tree,
        }
    }

    pub fn from_u8(v: u8) -> Option<NodeKind> {
        match v {
            0 => Some(NodeKind::File),
            1 => Some(NodeKind::Chunked),
            2 => Some(NodeKind::Tree),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            NodeKind::File => "file",
            NodeKind::Chunked => "chunked",
            NodeKind::Tree => "tree",
        }
    }

    pub fn from_name(s: &str) -> Option<NodeKind> {
        match s {
            "file" => Some(NodeKind::File),
            "chunked" => Some(NodeKind::Chunked),
            "tree" => Some(NodeKind::Tree),
            _ => None,
        }
    }

    pub fn is_file(self) -> bool {
        self != NodeKind::Tree
    }
}

/// A versioned file or folder: what a pointer file records and what a tree entry holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize)]
pub struct Node {
    pub kind: NodeKind,
    pub id: ObjectId,
    /// Bytes of the file, or of all files below the folder.
    pub size: u64,
    /// 1 for a file; the number of files below a folder.
    pub files: u64,
    /// The executable bit (files only).
    pub exec: bool,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TreeEntry {
    pub name: String,
    pub node: Node,
}

/// One folder: entries sorted by name (bytewise), unique.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Tree {
    pub entries: Vec<TreeEntry>,
}

const FLAG_EXEC: u8 = 1;

/// Checks that `name` is a safe single path component on every platform dv runs on.
pub fn check_name(name: &str) -> std::result::Result<(), &'static str> {
    if name.is_empty() {
        return Err("empty name");
    }
    if name == "." || name == ".." {
        return Err("'.' or '..' as a name");
    }
    if name.contains('/') || name.contains('\\') {
        return Err("name contains a path separator");
    }
    if name.contains('\0') {
        return Err("name contains a NUL byte");
    }
    if name.len() > 4096 {
        return Err("name longer than 4096 bytes");
    }
    if name.eq_ignore_ascii_case(".git") {
        return Err("'.git' is Git's own folder");
    }
    if is_windows_device_name(name) {
        return Err("a name Windows reserves for a device (CON, PRN, AUX, NUL, COM1-9, LPT1-9)");
    }
    Ok(())
}

/// Windows' reserved device names, with or without an extension, in any case: a file so named cannot be
/// created there, so dv refuses it everywhere and a dataset checks out on every platform.
fn is_windows_device_name(name: &str) -> bool {
    let stem = name.split('.').next().unwrap_or("").trim_end_matches(' ');
    let upper = stem.to_ascii_uppercase();
    matches!(upper.as_str(), "CON" | "PRN" | "AUX" | "NUL")
        || ((upper.starts_with("COM") || upper.starts_with("LPT"))
            && upper.len() == 4
            && matches!(upper.as_bytes()[3], b'1'..=b'9'))
}

impl Tree {
    pub fn size(&self) -> u64 {
        self.entries.iter().map(|e| e.node.size).sum()
    }

    pub fn files(&self) -> u64 {
        self.entries.iter().map(|e| e.node.files).sum()
    }

    /// Sorts entries into canonical order. Callers must not add the same name twice.
    pub fn sort(&mut self) {
        self.entries
            .sort_by(|a, b| a.name.as_bytes().cmp(b.name.as_bytes()));
    }

    pub fn get(&self, name: &str) -> Option<&TreeEntry> {
        self.entries
            .binary_search_by(|e| e.name.as_bytes().cmp(name.as_bytes()))
            .ok()
            .map(|i| &self.entries[i])
    }

    pub fn encode(&self) -> Vec<u8> {
        encode_entries(&self.entries)
    }

    pub fn decode(data: &[u8]) -> Result<Tree> {
        let mut r = Reader::new(data, "tree object");
        r.header(TREE_MAGIC, TREE_VERSION)?;
        let count = r.u32()? as usize;
        // Each entry takes at least 53 bytes: refuse counts the data cannot hold before allocating.
        if count > r.remaining() / 53 {
            return Err(r.error(format!(
                "{count} entries do not fit {} bytes",
                r.remaining()
            )));
        }
        let mut entries: Vec<TreeEntry> = Vec::with_capacity(count);
        for _ in 0..count {
            let kind = r.u8()?;
            let kind = NodeKind::from_u8(kind)
                .ok_or_else(|| r.error(format!("unknown entry kind {kind}")))?;
            let flags = r.u8()?;
            if flags & !FLAG_EXEC != 0 || (kind == NodeKind::Tree && flags != 0) {
                return Err(r.error(format!("invalid flags {flags:#x}")));
            }
            let name_len = r.u16()? as usize;
            let size = r.u64()?;
            let files = r.u64()?;
            if kind.is_file() && files != 1 {
                return Err(r.error(format!("file entry with file count {files}")));
            }
            let id = r.id()?;
            let name = std::str::from_utf8(r.take(name_len)?)
                .map_err(|_| r.error("entry name is not UTF-8"))?
                .to_string();
            check_name(&name).map_err(|why| r.error(format!("entry {name:?}: {why}")))?;
            if let Some(prev) = entries.last()
                && prev.name.as_bytes() >= name.as_bytes()
            {
                return Err(r.error(format!("entry {name:?} is out of order or repeated")));
            }
            entries.push(TreeEntry {
                name,
                node: Node {
                    kind,
                    id,
                    size,
                    files,
                    exec: flags & FLAG_EXEC != 0,
                },
            });
        }
        r.finish()?;
        Ok(Tree { entries })
    }
}

/// The tree object (`DVTR`) holding `entries` (sorted, unique): a whole folder, or one leaf of a split one.
pub fn encode_entries(entries: &[TreeEntry]) -> Vec<u8> {
    let mut out = Vec::with_capacity(12 + entries.len() * 80);
    out.extend_from_slice(TREE_MAGIC);
    out.extend_from_slice(&TREE_VERSION.to_le_bytes());
    out.extend_from_slice(&(entries.len() as u32).to_le_bytes());
    for e in entries {
        let n = &e.node;
        out.push(n.kind as u8);
        out.push(if n.exec { FLAG_EXEC } else { 0 });
        out.extend_from_slice(&(e.name.len() as u16).to_le_bytes());
        out.extend_from_slice(&n.size.to_le_bytes());
        out.extend_from_slice(&n.files.to_le_bytes());
        out.extend_from_slice(n.id.as_bytes());
        out.extend_from_slice(e.name.as_bytes());
    }
    out
}

/// Refuses a structured object whose claimed totals overflow.
pub fn checked_total(tree: &Tree) -> Result<(u64, u64)> {
    let mut size = 0u64;
    let mut files = 0u64;
    for e in &tree.entries {
        size = size
            .checked_add(e.node.size)
            .ok_or_else(|| Error::format("tree object", "sizes overflow"))?;
        files = files
            .checked_add(e.node.files)
            .ok_or_else(|| Error::format("tree object", "file counts overflow"))?;
    }
    Ok((size, files))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn node(kind: NodeKind, seed: u8, size: u64, files: u64, exec: bool) -> Node {
        Node {
            kind,
            id: ObjectId([seed; 32]),
            size,
            files,
            exec,
        }
    }

    #[test]
    fn tree_golden_bytes() {
        let mut t = Tree {
            entries: vec![
                TreeEntry {
                    name: "b.txt".into(),
                    node: node(NodeKind::File, 1, 5, 1, true),
                },
                TreeEntry {
                    name: "a".into(),
                    node: node(NodeKind::Tree, 2, 0, 0, false),
                },
            ],
        };
        t.sort();
        let bytes = t.encode();
        assert_eq!(&bytes[..12], b"DVTR\x01\x00\x00\x00\x02\x00\x00\x00");
        // First entry: the folder "a".
        assert_eq!(&bytes[12..16], &[2, 0, 1, 0]);
        assert_eq!(bytes.len(), 12 + 2 * 52 + 1 + 5);
        assert_eq!(
            ObjectId::of(&bytes).to_hex(),
            "1d388a53c4833a478ec26805a06afaa3e32e56fa1d69f69d34d2f7adcd34c86e"
        );
        assert_eq!(Tree::decode(&bytes).unwrap(), t);
    }

    #[test]
    fn tree_rejects_hostile_names_and_order() {
        for bad in [
            "..",
            ".",
            "a/b",
            "",
            "a\\b",
            "x\0",
            ".git",
            ".GIT",
            "con",
            "NUL.txt",
            "aux.tar.gz",
            "Com1",
            "lpt9.csv",
        ] {
            let t = Tree {
                entries: vec![TreeEntry {
                    name: bad.into(),
                    node: node(NodeKind::File, 1, 1, 1, false),
                }],
            };
            assert!(Tree::decode(&t.encode()).is_err(), "{bad:?} accepted");
        }
        for good in [
            "console",
            "com10",
            "nul_",
            "auxiliary.csv",
            ".gitignore",
            "12:30.csv",
        ] {
            assert!(check_name(good).is_ok(), "{good:?} refused");
        }
        let dup = Tree {
            entries: vec![
                TreeEntry {
                    name: "a".into(),
                    node: node(NodeKind::File, 1, 1, 1, false),
                },
                TreeEntry {
                    name: "a".into(),
                    node: node(NodeKind::File, 1, 1, 1, false),
                },
            ],
        };
        let err = Tree::decode(&dup.encode()).unwrap_err().to_string();
        assert!(err.contains("out of order or repeated"), "{err}");
    }

    #[test]
    fn manifest_rejects_bad_lengths_and_truncation() {
        let m = Manifest {
            chunks: vec![(ObjectId([1; 32]), 10), (ObjectId([2; 32]), 20)],
        };
        let bytes = m.encode();
        assert_eq!(Manifest::decode(&bytes).unwrap(), m);
        assert!(Manifest::decode(&bytes[..bytes.len() - 1]).is_err());
        let zero = Manifest {
            chunks: vec![(ObjectId([1; 32]), 0)],
        };
        assert!(Manifest::decode(&zero.encode()).is_err());
        let mut newer = bytes.clone();
        newer[4] = 9;
        assert!(matches!(
            Manifest::decode(&newer),
            Err(Error::NewerFormat { found: 9, .. })
        ));
    }

    fn arb_name() -> impl Strategy<Value = String> {
        // Any name the tree format accepts (Windows device names such as "CoN " are refused by design).
        "[a-zA-Z0-9 _.é-]{1,12}".prop_filter("a valid entry name", |s| {
            s != "." && s != ".." && !is_windows_device_name(s)
        })
    }

    proptest! {
        #[test]
        fn tree_round_trips(names in proptest::collection::btree_set(arb_name(), 0..20), seed in any::<u8>()) {
            let mut t = Tree { entries: names.into_iter().enumerate().map(|(i, name)| {
                let kind = NodeKind::from_u8((i % 3) as u8).unwrap();
                let files = if kind == NodeKind::Tree { i as u64 } else { 1 };
                TreeEntry { name, node: node(kind, seed.wrapping_add(i as u8), i as u64 * 7, files, kind != NodeKind::Tree && i % 2 == 0) }
            }).collect() };
            t.sort();
            prop_assert_eq!(Tree::decode(&t.encode()).unwrap(), t);
        }

        #[test]
        fn manifest_round_trips(lens in proptest::collection::vec(1u32..=crate::chunk::MAX_SIZE as u32, 0..50)) {
            let m = Manifest { chunks: lens.iter().enumerate().map(|(i, &l)| (ObjectId([i as u8; 32]), l)).collect() };
            prop_assert_eq!(Manifest::decode(&m.encode()).unwrap(), m);
        }

        #[test]
        fn decoders_never_panic(data in proptest::collection::vec(any::<u8>(), 0..300)) {
            let _ = Tree::decode(&data);
            let _ = Manifest::decode(&data);
        }
    }
}
