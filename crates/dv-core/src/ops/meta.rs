//! Annotations: the `[meta]` table of a pointer file (owner, license, metrics, a description). Setting or
//! removing one rewrites only the pointer file, atomically; the data and the cache are not touched.

use std::collections::BTreeMap;

use super::datasets::{Dataset, Source, enclosing_dataset};
use crate::paths::POINTER_SUFFIX;
use crate::pointer::{self, MAX_META_ENTRIES, Pointer, TableRef};
use crate::repo::Repo;
use crate::session::Locked;
use crate::store::object::{Node, NodeKind};
use crate::{Error, ObjectId, Result};

#[derive(Clone, Debug, serde::Serialize)]
pub struct MetaReport {
    /// Repository path of the data.
    pub path: String,
    pub pointer: String,
    /// The annotations after the command, sorted by key.
    pub meta: BTreeMap<String, String>,
    /// False when the pointer file already said this (it was not rewritten).
    pub changed: bool,
    /// `unset`: keys that were not set.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub absent: Vec<String>,
    /// The pointer file was staged in Git's index.
    pub staged: bool,
}

/// Parses `KEY=VALUE` (the value may be empty and may hold `=`).
pub fn parse_entry(text: &str) -> Result<(String, String)> {
    let bad = |message: String| Error::BadAnnotation {
        what: format!("'{text}'"),
        message,
    };
    let Some((key, value)) = text.split_once('=') else {
        return Err(bad("expected KEY=VALUE".into()));
    };
    if let Some(m) = pointer::meta_key_problem(key) {
        return Err(bad(m));
    }
    Ok((key.to_string(), value.to_string()))
}

/// Checks one annotation about to be written on `path`: key, value, and that it does not look like a secret.
pub fn check_entry(path: &str, key: &str, value: &str) -> Result<()> {
    let problem = pointer::meta_key_problem(key)
        .or_else(|| pointer::meta_value_problem(key, value))
        .or_else(|| pointer::secret_problem(key, value));
    match problem {
        None => Ok(()),
        Some(message) => Err(Error::BadAnnotation {
            what: format!("'{path}'"),
            message,
        }),
    }
}

/// `base` with `entries` set (later entries win), each checked; refuses more than 64 annotations.
pub fn merged(
    path: &str,
    mut base: BTreeMap<String, String>,
    entries: &[(String, String)],
) -> Result<BTreeMap<String, String>> {
    for (k, v) in entries {
        check_entry(path, k, v)?;
        base.insert(k.clone(), v.clone());
    }
    if base.len() > MAX_META_ENTRIES {
        return Err(Error::BadAnnotation {
            what: format!("'{path}'"),
            message: format!("{} annotations, more than {MAX_META_ENTRIES}", base.len()),
        });
    }
    Ok(base)
}

/// Checks that a pointer with these annotations (and `table`) stays within the pointer size limit, whatever
/// its data turns out to be.
pub fn check_fits(
    path: &str,
    table: Option<TableRef>,
    meta: &BTreeMap<String, String>,
) -> Result<()> {
    let largest = Pointer {
        node: Node {
            kind: NodeKind::Tree,
            id: ObjectId([0; 32]),
            size: u64::MAX,
            files: u64::MAX,
            exec: false,
        },
        table,
        meta: meta.clone(),
        layout: crate::store::split::Layout::Split,
        source: None,
    };
    largest
        .encode_checked(&format!("{path}{POINTER_SUFFIX}"))
        .map(|_| ())
        .map_err(|e| match e {
            Error::Format { message, .. } => Error::BadAnnotation {
                what: format!("'{path}'"),
                message,
            },
            e => e,
        })
}

/// The dataset `path` names (its data path or its pointer file) in `source`. A path inside a tracked folder
/// is refused: annotations belong to a whole dataset.
fn dataset(repo: &Repo, source: &Source<'_>, path: &str) -> Result<Dataset> {
    if let Some(data) = path.strip_suffix(POINTER_SUFFIX)
        && let Some(d) = source.read_pointer(repo, data)?
    {
        return Ok(d);
    }
    if let Some(d) = source.read_pointer(repo, path)? {
        return Ok(d);
    }
    if matches!(source, Source::WorkTree)
        && let Some(d) = enclosing_dataset(repo, path)?
    {
        return Err(Error::BadPath {
            path: path.to_string(),
            reason: format!(
                "it lies inside dataset '{}'; annotations belong to a whole dataset, so name '{}'",
                d.path, d.path
            ),
        });
    }
    Err(match source {
        Source::WorkTree => Error::NotTracked(path.to_string()),
        Source::Rev { commit, .. } => Error::NotTrackedAt {
            path: path.to_string(),
            rev: commit.rev.clone(),
        },
    })
}

/// The annotations of the dataset at `path`, from the work tree's pointer file or one at a revision.
pub fn show(repo: &Repo, source: &Source<'_>, path: &str) -> Result<MetaReport> {
    let d = dataset(repo, source, path)?;
    Ok(MetaReport {
        pointer: d.pointer_path(),
        path: d.path,
        meta: d.pointer.meta,
        changed: false,
        absent: Vec::new(),
        staged: false,
    })
}

/// Sets annotations on the dataset at `path` (keeping the others). With `stage`, a rewritten pointer file is
/// staged in Git's index.
pub fn set(
    s: &Locked<'_>,
    path: &str,
    entries: &[(String, String)],
    stage: bool,
) -> Result<MetaReport> {
    let d = dataset(s.repo(), &Source::WorkTree, path)?;
    let meta = merged(&d.path, d.pointer.meta.clone(), entries)?;
    check_fits(&d.path, d.pointer.table.clone(), &meta)?;
    rewrite(s, d, meta, Vec::new(), stage)
}

/// Removes annotations from the dataset at `path`; keys that are not set are reported, not an error.
pub fn unset(s: &Locked<'_>, path: &str, keys: &[String], stage: bool) -> Result<MetaReport> {
    let d = dataset(s.repo(), &Source::WorkTree, path)?;
    let mut meta = d.pointer.meta.clone();
    let mut absent = Vec::new();
    for k in keys {
        if meta.remove(k).is_none() && !absent.contains(k) {
            absent.push(k.clone());
        }
    }
    rewrite(s, d, meta, absent, stage)
}

/// Writes the pointer of `d` with `meta` (only when that changes it) and, with `stage`, stages it, changed or
/// not (see [`super::pointers::Staging::write_pointer`]).
fn rewrite(
    s: &Locked<'_>,
    d: Dataset,
    meta: BTreeMap<String, String>,
    absent: Vec<String>,
    stage: bool,
) -> Result<MetaReport> {
    let pointer_path = d.pointer_path();
    let p = Pointer {
        meta: meta.clone(),
        ..d.pointer
    };
    // Staging must be possible before the pointer changes (Git's index not locked, the pointer not ignored).
    let repo = s.repo();
    let git = match stage {
        true => Some(s.git()?),
        false => None,
    };
    if let Some(git) = git {
        git.check_stageable(std::slice::from_ref(&pointer_path))?;
    }
    let mut staging = super::pointers::Staging::default();
    let changed = staging.write_pointer(repo, &pointer_path, &p)?;
    let staged = !staging.stage(repo, git)?.is_empty();
    Ok(MetaReport {
        path: d.path,
        pointer: pointer_path,
        meta,
        changed,
        absent,
        staged,
    })
}
