//! `dv checkout`: make the working copy match the pointer files, from the cache, bit for bit.
//!
//! Everything is planned before anything is touched: the changes, the objects each file needs (all must be in
//! the cache) and the safety check (no working file whose content dv has not stored is overwritten or deleted
//! without `force`). Each file is written to a temporary file beside it, verified chunk by chunk, and renamed
//! into place, so an interrupted checkout leaves either the old file or the new one.
//!
//! `dv pull` plans its checkout once the fetch has brought the trees and manifests, and a [`DirectWriter`] then
//! writes the files the fetch brings straight from the chunks it verifies, instead of reading, decompressing and
//! hashing them a second time from the cache.
//!
//! This file holds the plan and its application; plan.rs makes the plan, git_owned.rs refuses what is Git's,
//! write.rs writes files from the cache, and direct.rs writes them straight from a fetch.

use std::collections::HashMap;
use std::fs;

use crate::error::IoContext;
use crate::fsutil::TempFile;
use crate::ops::datasets::Target;
use crate::progress::{Progress, Unit};
use crate::repo::Repo;
use crate::session::Locked;
use crate::store::Piece;
use crate::store::object::Node;
use crate::store::statedb::{Stat, StatEntry};
use crate::{Error, Result};

mod direct;
mod git_owned;
mod plan;
mod write;

pub use direct::{DirectWriter, Written};
pub use plan::{prepare, prepare_fresh};
use write::{changed_in_dir, changed_since_plan, set_exec, write_files};

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
    chunks: Vec<Piece>,
    /// Something is at `path` now (a file to replace, or a folder or link to delete first).
    replaces: bool,
    /// The layout `node`'s id is in (its dataset's pointer's).
    layout: crate::store::split::Layout,
}

#[derive(Default)]
struct Plan {
    removes: Vec<(String, bool)>,
    /// What the plan saw of each file it replaces or deletes (those inside folders it deletes too): right
    /// before replacing or deleting one, the checkout looks again, and leaves alone a file that changed since
    /// (`None`: something that is neither a file nor a folder, which only `force` replaces, not checked again).
    seen: HashMap<String, Option<Stat>>,
    mkdirs: Vec<String>,
    writes: Vec<WriteJob>,
    chmods: Vec<(String, bool)>,
    unsafe_paths: Vec<String>,
    /// A plan made by [`prepare_fresh`]: what it puts at the repository path `.0` goes into the folder `.1`
    /// instead (the caller renames that folder into place).
    staged: Option<(String, std::path::PathBuf)>,
}

impl Plan {
    /// Where the plan writes the repository path `path`.
    fn abs(&self, repo: &Repo, path: &str) -> std::path::PathBuf {
        if let Some((prefix, dir)) = &self.staged {
            if path == prefix {
                return dir.clone();
            }
            if let Some(rest) = path
                .strip_prefix(prefix.as_str())
                .and_then(|r| r.strip_prefix('/'))
            {
                return dir.join(rest);
            }
        }
        repo.abs(path)
    }
}

/// `before_writing` runs once the checkout is known to go ahead, right before it touches the work tree (the
/// CLI adds the datasets' ignore lines there, so that no data it writes is ever addable by Git).
pub fn checkout(
    s: &Locked<'_>,
    targets: &[Target],
    opts: &CheckoutOptions,
    before_writing: &mut dyn FnMut() -> Result<()>,
    progress: &dyn Progress,
) -> Result<CheckoutReport> {
    let parts = crate::ops::partial::updates(s.repo(), s.store(), targets)?;
    let prepared = prepare(s, targets, false)?;
    parts.before(s.store())?;
    let report = prepared.apply(s, opts, Written::default(), before_writing, progress)?;
    parts.after(s.store())?;
    Ok(report)
}

/// How [`checkout`] (and `pull`'s checkout) treats the work tree.
#[derive(Clone, Copy, Debug, Default)]
pub struct CheckoutOptions {
    /// Overwrite or delete working files whose content dv has not stored (local changes). What Git owns
    /// is never touched, forced or not.
    pub force: bool,
}

/// A checkout planned and not yet done: see [`prepare`].
pub struct Prepared {
    plan: Plan,
    datasets: Vec<String>,
    started: i64,
}

impl Prepared {
    /// Working files the checkout would overwrite or delete although dv has not stored their content.
    /// (`pull` asks, so as not to write files from the fetch for a checkout that will refuse: returning none
    /// here only wastes that work and disk space, since `apply` refuses on the plan itself; no test tells.)
    pub fn unsafe_paths(&self) -> &[String] {
        &self.plan.unsafe_paths
    }

    /// A writer for the files whose chunks a fetch is about to bring: see [`DirectWriter`].
    pub fn direct_writer<'p>(&'p self, repo: &'p Repo) -> DirectWriter<'p> {
        DirectWriter::new(repo, &self.plan)
    }

    /// Does the checkout. Files in `written` (from a [`DirectWriter`]) that the plan still wants as they are
    /// are renamed into place; the rest are written from the cache. `before_writing` runs right before the
    /// first change to the work tree (see [`checkout`]).
    pub fn apply(
        self,
        s: &Locked<'_>,
        opts: &CheckoutOptions,
        mut written: Written,
        before_writing: &mut dyn FnMut() -> Result<()>,
        progress: &dyn Progress,
    ) -> Result<CheckoutReport> {
        let (repo, store, force) = (s.repo(), s.store(), opts.force);
        let Prepared {
            mut plan,
            datasets,
            started,
        } = self;
        if !plan.unsafe_paths.is_empty() && !force {
            return Err(Error::LocalChanges {
                paths: plan.unsafe_paths,
            });
        }
        let done: Vec<Option<TempFile>> = plan
            .writes
            .iter()
            .map(|job| {
                let (node, tmp) = written.files.remove(&job.path)?;
                // Both plans of a pull come from the same targets, so a path's node is the same in both today:
                // this guards a caller that plans from other targets (no test can make the nodes differ, and
                // `!=` here only writes every file from the cache again).
                (node == job.node).then_some(tmp)
            })
            .collect();
        // Chunks fetched since the plan was made: every file not written already needs all of its chunks.
        for (job, done) in plan.writes.iter_mut().zip(&done) {
            if done.is_some() {
                continue;
            }
            for piece in job.chunks.iter_mut().filter(|p| p.at.is_none()) {
                piece.at = Some(
                    store
                        .locate(&piece.id)?
                        .ok_or_else(|| Error::MissingObjects {
                            path: job.path.clone(),
                            count: 1,
                            first: piece.id,
                        })?,
                );
            }
        }
        before_writing()?;
        // Until it finishes, what the work tree lacks of these datasets is still to come, not deleted (status
        // and add, through ops/partial.rs), whether this run is killed or stopped by an error.
        let writes_any =
            !(plan.removes.is_empty() && plan.writes.is_empty() && plan.chmods.is_empty());
        // A staged plan changes nothing in the work tree.
        let marks = writes_any && plan.staged.is_none();
        if marks {
            store.state_db().set_unfinished(&datasets, true)?;
        }
        let mut report = CheckoutReport {
            datasets,
            ..Default::default()
        };
        // Files changed since the plan saw them: left as they are.
        let mut changed = Vec::new();
        for (path, is_dir) in &plan.removes {
            let abs = plan.abs(repo, path);
            if *is_dir {
                let before = changed.len();
                changed_in_dir(repo, path, &plan.seen, &mut changed)?;
                if changed.len() > before {
                    continue;
                }
                report.files_deleted += count_files(&abs)?;
                fs::remove_dir_all(&abs).at(&abs)?;
            } else {
                if changed_since_plan(&abs, plan.seen.get(path))? {
                    changed.push(path.clone());
                    continue;
                }
                match fs::remove_file(&abs) {
                    Ok(()) => report.files_deleted += 1,
                    // Deleted meanwhile.
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                    Err(e) => return Err(e).at(&abs),
                }
            }
        }
        for dir in &plan.mkdirs {
            let abs = plan.abs(repo, dir);
            fs::create_dir_all(&abs).at(&abs)?;
        }
        for (path, exec) in &plan.chmods {
            set_exec(&plan.abs(repo, path), *exec)?;
            report.modes_changed += 1;
        }
        let total: u64 = plan.writes.iter().map(|w| w.node.size).sum();
        progress.start("Checking out", Some(total), Unit::Bytes);
        let stats = write_files(repo, store.reader(), &plan, done, progress);
        progress.finish();
        let stats = stats?;
        // The folders made for the files written are in use now.
        written.made_dirs.clear();
        let mut entries = Vec::new();
        for (stat, w) in stats.iter().zip(&plan.writes) {
            match stat {
                Some(stat) => {
                    report.files_written += 1;
                    report.bytes_written += w.node.size;
                    entries.push((
                        w.path.as_str(),
                        StatEntry {
                            stat: *stat,
                            kind: w.node.kind,
                            id: w.node.id,
                            hashed_at_ns: started,
                            hashed_in: crate::store::statedb::HashedIn::of_node(
                                w.layout,
                                w.node.kind,
                                w.node.size,
                            ),
                        },
                    ));
                }
                None => changed.push(w.path.clone()),
            }
        }
        store.state_db().put_stat_entries(entries)?;
        if !changed.is_empty() {
            changed.sort();
            changed.dedup();
            return Err(Error::ChangedDuringCheckout { paths: changed });
        }
        // Also when nothing was written: a run that found everything in place finishes what a killed one began.
        if plan.staged.is_none() {
            store.state_db().set_unfinished(&report.datasets, false)?;
        }
        Ok(report)
    }
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
