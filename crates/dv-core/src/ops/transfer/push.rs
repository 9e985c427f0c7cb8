//! `dv push`: record the uses of what the remote already has, then upload the missing objects as new packs,
//! two at a time, each committed by its index in plan order.

use std::collections::HashSet;

use super::remote_state::{Known, missing_on_remote};
use super::{TransferReport, unreadable_list};
use crate::ops::datasets::Target;
use crate::progress::{Progress, Unit};
use crate::remote::{self, Remote};
use crate::session::Locked;
use crate::store::Location;
use crate::store::pack::{self, ENTRY_HEADER_LEN, PackIndex};
use crate::{ObjectId, Result};

/// How often a long push refreshes its use record (docs/format.md: a gc's grace period must be longer).
const USE_REFRESH: std::time::Duration = std::time::Duration::from_secs(600);

/// How many times a push records uses and lists the remote again before it records what it found last.
const USE_ROUNDS: usize = 3;

/// Pushes whole datasets (a path inside a dataset pushes all of it, so the remote's closure rule holds).
pub fn push(
    s: &Locked<'_>,
    remote: &Remote,
    targets: &[Target],
    progress: &dyn Progress,
) -> Result<TransferReport> {
    let store = s.store();
    crate::ops::datasets::check_named_held(targets, store)?;
    let started = crate::ops::now_ns();
    let ms = || (crate::ops::now_ns() - started) / 1_000_000;
    let (on_remote, mut unreadable) = remote.objects()?;
    tracing::debug!(ms = ms(), objects = on_remote.len(), "remote index listed");
    let mut known = Known::check(store, &remote.name, &on_remote)?;
    let mut walked = missing_on_remote(store, targets, &on_remote, &known)?;
    tracing::debug!(
        ms = ms(),
        missing = walked.upload.len(),
        read = walked.read,
        "walked"
    );
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
        known = Known::check(store, &remote.name, &fresh)?;
        walked = missing_on_remote(store, targets, &fresh, &known)?;
        tracing::debug!(
            ms = ms(),
            missing = walked.upload.len(),
            read = walked.read,
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
                    let entries = crate::ops::par_map(run, |loc| reader.read_verified_entry(loc));
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
    let pushed: Vec<ObjectId> = plan.iter().map(|(index, _)| index.pack_id).collect();
    known.learn(&walked.whole, &pushed)?;
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
