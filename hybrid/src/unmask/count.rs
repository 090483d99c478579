//! A fixed number of commits per step, from a schedule.

use serde::{Deserialize, Serialize};

use super::{Candidate, StepContext, UnmaskRule, by_confidence};
use crate::Error;
use crate::schedule::{dream_reveal_probability, dream_transfer_count, transfer_count};

/// How a span's masked tokens are spread over its steps.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum Schedule {
    /// Evenly, the first steps taking the remainder (LLaDA's `get_num_transfer_tokens`).
    #[default]
    Linear,
    /// MaskGIT's cosine: after step `i` of `T`, `⌊N·cos(π/2·(i+1)/T)⌋` stay masked (at least
    /// one, at most all but one), and the last step reveals the rest.
    Cosine,
    /// Dream's timesteps `linspace(1, eps, steps + 1)`: step `i` reveals `⌊m·(1 − s/t)⌋` of
    /// the `m` masks left (`t = t_i`, `s = t_{i+1}`), the last step all of them. The value
    /// is `eps` ∈ (0, 1), Dream's final timestep (default 1e-3).
    Timesteps(f64),
}

/// Dream's default final timestep.
pub const DEFAULT_EPS: f64 = 1e-3;

impl Schedule {
    /// Parses `linear`, `cosine`, `timesteps` or `timesteps:EPS`.
    ///
    /// # Errors
    /// [`Error::InvalidOption`] naming `schedule`.
    pub fn parse(s: &str) -> Result<Self, Error> {
        let schedule = match s.split_once(':') {
            None if s == "linear" => Schedule::Linear,
            None if s == "cosine" => Schedule::Cosine,
            None if s == "timesteps" => Schedule::Timesteps(DEFAULT_EPS),
            Some(("timesteps", eps)) => Schedule::Timesteps(eps.parse().map_err(|_| {
                Error::option(
                    "schedule",
                    format!("`{s}` needs a number, e.g. `timesteps:0.001`"),
                )
            })?),
            _ => {
                return Err(Error::option(
                    "schedule",
                    format!("unknown schedule `{s}` (linear, cosine, timesteps[:EPS])"),
                ));
            }
        };
        schedule.validate()?;
        Ok(schedule)
    }

    /// Checks the schedule's parameter.
    ///
    /// # Errors
    /// [`Error::InvalidOption`] naming `schedule`.
    pub fn validate(&self) -> Result<(), Error> {
        match *self {
            Schedule::Timesteps(eps) if !(eps > 0.0 && eps < 1.0) => Err(Error::option(
                "schedule",
                format!("timesteps eps {eps} is outside (0, 1)"),
            )),
            _ => Ok(()),
        }
    }

    /// The probability with which a masked position is revealed at `ctx.step` when positions
    /// are revealed independently (`--unmask origin`): the schedule's expected fraction.
    pub fn reveal_probability(&self, ctx: &StepContext) -> f32 {
        match *self {
            Schedule::Timesteps(eps) => dream_reveal_probability(ctx.step, ctx.steps, eps as f32),
            _ if ctx.masked == 0 => 1.0,
            _ => self.count(ctx) as f32 / ctx.masked as f32,
        }
    }

    /// Tokens to commit at `ctx.step`.
    pub fn count(&self, ctx: &StepContext) -> usize {
        match self {
            Schedule::Linear => {
                transfer_count(ctx.initial_masked, ctx.steps, ctx.step).unwrap_or(ctx.masked)
            }
            Schedule::Cosine => {
                if ctx.step + 1 >= ctx.steps {
                    return ctx.masked;
                }
                // cannot underflow: `maskgit_mask_len` returns at most its `unknown` (`masked`).
                ctx.masked - maskgit_mask_len(ctx.step, ctx.steps, ctx.initial_masked, ctx.masked)
            }
            Schedule::Timesteps(eps) => {
                dream_transfer_count(ctx.masked, ctx.step, ctx.steps, *eps as f32)
            }
        }
    }
}

impl std::fmt::Display for Schedule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Schedule::Linear => f.write_str("linear"),
            Schedule::Cosine => f.write_str("cosine"),
            Schedule::Timesteps(eps) => write!(f, "timesteps:{eps}"),
        }
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
#[derive(Debug, Clone, Copy, PartialEq)]
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
    fn timesteps_is_dream_and_reveals_everything_at_the_end() {
        let s = Schedule::Timesteps(DEFAULT_EPS);
        let mut masked = 20;
        for step in 0..4 {
            let c = ctx(step, 4, 20, masked);
            let n = s.count(&c);
            assert_eq!(
                n,
                crate::schedule::dream_transfer_count(masked, step, 4, 1e-3)
            );
            let p = s.reveal_probability(&c);
            assert!((0.0..=1.0).contains(&p));
            masked -= n;
        }
        assert_eq!(masked, 0);
        assert_eq!(s.reveal_probability(&ctx(3, 4, 20, 5)), 1.0);
        // Other schedules reveal at their count's rate.
        assert_eq!(Schedule::Linear.reveal_probability(&ctx(0, 2, 4, 4)), 0.5);
    }

    #[test]
    fn parses_schedules() {
        assert_eq!(Schedule::parse("cosine").unwrap(), Schedule::Cosine);
        assert_eq!(
            Schedule::parse("timesteps").unwrap(),
            Schedule::Timesteps(DEFAULT_EPS)
        );
        for s in [
            Schedule::Linear,
            Schedule::Cosine,
            Schedule::Timesteps(0.25),
        ] {
            assert_eq!(Schedule::parse(&s.to_string()).unwrap(), s);
            let json = serde_json::to_string(&s).unwrap();
            assert_eq!(serde_json::from_str::<Schedule>(&json).unwrap(), s);
        }
        for bad in [
            "exp",
            "timesteps:0",
            "timesteps:1",
            "timesteps:x",
            "linear:2",
        ] {
            assert!(
                matches!(
                    Schedule::parse(bad),
                    Err(Error::InvalidOption {
                        option: "schedule",
                        ..
                    })
                ),
                "{bad}"
            );
        }
    }
}
