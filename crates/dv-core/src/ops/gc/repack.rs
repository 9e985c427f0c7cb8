//! Repacking: the live objects of sparse packs copied (verified) into new packs, committed by their indexes
//! before the old packs go; in the cache into one writer's packs, on a remote one new pack per old one.

use crate::Result;
use crate::progress::{Progress, Unit};
use crate::remote::Remote;
use crate::store::Store;
use crate::store::pack::{self, ENTRY_HEADER_LEN, IndexEntry, PackIndex};

/// The size of a pack holding `entries` as they are stored: what a repack writes in place of their old packs.
pub(super) fn repacked_size<'e>(entries: impl IntoIterator<Item = &'e IndexEntry>) -> u64 {
    pack::PACK_HEADER_LEN
        + entries
            .into_iter()
            .map(|e| ENTRY_HEADER_LEN + e.stored_len as u64)
            .sum::<u64>()
}

/// Copies the live entries of the packs in `repack` (`repack_bytes` of them in all, for the progress) into new packs, registered
/// before this returns (so committed by their indexes); returns the new packs, none when there is nothing to
/// repack.
pub(super) fn repack_cache(
    store: &Store,
    repack: &[(PackIndex, Vec<IndexEntry>)],
    repack_bytes: u64,
    progress: &dyn Progress,
) -> Result<Vec<PackIndex>> {
    if repack.is_empty() {
        return Ok(Vec::new());
    }
    progress.start("Repacking", Some(repack_bytes), Unit::Bytes);
    let mut writer = store.pack_writer();
    for (index, live) in repack {
        for e in live {
            let loc = crate::store::Location {
                pack: index.pack_id,
                entry: *e,
            };
            writer.add_copy(e, &store.reader().read_verified_entry(&loc)?)?;
            progress.inc(e.stored_len as u64);
        }
    }
    let new_packs = writer.finish()?;
    store.register_packs(&new_packs)?;
    progress.finish();
    crate::fault::point("gc-repacked");
    Ok(new_packs)
}

/// Rewrites the remote pack `index` holding only `live_entries`: reads them back, verified, and uploads them
/// as a new pack and its index. Returns the new pack's size.
pub(super) fn repack_remote(
    remote: &Remote,
    index: &PackIndex,
    live_entries: &[IndexEntry],
) -> Result<u64> {
    let ranges: Vec<_> = live_entries
        .iter()
        .map(|e| e.offset..e.offset + ENTRY_HEADER_LEN + e.stored_len as u64)
        .collect();
    let got = remote.read_ranges(&[(index.pack_id, ranges)])?.remove(0);
    for (e, bytes) in live_entries.iter().zip(&got) {
        pack::check_entry_header(bytes, e)?;
        pack::verify_object(e, &bytes[ENTRY_HEADER_LEN as usize..])?;
    }
    let (new_index, pieces) =
        pack::repacked(live_entries.iter().copied().zip(got.iter().map(|b| &b[..])));
    let offset = new_index.pack_size;
    remote.upload_pack(&new_index, pieces.into_iter().map(Ok))?;
    Ok(offset)
}
