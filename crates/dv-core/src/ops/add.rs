//! `dv add`: chunk, hash, dedup, compress and pack the data at some paths, then write their pointer files.
//!
//! The pipeline: one reader thread walks the files in order and cuts them into chunks block by block; worker
//! threads hash each chunk, drop the ones the store already has (before compressing them), compress the rest
//! and hand them to one writer thread that appends them to packs. The main thread collects each file's chunk
//! list, then builds the trees. Pointer files are written last, after every object they name is in a sealed,
//! indexed pack, so a pointer never names an object that is not stored.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fs::{self, File};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use crossbeam_channel::{Receiver, Sender, bounded};

use super::walk::{Walk, WalkFile, walk};
use super::{now_ns, worker_count};
use crate::chunk::{Block, Chunker};
use crate::error::IoContext;
use crate::paths::{POINTER_SUFFIX, is_reserved};
use crate::pointer::Pointer;
use crate::pointer::TableRef;
use crate::progress::{Progress, Unit};
use crate::repo::Repo;
use crate::session::Locked;
use crate::store::object::{Node, NodeKind, ObjectKind, Tree};
use crate::store::pack::{Compression, PackIndex};
use crate::store::statedb::{Stat, StatEntry, StateDb};
use crate::store::writer::compress;
use crate::store::{PackWriter, file_node};
use crate::table::TableSpec;
use crate::{Error, ObjectId, Result};

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

/// One input to add: a file or a folder.
enum Input {
    File(WalkFile),
    Dir(Walk),
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
    let inputs = collect_inputs(repo, paths)?;
    // The files add writes last must not be links (write_atomic and staging refuse them too); checked now so
    // that nothing is stored or half-written first.
    for (path, _) in &inputs {
        crate::fsutil::refuse_link(&repo.abs(&format!("{path}{POINTER_SUFFIX}")))?;
        super::ignore::check_can_ignore(repo, path)?;
    }
    // Which inputs are tables: asked for now, or tracked as tables before (their key is remembered).
    let mut previous: Vec<Option<crate::pointer::Pointer>> = Vec::new();
    let mut table_specs: Vec<Option<TableSpec>> = Vec::new();
    for (path, input) in &inputs {
        let prev = super::datasets::read_pointer(repo, path)?.map(|d| d.pointer);
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
    // Annotations: the previous pointer's, with `meta` merged in; checked before any data is read.
    let mut metas: Vec<BTreeMap<String, String>> = Vec::with_capacity(inputs.len());
    for ((path, _), prev) in inputs.iter().zip(&previous) {
        let merged = super::meta::merged(
            path,
            prev.as_ref().map(|p| p.meta.clone()).unwrap_or_default(),
            meta,
        )?;
        super::meta::check_fits(path, prev.as_ref().and_then(|p| p.table.clone()), &merged)?;
        metas.push(merged);
    }
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
    let data: Vec<super::ignore::DataPath> = inputs
        .iter()
        .map(|(path, input)| super::ignore::DataPath {
            path,
            is_dir: matches!(input, Input::Dir(_)),
        })
        .collect();
    super::ignore::check_not_negated(repo, &data)?;
    // The pointer files first, so that a refusal names the file that matters most.
    let mut staged_files: Vec<String> = inputs
        .iter()
        .map(|(path, _)| format!("{path}{POINTER_SUFFIX}"))
        .collect();
    for (path, _) in &inputs {
        let file = super::ignore::ignore_file_of(path);
        if !staged_files.contains(&file) {
            staged_files.push(file);
        }
    }
    staged_files.push(".gitattributes".into());
    if let Some(git) = &git {
        git.check_stageable(&staged_files)?;
    }

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
        let mut cache: HashMap<String, StatEntry> = HashMap::new();
        for (path, _) in &inputs {
            cache.extend(store.state_db().stat_entries_under(path)?);
        }
        for (i, f) in all_files.iter().enumerate() {
            match cache.get(&f.path) {
                Some(e) if e.matches(&f.stat) && store.contains(&e.id)? => {
                    nodes[i] = Some(file_node_of(e.kind, e.id, &f.stat));
                }
                _ => to_hash.push(i),
            }
        }
    }

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
        let r = hash_and_store(&files, store.state_db().path(), level, &mut sink, progress);
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
    for (&i, (kind, id)) in to_hash.iter().zip(hashed) {
        let f = all_files[i];
        nodes[i] = Some(file_node_of(kind, id, &f.stat));
        stat_updates.push((
            f.path.as_str(),
            StatEntry {
                stat: f.stat,
                kind,
                id,
                hashed_at_ns: started,
            },
        ));
    }

    // Trees, bottom-up, stored through the same writer.
    let mut roots: Vec<Node> = Vec::with_capacity(inputs.len());
    let mut offset = 0usize;
    let mut tree_result = Ok(());
    for (_, input) in &inputs {
        match input {
            Input::File(_) => {
                roots.push(nodes[offset].expect("every file has a node"));
                offset += 1;
            }
            Input::Dir(w) => {
                match w.build_trees(&nodes[offset..offset + w.files.len()], |t| {
                    sink.store_tree(t)
                }) {
                    Ok(root) => roots.push(root),
                    Err(e) => {
                        tree_result = Err(e);
                        break;
                    }
                }
                offset += w.files.len();
            }
        }
    }
    drop(sink);
    drop(write_tx);
    let written = writer
        .join()
        .map_err(|_| Error::Internal("pack writer thread panicked".into()))?;
    // The writer's error first: when it stops, the trees' sends fail only because of it.
    let (packs, objects, stored_bytes) = written?;
    tree_result?;
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
                added.changes = Some(super::table::row_counts(store, &old.id, &tref.id)?);
            }
        }
    }

    // Everything is stored: now the pointers and .gitignore entries, once staging them is sure to start.
    if let Some(git) = &git {
        git.check_stageable(&staged_files)?;
    }
    let mut staging = super::pointers::Staging::default();
    for ((((path, _), node), table), meta) in inputs.iter().zip(roots).zip(tables).zip(metas) {
        store.state_db().mark_complete(&node.id)?;
        let pointer_path = format!("{path}{POINTER_SUFFIX}");
        let (table, table_added) = match table {
            Some((r, a)) => (Some(r), Some(a)),
            None => (None, None),
        };
        let pointer = Pointer {
            node,
            table,
            meta: meta.clone(),
        };
        // The ignore line first: killed at any point, a pointer file never sits beside data Git would add
        // (`git add -A` after a killed add must not commit the data).
        let ignore_files = super::ignore::ensure_ignored(repo, path)?;
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
    // Not staging, Git is still asked, so that the files named for the user to stage include it too.
    let git_to_ask = match git {
        Some(git) => Some(git),
        None => s.git().ok(),
    };
    if let Some(git) = git_to_ask
        && !report.datasets.is_empty()
        && super::ignore::union_attribute_untracked(repo, git)?
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

fn file_node_of(kind: NodeKind, id: ObjectId, stat: &Stat) -> Node {
    Node {
        kind,
        id,
        size: stat.size,
        files: 1,
        exec: stat.exec,
    }
}

/// Checks each path and walks it.
fn collect_inputs(repo: &Repo, paths: &[String]) -> Result<Vec<(String, Input)>> {
    let mut sorted: Vec<&String> = paths.iter().collect();
    sorted.sort();
    sorted.dedup();
    let mut out: Vec<(String, Input)> = Vec::new();
    for path in sorted {
        let cannot = |reason: &str| Error::CannotAdd {
            path: if path.is_empty() {
                ".".into()
            } else {
                // A name with a newline or another control character is shown escaped.
                path.escape_debug().to_string()
            },
            reason: reason.into(),
        };
        if path.is_empty() {
            return Err(cannot(
                "it is the root of the work tree; add folders inside it",
            ));
        }
        if is_reserved(path) {
            return Err(cannot("it is inside .git or .dv"));
        }
        // Every name accepted here must be one a pointer file can describe (and check out) again.
        if let Some(why) = crate::paths::dataset_path_problem(path) {
            return Err(cannot(&why));
        }
        // Its pointer file must not replace a file that is not one (a DV video named `NAME.dv`, say).
        let pointer_abs = repo.abs(&format!("{path}{POINTER_SUFFIX}"));
        if let Ok(m) = fs::symlink_metadata(&pointer_abs)
            && (m.file_type().is_symlink()
                || !m.is_file()
                || !Pointer::looks_like(&fs::read(&pointer_abs).at(&pointer_abs)?))
        {
            // A link is refused as one, never read or written through.
            crate::fsutil::refuse_link(&pointer_abs)?;
            return Err(cannot(&format!(
                "its pointer file would replace '{path}{POINTER_SUFFIX}', which is not a dv pointer file"
            )));
        }
        if path.ends_with(POINTER_SUFFIX)
            && super::datasets::read_pointer(repo, path.trim_end_matches(POINTER_SUFFIX))
                .is_ok_and(|d| d.is_some())
        {
            return Err(cannot("it is a pointer file; add the data it describes"));
        }
        if let Some((prev, _)) = out.last()
            && crate::paths::is_within(path, prev)
        {
            return Err(cannot(&format!(
                "it is inside '{prev}', which is added too"
            )));
        }
        if let Some(d) = super::datasets::enclosing_dataset(repo, path)? {
            return Err(cannot(&format!(
                "it is inside '{}', which dv already tracks; add that instead",
                d.path
            )));
        }
        let abs = repo.abs(path);
        let meta = match fs::symlink_metadata(&abs) {
            Ok(m) => m,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(Error::NotFound(abs)),
            Err(e) => return Err(Error::io(abs, e)),
        };
        let input = if meta.is_file() {
            // Fail early and clearly on unreadable files.
            File::open(&abs).at(&abs)?;
            Input::File(WalkFile {
                path: path.clone(),
                stat: Stat::of(&meta),
            })
        } else if meta.is_dir() {
            // A dataset's folder holds only its data: one holding another dataset's pointer file is refused, and
            // so is one holding a pointer file dv cannot read (damaged, from a newer dv, or a `X.dv` with no dv
            // header beside `X`, taken for X's damaged pointer file), which would otherwise become data.
            let mut skipped = Vec::new();
            let inner =
                super::datasets::Source::WorkTree.find_datasets(repo, path, &mut skipped)?;
            if let Some(bad) = skipped
                .iter()
                .find(|s| s.problem == super::datasets::PointerProblem::Malformed)
            {
                let fix = if bad.conflict {
                    format!(
                        "resolve that conflict first (`git checkout --ours {0}` or `--theirs`, then `git add \
                         {0}`)",
                        bad.path
                    )
                } else {
                    format!(
                        "fix or remove that file first (`git checkout -- {}` restores a committed one)",
                        bad.path
                    )
                };
                return Err(cannot(&format!(
                    "it holds '{}', a pointer file dv cannot read ({}), and a dataset cannot hold another; {fix}",
                    bad.path, bad.reason
                )));
            }
            if let Some(inner) = inner.first() {
                return Err(cannot(&format!(
                    "it holds the dataset '{}' (pointer file '{}'), and a dataset cannot hold another; add the \
                     folders beside it instead, or remove that dataset first (`git rm {}`)",
                    inner.path,
                    inner.pointer_path(),
                    inner.pointer_path()
                )));
            }
            Input::Dir(walk(&abs, path)?)
        } else if meta.file_type().is_symlink() {
            return Err(cannot(
                "it is a symbolic link; dv stores regular files and folders only",
            ));
        } else {
            return Err(cannot("it is not a regular file or folder"));
        };
        out.push((path.clone(), input));
    }
    Ok(out)
}

/// An object on its way to the pack writer.
struct NewObject {
    id: ObjectId,
    kind: ObjectKind,
    compression: Compression,
    raw_len: u32,
    data: Vec<u8>,
}

fn write_objects(
    mut pw: PackWriter,
    rx: Receiver<NewObject>,
) -> Result<(Vec<PackIndex>, u64, u64)> {
    for o in rx {
        pw.add(o.id, o.kind, o.compression, o.raw_len, &o.data)?;
    }
    let (objects, bytes) = (pw.objects, pw.stored_bytes);
    Ok((pw.finish()?, objects, bytes))
}

/// A block of one file, for the workers.
struct Job {
    file: usize,
    seq: u32,
    last: bool,
    block: Block,
}

struct Done {
    file: usize,
    seq: u32,
    last: bool,
    chunks: Vec<(ObjectId, u32)>,
}

/// Chunks, hashes and stores `files`; returns each file's node kind and id, in order.
fn hash_and_store(
    files: &[(PathBuf, Stat)],
    db: &std::path::Path,
    level: i32,
    sink: &mut ObjectSink<'_>,
    progress: &dyn Progress,
) -> Result<Vec<(NodeKind, ObjectId)>> {
    let write_tx = sink.tx;
    let workers = worker_count();
    let (job_tx, job_rx) = bounded::<Job>(workers * 2);
    let (done_tx, done_rx) = bounded::<Result<Done>>(workers * 4);
    let inflight: Mutex<HashSet<ObjectId>> = Mutex::new(HashSet::new());
    let failed = std::sync::atomic::AtomicBool::new(false);

    std::thread::scope(|s| {
        // Reader: blocks of every file, in order.
        let reader = s.spawn(|| {
            let r = read_files(files, &job_tx, &failed);
            drop(job_tx);
            r
        });
        for _ in 0..workers {
            let job_rx = job_rx.clone();
            let done_tx = done_tx.clone();
            let write_tx = write_tx.clone();
            let (inflight, failed) = (&inflight, &failed);
            s.spawn(move || {
                let meta = match StateDb::open_readonly(db) {
                    Ok(m) => m,
                    Err(e) => {
                        failed.store(true, std::sync::atomic::Ordering::Relaxed);
                        let _ = done_tx.send(Err(e));
                        return;
                    }
                };
                let mut compressor = match compressor(level) {
                    Ok(c) => c,
                    Err(e) => {
                        let _ = done_tx.send(Err(e));
                        return;
                    }
                };
                for job in job_rx {
                    let r = process_block(
                        &job,
                        &meta,
                        compressor.as_mut(),
                        inflight,
                        &write_tx,
                        progress,
                    );
                    let failed_now = r.is_err();
                    if done_tx.send(r).is_err() || failed_now {
                        failed.store(true, std::sync::atomic::Ordering::Relaxed);
                        break;
                    }
                }
            });
        }
        drop(job_rx);
        drop(done_tx);

        // Collect chunk lists per file.
        let mut parts: Vec<BTreeMap<u32, Vec<(ObjectId, u32)>>> =
            vec![BTreeMap::new(); files.len()];
        let mut last_seq: Vec<Option<u32>> = vec![None; files.len()];
        let mut out: Vec<Option<(NodeKind, ObjectId)>> = vec![None; files.len()];
        let mut first_err = None;
        for done in done_rx {
            let done = match done {
                Ok(d) => d,
                Err(e) => {
                    failed.store(true, std::sync::atomic::Ordering::Relaxed);
                    first_err.get_or_insert(e);
                    continue;
                }
            };
            parts[done.file].insert(done.seq, done.chunks);
            if done.last {
                last_seq[done.file] = Some(done.seq);
            }
            if let Some(last) = last_seq[done.file]
                && parts[done.file].len() == last as usize + 1
            {
                let chunks: Vec<(ObjectId, u32)> = std::mem::take(&mut parts[done.file])
                    .into_values()
                    .flatten()
                    .collect();
                let (kind, id, manifest) = file_node(chunks);
                if let Some(bytes) = manifest
                    && let Err(e) = sink.store(id, ObjectKind::Manifest, &bytes)
                {
                    failed.store(true, std::sync::atomic::Ordering::Relaxed);
                    first_err.get_or_insert(e);
                }
                out[done.file] = Some((kind, id));
            }
        }
        let read_result = reader
            .join()
            .map_err(|_| Error::Internal("reader thread panicked".into()))?;
        if let Some(e) = first_err {
            return Err(e);
        }
        read_result?;
        out.into_iter()
            .map(|o| o.ok_or_else(|| Error::Internal("a file was not fully hashed".into())))
            .collect()
    })
}

fn read_files(
    files: &[(PathBuf, Stat)],
    job_tx: &Sender<Job>,
    failed: &std::sync::atomic::AtomicBool,
) -> Result<()> {
    for (i, (path, walked)) in files.iter().enumerate() {
        if failed.load(std::sync::atomic::Ordering::Relaxed) {
            return Ok(());
        }
        let file = File::open(path).at(path)?;
        let mut chunker = Chunker::new(&file).size_hint(walked.size);
        let mut seq = 0u32;
        let mut read = 0u64;
        let mut pending = chunker.next_block().at(path)?;
        if pending.is_none() {
            // An empty file: one empty chunk.
            pending = Some(Block {
                data: Arc::new(Vec::new()),
                chunks: std::iter::once(0..0).collect(),
                offset: 0,
            });
        }
        while let Some(block) = pending {
            let next = chunker.next_block().at(path)?;
            read += block.data.len() as u64;
            if next.is_none() {
                // The pointer records the walk's size and the id of the bytes read: both must describe one
                // content, so a file written to while it was read is refused before its last block is used.
                check_unchanged(path, walked, read, &file)?;
            }
            let job = Job {
                file: i,
                seq,
                last: next.is_none(),
                block,
            };
            if job_tx.send(job).is_err() {
                return Ok(()); // workers stopped on an error; they report it
            }
            seq += 1;
            pending = next;
        }
    }
    Ok(())
}

/// Refuses a file whose bytes read, or whose `stat` after reading, differ from what the walk saw.
fn check_unchanged(path: &std::path::Path, walked: &Stat, read: u64, file: &File) -> Result<()> {
    crate::fault::hold("add-read-done");
    let now = Stat::of(&file.metadata().at(path)?);
    let same = read == walked.size
        && now.size == walked.size
        && now.mtime_ns == walked.mtime_ns
        && now.ctime_ns == walked.ctime_ns
        && now.ino == walked.ino;
    if same {
        Ok(())
    } else {
        Err(Error::ChangedWhileReading {
            path: path.to_path_buf(),
        })
    }
}

fn process_block(
    job: &Job,
    meta: &StateDb,
    mut compressor: Option<&mut zstd::bulk::Compressor<'static>>,
    inflight: &Mutex<HashSet<ObjectId>>,
    write_tx: &Sender<NewObject>,
    progress: &dyn Progress,
) -> Result<Done> {
    let mut chunks = Vec::with_capacity(job.block.chunks.len());
    for r in &job.block.chunks {
        let raw = &job.block.data[r.clone()];
        let id = ObjectId::of(raw);
        chunks.push((id, raw.len() as u32));
        if !inflight.lock().expect("inflight set poisoned").insert(id) || meta.contains(&id)? {
            continue; // stored already, or being stored by another worker: never compressed twice
        }
        let (compression, data) = compress(compressor.as_deref_mut(), raw);
        let obj = NewObject {
            id,
            kind: ObjectKind::Chunk,
            compression,
            raw_len: raw.len() as u32,
            data,
        };
        if write_tx.send(obj).is_err() {
            return Err(writer_stopped());
        }
    }
    progress.inc(job.block.data.len() as u64);
    Ok(Done {
        file: job.file,
        seq: job.seq,
        last: job.last,
        chunks,
    })
}

fn compressor(level: i32) -> Result<Option<zstd::bulk::Compressor<'static>>> {
    (level != 0)
        .then(|| zstd::bulk::Compressor::new(level))
        .transpose()
        .map_err(|e| Error::Internal(format!("zstd level {level}: {e}")))
}

fn send_object(
    compressor: Option<&mut zstd::bulk::Compressor<'static>>,
    id: ObjectId,
    kind: ObjectKind,
    raw: &[u8],
    tx: &Sender<NewObject>,
) -> Result<()> {
    if raw.len() as u64 > crate::store::object::MAX_OBJECT_SIZE {
        return Err(Error::Internal(format!(
            "object {id} is larger than the format allows"
        )));
    }
    let (compression, data) = compress(compressor, raw);
    tx.send(NewObject {
        id,
        kind,
        compression,
        raw_len: raw.len() as u32,
        data,
    })
    .map_err(|_| writer_stopped())
}

fn writer_stopped() -> Error {
    Error::Internal("pack writer stopped".into())
}

fn is_writer_stopped(e: &Error) -> bool {
    matches!(e, Error::Internal(m) if m == "pack writer stopped")
}

/// Stores manifests and trees the cache does not have yet, from the main thread.
struct ObjectSink<'a> {
    meta: &'a StateDb,
    tx: &'a Sender<NewObject>,
    seen: HashSet<ObjectId>,
    compressor: Option<zstd::bulk::Compressor<'static>>,
}

impl ObjectSink<'_> {
    fn store(&mut self, id: ObjectId, kind: ObjectKind, bytes: &[u8]) -> Result<()> {
        if self.seen.insert(id) && !self.meta.contains(&id)? {
            send_object(self.compressor.as_mut(), id, kind, bytes, self.tx)?;
        }
        Ok(())
    }

    fn store_tree(&mut self, tree: &Tree) -> Result<ObjectId> {
        let bytes = tree.encode();
        let id = ObjectId::of(&bytes);
        self.store(id, ObjectKind::Tree, &bytes)?;
        Ok(id)
    }
}
