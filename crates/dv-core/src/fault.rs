//! Crash points, for the crash tests. Long operations call [`point`] between the steps whose order makes
//! them crash-safe. Normally that is one relaxed atomic increment. With `DV_CRASH_AT=N` in the environment the
//! N-th point reached (or, with `DV_CRASH_AT=NAME[@K]`, the K-th time the point NAME is reached) kills the process with SIGKILL, exactly as an out-of-memory killer or a power cut would
//! end it: no destructor runs, no buffer is flushed. The tests use it to crash each command at every point
//! and check that the repository is still sound and a re-run finishes the job. `DV_PAUSE_AT=N:MILLIS` pauses
//! at the N-th point instead, for tests of two processes at once.
#![allow(clippy::disallowed_macros)] // the crash tests read its last words on stderr

use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};

static REACHED: AtomicU64 = AtomicU64::new(0);

/// Which point a crash or a pause is for: the N-th point reached (`7`), or the K-th time the point called
/// NAME is reached (`gc-repacked`, `gc-repacked@2`), which stays right when points are added elsewhere.
#[derive(Debug)]
enum At {
    Nth(u64),
    Named(String, u64),
}

impl At {
    fn parse(v: &str) -> Option<At> {
        if let Ok(n) = v.parse() {
            return Some(At::Nth(n));
        }
        let (name, k) = match v.split_once('@') {
            Some((name, k)) => (name, k.parse().ok()?),
            None => (v, 1),
        };
        (!name.is_empty()).then(|| At::Named(name.to_string(), k))
    }

    fn matches(&self, n: u64, name: &str, times_named: u64) -> bool {
        match self {
            At::Nth(at) => *at == n,
            At::Named(at, k) => at == name && *k == times_named,
        }
    }
}

fn crash_at() -> Option<&'static At> {
    static AT: OnceLock<Option<At>> = OnceLock::new();
    AT.get_or_init(|| At::parse(&std::env::var("DV_CRASH_AT").ok()?))
        .as_ref()
}

/// `DV_PAUSE_AT=AT:MILLIS` (AT as for `DV_CRASH_AT`): that point sleeps that long, so a test can run a second
/// dv process while the first is mid-way (holding its lock).
fn pause_at() -> Option<&'static (At, u64)> {
    static AT: OnceLock<Option<(At, u64)>> = OnceLock::new();
    AT.get_or_init(|| {
        let v = std::env::var("DV_PAUSE_AT").ok()?;
        let (at, ms) = v.rsplit_once(':')?;
        Some((At::parse(at)?, ms.parse().ok()?))
    })
    .as_ref()
}

/// How many times the point called `name` has been reached, this one included (counted only when a crash or
/// pause point is named).
fn times_named(name: &str) -> u64 {
    static SEEN: std::sync::Mutex<Vec<(String, u64)>> = std::sync::Mutex::new(Vec::new());
    let mut seen = SEEN.lock().unwrap_or_else(|e| e.into_inner());
    match seen.iter_mut().find(|(n, _)| n == name) {
        Some((_, k)) => {
            *k += 1;
            *k
        }
        None => {
            seen.push((name.to_string(), 1));
            1
        }
    }
}

/// Marks a point where a crash must leave the repository sound; `name` says which, for the crash log.
pub fn point(name: &str) {
    let n = REACHED.fetch_add(1, Ordering::Relaxed) + 1;
    let (crash_at, pause_at) = (crash_at(), pause_at());
    if crash_at.is_none() && pause_at.is_none() {
        return;
    }
    let named =
        matches!(crash_at, Some(At::Named(..))) || matches!(pause_at, Some((At::Named(..), _)));
    let k = if named { times_named(name) } else { 0 };
    if crash_at.is_some_and(|at| at.matches(n, name, k)) {
        crash(name);
    }
    if let Some((at, ms)) = pause_at
        && at.matches(n, name, k)
    {
        std::thread::sleep(std::time::Duration::from_millis(*ms));
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
