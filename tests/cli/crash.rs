//! Crash tests: every long command is killed (SIGKILL, through the `DV_CRASH_AT` crash points) at each of its
//! crash points in turn. After every kill the repository must pass `dv fsck`, hold no half-written file, and a
//! re-run must finish the job with the right bytes.

use std::cell::RefCell;
use std::fs;
use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::Output;

use crate::common::*;

/// Files of a dataset version: (repository path, bytes).
type Files = Vec<(String, Vec<u8>)>;

/// Small packs, so that even small data crosses many pack boundaries (each a crash point or two).
const PACK_SIZE: &str = "65536";

fn dv_at(dir: &Path, args: &[&str], crash_at: Option<usize>) -> Output {
    let mut c = dv_command(dir);
    c.args(args).env("DV_PACK_SIZE", PACK_SIZE);
    if let Some(n) = crash_at {
        c.env("DV_CRASH_AT", n.to_string());
    }
    c.output().expect("dv runs")
}

fn ok_in(dir: &Path, args: &[&str]) -> String {
    let out = dv_at(dir, args, None);
    assert!(
        out.status.success(),
        "dv {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// Runs `run(n)` for n = 1, 2, … until a run is not killed; `after_kill(n)` checks the state after each kill.
/// Returns the number of kills.
fn at_every_point(
    mut run: impl FnMut(usize) -> Output,
    mut after_kill: impl FnMut(usize),
) -> usize {
    for n in 1..500 {
        let out = run(n);
        match out.status.signal() {
            Some(9) => after_kill(n),
            _ => {
                assert!(
                    out.status.success(),
                    "the run past the last crash point failed: {}",
                    String::from_utf8_lossy(&out.stderr)
                );
                return n - 1;
            }
        }
    }
    panic!("more than 500 crash points?");
}

fn fsck_clean(dir: &Path, extra: &[&str], what: &str) {
    let mut args = vec!["fsck"];
    args.extend_from_slice(extra);
    let out = dv_at(dir, &args, None);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{what}: fsck after the crash: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The dataset: files of several chunks and small ones.
fn write_data(root: &Path, seed: u64) -> Files {
    let mut files = Vec::new();
    for i in 0..6u64 {
        let len = if i < 3 { 150_000 } else { 2_000 };
        files.push((format!("data/f{i}.bin"), bytes(seed * 100 + i, len)));
    }
    for (p, d) in &files {
        let p = root.join(p);
        fs::create_dir_all(p.parent().unwrap()).unwrap();
        fs::write(p, d).unwrap();
    }
    files
}

fn assert_files(root: &Path, files: &[(String, Vec<u8>)], what: &str) {
    for (p, d) in files {
        assert!(fs::read(root.join(p)).unwrap() == *d, "{what}: {p} differs");
    }
}

/// A repository with v1 and v2 of data/ committed (v2 in the work tree) and a folder remote configured.
fn two_versions(remote: &Path) -> (TestRepo, Files, Files) {
    let r = TestRepo::new();
    r.ok(&[
        "remote",
        "add",
        "origin",
        remote.to_str().unwrap(),
        "--default",
    ]);
    let v1 = write_data(r.path(), 1);
    ok_in(r.path(), &["add", "data"]);
    r.git(&["add", ".dv"]);
    r.git(&["commit", "-qm", "v1"]);
    fs::remove_dir_all(r.p("data")).unwrap();
    let v2 = write_data(r.path(), 2);
    ok_in(r.path(), &["add", "data"]);
    r.git(&["commit", "-qm", "v2"]);
    (r, v1, v2)
}

#[test]
fn killed_at_every_crash_point_the_repository_stays_sound() {
    let mut kills = std::collections::BTreeMap::new();

    // add: a fresh repository each time, killed at point n.
    let current: RefCell<Option<(TestRepo, Files)>> = RefCell::new(None);
    let k = at_every_point(
        |n| {
            let r = TestRepo::new();
            let files = write_data(r.path(), 7);
            let out = dv_at(r.path(), &["add", "data"], Some(n));
            *current.borrow_mut() = Some((r, files));
            out
        },
        |n| {
            let cur = current.borrow();
            let (r, files) = cur.as_ref().unwrap();
            let what = format!("add killed at point {n}");
            fsck_clean(r.path(), &[], &what);
            ok_in(r.path(), &["add", "data"]);
            fsck_clean(r.path(), &[], &what);
            fs::remove_dir_all(r.p("data")).unwrap();
            ok_in(r.path(), &["checkout"]);
            assert_files(r.path(), files, &what);
            let staged = r.git(&["diff", "--cached", "--name-only"]);
            assert!(staged.contains("data.dv"), "{what}: not staged: {staged}");
            assert_no_temp_files(r.path(), &what);
        },
    );
    kills.insert("add", k);

    // checkout --rev of the other version, killed at point n, then run again.
    let remote = tempfile::tempdir().unwrap();
    let (r, v1, v2) = two_versions(remote.path());
    let k = at_every_point(
        |n| dv_at(r.path(), &["checkout", "--rev", "HEAD~1"], Some(n)),
        |n| {
            let what = format!("checkout killed at point {n}");
            // Every file is wholly one version or the other.
            for ((p, a), (_, b)) in v1.iter().zip(&v2) {
                let now = fs::read(r.p(p)).unwrap();
                assert!(now == *a || now == *b, "{what}: {p} is half-written");
            }
            fsck_clean(r.path(), &[], &what);
            ok_in(r.path(), &["checkout", "--rev", "HEAD~1"]);
            assert_files(r.path(), &v1, &what);
            assert_no_temp_files(r.path(), &what);
            ok_in(r.path(), &["checkout", "--force"]);
            assert_files(r.path(), &v2, &what);
        },
    );
    ok_in(r.path(), &["checkout", "--force"]);
    kills.insert("checkout", k);

    // push of every version to an empty remote, killed at point n; the re-run completes it.
    let k = at_every_point(
        |n| {
            let _ = fs::remove_dir_all(remote.path());
            fs::create_dir_all(remote.path()).unwrap();
            let _ = fs::remove_dir_all(r.p(".dv/cache/remotes"));
            dv_at(r.path(), &["push", "--all-commits"], Some(n))
        },
        |n| {
            let what = format!("push killed at point {n}");
            fsck_clean(r.path(), &["--remote", "origin"], &what);
            ok_in(r.path(), &["push", "--all-commits"]);
            let again: serde_json::Value =
                serde_json::from_str(&ok_in(r.path(), &["push", "--all-commits", "--json"]))
                    .unwrap();
            assert_eq!(again["objects"], 0, "{what}: the re-run left something out");
            fsck_clean(r.path(), &["--remote", "origin"], &what);
        },
    );
    kills.insert("push", k);

    // pull into a fresh clone, killed at point n.
    let clone: RefCell<Option<tempfile::TempDir>> = RefCell::new(None);
    let k = at_every_point(
        |n| {
            let c = tempfile::tempdir().unwrap();
            git_in(c.path(), &["clone", "-q", r.path().to_str().unwrap(), "."]);
            let out = dv_at(c.path(), &["pull"], Some(n));
            *clone.borrow_mut() = Some(c);
            out
        },
        |n| {
            let cur = clone.borrow();
            let c = cur.as_ref().unwrap().path();
            let what = format!("pull killed at point {n}");
            for (p, d) in &v2 {
                if let Ok(now) = fs::read(c.join(p)) {
                    assert!(now == *d, "{what}: {p} is half-written");
                }
            }
            let out = dv_at(c, &["fsck"], None);
            // The pointer's objects may not all be here yet; whatever is here must be sound.
            let report: serde_json::Value =
                serde_json::from_slice(&dv_at(c, &["fsck", "--json"], None).stdout).unwrap();
            assert!(
                report["damaged"].as_array().unwrap().is_empty()
                    && report["damaged_packs"].as_array().unwrap().is_empty(),
                "{what}: {report} {}",
                String::from_utf8_lossy(&out.stderr)
            );
            ok_in(c, &["pull"]);
            assert_files(c, &v2, &what);
            fsck_clean(c, &[], &what);
            assert_no_temp_files(c, &what);
        },
    );
    kills.insert("pull", k);

    // gc of the older version (repacking its packs), killed at point n.
    let gc_repo = RefCell::new(None);
    let k = at_every_point(
        |n| {
            let rem = tempfile::tempdir().unwrap();
            let (g, _, v2) = two_versions(rem.path());
            let out = dv_at(
                g.path(),
                &["gc", "--grace", "0", "--repack-below", "0.99"],
                Some(n),
            );
            *gc_repo.borrow_mut() = Some((g, v2, rem));
            out
        },
        |n| {
            let cur = gc_repo.borrow();
            let (g, v2, _) = cur.as_ref().unwrap();
            let what = format!("gc killed at point {n}");
            fsck_clean(g.path(), &[], &what);
            ok_in(g.path(), &["gc", "--grace", "0"]);
            fsck_clean(g.path(), &[], &what);
            fs::remove_dir_all(g.p("data")).unwrap();
            ok_in(g.path(), &["checkout"]);
            assert_files(g.path(), v2, &what);
        },
    );
    kills.insert("gc", k);

    let total: usize = kills.values().sum();
    eprintln!("crash points killed per command: {kills:?}, total {total}");
    for (cmd, k) in &kills {
        assert!(*k >= 2, "{cmd} has too few crash points: {k}");
    }
    assert!(total >= 50, "only {total} kill points: {kills:?}");
}

/// kill -9 during `dv add` left `..gitattributes.dv-tmp-PID-N` (and the like beside `.gitignore` or a pointer
/// file) for `git status` to show until the next add. The temporary files of files Git may see are made in the
/// cache's `tmp/`, which Git ignores and the next dv command cleans: after a kill at any point, `git status`
/// shows no temporary file, before any other dv command runs. Nor the data of a pointer file already written
/// (the pointer was written before its ignore line: killed between the two, `git add -A` committed the data).
#[test]
fn a_killed_add_leaves_nothing_for_git_status_to_show() {
    let mut killed_in_write = 0;
    let k = at_every_point(
        |n| {
            let r = TestRepo::new();
            write_data(r.path(), 3);
            r.write("sub/one.bin", b"one");
            let out = dv_at(r.path(), &["add", "data", "sub/one.bin"], Some(n));
            if String::from_utf8_lossy(&out.stderr).contains("crash point write-before-rename") {
                killed_in_write += 1;
            }
            let st = r.git(&["status", "--porcelain", "--untracked-files=all"]);
            assert!(
                !st.contains(".dv-tmp-"),
                "add killed at point {n}: Git sees a temporary file:\n{st}"
            );
            // A pointer file never sits beside data Git would add (the ignore line is written first):
            // `git add -A` after the kill commits no data.
            for (data, pointer) in [("data/", "data.dv"), ("sub/one.bin", "sub/one.bin.dv")] {
                if r.p(pointer).exists() {
                    assert!(
                        !st.lines().any(|l| l.strip_prefix("?? ").is_some_and(
                            |p| p == data || (data.ends_with('/') && p.starts_with(data))
                        )),
                        "add killed at point {n}: {pointer} is written and Git sees its data:\n{st}"
                    );
                }
            }
            // The next command cleans the cache's leftovers.
            ok_in(r.path(), &["status"]);
            assert_no_temp_files(r.path(), &format!("add killed at point {n}"));
            out
        },
        |_| {},
    );
    assert!(
        k >= 3 && killed_in_write >= 3,
        "{k} kills, {killed_in_write} in a write"
    );
}

/// kill -9 during the very first `dv init` left `.dv/cache/tmp/..gitignore.dv-tmp-PID-N` for `git status` to
/// show: `.dv/.gitignore`, which hides the cache, was not there yet when its own temporary file was made. The
/// cache now hides itself first (with a `.gitignore` made whole in one step): after a kill at any point, Git
/// sees nothing but (some of) the two files init is meant to leave for a commit, each whole, and the next init
/// finishes the job.
#[test]
fn a_killed_first_init_leaves_nothing_for_git_status_to_show() {
    let meant = [".dv/.gitignore", ".dv/config.toml"];
    let done = TestRepo::bare_git();
    ok_in(done.path(), &["init"]);
    let k = at_every_point(
        |n| {
            let r = TestRepo::bare_git();
            let out = dv_at(r.path(), &["init"], Some(n));
            let st = r.git(&[
                "status",
                "--porcelain",
                "--untracked-files=all",
                "--ignored",
            ]);
            for line in st.lines() {
                let (state, path) = line.split_at(3);
                match state {
                    "?? " => {
                        assert!(
                            meant.contains(&path),
                            "init killed at point {n}: Git sees {path}:\n{st}"
                        );
                        assert_eq!(
                            fs::read(r.p(path)).unwrap(),
                            fs::read(done.p(path)).unwrap(),
                            "init killed at point {n}: {path} is not whole"
                        );
                    }
                    "!! " => assert!(
                        path.starts_with(".dv/cache/") || path.starts_with(".dv/state.db"),
                        "init killed at point {n}: {line}"
                    ),
                    _ => panic!("init killed at point {n}: {line}"),
                }
            }
            if out.status.signal() == Some(9) {
                ok_in(r.path(), &["init"]);
                let st = r.git(&["status", "--porcelain", "--untracked-files=all"]);
                assert_eq!(
                    st, "?? .dv/.gitignore\n?? .dv/config.toml\n",
                    "init killed at point {n}, then run again"
                );
            }
            out
        },
        |_| {},
    );
    assert!(k >= 3, "{k} kills");
}

/// A cache `.gitignore` that a kill left empty (where a file cannot be made whole in one step) is written
/// again by the next init.
#[test]
fn init_repairs_an_empty_cache_gitignore() {
    let r = TestRepo::bare_git();
    fs::create_dir_all(r.p(".dv/cache")).unwrap();
    fs::write(r.p(".dv/cache/.gitignore"), b"").unwrap();
    ok_in(r.path(), &["init"]);
    assert_eq!(fs::read(r.p(".dv/cache/.gitignore")).unwrap(), b"*\n");
}

/// Checkout (and pull) add a dataset's missing ignore line (its pointer renamed with `git mv`) only after
/// writing its data: killed in between, `git add -A` committed the data. The line now comes first.
#[test]
fn a_killed_checkout_never_leaves_data_git_would_add() {
    let k = at_every_point(
        |n| {
            let r = TestRepo::new();
            write_data(r.path(), 5);
            ok_in(r.path(), &["add", "data"]);
            r.git(&["add", "-A"]);
            r.git(&["commit", "-qm", "v1"]);
            r.git(&["mv", "data.dv", "moved.dv"]);
            let out = dv_at(r.path(), &["checkout", "moved"], Some(n));
            let st = r.git(&["status", "--porcelain", "--untracked-files=all"]);
            assert!(
                !st.lines().any(|l| l.starts_with("?? moved/")),
                "checkout killed at point {n}: Git sees the data:\n{st}"
            );
            out
        },
        |_| {},
    );
    assert!(k >= 2, "{k} kills");
}
