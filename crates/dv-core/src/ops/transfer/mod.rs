//! `dv push`, `dv fetch`: move the objects the chosen pointers reach, and only those the other side lacks.
//!
//! Push packs the missing objects as they are stored locally (already compressed, verified on the way out)
//! into new packs of up to 32 MiB and uploads each pack before its index. Fetch walks the datasets level by
//! level (trees, then manifests, then chunks), reads only the objects the cache lacks with ranged reads merged
//! per pack, verifies every object's hash, and appends them to new local packs.
//!
//! This file holds what both directions share: the report, the chunk sink a fetch feeds, and small helpers;
//! remote_state.rs is what a remote lacks (for push and `status --remote`), push.rs and fetch.rs the moves.

use crate::ObjectId;
use crate::remote;

mod fetch;
mod imports;
mod push;
mod remote_state;

pub use fetch::{Fetch, Pending, fetch, fetch_into};
pub(crate) use imports::fetch_imports_of;
pub use imports::{fetch_imports, fetch_with_imports};
pub use push::push;
pub(crate) use push::{PUSH_PACK_SIZE, plan_packs};
pub use remote_state::{RemoteState, remote_state};

#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct TransferReport {
    pub remote: String,
    pub datasets: Vec<String>,
    /// Objects moved.
    pub objects: u64,
    /// Bytes moved (as stored: compressed where it paid).
    pub bytes: u64,
    pub packs: u64,
    /// Objects the other side already had.
    pub skipped: u64,
    /// Push only: dataset versions that could not be sent because objects they need are neither in the cache
    /// nor on the remote (for example deleted by `dv gc` before they were pushed). Everything else was sent.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub incomplete: Vec<Incomplete>,
    /// Remote index files that could not be read, skipped: their objects counted as absent (a push sends them
    /// again; a fetch fails only if it needs an object no readable index names).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub unreadable_indexes: Vec<UnreadableIndex>,
}

#[derive(Clone, Debug, serde::Serialize)]
pub struct UnreadableIndex {
    /// The pack the index file is named after.
    pub pack: String,
    pub message: String,
}

fn unreadable_list(bad: &[remote::UnusableIndex]) -> Vec<UnreadableIndex> {
    bad.iter()
        .map(|(pack, message)| UnreadableIndex {
            pack: pack.to_hex(),
            message: message.clone(),
        })
        .collect()
}

#[derive(Clone, Debug, serde::Serialize)]
pub struct Incomplete {
    pub path: String,
    /// The dataset version (its pointer's id).
    pub id: ObjectId,
    /// The first object found missing.
    pub missing: ObjectId,
}

/// What a fetch does with each file chunk it has verified, besides storing it: `dv pull` writes the work tree
/// from it (see `checkout::DirectWriter`). Called on any thread, in any order.
pub trait ChunkSink: Sync {
    fn chunk(&self, id: &ObjectId, raw: &[u8]);
}
