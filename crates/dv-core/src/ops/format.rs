//! `dv format`: the repository format (`core.format` in `.dv/config.toml`), and moving a repository to the
//! newest one. Format 2 stores large folders and files as trees of small nodes (`store::split`); what format 1
//! wrote stays readable, and pointers and step files keep the format they were written in until their data
//! changes.

use crate::repo::{REPO_FORMAT, Repo};
use crate::store::split::Layout;
use crate::{Error, Result};

/// A repository's format, before and after `dv format upgrade`.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct FormatReport {
    /// The format before (for `dv format`, the format now).
    pub from: u64,
    /// The format after.
    pub to: u64,
    /// Whether `.dv/config.toml` was rewritten.
    pub changed: bool,
    /// Whether large folders and files are split into small nodes in the format after.
    pub split: bool,
}

/// The repository's format.
pub fn show(repo: &Repo) -> FormatReport {
    let f = repo.config.format;
    FormatReport {
        from: f,
        to: f,
        changed: false,
        split: repo.config.layout() == Layout::Split,
    }
}

/// Moves the repository to format `to` (the newest, [`REPO_FORMAT`], when `None`): `.dv/config.toml` is
/// rewritten, to be committed. Nothing else changes: what was added before stays as it is, readable, and each
/// dataset moves to the new format when its data changes and it is added again. A format is never lowered.
pub fn upgrade(repo: &mut Repo, to: Option<u64>) -> Result<FormatReport> {
    let from = repo.config.format;
    let to = to.unwrap_or(REPO_FORMAT);
    if to > REPO_FORMAT || to == 0 {
        return Err(Error::usage(format!(
            "format {to} is not one this dv writes (1 to {REPO_FORMAT})"
        )));
    }
    if to < from {
        return Err(Error::usage(format!(
            "the repository is at format {from}; a format is never lowered (older dv versions cannot read \
             what format {from} wrote)"
        )));
    }
    let changed = to != from;
    if changed {
        let mut config = repo.config.clone();
        config.format = to;
        repo.save_config(config)?;
    }
    Ok(FormatReport {
        from,
        to,
        changed,
        split: repo.config.layout() == Layout::Split,
    })
}
