//! Crash points, for the crash tests. Long operations call [`point`] between the steps whose order makes
//! them crash-safe. Normally that is one relaxed atomic increment. With `DV_CRASH_AT=N` in the environment the
//! N-th point reached kills the process with SIGKILL, exactly as an out-of-memory killer or a power cut would
//! end it: no destructor runs, no buffer is flushed. The tests use it to crash each command at every point
//! and check that the repository is still sound and a re-run finishes the job. `DV_PAUSE_AT=N:MILLIS` pauses
//! at the N-th point instead, for tests of two processes at once.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};

static REACHED: AtomicU64 = AtomicU64::new(0);

fn crash_at() -> Option<u64> {
    static AT: OnceLock<Option<u64>> = OnceLock::new();
    *AT.get_or_init(|| {
        std::env::var("DV_CRASH_AT")
            .ok()
            .and_then(|v| v.parse().ok())
    })
}

/// `DV_PAUSE_AT=N:MILLIS`: the N-th point reached sleeps that long, so a test can run a second dv process
/// while the first is mid-way (holding its lock).
fn pause_at() -> Option<(u64, u64)> {
    static AT: OnceLock<Option<(u64, u64)>> = OnceLock::new();
    *AT.get_or_init(|| {
        let v = std::env::var("DV_PAUSE_AT").ok()?;
        let (n, ms) = v.split_once(':')?;
        Some((n.parse().ok()?, ms.parse().ok()?))
    })
}

/// Marks a point where a crash must leave the repository sound; `name` says which, for the crash log.
pub fn point(name: &str) {
    let n = REACHED.fetch_add(1, Ordering::Relaxed) + 1;
    if crash_at() == Some(n) {
        crash(name);
    }
    if let Some((at, ms)) = pause_at()
        && at == n
    {
        std::thread::sleep(std::time::Duration::from_millis(ms));
    }
}

#[cold]
fn crash(name: &str) -> ! {
    eprintln!("dv: crash point {name} reached: killing the process");
    #[cfg(unix)]
    // SAFETY: sends a signal to this very process.
    unsafe {
        libc::kill(libc::getpid(), libc::SIGKILL);
    }
    std::process::abort()
}

/// A hold point, for tests that must act at one exact moment of a command (edit a file while `add` reads
/// it). With `DV_HOLD_AT=NAME:FILE` in the environment, reaching point NAME creates `FILE.reached` and waits
/// until `FILE.go` exists (at most a minute), then goes on. Otherwise one cached lookup. (Unlike crash and
/// pause points, hold points are named, and are not counted.)
pub fn hold(name: &str) {
    static AT: OnceLock<Option<(String, std::path::PathBuf)>> = OnceLock::new();
    let Some((at, file)) = AT.get_or_init(|| {
        let v = std::env::var("DV_HOLD_AT").ok()?;
        let (n, f) = v.split_once(':')?;
        Some((n.to_string(), f.into()))
    }) else {
        return;
    };
    if at != name {
        return;
    }
    let with = |ext: &str| {
        let mut p = file.clone().into_os_string();
        p.push(ext);
        std::path::PathBuf::from(p)
    };
    let _ = std::fs::write(with(".reached"), b"");
    let go = with(".go");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while !go.exists() && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
}
