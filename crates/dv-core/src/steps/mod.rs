//! Step files (`.dv/steps/NAME.toml`, committed): how an output was made. `dv run` writes one per step; `dv
//! status`, `dv repro` and `dv lineage` read them. The steps form a graph through their paths: a step that reads
//! a path another step writes depends on it. See docs/format.md, "Step files".

use crate::paths::is_within;
use crate::store::object::{Node, NodeKind};
use crate::store::split::Layout;
use crate::toml_text;
use crate::{Error, ObjectId, Result};

mod graph;
mod params;

pub use graph::Steps;
pub use params::{json_to_toml, lookup_param, param_values, params_as_json, parse_params};

/// The newest step file version: 1 records ids in the flat layout (repository format 1), 2 in the split one.
pub const STEP_VERSION: u64 = 2;
/// Where step files live, from the work tree root.
pub const STEPS_DIR: &str = ".dv/steps";
/// Step files are small; anything larger is not one.
pub const MAX_STEP_SIZE: usize = 1024 * 1024;
const MAX_ENTRIES: usize = 10_000;

/// One recorded step. The definition (command, workdir, paths, parameter keys) says what to run; the ids,
/// values and `run` record say what the last run used and made.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct Step {
    pub name: String,
    /// The program and its arguments (run directly, not through a shell).
    pub command: Vec<String>,
    /// Repository path of the folder the command runs in ("" for the root).
    pub workdir: String,
    pub deps: Vec<PathRecord>,
    pub params: Vec<Param>,
    pub outs: Vec<PathRecord>,
    /// Absent until the step has run.
    pub run: Option<RunRecord>,
    /// The layout of the ids it records (the `dv` line: 1 flat, 2 split).
    #[serde(skip)]
    pub layout: Layout,
}

/// An input or output path and the version of it the last run used or made.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct PathRecord {
    pub path: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub node: Option<NodeRecord>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub struct NodeRecord {
    pub kind: NodeKind,
    pub id: ObjectId,
    pub size: u64,
}

impl NodeRecord {
    pub fn of(node: &Node) -> NodeRecord {
        NodeRecord {
            kind: node.kind,
            id: node.id,
            size: node.size,
        }
    }
}

/// A parameter: a key path in a TOML, YAML or JSON file, and its value when the step last ran.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct Param {
    /// Repository path of the parameter file (TOML, YAML or JSON, by its extension).
    pub file: String,
    /// Dotted key path (`train.lr`).
    pub key: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value: Option<toml::Value>,
}

impl Param {
    pub fn label(&self) -> String {
        format!("{}:{}", self.file, self.key)
    }
}

#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct RunRecord {
    /// The command as it ran.
    pub command: Vec<String>,
    /// The Git commit checked out when it ran (absent before the first commit).
    pub git_commit: Option<String>,
    pub dv_version: String,
    pub platform: String,
    pub exit_status: i32,
    pub duration_ms: u64,
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct Raw {
    dv: u64,
    command: Vec<String>,
    #[serde(default)]
    workdir: Option<String>,
    #[serde(default)]
    deps: Vec<RawPath>,
    #[serde(default)]
    params: Vec<RawParam>,
    #[serde(default)]
    outs: Vec<RawPath>,
    run: Option<RawRun>,
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPath {
    path: String,
    kind: Option<String>,
    id: Option<String>,
    size: Option<u64>,
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct RawParam {
    file: String,
    key: String,
    value: Option<toml::Value>,
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRun {
    command: Vec<String>,
    git_commit: Option<String>,
    dv_version: String,
    platform: String,
    exit_status: i32,
    duration_ms: u64,
}

/// Checks a step name: it names a file, so letters, digits, `_`, `-` and `.`, not starting with `.`.
pub fn check_step_name(name: &str) -> std::result::Result<(), &'static str> {
    if name.is_empty() || name.len() > 100 {
        return Err("a step name has 1 to 100 characters");
    }
    if name.starts_with('.') {
        return Err("a step name cannot start with '.'");
    }
    if !name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
    {
        return Err("a step name has only letters, digits, '_', '-' and '.'");
    }
    Ok(())
}

/// Checks a repository path read from a step file: relative, '/'-separated, each part a safe name, and not
/// inside `.git` or `.dv`. "" (the root) only where `allow_root`.
pub fn check_step_path(path: &str, allow_root: bool) -> std::result::Result<(), String> {
    if path.is_empty() && allow_root {
        return Ok(());
    }
    match crate::paths::repo_path_problem(path) {
        None => Ok(()),
        Some(why) => Err(format!("path '{path}': {why}")),
    }
}

impl Step {
    /// The step file's repository path.
    pub fn file_path(name: &str) -> String {
        format!("{STEPS_DIR}/{name}.toml")
    }

    pub fn encode(&self) -> String {
        let mut s = String::from(
            "# A step recorded by `dv run`: `dv repro` runs it again when an input, a parameter or the command\n\
             # changes. The ids are those of the data it read and wrote.\n",
        );
        let version = match self.layout {
            Layout::Flat => 1,
            Layout::Split => 2,
        };
        s.push_str(&format!("dv = {version}\n"));
        s.push_str(&format!(
            "command = {}\n",
            toml_text::string_list(&self.command)
        ));
        s.push_str(&format!(
            "workdir = {}\n",
            toml_text::string(if self.workdir.is_empty() {
                "."
            } else {
                &self.workdir
            })
        ));
        let paths = |s: &mut String, table: &str, list: &[PathRecord]| {
            for p in list {
                s.push_str(&toml_text::array_table(table));
                s.push_str(&format!("path = {}\n", toml_text::string(&p.path)));
                if let Some(n) = &p.node {
                    s.push_str(&format!(
                        "kind = {}\nid = {}\nsize = {}\n",
                        toml_text::string(n.kind.name()),
                        toml_text::string(&n.id.to_string()),
                        n.size
                    ));
                }
            }
        };
        paths(&mut s, "deps", &self.deps);
        for p in &self.params {
            s.push_str(&toml_text::array_table("params"));
            s.push_str(&format!(
                "file = {}\nkey = {}\n",
                toml_text::string(&p.file),
                toml_text::string(&p.key)
            ));
            if let Some(v) = &p.value {
                s.push_str(&format!("value = {}\n", toml_text::inline(v)));
            }
        }
        paths(&mut s, "outs", &self.outs);
        if let Some(r) = &self.run {
            s.push_str(&toml_text::table("run"));
            s.push_str(&format!(
                "command = {}\n",
                toml_text::string_list(&r.command)
            ));
            if let Some(c) = &r.git_commit {
                s.push_str(&format!("git_commit = {}\n", toml_text::string(c)));
            }
            s.push_str(&format!(
                "dv_version = {}\nplatform = {}\nexit_status = {}\nduration_ms = {}\n",
                toml_text::string(&r.dv_version),
                toml_text::string(&r.platform),
                r.exit_status,
                r.duration_ms
            ));
        }
        s
    }

    /// Parses a step file; `name` is its file name without `.toml`, `what` names it in errors.
    pub fn decode(name: &str, data: &[u8], what: &str) -> Result<Step> {
        check_step_name(name).map_err(|e| Error::format(what, e))?;
        if data.len() > MAX_STEP_SIZE {
            return Err(Error::format(
                what,
                format!("{} bytes is too large for a step file", data.len()),
            ));
        }
        let text = std::str::from_utf8(data).map_err(|_| Error::format(what, "not UTF-8 text"))?;
        let raw: Raw = toml::from_str(text).map_err(|e| toml_text::error(what, text, &e))?;
        if raw.dv == 0 {
            return Err(Error::format(what, "format version 0 is invalid"));
        }
        if raw.dv > STEP_VERSION {
            return Err(Error::NewerFormat {
                what: what.to_string(),
                found: raw.dv,
                supported: STEP_VERSION,
            });
        }
        if raw.command.is_empty() || raw.command[0].is_empty() {
            return Err(Error::format(what, "the command is empty"));
        }
        if raw.deps.len() + raw.params.len() + raw.outs.len() > MAX_ENTRIES {
            return Err(Error::format(what, "too many entries"));
        }
        let workdir = match raw.workdir.as_deref() {
            None | Some(".") => String::new(),
            Some(w) => w.to_string(),
        };
        check_step_path(&workdir, true).map_err(|e| Error::format(what, e))?;
        let paths = |list: Vec<RawPath>, table: &str| -> Result<Vec<PathRecord>> {
            let mut out = Vec::with_capacity(list.len());
            for p in list {
                check_step_path(&p.path, false)
                    .map_err(|e| Error::format(what, format!("{table}: {e}")))?;
                let node = match (p.kind, p.id, p.size) {
                    (None, None, None) => None,
                    (Some(kind), Some(id), Some(size)) => {
                        let kind = NodeKind::from_name(&kind).ok_or_else(|| {
                            Error::format(
                                what,
                                format!("{table} '{}': unknown kind {kind:?}", p.path),
                            )
                        })?;
                        let id = ObjectId::from_hex(&id).ok_or_else(|| {
                            Error::format(
                                what,
                                format!(
                                    "{table} '{}': id {id:?} is not 64 lower-case hex digits",
                                    p.path
                                ),
                            )
                        })?;
                        if size > i64::MAX as u64 {
                            return Err(Error::format(
                                what,
                                format!("{table} '{}': size out of range", p.path),
                            ));
                        }
                        Some(NodeRecord { kind, id, size })
                    }
                    _ => {
                        return Err(Error::format(
                            what,
                            format!("{table} '{}': kind, id and size go together", p.path),
                        ));
                    }
                };
                out.push(PathRecord { path: p.path, node });
            }
            Ok(out)
        };
        let deps = paths(raw.deps, "deps")?;
        let outs = paths(raw.outs, "outs")?;
        if outs.is_empty() {
            return Err(Error::format(what, "a step needs at least one output"));
        }
        let mut params = Vec::with_capacity(raw.params.len());
        for p in raw.params {
            check_step_path(&p.file, false)
                .map_err(|e| Error::format(what, format!("params: {e}")))?;
            check_param_key(&p.key).map_err(|e| Error::format(what, format!("params: {e}")))?;
            params.push(Param {
                file: p.file,
                key: p.key,
                value: p.value,
            });
        }
        let step = Step {
            name: name.to_string(),
            command: raw.command,
            workdir,
            deps,
            params,
            outs,
            run: raw.run.map(|r| RunRecord {
                command: r.command,
                git_commit: r.git_commit,
                dv_version: r.dv_version,
                platform: r.platform,
                exit_status: r.exit_status,
                duration_ms: r.duration_ms,
            }),
            layout: Layout::of_version(raw.dv),
        };
        step.check_paths().map_err(|e| Error::format(what, e))?;
        Ok(step)
    }

    /// An output may not also be an input, and no two outputs may overlap.
    pub fn check_paths(&self) -> std::result::Result<(), String> {
        for (i, o) in self.outs.iter().enumerate() {
            for d in &self.deps {
                if overlaps(&o.path, &d.path) {
                    return Err(format!(
                        "output '{}' overlaps input '{}': a step cannot read what it writes",
                        o.path, d.path
                    ));
                }
            }
            for p in &self.params {
                if overlaps(&o.path, &p.file) {
                    return Err(format!(
                        "output '{}' overlaps parameter file '{}'",
                        o.path, p.file
                    ));
                }
            }
            for o2 in &self.outs[i + 1..] {
                if overlaps(&o.path, &o2.path) {
                    return Err(format!("outputs '{}' and '{}' overlap", o.path, o2.path));
                }
            }
        }
        Ok(())
    }

    /// True when this step writes `path` or something inside it or around it.
    pub fn writes(&self, path: &str) -> bool {
        self.outs.iter().any(|o| overlaps(&o.path, path))
    }

    /// True when this step reads `path` (an input or parameter file) or something inside or around it.
    pub fn reads(&self, path: &str) -> bool {
        self.deps.iter().any(|d| overlaps(&d.path, path))
            || self.params.iter().any(|p| overlaps(&p.file, path))
    }
}

/// A dotted key path: non-empty parts of letters, digits, `_` and `-`.
pub fn check_param_key(key: &str) -> std::result::Result<(), String> {
    if key.is_empty()
        || key.split('.').any(|p| {
            p.is_empty()
                || !p
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        })
    {
        return Err(format!(
            "parameter key '{key}' is not a dotted path of names (letters, digits, '_', '-')"
        ));
    }
    Ok(())
}

/// `a` is `b`, or one is inside the other.
pub fn overlaps(a: &str, b: &str) -> bool {
    is_within(a, b) || is_within(b, a)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(b: u8) -> ObjectId {
        ObjectId::of(&[b])
    }

    #[test]
    fn golden_step_file() {
        let s = Step {
            name: "train".into(),
            command: vec!["python3".into(), "train.py".into(), "--lr=0.1".into()],
            workdir: "src".into(),
            deps: vec![PathRecord {
                path: "data/prepared".into(),
                node: Some(NodeRecord {
                    kind: NodeKind::Tree,
                    id: id(1),
                    size: 10,
                }),
            }],
            params: vec![Param {
                file: "params.toml".into(),
                key: "train".into(),
                value: Some(toml::Value::Table(toml::toml! { lr = 0.1
                "batch size" = [1, 2] })),
            }],
            outs: vec![PathRecord {
                path: "model.bin".into(),
                node: Some(NodeRecord {
                    kind: NodeKind::File,
                    id: id(2),
                    size: 5,
                }),
            }],
            run: Some(RunRecord {
                command: vec!["python3".into(), "train.py".into(), "--lr=0.1".into()],
                git_commit: Some("0123456789abcdef0123456789abcdef01234567".into()),
                dv_version: "0.1.0".into(),
                platform: "linux-x86_64".into(),
                exit_status: 0,
                duration_ms: 1500,
            }),
            layout: Layout::Flat,
        };
        let text = s.encode();
        let expected = format!(
            "# A step recorded by `dv run`: `dv repro` runs it again when an input, a parameter or the command\n\
             # changes. The ids are those of the data it read and wrote.\n\
             dv = 1\n\
             command = [\"python3\", \"train.py\", \"--lr=0.1\"]\n\
             workdir = \"src\"\n\
             \n[[deps]]\npath = \"data/prepared\"\nkind = \"tree\"\nid = \"{}\"\nsize = 10\n\
             \n[[params]]\nfile = \"params.toml\"\nkey = \"train\"\nvalue = {{ \"batch size\" = [1, 2], lr = 0.1 }}\n\
             \n[[outs]]\npath = \"model.bin\"\nkind = \"file\"\nid = \"{}\"\nsize = 5\n\
             \n[run]\ncommand = [\"python3\", \"train.py\", \"--lr=0.1\"]\n\
             git_commit = \"0123456789abcdef0123456789abcdef01234567\"\n\
             dv_version = \"0.1.0\"\nplatform = \"linux-x86_64\"\nexit_status = 0\nduration_ms = 1500\n",
            id(1),
            id(2)
        );
        assert_eq!(text, expected);
        assert_eq!(Step::decode("train", text.as_bytes(), "t").unwrap(), s);
    }

    #[test]
    fn hostile_step_files_are_refused() {
        let base = "dv = 1\ncommand = [\"true\"]\n";
        let cases: &[(&str, &str)] = &[
            (
                "dv = 3\ncommand = [\"true\"]\n[[outs]]\npath = \"o\"\n",
                "newer",
            ),
            (
                "dv = 1\ncommand = []\n[[outs]]\npath = \"o\"\n",
                "the command is empty",
            ),
            ("dv = 1\ncommand = [\"x\"]\n", "at least one output"),
            ("[[outs]]\npath = \"../o\"\n", "'..'"),
            ("[[outs]]\npath = \"/etc/o\"\n", "empty name"),
            ("[[outs]]\npath = \".git/hooks/x\"\n", "Git's own folder"),
            ("[[outs]]\npath = \".dv/state.db\"\n", "inside .git or .dv"),
            (
                "[[outs]]\npath = \"o\"\n[[deps]]\npath = \"o/x\"\n",
                "overlaps input",
            ),
            ("[[outs]]\npath = \"o\"\nkind = \"file\"\n", "go together"),
            ("[[outs]]\npath = \"o\"\nsurprise = 1\n", "unknown field"),
            ("workdir = \"..\"\n[[outs]]\npath = \"o\"\n", "'..'"),
            (
                "[[outs]]\npath = \"o\"\n[[params]]\nfile = \"p.toml\"\nkey = \"a..b\"\n",
                "dotted path",
            ),
        ];
        for (body, want) in cases {
            let text = if body.starts_with("dv =") {
                body.to_string()
            } else {
                format!("{base}{body}")
            };
            let err = Step::decode("s", text.as_bytes(), "s.toml")
                .unwrap_err()
                .to_string();
            assert!(err.contains(want), "{body:?}: {err}");
        }
        assert!(Step::decode("../x", b"", "x").is_err());
        assert!(Step::decode("s", &[0xff], "x").is_err());
    }
}
