//! Reading the files of a dataset version without a checkout: what the Python package's `dv.open`, `dv.read`
//! and `dv.ls` stand on. A [`VersionReader`] is one source at one revision (or the work tree's pointers); a
//! [`FileReader`] is one file of it, resolved once to its chunk list and then read by byte ranges.
//!
//! - Each chunk comes from the cache when it is there, else from the source's remote by a ranged read of its
//!   pack: only the chunks a read touches, and while the reads go forward, a read-ahead that doubles up to
//!   [`AHEAD_LOCAL_MAX`] (cache) or [`AHEAD_REMOTE_MAX`] (remote), so a sequential reader keeps both cores
//!   decompressing and several requests in flight.
//! - Every chunk is verified by its id (and its length by the chunk list) before a byte of it is handed out;
//!   a chunk that fails is an error, and the read returns nothing.
//! - Fetched chunks are added to the cache (unless the reader is opened not to keep them) in new packs,
//!   registered in the state database; packs are named by their content and written through temporary
//!   files, so readers in several processes add theirs side by side. Trees and manifests a resolution needs
//!   are fetched and kept as `dv ls` keeps them, under the cache's lock.
//! - Nothing is written to the work tree.
//!
//! The reader is `Send + Sync`: the state database and the Git repository are behind one lock, taken only to
//! resolve a path or locate chunks; reading and verifying chunks needs no lock.

use std::collections::HashMap;
use std::ops::Range;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use super::datasets::{InVersion, Target, resolve_targets};
use super::ls::Entry;
use super::transfer::Fetch;
use crate::git::{Commit, GitRepo};
use crate::progress::NoProgress;
use crate::registry::SourceAt;
use crate::remote::{Remote, RemoteLocation};
use crate::session::Session;
use crate::store::object::{Node, NodeKind};
use crate::store::pack::{self, ENTRY_HEADER_LEN};
use crate::store::{Location, PackReader, PackWriter, Piece};
use crate::{Error, ObjectId, Result};

/// A sequential reader reads ahead up to this many bytes at a time from the cache...
pub const AHEAD_LOCAL_MAX: u64 = 16 << 20;
/// ...and up to this many from a remote (several ranged requests in flight).
pub const AHEAD_REMOTE_MAX: u64 = 64 << 20;
/// The first read-ahead of a file read from its start (it doubles while the reads go forward).
const AHEAD_FIRST: u64 = 1 << 20;
/// Fetched chunks waiting for their pack to be sealed and registered: sealed at this size.
const PENDING_MAX: u64 = 64 << 20;

/// One source at one revision, read file by file.
pub struct VersionReader {
    state: Mutex<State>,
    record: String,
    commit: Option<Commit>,
    packs: PackReader,
    remote: Mutex<Option<Arc<RemoteSide>>>,
    /// Fetched chunks on their way into the cache (`None` when they are not kept).
    pending: Option<Mutex<Pending>>,
    stats: Counters,
}

/// What resolving a path needs: the cache (its state database) and the Git repository.
struct State {
    session: Session,
    git: Option<GitRepo>,
}

/// The remote, opened on first need, and where each object is on it.
struct RemoteSide {
    remote: Remote,
    on_remote: HashMap<ObjectId, RemoteLocation>,
}

#[derive(Default)]
struct Pending {
    writer: Option<PackWriter>,
    bytes: u64,
    /// What the writer holds: a chunk is added once (a pack lists each object once), and a reader wanting
    /// one of these again seals the pack first, then reads it from the cache.
    ids: std::collections::HashSet<ObjectId>,
}

#[derive(Default)]
struct Counters {
    chunks_local: AtomicU64,
    chunks_fetched: AtomicU64,
    bytes_fetched: AtomicU64,
    requests: AtomicU64,
}

/// What a reader has read so far.
#[derive(Clone, Copy, Debug, Default, serde::Serialize)]
pub struct ReadStats {
    /// Chunks read from the cache.
    pub chunks_local: u64,
    /// Chunks read from the remote, and their bytes as stored (compressed, with entry headers).
    pub chunks_fetched: u64,
    pub bytes_fetched: u64,
    /// Ranges of the remote's packs asked for file data, one per chunk (ranges close together in one pack are
    /// read by one request).
    pub ranges_fetched: u64,
}

/// What is at a path of a version.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Stat {
    /// Repository path.
    pub path: String,
    /// A folder: inside a tracked folder, or holding datasets.
    pub folder: bool,
    /// Bytes (of every file below, for a folder).
    pub size: u64,
    /// The content id of a file or a tracked folder (none for a folder that only holds datasets).
    pub id: Option<String>,
}

impl VersionReader {
    /// A reader of `at`; `keep_chunks`: fetched chunks are added to the cache.
    pub fn open(at: SourceAt, keep_chunks: bool) -> Result<VersionReader> {
        let SourceAt {
            repo,
            git,
            commit,
            record,
            ..
        } = at;
        let session = repo.open()?;
        let packs = PackReader::new(session.store().dir());
        Ok(VersionReader {
            state: Mutex::new(State { session, git }),
            record,
            commit,
            packs,
            remote: Mutex::new(None),
            pending: keep_chunks.then(|| Mutex::new(Pending::default())),
            stats: Counters::default(),
        })
    }

    /// The commit read (`None`: the work tree's pointers).
    pub fn commit(&self) -> Option<&Commit> {
        self.commit.as_ref()
    }

    /// The source as recorded (its path or its URL without credentials).
    pub fn record(&self) -> &str {
        &self.record
    }

    /// The root of the repository read (a registry's mirror stands in for one read through a URL).
    pub fn root(&self) -> PathBuf {
        self.state().session.repo().root.clone()
    }

    pub fn stats(&self) -> ReadStats {
        let c = &self.stats;
        ReadStats {
            chunks_local: c.chunks_local.load(Ordering::Relaxed),
            chunks_fetched: c.chunks_fetched.load(Ordering::Relaxed),
            bytes_fetched: c.bytes_fetched.load(Ordering::Relaxed),
            ranges_fetched: c.requests.load(Ordering::Relaxed),
        }
    }

    fn state(&self) -> MutexGuard<'_, State> {
        // A panic while resolving leaves nothing half-changed in memory: go on with the state.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The dataset `path` lies in, with the path as its scope; `None` when no dataset holds it.
    fn target(&self, st: &State, path: &str) -> Result<Option<Target>> {
        let source = self.source(st);
        let repo = st.session.repo();
        if path.is_empty() {
            return Ok(None);
        }
        // The path's own pointer file, read strictly: a damaged one is an error, not "not tracked".
        if let Some(dataset) = source.read_pointer(repo, path)? {
            return Ok(Some(Target {
                dataset,
                scope: Some(path.to_string()),
                named: true,
            }));
        }
        match source.dataset_holding(repo, path)? {
            Some(dataset) => Ok(Some(Target {
                dataset,
                scope: Some(path.to_string()),
                named: false,
            })),
            None => Ok(None),
        }
    }

    fn source<'s>(&self, st: &'s State) -> super::datasets::Source<'s> {
        match (&st.git, &self.commit) {
            (Some(git), Some(c)) => super::datasets::Source::Rev {
                git,
                commit: c.clone(),
            },
            _ => super::datasets::Source::WorkTree,
        }
    }

    fn not_found(&self, path: &str) -> Error {
        match &self.commit {
            Some(c) => Error::NotTrackedAt {
                path: path.to_string(),
                rev: c.rev.clone(),
            },
            None => Error::NotTracked(path.to_string()),
        }
    }

    /// The node a version holds at `path` inside `target`, fetching the trees on the way when the cache
    /// lacks them.
    fn node_at(&self, st: &State, target: &Target, path: &str) -> Result<Node> {
        let found = match target.dataset.node_at(st.session.store(), path) {
            Err(Error::MissingObjects { .. }) => {
                self.fetch_structure(st, target, false)?;
                target.dataset.node_at(st.session.store(), path)?
            }
            other => other?,
        };
        match found {
            InVersion::Node(n) => Ok(n),
            InVersion::Absent => Err(Error::NotInVersion {
                path: path.to_string(),
                version: target.dataset.version(),
                above: None,
            }),
            InVersion::BelowFile(above) => Err(Error::NotInVersion {
                path: path.to_string(),
                version: target.dataset.version(),
                above: Some(above),
            }),
        }
    }

    /// Fetches what `target`'s scope needs from the remote into the cache, under the cache's lock: the trees
    /// on the way to it (and with `whole`, every tree and manifest below it), no file data.
    fn fetch_structure(&self, st: &State, target: &Target, whole: bool) -> Result<()> {
        let side = self.remote_side(st)?;
        let locked = st.session.lock()?;
        let targets = [target.clone()];
        let mut fetch = Fetch::new(locked.store(), &side.remote, &targets)?;
        let result = if whole {
            fetch.structure(&NoProgress).map(drop)
        } else {
            fetch.trees(false, &NoProgress)
        };
        fetch.finish(result).map(drop)
    }

    fn remote_side(&self, st: &State) -> Result<Arc<RemoteSide>> {
        let mut slot = self.remote.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(side) = &*slot {
            return Ok(side.clone());
        }
        let remote = crate::registry::remote_of(st.session.repo(), &self.record)?;
        let (locations, _unreadable) = remote.locations()?;
        let on_remote = locations
            .into_iter()
            .filter_map(|(id, copies)| Some((id, *copies.first()?)))
            .collect();
        let side = Arc::new(RemoteSide { remote, on_remote });
        *slot = Some(side.clone());
        Ok(side)
    }

    /// What is at `path` (`""`: the root): a file, a folder inside a dataset, or a folder holding datasets.
    pub fn stat(&self, path: &str) -> Result<Stat> {
        let st = self.state();
        if let Some(target) = self.target(&st, path)? {
            let n = self.node_at(&st, &target, path)?;
            return Ok(Stat {
                path: path.to_string(),
                folder: n.kind == NodeKind::Tree,
                size: n.size,
                id: Some(n.id.to_hex()),
            });
        }
        let datasets = resolve_targets(st.session.repo(), &self.source(&st), &[path.to_string()])
            .or_else(|e| match e {
            Error::NotTracked(_) | Error::NotTrackedAt { .. } => Ok(Vec::new()),
            e => Err(e),
        })?;
        if datasets.is_empty() && !path.is_empty() {
            return Err(self.not_found(path));
        }
        Ok(Stat {
            path: path.to_string(),
            folder: true,
            size: datasets.iter().map(|t| t.dataset.pointer.node.size).sum(),
            id: None,
        })
    }

    /// The entries directly in folder `path` (`""`: the root), one level: files, folders inside a dataset,
    /// datasets, and folders on the way to datasets deeper down. Reads pointers and trees only.
    pub fn ls(&self, path: &str) -> Result<Vec<Entry>> {
        let st = self.state();
        let locked = st.session.lock()?;
        let remote = || crate::registry::remote_of(locked.repo(), &self.record);
        let mut entries: Vec<Entry> = Vec::new();
        let source = self.source(&st);
        let mut emit = |e: Entry| {
            entries.push(e);
            Ok(())
        };
        super::ls::ls(
            &locked,
            &source,
            path,
            false,
            &remote,
            &NoProgress,
            &mut emit,
        )?;
        // Datasets deeper down stand for the folder below `path` that holds them.
        let mut out: Vec<Entry> = Vec::new();
        for e in entries {
            let rest = match path {
                "" => e.path.as_str(),
                p => e
                    .path
                    .strip_prefix(p)
                    .map_or("", |r| r.trim_start_matches('/')),
            };
            match rest.split_once('/') {
                Some((first, _)) => {
                    let folder = crate::paths::join(path, first);
                    match out.iter_mut().find(|o| o.path == folder) {
                        Some(o) => {
                            o.size += e.size;
                            o.files += e.files;
                        }
                        None => out.push(Entry {
                            path: folder,
                            kind: super::ls::EntryKind::Folder,
                            size: e.size,
                            files: e.files,
                            folder: true,
                            id: String::new(),
                            exec: false,
                        }),
                    }
                }
                None => out.push(e),
            }
        }
        Ok(out)
    }

    /// Opens the file at `path` for reading: its chunk list (the manifest fetched when the cache lacks it) and
    /// where each chunk is in the cache.
    pub fn open_file(&self, path: &str) -> Result<FileReader> {
        let st = self.state();
        let Some(target) = self.target(&st, path)? else {
            // A folder holding datasets, or nothing at all.
            if let Some(data) = path.strip_suffix(crate::paths::POINTER_SUFFIX)
                && self.target(&st, data)?.is_some()
            {
                return Err(Error::usage(format!(
                    "'{path}' is the pointer file of '{data}': open '{data}' to read its data"
                )));
            }
            return match self.stat_unlocked(&st, path) {
                true => Err(Error::usage(format!("'{path}' is a folder, not a file"))),
                false => Err(self.not_found(path)),
            };
        };
        let node = self.node_at(&st, &target, path)?;
        if node.kind == NodeKind::Tree {
            return Err(Error::usage(format!("'{path}' is a folder, not a file")));
        }
        let store = st.session.store();
        let pieces = match store.file_pieces(node.kind, &node.id, node.size)? {
            Ok(p) => p,
            Err(_) => {
                self.fetch_structure(&st, &target, true)?;
                store
                    .file_pieces(node.kind, &node.id, node.size)?
                    .map_err(|first| Error::MissingObjects {
                        path: path.to_string(),
                        count: 1,
                        first,
                    })?
            }
        };
        FileReader::new(path, node, pieces)
    }

    /// True when `path` is a folder holding datasets (the state's lock held by the caller).
    fn stat_unlocked(&self, st: &State, path: &str) -> bool {
        resolve_targets(st.session.repo(), &self.source(st), &[path.to_string()])
            .is_ok_and(|t| !t.is_empty())
    }

    /// Where the cache has the chunks of `pieces` at `which` that it lacked when they were last looked up
    /// (this reader or another process may have fetched them since).
    fn relocate(&self, pieces: &mut [Piece], which: &[usize]) -> Result<()> {
        if let Some(pending) = &self.pending {
            let waiting = {
                let p = pending.lock().unwrap_or_else(|e| e.into_inner());
                which.iter().any(|&k| p.ids.contains(&pieces[k].id))
            };
            if waiting {
                self.flush()?;
            }
        }
        let st = self.state();
        for &k in which {
            if let Some(loc) = st.session.store().locate(&pieces[k].id)?
                && loc.entry.kind == crate::store::object::ObjectKind::Chunk
            {
                pieces[k].at = Some(loc);
            }
        }
        Ok(())
    }

    /// Reads chunks from the cache, on all cores.
    fn read_local(&self, locs: &[Location]) -> Vec<Result<Vec<u8>>> {
        self.stats
            .chunks_local
            .fetch_add(locs.len() as u64, Ordering::Relaxed);
        super::par_map(locs, |loc| self.packs.read(loc))
    }

    /// Reads chunks from the remote by ranged reads of their packs, verified on all cores; keeps them in the
    /// cache when the reader does.
    fn read_remote(&self, ids: &[ObjectId], path: &str) -> Result<Vec<Vec<u8>>> {
        let side = {
            let st = self.state();
            self.remote_side(&st)?
        };
        let mut packs: Vec<(ObjectId, Vec<RemoteLocation>)> = Vec::new();
        for id in ids {
            let loc = side.on_remote.get(id).ok_or_else(|| Error::Remote {
                remote: side.remote.name.clone(),
                message: format!("chunk {id} of '{path}' is not on the remote"),
                source: None,
            })?;
            match packs.iter_mut().find(|(p, _)| *p == loc.pack) {
                Some((_, v)) => v.push(*loc),
                None => packs.push((loc.pack, vec![*loc])),
            }
        }
        let ranges: Vec<(ObjectId, Vec<Range<u64>>)> = packs
            .iter()
            .map(|(p, locs)| (*p, locs.iter().map(|l| l.entry.range()).collect()))
            .collect();
        let got = side.remote.read_ranges(&ranges)?;
        let items: Vec<(&RemoteLocation, &bytes::Bytes)> = packs
            .iter()
            .zip(&got)
            .flat_map(|((_, locs), bytes)| locs.iter().zip(bytes))
            .collect();
        let bad = |l: &RemoteLocation, message: String| Error::Corrupt {
            id: l.entry.id,
            message: format!(
                "{} '{}' (pack {}) of a chunk of '{path}': {message}",
                crate::error::REMOTE_COPY,
                side.remote.name,
                l.pack.to_hex()
            ),
        };
        let decoded = super::par_map(&items, |(l, bytes)| {
            pack::check_entry_header(bytes, &l.entry).map_err(|e| bad(l, e.to_string()))?;
            pack::decode_object(&l.entry, &bytes[ENTRY_HEADER_LEN as usize..])
                .map_err(|e| bad(l, e.to_string()))
        });
        let mut raw: HashMap<ObjectId, Vec<u8>> = HashMap::with_capacity(items.len());
        let mut fetched = 0u64;
        for ((l, bytes), d) in items.iter().zip(decoded) {
            raw.insert(l.entry.id, d?);
            fetched += bytes.len() as u64;
        }
        let c = &self.stats;
        c.chunks_fetched
            .fetch_add(items.len() as u64, Ordering::Relaxed);
        c.bytes_fetched.fetch_add(fetched, Ordering::Relaxed);
        c.requests.fetch_add(
            ranges.iter().map(|(_, r)| r.len() as u64).sum(),
            Ordering::Relaxed,
        );
        if let Some(pending) = &self.pending {
            self.keep(pending, &items)?;
        }
        ids.iter()
            .map(|id| {
                raw.get(id)
                    .cloned()
                    .ok_or_else(|| Error::Internal(format!("chunk {id} was not read")))
            })
            .collect()
    }

    /// Adds verified fetched entries to the cache's next pack; seals and registers it once it is large.
    fn keep(
        &self,
        pending: &Mutex<Pending>,
        items: &[(&RemoteLocation, &bytes::Bytes)],
    ) -> Result<()> {
        let full = {
            let mut p = pending.lock().unwrap_or_else(|e| e.into_inner());
            if p.writer.is_none() {
                p.writer = Some(self.state().session.store().pack_writer());
            }
            let Pending {
                writer,
                bytes: held,
                ids,
            } = &mut *p;
            let w = writer.as_mut().expect("made above");
            for (l, bytes) in items {
                let e = &l.entry;
                if !ids.insert(e.id) {
                    continue;
                }
                w.add(
                    e.id,
                    e.kind,
                    e.compression,
                    e.raw_len,
                    &bytes[ENTRY_HEADER_LEN as usize..],
                )?;
                *held += bytes.len() as u64;
            }
            *held >= PENDING_MAX
        };
        if full { self.flush() } else { Ok(()) }
    }

    /// Seals the pack of fetched chunks and registers it, so the next read of them is local. Called by readers
    /// when a file is closed; also on drop.
    pub fn flush(&self) -> Result<()> {
        let Some(pending) = &self.pending else {
            return Ok(());
        };
        let writer = {
            let mut p = pending.lock().unwrap_or_else(|e| e.into_inner());
            p.bytes = 0;
            p.ids.clear();
            p.writer.take()
        };
        let Some(writer) = writer else {
            return Ok(());
        };
        let packs = writer.finish()?;
        // The packs are on disk: a store opened later registers them even if this fails.
        self.state().session.store().register_packs(&packs)
    }
}

impl Drop for VersionReader {
    fn drop(&mut self) {
        if let Err(e) = self.flush() {
            tracing::warn!("fetched chunks could not be kept in the cache: {e}");
        }
    }
}

/// One file of a version, read by byte ranges.
pub struct FileReader {
    path: String,
    node: Node,
    pieces: Vec<Piece>,
    /// File offset of each chunk.
    starts: Vec<u64>,
    /// Chunks read and verified, from chunk `window_first` on.
    window: Vec<Arc<Vec<u8>>>,
    window_first: usize,
    /// Where the last read ended: a read starting there goes forward.
    next: u64,
    ahead: u64,
}

impl FileReader {
    fn new(path: &str, node: Node, pieces: Vec<Piece>) -> Result<FileReader> {
        let mut starts = Vec::with_capacity(pieces.len());
        let mut size = 0u64;
        for p in &pieces {
            starts.push(size);
            size = size.saturating_add(p.len);
        }
        if size != node.size {
            return Err(Error::SizeMismatch {
                path: path.to_string(),
                declared: node.size,
                holds: size,
            });
        }
        // A chunk the cache holds has its length in the cache's index: a chunk list (or a one-chunk file's
        // pointer) that says otherwise is refused now, before a reader sizes a buffer from it.
        for p in &pieces {
            if let Some(at) = &p.at
                && u64::from(at.entry.raw_len) != p.len
            {
                return Err(Error::SizeMismatch {
                    path: path.to_string(),
                    declared: p.len,
                    holds: at.entry.raw_len.into(),
                });
            }
        }
        Ok(FileReader {
            path: path.to_string(),
            node,
            pieces,
            starts,
            window: Vec::new(),
            window_first: 0,
            next: 0,
            ahead: AHEAD_FIRST,
        })
    }

    pub fn size(&self) -> u64 {
        self.node.size
    }

    /// The file's content id.
    pub fn id(&self) -> ObjectId {
        self.node.id
    }

    pub fn path(&self) -> &str {
        &self.path
    }

    /// The chunk holding byte `pos` (< size).
    fn chunk_at(&self, pos: u64) -> usize {
        self.starts.partition_point(|&s| s <= pos) - 1
    }

    /// Reads up to `buf.len()` bytes at `pos` through `v` (the reader this file was opened from); returns how
    /// many (0 at or past the end). An error returns no bytes.
    pub fn read_at(&mut self, v: &VersionReader, pos: u64, buf: &mut [u8]) -> Result<usize> {
        let size = self.node.size;
        if pos >= size || buf.is_empty() {
            return Ok(0);
        }
        let end = size.min(pos + buf.len() as u64);
        let forward = pos == self.next;
        let mut at = pos;
        while at < end {
            let i = self.chunk_at(at);
            if !(self.window_first..self.window_first + self.window.len()).contains(&i) {
                self.fill(v, i, end, forward)?;
            }
            let chunk = &self.window[i - self.window_first];
            let from = (at - self.starts[i]) as usize;
            let n = (chunk.len() - from).min((end - at) as usize);
            let out = (at - pos) as usize;
            buf[out..out + n].copy_from_slice(&chunk[from..from + n]);
            at += n as u64;
        }
        self.next = end;
        Ok((end - pos) as usize)
    }

    /// Reads chunk `i` and those up to `end` (and ahead of it when the reads go `forward`) into the window.
    fn fill(&mut self, v: &VersionReader, i: usize, end: u64, forward: bool) -> Result<()> {
        let want_end = if forward {
            let until = self.starts[i].saturating_add(self.ahead).max(end);
            until.min(self.node.size)
        } else {
            self.ahead = AHEAD_FIRST;
            end
        };
        let j = self.chunk_at(want_end - 1) + 1;
        let missing: Vec<usize> = (i..j).filter(|&k| self.pieces[k].at.is_none()).collect();
        if !missing.is_empty() {
            v.relocate(&mut self.pieces, &missing)?;
        }
        let range = &self.pieces[i..j];
        let locs: Vec<Location> = range.iter().filter_map(|p| p.at).collect();
        let remote_ids: Vec<ObjectId> = range
            .iter()
            .filter(|p| p.at.is_none())
            .map(|p| p.id)
            .collect();
        let mut local = v.read_local(&locs).into_iter();
        let mut remote = if remote_ids.is_empty() {
            Vec::new()
        } else {
            v.read_remote(&remote_ids, &self.path)?
        }
        .into_iter();
        let mut window = Vec::with_capacity(j - i);
        for p in range {
            let raw = match p.at {
                Some(_) => local.next().expect("one per location")?,
                None => remote.next().expect("one per id"),
            };
            if raw.len() as u64 != p.len {
                return Err(Error::SizeMismatch {
                    path: self.path.clone(),
                    declared: p.len,
                    holds: raw.len() as u64,
                });
            }
            window.push(Arc::new(raw));
        }
        self.window = window;
        self.window_first = i;
        if forward {
            let max = if remote_ids.is_empty() {
                AHEAD_LOCAL_MAX
            } else {
                AHEAD_REMOTE_MAX
            };
            self.ahead = (self.ahead * 2).min(max);
        }
        Ok(())
    }
}

impl VersionReader {
    /// The table record of the dataset at `path` (`None` when it is not tracked as a table, or this version
    /// has no dataset there), its header and row tree fetched into the cache when it lacks them.
    pub fn table(&self, path: &str) -> Result<Option<crate::pointer::TableRef>> {
        let st = self.state();
        let Some(dataset) = self.source(&st).read_pointer(st.session.repo(), path)? else {
            return Ok(None);
        };
        let Some(table) = dataset.pointer.table.clone() else {
            return Ok(None);
        };
        if !st.session.store().contains(&table.id)? {
            let side = self.remote_side(&st)?;
            let locked = st.session.lock()?;
            let targets = [Target {
                dataset,
                scope: None,
                named: true,
            }];
            let mut fetch = Fetch::new(locked.store(), &side.remote, &targets)?;
            let result = fetch.contents(Vec::new(), None, &NoProgress);
            fetch.finish(result)?;
        }
        Ok(Some(table))
    }

    /// The row-level diff of the table dataset at `path` from this version to `other` (a reader of the same
    /// repository: the same cache). A version without the dataset has no rows; neither having it, or it not
    /// being tracked as a table (`dv add --key`) on a side that has it, is an error.
    pub fn table_diff(
        &self,
        other: &VersionReader,
        path: &str,
        opts: &crate::table::diff::Options,
    ) -> Result<crate::table::diff::TableDiff> {
        let side = |v: &VersionReader| -> Result<Option<crate::pointer::TableRef>> {
            let found = v.table(path)?;
            if found.is_none() {
                let st = v.state();
                if let Some(d) = v.source(&st).dataset_holding(st.session.repo(), path)? {
                    let inside = if d.path == path {
                        String::new()
                    } else {
                        format!(" (it is a file of the dataset '{}')", d.path)
                    };
                    let at = v.commit().map(|c| format!(" at revision '{}'", c.rev));
                    return Err(Error::usage(format!(
                        "'{path}' is not tracked as a table{}{inside}: `dv add --key COLUMN {path}` tracks \
                         its rows",
                        at.unwrap_or_default()
                    )));
                }
            }
            Ok(found)
        };
        let (a, b) = (side(self)?, side(other)?);
        if a.is_none() && b.is_none() {
            return Err(self.not_found(path));
        }
        let st = self.state();
        super::table::diff(st.session.store(), a.as_ref(), b.as_ref(), opts)
    }
}
