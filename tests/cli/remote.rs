//! Remotes: every scenario runs against a folder remote and against a real S3 server on 127.0.0.1 (s3s-fs,
//! started inside the test process, checking request signatures), through the same object_store code path.

use crate::common::*;
use crate::s3_server::S3Server;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

pub(crate) fn run_dv(dir: &Path, args: &[&str]) -> std::process::Output {
    dv_command(dir).args(args).output().unwrap()
}

pub(crate) fn ok_json(dir: &Path, args: &[&str]) -> serde_json::Value {
    let mut a = args.to_vec();
    a.push("--json");
    let out = run_dv(dir, &a);
    assert!(
        out.status.success(),
        "dv {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// One S3 server for the whole test binary; each test gets its own bucket.
fn shared_server() -> &'static S3Server {
    static SERVER: OnceLock<S3Server> = OnceLock::new();
    SERVER.get_or_init(S3Server::start)
}

fn new_bucket_name() -> String {
    use std::sync::atomic::{AtomicUsize, Ordering};
    static N: AtomicUsize = AtomicUsize::new(0);
    format!("bucket-{}", N.fetch_add(1, Ordering::SeqCst))
}

/// Where a test's remote lives.
pub(crate) enum Backend {
    Folder(tempfile::TempDir),
    S3 {
        server: &'static S3Server,
        bucket: String,
        /// A prefix inside the bucket, to check prefixes work.
        prefix: &'static str,
    },
}

impl Backend {
    pub(crate) fn folder() -> Backend {
        Backend::Folder(tempfile::tempdir().unwrap())
    }

    pub(crate) fn s3() -> Backend {
        let server = shared_server();
        let bucket = new_bucket_name();
        server.bucket(&bucket);
        Backend::S3 {
            server,
            bucket,
            prefix: "team/datasets",
        }
    }

    fn url(&self) -> String {
        match self {
            Backend::Folder(d) => d.path().to_str().unwrap().to_string(),
            Backend::S3 { bucket, prefix, .. } => format!("s3://{bucket}/{prefix}"),
        }
    }

    /// The folder where the remote's files are (for S3: s3s-fs keeps objects as files).
    pub(crate) fn files(&self) -> PathBuf {
        match self {
            Backend::Folder(d) => d.path().to_path_buf(),
            Backend::S3 {
                server,
                bucket,
                prefix,
            } => server.bucket_dir(bucket).join(prefix),
        }
    }

    /// Adds the remote as `origin` (the default) with the settings it needs.
    pub(crate) fn configure(&self, r: &TestRepo) {
        r.ok(&["remote", "add", "origin", &self.url()]);
        if let Backend::S3 { server, .. } = self {
            configure_s3(r, &server.endpoint());
        }
    }
}

/// Points remote `origin` at the test S3 server at `endpoint` (plain HTTP, its region).
pub(crate) fn configure_s3(r: &TestRepo, endpoint: &str) {
    r.ok(&["remote", "modify", "origin", "endpoint", endpoint]);
    r.ok(&["remote", "modify", "origin", "allow_http", "true"]);
    r.ok(&[
        "remote",
        "modify",
        "origin",
        "region",
        crate::s3_server::REGION,
    ]);
}

/// Runs a scenario against both backends.
macro_rules! both_backends {
    ($scenario:ident: $folder:ident, $s3:ident) => {
        #[test]
        fn $folder() {
            $scenario(Backend::folder());
        }
        #[test]
        fn $s3() {
            $scenario(Backend::s3());
        }
    };
}
pub(crate) use both_backends;

/// A repo with a dataset committed and the remote configured (committed too).
pub(crate) fn origin_with_remote(b: &Backend) -> TestRepo {
    let r = TestRepo::new();
    b.configure(&r);
    r.git(&["add", ".dv"]);
    r.write("data/big.bin", &bytes(1, 3_000_000));
    r.write("data/small/a.txt", b"alpha");
    r.write("data/small/b.txt", b"beta");
    r.ok(&["add", "data"]);
    r.git(&["commit", "-q", "-m", "v1"]);
    r
}

#[test]
fn remote_add_list_modify_remove() {
    let r = TestRepo::new();
    r.ok(&["remote", "add", "origin", "/srv/dv-store"]);
    r.ok(&["remote", "add", "backup", "file:///mnt/backup", "--default"]);
    let list = r.json(&["remote", "list"]);
    assert_eq!(list[0]["name"], "backup");
    assert_eq!(list[0]["default"], true);
    assert_eq!(list[1]["url"], "/srv/dv-store");
    r.ok(&["remote", "modify", "origin", "region", "eu-west-1"]);
    let config = String::from_utf8(r.read(".dv/config.toml")).unwrap();
    assert!(
        config.contains("[remote.origin]\nurl = \"/srv/dv-store\"\nregion = \"eu-west-1\"\n"),
        "{config}"
    );
    assert!(config.contains("remote = \"backup\""), "{config}");
    r.ok(&["remote", "modify", "origin", "region", "--unset"]);
    r.ok(&["remote", "remove", "backup"]);
    let list = r.json(&["remote", "list"]);
    assert_eq!(list.as_array().unwrap().len(), 1);

    let err = r.fails(&["remote", "add", "origin", "/x"]);
    assert!(err.contains("a remote with this name exists"), "{err}");
    let err = r.fails(&["remote", "add", "bad/name", "/x"]);
    assert!(err.contains("not a valid remote name"), "{err}");
    let err = r.fails(&["remote", "add", "x", "file://relative"]);
    assert!(err.contains("absolute path"), "{err}");
    let err = r.fails(&["remote", "modify", "origin", "password", "hunter2"]);
    assert!(err.contains("unknown setting"), "{err}");
    let err = r.fails(&["remote", "remove", "nope"]);
    assert!(err.contains("no remote named 'nope'"), "{err}");
    let err = r.fails(&["push", "-r", "nope"]);
    assert!(err.contains("no remote named 'nope'"), "{err}");
}

/// A remote name may hold a dot (`my.r`): the config then names it `[remote."my.r"]`, which reads back as that
/// remote (written bare, `[remote.my.r]` read back as nested tables, and every later command failed on the
/// config), and the data goes there and back.
#[test]
fn a_remote_named_with_a_dot_round_trips_through_the_config() {
    let r = TestRepo::new();
    let outside = tempfile::tempdir().unwrap();
    let store = outside.path().join("store.r");
    let url = store.display().to_string();
    r.ok(&["remote", "add", "my.r", &url]);
    let config = String::from_utf8(r.read(".dv/config.toml")).unwrap();
    assert!(config.contains("[remote.\"my.r\"]\n"), "{config}");
    let list = r.json(&["remote", "list"]);
    assert_eq!(list[0]["name"], "my.r", "{list}");
    r.ok(&["remote", "modify", "my.r", "region", "eu-west-1"]);
    r.write("data/a.txt", b"alpha");
    r.ok(&["add", "data"]);
    r.ok(&["push", "-r", "my.r"]);
    assert!(store.join("packs").is_dir());
    r.ok(&["remote", "remove", "my.r"]);
    assert_eq!(r.json(&["remote", "list"]).as_array().unwrap().len(), 0);
}

both_backends!(push_then_clone_and_pull_gives_identical_bytes: push_clone_pull_folder, push_clone_pull_s3);

fn push_then_clone_and_pull_gives_identical_bytes(b: Backend) {
    let r = origin_with_remote(&b);
    let before = r.json(&["status", "--remote"]);
    let st = &before["datasets"][0]["remote"];
    assert_eq!(st["pushed"], false, "{before}");
    assert!(
        st["missing_bytes"].as_u64().unwrap() > 3_000_000,
        "{before}"
    );
    let text = r.ok(&["status", "-c"]);
    assert!(
        text.contains("data: unchanged, not pushed to 'origin' ("),
        "{text}"
    );
    assert_eq!(
        r.dv(&["status", "-c", "--exit-code"]).status.code(),
        Some(1)
    );
    let pushed = r.json(&["push"]);
    assert_eq!(pushed["objects"], st["missing_objects"]);
    assert_eq!(pushed["bytes"], st["missing_bytes"]);
    let text = r.ok(&["status", "--remote", "origin", "--exit-code"]);
    assert!(
        text.contains("data: unchanged, pushed to 'origin'"),
        "{text}"
    );
    assert!(pushed["objects"].as_u64().unwrap() > 3);
    assert_eq!(pushed["packs"], 1);
    // A second push has nothing to send.
    let again = r.json(&["push"]);
    assert_eq!(again["objects"], 0);
    assert_eq!(
        again["skipped"], 1,
        "the remote has the root tree, so it has everything below it"
    );

    let clone = clone_of(&r);
    let pulled = ok_json(clone.path(), &["pull"]);
    assert_eq!(pulled["fetch"]["objects"], pushed["objects"]);
    assert_eq!(pulled["checkout"]["files_written"], 3);
    assert_eq!(snapshot(&clone.path().join("data")), snapshot(&r.p("data")));
    let status = ok_json(clone.path(), &["status"]);
    assert_eq!(status["datasets"][0]["state"], "unchanged");
    assert_eq!(status["datasets"][0]["in_cache"], true);
}

both_backends!(pulling_the_next_version_moves_only_changed_chunks: next_version_folder, next_version_s3);

fn pulling_the_next_version_moves_only_changed_chunks(b: Backend) {
    let r = origin_with_remote(&b);
    r.ok(&["push"]);
    let clone = clone_of(&r);
    ok_json(clone.path(), &["pull"]);

    let mut v2 = bytes(1, 3_000_000);
    v2[1_500_000..1_500_100].fill(9);
    r.write("data/big.bin", &v2);
    r.ok(&["add", "data"]);
    r.git(&["commit", "-q", "-m", "v2"]);
    let pushed = r.json(&["push"]);
    // One or two changed chunks (at most 256 KiB each), a manifest and the trees up to the root.
    assert!(pushed["bytes"].as_u64().unwrap() < 600_000, "{pushed}");

    git_in(clone.path(), &["pull", "-q"]);
    let pulled = ok_json(clone.path(), &["pull"]);
    let moved = pulled["fetch"]["bytes"].as_u64().unwrap();
    assert_eq!(
        moved,
        pushed["bytes"].as_u64().unwrap(),
        "exactly what was pushed for v2"
    );
    assert_eq!(
        clone.path().join("data/big.bin").metadata().unwrap().len(),
        3_000_000
    );
    assert_eq!(
        std::fs::read(clone.path().join("data/big.bin")).unwrap(),
        v2
    );
}

/// `dv push --json` in `r`: the report, and how many trees and manifests its first walk read from the cache.
pub(crate) fn push_reading(r: &TestRepo) -> (serde_json::Value, u64) {
    let out = dv_command(r.path())
        .args(["push", "--json"])
        .env("DV_LOG", "dv_core::ops::transfer=debug")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(out.status.success(), "{err}");
    let read = err
        .lines()
        .find(|l| l.contains(" walked "))
        .and_then(|l| l.split("read=").nth(1))
        .and_then(|n| n.split_whitespace().next()?.parse::<u64>().ok())
        .unwrap_or_else(|| panic!("no count of nodes read in: {err}"));
    (serde_json::from_slice(&out.stdout).unwrap(), read)
}

/// A push walks only below what the remote does not hold whole: after a one-file edit it reads the trees on
/// the way to that file, not every folder. Once a pack the remote held is gone (a gc, damage, a hand), what
/// this clone knew of the remote is forgotten: the next push walks everything again, sends what was lost,
/// and a fresh clone pulls every file back.
fn a_push_reads_only_what_changed_until_the_remote_loses_a_pack(b: Backend) {
    let r = TestRepo::new();
    b.configure(&r);
    r.git(&["add", ".dv"]);
    for d in 0..20u64 {
        for f in 0..3u64 {
            r.write(&format!("data/d{d:02}/f{f}.bin"), &bytes(d * 10 + f, 3_000));
        }
    }
    r.ok(&["add", "data"]);
    let (first, read) = push_reading(&r);
    assert_eq!(read, 21, "the root and its 20 folders: {first}");
    let v1_packs: Vec<PathBuf> = std::fs::read_dir(b.files().join("packs"))
        .unwrap()
        .flat_map(|shard| std::fs::read_dir(shard.unwrap().path()).unwrap())
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "pack"))
        .collect();
    assert!(!v1_packs.is_empty());

    r.write("data/d07/f1.bin", &bytes(999, 3_000));
    r.ok(&["add", "data"]);
    r.git(&["commit", "-q", "-m", "v2"]);
    let (second, read) = push_reading(&r);
    assert_eq!(read, 2, "the new root and d07 only: {second}");
    assert_eq!(second["objects"], 3, "a chunk and two trees: {second}");

    // The remote loses v1's packs (index first, as a gc deletes them).
    for pack in &v1_packs {
        let id = pack.file_stem().unwrap().to_str().unwrap();
        std::fs::remove_file(b.files().join("index").join(format!("{id}.idx"))).unwrap();
        std::fs::remove_file(pack).unwrap();
    }
    let (third, read) = push_reading(&r);
    assert_eq!(read, 21, "everything walked again: {third}");
    // 59 unchanged chunks and 19 unchanged folders went with v1's packs.
    assert_eq!(third["objects"], 59 + 19, "{third}");
    let clone = clone_of(&r);
    ok_json(clone.path(), &["pull"]);
    assert_eq!(snapshot(&clone.path().join("data")), snapshot(&r.p("data")));
    // Known again: nothing to read below the root.
    let (fourth, read) = push_reading(&r);
    assert_eq!((fourth["objects"].as_u64(), read), (Some(0), 0), "{fourth}");
}

both_backends!(
    a_push_reads_only_what_changed_until_the_remote_loses_a_pack:
        a_push_after_an_edit_reads_what_changed_folder,
        a_push_after_an_edit_reads_what_changed_s3
);

both_backends!(partial_pull_fetches_about_one_file: partial_pull_folder, partial_pull_s3);

fn partial_pull_fetches_about_one_file(b: Backend) {
    let r = origin_with_remote(&b);
    r.ok(&["push"]);
    let clone = clone_of(&r);
    let pulled = ok_json(clone.path(), &["pull", "data/small/a.txt"]);
    assert_eq!(
        std::fs::read(clone.path().join("data/small/a.txt")).unwrap(),
        b"alpha"
    );
    assert!(!clone.path().join("data/big.bin").exists());
    // The file, plus the trees on its path; nothing of the 3 MB file.
    assert!(
        pulled["fetch"]["bytes"].as_u64().unwrap() < 2_000,
        "{pulled}"
    );
}

both_backends!(a_corrupted_object_on_the_remote_is_detected_and_nothing_is_written: corrupted_object_folder, corrupted_object_s3);

fn a_corrupted_object_on_the_remote_is_detected_and_nothing_is_written(b: Backend) {
    let r = origin_with_remote(&b);
    r.ok(&["push"]);
    let packs = files_below(&b.files().join("packs"));
    let originals: Vec<Vec<u8>> = packs.iter().map(|p| std::fs::read(p).unwrap()).collect();
    // Near the end, the root tree (read before any file is written); in the middle, a chunk of big.bin (read
    // while the pull writes files straight from the fetch).
    let ats: [fn(usize) -> usize; 2] = [|n| n - 100, |n| n / 2];
    for at in ats {
        for (pack, original) in packs.iter().zip(&originals) {
            let mut b = original.clone();
            b[at(original.len())] ^= 0x55;
            std::fs::write(pack, b).unwrap();
        }
        let clone = clone_of(&r);
        let out = run_dv(clone.path(), &["pull"]);
        let err = String::from_utf8(out.stderr).unwrap();
        assert_eq!(out.status.code(), Some(1), "{err}");
        assert!(
            err.contains("remote 'origin': object ") && err.contains(" in pack "),
            "{err}"
        );
        assert!(
            !clone.path().join("data").exists(),
            "nothing written into the work tree, not even a folder"
        );
        // The cache holds only verified objects: a status check reports the dataset incomplete, not corrupt.
        let status = ok_json(clone.path(), &["status"]);
        assert_eq!(status["datasets"][0]["in_cache"], false);
    }
}

both_backends!(a_pull_writes_every_file_bit_for_bit_straight_from_the_fetch_or_from_the_cache: direct_pull_folder, direct_pull_s3);

/// A pull writes the files it fetches straight from the fetched chunks, and the rest from the cache: files
/// sharing chunks with each other, a chunk repeated within a file, an empty file, an executable, a file that
/// becomes a folder, a file that shares chunks with the version already there.
fn a_pull_writes_every_file_bit_for_bit_straight_from_the_fetch_or_from_the_cache(b: Backend) {
    let r = TestRepo::new();
    b.configure(&r);
    r.git(&["add", ".dv"]);
    let big = bytes(7, 2_000_000);
    let block = bytes(8, 700_000);
    r.write("data/big.bin", &big);
    r.write("data/copy-of-big.bin", &big);
    r.write("data/repeats.bin", &[&block[..], &block, &block].concat());
    r.write("data/empty", b"");
    r.write("data/tool.sh", b"#!/bin/sh\necho hi\n");
    std::fs::set_permissions(
        r.p("data/tool.sh"),
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    r.write("data/x", b"a file, then a folder");
    r.ok(&["add", "data"]);
    r.git(&["commit", "-q", "-m", "v1"]);
    r.ok(&["push"]);

    let pull = |dir: &Path| {
        let (direct, stdout) = direct_writes(dir, &["pull", "--json"]);
        let report: serde_json::Value = serde_json::from_slice(&stdout).unwrap();
        (direct, report)
    };
    let clone = clone_of(&r);
    let (direct, report) = pull(clone.path());
    assert_eq!(snapshot(&clone.path().join("data")), snapshot(&r.p("data")));
    assert_eq!(report["checkout"]["files_written"], 6);
    assert_eq!(direct, 6, "every file came straight from the fetch");
    assert_no_temp_files(clone.path(), "pull");

    // v2: big.bin keeps most of its chunks (in the clone's cache already), x becomes a folder, a new file.
    let mut big2 = big.clone();
    big2[1_000_000..1_000_010].fill(0);
    r.write("data/big.bin", &big2);
    std::fs::remove_file(r.p("data/x")).unwrap();
    r.write("data/x/inside.txt", b"now a folder");
    r.write("data/new.bin", &bytes(9, 300_000));
    r.ok(&["add", "data"]);
    r.git(&["commit", "-q", "-m", "v2"]);
    r.ok(&["push"]);
    git_in(clone.path(), &["pull", "-q"]);
    let (direct, report) = pull(clone.path());
    assert_eq!(snapshot(&clone.path().join("data")), snapshot(&r.p("data")));
    assert_eq!(report["checkout"]["files_written"], 3);
    assert_eq!(
        direct, 1,
        "new.bin from the fetch; big.bin (chunks cached) and x/inside.txt (below a file to delete) from the cache"
    );
    assert_no_temp_files(clone.path(), "pull");
    let status = ok_json(clone.path(), &["status"]);
    assert_eq!(status["datasets"][0]["state"], "unchanged", "{status}");
}

/// A pull plans its checkout before the bulk of the data arrives, to write files straight from the fetch; a
/// file the user edits meanwhile must still count as a local change when the checkout happens.
#[test]
fn a_file_edited_while_a_pull_fetches_is_not_overwritten() {
    // A server of its own: this test holds its reads.
    let server = S3Server::start();
    server.bucket("held");
    let r = TestRepo::new();
    r.ok(&["remote", "add", "origin", "s3://held"]);
    configure_s3(&r, &server.endpoint());
    r.git(&["add", ".dv"]);
    r.write("data/a.txt", b"version 1");
    r.write("data/big.bin", &bytes(3, 1_000_000));
    r.ok(&["add", "data"]);
    r.git(&["commit", "-q", "-m", "v1"]);
    r.ok(&["push"]);
    let clone = clone_of(&r);
    ok_at(clone.path(), &["pull"]);

    r.write("data/a.txt", b"version 2");
    r.write("data/big.bin", &bytes(4, 1_000_000));
    r.ok(&["add", "data"]);
    r.git(&["commit", "-q", "-m", "v2"]);
    r.ok(&["push"]);
    git_in(clone.path(), &["pull", "-q"]);

    // The fetch reads the root tree, then big.bin's manifest, then the file contents: hold those.
    server.hold_pack_gets_from(3);
    let child = dv_command(clone.path())
        .args(["pull"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while server.held_pack_gets() == 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "the pull never asked for the file contents"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    std::fs::write(clone.path().join("data/a.txt"), b"edited during the pull").unwrap();
    server.release_pack_gets();
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("would overwrite or delete local changes") && err.contains("data/a.txt"),
        "{err}"
    );
    assert_eq!(
        std::fs::read(clone.path().join("data/a.txt")).unwrap(),
        b"edited during the pull"
    );
    assert_no_temp_files(clone.path(), "pull");
    // Everything was fetched all the same: --force needs no remote.
    server.hold_pack_gets_from(1);
    ok_at(clone.path(), &["checkout", "--force"]);
    server.release_pack_gets();
    assert_eq!(snapshot(&clone.path().join("data")), snapshot(&r.p("data")));
}

both_backends!(two_clones_pushing_to_one_remote_lose_nothing: two_clones_folder, two_clones_s3);

fn two_clones_pushing_to_one_remote_lose_nothing(backend: Backend) {
    let r = origin_with_remote(&backend);
    let a = clone_of(&r);
    let b = clone_of(&r);
    r.ok(&["push"]);
    for (dir, name, seed) in [(&a, "from-a", 11), (&b, "from-b", 22)] {
        std::fs::create_dir_all(dir.path().join(name)).unwrap();
        std::fs::write(dir.path().join(name).join("f.bin"), bytes(seed, 50_000)).unwrap();
        ok_json(dir.path(), &["add", name]);
    }
    // Both push at the same time.
    let ha = dv_command(a.path()).args(["push"]).spawn().unwrap();
    let hb = dv_command(b.path()).args(["push"]).spawn().unwrap();
    assert!(ha.wait_with_output().unwrap().status.success());
    assert!(hb.wait_with_output().unwrap().status.success());
    // A third clone gets both datasets.
    let c = clone_of(&r);
    for (dir, name) in [(&a, "from-a"), (&b, "from-b")] {
        std::fs::copy(
            dir.path().join(format!("{name}.dv")),
            c.path().join(format!("{name}.dv")),
        )
        .unwrap();
    }
    ok_json(c.path(), &["pull", "from-a", "from-b"]);
    assert_eq!(
        std::fs::read(c.path().join("from-a/f.bin")).unwrap(),
        bytes(11, 50_000)
    );
    assert_eq!(
        std::fs::read(c.path().join("from-b/f.bin")).unwrap(),
        bytes(22, 50_000)
    );
}

/// A repo whose S3 remote points at `server`, with `data/` made of `len` random bytes in `files` files.
fn s3_origin(server: &S3Server, bucket: &str, files: usize, len: usize) -> TestRepo {
    server.bucket(bucket);
    let r = TestRepo::new();
    r.ok(&["remote", "add", "origin", &format!("s3://{bucket}")]);
    configure_s3(&r, &server.endpoint());
    r.git(&["add", ".dv"]);
    for i in 0..files {
        r.write(
            &format!("data/f{i}.bin"),
            &bytes(100 + i as u64, len / files),
        );
    }
    r.ok(&["add", "data"]);
    r.git(&["commit", "-q", "-m", "data"]);
    r
}

/// What committed trees and manifests in an S3 test bucket name that no committed index lists. The closure rule
/// says nothing, at any moment of a push: indexes commit in order, and children go up before their parents.
fn closure_violations(bucket_dir: &Path) -> Vec<String> {
    use dv_core::ObjectId;
    use dv_core::store::object::{Manifest, ObjectKind, Tree};
    use dv_core::store::pack::{self, IndexEntry, PackIndex};
    let mut committed: std::collections::HashMap<ObjectId, (ObjectId, IndexEntry)> =
        std::collections::HashMap::new();
    let index_dir = bucket_dir.join("index");
    if index_dir.is_dir() {
        for path in files_below(&index_dir) {
            let index = PackIndex::decode(&std::fs::read(&path).unwrap()).unwrap();
            for e in index.entries {
                committed.insert(e.id, (index.pack_id, e));
            }
        }
    }
    let mut out = Vec::new();
    for (id, (pack_id, e)) in &committed {
        if !matches!(e.kind, ObjectKind::Tree | ObjectKind::Manifest) {
            continue;
        }
        let hex = pack_id.to_hex();
        let data =
            std::fs::read(bucket_dir.join(format!("packs/{}/{hex}.pack", &hex[..2]))).unwrap();
        let start = (e.offset + pack::ENTRY_HEADER_LEN) as usize;
        let raw = pack::decode_object(e, &data[start..start + e.stored_len as usize]).unwrap();
        let children: Vec<ObjectId> = if e.kind == ObjectKind::Tree {
            Tree::decode(&raw)
                .unwrap()
                .entries
                .iter()
                .map(|t| t.node.id)
                .collect()
        } else {
            Manifest::decode(&raw)
                .unwrap()
                .chunks
                .iter()
                .map(|c| c.0)
                .collect()
        };
        for c in children {
            if !committed.contains_key(&c) {
                out.push(format!("{id} names {c}, which is not on the remote"));
            }
        }
    }
    out
}

#[test]
fn a_push_cut_off_at_any_request_leaves_no_tree_or_manifest_without_what_it_names() {
    let mut server = S3Server::start();
    // One file of several chunks: its chunks fill the first pack, and the second holds the last chunks,
    // the manifest and the trees. Two packs go up at once, so the second is usually done first.
    for stop in 1..=4u64 {
        let bucket = format!("cut-{stop}");
        server.bucket(&bucket);
        let r = TestRepo::new();
        r.ok(&["remote", "add", "origin", &format!("s3://{bucket}")]);
        configure_s3(&r, &server.endpoint());
        r.ok(&["remote", "modify", "origin", "max_retries", "0"]);
        r.ok(&["remote", "modify", "origin", "retry_timeout", "1"]);
        r.write("data/big.bin", &bytes(stop, 1_300_000));
        r.ok(&["add", "data"]);
        server.stop_after_puts(stop);
        let out = dv_command(r.path())
            .env("DV_PACK_SIZE", "1000000")
            .args(["push"])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(1), "push cut off at PUT {stop}");
        let bad = closure_violations(&server.bucket_dir(&bucket));
        assert!(
            bad.is_empty(),
            "cut off at PUT {stop}: {} objects named but missing, e.g. {:?}",
            bad.len(),
            bad.first()
        );
        server.restart();
        // A re-run completes the remote, which is then closed too.
        r.ok(&["push"]);
        assert!(closure_violations(&server.bucket_dir(&bucket)).is_empty());
    }
}

#[test]
fn a_pull_reads_each_pack_byte_at_most_once() {
    let server = S3Server::start();
    server.bucket("once");
    let r = TestRepo::new();
    r.ok(&["remote", "add", "origin", "s3://once"]);
    configure_s3(&r, &server.endpoint());
    // Small single-chunk files between files of several chunks: their objects interleave in the pack, and
    // the several-chunk files' chunks are only known once their manifests have been read.
    for i in 0..24u64 {
        let len = if i % 2 == 0 { 3_000 } else { 300_000 };
        r.write(&format!("data/f{i:02}.bin"), &bytes(500 + i, len));
    }
    r.ok(&["add", "data"]);
    r.git(&["add", "-A"]);
    r.git(&["commit", "-q", "-m", "data"]);
    r.json(&["push"]);
    let stored: u64 = files_below(&server.bucket_dir("once").join("packs"))
        .iter()
        .map(|p| std::fs::metadata(p).unwrap().len())
        .sum();
    let clone = clone_of(&r);
    let before = server.pack_bytes_read();
    ok_json(clone.path(), &["pull"]);
    let read = server.pack_bytes_read() - before;
    assert_eq!(snapshot(&clone.path().join("data")), snapshot(&r.p("data")));
    assert!(
        read >= stored / 2,
        "{read} of {stored} bytes read: is the counter working?"
    );
    assert!(
        read <= stored,
        "{read} bytes read from {stored} bytes of packs"
    );
}

#[test]
fn s3_payloads_are_unsigned_unless_a_setting_says_otherwise() {
    // A server of its own: the counts below must not see other tests' PUTs.
    let server = &S3Server::start();
    let bucket = new_bucket_name();
    let r = s3_origin(server, &bucket, 2, 40_000);
    // dv's default: every byte is checked against its BLAKE3 id anyway, so no SHA-256 over the body.
    let (puts, unsigned) = (server.puts(), server.unsigned_puts());
    let pushed = r.json(&["push"]);
    assert!(pushed["packs"].as_u64().unwrap() >= 1, "{pushed}");
    assert!(server.puts() > puts);
    assert_eq!(server.unsigned_puts() - unsigned, server.puts() - puts);
    // The committed setting turns signed payloads back on (the server checks the body's hash then).
    r.ok(&["remote", "modify", "origin", "unsigned_payload", "false"]);
    r.write("data/f9.bin", &bytes(9, 30_000));
    r.ok(&["add", "data"]);
    let (puts, unsigned) = (server.puts(), server.unsigned_puts());
    r.json(&["push"]);
    assert!(server.puts() > puts);
    assert_eq!(server.unsigned_puts(), unsigned, "signed payloads when set");
    // So does the standard environment variable, over dv's default.
    r.ok(&["remote", "modify", "origin", "unsigned_payload", "--unset"]);
    r.write("data/f10.bin", &bytes(10, 30_000));
    r.ok(&["add", "data"]);
    let (puts, unsigned) = (server.puts(), server.unsigned_puts());
    r.ok_with(&[("AWS_UNSIGNED_PAYLOAD", "false")], &["push"]);
    assert!(server.puts() > puts);
    assert_eq!(
        server.unsigned_puts(),
        unsigned,
        "signed payloads from the environment"
    );
    // Everything pushed either way comes back whole.
    r.git(&["add", "-A"]);
    r.git(&["commit", "-q", "-m", "more"]);
    let clone = clone_of(&r);
    ok_json(clone.path(), &["pull"]);
    assert_eq!(snapshot(&clone.path().join("data")), snapshot(&r.p("data")));
}

#[test]
fn s3_credentials_are_checked_and_can_come_from_config_local() {
    let server = shared_server();
    let bucket = new_bucket_name();
    let r = s3_origin(server, &bucket, 1, 10_000);
    // A wrong secret: the server refuses the signature, and dv says so.
    let out = dv_command(r.path())
        .env("AWS_SECRET_ACCESS_KEY", "wrong-secret")
        // Without the warning about the committed endpoint (remoteerr.rs pins it).
        .args(["-q", "push"])
        .output()
        .unwrap();
    let err = String::from_utf8(out.stderr).unwrap();
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.starts_with("error: remote 'origin': "), "{err}");
    assert!(err.contains("SignatureDoesNotMatch"), "{err}");
    assert!(
        !files_below(&server.bucket_dir(&bucket))
            .iter()
            .any(|p| p.to_string_lossy().contains("index")),
        "nothing landed"
    );

    // Credentials in .dv/config.local.toml (ignored by Git), none in the environment.
    r.write(
        ".dv/config.local.toml",
        format!(
            "[remote.origin]\naccess_key_id = \"{}\"\nsecret_access_key = \"{}\"\n",
            crate::s3_server::ACCESS_KEY,
            crate::s3_server::SECRET_KEY
        )
        .as_bytes(),
    );
    let out = dv_command(r.path())
        .env_remove("AWS_ACCESS_KEY_ID")
        .env_remove("AWS_SECRET_ACCESS_KEY")
        .args(["push", "--json"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let pushed: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(pushed["objects"].as_u64().unwrap() >= 2, "{pushed}");
    assert_eq!(
        r.git(&["status", "--porcelain", ".dv"]),
        "",
        "config.local.toml is ignored"
    );
    // `remote list` names the local settings but never prints their values.
    let list = r.ok(&["remote", "list", "--long"]);
    assert!(list.contains("access_key_id"), "{list}");
    assert!(!list.contains(crate::s3_server::SECRET_KEY), "{list}");
    let json = serde_json::to_string(&r.json(&["remote", "list"])).unwrap();
    assert!(!json.contains(crate::s3_server::SECRET_KEY), "{json}");
    // An unknown key there is an error naming the file.
    r.write(
        ".dv/config.local.toml",
        b"[remote.origin]\nsecret_acess_key = \"x\"\n",
    );
    let err = r.fails(&["push"]);
    assert!(
        err.contains("unknown setting `secret_acess_key` in .dv/config.local.toml"),
        "{err}"
    );
}

#[test]
fn large_packs_go_up_in_parts_and_come_back_whole() {
    let server = shared_server();
    let bucket = new_bucket_name();
    // 20 MB of random data: one pack, above the single-request limit set here, so a multipart upload.
    let r = s3_origin(server, &bucket, 2, 20_000_000);
    let puts = server.puts();
    let out = r.ok_with(&[("DV_SINGLE_PUT_MAX", "10000000")], &["push", "--json"]);
    let pushed: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(pushed["packs"], 1, "{pushed}");
    // Three 8 MiB parts and the index at least (a single PUT would be two requests).
    assert!(server.puts() - puts >= 4, "{} PUTs", server.puts() - puts);
    let clone = clone_of(&r);
    ok_json(clone.path(), &["pull"]);
    assert_eq!(snapshot(&clone.path().join("data")), snapshot(&r.p("data")));
}

/// The environment's cloud variables were read with `std::env::vars()`, which panics at the first variable that is
/// not UTF-8, whatever its name: a push to S3 died of an unrelated variable. They are read as object_store reads
/// them now: such a variable is passed to no backend.
#[cfg(unix)]
#[test]
fn a_variable_that_is_not_utf8_in_the_environment_is_no_panic() {
    use std::os::unix::ffi::OsStrExt;
    let server = shared_server();
    let bucket = new_bucket_name();
    let r = s3_origin(server, &bucket, 1, 10_000);
    let not_utf8 = std::ffi::OsStr::from_bytes(b"caf\xe9");
    let out = dv_command(r.path())
        .env("DV_TEST_LATIN1", not_utf8)
        .env("AWS_DV_TEST_LATIN1", not_utf8)
        .args(["-q", "push", "--json"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(!err.contains("panicked"), "{err}");
    let pushed: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(pushed["objects"].as_u64().unwrap() >= 1, "{pushed}");
}

/// A program that embeds dv-core passes a cloud remote's credentials in a `RemoteEnv` of its own making (the CLI
/// makes its own from the process's environment): keys, or a profile in the AWS files under a home folder it
/// names. The test process's environment holds no AWS credentials, so these are the only ones.
#[test]
fn an_embedder_passes_remote_credentials_in_by_hand() {
    use dv_core::remote::{Access, Remote, RemoteEnv};
    let server = shared_server();
    let bucket = new_bucket_name();
    let r = s3_origin(server, &bucket, 1, 10_000);
    r.ok(&["-q", "push"]);
    let objects = |env: RemoteEnv| -> dv_core::Result<usize> {
        let mut repo = dv_core::repo::Repo::discover(r.path())?;
        repo.settings.remote_env = env;
        let remote = Remote::open(&repo, None, Access::Read)?;
        Ok(remote.objects()?.0.len())
    };
    let keys = |secret: &str| {
        RemoteEnv::from_vars(
            [
                ("AWS_ACCESS_KEY_ID", crate::s3_server::ACCESS_KEY),
                ("AWS_SECRET_ACCESS_KEY", secret),
            ],
            None,
        )
    };
    assert!(objects(keys(crate::s3_server::SECRET_KEY)).unwrap() >= 1);
    let err = objects(keys("wrong-secret")).unwrap_err().to_string();
    assert!(err.contains("SignatureDoesNotMatch"), "{err}");
    // A profile, found in the AWS files under the home folder given.
    let home = tempfile::tempdir().unwrap();
    std::fs::create_dir(home.path().join(".aws")).unwrap();
    std::fs::write(
        home.path().join(".aws/credentials"),
        format!(
            "[embedded]\naws_access_key_id = {}\naws_secret_access_key = {}\n",
            crate::s3_server::ACCESS_KEY,
            crate::s3_server::SECRET_KEY
        ),
    )
    .unwrap();
    let profile = RemoteEnv::from_vars(
        [("AWS_PROFILE", "embedded")],
        Some(home.path().to_path_buf()),
    );
    assert!(objects(profile).unwrap() >= 1);
    let elsewhere = RemoteEnv::from_vars([("AWS_PROFILE", "embedded")], None);
    let err = objects(elsewhere).unwrap_err().to_string();
    assert!(err.contains("AWS profile \"embedded\" is not in"), "{err}");
}

#[test]
fn an_interrupted_push_is_finished_by_a_rerun_without_sending_twice() {
    let mut server = S3Server::start();
    let r = s3_origin(&server, "interrupted", 8, 8_000_000);
    r.ok(&["remote", "modify", "origin", "max_retries", "1"]);
    r.ok(&["remote", "modify", "origin", "retry_timeout", "2"]);
    // Packs of about 1 MB: each is one PUT for the pack and one for its index.
    let push = |r: &TestRepo| {
        dv_command(r.path())
            .env("DV_PACK_SIZE", "1000000")
            .args(["push", "--json"])
            .output()
            .unwrap()
    };
    // The server goes away at its 7th PUT. Two packs go up at a time and indexes commit in order, so two or
    // three packs are committed by then, and the rest are cut off.
    server.stop_after_puts(7);
    let out = push(&r);
    let err = String::from_utf8_lossy(&out.stderr).to_string();
    assert_eq!(out.status.code(), Some(1), "{err}");
    // (After a line for each retry.)
    assert!(
        err.lines()
            .any(|l| l.starts_with("error: remote 'origin': ")),
        "{err}"
    );
    assert!(!server.is_running());
    let committed = std::fs::read_dir(server.bucket_dir("interrupted").join("index"))
        .unwrap()
        .count() as u64;
    assert!((2..=3).contains(&committed), "{committed} packs committed");
    // A clone cannot pull yet: the remote has no root tree. It fails cleanly.
    server.restart();
    let clone = clone_of(&r);
    let out = run_dv(clone.path(), &["pull"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(!clone.path().join("data").exists());

    let out = push(&r);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let rerun: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let sent = rerun["bytes"].as_u64().unwrap();
    // Every committed pack holds at least 1 MB (the pack size set above) and is not sent again.
    assert!(
        sent < 8_100_000 - committed * 1_000_000,
        "the {committed} committed packs are not sent again: {rerun}"
    );
    assert!(rerun["skipped"].as_u64().unwrap() >= committed, "{rerun}");
    let pulled = ok_json(clone.path(), &["pull"]);
    assert!(pulled["fetch"]["bytes"].as_u64().unwrap() >= 8_000_000);
    assert_eq!(snapshot(&clone.path().join("data")), snapshot(&r.p("data")));
}

/// `dv remote add --json`, as `remote list --json`: `name`, `url`, `default`.
#[test]
fn remote_add_json() {
    let r = TestRepo::new();
    let out = r.json(&["remote", "add", "origin", "/srv/dv-store"]);
    assert_eq!(
        out,
        serde_json::json!({"name": "origin", "url": "/srv/dv-store", "default": true})
    );
    let out = r.json(&["remote", "add", "backup", "file:///mnt/backup"]);
    assert_eq!(out["default"], false, "{out}");
}

/// A pull whose checkout refuses (a file edited while it fetched) removes the files it wrote straight from the
/// fetch and the folders it made for them: the work tree is left as it was, but for the edit.
#[test]
fn a_pull_refused_after_its_fetch_leaves_no_folder_it_made() {
    let b = Backend::folder();
    let r = origin_with_remote(&b);
    r.ok(&["push"]);
    let clone = clone_of(&r);
    ok_at(clone.path(), &["pull"]);
    r.write("data/small/a.txt", b"alpha 2");
    r.write("data/new/sub/f.bin", &bytes(5, 10_000));
    r.ok(&["add", "data"]);
    r.git(&["commit", "-qam", "v2"]);
    r.ok(&["push"]);
    git_in(clone.path(), &["pull", "-q"]);
    // Paused once the fetch has stored everything (the second pack indexed), before the checkout is planned
    // again; long enough for the edit below to land in the pause on a loaded machine.
    let child = dv_command(clone.path())
        .env("DV_PAUSE_AT", "pack-indexed@2:4000")
        .args(["pull"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while !clone.path().join("data/new").exists() {
        assert!(
            std::time::Instant::now() < deadline,
            "the pull never made data/new"
        );
        std::thread::sleep(std::time::Duration::from_millis(2));
    }
    std::fs::write(clone.path().join("data/small/a.txt"), b"edited").unwrap();
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("data/small/a.txt"), "{err}");
    assert!(
        !clone.path().join("data/new").exists(),
        "the folders made for the files written from the fetch are removed"
    );
    assert_eq!(
        std::fs::read(clone.path().join("data/small/a.txt")).unwrap(),
        b"edited"
    );
    assert_no_temp_files(clone.path(), "pull");
}

/// A folder remote inside the work tree that Git does not ignore (`dv remote add store ./store`) was taken, and
/// after `dv push` a `git add -A` committed the packs into Git's history (adversarial review, issue 15). Writing
/// to it (push, `gc --remote`, `fsck --remote --repair`) is refused, naming the folder, with a hint; `remote
/// add` warns; reading goes on; once Git ignores it, it is fine. A clone sharing the committed config is judged
/// by its own rules, and a folder inside a linked work tree by that work tree's.
#[test]
fn a_folder_remote_git_would_commit_is_refused_for_writing() {
    let r = TestRepo::new();
    r.write("f", b"data");
    r.ok(&["add", "f"]);
    let out = r.dv(&["remote", "add", "store", "./store"]);
    let warn = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{warn}");
    assert!(
        warn.contains(&format!(
            "warning: remote 'store': the folder {} lies",
            r.path().canonicalize().unwrap().join("store").display()
        )) && warn.contains("Git does not ignore it"),
        "{warn}"
    );
    r.git(&["add", "-A"]);
    r.git(&["commit", "-qm", "v1"]);
    let refused = |dir: &Path, args: &[&str]| -> String {
        let out = run_dv(dir, args);
        let err = String::from_utf8_lossy(&out.stderr).to_string();
        assert_eq!(out.status.code(), Some(1), "dv {args:?}: {err}");
        assert!(
            err.starts_with("error: remote 'store': the folder ")
                && err.contains("lies inside the work tree")
                && err.contains("and Git does not ignore it"),
            "dv {args:?}: {err}"
        );
        assert!(
            err.contains("\n\nhint: add the line '/store/' to "),
            "{err}"
        );
        err
    };
    let err = refused(r.path(), &["push"]);
    assert!(
        err.contains("no rule in Git's ignore files matches 'store/packs'"),
        "{err}"
    );
    assert!(!r.p("store").exists(), "the refused push made the folder");
    refused(r.path(), &["gc", "--remote", "store"]);
    refused(r.path(), &["fsck", "--remote", "store", "--repair"]);

    // Ignored through .git/info/exclude: push, gc and repair write there, and Git sees nothing of it.
    let exclude = r.p(".git/info/exclude");
    std::fs::write(&exclude, "/store/\n").unwrap();
    r.ok(&["push"]);
    assert!(r.p("store/packs").is_dir());
    r.ok(&["gc", "--remote", "store"]);
    r.ok(&["fsck", "--remote", "store", "--repair"]);
    r.git(&["add", "-A"]);
    let git_sees = r.git(&["status", "--porcelain", "--untracked-files=all"]);
    assert!(!git_sees.contains("store/"), "{git_sees}");

    // A rule that takes part of it back: refused again, naming the rule; reading goes on.
    std::fs::write(&exclude, "/store/*\n!/store/index/\n").unwrap();
    let err = refused(r.path(), &["push"]);
    assert!(
        err.contains("the rule '!/store/index/' at ") && err.contains("re-includes 'store/index'"),
        "{err}"
    );
    r.ok(&["status", "--remote", "store"]);
    r.ok(&["fsck", "--remote", "store"]);
    r.ok(&["gc", "--remote", "store", "--dry-run"]);
    std::fs::remove_file(r.p("f")).unwrap();
    r.ok(&["pull"]);
    assert_eq!(r.read("f"), b"data");

    // A clone shares the committed `./store`, which lies in its own work tree; its exclude file has no rule.
    let clone = clone_of(&r);
    let c = clone.path();
    std::fs::write(c.join("f"), b"data").unwrap();
    ok_at(c, &["add", "f"]);
    refused(c, &["push"]);
    assert!(!c.join("store").exists());
    // A committed .gitignore rule covers every clone.
    std::fs::write(c.join(".gitignore"), "/f\n/store/\n").unwrap();
    ok_at(c, &["push"]);

    // A folder inside a linked work tree, named by its absolute path: judged by that work tree's rules.
    std::fs::write(&exclude, "").unwrap();
    let parent = tempfile::tempdir().unwrap();
    let wt = parent.path().join("wt");
    r.git(&["worktree", "add", "-q", "-b", "other", wt.to_str().unwrap()]);
    let url = wt.join("store");
    r.ok(&["remote", "modify", "store", "url", url.to_str().unwrap()]);
    let err = refused(r.path(), &["push"]);
    let wt_real = wt.canonicalize().unwrap();
    assert!(
        err.contains(&format!("lies inside the work tree {} ", wt_real.display()))
            && err.contains(&format!("to {}", wt_real.join(".gitignore").display())),
        "{err}"
    );
    assert!(!url.exists());
}

/// A folder remote inside a dataset's folder (`d/rem`, ignored by Git through the dataset's own line) was
/// accepted, and `dv checkout --force` then deleted it with every pack pushed there (adversarial review). It is
/// refused for writing, naming the dataset; a remote beside the dataset is fine.
#[test]
fn a_folder_remote_inside_a_dataset_folder_is_refused_for_writing() {
    let r = TestRepo::new();
    r.write("d/a", b"a");
    r.ok(&["add", "d"]);
    r.ok(&["remote", "add", "t", "d/rem"]);
    let err = r.refuses(&["push", "-r", "t"]);
    assert!(
        err.contains("inside the folder of dataset 'd' (d.dv)")
            && err.contains("outside the work tree"),
        "{err}"
    );
    assert!(!r.p("d/rem").exists(), "push made the folder");
    // The dataset's folder itself is no remote either.
    r.ok(&["remote", "modify", "t", "url", "d"]);
    let err = r.refuses(&["push", "-r", "t"]);
    assert!(err.contains("inside the folder of dataset 'd'"), "{err}");
    r.ok(&["checkout", "--force"]);
    assert_eq!(r.read("d/a"), b"a");
    // A remote already there (pushed by an older dv, or moved in) is never deleted by checkout, even with
    // --force: a folder holding `packs/` and `index/` is named and nothing changes.
    let outside = tempfile::tempdir().unwrap();
    let rem = outside.path().join("rem");
    r.ok(&["remote", "modify", "t", "url", rem.to_str().unwrap()]);
    r.ok(&["push", "-r", "t"]);
    std::fs::rename(&rem, r.p("d/rem")).unwrap();
    let before = snapshot(&r.p("d/rem"));
    let err = r.refuses(&["checkout", "--force"]);
    assert!(
        err.contains("    d/rem\n") && err.contains("dv folder remote"),
        "{err}"
    );
    assert_eq!(snapshot(&r.p("d/rem")), before);
}
