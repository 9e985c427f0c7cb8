//! safetensors headers come from whoever committed the model: parsing must never panic, what is accepted must
//! hold every rule dv relies on (tensors inside the data, sizes consistent, names unique), reading the header
//! through chunks must agree with reading it whole, and a file diffed against itself must be empty.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let parsed = dv_core::model::safetensors::parse(data, "fuzz");
    let mut file = dv_core::model::StoredFile::from_bytes("fuzz", data);
    let chunked = dv_core::model::read_header(&mut file);
    match (&parsed, &chunked) {
        (Ok(a), Ok(b)) => assert_eq!(a, b, "whole and chunked reads agree"),
        (Err(a), Err(b)) => assert_eq!(a.to_string(), b.to_string()),
        _ => panic!("whole and chunked reads disagree: {parsed:?} vs {chunked:?}"),
    }
    let Ok(h) = parsed else { return };
    let data_len = data.len() as u64 - h.data_start();
    for w in h.tensors.windows(2) {
        assert!(w[0].name < w[1].name, "names sorted and unique");
    }
    for t in &h.tensors {
        assert!(!t.name.is_empty());
        assert!(
            t.begin <= t.end && t.end <= data_len,
            "inside the data area"
        );
        assert_eq!(t.end - t.begin, t.elements * t.dtype.size());
    }
    let (mut a, mut b) = (
        dv_core::model::StoredFile::from_bytes("a", data),
        dv_core::model::StoredFile::from_bytes("b", data),
    );
    let d = dv_core::model::diff(Some(&mut a), Some(&mut b)).expect("a valid file diffs");
    assert!(
        d.is_empty() && d.bytes_compared == 0,
        "a file against itself"
    );
});
