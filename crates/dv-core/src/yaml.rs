//! YAML read into a `serde_json::Value`: DVC's files (`.dvc`, `dvc.yaml`, `dvc.lock`) and YAML parameter files.
//!
//! The text is untrusted (it comes from Git), so the value is built here from saphyr-parser's events rather
//! than by a loader that trusts its input: a nesting depth limit, a node budget that counts every node an
//! alias copies (so a "billion laughs" file is refused after a million nodes, not after all memory), duplicate
//! keys refused, and only scalar keys. Scalars resolve as YAML 1.2's core schema says (null, booleans,
//! integers, floats; quoted scalars are strings). Merge keys (`<<`) are plain keys.

use saphyr_parser::{Event, Parser, ScalarStyle};
use serde_json::{Map, Number, Value};

use crate::{Error, Result};

/// Deepest nesting accepted.
pub const MAX_DEPTH: usize = 64;
/// Most nodes accepted in a document, counting those aliases repeat.
pub const MAX_NODES: usize = 1_000_000;

/// Parses `text` (one YAML document; none is `null`) into a value; `what` names it in errors.
pub fn parse(text: &str, what: &str) -> Result<Value> {
    let mut b = Builder {
        stack: Vec::new(),
        anchors: Default::default(),
        nodes: 0,
        done: None,
    };
    let mut documents = 0;
    for ev in Parser::new_from_str(text) {
        let (ev, span) = ev.map_err(|e| {
            Error::format(
                what,
                format!(
                    "not valid YAML: {} (line {}, column {})",
                    e.info(),
                    e.marker().line(),
                    e.marker().col() + 1
                ),
            )
        })?;
        let at = |m: String| {
            Error::format(
                what,
                format!(
                    "{m} (line {}, column {})",
                    span.start.line(),
                    span.start.col() + 1
                ),
            )
        };
        match ev {
            Event::DocumentStart(_) => {
                documents += 1;
                if documents > 1 {
                    return Err(at("more than one YAML document".into()));
                }
            }
            Event::Scalar(text, style, anchor, tag) => {
                let plain =
                    style == ScalarStyle::Plain && tag.as_ref().is_none_or(|t| t.suffix != "str");
                let v = if plain {
                    resolve(&text)
                } else {
                    Value::String(text.into_owned())
                };
                b.value(v, anchor, 1).map_err(at)?;
            }
            Event::SequenceStart(anchor, _) => b.open(Open::Seq(Vec::new(), anchor)).map_err(at)?,
            Event::MappingStart(anchor, _) => {
                b.open(Open::Map(Map::new(), None, anchor)).map_err(at)?
            }
            Event::SequenceEnd | Event::MappingEnd => b.close().map_err(at)?,
            Event::Alias(id) => {
                let (v, n) = b
                    .anchors
                    .get(&id)
                    .cloned()
                    .ok_or_else(|| at("an alias to an unknown anchor".into()))?;
                b.value(v, 0, n).map_err(at)?;
            }
            Event::StreamStart | Event::StreamEnd | Event::DocumentEnd | Event::Nothing => {}
        }
    }
    Ok(b.done.unwrap_or(Value::Null))
}

enum Open {
    Seq(Vec<Value>, usize),
    /// The map so far, the key waiting for its value, the anchor.
    Map(Map<String, Value>, Option<String>, usize),
}

struct Builder {
    /// Open collections, each with the node count when it opened.
    stack: Vec<(Open, usize)>,
    /// Anchored values and their node counts.
    anchors: std::collections::HashMap<usize, (Value, usize)>,
    nodes: usize,
    done: Option<Value>,
}

impl Builder {
    fn count(&mut self, n: usize) -> std::result::Result<(), String> {
        self.nodes = self.nodes.saturating_add(n);
        if self.nodes > MAX_NODES {
            return Err(format!(
                "more than {MAX_NODES} YAML nodes (aliases counted at each use)"
            ));
        }
        Ok(())
    }

    fn open(&mut self, o: Open) -> std::result::Result<(), String> {
        self.count(1)?;
        if self.stack.len() >= MAX_DEPTH {
            return Err(format!("nested deeper than {MAX_DEPTH} levels"));
        }
        self.stack.push((o, self.nodes));
        Ok(())
    }

    fn close(&mut self) -> std::result::Result<(), String> {
        let (o, at) = self.stack.pop().ok_or("an unbalanced end")?;
        let n = self.nodes - at + 1;
        let (v, anchor) = match o {
            Open::Seq(items, a) => (Value::Array(items), a),
            Open::Map(m, None, a) => (Value::Object(m), a),
            Open::Map(_, Some(k), _) => return Err(format!("key '{k}' has no value")),
        };
        // Counted when it opened and for each of its members: only the anchor bookkeeping remains.
        self.place(v, anchor, n)
    }

    /// A scalar or an alias's copy of `n` nodes.
    fn value(&mut self, v: Value, anchor: usize, n: usize) -> std::result::Result<(), String> {
        self.count(n)?;
        self.place(v, anchor, n)
    }

    fn place(&mut self, v: Value, anchor: usize, n: usize) -> std::result::Result<(), String> {
        if anchor > 0 {
            self.anchors.insert(anchor, (v.clone(), n));
        }
        match self.stack.last_mut() {
            None => self.done = Some(v),
            Some((Open::Seq(items, _), _)) => items.push(v),
            Some((Open::Map(_, key @ None, _), _)) => {
                *key = Some(match v {
                    Value::String(s) => s,
                    Value::Number(n) => n.to_string(),
                    Value::Bool(b) => b.to_string(),
                    Value::Null => "null".into(),
                    _ => return Err("a mapping key that is not a scalar".into()),
                });
            }
            Some((Open::Map(m, key @ Some(_), _), _)) => {
                let k = key.take().expect("a key");
                if m.contains_key(&k) {
                    return Err(format!("key '{k}' appears twice"));
                }
                m.insert(k, v);
            }
        }
        Ok(())
    }
}

/// A plain scalar as YAML 1.2's core schema reads it.
fn resolve(s: &str) -> Value {
    match s {
        "" | "~" | "null" | "Null" | "NULL" => return Value::Null,
        "true" | "True" | "TRUE" => return Value::Bool(true),
        "false" | "False" | "FALSE" => return Value::Bool(false),
        ".inf" | ".Inf" | ".INF" | "+.inf" | "+.Inf" | "+.INF" | "-.inf" | "-.Inf" | "-.INF"
        | ".nan" | ".NaN" | ".NAN" => {
            // JSON has no infinities or NaN: kept as the text they were written as.
            return Value::String(s.to_string());
        }
        _ => {}
    }
    let int = |digits: &str, radix: u32, neg: bool| -> Option<Value> {
        if digits.is_empty() || !digits.chars().all(|c| c.is_digit(radix)) {
            return None;
        }
        if neg {
            i64::from_str_radix(&format!("-{digits}"), radix)
                .ok()
                .map(Value::from)
        } else {
            u64::from_str_radix(digits, radix).ok().map(Value::from)
        }
    };
    let (neg, body) = match s.as_bytes()[0] {
        b'-' => (true, &s[1..]),
        b'+' => (false, &s[1..]),
        _ => (false, s),
    };
    let parsed = if let Some(h) = s.strip_prefix("0x") {
        int(h, 16, false)
    } else if let Some(o) = s.strip_prefix("0o") {
        int(o, 8, false)
    } else {
        int(body, 10, neg)
    };
    if let Some(v) = parsed {
        return v;
    }
    // A float: digits, at most one '.', an optional exponent, at least one digit before the exponent.
    let looks_float = {
        let (mantissa, exp) = match body.find(['e', 'E']) {
            Some(i) => (&body[..i], Some(&body[i + 1..])),
            None => (body, None),
        };
        let digits = mantissa.chars().filter(char::is_ascii_digit).count();
        let dots = mantissa.chars().filter(|&c| c == '.').count();
        digits > 0
            && dots <= 1
            && mantissa.chars().all(|c| c.is_ascii_digit() || c == '.')
            && exp.is_none_or(|e| {
                let e = e.strip_prefix(['+', '-']).unwrap_or(e);
                !e.is_empty() && e.chars().all(|c| c.is_ascii_digit())
            })
    };
    if looks_float
        && let Ok(f) = s.parse::<f64>()
        && let Some(n) = Number::from_f64(f)
    {
        return Value::Number(n);
    }
    Value::String(s.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn reads_a_dvc_file() {
        let v = parse(
            "outs:\n- md5: bbd304055be67c211495c95f4e697eb2\n  size: 24\n  hash: md5\n  path: raw.csv\n",
            "x.dvc",
        )
        .unwrap();
        assert_eq!(
            v,
            json!({"outs": [{"md5": "bbd304055be67c211495c95f4e697eb2", "size": 24, "hash": "md5", "path": "raw.csv"}]})
        );
    }

    #[test]
    fn scalars_resolve_as_the_core_schema_says() {
        let v = parse(
            "a: 1\nb: -2\nc: 0.5\nd: 1e3\ne: true\nf: ~\ng: '3'\nh: 0x1f\ni: 1.2.3\nj: .inf\nk: !!str 4\nl: |\n  x\n",
            "p",
        )
        .unwrap();
        assert_eq!(
            v,
            json!({"a": 1, "b": -2, "c": 0.5, "d": 1000.0, "e": true, "f": null, "g": "3", "h": 31,
                   "i": "1.2.3", "j": ".inf", "k": "4", "l": "x\n"})
        );
    }

    #[test]
    fn refuses_what_it_cannot_hold() {
        for (text, why) in [
            ("a: 1\na: 2\n", "appears twice"),
            ("? [1]\n: 2\n", "not a scalar"),
            ("a: [1\n", "not valid YAML"),
            ("a: *x\n", "unknown anchor"),
            ("--- 1\n--- 2\n", "more than one"),
        ] {
            let e = parse(text, "f.yaml").unwrap_err().to_string();
            assert!(
                e.contains(why) && e.starts_with("f.yaml: "),
                "{text:?}: {e}"
            );
        }
        let deep = "[".repeat(100) + &"]".repeat(100);
        assert!(
            parse(&deep, "d")
                .unwrap_err()
                .to_string()
                .contains("nested deeper")
        );
    }

    #[test]
    fn aliases_are_counted_at_each_use() {
        // Each level doubles the previous: 2^30 nodes if expanded; refused at the budget.
        let mut text = String::from("a0: &a0 [x, x]\n");
        for i in 1..30 {
            text.push_str(&format!("a{i}: &a{i} [*a{}, *a{}]\n", i - 1, i - 1));
        }
        let e = parse(&text, "laughs").unwrap_err().to_string();
        assert!(e.contains("YAML nodes"), "{e}");
        assert_eq!(
            parse("a: &x {k: 1}\nb: *x\n", "p").unwrap(),
            json!({"a": {"k": 1}, "b": {"k": 1}})
        );
    }

    #[test]
    fn empty_is_null() {
        assert_eq!(parse("", "e").unwrap(), Value::Null);
    }
}
