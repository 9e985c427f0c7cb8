//! `git merge` of pointer files through dv's merge driver (`dv init` and `dv install` register it): folder
//! changes merge path by path, conflicts are listed and settled with `dv checkout --ours/--theirs`, a `*.dv`
//! file that is no pointer file merges as text, and trees the cache lacks are fetched.

use std::path::Path;
use std::process::{Command, Output};

use crate::common::*;

/// Git in `dir` with the environment dv's tests give dv (so the driver Git runs uses the test's user
/// folders), and this build's `dv` first on PATH.
fn git_cmd(dir: &Path, args: &[&str]) -> Output {
    let bin = Path::new(dv_bin()).parent().unwrap();
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let user = test_user_dirs();
    Command::new("git")
        .args(args)
        .current_dir(dir)
        .env("PATH", path)
        .env("XDG_CONFIG_HOME", user.join("config"))
        .env("XDG_CACHE_HOME", user.join("cache"))
        .env_remove("DV_CACHE_DIR")
        .env("GIT_AUTHOR_NAME", "Test")
        .env("GIT_AUTHOR_EMAIL", "test@example.com")
        .env("GIT_COMMITTER_NAME", "Test")
        .env("GIT_COMMITTER_EMAIL", "test@example.com")
        .output()
        .unwrap()
}

/// A repository with `data/` (a.txt, b.txt) committed on main and a branch `side` at the same commit.
fn base_repo() -> TestRepo {
    let r = TestRepo::new();
    r.write("data/a.txt", b"a v1");
    r.write("data/b.txt", b"b v1");
    r.write("data/sub/s.bin", &bytes(1, 200_000));
    r.ok(&["add", "data"]);
    r.git(&["add", "-A"]);
    r.git(&["commit", "-q", "-m", "base"]);
    r.git(&["branch", "side"]);
    r
}

/// Gives `r` a folder remote, then has another clone push a branch `feature` adding `data/sub/f.bin` (`f`),
/// whose trees `r`'s cache has never seen; returns the remote (keep it alive).
fn feature_pushed_from_another_clone(r: &TestRepo, f: &[u8]) -> tempfile::TempDir {
    let remote = folder_remote(r);
    r.git(&["add", "-A"]);
    r.git(&["commit", "-q", "-m", "remote"]);
    r.ok(&["push"]);
    let other = clone_of(r);
    ok_at(other.path(), &["pull"]);
    git_in(other.path(), &["checkout", "-q", "-b", "feature"]);
    std::fs::write(other.path().join("data/sub/f.bin"), f).unwrap();
    ok_at(other.path(), &["add", "data"]);
    git_in(other.path(), &["commit", "-q", "-am", "feature"]);
    ok_at(other.path(), &["push"]);
    git_in(other.path(), &["push", "-q", "origin", "feature"]);
    remote
}

/// Commits the current data on the branch checked out.
fn commit_data(r: &TestRepo, msg: &str) {
    r.ok(&["add", "data"]);
    r.git(&["commit", "-q", "-am", msg]);
}

/// Switches branch and makes the data follow.
fn switch(r: &TestRepo, branch: &str) {
    r.git(&["checkout", "-q", branch]);
    r.ok(&["checkout", "--force"]);
}

#[test]
fn init_registers_the_driver_and_folder_changes_on_both_branches_merge_path_by_path() {
    let r = base_repo();
    let attributes = String::from_utf8(r.read(".gitattributes")).unwrap();
    assert!(attributes.contains("*.dv merge=dv"), "{attributes}");
    assert!(
        r.git(&["config", "merge.dv.driver"])
            .contains("merge-driver %O %A %B %P")
    );
    switch(&r, "side");
    r.write("data/c.txt", b"c from side");
    std::fs::remove_file(r.p("data/b.txt")).unwrap();
    commit_data(&r, "side");
    switch(&r, "main");
    r.write("data/a.txt", b"a v2 from main");
    r.write("data/sub/new.txt", b"new in sub");
    commit_data(&r, "main");
    let out = git_cmd(r.path(), &["merge", "-q", "side", "-m", "merge side"]);
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(r.git(&["status", "--porcelain"]).trim().is_empty());
    r.ok(&["checkout"]);
    assert_eq!(r.read("data/a.txt"), b"a v2 from main");
    assert_eq!(r.read("data/c.txt"), b"c from side");
    assert_eq!(r.read("data/sub/new.txt"), b"new in sub");
    assert!(!r.p("data/b.txt").exists());
    assert_eq!(r.read("data/sub/s.bin"), bytes(1, 200_000));
    let status = r.json(&["status"]);
    assert_eq!(status["datasets"][0]["state"], "unchanged", "{status}");
    // The merged version's sizes are what its files hold (fsck checks every tree).
    r.ok(&["fsck"]);
}

#[test]
fn a_conflict_is_listed_and_settled_with_either_side_keeping_what_merged() {
    for side in ["--ours", "--theirs"] {
        let r = base_repo();
        switch(&r, "side");
        r.write("data/a.txt", b"a from side");
        r.write("data/c.txt", b"c from side");
        commit_data(&r, "side");
        switch(&r, "main");
        r.write("data/a.txt", b"a from main");
        r.write("data/d.txt", b"d from main");
        commit_data(&r, "main");
        let out = git_cmd(r.path(), &["merge", "side", "-m", "merge side"]);
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(!out.status.success(), "{text}");
        assert!(text.contains("data/a.txt (modified-both)"), "{text}");
        assert!(!text.contains("data/c.txt"), "{text}");
        // Every dv command reads the conflicted pointer: status reports it, checkout of it refuses.
        let pointer = String::from_utf8(r.read("data.dv")).unwrap();
        assert!(
            pointer.contains("<<<<<<<")
                && pointer.contains("# conflict (modified-both): data/a.txt"),
            "{pointer}"
        );
        let status = r.dv(&["status"]);
        let err = String::from_utf8_lossy(&status.stderr);
        assert!(
            err.contains("data.dv") && err.contains("settle it with `dv checkout --ours data`"),
            "{err}"
        );
        let e = r.refuses(&["checkout", "data"]);
        assert!(e.contains("conflict"), "{e}");
        // Settled: the side chosen for a.txt, both clean changes kept, staged, data checked out.
        r.ok(&["checkout", side, "data"]);
        let want: &[u8] = if side == "--ours" {
            b"a from main"
        } else {
            b"a from side"
        };
        assert_eq!(r.read("data/a.txt"), want, "{side}");
        assert_eq!(r.read("data/c.txt"), b"c from side");
        assert_eq!(r.read("data/d.txt"), b"d from main");
        let unmerged = r.git(&["diff", "--name-only", "--diff-filter=U"]);
        assert!(unmerged.trim().is_empty(), "{unmerged}");
        r.git(&["commit", "-q", "--no-edit"]);
        assert_eq!(r.json(&["status"])["datasets"][0]["state"], "unchanged");
        // A pointer file not in conflict is refused.
        let e = r.fails(&["checkout", "--ours", "data"]);
        assert!(e.contains("not in conflict"), "{e}");
    }
}

#[test]
fn a_dv_file_that_is_no_pointer_merges_as_text_and_a_missing_driver_is_named() {
    let r = base_repo();
    r.write("notes.dv", b"line 1\nline 2\nline 3\nline 4\nline 5\n");
    r.git(&["add", "notes.dv"]);
    r.git(&["commit", "-q", "-m", "notes"]);
    r.git(&["checkout", "-q", "-b", "other"]);
    r.write(
        "notes.dv",
        b"line 1 changed\nline 2\nline 3\nline 4\nline 5\n",
    );
    r.git(&["commit", "-q", "-am", "other"]);
    r.git(&["checkout", "-q", "main"]);
    r.write(
        "notes.dv",
        b"line 1\nline 2\nline 3\nline 4\nline 5 changed\n",
    );
    r.git(&["commit", "-q", "-am", "main"]);
    let out = git_cmd(r.path(), &["merge", "other", "-m", "merge"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        r.read("notes.dv"),
        b"line 1 changed\nline 2\nline 3\nline 4\nline 5 changed\n"
    );
    // A clone has .gitattributes but not the driver: status, checkout and pull say what registers it (the
    // tests' user folders register it for every repository: these runs get empty ones); install does.
    let clone = clone_of(&r);
    let home = tempfile::tempdir().unwrap();
    let run = |args: &[&str]| {
        let out = dv_command(clone.path())
            .args(args)
            .env("XDG_CONFIG_HOME", home.path())
            .env("HOME", home.path())
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stderr).to_string()
    };
    for cmd in [&["status"][..], &["checkout"], &["pull"]] {
        let err = run(cmd);
        assert!(err.contains("run `dv install`"), "{cmd:?}: {err}");
    }
    run(&["install"]);
    let err = run(&["status"]);
    assert!(!err.contains("dv install"), "{err}");
}

#[test]
fn a_merge_fetches_the_trees_the_cache_lacks_and_no_file_data() {
    let r = base_repo();
    let _remote = feature_pushed_from_another_clone(&r, &bytes(9, 300_000));
    // Here: a change on main, then a merge of feature, whose trees this cache has never seen.
    r.write("data/a.txt", b"a on main");
    commit_data(&r, "main");
    let out = git_cmd(r.path(), &["merge", "feature", "-m", "merge feature"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let checkout = r.dv(&["checkout"]);
    let err = String::from_utf8_lossy(&checkout.stderr);
    // The file data of the branch is not in the cache yet: the merge fetched trees only.
    assert!(
        !checkout.status.success() && err.contains("not in the local cache"),
        "{err}"
    );
    r.ok(&["pull"]);
    assert_eq!(r.read("data/sub/f.bin"), bytes(9, 300_000));
    assert_eq!(r.read("data/a.txt"), b"a on main");
}

/// Runs `git merge BRANCH` through the driver; returns (success, stdout + stderr).
fn merge(r: &TestRepo, branch: &str) -> (bool, String) {
    let out = git_cmd(r.path(), &["merge", branch, "-m", "merge"]);
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

#[test]
fn a_folder_deleted_on_one_side_keeps_what_the_other_added_inside_it() {
    // Adversarial review: reported as a conflict of the whole folder, and settling it lost the addition.
    let r = base_repo();
    switch(&r, "side");
    std::fs::remove_dir_all(r.p("data/sub")).unwrap();
    commit_data(&r, "side deletes sub");
    switch(&r, "main");
    r.write("data/sub/new.txt", b"new in sub");
    commit_data(&r, "main adds inside sub");
    let (ok, text) = merge(&r, "side");
    assert!(ok, "{text}");
    r.ok(&["checkout"]);
    assert_eq!(r.read("data/sub/new.txt"), b"new in sub");
    assert!(!r.p("data/sub/s.bin").exists());
    // An edit inside a folder the other side deleted still conflicts, at the file.
    r.git(&["branch", "-f", "side2"]);
    r.write("data/sub/new.txt", b"edited");
    commit_data(&r, "main edits");
    switch(&r, "side2");
    std::fs::remove_dir_all(r.p("data/sub")).unwrap();
    commit_data(&r, "side2 deletes sub");
    switch(&r, "main");
    let (ok, text) = merge(&r, "side2");
    assert!(
        !ok && text.contains("data/sub/new.txt (deleted-by-them)"),
        "{text}"
    );
}

#[test]
fn a_driver_that_cannot_merge_leaves_a_conflict_never_our_side_as_merged() {
    // Adversarial review: with the other side's trees unreachable, the pointer was left as ours, read as
    // merged, and committing it dropped their changes.
    let r = base_repo();
    let remote = feature_pushed_from_another_clone(&r, &bytes(9, 1000));
    r.write("data/a.txt", b"a on main");
    commit_data(&r, "main");
    // No remote to fetch feature's trees from.
    r.ok(&["remote", "remove", "origin"]);
    let (ok, text) = merge(&r, "feature");
    assert!(!ok, "{text}");
    let pointer = String::from_utf8(r.read("data.dv")).unwrap();
    assert!(
        pointer.contains("could not merge") && pointer.contains(">>>>>>> theirs"),
        "{pointer}"
    );
    let e = r.refuses(&["checkout", "data"]);
    assert!(e.contains("dv checkout --ours"), "{e}");
    // Once the remote is back, either side settles it from Git's index.
    r.ok(&[
        "remote",
        "add",
        "origin",
        remote.path().to_str().unwrap(),
        "--default",
    ]);
    r.ok(&["pull", "--rev", "feature", "data"]);
    r.ok(&["checkout", "--theirs", "data"]);
    assert_eq!(r.read("data/a.txt"), b"a on main");
    assert_eq!(r.read("data/sub/f.bin"), bytes(9, 1000));
}

#[test]
fn a_conflict_in_one_dataset_leaves_the_others_checked_out_and_paths_inside_settle_it() {
    let r = base_repo();
    r.write("d2/b.txt", b"b");
    r.ok(&["add", "d2"]);
    r.git(&["add", "-A"]);
    r.git(&["commit", "-q", "-m", "d2"]);
    r.git(&["branch", "-f", "side"]);
    switch(&r, "side");
    r.write("data/a.txt", b"a from side");
    r.write("d2/b.txt", b"b from side");
    r.ok(&["add", "data", "d2"]);
    r.git(&["commit", "-q", "-am", "side"]);
    switch(&r, "main");
    r.write("d2/b.txt", b"b from main");
    r.ok(&["add", "d2"]);
    r.git(&["commit", "-q", "-am", "main"]);
    let (ok, text) = merge(&r, "side");
    assert!(!ok && text.contains("d2/b.txt (modified-both)"), "{text}");
    // data merged cleanly: checkout brings it, then fails naming d2.
    let e = r.refuses(&["checkout"]);
    assert!(
        e.contains("d2.dv") && e.contains("other datasets were checked out"),
        "{e}"
    );
    assert_eq!(r.read("data/a.txt"), b"a from side");
    // A path inside the conflicted dataset names it.
    r.ok(&["checkout", "--theirs", "d2/b.txt"]);
    assert_eq!(r.read("d2/b.txt"), b"b from side");
    assert!(
        r.git(&["diff", "--name-only", "--diff-filter=U"])
            .trim()
            .is_empty()
    );
}

#[test]
fn a_pointer_from_a_newer_dv_on_one_side_is_a_conflict_not_a_text_merge() {
    // Adversarial review: Git's text merge mixed their `dv = 99` with our id and committed it.
    let r = base_repo();
    switch(&r, "side");
    let ours = String::from_utf8(r.read("data.dv")).unwrap();
    let newer = ours
        .replace("dv = 1", "dv = 99")
        .replace("dv = 2", "dv = 99");
    assert_ne!(newer, ours);
    std::fs::write(r.p("data.dv"), newer).unwrap();
    r.git(&["commit", "-q", "-am", "newer format"]);
    switch(&r, "main");
    r.write("data/a.txt", b"a on main");
    commit_data(&r, "main");
    let (ok, text) = merge(&r, "side");
    assert!(!ok && text.contains("cannot merge data"), "{text}");
    let pointer = String::from_utf8(r.read("data.dv")).unwrap();
    assert!(pointer.contains("<<<<<<< ours"), "{pointer}");
    // Ours settles it (theirs cannot be read by this dv: refused, naming why).
    let e = r.fails(&["checkout", "--theirs", "data"]);
    assert!(e.contains("99"), "{e}");
    r.ok(&["checkout", "--ours", "data"]);
    assert_eq!(r.read("data/a.txt"), b"a on main");
}

#[test]
fn a_rebase_replays_folder_changes_through_the_driver() {
    let r = base_repo();
    switch(&r, "side");
    r.write("data/c.txt", b"c1");
    commit_data(&r, "side 1");
    r.write("data/c.txt", b"c2");
    r.write("data/e.txt", b"e");
    commit_data(&r, "side 2");
    switch(&r, "main");
    r.write("data/d.txt", b"d from main");
    std::fs::remove_file(r.p("data/b.txt")).unwrap();
    commit_data(&r, "main");
    switch(&r, "side");
    let out = git_cmd(r.path(), &["rebase", "main"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    r.ok(&["checkout"]);
    assert_eq!(r.read("data/c.txt"), b"c2");
    assert_eq!(r.read("data/e.txt"), b"e");
    assert_eq!(r.read("data/d.txt"), b"d from main");
    assert!(!r.p("data/b.txt").exists());
    // Each replayed commit holds a merged version: the first has c1 and main's changes.
    r.ok(&["checkout", "--rev", "HEAD~1"]);
    assert_eq!(r.read("data/c.txt"), b"c1");
    assert_eq!(r.read("data/d.txt"), b"d from main");
    assert!(!r.p("data/e.txt").exists());
}

/// A repository with a keyed table `t.csv` (id, name, score; ids 1..=n) committed on main, a branch `side`
/// at the same commit.
fn table_repo(n: u32) -> TestRepo {
    let r = TestRepo::new();
    let mut csv = String::from("id,name,score\n");
    for i in 1..=n {
        csv.push_str(&format!("{i},name {i},{}\n", i * 10));
    }
    r.write("t.csv", csv.as_bytes());
    r.ok(&["add", "t.csv", "--key", "id"]);
    r.git(&["add", "-A"]);
    r.git(&["commit", "-q", "-m", "base"]);
    r.git(&["branch", "side"]);
    r
}

/// Rewrites lines of `t.csv`: `edit(line)` gives the new line, or `None` to drop it; `extra` is appended.
fn edit_table(r: &TestRepo, edit: impl Fn(&str) -> Option<String>, extra: &str) {
    let text = String::from_utf8(r.read("t.csv")).unwrap();
    let mut out = String::new();
    for line in text.lines() {
        if let Some(l) = edit(line) {
            out.push_str(&l);
            out.push('\n');
        }
    }
    out.push_str(extra);
    r.write("t.csv", out.as_bytes());
    r.ok(&["add", "t.csv", "--key", "id"]);
    r.git(&["commit", "-q", "-am", "edit"]);
}

#[test]
fn tables_changed_on_both_branches_merge_by_row_and_by_cell() {
    let r = table_repo(200);
    switch(&r, "side");
    // Side: row 5's score, row 9 deleted, row 300 added, and row 50's name.
    edit_table(
        &r,
        |l| match l {
            "5,name 5,50" => Some("5,name 5,55".into()),
            "9,name 9,90" => None,
            "50,name 50,500" => Some("50,from side,500".into()),
            l => Some(l.into()),
        },
        "300,new on side,3\n",
    );
    switch(&r, "main");
    // Main: row 7's name, row 50's score (another cell of the row side changed), row 201 added.
    edit_table(
        &r,
        |l| match l {
            "7,name 7,70" => Some("7,\"seven, main\",70".into()),
            "50,name 50,500" => Some("50,name 50,501".into()),
            l => Some(l.into()),
        },
        "201,new on main,2\n",
    );
    let (ok, text) = merge(&r, "side");
    assert!(ok, "{text}");
    assert!(r.git(&["status", "--porcelain"]).trim().is_empty());
    r.ok(&["checkout"]);
    let merged = String::from_utf8(r.read("t.csv")).unwrap();
    let lines: Vec<&str> = merged.lines().collect();
    // Our order, their edits applied, their new row appended.
    assert_eq!(lines[0], "id,name,score");
    assert_eq!(lines[5], "5,name 5,55");
    assert_eq!(
        lines[7], "7,\"seven, main\",70",
        "our row kept byte for byte"
    );
    assert!(!merged.contains("\n9,name 9,90\n"));
    assert!(merged.contains("\n50,from side,501\n"), "{merged}");
    assert_eq!(lines[lines.len() - 2], "201,new on main,2");
    assert_eq!(lines[lines.len() - 1], "300,new on side,3");
    assert_eq!(lines.len(), 1 + 200 - 1 + 2);
    // The merged version is a table dv reads row by row, and the work tree matches it.
    assert_eq!(r.json(&["status"])["datasets"][0]["state"], "unchanged");
    let diff = r.json(&["diff", "HEAD~1", "HEAD"]);
    let t = &diff[0]["table"];
    assert_eq!(t["rows_added"], 1, "{diff}");
    assert_eq!(t["rows_deleted"], 1, "{diff}");
    assert_eq!(t["rows_modified"], 2, "{diff}");
    r.ok(&["fsck"]);
}

#[test]
fn the_same_cell_changed_on_both_branches_is_a_conflict_named_by_key_and_column() {
    for side in ["--ours", "--theirs"] {
        let r = table_repo(50);
        switch(&r, "side");
        edit_table(
            &r,
            |l| match l {
                "3,name 3,30" => Some("3,name 3,33".into()),
                "4,name 4,40" => Some("4,four side,40".into()),
                l => Some(l.into()),
            },
            "",
        );
        switch(&r, "main");
        edit_table(
            &r,
            |l| match l {
                "3,name 3,30" => Some("3,name 3,31".into()),
                "4,name 4,40" => Some("4,name 4,41".into()),
                l => Some(l.into()),
            },
            "",
        );
        let (ok, text) = merge(&r, "side");
        assert!(!ok, "{text}");
        assert!(
            text.contains("t.csv row (3) column score (modified-both): base \"30\", ours \"31\", theirs \"33\""),
            "{text}"
        );
        assert!(!text.contains("row (4)"), "row 4 merges by cell: {text}");
        let pointer = String::from_utf8(r.read("t.csv.dv")).unwrap();
        assert!(
            pointer.contains("# conflict (modified-both): t.csv row (3) column score"),
            "{pointer}"
        );
        // The driver's `--json`, run by hand on the three versions Git keeps: each conflicting cell with
        // its key, column and the three values.
        for (stage, name) in [(1, "base"), (2, "ours"), (3, "theirs")] {
            let text = r.git(&["show", &format!(":{stage}:t.csv.dv")]);
            std::fs::write(r.p(&format!(".git/{name}.dv")), text).unwrap();
        }
        let out = r.dv(&[
            "merge-driver",
            ".git/base.dv",
            ".git/ours.dv",
            ".git/theirs.dv",
            "t.csv.dv",
            "--json",
        ]);
        assert_eq!(out.status.code(), Some(1));
        let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(
            report["row_conflicts"],
            serde_json::json!([{"path": "t.csv", "key": ["3"], "kind": "modified-both", "column": "score",
                "base": "30", "ours": "31", "theirs": "33"}]),
            "{report}"
        );
        r.ok(&["checkout", side, "t.csv"]);
        let merged = String::from_utf8(r.read("t.csv")).unwrap();
        let want = if side == "--ours" {
            "3,name 3,31"
        } else {
            "3,name 3,33"
        };
        assert!(merged.contains(&format!("\n{want}\n")), "{side}: {merged}");
        assert!(merged.contains("\n4,four side,41\n"), "{merged}");
        r.git(&["commit", "-q", "--no-edit"]);
        assert_eq!(r.json(&["status"])["datasets"][0]["state"], "unchanged");
    }
}

#[test]
fn a_column_added_on_one_branch_merges_with_row_edits_on_the_other() {
    let r = table_repo(30);
    switch(&r, "side");
    edit_table(
        &r,
        |l| {
            Some(if l.starts_with("id,") {
                format!("{l},grade")
            } else {
                let id: u32 = l.split(',').next().unwrap().parse().unwrap();
                format!("{l},{}", if id.is_multiple_of(2) { "even" } else { "odd" })
            })
        },
        "",
    );
    switch(&r, "main");
    edit_table(
        &r,
        |l| match l {
            "2,name 2,20" => Some("2,two,20".into()),
            "3,name 3,30" => None,
            l => Some(l.into()),
        },
        "31,thirty-one,310\n",
    );
    let (ok, text) = merge(&r, "side");
    assert!(ok, "{text}");
    r.ok(&["checkout"]);
    let merged = String::from_utf8(r.read("t.csv")).unwrap();
    let lines: Vec<&str> = merged.lines().collect();
    assert_eq!(lines[0], "id,name,score,grade");
    assert_eq!(lines[2], "2,two,20,even");
    assert!(!merged.contains("\n3,"), "{merged}");
    assert_eq!(*lines.last().unwrap(), "31,thirty-one,310,");
    assert_eq!(lines.len(), 1 + 30 - 1 + 1);
}

/// A Parquet table (id Int64, price Float64, name Utf8) of `rows`.
fn parquet_table(rows: &[(i64, f64, &str)]) -> Vec<u8> {
    use arrow_array::{ArrayRef, Float64Array, Int64Array, RecordBatch, StringArray};
    use arrow_schema::{DataType, Field, Schema};
    use std::sync::Arc;
    let schema = Arc::new(Schema::new(vec![
        Field::new("id", DataType::Int64, false),
        Field::new("price", DataType::Float64, true),
        Field::new("name", DataType::Utf8, true),
    ]));
    let columns: Vec<ArrayRef> = vec![
        Arc::new(rows.iter().map(|r| r.0).collect::<Int64Array>()),
        Arc::new(rows.iter().map(|r| Some(r.1)).collect::<Float64Array>()),
        Arc::new(rows.iter().map(|r| Some(r.2)).collect::<StringArray>()),
    ];
    // Key-value metadata, as pandas writes its own: a merge must keep it.
    let schema = Arc::new(
        schema
            .as_ref()
            .clone()
            .with_metadata(std::collections::HashMap::from([(
                "pandas".to_string(),
                "{\"index_columns\": []}".to_string(),
            )])),
    );
    let batch = RecordBatch::try_new(schema.clone(), columns).unwrap();
    let mut out = Vec::new();
    let mut w = parquet::arrow::ArrowWriter::try_new(&mut out, schema, None).unwrap();
    w.write(&batch).unwrap();
    w.close().unwrap();
    out
}

/// The rows of a Parquet table of [`parquet_table`]'s shape, checking its column types on the way.
fn parquet_rows(path: &Path) -> Vec<(i64, Option<f64>, Option<String>)> {
    use arrow_array::{Array, Float64Array, Int64Array, StringArray};
    let reader = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(
        std::fs::File::open(path).unwrap(),
    )
    .unwrap();
    assert_eq!(
        reader.schema().metadata().get("pandas").map(String::as_str),
        Some("{\"index_columns\": []}"),
        "the file's key-value metadata is kept"
    );
    let reader = reader.build().unwrap();
    let mut out = Vec::new();
    for batch in reader {
        let b = batch.unwrap();
        let id = b.column(0).as_any().downcast_ref::<Int64Array>().unwrap();
        let price = b.column(1).as_any().downcast_ref::<Float64Array>().unwrap();
        let name = b.column(2).as_any().downcast_ref::<StringArray>().unwrap();
        for i in 0..b.num_rows() {
            out.push((
                id.value(i),
                (!price.is_null(i)).then(|| price.value(i)),
                (!name.is_null(i)).then(|| name.value(i).to_string()),
            ));
        }
    }
    out
}

#[test]
fn parquet_tables_merge_by_cell_with_each_value_from_the_file_data_of_its_side() {
    let r = TestRepo::new();
    // Prices whose display text rounds: the merged file must hold the exact doubles.
    let base: Vec<(i64, f64, &str)> = (1..=20).map(|i| (i, i as f64 / 3.0, "item")).collect();
    r.write("p.parquet", &parquet_table(&base));
    r.ok(&["add", "p.parquet", "--key", "id"]);
    r.git(&["add", "-A"]);
    r.git(&["commit", "-q", "-m", "base"]);
    r.git(&["branch", "side"]);
    switch(&r, "side");
    let mut side = base.clone();
    side[1].1 = 0.1 + 0.2;
    side.remove(4);
    side.push((40, 1e-300, "side new"));
    r.write("p.parquet", &parquet_table(&side));
    r.ok(&["add", "p.parquet", "--key", "id"]);
    r.git(&["commit", "-q", "-am", "side"]);
    switch(&r, "main");
    let mut main = base.clone();
    main[1].2 = "renamed on main";
    main.push((30, 2.0f64.sqrt(), "main new"));
    r.write("p.parquet", &parquet_table(&main));
    r.ok(&["add", "p.parquet", "--key", "id"]);
    r.git(&["commit", "-q", "-am", "main"]);
    let (ok, text) = merge(&r, "side");
    assert!(ok, "{text}");
    r.ok(&["checkout"]);
    let rows = parquet_rows(&r.p("p.parquet"));
    assert_eq!(rows.len(), 20 - 1 + 2);
    assert_eq!(
        rows[1],
        (2, Some(0.1 + 0.2), Some("renamed on main".to_string()))
    );
    assert!(rows.iter().all(|r| r.0 != 5));
    assert_eq!(rows[2], (3, Some(1.0), Some("item".to_string())));
    assert_eq!(rows[19], (30, Some(2.0f64.sqrt()), Some("main new".into())));
    assert_eq!(rows[20], (40, Some(1e-300), Some("side new".into())));
    assert_eq!(r.json(&["status"])["datasets"][0]["state"], "unchanged");
}

/// The tensors of a safetensors file, by name: (dtype, shape, bytes); and its metadata.
type Tensors = std::collections::BTreeMap<String, (String, Vec<u64>, Vec<u8>)>;

fn read_safetensors(file: &[u8]) -> (Tensors, serde_json::Value) {
    let n = u64::from_le_bytes(file[..8].try_into().unwrap()) as usize;
    assert_eq!(n % 8, 0, "the header is padded to 8 bytes");
    let header: serde_json::Value = serde_json::from_slice(&file[8..8 + n]).unwrap();
    let data = &file[8 + n..];
    let mut out = Tensors::new();
    let mut covered = 0;
    for (name, t) in header.as_object().unwrap() {
        if name == "__metadata__" {
            continue;
        }
        let o = t["data_offsets"].as_array().unwrap();
        let (b, e) = (
            o[0].as_u64().unwrap() as usize,
            o[1].as_u64().unwrap() as usize,
        );
        covered += e - b;
        let shape = t["shape"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| d.as_u64().unwrap())
            .collect();
        out.insert(
            name.clone(),
            (
                t["dtype"].as_str().unwrap().to_string(),
                shape,
                data[b..e].to_vec(),
            ),
        );
    }
    assert_eq!(
        covered,
        data.len(),
        "the tensors cover the data area exactly"
    );
    (out, header["__metadata__"].clone())
}

/// A repository with `m.safetensors` (tensors a, b, c) committed on main, a branch `side` at the same commit.
fn model_repo() -> (TestRepo, Vec<crate::model::Tensor<'static>>) {
    use crate::model::{f32s, safetensors, weights};
    let r = TestRepo::new();
    let base: Vec<crate::model::Tensor<'static>> = vec![
        ("a", "F32", vec![64, 256], f32s(&weights(1, 64 * 256))),
        ("b", "F32", vec![256], f32s(&weights(2, 256))),
        ("c", "F32", vec![128, 128], f32s(&weights(3, 128 * 128))),
    ];
    r.write("m.safetensors", &safetensors(&base, &[("step", "1")]));
    r.ok(&["add", "m.safetensors"]);
    r.git(&["add", "-A"]);
    r.git(&["commit", "-q", "-m", "base"]);
    r.git(&["branch", "side"]);
    (r, base)
}

#[test]
fn models_changed_on_both_branches_merge_tensor_by_tensor() {
    use crate::model::{f32s, safetensors, weights};
    let (r, base) = model_repo();
    switch(&r, "side");
    let mut side = base.clone();
    side[1].3 = f32s(&weights(20, 256));
    side.push(("d", "F16", vec![8], vec![7; 16]));
    r.write(
        "m.safetensors",
        &safetensors(&side, &[("step", "1"), ("owner", "side")]),
    );
    r.ok(&["add", "m.safetensors"]);
    r.git(&["commit", "-q", "-am", "side"]);
    switch(&r, "main");
    let mut main = base.clone();
    main[0].3 = f32s(&weights(10, 64 * 256));
    main.remove(2);
    r.write("m.safetensors", &safetensors(&main, &[("step", "2")]));
    r.ok(&["add", "m.safetensors"]);
    r.git(&["commit", "-q", "-am", "main"]);
    let (ok, text) = merge(&r, "side");
    assert!(ok, "{text}");
    r.ok(&["checkout"]);
    let (tensors, meta) = read_safetensors(&r.read("m.safetensors"));
    assert_eq!(tensors.keys().collect::<Vec<_>>(), ["a", "b", "d"]);
    assert_eq!(tensors["a"].2, main[0].3);
    assert_eq!(tensors["b"].2, side[1].3);
    assert_eq!(tensors["d"], ("F16".to_string(), vec![8], vec![7; 16]));
    assert_eq!(meta, serde_json::json!({"owner": "side", "step": "2"}));
    assert_eq!(r.json(&["status"])["datasets"][0]["state"], "unchanged");
}

#[test]
fn the_same_tensor_changed_on_both_branches_is_a_conflict_settled_either_way() {
    use crate::model::{f32s, safetensors, weights};
    for side_flag in ["--ours", "--theirs"] {
        let (r, base) = model_repo();
        switch(&r, "side");
        let mut side = base.clone();
        side[1].3 = f32s(&weights(20, 256));
        side[2].3 = f32s(&weights(30, 128 * 128));
        r.write("m.safetensors", &safetensors(&side, &[("step", "1")]));
        r.ok(&["add", "m.safetensors"]);
        r.git(&["commit", "-q", "-am", "side"]);
        switch(&r, "main");
        let mut main = base.clone();
        main[1] = ("b", "F16", vec![256], vec![1; 512]);
        r.write("m.safetensors", &safetensors(&main, &[("step", "1")]));
        r.ok(&["add", "m.safetensors"]);
        r.git(&["commit", "-q", "-am", "main"]);
        let (ok, text) = merge(&r, "side");
        assert!(!ok, "{text}");
        assert!(
            text.contains("m.safetensors tensor \"b\" (modified-both): base F32 [256] #")
                && text.contains(", ours F16 [256] #")
                && text.contains(", theirs F32 [256] #"),
            "{text}"
        );
        assert!(!text.contains("tensor \"c\""), "{text}");
        r.ok(&["checkout", side_flag, "m.safetensors"]);
        let (tensors, _) = read_safetensors(&r.read("m.safetensors"));
        let want = if side_flag == "--ours" {
            &main[1].3
        } else {
            &side[1].3
        };
        assert_eq!(&tensors["b"].2, want, "{side_flag}");
        assert_eq!(
            tensors["c"].2, side[2].3,
            "their change to c is kept either way"
        );
    }
}

#[test]
fn a_column_renamed_on_one_branch_keeps_its_cells_in_every_row() {
    // Adversarial review: the renamed column came out empty in every row the other branch left alone.
    let r = TestRepo::new();
    r.write("t.csv", b"id,name,v\n1,a,1\n2,b,2\n3,c,3\n");
    r.ok(&["add", "t.csv", "--key", "id"]);
    r.git(&["add", "-A"]);
    r.git(&["commit", "-q", "-m", "base"]);
    r.git(&["branch", "side"]);
    switch(&r, "side");
    r.write("t.csv", b"id,label,v\n1,a,1\n2,b,2\n3,c,3\n");
    r.ok(&["add", "t.csv"]);
    r.git(&["commit", "-q", "-am", "rename"]);
    switch(&r, "main");
    r.write("t.csv", b"id,name,v\n1,a,10\n2,b,2\n3,c,3\n");
    r.ok(&["add", "t.csv"]);
    r.git(&["commit", "-q", "-am", "edit"]);
    let (ok, text) = merge(&r, "side");
    assert!(ok, "{text}");
    r.ok(&["checkout"]);
    assert_eq!(
        String::from_utf8(r.read("t.csv")).unwrap(),
        "id,label,v\n1,a,10\n2,b,2\n3,c,3\n",
        "renamed in place, every row kept, our edit kept"
    );
}

#[test]
fn a_conflicted_pointer_staged_by_git_add_can_still_be_settled() {
    // Adversarial review: after `git add` of the conflicted file, `dv checkout --ours` said "not in
    // conflict" while `dv status` said to run it.
    let r = table_repo(10);
    switch(&r, "side");
    edit_table(
        &r,
        |l| {
            Some(if l == "3,name 3,30" {
                "3,name 3,33".into()
            } else {
                l.into()
            })
        },
        "",
    );
    switch(&r, "main");
    edit_table(
        &r,
        |l| {
            Some(if l == "3,name 3,30" {
                "3,name 3,31".into()
            } else {
                l.into()
            })
        },
        "",
    );
    let (ok, _) = merge(&r, "side");
    assert!(!ok);
    r.git(&["add", "t.csv.dv"]);
    r.ok(&["checkout", "--theirs", "t.csv"]);
    assert!(
        String::from_utf8(r.read("t.csv"))
            .unwrap()
            .contains("\n3,name 3,33\n")
    );
    let unmerged = r.git(&["diff", "--name-only", "--diff-filter=U"]);
    assert!(unmerged.trim().is_empty(), "{unmerged}");
    // Committed with its markers, the versions are gone: the refusal says what works.
    r.git(&["reset", "-q", "--hard", "HEAD"]);
    let (ok, _) = merge(&r, "side");
    assert!(!ok);
    r.git(&["add", "t.csv.dv"]);
    r.git(&["commit", "-q", "--no-edit"]);
    // In this clone Git still keeps them: settled, to be committed again.
    let other = clone_of(&r);
    r.ok(&["checkout", "--ours", "t.csv"]);
    assert!(
        String::from_utf8(r.read("t.csv"))
            .unwrap()
            .contains("\n3,name 3,31\n")
    );
    // A clone of that commit has no such record: the refusal says what works.
    let e = fails_at(other.path(), &["checkout", "--ours", "t.csv"]);
    assert!(
        e.contains("holds conflict markers") && e.contains("git checkout REV -- t.csv.dv"),
        "{e}"
    );
}

#[test]
fn after_a_rebase_the_data_follows_the_rewritten_branch() {
    // Adversarial review: only post-checkout and post-merge were hooked, so a rebase left the data of the
    // branch it started from, and `dv add` of that undid the branch's change.
    let r = TestRepo::new();
    r.ok(&["install"]);
    r.write("t.csv", b"id,v\n1,1\n2,2\n");
    r.ok(&["add", "t.csv", "--key", "id"]);
    r.git(&["add", "-A"]);
    r.git(&["commit", "-q", "-m", "base"]);
    git_cmd(r.path(), &["checkout", "-q", "-b", "feat"]);
    r.write("t.csv", b"id,v\n1,10\n2,2\n");
    r.ok(&["add", "t.csv"]);
    r.git(&["commit", "-q", "-am", "feat"]);
    git_cmd(r.path(), &["checkout", "-q", "main"]);
    r.write("t.csv", b"id,v\n1,1\n2,20\n");
    r.ok(&["add", "t.csv"]);
    r.git(&["commit", "-q", "-am", "main"]);
    git_cmd(r.path(), &["checkout", "-q", "feat"]);
    let out = git_cmd(r.path(), &["rebase", "-q", "main"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(r.read("t.csv"), b"id,v\n1,10\n2,20\n");
    assert_eq!(r.json(&["status"])["datasets"][0]["state"], "unchanged");
}

#[test]
fn rows_the_other_branch_added_keep_their_value_in_a_column_this_branch_renamed() {
    // Second review: the renamed column came out empty in the other branch's new rows.
    let r = TestRepo::new();
    r.write("t.csv", b"id,name,score\n1,a,10\n2,b,20\n");
    r.ok(&["add", "t.csv", "--key", "id"]);
    r.git(&["add", "-A"]);
    r.git(&["commit", "-q", "-m", "base"]);
    r.git(&["branch", "side"]);
    switch(&r, "side");
    r.write("t.csv", b"id,name,score\n1,a,10\n2,b,20\n3,c,30\n");
    r.ok(&["add", "t.csv"]);
    r.git(&["commit", "-q", "-am", "add"]);
    switch(&r, "main");
    r.write("t.csv", b"id,name,points\n1,a,10\n2,b,20\n");
    r.ok(&["add", "t.csv"]);
    r.git(&["commit", "-q", "-am", "rename"]);
    let (ok, text) = merge(&r, "side");
    assert!(ok, "{text}");
    r.ok(&["checkout"]);
    assert_eq!(
        String::from_utf8(r.read("t.csv")).unwrap(),
        "id,name,points\n1,a,10\n2,b,20\n3,c,30\n"
    );
}

/// A Parquet table (id Int64, n Int64 or Int32) of `rows`.
fn parquet_ints(rows: &[(i64, i64)], n32: bool) -> Vec<u8> {
    use arrow_array::{ArrayRef, Int32Array, Int64Array, RecordBatch};
    use arrow_schema::{DataType, Field, Schema};
    use std::sync::Arc;
    let ty = if n32 {
        DataType::Int32
    } else {
        DataType::Int64
    };
    let schema = Arc::new(Schema::new(vec![
        Field::new("id", DataType::Int64, false),
        Field::new("n", ty, true),
    ]));
    let n: ArrayRef = if n32 {
        Arc::new(rows.iter().map(|r| r.1 as i32).collect::<Int32Array>())
    } else {
        Arc::new(rows.iter().map(|r| r.1).collect::<Int64Array>())
    };
    let ids: ArrayRef = Arc::new(rows.iter().map(|r| r.0).collect::<Int64Array>());
    let batch = RecordBatch::try_new(schema.clone(), vec![ids, n]).unwrap();
    let mut out = Vec::new();
    let mut w = parquet::arrow::ArrowWriter::try_new(&mut out, schema, None).unwrap();
    w.write(&batch).unwrap();
    w.close().unwrap();
    out
}

#[test]
fn a_conflict_that_cannot_be_merged_again_is_settled_by_the_side_chosen_whole() {
    // Second review: a Parquet value that fits no side's type left a conflict neither --ours nor --theirs
    // could settle.
    for side in ["--ours", "--theirs"] {
        let r = TestRepo::new();
        let base = [(1, 10), (2, 20)];
        r.write("t.parquet", &parquet_ints(&base, false));
        r.ok(&["add", "t.parquet", "--key", "id"]);
        r.git(&["add", "-A"]);
        r.git(&["commit", "-q", "-m", "base"]);
        r.git(&["branch", "side"]);
        switch(&r, "side");
        let theirs = parquet_ints(&[(1, 10), (2, 3_000_000_000)], false);
        r.write("t.parquet", &theirs);
        r.ok(&["add", "t.parquet"]);
        r.git(&["commit", "-q", "-am", "big"]);
        switch(&r, "main");
        let ours = parquet_ints(&[(1, 11), (2, 20)], true);
        r.write("t.parquet", &ours);
        r.ok(&["add", "t.parquet"]);
        r.git(&["commit", "-q", "-am", "int32"]);
        let (ok, text) = merge(&r, "side");
        assert!(!ok, "{text}");
        assert!(text.contains("do not convert"), "{text}");
        r.ok(&["checkout", side, "t.parquet"]);
        let want = if side == "--ours" { &ours } else { &theirs };
        assert_eq!(&r.read("t.parquet"), want, "{side}: the side chosen, whole");
        let unmerged = r.git(&["diff", "--name-only", "--diff-filter=U"]);
        assert!(unmerged.trim().is_empty(), "{unmerged}");
    }
}
