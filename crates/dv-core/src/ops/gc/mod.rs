//! `dv gc`: delete the objects no pointer in scope reaches, in the cache or on a remote.
//!
//! Packs are immutable, so gc works pack by pack: a pack with nothing live is deleted; a pack whose live share
//! of bytes falls below a threshold is repacked (its live objects copied into a new pack, which is committed
//! by its index before the old pack is deleted); other packs stay as they are. Packs younger than a grace
//! period are never touched: a concurrent `add` (in a linked work tree sharing the cache) or `push` (from
//! another clone) may be about to write a pointer that names them. On a remote, gc follows the remote gc
//! protocol of docs/format.md: a young pack (by the remote's clock, or named by a young use record) also keeps
//! everything it reaches, duplicates are resolved by pack id, and use records are listed again before deleting.
//!
//! Crash safety: new packs are complete and indexed before any old one goes; an old pack goes index first,
//! so a crash leaves at worst a pack without index (reported by `fsck`, deleted by the next `gc`) or an
//! object in two packs (harmless).
//!
//! This file holds the options, the report and the two rules both kinds of gc share (the age test, the refusal
//! of a damaged walk); plan.rs decides per pack, repack.rs rewrites sparse packs, cache.rs and remote.rs run
//! gc on each side, keep.rs is what a remote gc keeps besides the scope (young packs, use records).

use super::reach::ObjectProblem;
use crate::{Error, Result};

mod cache;
mod keep;
mod plan;
mod remote;
mod repack;

pub use cache::gc_cache;
pub use remote::gc_remote;

#[derive(Clone, Debug)]
pub struct GcOptions {
    pub dry_run: bool,
    /// Repack a pack when its live bytes are below this share of its bytes (0.0 to 1.0).
    pub repack_below: f64,
    /// Packs younger than this many seconds are left alone.
    pub grace_secs: u64,
}

impl Default for GcOptions {
    fn default() -> Self {
        GcOptions {
            dry_run: false,
            repack_below: 0.5,
            grace_secs: 3600,
        }
    }
}

#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct GcReport {
    /// `cache` or `remote NAME`.
    pub target: String,
    pub dry_run: bool,
    pub packs_before: u64,
    pub packs_deleted: u64,
    pub packs_repacked: u64,
    pub packs_written: u64,
    /// Packs left alone because they are younger than the grace period.
    pub packs_in_grace: u64,
    /// Objects kept (live ones, and everything in packs still in grace).
    pub objects_kept: u64,
    pub objects_deleted: u64,
    /// Bytes of pack files removed, less the bytes of the packs written in their place.
    pub bytes_freed: u64,
    /// Pack files without an index (left by an interrupted write) that were removed.
    pub unindexed_removed: u64,
    /// The other work trees sharing the cache whose pointers were kept too (local gc; set by the caller).
    pub other_work_trees: Vec<String>,
}

fn refuse_if_damaged(problems: &[crate::ops::reach::Problem]) -> Result<()> {
    if let Some(p) = problems
        .iter()
        .find(|p| p.problem == ObjectProblem::Corrupt)
    {
        return Err(Error::format(
            format!("object {} under '{}'", p.object, p.dataset),
            format!(
                "{}; gc stops, since it cannot tell what a damaged object reaches (run `dv fsck`)",
                p.message
            ),
        ));
    }
    Ok(())
}

/// Whether a file written at `time` is younger than `grace_secs` at `now` (Unix seconds). The one age test of
/// gc, local and remote: computed in i128, so no grace (up to `u64::MAX`) and no time wraps around, and a
/// bigger grace never protects less.
fn within_grace(now: i64, time: i64, grace_secs: u64) -> bool {
    (now as i128) - (time as i128) < grace_secs as i128
}
