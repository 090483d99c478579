//! EnCodec's building blocks (SEANet convolutions, residual blocks, LSTM), written from the
//! `transformers` EnCodec model (`modeling_encodec.py`) and the paper (Défossez et al. 2022,
//! "High Fidelity Neural Audio Compression"). Tensors are time-major, `(1, time, channels)`
//! (channels-last): every convolution reads its padded input in place as an implicit GEMM
//! (`tessera_kernels::conv2d_channels_last`) and writes the next one's layout, the LSTM
//! steps along rows, and no layer transposes.

use candle_core::Tensor;
use tessera_kernels::{PackedConv, PackedWeights, conv2d_channels_last, matmul_packed};

use super::config::{EncodecConfig, PadMode};
use super::pad::padded_rows;
use crate::audio::AudioError;
use crate::audio::weights::WeightStore;

/// Reads a weight-normed kernel `w = g · v / ‖v‖` (norm over all axes but the first).
///
/// Accepts the published names (`weight_g`, `weight_v`) and the ones `transformers` 5 saves
/// (`parametrizations.weight.original0`/`original1`).
fn weight_norm(w: &WeightStore, prefix: &str, shape: [usize; 3]) -> Result<Tensor, AudioError> {
    let (g_name, v_name) = if w.contains(&format!("{prefix}.weight_v")) {
        (format!("{prefix}.weight_g"), format!("{prefix}.weight_v"))
    } else if w.contains(&format!("{prefix}.parametrizations.weight.original1")) {
        (
            format!("{prefix}.parametrizations.weight.original0"),
            format!("{prefix}.parametrizations.weight.original1"),
        )
    } else {
        return Err(w.err(format!("missing tensor `{prefix}.weight_v`")));
    };
    let g = w.get(&g_name, &[shape[0], 1, 1])?;
    let v = w.get(&v_name, &shape)?;
    let norm = v.sqr()?.sum_keepdim((1, 2))?.sqrt()?;
    Ok(v.broadcast_mul(&g.broadcast_div(&norm)?)?)
}

/// A convolution with EnCodec's padding: causal (all on the left) or centred, plus the
/// extra right padding that makes the last window complete.
#[derive(Debug)]
pub(crate) struct Conv {
    /// The kernel packed for `tessera_kernels::conv2d_channels_last` as a `1 × span`
    /// kernel (a dilated kernel with zeros between its taps).
    packed: PackedConv,
    bias: Vec<f32>,
    stride: usize,
    causal: bool,
    pad_mode: PadMode,
}

impl Conv {
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn load(
        cfg: &EncodecConfig,
        w: &WeightStore,
        prefix: &str,
        in_c: usize,
        out_c: usize,
        kernel: usize,
        stride: usize,
        dilation: usize,
    ) -> Result<Self, AudioError> {
        let conv = format!("{prefix}.conv");
        let weight = weight_norm(w, &conv, [out_c, in_c, kernel])?
            .flatten_all()?
            .to_vec1::<f32>()?;
        let span = (kernel - 1) * dilation + 1;
        let mut spread = vec![0.0f32; out_c * in_c * span];
        for (row, taps) in spread
            .chunks_exact_mut(span)
            .zip(weight.chunks_exact(kernel))
        {
            for (j, &v) in taps.iter().enumerate() {
                row[j * dilation] = v;
            }
        }
        let packed = PackedConv::from_oihw(&spread, out_c, in_c, 1, span)
            .map_err(|e| AudioError::Tensor(format!("{prefix}: {e}")))?;
        Ok(Self {
            packed,
            bias: w.get(&format!("{conv}.bias"), &[out_c])?.to_vec1()?,
            stride,
            causal: cfg.use_causal_conv,
            pad_mode: cfg.pad_mode,
        })
    }

    /// `(1, time, in)` → `(1, frames, out)`.
    pub(crate) fn forward(&self, x: &Tensor) -> Result<Tensor, AudioError> {
        self.run(x, false)
    }

    /// `forward(elu(x))`, the ELU applied to the padded copy the convolution reads anyway
    /// (it commutes with every padding mode: `elu(0) = 0`).
    pub(crate) fn forward_elu(&self, x: &Tensor) -> Result<Tensor, AudioError> {
        self.run(x, true)
    }

    fn run(&self, x: &Tensor, elu: bool) -> Result<Tensor, AudioError> {
        let (_, k_eff) = self.packed.kernel();
        let stride = self.stride;
        let pad_total = k_eff.saturating_sub(stride);
        let len = x.dim(1)?;
        // `transformers`' `_get_extra_padding_for_conv1d`: pad the right so the last window
        // is full. Exact in f64 for any length that fits in memory.
        let n_frames =
            ((len as f64 - k_eff as f64 + pad_total as f64) / stride as f64 + 1.0).ceil() - 1.0;
        let ideal = n_frames * stride as f64 + k_eff as f64 - pad_total as f64;
        let extra = (ideal - len as f64).max(0.0) as usize;
        let (left, right) = if self.causal {
            (pad_total, extra)
        } else {
            let right = pad_total / 2;
            (pad_total - right, right + extra)
        };
        let (data, len) = padded_rows(x, (left, right), self.pad_mode, elu)?;
        if len < k_eff {
            return Err(AudioError::Tensor(format!(
                "convolution input of {len} samples is shorter than its kernel span {k_eff}"
            )));
        }
        let (y, _, frames) =
            conv2d_channels_last(&data, 1, len, &self.packed, Some(&self.bias), stride)
                .map_err(|e| AudioError::Tensor(e.to_string()))?;
        Ok(Tensor::from_vec(
            y,
            (1, frames, self.packed.cout()),
            x.device(),
        )?)
    }
}

/// A transposed convolution that trims its fixed padding (right-heavy for causal models).
///
/// Computed as one GEMM and an overlap-add: `z[t, (j, o)] = Σᵢ x[t, i] · w[i, o, j]` for
/// every frame `t` and tap `j`, then `y[t·stride + j, o] += z[t, (j, o)]`.
#[derive(Debug)]
pub(crate) struct ConvTranspose {
    /// `w[i, o, j]` as the `[(j, o), i]` weight of a linear layer.
    taps: PackedWeights,
    bias: Vec<f32>,
    out_c: usize,
    kernel: usize,
    stride: usize,
    trim_left: usize,
    trim_right: usize,
}

impl ConvTranspose {
    pub(crate) fn load(
        cfg: &EncodecConfig,
        w: &WeightStore,
        prefix: &str,
        in_c: usize,
        out_c: usize,
        kernel: usize,
        stride: usize,
    ) -> Result<Self, AudioError> {
        let conv = format!("{prefix}.conv");
        let pad_total = kernel - stride;
        let trim_right = if cfg.use_causal_conv {
            (pad_total as f64 * cfg.trim_right_ratio).ceil() as usize
        } else {
            pad_total / 2
        };
        let weight = weight_norm(w, &conv, [in_c, out_c, kernel])?
            .flatten_all()?
            .to_vec1::<f32>()?;
        let taps = PackedWeights::from_fn(kernel * out_c, in_c, |row, i0, dst| {
            let (j, o) = (row / out_c, row % out_c);
            for (d, i) in dst.iter_mut().zip(i0..) {
                *d = weight[(i * out_c + o) * kernel + j];
            }
        })
        .map_err(|e| AudioError::Tensor(format!("{prefix}: {e}")))?;
        Ok(Self {
            taps,
            bias: w.get(&format!("{conv}.bias"), &[out_c])?.to_vec1()?,
            out_c,
            kernel,
            stride,
            trim_left: pad_total - trim_right,
            trim_right,
        })
    }

    /// `elu(x)` `(1, frames, in)` → `(1, frames · stride, out)` (after trimming): the ELU
    /// that always precedes it, applied to the copy it reads anyway.
    pub(crate) fn forward_elu(&self, x: &Tensor) -> Result<Tensor, AudioError> {
        let (_, frames, in_c) = x.dims3()?;
        let (out_c, kernel, stride) = (self.out_c, self.kernel, self.stride);
        let (data, _) = padded_rows(x, (0, 0), PadMode::Constant, true)?;
        let mut z = vec![0.0f32; frames * kernel * out_c];
        matmul_packed(&data, frames, &self.taps, None, &mut z)
            .map_err(|e| AudioError::Tensor(format!("transposed convolution of {in_c}: {e}")))?;
        let len = (frames.max(1) - 1) * stride + kernel;
        let mut y = vec![0.0f32; len * out_c];
        for (t, zt) in z.chunks_exact(kernel * out_c).enumerate() {
            let dst = &mut y[t * stride * out_c..][..kernel * out_c];
            for (d, &v) in dst.iter_mut().zip(zt) {
                *d += v;
            }
        }
        let keep = len.saturating_sub(self.trim_left + self.trim_right);
        let mut out = y.split_off(self.trim_left * out_c);
        out.truncate(keep * out_c);
        for row in out.chunks_exact_mut(out_c) {
            for (d, &b) in row.iter_mut().zip(&self.bias) {
                *d += b;
            }
        }
        Ok(Tensor::from_vec(out, (1, keep, out_c), x.device())?)
    }
}

/// SEANet residual block: `shortcut(x) + conv₂(elu(conv₁(elu(x))))`.
#[derive(Debug)]
pub(crate) struct ResnetBlock {
    conv1: Conv,
    conv2: Conv,
    shortcut: Option<Conv>,
}

impl ResnetBlock {
    pub(crate) fn load(
        cfg: &EncodecConfig,
        w: &WeightStore,
        prefix: &str,
        dim: usize,
        dilation: usize,
    ) -> Result<Self, AudioError> {
        let hidden = dim / cfg.compress;
        let b = |i: usize| format!("{prefix}.block.{i}");
        Ok(Self {
            conv1: Conv::load(
                cfg,
                w,
                &b(1),
                dim,
                hidden,
                cfg.residual_kernel_size,
                1,
                dilation,
            )?,
            conv2: Conv::load(cfg, w, &b(3), hidden, dim, 1, 1, 1)?,
            shortcut: if cfg.use_conv_shortcut {
                Some(Conv::load(
                    cfg,
                    w,
                    &format!("{prefix}.shortcut"),
                    dim,
                    dim,
                    1,
                    1,
                    1,
                )?)
            } else {
                None
            },
        })
    }

    pub(crate) fn forward(&self, x: &Tensor) -> Result<Tensor, AudioError> {
        let y = self.conv1.forward_elu(x)?;
        let y = self.conv2.forward_elu(&y)?;
        let skip = match &self.shortcut {
            Some(s) => s.forward(x)?,
            None => x.clone(),
        };
        Ok((skip + y)?)
    }
}
