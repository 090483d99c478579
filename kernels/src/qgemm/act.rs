//! The activations of one call quantized to 8 bits in blocks of 32, as the integer kernels
//! read them: per block a scale `d = max|x| / 127` and the quants `round(x / d)`, plus the
//! two per-block sums the formats' offset terms need.

use rayon::prelude::*;

/// Values per activation block (the `Q8_0` block and the `Q4_K` sub-block).
pub(super) const BLOCK: usize = 32;

/// What the kernels need of one activation block besides its quants.
#[derive(Debug, Clone, Copy, Default)]
#[repr(C)]
pub(super) struct BlockMeta {
    /// The scale.
    pub(super) d: f32,
    /// `−128 · Σq`: where the `Q8_0` kernel starts the block's integer sum, cancelling the
    /// +128 stored on the weight's quants.
    pub(super) neg128: i32,
    /// `d · Σq`: the factor of the `Q4_K` mins.
    pub(super) dsum: f32,
}

/// `m` rows of `k` activations (zero rows appended up to `rows`), quantized.
pub(super) struct QuantActs {
    /// `rows · k` quants, row-major.
    pub(super) q: Vec<i8>,
    /// `rows · k/32` blocks' scales and sums, row-major.
    pub(super) meta: Vec<BlockMeta>,
}

/// Rows quantized per rayon task.
const ROWS_PER_TASK: usize = 8;

impl QuantActs {
    /// Quantizes the row-major `[m, k]` matrix `x` (`k` a multiple of 32), padding with zero
    /// rows to `rows ≥ m`.
    pub(super) fn new(x: &[f32], m: usize, k: usize, rows: usize) -> Self {
        let kb = k / BLOCK;
        let mut q = vec![0; rows * k];
        let mut meta = vec![BlockMeta::default(); rows * kb];
        let rows_of = |((q, meta), x): ((&mut [i8], &mut [BlockMeta]), &[f32])| {
            let blocks = q.chunks_exact_mut(BLOCK).zip(x.chunks_exact(BLOCK));
            for ((q, x), meta) in blocks.zip(meta) {
                *meta = quantize_block(x, q);
            }
        };
        let (q_live, meta_live) = (&mut q[..m * k], &mut meta[..m * kb]);
        if m * k >= 1 << 16 {
            q_live
                .par_chunks_mut(ROWS_PER_TASK * k)
                .zip(meta_live.par_chunks_mut(ROWS_PER_TASK * kb))
                .zip(x.par_chunks(ROWS_PER_TASK * k))
                .for_each(rows_of);
        } else {
            rows_of(((q_live, meta_live), x));
        }
        QuantActs { q, meta }
    }
}

/// One block of 32 values quantized into `q`. Rounds to nearest, ties to even (one vector
/// instruction); a block of zeros has scale 0.
fn quantize_block(x: &[f32], q: &mut [i8]) -> BlockMeta {
    let amax = x.iter().fold(0.0f32, |a, v| a.max(v.abs()));
    let d = amax / 127.0;
    let inv = if amax > 0.0 { 127.0 / amax } else { 0.0 };
    let mut sum = 0i32;
    for (q, &v) in q.iter_mut().zip(x) {
        // |v · inv| ≤ 127 up to the rounding of `inv`; `as` saturates the rest, NaN to 0.
        *q = (v * inv).round_ties_even() as i8;
        sum += i32::from(*q);
    }
    BlockMeta {
        d,
        neg128: -128 * sum,
        dsum: d * sum as f32,
    }
}
