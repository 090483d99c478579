//! Packed-weight `f32` GEMM for the transformer's linear layers on CPU.
//!
//! A linear layer computes `out = x · Wᵀ + bias` with `W` fixed after loading, so `W` is
//! packed once into the micro-kernel's panel layout ([`PackedWeights`]) and each call packs
//! only the activations ([`matmul_packed`]). candle's CPU matmul repacks the weight on every
//! call, which dominates when `m` is a decoding block of tens of positions.
//!
//! | file | role |
//! |---|---|
//! | `pack.rs` | [`PackedWeights`] and the activation packing |
//! | `driver.rs` | cache blocking (`KC` = 256, row blocks ≤ 192) and rayon threading |
//! | `avx2.rs` | the x86_64 AVX2 + FMA 6 × 16 micro-kernel, chosen at run time |
//! | `portable.rs` | the plain-Rust 6 × 16 micro-kernel used everywhere else |
//!
//! Threads come from the current rayon pool (`RAYON_NUM_THREADS`, or
//! `ThreadPool::install`); problems under about half a megaflop run on the calling thread.

mod driver;
mod pack;
mod portable;

#[cfg(target_arch = "x86_64")]
mod avx2;

#[cfg(test)]
mod tests;

pub use pack::PackedWeights;

pub(crate) use driver::{Activations, Matrix, OutLayout, SharedOut, Split};

use crate::KernelError;

/// Rows of the micro-kernel tile (activation rows per packed panel).
pub(crate) const MR: usize = 6;
/// Columns of the micro-kernel tile (output features per weight panel).
pub(crate) const NR: usize = 16;
/// k-block length, in the packed weight's layout and the driver's loop: one weight panel's
/// k-block is `KC · NR · 4` bytes = 16 KiB, half of L1d.
const KC: usize = 256;

/// `out[m, n] = x[m, k] · Wᵀ (+ bias[n])`, all row-major, with `W` packed once by
/// [`PackedWeights::from_rows`].
///
/// `x` is `m` rows of `w.k()` floats; `out` is `m` rows of `w.n()` floats and is
/// overwritten. Uses the AVX2 + FMA kernel when the CPU has it, and the current rayon
/// pool's threads for problems big enough to pay for them.
///
/// # Errors
/// [`KernelError::ShapeMismatch`] naming `"x"`, `"bias"` or `"out"` if its length is not
/// `m · k`, `n` or `m · n`. Nothing is written then.
///
/// # Example
/// ```
/// use tessera_kernels::{PackedWeights, matmul_packed};
/// let (n, k, m) = (3, 2, 2);
/// let w = PackedWeights::from_rows(&[1.0, 2.0, 3.0, 4.0, 5.0, 6.0], n, k)?;
/// let x = [1.0, 1.0, 0.0, 1.0];
/// let mut out = vec![0.0; m * n];
/// matmul_packed(&x, m, &w, None, &mut out)?;
/// assert_eq!(out, [3.0, 7.0, 11.0, 2.0, 4.0, 6.0]);
/// # Ok::<(), tessera_kernels::KernelError>(())
/// ```
pub fn matmul_packed(
    x: &[f32],
    m: usize,
    w: &PackedWeights,
    bias: Option<&[f32]>,
    out: &mut [f32],
) -> Result<(), KernelError> {
    matmul_with(Isa::detect(), x, m, w, bias, out)
}

/// Which micro-kernel runs; tests pick one explicitly.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Isa {
    /// x86_64 AVX2 + FMA.
    #[cfg(target_arch = "x86_64")]
    Avx2Fma,
    /// Plain Rust, any target.
    Portable,
}

impl Isa {
    /// The best kernel this CPU runs.
    fn detect() -> Isa {
        #[cfg(target_arch = "x86_64")]
        if avx2::available() {
            return Isa::Avx2Fma;
        }
        Isa::Portable
    }
}

/// [`matmul_packed`] with the micro-kernel chosen by the caller.
fn matmul_with(
    isa: Isa,
    x: &[f32],
    m: usize,
    w: &PackedWeights,
    bias: Option<&[f32]>,
    out: &mut [f32],
) -> Result<(), KernelError> {
    let k = w.k();
    if !linear_operands(x, m, (w.n(), k), bias, out)? {
        return Ok(());
    }
    segments_with(
        isa,
        &driver::Matrix { x, k },
        m,
        &[w],
        bias,
        out,
        (OutLayout::RowMajor, true),
    );
    Ok(())
}

/// `out = Σₛ Aₛ · Wₛᵀ (+ bias)` (`m × n`, laid out as `layout` says) on the best
/// micro-kernel, for callers inside the crate whose activations are not one matrix (the
/// convolution). Shapes are the caller's to check: every weight has `bias`'s and `out`'s
/// `n`, every segment `k > 0`, `m > 0`. With `pool` off the product runs on the calling
/// thread (for callers that already spread their own tasks over the pool).
pub(crate) fn run_segments(
    a: &impl Activations,
    m: usize,
    ws: &[&PackedWeights],
    bias: Option<&[f32]>,
    out: &mut [f32],
    (layout, pool): (OutLayout, bool),
) {
    segments_with(Isa::detect(), a, m, ws, bias, out, (layout, pool));
}

fn segments_with(
    isa: Isa,
    a: &impl Activations,
    m: usize,
    ws: &[&PackedWeights],
    bias: Option<&[f32]>,
    out: &mut [f32],
    (layout, pool): (OutLayout, bool),
) {
    let n = ws[0].n();
    let mut padded = vec![0.0; ws[0].panels() * NR];
    if let Some(bias) = bias {
        padded[..n].copy_from_slice(bias);
    }
    let kernel: driver::MicroKernel = match isa {
        // Only reachable when `detect` (or a test that checked `available`) chose it.
        #[cfg(target_arch = "x86_64")]
        Isa::Avx2Fma => {
            assert!(
                avx2::available(),
                "AVX2 kernel chosen on a CPU without AVX2/FMA"
            );
            avx2::kernel
        }
        Isa::Portable => portable::kernel,
    };
    driver::run(kernel, a, m, ws, &padded, out, (layout, pool));
}

/// Checks the operands of a linear layer `out[m, n] = x[m, k] · Wᵀ (+ bias)` (errors name
/// `"x"`, `"out"` or `"bias"`, and nothing is written then) and settles the products with
/// nothing to multiply: `m` or `n` zero (nothing to write), `k` zero (`out` = the bias, or
/// zeros). Returns whether a product is left to compute.
pub(crate) fn linear_operands(
    x: &[f32],
    m: usize,
    (n, k): (usize, usize),
    bias: Option<&[f32]>,
    out: &mut [f32],
) -> Result<bool, KernelError> {
    check("x", m.saturating_mul(k), x.len())?;
    check("out", m.saturating_mul(n), out.len())?;
    if let Some(bias) = bias {
        check("bias", n, bias.len())?;
    }
    if m == 0 || n == 0 {
        return Ok(false);
    }
    if k == 0 {
        for row in out.chunks_exact_mut(n) {
            match bias {
                Some(bias) => row.copy_from_slice(bias),
                None => row.fill(0.0),
            }
        }
        return Ok(false);
    }
    Ok(true)
}

fn check(operand: &'static str, expected: usize, actual: usize) -> Result<(), KernelError> {
    if expected == actual {
        Ok(())
    } else {
        Err(KernelError::ShapeMismatch {
            operand,
            expected,
            actual,
        })
    }
}
