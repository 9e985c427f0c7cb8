//! Use records (`uses/<id>.use` on a remote): the packs a push relied on without uploading their objects again.
//! `dv gc --remote` treats a pack named by a record younger than its grace period as if the pack itself were
//! that young, so what a push reuses is never collected under it. See docs/format.md, "Remote gc protocol".

use super::bytes::Reader;
use crate::{Error, ObjectId, Result};

const MAGIC: &[u8; 4] = b"DVUS";
const VERSION: u32 = 1;

/// Encodes a record of `packs` (sorted and deduplicated here, so equal sets give equal bytes and one name).
pub fn encode(packs: &[ObjectId]) -> Vec<u8> {
    let mut packs = packs.to_vec();
    packs.sort_unstable();
    packs.dedup();
    let mut out = Vec::with_capacity(12 + packs.len() * 32 + 32);
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&VERSION.to_le_bytes());
    out.extend_from_slice(&(packs.len() as u32).to_le_bytes());
    for p in &packs {
        out.extend_from_slice(p.as_bytes());
    }
    let sum = ObjectId::of(&out);
    out.extend_from_slice(sum.as_bytes());
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
    r.header(MAGIC, VERSION)?;
    if ObjectId::of(body).as_bytes() != sum {
        return Err(Error::format(
            what,
            "checksum mismatch: the record is damaged",
        ));
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
        let rec = encode(&[b, a, b]);
        let mut want = vec![a, b];
        want.sort();
        assert_eq!(decode(&rec).unwrap(), want);
        assert_eq!(name(&rec), name(&encode(&[a, b])));
        assert_eq!(decode(&encode(&[])).unwrap(), Vec::<ObjectId>::new());
        for i in [0, 5, 12, 20, rec.len() - 1] {
            let mut bad = rec.clone();
            bad[i] ^= 1;
            assert!(decode(&bad).is_err(), "byte {i}");
        }
        assert!(decode(&rec[..rec.len() - 1]).is_err());
    }

    #[test]
    fn golden_layout() {
        let rec = encode(&[ObjectId::of(b"a")]);
        assert_eq!(&rec[..12], b"DVUS\x01\x00\x00\x00\x01\x00\x00\x00");
        assert_eq!(rec.len(), 12 + 32 + 32);
        assert_eq!(&rec[12..44], ObjectId::of(b"a").as_bytes());
    }
}
