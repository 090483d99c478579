//! Padding the time axis of a time-major `(1, time, channels)` signal the way
//! `transformers`' `EncodecConv1d._pad1d` does, straight into the buffer a convolution
//! reads, with the ELU that precedes most of EnCodec's convolutions applied on the way.

use candle_core::{Storage, Tensor};
use rayon::prelude::*;
use tessera_kernels::activation::elu_in_place;

use super::config::PadMode;
use crate::audio::AudioError;

/// Time steps per parallel task of [`padded_rows`] (at least; a task is about 64 KiB).
const TASK_FLOATS: usize = 1 << 14;

/// `x` `(1, time, channels)` padded by `(left, right)` steps in `mode` — and with ELU
/// applied when `elu` — as one row-major `[left + time + right, channels]` buffer, and its
/// length in steps.
///
/// One pass, spread over the cores: each task copies its rows from `x` (or writes the
/// padding) and applies the ELU while they are in cache. The ELU commutes with every
/// padding mode (`elu(0) = 0`; reflected and replicated steps are steps of `x`).
pub(crate) fn padded_rows(
    x: &Tensor,
    (left, right): (usize, usize),
    mode: PadMode,
    elu: bool,
) -> Result<(Vec<f32>, usize), AudioError> {
    let (_, len, ch) = x.dims3()?;
    if mode == PadMode::Reflect && len <= left.max(right) {
        // The reflection needs zeros appended first: the rare short signal takes the
        // tensor path.
        let mut data = pad1d(x, left, right, mode)?
            .flatten_all()?
            .to_vec1::<f32>()?;
        if elu {
            elu_in_place(&mut data, 1.0);
        }
        return Ok((data, left + len + right));
    }
    let total = left + len + right;
    let mut out = vec![0.0f32; total * ch];
    if ch == 0 || total == 0 {
        return Ok((out, total));
    }
    let x = x.contiguous()?;
    let (storage, layout) = x.storage_and_layout();
    let Storage::Cpu(cpu) = &*storage else {
        return Err(AudioError::Tensor("EnCodec runs on the CPU".into()));
    };
    let Some((start, end)) = layout.contiguous_offsets() else {
        return Err(AudioError::Tensor("expected a contiguous signal".into()));
    };
    let src = &cpu.as_slice::<f32>()?[start..end];
    // The step of `x` that padded step `o` shows, if any.
    let source = |o: usize| -> Option<usize> {
        let i = o as i64 - left as i64;
        let last = len as i64 - 1;
        match mode {
            _ if (0..len as i64).contains(&i) => Some(i as usize),
            PadMode::Constant => None,
            PadMode::Replicate => Some(i.clamp(0, last) as usize),
            PadMode::Reflect => Some(if i < 0 { -i } else { 2 * last - i } as usize),
        }
    };
    let rows_per_task = (TASK_FLOATS / ch).max(1);
    out.par_chunks_mut(rows_per_task * ch)
        .enumerate()
        .for_each(|(task, chunk)| {
            for (r, dst) in chunk.chunks_exact_mut(ch).enumerate() {
                if let Some(s) = source(task * rows_per_task + r) {
                    dst.copy_from_slice(&src[s * ch..(s + 1) * ch]);
                }
            }
            if elu {
                elu_in_place(chunk, 1.0);
            }
        });
    Ok((out, total))
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

#[cfg(test)]
mod tests {
    use candle_core::Device;

    use super::*;

    #[test]
    fn padded_rows_is_pad1d_then_elu() {
        for (len, ch) in [(1, 3), (4, 2), (9, 5), (5000, 4)] {
            let v: Vec<f32> = (0..len * ch)
                .map(|i| ((i * 37) % 23) as f32 * 0.3 - 3.0)
                .collect();
            let x = Tensor::from_vec(v, (1, len, ch), &Device::Cpu).unwrap();
            for mode in [PadMode::Constant, PadMode::Replicate, PadMode::Reflect] {
                for (left, right) in [(0, 0), (3, 1), (0, 6), (5, 5)] {
                    for elu in [false, true] {
                        let (got, total) = padded_rows(&x, (left, right), mode, elu).unwrap();
                        assert_eq!(total, left + len + right);
                        let mut want = pad1d(&x, left, right, mode)
                            .unwrap()
                            .flatten_all()
                            .unwrap()
                            .to_vec1::<f32>()
                            .unwrap();
                        if elu {
                            elu_in_place(&mut want, 1.0);
                        }
                        assert_eq!(got, want, "len {len} {mode:?} ({left}, {right}) elu {elu}");
                    }
                }
            }
        }
    }
}
