//! Dream's reference sampler (`diffusion_generate` / `_sample` in Dream-org/Dream's
//! `generation_utils.py`) as a preset of the controller: the same logits and noise give the
//! same tokens as the reference.
//!
//! The whole generated span is denoised in parallel over `steps` steps on timesteps
//! `linspace(1, eps, steps + 1)`. `origin` reveals each masked position with probability
//! `1 − s/t`; the other algorithms score every masked position and reveal the
//! `⌊n_mask·(1 − s/t)⌋` best (all remaining at the last step).
//!
//! In the controller's terms ([`DreamOptions::controller`]): policy `diffusion` (one block),
//! schedule [`Schedule::Timesteps`], draw [`Draw::Categorical`] (Dream's `sample_tokens`),
//! `origin` = [`Unmask::Origin`], the others = [`Unmask::Count`] with the matching
//! [`Remasking`] score, and `alg_temp` as the controller's position temperature. Every other
//! controller option (block policies, threshold rules, caches, remasking) applies on top
//! of this preset.
//!
//! Where the reference draws from PyTorch's generator (categorical sampling at
//! `temperature > 0`, multinomial position sampling at `alg_temp > 0`) this sampler draws
//! from its [`NoiseSource`] by inverse CDF and Gumbel-top-k respectively: the same
//! distributions, not the same random stream.

use serde::{Deserialize, Serialize};

use crate::controller::ControllerOptions;
use crate::policy::Policy;
use crate::score::{Draw, Remasking};
use crate::unmask::{Schedule, Unmask};
use crate::{Denoiser, Error, Generation, NoiseSource, PromptBatch, StepInfo};

/// Dream's position-selection algorithm.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum DreamAlg {
    /// Reveal each masked position independently with probability `1 − s/t`.
    #[default]
    Origin,
    /// Rank by the chosen token's probability.
    MaskgitPlus,
    /// Rank by top-1 − top-2 probability.
    TopkMargin,
    /// Rank by negative entropy.
    Entropy,
}

impl DreamAlg {
    /// The controller's unmask rule and score that make up this algorithm.
    pub fn rule(self) -> (Unmask, Remasking) {
        match self {
            DreamAlg::Origin => (Unmask::Origin, Remasking::LowConfidence),
            DreamAlg::MaskgitPlus => (Unmask::Count, Remasking::LowConfidence),
            DreamAlg::TopkMargin => (Unmask::Count, Remasking::Margin),
            DreamAlg::Entropy => (Unmask::Count, Remasking::Entropy),
        }
    }

    /// Parses `origin`, `maskgit-plus`, `topk-margin` or `entropy` (the reference's
    /// underscores are accepted too).
    ///
    /// # Errors
    /// [`Error::InvalidOption`] naming `alg`.
    pub fn parse(s: &str) -> Result<Self, Error> {
        match s.replace('_', "-").as_str() {
            "origin" => Ok(DreamAlg::Origin),
            "maskgit-plus" => Ok(DreamAlg::MaskgitPlus),
            "topk-margin" => Ok(DreamAlg::TopkMargin),
            "entropy" => Ok(DreamAlg::Entropy),
            _ => Err(Error::option(
                "alg",
                format!("unknown algorithm `{s}` (origin, maskgit-plus, topk-margin, entropy)"),
            )),
        }
    }
}

/// Options of the Dream sampler, with the reference's defaults.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct DreamOptions {
    /// The mask token id.
    pub mask_id: u32,
    /// Tokens to generate (`max_new_tokens`).
    pub gen_length: usize,
    /// Denoising steps.
    pub steps: usize,
    /// Final timestep.
    pub eps: f64,
    /// Position-selection algorithm.
    pub alg: DreamAlg,
    /// Temperature of position sampling; `None`/0 = deterministic top-k.
    pub alg_temp: Option<f64>,
    /// Token temperature; 0 = greedy.
    pub temperature: f64,
    /// Nucleus filter.
    pub top_p: Option<f64>,
    /// Top-k filter.
    pub top_k: Option<usize>,
}

impl DreamOptions {
    /// The reference defaults (gen 512, steps 512, eps 1e-3, `origin`, greedy).
    pub fn new(mask_id: u32) -> Self {
        DreamOptions {
            mask_id,
            gen_length: 512,
            steps: 512,
            eps: crate::unmask::DEFAULT_EPS,
            alg: DreamAlg::Origin,
            alg_temp: None,
            temperature: 0.0,
            top_p: None,
            top_k: None,
        }
    }

    /// Sets the number of tokens to generate.
    pub fn gen_length(mut self, n: usize) -> Self {
        self.gen_length = n;
        self
    }

    /// Sets the number of steps.
    pub fn steps(mut self, n: usize) -> Self {
        self.steps = n;
        self
    }

    /// Sets the algorithm.
    pub fn alg(mut self, alg: DreamAlg) -> Self {
        self.alg = alg;
        self
    }

    /// Sets `eps`.
    pub fn eps(mut self, eps: f64) -> Self {
        self.eps = eps;
        self
    }

    /// Sets the token temperature.
    pub fn temperature(mut self, t: f64) -> Self {
        self.temperature = t;
        self
    }

    /// Sets the position-sampling temperature.
    pub fn alg_temp(mut self, t: Option<f64>) -> Self {
        self.alg_temp = t;
        self
    }

    /// Sets the nucleus filter.
    pub fn top_p(mut self, p: Option<f64>) -> Self {
        self.top_p = p;
        self
    }

    /// Sets the top-k filter.
    pub fn top_k(mut self, k: Option<usize>) -> Self {
        self.top_k = k;
        self
    }

    /// Checks the options: Dream's own `eps` here, everything else as the controller
    /// checks it (errors name the option).
    ///
    /// # Errors
    /// [`Error::InvalidOption`] naming the offending option.
    pub fn validate(&self) -> Result<(), Error> {
        self.check_eps()?;
        self.controller().validate()
    }

    /// `eps`, named as Dream spells it (the controller would name its schedule).
    fn check_eps(&self) -> Result<(), Error> {
        if self.eps > 0.0 && self.eps < 1.0 {
            Ok(())
        } else {
            Err(Error::option("eps", "must lie in (0, 1)"))
        }
    }
}

impl DreamOptions {
    /// The controller's options that decode exactly as Dream's reference sampler.
    pub fn controller(&self) -> ControllerOptions {
        let (unmask, remasking) = self.alg.rule();
        ControllerOptions::new(self.mask_id)
            .gen_length(self.gen_length)
            .steps(self.steps)
            .policy(Policy::Diffusion)
            .schedule(Schedule::Timesteps(self.eps))
            .unmask(unmask)
            .remasking(remasking)
            .draw(Draw::Categorical)
            .alg_temp(self.alg_temp)
            .temperature(self.temperature)
            .top_p(self.top_p)
            .top_k(self.top_k)
    }
}

/// Runs Dream's sampler on `prompts` and returns the finished canvases.
///
/// # Errors
/// Invalid options, ids outside the vocabulary, a denoiser failure, or missing recorded noise.
pub fn generate<D: Denoiser + ?Sized>(
    model: &D,
    prompts: &PromptBatch,
    opts: &DreamOptions,
    noise: &dyn NoiseSource,
    on_step: &mut dyn FnMut(StepInfo),
) -> Result<Generation, Error> {
    // The controller checks everything else when it starts.
    opts.check_eps()?;
    crate::controller::generate(model, prompts, &opts.controller(), noise, on_step)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::SeededNoise;
    use crate::testing::{Ramp, prompt};

    #[test]
    fn every_alg_fills_the_whole_span() {
        for alg in [
            DreamAlg::Origin,
            DreamAlg::MaskgitPlus,
            DreamAlg::TopkMargin,
            DreamAlg::Entropy,
        ] {
            let opts = DreamOptions::new(11).gen_length(6).steps(3).alg(alg);
            let out = generate(&Ramp, &prompt(), &opts, &SeededNoise::new(3), &mut |_| {}).unwrap();
            assert_eq!(out.generated(0), &[2, 3, 4, 5, 6, 7], "{alg:?}");
        }
    }

    #[test]
    fn sampling_options_are_reproducible_and_valid() {
        let opts = DreamOptions::new(11)
            .gen_length(6)
            .steps(6)
            .alg(DreamAlg::Entropy)
            .temperature(0.8)
            .top_p(Some(0.9))
            .top_k(Some(3))
            .alg_temp(Some(0.5));
        let a = generate(&Ramp, &prompt(), &opts, &SeededNoise::new(9), &mut |_| {}).unwrap();
        let b = generate(&Ramp, &prompt(), &opts, &SeededNoise::new(9), &mut |_| {}).unwrap();
        assert_eq!(a, b);
        assert!(a.generated(0).iter().all(|&t| t < 11));
    }

    #[test]
    fn rejects_bad_options_by_name() {
        let check = |o: DreamOptions, name: &str| match o.validate() {
            Err(Error::InvalidOption { option, .. }) => assert_eq!(option, name),
            other => panic!("expected {name}, got {other:?}"),
        };
        check(DreamOptions::new(1).eps(0.0), "eps");
        check(DreamOptions::new(1).top_p(Some(1.5)), "top-p");
        check(DreamOptions::new(1).top_k(Some(0)), "top-k");
        check(DreamOptions::new(1).steps(0), "steps");
        check(DreamOptions::new(1).alg_temp(Some(f64::NAN)), "alg-temp");
    }
}
