//! Remask rules — latent reasoning via remasking: committed tokens are not final; the least
//! certain ones are masked again and re-predicted once more of the answer is visible.
//!
//! | spelling | rule |
//! |---|---|
//! | `none` | committed tokens are final (the reference samplers) |
//! | `rcr` | running-confidence remasking: each step ranks the block's committed tokens (at the confidence they were decoded with) together with the new predictions, and keeps only the schedule's cumulative count |
//! | `refine:ROUNDS:FRACTION[:KEEP]` | after the whole answer is decoded, `ROUNDS` more passes each re-mask the least confident `FRACTION` of it — leaving alone every token committed with confidence `KEEP` or more (default 0.99) — and re-predict them with everything else visible; stops when none is left to re-mask |
//! | `recheck:ROUNDS[:GROUPS[:BELOW[:KEEP]]]` | after decoding, up to `ROUNDS` passes each re-score every answer token with the finished answer visible (in `GROUPS` interleaved masked passes, default 4) and re-predict those whose probability is below `BELOW` (default 0.5) and that were not committed with confidence `KEEP` or more (default 0.99); stops when none is |
//!
//! `KEEP` is the absolute bound of "sure": a token the model committed with that confidence
//! (the softmax probability under the default low-confidence scoring) is never revised, so a
//! refinement spends its passes on the uncertain tokens only and cannot turn a sure right
//! answer wrong.
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
        /// Tokens committed with at least this confidence are never re-masked, in (0, 1]; 1
        /// spares none (default [`Remask::KEEP`]).
        #[serde(default = "default_keep")]
        keep: f64,
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
        /// Tokens committed with at least this confidence are never re-predicted, in (0, 1];
        /// 1 spares none (default [`Remask::KEEP`]).
        #[serde(default = "default_keep")]
        keep: f64,
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

fn default_keep() -> f64 {
    Remask::KEEP
}

impl Remask {
    /// The default `KEEP` of `refine` and `recheck`: tokens committed with probability 0.99
    /// or more are left alone. On tessera-tiny's held-out examples (200 per task, `tessera
    /// eval`) this loses none of the revisions that fix sudoku at low thresholds (84.5 →
    /// 96 % at `parallel@0.5`), stops the ones that turned a right sorting or addition answer
    /// wrong (99.5 → 100 %), and spends fewer passes; 0.9 spared too much (sudoku 94 %).
    pub const KEEP: f64 = 0.99;

    /// `refine:ROUNDS:FRACTION` with the default `KEEP`.
    pub const fn refine(rounds: usize, fraction: f64) -> Self {
        Remask::Refine {
            rounds,
            fraction,
            keep: Remask::KEEP,
        }
    }

    /// `recheck:ROUNDS:GROUPS:BELOW` with the default `KEEP`.
    pub const fn recheck(rounds: usize, groups: usize, below: f64) -> Self {
        Remask::Recheck {
            rounds,
            groups,
            below,
            keep: Remask::KEEP,
        }
    }

    /// Parses `none`, `rcr`, `refine:ROUNDS:FRACTION[:KEEP]`,
    /// `recheck:ROUNDS[:GROUPS[:BELOW[:KEEP]]]` (groups 4, support 0.5, keep 0.99 by
    /// default), `remdm-cap[:η]`, `remdm-rescale[:η]`,
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
            ["refine", rounds, fraction, rest @ ..] if rest.len() <= 1 => Remask::Refine {
                rounds: rounds.parse().map_err(|_| {
                    Error::option("remask", format!("`{rounds}` is not a number of rounds"))
                })?,
                fraction: number(fraction, "a fraction")?,
                keep: match rest.first() {
                    Some(k) => number(k, "a confidence")?,
                    None => Remask::KEEP,
                },
            },
            ["recheck", rounds, rest @ ..] if rest.len() <= 3 => Remask::Recheck {
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
                keep: match rest.get(2) {
                    Some(k) => number(k, "a confidence")?,
                    None => Remask::KEEP,
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
                        "unknown rule `{s}` (none, rcr, refine:ROUNDS:FRACTION[:KEEP], \
                         recheck:ROUNDS[:GROUPS[:BELOW[:KEEP]]], remdm-cap[:ETA], \
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
        if let Remask::Refine { keep, .. } | Remask::Recheck { keep, .. } = *self
            && !(keep > 0.0 && keep <= 1.0)
        {
            return Err(Error::option(
                "remask",
                format!("keep {keep} is outside (0, 1]"),
            ));
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

/// `:KEEP` when `KEEP` is not the default, nothing otherwise (the older spellings stay).
struct KeepSuffix(f64);

impl std::fmt::Display for KeepSuffix {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.0 == Remask::KEEP {
            Ok(())
        } else {
            write!(f, ":{}", self.0)
        }
    }
}

impl std::fmt::Display for Remask {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Remask::None => f.write_str("none"),
            Remask::Rcr => f.write_str("rcr"),
            Remask::Refine {
                rounds,
                fraction,
                keep,
            } => write!(f, "refine:{rounds}:{fraction}{}", KeepSuffix(*keep)),
            Remask::Recheck {
                rounds,
                groups,
                below,
                keep,
            } => write!(f, "recheck:{rounds}:{groups}:{below}{}", KeepSuffix(*keep)),
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
            Remask::refine(2, 0.25)
        );
        assert_eq!(
            Remask::parse("refine:2:0.25:0.8").unwrap(),
            Remask::Refine {
                rounds: 2,
                fraction: 0.25,
                keep: 0.8
            }
        );
        assert_eq!(
            Remask::parse("recheck:2").unwrap(),
            Remask::recheck(2, 4, 0.5)
        );
        assert_eq!(
            Remask::parse("recheck:2:4:0.5:0.95").unwrap(),
            Remask::Recheck {
                rounds: 2,
                groups: 4,
                below: 0.5,
                keep: 0.95
            }
        );
        // Older JSON without `keep` takes the default.
        assert_eq!(
            serde_json::from_str::<Remask>(r#"{"rule":"refine","rounds":2,"fraction":0.1}"#)
                .unwrap(),
            Remask::refine(2, 0.1)
        );
        for bad in [
            "refine:2",
            "refine:x:0.1",
            "refine:1:0",
            "refine:1:1.5",
            "refine:-1:0.5",
            "refine:1:0.5:0",
            "refine:1:0.5:1.5",
            "refine:1:0.5:0.9:1",
            "recheck:1:4:0.5:2",
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
            Remask::refine(3, 0.5),
            Remask::Refine {
                rounds: 1,
                fraction: 0.2,
                keep: 1.0,
            },
            Remask::recheck(2, 3, 0.4),
            Remask::Recheck {
                rounds: 2,
                groups: 3,
                below: 0.4,
                keep: 0.8,
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
