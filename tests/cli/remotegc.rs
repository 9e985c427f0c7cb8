//! The shared remote never loses what anyone pushed: gc against a second clone's pushes, push and status against
//! a remote that lost objects, `fsck --remote --repair`, unreadable indexes, packs left without an index. Every
//! scenario runs against a folder remote and the real S3 test server, and ends with `fsck` and
//! `fsck --remote` clean.

use crate::common::*;
use crate::remote::{Backend, both_backends, ok_json, origin_with_remote, run_dv};
use std::fs;
use std::path::Path;

/// Makes every file of the remote look `secs` older (both backends report a file's mtime as its time).
pub(crate) fn age(root: &Path, secs: u64) {
    for p in files_below(root) {
        let m = fs::metadata(&p).unwrap().modified().unwrap();
        let f = fs::File::options().write(true).open(&p).unwrap();
        f.set_modified(m - std::time::Duration::from_secs(secs))
            .unwrap();
    }
}

/// `dv fsck` and `dv fsck --remote origin` are clean in `dir`.
pub(crate) fn assert_clean(dir: &Path) {
    for args in [&["fsck"][..], &["fsck", "--remote", "origin"][..]] {
        let out = run_dv(dir, args);
        assert_eq!(
            out.status.code(),
            Some(0),
            "dv {args:?} in {}:\n{}{}",
            dir.display(),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

/// A fresh `git clone` of the repository in `dir`.
pub(crate) fn git_clone(dir: &Path) -> tempfile::TempDir {
    let c = tempfile::tempdir().unwrap();
    git_in(c.path(), &["clone", "-q", dir.to_str().unwrap(), "."]);
    c
}

/// What `dv status --remote` says of the dataset at `path`: (pushed, missing objects).
pub(crate) fn remote_state(dir: &Path, path: &str) -> (bool, u64) {
    let st = ok_json(dir, &["status", "--remote"]);
    let d = st["datasets"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["path"] == path)
        .unwrap_or_else(|| panic!("no {path} in {st}"))
        .clone();
    (
        d["remote"]["pushed"].as_bool().unwrap(),
        d["remote"]["missing_objects"].as_u64().unwrap(),
    )
}

both_backends!(gc_keeps_what_another_clone_pushed_on_top_of_old_packs: gc_keeps_other_clones_push_folder, gc_keeps_other_clones_push_s3);

/// The reported bug: B pushes a version that reuses objects of A's old packs; A changes its data and collects
/// the remote; B's version must still be whole.
fn gc_keeps_what_another_clone_pushed_on_top_of_old_packs(b: Backend) {
    let a = origin_with_remote(&b);
    a.ok(&["push"]);
    // A's packs are older than the grace period.
    age(&b.files(), 7200);
    let bc = clone_of(&a);
    ok_at(bc.path(), &["pull"]);
    fs::write(bc.path().join("data/new.txt"), b"from clone B").unwrap();
    ok_at(bc.path(), &["add", "data"]);
    git_in(bc.path(), &["commit", "-qam", "B's version"]);
    let pushed = ok_json(bc.path(), &["push"]);
    assert!(pushed["skipped"].as_u64().unwrap() > 0, "{pushed}");
    // A moves on and collects: its scope no longer reaches v1.
    a.write("data/big.bin", &bytes(2, 3_000_000));
    fs::remove_dir_all(a.p("data/small")).unwrap();
    a.ok(&["add", "data"]);
    a.git(&["commit", "-qam", "A's v2"]);
    a.ok(&["push"]);
    a.json(&["gc", "--remote", "origin"]);
    // B's version is whole on the remote: a fresh clone of B pulls it bit for bit.
    let fresh = git_clone(bc.path());
    ok_at(fresh.path(), &["pull"]);
    assert_eq!(
        snapshot(&fresh.path().join("data")),
        snapshot(&bc.path().join("data"))
    );
    assert_eq!(remote_state(bc.path(), "data"), (true, 0));
    assert_clean(a.path());
    assert_clean(bc.path());
    assert_clean(fresh.path());
}

both_backends!(gc_keeps_what_a_push_reused_without_sending_anything: gc_keeps_reuse_folder, gc_keeps_reuse_s3);

/// B pushes a dataset the remote already holds whole (from A's old packs): nothing is sent, but the push relies
/// on those packs, and A's gc (whose scope dropped the dataset) must keep them.
fn gc_keeps_what_a_push_reused_without_sending_anything(b: Backend) {
    let a = origin_with_remote(&b);
    a.ok(&["push", "data"]);
    a.write("extra/e.bin", &bytes(3, 400_000));
    a.ok(&["add", "extra"]);
    a.git(&["add", "-A"]);
    a.git(&["commit", "-qm", "extra"]);
    a.ok(&["push", "extra"]);
    age(&b.files(), 7200);
    let bc = clone_of(&a);
    let pushed = ok_json(bc.path(), &["push", "extra"]);
    assert_eq!(pushed["objects"], 0, "{pushed}");
    ok_at(bc.path(), &["pull", "data"]);
    // A drops the dataset and collects.
    a.git(&["rm", "-q", "extra.dv"]);
    a.git(&["commit", "-qm", "no extra"]);
    fs::remove_dir_all(a.p("extra")).unwrap();
    a.json(&["gc", "--remote", "origin"]);
    ok_at(bc.path(), &["pull", "extra"]);
    assert_eq!(
        fs::read(bc.path().join("extra/e.bin")).unwrap(),
        bytes(3, 400_000)
    );
    assert_clean(a.path());
    assert_clean(bc.path());
    // Once the grace period is over for the push too, the dataset no scope names is collected.
    age(&b.files(), 7200);
    let report = a.json(&["gc", "--remote", "origin"]);
    assert!(report["objects_deleted"].as_u64().unwrap() > 0, "{report}");
    assert!(
        files_below(&b.files().join("uses")).len() <= 1,
        "old use records are deleted"
    );
    assert_clean(a.path());
}

both_backends!(push_sends_again_what_the_remote_lost_and_status_says_so: push_repairs_folder, push_repairs_s3);

/// A pack of chunks is lost from the remote (as a gc by an older dv would lose it): the trees above are still
/// there, so the closure rule alone would call the version pushed. Status must not, and push must send it.
fn push_sends_again_what_the_remote_lost_and_status_says_so(b: Backend) {
    let a = origin_with_remote(&b);
    a.ok_with(&[("DV_PACK_SIZE", "1000000")], &["push"]);
    assert_eq!(remote_state(a.path(), "data"), (true, 0));
    // The first pack committed holds only chunks of big.bin: lose it, index and pack.
    let mut indexes = files_below(&b.files().join("index"));
    assert!(indexes.len() >= 3, "{indexes:?}");
    indexes.sort_by_key(|p| fs::metadata(p).unwrap().modified().unwrap());
    let hex = indexes[0]
        .file_stem()
        .unwrap()
        .to_str()
        .unwrap()
        .to_string();
    fs::remove_file(&indexes[0]).unwrap();
    fs::remove_file(b.files().join(format!("packs/{}/{hex}.pack", &hex[..2]))).unwrap();
    let (pushed, missing) = remote_state(a.path(), "data");
    assert!(!pushed && missing > 0, "status says pushed: {missing}");
    let report = ok_json(a.path(), &["push"]);
    assert!(report["objects"].as_u64().unwrap() > 0, "{report}");
    assert_eq!(remote_state(a.path(), "data"), (true, 0));
    let fresh = clone_of(&a);
    ok_at(fresh.path(), &["pull"]);
    assert_eq!(snapshot(&fresh.path().join("data")), snapshot(&a.p("data")));
    assert_clean(a.path());
}

both_backends!(fsck_remote_repair_uploads_good_copies_from_the_cache: remote_repair_folder, remote_repair_s3);

/// A flipped byte in one remote pack, another pack file gone, a third pack's index garbled: `fsck --remote`
/// finds all three and `fsck --remote --repair` mends them from the clone's good copies.
fn fsck_remote_repair_uploads_good_copies_from_the_cache(b: Backend) {
    let a = origin_with_remote(&b);
    a.ok_with(&[("DV_PACK_SIZE", "700000")], &["push"]);
    let mut indexes = files_below(&b.files().join("index"));
    assert!(indexes.len() >= 4, "{indexes:?}");
    indexes.sort();
    let pack_of = |idx: &Path| {
        let hex = idx.file_stem().unwrap().to_str().unwrap().to_string();
        b.files().join(format!("packs/{}/{hex}.pack", &hex[..2]))
    };
    // 1. A flipped byte in the middle of a pack.
    let p0 = pack_of(&indexes[0]);
    let mut data = fs::read(&p0).unwrap();
    let mid = data.len() / 2;
    data[mid] ^= 0x55;
    fs::write(&p0, &data).unwrap();
    // 2. A pack file gone (its index still there).
    fs::remove_file(pack_of(&indexes[1])).unwrap();
    // 3. An index garbled (its pack still there).
    let mut idx = fs::read(&indexes[2]).unwrap();
    idx[20] ^= 0xFF;
    fs::write(&indexes[2], &idx).unwrap();
    let out = run_dv(a.path(), &["fsck", "--remote", "origin", "--json"]);
    assert_eq!(out.status.code(), Some(1));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(
        !report["damaged"].as_array().unwrap().is_empty(),
        "{report}"
    );
    assert!(
        report["damaged_packs"].as_array().unwrap().len() >= 2,
        "{report}"
    );
    let out = run_dv(
        a.path(),
        &["fsck", "--remote", "origin", "--repair", "--json"],
    );
    let repaired: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{repaired}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(repaired["repaired"].as_u64().unwrap() > 0, "{repaired}");
    assert_clean(a.path());
    let fresh = clone_of(&a);
    ok_at(fresh.path(), &["pull"]);
    assert_eq!(snapshot(&fresh.path().join("data")), snapshot(&a.p("data")));
}

both_backends!(an_unreadable_index_does_not_block_pulls_of_other_datasets: unreadable_index_folder, unreadable_index_s3);

/// One remote index is damaged: a pull of a dataset that does not need it works (with a warning), a pull that
/// does fails naming the index, and `fsck --remote --repair` rebuilds it from its pack.
fn an_unreadable_index_does_not_block_pulls_of_other_datasets(b: Backend) {
    let a = origin_with_remote(&b);
    a.ok(&["push", "data"]);
    let before: Vec<_> = files_below(&b.files().join("index"));
    a.write("other/o.bin", &bytes(9, 100_000));
    a.ok(&["add", "other"]);
    a.git(&["add", "-A"]);
    a.git(&["commit", "-qm", "other"]);
    a.ok(&["push", "other"]);
    let other_index: Vec<_> = files_below(&b.files().join("index"))
        .into_iter()
        .filter(|p| !before.contains(p))
        .collect();
    assert_eq!(other_index.len(), 1, "{other_index:?}");
    fs::write(
        &other_index[0],
        b"not an index at all, just some bytes long enough to be read",
    )
    .unwrap();
    let fresh = clone_of(&a);
    let out = run_dv(fresh.path(), &["pull", "data"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(
        err.contains("warning: skipped the remote's index/"),
        "{err}"
    );
    assert_eq!(snapshot(&fresh.path().join("data")), snapshot(&a.p("data")));
    let out = run_dv(fresh.path(), &["pull", "other"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        out.status.code(),
        Some(1),
        "{err}{}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert!(
        err.contains("is not on the remote") && err.contains("cannot be read"),
        "{err}"
    );
    // gc refuses rather than guess what that pack holds (A's own verified copy of the index would do).
    let out = run_dv(fresh.path(), &["gc", "--remote", "origin"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("cannot be read") && err.contains("--repair"),
        "{err}"
    );
    ok_at(a.path(), &["fsck", "--remote", "origin", "--repair"]);
    ok_at(fresh.path(), &["pull", "other"]);
    assert_eq!(
        fs::read(fresh.path().join("other/o.bin")).unwrap(),
        bytes(9, 100_000)
    );
    assert_clean(a.path());
    assert_clean(fresh.path());
}

both_backends!(packs_left_without_an_index_are_reported_and_collected_after_grace: unindexed_packs_folder, unindexed_packs_s3);

/// A push killed between a pack and its index leaves a pack no index names: `fsck --remote` reports it (not as
/// damage), `gc --remote` leaves it alone within the grace period and removes it after.
fn packs_left_without_an_index_are_reported_and_collected_after_grace(b: Backend) {
    let a = origin_with_remote(&b);
    let out = dv_command(a.path())
        .env("DV_CRASH_AT", "1")
        .args(["push"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let index_dir = b.files().join("index");
    assert!(!index_dir.exists() || files_below(&index_dir).is_empty());
    let report = ok_json(a.path(), &["fsck", "--remote", "origin"]);
    assert_eq!(report["unindexed_packs"], 1, "{report}");
    let gc = a.json(&["gc", "--remote", "origin"]);
    assert_eq!(gc["unindexed_removed"], 0, "{gc}");
    age(&b.files(), 7200);
    let gc = a.json(&["gc", "--remote", "origin"]);
    assert_eq!(gc["unindexed_removed"], 1, "{gc}");
    let report = ok_json(a.path(), &["fsck", "--remote", "origin"]);
    assert_eq!(report["unindexed_packs"], 0, "{report}");
    a.ok(&["push"]);
    assert_clean(a.path());
}

/// A branch another clone pushed (with `git push`) that this clone knows only as a remote-tracking branch
/// (`origin/feature`, no local `feature`) is a branch for `--all-branches`: `gc --remote --all-branches` keeps its
/// version after the grace period, and a plain `gc --remote` warns that it will not keep it.
#[test]
fn gc_all_branches_keeps_what_remote_tracking_branches_name() {
    let a = TestRepo::new();
    let remote = folder_remote(&a);
    a.write("data/x", b"from clone A");
    a.ok(&["add", "data"]);
    a.git(&["add", "-A"]);
    a.git(&["commit", "-qm", "A's version"]);
    a.ok(&["push"]);
    let bare = tempfile::tempdir().unwrap();
    git_in(bare.path(), &["init", "-q", "--bare", "-b", "main"]);
    a.git(&["remote", "add", "origin", bare.path().to_str().unwrap()]);
    a.git(&["push", "-q", "origin", "main"]);

    // Clone B pushes a new version on branch `feature`, data and Git both.
    let b = git_clone(bare.path());
    ok_at(b.path(), &["pull"]);
    git_in(b.path(), &["checkout", "-q", "-b", "feature"]);
    fs::write(b.path().join("data/y"), bytes(7, 5000)).unwrap();
    ok_at(b.path(), &["add", "data"]);
    git_in(b.path(), &["commit", "-qm", "B's feature"]);
    ok_at(b.path(), &["push"]);
    git_in(b.path(), &["push", "-q", "origin", "feature"]);

    // A only fetches Git's refs: `origin/feature`, and no local `feature`.
    a.git(&["fetch", "-q", "origin"]);
    age(remote.path(), 7200);
    let out = a.dv(&["gc", "--remote", "origin", "--dry-run"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.contains("warning: gc --remote keeps only what this work tree's pointer files name")
            && stderr.contains("'data'")
            && stderr.contains("--all-branches"),
        "{stderr}"
    );
    a.ok(&["fetch", "--all-branches"]);
    a.ok(&["gc", "--remote", "origin", "--all-branches"]);

    // The feature branch's version is still whole on the remote.
    let c = git_clone(bare.path());
    git_in(c.path(), &["checkout", "-q", "feature"]);
    ok_at(c.path(), &["pull"]);
    assert_eq!(fs::read(c.path().join("data/y")).unwrap(), bytes(7, 5000));
    assert_clean(c.path());
}

/// The packs on the remote at `dir` (their ids, from the index files).
pub(crate) fn remote_packs(dir: &Path) -> Vec<String> {
    let mut ids: Vec<String> = files_below(&dir.join("index"))
        .iter()
        .map(|p| p.file_stem().unwrap().to_str().unwrap().to_string())
        .collect();
    ids.sort();
    ids
}

#[test]
fn gc_on_a_remote_refuses_while_the_cache_lacks_a_tree_in_scope() {
    let b = Backend::folder();
    let a = origin_with_remote(&b);
    a.ok(&["push"]);
    let bc = clone_of(&a);
    ok_at(bc.path(), &["pull"]);
    fs::write(bc.path().join("data/small/c.txt"), b"from B").unwrap();
    ok_at(bc.path(), &["add", "data"]);
    git_in(bc.path(), &["commit", "-qam", "B's version"]);
    ok_at(bc.path(), &["push"]);
    age(&b.files(), 7200);
    // A gets B's commit through Git, not B's trees through dv: it cannot tell what B's version reaches.
    a.git(&["pull", "-q", bc.path().to_str().unwrap(), "main"]);
    let before = files_below(&b.files());
    let out = run_dv(a.path(), &["gc", "--remote", "origin"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("run `dv fetch`"), "{err}");
    let mut after = files_below(&b.files());
    after.retain(|p| !p.starts_with(b.files().join("uses")));
    let mut kept = before.clone();
    kept.retain(|p| !p.starts_with(b.files().join("uses")));
    assert_eq!(after, kept, "nothing is deleted");
    // Fetched, the same gc goes on, and B's version stays whole.
    a.ok(&["fetch"]);
    a.json(&["gc", "--remote", "origin"]);
    let fresh = git_clone(bc.path());
    ok_at(fresh.path(), &["pull"]);
    assert_eq!(
        fs::read(fresh.path().join("data/small/c.txt")).unwrap(),
        b"from B"
    );
    assert_clean(a.path());
}

#[test]
fn gc_on_a_remote_goes_on_when_the_cache_lacks_only_file_contents() {
    let b = Backend::folder();
    let a = TestRepo::new();
    b.configure(&a);
    a.git(&["add", ".dv"]);
    a.write("data/a.txt", b"alpha");
    a.write("data/b.txt", b"beta");
    a.ok(&["add", "data"]);
    a.git(&["commit", "-qm", "v1"]);
    a.ok(&["push"]);
    let c = clone_of(&a);
    // A partial pull brings the tree and a.txt, not b.txt: what the tree names and the cache lacks is kept.
    ok_at(c.path(), &["pull", "data/a.txt"]);
    let report = ok_json(c.path(), &["gc", "--remote", "origin", "--grace", "0"]);
    assert_eq!(report["objects_deleted"], 0, "{report}");
    let fresh = git_clone(a.path());
    ok_at(fresh.path(), &["pull"]);
    assert_eq!(fs::read(fresh.path().join("data/b.txt")).unwrap(), b"beta");
}

#[test]
fn a_young_pack_keeps_what_it_reaches_in_old_packs_after_the_use_records_expire() {
    let b = Backend::folder();
    let a = origin_with_remote(&b);
    a.ok(&["push"]);
    age(&b.files(), 7200);
    // v2 reuses v1's big.bin: its push sends the new trees and c.txt, and relies on v1's pack for the rest.
    a.write("data/small/c.txt", b"gamma");
    a.ok(&["add", "data"]);
    a.git(&["commit", "-qam", "v2"]);
    a.ok(&["push"]);
    // The push's use record is past the grace period; v2's pack is not.
    age(&b.files().join("uses"), 7200);
    // A moves on without big.bin and collects: v2's pack still keeps big.bin, in v1's old pack, through v2's trees.
    fs::remove_file(a.p("data/big.bin")).unwrap();
    a.ok(&["add", "data"]);
    a.git(&["commit", "-qam", "v3"]);
    a.json(&["gc", "--remote", "origin"]);
    let out = run_dv(a.path(), &["fsck", "--remote", "origin"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let fresh = git_clone(a.path());
    git_in(fresh.path(), &["checkout", "-q", "HEAD~1"]);
    ok_at(fresh.path(), &["pull"]);
    assert_eq!(
        fs::read(fresh.path().join("data/big.bin")).unwrap(),
        bytes(1, 3_000_000)
    );
}

/// A use record naming `packs` (hex ids), written on the folder remote at `dir` as a push writes it.
pub(crate) fn write_use_record(dir: &Path, packs: &[String]) {
    let mut ids: Vec<Vec<u8>> = packs
        .iter()
        .map(|h| {
            (0..32)
                .map(|i| u8::from_str_radix(&h[2 * i..2 * i + 2], 16).unwrap())
                .collect()
        })
        .collect();
    ids.sort();
    let mut rec = b"DVUS".to_vec();
    rec.extend(1u32.to_le_bytes());
    rec.extend((ids.len() as u32).to_le_bytes());
    for id in &ids {
        rec.extend(id);
    }
    let sum = blake3::hash(&rec);
    rec.extend(sum.as_bytes());
    let name = blake3::hash(&rec).to_hex().to_string();
    fs::create_dir_all(dir.join("uses")).unwrap();
    fs::write(dir.join(format!("uses/{name}.use")), rec).unwrap();
}

#[test]
fn gc_spares_the_packs_a_push_begins_to_rely_on_while_it_deletes() {
    let b = Backend::folder();
    let a = TestRepo::new();
    b.configure(&a);
    a.git(&["add", ".dv"]);
    // `keep` loses its big file (its pack is repacked); d1 to d3 go whole (their packs are deleted).
    a.write("keep/a.txt", b"alpha");
    a.write("keep/big.bin", &bytes(1, 100_000));
    a.ok(&["add", "keep"]);
    a.ok(&["push", "keep"]);
    let mut dead = Vec::new();
    for (seed, d) in [(11, "d1"), (12, "d2"), (13, "d3")] {
        a.write(&format!("{d}/x.bin"), &bytes(seed, 20_000));
        let before = remote_packs(&b.files());
        a.ok(&["add", d]);
        a.ok(&["push", d]);
        let mut new = remote_packs(&b.files());
        new.retain(|p| !before.contains(p));
        assert_eq!(new.len(), 1);
        dead.extend(new);
    }
    let keep_pack: Vec<String> = remote_packs(&b.files())
        .into_iter()
        .filter(|p| !dead.contains(p))
        .collect();
    fs::remove_file(a.p("keep/big.bin")).unwrap();
    a.ok(&["add", "keep"]);
    a.git(&["add", "-A"]);
    a.git(&["commit", "-qm", "only keep/a.txt"]);
    for d in ["d1", "d2", "d3"] {
        fs::remove_dir_all(a.p(d)).unwrap();
        fs::remove_file(a.p(&format!("{d}.dv"))).unwrap();
    }
    a.git(&["add", "-A"]);
    a.git(&["commit", "-qm", "no d"]);
    age(&b.files(), 7200);
    let objects = |pack: &str| {
        let idx = fs::read(b.files().join(format!("index/{pack}.idx"))).unwrap();
        u32::from_le_bytes(idx[48..52].try_into().unwrap()) as u64
    };
    let counts: std::collections::HashMap<&String, u64> =
        dead.iter().map(|p| (p, objects(p))).collect();
    let dry = a.json(&["gc", "--remote", "origin", "--dry-run"]);
    assert_eq!(dry["packs_deleted"], 3, "{dry}");
    assert_eq!(dry["packs_repacked"], 1, "{dry}");
    // gc pauses after its first deletion (the first time it reaches point gc-remote-pack-deleted), long
    // enough that it lists the use records again before the next; meanwhile a push starts relying on the
    // other doomed packs.
    let child = dv_command(a.path())
        .env("DV_PAUSE_AT", "gc-remote-pack-deleted:3000")
        .args(["gc", "--remote", "origin", "--json"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    let first = loop {
        let gone: Vec<&String> = dead
            .iter()
            .filter(|p| !remote_packs(&b.files()).contains(p))
            .collect();
        if let Some(g) = gone.first() {
            break (*g).clone();
        }
        assert!(std::time::Instant::now() < deadline, "gc deleted nothing");
        std::thread::sleep(std::time::Duration::from_millis(5));
    };
    let first_objects = counts[&first];
    let mut relied: Vec<String> = dead.iter().filter(|p| **p != first).cloned().collect();
    relied.extend(keep_pack.clone());
    write_use_record(&b.files(), &relied);
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["packs_deleted"], 1, "{report}");
    assert_eq!(report["packs_repacked"], 0, "{report}");
    assert_eq!(report["packs_in_grace"], 3, "{report}");
    assert_eq!(report["packs_written"], 1, "{report}");
    // Only the first dead pack's objects are gone.
    assert_eq!(report["objects_deleted"], first_objects, "{report}");
    let left = remote_packs(&b.files());
    for p in &relied {
        assert!(left.contains(p), "{p} is relied on and must stay");
    }
    assert!(!left.contains(&first));
    assert_clean(a.path());
}

/// A folder remote inside a `.dv/` folder is refused wherever a remote is opened, links resolved (fourth
/// adversarial review, item 4): a committed config pointing a clone's remote at another repository's cache let
/// `gc --remote` delete that repository's only copy of its data, and one pointing at the repository's own
/// cache made push find everything "already there" while nothing left the machine.
#[test]
fn a_folder_remote_inside_a_dv_folder_is_refused() {
    let parent = tempfile::tempdir().unwrap();
    let parent = parent.path();
    let victim = parent.join("victim");
    fs::create_dir(&victim).unwrap();
    git_in(&victim, &["init", "-q", "-b", "main"]);
    ok_at(&victim, &["init"]);
    fs::write(victim.join("big"), bytes(7, 100_000)).unwrap();
    ok_at(&victim, &["add", "big"]);
    git_in(&victim, &["add", "-A"]);
    git_in(&victim, &["commit", "-qm", "v"]);
    let cache = victim.join(".dv/cache");
    age(&cache.join("packs"), 3 * 3600);
    age(&cache.join("index"), 3 * 3600);

    // A repository whose committed config names the victim's cache as its default remote.
    let evil = parent.join("evil");
    fs::create_dir(&evil).unwrap();
    git_in(&evil, &["init", "-q", "-b", "main"]);
    ok_at(&evil, &["init"]);
    ok_at(
        &evil,
        &[
            "remote",
            "add",
            "origin",
            "../victim/.dv/cache",
            "--default",
        ],
    );
    fs::write(evil.join("s"), b"x").unwrap();
    ok_at(&evil, &["add", "s"]);
    git_in(&evil, &["add", "-A"]);
    git_in(&evil, &["commit", "-qm", "s"]);
    let clone = parent.join("clone");
    git_in(
        parent,
        &[
            "clone",
            "-q",
            evil.to_str().unwrap(),
            clone.to_str().unwrap(),
        ],
    );

    let refused = |dir: &Path, args: &[&str], named: &str| {
        let out = dv_command(dir).args(args).output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "dv {args:?}: {err}");
        assert!(
            err.starts_with("error: ")
                && err.contains("inside a `.dv/` folder")
                && err.contains(named),
            "dv {args:?}: {err}"
        );
        assert!(err.contains("hint: "), "{err}");
    };
    refused(&clone, &["gc", "--remote", "origin"], "victim/.dv/cache");
    refused(&clone, &["push"], "victim/.dv/cache");
    refused(
        &clone,
        &["status", "--remote", "origin"],
        "victim/.dv/cache",
    );
    refused(&clone, &["fsck", "--remote", "origin"], "victim/.dv/cache");

    // Through a link, and into a folder of the cache that does not exist yet.
    std::os::unix::fs::symlink(&cache, parent.join("innocent")).unwrap();
    ok_at(
        &clone,
        &["remote", "modify", "origin", "url", "../innocent"],
    );
    refused(&clone, &["gc", "--remote", "origin"], "victim/.dv/cache");
    ok_at(
        &clone,
        &["remote", "modify", "origin", "url", "../innocent/new"],
    );
    refused(&clone, &["push"], "victim/.dv/cache/new");
    assert!(!cache.join("new").exists());

    // The repository's own cache.
    ok_at(&clone, &["remote", "modify", "origin", "url", ".dv/cache"]);
    refused(&clone, &["push"], ".dv/cache");

    // The victim kept its data.
    fs::remove_file(victim.join("big")).unwrap();
    ok_at(&victim, &["checkout"]);
    assert_eq!(fs::read(victim.join("big")).unwrap(), bytes(7, 100_000));
}

/// The packs on the folder remote at `dir` that are not in `before`.
fn new_packs(dir: &Path, before: &[String]) -> Vec<String> {
    let mut now = remote_packs(dir);
    now.retain(|p| !before.contains(p));
    now
}

#[test]
fn a_pack_recorded_while_gc_deletes_keeps_what_its_trees_reach_in_older_packs() {
    let b = Backend::folder();
    let a = TestRepo::new();
    b.configure(&a);
    a.git(&["add", ".dv"]);
    // `keep` loses its big file, so its pack is repacked: gc pauses right after writing the new pack.
    a.write("keep/a.txt", b"alpha");
    a.write("keep/big.bin", &bytes(1, 100_000));
    a.ok(&["add", "keep"]);
    a.ok(&["push", "keep"]);
    // v1 in p1: v/sub/f1.bin and the tree `sub`; v2 in p2: only top.bin and v's new top tree, whose `sub` is in p1.
    a.write("v/sub/f1.bin", &bytes(2, 200_000));
    let before = remote_packs(&b.files());
    a.ok(&["add", "v"]);
    a.ok(&["push", "v"]);
    let p1 = new_packs(&b.files(), &before);
    a.write("v/top.bin", &bytes(3, 50_000));
    let before = remote_packs(&b.files());
    a.ok(&["add", "v"]);
    a.ok(&["push", "v"]);
    let p2 = new_packs(&b.files(), &before);
    assert_eq!((p1.len(), p2.len()), (1, 1));
    a.git(&["add", "-A"]);
    a.git(&["commit", "-qm", "v2"]);
    let v2 = git_in(a.path(), &["rev-parse", "HEAD"]).trim().to_string();
    // A moves on without v and without keep/big.bin: p1 and p2 are dead in its scope.
    fs::remove_file(a.p("keep/big.bin")).unwrap();
    a.ok(&["add", "keep"]);
    fs::remove_dir_all(a.p("v")).unwrap();
    fs::remove_file(a.p("v.dv")).unwrap();
    a.git(&["add", "-A"]);
    a.git(&["commit", "-qm", "no v"]);
    age(&b.files(), 7200);
    let dry = a.json(&["gc", "--remote", "origin", "--dry-run"]);
    assert_eq!(dry["packs_deleted"], 2, "{dry}");
    assert_eq!(dry["packs_repacked"], 1, "{dry}");
    let before = remote_packs(&b.files());
    let child = dv_command(a.path())
        .env("DV_PAUSE_AT", "gc-remote-repacked:3000")
        .args(["gc", "--remote", "origin", "--json"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while new_packs(&b.files(), &before).is_empty() {
        assert!(std::time::Instant::now() < deadline, "gc repacked nothing");
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    // Meanwhile another clone pushes v2, finds it all on the remote, and records the pack of its top tree.
    write_use_record(&b.files(), &p2);
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["packs_deleted"], 0, "{report}");
    assert_eq!(report["packs_in_grace"], 2, "{report}");
    let left = remote_packs(&b.files());
    assert!(left.contains(&p1[0]), "p1 holds what v2's tree reaches");
    assert!(left.contains(&p2[0]));
    // Any clone can still get v2 whole.
    let fresh = git_clone(a.path());
    git_in(fresh.path(), &["checkout", "-q", &v2]);
    ok_at(fresh.path(), &["pull", "v"]);
    assert_eq!(
        fs::read(fresh.path().join("v/sub/f1.bin")).unwrap(),
        bytes(2, 200_000)
    );
    assert_clean(a.path());
}

#[test]
fn a_damaged_use_record_is_reported_by_fsck_and_stops_gc_only_while_young() {
    let b = Backend::folder();
    let a = origin_with_remote(&b);
    a.ok(&["push"]);
    let name = "ab".repeat(32);
    let record = b.files().join(format!("uses/{name}.use"));
    fs::create_dir_all(record.parent().unwrap()).unwrap();
    fs::write(&record, b"garbage\n").unwrap();
    // fsck names it, says what gc does with it, and does not call the remote clean.
    let out = run_dv(a.path(), &["fsck", "--remote", "origin", "--json"]);
    assert_eq!(out.status.code(), Some(1));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        report["damaged_use_records"][0]["record"],
        format!("uses/{name}.use"),
        "{report}"
    );
    let out = run_dv(a.path(), &["fsck", "--remote", "origin", "--repair"]);
    assert_eq!(out.status.code(), Some(1));
    let text =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    assert!(
        text.contains(&format!("damaged use record uses/{name}.use"))
            && text.contains("deletes it once older"),
        "{text}"
    );
    assert!(
        record.exists(),
        "repair leaves a record it cannot read alone"
    );
    // gc stops while it is young, and says how that ends.
    let err = a.fails(&["gc", "--remote", "origin"]);
    assert!(
        err.contains(&format!("uses/{name}.use cannot be read"))
            && err.contains("hint:")
            && err.contains("dv fsck --remote origin"),
        "{err}"
    );
    // Once old, gc deletes it without reading it, and the remote is clean again.
    age(&b.files().join("uses"), 7200);
    a.json(&["gc", "--remote", "origin"]);
    assert!(!record.exists());
    assert_clean(a.path());
}

#[test]
fn gc_remote_dry_run_writes_nothing_to_the_remote() {
    let b = Backend::folder();
    let a = origin_with_remote(&b);
    a.ok(&["push"]);
    fs::remove_file(a.p("data/big.bin")).unwrap();
    a.ok(&["add", "data"]);
    a.git(&["commit", "-qam", "v2"]);
    age(&b.files(), 7200);
    let listing = || {
        let mut l: Vec<(std::path::PathBuf, std::time::SystemTime)> = files_below(&b.files())
            .into_iter()
            .map(|p| {
                let m = fs::metadata(&p).unwrap().modified().unwrap();
                (p, m)
            })
            .collect();
        l.sort();
        l
    };
    let before = listing();
    let dry = a.json(&["gc", "--remote", "origin", "--dry-run"]);
    assert_eq!(dry["dry_run"], true, "{dry}");
    assert_eq!(dry["packs_repacked"], 1, "{dry}");
    assert_eq!(listing(), before, "a dry run leaves the remote as it was");
    // The real run does what the dry run said.
    let real = a.json(&["gc", "--remote", "origin"]);
    assert_eq!(real["packs_repacked"], 1, "{real}");
    assert_clean(a.path());
}

/// A folder remote whose `packs/` and `index/` are links into the clone's own cache (a commit can carry such
/// links when the remote is inside the work tree): push said "already there" and "pushed" while nothing left
/// the machine, and `gc --remote` deleted packs from the local cache (adversarial review). No link inside a
/// remote's layout is followed.
#[test]
fn links_inside_a_folder_remote_are_refused() {
    let r = TestRepo::new();
    r.ok(&["remote", "add", "--default", "origin", "./store"]);
    fs::create_dir(r.p("store")).unwrap();
    std::os::unix::fs::symlink("../.dv/cache/packs", r.p("store/packs")).unwrap();
    std::os::unix::fs::symlink("../.dv/cache/index", r.p("store/index")).unwrap();
    r.write("big", &bytes(4, 100_000));
    r.ok(&["add", "big"]);
    let packs_before = crate::common::files_below(&r.p(".dv/cache/packs")).len();
    for args in [
        &["push"][..],
        &["status", "--remote", "origin"],
        &["fsck", "--remote", "origin"],
        &["gc", "--remote", "origin", "--grace", "0"],
    ] {
        let out = dv_command(r.path()).args(args).output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "dv {args:?}: {err}");
        assert!(
            err.contains("symbolic link") && err.contains("store/packs"),
            "dv {args:?}: {err}"
        );
    }
    assert_eq!(
        crate::common::files_below(&r.p(".dv/cache/packs")).len(),
        packs_before
    );
    // A link one level down (a pack folder) is refused too.
    fs::remove_file(r.p("store/packs")).unwrap();
    fs::remove_file(r.p("store/index")).unwrap();
    fs::create_dir_all(r.p("store/packs")).unwrap();
    std::os::unix::fs::symlink("/tmp", r.p("store/packs/ab")).unwrap();
    let out = dv_command(r.path()).args(["push"]).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("store/packs/ab"), "{err}");
}
