//! Repairing (`dv fsck --repair`): in the cache, rebuilt indexes, packs rewritten without their damaged
//! objects, and a refetch from a remote; on a remote, uploads again from the cache's good copies.

use std::collections::HashSet;
use std::fs;

use super::{FsckReport, fsck_cache, fsck_remote};
use crate::ops::datasets::Target;
use crate::progress::{Progress, Unit};
use crate::remote::Remote;
use crate::session::Locked;
use crate::store::Store;
use crate::store::object::ObjectKind;
use crate::store::pack::{self, ENTRY_HEADER_LEN, PackIndex};
use crate::{ObjectId, Result};

/// Repairs what `report` found: a damaged index file is rebuilt from its pack when the pack's entry headers
/// give it back; packs holding damaged objects are rewritten without them (the sound objects are copied into
/// new packs first); a pack whose index cannot be had is deleted only after every entry of it that can still
/// be read and verifies is copied into a new pack; and then everything the datasets in scope reach that the
/// cache lacks is fetched from `remote` (when there is one), verified. Returns a fresh report, whose
/// `repaired` counts the indexes rebuilt and the objects fetched.
pub fn repair(
    s: &Locked<'_>,
    remote: Option<&Remote>,
    targets: &[Target],
    mut report: FsckReport,
    progress: &dyn Progress,
) -> Result<FsckReport> {
    let store = s.store();
    // 1. Damaged index files of intact packs: rebuilt, then the cache is checked again with them.
    let mut rebuilt = 0u64;
    for d in &report.damaged_packs {
        let Some(id) = ObjectId::from_hex(&d.pack) else {
            continue;
        };
        let path = Store::index_path(store.dir(), &id);
        let readable = fs::read(&path)
            .ok()
            .and_then(|b| PackIndex::decode(&b).ok())
            .is_some_and(|i| i.pack_id == id);
        if path.exists() && !readable && store.rebuild_index(&id)?.is_some() {
            rebuilt += 1;
        }
    }
    if rebuilt > 0 {
        report = fsck_cache(s, targets, progress)?;
    }
    let mut bad_packs: HashSet<ObjectId> = report
        .damaged
        .iter()
        .filter_map(|d| ObjectId::from_hex(&d.pack))
        .collect();
    bad_packs.extend(
        report
            .damaged_packs
            .iter()
            .filter_map(|d| ObjectId::from_hex(&d.pack)),
    );
    let damaged: HashSet<ObjectId> = report
        .damaged
        .iter()
        .filter_map(|d| ObjectId::from_hex(&d.object))
        .collect();
    let all = store.indexes_lenient()?;
    let mut writer = store.pack_writer();
    for index in all.iter().filter(|i| bad_packs.contains(&i.pack_id)) {
        for e in &index.entries {
            if damaged.contains(&e.id) {
                continue;
            }
            let loc = crate::store::Location {
                pack: index.pack_id,
                entry: *e,
            };
            // Whatever still verifies is kept; the rest is fetched again below.
            if let Ok(bytes) = store.reader().read_verified_entry(&loc) {
                writer.add_copy(e, &bytes)?;
            }
        }
    }
    // A pack whose index cannot be read nor rebuilt: what can still be read of it is kept.
    let readable_index: HashSet<ObjectId> = all.iter().map(|i| i.pack_id).collect();
    for id in bad_packs.iter().filter(|p| !readable_index.contains(p)) {
        for (e, bytes) in store.readable_entries(id)? {
            if !damaged.contains(&e.id) {
                writer.add_copy(&e, &bytes)?;
            }
        }
    }
    let salvaged = writer.finish()?;
    store.register_packs(&salvaged)?;
    // A salvaged pack holding every entry of a damaged one at the same offsets is named like it, and its
    // sound bytes replaced the damaged file: that name is kept, not deleted.
    let rewritten: HashSet<ObjectId> = salvaged.iter().map(|i| i.pack_id).collect();
    let doomed: Vec<ObjectId> = bad_packs
        .into_iter()
        .filter(|p| !rewritten.contains(p))
        .collect();
    let mut keep: Vec<PackIndex> = all
        .into_iter()
        .filter(|i| !doomed.contains(&i.pack_id) && !rewritten.contains(&i.pack_id))
        .collect();
    keep.extend(salvaged);
    store.delete_packs(&doomed, &keep)?;
    let fetched = match remote {
        Some(remote) => crate::ops::transfer::fetch(s, remote, targets, progress)?.objects,
        None => 0,
    };
    let mut fresh = fsck_cache(s, targets, progress)?;
    fresh.repaired = rebuilt + fetched;
    Ok(fresh)
}

/// Repairs a remote from the cache's good copies: an unreadable index is rebuilt from its pack (when the pack's
/// own entry headers give back exactly the entry table the pack is named after); every damaged object, every
/// object of a pack that cannot be read, and every object a tree or manifest on the remote names but the remote
/// lacks is uploaded again from the cache (verified, chunks before manifests and trees), as new packs; then each
/// pack holding damaged objects is rewritten without them (its sound objects copied to a new pack, committed
/// first) and deleted, and a pack file that is gone has its index deleted. Returns a fresh report of the
/// remote, whose `repaired` counts the objects uploaded and the indexes rebuilt.
pub fn repair_remote(
    s: &Locked<'_>,
    remote: &Remote,
    progress: &dyn Progress,
) -> Result<FsckReport> {
    let store = s.store();
    let mut repaired = 0u64;
    // 1. Indexes that cannot be read: rebuilt from their packs where possible, else written again from this
    //    clone's local copy when the pack holds what the copy says. Otherwise the objects the copy lists are
    //    uploaded again from the cache (step 2), and the pack goes once every one of them is elsewhere.
    let (_, bad) = remote.indexes()?;
    let mut lost: Vec<PackIndex> = Vec::new();
    // Packs left in place because something in them could not be had again, with what to do about it.
    let mut kept: std::collections::HashMap<ObjectId, String> = std::collections::HashMap::new();
    for (pack_id, _) in bad {
        let data = remote.read_pack(&pack_id)?;
        if let Some(data) = &data
            && let Some(index) = pack::rebuild_index(data, &pack_id)
        {
            remote.commit_pack(&index)?;
            repaired += 1;
            continue;
        }
        let copy = remote.cached_index(&pack_id);
        if let (Some(copy), Some(data)) = (&copy, &data)
            && pack_holds(copy, data)
        {
            remote.commit_pack(copy)?;
            repaired += 1;
            continue;
        }
        // What can still be read of the pack goes up again as a new pack (named like the old one, which it
        // replaces, when every entry is sound), found where the damaged index's entry table or this clone's
        // copy of it says, or by walking the pack's entry headers.
        let table = remote
            .read_index_file(&pack_id)?
            .and_then(|b| PackIndex::decode_table(&b).ok())
            .filter(|i| i.pack_id == pack_id);
        let mut known: Vec<pack::IndexEntry> = Vec::new();
        known.extend(copy.iter().flat_map(|c| c.entries.iter().copied()));
        known.extend(table.iter().flat_map(|t| t.entries.iter().copied()));
        if let Some(data) = &data {
            repaired += salvage_to_remote(remote, data, &known)?;
        }
        // Without a table nobody can tell what else the pack held: it stays, reported; unless there is no pack
        // file at all, when the unreadable index names nothing that could be lost.
        match copy.or(table) {
            Some(list) => lost.push(list),
            None if data.is_none() => {
                remote.delete_pack(&pack_id)?;
                repaired += 1;
            }
            None => {
                kept.insert(
                    pack_id,
                    format!(
                        "kept: neither its index nor a copy of it says what else it holds; push from every \
                         clone that has data on this remote (`dv push {}`; each sends what the remote lacks), \
                         then run `dv fsck --remote {} --repair` again",
                        remote.name, remote.name
                    ),
                );
            }
        }
    }
    // 1b. Pack files no index names: a push's pack whose index never came (killed between the two), or one
    //     whose index was lost. A whole pack (its entry headers give back the table it is named after) is
    //     indexed again, so what only it holds is not taken for a leftover and collected; of one that is not
    //     whole, what can be read and verified goes up again as a new pack. (A push in flight commits the same
    //     index a moment later: indexing its pack first changes nothing.)
    {
        let (good, bad) = remote.indexes()?;
        let indexed: HashSet<ObjectId> = good
            .iter()
            .map(|i| i.pack_id)
            .chain(bad.iter().map(|(id, _)| *id))
            .collect();
        for (pack_id, _) in remote.pack_files()? {
            if indexed.contains(&pack_id) {
                continue;
            }
            let Some(data) = remote.read_pack(&pack_id)? else {
                continue;
            };
            if let Some(index) = pack::rebuild_index(&data, &pack_id) {
                remote.commit_pack(&index)?;
                repaired += 1;
                continue;
            }
            repaired += salvage_to_remote(remote, &data, &[])?;
        }
    }
    let report = fsck_remote(remote, progress)?;
    let (indexes, _) = remote.indexes()?;
    let by_pack: std::collections::HashMap<ObjectId, &PackIndex> =
        indexes.iter().map(|i| (i.pack_id, i)).collect();
    let mut damaged: HashSet<ObjectId> = report
        .damaged
        .iter()
        .filter_map(|d| ObjectId::from_hex(&d.object))
        .collect();
    let mut suspect_packs: HashSet<ObjectId> = report
        .damaged
        .iter()
        .filter_map(|d| ObjectId::from_hex(&d.pack))
        .collect();
    for d in &report.damaged_packs {
        if let Some(i) = ObjectId::from_hex(&d.pack).and_then(|id| by_pack.get(&id)) {
            suspect_packs.insert(i.pack_id);
            damaged.extend(i.entries.iter().map(|e| e.id));
        }
    }
    damaged.extend(
        report
            .problems
            .iter()
            .filter_map(|p| ObjectId::from_hex(&p.object)),
    );
    // What was salvaged above from a pack whose index was lost is on the remote again; the rest comes from the
    // cache.
    let readable: HashSet<ObjectId> = indexes
        .iter()
        .flat_map(|i| i.entries.iter().map(|e| e.id))
        .collect();
    for copy in &lost {
        damaged.extend(
            copy.entries
                .iter()
                .map(|e| e.id)
                .filter(|id| !readable.contains(id)),
        );
    }
    // 2. Upload the cache's good copies, children before parents.
    let mut upload: Vec<crate::store::Location> = Vec::new();
    for id in &damaged {
        if let Some(loc) = store.locate(id)? {
            upload.push(loc);
        }
    }
    let rank = |k: ObjectKind| match k {
        ObjectKind::Chunk => 0,
        ObjectKind::Rows => 1,
        ObjectKind::Manifest => 2,
        ObjectKind::Tree => 3,
    };
    upload.sort_by_key(|l| (rank(l.entry.kind), l.pack, l.entry.offset));
    let plan = crate::ops::transfer::plan_packs(&upload, crate::ops::transfer::PUSH_PACK_SIZE);
    progress.start("Repairing", None, Unit::Files);
    for (index, locations) in &plan {
        let mut pieces = vec![Ok(pack::pack_header().to_vec())];
        for loc in locations.iter() {
            pieces.push(store.reader().read_verified_entry(loc));
        }
        remote.upload_pack(index, pieces.into_iter())?;
        repaired += index.entries.len() as u64;
        progress.inc(1);
    }
    // 3. Rewrite the packs that hold damaged objects without them; drop the indexes of packs that are gone.
    //    Each pack is read again whole first: one that now reads and verifies completely (the fault was in
    //    the reading) is left as it is. A damaged object that is nowhere else on the remote now (step 2 found
    //    no copy in the cache) keeps its pack, reported: deleting it would turn "damaged" into "never there",
    //    and the next fsck would call the remote clean while the versions that need the object are lost.
    let mut lost_packs: Vec<super::LostPack> = Vec::new();
    let elsewhere: HashSet<ObjectId> = if suspect_packs.is_empty() {
        HashSet::new()
    } else {
        let (now, _) = remote.indexes()?;
        now.iter()
            .filter(|i| !suspect_packs.contains(&i.pack_id))
            .flat_map(|i| i.entries.iter().map(|e| e.id))
            .collect()
    };
    for pack_id in suspect_packs {
        let Some(index) = by_pack.get(&pack_id) else {
            continue;
        };
        let Some(data) = remote.read_pack(&pack_id)? else {
            // Its index goes (so a push from a clone that has the objects sends them again); what no copy
            // replaced above is said, as it is on the remote no more.
            remote.delete_pack(&pack_id)?;
            let gone: Vec<ObjectId> = index
                .entries
                .iter()
                .map(|e| e.id)
                .filter(|id| !elsewhere.contains(id) && store.locate(id).ok().flatten().is_none())
                .collect();
            if let Some(first) = gone.first() {
                lost_packs.push(super::LostPack {
                    pack: pack_id.to_hex(),
                    objects: gone.len() as u64,
                    message: format!(
                        "its pack file is gone: removed its index; {} object(s) it listed (first {}) are on \
                         the remote no more and not in this clone's cache: `dv push {}` from a clone that \
                         has them sends them again",
                        gone.len(),
                        first.to_hex(),
                        remote.name
                    ),
                });
            }
            continue;
        };
        let mut sound = Vec::new();
        for e in &index.entries {
            let (start, end) = (e.offset as usize, e.range().end as usize);
            if end <= data.len()
                && pack::check_entry_header(&data[start..end], e).is_ok()
                && pack::verify_object(e, &data[start + ENTRY_HEADER_LEN as usize..end]).is_ok()
            {
                sound.push((*e, &data[start..end]));
            }
        }
        if sound.len() == index.entries.len() && data.len() as u64 == index.pack_size {
            continue;
        }
        let sound_ids: HashSet<ObjectId> = sound.iter().map(|(e, _)| e.id).collect();
        let unrecoverable: Vec<ObjectId> = index
            .entries
            .iter()
            .map(|e| e.id)
            .filter(|id| !sound_ids.contains(id) && !elsewhere.contains(id))
            .collect();
        // A pack is named by its entries: every entry sound (a pack with bytes past its last entry) gives the
        // same name, and the upload replaces the pack, which must then stay.
        let mut replaced = false;
        if !sound.is_empty() {
            let (new_index, pieces) = pack::repacked(sound);
            replaced = new_index.pack_id == pack_id;
            remote.upload_pack(&new_index, pieces.into_iter().map(Ok))?;
        }
        if let Some(first) = unrecoverable.first() {
            kept.insert(
                pack_id,
                format!(
                    "kept: {} object(s) its index lists (first {}) could be neither read from it nor found \
                     in this clone's cache; run `dv fsck --remote {} --repair` in a clone whose cache has \
                     them (it uploads them; a push would not, as this index still lists them)",
                    unrecoverable.len(),
                    first.to_hex(),
                    remote.name
                ),
            );
            continue;
        }
        if !replaced {
            remote.delete_pack(&pack_id)?;
        }
        progress.inc(1);
    }
    // 4. A pack whose index could be neither read nor rebuilt: once every object its local copy lists is in a
    //    readable index, nothing of it is lost, and it goes (index first).
    if !lost.is_empty() {
        let (indexes, _) = remote.indexes()?;
        let readable: HashSet<ObjectId> = indexes
            .iter()
            .flat_map(|i| i.entries.iter().map(|e| e.id))
            .collect();
        // A pack uploaded again whole has the same id (a pack is named by its entries): its index reads now.
        let sound: HashSet<ObjectId> = indexes.iter().map(|i| i.pack_id).collect();
        for copy in lost {
            if sound.contains(&copy.pack_id) {
                continue;
            }
            let missing: Vec<&ObjectId> = copy
                .entries
                .iter()
                .map(|e| &e.id)
                .filter(|id| !readable.contains(id))
                .collect();
            if let Some(first) = missing.first() {
                kept.insert(
                    copy.pack_id,
                    format!(
                        "kept: {} object(s) its index lists (first {}) could be neither read from it nor found \
                         in this clone's cache; run `dv push {}` from a clone that has them, then \
                         `dv fsck --remote {} --repair` again",
                        missing.len(),
                        first.to_hex(),
                        remote.name,
                        remote.name
                    ),
                );
                continue;
            }
            remote.delete_pack(&copy.pack_id)?;
            progress.inc(1);
        }
    }
    progress.finish();
    let mut fresh = fsck_remote(remote, progress)?;
    for d in &mut fresh.damaged_packs {
        if let Some(note) = ObjectId::from_hex(&d.pack).and_then(|id| kept.get(&id)) {
            d.message = format!("{}; {note}", d.message);
        }
    }
    for d in &mut fresh.damaged {
        if let Some(note) = ObjectId::from_hex(&d.pack).and_then(|id| kept.get(&id)) {
            d.message = format!("{}; {note}", d.message);
        }
    }
    fresh.repaired = repaired;
    fresh.lost_packs = lost_packs;
    Ok(fresh)
}

/// Uploads what can still be read and verified of a remote pack (`data`; where `known` entry tables say, and by
/// walking its entry headers: `pack::readable_entries`) as a new pack. Returns how many objects went up.
fn salvage_to_remote(remote: &Remote, data: &[u8], known: &[pack::IndexEntry]) -> Result<u64> {
    let found = pack::readable_entries(data, known);
    if found.is_empty() {
        return Ok(0);
    }
    let pieces: Vec<Vec<u8>> = found
        .iter()
        .map(|e| pack::salvaged_entry(data, e))
        .collect();
    let (index, pieces) = pack::repacked(found.iter().copied().zip(pieces.iter().map(|p| &p[..])));
    remote.upload_pack(&index, pieces.into_iter().map(Ok))?;
    Ok(index.entries.len() as u64)
}

/// Whether `data` is the pack `index` describes: its size, and every entry's header and object verified.
fn pack_holds(index: &PackIndex, data: &[u8]) -> bool {
    data.len() as u64 == index.pack_size
        && index.entries.iter().all(|e| {
            let (start, end) = (e.offset as usize, e.range().end as usize);
            end <= data.len()
                && pack::check_entry_header(&data[start..end], e).is_ok()
                && pack::verify_object(e, &data[start + ENTRY_HEADER_LEN as usize..end]).is_ok()
        })
}
