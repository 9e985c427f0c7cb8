//! Reading, writing, listing and deleting a remote's files (indexes, packs, use records) over its object
//! store, and the local copies of its indexes.

use std::collections::HashMap;

use bytes::Bytes;
use futures::{StreamExt, TryStreamExt};
use object_store::path::Path as StorePath;
use object_store::{ObjectStoreExt, WriteMultipart};

use super::{
    CONCURRENCY, Copies, Listed, ListedIndex, Remote, RemoteLocation, UnusableIndex, pack_path,
    use_path,
};
use crate::error::IoContext;
use crate::store::pack::PackIndex;
use crate::{Error, ObjectId, Result};

impl Remote {
    /// Where each object on the remote is (one copy of each), and the indexes that cannot be read (skipped:
    /// their objects count as absent).
    pub fn objects(&self) -> Result<(HashMap<ObjectId, RemoteLocation>, Vec<UnusableIndex>)> {
        let (good, bad) = self.readable_indexes(true)?;
        let mut out = HashMap::with_capacity(good.iter().map(|i| i.entries.len()).sum());
        for index in good {
            let pack = index.pack_id;
            for entry in index.entries {
                out.entry(entry.id)
                    .or_insert(RemoteLocation { pack, entry });
            }
        }
        Ok((out, bad))
    }

    /// `objects`, with every copy of each object (concurrent pushes may leave one object in several packs):
    /// the first is the one `objects` gives, the others are where a fetch turns when a copy fails its check.
    pub fn locations(&self) -> Result<(Copies, Vec<UnusableIndex>)> {
        let (good, bad) = self.readable_indexes(true)?;
        let mut out: HashMap<ObjectId, Vec<RemoteLocation>> = HashMap::new();
        for index in good {
            let pack = index.pack_id;
            for entry in index.entries {
                out.entry(entry.id)
                    .or_default()
                    .push(RemoteLocation { pack, entry });
            }
        }
        Ok((out, bad))
    }

    /// The remote's indexes that can be read, in listing order, and the others; through the local copies
    /// when `use_copies` (see `sync_indexes_from`).
    fn readable_indexes(&self, use_copies: bool) -> Result<(Vec<PackIndex>, Vec<UnusableIndex>)> {
        let (mut good, mut bad) = (Vec::new(), Vec::new());
        for (id, index, _) in self.sync_indexes_from(use_copies)? {
            match index {
                Ok(i) => good.push(i),
                Err(e) => bad.push((id, e)),
            }
        }
        Ok((good, bad))
    }

    /// Every index on the remote that parses, and the packs whose index does not (with the reason). Each index
    /// file is read from the remote itself, not from the local copies: this is what `fsck --remote` checks.
    pub fn indexes(&self) -> Result<(Vec<PackIndex>, Vec<UnusableIndex>)> {
        self.readable_indexes(false)
    }

    /// Every index on the remote with the time its index file was written (Unix seconds).
    pub fn indexes_with_times(&self) -> Result<Vec<(PackIndex, i64)>> {
        let mut out = Vec::new();
        for (id, index, time) in self.sync_indexes()? {
            let index = index.map_err(|e| {
                self.explained(
                    format!(
                        "index/{}.idx cannot be read ({e}); gc cannot tell what its pack holds \
                     (`dv fsck --remote {} --repair` repairs it)",
                        id.to_hex(),
                        self.name
                    ),
                    None,
                )
            })?;
            out.push((index, time));
        }
        Ok(out)
    }

    /// Lists the remote's index files, copies the ones not yet cached (checked before they are kept), and
    /// parses each: (pack id, the index or why it is unusable, when it was written).
    fn sync_indexes(&self) -> Result<Vec<ListedIndex>> {
        self.sync_indexes_from(true)
    }

    /// `sync_indexes`, reading every index from the remote when `use_copies` is false.
    ///
    /// A local copy is used only while the remote's index file is the one it was copied from: the listing's
    /// size and time must be the copy's length and modification time (set to the remote's time when the copy
    /// is made), so an index rewritten or damaged on the remote since is read again. With `use_copies`, the
    /// pack files are listed too (one more listing), and an index whose pack file is gone or not the size the
    /// index gives is unusable: its objects count as absent, so a push sends them again and gc refuses.
    fn sync_indexes_from(&self, use_copies: bool) -> Result<Vec<ListedIndex>> {
        std::fs::create_dir_all(&self.index_cache).at(&self.index_cache)?;
        let listed_meta = self.list_named_meta("index", ".idx")?;
        let listed: Vec<(ObjectId, i64)> = listed_meta.iter().map(|l| (l.id, l.secs)).collect();
        let cached = |id: &ObjectId| self.index_cache.join(format!("{}.idx", id.to_hex()));
        let copy_matches = |l: &Listed| {
            std::fs::metadata(cached(&l.id)).is_ok_and(|m| {
                m.is_file() && m.len() == l.size && m.modified().ok() == Some(l.time)
            })
        };
        let missing: Vec<ObjectId> = listed_meta
            .iter()
            .filter(|l| !use_copies || !copy_matches(l))
            .map(|l| l.id)
            .collect();
        let listed_time: HashMap<ObjectId, std::time::SystemTime> =
            listed_meta.iter().map(|l| (l.id, l.time)).collect();
        let fetched: Vec<(ObjectId, Bytes)> = self
            .rt
            .block_on(async {
                futures::stream::iter(missing.iter().copied())
                    .map(|id| async move {
                        let path = StorePath::from(format!("index/{}.idx", id.to_hex()));
                        let bytes = self.store.get(&path).await?.bytes().await?;
                        Ok::<_, object_store::Error>((id, bytes))
                    })
                    .buffer_unordered(CONCURRENCY)
                    .try_collect()
                    .await
            })
            .map_err(|e| self.err(e))?;
        let mut fresh: HashMap<ObjectId, std::result::Result<PackIndex, String>> = HashMap::new();
        for (id, bytes) in fetched {
            let parsed = match PackIndex::decode(&bytes) {
                Ok(index) if index.pack_id == id => Ok(index),
                Ok(_) => Err("the index names another pack".to_string()),
                Err(e) => Err(e.to_string()),
            };
            // Only sound indexes are kept: a damaged one is read again next time. The copy takes the remote
            // file's time, by which later listings tell that it is still the same file.
            if parsed.is_ok() {
                let path = cached(&id);
                crate::fsutil::write_atomic_in_cache(&path, &bytes)?;
                if let Some(t) = listed_time.get(&id) {
                    std::fs::File::options()
                        .write(true)
                        .open(&path)
                        .and_then(|f| f.set_modified(*t))
                        .at(&path)?;
                }
            }
            fresh.insert(id, parsed);
        }
        let mut out = Vec::new();
        for (id, time) in listed {
            let parsed = match fresh.remove(&id) {
                Some(p) => p,
                None => {
                    let path = cached(&id);
                    match PackIndex::decode(&std::fs::read(&path).at(&path)?) {
                        Ok(index) if index.pack_id == id => Ok(index),
                        Ok(_) => Err("the index names another pack".to_string()),
                        Err(e) => Err(e.to_string()),
                    }
                }
            };
            out.push((id, parsed, time));
        }
        if use_copies {
            // Listed after the indexes: a pack is written before its index, so a pack listed above is here.
            let packs: HashMap<ObjectId, u64> = self
                .list_named_meta("packs", ".pack")?
                .into_iter()
                .map(|l| (l.id, l.size))
                .collect();
            for (id, parsed, _) in &mut out {
                if let Ok(index) = parsed {
                    match packs.get(id) {
                        None => *parsed = Err("its pack file is missing".to_string()),
                        Some(size) if *size != index.pack_size => {
                            *parsed = Err(format!(
                                "its pack file has {size} bytes, the index says {}",
                                index.pack_size
                            ))
                        }
                        Some(_) => {}
                    }
                }
            }
        }
        Ok(out)
    }

    /// This clone's local copy of the index of `pack` (kept from when the remote's index was sound), if it has
    /// one that reads: what `fsck --remote --repair` restores or re-uploads when the remote's own is damaged.
    pub fn cached_index(&self, pack: &ObjectId) -> Option<PackIndex> {
        let path = self.index_cache.join(format!("{}.idx", pack.to_hex()));
        let bytes = std::fs::read(path).ok()?;
        PackIndex::decode(&bytes)
            .ok()
            .filter(|i| i.pack_id == *pack)
    }

    /// The files below `prefix` named `<64 hex digits><suffix>`, with their size and time.
    fn list_named_meta(&self, prefix: &str, suffix: &'static str) -> Result<Vec<Listed>> {
        self.rt
            .block_on(async {
                let prefix = StorePath::from(prefix);
                self.store
                    .list(Some(&prefix))
                    .try_filter_map(|meta| async move {
                        let name = meta.location.filename().unwrap_or_default().to_string();
                        Ok(name
                            .strip_suffix(suffix)
                            .and_then(ObjectId::from_hex)
                            .map(|id| Listed {
                                id,
                                secs: meta.last_modified.timestamp(),
                                time: meta.last_modified.into(),
                                size: meta.size,
                            }))
                    })
                    .try_collect()
                    .await
            })
            .map_err(|e| self.err(e))
    }

    /// The files below `prefix` named `<64 hex digits><suffix>`, with when each was written (Unix seconds, by
    /// the remote's clock).
    fn list_named(&self, prefix: &str, suffix: &'static str) -> Result<Vec<(ObjectId, i64)>> {
        Ok(self
            .list_named_meta(prefix, suffix)?
            .into_iter()
            .map(|l| (l.id, l.secs))
            .collect())
    }

    /// Every pack file on the remote (indexed or not), with when it was written.
    pub fn pack_files(&self) -> Result<Vec<(ObjectId, i64)>> {
        self.list_named("packs", ".pack")
    }

    /// Records that a push relies on objects in `packs` that it does not upload again (see `store::uses`).
    /// Every call writes a new file (a fresh nonce), never one a gc may have listed as old and be deleting.
    pub fn record_uses(&self, packs: &[ObjectId]) -> Result<()> {
        let bytes = crate::store::uses::encode(packs, &crate::store::uses::fresh_nonce());
        let path = use_path(&crate::store::uses::name(&bytes));
        self.rt
            .block_on(self.store.put(&path, Bytes::from(bytes).into()))
            .map_err(|e| self.err(e))?;
        Ok(())
    }

    /// The use records on the remote, with when each was written.
    pub fn use_records(&self) -> Result<Vec<(ObjectId, i64)>> {
        self.list_named("uses", ".use")
    }

    /// The packs a use record names, or why it cannot be read.
    pub fn read_use_record(
        &self,
        name: &ObjectId,
    ) -> Result<std::result::Result<Vec<ObjectId>, String>> {
        let got = self.rt.block_on(async {
            match self.store.get(&use_path(name)).await {
                Ok(r) => r.bytes().await.map(Some),
                Err(object_store::Error::NotFound { .. }) => Ok(None),
                Err(e) => Err(e),
            }
        });
        match got.map_err(|e| self.err(e))? {
            // Deleted since it was listed (by another gc, as too old): it names nothing young.
            None => Ok(Ok(Vec::new())),
            Some(bytes) if crate::store::uses::name(&bytes) != *name => {
                Ok(Err("the record's bytes do not match its name".into()))
            }
            Some(bytes) => Ok(crate::store::uses::decode(&bytes).map_err(|e| e.to_string())),
        }
    }

    /// Deletes a use record (gc does, once it is older than the grace period).
    pub fn delete_use_record(&self, name: &ObjectId) -> Result<()> {
        match self.rt.block_on(self.store.delete(&use_path(name))) {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(self.err(e)),
        }
    }

    /// The remote's clock now (Unix seconds): the time it gives a file written now (an empty use record, which
    /// names nothing). gc measures ages with it, so a client's wrong clock cannot make a young pack look old.
    pub fn server_now(&self) -> Result<i64> {
        let bytes = crate::store::uses::encode(&[], &[0; crate::store::uses::NONCE_LEN]);
        let path = use_path(&crate::store::uses::name(&bytes));
        self.rt
            .block_on(async {
                self.store.put(&path, Bytes::from(bytes).into()).await?;
                self.store.head(&path).await
            })
            .map(|meta| meta.last_modified.timestamp())
            .map_err(|e| self.err(e))
    }

    /// Reads a whole pack file; `None` when there is no such file.
    pub fn read_pack(&self, pack: &ObjectId) -> Result<Option<Bytes>> {
        let got = self.rt.block_on(async {
            match self.store.get(&pack_path(pack)).await {
                Ok(r) => r.bytes().await.map(Some),
                Err(object_store::Error::NotFound { .. }) => Ok(None),
                Err(e) => Err(e),
            }
        });
        got.map_err(|e| self.err(e))
    }

    /// Reads a pack's index file as it is on the remote, unparsed; `None` when there is no such file.
    pub fn read_index_file(&self, pack: &ObjectId) -> Result<Option<Bytes>> {
        let path = StorePath::from(format!("index/{}.idx", pack.to_hex()));
        let got = self.rt.block_on(async {
            match self.store.get(&path).await {
                Ok(r) => r.bytes().await.map(Some),
                Err(object_store::Error::NotFound { .. }) => Ok(None),
                Err(e) => Err(e),
            }
        });
        got.map_err(|e| self.err(e))
    }

    /// Deletes a pack from the remote: its index first (so no reader is sent to a missing pack), then the pack.
    pub fn delete_pack(&self, pack: &ObjectId) -> Result<()> {
        let hex = pack.to_hex();
        self.rt.block_on(async {
            let index = StorePath::from(format!("index/{hex}.idx"));
            match self.store.delete(&index).await {
                Ok(()) | Err(object_store::Error::NotFound { .. }) => {}
                Err(e) => return Err(self.err(e)),
            }
            match self.store.delete(&pack_path(pack)).await {
                Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
                Err(e) => Err(self.err(e)),
            }
        })?;
        let cached = self.index_cache.join(format!("{hex}.idx"));
        match std::fs::remove_file(&cached) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(Error::io(cached, e)),
        }
    }

    /// Uploads a pack whose bytes `pieces` yields in order, then its index: the index is the commit point, so
    /// an interrupted upload leaves at worst an unreferenced pack, which a re-run overwrites with the same
    /// bytes.
    pub fn upload_pack(
        &self,
        index: &PackIndex,
        pieces: impl Iterator<Item = Result<Vec<u8>>>,
    ) -> Result<()> {
        self.upload_pack_data(index, pieces, CONCURRENCY)?;
        self.commit_pack(index)
    }

    /// Uploads a pack's bytes (not its index: see `commit_pack`). Large packs go up as multipart uploads with
    /// up to `parts_in_flight` parts at once, so memory stays bounded by the parts in flight whatever the
    /// pack size.
    pub fn upload_pack_data(
        &self,
        index: &PackIndex,
        pieces: impl Iterator<Item = Result<Vec<u8>>>,
        parts_in_flight: usize,
    ) -> Result<()> {
        let pack_path = pack_path(&index.pack_id);
        self.rt.block_on(async {
            if index.pack_size <= self.single_put_max {
                let mut buf = Vec::with_capacity(index.pack_size as usize);
                for p in pieces {
                    buf.extend_from_slice(&p?);
                }
                self.store
                    .put(&pack_path, Bytes::from(buf).into())
                    .await
                    .map_err(|e| self.err(e))?;
            } else {
                let upload = self
                    .store
                    .put_multipart(&pack_path)
                    .await
                    .map_err(|e| self.err(e))?;
                let mut w = WriteMultipart::new_with_chunk_size(upload, part_size(index.pack_size));
                for p in pieces {
                    let p = match p {
                        Ok(p) => p,
                        Err(e) => {
                            let _ = w.abort().await;
                            return Err(e);
                        }
                    };
                    if let Err(e) = w.wait_for_capacity(parts_in_flight.max(1)).await {
                        return Err(self.err(e));
                    }
                    w.write(&p);
                }
                w.finish().await.map_err(|e| self.err(e))?;
            }
            Ok(())
        })
    }

    /// Uploads a pack's index once the pack is there: from then on the remote has the pack's objects.
    pub fn commit_pack(&self, index: &PackIndex) -> Result<()> {
        crate::fault::point("push-pack-before-index");
        let hex = index.pack_id.to_hex();
        let index_bytes = index.encode();
        self.rt.block_on(async {
            self.store
                .put(
                    &StorePath::from(format!("index/{hex}.idx")),
                    Bytes::from(index_bytes.clone()).into(),
                )
                .await
                .map_err(|e| self.err(e))
        })?;
        std::fs::create_dir_all(&self.index_cache).at(&self.index_cache)?;
        crate::fsutil::write_atomic_in_cache(
            &self.index_cache.join(format!("{hex}.idx")),
            &index_bytes,
        )
    }
}

/// Packs up to this size go up in one request; larger ones (a pack grown past its target by one large object)
/// as multipart uploads. One request per pack means fewer requests to pay for, and a server need not store the
/// parts and then join them: against s3s-fs, single PUTs of 32 MiB packs halved the server's CPU time per push.
/// The default of [`crate::Settings::single_put_max`].
pub const SINGLE_PUT_MAX: u64 = 48 * 1024 * 1024;

/// The part size of a multipart upload: 8 MiB, or more when needed to stay within S3's 10,000 parts.
fn part_size(total: u64) -> usize {
    const MIN: u64 = 8 * 1024 * 1024;
    MIN.max(total.div_ceil(9_000)) as usize
}
