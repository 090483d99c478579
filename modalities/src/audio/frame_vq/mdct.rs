//! The modified discrete cosine transform (Princen & Bradley 1986) with a sine window,
//! scaled to be orthogonal as a lapped transform: overlap-adding the inverse of consecutive
//! frames reconstructs the signal exactly (time-domain aliasing cancellation), and the
//! squared error of the coefficients equals the squared error of the reconstructed samples.

use candle_core::{Device, Tensor};

use crate::audio::AudioError;

/// An MDCT with hop `n` (frames of `2n` samples, `n` coefficients each).
#[derive(Debug)]
pub(crate) struct Mdct {
    n: usize,
    /// `(n, 2n)`: row `k` is `√(2/n) · w[t] · cos(π/n · (t + ½ + n/2)(k + ½))`.
    basis: Tensor,
}

impl Mdct {
    pub(crate) fn new(n: usize) -> Result<Self, AudioError> {
        let nf = n as f64;
        let scale = (2.0 / nf).sqrt();
        let mut b = Vec::with_capacity(2 * n * n);
        for k in 0..n {
            for t in 0..2 * n {
                let tf = t as f64;
                let window = (std::f64::consts::PI * (tf + 0.5) / (2.0 * nf)).sin();
                let c =
                    (std::f64::consts::PI / nf * (tf + 0.5 + nf / 2.0) * (k as f64 + 0.5)).cos();
                b.push((scale * window * c) as f32);
            }
        }
        Ok(Self {
            n,
            basis: Tensor::from_vec(b, (n, 2 * n), &Device::Cpu)?,
        })
    }

    /// Frames a signal of `len` samples produces: `ceil(len / n) + 1`.
    pub(crate) fn frames_for(&self, len: usize) -> usize {
        len.div_ceil(self.n) + 1
    }

    /// Coefficients `(frames, n)` of `samples`, zero-padded by one hop in front and to a
    /// whole number of hops plus one behind, so every sample lies under two frames.
    pub(crate) fn forward(&self, samples: &[f32]) -> Result<Tensor, AudioError> {
        let n = self.n;
        let frames = self.frames_for(samples.len());
        let mut padded = vec![0f32; (frames + 1) * n];
        padded[n..n + samples.len()].copy_from_slice(samples);
        let mut blocks = Vec::with_capacity(frames * 2 * n);
        for f in 0..frames {
            blocks.extend_from_slice(&padded[f * n..f * n + 2 * n]);
        }
        let blocks = Tensor::from_vec(blocks, (frames, 2 * n), &Device::Cpu)?;
        Ok(blocks.matmul(&self.basis.t()?)?)
    }

    /// The inverse: `(frames, n)` coefficients → `(frames − 1) · n` samples.
    pub(crate) fn inverse(&self, coeffs: &Tensor) -> Result<Vec<f32>, AudioError> {
        let n = self.n;
        let frames = coeffs.dim(0)?;
        let blocks = coeffs.matmul(&self.basis)?.to_vec2::<f32>()?; // (frames, 2n)
        let mut out = vec![0f32; (frames + 1) * n];
        for (f, block) in blocks.iter().enumerate() {
            for (o, &v) in out[f * n..f * n + 2 * n].iter_mut().zip(block) {
                *o += v;
            }
        }
        Ok(out[n..frames * n].to_vec())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reconstructs_exactly_and_preserves_energy() {
        let mdct = Mdct::new(16).unwrap();
        let x: Vec<f32> = (0..37)
            .map(|i| ((i * 7919) % 23) as f32 / 23.0 - 0.5)
            .collect();
        let c = mdct.forward(&x).unwrap();
        assert_eq!(c.dims(), &[mdct.frames_for(37), 16]);
        let y = mdct.inverse(&c).unwrap();
        assert_eq!(y.len(), 48);
        for (a, b) in x.iter().zip(&y) {
            assert!((a - b).abs() < 1e-5, "{a} vs {b}");
        }
        assert!(y[37..].iter().all(|v| v.abs() < 1e-5));
        let e_time: f32 = x.iter().map(|v| v * v).sum();
        let e_coef: f32 = c.sqr().unwrap().sum_all().unwrap().to_scalar().unwrap();
        assert!(
            (e_time - e_coef).abs() < 1e-4 * e_time,
            "{e_time} vs {e_coef}"
        );
    }
}
