//! Fast-dLLM's confidence threshold (`get_transfer_index` with `threshold`).

use super::{Candidate, StepContext, UnmaskRule, by_confidence};

/// Commits every candidate whose confidence is at least `τ`, and always the most confident
/// one. Fast-dLLM ranks all masked positions of the block, keeps the first, and drops each
/// later one whose confidence is `< τ`; since they are sorted, the kept ones are a prefix.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Threshold {
    tau: f64,
}

impl Threshold {
    /// A rule with threshold `tau` (validated by [`Unmask`](super::Unmask)).
    pub fn new(tau: f64) -> Self {
        Threshold { tau }
    }
}

impl UnmaskRule for Threshold {
    fn select(&self, _ctx: &StepContext, candidates: &mut [Candidate]) -> usize {
        by_confidence(candidates);
        let above = candidates
            .iter()
            .take_while(|c| c.confidence >= self.tau)
            .count();
        above.max(1).min(candidates.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::unmask::candidates;

    const CTX: StepContext = StepContext {
        step: 0,
        steps: 1,
        initial_masked: 5,
        masked: 5,
    };

    /// Fast-dLLM's selection, transcribed as a set of positions for comparison.
    fn fast_dllm(confidences: &[f64], tau: f64) -> Vec<usize> {
        let mut order: Vec<usize> = (0..confidences.len()).collect();
        order.sort_by(|&a, &b| confidences[b].total_cmp(&confidences[a]));
        let mut keep = vec![order[0]];
        // Fast-dLLM drops a later rank when `confidence < threshold`; NaN-free inputs here.
        keep.extend(order[1..].iter().filter(|&&i| confidences[i] >= tau));
        keep.sort_unstable();
        keep
    }

    #[test]
    fn picks_exactly_what_fast_dllm_picks() {
        let cases: &[(&[f64], f64)] = &[
            (&[0.95, 0.2, 0.91, 0.9, 0.3], 0.9), // ≥ τ is kept: 0.9 stays
            (&[0.5, 0.6, 0.1], 0.9),             // nothing above: the best alone
            (&[0.99, 0.98, 0.97], 0.9),          // everything
            (&[0.4], 0.9),
        ];
        for &(conf, tau) in cases {
            let mut c = candidates(conf);
            let n = Threshold::new(tau).select(&CTX, &mut c);
            let mut chosen: Vec<usize> = c[..n].iter().map(|c| c.position).collect();
            chosen.sort_unstable();
            assert_eq!(chosen, fast_dllm(conf, tau), "{conf:?} τ={tau}");
        }
    }

    #[test]
    fn agrees_with_fast_dllm_on_many_random_rows() {
        let mut state = 12345u64;
        let mut next = || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 11) as f64 / (1u64 << 53) as f64
        };
        for _ in 0..500 {
            let len = 1 + (next() * 20.0) as usize;
            let conf: Vec<f64> = (0..len).map(|_| next()).collect();
            let tau = 0.05 + next() * 0.95;
            let mut c = candidates(&conf);
            let n = Threshold::new(tau).select(&CTX, &mut c);
            let mut chosen: Vec<usize> = c[..n].iter().map(|c| c.position).collect();
            chosen.sort_unstable();
            assert_eq!(chosen, fast_dllm(&conf, tau));
        }
    }
}
