//! `dv repro`: re-running the stale steps that lead to some outputs, in dependency order (or, in a dry run,
//! saying which would run and why).

use std::collections::BTreeSet;

use super::record::execute;
use super::staleness::step_state;
use super::{RunOptions, load_steps, no_step_writes};
use crate::Result;
use crate::ops::datasets::Source;
use crate::session::Session;
use crate::steps::Steps;

words! {
    /// What `dv repro` did with a step.
    pub enum ReproAction {
        Ran = "ran",
        /// A dry run: it would have run.
        WouldRun = "would-run",
        UpToDate = "up-to-date",
    }
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

/// What [`repro`] does besides running the stale steps.
#[derive(Clone, Copy, Debug, Default)]
pub struct ReproOptions {
    /// Run every step that leads to the targets, stale or not.
    pub force: bool,
    /// Only report what would run (and why); run nothing, change nothing.
    pub dry_run: bool,
}

/// Re-runs the stale steps that lead to `targets` (repository paths of outputs; every step when empty), in
/// dependency order. A step whose inputs an earlier step changed becomes stale then and runs too.
pub fn repro(
    session: &Session,
    targets: &[String],
    how: &ReproOptions,
    opts: &RunOptions<'_>,
) -> Result<ReproReport> {
    let (repo, store) = (session.repo(), session.store());
    let ReproOptions { force, dry_run } = *how;
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
        let done = execute(session, step, opts)?;
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
