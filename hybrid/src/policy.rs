//! Decoding policies (`--policy`): in which order a span is decoded.

use serde::{Deserialize, Serialize};

use crate::Error;
use crate::unmask::{Candidate, StepContext, Threshold, UnmaskRule};

/// How the generated span is decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum Policy {
    /// One token per step, left to right.
    Ar,
    /// The whole span in parallel (one block).
    Diffusion,
    /// Semi-autoregressive: blocks left to right, diffusion inside (LLaDA's sampler).
    #[default]
    Block,
    /// Adaptive, inside blocks: a parallel step when the threshold finds at least two
    /// confident positions, otherwise a single-token step at the leftmost masked position.
    Hybrid,
}

impl Policy {
    /// Parses `ar`, `diffusion`, `block` or `hybrid`.
    ///
    /// # Errors
    /// [`Error::InvalidOption`] naming `policy`.
    pub fn parse(s: &str) -> Result<Self, Error> {
        match s {
            "ar" => Ok(Policy::Ar),
            "diffusion" => Ok(Policy::Diffusion),
            "block" => Ok(Policy::Block),
            "hybrid" => Ok(Policy::Hybrid),
            _ => Err(Error::option(
                "policy",
                format!("unknown policy `{s}` (ar, diffusion, block, hybrid)"),
            )),
        }
    }
}

impl std::fmt::Display for Policy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Policy::Ar => "ar",
            Policy::Diffusion => "diffusion",
            Policy::Block => "block",
            Policy::Hybrid => "hybrid",
        })
    }
}

/// The `hybrid` policy's step rule: every candidate with confidence ≥ τ when there are at
/// least two, else the leftmost masked position alone (an autoregressive step).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Adaptive {
    tau: f64,
}

impl Adaptive {
    /// The rule with threshold `tau`.
    pub fn new(tau: f64) -> Self {
        Adaptive { tau }
    }
}

impl UnmaskRule for Adaptive {
    fn select(&self, ctx: &StepContext, candidates: &mut [Candidate]) -> usize {
        // Threshold commits max(1, #confident): two or more means a parallel step.
        let confident = Threshold::new(self.tau).select(ctx, candidates);
        if confident >= 2 {
            return confident;
        }
        // cannot fail: `i` and `left` range over `0..candidates.len()`.
        if let Some(left) = (0..candidates.len()).min_by_key(|&i| candidates[i].position) {
            candidates.swap(0, left);
        }
        candidates.len().min(1)
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

    #[test]
    fn parallel_when_confident_else_leftmost() {
        let rule = Adaptive::new(0.9);
        let mut c = candidates(&[0.2, 0.95, 0.97, 0.5]);
        assert_eq!(rule.select(&CTX, &mut c), 2);
        assert_eq!((c[0].position, c[1].position), (2, 1));
        let mut c = candidates(&[0.2, 0.95, 0.3, 0.5]);
        assert_eq!(rule.select(&CTX, &mut c), 1);
        assert_eq!(
            c[0].position, 0,
            "one confident token is not enough: AR step at the left"
        );
        assert_eq!(rule.select(&CTX, &mut []), 0);
        for p in [Policy::Ar, Policy::Diffusion, Policy::Block, Policy::Hybrid] {
            assert_eq!(Policy::parse(&p.to_string()).unwrap(), p);
        }
        assert!(Policy::parse("beam").is_err());
    }
}
