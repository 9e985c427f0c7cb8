//! File manifests come from remotes: parsing must never panic, and accepted ones re-encode to the same bytes.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(m) = dv_core::store::object::Manifest::decode(data) {
        assert_eq!(m.encode(), data);
    }
});
