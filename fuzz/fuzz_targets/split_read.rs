//! A split folder or file is read whole through its index nodes, every one from a remote: assembling must never
//! panic, loop or overflow, and what it accepts must be a sound folder (names safe, strictly increasing) or chunk
//! list. The input is a set of objects, each `len u16 LE | bytes`; the first is the root.
#![no_main]
use std::collections::HashMap;

use dv_core::ObjectId;
use dv_core::store::split::{read_manifest, read_tree};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut objects: HashMap<ObjectId, Vec<u8>> = HashMap::new();
    let mut root = None;
    let mut rest = data;
    while rest.len() >= 2 {
        let len = u16::from_le_bytes([rest[0], rest[1]]) as usize;
        let body = &rest[2..(2 + len).min(rest.len())];
        let id = ObjectId::of(body);
        root.get_or_insert(id);
        objects.insert(id, body.to_vec());
        rest = &rest[(2 + len).min(rest.len())..];
    }
    let Some(root) = root else { return };
    let mut read = |id: &ObjectId| {
        objects
            .get(id)
            .cloned()
            .ok_or_else(|| dv_core::Error::Internal("missing".into()))
    };
    if let Ok(t) = read_tree(&root, &mut read) {
        for pair in t.entries.windows(2) {
            assert!(pair[0].name.as_bytes() < pair[1].name.as_bytes());
        }
        for e in &t.entries {
            assert!(dv_core::store::object::check_name(&e.name).is_ok());
        }
    }
    if let Ok(m) = read_manifest(&root, &mut read) {
        assert!(m.chunks.iter().all(|&(_, len)| len > 0));
    }
});
