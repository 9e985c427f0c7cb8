//! `dv run`, `dv repro`, `dv lineage` and the stale-step part of `dv status`: running a command as a recorded
//! step, telling which steps are out of date, re-running them in dependency order, checking that a step
//! reproduces its output, and walking the graph the steps make. This file holds what they share: the options
//! of a run and the loading of step files; each job is a module of its own (record, spawn, fingerprint,
//! staleness, repro, check, lineage, drift: the steps a dataset's version leaves out of date, for `dv diff`).
//!
//! Inputs and outputs are identified by the id dv would give them (`dv add`'s node id), computed from the work
//! tree: for tracked data whose pointer still matches, the pointer's id (cheap, through the stat cache); for
//! anything else (code tracked by Git, a plain folder) by hashing it as `add` would, without storing it.

use std::fs;

use super::datasets::Source;
use crate::error::IoContext;
use crate::progress::Progress;
use crate::repo::Repo;
use crate::steps::{STEPS_DIR, Step, Steps};
use crate::{Error, Result};

mod check;
mod drift;
mod fingerprint;
mod lineage;
mod record;
mod repro;
mod spawn;
mod staleness;

pub use check::{CheckReport, CheckedOutput, check};
pub use drift::{DriftSide, StaleStep, StepBefore, StepRole, stale_steps};
pub use fingerprint::{fingerprint, hash_path};
pub use lineage::{Direction, Edge, Lineage, lineage};
pub use record::{RunSpec, StepRun, execute, run};
pub use repro::{ReproAction, ReproOptions, ReproReport, ReproStep, repro};
pub use spawn::{ChildOutput, shell_words};
pub use staleness::{StepFreshness, StepState, step_state, step_states};

pub struct RunOptions<'a> {
    /// Stage the step file, pointer files and .gitignore files in Git's index.
    pub stage: bool,
    pub child_output: ChildOutput,
    pub progress: &'a dyn Progress,
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

fn no_step_writes(path: &str) -> Error {
    Error::BadPath {
        path: path.to_string(),
        reason: "no step writes it (steps are recorded by `dv run`)".into(),
    }
}
