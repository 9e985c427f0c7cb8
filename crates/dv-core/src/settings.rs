//! [`Settings`]: what the core would otherwise take from the process's environment. The core reads no
//! environment variable: a front end (the CLI: `src/cli/env.rs`) builds this value, from the environment or
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
