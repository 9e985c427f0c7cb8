//! `dv add`: chunk, hash, dedup, compress and pack the data at some paths, then write their pointer files.
//!
//! The pipeline: one reader thread walks the files in order and cuts them into chunks block by block; worker
//! threads hash each chunk, drop the ones the store already has (before compressing them), compress the rest
//! and hand them to one writer thread that appends them to packs. The main thread collects each file's chunk
//! list, then builds the trees. Pointer files are written last, after every object they name is in a sealed,
//! indexed pack, so a pointer never names an object that is not stored.
//!
//! This file holds the options, the report and the top-level `add` (checks, tables, pointers, staging);
//! inputs.rs checks and walks the paths, pipeline.rs is the threads that hash and store, trees.rs the nodes.

use std::collections::{BTreeMap, HashSet};
use std::path::PathBuf;

use crossbeam_channel::bounded;

use super::now_ns;
use crate::ops::walk::WalkFile;
use crate::paths::POINTER_SUFFIX;
use crate::pointer::Pointer;
use crate::pointer::TableRef;
use crate::progress::{Progress, Unit};
use crate::session::Locked;
use crate::store::object::{Node, NodeKind};
use crate::store::statedb::{Stat, StatEntry};
use crate::table::TableSpec;
use crate::{Error, Result};

mod inputs;
mod pipeline;
mod trees;

use inputs::{Input, collect_inputs};
use pipeline::{
    NewObject, ObjectSink, compressor, hash_and_store, is_writer_stopped, write_objects,
};
use trees::{build_roots, file_node_of};

#[derive(Clone, Debug, serde::Serialize)]
pub struct AddedDataset {
    /// Repository path of the data.
    pub path: String,
    pub pointer: String,
    pub kind: NodeKind,
    pub id: String,
    pub size: u64,
    pub files: u64,
    /// False when the pointer file already said this.
    pub changed: bool,
    /// For a table: its rows, and the row changes against the version the pointer named before.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub table: Option<TableAdded>,
    /// The pointer's annotations (`[meta]`).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub meta: BTreeMap<String, String>,
}

#[derive(Clone, Debug, serde::Serialize)]
pub struct TableAdded {
    pub key: Vec<String>,
    pub rows: u64,
    /// Against the previous version (absent for a table's first version, or when the key changed).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub changes: Option<crate::store::statedb::RowCounts>,
}

#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct AddReport {
    pub datasets: Vec<AddedDataset>,
    pub files: u64,
    pub bytes: u64,
    /// Files read and hashed (the rest were known unchanged from the stat cache).
    pub hashed_files: u64,
    pub hashed_bytes: u64,
    pub new_objects: u64,
    /// Bytes added to the cache's packs, after dedup and compression.
    pub new_stored_bytes: u64,
    /// Files staged in Git's index (pointer files and .gitignore files).
    pub staged: Vec<String>,
    /// Without staging (`--no-stage`), the files written that Git's index should record, as `staged` would
    /// name them: what the user runs `git add` on. Absent when empty.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub not_staged: Vec<String>,
}

/// How [`add`] adds.
#[derive(Clone, Debug, Default)]
pub struct AddOptions<'a> {
    /// Stage the pointer files and `.gitignore` files it writes in Git's index, so the next `git commit`
    /// records this version.
    pub stage: bool,
    /// Track the (one CSV or Parquet) file as a table with this key. A file tracked as a table before stays
    /// one (its key is remembered) without it.
    pub table: Option<&'a TableSpec>,
    /// Annotations (`[meta]` entries) to set on every path: merged into those its pointer already has (a key
    /// given again takes the new value).
    pub meta: &'a [(String, String)],
    /// Record a dataset whose checkout did not finish as its work tree is (what the checkout had not written
    /// yet is recorded as deleted). Without it such a dataset is refused: its work tree is part one version,
    /// part another.
    pub as_is: bool,
}

/// Adds the data at `paths` (repository paths) as `opts` says, holding the cache's lock.
pub fn add(
    s: &Locked<'_>,
    paths: &[String],
    opts: &AddOptions<'_>,
    progress: &dyn Progress,
) -> Result<AddReport> {
    let (repo, store) = (s.repo(), s.store());
    let (stage, table, meta) = (opts.stage, opts.table, opts.meta);
    let started = now_ns();
    for p in paths {
        crate::paths::check_no_linked_parents(&repo.root, p)?;
    }
    // A checkout that began writing and did not finish left a work tree that is part one version, part
    // another: recording it would keep neither. Refused unless asked, before anything is read.
    if !opts.as_is {
        for p in paths {
            if store.state_db().is_unfinished(p)? {
                return Err(Error::UnfinishedCheckout { path: p.clone() });
            }
        }
    }
    let mut inputs = collect_inputs(repo, paths)?;
    tracing::debug!(ms = (now_ns() - started) / 1_000_000, "work tree walked");
    // The files add writes last must not be links (write_atomic and staging refuse them too); checked now so
    // that nothing is stored or half-written first.
    for (path, _) in &inputs {
        crate::fsutil::refuse_link(&repo.abs(&format!("{path}{POINTER_SUFFIX}")))?;
        crate::ops::ignore::check_can_ignore(repo, path)?;
    }
    // Which inputs are tables: asked for now, or tracked as tables before (their key is remembered).
    let mut previous: Vec<Option<crate::pointer::Pointer>> = Vec::new();
    let mut table_specs: Vec<Option<TableSpec>> = Vec::new();
    for (path, input) in &inputs {
        let prev = crate::ops::datasets::read_pointer(repo, path)?.map(|d| d.pointer);
        let spec = match (table, prev.as_ref().and_then(|p| p.table.as_ref())) {
            (Some(spec), _) => {
                if !matches!(input, Input::File(_)) || crate::table::read::format_of(path).is_none()
                {
                    return Err(Error::CannotAdd {
                        path: path.clone(),
                        reason: "only a .csv, .tsv or .parquet file can be tracked as a table"
                            .into(),
                    });
                }
                Some(spec.clone())
            }
            (None, Some(t)) if matches!(input, Input::File(_)) => {
                Some(TableSpec { key: t.key.clone() })
            }
            _ => None,
        };
        previous.push(prev);
        table_specs.push(spec);
    }
    // A dataset held in part keeps as they were the parts the work tree lacks on purpose (ops/partial.rs).
    // The cache may lack what a kept node reaches: such a root is not marked complete below. What the user
    // wrote outside the parts held is held once the add is done.
    let mut kept_any = vec![false; inputs.len()];
    let mut newly_held: Vec<(String, Vec<String>)> = Vec::new();
    for (((path, input), prev), kept_any) in inputs.iter_mut().zip(&previous).zip(&mut kept_any) {
        if let (Input::Dir(w), Some(prev)) = (input, prev)
            && let Some(held) = crate::ops::partial::held(store, path)?
        {
            let kept = crate::ops::partial::keep_absent(store, w, &prev.node, &held)?;
            *kept_any = kept.nodes > 0;
            // While a checkout is unfinished, what is here is mostly what it wrote: nothing new is held.
            if !store.state_db().is_unfinished(path)? {
                newly_held.push((path.clone(), kept.newly_held));
            }
        }
    }
    // Annotations: the previous pointer's, with `meta` merged in; checked before any data is read.
    let mut metas: Vec<BTreeMap<String, String>> = Vec::with_capacity(inputs.len());
    for ((path, _), prev) in inputs.iter().zip(&previous) {
        let merged = crate::ops::meta::merged(
            path,
            prev.as_ref().map(|p| p.meta.clone()).unwrap_or_default(),
            meta,
        )?;
        crate::ops::meta::check_fits(path, prev.as_ref().and_then(|p| p.table.clone()), &merged)?;
        metas.push(merged);
    }
    tracing::debug!(ms = (now_ns() - started) / 1_000_000, "inputs checked");
    let git = if stage { Some(s.git()?) } else { None };
    // dv's own ignore lines first, so the cache this add fills is never offered to Git.
    let own_ignore = repo.ensure_own_ignore()?;
    if let Some(git) = &git {
        for (path, _) in &inputs {
            if let Some(tracked) = git.first_tracked_under(path)? {
                return Err(Error::CannotAdd {
                    path: path.clone(),
                    reason: format!(
                        "Git already tracks '{tracked}' there; stop that first with `git rm -r --cached {path}`"
                    ),
                });
            }
        }
    }
    // Whatever would stop the add after its data is stored is checked now, before anything is written: a rule
    // that takes the data back from Git's ignore (`!/d`), and for staging Git's index lock and ignore rules
    // that ignore a file it stages (checked again just before the pointers are written).
    let data: Vec<crate::ops::ignore::DataPath> = inputs
        .iter()
        .map(|(path, input)| crate::ops::ignore::DataPath {
            path,
            is_dir: matches!(input, Input::Dir(_)),
        })
        .collect();
    crate::ops::ignore::check_not_negated(repo, &data)?;
    // The pointer files first, so that a refusal names the file that matters most.
    let mut staged_files: Vec<String> = inputs
        .iter()
        .map(|(path, _)| format!("{path}{POINTER_SUFFIX}"))
        .collect();
    for (path, _) in &inputs {
        let file = crate::ops::ignore::ignore_file_of(path);
        if !staged_files.contains(&file) {
            staged_files.push(file);
        }
    }
    staged_files.push(".gitattributes".into());
    if let Some(git) = &git {
        git.check_stageable(&staged_files)?;
    }

    // How large folders and files are stored: the repository's format says.
    let layout = repo.config.layout();
    // Everything to hash, in input order; files the stat cache vouches for get their node right away.
    let mut all_files: Vec<&WalkFile> = Vec::new();
    for (_, input) in &inputs {
        match input {
            Input::File(f) => all_files.push(f),
            Input::Dir(w) => all_files.extend(w.files.iter()),
        }
    }
    let mut nodes: Vec<Option<Node>> = vec![None; all_files.len()];
    let mut to_hash: Vec<usize> = Vec::new();
    {
        // The stat cache read a folder at a time; the ids it vouches for then looked up in the cache together.
        let mut by_dir: std::collections::HashMap<&str, Vec<usize>> = Default::default();
        for (i, f) in all_files.iter().enumerate() {
            by_dir
                .entry(crate::paths::split(&f.path).0)
                .or_default()
                .push(i);
        }
        // Files whose node the stat cache gives, if the cache still has their objects.
        let mut vouched: Vec<usize> = Vec::new();
        for (dir, files) in by_dir {
            let stats = store.state_db().stat_entries_in(dir)?;
            for i in files {
                let f = all_files[i];
                match stats.get(crate::paths::split(&f.path).1) {
                    Some(e) if e.holds(&f.stat, layout) => {
                        nodes[i] = Some(file_node_of(e.kind, e.id, &f.stat));
                        vouched.push(i);
                    }
                    _ => to_hash.push(i),
                }
            }
        }
        tracing::debug!(
            ms = (now_ns() - started) / 1_000_000,
            "stat cache entries read"
        );
        let ids: Vec<crate::ObjectId> = vouched
            .iter()
            .map(|&i| nodes[i].expect("vouched").id)
            .collect();
        for (i, stored) in vouched.into_iter().zip(store.contains_all(&ids)?) {
            if !stored {
                nodes[i] = None;
                to_hash.push(i);
            }
        }
        to_hash.sort_unstable();
    }
    tracing::debug!(
        ms = (now_ns() - started) / 1_000_000,
        to_hash = to_hash.len(),
        "stat cache read"
    );

    let mut report = AddReport {
        files: all_files.len() as u64,
        bytes: all_files.iter().map(|f| f.stat.size).sum(),
        hashed_files: to_hash.len() as u64,
        hashed_bytes: to_hash.iter().map(|&i| all_files[i].stat.size).sum(),
        ..Default::default()
    };

    let level = repo.config.compression_level;
    let (write_tx, write_rx) = bounded::<NewObject>(64);
    let writer = {
        let pw = store.pack_writer();
        std::thread::Builder::new()
            .name("dv-pack-writer".into())
            .spawn(move || write_objects(pw, write_rx))
            .map_err(|e| Error::Internal(format!("cannot start writer thread: {e}")))?
    };

    let mut sink = ObjectSink {
        meta: store.state_db(),
        tx: &write_tx,
        seen: HashSet::new(),
        compressor: compressor(level)?,
    };
    let hashed = if to_hash.is_empty() {
        Ok(Vec::new())
    } else {
        let files: Vec<(PathBuf, Stat)> = to_hash
            .iter()
            .map(|&i| (repo.abs(&all_files[i].path), all_files[i].stat))
            .collect();
        progress.start("Adding", Some(report.hashed_bytes), Unit::Bytes);
        let r = hash_and_store(
            &files,
            store.state_db().path(),
            level,
            layout,
            &mut sink,
            progress,
        );
        progress.finish();
        r
    };
    tracing::debug!(
        ms = (now_ns() - started) / 1_000_000,
        "files hashed and stored"
    );
    let hashed = match hashed {
        Ok(h) => h,
        Err(e) => {
            drop(sink);
            drop(write_tx);
            // A stopped writer is only the symptom: its own error (a full disk, …) is the cause.
            if let Ok(Err(cause)) = writer.join()
                && is_writer_stopped(&e)
            {
                return Err(cause);
            }
            return Err(e);
        }
    };
    let mut stat_updates = Vec::with_capacity(hashed.len());
    for (&i, (kind, id, hashed_in)) in to_hash.iter().zip(hashed) {
        let f = all_files[i];
        nodes[i] = Some(file_node_of(kind, id, &f.stat));
        stat_updates.push((
            f.path.as_str(),
            StatEntry {
                stat: f.stat,
                kind,
                id,
                hashed_at_ns: started,
                hashed_in,
            },
        ));
    }

    // Trees, bottom-up, stored through the same writer.
    let roots = build_roots(&inputs, &nodes, layout, &mut sink);
    drop(sink);
    drop(write_tx);
    let written = writer
        .join()
        .map_err(|_| Error::Internal("pack writer thread panicked".into()))?;
    // The writer's error first: when it stops, the trees' sends fail only because of it.
    let (packs, objects, stored_bytes) = written?;
    let roots = roots?;
    tracing::debug!(
        ms = (now_ns() - started) / 1_000_000,
        packs = packs.len(),
        "packs sealed"
    );
    store.register_packs(&packs)?;
    report.new_objects = objects;
    report.new_stored_bytes = stored_bytes;
    store.state_db().put_stat_entries(stat_updates)?;
    tracing::debug!(ms = (now_ns() - started) / 1_000_000, "stat cache updated");

    // Tables: their row trees, before any pointer names them. A table that fails to parse stops the add here,
    // with no pointer written.
    let mut tables: Vec<Option<(TableRef, TableAdded)>> = Vec::new();
    {
        let mut tsink: Option<crate::table::StoreSink> = None;
        for (((path, _), node), (spec, prev)) in inputs
            .iter()
            .zip(&roots)
            .zip(table_specs.iter().zip(&previous))
        {
            let Some(spec) = spec else {
                tables.push(None);
                continue;
            };
            let prev_table = prev
                .as_ref()
                .and_then(|p| p.table.as_ref().map(|t| (p.node.id, t)))
                .filter(|(_, t)| t.key == spec.key);
            if let Some((prev_id, t)) = prev_table
                && prev_id == node.id
                && store.contains(&t.id)?
            {
                // Same bytes, same key: the same table.
                let added = TableAdded {
                    key: spec.key.clone(),
                    rows: t.rows,
                    changes: None,
                };
                tables.push(Some((t.clone(), added)));
                continue;
            }
            if tsink.is_none() {
                tsink = Some(crate::table::StoreSink::new(store, level)?);
            }
            let sink = tsink.as_mut().expect("just made");
            progress.start(
                &format!("Reading table {path}"),
                None,
                crate::progress::Unit::Files,
            );
            let recorded = crate::table::record(&repo.abs(path), path, spec, sink);
            progress.finish();
            let (header, id) = recorded?;
            let tref = TableRef {
                id,
                key: spec.key.clone(),
                rows: header.rows,
            };
            tables.push(Some((
                tref,
                TableAdded {
                    key: spec.key.clone(),
                    rows: header.rows,
                    changes: None,
                },
            )));
        }
        if let Some(sink) = tsink {
            report.new_objects += sink.new_objects;
            sink.finish()?;
        }
        // Row changes against the previous versions, recorded so `dv log` need not work them out.
        for (t, prev) in tables.iter_mut().zip(&previous) {
            let (Some((tref, added)), Some(prev)) = (t.as_mut(), prev) else {
                continue;
            };
            let Some(old) = prev
                .table
                .as_ref()
                .filter(|o| o.key == tref.key && o.id != tref.id)
            else {
                continue;
            };
            if store.contains(&old.id)? {
                added.changes = Some(crate::ops::table::row_counts(store, &old.id, &tref.id)?);
            }
        }
    }

    // Everything is stored: now the pointers and .gitignore entries, once staging them is sure to start.
    if let Some(git) = &git {
        git.check_stageable(&staged_files)?;
    }
    let mut staging = crate::ops::pointers::Staging::default();
    for ((((((path, _), node), table), meta), prev), kept_any) in inputs
        .iter()
        .zip(roots)
        .zip(tables)
        .zip(metas)
        .zip(&previous)
        .zip(kept_any)
    {
        if !kept_any {
            store.state_db().mark_complete(&node.id)?;
        }
        let pointer_path = format!("{path}{POINTER_SUFFIX}");
        let (table, table_added) = match table {
            Some((r, a)) => (Some(r), Some(a)),
            None => (None, None),
        };
        let new = Pointer {
            node,
            table,
            meta: meta.clone(),
            layout,
            source: None,
        };
        // A pointer in another layout (written before `dv format upgrade`) whose data has not changed stays as
        // it is: an unchanged dataset is unchanged whatever format describes it.
        let pointer = match prev {
            Some(old)
                if old.layout != layout
                    && old.meta == new.meta
                    && old.table.as_ref().map(|t| t.id) == new.table.as_ref().map(|t| t.id)
                    && crate::ops::compare::matches_pointer(repo, store, path, old)? =>
            {
                old.clone()
            }
            _ => new,
        };
        // An imported dataset added unchanged stays an import; changed, it is this repository's own.
        let mut pointer = pointer;
        if let Some(old) = prev
            && old.node == pointer.node
            && old.layout == pointer.layout
        {
            pointer.source.clone_from(&old.source);
        }
        let node = pointer.node;
        // The ignore line first: killed at any point, a pointer file never sits beside data Git would add
        // (`git add -A` after a killed add must not commit the data).
        let ignore_files = crate::ops::ignore::ensure_ignored(repo, path)?;
        crate::fault::point("add-before-pointer");
        let changed = staging.write_pointer(repo, &pointer_path, &pointer)?;
        crate::fault::point("add-pointer-written");
        for written in ignore_files {
            staging.also(written);
        }
        report.datasets.push(AddedDataset {
            path: path.clone(),
            pointer: pointer_path,
            kind: node.kind,
            id: node.id.to_hex(),
            size: node.size,
            files: node.files,
            changed,
            table: table_added,
            meta,
        });
    }
    for (path, paths) in &newly_held {
        crate::ops::partial::hold(store, path, paths)?;
    }
    // Recorded as it is (`as_is`): its pointer now says what the work tree holds, so no checkout is left to
    // finish.
    let added: Vec<String> = inputs.iter().map(|(p, _)| p.clone()).collect();
    store.state_db().set_unfinished(&added, false)?;
    // Not staging, Git is still asked, so that the files named for the user to stage include it too.
    let git_to_ask = match git {
        Some(git) => Some(git),
        None => s.git().ok(),
    };
    if let Some(git) = git_to_ask
        && !report.datasets.is_empty()
        && crate::ops::ignore::union_attribute_untracked(repo, git)?
    {
        staging.also(".gitattributes");
    }
    if own_ignore {
        staging.also(crate::repo::DV_IGNORE_FILE);
    }
    if git.is_some() {
        crate::fault::point("add-before-staging");
    }
    if git.is_none() {
        report.not_staged = staging.recorded();
    }
    report.staged = staging.stage(repo, git)?;
    Ok(report)
}
