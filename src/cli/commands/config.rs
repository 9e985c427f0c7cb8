use super::super::{Global, Outcome, output};
use dv_core::Result;
use dv_core::ops::config::{ConfigFiles, Entry, Key, Scope};

/// Read and change dv's settings, key by key, as `git config` does.
///
/// Three files hold them: the committed .dv/config.toml (core.compression_level, core.stage, core.remote,
/// remote.NAME.url and remote.NAME.SETTING), the work tree's uncommitted .dv/config.local.toml (`--local`:
/// credentials and per-machine overrides of remote settings, cache.dir, source.URL.remote.NAME.SETTING) and
/// the user's own file (`--global`: $XDG_CONFIG_HOME/dv/config.toml, else ~/.config/dv/config.toml; cache.dir
/// and source.URL.remote.NAME.SETTING). Without a file named, `get` shows the value that applies (local over
/// committed, local over user) and `set` writes core and remote keys to the committed file.
///
/// cache.dir makes every repository that names it share one cache folder (DV_CACHE_DIR overrides it);
/// source.URL.remote.NAME.SETTING sets, for a registry repository read by `dv ls`, `get` or `import`, a
/// setting of its remote NAME (url, endpoint, profile, region, credentials, …), since a registry's own local
/// settings do not travel with it.
#[derive(clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: Sub,
    /// The work tree's uncommitted .dv/config.local.toml.
    #[arg(long, global = true, conflicts_with_all = ["global", "committed"])]
    local: bool,
    /// The user's own settings file.
    #[arg(long, global = true, conflicts_with = "committed")]
    global: bool,
    /// The committed .dv/config.toml.
    #[arg(long, global = true)]
    committed: bool,
}

#[derive(clap::Subcommand)]
enum Sub {
    /// Print a key's value (exit 1, printing nothing, when it is not set).
    Get {
        key: String,
        /// Print the result as JSON: `key`, `value`, `scope` (committed, local, user), `secret`; `null` (and
        /// exit 1) when it is not set.
        #[arg(long)]
        json: bool,
    },
    /// Set a key.
    Set { key: String, value: String },
    /// Remove a key.
    Unset { key: String },
    /// List every key set (credentials are listed without their values).
    List {
        /// Print the result as JSON: a list of { `key`, `value` (null for a credential), `scope`, `secret` }.
        #[arg(long)]
        json: bool,
    },
}

pub fn run(g: &Global, args: Args) -> Result<Outcome> {
    let scope = if args.local {
        Some(Scope::Local)
    } else if args.global {
        Some(Scope::User)
    } else if args.committed {
        Some(Scope::Committed)
    } else {
        None
    };
    // Outside a repository only the user's file is there.
    let repo = match g.repo() {
        Ok(r) => Some(r),
        Err(dv_core::Error::NotAGitRepo(_) | dv_core::Error::NotInitialized(_))
            if scope == Some(Scope::User)
                || matches!(args.command, Sub::List { .. } | Sub::Get { .. }) =>
        {
            None
        }
        Err(e) => return Err(e),
    };
    let files = ConfigFiles {
        repo: repo.as_ref(),
        user: g.settings.user_config.clone(),
    };
    match args.command {
        Sub::Get { key, json } => {
            let key = Key::parse(&key)?;
            let Some(entry) = files.get(&key, scope)? else {
                if json {
                    outln!("null");
                }
                return Ok(Outcome::Differences);
            };
            if json {
                output::print_json(&entry)?;
            } else {
                outln!("{}", entry.value);
            }
        }
        Sub::Set { key, value } => {
            let key = Key::parse(&key)?;
            files.set(&key, scope, Some(&value))?;
        }
        Sub::Unset { key } => {
            let key = Key::parse(&key)?;
            if !files.set(&key, scope, None)? {
                output::status_line(g.quiet, &format!("{} was not set", key.text()));
            }
        }
        Sub::List { json } => {
            let entries = files.list(scope)?;
            if json {
                #[derive(serde::Serialize)]
                struct Shown<'a> {
                    key: &'a str,
                    value: Option<&'a str>,
                    scope: Scope,
                    secret: bool,
                }
                let shown: Vec<Shown> = entries
                    .iter()
                    .map(|e: &Entry| Shown {
                        key: &e.key,
                        value: (!e.secret).then_some(e.value.as_str()),
                        scope: e.scope,
                        secret: e.secret,
                    })
                    .collect();
                output::print_json(&shown)?;
            } else {
                for e in &entries {
                    let value = if e.secret {
                        "(secret: not shown)"
                    } else {
                        &e.value
                    };
                    outln!("{}\t{}={}", e.scope, e.key, value);
                }
            }
        }
    }
    Ok(Outcome::Success)
}
