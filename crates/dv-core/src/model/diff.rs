//! Tensor-level diffs of two stored versions of a model file: compared by shared chunks first, then element by
//! element where the bytes may differ.

use super::dtype::abs_change;
use super::safetensors::{Dtype, TensorInfo};
use super::stored::{StoredFile, read_header};
use crate::store::Store;
use crate::store::object::Node;
use crate::{Error, Result};

words! {
    /// How one tensor differs between two versions.
    pub enum TensorStatus {
        Added = "added",
        Removed = "removed",
        Changed = "changed",
    }
}

words! {
    /// The file format a model diff read.
    pub enum ModelFormat {
        Safetensors = "safetensors",
    }
}

/// How one tensor differs between two versions.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct TensorDiff {
    pub name: String,
    pub status: TensorStatus,
    pub old_dtype: Option<Dtype>,
    pub new_dtype: Option<Dtype>,
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
    pub format: ModelFormat,
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
        format: ModelFormat::Safetensors,
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
                out.tensors.push(one_sided(&ta[i], TensorStatus::Removed));
                i += 1;
            }
            std::cmp::Ordering::Greater => {
                out.added += 1;
                out.tensors.push(one_sided(&tb[j], TensorStatus::Added));
                j += 1;
            }
            std::cmp::Ordering::Equal => {
                let (x, y) = (&ta[i], &tb[j]);
                let mut d = TensorDiff {
                    name: x.name.clone(),
                    status: TensorStatus::Changed,
                    old_dtype: Some(x.dtype),
                    new_dtype: Some(y.dtype),
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

fn one_sided(t: &TensorInfo, status: TensorStatus) -> TensorDiff {
    let (old, new) = if status == TensorStatus::Added {
        (None, Some(t))
    } else {
        (Some(t), None)
    };
    TensorDiff {
        name: t.name.clone(),
        status,
        old_dtype: old.map(|t| t.dtype),
        new_dtype: new.map(|t| t.dtype),
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
