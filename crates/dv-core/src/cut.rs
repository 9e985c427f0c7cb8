//! Content-defined cut points: where a node of a row tree, a split tree or a split manifest ends. A node ends
//! after an item whose hash, salted by the node's level, has its low bits zero, so where nodes end depends only on
//! the items, never on the order they were written in, and two versions share every node whose items are equal.

/// The boundary hash of a key: FNV-1a, then the SplitMix64 finaliser. Part of the format: changing it reshapes
/// every tree (and loses sharing with trees already stored), so it is pinned by a golden test.
pub fn key_hash(key: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in key {
        h ^= b as u64;
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h ^= h >> 30;
    h = h.wrapping_mul(0xbf58_476d_1ce4_e5b9);
    h ^= h >> 27;
    h = h.wrapping_mul(0x94d0_49bb_1331_11eb);
    h ^ (h >> 31)
}

/// The hash that decides whether a node ends after `key` at `level`: the key hash salted by the level, so the
/// last key of a node does not end its parent too.
pub fn boundary_hash(key: &[u8], level: u8) -> u64 {
    let mut z = key_hash(key) ^ (level as u64 + 1).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    z ^= z >> 30;
    z = z.wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z ^= z >> 27;
    z = z.wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}
