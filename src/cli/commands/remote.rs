use super::super::{Global, Outcome, output};
use dv_core::repo::{REMOTE_SETTINGS, RemoteConfig, check_remote_name, check_remote_setting};
use dv_core::{Error, Result};

/// Manage remotes: where `dv push` sends data and `dv pull` gets it.
///
/// A remote is a folder (a path, or file:///abs/path) holding packs and indexes. Remote settings are
/// committed in .dv/config.toml; credentials never are.
#[derive(clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: Sub,
}

#[derive(clap::Subcommand)]
enum Sub {
    /// Add a remote.
    Add {
        name: String,
        url: String,
        /// Make it the remote used when none is named.
        #[arg(long)]
        default: bool,
        /// Print the result as JSON: `name`, `url`, `default` (whether it is now the default remote).
        #[arg(long)]
        json: bool,
    },
    /// List remotes (never prints secrets).
    List {
        /// Also show settings, and the names of local settings from .dv/config.local.toml.
        #[arg(short, long)]
        long: bool,
        /// Print the result as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Remove a remote (its data stays where it is).
    Remove { name: String },
    /// Set a remote setting: url, endpoint, region, allow_http, profile, max_retries, retry_timeout,
    /// connect_timeout, response_timeout or unsigned_payload; `--unset` removes it.
    Modify {
        name: String,
        key: String,
        value: Option<String>,
        #[arg(long)]
        unset: bool,
    },
    /// Make a remote the default.
    Default { name: String },
}

pub fn run(g: &Global, args: Args) -> Result<Outcome> {
    let mut repo = g.repo()?;
    let mut config = repo.config.clone();
    match args.command {
        Sub::Add {
            name,
            url,
            default,
            json,
        } => {
            check_remote_name(&name).map_err(|why| {
                Error::usage(format!("'{name}' is not a valid remote name: {why}"))
            })?;
            if config.remotes.contains_key(&name) {
                return Err(Error::usage(format!(
                    "remote '{name}': a remote with this name exists; use `dv remote modify` or remove it first"
                )));
            }
            dv_core::remote::check_url(&url).map_err(|why| {
                Error::usage(format!("'{}': {why}", dv_core::redact::redact(&url)))
            })?;
            warn_if_git_would_commit(&repo, &name, &url)?;
            config.remotes.insert(
                name.clone(),
                RemoteConfig {
                    url: url.clone(),
                    settings: Default::default(),
                },
            );
            if default || config.default_remote.is_none() {
                config.default_remote = Some(name.clone());
            }
            let is_default = config.default_remote.as_deref() == Some(name.as_str());
            repo.save_config(config)?;
            if json {
                output::print_json(&serde_json::json!({
                    "name": name,
                    "url": dv_core::redact::redact(&url),
                    "default": is_default,
                }))?;
            } else {
                output::status_line(
                    g.quiet,
                    &format!("Added remote '{name}'. Commit .dv/config.toml to share it."),
                );
            }
        }
        Sub::List { long, json } => {
            let mut rows: Vec<serde_json::Value> = Vec::new();
            // A local endpoint is named as local, without its value (values from config.local.toml are
            // never printed).
            let endpoint_of = |name: &str, r| -> Result<Option<(Option<String>, bool)>> {
                Ok(dv_core::remote::Endpoint::of(&repo, name, r)?
                    .map(|e| (e.committed.then_some(e.url), e.committed)))
            };
            for (name, r) in &config.remotes {
                rows.push(serde_json::json!({
                    "name": name,
                    "url": r.url,
                    "endpoint": endpoint_of(name, r)?.map(|(url, committed)| serde_json::json!({
                        "url": url,
                        "committed": committed,
                    })),
                    "default": config.default_remote.as_deref() == Some(name.as_str()),
                    "settings": r.settings,
                    // Names only: values there may be secrets.
                    "local_settings": repo.local_remote_setting_names(name)?,
                }));
            }
            if json {
                output::print_json(&rows)?;
            } else {
                for (name, r) in &config.remotes {
                    let star = if config.default_remote.as_deref() == Some(name.as_str()) {
                        " (default)"
                    } else {
                        ""
                    };
                    outln!("{name}\t{}{star}", r.url);
                    // Where its requests really go is never hidden behind `--long`: a committed endpoint
                    // sends the user's signed requests to whatever server the commit named.
                    match endpoint_of(name, r)? {
                        Some((Some(url), _)) => outln!(
                            "    requests go to {url} (set in the committed .dv/config.toml)"
                        ),
                        Some((None, _)) => {
                            outln!("    requests go to the endpoint set in .dv/config.local.toml")
                        }
                        None => {}
                    }
                    if long {
                        for (k, v) in &r.settings {
                            outln!("    {k} = {v}");
                        }
                        for k in repo.local_remote_setting_names(name)? {
                            outln!("    {k} = (set in .dv/config.local.toml)");
                        }
                    }
                }
            }
        }
        Sub::Remove { name } => {
            if config.remotes.remove(&name).is_none() {
                return Err(Error::UnknownRemote(name));
            }
            if config.default_remote.as_deref() == Some(name.as_str()) {
                config.default_remote = None;
            }
            repo.save_config(config)?;
            let _ = std::fs::remove_dir_all(repo.cache_dir().join("remotes").join(&name));
            output::status_line(g.quiet, &format!("Removed remote '{name}'."));
        }
        Sub::Modify {
            name,
            key,
            value,
            unset,
        } => {
            let r = config
                .remotes
                .get_mut(&name)
                .ok_or_else(|| Error::UnknownRemote(name.clone()))?;
            let bad = |reason: String| Error::usage(format!("'{key}': {reason}"));
            match (key.as_str(), value, unset) {
                ("url", Some(v), false) => {
                    dv_core::remote::check_url(&v).map_err(bad)?;
                    warn_if_git_would_commit(&repo, &name, &v)?;
                    r.url = v;
                }
                (k, Some(v), false) if REMOTE_SETTINGS.contains(&k) => {
                    check_remote_setting(k, &v).map_err(bad)?;
                    r.settings.insert(k.to_string(), v);
                }
                (k, None, true) if REMOTE_SETTINGS.contains(&k) => {
                    r.settings.remove(k);
                }
                (k, _, _) if k != "url" && !REMOTE_SETTINGS.contains(&k) => {
                    return Err(bad(format!(
                        "unknown setting; one of: url, {}",
                        REMOTE_SETTINGS.join(", ")
                    )));
                }
                _ => {
                    return Err(bad(
                        "give a value, or --unset without one (url cannot be unset)".into(),
                    ));
                }
            }
            repo.save_config(config)?;
        }
        Sub::Default { name } => {
            if !config.remotes.contains_key(&name) {
                return Err(Error::UnknownRemote(name));
            }
            config.default_remote = Some(name);
            repo.save_config(config)?;
        }
    }
    Ok(Outcome::Success)
}

/// Warns when a folder remote lies inside a work tree where Git does not ignore it: writing to it is refused
/// (`remote::unignored_in_work_tree`, checked whenever it is opened to write, in every clone sharing the
/// committed config), so the user hears it now, when the URL is chosen, rather than at the first push.
fn warn_if_git_would_commit(repo: &dv_core::repo::Repo, name: &str, url: &str) -> Result<()> {
    if let Some(dir) = dv_core::remote::folder_path(repo, url)
        && let Some((message, hint)) = dv_core::remote::unignored_in_work_tree(repo, &dir)?
    {
        errln!(
            "warning: remote '{name}': {message}; `dv push` will refuse to write there (to fix: {hint})"
        );
    }
    Ok(())
}
