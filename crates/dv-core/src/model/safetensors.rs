//! The safetensors header: `u64` little-endian length N, N bytes of UTF-8 JSON, then the tensor bytes. dv reads
//! this format but does not define it; the rules it checks are listed in docs/format.md ("Model files").
//!
//! Long only with its tests (about 450 lines without them): one format's parser and checks, beside their tests.
//!
//! The header is untrusted (it comes from whoever committed the file), so everything is checked and nothing
//! panics: the length is bounded, the JSON is parsed into typed values with bounded shapes, element counts and
//! byte sizes use checked arithmetic, and every tensor must lie inside the data area without overlapping another.

use std::fmt;

use serde::Deserialize;
use serde::de::{self, MapAccess, SeqAccess, Visitor};

use crate::{Error, Result};

/// The largest header dv reads (the reference implementation's limit is 100 MB).
pub const MAX_HEADER_LEN: u64 = 100 << 20;
/// The most dimensions a tensor may have.
pub const MAX_RANK: usize = 64;
/// The key of the optional string-to-string metadata map.
pub const METADATA_KEY: &str = "__metadata__";

/// An element type, as named in the header.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Dtype {
    Bool,
    U8,
    I8,
    F8E5M2,
    F8E4M3,
    F8E8M0,
    I16,
    U16,
    F16,
    BF16,
    I32,
    U32,
    F32,
    C64,
    F64,
    I64,
    U64,
}

impl Dtype {
    pub const ALL: [Dtype; 17] = [
        Dtype::Bool,
        Dtype::U8,
        Dtype::I8,
        Dtype::F8E5M2,
        Dtype::F8E4M3,
        Dtype::F8E8M0,
        Dtype::I16,
        Dtype::U16,
        Dtype::F16,
        Dtype::BF16,
        Dtype::I32,
        Dtype::U32,
        Dtype::F32,
        Dtype::C64,
        Dtype::F64,
        Dtype::I64,
        Dtype::U64,
    ];

    /// The name used in headers.
    pub fn name(self) -> &'static str {
        match self {
            Dtype::Bool => "BOOL",
            Dtype::U8 => "U8",
            Dtype::I8 => "I8",
            Dtype::F8E5M2 => "F8_E5M2",
            Dtype::F8E4M3 => "F8_E4M3",
            Dtype::F8E8M0 => "F8_E8M0",
            Dtype::I16 => "I16",
            Dtype::U16 => "U16",
            Dtype::F16 => "F16",
            Dtype::BF16 => "BF16",
            Dtype::I32 => "I32",
            Dtype::U32 => "U32",
            Dtype::F32 => "F32",
            Dtype::C64 => "C64",
            Dtype::F64 => "F64",
            Dtype::I64 => "I64",
            Dtype::U64 => "U64",
        }
    }

    pub fn from_name(s: &str) -> Option<Dtype> {
        Dtype::ALL.into_iter().find(|d| d.name() == s)
    }

    /// Bytes per element.
    pub fn size(self) -> u64 {
        match self {
            Dtype::Bool | Dtype::U8 | Dtype::I8 | Dtype::F8E5M2 | Dtype::F8E4M3 | Dtype::F8E8M0 => {
                1
            }
            Dtype::I16 | Dtype::U16 | Dtype::F16 | Dtype::BF16 => 2,
            Dtype::I32 | Dtype::U32 | Dtype::F32 => 4,
            Dtype::C64 | Dtype::F64 | Dtype::I64 | Dtype::U64 => 8,
        }
    }
}

/// Serialized as its header name (`F32`, `BF16`), as reports write it.
impl serde::Serialize for Dtype {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.serialize_str(self.name())
    }
}

impl fmt::Display for Dtype {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One tensor of the header, checked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TensorInfo {
    pub name: String,
    pub dtype: Dtype,
    pub shape: Vec<u64>,
    /// The product of the shape (1 for a scalar).
    pub elements: u64,
    /// Byte offsets relative to the start of the data area (the byte after the header); `end - begin` is
    /// `elements × dtype.size()`.
    pub begin: u64,
    pub end: u64,
}

/// A checked header.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Header {
    /// N, the length of the JSON text.
    pub header_len: u64,
    /// Tensors sorted by name (names are unique and non-empty).
    pub tensors: Vec<TensorInfo>,
    /// The `__metadata__` entries, sorted by key (keys are unique).
    pub metadata: Vec<(String, String)>,
}

impl Header {
    /// The file offset where the data area starts.
    pub fn data_start(&self) -> u64 {
        8 + self.header_len
    }
}

/// A shape as written: `[4096, 4096]`.
pub fn shape_text(shape: &[u64]) -> String {
    let dims: Vec<String> = shape.iter().map(|d| d.to_string()).collect();
    format!("[{}]", dims.join(", "))
}

fn invalid(what: &str, message: impl fmt::Display) -> Error {
    Error::format(what, format!("invalid safetensors header: {message}"))
}

/// Reads N from the first 8 bytes of a file of `file_size` bytes and checks it is within bounds.
pub fn header_len(prefix: &[u8], file_size: u64, what: &str) -> Result<u64> {
    let Some(first) = prefix.get(..8) else {
        return Err(invalid(
            what,
            format!("the file is {file_size} bytes, too short for the 8-byte header length"),
        ));
    };
    if file_size < 8 {
        return Err(invalid(
            what,
            format!("the file is {file_size} bytes, too short for the 8-byte header length"),
        ));
    }
    let n = u64::from_le_bytes(first.try_into().expect("8 bytes"));
    if n > MAX_HEADER_LEN {
        return Err(invalid(
            what,
            format!("header length {n} is over the limit of {MAX_HEADER_LEN} bytes"),
        ));
    }
    if n > file_size - 8 {
        return Err(invalid(
            what,
            format!("header length {n} runs past the end of the file ({file_size} bytes)"),
        ));
    }
    Ok(n)
}

/// Parses a whole file held in memory (tests and fuzzing).
pub fn parse(file: &[u8], what: &str) -> Result<Header> {
    let size = file.len() as u64;
    let n = header_len(file, size, what)?;
    parse_header(&file[8..8 + n as usize], size, what)
}

/// Parses and checks the `json` header text of a file of `file_size` bytes (`json.len()` is N).
pub fn parse_header(json: &[u8], file_size: u64, what: &str) -> Result<Header> {
    let header_len = json.len() as u64;
    let data_len = file_size
        .checked_sub(8 + header_len)
        .ok_or_else(|| invalid(what, "the header runs past the end of the file"))?;
    let text = std::str::from_utf8(json).map_err(|e| {
        invalid(
            what,
            format!("the header is not UTF-8 (byte {})", e.valid_up_to()),
        )
    })?;
    let Entries(entries) = serde_json::from_str(text).map_err(|e| invalid(what, e))?;

    let mut metadata = None;
    let mut raw = Vec::with_capacity(entries.len());
    for (name, entry) in entries {
        match entry {
            Entry::Metadata(m) => {
                if metadata.replace(m).is_some() {
                    return Err(invalid(what, format!("{METADATA_KEY} appears twice")));
                }
            }
            Entry::Tensor(t) => raw.push((name, t)),
        }
    }
    let mut metadata = metadata.unwrap_or_default();
    metadata.sort();
    if let Some(w) = metadata.windows(2).find(|w| w[0].0 == w[1].0) {
        return Err(invalid(
            what,
            format!("metadata key '{}' appears twice", w[0].0),
        ));
    }

    let mut tensors = Vec::with_capacity(raw.len());
    for (name, t) in raw {
        if name.is_empty() {
            return Err(invalid(what, "a tensor has an empty name"));
        }
        let problem = |m: String| invalid(what, format!("tensor '{name}': {m}"));
        let Some(dtype) = Dtype::from_name(&t.dtype) else {
            let why = match t.dtype.as_str() {
                "F4" | "F6_E2M3" | "F6_E3M2" => {
                    "packs elements into less than a byte, which dv does not read"
                }
                _ => "is not a safetensors dtype",
            };
            return Err(problem(format!("dtype '{}' {why}", t.dtype)));
        };
        let shape = t.shape.0;
        let Offsets(begin, end) = t.data_offsets;
        let elements = shape
            .iter()
            .try_fold(1u64, |acc, &d| acc.checked_mul(d))
            .ok_or_else(|| {
                problem(format!(
                    "shape {} has more than 2^64 elements",
                    shape_text(&shape)
                ))
            })?;
        let bytes = elements.checked_mul(dtype.size()).ok_or_else(|| {
            problem(format!(
                "{dtype} {} takes more than 2^64 bytes",
                shape_text(&shape)
            ))
        })?;
        if end < begin {
            return Err(problem(format!(
                "data_offsets [{begin}, {end}] end before they begin"
            )));
        }
        if end - begin != bytes {
            return Err(problem(format!(
                "data_offsets [{begin}, {end}] hold {} bytes, but {dtype} {} takes {bytes}",
                end - begin,
                shape_text(&shape)
            )));
        }
        if end > data_len {
            return Err(problem(format!(
                "data_offsets [{begin}, {end}] run past the end of the data ({data_len} bytes)"
            )));
        }
        tensors.push(TensorInfo {
            name,
            dtype,
            shape,
            elements,
            begin,
            end,
        });
    }
    tensors.sort_by(|a, b| a.name.cmp(&b.name));
    if let Some(w) = tensors.windows(2).find(|w| w[0].name == w[1].name) {
        return Err(invalid(
            what,
            format!("tensor name '{}' appears twice", w[0].name),
        ));
    }
    let mut by_offset: Vec<&TensorInfo> = tensors.iter().filter(|t| t.end > t.begin).collect();
    by_offset.sort_by_key(|t| (t.begin, t.end));
    if let Some(w) = by_offset.windows(2).find(|w| w[1].begin < w[0].end) {
        return Err(invalid(
            what,
            format!(
                "tensors '{}' and '{}' overlap (data_offsets [{}, {}] and [{}, {}])",
                w[0].name, w[1].name, w[0].begin, w[0].end, w[1].begin, w[1].end
            ),
        ));
    }
    Ok(Header {
        header_len,
        tensors,
        metadata,
    })
}

// ---- typed JSON parsing: nothing is kept that is not checked, and no shape grows past MAX_RANK ----

enum Entry {
    Metadata(Vec<(String, String)>),
    Tensor(RawTensor),
}

/// The top-level object, in file order, duplicates kept (they are refused after parsing, with a clear message).
struct Entries(Vec<(String, Entry)>);

impl<'de> Deserialize<'de> for Entries {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Entries;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON object mapping tensor names to tensors")
            }
            fn visit_map<A: MapAccess<'de>>(
                self,
                mut map: A,
            ) -> std::result::Result<Entries, A::Error> {
                let mut out = Vec::new();
                while let Some(key) = map.next_key::<String>()? {
                    let entry = if key == METADATA_KEY {
                        Entry::Metadata(map.next_value::<Metadata>()?.0)
                    } else {
                        Entry::Tensor(map.next_value::<RawTensor>()?)
                    };
                    out.push((key, entry));
                }
                Ok(Entries(out))
            }
        }
        d.deserialize_map(V)
    }
}

struct Metadata(Vec<(String, String)>);

impl<'de> Deserialize<'de> for Metadata {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Metadata;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON object mapping strings to strings")
            }
            fn visit_map<A: MapAccess<'de>>(
                self,
                mut map: A,
            ) -> std::result::Result<Metadata, A::Error> {
                let mut out = Vec::new();
                while let Some((k, v)) = map.next_entry::<String, String>()? {
                    out.push((k, v));
                }
                Ok(Metadata(out))
            }
        }
        d.deserialize_map(V)
    }
}

#[derive(Deserialize)]
struct RawTensor {
    dtype: String,
    shape: Shape,
    data_offsets: Offsets,
    // Other keys are skipped unread (serde's default), as the reference implementation does.
}

struct Offsets(u64, u64);

impl<'de> Deserialize<'de> for Offsets {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Offsets;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("data_offsets [begin, end]")
            }
            fn visit_seq<A: SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> std::result::Result<Offsets, A::Error> {
                let mut v = [0u64; 2];
                let mut n = 0;
                while let Some(x) = seq.next_element::<u64>()? {
                    if n == 2 {
                        return Err(de::Error::invalid_length(3, &self));
                    }
                    v[n] = x;
                    n += 1;
                }
                if n < 2 {
                    return Err(de::Error::invalid_length(n, &self));
                }
                Ok(Offsets(v[0], v[1]))
            }
        }
        d.deserialize_seq(V)
    }
}

struct Shape(Vec<u64>);

impl<'de> Deserialize<'de> for Shape {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Shape;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an array of dimensions")
            }
            fn visit_seq<A: SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> std::result::Result<Shape, A::Error> {
                let mut dims = Vec::new();
                while let Some(d) = seq.next_element::<u64>()? {
                    if dims.len() == MAX_RANK {
                        return Err(de::Error::custom(format_args!(
                            "a shape has more than {MAX_RANK} dimensions"
                        )));
                    }
                    dims.push(d);
                }
                Ok(Shape(dims))
            }
        }
        d.deserialize_seq(V)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A file from a header text and `data` bytes after it.
    fn file(json: &str, data: usize) -> Vec<u8> {
        let mut out = (json.len() as u64).to_le_bytes().to_vec();
        out.extend_from_slice(json.as_bytes());
        out.resize(out.len() + data, 0);
        out
    }

    fn err(bytes: &[u8]) -> String {
        parse(bytes, "m.safetensors").unwrap_err().to_string()
    }

    #[test]
    fn a_valid_header_parses_sorted_and_checked() {
        let json = r#"{"b":{"dtype":"F32","shape":[2,2],"data_offsets":[0,16]},
            "__metadata__":{"format":"pt","a":"1"},
            "a":{"dtype":"BF16","shape":[],"data_offsets":[16,18],"extra":[1,{"x":2}]},
            "e":{"dtype":"U8","shape":[0,5],"data_offsets":[18,18]}}   "#;
        let h = parse(&file(json, 20), "m").unwrap();
        assert_eq!(h.header_len, json.len() as u64);
        assert_eq!(h.data_start(), 8 + json.len() as u64);
        let names: Vec<&str> = h.tensors.iter().map(|t| t.name.as_str()).collect();
        assert_eq!(names, ["a", "b", "e"]);
        assert_eq!(
            h.tensors[1],
            TensorInfo {
                name: "b".into(),
                dtype: Dtype::F32,
                shape: vec![2, 2],
                elements: 4,
                begin: 0,
                end: 16
            }
        );
        assert_eq!(h.tensors[0].elements, 1);
        assert_eq!(h.tensors[2].elements, 0);
        assert_eq!(
            h.metadata,
            [("a".into(), "1".into()), ("format".into(), "pt".into())]
        );
        // An empty object is a file without tensors.
        assert!(parse(&file("{}", 0), "m").unwrap().tensors.is_empty());
    }

    #[test]
    fn every_dtype_name_round_trips() {
        for d in Dtype::ALL {
            assert_eq!(Dtype::from_name(d.name()), Some(d));
        }
        assert_eq!(Dtype::from_name("f32"), None);
    }

    #[test]
    fn malformed_headers_are_refused_with_exact_messages() {
        let t = |dtype: &str, shape: &str, offsets: &str| {
            format!(r#"{{"w":{{"dtype":"{dtype}","shape":{shape},"data_offsets":{offsets}}}}}"#)
        };
        let p = "m.safetensors: invalid safetensors header: ";
        let mut over_limit = (MAX_HEADER_LEN + 1).to_le_bytes().to_vec();
        over_limit.extend_from_slice(b"{}");
        let cases: Vec<(Vec<u8>, String)> = vec![
            (
                b"abc".to_vec(),
                "the file is 3 bytes, too short for the 8-byte header length".into(),
            ),
            (
                over_limit,
                format!("header length {} is over the limit of 104857600 bytes", MAX_HEADER_LEN + 1),
            ),
            (
                {
                    let mut f = 100u64.to_le_bytes().to_vec();
                    f.extend_from_slice(b"{}");
                    f
                },
                "header length 100 runs past the end of the file (10 bytes)".into(),
            ),
            (
                {
                    let mut f = 4u64.to_le_bytes().to_vec();
                    f.extend_from_slice(b"{\"\xff\"");
                    f
                },
                "the header is not UTF-8 (byte 2)".into(),
            ),
            (
                file("[1, 2]", 0),
                "invalid type: sequence, expected a JSON object mapping tensor names to tensors at line 1 column 0".into(),
            ),
            (
                file(r#"{"w":{"dtype":"F32""#, 0),
                "EOF while parsing an object at line 1 column 19".into(),
            ),
            (
                file(r#"{} x"#, 0),
                "trailing characters at line 1 column 4".into(),
            ),
            (
                file(r#"{"w":{"shape":[1],"data_offsets":[0,4]}}"#, 4),
                "missing field `dtype` at line 1 column 39".into(),
            ),
            (
                file(&t("F32", "[-1]", "[0,4]"), 4),
                "invalid value: integer `-1`, expected u64 at line 1 column 31".into(),
            ),
            (
                file(&t("F32", "[1]", "[0,4,8]"), 4),
                "invalid length 3, expected data_offsets [begin, end] at line 1 column 54".into(),
            ),
            (
                file(&t("F32", "[1]", "[4]"), 4),
                "invalid length 1, expected data_offsets [begin, end] at line 1 column 50".into(),
            ),
            (
                file(&t("F32", &format!("[{}]", vec!["1"; 65].join(",")), "[0,4]"), 4),
                "a shape has more than 64 dimensions at line 1 column 159".into(),
            ),
            (
                file(r#"{"__metadata__":{"a":1}}"#, 0),
                "invalid type: integer `1`, expected a string at line 1 column 22".into(),
            ),
            (
                file(r#"{"__metadata__":{},"__metadata__":{}}"#, 0),
                "__metadata__ appears twice".into(),
            ),
            (
                file(r#"{"__metadata__":{"a":"1","a":"2"}}"#, 0),
                "metadata key 'a' appears twice".into(),
            ),
            (
                file(&t("F33", "[1]", "[0,4]"), 4),
                "tensor 'w': dtype 'F33' is not a safetensors dtype".into(),
            ),
            (
                file(&t("F4", "[2]", "[0,1]"), 1),
                "tensor 'w': dtype 'F4' packs elements into less than a byte, which dv does not read".into(),
            ),
            (
                file(&t("U8", "[4294967296,4294967296]", "[0,1]"), 1),
                "tensor 'w': shape [4294967296, 4294967296] has more than 2^64 elements".into(),
            ),
            (
                file(&t("F64", "[4294967296,1073741824]", "[0,1]"), 1),
                "tensor 'w': F64 [4294967296, 1073741824] takes more than 2^64 bytes".into(),
            ),
            (
                file(&t("F32", "[1]", "[8,4]"), 8),
                "tensor 'w': data_offsets [8, 4] end before they begin".into(),
            ),
            (
                file(&t("F32", "[2, 2]", "[0,12]"), 16),
                "tensor 'w': data_offsets [0, 12] hold 12 bytes, but F32 [2, 2] takes 16".into(),
            ),
            (
                file(&t("F32", "[2]", "[4,12]"), 10),
                "tensor 'w': data_offsets [4, 12] run past the end of the data (10 bytes)".into(),
            ),
            (
                file(r#"{"":{"dtype":"U8","shape":[1],"data_offsets":[0,1]}}"#, 1),
                "a tensor has an empty name".into(),
            ),
            (
                file(
                    r#"{"w":{"dtype":"U8","shape":[1],"data_offsets":[0,1]},"w":{"dtype":"U8","shape":[1],"data_offsets":[1,2]}}"#,
                    2,
                ),
                "tensor name 'w' appears twice".into(),
            ),
            (
                file(
                    r#"{"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]},"b":{"dtype":"F32","shape":[4],"data_offsets":[8,24]}}"#,
                    24,
                ),
                "tensors 'a' and 'b' overlap (data_offsets [0, 16] and [8, 24])".into(),
            ),
        ];
        let wrong: Vec<String> = cases
            .into_iter()
            .filter_map(|(bytes, want)| {
                let got = err(&bytes);
                (got != format!("{p}{want}")).then(|| format!("want {want}\n got {got}"))
            })
            .collect();
        assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    }

    #[test]
    fn empty_tensors_overlap_nothing() {
        let json = r#"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"z":{"dtype":"F32","shape":[0],"data_offsets":[4,4]}}"#;
        assert_eq!(parse(&file(json, 8), "m").unwrap().tensors.len(), 2);
    }

    #[test]
    fn hostile_bytes_never_panic() {
        // Truncations and single-byte corruptions of a valid file: errors or values, never a panic.
        let json =
            r#"{"a":{"dtype":"F16","shape":[3],"data_offsets":[0,6]},"__metadata__":{"k":"v"}}"#;
        let good = file(json, 6);
        for cut in 0..good.len() {
            let _ = parse(&good[..cut], "m");
        }
        for i in 0..good.len() {
            for b in [0u8, b'"', b'9', b'{', b']', 0xff] {
                let mut bad = good.clone();
                bad[i] = b;
                let _ = parse(&bad, "m");
            }
        }
    }
}
