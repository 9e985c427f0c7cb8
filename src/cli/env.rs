//! The environment variables dv reads, mapped onto the core's settings: the one place the CLI turns the
//! environment into values the core takes (the core reads none itself). Besides these, `DV_LOG` filters the log
//! (`init_logging`) and `NO_COLOR` turns colour off (`output::color_enabled`).

use std::path::PathBuf;
use std::time::Duration;

use dv_core::fault::Faults;
use dv_core::remote::RemoteEnv;
use dv_core::{Error, Result, Settings};

/// The core's settings from the environment: `DV_PACK_SIZE`, `DV_SINGLE_PUT_MAX` and `DV_TABLE_SORT_MEMORY`
/// (bytes; a value that is not a number above 0 leaves the default, as these are test hooks and tuning
/// knobs), the cloud remotes' variables and `HOME` ([`RemoteEnv::from_vars`]), `DV_CACHE_DIR` (a cache
/// shared by every repository), and the user's settings file and cache folder (`XDG_CONFIG_HOME`,
/// `XDG_CACHE_HOME`, else under `HOME`).
pub fn settings() -> Settings {
    let mut s = Settings::default();
    if let Some(v) = bytes("DV_PACK_SIZE") {
        s.pack_size = v;
    }
    if let Some(v) = bytes("DV_SINGLE_PUT_MAX") {
        s.single_put_max = v;
    }
    if let Some(v) = bytes("DV_TABLE_SORT_MEMORY").and_then(|v| usize::try_from(v).ok()) {
        s.table_sort_memory = v;
    }
    let home = std::env::var_os("HOME")
        .filter(|h| !h.is_empty())
        .map(PathBuf::from);
    s.remote_env = RemoteEnv::from_vars(std::env::vars_os(), home.clone());
    // Relative to the folder dv was started in, as a shell user means it (`cache.dir` must be absolute).
    s.cache_dir = path_var("DV_CACHE_DIR").map(|p| match std::env::current_dir() {
        Ok(cwd) if p.is_relative() => cwd.join(p),
        _ => p,
    });
    // The XDG base directories, as most command-line tools on Linux read them (a relative value is ignored,
    // as the specification says).
    let xdg = |var: &str, fallback: &str| {
        path_var(var)
            .filter(|p| p.is_absolute())
            .or_else(|| home.as_ref().map(|h| h.join(fallback)))
            .map(|base| base.join("dv"))
    };
    s.user_config = xdg("XDG_CONFIG_HOME", ".config").map(|d| d.join("config.toml"));
    s.user_cache = xdg("XDG_CACHE_HOME", ".cache");
    s
}

/// A variable holding a path, unless unset or empty.
fn path_var(var: &str) -> Option<PathBuf> {
    std::env::var_os(var)
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
}

/// A variable holding a number of bytes above 0, if it does.
fn bytes(var: &str) -> Option<u64> {
    std::env::var(var)
        .ok()?
        .parse()
        .ok()
        .filter(|&v: &u64| v > 0)
}

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
