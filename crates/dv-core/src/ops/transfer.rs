//! `dv push`, `dv fetch`: move the objects the chosen pointers reach, and only those the other side lacks.
//!
//! Push packs the missing objects as they are stored locally (already compressed, verified on the way out)
//! into new packs of up to 32 MiB and uploads each pack before its index. Fetch walks the datasets level by
//! level (trees, then manifests, then chunks), reads only the objects the cache lacks with ranged reads merged
//! per pack, verifies every object's hash, and appends them to new local packs.

use std::collections::{HashMap, HashSet};

use super::datasets::Target;
use crate::paths::is_within;
use crate::progress::{Progress, Unit};
use crate::remote::{self, Remote, RemoteLocation};
use crate::store::object::{Manifest, Node, NodeKind, ObjectKind, Tree};
use crate::store::pack::{self, ENTRY_HEADER_LEN, IndexEntry, PackIndex};
use crate::store::{Location, Store};
use crate::{Error, ObjectId, Result};

#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct TransferReport {
    pub remote: String,
    pub datasets: Vec<String>,
    /// Objects moved.
    pub objects: u64,
    /// Bytes moved (as stored: compressed where it paid).
    pub bytes: u64,
    pub packs: u64,
    /// Objects the other side already had.
    pub skipped: u64,
    /// Push only: dataset versions that could not be sent because objects they need are neither in the cache
    /// nor on the remote (for example deleted by `dv gc` before they were pushed). Everything else was sent.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub incomplete: Vec<Incomplete>,
    /// Remote index files that could not be read, skipped: their objects counted as absent (a push sends them
    /// again; a fetch fails only if it needs an object no readable index names).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub unreadable_indexes: Vec<UnreadableIndex>,
}

#[derive(Clone, Debug, serde::Serialize)]
pub struct UnreadableIndex {
    /// The pack the index file is named after.
    pub pack: String,
    pub message: String,
}

fn unreadable_list(bad: &[remote::UnusableIndex]) -> Vec<UnreadableIndex> {
    bad.iter()
        .map(|(pack, message)| UnreadableIndex {
            pack: pack.to_hex(),
            message: message.clone(),
        })
        .collect()
}

/// How often a long push refreshes its use record (docs/format.md: a gc's grace period must be longer).
const USE_REFRESH: std::time::Duration = std::time::Duration::from_secs(600);

/// How many times a push records uses and lists the remote again before it records what it found last.
const USE_ROUNDS: usize = 3;

#[derive(Clone, Debug, serde::Serialize)]
pub struct Incomplete {
    pub path: String,
    /// The dataset version (its pointer's id).
    pub id: ObjectId,
    /// The first object found missing.
    pub missing: ObjectId,
}

/// What a push must send, in upload order, and what it relies on.
struct PushPlan {
    /// Objects the remote lacks, in upload order.
    upload: Vec<Location>,
    /// Objects found on the remote with nothing uploaded above them (not uploaded; what lies below them is
    /// checked, not counted).
    skipped: u64,
    incomplete: Vec<Incomplete>,
    /// Packs holding the objects on the remote that the push relies on without uploading anything above them
    /// (a target itself, or a child of an object it uploads): what its use record names.
    relied_on: HashSet<ObjectId>,
}

/// The objects below the targets that the remote lacks, in upload order: chunks first, then manifests, then
/// trees with every tree after its children. Pushes upload in that order (each pack's index committing it), so
/// a tree or manifest on a remote implies everything below it is there too. The walk still goes below objects
/// the remote has whenever the cache can read them, so an object lost from the remote (damage, or a gc by an
/// older dv) is found and sent again; below an object only the remote has, the closure rule is trusted. A
/// target that needs an object neither side has is left out whole (its trees and manifests must not go up
/// without what lies below) and listed as incomplete.
fn missing_on_remote(
    store: &Store,
    targets: &[Target],
    on_remote: &HashMap<ObjectId, RemoteLocation>,
) -> Result<PushPlan> {
    let mut seen = HashSet::new();
    let (mut chunks, mut manifests, mut trees) = (Vec::new(), Vec::new(), Vec::new());
    let mut skipped = 0u64;
    let mut incomplete = Vec::new();
    let mut relied_on = HashSet::new();
    for t in targets {
        // This target's findings, kept only if it turns out complete.
        let (mut t_seen, mut t_chunks, mut t_manifests, mut t_trees) =
            (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        let mut t_relied = Vec::new();
        let mut t_skipped = 0u64;
        let mut missing = None;
        // (node, where it is once its children have been visited, whether its parent is on the remote)
        let mut stack: Vec<(Node, Option<Location>, bool)> =
            vec![(t.dataset.pointer.node, None, false)];
        while let Some((n, expanded, under_remote)) = stack.pop() {
            if let Some(loc) = expanded {
                t_trees.push(loc);
                continue;
            }
            if !seen.insert(n.id) {
                continue;
            }
            t_seen.push(n.id);
            // One lookup tells both whether the cache has it and where, for the upload.
            let local = store.locate(&n.id)?;
            let remote_loc = on_remote.get(&n.id);
            if let Some(r) = remote_loc
                && !under_remote
            {
                t_skipped += 1;
                t_relied.push(r.pack);
            }
            let Some(loc) = local else {
                if remote_loc.is_none() {
                    missing = Some(n.id);
                    break;
                }
                continue; // only the remote has it: trust what lies below
            };
            let here = remote_loc.is_some();
            match n.kind {
                NodeKind::File => {
                    if !here {
                        t_chunks.push(loc)
                    }
                }
                NodeKind::Chunked => {
                    if !here {
                        t_manifests.push(loc);
                    }
                    for (c, len) in store.read_manifest(&n.id)?.chunks {
                        stack.push((chunk_node(c, len), None, here));
                    }
                }
                NodeKind::Tree => {
                    if !here {
                        stack.push((n, Some(loc), false));
                    }
                    stack.extend(
                        store
                            .read_tree(&n.id)?
                            .entries
                            .into_iter()
                            .map(|e| (e.node, None, here)),
                    );
                }
            }
        }
        match missing {
            Some(first) => {
                // Another target may share these objects and be complete: let it walk them again.
                for id in t_seen {
                    seen.remove(&id);
                }
                incomplete.push(Incomplete {
                    path: t.dataset.path.clone(),
                    id: t.dataset.pointer.node.id,
                    missing: first,
                });
            }
            None => {
                chunks.extend(t_chunks);
                manifests.extend(t_manifests);
                trees.extend(t_trees);
                relied_on.extend(t_relied);
                skipped += t_skipped;
            }
        }
    }
    let mut tables = Vec::new();
    for t in targets {
        let left_out = incomplete
            .iter()
            .any(|i| i.path == t.dataset.path && i.id == t.dataset.pointer.node.id);
        if left_out {
            continue;
        }
        if let Some(r) = &t.dataset.pointer.table {
            table_missing(
                store,
                r.id,
                on_remote,
                &mut seen,
                &mut tables,
                &mut relied_on,
            )?;
        }
    }
    // Chunks in local pack order, for sequential reads.
    chunks.sort_unstable_by_key(|l| (l.pack, l.entry.offset));
    let mut order = chunks;
    order.extend(manifests);
    order.extend(trees);
    for id in tables {
        order.push(
            store
                .locate(&id)?
                .ok_or_else(|| Error::Internal(format!("{id} vanished")))?,
        );
    }
    Ok(PushPlan {
        upload: order,
        skipped,
        incomplete,
        relied_on,
    })
}

/// What a table object is, as far as a walk knows before reading it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum TableObject {
    Header,
    /// A row tree node of unknown level.
    Node,
    Leaf,
}

/// The objects of a table (header `id`) that the remote lacks, children before parents so that each
/// upload keeps the closure rule. Like `missing_on_remote`, it goes below objects the remote has when the cache
/// can read them, and adds to `relied_on` the packs of remote objects nothing uploaded lies above.
fn table_missing(
    store: &Store,
    id: ObjectId,
    on_remote: &HashMap<ObjectId, RemoteLocation>,
    seen: &mut HashSet<ObjectId>,
    out: &mut Vec<ObjectId>,
    relied_on: &mut HashSet<ObjectId>,
) -> Result<()> {
    // (id, children listed, whether its parent is on the remote)
    let mut stack: Vec<(ObjectId, bool, bool)> = vec![(id, false, false)];
    while let Some((n, expanded, under_remote)) = stack.pop() {
        if expanded {
            out.push(n);
            continue;
        }
        if !seen.insert(n) {
            continue;
        }
        let here = on_remote.get(&n);
        if let Some(r) = here
            && !under_remote
        {
            relied_on.insert(r.pack);
        }
        if here.is_some() && !store.contains(&n)? {
            continue; // only the remote has it: trust what lies below
        }
        if here.is_none() {
            stack.push((n, true, false));
        }
        if n == id {
            let h = crate::table::read_header(store, &id)?;
            stack.extend(h.root.map(|r| (r, false, here.is_some())));
        } else if let crate::table::rowtree::Node::Inner { children, .. } =
            crate::table::rowtree::NodeSource::node(&crate::table::StoreNodes(store), &n)?
        {
            stack.extend(children.into_iter().map(|c| (c.1, false, here.is_some())));
        }
    }
    Ok(())
}

/// What a remote lacks of one dataset.
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct RemoteState {
    pub remote: String,
    /// True when the remote holds everything the pointer reaches.
    pub pushed: bool,
    /// Objects the remote lacks that the cache has (what a push would send)...
    pub missing_objects: u64,
    /// ...and their stored size.
    pub missing_bytes: u64,
    /// Objects neither the remote nor the cache has: nobody can restore these from here.
    pub unavailable_objects: u64,
}

/// What `remote` lacks of each target: everything below the target that the remote's current index listing
/// does not name, walked through the cache (below an object only the remote has, the closure rule is trusted).
pub fn remote_state(
    store: &Store,
    remote: &Remote,
    targets: &[Target],
) -> Result<Vec<RemoteState>> {
    let (on_remote, _unreadable) = remote.objects()?;
    let mut out = Vec::new();
    for t in targets {
        let mut st = RemoteState {
            remote: remote.name.clone(),
            ..Default::default()
        };
        let mut seen = HashSet::new();
        let mut stack = vec![t.dataset.pointer.node];
        while let Some(n) = stack.pop() {
            if !seen.insert(n.id) {
                continue;
            }
            let here = on_remote.contains_key(&n.id);
            let Some(loc) = store.locate(&n.id)? else {
                if !here {
                    st.unavailable_objects += 1;
                }
                continue;
            };
            if !here {
                st.missing_objects += 1;
                st.missing_bytes += loc.entry.stored_len as u64;
            }
            match n.kind {
                NodeKind::File => {}
                NodeKind::Chunked => stack.extend(
                    store
                        .read_manifest(&n.id)?
                        .chunks
                        .into_iter()
                        .map(|(c, len)| chunk_node(c, len)),
                ),
                NodeKind::Tree => {
                    stack.extend(store.read_tree(&n.id)?.entries.into_iter().map(|e| e.node))
                }
            }
        }
        if let Some(r) = &t.dataset.pointer.table {
            if store.contains(&r.id)? {
                let mut objs = Vec::new();
                table_missing(
                    store,
                    r.id,
                    &on_remote,
                    &mut seen,
                    &mut objs,
                    &mut HashSet::new(),
                )?;
                for id in objs {
                    if let Some(loc) = store.locate(&id)? {
                        st.missing_objects += 1;
                        st.missing_bytes += loc.entry.stored_len as u64;
                    }
                }
            } else if !on_remote.contains_key(&r.id) {
                st.unavailable_objects += 1;
            }
        }
        st.pushed = st.missing_objects == 0 && st.unavailable_objects == 0;
        out.push(st);
    }
    Ok(out)
}

fn chunk_node(id: ObjectId, len: u32) -> Node {
    Node {
        kind: NodeKind::File,
        id,
        size: len as u64,
        files: 1,
        exec: false,
    }
}

/// Pushes whole datasets (a path inside a dataset pushes all of it, so the remote's closure rule holds).
pub fn push(
    store: &Store,
    remote: &Remote,
    targets: &[Target],
    progress: &dyn Progress,
) -> Result<TransferReport> {
    super::datasets::check_named_held(targets, store)?;
    let started = super::now_ns();
    let ms = || (super::now_ns() - started) / 1_000_000;
    let (on_remote, mut unreadable) = remote.objects()?;
    tracing::debug!(ms = ms(), objects = on_remote.len(), "remote index listed");
    let mut walked = missing_on_remote(store, targets, &on_remote)?;
    tracing::debug!(ms = ms(), missing = walked.upload.len(), "walked");
    // The remote gc protocol (docs/format.md): before anything relies on objects already on the remote, record
    // their packs in a use record, so that a gc listing after this keeps them; then list again and walk again,
    // so that whatever a gc deleted before the record was written is found missing and sent. A pack newly
    // relied on in that walk (pushed meanwhile by someone else) is recorded in turn.
    let mut recorded: HashSet<ObjectId> = HashSet::new();
    for _ in 0..USE_ROUNDS {
        if walked.relied_on.is_subset(&recorded) {
            break;
        }
        recorded.extend(walked.relied_on.iter().copied());
        let packs: Vec<ObjectId> = recorded.iter().copied().collect();
        remote.record_uses(&packs)?;
        let (fresh, bad) = remote.objects()?;
        unreadable = bad;
        walked = missing_on_remote(store, targets, &fresh)?;
        tracing::debug!(
            ms = ms(),
            missing = walked.upload.len(),
            "uses recorded, walked again"
        );
    }
    if !walked.relied_on.is_subset(&recorded) {
        recorded.extend(walked.relied_on.iter().copied());
        remote.record_uses(&recorded.iter().copied().collect::<Vec<_>>())?;
    }
    let recorded: Vec<ObjectId> = recorded.into_iter().collect();
    // A long push writes its record again before committing a pack once
    // the record is older than USE_REFRESH (a new file, with a nonce of its own), so some record naming its
    // packs stays younger than any sensible grace period.
    let last_recorded = std::sync::Mutex::new(std::time::Instant::now());
    let missing = walked.upload;
    let mut report = TransferReport {
        remote: remote.name.clone(),
        datasets: targets.iter().map(|t| t.dataset.path.clone()).collect(),
        skipped: walked.skipped,
        incomplete: walked.incomplete,
        unreadable_indexes: unreadable_list(&unreadable),
        ..Default::default()
    };
    let total: u64 = missing.iter().map(|l| l.entry.stored_len as u64).sum();
    progress.start("Pushing", Some(total), Unit::Bytes);
    let reader = store.reader();
    let plan = plan_packs(&missing, store.pack_size().min(PUSH_PACK_SIZE));
    // Two packs go up at once, so one pack's last parts, its completion and its index overlap the next pack's
    // bytes. Indexes still commit in plan order: a pack's index goes up only after every earlier pack's, so
    // a tree or manifest is never on the remote before what lies below it, even if the push is cut off.
    let lanes = PUSH_PACKS_IN_FLIGHT.min(plan.len()).max(1);
    let turn = std::sync::Mutex::new(0usize);
    let turn_changed = std::sync::Condvar::new();
    let failed = std::sync::atomic::AtomicBool::new(false);
    let fail = || {
        let _turn = turn.lock().expect("poisoned");
        failed.store(true, std::sync::atomic::Ordering::SeqCst);
        turn_changed.notify_all();
    };
    let results: Vec<Result<Vec<usize>>> = std::thread::scope(|s| {
        let lane = |first: usize| {
            let mut committed = Vec::new();
            for i in (first..plan.len()).step_by(lanes) {
                if failed.load(std::sync::atomic::Ordering::SeqCst) {
                    break;
                }
                let (index, locations) = &plan[i];
                let header = std::iter::once(Ok(pack::pack_header().to_vec()));
                // Verified on the way out (a damaged local copy never reaches the remote), a run of objects
                // at a time spread over the cores.
                let pieces = locations.chunks(PUSH_VERIFY_RUN).map(|run| {
                    let entries = super::par_map(run, |loc| reader.read_verified_entry(loc));
                    let mut piece = Vec::new();
                    for (loc, entry) in run.iter().zip(entries) {
                        piece.extend_from_slice(&entry?);
                        progress.inc(loc.entry.stored_len as u64);
                    }
                    Ok(piece)
                });
                if let Err(e) = remote.upload_pack_data(
                    index,
                    header.chain(pieces),
                    (remote::CONCURRENCY / lanes).max(1),
                ) {
                    fail();
                    return Err(e);
                }
                let mut next = turn.lock().expect("poisoned");
                while *next != i && !failed.load(std::sync::atomic::Ordering::SeqCst) {
                    next = turn_changed.wait(next).expect("poisoned");
                }
                if *next != i {
                    break; // an earlier pack failed: this one must not commit
                }
                let refresh = {
                    let mut last = last_recorded.lock().expect("poisoned");
                    let due = !recorded.is_empty() && last.elapsed() > USE_REFRESH;
                    if due {
                        *last = std::time::Instant::now();
                    }
                    due
                };
                if refresh && let Err(e) = remote.record_uses(&recorded) {
                    drop(next);
                    fail();
                    return Err(e);
                }
                if let Err(e) = remote.commit_pack(index) {
                    drop(next);
                    fail();
                    return Err(e);
                }
                crate::fault::point("push-pack-committed");
                tracing::debug!(ms = ms(), bytes = index.pack_size, "pack committed");
                *next += 1;
                turn_changed.notify_all();
                committed.push(i);
            }
            Ok(committed)
        };
        let handles: Vec<_> = (0..lanes)
            .map(|l| {
                s.spawn(move || {
                    // A lane that panics must still release one waiting for its turn.
                    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| lane(l)))
                        .unwrap_or_else(|p| {
                            fail();
                            std::panic::resume_unwind(p)
                        })
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or_else(|p| std::panic::resume_unwind(p)))
            .collect()
    });
    let mut first_err = None;
    for r in results {
        match r {
            Ok(committed) => {
                for i in committed {
                    let (index, locations) = &plan[i];
                    report.packs += 1;
                    report.objects += index.entries.len() as u64;
                    report.bytes += locations
                        .iter()
                        .map(|l| l.entry.stored_len as u64)
                        .sum::<u64>();
                }
            }
            Err(e) => {
                first_err.get_or_insert(e);
            }
        }
    }
    if let Some(e) = first_err {
        progress.finish();
        return Err(e);
    }
    progress.finish();
    Ok(report)
}

/// The size of the packs a push builds: each goes up in one request (see `remote::SINGLE_PUT_MAX`), two at a
/// time, so a push holds about twice this in memory.
pub(crate) const PUSH_PACK_SIZE: u64 = 32 * 1024 * 1024;

/// How many packs a push uploads at once.
const PUSH_PACKS_IN_FLIGHT: usize = 2;

/// How many objects push reads and verifies at a time (a few MiB of chunks).
const PUSH_VERIFY_RUN: usize = 64;

/// Splits objects (in upload order) into packs of about `target` bytes, each with its index, so every pack's
/// name is known before its bytes are read and a pack can stream to the remote.
pub(crate) fn plan_packs(objects: &[Location], target: u64) -> Vec<(PackIndex, &[Location])> {
    let mut out = Vec::new();
    let mut start = 0;
    while start < objects.len() {
        let mut size = pack::PACK_HEADER_LEN;
        let mut entries = Vec::new();
        let mut end = start;
        while end < objects.len() && (end == start || size < target) {
            let mut e = objects[end].entry;
            e.offset = size;
            size += ENTRY_HEADER_LEN + e.stored_len as u64;
            entries.push(e);
            end += 1;
        }
        out.push((PackIndex::new(entries, size), &objects[start..end]));
        start = end;
    }
    out
}

pub fn fetch(
    store: &Store,
    remote: &Remote,
    targets: &[Target],
    progress: &dyn Progress,
) -> Result<TransferReport> {
    let mut fetch = Fetch::new(store, remote, targets)?;
    progress.start("Fetching", None, Unit::Bytes);
    let result = (|| -> Result<()> {
        let chunks = fetch.structure(progress)?;
        // A named path no version holds is refused once the trees that tell are in, before its files are
        // fetched, as checkout and pull refuse it (only then are the trees written apart from the files).
        if targets.iter().any(|t| t.scope.is_some()) {
            fetch.commit()?;
            super::datasets::check_named_held(targets, store)?;
        }
        fetch.contents(chunks, None, progress)
    })();
    progress.finish();
    fetch.finish(result)
}

/// What a fetch does with each file chunk it has verified, besides storing it: `dv pull` writes the work tree
/// from it (see `checkout::DirectWriter`). Called on any thread, in any order.
pub trait ChunkSink: Sync {
    fn chunk(&self, id: &ObjectId, raw: &[u8]);
}

/// One fetch, in steps: [`Fetch::structure`] brings the trees and manifests (and [`Fetch::commit`] makes them
/// readable from the cache), [`Fetch::contents`] the file chunks and tables, [`Fetch::finish`] stores the
/// rest. `dv pull` plans its checkout between the first two steps.
pub struct Fetch<'a> {
    store: &'a Store,
    remote: &'a Remote,
    targets: &'a [Target],
    on_remote: HashMap<ObjectId, RemoteLocation>,
    /// The other copies of objects held by several packs, tried in turn when a copy fails its check.
    other_copies: HashMap<ObjectId, Vec<RemoteLocation>>,
    report: TransferReport,
    writer: crate::store::PackWriter,
    /// Objects seen in this run (fetched, or found in the cache).
    done: HashSet<ObjectId>,
    started: i64,
}

/// A node to fetch, its repository path, and the target's scope.
pub type Pending<'t> = (Node, String, Option<&'t str>);

impl<'a> Fetch<'a> {
    pub fn new(store: &'a Store, remote: &'a Remote, targets: &'a [Target]) -> Result<Fetch<'a>> {
        let (locations, unreadable) = remote.locations()?;
        let mut on_remote = HashMap::with_capacity(locations.len());
        let mut other_copies = HashMap::new();
        for (id, mut copies) in locations {
            on_remote.insert(id, copies.remove(0));
            if !copies.is_empty() {
                other_copies.insert(id, copies);
            }
        }
        Ok(Fetch {
            on_remote,
            other_copies,
            report: TransferReport {
                remote: remote.name.clone(),
                datasets: targets.iter().map(|t| t.dataset.path.clone()).collect(),
                unreadable_indexes: unreadable_list(&unreadable),
                ..Default::default()
            },
            writer: store.pack_writer(),
            done: HashSet::new(),
            started: super::now_ns(),
            store,
            remote,
            targets,
        })
    }

    fn ms(&self) -> i64 {
        (super::now_ns() - self.started) / 1_000_000
    }

    /// Where on the remote `id` (needed by `path`) is, unless it is in the cache or already fetched.
    fn wanted(&mut self, id: &ObjectId, path: &str, what: &str) -> Result<Option<RemoteLocation>> {
        if !self.done.insert(*id) || self.store.contains(id)? {
            return Ok(None);
        }
        let loc = self.on_remote.get(id).ok_or_else(|| {
            let mut message = format!("{what} {id} needed by '{path}' is not on the remote");
            if let Some(bad) = self.report.unreadable_indexes.first() {
                message.push_str(&format!(
                    " (it may be in a pack whose index cannot be read: index/{}.idx: {}; \
                     `dv fsck --remote {} --repair` repairs it)",
                    bad.pack, bad.message, self.remote.name
                ));
            }
            Error::Remote {
                remote: self.remote.name.clone(),
                message,
                source: None,
            }
        })?;
        Ok(Some(*loc))
    }

    /// Fetches `want` into the new pack; `sink` sees the raw bytes of the kinds `keep` does not ask to return.
    fn get(
        &mut self,
        want: &[(RemoteLocation, &str)],
        keep: fn(ObjectKind) -> bool,
        sink: Option<&dyn ChunkSink>,
        progress: &dyn Progress,
    ) -> Result<HashMap<ObjectId, Vec<u8>>> {
        let mut raws = HashMap::new();
        let (report, writer) = (&mut self.report, &mut self.writer);
        let mut want: Vec<(RemoteLocation, &str)> = want.to_vec();
        // A copy that fails its check is read again from another pack holding the object, if there is one;
        // the error is the last copy's.
        while !want.is_empty() {
            let failed = for_each_object(self.remote, &want, keep, sink, |entry, stored, raw| {
                report.objects += 1;
                report.bytes += entry.stored_len as u64;
                progress.inc(entry.stored_len as u64);
                raws.extend(raw.map(|r| (entry.id, r)));
                writer.add(
                    entry.id,
                    entry.kind,
                    entry.compression,
                    entry.raw_len,
                    stored,
                )
            })?;
            let mut retry = Vec::new();
            for (loc, error) in failed {
                let path = want
                    .iter()
                    .find(|(l, _)| l.pack == loc.pack && l.entry.id == loc.entry.id)
                    .map_or("", |(_, p)| *p);
                match self.other_copies.get_mut(&loc.entry.id) {
                    Some(others) if !others.is_empty() => {
                        tracing::warn!("{error}; reading another copy");
                        retry.push((others.remove(0), path));
                    }
                    _ => return Err(error),
                }
            }
            want = retry;
        }
        Ok(raws)
    }

    /// Fetches the trees and manifests below the targets, level by level; returns the file chunks they name,
    /// which wait so that every chunk comes in one round, in pack order (read in two rounds, the ranges merged
    /// around the first round's gaps would read the second round's chunks too).
    pub fn structure(&mut self, progress: &dyn Progress) -> Result<Vec<Pending<'a>>> {
        let targets = self.targets;
        let mut level: Vec<Pending<'a>> = targets
            .iter()
            .map(|t| {
                (
                    t.dataset.pointer.node,
                    t.dataset.path.clone(),
                    t.scope.as_deref(),
                )
            })
            .collect();
        let mut chunks = Vec::new();
        while !level.is_empty() {
            tracing::debug!(ms = self.ms(), nodes = level.len(), "fetching a level");
            let mut want: Vec<(RemoteLocation, &str)> = Vec::new();
            for (n, path, _) in &level {
                if n.kind != NodeKind::File
                    && let Some(loc) = self.wanted(&n.id, path, "object")?
                {
                    want.push((loc, path));
                }
            }
            let walked = |k| matches!(k, ObjectKind::Tree | ObjectKind::Manifest);
            let fetched = self.get(&want, walked, None, progress)?;
            let mut next = Vec::new();
            for (n, path, scope) in level {
                match n.kind {
                    NodeKind::File => chunks.push((n, path, scope)),
                    NodeKind::Chunked => {
                        let m = match fetched.get(&n.id) {
                            Some(raw) => Manifest::decode(raw)?,
                            None => self.store.read_manifest(&n.id)?,
                        };
                        for (c, len) in m.chunks {
                            next.push((chunk_node(c, len), path.clone(), scope));
                        }
                    }
                    NodeKind::Tree => {
                        let t = match fetched.get(&n.id) {
                            Some(raw) => Tree::decode(raw)?,
                            None => self.store.read_tree(&n.id)?,
                        };
                        for e in t.entries {
                            let child = crate::paths::join(&path, &e.name);
                            // Only what lies inside the scope, or on the way to it.
                            if scope.is_none_or(|s| is_within(&child, s) || is_within(s, &child)) {
                                next.push((e.node, child, scope));
                            }
                        }
                    }
                }
            }
            level = next;
        }
        Ok(chunks)
    }

    /// Stores what has been fetched so far, so that the cache can read it.
    pub fn commit(&mut self) -> Result<()> {
        let packs = std::mem::replace(&mut self.writer, self.store.pack_writer()).finish()?;
        self.report.packs += packs.len() as u64;
        self.store.register_packs(&packs)
    }

    /// Fetches the file chunks `structure` returned, handing each to `sink` as well, then the tables.
    pub fn contents(
        &mut self,
        chunks: Vec<Pending<'a>>,
        sink: Option<&dyn ChunkSink>,
        progress: &dyn Progress,
    ) -> Result<()> {
        tracing::debug!(
            ms = self.ms(),
            nodes = chunks.len(),
            "fetching file contents"
        );
        let mut want: Vec<(RemoteLocation, &str)> = Vec::new();
        for (n, path, _) in &chunks {
            if let Some(loc) = self.wanted(&n.id, path, "object")? {
                want.push((loc, path));
            }
        }
        self.get(&want, |_| false, sink, progress)?;
        self.tables(progress)
    }

    /// Tables: the header, then the row tree level by level (leaves are fetched, never read).
    fn tables(&mut self, progress: &dyn Progress) -> Result<()> {
        let targets = self.targets;
        let mut tlevel: Vec<(ObjectId, &str, TableObject)> = targets
            .iter()
            .filter(|t| {
                t.scope
                    .as_deref()
                    .is_none_or(|s| is_within(&t.dataset.path, s))
            })
            .filter_map(|t| {
                let r = t.dataset.pointer.table.as_ref()?;
                Some((r.id, t.dataset.path.as_str(), TableObject::Header))
            })
            .collect();
        while !tlevel.is_empty() {
            let mut want: Vec<(RemoteLocation, &str)> = Vec::new();
            for (id, path, _) in &tlevel {
                if let Some(loc) = self.wanted(id, path, "table object")? {
                    want.push((loc, path));
                }
            }
            let mut raws = self.get(&want, |_| true, None, progress)?;
            let mut next = Vec::new();
            for (id, path, what) in &tlevel {
                if *what == TableObject::Leaf {
                    continue;
                }
                let raw = match raws.remove(id) {
                    Some(r) => r,
                    None => self.store.read(id)?,
                };
                let corrupt = |e: Error| Error::Corrupt {
                    id: *id,
                    message: e.to_string(),
                };
                match what {
                    TableObject::Header => {
                        let h = crate::table::Header::decode(&raw).map_err(corrupt)?;
                        if let Some(root) = h.root {
                            next.push((root, *path, TableObject::Node));
                        }
                    }
                    _ => {
                        if let crate::table::rowtree::Node::Inner { level, children } =
                            crate::table::rowtree::Node::decode(&raw).map_err(corrupt)?
                        {
                            let kind = if level == 1 {
                                TableObject::Leaf
                            } else {
                                TableObject::Node
                            };
                            next.extend(children.into_iter().map(|c| (c.1, *path, kind)));
                        }
                    }
                }
            }
            tlevel = next;
        }
        Ok(())
    }

    /// Stores what arrived, even if `result` is an error (a re-run then fetches only the rest), and returns the
    /// report, or the error.
    pub fn finish(mut self, result: Result<()>) -> Result<TransferReport> {
        tracing::debug!(ms = self.ms(), "objects fetched");
        self.commit()?;
        tracing::debug!(ms = self.ms(), "packs stored");
        result?;
        self.report.skipped = self.done.len() as u64 - self.report.objects;
        Ok(self.report)
    }
}

/// Objects up to this size are verified on any core as they arrive; larger ones one at a time.
const PARALLEL_DECODE_MAX: u32 = 16 << 20;

/// Reads objects from the remote with ranged reads per pack and hands each to `f` verified, as (index entry,
/// stored bytes, raw bytes if `keep` asks for that kind). Packs are read in the order `want` first names them,
/// each pack's objects by offset. Returns the copies that failed their check (damaged on the remote), with why.
fn for_each_object(
    remote: &Remote,
    want: &[(RemoteLocation, &str)],
    keep: fn(ObjectKind) -> bool,
    sink: Option<&dyn ChunkSink>,
    mut f: impl FnMut(&IndexEntry, &[u8], Option<Vec<u8>>) -> Result<()>,
) -> Result<Vec<(RemoteLocation, Error)>> {
    let mut failed = Vec::new();
    let mut packs: Vec<(ObjectId, Vec<IndexEntry>)> = Vec::new();
    let mut pack_at: HashMap<ObjectId, usize> = HashMap::new();
    for (l, _) in want {
        let at = *pack_at.entry(l.pack).or_insert_with(|| {
            packs.push((l.pack, Vec::new()));
            packs.len() - 1
        });
        packs[at].1.push(l.entry);
    }
    let ranges: Vec<(ObjectId, Vec<std::ops::Range<u64>>)> = packs
        .iter()
        .map(|(p, es)| (*p, es.iter().map(IndexEntry::range).collect()))
        .collect();
    let check = |pack: &ObjectId, e: &IndexEntry, bytes: &[u8]| {
        let bad = |message: String| Error::Remote {
            remote: remote.name.clone(),
            message: format!("object {} in pack {}: {message}", e.id, pack.to_hex()),
            source: None,
        };
        pack::check_entry_header(bytes, e).map_err(|err| bad(err.to_string()))?;
        let stored = &bytes[ENTRY_HEADER_LEN as usize..];
        if keep(e.kind) {
            return pack::decode_object(e, stored)
                .map(Some)
                .map_err(|err| bad(err.to_string()));
        }
        match sink {
            Some(sink) if e.kind == ObjectKind::Chunk => {
                pack::verify_object_then(e, stored, |raw| sink.chunk(&e.id, raw))
                    .map_err(|err| bad(err.to_string()))?
            }
            _ => pack::verify_object(e, stored).map_err(|err| bad(err.to_string()))?,
        }
        Ok(None)
    };
    // The remote reads the next requests while this thread verifies and stores what has come: the network
    // and the hashing overlap instead of taking turns.
    remote.read_ranges_each(&ranges, |got| {
        let items: Vec<(&ObjectId, &IndexEntry, bytes::Bytes)> = got
            .into_iter()
            .map(|((i, j), b)| (&packs[i].0, &packs[i].1[j], b))
            .collect();
        // Verifying (decompressing and hashing) is the costly part: spread it over the cores. Objects declaring
        // more than PARALLEL_DECODE_MAX are left to this thread, so a hostile index cannot make every core hold
        // a huge object at once.
        let checked = super::par_map(&items, |(pack, e, bytes)| {
            (e.raw_len <= PARALLEL_DECODE_MAX).then(|| check(pack, e, bytes))
        });
        for ((pack, e, bytes), raw) in items.iter().zip(checked) {
            let raw = match raw.unwrap_or_else(|| check(pack, e, bytes)) {
                Ok(raw) => raw,
                Err(err) => {
                    let loc = RemoteLocation {
                        pack: **pack,
                        entry: **e,
                    };
                    failed.push((loc, err));
                    continue;
                }
            };
            f(e, &bytes[ENTRY_HEADER_LEN as usize..], raw)?;
        }
        Ok(())
    })?;
    Ok(failed)
}
