//! `dv fetch`: the `Fetch` of some targets, in steps (structure: trees and manifests level by level; contents:
//! file chunks and tables), each object read by ranged reads, verified, and appended to new local packs.

use std::collections::{HashMap, HashSet};

use super::{ChunkSink, TransferReport, unreadable_list};
use crate::ops::datasets::Target;
use crate::paths::is_within;
use crate::progress::{Progress, Unit};
use crate::remote::{Remote, RemoteLocation};
use crate::session::Locked;
use crate::store::Store;
use crate::store::object::{Node, NodeKind, ObjectKind};
use crate::store::pack::{self, ENTRY_HEADER_LEN, IndexEntry};
use crate::store::split;
use crate::{Error, ObjectId, Result};

pub fn fetch(
    s: &Locked<'_>,
    remote: &Remote,
    targets: &[Target],
    progress: &dyn Progress,
) -> Result<TransferReport> {
    fetch_into(s.store(), remote, targets, progress)
}

/// [`fetch`] into `store` (whose lock the caller holds).
pub fn fetch_into(
    store: &Store,
    remote: &Remote,
    targets: &[Target],
    progress: &dyn Progress,
) -> Result<TransferReport> {
    let mut fetch = Fetch::new(store, remote, targets)?;
    progress.start("Fetching", None, Unit::Bytes);
    let result = (|| -> Result<()> {
        let chunks = fetch.structure(progress)?;
        // A named path no version holds is refused once the trees that tell are in, before its files are
        // fetched, as checkout and pull refuse it (only then are the trees written apart from the files).
        if targets.iter().any(|t| t.scope.is_some()) {
            fetch.commit()?;
            crate::ops::datasets::check_named_held(targets, store)?;
        }
        fetch.contents(chunks, None, progress)
    })();
    progress.finish();
    fetch.finish(result)
}

/// One fetch, in steps: [`Fetch::structure`] brings the trees and manifests (and [`Fetch::commit`] makes them
/// readable from the cache), [`Fetch::contents`] the file chunks and tables, [`Fetch::finish`] stores the
/// rest. `dv pull` plans its checkout between the first two steps.
pub struct Fetch<'a> {
    store: &'a Store,
    remote: &'a Remote,
    targets: &'a [Target],
    on_remote: HashMap<ObjectId, RemoteLocation>,
    /// The other copies of objects held by several packs, tried in turn when a copy fails its check.
    other_copies: HashMap<ObjectId, Vec<RemoteLocation>>,
    report: TransferReport,
    writer: crate::store::PackWriter,
    /// Objects seen in this run (fetched, or found in the cache).
    done: HashSet<ObjectId>,
    started: i64,
}

/// A node to fetch, its repository path, and the target's scope.
pub type Pending<'t> = (Node, String, Option<&'t str>);

impl<'a> Fetch<'a> {
    pub fn new(store: &'a Store, remote: &'a Remote, targets: &'a [Target]) -> Result<Fetch<'a>> {
        let (locations, unreadable) = remote.locations()?;
        let mut on_remote = HashMap::with_capacity(locations.len());
        let mut other_copies = HashMap::new();
        for (id, mut copies) in locations {
            on_remote.insert(id, copies.remove(0));
            if !copies.is_empty() {
                other_copies.insert(id, copies);
            }
        }
        Ok(Fetch {
            on_remote,
            other_copies,
            report: TransferReport {
                remote: remote.name.clone(),
                datasets: targets.iter().map(|t| t.dataset.path.clone()).collect(),
                unreadable_indexes: unreadable_list(&unreadable),
                ..Default::default()
            },
            writer: store.pack_writer(),
            done: HashSet::new(),
            started: crate::ops::now_ns(),
            store,
            remote,
            targets,
        })
    }

    fn ms(&self) -> i64 {
        (crate::ops::now_ns() - self.started) / 1_000_000
    }

    /// Where on the remote `id` (needed by `path`) is, unless it is in the cache or already fetched.
    fn wanted(&mut self, id: &ObjectId, path: &str, what: &str) -> Result<Option<RemoteLocation>> {
        if !self.done.insert(*id) || self.store.contains(id)? {
            return Ok(None);
        }
        let loc = self.on_remote.get(id).ok_or_else(|| {
            let mut message = format!("{what} {id} needed by '{path}' is not on the remote");
            if let Some(bad) = self.report.unreadable_indexes.first() {
                message.push_str(&format!(
                    " (it may be in a pack whose index cannot be read: index/{}.idx: {}; \
                     `dv fsck --remote {} --repair` repairs it)",
                    bad.pack, bad.message, self.remote.name
                ));
            }
            Error::Remote {
                remote: self.remote.name.clone(),
                message,
                source: None,
            }
        })?;
        Ok(Some(*loc))
    }

    /// Fetches `want` into the new pack; `sink` sees the raw bytes of the kinds `keep` does not ask to return.
    fn get(
        &mut self,
        want: &[(RemoteLocation, &str)],
        keep: fn(ObjectKind) -> bool,
        sink: Option<&dyn ChunkSink>,
        progress: &dyn Progress,
    ) -> Result<HashMap<ObjectId, Vec<u8>>> {
        let mut raws = HashMap::new();
        let (report, writer) = (&mut self.report, &mut self.writer);
        let mut want: Vec<(RemoteLocation, &str)> = want.to_vec();
        // A copy that fails its check is read again from another pack holding the object, if there is one;
        // the error is the last copy's.
        while !want.is_empty() {
            let failed = for_each_object(self.remote, &want, keep, sink, |entry, stored, raw| {
                report.objects += 1;
                report.bytes += entry.stored_len as u64;
                progress.inc(entry.stored_len as u64);
                raws.extend(raw.map(|r| (entry.id, r)));
                writer.add(
                    entry.id,
                    entry.kind,
                    entry.compression,
                    entry.raw_len,
                    stored,
                )
            })?;
            let mut retry = Vec::new();
            for (loc, error) in failed {
                let path = want
                    .iter()
                    .find(|(l, _)| l.pack == loc.pack && l.entry.id == loc.entry.id)
                    .map_or("", |(_, p)| *p);
                match self.other_copies.get_mut(&loc.entry.id) {
                    Some(others) if !others.is_empty() => {
                        tracing::warn!("{error}; reading another copy");
                        retry.push((others.remove(0), path));
                    }
                    _ => return Err(error),
                }
            }
            want = retry;
        }
        Ok(raws)
    }

    /// Fetches the trees and manifests below the targets, level by level; returns the file chunks they name,
    /// which wait so that every chunk comes in one round, in pack order (read in two rounds, the ranges merged
    /// around the first round's gaps would read the second round's chunks too).
    pub fn structure(&mut self, progress: &dyn Progress) -> Result<Vec<Pending<'a>>> {
        self.walk(Depth::Whole, progress)
    }

    /// Fetches only the folders' trees (no manifests, no file data) on the way to each target's scope and
    /// at it: with `deep`, every tree below it too (`dv ls --recursive`); without, the scope's own folder only
    /// (`dv ls`: a tree's entries give its files' sizes).
    pub fn trees(&mut self, deep: bool, progress: &dyn Progress) -> Result<()> {
        self.walk(Depth::Trees { deep }, progress).map(drop)
    }

    fn walk(&mut self, depth: Depth, progress: &dyn Progress) -> Result<Vec<Pending<'a>>> {
        let targets = self.targets;
        let mut level: Vec<Pending<'a>> = targets
            .iter()
            .map(|t| {
                (
                    t.dataset.pointer.node,
                    t.dataset.path.clone(),
                    t.scope.as_deref(),
                )
            })
            .collect();
        let mut chunks = Vec::new();
        let mut seen: HashSet<ObjectId> = HashSet::new();
        while !level.is_empty() {
            tracing::debug!(ms = self.ms(), nodes = level.len(), "fetching a level");
            let mut want: Vec<(RemoteLocation, &str)> = Vec::new();
            if let Depth::Trees { .. } = depth {
                level.retain(|(n, _, _)| n.kind == NodeKind::Tree);
            }
            for (n, path, _) in &level {
                if n.kind != NodeKind::File
                    && let Some(loc) = self.wanted(&n.id, path, "object")?
                {
                    want.push((loc, path));
                }
            }
            let walked = |k| matches!(k, ObjectKind::Tree | ObjectKind::Manifest);
            let fetched = self.get(&want, walked, None, progress)?;
            let mut next = Vec::new();
            for (n, path, scope) in level {
                // A node met again wholly inside the scope (the same folder or file at several places, which
                // a hostile version can repeat level after level) is walked once: what is below it is the same.
                if scope.is_none_or(|s| is_within(&path, s)) && !seen.insert(n.id) {
                    continue;
                }
                match n.kind {
                    NodeKind::File => chunks.push((n, path, scope)),
                    NodeKind::Chunked => {
                        // A manifest's chunks, or a split manifest's children (manifests in turn).
                        let children = match fetched.get(&n.id) {
                            Some(raw) => split::children(n.kind, raw)?,
                            None => self.store.children(n.kind, &n.id)?,
                        };
                        for c in children {
                            next.push((c, path.clone(), scope));
                        }
                    }
                    NodeKind::Tree => {
                        let node = match fetched.get(&n.id) {
                            Some(raw) => split::TreeNode::decode(raw)?,
                            None => self.store.read_tree_node(&n.id)?,
                        };
                        match node {
                            split::TreeNode::Leaf(t) => {
                                for e in t.entries {
                                    let child = crate::paths::join(&path, &e.name);
                                    // Only what lies inside the scope, or on the way to it.
                                    let on_the_way = scope.is_some_and(|s| is_within(s, &child));
                                    let inside = scope.is_none_or(|s| is_within(&child, s));
                                    let wanted = match depth {
                                        Depth::Whole | Depth::Trees { deep: true } => {
                                            on_the_way || inside
                                        }
                                        Depth::Trees { deep: false } => on_the_way,
                                    };
                                    if wanted {
                                        next.push((e.node, child, scope));
                                    }
                                }
                            }
                            // Part of the same folder: walked at the folder's path.
                            split::TreeNode::Index(i) => {
                                for c in i.children {
                                    let part = Node {
                                        kind: NodeKind::Tree,
                                        id: c.id,
                                        size: c.size,
                                        files: c.files,
                                        exec: false,
                                    };
                                    next.push((part, path.clone(), scope));
                                }
                            }
                        }
                    }
                }
            }
            level = next;
        }
        Ok(chunks)
    }

    /// Stores what has been fetched so far, so that the cache can read it.
    pub fn commit(&mut self) -> Result<()> {
        let packs = std::mem::replace(&mut self.writer, self.store.pack_writer()).finish()?;
        self.report.packs += packs.len() as u64;
        self.store.register_packs(&packs)
    }

    /// Fetches the file chunks `structure` returned, handing each to `sink` as well, then the tables.
    pub fn contents(
        &mut self,
        chunks: Vec<Pending<'a>>,
        sink: Option<&dyn ChunkSink>,
        progress: &dyn Progress,
    ) -> Result<()> {
        tracing::debug!(
            ms = self.ms(),
            nodes = chunks.len(),
            "fetching file contents"
        );
        let mut want: Vec<(RemoteLocation, &str)> = Vec::new();
        for (n, path, _) in &chunks {
            if let Some(loc) = self.wanted(&n.id, path, "object")? {
                want.push((loc, path));
            }
        }
        self.get(&want, |_| false, sink, progress)?;
        self.tables(progress)
    }

    /// Tables: the header, then the row tree level by level (leaves are fetched, never read).
    fn tables(&mut self, progress: &dyn Progress) -> Result<()> {
        let targets = self.targets;
        let mut tlevel: Vec<(ObjectId, &str, TableObject)> = targets
            .iter()
            .filter(|t| {
                t.scope
                    .as_deref()
                    .is_none_or(|s| is_within(&t.dataset.path, s))
            })
            .filter_map(|t| {
                let r = t.dataset.pointer.table.as_ref()?;
                Some((r.id, t.dataset.path.as_str(), TableObject::Header))
            })
            .collect();
        while !tlevel.is_empty() {
            let mut want: Vec<(RemoteLocation, &str)> = Vec::new();
            for (id, path, _) in &tlevel {
                if let Some(loc) = self.wanted(id, path, "table object")? {
                    want.push((loc, path));
                }
            }
            let mut raws = self.get(&want, |_| true, None, progress)?;
            let mut next = Vec::new();
            for (id, path, what) in &tlevel {
                if *what == TableObject::Leaf {
                    continue;
                }
                let raw = match raws.remove(id) {
                    Some(r) => r,
                    None => self.store.read(id)?,
                };
                let corrupt = |e: Error| Error::Corrupt {
                    id: *id,
                    message: e.to_string(),
                };
                match what {
                    TableObject::Header => {
                        let h = crate::table::Header::decode(&raw).map_err(corrupt)?;
                        if let Some(root) = h.root {
                            next.push((root, *path, TableObject::Node));
                        }
                    }
                    _ => {
                        if let crate::table::rowtree::Node::Inner { level, children } =
                            crate::table::rowtree::Node::decode(&raw).map_err(corrupt)?
                        {
                            let kind = if level == 1 {
                                TableObject::Leaf
                            } else {
                                TableObject::Node
                            };
                            next.extend(children.into_iter().map(|c| (c.1, *path, kind)));
                        }
                    }
                }
            }
            tlevel = next;
        }
        Ok(())
    }

    /// Stores what arrived, even if `result` is an error (a re-run then fetches only the rest), and returns the
    /// report, or the error.
    pub fn finish(mut self, result: Result<()>) -> Result<TransferReport> {
        tracing::debug!(ms = self.ms(), "objects fetched");
        self.commit()?;
        tracing::debug!(ms = self.ms(), "packs stored");
        result?;
        self.report.skipped = self.done.len() as u64 - self.report.objects;
        Ok(self.report)
    }
}

/// How far [`Fetch::walk`] goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Depth {
    /// Trees and manifests below each scope.
    Whole,
    /// Trees only: on the way to each scope and at it, and with `deep` every one below it.
    Trees { deep: bool },
}

/// What a table object is, as far as a walk knows before reading it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum TableObject {
    Header,
    /// A row tree node of unknown level.
    Node,
    Leaf,
}

/// Objects up to this size are verified on any core as they arrive; larger ones one at a time.
const PARALLEL_DECODE_MAX: u32 = 16 << 20;

/// Reads objects from the remote with ranged reads per pack and hands each to `f` verified, as (index entry,
/// stored bytes, raw bytes if `keep` asks for that kind). Packs are read in the order `want` first names them,
/// each pack's objects by offset. Returns the copies that failed their check (damaged on the remote), with why.
fn for_each_object(
    remote: &Remote,
    want: &[(RemoteLocation, &str)],
    keep: fn(ObjectKind) -> bool,
    sink: Option<&dyn ChunkSink>,
    mut f: impl FnMut(&IndexEntry, &[u8], Option<Vec<u8>>) -> Result<()>,
) -> Result<Vec<(RemoteLocation, Error)>> {
    let mut failed = Vec::new();
    let mut packs: Vec<(ObjectId, Vec<IndexEntry>)> = Vec::new();
    let mut pack_at: HashMap<ObjectId, usize> = HashMap::new();
    for (l, _) in want {
        let at = *pack_at.entry(l.pack).or_insert_with(|| {
            packs.push((l.pack, Vec::new()));
            packs.len() - 1
        });
        packs[at].1.push(l.entry);
    }
    let ranges: Vec<(ObjectId, Vec<std::ops::Range<u64>>)> = packs
        .iter()
        .map(|(p, es)| (*p, es.iter().map(IndexEntry::range).collect()))
        .collect();
    let check = |pack: &ObjectId, e: &IndexEntry, bytes: &[u8]| {
        let bad = |message: String| Error::Remote {
            remote: remote.name.clone(),
            message: format!("object {} in pack {}: {message}", e.id, pack.to_hex()),
            source: None,
        };
        pack::check_entry_header(bytes, e).map_err(|err| bad(err.to_string()))?;
        let stored = &bytes[ENTRY_HEADER_LEN as usize..];
        if keep(e.kind) {
            return pack::decode_object(e, stored)
                .map(Some)
                .map_err(|err| bad(err.to_string()));
        }
        match sink {
            Some(sink) if e.kind == ObjectKind::Chunk => {
                pack::verify_object_then(e, stored, |raw| sink.chunk(&e.id, raw))
                    .map_err(|err| bad(err.to_string()))?
            }
            _ => pack::verify_object(e, stored).map_err(|err| bad(err.to_string()))?,
        }
        Ok(None)
    };
    // The remote reads the next requests while this thread verifies and stores what has come: the network
    // and the hashing overlap instead of taking turns.
    remote.read_ranges_each(&ranges, |got| {
        let items: Vec<(&ObjectId, &IndexEntry, bytes::Bytes)> = got
            .into_iter()
            .map(|((i, j), b)| (&packs[i].0, &packs[i].1[j], b))
            .collect();
        // Verifying (decompressing and hashing) is the costly part: spread it over the cores. Objects declaring
        // more than PARALLEL_DECODE_MAX are left to this thread, so a hostile index cannot make every core hold
        // a huge object at once.
        let checked = crate::ops::par_map(&items, |(pack, e, bytes)| {
            (e.raw_len <= PARALLEL_DECODE_MAX).then(|| check(pack, e, bytes))
        });
        for ((pack, e, bytes), raw) in items.iter().zip(checked) {
            let raw = match raw.unwrap_or_else(|| check(pack, e, bytes)) {
                Ok(raw) => raw,
                Err(err) => {
                    let loc = RemoteLocation {
                        pack: **pack,
                        entry: **e,
                    };
                    failed.push((loc, err));
                    continue;
                }
            };
            f(e, &bytes[ENTRY_HEADER_LEN as usize..], raw)?;
        }
        Ok(())
    })?;
    Ok(failed)
}
