//! `dv get`: one dataset, or a file or folder of one, at a revision, written to a path outside any work tree:
//! its objects fetched from the source's remote into the cache given (every one verified), then the files
//! written into a temporary folder beside the output and renamed into place whole, so an error or a kill
//! leaves no half-written output.

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

/// Writes `path` (a dataset, a path inside one, or a folder holding datasets) as `source` holds it to `out`,
/// which must not exist (its parent must). `remote` is opened only when the cache lacks objects.
pub fn get(
    s: &Locked<'_>,
    source: &Source<'_>,
    path: &str,
    out: &Path,
    remote: &dyn Fn() -> Result<Remote>,
    progress: &dyn Progress,
) -> Result<GetReport> {
    if fs::symlink_metadata(out).is_ok() {
        return Err(Error::usage(format!(
            "{} exists: dv get writes a new file or folder (remove it, or name another with -o)",
            out.display()
        )));
    }
    let parent = match out.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    if !parent.is_dir() {
        return Err(Error::usage(format!(
            "{}: the folder to write into does not exist",
            parent.display()
        )));
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
        let tmp = tempfile::Builder::new()
            .prefix(".dv-get-")
            .tempdir_in(&parent)
            .map_err(|e| Error::io(&parent, e))?;
        let item = tmp.path().join("out");
        write_targets(store, &targets, path, &item, report)?;
        fs::rename(&item, out).map_err(|e| Error::io(out, e))?;
        Ok(())
    };
    match write(&mut report) {
        Err(Error::MissingObjects { .. }) => {
            let remote = remote()?;
            progress.start("Fetching", None, Unit::Bytes);
            let fetched = super::transfer::fetch_into(store, &remote, &targets, progress);
            progress.finish();
            report.fetched = Some(fetched?);
            report.files = 0;
            report.bytes = 0;
            write(&mut report)?;
        }
        other => other?,
    }
    Ok(report)
}

/// Writes what the targets hold at `path` to `item`.
fn write_targets(
    store: &Store,
    targets: &[Target],
    path: &str,
    item: &Path,
    report: &mut GetReport,
) -> Result<()> {
    match targets {
        // One dataset, or one path inside it: `item` becomes that file or folder.
        [t] if t.named || t.scope.is_some() => {
            let at = t.scope.clone().unwrap_or_else(|| t.dataset.path.clone());
            match t.dataset.node_at(store, &at)? {
                InVersion::Node(n) => write_node(store, &n, item, &at, report),
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
                    report,
                )?;
            }
            Ok(())
        }
    }
}

/// Writes node `n` (repository path `at`) to `dest`, which does not exist.
fn write_node(
    store: &Store,
    n: &Node,
    dest: &Path,
    at: &str,
    report: &mut GetReport,
) -> Result<()> {
    if n.kind != NodeKind::Tree {
        let mut opts = fs::OpenOptions::new();
        opts.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            opts.mode(if n.exec { 0o777 } else { 0o666 });
        }
        let file = opts.open(dest).map_err(|e| Error::io(dest, e))?;
        let mut w = std::io::BufWriter::with_capacity(1 << 20, file);
        let written = store.copy_file(n, &mut w).map_err(|e| e.at_path(at))?;
        let file = w
            .into_inner()
            .map_err(|e| Error::io(dest, e.into_error()))?;
        file.sync_all().map_err(|e| Error::io(dest, e))?;
        report.files += 1;
        report.bytes += written;
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
    for e in store.read_tree(&n.id)?.entries {
        write_node(
            store,
            &e.node,
            &dest.join(&e.name),
            &join(at, &e.name),
            report,
        )?;
    }
    Ok(())
}
