//! A fixed number of commits per step, from a schedule.

use serde::{Deserialize, Serialize};

use super::{Candidate, StepContext, UnmaskRule, by_confidence};
use crate::Error;
use crate::schedule::num_transfer_tokens;

/// How a span's masked tokens are spread over its steps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum Schedule {
    /// Evenly, the first steps taking the remainder (LLaDA's `get_num_transfer_tokens`).
    #[default]
    Linear,
    /// MaskGIT's cosine: after step `i` of `T`, `⌊N·cos(π/2·(i+1)/T)⌋` stay masked (at least
    /// one, at most all but one), and the last step reveals the rest.
    Cosine,
}

impl Schedule {
    /// Parses `linear` or `cosine`.
    ///
    /// # Errors
    /// [`Error::InvalidOption`] naming `schedule`.
    pub fn parse(s: &str) -> Result<Self, Error> {
        match s {
            "linear" => Ok(Schedule::Linear),
            "cosine" => Ok(Schedule::Cosine),
            _ => Err(Error::option(
                "schedule",
                format!("unknown schedule `{s}` (linear, cosine)"),
            )),
        }
    }

    /// Tokens to commit at `ctx.step`.
    pub fn count(&self, ctx: &StepContext) -> usize {
        match self {
            Schedule::Linear => num_transfer_tokens(ctx.initial_masked, ctx.steps)
                .get(ctx.step)
                .copied()
                .unwrap_or(ctx.masked),
            Schedule::Cosine => {
                if ctx.step + 1 >= ctx.steps {
                    return ctx.masked;
                }
                ctx.masked - maskgit_mask_len(ctx.step, ctx.steps, ctx.initial_masked, ctx.masked)
            }
        }
    }
}

impl std::fmt::Display for Schedule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Schedule::Linear => "linear",
            Schedule::Cosine => "cosine",
        })
    }
}

/// MaskGIT's `mask_len` (in `f32`, as its JAX code computes it): how many of the `unknown`
/// tokens stay masked after step `step` of `steps`, `n` having been masked at the start.
pub fn maskgit_mask_len(step: usize, steps: usize, n: usize, unknown: usize) -> usize {
    let ratio = (step + 1) as f32 / steps as f32;
    let mask_ratio = (std::f32::consts::FRAC_PI_2 * ratio).cos();
    let len = (n as f32 * mask_ratio).floor().max(0.0) as usize;
    len.min(unknown.saturating_sub(1)).max(1).min(unknown)
}

/// Commits the schedule's count of the most confident candidates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FixedCount {
    schedule: Schedule,
}

impl FixedCount {
    /// A count rule following `schedule`.
    pub fn new(schedule: Schedule) -> Self {
        FixedCount { schedule }
    }
}

impl UnmaskRule for FixedCount {
    fn select(&self, ctx: &StepContext, candidates: &mut [Candidate]) -> usize {
        by_confidence(candidates);
        self.schedule.count(ctx).min(candidates.len())
    }

    fn fixed_steps(&self) -> bool {
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx(step: usize, steps: usize, initial: usize, masked: usize) -> StepContext {
        StepContext {
            step,
            steps,
            initial_masked: initial,
            masked,
        }
    }

    #[test]
    fn linear_is_llada_and_commits_the_most_confident() {
        let rule = FixedCount::new(Schedule::Linear);
        let mut c = super::super::candidates(&[0.2, 0.9, 0.5, 0.7]);
        // 4 masked over 3 steps: 2, 1, 1.
        assert_eq!(rule.select(&ctx(0, 3, 4, 4), &mut c), 2);
        assert_eq!((c[0].position, c[1].position), (1, 3));
        assert_eq!(rule.select(&ctx(1, 3, 4, 2), &mut c), 1);
        assert!(rule.fixed_steps());
    }

    #[test]
    fn cosine_reproduces_maskgit_mask_len() {
        // N = 16 over T = 8: mask_len = floor(16·cos(π/2·(i+1)/8)) clamped to [1, unknown−1].
        let mut unknown = 16;
        let mut committed = Vec::new();
        for step in 0..8 {
            let expected_len = if step == 7 {
                0
            } else {
                let raw = (16.0f64 * (std::f64::consts::FRAC_PI_2 * (step + 1) as f64 / 8.0).cos())
                    .floor() as usize;
                raw.min(unknown - 1).max(1)
            };
            let n = Schedule::Cosine.count(&ctx(step, 8, 16, unknown));
            assert_eq!(unknown - n, expected_len, "step {step}");
            committed.push(n);
            unknown -= n;
        }
        assert_eq!(unknown, 0);
        // 16·cos(π/16) = 15.7 → 15 stay: 1 committed; then 14, 13, 11, 8, 6, 3 stay, 0 at the end.
        assert_eq!(committed, vec![1, 1, 1, 2, 3, 2, 3, 3]);
        assert_eq!(maskgit_mask_len(0, 8, 16, 16), 15);
        assert_eq!(
            maskgit_mask_len(6, 8, 16, 1),
            1,
            "never below one before the last step"
        );
    }

    #[test]
    fn parses_schedules() {
        assert_eq!(Schedule::parse("cosine").unwrap(), Schedule::Cosine);
        assert!(matches!(
            Schedule::parse("exp"),
            Err(Error::InvalidOption {
                option: "schedule",
                ..
            })
        ));
    }
}
