//! Packs come from remotes, i.e. from anyone: reading an object out of arbitrary pack bytes with an arbitrary
//! index must never panic, never allocate beyond the index's stated size (a decompression bomb is refused),
//! and anything it returns must hash to the id it was asked for.
#![no_main]
use dv_core::store::pack::{self, ENTRY_HEADER_LEN, INDEX_ENTRY_LEN, INDEX_MAGIC, INDEX_VERSION, PackIndex};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // The first two bytes say how long the index is; the rest of the input is the pack.
    if data.len() < 2 {
        return;
    }
    let split = (u16::from_le_bytes([data[0], data[1]]) as usize).min(data.len() - 2);
    let (index, pack_bytes) = data[2..].split_at(split);
    // The index part is framed with a correct header, pack id and checksum: the first 8 bytes are the pack
    // size, the rest whole entries (random bytes would almost never pass the checksum).
    if index.len() < 8 {
        return;
    }
    let (size, rest) = index.split_at(8);
    let table = &rest[..rest.len() / INDEX_ENTRY_LEN * INDEX_ENTRY_LEN];
    let mut framed = Vec::with_capacity(60 + table.len());
    framed.extend_from_slice(INDEX_MAGIC);
    framed.extend_from_slice(&INDEX_VERSION.to_le_bytes());
    framed.extend_from_slice(dv_core::ObjectId::of(table).as_bytes());
    framed.extend_from_slice(size);
    framed.extend_from_slice(&((table.len() / INDEX_ENTRY_LEN) as u32).to_le_bytes());
    framed.extend_from_slice(table);
    let sum = dv_core::ObjectId::of(&framed);
    framed.extend_from_slice(sum.as_bytes());
    let Ok(index) = PackIndex::decode(&framed) else {
        return;
    };
    let _ = pack::check_pack_header(pack_bytes, "fuzz");
    for e in &index.entries {
        let start = e.offset as usize;
        let end = start + ENTRY_HEADER_LEN as usize + e.stored_len as usize;
        if end > pack_bytes.len() {
            continue;
        }
        let entry = &pack_bytes[start..end];
        if pack::check_entry_header(entry, e).is_err() {
            continue;
        }
        if let Ok(raw) = pack::decode_object(e, &entry[ENTRY_HEADER_LEN as usize..]) {
            assert_eq!(dv_core::ObjectId::of(&raw), e.id);
            assert_eq!(raw.len(), e.raw_len as usize);
        }
    }
});
