//! Dream's `origin` algorithm: every masked position is revealed on its own coin flip, at the
//! schedule's rate (Dream's `1 − s/t`), all of them at the last step.

use super::{Candidate, Schedule, StepContext, UnmaskRule, by_confidence};

/// Reveals each candidate whose [`Candidate::draw`] falls below the schedule's reveal
/// probability.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Origin {
    schedule: Schedule,
}

impl Origin {
    /// The rule revealing at `schedule`'s rate ([`Schedule::reveal_probability`]).
    pub fn new(schedule: Schedule) -> Self {
        Origin { schedule }
    }
}

impl UnmaskRule for Origin {
    fn select(&self, ctx: &StepContext, candidates: &mut [Candidate]) -> usize {
        let p = self.schedule.reveal_probability(ctx);
        // The reference compares the f32 draw with `p` and reveals on `u < p` (a NaN draw
        // never reveals).
        let mut n = 0;
        // cannot fail: `n ≤ i < candidates.len()`.
        for i in 0..candidates.len() {
            if (candidates[i].draw as f32) < p {
                candidates.swap(n, i);
                n += 1;
            }
        }
        by_confidence(&mut candidates[..n]);
        n
    }

    fn needs_draw(&self) -> bool {
        true
    }

    fn fixed_steps(&self) -> bool {
        true
    }
}

#[cfg(test)]
mod tests {
    use super::super::candidates;
    use super::*;

    #[test]
    fn reveals_the_draws_below_the_rate_and_everything_at_the_end() {
        let rule = Origin::new(Schedule::Timesteps(1e-3));
        let mut c = candidates(&[0.1, 0.9, 0.5, 0.7]);
        for (c, d) in c.iter_mut().zip([0.05, 0.9, 0.2, f64::NAN]) {
            c.draw = d;
        }
        let ctx = StepContext {
            step: 0,
            steps: 4,
            initial_masked: 4,
            masked: 4,
        };
        // Step 0 of 4: p = 1 − t₁/t₀ ≈ 0.25.
        let n = rule.select(&ctx, &mut c);
        assert_eq!(n, 2);
        // Revealed ones first, surest first.
        assert_eq!((c[0].position, c[1].position), (2, 0));
        let last = StepContext { step: 3, ..ctx };
        let mut c = candidates(&[0.1, 0.9]);
        c[0].draw = 0.999;
        c[1].draw = 0.5;
        assert_eq!(rule.select(&last, &mut c), 2);
        assert!(rule.needs_draw() && rule.fixed_steps());
    }
}
