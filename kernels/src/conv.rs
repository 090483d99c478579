//! 2-D convolution as an implicit GEMM on the packed-weight micro-kernel: no im2col matrix.
//!
//! The input is copied once into a zero-padded channels-last buffer (`[vh][vw][cin]`, the
//! optional nearest-neighbour upsampling applied on the way). In that layout the receptive
//! field of output pixel `(oy, ox)` under kernel row `ky` is one contiguous run of
//! `kw · cin` floats, starting at `((oy·s + ky)·vw + ox·s)·cin`, and neighbouring pixels of
//! an output row start `s · cin` floats apart. So the convolution is
//! `C[pixel, cout] = Σ_ky A_ky · W_kyᵀ`, a GEMM with one k-segment per kernel row whose
//! activations the micro-kernel reads straight from the padded input (six pixels at stride
//! `s · cin`); only the few row panels that straddle two output rows are copied. The weight
//! is packed once, per kernel row, in `(kx, ci)` order ([`PackedConv`]); each finished tile
//! of the product is stored transposed, straight into the channels-first output.
//!
//! Against im2col + GEMM this saves writing and re-reading a matrix `kh · kw` times the
//! input (302 MB for a 3×3 convolution over a 128-channel 256×256 map).

use rayon::prelude::*;

use crate::KernelError;
use crate::gemm::{Activations, MR, OutLayout, PackedWeights, run_segments};

/// A convolution weight packed for [`conv2d`]: PyTorch's `(cout, cin, kh, kw)` weight as
/// one [`PackedWeights`] per kernel row, each `[cout, kw · cin]` in `(kx, ci)` order — or,
/// for a 3×3 kernel that only ever runs at stride 1, as Winograd's 16 transformed weights
/// ([`PackedConv::winograd_3x3`]).
#[derive(Debug, Clone)]
pub struct PackedConv {
    packing: Packing,
    cout: usize,
    cin: usize,
    kh: usize,
    kw: usize,
}

/// How a [`PackedConv`] holds its weight.
#[derive(Debug, Clone)]
enum Packing {
    /// One linear weight per kernel row (the implicit GEMM).
    Rows(Vec<PackedWeights>),
    /// The 16 row-major `[cout, cin]` weights of Winograd's F(2×2, 3×3), `ξ`-major.
    Winograd(Vec<f32>),
}

impl PackedConv {
    /// Packs the `(cout, cin, kh, kw)` weight `w` (row-major, as `nn.Conv2d` stores it).
    ///
    /// # Errors
    /// [`KernelError::ShapeMismatch`] (operand `"weight"`) if `w.len() != cout·cin·kh·kw`;
    /// [`KernelError::Shape`] if a dimension is 0.
    pub fn from_oihw(
        w: &[f32],
        cout: usize,
        cin: usize,
        kh: usize,
        kw: usize,
    ) -> Result<Self, KernelError> {
        check_weight(w, cout, cin, kh, kw)?;
        let rows = (0..kh)
            .map(|ky| {
                PackedWeights::from_fn(cout, kw * cin, |o, k0, out| {
                    for (j, v) in out.iter_mut().enumerate() {
                        let (kx, ci) = ((k0 + j) / cin, (k0 + j) % cin);
                        *v = w[((o * cin + ci) * kh + ky) * kw + kx];
                    }
                })
            })
            .collect::<Result<_, _>>()?;
        Ok(PackedConv {
            packing: Packing::Rows(rows),
            cout,
            cin,
            kh,
            kw,
        })
    }

    /// Packs the `(cout, cin, 3, 3)` weight `w` for stride-1 convolutions by Winograd's
    /// F(2×2, 3×3): 2.25× fewer multiplies than [`PackedConv::from_oihw`]'s packing, for
    /// `16/9` of its memory. Results differ from the direct sum by rounding only (the
    /// transforms add and halve; see the tests for the bound).
    ///
    /// # Errors
    /// As [`PackedConv::from_oihw`]. Running it at a stride other than 1 is a
    /// [`KernelError::Shape`] from [`conv2d`].
    pub fn winograd_3x3(w: &[f32], cout: usize, cin: usize) -> Result<Self, KernelError> {
        check_weight(w, cout, cin, 3, 3)?;
        Ok(PackedConv {
            packing: Packing::Winograd(winograd::transform_weight(w, cout, cin)),
            cout,
            cin,
            kh: 3,
            kw: 3,
        })
    }

    /// Output channels.
    pub fn cout(&self) -> usize {
        self.cout
    }

    /// Input channels.
    pub fn cin(&self) -> usize {
        self.cin
    }

    /// Kernel height and width.
    pub fn kernel(&self) -> (usize, usize) {
        (self.kh, self.kw)
    }

    /// Bytes the packed weight occupies.
    pub fn bytes(&self) -> usize {
        match &self.packing {
            Packing::Rows(ws) => ws.iter().map(PackedWeights::bytes).sum(),
            Packing::Winograd(u) => std::mem::size_of_val(u.as_slice()),
        }
    }
}

/// Checks a `(cout, cin, kh, kw)` weight's length and dimensions.
fn check_weight(
    w: &[f32],
    cout: usize,
    cin: usize,
    kh: usize,
    kw: usize,
) -> Result<(), KernelError> {
    if cout * cin * kh * kw == 0 {
        return Err(KernelError::Shape(format!(
            "convolution weight ({cout}, {cin}, {kh}, {kw}) has a zero dimension"
        )));
    }
    let expected = [cout, cin, kh, kw]
        .iter()
        .try_fold(1usize, |a, &d| a.checked_mul(d))
        .unwrap_or(usize::MAX);
    if w.len() != expected {
        return Err(KernelError::ShapeMismatch {
            operand: "weight",
            expected,
            actual: w.len(),
        });
    }
    Ok(())
}

/// Where a [`conv2d`] reads its input: stride, zero padding and nearest-neighbour
/// upsampling (applied first, as `Upsample` then `Conv2d`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConvGeometry {
    /// Step between output pixels, in (upsampled, padded) input pixels; at least 1.
    pub stride: usize,
    /// Zero padding `[top, left, bottom, right]` around the upsampled input.
    pub pad: [usize; 4],
    /// Nearest-neighbour upsampling factor of the input (1: none); at least 1.
    pub upsample: usize,
}

impl ConvGeometry {
    /// Stride 1, `p` zeros on every side, no upsampling ("same" for a `2p + 1` kernel).
    pub fn same(p: usize) -> Self {
        ConvGeometry {
            stride: 1,
            pad: [p; 4],
            upsample: 1,
        }
    }
}

/// One picture's convolution: `x` is `(cin, h, w)` channels-first, the result
/// `(cout, oh, ow)` channels-first with `bias` added, returned with `(oh, ow)`. Runs on the
/// current rayon pool.
///
/// # Errors
/// [`KernelError::ShapeMismatch`] naming `"x"` or `"bias"` when a length disagrees with
/// `cin · h · w` or `cout`; [`KernelError::Shape`] when the stride or upsampling factor is
/// 0 or the padded input is smaller than the kernel.
///
/// # Example
/// ```
/// use tessera_kernels::{ConvGeometry, PackedConv, conv2d};
/// // One 3×3 box filter over a 1-channel 3×3 picture, "same" padding.
/// let conv = PackedConv::from_oihw(&[1.0; 9], 1, 1, 3, 3)?;
/// let x = [1.0f32; 9];
/// let (y, oh, ow) = conv2d(&x, 3, 3, &conv, Some(&[0.5]), ConvGeometry::same(1))?;
/// assert_eq!((oh, ow), (3, 3));
/// assert_eq!(y, [4.5, 6.5, 4.5, 6.5, 9.5, 6.5, 4.5, 6.5, 4.5]);
/// # Ok::<(), tessera_kernels::KernelError>(())
/// ```
pub fn conv2d(
    x: &[f32],
    h: usize,
    w: usize,
    conv: &PackedConv,
    bias: Option<&[f32]>,
    g: ConvGeometry,
) -> Result<(Vec<f32>, usize, usize), KernelError> {
    let (cin, cout) = (conv.cin, conv.cout);
    let (kh, kw) = conv.kernel();
    let expected = cin.saturating_mul(h).saturating_mul(w);
    if x.len() != expected {
        return Err(KernelError::ShapeMismatch {
            operand: "x",
            expected,
            actual: x.len(),
        });
    }
    if let Some(b) = bias.filter(|b| b.len() != cout) {
        return Err(KernelError::ShapeMismatch {
            operand: "bias",
            expected: cout,
            actual: b.len(),
        });
    }
    let [t, l, b, r] = g.pad;
    if g.stride == 0 || g.upsample == 0 {
        return Err(KernelError::Shape(format!(
            "convolution stride {} / upsample {}: both must be at least 1",
            g.stride, g.upsample
        )));
    }
    let (vh, vw) = (h * g.upsample + t + b, w * g.upsample + l + r);
    if vh < kh || vw < kw || h * w == 0 {
        return Err(KernelError::Shape(format!(
            "convolution input {h}×{w} (padded {vh}×{vw}) smaller than the {kh}×{kw} kernel"
        )));
    }
    check_stride(conv, g.stride)?;
    let (oh, ow) = ((vh - kh) / g.stride + 1, (vw - kw) / g.stride + 1);
    let mut out = vec![0.0f32; cout * oh * ow];
    SCRATCH.with_borrow_mut(|padded| match &conv.packing {
        Packing::Winograd(u) => {
            pad_channels_first(x, cin, (h, w), (vh, vw), g, padded);
            winograd::product_into(padded, (cin, vh, vw), u, bias, &mut out);
        }
        Packing::Rows(rows) => {
            pad_channels_last(x, cin, (h, w), (vh, vw), g, padded);
            let layout = OutLayout::Transposed;
            product_into(
                padded,
                (vh, vw),
                conv,
                rows,
                bias,
                g.stride,
                &mut out,
                layout,
            );
        }
    });
    Ok((out, oh, ow))
}

/// The convolution of a channels-last picture `x` `(h, w, cin)` that is already padded (no
/// zero padding or upsampling is added): the result is `(oh, ow, cout)` channels-last, with
/// `bias` added, returned with `(oh, ow)`. `x` is read in place, nothing is copied: the
/// layout for a model that stays channels-last from one convolution to the next (a 1-D
/// signal as `(1, len, cin)`: time-major).
///
/// # Errors
/// As [`conv2d`].
///
/// # Example
/// ```
/// use tessera_kernels::{PackedConv, conv2d_channels_last};
/// // Two channels in, one out, kernel 1×2 summing both channels of two neighbours.
/// let conv = PackedConv::from_oihw(&[1.0; 4], 1, 2, 1, 2)?;
/// let x = [1.0f32, 10.0, 2.0, 20.0, 3.0, 30.0]; // (1, 3, 2): time-major
/// let (y, oh, ow) = conv2d_channels_last(&x, 1, 3, &conv, None, 1)?;
/// assert_eq!((oh, ow, y), (1, 2, vec![33.0, 55.0]));
/// # Ok::<(), tessera_kernels::KernelError>(())
/// ```
pub fn conv2d_channels_last(
    x: &[f32],
    h: usize,
    w: usize,
    conv: &PackedConv,
    bias: Option<&[f32]>,
    stride: usize,
) -> Result<(Vec<f32>, usize, usize), KernelError> {
    let (kh, kw) = conv.kernel();
    let expected = conv.cin.saturating_mul(h).saturating_mul(w);
    if x.len() != expected {
        return Err(KernelError::ShapeMismatch {
            operand: "x",
            expected,
            actual: x.len(),
        });
    }
    if let Some(b) = bias.filter(|b| b.len() != conv.cout) {
        return Err(KernelError::ShapeMismatch {
            operand: "bias",
            expected: conv.cout,
            actual: b.len(),
        });
    }
    if stride == 0 || h < kh || w < kw {
        return Err(KernelError::Shape(format!(
            "convolution input {h}×{w} smaller than the {kh}×{kw} kernel, or stride 0"
        )));
    }
    let Packing::Rows(rows) = &conv.packing else {
        return Err(KernelError::Shape(
            "a convolution packed for Winograd runs through conv2d (channels-first)".into(),
        ));
    };
    let (oh, ow) = ((h - kh) / stride + 1, (w - kw) / stride + 1);
    let mut out = vec![0.0f32; oh * ow * conv.cout];
    let layout = OutLayout::RowMajor;
    product_into(x, (h, w), conv, rows, bias, stride, &mut out, layout);
    Ok((out, oh, ow))
}

/// The product of the padded channels-last `x` (`vh × vw`) into `out`, channels-last
/// `(oh, ow, cout)` or channels-first (`layout`); the caller made `out` `oh · ow · cout` long.
#[allow(clippy::too_many_arguments)]
fn product_into(
    x: &[f32],
    (vh, vw): (usize, usize),
    conv: &PackedConv,
    rows: &[PackedWeights],
    bias: Option<&[f32]>,
    stride: usize,
    out: &mut [f32],
    layout: OutLayout,
) {
    let (kh, kw) = conv.kernel();
    let (oh, ow) = ((vh - kh) / stride + 1, (vw - kw) / stride + 1);
    let a = ConvRows {
        x,
        cin: conv.cin,
        vw,
        ow,
        stride,
        kw,
    };
    let ws: Vec<&PackedWeights> = rows.iter().collect();
    run_segments(&a, oh * ow, &ws, bias, out, (layout, true));
}

/// [`KernelError::Shape`] if `conv` is packed for Winograd and `stride` is not 1.
fn check_stride(conv: &PackedConv, stride: usize) -> Result<(), KernelError> {
    if matches!(conv.packing, Packing::Winograd(_)) && stride != 1 {
        return Err(KernelError::Shape(format!(
            "a convolution packed for Winograd runs at stride 1, not {stride}"
        )));
    }
    Ok(())
}

thread_local! {
    /// The padded input of the calling thread's last convolution, kept for the next: a
    /// buffer of tens of megabytes allocated afresh each call costs a page fault per 4 KiB
    /// on first touch (a tenth of a 3×3 convolution over a 128-channel 256×256 map).
    static SCRATCH: std::cell::RefCell<Vec<f32>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// The row of an `h`-row input that padded row `y` shows after `top` rows of zero padding
/// and `up`-fold upsampling, or `None` for a padding row.
fn source_row(y: usize, top: usize, up: usize, h: usize) -> Option<usize> {
    y.checked_sub(top).map(|v| v / up).filter(|&sy| sy < h)
}

/// The zero-padded, upsampled, channels-last copy `[vh][vw][cin]` of the channels-first
/// `x` into `padded`, built one padded row per task.
fn pad_channels_last(
    x: &[f32],
    cin: usize,
    (h, w): (usize, usize),
    (vh, vw): (usize, usize),
    g: ConvGeometry,
    padded: &mut Vec<f32>,
) {
    let [t, l, ..] = g.pad;
    let up = g.upsample;
    // Stale values from the last call are overwritten: every row is either padding (zeroed)
    // or zeroed at its sides and written in between.
    padded.resize(vh * vw * cin, 0.0);
    padded
        .par_chunks_mut(vw * cin)
        .enumerate()
        .for_each(|(y, row)| {
            let Some(sy) = source_row(y, t, up, h) else {
                row.fill(0.0);
                return;
            };
            row[..l * cin].fill(0.0);
            row[(l + w * up) * cin..].fill(0.0);
            // Sixty-four source pixels at a time: each plane's run is read whole, and the
            // destination pixels it scatters to (at most `64 · up · cin` floats) stay cached.
            for sx0 in (0..w).step_by(64) {
                let n = 64.min(w - sx0);
                let dst = &mut row[(l + sx0 * up) * cin..][..n * up * cin];
                for ci in 0..cin {
                    let src = &x[(ci * h + sy) * w + sx0..][..n];
                    for (j, &v) in src.iter().enumerate() {
                        for u in 0..up {
                            dst[(j * up + u) * cin + ci] = v;
                        }
                    }
                }
            }
        });
}

/// The zero-padded, upsampled, channels-first copy `[cin][vh][vw]` of `x` into `padded`
/// (the Winograd path's input), one channel per task.
fn pad_channels_first(
    x: &[f32],
    cin: usize,
    (h, w): (usize, usize),
    (vh, vw): (usize, usize),
    g: ConvGeometry,
    padded: &mut Vec<f32>,
) {
    let [t, l, ..] = g.pad;
    let up = g.upsample;
    padded.resize(cin * vh * vw, 0.0);
    padded
        .par_chunks_mut(vh * vw)
        .zip(x.par_chunks(h * w))
        .for_each(|(plane, src)| {
            for (y, row) in plane.chunks_exact_mut(vw).enumerate() {
                let Some(sy) = source_row(y, t, up, h) else {
                    row.fill(0.0);
                    continue;
                };
                row[..l].fill(0.0);
                row[l + w * up..].fill(0.0);
                let dst = &mut row[l..l + w * up];
                for (d, &v) in dst.chunks_exact_mut(up).zip(&src[sy * w..(sy + 1) * w]) {
                    d.fill(v);
                }
            }
        });
}

/// The convolution's activations: pixel `r = oy·ow + ox`, k-segment `ky`.
struct ConvRows<'a> {
    x: &'a [f32],
    cin: usize,
    vw: usize,
    ow: usize,
    stride: usize,
    kw: usize,
}

impl ConvRows<'_> {
    /// Offset of pixel `r`'s receptive field under kernel row `ky`.
    fn start(&self, ky: usize, r: usize) -> usize {
        let (oy, ox) = (r / self.ow, r % self.ow);
        ((oy * self.stride + ky) * self.vw + ox * self.stride) * self.cin
    }
}

impl Activations for ConvRows<'_> {
    fn tile(&self, ky: usize, r0: usize) -> Option<(*const f32, usize)> {
        let lda = self.stride * self.cin;
        // Evenly spaced: six pixels of one output row, or any six when the output rows are
        // the padded input's rows (a 1×1 stride-1 convolution without side padding).
        let one_row = r0 % self.ow + MR <= self.ow || (self.stride == 1 && self.vw == self.ow);
        let last = self.start(ky, r0 + MR - 1) + self.kw * self.cin;
        // Rows a multiple of 1024 floats apart share one L1 set: copy those.
        (one_row && last <= self.x.len() && !lda.is_multiple_of(1024))
            .then(|| (self.x[self.start(ky, r0)..].as_ptr(), lda))
    }

    fn row(&self, ky: usize, r: usize) -> &[f32] {
        &self.x[self.start(ky, r)..][..self.kw * self.cin]
    }
}

#[cfg(test)]
mod tests;
mod winograd;
