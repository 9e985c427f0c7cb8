//! Ranged reads of packs: nearby ranges merged into one request, requests run concurrently within a memory
//! budget, and the bytes handed over in the order asked.

use std::ops::Range;
use std::sync::Arc;

use bytes::Bytes;
use futures::StreamExt;
use object_store::ObjectStoreExt;
use tokio_util::task::AbortOnDropHandle;

use super::{CONCURRENCY, Remote, pack_path};
use crate::{Error, ObjectId, Result};

impl Remote {
    /// Reads byte ranges of packs; returns the bytes in the order asked.
    pub fn read_ranges(&self, wanted: &[(ObjectId, Vec<Range<u64>>)]) -> Result<Vec<Vec<Bytes>>> {
        let mut out: Vec<Vec<Bytes>> = wanted
            .iter()
            .map(|(_, r)| vec![Bytes::new(); r.len()])
            .collect();
        self.read_ranges_each(wanted, |got| {
            for ((i, j), bytes) in got {
                out[i][j] = bytes;
            }
            Ok(())
        })?;
        Ok(out)
    }

    /// Reads byte ranges of packs and hands them to `f` one request at a time, in the order of `wanted` (packs
    /// in the order given, ranges by offset), as `((index in wanted, index in its ranges), bytes)`.
    ///
    /// Ranges close together in one pack are merged into one request of up to `READ_REQUEST_MAX` bytes.
    /// `CONCURRENCY` requests run at once on the I/O runtime while `f` works on earlier ones on this thread, so
    /// the network never waits for the slowest request of a batch. Each request takes its size from a budget of
    /// `READ_BUDGET_MIB` MiB before it starts and gives it back once `f` is done with it, so no more than that
    /// is held at once however large the objects (a request larger than the whole budget waits for all of it).
    /// The first error (from the remote or from `f`) stops the reading and is returned.
    pub fn read_ranges_each(
        &self,
        wanted: &[(ObjectId, Vec<Range<u64>>)],
        f: impl FnMut(Vec<((usize, usize), Bytes)>) -> Result<()>,
    ) -> Result<()> {
        self.read_ranges_within(wanted, READ_BUDGET_MIB, f)
    }

    fn read_ranges_within(
        &self,
        wanted: &[(ObjectId, Vec<Range<u64>>)],
        budget_mib: u64,
        mut f: impl FnMut(Vec<((usize, usize), Bytes)>) -> Result<()>,
    ) -> Result<()> {
        type Read = Result<(Bytes, tokio::sync::OwnedSemaphorePermit)>;
        let requests = merge_ranges(wanted);
        let budget = Arc::new(tokio::sync::Semaphore::new(budget_mib as usize));
        std::thread::scope(|s| {
            // However this side stops (done, an error, a panic), close the budget: reads already handed over
            // but not taken keep their share of it, so a request waiting for budget would wait forever.
            let _close = CloseOnDrop(budget.clone());
            let (tx, rx) = crossbeam_channel::bounded::<Read>(CONCURRENCY);
            let requests = &requests;
            s.spawn(move || {
                self.rt.block_on(async {
                    let mut stream = std::pin::pin!(
                        futures::stream::iter(requests.iter())
                            // In order, one at a time: a request waiting for budget holds up the later ones.
                            .then(|(pack, range, _)| {
                                let budget = budget.clone();
                                async move {
                                    let mib = (range.end - range.start)
                                        .div_ceil(1 << 20)
                                        .clamp(1, budget_mib);
                                    // Closed: the reader's user has stopped.
                                    let permit =
                                        budget.acquire_many_owned(mib as u32).await.ok()?;
                                    let store = self.store.clone();
                                    let (path, range) = (pack_path(pack), range.clone());
                                    // A task of its own, so the response is read while this thread waits to
                                    // hand over an earlier one; aborted if the reading stops.
                                    let task = AbortOnDropHandle::new(tokio::spawn(async move {
                                        store.get_range(&path, range).await
                                    }));
                                    Some((task, permit))
                                }
                            })
                            .map(|started| async move {
                                let Some((task, permit)) = started else {
                                    return Err(Error::Internal("the reading stopped".into()));
                                };
                                match task.await {
                                    Ok(got) => got.map(|b| (b, permit)).map_err(|e| self.err(e)),
                                    Err(e) => Err(self.explained(
                                        format!("a read stopped: {e}"),
                                        Some(Box::new(e)),
                                    )),
                                }
                            })
                            .buffered(CONCURRENCY)
                    );
                    while let Some(got) = stream.next().await {
                        let failed = got.is_err();
                        // A closed channel means the reader's user stopped: stop too.
                        if tx.send(got).is_err() || failed {
                            break;
                        }
                    }
                })
            });
            for (pack, merged, members) in requests {
                let (bytes, _permit) = rx
                    .recv()
                    .map_err(|_| Error::Internal("the remote reader stopped".into()))??;
                if bytes.len() as u64 != merged.end - merged.start {
                    return Err(self.explained(
                        format!(
                            "pack {}: asked for {} bytes at {}, got {} (is the pack truncated?)",
                            pack.to_hex(),
                            merged.end - merged.start,
                            merged.start,
                            bytes.len()
                        ),
                        None,
                    ));
                }
                let got = members
                    .iter()
                    .map(|&(i, j)| {
                        let r = &wanted[i].1[j];
                        let at = (r.start - merged.start) as usize..(r.end - merged.start) as usize;
                        ((i, j), bytes.slice(at))
                    })
                    .collect();
                f(got)?;
            }
            Ok(())
        })
    }
}

/// Closes a semaphore when dropped.
struct CloseOnDrop(Arc<tokio::sync::Semaphore>);

impl Drop for CloseOnDrop {
    fn drop(&mut self) {
        self.0.close();
    }
}

/// Merges the ranges of `wanted` into requests: ranges of one pack separated by at most `READ_GAP_MAX` bytes
/// share a request of at most `READ_REQUEST_MAX` bytes.
fn merge_ranges(wanted: &[(ObjectId, Vec<Range<u64>>)]) -> Vec<RangeRequest> {
    let mut requests: Vec<RangeRequest> = Vec::new();
    for (i, (pack, ranges)) in wanted.iter().enumerate() {
        let mut order: Vec<usize> = (0..ranges.len()).collect();
        order.sort_by_key(|&j| ranges[j].start);
        for j in order {
            let r = &ranges[j];
            match requests.last_mut() {
                Some((p, m, members))
                    if p == pack
                        && r.start >= m.start
                        && r.start <= m.end + READ_GAP_MAX
                        && r.end.max(m.end) - m.start <= READ_REQUEST_MAX =>
                {
                    m.end = m.end.max(r.end);
                    members.push((i, j));
                }
                _ => requests.push((*pack, r.clone(), vec![(i, j)])),
            }
        }
    }
    requests
}

/// One ranged read: (pack, merged range, [(index in `wanted`, index in its ranges)]).
type RangeRequest = (ObjectId, Range<u64>, Vec<(usize, usize)>);

/// Ranged reads merge ranges separated by at most this many bytes...
const READ_GAP_MAX: u64 = 1024 * 1024;
/// ...into requests of at most this size, so a large read is spread over concurrent requests.
const READ_REQUEST_MAX: u64 = 8 * 1024 * 1024;
/// How many MiB of ranged reads may be in flight or waiting to be used at once.
const READ_BUDGET_MIB: u64 = 96;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::remote::SINGLE_PUT_MAX;
    use crate::remote::explain::Explain;
    use std::path::Path;

    /// A remote over a folder, without a repository.
    fn folder_remote(dir: &Path) -> Remote {
        Remote {
            name: "test".into(),
            url: dir.display().to_string(),
            store: Arc::new(object_store::local::LocalFileSystem::new_with_prefix(dir).unwrap()),
            rt: tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .unwrap(),
            index_cache: dir.join("index-cache"),
            explain: Explain::default(),
            created_folder: None,
            endpoint: None,
            single_put_max: SINGLE_PUT_MAX,
        }
    }

    /// Runs `f` on a thread of its own and fails if it has not finished within a minute (a hang, not a pass).
    fn within_a_minute(f: impl FnOnce() + Send + 'static) {
        let (tx, rx) = std::sync::mpsc::channel();
        let handle = std::thread::spawn(move || {
            f();
            let _ = tx.send(());
        });
        match rx.recv_timeout(std::time::Duration::from_secs(60)) {
            Ok(()) => {}
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {
                panic!("still running after a minute")
            }
            Err(_) => std::panic::resume_unwind(handle.join().unwrap_err()),
        }
    }

    #[test]
    fn ranged_reads_come_in_order_within_a_budget_smaller_than_a_request() {
        within_a_minute(ranged_reads_in_order);
    }

    fn ranged_reads_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let remote = folder_remote(dir.path());
        let mib = 1u64 << 20;
        let packs: Vec<(ObjectId, Vec<u8>)> = (0..3u8)
            .map(|p| {
                let data: Vec<u8> = (0..20 * mib).map(|i| (i * 7 + p as u64) as u8).collect();
                let id = ObjectId::of(&data);
                let path = dir.path().join(pack_path(&id).as_ref());
                std::fs::create_dir_all(path.parent().unwrap()).unwrap();
                std::fs::write(path, &data).unwrap();
                (id, data)
            })
            .collect();
        // Packs out of id order; ranges out of offset order, some far apart, one longer than a request.
        let wanted: Vec<(ObjectId, Vec<Range<u64>>)> = vec![
            (packs[2].0, vec![5 * mib..6 * mib, 0..100, 200..300]),
            (packs[0].0, vec![0..17 * mib + 5, 18 * mib..19 * mib]),
            (packs[1].0, vec![19 * mib..20 * mib, 9 * mib..9 * mib + 1]),
        ];
        let pack_data = |id: &ObjectId| &packs.iter().find(|p| p.0 == *id).unwrap().1;
        for budget in [1, 96] {
            let mut seen = Vec::new();
            remote
                .read_ranges_within(&wanted, budget, |got| {
                    for ((i, j), bytes) in got {
                        let r = &wanted[i].1[j];
                        let want = &pack_data(&wanted[i].0)[r.start as usize..r.end as usize];
                        assert!(
                            bytes == want,
                            "pack {i} range {j} differs (budget {budget})"
                        );
                        seen.push((i, r.start));
                    }
                    Ok(())
                })
                .unwrap();
            // Packs in the order asked, each pack's ranges by offset.
            let mut expected: Vec<(usize, u64)> = wanted
                .iter()
                .enumerate()
                .flat_map(|(i, (_, rs))| rs.iter().map(move |r| (i, r.start)))
                .collect();
            expected.sort();
            assert_eq!(seen, expected, "budget {budget}");
        }
        // An error from the reader's user stops the reading and comes back.
        let mut calls = 0;
        let err = remote
            .read_ranges_within(&wanted, 1, |_| {
                calls += 1;
                Err(Error::Internal("stop here".into()))
            })
            .unwrap_err();
        assert_eq!(calls, 1);
        assert!(err.to_string().contains("stop here"), "{err}");
    }
}
