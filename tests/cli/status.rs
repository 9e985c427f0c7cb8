use crate::common::*;

fn changes(v: &serde_json::Value) -> Vec<(String, String)> {
    v["changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["path"].as_str().unwrap().to_string(),
                c["change"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

#[test]
fn status_before_and_after_edits() {
    let r = TestRepo::new();
    r.write("data/keep", b"keep");
    r.write("data/edit", b"v1");
    r.write("data/gone", b"bye");
    r.write("data/sub/x", b"x");
    r.ok(&["add", "data"]);
    let s = r.json(&["status"]);
    assert_eq!(s["datasets"][0]["state"], "unchanged");
    assert_eq!(s["datasets"][0]["in_cache"], true);
    assert!(changes(&s["datasets"][0]).is_empty());

    r.write("data/edit", b"v2");
    std::fs::remove_file(r.p("data/gone")).unwrap();
    r.write("data/new", b"new");
    r.write("data/newdir/y", b"y");
    std::fs::remove_dir_all(r.p("data/sub")).unwrap();
    let s = r.json(&["status"]);
    let d = &s["datasets"][0];
    assert_eq!(d["state"], "modified");
    let expected: Vec<(String, String)> = [
        ("data/edit", "modified"),
        ("data/gone", "deleted"),
        ("data/new", "new"),
        ("data/newdir", "new"),
        ("data/sub", "deleted"),
    ]
    .iter()
    .map(|(a, b)| (a.to_string(), b.to_string()))
    .collect();
    assert_eq!(changes(d), expected);

    let human = r.ok(&["status"]);
    assert!(human.contains("data: modified\n"), "{human}");
    assert!(human.contains("    deleted:   data/sub/\n"), "{human}");
    let code = r.dv(&["status", "--exit-code"]).status.code();
    assert_eq!(code, Some(1));

    std::fs::remove_dir_all(r.p("data")).unwrap();
    let s = r.json(&["status", "data"]);
    assert_eq!(s["datasets"][0]["state"], "deleted");
}

#[test]
fn status_reads_no_unchanged_file() {
    let r = TestRepo::new();
    for i in 0..20 {
        r.write(&format!("data/f{i}"), &bytes(i, 2000));
    }
    r.settle();
    r.ok(&["add", "data"]);
    // Make every file unreadable to dv without changing its stat: if status read them it would fail.
    // (Permissions change ctime, so instead we check through the stat cache's own counter.)
    let s = r.json(&["status"]);
    assert_eq!(s["hashed_files"], 0);
    assert_eq!(s["datasets"][0]["state"], "unchanged");

    // Same bytes, new mtime: hashed once, still unchanged.
    r.write("data/f3", &bytes(3, 2000));
    let s = r.json(&["status"]);
    assert_eq!(s["hashed_files"], 1);
    assert_eq!(s["datasets"][0]["state"], "unchanged");
}

#[test]
fn mode_change_is_a_modification() {
    use std::os::unix::fs::PermissionsExt;
    let r = TestRepo::new();
    r.write("data/run.sh", b"#!/bin/sh\n");
    r.ok(&["add", "data"]);
    std::fs::set_permissions(r.p("data/run.sh"), std::fs::Permissions::from_mode(0o755)).unwrap();
    let s = r.json(&["status"]);
    assert_eq!(
        changes(&s["datasets"][0]),
        vec![("data/run.sh".to_string(), "modified".to_string())]
    );
}

#[test]
fn status_without_tracked_data_and_from_a_subfolder() {
    let r = TestRepo::new();
    let s = r.json(&["status"]);
    assert_eq!(s["datasets"].as_array().unwrap().len(), 0);
    r.write("a/b/data/x", b"1");
    r.write("c/data2/y", b"2");
    r.ok(&["add", "a/b/data", "c/data2"]);
    let all = r.json(&["status"]);
    assert_eq!(all["datasets"].as_array().unwrap().len(), 2);
    let out = r.dv_in("a", &["status", "--json", "."]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["datasets"].as_array().unwrap().len(), 1);
    assert_eq!(v["datasets"][0]["path"], "a/b/data");
}

#[test]
fn a_new_folder_inside_the_scope_is_one_change() {
    let r = TestRepo::new();
    r.write("data/sub/a.txt", b"a");
    r.write("data/gone/b.txt", b"b");
    r.write("data/other.txt", b"o");
    r.ok(&["add", "data"]);
    r.write("data/sub/newdir/x", b"x");
    r.write("data/sub/newdir/y", b"y");
    std::fs::remove_dir_all(r.p("data/gone")).unwrap();
    // The scope lies below `data`, not below `data/sub/newdir`: that folder is one change, as without a scope.
    let s = r.json(&["status", "data/sub"]);
    assert_eq!(
        changes(&s["datasets"][0]),
        vec![("data/sub/newdir".to_string(), "new".to_string())]
    );
    let s = r.json(&["status", "data/gone"]);
    assert_eq!(
        changes(&s["datasets"][0]),
        vec![("data/gone".to_string(), "deleted".to_string())]
    );
}

#[test]
fn a_file_where_a_folder_belongs_is_one_change_and_is_not_read() {
    let r = TestRepo::new();
    r.write("data/sub/x", b"hello");
    r.write("data/keep", b"keep");
    r.settle();
    r.ok(&["add", "data"]);
    std::fs::remove_dir_all(r.p("data/sub")).unwrap();
    // As long as the folder's files together: only reading it could tell it from them, and it is no folder.
    r.write("data/sub", b"world");
    r.settle();
    let s = r.json(&["status"]);
    assert_eq!(
        changes(&s["datasets"][0]),
        vec![("data/sub".to_string(), "modified".to_string())]
    );
    assert_eq!(s["hashed_files"], 0, "{s}");
}

/// When the only pointer files were malformed, `dv status` said "No data tracked yet".
#[test]
fn status_with_only_damaged_pointers_says_so() {
    let r = TestRepo::new();
    r.write("a.bin", b"data");
    r.ok(&["add", "a.bin"]);
    let text = String::from_utf8(r.read("a.bin.dv")).unwrap();
    r.write(
        "a.bin.dv",
        format!("<<<<<<< HEAD\n{text}=======\n>>>>>>> b\n").as_bytes(),
    );
    let out = r.dv(&["status"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!err.contains("No data tracked yet"), "{err}");
    assert!(
        err.contains(
            "No dataset can be read: 1 pointer file(s) are in an unresolved merge conflict"
        ),
        "{err}"
    );
    assert!(err.contains("a.bin.dv"), "{err}");
    assert_eq!(r.dv(&["status", "--exit-code"]).status.code(), Some(1));
}

/// A folder dataset whose tree the cache lacks (a clone before `dv fetch`, with the data put in place by hand)
/// said `unchanged`: nothing had been compared. It is `unknown`, naming the folders not compared, for the whole
/// dataset, a path inside it and with `--remote`, and `--exit-code` exits 1; once the root tree is there and a
/// sub-folder's is not, a change found is `modified` and the sub-folder still `unknown`. A file dataset in the
/// same position is compared by hashing (its id needs no cache), so it stays `unchanged`.
#[test]
fn a_folder_whose_tree_is_not_in_the_cache_is_unknown_not_unchanged() {
    let r = TestRepo::new();
    let _remote = folder_remote(&r);
    r.write("data/x", b"x");
    r.write("data/sub/y", b"y");
    r.write("model.bin", b"m");
    r.ok(&["add", "data", "model.bin"]);
    r.git(&["add", "-A"]);
    r.git(&["commit", "-qm", "v1"]);
    r.ok(&["push"]);
    let clone = clone_of(&r);
    let c = clone.path();
    std::fs::create_dir_all(c.join("data/sub")).unwrap();
    std::fs::write(c.join("data/x"), b"x").unwrap();
    std::fs::write(c.join("data/sub/y"), b"y").unwrap();
    std::fs::write(c.join("model.bin"), b"m").unwrap();
    let json = |args: &[&str]| -> serde_json::Value {
        let mut a = args.to_vec();
        a.push("--json");
        serde_json::from_str(&ok_at(c, &a)).unwrap()
    };

    let s = json(&["status"]);
    let (data, model) = (&s["datasets"][0], &s["datasets"][1]);
    assert_eq!(data["path"], "data");
    assert_eq!(data["state"], "unknown", "{s}");
    assert_eq!(data["in_cache"], false);
    assert_eq!(data["not_compared"], serde_json::json!(["data"]));
    assert!(changes(data).is_empty());
    assert_eq!(model["state"], "unchanged", "{s}");
    assert_eq!(model["in_cache"], false);
    assert!(model.get("not_compared").is_none(), "{s}");
    let human = ok_at(c, &["status"]);
    assert!(
        human.contains(
            "data: unknown, not in cache (run `dv fetch` to compare it)\n    unknown:   data/\n"
        ),
        "{human}"
    );
    let code = dv_command(c)
        .args(["status", "--exit-code"])
        .status()
        .unwrap();
    assert_eq!(code.code(), Some(1));
    // A path inside the folder, and --remote, say the same.
    let s = json(&["status", "data/sub/y"]);
    assert_eq!(s["datasets"][0]["state"], "unknown", "{s}");
    let s = json(&["status", "--remote"]);
    assert_eq!(s["datasets"][0]["state"], "unknown", "{s}");
    assert_eq!(s["datasets"][0]["remote"]["pushed"], true, "{s}");

    // `dv fetch data/x` brings the root tree, not `data/sub`'s: a change is found, the rest is still unknown.
    ok_at(c, &["fetch", "data/x"]);
    std::fs::write(c.join("data/x"), b"edited").unwrap();
    let s = json(&["status"]);
    let data = &s["datasets"][0];
    assert_eq!(data["state"], "modified", "{s}");
    assert_eq!(
        changes(data),
        vec![("data/x".to_string(), "modified".to_string())]
    );
    assert_eq!(data["not_compared"], serde_json::json!(["data/sub"]));
    let human = ok_at(c, &["status"]);
    assert!(
        human.contains(
            "data: modified, not in cache (run `dv fetch` to compare all of it)\n    modified:  data/x\n    \
             unknown:   data/sub/\n"
        ),
        "{human}"
    );
    let s = json(&["status", "data/sub"]);
    assert_eq!(s["datasets"][0]["state"], "unknown", "{s}");

    // With every tree fetched, everything is compared.
    ok_at(c, &["fetch"]);
    std::fs::write(c.join("data/x"), b"x").unwrap();
    let s = json(&["status"]);
    assert_eq!(s["datasets"][0]["state"], "unchanged", "{s}");
    assert!(s["datasets"][0].get("not_compared").is_none(), "{s}");
}

/// A pointer file a merge left with conflict markers was reported as a TOML error ("key with no value") with a
/// hint to `git checkout -- PATH.dv`, which Git refuses for an unmerged path (adversarial review). It is now
/// named an unresolved merge conflict, with a hint that resolves it; `status` exits 0 on it as on any other
/// problem it reports, and 1 with --exit-code.
#[test]
fn a_pointer_file_with_merge_conflict_markers_is_named_an_unresolved_conflict() {
    let r = TestRepo::new();
    r.write("f.bin", b"base");
    r.ok(&["add", "f.bin"]);
    r.git(&["add", ".dv"]);
    r.git(&["commit", "-qm", "base"]);
    r.git(&["checkout", "-qb", "side"]);
    r.write("f.bin", b"side version");
    r.ok(&["add", "f.bin"]);
    r.git(&["commit", "-qm", "side"]);
    r.git(&["checkout", "-q", "main"]);
    r.ok(&["checkout", "-q"]);
    r.write("f.bin", b"main version");
    r.ok(&["add", "f.bin"]);
    r.git(&["commit", "-qm", "main"]);
    let merge = std::process::Command::new("git")
        .args(["merge", "-q", "side"])
        .current_dir(r.path())
        .output()
        .unwrap();
    assert!(!merge.status.success(), "the merge conflicts");
    assert!(String::from_utf8_lossy(&r.read("f.bin.dv")).contains("<<<<<<< "));

    let out = r.dv(&["status"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(
        err.contains("warning: skipped 'f.bin.dv': unresolved merge conflict in f.bin.dv"),
        "{err}"
    );
    assert!(
        err.contains(
            "No dataset can be read: 1 pointer file(s) are in an unresolved merge conflict"
        ) && err.contains("dv checkout --ours PATH"),
        "{err}"
    );
    assert!(!err.contains("expected `=`"), "{err}");
    assert_eq!(r.dv(&["status", "--exit-code"]).status.code(), Some(1));
    let json = r.dv(&["status", "--json"]);
    let json: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(json["not_pointers"][0]["problem"], "malformed", "{json}");
    assert_eq!(json["not_pointers"][0]["conflict"], true, "{json}");

    for args in [&["checkout"][..], &["checkout", "f.bin"], &["gc"]] {
        let err = r.refuses(args);
        assert!(
            err.contains("error: unresolved merge conflict in f.bin.dv"),
            "{args:?}: {err}"
        );
        assert!(
            err.contains("hint: ")
                && err.contains("`dv checkout --ours PATH` or `dv checkout --theirs PATH`")
                && !err.contains("git checkout -- PATH.dv"),
            "{args:?}: {err}"
        );
    }
    // The hint's way out works: settled, staged, checked out.
    r.ok(&["checkout", "-q", "--theirs", "f.bin"]);
    assert_eq!(r.read("f.bin"), b"side version");
    assert!(
        r.git(&["diff", "--name-only", "--diff-filter=U"])
            .trim()
            .is_empty()
    );
}

/// A pointer whose kind is not that of the object its id names (`file` for a manifest's id) does not describe
/// the file beside it, even though the ids are equal: status must not call it unchanged.
#[test]
fn a_pointer_with_the_wrong_kind_is_not_unchanged() {
    let r = TestRepo::new();
    r.write("big.bin", &bytes(5, 600_000));
    r.ok(&["add", "big.bin"]);
    let text = String::from_utf8(r.read("big.bin.dv")).unwrap();
    assert!(text.contains("kind = \"chunked\""), "{text}");
    r.write(
        "big.bin.dv",
        text.replace("kind = \"chunked\"", "kind = \"file\"")
            .as_bytes(),
    );
    let st = r.json(&["status", "big.bin"]);
    assert_ne!(st["datasets"][0]["state"], "unchanged", "{st}");
}

/// Files created and deleted while `status` reads their folder (the adversarial review's churn): a file gone
/// between the folder's listing and its stat is simply not there, never an error. (An `add` that then cannot
/// read a file it listed stops with an error: what it would record is no version of the folder.)
#[test]
fn files_deleted_while_a_folder_is_read_are_not_there_not_an_error() {
    let r = TestRepo::new();
    for i in 0..3000 {
        r.write(&format!("data/churn/f{i:04}"), b"x");
    }
    r.ok(&["add", "data"]);
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let churn = {
        let (stop, dir) = (stop.clone(), r.p("data/churn"));
        std::thread::spawn(move || {
            let mut i = 0usize;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let _ = std::fs::remove_file(dir.join(format!("f{:04}", i % 3000)));
                let _ = std::fs::write(dir.join(format!("g{:04}", i % 3000)), b"y");
                let _ = std::fs::remove_file(dir.join(format!("g{:04}", (i + 1500) % 3000)));
                i += 1;
            }
        })
    };
    let mut failures = Vec::new();
    for round in 0..12 {
        let out = r.dv(&["status"]);
        if !out.status.success() {
            failures.push(format!("{round}: {}", String::from_utf8_lossy(&out.stderr)));
        }
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    churn.join().unwrap();
    assert!(failures.is_empty(), "{failures:#?}");
    r.ok(&["add", "data"]);
    r.ok(&["fsck"]);
}
