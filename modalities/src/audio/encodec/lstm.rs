//! EnCodec's LSTM stack (PyTorch's `nn.LSTM`, gate order input, forget, cell, output) with
//! the skip connection SEANet puts around it.
//!
//! The input projections of every step are one matrix product; only `W_hh · h` is
//! sequential. That product is split by hidden units into blocks of [`UNITS`], each block's
//! rows of `W_hh` stored together (`[block][input][gate][unit]`, 128 KiB per block at 512
//! hidden units) so that a block's 64 gate sums stay in registers while its weights stream
//! past once, and the blocks of a step are spread over the cores. Each gate sum starts at
//! the step's input projection and adds `h[i] · w` in input order, as the plain loop does.

use candle_core::Tensor;
use rayon::prelude::*;

use super::config::EncodecConfig;
use crate::audio::AudioError;
use crate::audio::weights::WeightStore;

/// Hidden units per block of the recurrent weight (4 gates × 16 = 64 sums, eight AVX
/// registers).
const UNITS: usize = 16;

/// One LSTM layer's weights.
#[derive(Debug)]
struct LstmLayer {
    w_ih_t: Tensor,
    bias: Tensor,
    /// `W_hh` by blocks of [`UNITS`] hidden units (see the module docs), the hidden size
    /// padded to whole blocks with zero rows.
    w_hh: Vec<f32>,
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
                    w_hh: blocked(&w_hh.flatten_all()?.to_vec1()?, dim),
                })
            })
            .collect::<Result<Vec<_>, AudioError>>()?;
        Ok(Self { layers, dim })
    }

    /// `x`: `(1, time, dim)` → the same shape, `lstm(x) + x`.
    pub(crate) fn forward(&self, x: &Tensor) -> Result<Tensor, AudioError> {
        let h = self.dim;
        let padded = h.next_multiple_of(UNITS);
        let seq = x.squeeze(0)?.contiguous()?; // (time, dim)
        let steps = seq.dim(0)?;
        let mut cur = seq.clone();
        // Blocks per task: one task per thread.
        let per_task = (padded / UNITS)
            .div_ceil(rayon::current_num_threads())
            .max(1);
        for layer in &self.layers {
            let pre: Vec<f32> = cur
                .matmul(&layer.w_ih_t)?
                .broadcast_add(&layer.bias)?
                .flatten_all()?
                .to_vec1()?;
            let mut out = vec![0f32; steps * h];
            let mut hid = vec![0f32; padded];
            let mut next = vec![0f32; padded];
            let mut cell = vec![0f32; padded];
            for t in 0..steps {
                let pre = &pre[t * 4 * h..(t + 1) * 4 * h];
                let hid_prev = &hid[..h];
                next.par_chunks_mut(UNITS * per_task)
                    .zip(cell.par_chunks_mut(UNITS * per_task))
                    .enumerate()
                    .for_each(|(task, (next, cell))| {
                        let blocks = next.chunks_mut(UNITS).zip(cell.chunks_mut(UNITS));
                        for (b, (next, cell)) in blocks.enumerate() {
                            let block = task * per_task + b;
                            let w = &layer.w_hh[block * h * 4 * UNITS..][..h * 4 * UNITS];
                            step_block(w, pre, hid_prev, block * UNITS, next, cell);
                        }
                    });
                std::mem::swap(&mut hid, &mut next);
                out[t * h..(t + 1) * h].copy_from_slice(&hid[..h]);
            }
            cur = Tensor::from_vec(out, (steps, h), x.device())?;
        }
        Ok((cur + seq)?.unsqueeze(0)?)
    }
}

/// `W_hh` (`[4·h, h]` row-major, row `gate·h + unit`) rearranged by blocks of [`UNITS`]
/// units: `[block][input][gate][unit]`, units past `h` zero.
fn blocked(w_hh: &[f32], h: usize) -> Vec<f32> {
    let blocks = h.div_ceil(UNITS);
    let mut out = vec![0.0f32; blocks * h * 4 * UNITS];
    for (b, block) in out.chunks_exact_mut(h * 4 * UNITS).enumerate() {
        for (i, row) in block.chunks_exact_mut(4 * UNITS).enumerate() {
            for g in 0..4 {
                for u in 0..UNITS.min(h - b * UNITS) {
                    row[g * UNITS + u] = w_hh[(g * h + b * UNITS + u) * h + i];
                }
            }
        }
    }
    out
}

/// One step of one block of units `first..first + UNITS`: gate sums from `pre` (the step's
/// input projection, `4·h`) and `hid` (the previous hidden state, `h`) through the block's
/// weights `w`, then the new cell and hidden values into `cell` and `next`.
fn step_block(
    w: &[f32],
    pre: &[f32],
    hid: &[f32],
    first: usize,
    next: &mut [f32],
    cell: &mut [f32],
) {
    #[cfg(target_arch = "x86_64")]
    if is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU has AVX2 (checked just above).
        unsafe { step_block_avx2(w, pre, hid, first, next, cell) };
        return;
    }
    step_block_plain(w, pre, hid, first, next, cell);
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn step_block_avx2(
    w: &[f32],
    pre: &[f32],
    hid: &[f32],
    first: usize,
    next: &mut [f32],
    cell: &mut [f32],
) {
    step_block_plain(w, pre, hid, first, next, cell);
}

#[inline(always)]
fn step_block_plain(
    w: &[f32],
    pre: &[f32],
    hid: &[f32],
    first: usize,
    next: &mut [f32],
    cell: &mut [f32],
) {
    let h = hid.len();
    let live = UNITS.min(h - first);
    let mut acc = [[0.0f32; UNITS]; 4];
    for (g, acc) in acc.iter_mut().enumerate() {
        acc[..live].copy_from_slice(&pre[g * h + first..][..live]);
    }
    for (&hi, row) in hid.iter().zip(w.chunks_exact(4 * UNITS)) {
        for (acc, row) in acc.iter_mut().zip(row.chunks_exact(UNITS)) {
            for (a, &wv) in acc.iter_mut().zip(row) {
                *a += hi * wv;
            }
        }
    }
    for u in 0..live {
        let i_g = sigmoid(acc[0][u]);
        let f_g = sigmoid(acc[1][u]);
        let g_g = acc[2][u].tanh();
        let o_g = sigmoid(acc[3][u]);
        cell[u] = f_g * cell[u] + i_g * g_g;
        next[u] = o_g * cell[u].tanh();
    }
}

fn sigmoid(x: f32) -> f32 {
    1.0 / (1.0 + (-x).exp())
}

#[cfg(test)]
mod tests {
    use candle_core::Device;

    use super::*;

    /// PyTorch's LSTM equations, one unit at a time, in `f64`.
    fn naive(x: &[f32], steps: usize, h: usize, w_ih: &[f32], w_hh: &[f32], b: &[f32]) -> Vec<f32> {
        let sig = |v: f64| 1.0 / (1.0 + (-v).exp());
        let (mut hid, mut cell) = (vec![0f64; h], vec![0f64; h]);
        let mut out = Vec::new();
        for t in 0..steps {
            let gate = |r: usize, hid: &[f64]| {
                let mut s = f64::from(b[r]);
                for i in 0..h {
                    s += f64::from(w_ih[r * h + i]) * f64::from(x[t * h + i]);
                    s += f64::from(w_hh[r * h + i]) * hid[i];
                }
                s
            };
            let prev = hid.clone();
            for j in 0..h {
                let (i, f) = (sig(gate(j, &prev)), sig(gate(h + j, &prev)));
                let (g, o) = (gate(2 * h + j, &prev).tanh(), sig(gate(3 * h + j, &prev)));
                cell[j] = f * cell[j] + i * g;
                hid[j] = o * cell[j].tanh();
            }
            out.extend(
                hid.iter()
                    .enumerate()
                    .map(|(j, &v)| v as f32 + x[t * h + j]),
            );
        }
        out
    }

    #[test]
    fn blocked_recurrence_matches_the_equations_for_sizes_off_the_block() {
        for h in [5, 16, 20, 40] {
            let steps = 7;
            let val = |i: usize, s: f32| ((i * 7919 % 1009) as f32 / 1009.0 - 0.5) * s;
            let w_ih: Vec<f32> = (0..4 * h * h).map(|i| val(i, 0.6)).collect();
            let w_hh: Vec<f32> = (0..4 * h * h).map(|i| val(i + 5, 0.6)).collect();
            let b: Vec<f32> = (0..4 * h).map(|i| val(i + 9, 0.2)).collect();
            let x: Vec<f32> = (0..steps * h).map(|i| val(i + 3, 2.0)).collect();
            let dev = Device::Cpu;
            let lstm = Lstm {
                layers: vec![LstmLayer {
                    w_ih_t: Tensor::from_slice(&w_ih, (4 * h, h), &dev)
                        .unwrap()
                        .t()
                        .unwrap()
                        .contiguous()
                        .unwrap(),
                    bias: Tensor::from_slice(&b, (1, 4 * h), &dev).unwrap(),
                    w_hh: blocked(&w_hh, h),
                }],
                dim: h,
            };
            let xt = Tensor::from_slice(&x, (1, steps, h), &dev).unwrap();
            let got = lstm
                .forward(&xt)
                .unwrap()
                .flatten_all()
                .unwrap()
                .to_vec1::<f32>()
                .unwrap();
            let want = naive(&x, steps, h, &w_ih, &w_hh, &b);
            for (i, (a, b)) in got.iter().zip(&want).enumerate() {
                assert!((a - b).abs() < 1e-5, "h {h} [{i}]: {a} vs {b}");
            }
        }
    }
}
