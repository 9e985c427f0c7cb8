//! Parameter values: the dotted keys of TOML files that a step reads.

use std::collections::BTreeMap;

use super::Param;
use crate::{Error, Result};

/// Reads a dotted key from a parsed TOML document.
pub fn lookup_param<'a>(doc: &'a toml::Table, key: &str) -> Option<&'a toml::Value> {
    let mut parts = key.split('.');
    let mut cur = doc.get(parts.next()?)?;
    for p in parts {
        cur = cur.as_table()?.get(p)?;
    }
    Some(cur)
}

/// The parameter files of `params`, parsed once each; `read` returns a file's bytes (None if missing).
pub fn param_values(
    params: &[Param],
    mut read: impl FnMut(&str) -> Result<Option<Vec<u8>>>,
) -> Result<Vec<Option<toml::Value>>> {
    let mut docs: BTreeMap<&str, Option<toml::Table>> = BTreeMap::new();
    let mut out = Vec::with_capacity(params.len());
    for p in params {
        if !docs.contains_key(p.file.as_str()) {
            let doc = match read(&p.file)? {
                None => None,
                Some(bytes) => {
                    let text = std::str::from_utf8(&bytes)
                        .map_err(|_| Error::format(&p.file, "not UTF-8 text"))?;
                    Some(
                        toml::from_str::<toml::Table>(text)
                            .map_err(|e| crate::toml_text::error(&p.file, text, &e))?,
                    )
                }
            };
            docs.insert(&p.file, doc);
        }
        let doc = docs[p.file.as_str()].as_ref();
        out.push(doc.and_then(|d| lookup_param(d, &p.key)).cloned());
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn param_lookup() {
        let params = vec![
            Param {
                file: "p.toml".into(),
                key: "train.lr".into(),
                value: None,
            },
            Param {
                file: "p.toml".into(),
                key: "train.missing".into(),
                value: None,
            },
        ];
        let vals = param_values(&params, |_| Ok(Some(b"[train]\nlr = 0.5\n".to_vec()))).unwrap();
        assert_eq!(vals, vec![Some(toml::Value::Float(0.5)), None]);
    }
}
