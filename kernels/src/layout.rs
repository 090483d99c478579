//! The data movement around attention and the norms, fused so each is one sweep:
//!
//! - [`split_heads`]: heads out of a projection's `[rows][len][width]` output into
//!   `[rows][heads][len][head_dim]`, with rotary embedding applied on the way
//!   (GPT-NeoX halves, `x₁·cos − x₂·sin`, `x₁·sin + x₂·cos`, as candle's and transformers'
//!   `rope` compute it) or copied as is (values);
//! - [`add_rms_norm`]: the residual add and the next RMSNorm in one pass
//!   (`h = a + b`, `x = h / √(mean(h²) + ε) · w`).

use rayon::prelude::*;

use crate::KernelError;

/// Rows of at least this many values are worth a task of their own.
const PARALLEL_AT: usize = 1 << 15;

/// Rotary tables, `[rows or 1][len][head_dim / 2]`.
#[derive(Debug, Clone, Copy)]
pub struct Rotary<'a> {
    /// Cosines.
    pub cos: &'a [f32],
    /// Sines.
    pub sin: &'a [f32],
    /// One table per row (else one for every row).
    pub per_row: bool,
}

/// Heads `0..heads` of width `head_dim`, starting at column `col` of each `width`-wide
/// position of `src` (`rows × len` positions), into `out` as `[rows][heads][len][head_dim]`,
/// rotated by `rotary` when given.
///
/// # Errors
/// [`KernelError::Shape`] when a length disagrees with the shape (nothing is written then).
#[allow(clippy::too_many_arguments)]
pub fn split_heads(
    src: &[f32],
    (rows, len, width, col): (usize, usize, usize, usize),
    heads: usize,
    head_dim: usize,
    rotary: Option<Rotary<'_>>,
    out: &mut [f32],
) -> Result<(), KernelError> {
    let bad = |what: String| Err(KernelError::Shape(format!("split_heads: {what}")));
    let (half, n) = (head_dim / 2, rows * heads * len * head_dim);
    if col + heads * head_dim > width || src.len() != rows * len * width || out.len() != n {
        return bad(format!(
            "{} values in, {} out, for {rows}×{len}×{width} with {heads} heads of {head_dim} \
             at column {col}",
            src.len(),
            out.len()
        ));
    }
    if let Some(r) = &rotary {
        let want = if r.per_row { rows } else { 1 } * len * half;
        if !head_dim.is_multiple_of(2) || r.cos.len() != want || r.sin.len() != want {
            return bad(format!(
                "rotary tables of {} and {} values for {want} (head_dim {head_dim})",
                r.cos.len(),
                r.sin.len()
            ));
        }
    }
    if n == 0 {
        return Ok(());
    }
    let one = |rh: usize, dst: &mut [f32]| {
        let (r, h) = (rh / heads, rh % heads);
        for (i, d) in dst.chunks_exact_mut(head_dim).enumerate() {
            let x = &src[(r * len + i) * width + col + h * head_dim..][..head_dim];
            match &rotary {
                None => d.copy_from_slice(x),
                Some(rot) => {
                    let t = (if rot.per_row { r * len } else { 0 } + i) * half;
                    let (c, s) = (&rot.cos[t..t + half], &rot.sin[t..t + half]);
                    let (x1, x2) = x.split_at(half);
                    let (d1, d2) = d.split_at_mut(half);
                    for j in 0..half {
                        d1[j] = x1[j] * c[j] - x2[j] * s[j];
                        d2[j] = x1[j] * s[j] + x2[j] * c[j];
                    }
                }
            }
        }
    };
    let per_head = len * head_dim;
    if n < PARALLEL_AT {
        out.chunks_exact_mut(per_head)
            .enumerate()
            .for_each(|(rh, d)| one(rh, d));
    } else {
        out.par_chunks_exact_mut(per_head)
            .enumerate()
            .for_each(|(rh, d)| one(rh, d));
    }
    Ok(())
}

/// One row of [`add_rms_norm`]'s operands, as rayon and std zip them.
type Rows<'a> = (((&'a [f32], &'a [f32]), &'a mut [f32]), &'a mut [f32]);

/// `h = a + b` and `x = rms_norm(h) · weight` over rows of `weight.len()` values.
///
/// # Errors
/// [`KernelError::Shape`] when the lengths disagree (nothing is written then).
pub fn add_rms_norm(
    a: &[f32],
    b: &[f32],
    weight: &[f32],
    eps: f32,
    h: &mut [f32],
    x: &mut [f32],
) -> Result<(), KernelError> {
    let d = weight.len();
    if d == 0
        || !a.len().is_multiple_of(d)
        || b.len() != a.len()
        || h.len() != a.len()
        || x.len() != a.len()
    {
        return Err(KernelError::Shape(format!(
            "add_rms_norm: {}, {}, {} and {} values with rows of {d}",
            a.len(),
            b.len(),
            h.len(),
            x.len()
        )));
    }
    let row = |(((a, b), h), x): Rows<'_>| {
        let mut sums = [0.0f32; 8];
        for (i, ((h, &a), &b)) in h.iter_mut().zip(a).zip(b).enumerate() {
            *h = a + b;
            sums[i % 8] += *h * *h;
        }
        let mean = sums.iter().sum::<f32>() / d as f32;
        let scale = 1.0 / (mean + eps).sqrt();
        for ((x, &h), &w) in x.iter_mut().zip(h.iter()).zip(weight) {
            *x = h * scale * w;
        }
    };
    if a.len() < PARALLEL_AT {
        a.chunks(d)
            .zip(b.chunks(d))
            .zip(h.chunks_mut(d))
            .zip(x.chunks_mut(d))
            .for_each(row);
    } else {
        a.par_chunks(d)
            .zip(b.par_chunks(d))
            .zip(h.par_chunks_mut(d))
            .zip(x.par_chunks_mut(d))
            .for_each(row);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn data(n: usize, seed: usize) -> Vec<f32> {
        (0..n)
            .map(|i| (((i + seed) * 7919) % 2001) as f32 / 1000.0 - 1.0)
            .collect()
    }

    #[test]
    fn split_heads_matches_the_definition() {
        for (rows, len, heads, hd, per_row) in [(2, 5, 3, 8, true), (1, 300, 4, 64, false)] {
            let (width, col) = (heads * hd + 2 * hd + 4, hd + 4);
            let src = data(rows * len * width, 1);
            let half = hd / 2;
            let tables = if per_row { rows } else { 1 } * len * half;
            let (cos, sin) = (data(tables, 2), data(tables, 3));
            let rot = Rotary {
                cos: &cos,
                sin: &sin,
                per_row,
            };
            let mut out = vec![0.0; rows * heads * len * hd];
            split_heads(
                &src,
                (rows, len, width, col),
                heads,
                hd,
                Some(rot),
                &mut out,
            )
            .unwrap();
            let mut plain = vec![0.0; out.len()];
            split_heads(&src, (rows, len, width, col), heads, hd, None, &mut plain).unwrap();
            for r in 0..rows {
                for h in 0..heads {
                    for i in 0..len {
                        let x = &src[(r * len + i) * width + col + h * hd..][..hd];
                        let o = &out[((r * heads + h) * len + i) * hd..][..hd];
                        let p = &plain[((r * heads + h) * len + i) * hd..][..hd];
                        assert_eq!(p, x);
                        let t = (if per_row { r * len } else { 0 } + i) * half;
                        for j in 0..half {
                            let (c, s) = (cos[t + j], sin[t + j]);
                            assert_eq!(o[j], x[j] * c - x[j + half] * s);
                            assert_eq!(o[j + half], x[j] * s + x[j + half] * c);
                        }
                    }
                }
            }
        }
        let mut out = vec![0.0; 8];
        assert!(split_heads(&[0.0; 8], (1, 2, 4, 2), 1, 4, None, &mut out).is_err());
    }

    #[test]
    fn add_rms_norm_matches_the_definition() {
        for rows in [3, 200] {
            let d = 160;
            let (a, b, w) = (data(rows * d, 1), data(rows * d, 2), data(d, 3));
            let (mut h, mut x) = (vec![0.0; rows * d], vec![0.0; rows * d]);
            add_rms_norm(&a, &b, &w, 1e-5, &mut h, &mut x).unwrap();
            for r in 0..rows {
                let hs: Vec<f64> = (0..d)
                    .map(|i| (a[r * d + i] + b[r * d + i]) as f64)
                    .collect();
                let rms = (hs.iter().map(|v| v * v).sum::<f64>() / d as f64 + 1e-5).sqrt();
                for i in 0..d {
                    assert_eq!(h[r * d + i] as f64, hs[i]);
                    let want = hs[i] / rms * w[i] as f64;
                    assert!((x[r * d + i] as f64 - want).abs() < 1e-5, "{r} {i}");
                }
            }
        }
        let mut out = vec![0.0; 4];
        assert!(
            add_rms_norm(
                &[0.0; 4],
                &[0.0; 3],
                &[1.0; 2],
                1e-5,
                &mut out.clone(),
                &mut out
            )
            .is_err()
        );
    }
}
