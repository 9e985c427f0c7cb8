//! `dv log`: the commits that changed a dataset's pointer file, newest first, with what changed each time.

use std::collections::HashMap;

use super::treediff::{self, Summary};
use crate::Result;
use crate::git::{Commit, CommitInfo, GitRepo};
use crate::paths::POINTER_SUFFIX;
use crate::pointer::Pointer;
use crate::store::Store;
use crate::store::object::{Node, NodeKind};

words! {
    /// What a commit did to a dataset's pointer file.
    pub enum VersionState {
        Added = "added",
        Modified = "modified",
        Deleted = "deleted",
    }
}

words! {
    /// What happened to one row (the one `--row` asks for) in a table version.
    pub enum RowState {
        Added = "added",
        Modified = "modified",
        Deleted = "deleted",
        Unchanged = "unchanged",
        /// Neither this version nor the one before has the row.
        Absent = "absent",
    }
}

#[derive(Clone, Debug, serde::Serialize)]
pub struct Version {
    pub commit: CommitInfo,
    pub state: VersionState,
    /// What the pointer names (absent for `deleted`).
    pub kind: Option<NodeKind>,
    pub size: Option<u64>,
    pub files: Option<u64>,
    /// Against the previous (older) version; absent when the cache lacks the objects to tell.
    pub changes: Option<Summary>,
    /// For a table: its rows and the row changes against the previous version.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub table: Option<TableVersion>,
    /// With a row key asked for: what happened to that row in this version.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub row: Option<RowVersion>,
    /// The pointer's annotations (`[meta]`) in this version.
    #[serde(skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub meta: std::collections::BTreeMap<String, String>,
}

#[derive(Clone, Debug, serde::Serialize)]
pub struct TableVersion {
    pub rows: u64,
    /// Absent for the first version, a key change, or when the cache lacks a version's table objects.
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    pub changes: Option<crate::store::statedb::RowCounts>,
}

#[derive(Clone, Debug, serde::Serialize)]
pub struct RowVersion {
    pub change: RowState,
    /// The row in this version (column, value), when it has it.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub row: Vec<(String, crate::table::Cell)>,
    /// For `modified`: the cells that changed.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub cells: Vec<crate::table::diff::CellChange>,
}

#[derive(Clone, Debug, serde::Serialize)]
pub struct DatasetLog {
    pub path: String,
    pub versions: Vec<Version>,
}

/// The versions of each dataset path in the history of `start`.
pub fn log(
    git: &GitRepo,
    store: &Store,
    start: &Commit,
    paths: &[String],
    row_key: Option<&[String]>,
) -> Result<Vec<DatasetLog>> {
    log_with(git, store, start, paths, row_key, &Default::default())
}

/// What a commit holds for a dataset path: its pointer file's blob, or (a commit from before `dv migrate dvc
/// --all-commits` or `dv migrate lfs --all-commits`) the DVC object its `.dvc` file or `dvc.lock` records, or
/// the git-lfs object its LFS pointer file names, which the maps turn into a pointer.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
enum Held {
    Blob(gix::ObjectId),
    Dvc(crate::migrate::dvc::Md5),
    Lfs(String),
}

/// [`log`], also reading commits that only have DVC's records or git-lfs's pointer files of a path, through the
/// maps `migrated` holds (see `crate::migrate::map`, `crate::migrate::lfs::LfsMap`).
pub fn log_with(
    git: &GitRepo,
    store: &Store,
    start: &Commit,
    paths: &[String],
    row_key: Option<&[String]>,
    migrated: &crate::migrate::Maps,
) -> Result<Vec<DatasetLog>> {
    let (dvc, lfs) = (migrated.dvc.as_ref(), migrated.lfs.as_ref());
    let history = git.history(start)?;
    let mut out = Vec::new();
    for path in paths {
        let pointer_path = format!("{path}{POINTER_SUFFIX}");
        let mut at: HashMap<gix::ObjectId, Option<Held>> = HashMap::new();
        let mut blob_at = |id: gix::ObjectId| -> Result<Option<Held>> {
            if let Some(b) = at.get(&id) {
                return Ok(b.clone());
            }
            let mut b = git.blob_id_at(id, &pointer_path)?.map(Held::Blob);
            if b.is_none()
                && let Some(map) = dvc
            {
                let commit = Commit {
                    id,
                    rev: id.to_string(),
                };
                b = crate::migrate::map::record_at(git, &commit, path)?
                    .filter(|o| map.pointer_of(o).is_some())
                    .and_then(|o| o.md5)
                    .map(Held::Dvc);
            }
            if b.is_none()
                && let Some(map) = lfs
                && let Some(blob) = git.blob_id_at(id, path)?
                && git.blob_size(blob)? <= crate::migrate::lfs::MAX_LFS_POINTER as u64
            {
                let data = git.blob(blob)?;
                b = crate::migrate::lfs::parse_pointer(&data)
                    .filter(|_| map.pointer_of(&data).is_some())
                    .map(|p| Held::Lfs(p.oid));
            }
            at.insert(id, b.clone());
            Ok(b)
        };
        let mut pointers: HashMap<Held, Pointer> = HashMap::new();
        let mut pointer_of = |held: Held| -> Result<Pointer> {
            if let Some(p) = pointers.get(&held) {
                return Ok(p.clone());
            }
            let p = match &held {
                Held::Blob(blob) => Pointer::decode(&git.blob(*blob)?, &pointer_path)?,
                Held::Dvc(md5) => dvc
                    .and_then(|m| m.entries.get(md5))
                    .map(|(layout, node)| Pointer::of_node(*node, *layout))
                    .ok_or_else(|| crate::Error::Internal(format!("{md5} left the DVC map")))?,
                Held::Lfs(oid) => lfs
                    .and_then(|m| m.entries.get(oid))
                    .map(|(layout, node)| Pointer::of_node(*node, *layout))
                    .ok_or_else(|| crate::Error::Internal(format!("{oid} left the LFS map")))?,
            };
            pointers.insert(held, p.clone());
            Ok(p)
        };
        // Commits whose pointer differs from every parent's (as `git log -- PATH` selects them).
        // (commit, its pointer blob, the first parent's pointer blob)
        let mut touched: Vec<(gix::ObjectId, Option<Held>, Option<Held>)> = Vec::new();
        for (id, parents) in &history {
            let mine = blob_at(*id)?;
            let changed = if parents.is_empty() {
                mine.is_some()
            } else {
                let mut all_differ = true;
                for p in parents {
                    let theirs = blob_at(*p)?;
                    // A DVC record or LFS pointer file and the pointer file that replaced it are one version
                    // when they name the same data (the commit of the migration changes no dataset).
                    let same = match (&theirs, &mine) {
                        (Some(a), Some(b))
                            if std::mem::discriminant(a) != std::mem::discriminant(b) =>
                        {
                            let (a, b) = (pointer_of(a.clone())?, pointer_of(b.clone())?);
                            a.node == b.node && a.meta == b.meta && a.table == b.table
                        }
                        _ => theirs == mine,
                    };
                    if same {
                        all_differ = false;
                        break;
                    }
                }
                all_differ
            };
            if changed {
                let before = match parents.first() {
                    Some(p) => blob_at(*p)?,
                    None => None,
                };
                touched.push((*id, mine, before));
            }
        }
        let mut versions = Vec::with_capacity(touched.len());
        for (id, blob, before) in &touched {
            let pointer = blob.clone().map(&mut pointer_of).transpose()?;
            let older_pointer = before.clone().map(&mut pointer_of).transpose()?;
            let node: Option<Node> = pointer.as_ref().map(|p| p.node);
            let older: Option<Node> = older_pointer.as_ref().map(|p| p.node);
            let (t_new, t_old) = (
                pointer.as_ref().and_then(|p| p.table.as_ref()),
                older_pointer.as_ref().and_then(|p| p.table.as_ref()),
            );
            let table = match (t_new, t_old) {
                (Some(n), Some(o))
                    if n.key == o.key && store.contains(&n.id)? && store.contains(&o.id)? =>
                {
                    Some(TableVersion {
                        rows: n.rows,
                        changes: Some(super::table::row_counts(store, &o.id, &n.id)?),
                    })
                }
                (Some(n), _) => Some(TableVersion {
                    rows: n.rows,
                    changes: None,
                }),
                _ => None,
            };
            let row = match row_key {
                Some(key) => row_version(store, t_old, t_new, key)?,
                None => None,
            };
            let state = match (&older, &node) {
                (_, None) => VersionState::Deleted,
                (None, Some(_)) => VersionState::Added,
                _ => VersionState::Modified,
            };
            let diff = treediff::diff(store, path, older.as_ref(), node.as_ref())?;
            versions.push(Version {
                commit: git.commit_info(*id)?,
                state,
                kind: node.map(|n| n.kind),
                size: node.map(|n| n.size),
                files: node.map(|n| n.files),
                changes: diff.missing.is_empty().then(|| diff.summary()),
                table,
                row,
                meta: pointer.map(|p| p.meta).unwrap_or_default(),
            });
        }
        out.push(DatasetLog {
            path: path.clone(),
            versions,
        });
    }
    Ok(out)
}

/// A table version's header and one of its rows.
type HeaderRow = (crate::table::Header, Vec<crate::table::Cell>);

/// What happened to the row with `key` between two table versions (None when the cache lacks either).
fn row_version(
    store: &Store,
    older: Option<&crate::pointer::TableRef>,
    newer: Option<&crate::pointer::TableRef>,
    key: &[String],
) -> Result<Option<RowVersion>> {
    let keys: Vec<&str> = key.iter().map(String::as_str).collect();
    let get = |t: Option<&crate::pointer::TableRef>| -> Result<Option<Option<HeaderRow>>> {
        let Some(t) = t else { return Ok(Some(None)) };
        if !store.contains(&t.id)? {
            return Ok(None);
        }
        let h = crate::table::read_header(store, &t.id)?;
        if h.key.len() != keys.len() {
            return Err(crate::Error::usage(format!(
                "--row: the table's key has {} column(s) ({}); give that many values, separated by commas",
                h.key.len(),
                h.key.join(", ")
            )));
        }
        Ok(Some(
            super::table::lookup_row(store, &h, &keys)?.map(|r| (h, r)),
        ))
    };
    let (Some(old), Some(new)) = (get(older)?, get(newer)?) else {
        return Ok(None);
    };
    let named = |h: &crate::table::Header,
                 r: Vec<crate::table::Cell>|
     -> Vec<(String, crate::table::Cell)> {
        h.columns.iter().map(|c| c.name.clone()).zip(r).collect()
    };
    Ok(Some(match (old, new) {
        (None, None) => RowVersion {
            change: RowState::Absent,
            row: vec![],
            cells: vec![],
        },
        (None, Some((h, r))) => RowVersion {
            change: RowState::Added,
            row: named(&h, r),
            cells: vec![],
        },
        (Some(_), None) => RowVersion {
            change: RowState::Deleted,
            row: vec![],
            cells: vec![],
        },
        (Some((ho, ro)), Some((hn, rn))) => {
            let old_row = named(&ho, ro);
            let new_row = named(&hn, rn);
            let cells: Vec<crate::table::diff::CellChange> = new_row
                .iter()
                .filter_map(|(n, v)| {
                    let old = old_row.iter().find(|(o, _)| o == n).map(|(_, c)| c.clone());
                    match old {
                        Some(o) if &o == v => None,
                        Some(o) => Some(crate::table::diff::CellChange {
                            column: n.clone(),
                            old: o,
                            new: v.clone(),
                        }),
                        None => Some(crate::table::diff::CellChange {
                            column: n.clone(),
                            old: None,
                            new: v.clone(),
                        }),
                    }
                })
                .collect();
            let change = if cells.is_empty() {
                RowState::Unchanged
            } else {
                RowState::Modified
            };
            RowVersion {
                change,
                row: new_row,
                cells,
            }
        }
    }))
}
