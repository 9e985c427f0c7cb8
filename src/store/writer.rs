//! Appends objects to new pack files and seals them: pack first, then its index (the commit point).

use std::fs;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use super::Store;
use super::object::ObjectKind;
use super::pack::{self, Compression, ENTRY_HEADER_LEN, IndexEntry, PackIndex};
use crate::error::IoContext;
use crate::fsutil::{TempFile, sync_dir};
use crate::{ObjectId, Result};

/// Packs are sealed once they reach this size.
pub const PACK_TARGET_SIZE: u64 = 64 * 1024 * 1024;

struct OpenPack {
    tmp: TempFile,
    out: BufWriter<fs::File>,
    entries: Vec<IndexEntry>,
    offset: u64,
}

pub struct PackWriter {
    dir: PathBuf,
    target_size: u64,
    current: Option<OpenPack>,
    sealed: Vec<PackIndex>,
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
            sealed: Vec::new(),
            objects: 0,
            stored_bytes: 0,
        }
    }

    pub fn with_target_size(mut self, size: u64) -> PackWriter {
        self.target_size = size;
        self
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
            let file = tmp.file().try_clone().at(tmp.path().to_path_buf())?;
            let mut out = BufWriter::with_capacity(1 << 20, file);
            out.write_all(&pack::pack_header())
                .at(tmp.path().to_path_buf())?;
            self.current = Some(OpenPack {
                tmp,
                out,
                entries: Vec::new(),
                offset: pack::PACK_HEADER_LEN,
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
            self.seal()?;
        }
        Ok(())
    }

    /// Finishes the open pack: flush and sync it, move it into place, then write its index.
    fn seal(&mut self) -> Result<()> {
        let Some(p) = self.current.take() else {
            return Ok(());
        };
        let OpenPack {
            tmp,
            out,
            entries,
            offset,
        } = p;
        let file = out
            .into_inner()
            .map_err(|e| e.into_error())
            .at(tmp.path().to_path_buf())?;
        file.sync_all().at(tmp.path().to_path_buf())?;
        drop(file);
        let index = PackIndex::new(entries, offset);
        let pack_path = Store::pack_path(&self.dir, &index.pack_id);
        let pack_dir = pack_path.parent().expect("packs/xx");
        fs::create_dir_all(pack_dir).at(pack_dir)?;
        tmp.persist(&pack_path, false)?; // synced above
        sync_dir(pack_dir)?;
        let index_path = Store::index_path(&self.dir, &index.pack_id);
        crate::fsutil::write_atomic(&index_path, &index.encode())?;
        sync_dir(index_path.parent().expect("index/"))?;
        self.sealed.push(index);
        Ok(())
    }

    /// Seals the last pack and returns the indexes of all packs written.
    pub fn finish(mut self) -> Result<Vec<PackIndex>> {
        self.seal()?;
        Ok(std::mem::take(&mut self.sealed))
    }
}

/// Compresses `raw` with zstd at `level` when that saves at least 1/32 of it; level 0 stores raw.
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
