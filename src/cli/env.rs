//! The environment variables the CLI reads beyond the core's settings (those come from
//! [`Settings::from_env`](dv_core::Settings::from_env), shared with the Python package): the lock timeout and
//! the crash tests' fault points. Besides these, `DV_LOG` filters the log (`init_logging`) and `NO_COLOR` turns
//! colour off (`output::color_enabled`).

use std::time::Duration;

use dv_core::fault::Faults;
use dv_core::{Error, Result};

/// The crash tests' fault points (`DV_CRASH_AT`, `DV_PAUSE_AT`, `DV_HOLD_AT`; see `dv_core::fault`), installed
/// in the core for this process. A crash point says so on stderr before it kills the process, for the tests
/// to read.
pub fn install_faults() {
    let var = |name: &str| std::env::var(name).ok();
    let mut faults = Faults::parse(
        var("DV_CRASH_AT").as_deref(),
        var("DV_PAUSE_AT").as_deref(),
        var("DV_HOLD_AT").as_deref(),
    );
    if faults.is_empty() {
        return;
    }
    faults.on_crash = Some(Box::new(|name: &str| {
        errln!("dv: crash point {name} reached: killing the process");
    }));
    dv_core::fault::install(faults);
}

/// `DV_LOCK_TIMEOUT`: how many seconds to wait for another dv process's lock (default 60; 0 fails at once).
pub fn lock_timeout() -> Result<Duration> {
    // Set but empty reads as unset, as a shell's `DV_LOCK_TIMEOUT= dv …` means.
    let Some(v) = std::env::var("DV_LOCK_TIMEOUT")
        .ok()
        .filter(|v| !v.trim().is_empty())
    else {
        return Ok(dv_core::repo::DEFAULT_LOCK_TIMEOUT);
    };
    let secs: f64 = v
        .trim()
        .parse()
        .ok()
        .filter(|s: &f64| s.is_finite() && *s >= 0.0 && *s < 1e9)
        .ok_or_else(|| {
            Error::format(
                "DV_LOCK_TIMEOUT",
                format!("must be a number of seconds (0 or more), not {v:?}"),
            )
        })?;
    Ok(Duration::from_secs_f64(secs))
}
