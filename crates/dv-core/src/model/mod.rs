//! Model files: tensor-level diffs of `.safetensors` files, read from the cache.
//!
//! A version is read through its chunk list, one chunk at a time, so memory stays bounded whatever the file
//! size. Two versions of a tensor are first compared by the chunks that hold them: where both byte ranges lie
//! on the same chunk at the same offset the bytes are equal without being read (FastCDC cuts by content, so
//! a fine-tuned model shares every chunk inside its unchanged tensors with the base model, however the header
//! moved them). Only the remaining ranges are read and decoded, element by element.

mod diff;
mod dtype;
pub mod safetensors;
mod stored;

pub use diff::{
    MetadataChange, ModelDiff, ModelFormat, TensorDiff, TensorStatus, diff, diff_stored,
};
pub use dtype::abs_change;
pub use stored::{ChunkLoader, StoredFile, read_header};

/// Whether dv diffs the file at `path` tensor by tensor.
pub fn is_model_path(path: &str) -> bool {
    let name = path.rsplit('/').next().unwrap_or(path);
    name.len() > ".safetensors".len() && name.to_ascii_lowercase().ends_with(".safetensors")
}

#[cfg(test)]
mod tests {
    use super::safetensors::Dtype;
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
                status: TensorStatus::Changed,
                old_dtype: Some(Dtype::F32),
                new_dtype: Some(Dtype::F32),
                old_shape: Some(vec![3, 4]),
                new_shape: Some(vec![3, 4]),
                elements: 12,
                changed_elements: Some(3),
                max_abs_change: Some(2.0),
                non_finite_changes: 0,
            }
        );
        let cast = by_name("cast");
        assert_eq!(
            (cast.old_dtype, cast.new_dtype),
            (Some(Dtype::F32), Some(Dtype::F16))
        );
        assert_eq!(cast.changed_elements, None);
        let reshape = by_name("reshape");
        assert_eq!(
            (reshape.old_shape, reshape.new_shape),
            (Some(vec![2, 2]), Some(vec![4]))
        );
        assert_eq!(by_name("new").status, TensorStatus::Added);
        assert_eq!(by_name("new").new_shape, Some(vec![3]));
        assert_eq!(by_name("gone").status, TensorStatus::Removed);
        assert_eq!(by_name("gone").old_dtype, Some(Dtype::I32));
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
