//! `dv pull`: a fetch and a checkout of the same targets, joined so that the files the fetch brings are written
//! straight from the chunks it verifies. The fetch ([`super::transfer::Fetch`]) knows nothing of the work tree;
//! the checkout ([`super::checkout`]) lends it a [`ChunkSink`] that writes files.

use super::checkout::{self, CheckoutOptions, CheckoutReport, DirectWriter, Written};
use super::datasets::Target;
use super::partial;
use super::transfer::{ChunkSink, Fetch, TransferReport};
use crate::progress::{Progress, Unit};
use crate::remote::Remote;
use crate::session::Locked;
use crate::{Error, Result};

/// `dv pull`: fetch, then checkout. The checkout is planned as soon as the trees and manifests are in, so the
/// files the fetch brings are written straight from the chunks it verifies (see `checkout::DirectWriter`): each
/// chunk is decompressed and hashed once, not again from the cache. The working copy is changed only after
/// everything has arrived and been stored, as with a fetch followed by a checkout.
pub fn pull(
    s: &Locked<'_>,
    remote: &Remote,
    targets: &[Target],
    opts: &CheckoutOptions,
    before_writing: &mut dyn FnMut() -> Result<()>,
    progress: &dyn Progress,
) -> Result<(TransferReport, CheckoutReport)> {
    let (repo, store, force) = (s.repo(), s.store(), opts.force);
    // A dataset held in part, not named, is fetched for its parts only (ops/partial.rs).
    let fetch_targets = partial::fetch_targets(store, targets)?;
    let parts = partial::updates(repo, store, targets)?;
    let mut fetch = Fetch::new(store, remote, &fetch_targets)?;
    let mut written = Written::default();
    progress.start("Fetching", None, Unit::Bytes);
    let result = (|| -> Result<()> {
        let chunks = fetch.structure(progress)?;
        fetch.commit()?;
        // Planned now only to know which files the chunks to come make. Anything in the way (local changes, an
        // error) just means no file is written from the fetch: the real plan is made after it.
        let early = match checkout::prepare(s, targets, true) {
            // A named path the version does not hold (or cannot take alone) is refused before its files are
            // fetched, as checkout refuses it.
            Err(e @ (Error::NotInVersion { .. } | Error::BlockedByFile { .. })) => return Err(e),
            early => early.ok(),
        }
        .filter(|p| force || p.unsafe_paths().is_empty());
        let direct = early.as_ref().map(|p| p.direct_writer(repo));
        fetch.contents(
            chunks,
            direct.as_ref().map(|d| d as &dyn ChunkSink),
            progress,
        )?;
        written = direct.map(DirectWriter::finish).unwrap_or_default();
        Ok(())
    })();
    progress.finish();
    let fetched = fetch.finish(result)?;
    tracing::debug!(
        direct = written.len(),
        "files written straight from the fetch"
    );
    // The working copy may have changed during the fetch: plan again (cheap where the stat cache vouches for
    // files), and use only the files written from the fetch that the new plan wants as they are.
    let prepared = checkout::prepare(s, targets, false)?;
    parts.before(store)?;
    let checkout = prepared.apply(s, opts, written, before_writing, progress)?;
    parts.after(store)?;
    Ok((fetched, checkout))
}
