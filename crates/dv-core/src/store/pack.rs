//! Pack files and their indexes (docs/format.md, "Packs").
//!
//! Long only with its tests (about 510 lines without them): the pack and index formats, kept in one place.
//!
//! A pack is a header followed by objects, each behind a small entry header. Its index lists every object's
//! id, offset and lengths, sorted by id, and ends with a BLAKE3 checksum. The pack's name is the hash of the
//! index's entry table, so identical packs get identical names and no two different packs share one.

use super::bytes::Reader;
use super::object::{MAX_OBJECT_SIZE, ObjectKind};
use crate::{Error, ObjectId, Result};

pub const PACK_MAGIC: &[u8; 4] = b"DVPK";
pub const PACK_VERSION: u32 = 1;
pub const PACK_HEADER_LEN: u64 = 8;
/// id, kind, compression, reserved u16, raw length u32, stored length u32.
pub const ENTRY_HEADER_LEN: u64 = 32 + 1 + 1 + 2 + 4 + 4;

pub const INDEX_MAGIC: &[u8; 4] = b"DVIX";
pub const INDEX_VERSION: u32 = 1;
pub const INDEX_ENTRY_LEN: usize = 32 + 8 + 1 + 1 + 2 + 4 + 4;
const INDEX_HEADER_LEN: usize = 4 + 4 + 32 + 8 + 4;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum Compression {
    None = 0,
    Zstd = 1,
}

impl Compression {
    pub fn from_u8(v: u8) -> Option<Compression> {
        match v {
            0 => Some(Compression::None),
            1 => Some(Compression::Zstd),
            _ => None,
        }
    }
}

/// Where one object sits in its pack.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IndexEntry {
    pub id: ObjectId,
    /// Offset of the entry header in the pack; the stored bytes follow it.
    pub offset: u64,
    pub kind: ObjectKind,
    pub compression: Compression,
    pub raw_len: u32,
    pub stored_len: u32,
}

impl IndexEntry {
    /// The byte range of the entry (header and stored bytes) in the pack.
    pub fn range(&self) -> std::ops::Range<u64> {
        self.offset..self.offset + ENTRY_HEADER_LEN + self.stored_len as u64
    }
}

/// A new pack made of whole entries (each its header and stored bytes, as they lie in another pack): its index,
/// with every entry moved to its new offset, and its bytes in pieces (the pack header first). Used to rewrite a
/// pack without some of its objects.
pub fn repacked<'a>(
    entries: impl IntoIterator<Item = (IndexEntry, &'a [u8])>,
) -> (PackIndex, Vec<Vec<u8>>) {
    let mut moved = Vec::new();
    let mut pieces = vec![pack_header().to_vec()];
    let mut offset = PACK_HEADER_LEN;
    for (e, bytes) in entries {
        moved.push(IndexEntry { offset, ..e });
        offset += bytes.len() as u64;
        pieces.push(bytes.to_vec());
    }
    (PackIndex::new(moved, offset), pieces)
}

pub fn pack_header() -> [u8; 8] {
    let mut h = [0u8; 8];
    h[..4].copy_from_slice(PACK_MAGIC);
    h[4..].copy_from_slice(&PACK_VERSION.to_le_bytes());
    h
}

pub fn check_pack_header(bytes: &[u8], what: &str) -> Result<()> {
    Reader::new(bytes, what)
        .header(PACK_MAGIC, PACK_VERSION)
        .map(|_| ())
}

pub fn entry_header(e: &IndexEntry) -> [u8; ENTRY_HEADER_LEN as usize] {
    let mut h = [0u8; ENTRY_HEADER_LEN as usize];
    h[..32].copy_from_slice(e.id.as_bytes());
    h[32] = e.kind as u8;
    h[33] = e.compression as u8;
    h[36..40].copy_from_slice(&e.raw_len.to_le_bytes());
    h[40..44].copy_from_slice(&e.stored_len.to_le_bytes());
    h
}

/// Checks that an entry header read from a pack matches what the index says.
pub fn check_entry_header(bytes: &[u8], e: &IndexEntry) -> Result<()> {
    if bytes.len() < ENTRY_HEADER_LEN as usize
        || bytes[..ENTRY_HEADER_LEN as usize] != entry_header(e)
    {
        return Err(Error::Corrupt {
            id: e.id,
            message: format!(
                "the pack's entry header at offset {} does not match its index",
                e.offset
            ),
        });
    }
    Ok(())
}

/// A parsed pack index.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PackIndex {
    pub pack_id: ObjectId,
    pub pack_size: u64,
    pub entries: Vec<IndexEntry>,
}

impl PackIndex {
    /// Builds the index of a pack from its entries (any order) and its total size; names the pack.
    pub fn new(mut entries: Vec<IndexEntry>, pack_size: u64) -> PackIndex {
        entries.sort_by_key(|e| e.id);
        let table = encode_entries(&entries);
        PackIndex {
            pack_id: ObjectId::of(&table),
            pack_size,
            entries,
        }
    }

    pub fn encode(&self) -> Vec<u8> {
        let mut out =
            Vec::with_capacity(INDEX_HEADER_LEN + self.entries.len() * INDEX_ENTRY_LEN + 32);
        out.extend_from_slice(INDEX_MAGIC);
        out.extend_from_slice(&INDEX_VERSION.to_le_bytes());
        out.extend_from_slice(self.pack_id.as_bytes());
        out.extend_from_slice(&self.pack_size.to_le_bytes());
        out.extend_from_slice(&(self.entries.len() as u32).to_le_bytes());
        out.extend_from_slice(&encode_entries(&self.entries));
        let sum = ObjectId::of(&out);
        out.extend_from_slice(sum.as_bytes());
        out
    }

    /// Parses and fully validates an index: checksum, pack id, order, kinds, lengths, and that entries lie
    /// inside the pack without overlapping.
    pub fn decode(data: &[u8]) -> Result<PackIndex> {
        Self::decode_with(data, true)
    }

    /// Parses an index whose checksum may be wrong, checking everything else [`PackIndex::decode`] checks,
    /// the entry table's hash against the pack id above all: a table that still gives the pack's name is the
    /// table the pack was written with, so it still says where each object lies. Used only to salvage objects
    /// (each verified against its id) from a pack whose index is damaged.
    pub fn decode_table(data: &[u8]) -> Result<PackIndex> {
        Self::decode_with(data, false)
    }

    fn decode_with(data: &[u8], check_sum: bool) -> Result<PackIndex> {
        let what = "pack index";
        if data.len() < INDEX_HEADER_LEN + 32 {
            return Err(Error::format(
                what,
                format!("too short ({} bytes)", data.len()),
            ));
        }
        let (body, sum) = data.split_at(data.len() - 32);
        let mut r = Reader::new(body, what);
        r.header(INDEX_MAGIC, INDEX_VERSION)?;
        if check_sum && ObjectId::of(body).as_bytes() != sum {
            return Err(Error::format(
                what,
                "checksum mismatch: the index is damaged",
            ));
        }
        let pack_id = r.id()?;
        let pack_size = r.u64()?;
        let count = r.u32()? as usize;
        if r.remaining() != count.saturating_mul(INDEX_ENTRY_LEN) {
            return Err(r.error(format!(
                "{count} entries do not fit {} bytes",
                r.remaining()
            )));
        }
        let table_start = body.len() - r.remaining();
        if ObjectId::of(&body[table_start..]) != pack_id {
            return Err(Error::format(
                what,
                "pack id does not match the entry table",
            ));
        }
        let mut entries = Vec::with_capacity(count);
        for _ in 0..count {
            let id = r.id()?;
            let offset = r.u64()?;
            let (kind, compression, raw_len, stored_len) = entry_fields(&mut r)?;
            if raw_len as u64 > MAX_OBJECT_SIZE || stored_len as u64 > MAX_OBJECT_SIZE {
                return Err(r.error("object larger than the format allows"));
            }
            if compression == Compression::None && raw_len != stored_len {
                return Err(r.error("uncompressed object with differing lengths"));
            }
            if let Some(prev) = entries.last().map(|e: &IndexEntry| e.id)
                && prev >= id
            {
                return Err(r.error(format!("object {} is out of order or repeated", id.short())));
            }
            entries.push(IndexEntry {
                id,
                offset,
                kind,
                compression,
                raw_len,
                stored_len,
            });
        }
        r.finish()?;
        // Entries must lie after the header, inside the pack, and not overlap.
        // An end past 2^64 is `None`: it is past the end of any pack (saturating it to 2^64 - 1 once let an
        // entry through that every later `offset + length` overflowed on; found by the `pack` fuzz target).
        let mut spans: Vec<(u64, Option<u64>)> = entries
            .iter()
            .map(|e| {
                (
                    e.offset,
                    e.offset.checked_add(ENTRY_HEADER_LEN + e.stored_len as u64),
                )
            })
            .collect();
        spans.sort_unstable();
        let mut end = PACK_HEADER_LEN;
        for (start, stop) in spans {
            if start < end {
                return Err(Error::format(
                    what,
                    format!("entries overlap at offset {start}"),
                ));
            }
            let Some(stop) = stop.filter(|&stop| stop <= pack_size) else {
                return Err(Error::format(
                    what,
                    format!(
                        "entry at offset {start} runs past the end of the pack ({pack_size} bytes)"
                    ),
                ));
            };
            end = stop;
        }
        Ok(PackIndex {
            pack_id,
            pack_size,
            entries,
        })
    }
}

/// The fields an index entry and a pack entry header share, after the id (and, in an index, the offset):
/// kind, compression, a reserved zero, raw and stored lengths.
fn entry_fields(r: &mut Reader<'_>) -> Result<(ObjectKind, Compression, u32, u32)> {
    let kind = r.u8()?;
    let kind =
        ObjectKind::from_u8(kind).ok_or_else(|| r.error(format!("unknown object kind {kind}")))?;
    let compression = r.u8()?;
    let compression = Compression::from_u8(compression)
        .ok_or_else(|| r.error(format!("unknown compression {compression}")))?;
    if r.u16()? != 0 {
        return Err(r.error("reserved field is not zero"));
    }
    Ok((kind, compression, r.u32()?, r.u32()?))
}

/// Rebuilds a pack's index from the pack's own bytes (each entry header repeats its index entry). The result
/// is checked as a decoded index is, and names the pack by its entry table, so when that name is the pack's
/// name the rebuilt index is byte for byte the one written with the pack. Objects are not verified here.
pub fn reindex(data: &[u8]) -> Result<PackIndex> {
    check_pack_header(data, "pack")?;
    let mut entries = Vec::new();
    let mut at = PACK_HEADER_LEN as usize;
    while at < data.len() {
        let mut r = Reader::new(&data[at..], "pack entry");
        let id = r.id()?;
        let (kind, compression, raw_len, stored_len) = entry_fields(&mut r)?;
        entries.push(IndexEntry {
            id,
            offset: at as u64,
            kind,
            compression,
            raw_len,
            stored_len,
        });
        at = at
            .checked_add(ENTRY_HEADER_LEN as usize + stored_len as usize)
            .ok_or_else(|| Error::format("pack", "entry length overflows"))?;
    }
    if at != data.len() {
        return Err(Error::format("pack", "the last entry runs past the end"));
    }
    // Repeated ids or out-of-range lengths are refused as in a decoded index.
    PackIndex::decode(&PackIndex::new(entries, data.len() as u64).encode())
}

/// The index of the pack named `pack_id`, rebuilt from its bytes ([`reindex`]) when its entry headers give
/// back exactly the entry table it is named after; `None` otherwise. The one rule for rebuilding a damaged
/// index, locally (`fsck --repair`, gc) and on remotes (`fsck --remote --repair`).
pub fn rebuild_index(data: &[u8], pack_id: &ObjectId) -> Option<PackIndex> {
    reindex(data).ok().filter(|i| i.pack_id == *pack_id)
}

/// The entries of a pack whose index cannot be had that can still be read and verify, sorted by offset: first
/// those `known` lists (entry tables that still name the pack: its damaged index's, a local copy's), read where
/// the table says whatever the pack's entry header there says; then those found by walking the entry headers
/// from the start, up to the first that cannot be read or lies past the end (what follows it cannot be found
/// without a table). An entry whose object fails verification is skipped; each object is kept once. The one
/// rule for salvaging a pack before it is deleted, locally (`fsck --repair`) and on remotes.
pub fn readable_entries(data: &[u8], known: &[IndexEntry]) -> Vec<IndexEntry> {
    let mut out: Vec<IndexEntry> = Vec::new();
    let mut seen = std::collections::HashSet::new();
    let mut keep = |e: IndexEntry, out: &mut Vec<IndexEntry>| {
        let end = e.range().end;
        if e.offset >= PACK_HEADER_LEN
            && end <= data.len() as u64
            && !seen.contains(&e.id)
            && verify_object(
                &e,
                &data[(e.offset + ENTRY_HEADER_LEN) as usize..end as usize],
            )
            .is_ok()
        {
            seen.insert(e.id);
            out.push(e);
        }
    };
    for e in known {
        keep(*e, &mut out);
    }
    // The pack header is not needed to find the entries after it, so a damaged one stops nothing.
    let mut at = PACK_HEADER_LEN as usize;
    while at < data.len() {
        let mut r = Reader::new(&data[at..], "pack entry");
        let Ok(id) = r.id() else { break };
        let Ok((kind, compression, raw_len, stored_len)) = entry_fields(&mut r) else {
            break;
        };
        let e = IndexEntry {
            id,
            offset: at as u64,
            kind,
            compression,
            raw_len,
            stored_len,
        };
        let Some(end) = at
            .checked_add(ENTRY_HEADER_LEN as usize + stored_len as usize)
            .filter(|end| *end <= data.len())
        else {
            break;
        };
        keep(e, &mut out);
        at = end;
    }
    out.sort_by_key(|e| e.offset);
    out
}

/// An entry [`readable_entries`] found, as it is to be copied into a new pack: a fresh entry header (the one in
/// the damaged pack may be what was damaged), then the stored bytes.
pub fn salvaged_entry(data: &[u8], e: &IndexEntry) -> Vec<u8> {
    let mut out = entry_header(e).to_vec();
    out.extend_from_slice(&data[(e.offset + ENTRY_HEADER_LEN) as usize..e.range().end as usize]);
    out
}

fn encode_entries(entries: &[IndexEntry]) -> Vec<u8> {
    let mut out = Vec::with_capacity(entries.len() * INDEX_ENTRY_LEN);
    for e in entries {
        out.extend_from_slice(e.id.as_bytes());
        out.extend_from_slice(&e.offset.to_le_bytes());
        out.push(e.kind as u8);
        out.push(e.compression as u8);
        out.extend_from_slice(&[0, 0]);
        out.extend_from_slice(&e.raw_len.to_le_bytes());
        out.extend_from_slice(&e.stored_len.to_le_bytes());
    }
    out
}

/// Turns stored bytes back into the object, bounded by the index's raw length, and verifies the hash.
pub fn decode_object(e: &IndexEntry, stored: &[u8]) -> Result<Vec<u8>> {
    check_stored_len(e, stored)?;
    let raw = match e.compression {
        Compression::None => stored.to_vec(),
        Compression::Zstd => {
            let mut out = Vec::new();
            decompress_into(e, stored, &mut out)?;
            out
        }
    };
    check_content(e, &raw)?;
    Ok(raw)
}

/// Checks what `decode_object` checks without keeping the content: a stored-as-is object is hashed where it
/// lies; a compressed one up to `SCRATCH_MAX` is decompressed into a buffer this thread reuses, exactly as long
/// as the declared length (so a bomb stops there), and a larger one as `decode_object` does.
pub fn verify_object(e: &IndexEntry, stored: &[u8]) -> Result<()> {
    verify_object_then(e, stored, |_| ())
}

/// [`verify_object`], then `f` with the verified content (borrowed: a copy only if `f` makes one).
pub fn verify_object_then<R>(
    e: &IndexEntry,
    stored: &[u8],
    f: impl FnOnce(&[u8]) -> R,
) -> Result<R> {
    check_stored_len(e, stored)?;
    match e.compression {
        Compression::None => check_content(e, stored).map(|()| f(stored)),
        Compression::Zstd if e.raw_len as usize > SCRATCH_MAX => {
            decode_object(e, stored).map(|raw| f(&raw))
        }
        Compression::Zstd => {
            thread_local! {
                static SCRATCH: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
            }
            SCRATCH.with(|cell| {
                let mut buf = cell.borrow_mut();
                let want = e.raw_len as usize;
                if buf.len() < want {
                    buf.resize(want, 0);
                }
                let out = &mut buf[..want];
                let n = decompressor_run(e, |d| d.decompress_to_buffer(stored, &mut *out))?;
                check_content(e, &out[..n]).map(|()| f(&out[..n]))
            })
        }
    }
}

/// Objects up to this size are verified in a reused buffer.
const SCRATCH_MAX: usize = 4 << 20;

fn check_stored_len(e: &IndexEntry, stored: &[u8]) -> Result<()> {
    if stored.len() != e.stored_len as usize {
        return Err(Error::Corrupt {
            id: e.id,
            message: format!(
                "expected {} stored bytes, found {}",
                e.stored_len,
                stored.len()
            ),
        });
    }
    Ok(())
}

/// Decompresses one zstd frame into `out` (cleared first, with room for exactly the declared length), so a
/// frame that decodes to more is an error, not an allocation.
fn decompress_into(e: &IndexEntry, stored: &[u8], out: &mut Vec<u8>) -> Result<()> {
    out.clear();
    out.reserve_exact(e.raw_len as usize);
    decompressor_run(e, |d| d.decompress_to_buffer(stored, out)).map(drop)
}

/// Runs `f` with this thread's zstd decompression context.
fn decompressor_run(
    e: &IndexEntry,
    f: impl FnOnce(&mut zstd::bulk::Decompressor<'static>) -> std::io::Result<usize>,
) -> Result<usize> {
    thread_local! {
        // Creating a decompression context costs more than decompressing a small tree: reuse one.
        static DECOMPRESSOR: std::cell::RefCell<Option<zstd::bulk::Decompressor<'static>>> =
            const { std::cell::RefCell::new(None) };
    }
    DECOMPRESSOR
        .with(|cell| {
            let mut slot = cell.borrow_mut();
            if slot.is_none() {
                *slot = Some(zstd::bulk::Decompressor::new()?);
            }
            f(slot.as_mut().expect("set above"))
        })
        .map_err(|err| Error::Corrupt {
            id: e.id,
            message: format!("zstd: {err}"),
        })
}

/// The decoded content has the declared length and hashes to the object's id.
fn check_content(e: &IndexEntry, raw: &[u8]) -> Result<()> {
    if raw.len() != e.raw_len as usize {
        return Err(Error::Corrupt {
            id: e.id,
            message: format!("expected {} bytes, decoded {}", e.raw_len, raw.len()),
        });
    }
    if ObjectId::of(raw) != e.id {
        return Err(Error::Corrupt {
            id: e.id,
            message: "content does not match its hash".into(),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn entry(seed: u8, offset: u64, stored_len: u32) -> IndexEntry {
        IndexEntry {
            id: ObjectId([seed; 32]),
            offset,
            kind: ObjectKind::Chunk,
            compression: Compression::None,
            raw_len: stored_len,
            stored_len,
        }
    }

    #[test]
    fn a_pack_is_reindexed_from_its_own_bytes() {
        let objects: Vec<Vec<u8>> = (0..5u8).map(|i| vec![i; 10 + i as usize * 7]).collect();
        let mut data = pack_header().to_vec();
        let mut entries = Vec::new();
        for o in &objects {
            let e = IndexEntry {
                id: ObjectId::of(o),
                offset: data.len() as u64,
                kind: ObjectKind::Chunk,
                compression: Compression::None,
                raw_len: o.len() as u32,
                stored_len: o.len() as u32,
            };
            data.extend_from_slice(&entry_header(&e));
            data.extend_from_slice(o);
            entries.push(e);
        }
        let index = PackIndex::new(entries, data.len() as u64);
        assert_eq!(reindex(&data).unwrap(), index);
        assert!(reindex(&data[..data.len() - 1]).is_err());
        assert!(reindex(&data[4..]).is_err());
    }

    #[test]
    fn index_golden_layout() {
        let idx = PackIndex::new(
            vec![entry(2, 8 + 44 + 3, 4), entry(1, 8, 3)],
            8 + 44 + 3 + 44 + 4,
        );
        let bytes = idx.encode();
        assert_eq!(&bytes[..8], b"DVIX\x01\x00\x00\x00");
        assert_eq!(bytes.len(), INDEX_HEADER_LEN + 2 * INDEX_ENTRY_LEN + 32);
        assert_eq!(idx.entries[0].id, ObjectId([1; 32]));
        assert_eq!(
            idx.pack_id.to_hex(),
            "f1bb1c648f3f4c88f062d74aa7eee9364985a20abc7f71d8ef56531982e5a60e"
        );
        assert_eq!(PackIndex::decode(&bytes).unwrap(), idx);
    }

    #[test]
    fn an_entry_ending_past_2_pow_64_is_refused() {
        // Its end saturated to u64::MAX once, inside a pack of u64::MAX bytes: accepted, and then every
        // `offset + length` overflowed (a hostile remote index could make fsck panic).
        let e = IndexEntry {
            offset: u64::MAX - 8,
            ..entry(1, 8, 10)
        };
        let bytes = PackIndex::new(vec![e], u64::MAX).encode();
        let err = PackIndex::decode(&bytes).unwrap_err().to_string();
        assert!(err.contains("past the end"), "{err}");
    }

    #[test]
    fn index_rejects_overlap_out_of_range_and_damage() {
        let overlap = PackIndex::new(vec![entry(1, 8, 10), entry(2, 20, 10)], 1000).encode();
        assert!(
            PackIndex::decode(&overlap)
                .unwrap_err()
                .to_string()
                .contains("overlap")
        );
        let past_end = PackIndex::new(vec![entry(1, 8, 10)], 20).encode();
        assert!(
            PackIndex::decode(&past_end)
                .unwrap_err()
                .to_string()
                .contains("past the end")
        );
        let in_header = PackIndex::new(vec![entry(1, 0, 10)], 1000).encode();
        assert!(PackIndex::decode(&in_header).is_err());
        let mut flipped = PackIndex::new(vec![entry(1, 8, 10)], 1000).encode();
        flipped[50] ^= 1;
        assert!(
            PackIndex::decode(&flipped)
                .unwrap_err()
                .to_string()
                .contains("checksum")
        );
    }

    #[test]
    fn decode_object_catches_bombs_and_wrong_content() {
        let raw = vec![7u8; 100_000];
        let stored = zstd::bulk::compress(&raw, 3).unwrap();
        let mut e = IndexEntry {
            id: ObjectId::of(&raw),
            offset: 8,
            kind: ObjectKind::Chunk,
            compression: Compression::Zstd,
            raw_len: raw.len() as u32,
            stored_len: stored.len() as u32,
        };
        assert_eq!(decode_object(&e, &stored).unwrap(), raw);
        e.raw_len = 1000; // claims less than the stream expands to: must stop, not grow
        assert!(decode_object(&e, &stored).is_err());
        e.raw_len = raw.len() as u32;
        e.id = ObjectId([0; 32]);
        assert!(
            decode_object(&e, &stored)
                .unwrap_err()
                .to_string()
                .contains("does not match")
        );
    }

    #[test]
    fn verify_object_checks_what_decode_object_checks() {
        let big = vec![5u8; 3 << 20];
        let raw = vec![7u8; 100_000];
        let entry = |raw: &[u8], stored: &[u8], compression| IndexEntry {
            id: ObjectId::of(raw),
            offset: 8,
            kind: ObjectKind::Chunk,
            compression,
            raw_len: raw.len() as u32,
            stored_len: stored.len() as u32,
        };
        // A large object first, so this thread's buffer is already longer than what follows declares.
        let big_stored = zstd::bulk::compress(&big, 3).unwrap();
        verify_object(&entry(&big, &big_stored, Compression::Zstd), &big_stored).unwrap();
        let stored = zstd::bulk::compress(&raw, 3).unwrap();
        let mut e = entry(&raw, &stored, Compression::Zstd);
        verify_object(&e, &stored).unwrap();
        e.raw_len = 1000; // the stream expands past what the entry declares
        assert!(verify_object(&e, &stored).is_err());
        e.raw_len = 200_000; // ...or falls short of it
        assert!(verify_object(&e, &stored).is_err());
        e.raw_len = raw.len() as u32;
        e.id = ObjectId([0; 32]);
        let err = verify_object(&e, &stored).unwrap_err().to_string();
        assert!(err.contains("does not match"), "{err}");
        // Stored as is: hashed where it lies.
        let mut e = entry(&raw, &raw, Compression::None);
        verify_object(&e, &raw).unwrap();
        let mut flipped = raw.clone();
        flipped[500] ^= 1;
        assert!(verify_object(&e, &flipped).is_err());
        e.stored_len -= 1;
        assert!(verify_object(&e, &raw).is_err());
        // Larger than the reused buffer: the same checks through decode_object.
        let huge = vec![9u8; 5 << 20];
        let huge_stored = zstd::bulk::compress(&huge, 3).unwrap();
        let mut e = entry(&huge, &huge_stored, Compression::Zstd);
        verify_object(&e, &huge_stored).unwrap();
        e.raw_len = 5 << 19;
        assert!(verify_object(&e, &huge_stored).is_err());
    }

    proptest! {
        #[test]
        fn index_round_trips(lens in proptest::collection::vec(0u32..5000, 0..40)) {
            let mut offset = PACK_HEADER_LEN;
            let entries: Vec<IndexEntry> = lens.iter().enumerate().map(|(i, &len)| {
                let e = IndexEntry { id: ObjectId::of(&(i as u64).to_le_bytes()), offset, kind: ObjectKind::Tree,
                    compression: Compression::Zstd, raw_len: len + 1, stored_len: len };
                offset += ENTRY_HEADER_LEN + len as u64;
                e
            }).collect();
            let idx = PackIndex::new(entries, offset);
            prop_assert_eq!(PackIndex::decode(&idx.encode()).unwrap(), idx);
        }

        #[test]
        fn index_decode_never_panics(data in proptest::collection::vec(any::<u8>(), 0..400)) {
            let _ = PackIndex::decode(&data);
        }
    }
}
