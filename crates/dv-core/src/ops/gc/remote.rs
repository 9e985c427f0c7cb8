//! gc of a remote, by the remote gc protocol of docs/format.md: what the scope reaches, plus what young packs
//! and young use records keep, measured by the remote's clock; duplicates resolved by pack id, damaged copies
//! never kept; sparse packs rewritten, then dead ones deleted while the use records are listed again.

use std::collections::{HashMap, HashSet};

use super::keep::{LateUses, keep_young_closure, used_packs};
use super::plan::{Dedup, plan};
use super::repack::{repack_remote, repacked_size};
use super::{GcOptions, GcReport, refuse_if_damaged, within_grace};
use crate::ops::datasets::Target;
use crate::ops::reach::{ObjectProblem, reach};
use crate::progress::{Progress, Unit};
use crate::remote::Remote;
use crate::session::Session;
use crate::store::pack::{self, ENTRY_HEADER_LEN, IndexEntry, PackIndex};
use crate::{Error, ObjectId, Result};

/// Collects a remote, following the remote gc protocol of docs/format.md. Only objects the local cache can
/// prove dead are deleted: the walk reads the trees, manifests and table nodes of every version in scope from
/// the cache, so it refuses when the cache lacks one of those (fetch that scope first). Besides the scope,
/// everything is kept that a pack younger than the grace period holds or reaches (read from the cache or the
/// remote), where a pack named by a use record younger than the grace period counts as that young: so what
/// another clone pushed, or relied on when it pushed, within the grace period is never collected. Ages are
/// measured by the remote's clock. Pack files without an index older than the grace period are removed.
pub fn gc_remote(
    s: &Session,
    remote: &Remote,
    targets: &[Target],
    opts: &GcOptions,
    progress: &dyn Progress,
) -> Result<GcReport> {
    let store = s.store();
    let walked = reach(store, targets, false)?;
    refuse_if_damaged(&walked.problems)?;
    // The remote's clock, read by writing a file; a dry run writes nothing, so it goes by this machine's clock.
    let now = if opts.dry_run {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs() as i64)
    } else {
        remote.server_now()?
    };
    let young = |t: i64| within_grace(now, t, opts.grace_secs);
    let (used, old_records) = used_packs(remote, &young)?;
    let indexes = remote.indexes_with_times()?;
    let on_remote: HashMap<ObjectId, (ObjectId, IndexEntry)> = indexes
        .iter()
        .flat_map(|(i, _)| i.entries.iter().map(|e| (e.id, (i.pack_id, *e))))
        .collect();
    // A structural object the cache lacks but the remote has: its children are unknown, so nothing is safe.
    if let Some(p) = walked
        .problems
        .iter()
        .filter(|p| p.problem == ObjectProblem::Missing)
        .find(|p| {
            ObjectId::from_hex(&p.object)
                .and_then(|id| on_remote.get(&id))
                .is_some_and(|(_, e)| hint(e) == ObjectKindHint::Structural)
        })
    {
        return Err(Error::Remote {
            remote: remote.name.clone(),
            message: format!(
                "gc needs every tree and manifest in scope in the local cache, and '{}' lacks {}; \
                 run `dv fetch` with the same scope first",
                p.dataset, p.object
            ),
            source: None,
        });
    }
    // Chunks the cache lacks are live if a walked manifest or tree names them.
    let mut live = walked.live;
    for p in &walked.problems {
        if let Some(id) = ObjectId::from_hex(&p.object) {
            live.insert(id);
        }
    }
    let young_packs: HashSet<ObjectId> = indexes
        .iter()
        .filter(|(i, t)| young(*t) || used.contains(&i.pack_id))
        .map(|(i, _)| i.pack_id)
        .collect();
    keep_young_closure(store, remote, &indexes, &young_packs, &on_remote, &mut live)?;
    let mut report = GcReport {
        target: format!("remote {}", remote.name),
        dry_run: opts.dry_run,
        packs_before: indexes.len() as u64,
        ..Default::default()
    };
    let indexed: HashSet<ObjectId> = indexes.iter().map(|(i, _)| i.pack_id).collect();
    let damaged = damaged_duplicates(remote, &indexes, &young_packs, &live)?;
    let p = plan(
        indexes
            .iter()
            .cloned()
            .map(|(i, _)| {
                let young = young_packs.contains(&i.pack_id);
                (i, young)
            })
            .collect(),
        &live,
        opts,
        Dedup::SmallestPackId(&damaged),
    );
    p.count_into(&mut report);
    // Pack files without an index (a push or gc killed between a pack and its index), once out of grace.
    // Listed after the indexes, so a pack committed meanwhile is young, never an orphan.
    let orphans: Vec<ObjectId> = remote
        .pack_files()?
        .into_iter()
        .filter(|(id, t)| !indexed.contains(id) && !young(*t))
        .map(|(id, _)| id)
        .collect();
    report.unindexed_removed = orphans.len() as u64;
    if opts.dry_run {
        // On a remote, each repacked pack is rewritten as a pack of its own.
        let written: u64 = p.repack.iter().map(|(_, l)| repacked_size(l)).sum();
        report.bytes_freed = report.bytes_freed.saturating_sub(written);
        return Ok(report);
    }
    progress.start("Collecting", None, Unit::Files);
    // 1. Rewrite sparse packs: read the live entries back (verified), upload them as a new pack + index.
    for (index, live_entries) in &p.repack {
        let offset = repack_remote(remote, index, live_entries)?;
        report.packs_written += 1;
        report.bytes_freed = report.bytes_freed.saturating_sub(offset);
        crate::fault::point("gc-remote-repacked");
        progress.inc(1);
    }
    // 2. Delete dead and rewritten packs, index first. The use records are listed again first: a push that
    // began to rely on a pack since the plan was made has recorded it by now, and that pack stays, with
    // everything it reaches (rule 3 of docs/format.md).
    let doomed: Vec<&PackIndex> = p
        .delete
        .iter()
        .chain(p.repack.iter().map(|(i, _)| i))
        .collect();
    let mut late = LateUses {
        closed: young_packs,
        spared: HashSet::new(),
        deleted: HashSet::new(),
        live,
    };
    late.relist(store, remote, &indexes, &on_remote, &doomed, &young)?;
    let mut listed_at = std::time::Instant::now();
    for index in doomed.iter().copied() {
        // Listed again at least every second, so the window in which a push's new record goes unseen stays
        // shorter than a push's own record-then-list step (docs/format.md). (`>=` would do the same: an elapsed
        // time of exactly one second, to the nanosecond, is not a case anyone can test.)
        if listed_at.elapsed() > USES_RELIST {
            late.relist(store, remote, &indexes, &on_remote, &doomed, &young)?;
            listed_at = std::time::Instant::now();
        }
        if late.spared.contains(&index.pack_id) {
            report.packs_in_grace += 1;
            report.bytes_freed = report.bytes_freed.saturating_sub(index.pack_size);
            // Its dead objects stay too.
            match p.repack.iter().find(|(r, _)| r.pack_id == index.pack_id) {
                Some((_, live)) => {
                    report.packs_repacked -= 1;
                    report.objects_deleted -= (index.entries.len() - live.len()) as u64;
                }
                None => {
                    report.packs_deleted -= 1;
                    report.objects_deleted -= index.entries.len() as u64;
                }
            }
            continue;
        }
        remote.delete_pack(&index.pack_id)?;
        late.deleted.insert(index.pack_id);
        crate::fault::point("gc-remote-pack-deleted");
        progress.inc(1);
    }
    for id in orphans {
        remote.delete_pack(&id)?;
        progress.inc(1);
    }
    // 3. Use records older than the grace period protect nothing any more. A push never writes a file gc listed
    // (each record has a nonce of its own), but a dv writing version 1 records (named by their packs alone)
    // writes the same file again: listed again here, such a record that is young again stays.
    let still_old: HashSet<ObjectId> = remote
        .use_records()?
        .into_iter()
        .filter(|(_, t)| !young(*t))
        .map(|(name, _)| name)
        .collect();
    for name in old_records.iter().filter(|n| still_old.contains(n)) {
        remote.delete_use_record(name)?;
    }
    progress.finish();
    Ok(report)
}

/// The damaged copies of live objects that several old packs hold, as (pack, object): each such object's copies
/// are read from the remote and verified in order of pack id until one verifies, and the copies before it are
/// damaged (then the plan keeps the first that verifies, still the same choice for every gc). When none
/// verifies, none is called damaged, and the copy in the smallest pack id stays, as before.
fn damaged_duplicates(
    remote: &Remote,
    indexes: &[(PackIndex, i64)],
    young: &HashSet<ObjectId>,
    live: &HashSet<ObjectId>,
) -> Result<HashSet<(ObjectId, ObjectId)>> {
    let mut copies: HashMap<ObjectId, Vec<(ObjectId, IndexEntry)>> = HashMap::new();
    for (i, _) in indexes.iter().filter(|(i, _)| !young.contains(&i.pack_id)) {
        for e in i.entries.iter().filter(|e| live.contains(&e.id)) {
            copies.entry(e.id).or_default().push((i.pack_id, *e));
        }
    }
    copies.retain(|_, c| c.len() > 1);
    let mut suspects: HashSet<(ObjectId, ObjectId)> = HashSet::new();
    let mut settled: HashSet<ObjectId> = HashSet::new();
    for c in copies.values_mut() {
        c.sort_by_key(|(pack, _)| *pack);
    }
    // Round k reads the k-th copy of every object not settled yet.
    for k in 0.. {
        let round: Vec<(ObjectId, IndexEntry)> = copies
            .iter()
            .filter(|(id, _)| !settled.contains(*id))
            .filter_map(|(_, c)| c.get(k).copied())
            .collect();
        if round.is_empty() {
            break;
        }
        let mut by_pack: HashMap<ObjectId, Vec<IndexEntry>> = HashMap::new();
        for (pack, e) in round {
            by_pack.entry(pack).or_default().push(e);
        }
        let wanted: Vec<(ObjectId, Vec<std::ops::Range<u64>>)> = by_pack
            .iter()
            .map(|(pack, es)| (*pack, es.iter().map(|e| e.range()).collect()))
            .collect();
        let got = remote.read_ranges(&wanted)?;
        for ((pack, _), bytes) in wanted.iter().zip(got) {
            for (e, b) in by_pack[pack].iter().zip(bytes) {
                let sound = pack::check_entry_header(&b, e).is_ok()
                    && pack::verify_object(e, &b[ENTRY_HEADER_LEN as usize..]).is_ok();
                if sound {
                    settled.insert(e.id);
                } else {
                    suspects.insert((*pack, e.id));
                }
            }
        }
    }
    // Only a copy with a sound one after it is damaged for the plan.
    Ok(suspects
        .into_iter()
        .filter(|(_, id)| settled.contains(id))
        .collect())
}

/// How often gc lists the use records again while it deletes packs.
const USES_RELIST: std::time::Duration = std::time::Duration::from_secs(1);

#[derive(Clone, Copy, PartialEq, Eq)]
enum ObjectKindHint {
    Chunk,
    Structural,
}

fn hint(e: &IndexEntry) -> ObjectKindHint {
    match e.kind {
        crate::store::object::ObjectKind::Chunk => ObjectKindHint::Chunk,
        _ => ObjectKindHint::Structural,
    }
}
