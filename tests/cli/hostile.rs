//! A hostile remote: packs written by hand (through dv's own pack writer, which does not judge content) whose
//! trees name `..`, repeat a name or hide a `/`, whose index overlaps entries, or whose object expands past its
//! stated size. `dv pull` from a clone must refuse each with a clear error and write nothing, inside or outside.

use std::path::Path;

use dv_core::ObjectId;
use dv_core::store::PackWriter;
use dv_core::store::object::{Node, NodeKind, ObjectKind, Tree, TreeEntry};
use dv_core::store::pack::{Compression, IndexEntry, PackIndex};

use crate::common::*;

/// Writes `objects` (id, kind, raw bytes) into one pack in the folder remote `dir`.
fn write_pack(dir: &Path, objects: &[(ObjectId, ObjectKind, Vec<u8>)]) {
    for sub in ["tmp", "index"] {
        std::fs::create_dir_all(dir.join(sub)).unwrap();
    }
    let mut w = PackWriter::new(dir);
    for (id, kind, raw) in objects {
        w.add(*id, *kind, Compression::None, raw.len() as u32, raw)
            .unwrap();
    }
    w.finish().unwrap();
    let _ = std::fs::remove_dir_all(dir.join("tmp"));
}

fn file_node(data: &[u8]) -> Node {
    Node {
        kind: NodeKind::File,
        id: ObjectId::of(data),
        size: data.len() as u64,
        files: 1,
        exec: false,
    }
}

fn tree_node(t: &Tree) -> (Node, Vec<u8>) {
    let bytes = t.encode();
    let size = t.entries.iter().map(|e| e.node.size).sum();
    let files = t.entries.iter().map(|e| e.node.files).sum();
    (
        Node {
            kind: NodeKind::Tree,
            id: ObjectId::of(&bytes),
            size,
            files,
            exec: false,
        },
        bytes,
    )
}

fn entry(name: &str, node: Node) -> TreeEntry {
    TreeEntry {
        name: name.into(),
        node,
    }
}

fn pointer_text(n: &Node) -> String {
    dv_core::pointer::Pointer {
        node: *n,
        table: None,
        meta: Default::default(),
        layout: dv_core::store::split::Layout::Flat,
        source: None,
    }
    .encode()
}

/// A repository whose commit names `node` at `data`, with the folder remote `remote` as its default, and a
/// fresh clone of it; returns (origin, clone).
fn clone_naming(node: &Node, remote: &Path) -> (TestRepo, tempfile::TempDir) {
    let r = TestRepo::new();
    r.ok(&[
        "remote",
        "add",
        "origin",
        remote.to_str().unwrap(),
        "--default",
    ]);
    r.write("data.dv", pointer_text(node).as_bytes());
    r.git(&["add", "."]);
    r.git(&["commit", "-q", "-m", "hostile pointer"]);
    let clone = clone_of(&r);
    (r, clone)
}

/// Runs `dv pull` in `dir`, expects exit status 1, returns stderr.
fn pull_fails(dir: &Path) -> String {
    let out = dv_command(dir).args(["pull"]).output().unwrap();
    let err = String::from_utf8(out.stderr).unwrap();
    assert_eq!(out.status.code(), Some(1), "pull should fail: {err}");
    assert!(err.starts_with("error: "), "{err}");
    err
}

fn assert_nothing_written(clone: &Path, outside: &Path, name: &str) {
    assert!(!clone.join("data").exists(), "data was written");
    assert!(
        !outside.join(name).exists(),
        "a file was written outside the repository"
    );
    assert!(
        !clone.join(name).exists(),
        "a file was written outside the dataset"
    );
    // Nothing refused reached the cache either: fsck finds it clean.
    let out = dv_command(clone).args(["fsck"]).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(!text.contains("damaged"), "{text}");
}

#[test]
fn trees_naming_dot_dot_are_refused_and_nothing_escapes() {
    let outer = tempfile::tempdir().unwrap();
    let remote = tempfile::tempdir().unwrap();
    let payload = b"pwned".to_vec();
    let f = file_node(&payload);
    let inner = Tree {
        entries: vec![entry("escape.txt", f)],
    };
    let (inner_node, inner_bytes) = tree_node(&inner);
    let mid = Tree {
        entries: vec![entry("..", inner_node)],
    };
    let (mid_node, mid_bytes) = tree_node(&mid);
    let top = Tree {
        entries: vec![entry("..", mid_node)],
    };
    let (top_node, top_bytes) = tree_node(&top);
    write_pack(
        remote.path(),
        &[
            (f.id, ObjectKind::Chunk, payload),
            (inner_node.id, ObjectKind::Tree, inner_bytes),
            (mid_node.id, ObjectKind::Tree, mid_bytes),
            (top_node.id, ObjectKind::Tree, top_bytes),
        ],
    );
    let (_r, clone) = clone_naming(&top_node, remote.path());
    // Put the clone one level down so "../../escape.txt" would land in a folder this test owns.
    let nested = outer.path().join("repo");
    std::fs::rename(clone.path(), &nested).unwrap();
    let err = pull_fails(&nested);
    assert!(err.contains("tree object") && err.contains("'..'"), "{err}");
    assert_nothing_written(&nested, outer.path(), "escape.txt");
    std::fs::rename(&nested, clone.path()).unwrap();
}

#[test]
fn trees_repeating_a_name_or_hiding_a_slash_are_refused() {
    let payload = b"payload".to_vec();
    let f = file_node(&payload);
    for (entries, want) in [
        (
            vec![entry("a", f), entry("a", f)],
            "out of order or repeated",
        ),
        (vec![entry("x/../../y", f)], "path separator"),
        (vec![entry("", f)], "do not fit"),
        (vec![entry(".git", f)], "Git's own folder"),
    ] {
        let remote = tempfile::tempdir().unwrap();
        let (node, bytes) = tree_node(&Tree { entries });
        write_pack(
            remote.path(),
            &[
                (f.id, ObjectKind::Chunk, payload.clone()),
                (node.id, ObjectKind::Tree, bytes),
            ],
        );
        let (_r, clone) = clone_naming(&node, remote.path());
        let err = pull_fails(clone.path());
        assert!(err.contains(want), "want {want:?}: {err}");
        assert_nothing_written(clone.path(), clone.path(), "y");
    }
}

#[test]
fn an_index_with_overlapping_entries_is_refused() {
    let remote = tempfile::tempdir().unwrap();
    let a = b"first object, long enough to overlap".to_vec();
    let b = b"second object".to_vec();
    let (ia, ib) = (ObjectId::of(&a), ObjectId::of(&b));
    // The pack holds a then b; the index claims b starts inside a.
    let mut pack = dv_core::store::pack::pack_header().to_vec();
    let mut entries = Vec::new();
    for (id, raw) in [(ia, &a), (ib, &b)] {
        let e = IndexEntry {
            id,
            offset: pack.len() as u64,
            kind: ObjectKind::Chunk,
            compression: Compression::None,
            raw_len: raw.len() as u32,
            stored_len: raw.len() as u32,
        };
        pack.extend_from_slice(&dv_core::store::pack::entry_header(&e));
        pack.extend_from_slice(raw);
        entries.push(e);
    }
    let size = pack.len() as u64;
    entries[1].offset = entries[0].offset + 8;
    let index = PackIndex::new(entries, size);
    let hex = index.pack_id.to_hex();
    let pack_dir = remote.path().join("packs").join(&hex[..2]);
    std::fs::create_dir_all(&pack_dir).unwrap();
    std::fs::write(pack_dir.join(format!("{hex}.pack")), &pack).unwrap();
    std::fs::create_dir_all(remote.path().join("index")).unwrap();
    std::fs::write(
        remote.path().join("index").join(format!("{hex}.idx")),
        index.encode(),
    )
    .unwrap();
    let (_r, clone) = clone_naming(&file_node(&b), remote.path());
    let err = pull_fails(clone.path());
    assert!(err.contains("overlap"), "{err}");
    assert_nothing_written(clone.path(), clone.path(), "data");
}

#[test]
fn an_object_expanding_past_its_stated_size_is_refused() {
    let remote = tempfile::tempdir().unwrap();
    // A zstd frame of 64 MiB of zeros, stated as 100 bytes: reading must stop at 100 and fail.
    let claimed = vec![0u8; 100];
    let bomb = zstd::encode_all(&vec![0u8; 64 << 20][..], 19).unwrap();
    let id = ObjectId::of(&claimed);
    for sub in ["tmp", "index"] {
        std::fs::create_dir_all(remote.path().join(sub)).unwrap();
    }
    let mut w = PackWriter::new(remote.path());
    w.add(id, ObjectKind::Chunk, Compression::Zstd, 100, &bomb)
        .unwrap();
    w.finish().unwrap();
    std::fs::remove_dir_all(remote.path().join("tmp")).unwrap();
    let (_r, clone) = clone_naming(&file_node(&claimed), remote.path());
    let err = pull_fails(clone.path());
    assert!(
        err.contains(&id.to_string()[..12]) || err.contains("expands"),
        "{err}"
    );
    assert_nothing_written(clone.path(), clone.path(), "data");
}

/// A tree bomb: one file, then 30 levels each naming the level below twice (2^30 files in 31 small trees).
/// Fetching it reads each tree once; `dv ls -R` streams it with memory that does not grow.
#[test]
fn a_folder_repeated_at_every_level_is_fetched_once_and_listed_in_bounded_memory() {
    let remote = tempfile::tempdir().unwrap();
    let payload = b"x".to_vec();
    let f = file_node(&payload);
    let mut objects = vec![(f.id, ObjectKind::Chunk, payload)];
    let mut node = f;
    for _ in 0..30 {
        let t = Tree {
            entries: vec![entry("a", node), entry("b", node)],
        };
        let (n, bytes) = tree_node(&t);
        objects.push((n.id, ObjectKind::Tree, bytes));
        node = n;
    }
    write_pack(remote.path(), &objects);
    let (r, clone) = clone_naming(&node, remote.path());
    // fetch: every object once, in moments.
    let fetched: serde_json::Value =
        serde_json::from_str(&ok_at(clone.path(), &["fetch", "--json"])).unwrap();
    assert_eq!(fetched["objects"], 31, "{fetched}");
    // ls -R from another repository: entries stream at once; memory stays small.
    let server = tempfile::tempdir().unwrap();
    let bare = server.path().join("bomb.git");
    git_in(
        r.path(),
        &["clone", "-q", "--bare", ".", bare.to_str().unwrap()],
    );
    let url = format!("file://{}", bare.display());
    let mut child = dv_command(server.path())
        .args(["ls", &url, "data", "-R"])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = std::io::BufRead::lines(std::io::BufReader::new(child.stdout.take().unwrap()));
    for _ in 0..200_000 {
        let line = lines.next().expect("a line").unwrap();
        assert!(line.contains("data/"), "{line}");
    }
    let status =
        std::fs::read_to_string(format!("/proc/{}/status", child.id())).unwrap_or_default();
    let rss_kib: u64 = status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let _ = child.kill();
    let _ = child.wait();
    assert!(
        rss_kib < 200 * 1024,
        "dv ls holds {rss_kib} KiB after 200,000 entries"
    );
}
