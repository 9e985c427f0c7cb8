//! Repository format 2 (`dv format upgrade`): large folders and files split into small nodes. What format 1
//! wrote stays readable and unchanged; an edit then writes a few small objects; push, pull, checkout of either
//! format, gc and fsck all walk the split nodes.

use crate::common::*;
use std::fs;

/// A folder of more than 256 entries and a file of more than 1,024 chunks (90 MiB: about 1,190 chunks): both
/// split in format 2.
fn large_data(r: &TestRepo) {
    for i in 0..600u64 {
        r.write(
            &format!("data/imgs/f{i:04}.bin"),
            &bytes(i, 100 + (i as usize * 7) % 300),
        );
    }
    r.write("data/big.bin", &bytes(9_999, 90 << 20));
}

fn pointer_version(r: &TestRepo, path: &str) -> String {
    String::from_utf8(r.read(path))
        .unwrap()
        .lines()
        .find(|l| l.starts_with("dv = "))
        .unwrap()
        .to_string()
}

#[test]
fn format_2_splits_large_data_and_format_1_versions_stay_as_they_are() {
    let r = TestRepo::new();
    let remote = folder_remote(&r);
    large_data(&r);
    r.ok(&["add", "data"]);
    r.git(&["add", "-A"]);
    r.git(&["commit", "-q", "-m", "v1"]);
    r.ok(&["push"]);
    assert_eq!(pointer_version(&r, "data.dv"), "dv = 1");
    // In format 1 a one-file edit rewrites the whole 600-entry tree.
    r.write("data/imgs/f0100.bin", b"edited in format 1");
    let flat = r.json(&["add", "data"])["new_stored_bytes"]
        .as_u64()
        .unwrap();
    r.git(&["add", "-A"]);
    r.git(&["commit", "-q", "-m", "v1b"]);
    r.ok(&["push"]);
    let v1 = r.read("data.dv");

    let up = r.json(&["format", "upgrade"]);
    assert_eq!(
        (up["from"].as_u64(), up["to"].as_u64()),
        (Some(1), Some(2)),
        "{up}"
    );
    assert_eq!(r.json(&["format"])["split"], true);
    assert!(
        String::from_utf8(r.read(".dv/config.toml"))
            .unwrap()
            .contains("format = 2")
    );
    // Nothing changed: status is clean, and adding again keeps the format-1 pointer as it is.
    let st = r.json(&["status"]);
    assert_eq!(st["datasets"][0]["state"], "unchanged", "{st}");
    let again = r.json(&["add", "data"]);
    assert_eq!(
        r.read("data.dv"),
        v1,
        "an unchanged dataset keeps its pointer"
    );
    // Add still stores what it hashed in the repository's format: the big file's manifest, split into several
    // nodes (a flat manifest would be the object already stored), ready for when the dataset moves.
    assert!(again["new_objects"].as_u64().unwrap() >= 5, "{again}");

    // The first edit moves the dataset to format 2.
    r.write("data/imgs/f0300.bin", b"edited");
    r.ok(&["add", "data"]);
    assert_eq!(pointer_version(&r, "data.dv"), "dv = 2");
    // The big file has another id in format 2, yet it is not a change.
    let diff = r.json(&["diff"]);
    let files: Vec<&str> = diff[0]["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["path"].as_str().unwrap())
        .collect();
    assert_eq!(files, ["data/imgs/f0300.bin"], "{diff}");
    // A one-file edit in format 2: a few small objects, far fewer bytes than the same edit in format 1.
    r.write("data/imgs/f0301.bin", b"edited too");
    let added = r.json(&["add", "data"]);
    let objects = added["new_objects"].as_u64().unwrap();
    let stored = added["new_stored_bytes"].as_u64().unwrap();
    assert!(objects <= 8, "{added}");
    assert!(
        stored * 3 < flat,
        "format 2 stored {stored} bytes for a one-file edit, format 1 {flat}"
    );
    // One chunk of the big file edited: the manifest's change is a few small nodes too.
    let mut big = r.read("data/big.bin");
    big[40 << 20] ^= 1;
    r.write("data/big.bin", &big);
    let added = r.json(&["add", "data"]);
    assert!(added["new_objects"].as_u64().unwrap() <= 12, "{added}");
    assert!(
        added["new_stored_bytes"].as_u64().unwrap() <= 1 << 20,
        "{added}"
    );
    let st = r.json(&["status"]);
    assert_eq!(st["datasets"][0]["state"], "unchanged", "{st}");
    r.git(&["add", "-A"]);
    r.git(&["commit", "-q", "-m", "v2"]);
    r.ok(&["push"]);
    r.ok(&["fsck"]);
    r.ok(&["fsck", "--remote", "origin"]);

    // A fresh clone pulls the split version bit for bit, then checks out the format-1 one and back.
    let c = clone_of(&r);
    ok_at(c.path(), &["pull"]);
    assert_eq!(snapshot(&c.path().join("data")), snapshot(&r.p("data")));
    git_in(c.path(), &["checkout", "-q", "HEAD~1"]);
    ok_at(c.path(), &["pull"]);
    assert_eq!(
        fs::read(c.path().join("data/imgs/f0300.bin")).unwrap(),
        bytes(300, 100) // 100 + 300 * 7 % 300 bytes, as large_data wrote it
    );
    let st: serde_json::Value =
        serde_json::from_str(&ok_at(c.path(), &["status", "--json"])).unwrap();
    assert_eq!(st["datasets"][0]["state"], "unchanged", "{st}");
    git_in(c.path(), &["checkout", "-q", "-"]);
    ok_at(c.path(), &["checkout"]);
    assert_eq!(snapshot(&c.path().join("data")), snapshot(&r.p("data")));

    // gc keeps what the work tree's version reaches (every split node of it), fsck finds it whole.
    r.ok(&["gc"]);
    r.ok(&["fsck"]);
    let fresh = clone_of(&r);
    ok_at(fresh.path(), &["pull"]);
    assert_eq!(snapshot(&fresh.path().join("data")), snapshot(&r.p("data")));
    drop(remote);
}

#[test]
fn format_upgrade_never_lowers_and_refuses_what_it_does_not_know() {
    let r = TestRepo::new();
    let up = r.json(&["format", "upgrade", "--to", "1"]);
    assert_eq!(up["changed"], false, "{up}");
    r.ok(&["format", "upgrade"]);
    let err = r.fails(&["format", "upgrade", "--to", "1"]);
    assert!(err.contains("never lowered"), "{err}");
    let err = r.fails(&["format", "upgrade", "--to", "3"]);
    assert!(err.contains("not one this dv writes"), "{err}");
    assert_eq!(r.json(&["format"])["to"], 2);
}

/// A step recorded in format 1 whose input is an untracked folder large enough to split: after the upgrade it
/// is not stale (its input is compared in the layout the step recorded), and a new run records format 2.
#[test]
fn a_step_recorded_in_format_1_is_not_stale_after_the_upgrade() {
    let r = TestRepo::new();
    for i in 0..300u64 {
        r.write(&format!("raw/r{i:03}.txt"), &bytes(i, 50));
    }
    r.ok(&[
        "run",
        "-n",
        "count",
        "-d",
        "raw",
        "-o",
        "out.txt",
        "--",
        "sh",
        "-c",
        "ls raw | wc -l > out.txt",
    ]);
    let step = String::from_utf8(r.read(".dv/steps/count.toml")).unwrap();
    assert!(step.contains("\ndv = 1\n"), "{step}");
    r.ok(&["format", "upgrade"]);
    let dry = r.json(&["repro", "--dry-run"]);
    assert_eq!(dry["steps"][0]["action"], "up-to-date", "{dry}");
    r.write("raw/r000.txt", b"changed");
    let dry = r.json(&["repro", "--dry-run"]);
    assert_eq!(dry["steps"][0]["action"], "would-run", "{dry}");
    r.ok(&["repro"]);
    let step = String::from_utf8(r.read(".dv/steps/count.toml")).unwrap();
    assert!(step.contains("\ndv = 2\n"), "{step}");
    let dry = r.json(&["repro", "--dry-run"]);
    assert_eq!(dry["steps"][0]["action"], "up-to-date", "{dry}");
}

/// `core.format = 0` is no format: refused, as a pointer's `dv = 0` is.
#[test]
fn format_0_is_refused() {
    let r = TestRepo::new();
    let text = String::from_utf8(r.read(".dv/config.toml")).unwrap();
    r.write(
        ".dv/config.toml",
        text.replace("format = 1", "format = 0").as_bytes(),
    );
    let err = r.fails(&["status"]);
    assert!(err.contains("format version 0 is invalid"), "{err}");
}

/// The scale tier's promises at a size CI can afford: one flat folder of 50,000 files in format 2. A one-file
/// edit stores a few small objects, a push of it reads and sends about as much, a diff reads a few tree nodes,
/// a checkout of the other version writes one file, and a fresh clone pulls every file back.
#[test]
fn a_one_file_edit_in_a_flat_folder_of_50000_files_costs_what_changed() {
    let r = TestRepo::new();
    let remote = folder_remote(&r);
    r.ok(&["format", "upgrade"]);
    r.git(&["add", ".dv"]);
    let n = 50_000u64;
    for i in 0..n {
        r.write(
            &format!("data/img_{i:06}.jpg"),
            &bytes(i, 16 + (i % 48) as usize),
        );
    }
    r.ok(&["add", "data"]);
    r.git(&["add", "-A"]);
    r.git(&["commit", "-q", "-m", "v1"]);
    let (first, _) = crate::remote::push_reading(&r);
    assert!(first["objects"].as_u64().unwrap() > n, "{first}");

    r.write("data/img_012345.jpg", b"edited");
    let added = r.json(&["add", "data"]);
    assert!(added["new_objects"].as_u64().unwrap() <= 8, "{added}");
    assert!(
        added["new_stored_bytes"].as_u64().unwrap() <= 64 << 10,
        "{added}"
    );
    r.git(&["add", "-A"]);
    r.git(&["commit", "-q", "-m", "v2"]);
    let (pushed, read) = crate::remote::push_reading(&r);
    assert!(read <= 8, "{read} trees read for a one-file edit");
    assert!(pushed["bytes"].as_u64().unwrap() <= 64 << 10, "{pushed}");

    let d = r.json(&["diff", "HEAD~1", "HEAD"]);
    let files: Vec<&str> = d[0]["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["path"].as_str().unwrap())
        .collect();
    assert_eq!(files, ["data/img_012345.jpg"], "{d}");
    assert!(d[0]["trees_read"].as_u64().unwrap() <= 10, "{d}");

    r.git(&["checkout", "-q", "HEAD~1", "--", "data.dv"]);
    let back = r.json(&["checkout"]);
    assert_eq!(back["files_written"], 1, "{back}");
    assert_eq!(
        r.read("data/img_012345.jpg"),
        bytes(12_345, 16 + 12_345 % 48)
    );
    r.git(&["checkout", "-q", "HEAD", "--", "data.dv"]);
    r.ok(&["checkout"]);

    let c = clone_of(&r);
    ok_at(c.path(), &["pull"]);
    assert_eq!(snapshot(&c.path().join("data")), snapshot(&r.p("data")));
    drop(remote);
}
