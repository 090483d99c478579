//! EB-Sampler's entropy bound.

use super::{Candidate, StepContext, UnmaskRule};

/// Sorts candidates by entropy (lowest first) and commits the largest prefix `U` whose
/// entropies satisfy `Σ_{U} H − max_{U} H ≤ γ`, at least one (EB-Sampler, Ben-Hamu et al.).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct EntropyBound {
    gamma: f64,
}

impl EntropyBound {
    /// A rule with bound `gamma` in nats (validated by [`Unmask`](super::Unmask)).
    pub fn new(gamma: f64) -> Self {
        EntropyBound { gamma }
    }
}

impl UnmaskRule for EntropyBound {
    fn select(&self, _ctx: &StepContext, candidates: &mut [Candidate]) -> usize {
        candidates.sort_by(|a, b| {
            a.entropy
                .total_cmp(&b.entropy)
                .then(a.position.cmp(&b.position))
        });
        let mut sum = 0.0;
        let mut n = 0;
        for c in candidates.iter() {
            // Sorted ascending, so the newest entry is the prefix's maximum.
            let next = sum + c.entropy;
            if n > 0 && next - c.entropy.max(0.0) > self.gamma {
                break;
            }
            sum = next;
            n += 1;
        }
        n
    }

    fn needs_entropy(&self) -> bool {
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_entropies(h: &[f64]) -> Vec<Candidate> {
        h.iter()
            .enumerate()
            .map(|(i, &e)| Candidate {
                entropy: e,
                ..Candidate::new(i, 0, 0.0)
            })
            .collect()
    }

    #[test]
    fn commits_the_largest_low_entropy_prefix() {
        let ctx = StepContext {
            step: 0,
            steps: 1,
            initial_masked: 4,
            masked: 4,
        };
        let rule = EntropyBound::new(0.1);
        let mut c = with_entropies(&[0.5, 0.01, 0.02, 0.04]);
        // Sorted 0.01 0.02 0.04 0.5: prefixes' ΣH − maxH = 0, 0.01, 0.03, 0.07 → all four pass.
        assert_eq!(rule.select(&ctx, &mut c), 4);
        let mut c = with_entropies(&[2.0, 0.05, 0.06, 3.0]);
        // 0.05 0.06 2.0 3.0: 0, 0.05, 0.11 (> 0.1) → two.
        assert_eq!(rule.select(&ctx, &mut c), 2);
        assert_eq!((c[0].position, c[1].position), (1, 2));
        // γ = 0: only ties at zero entropy beyond the first.
        assert_eq!(
            EntropyBound::new(0.0).select(&ctx, &mut with_entropies(&[1.0, 2.0])),
            1
        );
        assert!(rule.needs_entropy());
    }
}
