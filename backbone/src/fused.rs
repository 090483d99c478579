//! The block's elementwise ops as single sweeps on the CPU in `f32` (the kernels of
//! [`tessera_kernels`]), each with its candle equivalent where they do not apply — another
//! device, another dtype, or a model loaded with `LoadOptions::candle_only`.

use candle_core::{DType, Device, Tensor};

use crate::dense::with_f32;

/// Whether the fused kernels apply to `t`.
fn applies(kernels: bool, t: &Tensor) -> bool {
    kernels && matches!(t.device(), Device::Cpu) && t.dtype() == DType::F32
}

/// Heads `[rows, heads, len, head_dim]` (in `f32`) out of `src` `[rows, len, width]`,
/// starting at column `col`; rotated by `(cos, sin)` (`[rows, len, head_dim / 2]`) when given.
pub(crate) fn heads(
    kernels: bool,
    src: &Tensor,
    col: usize,
    heads: usize,
    head_dim: usize,
    rotary: Option<(&Tensor, &Tensor)>,
) -> candle_core::Result<Tensor> {
    let (rows, len, width) = src.dims3()?;
    if !applies(kernels, src) {
        let t = src
            .narrow(2, col, heads * head_dim)?
            .reshape((rows, len, heads, head_dim))?
            .transpose(1, 2)?
            .to_dtype(DType::F32)?
            .contiguous()?;
        return match rotary {
            Some((cos, sin)) => {
                candle_nn::rotary_emb::rope(&t, &cos.contiguous()?, &sin.contiguous()?)
            }
            None => Ok(t),
        };
    }
    let src = src.contiguous()?;
    let mut out = vec![0.0f32; rows * heads * len * head_dim];
    let shape = (rows, len, width, col);
    let split = |rot: Option<tessera_kernels::Rotary<'_>>, out: &mut [f32]| {
        with_f32(&src, |s| {
            tessera_kernels::split_heads(s, shape, heads, head_dim, rot, out)
        })?
        .map_err(candle_core::Error::wrap)
    };
    match rotary {
        None => split(None, &mut out)?,
        Some((cos, sin)) => {
            let (cos, sin) = (cos.contiguous()?, sin.contiguous()?);
            let per_row = cos.dim(0)? > 1;
            with_f32(&cos, |cos| {
                with_f32(&sin, |sin| {
                    split(
                        Some(tessera_kernels::Rotary { cos, sin, per_row }),
                        &mut out,
                    )
                })
            })???;
        }
    }
    Tensor::from_vec(out, (rows, heads, len, head_dim), &Device::Cpu)
}

/// `h = a + b` and `rms_norm(h) · weight`: the residual add and the next norm.
pub(crate) fn add_norm(
    kernels: bool,
    a: &Tensor,
    b: &Tensor,
    weight: &Tensor,
    eps: f32,
) -> candle_core::Result<(Tensor, Tensor)> {
    if !applies(kernels, a) || !applies(kernels, b) || !applies(kernels, weight) {
        let h = (a + b)?;
        let x = candle_nn::ops::rms_norm(&h, weight, eps)?;
        return Ok((h, x));
    }
    let (a, b, w) = (a.contiguous()?, b.contiguous()?, weight.contiguous()?);
    let n = a.elem_count();
    let (mut h, mut x) = (vec![0.0f32; n], vec![0.0f32; n]);
    with_f32(&a, |a| {
        with_f32(&b, |b| {
            with_f32(&w, |w| {
                tessera_kernels::add_rms_norm(a, b, w, eps, &mut h, &mut x)
            })
        })
    })???
    .map_err(candle_core::Error::wrap)?;
    let dims = a.dims().to_vec();
    Ok((
        Tensor::from_vec(h, dims.clone(), &Device::Cpu)?,
        Tensor::from_vec(x, dims, &Device::Cpu)?,
    ))
}

/// SwiGLU over the last dimension of `gate_up` (`[…, 2·m]`: gate, then up) → `[…, m]`:
/// the vectorised kernel ([`tessera_kernels::activation::swiglu`]) for `f32` on the CPU,
/// candle's op elsewhere.
pub(crate) fn swiglu(kernels: bool, gate_up: &Tensor) -> candle_core::Result<Tensor> {
    if !applies(kernels, gate_up) {
        return candle_nn::ops::swiglu(gate_up);
    }
    let mut dims = gate_up.dims().to_vec();
    let Some(last) = dims.last_mut().filter(|l| **l % 2 == 0 && **l > 0) else {
        candle_core::bail!("swiglu needs an even, non-zero last dimension");
    };
    *last /= 2;
    let width = *last;
    let gate_up = gate_up.contiguous()?;
    let mut out = vec![0.0f32; gate_up.elem_count() / 2];
    with_f32(&gate_up, |g| {
        tessera_kernels::activation::swiglu(g, width, &mut out)
    })?
    .map_err(candle_core::Error::wrap)?;
    Tensor::from_vec(out, dims, &Device::Cpu)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn swiglu_matches_candle() {
        let x = Tensor::randn(0f32, 3.0, (2, 3, 8), &Device::Cpu).unwrap();
        let diff = (swiglu(true, &x).unwrap() - candle_nn::ops::swiglu(&x).unwrap()).unwrap();
        let max = diff
            .abs()
            .unwrap()
            .max_all()
            .unwrap()
            .to_scalar::<f32>()
            .unwrap();
        assert!(max < 1e-5, "{max}");
        assert!(
            swiglu(
                true,
                &Tensor::zeros((2, 3), DType::F32, &Device::Cpu).unwrap()
            )
            .is_err()
        );
    }

    #[test]
    fn kernels_match_candle_ops() {
        let dev = Device::Cpu;
        let src = Tensor::randn(0f32, 1.0, (2, 5, 40), &dev).unwrap();
        let cos = Tensor::randn(0f32, 1.0, (2, 5, 4), &dev).unwrap();
        let sin = Tensor::randn(0f32, 1.0, (2, 5, 4), &dev).unwrap();
        let close = |a: Tensor, b: Tensor| {
            let d = (a - b).unwrap().abs().unwrap().max_all().unwrap();
            assert!(d.to_scalar::<f32>().unwrap() < 1e-5);
        };
        for rot in [None, Some((&cos, &sin))] {
            close(
                heads(true, &src, 8, 3, 8, rot).unwrap(),
                heads(false, &src, 8, 3, 8, rot).unwrap(),
            );
        }
        let w = Tensor::randn(0f32, 1.0, 40, &dev).unwrap();
        let (h1, x1) = add_norm(true, &src, &src, &w, 1e-5).unwrap();
        let (h2, x2) = add_norm(false, &src, &src, &w, 1e-5).unwrap();
        close(h1, h2);
        close(x1, x2);
    }
}
