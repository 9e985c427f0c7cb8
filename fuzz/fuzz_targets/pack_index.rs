//! Pack indexes come from remotes: parsing must never panic, and an accepted index must describe entries that
//! lie inside the pack without overlapping. Each input is tried as it is, and framed with a correct pack id and
//! checksum (which random bytes almost never have), so the fuzzer reaches the checks of every field.
#![no_main]
use dv_core::store::pack::{INDEX_ENTRY_LEN, INDEX_MAGIC, INDEX_VERSION, PackIndex};
use libfuzzer_sys::fuzz_target;

fn check(data: &[u8]) {
    if let Ok(idx) = PackIndex::decode(data) {
        assert_eq!(idx.encode(), data, "an accepted index is canonical");
        let mut ranges: Vec<_> = idx.entries.iter().map(|e| e.range()).collect();
        ranges.sort_by_key(|r| r.start);
        for w in ranges.windows(2) {
            assert!(w[0].end <= w[1].start, "accepted entries overlap");
        }
        for r in &ranges {
            assert!(r.end <= idx.pack_size, "an accepted entry lies past the pack");
        }
    }
}

/// The first 8 bytes are the pack size, the rest whole index entries; the header, pack id and checksum are
/// made correct.
fn framed(data: &[u8]) -> Vec<u8> {
    let (size, rest) = data.split_at(8);
    let table = &rest[..rest.len() / INDEX_ENTRY_LEN * INDEX_ENTRY_LEN];
    let mut out = Vec::with_capacity(60 + table.len());
    out.extend_from_slice(INDEX_MAGIC);
    out.extend_from_slice(&INDEX_VERSION.to_le_bytes());
    out.extend_from_slice(dv_core::ObjectId::of(table).as_bytes());
    out.extend_from_slice(size);
    out.extend_from_slice(&((table.len() / INDEX_ENTRY_LEN) as u32).to_le_bytes());
    out.extend_from_slice(table);
    let sum = dv_core::ObjectId::of(&out);
    out.extend_from_slice(sum.as_bytes());
    out
}

fuzz_target!(|data: &[u8]| {
    check(data);
    if data.len() >= 8 {
        check(&framed(data));
    }
});
