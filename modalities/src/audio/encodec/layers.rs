//! EnCodec's building blocks (SEANet convolutions, residual blocks, LSTM), written from the
//! `transformers` EnCodec model (`modeling_encodec.py`) and the paper (Défossez et al. 2022,
//! "High Fidelity Neural Audio Compression"). Tensors are time-major, `(1, time, channels)`
//! (channels-last): every convolution reads its padded input in place as an implicit GEMM
//! (`tessera_kernels::conv2d_channels_last`) and writes the next one's layout, the LSTM
//! steps along rows, and no layer transposes.

use candle_core::Tensor;
use tessera_kernels::activation::elu_in_place;
use tessera_kernels::{PackedConv, PackedWeights, conv2d_channels_last, matmul_packed};

use super::config::{EncodecConfig, PadMode};
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

/// Pads the time axis (1) of `x` `(1, time, channels)` by `(left, right)` in `mode`.
///
/// Reflect padding of a signal no longer than the pad first appends zeros so the reflection
/// exists, then drops them again, as `transformers`' `EncodecConv1d._pad1d` does.
fn pad1d(x: &Tensor, left: usize, right: usize, mode: PadMode) -> Result<Tensor, AudioError> {
    if left == 0 && right == 0 {
        return Ok(x.clone());
    }
    Ok(match mode {
        PadMode::Constant => x.pad_with_zeros(1, left, right)?,
        PadMode::Replicate => x.pad_with_same(1, left, right)?,
        PadMode::Reflect => {
            let len = x.dim(1)?;
            let max_pad = left.max(right);
            let extra = if len <= max_pad { max_pad - len + 1 } else { 0 };
            let x = x.pad_with_zeros(1, 0, extra)?;
            let n = len + extra;
            // Source index of each output position of the reflected signal.
            let idx: Vec<u32> = (0..left + n + right)
                .map(|o| {
                    let i = o as i64 - left as i64;
                    let r = if i < 0 {
                        -i
                    } else if i >= n as i64 {
                        2 * (n as i64 - 1) - i
                    } else {
                        i
                    };
                    r as u32
                })
                .collect();
            let idx = Tensor::from_vec(idx, left + n + right, x.device())?;
            let padded = x.index_select(&idx, 1)?;
            padded.narrow(1, 0, left + n + right - extra)?
        }
    })
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
        let x = pad1d(x, left, right, self.pad_mode)?;
        let len = x.dim(1)?;
        if len < k_eff {
            return Err(AudioError::Tensor(format!(
                "convolution input of {len} samples is shorter than its kernel span {k_eff}"
            )));
        }
        let mut data = x.flatten_all()?.to_vec1::<f32>()?;
        if elu {
            elu_in_place(&mut data, 1.0);
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
        let mut data = x.flatten_all()?.to_vec1::<f32>()?;
        elu_in_place(&mut data, 1.0);
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

/// One LSTM layer's weights, PyTorch layout and gate order (input, forget, cell, output).
#[derive(Debug)]
struct LstmLayer {
    w_ih_t: Tensor,
    bias: Tensor,
    /// `W_hh` transposed, row-major `(hidden, 4·hidden)`, for the sequential recurrence.
    w_hh_t: Vec<f32>,
}

/// A stack of LSTM layers over time with a skip connection around the stack, as in SEANet.
#[derive(Debug)]
pub(crate) struct Lstm {
    layers: Vec<LstmLayer>,
    dim: usize,
}

impl Lstm {
    pub(crate) fn load(
        cfg: &EncodecConfig,
        w: &WeightStore,
        prefix: &str,
        dim: usize,
    ) -> Result<Self, AudioError> {
        let layers = (0..cfg.num_lstm_layers)
            .map(|l| {
                let name = |n: &str| format!("{prefix}.lstm.{n}_l{l}");
                let w_ih = w.get(&name("weight_ih"), &[4 * dim, dim])?;
                let w_hh = w.get(&name("weight_hh"), &[4 * dim, dim])?;
                let b = (w.get(&name("bias_ih"), &[4 * dim])?
                    + w.get(&name("bias_hh"), &[4 * dim])?)?;
                Ok(LstmLayer {
                    w_ih_t: w_ih.t()?.contiguous()?,
                    bias: b.reshape((1, 4 * dim))?,
                    w_hh_t: w_hh.t()?.contiguous()?.flatten_all()?.to_vec1()?,
                })
            })
            .collect::<Result<Vec<_>, AudioError>>()?;
        Ok(Self { layers, dim })
    }

    /// `x`: `(1, time, dim)` → the same shape, `lstm(x) + x`.
    pub(crate) fn forward(&self, x: &Tensor) -> Result<Tensor, AudioError> {
        let h = self.dim;
        let seq = x.squeeze(0)?.contiguous()?; // (time, dim)
        let steps = seq.dim(0)?;
        let mut cur = seq.clone();
        for layer in &self.layers {
            // The input projection of every step at once; only `W_hh · h` is sequential.
            let pre: Vec<f32> = cur
                .matmul(&layer.w_ih_t)?
                .broadcast_add(&layer.bias)?
                .flatten_all()?
                .to_vec1()?;
            let mut out = vec![0f32; steps * h];
            let mut hid = vec![0f32; h];
            let mut cell = vec![0f32; h];
            let mut gates = vec![0f32; 4 * h];
            for t in 0..steps {
                gates.copy_from_slice(&pre[t * 4 * h..(t + 1) * 4 * h]);
                for (i, &hi) in hid.iter().enumerate() {
                    let row = &layer.w_hh_t[i * 4 * h..(i + 1) * 4 * h];
                    for (g, &wv) in gates.iter_mut().zip(row) {
                        *g += hi * wv;
                    }
                }
                for j in 0..h {
                    let i_g = sigmoid(gates[j]);
                    let f_g = sigmoid(gates[h + j]);
                    let g_g = gates[2 * h + j].tanh();
                    let o_g = sigmoid(gates[3 * h + j]);
                    cell[j] = f_g * cell[j] + i_g * g_g;
                    hid[j] = o_g * cell[j].tanh();
                }
                out[t * h..(t + 1) * h].copy_from_slice(&hid);
            }
            cur = Tensor::from_vec(out, (steps, h), x.device())?;
        }
        Ok((cur + seq)?.unsqueeze(0)?)
    }
}

fn sigmoid(x: f32) -> f32 {
    1.0 / (1.0 + (-x).exp())
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
