//! Model files: tensor-level diffs of `.safetensors` files, read from the cache.
//!
//! A version is read through its chunk list, one chunk at a time, so memory stays bounded whatever the file
//! size. Two versions of a tensor are first compared by the chunks that hold them: where both byte ranges lie
//! on the same chunk at the same offset the bytes are equal without being read (FastCDC cuts by content, so
//! a fine-tuned model shares every chunk inside its unchanged tensors with the base model, however the header
//! moved them). Only the remaining ranges are read and decoded, element by element.

pub mod safetensors;

use safetensors::{Dtype, Header, TensorInfo};

use crate::store::Store;
use crate::store::object::{Node, NodeKind};
use crate::{Error, ObjectId, Result};

/// Whether dv diffs the file at `path` tensor by tensor.
pub fn is_model_path(path: &str) -> bool {
    let name = path.rsplit('/').next().unwrap_or(path);
    name.len() > ".safetensors".len() && name.to_ascii_lowercase().ends_with(".safetensors")
}

/// Loads a chunk by id (verified by the caller's store).
pub type ChunkLoader<'a> = dyn Fn(&ObjectId) -> Result<Vec<u8>> + 'a;

/// A stored file read by byte ranges, one chunk in memory at a time.
pub struct StoredFile<'a> {
    what: String,
    chunks: Vec<(ObjectId, u32)>,
    /// File offset of each chunk.
    starts: Vec<u64>,
    size: u64,
    load: Box<ChunkLoader<'a>>,
    cached: Option<(usize, Vec<u8>)>,
    /// Bytes of chunks loaded so far.
    pub bytes_loaded: u64,
}

impl<'a> StoredFile<'a> {
    /// A file made of `chunks` in order; `what` names it in errors.
    pub fn new(
        what: impl Into<String>,
        chunks: Vec<(ObjectId, u32)>,
        load: Box<ChunkLoader<'a>>,
    ) -> StoredFile<'a> {
        let mut starts = Vec::with_capacity(chunks.len());
        let mut size = 0u64;
        for &(_, len) in &chunks {
            starts.push(size);
            size += len as u64;
        }
        StoredFile {
            what: what.into(),
            chunks,
            starts,
            size,
            load,
            cached: None,
            bytes_loaded: 0,
        }
    }

    /// The version of a file that `node` names in `store`; `path` is the dataset path (for missing objects),
    /// `what` names the version in errors.
    pub fn open(store: &'a Store, node: &Node, path: &str, what: &str) -> Result<StoredFile<'a>> {
        let missing = |e: Error| match e {
            Error::MissingObjects { count, first, .. } => Error::MissingObjects {
                path: path.to_string(),
                count,
                first,
            },
            other => other,
        };
        let chunks = match node.kind {
            NodeKind::File => {
                let len = u32::try_from(node.size).map_err(|_| Error::Corrupt {
                    id: node.id,
                    message: format!("{what}: a one-chunk file of {} bytes", node.size),
                })?;
                vec![(node.id, len)]
            }
            NodeKind::Chunked => store.read_manifest(&node.id).map_err(missing)?.chunks,
            NodeKind::Tree => {
                return Err(Error::format(what, "is a folder, not a model file"));
            }
        };
        let path = path.to_string();
        let load = move |id: &ObjectId| {
            store.read(id).map_err(|e| match e {
                Error::MissingObjects { count, first, .. } => Error::MissingObjects {
                    path: path.clone(),
                    count,
                    first,
                },
                other => other,
            })
        };
        Ok(StoredFile::new(what, chunks, Box::new(load)))
    }

    /// An in-memory file cut into content-defined chunks as `dv add` would cut it (tests, fuzzing, tools).
    pub fn from_bytes(what: impl Into<String>, data: &'a [u8]) -> StoredFile<'a> {
        let ranges = crate::chunk::chunk_ranges(data);
        let mut chunks = Vec::new();
        let mut by_id = std::collections::HashMap::new();
        for r in ranges {
            let id = ObjectId::of(&data[r.clone()]);
            chunks.push((id, r.len() as u32));
            by_id.insert(id, r);
        }
        let load = move |id: &ObjectId| {
            by_id
                .get(id)
                .map(|r| data[r.clone()].to_vec())
                .ok_or_else(|| Error::Internal(format!("no chunk {}", id.short())))
        };
        StoredFile::new(what, chunks, Box::new(load))
    }

    pub fn size(&self) -> u64 {
        self.size
    }

    pub fn what(&self) -> &str {
        &self.what
    }

    fn chunk(&mut self, i: usize) -> Result<&[u8]> {
        if self.cached.as_ref().is_none_or(|(c, _)| *c != i) {
            let (id, len) = self.chunks[i];
            let data = (self.load)(&id)?;
            if data.len() != len as usize {
                return Err(Error::Corrupt {
                    id,
                    message: format!(
                        "{}: chunk is {} bytes, its manifest says {len}",
                        self.what,
                        data.len()
                    ),
                });
            }
            self.bytes_loaded += len as u64;
            self.cached = Some((i, data));
        }
        Ok(&self.cached.as_ref().expect("just cached").1)
    }

    /// The index of the chunk holding byte `pos` (`pos < size`).
    fn chunk_at(&self, pos: u64) -> usize {
        self.starts.partition_point(|&s| s <= pos).saturating_sub(1)
    }

    /// Fills `buf` with the bytes at `offset`.
    pub fn read_at(&mut self, offset: u64, buf: &mut [u8]) -> Result<()> {
        let end = offset
            .checked_add(buf.len() as u64)
            .filter(|&e| e <= self.size)
            .ok_or_else(|| {
                Error::Internal(format!(
                    "{}: read of {} bytes at {offset} past the end ({} bytes)",
                    self.what,
                    buf.len(),
                    self.size
                ))
            })?;
        let mut pos = offset;
        let mut filled = 0;
        while pos < end {
            let i = self.chunk_at(pos);
            let start = self.starts[i];
            let data = self.chunk(i)?;
            let within = (pos - start) as usize;
            let n = (data.len() - within).min(buf.len() - filled);
            buf[filled..filled + n].copy_from_slice(&data[within..within + n]);
            filled += n;
            pos += n as u64;
        }
        Ok(())
    }
}

/// Reads and checks the safetensors header of a file.
pub fn read_header(file: &mut StoredFile<'_>) -> Result<Header> {
    let what = file.what.clone();
    let size = file.size;
    let mut prefix = [0u8; 8];
    let have = size.min(8) as usize;
    file.read_at(0, &mut prefix[..have])?;
    let n = safetensors::header_len(&prefix[..have], size, &what)?;
    let mut json = vec![0u8; n as usize];
    file.read_at(8, &mut json)?;
    safetensors::parse_header(&json, size, &what)
}

/// How one tensor differs between two versions.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct TensorDiff {
    pub name: String,
    /// "added", "removed" or "changed".
    pub status: &'static str,
    pub old_dtype: Option<&'static str>,
    pub new_dtype: Option<&'static str>,
    pub old_shape: Option<Vec<u64>>,
    pub new_shape: Option<Vec<u64>>,
    /// Elements of the tensor (the new version's, or the old one's when removed).
    pub elements: u64,
    /// For a content change (same dtype and shape): elements whose bytes differ.
    pub changed_elements: Option<u64>,
    /// For a content change: the largest |new − old| over changed elements whose values are both finite.
    pub max_abs_change: Option<f64>,
    /// Changed elements where either value is NaN or infinite (not in `max_abs_change`).
    #[serde(skip_serializing_if = "is_zero")]
    pub non_finite_changes: u64,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// A `__metadata__` entry that differs.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct MetadataChange {
    pub key: String,
    pub old: Option<String>,
    pub new: Option<String>,
}

/// The tensor-level diff of two versions of a model file.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct ModelDiff {
    pub format: &'static str,
    pub tensors_before: u64,
    pub tensors_after: u64,
    pub added: u64,
    pub removed: u64,
    pub changed: u64,
    pub unchanged: u64,
    /// Added, removed and changed tensors, by name.
    pub tensors: Vec<TensorDiff>,
    pub metadata: Vec<MetadataChange>,
    /// Tensor bytes read from each version to compare contents (ranges that lie on shared chunks are not read).
    pub bytes_compared: u64,
}

impl ModelDiff {
    pub fn is_empty(&self) -> bool {
        self.added == 0 && self.removed == 0 && self.changed == 0 && self.metadata.is_empty()
    }
}

/// The tensor diff from version `a` to version `b` of a stored model file (either may be absent).
pub fn diff_stored(
    store: &Store,
    path: &str,
    a: Option<(&Node, &str)>,
    b: Option<(&Node, &str)>,
) -> Result<ModelDiff> {
    let mut fa = a
        .map(|(n, what)| StoredFile::open(store, n, path, what))
        .transpose()?;
    let mut fb = b
        .map(|(n, what)| StoredFile::open(store, n, path, what))
        .transpose()?;
    diff(fa.as_mut(), fb.as_mut())
}

/// The tensor diff from version `a` to version `b` (either may be absent).
pub fn diff(
    mut a: Option<&mut StoredFile<'_>>,
    mut b: Option<&mut StoredFile<'_>>,
) -> Result<ModelDiff> {
    let ha = match a.as_deref_mut() {
        Some(f) => Some(read_header(f)?),
        None => None,
    };
    let hb = match b.as_deref_mut() {
        Some(f) => Some(read_header(f)?),
        None => None,
    };
    let none: &[TensorInfo] = &[];
    let ta = ha.as_ref().map_or(none, |h| &h.tensors[..]);
    let tb = hb.as_ref().map_or(none, |h| &h.tensors[..]);
    let mut out = ModelDiff {
        format: "safetensors",
        tensors_before: ta.len() as u64,
        tensors_after: tb.len() as u64,
        added: 0,
        removed: 0,
        changed: 0,
        unchanged: 0,
        tensors: Vec::new(),
        metadata: metadata_changes(
            ha.as_ref().map_or(&[][..], |h| &h.metadata[..]),
            hb.as_ref().map_or(&[][..], |h| &h.metadata[..]),
        ),
        bytes_compared: 0,
    };
    let (mut i, mut j) = (0, 0);
    while i < ta.len() || j < tb.len() {
        let ord = match (ta.get(i), tb.get(j)) {
            (Some(x), Some(y)) => x.name.cmp(&y.name),
            (Some(_), None) => std::cmp::Ordering::Less,
            (None, _) => std::cmp::Ordering::Greater,
        };
        match ord {
            std::cmp::Ordering::Less => {
                out.removed += 1;
                out.tensors.push(one_sided(&ta[i], "removed"));
                i += 1;
            }
            std::cmp::Ordering::Greater => {
                out.added += 1;
                out.tensors.push(one_sided(&tb[j], "added"));
                j += 1;
            }
            std::cmp::Ordering::Equal => {
                let (x, y) = (&ta[i], &tb[j]);
                let mut d = TensorDiff {
                    name: x.name.clone(),
                    status: "changed",
                    old_dtype: Some(x.dtype.name()),
                    new_dtype: Some(y.dtype.name()),
                    old_shape: Some(x.shape.clone()),
                    new_shape: Some(y.shape.clone()),
                    elements: y.elements,
                    changed_elements: None,
                    max_abs_change: None,
                    non_finite_changes: 0,
                };
                if x.dtype == y.dtype && x.shape == y.shape {
                    let (Some(fa), Some(fb), Some(ha), Some(hb)) =
                        (a.as_deref_mut(), b.as_deref_mut(), &ha, &hb)
                    else {
                        return Err(Error::Internal("tensor on a side without a file".into()));
                    };
                    let c = compare(
                        fa,
                        ha.data_start() + x.begin,
                        fb,
                        hb.data_start() + y.begin,
                        x.end - x.begin,
                        x.dtype,
                    )?;
                    out.bytes_compared += c.bytes;
                    if c.changed == 0 {
                        out.unchanged += 1;
                        i += 1;
                        j += 1;
                        continue;
                    }
                    d.changed_elements = Some(c.changed);
                    d.max_abs_change = c.max_abs;
                    d.non_finite_changes = c.non_finite;
                }
                out.changed += 1;
                out.tensors.push(d);
                i += 1;
                j += 1;
            }
        }
    }
    Ok(out)
}

fn one_sided(t: &TensorInfo, status: &'static str) -> TensorDiff {
    let (old, new) = if status == "added" {
        (None, Some(t))
    } else {
        (Some(t), None)
    };
    TensorDiff {
        name: t.name.clone(),
        status,
        old_dtype: old.map(|t| t.dtype.name()),
        new_dtype: new.map(|t| t.dtype.name()),
        old_shape: old.map(|t| t.shape.clone()),
        new_shape: new.map(|t| t.shape.clone()),
        elements: t.elements,
        changed_elements: None,
        max_abs_change: None,
        non_finite_changes: 0,
    }
}

fn metadata_changes(a: &[(String, String)], b: &[(String, String)]) -> Vec<MetadataChange> {
    let mut out = Vec::new();
    let (mut i, mut j) = (0, 0);
    while i < a.len() || j < b.len() {
        let ord = match (a.get(i), b.get(j)) {
            (Some(x), Some(y)) => x.0.cmp(&y.0),
            (Some(_), None) => std::cmp::Ordering::Less,
            (None, _) => std::cmp::Ordering::Greater,
        };
        match ord {
            std::cmp::Ordering::Less => {
                out.push(MetadataChange {
                    key: a[i].0.clone(),
                    old: Some(a[i].1.clone()),
                    new: None,
                });
                i += 1;
            }
            std::cmp::Ordering::Greater => {
                out.push(MetadataChange {
                    key: b[j].0.clone(),
                    old: None,
                    new: Some(b[j].1.clone()),
                });
                j += 1;
            }
            std::cmp::Ordering::Equal => {
                if a[i].1 != b[j].1 {
                    out.push(MetadataChange {
                        key: a[i].0.clone(),
                        old: Some(a[i].1.clone()),
                        new: Some(b[j].1.clone()),
                    });
                }
                i += 1;
                j += 1;
            }
        }
    }
    out
}

/// The ranges (relative to the tensor) that are not known equal from the chunk lists alone: a piece is known
/// equal when both versions hold it in the same chunk at the same offset within that chunk.
fn unshared_ranges(
    fa: &StoredFile<'_>,
    a0: u64,
    fb: &StoredFile<'_>,
    b0: u64,
    len: u64,
) -> Vec<(u64, u64)> {
    let mut out: Vec<(u64, u64)> = Vec::new();
    if len == 0 {
        return out;
    }
    let (mut ia, mut ib) = (fa.chunk_at(a0), fb.chunk_at(b0));
    let mut t = 0;
    while t < len {
        let (pa, pb) = (a0 + t, b0 + t);
        while fa.starts[ia] + fa.chunks[ia].1 as u64 <= pa {
            ia += 1;
        }
        while fb.starts[ib] + fb.chunks[ib].1 as u64 <= pb {
            ib += 1;
        }
        let (oa, ob) = (pa - fa.starts[ia], pb - fb.starts[ib]);
        let ra = fa.chunks[ia].1 as u64 - oa;
        let rb = fb.chunks[ib].1 as u64 - ob;
        let n = ra.min(rb).min(len - t);
        if fa.chunks[ia].0 != fb.chunks[ib].0 || oa != ob {
            match out.last_mut() {
                Some(last) if last.1 == t => last.1 = t + n,
                _ => out.push((t, t + n)),
            }
        }
        t += n;
    }
    out
}

struct Comparison {
    changed: u64,
    max_abs: Option<f64>,
    non_finite: u64,
    /// Bytes read from each side.
    bytes: u64,
}

/// Bytes compared per read.
const BLOCK: u64 = 1 << 20;

/// Compares a tensor's `len` bytes at `a0` in `fa` and `b0` in `fb`, element by element, reading only the
/// ranges the chunk lists cannot vouch for.
fn compare(
    fa: &mut StoredFile<'_>,
    a0: u64,
    fb: &mut StoredFile<'_>,
    b0: u64,
    len: u64,
    dtype: Dtype,
) -> Result<Comparison> {
    let es = dtype.size();
    // Widen each range to whole elements and merge what then touches.
    let mut ranges: Vec<(u64, u64)> = Vec::new();
    for (s, e) in unshared_ranges(fa, a0, fb, b0, len) {
        let (s, e) = (s - s % es, e.div_ceil(es) * es);
        match ranges.last_mut() {
            Some(last) if s <= last.1 => last.1 = last.1.max(e),
            _ => ranges.push((s, e)),
        }
    }
    let mut c = Comparison {
        changed: 0,
        max_abs: None,
        non_finite: 0,
        bytes: 0,
    };
    let cap = ranges
        .iter()
        .map(|r| r.1 - r.0)
        .max()
        .unwrap_or(0)
        .min(BLOCK) as usize;
    let (mut ba, mut bb) = (vec![0u8; cap], vec![0u8; cap]);
    for (s, e) in ranges {
        let mut pos = s;
        while pos < e {
            let n = (e - pos).min(BLOCK) as usize;
            fa.read_at(a0 + pos, &mut ba[..n])?;
            fb.read_at(b0 + pos, &mut bb[..n])?;
            c.bytes += n as u64;
            if ba[..n] != bb[..n] {
                for (x, y) in ba[..n]
                    .chunks_exact(es as usize)
                    .zip(bb[..n].chunks_exact(es as usize))
                {
                    if x != y {
                        c.changed += 1;
                        match abs_change(dtype, x, y) {
                            Some(d) => {
                                c.max_abs = Some(c.max_abs.map_or(d, |m: f64| m.max(d)));
                            }
                            None => c.non_finite += 1,
                        }
                    }
                }
            }
            pos += n as u64;
        }
    }
    Ok(c)
}

/// |y − x| for two encoded elements; `None` when either is NaN or infinite.
pub fn abs_change(dtype: Dtype, x: &[u8], y: &[u8]) -> Option<f64> {
    fn int(a: i128, b: i128) -> Option<f64> {
        Some((b - a).unsigned_abs() as f64)
    }
    fn float(a: f64, b: f64) -> Option<f64> {
        (a.is_finite() && b.is_finite()).then(|| (b - a).abs())
    }
    fn le<const N: usize>(s: &[u8]) -> [u8; N] {
        let mut a = [0u8; N];
        a.copy_from_slice(&s[..N]);
        a
    }
    match dtype {
        Dtype::Bool | Dtype::U8 => int(x[0] as i128, y[0] as i128),
        Dtype::I8 => int(x[0] as i8 as i128, y[0] as i8 as i128),
        Dtype::I16 => int(
            i16::from_le_bytes(le(x)) as i128,
            i16::from_le_bytes(le(y)) as i128,
        ),
        Dtype::U16 => int(
            u16::from_le_bytes(le(x)) as i128,
            u16::from_le_bytes(le(y)) as i128,
        ),
        Dtype::I32 => int(
            i32::from_le_bytes(le(x)) as i128,
            i32::from_le_bytes(le(y)) as i128,
        ),
        Dtype::U32 => int(
            u32::from_le_bytes(le(x)) as i128,
            u32::from_le_bytes(le(y)) as i128,
        ),
        Dtype::I64 => int(
            i64::from_le_bytes(le(x)) as i128,
            i64::from_le_bytes(le(y)) as i128,
        ),
        Dtype::U64 => int(
            u64::from_le_bytes(le(x)) as i128,
            u64::from_le_bytes(le(y)) as i128,
        ),
        Dtype::F16 => float(
            f16_to_f64(u16::from_le_bytes(le(x))),
            f16_to_f64(u16::from_le_bytes(le(y))),
        ),
        Dtype::BF16 => float(
            bf16_to_f64(u16::from_le_bytes(le(x))),
            bf16_to_f64(u16::from_le_bytes(le(y))),
        ),
        Dtype::F32 => float(
            f32::from_le_bytes(le(x)) as f64,
            f32::from_le_bytes(le(y)) as f64,
        ),
        Dtype::F64 => float(f64::from_le_bytes(le(x)), f64::from_le_bytes(le(y))),
        Dtype::F8E5M2 => float(
            f16_to_f64((x[0] as u16) << 8),
            f16_to_f64((y[0] as u16) << 8),
        ),
        Dtype::F8E4M3 => float(f8e4m3_to_f64(x[0]), f8e4m3_to_f64(y[0])),
        Dtype::F8E8M0 => float(f8e8m0_to_f64(x[0]), f8e8m0_to_f64(y[0])),
        Dtype::C64 => {
            let part = |s: &[u8], i: usize| f32::from_le_bytes(le(&s[i..])) as f64;
            let (xr, xi, yr, yi) = (part(x, 0), part(x, 4), part(y, 0), part(y, 4));
            if [xr, xi, yr, yi].iter().all(|v| v.is_finite()) {
                Some((yr - xr).hypot(yi - xi))
            } else {
                None
            }
        }
    }
}

/// IEEE 754 half precision.
pub fn f16_to_f64(bits: u16) -> f64 {
    let sign = if bits & 0x8000 != 0 { -1.0 } else { 1.0 };
    let exp = ((bits >> 10) & 0x1f) as i32;
    let man = (bits & 0x3ff) as f64;
    match exp {
        0 => sign * man * 2f64.powi(-24),
        31 if man == 0.0 => sign * f64::INFINITY,
        31 => f64::NAN,
        _ => sign * (1.0 + man / 1024.0) * 2f64.powi(exp - 15),
    }
}

/// bfloat16: the top half of an f32.
pub fn bf16_to_f64(bits: u16) -> f64 {
    f32::from_bits((bits as u32) << 16) as f64
}

/// float8 E4M3 (the "FN" variant: no infinities, NaN at all ones).
pub fn f8e4m3_to_f64(b: u8) -> f64 {
    let sign = if b & 0x80 != 0 { -1.0 } else { 1.0 };
    let exp = ((b >> 3) & 0xf) as i32;
    let man = (b & 7) as f64;
    match exp {
        15 if man == 7.0 => f64::NAN,
        0 => sign * man / 8.0 * 2f64.powi(-6),
        _ => sign * (1.0 + man / 8.0) * 2f64.powi(exp - 7),
    }
}

/// float8 E8M0: an unsigned power of two, NaN at 0xFF.
pub fn f8e8m0_to_f64(b: u8) -> f64 {
    if b == 0xff {
        f64::NAN
    } else {
        2f64.powi(b as i32 - 127)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A safetensors file with `tensors` (name, dtype, shape, bytes) laid out in the order given.
    pub(crate) fn write(
        tensors: &[(&str, &str, &[u64], Vec<u8>)],
        meta: &[(&str, &str)],
    ) -> Vec<u8> {
        let mut entries = Vec::new();
        if !meta.is_empty() {
            let m: Vec<String> = meta
                .iter()
                .map(|(k, v)| format!("\"{k}\":\"{v}\""))
                .collect();
            entries.push(format!("\"__metadata__\":{{{}}}", m.join(",")));
        }
        let mut offset = 0;
        for (name, dtype, shape, data) in tensors {
            let dims: Vec<String> = shape.iter().map(|d| d.to_string()).collect();
            entries.push(format!(
                "\"{name}\":{{\"dtype\":\"{dtype}\",\"shape\":[{}],\"data_offsets\":[{offset},{}]}}",
                dims.join(","),
                offset + data.len()
            ));
            offset += data.len();
        }
        let mut json = format!("{{{}}}", entries.join(","));
        while json.len() % 8 != 0 {
            json.push(' ');
        }
        let mut out = (json.len() as u64).to_le_bytes().to_vec();
        out.extend_from_slice(json.as_bytes());
        for (_, _, _, data) in tensors {
            out.extend_from_slice(data);
        }
        out
    }

    fn f32s(v: &[f32]) -> Vec<u8> {
        v.iter().flat_map(|x| x.to_le_bytes()).collect()
    }

    /// `n` deterministic pseudo-random f32 values in [-1, 1).
    fn noise(seed: u64, n: usize) -> Vec<f32> {
        let mut s = seed;
        (0..n)
            .map(|_| {
                s = s
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                ((s >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
            })
            .collect()
    }

    fn run(a: &[u8], b: &[u8]) -> ModelDiff {
        let mut fa = StoredFile::from_bytes("a.safetensors", a);
        let mut fb = StoredFile::from_bytes("b.safetensors", b);
        diff(Some(&mut fa), Some(&mut fb)).unwrap()
    }

    #[test]
    fn known_changes_are_reported_exactly() {
        let base = vec![0.5f32; 12];
        let mut tuned = base.clone();
        tuned[1] = 0.75; // +0.25
        tuned[5] = -1.5; // -2.0
        tuned[11] = 0.5625; // +0.0625
        let a = write(
            &[
                ("same", "F32", &[2], f32s(&[1.0, 2.0])),
                ("w", "F32", &[3, 4], f32s(&base)),
                ("gone", "I32", &[1], 7i32.to_le_bytes().to_vec()),
                ("cast", "F32", &[2], f32s(&[1.0, 2.0])),
                ("reshape", "F32", &[2, 2], f32s(&[1.0; 4])),
            ],
            &[("format", "pt"), ("step", "1")],
        );
        let b = write(
            &[
                ("new", "U8", &[3], vec![1, 2, 3]),
                ("same", "F32", &[2], f32s(&[1.0, 2.0])),
                ("w", "F32", &[3, 4], f32s(&tuned)),
                ("cast", "F16", &[2], vec![0, 0x3c, 0, 0x40]),
                ("reshape", "F32", &[4], f32s(&[1.0; 4])),
            ],
            &[("format", "pt"), ("step", "2")],
        );
        let d = run(&a, &b);
        assert_eq!(
            (
                d.tensors_before,
                d.tensors_after,
                d.added,
                d.removed,
                d.changed,
                d.unchanged
            ),
            (5, 5, 1, 1, 3, 1)
        );
        let by_name = |n: &str| d.tensors.iter().find(|t| t.name == n).unwrap().clone();
        assert_eq!(
            by_name("w"),
            TensorDiff {
                name: "w".into(),
                status: "changed",
                old_dtype: Some("F32"),
                new_dtype: Some("F32"),
                old_shape: Some(vec![3, 4]),
                new_shape: Some(vec![3, 4]),
                elements: 12,
                changed_elements: Some(3),
                max_abs_change: Some(2.0),
                non_finite_changes: 0,
            }
        );
        let cast = by_name("cast");
        assert_eq!((cast.old_dtype, cast.new_dtype), (Some("F32"), Some("F16")));
        assert_eq!(cast.changed_elements, None);
        let reshape = by_name("reshape");
        assert_eq!(
            (reshape.old_shape, reshape.new_shape),
            (Some(vec![2, 2]), Some(vec![4]))
        );
        assert_eq!(by_name("new").status, "added");
        assert_eq!(by_name("new").new_shape, Some(vec![3]));
        assert_eq!(by_name("gone").status, "removed");
        assert_eq!(by_name("gone").old_dtype, Some("I32"));
        let names: Vec<&str> = d.tensors.iter().map(|t| t.name.as_str()).collect();
        assert_eq!(names, ["cast", "gone", "new", "reshape", "w"]);
        assert_eq!(
            d.metadata,
            [MetadataChange {
                key: "step".into(),
                old: Some("1".into()),
                new: Some("2".into())
            }]
        );
    }

    #[test]
    fn a_file_against_itself_is_empty_and_reads_no_tensor_bytes() {
        let f = write(&[("w", "F32", &[50_000], f32s(&noise(1, 50_000)))], &[]);
        let d = run(&f, &f);
        assert!(d.is_empty());
        assert_eq!((d.unchanged, d.bytes_compared), (1, 0));
    }

    #[test]
    fn only_ranges_on_unshared_chunks_are_read() {
        // Three 1.6 MB tensors; the second version adds a tensor (so the header grows and every offset
        // moves) and changes two elements of the middle one.
        let t: Vec<Vec<f32>> = (0..3).map(|i| noise(10 + i, 400_000)).collect();
        let mut mid = t[1].clone();
        mid[1000] += 0.5;
        mid[300_000] = -mid[300_000];
        let want_max = (2.0 * t[1][300_000] as f64).abs().max(0.5);
        let a = write(
            &[
                ("l0", "F32", &[400_000], f32s(&t[0])),
                ("l1", "F32", &[400_000], f32s(&t[1])),
                ("l2", "F32", &[400_000], f32s(&t[2])),
            ],
            &[],
        );
        let b = write(
            &[
                ("extra", "U8", &[5], vec![9; 5]),
                ("l0", "F32", &[400_000], f32s(&t[0])),
                ("l1", "F32", &[400_000], f32s(&mid)),
                ("l2", "F32", &[400_000], f32s(&t[2])),
            ],
            &[],
        );
        let d = run(&a, &b);
        assert_eq!((d.added, d.changed, d.unchanged), (1, 1, 2));
        let l1 = &d.tensors[1];
        assert_eq!(l1.name, "l1");
        assert_eq!(l1.changed_elements, Some(2));
        let got = l1.max_abs_change.unwrap();
        assert!((got - want_max).abs() < 1e-6, "{got} vs {want_max}");
        // Two edits cost a few chunks each; the rest of 4.8 MB is vouched for by chunk ids.
        assert!(d.bytes_compared < 2_000_000, "read {}", d.bytes_compared);
        assert!(d.bytes_compared > 0);
    }

    #[test]
    fn elements_decode_by_dtype() {
        let c = |d: Dtype, x: &[u8], y: &[u8]| abs_change(d, x, y);
        assert_eq!(c(Dtype::F16, &[0x00, 0x3c], &[0x00, 0xc0]), Some(3.0)); // 1 → -2
        assert_eq!(
            c(Dtype::F16, &[0x01, 0x00], &[0x00, 0x00]),
            Some(2f64.powi(-24))
        ); // subnormal
        assert_eq!(c(Dtype::F16, &[0x00, 0x7c], &[0x00, 0x00]), None); // inf
        assert_eq!(c(Dtype::BF16, &[0x80, 0x3f], &[0x40, 0x40]), Some(2.0)); // 1 → 3
        assert_eq!(c(Dtype::F8E4M3, &[0x38], &[0x40]), Some(1.0)); // 1 → 2
        assert_eq!(c(Dtype::F8E4M3, &[0x7f], &[0x40]), None); // NaN
        assert_eq!(c(Dtype::F8E4M3, &[0x7e], &[0x00]), Some(448.0)); // the largest
        assert_eq!(c(Dtype::F8E5M2, &[0x3c], &[0xc4]), Some(5.0)); // 1 → -4
        assert_eq!(c(Dtype::F8E8M0, &[127], &[130]), Some(7.0)); // 1 → 8
        assert_eq!(c(Dtype::I8, &[0x80], &[0x7f]), Some(255.0));
        assert_eq!(
            c(Dtype::I64, &i64::MIN.to_le_bytes(), &i64::MAX.to_le_bytes()),
            Some(u64::MAX as f64)
        );
        assert_eq!(c(Dtype::U16, &[1, 0], &[0, 1]), Some(255.0));
        assert_eq!(c(Dtype::Bool, &[0], &[1]), Some(1.0));
        let z = |re: f32, im: f32| [re.to_le_bytes(), im.to_le_bytes()].concat();
        assert_eq!(c(Dtype::C64, &z(0.0, 0.0), &z(3.0, 4.0)), Some(5.0));
        assert_eq!(
            c(Dtype::F64, &1f64.to_le_bytes(), &f64::NAN.to_le_bytes()),
            None
        );
    }

    #[test]
    fn non_finite_changes_are_counted_apart() {
        let a = write(&[("w", "F32", &[3], f32s(&[1.0, 2.0, 3.0]))], &[]);
        let b = write(&[("w", "F32", &[3], f32s(&[f32::NAN, 2.5, -0.0]))], &[]);
        let d = run(&a, &b);
        let w = &d.tensors[0];
        assert_eq!(w.changed_elements, Some(3));
        assert_eq!(w.non_finite_changes, 1);
        assert_eq!(w.max_abs_change, Some(3.0));
    }

    #[test]
    fn one_sided_diffs_list_every_tensor() {
        let f = write(
            &[
                ("a", "F32", &[1], f32s(&[1.0])),
                ("b", "I8", &[2], vec![1, 2]),
            ],
            &[],
        );
        let mut file = StoredFile::from_bytes("f", &f);
        let d = diff(None, Some(&mut file)).unwrap();
        assert_eq!((d.added, d.tensors_before, d.tensors_after), (2, 0, 2));
        let mut file = StoredFile::from_bytes("f", &f);
        let d = diff(Some(&mut file), None).unwrap();
        assert_eq!((d.removed, d.tensors_before), (2, 2));
    }

    #[test]
    fn a_malformed_version_names_itself() {
        let good = write(&[("a", "F32", &[1], f32s(&[1.0]))], &[]);
        let mut bad = good.clone();
        bad[0] = 0xff;
        let mut fa = StoredFile::from_bytes("m.safetensors at HEAD~1", &good);
        let mut fb = StoredFile::from_bytes("m.safetensors", &bad);
        let e = diff(Some(&mut fa), Some(&mut fb)).unwrap_err().to_string();
        assert!(
            e.starts_with("m.safetensors: invalid safetensors header: header length 255"),
            "{e}"
        );
    }

    proptest::proptest! {
        /// Any valid file diffs empty against itself, and flipping one data byte changes exactly the one
        /// element that holds it.
        #[test]
        fn one_flipped_byte_is_one_changed_element(
            specs in proptest::collection::vec((0usize..Dtype::ALL.len(), 0u64..40), 1..6),
            pick in 0usize..10_000,
            flip in 1u8..=255,
        ) {
            let data: Vec<(String, Dtype, Vec<u8>, u64)> = specs
                .iter()
                .enumerate()
                .map(|(i, &(d, n))| {
                    let dtype = Dtype::ALL[d];
                    let bytes = f32s(&noise(i as u64, (n * dtype.size()) as usize))[..(n * dtype.size()) as usize].to_vec();
                    (format!("t{i}"), dtype, bytes, n)
                })
                .collect();
            let shapes: Vec<[u64; 1]> = data.iter().map(|t| [t.3]).collect();
            let list: Vec<(&str, &str, &[u64], Vec<u8>)> = data
                .iter()
                .zip(&shapes)
                .map(|(t, s)| (t.0.as_str(), t.1.name(), &s[..], t.2.clone()))
                .collect();
            let a = write(&list, &[]);
            let same = run(&a, &a);
            proptest::prop_assert!(same.is_empty());
            let total: usize = data.iter().map(|t| t.2.len()).sum();
            if total > 0 {
                let at = pick % total;
                let mut b = a.clone();
                let start = a.len() - total;
                b[start + at] ^= flip;
                let d = run(&a, &b);
                proptest::prop_assert_eq!((d.changed, d.added, d.removed), (1, 0, 0));
                proptest::prop_assert_eq!(d.tensors[0].changed_elements, Some(1));
                let mut before = 0;
                let owner = data.iter().find(|t| { before += t.2.len(); at < before }).unwrap();
                proptest::prop_assert_eq!(&d.tensors[0].name, &owner.0);
            }
        }
    }

    proptest::proptest! {
        /// What the fuzz target checks, on random bytes behind a plausible header length: whole and chunked
        /// reads agree, and anything accepted diffs empty against itself.
        #[test]
        fn random_headers_never_panic(body in proptest::collection::vec(proptest::num::u8::ANY, 0..400), n in 0u64..500) {
            let mut data = n.to_le_bytes().to_vec();
            data.extend_from_slice(&body);
            let parsed = safetensors::parse(&data, "p");
            let chunked = read_header(&mut StoredFile::from_bytes("p", &data));
            proptest::prop_assert_eq!(
                parsed.as_ref().map_err(|e| e.to_string()),
                chunked.as_ref().map_err(|e| e.to_string())
            );
            if parsed.is_ok() {
                let d = run(&data, &data);
                proptest::prop_assert!(d.is_empty());
            }
        }
    }

    #[test]
    fn model_paths() {
        assert!(is_model_path("models/m.safetensors"));
        assert!(is_model_path("M.SafeTensors"));
        assert!(!is_model_path("models/.safetensors"));
        assert!(!is_model_path("m.safetensors.bak"));
    }
}
