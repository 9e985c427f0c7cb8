//! Pointer files come from Git, i.e. from anyone: parsing must never panic, and what parses must re-encode to
//! something that parses to the same value.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // Telling a pointer file from another `*.dv` file must never panic either.
    let looks_like = dv_core::pointer::Pointer::looks_like(data);
    if let Ok(p) = dv_core::pointer::Pointer::decode(data, "fuzz") {
        let again = dv_core::pointer::Pointer::decode(p.encode().as_bytes(), "fuzz").expect("re-encoded pointer parses");
        assert_eq!(again, p);
        assert!(looks_like, "a file that parses as a pointer looks like one");
    }
});
