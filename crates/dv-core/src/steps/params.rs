//! Parameter values: the dotted keys of the TOML, YAML or JSON files that a step reads (by the file's
//! extension: `.yaml`/`.yml` YAML, `.json` JSON, anything else TOML). A YAML or JSON value is held as the TOML
//! value it maps to; a null is "not set", as TOML has none.

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
                    Some(parse_params(&p.file, text)?)
                }
            };
            docs.insert(&p.file, doc);
        }
        let doc = docs[p.file.as_str()].as_ref();
        out.push(doc.and_then(|d| lookup_param(d, &p.key)).cloned());
    }
    Ok(out)
}

/// A parameter file's document, as its extension says which format it is in.
enum Document {
    /// YAML or JSON (nulls kept).
    Json(serde_json::Value),
    Toml(toml::Table),
}

fn parse_document(file: &str, text: &str) -> Result<Document> {
    let lower = file.to_ascii_lowercase();
    Ok(if lower.ends_with(".yaml") || lower.ends_with(".yml") {
        Document::Json(crate::yaml::parse(text, file)?)
    } else if lower.ends_with(".json") {
        Document::Json(
            serde_json::from_str(text)
                .map_err(|e| Error::format(file, format!("not valid JSON: {e}")))?,
        )
    } else {
        Document::Toml(
            toml::from_str::<toml::Table>(text)
                .map_err(|e| crate::toml_text::error(file, text, &e))?,
        )
    })
}

/// Parameter file `file` (its text) as JSON, with the nulls TOML cannot hold (as DVC reads it, to compare with
/// what `dvc.lock` recorded).
pub fn params_as_json(file: &str, text: &str) -> Result<serde_json::Value> {
    match parse_document(file, text)? {
        Document::Json(json) => Ok(json),
        Document::Toml(table) => serde_json::to_value(table)
            .map_err(|e| Error::format(file, format!("not representable as JSON: {e}"))),
    }
}

/// Parses parameter file `file` (its text) as its extension says.
pub fn parse_params(file: &str, text: &str) -> Result<toml::Table> {
    let json = match parse_document(file, text)? {
        Document::Json(json) => json,
        Document::Toml(table) => return Ok(table),
    };
    match json_to_toml(json) {
        Some(toml::Value::Table(t)) => Ok(t),
        None => Ok(toml::Table::new()),
        Some(_) => Err(Error::format(
            file,
            "a parameter file holds a mapping of keys",
        )),
    }
}

/// A JSON (or YAML) value as TOML holds it: `None` for null (TOML has none); nulls inside lists and
/// mappings are left out.
pub fn json_to_toml(v: serde_json::Value) -> Option<toml::Value> {
    use serde_json::Value as J;
    Some(match v {
        J::Null => return None,
        J::Bool(b) => toml::Value::Boolean(b),
        J::Number(n) => match n.as_i64() {
            Some(i) => toml::Value::Integer(i),
            None => match n.as_f64() {
                Some(f) if n.is_f64() => toml::Value::Float(f),
                // An integer past i64: kept exact, as text.
                _ => toml::Value::String(n.to_string()),
            },
        },
        J::String(s) => toml::Value::String(s),
        J::Array(a) => toml::Value::Array(a.into_iter().filter_map(json_to_toml).collect()),
        J::Object(m) => toml::Value::Table(
            m.into_iter()
                .filter_map(|(k, v)| Some((k, json_to_toml(v)?)))
                .collect(),
        ),
    })
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

    #[test]
    fn yaml_and_json_parameter_files() {
        let params: Vec<Param> = ["p.yaml", "p.json", "p.yml"]
            .iter()
            .map(|f| Param {
                file: f.to_string(),
                key: "train.lr".into(),
                value: None,
            })
            .collect();
        let vals = param_values(&params, |f| {
            Ok(Some(match f {
                "p.yaml" => b"train:\n  lr: 0.5\n".to_vec(),
                "p.json" => br#"{"train": {"lr": 2}}"#.to_vec(),
                _ => b"train: {lr: ~}\n".to_vec(),
            }))
        })
        .unwrap();
        assert_eq!(
            vals,
            vec![
                Some(toml::Value::Float(0.5)),
                Some(toml::Value::Integer(2)),
                None
            ]
        );
        assert!(parse_params("p.yaml", "- a\n").is_err());
        assert!(parse_params("p.json", "{").is_err());
    }
}
