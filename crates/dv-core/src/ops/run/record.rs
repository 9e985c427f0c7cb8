//! `dv run`: checking a new step, running it in the work tree, adding its outputs and writing its step file
//! with what it used and made (never a credential: step files are committed to Git).

use std::collections::BTreeSet;
use std::fs;

use super::fingerprint::fingerprint;
use super::spawn::{describe_status, shell_words, spawn};
use super::{RunOptions, load_steps};
use crate::error::IoContext;
use crate::ops::datasets::Source;
use crate::session::Session;
use crate::steps::{
    NodeRecord, Param, PathRecord, RunRecord, STEPS_DIR, Step, Steps, check_param_key,
    check_step_name, check_step_path, param_values,
};
use crate::{Error, ObjectId, Result};

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
pub fn run(s: &Session, spec: RunSpec, opts: &RunOptions<'_>) -> Result<StepRun> {
    let repo = s.repo();
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
        layout: repo.config.layout(),
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
    execute(s, &step, opts)
}

/// Runs `step` in the work tree, then adds its outputs and rewrites its step file with what it used and made.
/// A command that fails, or does not write every output, records nothing and adds nothing.
pub fn execute(s: &Session, step: &Step, opts: &RunOptions<'_>) -> Result<StepRun> {
    let (repo, store) = (s.repo(), s.store());
    let bad = |message: String| Error::Step {
        name: step.name.clone(),
        message,
    };
    let git = s.git()?;
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
        let node = fingerprint(repo, store, &d.path, repo.config.layout())?
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
            let why = if repo.abs(&p.file).exists() {
                format!("{} has no key {}", p.file, p.key)
            } else {
                format!("there is no file {}", p.file)
            };
            bad(format!("parameter '{}' is not set ({why})", p.label()))
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

    let started = std::time::Instant::now();
    let status = spawn(step, &repo.root, opts.child_output)
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

    let locked = s.lock()?;
    let out_paths: Vec<String> = step.outs.iter().map(|o| o.path.clone()).collect();
    if opts.stage {
        // The step file is staged after the outputs' add: check it can be before anything is written.
        git.check_stageable(&[Step::file_path(&step.name)])?;
    }
    let added = crate::ops::add::add(
        &locked,
        &out_paths,
        &crate::ops::add::AddOptions {
            stage: opts.stage,
            ..Default::default()
        },
        opts.progress,
    )?;
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
        // The ids above were computed in the repository's layout.
        layout: repo.config.layout(),
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
