//! A state machine over add / modify / commit / checkout / gc / push / pull, and a linked work tree sharing the
//! cache, with the real binary, checked against a model of which objects the cache and the remote hold.
//!
//! The model works at the level of objects: each file content and each folder listing of a version is one
//! object key (file contents never share chunks: every write draws fresh random bytes, and a content is a
//! function of its seed and length). A version is in the cache exactly when all its keys are, so the model
//! knows, for every committed version, whether checkout must succeed bit for bit or must fail, leaving the work
//! tree as it was; gc runs with `--grace 0 --repack-below 1`, which makes the cache hold exactly what its scope
//! reaches. Failing cases are kept in `tests/cli/statemachine.proptest-regressions` and replayed first.

use std::collections::BTreeSet;
use std::path::Path;

use proptest::prelude::*;
use proptest::test_runner::FileFailurePersistence;

use crate::common::*;

#[derive(Clone, Debug)]
enum Op {
    /// Write file `file` of data/ with `len` bytes from `seed`.
    Write { file: u8, seed: u64, len: u32 },
    /// Delete file `file` (never file 0, so data/ always holds something).
    Delete { file: u8 },
    /// `dv add data` and `git commit`.
    Commit,
    /// `dv checkout --rev` of a committed version (or `dv pull --rev` when only the remote has it).
    Checkout { version: u8 },
    /// `dv gc`: with `all`, keeping every commit's data; otherwise only the work trees'.
    Gc { all: bool },
    /// `dv push --all-commits`.
    Push,
    /// `git clone` + `dv pull --rev` in a fresh clone.
    PullFresh { version: u8 },
    /// In the linked work tree (made by the first such op): write its file and `dv add` it, without
    /// committing. Its data must survive every gc run from the main work tree.
    LinkedAdd { seed: u64, len: u32 },
}

const FILES: [&str; 4] = [
    "data/f0.bin",
    "data/f1.txt",
    "data/sub/f2.bin",
    "data/sub/deeper/f3",
];

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (0u8..4, any::<u64>(), prop_oneof![1u32..2000, 20_000u32..300_000])
            .prop_map(|(file, seed, len)| Op::Write { file, seed, len }),
        1 => (1u8..4).prop_map(|file| Op::Delete { file }),
        3 => Just(Op::Commit),
        3 => any::<u8>().prop_map(|version| Op::Checkout { version }),
        2 => any::<bool>().prop_map(|all| Op::Gc { all }),
        2 => Just(Op::Push),
        1 => any::<u8>().prop_map(|version| Op::PullFresh { version }),
        1 => (any::<u64>(), prop_oneof![1u32..2000, 20_000u32..300_000])
            .prop_map(|(seed, len)| Op::LinkedAdd { seed, len }),
    ]
}

/// File content for a write: unrelated bytes for every (seed, length), so two contents never share a chunk.
fn content(seed: u64, len: u32) -> Vec<u8> {
    bytes(
        seed ^ (len as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15),
        len as usize,
    )
}

/// The object keys of a snapshot of a folder: one per file content, one per folder listing (the root's
/// included), as dv stores them: a listing names its children by their keys.
fn objects(snap: &Snapshot) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    listing_key(snap, "", &mut out);
    out
}

fn listing_key(snap: &Snapshot, dir: &str, out: &mut BTreeSet<String>) -> String {
    let mut listing = String::new();
    for (path, entry) in snap {
        let Some(name) = child_name(path, dir) else {
            continue;
        };
        let key = match entry {
            Some((data, _)) => format!("F{}", blake3::hash(data).to_hex()),
            None => listing_key(snap, path, out),
        };
        let exec = matches!(entry, Some((_, true)));
        listing.push_str(&format!("{name}\0{key}\0{exec}\n"));
        out.insert(key);
    }
    let key = format!("T{}", blake3::hash(listing.as_bytes()).to_hex());
    out.insert(key.clone());
    key
}

/// The name of `path` if it lies directly in folder `dir` ("" is the snapshot root).
fn child_name<'a>(path: &'a str, dir: &str) -> Option<&'a str> {
    let rest = if dir.is_empty() {
        path
    } else {
        path.strip_prefix(dir)?.strip_prefix('/')?
    };
    (!rest.contains('/')).then_some(rest)
}

struct Model {
    /// Committed versions: commit id, the data folder's snapshot and its object keys.
    versions: Vec<(String, Snapshot, BTreeSet<String>)>,
    /// Object keys the shared cache holds.
    cache: BTreeSet<String>,
    /// Object keys the remote holds.
    remote: BTreeSet<String>,
    /// The version the main work tree's `data.dv` names.
    worktree_pointer: usize,
    /// The linked work tree's added (uncommitted) data, if it was made.
    linked: Option<Snapshot>,
}

impl Model {
    fn in_cache(&self, v: usize) -> bool {
        self.versions[v].2.is_subset(&self.cache)
    }

    fn obtainable(&self, v: usize) -> bool {
        self.versions[v]
            .2
            .iter()
            .all(|k| self.cache.contains(k) || self.remote.contains(k))
    }
}

fn data_snapshot(dir: &Path) -> Snapshot {
    if dir.join("data").exists() {
        snapshot(&dir.join("data"))
    } else {
        Vec::new()
    }
}

fn linked_dir(r: &TestRepo) -> std::path::PathBuf {
    r.path().with_extension("linked")
}

fn run_ops(ops: &[Op]) {
    let r = TestRepo::new();
    let _remote = folder_remote(&r);
    r.write(FILES[0], b"first");
    r.git(&["add", ".dv"]);
    let mut m = Model {
        versions: Vec::new(),
        cache: BTreeSet::new(),
        remote: BTreeSet::new(),
        worktree_pointer: 0,
        linked: None,
    };
    let linked = linked_dir(&r);
    apply(&r, &linked, &mut m, &Op::Commit, ops);
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        for op in ops {
            apply(&r, &linked, &mut m, op, ops);
        }
        // Every committed version: retrievable ones bit for bit, the others refused without damage.
        for v in 0..m.versions.len() {
            check_version(&r, &mut m, v, "at the end");
        }
        check_linked(&linked, &m, "at the end");
        let fsck = r.dv(&["fsck"]);
        assert!(
            fsck.status.success(),
            "fsck: {}",
            String::from_utf8_lossy(&fsck.stdout)
        );
    }));
    let _ = std::fs::remove_dir_all(&linked);
    if let Err(e) = result {
        std::panic::resume_unwind(e);
    }
}

fn apply(r: &TestRepo, linked: &Path, m: &mut Model, op: &Op, ops: &[Op]) {
    match *op {
        Op::Write { file, seed, len } => {
            r.write(FILES[file as usize], &content(seed, len));
        }
        Op::Delete { file } => {
            let _ = std::fs::remove_file(r.p(FILES[file as usize]));
        }
        Op::Commit => {
            r.ok(&["add", "data"]);
            r.git(&["commit", "-q", "--allow-empty", "-m", "version"]);
            let head = r.git(&["rev-parse", "HEAD"]).trim().to_string();
            let snap = data_snapshot(r.path());
            let keys = objects(&snap);
            m.cache.extend(keys.iter().cloned());
            m.versions.push((head, snap, keys));
            m.worktree_pointer = m.versions.len() - 1;
        }
        Op::Checkout { version } => {
            let v = version as usize % m.versions.len();
            check_version(r, m, v, &format!("after {ops:?}"));
        }
        Op::Gc { all } => {
            let mut args = vec!["gc", "--grace", "0", "--repack-below", "1"];
            if all {
                args.push("--all-commits");
            }
            r.ok(&args);
            // The cache now holds exactly what the scope reaches: every work tree's pointer (the main one's
            // and the linked one's), and with `all` every commit's.
            let mut keep: BTreeSet<String> = m.versions[m.worktree_pointer].2.clone();
            if all {
                for (_, _, keys) in &m.versions {
                    keep.extend(keys.iter().cloned());
                }
            }
            if let Some(snap) = &m.linked {
                keep.extend(objects(snap));
            }
            m.cache = m.cache.intersection(&keep).cloned().collect();
            check_linked(linked, m, &format!("after gc in {ops:?}"));
        }
        Op::Push => {
            // Exactly the versions whose objects are in the cache or on the remote go up; the report names
            // the others.
            let out = r.dv(&["push", "--all-commits", "--json"]);
            let err = String::from_utf8_lossy(&out.stderr);
            let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
            let left_out: Vec<&str> = report["incomplete"]
                .as_array()
                .map(|a| a.iter().map(|i| i["id"].as_str().unwrap()).collect())
                .unwrap_or_default();
            if left_out.is_empty() {
                assert!(out.status.success(), "push failed: {err}");
            } else {
                assert_eq!(out.status.code(), Some(1), "{err}");
                assert!(err.contains("were not pushed"), "{err}");
            }
            let mut sent = BTreeSet::new();
            for v in 0..m.versions.len() {
                let id = pointer_id(r, &m.versions[v].0);
                let obtainable = m.obtainable(v);
                assert_eq!(
                    !left_out.contains(&id.as_str()),
                    obtainable,
                    "version {v}: push's report disagrees with the model after {ops:?}"
                );
                if obtainable {
                    sent.extend(m.versions[v].2.iter().cloned());
                }
            }
            m.remote.extend(sent);
        }
        Op::PullFresh { version } => {
            let v = version as usize % m.versions.len();
            let clone = clone_of(r);
            let (sha, snap, keys) = &m.versions[v];
            let out = dv_command(clone.path())
                .args(["pull", "--rev", sha])
                .output()
                .unwrap();
            if keys.is_subset(&m.remote) {
                assert!(
                    out.status.success(),
                    "pull of pushed version {v} failed: {}",
                    String::from_utf8_lossy(&out.stderr)
                );
                assert!(
                    data_snapshot(clone.path()) == *snap,
                    "fresh pull of version {v} differs"
                );
            } else {
                assert_eq!(
                    out.status.code(),
                    Some(1),
                    "pull of version {v}, which the remote lacks, after {ops:?}: {}",
                    String::from_utf8_lossy(&out.stderr)
                );
                assert!(
                    !clone.path().join("data").exists(),
                    "a failed pull wrote data"
                );
            }
        }
        Op::LinkedAdd { seed, len } => {
            if m.linked.is_none() {
                r.git(&[
                    "worktree",
                    "add",
                    "-q",
                    "-b",
                    "linked",
                    linked.to_str().unwrap(),
                ]);
            }
            let file = linked.join("data/linked.bin");
            std::fs::create_dir_all(file.parent().unwrap()).unwrap();
            std::fs::write(&file, content(seed, len)).unwrap();
            ok_at(linked, &["add", "data"]);
            let snap = data_snapshot(linked);
            m.cache.extend(objects(&snap));
            m.linked = Some(snap);
        }
    }
}

/// The linked work tree's added data can still be checked out there, bit for bit.
fn check_linked(linked: &Path, m: &Model, when: &str) {
    let Some(snap) = &m.linked else {
        return;
    };
    std::fs::remove_dir_all(linked.join("data")).unwrap();
    let out = dv_command(linked).args(["checkout"]).output().unwrap();
    assert!(
        out.status.success(),
        "the linked work tree lost its data {when}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        data_snapshot(linked) == *snap,
        "the linked work tree's data differs {when}"
    );
}

/// The dataset id `data.dv` names at commit `sha`.
fn pointer_id(r: &TestRepo, sha: &str) -> String {
    let text = r.git(&["show", &format!("{sha}:data.dv")]);
    let v: toml::Table = toml::from_str(&text).unwrap();
    v["id"].as_str().unwrap().to_string()
}

/// Materializes version `v` in the work tree and compares it with the model, or checks that it cannot be.
fn check_version(r: &TestRepo, m: &mut Model, v: usize, when: &str) {
    let (sha, snap, keys) = m.versions[v].clone();
    if m.in_cache(v) {
        r.ok(&["checkout", "--rev", &sha, "--force"]);
    } else if m.obtainable(v) {
        r.ok(&["pull", "--rev", &sha, "--force"]);
        m.cache.extend(keys);
    } else {
        let before = data_snapshot(r.path());
        let out = r.dv(&["checkout", "--rev", &sha, "--force"]);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(
            out.status.code(),
            Some(1),
            "version {v} is gone from the cache, yet checkout did not fail {when}: {err}"
        );
        assert!(err.contains("not in the local cache"), "{err}");
        assert!(
            data_snapshot(r.path()) == before,
            "a refused checkout changed the work tree {when}"
        );
        return;
    }
    assert!(
        data_snapshot(r.path()) == snap,
        "version {v} differs {when}"
    );
}

fn config(cases: u32) -> ProptestConfig {
    ProptestConfig {
        cases,
        max_shrink_iters: 30,
        failure_persistence: Some(Box::new(FileFailurePersistence::WithSource(
            "proptest-regressions",
        ))),
        ..ProptestConfig::default()
    }
}

// 112 cases in four tests, so the test threads share them.
proptest! {
    #![proptest_config(config(28))]

    #[test]
    fn every_committed_version_checks_out_bit_for_bit_1(ops in proptest::collection::vec(op(), 1..16)) {
        run_ops(&ops);
    }

    #[test]
    fn every_committed_version_checks_out_bit_for_bit_2(ops in proptest::collection::vec(op(), 1..16)) {
        run_ops(&ops);
    }

    #[test]
    fn every_committed_version_checks_out_bit_for_bit_3(ops in proptest::collection::vec(op(), 1..16)) {
        run_ops(&ops);
    }

    #[test]
    fn every_committed_version_checks_out_bit_for_bit_4(ops in proptest::collection::vec(op(), 1..16)) {
        run_ops(&ops);
    }
}
