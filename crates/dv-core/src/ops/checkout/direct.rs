//! Writing a pull's files straight from the chunks its fetch verifies, before the checkout renames them into
//! place.

use std::collections::HashMap;
use std::fs;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use super::write::{file_mode, temp_beside};
use super::{Plan, WriteJob};
use crate::fsutil::TempFile;
use crate::ops::transfer::ChunkSink;
use crate::repo::Repo;
use crate::store::object::Node;
use crate::{ObjectId, Result};

/// How many files a [`DirectWriter`] keeps open at once; a file that would need more is left to the cache.
const DIRECT_OPEN_MAX: usize = 64;

/// How many bytes of files that replace something in the working copy a [`DirectWriter`] writes: until the
/// checkout, the new files sit beside what they replace, so this bounds the extra disk space a pull needs.
/// (A smaller bound only leaves more files to the cache: no test of what a pull writes tells `1 >> 30`.)
const DIRECT_REPLACE_MAX: u64 = 1 << 30;

/// Writes the files of a planned checkout straight from the chunks a fetch verifies (a [`ChunkSink`]), each
/// chunk at its offset in a temporary file beside its target, in whatever order the chunks come. Nothing is
/// renamed into place here: [`Prepared::apply`] does that once the fetch has stored the chunks, and writes the
/// files left over (a chunk already cached, a folder to delete first, too many files open, a write that failed)
/// from the cache.
///
/// Only files whose chunks all come from the fetch are written this way, and none below a path the checkout
/// must delete first (a file or link where a folder goes), so nothing is created outside a real folder.
///
/// [`Prepared::apply`]: super::Prepared::apply
pub struct DirectWriter<'p> {
    repo: &'p Repo,
    plan: &'p Plan,
    jobs: &'p [WriteJob],
    /// Each chunk to come: where it goes, as (job, slot in the job's chunks, offset).
    places: HashMap<ObjectId, Vec<(usize, usize, u64)>>,
    files: Vec<Mutex<Direct>>,
    open: AtomicUsize,
    made_dirs: Mutex<Vec<std::path::PathBuf>>,
}

enum Direct {
    /// Left to the cache.
    No,
    /// Not opened yet.
    Waiting,
    /// Open, with the slots written so far and how many are left.
    Open {
        tmp: TempFile,
        seen: Vec<bool>,
        left: usize,
    },
    Done(TempFile),
}

/// Files a [`DirectWriter`] finished, by path (with the node written), for [`Prepared::apply`]. Dropping it
/// deletes the files not taken, then the folders made for them if they are empty.
///
/// [`Prepared::apply`]: super::Prepared::apply
#[derive(Default)]
// `len` is for a log line; an `is_empty` nobody calls would only be an untested method (mutation testing).
#[allow(clippy::len_without_is_empty)]
pub struct Written {
    pub(super) files: HashMap<String, (Node, TempFile)>,
    pub(super) made_dirs: Vec<std::path::PathBuf>,
}

impl Written {
    /// How many files.
    pub fn len(&self) -> usize {
        self.files.len()
    }
}

impl Drop for Written {
    fn drop(&mut self) {
        self.files.clear();
        remove_made_dirs(&mut self.made_dirs);
    }
}

/// Removes folders made for temporary files, deepest first, where they are empty.
fn remove_made_dirs(dirs: &mut Vec<std::path::PathBuf>) {
    dirs.sort_by_key(|d| std::cmp::Reverse(d.components().count()));
    for dir in dirs.drain(..) {
        let _ = fs::remove_dir(dir);
    }
}

impl<'p> DirectWriter<'p> {
    pub(super) fn new(repo: &'p Repo, plan: &'p Plan) -> DirectWriter<'p> {
        let removed: std::collections::HashSet<&str> =
            plan.removes.iter().map(|(p, _)| p.as_str()).collect();
        let below_removed = |path: &str| {
            path.match_indices('/')
                .any(|(i, _)| removed.contains(&path[..i]))
        };
        let mut replacing = 0u64;
        let mut places: HashMap<ObjectId, Vec<(usize, usize, u64)>> = HashMap::new();
        let mut files = Vec::with_capacity(plan.writes.len());
        for (j, job) in plan.writes.iter().enumerate() {
            let mut direct = cfg!(unix)
                && !job.chunks.is_empty()
                && job.chunks.iter().all(|p| p.at.is_none())
                && !below_removed(&job.path);
            if direct && job.replaces {
                direct = replacing + job.node.size <= DIRECT_REPLACE_MAX;
                replacing += if direct { job.node.size } else { 0 };
            }
            if !direct {
                files.push(Mutex::new(Direct::No));
                continue;
            }
            let mut offset = 0;
            for (slot, p) in job.chunks.iter().enumerate() {
                places.entry(p.id).or_default().push((j, slot, offset));
                offset += p.len;
            }
            files.push(Mutex::new(Direct::Waiting));
        }
        DirectWriter {
            repo,
            plan,
            jobs: &plan.writes,
            places,
            files,
            open: AtomicUsize::new(0),
            made_dirs: Mutex::new(Vec::new()),
        }
    }

    /// The files finished. Unfinished ones are deleted.
    pub fn finish(mut self) -> Written {
        let mut written = Written {
            files: HashMap::new(),
            made_dirs: std::mem::take(&mut *self.made_dirs.lock().expect("poisoned")),
        };
        for (job, f) in self.jobs.iter().zip(std::mem::take(&mut self.files)) {
            if let Direct::Done(tmp) = f.into_inner().expect("poisoned") {
                written.files.insert(job.path.clone(), (job.node, tmp));
            }
        }
        written
    }

    /// A temporary file for job `j`, making the folders it needs (and recording them).
    fn temp_for(&self, j: usize) -> Result<TempFile> {
        let job = &self.jobs[j];
        temp_beside(
            self.repo,
            &self.plan.abs(self.repo, &job.path),
            file_mode(&job.node),
            &mut |dir| self.made_dirs.lock().expect("poisoned").push(dir),
        )
    }

    /// Writes `raw` into slot `slot` of job `j`. Whatever goes wrong (the file cannot be made or written, the
    /// chunk is not the length the manifest says) leaves the file to the cache, which reports real errors.
    fn place(&self, j: usize, slot: usize, offset: u64, raw: &[u8]) {
        let job = &self.jobs[j];
        let mut state = self.files[j].lock().expect("poisoned");
        if matches!(*state, Direct::Waiting) {
            *state = Direct::No;
            if self.open.fetch_add(1, Ordering::Relaxed) >= DIRECT_OPEN_MAX {
                self.open.fetch_sub(1, Ordering::Relaxed);
                return;
            }
            match self.temp_for(j) {
                Ok(tmp) => {
                    *state = Direct::Open {
                        tmp,
                        seen: vec![false; job.chunks.len()],
                        left: job.chunks.len(),
                    }
                }
                Err(e) => {
                    self.open.fetch_sub(1, Ordering::Relaxed);
                    tracing::debug!(path = job.path, error = %e, "left to the cache");
                    return;
                }
            }
        }
        let Direct::Open { tmp, seen, left } = &mut *state else {
            return;
        };
        if seen[slot] {
            return;
        }
        let wrote = if raw.len() as u64 != job.chunks[slot].len {
            Err(format!(
                "chunk {} is {} bytes, the manifest says {}",
                job.chunks[slot].id,
                raw.len(),
                job.chunks[slot].len
            ))
        } else {
            write_at(tmp.file(), raw, offset).map_err(|e| e.to_string())
        };
        if let Err(error) = wrote {
            tracing::debug!(path = job.path, error, "left to the cache");
            // Dropping the temporary file deletes it.
            *state = Direct::No;
            self.open.fetch_sub(1, Ordering::Relaxed);
            return;
        }
        seen[slot] = true;
        *left -= 1;
        if *left == 0 {
            self.open.fetch_sub(1, Ordering::Relaxed);
            if let Direct::Open { mut tmp, .. } = std::mem::replace(&mut *state, Direct::No) {
                tmp.close();
                *state = Direct::Done(tmp);
            }
        }
    }
}

#[cfg(unix)]
fn write_at(file: &fs::File, raw: &[u8], offset: u64) -> std::io::Result<()> {
    std::os::unix::fs::FileExt::write_all_at(file, raw, offset)
}

// (Not compiled on Unix, where mutation testing runs: its mutants build and pass untested.)
#[cfg(not(unix))]
fn write_at(_: &fs::File, _: &[u8], _: u64) -> std::io::Result<()> {
    // `DirectWriter::new` writes nothing directly on other systems.
    Err(std::io::Error::other(
        "positional writes are not supported here",
    ))
}

impl Drop for DirectWriter<'_> {
    /// Unless finished: deletes the temporary files, then the folders made for them, so that a failed fetch
    /// leaves the working copy as it was.
    fn drop(&mut self) {
        self.files.clear();
        remove_made_dirs(&mut self.made_dirs.lock().expect("poisoned"));
    }
}

impl ChunkSink for DirectWriter<'_> {
    /// Writes a chunk, already verified against its id, to every place that needs it.
    fn chunk(&self, id: &ObjectId, raw: &[u8]) {
        for &(j, slot, offset) in self.places.get(id).into_iter().flatten() {
            self.place(j, slot, offset, raw);
        }
    }
}
