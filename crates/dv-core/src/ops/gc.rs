//! `dv gc`: delete the objects no pointer in scope reaches, in the cache or on a remote.
//!
//! Packs are immutable, so gc works pack by pack: a pack with nothing live is deleted; a pack whose live share
//! of bytes falls below a threshold is repacked (its live objects copied into a new pack, which is committed
//! by its index before the old pack is deleted); other packs stay as they are. Packs younger than a grace
//! period are never touched: a concurrent `add` (in a linked work tree sharing the cache) or `push` (from
//! another clone) may be about to write a pointer that names them. On a remote, gc follows the remote gc
//! protocol of docs/format.md: a young pack (by the remote's clock, or named by a young use record) also keeps
//! everything it reaches, duplicates are resolved by pack id, and use records are listed again before deleting.
//!
//! Crash safety: new packs are complete and indexed before any old one goes; an old pack goes index first,
//! so a crash leaves at worst a pack without index (reported by `fsck`, deleted by the next `gc`) or an
//! object in two packs (harmless).

use std::collections::{HashMap, HashSet};

use super::datasets::Target;
use super::reach::{ObjectProblem, reach};
use crate::progress::{Progress, Unit};
use crate::remote::Remote;
use crate::store::Store;
use crate::store::pack::{self, ENTRY_HEADER_LEN, IndexEntry, PackIndex};
use crate::{Error, ObjectId, Result};

#[derive(Clone, Debug)]
pub struct GcOptions {
    pub dry_run: bool,
    /// Repack a pack when its live bytes are below this share of its bytes (0.0 to 1.0).
    pub repack_below: f64,
    /// Packs younger than this many seconds are left alone.
    pub grace_secs: u64,
}

impl Default for GcOptions {
    fn default() -> Self {
        GcOptions {
            dry_run: false,
            repack_below: 0.5,
            grace_secs: 3600,
        }
    }
}

#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct GcReport {
    /// `cache` or `remote NAME`.
    pub target: String,
    pub dry_run: bool,
    pub packs_before: u64,
    pub packs_deleted: u64,
    pub packs_repacked: u64,
    pub packs_written: u64,
    /// Packs left alone because they are younger than the grace period.
    pub packs_in_grace: u64,
    /// Objects kept (live ones, and everything in packs still in grace).
    pub objects_kept: u64,
    pub objects_deleted: u64,
    /// Bytes of pack files removed, less the bytes of the packs written in their place.
    pub bytes_freed: u64,
    /// Pack files without an index (left by an interrupted write) that were removed.
    pub unindexed_removed: u64,
    /// The other work trees sharing the cache whose pointers were kept too (local gc; set by the caller).
    pub other_work_trees: Vec<String>,
}

/// What to do with each pack.
struct Plan {
    delete: Vec<PackIndex>,
    /// Packs to rewrite, with their live entries.
    repack: Vec<(PackIndex, Vec<IndexEntry>)>,
    live_objects: u64,
    in_grace: u64,
}

impl Plan {
    /// Adds what the plan deletes and keeps to `report` (before any new pack is written).
    fn count_into(&self, report: &mut GcReport) {
        report.packs_in_grace = self.in_grace;
        report.objects_kept = self.live_objects;
        report.packs_deleted = self.delete.len() as u64;
        report.packs_repacked = self.repack.len() as u64;
        for i in &self.delete {
            report.objects_deleted += i.entries.len() as u64;
            report.bytes_freed += i.pack_size;
        }
        for (i, live) in &self.repack {
            report.objects_deleted += (i.entries.len() - live.len()) as u64;
            report.bytes_freed += i.pack_size;
        }
    }
}

/// How a plan chooses which copy of a duplicated object to keep.
#[derive(Clone, Copy)]
enum Dedup<'d> {
    /// The cache (one gc at a time, under the repository lock): a copy in a pack in grace wins, then the copy
    /// in the fuller pack, so duplicates are dropped from the emptier ones.
    Fullest,
    /// A remote, which two gcs (with different scopes, at different moments of a pack's grace) may collect at
    /// once: the copy in the old pack with the smallest id wins, whatever is live and whatever is young, so two
    /// gcs never each keep the copy the other drops. A copy in the set, (pack, object), is damaged while
    /// another copy verifies (`damaged_duplicates`): it is never the one kept.
    SmallestPackId(&'d HashSet<(ObjectId, ObjectId)>),
}

fn plan(
    indexes: Vec<(PackIndex, bool)>,
    live: &HashSet<ObjectId>,
    opts: &GcOptions,
    dedup: Dedup,
) -> Plan {
    let no_damage = HashSet::new();
    let damaged = match dedup {
        Dedup::SmallestPackId(d) => d,
        Dedup::Fullest => &no_damage,
    };
    let mut p = Plan {
        delete: Vec::new(),
        repack: Vec::new(),
        live_objects: 0,
        in_grace: 0,
    };
    // An object kept once is dead everywhere else. Packs in grace keep all they hold.
    let mut kept: HashSet<ObjectId> = HashSet::new();
    let mut young_objects: HashSet<ObjectId> = HashSet::new();
    let mut old = Vec::new();
    for (index, young) in indexes {
        if young {
            p.in_grace += 1;
            young_objects.extend(index.entries.iter().map(|e| e.id));
            if matches!(dedup, Dedup::Fullest) {
                kept.extend(index.entries.iter().map(|e| e.id));
            }
        } else {
            old.push(index);
        }
    }
    match dedup {
        // Fuller packs first, so duplicates are dropped from the emptier ones.
        Dedup::Fullest => old.sort_by_key(|i| {
            std::cmp::Reverse(
                i.entries
                    .iter()
                    .filter(|e| live.contains(&e.id))
                    .map(|e| e.stored_len as u64)
                    .sum::<u64>(),
            )
        }),
        Dedup::SmallestPackId(_) => old.sort_by_key(|i| i.pack_id),
    }
    for index in old {
        let live_entries: Vec<IndexEntry> = index
            .entries
            .iter()
            .filter(|e| {
                live.contains(&e.id)
                    && !damaged.contains(&(index.pack_id, e.id))
                    && kept.insert(e.id)
            })
            .copied()
            .collect();
        let live_bytes: u64 = live_entries.iter().map(|e| e.stored_len as u64).sum();
        let all_bytes: u64 = index.entries.iter().map(|e| e.stored_len as u64).sum();
        // A pack with nothing dead has `live_bytes == all_bytes`, so it is never below a share of at most 1
        // (the CLI refuses more): no test of the entry counts is needed, nor one that could drift from this.
        if live_entries.is_empty() {
            p.delete.push(index);
        } else if (live_bytes as f64) < opts.repack_below * all_bytes as f64 {
            p.repack.push((index, live_entries));
        }
    }
    kept.extend(young_objects);
    p.live_objects = kept.len() as u64;
    p
}

/// The size of a pack holding `entries` as they are stored: what a repack writes in place of their old packs.
fn repacked_size<'e>(entries: impl IntoIterator<Item = &'e IndexEntry>) -> u64 {
    pack::PACK_HEADER_LEN
        + entries
            .into_iter()
            .map(|e| ENTRY_HEADER_LEN + e.stored_len as u64)
            .sum::<u64>()
}

fn refuse_if_damaged(problems: &[super::reach::Problem]) -> Result<()> {
    if let Some(p) = problems
        .iter()
        .find(|p| p.problem == ObjectProblem::Corrupt)
    {
        return Err(Error::format(
            format!("object {} under '{}'", p.object, p.dataset),
            format!(
                "{}; gc stops, since it cannot tell what a damaged object reaches (run `dv fsck`)",
                p.message
            ),
        ));
    }
    Ok(())
}

fn is_young(mtime_secs: i64, opts: &GcOptions) -> bool {
    within_grace(super::now_ns() / 1_000_000_000, mtime_secs, opts.grace_secs)
}

/// Whether a file written at `time` is younger than `grace_secs` at `now` (Unix seconds). The one age test of
/// gc, local and remote: computed in i128, so no grace (up to `u64::MAX`) and no time wraps around, and a
/// bigger grace never protects less.
fn within_grace(now: i64, time: i64, grace_secs: u64) -> bool {
    (now as i128) - (time as i128) < grace_secs as i128
}

fn mtime_secs(path: &std::path::Path) -> i64 {
    std::fs::metadata(path)
        .and_then(|m| m.modified())
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map(|d| d.as_secs() as i64)
        .unwrap_or(i64::MAX)
}

/// Collects the local cache. The caller holds the cache lock; `targets` include every work tree that uses
/// the cache (`scope::targets_for_cache`).
pub fn gc_cache(
    store: &Store,
    targets: &[Target],
    opts: &GcOptions,
    progress: &dyn Progress,
) -> Result<GcReport> {
    // Pack files without an index, once out of grace: a write killed between a pack and its index leaves a
    // whole pack, whose index is rebuilt from it, so the plan below keeps what is live in it like in any
    // other pack. One that cannot give its index back is deleted only when every entry of it that can still
    // be read is in another pack; otherwise it stays (and `dv fsck` reports it).
    let mut orphans: Vec<ObjectId> = Vec::new();
    let with_index = super::fsck::names_with_index(&store.dir().join("index"))?;
    // An index file the cache could not read: what its pack holds is unknown, so nothing is collected.
    let readable: HashSet<ObjectId> = store.indexes_lenient()?.iter().map(|i| i.pack_id).collect();
    if let Some(bad) = with_index.iter().find(|id| !readable.contains(id)) {
        return Err(Error::format(
            Store::index_path(store.dir(), bad).display().to_string(),
            "this index cannot be read, so gc cannot tell what its pack holds; run `dv fsck --repair`, which \
             rebuilds it from its pack",
        ));
    }
    for id in super::fsck::list_pack_files(store)? {
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
    let mut new_packs = Vec::new();
    if !p.repack.is_empty() {
        progress.start("Repacking", Some(repack_bytes), Unit::Bytes);
        let mut writer = store.pack_writer();
        for (index, live) in &p.repack {
            for e in live {
                let loc = crate::store::Location {
                    pack: index.pack_id,
                    entry: *e,
                };
                writer.add_copy(e, &store.reader().read_verified_entry(&loc)?)?;
                progress.inc(e.stored_len as u64);
            }
        }
        new_packs = writer.finish()?;
        store.register_packs(&new_packs)?;
        progress.finish();
        crate::fault::point("gc-repacked");
    }
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

/// Collects a remote, following the remote gc protocol of docs/format.md. Only objects the local cache can
/// prove dead are deleted: the walk reads the trees, manifests and table nodes of every version in scope from
/// the cache, so it refuses when the cache lacks one of those (fetch that scope first). Besides the scope,
/// everything is kept that a pack younger than the grace period holds or reaches (read from the cache or the
/// remote), where a pack named by a use record younger than the grace period counts as that young: so what
/// another clone pushed, or relied on when it pushed, within the grace period is never collected. Ages are
/// measured by the remote's clock. Pack files without an index older than the grace period are removed.
pub fn gc_remote(
    store: &Store,
    remote: &Remote,
    targets: &[Target],
    opts: &GcOptions,
    progress: &dyn Progress,
) -> Result<GcReport> {
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
        let ranges: Vec<_> = live_entries
            .iter()
            .map(|e| e.offset..e.offset + ENTRY_HEADER_LEN + e.stored_len as u64)
            .collect();
        let got = remote.read_ranges(&[(index.pack_id, ranges)])?.remove(0);
        for (e, bytes) in live_entries.iter().zip(&got) {
            pack::check_entry_header(bytes, e)?;
            pack::verify_object(e, &bytes[ENTRY_HEADER_LEN as usize..])?;
        }
        let (new_index, pieces) =
            pack::repacked(live_entries.iter().copied().zip(got.iter().map(|b| &b[..])));
        let offset = new_index.pack_size;
        remote.upload_pack(&new_index, pieces.into_iter().map(Ok))?;
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

/// What gc learns from the use records it lists again while it deletes (rule 3 of docs/format.md).
struct LateUses {
    /// The packs whose closure is kept: the young ones of the plan and those recorded since.
    closed: HashSet<ObjectId>,
    /// The doomed packs that stay: those a young record names, and those holding an object that a pack
    /// recorded since reaches.
    spared: HashSet<ObjectId>,
    /// The packs deleted so far (nothing can be read from them, or kept in them, any more).
    deleted: HashSet<ObjectId>,
    /// Every object kept so far: the plan's, then the closure of each pack recorded since.
    live: HashSet<ObjectId>,
}

impl LateUses {
    /// Lists the use records again. A pack a record names stays; a pack recorded since the plan was made also
    /// keeps its closure, as a young pack does: every doomed pack holding an object it reaches stays whole (a
    /// push that found a version on the remote records the pack of its top object, and relies on what lies
    /// below it in older packs). Lists again after walking such a closure, so the last listing before a
    /// deletion is never older than the walk.
    fn relist(
        &mut self,
        store: &Store,
        remote: &Remote,
        indexes: &[(PackIndex, i64)],
        on_remote: &HashMap<ObjectId, (ObjectId, IndexEntry)>,
        doomed: &[&PackIndex],
        young: &dyn Fn(i64) -> bool,
    ) -> Result<()> {
        loop {
            let (used, _) = used_packs(remote, young)?;
            self.spared.extend(used.iter().copied());
            let fresh: HashSet<ObjectId> = used
                .into_iter()
                .filter(|p| !self.closed.contains(p) && !self.deleted.contains(p))
                .collect();
            if fresh.is_empty() {
                return Ok(());
            }
            self.closed.extend(fresh.iter().copied());
            let readable: HashMap<ObjectId, (ObjectId, IndexEntry)> = on_remote
                .iter()
                .filter(|(_, (pack, _))| !self.deleted.contains(pack))
                .map(|(id, at)| (*id, *at))
                .collect();
            let before = self.live.clone();
            keep_young_closure(store, remote, indexes, &fresh, &readable, &mut self.live)?;
            for index in doomed {
                if !self.deleted.contains(&index.pack_id)
                    && index
                        .entries
                        .iter()
                        .any(|e| self.live.contains(&e.id) && !before.contains(&e.id))
                {
                    self.spared.insert(index.pack_id);
                }
            }
        }
    }
}

/// How often gc lists the use records again while it deletes packs.
const USES_RELIST: std::time::Duration = std::time::Duration::from_secs(1);

/// The packs named by use records younger than the grace period, and the records older than it.
fn used_packs(
    remote: &Remote,
    young: &dyn Fn(i64) -> bool,
) -> Result<(HashSet<ObjectId>, Vec<ObjectId>)> {
    let (mut used, mut old) = (HashSet::new(), Vec::new());
    for (name, time) in remote.use_records()? {
        if !young(time) {
            old.push(name);
            continue;
        }
        match remote.read_use_record(&name)? {
            Ok(packs) => used.extend(packs),
            Err(message) => {
                return Err(Error::RemoteFailed {
                    remote: remote.name.clone(),
                    message: format!(
                        "use record uses/{}.use cannot be read ({message}); gc stops, since it cannot tell \
                         which packs a recent push relies on",
                        name.to_hex()
                    ),
                    hint: format!(
                        "gc deletes the record once it is older than the grace period, and `dv fsck --remote \
                         {0}` reports it; delete it sooner only if no push to '{0}' that could have written it \
                         is running",
                        remote.name
                    ),
                    source: None,
                });
            }
        }
    }
    Ok((used, old))
}

/// Adds to `live` every object in the `young` packs and everything those objects reach: a push within the
/// grace period may have committed a version no pointer in scope names, on top of objects that older packs
/// hold. Trees, manifests and table nodes are read from the cache, or from the remote when the cache lacks
/// them (verified); an object `live` held already was walked with everything below it.
fn keep_young_closure(
    store: &Store,
    remote: &Remote,
    indexes: &[(PackIndex, i64)],
    young: &HashSet<ObjectId>,
    on_remote: &HashMap<ObjectId, (ObjectId, IndexEntry)>,
    live: &mut HashSet<ObjectId>,
) -> Result<()> {
    use crate::store::object::{Manifest, NodeKind, ObjectKind, Tree};
    let mut level: Vec<(ObjectId, ObjectKind)> = indexes
        .iter()
        .filter(|(i, _)| young.contains(&i.pack_id))
        .flat_map(|(i, _)| i.entries.iter().map(|e| (e.id, e.kind)))
        .collect();
    let mut seen: HashSet<ObjectId> = HashSet::new();
    while !level.is_empty() {
        let mut expand: Vec<(ObjectId, ObjectKind)> = Vec::new();
        for (id, kind) in level.drain(..) {
            if !seen.insert(id) {
                continue;
            }
            // Live already: the scope's walk went below it (or it is a chunk, with nothing below).
            if !live.insert(id) && store.contains(&id)? {
                continue;
            }
            if kind != ObjectKind::Chunk {
                expand.push((id, kind));
            }
        }
        // The bytes of each object to expand: from the cache, else read from the remote.
        let mut raws: Vec<(ObjectId, ObjectKind, Vec<u8>)> = Vec::new();
        let mut from_remote: HashMap<ObjectId, Vec<(ObjectKind, IndexEntry)>> = HashMap::new();
        for (id, kind) in expand {
            if store.contains(&id)? {
                raws.push((id, kind, store.read(&id)?));
            } else if let Some((pack, e)) = on_remote.get(&id) {
                from_remote.entry(*pack).or_default().push((kind, *e));
            }
            // Neither: nothing below it can be kept (fsck reports such a gap).
        }
        let wanted: Vec<(ObjectId, Vec<std::ops::Range<u64>>)> = from_remote
            .iter()
            .map(|(pack, es)| (*pack, es.iter().map(|(_, e)| e.range()).collect()))
            .collect();
        let got = remote.read_ranges(&wanted)?;
        for ((pack, _), bytes) in wanted.iter().zip(got) {
            for ((kind, e), b) in from_remote[pack].iter().zip(bytes) {
                pack::check_entry_header(&b, e)?;
                let raw = pack::decode_object(e, &b[ENTRY_HEADER_LEN as usize..])?;
                raws.push((e.id, *kind, raw));
            }
        }
        for (id, kind, raw) in raws {
            let corrupt = |e: Error| Error::Corrupt {
                id,
                message: format!("{e}; gc stops, since it cannot tell what this object reaches"),
            };
            match kind {
                ObjectKind::Tree => {
                    for e in Tree::decode(&raw).map_err(corrupt)?.entries {
                        let k = match e.node.kind {
                            NodeKind::File => ObjectKind::Chunk,
                            NodeKind::Chunked => ObjectKind::Manifest,
                            NodeKind::Tree => ObjectKind::Tree,
                        };
                        level.push((e.node.id, k));
                    }
                }
                ObjectKind::Manifest => {
                    for (c, _) in Manifest::decode(&raw).map_err(corrupt)?.chunks {
                        level.push((c, ObjectKind::Chunk));
                    }
                }
                ObjectKind::Rows => {
                    if raw.starts_with(b"DVTH") {
                        let h = crate::table::Header::decode(&raw).map_err(corrupt)?;
                        level.extend(h.root.map(|r| (r, ObjectKind::Rows)));
                    } else if let crate::table::rowtree::Node::Inner { children, .. } =
                        crate::table::rowtree::Node::decode(&raw).map_err(corrupt)?
                    {
                        level.extend(children.into_iter().map(|c| (c.1, ObjectKind::Rows)));
                    }
                }
                ObjectKind::Chunk => {}
            }
        }
    }
    Ok(())
}

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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::object::ObjectKind;
    use crate::store::pack::Compression;

    fn entry(n: u8, len: u32) -> IndexEntry {
        IndexEntry {
            id: ObjectId::of(&[n]),
            offset: 8,
            kind: ObjectKind::Chunk,
            compression: Compression::None,
            raw_len: len,
            stored_len: len,
        }
    }

    #[test]
    fn plan_deletes_dead_packs_repacks_sparse_ones_and_spares_young_ones() {
        let dead = PackIndex::new(vec![entry(1, 100)], 200);
        let sparse = PackIndex::new(vec![entry(2, 10), entry(3, 1000)], 1100);
        let full = PackIndex::new(vec![entry(4, 100), entry(5, 100)], 300);
        let young = PackIndex::new(vec![entry(6, 100)], 200);
        let live: HashSet<ObjectId> = [2u8, 4, 5].iter().map(|n| ObjectId::of(&[*n])).collect();
        let p = plan(
            vec![
                (dead.clone(), false),
                (sparse.clone(), false),
                (full, false),
                (young, true),
            ],
            &live,
            &GcOptions::default(),
            Dedup::Fullest,
        );
        assert_eq!(
            p.delete.iter().map(|i| i.pack_id).collect::<Vec<_>>(),
            vec![dead.pack_id]
        );
        assert_eq!(p.repack.len(), 1);
        assert_eq!(p.repack[0].0.pack_id, sparse.pack_id);
        assert_eq!(p.repack[0].1, vec![entry(2, 10)]);
        assert_eq!(p.in_grace, 1);
    }

    #[test]
    fn on_a_remote_a_duplicate_stays_in_the_old_pack_with_the_smallest_id() {
        let a = PackIndex::new(vec![entry(1, 100), entry(2, 100)], 300);
        let b = PackIndex::new(vec![entry(1, 100)], 200);
        let young = PackIndex::new(vec![entry(1, 100)], 200);
        let live: HashSet<ObjectId> = [1u8, 2].iter().map(|n| ObjectId::of(&[*n])).collect();
        let (small, large) = if a.pack_id < b.pack_id {
            (a.clone(), b.clone())
        } else {
            (b.clone(), a.clone())
        };
        // Whatever the order given and whatever a young pack holds, two gcs keep the same copy.
        for order in [vec![a.clone(), b.clone()], vec![b.clone(), a.clone()]] {
            let mut indexes: Vec<(PackIndex, bool)> =
                order.into_iter().map(|i| (i, false)).collect();
            indexes.push((young.clone(), true));
            let p = plan(
                indexes,
                &live,
                &GcOptions::default(),
                Dedup::SmallestPackId(&HashSet::new()),
            );
            let dropped: Vec<ObjectId> = p
                .delete
                .iter()
                .map(|i| i.pack_id)
                .chain(p.repack.iter().map(|(i, _)| i.pack_id))
                .collect();
            assert!(
                !dropped.contains(&small.pack_id),
                "the smallest id keeps its copy"
            );
            if large.entries.len() == 1 {
                assert_eq!(dropped, vec![large.pack_id]);
            }
        }
    }

    #[test]
    fn a_duplicate_is_kept_once() {
        let a = PackIndex::new(vec![entry(1, 100), entry(2, 100)], 300);
        let b = PackIndex::new(vec![entry(1, 100)], 200);
        let live: HashSet<ObjectId> = [1u8, 2].iter().map(|n| ObjectId::of(&[*n])).collect();
        let p = plan(
            vec![(b.clone(), false), (a, false)],
            &live,
            &GcOptions::default(),
            Dedup::Fullest,
        );
        assert_eq!(
            p.delete.iter().map(|i| i.pack_id).collect::<Vec<_>>(),
            vec![b.pack_id]
        );
        assert!(p.repack.is_empty());
    }
}
