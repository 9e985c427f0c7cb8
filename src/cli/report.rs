//! What `dv diff` reports: the values `--json` serializes and `--html` renders (src/cli/html/diff.rs), so both
//! carry the same content.

use dv_core::ops::run::StaleStep;
use dv_core::ops::treediff::{self, DatasetChange};

/// One dataset compared between two versions: one element of `dv diff --json`'s list.
#[derive(serde::Serialize)]
pub struct DatasetDiff {
    pub path: String,
    pub state: DatasetChange,
    pub summary: treediff::Summary,
    /// Tree objects read to compute this diff.
    pub trees_read: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub files: Option<Vec<treediff::FileDiff>>,
    /// For a table: the row-level diff.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub table: Option<dv_core::table::diff::TableDiff>,
    /// For a `.safetensors` file: the tensor-level diff.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub model: Option<dv_core::model::ModelDiff>,
    /// Recorded steps whose input or output in this dataset the second version leaves out of date.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub stale_steps: Vec<StaleStep>,
}

/// One side of the comparison, as the report's heading names it.
pub struct Side {
    /// The revision as the user wrote it, or `None` for the work tree's pointer files.
    pub rev: Option<String>,
    /// The commit it resolved to.
    pub commit: Option<dv_core::git::CommitInfo>,
}

/// What was compared with what.
pub struct Compared {
    pub from: Side,
    pub to: Side,
    /// The paths the comparison was limited to (none: every dataset).
    pub paths: Vec<String>,
}
