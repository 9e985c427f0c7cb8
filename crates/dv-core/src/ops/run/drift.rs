//! The steps a dataset's version leaves out of date, for `dv diff`: a recorded step whose input or output at or
//! inside the dataset is not what a revision's pointer file names.
//!
//! Only data dv tracks is compared, which costs nothing beyond the pointer files and step files at the two
//! revisions (and, for a recorded path inside a dataset, the trees down to it). Code tracked by Git and parameter
//! values are left to `dv status`, which compares every input with the work tree.

use crate::Result;
use crate::ops::datasets::{Dataset, InVersion};
use crate::paths::is_within;
use crate::steps::{PathRecord, Step, Steps};
use crate::store::Store;

words! {
    /// What a step does with a path it records.
    pub enum StepRole {
        Input = "input",
        Output = "output",
    }
}

words! {
    /// How a step stood with a path at the first of the two revisions compared.
    pub enum StepBefore {
        /// The step's record matched that version.
        UpToDate = "up-to-date",
        /// It was already out of date there.
        Stale = "stale",
        /// The step, or its record of the path, did not exist there (or it had not run).
        Absent = "absent",
    }
}

/// A step out of date with a dataset's second version.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct StaleStep {
    /// The step's name.
    pub step: String,
    /// Whether the step reads or writes `path`.
    pub role: StepRole,
    /// The path the step records: the dataset's, or a path inside it.
    pub path: String,
    /// How the step (by name) stood with the first version; `up-to-date` means this change made it stale.
    pub before: StepBefore,
}

/// One side of the comparison: the steps recorded there and the dataset's version (`None`: not there).
pub type DriftSide<'a> = (&'a Steps, Option<&'a Dataset>);

/// The steps of `after` (those that have run) whose record of a path at or inside dataset `path` differs from
/// the dataset's version in `after`, each with how it stood in `before`. A recorded path the cache lacks the
/// trees to look up is left out: what cannot be told is not reported.
pub fn stale_steps(
    store: &Store,
    path: &str,
    before: DriftSide<'_>,
    after: DriftSide<'_>,
) -> Result<Vec<StaleStep>> {
    let mut out = Vec::new();
    for step in after.0.steps.iter().filter(|s| s.run.is_some()) {
        for (role, rec) in records(step) {
            if !is_within(&rec.path, path) || differs(store, rec, after.1)? != Some(true) {
                continue;
            }
            let was = before
                .0
                .get(&step.name)
                .filter(|s| s.run.is_some())
                .and_then(|s| records(s).find(|(r, p)| *r == role && p.path == rec.path));
            let before = match was {
                None => StepBefore::Absent,
                Some((_, rec)) => match differs(store, rec, before.1)? {
                    Some(true) => StepBefore::Stale,
                    Some(false) => StepBefore::UpToDate,
                    None => StepBefore::Absent,
                },
            };
            out.push(StaleStep {
                step: step.name.clone(),
                role,
                path: rec.path.clone(),
                before,
            });
        }
    }
    Ok(out)
}

fn records(step: &Step) -> impl Iterator<Item = (StepRole, &PathRecord)> {
    let deps = step.deps.iter().map(|d| (StepRole::Input, d));
    deps.chain(step.outs.iter().map(|o| (StepRole::Output, o)))
}

/// Whether `rec` disagrees with what `dataset` holds at its path (nothing there disagrees too); `None` when the
/// cache lacks a tree on the way.
fn differs(store: &Store, rec: &PathRecord, dataset: Option<&Dataset>) -> Result<Option<bool>> {
    let now = match dataset {
        None => None,
        Some(d) => match d.node_at(store, &rec.path) {
            Ok(InVersion::Node(n)) => Some(n),
            Ok(_) => None,
            Err(crate::Error::MissingObjects { .. }) => return Ok(None),
            Err(e) => return Err(e),
        },
    };
    Ok(Some(match (&rec.node, now) {
        (Some(r), Some(n)) => r.id != n.id,
        _ => true,
    }))
}
