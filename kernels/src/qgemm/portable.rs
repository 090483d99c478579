//! The plain-Rust integer micro-kernels: the reference the AVX-512 kernels are tested
//! against (bit for bit: the same integer sums, and the same float operations per output in
//! the same order, `mul_add` where they fuse), and the kernels of CPUs without AVX-512 VNNI.

use half::f16;

use super::act::BlockMeta;
use super::pack::{Q4K_QS, Q4K_UNIT, Q8_0_UNIT};
use super::{MR, NR, Tile};

/// `Q8_0` tile.
///
/// # Safety
/// The pointer contract of [`Tile`].
pub(super) unsafe fn q8_0(t: &Tile) {
    let mut acc = [[0.0f32; NR]; MR];
    for u in 0..t.units {
        // SAFETY: `t.w` addresses `t.units` whole units.
        let unit = unsafe { std::slice::from_raw_parts(t.w.add(u * Q8_0_UNIT), Q8_0_UNIT) };
        for (i, acc) in acc.iter_mut().enumerate() {
            // SAFETY: row `i < MR` has the chunk's quants and block metadata.
            let (q, meta) = unsafe { row(t, i, u * 32, u) };
            for (c, acc) in acc.iter_mut().enumerate() {
                let mut isum = meta.neg128;
                for (v, &a) in q[..32].iter().enumerate() {
                    let w = unit[2 * NR + ((v / 4) * NR + c) * 4 + v % 4];
                    isum += i32::from(w) * i32::from(a);
                }
                let dw = f16::from_le_bytes([unit[2 * c], unit[2 * c + 1]]).to_f32();
                *acc = (isum as f32 * meta.d).mul_add(dw, *acc);
            }
        }
    }
    // SAFETY: the caller's contract.
    unsafe { store(t, &acc) }
}

/// `Q4_K` tile.
///
/// # Safety
/// The pointer contract of [`Tile`].
pub(super) unsafe fn q4k(t: &Tile) {
    let mut acc = [[0.0f32; NR]; MR];
    for u in 0..t.units {
        // SAFETY: `t.w` addresses `t.units` whole units.
        let unit = unsafe { std::slice::from_raw_parts(t.w.add(u * Q4K_UNIT), Q4K_UNIT) };
        let half = |i: usize| f16::from_le_bytes([unit[2 * i], unit[2 * i + 1]]).to_f32();
        for s in 0..8 {
            for (i, acc) in acc.iter_mut().enumerate() {
                // SAFETY: row `i < MR` has the chunk's quants and block metadata.
                let (q, meta) = unsafe { row(t, i, u * 256 + 32 * s, u * 8 + s) };
                for (c, acc) in acc.iter_mut().enumerate() {
                    let mut isum = 0i32;
                    for v in 0..16 {
                        let (j, b) = (v / 4, v % 4);
                        let byte = unit[Q4K_QS + ((s * 4 + j) * NR + c) * 4 + b];
                        isum += i32::from(byte & 0xF) * i32::from(q[4 * j + b]);
                        isum += i32::from(byte >> 4) * i32::from(q[4 * (j + 4) + b]);
                    }
                    let scale = half(c) * f32::from(unit[4 * NR + s * NR + c]);
                    let min = half(NR + c) * f32::from(unit[12 * NR + s * NR + c]);
                    *acc = (isum as f32 * meta.d).mul_add(scale, *acc);
                    *acc = (-min).mul_add(meta.dsum, *acc);
                }
            }
        }
    }
    // SAFETY: the caller's contract.
    unsafe { store(t, &acc) }
}

/// Row `i`'s 32 quants from `offset` in the chunk and its metadata of block `block`.
///
/// # Safety
/// As [`Tile`]: row `i < MR`, and the chunk covers both.
unsafe fn row(t: &Tile, i: usize, offset: usize, block: usize) -> (&[i8], BlockMeta) {
    // SAFETY: the caller's contract.
    unsafe {
        (
            std::slice::from_raw_parts(t.q.add(i * t.lda + offset), 32),
            *t.meta.add(i * t.ldm + block),
        )
    }
}

/// `c = init + acc` (or `c += acc` when `init` is null) over the tile.
///
/// # Safety
/// As [`Tile`].
unsafe fn store(t: &Tile, acc: &[[f32; NR]; MR]) {
    for (i, acc) in acc.iter().enumerate() {
        for (j, &a) in acc.iter().enumerate() {
            // SAFETY: the tile's `MR × NR` outputs (and `init`'s `NR`) exist.
            unsafe {
                let c = t.c.add(i * t.ldc + j);
                *c = a + if t.init.is_null() { *c } else { *t.init.add(j) };
            }
        }
    }
}
