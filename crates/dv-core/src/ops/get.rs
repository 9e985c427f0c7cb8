//! `dv get`: one dataset, or a file or folder of one, at a revision, written to a path outside any work tree:
//! its objects fetched from the source's remote into the cache given (every one verified), then the files
//! written into a temporary folder beside the output and renamed into place whole (never over something that
//! appeared there meanwhile), so an error or a kill leaves no half-written output. A kill leaves the temporary
//! folder, marked as dv's; the next `dv get` into the same folder removes it.

use std::fs;
use std::path::{Path, PathBuf};

use super::datasets::{InVersion, Source, Target, resolve_targets};
use super::transfer::TransferReport;
use crate::paths::{is_within, join};
use crate::progress::{Progress, Unit};
use crate::remote::Remote;
use crate::session::Locked;
use crate::store::Store;
use crate::store::object::{Node, NodeKind};
use crate::{Error, Result};

/// What `dv get` wrote, and what it fetched.
#[derive(Clone, Debug, serde::Serialize)]
pub struct GetReport {
    /// The file or folder written.
    pub out: PathBuf,
    pub files: u64,
    pub bytes: u64,
    /// What came from the remote (`None`: the cache had everything).
    pub fetched: Option<TransferReport>,
}

/// The file that marks a temporary folder of `dv get` as dv's (so a leftover may be removed).
const MARKER: &str = "dv-get";

/// A temporary folder beside the output of `dv get`: removed when dropped; left by a kill, and then removed
/// by the next `dv get` into the same folder ([`TempBeside::clean_leftovers`]).
pub struct TempBeside {
    path: PathBuf,
}

impl TempBeside {
    /// A new folder beside `out`, named as dv's temporary files are (with this process's id) and marked.
    pub fn new(out: &Path) -> Result<TempBeside> {
        let path = crate::fsutil::temp_path_beside(out);
        fs::create_dir(&path).map_err(|e| Error::io(&path, e))?;
        let t = TempBeside { path };
        fs::write(t.path.join(MARKER), b"").map_err(|e| Error::io(&t.path, e))?;
        Ok(t)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Removes the folders in `dir` that a killed `dv get` left: named as dv's temporary files are, by a
    /// process that is gone, and marked.
    pub fn clean_leftovers(dir: &Path) {
        let Ok(entries) = fs::read_dir(dir) else {
            return;
        };
        for e in entries.flatten() {
            let name = e.file_name();
            if name.to_str().is_some_and(crate::fsutil::is_stale_temp)
                && e.file_type().is_ok_and(|t| t.is_dir())
                && e.path().join(MARKER).is_file()
            {
                let _ = fs::remove_dir_all(e.path());
            }
        }
    }
}

impl Drop for TempBeside {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.path);
    }
}

/// Writes `path` (a dataset, a path inside one, or a folder holding datasets) as `source` holds it to `out`,
/// which must not exist (its parent must), through `tmp` (a [`TempBeside`] of `out`). `remote` is opened only
/// when the cache lacks objects.
pub fn get(
    s: &Locked<'_>,
    source: &Source<'_>,
    path: &str,
    out: &Path,
    tmp: &TempBeside,
    remote: &dyn Fn() -> Result<Remote>,
    progress: &dyn Progress,
) -> Result<GetReport> {
    if fs::symlink_metadata(out).is_ok() {
        return Err(exists(out));
    }
    let targets = resolve_targets(s.repo(), source, &[path.to_string()])?;
    let mut report = GetReport {
        out: out.to_path_buf(),
        files: 0,
        bytes: 0,
        fetched: None,
    };
    let store = s.store();
    let write = |report: &mut GetReport| -> Result<()> {
        let item = tmp.path().join("out");
        if fs::symlink_metadata(&item).is_ok() {
            remove_any(&item)?;
        }
        let mut counts = Counts::default();
        write_targets(store, &targets, path, &item, &mut counts)?;
        (report.files, report.bytes) = (counts.files, counts.bytes);
        crate::fault::point("get-before-rename");
        // Never over something that appeared at `out` meanwhile.
        if !crate::fsutil::rename_no_replace(&item, out)? {
            return Err(exists(out));
        }
        Ok(())
    };
    match write(&mut report) {
        Err(Error::MissingObjects { .. }) => {
            let remote = remote()?;
            progress.start("Fetching", None, Unit::Bytes);
            let fetched = super::transfer::fetch_with_imports(s, &remote, &targets, progress);
            progress.finish();
            report.fetched = Some(fetched?);
            write(&mut report)?;
        }
        other => other?,
    }
    Ok(report)
}

fn remove_any(p: &Path) -> Result<()> {
    let r = if fs::symlink_metadata(p).is_ok_and(|m| m.is_dir()) {
        fs::remove_dir_all(p)
    } else {
        fs::remove_file(p)
    };
    r.map_err(|e| Error::io(p, e))
}

fn exists(out: &Path) -> Error {
    Error::usage(format!(
        "{} exists: dv get writes a new file or folder (remove it, or name another with -o)",
        out.display()
    ))
}

/// Files and bytes written.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Counts {
    pub files: u64,
    pub bytes: u64,
}

/// Writes what the targets hold at `path` to `item`.
fn write_targets(
    store: &Store,
    targets: &[Target],
    path: &str,
    item: &Path,
    counts: &mut Counts,
) -> Result<()> {
    match targets {
        // One dataset, or one path inside it: `item` becomes that file or folder.
        [t] if t.named || t.scope.is_some() => {
            let at = t.scope.clone().unwrap_or_else(|| t.dataset.path.clone());
            match t.dataset.node_at(store, &at)? {
                InVersion::Node(n) => write_node(store, &n, item, &at, counts),
                _ => Err(Error::NotInVersion {
                    path: at,
                    version: t.dataset.version(),
                    above: None,
                }),
            }
        }
        // A folder holding datasets: `item` is that folder, each dataset at its place below it.
        _ => {
            fs::create_dir(item).map_err(|e| Error::io(item, e))?;
            for t in targets {
                let rel = if path.is_empty() {
                    t.dataset.path.as_str()
                } else if is_within(&t.dataset.path, path) {
                    t.dataset.path[path.len()..].trim_start_matches('/')
                } else {
                    continue;
                };
                let mut dir = item.to_path_buf();
                let (parents, name) = crate::paths::split(rel);
                for p in parents.split('/').filter(|p| !p.is_empty()) {
                    dir.push(p);
                    match fs::create_dir(&dir) {
                        Ok(()) => {}
                        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
                        Err(e) => return Err(Error::io(&dir, e)),
                    }
                }
                write_node(
                    store,
                    &t.dataset.pointer.node,
                    &dir.join(name),
                    &t.dataset.path,
                    counts,
                )?;
            }
            Ok(())
        }
    }
}

/// Writes node `n` (repository path `at`) to `dest`, which does not exist, every chunk verified as it is
/// read; a file whose chunks do not add up to the size its folder declares is the source's damage, an error
/// naming the path. A folder's files are written on every core; memory stays one tree per level and a few
/// chunks at a time, whatever the version holds.
pub(crate) fn write_node(
    store: &Store,
    n: &Node,
    dest: &Path,
    at: &str,
    counts: &mut Counts,
) -> Result<()> {
    if n.kind != NodeKind::Tree {
        counts.bytes += write_file(store.reader(), n, &pieces_of(store, n, at)?, dest, at)?;
        counts.files += 1;
        return Ok(());
    }
    if !store.contains(&n.id)? {
        return Err(Error::MissingObjects {
            path: at.to_string(),
            count: 1,
            first: n.id,
        });
    }
    fs::create_dir(dest).map_err(|e| Error::io(dest, e))?;
    let (folders, files): (Vec<_>, Vec<_>) = store
        .read_tree(&n.id)?
        .entries
        .into_iter()
        .partition(|e| e.node.kind == NodeKind::Tree);
    // Where each file's chunks are, from the state database on this thread; then the files on every core.
    let mut jobs = Vec::with_capacity(files.len());
    for e in files {
        let path = join(at, &e.name);
        let pieces = pieces_of(store, &e.node, &path)?;
        jobs.push((e, path, pieces));
    }
    let reader = store.reader();
    let written = super::par_map(&jobs, |(e, path, pieces)| {
        write_file(reader, &e.node, pieces, &dest.join(&e.name), path)
    });
    for w in written {
        counts.bytes += w?;
        counts.files += 1;
    }
    for e in folders {
        write_node(
            store,
            &e.node,
            &dest.join(&e.name),
            &join(at, &e.name),
            counts,
        )?;
    }
    Ok(())
}

/// Where the chunks of file `n` (at `at`) are in the cache.
fn pieces_of(store: &Store, n: &Node, at: &str) -> Result<Vec<crate::store::Piece>> {
    store
        .file_pieces(n.kind, &n.id, n.size)?
        .map_err(|first| Error::MissingObjects {
            path: at.to_string(),
            count: 1,
            first,
        })
}

/// Writes the file `n` to `dest` (which does not exist) from its `pieces`; returns its bytes.
fn write_file(
    reader: &crate::store::PackReader,
    n: &Node,
    pieces: &[crate::store::Piece],
    dest: &Path,
    at: &str,
) -> Result<u64> {
    let mut opts = fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(if n.exec { 0o777 } else { 0o666 });
    }
    let file = opts.open(dest).map_err(|e| Error::io(dest, e))?;
    let mut w = std::io::BufWriter::with_capacity(256 << 10, file);
    let written = crate::store::copy_pieces(reader, n, pieces, &mut w).map_err(|e| match e {
        Error::SizeMismatch {
            declared, holds, ..
        } => Error::format(
            at,
            format!(
                "the version read says {declared} bytes, but its data holds {holds}: the source \
                 repository's data is damaged"
            ),
        ),
        e => e.at_path(at),
    })?;
    w.into_inner()
        .map_err(|e| Error::io(dest, e.into_error()))?;
    Ok(written)
}
