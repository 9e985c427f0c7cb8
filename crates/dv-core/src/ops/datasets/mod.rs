//! Finding tracked datasets: pointer files in the work tree, and what the paths a user names refer to.
//!
//! dataset.rs is what was found (a `Dataset`, a `Target`, what a version holds at a path); discover.rs finds
//! pointer files in the work tree or at a revision (one dataset per folder: it never looks inside a dataset's
//! folder); resolve.rs turns the paths a user names into targets; not_pointer.rs is every `*.dv` file that
//! makes no dataset, with its problem, and the refusal of a malformed one.

mod dataset;
mod discover;
mod not_pointer;
mod resolve;

pub use dataset::{Dataset, InVersion, Target, check_named_held};
pub use discover::{Source, enclosing_dataset, find_datasets, read_pointer};
pub use not_pointer::{NotPointer, PointerProblem, refuse_malformed, refuse_unrestorable};
pub use resolve::{resolve_targets, resolve_targets_noting};
