//! What dv writes into Git's work tree, linked work trees and the cache lock: never through a link, never
//! collecting what another work tree needs, merges without ignore conflicts, and two processes at once.

use std::fs;
use std::os::unix::fs::symlink;
use std::process::Stdio;
use std::time::Duration;

use crate::common::*;

/// A file outside the repository standing for a secret a hostile link could point at.
fn secret() -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("credentials");
    fs::write(&path, "[default]\naws_secret_access_key = SECRET\n").unwrap();
    (dir, path)
}

fn staged(r: &TestRepo) -> String {
    r.git(&["ls-files", "--stage"])
}

#[test]
fn a_symlinked_gitignore_is_refused_and_never_staged() {
    let r = TestRepo::new();
    let (_dir, secret) = secret();
    symlink(&secret, r.p(".gitignore")).unwrap();
    r.write("data.bin", &bytes(1, 5000));
    let err = r.fails(&["add", "data.bin"]);
    assert!(err.contains(".gitignore' is a symbolic link"), "{err}");
    assert!(
        err.contains("credentials"),
        "the error names the link's target: {err}"
    );
    assert!(err.contains("hint:"), "{err}");
    assert!(
        fs::symlink_metadata(r.p(".gitignore"))
            .unwrap()
            .file_type()
            .is_symlink()
    );
    assert!(!r.p("data.bin.dv").exists(), "nothing half-written");
    assert!(!staged(&r).contains(".gitignore"), "{}", staged(&r));
    assert_eq!(
        fs::read_to_string(&secret).unwrap(),
        "[default]\naws_secret_access_key = SECRET\n"
    );
}

#[test]
fn a_symlinked_gitignore_that_needs_no_edit_is_not_staged_either() {
    // The link's target already holds the line, so nothing needs writing: only staging would follow it.
    let r = TestRepo::new();
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("leak");
    fs::write(&target, "/data.bin\nSECRET=1\n").unwrap();
    symlink(&target, r.p(".gitignore")).unwrap();
    r.write("data.bin", &bytes(2, 5000));
    let err = r.fails(&["add", "data.bin"]);
    assert!(err.contains("is a symbolic link"), "{err}");
    let out = r.git(&["ls-files", "--stage"]);
    assert!(!out.contains(".gitignore"), "{out}");
}

#[test]
fn a_symlinked_pointer_file_is_refused() {
    let r = TestRepo::new();
    let (_dir, secret) = secret();
    r.write("data.bin", &bytes(3, 5000));
    symlink(&secret, r.p("data.bin.dv")).unwrap();
    let err = r.fails(&["add", "data.bin"]);
    assert!(err.contains("data.bin.dv' is a symbolic link"), "{err}");
    assert!(
        fs::symlink_metadata(r.p("data.bin.dv"))
            .unwrap()
            .file_type()
            .is_symlink()
    );
    assert!(!staged(&r).contains("data.bin.dv"));
    assert!(!r.p(".gitignore").exists(), "nothing half-written");
}

#[test]
fn a_symlinked_hook_is_refused() {
    let r = TestRepo::new();
    // A shared hook script linked into the repository: dv must neither edit it nor replace the link.
    let dir = tempfile::tempdir().unwrap();
    let shared = dir.path().join("shared-hook");
    fs::write(&shared, "#!/bin/sh\necho shared\n").unwrap();
    symlink(&shared, r.p(".git/hooks/post-checkout")).unwrap();
    let err = r.fails(&["install"]);
    assert!(err.contains("post-checkout' is a symbolic link"), "{err}");
    assert_eq!(
        fs::read_to_string(&shared).unwrap(),
        "#!/bin/sh\necho shared\n"
    );
    assert!(
        fs::symlink_metadata(r.p(".git/hooks/post-checkout"))
            .unwrap()
            .file_type()
            .is_symlink()
    );
}

#[test]
fn gc_keeps_what_a_linked_work_tree_added_and_has_not_committed() {
    let r = TestRepo::new();
    r.write("main.bin", &bytes(10, 100_000));
    r.ok(&["add", "main.bin"]);
    r.git(&["add", "-A"]);
    r.git(&["commit", "-qm", "v1"]);
    let wt_parent = tempfile::tempdir().unwrap();
    let wt = wt_parent.path().join("linked");
    r.git(&["worktree", "add", "-q", wt.to_str().unwrap(), "-b", "side"]);
    let data = bytes(11, 300_000);
    fs::write(wt.join("side.bin"), &data).unwrap();
    ok_at(&wt, &["add", "side.bin"]);
    // Collected in the main work tree, with no grace: the linked tree's uncommitted data must stay.
    r.ok(&["gc", "--grace", "0"]);
    ok_at(&wt, &["fsck"]);
    fs::remove_file(wt.join("side.bin")).unwrap();
    ok_at(&wt, &["checkout"]);
    assert_eq!(fs::read(wt.join("side.bin")).unwrap(), data);
    let out = r.json(&["gc", "--grace", "0", "--dry-run"]);
    assert_eq!(
        out["other_work_trees"].as_array().unwrap().len(),
        1,
        "{out}"
    );
    // And the other way round: gc in the linked tree keeps the main tree's data.
    ok_at(&wt, &["gc", "--grace", "0"]);
    r.ok(&["fsck"]);
    // A removed work tree is pruned from the cache's list, and its data is then collected.
    r.git(&["worktree", "remove", "--force", wt.to_str().unwrap()]);
    let out = r.json(&["gc", "--grace", "0"]);
    assert_eq!(
        out["other_work_trees"].as_array().unwrap().len(),
        0,
        "{out}"
    );
    assert_eq!(fs::read_dir(r.p(".dv/cache/worktrees")).unwrap().count(), 1);
}

/// Found by the adversarial review: a linked work tree whose folder was moved away (Git lists it as
/// prunable) lost its committed, never-pushed data to a gc in the main work tree.
#[test]
fn gc_refuses_while_a_linked_work_tree_is_missing() {
    let r = TestRepo::new();
    r.write("main.bin", &bytes(12, 50_000));
    r.ok(&["add", "main.bin"]);
    r.git(&["add", "-A"]);
    r.git(&["commit", "-qm", "v1"]);
    let wt_parent = tempfile::tempdir().unwrap();
    let wt = wt_parent.path().join("linked");
    r.git(&["worktree", "add", "-q", wt.to_str().unwrap(), "-b", "side"]);
    let data = bytes(13, 200_000);
    fs::write(wt.join("only.bin"), &data).unwrap();
    ok_at(&wt, &["add", "only.bin"]);
    git_in(&wt, &["commit", "-qm", "side only"]);
    let away = wt_parent.path().join("away");
    fs::rename(&wt, &away).unwrap();
    for args in [
        &["gc", "--grace", "0"][..],
        &["gc", "--grace", "0", "--all-commits"],
    ] {
        let err = r.fails(args);
        assert!(
            err.contains("shares this cache, but its folder is missing")
                && err.contains("git worktree prune"),
            "{args:?}: {err}"
        );
    }
    // Back in place, nothing was lost.
    fs::rename(&away, &wt).unwrap();
    fs::remove_file(wt.join("only.bin")).unwrap();
    ok_at(&wt, &["checkout"]);
    assert_eq!(fs::read(wt.join("only.bin")).unwrap(), data);
    // Gone for good and pruned: gc runs again.
    fs::remove_dir_all(&wt).unwrap();
    r.git(&["worktree", "prune"]);
    r.ok(&["gc", "--grace", "0"]);
}

#[test]
fn a_renamed_pointer_is_ignored_after_checkout() {
    let r = TestRepo::new();
    r.write("sets/a/x.bin", &bytes(20, 1000));
    r.ok(&["add", "sets/a"]);
    r.git(&["add", "-A"]);
    r.git(&["commit", "-qm", "a"]);
    r.git(&["mv", "sets/a.dv", "sets/b.dv"]);
    r.ok(&["checkout"]);
    assert_eq!(r.read("sets/b/x.bin"), bytes(20, 1000));
    let st = r.git(&["status", "--porcelain", "--untracked-files=all"]);
    assert!(!st.contains("sets/b/"), "b's data is visible to Git: {st}");
    // The old line stays (harmless); the new one is there.
    let ignore = String::from_utf8(r.read("sets/.gitignore")).unwrap();
    assert!(
        ignore.lines().any(|l| l == "/a") && ignore.lines().any(|l| l == "/b"),
        "{ignore}"
    );
    r.git(&["add", "-A"]);
    r.git(&["commit", "-qm", "renamed"]);
    // dv status reports the missing line (and writes nothing: see
    // status_reports_a_missing_ignore_line_and_writes_nothing); checkout adds it.
    r.git(&["mv", "sets/b.dv", "sets/c.dv"]);
    fs::rename(r.p("sets/b"), r.p("sets/c")).unwrap();
    assert!(r.ok(&["status"]).contains("fix: dv checkout sets/c"));
    r.ok(&["checkout", "sets/c"]);
    let st = r.git(&["status", "--porcelain", "--untracked-files=all"]);
    assert!(!st.contains("sets/c/"), "c's data is visible to Git: {st}");
    assert!(!r.ok(&["status"]).contains("ignore:"));
}

/// `dv status` wrote a missing ignore line into `data/.gitignore` (a read-only command writing), and failed
/// without printing any status when that `.gitignore` was a symbolic link. Status writes nothing: it reports
/// both, per dataset (`ignore` in `--json`, with the command that fixes it), and `--exit-code` counts them.
#[test]
fn status_reports_a_missing_ignore_line_and_writes_nothing() {
    let r = TestRepo::new();
    r.write("sets/a/x.bin", &bytes(21, 1000));
    r.ok(&["add", "sets/a"]);
    r.git(&["add", "-A"]);
    r.git(&["commit", "-qm", "a"]);
    r.git(&["mv", "sets/a.dv", "sets/b.dv"]);
    fs::rename(r.p("sets/a"), r.p("sets/b")).unwrap();
    let before = snapshot(r.path());
    let text = r.ok(&["status"]);
    assert!(
        text.contains("sets/b: unchanged\n    ignore:    'sets/.gitignore' lacks the line '/b'")
            && text.contains("(fix: dv checkout sets/b)"),
        "{text}"
    );
    let json = r.json(&["status"]);
    let ignore = &json["datasets"][0]["ignore"];
    assert_eq!(ignore["problem"], "missing-line", "{json}");
    assert_eq!(ignore["file"], "sets/.gitignore", "{json}");
    assert_eq!(ignore["line"], "/b", "{json}");
    assert_eq!(ignore["fix"], "dv checkout sets/b", "{json}");
    assert_eq!(json["datasets"][0]["state"], "unchanged", "{json}");
    assert_eq!(r.dv(&["status", "--exit-code"]).status.code(), Some(1));
    // Nothing in the work tree changed (the stat cache lives in .dv/, which Git ignores).
    let now: Snapshot = snapshot(r.path())
        .into_iter()
        .filter(|(p, _)| !p.starts_with(".git") && !p.starts_with(".dv/"))
        .collect();
    let before: Snapshot = before
        .into_iter()
        .filter(|(p, _)| !p.starts_with(".git") && !p.starts_with(".dv/"))
        .collect();
    assert_eq!(now, before, "status wrote to the work tree");

    // A symbolic link as the .gitignore: reported, never read through, and the status is still printed.
    let elsewhere = tempfile::tempdir().unwrap();
    fs::write(elsewhere.path().join("ignore"), "/b\n").unwrap();
    fs::remove_file(r.p("sets/.gitignore")).unwrap();
    symlink(elsewhere.path().join("ignore"), r.p("sets/.gitignore")).unwrap();
    let out = r.dv(&["status", "--json"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let ignore = &json["datasets"][0]["ignore"];
    assert_eq!(ignore["problem"], "unreadable", "{json}");
    assert!(
        ignore["message"]
            .as_str()
            .unwrap()
            .contains("symbolic link"),
        "{json}"
    );
    assert!(r.ok(&["status"]).contains("sets/b: unchanged"));
}

#[test]
fn two_clones_adding_datasets_in_one_folder_merge_without_conflict() {
    let origin = TestRepo::new();
    origin.write("sets/a.bin", &bytes(30, 1000));
    origin.ok(&["add", "sets/a.bin"]);
    origin.git(&["add", "-A"]);
    origin.git(&["commit", "-qm", "a"]);
    // A repository made before the merge attribute: the clones' own adds bring it in.
    if origin.p(".gitattributes").exists() {
        origin.git(&["rm", "-q", ".gitattributes"]);
        origin.git(&["commit", "-qm", "old layout"]);
    }
    let clone_a = clone_of(&origin);
    let clone_b = clone_of(&origin);
    for (dir, name, seed) in [(&clone_a, "b", 31), (&clone_b, "c", 32)] {
        let d = dir.path();
        fs::write(d.join(format!("sets/{name}.bin")), bytes(seed, 1000)).unwrap();
        ok_at(d, &["add", &format!("sets/{name}.bin")]);
        git_in(d, &["add", "-A"]);
        git_in(d, &["commit", "-qm", name]);
    }
    let a = clone_a.path();
    git_in(
        a,
        &[
            "pull",
            "-q",
            "--no-rebase",
            "--no-edit",
            clone_b.path().to_str().unwrap(),
            "main",
        ],
    );
    let ignore = fs::read_to_string(a.join("sets/.gitignore")).unwrap();
    for l in ["/a.bin", "/b.bin", "/c.bin"] {
        assert!(ignore.lines().any(|x| x == l), "{l} missing: {ignore}");
    }
    let st = git_in(a, &["status", "--porcelain"]);
    assert!(st.is_empty(), "{st}");
    // And a third dataset added on each side again merges cleanly both ways.
    git_in(
        clone_b.path(),
        &[
            "pull",
            "-q",
            "--no-rebase",
            "--no-edit",
            a.to_str().unwrap(),
            "main",
        ],
    );
}

/// Starts `dv args` in `dir` with `env`, not waiting for it.
fn spawn(dir: &std::path::Path, env: &[(&str, &str)], args: &[&str]) -> std::process::Child {
    dv_command(dir)
        .envs(env.iter().copied())
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("dv starts")
}

#[test]
fn gc_waits_for_a_push_that_holds_the_cache_lock() {
    let r = TestRepo::new();
    let _remote = folder_remote(&r);
    r.write("big.bin", &bytes(40, 200_000));
    r.ok(&["add", "big.bin"]);
    r.git(&["add", "-A"]);
    r.git(&["commit", "-qm", "v1"]);
    r.write("big.bin", &bytes(41, 200_000));
    r.ok(&["add", "big.bin"]);
    r.git(&["add", "-A"]);
    r.git(&["commit", "-qm", "v2"]);
    // The push of every version pauses after its first pack, holding the lock.
    let push = spawn(
        r.path(),
        &[("DV_PAUSE_AT", "1:2500")],
        &["push", "--all-commits"],
    );
    std::thread::sleep(Duration::from_millis(800));
    let gc = spawn(r.path(), &[], &["gc", "--grace", "0"]);
    let push = push.wait_with_output().unwrap();
    let gc = gc.wait_with_output().unwrap();
    let gc_err = String::from_utf8_lossy(&gc.stderr);
    assert!(
        push.status.success(),
        "{}",
        String::from_utf8_lossy(&push.stderr)
    );
    assert!(gc.status.success(), "{gc_err}");
    assert!(
        gc_err.contains("Waiting for another dv process (pid ") && gc_err.contains("`dv push`"),
        "gc says whom it waits for: {gc_err}"
    );
    // The push finished whole: a clone pulls both versions.
    let clone = clone_of(&r);
    ok_at(clone.path(), &["fetch", "--all-commits"]);
    ok_at(clone.path(), &["fsck", "--all-commits"]);
}

#[test]
fn a_lock_timeout_names_the_holder() {
    let r = TestRepo::new();
    r.write("a.bin", &bytes(50, 100_000));
    let add = spawn(r.path(), &[("DV_PAUSE_AT", "1:4000")], &["add", "a.bin"]);
    std::thread::sleep(Duration::from_millis(1000));
    let out = dv_command(r.path())
        .env("DV_LOCK_TIMEOUT", "0.5")
        .args(["gc"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains(&format!(
            "another dv process (pid {}, `dv add`, in ",
            add.id()
        )),
        "{err}"
    );
    assert!(
        err.contains(r.path().canonicalize().unwrap().to_str().unwrap()),
        "{err}"
    );
    assert!(err.contains("DV_LOCK_TIMEOUT"), "{err}");
    let add = add.wait_with_output().unwrap();
    assert!(
        add.status.success(),
        "{}",
        String::from_utf8_lossy(&add.stderr)
    );
    // A bad setting is refused, not ignored.
    let out = dv_command(r.path())
        .env("DV_LOCK_TIMEOUT", "soon")
        .args(["gc"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("DV_LOCK_TIMEOUT"));
}

/// A linked hooks folder (`.git/hooks -> elsewhere`, or a `core.hooksPath` folder inside the work tree that is
/// a link) is refused: dv would write scripts wherever the link leads. The folder `core.hooksPath` names is used
/// when it is a real folder.
#[test]
fn a_symlinked_hooks_folder_is_refused_and_hooks_path_is_respected() {
    let r = TestRepo::new();
    let elsewhere = tempfile::tempdir().unwrap();
    fs::remove_dir_all(r.p(".git/hooks")).unwrap();
    symlink(elsewhere.path(), r.p(".git/hooks")).unwrap();
    let err = r.fails(&["install"]);
    assert!(
        err.contains(".git/hooks' is a symbolic link") && err.contains("through a link"),
        "{err}"
    );
    assert!(
        files_below(elsewhere.path()).is_empty(),
        "nothing written there"
    );
    let err = r.fails(&["uninstall"]);
    assert!(err.contains(".git/hooks' is a symbolic link"), "{err}");

    // A hooks folder inside the work tree, reached through a linked parent.
    symlink(elsewhere.path(), r.p("tools")).unwrap();
    r.git(&["config", "core.hooksPath", "tools/hooks"]);
    let err = r.fails(&["install"]);
    assert!(err.contains("tools' is a symbolic link"), "{err}");
    assert!(
        files_below(elsewhere.path()).is_empty(),
        "nothing written there"
    );

    // A real folder named by core.hooksPath gets the hooks.
    r.git(&["config", "core.hooksPath", "githooks"]);
    let installed = r.json(&["install"]);
    assert_eq!(installed[0]["action"], "created", "{installed}");
    assert!(r.p("githooks/post-checkout").is_file());
}

/// dv's own folder `.dv` made a link (it is committed, so anyone can) is refused before a file is written in it.
#[test]
fn a_symlinked_dv_folder_is_refused() {
    let r = TestRepo::bare_git();
    let elsewhere = tempfile::tempdir().unwrap();
    symlink(elsewhere.path(), r.p(".dv")).unwrap();
    let err = r.fails(&["init"]);
    assert!(err.contains("'.dv' is a symbolic link"), "{err}");
    assert!(
        files_below(elsewhere.path()).is_empty(),
        "nothing written there"
    );
}

/// A file dataset's temporary file goes in the cache's temporary folder only when that is on the same file
/// system: a linked work tree on another one (here /dev/shm, where it is a file system of its own) gets it
/// beside the file, so the rename into place works.
#[test]
fn a_linked_work_tree_on_another_file_system_checks_out_a_file_dataset() {
    use std::os::unix::fs::MetadataExt;
    let shm = std::path::Path::new("/dev/shm");
    let r = TestRepo::new();
    let data = bytes(12, 200_000);
    r.write("model.bin", &data);
    r.ok(&["add", "model.bin"]);
    r.git(&["add", "-A"]);
    r.git(&["commit", "-qm", "v1"]);
    let Ok(wt_parent) = tempfile::tempdir_in(shm) else {
        eprintln!("no /dev/shm here: the checkout across file systems is not tested");
        return;
    };
    if fs::metadata(shm).unwrap().dev() == fs::metadata(r.path()).unwrap().dev() {
        eprintln!(
            "/dev/shm is on the test folder's file system: the checkout across them is not tested"
        );
    }
    let wt = wt_parent.path().join("linked");
    r.git(&["worktree", "add", "-q", wt.to_str().unwrap(), "-b", "side"]);
    ok_at(&wt, &["checkout"]);
    assert_eq!(fs::read(wt.join("model.bin")).unwrap(), data);
    assert_no_temp_files(&wt, "checkout");
    r.git(&["worktree", "remove", "--force", wt.to_str().unwrap()]);
}

/// A file Git tracks is the user's, whatever its name: the cleanup of killed runs' temporary files beside
/// pointer files (`.NAME.dv-tmp-PID-N`, PID dead) deleted a committed file of that shape on every add and
/// checkout (adversarial review). An untracked file of that shape is the user's too: dv removes only the
/// temporary files it recorded (tempnames::a_users_file_named_like_a_temporary_file_is_data).
#[test]
fn a_committed_file_named_like_a_temporary_file_is_never_removed() {
    let r = TestRepo::new();
    r.write("data.csv", b"a,b\n1,2\n");
    r.ok(&["add", "data.csv"]);
    r.write(".notes.dv-tmp-4000000-1", b"my notes");
    r.write("sub/.keep.dv-tmp-4000001-0", b"kept");
    r.git(&["add", "-A"]);
    r.git(&["commit", "-qm", "c"]);
    r.write(".stale.dv-tmp-4000002-0", b"untracked");
    r.ok(&["checkout"]);
    r.write("sub/f.bin", b"x");
    r.ok(&["add", "sub/f.bin", "data.csv"]);
    r.ok(&["checkout", "--force"]);
    assert_eq!(r.read(".notes.dv-tmp-4000000-1"), b"my notes");
    assert_eq!(r.read("sub/.keep.dv-tmp-4000001-0"), b"kept");
    assert_eq!(r.read(".stale.dv-tmp-4000002-0"), b"untracked");
    let status = r.git(&["status", "--porcelain"]);
    assert!(!status.contains("D "), "{status}");
}

/// An add stopped before staging (killed there; a locked index is now refused before anything is written, see
/// gitindex.rs) has written the pointer file, `.gitignore` and `.gitattributes`; the next add must stage all
/// three, `.gitattributes` too although it finds its line already there (adversarial review: it stayed
/// untracked for good).
#[test]
fn an_add_stopped_before_staging_is_finished_by_the_next_including_gitattributes() {
    let r = TestRepo::new();
    r.write("f.bin", b"data");
    let out = dv_command(r.path())
        .args(["add", "f.bin"])
        .env("DV_CRASH_AT", "add-before-staging")
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(r.p(".gitattributes").exists() && r.p("f.bin.dv").exists());
    assert_eq!(r.git(&["ls-files"]), "");
    r.ok(&["add", "f.bin"]);
    let status = r.git(&["status", "--porcelain"]);
    for file in ["f.bin.dv", ".gitignore", ".gitattributes"] {
        assert!(
            status.contains(&format!("A  {file}")),
            "{file} not staged:\n{status}"
        );
    }
    assert!(!status.contains("?? .gitattributes"), "{status}");
}

/// The data files of the work tree (outside `.git` and `.dv`), with contents.
fn work_files(root: &std::path::Path) -> Snapshot {
    snapshot(root)
        .into_iter()
        .filter(|(p, _)| !p.starts_with(".git") && !p.starts_with(".dv"))
        .collect()
}

/// checkout and pull must edit the `.gitignore` of a dataset whose line is missing (a pointer renamed with
/// `git mv`); when that `.gitignore` is a symbolic link they refuse, and do so before writing any data, so the
/// work tree is left as it was (adversarial review: both wrote the data, then failed).
#[test]
fn checkout_and_pull_refuse_a_symlinked_gitignore_before_writing_data() {
    let r = TestRepo::new();
    r.write("sets/a.bin", &bytes(60, 4000));
    r.ok(&["add", "sets/a.bin"]);
    let _remote = folder_remote(&r);
    r.git(&["add", "-A"]);
    r.git(&["commit", "-qm", "a"]);
    r.ok(&["push"]);
    // Renamed with Git: sets/b.bin is named by a pointer, but no line ignores it yet.
    r.git(&["mv", "sets/a.bin.dv", "sets/b.bin.dv"]);
    r.git(&["commit", "-qm", "rename"]);
    let (_dir, secret) = secret();
    fs::remove_file(r.p("sets/.gitignore")).unwrap();
    symlink(&secret, r.p("sets/.gitignore")).unwrap();
    let before = work_files(r.path());
    let err = r.fails(&["checkout", "sets/b.bin"]);
    assert!(err.contains("sets/.gitignore' is a symbolic link"), "{err}");
    assert_eq!(
        work_files(r.path()),
        before,
        "checkout wrote before refusing"
    );
    assert!(!r.p("sets/b.bin").exists());

    // pull in a clone, whose fetch could write the files straight from the remote.
    let clone = clone_of(&r);
    fs::remove_file(clone.path().join("sets/.gitignore")).unwrap();
    symlink(&secret, clone.path().join("sets/.gitignore")).unwrap();
    let before = work_files(clone.path());
    let out = dv_command(clone.path()).args(["pull"]).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("sets/.gitignore' is a symbolic link"), "{err}");
    assert_eq!(
        work_files(clone.path()),
        before,
        "pull wrote before refusing"
    );
    assert_eq!(
        fs::read_to_string(&secret).unwrap(),
        "[default]\naws_secret_access_key = SECRET\n"
    );

    // A regular .gitignore again: both work, and add the line.
    fs::remove_file(r.p("sets/.gitignore")).unwrap();
    r.git(&["checkout", "--", "sets/.gitignore"]);
    r.ok(&["checkout", "sets/b.bin"]);
    assert_eq!(r.read("sets/b.bin"), bytes(60, 4000));
    assert!(
        String::from_utf8(r.read("sets/.gitignore"))
            .unwrap()
            .contains("/b.bin")
    );
}

/// `add` refuses a root `.gitattributes` that is a symbolic link (it adds the merge attribute there) before it
/// stores anything or writes a pointer: before, the pointer and `.gitignore` were written, then it failed.
#[test]
fn add_refuses_a_symlinked_gitattributes_before_writing_anything() {
    let r = TestRepo::new();
    let (_dir, secret) = secret();
    symlink(&secret, r.p(".gitattributes")).unwrap();
    r.write("data.bin", &bytes(61, 4000));
    let before = work_files(r.path());
    let err = r.fails(&["add", "data.bin"]);
    assert!(err.contains(".gitattributes' is a symbolic link"), "{err}");
    assert_eq!(work_files(r.path()), before, "add wrote before refusing");
    assert!(!staged(&r).contains("data.bin"), "{}", staged(&r));
}

/// A `.dv/cache` committed as a link into another repository's cache: dv refuses to use it (gc would delete
/// the other repository's packs, add would write into them) and names it, with what to do.
#[test]
fn a_committed_cache_link_is_refused_and_the_other_cache_is_untouched() {
    let victim = TestRepo::new();
    victim.write("big", &bytes(3, 200_000));
    victim.ok(&["add", "big"]);
    victim.git(&["add", "-A"]);
    victim.git(&["commit", "-qm", "v"]);
    let before = files_below(&victim.p(".dv/cache"));

    let evil = TestRepo::new();
    fs::remove_dir_all(evil.p(".dv/cache")).unwrap();
    symlink(victim.p(".dv/cache"), evil.p(".dv/cache")).unwrap();
    evil.git(&["add", "-f", ".dv/cache"]);
    evil.git(&["add", "-A"]);
    evil.git(&["commit", "-qm", "innocent"]);
    let clone = clone_of(&evil);
    for args in [
        &["gc", "--grace", "0"][..],
        &["status"],
        &["init"],
        &["fsck"],
    ] {
        let out = dv_command(clone.path()).args(args).output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {err}");
        assert!(
            err.contains(".dv/cache' is a symbolic link") && err.contains("hint:"),
            "{args:?}: {err}"
        );
    }
    assert_eq!(files_below(&victim.p(".dv/cache")), before);
    // A link deeper in the cache (a pack folder) is refused too.
    let r = TestRepo::new();
    let elsewhere = tempfile::tempdir().unwrap();
    symlink(elsewhere.path(), r.p(".dv/cache/packs/ab")).unwrap();
    let err = r.fails(&["status"]);
    assert!(err.contains("packs/ab' is a symbolic link"), "{err}");
}

/// A `.dv/state.db` committed as a link to another program's SQLite database: `dv status` refuses it and
/// neither creates nor migrates anything there.
#[test]
fn a_committed_state_db_link_is_refused_and_nothing_is_written_through_it() {
    let outside = tempfile::tempdir().unwrap();
    let target = outside.path().join("app.sqlite");
    let evil = TestRepo::new();
    for f in ["state.db", "state.db-wal", "state.db-shm"] {
        let _ = fs::remove_file(evil.p(&format!(".dv/{f}")));
    }
    symlink(&target, evil.p(".dv/state.db")).unwrap();
    evil.git(&["add", "-f", ".dv"]);
    evil.git(&["commit", "-qm", "x"]);
    let clone = clone_of(&evil);
    let out = dv_command(clone.path()).args(["status"]).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains(".dv/state.db' is a symbolic link"), "{err}");
    assert!(
        files_below(outside.path()).is_empty(),
        "nothing created there"
    );
    // The same for the other files dv keeps in .dv/.
    for f in ["state.db-wal", "config.local.toml", "lock"] {
        let r = TestRepo::new();
        let _ = fs::remove_file(r.p(&format!(".dv/{f}")));
        symlink(outside.path().join(f), r.p(&format!(".dv/{f}"))).unwrap();
        let err = r.fails(&["status"]);
        assert!(
            err.contains(&format!(".dv/{f}' is a symbolic link")),
            "{err}"
        );
        assert!(files_below(outside.path()).is_empty(), "{f}");
    }
}

/// dv's own ignore lines (`.dv/.gitignore`) emptied and committed: status reports each missing line with its
/// fix, and `dv add` and `dv init` put them back, so Git never offers the cache or the state database.
#[test]
fn missing_dv_ignore_lines_are_reported_and_restored() {
    let r = TestRepo::new();
    fs::write(r.p(".dv/.gitignore"), "").unwrap();
    r.git(&["add", ".dv/.gitignore", ".dv/config.toml"]);
    r.git(&["commit", "-qm", "init"]);
    let report = r.json(&["status"]);
    let ignore = report["ignore"].as_array().expect("an ignore list");
    assert!(
        ignore.iter().any(|i| i["line"] == "/cache/"
            && i["problem"] == "missing-line"
            && i["fix"] == "dv init"),
        "{report}"
    );
    assert!(ignore.iter().any(|i| i["line"] == "/state.db*"), "{report}");
    assert_eq!(r.dv(&["status", "--exit-code"]).status.code(), Some(1));
    let text = r.ok(&["status"]);
    assert!(
        text.contains(".dv/.gitignore' lacks the line '/cache/'"),
        "{text}"
    );

    r.write("a", b"data\n");
    r.ok(&["add", "a"]);
    let status = r.git(&["status", "--short", "--untracked-files=all"]);
    assert!(
        !status.contains(".dv/cache") && !status.contains("state.db"),
        "{status}"
    );
    assert!(r.json(&["status"]).get("ignore").is_none());

    // Missing altogether (deleted): init writes it again.
    fs::remove_file(r.p(".dv/.gitignore")).unwrap();
    assert!(r.json(&["status"])["ignore"].as_array().is_some());
    r.ok(&["init"]);
    assert!(r.json(&["status"]).get("ignore").is_none());
    let status = r.git(&["status", "--short", "--untracked-files=all"]);
    assert!(
        !status.contains(".dv/cache") && !status.contains("state.db"),
        "{status}"
    );
}

/// dv's per-machine files already tracked by Git (`git add .dv` while `.dv/.gitignore` was empty): no ignore
/// line keeps them out any more, so status names them with the `git rm --cached` that stops it.
#[test]
fn a_tracked_state_db_or_cache_is_reported() {
    let r = TestRepo::new();
    fs::write(r.p(".dv/.gitignore"), "").unwrap();
    r.write("a", b"data\n");
    r.ok(&["add", "a"]);
    r.git(&["add", "-f", ".dv"]);
    r.git(&["commit", "-qm", "everything"]);
    let report = r.json(&["status"]);
    let ignore = report["ignore"].as_array().expect("an ignore list");
    let tracked: Vec<_> = ignore
        .iter()
        .filter(|i| i["problem"] == "tracked")
        .collect();
    assert!(
        tracked
            .iter()
            .any(|i| i["fix"] == "git rm -r --cached .dv/cache"),
        "{report}"
    );
    assert!(
        tracked.iter().any(|i| i["fix"]
            .as_str()
            .unwrap()
            .starts_with("git rm --cached .dv/state.db")),
        "{report}"
    );
    r.git(&[
        "rm",
        "-rq",
        "--cached",
        "--ignore-unmatch",
        ".dv/cache",
        ".dv/state.db",
        ".dv/state.db-wal",
        ".dv/state.db-shm",
    ]);
    r.git(&["commit", "-qm", "untrack"]);
    assert!(r.json(&["status"]).get("ignore").is_none());
}

/// Git's sparse checkout (cone mode) removes every folder outside its patterns, ignored files included: `.dv/`
/// and the cache in it, the only copy of data not pushed yet (adversarial review). dv cannot stop Git, so
/// status, add and init warn, naming the command that keeps `.dv/`; with it added, no warning.
#[test]
fn sparse_checkout_that_would_remove_dv_is_warned_about() {
    let r = TestRepo::new();
    r.write("a/x", b"x");
    r.write("b/y", b"y");
    r.git(&["add", "a", "b"]);
    r.git(&["commit", "-qm", "ab"]);
    r.git(&["sparse-checkout", "init", "--cone"]);
    r.git(&["sparse-checkout", "set", "a", ".dv"]);
    let warns = |args: &[&str]| {
        let out = r.dv(args);
        String::from_utf8_lossy(&out.stderr).contains("git sparse-checkout add .dv")
    };
    assert!(!warns(&["status"]), "warned with .dv in the patterns");
    r.git(&["sparse-checkout", "set", "a"]);
    assert!(warns(&["status"]));
    assert!(warns(&["init"]));
}
