//! Dream's reference sampler (`diffusion_generate` / `_sample` in Dream-org/Dream's
//! `generation_utils.py`), reproduced so that the same logits and noise give the same tokens.
//!
//! The whole generated span is denoised in parallel over `steps` steps on timesteps
//! `linspace(1, eps, steps + 1)`. `origin` reveals each masked position with probability
//! `1 − s/t`; the other algorithms score every masked position and reveal the
//! `⌊n_mask·(1 − s/t)⌋` best (all remaining at the last step).
//!
//! Where the reference draws from PyTorch's generator (categorical sampling at
//! `temperature > 0`, multinomial position sampling at `alg_temp > 0`) this sampler draws
//! from its [`NoiseSource`] by inverse CDF and Gumbel-top-k respectively: the same
//! distributions, not the same random stream.

use crate::TokenEvent;
use serde::{Deserialize, Serialize};

use crate::schedule::{dream_timesteps, dream_transfer_count};
use crate::score::filter::{Confidence, RowSampler, Scratch};
use crate::score::{check_ids, check_shape};
use crate::select::commit_top_k;
use crate::{
    DenoiseInput, Denoiser, Error, Generation, NoiseKey, NoisePurpose, NoiseSource, PromptBatch,
    StepInfo,
};

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
            eps: 1e-3,
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

    /// Checks the options.
    ///
    /// # Errors
    /// [`Error::InvalidOption`] naming the offending option.
    pub fn validate(&self) -> Result<(), Error> {
        if self.gen_length == 0 {
            return Err(Error::option("gen-length", "must be at least 1"));
        }
        if self.steps == 0 {
            return Err(Error::option("steps", "must be at least 1"));
        }
        if !(self.eps > 0.0 && self.eps < 1.0) {
            return Err(Error::option("eps", "must lie in (0, 1)"));
        }
        if !(self.temperature.is_finite() && self.temperature >= 0.0) {
            return Err(Error::option("temperature", "must be a finite number ≥ 0"));
        }
        if self.alg_temp.is_some_and(|t| !(t.is_finite() && t >= 0.0)) {
            return Err(Error::option("alg-temp", "must be a finite number ≥ 0"));
        }
        if self.top_p.is_some_and(|p| !(p > 0.0 && p <= 1.0)) {
            return Err(Error::option("top-p", "must lie in (0, 1]"));
        }
        if self.top_k == Some(0) {
            return Err(Error::option("top-k", "must be at least 1"));
        }
        Ok(())
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
    opts.validate()?;
    if model.attention() != crate::Attention::Full {
        return Err(Error::option(
            "sampler",
            format!(
                "Dream's sampler decodes the whole canvas at once; this model's attention is {} \
                 (use the LLaDA sampler's block policies)",
                model.attention()
            ),
        ));
    }
    let vocab = model.logits_width();
    check_ids(prompts, opts.mask_id, vocab)?;
    let rows = prompts.rows();
    let prompt_len = prompts.len();
    let total = prompt_len + opts.gen_length;
    let mask = opts.mask_id;
    let (mut x, attention) = prompts.canvas(opts.gen_length, mask);
    let timesteps = dream_timesteps(opts.steps, opts.eps as f32);
    let sampler = RowSampler {
        temperature: opts.temperature,
        top_p: opts.top_p,
        top_k: opts.top_k,
    };
    let confidence = match opts.alg {
        DreamAlg::Origin | DreamAlg::MaskgitPlus => Confidence::Prob,
        DreamAlg::TopkMargin => Confidence::Margin,
        DreamAlg::Entropy => Confidence::NegEntropy,
    };
    let mut scratch = Scratch::default();
    let mut nfe = 0;
    let mut forward_seconds = 0.0;
    for i in 0..opts.steps {
        let positions: Vec<usize> = (0..total)
            .filter(|&p| (0..rows).any(|r| x[r * total + p] == mask))
            .collect();
        let mut tokens = Vec::new();
        if !positions.is_empty() {
            let input =
                DenoiseInput::new(&x, total, &positions).with_attention(attention.as_deref());
            let start = std::time::Instant::now();
            let logits = model.denoise(&input)?;
            forward_seconds += start.elapsed().as_secs_f64();
            nfe += 1;
            check_shape(&logits, rows, positions.len(), vocab)?;
            let mask_total = x.iter().filter(|&&t| t == mask).count();
            let (t, s) = (timesteps[i], timesteps[i + 1]);
            let last = i + 1 == opts.steps;
            let key = |purpose, r: usize, p: usize| NoiseKey {
                purpose,
                step: i as u32,
                row: r as u32,
                position: p as u32,
            };
            let k = dream_transfer_count(mask_total, rows, &timesteps, i);
            for r in 0..rows {
                let row = &mut x[r * total..(r + 1) * total];
                let mut candidates = Vec::new();
                for (j, &p) in positions.iter().enumerate() {
                    if row[p] != mask {
                        continue;
                    }
                    if opts.alg == DreamAlg::Origin {
                        let p_transfer = if last { 1.0 } else { 1.0 - s / t };
                        let u = noise.uniform(key(NoisePurpose::Transfer, r, p))? as f32;
                        if u >= p_transfer || u.is_nan() {
                            continue;
                        }
                    }
                    let u = if opts.temperature > 0.0 {
                        noise.uniform(key(NoisePurpose::Categorical, r, p))?
                    } else {
                        0.5
                    };
                    let (token, conf) =
                        sampler.sample(logits.row(r, j), confidence, u, &mut scratch);
                    let mut score = f64::from(conf);
                    if let Some(temp) = opts.alg_temp.filter(|&t| t > 0.0) {
                        // Multinomial without replacement ∝ softmax(conf / alg_temp) is
                        // Gumbel-top-k on conf / alg_temp.
                        let u = noise.uniform(key(NoisePurpose::PositionGumbel, r, p))?;
                        score = score / temp - (-u.ln()).ln();
                    }
                    candidates.push((score, p, token));
                }
                let want = if opts.alg == DreamAlg::Origin {
                    candidates.len()
                } else {
                    k
                };
                let n = commit_top_k(row, &mut candidates, want);
                tokens.extend(
                    candidates[..n]
                        .iter()
                        .map(|&(confidence, position, token)| TokenEvent {
                            row: r,
                            position,
                            token,
                            confidence,
                        }),
                );
            }
        }
        on_step(StepInfo::new(i + 1, opts.steps, tokens, Vec::new()));
    }
    Ok(Generation {
        tokens: x,
        rows,
        prompt_len,
        total_len: total,
        nfe,
        revised: 0,
        forward_seconds,
    })
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
