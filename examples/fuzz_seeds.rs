//! Writes the fuzz seed corpus, `fuzz/seeds/TARGET/NAME`: small, valid inputs for every fuzz target, made with
//! dv's own encoders, so a format change shows up as a changed seed. Each seed is checked to be accepted by the
//! parser its target feeds it to, the way that target feeds it. Deterministic: the same dv writes the same
//! bytes. Run through `bash scripts/fuzz.sh --seeds` (or `cargo run --example fuzz_seeds -- fuzz/seeds`).
#![allow(clippy::disallowed_macros)] // prints as it likes: clippy.toml's rule is for src/cli

use std::collections::BTreeMap;
use std::path::PathBuf;

use dv_core::ObjectId;
use dv_core::pointer::{Pointer, TableRef};
use dv_core::repo::{Config, RemoteConfig};
use dv_core::steps::{NodeRecord, Param, PathRecord, RunRecord, Step};
use dv_core::store::object::{Manifest, Node, NodeKind, NodeSink, ObjectKind, Tree, TreeEntry};
use dv_core::store::pack::{self, Compression, ENTRY_HEADER_LEN, IndexEntry, PackIndex};
use dv_core::store::split;
use dv_core::store::split::Layout;
use dv_core::table::rowtree;
use dv_core::table::{Column, Header, encode_key, encode_row};

fn main() {
    let out = PathBuf::from(
        std::env::args()
            .nth(1)
            .unwrap_or_else(|| "fuzz/seeds".to_string()),
    );
    let mut seeds = Seeds { out, count: 0 };
    pointer(&mut seeds);
    config(&mut seeds);
    step(&mut seeds);
    objects(&mut seeds);
    packs(&mut seeds);
    rows(&mut seeds);
    safetensors(&mut seeds);
    dvc(&mut seeds);
    println!("wrote {} seeds to {}", seeds.count, seeds.out.display());
}

struct Seeds {
    out: PathBuf,
    count: usize,
}

impl Seeds {
    fn write(&mut self, target: &str, name: &str, bytes: &[u8]) {
        let dir = self.out.join(target);
        std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
        let path = dir.join(name);
        std::fs::write(&path, bytes).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        self.count += 1;
    }
}

/// A fixed, readable id: the hash of a label.
fn id(label: &str) -> ObjectId {
    ObjectId::of(label.as_bytes())
}

fn node(kind: NodeKind, label: &str, size: u64, files: u64, exec: bool) -> Node {
    Node {
        kind,
        id: id(label),
        size,
        files,
        exec,
    }
}

fn pointer(s: &mut Seeds) {
    let meta: BTreeMap<String, String> = [
        ("owner", "ana"),
        ("license", "CC-BY-4.0"),
        ("metrics.acc", "0.91"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    let pointers = [
        (
            "file.dv",
            Pointer {
                node: node(NodeKind::File, "small file", 1234, 1, false),
                table: None,
                meta: BTreeMap::new(),
                layout: Layout::Flat,
                source: None,
            },
        ),
        (
            "chunked_exec.dv",
            Pointer {
                node: node(NodeKind::Chunked, "big file", 5 << 20, 1, true),
                table: None,
                meta: BTreeMap::new(),
                layout: Layout::Flat,
                source: None,
            },
        ),
        (
            "folder_meta.dv",
            Pointer {
                node: node(NodeKind::Tree, "folder", 987_654, 42, false),
                table: None,
                meta,
                layout: Layout::Flat,
                source: None,
            },
        ),
        (
            "table.dv",
            Pointer {
                node: node(NodeKind::File, "users.csv", 4096, 1, false),
                table: Some(TableRef {
                    id: id("table header"),
                    key: vec!["id".into(), "region".into()],
                    rows: 120,
                }),
                meta: BTreeMap::new(),
                layout: Layout::Flat,
                source: None,
            },
        ),
        (
            "imported_flat.dv",
            Pointer {
                node: node(NodeKind::Tree, "imported", 4_000_000, 7, false),
                table: None,
                meta: BTreeMap::new(),
                layout: Layout::Flat,
                source: Some(dv_core::pointer::SourceRef {
                    url: "https://git.example.com/team/registry.git".into(),
                    rev: Some("v1".into()),
                    commit: "0123456789abcdef0123456789abcdef01234567".into(),
                    path: "datasets/images".into(),
                }),
            },
        ),
    ];
    for (name, p) in pointers {
        let text = p.encode_checked("seed").expect("a valid pointer");
        let back = Pointer::decode(text.as_bytes(), "seed").expect("the pointer seed parses");
        assert_eq!(back, p);
        s.write("pointer", name, text.as_bytes());
    }
}

fn config(s: &mut Seeds) {
    let plain = Config {
        format: dv_core::repo::REPO_FORMAT,
        compression_level: dv_core::repo::DEFAULT_COMPRESSION_LEVEL,
        stage: true,
        default_remote: None,
        remotes: BTreeMap::new(),
    };
    let mut remotes = BTreeMap::new();
    remotes.insert(
        "origin".to_string(),
        RemoteConfig {
            url: "s3://bucket/datasets".into(),
            settings: [
                ("endpoint", "http://127.0.0.1:9000"),
                ("region", "eu-west-1"),
                ("allow_http", "true"),
                ("max_retries", "3"),
            ]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        },
    );
    remotes.insert(
        "shared".to_string(),
        RemoteConfig {
            url: "/mnt/shared/dv-store".into(),
            settings: BTreeMap::new(),
        },
    );
    let full = Config {
        format: dv_core::repo::REPO_FORMAT,
        compression_level: 9,
        stage: false,
        default_remote: Some("origin".into()),
        remotes,
    };
    for (name, c) in [("default.toml", plain), ("remotes.toml", full)] {
        let text = c.to_text();
        let back = Config::parse(&text, "seed").expect("the config seed parses");
        assert_eq!(back, c);
        s.write("config", name, text.as_bytes());
    }
}

fn step(s: &mut Seeds) {
    let record = |path: &str, kind: NodeKind, size: u64| PathRecord {
        path: path.into(),
        node: Some(NodeRecord {
            kind,
            id: id(path),
            size,
        }),
    };
    let fresh = Step {
        name: "prepare".into(),
        command: vec!["python3".into(), "prepare.py".into()],
        workdir: String::new(),
        deps: vec![PathRecord {
            path: "data/raw".into(),
            node: None,
        }],
        params: vec![],
        outs: vec![PathRecord {
            path: "data/prepared".into(),
            node: None,
        }],
        run: None,
        layout: Layout::Flat,
    };
    let ran = Step {
        name: "train".into(),
        command: vec![
            "python3".into(),
            "train.py".into(),
            "--epochs".into(),
            "3".into(),
        ],
        workdir: "models".into(),
        deps: vec![
            record("data/prepared", NodeKind::Tree, 10_000),
            record("train.py", NodeKind::File, 812),
        ],
        params: vec![
            Param {
                file: "params.toml".into(),
                key: "train.lr".into(),
                value: Some(toml::Value::Float(0.001)),
            },
            Param {
                file: "params.toml".into(),
                key: "train.layers".into(),
                value: Some(toml::Value::Array(vec![
                    toml::Value::Integer(64),
                    toml::Value::Integer(32),
                ])),
            },
        ],
        outs: vec![record("models/model.bin", NodeKind::Chunked, 3 << 20)],
        run: Some(RunRecord {
            command: vec!["python3".into(), "train.py".into()],
            git_commit: Some("0123456789abcdef0123456789abcdef01234567".into()),
            dv_version: "0.1.0".into(),
            platform: "x86_64-linux".into(),
            exit_status: 0,
            duration_ms: 1500,
        }),
        layout: Layout::Flat,
    };
    for (name, st) in [("fresh.toml", fresh), ("ran.toml", ran)] {
        let text = st.encode();
        // The fuzz target names every step "fuzz".
        let back = Step::decode("fuzz", text.as_bytes(), "seed").expect("the step seed parses");
        Step::decode("fuzz", back.encode().as_bytes(), "seed").expect("the re-encoded step parses");
        s.write("step", name, text.as_bytes());
    }
}

fn sample_tree() -> Tree {
    Tree {
        entries: vec![
            TreeEntry {
                name: "README.md".into(),
                node: node(NodeKind::File, "readme", 120, 1, false),
            },
            TreeEntry {
                name: "images".into(),
                node: node(NodeKind::Tree, "images", 800_000, 12, false),
            },
            TreeEntry {
                name: "run.sh".into(),
                node: node(NodeKind::File, "run.sh", 64, 1, true),
            },
            TreeEntry {
                name: "train.bin".into(),
                node: node(NodeKind::Chunked, "train.bin", 9 << 20, 1, false),
            },
        ],
    }
}

fn sample_manifest() -> Manifest {
    Manifest {
        chunks: vec![
            (id("chunk 1"), 262_144),
            (id("chunk 2"), 200_000),
            (id("chunk 3"), 12_345),
        ],
    }
}

fn objects(s: &mut Seeds) {
    let tree = sample_tree().encode();
    assert_eq!(
        Tree::decode(&tree).expect("the tree seed parses").encode(),
        tree
    );
    s.write("tree", "folder", &tree);
    let empty = Tree::default().encode();
    Tree::decode(&empty).expect("the empty tree seed parses");
    s.write("tree", "empty", &empty);

    let manifest = sample_manifest().encode();
    assert_eq!(
        Manifest::decode(&manifest)
            .expect("the manifest seed parses")
            .encode(),
        manifest
    );
    s.write("manifest", "three_chunks", &manifest);
    split(s);
}

/// Keeps what is built, in the order it is written.
#[derive(Default)]
struct Written(Vec<(ObjectId, Vec<u8>)>);

impl NodeSink for Written {
    fn put(&mut self, id: ObjectId, _: ObjectKind, bytes: Vec<u8>) -> dv_core::Result<()> {
        self.0.push((id, bytes));
        Ok(())
    }
}

/// A split folder (600 entries) and a split file (1,100 chunks): their index nodes for the `tree` and
/// `manifest` targets, and each whole, as `split_read` takes it (`len u16 | bytes` per object, the root first).
fn split(s: &mut Seeds) {
    let mut entries: Vec<TreeEntry> = (0..600u64)
        .map(|i| TreeEntry {
            name: format!("img_{i:04}.jpg"),
            node: Node {
                kind: NodeKind::File,
                id: ObjectId::of(&i.to_le_bytes()),
                size: 100 + i,
                files: 1,
                exec: false,
            },
        })
        .collect();
    entries.sort_by(|a, b| a.name.as_bytes().cmp(b.name.as_bytes()));
    let chunks: Vec<(ObjectId, u32)> = (0..1100u64)
        .map(|i| (ObjectId::of(&i.to_be_bytes()), 16_384 + i as u32))
        .collect();
    let mut tree = Written::default();
    let tree_root = split::put_tree(&entries, Layout::Split, &mut tree).expect("the tree splits");
    let mut manifest = Written::default();
    let manifest_root =
        split::put_manifest(&chunks, Layout::Split, &mut manifest).expect("the manifest splits");
    for (name, target, root, written) in [
        ("folder", "tree", tree_root, &tree),
        ("file", "manifest", manifest_root, &manifest),
    ] {
        let (_, index) = written
            .0
            .iter()
            .find(|(id, _)| *id == root)
            .expect("a root");
        s.write(target, &format!("{name}_index"), index);
        let mut whole = Vec::new();
        let ordered = std::iter::once(index).chain(
            written
                .0
                .iter()
                .filter(|(id, _)| *id != root)
                .map(|(_, b)| b),
        );
        for bytes in ordered {
            let len = u16::try_from(bytes.len()).expect("every seed object fits a u16 length");
            whole.extend_from_slice(&len.to_le_bytes());
            whole.extend_from_slice(bytes);
        }
        s.write("split_read", name, &whole);
    }
}

/// A pack holding a stored-as-is chunk, a zstd-compressed chunk, a manifest and a tree, and its index.
fn sample_pack() -> (Vec<u8>, PackIndex) {
    let text: Vec<u8> = (0..40)
        .flat_map(|i| format!("row {i}: the quick brown fox\n").into_bytes())
        .collect();
    let objects: Vec<(ObjectKind, Compression, Vec<u8>)> = vec![
        (
            ObjectKind::Chunk,
            Compression::None,
            b"a small chunk".to_vec(),
        ),
        (ObjectKind::Chunk, Compression::Zstd, text),
        (
            ObjectKind::Manifest,
            Compression::None,
            sample_manifest().encode(),
        ),
        (ObjectKind::Tree, Compression::None, sample_tree().encode()),
    ];
    let mut bytes = pack::pack_header().to_vec();
    let mut entries = Vec::new();
    for (kind, compression, raw) in objects {
        let stored = match compression {
            Compression::None => raw.clone(),
            Compression::Zstd => zstd::bulk::compress(&raw, 3).expect("zstd"),
        };
        assert!(stored.len() < raw.len() || compression == Compression::None);
        let e = IndexEntry {
            id: ObjectId::of(&raw),
            offset: bytes.len() as u64,
            kind,
            compression,
            raw_len: raw.len() as u32,
            stored_len: stored.len() as u32,
        };
        bytes.extend_from_slice(&pack::entry_header(&e));
        bytes.extend_from_slice(&stored);
        entries.push(e);
    }
    let index = PackIndex::new(entries, bytes.len() as u64);
    (bytes, index)
}

fn packs(s: &mut Seeds) {
    let (bytes, index) = sample_pack();
    let encoded = index.encode();
    assert_eq!(
        PackIndex::decode(&encoded).expect("the index seed parses"),
        index
    );
    pack::check_pack_header(&bytes, "seed").expect("the pack header");
    for e in &index.entries {
        let start = e.offset as usize;
        let entry = &bytes[start..start + ENTRY_HEADER_LEN as usize + e.stored_len as usize];
        pack::check_entry_header(entry, e).expect("the entry header");
        pack::decode_object(e, &entry[ENTRY_HEADER_LEN as usize..]).expect("the object reads back");
    }

    // pack_index: the index as stored, and the short form the target frames itself (8 bytes of pack size,
    // then the entry table: the stored index without its header and checksum).
    s.write("pack_index", "index", &encoded);
    let table = &encoded[52..encoded.len() - 32];
    let mut short = index.pack_size.to_le_bytes().to_vec();
    short.extend_from_slice(table);
    // The targets frame it as the stored index: magic, version, pack id (the table's hash), pack size, count,
    // table, checksum; so the framed seed reaches the same accepted index.
    let mut reframed = encoded[..8].to_vec();
    reframed.extend_from_slice(ObjectId::of(table).as_bytes());
    reframed.extend_from_slice(&short[..8]);
    reframed.extend_from_slice(&(index.entries.len() as u32).to_le_bytes());
    reframed.extend_from_slice(table);
    let sum = ObjectId::of(&reframed);
    reframed.extend_from_slice(sum.as_bytes());
    assert_eq!(
        reframed, encoded,
        "the framed seed frames to the stored index"
    );
    s.write("pack_index", "framed", &short);

    // pack: a 2-byte length of the index part (pack size and entry table), the index part, then the pack.
    let mut framed = (short.len() as u16).to_le_bytes().to_vec();
    framed.extend_from_slice(&short);
    framed.extend_from_slice(&bytes);
    s.write("pack", "four_objects", &framed);
}

fn rows(s: &mut Seeds) {
    let people = [
        ("1", Some("ana"), Some("31")),
        ("2", Some("bo"), None),
        ("3", Some(""), Some("47")),
    ];
    let mut leaf: Vec<(Vec<u8>, Vec<u8>)> = people
        .iter()
        .map(|&(k, name, age)| {
            (
                encode_key([Some(k)].into_iter()),
                encode_row([Some(k), name, age].into_iter()),
            )
        })
        .collect();
    leaf.sort();
    let leaf = rowtree::Node::Leaf(leaf);
    let inner = rowtree::Node::Inner {
        level: 1,
        children: vec![
            (encode_key([Some("3")].into_iter()), id("leaf 1"), 3),
            (encode_key([Some("9")].into_iter()), id("leaf 2"), 5),
        ],
    };
    for (name, n) in [("leaf", leaf), ("inner", inner)] {
        let bytes = n.encode();
        assert_eq!(
            rowtree::Node::decode(&bytes).expect("the row node seed parses"),
            n
        );
        if let rowtree::Node::Leaf(rows) = &n {
            for (k, r) in rows {
                dv_core::table::decode_key(k).expect("the key seed parses");
                dv_core::table::decode_row(r).expect("the row seed parses");
            }
        }
        s.write("row_node", name, &bytes);
    }
    let column = |name: &str, ty: &str| Column {
        name: name.into(),
        ty: ty.into(),
    };
    let headers = [
        (
            "header_keyed",
            Header {
                format: "csv".into(),
                key: vec!["id".into()],
                columns: vec![
                    column("id", "int"),
                    column("name", "string"),
                    column("age", "int"),
                ],
                rows: 3,
                root: Some(id("root")),
            },
        ),
        (
            "header_empty",
            Header {
                format: "parquet".into(),
                key: vec![],
                columns: vec![column("x", "float"), column("when", "date")],
                rows: 0,
                root: None,
            },
        ),
    ];
    for (name, h) in headers {
        let bytes = h.encode();
        assert_eq!(Header::decode(&bytes).expect("the header seed parses"), h);
        s.write("row_node", name, &bytes);
    }
}

/// A safetensors file: 8-byte little-endian header length, the JSON header, then the tensor data.
fn safetensors_file(json: &str, data: &[u8]) -> Vec<u8> {
    let mut out = (json.len() as u64).to_le_bytes().to_vec();
    out.extend_from_slice(json.as_bytes());
    out.extend_from_slice(data);
    out
}

fn safetensors(s: &mut Seeds) {
    let weights: Vec<u8> = [1.0f32, -2.5, 0.125, 3.0]
        .iter()
        .flat_map(|x| x.to_le_bytes())
        .collect();
    let bias: Vec<u8> = [7i64, -1, 0].iter().flat_map(|x| x.to_le_bytes()).collect();
    let half: Vec<u8> = [0x3c00u16, 0xc000]
        .iter()
        .flat_map(|x| x.to_le_bytes())
        .collect();
    let data: Vec<u8> = [weights, bias, half, vec![1, 0, 1]].concat();
    let json = r#"{"__metadata__":{"format":"pt","source":"dv seeds"},"bias":{"dtype":"I64","shape":[3],"data_offsets":[16,40]},"flags":{"dtype":"BOOL","shape":[3],"data_offsets":[44,47]},"half":{"dtype":"F16","shape":[2],"data_offsets":[40,44]},"layer.weight":{"dtype":"F32","shape":[2,2],"data_offsets":[0,16]}}"#;
    let files = [
        ("small.safetensors", safetensors_file(json, &data)),
        (
            "scalar.safetensors",
            safetensors_file(
                r#"{"step":{"dtype":"U32","shape":[],"data_offsets":[0,4]}}"#,
                &42u32.to_le_bytes(),
            ),
        ),
    ];
    for (name, file) in files {
        let h =
            dv_core::model::safetensors::parse(&file, "seed").expect("the safetensors seed parses");
        assert!(!h.tensors.is_empty());
        let mut stored = dv_core::model::StoredFile::from_bytes("seed", &file);
        assert_eq!(
            dv_core::model::read_header(&mut stored).expect("chunked read"),
            h
        );
        s.write("safetensors", name, &file);
    }
}

/// DVC's and git-lfs's files, as DVC 3.67 and git-lfs write them (the `dvc` target's first byte picks the
/// parser: 0 `.dvc`, 1 `.dir`, 2 `dvc.lock`, 3 `dvc.yaml`, 4 the DVC map, 5 an LFS pointer, 6 YAML, 7 the LFS
/// map).
fn dvc(s: &mut Seeds) {
    use dv_core::migrate::{dvc, lfs, map};
    let seeds: [(&str, u8, &str); 8] = [
        (
            "dvc_file",
            0,
            "outs:\n- md5: fd7475f3f487aca739501c10b722c202.dir\n  size: 15\n  nfiles: 3\n  hash: md5\n  path: images\n",
        ),
        (
            "dir_manifest",
            1,
            r#"[{"md5": "1d1d0d3f83a0a204c32b0c6d4ae637bd", "relpath": "a.png"}, {"md5": "2cbff4a1953d64ee69e56b9f5c8866c6", "relpath": "sub/b.png"}]"#,
        ),
        (
            "dvc_lock",
            2,
            "schema: '2.0'\nstages:\n  prepare:\n    cmd: sh prepare.sh\n    deps:\n    - path: data/raw.csv\n      hash: md5\n      md5: bbd304055be67c211495c95f4e697eb2\n      size: 24\n    params:\n      params.yaml:\n        prepare.factor: 2\n    outs:\n    - path: out\n      hash: md5\n      md5: e8f17afd2dd12e1ae40996202603b3dd.dir\n      size: 15\n      nfiles: 1\n",
        ),
        (
            "dvc_yaml",
            3,
            "stages:\n  prepare:\n    cmd: sh prepare.sh\n    deps:\n    - data/raw.csv\n    params:\n    - prepare.factor\n    - other.json: []\n    outs:\n    - out\n    - metrics.json:\n        cache: false\n  many:\n    foreach: [a, b]\n    do:\n      cmd: echo ${item}\nplots:\n- x.csv\n",
        ),
        (
            "dvc_map",
            4,
            "# dv\ndv-dvc-map 1\n1d1d0d3f83a0a204c32b0c6d4ae637bd 2 file 5048c7a691fd88e08b99e60e92d87b06920f5162f35d183b3f2a8a19f15a57be 5 1\nfd7475f3f487aca739501c10b722c202.dir 1 tree 0d8faea6e80965470946bca64fc300359a55148093012c1918936b3b4d2896b2 15 3\n",
        ),
        (
            "lfs_pointer",
            5,
            "version https://git-lfs.github.com/spec/v1\noid sha256:4d7a214614ab2935c943f9e0ff69d22eadbb8f32b1258daaa5e2ca24d17e2393\nsize 12345\n",
        ),
        (
            "yaml",
            6,
            "a: &x {k: [1, 2.5, true, ~, 'q']}\nb: *x\nc: |\n  text\n",
        ),
        (
            "lfs_map",
            7,
            "# dv\ndv-lfs-map 1\n4d7a214614ab2935c943f9e0ff69d22eadbb8f32b1258daaa5e2ca24d17e2393 2 chunked 5048c7a691fd88e08b99e60e92d87b06920f5162f35d183b3f2a8a19f15a57be 12345\n",
        ),
    ];
    for (name, which, text) in seeds {
        let ok = match which {
            0 => dvc::parse_dvc_file(text.as_bytes(), "sub/fuzz.dvc").is_ok(),
            1 => dvc::parse_dir(text.as_bytes(), "fuzz.dir").is_ok(),
            2 => dvc::parse_lock(text.as_bytes(), "sub/dvc.lock", &Default::default()).is_ok(),
            3 => dvc::parse_pipeline(text.as_bytes(), "sub/dvc.yaml").is_ok(),
            4 => map::DvcMap::decode(text.as_bytes(), "map").is_ok(),
            5 => lfs::parse_pointer(text.as_bytes()).is_some(),
            7 => lfs::LfsMap::decode(text.as_bytes(), "lfs map").is_ok(),
            _ => dv_core::yaml::parse(text, "y").is_ok(),
        };
        assert!(ok, "the {name} seed parses");
        let mut bytes = vec![which];
        bytes.extend_from_slice(text.as_bytes());
        s.write("dvc", name, &bytes);
    }
}
