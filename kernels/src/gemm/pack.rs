//! [`PackedWeights`]: a weight in the micro-kernels' panel layout, packed once at load time.
//!
//! A weight panel is `NR` consecutive output features laid out k-major: row `kk` of panel
//! `p` holds `W[p·NR + j][kk]` for `j in 0..NR`, one 64-byte line per `kk`, so a
//! micro-kernel step reads one aligned line. The rows are stored k-block first,
//! `[k-block][panel][kk in block]`, so the driver's sweep over consecutive panels within one
//! k-block of `KC` reads one long contiguous run (hardware prefetchers follow it; with panels
//! stored whole, each 16 KiB k-block of a panel would start a new stream). Features past `n`
//! in the last panel are zeros.

use rayon::prelude::*;

use super::{KC, NR};
use crate::KernelError;

/// One k-row of a weight panel: `NR` features, aligned to a cache line so a micro-kernel's
/// two vector loads never straddle lines.
#[derive(Debug, Clone, Copy, Default)]
#[repr(C, align(64))]
pub(super) struct PanelRow(pub(super) [f32; NR]);

/// A linear layer's weight packed into the micro-kernels' panel layout.
///
/// Built once from the row-major `[n, k]` matrix `nn.Linear` stores (`out = x · Wᵀ`), then
/// shared by every [`matmul_packed`](super::matmul_packed) call; the weight is never
/// repacked. It holds `⌈n / 16⌉ · 16 · k` floats, the original's size rounded up to a panel.
#[derive(Debug, Clone)]
pub struct PackedWeights {
    n: usize,
    k: usize,
    /// `panels · k` rows, `[k-block][panel][kk in block]`.
    rows: Vec<PanelRow>,
}

impl PackedWeights {
    /// Packs the row-major `[n, k]` weight `w` (row `j` = output feature `j`).
    ///
    /// # Errors
    /// [`KernelError::ShapeMismatch`] (operand `"weight"`) if `w.len() != n · k`.
    ///
    /// # Example
    /// ```
    /// use tessera_kernels::{PackedWeights, matmul_packed};
    /// // Two output features over three inputs.
    /// let w = PackedWeights::from_rows(&[1.0, 0.0, 0.0, 0.0, 1.0, 1.0], 2, 3)?;
    /// let mut out = [0.0f32; 2];
    /// matmul_packed(&[2.0, 3.0, 4.0], 1, &w, Some(&[0.5, 0.0]), &mut out)?;
    /// assert_eq!(out, [2.5, 7.0]);
    /// # Ok::<(), tessera_kernels::KernelError>(())
    /// ```
    pub fn from_rows(w: &[f32], n: usize, k: usize) -> Result<Self, KernelError> {
        let expected = n.saturating_mul(k);
        if w.len() != expected {
            return Err(KernelError::ShapeMismatch {
                operand: "weight",
                expected,
                actual: w.len(),
            });
        }
        Self::from_fn(n, k, |feature, k0, out| {
            out.copy_from_slice(&w[feature * k + k0..feature * k + k0 + out.len()]);
        })
    }

    /// Packs an `[n, k]` weight read piece by piece: `read(j, k0, out)` fills `out` with
    /// `W[j][k0..k0 + out.len()]`. For weights that are not one `f32` slice — rows spread
    /// over several stored tensors, or little-endian bytes straight from a mapped file — so
    /// that no unpacked copy is ever made.
    ///
    /// # Errors
    /// [`KernelError::ShapeMismatch`] (operand `"weight"`) if `n · k` overflows.
    pub fn from_fn(
        n: usize,
        k: usize,
        read: impl Fn(usize, usize, &mut [f32]) + Sync,
    ) -> Result<Self, KernelError> {
        let panels = n.div_ceil(NR);
        let Some(len) = panels.checked_mul(NR).and_then(|p| p.checked_mul(k)) else {
            return Err(KernelError::ShapeMismatch {
                operand: "weight",
                expected: usize::MAX,
                actual: 0,
            });
        };
        let mut rows = vec![PanelRow::default(); len / NR];
        // Packing a vocabulary-sized weight is gigabytes of strided reads: use every core.
        // (`max(1)`: an empty weight has no rows, and a chunk size may not be zero.)
        rows.par_chunks_mut((KC * panels).max(1))
            .enumerate()
            .for_each_init(Vec::new, |segment, (block, dst)| {
                let k0 = block * KC;
                let kc = dst.len() / panels;
                segment.resize(kc, 0.0);
                for (p, panel) in dst.chunks_mut(kc).enumerate() {
                    for (j, feature) in (p * NR..n.min(p * NR + NR)).enumerate() {
                        read(feature, k0, segment);
                        for (row, &v) in panel.iter_mut().zip(segment.iter()) {
                            row.0[j] = v;
                        }
                    }
                }
            });
        Ok(Self { n, k, rows })
    }

    /// Output features (rows of the original weight).
    pub fn n(&self) -> usize {
        self.n
    }

    /// Input features (columns of the original weight).
    pub fn k(&self) -> usize {
        self.k
    }

    /// Bytes the packed weight occupies.
    pub fn bytes(&self) -> usize {
        std::mem::size_of_val(self.rows.as_slice())
    }

    /// Number of `NR`-wide panels, `⌈n / NR⌉`.
    pub(crate) fn panels(&self) -> usize {
        self.n.div_ceil(NR)
    }

    /// An empty `0 × 0` weight, to be shaped by [`PackedWeights::reshape`] and written row
    /// by row with [`PackedWeights::row_mut`]: for products whose "weight" changes every call
    /// (the Winograd convolution's transformed input), built straight in the packed layout.
    pub(crate) fn empty() -> Self {
        Self {
            n: 0,
            k: 0,
            rows: Vec::new(),
        }
    }

    /// Makes this an `n × k` weight, keeping the allocation; values are unspecified until
    /// written (every lane of every row must be, padding lanes included).
    pub(crate) fn reshape(&mut self, n: usize, k: usize) {
        self.n = n;
        self.k = k;
        self.rows.resize(n.div_ceil(NR) * k, PanelRow::default());
    }

    /// The `NR` lanes of panel `p` at input `kk` (features `p·NR ..`); `p < panels()`,
    /// `kk < k`.
    pub(crate) fn row_mut(&mut self, p: usize, kk: usize) -> &mut [f32; NR] {
        let k0 = kk / KC * KC;
        let kc = KC.min(self.k - k0);
        let panels = self.panels();
        &mut self.rows[k0 * panels + p * kc + kk - k0].0
    }

    /// Pointer to k-block `k0..k0 + min(KC, k - k0)` of panel `p`: that many rows of `NR`
    /// floats, contiguous. Callers keep `p < panels()`, `k0 < k` and `k0.is_multiple_of(KC)`.
    pub(super) fn panel_ptr(&self, p: usize, k0: usize) -> *const f32 {
        debug_assert!(p < self.panels() && k0 < self.k && k0.is_multiple_of(KC));
        let kc = KC.min(self.k - k0);
        self.rows[k0 * self.panels() + p * kc..]
            .as_ptr()
            .cast::<f32>()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weight_panels_are_k_major_and_zero_padded() {
        let (n, k) = (NR + 3, KC + 2);
        let w: Vec<f32> = (0..n * k).map(|v| v as f32 + 1.0).collect();
        let p = PackedWeights::from_rows(&w, n, k).unwrap();
        assert_eq!((p.n(), p.k(), p.panels()), (n, k, 2));
        let at = |panel, kk, lane| {
            let k0 = kk / KC * KC;
            // SAFETY: `kk - k0` is inside the k-block, `lane < NR`.
            unsafe { *p.panel_ptr(panel, k0).add((kk - k0) * NR + lane) }
        };
        // Feature 1, input 0 sits at panel 0, row 0, lane 1.
        assert_eq!(at(0, 0, 1), w[k]);
        // Feature NR + 2, input KC + 1 sits in panel 1 of the short second k-block, lane 2;
        // lane 3 is padding.
        assert_eq!(at(1, KC + 1, 2), w[(NR + 2) * k + KC + 1]);
        assert_eq!(at(1, KC + 1, 3), 0.0);
        // Within one k-block the panels follow each other.
        assert_eq!(p.panel_ptr(1, 0), p.panel_ptr(0, 0).wrapping_add(KC * NR));
    }
}
