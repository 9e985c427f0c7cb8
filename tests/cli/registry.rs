//! `dv ls`, `dv get`, `dv config` and the shared cache: datasets read from registry repositories that are not
//! cloned (bare Git repositories served through file:// URLs), with folder and S3 remotes.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::common::*;
use crate::remote::configure_s3;
use crate::s3_server::S3Server;

/// A user of the registry: a plain folder to work in (no Git), and user folders of its own (settings file,
/// cache with the mirrors).
struct Reader {
    work: tempfile::TempDir,
    home: tempfile::TempDir,
}

impl Reader {
    fn new() -> Reader {
        Reader {
            work: tempfile::tempdir().unwrap(),
            home: tempfile::tempdir().unwrap(),
        }
    }

    fn cmd(&self, dir: &Path, args: &[&str]) -> Command {
        let mut c = dv_command(dir);
        c.args(args)
            .env("XDG_CONFIG_HOME", self.home.path().join("config"))
            .env("XDG_CACHE_HOME", self.home.path().join("cache"));
        c
    }

    fn run(&self, args: &[&str]) -> std::process::Output {
        self.cmd(self.work.path(), args).output().unwrap()
    }

    fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "dv {args:?} failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    fn json(&self, args: &[&str]) -> serde_json::Value {
        let mut a = args.to_vec();
        a.push("--json");
        serde_json::from_str(&self.ok(&a)).unwrap()
    }

    fn fails(&self, args: &[&str]) -> String {
        let out = self.run(args);
        let stderr = String::from_utf8(out.stderr).unwrap();
        assert_eq!(
            out.status.code(),
            Some(1),
            "dv {args:?} should fail:\n{stderr}"
        );
        assert!(stderr.contains("error: "), "{stderr}");
        stderr
    }

    /// The packs of every mirror this reader has.
    fn mirror_packs(&self) -> Vec<PathBuf> {
        let sources = self.home.path().join("cache/dv/sources");
        let mut out = Vec::new();
        for s in fs::read_dir(sources).unwrap() {
            let packs = s.unwrap().path().join("git/objects/pack");
            if let Ok(entries) = fs::read_dir(packs) {
                out.extend(entries.map(|e| e.unwrap().path()));
            }
        }
        out.sort();
        out
    }
}

/// A registry repository with dataset `data` (three small files, a sub-folder with a 300 kB file), pushed to
/// its remote and tagged `v1`, then a fourth file as `v2`; served as a bare repository. Returns the
/// registry, its server's file:// URL and the server's folder.
fn registry(remote: impl Fn(&TestRepo)) -> (TestRepo, String, tempfile::TempDir) {
    let r = TestRepo::new();
    remote(&r);
    for i in 1..=3 {
        r.write(&format!("data/f{i}.txt"), format!("file {i}").as_bytes());
    }
    r.write("data/sub/big.bin", &bytes(7, 300_000));
    r.write("data/sub/s.txt", b"s");
    r.ok(&["add", "data"]);
    r.ok(&["push"]);
    r.git(&["add", "-A"]);
    r.git(&["commit", "-q", "-m", "v1"]);
    r.git(&["tag", "v1"]);
    r.write("data/f4.txt", b"file 4");
    r.ok(&["add", "data"]);
    r.ok(&["push"]);
    r.git(&["commit", "-q", "-am", "v2"]);
    let server = tempfile::tempdir().unwrap();
    git_in(
        server.path(),
        &[
            "clone",
            "-q",
            "--bare",
            r.path().to_str().unwrap(),
            "reg.git",
        ],
    );
    let url = format!("file://{}/reg.git", server.path().display());
    (r, url, server)
}

fn names(listing: &serde_json::Value) -> Vec<String> {
    listing["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["path"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn ls_and_get_read_a_registry_that_is_not_cloned() {
    let remote = tempfile::tempdir().unwrap();
    let (r, url, _server) = registry(|r| {
        r.ok(&[
            "remote",
            "add",
            "origin",
            remote.path().to_str().unwrap(),
            "--default",
        ]);
    });
    let me = Reader::new();

    // The repository's datasets, from its pointer files alone.
    let all = me.json(&["ls", &url]);
    assert_eq!(names(&all), ["data"]);
    assert_eq!(all["entries"][0]["kind"], "dataset");
    assert_eq!(all["entries"][0]["files"], 6);
    assert_eq!(all["rev"], "HEAD");
    assert_eq!(
        all["commit"].as_str().unwrap(),
        r.git(&["rev-parse", "HEAD"]).trim()
    );
    // One level of the dataset: files with sizes and ids, the sub-folder as a folder.
    let top = me.json(&["ls", &url, "data"]);
    assert_eq!(
        names(&top),
        [
            "data/f1.txt",
            "data/f2.txt",
            "data/f3.txt",
            "data/f4.txt",
            "data/sub"
        ]
    );
    assert_eq!(top["entries"][4]["kind"], "folder");
    assert_eq!(top["entries"][4]["size"], 300_001);
    // Another revision, every file.
    let v1 = me.json(&["ls", &url, "data", "--rev", "v1", "-R"]);
    assert_eq!(
        names(&v1),
        [
            "data/f1.txt",
            "data/f2.txt",
            "data/f3.txt",
            "data/sub/big.bin",
            "data/sub/s.txt"
        ]
    );
    // A second listing fetches no Git objects the mirror has.
    let packs = me.mirror_packs();
    assert!(!packs.is_empty());
    let again = me.json(&["ls", &url, "data"]);
    assert_eq!(again["fetched_objects"], 0, "{again}");
    assert_eq!(me.mirror_packs(), packs);

    // get: a sub-folder, as its own name, whole.
    let got = me.json(&["get", &url, "data/sub"]);
    assert_eq!(got["files"], 2);
    assert_eq!(
        fs::read(me.work.path().join("sub/big.bin")).unwrap(),
        r.read("data/sub/big.bin")
    );
    assert_eq!(fs::read(me.work.path().join("sub/s.txt")).unwrap(), b"s");
    // One file of an older version, to a path named.
    me.ok(&["get", &url, "data/f1.txt", "--rev", "v1", "-o", "one.txt"]);
    assert_eq!(fs::read(me.work.path().join("one.txt")).unwrap(), b"file 1");
    // Nothing else is left where it wrote: no cache, no temporary folder.
    let mut left: Vec<String> = fs::read_dir(me.work.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    left.sort();
    assert_eq!(left, ["one.txt", "sub"]);

    // Refusals change nothing: an output that exists, a path the version lacks, a revision that is none.
    let before = snapshot(me.work.path());
    let e = me.fails(&["get", &url, "data/sub"]);
    assert!(e.contains("exists"), "{e}");
    let e = me.fails(&["get", &url, "data/f4.txt", "--rev", "v1", "-o", "x"]);
    assert!(e.contains("data/f4.txt"), "{e}");
    let e = me.fails(&["get", &url, "nothing/here", "-o", "y"]);
    assert!(e.contains("nothing/here"), "{e}");
    let e = me.fails(&["ls", &url, "--rev", "no-such-rev"]);
    assert!(e.contains("no-such-rev"), "{e}");
    assert_eq!(snapshot(me.work.path()), before);
}

#[test]
fn ls_of_this_repository_reads_its_own_cache_and_revisions() {
    let remote = tempfile::tempdir().unwrap();
    let (r, _url, _server) = registry(|r| {
        r.ok(&[
            "remote",
            "add",
            "origin",
            remote.path().to_str().unwrap(),
            "--default",
        ]);
    });
    let now = r.json(&["ls", ".", "data"]);
    assert!(names(&now).contains(&"data/f4.txt".to_string()));
    let v1 = r.json(&["ls", ".", "data", "--rev", "v1"]);
    assert!(!names(&v1).contains(&"data/f4.txt".to_string()));
    assert_eq!(v1["fetched_objects"], 0);
    // From a sub-folder, `.` is still this repository and paths are the root's.
    let sub = r.p("data/sub");
    let out = ok_at(&sub, &["ls", "../..", "data/sub"]);
    assert!(out.contains("data/sub/big.bin"), "{out}");
}

#[test]
fn ls_reads_trees_only_and_get_only_what_it_writes_from_s3() {
    let server = S3Server::start();
    server.bucket("reg");
    let (r, url, _server_dir) = registry(|r| {
        r.ok(&["remote", "add", "origin", "s3://reg/ds", "--default"]);
        configure_s3(r, &server.endpoint());
    });
    let me = Reader::new();
    // The registry's committed endpoint gets the reader's signed requests only once the reader confirms it.
    let e = me.fails(&["ls", &url, "data"]);
    assert!(
        e.contains(&server.endpoint()) && e.contains("confirm"),
        "{e}"
    );
    me.ok(&[
        "config",
        "--global",
        "set",
        &format!("source.{url}.remote.origin.endpoint"),
        &server.endpoint(),
    ]);
    let before = server.pack_bytes_read();
    let listing = me.json(&["ls", &url, "data", "-R"]);
    let read = server.pack_bytes_read() - before;
    assert_eq!(listing["entries"].as_array().unwrap().len(), 6);
    assert!(
        listing["fetched_objects"].as_u64().unwrap() >= 1,
        "{listing}"
    );
    // The 300 kB file's chunks are never read: only tree objects.
    assert!(read < 20_000, "ls read {read} bytes of packs");
    let before = server.pack_bytes_read();
    me.json(&["ls", &url, "data", "-R"]);
    assert_eq!(
        server.pack_bytes_read(),
        before,
        "a second ls reads nothing"
    );

    // get of one small file reads its chunk and the trees, not the large file.
    let before = server.pack_bytes_read();
    me.ok(&["get", &url, "data/f2.txt"]);
    let read = server.pack_bytes_read() - before;
    assert!(read < 100_000, "get of one small file read {read} bytes");
    assert_eq!(
        fs::read(me.work.path().join("f2.txt")).unwrap(),
        r.read("data/f2.txt")
    );
}

#[test]
fn a_registry_remote_the_reader_cannot_read_says_what_to_set() {
    let server = S3Server::start();
    server.bucket("locked");
    let (_r, url, _server_dir) = registry(|r| {
        r.ok(&["remote", "add", "origin", "s3://locked/ds", "--default"]);
        configure_s3(r, &server.endpoint());
    });
    let me = Reader::new();
    me.ok(&[
        "config",
        "--global",
        "set",
        &format!("source.{url}.remote.origin.endpoint"),
        &server.endpoint(),
    ]);
    let run = |args: &[&str]| {
        me.cmd(me.work.path(), args)
            .env_remove("AWS_ACCESS_KEY_ID")
            .env_remove("AWS_SECRET_ACCESS_KEY")
            .env("HOME", me.home.path())
            .output()
            .unwrap()
    };
    let out = run(&["ls", &url, "data"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("origin"), "names the remote: {err}");
    assert!(
        err.contains("AWS_ACCESS_KEY_ID"),
        "names what to set: {err}"
    );
    // ... as settings of the reader's for this source, not of a remote of their own.
    assert!(
        err.contains(&format!("source.{url}.remote.origin.")),
        "{err}"
    );
    assert!(!err.contains("dv remote modify"), "{err}");
    // Import into a project says the same, and writes nothing.
    let project = TestRepo::new();
    let out = me
        .cmd(project.path(), &["import", &url, "data", "-o", "ds"])
        .env_remove("AWS_ACCESS_KEY_ID")
        .env_remove("AWS_SECRET_ACCESS_KEY")
        .env("HOME", me.home.path())
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("AWS_ACCESS_KEY_ID") && err.contains("origin"),
        "{err}"
    );
    assert!(!project.p("ds").exists() && !project.p("ds.dv").exists());
    // The reader's own settings for this source's remote (never the registry's) fix it.
    let source = url.as_str();
    for (k, v) in [
        ("access_key_id", crate::s3_server::ACCESS_KEY),
        ("secret_access_key", crate::s3_server::SECRET_KEY),
    ] {
        me.ok(&[
            "config",
            "--global",
            "set",
            &format!("source.{source}.remote.origin.{k}"),
            v,
        ]);
    }
    let out = run(&["ls", &url, "data"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Listed without the secrets' values.
    let list = me.ok(&["config", "list", "--global"]);
    assert!(!list.contains(crate::s3_server::SECRET_KEY), "{list}");
    assert!(list.contains("secret_access_key"), "{list}");
}

#[test]
fn a_relative_folder_remote_of_a_mirrored_registry_names_the_setting_to_fix() {
    let (r, url, _server) = registry(|r| {
        r.ok(&["remote", "add", "origin", "../store", "--default"]);
    });
    let me = Reader::new();
    let e = me.fails(&["ls", &url, "data"]);
    assert!(
        e.contains(&format!("source.{url}.remote.origin.url")),
        "{e}"
    );
    let store = r.path().parent().unwrap().join("store");
    me.ok(&[
        "config",
        "--global",
        "set",
        &format!("source.{url}.remote.origin.url"),
        store.to_str().unwrap(),
    ]);
    let listing = me.json(&["ls", &url, "data"]);
    assert_eq!(listing["entries"].as_array().unwrap().len(), 5);
    // A registry read in place (a path) resolves it from its own work tree.
    let other = Reader::new();
    let listing = other.json(&["ls", r.path().to_str().unwrap(), "data"]);
    assert_eq!(listing["entries"].as_array().unwrap().len(), 5);
}

#[test]
fn config_sets_gets_and_lists_keys_in_each_file() {
    let r = TestRepo::new();
    let remote = folder_remote(&r);
    r.ok(&["config", "set", "core.compression_level", "3"]);
    assert_eq!(
        r.ok(&["config", "get", "core.compression_level"]).trim(),
        "3"
    );
    assert!(
        fs::read_to_string(r.p(".dv/config.toml"))
            .unwrap()
            .contains("compression_level = 3")
    );
    r.ok(&["config", "set", "remote.origin.region", "eu-west-1"]);
    // A credential never goes into the committed file; locally it does, and wins.
    let e = r.fails(&["config", "set", "remote.origin.secret_access_key", "abc"]);
    assert!(e.contains("local"), "{e}");
    r.ok(&[
        "config",
        "--local",
        "set",
        "remote.origin.secret_access_key",
        "abc",
    ]);
    r.ok(&[
        "config",
        "--local",
        "set",
        "remote.origin.region",
        "us-east-2",
    ]);
    assert_eq!(
        r.ok(&["config", "get", "remote.origin.region"]).trim(),
        "us-east-2"
    );
    assert_eq!(
        r.ok(&["config", "--committed", "get", "remote.origin.region"])
            .trim(),
        "eu-west-1"
    );
    let list = r.ok(&["config", "list"]);
    assert!(!list.contains("abc"), "{list}");
    let json = r.json(&["config", "list"]);
    let secret = json
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["key"] == "remote.origin.secret_access_key")
        .unwrap();
    assert_eq!(secret["value"], serde_json::Value::Null);
    assert_eq!(secret["scope"], "local");
    // Unset, and keys that are not set: exit 1 with nothing printed.
    r.ok(&["config", "--local", "unset", "remote.origin.region"]);
    assert_eq!(
        r.ok(&["config", "get", "remote.origin.region"]).trim(),
        "eu-west-1"
    );
    let out = r.dv(&["config", "get", "remote.origin.profile"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stdout.is_empty());
    // Bad input changes nothing.
    let committed = fs::read(r.p(".dv/config.toml")).unwrap();
    for bad in [
        &["config", "set", "core.format", "2"][..],
        &["config", "set", "core.compression_level", "99"],
        &["config", "set", "core.remote", "nope"],
        &["config", "set", "remote.origin.url", "https://u:pw@h/x"],
        &["config", "set", "cache.dir", "/x"],
        &["config", "--local", "set", "cache.dir", "relative/path"],
        &["config", "--committed", "set", "cache.dir", "/x"],
        &["config", "set", "nope", "1"],
        &["config", "set", "remote.origin.url", ""],
        &["config", "set", "remote.origin.region", "x@127.0.0.1:1/#"],
        &[
            "config",
            "--local",
            "set",
            "remote.origin.region",
            "127.0.0.1:1/#",
        ],
        &[
            "config",
            "--global",
            "set",
            "source.file:///x.remote.origin.bogus",
            "1",
        ],
        &[
            "config",
            "--global",
            "set",
            "source.--help.remote.origin.endpoint",
            "x",
        ],
        &[
            "config",
            "--global",
            "set",
            "source.file:///x.remote.origin.url",
            "rel/path",
        ],
    ] {
        r.fails(bad);
    }
    assert_eq!(fs::read(r.p(".dv/config.toml")).unwrap(), committed);
    drop(remote);
}

#[test]
fn repositories_sharing_a_cache_store_data_once_and_gc_keeps_what_each_needs() {
    let shared = tempfile::tempdir().unwrap();
    let cache = shared.path().join("cache");
    let env = [("DV_CACHE_DIR", cache.to_str().unwrap())];
    let remote = tempfile::tempdir().unwrap();
    // A names the shared cache in its local settings; B, below, only through the variable.
    let a = TestRepo::new();
    a.ok(&[
        "remote",
        "add",
        "origin",
        remote.path().to_str().unwrap(),
        "--default",
    ]);
    a.ok(&[
        "config",
        "--local",
        "set",
        "cache.dir",
        cache.to_str().unwrap(),
    ]);
    a.write("data/big.bin", &bytes(11, 2_000_000));
    a.ok(&["add", "data"]);
    a.ok(&["push"]);
    a.git(&["add", "-A"]);
    a.git(&["commit", "-q", "-m", "one"]);
    assert!(!a.p(".dv/cache/packs").exists() || files_below(&a.p(".dv/cache/packs")).is_empty());
    // B, a clone, pulls from the shared cache: nothing comes from the remote.
    let b = clone_of(&a);
    let pulled: serde_json::Value =
        serde_json::from_str(&ok_at_with(b.path(), &env, &["pull", "--json"])).unwrap();
    assert_eq!(pulled["fetch"]["objects"], 0, "{pulled}");
    assert_eq!(
        fs::read(b.path().join("data/big.bin")).unwrap(),
        a.read("data/big.bin")
    );
    // B adds data only it has; gc in A keeps it: B recorded itself as a user of the cache, and counts as one
    // although without the variable (as A runs) it would use its own.
    fs::write(b.path().join("data/only-b.bin"), bytes(12, 500_000)).unwrap();
    ok_at_with(b.path(), &env, &["add", "data"]);
    let gc = a.json(&["gc", "--grace", "0"]);
    let fsck = ok_at_with(b.path(), &env, &["fsck"]);
    assert!(!fsck.contains("missing"), "{gc}\n{fsck}");
    assert_eq!(
        fs::read(b.path().join("data/only-b.bin")).unwrap(),
        bytes(12, 500_000)
    );
    fs::remove_file(b.path().join("data/only-b.bin")).unwrap();
    ok_at_with(b.path(), &env, &["checkout", "data"]);
    assert_eq!(
        fs::read(b.path().join("data/only-b.bin")).unwrap(),
        bytes(12, 500_000)
    );
    // B commits that, then replaces it: the old version is only in B's history. gc --all-commits in A reads
    // B's commits too (B is another repository, with a history of its own).
    git_in(b.path(), &["commit", "-q", "-am", "b1"]);
    fs::write(b.path().join("data/only-b.bin"), bytes(13, 500_000)).unwrap();
    ok_at_with(b.path(), &env, &["add", "data"]);
    git_in(b.path(), &["commit", "-q", "-am", "b2"]);
    a.json(&["gc", "--grace", "0", "--all-commits"]);
    git_in(b.path(), &["checkout", "-q", "HEAD~1"]);
    ok_at_with(b.path(), &env, &["checkout", "data"]);
    assert_eq!(
        fs::read(b.path().join("data/only-b.bin")).unwrap(),
        bytes(12, 500_000)
    );
    // Two repositories adding at once into one cache.
    let c = TestRepo::new();
    let d = TestRepo::new();
    c.write("x/f.bin", &bytes(21, 3_000_000));
    d.write("y/f.bin", &bytes(22, 3_000_000));
    let spawn = |r: &TestRepo, p: &str| {
        dv_command(r.path())
            .envs(env.iter().copied())
            .args(["add", p])
            .spawn()
            .unwrap()
    };
    let (mut pc, mut pd) = (spawn(&c, "x"), spawn(&d, "y"));
    assert!(pc.wait().unwrap().success() && pd.wait().unwrap().success());
    ok_at_with(c.path(), &env, &["fsck"]);
    ok_at_with(d.path(), &env, &["fsck"]);
    fs::remove_dir_all(c.p("x")).unwrap();
    ok_at_with(c.path(), &env, &["checkout"]);
    assert_eq!(c.read("x/f.bin"), bytes(21, 3_000_000));
}

/// Commits `msg` in the registry `r` (data changed by `change`) and pushes it and the tag `v1`, moved or not,
/// to the server's `reg.git`.
fn publish(r: &TestRepo, server: &Path, msg: &str, change: impl Fn(&TestRepo)) {
    change(r);
    r.ok(&["add", "data"]);
    r.ok(&["push"]);
    r.git(&["commit", "-q", "-am", msg]);
    let bare = server.join("reg.git");
    r.git(&["push", "-q", "-f", bare.to_str().unwrap(), "main", "v1"]);
}

#[test]
fn import_update_status_and_pull_follow_the_source() {
    let remote = tempfile::tempdir().unwrap();
    let (r, url, server) = registry(|r| {
        r.ok(&[
            "remote",
            "add",
            "origin",
            remote.path().to_str().unwrap(),
            "--default",
        ]);
    });
    // A project with no remote of its own imports the registry's sub-folder at v1.
    let p = TestRepo::new();
    let env = [("XDG_CACHE_HOME", p.path().parent().unwrap().join("pcache"))];
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.to_str().unwrap())).collect();
    let report: serde_json::Value = serde_json::from_str(&p.ok_with(
        &env,
        &[
            "import", &url, "data/sub", "--rev", "v1", "-o", "models", "--json",
        ],
    ))
    .unwrap();
    assert_eq!(
        report["source"]["commit"].as_str().unwrap(),
        r.git(&["rev-parse", "v1"]).trim()
    );
    assert_eq!(p.read("models/big.bin"), r.read("data/sub/big.bin"));
    let pointer = String::from_utf8(p.read("models.dv")).unwrap();
    assert!(
        pointer.contains("dv = 3") && pointer.contains(&format!("url = \"{url}\"")),
        "{pointer}"
    );
    assert!(
        pointer.contains("path = \"data/sub\"") && pointer.contains("rev = \"v1\""),
        "{pointer}"
    );
    let staged = p.git(&["diff", "--cached", "--name-only"]);
    assert!(
        staged.contains("models.dv") && staged.contains(".gitignore"),
        "{staged}"
    );
    assert_eq!(p.git(&["check-ignore", "models"]).trim(), "models");
    p.git(&["add", ".dv"]);
    p.git(&["commit", "-q", "-m", "import"]);
    // Importing there again is refused, pointing at update; nothing changes.
    let e = p.fails(&["import", &url, "data/sub", "-o", "models"]);
    assert!(e.contains("dv update"), "{e}");

    // Up to date until the registry moves v1; then status says so offline only once the mirror has seen it.
    let status = p.json(&["status"]);
    assert_eq!(status["datasets"][0]["import"]["behind"], false, "{status}");
    publish(&r, server.path(), "v3", |r| {
        r.write("data/sub/new.txt", b"new in v3");
    });
    r.git(&["tag", "-f", "v1"]);
    r.git(&[
        "push",
        "-q",
        "-f",
        server.path().join("reg.git").to_str().unwrap(),
        "v1",
    ]);
    let status = p.json(&["status"]);
    assert_eq!(
        status["datasets"][0]["import"]["behind"], false,
        "nothing fetched yet: {status}"
    );
    let out = p.ok_with(&env, &["status", "--remote"]);
    assert!(out.contains("behind its source"), "{out}");
    let status: serde_json::Value =
        serde_json::from_str(&p.ok_with(&env, &["status", "--json"])).unwrap();
    assert_eq!(status["datasets"][0]["import"]["behind"], true, "{status}");
    // update moves it and says what changed.
    let updated: serde_json::Value =
        serde_json::from_str(&p.ok_with(&env, &["update", "--json"])).unwrap();
    assert_eq!(updated[0]["changed"], true, "{updated}");
    assert_eq!(updated[0]["summary"]["files_added"], 1, "{updated}");
    assert_eq!(updated[0]["files"][0]["path"], "models/new.txt");
    assert_eq!(p.read("models/new.txt"), b"new in v3");
    let status: serde_json::Value =
        serde_json::from_str(&p.ok_with(&env, &["status", "--json"])).unwrap();
    assert_eq!(status["datasets"][0]["import"]["behind"], false, "{status}");
    assert_eq!(status["datasets"][0]["state"], "unchanged");
    p.git(&["commit", "-q", "-am", "update"]);
    // A registry commit that changes the dataset but not the path imported does not make it behind.
    publish(&r, server.path(), "v4", |r| {
        r.write("data/f1.txt", b"changed outside the import");
    });
    r.git(&["tag", "-f", "v1"]);
    r.git(&[
        "push",
        "-q",
        "-f",
        server.path().join("reg.git").to_str().unwrap(),
        "v1",
    ]);
    let status: serde_json::Value =
        serde_json::from_str(&p.ok_with(&env, &["status", "--remote", "--json"])).unwrap();
    assert_eq!(status["datasets"][0]["import"]["behind"], false, "{status}");
    assert_eq!(
        status["datasets"][0]["import"]["latest"].as_str().unwrap(),
        r.git(&["rev-parse", "v1"]).trim()
    );

    // A fresh clone of the project pulls the import from the source's remote (it has no remote of its own).
    let clone = clone_of(&p);
    let pulled: serde_json::Value =
        serde_json::from_str(&ok_at_with(clone.path(), &env, &["pull", "--json"])).unwrap();
    assert_eq!(pulled["imports"][0]["datasets"][0], "models", "{pulled}");
    assert_eq!(
        fs::read(clone.path().join("models/new.txt")).unwrap(),
        b"new in v3"
    );
    // push leaves it out unless asked; with --include-imports the project's remote holds it, and a clone
    // pulls it from there even when the source's remote is gone.
    let own = tempfile::tempdir().unwrap();
    let own_remote = own.path().join("r");
    p.ok(&[
        "remote",
        "add",
        "mine",
        own_remote.to_str().unwrap(),
        "--default",
    ]);
    let pushed = p.json(&["push"]);
    assert_eq!(pushed["objects"], 0, "{pushed}");
    let pushed = p.json(&["push", "--include-imports"]);
    assert!(pushed["objects"].as_u64().unwrap() > 0, "{pushed}");
    p.git(&["add", "-A"]);
    p.git(&["commit", "-q", "-m", "own remote"]);
    fs::remove_dir_all(remote.path()).unwrap();
    let clone = clone_of(&p);
    let pulled: serde_json::Value =
        serde_json::from_str(&ok_at_with(clone.path(), &env, &["pull", "--json"])).unwrap();
    assert!(pulled.get("imports").is_none(), "{pulled}");
    assert_eq!(
        fs::read(clone.path().join("models/big.bin")).unwrap(),
        r.read("data/sub/big.bin")
    );
}

#[test]
fn import_refuses_what_it_cannot_bring_and_writes_nothing() {
    let remote = tempfile::tempdir().unwrap();
    let (_r, url, _server) = registry(|r| {
        r.ok(&[
            "remote",
            "add",
            "origin",
            remote.path().to_str().unwrap(),
            "--default",
        ]);
    });
    let p = TestRepo::new();
    p.write("taken/x", b"x");
    // The work tree, without dv's and Git's own folders (a refused command may still take the cache's lock).
    let tree = || -> Vec<(String, bool)> {
        snapshot(p.path())
            .into_iter()
            .filter(|(path, _)| !path.starts_with(".dv") && !path.starts_with(".git"))
            .map(|(path, f)| (path, f.is_some()))
            .collect()
    };
    let before = tree();
    let git_before = p.git(&["status", "--porcelain"]);
    for (args, why) in [
        (vec!["import", &url, "data", "-o", "taken"], "exists"),
        (vec!["import", &url, "nothing"], "nothing"),
        (vec!["import", &url, "data", "--rev", "nope"], "nope"),
        (vec!["import", ".", "data"], "another repository"),
        (vec!["import", &url, "data", "-o", ".dv/x"], ".dv"),
    ] {
        let e = p.fails(&args);
        assert!(e.contains(why), "{args:?}: {e}");
    }
    assert_eq!(tree(), before);
    assert_eq!(p.git(&["status", "--porcelain"]), git_before);
    // Not in a dv repository: import needs one (get does not).
    let plain = tempfile::tempdir().unwrap();
    fails_at(plain.path(), &["import", &url, "data"]);
}

#[test]
fn gc_on_a_shared_cache_refuses_while_a_repository_using_it_is_away() {
    let shared = tempfile::tempdir().unwrap();
    let cache = shared.path().join("cache");
    let place = tempfile::tempdir().unwrap();
    let mut repos = Vec::new();
    for name in ["a", "b"] {
        let root = place.path().join(name);
        fs::create_dir(&root).unwrap();
        git_in(&root, &["init", "-q", "-b", "main"]);
        ok_at(&root, &["init"]);
        ok_at(
            &root,
            &[
                "config",
                "--local",
                "set",
                "cache.dir",
                cache.to_str().unwrap(),
            ],
        );
        fs::create_dir(root.join("d")).unwrap();
        fs::write(
            root.join("d/f"),
            bytes(40 + name.as_bytes()[0] as u64, 100_000),
        )
        .unwrap();
        ok_at(&root, &["add", "d"]);
        git_in(&root, &["add", "-A"]);
        git_in(&root, &["commit", "-q", "-m", "one"]);
        repos.push(root);
    }
    let (a, b) = (&repos[0], &repos[1]);
    // A is away (renamed, an unmounted drive): B's gc, dry or not, and B's other commands change nothing of A's.
    let away = place.path().join("a-away");
    fs::rename(a, &away).unwrap();
    ok_at(b, &["status"]);
    ok_at(b, &["add", "d"]);
    let e = fails_at(b, &["gc", "-n", "--grace", "0"]);
    assert!(e.contains("missing") && e.contains("worktrees"), "{e}");
    fails_at(b, &["gc", "--grace", "0"]);
    fs::rename(&away, a).unwrap();
    // Its `.git` moved aside, or its folder emptied (a drive's mount point): the same refusal.
    fs::rename(a.join(".git"), a.join(".git-aside")).unwrap();
    fails_at(b, &["gc", "-n", "--grace", "0"]);
    fs::rename(a.join(".git-aside"), a.join(".git")).unwrap();
    fs::rename(a, &away).unwrap();
    fs::create_dir(a).unwrap();
    fails_at(b, &["gc", "-n", "--grace", "0"]);
    fs::remove_dir(a).unwrap();
    fs::rename(&away, a).unwrap();
    ok_at(b, &["gc", "--grace", "0"]);
    fs::remove_dir_all(a.join("d")).unwrap();
    ok_at(a, &["checkout"]);
    assert_eq!(
        fs::read(a.join("d/f")).unwrap(),
        bytes(40 + b'a' as u64, 100_000)
    );
    // Gone for good: deleting the record named in the hint lets gc go on, and then A's data goes.
    fs::remove_dir_all(a).unwrap();
    let e = fails_at(b, &["gc", "--grace", "0"]);
    let record = e
        .split_whitespace()
        .find(|w| w.contains("/worktrees/"))
        .unwrap()
        .trim_end_matches(',');
    fs::remove_file(record).unwrap();
    let gc: serde_json::Value = serde_json::from_str(&ok_at(
        b,
        &["gc", "--grace", "0", "--repack-below", "1", "--json"],
    ))
    .unwrap();
    assert!(gc["objects_deleted"].as_u64().unwrap() > 0, "{gc}");
    ok_at(b, &["fsck"]);
}

#[test]
fn get_never_writes_over_what_appears_and_cleans_what_a_kill_left() {
    let remote = tempfile::tempdir().unwrap();
    let (_r, url, _server) = registry(|r| {
        r.ok(&[
            "remote",
            "add",
            "origin",
            remote.path().to_str().unwrap(),
            "--default",
        ]);
    });
    let me = Reader::new();
    // A file appears at OUT while get writes: get fails, the file stays.
    let child = me
        .cmd(me.work.path(), &["get", &url, "data/sub", "-o", "out"])
        .env("DV_PAUSE_AT", "get-before-rename:1500")
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(700));
    fs::write(me.work.path().join("out"), b"precious").unwrap();
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("exists"), "{err}");
    assert_eq!(fs::read(me.work.path().join("out")).unwrap(), b"precious");
    fs::remove_file(me.work.path().join("out")).unwrap();
    // Killed before its output is in place: no output, a marked temporary folder, which the next get removes.
    let out = me
        .cmd(me.work.path(), &["get", &url, "data/sub", "-o", "out"])
        .env("DV_CRASH_AT", "get-before-rename")
        .output()
        .unwrap();
    assert_ne!(out.status.code(), Some(0));
    let names = || -> Vec<String> {
        let mut v: Vec<String> = fs::read_dir(me.work.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    };
    let left = names();
    assert_eq!(left.len(), 1, "{left:?}");
    assert!(left[0].contains(".dv-tmp-"), "{left:?}");
    me.ok(&["get", &url, "data/f1.txt"]);
    assert_eq!(names(), ["f1.txt"]);
}

#[test]
fn a_killed_import_leaves_nothing_in_the_work_tree_and_runs_again() {
    let remote = tempfile::tempdir().unwrap();
    let (r, url, _server) = registry(|r| {
        r.ok(&[
            "remote",
            "add",
            "origin",
            remote.path().to_str().unwrap(),
            "--default",
        ]);
    });
    let p = TestRepo::new();
    for point in ["import-before-rename", "import-before-pointer"] {
        let out = dv_command(p.path())
            .args(["import", &url, "data", "-o", "ds"])
            .env("DV_CRASH_AT", point)
            .output()
            .unwrap();
        assert_ne!(out.status.code(), Some(0), "{point}");
        assert!(!p.p("ds.dv").exists(), "{point}");
        if point == "import-before-rename" {
            // Nothing of the data in the work tree, and no ignore line left to hide the user's own files there.
            assert!(!p.p("ds").exists());
            let untracked = p.git(&["status", "--porcelain", "--untracked-files=all"]);
            assert!(!untracked.contains("f1.txt"), "{untracked}");
            let ignored = fs::read_to_string(p.p(".gitignore")).unwrap_or_default();
            assert!(!ignored.contains("/ds"), "{ignored}");
        } else {
            // The data is whole, its pointer missing: importing again takes that data as it is.
            assert_eq!(p.read("ds/f1.txt"), r.read("data/f1.txt"));
        }
    }
    let again: serde_json::Value =
        serde_json::from_str(&p.ok(&["import", &url, "data", "-o", "ds", "--json"])).unwrap();
    assert_eq!(again["checkout"]["files_written"], 0, "{again}");
    assert!(p.p("ds.dv").exists());
    // The attribute a killed run wrote is staged by the run that finished.
    let staged = p.git(&["diff", "--cached", "--name-only"]);
    assert!(
        staged.contains(".gitattributes") && staged.contains(".gitignore"),
        "{staged}"
    );
    // Other data in the way is refused, not taken.
    fs::write(p.p("other"), b"mine").unwrap();
    let e = p.fails(&["import", &url, "data", "-o", "other"]);
    assert!(e.contains("exists"), "{e}");
    assert_eq!(p.read("other"), b"mine");
    let ignored = fs::read_to_string(p.p(".gitignore")).unwrap_or_default();
    assert!(!ignored.contains("/other"), "{ignored}");
    fs::remove_dir_all(p.p("ds")).unwrap();
    fs::remove_file(p.p("ds.dv")).unwrap();
    p.ok(&["import", &url, "data", "-o", "ds"]);
    assert_eq!(p.read("ds/sub/big.bin"), r.read("data/sub/big.bin"));
    // The killed run's temporary folder is gone from the cache too.
    let tmp: Vec<_> = fs::read_dir(p.p(".dv/cache/tmp"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains(".dv-tmp-"))
        .collect();
    assert!(tmp.is_empty(), "{tmp:?}");
}

#[test]
fn a_new_import_is_written_straight_from_the_fetch_whole_with_its_modes() {
    let remote = tempfile::tempdir().unwrap();
    let (r, url, _server) = registry(|r| {
        r.ok(&[
            "remote",
            "add",
            "origin",
            remote.path().to_str().unwrap(),
            "--default",
        ]);
        r.write("data/bin/tool.sh", b"#!/bin/sh\necho hi\n");
        fs::set_permissions(
            r.p("data/bin/tool.sh"),
            std::os::unix::fs::PermissionsExt::from_mode(0o755),
        )
        .unwrap();
        r.write("data/bin/empty", b"");
    });
    let p = TestRepo::new();
    let import = |args: &[&str]| {
        let (direct, stdout) = direct_writes(p.path(), &[args, &["--json"]].concat());
        let report: serde_json::Value = serde_json::from_slice(&stdout).unwrap();
        (direct, report)
    };
    let (direct, report) = import(&["import", &url, "data", "-o", "ds"]);
    assert_eq!(snapshot(&p.p("ds")), snapshot(&r.p("data")));
    assert_eq!(report["checkout"]["files_written"], 8, "{report}");
    // Every file came straight from the fetch.
    assert_eq!(direct, 8, "{report}");
    let mode = fs::metadata(p.p("ds/bin/tool.sh")).unwrap();
    assert_ne!(
        std::os::unix::fs::PermissionsExt::mode(&mode.permissions()) & 0o100,
        0
    );
    assert_no_temp_files(p.path(), "import");
    assert_eq!(
        p.json(&["status", "ds"])["datasets"][0]["state"],
        "unchanged"
    );
    // A single file, from a cache that has its chunks now: written from the cache.
    let (direct, _) = import(&["import", &url, "data/sub/big.bin", "-o", "big.bin"]);
    assert_eq!(direct, 0);
    assert_eq!(p.read("big.bin"), r.read("data/sub/big.bin"));
    // A single file fetched: straight from the fetch.
    let q = TestRepo::new();
    let (direct, _) = direct_writes(
        q.path(),
        &["import", &url, "data/sub/big.bin", "-o", "m/big.bin"],
    );
    assert_eq!(direct, 1);
    assert_eq!(q.read("m/big.bin"), r.read("data/sub/big.bin"));
    assert_no_temp_files(q.path(), "import of a file");
}

/// The device of `p`.
fn device(p: &Path) -> u64 {
    std::os::unix::fs::MetadataExt::dev(&fs::metadata(p).unwrap())
}

#[test]
fn an_import_with_its_cache_on_another_file_system_still_appears_whole_or_not_at_all() {
    let remote = tempfile::tempdir().unwrap();
    let (_r, url, _server) = registry(|r| {
        r.ok(&[
            "remote",
            "add",
            "origin",
            remote.path().to_str().unwrap(),
            "--default",
        ]);
    });
    let p = TestRepo::new();
    // A cache folder on another file system than the project, when this machine has one.
    let candidates = [
        Path::new("/dev/shm"),
        Path::new("/var/tmp"),
        Path::new("/tmp"),
    ];
    let Some(other) = candidates
        .iter()
        .find(|c| c.is_dir() && device(c) != device(p.path()))
    else {
        eprintln!("no second file system here: nothing to check");
        return;
    };
    let cache = tempfile::tempdir_in(other).unwrap();
    let cache_dir = cache.path().join("c");
    let env = [("DV_CACHE_DIR", cache_dir.to_str().unwrap())];
    let out = dv_command(p.path())
        .envs(env)
        .args(["import", &url, "data", "-o", "ds"])
        .env("DV_CRASH_AT", "import-before-rename")
        .output()
        .unwrap();
    assert_ne!(out.status.code(), Some(0));
    assert!(!p.p("ds").exists(), "a killed import left data in place");
    // Something appearing at OUT is never mixed in, and the ignore line goes again.
    fs::create_dir_all(p.p("ds")).unwrap();
    fs::write(p.p("ds/mine.txt"), b"mine").unwrap();
    let e = dv_command(p.path())
        .envs(env)
        .args(["import", &url, "data", "-o", "ds"])
        .output()
        .unwrap();
    assert_eq!(e.status.code(), Some(1));
    assert_eq!(fs::read_dir(p.p("ds")).unwrap().count(), 1);
    let ignored = fs::read_to_string(p.p(".gitignore")).unwrap_or_default();
    assert!(!ignored.contains("/ds"), "{ignored}");
    fs::remove_dir_all(p.p("ds")).unwrap();
    p.ok_with(&env, &["import", &url, "data", "-o", "ds"]);
    assert_eq!(p.read("ds/sub/s.txt"), b"s");
    assert_no_temp_files(p.path(), "import with a cache elsewhere");
    // `-o folder/` imports into that folder under the source's name.
    p.ok_with(&env, &["import", &url, "data/sub/big.bin", "-o", "models/"]);
    assert!(p.p("models/big.bin").is_file());
}

#[test]
fn a_registry_pointer_that_misstates_its_data_is_refused_by_import() {
    let remote = tempfile::tempdir().unwrap();
    let (r, _url, server) = registry(|r| {
        r.ok(&[
            "remote",
            "add",
            "origin",
            remote.path().to_str().unwrap(),
            "--default",
        ]);
    });
    // The registry's committer edits data.dv by hand: fewer bytes and files than its trees hold.
    let text = String::from_utf8(r.read("data.dv")).unwrap();
    let size_line = text
        .lines()
        .find(|l| l.starts_with("size = "))
        .unwrap()
        .to_string();
    r.write(
        "data.dv",
        text.replace(&size_line, "size = 12")
            .replace("files = 6", "files = 3")
            .as_bytes(),
    );
    r.git(&["commit", "-q", "-am", "misstated"]);
    let bare = server.path().join("reg.git");
    r.git(&["push", "-q", "-f", bare.to_str().unwrap(), "main"]);
    let url = format!("file://{}", bare.display());
    let p = TestRepo::new();
    let e = p.fails(&["import", &url, "data", "-o", "ds"]);
    assert!(
        e.contains("12 bytes in 3 file(s)") && e.contains("damaged"),
        "{e}"
    );
    assert!(!p.p("ds").exists() && !p.p("ds.dv").exists());
    // A URL that leads nowhere leaves no mirror behind.
    let me = Reader::new();
    me.fails(&["ls", "file:///no/such/registry.git"]);
    let sources = me.home.path().join("cache/dv/sources");
    let mirrors: Vec<_> = fs::read_dir(&sources)
        .map(|d| {
            d.flatten()
                .filter(|e| e.path().join("git").exists())
                .count()
        })
        .unwrap_or(0)
        .to_string()
        .into_bytes();
    assert_eq!(mirrors, b"0");
}

#[test]
fn get_and_ls_of_an_import_that_was_not_pushed_follow_it_to_its_source() {
    let remote = tempfile::tempdir().unwrap();
    let (r, url, server) = registry(|r| {
        r.ok(&[
            "remote",
            "add",
            "origin",
            remote.path().to_str().unwrap(),
            "--default",
        ]);
    });
    // A project imports from the registry and pushes (its own data only) to a remote of its own.
    let p = TestRepo::new();
    let own = tempfile::tempdir().unwrap();
    p.ok(&[
        "remote",
        "add",
        "origin",
        own.path().join("r").to_str().unwrap(),
        "--default",
    ]);
    p.ok(&["import", &url, "data/sub", "-o", "imp"]);
    p.write("mine.txt", b"mine");
    p.ok(&["add", "mine.txt"]);
    p.ok(&["push"]);
    p.git(&["add", "-A"]);
    p.git(&["commit", "-q", "-m", "project"]);
    let bare = server.path().join("project.git");
    git_in(
        p.path(),
        &["clone", "-q", "--bare", ".", bare.to_str().unwrap()],
    );
    let purl = format!("file://{}", bare.display());
    let me = Reader::new();
    let listing = me.json(&["ls", &purl, "imp", "-R"]);
    assert_eq!(names(&listing), ["imp/big.bin", "imp/s.txt"]);
    // Only trees were read for that: the 300 kB file's data is not in the reader's cache.
    let cached: u64 = files_below(&me.home.path().join("cache/dv/sources"))
        .iter()
        .filter(|p| {
            p.extension().is_some_and(|e| e == "pack") && !p.to_string_lossy().contains("/git/")
        })
        .map(|p| fs::metadata(p).unwrap().len())
        .sum();
    assert!(cached < 50_000, "ls cached {cached} bytes of packs");
    me.ok(&["get", &purl, "imp"]);
    assert_eq!(
        fs::read(me.work.path().join("imp/big.bin")).unwrap(),
        r.read("data/sub/big.bin")
    );
}

#[test]
fn gets_running_at_once_in_one_folder_each_finish() {
    let remote = tempfile::tempdir().unwrap();
    let (r, url, _server) = registry(|r| {
        r.ok(&[
            "remote",
            "add",
            "origin",
            remote.path().to_str().unwrap(),
            "--default",
        ]);
    });
    let me = Reader::new();
    let children: Vec<_> = ["data/sub", "data/f1.txt", "data/f2.txt"]
        .iter()
        .enumerate()
        .map(|(i, p)| {
            me.cmd(me.work.path(), &["get", &url, p, "-o", &format!("g{i}")])
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for c in children {
        let out = c.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    assert_eq!(
        fs::read(me.work.path().join("g0/big.bin")).unwrap(),
        r.read("data/sub/big.bin")
    );
    assert_eq!(
        fs::read(me.work.path().join("g2")).unwrap(),
        r.read("data/f2.txt")
    );
}
