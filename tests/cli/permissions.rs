//! Permission errors during add, checkout and pull. Tests run as root on the CI machines, where permission bits
//! stop nothing, so a folder is made immutable instead (`chattr +i`: even root cannot create files in it). Each
//! command must stop with a clear error, write no pointer and no half file, and succeed once the folder is
//! writable again.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::common::*;

/// Makes a folder immutable until dropped.
struct Immutable(PathBuf);

impl Immutable {
    /// None when this file system or user cannot set the attribute (then there is nothing to observe).
    fn set(dir: &Path) -> Option<Immutable> {
        let ok = Command::new("chattr")
            .arg("+i")
            .arg(dir)
            .output()
            .is_ok_and(|o| o.status.success());
        if !ok {
            return None;
        }
        let guard = Immutable(dir.to_path_buf());
        // Make sure it bites: creating a file in it must fail.
        if std::fs::write(dir.join(".probe"), b"x").is_ok() {
            let _ = std::fs::remove_file(dir.join(".probe"));
            return None;
        }
        Some(guard)
    }
}

impl Drop for Immutable {
    fn drop(&mut self) {
        let _ = Command::new("chattr").arg("-i").arg(&self.0).status();
    }
}

fn denied(dir: &Path, args: &[&str]) -> String {
    let out = dv_command(dir).args(args).output().unwrap();
    let err = String::from_utf8(out.stderr).unwrap();
    assert_eq!(out.status.code(), Some(1), "dv {args:?} should fail: {err}");
    assert!(err.contains("Operation not permitted"), "{err}");
    assert!(err.contains("hint: check the permissions"), "{err}");
    err
}

#[test]
fn add_checkout_and_pull_stop_cleanly_on_permission_errors() {
    let r = TestRepo::new();
    let data = bytes(11, 3 << 20);
    r.write("data/big.bin", &data);
    r.write("data/small.txt", b"small");

    // add: the cache cannot take a new pack.
    std::fs::create_dir_all(r.p(".dv/cache/tmp")).unwrap();
    {
        let Some(_lock) = Immutable::set(&r.p(".dv/cache/tmp")) else {
            eprintln!("skipped: chattr +i is not available here");
            return;
        };
        denied(r.path(), &["add", "data"]);
        assert!(!r.p("data.dv").exists(), "a pointer was written");
    }
    r.ok(&["add", "data"]);
    r.git(&["add", "."]);
    r.git(&["commit", "-q", "-m", "v1"]);

    // checkout: the folder the data goes in cannot take files.
    std::fs::remove_dir_all(r.p("data")).unwrap();
    std::fs::create_dir(r.p("data")).unwrap();
    {
        let _lock = Immutable::set(&r.p("data")).expect("worked above");
        denied(r.path(), &["checkout"]);
        assert_eq!(
            std::fs::read_dir(r.p("data")).unwrap().count(),
            0,
            "half a checkout"
        );
    }
    r.ok(&["checkout"]);
    assert_eq!(r.read("data/big.bin"), data);

    // pull: a clone whose cache cannot take the fetched pack.
    let _remote = folder_remote(&r);
    r.git(&["add", "."]);
    r.git(&["commit", "-q", "-m", "remote"]);
    r.ok(&["push"]);
    let clone = clone_of(&r);
    std::fs::create_dir_all(clone.path().join(".dv/cache/tmp")).unwrap();
    {
        let _lock = Immutable::set(&clone.path().join(".dv/cache/tmp")).expect("worked above");
        denied(clone.path(), &["pull"]);
        assert!(
            !clone.path().join("data").exists(),
            "data written without its objects"
        );
    }
    ok_at(clone.path(), &["pull"]);
    assert_eq!(
        std::fs::read(clone.path().join("data/big.bin")).unwrap(),
        data
    );
    ok_at(clone.path(), &["fsck"]);
}
