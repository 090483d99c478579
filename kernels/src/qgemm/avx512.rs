//! The x86_64 AVX-512 VNNI integer micro-kernels: a 12 × 16 tile of `C` in twelve `zmm`
//! float accumulators, with twelve `zmm` integer sums per weight block.
//!
//! Per group of four `k` values one 64-byte load of the panel (sixteen features × four
//! quants) meets each of the twelve rows' four activation quants, broadcast as one 32-bit
//! word: twelve `vpdpbusd`, each advancing sixteen dot products by four steps. At the end of
//! a block (32 values) each integer sum is converted and scaled into its float accumulator:
//! `acc += (isum · d_a) · d_w` (and `− min · (d_a · Σa)` for `Q4_K`), exactly the operations
//! of the portable kernel, in the same order.

use std::arch::x86_64::{
    __m256i, __m512, __m512i, _mm_loadu_si128, _mm256_loadu_si256, _mm512_add_ps, _mm512_and_si512,
    _mm512_cvtepi32_ps, _mm512_cvtepu8_epi32, _mm512_cvtph_ps, _mm512_dpbusd_epi32,
    _mm512_fmadd_ps, _mm512_fnmadd_ps, _mm512_loadu_ps, _mm512_loadu_si512, _mm512_mul_ps,
    _mm512_set1_epi8, _mm512_set1_epi32, _mm512_set1_ps, _mm512_setzero_ps, _mm512_setzero_si512,
    _mm512_srli_epi16, _mm512_storeu_ps,
};

use super::pack::{Q4K_QS, Q4K_UNIT, Q8_0_UNIT};
use super::{MR, NR, Tile};

/// Whether this CPU runs these kernels.
pub(super) fn available() -> bool {
    is_x86_feature_detected!("avx512f")
        && is_x86_feature_detected!("avx512bw")
        && is_x86_feature_detected!("avx512vnni")
}

/// `Q8_0` tile.
///
/// # Safety
/// The CPU has AVX-512 F, BW and VNNI ([`available`]); the pointer contract of [`Tile`].
pub(super) unsafe fn q8_0(t: &Tile) {
    // SAFETY: the caller's contract.
    unsafe { q8_0_tile(t) }
}

/// `Q4_K` tile.
///
/// # Safety
/// As [`q8_0`].
pub(super) unsafe fn q4k(t: &Tile) {
    // SAFETY: the caller's contract.
    unsafe { q4k_tile(t) }
}

/// Row `i`'s four quants at `offset` in the chunk, broadcast to every 32-bit lane.
#[inline(always)]
unsafe fn quads(t: &Tile, i: usize, offset: usize) -> __m512i {
    // SAFETY: the caller keeps `i < MR` and `offset + 4` within the chunk.
    unsafe {
        _mm512_set1_epi32(std::ptr::read_unaligned(
            t.q.add(i * t.lda + offset).cast::<i32>(),
        ))
    }
}

#[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
unsafe fn q8_0_tile(t: &Tile) {
    let mut acc = [_mm512_setzero_ps(); MR];
    for u in 0..t.units {
        // SAFETY (whole body): `u < t.units` whole units of the panel; row `i < MR` holds the
        // chunk's quants and block metadata (the `Tile` contract).
        unsafe {
            let unit = t.w.add(u * Q8_0_UNIT);
            let dw = _mm512_cvtph_ps(_mm256_loadu_si256(unit.cast::<__m256i>()));
            let mut isum: [__m512i; MR] =
                std::array::from_fn(|i| _mm512_set1_epi32((*t.meta.add(i * t.ldm + u)).neg128));
            for g in 0..8 {
                let w = _mm512_loadu_si512(unit.add(2 * NR + g * 64).cast());
                for (i, s) in isum.iter_mut().enumerate() {
                    *s = _mm512_dpbusd_epi32(*s, w, quads(t, i, u * 32 + 4 * g));
                }
            }
            for (i, (acc, s)) in acc.iter_mut().zip(isum).enumerate() {
                let d = _mm512_set1_ps((*t.meta.add(i * t.ldm + u)).d);
                *acc = _mm512_fmadd_ps(_mm512_mul_ps(_mm512_cvtepi32_ps(s), d), dw, *acc);
            }
        }
    }
    // SAFETY: the caller's contract.
    unsafe { store(t, &acc) }
}

#[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
unsafe fn q4k_tile(t: &Tile) {
    let mut acc = [_mm512_setzero_ps(); MR];
    let nibble = _mm512_set1_epi8(0x0F);
    for u in 0..t.units {
        // SAFETY (whole body): as in `q8_0_tile`.
        unsafe {
            let unit = t.w.add(u * Q4K_UNIT);
            let d = _mm512_cvtph_ps(_mm256_loadu_si256(unit.cast::<__m256i>()));
            let dmin = _mm512_cvtph_ps(_mm256_loadu_si256(unit.add(2 * NR).cast::<__m256i>()));
            for s in 0..8 {
                let sc = _mm512_cvtepu8_epi32(_mm_loadu_si128(unit.add(4 * NR + s * NR).cast()));
                let mn = _mm512_cvtepu8_epi32(_mm_loadu_si128(unit.add(12 * NR + s * NR).cast()));
                let scale = _mm512_mul_ps(d, _mm512_cvtepi32_ps(sc));
                let min = _mm512_mul_ps(dmin, _mm512_cvtepi32_ps(mn));
                let mut isum = [_mm512_setzero_si512(); MR];
                let at = u * 256 + 32 * s;
                for j in 0..4 {
                    let w = _mm512_loadu_si512(unit.add(Q4K_QS + (s * 4 + j) * 64).cast());
                    let lo = _mm512_and_si512(w, nibble);
                    let hi = _mm512_and_si512(_mm512_srli_epi16(w, 4), nibble);
                    for (i, v) in isum.iter_mut().enumerate() {
                        *v = _mm512_dpbusd_epi32(*v, lo, quads(t, i, at + 4 * j));
                        *v = _mm512_dpbusd_epi32(*v, hi, quads(t, i, at + 4 * (j + 4)));
                    }
                }
                for (i, (acc, v)) in acc.iter_mut().zip(isum).enumerate() {
                    let meta = *t.meta.add(i * t.ldm + u * 8 + s);
                    let f = _mm512_mul_ps(_mm512_cvtepi32_ps(v), _mm512_set1_ps(meta.d));
                    *acc = _mm512_fmadd_ps(f, scale, *acc);
                    *acc = _mm512_fnmadd_ps(min, _mm512_set1_ps(meta.dsum), *acc);
                }
            }
        }
    }
    // SAFETY: the caller's contract.
    unsafe { store(t, &acc) }
}

/// `c = init + acc` (or `c += acc` when `init` is null) over the tile.
#[target_feature(enable = "avx512f")]
unsafe fn store(t: &Tile, acc: &[__m512; MR]) {
    for (i, &a) in acc.iter().enumerate() {
        // SAFETY: the tile's `MR × NR` outputs (and `init`'s `NR`) exist.
        unsafe {
            let c = t.c.add(i * t.ldc);
            let base = _mm512_loadu_ps(if t.init.is_null() { c } else { t.init });
            _mm512_storeu_ps(c, _mm512_add_ps(a, base));
        }
    }
}
