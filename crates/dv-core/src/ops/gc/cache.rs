//! gc of the local cache, under its lock: pack files without an index dealt with, the plan made from the
//! walk of every work tree's pointers, sparse packs repacked, dead ones deleted (index first).

use std::collections::HashSet;

use super::plan::{Dedup, plan};
use super::repack::{repack_cache, repacked_size};
use super::{GcOptions, GcReport, refuse_if_damaged, within_grace};
use crate::ops::datasets::Target;
use crate::ops::reach::reach;
use crate::progress::Progress;
use crate::session::Locked;
use crate::store::Store;
use crate::store::pack::{self, PackIndex};
use crate::{Error, ObjectId, Result};

fn is_young(mtime_secs: i64, opts: &GcOptions) -> bool {
    within_grace(
        crate::ops::now_ns() / 1_000_000_000,
        mtime_secs,
        opts.grace_secs,
    )
}

fn mtime_secs(path: &std::path::Path) -> i64 {
    std::fs::metadata(path)
        .and_then(|m| m.modified())
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map(|d| d.as_secs() as i64)
        .unwrap_or(i64::MAX)
}

/// Collects the local cache, holding its lock; `targets` include every work tree that uses the cache
/// (`scope::targets_for_cache`).
pub fn gc_cache(
    s: &Locked<'_>,
    targets: &[Target],
    opts: &GcOptions,
    progress: &dyn Progress,
) -> Result<GcReport> {
    let store = s.store();
    // Pack files without an index, once out of grace: a write killed between a pack and its index leaves a
    // whole pack, whose index is rebuilt from it, so the plan below keeps what is live in it like in any
    // other pack. One that cannot give its index back is deleted only when every entry of it that can still
    // be read is in another pack; otherwise it stays (and `dv fsck` reports it).
    let mut orphans: Vec<ObjectId> = Vec::new();
    let with_index = crate::ops::fsck::names_with_index(&store.dir().join("index"))?;
    // An index file the cache could not read: what its pack holds is unknown, so nothing is collected.
    let readable: HashSet<ObjectId> = store.indexes_lenient()?.iter().map(|i| i.pack_id).collect();
    if let Some(bad) = with_index.iter().find(|id| !readable.contains(id)) {
        return Err(Error::format(
            Store::index_path(store.dir(), bad).display().to_string(),
            "this index cannot be read, so gc cannot tell what its pack holds; run `dv fsck --repair`, which \
             rebuilds it from its pack",
        ));
    }
    for id in crate::ops::fsck::list_pack_files(store)? {
        if with_index.contains(&id)
            || is_young(mtime_secs(&Store::pack_path(store.dir(), &id)), opts)
        {
            continue;
        }
        if opts.dry_run {
            let path = Store::pack_path(store.dir(), &id);
            if std::fs::read(&path)
                .ok()
                .is_some_and(|d| pack::rebuild_index(&d, &id).is_some())
            {
                continue;
            }
        } else if store.rebuild_index(&id)?.is_some() {
            continue;
        }
        let mut elsewhere = true;
        for (e, _) in store.readable_entries(&id)? {
            if store.locate(&e.id)?.is_none_or(|l| l.pack == id) {
                elsewhere = false;
                break;
            }
        }
        if elsewhere {
            orphans.push(id);
        }
    }
    let walked = reach(store, targets, false)?;
    refuse_if_damaged(&walked.problems)?;
    let indexes: Vec<(PackIndex, bool)> = store
        .indexes()?
        .into_iter()
        .map(|i| {
            let young = is_young(
                mtime_secs(&Store::index_path(store.dir(), &i.pack_id)),
                opts,
            );
            (i, young)
        })
        .collect();
    let mut report = GcReport {
        target: "cache".into(),
        dry_run: opts.dry_run,
        packs_before: indexes.len() as u64,
        ..Default::default()
    };
    let all_indexes: Vec<PackIndex> = indexes.iter().map(|(i, _)| i.clone()).collect();
    let p = plan(indexes, &walked.live, opts, Dedup::Fullest);
    p.count_into(&mut report);
    report.unindexed_removed = orphans.len() as u64;
    for id in &orphans {
        report.bytes_freed += std::fs::metadata(Store::pack_path(store.dir(), id))
            .map(|m| m.len())
            .unwrap_or(0);
    }
    let repack_bytes: u64 = p
        .repack
        .iter()
        .flat_map(|(_, l)| l.iter().map(|e| e.stored_len as u64))
        .sum();
    if opts.dry_run {
        // The live objects of all repacked packs go into one new pack (two past the 64 MiB seal).
        let written = if p.repack.is_empty() {
            0
        } else {
            repacked_size(p.repack.iter().flat_map(|(_, l)| l))
        };
        report.bytes_freed = report.bytes_freed.saturating_sub(written);
        return Ok(report);
    }
    // 1. Copy the live objects of sparse packs into new packs, committed by their indexes.
    let new_packs = repack_cache(store, &p.repack, repack_bytes, progress)?;
    report.packs_written = new_packs.len() as u64;
    report.bytes_freed = report
        .bytes_freed
        .saturating_sub(new_packs.iter().map(|i| i.pack_size).sum());
    // 2. Delete the dead and the repacked packs, each index before its pack.
    let mut doomed: Vec<ObjectId> = p.delete.iter().map(|i| i.pack_id).collect();
    doomed.extend(p.repack.iter().map(|(i, _)| i.pack_id));
    let mut keep = all_indexes;
    keep.extend(new_packs);
    store.delete_packs(&doomed, &keep)?;
    for id in orphans {
        let path = Store::pack_path(store.dir(), &id);
        match std::fs::remove_file(&path) {
            Ok(()) => {}
            // Gone since it was listed (nothing of dv's removes packs without the cache lock this gc holds, so
            // only another program can do that: no test can tell this guard from `false`).
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(Error::io(path, e)),
        }
    }
    Ok(report)
}
