//! Tree objects come from remotes: parsing must never panic, and accepted names must be safe path components.
//! Both shapes: a whole folder or a leaf (`DVTR`), and an index over leaves (`DVTX`).
#![no_main]
use dv_core::store::split::TreeNode;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    match TreeNode::decode(data) {
        Ok(TreeNode::Leaf(t)) => {
            for e in &t.entries {
                assert!(dv_core::store::object::check_name(&e.name).is_ok());
            }
            assert_eq!(t.encode(), data, "an accepted tree is canonical");
        }
        Ok(TreeNode::Index(i)) => {
            for c in &i.children {
                assert!(dv_core::store::object::check_name(&c.last).is_ok());
                assert!(c.entries > 0);
            }
            assert_eq!(i.encode(), data, "an accepted index is canonical");
        }
        Err(_) => {}
    }
});
