//! `dv migrate dvc` and `dv migrate lfs`: repositories made by the real DVC (the committed fixture
//! tests/fixtures/dvc/repo.tar.gz, and a fresh one when `DV_TEST_DVC` names a `dvc` program) and by the real
//! git-lfs (when `git lfs` is installed), migrated and then used with dv: every commit's data bit for bit,
//! the pipeline's steps up to date and reproducible, gc keeping old commits' data, push and a pull in a clone.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::common::*;

/// The fixture (or `tarball`) unpacked: `(temp folder, repo/, remote/)`.
fn unpack(tarball: &Path) -> (tempfile::TempDir, PathBuf, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new("tar")
        .arg("xzf")
        .arg(tarball)
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "tar: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (repo, remote) = (dir.path().join("repo"), dir.path().join("remote"));
    (dir, repo, remote)
}

fn fixture() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/dvc/repo.tar.gz")
}

fn json_at(dir: &Path, args: &[&str]) -> serde_json::Value {
    let mut a = args.to_vec();
    a.push("--json");
    serde_json::from_str(&ok_at(dir, &a)).expect("valid JSON")
}

/// The files of a version: (repository path, bytes).
type Files = Vec<(&'static str, &'static [u8])>;

/// The three commits of the fixture, oldest first: (commit, the files each dataset holds then).
fn history(repo: &Path) -> Vec<(String, Files)> {
    let log = git_in(repo, &["log", "--format=%H", "--reverse", "main"]);
    let c: Vec<String> = log.lines().take(3).map(str::to_string).collect();
    assert_eq!(c.len(), 3, "{log}");
    vec![
        (
            c[0].clone(),
            vec![
                ("data/raw.csv", b"id,value\n1,10\n2,20\n" as &[u8]),
                ("images/a.png", b"png-1"),
                ("images/sub/b.png", b"png-2"),
                ("out/prepared.csv", b"1,20\n2,40\n"),
                ("model/model.txt", b"epochs=3\n1,20\n2,40\n"),
            ],
        ),
        (
            c[1].clone(),
            vec![
                ("data/raw.csv", b"id,value\n1,10\n2,20\n3,30\n"),
                ("images/a.png", b"png-1"),
                ("images/c.png", b"png-3"),
                ("images/sub/b.png", b"png-2"),
                ("out/prepared.csv", b"1,20\n2,40\n3,60\n"),
                ("model/model.txt", b"epochs=3\n1,20\n2,40\n3,60\n"),
            ],
        ),
        (
            c[2].clone(),
            vec![
                ("data/raw.csv", b"id,value\n1,10\n2,20\n3,30\n"),
                ("data/crlf.txt", b"id,value\r\n1,11\r\n"),
                ("images/a.png", b"png-1"),
                ("images/c.png", b"png-3"),
                ("images/sub/b.png", b"png-2"),
                ("out/prepared.csv", b"1,20\n2,40\n3,60\n"),
                ("model/model.txt", b"epochs=5\n1,20\n2,40\n3,60\n"),
            ],
        ),
    ]
}

/// Every file below the datasets' folders (and the single-file datasets) in `repo`, as (path, bytes).
fn data_files(repo: &Path) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    for top in ["images", "out", "model"] {
        for f in files_below(&repo.join(top)) {
            let rel = f.strip_prefix(repo).unwrap().to_str().unwrap().to_string();
            out.push((rel, fs::read(&f).unwrap()));
        }
    }
    for f in ["data/raw.csv", "data/crlf.txt"] {
        if let Ok(b) = fs::read(repo.join(f)) {
            out.push((f.to_string(), b));
        }
    }
    out.sort();
    out
}

fn expected(files: &[(&str, &[u8])]) -> Vec<(String, Vec<u8>)> {
    let mut v: Vec<(String, Vec<u8>)> = files
        .iter()
        .map(|(p, b)| (p.to_string(), b.to_vec()))
        .collect();
    v.sort();
    v
}

fn commit_all(repo: &Path, msg: &str) {
    git_in(repo, &["add", "-A"]);
    git_in(repo, &["commit", "-q", "-m", msg]);
}

/// The whole story on a DVC repository made by DVC (`repo`, its folder remote beside it): migrate with
/// history, check every commit's data bit for bit, the steps, repro, gc, push and a pull in a fresh clone.
fn migrate_with_history(repo: &Path) {
    ok_at(repo, &["init", "-q"]);
    let dry = json_at(repo, &["migrate", "dvc", "--all-commits", "--dry-run"]);
    assert_eq!(dry["dry_run"], true);
    assert_eq!(dry["datasets"].as_array().unwrap().len(), 5, "{dry:#}");
    assert!(!repo.join("images.dv").exists() && !repo.join(".dv/dvc-map").exists());
    assert!(!repo.join(".dv/steps").exists(), "a dry run writes nothing");

    let r = json_at(repo, &["migrate", "dvc", "--all-commits", "--remove-dvc"]);
    let paths: Vec<&str> = r["datasets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["path"].as_str().unwrap())
        .collect();
    assert_eq!(
        paths,
        ["data/crlf.txt", "data/raw.csv", "images", "model", "out"]
    );
    assert_eq!(r["files"], 7);
    assert_eq!(r["commits"], 3);
    // Every version: 5 outputs now, and 1 raw.csv, 1 images, 1 out and 1 model of earlier commits.
    assert_eq!(r["mapped_versions"], 10, "{r:#}");
    let steps: Vec<(&str, &str)> = r["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| (s["name"].as_str().unwrap(), s["state"].as_str().unwrap()))
        .collect();
    assert_eq!(
        steps,
        [("prepare", "up-to-date"), ("train", "up-to-date")],
        "{r:#}"
    );
    assert!(r["skipped"].as_array().unwrap().is_empty(), "{r:#}");
    assert!(r["corrupt"].as_array().unwrap().is_empty());
    assert!(
        !repo.join(".dvc").exists()
            && !repo.join("dvc.yaml").exists()
            && !repo.join("images.dvc").exists()
    );
    commit_all(repo, "migrated to dv");

    // Up to date right after migration, and after a change to a parameter, reproducible.
    let st = json_at(repo, &["status"]);
    assert!(
        st["steps"]
            .as_array()
            .unwrap()
            .iter()
            .all(|s| s["state"] == "up-to-date"),
        "{st:#}"
    );
    let params = fs::read_to_string(repo.join("params.yaml")).unwrap();
    fs::write(
        repo.join("params.yaml"),
        params.replace("epochs: 5", "epochs: 7"),
    )
    .unwrap();
    let rep = json_at(repo, &["repro"]);
    let ran: Vec<&str> = rep["steps"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["action"] == "ran")
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    assert_eq!(ran, ["train"], "{rep:#}");
    assert_eq!(
        fs::read(repo.join("model/model.txt")).unwrap(),
        b"epochs=7\n1,20\n2,40\n3,60\n"
    );
    fs::write(repo.join("params.yaml"), params).unwrap();
    ok_at(repo, &["repro"]);
    commit_all(repo, "back to five epochs");

    // log and diff see the commits DVC made: two versions of images (the migration changed no data).
    let hist = history(repo);
    let log = json_at(repo, &["log", "images"]);
    let versions: Vec<&str> = log[0]["versions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["commit"]["id"].as_str().unwrap())
        .collect();
    assert_eq!(
        versions,
        [hist[1].0.as_str(), hist[0].0.as_str()],
        "{log:#}"
    );
    let diff = json_at(repo, &["diff", &hist[0].0, &hist[2].0]);
    let changed: Vec<(&str, &str)> = diff
        .as_array()
        .unwrap()
        .iter()
        .map(|d| (d["path"].as_str().unwrap(), d["state"].as_str().unwrap()))
        .collect();
    assert_eq!(
        changed,
        [
            ("data/crlf.txt", "added"),
            ("data/raw.csv", "modified"),
            ("images", "modified"),
            ("model", "modified"),
            ("out", "modified")
        ],
        "{diff:#}"
    );

    // gc of every commit keeps old commits' data; each commit's data comes back bit for bit.
    ok_at(repo, &["gc", "--all-commits"]);
    for (commit, files) in &hist {
        ok_at(repo, &["checkout", "--rev", commit, "--force"]);
        let mut want = expected(files);
        // A dataset the commit does not have is left as the work tree holds it.
        if !files.iter().any(|(p, _)| *p == "data/crlf.txt") {
            want.push(("data/crlf.txt".into(), b"id,value\r\n1,11\r\n".to_vec()));
            want.sort();
        }
        assert_eq!(data_files(repo), want, "data at {commit}");
    }
    ok_at(repo, &["checkout", "--force"]);

    // Push every commit's data to a dv remote; a fresh clone pulls it and checks out the first commit.
    let remote = tempfile::tempdir().unwrap();
    ok_at(
        repo,
        &["remote", "add", "origin", remote.path().to_str().unwrap()],
    );
    git_in(repo, &["add", "-A"]);
    git_in(repo, &["commit", "-q", "-m", "remote"]);
    ok_at(repo, &["push", "--all-commits"]);
    let clone = tempfile::tempdir().unwrap();
    git_in(clone.path(), &["clone", "-q", repo.to_str().unwrap(), "."]);
    ok_at(clone.path(), &["pull"]);
    assert_eq!(data_files(clone.path()), data_files(repo));
    ok_at(clone.path(), &["fetch", "--all-commits"]);
    let (first, files) = &hist[0];
    ok_at(
        clone.path(),
        &[
            "checkout",
            "--rev",
            first,
            "data/raw.csv",
            "images",
            "out",
            "model",
        ],
    );
    let mut want = expected(files);
    want.push(("data/crlf.txt".into(), b"id,value\r\n1,11\r\n".to_vec()));
    want.sort();
    assert_eq!(data_files(clone.path()), want);
}

#[test]
fn dvc_fixture_migrates_with_its_history_pipeline_and_remote() {
    let (_tmp, repo, _remote) = unpack(&fixture());
    migrate_with_history(&repo);
}

/// The same story on a repository the installed DVC makes now (`DV_TEST_DVC=/path/to/dvc`).
#[test]
fn a_repository_made_by_the_installed_dvc_migrates() {
    let Some(dvc) = std::env::var_os("DV_TEST_DVC") else {
        eprintln!("skipped: dvc not installed (set DV_TEST_DVC to a dvc program to run this test)");
        return;
    };
    let work = tempfile::tempdir().unwrap();
    let tarball = work.path().join("fresh.tar.gz");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/make-dvc-fixture.sh");
    let out = Command::new("bash")
        .arg(&script)
        .arg(&tarball)
        .env("DVC", &dvc)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (_tmp, repo, _remote) = unpack(&tarball);
    migrate_with_history(&repo);
}

/// A stage whose `dvc.lock` no longer matches the work tree is stale after migration, saying why; what cannot
/// map (foreach, plots, `cache: false` outputs) is listed, not dropped.
#[test]
fn stages_that_dvc_would_rerun_are_stale_and_what_cannot_map_is_listed() {
    let (_tmp, repo, _remote) = unpack(&fixture());
    let params = fs::read_to_string(repo.join("params.yaml")).unwrap();
    fs::write(
        repo.join("params.yaml"),
        params.replace("epochs: 5", "epochs: 6"),
    )
    .unwrap();
    fs::write(
        repo.join("prepare.sh"),
        "mkdir -p out\nawk -F, 'NR > 1' data/raw.csv > out/prepared.csv\n",
    )
    .unwrap();
    let yaml = fs::read_to_string(repo.join("dvc.yaml")).unwrap();
    fs::write(
        repo.join("dvc.yaml"),
        yaml + "  many:\n    foreach: [a, b]\n    do:\n      cmd: echo ${item}\n  report:\n    cmd: echo\n    outs:\n    - report.json:\n        cache: false\nplots:\n- model/model.txt\n",
    )
    .unwrap();
    ok_at(&repo, &["init", "-q"]);
    let r = json_at(&repo, &["migrate", "dvc"]);
    let steps = r["steps"].as_array().unwrap();
    let state = |name: &str| {
        steps
            .iter()
            .find(|s| s["name"] == name)
            .unwrap_or_else(|| panic!("{name}: {r:#}"))
    };
    assert_eq!(state("prepare")["state"], "stale", "{r:#}");
    assert!(
        state("prepare")["notes"].to_string().contains("prepare.sh"),
        "{r:#}"
    );
    assert_eq!(state("train")["state"], "stale");
    assert!(
        state("train")["notes"].to_string().contains("train.epochs"),
        "{r:#}"
    );
    let skipped = r["skipped"].to_string();
    for what in ["many", "foreach", "report", "cache: false", "plots"] {
        assert!(skipped.contains(what), "{what} not listed: {skipped}");
    }
    // dv status agrees, and dv repro brings them up to date.
    let st = json_at(&repo, &["status"]);
    assert!(
        st["steps"]
            .as_array()
            .unwrap()
            .iter()
            .all(|s| s["state"] == "stale"),
        "{st:#}"
    );
    ok_at(&repo, &["repro"]);
    let st = json_at(&repo, &["status"]);
    assert!(
        st["steps"]
            .as_array()
            .unwrap()
            .iter()
            .all(|s| s["state"] == "up-to-date"),
        "{st:#}"
    );
    assert_eq!(
        fs::read(repo.join("model/model.txt")).unwrap(),
        b"epochs=6\n1,10\n2,20\n3,30\n"
    );
}

#[test]
fn objects_missing_from_the_dvc_cache_come_from_its_folder_remote() {
    let (_tmp, repo, _remote) = unpack(&fixture());
    fs::remove_dir_all(repo.join(".dvc/cache")).unwrap();
    fs::remove_dir_all(repo.join("images")).unwrap();
    ok_at(&repo, &["init", "-q"]);
    let r = json_at(&repo, &["migrate", "dvc"]);
    assert_eq!(r["objects_from_cache"], 0);
    assert_eq!(r["objects_from_remote"], 10, "{r:#}");
    // The folder DVC's cache could no longer restore is checked out from dv's.
    assert_eq!(fs::read(repo.join("images/sub/b.png")).unwrap(), b"png-2");
    assert_eq!(fs::read(repo.join("images/c.png")).unwrap(), b"png-3");
    let st = ok_at(&repo, &["status"]);
    assert!(!st.contains("modified") && !st.contains("missing"), "{st}");
}

/// DVC's `symlink` cache type: the work tree's files are links into `.dvc/cache`. They become real files, so
/// removing DVC's cache leaves nothing dangling.
#[test]
fn a_work_tree_of_links_into_dvcs_cache_gets_real_files() {
    let (_tmp, repo, _remote) = unpack(&fixture());
    let link = |path: &str, target: &str| {
        fs::remove_file(repo.join(path)).unwrap();
        std::os::unix::fs::symlink(target, repo.join(path)).unwrap();
    };
    link(
        "data/raw.csv",
        "../.dvc/cache/files/md5/bb/d304055be67c211495c95f4e697eb2",
    );
    let abs = repo.join(".dvc/cache/files/md5/2c/bff4a1953d64ee69e56b9f5c8866c6");
    link("images/sub/b.png", abs.to_str().unwrap());
    ok_at(&repo, &["init", "-q"]);
    ok_at(&repo, &["migrate", "dvc", "--all-commits", "--remove-dvc"]);
    for (p, want) in [
        ("data/raw.csv", &b"id,value\n1,10\n2,20\n3,30\n"[..]),
        ("images/sub/b.png", b"png-2"),
    ] {
        let m = fs::symlink_metadata(repo.join(p)).unwrap();
        assert!(m.is_file(), "{p} is a regular file now");
        assert_eq!(fs::read(repo.join(p)).unwrap(), want);
    }
    let st = ok_at(&repo, &["status"]);
    assert!(!st.contains("modified") && !st.contains("missing"), "{st}");
}

#[test]
fn objects_come_from_a_dvc_s3_remote() {
    let (_tmp, repo, remote) = unpack(&fixture());
    let backend = crate::remote::Backend::s3();
    let crate::remote::Backend::S3 {
        server,
        bucket,
        prefix,
    } = &backend
    else {
        unreachable!()
    };
    copy_tree(&remote, &backend.files());
    fs::write(
        repo.join(".dvc/config"),
        format!("[core]\n    remote = s3\n['remote \"s3\"']\n    url = s3://{bucket}/{prefix}\n    endpointurl = {}\n", server.endpoint()),
    )
    .unwrap();
    fs::write(
        repo.join(".dvc/config.local"),
        format!(
            "['remote \"s3\"']\n    access_key_id = {}\n    secret_access_key = {}\n",
            crate::s3_server::ACCESS_KEY,
            crate::s3_server::SECRET_KEY
        ),
    )
    .unwrap();
    fs::remove_dir_all(repo.join(".dvc/cache")).unwrap();
    ok_at(&repo, &["init", "-q"]);
    let r = json_at(&repo, &["migrate", "dvc"]);
    assert_eq!(r["objects_from_remote"], 10, "{r:#}");
    let st = ok_at(&repo, &["status"]);
    assert!(!st.contains("modified"), "{st}");
}

#[test]
fn a_corrupted_cache_object_is_reported_and_taken_from_the_remote_never_stored() {
    let (_tmp, repo, remote) = unpack(&fixture());
    // raw.csv's object at HEAD: bbd304055be67c211495c95f4e697eb2.
    let obj = repo.join(".dvc/cache/files/md5/bb/d304055be67c211495c95f4e697eb2");
    fs::write(&obj, b"id,value\n1,10\n2,20\n3,31\n").unwrap();
    fs::remove_file(repo.join("data/raw.csv")).unwrap();
    ok_at(&repo, &["init", "-q"]);
    let r = json_at(&repo, &["migrate", "dvc"]);
    let corrupt = r["corrupt"].as_array().unwrap();
    assert_eq!(corrupt.len(), 1, "{r:#}");
    assert!(
        corrupt[0]
            .as_str()
            .unwrap()
            .contains("bbd304055be67c211495c95f4e697eb2")
    );
    assert_eq!(r["objects_from_remote"], 1);
    assert_eq!(
        fs::read(repo.join("data/raw.csv")).unwrap(),
        b"id,value\n1,10\n2,20\n3,30\n"
    );
    // The corrupt bytes were never stored: no dataset can name them, and fsck finds the cache sound.
    ok_at(&repo, &["fsck"]);

    // Corrupt in the cache and gone from the remote: an error, and nothing written.
    let (_tmp2, repo2, remote2) = unpack(&fixture());
    fs::write(
        repo2.join(".dvc/cache/files/md5/bb/d304055be67c211495c95f4e697eb2"),
        b"bad",
    )
    .unwrap();
    fs::remove_file(remote2.join("files/md5/bb/d304055be67c211495c95f4e697eb2")).unwrap();
    ok_at(&repo2, &["init", "-q"]);
    let err = fails_at(&repo2, &["migrate", "dvc"]);
    assert!(
        err.contains("bbd304055be67c211495c95f4e697eb2")
            && err.contains("not found with a matching MD5"),
        "{err}"
    );
    assert!(!repo2.join("data/raw.csv.dv").exists() && !repo2.join("images.dv").exists());
    assert!(!repo2.join(".dv/steps").exists());
    let _ = remote;
}

/// A DVC 2 repository: objects in `.dvc/cache/ab/…`, `.dvc` files without `hash: md5`, and a text file whose
/// recorded MD5 is that of its bytes with CRLF turned into LF.
#[test]
fn dvc2_layout_and_crlf_md5_are_accepted() {
    let r = TestRepo::new();
    let crlf = b"a,b\r\n1,2\r\n";
    let md5 = md5_hex(b"a,b\n1,2\n");
    r.write(&format!(".dvc/cache/{}/{}", &md5[..2], &md5[2..]), crlf);
    r.write(".dvc/config", b"");
    r.write(
        "t.csv.dvc",
        format!("outs:\n- md5: {md5}\n  size: 10\n  path: t.csv\n").as_bytes(),
    );
    r.git(&["add", "t.csv.dvc", ".dvc/config"]);
    let j = r.json(&["migrate", "dvc"]);
    assert_eq!(j["objects_from_cache"], 1, "{j:#}");
    assert_eq!(r.read("t.csv"), crlf);
}

fn md5_hex(data: &[u8]) -> String {
    let tmp = tempfile::NamedTempFile::new().unwrap();
    fs::write(tmp.path(), data).unwrap();
    let out = Command::new("md5sum").arg(tmp.path()).output().unwrap();
    String::from_utf8(out.stdout).unwrap()[..32].to_string()
}

/// Hostile DVC files: a clear error, and nothing written.
#[test]
fn hostile_dvc_files_are_refused_before_anything_is_written() {
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        (
            "up.dvc",
            b"outs:\n- md5: bbd304055be67c211495c95f4e697eb2\n  path: ../../etc/passwd\n".to_vec(),
            "outside the repository",
        ),
        (
            "abs.dvc",
            b"outs:\n- md5: bbd304055be67c211495c95f4e697eb2\n  path: /etc/passwd\n".to_vec(),
            "absolute",
        ),
        (
            "git.dvc",
            b"outs:\n- md5: bbd304055be67c211495c95f4e697eb2\n  path: .git/hooks/pre-commit\n"
                .to_vec(),
            ".git",
        ),
        (
            "garbage.dvc",
            b"outs: [: {\n\x01".to_vec(),
            "not valid YAML",
        ),
        (
            "huge.dvc",
            {
                let mut v = b"outs:\n".to_vec();
                v.resize(5 * 1024 * 1024, b' ');
                v
            },
            "too large",
        ),
    ];
    for (name, text, why) in cases {
        let r = TestRepo::new();
        r.write(".dvc/config", b"");
        r.write(name, &text);
        r.git(&["add", name]);
        let err = r.fails(&["migrate", "dvc"]);
        assert!(err.contains(why) && err.contains(name), "{name}: {err}");
        assert!(
            files_below(r.path())
                .iter()
                .all(|p| !p.to_str().unwrap().ends_with(".dv")),
            "{name}"
        );
        assert!(!r.p(".dv/steps").exists());
    }
    // A folder manifest (its MD5 right) listing `../x`.
    let r = TestRepo::new();
    let manifest = br#"[{"md5": "bbd304055be67c211495c95f4e697eb2", "relpath": "../../x"}]"#;
    let md5 = md5_hex(manifest);
    r.write(
        &format!(".dvc/cache/files/md5/{}/{}.dir", &md5[..2], &md5[2..]),
        manifest,
    );
    r.write(".dvc/config", b"");
    r.write(
        "d.dvc",
        format!("outs:\n- md5: {md5}.dir\n  hash: md5\n  path: d\n").as_bytes(),
    );
    r.git(&["add", "d.dvc"]);
    let err = r.fails(&["migrate", "dvc"]);
    assert!(err.contains("relpath") && err.contains("../../x"), "{err}");
    assert!(!r.p("d.dv").exists() && !r.p("d").exists());
}

#[test]
fn without_a_dvc_folder_it_says_so() {
    let r = TestRepo::new();
    let err = r.fails(&["migrate", "dvc"]);
    assert!(err.contains("not a DVC repository"), "{err}");
}

/// git-lfs: a real repository with `git lfs track`, when `git lfs` is installed.
#[test]
fn git_lfs_files_become_datasets() {
    let lfs = Command::new("git").args(["lfs", "version"]).output();
    if !lfs.is_ok_and(|o| o.status.success()) {
        eprintln!("skipped: git-lfs not installed (apt-get install git-lfs)");
        return;
    }
    let r = TestRepo::bare_git();
    let home = tempfile::tempdir().unwrap();
    let git = |args: &[&str]| {
        lfs_git(home.path(), r.path(), args);
    };
    git(&["lfs", "install", "--local"]);
    git(&["lfs", "track", "*.bin"]);
    let old = bytes(6, 300_000);
    r.write("models/w.bin", &old);
    git(&["add", "-A"]);
    git(&["commit", "-q", "-m", "lfs v1"]);
    let first = git_in(r.path(), &["rev-parse", "HEAD"]).trim().to_string();
    let big = bytes(7, 300_000);
    r.write("models/w.bin", &big);
    r.write("small.bin", b"tiny");
    r.write("code.txt", b"not lfs");
    git(&["add", "-A"]);
    git(&["commit", "-q", "-m", "lfs"]);
    r.ok(&["init", "-q"]);
    let dry = r.json(&["migrate", "lfs", "--dry-run"]);
    assert_eq!(dry["datasets"].as_array().unwrap().len(), 2, "{dry:#}");
    assert!(!r.p("models/w.bin.dv").exists());
    let j = r.json(&["migrate", "lfs", "--remove-lfs", "--all-commits"]);
    assert_eq!(j["objects_from_cache"], 3, "{j:#}");
    assert_eq!(j["mapped_versions"], 3, "{j:#}");
    assert!(r.p("models/w.bin.dv").exists() && r.p("small.bin.dv").exists());
    let attrs = fs::read_to_string(r.p(".gitattributes")).unwrap();
    assert!(!attrs.contains("filter=lfs"), "{attrs}");
    let tracked = git_in(r.path(), &["ls-files"]);
    assert!(
        !tracked.contains("models/w.bin\n") && tracked.contains("models/w.bin.dv"),
        "{tracked}"
    );
    git(&["commit", "-q", "-m", "to dv"]);
    // The data is dv's now: delete it and check it out again, bit for bit.
    fs::remove_file(r.p("models/w.bin")).unwrap();
    r.ok(&["checkout"]);
    assert_eq!(r.read("models/w.bin"), big);
    assert_eq!(r.read("small.bin"), b"tiny");
    // The commit from before the migration, through the LFS map, after a gc of every commit.
    r.ok(&["gc", "--all-commits"]);
    r.ok(&["checkout", "--rev", &first, "models/w.bin"]);
    assert_eq!(r.read("models/w.bin"), old);
}

/// The same without git-lfs installed: pointer files and `.git/lfs/objects` laid out as git-lfs lays them out,
/// two commits, the old one restorable after migration; a damaged object is reported, not stored.
#[test]
fn lfs_history_is_restorable_through_the_lfs_map() {
    let r = TestRepo::new();
    let lfs_commit = |data: &[u8], msg: &str| -> String {
        let oid = lfs_file(&r, "w.bin", data);
        r.git(&["commit", "-q", "-m", msg]);
        oid
    };
    let (v1, v2) = (bytes(1, 70_000), bytes(2, 90_000));
    lfs_commit(&v1, "v1");
    let first = r.git(&["rev-parse", "HEAD"]).trim().to_string();
    let oid2 = lfs_commit(&v2, "v2");
    // A damaged copy of v2 in .git/lfs: not used; the work tree has only the pointer text, so it is an error.
    r.write(
        &format!(".git/lfs/objects/{}/{}/{oid2}", &oid2[..2], &oid2[2..4]),
        b"damaged",
    );
    let err = r.fails(&["migrate", "lfs", "--all-commits"]);
    assert!(err.contains(&oid2), "{err}");
    assert!(!r.p("w.bin.dv").exists());
    r.write(
        &format!(".git/lfs/objects/{}/{}/{oid2}", &oid2[..2], &oid2[2..4]),
        &v2,
    );
    let j = r.json(&["migrate", "lfs", "--all-commits", "--remove-lfs"]);
    assert_eq!(j["mapped_versions"], 2, "{j:#}");
    assert_eq!(r.read("w.bin"), v2);
    r.git(&["commit", "-q", "-m", "to dv"]);
    // log sees both LFS versions (the migration commit changes no data); diff compares them.
    let log = r.json(&["log", "w.bin"]);
    let sizes: Vec<u64> = log[0]["versions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["size"].as_u64().unwrap())
        .collect();
    assert_eq!(sizes, [90_000, 70_000], "{log:#}");
    let diff = r.json(&["diff", &first, "HEAD"]);
    assert_eq!(diff[0]["state"], "modified", "{diff:#}");
    r.ok(&["gc", "--all-commits"]);
    r.ok(&["checkout", "--rev", &first, "w.bin"]);
    assert_eq!(r.read("w.bin"), v1);
    r.ok(&["checkout", "w.bin"]);
    assert_eq!(r.read("w.bin"), v2);
}

/// A file of [`hand_made`]: its path, its bytes, and what its `.dvc` file records in their place, if not them.
type HandMade<'a> = (&'a str, &'a [u8], Option<&'a [u8]>);

/// A DVC 3 repository made by hand: `files` as (path, bytes) with their objects in `.dvc/cache/files/md5`, and
/// a `.dvc` file for each recording `recorded` (its MD5 and size) in place of the bytes when given.
fn hand_made(files: &[HandMade<'_>]) -> TestRepo {
    let r = TestRepo::new();
    r.write(".dvc/config", b"");
    for (path, bytes, recorded) in files {
        let rec = recorded.unwrap_or(bytes);
        let md5 = md5_hex(rec);
        r.write(
            &format!(".dvc/cache/files/md5/{}/{}", &md5[..2], &md5[2..]),
            bytes,
        );
        r.write(
            &format!("{path}.dvc"),
            format!(
                "outs:\n- md5: {md5}\n  size: {}\n  hash: md5\n  path: {path}\n",
                rec.len()
            )
            .as_bytes(),
        );
        r.git(&["add", &format!("{path}.dvc")]);
    }
    r.git(&["add", ".dvc/config"]);
    r
}

/// Review findings: --remove-dvc alone would delete DVC's cache, the only copy of older commits' data.
#[test]
fn remove_dvc_without_all_commits_is_refused_before_anything_is_written() {
    let r = hand_made(&[("a.txt", b"v1\n", None)]);
    let err = r.fails(&["migrate", "dvc", "--remove-dvc"]);
    assert!(err.contains("--all-commits"), "{err}");
    assert!(r.p(".dvc/cache").is_dir() && !r.p("a.txt.dv").exists());
}

/// Review findings: an empty file's object (the empty chunk) is stored, so the dataset can be checked out
/// and pushed.
#[test]
fn an_empty_file_migrates_with_its_object() {
    let r = hand_made(&[("empty.txt", b"", None)]);
    r.ok(&["migrate", "dvc"]);
    fs::remove_file(r.p("empty.txt")).unwrap();
    r.ok(&["checkout", "empty.txt"]);
    assert_eq!(r.read("empty.txt"), b"");
    r.ok(&["fsck"]);
}

/// Review findings: bytes that match the recorded MD5 only as DVC 2's CRLF form, and not the recorded size,
/// are not stored in place of the recorded file.
#[test]
fn an_object_whose_size_differs_from_the_record_is_refused() {
    let r = hand_made(&[("a.txt", b"line1\r\nline2\r\n", Some(b"line1\nline2\n"))]);
    let err = r.fails(&["migrate", "dvc"]);
    assert!(err.contains("14 bytes where DVC recorded 12"), "{err}");
    assert!(!r.p("a.txt.dv").exists());
}

/// Review findings: an object that is no regular file (a FIFO would block forever) is not read.
#[test]
fn a_fifo_in_dvcs_cache_is_not_read() {
    let r = hand_made(&[("a.txt", b"v1\n", None)]);
    let md5 = md5_hex(b"v1\n");
    let obj = r.p(&format!(".dvc/cache/files/md5/{}/{}", &md5[..2], &md5[2..]));
    fs::remove_file(&obj).unwrap();
    let made = Command::new("mkfifo").arg(&obj).status().unwrap();
    assert!(made.success());
    let err = r.fails(&["migrate", "dvc"]);
    assert!(err.contains("not found with a matching MD5"), "{err}");
}

/// Review findings: a work tree link into DVC's cache pointing at a newer object than the one recorded (a
/// `.dvc` file checked out without `dvc checkout`) keeps what it points to, and dv sees it as changed.
#[test]
fn a_link_to_a_newer_object_keeps_its_content() {
    let r = hand_made(&[("a.txt", b"v1\n", None)]);
    let newer = md5_hex(b"v2 precious\n");
    let obj = format!(".dvc/cache/files/md5/{}/{}", &newer[..2], &newer[2..]);
    r.write(&obj, b"v2 precious\n");
    fs::remove_file(r.p("a.txt")).ok();
    std::os::unix::fs::symlink(r.p(&obj), r.p("a.txt")).unwrap();
    r.ok(&["migrate", "dvc"]);
    let m = fs::symlink_metadata(r.p("a.txt")).unwrap();
    assert!(m.is_file(), "a regular file now");
    assert_eq!(r.read("a.txt"), b"v2 precious\n");
    let status = r.ok(&["status"]);
    assert!(status.contains("a.txt: modified"), "{status}");
}

/// Review findings: `--remove-lfs` writes the data only where the work tree holds the pointer text: an edit
/// not yet committed stays, and dv sees it as changed.
#[test]
fn remove_lfs_keeps_an_uncommitted_edit() {
    let r = TestRepo::new();
    lfs_file(&r, "w.bin", &bytes(3, 50_000));
    r.git(&["commit", "-q", "-m", "v1"]);
    r.write("w.bin", b"precious uncommitted edit");
    r.ok(&["migrate", "lfs", "--remove-lfs"]);
    assert_eq!(r.read("w.bin"), b"precious uncommitted edit");
    let status = r.ok(&["status"]);
    assert!(status.contains("w.bin: modified"), "{status}");
}

/// Review findings: an output Git tracks (a `cache: false` metrics file recorded in dvc.lock) is not made a
/// dataset: its pointer would be one dv refuses. It is listed as not migrated.
#[test]
fn an_output_git_tracks_stays_in_git() {
    let r = hand_made(&[("a.txt", b"v1\n", None)]);
    r.write("metrics.json", b"{\"acc\": 1}\n");
    let md5 = md5_hex(b"{\"acc\": 1}\n");
    r.write(
        "dvc.lock",
        format!(
            "schema: '2.0'\nstages:\n  train:\n    cmd: echo\n    outs:\n    - path: metrics.json\n      hash: md5\n      md5: {md5}\n      size: 11\n"
        )
        .as_bytes(),
    );
    r.write("dvc.yaml", b"stages:\n  train:\n    cmd: echo\n    metrics:\n    - metrics.json:\n        cache: false\n");
    r.git(&["add", "metrics.json", "dvc.lock", "dvc.yaml"]);
    let j = r.json(&["migrate", "dvc"]);
    assert!(!r.p("metrics.json.dv").exists(), "{j:#}");
    assert!(r.p("a.txt.dv").exists());
    let skipped = j["skipped"].to_string();
    assert!(
        skipped.contains("metrics.json") && skipped.contains("in Git"),
        "{j:#}"
    );
    r.ok(&["status"]);
}

/// Review findings: an old commit's version whose object the migration could not store stops `checkout
/// --rev` of that commit with an error naming it (before anything is written), where it gave a silent mix of
/// two revisions; naming the other datasets still works, and gc and push over history go on without it.
#[test]
fn a_version_not_migrated_stops_checkout_of_its_commit() {
    let r = hand_made(&[("a.txt", b"a1\n", None), ("b.txt", b"b1\n", None)]);
    r.git(&["commit", "-q", "-m", "v1"]);
    let first = r.git(&["rev-parse", "HEAD"]).trim().to_string();
    let lost = md5_hex(b"a1\n");
    fs::remove_file(r.p(&format!(
        ".dvc/cache/files/md5/{}/{}",
        &lost[..2],
        &lost[2..]
    )))
    .unwrap();
    for (path, data) in [("a.txt", b"a2\n"), ("b.txt", b"b2\n")] {
        let md5 = dvc_object(&r, data);
        r.write(path, data);
        r.write(
            &format!("{path}.dvc"),
            format!("outs:\n- md5: {md5}\n  size: 3\n  hash: md5\n  path: {path}\n").as_bytes(),
        );
        r.git(&["add", &format!("{path}.dvc")]);
    }
    r.git(&["commit", "-q", "-m", "v2"]);
    let j = r.json(&["migrate", "dvc", "--all-commits"]);
    assert!(j["skipped"].to_string().contains("a.txt at"), "{j:#}");
    r.git(&["add", "-A"]);
    r.git(&["commit", "-q", "-m", "to dv"]);

    let err = r.refuses(&["checkout", "--rev", &first]);
    assert!(
        err.contains("'a.txt' at") && err.contains(&lost) && err.contains("cannot restore"),
        "{err}"
    );
    assert_eq!(r.read("a.txt"), b"a2\n", "nothing written");
    assert_eq!(r.read("b.txt"), b"b2\n", "nothing written");
    let err = r.refuses(&["checkout", "--rev", &first, "a.txt"]);
    assert!(err.contains(&lost), "{err}");
    let err = r.refuses(&["get", ".", "a.txt", "--rev", &first, "-o", "out.txt"]);
    assert!(err.contains(&lost) && !r.p("out.txt").exists(), "{err}");
    let err = r.refuses(&["ls", ".", "--rev", &first]);
    assert!(err.contains(&lost), "{err}");

    r.ok(&["checkout", "--rev", &first, "b.txt"]);
    assert_eq!(r.read("b.txt"), b"b1\n");
    r.ok(&["checkout", "b.txt"]);
    let out = r.dv(&["gc", "--all-commits", "--grace", "0"]);
    assert!(out.status.success(), "{out:?}");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains(&lost),
        "{out:?}"
    );
    r.ok(&["checkout", "--rev", &first, "b.txt"]);
    assert_eq!(r.read("b.txt"), b"b1\n");
}

/// Review findings: a stage with `wdir:` migrates (dvc.lock records its paths relative to that folder, without
/// naming it), and its commands run as DVC runs them: each line on its own (a `cd` in one does not reach the
/// next), stopping at the first that fails, with `DVC_ROOT` and `DVC_STAGE` set.
#[test]
fn a_stage_with_wdir_migrates_and_runs_its_lines_as_dvc_does() {
    let r = hand_made(&[("a.txt", b"v1\n", None)]);
    r.write("sub/w/in.txt", b"x\n");
    let out = b"x\nsub/dvc.yaml:s\n";
    r.write("sub/w/out.txt", out);
    let cmd = "      cd ..\n      test -f in.txt\n      test -f \"$DVC_ROOT/sub/dvc.yaml\"\n      cp in.txt out.txt && echo \"$DVC_STAGE\" >> out.txt\n";
    r.write(
        "sub/dvc.yaml",
        format!(
            "stages:\n  s:\n    wdir: w\n    cmd: |-\n{cmd}    deps:\n    - in.txt\n    outs:\n    - out.txt\n  t:\n    cmd:\n    - echo one > t.txt\n    - \"false\"\n    - echo two >> t.txt\n    deps: [w/out.txt]\n    outs: [t.txt]\n"
        )
        .as_bytes(),
    );
    r.write(
        "sub/dvc.lock",
        format!(
            "schema: '2.0'\nstages:\n  s:\n    cmd: |-\n{cmd}    deps:\n    - path: in.txt\n      hash: md5\n      md5: {}\n      size: 2\n    outs:\n    - path: out.txt\n      hash: md5\n      md5: {}\n      size: {}\n",
            md5_hex(b"x\n"),
            md5_hex(out),
            out.len()
        )
        .as_bytes(),
    );
    dvc_object(&r, out);
    r.git(&["add", "sub/dvc.yaml", "sub/dvc.lock", "sub/w/in.txt"]);
    let j = r.json(&["migrate", "dvc"]);
    let datasets: Vec<&str> = j["datasets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["path"].as_str().unwrap())
        .collect();
    assert_eq!(datasets, ["a.txt", "sub/w/out.txt"], "{j:#}");
    assert!(!r.p("out.txt").exists() && !r.p("sub/out.txt").exists());
    let steps = j["steps"].as_array().unwrap();
    let s = steps.iter().find(|s| s["name"] == "s").unwrap();
    assert_eq!(s["state"], "up-to-date", "{j:#}");

    // The command reruns (an input changed) as DVC runs it.
    r.write("sub/w/in.txt", b"y\n");
    r.ok(&["repro", "sub/w/out.txt"]);
    assert_eq!(r.read("sub/w/out.txt"), b"y\nsub/dvc.yaml:s\n");
    // A list stops at its first failing entry.
    r.refuses(&["repro", "sub/t.txt"]);
    assert_eq!(r.read("sub/t.txt"), b"one\n");
}

/// Writes `data` as git-lfs would keep file `path`: its object in `.git/lfs/objects`, the pointer text in the
/// work tree, staged, with `*.bin` tracked by git-lfs in `.gitattributes`. Returns the object id.
fn lfs_file(r: &TestRepo, path: &str, data: &[u8]) -> String {
    let tmp = tempfile::NamedTempFile::new().unwrap();
    fs::write(tmp.path(), data).unwrap();
    let out = Command::new("sha256sum").arg(tmp.path()).output().unwrap();
    let oid = String::from_utf8(out.stdout).unwrap()[..64].to_string();
    r.write(
        &format!(".git/lfs/objects/{}/{}/{oid}", &oid[..2], &oid[2..4]),
        data,
    );
    r.write(
        path,
        format!(
            "version https://git-lfs.github.com/spec/v1\noid sha256:{oid}\nsize {}\n",
            data.len()
        )
        .as_bytes(),
    );
    if !r.p(".gitattributes").exists() {
        r.write(
            ".gitattributes",
            b"*.bin filter=lfs diff=lfs merge=lfs -text export-ignore\n",
        );
    }
    r.git(&["add", path, ".gitattributes"]);
    oid
}

/// Review findings: plain `migrate lfs` (no --remove-lfs) hands the files to dv (their index entries go, as a
/// pointer file beside a file Git tracks is refused): dv accepts every pointer it wrote. `--remove-lfs` then
/// drops only git-lfs's attributes, keeping the others on the line. A damaged LFS pointer is reported.
#[test]
fn plain_lfs_migration_leaves_pointers_dv_accepts() {
    let r = TestRepo::new();
    let data = bytes(4, 40_000);
    lfs_file(&r, "w.bin", &data);
    r.write(
        "bad.bin",
        b"version https://git-lfs.github.com/spec/v1\noid sha256:xyz\n",
    );
    r.git(&["add", "bad.bin"]);
    r.git(&["commit", "-q", "-m", "lfs"]);
    let j = r.json(&["migrate", "lfs"]);
    assert!(j["skipped"].to_string().contains("bad.bin"), "{j:#}");
    assert_eq!(r.read("w.bin"), data);
    let status = r.dv(&["status"]);
    let err = String::from_utf8_lossy(&status.stderr);
    assert!(status.status.success() && !err.contains("warning"), "{err}");
    let tracked = r.git(&["ls-files"]);
    assert!(
        !tracked.contains("w.bin\n") && tracked.contains("w.bin.dv"),
        "{tracked}"
    );
    let attrs = fs::read_to_string(r.p(".gitattributes")).unwrap();
    assert!(
        attrs.contains("filter=lfs"),
        "kept without --remove-lfs: {attrs}"
    );
    r.git(&["commit", "-q", "-m", "to dv"]);
    fs::remove_file(r.p("w.bin")).unwrap();
    r.ok(&["checkout"]);
    assert_eq!(r.read("w.bin"), data);
    r.ok(&["migrate", "lfs", "--remove-lfs"]);
    let attrs = fs::read_to_string(r.p(".gitattributes")).unwrap();
    assert!(
        !attrs.contains("lfs") && attrs.contains("*.bin -text export-ignore"),
        "{attrs}"
    );
}

/// Review findings: a second migration keeps a pointer file `dv add` changed since the first (it named the
/// newer version), and says so.
#[test]
fn a_second_migration_keeps_what_dv_add_recorded_since() {
    let r = hand_made(&[("a.txt", b"v1\n", None)]);
    r.ok(&["migrate", "dvc"]);
    r.write("a.txt", b"v2, added with dv\n");
    r.ok(&["add", "a.txt"]);
    let pointer = r.read("a.txt.dv");
    let j = r.json(&["migrate", "dvc"]);
    assert_eq!(r.read("a.txt.dv"), pointer, "{j:#}");
    assert_eq!(r.read("a.txt"), b"v2, added with dv\n");
    assert!(j["skipped"].to_string().contains("kept"), "{j:#}");
}

/// Review findings: what DVC's files hold that dv does not take is said, not dropped: a `.dvcignore`, an old
/// single-stage `.dvc` file (not an import); a backslash in a folder manifest's name (part of the name, as DVC
/// writes `/` between names) is refused by name rather than made a folder; `--remove-dvc` keeps a `dvc.yaml`
/// whose stages did not all convert; `-q` prints only what was not migrated.
#[test]
fn what_does_not_map_is_said_and_kept() {
    let r = hand_made(&[("a.txt", b"v1\n", None)]);
    r.write(".dvcignore", b"# comment\n*.tmp\n");
    // A DVC 1 single-stage file with a command.
    let out = b"made\n";
    let md5 = dvc_object(&r, out);
    r.write(
        "made.txt.dvc",
        format!("cmd: echo made > made.txt\ndeps:\n- path: a.txt\n  md5: {}\nouts:\n- md5: {md5}\n  path: made.txt\n", md5_hex(b"v1\n")).as_bytes(),
    );
    // A folder whose manifest names `x\y`.
    let inner = b"inner\n";
    let inner_md5 = md5_hex(inner);
    r.write(
        &format!(
            ".dvc/cache/files/md5/{}/{}",
            &inner_md5[..2],
            &inner_md5[2..]
        ),
        inner,
    );
    let manifest = format!("[{{\"md5\": \"{inner_md5}\", \"relpath\": \"x\\\\y\"}}]");
    let dir_md5 = md5_hex(manifest.as_bytes());
    r.write(
        &format!(
            ".dvc/cache/files/md5/{}/{}.dir",
            &dir_md5[..2],
            &dir_md5[2..]
        ),
        manifest.as_bytes(),
    );
    r.write(
        "d.dvc",
        format!("outs:\n- md5: {dir_md5}.dir\n  path: d\n").as_bytes(),
    );
    r.write(
        "dvc.yaml",
        b"stages:\n  many:\n    foreach: [a, b]\n    do:\n      cmd: echo ${item}\n",
    );
    r.git(&["add", "made.txt.dvc", "d.dvc", "dvc.yaml", ".dvcignore"]);
    let err = r.fails(&["migrate", "dvc"]);
    assert!(
        err.contains("relpath") && err.contains("backslash"),
        "{err}"
    );
    assert!(!r.p("d").exists() && !r.p("a.txt.dv").exists());
    r.git(&["rm", "-q", "--cached", "d.dvc"]);
    fs::remove_file(r.p("d.dvc")).unwrap();
    r.git(&["commit", "-q", "-m", "dvc"]);
    let quiet = r.ok(&["-q", "migrate", "dvc", "--all-commits", "--remove-dvc"]);
    for line in quiet.lines() {
        assert!(line.starts_with("not migrated: "), "{quiet}");
    }
    assert!(quiet.contains(".dvcignore"), "{quiet}");
    assert!(
        quiet.contains("made.txt.dvc")
            && quiet.contains("single-stage")
            && !quiet.contains("import"),
        "{quiet}"
    );
    assert!(
        quiet.contains("dvc.yaml") && r.p("dvc.yaml").exists(),
        "{quiet}"
    );
    assert!(!r.p(".dvc").exists() && !r.p("a.txt.dvc").exists());
    assert_eq!(r.read("made.txt"), out);
}

/// Review findings: two branches that each migrated merge their maps without a conflict (Git merges
/// `.dv/dvc-map` by keeping both sides' lines), and every version stays restorable.
#[test]
fn two_branches_that_each_migrated_merge_their_maps() {
    let r = hand_made(&[("a.txt", b"v1\n", None)]);
    r.git(&["commit", "-q", "-m", "dvc v1"]);
    let first = r.git(&["rev-parse", "HEAD"]).trim().to_string();
    r.git(&["branch", "other"]);
    let add = |path: &str, data: &[u8]| {
        let md5 = dvc_object(&r, data);
        r.write(path, data);
        r.write(
            &format!("{path}.dvc"),
            format!(
                "outs:\n- md5: {md5}\n  size: {}\n  path: {path}\n",
                data.len()
            )
            .as_bytes(),
        );
        r.git(&["add", &format!("{path}.dvc")]);
        r.git(&["commit", "-q", "-m", path]);
    };
    add("b.txt", b"b on main\n");
    r.ok(&["migrate", "dvc", "--all-commits"]);
    r.git(&["commit", "-q", "-m", "migrated on main"]);
    r.git(&["checkout", "-q", "other"]);
    for f in ["a.txt", "b.txt"] {
        fs::remove_file(r.p(f)).ok();
    }
    add("c.txt", b"c on other\n");
    r.ok(&["migrate", "dvc", "--all-commits"]);
    r.git(&["commit", "-q", "-m", "migrated on other"]);
    r.git(&["checkout", "-q", "main"]);
    r.git(&["merge", "-q", "--no-edit", "other"]);
    let map = fs::read_to_string(r.p(".dv/dvc-map")).unwrap();
    assert!(!map.contains("<<<<<<<"), "{map}");
    r.ok(&["checkout"]);
    assert_eq!(r.read("b.txt"), b"b on main\n");
    assert_eq!(r.read("c.txt"), b"c on other\n");
    r.ok(&["checkout", "--rev", &first, "a.txt"]);
    assert_eq!(r.read("a.txt"), b"v1\n");
}

/// Review findings: a `--remove-dvc` stopped part way (some of DVC's files gone, their removal not staged) can
/// be run again, whether `.dvc/` is still there or gone too; it finishes the removal and stages it.
#[test]
fn a_stopped_remove_dvc_can_be_run_again() {
    for dvc_folder_gone in [false, true] {
        let r = hand_made(&[("a.txt", b"v1\n", None), ("b.txt", b"b\n", None)]);
        r.git(&["add", ".dvc/config"]);
        r.git(&["commit", "-q", "-m", "dvc"]);
        r.ok(&["migrate", "dvc", "--all-commits"]);
        // As a removal stopped after its first files (and, in the second case, after `.dvc/` too).
        fs::remove_file(r.p("a.txt.dvc")).unwrap();
        if dvc_folder_gone {
            fs::remove_file(r.p("b.txt.dvc")).unwrap();
            fs::remove_dir_all(r.p(".dvc")).unwrap();
        }
        let j = r.json(&["migrate", "dvc", "--all-commits", "--remove-dvc"]);
        let removed = j["removed"].to_string();
        assert!(
            removed.contains("a.txt.dvc") && removed.contains("b.txt.dvc"),
            "{j:#}"
        );
        assert!(!r.p(".dvc").exists() && !r.p("b.txt.dvc").exists());
        let tracked = r.git(&["ls-files"]);
        assert!(
            !tracked.contains("a.txt.dvc") && !tracked.contains(".dvc/config"),
            "{tracked}"
        );
        assert_eq!(r.read("a.txt"), b"v1\n");
        r.ok(&["status"]);
    }
}

/// Review findings: an output DVC keeps in Git (`cache: false`, a metrics file), which dvc.lock lists without
/// saying so, is no data of dv's at any commit: `checkout --rev`, `diff` and `gc --all-commits` of commits
/// that record it work (they failed, calling it not migrated, or a pointer for a file Git tracks when its
/// bytes matched a cached object), and the history pass does not report it as missing.
#[test]
fn outputs_dvc_keeps_in_git_are_not_data_in_history() {
    let r = hand_made(&[("a.txt", b"1\n", None)]);
    let out = b"out\n";
    let md5 = dvc_object(&r, out);
    r.write("out.txt", out);
    // keep.txt's bytes are those of a cached object (a.txt's); metrics.json's are in no cache.
    r.write("keep.txt", b"1\n");
    r.write("metrics.json", b"{\"acc\": 1}\n");
    r.write(
        "dvc.yaml",
        b"stages:\n  s:\n    cmd: echo\n    outs:\n    - out.txt\n    - keep.txt:\n        cache: false\n    metrics:\n    - metrics.json:\n        cache: false\n",
    );
    r.write(
        "dvc.lock",
        format!(
            "schema: '2.0'\nstages:\n  s:\n    cmd: echo\n    outs:\n    - path: out.txt\n      md5: {md5}\n      size: 4\n    - path: keep.txt\n      md5: {}\n      size: 2\n    - path: metrics.json\n      md5: {}\n      size: 11\n",
            md5_hex(b"1\n"),
            md5_hex(b"{\"acc\": 1}\n")
        )
        .as_bytes(),
    );
    r.git(&["add", "dvc.yaml", "dvc.lock", "keep.txt", "metrics.json"]);
    r.git(&["commit", "-q", "-m", "c1"]);
    let first = r.git(&["rev-parse", "HEAD"]).trim().to_string();
    let j = r.json(&["migrate", "dvc", "--all-commits"]);
    let skipped = j["skipped"].to_string();
    assert!(!skipped.contains("not found"), "{j:#}");
    r.git(&["add", "-A"]);
    r.git(&["commit", "-q", "-m", "to dv"]);
    for rev in [first.as_str(), "HEAD"] {
        let out = r.dv(&["checkout", "--rev", rev]);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            out.status.success() && !err.contains("keep.txt"),
            "{rev}: {err}"
        );
    }
    assert_eq!(r.read("keep.txt"), b"1\n");
    r.ok(&["diff", &first, "HEAD"]);
    let gc = r.dv(&["gc", "--all-commits", "--grace", "0"]);
    let err = String::from_utf8_lossy(&gc.stderr);
    assert!(gc.status.success() && !err.contains("warning"), "{err}");
}

/// Review findings: a stage's params given as a whole file (`- p.json:`, as `dvc stage add -p p.json:` writes
/// it) migrate, reading every key dvc.lock recorded.
#[test]
fn params_of_a_whole_file_migrate() {
    let r = hand_made(&[("a.txt", b"1\n", None)]);
    r.write("p.json", b"{\"lr\": 1, \"n\": 2}\n");
    let out = b"hi\n";
    let md5 = dvc_object(&r, out);
    r.write(
        "dvc.yaml",
        b"stages:\n  t:\n    cmd: echo hi > o.txt\n    params:\n    - p.json:\n    outs:\n    - o.txt\n",
    );
    r.write(
        "dvc.lock",
        format!(
            "schema: '2.0'\nstages:\n  t:\n    cmd: echo hi > o.txt\n    params:\n      p.json:\n        lr: 1\n        n: 2\n    outs:\n    - path: o.txt\n      md5: {md5}\n      size: 3\n"
        )
        .as_bytes(),
    );
    r.git(&["add", "dvc.yaml", "dvc.lock", "p.json"]);
    let j = r.json(&["migrate", "dvc"]);
    assert_eq!(j["steps"][0]["state"], "up-to-date", "{j:#}");
    r.write("p.json", b"{\"lr\": 5, \"n\": 2}\n");
    let status = r.ok(&["status"]);
    assert!(
        status.contains("stale") || status.contains("o.txt"),
        "{status}"
    );
    let dry = r.ok(&["repro", "--dry-run"]);
    assert!(dry.contains("p.json"), "{dry}");
}

/// Review findings: a second `--all-commits` migration takes what the first stored from dv's cache (DVC's
/// cache may have lost it since) and leaves the step files as they are; stages of the same name in two
/// dvc.yaml files both become steps, the one in a folder prefixed with it.
#[test]
fn a_second_migration_needs_no_dvc_cache_and_same_named_stages_both_convert() {
    let r = hand_made(&[("a.txt", b"1\n", None)]);
    let out = b"o\n";
    let md5 = dvc_object(&r, out);
    for dir in ["", "sub/"] {
        r.write(
            &format!("{dir}dvc.yaml"),
            b"stages:\n  train:\n    cmd: echo o > o.txt\n    outs:\n    - o.txt\n",
        );
        r.write(
            &format!("{dir}dvc.lock"),
            format!(
                "schema: '2.0'\nstages:\n  train:\n    cmd: echo o > o.txt\n    outs:\n    - path: o.txt\n      md5: {md5}\n      size: 2\n"
            )
            .as_bytes(),
        );
        r.git(&["add", &format!("{dir}dvc.yaml"), &format!("{dir}dvc.lock")]);
    }
    r.write(".dvc/.gitignore", b"/cache\n");
    r.git(&["add", ".dvc/.gitignore"]);
    r.git(&["commit", "-q", "-m", "c1"]);
    let j = r.json(&["migrate", "dvc", "--all-commits"]);
    let mut names: Vec<&str> = j["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    names.sort();
    assert_eq!(names, ["sub-train", "train"], "{j:#}");
    r.git(&["add", "-A"]);
    r.git(&["commit", "-q", "-m", "to dv"]);
    fs::remove_dir_all(r.p(".dvc/cache")).unwrap();
    r.ok(&["migrate", "dvc", "--all-commits"]);
    let changed = r.git(&["status", "--porcelain"]);
    assert!(changed.trim().is_empty(), "{changed}");
}

/// Review findings: a git-lfs pattern over a whole folder (`data/**`) no longer catches dv's own files: the
/// pointer files and `.gitignore` the migration writes stay plain Git files through a later `git add -A`, and a
/// later `--remove-lfs` run never makes a dataset of a pointer file; a fresh clone gets the data.
#[test]
fn a_folder_wide_lfs_pattern_does_not_catch_dvs_own_files() {
    let lfs = Command::new("git").args(["lfs", "version"]).output();
    if !lfs.is_ok_and(|o| o.status.success()) {
        eprintln!("skipped: git-lfs not installed (apt-get install git-lfs)");
        return;
    }
    let r = TestRepo::bare_git();
    let home = tempfile::tempdir().unwrap();
    let git = |dir: &Path, args: &[&str]| lfs_git(home.path(), dir, args);
    git(r.path(), &["lfs", "install", "--local"]);
    git(r.path(), &["lfs", "track", "data/**"]);
    let data = bytes(8, 5_000);
    r.write("data/x.csv", &data);
    git(r.path(), &["add", "-A"]);
    git(r.path(), &["commit", "-q", "-m", "lfs"]);
    r.ok(&["init", "-q"]);
    r.ok(&["migrate", "lfs", "--all-commits"]);
    git(r.path(), &["add", "-A"]);
    git(r.path(), &["commit", "-q", "-m", "to dv"]);
    let in_lfs = git(r.path(), &["lfs", "ls-files", "--name-only"]);
    assert!(
        !in_lfs.contains("x.csv.dv") && !in_lfs.contains(".gitignore"),
        "{in_lfs}"
    );
    let j = r.json(&["migrate", "lfs", "--all-commits", "--remove-lfs"]);
    assert!(j["datasets"].as_array().unwrap().is_empty(), "{j:#}");
    assert!(!r.p("data/x.csv.dv.dv").exists());
    let remote = tempfile::tempdir().unwrap();
    r.ok(&[
        "remote",
        "add",
        "o",
        remote.path().to_str().unwrap(),
        "--default",
    ]);
    git(r.path(), &["add", "-A"]);
    git(r.path(), &["commit", "-q", "-m", "no lfs"]);
    r.ok(&["push", "--all-commits"]);
    let clone = tempfile::tempdir().unwrap();
    let c = clone.path().join("c");
    git(
        clone.path(),
        &["clone", "-q", r.path().to_str().unwrap(), "c"],
    );
    ok_at(&c, &["init", "-q"]);
    ok_at(&c, &["pull"]);
    assert_eq!(fs::read(c.join("data/x.csv")).unwrap(), data);
}

/// Review findings: a subfolder's stage with `wdir: ..` (the work tree's root) migrates; a line of `cmd` that is
/// only a comment runs as nothing, as for DVC; a whole-file params file with a key added makes the step stale.
#[test]
fn root_wdir_comment_lines_and_new_param_keys() {
    let r = hand_made(&[("a.txt", b"1\n", None)]);
    r.write("sub/in.txt", b"x\n");
    r.write("sub/p.json", b"{\"k\": 1}\n");
    let out = b"x\n";
    let md5 = dvc_object(&r, out);
    let cmd = "      # copy it\n      cp sub/in.txt sub/out.txt\n      # done\n";
    r.write(
        "sub/dvc.yaml",
        format!("stages:\n  go:\n    wdir: ..\n    cmd: |-\n{cmd}    deps: [sub/in.txt]\n    params:\n    - sub/p.json:\n    outs: [sub/out.txt]\n").as_bytes(),
    );
    r.write(
        "sub/dvc.lock",
        format!(
            "schema: '2.0'\nstages:\n  go:\n    cmd: |-\n{cmd}    deps:\n    - path: sub/in.txt\n      md5: {md5}\n      size: 2\n    params:\n      sub/p.json:\n        k: 1\n    outs:\n    - path: sub/out.txt\n      md5: {md5}\n      size: 2\n"
        )
        .as_bytes(),
    );
    r.git(&["add", "sub"]);
    let j = r.json(&["migrate", "dvc"]);
    assert_eq!(j["steps"][0]["state"], "up-to-date", "{j:#}");
    assert_eq!(r.read("sub/out.txt"), out);
    r.write("sub/p.json", b"{\"k\": 1, \"new\": 7}\n");
    let dry = r.ok(&["repro", "--dry-run"]);
    assert!(dry.contains("go"), "{dry}");
    r.write("sub/in.txt", b"y\n");
    r.ok(&["repro"]);
    assert_eq!(r.read("sub/out.txt"), b"y\n");
}

/// Runs git in `dir` with a private HOME (for `git lfs install --local`) and LFS smudging off; returns stdout.
fn lfs_git(home: &Path, dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .args(args)
        .current_dir(dir)
        .env("HOME", home)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_LFS_SKIP_SMUDGE", "1")
        .env("GIT_AUTHOR_NAME", "t")
        .env("GIT_AUTHOR_EMAIL", "t@example.com")
        .env("GIT_COMMITTER_NAME", "t")
        .env("GIT_COMMITTER_EMAIL", "t@example.com")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// Final review findings: under `**` (which also catches `.gitattributes`), dv's files and the attributes files
/// stay plain Git files; `--remove-lfs` with `**` in a subfolder's `.gitattributes` (which it empties, and
/// which git-lfs stored itself) finishes and stages the pointer; a real `*.dv` file (DV video) in git-lfs is
/// data, migrated as a dataset (`clip.dv.dv`), never put in Git whole.
#[test]
fn lfs_patterns_over_everything_leave_dvs_and_gits_own_files_plain() {
    let lfs = Command::new("git").args(["lfs", "version"]).output();
    if !lfs.is_ok_and(|o| o.status.success()) {
        eprintln!("skipped: git-lfs not installed (apt-get install git-lfs)");
        return;
    }
    let home = tempfile::tempdir().unwrap();
    let git = |r: &TestRepo, args: &[&str]| lfs_git(home.path(), r.path(), args);
    // `**` at the root, with a DV video.
    let r = TestRepo::bare_git();
    git(&r, &["lfs", "install", "--local"]);
    git(&r, &["lfs", "track", "**"]);
    let (x, clip) = (bytes(9, 3_000), bytes(10, 5_000));
    r.write("data/x.bin", &x);
    r.write("clip.dv", &clip);
    git(&r, &["add", "-A"]);
    git(&r, &["commit", "-q", "-m", "lfs"]);
    r.ok(&["init", "-q"]);
    r.ok(&["migrate", "lfs"]);
    git(&r, &["add", "-A"]);
    git(&r, &["commit", "-q", "-m", "to dv"]);
    let in_lfs = git(&r, &["lfs", "ls-files", "--name-only"]);
    assert!(in_lfs.trim().is_empty(), "{in_lfs}");
    assert!(r.p("clip.dv.dv").exists() && r.p("data/x.bin.dv").exists());
    let size = git(&r, &["cat-file", "-s", ":clip.dv.dv"]);
    assert!(size.trim().parse::<u64>().unwrap() < 1000, "{size}");
    let tracked = git(&r, &["ls-files"]);
    assert!(!tracked.contains("clip.dv\n"), "{tracked}");
    // `**` in a subfolder, then --remove-lfs.
    let r = TestRepo::bare_git();
    git(&r, &["lfs", "install", "--local"]);
    fs::create_dir_all(r.p("data")).unwrap();
    lfs_git(home.path(), &r.p("data"), &["lfs", "track", "**"]);
    r.write("data/x.bin", &x);
    git(&r, &["add", "-A"]);
    git(&r, &["commit", "-q", "-m", "lfs"]);
    r.ok(&["init", "-q"]);
    r.ok(&["migrate", "lfs", "--remove-lfs"]);
    let staged = git(&r, &["diff", "--cached", "--name-status"]);
    assert!(staged.contains("data/x.bin.dv"), "{staged}");
    assert_eq!(r.read("data/x.bin"), x);
    r.ok(&["status"]);
}

/// Final review findings: a whole-file params file with a key added as null differs from dvc.lock (DVC says so
/// too): the step is stale right after migration.
#[test]
fn a_null_added_to_a_whole_params_file_is_a_change() {
    let r = hand_made(&[("a.txt", b"1\n", None)]);
    r.write("p.yaml", b"lr: 1\nnew: null\n");
    let out = b"hi\n";
    let md5 = dvc_object(&r, out);
    r.write(
        "dvc.yaml",
        b"stages:\n  t:\n    cmd: echo hi > o.txt\n    params:\n    - p.yaml:\n    outs:\n    - o.txt\n",
    );
    let lock = |params: &str| {
        format!(
            "schema: '2.0'\nstages:\n  t:\n    cmd: echo hi > o.txt\n    params:\n      p.yaml:\n{params}    outs:\n    - path: o.txt\n      md5: {md5}\n      size: 3\n"
        )
    };
    r.write("dvc.lock", lock("        lr: 1\n").as_bytes());
    r.git(&["add", "dvc.yaml", "dvc.lock", "p.yaml"]);
    let j = r.json(&["migrate", "dvc", "--dry-run"]);
    assert_eq!(j["steps"][0]["state"], "stale", "{j:#}");
    r.write("dvc.lock", lock("        lr: 1\n        new:\n").as_bytes());
    let j = r.json(&["migrate", "dvc"]);
    assert_eq!(j["steps"][0]["state"], "up-to-date", "{j:#}");
}

/// Puts `data` into the hand-made DVC cache of `r` (DVC 3's layout); returns its MD5.
fn dvc_object(r: &TestRepo, data: &[u8]) -> String {
    let md5 = md5_hex(data);
    r.write(
        &format!(".dvc/cache/files/md5/{}/{}", &md5[..2], &md5[2..]),
        data,
    );
    md5
}
