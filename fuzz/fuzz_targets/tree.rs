//! Tree objects come from remotes: parsing must never panic, and accepted names must be safe path components.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(t) = dv_core::store::object::Tree::decode(data) {
        for e in &t.entries {
            assert!(dv_core::store::object::check_name(&e.name).is_ok());
        }
        assert_eq!(t.encode(), data, "an accepted tree is canonical");
    }
});
