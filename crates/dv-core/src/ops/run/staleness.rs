//! Staleness: whether a step's recorded run still matches the work tree (command, inputs, parameters,
//! outputs), and if not, why; `dv status` shows it for every step.

use super::fingerprint::fingerprint;
use super::load_steps;
use super::spawn::shell_words;
use crate::Result;
use crate::ops::datasets::Source;
use crate::repo::Repo;
use crate::session::Session;
use crate::steps::{Step, param_values};
use crate::store::Store;

words! {
    /// Whether a step's recorded run still matches the work tree.
    pub enum StepFreshness {
        UpToDate = "up-to-date",
        Stale = "stale",
        NeverRan = "never-ran",
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
        let now = fingerprint(repo, store, &d.path, step.layout)?;
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
        let now = fingerprint(repo, store, &o.path, step.layout)?;
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
pub fn step_states(s: &Session) -> Result<Vec<StepState>> {
    let (repo, store) = (s.repo(), s.store());
    let steps = load_steps(repo, &Source::WorkTree)?;
    let mut out = Vec::new();
    for i in steps.order()? {
        out.push(step_state(repo, store, &steps.steps[i])?);
    }
    Ok(out)
}
