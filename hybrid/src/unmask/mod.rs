//! Unmask rules: given this step's predictions for the masked positions of a span, decide
//! how many (and so which) to commit.
//!
//! Each rule is a small type behind [`UnmaskRule`], configured at the boundary by the
//! serde-tagged [`Unmask`] enum (one CLI/JSON spelling per rule):
//!
//! | spelling | rule | source |
//! |---|---|---|
//! | `count` + `linear` | fixed count per step, LLaDA's `get_num_transfer_tokens` | LLaDA |
//! | `count` + `cosine` | fixed count per step, MaskGIT's cosine `mask_len` | MaskGIT |
//! | `threshold:T` | every candidate with confidence ≥ T, at least the best | Fast-dLLM `get_transfer_index` |
//! | `factor:F` | the largest n with (n+1)(1 − c₍ₙ₎) ≤ F | Fast-dLLM `get_transfer_index_dynamic` |
//! | `entropy-bound:G` | the largest low-entropy prefix with ΣH − max H ≤ G | EB-Sampler |
//! | `origin` | each position on its own coin flip at the schedule's rate | Dream `origin` |
//!
//! Rules are pure: they only order the candidates and return a count, so they are unit-tested
//! on hand-made numbers without any model.

mod count;
mod entropy_bound;
mod factor;
mod origin;
mod threshold;

pub use count::{DEFAULT_EPS, FixedCount, Schedule, maskgit_mask_len};
pub use entropy_bound::EntropyBound;
pub use factor::Factor;
pub use origin::Origin;
pub use threshold::Threshold;

use serde::{Deserialize, Serialize};

use crate::Error;

/// A masked position with this step's prediction.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Candidate {
    /// Canvas position.
    pub position: usize,
    /// Predicted token.
    pub token: u32,
    /// Score the rule ranks by (higher = surer): probability of `token`, or a random draw.
    pub confidence: f64,
    /// Entropy of the predicted distribution (nats); filled only for rules that ask for it.
    pub entropy: f64,
    /// A uniform draw in [0, 1) of the position's own (Dream's `origin` coin flip); filled
    /// only for rules that ask for it.
    pub draw: f64,
}

impl Candidate {
    /// A candidate with no entropy or draw filled in.
    pub fn new(position: usize, token: u32, confidence: f64) -> Self {
        Candidate {
            position,
            token,
            confidence,
            entropy: 0.0,
            draw: 0.0,
        }
    }
}

/// Where in its schedule a step is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StepContext {
    /// Step index within the span (0-based).
    pub step: usize,
    /// Steps planned for the span (count rules).
    pub steps: usize,
    /// Masked positions of the span when it started.
    pub initial_masked: usize,
    /// Masked positions of the span now.
    pub masked: usize,
}

/// Decides how many candidates a step commits.
pub trait UnmaskRule: Send + Sync {
    /// Reorders `candidates` so the ones to commit come first, and returns how many to commit
    /// (at most `candidates.len()`).
    fn select(&self, ctx: &StepContext, candidates: &mut [Candidate]) -> usize;

    /// Whether [`Candidate::entropy`] must be filled (costs one more pass over the vocabulary).
    fn needs_entropy(&self) -> bool {
        false
    }

    /// Whether [`Candidate::draw`] must be filled (one uniform draw per position).
    fn needs_draw(&self) -> bool {
        false
    }

    /// Whether the number of steps is fixed in advance (count rules) rather than decided by
    /// confidence (then a span runs until it has no masks left).
    fn fixed_steps(&self) -> bool {
        false
    }
}

/// Closures are rules too: `|ctx, candidates| n`.
impl<F> UnmaskRule for F
where
    F: Fn(&StepContext, &mut [Candidate]) -> usize + Send + Sync,
{
    fn select(&self, ctx: &StepContext, candidates: &mut [Candidate]) -> usize {
        self(ctx, candidates)
    }
}

/// Sorts by confidence, best first (ties: lower position first).
pub(crate) fn by_confidence(candidates: &mut [Candidate]) {
    candidates.sort_by(|a, b| {
        b.confidence
            .total_cmp(&a.confidence)
            .then(a.position.cmp(&b.position))
    });
}

/// The unmask rule of a request, as the CLI (`--unmask`) and JSON spell it.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
#[serde(tag = "rule", content = "value", rename_all = "kebab-case")]
#[non_exhaustive]
pub enum Unmask {
    /// A fixed number per step, from the schedule.
    #[default]
    Count,
    /// Fast-dLLM threshold τ ∈ (0, 1].
    Threshold(f64),
    /// Fast-dLLM factor f > 0.
    Factor(f64),
    /// EB-Sampler bound γ ≥ 0 (nats).
    EntropyBound(f64),
    /// Dream's `origin`: every masked position revealed on its own coin flip at the
    /// schedule's rate.
    Origin,
}

impl Unmask {
    /// Parses `count`, `threshold:T`, `factor:F`, `entropy-bound:G` or `origin`.
    ///
    /// # Errors
    /// [`Error::InvalidOption`] naming `unmask` for anything else or an out-of-range value.
    pub fn parse(s: &str) -> Result<Self, Error> {
        let (name, value) = match s.split_once(':') {
            Some((n, v)) => (n, Some(v)),
            None => (s, None),
        };
        let number = |v: Option<&str>| -> Result<f64, Error> {
            v.and_then(|v| v.parse::<f64>().ok()).ok_or_else(|| {
                Error::option("unmask", format!("`{s}` needs a number, e.g. `{name}:0.9`"))
            })
        };
        let rule = match name {
            "count" if value.is_none() => Unmask::Count,
            "origin" if value.is_none() => Unmask::Origin,
            "threshold" => Unmask::Threshold(number(value)?),
            "factor" => Unmask::Factor(number(value)?),
            "entropy-bound" => Unmask::EntropyBound(number(value)?),
            _ => {
                return Err(Error::option(
                    "unmask",
                    format!(
                        "unknown rule `{s}` (count, threshold:T, factor:F, entropy-bound:G, \
                         origin)"
                    ),
                ));
            }
        };
        rule.validate()?;
        Ok(rule)
    }

    /// Checks the rule's parameter.
    ///
    /// # Errors
    /// [`Error::InvalidOption`] naming `unmask`.
    pub fn validate(&self) -> Result<(), Error> {
        match *self {
            Unmask::Threshold(t) if !(t > 0.0 && t <= 1.0) => Err(Error::option(
                "unmask",
                format!("threshold {t} is outside (0, 1]"),
            )),
            Unmask::Factor(f) if !(f.is_finite() && f > 0.0) => Err(Error::option(
                "unmask",
                format!("factor {f} must be a positive number"),
            )),
            Unmask::EntropyBound(g) if !(g.is_finite() && g >= 0.0) => Err(Error::option(
                "unmask",
                format!("entropy bound {g} must be ≥ 0"),
            )),
            _ => Ok(()),
        }
    }

    /// The strategy object for this rule with `schedule` for count rules and `origin`.
    pub fn rule(&self, schedule: Schedule) -> Box<dyn UnmaskRule> {
        match *self {
            Unmask::Count => Box::new(FixedCount::new(schedule)),
            Unmask::Threshold(t) => Box::new(Threshold::new(t)),
            Unmask::Factor(f) => Box::new(Factor::new(f)),
            Unmask::EntropyBound(g) => Box::new(EntropyBound::new(g)),
            Unmask::Origin => Box::new(Origin::new(schedule)),
        }
    }
}

impl std::fmt::Display for Unmask {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Unmask::Count => f.write_str("count"),
            Unmask::Threshold(t) => write!(f, "threshold:{t}"),
            Unmask::Factor(x) => write!(f, "factor:{x}"),
            Unmask::EntropyBound(g) => write!(f, "entropy-bound:{g}"),
            Unmask::Origin => f.write_str("origin"),
        }
    }
}

#[cfg(test)]
pub(crate) fn candidates(confidences: &[f64]) -> Vec<Candidate> {
    confidences
        .iter()
        .enumerate()
        .map(|(i, &c)| Candidate::new(i, i as u32, c))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_cli_spellings_and_refuses_bad_values() {
        assert_eq!(Unmask::parse("count").unwrap(), Unmask::Count);
        assert_eq!(
            Unmask::parse("threshold:0.9").unwrap(),
            Unmask::Threshold(0.9)
        );
        assert_eq!(Unmask::parse("factor:1").unwrap(), Unmask::Factor(1.0));
        assert_eq!(
            Unmask::parse("entropy-bound:0.1").unwrap(),
            Unmask::EntropyBound(0.1)
        );
        for bad in [
            "threshold:0",
            "threshold:1.5",
            "threshold",
            "factor:-1",
            "entropy-bound:-0.1",
            "top:3",
            "count:2",
            "origin:1",
        ] {
            match Unmask::parse(bad) {
                Err(Error::InvalidOption { option, .. }) => assert_eq!(option, "unmask", "{bad}"),
                other => panic!("{bad}: {other:?}"),
            }
        }
        for rule in [
            Unmask::Count,
            Unmask::Threshold(0.5),
            Unmask::Factor(2.0),
            Unmask::EntropyBound(0.25),
            Unmask::Origin,
        ] {
            assert_eq!(Unmask::parse(&rule.to_string()).unwrap(), rule);
            let json = serde_json::to_string(&rule).unwrap();
            assert_eq!(serde_json::from_str::<Unmask>(&json).unwrap(), rule);
        }
    }

    #[test]
    fn closures_are_rules() {
        let first_two = |_: &StepContext, c: &mut [Candidate]| c.len().min(2);
        let ctx = StepContext {
            step: 0,
            steps: 1,
            initial_masked: 3,
            masked: 3,
        };
        assert_eq!(first_two.select(&ctx, &mut candidates(&[0.1, 0.2, 0.3])), 2);
    }
}
