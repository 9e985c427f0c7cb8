//! Step files come from Git (any clone, any branch): parsing must never panic, and whatever parses must encode
//! to text that parses again.
#![no_main]

use dv_core::steps::Step;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(step) = Step::decode("fuzz", data, "fuzz.toml") {
        let text = step.encode();
        Step::decode("fuzz", text.as_bytes(), "re-encoded").expect("an encoded step parses");
    }
});
