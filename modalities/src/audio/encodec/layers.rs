//! EnCodec's building blocks (SEANet convolutions, residual blocks, LSTM), written from the
//! `transformers` EnCodec model (`modeling_encodec.py`) and the paper (Défossez et al. 2022,
//! "High Fidelity Neural Audio Compression"). Tensors are `(batch, channels, time)`.

use candle_core::{D, Tensor};

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

/// Pads the last axis of `x` by `(left, right)` in `mode`.
///
/// Reflect padding of a signal no longer than the pad first appends zeros so the reflection
/// exists, then drops them again, as `transformers`' `EncodecConv1d._pad1d` does.
fn pad1d(x: &Tensor, left: usize, right: usize, mode: PadMode) -> Result<Tensor, AudioError> {
    if left == 0 && right == 0 {
        return Ok(x.clone());
    }
    Ok(match mode {
        PadMode::Constant => x.pad_with_zeros(D::Minus1, left, right)?,
        PadMode::Replicate => x.pad_with_same(D::Minus1, left, right)?,
        PadMode::Reflect => {
            let len = x.dim(D::Minus1)?;
            let max_pad = left.max(right);
            let extra = if len <= max_pad { max_pad - len + 1 } else { 0 };
            let x = x.pad_with_zeros(D::Minus1, 0, extra)?;
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
            let padded = x.index_select(&idx, 2)?;
            padded.narrow(D::Minus1, 0, left + n + right - extra)?
        }
    })
}

/// A convolution with EnCodec's padding: causal (all on the left) or centred, plus the
/// extra right padding that makes the last window complete.
#[derive(Debug)]
pub(crate) struct Conv {
    /// The kernel laid out `(out, kernel · in)`, tap-major, for [`conv1d_taps`].
    taps: Tensor,
    kernel: usize,
    bias: Tensor,
    stride: usize,
    dilation: usize,
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
        let weight = weight_norm(w, &conv, [out_c, in_c, kernel])?;
        Ok(Self {
            taps: weight.transpose(1, 2)?.reshape((out_c, kernel * in_c))?,
            kernel,
            bias: w.get(&format!("{conv}.bias"), &[out_c])?,
            stride,
            dilation,
            causal: cfg.use_causal_conv,
            pad_mode: cfg.pad_mode,
        })
    }

    pub(crate) fn forward(&self, x: &Tensor) -> Result<Tensor, AudioError> {
        let kernel = self.kernel;
        let k_eff = (kernel - 1) * self.dilation + 1;
        let stride = self.stride;
        let pad_total = k_eff.saturating_sub(stride);
        let len = x.dim(D::Minus1)?;
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
        let y = conv1d_taps(&x, &self.taps, kernel, stride, self.dilation)?;
        Ok(y.broadcast_add(&self.bias.reshape((1, (), 1))?)?)
    }
}

/// A valid (unpadded) 1-D convolution of `x` `(1, in, len)` as one matrix product in the
/// channels-first layout: the `kernel` shifted (and strided) views of `x` are stacked into
/// `(kernel · in, out_len)` and multiplied by `taps` `(out, kernel · in)`. This avoids the
/// im2col-then-transpose round trip of a general convolution, which dominates on long audio.
fn conv1d_taps(
    x: &Tensor,
    taps: &Tensor,
    kernel: usize,
    stride: usize,
    dilation: usize,
) -> Result<Tensor, AudioError> {
    let x = x.squeeze(0)?;
    let (channels, len) = x.dims2()?;
    let span = (kernel - 1) * dilation + 1;
    if len < span {
        return Err(AudioError::Tensor(format!(
            "convolution input of {len} samples is shorter than its kernel span {span}"
        )));
    }
    let out_len = (len - span) / stride + 1;
    let y = if kernel == 1 && stride == 1 {
        taps.matmul(&x)?
    } else {
        // Room for `out_len · stride` samples after the last tap's offset.
        let need = (kernel - 1) * dilation + out_len * stride;
        let x = if need > len {
            x.pad_with_zeros(1, 0, need - len)?
        } else {
            x
        };
        let views = (0..kernel)
            .map(|j| {
                let v = x.narrow(1, j * dilation, out_len * stride)?;
                if stride == 1 {
                    Ok(v)
                } else {
                    v.reshape((channels, out_len, stride))?
                        .narrow(2, 0, 1)?
                        .squeeze(2)
                }
            })
            .collect::<candle_core::Result<Vec<_>>>()?;
        taps.matmul(&Tensor::cat(&views, 0)?)?
    };
    Ok(y.unsqueeze(0)?)
}

/// A transposed convolution that trims its fixed padding (right-heavy for causal models).
#[derive(Debug)]
pub(crate) struct ConvTranspose {
    weight: Tensor,
    bias: Tensor,
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
        Ok(Self {
            weight: weight_norm(w, &conv, [in_c, out_c, kernel])?,
            bias: w.get(&format!("{conv}.bias"), &[out_c])?,
            stride,
            trim_left: pad_total - trim_right,
            trim_right,
        })
    }

    pub(crate) fn forward(&self, x: &Tensor) -> Result<Tensor, AudioError> {
        let y = x.conv_transpose1d(&self.weight, 0, 0, self.stride, 1, 1)?;
        let y = y.broadcast_add(&self.bias.reshape((1, (), 1))?)?;
        let len = y.dim(D::Minus1)?;
        let keep = len.saturating_sub(self.trim_left + self.trim_right);
        Ok(y.narrow(D::Minus1, self.trim_left, keep)?)
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

    /// `x`: `(1, dim, time)` → the same shape, `lstm(x) + x`.
    pub(crate) fn forward(&self, x: &Tensor) -> Result<Tensor, AudioError> {
        let h = self.dim;
        let seq = x.squeeze(0)?.t()?.contiguous()?; // (time, dim)
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
        Ok((cur + seq)?.t()?.unsqueeze(0)?.contiguous()?)
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
        let y = self.conv1.forward(&x.elu(1.0)?)?;
        let y = self.conv2.forward(&y.elu(1.0)?)?;
        let skip = match &self.shortcut {
            Some(s) => s.forward(x)?,
            None => x.clone(),
        };
        Ok((skip + y)?)
    }
}
