//! Remask rules — latent reasoning via remasking: committed tokens are not final; the least
//! certain ones are masked again and re-predicted once more of the answer is visible.
//!
//! | spelling | rule |
//! |---|---|
//! | `none` | committed tokens are final (the reference samplers) |
//! | `rcr` | running-confidence remasking: each step ranks the block's committed tokens (at the confidence they were decoded with) together with the new predictions, and keeps only the schedule's cumulative count |
//! | `refine:ROUNDS:FRACTION` | after the whole answer is decoded, `ROUNDS` more passes each re-mask the least confident `FRACTION` of it and re-predict them with everything else visible |
//! | `recheck:ROUNDS[:GROUPS[:BELOW]]` | after decoding, up to `ROUNDS` passes each re-score every answer token with the finished answer visible (in `GROUPS` interleaved masked passes, default 4) and re-predict those whose probability is below `BELOW` (default 0.5); stops when none is |
//! | `remdm-cap[:η]`, `remdm-rescale[:η]`, `remdm-conf`, `remdm-loop[:η]` | ReMDM: each step masks decoded tokens of the block again at random with probability `σ` from the schedule (see [`remdm`]) |

mod rcr;
pub(crate) mod recheck;
pub(crate) mod refine;
pub mod remdm;

pub(crate) use rcr::running_confidence;
pub use remdm::ReMdm;

use serde::{Deserialize, Serialize};

use crate::Error;

/// The remask rule of a request (`--remask`).
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
#[serde(tag = "rule", rename_all = "kebab-case")]
#[non_exhaustive]
pub enum Remask {
    /// Committed tokens are final.
    #[default]
    None,
    /// Running-confidence remasking inside each block (count rules only).
    Rcr,
    /// A refinement budget spent after decoding.
    Refine {
        /// Extra passes.
        rounds: usize,
        /// Fraction of the answer re-masked per pass, in (0, 1].
        fraction: f64,
    },
    /// A verification budget spent after decoding: re-score the finished answer, re-predict
    /// the tokens it does not support.
    Recheck {
        /// Most passes (each `groups` scoring forwards plus one re-prediction); stops early
        /// when every token is supported.
        rounds: usize,
        /// Interleaved groups the answer is masked in while re-scoring (≥ 1).
        groups: usize,
        /// Support (probability given the rest of the answer) below which a token is
        /// re-predicted, in (0, 1].
        below: f64,
    },
    /// ReMDM-cap: `σ = min(η, σ_max)`.
    RemdmCap {
        /// η (paper default 0.008).
        eta: f64,
    },
    /// ReMDM-rescale: `σ = η·σ_max`.
    RemdmRescale {
        /// η (paper default 0.015).
        eta: f64,
    },
    /// ReMDM-conf: `σ` spread over the decoded tokens by `softmax(−confidence)`.
    RemdmConf,
    /// ReMDM-loop: hold the block at 90 % decoded and remask with probability `η`.
    RemdmLoop {
        /// η (paper default 0.02).
        eta: f64,
    },
}

impl Remask {
    /// Parses `none`, `rcr`, `refine:ROUNDS:FRACTION`, `recheck:ROUNDS[:GROUPS[:BELOW]]`
    /// (groups 4, support 0.5 by default), `remdm-cap[:η]`, `remdm-rescale[:η]`,
    /// `remdm-conf` or `remdm-loop[:η]` (η defaults to the paper's).
    ///
    /// # Errors
    /// [`Error::InvalidOption`] naming `remask`.
    pub fn parse(s: &str) -> Result<Self, Error> {
        let parts: Vec<&str> = s.split(':').collect();
        let number = |v: &str, what: &str| {
            v.parse::<f64>()
                .map_err(|_| Error::option("remask", format!("`{v}` is not {what}")))
        };
        let eta = |v: Option<&&str>, default: f64| match v {
            None => Ok(default),
            Some(v) => number(v, "a number η"),
        };
        let rule = match parts.as_slice() {
            ["none"] => Remask::None,
            ["rcr"] => Remask::Rcr,
            ["refine", rounds, fraction] => Remask::Refine {
                rounds: rounds.parse().map_err(|_| {
                    Error::option("remask", format!("`{rounds}` is not a number of rounds"))
                })?,
                fraction: number(fraction, "a fraction")?,
            },
            ["recheck", rounds, rest @ ..] if rest.len() <= 2 => Remask::Recheck {
                rounds: rounds.parse().map_err(|_| {
                    Error::option("remask", format!("`{rounds}` is not a number of rounds"))
                })?,
                groups: match rest.first() {
                    Some(g) => g.parse().map_err(|_| {
                        Error::option("remask", format!("`{g}` is not a number of groups"))
                    })?,
                    None => 4,
                },
                below: match rest.get(1) {
                    Some(b) => number(b, "a probability")?,
                    None => 0.5,
                },
            },
            ["remdm-cap", rest @ ..] if rest.len() <= 1 => Remask::RemdmCap {
                eta: eta(rest.first(), 0.008)?,
            },
            ["remdm-rescale", rest @ ..] if rest.len() <= 1 => Remask::RemdmRescale {
                eta: eta(rest.first(), 0.015)?,
            },
            ["remdm-conf"] => Remask::RemdmConf,
            ["remdm-loop", rest @ ..] if rest.len() <= 1 => Remask::RemdmLoop {
                eta: eta(rest.first(), 0.02)?,
            },
            _ => {
                return Err(Error::option(
                    "remask",
                    format!(
                        "unknown rule `{s}` (none, rcr, refine:ROUNDS:FRACTION, \
                         recheck:ROUNDS[:GROUPS[:BELOW]], remdm-cap[:ETA], \
                         remdm-rescale[:ETA], remdm-conf, remdm-loop[:ETA])"
                    ),
                ));
            }
        };
        rule.validate()?;
        Ok(rule)
    }

    /// Whether the rule masks committed tokens again while their block is decoded (RCR and
    /// ReMDM; these need the count schedule and more than one token per block).
    pub fn revises_in_block(&self) -> bool {
        matches!(self, Remask::Rcr) || self.remdm().is_some()
    }

    /// The ReMDM schedule, if this is one.
    pub fn remdm(&self) -> Option<ReMdm> {
        match *self {
            Remask::RemdmCap { eta } => Some(ReMdm::Cap { eta }),
            Remask::RemdmRescale { eta } => Some(ReMdm::Rescale { eta }),
            Remask::RemdmConf => Some(ReMdm::Conf),
            Remask::RemdmLoop { eta } => Some(ReMdm::Loop { eta }),
            _ => None,
        }
    }

    /// Checks the parameters.
    ///
    /// # Errors
    /// [`Error::InvalidOption`] naming `remask`.
    pub fn validate(&self) -> Result<(), Error> {
        if let Remask::Refine { fraction, .. } = *self
            && !(fraction > 0.0 && fraction <= 1.0)
        {
            return Err(Error::option(
                "remask",
                format!("refine fraction {fraction} is outside (0, 1]"),
            ));
        }
        if let Remask::Recheck { groups, below, .. } = *self {
            if groups == 0 {
                return Err(Error::option("remask", "recheck needs at least one group"));
            }
            if !(below > 0.0 && below <= 1.0) {
                return Err(Error::option(
                    "remask",
                    format!("recheck support {below} is outside (0, 1]"),
                ));
            }
        }
        if let Some(r) = self.remdm() {
            r.validate()?;
        }
        Ok(())
    }

    /// Refinement passes this rule adds after decoding.
    pub fn refine_rounds(&self) -> usize {
        match self {
            Remask::Refine { rounds, .. } | Remask::Recheck { rounds, .. } => *rounds,
            _ => 0,
        }
    }
}

impl std::fmt::Display for Remask {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Remask::None => f.write_str("none"),
            Remask::Rcr => f.write_str("rcr"),
            Remask::Refine { rounds, fraction } => write!(f, "refine:{rounds}:{fraction}"),
            Remask::Recheck {
                rounds,
                groups,
                below,
            } => write!(f, "recheck:{rounds}:{groups}:{below}"),
            _ => match self.remdm() {
                Some(r) => r.fmt(f),
                None => f.write_str("?"),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_cli_spellings() {
        assert_eq!(Remask::parse("none").unwrap(), Remask::None);
        assert_eq!(Remask::parse("rcr").unwrap(), Remask::Rcr);
        assert_eq!(
            Remask::parse("remdm-cap").unwrap(),
            Remask::RemdmCap { eta: 0.008 }
        );
        assert_eq!(
            Remask::parse("remdm-loop:0.05").unwrap(),
            Remask::RemdmLoop { eta: 0.05 }
        );
        assert_eq!(
            Remask::parse("refine:2:0.25").unwrap(),
            Remask::Refine {
                rounds: 2,
                fraction: 0.25
            }
        );
        for bad in [
            "refine:2",
            "refine:x:0.1",
            "refine:1:0",
            "refine:1:1.5",
            "refine:-1:0.5",
            "remdm-cap:0",
            "remdm-cap:x",
            "remdm-rescale:1.5",
            "remdm-conf:0.1",
            "remdm-loop:0.1:2",
            "loop",
        ] {
            assert!(
                matches!(
                    Remask::parse(bad),
                    Err(Error::InvalidOption {
                        option: "remask",
                        ..
                    })
                ),
                "{bad}"
            );
        }
        for rule in [
            Remask::None,
            Remask::Rcr,
            Remask::Refine {
                rounds: 3,
                fraction: 0.5,
            },
            Remask::RemdmCap { eta: 0.008 },
            Remask::RemdmRescale { eta: 0.015 },
            Remask::RemdmConf,
            Remask::RemdmLoop { eta: 0.02 },
        ] {
            assert_eq!(Remask::parse(&rule.to_string()).unwrap(), rule);
            let json = serde_json::to_string(&rule).unwrap();
            assert_eq!(serde_json::from_str::<Remask>(&json).unwrap(), rule);
        }
    }
}
