//! Use records (`uses/<id>.use` on a remote): the packs a push relied on without uploading their objects again.
//! `dv gc --remote` treats a pack named by a record younger than its grace period as if the pack itself were
//! that young, so what a push reuses is never collected under it. See docs/format.md, "Remote gc protocol".
//!
//! Version 2 records carry a random nonce, so every record a push writes is a new file: a gc that listed an
//! old record and deletes it can never delete a record a push just wrote (version 1 records, named by their
//! packs alone, were written again under the same name, and a gc could delete the refreshed file).

use super::bytes::Reader;
use crate::{Error, ObjectId, Result};

const MAGIC: &[u8; 4] = b"DVUS";
const VERSION: u32 = 2;
/// Bytes of the nonce of a version 2 record.
pub const NONCE_LEN: usize = 16;

/// Encodes a record of `packs` (sorted and deduplicated here) with `nonce`: a push passes `fresh_nonce()`, so
/// each record it writes has a name of its own; the clock record gc writes passes zeros (one fixed name).
pub fn encode(packs: &[ObjectId], nonce: &[u8; NONCE_LEN]) -> Vec<u8> {
    let mut packs = packs.to_vec();
    packs.sort_unstable();
    packs.dedup();
    let mut out = Vec::with_capacity(12 + NONCE_LEN + packs.len() * 32 + 32);
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&VERSION.to_le_bytes());
    out.extend_from_slice(nonce);
    out.extend_from_slice(&(packs.len() as u32).to_le_bytes());
    for p in &packs {
        out.extend_from_slice(p.as_bytes());
    }
    let sum = ObjectId::of(&out);
    out.extend_from_slice(sum.as_bytes());
    out
}

/// A nonce no other record has: 16 bytes of the BLAKE3 of the process's random hash keys (seeded by the
/// operating system), the time, the process id and a counter.
pub fn fresh_nonce() -> [u8; NONCE_LEN] {
    use std::hash::{BuildHasher, Hasher};
    static COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let mut h = blake3::Hasher::new();
    for _ in 0..2 {
        let mut k = std::collections::hash_map::RandomState::new().build_hasher();
        k.write_u64(COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed));
        h.update(&k.finish().to_le_bytes());
    }
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    h.update(&now.to_le_bytes());
    h.update(&std::process::id().to_le_bytes());
    let mut out = [0u8; NONCE_LEN];
    out.copy_from_slice(&h.finalize().as_bytes()[..NONCE_LEN]);
    out
}

/// A record's name: the BLAKE3 of its bytes.
pub fn name(encoded: &[u8]) -> ObjectId {
    ObjectId::of(encoded)
}

/// Decodes a record: the packs it names.
pub fn decode(data: &[u8]) -> Result<Vec<ObjectId>> {
    let what = "use record";
    if data.len() < 12 + 32 {
        return Err(Error::format(
            what,
            format!("too short ({} bytes)", data.len()),
        ));
    }
    let (body, sum) = data.split_at(data.len() - 32);
    let mut r = Reader::new(body, what);
    let version = r.header(MAGIC, VERSION)?;
    if ObjectId::of(body).as_bytes() != sum {
        return Err(Error::format(
            what,
            "checksum mismatch: the record is damaged",
        ));
    }
    if version >= 2 {
        r.take(NONCE_LEN)
            .map_err(|_| r.error("too short for its nonce"))?;
    }
    let count = r.u32()? as usize;
    if r.remaining() != count.saturating_mul(32) {
        return Err(r.error(format!("{count} packs do not fit {} bytes", r.remaining())));
    }
    let mut out: Vec<ObjectId> = Vec::with_capacity(count);
    for _ in 0..count {
        let id = r.id()?;
        if out.last().is_some_and(|p| *p >= id) {
            return Err(r.error("packs out of order or repeated"));
        }
        out.push(id);
    }
    r.finish()?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_round_trip_and_damage_is_refused() {
        let a = ObjectId::of(b"a");
        let b = ObjectId::of(b"b");
        let n = fresh_nonce();
        let rec = encode(&[b, a, b], &n);
        let mut want = vec![a, b];
        want.sort();
        assert_eq!(decode(&rec).unwrap(), want);
        assert_eq!(name(&rec), name(&encode(&[a, b], &n)));
        assert_ne!(name(&rec), name(&encode(&[a, b], &fresh_nonce())));
        assert_eq!(decode(&encode(&[], &n)).unwrap(), Vec::<ObjectId>::new());
        for i in [0, 5, 12, 20, 30, rec.len() - 1] {
            let mut bad = rec.clone();
            bad[i] ^= 1;
            assert!(decode(&bad).is_err(), "byte {i}");
        }
        assert!(decode(&rec[..rec.len() - 1]).is_err());
    }

    #[test]
    fn golden_layout() {
        let rec = encode(&[ObjectId::of(b"a")], &[7; NONCE_LEN]);
        assert_eq!(&rec[..8], b"DVUS\x02\x00\x00\x00");
        assert_eq!(&rec[8..24], &[7; NONCE_LEN]);
        assert_eq!(&rec[24..28], b"\x01\x00\x00\x00");
        assert_eq!(rec.len(), 28 + 32 + 32);
        assert_eq!(&rec[28..60], ObjectId::of(b"a").as_bytes());
    }

    #[test]
    fn version_1_records_are_still_read() {
        let a = ObjectId::of(b"a");
        let mut rec = b"DVUS\x01\x00\x00\x00\x01\x00\x00\x00".to_vec();
        rec.extend_from_slice(a.as_bytes());
        let sum = ObjectId::of(&rec);
        rec.extend_from_slice(sum.as_bytes());
        assert_eq!(decode(&rec).unwrap(), vec![a]);
    }
}
