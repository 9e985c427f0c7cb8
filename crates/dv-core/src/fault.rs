//! Crash points, for the crash tests. Long operations call [`point`] between the steps whose order makes
//! them crash-safe. Normally that is one relaxed atomic increment and one atomic load. A front end may
//! [`install`] [`Faults`] once, at start-up (the CLI does, from `DV_CRASH_AT`, `DV_PAUSE_AT` and `DV_HOLD_AT`;
//! the core reads no environment): with a crash point set (`N`, or `NAME[@K]`), the N-th point reached (or
//! the K-th time the point NAME is reached) kills the process with SIGKILL, exactly as an out-of-memory killer
//! or a power cut would end it: no destructor runs, no buffer is flushed. The tests use it to crash each
//! command at every point and check that the repository is still sound and a re-run finishes the job. A pause
//! point (`AT:MILLIS`) sleeps at that point instead, for tests of two processes at once; a hold point waits
//! for a file (see [`hold`]).
//!
//! This is a test hook, process-wide on purpose: threading a value to every point would cost every operation
//! a parameter for the sake of the tests. A program that embeds the core installs nothing.

use std::path::PathBuf;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

static REACHED: AtomicU64 = AtomicU64::new(0);

/// The faults installed in this process, if any.
static FAULTS: OnceLock<Faults> = OnceLock::new();

/// Which point a crash or a pause is for: the N-th point reached (`7`), or the K-th time the point called
/// NAME is reached (`gc-repacked`, `gc-repacked@2`), which stays right when points are added elsewhere.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum At {
    Nth(u64),
    Named(String, u64),
}

impl At {
    /// `N`, `NAME` or `NAME@K`; `None` for anything else.
    pub fn parse(v: &str) -> Option<At> {
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

/// Called with a crash point's name right before it kills the process.
pub type OnCrash = Box<dyn Fn(&str) + Send + Sync>;

/// The faults of one process: where it crashes, pauses or holds.
#[derive(Default)]
pub struct Faults {
    /// The point that kills the process.
    pub crash_at: Option<At>,
    /// The point that sleeps, and how long (while holding whatever the command holds, such as its lock), so
    /// a test can run a second command against a first one mid-way.
    pub pause_at: Option<(At, Duration)>,
    /// The named point that waits for a file, and that file (see [`hold`]).
    pub hold_at: Option<(String, PathBuf)>,
    /// Told before a crash point kills the process (the CLI says so on stderr, which the crash tests read).
    pub on_crash: Option<OnCrash>,
}

impl Faults {
    /// Faults from their texts, as the CLI's variables hold them: `crash_at` as `N` or `NAME[@K]`,
    /// `pause_at` as `AT:MILLIS`, `hold_at` as `NAME:FILE`. A text that does not read so sets nothing.
    pub fn parse(crash_at: Option<&str>, pause_at: Option<&str>, hold_at: Option<&str>) -> Faults {
        Faults {
            crash_at: crash_at.and_then(At::parse),
            pause_at: pause_at.and_then(|v| {
                let (at, ms) = v.rsplit_once(':')?;
                Some((At::parse(at)?, Duration::from_millis(ms.parse().ok()?)))
            }),
            hold_at: hold_at.and_then(|v| {
                let (name, file) = v.split_once(':')?;
                Some((name.to_string(), file.into()))
            }),
            on_crash: None,
        }
    }

    /// Whether any point does anything.
    pub fn is_empty(&self) -> bool {
        self.crash_at.is_none() && self.pause_at.is_none() && self.hold_at.is_none()
    }
}

impl std::fmt::Debug for Faults {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Faults")
            .field("crash_at", &self.crash_at)
            .field("pause_at", &self.pause_at)
            .field("hold_at", &self.hold_at)
            .field("on_crash", &self.on_crash.is_some())
            .finish()
    }
}

/// Sets this process's faults, once: a test hook, for the front end to call at start-up, before any
/// operation runs. Returns false if some were installed already (those stay).
pub fn install(faults: Faults) -> bool {
    FAULTS.set(faults).is_ok()
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
    let Some(faults) = FAULTS.get() else {
        return;
    };
    let (crash_at, pause_at) = (faults.crash_at.as_ref(), faults.pause_at.as_ref());
    if crash_at.is_none() && pause_at.is_none() {
        return;
    }
    let named =
        matches!(crash_at, Some(At::Named(..))) || matches!(pause_at, Some((At::Named(..), _)));
    let k = if named { times_named(name) } else { 0 };
    if crash_at.is_some_and(|at| at.matches(n, name, k)) {
        crash(name, faults);
    }
    if let Some((at, pause)) = pause_at
        && at.matches(n, name, k)
    {
        std::thread::sleep(*pause);
    }
}

#[cold]
fn crash(name: &str, faults: &Faults) -> ! {
    if let Some(on_crash) = &faults.on_crash {
        on_crash(name);
    }
    #[cfg(unix)]
    let _ = rustix::process::kill_process(rustix::process::getpid(), rustix::process::Signal::KILL);
    std::process::abort()
}

/// A hold point, for tests that must act at one exact moment of a command (edit a file while `add` reads
/// it). With [`Faults::hold_at`] `(NAME, FILE)` installed, reaching point NAME creates `FILE.reached` and waits
/// until `FILE.go` exists (at most a minute), then goes on. Otherwise one atomic load. (Unlike crash and pause
/// points, hold points are named, and are not counted.)
pub fn hold(name: &str) {
    let Some((at, file)) = FAULTS.get().and_then(|f| f.hold_at.as_ref()) else {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn faults_are_read_from_their_texts() {
        let f = Faults::parse(
            Some("gc-repacked@2"),
            Some("7:250"),
            Some("add-read:/tmp/x:y"),
        );
        assert_eq!(f.crash_at, Some(At::Named("gc-repacked".into(), 2)));
        assert_eq!(f.pause_at, Some((At::Nth(7), Duration::from_millis(250))));
        assert_eq!(
            f.hold_at,
            Some(("add-read".to_string(), PathBuf::from("/tmp/x:y")))
        );
        assert_eq!(At::parse("push"), Some(At::Named("push".into(), 1)));
        // What does not read as a point sets nothing, as before.
        let f = Faults::parse(Some("@3"), Some("7"), Some("no-file"));
        assert!(f.is_empty(), "{f:?}");
        assert!(Faults::parse(None, None, None).is_empty());
    }
}
