//! Row tree nodes, table headers, keys and rows come from remotes: parsing must never panic, and whatever is
//! accepted must be canonical (it re-encodes to the same bytes).
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(n) = dv_core::table::rowtree::Node::decode(data) {
        assert_eq!(n.encode(), data, "an accepted node is canonical");
        if let dv_core::table::rowtree::Node::Leaf(rows) = &n {
            for (k, r) in rows {
                let _ = dv_core::table::decode_key(k);
                let _ = dv_core::table::decode_row(r);
            }
        }
    }
    if let Ok(h) = dv_core::table::Header::decode(data) {
        assert_eq!(h.encode(), data, "an accepted header is canonical");
        let _ = h.row_cells(data);
    }
});
