//! The three-way merge of a `.safetensors` model changed on both sides, tensor by tensor: a tensor added,
//! deleted or changed on one side takes that change; the same tensor changed differently on both sides is a
//! conflict; `__metadata__` merges key by key. The merged file is written whole: our tensors in our data
//! order, then their new ones, the header and its offsets rebuilt, each tensor's bytes copied from the side
//! whose version it is.

use std::collections::BTreeMap;
use std::io::Write;

use super::rules::{ConflictKind, Favor};
use crate::model::StoredFile;
use crate::model::safetensors::{Header, METADATA_KEY, TensorInfo, shape_text};
use crate::store::Store;
use crate::store::object::{Node, NodeSink};
use crate::store::split::Layout;
use crate::{Error, Result};

/// A tensor (or a `__metadata__` key) the merge could not settle.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct TensorConflict {
    /// The model file's repository path.
    pub path: String,
    /// The tensor's name, or `__metadata__.KEY`.
    pub tensor: String,
    pub kind: ConflictKind,
    /// Each side's version: `F32 [4096, 4096] #1a2b3c4d` for a tensor (type, shape, the start of the BLAKE3
    /// hash of its bytes), the value for a metadata key; `null` where that side has none.
    pub base: Option<String>,
    pub ours: Option<String>,
    pub theirs: Option<String>,
}

/// One side's version of a tensor: type, shape and a hash of its bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Version {
    info: TensorInfo,
    hash: blake3::Hash,
}

impl Version {
    /// `F32 [4096, 4096] #1a2b3c4d`: type, shape and the start of the hash of its bytes (so two versions of
    /// the same type and shape still read apart).
    fn describe(&self) -> String {
        format!(
            "{} {} #{}",
            self.info.dtype,
            shape_text(&self.info.shape),
            &self.hash.to_hex()[..8]
        )
    }
}

/// A side: its file, header and tensors by name.
struct Side<'a> {
    file: StoredFile<'a>,
    header: Header,
    tensors: BTreeMap<String, Version>,
}

/// Bytes read at a time while hashing and copying tensors.
const PIECE: u64 = 4 << 20;

impl<'a> Side<'a> {
    fn open(store: &'a Store, node: &Node, path: &str, what: &str) -> Result<Side<'a>> {
        let mut file = StoredFile::open(store, node, path, what)?;
        let header = crate::model::read_header(&mut file)?;
        let start = header.data_start();
        let mut tensors = BTreeMap::new();
        for t in &header.tensors {
            let mut h = blake3::Hasher::new();
            copy_range(&mut file, start + t.begin, t.end - t.begin, &mut |b| {
                h.update(b);
                Ok(())
            })?;
            tensors.insert(
                t.name.clone(),
                Version {
                    info: t.clone(),
                    hash: h.finalize(),
                },
            );
        }
        Ok(Side {
            file,
            header,
            tensors,
        })
    }
}

/// Hands the `len` bytes at `offset` of `file` to `f`, a piece at a time.
fn copy_range(
    file: &mut StoredFile<'_>,
    offset: u64,
    len: u64,
    f: &mut dyn FnMut(&[u8]) -> Result<()>,
) -> Result<()> {
    let mut buf = vec![0u8; len.min(PIECE) as usize];
    let mut done = 0;
    while done < len {
        let n = (len - done).min(PIECE) as usize;
        file.read_at(offset + done, &mut buf[..n])?;
        f(&buf[..n])?;
        done += n as u64;
    }
    Ok(())
}

/// The same two tensors compared as the merge sees them: type, shape and bytes (not where they lie).
fn same(a: &Option<&Version>, b: &Option<&Version>) -> bool {
    match (a, b) {
        (Some(a), Some(b)) => {
            a.hash == b.hash && a.info.dtype == b.info.dtype && a.info.shape == b.info.shape
        }
        (None, None) => true,
        _ => false,
    }
}

/// Merges model file `path` changed on both sides (`base`: `None` when added on both), the merged file
/// stored through `sink`; returns its node and what conflicts. `None` when a side is not a readable
/// safetensors file (the caller then leaves the whole file in conflict).
pub fn merge_model(
    store: &Store,
    sink: &mut dyn NodeSink,
    path: &str,
    nodes: [Option<Node>; 3],
    favor: Favor,
    layout: Layout,
) -> Result<Option<(Node, Vec<TensorConflict>)>> {
    let open = |n: Option<Node>, side: &str| -> Result<Option<Side<'_>>> {
        n.map(|n| Side::open(store, &n, path, &format!("{path} ({side})")))
            .transpose()
    };
    let sides = (|| {
        Ok::<_, Error>((
            open(nodes[0], "base")?,
            open(nodes[1], "ours")?,
            open(nodes[2], "theirs")?,
        ))
    })();
    let (base, ours, theirs) = match sides {
        Ok((b, Some(o), Some(t))) => (b, o, t),
        Ok(_) => return Ok(None),
        // Cache misses are fetched by the caller; anything else (not a model file) is a plain conflict.
        Err(e @ Error::MissingObjects { .. }) => return Err(e),
        Err(_) => return Ok(None),
    };
    let mut conflicts = Vec::new();
    let get = |s: &Option<Side>, name: &str| -> Option<Version> {
        s.as_ref().and_then(|s| s.tensors.get(name).cloned())
    };
    let mut names: Vec<&String> = ours.tensors.keys().chain(theirs.tensors.keys()).collect();
    if let Some(b) = &base {
        names.extend(b.tensors.keys());
    }
    names.sort();
    names.dedup();
    // Which side's version each merged tensor is.
    let mut chosen: BTreeMap<String, bool> = BTreeMap::new(); // true: theirs
    for name in names {
        let (b, o, t) = (
            get(&base, name),
            ours.tensors.get(name),
            theirs.tensors.get(name),
        );
        let (b, o, t) = (b.as_ref(), o, t);
        let take_theirs = if same(&o, &t) || same(&b, &t) {
            false
        } else if same(&b, &o) {
            true
        } else {
            let kind = match (b, o, t) {
                (None, _, _) => ConflictKind::Added,
                (_, None, _) => ConflictKind::DeletedOurs,
                (_, _, None) => ConflictKind::DeletedTheirs,
                _ => ConflictKind::Modified,
            };
            conflicts.push(TensorConflict {
                path: path.to_string(),
                tensor: name.clone(),
                kind,
                base: b.map(Version::describe),
                ours: o.map(Version::describe),
                theirs: t.map(Version::describe),
            });
            favor == Favor::Theirs
        };
        let present = if take_theirs {
            t.is_some()
        } else {
            o.is_some()
        };
        if present {
            chosen.insert(name.clone(), take_theirs);
        }
    }
    // Metadata, key by key.
    let meta = |s: &Header| -> BTreeMap<String, String> { s.metadata.iter().cloned().collect() };
    let (bm, om, tm) = (
        base.as_ref().map(|b| meta(&b.header)).unwrap_or_default(),
        meta(&ours.header),
        meta(&theirs.header),
    );
    let (metadata, meta_conflicts) = super::merge_meta(Some(&bm), &om, &tm, favor);
    conflicts.extend(meta_conflicts.into_iter().map(|c| TensorConflict {
        path: path.to_string(),
        tensor: format!("{METADATA_KEY}.{}", c.key),
        kind: if c.base.is_none() {
            ConflictKind::Added
        } else {
            ConflictKind::Modified
        },
        base: c.base,
        ours: c.ours,
        theirs: c.theirs,
    }));
    // Data order: ours as laid out, then theirs' own as laid out.
    let in_order = |s: &Side, want_theirs: bool| -> Vec<TensorInfo> {
        let mut v: Vec<TensorInfo> = s
            .header
            .tensors
            .iter()
            .filter(|t| chosen.get(&t.name) == Some(&want_theirs))
            .cloned()
            .collect();
        v.sort_by_key(|t| t.begin);
        v
    };
    let order: Vec<(TensorInfo, bool)> = in_order(&ours, false)
        .into_iter()
        .map(|t| (t, false))
        .chain(in_order(&theirs, true).into_iter().map(|t| (t, true)))
        .collect();
    let node = write_merged(store, sink, path, &metadata, &order, ours, theirs, layout)?;
    Ok(Some((node, conflicts)))
}

/// The safetensors header for `layout` (tensors in data order) and `metadata`, padded with spaces to a
/// multiple of 8 bytes as the format asks.
fn header_json(
    metadata: &BTreeMap<String, String>,
    layout: &[(TensorInfo, bool)],
) -> Result<Vec<u8>> {
    let q = |s: &str| serde_json::to_string(s).map_err(|e| Error::Internal(e.to_string()));
    let mut entries = Vec::new();
    if !metadata.is_empty() {
        let m = metadata
            .iter()
            .map(|(k, v)| Ok(format!("{}:{}", q(k)?, q(v)?)))
            .collect::<Result<Vec<_>>>()?;
        entries.push(format!("{}:{{{}}}", q(METADATA_KEY)?, m.join(",")));
    }
    let mut offset = 0u64;
    for (t, _) in layout {
        let len = t.end - t.begin;
        let dims: Vec<String> = t.shape.iter().map(|d| d.to_string()).collect();
        entries.push(format!(
            "{}:{{\"dtype\":{},\"shape\":[{}],\"data_offsets\":[{offset},{}]}}",
            q(&t.name)?,
            q(t.dtype.name())?,
            dims.join(","),
            offset + len
        ));
        offset += len;
    }
    let mut json = format!("{{{}}}", entries.join(",")).into_bytes();
    while json.len() % 8 != 0 {
        json.push(b' ');
    }
    Ok(json)
}

/// Writes the merged model to a temporary file and stores it; returns its node.
#[allow(clippy::too_many_arguments)]
fn write_merged<'a>(
    store: &Store,
    sink: &mut dyn NodeSink,
    path: &str,
    metadata: &BTreeMap<String, String>,
    layout: &[(TensorInfo, bool)],
    mut ours: Side<'a>,
    mut theirs: Side<'a>,
    store_layout: Layout,
) -> Result<Node> {
    let json = header_json(metadata, layout)?;
    let tmp_dir = store.tmp_dir();
    let mut tmp = crate::fsutil::TempFile::beside(&tmp_dir.join("merged-model"), 0o600)?;
    let io = |e: std::io::Error| Error::io(tmp_dir.as_path(), e);
    {
        let mut w = std::io::BufWriter::new(tmp.file());
        w.write_all(&(json.len() as u64).to_le_bytes())
            .map_err(io)?;
        w.write_all(&json).map_err(io)?;
        for (t, from_theirs) in layout {
            let side = if *from_theirs { &mut theirs } else { &mut ours };
            let start = side.header.data_start();
            copy_range(&mut side.file, start + t.begin, t.end - t.begin, &mut |b| {
                w.write_all(b).map_err(io)
            })?;
        }
        w.flush().map_err(io)?;
    }
    tmp.close();
    // The merged file must read back as a model with the tensors laid out.
    let size = std::fs::metadata(tmp.path()).map_err(io)?.len();
    let check = crate::model::safetensors::parse_header(&json, size, path)?;
    if check.tensors.len() != layout.len() {
        return Err(Error::Internal(format!(
            "{path}: the merged model lost tensors"
        )));
    }
    Ok(crate::store::store_file(tmp.path(), store_layout, sink)?.node(false))
}
