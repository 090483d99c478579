//! A linear layer `x · Wᵀ (+ b)` whose weight is prepared once, at load, for the device it
//! runs on.
//!
//! On the CPU in `f32` the weight is packed into the GEMM micro-kernel's panel layout
//! ([`tessera_kernels::PackedWeights`]) and the tensor it came from is dropped: each call
//! packs nothing but reads the activations in place, with both cores busy even for the few
//! dozen rows of a decoding block. Elsewhere (CUDA, `bf16`/`f16` weights) it is candle's
//! matmul on the weight as loaded. A block-quantized weight in `q8_0` or `q4k` on a CPU with
//! AVX-512 VNNI is repacked once for Tessera's integer kernels
//! ([`tessera_kernels::PackedQuant`]) and the loaded blocks are dropped: one copy. Any other
//! block-quantized weight (`q4_0`, `q6k`, other CPUs, CUDA) is a candle [`QMatMul`], whose
//! CPU kernels also quantize the activations and work in integers, but keep a repacked copy
//! beside the blocks.

use std::sync::Arc;

use candle_core::quantized::{QMatMul, QTensor};
use candle_core::{D, DType, Device, Storage, Tensor};
use candle_nn::Module;
use tessera_kernels::{
    KernelError, PackedQuant, PackedWeights, QuantFormat, matmul_packed, matmul_quant,
};

/// A linear layer (see the module docs).
#[derive(Debug)]
pub(crate) enum Dense {
    /// Packed `f32` weight (and bias) for the CPU kernel.
    Packed {
        /// The packed `[n, k]` weight.
        w: PackedWeights,
        /// The bias, `n` values.
        bias: Option<Vec<f32>>,
    },
    /// The weight as loaded, through candle.
    Tensor(candle_nn::Linear),
    /// A block-quantized weight repacked for Tessera's integer CPU kernels (shared with a
    /// tied token embedding).
    PackedQuant {
        /// The packed `[n, k]` weight.
        w: Arc<PackedQuant>,
        /// The bias, `n` values.
        bias: Option<Vec<f32>>,
    },
    /// A block-quantized weight, through candle.
    Quantized {
        /// The weight, `[n, k]`.
        w: QMatMul,
        /// `(n, k)`.
        dims: (usize, usize),
        /// The bias, `[n]`, `f32`.
        bias: Option<Tensor>,
    },
    /// Layers over the same input whose outputs are laid side by side: a stacked weight
    /// whose parts are stored in different formats (a GGUF file's `Q4_K` keys beside its
    /// `Q6_K` values), which no single kernel can run.
    Concat(Vec<Dense>),
}

impl Dense {
    /// The layer of weight `w` (`[n, k]`) and `bias` (`[n]`), packed when both are `f32` on
    /// the CPU.
    pub(crate) fn new(w: Tensor, bias: Option<Tensor>) -> candle_core::Result<Self> {
        if !matches!(w.device(), Device::Cpu) || w.dtype() != DType::F32 {
            return Ok(Dense::Tensor(candle_nn::Linear::new(w, bias)));
        }
        let (n, k) = w.dims2()?;
        let w = w.contiguous()?;
        let packed = with_f32(&w, |data| PackedWeights::from_rows(data, n, k))?
            .map_err(candle_core::Error::wrap)?;
        Self::packed(packed, bias)
    }

    /// The layer of block-quantized weight `w` (`[n, k]`) and `bias` (`[n]`).
    ///
    /// candle's fast x86 kernels (repacked for VNNI) take `Q8_0`, `Q4_K` and `Q6_K` weights
    /// of rows that are a multiple of 256 long, `n` a multiple of 16; any other `n` falls to a
    /// generic kernel 6–7× slower (measured: `[640×256]·[256×521]` in `Q8_0` 5.6 ms, the same
    /// padded to 528 rows 0.67 ms). So such a weight gets zero rows up to the next multiple
    /// of 16, and the extra outputs are cut off (tessera-tiny's 521-wide LM head).
    ///
    /// With `kernels` on, a `Q8_0` or `Q4_K` weight on a CPU that runs the integer kernels
    /// fast is repacked for them instead ([`Dense::PackedQuant`]).
    pub(crate) fn quantized(
        w: Arc<QTensor>,
        bias: Option<Tensor>,
        kernels: bool,
    ) -> candle_core::Result<Self> {
        if kernels && let Some(packed) = repack(&w)? {
            return Self::packed_quant(Arc::new(packed), bias);
        }
        let dims = w.shape().dims2()?;
        let bias = bias.map(|b| b.to_dtype(DType::F32)).transpose()?;
        Ok(Dense::Quantized {
            w: QMatMul::from_arc(pad_rows(w)?)?,
            dims,
            bias,
        })
    }

    /// The layer of an already packed weight `w` and `bias` (`[n]`).
    pub(crate) fn packed(w: PackedWeights, bias: Option<Tensor>) -> candle_core::Result<Self> {
        Ok(Dense::Packed {
            w,
            bias: bias_vec(bias)?,
        })
    }

    /// The layer of a weight repacked for the integer kernels, and `bias` (`[n]`).
    pub(crate) fn packed_quant(
        w: Arc<PackedQuant>,
        bias: Option<Tensor>,
    ) -> candle_core::Result<Self> {
        Ok(Dense::PackedQuant {
            w,
            bias: bias_vec(bias)?,
        })
    }

    /// `(n, k)`: outputs and inputs.
    pub(crate) fn dims(&self) -> candle_core::Result<(usize, usize)> {
        match self {
            Dense::Packed { w, .. } => Ok((w.n(), w.k())),
            Dense::PackedQuant { w, .. } => Ok((w.n(), w.k())),
            Dense::Tensor(l) => l.weight().dims2(),
            Dense::Quantized { dims, .. } => Ok(*dims),
            Dense::Concat(parts) => parts.iter().try_fold((0, 0), |(n, _), p| {
                let (pn, pk) = p.dims()?;
                Ok((n + pn, pk))
            }),
        }
    }

    /// Bytes the weight and bias occupy (the views of a stacked weight count in full).
    pub(crate) fn bytes(&self) -> usize {
        match self {
            Dense::Packed { w, bias } => w.bytes() + bias.as_ref().map_or(0, |b| b.len() * 4),
            Dense::PackedQuant { w, bias } => w.bytes() + bias.as_ref().map_or(0, |b| b.len() * 4),
            Dense::Tensor(l) => tensor_bytes(l.weight()) + l.bias().map_or(0, tensor_bytes),
            Dense::Quantized { w, bias, .. } => {
                let weight = match w {
                    QMatMul::QTensor(q) => q.storage_size_in_bytes(),
                    QMatMul::Tensor(t) | QMatMul::TensorF16(t) => tensor_bytes(t),
                };
                weight + bias.as_ref().map_or(0, tensor_bytes)
            }
            Dense::Concat(parts) => parts.iter().map(Dense::bytes).sum(),
        }
    }

    /// `x · Wᵀ (+ b)` over the last dimension of `x`.
    pub(crate) fn forward(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        match self {
            Dense::Tensor(l) => l.forward(x),
            Dense::Quantized { w, bias, dims } => {
                let mut y = w.forward(&x.to_dtype(DType::F32)?.contiguous()?)?;
                if y.dim(D::Minus1)? != dims.0 {
                    y = y.narrow(D::Minus1, 0, dims.0)?.contiguous()?;
                }
                match bias {
                    Some(b) => y.broadcast_add(b),
                    None => Ok(y),
                }
            }
            Dense::Concat(parts) => {
                let outs = parts
                    .iter()
                    .map(|p| p.forward(x))
                    .collect::<candle_core::Result<Vec<_>>>()?;
                Tensor::cat(&outs, D::Minus1)
            }
            Dense::Packed { .. } | Dense::PackedQuant { .. } => {
                let (y, dims) = self.host_product(x)?;
                Tensor::from_vec(y, dims, &Device::Cpu)
            }
        }
    }

    /// [`Dense::forward`]'s values as host `f32`s, row-major: what the LM head's logits are
    /// read as. The packed CPU layers compute straight into the returned vector (no tensor,
    /// no copy: at canvas 160 over a vocabulary of 8192 that is 5 MB less at the peak).
    pub(crate) fn forward_host(&self, x: &Tensor) -> candle_core::Result<Vec<f32>> {
        Ok(self.host_product(x)?.0)
    }

    /// The product as host values and its dims.
    fn host_product(&self, x: &Tensor) -> candle_core::Result<(Vec<f32>, Vec<usize>)> {
        match self {
            Dense::Packed { w, bias } => cpu_product(x, (w.n(), w.k()), |x, m, out| {
                matmul_packed(x, m, w, bias.as_deref(), out)
            }),
            Dense::PackedQuant { w, bias } => cpu_product(x, (w.n(), w.k()), |x, m, out| {
                matmul_quant(x, m, w, bias.as_deref(), out)
            }),
            Dense::Tensor(_) | Dense::Quantized { .. } | Dense::Concat(_) => {
                let y = self.forward(x)?;
                let dims = y.dims().to_vec();
                Ok((y.to_dtype(DType::F32)?.flatten_all()?.to_vec1()?, dims))
            }
        }
    }
}

/// `x · Wᵀ (+ b)` over the last dimension of `x` on the CPU, `run(x, m, out)` computing the
/// `m × n` product of the contiguous `f32` rows into `out`; the values and their dims.
fn cpu_product(
    x: &Tensor,
    (n, k): (usize, usize),
    run: impl FnOnce(&[f32], usize, &mut [f32]) -> Result<(), KernelError>,
) -> candle_core::Result<(Vec<f32>, Vec<usize>)> {
    let mut dims = x.dims().to_vec();
    let Some(last) = dims.last_mut() else {
        candle_core::bail!("a linear layer needs at least one dimension");
    };
    if *last != k {
        candle_core::bail!("linear layer of {k} inputs given {} values per row", *last);
    }
    *last = n;
    let m = x.elem_count() / k.max(1);
    let x = x.to_dtype(DType::F32)?.contiguous()?;
    let mut out = vec![0.0f32; m * n];
    with_f32(&x, |x| run(x, m, &mut out))?.map_err(candle_core::Error::wrap)?;
    Ok((out, dims))
}

/// `bias` as `f32` values.
fn bias_vec(bias: Option<Tensor>) -> candle_core::Result<Option<Vec<f32>>> {
    bias.map(|b| b.to_dtype(DType::F32)?.flatten_all()?.to_vec1::<f32>())
        .transpose()
}

/// `w` repacked for Tessera's integer kernels, if they take its format and run fast on this
/// CPU (and `w` is on the CPU); `None` otherwise.
pub(crate) fn repack(w: &QTensor) -> candle_core::Result<Option<PackedQuant>> {
    use candle_core::quantized::GgmlDType;
    let format = match w.dtype() {
        GgmlDType::Q8_0 => QuantFormat::Q8_0,
        GgmlDType::Q4K => QuantFormat::Q4K,
        _ => return Ok(None),
    };
    if !w.device().is_cpu() || !tessera_kernels::quant_kernels_fast() {
        return Ok(None);
    }
    let (n, k) = w.shape().dims2()?;
    let packed =
        PackedQuant::from_ggml(format, &w.data()?, n, k).map_err(candle_core::Error::wrap)?;
    Ok(Some(packed))
}

/// Rows the fast quantized kernels work in.
const TILE_ROWS: usize = 16;

/// `w` with zero rows appended up to a multiple of [`TILE_ROWS`] where that lets candle's
/// fast CPU kernels take it (see [`Dense::quantized`]); `w` itself otherwise.
fn pad_rows(w: Arc<QTensor>) -> candle_core::Result<Arc<QTensor>> {
    use candle_core::quantized::GgmlDType;
    let (n, k) = w.shape().dims2()?;
    let fast = matches!(w.dtype(), GgmlDType::Q8_0 | GgmlDType::Q4K | GgmlDType::Q6K);
    if !fast || n.is_multiple_of(TILE_ROWS) || !k.is_multiple_of(256) || !w.device().is_cpu() {
        return Ok(w);
    }
    let rows = n.next_multiple_of(TILE_ROWS);
    let mut bytes = w.data()?.into_owned();
    // All-zero blocks: scale 0, so every value of the padding rows is 0.
    bytes.resize(bytes.len() / n * rows, 0);
    Ok(Arc::new(quantized_from_bytes(
        &bytes,
        w.dtype(),
        (rows, k),
        &Device::Cpu,
    )?))
}

/// A quantized tensor of `shape` whose blocks are `bytes` (rows of whole blocks laid end to
/// end, as `QTensor::data` gives them), on `device`.
pub(crate) fn quantized_from_bytes(
    bytes: &[u8],
    dtype: candle_core::quantized::GgmlDType,
    shape: impl Into<candle_core::Shape>,
    device: &Device,
) -> candle_core::Result<QTensor> {
    let storage = candle_core::quantized::QStorage::from_data(
        std::borrow::Cow::Borrowed(bytes),
        device,
        dtype,
    )?;
    QTensor::new(storage, shape)
}

/// Bytes of `t`'s elements.
pub(crate) fn tensor_bytes(t: &Tensor) -> usize {
    t.elem_count() * t.dtype().size_in_bytes()
}

/// Runs `f` on the `f32` values of contiguous CPU tensor `t`, without copying them.
pub(crate) fn with_f32<R>(t: &Tensor, f: impl FnOnce(&[f32]) -> R) -> candle_core::Result<R> {
    let (storage, layout) = t.storage_and_layout();
    let Storage::Cpu(cpu) = &*storage else {
        candle_core::bail!("expected a CPU tensor");
    };
    let data = cpu.as_slice::<f32>()?;
    let Some((start, end)) = layout.contiguous_offsets() else {
        candle_core::bail!("expected a contiguous tensor");
    };
    Ok(f(&data[start..end]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packed_and_tensor_layers_agree() {
        let dev = Device::Cpu;
        let w = Tensor::randn(0f32, 1.0, (37, 19), &dev).unwrap();
        let b = Tensor::randn(0f32, 1.0, 37, &dev).unwrap();
        let x = Tensor::randn(0f32, 1.0, (2, 5, 19), &dev).unwrap();
        let packed = Dense::new(w.clone(), Some(b.clone())).unwrap();
        assert!(matches!(packed, Dense::Packed { .. }));
        assert_eq!(packed.dims().unwrap(), (37, 19));
        let plain = Dense::Tensor(candle_nn::Linear::new(w, Some(b)));
        let (a, p) = (packed.forward(&x).unwrap(), plain.forward(&x).unwrap());
        assert_eq!(a.dims(), &[2, 5, 37]);
        let diff = (a - p).unwrap().abs().unwrap().max_all().unwrap();
        assert!(diff.to_scalar::<f32>().unwrap() < 1e-4);
        let wrong = Tensor::zeros((3, 7), DType::F32, &dev).unwrap();
        assert!(packed.forward(&wrong).is_err());
    }

    #[test]
    fn quantized_layers_of_odd_row_counts_agree_with_the_dequantized_weight() {
        use candle_core::quantized::GgmlDType;
        let dev = Device::Cpu;
        let w = Tensor::randn(0f32, 1.0, (21, 256), &dev).unwrap();
        let b = Tensor::randn(0f32, 1.0, 21, &dev).unwrap();
        let x = Tensor::randn(0f32, 1.0, (3, 4, 256), &dev).unwrap();
        for g in [GgmlDType::Q8_0, GgmlDType::Q4K] {
            let q = Arc::new(QTensor::quantize(&w, g).unwrap());
            let deq = Dense::Tensor(candle_nn::Linear::new(
                q.dequantize(&dev).unwrap(),
                Some(b.clone()),
            ));
            let r = deq.forward(&x).unwrap();
            for kernels in [false, true] {
                let layer = Dense::quantized(q.clone(), Some(b.clone()), kernels).unwrap();
                assert_eq!(layer.dims().unwrap(), (21, 256));
                let ours = tessera_kernels::quant_kernels_fast() && kernels;
                assert_eq!(matches!(layer, Dense::PackedQuant { .. }), ours);
                if !ours {
                    // candle's: the stored weight gained zero rows up to 32.
                    assert!(layer.bytes() > q.storage_size_in_bytes());
                }
                let y = layer.forward(&x).unwrap();
                assert_eq!(y.dims(), &[3, 4, 21]);
                let rel = relative_rms(&y, &r);
                assert!(rel < 0.02, "{g:?} kernels {kernels}: relative RMS {rel}");
            }
        }
    }

    fn relative_rms(y: &Tensor, r: &Tensor) -> f32 {
        let mean_sq = |t: Tensor| t.sqr().unwrap().mean_all().unwrap().to_scalar::<f32>();
        (mean_sq((y - r).unwrap()).unwrap() / mean_sq(r.clone()).unwrap()).sqrt()
    }
}
