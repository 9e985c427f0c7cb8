//! The plan of a gc: given each pack's index, whether it is in grace, and what is live, which packs to
//! delete and which to repack (with their live entries), choosing one copy of each duplicated object.

use std::collections::HashSet;

use super::{GcOptions, GcReport};
use crate::ObjectId;
use crate::store::pack::{IndexEntry, PackIndex};

/// What to do with each pack.
pub(super) struct Plan {
    pub(super) delete: Vec<PackIndex>,
    /// Packs to rewrite, with their live entries.
    pub(super) repack: Vec<(PackIndex, Vec<IndexEntry>)>,
    pub(super) live_objects: u64,
    pub(super) in_grace: u64,
}

impl Plan {
    /// Adds what the plan deletes and keeps to `report` (before any new pack is written).
    pub(super) fn count_into(&self, report: &mut GcReport) {
        report.packs_in_grace = self.in_grace;
        report.objects_kept = self.live_objects;
        report.packs_deleted = self.delete.len() as u64;
        report.packs_repacked = self.repack.len() as u64;
        for i in &self.delete {
            report.objects_deleted += i.entries.len() as u64;
            report.bytes_freed += i.pack_size;
        }
        for (i, live) in &self.repack {
            report.objects_deleted += (i.entries.len() - live.len()) as u64;
            report.bytes_freed += i.pack_size;
        }
    }
}

/// How a plan chooses which copy of a duplicated object to keep.
#[derive(Clone, Copy)]
pub(super) enum Dedup<'d> {
    /// The cache (one gc at a time, under the repository lock): a copy in a pack in grace wins, then the copy
    /// in the fuller pack, so duplicates are dropped from the emptier ones.
    Fullest,
    /// A remote, which two gcs (with different scopes, at different moments of a pack's grace) may collect at
    /// once: the copy in the old pack with the smallest id wins, whatever is live and whatever is young, so two
    /// gcs never each keep the copy the other drops. A copy in the set, (pack, object), is damaged while
    /// another copy verifies (`damaged_duplicates`): it is never the one kept.
    SmallestPackId(&'d HashSet<(ObjectId, ObjectId)>),
}

pub(super) fn plan(
    indexes: Vec<(PackIndex, bool)>,
    live: &HashSet<ObjectId>,
    opts: &GcOptions,
    dedup: Dedup,
) -> Plan {
    let no_damage = HashSet::new();
    let damaged = match dedup {
        Dedup::SmallestPackId(d) => d,
        Dedup::Fullest => &no_damage,
    };
    let mut p = Plan {
        delete: Vec::new(),
        repack: Vec::new(),
        live_objects: 0,
        in_grace: 0,
    };
    // An object kept once is dead everywhere else. Packs in grace keep all they hold.
    let mut kept: HashSet<ObjectId> = HashSet::new();
    let mut young_objects: HashSet<ObjectId> = HashSet::new();
    let mut old = Vec::new();
    for (index, young) in indexes {
        if young {
            p.in_grace += 1;
            young_objects.extend(index.entries.iter().map(|e| e.id));
            if matches!(dedup, Dedup::Fullest) {
                kept.extend(index.entries.iter().map(|e| e.id));
            }
        } else {
            old.push(index);
        }
    }
    match dedup {
        // Fuller packs first, so duplicates are dropped from the emptier ones.
        Dedup::Fullest => old.sort_by_key(|i| {
            std::cmp::Reverse(
                i.entries
                    .iter()
                    .filter(|e| live.contains(&e.id))
                    .map(|e| e.stored_len as u64)
                    .sum::<u64>(),
            )
        }),
        Dedup::SmallestPackId(_) => old.sort_by_key(|i| i.pack_id),
    }
    for index in old {
        let live_entries: Vec<IndexEntry> = index
            .entries
            .iter()
            .filter(|e| {
                live.contains(&e.id)
                    && !damaged.contains(&(index.pack_id, e.id))
                    && kept.insert(e.id)
            })
            .copied()
            .collect();
        let live_bytes: u64 = live_entries.iter().map(|e| e.stored_len as u64).sum();
        let all_bytes: u64 = index.entries.iter().map(|e| e.stored_len as u64).sum();
        // A pack with nothing dead has `live_bytes == all_bytes`, so it is never below a share of at most 1
        // (the CLI refuses more): no test of the entry counts is needed, nor one that could drift from this.
        if live_entries.is_empty() {
            p.delete.push(index);
        } else if (live_bytes as f64) < opts.repack_below * all_bytes as f64 {
            p.repack.push((index, live_entries));
        }
    }
    kept.extend(young_objects);
    p.live_objects = kept.len() as u64;
    p
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::object::ObjectKind;
    use crate::store::pack::Compression;

    fn entry(n: u8, len: u32) -> IndexEntry {
        IndexEntry {
            id: ObjectId::of(&[n]),
            offset: 8,
            kind: ObjectKind::Chunk,
            compression: Compression::None,
            raw_len: len,
            stored_len: len,
        }
    }

    #[test]
    fn plan_deletes_dead_packs_repacks_sparse_ones_and_spares_young_ones() {
        let dead = PackIndex::new(vec![entry(1, 100)], 200);
        let sparse = PackIndex::new(vec![entry(2, 10), entry(3, 1000)], 1100);
        let full = PackIndex::new(vec![entry(4, 100), entry(5, 100)], 300);
        let young = PackIndex::new(vec![entry(6, 100)], 200);
        let live: HashSet<ObjectId> = [2u8, 4, 5].iter().map(|n| ObjectId::of(&[*n])).collect();
        let p = plan(
            vec![
                (dead.clone(), false),
                (sparse.clone(), false),
                (full, false),
                (young, true),
            ],
            &live,
            &GcOptions::default(),
            Dedup::Fullest,
        );
        assert_eq!(
            p.delete.iter().map(|i| i.pack_id).collect::<Vec<_>>(),
            vec![dead.pack_id]
        );
        assert_eq!(p.repack.len(), 1);
        assert_eq!(p.repack[0].0.pack_id, sparse.pack_id);
        assert_eq!(p.repack[0].1, vec![entry(2, 10)]);
        assert_eq!(p.in_grace, 1);
    }

    #[test]
    fn on_a_remote_a_duplicate_stays_in_the_old_pack_with_the_smallest_id() {
        let a = PackIndex::new(vec![entry(1, 100), entry(2, 100)], 300);
        let b = PackIndex::new(vec![entry(1, 100)], 200);
        let young = PackIndex::new(vec![entry(1, 100)], 200);
        let live: HashSet<ObjectId> = [1u8, 2].iter().map(|n| ObjectId::of(&[*n])).collect();
        let (small, large) = if a.pack_id < b.pack_id {
            (a.clone(), b.clone())
        } else {
            (b.clone(), a.clone())
        };
        // Whatever the order given and whatever a young pack holds, two gcs keep the same copy.
        for order in [vec![a.clone(), b.clone()], vec![b.clone(), a.clone()]] {
            let mut indexes: Vec<(PackIndex, bool)> =
                order.into_iter().map(|i| (i, false)).collect();
            indexes.push((young.clone(), true));
            let p = plan(
                indexes,
                &live,
                &GcOptions::default(),
                Dedup::SmallestPackId(&HashSet::new()),
            );
            let dropped: Vec<ObjectId> = p
                .delete
                .iter()
                .map(|i| i.pack_id)
                .chain(p.repack.iter().map(|(i, _)| i.pack_id))
                .collect();
            assert!(
                !dropped.contains(&small.pack_id),
                "the smallest id keeps its copy"
            );
            if large.entries.len() == 1 {
                assert_eq!(dropped, vec![large.pack_id]);
            }
        }
    }

    #[test]
    fn a_duplicate_is_kept_once() {
        let a = PackIndex::new(vec![entry(1, 100), entry(2, 100)], 300);
        let b = PackIndex::new(vec![entry(1, 100)], 200);
        let live: HashSet<ObjectId> = [1u8, 2].iter().map(|n| ObjectId::of(&[*n])).collect();
        let p = plan(
            vec![(b.clone(), false), (a, false)],
            &live,
            &GcOptions::default(),
            Dedup::Fullest,
        );
        assert_eq!(
            p.delete.iter().map(|i| i.pack_id).collect::<Vec<_>>(),
            vec![b.pack_id]
        );
        assert!(p.repack.is_empty());
    }
}
