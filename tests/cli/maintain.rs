//! fsck, gc and the repository lock: damage is found and repaired, garbage is collected and nothing live is.

use std::fs;
use std::path::{Path, PathBuf};

use crate::common::*;

/// Every pack file of a cache (or a folder remote), sorted.
fn pack_files(root: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let packs = root.join("packs");
    if let Ok(dirs) = fs::read_dir(&packs) {
        for d in dirs {
            for f in fs::read_dir(d.unwrap().path()).unwrap() {
                out.push(f.unwrap().path());
            }
        }
    }
    out.sort();
    out
}

fn cache(r: &TestRepo) -> PathBuf {
    r.p(".dv/cache")
}

/// A repository with two committed versions of `data/` (a big file that changes, one that does not).
fn two_versions() -> (TestRepo, Vec<u8>, Vec<u8>) {
    let r = TestRepo::new();
    // Two unrelated contents, so v1's chunks are dead once only v2 is in scope.
    let v1 = bytes(1, 300_000);
    let v2 = bytes(2, 400_000);
    r.write("data/big.bin", &v1);
    r.write("data/same.txt", b"unchanged");
    r.ok(&["add", "data"]);
    r.git(&["add", ".dv"]);
    r.git(&["commit", "-qm", "v1"]);
    r.write("data/big.bin", &v2);
    r.ok(&["add", "data"]);
    r.git(&["commit", "-qm", "v2"]);
    (r, v1, v2)
}

#[test]
fn fsck_is_clean_on_a_sound_cache_and_finds_a_flipped_byte() {
    let (r, _, _) = two_versions();
    let out = r.dv(&["fsck"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report = r.json(&["fsck"]);
    assert!(report["objects"].as_u64().unwrap() > 3, "{report}");
    assert_eq!(report["damaged"].as_array().unwrap().len(), 0);

    // Flip one byte in the middle of the largest pack.
    let mut packs = pack_files(&cache(&r));
    packs.sort_by_key(|p| fs::metadata(p).unwrap().len());
    let victim = packs.last().unwrap();
    let mut data = fs::read(victim).unwrap();
    let mid = data.len() / 2;
    data[mid] ^= 0x40;
    fs::write(victim, &data).unwrap();

    let out = r.dv(&["fsck", "--json"]);
    assert_eq!(
        out.status.code(),
        Some(1),
        "damage must give a non-zero exit"
    );
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let damaged = report["damaged"].as_array().unwrap();
    assert_eq!(damaged.len(), 1, "{report}");
    let name = victim.file_stem().unwrap().to_str().unwrap();
    assert_eq!(damaged[0]["pack"], name);
    let text = String::from_utf8(r.dv(&["fsck"]).stdout).unwrap();
    assert!(
        text.contains(&format!(
            "damaged object {}",
            damaged[0]["object"].as_str().unwrap()
        )),
        "{text}"
    );
}

#[test]
fn fsck_repair_fetches_good_copies_from_a_remote() {
    let (r, _, v2) = two_versions();
    let _remote = folder_remote(&r);
    r.ok(&["push"]);
    let mut packs = pack_files(&cache(&r));
    packs.sort_by_key(|p| fs::metadata(p).unwrap().len());
    let victim = packs.last().unwrap().clone();
    let mut data = fs::read(&victim).unwrap();
    let at = data.len() - 100;
    data[at] ^= 1;
    fs::write(&victim, &data).unwrap();
    fs::remove_dir_all(r.p("data")).unwrap();
    let out = r.dv(&["checkout"]);
    let err = String::from_utf8(out.stderr).unwrap();
    assert_eq!(
        out.status.code(),
        Some(2),
        "a damaged store is not the user's error: {err}"
    );
    assert!(err.contains("is corrupt"), "{err}");
    assert!(err.contains("dv fsck --repair"), "{err}");

    let out = r.dv(&["fsck", "--repair", "--json"]);
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(out.status.code(), Some(0), "{report}");
    assert!(report["repaired"].as_u64().unwrap() >= 1, "{report}");
    assert!(!victim.exists(), "the damaged pack is gone");
    r.ok(&["checkout"]);
    assert_eq!(r.read("data/big.bin"), v2);
    assert_eq!(r.dv(&["fsck"]).status.code(), Some(0));
}

#[test]
fn fsck_reports_a_missing_object_under_a_pointer() {
    let (r, _, _) = two_versions();
    fs::remove_dir_all(cache(&r)).unwrap();
    fs::remove_file(r.p(".dv/state.db")).unwrap();
    let out = r.dv(&["fsck", "--json"]);
    assert_eq!(out.status.code(), Some(1));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let problems = report["problems"].as_array().unwrap();
    assert_eq!(
        problems.len(),
        1,
        "the root is missing, nothing below it is known: {report}"
    );
    assert_eq!(problems[0]["problem"], "missing");
    assert_eq!(problems[0]["dataset"], "data");
}

#[test]
fn gc_keeps_what_the_scope_reaches_and_deletes_the_rest() {
    let (r, _, v2) = two_versions();
    let before = pack_files(&cache(&r));

    let err = r.fails(&["gc", "--repack-below", "2"]);
    assert!(
        err.contains("--repack-below: must be between 0 and 1"),
        "{err}"
    );
    assert_eq!(pack_files(&cache(&r)), before);

    // Inside the grace period nothing goes.
    let report = r.json(&["gc"]);
    assert_eq!(report["packs_deleted"], 0, "{report}");
    assert!(report["packs_in_grace"].as_u64().unwrap() >= 1, "{report}");

    // --all-commits keeps both versions.
    let report = r.json(&["gc", "--all-commits", "--grace", "0"]);
    assert_eq!(report["objects_deleted"], 0, "{report}");
    assert_eq!(pack_files(&cache(&r)), before);

    // A dry run of the workspace scope says what it would free and deletes nothing.
    let dry = r.json(&["gc", "--grace", "0", "--dry-run"]);
    assert!(dry["objects_deleted"].as_u64().unwrap() >= 1, "{dry}");
    assert!(dry["bytes_freed"].as_u64().unwrap() > 0, "{dry}");
    assert_eq!(pack_files(&cache(&r)), before);

    // The workspace scope drops v1's own objects (its tree and the old big file).
    let report = r.json(&["gc", "--grace", "0"]);
    assert_eq!(
        report["objects_deleted"], dry["objects_deleted"],
        "{report}"
    );
    assert_ne!(pack_files(&cache(&r)), before);
    assert_eq!(r.dv(&["fsck"]).status.code(), Some(0));
    fs::remove_dir_all(r.p("data")).unwrap();
    r.ok(&["checkout"]);
    assert_eq!(r.read("data/big.bin"), v2);
    assert_eq!(r.read("data/same.txt"), b"unchanged");
    let err = r.fails(&["checkout", "--rev", "HEAD~1"]);
    assert!(err.contains("not in the local cache"), "{err}");
}

#[test]
fn gc_on_a_remote_deletes_dead_packs_and_a_clone_still_pulls() {
    let (r, _, v2) = two_versions();
    let _remote = folder_remote(&r);
    r.git(&["commit", "-qam", "remote"]);
    // One pack per version: v1's pack holds only one live object once v1 is out of scope.
    r.ok(&["push", "--rev", "HEAD~2"]);
    r.ok(&["push"]);
    let dry = r.json(&["gc", "--remote", "origin", "--grace", "0", "--dry-run"]);
    assert_eq!(dry["target"], "remote origin", "{dry}");
    assert_eq!(dry["dry_run"], true, "{dry}");
    assert_eq!(dry["packs_before"], 2, "{dry}");
    let report = r.json(&["gc", "--remote", "origin", "--grace", "0"]);
    assert_eq!(report["dry_run"], false, "{report}");
    for key in [
        "objects_deleted",
        "objects_kept",
        "bytes_freed",
        "packs_repacked",
    ] {
        assert_eq!(report[key], dry[key], "{key}: {report} {dry}");
    }
    assert!(report["objects_deleted"].as_u64().unwrap() >= 2, "{report}");
    assert_eq!(report["packs_repacked"], 1, "{report}");
    assert_eq!(report["packs_written"], 1, "{report}");
    assert_eq!(r.dv(&["fsck", "--remote", "origin"]).status.code(), Some(0));

    let clone = clone_of(&r);
    ok_at(clone.path(), &["pull"]);
    assert_eq!(fs::read(clone.path().join("data/big.bin")).unwrap(), v2);
    // v1's big file was only in v1, so gc deleted it from the remote.
    let out = dv_command(clone.path())
        .args(["fetch", "--rev", "HEAD~2"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "v1 is gone from the remote");
}

#[test]
fn the_lock_names_its_holder() {
    let r = TestRepo::new();
    r.write("a.bin", b"a");
    let lock = fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(r.p(".dv/cache/lock"))
        .unwrap();
    lock.try_lock().unwrap();
    // The pid alone, as older dv versions wrote it.
    fs::write(r.p(".dv/cache/lock"), "4242\n").unwrap();
    let out = dv_command(r.path())
        .env("DV_LOCK_TIMEOUT", "0")
        .args(["add", "a.bin"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("another dv process (pid 4242) holds the cache lock"),
        "{err}"
    );
    assert!(!r.p("a.bin.dv").exists());
    drop(lock);
    r.ok(&["add", "a.bin"]);
    let holder = fs::read_to_string(r.p(".dv/cache/lock")).unwrap();
    let pid = holder
        .lines()
        .find_map(|l| l.strip_prefix("pid "))
        .and_then(|p| p.parse::<u32>().ok());
    assert!(
        pid.is_some_and(|pid| pid != 4242),
        "the last holder's pid: {holder}"
    );
    assert!(holder.contains("command add\n"), "{holder}");
}

#[test]
fn push_and_fetch_all_commits_move_every_version() {
    let (r, v1, _) = two_versions();
    let _remote = folder_remote(&r);
    r.git(&["commit", "-qam", "remote"]);
    r.ok(&["push"]);
    // Only the work tree's version went; the first commit's big file did not.
    let st = r.json(&["push", "--all-branches"]);
    assert_eq!(
        st["objects"], 0,
        "the branch tip is the work tree's version: {st}"
    );
    let st = r.json(&["push", "--all-commits"]);
    assert!(st["objects"].as_u64().unwrap() >= 2, "{st}");

    let clone = clone_of(&r);
    ok_at(clone.path(), &["fetch", "--all-commits", "--json"]);
    ok_at(clone.path(), &["checkout", "--rev", "HEAD~2"]);
    assert_eq!(fs::read(clone.path().join("data/big.bin")).unwrap(), v1);
    let err = dv_command(clone.path())
        .args(["push", "--rev", "HEAD", "--all-commits"])
        .output()
        .unwrap();
    assert_eq!(
        err.status.code(),
        Some(1),
        "clap refuses conflicting scopes: a usage error, a user error (docs/cli.md)"
    );
}

#[test]
fn fsck_remote_reports_what_a_tree_or_manifest_names_that_the_remote_lacks() {
    let r = TestRepo::new();
    let remote = folder_remote(&r);
    r.write("data/big.bin", &bytes(77, 3_000_000));
    r.write("data/small.txt", b"small");
    r.ok(&["add", "data"]);
    r.git(&["add", "-A"]);
    r.git(&["commit", "-qm", "data"]);
    // Packs of about 1 MB: the first to be committed holds only chunks of big.bin.
    r.ok_with(&[("DV_PACK_SIZE", "1000000")], &["push"]);
    assert_eq!(r.dv(&["fsck", "--remote", "origin"]).status.code(), Some(0));
    let mut indexes = files_below(&remote.path().join("index"));
    assert!(indexes.len() >= 3, "{indexes:?}");
    indexes.sort_by_key(|p| fs::metadata(p).unwrap().modified().unwrap());
    // Damage: the first pack's index is lost, so the manifest names chunks the remote no longer lists.
    fs::remove_file(&indexes[0]).unwrap();
    let out = r.dv(&["fsck", "--remote", "origin", "--json"]);
    assert_eq!(out.status.code(), Some(1));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let problems = report["problems"].as_array().unwrap();
    assert!(!problems.is_empty(), "{report}");
    for p in problems {
        assert_eq!(p["problem"], "missing", "{p}");
        let message = p["message"].as_str().unwrap();
        assert!(
            message.starts_with("named by manifest ") || message.starts_with("named by tree "),
            "{p}"
        );
    }
    assert!(
        problems.iter().any(|p| p["message"]
            .as_str()
            .unwrap()
            .starts_with("named by manifest ")),
        "{report}"
    );
    assert!(report["damaged"].as_array().unwrap().is_empty(), "{report}");
}

/// `fsck --remote` walks no pointer files, yet said "and 0 dataset(s)" and "0 problem(s) under pointers", and
/// "no problems" for a remote that lacked a whole version `status --remote` reported as not pushed (adversarial
/// review): it now says the pointer files were not checked and where to look.
#[test]
fn fsck_remote_says_it_checks_no_pointer_files() {
    let r = TestRepo::new();
    let remote = folder_remote(&r);
    r.write("a.bin", b"pushed");
    r.ok(&["add", "a.bin"]);
    r.ok(&["push"]);
    r.write("b.bin", b"never pushed");
    r.ok(&["add", "b.bin"]);
    let out = r.dv(&["fsck", "--remote", "origin"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(
        err.contains(
            "), not the pointer files (`dv status --remote origin` says which versions it lacks): no \
             problems."
        ),
        "{err}"
    );
    assert!(
        err.starts_with("Checked remote origin (") && !err.contains("dataset(s)"),
        "{err}"
    );
    let status = r.ok(&["status", "--remote", "origin"]);
    assert!(status.contains("b.bin"), "{status}");
    // The remote's own closure problems are named for what they are.
    let packs = remote.path().join("packs");
    let damaged = files_below(&packs).into_iter().next().unwrap();
    fs::write(&damaged, b"not a pack").unwrap();
    let out = r.dv(&["fsck", "--remote", "origin"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("1 damaged pack(s)"), "{err}");
    assert!(
        !err.contains("under pointers") && !err.contains("pointer file problem"),
        "{err}"
    );
    // Without --remote, the datasets are counted as before.
    let out = r.dv(&["fsck"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains(") and 2 dataset(s): no problems."), "{err}");
}

/// Makes every file and folder below `dir` look `secs` older (gc judges a pack's age by its index's mtime).
fn age(dir: &Path, secs: u64) {
    for p in files_below(dir) {
        let m = fs::metadata(&p).unwrap().modified().unwrap();
        let f = fs::File::options().write(true).open(&p).unwrap();
        f.set_modified(m - std::time::Duration::from_secs(secs))
            .unwrap();
    }
}

/// The total size of the pack files of a cache.
fn pack_bytes(r: &TestRepo) -> u64 {
    pack_files(&cache(r))
        .iter()
        .map(|p| fs::metadata(p).unwrap().len())
        .sum()
}

/// How many objects the pack indexes of a cache list, in all (`count` of each `index/*.idx`).
fn indexed_objects(r: &TestRepo) -> u64 {
    fs::read_dir(cache(r).join("index"))
        .unwrap()
        .map(|e| {
            let idx = fs::read(e.unwrap().path()).unwrap();
            // magic, version, pack id, pack size, then the count.
            u32::from_le_bytes(idx[48..52].try_into().unwrap()) as u64
        })
        .sum()
}

/// Flips a byte in the stored bytes of the first object of `kind` (2 = tree, docs/format.md) in `pack`.
fn damage_first_of_kind(pack: &Path, kind: u8) {
    let mut data = fs::read(pack).unwrap();
    let mut at = 8;
    while at < data.len() {
        let stored = u32::from_le_bytes(data[at + 40..at + 44].try_into().unwrap()) as usize;
        if data[at + 32] == kind {
            data[at + 44 + stored / 2] ^= 0x40;
            fs::write(pack, &data).unwrap();
            return;
        }
        at += 44 + stored;
    }
    panic!("no object of kind {kind} in {}", pack.display());
}

#[test]
fn gc_reports_exactly_what_it_deletes_repacks_and_frees() {
    let (r, _, v2) = two_versions();
    let before = pack_bytes(&r);
    let objects = indexed_objects(&r);
    let dry = r.json(&["gc", "--grace", "0", "--dry-run"]);
    assert_eq!(dry["target"], "cache", "{dry}");
    assert_eq!(dry["dry_run"], true, "{dry}");
    assert_eq!(dry["packs_before"], 2, "{dry}");
    // v1's pack keeps one live object (same.txt) and is repacked; each object is counted once.
    assert_eq!(dry["packs_repacked"], 1, "{dry}");
    assert_eq!(
        dry["objects_kept"].as_u64().unwrap() + dry["objects_deleted"].as_u64().unwrap(),
        objects,
        "{dry}"
    );
    assert_eq!(pack_bytes(&r), before, "a dry run deletes nothing");

    let report = r.json(&["gc", "--grace", "0"]);
    assert_eq!(report["dry_run"], false, "{report}");
    assert_eq!(
        report["objects_deleted"], dry["objects_deleted"],
        "{report}"
    );
    assert_eq!(report["bytes_freed"], dry["bytes_freed"], "{report}");
    assert_eq!(report["packs_written"], 1, "{report}");
    // What the report says it freed is what the pack files lost.
    assert_eq!(
        report["bytes_freed"].as_u64().unwrap(),
        before - pack_bytes(&r),
        "{report}"
    );
    assert_eq!(indexed_objects(&r), dry["objects_kept"].as_u64().unwrap());
    fs::remove_dir_all(r.p("data")).unwrap();
    r.ok(&["checkout"]);
    assert_eq!(r.read("data/big.bin"), v2);
}

#[test]
fn gc_repacks_a_pack_below_the_share_and_leaves_the_others_alone() {
    let r = TestRepo::new();
    r.write("data/big.bin", &bytes(1, 200_000));
    r.write("data/small.txt", b"small v1");
    r.ok(&["add", "data"]);
    r.git(&["add", ".dv"]);
    r.git(&["commit", "-qm", "v1"]);
    r.write("data/small.txt", b"small v2");
    r.ok(&["add", "data"]);
    r.git(&["commit", "-qam", "v2"]);
    let before = pack_files(&cache(&r));
    // v1's pack lost only a few bytes (its tree and small.txt): above any reasonable share, it stays as it is.
    let report = r.json(&["gc", "--grace", "0", "--repack-below", "0.5"]);
    assert_eq!(report["packs_repacked"], 0, "{report}");
    assert_eq!(report["packs_deleted"], 0, "{report}");
    assert_eq!(report["objects_deleted"], 0, "{report}");
    assert_eq!(pack_files(&cache(&r)), before);
    // At a share of 1, a pack with anything dead is rewritten, and a pack with nothing dead (v2's) is not.
    let report = r.json(&["gc", "--grace", "0", "--repack-below", "1"]);
    assert_eq!(report["packs_repacked"], 1, "{report}");
    assert_eq!(report["objects_deleted"], 2, "{report}");
    let report = r.json(&["gc", "--grace", "0", "--repack-below", "1"]);
    assert_eq!(report["packs_repacked"], 0, "{report}");
    assert_eq!(r.dv(&["fsck"]).status.code(), Some(0));
}

#[test]
fn gc_refuses_when_a_tree_in_scope_is_damaged_and_deletes_nothing() {
    let r = TestRepo::new();
    r.write("data/a.txt", b"alpha");
    r.write("data/b.txt", b"beta");
    r.ok(&["add", "data"]);
    let packs = pack_files(&cache(&r));
    assert_eq!(packs.len(), 1);
    damage_first_of_kind(&packs[0], 2);
    let out = r.dv(&["gc", "--grace", "0"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{err}");
    assert!(err.contains("gc stops"), "{err}");
    assert_eq!(pack_files(&cache(&r)), packs, "nothing is deleted");
}

#[test]
fn after_a_gc_killed_mid_repack_the_next_drops_the_old_copies_a_young_pack_holds() {
    let (r, _, v2) = two_versions();
    age(&cache(&r), 7200);
    // Killed once the sparse pack's live object is copied to a new pack, before the old pack goes.
    let out = dv_command(r.path())
        .env("DV_CRASH_AT", "gc-repacked")
        .args(["gc", "--grace", "0"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("crash point gc-repacked"), "{err}");
    assert_eq!(pack_files(&cache(&r)).len(), 3);
    let before = pack_bytes(&r);
    // The new pack is in grace (default one hour), the two old ones are not: v1's pack holds nothing live that
    // the new pack does not, so it goes whole, and nothing is repacked.
    let report = r.json(&["gc"]);
    assert_eq!(report["packs_before"], 3, "{report}");
    assert_eq!(report["packs_in_grace"], 1, "{report}");
    assert_eq!(report["packs_deleted"], 1, "{report}");
    assert_eq!(report["packs_repacked"], 0, "{report}");
    assert_eq!(
        report["bytes_freed"].as_u64().unwrap(),
        before - pack_bytes(&r),
        "{report}"
    );
    assert_eq!(r.dv(&["fsck"]).status.code(), Some(0));
    fs::remove_dir_all(r.p("data")).unwrap();
    r.ok(&["checkout"]);
    assert_eq!(r.read("data/big.bin"), v2);
    assert_eq!(r.read("data/same.txt"), b"unchanged");
}

#[test]
fn gc_removes_a_pack_file_without_index_once_out_of_grace() {
    let r = TestRepo::new();
    r.write("data/a.txt", b"alpha");
    r.ok(&["add", "data"]);
    let packs = pack_files(&cache(&r));
    // A pack file no index names, as a write killed between pack and index leaves.
    let orphan = cache(&r).join(format!("packs/00/{}.pack", "0".repeat(64)));
    fs::create_dir_all(orphan.parent().unwrap()).unwrap();
    fs::write(&orphan, bytes(7, 5000)).unwrap();
    let report = r.json(&["gc"]);
    assert_eq!(report["unindexed_removed"], 0, "in grace: {report}");
    assert!(orphan.exists());
    age(&cache(&r), 7200);
    let report = r.json(&["gc"]);
    assert_eq!(report["unindexed_removed"], 1, "{report}");
    assert_eq!(report["bytes_freed"], 5000, "{report}");
    assert!(!orphan.exists());
    assert_eq!(pack_files(&cache(&r)), packs);

    // Something there that cannot be removed as a file is an error, never counted as removed.
    fs::create_dir_all(&orphan).unwrap();
    let touched = std::process::Command::new("touch")
        .args(["-d", "2 hours ago"])
        .arg(&orphan)
        .status()
        .unwrap();
    assert!(touched.success());
    let out = r.dv(&["gc", "--json"]);
    assert!(
        !out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert!(orphan.is_dir());
}

/// A plain local gc keeps only what the work trees name; a committed version that the work tree moved on from
/// (maybe never pushed, so its only copy) goes silently (adversarial review). gc now says so, as gc --remote
/// does, and says nothing when the branches name nothing else.
#[test]
fn local_gc_warns_when_a_branch_names_a_version_it_will_not_keep() {
    let r = TestRepo::new();
    r.write("f.bin", b"version one");
    r.ok(&["add", "f.bin"]);
    r.git(&["commit", "-qm", "v1"]);
    let out = r.dv(&["gc", "--grace", "0"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success() && !err.contains("warning"), "{err}");
    r.write("f.bin", b"version two");
    r.ok(&["add", "f.bin"]);
    let out = r.dv(&["gc", "--grace", "0"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(
        err.contains("warning: gc keeps only what the work trees' pointer files name; the versions of 'f.bin'"),
        "{err}"
    );
    assert!(err.contains("dv gc --all-branches"), "{err}");
    let out = r.dv(&["gc", "--grace", "0", "--all-branches"]);
    assert!(!String::from_utf8_lossy(&out.stderr).contains("warning"));
}

/// Flips the last byte (its checksum) of every index file of a cache.
fn damage_indexes(r: &TestRepo) {
    for e in fs::read_dir(cache(r).join("index")).unwrap() {
        let p = e.unwrap().path();
        let mut b = fs::read(&p).unwrap();
        *b.last_mut().unwrap() ^= 1;
        fs::write(&p, b).unwrap();
    }
}

/// A damaged index of an intact pack is "index damaged", not "a pack without an index", and `fsck --repair`
/// rebuilds it from the pack, with no remote: the pack (the only copy of the version) is never deleted.
#[test]
fn fsck_repair_rebuilds_a_damaged_index_from_its_intact_pack_without_a_remote() {
    let r = TestRepo::new();
    let data = bytes(5, 300_000);
    r.write("a", &data);
    r.ok(&["add", "a"]);
    r.git(&["add", "-A"]);
    r.git(&["commit", "-qm", "v1"]);
    let packs = pack_files(&cache(&r));
    damage_indexes(&r);

    let out = r.dv(&["fsck", "--json"]);
    assert_eq!(out.status.code(), Some(1));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["unindexed_packs"], 0, "{report}");
    let message = report["damaged_packs"][0]["message"].as_str().unwrap();
    assert!(
        message.contains("the pack is intact") && message.contains("rebuilds its index"),
        "{report}"
    );

    let out = r.dv(&["fsck", "--repair", "--json"]);
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{report}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(report["repaired"], 1, "{report}");
    assert_eq!(pack_files(&cache(&r)), packs, "the pack stays");
    assert_eq!(r.dv(&["fsck"]).status.code(), Some(0));
    fs::remove_file(r.p("a")).unwrap();
    r.ok(&["checkout"]);
    assert_eq!(r.read("a"), data);
}

/// `fsck --repair` with a remote configured that never got the data: the damaged index is rebuilt, not the
/// pack deleted in favour of a fetch that cannot succeed.
#[test]
fn fsck_repair_never_deletes_an_intact_pack_whose_index_is_damaged() {
    let r = TestRepo::new();
    let remote = folder_remote(&r);
    let _ = &remote;
    let data = bytes(6, 300_000);
    r.write("a", &data);
    r.ok(&["add", "a"]);
    r.git(&["add", "-A"]);
    r.git(&["commit", "-qm", "v1"]);
    damage_indexes(&r);
    let out = r.dv(&["fsck", "--repair"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    fs::remove_file(r.p("a")).unwrap();
    r.ok(&["checkout"]);
    assert_eq!(r.read("a"), data);
}

/// A pack without an index, out of grace, that holds the only copy of a committed version (its index lost):
/// gc rebuilds the index and keeps the pack, never deletes it as a crashed write's leftover.
#[test]
fn gc_rebuilds_the_index_of_a_pack_without_one_and_keeps_what_is_live_in_it() {
    let r = TestRepo::new();
    let data = bytes(8, 300_000);
    r.write("a", &data);
    r.ok(&["add", "a"]);
    r.git(&["add", "-A"]);
    r.git(&["commit", "-qm", "v1"]);
    let packs = pack_files(&cache(&r));
    for e in fs::read_dir(cache(&r).join("index")).unwrap() {
        fs::remove_file(e.unwrap().path()).unwrap();
    }
    age(&cache(&r), 7200);
    let report = r.json(&["gc"]);
    assert_eq!(report["unindexed_removed"], 0, "{report}");
    assert_eq!(pack_files(&cache(&r)), packs, "the pack stays");
    assert_eq!(r.dv(&["fsck"]).status.code(), Some(0));
    fs::remove_file(r.p("a")).unwrap();
    r.ok(&["checkout"]);
    assert_eq!(r.read("a"), data);
}

/// A pointer naming the same object as another, correct one, but as another kind: fsck checks every pointer
/// against its object and names the wrong one, whichever is walked first.
#[test]
fn fsck_checks_every_pointer_even_one_sharing_its_object_with_a_correct_one() {
    let r = TestRepo::new();
    r.write("d/x", b"x\n");
    r.ok(&["add", "d"]);
    r.git(&["add", "-A"]);
    r.git(&["commit", "-qm", "v"]);
    let text = String::from_utf8(r.read("d.dv")).unwrap();
    let wrong: String = text
        .lines()
        .filter(|l| !l.starts_with("files"))
        .map(|l| {
            if l.starts_with("kind") {
                "kind = \"file\"\n".to_string()
            } else {
                format!("{l}\n")
            }
        })
        .collect();
    for name in ["0.dv", "e.dv"] {
        r.write(name, wrong.as_bytes());
        let out = r.dv(&["fsck", "--json"]);
        assert_eq!(out.status.code(), Some(1), "{name}");
        let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        let problems = report["problems"].as_array().unwrap();
        assert_eq!(problems.len(), 1, "{report}");
        assert_eq!(problems[0]["problem"], "mismatch", "{report}");
        assert_eq!(
            problems[0]["dataset"],
            name.trim_end_matches(".dv"),
            "{report}"
        );
        fs::remove_file(r.p(name)).unwrap();
    }
}

/// A pointer that says `kind = "tree"` for a file's chunk: checkout is a user error (exit 1) naming the
/// pointer, not "the local cache is damaged".
#[test]
fn checkout_of_a_pointer_of_the_wrong_kind_names_the_pointer_not_the_cache() {
    let r = TestRepo::new();
    r.write("a", b"some data\n");
    r.ok(&["add", "a"]);
    let text = String::from_utf8(r.read("a.dv")).unwrap();
    let wrong: String = text
        .lines()
        .map(|l| {
            if l.starts_with("kind") {
                "kind = \"tree\"\n".to_string()
            } else {
                format!("{l}\n")
            }
        })
        .collect();
    r.write("c.dv", format!("{wrong}files = 1\n").as_bytes());
    let out = r.dv(&["checkout", "c"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("'c' is declared as a tree"), "{err}");
    assert!(!err.contains("cache is damaged"), "{err}");
    let out = r.dv(&["fsck", "--json"]);
    assert_eq!(out.status.code(), Some(1));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["problems"][0]["problem"], "mismatch", "{report}");
    assert_eq!(report["problems"][0]["dataset"], "c", "{report}");
}

/// Index lost or damaged and the pack header damaged too, so the index cannot be rebuilt: the pack's entries
/// can still be read. gc keeps such a pack (its entries are nowhere else), and `fsck --repair` copies them to a
/// new pack before it deletes it: the version can still be checked out.
#[test]
fn a_pack_whose_index_cannot_be_rebuilt_is_salvaged_never_just_deleted() {
    let r = TestRepo::new();
    let data = bytes(9, 300_000);
    r.write("a", &data);
    r.ok(&["add", "a"]);
    r.git(&["add", "-A"]);
    r.git(&["commit", "-qm", "v1"]);
    let packs = pack_files(&cache(&r));
    let mut pack = fs::read(&packs[0]).unwrap();
    pack[0] ^= 0xff;
    fs::write(&packs[0], pack).unwrap();
    let index = fs::read_dir(cache(&r).join("index"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let saved = fs::read(&index).unwrap();
    fs::remove_file(&index).unwrap();
    age(&cache(&r), 7200);
    let report = r.json(&["gc"]);
    assert_eq!(report["unindexed_removed"], 0, "{report}");
    assert_eq!(pack_files(&cache(&r)), packs, "the pack stays");

    // The index back, but damaged: fsck --repair salvages the entries.
    let mut damaged = saved;
    *damaged.last_mut().unwrap() ^= 1;
    fs::write(&index, damaged).unwrap();
    let out = r.dv(&["fsck", "--json"]);
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(
        report["damaged_packs"][0]["message"]
            .as_str()
            .unwrap()
            .contains("cannot be rebuilt"),
        "{report}"
    );
    let out = r.dv(&["fsck", "--repair"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Every entry was sound, so the new pack holds them at the same offsets: it has the same name and took
    // the damaged file's place.
    assert_eq!(&fs::read(&packs[0]).unwrap()[..4], b"DVPK");
    assert_eq!(r.dv(&["fsck"]).status.code(), Some(0));
    fs::remove_file(r.p("a")).unwrap();
    r.ok(&["checkout"]);
    assert_eq!(r.read("a"), data);
}

/// The reported loss: one pack, two datasets; the index's checksum is damaged and so is the first entry's header
/// (its length), so neither rebuilding the index nor walking the entry headers finds the entries. The damaged
/// index's entry table still names the pack, so it still says where each object lies: `fsck --repair` keeps
/// every entry that verifies, and both datasets can still be checked out.
#[test]
fn fsck_repair_salvages_a_pack_through_its_damaged_index_entry_table() {
    let r = TestRepo::new();
    let (a, b) = (bytes(3, 100_000), bytes(4, 100_000));
    r.write("a", &a);
    r.write("b", &b);
    r.ok(&["add", "a", "b"]);
    r.git(&["add", "-A"]);
    r.git(&["commit", "-qm", "v"]);
    damage_indexes(&r);
    let packs = pack_files(&cache(&r));
    assert_eq!(packs.len(), 1);
    let mut pack = fs::read(&packs[0]).unwrap();
    pack[48] ^= 0xff;
    fs::write(&packs[0], pack).unwrap();
    let out = r.dv(&["fsck", "--repair"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(pack_files(&cache(&r)).len(), 1, "the pack is kept");
    assert_eq!(r.dv(&["fsck"]).status.code(), Some(0));
    fs::remove_file(r.p("a")).unwrap();
    fs::remove_file(r.p("b")).unwrap();
    r.ok(&["checkout"]);
    assert_eq!((r.read("a"), r.read("b")), (a, b));
}

/// A version only a stash holds was deleted by a plain `dv gc` without a word, and after `git stash pop` it could
/// never be checked out again (adversarial review). gc keeps what every stash entry names, whatever the scope:
/// the stashed work tree (an unstaged pointer), what was staged, and untracked pointer files (`git stash -u`),
/// for stash@{0} and older entries alike.
#[test]
fn gc_keeps_what_every_stash_entry_names() {
    let r = TestRepo::new();
    r.write("f.bin", b"version one");
    r.ok(&["add", "f.bin"]);
    // A file named like a pointer file that is none (a DV video), in every stash entry's tree too.
    r.write("clip.dv", b"video bytes");
    r.git(&["add", ".dv", "clip.dv"]);
    r.git(&["commit", "-qm", "v1"]);
    // stash@{2}: a staged pointer (`dv add` stages it).
    r.write("f.bin", b"version two, staged");
    r.ok(&["add", "f.bin"]);
    r.git(&["stash", "-q"]);
    r.ok(&["checkout", "-q"]);
    // stash@{1}: an unstaged pointer, in the stash commit's own tree only.
    r.write("f.bin", b"version three, not staged");
    r.ok(&["add", "--no-stage", "f.bin"]);
    r.git(&["stash", "-q"]);
    r.ok(&["checkout", "-q"]);
    // stash@{0}: an untracked pointer, stashed with -u.
    r.write("g.bin", b"a new dataset, untracked");
    r.ok(&["add", "--no-stage", "g.bin"]);
    r.git(&["stash", "-u", "-q"]);
    fs::remove_file(r.p("g.bin")).unwrap();
    assert_eq!(r.read("f.bin"), b"version one");

    let out = r.dv(&["gc", "--grace", "0"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert_eq!(err.matches("skipped 'clip.dv'").count(), 1, "{err}");
    for scope in [&["--all-branches"][..], &["--all-commits"]] {
        let report = r.json(&[&["gc", "--grace", "0"], scope].concat());
        assert_eq!(report["objects_deleted"], 0, "{report}");
    }

    r.git(&["stash", "pop", "-q"]);
    r.ok(&["checkout", "-q"]);
    assert_eq!(r.read("g.bin"), b"a new dataset, untracked");
    r.git(&["checkout", "-q", "--", "."]);
    fs::remove_file(r.p("g.bin.dv")).unwrap();
    r.git(&["stash", "pop", "-q"]);
    r.ok(&["checkout", "-q"]);
    assert_eq!(r.read("f.bin"), b"version three, not staged");
    r.git(&["checkout", "-q", "--", "."]);
    r.git(&["stash", "pop", "-q"]);
    r.ok(&["checkout", "-q"]);
    assert_eq!(r.read("f.bin"), b"version two, staged");
}

/// Pack files deleted by hand while their index files stay (the adversarial review's case): their objects are
/// absent, not unreadable. Status says the data is not in the cache instead of failing on the pack, fsck names
/// what is missing, and add stores it again, after which everything reads back bit for bit.
#[test]
fn packs_deleted_by_hand_beside_their_indexes_are_absent_and_added_again() {
    let r = TestRepo::new();
    r.write("data/a", &bytes(1, 50_000));
    r.write("data/b/c", b"c\n");
    r.ok(&["add", "data"]);
    r.git(&["commit", "-q", "-m", "v1"]);
    let packs = pack_files(&r.p(".dv/cache"));
    assert!(!packs.is_empty());
    for p in &packs {
        fs::remove_file(p).unwrap();
    }
    r.ok(&["status"]);
    let out = r.dv(&["fsck"]);
    let text =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{text}");
    assert!(
        text.contains("missing object") && text.contains("under 'data'"),
        "{text}"
    );
    let added = r.ok(&["add", "data", "--json"]);
    let added: serde_json::Value = serde_json::from_str(&added).unwrap();
    assert!(added["new_objects"].as_u64().unwrap() >= 3, "{added}");
    // The indexes left without packs are fsck's to clear.
    r.ok(&["fsck", "--repair"]);
    r.ok(&["fsck"]);
    fs::remove_dir_all(r.p("data")).unwrap();
    r.ok(&["checkout"]);
    assert_eq!(fs::read(r.p("data/a")).unwrap(), bytes(1, 50_000));
    assert_eq!(fs::read(r.p("data/b/c")).unwrap(), b"c\n");
}
