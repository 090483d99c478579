//! Stride-1 3×3 convolutions by Winograd's minimal filtering F(2×2, 3×3) (Lavin & Gray
//! 2016, "Fast Algorithms for Convolutional Neural Networks"): 16 multiplies per 2×2 output
//! tile and channel pair instead of 36, 2.25× fewer.
//!
//! Each 4×4 input tile `d` (2 apart, overlapping by 2) is transformed to `V = Bᵀ d B`, each
//! 3×3 filter `g` once at load to `U = G g Gᵀ`, and for each of the 16 positions `ξ` the sum
//! over input channels `M_ξ[cout, tile] = Σ_ci U_ξ[cout, ci] · V_ξ[tile, ci]` is one GEMM on
//! the packed-weight micro-kernel, with `U_ξ` as the activations (read in place) and `V_ξ`
//! as the packed weight — written straight into the panel layout by the input transform,
//! sixteen neighbouring tiles per panel row. The 2×2 outputs are `Aᵀ M A`; `M_ξ` is
//! channel-major, so each channel's outputs come out as contiguous runs of the
//! channels-first result.
//!
//! The input is the channels-first picture zero-padded (and upsampled) once into scratch;
//! tiles past its bottom or right edge read zeros, and outputs past the edge are dropped.
//! Tiles are taken a row of tiles or more at a time (about 128), each batch's `V` and `M` in
//! the calling thread's scratch (`16 · tiles · channels` floats each); batches run in
//! parallel with their GEMMs on one thread, and a map of at most 256 tiles is one batch
//! whose GEMMs use the pool.
//!
//!```text
//! Bᵀ = | 1  0 -1  0 |    G = | 1    0    0  |    Aᵀ = | 1  1  1  0 |
//!      | 0  1  1  0 |        | ½    ½    ½  |         | 0  1 -1 -1 |
//!      | 0 -1  1  0 |        | ½   -½    ½  |
//!      | 0  1  0 -1 |        | 0    0    1  |
//! ```

use std::cell::RefCell;

use rayon::prelude::*;

use crate::gemm::{Matrix, NR, OutLayout, PackedWeights, SharedOut, run_segments};

/// Tiles per batch (rounded to whole rows of tiles).
const BATCH_TILES: usize = 128;
/// Maps of at most this many tiles are one batch with pooled GEMMs.
const ONE_BATCH_TILES: usize = 256;

/// The 16 transformed weights `U_ξ = G g Gᵀ` of the `(cout, cin, 3, 3)` weight `w`, each a
/// row-major `[cout, cin]` matrix, `ξ`-major (`16/9` of the weight). The transform is
/// computed in `f64`.
pub(super) fn transform_weight(w: &[f32], cout: usize, cin: usize) -> Vec<f32> {
    let mut u = vec![0.0f32; 16 * cout * cin];
    for (oc, g) in w.chunks_exact(9).enumerate() {
        let g: Vec<f64> = g.iter().map(|&v| f64::from(v)).collect();
        // G g: 4 × 3.
        let mut gg = [[0.0f64; 3]; 4];
        for c in 0..3 {
            let (a, b, d) = (g[c], g[3 + c], g[6 + c]);
            gg[0][c] = a;
            gg[1][c] = 0.5 * (a + b + d);
            gg[2][c] = 0.5 * (a - b + d);
            gg[3][c] = d;
        }
        // (G g) Gᵀ: 4 × 4.
        for (r, &[a, b, d]) in gg.iter().enumerate() {
            let row = [a, 0.5 * (a + b + d), 0.5 * (a - b + d), d];
            for (c, v) in row.into_iter().enumerate() {
                u[(r * 4 + c) * cout * cin + oc] = v as f32;
            }
        }
    }
    u
}

/// A batch's transformed input and products, kept between calls.
struct Scratch {
    /// `V_ξ`, `[tiles, cin]` in the packed layout.
    v: Vec<PackedWeights>,
    /// `M_ξ`, `[cout, tiles]` row-major, `ξ`-major.
    m: Vec<f32>,
}

thread_local! {
    static SCRATCH: RefCell<Scratch> = RefCell::new(Scratch {
        v: (0..16).map(|_| PackedWeights::empty()).collect(),
        m: Vec::new(),
    });
}

/// The stride-1 3×3 convolution of the padded channels-first `x` (`cin × vh × vw`, `vh, vw
/// ≥ 3`) with the transformed weights `u` into the channels-first `out` (`cout · oh · ow`),
/// `bias` added.
pub(super) fn product_into(
    x: &[f32],
    (cin, vh, vw): (usize, usize, usize),
    u: &[f32],
    bias: Option<&[f32]>,
    out: &mut [f32],
) {
    let cout = u.len() / (16 * cin);
    let (oh, ow) = (vh - 2, vw - 2);
    let (th, tw) = (oh.div_ceil(2), ow.div_ceil(2));
    let g = Geometry {
        x,
        vh,
        vw,
        cin,
        cout,
        oh,
        ow,
        tw,
    };
    let out = SharedOut(out.as_mut_ptr());
    if th * tw <= ONE_BATCH_TILES {
        // SAFETY: one batch writes every output, and nothing else runs.
        unsafe { g.batch(0..th, u, bias, &out, true) };
        return;
    }
    let rows = (BATCH_TILES / tw).max(1);
    (0..th.div_ceil(rows)).into_par_iter().for_each(|b| {
        let tiles = b * rows..th.min((b + 1) * rows);
        // SAFETY: batch `b` writes only the output rows of its rows of tiles.
        unsafe { g.batch(tiles, u, bias, &out, false) };
    });
}

/// One call's shapes.
struct Geometry<'a> {
    x: &'a [f32],
    vh: usize,
    vw: usize,
    cin: usize,
    cout: usize,
    oh: usize,
    ow: usize,
    tw: usize,
}

impl Geometry<'_> {
    /// Rows of tiles `tiles` through the three steps, their outputs into `out`; the GEMMs on
    /// the pool when `pool` is on.
    ///
    /// # Safety
    /// `out` points at `cout · oh · ow` floats, of which this call's output rows
    /// (`2·tiles.start .. 2·tiles.end`, every channel) no one else touches during the call.
    unsafe fn batch(
        &self,
        tiles: std::ops::Range<usize>,
        u: &[f32],
        bias: Option<&[f32]>,
        out: &SharedOut,
        pool: bool,
    ) {
        let (cin, cout) = (self.cin, self.cout);
        let t = tiles.len() * self.tw;
        SCRATCH.with_borrow_mut(|Scratch { v, m }| {
            for v in v.iter_mut() {
                v.reshape(t, cin);
            }
            m.resize(16 * cout * t, 0.0);
            dispatch_input(self, tiles.start, t, v);
            for (xi, v) in v.iter().enumerate() {
                let a = Matrix {
                    x: &u[xi * cout * cin..][..cout * cin],
                    k: cin,
                };
                let mx = &mut m[xi * cout * t..][..cout * t];
                run_segments(&a, cout, &[v], None, mx, (OutLayout::RowMajor, pool));
            }
            // SAFETY: the caller's contract.
            unsafe { dispatch_output(self, tiles.start, t, m, bias, out) };
        });
    }
}

/// `a + b`, lane by lane.
#[inline(always)]
fn add<const N: usize>(a: &[f32; N], b: &[f32; N]) -> [f32; N] {
    let mut o = [0.0; N];
    for l in 0..N {
        o[l] = a[l] + b[l];
    }
    o
}

/// `a − b`, lane by lane.
#[inline(always)]
fn sub<const N: usize>(a: &[f32; N], b: &[f32; N]) -> [f32; N] {
    let mut o = [0.0; N];
    for l in 0..N {
        o[l] = a[l] - b[l];
    }
    o
}

/// `Bᵀ d B` of `N` tiles side by side: `d[p]` holds pixel `p = 4·i + j` of each.
///
/// (Indexed loops, not `array::from_fn`: the closures keep LLVM from vectorising the
/// lanes, measured 20–40 % slower.)
#[allow(clippy::needless_range_loop)]
#[inline(always)]
fn input_tile<const N: usize>(d: &[[f32; N]; 16]) -> [[f32; N]; 16] {
    let px = |i: usize, j: usize| &d[i * 4 + j];
    // Bᵀ d, row by row.
    let mut r = [[[0.0f32; N]; 4]; 4];
    for j in 0..4 {
        r[0][j] = sub(px(0, j), px(2, j));
        r[1][j] = add(px(1, j), px(2, j));
        r[2][j] = sub(px(2, j), px(1, j));
        r[3][j] = sub(px(1, j), px(3, j));
    }
    let mut v = [[0.0f32; N]; 16];
    for (i, r) in r.iter().enumerate() {
        v[i * 4] = sub(&r[0], &r[2]);
        v[i * 4 + 1] = add(&r[1], &r[2]);
        v[i * 4 + 2] = sub(&r[2], &r[1]);
        v[i * 4 + 3] = sub(&r[1], &r[3]);
    }
    v
}

/// `Aᵀ m A + b` of `N` tiles side by side: outputs `[y00, y01, y10, y11]`.
#[allow(clippy::needless_range_loop)]
#[inline(always)]
fn output_tile<const N: usize>(m: &[[f32; N]; 16], b: f32) -> [[f32; N]; 4] {
    let e = |i: usize, j: usize| &m[i * 4 + j];
    let mut s = [[[0.0f32; N]; 4]; 2];
    for j in 0..4 {
        s[0][j] = add(&add(e(0, j), e(1, j)), e(2, j));
        s[1][j] = sub(&sub(e(1, j), e(2, j)), e(3, j));
    }
    let b = [b; N];
    let mut y = [[0.0f32; N]; 4];
    for (r, s) in s.iter().enumerate() {
        y[2 * r] = add(&add(&add(&s[0], &s[1]), &s[2]), &b);
        y[2 * r + 1] = add(&sub(&sub(&s[1], &s[2]), &s[3]), &b);
    }
    y
}

/// [`transform_input`], in the AVX2 build where the CPU has it.
fn dispatch_input(g: &Geometry<'_>, ty0: usize, t: usize, v: &mut [PackedWeights]) {
    #[cfg(target_arch = "x86_64")]
    if is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU has AVX2 (checked just above).
        unsafe { transform_input_avx2(g, ty0, t, v) };
        return;
    }
    transform_input(g, ty0, t, v);
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn transform_input_avx2(g: &Geometry<'_>, ty0: usize, t: usize, v: &mut [PackedWeights]) {
    transform_input(g, ty0, t, v);
}

/// `V_ξ` of the `t` tiles from row of tiles `ty0`, one panel of `NR` tiles (the lanes) and
/// one channel at a time, into the rows of `v`'s packed weights.
#[inline(always)]
fn transform_input(g: &Geometry<'_>, ty0: usize, t: usize, v: &mut [PackedWeights]) {
    let plane = g.vh * g.vw;
    for p in 0..t.div_ceil(NR) {
        let first = p * NR;
        let (ty, tx0) = (ty0 + first / g.tw, first % g.tw);
        // Sixteen tiles of one row, all inside the picture: read as rows of 34 pixels.
        let whole =
            tx0 + NR <= g.tw && first + NR <= t && 2 * (tx0 + NR) + 2 <= g.vw && 2 * ty + 4 <= g.vh;
        for c in 0..g.cin {
            let x = &g.x[c * plane..][..plane];
            let mut d = [[0.0f32; NR]; 16];
            if whole {
                for i in 0..4 {
                    let row = &x[(2 * ty + i) * g.vw + 2 * tx0..][..2 * NR + 2];
                    for l in 0..NR {
                        for j in 0..4 {
                            d[i * 4 + j][l] = row[2 * l + j];
                        }
                    }
                }
            } else {
                for l in 0..NR.min(t - first) {
                    let tile = first + l;
                    let (ty, tx) = (ty0 + tile / g.tw, tile % g.tw);
                    for (pix, d) in d.iter_mut().enumerate() {
                        let (y, xx) = (2 * ty + pix / 4, 2 * tx + pix % 4);
                        if y < g.vh && xx < g.vw {
                            d[l] = x[y * g.vw + xx];
                        }
                    }
                }
            }
            for (v, lanes) in v.iter_mut().zip(input_tile(&d)) {
                *v.row_mut(p, c) = lanes;
            }
        }
    }
}

/// [`transform_output`], in the AVX2 build where the CPU has it.
///
/// # Safety
/// As [`Geometry::batch`].
unsafe fn dispatch_output(
    g: &Geometry<'_>,
    ty0: usize,
    t: usize,
    m: &[f32],
    bias: Option<&[f32]>,
    out: &SharedOut,
) {
    #[cfg(target_arch = "x86_64")]
    if is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU has AVX2 (checked just above); the rest is the caller's.
        unsafe { transform_output_avx2(g, ty0, t, m, bias, out) };
        return;
    }
    // SAFETY: the caller's contract.
    unsafe { transform_output(g, ty0, t, m, bias, out) };
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn transform_output_avx2(
    g: &Geometry<'_>,
    ty0: usize,
    t: usize,
    m: &[f32],
    bias: Option<&[f32]>,
    out: &SharedOut,
) {
    // SAFETY: the caller's contract.
    unsafe { transform_output(g, ty0, t, m, bias, out) };
}

/// `Aᵀ M A + bias` of the `t` tiles from row of tiles `ty0` into `out`, channel by channel,
/// sixteen neighbouring tiles at a time where a row has them.
///
/// # Safety
/// As [`Geometry::batch`].
#[inline(always)]
unsafe fn transform_output(
    g: &Geometry<'_>,
    ty0: usize,
    t: usize,
    m: &[f32],
    bias: Option<&[f32]>,
    out: &SharedOut,
) {
    let (cout, tw) = (g.cout, g.tw);
    for o in 0..cout {
        let b = bias.map_or(0.0, |b| b[o]);
        let ms: [&[f32]; 16] = std::array::from_fn(|xi| &m[(xi * cout + o) * t..][..t]);
        // Output row `oy` of channel `o`.
        let row = |oy: usize| {
            // SAFETY: the row is inside the output and in this batch's rows (the caller's
            // contract), and this loop holds one row at a time.
            unsafe { std::slice::from_raw_parts_mut(out.get().add((o * g.oh + oy) * g.ow), g.ow) }
        };
        for r in 0..t / tw {
            let ty = ty0 + r;
            let mut tx = 0;
            while tx < tw {
                let tile = r * tw + tx;
                if tx + NR <= tw && 2 * (tx + NR) <= g.ow {
                    let e: [[f32; NR]; 16] = std::array::from_fn(|xi| {
                        let mut lanes = [0.0; NR];
                        lanes.copy_from_slice(&ms[xi][tile..tile + NR]);
                        lanes
                    });
                    let y = output_tile(&e, b);
                    for dy in 0..2 {
                        if 2 * ty + dy < g.oh {
                            let dst = &mut row(2 * ty + dy)[2 * tx..][..2 * NR];
                            for l in 0..NR {
                                dst[2 * l] = y[2 * dy][l];
                                dst[2 * l + 1] = y[2 * dy + 1][l];
                            }
                        }
                    }
                    tx += NR;
                } else {
                    let e: [[f32; 1]; 16] = std::array::from_fn(|xi| [ms[xi][tile]]);
                    let y = output_tile(&e, b);
                    for (q, y) in y.iter().enumerate() {
                        let (oy, ox) = (2 * ty + q / 2, 2 * tx + q % 2);
                        if oy < g.oh && ox < g.ow {
                            row(oy)[ox] = y[0];
                        }
                    }
                    tx += 1;
                }
            }
        }
    }
}
