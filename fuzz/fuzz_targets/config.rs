//! `.dv/config.toml` comes from Git, i.e. from anyone: parsing must never panic, and what parses must
//! re-encode to text that parses to the same settings.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(c) = dv_core::repo::Config::parse(text, "fuzz") {
        let again = dv_core::repo::Config::parse(&c.to_text(), "fuzz").expect("re-encoded config parses");
        assert_eq!(again, c);
    }
});
