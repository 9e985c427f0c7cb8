//! Test harness: a real Git repository in a temp folder and the real `dv` binary.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub struct TestRepo {
    pub dir: tempfile::TempDir,
}

pub fn dv_bin() -> &'static str {
    env!("CARGO_BIN_EXE_dv")
}

/// The user folders every test's dv runs with (the user's settings file and cache: empty, made once per test
/// run), so that no setting of the person running the tests (a `cache.dir`, a source's remote) reaches them.
/// Their Git configuration (`$XDG_CONFIG_HOME/git/config`) registers dv's merge driver for every repository,
/// as a user who ran `dv install` once per clone has it: clones made by tests are not told to run it. (The
/// tests of that message give dv other user folders.)
pub fn test_user_dirs() -> &'static Path {
    static DIRS: std::sync::OnceLock<tempfile::TempDir> = std::sync::OnceLock::new();
    DIRS.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let git = dir.path().join("config/git");
        fs::create_dir_all(&git).unwrap();
        fs::write(
            git.join("config"),
            format!(
                "[merge \"dv\"]\n\tdriver = '{}' merge-driver %O %A %B %P\n",
                dv_bin()
            ),
        )
        .unwrap();
        dir
    })
    .path()
}

/// A `dv` command in `dir`, with the test S3 server's credentials in the environment (as a user's shell
/// would have them), nothing else of the caller's AWS settings, no `DV_CACHE_DIR`, and the user folders of
/// [`test_user_dirs`].
pub fn dv_command(dir: &Path) -> Command {
    let mut c = Command::new(dv_bin());
    let user = test_user_dirs();
    c.current_dir(dir)
        .env("NO_COLOR", "1")
        .env_remove("DV_LOG")
        .env_remove("DV_CACHE_DIR")
        .env("XDG_CONFIG_HOME", user.join("config"))
        .env("XDG_CACHE_HOME", user.join("cache"))
        .env("AWS_ACCESS_KEY_ID", crate::s3_server::ACCESS_KEY)
        .env("AWS_SECRET_ACCESS_KEY", crate::s3_server::SECRET_KEY);
    for var in [
        "AWS_PROFILE",
        "AWS_SESSION_TOKEN",
        "AWS_ENDPOINT_URL",
        "AWS_REGION",
    ] {
        c.env_remove(var);
    }
    c
}

pub fn git_in(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .args(args)
        .current_dir(dir)
        .env("GIT_AUTHOR_NAME", "Test")
        .env("GIT_AUTHOR_EMAIL", "test@example.com")
        .env("GIT_COMMITTER_NAME", "Test")
        .env("GIT_COMMITTER_EMAIL", "test@example.com")
        .output()
        .expect("git runs");
    assert!(
        out.status.success(),
        "git {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// A `git clone` of `r` in a new temporary folder.
pub fn clone_of(r: &TestRepo) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    git_in(
        dir.path(),
        &["clone", "-q", r.path().to_str().unwrap(), "."],
    );
    dir
}

/// Runs dv in `dir` and asserts success; returns stdout.
pub fn ok_at(dir: &Path, args: &[&str]) -> String {
    ok_at_with(dir, &[], args)
}

/// Runs dv in `dir` and asserts it fails with exit code 1 and an `error:` line; returns stderr.
pub fn fails_at(dir: &Path, args: &[&str]) -> String {
    let out = dv_command(dir).args(args).output().expect("dv runs");
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert_eq!(
        out.status.code(),
        Some(1),
        "dv {args:?} should fail with 1:\n{stderr}"
    );
    assert!(stderr.starts_with("error: "), "no error line: {stderr}");
    stderr
}

/// `ok_at` with extra environment variables (test hooks such as `DV_PACK_SIZE`).
pub fn ok_at_with(dir: &Path, env: &[(&str, &str)], args: &[&str]) -> String {
    let out = dv_command(dir)
        .envs(env.iter().copied())
        .args(args)
        .output()
        .expect("dv runs");
    assert!(
        out.status.success(),
        "dv {args:?} failed ({:?}):\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// Runs `dv ARGS` in `dir` with dv's debug log and asserts success; returns how many files it wrote straight
/// from the fetch (its `files written straight from the fetch` line, which must be there) and its stdout.
pub fn direct_writes(dir: &Path, args: &[&str]) -> (u64, Vec<u8>) {
    let out = dv_command(dir)
        .args(args)
        .env("DV_LOG", "dv=debug")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(out.status.success(), "dv {args:?}: {err}");
    let direct = err
        .lines()
        .find(|l| l.contains("files written straight from the fetch"))
        .and_then(|l| l.split("direct=").nth(1))
        .and_then(|n| n.trim().parse::<u64>().ok())
        .unwrap_or_else(|| panic!("no count of files written from the fetch in: {err}"));
    (direct, out.stdout)
}

/// Deterministic bytes.
pub fn bytes(seed: u64, len: usize) -> Vec<u8> {
    let mut state = seed;
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        out.extend_from_slice(&(z ^ (z >> 31)).to_le_bytes());
    }
    out.truncate(len);
    out
}

/// A folder remote `origin`, made the default; keep the returned folder alive.
pub fn folder_remote(r: &TestRepo) -> tempfile::TempDir {
    let remote = tempfile::tempdir().unwrap();
    r.ok(&[
        "remote",
        "add",
        "origin",
        remote.path().to_str().unwrap(),
        "--default",
    ]);
    remote
}

/// Copies the folder `from` to `to` (made if need be), everything in it.
pub fn copy_tree(from: &Path, to: &Path) {
    fs::create_dir_all(to).unwrap();
    for e in fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let dest = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_tree(&e.path(), &dest);
        } else {
            fs::copy(e.path(), &dest).unwrap();
        }
    }
}

/// Every file below `dir`, recursively (folders named `.git` are not entered).
pub fn files_below(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            if !p.ends_with(".git") {
                out.extend(files_below(&p));
            }
        } else {
            out.push(p);
        }
    }
    out
}

/// Asserts no temporary file of dv's (`.NAME.dv-tmp-…`) is left anywhere below `root` (`.git` aside); `what`
/// says which step left it.
pub fn assert_no_temp_files(root: &Path, what: &str) {
    for p in files_below(root) {
        let name = p.file_name().unwrap().to_string_lossy().to_string();
        assert!(
            !name.contains(".dv-tmp-"),
            "{what}: a temporary file was left: {}",
            p.display()
        );
    }
}

impl TestRepo {
    /// A new Git repository with `dv init` done.
    pub fn new() -> TestRepo {
        let r = TestRepo::bare_git();
        r.ok(&["init"]);
        r
    }

    /// A new Git repository without dv.
    pub fn bare_git() -> TestRepo {
        let dir = tempfile::tempdir().unwrap();
        git_in(dir.path(), &["init", "-q", "-b", "main"]);
        TestRepo { dir }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn p(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    pub fn dv_in(&self, sub: &str, args: &[&str]) -> Output {
        dv_command(&self.p(sub))
            .args(args)
            .output()
            .expect("dv runs")
    }

    pub fn dv(&self, args: &[&str]) -> Output {
        self.dv_in("", args)
    }

    /// Runs dv and asserts success; returns stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        ok_at(self.path(), args)
    }

    /// `ok` with extra environment variables.
    pub fn ok_with(&self, env: &[(&str, &str)], args: &[&str]) -> String {
        ok_at_with(self.path(), env, args)
    }

    /// Runs dv, asserts exit code 1, returns stderr.
    pub fn fails(&self, args: &[&str]) -> String {
        fails_at(self.path(), args)
    }

    /// Like [`TestRepo::fails`], for a command that may warn before its error: exit code 1 and an `error:` line.
    pub fn refuses(&self, args: &[&str]) -> String {
        let out = self.dv(args);
        let stderr = String::from_utf8(out.stderr).unwrap();
        assert_eq!(
            out.status.code(),
            Some(1),
            "dv {args:?} should fail with 1; stderr:\n{stderr}"
        );
        assert!(
            stderr.starts_with("error: ") || stderr.contains("\nerror: "),
            "no error line: {stderr}"
        );
        stderr
    }

    pub fn json(&self, args: &[&str]) -> serde_json::Value {
        let mut a = args.to_vec();
        a.push("--json");
        serde_json::from_str(&self.ok(&a)).expect("valid JSON")
    }

    pub fn git(&self, args: &[&str]) -> String {
        git_in(self.path(), args)
    }

    pub fn write(&self, rel: &str, data: &[u8]) {
        let p = self.p(rel);
        fs::create_dir_all(p.parent().unwrap()).unwrap();
        fs::write(p, data).unwrap();
    }

    pub fn read(&self, rel: &str) -> Vec<u8> {
        fs::read(self.p(rel)).unwrap_or_else(|e| panic!("read {rel}: {e}"))
    }

    /// Waits out the stat cache's racy window so files written so far count as settled.
    pub fn settle(&self) {
        std::thread::sleep(std::time::Duration::from_millis(250));
    }
}

/// A path below a snapshot root, with a file's content and executable bit (`None` for a folder).
pub type Snapshot = Vec<(String, Option<(Vec<u8>, bool)>)>;

/// Every file and folder below `root` with its content and executable bit, for exact comparisons.
pub fn snapshot(root: &Path) -> Snapshot {
    use std::os::unix::fs::PermissionsExt;
    let mut out = Vec::new();
    fn go(root: &Path, dir: &Path, out: &mut Snapshot) {
        let mut entries: Vec<_> = fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        entries.sort();
        for p in entries {
            let rel = p.strip_prefix(root).unwrap().to_string_lossy().to_string();
            let m = fs::symlink_metadata(&p).unwrap();
            if m.is_dir() {
                out.push((rel, None));
                go(root, &p, out);
            } else {
                out.push((
                    rel,
                    Some((fs::read(&p).unwrap(), m.permissions().mode() & 0o111 != 0)),
                ));
            }
        }
    }
    go(root, root, &mut out);
    out
}
