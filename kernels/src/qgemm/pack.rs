//! [`PackedQuant`]: a block-quantized weight repacked once, at load, into the integer
//! micro-kernels' panel layout — the only copy of the weight a model keeps.
//!
//! The weight is split into panels of [`NR`] = 16 output features (rows of `W`; the last
//! panel is padded with rows of zero bytes — scale 0, so their products are 0 and never
//! stored), each stored as consecutive *units* along `k`: one block
//! of 32 for `Q8_0`, one super-block of 256 for `Q4_K`. Within a unit the quants are
//! interleaved so that one 64-byte load holds four consecutive `k` values of each of the 16
//! features — the operand of one `vpdpbusd` that advances sixteen dot products by four
//! steps. Scales stay in the file's precision (f16 and 6-bit integers), so the packed weight
//! is the size of llama.cpp's blocks (`Q8_0` 1.00×, `Q4_K` 1.03×).
//!
//! Unit layouts (`c` a feature of the panel, `g` a group of four `k` values):
//! - `Q8_0` (544 bytes): `d[c]` f16 ×16, then `(q + 128)[g][c][0..4]` as u8 (`g < 8`); the
//!   +128 makes the quants unsigned for `vpdpbusd`, and the kernel subtracts `128 · Σa` of
//!   each activation block.
//! - `Q4_K` (2368 bytes): `d[c]` f16 ×16, `dmin[c]` f16 ×16, the sub-block scales `sc[s][c]`
//!   and mins `m[s][c]` as u8 (`s < 8`), then for each sub-block `s` of 32 values and pair
//!   `j < 4` the nibbles `q[g = j] | q[g = j + 4] << 4` as `[c][0..4]`.
//!
//! Block formats (`ggml-common.h` in llama.cpp): `block_q8_0 { f16 d; i8 qs[32]; }`, value
//! `d · q`; `block_q4_K { f16 d, dmin; u8 scales[12]; u8 qs[128]; }`, value
//! `d · sc[s] · q − dmin · m[s]` with the 6-bit `sc`/`m` unpacked as `get_scale_min_k4` does
//! and the 4-bit quants of values `64c..64c+32` in the low nibbles of `qs[32c..32c+32]`, those
//! of `64c+32..64c+64` in the high nibbles.

use half::f16;

use super::{NR, QuantFormat};
use crate::KernelError;

/// Bytes of one `Q8_0` unit (16 features × 32 values).
pub(super) const Q8_0_UNIT: usize = 2 * NR + 32 * NR;
/// Bytes of one `Q4_K` unit (16 features × 256 values).
pub(super) const Q4K_UNIT: usize = 4 * NR + 16 * NR + 128 * NR;
/// Offset of the `Q4_K` unit's quants.
pub(super) const Q4K_QS: usize = 4 * NR + 16 * NR;

/// A block-quantized linear weight `[n, k]` in the integer micro-kernels' layout (see the
/// module docs), built once by [`PackedQuant::from_ggml`] and read by every
/// [`matmul_quant`](super::matmul_quant) call.
#[derive(Debug, Clone)]
pub struct PackedQuant {
    format: QuantFormat,
    n: usize,
    k: usize,
    /// `panels · units` units, panel-major.
    data: Vec<u8>,
}

impl PackedQuant {
    /// Repacks `blocks`, the `[n, k]` weight as llama.cpp stores it (row `j` = output feature
    /// `j`, each row `k / format.block()` blocks laid end to end, as a GGUF tensor or
    /// candle's `QTensor::data` hold it).
    ///
    /// # Errors
    /// [`KernelError::Shape`] if `k` is not a multiple of the format's block length;
    /// [`KernelError::ShapeMismatch`] (operand `"weight"`) if `blocks` is not `n` rows of
    /// whole blocks.
    pub fn from_ggml(
        format: QuantFormat,
        blocks: &[u8],
        n: usize,
        k: usize,
    ) -> Result<Self, KernelError> {
        if !k.is_multiple_of(format.block()) {
            return Err(KernelError::Shape(format!(
                "a {format} weight's rows must be whole blocks of {}; k = {k}",
                format.block()
            )));
        }
        let row_bytes = k / format.block() * format.block_bytes();
        let expected = n.saturating_mul(row_bytes);
        if blocks.len() != expected {
            return Err(KernelError::ShapeMismatch {
                operand: "weight",
                expected,
                actual: blocks.len(),
            });
        }
        let units = k / format.block();
        let panels = n.div_ceil(NR);
        let mut data = vec![0u8; panels * units * format.unit_bytes()];
        if data.is_empty() {
            return Ok(PackedQuant { format, n, k, data });
        }
        for (p, panel) in data
            .chunks_exact_mut(units * format.unit_bytes())
            .enumerate()
        {
            for (u, unit) in panel.chunks_exact_mut(format.unit_bytes()).enumerate() {
                for c in 0..NR.min(n - p * NR) {
                    let row = &blocks[(p * NR + c) * row_bytes..][..row_bytes];
                    match format {
                        QuantFormat::Q8_0 => put_q8_0(unit, c, &row[u * 34..u * 34 + 34]),
                        QuantFormat::Q4K => put_q4k(unit, c, &row[u * 144..u * 144 + 144]),
                    }
                }
            }
        }
        Ok(PackedQuant { format, n, k, data })
    }

    /// Output features (rows of `W`).
    pub fn n(&self) -> usize {
        self.n
    }

    /// Inputs per feature.
    pub fn k(&self) -> usize {
        self.k
    }

    /// The block format.
    pub fn format(&self) -> QuantFormat {
        self.format
    }

    /// Bytes held (the quants and scales, padding panel included).
    pub fn bytes(&self) -> usize {
        self.data.len()
    }

    /// Number of 16-feature panels.
    pub(super) fn panels(&self) -> usize {
        self.n.div_ceil(NR)
    }

    /// Units along `k` in each panel.
    pub(super) fn units(&self) -> usize {
        self.k / self.format.block()
    }

    /// Address of panel `p`'s unit `u`.
    pub(super) fn unit_ptr(&self, p: usize, u: usize) -> *const u8 {
        self.data[(p * self.units() + u) * self.format.unit_bytes()..].as_ptr()
    }

    /// Row `row` of `W` (output feature `row`), dequantized into `out` (`k` floats) exactly
    /// as llama.cpp dequantizes it: how a quantized token embedding is looked up from the
    /// same copy its tied LM head multiplies with.
    ///
    /// # Errors
    /// [`KernelError::Shape`] if `row >= n`; [`KernelError::ShapeMismatch`] (operand
    /// `"out"`) if `out` is not `k` long.
    pub fn dequantize_row(&self, row: usize, out: &mut [f32]) -> Result<(), KernelError> {
        if row >= self.n {
            return Err(KernelError::Shape(format!(
                "row {row} of a weight with {} rows",
                self.n
            )));
        }
        if out.len() != self.k {
            return Err(KernelError::ShapeMismatch {
                operand: "out",
                expected: self.k,
                actual: out.len(),
            });
        }
        let (p, c) = (row / NR, row % NR);
        let units = self.units();
        let panel = &self.data[p * units * self.format.unit_bytes()..];
        for (u, vals) in out.chunks_exact_mut(self.format.block()).enumerate() {
            let unit = &panel[u * self.format.unit_bytes()..][..self.format.unit_bytes()];
            match self.format {
                QuantFormat::Q8_0 => {
                    let d = f16_at(unit, c).to_f32();
                    for (i, v) in vals.iter_mut().enumerate() {
                        let q = unit[2 * NR + ((i / 4) * NR + c) * 4 + i % 4];
                        *v = d * f32::from((q ^ 0x80) as i8);
                    }
                }
                QuantFormat::Q4K => {
                    let (d, dmin) = (f16_at(unit, c).to_f32(), f16_at(unit, NR + c).to_f32());
                    for (s, sub) in vals.chunks_exact_mut(32).enumerate() {
                        let sc = d * f32::from(unit[4 * NR + s * NR + c]);
                        let m = dmin * f32::from(unit[12 * NR + s * NR + c]);
                        for (i, v) in sub.iter_mut().enumerate() {
                            let (g, t) = (i / 4, i % 4);
                            let byte = unit[Q4K_QS + (((s * 4 + g % 4) * NR + c) * 4) + t];
                            let q = if g < 4 { byte & 0xF } else { byte >> 4 };
                            *v = sc * f32::from(q) - m;
                        }
                    }
                }
            }
        }
        Ok(())
    }
}

/// The f16 at index `i` of `unit`'s leading f16 array(s).
fn f16_at(unit: &[u8], i: usize) -> f16 {
    f16::from_le_bytes([unit[2 * i], unit[2 * i + 1]])
}

/// Feature `c`'s `Q8_0` block (34 bytes) into `unit`.
fn put_q8_0(unit: &mut [u8], c: usize, block: &[u8]) {
    unit[2 * c..2 * c + 2].copy_from_slice(&block[..2]);
    for (i, &q) in block[2..].iter().enumerate() {
        unit[2 * NR + ((i / 4) * NR + c) * 4 + i % 4] = q ^ 0x80;
    }
}

/// Feature `c`'s `Q4_K` super-block (144 bytes) into `unit`.
fn put_q4k(unit: &mut [u8], c: usize, block: &[u8]) {
    unit[2 * c..2 * c + 2].copy_from_slice(&block[..2]);
    unit[2 * NR + 2 * c..2 * NR + 2 * c + 2].copy_from_slice(&block[2..4]);
    let scales = &block[4..16];
    for s in 0..8 {
        let (sc, m) = scale_min_k4(s, scales);
        unit[4 * NR + s * NR + c] = sc;
        unit[12 * NR + s * NR + c] = m;
    }
    let qs = &block[16..];
    let q = |v: usize| {
        let byte = qs[v / 64 * 32 + v % 32];
        if v % 64 < 32 { byte & 0xF } else { byte >> 4 }
    };
    for s in 0..8 {
        for j in 0..4 {
            for t in 0..4 {
                let lo = q(32 * s + 4 * j + t);
                let hi = q(32 * s + 4 * (j + 4) + t);
                unit[Q4K_QS + ((s * 4 + j) * NR + c) * 4 + t] = lo | hi << 4;
            }
        }
    }
}

/// Sub-block `j`'s 6-bit scale and min from a `Q4_K` block's 12 packed bytes (llama.cpp's
/// `get_scale_min_k4`).
fn scale_min_k4(j: usize, s: &[u8]) -> (u8, u8) {
    if j < 4 {
        (s[j] & 63, s[j + 4] & 63)
    } else {
        (
            (s[j + 4] & 0xF) | ((s[j - 4] >> 6) << 4),
            (s[j + 4] >> 4) | ((s[j] >> 6) << 4),
        )
    }
}
