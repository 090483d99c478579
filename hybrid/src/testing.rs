//! Test doubles shared by the samplers' unit tests.

use crate::{DenoiseError, DenoiseInput, Denoiser, Logits, PromptBatch, Span};

/// The trivial cached path of a test double: no cache, every pass recomputed (exact).
macro_rules! exact_cache {
    () => {
        type Cache = ();

        fn denoise_and_cache(
            &self,
            input: &DenoiseInput<'_>,
        ) -> Result<(Logits, ()), DenoiseError> {
            Ok((self.denoise(input)?, ()))
        }

        fn denoise_span(
            &self,
            input: &DenoiseInput<'_>,
            _: Span,
            _: &(),
        ) -> Result<Logits, DenoiseError> {
            self.denoise(input)
        }
    };
}

/// Predicts, at position `p`, token `p % 10` with a confidence growing with `p` (vocabulary 12).
#[derive(Debug)]
pub(crate) struct Ramp;

impl Denoiser for Ramp {
    exact_cache!();

    fn logits_width(&self) -> usize {
        12
    }

    fn denoise(&self, input: &DenoiseInput<'_>) -> Result<Logits, crate::DenoiseError> {
        let mut l = Logits::filled(input.rows(), input.positions.len(), 12, 0.0);
        for r in 0..input.rows() {
            for (k, &p) in input.positions.iter().enumerate() {
                l.row_mut(r, k)[p % 10] = 1.0 + p as f32 * 0.1;
            }
        }
        Ok(l)
    }
}

/// The prompt `[1, 2]`.
pub(crate) fn prompt() -> PromptBatch {
    PromptBatch::left_padded(vec![vec![1, 2]], 0).expect("valid prompt")
}

/// Predicts token 5 (surely) before position `at`, and EOS (token 3) from `at` on, with a
/// confidence that falls with the position, so the first EOS is committed first.
#[derive(Debug)]
pub(crate) struct EosAfter {
    pub(crate) at: usize,
}

impl Denoiser for EosAfter {
    exact_cache!();

    fn logits_width(&self) -> usize {
        12
    }

    fn denoise(&self, input: &DenoiseInput<'_>) -> Result<Logits, DenoiseError> {
        let mut l = Logits::filled(input.rows(), input.positions.len(), 12, 0.0);
        for r in 0..input.rows() {
            for (k, &p) in input.positions.iter().enumerate() {
                if p < self.at {
                    l.row_mut(r, k)[5] = 8.0;
                } else {
                    l.row_mut(r, k)[3] = 5.0 - p as f32 * 0.1;
                }
            }
        }
        Ok(l)
    }
}
