//! ReMDM (Wang, Schiff, Sahoo & Kuleshov, "Remasking Discrete Diffusion Models with
//! Inference-Time Scaling", 2025; `kuleshov-group/remdm`), inside the block controller.
//!
//! In ReMDM's reverse step from time `t` to `s < t`, every decoded token is masked again with
//! probability `σ_t` and every masked token is revealed with probability
//! `(α_s − (1 − σ_t)·α_t) / (1 − α_t)`, so the expected decoded fraction still moves from `α_t`
//! to `α_s`; `σ_t ≤ σ_max = min(1, (1 − α_s)/α_t)` keeps that possible. Here a block of `N`
//! masks decoded in `S` steps has `α` = its decoded fraction; each step commits the most
//! confident predictions until the block holds its target count `⌊N·α_s⌋` of decoded tokens
//! (the LLaDA count schedule for cap/rescale/conf, so without remasking it is LLaDA's
//! sampler), then masks each token decoded before the step with probability `σ`:
//!
//! | spelling | `σ` for a decoded token | paper default |
//! |---|---|---|
//! | `remdm-cap:η` | `min(η, σ_max)` | η = 0.008 |
//! | `remdm-rescale:η` | `η·σ_max` | η = 0.015 |
//! | `remdm-conf` | `σ_max · softmax(−ψ)` over the block's decoded tokens, `ψ` the confidence each was decoded with | — |
//! | `remdm-loop[:η]` | `α` rises to `α_on` = 0.9 by `t_on` = 0.55, holds there until `t_off` = 0.05 while each step masks decoded tokens with probability `η` and re-decodes as many, then rises to 1 | η = 0.02 |
//!
//! Differences from the reference, on purpose: counts are deterministic (the top-confidence
//! tokens are committed up to the target count instead of revealing each mask by a coin flip),
//! as in every other rule of this controller, and `α` runs per block. At a block's last step
//! `α_s = 1`, so `σ_max = 0`: a block always ends fully decoded.

use serde::{Deserialize, Serialize};

use crate::Error;
use crate::schedule::transfer_total;

/// ReMDM-loop's window and plateau (the paper's defaults).
pub const LOOP_T_ON: f64 = 0.55;
/// End of ReMDM-loop's plateau.
pub const LOOP_T_OFF: f64 = 0.05;
/// ReMDM-loop's decoded fraction during the plateau.
pub const LOOP_ALPHA_ON: f64 = 0.9;

/// A ReMDM schedule of remasking probabilities.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "schedule", rename_all = "kebab-case")]
#[non_exhaustive]
pub enum ReMdm {
    /// `σ = min(η, σ_max)`.
    Cap {
        /// η.
        eta: f64,
    },
    /// `σ = η·σ_max`.
    Rescale {
        /// η.
        eta: f64,
    },
    /// `σ_i = σ_max · softmax(−ψ)_i`, `ψ` the confidence token `i` was decoded with.
    Conf,
    /// Rise to `α_on`, hold there remasking with probability `η`, then finish.
    Loop {
        /// η.
        eta: f64,
    },
}

impl ReMdm {
    /// Checks η ∈ (0, 1].
    ///
    /// # Errors
    /// [`Error::InvalidOption`] naming `remask`.
    pub fn validate(&self) -> Result<(), Error> {
        match *self {
            ReMdm::Cap { eta } | ReMdm::Rescale { eta } | ReMdm::Loop { eta }
                if !(eta > 0.0 && eta <= 1.0) =>
            {
                Err(Error::option(
                    "remask",
                    format!("ReMDM η {eta} is outside (0, 1]"),
                ))
            }
            _ => Ok(()),
        }
    }

    /// The number of decoded tokens a block of `initial` masks should hold after step `step`
    /// of `steps` (`α_s·N`): cumulative LLaDA counts, or the loop's piecewise schedule.
    pub fn target(&self, step: usize, steps: usize, initial: usize) -> usize {
        match self {
            ReMdm::Loop { .. } => {
                let s = 1.0 - (step + 1) as f64 / steps as f64;
                ((initial as f64 * loop_alpha(s)).floor() as usize).min(initial)
            }
            _ => transfer_total(initial, steps, step),
        }
    }

    /// The remasking probability of each token decoded before step `step`, given the
    /// confidences it was decoded with (in order); empty when nothing is decoded.
    pub fn sigmas(&self, step: usize, steps: usize, initial: usize, decoded: &[f64]) -> Vec<f64> {
        if decoded.is_empty() || initial == 0 {
            return Vec::new();
        }
        let n = initial as f64;
        let alpha_t = if step == 0 {
            0.0
        } else {
            self.target(step - 1, steps, initial) as f64 / n
        };
        let alpha_s = self.target(step, steps, initial) as f64 / n;
        let max = if alpha_t > 0.0 {
            ((1.0 - alpha_s) / alpha_t).clamp(0.0, 1.0)
        } else {
            0.0
        };
        match *self {
            ReMdm::Cap { eta } => vec![eta.min(max); decoded.len()],
            ReMdm::Rescale { eta } => vec![eta * max; decoded.len()],
            ReMdm::Conf => {
                let top = decoded.iter().copied().map(|c| -c).fold(f64::MIN, f64::max);
                let weights: Vec<f64> = decoded.iter().map(|&c| (-c - top).exp()).collect();
                let sum: f64 = weights.iter().sum();
                weights.iter().map(|w| max * w / sum).collect()
            }
            ReMdm::Loop { eta } => {
                let t = 1.0 - step as f64 / steps as f64;
                let plateau = t <= LOOP_T_ON && t > LOOP_T_OFF && step + 1 < steps;
                vec![if plateau { eta.min(max) } else { 0.0 }; decoded.len()]
            }
        }
    }
}

/// ReMDM-loop's decoded fraction at time `t` (1 → 0): linear to `α_on` by `t_on`, flat
/// until `t_off`, linear to 1 at 0.
pub fn loop_alpha(t: f64) -> f64 {
    if t > LOOP_T_ON {
        (1.0 - t) * LOOP_ALPHA_ON / (1.0 - LOOP_T_ON)
    } else if t > LOOP_T_OFF {
        LOOP_ALPHA_ON
    } else {
        1.0 - t * (1.0 - LOOP_ALPHA_ON) / LOOP_T_OFF
    }
}

impl std::fmt::Display for ReMdm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ReMdm::Cap { eta } => write!(f, "remdm-cap:{eta}"),
            ReMdm::Rescale { eta } => write!(f, "remdm-rescale:{eta}"),
            ReMdm::Conf => f.write_str("remdm-conf"),
            ReMdm::Loop { eta } => write!(f, "remdm-loop:{eta}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cap_and_rescale_follow_sigma_max() {
        // 8 masks in 4 steps: targets 2, 4, 6, 8.
        let cap = ReMdm::Cap { eta: 0.3 };
        assert_eq!(
            (0..4).map(|i| cap.target(i, 4, 8)).collect::<Vec<_>>(),
            vec![2, 4, 6, 8]
        );
        // Step 1: α_t = 2/8, α_s = 4/8 → σ_max = min(1, 0.5/0.25) = 1.
        assert_eq!(cap.sigmas(1, 4, 8, &[0.5, 0.5]), vec![0.3, 0.3]);
        // Step 2: α_t = 0.5, α_s = 0.75 → σ_max = 0.5.
        let rescale = ReMdm::Rescale { eta: 0.5 };
        assert_eq!(rescale.sigmas(2, 4, 8, &[0.9]), vec![0.25]);
        // The last step never remasks; nothing decoded, nothing to remask.
        assert_eq!(cap.sigmas(3, 4, 8, &[0.1]), vec![0.0]);
        assert!(cap.sigmas(0, 4, 8, &[]).is_empty());
    }

    #[test]
    fn conf_puts_the_probability_on_unsure_tokens() {
        let s = ReMdm::Conf.sigmas(2, 4, 8, &[0.9, 0.1, 0.5]);
        let max = 0.5;
        assert!((s.iter().sum::<f64>() - max).abs() < 1e-12);
        assert!(s[1] > s[2] && s[2] > s[0]);
    }

    #[test]
    fn loop_rises_holds_and_finishes() {
        let lp = ReMdm::Loop { eta: 0.02 };
        let targets: Vec<usize> = (0..20).map(|i| lp.target(i, 20, 100)).collect();
        assert!(targets.windows(2).all(|w| w[0] <= w[1]), "{targets:?}");
        assert_eq!(targets[19], 100);
        // The plateau holds 90 decoded tokens and remasks there.
        assert_eq!(targets[10], 90);
        assert!(lp.sigmas(10, 20, 100, &[0.5])[0] > 0.0);
        assert_eq!(lp.sigmas(2, 20, 100, &[0.5])[0], 0.0);
        assert_eq!(lp.sigmas(19, 20, 100, &[0.5])[0], 0.0);
        assert!((loop_alpha(0.3) - 0.9).abs() < 1e-12 && (loop_alpha(0.0) - 1.0).abs() < 1e-12);
        assert!(ReMdm::Cap { eta: 0.0 }.validate().is_err());
        assert!(ReMdm::Loop { eta: 0.02 }.validate().is_ok());
    }
}
