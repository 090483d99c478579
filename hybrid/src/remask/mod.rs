//! Remask rules — latent reasoning via remasking: committed tokens are not final; the least
//! certain ones are masked again and re-predicted once more of the answer is visible.
//!
//! | spelling | rule |
//! |---|---|
//! | `none` | committed tokens are final (the reference samplers) |
//! | `rcr` | running-confidence remasking: each step ranks the block's committed tokens (at the confidence they were decoded with) together with the new predictions, and keeps only the schedule's cumulative count |
//! | `refine:ROUNDS:FRACTION` | after the whole answer is decoded, `ROUNDS` more passes each re-mask the least confident `FRACTION` of it and re-predict them with everything else visible |
//!
//! ReMDM's schedules (`remdm-cap`, `remdm-rescale`, `remdm-conf`, `remdm-loop`) are not
//! implemented yet and are refused by name.

mod rcr;

pub(crate) use rcr::running_confidence;

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
}

impl Remask {
    /// Parses `none`, `rcr` or `refine:ROUNDS:FRACTION`.
    ///
    /// # Errors
    /// [`Error::InvalidOption`] naming `remask`.
    pub fn parse(s: &str) -> Result<Self, Error> {
        let parts: Vec<&str> = s.split(':').collect();
        let rule = match parts.as_slice() {
            ["none"] => Remask::None,
            ["rcr"] => Remask::Rcr,
            ["refine", rounds, fraction] => Remask::Refine {
                rounds: rounds.parse().map_err(|_| {
                    Error::option("remask", format!("`{rounds}` is not a number of rounds"))
                })?,
                fraction: fraction.parse().map_err(|_| {
                    Error::option("remask", format!("`{fraction}` is not a fraction"))
                })?,
            },
            [name, ..] if name.starts_with("remdm") => {
                return Err(Error::option(
                    "remask",
                    format!("`{s}`: ReMDM remasking is not implemented yet"),
                ));
            }
            _ => {
                return Err(Error::option(
                    "remask",
                    format!("unknown rule `{s}` (none, rcr, refine:ROUNDS:FRACTION)"),
                ));
            }
        };
        rule.validate()?;
        Ok(rule)
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
        Ok(())
    }

    /// Refinement passes this rule adds after decoding.
    pub fn refine_rounds(&self) -> usize {
        match self {
            Remask::Refine { rounds, .. } => *rounds,
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
            "remdm-cap:0.008",
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
        ] {
            assert_eq!(Remask::parse(&rule.to_string()).unwrap(), rule);
            let json = serde_json::to_string(&rule).unwrap();
            assert_eq!(serde_json::from_str::<Remask>(&json).unwrap(), rule);
        }
    }
}
