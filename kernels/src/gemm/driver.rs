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
//! few hundred. A row panel's k-block is copied (a plain `memcpy` per row) into a
//! zero-padded buffer instead when its rows are not evenly spaced ([`Activations::tile`]
//! says so): a last row panel of fewer than `MR` rows, every row of a matrix whose `k` is a
//! multiple of 1024 (six rows `k` floats apart would share one L1 set), a convolution's
//! pixels that straddle two output rows.
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

/// The activations `A` of one call, split along `k` into segments, segment `s` multiplied
/// by weight `s` (`C = Σₛ Aₛ · Wₛᵀ`): one segment for a linear layer, one per kernel row for
/// a convolution read straight from its padded input.
pub(crate) trait Activations: Sync {
    /// In-place view of the `MR` rows `r0..r0 + MR` of segment `seg`: the address of row
    /// `r0`'s first float of the segment and the distance between consecutive rows, when
    /// they are evenly spaced in memory (else `None`, and the rows are copied through
    /// [`Activations::row`]). Every row it covers must be readable for the segment's length.
    fn tile(&self, seg: usize, r0: usize) -> Option<(*const f32, usize)>;
    /// Row `r` of segment `seg`: the weight's `k` floats.
    fn row(&self, seg: usize, r: usize) -> &[f32];
}

/// A row-major `[m, k]` matrix as one segment.
pub(crate) struct Matrix<'a> {
    pub(crate) x: &'a [f32],
    pub(crate) k: usize,
}

impl Activations for Matrix<'_> {
    fn tile(&self, _seg: usize, r0: usize) -> Option<(*const f32, usize)> {
        // Rows `k` floats apart with `k` a multiple of 1024 all fall in one L1 set: copy
        // them to a buffer with a staggered stride instead of reading in place.
        let fits = (r0 + MR) * self.k <= self.x.len();
        (fits && !self.k.is_multiple_of(1024)).then(|| (self.x[r0 * self.k..].as_ptr(), self.k))
    }

    fn row(&self, _seg: usize, r: usize) -> &[f32] {
        &self.x[r * self.k..(r + 1) * self.k]
    }
}

/// How the product is laid out in `out`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum OutLayout {
    /// `out[i·n + j]`: row-major `[m, n]`.
    RowMajor,
    /// `out[j·m + i]`: the transpose, `[n, m]` (a convolution's channels-first output).
    Transposed,
}

/// `out = Σₛ Aₛ · Wₛᵀ + bias` (`m × n`, laid out as `layout` says; on the rayon pool when
/// `pool` is on and the problem is big enough) with validated shapes:
/// every weight has the same `n`, `m, n > 0`, every segment's `k > 0`, and `bias` already
/// padded to `panels · NR` (zeros when the caller gave none).
pub(super) fn run(
    kernel: MicroKernel,
    a: &impl Activations,
    m: usize,
    ws: &[&PackedWeights],
    bias: &[f32],
    out: &mut [f32],
    (layout, pool): (OutLayout, bool),
) {
    let (n, panels) = (ws[0].n(), ws[0].panels());
    let k: usize = ws.iter().map(|w| w.k()).sum();
    let flops = 2usize.saturating_mul(m).saturating_mul(n).saturating_mul(k);
    let Split {
        mc,
        blocks,
        runs,
        per_run,
        parallel,
    } = Split::new(m, panels, if pool { flops } else { 0 }, MR);

    let tile = Tile { kernel, ws, bias };
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
        match layout {
            OutLayout::RowMajor => unsafe {
                tile.block(a, r0, rows, cols, c.get().add(r0 * n), (n, 0));
            },
            OutLayout::Transposed => {
                // The block's rectangle row-major in a local buffer (at most 192 rows by
                // the run's columns: it stays in L2), then stored transposed, each column
                // a contiguous run of `out`.
                let col0 = cols.start * NR;
                let width = n.min(cols.end * NR) - col0;
                let mut local = vec![0.0f32; rows * width];
                // SAFETY: `local` is `rows × width` floats, the columns `col0..col0 +
                // width` of this block, and this task's alone.
                unsafe { tile.block(a, r0, rows, cols, local.as_mut_ptr(), (width, col0)) };
                for (j, col) in (col0..col0 + width).enumerate() {
                    for (i, row) in local.chunks_exact(width).enumerate() {
                        // SAFETY: element (r0 + i, col) of the transposed `m × n` product
                        // is inside `out`, and in this task's rectangle.
                        unsafe { *c.get().add(col * m + r0 + i) = row[j] };
                    }
                }
            }
        }
    };
    if blocks * runs > 1 && parallel {
        (0..blocks * runs).into_par_iter().for_each(task);
    } else {
        (0..blocks * runs).for_each(task);
    }
}

/// How a GEMM of `m` rows by `panels` weight panels splits into tasks: task `t` is row
/// block `t / runs` (rows `mc` apart) by panel run `t % runs` (`per_run` panels each).
/// Shared by the `f32` and the quantized drivers.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Split {
    /// Rows per block, a multiple of the micro-kernel's rows.
    pub(crate) mc: usize,
    /// Row blocks.
    pub(crate) blocks: usize,
    /// Panel runs per row block.
    pub(crate) runs: usize,
    /// Panels per run.
    pub(crate) per_run: usize,
    /// Whether the tasks run on the rayon pool.
    pub(crate) parallel: bool,
}

impl Split {
    /// The split of `m > 0` rows and `panels > 0` panels costing `flops`, for a micro-kernel
    /// of `mr` rows. Tall problems (at least two row blocks per thread) split rows only;
    /// short ones also split the panels, several runs per thread so rayon can balance them.
    pub(crate) fn new(m: usize, panels: usize, flops: usize, mr: usize) -> Split {
        let threads = rayon::current_num_threads();
        let parallel = threads > 1 && flops >= PARALLEL_MIN_FLOPS;
        let mut blocks = m.div_ceil(MC_MAX);
        let split_rows = parallel && blocks >= 2 * threads;
        if split_rows {
            blocks = blocks.div_ceil(threads) * threads;
        }
        let mc = m.div_ceil(blocks).next_multiple_of(mr);
        let blocks = m.div_ceil(mc);
        let runs = if parallel && !split_rows {
            panels.min(4 * threads)
        } else {
            1
        };
        let per_run = panels.div_ceil(runs);
        Split {
            mc,
            blocks,
            runs: panels.div_ceil(per_run),
            per_run,
            parallel,
        }
    }
}

/// A pointer into `out` that tasks writing disjoint columns share.
pub(crate) struct SharedOut(pub(crate) *mut f32);

// SAFETY: the tasks holding a `SharedOut` write disjoint elements (see its uses in `run`).
unsafe impl Sync for SharedOut {}

impl SharedOut {
    /// The pointer (a method, so closures capture the `Sync` wrapper, not the raw field).
    pub(crate) fn get(&self) -> *mut f32 {
        self.0
    }
}

/// Where a row panel's current k-block is read.
#[derive(Clone, Copy)]
enum Src {
    /// In place: the first row's k-block start and the row stride.
    InPlace(*const f32, usize),
    /// Copied into the block's buffer at this offset (stride `LDA_COPY`).
    Copied(usize),
}

/// What every tile of one call shares.
#[derive(Clone, Copy)]
struct Tile<'a> {
    kernel: MicroKernel,
    ws: &'a [&'a PackedWeights],
    bias: &'a [f32],
}

impl Tile<'_> {
    /// Computes rows `r0..r0 + rows` of the product for the columns of weight panels
    /// `panels` into `c`: element `(r0 + i, col)` at `c + i·ldc + col − col0`.
    ///
    /// # Safety
    /// Those elements exist for every `i < rows` and column of `panels` (below `n`), and no
    /// one else touches them during the call.
    unsafe fn block(
        &self,
        a: &impl Activations,
        r0: usize,
        rows: usize,
        panels: Range<usize>,
        c: *mut f32,
        (ldc, col0): (usize, usize),
    ) {
        let row_panels = rows.div_ceil(MR);
        // Per row panel of the current k-block: where its rows are read (in place, or the
        // copy in `buf` at that offset) and at which stride.
        let mut src = vec![Src::Copied(0); row_panels];
        let mut buf: Vec<f32> = Vec::new();
        for jc in panels.clone().step_by(NC_PANELS) {
            let jc_end = panels.end.min(jc + NC_PANELS);
            for (seg, w) in self.ws.iter().enumerate() {
                for pc in (0..w.k()).step_by(KC) {
                    let kc = KC.min(w.k() - pc);
                    let mut copies = 0;
                    for (ir, s) in src.iter_mut().enumerate() {
                        let first = r0 + ir * MR;
                        let live = MR.min(rows - ir * MR);
                        *s = match a.tile(seg, first).filter(|_| live == MR) {
                            // SAFETY: the activations promised `k` readable floats per row.
                            Some((p, lda)) => Src::InPlace(unsafe { p.add(pc) }, lda),
                            None => {
                                let at = copies * MR * LDA_COPY;
                                copies += 1;
                                buf.resize(buf.len().max(at + MR * LDA_COPY), 0.0);
                                for (i, dst) in buf[at..].chunks_mut(LDA_COPY).take(MR).enumerate()
                                {
                                    if i < live {
                                        dst[..kc]
                                            .copy_from_slice(&a.row(seg, first + i)[pc..pc + kc]);
                                    } else {
                                        dst[..kc].fill(0.0);
                                    }
                                }
                                Src::Copied(at)
                            }
                        };
                    }
                    let first_block = seg == 0 && pc == 0;
                    for jr in jc..jc_end {
                        // SAFETY: `jr` is one of this block's panels; `src` describes k-block
                        // `pc` of segment `seg` for every row panel; the rest is this
                        // function's own contract.
                        let at = (c, ldc, col0);
                        unsafe { self.panel(&src, &buf, rows, w, jr, pc, first_block, at) };
                    }
                }
            }
        }
    }

    /// Weight panel `jr`'s k-block `pc` of weight `w` against every row panel of the block,
    /// each read where `src` says.
    ///
    /// # Safety
    /// As [`Tile::block`], with `jr` one of its panels and `src`/`buf` filled for k-block
    /// `pc` of `w`.
    #[allow(clippy::too_many_arguments)]
    #[inline]
    unsafe fn panel(
        &self,
        src: &[Src],
        buf: &[f32],
        rows: usize,
        w: &PackedWeights,
        jr: usize,
        pc: usize,
        first_block: bool,
        (c, ldc, col0): (*mut f32, usize, usize),
    ) {
        let n = w.n();
        let kc = KC.min(w.k() - pc);
        let b = w.panel_ptr(jr, pc);
        let cols = NR.min(n - jr * NR);
        let init = if first_block {
            self.bias[jr * NR..].as_ptr()
        } else {
            std::ptr::null()
        };
        for (ir, &s) in src.iter().enumerate() {
            let (a_tile, lda) = match s {
                Src::InPlace(p, lda) => (p, lda),
                Src::Copied(at) => (buf[at..].as_ptr(), LDA_COPY),
            };
            let live = MR.min(rows - ir * MR);
            // SAFETY: tile (ir, jr) starts inside `c` (`ir·MR < rows`, `jr·NR < n`);
            // `a_tile` is MR rows of `kc` floats at stride `lda` (in place, as the
            // activations promised, or the zero-padded copy); `b` is k-block `pc` of panel
            // `jr`; `init` is null or the panel's NR bias floats.
            unsafe {
                let c_tile = c.add(ir * MR * ldc + jr * NR - col0);
                self.tile((kc, a_tile, lda, b, init), c_tile, ldc, live, cols);
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
