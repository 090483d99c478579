//! Where a transformer's tensors come from ([`Source`]: a safetensors checkpoint, a GGUF
//! file) and how each matrix becomes a layer in the precision asked for ([`Matrices`]).
//!
//! The precision decides per matrix, never per file: a GGUF `Q4_K_M` file stores most
//! matrices as `Q4_K` and some as `Q6_K`, and a stacked layer (keys with values, gate with
//! up) whose parts differ is kept as the parts side by side ([`Dense::Concat`]) rather than
//! re-quantized — a second rounding the file's author did not choose.

use std::sync::Arc;

use candle_core::quantized::{GgmlDType, QTensor};
use candle_core::{DType, Device, Tensor};

use tessera_kernels::{PackedQuant, PackedWeights};

use crate::LoadError;
use crate::dense::{Dense, quantized_from_bytes};

/// A store of named tensors.
pub(crate) trait Source {
    /// Reads `name`, checks it has `shape`, and converts it to `dtype` on `device`
    /// (dequantizing a block-quantized tensor).
    fn tensor(
        &self,
        name: &str,
        shape: &[usize],
        dtype: DType,
        device: &Device,
    ) -> Result<Tensor, LoadError>;

    /// `name` as stored, if it is stored block-quantized (checked against `shape`); `None`
    /// for a tensor stored as floats.
    fn quantized(&self, name: &str, shape: &[usize]) -> Result<Option<QTensor>, LoadError>;

    /// The little-endian bytes of `name` (checked against `shape`) if it is stored as `f32`
    /// in memory this source maps, for packing without an intermediate copy; `None`
    /// otherwise. [`Source::release`] afterwards.
    fn f32_bytes(&self, _name: &str, _shape: &[usize]) -> Result<Option<&[u8]>, LoadError> {
        Ok(None)
    }

    /// Drops the memory [`Source::f32_bytes`] touched for `name`.
    fn release(&self, _name: &str) {}
}

/// What becomes of the matrices.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Quantize {
    /// Dense, in the transformer's dtype (quantized ones dequantized).
    No,
    /// Quantized to this format (from floats; a matrix already stored in it is kept).
    To(GgmlDType),
    /// As stored: quantized ones kept, float ones dense.
    AsStored,
}

/// Builds a transformer's matrices from a [`Source`] (see the module docs).
pub(crate) struct Matrices<'a> {
    pub(crate) source: &'a dyn Source,
    pub(crate) device: &'a Device,
    /// The dtype of everything dense.
    pub(crate) dtype: DType,
    pub(crate) quantize: Quantize,
    /// Whether the CPU kernels run where they apply (packed `f32` GEMM).
    pub(crate) kernels: bool,
}

/// One part of a stacked matrix: its name and rows.
pub(crate) type PartName = (String, usize);

impl Matrices<'_> {
    /// Dense tensor `name` of `shape` in the transformer's dtype.
    pub(crate) fn tensor(&self, name: &str, shape: &[usize]) -> Result<Tensor, LoadError> {
        self.source.tensor(name, shape, self.dtype, self.device)
    }

    /// Whether dense matrices are packed for the CPU kernel (`f32` on the CPU, kernels on).
    fn packs(&self) -> bool {
        self.kernels && matches!(self.device, Device::Cpu) && self.dtype == DType::F32
    }

    /// Whether dense `f32` matrices are packed for the CPU kernel, or any is quantized:
    /// then each projection is its own layer, and nothing is gained by stacking q, k and v.
    pub(crate) fn splits(&self) -> bool {
        self.quantize != Quantize::No || self.packs()
    }

    /// The rows `parts` stacked into one dense `[Σ rows, k]` tensor.
    pub(crate) fn stacked(&self, parts: &[PartName], k: usize) -> Result<Tensor, LoadError> {
        let tensors = parts
            .iter()
            .map(|(name, rows)| self.tensor(name, &[*rows, k]))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(match tensors.len() {
            1 => tensors.into_iter().next().expect("one tensor"),
            _ => Tensor::cat(&tensors, 0)?,
        })
    }

    /// A dense layer of weight `w`: packed for the CPU kernel where it applies.
    pub(crate) fn dense(&self, w: Tensor, bias: Option<Tensor>) -> Result<Dense, LoadError> {
        Ok(if self.kernels {
            Dense::new(w, bias)?
        } else {
            Dense::Tensor(candle_nn::Linear::new(w, bias))
        })
    }

    /// One layer whose weight is `parts` stacked (each `[rows, k]`), with `bias`.
    pub(crate) fn layer(
        &self,
        parts: &[PartName],
        k: usize,
        bias: Option<Tensor>,
    ) -> Result<Dense, LoadError> {
        if self.quantize == Quantize::No {
            if let Some(w) = self.packed_in_place(parts, k)? {
                return Ok(Dense::packed(w, bias)?);
            }
            return self.dense(self.stacked(parts, k)?, bias);
        }
        let mut quantized = Vec::new();
        for part in parts {
            match self.matrix(part, k)? {
                Some(q) => quantized.push(q),
                // One part stays dense (rows of no whole block): all of them do.
                None => return self.dense(self.stacked(parts, k)?, bias),
            }
        }
        let first = quantized[0].dtype();
        if quantized.iter().all(|q| q.dtype() == first) {
            return Ok(Dense::quantized(
                Arc::new(concat_rows(quantized, self.device)?),
                bias,
                self.kernels,
            )?);
        }
        // Parts in different formats: one layer each, the bias cut to match.
        let mut layers = Vec::new();
        let mut start = 0;
        for q in quantized {
            let rows = q.shape().dims2()?.0;
            let b = bias
                .as_ref()
                .map(|b| b.narrow(0, start, rows))
                .transpose()?;
            layers.push(Dense::quantized(Arc::new(q), b, self.kernels)?);
            start += rows;
        }
        Ok(Dense::Concat(layers))
    }

    /// `parts` packed for the CPU kernel straight from the source's mapped `f32` bytes (no
    /// loaded copy, no stacked copy: the load's peak memory is the packed weight alone), if
    /// the kernel applies and every part is stored that way.
    fn packed_in_place(
        &self,
        parts: &[PartName],
        k: usize,
    ) -> Result<Option<PackedWeights>, LoadError> {
        if !self.packs() {
            return Ok(None);
        }
        let mut sources = Vec::with_capacity(parts.len());
        let mut start = 0;
        for (name, rows) in parts {
            match self.source.f32_bytes(name, &[*rows, k])? {
                Some(bytes) => sources.push((start, bytes)),
                None => return Ok(None),
            }
            start += rows;
        }
        let packed = PackedWeights::from_fn(start, k, |row, k0, out| {
            // The part holding `row`: the last one starting at or before it.
            let i = sources.partition_point(|(s, _)| *s <= row) - 1;
            let (s, bytes) = sources[i];
            let at = ((row - s) * k + k0) * 4;
            for (o, b) in out.iter_mut().zip(bytes[at..].chunks_exact(4)) {
                *o = f32::from_le_bytes([b[0], b[1], b[2], b[3]]);
            }
        })
        .map_err(candle_core::Error::wrap)?;
        for (name, _) in parts {
            self.source.release(name);
        }
        Ok(Some(packed))
    }

    /// The token embedding `[rows, k]`.
    pub(crate) fn embedding(
        &self,
        name: &str,
        rows: usize,
        k: usize,
    ) -> Result<Embedding, LoadError> {
        if self.quantize != Quantize::No
            && let Some(q) = self.matrix(&(name.to_string(), rows), k)?
        {
            if self.kernels
                && let Some(packed) = crate::dense::repack(&q)?
            {
                return Ok(Embedding::Packed(Arc::new(packed)));
            }
            return Ok(Embedding::Quantized(Arc::new(q)));
        }
        Ok(Embedding::Dense(self.tensor(name, &[rows, k])?))
    }

    /// Matrix `name` quantized as asked, or `None` where it stays dense.
    fn matrix(&self, (name, rows): &PartName, k: usize) -> Result<Option<QTensor>, LoadError> {
        let shape = [*rows, k];
        let stored = self.source.quantized(name, &shape)?;
        match (self.quantize, stored) {
            (Quantize::No, _) => Ok(None),
            (Quantize::AsStored, stored) => Ok(stored),
            (Quantize::To(g), Some(q)) if q.dtype() == g => Ok(Some(q)),
            (Quantize::To(g), _) => {
                let Some(g) = fitting(g, k) else {
                    return Ok(None);
                };
                let w = self.source.tensor(name, &shape, DType::F32, &Device::Cpu)?;
                let q = QTensor::quantize_onto(&w, g, self.device)?;
                // The stored floats are not read again: drop their mapped pages.
                self.source.release(name);
                Ok(Some(q))
            }
        }
    }
}

/// Returns the heap's free pages to the system (glibc's `malloc_trim`; nothing elsewhere).
///
/// Loading a quantized model allocates each matrix in `f32`, quantizes and repacks it, and
/// frees the floats: the freed chunks sit between the packed weights that outlive them, where
/// glibc's `free` never trims, so the process would keep them resident for its lifetime.
pub(crate) fn return_freed_heap() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        unsafe extern "C" {
            fn malloc_trim(pad: usize) -> i32;
        }
        // SAFETY: `malloc_trim` has no preconditions; it only releases free memory.
        unsafe { malloc_trim(0) };
    }
}

/// `g` if rows of `k` values split into whole blocks of it, else `Q8_0` if they split into
/// blocks of 32, else none (the matrix stays dense) — llama.cpp's fallback.
fn fitting(g: GgmlDType, k: usize) -> Option<GgmlDType> {
    [g, GgmlDType::Q8_0]
        .into_iter()
        .find(|g| k.is_multiple_of(g.block_size()))
}

/// The rows of `parts` (same format, same row length) as one quantized matrix: blocks never
/// straddle rows, so stacking is concatenating the bytes.
fn concat_rows(parts: Vec<QTensor>, device: &Device) -> Result<QTensor, LoadError> {
    if parts.len() == 1 {
        return Ok(parts.into_iter().next().expect("one part"));
    }
    let dtype = parts[0].dtype();
    let k = parts[0].shape().dims2()?.1;
    let mut bytes = Vec::new();
    let mut rows = 0;
    for p in &parts {
        bytes.extend_from_slice(&p.data()?);
        rows += p.shape().dims2()?.0;
    }
    Ok(quantized_from_bytes(&bytes, dtype, (rows, k), device)?)
}

/// The token embedding: a dense table, or a quantized one whose rows are dequantized as they
/// are looked up (a quantized model holds no `f32` copy).
#[derive(Debug)]
pub(crate) enum Embedding {
    /// Dense rows.
    Dense(Tensor),
    /// Quantized rows, through candle.
    Quantized(Arc<QTensor>),
    /// Quantized rows repacked for the integer kernels (shared with a tied LM head).
    Packed(Arc<PackedQuant>),
}

impl Embedding {
    /// The rows `ids` (a `u32` vector), `[ids, k]`.
    pub(crate) fn lookup(&self, ids: &Tensor) -> candle_core::Result<Tensor> {
        match self {
            Embedding::Dense(t) => t.index_select(ids, 0),
            Embedding::Quantized(q) => q.embedding(ids),
            Embedding::Packed(w) => {
                let ids = ids.to_vec1::<u32>()?;
                let k = w.k();
                let mut out = vec![0.0f32; ids.len() * k];
                for (&id, row) in ids.iter().zip(out.chunks_exact_mut(k.max(1))) {
                    w.dequantize_row(id as usize, row)
                        .map_err(candle_core::Error::wrap)?;
                }
                Tensor::from_vec(out, (ids.len(), k), &Device::Cpu)
            }
        }
    }

    /// Bytes the table occupies.
    pub(crate) fn bytes(&self) -> usize {
        match self {
            Embedding::Dense(t) => crate::dense::tensor_bytes(t),
            Embedding::Quantized(q) => q.storage_size_in_bytes(),
            Embedding::Packed(w) => w.bytes(),
        }
    }

    /// The LM head tied to this embedding.
    pub(crate) fn tied_head(&self, m: &Matrices<'_>) -> Result<Dense, LoadError> {
        match self {
            Embedding::Dense(t) => m.dense(t.clone(), None),
            Embedding::Quantized(q) => Ok(Dense::quantized(q.clone(), None, false)?),
            Embedding::Packed(w) => Ok(Dense::packed_quant(w.clone(), None)?),
        }
    }
}
