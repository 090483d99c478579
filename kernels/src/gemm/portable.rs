//! The plain-Rust micro-kernel: the same 6 × 16 tile in a local array, written so the
//! compiler vectorises it for the build's baseline (SSE2 on x86_64, NEON on aarch64).
//! Used where AVX2 + FMA is missing; it multiplies then adds (no fused rounding).

use super::{MR, NR};

/// The [`MicroKernel`](super::driver::MicroKernel) entry point for the portable tile.
///
/// # Safety
/// The pointer contract of [`MicroKernel`](super::driver::MicroKernel) holds.
pub(super) unsafe fn kernel(
    kc: usize,
    a: *const f32,
    lda: usize,
    b: *const f32,
    c: *mut f32,
    ldc: usize,
    init: *const f32,
) {
    // SAFETY: row `i < MR` of `a` holds `kc` floats at `a + i·lda`, and `b` holds `kc · NR`
    // (the MicroKernel contract).
    let (a, b): ([&[f32]; MR], _) = unsafe {
        (
            std::array::from_fn(|i| std::slice::from_raw_parts(a.add(i * lda), kc)),
            std::slice::from_raw_parts(b, kc * NR),
        )
    };
    let mut acc = [[0.0f32; NR]; MR];
    for (kk, bk) in b.chunks_exact(NR).enumerate() {
        for (row, ai) in acc.iter_mut().zip(&a) {
            let ai = ai[kk];
            for (o, &bj) in row.iter_mut().zip(bk) {
                *o += ai * bj;
            }
        }
    }
    // SAFETY: `init` is null or NR readable floats (the MicroKernel contract).
    let init = (!init.is_null()).then(|| unsafe { std::slice::from_raw_parts(init, NR) });
    for (i, row) in acc.iter().enumerate() {
        // SAFETY: row `i < MR` of `c` holds NR readable and writable floats at stride `ldc`,
        // and no one else touches them during this call (the MicroKernel contract).
        let ci = unsafe { std::slice::from_raw_parts_mut(c.add(i * ldc), NR) };
        match init {
            Some(init) => {
                for ((o, &s), &v) in ci.iter_mut().zip(init).zip(row) {
                    *o = s + v;
                }
            }
            None => {
                for (o, &v) in ci.iter_mut().zip(row) {
                    *o += v;
                }
            }
        }
    }
}
