//! A full disk, simulated with a file-size limit (RLIMIT_FSIZE: writes past it fail with EFBIG, as they fail
//! with ENOSPC on a full disk, whoever runs the test): add, checkout and pull stop with a clear error, leave no
//! half-written file or pointer, and a re-run without the limit finishes the job.

use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::Output;

use crate::common::*;

const LIMIT: u64 = 1 << 20;

/// Runs dv in `dir` unable to write any file past `LIMIT` bytes.
fn dv_limited(dir: &Path, args: &[&str]) -> Output {
    let mut c = dv_command(dir);
    c.args(args);
    // SAFETY: only async-signal-safe calls between fork and exec.
    unsafe {
        c.pre_exec(|| {
            libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
            let lim = libc::rlimit {
                rlim_cur: LIMIT,
                rlim_max: LIMIT,
            };
            if libc::setrlimit(libc::RLIMIT_FSIZE, &lim) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    c.output().unwrap()
}

fn fails_full(dir: &Path, args: &[&str]) -> String {
    let out = dv_limited(dir, args);
    let err = String::from_utf8(out.stderr).unwrap();
    assert_eq!(out.status.code(), Some(1), "dv {args:?} should fail: {err}");
    assert!(err.contains("File too large"), "{err}");
    assert!(err.contains("hint: free some disk space"), "{err}");
    err
}

#[test]
fn add_on_a_full_disk_writes_no_pointer_and_a_rerun_finishes() {
    let r = TestRepo::new();
    let data = bytes(7, 6 << 20);
    r.write("big.bin", &data);
    fails_full(r.path(), &["add", "big.bin"]);
    assert!(!r.p("big.bin.dv").exists(), "a pointer was written");
    assert_eq!(r.read("big.bin"), data, "the data was touched");
    assert_no_temp_files(&r.p(".dv"), "the full disk");
    r.ok(&["add", "big.bin"]);
    r.ok(&["fsck"]);
    std::fs::remove_file(r.p("big.bin")).unwrap();
    r.ok(&["checkout"]);
    assert_eq!(r.read("big.bin"), data);
}

#[test]
fn checkout_on_a_full_disk_leaves_no_half_file_and_a_rerun_finishes() {
    let r = TestRepo::new();
    let data = bytes(8, 6 << 20);
    r.write("big.bin", &data);
    r.ok(&["add", "big.bin"]);
    std::fs::remove_file(r.p("big.bin")).unwrap();
    fails_full(r.path(), &["checkout"]);
    assert!(
        !r.p("big.bin").exists(),
        "a partial file was left in the work tree"
    );
    assert_no_temp_files(r.path(), "the full disk");
    r.ok(&["checkout"]);
    assert_eq!(r.read("big.bin"), data);
    r.ok(&["fsck"]);
}

#[test]
fn pull_on_a_full_disk_writes_nothing_and_a_rerun_finishes() {
    let r = TestRepo::new();
    let _remote = folder_remote(&r);
    let data = bytes(9, 6 << 20);
    r.write("big.bin", &data);
    r.ok(&["add", "big.bin"]);
    r.git(&["add", "."]);
    r.git(&["commit", "-q", "-m", "v1"]);
    r.ok(&["push"]);
    let clone = clone_of(&r);
    fails_full(clone.path(), &["pull"]);
    assert!(
        !clone.path().join("big.bin").exists(),
        "a partial file was left in the work tree"
    );
    assert_no_temp_files(clone.path(), "the full disk");
    // The cache holds nothing damaged (the dataset is just not fetched yet).
    let fsck = dv_command(clone.path()).args(["fsck"]).output().unwrap();
    let text = String::from_utf8_lossy(&fsck.stderr);
    assert!(
        text.contains("0 damaged pack(s), 0 damaged object(s)"),
        "{text}"
    );
    ok_at(clone.path(), &["pull"]);
    ok_at(clone.path(), &["fsck"]);
    assert_eq!(std::fs::read(clone.path().join("big.bin")).unwrap(), data);
}
