//! The x86_64 AVX2 + FMA micro-kernel: a 6 × 16 tile of `C` in twelve `ymm` accumulators.
//!
//! Each k step loads one 16-wide weight row (two `ymm`, one cache line), broadcasts six
//! activations (one from each of six rows of `x`, read in place) and issues twelve FMAs:
//! 15 of the 16 vector registers live, and twelve independent FMA chains cover the FMA
//! latency on both pipes.

use std::arch::x86_64::{
    __m256, _MM_HINT_T0, _mm_prefetch, _mm256_add_ps, _mm256_broadcast_ss, _mm256_fmadd_ps,
    _mm256_loadu_ps, _mm256_setzero_ps, _mm256_storeu_ps,
};

use super::{MR, NR};

/// Whether this CPU can run [`kernel`] (checked once per call; the check is cached by std).
pub(super) fn available() -> bool {
    is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma")
}

/// The [`MicroKernel`](super::driver::MicroKernel) entry point for the AVX2 tile.
///
/// # Safety
/// The CPU supports AVX2 and FMA ([`available`]), and the pointer contract of
/// [`MicroKernel`](super::driver::MicroKernel) holds.
pub(super) unsafe fn kernel(
    kc: usize,
    a: *const f32,
    lda: usize,
    b: *const f32,
    c: *mut f32,
    ldc: usize,
    init: *const f32,
) {
    // SAFETY: the caller checked the CPU features and upholds the pointer contract.
    unsafe { tile_6x16(kc, a, lda, b, c, ldc, init) }
}

#[target_feature(enable = "avx2,fma")]
unsafe fn tile_6x16(
    kc: usize,
    a: *const f32,
    lda: usize,
    b: *const f32,
    c: *mut f32,
    ldc: usize,
    init: *const f32,
) {
    const _: () = assert!(MR == 6 && NR == 16);
    // SAFETY: `c` addresses MR rows at stride `ldc` (the MicroKernel contract); a prefetch
    // of them (needed at the end, ~kc·6 cycles away) never faults anyway.
    unsafe {
        for i in 0..MR {
            _mm_prefetch::<_MM_HINT_T0>(c.add(i * ldc).cast());
            _mm_prefetch::<_MM_HINT_T0>(c.add(i * ldc + NR - 1).cast());
        }
    }
    let mut acc = [[_mm256_setzero_ps(); 2]; MR];
    // SAFETY: row `i < MR` of `a` holds `kc` floats at `a + i·lda` and `b` holds `kc · NR`
    // (the MicroKernel contract); every read below is at step `kk < kc` of those.
    unsafe {
        let rows: [*const f32; MR] = std::array::from_fn(|i| a.add(i * lda));
        let mut b = b;
        for kk in 0..kc {
            // The next panel of this k-block follows this one in memory (see `pack`): pull
            // it into L1 a line per step, so the next tile column does not start on a
            // stream of cache misses when the weight comes from DRAM. Prefetches never
            // fault, and the address is only formed with wrapping arithmetic.
            _mm_prefetch::<_MM_HINT_T0>(b.wrapping_add(kc * NR).cast());
            let b0 = _mm256_loadu_ps(b);
            let b1 = _mm256_loadu_ps(b.add(8));
            for (row, &r) in acc.iter_mut().zip(&rows) {
                let ai = _mm256_broadcast_ss(&*r.add(kk));
                row[0] = _mm256_fmadd_ps(ai, b0, row[0]);
                row[1] = _mm256_fmadd_ps(ai, b1, row[1]);
            }
            b = b.add(NR);
        }
    }
    // SAFETY: `c` addresses MR rows of NR floats at stride `ldc`, readable and writable,
    // and `init` is null or NR readable floats (the MicroKernel contract).
    unsafe {
        for (i, row) in acc.iter().enumerate() {
            let ci = c.add(i * ldc);
            let (lo, hi) = if init.is_null() {
                (_mm256_loadu_ps(ci), _mm256_loadu_ps(ci.add(8)))
            } else {
                (_mm256_loadu_ps(init), _mm256_loadu_ps(init.add(8)))
            };
            store(ci, _mm256_add_ps(lo, row[0]));
            store(ci.add(8), _mm256_add_ps(hi, row[1]));
        }
    }
}

#[inline(always)]
unsafe fn store(p: *mut f32, v: __m256) {
    // SAFETY: forwarded from the caller: `p` addresses eight writable floats.
    unsafe { _mm256_storeu_ps(p, v) }
}
