//! Pointer files (`PATH.dv`): the small, human-readable TOML that Git versions in place of the data.
//!
//! Long only with its tests (about 335 lines without them): one format, its parser, checks and writer.
//!
//! A pointer describes the path it sits beside, minus the `.dv` suffix; it holds no path, time or machine detail,
//! so it is the same on every machine and a rename is a plain `git mv`. See docs/format.md, "Pointer files".

use std::collections::BTreeMap;

use crate::store::object::{Node, NodeKind};
use crate::store::split::Layout;
use crate::toml_text;
use crate::{Error, ObjectId, Result};

/// The newest pointer version this dv reads and writes: 1 names objects in the flat layout (repository
/// format 1), 2 in the split one (format 2), 3 adds where an imported dataset came from (`[source]`) and says
/// its layout in a `layout` line (absent: split). A pointer says the smallest version that reads it.
pub const POINTER_VERSION: u64 = 3;
/// Pointer files are tiny; anything larger is not one.
pub const MAX_POINTER_SIZE: usize = 64 * 1024;
/// Annotations (`[meta]`): at most this many entries, keys and values at most this many bytes.
pub const MAX_META_ENTRIES: usize = 64;
pub const MAX_META_KEY: usize = 128;
pub const MAX_META_VALUE: usize = 4096;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pointer {
    pub node: Node,
    /// For a file tracked as a table: its table header object, key and row count.
    pub table: Option<TableRef>,
    /// Free-form annotations (owner, license, metrics, …): the `[meta]` table, sorted by key. Never secrets:
    /// pointer files are committed.
    pub meta: BTreeMap<String, String>,
    /// The layout its objects are in (the `dv` line: 1 flat, 2 split; in version 3 the `layout` line): ids
    /// compared with it are computed in it.
    pub layout: Layout,
    /// For a dataset imported from another repository (`dv import`): where it came from.
    pub source: Option<SourceRef>,
}

/// Where an imported dataset came from: the `[source]` table of a version 3 pointer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SourceRef {
    /// The source repository: a Git URL without credentials, or a local path.
    pub url: String,
    /// The revision asked for (a branch or tag that `dv update` follows), or `None` for the source's HEAD.
    pub rev: Option<String>,
    /// The commit it resolved to, 40 hex digits.
    pub commit: String,
    /// The path in the source repository (a dataset, or a path inside one).
    pub path: String,
}

impl SourceRef {
    /// Why this record cannot be written or read, if it cannot: a URL with a credential, a commit that is not
    /// 40 hex digits, a path that is no repository path, a revision that could be taken for an option.
    pub fn problem(&self) -> Option<String> {
        if self.url.is_empty() || self.url.len() > 4096 {
            return Some("source.url must be 1 to 4096 bytes".into());
        }
        if let Some(what) = crate::secret::url_secret(&self.url) {
            return Some(format!(
                "source.url holds {what}; pointer files are committed, so they never hold credentials"
            ));
        }
        if self.url.chars().any(char::is_control) {
            return Some("source.url holds control characters".into());
        }
        if self.commit.len() != 40
            || !self
                .commit
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        {
            return Some(format!(
                "source.commit {:?} is not 40 lower-case hex digits",
                self.commit
            ));
        }
        if let Some(rev) = &self.rev
            && (rev.is_empty()
                || rev.len() > 1024
                || rev.starts_with('-')
                || rev.chars().any(|c| c.is_control() || c == ' '))
        {
            return Some(format!("source.rev {rev:?} is not a revision name"));
        }
        if let Some(why) = crate::paths::repo_path_problem(&self.path) {
            return Some(format!("source.path {:?}: {why}", self.path));
        }
        None
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TableRef {
    /// The table header object (format, key, columns, row tree root).
    pub id: ObjectId,
    /// Key columns; empty for a keyless table.
    pub key: Vec<String>,
    pub rows: u64,
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct Raw {
    dv: u64,
    kind: String,
    id: String,
    size: u64,
    files: Option<u64>,
    executable: Option<bool>,
    table: Option<RawTable>,
    meta: Option<BTreeMap<String, String>>,
    layout: Option<u64>,
    source: Option<RawSource>,
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSource {
    url: String,
    rev: Option<String>,
    commit: String,
    path: String,
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTable {
    id: String,
    key: Vec<String>,
    rows: u64,
}

impl Pointer {
    /// The pointer of plain data `node` stored in `layout`: no table record, annotations or source (what a
    /// migration map's entry stands for).
    pub fn of_node(
        node: crate::store::object::Node,
        layout: crate::store::split::Layout,
    ) -> Pointer {
        Pointer {
            node,
            table: None,
            meta: Default::default(),
            layout,
            source: None,
        }
    }

    pub fn encode(&self) -> String {
        let n = &self.node;
        let mut s = String::from(
            "# Data versioned by dv: `dv checkout` restores it, `dv status` compares it.\n",
        );
        // Version 3 only where it is needed (a source record), so every other pointer reads in older dv too.
        let version = match (self.layout, &self.source) {
            (_, Some(_)) => 3,
            (Layout::Flat, None) => 1,
            (Layout::Split, None) => 2,
        };
        s.push_str(&format!("dv = {version}\n"));
        s.push_str(&format!("kind = {}\n", toml_text::string(n.kind.name())));
        s.push_str(&format!("id = {}\n", toml_text::string(&n.id.to_string())));
        s.push_str(&format!("size = {}\n", n.size));
        if n.kind == NodeKind::Tree {
            s.push_str(&format!("files = {}\n", n.files));
        } else if n.exec {
            s.push_str("executable = true\n");
        }
        if version == 3 && self.layout == Layout::Flat {
            s.push_str("layout = 1\n");
        }
        if let Some(t) = &self.table {
            s.push_str(&toml_text::table("table"));
            s.push_str(&format!(
                "id = {}\nkey = {}\nrows = {}\n",
                toml_text::string(&t.id.to_string()),
                toml_text::string_list(&t.key),
                t.rows
            ));
        }
        if let Some(src) = &self.source {
            s.push_str(&toml_text::table("source"));
            s.push_str(&format!("url = {}\n", toml_text::string(&src.url)));
            if let Some(rev) = &src.rev {
                s.push_str(&format!("rev = {}\n", toml_text::string(rev)));
            }
            s.push_str(&format!("commit = {}\n", toml_text::string(&src.commit)));
            s.push_str(&format!("path = {}\n", toml_text::string(&src.path)));
        }
        if !self.meta.is_empty() {
            s.push_str(&toml_text::table("meta"));
            for (k, v) in &self.meta {
                s.push_str(&format!(
                    "{} = {}\n",
                    toml_text::key(k),
                    toml_text::string(v)
                ));
            }
        }
        s
    }

    /// The pointer's text, checked to be one `decode` accepts: valid annotations, at most
    /// [`MAX_POINTER_SIZE`] bytes. For pointers about to be written.
    pub fn encode_checked(&self, what: &str) -> Result<String> {
        check_meta(&self.meta).map_err(|m| Error::format(what, m))?;
        if let Some(why) = self.source.as_ref().and_then(SourceRef::problem) {
            return Err(Error::format(what, why));
        }
        let text = self.encode();
        if text.len() > MAX_POINTER_SIZE {
            return Err(Error::format(
                what,
                format!(
                    "the pointer file would be {} bytes, more than {MAX_POINTER_SIZE}: shorten its annotations",
                    text.len()
                ),
            ));
        }
        Ok(text)
    }

    /// True when `data` is meant as a pointer file, valid or not: it starts with the comment dv writes, or it
    /// is TOML with a `dv` field. False for other files that happen to be named `*.dv` (`.dv` is also a video
    /// format), which dv skips when it lists datasets.
    pub fn looks_like(data: &[u8]) -> bool {
        const HEADER: &[u8] = b"# Data versioned by dv";
        // A merge conflict may put its markers above the header.
        if data.starts_with(HEADER)
            || (has_conflict_markers(data) && data.windows(HEADER.len()).any(|w| w == HEADER))
        {
            return true;
        }
        data.len() <= MAX_POINTER_SIZE
            && std::str::from_utf8(data)
                .ok()
                .and_then(|text| text.parse::<toml::Table>().ok())
                .is_some_and(|t| t.contains_key("dv"))
    }

    /// Parses a pointer file; `what` names it in errors.
    pub fn decode(data: &[u8], what: &str) -> Result<Pointer> {
        if data.len() > MAX_POINTER_SIZE {
            return Err(Error::format(
                what,
                format!("{} bytes is too large for a pointer file", data.len()),
            ));
        }
        if has_conflict_markers(data) {
            return Err(Error::ConflictedPointer {
                what: what.to_string(),
            });
        }
        let text = std::str::from_utf8(data).map_err(|_| Error::format(what, "not UTF-8 text"))?;
        let raw: Raw = toml::from_str(text).map_err(|e| crate::toml_text::error(what, text, &e))?;
        if raw.dv == 0 {
            return Err(Error::format(what, "format version 0 is invalid"));
        }
        // TOML integers are 64-bit signed: sizes and counts from 2^63 up are not ones dv writes.
        let counts = [("size", Some(raw.size)), ("files", raw.files)];
        let rows = [("table.rows", raw.table.as_ref().map(|t| t.rows))];
        for (field, value) in counts.into_iter().chain(rows) {
            if let Some(v) = value
                && v > i64::MAX as u64
            {
                return Err(Error::format(
                    what,
                    format!("{field} = {v} is out of range (at most 2^63 - 1)"),
                ));
            }
        }
        if raw.dv > POINTER_VERSION {
            return Err(Error::NewerFormat {
                what: what.to_string(),
                found: raw.dv,
                supported: POINTER_VERSION,
            });
        }
        let kind = NodeKind::from_name(&raw.kind)
            .ok_or_else(|| Error::format(what, format!("unknown kind {:?}", raw.kind)))?;
        let id = ObjectId::from_hex(&raw.id).ok_or_else(|| {
            Error::format(
                what,
                format!("id {:?} is not 64 lower-case hex digits", raw.id),
            )
        })?;
        let (files, exec) = match kind {
            NodeKind::Tree => {
                if raw.executable.is_some() {
                    return Err(Error::format(what, "a folder cannot be executable"));
                }
                (
                    raw.files
                        .ok_or_else(|| Error::format(what, "missing field `files` for a folder"))?,
                    false,
                )
            }
            _ => {
                if raw.files.is_some() {
                    return Err(Error::format(what, "`files` is only for folders"));
                }
                (1, raw.executable.unwrap_or(false))
            }
        };
        let table = match raw.table {
            None => None,
            Some(t) => {
                if kind == NodeKind::Tree {
                    return Err(Error::format(what, "a folder cannot be a table"));
                }
                if t.key.len() > crate::table::MAX_KEY_COLUMNS {
                    return Err(Error::format(what, "too many key columns"));
                }
                let id = ObjectId::from_hex(&t.id).ok_or_else(|| {
                    Error::format(
                        what,
                        format!("table.id {:?} is not 64 lower-case hex digits", t.id),
                    )
                })?;
                Some(TableRef {
                    id,
                    key: t.key,
                    rows: t.rows,
                })
            }
        };
        let meta = raw.meta.unwrap_or_default();
        check_meta(&meta).map_err(|m| Error::format(what, m))?;
        if raw.dv < 3 && (raw.layout.is_some() || raw.source.is_some()) {
            return Err(Error::format(what, "`layout` and `[source]` need `dv = 3`"));
        }
        let layout = match (raw.dv, raw.layout) {
            (3, None | Some(2)) => Layout::Split,
            (3, Some(1)) => Layout::Flat,
            (3, Some(other)) => {
                return Err(Error::format(what, format!("unknown layout {other}")));
            }
            (v, _) => Layout::of_version(v),
        };
        let source = match raw.source {
            None => None,
            Some(r) => {
                let src = SourceRef {
                    url: r.url,
                    rev: r.rev,
                    commit: r.commit,
                    path: r.path,
                };
                if let Some(why) = src.problem() {
                    return Err(Error::format(what, why));
                }
                Some(src)
            }
        };
        Ok(Pointer {
            node: Node {
                kind,
                id,
                size: raw.size,
                files,
                exec,
            },
            table,
            meta,
            layout,
            source,
        })
    }
}

/// A `[meta]` key as TOML: bare when it can be, else quoted (a key with a `.` would otherwise be dotted).
/// Why an annotation key is not allowed, if it is not: 1 to 128 bytes of ASCII letters, digits, `_`, `-`, `.`.
pub fn meta_key_problem(key: &str) -> Option<String> {
    if key.is_empty() {
        return Some("an annotation key cannot be empty".into());
    }
    if key.len() > MAX_META_KEY {
        return Some(format!(
            "annotation key '{}…' is longer than {MAX_META_KEY} bytes",
            key.chars().take(32).collect::<String>()
        ));
    }
    if !key
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'))
    {
        return Some(format!(
            "annotation key {key:?} may only hold ASCII letters, digits, '_', '-' and '.'"
        ));
    }
    None
}

/// Why an annotation value is not allowed, if it is not: at most 4 KiB, no control characters but tab and
/// newline (values are shown on terminals).
pub fn meta_value_problem(key: &str, value: &str) -> Option<String> {
    if value.len() > MAX_META_VALUE {
        return Some(format!(
            "the value of annotation '{key}' is {} bytes, more than {MAX_META_VALUE}",
            value.len()
        ));
    }
    if value
        .chars()
        .any(|c| c.is_control() && c != '\n' && c != '\t')
    {
        return Some(format!(
            "the value of annotation '{key}' holds control characters (only tab and newline are allowed)"
        ));
    }
    None
}

/// Checks a whole `[meta]` table: entry count, keys and values.
pub fn check_meta(meta: &BTreeMap<String, String>) -> std::result::Result<(), String> {
    if meta.len() > MAX_META_ENTRIES {
        return Err(format!(
            "{} annotations, more than {MAX_META_ENTRIES}",
            meta.len()
        ));
    }
    for (k, v) in meta {
        if let Some(m) = meta_key_problem(k).or_else(|| meta_value_problem(k, v)) {
            return Err(m);
        }
    }
    Ok(())
}

/// Why an annotation looks like a secret, if it does. Pointer files are committed to Git and pushed, so
/// dv refuses to write credentials into them; [`crate::secret`] is the one detector.
pub fn secret_problem(key: &str, value: &str) -> Option<String> {
    if crate::secret::is_secret_name(key) {
        return Some(format!(
            "annotation '{key}' looks like a secret; pointer files are committed to Git, so they never hold \
             credentials"
        ));
    }
    crate::secret::value_secret(value).map(|what| {
        format!(
            "the value of annotation '{key}' looks like a credential ({what}); pointer files are committed to \
             Git, so they never hold secrets"
        )
    })
}

/// True when `data` holds a line Git writes to open a merge conflict (`<<<<<<<`, then a space and the side's
/// name, or nothing) and one closing it (`>>>>>>>`): a pointer file a merge left unresolved. No pointer file dv
/// writes has such a line (every line is a comment, a `key = value` or a `[table]`).
pub fn has_conflict_markers(data: &[u8]) -> bool {
    let marker = |line: &[u8], m: &[u8]| {
        line.strip_prefix(m)
            .is_some_and(|rest| matches!(rest.first(), None | Some(b' ' | b'\r')))
    };
    let lines = || data.split(|&b| b == b'\n');
    lines().any(|l| marker(l, b"<<<<<<<")) && lines().any(|l| marker(l, b">>>>>>>"))
}

#[cfg(test)]
mod tests {
    #[test]
    fn conflict_markers_are_lines_git_writes() {
        use super::has_conflict_markers as c;
        assert!(c(
            b"a\n<<<<<<< HEAD\nid = 1\n=======\nid = 2\n>>>>>>> side\n"
        ));
        assert!(c(b"<<<<<<<\r\nx\r\n>>>>>>>\r\n"));
        assert!(!c(b"<<<<<<< HEAD\nno end\n"));
        assert!(!c(b"x = \"<<<<<<< a\"\n>>>>>>>> b\n"));
    }

    use super::*;
    use proptest::prelude::*;

    #[test]
    fn golden_pointer_text() {
        let p = Pointer {
            node: Node {
                kind: NodeKind::Tree,
                id: ObjectId([0xab; 32]),
                size: 1234,
                files: 3,
                exec: false,
            },
            table: None,
            meta: BTreeMap::new(),
            layout: Layout::Flat,
            source: None,
        };
        assert_eq!(
            p.encode(),
            "# Data versioned by dv: `dv checkout` restores it, `dv status` compares it.\n\
             dv = 1\nkind = \"tree\"\n\
             id = \"abababababababababababababababababababababababababababababababab\"\n\
             size = 1234\nfiles = 3\n"
        );
        assert_eq!(Pointer::decode(p.encode().as_bytes(), "x").unwrap(), p);
    }

    #[test]
    fn golden_table_pointer_text() {
        let p = Pointer {
            node: Node {
                kind: NodeKind::File,
                id: ObjectId([0x11; 32]),
                size: 70,
                files: 1,
                exec: false,
            },
            table: Some(TableRef {
                id: ObjectId([0x22; 32]),
                key: vec!["region".into(), "id".into()],
                rows: 3,
            }),
            meta: BTreeMap::new(),
            layout: Layout::Flat,
            source: None,
        };
        let text = p.encode();
        assert!(
            text.ends_with(
                "size = 70\n\n[table]\n\
                 id = \"2222222222222222222222222222222222222222222222222222222222222222\"\n\
                 key = [\"region\", \"id\"]\nrows = 3\n"
            ),
            "{text}"
        );
        assert_eq!(Pointer::decode(text.as_bytes(), "x").unwrap(), p);
        let folder = text.replace("kind = \"file\"", "kind = \"tree\"\nfiles = 1");
        assert!(Pointer::decode(folder.as_bytes(), "x").is_err());
    }

    fn imported() -> Pointer {
        Pointer {
            node: Node {
                kind: NodeKind::Tree,
                id: ObjectId([0xcd; 32]),
                size: 99,
                files: 2,
                exec: false,
            },
            table: None,
            meta: BTreeMap::new(),
            layout: Layout::Flat,
            source: Some(SourceRef {
                url: "file:///srv/registry.git".into(),
                rev: Some("v1".into()),
                commit: "0123456789abcdef0123456789abcdef01234567".into(),
                path: "data/images".into(),
            }),
        }
    }

    #[test]
    fn golden_imported_pointer_text() {
        let p = imported();
        let text = p.encode();
        assert_eq!(
            text,
            "# Data versioned by dv: `dv checkout` restores it, `dv status` compares it.\n\
             dv = 3\nkind = \"tree\"\n\
             id = \"cdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcd\"\n\
             size = 99\nfiles = 2\nlayout = 1\n\n[source]\nurl = \"file:///srv/registry.git\"\nrev = \"v1\"\n\
             commit = \"0123456789abcdef0123456789abcdef01234567\"\npath = \"data/images\"\n"
        );
        assert_eq!(Pointer::decode(text.as_bytes(), "x").unwrap(), p);
        // Split layout: no layout line; no revision asked: no rev line.
        let mut split = imported();
        split.layout = Layout::Split;
        split.source.as_mut().unwrap().rev = None;
        let text = split.encode();
        assert!(
            !text.contains("layout") && !text.contains("rev ="),
            "{text}"
        );
        assert_eq!(Pointer::decode(text.as_bytes(), "x").unwrap(), split);
        // Without a source record a pointer keeps its old version, so older dv reads it.
        let mut plain = imported();
        plain.source = None;
        assert!(plain.encode().contains("dv = 1\n"));
    }

    #[test]
    fn refuses_bad_source_records() {
        let text = imported().encode();
        for (from, to, why) in [
            (
                "file:///srv/registry.git",
                "https://u:pw@h/r.git",
                "password",
            ),
            (
                "0123456789abcdef0123456789abcdef01234567",
                "0123",
                "40 lower-case",
            ),
            ("data/images", "../up", "source.path"),
            ("\"v1\"", "\"--upload-pack=x\"", "source.rev"),
            ("path = ", "extra = 1\npath = ", "unknown field"),
            ("dv = 3", "dv = 2", "need `dv = 3`"),
        ] {
            let bad = text.replace(from, to);
            let err = Pointer::decode(bad.as_bytes(), "x")
                .unwrap_err()
                .to_string();
            assert!(err.contains(why), "{bad}: {err}");
        }
        let mut p = imported();
        p.source.as_mut().unwrap().url = "https://u:pw@h/r.git".into();
        assert!(p.encode_checked("x").is_err());
    }

    #[test]
    fn rejects_bad_pointers() {
        let ok =
            "dv = 1\nkind = \"file\"\nid = \"".to_string() + &"0".repeat(64) + "\"\nsize = 1\n";
        assert!(Pointer::decode(ok.as_bytes(), "x").is_ok());
        for (bad, why) in [
            (ok.replace("dv = 1", "dv = 4"), "newer than"),
            (ok.clone() + "layout = 1\n", "need `dv = 3`"),
            (
                ok.replace("dv = 1", "dv = 3") + "layout = 7\n",
                "unknown layout",
            ),
            (ok.replace("file", "banana"), "unknown kind"),
            (ok.replace(&"0".repeat(64), "../../etc/passwd"), "not 64"),
            (ok.clone() + "path = \"../x\"\n", "unknown field"),
            (ok.replace("size = 1", "size = -1"), "invalid value"),
            (
                ok.replace("size = 1", "size = 9223372036854775808"),
                "out of range",
            ),
            (
                ok.replace("size = 1", "size = 18446744073709551615"),
                "out of range",
            ),
            ("\u{0}\u{0}".to_string(), ""),
        ] {
            let err = Pointer::decode(bad.as_bytes(), "x")
                .unwrap_err()
                .to_string();
            assert!(err.contains(why), "{bad:?}: {err}");
        }
    }

    #[test]
    fn tells_pointer_files_from_other_dv_files() {
        let ok =
            "dv = 1\nkind = \"file\"\nid = \"".to_string() + &"0".repeat(64) + "\"\nsize = 1\n";
        assert!(Pointer::looks_like(ok.as_bytes()));
        assert!(
            Pointer::looks_like(b"dv = 99\n"),
            "a newer pointer is a pointer"
        );
        assert!(Pointer::looks_like(
            b"# Data versioned by dv: ...\n<<<<<<< HEAD\n"
        ));
        assert!(!Pointer::looks_like(b"\x00\x01DV video frames"));
        assert!(!Pointer::looks_like(b"title = \"not dv\"\n"));
        assert!(!Pointer::looks_like(b"some = = text"));
    }

    fn meta_pointer() -> Pointer {
        let mut meta = BTreeMap::new();
        for (k, v) in [
            ("owner", "Ana Lima"),
            ("license", "CC-BY-4.0"),
            ("metrics.f1", "0.91"),
            ("description", "clicks, \"cleaned\"\nsecond line"),
            ("note", "it's \\ fine"),
        ] {
            meta.insert(k.to_string(), v.to_string());
        }
        Pointer {
            node: Node {
                kind: NodeKind::File,
                id: ObjectId([0x11; 32]),
                size: 70,
                files: 1,
                exec: false,
            },
            table: Some(TableRef {
                id: ObjectId([0x22; 32]),
                key: vec!["id".into()],
                rows: 3,
            }),
            meta,
            layout: Layout::Flat,
            source: None,
        }
    }

    #[test]
    fn golden_meta_pointer_text() {
        let p = meta_pointer();
        let text = p.encode();
        assert_eq!(
            text,
            "# Data versioned by dv: `dv checkout` restores it, `dv status` compares it.\n\
             dv = 1\nkind = \"file\"\n\
             id = \"1111111111111111111111111111111111111111111111111111111111111111\"\n\
             size = 70\n\n[table]\n\
             id = \"2222222222222222222222222222222222222222222222222222222222222222\"\n\
             key = [\"id\"]\nrows = 3\n\n[meta]\n\
             description = \"\"\"\nclicks, \"cleaned\"\nsecond line\"\"\"\n\
             license = \"CC-BY-4.0\"\n\
             \"metrics.f1\" = \"0.91\"\n\
             note = '''it's \\ fine'''\n\
             owner = \"Ana Lima\"\n"
        );
        assert_eq!(Pointer::decode(text.as_bytes(), "x").unwrap(), p);
        // Without a table, [meta] follows the fields directly.
        let mut q = p.clone();
        q.table = None;
        assert!(q.encode().contains("size = 70\n\n[meta]\ndescription = "));
        assert_eq!(Pointer::decode(q.encode().as_bytes(), "x").unwrap(), q);
        // An empty [meta] reads as no annotations, and is not written.
        let mut r = q.clone();
        r.meta.clear();
        let with_empty = r.encode() + "\n[meta]\n";
        assert_eq!(Pointer::decode(with_empty.as_bytes(), "x").unwrap(), r);
        assert!(!r.encode().contains("[meta]"));
    }

    #[test]
    fn rejects_bad_meta() {
        let ok = meta_pointer().encode();
        assert!(Pointer::decode(ok.as_bytes(), "x").is_ok());
        let long_key = format!("{} = \"v\"\n", "k".repeat(MAX_META_KEY + 1));
        let long_value = format!("big = \"{}\"\n", "v".repeat(MAX_META_VALUE + 1));
        let many: String = (0..=MAX_META_ENTRIES)
            .map(|i| format!("k{i} = \"v\"\n"))
            .collect();
        for (extra, why) in [
            ("n = 3\n", "invalid type"),
            ("t = { a = \"b\" }\n", "invalid type"),
            ("\"\" = \"v\"\n", "cannot be empty"),
            ("\"a b\" = \"v\"\n", "may only hold"),
            ("\"ä\" = \"v\"\n", "may only hold"),
            ("bell = \"\\u0007\"\n", "control characters"),
            ("esc = \"\\u001b[31m\"\n", "control characters"),
            (&long_key, "longer than 128"),
            (&long_value, "more than 4096"),
            (&many, "more than 64"),
            ("owner = \"a\"\n", "duplicate key"),
        ] {
            let bad = ok.clone() + extra;
            let err = Pointer::decode(bad.as_bytes(), "x")
                .unwrap_err()
                .to_string();
            assert!(err.contains(why), "{extra:?}: {err}");
        }
        // A pointer too large to read back is never written.
        let mut p = meta_pointer();
        for i in 0..MAX_META_ENTRIES - 5 {
            p.meta.insert(format!("k{i}"), "v".repeat(MAX_META_VALUE));
        }
        let err = p.encode_checked("x").unwrap_err().to_string();
        assert!(err.contains("more than 65536"), "{err}");
        let mut p = meta_pointer();
        p.meta.insert("a b".into(), "v".into());
        assert!(p.encode_checked("x").is_err());
    }

    #[test]
    fn secret_looking_annotations_are_refused() {
        for key in [
            "password",
            "db_password",
            "api_key",
            "aws-secret-access-key",
            "AccessToken",
            "credentials",
            "private.key",
        ] {
            assert!(secret_problem(key, "x").is_some(), "{key}");
        }
        for value in [
            "AKIAIOSFODNN7EXAMPLE",
            "ghp_0123456789abcdefghijABCDEFGHIJ012345",
            "-----BEGIN OPENSSH PRIVATE KEY-----\nabc",
        ] {
            assert!(secret_problem("note", value).is_some(), "{value}");
        }
        for (key, value) in [
            ("owner", "ana"),
            ("key", "id"),
            ("keywords", "clicks, web"),
            ("license", "MIT"),
            (
                "description",
                "tokenized text, AKIA-like ids are fine when short: AKIA12",
            ),
        ] {
            assert!(secret_problem(key, value).is_none(), "{key}={value}");
        }
    }

    proptest! {
        #[test]
        fn round_trips(kind in 0u8..3, seed in any::<[u8; 32]>(), size in 0..i64::MAX as u64, files in 0..i64::MAX as u64, exec in any::<bool>()) {
            let kind = NodeKind::from_u8(kind).unwrap();
            let tree = kind == NodeKind::Tree;
            let p = Pointer { node: Node { kind, id: ObjectId(seed), size, files: if tree { files } else { 1 }, exec: exec && !tree }, table: None, meta: BTreeMap::new(), layout: Layout::Flat, source: None };
            prop_assert_eq!(Pointer::decode(p.encode().as_bytes(), "p").unwrap(), p);
        }

        #[test]
        fn meta_round_trips(
            entries in proptest::collection::btree_map("[A-Za-z0-9_.-]{1,20}", "[^\\p{Cc}]{0,40}|[ -~\t\n'\"\\\\]{0,40}", 0..8),
        ) {
            let p = Pointer {
                node: Node { kind: NodeKind::File, id: ObjectId([7; 32]), size: 5, files: 1, exec: false },
                table: None,
                meta: entries,
                layout: Layout::Flat,
                source: None,
            };
            let text = p.encode_checked("p").unwrap();
            prop_assert_eq!(Pointer::decode(text.as_bytes(), "p").unwrap(), p);
        }

        #[test]
        fn decode_never_panics(s in ".{0,200}") {
            let _ = Pointer::decode(s.as_bytes(), "p");
        }
    }
}
