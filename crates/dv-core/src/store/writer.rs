//! Appends objects to new pack files and seals them: pack first, then its index (the commit point).
//!
//! Disk time is kept off the critical path: a background thread asks the kernel to write each pack out as it
//! grows, and seals full packs (sync, rename, index) while the writer goes on with the next one. `finish` waits
//! for all of it, so when it returns every pack is durable and indexed.

use std::fs;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::thread::JoinHandle;

use crossbeam_channel::{Sender, unbounded};

use super::Store;
use super::object::ObjectKind;
use super::pack::{self, Compression, ENTRY_HEADER_LEN, IndexEntry, PackIndex};
use crate::error::IoContext;
use crate::fsutil::{TempFile, sync_dir};
use crate::{Error, ObjectId, Result};

/// Packs are sealed once they reach this size, by default ([`crate::Settings::pack_size`]).
pub const PACK_TARGET_SIZE: u64 = 64 * 1024 * 1024;

/// Hand written bytes to the kernel for writeback every this many bytes.
const WRITEBACK_STEP: u64 = 8 * 1024 * 1024;

struct OpenPack {
    tmp: TempFile,
    file: Arc<fs::File>,
    out: BufWriter<FileRef>,
    entries: Vec<IndexEntry>,
    offset: u64,
    /// Bytes before this offset have been handed to the syncer.
    flushed_to: u64,
}

/// Writes through a shared file handle (the syncer holds another reference).
struct FileRef(Arc<fs::File>);

impl Write for FileRef {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        (&*self.0).write(buf)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

enum SyncJob {
    Writeback {
        file: Arc<fs::File>,
        offset: u64,
        len: u64,
    },
    Seal {
        tmp: TempFile,
        file: Arc<fs::File>,
        entries: Vec<IndexEntry>,
        size: u64,
    },
}

/// The background thread that writes packs out and seals them, and the channel to it.
type Syncer = (Sender<SyncJob>, JoinHandle<Result<Vec<PackIndex>>>);

pub struct PackWriter {
    dir: PathBuf,
    target_size: u64,
    current: Option<OpenPack>,
    syncer: Option<Syncer>,
    /// Objects and stored bytes written so far.
    pub objects: u64,
    pub stored_bytes: u64,
}

impl PackWriter {
    pub fn new(dir: &Path) -> PackWriter {
        PackWriter {
            dir: dir.to_path_buf(),
            target_size: PACK_TARGET_SIZE,
            current: None,
            syncer: None,
            objects: 0,
            stored_bytes: 0,
        }
    }

    pub fn with_target_size(mut self, size: u64) -> PackWriter {
        self.target_size = size;
        self
    }

    fn send(&mut self, job: SyncJob) -> Result<()> {
        if self.syncer.is_none() {
            let (tx, rx) = unbounded::<SyncJob>();
            let dir = self.dir.clone();
            let handle = std::thread::Builder::new()
                .name("dv-pack-sync".into())
                .spawn(move || {
                    let mut sealed = Vec::new();
                    for job in rx {
                        match job {
                            SyncJob::Writeback { file, offset, len } => {
                                start_writeback(&file, offset, len)
                            }
                            SyncJob::Seal {
                                tmp,
                                file,
                                entries,
                                size,
                            } => sealed.push(seal(&dir, tmp, &file, entries, size)?),
                        }
                    }
                    Ok(sealed)
                })
                .map_err(|e| Error::Internal(format!("cannot start pack sync thread: {e}")))?;
            self.syncer = Some((tx, handle));
        }
        let (tx, _) = self.syncer.as_ref().expect("started above");
        if tx.send(job).is_err() {
            // The syncer stopped on an error; `finish` reports it.
            return Err(self
                .stop_syncer()
                .err()
                .unwrap_or_else(|| Error::Internal("pack sync thread stopped".into())));
        }
        Ok(())
    }

    fn stop_syncer(&mut self) -> Result<Vec<PackIndex>> {
        match self.syncer.take() {
            None => Ok(Vec::new()),
            Some((tx, handle)) => {
                drop(tx);
                handle
                    .join()
                    .map_err(|_| Error::Internal("pack sync thread panicked".into()))?
            }
        }
    }

    /// Appends one object. `stored` is `raw` compressed as `compression` says; the caller has hashed `raw`.
    pub fn add(
        &mut self,
        id: ObjectId,
        kind: ObjectKind,
        compression: Compression,
        raw_len: u32,
        stored: &[u8],
    ) -> Result<()> {
        if self.current.is_none() {
            let mut tmp = TempFile::beside(&self.dir.join("tmp").join("pack"), 0o644)?;
            let file = Arc::new(tmp.file().try_clone().at(tmp.path().to_path_buf())?);
            let mut out = BufWriter::with_capacity(1 << 20, FileRef(file.clone()));
            out.write_all(&pack::pack_header())
                .at(tmp.path().to_path_buf())?;
            self.current = Some(OpenPack {
                tmp,
                file,
                out,
                entries: Vec::new(),
                offset: pack::PACK_HEADER_LEN,
                flushed_to: 0,
            });
        }
        let p = self.current.as_mut().expect("opened above");
        let entry = IndexEntry {
            id,
            offset: p.offset,
            kind,
            compression,
            raw_len,
            stored_len: stored.len() as u32,
        };
        p.out
            .write_all(&pack::entry_header(&entry))
            .and_then(|_| p.out.write_all(stored))
            .at(p.tmp.path().to_path_buf())?;
        p.offset += ENTRY_HEADER_LEN + stored.len() as u64;
        p.entries.push(entry);
        self.objects += 1;
        self.stored_bytes += stored.len() as u64;
        if p.offset >= self.target_size {
            self.close_pack()?;
        } else if p.offset - p.flushed_to >= WRITEBACK_STEP {
            p.out.flush().at(p.tmp.path().to_path_buf())?;
            let job = SyncJob::Writeback {
                file: p.file.clone(),
                offset: p.flushed_to,
                len: p.offset - p.flushed_to,
            };
            p.flushed_to = p.offset;
            self.send(job)?;
        }
        Ok(())
    }

    /// Appends a copy of an object as another pack stores it: `entry_bytes` is its entry (header and stored
    /// bytes, as `PackReader::read_verified_entry` returns it), kept as it is, without recompressing.
    pub fn add_copy(&mut self, e: &IndexEntry, entry_bytes: &[u8]) -> Result<()> {
        self.add(
            e.id,
            e.kind,
            e.compression,
            e.raw_len,
            &entry_bytes[ENTRY_HEADER_LEN as usize..],
        )
    }

    /// Hands the open pack to the syncer to be sealed.
    fn close_pack(&mut self) -> Result<()> {
        let Some(p) = self.current.take() else {
            return Ok(());
        };
        let OpenPack {
            tmp,
            file,
            mut out,
            entries,
            offset,
            ..
        } = p;
        out.flush().at(tmp.path().to_path_buf())?;
        drop(out);
        self.send(SyncJob::Seal {
            tmp,
            file,
            entries,
            size: offset,
        })
    }

    /// Seals the last pack, waits until every pack is durable and indexed, and returns their indexes.
    pub fn finish(mut self) -> Result<Vec<PackIndex>> {
        let closed = self.close_pack();
        let sealed = self.stop_syncer();
        closed?;
        sealed
    }
}

/// Makes a pack durable and visible: sync it, move it into place, then write its index.
fn seal(
    dir: &Path,
    tmp: TempFile,
    file: &fs::File,
    entries: Vec<IndexEntry>,
    size: u64,
) -> Result<PackIndex> {
    file.sync_all().at(tmp.path().to_path_buf())?;
    let index = PackIndex::new(entries, size);
    let pack_path = Store::pack_path(dir, &index.pack_id);
    let pack_dir = pack_path.parent().expect("packs/xx");
    fs::create_dir_all(pack_dir).at(pack_dir)?;
    tmp.persist(&pack_path, false)?; // synced above
    sync_dir(pack_dir)?;
    crate::fault::point("pack-written-before-index");
    let index_path = Store::index_path(dir, &index.pack_id);
    crate::fsutil::write_atomic_in_cache(&index_path, &index.encode())?;
    sync_dir(index_path.parent().expect("index/"))?;
    crate::fault::point("pack-indexed");
    Ok(index)
}

/// Asks the kernel to start writing a range of a file to disk, so sealing finds most of it already written.
/// `POSIX_FADV_DONTNEED` starts the write-back of the range's dirty pages without waiting, as
/// `sync_file_range(SYNC_FILE_RANGE_WRITE)` would (which has no safe wrapper); pages still being written stay
/// cached. A length of 0 means "to the end", for both. Failure only loses the optimisation.
#[cfg(target_os = "linux")]
fn start_writeback(file: &fs::File, offset: u64, len: u64) {
    let _ = rustix::fs::fadvise(
        file,
        offset,
        std::num::NonZeroU64::new(len),
        rustix::fs::Advice::DontNeed,
    );
}

#[cfg(not(target_os = "linux"))]
fn start_writeback(_file: &fs::File, _offset: u64, _len: u64) {}

/// A [`NodeSink`](super::object::NodeSink) into the cache: each object once (those the cache holds are
/// skipped), compressed at the repository's level, counted. A counting-only sink (`dv migrate --dry-run`)
/// compresses to count what would be added, and writes nothing.
pub struct StoreSink<'a> {
    store: &'a Store,
    writer: Option<PackWriter>,
    compressor: Option<zstd::bulk::Compressor<'static>>,
    seen: std::collections::HashSet<ObjectId>,
    pub new_objects: u64,
    /// Bytes the new objects take in packs (after dedup and compression).
    pub new_bytes: u64,
}

impl<'a> StoreSink<'a> {
    /// A sink writing into `store`'s packs at zstd level `level` (0: no compression).
    pub fn new(store: &'a Store, level: i32) -> Result<StoreSink<'a>> {
        Self::with_writer(store, level, true)
    }

    /// A sink that only counts what [`StoreSink::new`]'s would add.
    pub fn counting_only(store: &'a Store, level: i32) -> Result<StoreSink<'a>> {
        Self::with_writer(store, level, false)
    }

    fn with_writer(store: &'a Store, level: i32, write: bool) -> Result<StoreSink<'a>> {
        let compressor = if level == 0 {
            None
        } else {
            Some(
                zstd::bulk::Compressor::new(level)
                    .map_err(|e| Error::Internal(format!("zstd: {e}")))?,
            )
        };
        Ok(StoreSink {
            store,
            writer: write.then(|| store.pack_writer()),
            compressor,
            seen: Default::default(),
            new_objects: 0,
            new_bytes: 0,
        })
    }

    /// The store it writes into.
    pub fn store(&self) -> &'a Store {
        self.store
    }

    /// Seals the packs and records them.
    pub fn finish(self) -> Result<()> {
        match self.writer {
            Some(w) => self.store.register_packs(&w.finish()?),
            None => Ok(()),
        }
    }
}

impl super::object::NodeSink for StoreSink<'_> {
    fn put(&mut self, id: ObjectId, kind: ObjectKind, bytes: Vec<u8>) -> Result<()> {
        if !self.seen.insert(id) || self.store.contains(&id)? {
            return Ok(());
        }
        let raw_len =
            u32::try_from(bytes.len()).map_err(|_| Error::Internal("object too large".into()))?;
        let (compression, stored) = compress(self.compressor.as_mut(), &bytes);
        self.new_objects += 1;
        self.new_bytes += stored.len() as u64;
        match &mut self.writer {
            Some(w) => w.add(id, kind, compression, raw_len, &stored),
            None => Ok(()),
        }
    }
}

/// Compresses `raw` with zstd when that saves at least 1/32 of it; no compressor stores raw.
pub fn compress(
    compressor: Option<&mut zstd::bulk::Compressor<'_>>,
    raw: &[u8],
) -> (Compression, Vec<u8>) {
    if let Some(c) = compressor
        && raw.len() >= 64
    {
        let mut out = Vec::with_capacity(raw.len());
        // A full buffer means the result would not be smaller: store raw.
        if c.compress_to_buffer(raw, &mut out).is_ok() && out.len() + raw.len() / 32 < raw.len() {
            return (Compression::Zstd, out);
        }
    }
    (Compression::None, raw.to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_target_rolls_packs_and_every_object_reads_back() {
        let dir = tempfile::tempdir().unwrap();
        for sub in ["packs", "index", "tmp"] {
            fs::create_dir_all(dir.path().join(sub)).unwrap();
        }
        let mut w = PackWriter::new(dir.path()).with_target_size(10_000);
        let mut ids = Vec::new();
        for i in 0..50u32 {
            let raw = vec![i as u8; 1000 + i as usize];
            let id = ObjectId::of(&raw);
            w.add(
                id,
                ObjectKind::Chunk,
                Compression::None,
                raw.len() as u32,
                &raw,
            )
            .unwrap();
            ids.push((id, raw));
        }
        let packs = w.finish().unwrap();
        assert!(packs.len() >= 5, "{} packs", packs.len());
        let reader = super::super::PackReader::new(dir.path());
        for (id, raw) in ids {
            let (pack, entry) = packs
                .iter()
                .find_map(|p| {
                    p.entries
                        .iter()
                        .find(|e| e.id == id)
                        .map(|e| (p.pack_id, *e))
                })
                .expect("indexed");
            let got = reader
                .read(&super::super::Location { pack, entry })
                .unwrap();
            assert_eq!(got, raw);
        }
        assert_eq!(
            fs::read_dir(dir.path().join("tmp")).unwrap().count(),
            0,
            "no temp files left"
        );
    }

    #[test]
    fn a_store_seals_packs_at_the_size_its_settings_give() {
        let dir = tempfile::tempdir().unwrap();
        let settings = crate::Settings {
            pack_size: 10_000,
            ..crate::Settings::default()
        };
        let store = Store::open(dir.path(), &dir.path().join("state.db"), &settings).unwrap();
        assert_eq!(store.pack_size(), 10_000);
        let mut w = store.pack_writer();
        for i in 0..20u32 {
            let raw = vec![i as u8; 1000];
            w.add(
                ObjectId::of(&raw),
                ObjectKind::Chunk,
                Compression::None,
                1000,
                &raw,
            )
            .unwrap();
        }
        assert!(w.finish().unwrap().len() >= 2, "sealed at 10,000 bytes");
        // 0 is no size: a store takes at least 1.
        let zero = crate::Settings {
            pack_size: 0,
            table_sort_memory: 0,
            ..crate::Settings::default()
        };
        let store = Store::open(dir.path(), &dir.path().join("state.db"), &zero).unwrap();
        assert_eq!((store.pack_size(), store.sort_memory()), (1, 1));
    }
}
