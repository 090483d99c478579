//! Block-quantized GEMM for the transformer's linear layers on CPU, on one packed copy of
//! each weight.
//!
//! A `q8_0` or `q4k` model keeps each matrix once, repacked at load into the integer
//! micro-kernels' layout ([`PackedQuant`], the size of llama.cpp's blocks); each call
//! quantizes the activations to 8 bits in blocks of 32 (as llama.cpp's `Q8_0` does) and
//! multiplies in integers, one float scale per block. (candle's quantized matmul repacks a
//! weight on first use and keeps that copy beside the stored blocks: two copies.)
//!
//! | file | role |
//! |---|---|
//! | `pack.rs` | [`PackedQuant`], the layout and the repacking from llama.cpp's blocks |
//! | `act.rs` | the activations' 8-bit quantization |
//! | `avx512.rs` | the AVX-512 VNNI 12 × 16 micro-kernels, chosen at run time |
//! | `portable.rs` | the plain-Rust micro-kernels, their reference |
//!
//! The driver here splits rows and panels over the current rayon pool as the `f32` GEMM
//! does, and walks `k` in chunks of 512 values so a panel's chunk (8.7 KiB of `Q8_0`, 4.6
//! KiB of `Q4_K`) stays in L1 while every row tile of the block runs over it.

mod act;
#[cfg(target_arch = "x86_64")]
mod avx512;
mod pack;
mod portable;

#[cfg(test)]
mod tests;

pub use pack::PackedQuant;

use act::{BlockMeta, QuantActs};
use rayon::prelude::*;

use crate::KernelError;
use crate::gemm::{SharedOut, Split, linear_operands};

/// Features per weight panel (one `zmm` of f32 outputs).
const NR: usize = 16;
/// Activation rows per micro-kernel tile.
const MR: usize = 12;
/// `k` values per chunk of the driver's loop.
const CHUNK: usize = 512;

/// A llama.cpp block format the integer kernels run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum QuantFormat {
    /// `Q8_0`: blocks of 32 8-bit quants with an f16 scale.
    Q8_0,
    /// `Q4_K`: super-blocks of 256 4-bit quants in eight sub-blocks with 6-bit scales and
    /// mins.
    Q4K,
}

impl QuantFormat {
    /// Values per block as stored (32 or 256).
    pub fn block(self) -> usize {
        match self {
            QuantFormat::Q8_0 => 32,
            QuantFormat::Q4K => 256,
        }
    }

    /// Bytes per stored block (34 or 144).
    pub fn block_bytes(self) -> usize {
        match self {
            QuantFormat::Q8_0 => 34,
            QuantFormat::Q4K => 144,
        }
    }

    /// Bytes of a packed unit of one panel.
    fn unit_bytes(self) -> usize {
        match self {
            QuantFormat::Q8_0 => pack::Q8_0_UNIT,
            QuantFormat::Q4K => pack::Q4K_UNIT,
        }
    }
}

impl std::fmt::Display for QuantFormat {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            QuantFormat::Q8_0 => "Q8_0",
            QuantFormat::Q4K => "Q4_K",
        })
    }
}

/// Whether this CPU has the fast integer kernels (x86_64 with AVX-512 F, BW and VNNI). Where
/// it has not, [`matmul_quant`] still works, on plain-Rust kernels several times slower.
pub fn quant_kernels_fast() -> bool {
    Isa::detect() != Isa::Portable
}

/// `out[m, n] = x[m, k] · Wᵀ (+ bias[n])`, all row-major, with `W` block-quantized and
/// packed by [`PackedQuant::from_ggml`].
///
/// The activations are quantized to 8 bits per block of 32 values (scale `max|x| / 127`,
/// rounding to nearest even) and each block's integer dot product is scaled in `f32`, so
/// the result differs from `x · dequantize(W)ᵀ` by the activations' rounding: each is off
/// by at most half a step, `max|x| / 254` of its block (the tests hold the product to that
/// bound).
///
/// # Errors
/// [`KernelError::ShapeMismatch`] naming `"x"`, `"bias"` or `"out"` if its length is not
/// `m · k`, `n` or `m · n`. Nothing is written then.
pub fn matmul_quant(
    x: &[f32],
    m: usize,
    w: &PackedQuant,
    bias: Option<&[f32]>,
    out: &mut [f32],
) -> Result<(), KernelError> {
    matmul_with(Isa::detect(), x, m, w, bias, out)
}

/// Which micro-kernels run; tests pick one explicitly.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Isa {
    /// x86_64 AVX-512 F + BW + VNNI.
    #[cfg(target_arch = "x86_64")]
    Avx512Vnni,
    /// Plain Rust, any target.
    Portable,
}

impl Isa {
    fn detect() -> Isa {
        #[cfg(target_arch = "x86_64")]
        if avx512::available() {
            return Isa::Avx512Vnni;
        }
        Isa::Portable
    }
}

/// One micro-kernel call: `MR` activation rows against one panel over one chunk of units,
/// storing the `MR × NR` tile `c = init + acc` (or `c += acc` when `init` is null).
///
/// Pointer contract: `w` addresses `units` whole units of the panel; row `i < MR` has the
/// chunk's quants at `q + i·lda` and its blocks' metadata at `meta + i·ldm`; `c` addresses
/// `MR` rows of `NR` writable floats at stride `ldc` that no one else touches during the
/// call; `init` is null or `NR` readable floats.
struct Tile {
    units: usize,
    w: *const u8,
    q: *const i8,
    lda: usize,
    meta: *const BlockMeta,
    ldm: usize,
    c: *mut f32,
    ldc: usize,
    init: *const f32,
}

/// A micro-kernel (see [`Tile`] for its contract).
type Kernel = unsafe fn(&Tile);

fn matmul_with(
    isa: Isa,
    x: &[f32],
    m: usize,
    w: &PackedQuant,
    bias: Option<&[f32]>,
    out: &mut [f32],
) -> Result<(), KernelError> {
    let (n, k) = (w.n(), w.k());
    if !linear_operands(x, m, (n, k), bias, out)? {
        return Ok(());
    }
    let kernel: Kernel = match (isa, w.format()) {
        // Only reachable when `detect` (or a test that checked `available`) chose it.
        #[cfg(target_arch = "x86_64")]
        (Isa::Avx512Vnni, format) => {
            assert!(
                avx512::available(),
                "AVX-512 VNNI kernel on a CPU without it"
            );
            match format {
                QuantFormat::Q8_0 => avx512::q8_0,
                QuantFormat::Q4K => avx512::q4k,
            }
        }
        (Isa::Portable, QuantFormat::Q8_0) => portable::q8_0,
        (Isa::Portable, QuantFormat::Q4K) => portable::q4k,
    };
    let panels = w.panels();
    let mut padded = vec![0.0; panels * NR];
    if let Some(bias) = bias {
        padded[..n].copy_from_slice(bias);
    }
    let flops = 2usize.saturating_mul(m).saturating_mul(n).saturating_mul(k);
    let split = Split::new(m, panels, flops, MR);
    let acts = QuantActs::new(x, m, k, split.blocks * split.mc);
    run(kernel, &acts, m, w, &padded, out, split);
    Ok(())
}

/// The blocked, threaded loop over tiles (shapes validated, `bias` padded to the panels).
fn run(
    kernel: Kernel,
    acts: &QuantActs,
    m: usize,
    w: &PackedQuant,
    bias: &[f32],
    out: &mut [f32],
    split: Split,
) {
    let (n, k, panels) = (w.n(), w.k(), w.panels());
    let (kb, unit) = (k / act::BLOCK, w.format().block());
    let chunk_units = (CHUNK / unit).max(1);
    let c = SharedOut(out.as_mut_ptr());
    let task = |t: usize| {
        let (block, run) = (t / split.runs, t % split.runs);
        let r0 = block * split.mc;
        let rows = split.mc.min(m - r0);
        let first = run * split.per_run;
        for u0 in (0..w.units()).step_by(chunk_units) {
            let units = chunk_units.min(w.units() - u0);
            for p in first..panels.min(first + split.per_run) {
                let cols = NR.min(n - p * NR);
                let init = if u0 == 0 {
                    bias[p * NR..].as_ptr()
                } else {
                    std::ptr::null()
                };
                for ir in (0..rows).step_by(MR) {
                    let live = MR.min(rows - ir);
                    let r = r0 + ir;
                    let mut tile = Tile {
                        units,
                        w: w.unit_ptr(p, u0),
                        q: acts.q[r * k + u0 * unit..].as_ptr(),
                        lda: k,
                        meta: acts.meta[r * kb + u0 * unit / act::BLOCK..].as_ptr(),
                        ldm: kb,
                        // SAFETY: row `r < m`, column `p·NR < n`: inside `out`.
                        c: unsafe { c.get().add(r * n + p * NR) },
                        ldc: n,
                        init,
                    };
                    // SAFETY: the activations are padded to whole row blocks of whole tiles,
                    // the weight to whole panels; this task alone writes rows `r0..r0 +
                    // rows` of panels `first..`; edge tiles go through a local buffer.
                    unsafe { edge_tile(kernel, &mut tile, live, cols) };
                }
            }
        }
    };
    let tasks = split.blocks * split.runs;
    if tasks > 1 && split.parallel {
        (0..tasks).into_par_iter().for_each(task);
    } else {
        (0..tasks).for_each(task);
    }
}

/// Runs `kernel` on `tile`, whose `c` has only `live` rows of `cols` floats: straight when
/// the tile is whole, else through a local `MR × NR` buffer.
///
/// # Safety
/// [`Tile`]'s contract, except that only `live × cols` of `c` need exist.
unsafe fn edge_tile(kernel: Kernel, tile: &mut Tile, live: usize, cols: usize) {
    if live == MR && cols == NR {
        // SAFETY: a whole tile: the caller's contract is the kernel's.
        unsafe { kernel(tile) };
        return;
    }
    let (c, ldc) = (tile.c, tile.ldc);
    let mut buf = [0.0f32; MR * NR];
    for i in 0..live {
        // SAFETY: row `i < live` of the tile has `cols` floats inside `out`.
        let row = unsafe { std::slice::from_raw_parts(c.add(i * ldc), cols) };
        buf[i * NR..i * NR + cols].copy_from_slice(row);
    }
    tile.c = buf.as_mut_ptr();
    tile.ldc = NR;
    // SAFETY: `buf` is a whole tile at stride `NR`; the rest is the caller's.
    unsafe { kernel(tile) };
    for i in 0..live {
        // SAFETY: as above.
        let row = unsafe { std::slice::from_raw_parts_mut(c.add(i * ldc), cols) };
        row.copy_from_slice(&buf[i * NR..i * NR + cols]);
    }
}
