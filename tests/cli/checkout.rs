use std::os::unix::fs::PermissionsExt;

use crate::common::*;

#[test]
fn restoring_an_old_pointer_with_git_brings_back_the_old_bytes() {
    let r = TestRepo::new();
    let v1 = bytes(1, 3 << 20);
    r.write("data/big.bin", &v1);
    r.write("data/small.txt", b"version one");
    r.ok(&["add", "data"]);
    r.git(&["add", "data.dv", ".gitignore", ".dv"]);
    r.git(&["commit", "-q", "-m", "v1"]);

    let mut v2 = v1.clone();
    v2[1_000_000..1_000_100].fill(7);
    v2.extend_from_slice(&bytes(2, 500_000));
    r.write("data/big.bin", &v2);
    r.write("data/small.txt", b"version two");
    r.write("data/added.txt", b"only in v2");
    r.ok(&["add", "data"]);
    assert_eq!(
        r.git(&["status", "--porcelain"]),
        "M  data.dv\n",
        "new pointer staged"
    );

    r.git(&["checkout", "HEAD", "--", "data.dv"]);
    let s = r.json(&["status"]);
    assert_eq!(s["datasets"][0]["state"], "modified");
    r.ok(&["checkout"]);
    assert_eq!(r.read("data/big.bin"), v1);
    assert_eq!(r.read("data/small.txt"), b"version one");
    assert!(!r.p("data/added.txt").exists());
    assert_eq!(r.json(&["status"])["datasets"][0]["state"], "unchanged");

    // Re-adding the restored data changes nothing: Git is clean again.
    r.ok(&["add", "data"]);
    assert_eq!(r.git(&["status", "--porcelain"]), "");
}

#[test]
fn folder_round_trip_keeps_structure_modes_and_names() {
    let r = TestRepo::new();
    r.write("data/a/b/c/deep.bin", &bytes(5, 70_000));
    r.write("data/empty-file", b"");
    std::fs::create_dir_all(r.p("data/empty-dir/inner-empty")).unwrap();
    r.write("data/with space/ünïcødé 名前.txt", b"names");
    r.write("data/run.sh", b"#!/bin/sh\necho hi\n");
    std::fs::set_permissions(r.p("data/run.sh"), std::fs::Permissions::from_mode(0o755)).unwrap();
    r.write("data/#hash[1]*.txt", b"glob chars");
    let before = snapshot(&r.p("data"));
    r.ok(&["add", "data"]);

    std::fs::remove_dir_all(r.p("data")).unwrap();
    let out = r.json(&["checkout"]);
    assert_eq!(out["files_written"], 5);
    assert_eq!(snapshot(&r.p("data")), before);
    let ignored = r.git(&["status", "--porcelain", "--untracked-files=all"]);
    assert!(!ignored.contains("data/"), "{ignored}");
}

#[test]
fn checkout_refuses_to_lose_unstored_changes_unless_forced() {
    let r = TestRepo::new();
    r.write("data/a", b"original");
    r.write("data/b", b"keep");
    r.ok(&["add", "data"]);
    r.write("data/a", b"my precious edit");
    r.write("data/untracked-new", b"also precious");
    let err = r.fails(&["checkout"]);
    assert!(
        err.contains("local changes that are not stored by dv"),
        "{err}"
    );
    assert!(
        err.contains("    data/a\n") && err.contains("    data/untracked-new"),
        "{err}"
    );
    assert!(err.contains("--force"), "{err}");
    assert_eq!(r.read("data/a"), b"my precious edit", "nothing touched");
    assert!(r.p("data/untracked-new").exists());

    r.ok(&["checkout", "--force"]);
    assert_eq!(r.read("data/a"), b"original");
    assert!(!r.p("data/untracked-new").exists());
}

#[test]
fn checkout_overwrites_content_that_dv_has_stored() {
    let r = TestRepo::new();
    r.write("f.bin", b"one");
    r.ok(&["add", "f.bin"]);
    let v1_pointer = r.read("f.bin.dv");
    r.write("f.bin", b"two");
    r.ok(&["add", "f.bin"]);
    // Back to v1's pointer: the working "two" is stored, so no --force is needed.
    r.write("f.bin.dv", &v1_pointer);
    r.ok(&["checkout", "f.bin.dv"]);
    assert_eq!(r.read("f.bin"), b"one");
}

#[test]
fn partial_checkout_of_a_path_inside_a_folder() {
    let r = TestRepo::new();
    r.write("data/x/1", b"1");
    r.write("data/y/2", b"2");
    r.ok(&["add", "data"]);
    std::fs::remove_dir_all(r.p("data")).unwrap();
    let out = r.json(&["checkout", "data/y/2"]);
    assert_eq!(out["files_written"], 1);
    assert_eq!(r.read("data/y/2"), b"2");
    assert!(!r.p("data/x").exists());
    // From a subfolder, with a relative path.
    std::fs::create_dir_all(r.p("data/x")).unwrap();
    let out = r.dv_in("data/x", &["checkout", "1"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(r.read("data/x/1"), b"1");
}

#[test]
fn a_corrupted_pack_is_detected_and_nothing_is_written() {
    let r = TestRepo::new();
    let data = bytes(3, 100_000);
    r.write("f.bin", &data);
    r.ok(&["add", "f.bin"]);
    std::fs::remove_file(r.p("f.bin")).unwrap();
    // Flip one byte of stored content in every pack.
    let packs = walk_files(&r.p(".dv/cache/packs"));
    for p in packs {
        let mut bytes = std::fs::read(&p).unwrap();
        let n = bytes.len();
        bytes[n - 10] ^= 0xFF;
        std::fs::write(&p, bytes).unwrap();
    }
    let out = r.dv(&["checkout"]);
    let err = String::from_utf8(out.stderr).unwrap();
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("is corrupt"), "{err}");
    assert!(!r.p("f.bin").exists(), "no corrupt file in place");
    let leftovers: Vec<_> = std::fs::read_dir(r.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
        .filter(|n| n.contains("dv-tmp"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

#[test]
fn missing_objects_are_reported_before_writing() {
    let r = TestRepo::new();
    r.write("f.bin", b"content");
    r.ok(&["add", "f.bin"]);
    r.write(
        "f.bin.dv",
        format!(
            "dv = 1\nkind = \"file\"\nid = \"{}\"\nsize = 3\n",
            "1".repeat(64)
        )
        .as_bytes(),
    );
    let err = r.fails(&["checkout", "--force"]);
    assert!(err.contains("not in the local cache"), "{err}");
    assert_eq!(r.read("f.bin"), b"content");
    let s = r.json(&["status"]);
    assert_eq!(s["datasets"][0]["in_cache"], false);
}

fn walk_files(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(walk_files(&p));
        } else {
            out.push(p);
        }
    }
    out
}

/// `dv checkout --rev OLD data/a/b`, where OLD has `data/a` as a file and the work tree a folder `data/a/`
/// holding `b` and `c`, replaced `data/a` whole: `c` beside the named path was deleted (with `--force`, its
/// unsaved edit too). A named path limits what checkout touches: the version has no `data/a/b`, which is an
/// error naming `data/a`; and the mirror case (the version has a folder where the work tree has a file above
/// the named path) is refused too. Pull refuses the same, before fetching the files.
#[test]
fn checkout_of_a_path_below_a_file_of_the_version_touches_nothing_beside_it() {
    let r = TestRepo::new();
    let remote = folder_remote(&r);
    r.write("data/a", b"old file");
    r.ok(&["add", "data"]);
    r.git(&["add", ".dv"]);
    r.git(&["commit", "-qm", "v1"]);
    std::fs::remove_file(r.p("data/a")).unwrap();
    r.write("data/a/b", b"b");
    r.write("data/a/c", b"c");
    r.ok(&["add", "data"]);
    r.git(&["commit", "-qm", "v2"]);
    r.ok(&["push", "--all-commits"]);
    r.settle();
    r.write("data/a/c", b"c edited, not stored");
    let before = snapshot(&r.p("data"));
    for force in [false, true] {
        let mut args = vec!["checkout", "--rev", "HEAD~1", "data/a/b"];
        if force {
            args.push("--force");
        }
        let err = r.fails(&args);
        assert!(
            err.contains(
                "error: 'data/a/b' does not exist in revision 'HEAD~1': 'data/a' is a file there"
            ) && err.contains("hint: check out 'data/a' as a whole"),
            "{args:?}: {err}"
        );
        assert_eq!(
            snapshot(&r.p("data")),
            before,
            "{args:?} touched the work tree"
        );
    }
    // The mirror case: the work tree has the file `data/a` where the version has a folder.
    r.ok(&["checkout", "--force", "--rev", "HEAD~1", "data/a"]);
    assert_eq!(r.read("data/a"), b"old file");
    let err = r.fails(&["checkout", "data/a/b"]);
    assert!(
        err.contains("'data/a/b' cannot be checked out alone: 'data/a' is a file in the work tree")
            && err.contains("hint: check out 'data/a' as a whole"),
        "{err}"
    );
    assert_eq!(r.read("data/a"), b"old file");
    // Pull (in a clone whose work tree has the same layout) refuses both the same way.
    let clone = clone_of(&r);
    let c = clone.path();
    std::fs::create_dir_all(c.join("data/a")).unwrap();
    std::fs::write(c.join("data/a/c"), b"mine").unwrap();
    let out = dv_command(c)
        .args(["pull", "--rev", "HEAD~1", "data/a/b"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("'data/a' is a file there"), "{err}");
    assert_eq!(std::fs::read(c.join("data/a/c")).unwrap(), b"mine");
    drop(remote);
}

/// `dv checkout data/nonexist`, a path inside a dataset that neither the version nor the work tree has, said
/// "Checked out … 0 files" and exited 0. A named path the version does not hold is an error naming it, for
/// checkout (also with --rev) and pull; status and diff, which compare, refuse a path neither side holds.
#[test]
fn a_named_path_no_version_holds_is_an_error() {
    let r = TestRepo::new();
    let _remote = folder_remote(&r);
    r.write("data/x", b"x");
    r.ok(&["add", "data"]);
    r.git(&["commit", "-qm", "v1"]);
    r.ok(&["push"]);
    for args in [
        &["checkout", "data/nonexist"][..],
        &["checkout", "--rev", "HEAD", "data/nonexist"],
        &["pull", "data/nonexist"],
        &["status", "data/nonexist"],
        &["diff", "data/nonexist"],
        &["diff", "HEAD", "HEAD", "data/nonexist"],
    ] {
        let err = r.fails(args);
        assert!(
            err.contains("error: 'data/nonexist' does not exist in "),
            "{args:?}: {err}"
        );
    }
    let err = r.fails(&["checkout", "--rev", "HEAD", "data/nonexist"]);
    assert!(err.contains("in revision 'HEAD'"), "{err}");
    assert!(!r.p("data/nonexist").exists());
    // A path only the work tree has is new to status, and still no path for checkout to write.
    r.write("data/new", b"new");
    assert_eq!(
        r.json(&["status", "data/new"])["datasets"][0]["changes"][0]["change"],
        "new"
    );
    r.fails(&["checkout", "data/new"]);
    assert_eq!(r.read("data/new"), b"new");
}

#[test]
fn checkout_reports_what_it_wrote_deleted_and_changed() {
    let r = TestRepo::new();
    r.write("data/a.txt", b"alpha");
    r.write("data/run.sh", b"#!/bin/sh\n");
    r.write("keep/k.txt", b"k");
    r.ok(&["add", "data", "keep"]);
    r.write("data/a.txt", b"edited");
    r.write("data/extra.txt", b"extra");
    r.write("data/newdir/p", b"p");
    r.write("data/newdir/q/r", b"r");
    std::fs::set_permissions(r.p("data/run.sh"), std::fs::Permissions::from_mode(0o755)).unwrap();
    let report = r.json(&["checkout", "--force"]);
    assert_eq!(
        report["datasets"],
        serde_json::json!(["data", "keep"]),
        "{report}"
    );
    // extra.txt, and the two files of newdir.
    assert_eq!(report["files_deleted"], 3, "{report}");
    assert_eq!(report["modes_changed"], 1, "{report}");
    assert_eq!(report["files_written"], 1, "{report}");
    assert_eq!(report["bytes_written"], 5, "{report}");
    assert_eq!(r.read("data/a.txt"), b"alpha");
    assert!(!r.p("data/newdir").exists() && !r.p("data/extra.txt").exists());
}

/// A file Git tracks inside a dataset's folder (and in the dataset too) makes the folder Git's, as `dv add` holds:
/// the pointer file is reported as malformed, checkout refuses it (with --force too) and writes nothing there,
/// until Git stops tracking the file (it then checks out as usual). Before, a checkout that left the file alone
/// went on, which let a planted pointer write into, and ignore, a folder of Git's (adversarial review).
#[test]
fn a_file_git_tracks_in_the_folder_makes_the_folder_gits_until_it_is_untracked() {
    let r = TestRepo::new();
    r.write("data/a.txt", b"v1");
    r.write("data/notes.txt", b"notes");
    r.ok(&["add", "data"]);
    r.git(&["commit", "-qm", "v1"]);
    r.write("data/a.txt", b"v2");
    r.ok(&["add", "data"]);
    r.git(&["add", "-f", "data/notes.txt"]);
    r.git(&["checkout", "HEAD", "--", "data.dv"]);
    for args in [&["checkout"][..], &["checkout", "--force"]] {
        let err = r.refuses(args);
        assert!(
            err.contains("Git tracks 'data/notes.txt' in it")
                && err.contains("git rm -r --cached data"),
            "{err}"
        );
        assert_eq!(r.read("data/a.txt"), b"v2");
    }
    let status = r.json(&["status"]);
    assert_eq!(status["not_pointers"][0]["path"], "data.dv", "{status}");
    assert_eq!(
        status["not_pointers"][0]["problem"], "malformed",
        "{status}"
    );
    r.git(&["rm", "-q", "--cached", "data/notes.txt"]);
    r.ok(&["checkout"]);
    assert_eq!(r.read("data/a.txt"), b"v1");
    assert_eq!(r.read("data/notes.txt"), b"notes");
}

#[test]
fn checkout_sets_the_executable_bit_for_whoever_may_read_and_clears_it_for_all() {
    let r = TestRepo::new();
    r.write("data/run.sh", b"#!/bin/sh\n");
    r.write("data/notes.txt", b"notes");
    let mode = |p: &str| std::fs::metadata(r.p(p)).unwrap().permissions().mode() & 0o7777;
    let set = |p: &str, m: u32| {
        std::fs::set_permissions(r.p(p), std::fs::Permissions::from_mode(m)).unwrap()
    };
    set("data/run.sh", 0o755);
    set("data/notes.txt", 0o644);
    r.ok(&["add", "data"]);
    // A private file gets execute for its owner only; an executable loses every execute bit, and nothing else.
    set("data/run.sh", 0o600);
    set("data/notes.txt", 0o751);
    let report = r.json(&["checkout"]);
    assert_eq!(report["modes_changed"], 2, "{report}");
    assert_eq!(report["files_written"], 0, "{report}");
    assert_eq!(mode("data/run.sh"), 0o700);
    assert_eq!(mode("data/notes.txt"), 0o640);
}

/// Under a umask that clears every execute bit, an executable is still checked out executable (for whoever
/// may read it), and other files are not.
#[test]
fn an_executable_is_checked_out_executable_whatever_the_umask() {
    let r = TestRepo::new();
    r.write("data/run.sh", b"#!/bin/sh\n");
    r.write("data/notes.txt", b"notes");
    std::fs::set_permissions(r.p("data/run.sh"), std::fs::Permissions::from_mode(0o755)).unwrap();
    r.ok(&["add", "data"]);
    let mode = |p: &str| std::fs::metadata(r.p(p)).unwrap().permissions().mode() & 0o777;
    // (umask, mode of run.sh, mode of notes.txt): an execute bit the umask leaves is not added to.
    for (umask, exec, plain) in [("0133", 0o755, 0o644), ("0011", 0o766, 0o666)] {
        std::fs::remove_dir_all(r.p("data")).unwrap();
        let out = std::process::Command::new("sh")
            .current_dir(r.path())
            .args([
                "-c",
                &format!("umask {umask} && exec \"$0\" checkout"),
                dv_bin(),
            ])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(mode("data/run.sh"), exec, "umask {umask}");
        assert_eq!(mode("data/notes.txt"), plain, "umask {umask}");
    }
}

/// Checkout checked for unstored changes once, up front, then renamed over whatever was there: an edit made
/// while it ran was lost. Now each file is looked at again right before it is replaced or deleted: the edited
/// one is left as it is, the rest is checked out, and the checkout ends with an error naming it.
#[test]
fn checkout_leaves_alone_a_file_edited_while_it_runs() {
    let r = TestRepo::new();
    r.write("d/x", b"v1\n");
    r.write("d/y", b"y\n");
    r.ok(&["add", "d"]);
    r.git(&["add", "-A"]);
    r.git(&["commit", "-qm", "v1"]);
    r.write("d/x", b"v2\n");
    r.write("d/w", b"only in v2\n");
    r.ok(&["add", "d"]);
    r.git(&["commit", "-qam", "v2"]);
    // The only file written (d/x) pauses right before its rename; the file deleted (d/w) goes first.
    let child = dv_command(r.path())
        .env("DV_PAUSE_AT", "checkout-file-before-rename@1:3000")
        .args(["checkout", "--rev", "HEAD~1"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(1500));
    r.write("d/x", b"edit made meanwhile\n");
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert_eq!(r.read("d/x"), b"edit made meanwhile\n", "the edit is kept");
    assert!(
        err.contains("these files changed while the checkout ran, and were left as they are")
            && err.contains("    d/x\n"),
        "{err}"
    );
    assert!(!r.p("d/w").exists(), "the rest was checked out");
    assert_eq!(r.read("d/y"), b"y\n");
    assert_no_temp_files(r.path(), "after the checkout");
    // Nothing was lost: the edit is still there to add, and a checkout now refuses to replace it.
    let err = r.fails(&["checkout", "--rev", "HEAD~1"]);
    assert!(err.contains("local changes"), "{err}");
}

/// `pull` checks out through the same code: an edit made while it runs is kept too.
#[test]
fn a_pull_leaves_alone_a_file_edited_while_it_runs() {
    let r = TestRepo::new();
    let _remote = folder_remote(&r);
    r.write("d/x", b"v1\n");
    r.ok(&["add", "d"]);
    r.git(&["add", "-A"]);
    r.git(&["commit", "-qm", "v1"]);
    r.ok(&["push"]);
    r.write("d/x", b"v2\n");
    r.ok(&["add", "d"]);
    r.git(&["commit", "-qam", "v2"]);
    r.ok(&["push"]);
    let child = dv_command(r.path())
        .env("DV_PAUSE_AT", "checkout-file-before-rename@1:3000")
        .args(["pull", "--rev", "HEAD~1"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(1500));
    r.write("d/x", b"edit made meanwhile\n");
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert_eq!(r.read("d/x"), b"edit made meanwhile\n", "the edit is kept");
    assert!(err.contains("    d/x\n"), "{err}");
}

/// One dataset's objects are gone from the cache (its pack's index deleted): a checkout of everything writes
/// nothing (all or nothing), but the error says which datasets are whole and the hint names them, ready to
/// check out alone; which then works.
#[test]
fn a_checkout_blocked_by_one_dataset_names_the_whole_ones() {
    let r = TestRepo::new();
    r.write("a", &bytes(1, 100_000));
    r.ok(&["add", "a"]);
    let before: Vec<_> = std::fs::read_dir(r.p(".dv/cache/index"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(before.len(), 1);
    let (b, c) = (bytes(2, 100_000), bytes(3, 1000));
    r.write("my b", &b);
    r.write("c", &c);
    r.ok(&["add", "my b", "c"]);
    r.git(&["add", "-A"]);
    r.git(&["commit", "-qm", "v"]);
    std::fs::remove_file(&before[0]).unwrap();
    for p in ["a", "my b", "c"] {
        std::fs::remove_file(r.p(p)).unwrap();
    }
    let out = r.dv(&["checkout"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("needed by 'a'") && err.contains("2 other dataset(s) are whole"),
        "{err}"
    );
    assert!(err.contains("`dv checkout c 'my b'`"), "{err}");
    assert!(
        !r.p("c").exists() && !r.p("my b").exists(),
        "nothing written"
    );
    r.ok(&["checkout", "c", "my b"]);
    assert_eq!((r.read("my b"), r.read("c")), (b, c));
}
