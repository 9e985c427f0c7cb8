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

use std::collections::HashMap;
use std::fs;
use std::io::Write;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use super::compare::{Change, Comparer, Have, list_dir};
use super::datasets::Target;
use super::transfer::ChunkSink;
use super::{now_ns, worker_count};
use crate::error::IoContext;
use crate::fsutil::TempFile;
use crate::paths::join;
use crate::progress::{Progress, Unit};
use crate::repo::Repo;
use crate::session::{Locked, Session};
use crate::store::object::{Node, NodeKind};
use crate::store::statedb::{Stat, StatEntry};
use crate::store::{PackReader, Piece, Store, hash_file};
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
    chunks: Vec<Piece>,
    /// Something is at `path` now (a file to replace, or a folder or link to delete first).
    replaces: bool,
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
    prepare(s, targets, false)?.apply(s, opts, Written::default(), before_writing, progress)
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

/// Compares the working copy with the targets and plans the checkout, touching nothing. File chunks the cache
/// lacks are an error unless `chunks_to_come` (a fetch is about to bring them); trees and manifests must be in
/// the cache.
pub fn prepare(s: &Session, targets: &[Target], chunks_to_come: bool) -> Result<Prepared> {
    let (repo, store) = (s.repo(), s.store());
    let started = now_ns();
    let mut plan = Plan::default();
    let mut refreshed = Vec::new();
    for t in targets {
        crate::paths::check_no_linked_parents(&repo.root, &t.dataset.path)?;
        // A named path limits what the checkout may touch.
        t.check_to_write(repo, store)?;
    }
    // A dataset that lacks objects stops the whole checkout, but every dataset is looked at first, so that the
    // error can say which are whole (and could be checked out on their own).
    let mut missing: Option<Error> = None;
    let (mut lacking, mut whole) = (Vec::new(), Vec::new());
    for t in targets {
        let d = &t.dataset;
        let planned = (|| -> Result<()> {
            let cache = store.state_db().stat_entries_under(&d.path)?;
            let mut cmp = Comparer::new(repo, store, &cache, t.scope.as_deref());
            cmp.compare(&d.path, Some(&d.pointer.node))?;
            let out = cmp.out;
            if let Some(first) = out.missing.first() {
                return Err(Error::MissingObjects {
                    path: d.path.clone(),
                    count: out.missing.len(),
                    first: first.id,
                });
            }
            refreshed.extend(out.refreshed);
            for c in out.changes {
                plan_change(repo, store, &cache, c, chunks_to_come, &mut plan)?;
            }
            Ok(())
        })();
        match planned {
            Ok(()) => whole.push(d.path.clone()),
            Err(e @ Error::MissingObjects { .. }) => {
                missing.get_or_insert(e);
                lacking.push(d.path.clone());
            }
            Err(e) => return Err(e),
        }
    }
    if let Some(e) = missing {
        return Err(if whole.is_empty() {
            e
        } else {
            Error::MissingInSome {
                missing: Box::new(e),
                lacking,
                whole,
            }
        });
    }
    refuse_git_owned(s, &plan, targets)?;
    plan.unsafe_paths.sort();
    // What was hashed is worth remembering whatever happens next (a pull plans twice: the second plan, and a
    // status after a refusal, need not hash these files again).
    store
        .state_db()
        .put_stat_entries(refreshed.iter().map(|(p, e)| (p.as_str(), *e)))?;
    Ok(Prepared {
        plan,
        datasets: targets.iter().map(|t| t.dataset.path.clone()).collect(),
        started,
    })
}

/// The rule that checkout never touches what belongs to Git, even with `--force`: a file Git's index tracks (a
/// pointer file committed inside a dataset's folder, a file a planted pointer names), a dataset folder holding
/// anything the index tracks (a source folder, an uninitialised submodule: nothing is written into it), and a
/// Git repository or linked work tree inside a dataset's folder (a folder holding `.git`, or a bare
/// repository: its history, its index, its own work; `dv add` refuses such a folder too) are Git's, whatever
/// dv's cache holds. A plan that would write, replace
/// or delete one (or anything in it) is an error naming each, before anything is done. Git's index is read
/// once, and only when the plan changes anything.
fn refuse_git_owned(s: &Session, plan: &Plan, targets: &[Target]) -> Result<()> {
    let repo = s.repo();
    if plan.removes.is_empty() && plan.writes.is_empty() {
        return Ok(());
    }
    // Every path the plan would touch: what it removes, every file inside what it removes (`seen`), and what
    // it writes.
    let touched = || {
        plan.removes
            .iter()
            .map(|(p, _)| p.as_str())
            .chain(plan.seen.keys().map(String::as_str))
            .chain(plan.writes.iter().map(|w| w.path.as_str()))
    };
    let mut repositories: Vec<String> = touched()
        .filter_map(|p| {
            let mut at = 0;
            for name in p.split('/') {
                if name == ".git" {
                    return Some(p[..at.max(1) - 1].to_string());
                }
                at += name.len() + 1;
            }
            // A bare repository (`backup.git/`): a folder with HEAD, objects/ and refs/, as Git knows one.
            let (dir, name) = crate::paths::split(p);
            if name == "HEAD"
                && !dir.is_empty()
                && repo.abs(dir).join("objects").is_dir()
                && repo.abs(dir).join("refs").is_dir()
            {
                return Some(dir.to_string());
            }
            // A folder remote of dv's (`packs/` beside `index/`): what was pushed there may be its only copy.
            let mut at = 0;
            for name in p.split('/') {
                if name == "packs" && at > 0 && repo.abs(&p[..at - 1]).join("index").is_dir() {
                    return Some(p[..at - 1].to_string());
                }
                at += name.len() + 1;
            }
            None
        })
        .collect();
    repositories.sort();
    repositories.dedup();
    let index = s.git()?.tracked()?;
    let mut tracked: Vec<String> = plan
        .removes
        .iter()
        .flat_map(|(p, _)| index.under(p).collect::<Vec<_>>())
        .chain(
            plan.writes
                .iter()
                .flat_map(|w| index.under(&w.path).collect::<Vec<_>>()),
        )
        .collect();
    // A dataset folder holding anything Git tracks (a source folder a planted pointer names, an uninitialised
    // submodule) is Git's as a whole: nothing is written into it either, and its ignore line never added.
    for t in targets {
        let path = &t.dataset.path;
        let inside = |p: &str| crate::paths::is_within(p, path);
        // A binary search first: the scan of what the plan touches runs only for a folder Git tracks files in.
        if index.holds(path) && touched().any(inside) {
            tracked.extend(index.under(path));
        }
    }
    if tracked.is_empty() && repositories.is_empty() {
        return Ok(());
    }
    tracked.sort();
    tracked.dedup();
    Err(Error::GitOwned {
        tracked,
        repositories,
    })
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
        let mut report = CheckoutReport {
            datasets,
            ..Default::default()
        };
        before_writing()?;
        // Files changed since the plan saw them: left as they are.
        let mut changed = Vec::new();
        for (path, is_dir) in &plan.removes {
            let abs = repo.abs(path);
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
            let abs = repo.abs(dir);
            fs::create_dir_all(&abs).at(&abs)?;
        }
        for (path, exec) in &plan.chmods {
            set_exec(&repo.abs(path), *exec)?;
            report.modes_changed += 1;
        }
        let total: u64 = plan.writes.iter().map(|w| w.node.size).sum();
        progress.start("Checking out", Some(total), Unit::Bytes);
        let stats = write_files(
            repo,
            store.reader(),
            &plan.writes,
            &plan.seen,
            done,
            progress,
        );
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
        Ok(report)
    }
}

fn plan_change(
    repo: &Repo,
    store: &Store,
    cache: &HashMap<String, crate::store::statedb::StatEntry>,
    c: Change,
    chunks_to_come: bool,
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
            plan.seen.insert(c.path.clone(), Some(stat));
            if !is_stored(repo, store, cache, &c.path, stat, content)? {
                plan.unsafe_paths.push(c.path.clone());
            }
            // A file that is not replaced by a file (nothing belongs there, or a folder does) goes first.
            if c.want.is_none_or(|w| w.kind == NodeKind::Tree) {
                plan.removes.push((c.path.clone(), false));
            }
        }
        Some(Have::Dir) => {
            check_dir_stored(repo, store, cache, &c.path, plan)?;
            plan.removes.push((c.path.clone(), true));
        }
        Some(Have::Other) => {
            plan.seen.insert(c.path.clone(), None);
            plan.unsafe_paths.push(c.path.clone());
            plan.removes.push((c.path.clone(), false));
        }
    }
    if let Some(want) = c.want {
        let replaces = c.have.is_some();
        plan_node(store, &c.path, &want, chunks_to_come, replaces, plan)?;
    }
    Ok(())
}

/// Plans writing `node` (a file, or a whole tree) at `path`.
fn plan_node(
    store: &Store,
    path: &str,
    node: &Node,
    chunks_to_come: bool,
    replaces: bool,
    plan: &mut Plan,
) -> Result<()> {
    let missing = |first| Error::MissingObjects {
        path: path.to_string(),
        count: 1,
        first,
    };
    if node.kind == NodeKind::Tree {
        plan.mkdirs.push(path.to_string());
        let tree = store.read_tree(&node.id).map_err(|e| missing_as(path, e))?;
        for e in &tree.entries {
            let child = join(path, &e.name);
            plan_node(store, &child, &e.node, chunks_to_come, false, plan)?;
        }
        return Ok(());
    }
    let chunks = store
        .file_pieces(node.kind, &node.id, node.size)
        .map_err(|e| e.at_path(path))?
        .map_err(missing)?;
    if !chunks_to_come && let Some(p) = chunks.iter().find(|p| p.at.is_none()) {
        return Err(missing(p.id));
    }
    plan.writes.push(WriteJob {
        path: path.to_string(),
        node: *node,
        chunks,
        replaces,
    });
    Ok(())
}

fn missing_as(path: &str, e: Error) -> Error {
    match e {
        Error::MissingObjects { count, first, .. } => Error::MissingObjects {
            path: path.to_string(),
            count,
            first,
        },
        other => other.at_path(path),
    }
}

/// True when the working file's content is in the cache, so replacing it loses nothing.
fn is_stored(
    repo: &Repo,
    store: &Store,
    cache: &HashMap<String, crate::store::statedb::StatEntry>,
    path: &str,
    stat: Stat,
    content: Option<(NodeKind, ObjectId)>,
) -> Result<bool> {
    let id = match content {
        Some((_, id)) => id,
        None => match cache.get(path) {
            // Trusting the stat cache only saves reading the file: hashing it gives the same id (a file whose
            // content changed keeps neither its ctime nor its stat entry), so no test tells this guard from
            // `false`.
            Some(e) if e.matches(&stat) => e.id,
            _ => hash_file(&repo.abs(path))?.1,
        },
    };
    store.contains(&id)
}

fn check_dir_stored(
    repo: &Repo,
    store: &Store,
    cache: &HashMap<String, crate::store::statedb::StatEntry>,
    path: &str,
    plan: &mut Plan,
) -> Result<()> {
    let abs = repo.abs(path);
    for item in list_dir(&abs)? {
        let child = join(path, &item.name);
        match item.have {
            Have::File { stat, .. } => plan.seen.insert(child.clone(), Some(stat)),
            Have::Other => plan.seen.insert(child.clone(), None),
            Have::Dir => None,
        };
        match item.have {
            Have::Dir => check_dir_stored(repo, store, cache, &child, plan)?,
            Have::File { stat, .. } if is_stored(repo, store, cache, &child, stat, None)? => {}
            _ => plan.unsafe_paths.push(child),
        }
    }
    Ok(())
}

/// True when the file at `abs` is no longer what the plan saw (`seen`; `None`: nothing was there): it was
/// edited, replaced or created while the checkout ran (not when it was deleted), so replacing or deleting it could lose the edit. Size,
/// mtime, ctime and inode are compared, as the stat cache compares them; a hashed file's stat is what was
/// hashed. (A change between this look and the rename that follows it, microseconds later, is not seen: no
/// program can close that window without a lock the editor would have to take.)
fn changed_since_plan(abs: &std::path::Path, seen: Option<&Option<Stat>>) -> Result<bool> {
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
fn changed_in_dir(
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
fn write_files(
    repo: &Repo,
    reader: &PackReader,
    jobs: &[WriteJob],
    seen: &HashMap<String, Option<Stat>>,
    written: Vec<Option<TempFile>>,
    progress: &dyn Progress,
) -> Result<Vec<Option<Stat>>> {
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
                    match write_one(repo, reader, job, seen.get(&job.path), done, progress) {
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
fn temp_beside(
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

fn file_mode(node: &Node) -> u32 {
    if node.exec { 0o777 } else { 0o666 }
}

/// Writes one file from the cache, or renames `done` (the file a [`DirectWriter`] wrote) into place; `None`
/// when what is at its path is no longer what the plan saw there (`seen`), which is then left as it is.
fn write_one(
    repo: &Repo,
    reader: &PackReader,
    job: &WriteJob,
    seen: Option<&Option<Stat>>,
    done: Option<TempFile>,
    progress: &dyn Progress,
) -> Result<Option<Stat>> {
    let target = repo.abs(&job.path);
    let (mut tmp, size) = match done {
        Some(tmp) => {
            progress.inc(job.node.size);
            (tmp, job.chunks.iter().map(|p| p.len).sum())
        }
        None => {
            let mut tmp = temp_beside(repo, &target, file_mode(&job.node), &mut drop)?;
            let tmp_path = tmp.path().to_path_buf();
            let mut size = 0u64;
            let out = tmp.file();
            // A run of chunks at a time is read, decompressed and verified against its ids on every core, then
            // written in order: a large file is not limited to one core. Chunks are large enough to write as
            // they are, without a buffer.
            for run in job.chunks.chunks(CHUNKS_PER_RUN) {
                for data in super::par_map(run, |p| {
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
    if changed_since_plan(&target, seen)? {
        return Ok(None);
    }
    tmp.persist(&target, false)?;
    crate::fault::point("checkout-file-renamed");
    let m = fs::symlink_metadata(&target).at(&target)?;
    Ok(Some(Stat::of(&m)))
}

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
pub struct DirectWriter<'p> {
    repo: &'p Repo,
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
#[derive(Default)]
// `len` is for a log line; an `is_empty` nobody calls would only be an untested method (mutation testing).
#[allow(clippy::len_without_is_empty)]
pub struct Written {
    files: HashMap<String, (Node, TempFile)>,
    made_dirs: Vec<std::path::PathBuf>,
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
    fn new(repo: &'p Repo, plan: &'p Plan) -> DirectWriter<'p> {
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
            &self.repo.abs(&job.path),
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
