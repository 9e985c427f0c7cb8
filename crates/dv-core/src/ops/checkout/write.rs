//! Writing a checkout's files from the cache: each to a temporary file, verified, and renamed into place unless
//! it changed since the plan saw it.

use std::collections::HashMap;
use std::fs;
use std::io::Write;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use super::{Plan, WriteJob};
use crate::error::IoContext;
use crate::fsutil::TempFile;
use crate::ops::compare::{Have, list_dir};
use crate::ops::worker_count;
use crate::paths::join;
use crate::progress::Progress;
use crate::repo::Repo;
use crate::store::PackReader;
use crate::store::object::Node;
use crate::store::statedb::Stat;
use crate::{Error, Result};

/// True when the file at `abs` is no longer what the plan saw (`seen`; `None`: nothing was there): it was
/// edited, replaced or created while the checkout ran (not when it was deleted), so replacing or deleting it could lose the edit. Size,
/// mtime, ctime and inode are compared, as the stat cache compares them; a hashed file's stat is what was
/// hashed. (A change between this look and the rename that follows it, microseconds later, is not seen: no
/// program can close that window without a lock the editor would have to take.)
pub(super) fn changed_since_plan(
    abs: &std::path::Path,
    seen: Option<&Option<Stat>>,
) -> Result<bool> {
    let now = match fs::symlink_metadata(abs) {
        Ok(m) => Some(Stat::of(&m)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Err(e).at(abs),
    };
    // Deleted meanwhile: nothing there can be lost.
    Ok(now.is_some_and(|now| stat_changed(seen, &now)))
}

/// True when a file is there now as `now` and the plan saw something else (or nothing) there.
fn stat_changed(seen: Option<&Option<Stat>>, now: &Stat) -> bool {
    match seen {
        None => true,
        // Neither a file nor a folder: replaced only with `force`, not checked again.
        Some(None) => false,
        Some(Some(a)) => {
            a.size != now.size
                || a.mtime_ns != now.mtime_ns
                || a.ctime_ns != now.ctime_ns
                || a.ino != now.ino
        }
    }
}

/// Adds to `changed` every file in the folder `path` (about to be deleted) that the plan did not see as it is
/// now: edited, or new since the plan. A folder with any is left as it is.
pub(super) fn changed_in_dir(
    repo: &Repo,
    path: &str,
    seen: &HashMap<String, Option<Stat>>,
    changed: &mut Vec<String>,
) -> Result<()> {
    for item in list_dir(&repo.abs(path))? {
        let child = join(path, &item.name);
        match item.have {
            Have::Dir => changed_in_dir(repo, &child, seen, changed)?,
            Have::File { stat, .. } => {
                if stat_changed(seen.get(&child), &stat) {
                    changed.push(child);
                }
            }
            Have::Other => {
                if !seen.contains_key(&child) {
                    changed.push(child);
                }
            }
        }
    }
    Ok(())
}

pub(super) fn set_exec(abs: &std::path::Path, exec: bool) -> Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mut perms = fs::metadata(abs).at(abs)?.permissions();
        let mode = perms.mode();
        // Give execute to whoever may read, as Git does. (Only a file with no execute bit is made executable,
        // so `^` in place of the first `|` gives the same mode: an equivalent mutant.)
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

/// Writes the files on worker threads (renaming those in `written` into place); returns each file's stat
/// after the write, in order, or `None` for a file left alone because it changed since the plan saw it.
///
/// Its own threads rather than `par_map`'s rayon pool: they take files strictly in plan order and stop at the
/// first error; and a rayon thread waiting for a large file's chunks (`par_map` in [`write_one`]) would steal
/// and start other files on top of it, each with an open temporary file and a run of decoded chunks.
pub(super) fn write_files(
    repo: &Repo,
    reader: &PackReader,
    plan: &Plan,
    written: Vec<Option<TempFile>>,
    progress: &dyn Progress,
) -> Result<Vec<Option<Stat>>> {
    let (jobs, seen) = (&plan.writes, &plan.seen);
    let next = AtomicUsize::new(0);
    let written: Vec<Mutex<Option<TempFile>>> = written.into_iter().map(Mutex::new).collect();
    let results: Mutex<Vec<Option<Option<Stat>>>> = Mutex::new(vec![None; jobs.len()]);
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
                    let done = written
                        .get(i)
                        .and_then(|w| w.lock().expect("poisoned").take());
                    let target = plan.abs(repo, &job.path);
                    match write_one(
                        repo,
                        reader,
                        job,
                        &target,
                        seen.get(&job.path),
                        done,
                        progress,
                    ) {
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

/// A temporary file for `target` with permission bits `mode` (see `fsutil::TempFile::for_target`: in the
/// cache's `tmp/`, or beside `target` and recorded), creating `target`'s folders if needed (each one made is
/// passed to `made`).
pub(super) fn temp_beside(
    repo: &Repo,
    target: &std::path::Path,
    mode: u32,
    made: &mut dyn FnMut(std::path::PathBuf),
) -> Result<TempFile> {
    let tmp_dir = repo.cache_dir().join("tmp");
    // The folder is usually there already (the plan makes each tree's folder first, or it was made for an
    // earlier file): create it only when the temporary file cannot be, which saves system calls per file on a
    // checkout of many small files.
    let first = match TempFile::for_target(target, mode, &tmp_dir) {
        Ok(tmp) => return Ok(tmp),
        Err(e) => e,
    };
    let Some(parent) = target.parent().filter(|p| !p.is_dir()) else {
        return Err(first);
    };
    let mut missing = Vec::new();
    let mut at = parent;
    while !at.exists() {
        missing.push(at.to_path_buf());
        match at.parent() {
            Some(up) => at = up,
            None => break,
        }
    }
    for dir in missing.into_iter().rev() {
        match fs::create_dir(&dir) {
            Ok(()) => made(dir),
            // Another thread made it for another file. (Only threads racing can get here, so no test pins this
            // guard: taken for an error, that file is left to the cache; any other error taken for success
            // fails on the temporary file below instead.)
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(e).at(&dir),
        }
    }
    TempFile::for_target(target, mode, &tmp_dir)
}

pub(super) fn file_mode(node: &Node) -> u32 {
    if node.exec { 0o777 } else { 0o666 }
}

/// Writes one file from the cache, or renames `done` (the file a [`DirectWriter`] wrote) into place; `None`
/// when what is at its path is no longer what the plan saw there (`seen`), which is then left as it is.
///
/// [`DirectWriter`]: super::DirectWriter
fn write_one(
    repo: &Repo,
    reader: &PackReader,
    job: &WriteJob,
    target: &std::path::Path,
    seen: Option<&Option<Stat>>,
    done: Option<TempFile>,
    progress: &dyn Progress,
) -> Result<Option<Stat>> {
    let (mut tmp, size) = match done {
        Some(tmp) => {
            progress.inc(job.node.size);
            (tmp, job.chunks.iter().map(|p| p.len).sum())
        }
        None => {
            let mut tmp = temp_beside(repo, target, file_mode(&job.node), &mut drop)?;
            let tmp_path = tmp.path().to_path_buf();
            let mut size = 0u64;
            let out = tmp.file();
            // A run of chunks at a time is read, decompressed and verified against its ids on every core, then
            // written in order: a large file is not limited to one core. Chunks are large enough to write as
            // they are, without a buffer.
            for run in job.chunks.chunks(CHUNKS_PER_RUN) {
                for data in crate::ops::par_map(run, |p| {
                    reader.read(p.at.as_ref().expect("located before writing"))
                }) {
                    let data = data?;
                    out.write_all(&data).at(&tmp_path)?;
                    size += data.len() as u64;
                    progress.inc(data.len() as u64);
                }
            }
            (tmp, size)
        }
    };
    let tmp_path = tmp.path().to_path_buf();
    if size != job.node.size {
        return Err(Error::SizeMismatch {
            path: job.path.clone(),
            declared: job.node.size,
            holds: size,
        });
    }
    // The umask may have cleared bits an executable must have; make the mode exact for the exec bit. (A file
    // created with 0o666 never has one, so only executables need the check.)
    #[cfg(unix)]
    if job.node.exec {
        let m = fs::metadata(&tmp_path).at(&tmp_path)?;
        if m.mode_exec() == 0 {
            set_exec(&tmp_path, true)?;
        }
    }
    tmp.close();
    crate::fault::point("checkout-file-before-rename");
    // The plan checked that what is there is safe to replace; the user may have edited it since (the temporary
    // file is deleted when dropped).
    if changed_since_plan(target, seen)? {
        return Ok(None);
    }
    tmp.persist(target, false)?;
    crate::fault::point("checkout-file-renamed");
    let m = fs::symlink_metadata(target).at(target)?;
    Ok(Some(Stat::of(&m)))
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
