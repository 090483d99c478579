//! Cache blocking and threading around a micro-kernel.
//!
//! Loop order (BLIS, with the weight already packed): rows in blocks of up to `MC_MAX`, then
//! column blocks of `NC_PANELS` panels (their `MC × 256` slice of `C` stays in L2 across
//! k-blocks), then k-blocks of `KC` (the row block's `MC × KC` activations stay in L2), then
//! weight panels (one panel's k-block, 16 KiB, stays in L1 while every row panel runs over
//! it; the panels of one k-block are contiguous in the packed weight, so a column block's
//! k-block is one 256 KiB sequential stream), then row panels. The first k-block writes `C = acc + bias`, later ones add.
//!
//! Activations are read in place (six row streams per tile): packing them into the classic
//! interleaved panel would cost a pass over `x` as large as the whole multiply when `n` is a
//! few hundred. Two cases copy a k-block of rows (a plain `memcpy` per row) into a
//! zero-padded buffer instead: a last row panel of fewer than `MR` rows, and every row when
//! `k` is a multiple of 1024, where six rows `k` floats apart would share one L1 set.
//!
//! Threads: every task is one row block × one run of weight panels, writing a disjoint
//! rectangle of `out`. Tall problems (at least two row blocks per thread) split rows only;
//! short ones (a decoding block of 40–160 positions) also split the panels, several runs per
//! thread so rayon can balance them. Problems under `PARALLEL_MIN_FLOPS` stay on the
//! calling thread.

use std::ops::Range;

use rayon::prelude::*;

use super::pack::PackedWeights;
use super::{KC, MR, NR};

/// A micro-kernel: computes a `MR × NR` tile `acc = Σ_kk a[·][kk] ⊗ b[kk]` over `kc` steps
/// and stores `c = init + acc` if `init` is non-null, else `c += acc`. Arguments:
/// `(kc, a, lda, b, c, ldc, init)`.
///
/// # Safety
/// Row `i < MR` of `a` is `kc` readable floats at `a + i·lda`; `b` addresses `kc · NR`
/// readable floats; `c` addresses `MR` rows of `NR` readable and writable floats at stride
/// `ldc`, touched by no one else during the call; `init` is null or addresses `NR` readable
/// floats. Kernels may add CPU requirements.
pub(super) type MicroKernel =
    unsafe fn(usize, *const f32, usize, *const f32, *mut f32, usize, *const f32);

/// Largest row block (a multiple of `MR`).
const MC_MAX: usize = 192;
/// Column block, in panels: `MC_MAX × 256` floats of `C`, 192 KiB, kept in L2 across the
/// k-blocks.
const NC_PANELS: usize = 16;
/// Row stride of copied activations: a k-block plus one cache line, so the six rows of a
/// tile fall in different L1 sets.
const LDA_COPY: usize = KC + 16;
/// Below this many flops a call runs on the calling thread (fork/join costs ~10 µs).
const PARALLEL_MIN_FLOPS: usize = 500_000;

/// `out[m, n] = x[m, k] · Wᵀ + bias` with validated shapes, `m, n, k > 0`, and `bias`
/// already padded to `panels · NR` (zeros when the caller gave none).
pub(super) fn run(
    kernel: MicroKernel,
    x: &[f32],
    m: usize,
    w: &PackedWeights,
    bias: &[f32],
    out: &mut [f32],
) {
    let (n, k, panels) = (w.n(), w.k(), w.panels());
    let threads = rayon::current_num_threads();
    let flops = 2usize.saturating_mul(m).saturating_mul(n).saturating_mul(k);
    let parallel = threads > 1 && flops >= PARALLEL_MIN_FLOPS;

    let mut blocks = m.div_ceil(MC_MAX);
    let split_rows = parallel && blocks >= 2 * threads;
    if split_rows {
        blocks = blocks.div_ceil(threads) * threads;
    }
    let mc = m.div_ceil(blocks).next_multiple_of(MR);
    let blocks = m.div_ceil(mc);
    let runs = if parallel && !split_rows {
        panels.min(4 * threads)
    } else {
        1
    };
    let per_run = panels.div_ceil(runs);
    let runs = panels.div_ceil(per_run);

    let tile = Tile { kernel, w, bias };
    let c = SharedOut(out.as_mut_ptr());
    let task = |t: usize| {
        let (block, run) = (t / runs, t % runs);
        let r0 = block * mc;
        let rows = mc.min(m - r0);
        let first = run * per_run;
        let cols = first..panels.min(first + per_run);
        // SAFETY: `c` points at `out`, `m × n` floats that outlive every task; task `t`
        // writes only rows `r0..r0 + rows` and the columns of panels `cols`, and no two tasks
        // share both a row block and a panel run.
        unsafe { tile.block(&x[r0 * k..(r0 + rows) * k], rows, cols, c.get().add(r0 * n)) };
    };
    if blocks * runs > 1 && parallel {
        (0..blocks * runs).into_par_iter().for_each(task);
    } else {
        (0..blocks * runs).for_each(task);
    }
}

/// A pointer into `out` that tasks writing disjoint columns share.
struct SharedOut(*mut f32);

// SAFETY: the tasks holding a `SharedOut` write disjoint elements (see its uses in `run`).
unsafe impl Sync for SharedOut {}

impl SharedOut {
    /// The pointer (a method, so closures capture the `Sync` wrapper, not the raw field).
    fn get(&self) -> *mut f32 {
        self.0
    }
}

/// What every tile of one call shares.
#[derive(Clone, Copy)]
struct Tile<'a> {
    kernel: MicroKernel,
    w: &'a PackedWeights,
    bias: &'a [f32],
}

impl Tile<'_> {
    /// Computes rows `0..rows` of `c` (row stride `n`) for the columns of weight panels
    /// `panels` from the row-major activations `a` (`rows × k`).
    ///
    /// # Safety
    /// `c` addresses `rows × n` floats, and no one else touches the columns of `panels` in
    /// them during the call.
    unsafe fn block(&self, a: &[f32], rows: usize, panels: Range<usize>, c: *mut f32) {
        let k = self.w.k();
        debug_assert!(a.len() == rows * k && panels.end <= self.w.panels());
        let full = rows / MR;
        // Rows `k` floats apart with `k` a multiple of 1024 all fall in one L1 set: copy
        // each k-block to a buffer with a staggered stride instead of reading in place.
        let copy_from = if k.is_multiple_of(1024) { 0 } else { full };
        let mut buf = vec![0.0f32; (rows.div_ceil(MR) - copy_from) * MR * LDA_COPY];
        for jc in panels.clone().step_by(NC_PANELS) {
            let jc_end = panels.end.min(jc + NC_PANELS);
            for pc in (0..k).step_by(KC) {
                let kc = KC.min(k - pc);
                for (i, dst) in buf.chunks_exact_mut(LDA_COPY).enumerate() {
                    match a.get((copy_from * MR + i) * k..) {
                        Some(src) if !src.is_empty() => {
                            dst[..kc].copy_from_slice(&src[pc..pc + kc]);
                        }
                        _ => dst[..kc].fill(0.0),
                    }
                }
                for jr in jc..jc_end {
                    // SAFETY: `jr` is one of this block's panels and `buf` holds k-block
                    // `pc`; the rest is this function's own contract.
                    unsafe { self.panel(a, &buf, copy_from, rows, jr, pc, c) };
                }
            }
        }
    }

    /// Weight panel `jr`'s k-block `pc` against every row panel of the block: `a` read in
    /// place for row panels before `copy_from`, the copied k-block `buf` after.
    ///
    /// # Safety
    /// As [`Tile::block`], with `jr` one of its panels and `buf` filled for k-block `pc`.
    #[allow(clippy::too_many_arguments)]
    #[inline]
    unsafe fn panel(
        &self,
        a: &[f32],
        buf: &[f32],
        copy_from: usize,
        rows: usize,
        jr: usize,
        pc: usize,
        c: *mut f32,
    ) {
        let (n, k) = (self.w.n(), self.w.k());
        let kc = KC.min(k - pc);
        let b = self.w.panel_ptr(jr, pc);
        let cols = NR.min(n - jr * NR);
        let init = if pc == 0 {
            self.bias[jr * NR..].as_ptr()
        } else {
            std::ptr::null()
        };
        for ir in 0..rows.div_ceil(MR) {
            let (a_tile, lda) = if ir < copy_from {
                (a[ir * MR * k + pc..].as_ptr(), k)
            } else {
                (buf[(ir - copy_from) * MR * LDA_COPY..].as_ptr(), LDA_COPY)
            };
            let live = MR.min(rows - ir * MR);
            // SAFETY: tile (ir, jr) starts inside `c` (`ir·MR < rows`, `jr·NR < n`);
            // `a_tile` is MR rows of `kc` floats at stride `lda` (whole rows of `a`, or the
            // zero-padded copy); `b` is k-block `pc` of panel `jr`; `init` is null or the
            // panel's NR bias floats.
            unsafe {
                let c_tile = c.add(ir * MR * n + jr * NR);
                self.tile((kc, a_tile, lda, b, init), c_tile, n, live, cols);
            }
        }
    }

    /// One `live × cols` tile; full tiles go straight to the kernel, edge tiles through a
    /// local `MR × NR` buffer so the kernel never touches memory outside `out`. `args` are
    /// the kernel's `(kc, a, lda, b, init)`.
    ///
    /// # Safety
    /// As [`MicroKernel`], except that only `live × cols` of `c` need exist.
    #[inline]
    unsafe fn tile(
        &self,
        (kc, a, lda, b, init): (usize, *const f32, usize, *const f32, *const f32),
        c: *mut f32,
        ldc: usize,
        live: usize,
        cols: usize,
    ) {
        if live == MR && cols == NR {
            // SAFETY: a full tile: the caller's contract is the kernel's.
            unsafe { (self.kernel)(kc, a, lda, b, c, ldc, init) };
            return;
        }
        let mut buf = [0.0f32; MR * NR];
        if init.is_null() {
            for i in 0..live {
                // SAFETY: row `i < live` of the tile has `cols` floats inside `out`.
                let row = unsafe { std::slice::from_raw_parts(c.add(i * ldc), cols) };
                buf[i * NR..i * NR + cols].copy_from_slice(row);
            }
        }
        // SAFETY: `buf` is a whole MR × NR tile at stride NR; the rest as the caller's.
        unsafe { (self.kernel)(kc, a, lda, b, buf.as_mut_ptr(), NR, init) };
        for i in 0..live {
            // SAFETY: as above; nothing else writes these floats during the call.
            let row = unsafe { std::slice::from_raw_parts_mut(c.add(i * ldc), cols) };
            row.copy_from_slice(&buf[i * NR..i * NR + cols]);
        }
    }
}
