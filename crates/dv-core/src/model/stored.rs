//! A stored file read by byte ranges through its chunk list, one chunk in memory at a time, and the
//! safetensors header read that way.

use super::safetensors::{self, Header};
use crate::store::Store;
use crate::store::object::{Node, NodeKind};
use crate::{Error, ObjectId, Result};

/// Loads a chunk by id (verified by the caller's store).
pub type ChunkLoader<'a> = dyn Fn(&ObjectId) -> Result<Vec<u8>> + 'a;

/// A stored file read by byte ranges, one chunk in memory at a time.
pub struct StoredFile<'a> {
    pub(super) what: String,
    pub(super) chunks: Vec<(ObjectId, u32)>,
    /// File offset of each chunk.
    pub(super) starts: Vec<u64>,
    pub(super) size: u64,
    load: Box<ChunkLoader<'a>>,
    cached: Option<(usize, Vec<u8>)>,
    /// Bytes of chunks loaded so far.
    pub bytes_loaded: u64,
}

impl<'a> StoredFile<'a> {
    /// A file made of `chunks` in order; `what` names it in errors.
    pub fn new(
        what: impl Into<String>,
        chunks: Vec<(ObjectId, u32)>,
        load: Box<ChunkLoader<'a>>,
    ) -> StoredFile<'a> {
        let mut starts = Vec::with_capacity(chunks.len());
        let mut size = 0u64;
        for &(_, len) in &chunks {
            starts.push(size);
            size += len as u64;
        }
        StoredFile {
            what: what.into(),
            chunks,
            starts,
            size,
            load,
            cached: None,
            bytes_loaded: 0,
        }
    }

    /// The version of a file that `node` names in `store`; `path` is the dataset path (for missing objects),
    /// `what` names the version in errors.
    pub fn open(store: &'a Store, node: &Node, path: &str, what: &str) -> Result<StoredFile<'a>> {
        let missing = |e: Error| match e {
            Error::MissingObjects { count, first, .. } => Error::MissingObjects {
                path: path.to_string(),
                count,
                first,
            },
            other => other,
        };
        let chunks = match node.kind {
            NodeKind::File => {
                let len = u32::try_from(node.size).map_err(|_| Error::Corrupt {
                    id: node.id,
                    message: format!("{what}: a one-chunk file of {} bytes", node.size),
                })?;
                vec![(node.id, len)]
            }
            NodeKind::Chunked => store.read_manifest(&node.id).map_err(missing)?.chunks,
            NodeKind::Tree => {
                return Err(Error::format(what, "is a folder, not a model file"));
            }
        };
        let path = path.to_string();
        let load = move |id: &ObjectId| {
            store.read(id).map_err(|e| match e {
                Error::MissingObjects { count, first, .. } => Error::MissingObjects {
                    path: path.clone(),
                    count,
                    first,
                },
                other => other,
            })
        };
        Ok(StoredFile::new(what, chunks, Box::new(load)))
    }

    /// An in-memory file cut into content-defined chunks as `dv add` would cut it (tests, fuzzing, tools).
    pub fn from_bytes(what: impl Into<String>, data: &'a [u8]) -> StoredFile<'a> {
        let ranges = crate::chunk::chunk_ranges(data);
        let mut chunks = Vec::new();
        let mut by_id = std::collections::HashMap::new();
        for r in ranges {
            let id = ObjectId::of(&data[r.clone()]);
            chunks.push((id, r.len() as u32));
            by_id.insert(id, r);
        }
        let load = move |id: &ObjectId| {
            by_id
                .get(id)
                .map(|r| data[r.clone()].to_vec())
                .ok_or_else(|| Error::Internal(format!("no chunk {}", id.short())))
        };
        StoredFile::new(what, chunks, Box::new(load))
    }

    pub fn size(&self) -> u64 {
        self.size
    }

    pub fn what(&self) -> &str {
        &self.what
    }

    fn chunk(&mut self, i: usize) -> Result<&[u8]> {
        if self.cached.as_ref().is_none_or(|(c, _)| *c != i) {
            let (id, len) = self.chunks[i];
            let data = (self.load)(&id)?;
            if data.len() != len as usize {
                return Err(Error::Corrupt {
                    id,
                    message: format!(
                        "{}: chunk is {} bytes, its manifest says {len}",
                        self.what,
                        data.len()
                    ),
                });
            }
            self.bytes_loaded += len as u64;
            self.cached = Some((i, data));
        }
        Ok(&self.cached.as_ref().expect("just cached").1)
    }

    /// The index of the chunk holding byte `pos` (`pos < size`).
    pub(super) fn chunk_at(&self, pos: u64) -> usize {
        self.starts.partition_point(|&s| s <= pos).saturating_sub(1)
    }

    /// Fills `buf` with the bytes at `offset`.
    pub fn read_at(&mut self, offset: u64, buf: &mut [u8]) -> Result<()> {
        let end = offset
            .checked_add(buf.len() as u64)
            .filter(|&e| e <= self.size)
            .ok_or_else(|| {
                Error::Internal(format!(
                    "{}: read of {} bytes at {offset} past the end ({} bytes)",
                    self.what,
                    buf.len(),
                    self.size
                ))
            })?;
        let mut pos = offset;
        let mut filled = 0;
        while pos < end {
            let i = self.chunk_at(pos);
            let start = self.starts[i];
            let data = self.chunk(i)?;
            let within = (pos - start) as usize;
            let n = (data.len() - within).min(buf.len() - filled);
            buf[filled..filled + n].copy_from_slice(&data[within..within + n]);
            filled += n;
            pos += n as u64;
        }
        Ok(())
    }
}

/// Reads and checks the safetensors header of a file.
pub fn read_header(file: &mut StoredFile<'_>) -> Result<Header> {
    let what = file.what.clone();
    let size = file.size;
    let mut prefix = [0u8; 8];
    let have = size.min(8) as usize;
    file.read_at(0, &mut prefix[..have])?;
    let n = safetensors::header_len(&prefix[..have], size, &what)?;
    let mut json = vec![0u8; n as usize];
    file.read_at(8, &mut json)?;
    safetensors::parse_header(&json, size, &what)
}
