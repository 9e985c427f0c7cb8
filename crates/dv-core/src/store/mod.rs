//! The local object store (`.dv/cache`): pack files and their indexes, laid out as on a remote, with object
//! locations cached in SQLite. See docs/format.md, "Local cache".

pub mod bytes;
pub mod object;
pub mod pack;
pub mod split;
pub mod statedb;
pub mod uses;
pub mod writer;

use std::collections::HashMap;
use std::fs::{self, File};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use crate::error::IoContext;
use crate::{Error, ObjectId, Result};
use object::{Manifest, Node, NodeKind, Tree};
use pack::{ENTRY_HEADER_LEN, IndexEntry, PackIndex};
use statedb::StateDb;

pub use writer::PackWriter;

/// Where an object is: its pack and its index entry.
#[derive(Clone, Copy, Debug)]
pub struct Location {
    pub pack: ObjectId,
    pub entry: IndexEntry,
}

/// One chunk of a file: its id, its length, and where it is in the cache (if it is there).
#[derive(Clone, Copy, Debug)]
pub struct Piece {
    pub id: ObjectId,
    pub len: u64,
    pub at: Option<Location>,
}

pub struct Store {
    dir: PathBuf,
    state_db: StateDb,
    reader: PackReader,
    /// New packs are sealed at this size ([`crate::Settings::pack_size`]).
    pack_size: u64,
    /// The memory budget of a table's sort ([`crate::Settings::table_sort_memory`]).
    sort_memory: usize,
}

impl Store {
    /// Opens the cache at `dir` with its state database, creating folders as needed, and brings the database
    /// up to date with the index files on disk. `settings` gives the size of new packs and the sort budget of
    /// tables.
    pub fn open(dir: &Path, db: &Path, settings: &crate::Settings) -> Result<Store> {
        for sub in ["packs", "index", "tmp"] {
            fs::create_dir_all(dir.join(sub)).at(dir.join(sub))?;
        }
        // Leftovers of a dv process that was killed: half-written packs and index files.
        for sub in ["tmp", "index"] {
            crate::fsutil::remove_stale_temps(&dir.join(sub))?;
        }
        let store = Store {
            dir: dir.to_path_buf(),
            state_db: StateDb::open(db)?,
            reader: PackReader::new(dir),
            pack_size: settings.pack_size.max(1),
            sort_memory: settings.table_sort_memory.max(1),
        };
        store.reconcile()?;
        Ok(store)
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn state_db(&self) -> &StateDb {
        &self.state_db
    }

    pub fn reader(&self) -> &PackReader {
        &self.reader
    }

    pub fn tmp_dir(&self) -> PathBuf {
        self.dir.join("tmp")
    }

    pub fn pack_path(dir: &Path, pack: &ObjectId) -> PathBuf {
        let hex = pack.to_hex();
        dir.join("packs")
            .join(&hex[..2])
            .join(format!("{hex}.pack"))
    }

    pub fn index_path(dir: &Path, pack: &ObjectId) -> PathBuf {
        dir.join("index").join(format!("{}.idx", pack.to_hex()))
    }

    /// Makes the database list exactly the packs whose index and pack files both exist. An index whose pack is
    /// gone (deleted by hand, or by a gc under way) describes objects the cache no longer has: they count as
    /// absent, so `add` stores them again and `fsck` names them, instead of every read failing on the pack.
    pub fn reconcile(&self) -> Result<()> {
        let index_dir = self.dir.join("index");
        let mut on_disk = Vec::new();
        for entry in fs::read_dir(&index_dir).at(&index_dir)? {
            let entry = entry.at(&index_dir)?;
            let name = entry.file_name();
            let Some(hex) = name.to_str().and_then(|n| n.strip_suffix(".idx")) else {
                continue;
            };
            if let Some(id) = ObjectId::from_hex(hex)
                && Self::pack_path(&self.dir, &id).is_file()
            {
                on_disk.push(id);
            }
        }
        let known: std::collections::HashSet<ObjectId> =
            self.state_db.pack_ids()?.into_iter().collect();
        let on_disk_set: std::collections::HashSet<ObjectId> = on_disk.iter().copied().collect();
        let mut removed = false;
        for gone in known.difference(&on_disk_set) {
            self.state_db.remove_pack(gone)?;
            removed = true;
        }
        if removed {
            // An object also held by a remaining pack lost its location row with the removed pack.
            self.state_db.clear_complete()?;
            for id in known.intersection(&on_disk_set) {
                let path = Self::index_path(&self.dir, id);
                let index = PackIndex::decode(&fs::read(&path).at(&path)?)
                    .map_err(|e| Error::format(path.display().to_string(), e.to_string()))?;
                self.state_db.add_pack(&index)?;
            }
        }
        for new in on_disk_set.difference(&known) {
            let path = Self::index_path(&self.dir, new);
            // A damaged index is left out (its objects count as absent) rather than stopping every command:
            // `dv fsck` reports it and `dv fsck --repair` rebuilds it from its pack; gc refuses while it stays.
            match PackIndex::decode(&fs::read(&path).at(&path)?) {
                Ok(index) if index.pack_id == *new => self.state_db.add_pack(&index)?,
                _ => {}
            }
        }
        Ok(())
    }

    /// Every pack index in the cache, read from disk and fully checked.
    pub fn indexes(&self) -> Result<Vec<PackIndex>> {
        let mut out = Vec::new();
        for id in self.state_db.pack_ids()? {
            let path = Self::index_path(&self.dir, &id);
            let index = PackIndex::decode(&fs::read(&path).at(&path)?)
                .map_err(|e| Error::format(path.display().to_string(), e.to_string()))?;
            out.push(index);
        }
        Ok(out)
    }

    /// The pack indexes in the cache that can be read; unreadable ones are skipped.
    pub fn indexes_lenient(&self) -> Result<Vec<PackIndex>> {
        let mut out = Vec::new();
        for id in self.state_db.pack_ids()? {
            let path = Self::index_path(&self.dir, &id);
            if let Ok(index) = fs::read(&path)
                .map_err(|e| Error::io(&path, e))
                .and_then(|b| PackIndex::decode(&b))
            {
                out.push(index);
            }
        }
        Ok(out)
    }

    /// Rebuilds the index file of pack `id` from the pack's own entry headers ([`pack::rebuild_index`]) and
    /// commits it, replacing a damaged one; `None` (nothing written) when the pack is missing or cannot give
    /// the index back.
    pub fn rebuild_index(&self, id: &ObjectId) -> Result<Option<PackIndex>> {
        let path = Self::pack_path(&self.dir, id);
        let data = match fs::read(&path) {
            Ok(d) => d,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(Error::io(path, e)),
        };
        let Some(index) = pack::rebuild_index(&data, id) else {
            return Ok(None);
        };
        let index_path = Self::index_path(&self.dir, id);
        crate::fsutil::write_atomic(&index_path, &index.encode())?;
        // The index takes the pack's time, as if written with it: gc's grace counts from the pack's write.
        if let Ok(t) = fs::metadata(&path).and_then(|m| m.modified()) {
            let _ = fs::File::options()
                .write(true)
                .open(&index_path)
                .and_then(|f| f.set_modified(t));
        }
        crate::fsutil::sync_dir(&self.dir.join("index"))?;
        self.state_db.add_pack(&index)?;
        Ok(Some(index))
    }

    /// The entries of pack `id` that can be read and verify without its index ([`pack::readable_entries`]),
    /// each with its bytes (entry header and stored bytes), to be copied elsewhere before the pack is deleted.
    pub fn readable_entries(&self, id: &ObjectId) -> Result<Vec<(pack::IndexEntry, Vec<u8>)>> {
        let path = Self::pack_path(&self.dir, id);
        let data = match fs::read(&path) {
            Ok(d) => d,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(Error::io(path, e)),
        };
        // A damaged index whose entry table still names the pack says where every object lies.
        let known = fs::read(Self::index_path(&self.dir, id))
            .ok()
            .and_then(|b| PackIndex::decode_table(&b).ok())
            .filter(|i| i.pack_id == *id)
            .map(|i| i.entries)
            .unwrap_or_default();
        Ok(pack::readable_entries(&data, &known)
            .into_iter()
            .map(|e| {
                let bytes = pack::salvaged_entry(&data, &e);
                (e, bytes)
            })
            .collect())
    }

    /// Deletes packs from the cache: each index file first (the commit point), then the pack; then the database
    /// forgets them and re-learns `keep`'s objects, which may have been located in a deleted pack.
    pub fn delete_packs(&self, packs: &[ObjectId], keep: &[PackIndex]) -> Result<()> {
        for p in packs {
            for path in [
                Self::index_path(&self.dir, p),
                Self::pack_path(&self.dir, p),
            ] {
                match fs::remove_file(&path) {
                    Ok(()) => {}
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                    Err(e) => return Err(Error::io(path, e)),
                }
            }
            crate::fault::point("gc-pack-deleted");
        }
        crate::fsutil::sync_dir(&self.dir.join("index"))?;
        for p in packs {
            self.state_db.remove_pack(p)?;
        }
        self.state_db.clear_complete()?;
        // Objects that also lay in a deleted pack lost their location row with it.
        let dropped: std::collections::HashSet<ObjectId> = packs.iter().copied().collect();
        for p in keep {
            if !dropped.contains(&p.pack_id) {
                self.state_db.add_pack(p)?;
            }
        }
        Ok(())
    }

    /// Another handle on this cache for a second thread, for reading only: its own read-only connection to
    /// the state database (a connection serves one thread), the same packs.
    pub fn reader_for_thread(&self) -> Result<Store> {
        Ok(Store {
            dir: self.dir.clone(),
            state_db: StateDb::open_readonly(self.state_db.path())?,
            reader: PackReader::new(&self.dir),
            pack_size: self.pack_size,
            sort_memory: self.sort_memory,
        })
    }

    pub fn contains(&self, id: &ObjectId) -> Result<bool> {
        self.state_db.contains(id)
    }

    /// For each id, whether the cache has the object ([`StateDb::contains_all`]).
    pub fn contains_all(&self, ids: &[ObjectId]) -> Result<Vec<bool>> {
        self.state_db.contains_all(ids)
    }

    pub fn locate(&self, id: &ObjectId) -> Result<Option<Location>> {
        Ok(self
            .state_db
            .locate(id)?
            .map(|(pack, entry)| Location { pack, entry }))
    }

    /// Reads and verifies an object.
    pub fn read(&self, id: &ObjectId) -> Result<Vec<u8>> {
        let loc = self.locate(id)?.ok_or(Error::MissingObjects {
            path: String::new(),
            count: 1,
            first: *id,
        })?;
        self.reader.read(&loc)
    }

    /// Reads an object that a pointer or tree says is of kind `want`: one the index lists as another kind is a
    /// [`Error::KindMismatch`] (the naming is wrong, not the cache), never read as the wrong kind.
    fn read_kind(&self, id: &ObjectId, want: object::ObjectKind) -> Result<Vec<u8>> {
        let loc = self.locate(id)?.ok_or(Error::MissingObjects {
            path: String::new(),
            count: 1,
            first: *id,
        })?;
        if loc.entry.kind != want {
            return Err(Error::KindMismatch {
                path: String::new(),
                id: *id,
                declared: want.name(),
                holds: loc.entry.kind.name(),
            });
        }
        self.reader.read(&loc)
    }

    /// The whole folder a tree id names: one tree object, or a split one's leaves read through its index
    /// nodes (see [`split`]).
    pub fn read_tree(&self, id: &ObjectId) -> Result<Tree> {
        split::read_tree(id, &mut |id| self.read_kind(id, object::ObjectKind::Tree))
    }

    /// The whole chunk list a manifest id names, through index nodes when the file's manifest is split.
    pub fn read_manifest(&self, id: &ObjectId) -> Result<Manifest> {
        split::read_manifest(id, &mut |id| {
            self.read_kind(id, object::ObjectKind::Manifest)
        })
    }

    /// One stored tree object, a whole folder or part of a split one.
    pub fn read_tree_node(&self, id: &ObjectId) -> Result<split::TreeNode> {
        split::TreeNode::decode(&self.read_kind(id, object::ObjectKind::Tree)?)
            .map_err(|e| corrupt(id, e))
    }

    /// True when a manifest id names an index node (a split file's), false for a leaf (a whole file's chunk
    /// list): one object read.
    pub fn manifest_is_split(&self, id: &ObjectId) -> Result<bool> {
        Ok(self
            .read_kind(id, object::ObjectKind::Manifest)?
            .starts_with(split::MANIFEST_INDEX_MAGIC))
    }

    /// The nodes the one object a node of `kind` names ([`split::children`]): for walks that visit every
    /// object.
    pub fn children(&self, kind: NodeKind, id: &ObjectId) -> Result<Vec<Node>> {
        if kind == NodeKind::File {
            return Ok(Vec::new());
        }
        split::children(kind, &self.read_kind(id, kind.object_kind())?).map_err(|e| corrupt(id, e))
    }

    /// The chunks of a file node, in order, each with where it is in the cache (`None` for a chunk the cache
    /// lacks); `Err(id)` when the manifest itself is missing.
    pub fn file_pieces(
        &self,
        kind: NodeKind,
        id: &ObjectId,
        size: u64,
    ) -> Result<Result<Vec<Piece>, ObjectId>> {
        let ids: Vec<(ObjectId, u64)> = match kind {
            NodeKind::File => vec![(*id, size)],
            NodeKind::Chunked => {
                if !self.contains(id)? {
                    return Ok(Err(*id));
                }
                self.read_manifest(id)?
                    .chunks
                    .into_iter()
                    .map(|(c, len)| (c, len.into()))
                    .collect()
            }
            NodeKind::Tree => return Err(Error::Internal("file_pieces of a tree".into())),
        };
        let mut out = Vec::with_capacity(ids.len());
        for (id, len) in ids {
            let at = self.locate(&id)?;
            if let Some(l) = at
                && l.entry.kind != object::ObjectKind::Chunk
            {
                return Err(Error::KindMismatch {
                    path: String::new(),
                    id,
                    declared: object::ObjectKind::Chunk.name(),
                    holds: l.entry.kind.name(),
                });
            }
            out.push(Piece { id, len, at });
        }
        Ok(Ok(out))
    }

    /// Writes the bytes of the file `node` (a file or chunked-file node of a version) to `out`, chunk by chunk,
    /// each verified by its id as it is read; returns the bytes written. A chunk the cache lacks is
    /// [`Error::MissingObjects`]; chunks that do not add up to the node's size are [`Error::SizeMismatch`] (the
    /// naming is wrong: name the path with [`Error::at_path`]).
    pub fn copy_file(&self, node: &object::Node, out: &mut dyn std::io::Write) -> Result<u64> {
        let pieces = self
            .file_pieces(node.kind, &node.id, node.size)?
            .map_err(|first| Error::MissingObjects {
                path: String::new(),
                count: 1,
                first,
            })?;
        copy_pieces(&self.reader, node, &pieces, out)
    }

    /// A writer for new packs in this cache, sealing them at [`Store::pack_size`].
    pub fn pack_writer(&self) -> PackWriter {
        PackWriter::new(&self.dir).with_target_size(self.pack_size)
    }

    /// How large a new pack grows before the next one starts.
    pub fn pack_size(&self) -> u64 {
        self.pack_size
    }

    /// How many bytes of table rows are sorted in memory before a batch is spilled to disk.
    pub fn sort_memory(&self) -> usize {
        self.sort_memory
    }

    /// Records packs a [`PackWriter`] finished.
    pub fn register_packs(&self, packs: &[PackIndex]) -> Result<()> {
        for p in packs {
            self.state_db.add_pack(p)?;
        }
        Ok(())
    }
}

/// The bytes of the file `node` from its `pieces` (from [`Store::file_pieces`]), read through `reader`, written
/// to `out`: each verified by its id as it is read (the part of [`Store::copy_file`] that needs no state
/// database, so it runs on any thread). A piece the cache lacks is [`Error::MissingObjects`]; pieces that do not
/// add up to the node's size are [`Error::SizeMismatch`].
pub fn copy_pieces(
    reader: &PackReader,
    node: &object::Node,
    pieces: &[Piece],
    out: &mut dyn std::io::Write,
) -> Result<u64> {
    let mut written = 0u64;
    for piece in pieces {
        let loc = piece.at.ok_or(Error::MissingObjects {
            path: String::new(),
            count: 1,
            first: piece.id,
        })?;
        let bytes = reader.read(&loc)?;
        if bytes.len() as u64 != piece.len {
            return Err(Error::Corrupt {
                id: piece.id,
                message: format!("{} bytes where the file lists {}", bytes.len(), piece.len),
            });
        }
        out.write_all(&bytes)
            .map_err(|e| Error::io("the output", e))?;
        written += piece.len;
    }
    if written != node.size {
        return Err(Error::SizeMismatch {
            path: String::new(),
            declared: node.size,
            holds: written,
        });
    }
    Ok(written)
}

fn corrupt(id: &ObjectId, e: Error) -> Error {
    match e {
        Error::Corrupt { .. } | Error::NewerFormat { .. } => e,
        other => Error::Corrupt {
            id: *id,
            message: other.to_string(),
        },
    }
}

/// Reads objects from pack files; shareable between threads.
pub struct PackReader {
    dir: PathBuf,
    files: Mutex<HashMap<ObjectId, Arc<File>>>,
}

impl PackReader {
    pub fn new(dir: &Path) -> PackReader {
        PackReader {
            dir: dir.to_path_buf(),
            files: Mutex::new(HashMap::new()),
        }
    }

    fn file(&self, pack: &ObjectId) -> Result<Arc<File>> {
        let mut files = self.files.lock().expect("pack file map poisoned");
        if let Some(f) = files.get(pack) {
            return Ok(f.clone());
        }
        let path = Store::pack_path(&self.dir, pack);
        let f = Arc::new(File::open(&path).at(&path)?);
        files.insert(*pack, f.clone());
        Ok(f)
    }

    /// Reads one object, checks its entry header, decompresses it within its stated size and verifies its hash.
    pub fn read(&self, loc: &Location) -> Result<Vec<u8>> {
        let buf = self.read_entry(loc)?;
        pack::decode_object(&loc.entry, &buf[ENTRY_HEADER_LEN as usize..])
    }

    /// Reads an object's entry (header and stored bytes) as it lies in its pack, after verifying the object.
    pub fn read_verified_entry(&self, loc: &Location) -> Result<Vec<u8>> {
        let buf = self.read_entry(loc)?;
        pack::verify_object(&loc.entry, &buf[ENTRY_HEADER_LEN as usize..])?;
        Ok(buf)
    }

    fn read_entry(&self, loc: &Location) -> Result<Vec<u8>> {
        let file = self.file(&loc.pack)?;
        let e = &loc.entry;
        let mut buf = vec![0u8; (ENTRY_HEADER_LEN + e.stored_len as u64) as usize];
        read_exact_at(&file, &mut buf, e.offset).map_err(|err| {
            if err.kind() == std::io::ErrorKind::UnexpectedEof {
                Error::Corrupt {
                    id: e.id,
                    message: format!("pack {} is truncated", loc.pack.short()),
                }
            } else {
                Error::io(Store::pack_path(&self.dir, &loc.pack), err)
            }
        })?;
        pack::check_entry_header(&buf, e)?;
        Ok(buf)
    }
}

#[cfg(unix)]
fn read_exact_at(file: &File, buf: &mut [u8], offset: u64) -> std::io::Result<()> {
    use std::os::unix::fs::FileExt;
    file.read_exact_at(buf, offset)
}

/// The node of a file made of `chunks` (in order), its manifest's objects (when it has one) written to `sink`
/// in `layout`: one chunk names the file directly, more need a manifest (split into nodes when large and the
/// layout says so). An empty file is the one empty chunk. Also says which layouts the id holds in.
pub fn file_node(
    chunks: &[(ObjectId, u32)],
    layout: split::Layout,
    sink: &mut dyn object::NodeSink,
) -> Result<(NodeKind, ObjectId, statedb::HashedIn)> {
    let hashed_in = statedb::HashedIn::of(layout, chunks.len());
    Ok(match chunks.len() {
        // The empty chunk is stored like any other, so every way of storing a file stores it (dv add makes
        // it one chunk itself; store_file, used by merges and migrations, came here without it).
        0 => {
            let id = ObjectId::of(b"");
            sink.put(id, object::ObjectKind::Chunk, Vec::new())?;
            (NodeKind::File, id, hashed_in)
        }
        1 => (NodeKind::File, chunks[0].0, hashed_in),
        _ => (
            NodeKind::Chunked,
            split::put_manifest(chunks, layout, sink)?,
            hashed_in,
        ),
    })
}

/// What hashing a file gives: its node kind, its id in the layout asked for, its size, and which layouts the
/// id holds in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Hashed {
    pub kind: NodeKind,
    pub id: ObjectId,
    pub size: u64,
    pub hashed_in: statedb::HashedIn,
}

impl Hashed {
    /// The node of a file so hashed, with executable bit `exec`.
    pub fn node(&self, exec: bool) -> Node {
        Node {
            kind: self.kind,
            id: self.id,
            size: self.size,
            files: 1,
            exec,
        }
    }
}

/// Hashes a file the way `add` would store it in `layout`, without storing anything.
pub fn hash_file(path: &Path, layout: split::Layout) -> Result<Hashed> {
    chunk_file(path, layout, None)
}

/// Stores a file the way `add` does in `layout`: its chunks and manifest go to `sink`.
pub fn store_file(
    path: &Path,
    layout: split::Layout,
    sink: &mut dyn object::NodeSink,
) -> Result<Hashed> {
    chunk_file(path, layout, Some(sink))
}

/// Chunks and hashes a file; with a `sink`, stores its chunks and manifest there.
fn chunk_file(
    path: &Path,
    layout: split::Layout,
    mut sink: Option<&mut dyn object::NodeSink>,
) -> Result<Hashed> {
    let file = File::open(path).at(path)?;
    let len = file.metadata().at(path)?.len();
    let mut chunker = crate::chunk::Chunker::new(file).size_hint(len);
    let mut chunks = Vec::new();
    let mut size = 0u64;
    while let Some(block) = chunker.next_block().at(path)? {
        for r in &block.chunks {
            let id = ObjectId::of(&block.data[r.clone()]);
            if let Some(sink) = sink.as_deref_mut() {
                sink.put(
                    id,
                    object::ObjectKind::Chunk,
                    block.data[r.clone()].to_vec(),
                )?;
            }
            chunks.push((id, r.len() as u32));
            size += r.len() as u64;
        }
    }
    let (kind, id, hashed_in) = match sink {
        Some(sink) => file_node(&chunks, layout, sink)?,
        None => file_node(&chunks, layout, &mut object::Discard)?,
    };
    Ok(Hashed {
        kind,
        id,
        size,
        hashed_in,
    })
}
