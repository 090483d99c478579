//! Fast-dLLM's factor rule (`get_transfer_index_dynamic`).

use super::{Candidate, StepContext, UnmaskRule, by_confidence};

/// Commits the `n` most confident candidates for the largest `n` whose confidences `c₍ᵢ₎`
/// (sorted, best first) all satisfy `c₍ᵢ₎ ≥ 1 − f/(i+1)` (1-based `i`), at least one.
///
/// Reproduces the reference's loop exactly, including its edge case: when the first failing
/// rank is the last candidate, the reference still commits every candidate.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Factor {
    factor: f64,
}

impl Factor {
    /// A rule with factor `f` (validated by [`Unmask`](super::Unmask)).
    pub fn new(factor: f64) -> Self {
        Factor { factor }
    }
}

impl UnmaskRule for Factor {
    fn select(&self, _ctx: &StepContext, candidates: &mut [Candidate]) -> usize {
        by_confidence(candidates);
        let len = candidates.len();
        if len == 0 {
            return 0;
        }
        // threshs[i] = 1 − f/(i+2) for 0-based rank i, with threshs[0] = −1 (always pass).
        let mut top = len - 1;
        for (i, c) in candidates.iter().enumerate() {
            let thresh = if i == 0 {
                -1.0
            } else {
                1.0 - self.factor / (i + 2) as f64
            };
            if c.confidence < thresh {
                top = i;
                break;
            }
        }
        if top == 0 || top == len - 1 {
            top += 1;
        }
        top
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::unmask::candidates;

    const CTX: StepContext = StepContext {
        step: 0,
        steps: 1,
        initial_masked: 4,
        masked: 4,
    };

    fn count(conf: &[f64], f: f64) -> usize {
        Factor::new(f).select(&CTX, &mut candidates(conf))
    }

    #[test]
    fn follows_the_reference_loop() {
        // f = 1: thresholds by rank 1, 2, 3, 4: −1, 2/3, 3/4, 4/5.
        assert_eq!(
            count(&[0.9, 0.8, 0.7, 0.1], 1.0),
            2,
            "rank 3 (0.7 < 0.75) fails"
        );
        assert_eq!(
            count(&[0.95, 0.6, 0.9, 0.5, 0.8], 1.0),
            3,
            "sorted: 0.95 0.9 0.8 0.6 0.5 → 0.6 < 0.8 fails at rank 4"
        );
        assert_eq!(count(&[0.9, 0.1, 0.1, 0.1], 1.0), 1);
        assert_eq!(count(&[0.3], 1.0), 1);
        // Failing only at the last rank still commits everything (the reference's `top_i == len−1`).
        assert_eq!(count(&[0.99, 0.99, 0.99, 0.1], 1.0), 4);
        assert_eq!(count(&[0.99, 0.99, 0.99, 0.99], 1.0), 4);
        // A bigger factor is more permissive.
        assert_eq!(count(&[0.9, 0.8, 0.7, 0.1, 0.05], 2.0), 3);
        assert_eq!(count(&[], 1.0), 0);
    }
}
