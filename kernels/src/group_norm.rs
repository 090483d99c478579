//! GroupNorm with its per-channel affine and an optional swish, over channels-first
//! pictures: the normalisation every convolutional block of the image tokenizers runs
//! before its convolutions.
//!
//! One task per group (spread over the rayon pool); per group two vectorised sweeps — the
//! sums `Σx` and `Σ(x − mean)²` in `f32` lanes over blocks of 4096 values, each block's
//! lanes added into `f64` — then one sweep writing `y = (x − mean)·rstd·w + b` and, with
//! swish, `y·σ(y)` through [`crate::activation::exp`].
//! The deviations are taken from the `f32`-rounded mean and the rounding corrected in `f64`,
//! so a mean far from 0 loses nothing.

use rayon::prelude::*;

use crate::KernelError;

/// What [`group_norm`] computes.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GroupNormSpec {
    /// Number of groups; the channel count must be a multiple of it.
    pub groups: usize,
    /// Added to the (biased) variance inside the square root.
    pub eps: f64,
    /// Apply swish (`y·σ(y)`, PyTorch's SiLU) after the affine.
    pub swish: bool,
}

/// GroupNorm of `x` — `pictures` pictures of `channels · spatial` values, channels-first —
/// into `out` (same length), with per-channel `weight` and `bias`.
///
/// # Errors
/// [`KernelError::Shape`] when `groups` is 0 or does not divide `channels`, or when `x`,
/// `out`, `weight` or `bias` do not match the shape (the message names which).
///
/// # Example
/// ```
/// use tessera_kernels::{GroupNormSpec, group_norm};
/// let spec = GroupNormSpec { groups: 1, eps: 0.0, swish: false };
/// let mut out = [0.0f32; 4];
/// group_norm(&[1.0, 3.0, 1.0, 3.0], 2, 2, &[1.0, 2.0], &[0.0, 1.0], spec, &mut out)?;
/// assert_eq!(out, [-1.0, 1.0, -1.0, 3.0]);
/// # Ok::<(), tessera_kernels::KernelError>(())
/// ```
pub fn group_norm(
    x: &[f32],
    channels: usize,
    spatial: usize,
    weight: &[f32],
    bias: &[f32],
    spec: GroupNormSpec,
    out: &mut [f32],
) -> Result<(), KernelError> {
    let bad = |m: String| Err(KernelError::Shape(format!("group norm: {m}")));
    if spec.groups == 0 || !channels.is_multiple_of(spec.groups) {
        return bad(format!("{channels} channels in {} groups", spec.groups));
    }
    if weight.len() != channels || bias.len() != channels {
        return bad(format!(
            "weight/bias of {}/{} for {channels} channels",
            weight.len(),
            bias.len()
        ));
    }
    let picture = channels * spatial;
    if picture == 0 || !x.len().is_multiple_of(picture) || out.len() != x.len() {
        return bad(format!(
            "x of {} and out of {} values for pictures of {channels} × {spatial}",
            x.len(),
            out.len()
        ));
    }
    let cpg = channels / spec.groups;
    let group_len = cpg * spatial;
    out.par_chunks_mut(group_len)
        .zip(x.par_chunks(group_len))
        .enumerate()
        .for_each(|(i, (dst, src))| {
            let g = i % spec.groups;
            let (w, b) = (&weight[g * cpg..][..cpg], &bias[g * cpg..][..cpg]);
            normalise(src, dst, w, b, spatial, spec);
        });
    Ok(())
}

/// One group, in the AVX2 build where the CPU has it.
fn normalise(
    src: &[f32],
    dst: &mut [f32],
    w: &[f32],
    b: &[f32],
    spatial: usize,
    spec: GroupNormSpec,
) {
    #[cfg(target_arch = "x86_64")]
    if is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma") {
        // SAFETY: the CPU has AVX2 and FMA (checked just above).
        unsafe { normalise_avx2(src, dst, w, b, spatial, spec) };
        return;
    }
    normalise_plain(src, dst, w, b, spatial, spec);
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
fn normalise_avx2(
    src: &[f32],
    dst: &mut [f32],
    w: &[f32],
    b: &[f32],
    spatial: usize,
    spec: GroupNormSpec,
) {
    normalise_plain(src, dst, w, b, spatial, spec);
}

/// `Σ f(v)` over `x`, eight `f32` lanes per block of 4096 values, blocks summed in `f64`.
#[inline(always)]
fn lane_sum(x: &[f32], f: impl Fn(f32) -> f32) -> f64 {
    let mut total = 0.0f64;
    for block in x.chunks(4096) {
        let mut acc = [0.0f32; 8];
        let mut chunks = block.chunks_exact(8);
        for c in &mut chunks {
            for (a, &v) in acc.iter_mut().zip(c) {
                *a += f(v);
            }
        }
        for &v in chunks.remainder() {
            acc[0] += f(v);
        }
        total += acc.iter().map(|&a| f64::from(a)).sum::<f64>();
    }
    total
}

#[inline(always)]
fn normalise_plain(
    src: &[f32],
    dst: &mut [f32],
    w: &[f32],
    b: &[f32],
    spatial: usize,
    spec: GroupNormSpec,
) {
    let n = src.len() as f64;
    let mean = lane_sum(src, |v| v) / n;
    let m32 = mean as f32;
    // The deviations from the f32-rounded mean, corrected for the rounding (exact in f64).
    let dm = mean - f64::from(m32);
    let var = lane_sum(src, |v| (v - m32) * (v - m32)) / n - dm * dm;
    let rstd = 1.0 / (var.max(0.0) + spec.eps).sqrt();
    for (ch, (d, s)) in dst
        .chunks_exact_mut(spatial)
        .zip(src.chunks_exact(spatial))
        .enumerate()
    {
        let scale = (rstd * f64::from(w[ch])) as f32;
        // y = (x − mean)·scale + b, with x − mean as (x − m32) − dm: no cancellation of
        // large terms when the mean is far from 0.
        let shift = (f64::from(b[ch]) - dm * rstd * f64::from(w[ch])) as f32;
        if spec.swish {
            for (o, &v) in d.iter_mut().zip(s) {
                let y = (v - m32) * scale + shift;
                *o = y / (1.0 + crate::activation::exp(-y));
            }
        } else {
            for (o, &v) in d.iter_mut().zip(s) {
                *o = (v - m32) * scale + shift;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_the_f64_definition() {
        let (pictures, channels, spatial, groups) = (2, 12, 37, 4);
        let x: Vec<f32> = (0..pictures * channels * spatial)
            .map(|i| ((i * 7919) % 1000) as f32 * 0.01 + 100.0 * ((i / spatial) % 3) as f32)
            .collect();
        let w: Vec<f32> = (0..channels).map(|c| 0.5 + c as f32 * 0.1).collect();
        let b: Vec<f32> = (0..channels).map(|c| c as f32 * -0.2).collect();
        for swish in [false, true] {
            let spec = GroupNormSpec {
                groups,
                eps: 1e-6,
                swish,
            };
            let mut out = vec![0.0; x.len()];
            group_norm(&x, channels, spatial, &w, &b, spec, &mut out).unwrap();
            let cpg = channels / groups;
            for (gi, (src, dst)) in x
                .chunks(cpg * spatial)
                .zip(out.chunks(cpg * spatial))
                .enumerate()
            {
                let n = src.len() as f64;
                let mean = src.iter().map(|&v| f64::from(v)).sum::<f64>() / n;
                let var = src
                    .iter()
                    .map(|&v| (f64::from(v) - mean).powi(2))
                    .sum::<f64>()
                    / n;
                for (i, (&v, &o)) in src.iter().zip(dst).enumerate() {
                    let c = (gi % groups) * cpg + i / spatial;
                    let mut y = (f64::from(v) - mean) / (var + 1e-6).sqrt() * f64::from(w[c])
                        + f64::from(b[c]);
                    if swish {
                        y /= 1.0 + (-y).exp();
                    }
                    assert!(
                        (f64::from(o) - y).abs() < 5e-6 * y.abs().max(1.0),
                        "{o} vs {y}"
                    );
                }
            }
        }
    }

    #[test]
    fn bad_shapes_name_what() {
        let spec = GroupNormSpec {
            groups: 3,
            eps: 1e-6,
            swish: false,
        };
        let mut out = [0.0; 8];
        let e = group_norm(&[0.0; 8], 4, 2, &[1.0; 4], &[0.0; 4], spec, &mut out);
        assert!(matches!(e, Err(KernelError::Shape(m)) if m.contains("groups")));
        let spec = GroupNormSpec { groups: 2, ..spec };
        let e = group_norm(&[0.0; 7], 4, 2, &[1.0; 4], &[0.0; 4], spec, &mut out[..7]);
        assert!(matches!(e, Err(KernelError::Shape(m)) if m.contains("x of 7")));
        let e = group_norm(&[0.0; 8], 4, 2, &[1.0; 3], &[0.0; 4], spec, &mut out);
        assert!(matches!(e, Err(KernelError::Shape(m)) if m.contains("weight")));
    }
}
