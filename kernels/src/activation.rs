//! Elementwise math of the forward pass in a form the compiler vectorises: [`exp`] (a
//! branch-free `expf` within two ulps of the correctly rounded value), and [`swiglu`] built
//! on it.
//!
//! `f32::exp` is a libm call per element, which cannot be vectorised; in attention's softmax
//! and SwiGLU's gate it was most of the time. [`exp`] is the textbook reduction (Cody–Waite
//! `x = n·ln 2 + r`, a degree-7 Taylor polynomial for `eʳ` on `|r| ≤ ln 2 / 2`, the scale
//! `2ⁿ` put in the exponent bits), with selects instead of branches so that a loop of it
//! compiles to vector code. It is not used where the reference samplers' arithmetic must be
//! matched bit for bit (the sampler's softmax keeps `f32::exp`).

use rayon::prelude::*;

/// `eˣ` within two ulps (see the module docs): `0` below `−87.3` (where `f32` would be
/// subnormal), `e^88.37` above it, NaN for NaN.
#[inline(always)]
pub fn exp(x: f32) -> f32 {
    const LOG2E: f32 = std::f32::consts::LOG2_E;
    // ln 2 split so that `n · LN2_HI` is exact for |n| ≤ 128.
    const LN2_HI: f32 = 0.693_145_75;
    const LN2_LO: f32 = 1.428_606_8e-6;
    // 1.5 · 2²³: adding and subtracting it rounds to the nearest integer.
    const ROUND: f32 = 12_582_912.0;
    let c = x.clamp(-87.33, 88.37);
    let t = c * LOG2E + ROUND;
    let n = t - ROUND;
    let r = (c - n * LN2_HI) - n * LN2_LO;
    let mut p = 1.0 / 5040.0;
    p = p * r + 1.0 / 720.0;
    p = p * r + 1.0 / 120.0;
    p = p * r + 1.0 / 24.0;
    p = p * r + 1.0 / 6.0;
    p = p * r + 0.5;
    p = p * r + 1.0;
    p = p * r + 1.0;
    // `n` is an integer in [−126, 127], so the biased exponent is in [1, 254]. `t` is
    // `ROUND + n` exactly, in the binade of `ROUND` where one ulp is 1: its bits are
    // `ROUND`'s plus `n`. (Integer arithmetic on the bits, not `n as i32`: that saturating
    // cast does not vectorise, and a loop of `exp` would go lane by lane.)
    let ni = (t.to_bits() as i32).wrapping_sub(ROUND.to_bits() as i32);
    let scale = f32::from_bits((ni.wrapping_add(127) as u32) << 23);
    let y = p * scale;
    let y = if x < -87.33 { 0.0 } else { y };
    if x.is_nan() { x } else { y }
}

/// SwiGLU over `rows` rows of `[gate | up]` (`2·width` values each): `silu(gate) · up`
/// into `out` (`width` values per row), with `silu(g) = g / (1 + e^−g)`. Rows are spread
/// over the cores when there are enough of them.
///
/// # Errors
/// [`crate::KernelError::Shape`] when `gate_up` is not `2·width` per row of `out`.
pub fn swiglu(gate_up: &[f32], width: usize, out: &mut [f32]) -> Result<(), crate::KernelError> {
    if width == 0 || gate_up.len() != 2 * out.len() || !out.len().is_multiple_of(width) {
        return Err(crate::KernelError::Shape(format!(
            "swiglu: {} gate/up values for {} outputs of width {width}",
            gate_up.len(),
            out.len()
        )));
    }
    let rows_per_task = (16_384 / width).max(1);
    let task = |(src, dst): (&[f32], &mut [f32])| {
        for (g, o) in src.chunks_exact(2 * width).zip(dst.chunks_exact_mut(width)) {
            swiglu_row(g, o);
        }
    };
    if out.len() <= 16_384 {
        task((gate_up, out));
    } else {
        gate_up
            .par_chunks(2 * width * rows_per_task)
            .zip(out.par_chunks_mut(width * rows_per_task))
            .for_each(task);
    }
    Ok(())
}

/// One row of [`swiglu`], in the AVX2 build where the CPU has it.
fn swiglu_row(gate_up: &[f32], out: &mut [f32]) {
    #[cfg(target_arch = "x86_64")]
    if is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU has AVX2 (checked just above).
        unsafe { swiglu_row_avx2(gate_up, out) };
        return;
    }
    swiglu_row_plain(gate_up, out);
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn swiglu_row_avx2(gate_up: &[f32], out: &mut [f32]) {
    swiglu_row_plain(gate_up, out);
}

#[inline(always)]
fn swiglu_row_plain(gate_up: &[f32], out: &mut [f32]) {
    let (gate, up) = gate_up.split_at(out.len());
    for ((o, &g), &u) in out.iter_mut().zip(gate).zip(up) {
        *o = g / (1.0 + exp(-g)) * u;
    }
}

/// ELU in place: `x` where `x > 0`, else `alpha · (eˣ − 1)` (with [`exp`], so within a few
/// `f32` ulps of `alpha` absolute near 0, where `torch`'s `expm1` is exact), spread over
/// the cores for long slices.
pub fn elu_in_place(x: &mut [f32], alpha: f32) {
    const CHUNK: usize = 1 << 15;
    if x.len() <= CHUNK {
        elu_chunk(x, alpha);
    } else {
        x.par_chunks_mut(CHUNK).for_each(|c| elu_chunk(c, alpha));
    }
}

/// One chunk of [`elu_in_place`], in the AVX2 build where the CPU has it.
fn elu_chunk(x: &mut [f32], alpha: f32) {
    #[cfg(target_arch = "x86_64")]
    if is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma") {
        // SAFETY: the CPU has AVX2 and FMA (checked just above).
        unsafe { elu_chunk_avx2(x, alpha) };
        return;
    }
    elu_chunk_plain(x, alpha);
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
fn elu_chunk_avx2(x: &mut [f32], alpha: f32) {
    elu_chunk_plain(x, alpha);
}

#[inline(always)]
fn elu_chunk_plain(x: &mut [f32], alpha: f32) {
    for v in x {
        let e = alpha * (exp(*v) - 1.0);
        *v = if *v > 0.0 { *v } else { e };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn elu_matches_the_definition() {
        let mut x: Vec<f32> = (0..100_000).map(|i| (i as f32 - 50_000.0) * 1e-3).collect();
        x.extend([f32::NEG_INFINITY, -100.0, 0.0, -0.0, 1e-30, -1e-30]);
        let want: Vec<f32> = x
            .iter()
            .map(|&v| {
                if v > 0.0 {
                    v
                } else {
                    1.5 * (f64::from(v).exp_m1() as f32)
                }
            })
            .collect();
        elu_in_place(&mut x, 1.5);
        for (a, b) in x.iter().zip(&want) {
            assert!((a - b).abs() <= 4e-7 * b.abs().max(1.0), "{a} vs {b}");
        }
        assert_eq!(x[x.len() - 6], -1.5);
    }

    fn ulps(a: f32, b: f32) -> u32 {
        (a.to_bits() as i64 - b.to_bits() as i64).unsigned_abs() as u32
    }

    #[test]
    fn exp_is_within_two_ulps_where_normal() {
        let mut worst = 0;
        let mut x = -87.0f32;
        while x < 88.3 {
            let want = (x as f64).exp() as f32;
            worst = worst.max(ulps(exp(x), want));
            x += 0.001_37;
        }
        assert!(worst <= 2, "worst {worst} ulps");
        for x in [0.0, -0.0, 1e-30, -1e-30, 1.0, -1.0] {
            assert!(ulps(exp(x), (x as f64).exp() as f32) <= 1, "{x}");
        }
    }

    #[test]
    fn exp_edges() {
        assert_eq!(exp(f32::NEG_INFINITY), 0.0);
        assert_eq!(exp(-1000.0), 0.0);
        assert!(exp(f32::NAN).is_nan());
        assert!(exp(f32::INFINITY).is_finite() && exp(f32::INFINITY) > 1e38);
    }

    #[test]
    fn swiglu_matches_the_definition() {
        let width = 37;
        let rows = 600;
        let gate_up: Vec<f32> = (0..rows * 2 * width)
            .map(|i| ((i * 7919) % 2000) as f32 / 100.0 - 10.0)
            .collect();
        let mut out = vec![0.0; rows * width];
        swiglu(&gate_up, width, &mut out).unwrap();
        for (r, o) in out.chunks(width).enumerate() {
            let g = &gate_up[r * 2 * width..][..2 * width];
            for (i, &v) in o.iter().enumerate() {
                let (a, u) = (g[i] as f64, g[width + i] as f64);
                let want = a / (1.0 + (-a).exp()) * u;
                assert!(
                    (v as f64 - want).abs() <= 1e-5 * (1.0 + want.abs()),
                    "{v} vs {want}"
                );
            }
        }
        assert!(swiglu(&gate_up[1..], width, &mut out).is_err());
        assert!(swiglu(&gate_up, 0, &mut out).is_err());
    }
}
