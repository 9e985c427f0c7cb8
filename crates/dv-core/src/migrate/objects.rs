//! Objects read from DVC (its local cache, then its remote) or git-lfs, each checked against its recorded
//! hash while it is copied to a temporary file, and only then stored in dv's cache. An object whose bytes do
//! not match is reported and never stored; the next place is tried.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use md5::Digest;

use super::dvc::Md5;
use crate::error::IoContext;
use crate::store::Store;
use crate::store::object::{Node, NodeKind, NodeSink, TreeEntry};
use crate::store::split::Layout;
use crate::{Error, Result};

/// Where a DVC object can come from, in the order tried.
pub enum Place {
    /// A folder laid out as DVC's cache or a folder remote (`ab/cdef…`).
    Folder { dir: PathBuf, what: String },
    /// An object store (DVC's S3 remote), objects under `prefix` (`ab/cdef…` relative to it).
    Store {
        store: Arc<dyn object_store::ObjectStore>,
        prefix: String,
        what: String,
        rt: Arc<tokio::runtime::Runtime>,
    },
}

impl Place {
    fn what(&self) -> &str {
        match self {
            Place::Folder { what, .. } | Place::Store { what, .. } => what,
        }
    }

    /// Copies object `rel` (a path below the place) into `out`, hashing it; `Ok(None)` when absent.
    fn copy(&self, rel: &str, out: &mut dyn Write, hash: &mut Hasher) -> Result<Option<u64>> {
        match self {
            Place::Folder { dir, .. } => {
                let path = dir.join(rel);
                // Only a regular file (through links) is read: a FIFO would block and a device never end.
                match std::fs::metadata(&path) {
                    Ok(m) if m.is_file() => {}
                    Ok(_) => {
                        tracing::debug!("{}: not a regular file: not read", path.display());
                        return Ok(None);
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
                    Err(e) => return Err(Error::io(&path, e)),
                }
                let mut f = match std::fs::File::open(&path) {
                    Ok(f) => f,
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
                    Err(e) => return Err(Error::io(&path, e)),
                };
                let mut buf = vec![0u8; 1 << 20];
                let mut n = 0u64;
                loop {
                    let k = f.read(&mut buf).at(&path)?;
                    if k == 0 {
                        break;
                    }
                    hash.update(&buf[..k]);
                    out.write_all(&buf[..k]).map_err(|e| Error::io(&path, e))?;
                    n += k as u64;
                }
                Ok(Some(n))
            }
            Place::Store {
                store,
                prefix,
                what,
                rt,
            } => {
                use futures::StreamExt;
                use object_store::ObjectStoreExt;
                let key = object_store::path::Path::from(if prefix.is_empty() {
                    rel.to_string()
                } else {
                    format!("{prefix}/{rel}")
                });
                let remote_err = |e: &dyn std::fmt::Display| Error::Remote {
                    remote: what.clone(),
                    message: format!("{key}: {e}"),
                    source: None,
                };
                rt.block_on(async {
                    let got = match store.get(&key).await {
                        Ok(g) => g,
                        Err(object_store::Error::NotFound { .. }) => return Ok(None),
                        Err(e) => return Err(remote_err(&e)),
                    };
                    let mut stream = got.into_stream();
                    let mut n = 0u64;
                    while let Some(b) = stream.next().await {
                        let b = b.map_err(|e| remote_err(&e))?;
                        hash.update(&b);
                        out.write_all(&b)
                            .map_err(|e| Error::io(Path::new("(temporary file)"), e))?;
                        n += b.len() as u64;
                    }
                    Ok(Some(n))
                })
            }
        }
    }
}

/// MD5 as DVC computes it, both ways: of the bytes, and (DVC 2, text files) with every CRLF turned into LF;
/// or ([`Hasher::plain_only`]) only the first, half the work, for bytes that are kept to hash again if needed.
pub struct Hasher {
    plain: md5::Md5,
    unix: Option<md5::Md5>,
    /// A '\r' held back until the next byte says whether it starts a CRLF.
    cr: bool,
}

impl Default for Hasher {
    fn default() -> Self {
        Hasher {
            plain: md5::Md5::new(),
            unix: Some(md5::Md5::new()),
            cr: false,
        }
    }
}

impl Hasher {
    /// A hasher of the plain MD5 only ([`Hasher::finish`] gives no CRLF→LF one).
    pub fn plain_only() -> Hasher {
        Hasher {
            unix: None,
            ..Hasher::default()
        }
    }

    pub fn update(&mut self, data: &[u8]) {
        self.plain.update(data);
        let Some(unix) = &mut self.unix else {
            return;
        };
        let mut start = 0;
        for (i, &b) in data.iter().enumerate() {
            if self.cr {
                self.cr = false;
                if b != b'\n' {
                    unix.update(b"\r");
                }
            }
            if b == b'\r' {
                unix.update(&data[start..i]);
                start = i + 1;
                self.cr = true;
            }
        }
        unix.update(&data[start..]);
    }

    /// (plain MD5, CRLF→LF MD5 unless [`Hasher::plain_only`]), as hex.
    pub fn finish(self) -> (String, Option<String>) {
        let unix = self.unix.map(|mut u| {
            if self.cr {
                u.update(b"\r");
            }
            hex(&u.finalize())
        });
        (hex(&self.plain.finalize()), unix)
    }

    /// The CRLF→LF MD5 of the file at `path`.
    fn unix_md5_of(path: &Path) -> Result<String> {
        let mut f = std::fs::File::open(path).at(path)?;
        let mut h = Hasher::default();
        let mut buf = vec![0u8; 1 << 20];
        loop {
            let k = f.read(&mut buf).at(path)?;
            if k == 0 {
                break;
            }
            h.update(&buf[..k]);
        }
        Ok(h.finish().1.unwrap_or_default())
    }
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// Where migrated objects go: dv's cache, or (a dry run) only counted.
pub type Sink<'a> = crate::store::writer::StoreSink<'a>;

/// The sink a migration stores into at zstd level `level`: one that only counts for a dry run.
pub fn sink(store: &Store, level: i32, dry_run: bool) -> Result<Sink<'_>> {
    if dry_run {
        Sink::counting_only(store, level)
    } else {
        Sink::new(store, level)
    }
}

/// Where a DVC object was found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Found {
    Cache,
    Remote,
}

/// DVC's objects, read from its places, checked, and stored in dv's cache (each once).
pub struct DvcObjects<'a> {
    /// DVC's cache folders (DVC 3's `files/md5`, then DVC 2's root), in the order tried.
    pub cache: Vec<Place>,
    /// The remote, when `.dvc/config` names one that dv can read.
    pub remote: Option<Place>,
    /// Why the remote is not used, when it is not.
    pub remote_problem: Option<String>,
    pub store: &'a Store,
    pub layout: Layout,
    /// Objects stored already: DVC id → dv node.
    stored: HashMap<Md5, Node>,
    dirs: HashMap<Md5, Vec<super::dvc::DirEntry>>,
    /// Objects that did not match their id (said once each).
    pub corrupt: Vec<String>,
    pub from_cache: u64,
    pub from_remote: u64,
    /// Bytes of the distinct DVC objects read: what DVC's cache holds for the migrated data.
    pub dvc_bytes: u64,
}

impl<'a> DvcObjects<'a> {
    pub fn new(store: &'a Store, layout: Layout, cache: Vec<Place>, remote: Option<Place>) -> Self {
        DvcObjects {
            cache,
            remote,
            remote_problem: None,
            store,
            layout,
            stored: HashMap::new(),
            dirs: HashMap::new(),
            corrupt: Vec::new(),
            from_cache: 0,
            from_remote: 0,
            dvc_bytes: 0,
        }
    }

    /// A checked copy of object `md5` in a temporary file, and where it came from.
    fn fetch(&mut self, md5: &Md5) -> Result<(tempfile::NamedTempFile, Found)> {
        let rels = [format!("files/md5/{}", md5.rel_path()), md5.rel_path()];
        let places = self
            .cache
            .iter()
            .map(|p| (p, Found::Cache))
            .chain(self.remote.iter().map(|p| (p, Found::Remote)));
        let mut looked = Vec::new();
        // A copy matching only as DVC 2's CRLF→LF MD5 is used when no place has one matching plainly.
        let mut crlf: Option<(tempfile::NamedTempFile, Found, u64)> = None;
        for (place, found) in places {
            // A cache folder is DVC 3's `files/md5` or DVC 2's root; a remote holds either layout.
            let candidates: &[String] = match (place, found) {
                (_, Found::Cache) => std::slice::from_ref(&rels[1]),
                _ => &rels,
            };
            for rel in candidates {
                let mut tmp = tempfile::NamedTempFile::new_in(self.store.tmp_dir())
                    .at(self.store.tmp_dir())?;
                // The CRLF→LF MD5 only when the plain one does not match (a second read of the copy).
                let mut h = Hasher::plain_only();
                let Some(n) = place.copy(rel, tmp.as_file_mut(), &mut h)? else {
                    continue;
                };
                let (plain, _) = h.finish();
                if plain == md5.hex {
                    self.dvc_bytes += n;
                    match found {
                        Found::Cache => self.from_cache += 1,
                        Found::Remote => self.from_remote += 1,
                    }
                    return Ok((tmp, found));
                }
                // DVC 2 recorded text files' MD5 with CRLF as LF; a folder manifest only ever plainly.
                tmp.as_file_mut().flush().at(tmp.path())?;
                if !md5.dir && Hasher::unix_md5_of(tmp.path())? == md5.hex {
                    if crlf.is_none() {
                        crlf = Some((tmp, found, n));
                    }
                    continue;
                }
                self.corrupt.push(format!(
                    "{} object {md5} ({rel}) does not match its MD5 (its bytes hash to {plain}): not used",
                    place.what()
                ));
            }
            looked.push(place.what().to_string());
        }
        if let Some((tmp, found, n)) = crlf {
            self.dvc_bytes += n;
            match found {
                Found::Cache => self.from_cache += 1,
                Found::Remote => self.from_remote += 1,
            }
            return Ok((tmp, found));
        }
        let mut where_ = looked.join(", ");
        if let Some(why) = &self.remote_problem {
            where_.push_str(&format!("; the DVC remote was not read: {why}"));
        }
        Err(Error::format(
            format!("DVC object {md5}"),
            format!("not found with a matching MD5 in {where_}"),
        ))
    }

    /// Takes DVC object `md5` as stored already, as `node` (by an earlier migration): it is not read again.
    pub fn known(&mut self, md5: &Md5, node: Node) {
        self.stored.insert(md5.clone(), node);
    }

    /// The dv node of DVC file object `md5`, stored in `sink` (read and checked once per migration).
    pub fn file(&mut self, md5: &Md5, sink: &mut Sink<'_>) -> Result<Node> {
        if let Some(n) = self.stored.get(md5) {
            return Ok(*n);
        }
        let (tmp, _) = self.fetch(md5)?;
        let node = crate::store::store_file(tmp.path(), self.layout, sink)?.node(false);
        self.stored.insert(md5.clone(), node);
        Ok(node)
    }

    /// The entries of folder manifest `md5`.
    pub fn dir_entries(&mut self, md5: &Md5) -> Result<Vec<super::dvc::DirEntry>> {
        if let Some(d) = self.dirs.get(md5) {
            return Ok(d.clone());
        }
        let (tmp, _) = self.fetch(md5)?;
        let what = format!("DVC folder manifest {md5}");
        let len = tmp.as_file().metadata().at(tmp.path())?.len();
        if len > super::dvc::MAX_DIR_MANIFEST as u64 {
            return Err(Error::format(what, format!("{len} bytes is too large")));
        }
        let data = std::fs::read(tmp.path()).at(tmp.path())?;
        let entries = super::dvc::parse_dir(&data, &what)?;
        self.dirs.insert(md5.clone(), entries.clone());
        Ok(entries)
    }

    /// The dv node of DVC output `md5` (a file, or a folder through its manifest), stored in `sink`.
    pub fn node(&mut self, md5: &Md5, sink: &mut Sink<'_>) -> Result<Node> {
        if !md5.dir {
            return self.file(md5, sink);
        }
        if let Some(n) = self.stored.get(md5) {
            return Ok(*n);
        }
        let entries = self.dir_entries(md5)?;
        let mut files = Vec::with_capacity(entries.len());
        for e in &entries {
            files.push((e.relpath.clone(), self.file(&e.md5, sink)?));
        }
        let node = build_tree(&files, self.layout, sink)?;
        self.stored.insert(md5.clone(), node);
        Ok(node)
    }
}

/// Stores the folder made of `files` (relative '/'-separated paths, each a file, none inside another) and
/// returns its node.
pub fn build_tree(
    files: &[(String, Node)],
    layout: Layout,
    sink: &mut dyn NodeSink,
) -> Result<Node> {
    let mut sorted: Vec<(&str, &Node)> = files.iter().map(|(p, n)| (p.as_str(), n)).collect();
    sorted.sort_by(|a, b| a.0.cmp(b.0));
    tree_of(&sorted, layout, sink)
}

fn tree_of(files: &[(&str, &Node)], layout: Layout, sink: &mut dyn NodeSink) -> Result<Node> {
    // Group by first component (the list is sorted, so each group is a run... except that "a-b" sorts
    // between "a" and "a/…"; a BTreeMap groups whatever the order).
    let mut groups: std::collections::BTreeMap<&str, Vec<(&str, &Node)>> = Default::default();
    let mut leaves: std::collections::BTreeMap<&str, &Node> = Default::default();
    for (p, n) in files {
        match p.split_once('/') {
            Some((first, rest)) => groups.entry(first).or_default().push((rest, n)),
            None => {
                leaves.insert(p, n);
            }
        }
    }
    let mut entries = Vec::new();
    for (name, n) in &leaves {
        if groups.contains_key(name) {
            return Err(Error::Internal(format!(
                "'{name}' is both a file and a folder"
            )));
        }
        entries.push(TreeEntry {
            name: name.to_string(),
            node: **n,
        });
    }
    for (name, sub) in groups {
        entries.push(TreeEntry {
            name: name.to_string(),
            node: tree_of(&sub, layout, sink)?,
        });
    }
    entries.sort_by(|a, b| a.name.cmp(&b.name));
    let (mut size, mut count) = (0u64, 0u64);
    for e in &entries {
        size = size.saturating_add(e.node.size);
        count = count.saturating_add(e.node.files);
    }
    let id = crate::store::split::put_tree(&entries, layout, sink)?;
    Ok(Node {
        kind: NodeKind::Tree,
        id,
        size,
        files: count,
        exec: false,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn md5s(data: &[u8], pieces: usize) -> (String, String) {
        let mut h = Hasher::default();
        for c in data.chunks(pieces.max(1)) {
            h.update(c);
        }
        let (plain, unix) = h.finish();
        (plain, unix.unwrap())
    }

    #[test]
    fn crlf_md5_is_the_same_however_the_bytes_come() {
        let data = b"a\r\nb\r\r\nc\rd\r";
        let unix_bytes = b"a\nb\r\nc\rd\r";
        let want = hex(&md5::Md5::digest(unix_bytes));
        for n in [1, 2, 3, 5, 100] {
            let (plain, unix) = md5s(data, n);
            assert_eq!(unix, want, "pieces of {n}");
            assert_eq!(plain, hex(&md5::Md5::digest(data)));
        }
        assert_eq!(md5s(b"", 1).0, "d41d8cd98f00b204e9800998ecf8427e");
    }
}
