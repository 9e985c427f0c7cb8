//! Data-loss paths on a remote several clones share: a huge `--grace`, a use record refreshed while gc runs,
//! an object duplicated in two packs of which one copy is damaged, and a clone trusting its local copies of
//! the remote's indexes when the remote's own are damaged or its packs gone.

use crate::common::*;
use crate::remote::{Backend, ok_json, origin_with_remote, run_dv};
use crate::remotegc::{age, assert_clean, git_clone, remote_packs, remote_state};
use std::fs;

/// `--grace` is a number of seconds up to `u64::MAX`: the largest grace protects the most, never nothing.
#[test]
fn a_huge_grace_keeps_everything_young_instead_of_wrapping_to_none() {
    let b = Backend::folder();
    let a = origin_with_remote(&b);
    a.ok(&["push"]);
    let bc = clone_of(&a);
    ok_at(bc.path(), &["pull"]);
    fs::write(bc.path().join("data/new.bin"), bytes(7, 100_000)).unwrap();
    ok_at(bc.path(), &["add", "data"]);
    git_in(bc.path(), &["commit", "-qam", "B's work"]);
    ok_at(bc.path(), &["push"]);
    let max = u64::MAX.to_string();
    for grace in [max.as_str(), "9223372036854775808", "9223372036854775807"] {
        let report = a.json(&["gc", "--remote", "origin", "--grace", grace]);
        assert_eq!(report["objects_deleted"], 0, "--grace {grace}: {report}");
        assert_eq!(
            remote_state(bc.path(), "data"),
            (true, 0),
            "--grace {grace}"
        );
        // The local cache too: an object no pointer names stays while in grace.
        a.write("loose/x.bin", &bytes(8, 50_000));
        a.ok(&["add", "loose"]);
        fs::remove_file(a.p("loose.dv")).unwrap();
        let report = a.json(&["gc", "--grace", grace]);
        assert_eq!(
            report["objects_deleted"], 0,
            "local --grace {grace}: {report}"
        );
    }
    let report = a.json(&["gc", "--grace", "0"]);
    assert!(report["objects_deleted"].as_u64().unwrap() > 0, "{report}");
    assert_clean(bc.path());
}

/// The reported loss: B's push relies on A's old pack and writes a use record; later, while A's gc deletes
/// packs, B pushes again. Its record must survive that gc, so a second gc still keeps the pack B relies on.
#[test]
fn gc_never_deletes_the_use_record_a_concurrent_push_writes() {
    let b = Backend::folder();
    let a = TestRepo::new();
    b.configure(&a);
    a.git(&["add", ".dv"]);
    a.write("data/f1.bin", &bytes(31, 300_000));
    a.write("data/f2.bin", &bytes(32, 300_000));
    a.ok(&["add", "data"]);
    a.git(&["commit", "-qm", "v1"]);
    a.ok(&["push"]);
    let v1_packs = remote_packs(&b.files());
    let bc = clone_of(&a);
    ok_at(bc.path(), &["pull"]);
    let pushed = ok_json(bc.path(), &["push"]);
    assert_eq!(pushed["objects"], 0, "{pushed}");
    // A replaces its data: v1's pack and those of the versions between are dead to A's gc. gc deletes dead
    // packs by increasing id, and the pause after its first deletion must come before v1's, so A goes on until
    // some dead pack's id is smaller than v1's. Pack ids are not a function of the data alone (an add stores a
    // folder's objects in the order its threads finish them, and a pack is named after its entry table), so
    // how many versions that takes varies: v1's id is in the lowest 1/64 of the range about once in 64 runs.
    let mut seed = 21;
    loop {
        fs::remove_dir_all(a.p("data")).unwrap();
        a.write("data/x.bin", &bytes(seed, 100_000));
        a.ok(&["add", "data"]);
        a.git(&["commit", "-qam", "A moves on"]);
        a.ok(&["push"]);
        seed += 1;
        let packs = remote_packs(&b.files());
        if seed > 24 && packs.iter().any(|p| *p < v1_packs[0]) {
            break;
        }
        assert!(seed < 21 + 64, "no pack below v1's: {v1_packs:?} {packs:?}");
    }
    let packs = remote_packs(&b.files());
    age(&b.files(), 3 * 3600);
    let child = dv_command(a.path())
        .env("DV_PAUSE_AT", "gc-remote-pack-deleted@1:5000")
        .args(["gc", "--remote", "origin", "--json"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while remote_packs(&b.files()).len() == packs.len() {
        assert!(std::time::Instant::now() < deadline, "gc deleted nothing");
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    // gc is paused after its first deletion: B pushes the same version again, relying on the same pack.
    ok_at(bc.path(), &["push"]);
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    a.json(&["gc", "--remote", "origin"]);
    assert_eq!(remote_state(bc.path(), "data"), (true, 0));
    let fresh = git_clone(bc.path());
    ok_at(fresh.path(), &["pull"]);
    assert_eq!(
        snapshot(&fresh.path().join("data")),
        snapshot(&bc.path().join("data"))
    );
    assert_clean(bc.path());
}

/// Every (object id, pack id, offset, stored length) the remote's index files at `dir` list, in hex.
fn remote_entries(dir: &std::path::Path) -> Vec<(String, String, u64, u64)> {
    let hex = |b: &[u8]| b.iter().map(|x| format!("{x:02x}")).collect::<String>();
    let mut out = Vec::new();
    for p in files_below(&dir.join("index")) {
        let b = fs::read(&p).unwrap();
        let pack = hex(&b[8..40]);
        let n = u32::from_le_bytes(b[48..52].try_into().unwrap()) as usize;
        for k in 0..n {
            let e = &b[52 + k * 52..52 + (k + 1) * 52];
            let off = u64::from_le_bytes(e[32..40].try_into().unwrap());
            let stored = u32::from_le_bytes(e[48..52].try_into().unwrap()) as u64;
            out.push((hex(&e[..32]), pack.clone(), off, stored));
        }
    }
    out
}

/// Concurrent pushes leave one object in two packs; the copy in the pack with the smaller id is damaged. A pull
/// reads the intact copy instead, and gc keeps the intact copy, never the damaged one alone.
#[test]
fn a_damaged_duplicate_is_neither_read_nor_kept_when_an_intact_copy_exists() {
    let b = Backend::folder();
    let a = TestRepo::new();
    b.configure(&a);
    a.write("seed.txt", b"seed");
    a.ok(&["add", "seed.txt"]);
    a.git(&["add", "-A"]);
    a.git(&["commit", "-qm", "seed"]);
    a.ok(&["push"]);
    let bc = clone_of(&a);
    let x = bytes(41, 100_000);
    a.write("d/x.bin", &x);
    a.write("d/a.bin", &bytes(42, 50_000));
    a.ok(&["add", "d"]);
    a.git(&["add", "-A"]);
    a.git(&["commit", "-qm", "d"]);
    fs::create_dir_all(bc.path().join("e")).unwrap();
    fs::write(bc.path().join("e/x.bin"), &x).unwrap();
    fs::write(bc.path().join("e/b.bin"), bytes(43, 50_000)).unwrap();
    ok_at(bc.path(), &["add", "e"]);
    git_in(bc.path(), &["add", "-A"]);
    git_in(bc.path(), &["commit", "-qm", "e"]);
    // A's pack is up but not yet indexed while B pushes: both send x.bin.
    let child = dv_command(a.path())
        .env("DV_PAUSE_AT", "push-pack-before-index:3000")
        .args(["push"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(1000));
    ok_at(bc.path(), &["push"]);
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let entries = remote_entries(&b.files());
    let mut dups: Vec<&(String, String, u64, u64)> = entries
        .iter()
        .filter(|e| entries.iter().filter(|f| f.0 == e.0).count() > 1)
        .collect();
    dups.sort_by(|p, q| (&p.0, &p.1).cmp(&(&q.0, &q.1)));
    assert!(!dups.is_empty(), "no object in two packs: {entries:?}");
    // Damage the first duplicated object's copy in the smaller pack id (the one gc used to keep).
    let (_, pack, off, stored) = dups[0].clone();
    let path = files_below(&b.files().join("packs"))
        .into_iter()
        .find(|p| p.to_str().unwrap().contains(&pack))
        .unwrap();
    let mut data = fs::read(&path).unwrap();
    data[(off + 44 + stored / 2) as usize] ^= 0xff;
    fs::write(&path, data).unwrap();
    // A merges B's work: its gc scope holds both versions.
    a.git(&[
        "pull",
        "-q",
        "--no-rebase",
        "--no-edit",
        bc.path().to_str().unwrap(),
        "HEAD",
    ]);
    a.ok(&["pull"]);
    // Before any gc: a pull reads the other copy.
    let fresh = git_clone(a.path());
    ok_at(fresh.path(), &["pull"]);
    assert_eq!(fs::read(fresh.path().join("d/x.bin")).unwrap(), x);
    assert_eq!(snapshot(&fresh.path().join("d")), snapshot(&a.p("d")));
    assert_eq!(snapshot(&fresh.path().join("e")), snapshot(&a.p("e")));
    // gc keeps the intact copy: a fresh clone still pulls everything.
    age(&b.files(), 3 * 3600);
    let report = a.json(&["gc", "--remote", "origin"]);
    assert!(
        report["packs_deleted"].as_u64().unwrap() + report["packs_repacked"].as_u64().unwrap() > 0,
        "{report}"
    );
    let fresh = git_clone(a.path());
    ok_at(fresh.path(), &["pull"]);
    assert_eq!(snapshot(&fresh.path().join("d")), snapshot(&a.p("d")));
    assert_eq!(snapshot(&fresh.path().join("e")), snapshot(&a.p("e")));
}

/// Flips one byte of the file at `path` (`at` from the end when negative).
fn flip(path: &std::path::Path, at: i64) {
    let mut data = fs::read(path).unwrap();
    let i = if at < 0 { data.len() as i64 + at } else { at } as usize;
    data[i] ^= 0xff;
    fs::write(path, data).unwrap();
}

/// The remote's own index is damaged and so is its pack (so the index cannot be rebuilt from it): the clone's
/// local copy of the index must not make the data look pushed. Status says not pushed, gc refuses, push sends
/// it again and says which index it skipped, another clone pulls, and `fsck --remote --repair` cleans up.
#[test]
fn a_damaged_remote_index_is_not_hidden_by_the_local_copy() {
    let b = Backend::folder();
    let a = origin_with_remote(&b);
    a.ok(&["push"]);
    // The local copies are now in step with the remote.
    assert_eq!(remote_state(a.path(), "data"), (true, 0));
    let idx = files_below(&b.files().join("index"));
    let packs = files_below(&b.files().join("packs"));
    assert_eq!((idx.len(), packs.len()), (1, 1));
    flip(&idx[0], -1);
    flip(&packs[0], 48);
    assert!(!remote_state(a.path(), "data").0);
    let out = run_dv(a.path(), &["gc", "--remote", "origin"]);
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let pushed = ok_json(a.path(), &["push"]);
    assert!(pushed["objects"].as_u64().unwrap() > 0, "{pushed}");
    assert_eq!(
        pushed["unreadable_indexes"].as_array().unwrap().len(),
        1,
        "{pushed}"
    );
    assert_eq!(remote_state(a.path(), "data"), (true, 0));
    let fresh = git_clone(a.path());
    ok_at(fresh.path(), &["pull"]);
    assert_eq!(snapshot(&fresh.path().join("data")), snapshot(&a.p("data")));
    // Repair drops the pack nothing can read, since all it held is elsewhere now; then gc runs again.
    ok_at(a.path(), &["fsck", "--remote", "origin", "--repair"]);
    assert_clean(a.path());
    a.json(&["gc", "--remote", "origin"]);
    assert_clean(a.path());
}

/// Repair without a push first: the index is written again from the local copy when the pack is intact, and
/// the objects are uploaded again from the cache when it is not.
#[test]
fn fsck_remote_repair_restores_a_damaged_index_from_the_local_copy_or_the_cache() {
    for damage_pack in [false, true] {
        let b = Backend::folder();
        let a = origin_with_remote(&b);
        a.ok(&["push"]);
        let idx = files_below(&b.files().join("index"));
        let packs = files_below(&b.files().join("packs"));
        // Damage the index beyond rebuilding from the pack's entry headers too: the pack's first entry header.
        flip(&idx[0], -1);
        if damage_pack {
            flip(&packs[0], 48);
        }
        ok_at(a.path(), &["fsck", "--remote", "origin", "--repair"]);
        assert_clean(a.path());
        assert_eq!(
            remote_state(a.path(), "data"),
            (true, 0),
            "damaged pack: {damage_pack}"
        );
        let fresh = git_clone(a.path());
        ok_at(fresh.path(), &["pull"]);
        assert_eq!(snapshot(&fresh.path().join("data")), snapshot(&a.p("data")));
    }
}

/// The milder case: the remote's pack file is gone, its index still there.
#[test]
fn a_lost_remote_pack_is_not_pushed_even_though_its_index_is() {
    let b = Backend::folder();
    let a = origin_with_remote(&b);
    a.ok(&["push"]);
    assert_eq!(remote_state(a.path(), "data"), (true, 0));
    for p in files_below(&b.files().join("packs")) {
        fs::remove_file(p).unwrap();
    }
    assert!(!remote_state(a.path(), "data").0);
    let pushed = ok_json(a.path(), &["push"]);
    assert!(pushed["objects"].as_u64().unwrap() > 0, "{pushed}");
    let fresh = git_clone(a.path());
    ok_at(fresh.path(), &["pull"]);
    assert_eq!(snapshot(&fresh.path().join("data")), snapshot(&a.p("data")));
    ok_at(a.path(), &["fsck", "--remote", "origin", "--repair"]);
    assert_clean(a.path());
}

/// The remote's index checksum is damaged and so is its pack's first entry header (so the index cannot be
/// rebuilt from the pack), and the repairing clone has only part of the data, or none and no copy of the
/// index: `fsck --remote --repair` salvages every entry of the pack that still verifies, found where the
/// damaged index's entry table (or the clone's copy of it) says, so nothing is lost and every clone pulls.
#[test]
fn fsck_remote_repair_salvages_the_entries_of_a_pack_whose_index_is_damaged() {
    for with_copy in [true, false] {
        let b = Backend::folder();
        let a = origin_with_remote(&b);
        a.write("other.bin", &bytes(2, 100_000));
        a.ok(&["add", "other.bin"]);
        a.git(&["add", "-A"]);
        a.git(&["commit", "-qm", "v2"]);
        a.ok(&["push"]);
        let c = git_clone(a.path());
        if with_copy {
            // C has other.bin's objects and a copy of the remote's index, not data's objects.
            ok_at(c.path(), &["pull", "other.bin"]);
        }
        let idx = files_below(&b.files().join("index"));
        let packs = files_below(&b.files().join("packs"));
        assert_eq!((idx.len(), packs.len()), (1, 1));
        flip(&idx[0], -1);
        flip(&packs[0], 48);
        let out = run_dv(c.path(), &["fsck", "--remote", "origin", "--repair"]);
        assert_eq!(
            out.status.code(),
            Some(0),
            "copy: {with_copy}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        ok_at(c.path(), &["fsck", "--remote", "origin"]);
        let fresh = git_clone(a.path());
        ok_at(fresh.path(), &["pull"]);
        assert_eq!(snapshot(&fresh.path().join("data")), snapshot(&a.p("data")));
        assert_eq!(
            fs::read(fresh.path().join("other.bin")).unwrap(),
            a.read("other.bin")
        );
    }
}

/// What repair cannot salvage it says: an object of the pack that neither verifies in it nor is in the
/// repairing clone's cache keeps the pack, and the report names it and what to do (push from a clone that has
/// it, then repair again), which then works.
#[test]
fn fsck_remote_repair_says_what_it_could_not_salvage_and_where_it_can_come_from() {
    let b = Backend::folder();
    let a = origin_with_remote(&b);
    a.ok(&["push"]);
    let c = git_clone(a.path());
    // C has a copy of the remote's index but none of the data.
    ok_at(c.path(), &["status", "--remote"]);
    let idx = files_below(&b.files().join("index"));
    let packs = files_below(&b.files().join("packs"));
    assert_eq!((idx.len(), packs.len()), (1, 1));
    flip(&idx[0], -1);
    flip(&packs[0], 48);
    flip(&packs[0], 200);
    let out = run_dv(c.path(), &["fsck", "--remote", "origin", "--repair"]);
    let err = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("1 object(s) its index lists")
            && err.contains("could be neither read from it nor found in this clone's cache")
            && err.contains("`dv push origin` from a clone that has them"),
        "{err}"
    );
    assert!(packs[0].exists(), "the pack is kept");
    a.ok(&["push"]);
    ok_at(c.path(), &["fsck", "--remote", "origin", "--repair"]);
    ok_at(c.path(), &["fsck", "--remote", "origin"]);
    let fresh = git_clone(a.path());
    ok_at(fresh.path(), &["pull"]);
    assert_eq!(snapshot(&fresh.path().join("data")), snapshot(&a.p("data")));
}

/// A remote pack cut short, with no copy of its objects in the repairing clone's cache: `fsck --remote --repair`
/// keeps what it can read (in a new pack) and keeps the damaged pack, reported, rather than deleting it and
/// calling the remote clean (it did: every later fsck said "no problems" while the data could not be pulled).
/// A repair from a clone whose cache has the data then completes it.
#[test]
fn fsck_remote_repair_never_calls_a_remote_clean_after_dropping_objects_it_could_not_read() {
    let b = Backend::folder();
    let a = origin_with_remote(&b);
    a.ok(&["push"]);
    let c = git_clone(a.path());
    let packs = files_below(&b.files().join("packs"));
    assert_eq!(packs.len(), 1);
    let len = std::fs::metadata(&packs[0]).unwrap().len();
    std::fs::OpenOptions::new()
        .write(true)
        .open(&packs[0])
        .unwrap()
        .set_len(len / 3)
        .unwrap();
    let out = run_dv(
        c.path(),
        &["fsck", "--remote", "origin", "--repair", "--json"],
    );
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let damaged = report["damaged_packs"].as_array().unwrap();
    assert_eq!(damaged.len(), 1, "{report}");
    assert!(
        damaged[0]["message"]
            .as_str()
            .unwrap()
            .contains("could be neither read from it nor found in this clone's cache"),
        "{report}"
    );
    assert!(packs[0].exists(), "the damaged pack is kept");
    // Asked again, the remote is still not clean.
    let again = run_dv(c.path(), &["fsck", "--remote", "origin"]);
    assert_eq!(again.status.code(), Some(1));
    // The clone whose cache has the data repairs the remote from it; a fresh clone then pulls every byte.
    a.ok(&["fsck", "--remote", "origin", "--repair"]);
    ok_at(c.path(), &["fsck", "--remote", "origin"]);
    let fresh = git_clone(a.path());
    ok_at(fresh.path(), &["pull"]);
    assert_eq!(snapshot(&fresh.path().join("data")), snapshot(&a.p("data")));
}

/// A pack whose index file was lost is not a leftover: repair indexes it again (it is whole), so a fresh clone
/// pulls from it and gc does not collect what only it holds.
#[test]
fn fsck_remote_repair_indexes_a_whole_pack_whose_index_was_lost() {
    let b = Backend::folder();
    let a = origin_with_remote(&b);
    a.ok(&["push"]);
    let indexes = files_below(&b.files().join("index"));
    assert_eq!(indexes.len(), 1);
    fs::remove_file(&indexes[0]).unwrap();
    let c = git_clone(a.path());
    let before = ok_json(c.path(), &["fsck", "--remote", "origin"]);
    assert_eq!(before["unindexed_packs"], 1, "{before}");
    let repaired = ok_json(c.path(), &["fsck", "--remote", "origin", "--repair"]);
    assert_eq!(repaired["unindexed_packs"], 0, "{repaired}");
    assert!(repaired["repaired"].as_u64().unwrap() >= 1, "{repaired}");
    assert_eq!(files_below(&b.files().join("index")).len(), 1);
    ok_at(c.path(), &["pull"]);
    assert_eq!(snapshot(&c.path().join("data")), snapshot(&a.p("data")));
    let gc = ok_json(
        c.path(),
        &["gc", "--remote", "origin", "--grace", "0", "--dry-run"],
    );
    assert_eq!(gc["unindexed_removed"], 0, "{gc}");
}

/// A pack file gone with objects no copy replaces: repair removes its index (so a push from a clone that has
/// them sends them again) and says what is lost, failing; it never reports the remote clean.
#[test]
fn fsck_remote_repair_says_which_objects_went_with_a_lost_pack_file() {
    let b = Backend::folder();
    let a = origin_with_remote(&b);
    a.ok(&["push"]);
    let c = git_clone(a.path());
    // A second dataset only `a` has, in a pack of its own.
    a.write("more/c.bin", &bytes(9, 400_000));
    a.ok(&["add", "more"]);
    a.git(&["commit", "-q", "-m", "more"]);
    let first: Vec<_> = files_below(&b.files().join("packs"));
    a.ok(&["push"]);
    let second: Vec<_> = files_below(&b.files().join("packs"))
        .into_iter()
        .filter(|p| !first.contains(p))
        .collect();
    assert_eq!(second.len(), 1);
    fs::remove_file(&second[0]).unwrap();
    let out = run_dv(
        c.path(),
        &["fsck", "--remote", "origin", "--repair", "--json"],
    );
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(out.status.code(), Some(1), "{report}");
    let lost = report["lost_packs"].as_array().unwrap();
    assert_eq!(lost.len(), 1, "{report}");
    assert!(lost[0]["objects"].as_u64().unwrap() >= 1, "{report}");
    assert!(
        lost[0]["message"]
            .as_str()
            .unwrap()
            .contains("dv push origin"),
        "{report}"
    );
    let text = run_dv(c.path(), &["fsck", "--remote", "origin"]);
    assert_eq!(
        text.status.code(),
        Some(0),
        "the index is gone, so is the pack"
    );
    // The clone that has the objects sends them again.
    a.ok(&["push"]);
    ok_at(c.path(), &["fsck", "--remote", "origin"]);
    git_in(c.path(), &["pull", "-q"]);
    ok_at(c.path(), &["pull"]);
    assert_eq!(snapshot(&c.path().join("more")), snapshot(&a.p("more")));
}

/// An index file that cannot be read, with no pack file beside it, names nothing that could be lost: repair
/// removes it, and the remote is clean.
#[test]
fn fsck_remote_repair_removes_an_unreadable_index_that_has_no_pack() {
    let b = Backend::folder();
    let a = origin_with_remote(&b);
    a.ok(&["push"]);
    let junk = b
        .files()
        .join("index")
        .join(format!("{}.idx", "cd".repeat(32)));
    fs::write(&junk, b"junk").unwrap();
    let out = run_dv(a.path(), &["fsck", "--remote", "origin"]);
    assert_eq!(out.status.code(), Some(1));
    a.ok(&["fsck", "--remote", "origin", "--repair"]);
    assert!(!junk.exists());
    a.ok(&["fsck", "--remote", "origin"]);
}

/// A damaged object that this clone cannot replace is kept, and the line naming it says where a good copy
/// can come from.
#[test]
fn fsck_remote_repair_says_where_a_damaged_object_it_cannot_replace_can_come_from() {
    let b = Backend::folder();
    let a = origin_with_remote(&b);
    let c = git_clone(a.path());
    a.write("more/c.bin", &bytes(9, 400_000));
    a.ok(&["add", "more"]);
    a.git(&["commit", "-q", "-m", "more"]);
    a.ok(&["push"]);
    let packs = files_below(&b.files().join("packs"));
    let big = packs
        .iter()
        .max_by_key(|p| fs::metadata(p).unwrap().len())
        .unwrap();
    flip(big, fs::metadata(big).unwrap().len() as i64 / 2);
    let out = run_dv(c.path(), &["fsck", "--remote", "origin", "--repair"]);
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("damaged object"), "{text}");
    assert!(
        text.contains("run `dv fsck --remote origin --repair` in a clone whose cache has"),
        "{text}"
    );
    a.ok(&["fsck", "--remote", "origin", "--repair"]);
    ok_at(c.path(), &["fsck", "--remote", "origin"]);
}
