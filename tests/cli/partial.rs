//! Datasets held in part (`dv pull data/part`): what the work tree lacks on purpose is never taken for deleted,
//! `dv add` keeps it without fetching it, and naming the dataset makes it whole again.

use std::fs;

use crate::common::*;

/// A repository with `data/` (four parts, one of them nested) committed and pushed to a folder remote, and a
/// fresh clone of it.
fn pushed() -> (TestRepo, tempfile::TempDir, tempfile::TempDir) {
    let r = TestRepo::new();
    r.write("data/p1/a", b"a\n");
    r.write("data/p2/b", &bytes(2, 5000));
    r.write("data/p3/x/y", b"y\n");
    r.write("data/p3/z", b"z\n");
    r.write("data/top", b"top\n");
    r.ok(&["add", "data"]);
    let remote = folder_remote(&r);
    r.git(&["add", "-A"]);
    r.git(&["commit", "-q", "-m", "v1"]);
    r.ok(&["push"]);
    let clone = clone_of(&r);
    (r, remote, clone)
}

fn listing(root: &std::path::Path) -> Vec<String> {
    let mut out: Vec<String> = files_below(root)
        .into_iter()
        .map(|p| p.strip_prefix(root).unwrap().display().to_string())
        .collect();
    out.sort();
    out
}

#[test]
fn add_after_a_partial_pull_keeps_what_was_not_pulled() {
    let (r, _remote, clone) = pushed();
    let c = clone.path();
    ok_at(c, &["pull", "data/p1"]);
    assert_eq!(listing(&c.join("data")), ["p1/a"]);
    // Not pulled is not deleted: status shows nothing to do, and says which parts are here.
    let st: serde_json::Value = serde_json::from_str(&ok_at(c, &["status", "--json"])).unwrap();
    let d = &st["datasets"][0];
    assert_eq!(d["state"], "unchanged", "{st}");
    assert_eq!(d["held"], serde_json::json!(["data/p1"]), "{st}");
    assert!(!ok_at(c, &["status"]).contains("deleted"));
    // An edit in the part held, added: the parts not pulled stay in the new version, fetched or not.
    fs::write(c.join("data/p1/new"), b"new\n").unwrap();
    let added: serde_json::Value =
        serde_json::from_str(&ok_at(c, &["add", "data", "--json"])).unwrap();
    assert_eq!(added["hashed_files"], 2, "{added}");
    git_in(c, &["commit", "-q", "-am", "v2"]);
    ok_at(c, &["push"]);
    // The whole new version, elsewhere: every part as it was, plus the new file.
    git_in(c, &["push", "-q", "origin", "HEAD:v2"]);
    r.git(&["checkout", "-q", "v2"]);
    r.ok(&["pull"]);
    assert_eq!(
        listing(&r.p("data")),
        ["p1/a", "p1/new", "p2/b", "p3/x/y", "p3/z", "top"]
    );
    assert_eq!(r.read("data/p2/b"), bytes(2, 5000));
    // The clone's status is clean of deletions still, and its cache says what it lacks.
    let st: serde_json::Value = serde_json::from_str(&ok_at(c, &["status", "--json"])).unwrap();
    assert_eq!(st["datasets"][0]["state"], "unchanged", "{st}");
    assert_eq!(st["datasets"][0]["in_cache"], false, "{st}");
}

#[test]
fn a_part_held_and_deleted_is_deleted_and_only_it() {
    let (_r, _remote, clone) = pushed();
    let c = clone.path();
    ok_at(c, &["pull", "data/p3/x", "data/p1"]);
    assert_eq!(listing(&c.join("data")), ["p1/a", "p3/x/y"]);
    // Deleting the folder around a part held deletes that part; what was around it was never here.
    fs::remove_dir_all(c.join("data/p3")).unwrap();
    let st = ok_at(c, &["status"]);
    assert!(st.contains("deleted:   data/p3/x/"), "{st}");
    assert!(!st.contains("data/p2") && !st.contains("data/top"), "{st}");
    ok_at(c, &["add", "data"]);
    git_in(c, &["commit", "-q", "-am", "drop x"]);
    // Made whole by naming the dataset: everything but the deleted part.
    ok_at(c, &["pull", "data"]);
    assert_eq!(listing(&c.join("data")), ["p1/a", "p2/b", "p3/z", "top"]);
    let st: serde_json::Value = serde_json::from_str(&ok_at(c, &["status", "--json"])).unwrap();
    assert!(st["datasets"][0].get("held").is_none(), "{st}");
    // Whole again: a deletion now is a deletion.
    fs::remove_file(c.join("data/top")).unwrap();
    assert!(ok_at(c, &["status"]).contains("deleted:   data/top"));
}

#[test]
fn checkout_and_pull_without_paths_keep_to_the_parts_held() {
    let (r, _remote, clone) = pushed();
    let c = clone.path();
    ok_at(c, &["pull", "data/p1"]);
    // A new version upstream, changing a part held and one not held.
    r.write("data/p1/a", b"a2\n");
    r.write("data/p2/b", b"b2\n");
    r.ok(&["add", "data"]);
    r.git(&["commit", "-q", "-am", "v2"]);
    r.ok(&["push"]);
    git_in(c, &["pull", "-q"]);
    ok_at(c, &["pull"]);
    assert_eq!(listing(&c.join("data")), ["p1/a"]);
    assert_eq!(fs::read(c.join("data/p1/a")).unwrap(), b"a2\n");
    ok_at(c, &["checkout", "--rev", "HEAD~1"]);
    assert_eq!(fs::read(c.join("data/p1/a")).unwrap(), b"a\n");
    assert_eq!(listing(&c.join("data")), ["p1/a"]);
    ok_at(c, &["checkout"]);
    // A held part is fetched and checked out anew when asked; so is another, which joins the parts held.
    ok_at(c, &["pull", "data/p2"]);
    assert_eq!(listing(&c.join("data")), ["p1/a", "p2/b"]);
    let st: serde_json::Value = serde_json::from_str(&ok_at(c, &["status", "--json"])).unwrap();
    assert_eq!(
        st["datasets"][0]["held"],
        serde_json::json!(["data/p1", "data/p2"]),
        "{st}"
    );
}

#[test]
fn a_dataset_held_whole_stays_whole_after_a_checkout_of_a_part() {
    let (r, _remote, _clone) = pushed();
    fs::remove_dir_all(r.p("data/p2")).unwrap();
    fs::remove_file(r.p("data/top")).unwrap();
    r.ok(&["checkout", "data/p2"]);
    assert_eq!(r.read("data/p2/b"), bytes(2, 5000));
    // data/top was deleted in a dataset held whole: a deletion, which add records.
    let st = r.ok(&["status"]);
    assert!(st.contains("deleted:   data/top"), "{st}");
    r.ok(&["add", "data"]);
    r.git(&["commit", "-q", "-am", "no top"]);
    r.ok(&["push"]);
    let clone = clone_of(&r);
    ok_at(clone.path(), &["pull"]);
    assert_eq!(
        listing(&clone.path().join("data")),
        ["p1/a", "p2/b", "p3/x/y", "p3/z"]
    );
}

#[test]
fn a_checkout_of_a_part_from_a_fetched_cache_holds_the_rest_absent_too() {
    let (_r, _remote, clone) = pushed();
    let c = clone.path();
    ok_at(c, &["fetch"]);
    ok_at(c, &["checkout", "data/p3"]);
    assert_eq!(listing(&c.join("data")), ["p3/x/y", "p3/z"]);
    fs::write(c.join("data/p3/z"), b"z2\n").unwrap();
    ok_at(c, &["add", "data"]);
    git_in(c, &["commit", "-q", "-am", "z2"]);
    // Named whole: the rest comes from the cache, the edit stays.
    ok_at(c, &["checkout", "data"]);
    assert_eq!(
        listing(&c.join("data")),
        ["p1/a", "p2/b", "p3/x/y", "p3/z", "top"]
    );
    assert_eq!(fs::read(c.join("data/p3/z")).unwrap(), b"z2\n");
    ok_at(c, &["fsck"]);
}

#[test]
fn a_part_whose_pull_is_killed_is_still_to_come_not_deleted() {
    let (r, _remote, _clone) = pushed();
    for i in 0..3 {
        r.write(&format!("data/big/f{i}"), &bytes(10 + i, 20_000));
    }
    r.ok(&["add", "data"]);
    r.git(&["commit", "-q", "-am", "big"]);
    r.ok(&["push"]);
    let mut kills = 0;
    for n in 1..100 {
        let clone = clone_of(&r);
        let c = clone.path();
        ok_at(c, &["pull", "data/p1"]);
        if !killed_at(c, &["pull", "data/big"], n) {
            break;
        }
        kills += 1;
        // Whatever the kill left out of data/big is still to come: nothing is deleted, and add refuses to
        // record the half-written part.
        let st = ok_at(c, &["status"]);
        assert!(!st.contains("deleted"), "killed at {n}:\n{st}");
        // Killed before the checkout began writing, the part is only begun: absent on purpose, kept by add.
        let json: serde_json::Value =
            serde_json::from_str(&ok_at(c, &["status", "--json"])).unwrap();
        if json["datasets"][0]["unfinished"] == true {
            let err = fails_at(c, &["add", "data"]);
            assert!(
                err.contains("did not finish") && err.contains("--as-is"),
                "killed at {n}: {err}"
            );
        } else {
            ok_at(c, &["add", "data"]);
        }
        assert_eq!(
            git_in(c, &["diff", "HEAD", "--stat"]),
            "",
            "killed at {n}: add changed the pointer"
        );
        // The next pull (without paths: the parts begun too) and a pull of the part finish it.
        ok_at(c, &["pull"]);
        ok_at(c, &["pull", "data/big"]);
        assert_eq!(
            listing(&c.join("data")),
            ["big/f0", "big/f1", "big/f2", "p1/a"]
        );
        assert_eq!(fs::read(c.join("data/big/f2")).unwrap(), bytes(12, 20_000));
    }
    assert!(kills >= 3, "only {kills} crash points");
}

#[test]
fn what_is_written_outside_the_parts_held_is_held_and_can_be_deleted() {
    let (_r, _remote, clone) = pushed();
    let c = clone.path();
    ok_at(c, &["pull", "data/p1"]);
    // A file in a folder not held, whose listing the cache lacks: refused with what to do (a fetch, which
    // changes no working file), nothing written.
    fs::create_dir_all(c.join("data/p2")).unwrap();
    fs::write(c.join("data/p2/new"), b"new\n").unwrap();
    let err = dv_command(c).args(["add", "data"]).output().unwrap();
    let msg = String::from_utf8_lossy(&err.stderr);
    assert!(
        !err.status.success() && msg.contains("`dv fetch data/p2`"),
        "{msg}"
    );
    assert_eq!(git_in(c, &["status", "--porcelain"]), "");
    ok_at(c, &["fetch", "data/p2"]);
    // Now a new folder and a file replacing one not held, beside it.
    fs::create_dir_all(c.join("data/newdir")).unwrap();
    fs::write(c.join("data/newdir/x"), b"x\n").unwrap();
    fs::write(c.join("data/top"), b"mine\n").unwrap();
    ok_at(c, &["add", "data"]);
    git_in(c, &["commit", "-q", "-am", "mine"]);
    // Held now: deleting them is a deletion.
    fs::remove_dir_all(c.join("data/newdir")).unwrap();
    fs::remove_file(c.join("data/top")).unwrap();
    let st = ok_at(c, &["status"]);
    assert!(
        st.contains("deleted:   data/newdir/") && st.contains("deleted:   data/top"),
        "{st}"
    );
    ok_at(c, &["add", "data"]);
    git_in(c, &["commit", "-q", "-am", "less"]);
    ok_at(c, &["pull", "data"]);
    assert_eq!(
        listing(&c.join("data")),
        ["p1/a", "p2/b", "p2/new", "p3/x/y", "p3/z"]
    );
}

#[test]
fn a_part_held_that_a_new_version_renames_goes_as_in_a_whole_clone() {
    let (r, _remote, clone) = pushed();
    let c = clone.path();
    ok_at(c, &["pull", "data/p1"]);
    fs::rename(r.p("data/p1"), r.p("data/p1r")).unwrap();
    r.ok(&["add", "data"]);
    r.git(&["commit", "-q", "-am", "rename"]);
    r.ok(&["push"]);
    git_in(c, &["pull", "-q"]);
    ok_at(c, &["pull"]);
    // The old part is gone (it was stored: safe to delete); the renamed one was never held.
    assert!(!c.join("data/p1").exists());
    let st = ok_at(c, &["status"]);
    assert!(!st.contains("new:") && !st.contains("deleted"), "{st}");
    ok_at(c, &["add", "data"]);
    assert_eq!(git_in(c, &["diff", "HEAD", "--stat"]), "");
}

/// Runs dv with `args` in `c`, killed at its crash point `n`: true when it was; false when it finished (it
/// must have succeeded: there are fewer than `n` points).
fn killed_at(c: &std::path::Path, args: &[&str], n: usize) -> bool {
    let out = dv_command(c)
        .args(args)
        .env("DV_CRASH_AT", n.to_string())
        .output()
        .unwrap();
    if std::os::unix::process::ExitStatusExt::signal(&out.status) == Some(9) {
        return true;
    }
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    false
}

/// Kills `dv pull ARGS` in `c` at crash point 1, 2, … (a fresh clone for each, made by `fresh`); after each kill
/// past the start of the checkout, status says it did not finish and `dv add data` refuses (the pointer stays
/// as it is); then `dv pull` without paths (before: the same pull again) brings `want`. Returns the kills past
/// the checkout's start.
fn killed_pulls(fresh: impl Fn() -> tempfile::TempDir, args: &[&str], want: &[&str]) -> usize {
    let mut kills = 0;
    for n in 1..100 {
        let clone = fresh();
        let c = clone.path();
        if !killed_at(c, args, n) {
            return kills;
        }
        let st: serde_json::Value = serde_json::from_str(&ok_at(c, &["status", "--json"])).unwrap();
        // Killed before the checkout began writing, the work tree is the old version, and status says what
        // it lacks (a plain `add` would record that, as it records any work tree). Killed after, it is
        // neither: what the checkout did not write yet is to come.
        let began = st["datasets"][0]["unfinished"] == true;
        if began {
            kills += 1;
            let text = ok_at(c, &["status"]);
            assert!(
                text.contains("a checkout did not finish"),
                "killed at {n}:\n{text}"
            );
            let err = fails_at(c, &["add", "data"]);
            assert!(
                err.contains("did not finish") && err.contains("--as-is"),
                "killed at {n}: {err}"
            );
            assert_eq!(
                git_in(c, &["diff", "HEAD", "--stat"]),
                "",
                "killed at {n}: add changed the pointer"
            );
        }
        // Once begun, a pull without paths finishes it; before, the same pull again does.
        ok_at(c, if began { &["pull"] } else { args });
        assert_eq!(listing(&c.join("data")), want, "killed at {n}");
        let st: serde_json::Value = serde_json::from_str(&ok_at(c, &["status", "--json"])).unwrap();
        assert!(
            st["datasets"][0].get("unfinished").is_none(),
            "killed at {n}: {st}"
        );
    }
    panic!("more than 100 crash points?");
}

#[test]
fn a_killed_pull_of_a_new_version_leaves_what_it_did_not_write_to_come() {
    let (r, _remote, _clone) = pushed();
    let whole = clone_of(&r);
    ok_at(whole.path(), &["pull"]);
    for i in 0..3 {
        r.write(&format!("data/big/f{i}"), &bytes(20 + i, 20_000));
    }
    r.ok(&["add", "data"]);
    r.git(&["commit", "-q", "-am", "big"]);
    r.ok(&["push"]);
    let all = [
        "big/f0", "big/f1", "big/f2", "p1/a", "p2/b", "p3/x/y", "p3/z", "top",
    ];
    // A clone holding the whole dataset, pulling the new version.
    let kills = killed_pulls(
        || {
            let c = tempfile::tempdir().unwrap();
            copy_tree(whole.path(), c.path());
            git_in(c.path(), &["pull", "-q"]);
            c
        },
        &["pull"],
        &all,
    );
    assert!(kills >= 3, "only {kills} crash points");
    // A clone holding a part, made whole by naming the dataset.
    let kills = killed_pulls(
        || {
            let c = clone_of(&r);
            ok_at(c.path(), &["pull", "data/p1"]);
            c
        },
        &["pull", "data"],
        &all,
    );
    assert!(kills >= 3, "only {kills} crash points");
}

/// A checkout to an older version killed after it began writing (the adversarial review's case): status says
/// it did not finish and still shows what is missing (here a folder the old version lacks, already removed,
/// and a file the user deleted), `dv add` refuses, and `dv add --as-is` records exactly what is there.
#[test]
fn a_killed_checkout_is_added_only_as_is_and_then_exactly() {
    let r = TestRepo::new();
    for i in 0..40 {
        r.write(&format!("data/flat/f{i:02}"), &bytes(i, 3000));
    }
    r.ok(&["add", "data"]);
    let _remote = folder_remote(&r);
    r.git(&["add", "-A"]);
    r.git(&["commit", "-q", "-m", "v1"]);
    r.git(&["tag", "v1"]);
    for i in 0..40 {
        r.write(&format!("data/flat/f{i:02}"), &bytes(100 + i, 3000));
    }
    for i in 0..5 {
        r.write(&format!("data/added/n{i}"), &bytes(200 + i, 3000));
    }
    r.ok(&["add", "data"]);
    r.git(&["commit", "-q", "-am", "v2"]);
    r.ok(&["push", "--all-commits"]);
    let mut checked = 0;
    for n in 1..100 {
        let clone = clone_of(&r);
        let c = clone.path();
        ok_at(c, &["pull"]);
        ok_at(c, &["fetch", "--rev", "v1"]);
        if !killed_at(c, &["checkout", "--rev", "v1"], n) {
            break;
        }
        let st: serde_json::Value = serde_json::from_str(&ok_at(c, &["status", "--json"])).unwrap();
        if st["datasets"][0]["unfinished"] != true {
            continue;
        }
        checked += 1;
        fs::remove_file(c.join("data/flat/f07")).ok();
        let text = ok_at(c, &["status"]);
        assert!(text.contains("a checkout did not finish"), "{n}: {text}");
        assert!(text.contains("deleted:   data/flat/f07"), "{n}: {text}");
        let err = fails_at(c, &["add", "data"]);
        assert!(err.contains("--as-is"), "{n}: {err}");
        assert_eq!(
            git_in(c, &["diff", "HEAD", "--stat"]),
            "",
            "{n}: the pointer moved"
        );
        ok_at(c, &["add", "--as-is", "data"]);
        let st: serde_json::Value = serde_json::from_str(&ok_at(c, &["status", "--json"])).unwrap();
        assert!(st["datasets"][0].get("unfinished").is_none(), "{n}: {st}");
        assert_eq!(st["datasets"][0]["state"], "unchanged", "{n}: {st}");
        // What was recorded is what is there, file for file.
        let there = listing(&c.join("data"));
        git_in(c, &["commit", "-q", "-am", "as is"]);
        fs::remove_dir_all(c.join("data")).unwrap();
        ok_at(c, &["checkout"]);
        assert_eq!(listing(&c.join("data")), there, "{n}");
        assert!(!there.contains(&"flat/f07".to_string()), "{n}");
    }
    assert!(checked > 0, "no kill fell inside the checkout's writes");
}
