//! `.dv/config.toml` (committed settings) and `.dv/config.local.toml` (per-machine settings and secrets): their
//! types, parsing, canonical text, and the checks on remote names and settings.

use std::fs;

use super::{CONFIG_FILE, DV_DIR, Repo};
use crate::{Error, Result};

/// The newest repository format this dv reads and writes: 2 splits large folders and files into small nodes.
pub const REPO_FORMAT: u64 = 2;
/// The format `dv init` gives a new repository (`dv format upgrade` moves one to [`REPO_FORMAT`]).
pub const INIT_FORMAT: u64 = 1;
/// The default zstd level: fast enough that compression keeps up with chunking on two cores.
pub const DEFAULT_COMPRESSION_LEVEL: i32 = 1;

/// Settings from `.dv/config.toml` (committed).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Config {
    pub format: u64,
    /// zstd level for new objects; 0 stores them uncompressed.
    pub compression_level: i32,
    /// Whether `dv add` stages pointer files in Git's index.
    pub stage: bool,
    /// The remote `push`, `fetch` and `pull` use when none is named.
    pub default_remote: Option<String>,
    pub remotes: std::collections::BTreeMap<String, RemoteConfig>,
}

/// A remote's committed settings (never secrets: those belong in `config.local.toml` or the environment).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RemoteConfig {
    pub url: String,
    /// Backend options such as `endpoint`, `region`, `allow_http`, `profile`.
    pub settings: std::collections::BTreeMap<String, String>,
}

/// Remote settings `dv remote modify` accepts.
pub const REMOTE_SETTINGS: &[&str] = &[
    "endpoint",
    "region",
    "allow_http",
    "profile",
    "max_retries",
    "retry_timeout",
    "connect_timeout",
    "response_timeout",
    "unsigned_payload",
];

/// Per-machine settings and secrets, beside `config.toml` and never committed.
pub const LOCAL_CONFIG_FILE: &str = "config.local.toml";

#[derive(serde::Deserialize, Default)]
struct RawConfig {
    core: Option<RawCore>,
    remote:
        Option<std::collections::BTreeMap<String, std::collections::BTreeMap<String, toml::Value>>>,
}

#[derive(serde::Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawCore {
    format: Option<u64>,
    compression_level: Option<i32>,
    stage: Option<bool>,
    remote: Option<String>,
}

impl Config {
    pub fn parse(text: &str, what: &str) -> Result<Config> {
        let raw: RawConfig =
            toml::from_str(text).map_err(|e| crate::toml_text::error(what, text, &e))?;
        let core = raw.core.unwrap_or_default();
        let format = core
            .format
            .ok_or_else(|| Error::format(what, "missing `core.format`"))?;
        if format == 0 {
            return Err(Error::format(what, "format version 0 is invalid"));
        }
        if format > REPO_FORMAT {
            return Err(Error::NewerFormat {
                what: what.to_string(),
                found: format,
                supported: REPO_FORMAT,
            });
        }
        let compression_level = core.compression_level.unwrap_or(DEFAULT_COMPRESSION_LEVEL);
        if !(-7..=19).contains(&compression_level) {
            return Err(Error::format(
                what,
                format!("`core.compression_level` must be -7 to 19, not {compression_level}"),
            ));
        }
        let mut remotes = std::collections::BTreeMap::new();
        for (name, table) in raw.remote.unwrap_or_default() {
            check_remote_name(&name)
                .map_err(|why| Error::format(what, format!("remote {name:?}: {why}")))?;
            let mut url = None;
            let mut settings = std::collections::BTreeMap::new();
            for (key, value) in table {
                let text = match &value {
                    toml::Value::String(s) => s.clone(),
                    toml::Value::Boolean(b) => b.to_string(),
                    toml::Value::Integer(i) => i.to_string(),
                    other => {
                        return Err(Error::format(
                            what,
                            format!("remote.{name}.{key}: unsupported value {other}"),
                        ));
                    }
                };
                check_remote_setting(&key, &text)
                    .map_err(|why| Error::format(what, format!("remote.{name}.{key}: {why}")))?;
                if key == "url" {
                    url = Some(text);
                } else if REMOTE_SETTINGS.contains(&key.as_str()) {
                    settings.insert(key, text);
                } else {
                    return Err(Error::format(
                        what,
                        format!("remote.{name}: unknown setting `{key}`"),
                    ));
                }
            }
            let url =
                url.ok_or_else(|| Error::format(what, format!("remote.{name}: missing `url`")))?;
            remotes.insert(name, RemoteConfig { url, settings });
        }
        if let Some(d) = &core.remote
            && !remotes.contains_key(d)
        {
            return Err(Error::format(
                what,
                format!("`core.remote` names {d:?}, which has no [remote.{d}] table"),
            ));
        }
        Ok(Config {
            format,
            compression_level,
            stage: core.stage.unwrap_or(true),
            default_remote: core.remote,
            remotes,
        })
    }

    /// How large folders and files are stored: split in format 2, flat before.
    pub fn layout(&self) -> crate::store::split::Layout {
        crate::store::split::Layout::of_version(self.format)
    }

    /// The file's text: canonical order, defaults left out.
    pub fn to_text(&self) -> String {
        use crate::toml_text::{string, table};
        let mut t = String::from(
            "# dv repository settings (committed with the project).\n\
             # Per-machine settings and secrets belong in config.local.toml beside this file.\n[core]\n",
        );
        t.push_str(&format!("format = {}\n", self.format));
        if self.compression_level != DEFAULT_COMPRESSION_LEVEL {
            t.push_str(&format!("compression_level = {}\n", self.compression_level));
        }
        if !self.stage {
            t.push_str("stage = false\n");
        }
        if let Some(d) = &self.default_remote {
            t.push_str(&format!("remote = {}\n", string(d)));
        }
        for (name, r) in &self.remotes {
            // A name with a dot is quoted (`[remote."my.r"]`): bare, it would read back as nested tables.
            t.push_str(&table(&format!("remote.{}", crate::toml_text::key(name))));
            t.push_str(&format!("url = {}\n", string(&r.url)));
            for (k, v) in &r.settings {
                t.push_str(&format!("{k} = {}\n", string(v)));
            }
        }
        t
    }

    pub(super) fn initial_text() -> String {
        Config {
            format: INIT_FORMAT,
            compression_level: DEFAULT_COMPRESSION_LEVEL,
            stage: true,
            default_remote: None,
            remotes: Default::default(),
        }
        .to_text()
    }
}

/// Refuses a committed remote setting (the URL included) that carries a secret: a URL with a password or with
/// a credential in its query string. The message never repeats the value.
pub fn check_remote_setting(key: &str, value: &str) -> std::result::Result<(), String> {
    // The S3 client builds the service's host name from the region (`s3.REGION.amazonaws.com`): anything but
    // a region's name would let whoever commits it send the user's signed requests to a host of their choice.
    if key == "region"
        && (value.is_empty()
            || value.len() > 64
            || !value
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-'))
    {
        return Err(format!(
            "{value:?} is not a region name (lower-case letters, digits and '-', such as eu-west-1)"
        ));
    }
    let found = crate::secret::url_secret(value).or_else(|| crate::secret::value_secret(value));
    match found {
        None => Ok(()),
        Some(what) => Err(format!(
            "the {} holds {what}, and .dv/config.toml is committed: put credentials in the environment \
             (e.g. AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY) or in .dv/config.local.toml, never in a URL",
            if key == "url" { "URL" } else { key }
        )),
    }
}

/// Remote names: letters, digits, `-`, `_` and `.`, starting with a letter or digit.
pub fn check_remote_name(name: &str) -> std::result::Result<(), &'static str> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphanumeric())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if ok {
        Ok(())
    } else {
        Err("use letters, digits, '-', '_' and '.', starting with a letter or digit")
    }
}

impl Repo {
    /// Rewrites `.dv/config.toml` with `config`.
    pub fn save_config(&mut self, config: Config) -> Result<()> {
        let path = self.dv_dir().join(CONFIG_FILE);
        crate::paths::check_no_linked_parents(&self.root, &format!("{DV_DIR}/{CONFIG_FILE}"))?;
        self.write_file(&path, config.to_text().as_bytes())?;
        self.config = config;
        Ok(())
    }

    /// The `[remote.NAME]` table of `.dv/config.local.toml` (credentials and per-machine overrides), if any.
    pub fn local_remote_settings(
        &self,
        name: &str,
    ) -> Result<std::collections::BTreeMap<String, String>> {
        if let Some(source) = &self.source {
            return Ok(source.local.get(name).cloned().unwrap_or_default());
        }
        let path = self.dv_dir().join(LOCAL_CONFIG_FILE);
        let text = match fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Default::default()),
            Err(e) => return Err(Error::io(path, e)),
        };
        let what = path.display().to_string();
        // Read as plain TOML and walked by hand: serde's messages quote the value they refuse, and this file
        // holds secrets. No message below shows a value.
        let doc: toml::Table =
            toml::from_str(&text).map_err(|e| crate::toml_text::error(&what, &text, &e))?;
        let unsupported = |key: &str, wants: &str| {
            Error::format(
                &what,
                format!(
                    "{key}: expected {wants} (the value is not shown: this file holds secrets)"
                ),
            )
        };
        let mut out = std::collections::BTreeMap::new();
        let remotes = match doc.get("remote") {
            None => return Ok(out),
            Some(toml::Value::Table(t)) => t,
            Some(_) => return Err(unsupported("remote", "a table of remotes, `[remote.NAME]`")),
        };
        let Some(table) = remotes.get(name) else {
            return Ok(out);
        };
        let toml::Value::Table(table) = table else {
            return Err(unsupported(
                &format!("remote.{name}"),
                "a table of settings, `[remote.NAME]`",
            ));
        };
        for (key, value) in table {
            let text = match value {
                toml::Value::String(s) => s.clone(),
                toml::Value::Boolean(b) => b.to_string(),
                toml::Value::Integer(i) => i.to_string(),
                toml::Value::Table(_) => {
                    return Err(unsupported(
                        &format!("remote.{name}.{key}"),
                        "a string, a number or true/false, not a table (a remote whose name holds a dot \
                         is written `[remote.\"my.name\"]`)",
                    ));
                }
                _ => {
                    return Err(unsupported(
                        &format!("remote.{name}.{key}"),
                        "a string, a number or true/false",
                    ));
                }
            };
            out.insert(key.clone(), text);
        }
        Ok(out)
    }

    /// The names (never the values) of the local settings of remote `name`.
    pub fn local_remote_setting_names(&self, name: &str) -> Result<Vec<String>> {
        Ok(self.local_remote_settings(name)?.into_keys().collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_parses_and_refuses() {
        let c = Config::parse(&Config::initial_text(), "c").unwrap();
        assert_eq!(c.format, 1);
        assert_eq!(c.compression_level, DEFAULT_COMPRESSION_LEVEL);
        assert!(matches!(
            Config::parse("[core]\nformat = 7\n", "c"),
            Err(Error::NewerFormat { found: 7, .. })
        ));
        assert!(Config::parse("[core]\nformat = 1\ncompresion_level = 3\n", "c").is_err());
        assert!(Config::parse("[core]\nformat = 1\ncompression_level = 99\n", "c").is_err());
        assert!(Config::parse("", "c").is_err());
    }

    #[test]
    fn remotes_round_trip_through_the_text() {
        let text = "[core]\nformat = 1\nremote = \"origin\"\n[remote.origin]\nurl = \"s3://b/p\"\nallow_http = true\n\
                    [remote.backup]\nurl = \"/mnt/x y\"\n";
        let c = Config::parse(text, "c").unwrap();
        assert_eq!(c.default_remote.as_deref(), Some("origin"));
        assert_eq!(c.remotes["origin"].settings["allow_http"], "true");
        assert_eq!(Config::parse(&c.to_text(), "c").unwrap(), c);
        assert!(Config::parse("[core]\nformat = 1\nremote = \"nope\"\n", "c").is_err());
        assert!(
            Config::parse(
                "[core]\nformat = 1\n[remote.o]\nurl = \"x\"\nsecret = \"s\"\n",
                "c"
            )
            .is_err()
        );
        assert!(Config::parse("[core]\nformat = 1\n[remote.o]\nregion = \"x\"\n", "c").is_err());
    }
}
