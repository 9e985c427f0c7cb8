//! Repositories and remotes written by each storage format, committed as fixtures (`tests/fixtures/formatN/`:
//! `repo/` holds what a user commits and dv keeps under `.dv/` — config, pointer files, packs and their
//! indexes, no `state.db` —, `remote/` a folder remote the same version was pushed to). They were made once by
//! [`write_fixtures`] with the dv of their time and are never rewritten: whatever dv's writer does later, the
//! bytes it must read stay pinned. Each must check out bit for bit, pull into a fresh clone, and take new
//! versions, in its own format and after `dv format upgrade`.

use std::fs;
use std::path::Path;

use crate::common::*;

/// Formats with a committed fixture.
const FORMATS: [u32; 2] = [1, 2];

/// The data each fixture holds: 300 small files in one folder (a split tree in format 2), a file in a
/// subfolder, an empty file, and a 300 KiB file of text-like bytes (a chunked file with a manifest).
fn fixture_files() -> Vec<(String, Vec<u8>)> {
    let mut files = Vec::new();
    for i in 0..300 {
        files.push((
            format!("data/f{i:03}.txt"),
            format!("file {i}\n").repeat(1 + i % 7).into_bytes(),
        ));
    }
    files.push(("data/sub/b.bin".into(), bytes(1, 3000)));
    files.push(("data/sub/empty".into(), Vec::new()));
    let words = ["tensor ", "weight ", "epoch ", "loss ", "0.125 ", "batch\n"];
    let mut model = Vec::new();
    let mut x = 7u64;
    while model.len() < 300 * 1024 {
        x = x
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        model.extend_from_slice(words[(x >> 33) as usize % words.len()].as_bytes());
    }
    files.push(("model.bin".into(), model));
    files
}

fn fixture_dir(format: u32) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("tests/fixtures/format{format}"))
}

/// A Git repository made of the fixture's committed files (one commit), its remote copied beside it.
fn from_fixture(format: u32) -> (TestRepo, tempfile::TempDir) {
    let r = TestRepo::bare_git();
    copy_tree(&fixture_dir(format).join("repo"), r.path());
    r.git(&["add", "-A"]);
    r.git(&["commit", "-q", "-m", "fixture"]);
    let remote = folder_remote(&r);
    copy_tree(&fixture_dir(format).join("remote"), remote.path());
    r.git(&["commit", "-q", "-am", "remote"]);
    (r, remote)
}

fn assert_files(root: &Path, files: &[(String, Vec<u8>)], what: &str) {
    for (path, data) in files {
        let got = fs::read(root.join(path)).unwrap_or_else(|e| panic!("{what}: {path}: {e}"));
        assert!(&got == data, "{what}: {path} differs");
    }
}

#[test]
fn every_format_s_fixture_checks_out_and_pulls_bit_for_bit() {
    let files = fixture_files();
    for format in FORMATS {
        let (r, _remote) = from_fixture(format);
        let shown = r.json(&["format"]);
        assert_eq!(shown["from"], format, "{shown}");
        // The cache as committed (no state.db: dv indexes the packs it finds).
        r.ok(&["checkout"]);
        assert_files(r.path(), &files, &format!("format {format} checkout"));
        let st = r.json(&["status"]);
        assert!(
            st["datasets"]
                .as_array()
                .unwrap()
                .iter()
                .all(|d| d["state"] == "unchanged" && d["in_cache"] == true),
            "format {format}: {st}"
        );
        r.ok(&["fsck"]);
        // The remote as committed, into a fresh clone.
        let clone = clone_of(&r);
        ok_at(clone.path(), &["pull"]);
        assert_files(clone.path(), &files, &format!("format {format} pull"));
        ok_at(clone.path(), &["fsck", "--remote", "origin"]);
    }
}

#[test]
fn every_format_s_fixture_takes_new_versions_before_and_after_an_upgrade() {
    let files = fixture_files();
    for format in FORMATS {
        let (r, _remote) = from_fixture(format);
        r.git(&["tag", "first"]);
        r.ok(&["checkout"]);
        // A new version in the fixture's own format, pushed to its remote.
        r.write("data/f007.txt", b"changed\n");
        r.write("data/new.txt", b"new\n");
        r.ok(&["add", "data"]);
        assert_eq!(r.json(&["format"])["from"], format);
        r.git(&["commit", "-q", "-am", "v2"]);
        r.ok(&["push"]);
        // After an upgrade: the next version is written in the newest format; both older ones still check out.
        if format < 2 {
            r.ok(&["format", "upgrade"]);
            r.git(&["commit", "-q", "-am", "upgrade"]);
        }
        r.write("model.bin", b"a new model\n");
        r.ok(&["add", "model.bin"]);
        r.git(&["commit", "-q", "-am", "v3"]);
        r.ok(&["push"]);
        r.ok(&["checkout", "--rev", "first"]);
        assert_files(
            r.path(),
            &files,
            &format!("format {format}, first version again"),
        );
        r.ok(&["checkout"]);
        assert_eq!(r.read("data/f007.txt"), b"changed\n");
        assert_eq!(r.read("model.bin"), b"a new model\n");
        // A fresh clone gets every version from the remote.
        let clone = clone_of(&r);
        ok_at(clone.path(), &["pull"]);
        assert_eq!(
            fs::read(clone.path().join("data/new.txt")).unwrap(),
            b"new\n"
        );
        ok_at(clone.path(), &["pull", "--rev", "first"]);
        ok_at(clone.path(), &["checkout", "--rev", "first"]);
        assert_files(clone.path(), &files, &format!("format {format}, clone"));
        ok_at(clone.path(), &["fsck", "--remote", "origin"]);
    }
}

/// Writes `tests/fixtures/formatN/` with today's dv, for the format `DV_FIXTURE_FORMAT` names. Run once, when
/// a format is new (`DV_FIXTURE_FORMAT=N cargo test --test cli -- oldformat::write_fixtures --ignored`), and
/// commit the result; never rerun for an existing format: the point of a fixture is that it stays as written.
#[test]
#[ignore = "writes tests/fixtures/formatN/ once, for a new format"]
fn write_fixtures() {
    let format: u32 = std::env::var("DV_FIXTURE_FORMAT")
        .expect("DV_FIXTURE_FORMAT=N")
        .parse()
        .unwrap();
    let out = fixture_dir(format);
    assert!(
        !out.exists(),
        "{} exists: fixtures are never rewritten",
        out.display()
    );
    let r = TestRepo::new();
    if format > 1 {
        r.ok(&["format", "upgrade", "--to", &format.to_string()]);
    }
    for (path, data) in fixture_files() {
        r.write(&path, data.as_slice());
    }
    r.ok(&["add", "data", "model.bin"]);
    let remote = folder_remote(&r);
    r.ok(&["push"]);
    r.ok(&["remote", "remove", "origin"]);
    let repo_out = out.join("repo");
    for name in [
        ".gitignore",
        "data.dv",
        "model.bin.dv",
        ".dv/config.toml",
        ".dv/.gitignore",
    ] {
        let dest = repo_out.join(name);
        fs::create_dir_all(dest.parent().unwrap()).unwrap();
        fs::copy(r.p(name), dest).unwrap();
    }
    for sub in ["packs", "index"] {
        copy_tree(
            &r.p(&format!(".dv/cache/{sub}")),
            &repo_out.join(".dv/cache").join(sub),
        );
    }
    copy_tree(remote.path(), &out.join("remote"));
}
