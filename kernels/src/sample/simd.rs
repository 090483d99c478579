//! The fast arithmetic's sweep over a row written out in AVX2+FMA and AVX-512 vectors: the
//! same [`Sweep`] as the plain `sweep::<true>` (max, first argmax, runner-up, softmax sums
//! rescaled block by block), at a few instructions per vector instead of the compiler's
//! scalarised `exp`.
//!
//! Per vector: three compares for the two running maxima, then — on the block, from cache —
//! `d = v − max`, `c = max(d, −87.33)`, `eᶜ` by range reduction (`c = n·ln 2 + r`) and a
//! degree-6 Taylor polynomial (relative error ≤ 1.2·10⁻⁷ on |r| ≤ ln 2 / 2), `Σe` and
//! `Σe·c` per lane. Clamping instead of testing is exact enough: an entry below −87.33
//! adds `e^−87.33 ≈ 10⁻³⁸` to a sum of at least 1. A NaN logit is skipped by the running
//! maxima and makes the sums NaN, as in the plain sweep.

use super::{BLOCK, Sweep, push_top2, runner_up};

/// [`Sweep`] of `x / t` (`t == 1.0`: of `x`, no division) through the widest vectors the
/// CPU has, or `None` without AVX2+FMA.
#[inline(always)]
pub(super) fn sweep(x: &[f32], t: f32) -> Option<Sweep> {
    #[cfg(target_arch = "x86_64")]
    {
        if is_x86_feature_detected!("avx512f") {
            // SAFETY: the CPU has AVX-512F (checked just above).
            return Some(unsafe { sweep_avx512(x, t, t != 1.0) });
        }
        if is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma") {
            // SAFETY: the CPU has AVX2 and FMA (checked just above).
            return Some(unsafe { sweep_avx2(x, t, t != 1.0) });
        }
    }
    let _ = (x, t);
    None
}

/// One sweep per instruction set; `$v` names a module that re-exports that set's
/// intrinsics under common names.
macro_rules! sweep_simd {
    ($name:ident, $feature:literal, $width:literal, $v:ident) => {
        #[cfg(target_arch = "x86_64")]
        #[target_feature(enable = $feature)]
        pub(super) unsafe fn $name(x: &[f32], t: f32, divide: bool) -> Sweep {
            use $v::*;
            const W: usize = $width;
            let sc = |v: f32| if divide { v / t } else { v };
            let tv = set1(t);
            let mut best = set1(f32::NEG_INFINITY);
            let mut second = best;
            let (mut max, mut argmax) = (f32::NEG_INFINITY, 0);
            let (mut sum, mut tsum) = (0.0f64, 0.0f64);
            let (mut bl, mut sl) = ([0.0f32; W], [0.0f32; W]);
            for (b, block) in x.chunks(BLOCK).enumerate() {
                let p = block.as_ptr();
                let whole = block.len() / W * W;
                let load_at = |i: usize| {
                    // SAFETY: callers pass `i + W <= whole <= block.len()`.
                    let v = unsafe { load(p.add(i)) };
                    if divide { div(v, tv) } else { v }
                };
                for i in (0..whole).step_by(W) {
                    let v = load_at(i);
                    second = max_ps(min_ps(v, best), second);
                    best = max_ps(v, best);
                }
                // SAFETY: `bl` and `sl` hold exactly one vector of floats each.
                unsafe {
                    store(bl.as_mut_ptr(), best);
                    store(sl.as_mut_ptr(), second);
                }
                for &v in &block[whole..] {
                    push_top2(&mut bl[0], &mut sl[0], sc(v));
                }
                // SAFETY: as for the stores.
                (best, second) = unsafe { (load(bl.as_ptr()), load(sl.as_ptr())) };
                let m = bl.iter().fold(f32::NEG_INFINITY, |a, &v| a.max(v));
                if m > max {
                    // The first entry equal to the new max lies in this block.
                    let i = block.iter().position(|&v| sc(v) == m).unwrap_or(0);
                    if sum > 0.0 {
                        let d = f64::from(max) - f64::from(m);
                        let c = d.exp();
                        tsum = c * (tsum + d * sum);
                        sum *= c;
                    }
                    (max, argmax) = (m, b * BLOCK + i);
                }
                if max == f32::NEG_INFINITY {
                    continue;
                }
                let (mv, floor) = (set1(max), set1(-87.33));
                let (log2e, round) = (set1(std::f32::consts::LOG2_E), set1(12_582_912.0));
                let (ln2_hi, ln2_lo) = (set1(0.693_145_75), set1(1.428_606_8e-6));
                // Biased exponent from the rounded value's bits: `bits(1.5·2²³ + n) = 0x4B40_0000 + n`.
                let bias = set1_epi32(127 - 0x4B40_0000);
                let coef = [
                    1.0 / 720.0,
                    1.0 / 120.0,
                    1.0 / 24.0,
                    1.0 / 6.0,
                    0.5,
                    1.0,
                    1.0,
                ]
                .map(|a: f32| set1(a));
                let (mut s, mut tt) = (zero(), zero());
                for i in (0..whole).step_by(W) {
                    // `max(floor, NaN)` is NaN: a NaN logit makes the sums NaN, as in the plain sweep.
                    let c = max_ps(floor, sub(load_at(i), mv));
                    let k = fmadd(c, log2e, round);
                    let n = sub(k, round);
                    let r = fnmadd(n, ln2_lo, fnmadd(n, ln2_hi, c));
                    let mut q = coef[0];
                    for &a in &coef[1..] {
                        q = fmadd(q, r, a);
                    }
                    let scale = castsi_ps(slli::<23>(add_epi32(castps_si(k), bias)));
                    let e = mul(q, scale);
                    s = add(s, e);
                    tt = fmadd(e, c, tt);
                }
                let (mut sa, mut ta) = ([0.0f32; W], [0.0f32; W]);
                // SAFETY: `sa` and `ta` hold exactly one vector of floats each.
                unsafe {
                    store(sa.as_mut_ptr(), s);
                    store(ta.as_mut_ptr(), tt);
                }
                for &v in &block[whole..] {
                    let d = sc(v) - max;
                    let e = crate::activation::exp(d);
                    sa[0] += e;
                    ta[0] += if e > 0.0 { e * d } else { 0.0 };
                }
                sum += sa.iter().map(|&v| f64::from(v)).sum::<f64>();
                tsum += ta.iter().map(|&v| f64::from(v)).sum::<f64>();
            }
            Sweep {
                max,
                argmax,
                second: runner_up(&bl, &sl),
                sum: sum as f32,
                tsum,
            }
        }
    };
}

sweep_simd!(sweep_avx2, "avx2,fma", 8, avx2);
sweep_simd!(sweep_avx512, "avx512f", 16, avx512);

/// AVX2+FMA intrinsics under the names [`sweep_simd`] uses.
#[cfg(target_arch = "x86_64")]
mod avx2 {
    pub(super) use std::arch::x86_64::{
        _mm256_add_epi32 as add_epi32, _mm256_add_ps as add, _mm256_castps_si256 as castps_si,
        _mm256_castsi256_ps as castsi_ps, _mm256_div_ps as div, _mm256_fmadd_ps as fmadd,
        _mm256_fnmadd_ps as fnmadd, _mm256_loadu_ps as load, _mm256_max_ps as max_ps,
        _mm256_min_ps as min_ps, _mm256_mul_ps as mul, _mm256_set1_epi32 as set1_epi32,
        _mm256_set1_ps as set1, _mm256_setzero_ps as zero, _mm256_slli_epi32 as slli,
        _mm256_storeu_ps as store, _mm256_sub_ps as sub,
    };
}

/// AVX-512F intrinsics under the names [`sweep_simd`] uses.
#[cfg(target_arch = "x86_64")]
mod avx512 {
    pub(super) use std::arch::x86_64::{
        _mm512_add_epi32 as add_epi32, _mm512_add_ps as add, _mm512_castps_si512 as castps_si,
        _mm512_castsi512_ps as castsi_ps, _mm512_div_ps as div, _mm512_fmadd_ps as fmadd,
        _mm512_fnmadd_ps as fnmadd, _mm512_loadu_ps as load, _mm512_max_ps as max_ps,
        _mm512_min_ps as min_ps, _mm512_mul_ps as mul, _mm512_set1_epi32 as set1_epi32,
        _mm512_set1_ps as set1, _mm512_setzero_ps as zero, _mm512_slli_epi32 as slli,
        _mm512_storeu_ps as store, _mm512_sub_ps as sub,
    };
}
