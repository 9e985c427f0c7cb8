//! A state machine over add / modify / commit / checkout / gc / push / pull with the real binary, checked against
//! a simple model: which committed versions exist, which the cache still holds and which the remote has. Every
//! version the model says is retrievable must check out bit for bit; every other one must fail cleanly, leaving
//! the work tree as it was.

use std::collections::BTreeSet;

use proptest::prelude::*;

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
    /// `dv gc`: with `all`, keeping every commit's data; otherwise only the work tree's.
    Gc { all: bool },
    /// `dv push --all-commits`.
    Push,
    /// `git clone` + `dv pull --rev` in a fresh clone.
    PullFresh { version: u8 },
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
    ]
}

struct Model {
    /// Committed versions: commit id and the data folder's snapshot.
    versions: Vec<(String, Snapshot)>,
    /// Versions whose objects the local cache must hold.
    local: BTreeSet<usize>,
    /// Versions the remote must hold.
    pushed: BTreeSet<usize>,
}

fn data_snapshot(r: &TestRepo) -> Snapshot {
    if r.p("data").exists() {
        snapshot(&r.p("data"))
    } else {
        Vec::new()
    }
}

fn run_ops(ops: &[Op]) {
    let r = TestRepo::new();
    let _remote = folder_remote(&r);
    r.write(FILES[0], b"first");
    r.git(&["add", ".dv"]);
    let mut m = Model {
        versions: Vec::new(),
        local: BTreeSet::new(),
        pushed: BTreeSet::new(),
    };
    let commit = |r: &TestRepo, m: &mut Model| {
        r.ok(&["add", "data"]);
        r.git(&["commit", "-q", "--allow-empty", "-m", "version"]);
        let head = r.git(&["rev-parse", "HEAD"]).trim().to_string();
        m.versions.push((head, data_snapshot(r)));
        m.local.insert(m.versions.len() - 1);
    };
    commit(&r, &mut m);
    for op in ops {
        match *op {
            Op::Write { file, seed, len } => {
                r.write(FILES[file as usize], &bytes(seed, len as usize));
            }
            Op::Delete { file } => {
                let _ = std::fs::remove_file(r.p(FILES[file as usize]));
            }
            Op::Commit => commit(&r, &mut m),
            Op::Checkout { version } => {
                let v = version as usize % m.versions.len();
                check_version(&r, &mut m, v, &format!("after {ops:?}"));
            }
            Op::Gc { all } => {
                if all {
                    r.ok(&["gc", "--all-commits", "--grace", "0"]);
                } else {
                    r.ok(&["gc", "--grace", "0"]);
                    // Only what the work tree's pointer names (the last commit) is sure to stay.
                    m.local = BTreeSet::from([m.versions.len() - 1]);
                }
            }
            Op::Push => {
                // Versions whose data gc deleted before they were pushed cannot go up; the rest must, and
                // the report names the ones left out.
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
                for v in 0..m.versions.len() {
                    let id = pointer_id(&r, &m.versions[v].0);
                    if left_out.contains(&id.as_str()) {
                        assert!(
                            !m.local.contains(&v),
                            "version {v} is in the cache but was not pushed"
                        );
                    } else {
                        m.pushed.insert(v);
                    }
                }
            }
            Op::PullFresh { version } => {
                let v = version as usize % m.versions.len();
                let clone = clone_of(&r);
                let (sha, snap) = &m.versions[v];
                let out = dv_command(clone.path())
                    .args(["pull", "--rev", sha])
                    .output()
                    .unwrap();
                if m.pushed.contains(&v) {
                    assert!(
                        out.status.success(),
                        "pull of pushed version {v} failed: {}",
                        String::from_utf8_lossy(&out.stderr)
                    );
                    assert!(
                        snapshot(&clone.path().join("data")) == *snap,
                        "fresh pull of version {v} differs"
                    );
                } else if out.status.success() {
                    // Its objects may have gone up with another version that shares them.
                    assert!(
                        snapshot(&clone.path().join("data")) == *snap,
                        "fresh pull of version {v} differs"
                    );
                } else {
                    assert_eq!(out.status.code(), Some(1), "pull of unpushed version {v}");
                    assert!(
                        !clone.path().join("data").exists(),
                        "a failed pull wrote data"
                    );
                }
            }
        }
    }
    // Every committed version: retrievable ones bit for bit, the others refused without damage.
    for v in 0..m.versions.len() {
        check_version(&r, &mut m, v, "at the end");
    }
    let fsck = r.dv(&["fsck"]);
    assert!(
        fsck.status.success(),
        "fsck: {}",
        String::from_utf8_lossy(&fsck.stdout)
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
    let (sha, snap) = m.versions[v].clone();
    if m.local.contains(&v) {
        r.ok(&["checkout", "--rev", &sha, "--force"]);
    } else if m.pushed.contains(&v) {
        r.ok(&["pull", "--rev", &sha, "--force"]);
        m.local.insert(v);
    } else {
        let before = data_snapshot(r);
        let out = r.dv(&["checkout", "--rev", &sha, "--force"]);
        if out.status.success() {
            // gc may have kept the objects (they can be shared with a version that is kept): then the
            // version must be whole.
            assert!(
                data_snapshot(r) == snap,
                "version {v} checked out wrong {when}"
            );
            m.local.insert(v);
            return;
        }
        assert_eq!(out.status.code(), Some(1), "version {v} {when}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("not in the local cache"), "{err}");
        assert!(
            data_snapshot(r) == before,
            "a refused checkout changed the work tree {when}"
        );
        return;
    }
    assert!(data_snapshot(r) == snap, "version {v} differs {when}");
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 10,
        max_shrink_iters: 30,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn every_committed_version_checks_out_bit_for_bit(ops in proptest::collection::vec(op(), 1..14)) {
        run_ops(&ops);
    }
}
