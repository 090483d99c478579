//! Fused bidirectional multi-head attention on the CPU: scores, scale, additive bias,
//! softmax and the weighted sum of values in one pass per block of queries, written straight
//! into the merged-heads layout the output projection reads — no score tensor, no transposes.
//!
//! The arithmetic is the reference's, op by op, in `f32`: `s = (q·k)·scale + bias`, then
//! `p = exp(s − max) / Σ exp(s − max)`, then `Σ p·v` over keys in order. The order of the
//! additions inside the dot products differs from a GEMM's, and `exp` is the vectorised
//! [`crate::activation::exp`] (within two ulps): differences at the rounding level.
//!
//! Grouped-query attention reads key/value head `h / (heads / kv_heads)` for query head `h`,
//! without copying keys or values. Work is split over rows and blocks of queries with rayon.

use rayon::prelude::*;

use crate::KernelError;
use outer::Rows;

/// Queries computed per task (a block shares its key and value reads).
const QUERY_BLOCK: usize = 8;

/// A strided `[rows][heads][positions][head_dim]` view of `f32` data: element
/// `(r, h, i, c)` is at `r·row + h·head + i·pos + c` (the head dimension is contiguous).
#[derive(Debug, Clone, Copy)]
pub struct Strided<'a> {
    /// The data.
    pub data: &'a [f32],
    /// Step between rows.
    pub row: usize,
    /// Step between heads.
    pub head: usize,
    /// Step between positions.
    pub pos: usize,
}

impl<'a> Strided<'a> {
    /// A contiguous `[rows][heads][positions][head_dim]` tensor.
    pub fn heads_major(data: &'a [f32], heads: usize, positions: usize, head_dim: usize) -> Self {
        Strided {
            data,
            row: heads * positions * head_dim,
            head: positions * head_dim,
            pos: head_dim,
        }
    }

    /// Whether every element of a `rows × heads × positions × head_dim` view is in `data`.
    fn covers(&self, rows: usize, heads: usize, positions: usize, head_dim: usize) -> bool {
        if rows == 0 || heads == 0 || positions == 0 || head_dim == 0 {
            return true;
        }
        let last = (rows - 1)
            .checked_mul(self.row)
            .and_then(|a| (heads - 1).checked_mul(self.head).map(|b| (a, b)))
            .and_then(|(a, b)| (positions - 1).checked_mul(self.pos).map(|c| (a, b, c)))
            .and_then(|(a, b, c)| a.checked_add(b)?.checked_add(c)?.checked_add(head_dim - 1));
        last.is_some_and(|last| last < self.data.len())
    }

    /// The `head_dim` values at `(r, h, i)`.
    fn at(&self, r: usize, h: usize, i: usize, head_dim: usize) -> &'a [f32] {
        let start = r * self.row + h * self.head + i * self.pos;
        &self.data[start..start + head_dim]
    }
}

/// The dimensions of one attention call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AttentionShape {
    /// Batch rows.
    pub rows: usize,
    /// Query heads.
    pub heads: usize,
    /// Key/value heads (divides `heads`).
    pub kv_heads: usize,
    /// Query positions per row.
    pub queries: usize,
    /// Key positions per row.
    pub keys: usize,
    /// Values per head.
    pub head_dim: usize,
}

/// An additive bias on the scores, `[rows or 1][queries or 1][keys]`, the same for every
/// head (`−∞` hides a key).
#[derive(Debug, Clone, Copy)]
pub struct AttentionBias<'a> {
    /// The values.
    pub values: &'a [f32],
    /// One bias per row (else one for all rows).
    pub per_row: bool,
    /// One bias per query (else one for all queries).
    pub per_query: bool,
}

/// Attention of `q` over `k` and `v`, written to `out` as `[rows][queries][heads·head_dim]`.
///
/// # Errors
/// [`KernelError::Shape`] when `heads` is not a multiple of `kv_heads`, a view does not cover
/// its shape, the bias or `out` has the wrong length.
pub fn attention(
    q: Strided<'_>,
    k: Strided<'_>,
    v: Strided<'_>,
    shape: AttentionShape,
    scale: f32,
    bias: Option<AttentionBias<'_>>,
    out: &mut [f32],
) -> Result<(), KernelError> {
    #[cfg(target_arch = "x86_64")]
    let (simd, wide) = {
        let simd = is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma");
        (simd, simd && is_x86_feature_detected!("avx512f"))
    };
    #[cfg(not(target_arch = "x86_64"))]
    let (simd, wide) = (false, false);
    attention_on((simd, wide), q, k, v, shape, scale, bias, out)
}

/// [`attention`], with the AVX2+FMA build of the inner loops when `simd`, their AVX-512
/// steps when also `wide` (which the caller has checked the CPU supports), and the baseline
/// build otherwise.
#[allow(clippy::too_many_arguments)]
fn attention_on(
    (simd, wide): (bool, bool),
    q: Strided<'_>,
    k: Strided<'_>,
    v: Strided<'_>,
    shape: AttentionShape,
    scale: f32,
    bias: Option<AttentionBias<'_>>,
    out: &mut [f32],
) -> Result<(), KernelError> {
    let AttentionShape {
        rows,
        heads,
        kv_heads,
        queries,
        keys,
        head_dim: hd,
    } = shape;
    let bad = |what: String| Err(KernelError::Shape(format!("attention: {what}")));
    if kv_heads == 0 || heads % kv_heads != 0 {
        return bad(format!(
            "{heads} heads are not a multiple of {kv_heads} KV heads"
        ));
    }
    if !q.covers(rows, heads, queries, hd) {
        return bad(format!("q does not cover {rows}×{heads}×{queries}×{hd}"));
    }
    for (name, view) in [("k", &k), ("v", &v)] {
        if !view.covers(rows, kv_heads, keys, hd) {
            return bad(format!(
                "{name} does not cover {rows}×{kv_heads}×{keys}×{hd}"
            ));
        }
    }
    if let Some(b) = &bias {
        let want = if b.per_row { rows } else { 1 } * if b.per_query { queries } else { 1 } * keys;
        if b.values.len() != want {
            return bad(format!("bias has {} values, not {want}", b.values.len()));
        }
    }
    let width = heads * hd;
    if out.len() != rows * queries * width {
        return bad(format!(
            "out has {} values, not {rows}×{queries}×{width}",
            out.len()
        ));
    }
    if rows == 0 || queries == 0 || width == 0 {
        return Ok(());
    }
    if keys == 0 {
        return bad("no keys to attend to".into());
    }
    let rep = heads / kv_heads;
    // Keys transposed once per call, `[rows][kv_heads][head_dim][padded keys]`, so a block
    // of queries scores eight keys per vector with no horizontal sums.
    let padded = keys.div_ceil(2 * LANES) * 2 * LANES;
    let mut kt = vec![0.0f32; rows * kv_heads * hd * padded];
    kt.par_chunks_mut(hd * padded)
        .enumerate()
        .for_each(|(rh, dst)| {
            let (r, h) = (rh / kv_heads, rh % kv_heads);
            for j in 0..keys {
                for (c, &x) in k.at(r, h, j, hd).iter().enumerate() {
                    dst[c * padded + j] = x;
                }
            }
        });
    let job = Job {
        q,
        kt: &kt,
        padded,
        wide,
        v,
        shape,
        scale,
        bias,
        rep,
    };
    out.par_chunks_mut(queries * width)
        .enumerate()
        .for_each(|(r, row_out)| {
            row_out
                .par_chunks_mut(QUERY_BLOCK * width)
                .enumerate()
                .for_each(|(b, block)| job.run(simd, r, b * QUERY_BLOCK, block));
        });
    Ok(())
}

/// Keys scored per vector.
const LANES: usize = 8;
// The inner product (`outer.rs`) is eight queries by eight lanes.
const _: () = assert!(QUERY_BLOCK == 8 && LANES == 8);

/// What every task reads.
struct Job<'a> {
    q: Strided<'a>,
    /// Transposed keys (see [`attention`]).
    kt: &'a [f32],
    padded: usize,
    /// Whether the AVX-512 steps run (sixteen lanes at once).
    wide: bool,
    v: Strided<'a>,
    shape: AttentionShape,
    scale: f32,
    bias: Option<AttentionBias<'a>>,
    rep: usize,
}

impl Job<'_> {
    /// [`Job::block`] compiled for AVX2+FMA when `fast`, else for the baseline target.
    fn run(&self, fast: bool, r: usize, first: usize, out: &mut [f32]) {
        #[cfg(target_arch = "x86_64")]
        if fast {
            // SAFETY: `fast` is true only when the CPU has AVX2 and FMA (checked in
            // `attention`).
            unsafe { self.block_avx2(r, first, out) };
            return;
        }
        let _ = fast;
        self.block::<false>(r, first, out);
    }

    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2,fma")]
    fn block_avx2(&self, r: usize, first: usize, out: &mut [f32]) {
        self.block::<true>(r, first, out);
    }

    /// Queries `first..` of row `r` (as many as `out` holds, at most [`QUERY_BLOCK`]), every
    /// head; `SIMD` is the AVX2+FMA build (fused multiply-adds: one rounding instead of two).
    #[inline(always)]
    fn block<const SIMD: bool>(&self, r: usize, first: usize, out: &mut [f32]) {
        let AttentionShape {
            heads,
            queries,
            keys,
            head_dim: hd,
            ..
        } = self.shape;
        let width = heads * hd;
        let n = out.len() / width;
        let padded = self.padded;
        // Probabilities of the block, a full block of rows (those past `n` stay zero).
        let mut p = vec![0.0f32; QUERY_BLOCK * padded];
        // The block's queries of one head, transposed: `qt[c][i]`.
        let mut qt = vec![[0.0f32; QUERY_BLOCK]; hd];
        let mut pt = vec![[0.0f32; QUERY_BLOCK]; keys];
        for h in 0..heads {
            let kvh = h / self.rep;
            let kt = &self.kt[(r * self.shape.kv_heads + kvh) * hd * padded..][..hd * padded];
            for (i, qi) in (first..first + n)
                .map(|i| self.q.at(r, h, i, hd))
                .enumerate()
            {
                for (c, &x) in qi.iter().enumerate() {
                    qt[c][i] = x;
                }
            }
            for jb in (0..padded).step_by(2 * LANES) {
                let rows = Rows {
                    data: kt,
                    offset: jb,
                    stride: padded,
                };
                let scores = outer::outer16(SIMD, self.wide, &qt, rows);
                for (i, acc) in scores.iter().enumerate().take(n) {
                    p[i * padded + jb..][..2 * LANES].copy_from_slice(acc);
                }
            }
            for i in 0..n {
                let row = &mut p[i * padded..][..keys];
                let bias = self.bias.as_ref().map(|b| {
                    let br = if b.per_row { r } else { 0 };
                    let (bq, nq) = if b.per_query {
                        (first + i, queries)
                    } else {
                        (0, 1)
                    };
                    &b.values[(br * nq + bq) * keys..][..keys]
                });
                // Separate sweeps, each a vector loop: scale and bias, max, exp, sum.
                match bias {
                    Some(b) => {
                        for (s, &b) in row.iter_mut().zip(b) {
                            *s = *s * self.scale + b;
                        }
                    }
                    None => row.iter_mut().for_each(|s| *s *= self.scale),
                }
                let max = lanes(row, f32::NEG_INFINITY, f32::max);
                row.iter_mut()
                    .for_each(|s| *s = crate::activation::exp(*s - max));
                let sum = lanes(row, 0.0, |a, b| a + b);
                row.iter_mut().for_each(|e| *e /= sum);
            }
            // Σ p·v, eight values of the head at a time for the whole block of queries.
            // The block's probabilities transposed, `pt[j][i]`, for the weighted values.
            for (j, col) in pt.iter_mut().enumerate() {
                for (i, x) in col.iter_mut().enumerate() {
                    *x = p[i * padded + j];
                }
            }
            let base = r * self.v.row + kvh * self.v.head;
            let mut cb = 0;
            while cb + 2 * LANES <= hd {
                let rows = Rows {
                    data: self.v.data,
                    offset: base + cb,
                    stride: self.v.pos,
                };
                let acc = outer::outer16(SIMD, self.wide, &pt, rows);
                for (i, a) in acc.iter().enumerate().take(n) {
                    out[i * width + h * hd + cb..][..2 * LANES].copy_from_slice(a);
                }
                cb += 2 * LANES;
            }
            for cb in (cb..hd).step_by(LANES) {
                let w = LANES.min(hd - cb);
                let acc = if w == LANES {
                    let rows = Rows {
                        data: self.v.data,
                        offset: base + cb,
                        stride: self.v.pos,
                    };
                    outer::outer(SIMD, &pt, rows)
                } else {
                    // A head size that is not a multiple of eight: its last lanes one by one.
                    let mut acc = [[0.0f32; LANES]; QUERY_BLOCK];
                    for (j, pj) in pt.iter().enumerate() {
                        let v = &self.v.at(r, kvh, j, hd)[cb..cb + w];
                        for (a, &x) in acc.iter_mut().zip(pj) {
                            for (a, &y) in a.iter_mut().zip(v) {
                                *a = madd::<SIMD>(x, y, *a);
                            }
                        }
                    }
                    acc
                };
                for (i, a) in acc.iter().enumerate().take(n) {
                    out[i * width + h * hd + cb..][..w].copy_from_slice(&a[..w]);
                }
            }
        }
    }
}

/// `xs` folded by `f` in eight interleaved lanes (so the loop vectorises), then across them.
#[inline(always)]
fn lanes(xs: &[f32], init: f32, f: impl Fn(f32, f32) -> f32) -> f32 {
    let mut acc = [init; LANES];
    let chunks = xs.chunks_exact(LANES);
    let tail = chunks.remainder().iter().fold(init, |a, &x| f(a, x));
    for c in chunks {
        for l in 0..LANES {
            acc[l] = f(acc[l], c[l]);
        }
    }
    acc.into_iter().fold(tail, f)
}

/// `a·b + c`, fused when `FMA`.
#[inline(always)]
fn madd<const FMA: bool>(a: f32, b: f32, c: f32) -> f32 {
    if FMA { a.mul_add(b, c) } else { a * b + c }
}

mod outer;
#[cfg(test)]
mod tests;
