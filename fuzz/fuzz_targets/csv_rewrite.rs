//! A merged CSV table is written from our version's bytes (from the cache, so from anyone): the rewrite must
//! never panic, must give back a file it left alone byte for byte, and must refuse an edit of a row the file
//! lacks rather than write a file without it.
#![no_main]
use libfuzzer_sys::fuzz_target;
use std::collections::HashMap;

use dv_core::table::csv_writer::{Edits, rewrite};

fuzz_target!(|data: &[u8]| {
    let key = vec!["id".to_string()];
    let columns = vec!["id".to_string(), "v".to_string()];
    let none = HashMap::new();
    let mut out = Vec::new();
    let plain = Edits { key: &key, columns: &columns, from: &[], their_from: &[], rows: &none, appended: &[] };
    if rewrite(data, "fuzz.csv", "csv", &plain, &mut out).is_ok() && data.starts_with(b"id,v\n") {
        assert_eq!(out, data, "a file left alone comes back byte for byte");
    }
    // An edit of a key no row has is an error.
    let k = dv_core::table::encode_key(std::iter::once(Some("\u{1}no such key")));
    let edit: HashMap<Vec<u8>, Option<Vec<Option<String>>>> = [(k, None)].into_iter().collect();
    let edits = Edits { key: &key, columns: &columns, from: &[], their_from: &[], rows: &edit, appended: &[] };
    assert!(rewrite(data, "fuzz.csv", "csv", &edits, &mut Vec::new()).is_err());
});
