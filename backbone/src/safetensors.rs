//! Memory-mapped safetensors reading, single file or sharded, with validation up front.
//!
//! Shard names from the index are confined to the model folder ([`shards`]), and the header
//! of every file is parsed and checked against the file before any tensor is read
//! ([`header`]: bounded length, no duplicate keys, tensors that tile the data section
//! exactly, sizes that match dtype and shape), so a truncated download or a forged file is
//! reported as such, naming the file and the tensor. Each
//! tensor is decoded straight from the mapping into its own buffer, and the mapped pages it
//! came from are released right after, so loading never holds two copies of the weights.

use std::collections::HashMap;
use std::collections::hash_map::Entry as Slot;
use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};

use candle_core::{DType, Device, Tensor};
use memmap2::{Mmap, UncheckedAdvice};

use crate::LoadError;

mod header;
mod shards;

/// The largest JSON file read (config, generation config, index): 100 MB.
pub(crate) const MAX_JSON: u64 = 100_000_000;

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
    /// The file as named, for messages.
    path: PathBuf,
    mmap: Mmap,
}

/// All the safetensors files of a checkpoint, mapped, with a name → entry table.
#[derive(Debug)]
pub(crate) struct Checkpoint {
    files: Vec<MappedFile>,
    entries: HashMap<String, Entry>,
}

impl Checkpoint {
    /// Opens `model.safetensors.index.json` (sharded, each shard confined to `dir`) or
    /// `model.safetensors` in `dir`, and validates every file's header.
    pub(crate) fn open(dir: &Path) -> Result<Self, LoadError> {
        let mut out = Checkpoint {
            files: Vec::new(),
            entries: HashMap::new(),
        };
        for file in shards::weight_files(dir)? {
            out.add_file(file)?;
        }
        Ok(out)
    }

    fn add_file(&mut self, weights: shards::WeightFile) -> Result<(), LoadError> {
        let path = weights.path;
        let file = File::open(&weights.open).map_err(|source| LoadError::Io {
            path: path.clone(),
            source,
        })?;
        // SAFETY: the mapping is read-only and private; checkpoints are not expected to be
        // modified while loaded (the same assumption every mmap-based loader makes).
        let mmap = unsafe { Mmap::map(&file) }.map_err(|source| LoadError::Io {
            path: path.clone(),
            source,
        })?;
        let tensors = header::parse(&path, &mmap)?;
        let file_index = self.files.len();
        for t in tensors {
            match self.entries.entry(t.name) {
                Slot::Occupied(seen) => {
                    let first = self
                        .files
                        .get(seen.get().file)
                        .map_or_else(|| path.clone(), |f| f.path.clone());
                    return Err(LoadError::DuplicateTensor {
                        tensor: seen.key().clone(),
                        first,
                        second: path,
                    });
                }
                Slot::Vacant(slot) => {
                    slot.insert(Entry {
                        file: file_index,
                        dtype: t.dtype,
                        shape: t.shape,
                        start: t.start,
                        end: t.end,
                    });
                }
            }
        }
        self.files.push(MappedFile { path, mmap });
        Ok(())
    }

    /// The stored dtype of the first tensor (for reporting), e.g. `BF16`.
    pub(crate) fn dtype_of(&self, name: &str) -> Option<&str> {
        self.entries.get(name).map(|e| e.dtype.as_str())
    }

    /// How many tensors are stored in each dtype.
    pub(crate) fn tensor_types(&self) -> std::collections::BTreeMap<String, usize> {
        let mut counts = std::collections::BTreeMap::new();
        for e in self.entries.values() {
            *counts.entry(e.dtype.clone()).or_insert(0) += 1;
        }
        counts
    }

    /// Total bytes of tensor data.
    pub(crate) fn data_bytes(&self) -> u64 {
        self.entries
            .values()
            .map(|e| (e.end - e.start) as u64)
            .sum()
    }
}

impl Checkpoint {
    /// The entry of `name`, checked to have `shape`, and its bytes in the mapping.
    fn mapped(&self, name: &str, shape: &[usize]) -> Result<(&Entry, &[u8]), LoadError> {
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
        // `e.file` indexes `files`: `add_file` pushes a file right after inserting its
        // entries, and a failed `add_file` drops the whole checkpoint.
        let file = &self.files[e.file];
        // `header::parse` checked the range against the file; `get` keeps a broken invariant
        // from panicking all the same.
        let bytes = file
            .mmap
            .get(e.start..e.end)
            .ok_or_else(|| LoadError::Safetensors {
                path: file.path.clone(),
                reason: format!("tensor `{name}` lies outside the file"),
            })?;
        Ok((e, bytes))
    }
}

impl crate::weights::Source for Checkpoint {
    /// Reads `name`, checks it has `shape`, converts it to `dtype` on `device`, and
    /// releases its mapped pages.
    fn tensor(
        &self,
        name: &str,
        shape: &[usize],
        dtype: DType,
        device: &Device,
    ) -> Result<Tensor, LoadError> {
        let (e, bytes) = self.mapped(name, shape)?;
        // `chunks_exact(n)` yields chunks of exactly `n` bytes, so the indexing below holds.
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
        self.release(name);
        Ok(t.to_dtype(dtype)?)
    }

    fn f32_bytes(&self, name: &str, shape: &[usize]) -> Result<Option<&[u8]>, LoadError> {
        let (e, bytes) = self.mapped(name, shape)?;
        Ok((e.dtype == "F32").then_some(bytes))
    }

    fn release(&self, name: &str) {
        if let Some(e) = self.entries.get(name) {
            release(&self.files[e.file].mmap, e.start, e.end);
        }
    }

    /// Safetensors stores floats only.
    fn quantized(
        &self,
        _name: &str,
        _shape: &[usize],
    ) -> Result<Option<candle_core::quantized::QTensor>, LoadError> {
        Ok(None)
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

/// Reads a whole JSON text file of at most [`MAX_JSON`] bytes, mapping failures to
/// [`LoadError::Io`] and [`LoadError::FileTooLarge`].
pub(crate) fn read(path: &Path) -> Result<String, LoadError> {
    let io = |source| LoadError::Io {
        path: path.to_path_buf(),
        source,
    };
    let file = File::open(path).map_err(io)?;
    let mut text = String::new();
    // One byte past the limit tells an oversized file from one of exactly the limit, however
    // the file's size changes while it is read.
    let read = file
        .take(MAX_JSON + 1)
        .read_to_string(&mut text)
        .map_err(io)? as u64;
    if read > MAX_JSON {
        let len = std::fs::metadata(path).map_or(read, |m| m.len());
        return Err(LoadError::FileTooLarge {
            path: path.to_path_buf(),
            len,
            limit: MAX_JSON,
        });
    }
    Ok(text)
}
