//! `dv checkout`: make the working copy match the pointer files, from the cache, bit for bit.
//!
//! Everything is planned before anything is touched: the changes, the objects each file needs (all must be in
//! the cache) and the safety check (no working file whose content dv has not stored is overwritten or deleted
//! without `force`). Each file is written to a temporary file beside it, verified chunk by chunk, and renamed
//! into place, so an interrupted checkout leaves either the old file or the new one.

use std::collections::HashMap;
use std::fs;
use std::io::Write;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use super::compare::{Change, ChangeKind, Comparer, Have, list_dir};
use super::datasets::Target;
use super::{now_ns, worker_count};
use crate::error::IoContext;
use crate::fsutil::TempFile;
use crate::meta::{Stat, StatEntry};
use crate::paths::join;
use crate::progress::{Progress, Unit};
use crate::repo::Repo;
use crate::store::object::{Node, NodeKind};
use crate::store::{Location, PackReader, Store, hash_file};
use crate::{Error, ObjectId, Result};

#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct CheckoutReport {
    pub files_written: u64,
    pub bytes_written: u64,
    pub files_deleted: u64,
    /// Files whose executable bit was changed in place.
    pub modes_changed: u64,
    pub datasets: Vec<String>,
}

/// A file to write: where, what, and the chunks to write it from.
struct WriteJob {
    path: String,
    node: Node,
    chunks: Vec<Location>,
}

#[derive(Default)]
struct Plan {
    removes: Vec<(String, bool)>,
    mkdirs: Vec<String>,
    writes: Vec<WriteJob>,
    chmods: Vec<(String, bool)>,
    unsafe_paths: Vec<String>,
}

pub fn checkout(
    repo: &Repo,
    store: &Store,
    targets: &[Target],
    force: bool,
    progress: &dyn Progress,
) -> Result<CheckoutReport> {
    let started = now_ns();
    let mut plan = Plan::default();
    let mut refreshed = Vec::new();
    for t in targets {
        crate::paths::check_no_linked_parents(&repo.root, &t.dataset.path)?;
    }
    for t in targets {
        let d = &t.dataset;
        let cache = store.meta().stat_entries_under(&d.path)?;
        let mut cmp = Comparer::new(repo, store, &cache, t.scope.as_deref());
        cmp.compare(&d.path, Some(&d.pointer.node))?;
        let out = cmp.out;
        if let Some(first) = out.missing.first() {
            return Err(Error::MissingObjects {
                path: d.path.clone(),
                count: out.missing.len(),
                first: *first,
            });
        }
        refreshed.extend(out.refreshed);
        for c in out.changes {
            plan_change(repo, store, &cache, c, &mut plan)?;
        }
    }
    if !plan.unsafe_paths.is_empty() && !force {
        plan.unsafe_paths.sort();
        return Err(Error::LocalChanges {
            paths: plan.unsafe_paths,
        });
    }
    store
        .meta()
        .put_stat_entries(refreshed.iter().map(|(p, e)| (p.as_str(), *e)))?;

    let mut report = CheckoutReport {
        datasets: targets.iter().map(|t| t.dataset.path.clone()).collect(),
        ..Default::default()
    };
    for (path, is_dir) in &plan.removes {
        let abs = repo.abs(path);
        if *is_dir {
            report.files_deleted += count_files(&abs)?;
            fs::remove_dir_all(&abs).at(&abs)?;
        } else {
            fs::remove_file(&abs).at(&abs)?;
            report.files_deleted += 1;
        }
    }
    for dir in &plan.mkdirs {
        let abs = repo.abs(dir);
        fs::create_dir_all(&abs).at(&abs)?;
    }
    for (path, exec) in &plan.chmods {
        set_exec(&repo.abs(path), *exec)?;
        report.modes_changed += 1;
    }
    let total: u64 = plan.writes.iter().map(|w| w.node.size).sum();
    progress.start("Checking out", Some(total), Unit::Bytes);
    let written = write_files(repo, store.reader(), &plan.writes, progress);
    progress.finish();
    let written = written?;
    report.files_written = written.len() as u64;
    report.bytes_written = plan.writes.iter().map(|w| w.node.size).sum();
    store
        .meta()
        .put_stat_entries(written.iter().zip(&plan.writes).map(|(stat, w)| {
            (
                w.path.as_str(),
                StatEntry {
                    stat: *stat,
                    kind: w.node.kind,
                    id: w.node.id,
                    hashed_at_ns: started,
                },
            )
        }))?;
    Ok(report)
}

fn plan_change(
    repo: &Repo,
    store: &Store,
    cache: &HashMap<String, crate::meta::StatEntry>,
    c: Change,
    plan: &mut Plan,
) -> Result<()> {
    if c.mode_only {
        let exec = c.want.expect("modified has want").exec;
        plan.chmods.push((c.path, exec));
        return Ok(());
    }
    // What is there now must be safe to lose: stored by dv already, or `force`.
    match c.have {
        None => {}
        Some(Have::File { stat, content }) => {
            if !is_stored(repo, store, cache, &c.path, stat, content)? {
                plan.unsafe_paths.push(c.path.clone());
            }
            if c.kind == ChangeKind::New {
                plan.removes.push((c.path.clone(), false));
            }
        }
        Some(Have::Dir) => {
            check_dir_stored(repo, store, cache, &c.path, plan)?;
            plan.removes.push((c.path.clone(), true));
        }
        Some(Have::Other) => {
            plan.unsafe_paths.push(c.path.clone());
            plan.removes.push((c.path.clone(), false));
        }
    }
    if let Some(want) = c.want {
        plan_node(store, &c.path, &want, plan)?;
    }
    Ok(())
}

/// Plans writing `node` (a file, or a whole tree) at `path`.
fn plan_node(store: &Store, path: &str, node: &Node, plan: &mut Plan) -> Result<()> {
    match node.kind {
        NodeKind::Tree => {
            plan.mkdirs.push(path.to_string());
            let tree = store.read_tree(&node.id).map_err(|e| missing_as(path, e))?;
            for e in &tree.entries {
                plan_node(store, &join(path, &e.name), &e.node, plan)?;
            }
        }
        _ => {
            let chunks =
                store
                    .file_chunks(node.kind, &node.id)?
                    .map_err(|first| Error::MissingObjects {
                        path: path.to_string(),
                        count: 1,
                        first,
                    })?;
            plan.writes.push(WriteJob {
                path: path.to_string(),
                node: *node,
                chunks,
            });
        }
    }
    Ok(())
}

fn missing_as(path: &str, e: Error) -> Error {
    match e {
        Error::MissingObjects { count, first, .. } => Error::MissingObjects {
            path: path.to_string(),
            count,
            first,
        },
        other => other,
    }
}

/// True when the working file's content is in the cache, so replacing it loses nothing.
fn is_stored(
    repo: &Repo,
    store: &Store,
    cache: &HashMap<String, crate::meta::StatEntry>,
    path: &str,
    stat: Stat,
    content: Option<(NodeKind, ObjectId)>,
) -> Result<bool> {
    let id = match content {
        Some((_, id)) => id,
        None => match cache.get(path) {
            Some(e) if e.matches(&stat) => e.id,
            _ => hash_file(&repo.abs(path))?.1,
        },
    };
    store.contains(&id)
}

fn check_dir_stored(
    repo: &Repo,
    store: &Store,
    cache: &HashMap<String, crate::meta::StatEntry>,
    path: &str,
    plan: &mut Plan,
) -> Result<()> {
    let abs = repo.abs(path);
    for item in list_dir(&abs)? {
        let child = join(path, &item.name);
        match item.have {
            Have::Dir => check_dir_stored(repo, store, cache, &child, plan)?,
            Have::File { stat, .. } if is_stored(repo, store, cache, &child, stat, None)? => {}
            _ => plan.unsafe_paths.push(child),
        }
    }
    Ok(())
}

fn count_files(abs: &std::path::Path) -> Result<u64> {
    let mut n = 0;
    for entry in fs::read_dir(abs).at(abs)? {
        let entry = entry.at(abs)?;
        if entry.file_type().at(entry.path())?.is_dir() {
            n += count_files(&entry.path())?;
        } else {
            n += 1;
        }
    }
    Ok(n)
}

fn set_exec(abs: &std::path::Path, exec: bool) -> Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mut perms = fs::metadata(abs).at(abs)?.permissions();
        let mode = perms.mode();
        // Give execute to whoever may read, as Git does.
        let new = if exec {
            mode | ((mode & 0o444) >> 2)
        } else {
            mode & !0o111
        };
        perms.set_mode(new);
        fs::set_permissions(abs, perms).at(abs)?;
    }
    Ok(())
}

/// Writes the files on worker threads; returns each file's stat after the write, in order.
fn write_files(
    repo: &Repo,
    reader: &PackReader,
    jobs: &[WriteJob],
    progress: &dyn Progress,
) -> Result<Vec<Stat>> {
    let next = AtomicUsize::new(0);
    let results: Mutex<Vec<Option<Stat>>> = Mutex::new(vec![None; jobs.len()]);
    let first_err: Mutex<Option<Error>> = Mutex::new(None);
    std::thread::scope(|s| {
        for _ in 0..worker_count().min(jobs.len().max(1)) {
            s.spawn(|| {
                loop {
                    if first_err.lock().expect("poisoned").is_some() {
                        return;
                    }
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(job) = jobs.get(i) else { return };
                    match write_one(repo, reader, job, progress) {
                        Ok(stat) => results.lock().expect("poisoned")[i] = Some(stat),
                        Err(e) => {
                            first_err.lock().expect("poisoned").get_or_insert(e);
                            return;
                        }
                    }
                }
            });
        }
    });
    if let Some(e) = first_err.into_inner().expect("poisoned") {
        return Err(e);
    }
    Ok(results
        .into_inner()
        .expect("poisoned")
        .into_iter()
        .map(|s| s.expect("every job ran"))
        .collect())
}

/// How many chunks of one file are decoded at a time (a few MiB).
const CHUNKS_PER_RUN: usize = 64;

fn write_one(
    repo: &Repo,
    reader: &PackReader,
    job: &WriteJob,
    progress: &dyn Progress,
) -> Result<Stat> {
    let target = repo.abs(&job.path);
    let mode = if job.node.exec { 0o777 } else { 0o666 };
    // The folder is usually there already (the plan makes each tree's folder first): create it only when the
    // temporary file cannot be, which saves two system calls per file on a checkout of many small files.
    let mut tmp = match TempFile::beside(&target, mode) {
        Ok(tmp) => tmp,
        Err(first) => match target.parent() {
            Some(parent) if !parent.is_dir() => {
                fs::create_dir_all(parent).at(parent)?;
                TempFile::beside(&target, mode)?
            }
            _ => return Err(first),
        },
    };
    let tmp_path = tmp.path().to_path_buf();
    let mut size = 0u64;
    {
        let out = tmp.file();
        // A run of chunks at a time is read, decompressed and verified against its ids on every core, then
        // written in order: a large file is not limited to one core. Chunks are large enough to write as
        // they are, without a buffer.
        for run in job.chunks.chunks(CHUNKS_PER_RUN) {
            for data in super::par_map(run, |loc| reader.read(loc)) {
                let data = data?;
                out.write_all(&data).at(&tmp_path)?;
                size += data.len() as u64;
                progress.inc(data.len() as u64);
            }
        }
    }
    if size != job.node.size {
        return Err(Error::Corrupt {
            id: job.node.id,
            message: format!(
                "'{}' should be {} bytes, its chunks make {size}",
                job.path, job.node.size
            ),
        });
    }
    // The umask may have cleared bits an executable must have; make the mode exact for the exec bit. (A file
    // created with 0o666 never has one, so only executables need the check.)
    #[cfg(unix)]
    if job.node.exec {
        let m = tmp.file().metadata().at(&tmp_path)?;
        let want_exec = job.node.exec;
        if (m.mode_exec() != 0) != want_exec {
            set_exec(&tmp_path, want_exec)?;
        }
    }
    crate::fault::point("checkout-file-before-rename");
    tmp.persist(&target, false)?;
    crate::fault::point("checkout-file-renamed");
    let m = fs::symlink_metadata(&target).at(&target)?;
    Ok(Stat::of(&m))
}

#[cfg(unix)]
trait ModeExec {
    fn mode_exec(&self) -> u32;
}

#[cfg(unix)]
impl ModeExec for fs::Metadata {
    fn mode_exec(&self) -> u32 {
        use std::os::unix::fs::MetadataExt;
        self.mode() & 0o111
    }
}
