//! Scoring: how one position's logits become a token and a confidence. Everything that turns a
//! logits row into a choice lives here, so the controller and every preset score alike.
//!
//! - [`Scorer`]: the controller's scorer. It draws the token by [`Draw`] (LLaDA's Gumbel-max
//!   in `f64` with its EOS/EoT quirks, or Dream's `sample_tokens`), scores it by
//!   [`Remasking`], and optionally perturbs the score for sampled positions (`alg_temp`).
//! - `filter`: Dream's `sample_tokens` (temperature, top-p, top-k, inverse-CDF draw) and the
//!   two filters both draws share.
//! - [`restrict`], [`check_shape`], [`check_ids`]: the small checks every decoding path needs.

pub(crate) mod filter;
#[cfg(test)]
mod kernel_twin;

use serde::{Deserialize, Serialize};
use tessera_kernels::{gumbel_argmax, neg_entropy, row_stats, softmax_into, token_prob, top2};

use crate::{Error, Logits, NoiseKey, NoisePurpose, NoiseSource, PromptBatch};
use filter::{Confidence, RowSampler, Scratch, top_k_filter, top_p_filter};

/// How a step scores the predicted tokens it may commit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum Remasking {
    /// Commit the tokens the model is surest of (softmax probability of the chosen token).
    #[default]
    LowConfidence,
    /// Commit uniformly random positions.
    Random,
    /// Commit where the top-1 probability leads the top-2 most (Dream's `topk_margin`).
    Margin,
    /// Commit where the distribution's entropy is lowest (Dream's `entropy`).
    Entropy,
}

/// How a position's token is drawn from its logits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum Draw {
    /// LLaDA's reference: top-p/top-k on the raw logits, Gumbel-max in `f64` at the
    /// temperature (argmax at 0); the confidence is the untempered softmax probability.
    #[default]
    Gumbel,
    /// Dream's `sample_tokens`: logits divided by the temperature, top-p, top-k, then an
    /// inverse-CDF draw (argmax at 0); the confidence comes from the tempered distribution.
    Categorical,
}

impl Draw {
    /// Parses `gumbel` or `categorical`.
    ///
    /// # Errors
    /// [`Error::InvalidOption`] naming `draw`.
    pub fn parse(s: &str) -> Result<Self, Error> {
        match s {
            "gumbel" => Ok(Draw::Gumbel),
            "categorical" => Ok(Draw::Categorical),
            _ => Err(Error::option(
                "draw",
                format!("unknown draw `{s}` (gumbel, categorical)"),
            )),
        }
    }
}

impl std::fmt::Display for Draw {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Draw::Gumbel => "gumbel",
            Draw::Categorical => "categorical",
        })
    }
}

impl Remasking {
    /// Parses `low-confidence`, `random`, `margin` or `entropy`.
    ///
    /// # Errors
    /// [`Error::InvalidOption`] naming `remasking`.
    pub fn parse(s: &str) -> Result<Self, Error> {
        match s {
            "low-confidence" => Ok(Remasking::LowConfidence),
            "random" => Ok(Remasking::Random),
            "margin" => Ok(Remasking::Margin),
            "entropy" => Ok(Remasking::Entropy),
            _ => Err(Error::option(
                "remasking",
                format!("unknown remasking `{s}` (low-confidence, random, margin, entropy)"),
            )),
        }
    }
}

impl std::fmt::Display for Remasking {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Remasking::LowConfidence => "low-confidence",
            Remasking::Random => "random",
            Remasking::Margin => "margin",
            Remasking::Entropy => "entropy",
        })
    }
}

/// What the controller's scorer needs from a request's options.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct ScoreOptions {
    pub(crate) temperature: f64,
    pub(crate) top_p: Option<f64>,
    pub(crate) top_k: Option<usize>,
    pub(crate) remasking: Remasking,
    pub(crate) logits_eos_inf: bool,
    pub(crate) confidence_eos_eot_inf: bool,
    pub(crate) eos_id: Option<u32>,
    pub(crate) eot_id: Option<u32>,
    pub(crate) draw: Draw,
    pub(crate) alg_temp: Option<f64>,
}

/// Picks the token and confidence of one position, with the reference's EOS quirks.
#[derive(Debug)]
pub(crate) struct Scorer {
    opts: ScoreOptions,
    row: Vec<f32>,
    uniforms: Vec<f64>,
    probs: Vec<f32>,
    order: Vec<u32>,
    scratch: Scratch,
}

impl Scorer {
    pub(crate) fn new(opts: ScoreOptions, vocab: usize) -> Self {
        let uniforms = if opts.temperature > 0.0 && opts.draw == Draw::Gumbel {
            vec![0.0; vocab]
        } else {
            Vec::new()
        };
        Scorer {
            opts,
            row: Vec::with_capacity(vocab),
            uniforms,
            probs: Vec::new(),
            order: Vec::new(),
            scratch: Scratch::default(),
        }
    }

    /// Samples and scores one position from `logits`, the slice of its row starting at id
    /// `offset` (the position's vocabulary); returns the id and its score.
    pub(crate) fn score(
        &mut self,
        logits: &[f32],
        offset: u32,
        key: NoiseKey,
        noise: &dyn NoiseSource,
    ) -> Result<(u32, f64), Error> {
        let (token, mut score) = match self.opts.draw {
            Draw::Gumbel => self.gumbel(logits, offset, key, noise)?,
            Draw::Categorical => self.categorical(logits, offset, key, noise)?,
        };
        if let Some(temp) = self.opts.alg_temp.filter(|&t| t > 0.0) {
            // Dream's `alg_temp`: positions drawn without replacement ∝ softmax(score/temp)
            // are the top ones under Gumbel-perturbed `score/temp`.
            let u = noise.uniform(NoiseKey {
                purpose: NoisePurpose::PositionGumbel,
                ..key
            })?;
            score = score / temp - (-u.ln()).ln();
        }
        Ok((token, score))
    }

    /// Dream's `sample_tokens` on the position's row.
    fn categorical(
        &mut self,
        logits: &[f32],
        offset: u32,
        key: NoiseKey,
        noise: &dyn NoiseSource,
    ) -> Result<(u32, f64), Error> {
        let o = self.opts;
        // The sampler copies the row itself; a copy of our own only where EOS is cut out.
        let row = match (o.logits_eos_inf, local_id(o.eos_id, offset, logits.len())) {
            (true, Some(e)) => {
                self.row.clear();
                self.row.extend_from_slice(logits);
                // cannot fail: `local_id` returns only ids inside the row.
                self.row[e] = f32::NEG_INFINITY;
                &self.row[..]
            }
            _ => logits,
        };
        let u = if o.temperature > 0.0 {
            noise.uniform(NoiseKey {
                purpose: NoisePurpose::Categorical,
                ..key
            })?
        } else {
            0.5
        };
        let confidence = match o.remasking {
            Remasking::LowConfidence | Remasking::Random => Confidence::Prob,
            Remasking::Margin => Confidence::Margin,
            Remasking::Entropy => Confidence::NegEntropy,
        };
        let sampler = RowSampler {
            temperature: o.temperature,
            top_p: o.top_p,
            top_k: o.top_k,
        };
        let (token, conf) = sampler.sample(row, confidence, u, &mut self.scratch);
        let score = if o.remasking == Remasking::Random {
            noise.uniform(NoiseKey {
                purpose: NoisePurpose::Remask,
                ..key
            })?
        } else {
            f64::from(conf)
        };
        Ok((offset + token, score))
    }

    /// LLaDA's Gumbel-max draw with its EOS/EoT quirks.
    fn gumbel(
        &mut self,
        logits: &[f32],
        offset: u32,
        key: NoiseKey,
        noise: &dyn NoiseSource,
    ) -> Result<(u32, f64), Error> {
        let o = self.opts;
        self.row.clear();
        self.row.extend_from_slice(logits);
        // cannot fail below: `local_id` returns only ids inside the row; the row is never empty
        // (the vocabulary has the mask id, a restricted one is refused when empty), so
        // `token` indexes it; `uniforms` is allocated at the logits width whenever a
        // temperature draws Gumbel noise, and a (restricted) row is no wider.
        let eos = local_id(o.eos_id, offset, logits.len());
        let eot = local_id(o.eot_id, offset, logits.len());
        if let (true, Some(e)) = (o.logits_eos_inf, eos) {
            self.row[e] = f32::NEG_INFINITY;
        }
        if let Some(p) = o.top_p.filter(|&p| p < 1.0) {
            top_p_filter(&mut self.row, p as f32, &mut self.order, &mut self.probs);
        }
        if let Some(k) = o.top_k {
            top_k_filter(&mut self.row, k, &mut self.probs);
        }
        let token = if o.temperature > 0.0 {
            let uniforms = &mut self.uniforms[..self.row.len()];
            noise.fill(key, uniforms)?;
            gumbel_argmax(&self.row, uniforms, o.temperature)
        } else {
            row_stats(&self.row).argmax
        };
        // The reference writes `logits_with_noise[eos] = logits[eot] = -inf` after the argmax.
        // At temperature 0 `logits_with_noise` *is* `logits`, so both ids leave the softmax;
        // with noise only EoT does. Reproduced as is.
        if o.confidence_eos_eot_inf {
            if let Some(e) = eot {
                self.row[e] = f32::NEG_INFINITY;
            }
            if let (true, Some(e)) = (o.temperature == 0.0, eos) {
                self.row[e] = f32::NEG_INFINITY;
            }
        }
        let confidence = match o.remasking {
            Remasking::LowConfidence => {
                let stats = row_stats(&self.row);
                f64::from(stats.prob(self.row[token]))
            }
            Remasking::Random => noise.uniform(NoiseKey {
                purpose: NoisePurpose::Remask,
                ..key
            })?,
            Remasking::Margin | Remasking::Entropy => {
                self.probs.resize(self.row.len(), 0.0);
                softmax_into(&self.row, &mut self.probs);
                f64::from(if o.remasking == Remasking::Margin {
                    let ((_, p1), (_, p2)) = top2(&self.probs);
                    p1 - p2
                } else {
                    neg_entropy(&self.probs)
                })
            }
        };
        Ok((offset + token as u32, confidence))
    }
}

/// Where id `id` sits in a row of `len` ids starting at `offset`, if it does.
fn local_id(id: Option<u32>, offset: u32, len: usize) -> Option<usize> {
    id.and_then(|i| i.checked_sub(offset))
        .map(|i| i as usize)
        .filter(|&i| i < len)
}

/// The probability `scores` (a position's restricted row, first id `offset`) gives `token`;
/// 0 for a token outside the row: the kernels' remask scoring, the CPU twin of the CUDA
/// kernel `tessera_token_probs`.
pub(crate) fn support_of(scores: &[f32], offset: u32, token: u32) -> f64 {
    f64::from(token_prob(scores, offset, token))
}

/// The slice of `row` a position may sample from, and the id of its first entry.
pub(crate) fn restrict<'r>(
    row: &'r [f32],
    vocab: &Option<std::ops::Range<u32>>,
) -> (&'r [f32], u32) {
    match vocab {
        // cannot fail: `Decoding::new` refused empty ranges and ends past the logits width.
        Some(v) => (&row[v.start as usize..v.end as usize], v.start),
        None => (row, 0),
    }
}

/// Rejects prompt ids the model cannot embed.
pub(crate) fn check_ids(prompts: &PromptBatch, mask_id: u32, vocab: usize) -> Result<(), Error> {
    if mask_id as usize >= vocab {
        return Err(Error::option(
            "mask-id",
            format!("{mask_id} is outside the vocabulary ({vocab})"),
        ));
    }
    let max = prompts.max_id();
    if max as usize >= vocab {
        return Err(Error::InvalidPrompt(format!(
            "token id {max} is outside the model's vocabulary of {vocab}"
        )));
    }
    Ok(())
}

/// Checks that a denoiser returned what was asked for.
pub(crate) fn check_shape(
    logits: &Logits,
    rows: usize,
    positions: usize,
    vocab: usize,
) -> Result<(), Error> {
    if logits.rows() != rows || logits.positions() != positions || logits.vocab() != vocab {
        return Err(Error::Denoiser(
            format!(
                "denoiser returned logits {}×{}×{}, expected {rows}×{positions}×{vocab}",
                logits.rows(),
                logits.positions(),
                logits.vocab()
            )
            .into(),
        ));
    }
    Ok(())
}
