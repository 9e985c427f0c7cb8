//! Fingerprints: the id dv would record for what is at a path now (the pointer's, when tracked data matches
//! it; else hashed as `dv add` would, through the stat cache, storing nothing).

use std::fs;
use std::path::Path;

use crate::error::IoContext;
use crate::ops::datasets::read_pointer;
use crate::ops::walk::walk;
use crate::repo::Repo;
use crate::store::object::Node;
use crate::store::split::Layout;
use crate::store::statedb::{Stat, StatEntry, StateDb};
use crate::store::{Store, hash_file};
use crate::{Error, Result};

/// What is at repository path `path` now, as dv would record it, or `None` if nothing is there.
///
/// Untracked data is hashed in `layout`: the layout of the ids it is compared with (a step file's).
pub fn fingerprint(repo: &Repo, store: &Store, path: &str, layout: Layout) -> Result<Option<Node>> {
    let abs = repo.abs(path);
    if fs::symlink_metadata(&abs).is_err() {
        return Ok(None);
    }
    if let Some(d) = read_pointer(repo, path)?
        && crate::ops::compare::matches_pointer(repo, store, &d.path, &d.pointer)?
    {
        return Ok(Some(d.pointer.node));
    }
    hash_path(&abs, path, Some(store.state_db()), layout).map(Some)
}

/// Hashes the file or folder at `abs` (repository path `path`) the way `dv add` would store it (same ids),
/// storing nothing. With a stat cache, files whose stat it vouches for are not read, and the files read are
/// remembered, so checking a large untracked input again is as cheap as `dv status`.
pub fn hash_path(abs: &Path, path: &str, cache: Option<&StateDb>, layout: Layout) -> Result<Node> {
    let started = crate::ops::now_ns();
    let known = match cache {
        Some(meta) => meta.stat_entries_under(path)?,
        None => Default::default(),
    };
    let mut refreshed: Vec<(String, StatEntry)> = Vec::new();
    let mut file = |fabs: &Path, repo_path: &str, m: &fs::Metadata| -> Result<Node> {
        let stat = Stat::of(m);
        let (kind, id, size) = match known.get(repo_path) {
            Some(e) if e.holds(&stat, layout) => (e.kind, e.id, stat.size),
            _ => {
                let h = hash_file(fabs, layout)?;
                refreshed.push((
                    repo_path.to_string(),
                    StatEntry {
                        stat,
                        kind: h.kind,
                        id: h.id,
                        hashed_at_ns: started,
                        hashed_in: h.hashed_in,
                    },
                ));
                (h.kind, h.id, h.size)
            }
        };
        Ok(Node {
            kind,
            id,
            size,
            files: 1,
            exec: stat.exec,
        })
    };
    let m = fs::symlink_metadata(abs).at(abs)?;
    let node = if m.is_file() {
        file(abs, path, &m)?
    } else if m.is_dir() {
        let w = walk(abs, path)?;
        let mut files = Vec::with_capacity(w.files.len());
        for f in &w.files {
            let rel = f.path.strip_prefix(path).unwrap_or(&f.path);
            let fabs = abs.join(rel.trim_start_matches('/'));
            let m = fs::symlink_metadata(&fabs).at(&fabs)?;
            files.push(Some(file(&fabs, &f.path, &m)?));
        }
        // The same trees `add` would store, hashed only.
        w.build_trees(&files, |t| {
            crate::store::split::put_tree(&t.entries, layout, &mut crate::store::object::Discard)
        })?
    } else {
        return Err(Error::BadPath {
            path: path.to_string(),
            reason: "not a regular file or folder".into(),
        });
    };
    if let Some(meta) = cache {
        meta.put_stat_entries(refreshed.iter().map(|(p, e)| (p.as_str(), *e)))?;
    }
    Ok(node)
}
