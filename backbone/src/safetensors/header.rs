//! One safetensors file's header, parsed and checked against the file before any tensor is
//! read.
//!
//! The format: an 8-byte little-endian header length `n`, `n` bytes of JSON (an object from
//! tensor name to `{dtype, shape, data_offsets}`, plus an optional `__metadata__`), then the
//! data section. Checked here, each failure a typed [`LoadError`] naming the file and the
//! tensor:
//!
//! - the header length is at most [`MAX_HEADER`] (the reference implementation's limit) and
//!   fits in the file ([`LoadError::HeaderTooLarge`], [`LoadError::Safetensors`]);
//! - no key appears twice ([`LoadError::DuplicateKey`]; a JSON map would silently keep the
//!   last one);
//! - offsets are ordered ([`LoadError::Offsets`]) and inside the file
//!   ([`LoadError::Truncated`]);
//! - each tensor spans exactly `dtype size × product(shape)` bytes, computed without overflow
//!   ([`LoadError::TensorSize`]);
//! - the tensors tile the data section exactly: no two overlap ([`LoadError::Overlap`]) and no
//!   byte is left over, before, between or after them ([`LoadError::Gap`]).

use std::collections::HashSet;
use std::fmt;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde::de::{self, Deserializer, IgnoredAny, MapAccess, Visitor};

use crate::LoadError;

/// The largest header read: 100 MB, as the reference `safetensors` crate allows.
pub(crate) const MAX_HEADER: u64 = 100_000_000;

/// The metadata key, the one header key that is not a tensor.
const METADATA: &str = "__metadata__";

/// A tensor's entry as spelt in the header.
#[derive(Debug, Deserialize)]
struct RawEntry {
    dtype: String,
    shape: Vec<usize>,
    data_offsets: [u64; 2],
}

/// The header's keys in file order, duplicates kept; `None` for `__metadata__`.
struct Keys(Vec<(String, Option<RawEntry>)>);

impl<'de> Deserialize<'de> for Keys {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct KeysVisitor;

        impl<'de> Visitor<'de> for KeysVisitor {
            type Value = Keys;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON object from tensor names to entries")
            }

            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Keys, A::Error> {
                let mut out = Vec::new();
                while let Some(key) = map.next_key::<String>()? {
                    if key == METADATA {
                        map.next_value::<IgnoredAny>()?;
                        out.push((key, None));
                    } else {
                        // Parsed straight from the text, so a field repeated inside an entry
                        // is an error too (serde's derive refuses duplicate fields).
                        let entry = map.next_value::<RawEntry>().map_err(|e| {
                            de::Error::custom(format_args!("entry `{key}` is malformed: {e}"))
                        })?;
                        out.push((key, Some(entry)));
                    }
                }
                Ok(Keys(out))
            }
        }

        d.deserialize_map(KeysVisitor)
    }
}

/// One tensor of a validated header; `start..end` are offsets in the whole file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TensorInfo {
    pub(crate) name: String,
    pub(crate) dtype: String,
    pub(crate) shape: Vec<usize>,
    pub(crate) start: usize,
    pub(crate) end: usize,
}

/// Parses and validates the header of `bytes` (a whole safetensors file; `path` names it in
/// errors) and returns its tensors in file order.
pub(crate) fn parse(path: &Path, bytes: &[u8]) -> Result<Vec<TensorInfo>, LoadError> {
    let p = || PathBuf::from(path);
    let bad = |reason: String| LoadError::Safetensors { path: p(), reason };
    let len = bytes.len() as u64;
    let Some(len_bytes) = bytes.first_chunk::<8>() else {
        return Err(bad(format!(
            "file is {len} bytes, shorter than the 8-byte header length"
        )));
    };
    let header_len = u64::from_le_bytes(*len_bytes);
    if header_len > MAX_HEADER {
        return Err(LoadError::HeaderTooLarge {
            path: p(),
            len: header_len,
            limit: MAX_HEADER,
        });
    }
    // `len ≥ 8` here, so the subtraction cannot wrap.
    if header_len > len - 8 {
        return Err(bad(format!(
            "header claims {header_len} bytes, the file has {}",
            len - 8
        )));
    }
    // `header_len ≤ len − 8` and `len` is a slice length, so this fits in usize.
    let header_end = 8 + header_len as usize;
    let header = bytes
        .get(8..header_end)
        .ok_or_else(|| bad(format!("header of {header_len} bytes is out of the file")))?;
    let Keys(keys) =
        serde_json::from_slice(header).map_err(|e| bad(format!("header is not JSON: {e}")))?;
    let mut seen = HashSet::with_capacity(keys.len());
    for (key, _) in &keys {
        if !seen.insert(key.as_str()) {
            return Err(LoadError::DuplicateKey {
                path: p(),
                key: key.clone(),
            });
        }
    }
    let mut tensors: Vec<(String, RawEntry)> = keys
        .into_iter()
        .filter_map(|(name, entry)| entry.map(|e| (name, e)))
        .collect();
    tensors.sort_by(|(a, x), (b, y)| x.data_offsets.cmp(&y.data_offsets).then(a.cmp(b)));
    let data_len = len - header_end as u64;
    let mut covered = 0u64;
    let mut prev: Option<(&str, u64, u64)> = None;
    let mut out = Vec::with_capacity(tensors.len());
    for (name, raw) in &tensors {
        let [start, end] = raw.data_offsets;
        if start > end {
            return Err(LoadError::Offsets {
                path: p(),
                tensor: name.clone(),
                start,
                end,
            });
        }
        if end > data_len {
            return Err(LoadError::Truncated {
                path: p(),
                tensor: name.clone(),
                needed: (header_end as u64).saturating_add(end),
                available: len,
            });
        }
        if let Some(elem) = dtype_size(&raw.dtype) {
            let needed = raw
                .shape
                .iter()
                .try_fold(elem, |acc, &d| acc.checked_mul(d as u64));
            if needed != Some(end - start) {
                return Err(LoadError::TensorSize {
                    path: p(),
                    tensor: name.clone(),
                    dtype: raw.dtype.clone(),
                    shape: raw.shape.clone().into_boxed_slice(),
                    needed,
                    found: end - start,
                });
            }
        }
        if start < covered {
            let (other, other_start, other_end) = prev.unwrap_or(("", 0, covered));
            return Err(LoadError::Overlap {
                path: p(),
                tensor: name.clone(),
                range: (start, end),
                other: other.to_string(),
                other_range: (other_start, other_end),
            });
        }
        if start > covered {
            return Err(LoadError::Gap {
                path: p(),
                start: covered,
                end: start,
                after: prev.map(|(n, ..)| n.to_string()),
            });
        }
        covered = end;
        prev = Some((name, start, end));
        // `end ≤ data_len = len − header_end`, so both offsets fit in usize.
        out.push(TensorInfo {
            name: name.clone(),
            dtype: raw.dtype.clone(),
            shape: raw.shape.clone(),
            start: header_end + start as usize,
            end: header_end + end as usize,
        });
    }
    if covered < data_len {
        return Err(LoadError::Gap {
            path: p(),
            start: covered,
            end: data_len,
            after: prev.map(|(n, ..)| n.to_string()),
        });
    }
    Ok(out)
}

/// Bytes per element of a safetensors dtype; `None` for a dtype this loader does not know
/// (its size is then not checked here, and reading it is refused with [`LoadError::Dtype`]).
fn dtype_size(dtype: &str) -> Option<u64> {
    match dtype {
        "F64" | "I64" | "U64" => Some(8),
        "F32" | "I32" | "U32" => Some(4),
        "BF16" | "F16" | "I16" | "U16" => Some(2),
        "I8" | "U8" | "BOOL" | "F8_E4M3" | "F8_E5M2" | "F8_E8M0" => Some(1),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A file of `header` (JSON text) and `data`.
    fn file(header: &str, data: &[u8]) -> Vec<u8> {
        let mut out = (header.len() as u64).to_le_bytes().to_vec();
        out.extend_from_slice(header.as_bytes());
        out.extend_from_slice(data);
        out
    }

    fn parse_file(header: &str, data: &[u8]) -> Result<Vec<TensorInfo>, LoadError> {
        parse(Path::new("x.safetensors"), &file(header, data))
    }

    fn entry(name: &str, shape: &[usize], start: u64, end: u64) -> String {
        format!(r#""{name}":{{"dtype":"F32","shape":{shape:?},"data_offsets":[{start},{end}]}}"#)
    }

    #[test]
    fn a_well_formed_header_gives_its_tensors_in_file_order() {
        let header = format!(
            r#"{{"__metadata__":{{"format":"pt"}},{},{}}}"#,
            entry("b", &[2], 8, 16),
            entry("a", &[2], 0, 8)
        );
        let tensors = parse_file(&header, &[0; 16]).unwrap();
        let at = 8 + header.len();
        assert_eq!(tensors[0].name, "a");
        assert_eq!((tensors[0].start, tensors[0].end), (at, at + 8));
        assert_eq!((tensors[1].start, tensors[1].end), (at + 8, at + 16));
        // Empty tensors take no bytes and may share an offset.
        let header = format!(
            "{{{},{},{}}}",
            entry("e", &[0], 0, 0),
            entry("a", &[1], 0, 4),
            entry("f", &[3, 0], 4, 4)
        );
        assert_eq!(parse_file(&header, &[0; 4]).unwrap().len(), 3);
        assert!(parse_file("{}", &[]).unwrap().is_empty());
    }

    #[test]
    fn every_layout_fault_is_its_own_error() {
        let two = |a: (u64, u64), b: (u64, u64)| {
            format!(
                "{{{},{}}}",
                entry("a", &[2], a.0, a.1),
                entry("b", &[2], b.0, b.1)
            )
        };
        let err = parse_file(
            &format!("{{{},{}}}", entry("a", &[2], 0, 8), entry("a", &[2], 8, 16)),
            &[0; 16],
        )
        .unwrap_err();
        assert!(matches!(err, LoadError::DuplicateKey { ref key, .. } if key == "a"));
        let err = parse_file(&two((0, 8), (4, 12)), &[0; 12]).unwrap_err();
        assert!(
            matches!(err, LoadError::Overlap { ref tensor, ref other, range: (4, 12), other_range: (0, 8), .. } if tensor == "b" && other == "a"),
            "{err}"
        );
        let err = parse_file(&two((0, 8), (12, 20)), &[0; 20]).unwrap_err();
        assert!(
            matches!(err, LoadError::Gap { start: 8, end: 12, after: Some(ref t), .. } if t == "a"),
            "{err}"
        );
        let err = parse_file(&two((4, 12), (12, 20)), &[0; 20]).unwrap_err();
        assert!(matches!(
            err,
            LoadError::Gap {
                start: 0,
                end: 4,
                after: None,
                ..
            }
        ));
        let err = parse_file(&two((0, 8), (8, 16)), &[0; 24]).unwrap_err();
        assert!(
            matches!(
                err,
                LoadError::Gap {
                    start: 16,
                    end: 24,
                    ..
                }
            ),
            "{err}"
        );
        let err = parse_file(&two((0, 8), (8, 16)), &[0; 12]).unwrap_err();
        assert!(matches!(err, LoadError::Truncated { ref tensor, .. } if tensor == "b"));
        let err = parse_file(&two((8, 0), (8, 16)), &[0; 16]).unwrap_err();
        assert!(matches!(
            err,
            LoadError::Offsets {
                start: 8,
                end: 0,
                ..
            }
        ));
        let err = parse_file(&two((0, 8), (8, 12)), &[0; 12]).unwrap_err();
        assert!(
            matches!(
                err,
                LoadError::TensorSize {
                    needed: Some(8),
                    found: 4,
                    ..
                }
            ),
            "{err}"
        );
        let huge = format!("{{{}}}", entry("h", &[1 << 40, 1 << 40], 0, 4));
        let err = parse_file(&huge, &[0; 4]).unwrap_err();
        assert!(
            matches!(err, LoadError::TensorSize { needed: None, .. }),
            "{err}"
        );
        assert!(err.to_string().contains("more than 2^64"), "{err}");
        // A field repeated inside an entry is refused too.
        let inner = r#"{"a":{"dtype":"F32","dtype":"F16","shape":[1],"data_offsets":[0,4]}}"#;
        let err = parse_file(inner, &[0; 4]).unwrap_err().to_string();
        assert!(
            err.contains("entry `a`") && err.contains("duplicate"),
            "{err}"
        );
    }

    #[test]
    fn header_lengths_are_bounded() {
        let mut bytes = (MAX_HEADER + 1).to_le_bytes().to_vec();
        bytes.extend_from_slice(b"{}");
        assert!(matches!(
            parse(Path::new("x"), &bytes),
            Err(LoadError::HeaderTooLarge { len, .. }) if len == MAX_HEADER + 1
        ));
        let mut bytes = u64::MAX.to_le_bytes().to_vec();
        bytes.extend_from_slice(b"{}");
        assert!(matches!(
            parse(Path::new("x"), &bytes),
            Err(LoadError::HeaderTooLarge { .. })
        ));
        assert!(matches!(
            parse(Path::new("x"), &[3, 0, 0, 0, 0, 0, 0, 0, b'{']),
            Err(LoadError::Safetensors { .. })
        ));
        assert!(matches!(
            parse(Path::new("x"), &[0; 5]),
            Err(LoadError::Safetensors { .. })
        ));
    }
}
