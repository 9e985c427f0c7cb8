//! File manifests come from remotes: parsing must never panic, and accepted ones re-encode to the same bytes.
//! Both shapes: a chunk list (`DVMF`) and an index over chunk lists (`DVMX`).
#![no_main]
use dv_core::store::split::ManifestNode;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    match ManifestNode::decode(data) {
        Ok(ManifestNode::Leaf(m)) => assert_eq!(m.encode(), data),
        Ok(ManifestNode::Index(i)) => {
            assert!(i.children.iter().all(|c| c.chunks > 0 && c.size >= c.chunks));
            assert_eq!(i.encode(), data);
        }
        Err(_) => {}
    }
});
