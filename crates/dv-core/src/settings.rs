//! [`Settings`]: what the core would otherwise take from the process's environment. The core reads no
//! environment variable on its own: a front end builds this value, from the environment with
//! [`Settings::from_env`] (the CLI and the Python package both do, so both read the same variables) or
//! otherwise, and hands it in on the [`Repo`](crate::repo::Repo) it opens, which carries it to the store it
//! opens (pack size, sort budget) and to its remotes (single-PUT size, credentials). An embedder that builds
//! it by hand (or keeps [`Settings::default`]) gets dv's defaults and no credentials from anywhere it did
//! not pass.

use crate::remote::RemoteEnv;

/// Tuning knobs and the remote environment. `Default` gives dv's defaults and an empty [`RemoteEnv`]; set the
/// fields to change them (new fields may come, so a program starts from `Settings::default()`).
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct Settings {
    /// A pack is sealed once it reaches this many bytes (at least 1). Default
    /// [`PACK_TARGET_SIZE`](crate::store::writer::PACK_TARGET_SIZE); the CLI's `DV_PACK_SIZE` (a test hook,
    /// so small data makes many packs).
    pub pack_size: u64,
    /// Packs up to this many bytes go up to a remote in one PUT, larger ones as multipart uploads. Default
    /// [`SINGLE_PUT_MAX`](crate::remote::SINGLE_PUT_MAX); the CLI's `DV_SINGLE_PUT_MAX` (a test hook, so
    /// small data takes the multipart path).
    pub single_put_max: u64,
    /// Bytes of table rows held in memory before a sorted batch is spilled to disk (at least 1). Default
    /// [`SORT_MEMORY`](crate::table::sort::SORT_MEMORY); the CLI's `DV_TABLE_SORT_MEMORY`.
    pub table_sort_memory: usize,
    /// Credentials and settings of cloud remotes that come from outside the repository (the AWS_*, GOOGLE_*
    /// and AZURE_* variables, the AWS profile files under the home folder): see [`RemoteEnv::from_vars`].
    pub remote_env: RemoteEnv,
    /// A cache folder every repository on this machine uses in place of its own (the CLI's `DV_CACHE_DIR`):
    /// it wins over the `cache.dir` setting of `.dv/config.local.toml` and of the user's settings file.
    pub cache_dir: Option<std::path::PathBuf>,
    /// The user's own settings file (`dv config --global`; the CLI's `$XDG_CONFIG_HOME/dv/config.toml`, else
    /// `~/.config/dv/config.toml`): `cache.dir`, and the per-source remote settings of registries.
    pub user_config: Option<std::path::PathBuf>,
    /// The user's cache folder (the CLI's `$XDG_CACHE_HOME/dv`, else `~/.cache/dv`): mirrors of the Git
    /// repositories `dv ls`, `get` and `import` read from, and what `ls` keeps of their trees.
    pub user_cache: Option<std::path::PathBuf>,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            pack_size: crate::store::writer::PACK_TARGET_SIZE,
            single_put_max: crate::remote::SINGLE_PUT_MAX,
            table_sort_memory: crate::table::sort::SORT_MEMORY,
            remote_env: RemoteEnv::default(),
            cache_dir: None,
            user_config: None,
            user_cache: None,
        }
    }
}

impl Settings {
    /// The settings from this process's environment, as the `dv` command reads them: `DV_PACK_SIZE`,
    /// `DV_SINGLE_PUT_MAX` and `DV_TABLE_SORT_MEMORY` (bytes; a value that is not a number above 0 leaves the
    /// default, as these are test hooks and tuning knobs), the cloud remotes' variables and `HOME`
    /// ([`RemoteEnv::from_vars`]), `DV_CACHE_DIR` (a cache shared by every repository; relative to the current
    /// folder), and the user's settings file and cache folder (`XDG_CONFIG_HOME`, `XDG_CACHE_HOME`, else under
    /// `HOME`). Called by front ends only: nothing in the core calls it.
    // The one place the core may read the environment (clippy.toml forbids it everywhere else): the CLI and
    // the Python package must read the same variables the same way, and this is the code they share.
    #[allow(clippy::disallowed_methods)]
    pub fn from_env() -> Settings {
        use std::path::PathBuf;
        // A variable holding a path, unless unset or empty.
        fn path_var(var: &str) -> Option<PathBuf> {
            std::env::var_os(var)
                .filter(|v| !v.is_empty())
                .map(PathBuf::from)
        }
        // A variable holding a number of bytes above 0, if it does.
        fn bytes(var: &str) -> Option<u64> {
            std::env::var(var)
                .ok()?
                .parse()
                .ok()
                .filter(|&v: &u64| v > 0)
        }
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
        let home = path_var("HOME");
        s.remote_env = RemoteEnv::from_vars(std::env::vars_os(), home.clone());
        // Relative to the folder dv was started in, as a shell user means it (`cache.dir` must be absolute).
        s.cache_dir = path_var("DV_CACHE_DIR").map(|p| match std::env::current_dir() {
            Ok(cwd) if p.is_relative() => cwd.join(p),
            _ => p,
        });
        // The XDG base directories, as most command-line tools on Linux read them (a relative value is
        // ignored, as the specification says).
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
}
