//! `dv fsck`: verify every pack against its index and every object by its hash, locally or on a remote, and
//! check that every pointer in scope reaches only objects that are there and sound.
//!
//! This file holds the report; check.rs finds what is wrong (in the cache or on a remote), repair.rs mends it
//! (`--repair`).

use super::reach::Problem;

mod check;
mod repair;

pub(crate) use check::names_with_index;
pub use check::{fsck_cache, fsck_remote, list_pack_files};
pub use repair::{repair, repair_remote};

#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct FsckReport {
    /// `cache` or `remote NAME`.
    pub checked: String,
    pub packs: u64,
    pub objects: u64,
    pub bytes: u64,
    /// Objects that fail verification, by pack.
    pub damaged: Vec<DamagedObject>,
    /// Packs or index files that cannot be used at all.
    pub damaged_packs: Vec<DamagedPack>,
    /// Pack files no index names (left by an interrupted write; harmless, `dv gc` removes them).
    pub unindexed_packs: u64,
    /// Problems reaching the datasets in scope: missing or corrupt objects under a pointer.
    pub datasets_checked: u64,
    pub problems: Vec<Problem>,
    /// Objects `--repair` fetched again from a remote.
    pub repaired: u64,
    /// Pointer files in scope that describe no dataset although they should be read as one (a pointer file Git
    /// tracks inside another dataset's folder); absent when there are none.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub pointer_problems: Vec<super::datasets::NotPointer>,
    /// Use records on the remote that cannot be read (`dv gc --remote` stops while one is younger than its
    /// grace period); absent when there are none.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub damaged_use_records: Vec<DamagedUseRecord>,
    /// Packs a remote repair found gone, with objects no copy replaced (their index removed, so a push from a
    /// clone that has them sends them again); absent when there are none.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub lost_packs: Vec<LostPack>,
}

impl FsckReport {
    pub fn is_clean(&self) -> bool {
        self.damaged.is_empty()
            && self.damaged_packs.is_empty()
            && self.problems.is_empty()
            && self.pointer_problems.is_empty()
            && self.damaged_use_records.is_empty()
            && self.lost_packs.is_empty()
    }
}

#[derive(Clone, Debug, serde::Serialize)]
pub struct DamagedObject {
    pub pack: String,
    pub object: String,
    pub message: String,
}

#[derive(Clone, Debug, serde::Serialize)]
pub struct DamagedUseRecord {
    /// Its path on the remote, `uses/<id>.use`.
    pub record: String,
    pub message: String,
}

#[derive(Clone, Debug, serde::Serialize)]
pub struct LostPack {
    pub pack: String,
    /// Objects it listed that are on the remote no more.
    pub objects: u64,
    pub message: String,
}

#[derive(Clone, Debug, serde::Serialize)]
pub struct DamagedPack {
    pub pack: String,
    pub message: String,
}
