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
    // A replaces its data three times: v1's pack and the next two are dead to A's gc.
    for seed in [21, 22, 23, 24] {
        fs::remove_dir_all(a.p("data")).unwrap();
        a.write("data/x.bin", &bytes(seed, 100_000));
        a.ok(&["add", "data"]);
        a.git(&["commit", "-qam", "A moves on"]);
        a.ok(&["push"]);
    }
    let packs = remote_packs(&b.files());
    // gc deletes dead packs by increasing id: the pause after its first deletion must come before v1's.
    assert!(
        packs.iter().any(|p| *p < v1_packs[0]),
        "{v1_packs:?} {packs:?}"
    );
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
