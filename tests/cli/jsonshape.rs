//! Golden files for every command's `--json` output and exit code, and for the command line's shape (issue 16,
//! step one: pinned before the core moves into its own crate, so that the move cannot change the interface).
//!
//! Each case runs the real `dv` in a realistic scenario (a Git repository in a temp folder, a folder remote, a
//! clone) and compares `{"command", "exit", "stdout"}` with `tests/cli/snapshots/<command>-<case>.json`.
//! Errors have no JSON shape: their cases pin the exit code and an empty stdout (and check that stderr has an
//! `error:` line). What varies from run to run is replaced by a placeholder, never dropped ([`Normalizer`]):
//! the temp folders become `<REPO>`, `<REMOTE>`, `<CLONE>`; the values of a few named fields
//! ([`VARYING_FIELDS`]: durations, the platform, dv's version) become `<TIME>`, `<PLATFORM>`, `<DV_VERSION>`
//! (`<TIME: number>` for a number, so the type stays visible); a commit whose tree holds a duration becomes
//! `<COMMIT-WITH-A-DURATION>`. Everything else is kept: every field name, nesting and type, counts, sizes,
//! states, repository-relative paths and hashes (the tests commit with fixed dates, so even commit ids are
//! pinned; `settle` after each write keeps `hashed_files` independent of the machine's speed). Object keys are
//! written sorted (JSON objects have no order); arrays keep dv's order.
//!
//! `DV_UPDATE_SNAPSHOTS=1 cargo test --test cli -- jsonshape::` rewrites the golden files from what dv prints
//! now; review the change with `git diff tests/cli/snapshots/`. A mismatch fails with the golden file's path,
//! the first differing lines (with line numbers) and the command's stderr; every case of a scenario is
//! checked before the test fails, so one run lists every changed file.
//!
//! Why no snapshot crate: Cargo.lock has none (no insta), and what is needed here (a pretty JSON document, a
//! line compare, one environment switch) is a few dozen lines; a dependency would add build time to every
//! engineer's build for less control over the placeholders.
//!
//! `dv --help` and `dv CMD [SUB] --help` are pinned as lists of subcommands, positional argument names and flag
//! names (`snapshots/help.txt`, flags sorted), not their full text: the wording of help is documentation that
//! changes often (hints, examples), while the names are what scripts depend on.

use std::path::{Path, PathBuf};
use std::process::Output;

use serde_json::Value;

use crate::common::{TestRepo, bytes, dv_command, git_in};

fn snapshot_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/cli/snapshots")
}

fn updating() -> bool {
    std::env::var_os("DV_UPDATE_SNAPSHOTS").is_some_and(|v| !v.is_empty() && v != "0")
}

/// Compares `actual` with the golden file `path`, or rewrites it when updating. The error names the golden
/// file and shows the first differing lines.
fn compare_text(path: &Path, actual: &str, update: bool) -> Result<(), String> {
    let golden = std::fs::read_to_string(path).ok();
    if golden.as_deref() == Some(actual) {
        return Ok(());
    }
    if update {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, actual).unwrap();
        return Ok(());
    }
    let Some(golden) = golden else {
        return Err(format!(
            "no golden file {}\n(run `DV_UPDATE_SNAPSHOTS=1 cargo test --test cli -- jsonshape::` to write it)\n\
             actual:\n{actual}",
            path.display()
        ));
    };
    let (g, a): (Vec<&str>, Vec<&str>) = (golden.lines().collect(), actual.lines().collect());
    let first = (0..g.len().max(a.len()))
        .find(|&i| g.get(i) != a.get(i))
        .unwrap_or(0);
    let mut msg = format!(
        "output differs from the golden file {}\nfirst difference at line {}:\n",
        path.display(),
        first + 1
    );
    let from = first.saturating_sub(2);
    for i in from..(first + 6).min(g.len().max(a.len())) {
        match (g.get(i), a.get(i)) {
            (Some(x), Some(y)) if x == y => msg.push_str(&format!("  {:4}   {x}\n", i + 1)),
            (x, y) => {
                if let Some(x) = x {
                    msg.push_str(&format!("  {:4} - {x}\n", i + 1));
                }
                if let Some(y) = y {
                    msg.push_str(&format!("  {:4} + {y}\n", i + 1));
                }
            }
        }
    }
    msg.push_str(
        "(- golden, + actual; if the change is intended, run \
         `DV_UPDATE_SNAPSHOTS=1 cargo test --test cli -- jsonshape::` and review `git diff tests/cli/snapshots/`)",
    );
    Err(msg)
}

/// Fields whose values vary with the run or the machine, and their placeholders: times and durations, the
/// platform the step ran on and dv's version (pinned elsewhere; a release must not rewrite every golden file).
/// A commit's `time` is not here: the tests commit with fixed dates. A pack's id is the hash of its entry table,
/// whose order follows the threads that compressed the entries.
const VARYING_FIELDS: &[(&str, &str)] = &[
    ("duration_ms", "TIME"),
    ("pack", "PACK_ID"),
    ("platform", "PLATFORM"),
    ("dv_version", "DV_VERSION"),
];

/// Replaces what varies from run to run by placeholders, keeping every field and its type.
struct Normalizer {
    /// Absolute folders (and other varying strings) and their placeholders, longest first.
    folders: Vec<(String, &'static str)>,
}

impl Normalizer {
    fn new(folders: &[(&Path, &'static str)]) -> Normalizer {
        let mut v = Vec::new();
        for (p, name) in folders {
            v.push((p.to_string_lossy().to_string(), *name));
            if let Ok(c) = p.canonicalize() {
                v.push((c.to_string_lossy().to_string(), *name));
            }
        }
        v.sort_by_key(|(p, _)| std::cmp::Reverse(p.len()));
        Normalizer { folders: v }
    }

    /// Also replaces `value` (say a commit id that depends on a time) by `placeholder` wherever it appears.
    fn also(&mut self, value: &str, placeholder: &'static str) {
        self.folders.push((value.to_string(), placeholder));
        self.folders
            .sort_by_key(|(p, _)| std::cmp::Reverse(p.len()));
    }

    fn text(&self, s: &str) -> String {
        let mut s = s.to_string();
        for (p, name) in &self.folders {
            s = s.replace(p.as_str(), name);
        }
        s
    }

    fn value(&self, v: Value) -> Value {
        match v {
            Value::String(s) => Value::String(self.text(&s)),
            Value::Array(a) => Value::Array(a.into_iter().map(|v| self.value(v)).collect()),
            Value::Object(o) => {
                let mut sorted: Vec<(String, Value)> = o.into_iter().collect();
                sorted.sort_by(|a, b| a.0.cmp(&b.0));
                Value::Object(
                    sorted
                        .into_iter()
                        .map(|(k, v)| {
                            let varying = VARYING_FIELDS.iter().find(|(f, _)| *f == k);
                            let v = match (v, varying) {
                                (Value::Number(_), Some((_, label))) => {
                                    Value::String(format!("<{label}: number>"))
                                }
                                (Value::String(_), Some((_, label))) => {
                                    Value::String(format!("<{label}>"))
                                }
                                (v, _) => self.value(v),
                            };
                            (k, v)
                        })
                        .collect(),
                )
            }
            v => v,
        }
    }

    /// The golden document of one run: the command, its exit code and its normalized stdout (JSON when it
    /// parses, else the text, `null` when empty).
    fn document(&self, args: &[&str], out: &Output) -> String {
        let stdout = String::from_utf8_lossy(&out.stdout);
        let stdout = if stdout.trim().is_empty() {
            Value::Null
        } else {
            match serde_json::from_str::<Value>(&stdout) {
                Ok(v) => self.value(v),
                Err(_) => Value::String(self.text(&stdout)),
            }
        };
        let doc = serde_json::json!({
            "command": self.text(&format!("dv {}", args.join(" "))),
            "exit": out.status.code(),
            "stdout": stdout,
        });
        serde_json::to_string_pretty(&doc).unwrap() + "\n"
    }
}

/// One scenario: its folders' normalizer and the cases checked so far (all are checked before failing).
struct Pin {
    norm: Normalizer,
    failures: Vec<String>,
}

impl Pin {
    fn new(folders: &[(&Path, &'static str)]) -> Pin {
        Pin {
            norm: Normalizer::new(folders),
            failures: Vec::new(),
        }
    }

    /// Runs `dv ARGS` in `dir` and compares it with `snapshots/NAME.json`; returns the parsed stdout.
    fn case(&mut self, name: &str, dir: &Path, args: &[&str]) -> Value {
        let out = dv_command(dir).args(args).output().expect("dv runs");
        if out.stdout.is_empty() && out.status.code() != Some(0) {
            // No output and a failure: an error, which must say so on stderr (`--json` has no error shape).
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert!(
                stderr.starts_with("error: ") || stderr.contains("\nerror: "),
                "dv {args:?} failed with no error line:\n{stderr}"
            );
        }
        let doc = self.norm.document(args, &out);
        let path = snapshot_dir().join(format!("{name}.json"));
        if let Err(e) = compare_text(&path, &doc, updating()) {
            self.failures.push(format!(
                "{e}\nstderr of `dv {}`:\n{}",
                args.join(" "),
                String::from_utf8_lossy(&out.stderr)
            ));
        }
        serde_json::from_slice(&out.stdout).unwrap_or(Value::Null)
    }

    fn finish(self) {
        assert!(
            self.failures.is_empty(),
            "{} golden file(s) differ:\n\n{}",
            self.failures.len(),
            self.failures.join("\n\n")
        );
    }
}

/// Git with a fixed identity and fixed dates, so commit ids are the same on every run.
fn git_fixed(dir: &Path, args: &[&str], day: u32) -> String {
    let date = format!("2026-01-{day:02}T12:00:00+0000");
    let out = std::process::Command::new("git")
        .args(args)
        .current_dir(dir)
        .env("GIT_AUTHOR_NAME", "Test")
        .env("GIT_AUTHOR_EMAIL", "test@example.com")
        .env("GIT_COMMITTER_NAME", "Test")
        .env("GIT_COMMITTER_EMAIL", "test@example.com")
        .env("GIT_AUTHOR_DATE", &date)
        .env("GIT_COMMITTER_DATE", &date)
        .output()
        .expect("git runs");
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn commit(dir: &Path, msg: &str, day: u32) {
    git_fixed(dir, &["commit", "-q", "-m", msg], day);
}

const USERS_V1: &str = "id,name,age\n1,ana,31\n2,bo,25\n3,cy,40\n";
const USERS_V2: &str = "id,name,age\n1,ana,32\n3,cy,40\n4,di,19\n";

/// A repository with a folder, a file and a table committed (day 1), for the scenarios below.
fn committed_repo(pin: &mut Pin, r: &TestRepo) {
    r.write("data/a.bin", &bytes(1, 40_000));
    r.write("data/b.txt", b"bee\n");
    r.write("data/sub/c.txt", b"sea\n");
    r.write("model.bin", &bytes(2, 10_000));
    r.write("tables/users.csv", USERS_V1.as_bytes());
    // Every write is followed by `settle`: a file younger than the stat cache's racy window is read again
    // however recently it was hashed, so without it `hashed_files` would depend on the machine's speed.
    r.settle();
    pin.case(
        "add-new",
        r.path(),
        &["add", "data", "model.bin", "--meta", "owner=ana", "--json"],
    );
    pin.case("add-unchanged", r.path(), &["add", "data", "--json"]);
    pin.case(
        "add-table",
        r.path(),
        &["add", "tables/users.csv", "--key", "id", "--json"],
    );
    commit(r.path(), "v1", 1);
}

#[test]
fn local_commands_json_and_exit_codes_are_pinned() {
    let r = TestRepo::bare_git();
    let mut pin = Pin::new(&[(r.path(), "<REPO>")]);
    pin.case("init-new", r.path(), &["init", "--json"]);
    pin.case("init-again", r.path(), &["init", "--json"]);
    committed_repo(&mut pin, &r);
    r.settle();

    pin.case("status-clean", r.path(), &["status", "--json"]);
    pin.case(
        "status-clean-exit-code",
        r.path(),
        &["status", "--json", "--exit-code"],
    );
    pin.case("diff-none", r.path(), &["diff", "--json", "--exit-code"]);
    pin.case("checkout-nothing", r.path(), &["checkout", "--json"]);

    // Day 2: a folder and a table change.
    r.write("data/b.txt", b"bee, edited\n");
    r.write("data/d.txt", b"dee\n");
    std::fs::remove_file(r.p("data/sub/c.txt")).unwrap();
    std::fs::remove_dir(r.p("data/sub")).unwrap();
    r.write("tables/users.csv", USERS_V2.as_bytes());
    std::fs::remove_file(r.p("model.bin")).unwrap();
    r.settle();
    pin.case("status-changed", r.path(), &["status", "--json"]);
    pin.case(
        "status-changed-exit-code",
        r.path(),
        &["status", "--json", "--exit-code"],
    );
    pin.case("status-one-path", r.path(), &["status", "data", "--json"]);
    pin.case(
        "checkout-local-changes-refused",
        r.path(),
        &["checkout", "data", "--json"],
    );
    pin.case(
        "checkout-restore-deleted",
        r.path(),
        &["checkout", "model.bin", "--json"],
    );
    pin.case(
        "add-changed",
        r.path(),
        &["add", "data", "tables/users.csv", "--json"],
    );
    pin.case("diff-worktree", r.path(), &["diff", "--json"]);
    commit(r.path(), "v2", 2);

    pin.case(
        "diff-commits",
        r.path(),
        &["diff", "HEAD~1", "HEAD", "--json"],
    );
    pin.case(
        "diff-commits-exit-code",
        r.path(),
        &["diff", "HEAD~1", "HEAD", "--json", "--exit-code"],
    );
    pin.case(
        "diff-stat",
        r.path(),
        &["diff", "HEAD~1", "HEAD", "--stat", "--json"],
    );
    pin.case(
        "diff-table-rows",
        r.path(),
        &["diff", "HEAD~1", "HEAD", "tables/users.csv", "--json"],
    );
    pin.case(
        "diff-table-format-json",
        r.path(),
        &[
            "diff",
            "HEAD~1",
            "HEAD",
            "tables/users.csv",
            "--format",
            "json",
            "--limit",
            "1",
        ],
    );
    pin.case("log", r.path(), &["log", "--json"]);
    pin.case("log-one-path", r.path(), &["log", "data", "--json"]);
    pin.case(
        "log-table-row",
        r.path(),
        &["log", "tables/users.csv", "--row", "1", "--json"],
    );
    pin.case(
        "log-untracked-path",
        r.path(),
        &["log", "nothing", "--json"],
    );
    pin.case(
        "show-table",
        r.path(),
        &["show", "tables/users.csv", "--json"],
    );
    pin.case(
        "show-table-where-rev",
        r.path(),
        &[
            "show",
            "tables/users.csv",
            "--rev",
            "HEAD~1",
            "--where",
            "age>30",
            "--json",
        ],
    );
    pin.case("du", r.path(), &["du", "--json"]);
    pin.case("format", r.path(), &["format", "--json"]);
    pin.case(
        "du-all-commits",
        r.path(),
        &["du", "--all-commits", "--json"],
    );
    pin.case("meta-show", r.path(), &["meta", "show", "data", "--json"]);
    pin.case(
        "meta-set",
        r.path(),
        &["meta", "set", "data", "license=CC-BY-4.0", "--json"],
    );
    pin.case(
        "meta-unset",
        r.path(),
        &["meta", "unset", "data", "owner", "--json"],
    );
    pin.case(
        "meta-show-rev",
        r.path(),
        &["meta", "show", "data", "--rev", "HEAD~1", "--json"],
    );
    pin.case(
        "checkout-rev",
        r.path(),
        &["checkout", "--rev", "HEAD~1", "--json"],
    );
    pin.case("checkout-back", r.path(), &["checkout", "--json"]);
    pin.case("fsck-clean", r.path(), &["fsck", "--json"]);
    pin.case(
        "fsck-all-commits",
        r.path(),
        &["fsck", "--all-commits", "--json"],
    );
    pin.case(
        "gc-dry-run",
        r.path(),
        &["gc", "--dry-run", "--grace", "0", "--json"],
    );
    pin.case("gc", r.path(), &["gc", "--grace", "0", "--json"]);
    pin.case("gc-nothing", r.path(), &["gc", "--grace", "0", "--json"]);
    // What the gc above deleted (day 1's versions) is missing for fsck of all commits now.
    pin.case(
        "fsck-missing",
        r.path(),
        &["fsck", "--all-commits", "--json"],
    );
    pin.case("install", r.path(), &["install", "--json"]);
    pin.case("install-again", r.path(), &["install", "--json"]);
    pin.case("uninstall", r.path(), &["uninstall", "--json"]);
    pin.case("uninstall-again", r.path(), &["uninstall", "--json"]);
    // The checkouts above hashed what they wrote right away (inside the stat cache's racy window or not,
    // depending on the machine's speed): a status after `settle` reads those files once more, for good.
    r.settle();
    r.ok(&["status"]);
    // A file named like a pointer file that is none: skipped with a warning, listed in `not_pointers`.
    r.write("clip.dv", b"not a pointer file\n");
    r.write("clip", b"a video\n");
    r.settle();
    pin.case(
        "status-not-pointer",
        r.path(),
        &["status", "--json", "--exit-code"],
    );
    pin.case("fsck-not-pointer", r.path(), &["fsck", "--json"]);

    // The merge driver, run as Git runs it, on three versions of data.dv in a folder of their own.
    let m = tempfile::tempdir().unwrap();
    pin.norm.also(m.path().to_str().unwrap(), "<MERGE>");
    let version = |rev: &str| git_fixed(r.path(), &["show", &format!("{rev}:data.dv")], 3);
    let (v1, v2) = (version("HEAD~1"), version("HEAD"));
    r.write("data/b.txt", b"bee, edited on the other side\n");
    r.ok(&["add", "data", "--no-stage"]);
    let other = String::from_utf8(r.read("data.dv")).unwrap();
    let files = |name: &str, base: &str, ours: &str, theirs: &str| -> Vec<String> {
        let mut paths = Vec::new();
        for (side, text) in [("base", base), ("ours", ours), ("theirs", theirs)] {
            let p = m.path().join(format!("{name}-{side}"));
            std::fs::write(&p, text).unwrap();
            paths.push(p.to_str().unwrap().to_string());
        }
        paths
    };
    for (name, base, ours, theirs, path) in [
        ("merge-driver-merged", &v1, &v2, &v1, "data.dv"),
        ("merge-driver-conflict", &v1, &v2, &other, "data.dv"),
        (
            "merge-driver-text",
            &"a\nb\n".to_string(),
            &"a\nb\nc\n".to_string(),
            &"z\na\nb\n".to_string(),
            "notes.dv",
        ),
    ] {
        let f = files(name, base, ours, theirs);
        pin.case(
            name,
            r.path(),
            &["merge-driver", &f[0], &f[1], &f[2], path, "--json"],
        );
    }
    pin.finish();
}

#[test]
fn remote_commands_json_and_exit_codes_are_pinned() {
    let r = TestRepo::bare_git();
    let remote = tempfile::tempdir().unwrap();
    let clone = tempfile::tempdir().unwrap();
    let mut pin = Pin::new(&[
        (r.path(), "<REPO>"),
        (remote.path(), "<REMOTE>"),
        (clone.path(), "<CLONE>"),
    ]);
    r.ok(&["init"]);
    committed_repo(&mut Pin::new(&[(r.path(), "<REPO>")]), &r);
    r.settle();
    let url = remote.path().to_str().unwrap();

    pin.case(
        "status-remote-none",
        r.path(),
        &["status", "--remote", "--json"],
    );
    pin.case("push-no-remote", r.path(), &["push", "--json"]);
    pin.case(
        "remote-add",
        r.path(),
        &["remote", "add", "origin", url, "--default", "--json"],
    );
    pin.case(
        "remote-add-second",
        r.path(),
        &["remote", "add", "backup", url, "--json"],
    );
    r.ok(&["remote", "modify", "backup", "max_retries", "3"]);
    pin.case("remote-list", r.path(), &["remote", "list", "--json"]);
    pin.case(
        "remote-list-long",
        r.path(),
        &["remote", "list", "--long", "--json"],
    );
    r.ok(&["remote", "remove", "backup"]);
    git_fixed(r.path(), &["add", ".dv/config.toml"], 1);
    commit(r.path(), "remote", 1);

    pin.case(
        "status-remote-unpushed",
        r.path(),
        &["status", "--remote", "--json", "--exit-code"],
    );
    pin.case("push", r.path(), &["push", "--json"]);
    pin.case("push-nothing", r.path(), &["push", "--json"]);
    pin.case(
        "status-remote-pushed",
        r.path(),
        &["status", "-c", "--json", "--exit-code"],
    );
    pin.case(
        "fsck-remote",
        r.path(),
        &["fsck", "--remote", "origin", "--json"],
    );

    git_in(
        clone.path(),
        &["clone", "-q", r.path().to_str().unwrap(), "."],
    );
    pin.case(
        "status-clone-not-fetched",
        clone.path(),
        &["status", "--json"],
    );
    // The folder's files put in place by hand before any fetch: the cache has no tree to compare them with, so
    // the dataset is `unknown` (never `unchanged`), naming the folder in `not_compared`; removed again for the
    // pull below.
    for f in ["data/a.bin", "data/b.txt", "data/sub/c.txt"] {
        let to = clone.path().join(f);
        std::fs::create_dir_all(to.parent().unwrap()).unwrap();
        std::fs::copy(r.p(f), to).unwrap();
    }
    pin.case(
        "status-clone-not-fetched-data-present",
        clone.path(),
        &["status", "--json", "--exit-code"],
    );
    std::fs::remove_dir_all(clone.path().join("data")).unwrap();
    pin.case("fetch", clone.path(), &["fetch", "--json"]);
    pin.case("fetch-nothing", clone.path(), &["fetch", "--json"]);
    pin.case("pull", clone.path(), &["pull", "--json"]);
    pin.case("pull-nothing", clone.path(), &["pull", "--json"]);

    // A second version, pushed; then gc --remote with the work tree's scope drops the first.
    r.write("data/b.txt", b"bee, edited\n");
    r.ok(&["add", "data"]);
    commit(r.path(), "v2", 2);
    pin.case("push-rev", r.path(), &["push", "--rev", "HEAD", "--json"]);
    pin.case(
        "push-all-commits",
        r.path(),
        &["push", "--all-commits", "--json"],
    );
    pin.case(
        "gc-remote-dry-run",
        r.path(),
        &[
            "gc",
            "--remote",
            "origin",
            "--grace",
            "0",
            "--dry-run",
            "--json",
        ],
    );
    pin.case(
        "gc-remote",
        r.path(),
        &["gc", "--remote", "origin", "--grace", "0", "--json"],
    );
    pin.case(
        "fsck-remote-after-gc",
        r.path(),
        &["fsck", "--remote", "origin", "--json"],
    );
    pin.case(
        "fetch-all-commits-after-remote-gc",
        clone.path(),
        &["fetch", "--all-commits", "--json"],
    );

    // A committed version never pushed and then collected by a local gc: push leaves it out (`incomplete`).
    r.write("data/b.txt", b"bee, third\n");
    r.ok(&["add", "data"]);
    commit(r.path(), "v3", 3);
    r.write("data/b.txt", b"bee, fourth\n");
    r.ok(&["add", "data"]);
    commit(r.path(), "v4", 4);
    r.ok(&["gc", "--grace", "0"]);
    pin.case(
        "push-all-commits-incomplete",
        r.path(),
        &["push", "--all-commits", "--json"],
    );

    pin.finish();
}

/// A remote index that cannot be read: skipped with a warning, listed in `unreadable_indexes`. Its own
/// scenario (one push, so one pack): after the remote gc above, which packs are left depends on the second
/// a record was written in, and the pinned pack ids would too.
#[test]
fn unreadable_remote_indexes_are_pinned() {
    let r = TestRepo::bare_git();
    let remote = tempfile::tempdir().unwrap();
    let clone = tempfile::tempdir().unwrap();
    let mut pin = Pin::new(&[
        (r.path(), "<REPO>"),
        (remote.path(), "<REMOTE>"),
        (clone.path(), "<CLONE>"),
    ]);
    r.ok(&["init"]);
    committed_repo(&mut Pin::new(&[(r.path(), "<REPO>")]), &r);
    r.settle();
    let url = remote.path().to_str().unwrap();
    r.ok(&["remote", "add", "origin", url, "--default"]);
    git_fixed(r.path(), &["add", ".dv/config.toml"], 1);
    commit(r.path(), "remote", 1);
    r.ok(&["push"]);
    git_in(
        clone.path(),
        &["clone", "-q", r.path().to_str().unwrap(), "."],
    );
    for idx in crate::common::files_below(&remote.path().join("index")) {
        if idx.extension().is_some_and(|e| e == "idx") {
            std::fs::write(&idx, b"garbage").unwrap();
        }
    }
    pin.case("push-unreadable-indexes", r.path(), &["push", "--json"]);
    pin.case(
        "fetch-unreadable-indexes",
        clone.path(),
        &["fetch", "--json"],
    );
    pin.finish();
}

#[test]
fn pipeline_commands_json_and_exit_codes_are_pinned() {
    let r = TestRepo::new();
    let mut pin = Pin::new(&[(r.path(), "<REPO>")]);
    r.write("raw/in.txt", b"one\ntwo\n");
    r.write("params.toml", b"[prep]\nn = 1\n");
    r.settle();
    r.ok(&["add", "raw"]);
    commit(r.path(), "raw", 1);
    let step = [
        "run",
        "-n",
        "prep",
        "-d",
        "raw",
        "-p",
        "params.toml:prep.n",
        "-o",
        "out",
        "--json",
        "--",
        "sh",
        "-c",
        "mkdir -p out && cat raw/in.txt > out/copy.txt",
    ];
    pin.case("run", r.path(), &step);
    pin.case(
        "run-failing",
        r.path(),
        &[
            "run", "-n", "bad", "-o", "never", "--json", "--", "sh", "-c", "exit 3",
        ],
    );
    git_fixed(r.path(), &["add", "params.toml"], 1);
    commit(r.path(), "step", 1);
    // That commit holds the step file, which records the command's duration: its id varies.
    let step_commit = git_in(r.path(), &["rev-parse", "HEAD"]);
    pin.norm
        .also(step_commit.trim(), "<COMMIT-WITH-A-DURATION>");
    // `dv run` hashed the outputs right after the command wrote them: whether that was inside the stat cache's
    // racy window depends on the machine's speed. A status after `settle` reads them once more, for good.
    r.settle();
    r.ok(&["status"]);
    pin.case("status-step-up-to-date", r.path(), &["status", "--json"]);
    pin.case("repro-up-to-date", r.path(), &["repro", "--json"]);
    r.write("params.toml", b"[prep]\nn = 2\n");
    pin.case(
        "status-step-stale",
        r.path(),
        &["status", "--json", "--exit-code"],
    );
    pin.case("repro-dry-run", r.path(), &["repro", "--dry-run", "--json"]);
    pin.case("repro-ran", r.path(), &["repro", "--json"]);
    pin.case(
        "repro-check",
        r.path(),
        &["repro", "--check", "out", "--json"],
    );
    pin.case("lineage", r.path(), &["lineage", "out", "--json"]);
    pin.case(
        "lineage-upstream",
        r.path(),
        &["lineage", "out", "--upstream", "--json"],
    );
    pin.case(
        "lineage-downstream",
        r.path(),
        &["lineage", "raw", "--downstream", "--json"],
    );
    // New raw data, the step not run again: diff names the step it leaves stale (it matched HEAD's raw).
    r.write("raw/in.txt", b"one\ntwo\nthree\n");
    r.settle();
    r.ok(&["add", "raw"]);
    pin.case("diff-stale-steps", r.path(), &["diff", "raw", "--json"]);
    pin.finish();
}

#[test]
fn error_exit_codes_are_pinned() {
    // Errors have no JSON shape: with --json, stdout stays empty, stderr has `error: …` and the exit code says
    // which kind (1: the user's, 2: dv's or a damaged cache).
    let plain = tempfile::tempdir().unwrap();
    let r = TestRepo::new();
    let mut pin = Pin::new(&[(r.path(), "<REPO>"), (plain.path(), "<PLAIN>")]);
    pin.case("error-not-a-git-repo", plain.path(), &["status", "--json"]);
    let git_only = TestRepo::bare_git();
    let mut pin2 = Pin::new(&[(git_only.path(), "<REPO>")]);
    pin2.case(
        "error-not-initialized",
        git_only.path(),
        &["add", "x", "--json"],
    );
    pin2.finish();
    pin.case("error-not-found", r.path(), &["add", "nothing", "--json"]);
    pin.case(
        "error-not-tracked",
        r.path(),
        &["status", "nothing", "--json"],
    );
    pin.case("error-bad-revision", r.path(), &["diff", "nope", "--json"]);
    pin.case(
        "error-unknown-remote",
        r.path(),
        &["push", "-r", "nope", "--json"],
    );
    pin.case("error-usage", r.path(), &["status", "--no-such-flag"]);
    r.write("data/a.bin", &bytes(3, 5_000));
    r.ok(&["add", "data"]);
    // A damaged cache: one byte of the only pack flipped.
    let packs = crate::common::files_below(&r.p(".dv/cache"))
        .into_iter()
        .filter(|p| p.extension().is_some_and(|e| e == "pack"))
        .collect::<Vec<_>>();
    assert_eq!(packs.len(), 1, "{packs:?}");
    let mut b = std::fs::read(&packs[0]).unwrap();
    let mid = b.len() / 2;
    b[mid] ^= 0xff;
    std::fs::write(&packs[0], b).unwrap();
    pin.case("fsck-damaged", r.path(), &["fsck", "--json"]);
    pin.finish();
}

/// `dv migrate dvc` on the DVC fixture (dry run, with history, again with nothing new, after its DVC
/// files are gone) and `dv migrate lfs` on a repository laid out as git-lfs lays it out (no git-lfs needed).
#[test]
fn migrate_commands_json_and_exit_codes_are_pinned() {
    let tmp = tempfile::tempdir().unwrap();
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/dvc/repo.tar.gz");
    let out = std::process::Command::new("tar")
        .arg("xzf")
        .arg(&fixture)
        .current_dir(tmp.path())
        .output()
        .unwrap();
    assert!(out.status.success());
    let repo = tmp.path().join("repo");
    let mut pin = Pin::new(&[(&repo, "<REPO>")]);
    assert!(
        dv_command(&repo)
            .args(["init", "-q"])
            .status()
            .unwrap()
            .success()
    );
    pin.case(
        "migrate-dvc-dry-run",
        &repo,
        &["migrate", "dvc", "--all-commits", "--dry-run", "--json"],
    );
    pin.case(
        "migrate-dvc",
        &repo,
        &["migrate", "dvc", "--all-commits", "--json"],
    );
    pin.case("migrate-dvc-again", &repo, &["migrate", "dvc", "--json"]);
    pin.case(
        "migrate-dvc-remove",
        &repo,
        &["migrate", "dvc", "--all-commits", "--remove-dvc", "--json"],
    );
    pin.case("migrate-dvc-not-dvc", &repo, &["migrate", "dvc", "--json"]);

    let r = TestRepo::new();
    let mut pin_lfs = Pin::new(&[(r.path(), "<REPO>")]);
    let data = bytes(3, 100_000);
    r.write("w.bin", &data);
    let sum = std::process::Command::new("sha256sum")
        .arg(r.p("w.bin"))
        .output()
        .unwrap();
    let oid = String::from_utf8(sum.stdout).unwrap()[..64].to_string();
    let git_dir = r.p(".git");
    let obj = git_dir.join(format!("lfs/objects/{}/{}/{oid}", &oid[..2], &oid[2..4]));
    std::fs::create_dir_all(obj.parent().unwrap()).unwrap();
    std::fs::write(&obj, &data).unwrap();
    r.write(
        "w.bin",
        format!(
            "version https://git-lfs.github.com/spec/v1\noid sha256:{oid}\nsize {}\n",
            data.len()
        )
        .as_bytes(),
    );
    r.write(
        ".gitattributes",
        b"*.bin filter=lfs diff=lfs merge=lfs -text\n",
    );
    git_fixed(r.path(), &["add", "w.bin", ".gitattributes"], 1);
    commit(r.path(), "lfs", 1);
    pin_lfs.case(
        "migrate-lfs-dry-run",
        r.path(),
        &["migrate", "lfs", "--dry-run", "--json"],
    );
    pin_lfs.case(
        "migrate-lfs",
        r.path(),
        &["migrate", "lfs", "--remove-lfs", "--json"],
    );
    assert_eq!(r.read("w.bin"), data);
    pin.finish();
    pin_lfs.finish();
}

/// The subcommands, positional arguments and flags of `dv`, `dv CMD` and `dv CMD SUB`, from `--help`.
#[test]
fn registry_commands_json_and_exit_codes_are_pinned() {
    // A registry served as a bare repository, with fixed commit dates so commit ids are pinned.
    let reg = TestRepo::new();
    let store = tempfile::tempdir().unwrap();
    let server = tempfile::tempdir().unwrap();
    let p = TestRepo::new();
    let mut pin = Pin::new(&[
        (reg.path(), "<REGISTRY>"),
        (store.path(), "<REMOTE>"),
        (server.path(), "<SERVER>"),
        (p.path(), "<REPO>"),
    ]);
    reg.ok(&[
        "remote",
        "add",
        "origin",
        store.path().to_str().unwrap(),
        "--default",
    ]);
    reg.write("data/a.txt", b"a\n");
    reg.write("data/sub/b.bin", &bytes(5, 30_000));
    reg.settle();
    reg.ok(&["add", "data"]);
    reg.ok(&["push"]);
    git_fixed(reg.path(), &["add", "-A"], 1);
    commit(reg.path(), "v1", 1);
    git_fixed(reg.path(), &["tag", "v1"], 1);
    // The registry's commits name its remote's temporary folder (in .dv/config.toml): placeholders too.
    let v1 = git_fixed(reg.path(), &["rev-parse", "HEAD"], 1);
    pin.norm.also(v1.trim(), "<REGISTRY-COMMIT-1>");
    let bare = server.path().join("reg.git");
    git_fixed(
        reg.path(),
        &["clone", "-q", "--bare", ".", bare.to_str().unwrap()],
        1,
    );
    let url = format!("file://{}", bare.display());

    pin.case("ls-datasets", p.path(), &["ls", &url, "--json"]);
    pin.case("ls-folder", p.path(), &["ls", &url, "data", "--json"]);
    pin.case(
        "ls-recursive",
        p.path(),
        &["ls", &url, "data", "-R", "--json"],
    );
    pin.case("ls-missing", p.path(), &["ls", &url, "nope", "--json"]);
    pin.case(
        "get-file",
        p.path(),
        &["get", &url, "data/a.txt", "-o", "a.txt", "--json"],
    );
    pin.case(
        "import",
        p.path(),
        &["import", &url, "data", "--rev", "v1", "-o", "ds", "--json"],
    );
    git_fixed(p.path(), &["add", "-A"], 2);
    commit(p.path(), "import", 2);
    p.settle();
    pin.case("status-import", p.path(), &["status", "--json"]);
    pin.case("update-unchanged", p.path(), &["update", "--json"]);
    reg.write("data/c.txt", b"c\n");
    reg.settle();
    reg.ok(&["add", "data"]);
    reg.ok(&["push"]);
    commit(reg.path(), "v2", 3);
    let v2 = git_fixed(reg.path(), &["rev-parse", "HEAD"], 3);
    pin.norm.also(v2.trim(), "<REGISTRY-COMMIT-2>");
    git_fixed(reg.path(), &["tag", "-f", "v1"], 3);
    git_fixed(
        reg.path(),
        &["push", "-q", "-f", bare.to_str().unwrap(), "main", "v1"],
        3,
    );
    p.settle();
    pin.case(
        "status-import-behind",
        p.path(),
        &["status", "--remote", "--json"],
    );
    pin.case("update-changed", p.path(), &["update", "--json"]);
    p.ok(&["config", "set", "core.compression_level", "3"]);
    p.ok(&[
        "config",
        "--local",
        "set",
        "remote.origin.secret_access_key",
        "abc",
    ]);
    pin.case("config-list", p.path(), &["config", "list", "--json"]);
    pin.case(
        "config-get",
        p.path(),
        &["config", "get", "core.compression_level", "--json"],
    );
    pin.case(
        "config-get-unset",
        p.path(),
        &["config", "get", "core.remote", "--json"],
    );
    pin.finish();
}

#[test]
fn help_lists_of_commands_and_flags_are_pinned() {
    fn help(path: &[String], out: &mut String) {
        let mut args: Vec<&str> = path.iter().map(String::as_str).collect();
        args.push("--help");
        let o = dv_command(Path::new(".")).args(&args).output().unwrap();
        assert_eq!(o.status.code(), Some(0), "dv {args:?}");
        let text = String::from_utf8(o.stdout).unwrap();
        let (mut commands, mut positional, mut flags) = (Vec::new(), Vec::new(), Vec::new());
        let mut section = "";
        for line in text.lines() {
            if !line.starts_with(' ') && line.ends_with(':') {
                section = line;
                continue;
            }
            let indent = line.len() - line.trim_start().len();
            let first = line.split_whitespace().next().unwrap_or("");
            if first.is_empty() || indent > 6 {
                continue;
            }
            match section {
                "Commands:" => commands.push(first.to_string()),
                "Arguments:" => positional.push(first.to_string()),
                "Options:" => {
                    let names: Vec<&str> = line
                        .split_whitespace()
                        .take_while(|w| w.starts_with('-'))
                        .map(|w| w.trim_end_matches(','))
                        .collect();
                    flags.push(names.join("/"));
                }
                _ => {}
            }
        }
        let name = if path.is_empty() {
            "dv".to_string()
        } else {
            format!("dv {}", path.join(" "))
        };
        out.push_str(&format!("{name}\n"));
        if !commands.is_empty() {
            out.push_str(&format!("  commands: {}\n", commands.join(" ")));
        }
        if !positional.is_empty() {
            out.push_str(&format!("  arguments: {}\n", positional.join(" ")));
        }
        // Sorted: the order of flags in help follows their declaration, which a move of code may change.
        flags.sort();
        out.push_str(&format!("  flags: {}\n", flags.join(" ")));
        for c in commands.iter().filter(|c| *c != "help") {
            let mut sub = path.to_vec();
            sub.push(c.clone());
            help(&sub, out);
        }
    }
    let mut out = String::new();
    help(&[], &mut out);
    if let Err(e) = compare_text(&snapshot_dir().join("help.txt"), &out, updating()) {
        panic!("{e}");
    }
}

/// The golden compare itself: a renamed field fails with the golden file's path and the differing lines.
#[test]
fn a_renamed_field_fails_naming_the_golden_file_and_the_line() {
    let dir = tempfile::tempdir().unwrap();
    let golden = dir.path().join("x.json");
    let before = "{\n  \"a\": 1,\n  \"files\": 2,\n  \"z\": 3\n}\n";
    compare_text(&golden, before, true).unwrap();
    assert!(compare_text(&golden, before, false).is_ok());
    let after = before.replace("\"files\"", "\"file_count\"");
    let e = compare_text(&golden, &after, false).unwrap_err();
    assert!(e.contains(&golden.display().to_string()), "{e}");
    assert!(e.contains("first difference at line 3"), "{e}");
    assert!(e.contains("   3 -   \"files\": 2"), "{e}");
    assert!(e.contains("   3 +   \"file_count\": 2"), "{e}");
    // A missing golden file says how to write it.
    let e = compare_text(&dir.path().join("none.json"), before, false).unwrap_err();
    assert!(e.contains("DV_UPDATE_SNAPSHOTS=1"), "{e}");
    // Placeholders keep the field and its type.
    let n = Normalizer::new(&[(dir.path(), "<TMP>")]);
    let v = n.value(serde_json::json!({
        "duration_ms": 12, "platform": "linux-x86_64", "root": dir.path().join("r"), "size": 5
    }));
    assert_eq!(
        v,
        serde_json::json!({
            "duration_ms": "<TIME: number>", "platform": "<PLATFORM>", "root": "<TMP>/r", "size": 5
        })
    );
}
