//! Versions across Git history: `checkout --rev`, branches, tags.

use crate::common::*;

/// Commits three versions of `data/` (tagged v1..v3) and returns each version's snapshot.
fn three_versions(r: &TestRepo) -> Vec<Snapshot> {
    r.git(&["add", ".dv"]);
    let mut snaps = Vec::new();
    for v in 1..=3u64 {
        r.write("data/common.bin", &bytes(100, 200_000)); // same in every version
        r.write(
            &format!("data/v{v}.txt"),
            format!("only in v{v}").as_bytes(),
        );
        r.write("data/big.bin", &bytes(v, 600_000 + v as usize * 1000));
        if v == 2 {
            std::fs::remove_file(r.p("data/v1.txt")).unwrap();
        }
        r.ok(&["add", "data"]);
        r.git(&["commit", "-q", "-m", &format!("data v{v}")]);
        r.git(&["tag", &format!("v{v}")]);
        snaps.push(snapshot(&r.p("data")));
    }
    snaps
}

#[test]
fn checkout_rev_materializes_each_version_without_moving_head() {
    let r = TestRepo::new();
    let snaps = three_versions(&r);
    let head = r.git(&["rev-parse", "HEAD"]);
    let pointer = r.read("data.dv");
    for (rev, want) in [
        ("v1", 0),
        ("HEAD~1", 1),
        ("v3", 2),
        ("HEAD~2", 0),
        ("main", 2),
    ] {
        r.ok(&["checkout", "--rev", rev]);
        assert_eq!(snapshot(&r.p("data")), snaps[want], "at {rev}");
        assert_eq!(r.git(&["rev-parse", "HEAD"]), head, "HEAD moved");
        assert_eq!(r.read("data.dv"), pointer, "work-tree pointer touched");
        assert_eq!(r.git(&["status", "--porcelain"]), "", "Git sees no change");
    }
    // By full commit id, for one path inside the folder only.
    let v1 = r.git(&["rev-parse", "v1"]);
    std::fs::remove_dir_all(r.p("data")).unwrap();
    r.ok(&["checkout", "--rev", v1.trim(), "data/v1.txt"]);
    assert_eq!(r.read("data/v1.txt"), b"only in v1");
    assert!(!r.p("data/big.bin").exists());
}

#[test]
fn git_checkout_then_dv_checkout_switches_branches_back_and_forth() {
    let r = TestRepo::new();
    let snaps = three_versions(&r);
    r.git(&["checkout", "-q", "-b", "experiment", "v1"]);
    r.write("data/extra.bin", &bytes(42, 70_000));
    r.ok(&["add", "data"]);
    r.git(&["commit", "-q", "-m", "experiment"]);
    let experiment = snapshot(&r.p("data"));
    for _ in 0..2 {
        r.git(&["checkout", "-q", "main"]);
        r.ok(&["checkout"]);
        assert_eq!(snapshot(&r.p("data")), snaps[2]);
        r.git(&["checkout", "-q", "experiment"]);
        r.ok(&["checkout"]);
        assert_eq!(snapshot(&r.p("data")), experiment);
    }
    r.git(&["checkout", "-q", "--detach", "v2"]);
    r.ok(&["checkout"]);
    assert_eq!(snapshot(&r.p("data")), snaps[1]);
}

#[test]
fn bad_revisions_and_paths_missing_at_a_revision_are_clear_errors() {
    let r = TestRepo::new();
    three_versions(&r);
    let err = r.fails(&["checkout", "--rev", "no-such-branch"]);
    assert!(
        err.contains("revision 'no-such-branch' cannot be used"),
        "{err}"
    );
    assert!(err.contains("hint: "), "{err}");
    r.write("later.bin", b"x");
    r.ok(&["add", "later.bin"]);
    let err = r.fails(&["checkout", "--rev", "v1", "later.bin"]);
    assert!(
        err.contains("'later.bin' is not tracked by dv at revision 'v1'"),
        "{err}"
    );
}

#[test]
fn checkout_rev_from_a_subfolder() {
    let r = TestRepo::new();
    r.git(&["add", ".dv"]);
    r.write("proj/data/a", b"one");
    r.ok(&["add", "proj/data"]);
    r.git(&["commit", "-q", "-m", "one"]);
    r.write("proj/data/a", b"two");
    r.ok(&["add", "proj/data"]);
    r.git(&["commit", "-q", "-m", "two"]);
    let out = r.dv_in("proj", &["checkout", "--rev", "HEAD~1", "data"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(r.read("proj/data/a"), b"one");
}

#[test]
fn repository_without_commits_has_no_revisions() {
    let r = TestRepo::new();
    let err = r.fails(&["checkout", "--rev", "HEAD"]);
    assert!(err.contains("revision 'HEAD' cannot be used"), "{err}");
}

#[test]
fn log_lists_the_commits_that_changed_a_pointer_like_git_log() {
    let r = TestRepo::new();
    three_versions(&r);
    // Commits that do not touch data.dv do not show up.
    r.write("README", b"unrelated");
    r.git(&["add", "README"]);
    r.git(&["commit", "-q", "-m", "unrelated"]);
    let log = r.json(&["log", "data"]);
    let versions = log[0]["versions"].as_array().unwrap();
    let ours: Vec<String> = versions
        .iter()
        .map(|v| v["commit"]["id"].as_str().unwrap().to_string())
        .collect();
    let git_log = r.git(&["log", "--format=%H", "--", "data.dv"]);
    let theirs: Vec<String> = git_log.lines().map(String::from).collect();
    assert_eq!(ours, theirs);
    assert_eq!(versions[0]["commit"]["summary"], "data v3");
    assert_eq!(versions[2]["state"], "added");
    assert_eq!(versions[0]["state"], "modified");
    assert_eq!(versions[0]["files"], 4);
    // v2 -> v3: v3.txt added, big.bin modified; v2.txt stays.
    let c = &versions[0]["changes"];
    assert_eq!(
        (
            c["files_added"].as_u64(),
            c["files_deleted"].as_u64(),
            c["files_modified"].as_u64()
        ),
        (Some(1), Some(0), Some(1))
    );
    // v1 -> v2: v2.txt added, v1.txt deleted, big.bin modified.
    let c = &versions[1]["changes"];
    assert_eq!(
        (
            c["files_added"].as_u64(),
            c["files_deleted"].as_u64(),
            c["files_modified"].as_u64()
        ),
        (Some(1), Some(1), Some(1))
    );
    assert_eq!(c["bytes_added"], 1000 + "only in v2".len() as u64);
    let human = r.ok(&["log"]);
    assert!(human.starts_with("data\n"), "{human}");
    assert!(
        human.contains("data v2") && human.contains("1 added, 1 deleted, 1 modified"),
        "{human}"
    );
}

#[test]
fn log_reports_a_deleted_dataset() {
    let r = TestRepo::new();
    three_versions(&r);
    r.git(&["rm", "-q", "data.dv"]);
    r.git(&["commit", "-q", "-m", "drop data"]);
    let log = r.json(&["log", "data.dv"]);
    assert_eq!(log[0]["versions"][0]["state"], "deleted");
    assert_eq!(log[0]["versions"].as_array().unwrap().len(), 4);
    let err = r.fails(&["log", "never-tracked"]);
    assert!(err.contains("not tracked by dv at revision"), "{err}");
}

fn diff_files(v: &serde_json::Value) -> Vec<(String, String)> {
    v["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["path"].as_str().unwrap().to_string(),
                f["change"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

#[test]
fn diff_between_revisions_and_against_the_work_tree() {
    let r = TestRepo::new();
    three_versions(&r);
    let d = r.json(&["diff", "v1", "v2"]);
    assert_eq!(d[0]["path"], "data");
    assert_eq!(d[0]["state"], "modified");
    assert_eq!(
        diff_files(&d[0]),
        vec![
            ("data/big.bin".to_string(), "modified".to_string()),
            ("data/v1.txt".to_string(), "deleted".to_string()),
            ("data/v2.txt".to_string(), "added".to_string()),
        ]
    );
    assert_eq!(d[0]["summary"]["files_modified"], 1);
    // HEAD against the work tree's pointers: nothing yet.
    assert_eq!(r.json(&["diff"])[0]["state"], "unchanged");
    // A rename (same content, new path) after adding but before committing.
    std::fs::rename(r.p("data/v3.txt"), r.p("data/renamed.txt")).unwrap();
    r.ok(&["add", "data"]);
    let d = r.json(&["diff"]);
    let f = &d[0]["files"][0];
    assert_eq!(
        (
            f["change"].as_str(),
            f["path"].as_str(),
            f["old_path"].as_str()
        ),
        (
            Some("renamed"),
            Some("data/renamed.txt"),
            Some("data/v3.txt")
        )
    );
    assert_eq!(d[0]["summary"]["files_renamed"], 1);
    let code = r.dv(&["diff", "--exit-code"]).status.code();
    assert_eq!(code, Some(1));
    let stat = r.ok(&["diff", "--stat", "v1", "v3"]);
    assert_eq!(
        stat,
        "data (modified): 2 added, 1 deleted, 1 modified (+2.0 KiB, -10 B)\n"
    );
}

#[test]
fn diff_of_added_and_deleted_datasets_and_paths_inside() {
    let r = TestRepo::new();
    three_versions(&r);
    r.write("models/m.bin", b"model");
    r.ok(&["add", "models/m.bin"]);
    r.git(&["commit", "-q", "-m", "model"]);
    let d = r.json(&["diff", "v3", "HEAD"]);
    assert_eq!(d.as_array().unwrap().len(), 2);
    let model = d
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["path"] == "models/m.bin")
        .unwrap();
    assert_eq!(model["state"], "added");
    let back: serde_json::Value =
        serde_json::from_str(&r.ok(&["diff", "--json", "HEAD", "v3", "--", "models/m.bin"]))
            .unwrap();
    assert_eq!(back[0]["state"], "deleted");
    // A path inside a folder limits the listing.
    let inside = r.json(&["diff", "v1", "v2", "data/v2.txt"]);
    assert_eq!(
        diff_files(&inside[0]),
        vec![("data/v2.txt".to_string(), "added".to_string())]
    );
}

#[test]
fn diff_skips_unchanged_subtrees_of_a_large_folder() {
    // Many folders, one changed file: only the trees on the changed path are read (both versions of the root
    // and of d17), whatever the number of folders.
    let r = TestRepo::new();
    r.git(&["add", ".dv"]);
    for d in 0..40 {
        for f in 0..5 {
            r.write(
                &format!("data/d{d:02}/f{f}.txt"),
                format!("{d}-{f}").as_bytes(),
            );
        }
    }
    r.ok(&["add", "data"]);
    r.git(&["commit", "-q", "-m", "one"]);
    r.write("data/d17/f3.txt", b"changed");
    r.ok(&["add", "data"]);
    r.git(&["commit", "-q", "-m", "two"]);
    let d = r.json(&["diff", "HEAD~1", "HEAD"]);
    assert_eq!(
        diff_files(&d[0]),
        vec![("data/d17/f3.txt".to_string(), "modified".to_string())]
    );
    assert_eq!(d[0]["trees_read"], 4);
}

#[test]
fn hooks_make_git_checkout_and_merge_move_the_data_and_keep_existing_hooks() {
    let r = TestRepo::new();
    let snaps = three_versions(&r);
    let hooks = r.p(".git/hooks");
    std::fs::create_dir_all(&hooks).unwrap();
    std::fs::write(
        hooks.join("post-merge"),
        "#!/bin/sh\necho user-hook-ran > .user-hook\n",
    )
    .unwrap();
    let installed = r.json(&["install"]);
    let actions: Vec<&str> = installed
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["action"].as_str().unwrap())
        .collect();
    // The hooks, then the merge driver (`dv init` registered it, `dv add` wrote the attribute).
    assert_eq!(
        actions,
        ["created", "appended", "created", "unchanged", "unchanged"]
    );
    let names: Vec<&str> = installed
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["hook"].as_str().unwrap())
        .collect();
    assert_eq!(
        names[2..],
        ["post-rewrite", "merge-driver", ".gitattributes"]
    );
    assert_eq!(r.json(&["install"])[0]["action"], "unchanged", "idempotent");

    // A real `git checkout` of a branch runs the hook, and the data follows.
    r.git(&["checkout", "-q", "-b", "old", "v1"]);
    assert_eq!(snapshot(&r.p("data")), snaps[0]);
    r.git(&["checkout", "-q", "main"]);
    assert_eq!(snapshot(&r.p("data")), snaps[2]);
    // A merge (fast-forward) runs post-merge: ours and the user's.
    r.git(&["checkout", "-q", "old"]);
    r.git(&["merge", "-q", "--ff-only", "main"]);
    assert_eq!(snapshot(&r.p("data")), snaps[2]);
    assert!(r.p(".user-hook").exists(), "the user's hook still runs");

    let removed = r.json(&["uninstall"]);
    let actions: Vec<&str> = removed
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["action"].as_str().unwrap())
        .collect();
    assert_eq!(actions, ["removed", "emptied", "removed", "removed"]);
    assert!(!hooks.join("post-checkout").exists());
    assert!(
        !r.git(&["config", "--local", "--list"])
            .contains("merge.dv.driver")
    );
    assert_eq!(
        std::fs::read_to_string(hooks.join("post-merge")).unwrap(),
        "#!/bin/sh\necho user-hook-ran > .user-hook\n"
    );
    // Without hooks, git checkout leaves the data alone.
    r.git(&["checkout", "-q", "v1"]);
    assert_eq!(snapshot(&r.p("data")), snaps[2]);
}

#[test]
fn linked_work_trees_share_the_main_work_trees_cache() {
    let r = TestRepo::new();
    let snaps = three_versions(&r);
    let other = tempfile::tempdir().unwrap();
    let wt = other.path().join("wt");
    r.git(&[
        "worktree",
        "add",
        "-q",
        "--detach",
        wt.to_str().unwrap(),
        "v1",
    ]);
    let out = std::process::Command::new(dv_bin())
        .args(["checkout"])
        .current_dir(&wt)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(snapshot(&wt.join("data")), snaps[0]);
    assert!(!wt.join(".dv/cache").exists(), "no second cache");
    // A version added in the linked work tree is visible from the main one.
    std::fs::write(wt.join("data/from-wt.txt"), b"made in the linked work tree").unwrap();
    let out = std::process::Command::new(dv_bin())
        .args(["add", "data"])
        .current_dir(&wt)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    std::fs::copy(wt.join("data.dv"), r.p("data.dv")).unwrap();
    r.ok(&["checkout"]);
    assert_eq!(r.read("data/from-wt.txt"), b"made in the linked work tree");
}

/// `dv uninstall` said `post-merge: emptied` while the user's own lines correctly stayed in the hook.
#[test]
fn uninstall_says_the_users_hook_lines_stay() {
    let r = TestRepo::new();
    let hooks = r.p(".git/hooks");
    std::fs::create_dir_all(&hooks).unwrap();
    std::fs::write(hooks.join("post-merge"), "#!/bin/sh\necho mine\n").unwrap();
    r.ok(&["install"]);
    let out = r.dv(&["uninstall"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(
        err.contains("post-merge: dv's block removed, the hook's other lines kept ("),
        "{err}"
    );
    assert!(!err.contains("emptied"), "{err}");
    assert_eq!(
        std::fs::read_to_string(hooks.join("post-merge")).unwrap(),
        "#!/bin/sh\necho mine\n"
    );
}
