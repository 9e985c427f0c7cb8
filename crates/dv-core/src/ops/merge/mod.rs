//! Merging pointer files the way Git merges text: `dv merge-driver`, which Git calls for `*.dv` files once
//! `dv install` has registered it (`.gitattributes` says `*.dv merge=dv`, the clone's Git config names the
//! command), and `dv checkout --ours/--theirs`, which settles what it left in conflict.
//!
//! A dataset changed on one side takes that side; folders changed on both are merged on their tree objects
//! (tree.rs), fetching trees the cache lacks; anything else changed on both sides is a conflict. A file named
//! like a pointer file that is none (a DV video) goes to Git's own text merge, untouched by dv.
//!
//! On a conflict the driver leaves, in place of the pointer file, both sides' pointer files between Git's
//! conflict markers, after comment lines naming each conflicting path: every dv command reads that as a
//! conflicted pointer (reported by `status`, refused by commands that would act on it), and Git's index keeps
//! the three versions, from which `dv checkout --ours/--theirs` merges again, settling the conflicts only.

use std::collections::BTreeMap;
use std::path::Path;

use crate::paths::POINTER_SUFFIX;
use crate::pointer::Pointer;
use crate::session::Locked;
use crate::store::object::Node;
use crate::{Error, Result};

mod model;
mod rules;
mod table;
mod tree;

pub use model::TensorConflict;
pub use rules::{ConflictKind, Favor};
pub use table::RowConflict;
pub use tree::Conflict;
use tree::TreeMerge;

/// A `[meta]` key changed differently on both sides.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct MetaConflict {
    pub key: String,
    pub base: Option<String>,
    pub ours: Option<String>,
    pub theirs: Option<String>,
}

/// The merge of one pointer file: the merged pointer (our side wherever a conflict remains) and what
/// conflicts.
#[derive(Clone, Debug)]
pub struct Merged {
    pub pointer: Pointer,
    pub conflicts: Vec<Conflict>,
    /// Rows and cells of a table merged row by row.
    pub row_conflicts: Vec<RowConflict>,
    /// Tensors of a model merged tensor by tensor.
    pub tensor_conflicts: Vec<TensorConflict>,
    pub meta_conflicts: Vec<MetaConflict>,
}

impl Merged {
    pub fn is_clean(&self) -> bool {
        self.conflict_count() == 0
    }

    /// How many conflicts there are, of every kind.
    pub fn conflict_count(&self) -> usize {
        self.conflicts.len()
            + self.row_conflicts.len()
            + self.tensor_conflicts.len()
            + self.meta_conflicts.len()
    }
}

/// Merges the pointers of dataset `path` (`base`: `None` when the sides have no common version of it), new
/// trees written to `sink`.
pub fn merge_pointers(
    s: &Locked<'_>,
    sink: &mut dyn crate::store::object::NodeSink,
    path: &str,
    base: Option<&Pointer>,
    ours: &Pointer,
    theirs: &Pointer,
    favor: Favor,
) -> Result<Merged> {
    let clean = |pointer: &Pointer| Merged {
        pointer: pointer.clone(),
        conflicts: Vec::new(),
        row_conflicts: Vec::new(),
        tensor_conflicts: Vec::new(),
        meta_conflicts: Vec::new(),
    };
    if let Some(side) = rules::three_way(&base, &Some(ours), &Some(theirs)) {
        return Ok(clean(side.expect("both sides have a pointer")));
    }
    let mut tm = TreeMerge {
        store: s.store(),
        layout: ours.layout,
        favor,
        conflicts: Vec::new(),
        tensor_conflicts: Vec::new(),
    };
    let base_node = base.map(|b| b.node);
    // Merged as a whole (one side or the other): a table (its rows and its file must agree), an import (its
    // data is its source's at one commit), pointers in two layouts (their ids differ for the same content).
    let whole = ours.table.is_some()
        || theirs.table.is_some()
        || ours.source.is_some()
        || theirs.source.is_some()
        || ours.layout != theirs.layout;
    let data_changed_both =
        base_node != Some(ours.node) && base_node != Some(theirs.node) && ours.node != theirs.node;
    // A keyed table changed on both sides: merged row by row when its versions allow.
    let by_rows = if whole
        && data_changed_both
        && ours.source.is_none()
        && theirs.source.is_none()
        && ours.layout == theirs.layout
    {
        table::merge_table(s, sink, path, base, ours, theirs, favor)?
    } else {
        None
    };
    let mut row_conflicts = Vec::new();
    let (node, table, source, layout) = if let Some(m) = by_rows {
        row_conflicts = m.conflicts;
        (m.node, Some(m.table), None, ours.layout)
    } else if whole && (data_changed_both || ours.source != theirs.source) {
        let kind = if base.is_none() {
            ConflictKind::Added
        } else {
            ConflictKind::Modified
        };
        let side = match favor {
            Favor::Theirs => theirs,
            Favor::Ours => ours,
        };
        tm.conflicts.push(Conflict {
            path: path.to_string(),
            kind,
            base: base_node,
            ours: Some(ours.node),
            theirs: Some(theirs.node),
        });
        (
            side.node,
            side.table.clone(),
            side.source.clone(),
            side.layout,
        )
    } else {
        // The data changed on one side at most, or both are plain folders or files merged below.
        let node = match tm.merge(sink, path, base_node, Some(ours.node), Some(theirs.node))? {
            Some(n) => n,
            // Every file gone: the dataset stays, an empty folder.
            None => Node {
                kind: crate::store::object::NodeKind::Tree,
                id: crate::store::split::put_tree(&[], ours.layout, sink)?,
                size: 0,
                files: 0,
                exec: false,
            },
        };
        let from = if node == theirs.node { theirs } else { ours };
        (node, from.table.clone(), from.source.clone(), from.layout)
    };
    let (meta, meta_conflicts) = merge_meta(base.map(|b| &b.meta), &ours.meta, &theirs.meta, favor);
    Ok(Merged {
        pointer: Pointer {
            node,
            table,
            meta,
            layout,
            source,
        },
        conflicts: tm.conflicts,
        row_conflicts,
        tensor_conflicts: tm.tensor_conflicts,
        meta_conflicts,
    })
}

/// Three-way merge of `[meta]`, key by key.
fn merge_meta(
    base: Option<&BTreeMap<String, String>>,
    ours: &BTreeMap<String, String>,
    theirs: &BTreeMap<String, String>,
    favor: Favor,
) -> (BTreeMap<String, String>, Vec<MetaConflict>) {
    let empty = BTreeMap::new();
    let base = base.unwrap_or(&empty);
    let mut keys: Vec<&String> = base
        .keys()
        .chain(ours.keys())
        .chain(theirs.keys())
        .collect();
    keys.sort();
    keys.dedup();
    let (mut out, mut conflicts) = (BTreeMap::new(), Vec::new());
    for k in keys {
        let (b, o, t) = (base.get(k), ours.get(k), theirs.get(k));
        let value = match rules::three_way(&b, &o, &t) {
            Some(side) => *side,
            None => {
                conflicts.push(MetaConflict {
                    key: k.clone(),
                    base: b.cloned(),
                    ours: o.cloned(),
                    theirs: t.cloned(),
                });
                match favor {
                    Favor::Ours => o,
                    Favor::Theirs => t,
                }
            }
        };
        if let Some(v) = value {
            out.insert(k.clone(), v.clone());
        }
    }
    (out, conflicts)
}

words! {
    /// What `dv merge-driver` did with one pointer file.
    pub enum DriverOutcome {
        /// Merged: the result is in place of our side.
        Merged = "merged",
        /// Conflicts remain: both sides are in place of our side, between conflict markers.
        Conflict = "conflict",
        /// Not all three were pointer files: merged by Git's text merge (`git merge-file`).
        Text = "text",
    }
}

/// What `dv merge-driver` did.
#[derive(Clone, Debug, serde::Serialize)]
pub struct DriverReport {
    /// The pointer file's repository path.
    pub path: String,
    pub outcome: DriverOutcome,
    pub conflicts: Vec<Conflict>,
    /// Rows and cells of a table merged row by row.
    pub row_conflicts: Vec<RowConflict>,
    /// Tensors of a model merged tensor by tensor.
    pub tensor_conflicts: Vec<TensorConflict>,
    pub meta_conflicts: Vec<MetaConflict>,
    /// What a text merge left in conflict (`Text` only).
    pub text_conflicts: u32,
    /// Trees fetched from the remote because the cache lacked them.
    pub fetched_objects: u64,
    /// Why the sides could not be merged at all (a side that is no readable pointer file), when so.
    pub problem: Option<String>,
}

/// Git's merge driver for pointer file `path` (Git's `%P`): merges the files `base_file`, `ours_file` and
/// `theirs_file` (`%O`, `%A`, `%B`), writing the result over `ours_file`. `remote` is opened when the cache
/// lacks trees the merge reads.
pub fn driver(
    s: &Locked<'_>,
    base_file: &Path,
    ours_file: &Path,
    theirs_file: &Path,
    path: &str,
    remote: &dyn Fn() -> Result<crate::remote::Remote>,
) -> Result<DriverReport> {
    let read = |p: &Path| std::fs::read(p).map_err(|e| Error::io(p, e));
    let (b, o, t) = (read(base_file)?, read(ours_file)?, read(theirs_file)?);
    let data_path = path.strip_suffix(POINTER_SUFFIX);
    let decode = |bytes: &[u8], side: &str| -> Result<Pointer> {
        let p = Pointer::decode(bytes, &format!("{path} ({side})"))?;
        if let Some(why) = p.source.as_ref().and_then(|s| s.problem()) {
            return Err(Error::format(format!("{path} ({side})"), why));
        }
        Ok(p)
    };
    let mut report = DriverReport {
        path: path.to_string(),
        outcome: DriverOutcome::Merged,
        conflicts: Vec::new(),
        row_conflicts: Vec::new(),
        tensor_conflicts: Vec::new(),
        meta_conflicts: Vec::new(),
        text_conflicts: 0,
        fetched_objects: 0,
        problem: None,
    };
    // A file no side of which is meant as a pointer file (a DV video): Git's text merge, as without dv.
    if ![&b, &o, &t]
        .iter()
        .any(|x| !x.is_empty() && Pointer::looks_like(x))
    {
        report.outcome = DriverOutcome::Text;
        report.text_conflicts = git_merge_file(s.repo(), ours_file, base_file, theirs_file, path)?;
        return Ok(report);
    }
    // Git gives an empty base when the sides share no version of the file.
    let sides = (|| -> Result<_> {
        let base = if b.is_empty() {
            None
        } else {
            Some(decode(&b, "base")?)
        };
        let (ours, theirs) = (decode(&o, "ours")?, decode(&t, "theirs")?);
        let data = data_path
            .filter(|d| crate::paths::dataset_path_problem(d).is_none())
            .ok_or_else(|| Error::format(path, "not a path a dataset's pointer file can have"))?;
        Ok((data, base, ours, theirs))
    })();
    // Meant as pointer files, but one that dv cannot read (damaged, from a newer dv, hostile): never merged
    // as text into a mixture of the two; a conflict for the user to settle.
    let (data, base, ours, theirs) = match sides {
        Ok(sides) => sides,
        Err(e) => {
            mark_unmerged(ours_file, &o, &t, path, &e.to_string())?;
            report.outcome = DriverOutcome::Conflict;
            report.problem = Some(e.to_string());
            return Ok(report);
        }
    };
    // Our side stands in for each conflict until it is settled.
    let merged;
    (merged, report.fetched_objects) =
        merge_fetching(s, data, base.as_ref(), &ours, &theirs, Favor::Ours, remote)?;
    let text = if merged.is_clean() {
        merged.pointer.encode_checked(path)?.into_bytes()
    } else {
        report.outcome = DriverOutcome::Conflict;
        conflict_text(data, &o, &t, &merged)
    };
    crate::fsutil::write_atomic(ours_file, &text)?;
    report.conflicts = merged.conflicts;
    report.row_conflicts = merged.row_conflicts;
    report.tensor_conflicts = merged.tensor_conflicts;
    report.meta_conflicts = merged.meta_conflicts;
    Ok(report)
}

/// [`merge_stored`], what the cache lacks fetched from `remote` as the merge finds it missing: the trees (and
/// tables) first; then, for a file the merge reads whole (a model merged tensor by tensor), that file's data
/// on every side. Returns the merge and how many objects were fetched.
fn merge_fetching(
    s: &Locked<'_>,
    path: &str,
    base: Option<&Pointer>,
    ours: &Pointer,
    theirs: &Pointer,
    favor: Favor,
    remote: &dyn Fn() -> Result<crate::remote::Remote>,
) -> Result<(Merged, u64)> {
    let sides = [base, Some(ours), Some(theirs)];
    let (mut fetched, mut trees_fetched, mut files_fetched) = (0, false, Vec::new());
    loop {
        match merge_stored(s, path, base, ours, theirs, favor) {
            Err(Error::MissingObjects { .. }) if !trees_fetched => {
                fetched += fetch_trees(s, path, sides, remote)?;
                trees_fetched = true;
            }
            Err(Error::MissingObjects { path: missing, .. })
                if crate::paths::is_within(&missing, path)
                    && !files_fetched.contains(&missing)
                    && files_fetched.len() < 64 =>
            {
                fetched += fetch_file(s, path, &missing, sides, remote)?;
                files_fetched.push(missing);
            }
            other => return Ok((other?, fetched)),
        }
    }
}

/// The versions of dataset `path` given, as fetch targets limited to `scope` (a path inside it).
fn targets(
    path: &str,
    scope: Option<&str>,
    pointers: [Option<&Pointer>; 3],
) -> Vec<crate::ops::datasets::Target> {
    pointers
        .into_iter()
        .flatten()
        .map(|p| crate::ops::datasets::Target {
            dataset: crate::ops::datasets::Dataset {
                path: path.to_string(),
                pointer: p.clone(),
                rev: None,
            },
            scope: scope.map(str::to_string),
            named: true,
        })
        .collect()
}

/// Fetches the data of `file` (dataset `path` itself, or a file inside it) in every version given.
fn fetch_file(
    s: &Locked<'_>,
    path: &str,
    file: &str,
    pointers: [Option<&Pointer>; 3],
    remote: &dyn Fn() -> Result<crate::remote::Remote>,
) -> Result<u64> {
    let targets = targets(path, Some(file).filter(|f| *f != path), pointers);
    let remote = remote()?;
    let progress = &crate::progress::NoProgress;
    let mut fetch = crate::ops::transfer::Fetch::new(s.store(), &remote, &targets)?;
    let result = fetch
        .structure(progress)
        .and_then(|chunks| fetch.contents(chunks, None, progress));
    Ok(fetch.finish(result)?.objects)
}

/// [`merge_pointers`], the new trees stored in the cache.
fn merge_stored(
    s: &Locked<'_>,
    path: &str,
    base: Option<&Pointer>,
    ours: &Pointer,
    theirs: &Pointer,
    favor: Favor,
) -> Result<Merged> {
    let mut sink = crate::table::StoreSink::new(s.store(), s.repo().config.compression_level)?;
    let merged = merge_pointers(s, &mut sink, path, base, ours, theirs, favor)?;
    sink.finish()?;
    Ok(merged)
}

/// Fetches what merging the given versions of dataset `path` reads that the cache lacks: every tree of a
/// folder; for a table, the headers and row trees of all three, and the file data the merged file is written
/// from. Returns how many objects came.
fn fetch_trees(
    s: &Locked<'_>,
    path: &str,
    pointers: [Option<&Pointer>; 3],
    remote: &dyn Fn() -> Result<crate::remote::Remote>,
) -> Result<u64> {
    let targets = targets(path, None, pointers);
    let opened = remote()?;
    let progress = &crate::progress::NoProgress;
    let tables = pointers.iter().flatten().any(|p| p.table.is_some());
    let mut fetch = crate::ops::transfer::Fetch::new(s.store(), &opened, &targets)?;
    let result = if tables {
        // No file chunks: the tables only.
        fetch.contents(Vec::new(), None, progress)
    } else {
        fetch.trees(true, progress)
    };
    let mut objects = fetch.finish(result)?.objects;
    // The files the merged table is written from: ours; theirs too for Parquet, whose cells come from
    // the data of the side that holds them.
    let parquet = crate::table::read::format_of(path) == Some("parquet");
    if tables {
        objects += fetch_file(
            s,
            path,
            path,
            [pointers[1], pointers[2].filter(|_| parquet), None],
            remote,
        )?;
    }
    Ok(objects)
}

/// How to settle a conflict in dataset `data`, for people.
fn settle_hint(data: &str) -> String {
    let w = crate::paths::shell_word(data);
    format!("`dv checkout --ours {w}` or `dv checkout --theirs {w}`")
}

/// Both sides between Git's conflict markers, after the comment lines `head`.
fn with_markers(head: &str, ours: &[u8], theirs: &[u8]) -> Vec<u8> {
    let mut out = head.as_bytes().to_vec();
    let side = |out: &mut Vec<u8>, bytes: &[u8]| {
        out.extend_from_slice(bytes);
        if !bytes.is_empty() && !bytes.ends_with(b"\n") {
            out.push(b'\n');
        }
    };
    out.extend_from_slice(b"<<<<<<< ours\n");
    side(&mut out, ours);
    out.extend_from_slice(b"=======\n");
    side(&mut out, theirs);
    out.extend_from_slice(b">>>>>>> theirs\n");
    out
}

/// The conflicted pointer file: comment lines naming each conflict and how to settle it, then both sides
/// (the files as Git gave them) between Git's conflict markers.
fn conflict_text(path: &str, ours: &[u8], theirs: &[u8], merged: &Merged) -> Vec<u8> {
    let mut s = format!(
        "# dv: merge conflict in '{path}': settle it with {} (what merged cleanly is kept either way)\n",
        settle_hint(path)
    );
    for c in &merged.conflicts {
        s.push_str(&format!("# conflict ({}): {}\n", c.kind, c.path));
    }
    for c in &merged.row_conflicts {
        s.push_str(&format!(
            "# conflict ({}): {} row {}{}\n",
            c.kind,
            c.path,
            show_key(&c.key),
            c.column
                .as_ref()
                .map(|col| format!(" column {col}"))
                .unwrap_or_default()
        ));
    }
    for c in &merged.tensor_conflicts {
        s.push_str(&format!(
            "# conflict ({}): {} tensor {}\n",
            c.kind,
            c.path,
            c.tensor.escape_debug()
        ));
    }
    for c in &merged.meta_conflicts {
        s.push_str(&format!("# conflict (meta): {}\n", c.key));
    }
    with_markers(&s, ours, theirs)
}

/// A row's key cells for people: `(7)`, `(eu, 2024)`, NULL as `NULL`; one line, whatever the cells hold.
pub fn show_key(key: &[crate::table::Cell]) -> String {
    let cells: Vec<String> = key
        .iter()
        .map(|c| match c {
            None => "NULL".to_string(),
            Some(v) => v.escape_debug().to_string(),
        })
        .collect();
    format!("({})", cells.join(", "))
}

/// Leaves pointer file `path` (Git's `%P`) in conflict when the driver could not merge it (`why`): both sides
/// (`ours`, `theirs`: the files' bytes) between conflict markers over `ours_file`, so that no dv command takes
/// our side alone for the merge's result. Called by the CLI for any error of the driver, too.
pub fn mark_unmerged(
    ours_file: &Path,
    ours: &[u8],
    theirs: &[u8],
    path: &str,
    why: &str,
) -> Result<()> {
    let data = path.strip_suffix(POINTER_SUFFIX).unwrap_or(path);
    let why = why.replace('\n', " ");
    let head = format!(
        "# dv: could not merge '{data}': {why}\n# once that is fixed, settle it with {}\n",
        settle_hint(data)
    );
    crate::fsutil::write_atomic(ours_file, &with_markers(&head, ours, theirs))
}

/// Git's own text merge of three files, the result over `ours` (as Git's default driver writes it); returns
/// how many conflicts it left.
fn git_merge_file(
    repo: &crate::repo::Repo,
    ours: &Path,
    base: &Path,
    theirs: &Path,
    path: &str,
) -> Result<u32> {
    let out = std::process::Command::new("git")
        .current_dir(&repo.root)
        .args(["merge-file", "-L", path, "-L", "base", "-L", "theirs", "--"])
        .args([ours, base, theirs])
        .stdin(std::process::Stdio::null())
        .output()
        .map_err(|e| Error::Internal(format!("cannot run git merge-file: {e}")))?;
    match out.status.code() {
        Some(n) if (0..128).contains(&n) => Ok(n as u32),
        _ => Err(Error::Internal(format!(
            "git merge-file failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ))),
    }
}

/// What `dv checkout --ours/--theirs` did with one conflicted pointer file.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Resolved {
    /// The dataset's path.
    pub path: String,
    /// The conflicts settled by the side chosen.
    pub settled: usize,
}

/// Settles the conflicted pointer file of dataset `path` (or of the dataset a path inside names) with
/// `favor`: merged again from the three versions Git's index keeps, each conflict taking that side. Returns
/// the pointer for the caller to write and stage. A path in no conflicted dataset is refused.
pub fn resolve(
    s: &Locked<'_>,
    git: &crate::git::GitRepo,
    path: &str,
    favor: Favor,
    remote: &dyn Fn() -> Result<crate::remote::Remote>,
) -> Result<(Resolved, Pointer)> {
    // The dataset in conflict: `path` itself, or the one a path inside it names.
    let mut at = path;
    let stages = loop {
        let pointer = format!("{at}{POINTER_SUFFIX}");
        if let Some(stages) = git.conflict_stages(&pointer)? {
            break stages;
        }
        // Conflict markers Git no longer knows of: the file was `git add`-ed as it was. Git keeps the three
        // versions for that case; put them back.
        let marked = crate::fsutil::read_if_exists(&s.repo().abs(&pointer))?
            .is_some_and(|b| crate::pointer::has_conflict_markers(&b));
        if marked {
            if git.unresolve(&pointer)?
                && let Some(stages) = git.conflict_stages(&pointer)?
            {
                break stages;
            }
            return Err(Error::usage(format!(
                "'{pointer}' holds conflict markers, but Git no longer has the merge's versions of it (it was \
                 committed, or its merge ended): take one side's pointer file with `git checkout REV -- {}` \
                 and `dv checkout`, or merge again",
                crate::paths::shell_word(&pointer)
            )));
        }
        match at.rfind('/') {
            Some(i) => at = &at[..i],
            None => {
                return Err(Error::usage(format!(
                    "'{path}' is not in conflict, nor a path inside a dataset that is (`--ours` and `--theirs` \
                     settle what a merge left)"
                )));
            }
        }
    };
    let path = at;
    let pointer_path = format!("{path}{POINTER_SUFFIX}");
    let version = |i: usize, side: &str| -> Result<Option<Pointer>> {
        match stages[i] {
            None => Ok(None),
            Some(id) => {
                Pointer::decode(&git.blob(id)?, &format!("{pointer_path} ({side})")).map(Some)
            }
        }
    };
    let (o, t) = (version(1, "ours"), version(2, "theirs"));
    // The side chosen must be readable; the other need not be (a pointer file of a newer dv, a damaged one):
    // then the chosen side is taken whole, as when the other side deleted the file.
    let (chosen, other) = match favor {
        Favor::Theirs => (t, o),
        _ => (o, t),
    };
    let chosen = chosen?;
    let (ours, theirs, base) = match (chosen, other) {
        (Some(c), Ok(Some(x))) => {
            let (o, t) = if favor == Favor::Theirs {
                (x, c)
            } else {
                (c, x)
            };
            (o, t, version(0, "base").ok().flatten())
        }
        (Some(c), _) => {
            return Ok((
                Resolved {
                    path: path.to_string(),
                    settled: 1,
                },
                c,
            ));
        }
        (None, _) => {
            return Err(Error::usage(format!(
                "'{pointer_path}' was deleted on the side chosen: `git rm {pointer_path}` settles that"
            )));
        }
    };
    let merged = match merge_fetching(s, path, base.as_ref(), &ours, &theirs, favor, remote) {
        Ok((merged, _)) => merged,
        // What cannot be merged at all (a Parquet value that fits no side's type, a file that no longer reads
        // as a table or model) is settled by taking the side chosen whole, as Git would.
        Err(e) if !matches!(e, Error::MissingObjects { .. } | Error::Io { .. }) => {
            tracing::debug!(error = %e, "merging again failed: the side chosen is taken whole");
            let chosen = if favor == Favor::Theirs { theirs } else { ours };
            return Ok((
                Resolved {
                    path: path.to_string(),
                    settled: 1,
                },
                chosen,
            ));
        }
        Err(e) => return Err(e),
    };
    Ok((
        Resolved {
            path: path.to_string(),
            settled: merged.conflict_count(),
        },
        merged.pointer,
    ))
}
