//! Git's index and ignore rules (adversarial review, issue 15): a locked index refuses a stage before anything
//! is written, and names the lock; whether a dataset's data is ignored is Git's verdict (negations and
//! equivalent rules included), with `git check-ignore` as the oracle; a pointer Git ignores is never staged.

use std::fs;
use std::process::Command;

use crate::common::*;

/// The work tree outside `.git` and `.dv` (the cache, which an add fills before it writes the pointers).
fn work_files(root: &std::path::Path) -> Snapshot {
    snapshot(root)
        .into_iter()
        .filter(|(p, _)| !p.starts_with(".git/") && p != ".git" && !p.starts_with(".dv"))
        .collect()
}

/// `git check-ignore -v PATH`: the rule that decides, as `SOURCE:LINE:PATTERN`, when Git ignores the path
/// (or, for a negation, re-includes it); `None` when no rule matches.
fn check_ignore(dir: &std::path::Path, path: &str) -> Option<String> {
    let out = Command::new("git")
        .args(["check-ignore", "-v", path])
        .current_dir(dir)
        .output()
        .unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    text.split('\t')
        .next()
        .filter(|s| !s.is_empty())
        .map(str::to_string)
}

/// True when Git ignores the path (`git check-ignore -q`, which a negation answers with "not ignored").
fn ignored(dir: &std::path::Path, path: &str) -> bool {
    Command::new("git")
        .args(["check-ignore", "-q", path])
        .current_dir(dir)
        .status()
        .unwrap()
        .success()
}

/// F3: with Git's index locked (a crashed git's `index.lock`), `dv add` wrote the pointer, `.gitignore` and
/// `.gitattributes` and then failed staging with an error that named neither the lock nor what to do. It now
/// checks the lock before it writes anything, names the lock file and says what to do; the lock stays (it is
/// not dv's), and once it is gone the add goes through.
#[test]
fn a_locked_index_refuses_add_before_anything_is_written_and_names_the_lock() {
    let r = TestRepo::new();
    r.write("data/f.bin", &bytes(1, 3000));
    let lock = r.p(".git/index.lock");
    fs::write(&lock, b"").unwrap();
    let before = work_files(r.path());
    let err = r.fails(&["add", "data"]);
    assert!(err.contains(lock.to_str().unwrap()), "{err}");
    assert!(
        err.contains("hint:") && err.contains("another git process") && err.contains("remove"),
        "{err}"
    );
    assert_eq!(
        work_files(r.path()),
        before,
        "the refused add wrote something"
    );
    assert!(lock.exists(), "dv removed a lock it does not own");
    fs::remove_file(&lock).unwrap();
    r.ok(&["add", "data"]);
    let status = r.git(&["status", "--porcelain"]);
    for file in ["data.dv", ".gitignore", ".gitattributes"] {
        assert!(status.contains(&format!("A  {file}")), "{file}: {status}");
    }
    assert!(!lock.exists());
}

/// F3 for annotations: `dv meta set` rewrote the pointer and then failed to stage it.
#[test]
fn a_locked_index_refuses_meta_set_before_the_pointer_changes() {
    let r = TestRepo::new();
    r.write("f.bin", &bytes(2, 1000));
    r.ok(&["add", "f.bin"]);
    let pointer = r.read("f.bin.dv");
    let lock = r.p(".git/index.lock");
    fs::write(&lock, b"").unwrap();
    let err = r.fails(&["meta", "set", "f.bin", "owner=bo"]);
    assert!(err.contains(lock.to_str().unwrap()), "{err}");
    assert_eq!(r.read("f.bin.dv"), pointer, "the pointer changed");
    fs::remove_file(&lock).unwrap();
    r.ok(&["meta", "set", "f.bin", "owner=bo"]);
    assert!(
        r.git(&["diff", "--cached", "--name-only"])
            .contains("f.bin.dv")
    );
}

/// F3 in a linked work tree: its index (and index lock) is in its own Git folder, `.git/worktrees/NAME`; a lock
/// on the main work tree's index does not concern it.
#[test]
fn a_linked_work_tree_checks_its_own_index_lock() {
    let r = TestRepo::new();
    r.write("a.bin", &bytes(3, 1000));
    r.ok(&["add", "a.bin"]);
    r.git(&["add", "-A"]);
    r.git(&["commit", "-qm", "a"]);
    let parent = tempfile::tempdir().unwrap();
    let wt = parent.path().join("linked");
    r.git(&["worktree", "add", "-q", wt.to_str().unwrap(), "-b", "side"]);
    fs::write(wt.join("b.bin"), bytes(4, 1000)).unwrap();
    let own_lock = r.p(".git/worktrees/linked/index.lock");
    fs::write(&own_lock, b"").unwrap();
    let before = work_files(&wt);
    let out = dv_command(&wt).args(["add", "b.bin"]).output().unwrap();
    let err = String::from_utf8(out.stderr).unwrap();
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains(own_lock.to_str().unwrap()), "{err}");
    assert_eq!(work_files(&wt), before, "the refused add wrote something");
    fs::remove_file(&own_lock).unwrap();
    // The main work tree's lock is another index's.
    let main_lock = r.p(".git/index.lock");
    fs::write(&main_lock, b"").unwrap();
    ok_at(&wt, &["add", "b.bin"]);
    assert!(git_in(&wt, &["status", "--porcelain"]).contains("A  b.bin.dv"));
    fs::remove_file(&main_lock).unwrap();
    r.git(&["worktree", "remove", "--force", wt.to_str().unwrap()]);
}

/// F7: a `!/d` after dv's `/d` makes Git take the data back (`git add .` would commit it), but the check only
/// looked for dv's line and said all was well. Status now reports it (problem `negated`, naming the rule), and
/// `dv add` refuses, writing nothing, rather than leave data Git would commit.
#[test]
fn a_negation_that_takes_the_data_back_is_reported_and_refused() {
    let r = TestRepo::new();
    r.write("d/x.bin", &bytes(5, 2000));
    r.ok(&["add", "d"]);
    r.git(&["commit", "-qm", "d"]);
    let mut gi = String::from_utf8(r.read(".gitignore")).unwrap();
    gi.push_str("!/d\n");
    r.write(".gitignore", gi.as_bytes());
    assert!(!ignored(r.path(), "d/x.bin"), "the oracle disagrees");
    let line = gi.lines().count();
    let json = r.json(&["status"]);
    let ignore = &json["datasets"][0]["ignore"];
    assert_eq!(ignore["problem"], "negated", "{json}");
    assert_eq!(ignore["file"], ".gitignore", "{json}");
    assert_eq!(ignore["line"], "!/d", "{json}");
    assert_eq!(
        check_ignore(r.path(), "d").as_deref(),
        Some(format!(".gitignore:{line}:!/d").as_str())
    );
    assert!(
        ignore["fix"]
            .as_str()
            .unwrap()
            .contains(&format!("line {line}")),
        "{json}"
    );
    assert_eq!(r.dv(&["status", "--exit-code"]).status.code(), Some(1));
    let text = r.ok(&["status"]);
    assert!(text.contains("'!/d' at .gitignore:"), "{text}");
    // checkout does not fight the user's rule, and says nothing it did not do.
    let before = work_files(r.path());
    let out = r.dv(&["checkout"]);
    assert!(out.status.success());
    assert!(!String::from_utf8_lossy(&out.stderr).contains("Added the data's ignore line"));
    assert_eq!(work_files(r.path()), before);
    // add refuses before it writes anything.
    r.write("d/y.bin", &bytes(6, 2000));
    let before = work_files(r.path());
    let err = r.fails(&["add", "d"]);
    assert!(err.contains("'!/d' at .gitignore:"), "{err}");
    assert_eq!(work_files(r.path()), before);
}

/// F7: a rule equivalent to dv's line (`/d/` for a folder; a pattern in another `.gitignore`, or in
/// `.git/info/exclude`) ignores the data as well; it was reported as a missing line.
#[test]
fn an_equivalent_rule_counts_as_the_ignore_line() {
    let r = TestRepo::new();
    r.write("d/x.bin", &bytes(7, 2000));
    r.write("sets/t.bin", &bytes(8, 2000));
    r.ok(&["add", "d", "sets/t.bin"]);
    r.git(&["commit", "-qm", "c"]);
    let root_gi = String::from_utf8(r.read(".gitignore"))
        .unwrap()
        .replace("/d\n", "/d/\n");
    r.write(".gitignore", root_gi.as_bytes());
    r.write("sets/.gitignore", b"# none of dv's lines\n");
    let mut exclude = fs::read_to_string(r.p(".git/info/exclude")).unwrap_or_default();
    exclude.push_str("*.bin\n");
    fs::write(r.p(".git/info/exclude"), exclude).unwrap();
    assert!(ignored(r.path(), "d/x.bin") && ignored(r.path(), "sets/t.bin"));
    let json = r.json(&["status"]);
    for d in json["datasets"].as_array().unwrap() {
        assert!(d.get("ignore").is_none(), "{json}");
    }
    assert_eq!(r.dv(&["status", "--exit-code"]).status.code(), Some(0));
    // checkout has nothing to add either.
    r.ok(&["checkout"]);
    assert_eq!(r.read(".gitignore"), root_gi.as_bytes());
    assert_eq!(r.read("sets/.gitignore"), b"# none of dv's lines\n");
    // Without the exclude, the file dataset has no rule: that is a missing line, fixed by checkout.
    fs::write(r.p(".git/info/exclude"), "").unwrap();
    let json = r.json(&["status"]);
    let t = json["datasets"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["path"] == "sets/t.bin")
        .unwrap();
    assert_eq!(t["ignore"]["problem"], "missing-line", "{json}");
    r.ok(&["checkout"]);
    assert!(ignored(r.path(), "sets/t.bin"));
}

/// F10: `dv add` staged the pointer of a file in a folder `.git/info/exclude` ignores (as `git add -f` would),
/// so a file the user told Git to ignore was versioned. It now refuses before writing anything, naming the
/// rule and where it is written; `--no-stage` still writes the pointer (unstaged), and a pointer Git already
/// tracks is staged as `git add` would (ignore rules do not apply to tracked files).
#[test]
fn a_pointer_git_ignores_is_not_staged() {
    let r = TestRepo::new();
    let mut exclude = fs::read_to_string(r.p(".git/info/exclude")).unwrap_or_default();
    exclude.push_str("scratch/\n");
    fs::write(r.p(".git/info/exclude"), &exclude).unwrap();
    let line = exclude.lines().count();
    r.write("scratch/g.bin", &bytes(9, 1000));
    assert_eq!(
        check_ignore(r.path(), "scratch/g.bin.dv").as_deref(),
        Some(format!(".git/info/exclude:{line}:scratch/").as_str())
    );
    let before = work_files(r.path());
    let err = r.fails(&["add", "scratch/g.bin"]);
    assert!(
        err.contains("scratch/g.bin.dv")
            && err.contains(&format!("'scratch/' at .git/info/exclude:{line}")),
        "{err}"
    );
    assert!(err.contains("hint:") && err.contains("--no-stage"), "{err}");
    assert_eq!(
        work_files(r.path()),
        before,
        "the refused add wrote something"
    );
    assert_eq!(r.git(&["ls-files"]), "");
    // Not staged: written, and left to the user.
    r.ok(&["add", "--no-stage", "scratch/g.bin"]);
    assert!(r.p("scratch/g.bin.dv").exists());
    assert_eq!(r.git(&["ls-files"]), "");
    // Tracked already (`git add -f`): a new version is staged like any tracked file.
    r.git(&["add", "-f", "scratch/g.bin.dv", "scratch/.gitignore"]);
    r.write("scratch/g.bin", &bytes(10, 1000));
    r.ok(&["add", "scratch/g.bin"]);
    assert!(
        r.git(&["diff", "--cached", "--name-only"])
            .contains("scratch/g.bin.dv")
    );
}

/// F3 and F10 for `dv run`: it adds the step's outputs and then stages its step file; both must be possible
/// before either is written (a locked index, or a step file Git ignores, left the outputs added and staged but
/// no step recorded).
#[test]
fn run_checks_its_staging_before_recording_anything() {
    let r = TestRepo::new();
    let step = [
        "run",
        "-n",
        "s",
        "-o",
        "out.txt",
        "--",
        "sh",
        "-c",
        "echo x > out.txt",
    ];
    let lock = r.p(".git/index.lock");
    fs::write(&lock, b"").unwrap();
    let err = r.fails(&step);
    assert!(err.contains(lock.to_str().unwrap()), "{err}");
    assert!(!r.p("out.txt.dv").exists() && !r.p(".dv/steps/s.toml").exists());
    fs::remove_file(&lock).unwrap();
    let mut exclude = fs::read_to_string(r.p(".git/info/exclude")).unwrap_or_default();
    exclude.push_str("/.dv/steps/\n");
    fs::write(r.p(".git/info/exclude"), &exclude).unwrap();
    let err = r.fails(&step);
    assert!(
        err.contains(".dv/steps/s.toml") && err.contains("'/.dv/steps/' at .git/info/exclude:"),
        "{err}"
    );
    assert!(!r.p("out.txt.dv").exists() && !r.p(".dv/steps/s.toml").exists());
    assert_eq!(
        r.git(&["ls-files"])
            .lines()
            .filter(|l| l.contains("out.txt"))
            .count(),
        0
    );
    fs::write(r.p(".git/info/exclude"), "").unwrap();
    r.ok(&step);
    let staged = r.git(&["diff", "--cached", "--name-only"]);
    assert!(
        staged.contains("out.txt.dv") && staged.contains(".dv/steps/s.toml"),
        "{staged}"
    );
}
