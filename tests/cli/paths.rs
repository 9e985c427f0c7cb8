//! Dataset paths, names and files dv does not own: planted pointer files that name `.`, `..` or `.git`, a folder
//! replaced by a file (and the reverse) on checkout, names at the limits, `*.dv` files that are not pointers,
//! temporary files of killed runs, sizes out of range.

use std::fs;
use std::os::unix::process::ExitStatusExt;

use crate::common::*;

/// Every file and folder of the work tree outside `.git` and `.dv`, with contents.
fn work_snapshot(root: &std::path::Path) -> Snapshot {
    snapshot(root)
        .into_iter()
        .filter(|(p, _)| {
            let first = p.split('/').next().unwrap_or("");
            first != ".git" && first != ".dv"
        })
        .collect()
}

/// A repository with dataset `data` (a folder) committed.
fn repo_with_data() -> TestRepo {
    let r = TestRepo::new();
    r.write("data/planted-a.bin", &bytes(1, 5000));
    r.write("data/planted-sub/b.txt", b"b");
    r.ok(&["add", "data"]);
    r.git(&["add", ".dv"]);
    r.git(&["commit", "-q", "-m", "v1"]);
    r
}

#[test]
fn a_planted_pointer_naming_dot_dotdot_or_git_is_refused_and_nothing_is_touched() {
    let r = repo_with_data();
    let pointer = r.read("data.dv");
    let before = work_snapshot(r.path());
    let outside = r.path().parent().unwrap();
    for planted in [
        "..dv",
        "...dv",
        ".git.dv",
        ".dv.dv",
        "sub/..dv",
        "sub/...dv",
        // Found by the adversarial review: it replaced dv's own .gitattributes with a folder.
        ".gitattributes.dv",
        "sub/.gitignore.dv",
    ] {
        r.write(planted, &pointer);
        let listed = work_snapshot(r.path());
        // Commands acting on every pointer refuse, naming it; status and fsck go on and report it (fsck
        // exits 1).
        for (args, code) in [
            (&["status"][..], 0),
            (&["checkout", "--force"], 1),
            (&["fsck"], 1),
            (&["gc"], 1),
        ] {
            let out = r.dv(args);
            let err = String::from_utf8_lossy(&out.stderr);
            assert_eq!(out.status.code(), Some(code), "{planted} {args:?}: {err}");
            let named = if code == 0 || args == ["fsck"] {
                format!("warning: skipped '{planted}': {planted}:")
            } else {
                format!("error: {planted}:")
            };
            assert!(
                err.contains(&named),
                "{planted} {args:?}: the message names the pointer file: {err}"
            );
            assert_eq!(
                work_snapshot(r.path()),
                listed,
                "{planted} {args:?} touched files"
            );
        }
        assert!(r.p(".git/HEAD").exists() && r.p(".dv/config.toml").exists());
        fs::remove_file(r.p(planted)).unwrap();
        let _ = fs::remove_dir(r.p("sub"));
    }
    assert_eq!(work_snapshot(r.path()), before);

    // Committed, it is refused at a revision too (`--rev`), and nothing is written into the parent folder.
    r.write("..dv", &pointer);
    r.write("...dv", &pointer);
    r.git(&["add", "-f", "..dv", "...dv"]);
    r.git(&["commit", "-q", "-m", "planted"]);
    fs::remove_file(r.p("..dv")).unwrap();
    fs::remove_file(r.p("...dv")).unwrap();
    let listed = work_snapshot(r.path());
    for args in [
        &["checkout", "--force", "--rev", "HEAD"][..],
        &["fsck", "--rev", "HEAD"],
        &["du", "--rev", "HEAD"],
    ] {
        // fsck reports it (exit 1, a warning naming it); the others refuse with an error naming it.
        let out = r.dv(args);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {err}");
        assert!(err.contains("..dv at HEAD"), "{args:?}: {err}");
        assert_eq!(work_snapshot(r.path()), listed, "{args:?} touched files");
    }
    for name in ["planted-a.bin", "planted-sub"] {
        assert!(
            !outside.join(name).exists(),
            "{name} written beside the repository"
        );
    }
}

/// Commits `v1` with `d/x` a file and `v2` with `d/x` a folder (and the top-level dataset `t` a folder in
/// `v1` and a file in `v2`); returns the bytes of `d/x` and `t` at `v1`.
fn file_and_folder_versions(r: &TestRepo) -> (Vec<u8>, Vec<u8>) {
    let x1 = bytes(3, 4000);
    let t2 = bytes(4, 3000);
    r.write("d/x", &x1);
    r.write("d/y", b"y");
    r.write("t/inner/f", b"t was a folder");
    r.ok(&["add", "d", "t"]);
    r.git(&["add", ".dv"]);
    r.git(&["commit", "-q", "-m", "v1"]);
    r.git(&["tag", "v1"]);
    fs::remove_file(r.p("d/x")).unwrap();
    r.write("d/x/inside/deep.bin", &bytes(5, 2000));
    r.write("d/x/top.txt", b"top");
    fs::remove_dir_all(r.p("t")).unwrap();
    r.write("t", &t2);
    r.ok(&["add", "d", "t"]);
    r.git(&["commit", "-q", "-m", "v2"]);
    (x1, t2)
}

#[test]
fn checkout_replaces_a_folder_by_a_file_and_back() {
    let r = TestRepo::new();
    let (x1, t2) = file_and_folder_versions(&r);
    let v2 = work_snapshot(r.path());

    // Everything in the folders is stored, so no --force is needed.
    r.ok(&["checkout", "--rev", "v1"]);
    assert_eq!(r.read("d/x"), x1);
    assert_eq!(r.read("t/inner/f"), b"t was a folder");
    assert_eq!(r.json(&["status"])["datasets"][0]["state"], "modified");
    r.ok(&["checkout"]);
    assert_eq!(
        work_snapshot(r.path()),
        v2,
        "back to the work tree's pointers"
    );
    assert_eq!(r.read("t"), t2);

    // Through Git: the old pointers, then `dv checkout`.
    r.git(&["checkout", "-q", "v1"]);
    r.ok(&["checkout"]);
    assert_eq!(r.read("d/x"), x1);
    assert!(r.p("t/inner/f").is_file());
    let s = r.json(&["status"]);
    assert!(
        s["datasets"]
            .as_array()
            .unwrap()
            .iter()
            .all(|d| d["state"] == "unchanged"),
        "{s}"
    );

    // An empty folder where a file goes.
    fs::remove_file(r.p("d/x")).unwrap();
    fs::create_dir(r.p("d/x")).unwrap();
    fs::remove_dir_all(r.p("t")).unwrap();
    fs::create_dir(r.p("t")).unwrap();
    r.git(&["checkout", "-q", "main"]);
    r.ok(&["checkout", "--rev", "v1"]);
    assert_eq!(r.read("d/x"), x1);
    assert_eq!(r.read("t/inner/f"), b"t was a folder");
}

#[test]
fn checkout_over_a_folder_with_unstored_files_refuses_and_deletes_nothing() {
    let r = TestRepo::new();
    let (x1, _) = file_and_folder_versions(&r);
    r.write("d/x/new-unstored.txt", b"precious");
    let before = work_snapshot(r.path());
    let err = r.fails(&["checkout", "--rev", "v1"]);
    assert!(err.contains("d/x/new-unstored.txt"), "{err}");
    assert_eq!(
        work_snapshot(r.path()),
        before,
        "a refused checkout deletes nothing"
    );

    // The same through pull's direct writer (a clone fetching from a folder remote).
    let _remote = folder_remote(&r);
    r.git(&["commit", "-q", "-am", "remote"]);
    r.ok(&["push", "--all-commits"]);
    let clone = clone_of(&r);
    ok_at(clone.path(), &["pull"]);
    fs::write(clone.path().join("d/x/mine.txt"), b"mine").unwrap();
    let before = work_snapshot(clone.path());
    let out = dv_command(clone.path())
        .args(["pull", "--rev", "v1"])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(work_snapshot(clone.path()), before);
    ok_at(clone.path(), &["pull", "--rev", "v1", "--force"]);
    assert_eq!(fs::read(clone.path().join("d/x")).unwrap(), x1);
    assert_eq!(
        fs::read(clone.path().join("t/inner/f")).unwrap(),
        b"t was a folder"
    );
    assert_no_temp_files(clone.path(), "pull over folders");
}

#[test]
fn pull_replaces_a_folder_by_a_file_in_a_fresh_clone() {
    let r = TestRepo::new();
    let (x1, t2) = file_and_folder_versions(&r);
    let _remote = folder_remote(&r);
    r.git(&["commit", "-q", "-am", "remote"]);
    r.ok(&["push", "--all-commits"]);
    let clone = clone_of(&r);
    git_in(
        clone.path(),
        &["checkout", "-q", "v1", "--", "d.dv", "t.dv"],
    );
    ok_at(clone.path(), &["pull"]);
    assert_eq!(fs::read(clone.path().join("d/x")).unwrap(), x1);
    git_in(
        clone.path(),
        &["checkout", "-q", "main", "--", "d.dv", "t.dv"],
    );
    ok_at(clone.path(), &["pull"]);
    assert_eq!(fs::read(clone.path().join("t")).unwrap(), t2);
    assert!(clone.path().join("d/x/inside/deep.bin").is_file());
    git_in(
        clone.path(),
        &["checkout", "-q", "v1", "--", "d.dv", "t.dv"],
    );
    ok_at(clone.path(), &["pull"]);
    assert_eq!(fs::read(clone.path().join("d/x")).unwrap(), x1);
    assert_no_temp_files(clone.path(), "pull");
}

/// `dv add`, commit, `rm -rf`, `dv checkout`: the same bytes come back and Git sees nothing to commit.
fn round_trip(r: &TestRepo, paths: &[&str]) {
    let mut args = vec!["add"];
    args.extend_from_slice(paths);
    r.ok(&args);
    r.git(&["add", ".dv"]);
    r.git(&["commit", "-q", "-m", "names"]);
    assert_eq!(r.git(&["status", "--porcelain"]), "");
    let before = work_snapshot(r.path());
    for p in paths {
        let abs = r.p(p);
        if abs.is_dir() {
            fs::remove_dir_all(abs).unwrap();
        } else {
            fs::remove_file(abs).unwrap();
        }
    }
    r.ok(&["checkout"]);
    assert_eq!(work_snapshot(r.path()), before, "bit for bit");
    assert_eq!(r.git(&["status", "--porcelain"]), "");
    let s = r.json(&["status"]);
    assert!(
        s["datasets"]
            .as_array()
            .unwrap()
            .iter()
            .all(|d| d["state"] == "unchanged"),
        "{s}"
    );
}

#[test]
fn names_at_the_length_limit_check_out_again() {
    let r = TestRepo::new();
    // The longest dataset name (its pointer file is 255 bytes), and files of 255 bytes inside a folder.
    let long = "n".repeat(252);
    let utf8_long = "é".repeat(126);
    r.write(&long, &bytes(6, 1000));
    r.write(&format!("folder/{}", "f".repeat(255)), &bytes(7, 1000));
    r.write(&format!("folder/{}", "日".repeat(85)), b"wide");
    r.write(&format!("sub/{utf8_long}"), b"two-byte characters");
    round_trip(&r, &[&long, "folder", &format!("sub/{utf8_long}")]);

    // One byte longer is refused at add, clearly, and nothing is written.
    let too_long = "n".repeat(253);
    r.write(&too_long, b"x");
    let err = r.fails(&["add", &too_long]);
    assert!(err.contains("255-byte"), "{err}");
    let ignored = String::from_utf8(r.read(".gitignore")).unwrap();
    assert!(!ignored.contains(&too_long), "nothing written for it");
}

#[test]
fn names_git_treats_specially_round_trip() {
    let r = TestRepo::new();
    let names = [
        "#hash",
        "!bang",
        "star*",
        "q?mark",
        "[br]acket",
        " lead",
        "trail ",
        "two  ",
        "sp ace",
        "ü ñ",
    ];
    for (i, n) in names.iter().enumerate() {
        r.write(&format!("names/{n}"), &bytes(i as u64, 100));
    }
    // Unrelated files Git must keep seeing: an ignore line that matched too much would hide them.
    r.write("names/hash", b"keep");
    r.write("names/bang", b"keep");
    r.write("names/stars", b"keep");
    r.write("names/trail", b"keep");
    r.git(&[
        "add",
        "names/hash",
        "names/bang",
        "names/stars",
        "names/trail",
    ]);
    r.git(&["commit", "-q", "-m", "kept"]);
    let paths: Vec<String> = names.iter().map(|n| format!("names/{n}")).collect();
    let paths: Vec<&str> = paths.iter().map(String::as_str).collect();
    round_trip(&r, &paths);
    let tracked = r.git(&["ls-files", "names"]);
    for kept in ["names/hash", "names/bang", "names/stars", "names/trail"] {
        assert!(tracked.contains(kept), "{tracked}");
    }
}

#[test]
fn names_with_control_characters_are_refused_at_add() {
    let r = TestRepo::new();
    r.write("other", b"unrelated, must stay visible to Git");
    for name in ["new\nline", "other\n*", "tab\there", "cr\r", "bell\u{7}"] {
        r.write(name, b"x");
        let err = r.fails(&["add", name]);
        assert!(err.contains("control character"), "{name:?}: {err}");
        assert!(!err.contains('\r') && err.lines().count() >= 1);
        assert!(!r.p(".gitignore").exists(), "{name:?}: .gitignore written");
        assert!(!r.p(&format!("{name}.dv")).exists());
        fs::remove_file(r.p(name)).unwrap();
    }
    assert!(r.git(&["status", "--porcelain"]).contains("?? other"));
    fs::remove_file(r.p("other")).unwrap();
    // Inside a folder such names are data, not .gitignore lines: they round-trip.
    r.write("folder/new\nline", b"nl");
    r.write("folder/tab\t", b"tab");
    round_trip(&r, &["folder"]);
}

#[test]
fn a_dv_file_that_is_not_a_pointer_is_skipped_with_a_warning() {
    let r = repo_with_data();
    // A DV video (any bytes), and a text file that is not TOML.
    r.write("clip.dv", &bytes(8, 3000));
    r.write("notes/readme.dv", b"just some text = = =\n");
    for args in [&["status"][..], &["checkout"], &["fsck"]] {
        let out = r.dv(args);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{args:?}: {err}");
        assert!(
            err.contains("warning: skipped 'clip.dv': not a dv pointer file")
                && err.contains("'notes/readme.dv'"),
            "{args:?}: {err}"
        );
    }
    let s = r.json(&["status"]);
    assert_eq!(s["datasets"].as_array().unwrap().len(), 1);
    assert_eq!(s["not_pointers"][0]["path"], "clip.dv");
    assert_eq!(r.read("clip.dv"), bytes(8, 3000), "not touched");
    // Naming it is an error.
    let err = r.fails(&["status", "clip.dv"]);
    assert!(err.contains("clip.dv"), "{err}");
    r.fails(&["checkout", "notes"]);

    // `dv add clip` would put its pointer file in the video's place: refused, the video untouched.
    r.write("clip", b"other data");
    let err = r.fails(&["add", "clip"]);
    assert!(
        err.contains("'clip.dv', which is not a dv pointer file"),
        "{err}"
    );
    assert_eq!(r.read("clip.dv"), bytes(8, 3000));
    fs::remove_file(r.p("clip")).unwrap();

    // Tracked by dv (its pointer is clip.dv.dv), it is data and no longer warned about.
    r.ok(&["add", "clip.dv"]);
    fs::remove_file(r.p("notes/readme.dv")).unwrap();
    let out = r.dv(&["status"]);
    assert!(out.status.success());
    assert!(!String::from_utf8_lossy(&out.stderr).contains("warning"));
    assert_eq!(
        r.json(&["status", "clip.dv"])["datasets"][0]["path"],
        "clip.dv"
    );
    fs::remove_file(r.p("clip.dv")).unwrap();
    r.ok(&["checkout", "clip.dv"]);
    assert_eq!(r.read("clip.dv"), bytes(8, 3000));

    // A damaged pointer (dv's header, broken TOML) is a problem, not a file to skip quietly: see
    // `a_malformed_pointer_blocks_only_the_commands_that_would_act_on_it`.
    r.write(
        "broken.dv",
        b"# Data versioned by dv: `dv checkout` restores it\ndv = \n",
    );
    let err = r.fails(&["status", "broken.dv"]);
    assert!(err.contains("broken.dv"), "{err}");
}

/// One malformed pointer file (damaged, or from a newer dv) no longer blocks every command: status, fsck,
/// push and fetch go on with a warning naming it (status and fsck report it as a problem: `--exit-code` and
/// fsck exit 1); checkout, pull and gc, which act on every pointer, refuse, naming it; naming it is an error.
#[test]
fn a_malformed_pointer_blocks_only_the_commands_that_would_act_on_it() {
    let r = TestRepo::new();
    let _remote = folder_remote(&r);
    r.write("good.bin", b"good");
    r.ok(&["add", "good.bin"]);
    r.write(
        "broken.dv",
        b"# Data versioned by dv: `dv checkout` restores it\ndv = \n",
    );
    let warned = "warning: skipped 'broken.dv': broken.dv:";
    let st = r.dv(&["status", "--json"]);
    let err = String::from_utf8_lossy(&st.stderr);
    assert!(st.status.success() && err.contains(warned), "{err}");
    let st: serde_json::Value = serde_json::from_slice(&st.stdout).unwrap();
    assert_eq!(st["datasets"][0]["path"], "good.bin", "{st}");
    assert_eq!(st["not_pointers"][0]["path"], "broken.dv", "{st}");
    assert_eq!(st["not_pointers"][0]["problem"], "malformed", "{st}");
    for (args, code) in [
        (&["status", "--exit-code"][..], 1),
        (&["fsck"], 1),
        (&["push"], 0),
        (&["fetch"], 0),
    ] {
        let out = r.dv(args);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(code), "{args:?}: {err}");
        assert!(err.contains(warned), "{args:?}: {err}");
    }
    for args in [
        &["checkout"][..],
        &["pull"],
        &["gc"],
        &["status", "broken.dv"],
    ] {
        let out = r.dv(args);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {err}");
        assert!(err.contains("error: broken.dv:"), "{args:?}: {err}");
    }
    // Named datasets still check out.
    std::fs::remove_file(r.p("good.bin")).unwrap();
    r.ok(&["checkout", "good.bin"]);
    assert_eq!(r.read("good.bin"), b"good");
}

#[test]
fn a_killed_checkout_of_a_file_dataset_leaves_nothing_for_git_and_the_next_run_cleans_up() {
    let r = TestRepo::new();
    let v1 = bytes(9, 300_000);
    r.write("big.bin", &v1);
    r.write("deep/er/file.bin", &bytes(10, 1000));
    r.ok(&["add", "big.bin", "deep/er/file.bin"]);
    r.git(&["add", ".dv"]);
    r.git(&["commit", "-q", "-m", "v1"]);
    r.write("big.bin", &bytes(11, 200_000));
    r.write("deep/er/file.bin", b"changed");
    r.ok(&["add", "big.bin", "deep/er/file.bin"]);
    r.git(&["commit", "-q", "-m", "v2"]);
    let mut kills = 0;
    for n in 1..50 {
        let out = dv_command(r.path())
            .args(["checkout", "--rev", "HEAD~1"])
            .env("DV_CRASH_AT", n.to_string())
            .output()
            .unwrap();
        if out.status.signal() != Some(9) {
            assert!(out.status.success());
            break;
        }
        kills += 1;
        assert_eq!(
            r.git(&["status", "--porcelain"]),
            "",
            "killed at point {n}: Git sees a leftover"
        );
        r.ok(&["checkout"]);
        assert_no_temp_files(r.path(), &format!("after the run following a kill at {n}"));
    }
    assert!(kills >= 2, "the checkout passed its crash points");
    assert_eq!(r.read("big.bin"), v1);
}

#[test]
fn a_killed_pull_of_a_file_dataset_leaves_nothing_for_git_and_the_next_run_cleans_up() {
    let r = TestRepo::new();
    let _remote = folder_remote(&r);
    let big = bytes(12, 300_000);
    r.write("big.bin", &big);
    r.write("deep/er/file.bin", &bytes(13, 1000));
    r.ok(&["add", "big.bin", "deep/er/file.bin"]);
    r.git(&["add", ".dv"]);
    r.git(&["commit", "-q", "-m", "v1"]);
    r.ok(&["push"]);
    let mut kills = 0;
    for n in 1..100 {
        let clone = clone_of(&r);
        let out = dv_command(clone.path())
            .args(["pull"])
            .env("DV_CRASH_AT", n.to_string())
            .output()
            .unwrap();
        if out.status.signal() != Some(9) {
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
            break;
        }
        kills += 1;
        assert_eq!(
            git_in(clone.path(), &["status", "--porcelain"]),
            "",
            "killed at point {n}: Git sees a leftover"
        );
        ok_at(clone.path(), &["pull"]);
        assert_no_temp_files(
            clone.path(),
            &format!("after the pull following a kill at {n}"),
        );
        assert_eq!(fs::read(clone.path().join("big.bin")).unwrap(), big);
    }
    assert!(kills >= 2, "the pull passed its crash points");
}

#[test]
fn pointer_sizes_from_2_pow_63_are_refused() {
    let r = repo_with_data();
    let text = String::from_utf8(r.read("data.dv")).unwrap();
    for big in ["9223372036854775808", "18446744073709551615"] {
        let size_line = text.lines().find(|l| l.starts_with("size = ")).unwrap();
        r.write(
            "data.dv",
            text.replace(size_line, &format!("size = {big}")).as_bytes(),
        );
        let err = r.fails(&["status", "data"]);
        assert!(
            err.contains("data.dv") && err.contains("out of range"),
            "{err}"
        );
    }
}

/// A pointer file committed inside a tracked folder (`git add -f`, or from a branch where that folder was no
/// dataset yet) is no dataset: status reports it as nested; the folder, holding files Git tracks, is Git's (as
/// `dv add` holds), so its own pointer file is malformed; checkout neither writes the data the nested pointers
/// describe nor deletes them, even with --force, until Git stops tracking them.
#[test]
fn a_pointer_committed_inside_a_tracked_folder_is_reported_and_not_replaced_unasked() {
    let r = TestRepo::new();
    r.write("data/a", b"a");
    r.write("other", b"other data");
    r.ok(&["add", "data", "other"]);
    r.git(&["commit", "-qm", "one"]);
    // The pointer's bytes are in the cache too (as a file tracked elsewhere), so "dv stored it" cannot be
    // what keeps it.
    let pointer = r.read("other.dv");
    r.write("spare", &pointer);
    r.ok(&["add", "spare"]);
    r.write("data/inner.dv", &pointer);
    r.write("data/x/y.dv", &pointer);
    r.git(&["add", "-f", "data/inner.dv", "data/x/y.dv"]);
    r.git(&["commit", "-qm", "nested"]);

    // The folder holds files Git tracks, so it is Git's (as `dv add` holds): `data.dv` is malformed, and the
    // pointer files inside are reported as nested.
    let out = r.dv(&["status", "--json"]);
    let status: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    let problems: Vec<(&str, &str, &str)> = status["not_pointers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| {
            (
                n["path"].as_str().unwrap(),
                n["problem"].as_str().unwrap(),
                n["inside"].as_str().unwrap_or(""),
            )
        })
        .collect();
    assert_eq!(
        problems,
        [
            ("data.dv", "malformed", ""),
            ("data/inner.dv", "nested", "data"),
            ("data/x/y.dv", "nested", "data")
        ],
        "{status}"
    );
    assert!(
        stderr.contains("data/inner.dv") && stderr.contains("inside the folder of dataset 'data'"),
        "{stderr}"
    );
    assert!(
        stderr.contains("Git tracks 'data/inner.dv' in it"),
        "{stderr}"
    );
    let paths: Vec<&str> = status["datasets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["path"].as_str().unwrap())
        .collect();
    assert_eq!(paths, ["other", "spare"]);
    // Named, a nested pointer file is part of the folder's dataset, never a dataset of its own.
    let named = r.json(&["status", "data/inner.dv"]);
    assert_eq!(named["datasets"].as_array().unwrap().len(), 0, "{named}");
    assert_eq!(named["not_pointers"][0]["path"], "data.dv", "{named}");

    // Checkout refuses, with or without --force, naming the pointer file and what Git tracks, and writes
    // nothing the nested pointers describe; so does a checkout of a path inside.
    for args in [
        &["checkout"][..],
        &["checkout", "--force"],
        &["checkout", "--force", "data/x/y"],
    ] {
        let err = r.refuses(args);
        assert!(
            err.contains("data.dv") && err.contains("Git tracks 'data/inner.dv' in it"),
            "dv {args:?}: {err}"
        );
        assert_eq!(r.read("data/inner.dv"), pointer);
        assert_eq!(r.read("data/x/y.dv"), pointer);
    }
    assert!(!r.p("data/inner").exists() && !r.p("data/x/y").exists());
    // Once Git no longer tracks them, --force makes the folder its version.
    r.git(&["rm", "-q", "--cached", "data/inner.dv", "data/x/y.dv"]);
    r.ok(&["checkout", "--force"]);
    assert!(!r.p("data/inner.dv").exists() && !r.p("data/x").exists());
    assert_eq!(r.read("data/a"), b"a");
}

/// A pointer file whose data path Git tracks (`README.md.dv` committed beside `README.md`, `x.dv.dv` beside the
/// pointer file `x.dv`) describes nothing dv may write: `status` reports it as malformed, and `checkout`, `checkout
/// --rev`, `pull` refuse it (with --force too), naming it; README.md, x.dv and .gitignore stay as they were.
#[test]
fn a_pointer_naming_a_file_git_tracks_is_refused_with_or_without_force() {
    let r = TestRepo::new();
    let _remote = folder_remote(&r);
    r.write("README.md", b"read me\n");
    r.write("x", b"data");
    r.ok(&["add", "x"]);
    r.git(&["add", "-A"]);
    r.git(&["commit", "-qm", "one"]);
    r.ok(&["push"]);
    let pointer = r.read("x.dv");
    r.write("README.md.dv", &pointer);
    r.write("x.dv.dv", &pointer);
    r.git(&["add", "-f", "README.md.dv", "x.dv.dv"]);
    r.git(&["commit", "-qm", "planted"]);
    let ignore_before = r.read(".gitignore");

    let status = r.json(&["status"]);
    let problems: Vec<(&str, &str)> = status["not_pointers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| (n["path"].as_str().unwrap(), n["problem"].as_str().unwrap()))
        .collect();
    assert_eq!(
        problems,
        [("README.md.dv", "malformed"), ("x.dv.dv", "malformed")],
        "{status}"
    );
    let datasets: Vec<&str> = status["datasets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["path"].as_str().unwrap())
        .collect();
    assert_eq!(datasets, ["x"], "{status}");

    let check = |args: &[&str], dir: &std::path::Path| {
        let out = dv_command(dir).args(args).output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "dv {args:?}: {err}");
        assert!(
            err.contains("a pointer file cannot describe \"README.md\": Git tracks it")
                || err.contains("a pointer file cannot describe \"x.dv\""),
            "dv {args:?}: {err}"
        );
        assert_eq!(std::fs::read(dir.join("README.md")).unwrap(), b"read me\n");
        assert_eq!(std::fs::read(dir.join("x.dv")).unwrap(), pointer);
    };
    for args in [
        &["checkout", "--force"][..],
        &["checkout", "--force", "README.md"],
        &["checkout", "--force", "README.md.dv"],
        &["checkout", "--force", "x.dv.dv"],
        &["checkout", "--force", "--rev", "HEAD"],
        &["checkout", "--force", "--rev", "HEAD", "README.md"],
        &["pull", "--force"],
        &["pull", "--force", "README.md"],
    ] {
        check(args, r.path());
    }
    assert_eq!(r.read(".gitignore"), ignore_before);
    // A fresh clone: the same refusals, and nothing written there either.
    let clone = clone_of(&r);
    for args in [&["pull", "--force"][..], &["pull", "README.md"]] {
        check(args, clone.path());
    }
    assert!(!clone.path().join("x").exists());
}

/// `x.dv.dv` beside a pointer file `x.dv` that Git does not track yet (added with --no-stage) still describes a
/// pointer file: refused, and x.dv is not replaced by data.
#[test]
fn a_pointer_naming_an_unstaged_pointer_file_is_refused() {
    let r = TestRepo::new();
    r.write("x", b"data");
    r.ok(&["add", "--no-stage", "x"]);
    let pointer = r.read("x.dv");
    r.write("x.dv.dv", &pointer);
    for args in [
        &["checkout", "--force"][..],
        &["checkout", "--force", "x.dv.dv"],
    ] {
        let err = r.refuses(args);
        assert!(
            err.contains("x.dv.dv") && err.contains("it is the pointer file of dataset 'x'"),
            "{err}"
        );
        assert_eq!(r.read("x.dv"), pointer);
    }
}

/// A planted folder pointer naming a folder Git tracks (`src.dv`): checkout --force would delete or replace the
/// source files; it refuses, naming them, and changes nothing.
#[test]
fn checkout_never_replaces_or_deletes_files_git_tracks() {
    let r = TestRepo::new();
    r.write("data/a", b"a");
    r.ok(&["add", "data"]);
    r.write("src/main.rs", b"fn main() {}\n");
    r.write("src/lib.rs", b"\n");
    r.git(&["add", "src"]);
    r.git(&["commit", "-qm", "one"]);
    let pointer = r.read("data.dv");
    r.write("src.dv", &pointer);
    let before = snapshot(&r.p("src"));
    for args in [
        &["checkout", "--force"][..],
        &["checkout", "--force", "src"],
    ] {
        let err = r.refuses(args);
        assert!(
            err.contains("src.dv") && err.contains("Git tracks 'src/lib.rs' in it"),
            "{err}"
        );
        assert_eq!(snapshot(&r.p("src")), before);
    }
    // At a revision the pointer file is read from the commit, where `src` is a folder; the checkout itself
    // refuses to touch a folder Git's index tracks files in.
    r.git(&["add", "src.dv"]);
    r.git(&["commit", "-qm", "planted"]);
    let err = r.refuses(&["checkout", "--force", "--rev", "HEAD", "src"]);
    assert!(
        err.contains("files Git tracks:")
            && err.contains("    src/lib.rs\n")
            && err.contains("    src/main.rs\n"),
        "{err}"
    );
    assert_eq!(snapshot(&r.p("src")), before);
    assert!(!r.p("src/a").exists());
}

/// A planted pointer file for a folder Git tracks, naming a version that holds the folder's files plus one more
/// (adversarial review: pull wrote the extra file and added `/src` to .gitignore, so Git then ignored every new
/// file there): refused by status, checkout, `checkout --rev` and pull alike; nothing is written into the
/// folder and no ignore line is added.
#[test]
fn a_planted_pointer_for_a_folder_git_tracks_never_writes_into_it_or_ignores_it() {
    let r = TestRepo::new();
    let _remote = folder_remote(&r);
    r.write("src/main.c", b"int main(){}\n");
    r.git(&["add", "-A"]);
    r.git(&["commit", "-qm", "source"]);
    r.write("x/main.c", b"int main(){}\n");
    r.write("x/extra.py", b"print('hidden')\n");
    r.ok(&["add", "--no-stage", "x"]);
    r.ok(&["push", "x"]);
    std::fs::rename(r.p("x.dv"), r.p("src.dv")).unwrap();
    std::fs::remove_dir_all(r.p("x")).unwrap();
    std::fs::remove_file(r.p(".gitignore")).unwrap();
    r.git(&["add", "src.dv"]);
    r.git(&["commit", "-qm", "innocent"]);
    let status = r.json(&["status"]);
    assert_eq!(status["not_pointers"][0]["path"], "src.dv", "{status}");
    assert_eq!(
        status["not_pointers"][0]["problem"], "malformed",
        "{status}"
    );
    for args in [
        &["checkout", "--force"][..],
        &["checkout", "--force", "--rev", "HEAD"],
        &["pull", "--force"],
        &["pull", "src"],
    ] {
        r.refuses(args);
        assert!(!r.p("src/extra.py").exists(), "dv {args:?}");
        assert!(!r.p(".gitignore").exists(), "dv {args:?}");
    }
    let clone = clone_of(&r);
    let out = dv_command(clone.path()).args(["pull"]).output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!clone.path().join("src/extra.py").exists());
    assert!(!clone.path().join(".gitignore").exists());
}

/// `dv add` of a folder that holds another dataset's pointer file is refused, naming it: one dataset per folder.
#[test]
fn add_refuses_a_folder_holding_another_dataset() {
    let r = TestRepo::new();
    r.write("data/a", b"a");
    r.write("data/x/y", b"y");
    r.ok(&["add", "--no-stage", "data/x/y"]);
    let err = r.fails(&["add", "--no-stage", "data"]);
    assert!(
        err.contains("'data' cannot be added") && err.contains("holds the dataset 'data/x/y'"),
        "{err}"
    );
    assert!(!r.p("data.dv").exists());
}

/// `dv add` of a folder holding `x.dv` with no dv header beside `x` (the malformed-pointer rule: taken for x's
/// damaged pointer file) added it as data. The rule for a pointer file inside a folder applies: refused, naming
/// it, and nothing is written. A `*.dv` file with nothing of its name beside it (a video) is still data.
#[test]
fn add_refuses_a_folder_holding_a_damaged_pointer_file() {
    let r = TestRepo::new();
    r.write("data/a", b"a");
    r.write("data/x/y", b"y");
    r.write("data/x/y.dv", b"");
    let err = r.fails(&["add", "--no-stage", "data"]);
    assert!(
        err.contains("'data' cannot be added")
            && err.contains("it holds 'data/x/y.dv', a pointer file dv cannot read"),
        "{err}"
    );
    assert!(!r.p("data.dv").exists() && !r.p(".gitignore").exists());
    // With the damaged file gone, and a video named like a pointer file, the folder is data.
    std::fs::remove_file(r.p("data/x/y.dv")).unwrap();
    r.write("data/clip.dv", &bytes(9, 300));
    r.ok(&["add", "--no-stage", "data"]);
    assert_eq!(r.json(&["status"])["datasets"][0]["path"], "data");
    std::fs::remove_dir_all(r.p("data")).unwrap();
    r.ok(&["checkout"]);
    assert_eq!(r.read("data/clip.dv"), bytes(9, 300));
}

/// Names inside a folder dataset may hold control characters (Git never sees them), but human output shows
/// them quoted and escaped as Git does, so a name cannot forge an output line or send a terminal escape; `--json`
/// keeps them exact.
#[test]
fn names_with_a_newline_or_an_escape_are_quoted_in_human_output() {
    let r = TestRepo::new();
    r.write("data/ok", b"ok");
    r.ok(&["add", "data"]);
    r.git(&["commit", "-qm", "one"]);
    let forged = "a\nother: unchanged";
    let esc = "e\u{1b}[31mred";
    r.write(&format!("data/{forged}"), b"1");
    r.write(&format!("data/{esc}"), b"2");
    let check = |out: &str, what: &str| {
        assert!(!out.contains('\u{1b}'), "{what}: raw ESC in {out:?}");
        assert!(
            !out.lines().any(|l| l.starts_with("other: unchanged")),
            "{what}: forged line in {out:?}"
        );
        assert!(
            out.contains("\"data/a\\nother: unchanged\"") && out.contains("\"data/e\\x1b[31mred\""),
            "{what}: {out:?}"
        );
    };
    check(&r.ok(&["status"]), "status");
    let json = r.json(&["status"]);
    let changes: Vec<&str> = json["datasets"][0]["changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["path"].as_str().unwrap())
        .collect();
    assert!(
        changes.contains(&"data/a\nother: unchanged") && changes.contains(&"data/e\u{1b}[31mred"),
        "{json}"
    );
    r.ok(&["add", "data"]);
    check(&r.ok(&["diff"]), "diff");
    // A checkout that would discard them lists them the same way.
    r.settle();
    r.write(&format!("data/{forged}"), b"changed");
    r.write(&format!("data/{esc}"), b"changed");
    let out = r.dv(&["checkout", "--rev", "HEAD"]);
    assert_eq!(out.status.code(), Some(1));
    check(&String::from_utf8_lossy(&out.stderr), "checkout");
}

/// A killed `dv add` left its temporary files beside the pointer file and `.gitignore`, and the next add
/// removed every file of that shape of a process that is gone, a user's file too. Now add makes them in the
/// cache's `tmp/` (or records them), and a file beside the data that merely looks like one stays, whatever its
/// process number (tempnames::a_users_file_named_like_a_temporary_file_is_data).
#[test]
fn add_removes_no_file_that_only_looks_like_a_temporary_file() {
    let r = TestRepo::new();
    r.write("sub/data.bin", b"x");
    // Linux pids stay below 2^22: 4999999 is a process that is gone.
    let lookalikes = [
        "sub/.data.bin.dv.dv-tmp-4999999-0".to_string(),
        "sub/..gitignore.dv-tmp-4999999-1".to_string(),
        "..gitattributes.dv-tmp-4999999-2".to_string(),
        "sub/.keep.dv-tmp-mine".to_string(),
        format!("sub/.data.bin.dv.dv-tmp-{}-0", std::process::id()),
    ];
    for p in &lookalikes {
        r.write(p, b"user");
    }
    r.ok(&["add", "sub/data.bin"]);
    for p in &lookalikes {
        assert_eq!(r.read(p), b"user", "{p}");
    }
}

/// `dv gc` warns about a `*.dv` file that is not a pointer file, as status does (it skipped it silently).
#[test]
fn gc_warns_about_a_dv_file_that_is_not_a_pointer() {
    let r = TestRepo::new();
    r.write("f.bin", b"f");
    r.ok(&["add", "f.bin"]);
    r.write("clip.dv", &bytes(8, 300));
    for args in [&["gc"][..], &["status"]] {
        let out = r.dv(args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{args:?}: {stderr}");
        assert!(
            stderr.contains("warning: skipped 'clip.dv': not a dv pointer file"),
            "{args:?}: {stderr}"
        );
    }
}

/// `dv checkout data/x/y`, a path inside a dataset whose version has no folder `data/x`, removed all of
/// `data/x` (files outside the named path, silently when the cache held their bytes): only the path named is
/// in scope, and a path the version does not hold is an error that touches nothing.
#[test]
fn checkout_of_a_path_the_version_lacks_touches_nothing_beside_it() {
    let r = TestRepo::new();
    r.write("data/a", b"a");
    r.ok(&["add", "data"]);
    r.write("data/x/y", b"a");
    r.write("data/x/z", b"a");
    let err = r.fails(&["checkout", "data/x/y"]);
    assert!(
        err.contains("'data/x/y' does not exist in the version 'data.dv' names"),
        "{err}"
    );
    assert_eq!(r.read("data/x/y"), b"a", "the path named stays");
    assert_eq!(r.read("data/x/z"), b"a", "what lies beside it stays");
    // Status says what is there: a new path.
    assert_eq!(
        r.json(&["status", "data/x/y"])["datasets"][0]["changes"][0]["path"],
        "data/x/y"
    );
}

/// Every changed path `dv status ARGS --json` reports, across all its entries, sorted (duplicates kept).
fn changed_paths(r: &TestRepo, args: &[&str]) -> Vec<String> {
    let mut full = vec!["status"];
    full.extend_from_slice(args);
    let s = r.json(&full);
    let mut out = Vec::new();
    for d in s["datasets"].as_array().unwrap() {
        assert_eq!(d["path"], "data", "{s}");
        for c in d["changes"].as_array().unwrap() {
            out.push(c["path"].as_str().unwrap().to_string());
        }
    }
    out.sort();
    out
}

#[test]
fn several_paths_inside_one_dataset_are_merged_into_the_widest_scope_each_once() {
    let r = repo_with_data();
    r.write("data/planted-a.bin", b"changed a");
    r.write("data/planted-sub/b.txt", b"changed b");
    let both = changed_paths(&r, &[]);
    assert_eq!(both.len(), 2, "{both:?}");
    let (a, b) = (both[0].clone(), both[1].clone());
    assert!(
        a.ends_with("planted-a.bin") && b.ends_with("b.txt"),
        "{both:?}"
    );
    // A whole dataset absorbs a path inside it, in either order.
    assert_eq!(changed_paths(&r, &["data", "data/planted-sub"]), both);
    assert_eq!(changed_paths(&r, &["data/planted-sub", "data"]), both);
    // A wider path inside the dataset absorbs a narrower one, in either order.
    assert_eq!(
        changed_paths(&r, &["data/planted-sub", "data/planted-sub/b.txt"]),
        [b.as_str()]
    );
    assert_eq!(
        changed_paths(&r, &["data/planted-sub/b.txt", "data/planted-sub"]),
        [b.as_str()]
    );
    // Paths beside each other are both kept.
    assert_eq!(
        changed_paths(&r, &["data/planted-a.bin", "data/planted-sub"]),
        both
    );
    assert_eq!(
        changed_paths(&r, &["data/planted-sub", "data/planted-a.bin"]),
        both
    );
}

#[test]
fn pointer_like_names_dv_does_not_own_are_not_datasets_in_the_work_tree_or_at_a_revision() {
    let r = repo_with_data();
    let pointer = r.read("data.dv");
    // Copies of a real pointer where no dataset can be: a file named just `.dv`, one in dv's own folder, one
    // in Git's folder; a folder named like a pointer file; a DV video outside any dataset.
    r.write("sub/.dv", &pointer);
    r.write(".dv/extra.dv", &pointer);
    r.write(".git/planted.dv", &pointer);
    r.write("clips.dv/a.txt", b"a folder named like a pointer");
    r.write("clip.dv", &bytes(8, 3000));
    r.git(&[
        "add",
        "-f",
        "sub/.dv",
        ".dv/extra.dv",
        "clips.dv",
        "clip.dv",
    ]);
    // And a real dataset in a subfolder, which discovery must still find.
    r.write("deep/inner.bin", b"inner");
    r.ok(&["add", "deep/inner.bin"]);
    r.git(&["commit", "-q", "-m", "pointer-like names"]);

    let s = r.json(&["status"]);
    let datasets: Vec<_> = s["datasets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["path"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(datasets, ["data", "deep/inner.bin"], "{s}");
    // A folder named like a pointer file is no pointer file of `clips`.
    let err = r.fails(&["status", "clips"]);
    assert!(err.contains("'clips' is not tracked"), "{err}");
    let skipped: Vec<_> = s["not_pointers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["path"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(skipped, ["clip.dv"], "{s}");

    for args in [&["fsck"][..], &["fsck", "--rev", "HEAD"]] {
        let out = r.dv(args);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{args:?}: {err}");
        assert!(
            err.contains("skipped 'clip.dv'"),
            "{args:?} warns about the video: {err}"
        );
        for name in ["sub/.dv", "extra.dv", "planted.dv", "clips.dv"] {
            assert!(!err.contains(name), "{args:?} mentions {name}: {err}");
        }
    }
    assert_eq!(r.read("clip.dv"), bytes(8, 3000), "not touched");
}

#[test]
fn a_name_too_long_for_the_file_system_is_an_error_saying_so() {
    let r = repo_with_data();
    let long = "n".repeat(300);
    let err = r.fails(&["status", &long]);
    assert!(err.contains("too long"), "{err}");
}

#[test]
fn an_emptied_pointer_beside_its_data_is_a_problem_and_gc_keeps_the_data() {
    let r = repo_with_data();
    let before = r.read("data/planted-a.bin");
    // Emptied (or garbage, or re-encoded) it has no dv header, like a video; but `data/` beside it says what it was.
    for damaged in [&b""[..], b"garbage{", b"\xff\xfe#\x00 \x00D\x00"] {
        r.write("data.dv", damaged);
        for args in [&["gc", "--grace", "0"][..], &["fsck"]] {
            let out = r.dv(args);
            let err = String::from_utf8_lossy(&out.stderr);
            assert_eq!(out.status.code(), Some(1), "{args:?}: {err}");
            assert!(err.contains("'data.dv'"), "{args:?}: {err}");
        }
        let s = r.json(&["status"]);
        assert_eq!(s["not_pointers"][0]["problem"], "malformed", "{s}");
    }
    r.git(&["checkout", "data.dv"]);
    fs::remove_dir_all(r.p("data")).unwrap();
    r.ok(&["checkout"]);
    assert_eq!(r.read("data/planted-a.bin"), before);
}

/// Every command taking a dataset PATH resolves one named inside a dataset by one rule: some version in scope
/// must hold it, else an error names it (adversarial review: `dv fetch data/typo` and `dv du data/typo` exited
/// 0, fetch doing nothing and du reporting the whole dataset). A path that is there passes.
#[test]
fn a_named_path_no_version_holds_is_refused_by_every_command() {
    let r = TestRepo::new();
    r.write("data/a/x", &bytes(50, 3000));
    r.write("data/b", &bytes(51, 3000));
    r.write("t.csv", b"id,v\n1,a\n2,b\n");
    r.ok(&["add", "data"]);
    r.ok(&["add", "t.csv", "--key", "id"]);
    let _remote = folder_remote(&r);
    r.git(&["add", "-A"]);
    r.git(&["commit", "-qm", "v1"]);
    r.ok(&["push"]);
    let missing = |err: &str, path: &str| {
        assert!(
            err.contains(&format!("error: '{path}' does not exist in ")),
            "{err}"
        );
        assert!(err.contains("hint: "), "{err}");
    };
    // In a clone, whose cache lacks the trees: fetch asks once it has them, and fetches no file.
    let clone = clone_of(&r);
    let out = dv_command(clone.path())
        .args(["fetch", "data/typo"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    missing(&err, "data/typo");
    let out = dv_command(clone.path())
        .args(["fetch", "data/a/x/deeper"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    missing(&err, "data/a/x/deeper");
    // Named right, it works, and then the cache holds what it fetched.
    ok_at(clone.path(), &["fetch", "data/a"]);
    for args in [
        &["fetch", "data/typo"][..],
        &["fetch", "--all-branches", "data/typo"],
        &["push", "data/typo"],
        &["du", "data/typo"],
        &["du", "--all-commits", "data/typo"],
        &["du", "--rev", "HEAD", "data/a/typo"],
        &["fsck", "data/typo"],
        &["show", "t.csv/typo"],
        &["show", "--rev", "HEAD", "t.csv/x"],
    ] {
        let err = r.fails(args);
        missing(&err, args.last().unwrap());
    }
    // Commands that already refused one keep doing so.
    for args in [
        &["checkout", "data/typo"][..],
        &["status", "data/typo"],
        &["diff", "HEAD", "--", "data/typo"],
        &["pull", "data/typo"],
    ] {
        let err = r.fails(args);
        missing(&err, "data/typo");
    }
    // `log` and `meta` name whole datasets: a path inside one is refused as not tracked / inside a dataset.
    assert!(
        r.fails(&["log", "data/typo"])
            .contains("'data/typo' is not tracked")
    );
    assert!(
        r.fails(&["meta", "show", "data/typo"])
            .contains("data/typo")
    );
    // Paths a version holds pass.
    for args in [
        &["push", "data/a"][..],
        &["du", "data/a/x"],
        &["fsck", "data/b"],
        &["show", "t.csv"],
    ] {
        r.ok(args);
    }
}

/// A Git repository or a linked work tree inside a dataset's folder (a folder holding `.git`) is Git's, not dv's
/// (`dv add` refuses such a folder): checkout, with or without --force, refuses to delete it or anything in it,
/// naming it, and changes nothing (adversarial review: `checkout --force` deleted a nested repository's unpushed
/// commits, and a linked work tree with its uncommitted edits).
#[test]
fn checkout_never_deletes_a_git_repository_or_work_tree_inside_a_dataset() {
    let r = TestRepo::new();
    r.write("data/a", b"v1");
    r.ok(&["add", "data"]);
    r.git(&["add", "-A"]);
    r.git(&["commit", "-qm", "v1"]);
    let nested = r.p("data/work");
    git_in(r.path(), &["init", "-q", nested.to_str().unwrap()]);
    r.write("data/work/f", b"mine");
    git_in(&nested, &["add", "f"]);
    git_in(&nested, &["commit", "-qm", "unpushed work"]);
    git_in(r.path(), &["worktree", "add", "-q", "data/wt", "-b", "wtb"]);
    r.write("data/wt/notes.txt", b"uncommitted edit");
    let before = snapshot(&r.p("data"));
    for args in [
        &["checkout"][..],
        &["checkout", "--force"],
        &["checkout", "--force", "data"],
    ] {
        let err = r.refuses(args);
        assert!(
            err.contains("what belongs to Git")
                && err.contains("    data/work\n")
                && err.contains("    data/wt\n")
                && !err.contains("--force to discard"),
            "dv {args:?}: {err}"
        );
        assert_eq!(snapshot(&r.p("data")), before, "dv {args:?}");
    }
    assert_eq!(
        git_in(&nested, &["log", "--format=%s"]).trim(),
        "unpushed work"
    );
    // Moved out, the folder is checked out as its version.
    std::fs::rename(&nested, r.p("work")).unwrap();
    git_in(r.path(), &["worktree", "move", "data/wt", "wt"]);
    r.ok(&["checkout", "--force"]);
    assert_eq!(r.read("data/a"), b"v1");
    assert!(!r.p("data/work").exists() && !r.p("data/wt").exists());
}

/// A planted folder pointer (`vendor.dv`, a copy of any folder pointer) naming a folder that holds an untracked
/// clone (`vendor/lib/.git`): `checkout --force vendor` refuses, and the clone's history stays.
#[test]
fn a_planted_folder_pointer_cannot_delete_a_clone_in_that_folder() {
    let r = TestRepo::new();
    r.write("data/a", b"a");
    r.ok(&["add", "data"]);
    let pointer = r.read("data.dv");
    r.write("vendor.dv", &pointer);
    let lib = r.p("vendor/lib");
    std::fs::create_dir_all(&lib).unwrap();
    git_in(&lib, &["init", "-q"]);
    std::fs::write(lib.join("x"), b"x").unwrap();
    git_in(&lib, &["add", "x"]);
    git_in(&lib, &["commit", "-qm", "lib"]);
    let before = snapshot(&r.p("vendor"));
    let err = r.refuses(&["checkout", "--force", "vendor"]);
    assert!(err.contains("    vendor/lib\n"), "{err}");
    assert_eq!(snapshot(&r.p("vendor")), before);
}

/// A bare repository inside a dataset's folder (`d/backup.git`) is Git's like one holding `.git`: checkout
/// --force refuses to delete it (adversarial review: 31 files deleted).
#[test]
fn checkout_never_deletes_a_bare_repository_inside_a_dataset() {
    let r = TestRepo::new();
    r.write("d/a", b"a");
    r.ok(&["add", "d"]);
    git_in(r.path(), &["init", "-q", "--bare", "d/backup.git"]);
    let before = snapshot(&r.p("d/backup.git"));
    let err = r.refuses(&["checkout", "--force"]);
    assert!(err.contains("    d/backup.git\n"), "{err}");
    assert_eq!(snapshot(&r.p("d/backup.git")), before);
}

/// A submodule Git's index tracks inside a dataset's folder, not initialised yet (its folder empty): the folder
/// is Git's, so checkout and pull write nothing into it (adversarial review: the version's `d/sub/x` was
/// written there, and `git submodule update --init` then failed).
#[test]
fn checkout_never_writes_into_a_submodule_inside_a_dataset() {
    let r = TestRepo::new();
    r.write("d/a", b"a");
    r.write("d/sub/x", b"payload");
    r.ok(&["add", "d"]);
    std::fs::remove_dir_all(r.p("d/sub")).unwrap();
    std::fs::create_dir(r.p("d/sub")).unwrap();
    // A gitlink entry, as `git submodule add` records it (the commit need not exist here).
    r.git(&[
        "update-index",
        "--add",
        "--cacheinfo",
        "160000,1111111111111111111111111111111111111111,d/sub",
    ]);
    for args in [&["checkout", "--force"][..], &["checkout", "--force", "d"]] {
        let err = r.refuses(args);
        assert!(
            err.contains("Git tracks 'd/sub' in it"),
            "dv {args:?}: {err}"
        );
        assert!(!r.p("d/sub/x").exists(), "dv {args:?}");
    }
}
