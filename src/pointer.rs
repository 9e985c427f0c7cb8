//! Pointer files (`PATH.dv`): the small, human-readable TOML that Git versions in place of the data.
//!
//! A pointer describes the path it sits beside, minus the `.dv` suffix; it holds no path, time or machine detail,
//! so it is the same on every machine and a rename is a plain `git mv`. See docs/format.md, "Pointer files".

use crate::store::object::{Node, NodeKind};
use crate::{Error, ObjectId, Result};

pub const POINTER_VERSION: u64 = 1;
/// Pointer files are tiny; anything larger is not one.
pub const MAX_POINTER_SIZE: usize = 64 * 1024;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pointer {
    pub node: Node,
    /// For a file tracked as a table: its table header object, key and row count.
    pub table: Option<TableRef>,
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
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTable {
    id: String,
    key: Vec<String>,
    rows: u64,
}

impl Pointer {
    pub fn encode(&self) -> String {
        let n = &self.node;
        let mut s = String::from(
            "# Data versioned by dv: `dv checkout` restores it, `dv status` compares it.\n",
        );
        s.push_str(&format!("dv = {POINTER_VERSION}\n"));
        s.push_str(&format!("kind = \"{}\"\n", n.kind.name()));
        s.push_str(&format!("id = \"{}\"\n", n.id));
        s.push_str(&format!("size = {}\n", n.size));
        if n.kind == NodeKind::Tree {
            s.push_str(&format!("files = {}\n", n.files));
        } else if n.exec {
            s.push_str("executable = true\n");
        }
        if let Some(t) = &self.table {
            let key: Vec<String> = t
                .key
                .iter()
                .map(|k| toml::Value::String(k.clone()).to_string())
                .collect();
            s.push_str(&format!(
                "\n[table]\nid = \"{}\"\nkey = [{}]\nrows = {}\n",
                t.id,
                key.join(", "),
                t.rows
            ));
        }
        s
    }

    /// Parses a pointer file; `what` names it in errors.
    pub fn decode(data: &[u8], what: &str) -> Result<Pointer> {
        if data.len() > MAX_POINTER_SIZE {
            return Err(Error::format(
                what,
                format!("{} bytes is too large for a pointer file", data.len()),
            ));
        }
        let text = std::str::from_utf8(data).map_err(|_| Error::format(what, "not UTF-8 text"))?;
        let raw: Raw =
            toml::from_str(text).map_err(|e| Error::format(what, e.message().to_string()))?;
        if raw.dv == 0 {
            return Err(Error::format(what, "format version 0 is invalid"));
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
        Ok(Pointer {
            node: Node {
                kind,
                id,
                size: raw.size,
                files,
                exec,
            },
            table,
        })
    }
}

#[cfg(test)]
mod tests {
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

    #[test]
    fn rejects_bad_pointers() {
        let ok =
            "dv = 1\nkind = \"file\"\nid = \"".to_string() + &"0".repeat(64) + "\"\nsize = 1\n";
        assert!(Pointer::decode(ok.as_bytes(), "x").is_ok());
        for (bad, why) in [
            (ok.replace("dv = 1", "dv = 2"), "newer than"),
            (ok.replace("file", "banana"), "unknown kind"),
            (ok.replace(&"0".repeat(64), "../../etc/passwd"), "not 64"),
            (ok.clone() + "path = \"../x\"\n", "unknown field"),
            (ok.replace("size = 1", "size = -1"), "invalid value"),
            ("\u{0}\u{0}".to_string(), ""),
        ] {
            let err = Pointer::decode(bad.as_bytes(), "x")
                .unwrap_err()
                .to_string();
            assert!(err.contains(why), "{bad:?}: {err}");
        }
    }

    proptest! {
        #[test]
        fn round_trips(kind in 0u8..3, seed in any::<[u8; 32]>(), size in 0..i64::MAX as u64, files in 0..i64::MAX as u64, exec in any::<bool>()) {
            let kind = NodeKind::from_u8(kind).unwrap();
            let tree = kind == NodeKind::Tree;
            let p = Pointer { node: Node { kind, id: ObjectId(seed), size, files: if tree { files } else { 1 }, exec: exec && !tree }, table: None };
            prop_assert_eq!(Pointer::decode(p.encode().as_bytes(), "p").unwrap(), p);
        }

        #[test]
        fn decode_never_panics(s in ".{0,200}") {
            let _ = Pointer::decode(s.as_bytes(), "p");
        }
    }
}
