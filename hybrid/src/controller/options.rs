//! The controller's options: one request's decoding choices, with LLaDA's reference defaults
//! (the LLaDA preset is these options as they come from [`ControllerOptions::new`]).

use serde::{Deserialize, Serialize};

use crate::Segment;
use crate::cache::CacheMode;
use crate::length::insert::Insertion;
use crate::policy::Policy;
use crate::remask::Remask;
use crate::score::{Draw, Remasking, ScoreOptions};
use crate::unmask::{Schedule, Unmask};

/// The threshold of `--policy hybrid` when `--unmask` does not give one (Fast-dLLM's τ).
pub const DEFAULT_HYBRID_THRESHOLD: f64 = 0.9;

/// Options of the decoding controller, with LLaDA's reference defaults.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ControllerOptions {
    /// The mask token id.
    pub mask_id: u32,
    /// Tokens to generate.
    pub gen_length: usize,
    /// Denoising steps in total (divided evenly over the blocks).
    pub steps: usize,
    /// Block length; `None` = one block of `gen_length`.
    pub block_length: Option<usize>,
    /// Gumbel-max temperature; 0 = greedy.
    pub temperature: f64,
    /// Nucleus filter applied before sampling and scoring (Dream's `top_p_logits`).
    #[serde(default)]
    pub top_p: Option<f64>,
    /// Top-k filter applied before sampling and scoring (Dream's `top_k_logits`).
    #[serde(default)]
    pub top_k: Option<usize>,
    /// Classifier-free guidance scale; 0 = off.
    pub cfg_scale: f64,
    /// How candidates are scored.
    pub remasking: Remasking,
    /// How a position's token is drawn (default: LLaDA's Gumbel-max; Dream's preset draws
    /// by inverse CDF).
    #[serde(default)]
    pub draw: Draw,
    /// Dream's `alg_temp`: > 0 perturbs each candidate's score with Gumbel noise at this
    /// temperature, so count rules draw positions ∝ softmax(score / alg_temp) instead of
    /// taking the best.
    #[serde(default)]
    pub alg_temp: Option<f64>,
    /// Forbid EOS entirely (`logits_eos_inf`).
    pub logits_eos_inf: bool,
    /// Never commit EOS/EoT while other tokens are candidates (`confidence_eos_eot_inf`).
    pub confidence_eos_eot_inf: bool,
    /// The EOS id (needed by the two EOS options).
    pub eos_id: Option<u32>,
    /// The end-of-turn id (needed by `confidence_eos_eot_inf`).
    pub eot_id: Option<u32>,
    /// How many tokens a step commits (default: the schedule's count, as the reference).
    #[serde(default)]
    pub unmask: Unmask,
    /// The schedule of count rules (default: linear, as the reference).
    #[serde(default)]
    pub schedule: Schedule,
    /// Cached forwards (default: none, as the reference).
    #[serde(default)]
    pub cache: CacheMode,
    /// Remasking of committed tokens (default: none, as the reference).
    #[serde(default)]
    pub remask: Remask,
    /// Decoding order (default: `block`, the reference).
    #[serde(default)]
    pub policy: Policy,
    /// Stop once every row has committed EOS with everything before it decided; the rest of
    /// the span is filled with EOS.
    #[serde(default)]
    pub until_eos: bool,
    /// DAEDAL: treat `gen_length` as a starting length and grow it by whole blocks while the
    /// model does not expect the answer to end (see [`crate::length`]).
    #[serde(default)]
    pub expand: bool,
    /// Hard maximum of generated tokens with `expand` (default: 8 × `gen_length`).
    #[serde(default)]
    pub max_length: Option<usize>,
    /// Several spans decoded one after another, each with its own policy, steps and block
    /// length; empty = one span from `gen_length`, `steps`, `policy` and `block_length`.
    /// When given, `gen_length` and `steps` must be the segments' sums
    /// ([`ControllerOptions::segments`] sets them).
    #[serde(default)]
    pub segments: Vec<Segment>,
    /// The ids generated positions may take (default: the whole logits row); a segment's own
    /// `vocab` overrides it. A model whose vocabulary continues with image or audio codes
    /// keeps text generation inside its text range this way.
    #[serde(default)]
    pub vocab: Option<std::ops::Range<u32>>,
    /// DAEDAL's mask insertion while denoising ([`crate::daedal`]): grow the answer where the
    /// model is least sure while it is not confident the answer ends, up to `max_length`.
    #[serde(default)]
    pub insert: Option<Insertion>,
}

impl ControllerOptions {
    /// The reference defaults (gen 128, steps 128, one block, greedy) for a model whose mask
    /// id is `mask_id`.
    pub fn new(mask_id: u32) -> Self {
        ControllerOptions {
            mask_id,
            gen_length: 128,
            steps: 128,
            block_length: None,
            temperature: 0.0,
            top_p: None,
            top_k: None,
            cfg_scale: 0.0,
            remasking: Remasking::LowConfidence,
            draw: Draw::Gumbel,
            alg_temp: None,
            logits_eos_inf: false,
            confidence_eos_eot_inf: false,
            eos_id: None,
            eot_id: None,
            unmask: Unmask::Count,
            schedule: Schedule::Linear,
            cache: CacheMode::None,
            remask: Remask::None,
            policy: Policy::Block,
            until_eos: false,
            expand: false,
            max_length: None,
            segments: Vec::new(),
            vocab: None,
            insert: None,
        }
    }

    /// Restricts generated positions to ids `vocab`.
    pub fn vocab(mut self, vocab: Option<std::ops::Range<u32>>) -> Self {
        self.vocab = vocab;
        self
    }

    /// Decodes the generation as these segments, in order (and sets `gen_length` and `steps`
    /// to their sums).
    pub fn segments(mut self, segments: Vec<Segment>) -> Self {
        // Saturating: sums that overflow are refused by validation, not wrapped.
        self.gen_length = saturating_sum(segments.iter().map(|s| s.length));
        self.steps = saturating_sum(segments.iter().map(Segment::effective_steps));
        self.segments = segments;
        self
    }

    /// `max_length` (default 8 × `gen_length`).
    pub fn insert(mut self, insert: Option<Insertion>) -> Self {
        self.insert = insert;
        self
    }

    /// The hard maximum of generated tokens for expansion and insertion.
    pub fn max_length(mut self, max_length: Option<usize>) -> Self {
        self.max_length = max_length;
        self
    }

    /// Turns DAEDAL length expansion on, up to `max_length` generated tokens.
    pub fn expand(mut self, on: bool, max_length: Option<usize>) -> Self {
        self.expand = on;
        self.max_length = max_length;
        self
    }

    /// Sets the policy.
    pub fn policy(mut self, policy: Policy) -> Self {
        self.policy = policy;
        self
    }

    /// Turns EOS-aware early stopping on or off.
    pub fn until_eos(mut self, on: bool) -> Self {
        self.until_eos = on;
        self
    }

    /// Sets the remask rule.
    pub fn remask(mut self, remask: Remask) -> Self {
        self.remask = remask;
        self
    }

    /// Sets the cache mode.
    pub fn cache(mut self, cache: CacheMode) -> Self {
        self.cache = cache;
        self
    }

    /// Sets the unmask rule.
    pub fn unmask(mut self, rule: Unmask) -> Self {
        self.unmask = rule;
        self
    }

    /// Sets the schedule of count rules.
    pub fn schedule(mut self, schedule: Schedule) -> Self {
        self.schedule = schedule;
        self
    }

    /// Sets the number of tokens to generate.
    pub fn gen_length(mut self, n: usize) -> Self {
        self.gen_length = n;
        self
    }

    /// Sets the total number of steps.
    pub fn steps(mut self, n: usize) -> Self {
        self.steps = n;
        self
    }

    /// Sets the block length.
    pub fn block_length(mut self, n: usize) -> Self {
        self.block_length = Some(n);
        self
    }

    /// Sets the temperature.
    pub fn temperature(mut self, t: f64) -> Self {
        self.temperature = t;
        self
    }

    /// Sets the nucleus (top-p) filter.
    pub fn top_p(mut self, p: Option<f64>) -> Self {
        self.top_p = p;
        self
    }

    /// Sets the top-k filter.
    pub fn top_k(mut self, k: Option<usize>) -> Self {
        self.top_k = k;
        self
    }

    /// Sets the CFG scale.
    pub fn cfg_scale(mut self, s: f64) -> Self {
        self.cfg_scale = s;
        self
    }

    /// Sets the remasking strategy.
    pub fn remasking(mut self, r: Remasking) -> Self {
        self.remasking = r;
        self
    }

    /// Sets how tokens are drawn.
    pub fn draw(mut self, draw: Draw) -> Self {
        self.draw = draw;
        self
    }

    /// Sets the position temperature (`alg_temp`).
    pub fn alg_temp(mut self, t: Option<f64>) -> Self {
        self.alg_temp = t;
        self
    }

    /// Sets the EOS and EoT ids.
    pub fn special_ids(mut self, eos: Option<u32>, eot: Option<u32>) -> Self {
        self.eos_id = eos;
        self.eot_id = eot;
        self
    }

    /// Turns `logits_eos_inf` on or off.
    pub fn logits_eos_inf(mut self, on: bool) -> Self {
        self.logits_eos_inf = on;
        self
    }

    /// Turns `confidence_eos_eot_inf` on or off.
    pub fn confidence_eos_eot_inf(mut self, on: bool) -> Self {
        self.confidence_eos_eot_inf = on;
        self
    }

    /// The expansion/insertion maximum: `max_length`, or 8 × `gen_length` (saturating).
    pub(crate) fn effective_max_length(&self) -> usize {
        self.max_length.unwrap_or(self.gen_length.saturating_mul(8))
    }

    /// The most tokens the generation may grow to: `gen_length`, or with expansion or
    /// insertion the larger of it and `max_length` (default 8 × `gen_length`).
    pub fn longest_generation(&self) -> usize {
        if self.expand || self.insert.is_some() {
            self.effective_max_length().max(self.gen_length)
        } else {
            self.gen_length
        }
    }

    /// The effective block length.
    pub fn effective_block_length(&self) -> usize {
        match self.policy {
            Policy::Ar => 1,
            Policy::Diffusion => self.gen_length,
            Policy::Block | Policy::Hybrid => self.block_length.unwrap_or(self.gen_length),
        }
    }

    /// What the scorer needs from these options.
    pub(crate) fn score_options(&self) -> ScoreOptions {
        ScoreOptions {
            temperature: self.temperature,
            top_p: self.top_p,
            top_k: self.top_k,
            remasking: self.remasking,
            logits_eos_inf: self.logits_eos_inf,
            confidence_eos_eot_inf: self.confidence_eos_eot_inf,
            eos_id: self.eos_id,
            eot_id: self.eot_id,
            draw: self.draw,
            alg_temp: self.alg_temp,
        }
    }
}

/// The sum of `values`, `usize::MAX` if it overflows.
fn saturating_sum(values: impl Iterator<Item = usize>) -> usize {
    values.fold(0, usize::saturating_add)
}

/// The sum of `values`, `None` if it overflows.
pub(crate) fn checked_sum(values: impl Iterator<Item = usize>) -> Option<usize> {
    values.into_iter().try_fold(0usize, usize::checked_add)
}
