//! The settings files a user keeps beside the committed `.dv/config.toml`: the work tree's
//! `.dv/config.local.toml` and the user's own file ([`Settings::user_config`](crate::Settings)). Read here: the
//! cache folder (`cache.dir`) and the per-source remote settings of registries
//! (`[source."URL".remote.NAME]`); written here, key by key, for `dv config`, through `toml_edit` so that the
//! user's comments and layout stay. (The committed file is written whole from [`Config`](super::Config), whose
//! bytes are canonical.)

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::{Error, Result};

/// One remote's settings, by name.
pub type RemoteSettings = BTreeMap<String, String>;

/// A settings file read as plain TOML (`None` when it does not exist). Messages never quote a value: the local
/// and user files hold secrets.
pub fn read_table(path: &Path) -> Result<Option<toml::Table>> {
    crate::fsutil::refuse_link(path)?;
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(Error::io(path, e)),
    };
    let what = path.display().to_string();
    toml::from_str(&text)
        .map(Some)
        .map_err(|e| crate::toml_text::error(&what, &text, &e))
}

/// A setting's value as dv's text: strings as they are, numbers and booleans written out; anything else is an
/// error naming `key` (and never the value).
pub fn value_text(path: &Path, key: &str, value: &toml::Value) -> Result<String> {
    match value {
        toml::Value::String(s) => Ok(s.clone()),
        toml::Value::Boolean(b) => Ok(b.to_string()),
        toml::Value::Integer(i) => Ok(i.to_string()),
        _ => Err(Error::format(
            path.display().to_string(),
            format!("{key}: expected a string, a number or true/false (the value is not shown)"),
        )),
    }
}

/// The `cache.dir` setting of a settings file, if it sets one: an absolute path.
pub fn cache_dir_in(path: &Path) -> Result<Option<PathBuf>> {
    let Some(doc) = read_table(path)? else {
        return Ok(None);
    };
    let Some(cache) = doc.get("cache") else {
        return Ok(None);
    };
    let bad = |why: &str| Error::format(path.display().to_string(), format!("cache: {why}"));
    let toml::Value::Table(cache) = cache else {
        return Err(bad("expected a table, `[cache]`"));
    };
    let Some(dir) = cache.get("dir") else {
        return Ok(None);
    };
    let toml::Value::String(dir) = dir else {
        return Err(bad("`dir` must be a string, a folder's absolute path"));
    };
    let dir = PathBuf::from(dir);
    if !dir.is_absolute() {
        return Err(bad("`dir` must be an absolute path"));
    }
    Ok(Some(dir))
}

/// The settings of each remote of source repository `url` in a settings file (`[source."URL".remote.NAME]`).
pub fn source_remotes_in(path: &Path, url: &str) -> Result<BTreeMap<String, RemoteSettings>> {
    let mut out = BTreeMap::new();
    let Some(doc) = read_table(path)? else {
        return Ok(out);
    };
    let bad = |key: String, wants: &str| {
        Error::format(
            path.display().to_string(),
            format!("{key}: expected {wants}"),
        )
    };
    let Some(sources) = doc.get("source") else {
        return Ok(out);
    };
    let toml::Value::Table(sources) = sources else {
        return Err(bad(
            "source".into(),
            "a table of sources, `[source.\"URL\"]`",
        ));
    };
    let Some(source) = sources.get(url) else {
        return Ok(out);
    };
    let Some(remotes) = source.get("remote") else {
        return Ok(out);
    };
    let toml::Value::Table(remotes) = remotes else {
        return Err(bad(
            format!("source.{url}.remote"),
            "a table of remotes, `[source.\"URL\".remote.NAME]`",
        ));
    };
    for (name, table) in remotes {
        let toml::Value::Table(table) = table else {
            return Err(bad(
                format!("source.{url}.remote.{name}"),
                "a table of settings",
            ));
        };
        let mut settings = RemoteSettings::new();
        for (key, value) in table {
            let shown = format!("source.{url}.remote.{name}.{key}");
            settings.insert(key.clone(), value_text(path, &shown, value)?);
        }
        out.insert(name.clone(), settings);
    }
    Ok(out)
}

/// Sets (`Some`) or removes (`None`) the value at `keys` (table names, then the key) in the settings file at
/// `path`; tables left empty by a removal go too. Returns the file's new text, or `None` when nothing changes;
/// the caller writes it (atomically, its temporary file where Git never looks).
pub fn edit(path: &Path, keys: &[&str], value: Option<&str>) -> Result<Option<String>> {
    crate::fsutil::refuse_link(path)?;
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(e) => return Err(Error::io(path, e)),
    };
    let what = path.display().to_string();
    let mut doc: toml_edit::DocumentMut = text.parse().map_err(|e: toml_edit::TomlError| {
        Error::format(
            &what,
            format!(
                "not valid TOML (line {}); fix or remove the file first",
                e.span()
                    .map(|s| text[..s.start.min(text.len())].lines().count().max(1))
                    .unwrap_or(1)
            ),
        )
    })?;
    let (last, tables) = keys.split_last().expect("a key");
    let changed = match value {
        Some(v) => {
            let mut table = doc.as_table_mut();
            for name in tables {
                let item = table.entry(name).or_insert_with(|| {
                    let mut t = toml_edit::Table::new();
                    t.set_implicit(true);
                    toml_edit::Item::Table(t)
                });
                table = item.as_table_mut().ok_or_else(|| {
                    Error::format(
                        &what,
                        format!("`{name}` is not a table here; fix the file first"),
                    )
                })?;
            }
            let same = table.get(last).and_then(|i| i.as_str()) == Some(v);
            if !same {
                table.insert(last, toml_edit::value(v));
            }
            !same
        }
        None => remove(doc.as_table_mut(), tables, last),
    };
    Ok(changed.then(|| doc.to_string()))
}

/// Removes `last` below the tables `tables` of `table`, and tables it leaves empty; whether anything went.
fn remove(table: &mut toml_edit::Table, tables: &[&str], last: &str) -> bool {
    match tables.split_first() {
        None => table.remove(last).is_some(),
        Some((first, rest)) => {
            let Some(inner) = table.get_mut(first).and_then(|i| i.as_table_mut()) else {
                return false;
            };
            let gone = remove(inner, rest, last);
            if gone && inner.is_empty() {
                table.remove(first);
            }
            gone
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn edits_keep_comments_and_drop_emptied_tables() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.toml");
        std::fs::write(
            &path,
            "# mine\n[remote.o]\nsecret_access_key = \"s\" # keep\n",
        )
        .unwrap();
        let keys = ["source", "https://h/r.git", "remote", "origin", "endpoint"];
        let set = |keys: &[&str], v: Option<&str>| match edit(&path, keys, v).unwrap() {
            Some(text) => {
                std::fs::write(&path, text).unwrap();
                true
            }
            None => false,
        };
        assert!(set(&keys, Some("http://127.0.0.1:9000")));
        assert!(!set(&keys, Some("http://127.0.0.1:9000")));
        let got = source_remotes_in(&path, "https://h/r.git").unwrap();
        assert_eq!(got["origin"]["endpoint"], "http://127.0.0.1:9000");
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.contains("# mine") && text.contains("# keep"), "{text}");
        assert!(set(&keys, None));
        assert!(!set(&keys, None));
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(!text.contains("source"), "{text}");
        assert!(set(&["cache", "dir"], Some("/srv/dv")));
        assert_eq!(cache_dir_in(&path).unwrap(), Some(PathBuf::from("/srv/dv")));
        set(&["cache", "dir"], Some("rel"));
        assert!(cache_dir_in(&path).is_err());
    }
}
