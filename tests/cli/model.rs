//! Model files: `dv diff` on `.safetensors` files, tensor by tensor, on files the tests write themselves.

use crate::common::*;

/// A tensor to write: name, dtype, shape and its raw little-endian bytes.
pub(crate) type Tensor<'a> = (&'a str, &'a str, Vec<u64>, Vec<u8>);

/// A safetensors file: u64 LE header length, the JSON header (padded with spaces to 8 bytes, as the reference
/// writer does), then the tensors' bytes in the order given.
pub(crate) fn safetensors(tensors: &[Tensor<'_>], meta: &[(&str, &str)]) -> Vec<u8> {
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

pub(crate) fn f32s(v: &[f32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

/// Values in [-1, 1) with exact binary fractions (multiples of 2^-10), so changes have exact deltas.
pub(crate) fn weights(seed: u64, n: usize) -> Vec<f32> {
    bytes(seed, n * 2)
        .chunks_exact(2)
        .map(|b| (u16::from_le_bytes([b[0], b[1]]) % 2048) as f32 / 1024.0 - 1.0)
        .collect()
}

/// Version 1 and version 2 of a model with known differences: 3 elements of `embed` changed (by +0.25, -1.0
/// and +0.5), `head` added, `old` removed, `layer.1.w` cast from F32 to F16, `layer.1.b` reshaped from [2, 3]
/// to [6], `layer.0.w` and `norm` unchanged, metadata `step` 1 → 2.
fn two_versions() -> (Vec<u8>, Vec<u8>) {
    let embed = weights(1, 256 * 1024); // 1 MiB: many chunks
    let mut tuned = embed.clone();
    tuned[10] += 0.25;
    tuned[100_000] -= 1.0;
    tuned[262_143] += 0.5;
    let l0 = f32s(&weights(2, 16));
    let norm: Vec<u8> = [0x3f80u16, 0x4000, 0x4040, 0x4080]
        .iter()
        .flat_map(|x| x.to_le_bytes())
        .collect();
    let v1 = safetensors(
        &[
            ("embed", "F32", vec![256, 1024], f32s(&embed)),
            ("layer.0.w", "F32", vec![4, 4], l0.clone()),
            ("layer.1.w", "F32", vec![8], f32s(&[0.5; 8])),
            ("layer.1.b", "F32", vec![2, 3], f32s(&[0.0; 6])),
            (
                "old",
                "I64",
                vec![2],
                [7i64, -7].iter().flat_map(|x| x.to_le_bytes()).collect(),
            ),
            ("norm", "BF16", vec![4], norm.clone()),
        ],
        &[("format", "pt"), ("step", "1")],
    );
    let v2 = safetensors(
        &[
            ("embed", "F32", vec![256, 1024], f32s(&tuned)),
            ("layer.0.w", "F32", vec![4, 4], l0),
            ("layer.1.w", "F16", vec![8], [0u8, 0x38].repeat(8)),
            ("layer.1.b", "F32", vec![6], f32s(&[0.0; 6])),
            ("norm", "BF16", vec![4], norm),
            ("head", "F32", vec![2], f32s(&[1.0, -1.0])),
        ],
        &[("format", "pt"), ("step", "2")],
    );
    (v1, v2)
}

/// A repository with version 1 committed and version 2 added (pointer staged, not committed).
fn repo_with_two_versions() -> TestRepo {
    let r = TestRepo::new();
    let (v1, v2) = two_versions();
    r.write("model.safetensors", &v1);
    r.ok(&["add", "model.safetensors"]);
    r.git(&["add", "-A"]);
    r.git(&["commit", "-q", "-m", "v1"]);
    r.write("model.safetensors", &v2);
    r.ok(&["add", "model.safetensors"]);
    r
}

const WANT_TEXT: &str = "    tensors: 1 added, 1 removed, 3 changed, 2 unchanged (6 -> 6 tensors)
    ~ embed  F32 [256, 1024]  changed 3 of 262,144 elements, max |Δ| 1
    + head  F32 [2]
    ~ layer.1.b  F32 [2, 3] → [6]
    ~ layer.1.w  F32 → F16 [8]
    - old  I64 [2]
    metadata: step \"1\" → \"2\"
";

#[test]
fn safetensors_diff_reports_each_tensor_change() {
    let r = repo_with_two_versions();
    // HEAD against the work tree's pointer, then the two commits.
    let text = r.ok(&["diff", "model.safetensors"]);
    let (head, tensors) = text.split_once("    tensors:").expect("a tensors line");
    assert!(head.starts_with("model.safetensors (modified): "), "{text}");
    assert_eq!(format!("    tensors:{tensors}"), WANT_TEXT);
    r.git(&["commit", "-q", "-m", "v2"]);
    let text = r.ok(&["diff", "HEAD~1", "HEAD", "model.safetensors"]);
    assert!(text.ends_with(WANT_TEXT), "{text}");
    // Without a path, every dataset: the model is the only one.
    assert!(r.ok(&["diff", "HEAD~1", "HEAD"]).ends_with(WANT_TEXT));
}

#[test]
fn safetensors_diff_json_is_exact() {
    let r = repo_with_two_versions();
    let v = r.json(&["diff", "model.safetensors"]);
    let m = &v[0]["model"];
    let tensor = |name: &str, status: &str, od, nd, os, ns, elements: u64, changed, max| {
        serde_json::json!({
            "name": name, "status": status, "old_dtype": od, "new_dtype": nd,
            "old_shape": os, "new_shape": ns, "elements": elements,
            "changed_elements": changed, "max_abs_change": max,
        })
    };
    let null = serde_json::Value::Null;
    let want = serde_json::json!({
        "format": "safetensors",
        "tensors_before": 6,
        "tensors_after": 6,
        "added": 1,
        "removed": 1,
        "changed": 3,
        "unchanged": 2,
        "tensors": [
            tensor("embed", "changed", "F32".into(), "F32".into(), serde_json::json!([256, 1024]),
                   serde_json::json!([256, 1024]), 262_144, 3.into(), 1.0.into()),
            tensor("head", "added", null.clone(), "F32".into(), null.clone(), serde_json::json!([2]),
                   2, null.clone(), null.clone()),
            tensor("layer.1.b", "changed", "F32".into(), "F32".into(), serde_json::json!([2, 3]),
                   serde_json::json!([6]), 6, null.clone(), null.clone()),
            tensor("layer.1.w", "changed", "F32".into(), "F16".into(), serde_json::json!([8]),
                   serde_json::json!([8]), 8, null.clone(), null.clone()),
            tensor("old", "removed", "I64".into(), null.clone(), serde_json::json!([2]), null.clone(),
                   2, null.clone(), null.clone()),
        ],
        "metadata": [{"key": "step", "old": "1", "new": "2"}],
        "bytes_compared": m["bytes_compared"].clone(),
    });
    assert_eq!(m, &want);
    // Only the chunks around the three edits of the 1 MiB tensor are read, though adding `head` moved
    // every tensor's offset.
    let read = m["bytes_compared"].as_u64().unwrap();
    assert!(read > 0 && read < 800_000, "read {read} bytes");
    assert_eq!(v[0]["state"], "modified");

    // --stat: counts only.
    let v = r.json(&["diff", "model.safetensors", "--stat"]);
    assert_eq!(v[0]["model"]["changed"], 3);
    assert_eq!(v[0]["model"]["tensors"], serde_json::json!([]));
    let text = r.ok(&["diff", "model.safetensors", "--stat"]);
    assert!(
        text.ends_with(
            "    tensors: 1 added, 1 removed, 3 changed, 2 unchanged (6 -> 6 tensors)\n    metadata: step \"1\" → \"2\"\n"
        ),
        "{text}"
    );
}

#[test]
fn safetensors_new_file_lists_every_tensor_as_added() {
    let r = TestRepo::new();
    r.git(&["add", "-A"]);
    r.git(&["commit", "-q", "-m", "init"]);
    let (v1, _) = two_versions();
    r.write("m.safetensors", &v1);
    r.ok(&["add", "m.safetensors"]);
    let v = r.json(&["diff"]);
    assert_eq!(v[0]["state"], "added");
    let m = &v[0]["model"];
    assert_eq!(
        (m["added"].as_u64(), m["tensors_before"].as_u64()),
        (Some(6), Some(0))
    );
    assert_eq!(m["metadata"].as_array().unwrap().len(), 2);
    // An unchanged model says nothing and reads nothing.
    r.git(&["commit", "-q", "-m", "m"]);
    let v = r.json(&["diff"]);
    assert_eq!(v[0]["state"], "unchanged");
    assert!(v[0].get("model").is_none());
}

#[test]
fn safetensors_malformed_headers_are_clear_errors() {
    let r = repo_with_two_versions();
    r.git(&["commit", "-q", "-m", "v2"]);
    let (_, v2) = two_versions();
    let cases: Vec<(Vec<u8>, String)> = vec![
        (
            {
                let mut f = v2.clone();
                f[..8].copy_from_slice(&(1u64 << 40).to_le_bytes());
                f
            },
            "header length 1099511627776 is over the limit of 104857600 bytes".into(),
        ),
        (
            {
                let mut f = v2.clone();
                f[..8].copy_from_slice(&(v2.len() as u64).to_le_bytes());
                f
            },
            format!(
                "header length {} runs past the end of the file ({} bytes)",
                v2.len(),
                v2.len()
            ),
        ),
        (
            b"{\"w\":".to_vec(),
            "the file is 5 bytes, too short for the 8-byte header length".into(),
        ),
        (
            safetensors(&[("w", "Q8", vec![2], vec![0, 0])], &[]),
            "tensor 'w': dtype 'Q8' is not a safetensors dtype".into(),
        ),
        (
            {
                // The header promises 16 bytes of data the file does not have.
                let mut f = safetensors(&[("w", "F32", vec![4], f32s(&[1.0; 4]))], &[]);
                f.truncate(f.len() - 4);
                f
            },
            "tensor 'w': data_offsets [0, 16] run past the end of the data (12 bytes)".into(),
        ),
    ];
    for (bytes, want) in cases {
        r.write("model.safetensors", &bytes);
        r.ok(&["add", "model.safetensors"]);
        let err = r.fails(&["diff", "model.safetensors"]);
        assert_eq!(
            err.lines().next().unwrap(),
            format!("error: model.safetensors: invalid safetensors header: {want}")
        );
        // The same version at a revision is named by it.
        r.git(&["commit", "-q", "-m", "bad"]);
        let err = r.fails(&["diff", "HEAD~1", "HEAD", "--", "model.safetensors"]);
        assert!(
            err.starts_with(&format!(
                "error: model.safetensors at HEAD: invalid safetensors header: {want}"
            )),
            "{err}"
        );
        r.git(&["reset", "-q", "--soft", "HEAD~1"]);
    }
}
