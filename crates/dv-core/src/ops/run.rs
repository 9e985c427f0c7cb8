//! `dv run`, `dv repro`, `dv lineage` and the stale-step part of `dv status`: running a command as a recorded
//! step, telling which steps are out of date, re-running them in dependency order, checking that a step
//! reproduces its output, and walking the graph the steps make.
//!
//! Inputs and outputs are identified by the id dv would give them (`dv add`'s node id), computed from the work
//! tree: for tracked data whose pointer still matches, the pointer's id (cheap, through the stat cache); for
//! anything else (code tracked by Git, a plain folder) by hashing it as `add` would, without storing it.

use std::collections::BTreeSet;
use std::fs;
use std::path::Path;
use std::process::{Command, Stdio};

use super::datasets::{Dataset, Source, read_pointer};
use super::walk::walk;
use crate::error::IoContext;
use crate::git::GitRepo;
use crate::progress::Progress;
use crate::repo::Repo;
use crate::steps::{
    NodeRecord, Param, PathRecord, RunRecord, STEPS_DIR, Step, Steps, check_param_key,
    check_step_name, check_step_path, param_values,
};
use crate::store::object::Node;
use crate::store::statedb::{Stat, StatEntry, StateDb};
use crate::store::{Store, hash_file};
use crate::{Error, ObjectId, Result};

/// Where a step's command writes its standard output.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChildOutput {
    /// To dv's standard output.
    Inherit,
    /// To dv's standard error (so dv's own standard output stays machine-readable).
    Stderr,
}

pub struct RunOptions<'a> {
    /// Stage the step file, pointer files and .gitignore files in Git's index.
    pub stage: bool,
    pub child_output: ChildOutput,
    pub progress: &'a dyn Progress,
}

/// What `dv run` is asked to record.
#[derive(Clone, Debug)]
pub struct RunSpec {
    pub name: String,
    pub command: Vec<String>,
    /// Repository path of the folder to run in.
    pub workdir: String,
    pub deps: Vec<String>,
    /// (file, key) pairs.
    pub params: Vec<(String, String)>,
    pub outs: Vec<String>,
}

#[derive(Clone, Debug, serde::Serialize)]
pub struct StepRun {
    pub step: Step,
    /// The step file's repository path.
    pub file: String,
    /// Files staged in Git's index.
    pub staged: Vec<String>,
}

/// Runs a new step (or redefines the step of that name), records it and adds its outputs.
pub fn run(repo: &Repo, store: &Store, spec: RunSpec, opts: &RunOptions<'_>) -> Result<StepRun> {
    check_step_name(&spec.name).map_err(|e| Error::Step {
        name: spec.name.clone(),
        message: e.to_string(),
    })?;
    let bad = |message: String| Error::Step {
        name: spec.name.clone(),
        message,
    };
    if spec.command.is_empty() || spec.command[0].is_empty() {
        return Err(bad("no command given (put it after `--`)".into()));
    }
    if spec.outs.is_empty() {
        return Err(bad("a step needs at least one output (-o PATH)".into()));
    }
    if let Some((i, what)) = secret_argument(&spec.command) {
        return Err(bad(format!(
            "argument {i} of the command looks like a credential ({what}); step files are committed to Git, \
             so pass secrets through the environment instead"
        )));
    }
    check_step_path(&spec.workdir, true).map_err(bad)?;
    for p in spec.deps.iter().chain(&spec.outs) {
        check_step_path(p, false).map_err(bad)?;
    }
    for (file, key) in &spec.params {
        check_step_path(file, false).map_err(bad)?;
        check_param_key(key).map_err(bad)?;
    }
    let unique = |list: &[String]| -> Vec<PathRecord> {
        let mut seen = BTreeSet::new();
        list.iter()
            .filter(|p| seen.insert(p.as_str()))
            .map(|p| PathRecord {
                path: p.clone(),
                node: None,
            })
            .collect()
    };
    let step = Step {
        name: spec.name.clone(),
        command: spec.command.clone(),
        workdir: spec.workdir.clone(),
        deps: unique(&spec.deps),
        params: spec
            .params
            .iter()
            .map(|(file, key)| Param {
                file: file.clone(),
                key: key.clone(),
                value: None,
            })
            .collect(),
        outs: unique(&spec.outs),
        run: None,
    };
    step.check_paths().map_err(bad)?;
    // The new step must fit the graph: no output another step writes, no cycle.
    let mut all: Vec<Step> = load_steps(repo, &Source::WorkTree)?
        .steps
        .into_iter()
        .filter(|s| s.name != step.name)
        .collect();
    all.push(step.clone());
    Steps::new(all)?.order()?;
    execute(repo, store, &step, opts)
}

/// Runs `step` in the work tree, then adds its outputs and rewrites its step file with what it used and made.
/// A command that fails, or does not write every output, records nothing and adds nothing.
pub fn execute(repo: &Repo, store: &Store, step: &Step, opts: &RunOptions<'_>) -> Result<StepRun> {
    let bad = |message: String| Error::Step {
        name: step.name.clone(),
        message,
    };
    let git = GitRepo::open(&repo.root)?;
    for o in &step.outs {
        crate::paths::check_no_linked_parents(&repo.root, &o.path)?;
        if let Some(tracked) = git.first_tracked_under(&o.path)? {
            return Err(bad(format!(
                "output '{}' holds '{tracked}', which Git tracks; dv cannot version it",
                o.path
            )));
        }
    }
    let mut deps = Vec::with_capacity(step.deps.len());
    for d in &step.deps {
        let node = fingerprint(repo, store, &d.path)?
            .ok_or_else(|| bad(format!("input '{}' does not exist", d.path)))?;
        deps.push(PathRecord {
            path: d.path.clone(),
            node: Some(NodeRecord::of(&node)),
        });
    }
    let values = param_values(&step.params, |f| {
        crate::fsutil::read_if_exists(&repo.abs(f))
    })?;
    let mut params = Vec::with_capacity(step.params.len());
    for (p, v) in step.params.iter().zip(values) {
        let value = v.ok_or_else(|| {
            bad(format!(
                "parameter '{}' is not set ({} has no key {})",
                p.label(),
                p.file,
                p.key
            ))
        })?;
        if let Some(what) = secret_param_value(&p.key, &value) {
            return Err(bad(format!(
                "parameter '{}' looks like a credential ({what}); step files record parameter values and are \
                 committed to Git, so pass secrets through the environment instead",
                p.label()
            )));
        }
        params.push(Param {
            value: Some(value),
            ..p.clone()
        });
    }
    let commit = git.head()?.map(|c| c.id.to_string());

    let workdir = repo.abs(&step.workdir);
    let started = std::time::Instant::now();
    let status = spawn(&step.command, &workdir, opts.child_output)
        .map_err(|e| bad(format!("cannot run '{}': {e}", step.command[0])))?;
    let duration_ms = started.elapsed().as_millis() as u64;
    if !status.success() {
        return Err(Error::StepFailed {
            name: step.name.clone(),
            command: shell_words(&step.command),
            status: describe_status(&status),
        });
    }
    for o in &step.outs {
        if fs::symlink_metadata(repo.abs(&o.path)).is_err() {
            return Err(bad(format!(
                "the command succeeded but did not write output '{}'; nothing was recorded",
                o.path
            )));
        }
    }

    let _lock = repo.lock()?;
    let out_paths: Vec<String> = step.outs.iter().map(|o| o.path.clone()).collect();
    if opts.stage {
        // The step file is staged after the outputs' add: check it can be before anything is written.
        git.check_stageable(&[Step::file_path(&step.name)])?;
    }
    let added = super::add::add(repo, store, &out_paths, opts.stage, None, opts.progress)?;
    let mut outs = Vec::with_capacity(step.outs.len());
    for o in &step.outs {
        let d = added
            .datasets
            .iter()
            .find(|d| d.path == o.path)
            .ok_or_else(|| Error::Internal(format!("add did not report '{}'", o.path)))?;
        let id = ObjectId::from_hex(&d.id)
            .ok_or_else(|| Error::Internal(format!("add reported a bad id for '{}'", o.path)))?;
        outs.push(PathRecord {
            path: o.path.clone(),
            node: Some(NodeRecord {
                kind: d.kind,
                id,
                size: d.size,
            }),
        });
    }
    let recorded = Step {
        deps,
        params,
        outs,
        run: Some(RunRecord {
            command: step.command.clone(),
            git_commit: commit,
            dv_version: env!("CARGO_PKG_VERSION").to_string(),
            platform: format!("{}-{}", std::env::consts::OS, std::env::consts::ARCH),
            exit_status: status.code().unwrap_or(0),
            duration_ms,
        }),
        ..step.clone()
    };
    let file = Step::file_path(&step.name);
    let abs = repo.abs(&file);
    crate::paths::check_no_linked_parents(&repo.root, &file)?;
    fs::create_dir_all(abs.parent().expect("step files are in a folder")).at(repo.abs(STEPS_DIR))?;
    repo.write_file(&abs, recorded.encode().as_bytes())?;
    let mut staged = added.staged;
    if opts.stage {
        git.stage(&repo.root, std::slice::from_ref(&file))?;
        staged.push(file.clone());
    }
    Ok(StepRun {
        step: recorded,
        file,
        staged,
    })
}

/// The position (1-based) of the first argument that looks like a secret, and what it looks like: a
/// credential-shaped value (anywhere in it: `--db=postgres://u:pw@h`), or an option named like one
/// (`--password=…`, `--api-key VALUE`; names are matched by whole words, so `--tokenizer` is fine).
fn secret_argument(command: &[String]) -> Option<(usize, String)> {
    command.iter().enumerate().skip(1).find_map(|(i, a)| {
        let flag = a.strip_prefix('-').map(|f| f.trim_start_matches('-'));
        let name = flag.map(|f| f.split_once('=').map_or(f, |(k, _)| k));
        if name.is_some_and(crate::secret::is_secret_name) {
            return Some((i, "an option named like a credential".to_string()));
        }
        crate::secret::value_secret(a).map(|what| (i, what))
    })
}

/// What credential a parameter would write into the step file, if any: its key names one (`db.password`), or
/// a string anywhere in its value holds one.
fn secret_param_value(key: &str, value: &toml::Value) -> Option<String> {
    if key.split('.').any(crate::secret::is_secret_name) {
        return Some("a parameter named like a credential".into());
    }
    match value {
        toml::Value::String(s) => crate::secret::value_secret(s),
        toml::Value::Array(items) => items.iter().find_map(|v| secret_param_value("", v)),
        toml::Value::Table(t) => t.iter().find_map(|(k, v)| secret_param_value(k, v)),
        _ => None,
    }
}

fn spawn(
    command: &[String],
    dir: &Path,
    out: ChildOutput,
) -> std::io::Result<std::process::ExitStatus> {
    let mut cmd = Command::new(&command[0]);
    cmd.args(&command[1..])
        .current_dir(dir)
        .stdin(Stdio::null());
    if out == ChildOutput::Stderr {
        use std::os::fd::AsFd;
        cmd.stdout(Stdio::from(std::io::stderr().as_fd().try_clone_to_owned()?));
    }
    cmd.status()
}

fn describe_status(s: &std::process::ExitStatus) -> String {
    use std::os::unix::process::ExitStatusExt;
    match (s.code(), s.signal()) {
        (Some(c), _) => format!("exited with status {c}"),
        (None, Some(sig)) => format!("was killed by signal {sig}"),
        _ => "failed".into(),
    }
}

/// The command as one could type it in a shell (for messages): each word as [`crate::paths::shell_word`] shows it.
pub fn shell_words(command: &[String]) -> String {
    command
        .iter()
        .map(|w| crate::paths::shell_word(w))
        .collect::<Vec<_>>()
        .join(" ")
}

/// The steps recorded in the work tree or at a revision.
pub fn load_steps(repo: &Repo, source: &Source<'_>) -> Result<Steps> {
    let mut steps = Vec::new();
    match source {
        Source::WorkTree => {
            let dir = repo.abs(STEPS_DIR);
            let entries = match fs::read_dir(&dir) {
                Ok(e) => e,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Steps::default()),
                Err(e) => return Err(Error::io(dir, e)),
            };
            let mut names = Vec::new();
            for e in entries {
                let e = e.at(&dir)?;
                let name = e.file_name().to_string_lossy().into_owned();
                if let Some(stem) = name.strip_suffix(".toml") {
                    names.push(stem.to_string());
                }
            }
            names.sort();
            for name in names {
                let file = Step::file_path(&name);
                let data = fs::read(repo.abs(&file)).at(repo.abs(&file))?;
                steps.push(Step::decode(&name, &data, &file)?);
            }
        }
        Source::Rev { git, commit } => {
            for (path, data) in git.files_with_suffix_at(commit, STEPS_DIR, ".toml")? {
                let Some(name) = path
                    .strip_prefix(&format!("{STEPS_DIR}/"))
                    .and_then(|n| n.strip_suffix(".toml"))
                else {
                    continue;
                };
                if name.contains('/') {
                    continue;
                }
                steps.push(Step::decode(
                    name,
                    &data,
                    &format!("{path} at {}", commit.rev),
                )?);
            }
        }
    }
    Steps::new(steps)
}

/// What is at repository path `path` now, as dv would record it, or `None` if nothing is there.
pub fn fingerprint(repo: &Repo, store: &Store, path: &str) -> Result<Option<Node>> {
    let abs = repo.abs(path);
    if fs::symlink_metadata(&abs).is_err() {
        return Ok(None);
    }
    if let Some(d) = read_pointer(repo, path)?
        && matches_pointer(repo, store, &d)?
    {
        return Ok(Some(d.pointer.node));
    }
    hash_path(&abs, path, Some(store.state_db())).map(Some)
}

/// True when tracked data matches its pointer file (checked through the stat cache, as `dv status` does).
fn matches_pointer(repo: &Repo, store: &Store, d: &Dataset) -> Result<bool> {
    let cache = store.state_db().stat_entries_under(&d.path)?;
    let mut cmp = super::compare::Comparer::new(repo, store, &cache, None);
    cmp.compare(&d.path, Some(&d.pointer.node))?;
    let out = cmp.out;
    store
        .state_db()
        .put_stat_entries(out.refreshed.iter().map(|(p, e)| (p.as_str(), *e)))?;
    Ok(out.changes.is_empty() && out.missing.is_empty())
}

/// Hashes the file or folder at `abs` (repository path `path`) the way `dv add` would store it (same ids),
/// storing nothing. With a stat cache, files whose stat it vouches for are not read, and the files read are
/// remembered, so checking a large untracked input again is as cheap as `dv status`.
pub fn hash_path(abs: &Path, path: &str, cache: Option<&StateDb>) -> Result<Node> {
    let started = super::now_ns();
    let known = match cache {
        Some(meta) => meta.stat_entries_under(path)?,
        None => Default::default(),
    };
    let mut refreshed: Vec<(String, StatEntry)> = Vec::new();
    let mut file = |fabs: &Path, repo_path: &str, m: &fs::Metadata| -> Result<Node> {
        let stat = Stat::of(m);
        let (kind, id, size) = match known.get(repo_path) {
            Some(e) if e.matches(&stat) => (e.kind, e.id, stat.size),
            _ => {
                let (kind, id, size) = hash_file(fabs)?;
                refreshed.push((
                    repo_path.to_string(),
                    StatEntry {
                        stat,
                        kind,
                        id,
                        hashed_at_ns: started,
                    },
                ));
                (kind, id, size)
            }
        };
        Ok(Node {
            kind,
            id,
            size,
            files: 1,
            exec: stat.exec,
        })
    };
    let m = fs::symlink_metadata(abs).at(abs)?;
    let node = if m.is_file() {
        file(abs, path, &m)?
    } else if m.is_dir() {
        let w = walk(abs, path)?;
        let mut files = Vec::with_capacity(w.files.len());
        for f in &w.files {
            let rel = f.path.strip_prefix(path).unwrap_or(&f.path);
            let fabs = abs.join(rel.trim_start_matches('/'));
            let m = fs::symlink_metadata(&fabs).at(&fabs)?;
            files.push(Some(file(&fabs, &f.path, &m)?));
        }
        // The same trees `add` would store, hashed only.
        w.build_trees(&files, |t| Ok(ObjectId::of(&t.encode())))?
    } else {
        return Err(Error::BadPath {
            path: path.to_string(),
            reason: "not a regular file or folder".into(),
        });
    };
    if let Some(meta) = cache {
        meta.put_stat_entries(refreshed.iter().map(|(p, e)| (p.as_str(), *e)))?;
    }
    Ok(node)
}

words! {
    /// Whether a step's recorded run still matches the work tree.
    pub enum StepFreshness {
        UpToDate = "up-to-date",
        Stale = "stale",
        NeverRan = "never-ran",
    }
}

words! {
    /// What `dv repro` did with a step.
    pub enum ReproAction {
        Ran = "ran",
        /// A dry run: it would have run.
        WouldRun = "would-run",
        UpToDate = "up-to-date",
    }
}

/// Whether a step is up to date, and if not, why.
#[derive(Clone, Debug, serde::Serialize)]
pub struct StepState {
    pub name: String,
    pub state: StepFreshness,
    pub reasons: Vec<String>,
}

impl StepState {
    pub fn is_stale(&self) -> bool {
        self.state != StepFreshness::UpToDate
    }
}

/// Compares what a step recorded with the work tree.
pub fn step_state(repo: &Repo, store: &Store, step: &Step) -> Result<StepState> {
    let mut reasons = Vec::new();
    let Some(run) = &step.run else {
        return Ok(StepState {
            name: step.name.clone(),
            state: StepFreshness::NeverRan,
            reasons: vec!["it has not run yet".into()],
        });
    };
    if run.command != step.command {
        reasons.push(format!(
            "the command changed: {} -> {}",
            shell_words(&run.command),
            shell_words(&step.command)
        ));
    }
    for d in &step.deps {
        let now = fingerprint(repo, store, &d.path)?;
        match (&d.node, now) {
            (_, None) => reasons.push(format!("input '{}' is missing", d.path)),
            (None, Some(_)) => reasons.push(format!("input '{}' is new", d.path)),
            (Some(r), Some(n)) if r.id != n.id => {
                reasons.push(format!("input '{}' changed", d.path))
            }
            _ => {}
        }
    }
    let values = param_values(&step.params, |f| {
        crate::fsutil::read_if_exists(&repo.abs(f))
    })?;
    for (p, now) in step.params.iter().zip(values) {
        if p.value != now {
            let show = |v: &Option<toml::Value>| match v {
                Some(v) => v.to_string(),
                None => "(not set)".into(),
            };
            reasons.push(format!(
                "parameter '{}' changed: {} -> {}",
                p.label(),
                show(&p.value),
                show(&now)
            ));
        }
    }
    for o in &step.outs {
        let now = fingerprint(repo, store, &o.path)?;
        match (&o.node, now) {
            (_, None) => reasons.push(format!("output '{}' is missing", o.path)),
            (None, Some(_)) => reasons.push(format!("output '{}' was not recorded", o.path)),
            (Some(r), Some(n)) if r.id != n.id => {
                reasons.push(format!("output '{}' is not what the step made", o.path))
            }
            _ => {}
        }
    }
    Ok(StepState {
        name: step.name.clone(),
        state: if reasons.is_empty() {
            StepFreshness::UpToDate
        } else {
            StepFreshness::Stale
        },
        reasons,
    })
}

/// The state of every step in the work tree, in dependency order.
pub fn step_states(repo: &Repo, store: &Store) -> Result<Vec<StepState>> {
    let steps = load_steps(repo, &Source::WorkTree)?;
    let mut out = Vec::new();
    for i in steps.order()? {
        out.push(step_state(repo, store, &steps.steps[i])?);
    }
    Ok(out)
}

#[derive(Clone, Debug, serde::Serialize)]
pub struct ReproStep {
    pub name: String,
    pub action: ReproAction,
    pub reasons: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub duration_ms: Option<u64>,
}

#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct ReproReport {
    pub steps: Vec<ReproStep>,
    pub staged: Vec<String>,
}

/// Re-runs the stale steps that lead to `targets` (repository paths of outputs; every step when empty), in
/// dependency order. A step whose inputs an earlier step changed becomes stale then and runs too.
pub fn repro(
    repo: &Repo,
    store: &Store,
    targets: &[String],
    force: bool,
    dry_run: bool,
    opts: &RunOptions<'_>,
) -> Result<ReproReport> {
    let steps = load_steps(repo, &Source::WorkTree)?;
    let order = steps.order()?;
    let wanted: BTreeSet<usize> = if targets.is_empty() {
        (0..steps.steps.len()).collect()
    } else {
        let mut roots = Vec::new();
        for t in targets {
            let i = steps
                .steps
                .iter()
                .position(|s| s.writes(t))
                .ok_or_else(|| no_step_writes(t))?;
            roots.push(i);
        }
        steps.with_upstream(&roots)
    };
    let mut report = ReproReport::default();
    for i in order.into_iter().filter(|i| wanted.contains(i)) {
        let step = &steps.steps[i];
        let state = step_state(repo, store, step)?;
        let stale = force || state.is_stale();
        let mut reasons = state.reasons;
        if force && reasons.is_empty() {
            reasons.push("forced".into());
        }
        if !stale {
            report.steps.push(ReproStep {
                name: step.name.clone(),
                action: ReproAction::UpToDate,
                reasons,
                duration_ms: None,
            });
            continue;
        }
        if dry_run {
            // Without running, a step is also due when a step it reads from is.
            report.steps.push(ReproStep {
                name: step.name.clone(),
                action: ReproAction::WouldRun,
                reasons,
                duration_ms: None,
            });
            continue;
        }
        let done = execute(repo, store, step, opts)?;
        report.staged.extend(done.staged);
        report.steps.push(ReproStep {
            name: step.name.clone(),
            action: ReproAction::Ran,
            reasons,
            duration_ms: done.step.run.as_ref().map(|r| r.duration_ms),
        });
    }
    if dry_run {
        mark_downstream_of_due(&steps, &mut report);
    }
    report.staged.sort();
    report.staged.dedup();
    Ok(report)
}

/// In a dry run, steps reading from a step that would run would run too.
fn mark_downstream_of_due(steps: &Steps, report: &mut ReproReport) {
    let mut due: BTreeSet<String> = BTreeSet::new();
    for r in &mut report.steps {
        let i = steps
            .steps
            .iter()
            .position(|s| s.name == r.name)
            .expect("reported steps exist");
        if r.action == ReproAction::WouldRun {
            due.insert(r.name.clone());
            continue;
        }
        let ups: Vec<String> = steps
            .upstream_of(i)
            .into_iter()
            .map(|u| steps.steps[u].name.clone())
            .filter(|n| due.contains(n))
            .collect();
        if let Some(u) = ups.first() {
            r.action = ReproAction::WouldRun;
            r.reasons.push(format!("step '{u}' would run first"));
            due.insert(r.name.clone());
        }
    }
}

#[derive(Clone, Debug, serde::Serialize)]
pub struct CheckedOutput {
    pub path: String,
    pub recorded: Option<NodeRecord>,
    pub reproduced: Option<NodeRecord>,
    pub same: bool,
}

#[derive(Clone, Debug, serde::Serialize)]
pub struct CheckReport {
    pub step: String,
    /// True when every output came out bit for bit as recorded.
    pub reproduces: bool,
    pub outs: Vec<CheckedOutput>,
    /// Why the check could not compare outputs (the command failed in the temporary folder).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failure: Option<String>,
    pub duration_ms: u64,
}

/// Re-runs the step that wrote `out` in a temporary folder holding only its recorded inputs and parameter
/// files, and compares what it writes with the recorded outputs. The work tree and the store are untouched.
pub fn check(repo: &Repo, store: &Store, out: &str, opts: &RunOptions<'_>) -> Result<CheckReport> {
    let steps = load_steps(repo, &Source::WorkTree)?;
    let step = steps.producer_of(out).ok_or_else(|| no_step_writes(out))?;
    let bad = |message: String| Error::Step {
        name: step.name.clone(),
        message,
    };
    if step.run.is_none() {
        return Err(bad(
            "it has not run yet; there is nothing to compare with".into()
        ));
    }
    // Removed with all it holds when dropped. Named and permitted as before: `check-PID-NANOS` in the cache's
    // `tmp/`, with the umask's permissions (not tempfile's 0o700).
    let tmp_parent = store.tmp_dir();
    fs::create_dir_all(&tmp_parent).at(&tmp_parent)?;
    let name = format!("check-{}-{}", std::process::id(), super::now_ns());
    let tmp = {
        let mut b = tempfile::Builder::new();
        b.prefix(&name).rand_bytes(0);
        #[cfg(unix)]
        b.permissions(std::os::unix::fs::PermissionsExt::from_mode(0o777));
        b.tempdir_in(&tmp_parent).at(tmp_parent.join(&name))?
    };
    for d in &step.deps {
        let now = fingerprint(repo, store, &d.path)?;
        match (&d.node, now) {
            (Some(r), Some(n)) if r.id == n.id => {}
            _ => {
                return Err(bad(format!(
                    "input '{}' is not as recorded; run `dv repro` first, or check out the revision the step ran at",
                    d.path
                )));
            }
        }
        copy_into(&repo.abs(&d.path), &tmp.path().join(&d.path))?;
    }
    let values = param_values(&step.params, |f| {
        crate::fsutil::read_if_exists(&repo.abs(f))
    })?;
    for (p, now) in step.params.iter().zip(values) {
        if p.value != now {
            return Err(bad(format!(
                "parameter '{}' is not as recorded; run `dv repro` first",
                p.label()
            )));
        }
        let dst = tmp.path().join(&p.file);
        if !dst.exists() {
            copy_into(&repo.abs(&p.file), &dst)?;
        }
    }
    let workdir = tmp.path().join(&step.workdir);
    fs::create_dir_all(&workdir).at(&workdir)?;
    for o in &step.outs {
        if let Some(parent) = tmp.path().join(&o.path).parent() {
            fs::create_dir_all(parent).at(parent)?;
        }
    }
    let started = std::time::Instant::now();
    let status = spawn(&step.command, &workdir, opts.child_output)
        .map_err(|e| bad(format!("cannot run '{}': {e}", step.command[0])))?;
    let duration_ms = started.elapsed().as_millis() as u64;
    let mut report = CheckReport {
        step: step.name.clone(),
        reproduces: false,
        outs: Vec::new(),
        failure: None,
        duration_ms,
    };
    if !status.success() {
        report.failure = Some(format!(
            "the command {} in a folder holding only the step's recorded inputs (is every input it reads \
             declared with -d?)",
            describe_status(&status)
        ));
        return Ok(report);
    }
    for o in &step.outs {
        let abs = tmp.path().join(&o.path);
        let got = if fs::symlink_metadata(&abs).is_ok() {
            Some(NodeRecord::of(&hash_path(&abs, &o.path, None)?))
        } else {
            None
        };
        let same = matches!((&o.node, &got), (Some(r), Some(g)) if r.id == g.id);
        report.outs.push(CheckedOutput {
            path: o.path.clone(),
            recorded: o.node,
            reproduced: got,
            same,
        });
    }
    report.reproduces = report.outs.iter().all(|o| o.same);
    Ok(report)
}

/// Copies a file or folder (regular files and folders only, keeping the executable bit).
fn copy_into(src: &Path, dst: &Path) -> Result<()> {
    let m = fs::symlink_metadata(src).at(src)?;
    if let Some(parent) = dst.parent() {
        fs::create_dir_all(parent).at(parent)?;
    }
    if m.is_dir() {
        fs::create_dir_all(dst).at(dst)?;
        for e in fs::read_dir(src).at(src)? {
            let e = e.at(src)?;
            copy_into(&e.path(), &dst.join(e.file_name()))?;
        }
        Ok(())
    } else if m.is_file() {
        fs::copy(src, dst).at(dst)?;
        Ok(())
    } else {
        Err(Error::BadPath {
            path: src.display().to_string(),
            reason: "not a regular file or folder".into(),
        })
    }
}

/// Which way `lineage` walks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    Upstream,
    Downstream,
    Both,
}

#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Edge {
    /// A path, or `step:NAME`.
    pub from: String,
    pub to: String,
}

#[derive(Clone, Debug, serde::Serialize)]
pub struct Lineage {
    pub path: String,
    /// The steps reached, in dependency order.
    pub steps: Vec<Step>,
    /// Input → step and step → output edges of those steps.
    pub edges: Vec<Edge>,
}

/// The steps that produced `path` (upstream) and the steps that use it (downstream), transitively.
pub fn lineage(steps: &Steps, path: &str, direction: Direction) -> Result<Lineage> {
    let mut reached: BTreeSet<usize> = BTreeSet::new();
    if direction != Direction::Downstream {
        let mut todo: Vec<String> = vec![path.to_string()];
        let mut seen_paths = BTreeSet::new();
        while let Some(p) = todo.pop() {
            if !seen_paths.insert(p.clone()) {
                continue;
            }
            for (i, s) in steps.steps.iter().enumerate() {
                if s.writes(&p) && reached.insert(i) {
                    todo.extend(s.deps.iter().map(|d| d.path.clone()));
                    todo.extend(s.params.iter().map(|p| p.file.clone()));
                }
            }
        }
    }
    if direction != Direction::Upstream {
        let mut todo: Vec<String> = vec![path.to_string()];
        let mut seen_paths = BTreeSet::new();
        let mut down = BTreeSet::new();
        while let Some(p) = todo.pop() {
            if !seen_paths.insert(p.clone()) {
                continue;
            }
            for (i, s) in steps.steps.iter().enumerate() {
                if s.reads(&p) && down.insert(i) {
                    todo.extend(s.outs.iter().map(|o| o.path.clone()));
                }
            }
        }
        reached.extend(down);
    }
    let order = steps.order()?;
    let mut out = Lineage {
        path: path.to_string(),
        steps: Vec::new(),
        edges: Vec::new(),
    };
    for i in order.into_iter().filter(|i| reached.contains(i)) {
        let s = &steps.steps[i];
        let node = format!("step:{}", s.name);
        for d in &s.deps {
            out.edges.push(Edge {
                from: d.path.clone(),
                to: node.clone(),
            });
        }
        for p in &s.params {
            out.edges.push(Edge {
                from: p.label(),
                to: node.clone(),
            });
        }
        for o in &s.outs {
            out.edges.push(Edge {
                from: node.clone(),
                to: o.path.clone(),
            });
        }
        out.steps.push(s.clone());
    }
    Ok(out)
}

fn no_step_writes(path: &str) -> Error {
    Error::BadPath {
        path: path.to_string(),
        reason: "no step writes it (steps are recorded by `dv run`)".into(),
    }
}
