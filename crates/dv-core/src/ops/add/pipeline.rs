//! The hashing and storing pipeline of `dv add`: a reader thread cutting files into blocks of chunks, worker
//! threads hashing and compressing what the store lacks, one writer thread appending it to packs, and the
//! main thread's sink for manifests and trees.

use std::collections::{BTreeMap, HashSet};
use std::fs::File;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use crossbeam_channel::{Receiver, Sender, bounded};

use crate::chunk::{Block, Chunker};
use crate::error::IoContext;
use crate::ops::worker_count;
use crate::progress::Progress;
use crate::store::object::NodeSink;
use crate::store::object::{NodeKind, ObjectKind, Tree};
use crate::store::pack::{Compression, PackIndex};
use crate::store::split::Layout;
use crate::store::statedb::HashedIn;
use crate::store::statedb::{Stat, StateDb};
use crate::store::writer::compress;
use crate::store::{PackWriter, file_node};
use crate::{Error, ObjectId, Result};

/// An object on its way to the pack writer.
pub(super) struct NewObject {
    id: ObjectId,
    kind: ObjectKind,
    compression: Compression,
    raw_len: u32,
    data: Vec<u8>,
}

pub(super) fn write_objects(
    mut pw: PackWriter,
    rx: Receiver<NewObject>,
) -> Result<(Vec<PackIndex>, u64, u64)> {
    for o in rx {
        pw.add(o.id, o.kind, o.compression, o.raw_len, &o.data)?;
    }
    let (objects, bytes) = (pw.objects, pw.stored_bytes);
    Ok((pw.finish()?, objects, bytes))
}

/// A block of one file, for the workers.
struct Job {
    file: usize,
    seq: u32,
    last: bool,
    block: Block,
}

struct Done {
    file: usize,
    seq: u32,
    last: bool,
    chunks: Vec<(ObjectId, u32)>,
}

/// Chunks, hashes and stores `files`; returns each file's node kind and id, in order.
pub(super) fn hash_and_store(
    files: &[(PathBuf, Stat)],
    db: &std::path::Path,
    level: i32,
    layout: Layout,
    sink: &mut ObjectSink<'_>,
    progress: &dyn Progress,
) -> Result<Vec<(NodeKind, ObjectId, HashedIn)>> {
    let write_tx = sink.tx;
    let workers = worker_count();
    let (job_tx, job_rx) = bounded::<Job>(workers * 2);
    let (done_tx, done_rx) = bounded::<Result<Done>>(workers * 4);
    let inflight: Mutex<HashSet<ObjectId>> = Mutex::new(HashSet::new());
    let failed = std::sync::atomic::AtomicBool::new(false);

    std::thread::scope(|s| {
        // Reader: blocks of every file, in order.
        let reader = s.spawn(|| {
            let r = read_files(files, &job_tx, &failed);
            drop(job_tx);
            r
        });
        for _ in 0..workers {
            let job_rx = job_rx.clone();
            let done_tx = done_tx.clone();
            let write_tx = write_tx.clone();
            let (inflight, failed) = (&inflight, &failed);
            s.spawn(move || {
                let meta = match StateDb::open_readonly(db) {
                    Ok(m) => m,
                    Err(e) => {
                        failed.store(true, std::sync::atomic::Ordering::Relaxed);
                        let _ = done_tx.send(Err(e));
                        return;
                    }
                };
                let mut compressor = match compressor(level) {
                    Ok(c) => c,
                    Err(e) => {
                        let _ = done_tx.send(Err(e));
                        return;
                    }
                };
                for job in job_rx {
                    let r = process_block(
                        &job,
                        &meta,
                        compressor.as_mut(),
                        inflight,
                        &write_tx,
                        progress,
                    );
                    let failed_now = r.is_err();
                    if done_tx.send(r).is_err() || failed_now {
                        failed.store(true, std::sync::atomic::Ordering::Relaxed);
                        break;
                    }
                }
            });
        }
        drop(job_rx);
        drop(done_tx);

        // Collect chunk lists per file.
        let mut parts: Vec<BTreeMap<u32, Vec<(ObjectId, u32)>>> =
            vec![BTreeMap::new(); files.len()];
        let mut last_seq: Vec<Option<u32>> = vec![None; files.len()];
        let mut out: Vec<Option<(NodeKind, ObjectId, HashedIn)>> = vec![None; files.len()];
        let mut first_err = None;
        for done in done_rx {
            let done = match done {
                Ok(d) => d,
                Err(e) => {
                    failed.store(true, std::sync::atomic::Ordering::Relaxed);
                    first_err.get_or_insert(e);
                    continue;
                }
            };
            parts[done.file].insert(done.seq, done.chunks);
            if done.last {
                last_seq[done.file] = Some(done.seq);
            }
            if let Some(last) = last_seq[done.file]
                && parts[done.file].len() == last as usize + 1
            {
                let chunks: Vec<(ObjectId, u32)> = std::mem::take(&mut parts[done.file])
                    .into_values()
                    .flatten()
                    .collect();
                match file_node(&chunks, layout, sink) {
                    Ok(node) => out[done.file] = Some(node),
                    Err(e) => {
                        failed.store(true, std::sync::atomic::Ordering::Relaxed);
                        first_err.get_or_insert(e);
                    }
                }
            }
        }
        let read_result = reader
            .join()
            .map_err(|_| Error::Internal("reader thread panicked".into()))?;
        if let Some(e) = first_err {
            return Err(e);
        }
        read_result?;
        out.into_iter()
            .map(|o| o.ok_or_else(|| Error::Internal("a file was not fully hashed".into())))
            .collect()
    })
}

fn read_files(
    files: &[(PathBuf, Stat)],
    job_tx: &Sender<Job>,
    failed: &std::sync::atomic::AtomicBool,
) -> Result<()> {
    for (i, (path, walked)) in files.iter().enumerate() {
        if failed.load(std::sync::atomic::Ordering::Relaxed) {
            return Ok(());
        }
        let file = File::open(path).at(path)?;
        let mut chunker = Chunker::new(&file).size_hint(walked.size);
        let mut seq = 0u32;
        let mut read = 0u64;
        let mut pending = chunker.next_block().at(path)?;
        if pending.is_none() {
            // An empty file: one empty chunk.
            pending = Some(Block {
                data: Arc::new(Vec::new()),
                chunks: std::iter::once(0..0).collect(),
                offset: 0,
            });
        }
        while let Some(block) = pending {
            let next = chunker.next_block().at(path)?;
            read += block.data.len() as u64;
            if next.is_none() {
                // The pointer records the walk's size and the id of the bytes read: both must describe one
                // content, so a file written to while it was read is refused before its last block is used.
                check_unchanged(path, walked, read, &file)?;
            }
            let job = Job {
                file: i,
                seq,
                last: next.is_none(),
                block,
            };
            if job_tx.send(job).is_err() {
                return Ok(()); // workers stopped on an error; they report it
            }
            seq += 1;
            pending = next;
        }
    }
    Ok(())
}

/// Refuses a file whose bytes read, or whose `stat` after reading, differ from what the walk saw.
fn check_unchanged(path: &std::path::Path, walked: &Stat, read: u64, file: &File) -> Result<()> {
    crate::fault::hold("add-read-done");
    let now = Stat::of(&file.metadata().at(path)?);
    let same = read == walked.size
        && now.size == walked.size
        && now.mtime_ns == walked.mtime_ns
        && now.ctime_ns == walked.ctime_ns
        && now.ino == walked.ino;
    if same {
        Ok(())
    } else {
        Err(Error::ChangedWhileReading {
            path: path.to_path_buf(),
        })
    }
}

fn process_block(
    job: &Job,
    meta: &StateDb,
    mut compressor: Option<&mut zstd::bulk::Compressor<'static>>,
    inflight: &Mutex<HashSet<ObjectId>>,
    write_tx: &Sender<NewObject>,
    progress: &dyn Progress,
) -> Result<Done> {
    let mut chunks = Vec::with_capacity(job.block.chunks.len());
    for r in &job.block.chunks {
        let raw = &job.block.data[r.clone()];
        let id = ObjectId::of(raw);
        chunks.push((id, raw.len() as u32));
        if !inflight.lock().expect("inflight set poisoned").insert(id) || meta.contains(&id)? {
            continue; // stored already, or being stored by another worker: never compressed twice
        }
        let (compression, data) = compress(compressor.as_deref_mut(), raw);
        let obj = NewObject {
            id,
            kind: ObjectKind::Chunk,
            compression,
            raw_len: raw.len() as u32,
            data,
        };
        if write_tx.send(obj).is_err() {
            return Err(writer_stopped());
        }
    }
    progress.inc(job.block.data.len() as u64);
    Ok(Done {
        file: job.file,
        seq: job.seq,
        last: job.last,
        chunks,
    })
}

pub(super) fn compressor(level: i32) -> Result<Option<zstd::bulk::Compressor<'static>>> {
    (level != 0)
        .then(|| zstd::bulk::Compressor::new(level))
        .transpose()
        .map_err(|e| Error::Internal(format!("zstd level {level}: {e}")))
}

fn send_object(
    compressor: Option<&mut zstd::bulk::Compressor<'static>>,
    id: ObjectId,
    kind: ObjectKind,
    raw: &[u8],
    tx: &Sender<NewObject>,
) -> Result<()> {
    if raw.len() as u64 > crate::store::object::MAX_OBJECT_SIZE {
        return Err(Error::Internal(format!(
            "object {id} is larger than the format allows"
        )));
    }
    let (compression, data) = compress(compressor, raw);
    tx.send(NewObject {
        id,
        kind,
        compression,
        raw_len: raw.len() as u32,
        data,
    })
    .map_err(|_| writer_stopped())
}

fn writer_stopped() -> Error {
    Error::Internal("pack writer stopped".into())
}

pub(super) fn is_writer_stopped(e: &Error) -> bool {
    matches!(e, Error::Internal(m) if m == "pack writer stopped")
}

/// Stores manifests and trees the cache does not have yet, from the main thread.
pub(super) struct ObjectSink<'a> {
    pub(super) meta: &'a StateDb,
    pub(super) tx: &'a Sender<NewObject>,
    pub(super) seen: HashSet<ObjectId>,
    pub(super) compressor: Option<zstd::bulk::Compressor<'static>>,
}

impl ObjectSink<'_> {
    fn store(&mut self, id: ObjectId, kind: ObjectKind, bytes: &[u8]) -> Result<()> {
        if self.seen.insert(id) && !self.meta.contains(&id)? {
            send_object(self.compressor.as_mut(), id, kind, bytes, self.tx)?;
        }
        Ok(())
    }

    /// Stores a folder's tree in `layout` (split into nodes when large and the layout says so).
    pub(super) fn store_tree(&mut self, tree: &Tree, layout: Layout) -> Result<ObjectId> {
        crate::store::split::put_tree(&tree.entries, layout, self)
    }
}

impl NodeSink for ObjectSink<'_> {
    fn put(&mut self, id: ObjectId, kind: ObjectKind, bytes: Vec<u8>) -> Result<()> {
        self.store(id, kind, &bytes)
    }
}
