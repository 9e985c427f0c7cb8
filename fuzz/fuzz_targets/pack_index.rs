//! Pack indexes come from remotes: parsing must never panic, and an accepted index must describe entries that
//! lie inside the pack without overlapping.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(idx) = dv::store::pack::PackIndex::decode(data) {
        assert_eq!(idx.encode(), data, "an accepted index is canonical");
        for e in &idx.entries {
            assert!(e.range().end <= idx.pack_size);
        }
    }
});
