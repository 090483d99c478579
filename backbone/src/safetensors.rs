//! Memory-mapped safetensors reading, single file or sharded, with validation up front.
//!
//! The header of every file is parsed and checked against the file's length before any
//! tensor is read, so a truncated download is reported as such, naming the tensor. Each
//! tensor is decoded straight from the mapping into its own buffer, and the mapped pages it
//! came from are released right after, so loading never holds two copies of the weights.

use std::collections::HashMap;
use std::fs::File;
use std::path::{Path, PathBuf};

use candle_core::{DType, Device, Tensor};
use memmap2::{Mmap, UncheckedAdvice};
use serde::Deserialize;

use crate::LoadError;

#[derive(Debug, Deserialize)]
struct RawEntry {
    dtype: String,
    shape: Vec<usize>,
    data_offsets: [u64; 2],
}

/// One tensor's place in a file.
#[derive(Debug, Clone)]
pub(crate) struct Entry {
    file: usize,
    dtype: String,
    shape: Vec<usize>,
    start: usize,
    end: usize,
}

#[derive(Debug)]
struct MappedFile {
    mmap: Mmap,
}

/// All the safetensors files of a checkpoint, mapped, with a name → entry table.
#[derive(Debug)]
pub(crate) struct Checkpoint {
    files: Vec<MappedFile>,
    entries: HashMap<String, Entry>,
}

#[derive(Debug, Deserialize)]
struct Index {
    weight_map: HashMap<String, String>,
}

impl Checkpoint {
    /// Opens `model.safetensors.index.json` (sharded) or `model.safetensors` in `dir`.
    pub(crate) fn open(dir: &Path) -> Result<Self, LoadError> {
        let index_path = dir.join("model.safetensors.index.json");
        let single = dir.join("model.safetensors");
        let mut files: Vec<PathBuf> = if index_path.exists() {
            let text = read(&index_path)?;
            let index: Index = serde_json::from_str(&text).map_err(|source| LoadError::Json {
                path: index_path.clone(),
                source,
            })?;
            let mut names: Vec<String> = index.weight_map.into_values().collect();
            names.sort();
            names.dedup();
            names.into_iter().map(|n| dir.join(n)).collect()
        } else if single.exists() {
            vec![single]
        } else {
            return Err(LoadError::NoWeights(dir.to_path_buf()));
        };
        files.sort();
        let mut out = Checkpoint {
            files: Vec::new(),
            entries: HashMap::new(),
        };
        for path in files {
            out.add_file(path)?;
        }
        Ok(out)
    }

    fn add_file(&mut self, path: PathBuf) -> Result<(), LoadError> {
        let file = File::open(&path).map_err(|source| LoadError::Io {
            path: path.clone(),
            source,
        })?;
        // SAFETY: the mapping is read-only and private; checkpoints are not expected to be
        // modified while loaded (the same assumption every mmap-based loader makes).
        let mmap = unsafe { Mmap::map(&file) }.map_err(|source| LoadError::Io {
            path: path.clone(),
            source,
        })?;
        let bad = |reason: String| LoadError::Safetensors {
            path: path.clone(),
            reason,
        };
        let len = mmap.len() as u64;
        if len < 8 {
            return Err(bad(format!(
                "file is {len} bytes, shorter than the 8-byte header length"
            )));
        }
        let header_len = u64::from_le_bytes(mmap[..8].try_into().expect("8 bytes"));
        if header_len > len - 8 {
            return Err(bad(format!(
                "header claims {header_len} bytes, the file has {}",
                len - 8
            )));
        }
        let header_end = 8 + header_len as usize;
        let header: HashMap<String, serde_json::Value> =
            serde_json::from_slice(&mmap[8..header_end])
                .map_err(|e| bad(format!("header is not JSON: {e}")))?;
        let file_index = self.files.len();
        let data_len = len - header_end as u64;
        let mut entries: Vec<(String, RawEntry)> = Vec::new();
        for (name, value) in header {
            if name == "__metadata__" {
                continue;
            }
            let raw: RawEntry = serde_json::from_value(value)
                .map_err(|e| bad(format!("entry `{name}` is malformed: {e}")))?;
            entries.push((name, raw));
        }
        entries.sort_by_key(|(_, e)| e.data_offsets[0]);
        for (name, raw) in entries {
            let [start, end] = raw.data_offsets;
            if start > end {
                return Err(bad(format!("tensor `{name}` has offsets {start}..{end}")));
            }
            if end > data_len {
                return Err(LoadError::Truncated {
                    path: path.clone(),
                    tensor: name,
                    needed: header_end as u64 + end,
                    available: len,
                });
            }
            let elem = dtype_size(&raw.dtype);
            let bytes = raw
                .shape
                .iter()
                .try_fold(elem.unwrap_or(1), |acc, &d| acc.checked_mul(d))
                .ok_or_else(|| {
                    bad(format!(
                        "tensor `{name}` has an impossible shape {:?}",
                        raw.shape
                    ))
                })?;
            if elem.is_some() && bytes as u64 != end - start {
                return Err(bad(format!(
                    "tensor `{name}` of shape {:?} and dtype {} needs {bytes} bytes, has {}",
                    raw.shape,
                    raw.dtype,
                    end - start
                )));
            }
            self.entries.insert(
                name,
                Entry {
                    file: file_index,
                    dtype: raw.dtype,
                    shape: raw.shape,
                    start: header_end + start as usize,
                    end: header_end + end as usize,
                },
            );
        }
        self.files.push(MappedFile { mmap });
        Ok(())
    }

    /// The stored dtype of the first tensor (for reporting), e.g. `BF16`.
    pub(crate) fn dtype_of(&self, name: &str) -> Option<&str> {
        self.entries.get(name).map(|e| e.dtype.as_str())
    }

    /// Total bytes of tensor data.
    pub(crate) fn data_bytes(&self) -> u64 {
        self.entries
            .values()
            .map(|e| (e.end - e.start) as u64)
            .sum()
    }

    /// Reads `name`, checks it has `shape`, converts it to `dtype` on `device`, and
    /// releases its mapped pages.
    pub(crate) fn tensor(
        &self,
        name: &str,
        shape: &[usize],
        dtype: DType,
        device: &Device,
    ) -> Result<Tensor, LoadError> {
        let e = self
            .entries
            .get(name)
            .ok_or_else(|| LoadError::MissingTensor(name.to_string()))?;
        if e.shape != shape {
            return Err(LoadError::Shape {
                name: name.to_string(),
                expected: shape.to_vec(),
                found: e.shape.clone(),
            });
        }
        let file = &self.files[e.file];
        let bytes = &file.mmap[e.start..e.end];
        let t = match e.dtype.as_str() {
            "F32" => {
                let v: Vec<f32> = bytes
                    .chunks_exact(4)
                    .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                    .collect();
                Tensor::from_vec(v, shape, device)?
            }
            "BF16" => {
                let v: Vec<half::bf16> = bytes
                    .chunks_exact(2)
                    .map(|c| half::bf16::from_bits(u16::from_le_bytes([c[0], c[1]])))
                    .collect();
                Tensor::from_vec(v, shape, device)?
            }
            "F16" => {
                let v: Vec<half::f16> = bytes
                    .chunks_exact(2)
                    .map(|c| half::f16::from_bits(u16::from_le_bytes([c[0], c[1]])))
                    .collect();
                Tensor::from_vec(v, shape, device)?
            }
            other => {
                return Err(LoadError::Dtype {
                    name: name.to_string(),
                    dtype: other.to_string(),
                });
            }
        };
        release(&file.mmap, e.start, e.end);
        Ok(t.to_dtype(dtype)?)
    }
}

/// Drops the page-cache pages of `[start, end)` from this process's resident set.
fn release(mmap: &Mmap, start: usize, end: usize) {
    const PAGE: usize = 4096;
    let first = start.div_ceil(PAGE) * PAGE;
    let last = end / PAGE * PAGE;
    if last > first {
        // SAFETY: MADV_DONTNEED on a private read-only file mapping only drops cached pages;
        // later reads fault them back in from the file, so no data is lost, and no Rust
        // reference into this range outlives this call.
        let _ =
            unsafe { mmap.unchecked_advise_range(UncheckedAdvice::DontNeed, first, last - first) };
    }
}

fn dtype_size(dtype: &str) -> Option<usize> {
    match dtype {
        "F64" | "I64" | "U64" => Some(8),
        "F32" | "I32" | "U32" => Some(4),
        "BF16" | "F16" | "I16" | "U16" => Some(2),
        "I8" | "U8" | "BOOL" | "F8_E4M3" | "F8_E5M2" => Some(1),
        _ => None,
    }
}

/// Reads a whole text file, mapping the error to [`LoadError::Io`].
pub(crate) fn read(path: &Path) -> Result<String, LoadError> {
    std::fs::read_to_string(path).map_err(|source| LoadError::Io {
        path: path.to_path_buf(),
        source,
    })
}
