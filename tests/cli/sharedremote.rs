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
