//! DVC's files, parsed: `.dvc` files, `.dir` manifests, `dvc.yaml`, `dvc.lock` and `.dvc/config`.
//!
//! All of it is untrusted (it comes from Git or a cache anyone could have written): every path is resolved
//! against the file's folder and must stay a normal repository path (`paths::dataset_path_problem`), every id
//! must be 32 hex digits, sizes are bounded, and an error names the file and the field. Nothing here touches
//! the disk.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::{Error, Result};

/// DVC files are small; anything larger is not one.
pub const MAX_DVC_FILE: usize = 4 * 1024 * 1024;
/// A `.dir` manifest lists one entry per file: 64 MiB holds about a million.
pub const MAX_DIR_MANIFEST: usize = 64 * 1024 * 1024;

/// An object id in DVC's cache: an MD5, and whether it names a folder's `.dir` manifest.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Md5 {
    /// 32 lower-case hex digits.
    pub hex: String,
    pub dir: bool,
}

impl Md5 {
    /// Reads DVC's text for an id (`abc…` or `abc….dir`).
    pub fn parse(s: &str) -> std::result::Result<Md5, String> {
        let (hex, dir) = match s.strip_suffix(".dir") {
            Some(h) => (h, true),
            None => (s, false),
        };
        if hex.len() != 32 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(format!(
                "{s:?} is not an MD5 (32 hex digits, optionally .dir)"
            ));
        }
        Ok(Md5 {
            hex: hex.to_ascii_lowercase(),
            dir,
        })
    }

    /// The object's path under a cache or remote folder: `ab/cdef…[.dir]`.
    pub fn rel_path(&self) -> String {
        format!(
            "{}/{}{}",
            &self.hex[..2],
            &self.hex[2..],
            if self.dir { ".dir" } else { "" }
        )
    }
}

impl std::fmt::Display for Md5 {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}{}", self.hex, if self.dir { ".dir" } else { "" })
    }
}

/// One output DVC recorded (in a `.dvc` file or `dvc.lock`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Out {
    /// Repository path.
    pub path: String,
    /// Absent for an output DVC recorded without a hash (never computed, or a cloud etag only).
    pub md5: Option<Md5>,
    pub size: Option<u64>,
    /// False for `cache: false` outputs (Git keeps them).
    pub cache: bool,
}

/// A `.dvc` file: its outputs, and for an import stage (`dvc import`), where it came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DvcFile {
    pub outs: Vec<Out>,
    /// `dvc import`/`import-url` records a dependency: the source it names (URL or path, as written).
    pub import: Option<String>,
    /// A single-stage file of DVC 1 (`dvc run -f NAME.dvc`): a command with its deps and outs.
    pub stage: bool,
}

/// A path as DVC wrote it (relative to `base`, the repository folder holding the file that names it), as a
/// repository path: no absolute path, nothing above the work tree, nothing inside `.git`, `.dv` or `.dvc`.
pub fn resolve_path(base: &str, path: &str) -> std::result::Result<String, String> {
    let joined = join_relative(base, path)?;
    check_resolved(path, &joined)?;
    Ok(joined)
}

/// `path` (as DVC wrote it) joined to folder `base`, `.` and `..` resolved; "" for the work tree's root.
/// Absolute paths, backslashes and `..` past the root are refused.
fn join_relative(base: &str, path: &str) -> std::result::Result<String, String> {
    if path.is_empty() {
        return Err("the path is empty".into());
    }
    if path.starts_with('/') || path.starts_with('\\') || path.as_bytes().get(1) == Some(&b':') {
        return Err(format!(
            "path {path:?} is absolute (an external output): only paths inside the repository migrate"
        ));
    }
    if path.contains('\\') {
        return Err(format!("path {path:?} holds a backslash"));
    }
    let mut parts: Vec<&str> = base.split('/').filter(|p| !p.is_empty()).collect();
    for p in path.split('/') {
        match p {
            "" | "." => {}
            ".." => {
                if parts.pop().is_none() {
                    return Err(format!("path {path:?} leads outside the repository"));
                }
            }
            p => parts.push(p),
        }
    }
    Ok(parts.join("/"))
}

/// Refuses `joined` (the resolved `path`) where no dataset may be (the root included), or inside `.dvc`.
fn check_resolved(path: &str, joined: &str) -> std::result::Result<(), String> {
    if let Some(why) = crate::paths::dataset_path_problem(joined) {
        return Err(format!("path {path:?}: {why}"));
    }
    if joined.split('/').next() == Some(".dvc") {
        return Err(format!("path {path:?} is inside .dvc"));
    }
    Ok(())
}

/// Parses YAML text, bounded in size.
fn yaml(data: &[u8], what: &str) -> Result<Value> {
    if data.len() > MAX_DVC_FILE {
        return Err(Error::format(
            what,
            format!("{} bytes is too large for a DVC file", data.len()),
        ));
    }
    let text = std::str::from_utf8(data).map_err(|_| Error::format(what, "not UTF-8 text"))?;
    crate::yaml::parse(text, what)
}

fn field<'a>(v: &'a Value, key: &str) -> Option<&'a Value> {
    v.as_object()
        .and_then(|m| m.get(key))
        .filter(|v| !v.is_null())
}

fn as_str<'a>(v: &'a Value, what: &str, key: &str) -> Result<&'a str> {
    v.as_str()
        .ok_or_else(|| Error::format(what, format!("{key}: expected text, found {}", kind(v))))
}

fn as_list<'a>(v: Option<&'a Value>, what: &str, key: &str) -> Result<&'a [Value]> {
    match v {
        None => Ok(&[]),
        Some(Value::Array(a)) => Ok(a),
        Some(v) => Err(Error::format(
            what,
            format!("{key}: expected a list, found {}", kind(v)),
        )),
    }
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "nothing",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "text",
        Value::Array(_) => "a list",
        Value::Object(_) => "a mapping",
    }
}

/// One output entry (`{path, md5|hash, size, nfiles, cache}`) of a file in folder `base`.
fn parse_out(v: &Value, base: &str, what: &str, key: &str) -> Result<Out> {
    let path = as_str(
        field(v, "path")
            .ok_or_else(|| Error::format(what, format!("{key}: an entry without a path")))?,
        what,
        key,
    )?;
    let path = resolve_path(base, path).map_err(|e| Error::format(what, format!("{key}: {e}")))?;
    // DVC 3 writes `hash: md5` beside `md5: …`; DVC 2 only `md5`. Cloud outputs have `etag`/`checksum`.
    let md5 = match field(v, "md5") {
        None => None,
        Some(m) => Some(
            Md5::parse(as_str(m, what, key)?)
                .map_err(|e| Error::format(what, format!("{key} '{path}': {e}")))?,
        ),
    };
    if let Some(h) = field(v, "hash")
        && h.as_str() != Some("md5")
    {
        return Err(Error::format(
            what,
            format!("{key} '{path}': hash {h} is not md5, the only one dv reads"),
        ));
    }
    let size = match field(v, "size") {
        None => None,
        Some(s) => Some(s.as_u64().ok_or_else(|| {
            Error::format(
                what,
                format!("{key} '{path}': size is not a count of bytes"),
            )
        })?),
    };
    let cache = match field(v, "cache") {
        None => true,
        Some(Value::Bool(b)) => *b,
        Some(_) => {
            return Err(Error::format(
                what,
                format!("{key} '{path}': cache is not a boolean"),
            ));
        }
    };
    Ok(Out {
        path,
        md5,
        size,
        cache,
    })
}

/// Parses a `.dvc` file; `file` is its repository path (paths in it are relative to its folder and `wdir`).
pub fn parse_dvc_file(data: &[u8], file: &str) -> Result<DvcFile> {
    let v = yaml(data, file)?;
    if !v.is_object() {
        return Err(Error::format(
            file,
            "not a DVC file (expected a mapping with `outs`)",
        ));
    }
    let (dir, _) = crate::paths::split(file);
    let base = match field(&v, "wdir") {
        None => dir.to_string(),
        Some(w) => {
            let w = as_str(w, file, "wdir")?;
            if w == "." {
                dir.to_string()
            } else {
                resolve_path(dir, w).map_err(|e| Error::format(file, format!("wdir: {e}")))?
            }
        }
    };
    let mut outs = Vec::new();
    for o in as_list(field(&v, "outs"), file, "outs")? {
        outs.push(parse_out(o, &base, file, "outs")?);
    }
    if outs.is_empty() {
        return Err(Error::format(file, "no outputs (`outs`)"));
    }
    // A command makes it a stage of DVC 1, whose deps are its inputs; without one, a dependency is an
    // import's source.
    let stage = field(&v, "cmd").is_some();
    let deps = as_list(field(&v, "deps"), file, "deps")?;
    let import = deps.first().filter(|_| !stage).map(|d| {
        let repo = field(d, "repo")
            .and_then(|r| field(r, "url"))
            .and_then(Value::as_str);
        let path = field(d, "path").and_then(Value::as_str).unwrap_or("?");
        match repo {
            Some(url) => format!("{url} {path}"),
            None => path.to_string(),
        }
    });
    Ok(DvcFile {
        outs,
        import,
        stage,
    })
}

/// One file of a folder's `.dir` manifest.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DirEntry {
    pub md5: Md5,
    /// '/'-separated path inside the folder.
    pub relpath: String,
}

/// Parses a `.dir` manifest (a JSON list of `{md5, relpath}`): every relpath a normal relative path, each once,
/// no file inside another, sorted by relpath.
pub fn parse_dir(data: &[u8], what: &str) -> Result<Vec<DirEntry>> {
    if data.len() > MAX_DIR_MANIFEST {
        return Err(Error::format(
            what,
            format!("{} bytes is too large for a .dir manifest", data.len()),
        ));
    }
    #[derive(serde::Deserialize)]
    struct Raw {
        md5: String,
        relpath: String,
    }
    let raw: Vec<Raw> = serde_json::from_slice(data)
        .map_err(|e| Error::format(what, format!("not a DVC .dir manifest: {e}")))?;
    let mut out = Vec::with_capacity(raw.len());
    for r in raw {
        let md5 =
            Md5::parse(&r.md5).map_err(|e| Error::format(what, format!("{:?}: {e}", r.relpath)))?;
        if md5.dir {
            return Err(Error::format(
                what,
                format!("{:?}: a file's id ends in .dir", r.relpath),
            ));
        }
        // DVC writes `/` between names on every platform: a backslash is part of a name, which dv's names
        // cannot hold (they must be valid on every platform).
        let relpath = r.relpath;
        if relpath.contains('\\') {
            return Err(Error::format(
                what,
                format!(
                    "relpath {relpath:?}: a backslash in a name, which dv refuses (it separates folders on \
                     Windows); rename the file and add the folder again with DVC, then migrate"
                ),
            ));
        }
        if let Some(why) = crate::paths::repo_path_problem(&relpath) {
            return Err(Error::format(what, format!("relpath {relpath:?}: {why}")));
        }
        out.push(DirEntry { md5, relpath });
    }
    out.sort_by(|a, b| a.relpath.cmp(&b.relpath));
    for w in out.windows(2) {
        if w[0].relpath == w[1].relpath {
            return Err(Error::format(
                what,
                format!("relpath {:?} is listed twice", w[0].relpath),
            ));
        }
    }
    // "a" and "a/b" cannot both be files; with the list sorted, "a/…" follows "a" after names like "a-b".
    let names: std::collections::HashSet<&str> = out.iter().map(|e| e.relpath.as_str()).collect();
    for e in &out {
        let mut p = e.relpath.as_str();
        while let Some(i) = p.rfind('/') {
            p = &p[..i];
            if names.contains(p) {
                return Err(Error::format(
                    what,
                    format!("relpath {:?} is inside {p:?}, which is a file", e.relpath),
                ));
            }
        }
    }
    Ok(out)
}

/// A stage as `dvc.lock` recorded its last run.
#[derive(Clone, Debug, PartialEq)]
pub struct LockStage {
    pub name: String,
    /// The commands, each run on its own (see [`YamlStage::cmd`]).
    pub cmd: Vec<String>,
    pub deps: Vec<Out>,
    /// (file, dotted key, value) for every parameter the run read.
    pub params: Vec<(String, String, Value)>,
    pub outs: Vec<Out>,
}

/// What `dvc.lock` leaves to the `dvc.yaml` beside it, for reading its stages' outputs: the folder each stage
/// runs in (its `wdir`, by stage name: a stage's paths are relative to it), and the outputs DVC keeps in Git
/// (`cache: false` in `outs`, `metrics` or `plots`), as repository paths.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LockContext {
    pub wdirs: BTreeMap<String, String>,
    pub uncached: std::collections::BTreeSet<String>,
}

impl LockContext {
    /// The context `dvc.yaml` (its bytes `yaml_data`, None without one; `file` its repository path) gives its
    /// `dvc.lock`. A stage generated by `foreach`/`matrix` takes its `do:` block's. Lenient: a file, a `wdir` or
    /// a path that cannot be read gives no entry (the stage's paths are then read from the lock's folder, and
    /// are checked as any).
    pub fn of_pipeline(yaml_data: Option<&[u8]>, file: &str) -> LockContext {
        let mut out = LockContext::default();
        let Some(v) = yaml_data.and_then(|d| yaml(d, file).ok()) else {
            return out;
        };
        let (dir, _) = crate::paths::split(file);
        let Some(stages) = field(&v, "stages").and_then(Value::as_object) else {
            return out;
        };
        for (name, st) in stages {
            let st = field(st, "do").unwrap_or(st);
            let Ok(base) = wdir(dir, st, file, name) else {
                continue;
            };
            for key in ["outs", "metrics", "plots"] {
                for o in field(st, key)
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                {
                    let Some((path, opts)) = o.as_object().and_then(|m| m.iter().next()) else {
                        continue;
                    };
                    if field(opts, "cache").and_then(Value::as_bool) == Some(false)
                        && let Ok(p) = resolve_path(&base, path)
                    {
                        out.uncached.insert(p);
                    }
                }
            }
            if base != dir {
                out.wdirs.insert(name.clone(), base);
            }
        }
        out
    }
}

/// Parses `dvc.lock` (schema 2.0); `file` is its repository path, `ctx` what the `dvc.yaml` beside it says
/// ([`LockContext::of_pipeline`]): the folder each stage's paths are relative to, and the outputs DVC keeps in
/// Git (read as `cache: false`).
pub fn parse_lock(data: &[u8], file: &str, ctx: &LockContext) -> Result<Vec<LockStage>> {
    let wdirs = &ctx.wdirs;
    let v = yaml(data, file)?;
    if let Some(s) = field(&v, "schema")
        && s.as_str() != Some("2.0")
    {
        return Err(Error::format(
            file,
            format!("schema {s} is not 2.0, the one dv reads"),
        ));
    }
    let (dir, _) = crate::paths::split(file);
    // DVC 1's lock (no `schema`) lists the stages at the top level, each as in schema 2.0.
    let stages = match (field(&v, "schema"), field(&v, "stages")) {
        (_, Some(stages)) => stages,
        (None, None) if v.is_object() => &v,
        (_, None) if v.is_null() => return Ok(Vec::new()),
        _ => return Err(Error::format(file, "no `stages` (not a dvc.lock)")),
    };
    let stages = stages
        .as_object()
        .ok_or_else(|| Error::format(file, "stages: expected a mapping"))?;
    let mut out = Vec::new();
    for (name, st) in stages {
        let at = format!("stage '{name}'");
        if !st.is_object() {
            return Err(Error::format(file, format!("{at}: expected a mapping")));
        }
        let cmd = command(field(st, "cmd"), file, &at)?;
        // A stage of `foreach`/`matrix` is locked as `NAME@KEY`.
        let defined = name.split('@').next().unwrap_or_default();
        let base = match (field(st, "wdir"), wdirs.get(name).or(wdirs.get(defined))) {
            (None, Some(w)) => w.clone(),
            _ => wdir(dir, st, file, &at)?,
        };
        let mut deps = Vec::new();
        for d in as_list(field(st, "deps"), file, &at)? {
            deps.push(parse_out(d, &base, file, &format!("{at} deps"))?);
        }
        let mut outs = Vec::new();
        for o in as_list(field(st, "outs"), file, &at)? {
            let mut out = parse_out(o, &base, file, &format!("{at} outs"))?;
            out.cache &= !ctx.uncached.contains(&out.path);
            outs.push(out);
        }
        let mut params = Vec::new();
        if let Some(p) = field(st, "params") {
            let p = p
                .as_object()
                .ok_or_else(|| Error::format(file, format!("{at} params: expected a mapping")))?;
            for (pfile, keys) in p {
                let pfile = resolve_path(&base, pfile)
                    .map_err(|e| Error::format(file, format!("{at} params: {e}")))?;
                let keys = keys.as_object().ok_or_else(|| {
                    Error::format(file, format!("{at} params '{pfile}': expected a mapping"))
                })?;
                for (k, v) in keys {
                    params.push((pfile.clone(), k.clone(), v.clone()));
                }
            }
        }
        out.push(LockStage {
            name: name.clone(),
            cmd,
            deps,
            params,
            outs,
        });
    }
    Ok(out)
}

/// A stage's commands: DVC runs each line of a string, or each entry of a list, on its own, one after the other,
/// stopping at the first that fails.
fn command(v: Option<&Value>, file: &str, at: &str) -> Result<Vec<String>> {
    let mut cmds = Vec::new();
    match v {
        Some(Value::String(s)) => {
            cmds.extend(s.lines().map(str::to_string));
        }
        Some(Value::Array(list)) => {
            for c in list {
                cmds.push(as_str(c, file, &format!("{at} cmd"))?.to_string());
            }
        }
        _ => {}
    }
    cmds.retain(|c| !c.trim().is_empty());
    if cmds.is_empty() {
        return Err(Error::format(file, format!("{at}: no command (`cmd`)")));
    }
    Ok(cmds)
}

fn wdir(dir: &str, st: &Value, file: &str, at: &str) -> Result<String> {
    match field(st, "wdir").map(|w| as_str(w, file, &format!("{at} wdir"))) {
        None => Ok(dir.to_string()),
        Some(w) => {
            let w = w?;
            if w == "." {
                return Ok(dir.to_string());
            }
            // A `wdir` may be the work tree's root itself (`..` from a folder's dvc.yaml).
            join_relative(dir, w)
                .and_then(|j| match j.is_empty() {
                    true => Ok(j),
                    false => check_resolved(w, &j).map(|()| j),
                })
                .map_err(|e| Error::format(file, format!("{at} wdir: {e}")))
        }
    }
}

/// A stage as `dvc.yaml` defines it.
#[derive(Clone, Debug, PartialEq)]
pub struct YamlStage {
    pub name: String,
    /// The commands, each run on its own in its own shell, stopping at the first that fails: DVC runs each
    /// line of a `cmd` string so, and each entry of a `cmd` list. Empty lines are left out.
    pub cmd: Vec<String>,
    /// Repository path of the folder the command runs in ("" for the root).
    pub wdir: String,
    pub deps: Vec<String>,
    /// (file, key); key "" for "every key of the file".
    pub params: Vec<(String, String)>,
    /// (path, cached by DVC).
    pub outs: Vec<(String, bool)>,
    /// Parts of the definition dv does not map (each a sentence).
    pub unmapped: Vec<String>,
}

/// `dvc.yaml`: the stages dv can map, and what it cannot (whole stages, top-level sections).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Pipeline {
    pub stages: Vec<YamlStage>,
    /// (stage, why) for stages not converted.
    pub skipped: Vec<(String, String)>,
    /// Top-level sections dv has no counterpart for.
    pub unmapped: Vec<String>,
}

/// Parses `dvc.yaml`; `file` is its repository path.
pub fn parse_pipeline(data: &[u8], file: &str) -> Result<Pipeline> {
    let v = yaml(data, file)?;
    let mut p = Pipeline::default();
    let Some(top) = v.as_object() else {
        return Err(Error::format(
            file,
            "not a DVC pipeline (expected a mapping)",
        ));
    };
    for key in top.keys() {
        match key.as_str() {
            "stages" => {}
            "plots" | "metrics" | "artifacts" | "vars" | "params" | "datasets" => p.unmapped.push(
                format!("{file}: the top-level `{key}` section has no dv counterpart"),
            ),
            other => p
                .unmapped
                .push(format!("{file}: unknown top-level key `{other}`")),
        }
    }
    let (dir, _) = crate::paths::split(file);
    let Some(stages) = field(&v, "stages") else {
        return Ok(p);
    };
    let stages = stages
        .as_object()
        .ok_or_else(|| Error::format(file, "stages: expected a mapping"))?;
    for (name, st) in stages {
        let at = format!("stage '{name}'");
        if field(st, "foreach").is_some() || field(st, "matrix").is_some() {
            p.skipped.push((
                name.clone(),
                "it is generated by foreach/matrix, which dv steps do not have".into(),
            ));
            continue;
        }
        let cmd = command(field(st, "cmd"), file, &at)?;
        if cmd.iter().any(|c| c.contains("${")) {
            p.skipped.push((
                name.clone(),
                "its command uses ${…} templating, which dv steps do not have".into(),
            ));
            continue;
        }
        let base = wdir(dir, st, file, &at)?;
        let mut unmapped = Vec::new();
        fn entry_path<'v>(
            e: &'v Value,
            key: &str,
            file: &str,
            at: &str,
        ) -> Result<(String, Option<&'v Value>)> {
            match e {
                Value::String(s) => Ok((s.clone(), None)),
                Value::Object(m) if m.len() == 1 => {
                    let (k, v) = m.iter().next().expect("one");
                    Ok((k.clone(), Some(v)))
                }
                v => Err(Error::format(
                    file,
                    format!("{at} {key}: expected a path, found {}", kind(v)),
                )),
            }
        }
        let resolve = |p: &str, key: &str| {
            resolve_path(&base, p).map_err(|e| Error::format(file, format!("{at} {key}: {e}")))
        };
        let mut deps = Vec::new();
        for d in as_list(field(st, "deps"), file, &format!("{at} deps"))? {
            let (path, _) = entry_path(d, "deps", file, &at)?;
            if path.contains("${") {
                unmapped.push(format!("dependency {path:?} uses templating"));
                continue;
            }
            deps.push(resolve(&path, "deps")?);
        }
        let mut params = Vec::new();
        for e in as_list(field(st, "params"), file, &format!("{at} params"))? {
            match e {
                Value::String(k) => params.push((resolve("params.yaml", "params")?, k.clone())),
                Value::Object(m) => {
                    for (pfile, keys) in m {
                        let pfile = resolve(pfile, "params")?;
                        // `FILE:` with nothing after it (as `dvc stage add -p FILE:` writes it) is every key.
                        let keys = as_list(
                            Some(keys).filter(|k| !k.is_null()),
                            file,
                            &format!("{at} params"),
                        )?;
                        if keys.is_empty() {
                            params.push((pfile.clone(), String::new()));
                        }
                        for k in keys {
                            params.push((pfile.clone(), as_str(k, file, &at)?.to_string()));
                        }
                    }
                }
                Value::Null => {}
                v => {
                    return Err(Error::format(
                        file,
                        format!("{at} params: expected a key, found {}", kind(v)),
                    ));
                }
            }
        }
        let mut outs = Vec::new();
        for key in ["outs", "metrics", "plots"] {
            for o in as_list(field(st, key), file, &format!("{at} {key}"))? {
                let (path, opts) = entry_path(o, key, file, &at)?;
                let cache = opts
                    .and_then(|o| field(o, "cache"))
                    .and_then(Value::as_bool);
                // DVC keeps metrics and plots in its cache unless told otherwise; outs too.
                outs.push((resolve(&path, key)?, cache.unwrap_or(true)));
                if opts
                    .and_then(|o| field(o, "persist"))
                    .and_then(Value::as_bool)
                    == Some(true)
                {
                    unmapped.push(format!(
                        "output '{path}' is `persist: true`: dv runs a step with its outputs as they are too, \
                         but does not delete them first either way"
                    ));
                }
            }
        }
        for key in ["frozen", "always_changed", "vars", "desc", "meta"] {
            if field(st, key).is_some() {
                unmapped.push(format!("`{key}` has no dv counterpart"));
            }
        }
        p.stages.push(YamlStage {
            name: name.clone(),
            cmd,
            wdir: base,
            deps,
            params,
            outs,
            unmapped,
        });
    }
    Ok(p)
}

/// `.dvc/config` (and `config.local`): DVC's configobj INI, read by hand (no INI crate is in the lock, and
/// only sections, `key = value` lines and comments occur in it).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DvcConfig {
    /// `core.remote`.
    pub default_remote: Option<String>,
    /// Remote name → its settings (`url`, `endpointurl`, `access_key_id`, …).
    pub remotes: BTreeMap<String, BTreeMap<String, String>>,
}

impl DvcConfig {
    /// Adds the settings of `text` (a later file's win); `what` names it in errors.
    pub fn read(&mut self, text: &str, what: &str) -> Result<()> {
        let mut section: Option<String> = None;
        for (n, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
                continue;
            }
            if let Some(h) = line.strip_prefix('[') {
                let h = h.strip_suffix(']').ok_or_else(|| {
                    Error::format(what, format!("line {}: a section without ]", n + 1))
                })?;
                section = Some(unquote(h.trim()).to_string());
                continue;
            }
            let (k, v) = line
                .split_once('=')
                .ok_or_else(|| Error::format(what, format!("line {}: not `key = value`", n + 1)))?;
            let (k, v) = (k.trim().to_string(), unquote(v.trim()).to_string());
            match section.as_deref() {
                Some("core") if k == "remote" => self.default_remote = Some(v),
                Some(s) => {
                    if let Some(name) = s
                        .strip_prefix("remote \"")
                        .and_then(|r| r.strip_suffix('"'))
                    {
                        self.remotes
                            .entry(name.to_string())
                            .or_default()
                            .insert(k, v);
                    }
                }
                None => {}
            }
        }
        Ok(())
    }
}

fn unquote(s: &str) -> &str {
    for q in ['\'', '"'] {
        if s.len() >= 2 && s.starts_with(q) && s.ends_with(q) {
            return &s[1..s.len() - 1];
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_dvc3_and_dvc2_files() {
        let f = parse_dvc_file(
            b"outs:\n- md5: fd7475f3f487aca739501c10b722c202.dir\n  size: 15\n  nfiles: 3\n  hash: md5\n  path: images\n",
            "sub/images.dvc",
        )
        .unwrap();
        assert_eq!(f.outs[0].path, "sub/images");
        assert!(f.outs[0].md5.as_ref().unwrap().dir);
        assert_eq!(f.outs[0].size, Some(15));
        let f = parse_dvc_file(
            b"outs:\n- md5: BBD304055BE67C211495C95F4E697EB2\n  path: ../raw.csv\n",
            "a/raw.dvc",
        )
        .unwrap();
        assert_eq!(f.outs[0].path, "raw.csv");
        assert_eq!(
            f.outs[0].md5.as_ref().unwrap().hex,
            "bbd304055be67c211495c95f4e697eb2"
        );
    }

    #[test]
    fn refuses_paths_outside_the_repository() {
        for (path, why) in [
            ("../../etc/passwd", "outside the repository"),
            ("/etc/passwd", "absolute"),
            ("C:/x", "absolute"),
            ("a\\..\\..\\b", "backslash"),
            (".git/config", ".git"),
            (".dv/config.toml", ".dv"),
            (".dvc/config", ".dvc"),
            ("", "empty"),
        ] {
            let text =
                format!("outs:\n- md5: bbd304055be67c211495c95f4e697eb2\n  path: '{path}'\n");
            let e = parse_dvc_file(text.as_bytes(), "x.dvc")
                .unwrap_err()
                .to_string();
            assert!(e.contains(why), "{path:?}: {e}");
        }
    }

    #[test]
    fn refuses_bad_ids_and_shapes() {
        for text in [
            "outs:\n- md5: xyz\n  path: a\n",
            "outs:\n- md5: bbd304055be67c211495c95f4e697eb2\n  hash: sha256\n  path: a\n",
            "outs: 3\n",
            "- a\n",
            "outs: []\n",
            "outs:\n- md5: bbd304055be67c211495c95f4e697eb2\n  size: -1\n  path: a\n",
        ] {
            assert!(parse_dvc_file(text.as_bytes(), "x.dvc").is_err(), "{text}");
        }
    }

    #[test]
    fn reads_a_dir_manifest() {
        let m = br#"[{"md5": "1d1d0d3f83a0a204c32b0c6d4ae637bd", "relpath": "sub/b.png"}, {"md5": "79118c78c188b99c0dc05b8c7ff9fa3e", "relpath": "a.png"}]"#;
        let d = parse_dir(m, "m").unwrap();
        assert_eq!(d[0].relpath, "a.png");
        assert_eq!(d[1].relpath, "sub/b.png");
        for bad in [
            r#"[{"md5": "1d1d0d3f83a0a204c32b0c6d4ae637bd", "relpath": "../x"}]"#,
            r#"[{"md5": "1d1d0d3f83a0a204c32b0c6d4ae637bd", "relpath": "/x"}]"#,
            r#"[{"md5": "1d1d0d3f83a0a204c32b0c6d4ae637bd", "relpath": "a"}, {"md5": "1d1d0d3f83a0a204c32b0c6d4ae637bd", "relpath": "a"}]"#,
            r#"[{"md5": "1d1d0d3f83a0a204c32b0c6d4ae637bd", "relpath": "a"}, {"md5": "1d1d0d3f83a0a204c32b0c6d4ae637bd", "relpath": "a/b"}]"#,
            r#"[{"md5": "1d1d0d3f83a0a204c32b0c6d4ae637bd.dir", "relpath": "a"}]"#,
            r#"{"md5": "x"}"#,
        ] {
            assert!(parse_dir(bad.as_bytes(), "m").is_err(), "{bad}");
        }
    }

    #[test]
    fn reads_a_pipeline_and_its_lock() {
        let p = parse_pipeline(
            b"stages:\n  prep:\n    cmd: sh prep.sh\n    deps: [raw.csv]\n    params: [prep.factor, {other.json: []}]\n    outs: [out, {metrics.json: {cache: false}}]\n  many:\n    foreach: [a, b]\n    do: {cmd: echo}\nplots: [x.csv]\n",
            "dvc.yaml",
        )
        .unwrap();
        assert_eq!(p.stages.len(), 1);
        let s = &p.stages[0];
        assert_eq!(
            s.params,
            vec![
                ("params.yaml".into(), "prep.factor".into()),
                ("other.json".into(), "".into())
            ]
        );
        assert_eq!(
            s.outs,
            vec![("out".into(), true), ("metrics.json".into(), false)]
        );
        assert_eq!(p.skipped[0].0, "many");
        assert_eq!(p.unmapped.len(), 1);
        let l = parse_lock(
            b"schema: '2.0'\nstages:\n  prep:\n    cmd: sh prep.sh\n    deps:\n    - path: raw.csv\n      hash: md5\n      md5: bbd304055be67c211495c95f4e697eb2\n      size: 24\n    params:\n      params.yaml:\n        prep.factor: 2\n    outs:\n    - path: out\n      hash: md5\n      md5: e8f17afd2dd12e1ae40996202603b3dd.dir\n",
            "dvc.lock",
            &LockContext::default(),
        )
        .unwrap();
        assert_eq!(
            l[0].params,
            vec![(
                "params.yaml".into(),
                "prep.factor".into(),
                serde_json::json!(2)
            )]
        );
        assert_eq!(l[0].outs[0].path, "out");
        assert!(parse_lock(b"schema: '3.0'\n", "dvc.lock", &LockContext::default()).is_err());
        // A stage's paths are relative to the `wdir` its dvc.yaml gives it (the lock does not name it).
        // Outputs DVC keeps in Git are `cache: false` in dvc.yaml only.
        let ctx = LockContext::of_pipeline(
            Some(b"stages:\n  s:\n    wdir: w\n    cmd: x\n    metrics:\n    - m.json:\n        cache: false\n  g:\n    foreach: [a]\n    do:\n      wdir: ../g\n      cmd: x\n"),
            "sub/dvc.yaml",
        );
        assert_eq!(ctx.wdirs.get("s").map(String::as_str), Some("sub/w"));
        assert_eq!(ctx.wdirs.get("g").map(String::as_str), Some("g"));
        assert!(ctx.uncached.contains("sub/w/m.json"));
        let l = parse_lock(
            b"schema: '2.0'\nstages:\n  s:\n    cmd: x\n    outs:\n    - path: o\n      md5: bbd304055be67c211495c95f4e697eb2\n    - path: m.json\n      md5: bbd304055be67c211495c95f4e697eb2\n  g@a:\n    cmd: x\n    outs:\n    - path: o\n      md5: bbd304055be67c211495c95f4e697eb2\n",
            "sub/dvc.lock",
            &ctx,
        )
        .unwrap();
        let outs_of = |name: &str| &l.iter().find(|s| s.name == name).unwrap().outs;
        assert_eq!(outs_of("s")[0].path, "sub/w/o");
        assert!(outs_of("s")[0].cache && !outs_of("s")[1].cache);
        assert_eq!(outs_of("g@a")[0].path, "g/o");
        // DVC 1: the stages at the top level.
        let l = parse_lock(
            b"prep:\n  cmd: sh prep.sh\n  outs:\n  - path: out\n    md5: e8f17afd2dd12e1ae40996202603b3dd.dir\n",
            "dvc.lock",
            &LockContext::default(),
        )
        .unwrap();
        assert_eq!(
            (l[0].name.as_str(), l[0].outs[0].path.as_str()),
            ("prep", "out")
        );
        assert!(parse_lock(b"schema: '2.0'\n", "dvc.lock", &LockContext::default()).is_err());
        assert!(
            parse_lock(b"", "dvc.lock", &LockContext::default())
                .unwrap()
                .is_empty()
        );
        assert!(
            parse_lock(
                b"stages:\n  a:\n    cmd: x\n    outs:\n    - path: ../../x\n",
                "dvc.lock",
                &LockContext::default()
            )
            .is_err()
        );
    }

    #[test]
    fn reads_the_config() {
        let mut c = DvcConfig::default();
        c.read(
            "[core]\n    remote = storage\n['remote \"storage\"']\n    url = ../../remote\n# x\n[remote \"s3\"]\n  url = s3://b/p\n  endpointurl = http://h\n",
            "c",
        )
        .unwrap();
        assert_eq!(c.default_remote.as_deref(), Some("storage"));
        assert_eq!(c.remotes["storage"]["url"], "../../remote");
        assert_eq!(c.remotes["s3"]["endpointurl"], "http://h");
        assert!(c.read("[core\n", "c").is_err());
    }
}
