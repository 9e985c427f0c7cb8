//! A state machine over add / modify / commit / checkout / gc / push / pull, with a linked work tree sharing
//! the first clone's cache, a second clone of the same Git repository (through a bare hub repository) sharing
//! the dv remote with a cache of its own, and `gc --remote` from either clone, run with the real binary and
//! checked against a model of which objects each cache and the remote hold.
//!
//! The model works at the level of objects: each file content and each folder listing of a version is one
//! object key (file contents never share chunks: every write draws fresh random bytes, and a content is a
//! function of its seed and length). A version is in a cache exactly when its root listing is, since every
//! cache and the remote stay closed (each holds everything below each listing it holds: versions arrive
//! whole, and gc keeps what a kept object reaches). So the model knows, in each clone and for every commit
//! that clone has, whether checkout must succeed bit for bit, pull must fetch it, or both must fail leaving the
//! work tree as it was; and, from a clone with an empty cache, which versions the remote still serves.
//!
//! Local gc runs with `--grace 0 --repack-below 1`, which makes the cache hold exactly what its scope reaches.
//! `gc --remote` runs with the default grace period, which must delete nothing pushed in the test, or with
//! `--grace 0 --repack-below 1`, which must leave the remote holding exactly what the scope reaches (docs/
//! format.md, "Remote gc protocol"): the scope is the clone's work-tree pointer (and the linked work tree's),
//! with `--all-branches` the tip of every ref the clone has (its branches, the linked work tree's, and the
//! remote-tracking ones, as last fetched), with `--all-commits` every commit the clone's refs reach, its own
//! branch and the other clone's as last fetched; a version in scope whose root the cache lacks but the remote holds makes gc refuse (it cannot
//! see what the version reaches), and one that neither holds keeps nothing. After each `gc --remote`, `fsck`
//! and `fsck --remote` must be clean and every version must come back from the remote bit for bit or fail
//! cleanly, as predicted. Failing cases are kept in `tests/cli/statemachine.proptest-regressions` and
//! replayed first.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Output;

use proptest::prelude::*;
use proptest::test_runner::FileFailurePersistence;

use crate::common::*;

/// Which clone an operation runs in: `false` the first (A, with the linked work tree), `true` the second (B,
/// made by the first operation that names it).
type InB = bool;

#[derive(Clone, Debug)]
enum Op {
    /// Write file `file` of data/ with `len` bytes from `seed`.
    Write {
        b: InB,
        file: u8,
        seed: u64,
        len: u32,
    },
    /// Delete file `file` (never file 0, so data/ always holds something).
    Delete { b: InB, file: u8 },
    /// `dv add data` and `git commit`.
    Commit { b: InB },
    /// `dv checkout --rev` of a version whose commit the clone has (or `dv pull --rev` when only the remote
    /// has its data).
    Checkout { b: InB, version: u8 },
    /// `dv gc`, keeping the work trees' data and, as `scope` says, every branch tip's or every commit's.
    Gc { b: InB, scope: Scope },
    /// `dv push --all-commits`.
    Push { b: InB },
    /// One clone pushes its branch to the hub and the other fetches it (`to_b`: A's `main` to B).
    GitSync { to_b: bool },
    /// `dv gc --remote origin` with the `scope` flag, with `--grace 0 --repack-below 1` when `now`, else with
    /// the default grace period.
    RemoteGc { b: InB, scope: Scope, now: bool },
    /// `dv pull --rev` of a version in a clone with an empty cache: it must come back exactly when the remote
    /// holds it.
    PullFresh { version: u8 },
    /// In the linked work tree of A (made by the first such op): write its file and `dv add` it, without
    /// committing. Its data must survive every gc run from A.
    LinkedAdd { seed: u64, len: u32 },
}

/// What a gc keeps besides the work trees' versions.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Scope {
    /// Nothing more (no flag).
    WorkTrees,
    /// `--all-branches`: the versions at the tip of every ref, remote-tracking ones included.
    Branches,
    /// `--all-commits`: every version the refs reach.
    Commits,
}

impl Scope {
    fn flag(self) -> Option<&'static str> {
        match self {
            Scope::WorkTrees => None,
            Scope::Branches => Some("--all-branches"),
            Scope::Commits => Some("--all-commits"),
        }
    }
}

fn gc_scope() -> impl Strategy<Value = Scope> {
    prop_oneof![
        Just(Scope::WorkTrees),
        Just(Scope::Branches),
        Just(Scope::Commits)
    ]
}

const FILES: [&str; 4] = [
    "data/f0.bin",
    "data/f1.txt",
    "data/sub/f2.bin",
    "data/sub/deeper/f3",
];

fn in_b() -> impl Strategy<Value = bool> {
    prop::bool::weighted(0.35)
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (in_b(), 0u8..4, any::<u64>(), prop_oneof![1u32..2000, 20_000u32..300_000])
            .prop_map(|(b, file, seed, len)| Op::Write { b, file, seed, len }),
        1 => (in_b(), 1u8..4).prop_map(|(b, file)| Op::Delete { b, file }),
        3 => in_b().prop_map(|b| Op::Commit { b }),
        3 => (in_b(), any::<u8>()).prop_map(|(b, version)| Op::Checkout { b, version }),
        2 => (in_b(), gc_scope()).prop_map(|(b, scope)| Op::Gc { b, scope }),
        3 => in_b().prop_map(|b| Op::Push { b }),
        1 => any::<bool>().prop_map(|to_b| Op::GitSync { to_b }),
        3 => (in_b(), gc_scope(), prop::bool::weighted(0.75))
            .prop_map(|(b, scope, now)| Op::RemoteGc { b, scope, now }),
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
/// included), as dv stores them: a listing names its children by their keys. Returns the keys and the
/// root listing's key.
fn objects(snap: &Snapshot) -> (BTreeSet<String>, String) {
    let mut out = BTreeSet::new();
    let root = listing_key(snap, "", &mut out);
    (out, root)
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

#[derive(Clone)]
struct Version {
    /// The commit, made in clone `clone`.
    sha: String,
    clone: usize,
    /// The data folder's snapshot, its object keys and its root listing's key.
    snap: Snapshot,
    keys: BTreeSet<String>,
    root: String,
}

struct CloneModel {
    dir: PathBuf,
    /// Object keys the clone's cache holds.
    cache: BTreeSet<String>,
    /// The versions whose commits the clone's refs reach (its own, and the other's as last fetched).
    known: BTreeSet<usize>,
    /// The version the clone's work-tree `data.dv` names.
    pointer: usize,
    /// The version at the tip of each of the clone's refs (`heads/main`, `remotes/hub/b`, …).
    refs: std::collections::BTreeMap<String, usize>,
}

struct Model {
    versions: Vec<Version>,
    /// A, then B once made.
    clones: Vec<CloneModel>,
    /// Object keys the remote holds.
    remote: BTreeSet<String>,
    /// The linked work tree's added (uncommitted) data, if it was made: snapshot and keys.
    linked: Option<(Snapshot, BTreeSet<String>)>,
}

impl Model {
    fn in_cache(&self, c: usize, v: usize) -> bool {
        self.clones[c].cache.contains(&self.versions[v].root)
    }

    fn on_remote(&self, v: usize) -> bool {
        self.remote.contains(&self.versions[v].root)
    }

    /// The model's own invariant: every store holds whole versions' closures.
    fn check_closed(&self) {
        for v in &self.versions {
            for (name, store) in self
                .clones
                .iter()
                .map(|c| (c.dir.display().to_string(), &c.cache))
                .chain([("the remote".to_string(), &self.remote)])
            {
                if store.contains(&v.root) {
                    assert!(v.keys.is_subset(store), "model: {name} is not closed");
                }
            }
        }
    }
}

/// The temporary folders of one case.
struct World {
    a: TestRepo,
    linked: PathBuf,
    _remote: tempfile::TempDir,
    /// The bare Git repository both clones push to and fetch from, and B, once made.
    hub: Option<(tempfile::TempDir, tempfile::TempDir)>,
    /// A clone for pulls with an empty cache, once made.
    fresh: Option<tempfile::TempDir>,
}

fn data_snapshot(dir: &Path) -> Snapshot {
    if dir.join("data").exists() {
        snapshot(&dir.join("data"))
    } else {
        Vec::new()
    }
}

fn dv_at(dir: &Path, args: &[&str]) -> Output {
    dv_command(dir).args(args).output().expect("dv runs")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn run_ops(ops: &[Op]) {
    let a = TestRepo::new();
    let remote = folder_remote(&a);
    a.write(FILES[0], b"first");
    a.git(&["add", ".dv"]);
    let mut w = World {
        linked: a.path().with_extension("linked"),
        a,
        _remote: remote,
        hub: None,
        fresh: None,
    };
    let mut m = Model {
        versions: Vec::new(),
        clones: vec![CloneModel {
            dir: w.a.path().to_path_buf(),
            cache: BTreeSet::new(),
            known: BTreeSet::new(),
            pointer: 0,
            refs: Default::default(),
        }],
        remote: BTreeSet::new(),
        linked: None,
    };
    apply(&mut w, &mut m, &Op::Commit { b: false }, ops);
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        for op in ops {
            apply(&mut w, &mut m, op, ops);
            m.check_closed();
        }
        // In each clone, every version it has the commit of: retrievable ones bit for bit, the others
        // refused without damage; and from an empty cache, exactly what the remote holds.
        for c in 0..m.clones.len() {
            for v in m.clones[c].known.clone() {
                check_version(&mut m, c, v, "at the end");
            }
        }
        check_linked(&w.linked, &m, "at the end");
        let all: Vec<usize> = (0..m.versions.len()).collect();
        check_remote(&mut w, &m, &all, "at the end");
        for c in 0..m.clones.len() {
            assert_fsck_clean(&m, c, "at the end");
        }
    }));
    let _ = std::fs::remove_dir_all(&w.linked);
    if let Err(e) = result {
        std::panic::resume_unwind(e);
    }
}

/// `dv fsck --remote origin` is clean in clone `c`, and so is `dv fsck` when the cache holds the version
/// its work tree names (else it reports that version missing: B starts without its data).
fn assert_fsck_clean(m: &Model, c: usize, when: &str) {
    let dir = &m.clones[c].dir;
    let local = if m.in_cache(c, m.clones[c].pointer) {
        0
    } else {
        1
    };
    for (args, code) in [
        (&["fsck"][..], local),
        (&["fsck", "--remote", "origin"][..], 0),
    ] {
        let out = dv_at(dir, args);
        assert_eq!(
            out.status.code(),
            Some(code),
            "dv {args:?} in {} {when}:\n{}{}",
            dir.display(),
            text(&out.stdout),
            text(&out.stderr)
        );
    }
}

/// Makes clone B (and the hub) if it is not there yet, and returns the index of the clone `b` names.
fn clone_index(w: &mut World, m: &mut Model, b: InB) -> usize {
    if !b {
        return 0;
    }
    if w.hub.is_none() {
        let hub = tempfile::tempdir().unwrap();
        git_in(hub.path(), &["init", "-q", "--bare", "-b", "main"]);
        w.a.git(&["remote", "add", "hub", hub.path().to_str().unwrap()]);
        w.a.git(&["push", "-q", "hub", "main"]);
        let b = tempfile::tempdir().unwrap();
        git_in(
            b.path(),
            &["clone", "-q", hub.path().to_str().unwrap(), "."],
        );
        git_in(b.path(), &["checkout", "-q", "-b", "b"]);
        // B starts with the pointer of A's last commit and none of its data: only its own file.
        std::fs::create_dir_all(b.path().join("data")).unwrap();
        std::fs::write(b.path().join(FILES[0]), b"first in b").unwrap();
        let known: BTreeSet<usize> = (0..m.versions.len())
            .filter(|&v| m.versions[v].clone == 0)
            .collect();
        m.clones.push(CloneModel {
            dir: b.path().to_path_buf(),
            cache: BTreeSet::new(),
            known,
            pointer: m.clones[0].pointer,
            // `git clone` made `main` and `origin/main` at A's last commit, and `b` starts there.
            refs: ["heads/main", "heads/b", "remotes/origin/main"]
                .into_iter()
                .map(|r| (r.to_string(), m.clones[0].pointer))
                .collect(),
        });
        let a_head = m.clones[0].pointer;
        m.clones[0].refs.insert("remotes/hub/main".into(), a_head);
        w.hub = Some((hub, b));
    }
    1
}

fn apply(w: &mut World, m: &mut Model, op: &Op, ops: &[Op]) {
    match *op {
        Op::Write { b, file, seed, len } => {
            let c = clone_index(w, m, b);
            let p = m.clones[c].dir.join(FILES[file as usize]);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, content(seed, len)).unwrap();
        }
        Op::Delete { b, file } => {
            let c = clone_index(w, m, b);
            let _ = std::fs::remove_file(m.clones[c].dir.join(FILES[file as usize]));
        }
        Op::Commit { b } => {
            let c = clone_index(w, m, b);
            let dir = m.clones[c].dir.clone();
            ok_at(&dir, &["add", "data"]);
            git_in(&dir, &["commit", "-q", "--allow-empty", "-m", "version"]);
            let sha = git_in(&dir, &["rev-parse", "HEAD"]).trim().to_string();
            let snap = data_snapshot(&dir);
            let (keys, root) = objects(&snap);
            let clone = &mut m.clones[c];
            clone.cache.extend(keys.iter().cloned());
            clone.known.insert(m.versions.len());
            clone.pointer = m.versions.len();
            let branch = if c == 0 { "heads/main" } else { "heads/b" };
            clone.refs.insert(branch.into(), m.versions.len());
            m.versions.push(Version {
                sha,
                clone: c,
                snap,
                keys,
                root,
            });
        }
        Op::Checkout { b, version } => {
            let c = clone_index(w, m, b);
            let known: Vec<usize> = m.clones[c].known.iter().copied().collect();
            let v = known[version as usize % known.len()];
            check_version(m, c, v, &format!("after {ops:?}"));
        }
        Op::Gc { b, scope } => {
            let c = clone_index(w, m, b);
            let mut args = vec!["gc", "--grace", "0", "--repack-below", "1"];
            args.extend(scope.flag());
            ok_at(&m.clones[c].dir, &args);
            // The cache now holds exactly what the scope reaches: every work tree's pointer (the clone's
            // and, in A, the linked one's), and with `all` every commit's the clone has.
            let keep = scope_keys(m, c, scope, |_| true);
            let clone = &mut m.clones[c];
            clone.cache = clone.cache.intersection(&keep).cloned().collect();
            check_linked(&w.linked, m, &format!("after gc in {ops:?}"));
        }
        Op::Push { b } => {
            let c = clone_index(w, m, b);
            let dir = m.clones[c].dir.clone();
            // Exactly the versions in scope whose objects are in the cache or on the remote go up; the
            // report names the others.
            let out = dv_at(&dir, &["push", "--all-commits", "--json"]);
            let err = text(&out.stderr);
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
            for v in m.clones[c].known.clone() {
                let id = pointer_id(&dir, &m.versions[v].sha);
                let obtainable = m.in_cache(c, v) || m.on_remote(v);
                assert_eq!(
                    !left_out.contains(&id.as_str()),
                    obtainable,
                    "version {v}: push's report in clone {c} disagrees with the model after {ops:?}"
                );
                if obtainable {
                    sent.extend(m.versions[v].keys.iter().cloned());
                }
            }
            m.remote.extend(sent);
        }
        Op::GitSync { to_b } => {
            clone_index(w, m, true);
            let (a, b) = (m.clones[0].dir.clone(), m.clones[1].dir.clone());
            let (from, into) = if to_b { (0, 1) } else { (1, 0) };
            // (A clone's work-tree pointer is always its last commit's: checkout --rev leaves data.dv alone.)
            let (a_head, b_head) = (m.clones[0].pointer, m.clones[1].pointer);
            if to_b {
                git_in(&a, &["push", "-q", "hub", "main"]);
                git_in(&b, &["fetch", "-q", "origin"]);
                m.clones[0].refs.insert("remotes/hub/main".into(), a_head);
                m.clones[1]
                    .refs
                    .insert("remotes/origin/main".into(), a_head);
            } else {
                git_in(&b, &["push", "-q", "origin", "b"]);
                git_in(&a, &["fetch", "-q", "hub"]);
                m.clones[1].refs.insert("remotes/origin/b".into(), b_head);
                m.clones[0].refs.insert("remotes/hub/b".into(), b_head);
            }
            let theirs: Vec<usize> = (0..m.versions.len())
                .filter(|&v| m.versions[v].clone == from)
                .collect();
            m.clones[into].known.extend(theirs);
        }
        Op::RemoteGc { b, scope, now } => {
            let c = clone_index(w, m, b);
            let dir = m.clones[c].dir.clone();
            let mut args = vec!["gc", "--remote", "origin"];
            args.extend(scope.flag());
            if now {
                args.extend(["--grace", "0", "--repack-below", "1"]);
            }
            let out = dv_at(&dir, &args);
            let err = text(&out.stderr);
            let when = format!("after {ops:?}");
            // gc reads what a version in scope reaches from the cache: one the cache lacks but the remote
            // holds makes it refuse, before deleting anything.
            let blind = versions_in_scope(m, c, scope)
                .into_iter()
                .find(|&v| !m.in_cache(c, v) && m.on_remote(v));
            if let Some(v) = blind {
                assert_eq!(
                    out.status.code(),
                    Some(1),
                    "gc --remote in clone {c}, whose cache lacks version {v} in scope, {when}: {err}"
                );
                assert!(err.contains("run `dv fetch`"), "{err}");
            } else {
                assert!(
                    out.status.success(),
                    "gc --remote in clone {c} failed {when}: {err}"
                );
                if now {
                    // Nothing is young: the remote keeps exactly what the scope reaches.
                    let keep = scope_keys(m, c, scope, |v| m.in_cache(c, v));
                    m.remote = m.remote.intersection(&keep).cloned().collect();
                }
                // With the default grace period, everything pushed in the test is young and stays.
            }
            assert_fsck_clean(m, c, &when);
            let all_versions: Vec<usize> = (0..m.versions.len()).collect();
            check_remote(w, m, &all_versions, &when);
        }
        Op::PullFresh { version } => {
            let v = version as usize % m.versions.len();
            check_remote(w, m, &[v], &format!("after {ops:?}"));
        }
        Op::LinkedAdd { seed, len } => {
            let linked = &w.linked;
            if m.linked.is_none() {
                let a_head = m.clones[0].pointer;
                m.clones[0].refs.insert("heads/linked".into(), a_head);
                w.a.git(&[
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
            let (keys, _) = objects(&snap);
            m.clones[0].cache.extend(keys.iter().cloned());
            m.linked = Some((snap, keys));
        }
    }
}

/// The versions gc in clone `c` keeps: its work-tree pointer's, and every ref tip's or every commit's it has
/// as `scope` says.
fn versions_in_scope(m: &Model, c: usize, scope: Scope) -> BTreeSet<usize> {
    let mut s = BTreeSet::from([m.clones[c].pointer]);
    match scope {
        Scope::WorkTrees => {}
        Scope::Branches => s.extend(m.clones[c].refs.values().copied()),
        Scope::Commits => s.extend(m.clones[c].known.iter().copied()),
    }
    s
}

/// The object keys of the versions in `versions_in_scope(m, c, scope)` that `counts` accepts, and in A the
/// linked work tree's.
fn scope_keys(
    m: &Model,
    c: usize,
    scope: Scope,
    counts: impl Fn(usize) -> bool,
) -> BTreeSet<String> {
    let mut keep = BTreeSet::new();
    for v in versions_in_scope(m, c, scope) {
        if counts(v) {
            keep.extend(m.versions[v].keys.iter().cloned());
        }
    }
    if c == 0
        && let Some((_, keys)) = &m.linked
    {
        keep.extend(keys.iter().cloned());
    }
    keep
}

/// The linked work tree's added data can still be checked out there, bit for bit.
fn check_linked(linked: &Path, m: &Model, when: &str) {
    let Some((snap, _)) = &m.linked else {
        return;
    };
    std::fs::remove_dir_all(linked.join("data")).unwrap();
    let out = dv_command(linked).args(["checkout"]).output().unwrap();
    assert!(
        out.status.success(),
        "the linked work tree lost its data {when}: {}",
        text(&out.stderr)
    );
    assert!(
        data_snapshot(linked) == *snap,
        "the linked work tree's data differs {when}"
    );
}

/// The dataset id `data.dv` names at commit `sha`.
fn pointer_id(dir: &Path, sha: &str) -> String {
    let text = git_in(dir, &["show", &format!("{sha}:data.dv")]);
    let v: toml::Table = toml::from_str(&text).unwrap();
    v["id"].as_str().unwrap().to_string()
}

/// Materializes version `v` in clone `c`'s work tree and compares it with the model, or checks that it
/// cannot be.
fn check_version(m: &mut Model, c: usize, v: usize, when: &str) {
    let Version {
        sha, snap, keys, ..
    } = m.versions[v].clone();
    let dir = m.clones[c].dir.clone();
    if m.in_cache(c, v) {
        ok_at(&dir, &["checkout", "--rev", &sha, "--force"]);
    } else if m.on_remote(v) {
        ok_at(&dir, &["pull", "--rev", &sha, "--force"]);
        m.clones[c].cache.extend(keys);
    } else {
        let before = data_snapshot(&dir);
        for cmd in ["checkout", "pull"] {
            let out = dv_at(&dir, &[cmd, "--rev", &sha, "--force"]);
            let err = text(&out.stderr);
            assert_eq!(
                out.status.code(),
                Some(1),
                "version {v} is gone from clone {c}'s cache and the remote, yet {cmd} did not fail \
                 {when}: {err}"
            );
            if cmd == "checkout" {
                assert!(err.contains("not in the local cache"), "{err}");
            }
            assert!(
                data_snapshot(&dir) == before,
                "a refused {cmd} changed the work tree of clone {c} {when}"
            );
        }
        return;
    }
    assert!(
        data_snapshot(&dir) == snap,
        "version {v} differs in clone {c} {when}"
    );
}

/// `dv pull --rev` of each version in `versions`, each time in a clone with an empty cache: it comes back bit
/// for bit exactly when the model says the remote holds it, and otherwise fails writing nothing.
fn check_remote(w: &mut World, m: &Model, versions: &[usize], when: &str) {
    let fresh = w.fresh.get_or_insert_with(|| clone_of(&w.a)).path();
    git_in(
        fresh,
        &[
            "fetch",
            "-q",
            w.a.path().to_str().unwrap(),
            "+refs/heads/*:refs/remotes/a/*",
        ],
    );
    if let Some((_, b)) = &w.hub {
        git_in(
            fresh,
            &[
                "fetch",
                "-q",
                b.path().to_str().unwrap(),
                "+refs/heads/*:refs/remotes/b/*",
            ],
        );
    }
    for &v in versions {
        // No cache, no stat cache, no data: only the remote can serve the version.
        git_in(fresh, &["clean", "-q", "-f", "-d", "-x"]);
        let out = dv_at(fresh, &["pull", "--rev", &m.versions[v].sha]);
        if m.on_remote(v) {
            assert!(
                out.status.success(),
                "pull of version {v}, which the remote holds, from an empty cache failed {when}: {}",
                text(&out.stderr)
            );
            assert!(
                data_snapshot(fresh) == m.versions[v].snap,
                "version {v} pulled from the remote differs {when}"
            );
        } else {
            assert_eq!(
                out.status.code(),
                Some(1),
                "pull of version {v}, which the remote lacks, {when}: {}",
                text(&out.stderr)
            );
            assert!(
                !fresh.join("data").exists(),
                "a failed pull wrote data {when}"
            );
        }
    }
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
    fn every_committed_version_checks_out_bit_for_bit_1(ops in proptest::collection::vec(op(), 1..24)) {
        run_ops(&ops);
    }

    #[test]
    fn every_committed_version_checks_out_bit_for_bit_2(ops in proptest::collection::vec(op(), 1..24)) {
        run_ops(&ops);
    }

    #[test]
    fn every_committed_version_checks_out_bit_for_bit_3(ops in proptest::collection::vec(op(), 1..24)) {
        run_ops(&ops);
    }

    #[test]
    fn every_committed_version_checks_out_bit_for_bit_4(ops in proptest::collection::vec(op(), 1..24)) {
        run_ops(&ops);
    }
}
