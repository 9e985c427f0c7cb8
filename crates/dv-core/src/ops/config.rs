//! `dv config`: dv's settings key by key, in the three files that hold them: the committed `.dv/config.toml`,
//! the work tree's `.dv/config.local.toml` (per-machine settings and secrets) and the user's own file
//! ([`Settings::user_config`](crate::Settings)). Each key belongs to some of them:
//!
//! | key                                  | committed | local | user |
//! |--------------------------------------|-----------|-------|------|
//! | `core.compression_level`, `core.stage`, `core.remote` | yes | | |
//! | `core.format` (read only: `dv format upgrade`)        | yes | | |
//! | `remote.NAME.url`, `remote.NAME.SETTING`              | yes | yes (any setting, credentials too) | |
//! | `cache.dir`                                           |     | yes | yes |
//! | `source.URL.remote.NAME.SETTING`                      |     | yes | yes |
//!
//! Reading a key without naming a file gives the value that applies: local over committed, local over user.

use std::path::PathBuf;

use crate::repo::files::{self, read_table};
use crate::repo::{CONFIG_FILE, Config, DV_DIR, LOCAL_CONFIG_FILE, REMOTE_SETTINGS, Repo};
use crate::{Error, Result};

words! {
    /// Which settings file.
    pub enum Scope {
        Committed = "committed",
        Local = "local",
        User = "user",
    }
}

/// A key of `dv config`, parsed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Key {
    Core(String),
    Remote {
        name: String,
        setting: String,
    },
    CacheDir,
    Source {
        url: String,
        remote: String,
        setting: String,
    },
}

const CORE_KEYS: &[&str] = &["format", "compression_level", "stage", "remote"];

impl Key {
    /// Parses `core.X`, `remote.NAME.X`, `cache.dir` or `source.URL.remote.NAME.X` (the URL may hold dots:
    /// the last `.remote.` ends it; a remote's name may too: the setting is after the last dot).
    pub fn parse(key: &str) -> Result<Key> {
        let bad = |why: &str| Error::usage(format!("bad key {key:?}: {why}"));
        let setting_of = |rest: &str| -> Result<(String, String)> {
            let (name, setting) = rest
                .rsplit_once('.')
                .ok_or_else(|| bad("expected NAME.SETTING after the section"))?;
            crate::repo::check_remote_name(name).map_err(bad)?;
            if setting.is_empty() {
                return Err(bad("the setting's name is empty"));
            }
            Ok((name.to_string(), setting.to_string()))
        };
        if key == "cache.dir" {
            return Ok(Key::CacheDir);
        }
        if let Some(k) = key.strip_prefix("core.") {
            if !CORE_KEYS.contains(&k) {
                return Err(bad(&format!("core settings are {}", CORE_KEYS.join(", "))));
            }
            return Ok(Key::Core(k.to_string()));
        }
        if let Some(rest) = key.strip_prefix("remote.") {
            let (name, setting) = setting_of(rest)?;
            return Ok(Key::Remote { name, setting });
        }
        if let Some(rest) = key.strip_prefix("source.") {
            let (url, rest) = rest
                .rsplit_once(".remote.")
                .ok_or_else(|| bad("expected source.URL.remote.NAME.SETTING"))?;
            if url.is_empty() {
                return Err(bad("the source's URL is empty"));
            }
            let (remote, setting) = setting_of(rest)?;
            return Ok(Key::Source {
                url: url.to_string(),
                remote,
                setting,
            });
        }
        Err(bad(
            "keys are core.SETTING, remote.NAME.SETTING, cache.dir and source.URL.remote.NAME.SETTING",
        ))
    }

    /// The key as `dv config` writes it.
    pub fn text(&self) -> String {
        match self {
            Key::Core(k) => format!("core.{k}"),
            Key::Remote { name, setting } => format!("remote.{name}.{setting}"),
            Key::CacheDir => "cache.dir".into(),
            Key::Source {
                url,
                remote,
                setting,
            } => format!("source.{url}.remote.{remote}.{setting}"),
        }
    }

    /// The files that may hold this key, the one whose value applies first.
    fn scopes(&self) -> &'static [Scope] {
        match self {
            Key::Core(_) => &[Scope::Committed],
            Key::Remote { .. } => &[Scope::Local, Scope::Committed],
            Key::CacheDir | Key::Source { .. } => &[Scope::Local, Scope::User],
        }
    }

    /// The tables and key of this key in a local or user file.
    fn path(&self) -> Vec<&str> {
        match self {
            Key::Core(k) => vec!["core", k],
            Key::Remote { name, setting } => vec!["remote", name, setting],
            Key::CacheDir => vec!["cache", "dir"],
            Key::Source {
                url,
                remote,
                setting,
            } => vec!["source", url, "remote", remote, setting],
        }
    }

    /// Whether the value is a credential (never listed: `dv config get` shows it when asked by name).
    pub fn is_secret(&self, value: &str) -> bool {
        let setting = match self {
            Key::Remote { setting, .. } | Key::Source { setting, .. } => setting.as_str(),
            _ => return false,
        };
        crate::secret::is_secret_name(setting)
            || crate::secret::url_secret(value).is_some()
            || crate::secret::value_secret(value).is_some()
    }
}

/// A key's value and the file it is in.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Entry {
    pub key: String,
    pub value: String,
    pub scope: Scope,
    /// A credential: `list` shows no value for it.
    pub secret: bool,
}

/// The settings files of a work tree (if there is one) and of the user.
pub struct ConfigFiles<'a> {
    pub repo: Option<&'a Repo>,
    pub user: Option<PathBuf>,
}

impl ConfigFiles<'_> {
    fn file(&self, scope: Scope) -> Result<PathBuf> {
        match scope {
            Scope::User => self.user.clone().ok_or_else(|| {
                Error::usage("there is no user settings file: HOME (or XDG_CONFIG_HOME) is not set")
            }),
            Scope::Local | Scope::Committed => {
                let repo = self.repo.ok_or_else(|| {
                    Error::usage(
                        "not in a dv repository: only --global settings can be read or written here",
                    )
                })?;
                let name = if scope == Scope::Local {
                    LOCAL_CONFIG_FILE
                } else {
                    CONFIG_FILE
                };
                Ok(repo.root.join(DV_DIR).join(name))
            }
        }
    }

    /// The scope a key is read from or written to: the one named, which must be one the key may be in, or else
    /// (`None`) every one the key may be in, the one that applies first.
    fn scopes_for(&self, key: &Key, scope: Option<Scope>) -> Result<Vec<Scope>> {
        let allowed = key.scopes();
        match scope {
            Some(s) if allowed.contains(&s) => Ok(vec![s]),
            Some(s) => Err(Error::usage(format!(
                "{} cannot be set in the {s} settings ({})",
                key.text(),
                allowed
                    .iter()
                    .map(|s| s.as_str())
                    .collect::<Vec<_>>()
                    .join(" or ")
            ))),
            None => Ok(allowed
                .iter()
                .copied()
                .filter(|s| *s == Scope::User || self.repo.is_some())
                .collect()),
        }
    }

    /// The value of `key` that applies (or that `scope`'s file holds), if any.
    pub fn get(&self, key: &Key, scope: Option<Scope>) -> Result<Option<Entry>> {
        for s in self.scopes_for(key, scope)? {
            if let Some(e) = self
                .list_scope(s)?
                .into_iter()
                .find(|e| e.key == key.text())
            {
                return Ok(Some(e));
            }
        }
        Ok(None)
    }

    /// Every key of one file, or of all (`None`: committed, local, user), in file order then key order.
    pub fn list(&self, scope: Option<Scope>) -> Result<Vec<Entry>> {
        let scopes = match scope {
            Some(s) => vec![s],
            None => [Scope::Committed, Scope::Local, Scope::User]
                .into_iter()
                .filter(|s| *s == Scope::User || self.repo.is_some())
                .collect(),
        };
        let mut out = Vec::new();
        for s in scopes {
            out.extend(self.list_scope(s)?);
        }
        Ok(out)
    }

    fn list_scope(&self, scope: Scope) -> Result<Vec<Entry>> {
        let mut out = Vec::new();
        let mut push = |key: Key, value: String| {
            out.push(Entry {
                secret: key.is_secret(&value),
                key: key.text(),
                value,
                scope,
            })
        };
        if scope == Scope::Committed {
            let repo = self.repo.expect("a repository: checked by file()");
            let _ = self.file(scope)?;
            let c = &repo.config;
            push(Key::Core("format".into()), c.format.to_string());
            push(
                Key::Core("compression_level".into()),
                c.compression_level.to_string(),
            );
            push(Key::Core("stage".into()), c.stage.to_string());
            if let Some(r) = &c.default_remote {
                push(Key::Core("remote".into()), r.clone());
            }
            for (name, r) in &c.remotes {
                push(
                    Key::Remote {
                        name: name.clone(),
                        setting: "url".into(),
                    },
                    r.url.clone(),
                );
                for (k, v) in &r.settings {
                    push(
                        Key::Remote {
                            name: name.clone(),
                            setting: k.clone(),
                        },
                        v.clone(),
                    );
                }
            }
            return Ok(out);
        }
        let path = self.file(scope)?;
        let Some(doc) = read_table(&path)? else {
            return Ok(out);
        };
        if let Some(dir) = files::cache_dir_in(&path)? {
            push(Key::CacheDir, dir.display().to_string());
        }
        if scope == Scope::Local
            && let Some(toml::Value::Table(remotes)) = doc.get("remote")
        {
            for name in remotes.keys() {
                let repo = self.repo.expect("a repository: checked by file()");
                for (k, v) in repo.local_remote_settings(name)? {
                    push(
                        Key::Remote {
                            name: name.clone(),
                            setting: k,
                        },
                        v,
                    );
                }
            }
        }
        if let Some(toml::Value::Table(sources)) = doc.get("source") {
            for url in sources.keys() {
                for (remote, settings) in files::source_remotes_in(&path, url)? {
                    for (k, v) in settings {
                        push(
                            Key::Source {
                                url: url.clone(),
                                remote: remote.clone(),
                                setting: k,
                            },
                            v,
                        );
                    }
                }
            }
        }
        Ok(out)
    }

    /// Sets (`Some`) or unsets (`None`) `key` in `scope`'s file (`None`: the committed file for `core` and
    /// `remote` keys; `cache.dir` and `source` keys need a file named). Returns whether the file changed.
    /// Nothing is written unless the whole file is valid afterwards.
    pub fn set(&self, key: &Key, scope: Option<Scope>, value: Option<&str>) -> Result<bool> {
        let scope = match scope {
            Some(s) => self.scopes_for(key, Some(s))?[0],
            None => match key {
                Key::Core(_) | Key::Remote { .. } => Scope::Committed,
                _ => {
                    return Err(Error::usage(format!(
                        "{} is a per-machine setting: name its file, --local (this work tree) or --global \
                         (every repository of this user)",
                        key.text()
                    )));
                }
            },
        };
        if scope == Scope::Committed {
            return self.set_committed(key, value);
        }
        if let (Key::CacheDir, Some(v)) = (key, value)
            && !std::path::Path::new(v).is_absolute()
        {
            return Err(Error::usage(format!(
                "cache.dir must be an absolute path, not {v:?}"
            )));
        }
        if let (Key::Remote { setting, .. } | Key::Source { setting, .. }, Some(v)) = (key, value) {
            if !crate::remote::is_remote_setting(setting) {
                return Err(Error::usage(format!(
                    "unknown remote setting `{setting}` (dv's own: url, {}; and the S3, GCS and Azure \
                     clients' settings, such as access_key_id)",
                    REMOTE_SETTINGS.join(", ")
                )));
            }
            if setting == "region" {
                crate::repo::check_remote_setting(setting, v).map_err(Error::usage)?;
            }
        }
        if let (Key::Source { url, .. }, _) = (key, value)
            && url.starts_with('-')
        {
            return Err(Error::usage(format!(
                "{url:?} is not a repository URL or path"
            )));
        }
        if let (Key::Source { setting, .. }, Some(v)) = (key, value)
            && setting == "url"
            && !v.contains("://")
            && !std::path::Path::new(v).is_absolute()
        {
            return Err(Error::usage(format!(
                "a source's remote URL must be a URL or an absolute folder path, not {v:?}"
            )));
        }
        if let (Key::Source { url, .. }, Some(_)) = (key, value)
            && crate::secret::url_secret(url).is_some()
        {
            return Err(Error::usage(
                "name the source by its URL without credentials (as `dv import` records it)",
            ));
        }
        let path = self.file(scope)?;
        let Some(text) = files::edit(&path, &key.path(), value)? else {
            return Ok(false);
        };
        // Read back as dv reads it, before it replaces the file.
        let check = |p: &std::path::Path| -> Result<()> {
            files::cache_dir_in(p)?;
            if let Some(toml::Value::Table(sources)) =
                read_table(p)?.and_then(|d| d.get("source").cloned())
            {
                for url in sources.keys() {
                    files::source_remotes_in(p, url)?;
                }
            }
            Ok(())
        };
        let staged = tempfile::NamedTempFile::new().map_err(|e| Error::io(&path, e))?;
        std::fs::write(staged.path(), &text).map_err(|e| Error::io(staged.path(), e))?;
        check(staged.path()).map_err(|e| match e {
            Error::Format { message, .. } => Error::format(path.display().to_string(), message),
            other => other,
        })?;
        match (scope, self.repo) {
            (Scope::Local, Some(repo)) => repo.write_file(&path, text.as_bytes())?,
            _ => {
                if let Some(dir) = path.parent() {
                    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
                }
                crate::fsutil::write_atomic(&path, text.as_bytes())?
            }
        }
        Ok(true)
    }

    fn set_committed(&self, key: &Key, value: Option<&str>) -> Result<bool> {
        let repo = self
            .repo
            .ok_or_else(|| Error::usage("not in a dv repository"))?;
        let mut c: Config = repo.config.clone();
        let usage = |m: String| Err(Error::usage(m));
        match (key, value) {
            (Key::Core(k), _) if k == "format" => {
                return usage("core.format changes only through `dv format upgrade`".into());
            }
            (Key::Core(k), Some(v)) if k == "compression_level" => {
                c.compression_level = v.parse().map_err(|_| {
                    Error::usage(format!(
                        "core.compression_level must be a number, not {v:?}"
                    ))
                })?;
            }
            (Key::Core(k), None) if k == "compression_level" => {
                c.compression_level = crate::repo::DEFAULT_COMPRESSION_LEVEL
            }
            (Key::Core(k), Some(v)) if k == "stage" => {
                c.stage = parse_bool(v).ok_or_else(|| {
                    Error::usage(format!("core.stage must be true or false, not {v:?}"))
                })?;
            }
            (Key::Core(k), None) if k == "stage" => c.stage = true,
            (Key::Core(_), v) => c.default_remote = v.map(str::to_string),
            (Key::Remote { setting, .. }, Some(v)) if setting == "url" && v.trim().is_empty() => {
                return usage("a remote's URL cannot be empty".into());
            }
            (Key::Remote { name, setting }, Some(v)) if setting == "url" => {
                c.remotes
                    .entry(name.clone())
                    .or_insert_with(|| crate::repo::RemoteConfig {
                        url: String::new(),
                        settings: Default::default(),
                    })
                    .url = v.to_string();
            }
            (Key::Remote { name, setting }, None) if setting == "url" => {
                return usage(format!(
                    "a remote needs its URL: `dv remote remove {name}` removes the remote"
                ));
            }
            (Key::Remote { name, setting }, v) => {
                if !REMOTE_SETTINGS.contains(&setting.as_str()) {
                    return usage(format!(
                        "remote settings in the committed file are {} (credentials go in --local)",
                        REMOTE_SETTINGS.join(", ")
                    ));
                }
                let Some(r) = c.remotes.get_mut(name) else {
                    return Err(Error::UnknownRemote(name.clone()));
                };
                match v {
                    Some(v) => r.settings.insert(setting.clone(), v.to_string()),
                    None => r.settings.remove(setting),
                };
            }
            (Key::CacheDir | Key::Source { .. }, _) => {
                unreachable!("never committed: see Key::scopes")
            }
        }
        if c == repo.config {
            return Ok(false);
        }
        // The committed file's own checks (names, secrets, ranges, the default remote) on the new text.
        let path = self.file(Scope::Committed)?;
        let c = Config::parse(&c.to_text(), &path.display().to_string())?;
        let mut repo = Repo::discover_with(&repo.root, &repo.settings)?;
        repo.save_config(c)?;
        Ok(true)
    }
}

fn parse_bool(v: &str) -> Option<bool> {
    match v {
        "true" | "yes" | "on" | "1" => Some(true),
        "false" | "no" | "off" | "0" => Some(false),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_parse_with_dots_in_urls_and_names() {
        assert_eq!(Key::parse("cache.dir").unwrap(), Key::CacheDir);
        assert_eq!(
            Key::parse("remote.my.r.endpoint").unwrap(),
            Key::Remote {
                name: "my.r".into(),
                setting: "endpoint".into()
            }
        );
        let k =
            Key::parse("source.https://git.example.com/a.b/reg.git.remote.origin.profile").unwrap();
        assert_eq!(
            k,
            Key::Source {
                url: "https://git.example.com/a.b/reg.git".into(),
                remote: "origin".into(),
                setting: "profile".into()
            }
        );
        assert_eq!(Key::parse(&k.text()).unwrap(), k);
        for bad in [
            "core.nope",
            "remote.x",
            "source.u.remote.x",
            "cache.other",
            "x",
            "remote..url",
        ] {
            assert!(Key::parse(bad).is_err(), "{bad}");
        }
    }
}
