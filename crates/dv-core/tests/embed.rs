//! The core, embedded: a program (this test) versions data through `dv_core` alone, in a real Git repository,
//! without the `dv` binary: init, add, commit, add again, then read, check out and compare versions in-process.

use std::path::Path;
use std::process::Command;

use dv_core::ops::add::AddOptions;
use dv_core::ops::checkout::CheckoutOptions;
use dv_core::ops::datasets::{InVersion, Source, Target, resolve_targets};
use dv_core::ops::treediff::FileChange;
use dv_core::progress::NoProgress;
use dv_core::store::Store;
use dv_core::{Error, repo::Repo};

fn git(dir: &Path, args: &[&str]) {
    let out = Command::new("git")
        .args([
            "-c",
            "user.name=t",
            "-c",
            "user.email=t@t",
            "-c",
            "commit.gpgsign=false",
        ])
        .args(args)
        .current_dir(dir)
        .output()
        .expect("git runs");
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The bytes of `path` in the version `targets` name, read from the cache.
fn read_at(store: &Store, targets: &[Target], path: &str) -> Vec<u8> {
    let t = targets
        .iter()
        .find(|t| path.starts_with(&t.dataset.path))
        .unwrap();
    let InVersion::Node(node) = t.dataset.node_at(store, path).unwrap() else {
        panic!("{path} is not in the version");
    };
    let mut out = Vec::new();
    assert_eq!(store.copy_file(&node, &mut out).unwrap(), node.size);
    out
}

#[test]
fn a_program_adds_reads_checks_out_and_compares_versions_in_process() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    git(root, &["init", "-q"]);
    let (repo, created) = Repo::init(root).unwrap();
    assert!(created);
    std::fs::create_dir_all(root.join("data/sub")).unwrap();
    // Big enough to be chunked (several chunks), with a small file beside it.
    let big: Vec<u8> = (0..3_000_000u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    std::fs::write(root.join("data/sub/big.bin"), &big).unwrap();
    std::fs::write(root.join("data/a.txt"), b"one").unwrap();
    // The stat cache does not vouch for a file changed within its racy window (a quarter second): wait it out,
    // so that the next add can skip the big file.
    std::thread::sleep(std::time::Duration::from_millis(250));

    let session = repo.open().unwrap();
    let (repo, store) = (session.repo(), session.store());
    let staged = AddOptions {
        stage: true,
        ..Default::default()
    };
    let added = {
        let locked = session.lock().unwrap();
        dv_core::ops::add::add(&locked, &["data".into()], &staged, &NoProgress).unwrap()
    };
    assert_eq!((added.files, added.bytes), (2, 3_000_003));
    assert!(
        added.staged.contains(&"data.dv".to_string()),
        "{:?}",
        added.staged
    );
    git(root, &["add", "-A"]);
    git(root, &["commit", "-qm", "v1"]);

    std::fs::write(root.join("data/a.txt"), b"two").unwrap();
    {
        let locked = session.lock().unwrap();
        let again =
            dv_core::ops::add::add(&locked, &["data".into()], &staged, &NoProgress).unwrap();
        // Only the changed file was read again; the big file's chunks were already stored.
        assert_eq!(again.hashed_files, 1);
    }
    git(root, &["commit", "-qm", "v2"]);

    // Versions at revisions, read without touching the work tree.
    let gitrepo = session.git().unwrap();
    let at = |rev: &str| {
        let source = Source::Rev {
            git: gitrepo,
            commit: gitrepo.resolve(rev).unwrap(),
        };
        resolve_targets(repo, &source, &[]).unwrap()
    };
    let (v1, v2) = (at("HEAD~1"), at("HEAD"));
    assert_eq!(read_at(store, &v1, "data/a.txt"), b"one");
    assert_eq!(read_at(store, &v2, "data/a.txt"), b"two");
    assert_eq!(read_at(store, &v1, "data/sub/big.bin"), big);
    // What changed between them.
    let diff = dv_core::ops::treediff::diff(
        store,
        "data",
        Some(&v1[0].dataset.pointer.node),
        Some(&v2[0].dataset.pointer.node),
    )
    .unwrap();
    let changed: Vec<(&str, &FileChange)> = diff
        .files
        .iter()
        .map(|f| (f.path.as_str(), &f.change))
        .collect();
    assert_eq!(changed, [("data/a.txt", &FileChange::Modified)]);

    // Check out v1 into the work tree: the file comes back, and status then differs from the pointer (v2).
    {
        let locked = session.lock().unwrap();
        let report = dv_core::ops::checkout::checkout(
            &locked,
            &v1,
            &CheckoutOptions::default(),
            &mut || Ok(()),
            &NoProgress,
        )
        .unwrap();
        assert_eq!(report.files_written, 1);
    }
    assert_eq!(std::fs::read(root.join("data/a.txt")).unwrap(), b"one");
    let work = resolve_targets(repo, &Source::WorkTree, &[]).unwrap();
    let status = dv_core::ops::status::status(&session, &work).unwrap();
    assert_eq!(
        status.datasets[0].state,
        dv_core::ops::status::DatasetState::Modified
    );

    // A version the cache cannot serve is an error naming what is missing, never wrong bytes.
    let missing = dv_core::ops::datasets::Dataset::from_pointer(
        "gone",
        &std::fs::read(root.join("data.dv")).unwrap(),
        "test",
    )
    .unwrap();
    assert!(matches!(
        missing.node_at(store, "gone/nothing"),
        Ok(InVersion::Absent)
    ));
    let err = resolve_targets(repo, &Source::WorkTree, &["nope".into()]).unwrap_err();
    assert!(
        matches!(err, Error::NotTracked(_) | Error::NotFound(_)),
        "{err}"
    );
}

/// A session's lock is the cache's: while one session of a work tree holds it, another (of the same work tree
/// or of a linked one) waits and then gives up naming the holder; once the first lets go, the second takes it.
#[test]
fn a_locked_session_keeps_other_writers_out_until_dropped() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    git(root, &["init", "-q"]);
    let (repo, _) = Repo::init(root).unwrap();
    let first = repo.open().unwrap();
    let mut other = Repo::discover(root).unwrap();
    other.lock_wait.timeout = std::time::Duration::from_millis(200);
    other.lock_wait.command = "second".into();
    let second = other.open().unwrap();
    let held = first.lock().unwrap();
    match second.lock() {
        Err(Error::Locked { .. }) => {}
        Err(e) => panic!("expected the lock to be held, got {e}"),
        Ok(_) => panic!("two sessions held the cache lock at once"),
    }
    drop(held);
    assert!(second.lock().is_ok());
}

/// docs/architecture.md shows examples/embed.rs as it is (the example is compiled; the copy in the docs must
/// not drift from it).
#[test]
fn the_documented_example_is_the_compiled_one() {
    let here = Path::new(env!("CARGO_MANIFEST_DIR"));
    let example = std::fs::read_to_string(here.join("examples/embed.rs")).unwrap();
    let docs = std::fs::read_to_string(here.join("../../docs/architecture.md")).unwrap();
    assert!(
        docs.contains(&format!("```rust\n{example}```")),
        "docs/architecture.md's copy of examples/embed.rs differs"
    );
}
