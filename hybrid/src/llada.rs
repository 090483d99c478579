//! LLaDA's reference sampler (`generate` in ML-GSAI/LLaDA's `generate.py`), reproduced so
//! that the same logits and the same noise give the same tokens.
//!
//! Canvas `[prompt | mask × gen_length]`, split into blocks decoded left to right; inside a
//! block, each step predicts every masked position, and commits the `k` most confident
//! (`k` from [`num_transfer_tokens`], or from another
//! [`unmask`](crate::unmask) rule). Committed tokens are final.

use serde::{Deserialize, Serialize};
use tessera_kernels::{entropy, gumbel_argmax, neg_entropy, row_stats, softmax_into, top2};

use crate::filter::{top_k_filter, top_p_filter};

use crate::cache::CacheMode;
use crate::daedal::Insertion;
use crate::length::expand;
use crate::pass::{Pass, Reuse};
use crate::policy::{Adaptive, Policy};
use crate::refine;
use crate::remask::{Remask, running_confidence};
use crate::schedule::num_transfer_tokens;
use crate::unmask::{Candidate, Schedule, StepContext, Unmask, UnmaskRule, by_confidence};
use crate::{
    Attention, Denoiser, Error, Generation, Logits, NoiseKey, NoisePurpose, NoiseSource,
    PositionEvent, PromptBatch, Segment, StepInfo, TokenEvent,
};

/// The threshold of `--policy hybrid` when `--unmask` does not give one (Fast-dLLM's τ).
pub const DEFAULT_HYBRID_THRESHOLD: f64 = 0.9;

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

/// Options of the LLaDA sampler, with the reference's defaults.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct LladaOptions {
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
    /// ([`LladaOptions::segments`] sets them).
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

impl LladaOptions {
    /// The reference defaults (gen 128, steps 128, one block, greedy) for a model whose mask
    /// id is `mask_id`.
    pub fn new(mask_id: u32) -> Self {
        LladaOptions {
            mask_id,
            gen_length: 128,
            steps: 128,
            block_length: None,
            temperature: 0.0,
            top_p: None,
            top_k: None,
            cfg_scale: 0.0,
            remasking: Remasking::LowConfidence,
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
        self.gen_length = segments.iter().map(|s| s.length).sum();
        self.steps = segments.iter().map(Segment::effective_steps).sum();
        self.segments = segments;
        self
    }

    /// The options of one segment on its own (its length, steps, policy and block length).
    fn for_segment(&self, seg: &Segment) -> LladaOptions {
        let mut o = self.clone();
        o.segments = Vec::new();
        o.gen_length = seg.length;
        o.steps = seg.effective_steps();
        o.policy = seg.policy;
        o.block_length = match seg.policy {
            Policy::Block | Policy::Hybrid => seg.block_length.or(self.block_length),
            Policy::Ar | Policy::Diffusion => seg.block_length,
        };
        o
    }

    /// The blocks the generation is decoded in, in order: `(end offset from the prompt,
    /// steps, policy)`.
    fn plan(&self) -> Vec<PlannedBlock> {
        let single = [Segment::new(self.gen_length, self.policy)];
        let segments: &[Segment] = if self.segments.is_empty() {
            &single
        } else {
            &self.segments
        };
        let mut plan = Vec::new();
        let mut start = 0;
        for seg in segments {
            let o = if self.segments.is_empty() {
                self.clone()
            } else {
                self.for_segment(seg)
            };
            let block = o.effective_block_length();
            let blocks = o.gen_length / block;
            for _ in 0..blocks {
                plan.push(PlannedBlock {
                    start,
                    end: start + block,
                    steps: o.steps / blocks,
                    policy: o.policy,
                    vocab: seg.vocab.clone().or_else(|| self.vocab.clone()),
                });
                start += block;
            }
        }
        plan
    }

    /// Turns DAEDAL's mask insertion while denoising on (`None`: off). It needs threshold
    /// unmasking under the `block` or `hybrid` policy and an EOS id; the answer grows up to
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

    /// The effective block length.
    pub fn effective_block_length(&self) -> usize {
        match self.policy {
            Policy::Ar => 1,
            Policy::Diffusion => self.gen_length,
            Policy::Block | Policy::Hybrid => self.block_length.unwrap_or(self.gen_length),
        }
    }

    /// The step rule the options imply for a block decoded with `policy`.
    fn step_rule(&self, policy: Policy) -> Box<dyn UnmaskRule> {
        match (policy, self.unmask) {
            (Policy::Hybrid, Unmask::Threshold(t)) => Box::new(Adaptive::new(t)),
            (Policy::Hybrid, _) => Box::new(Adaptive::new(DEFAULT_HYBRID_THRESHOLD)),
            _ => self.unmask.rule(self.schedule),
        }
    }

    /// Refuses options that contradict the policy, naming the option.
    fn validate_policy(&self) -> Result<(), Error> {
        let contradiction = |option, reason: String| Err(Error::option(option, reason));
        match self.policy {
            Policy::Ar => {
                if self.block_length.is_some_and(|b| b != 1) {
                    return contradiction(
                        "block-length",
                        "`--policy ar` decodes one token per block".into(),
                    );
                }
                if self.steps != self.gen_length {
                    return contradiction(
                        "steps",
                        format!(
                            "`--policy ar` takes one step per token: steps must be gen-length ({})",
                            self.gen_length
                        ),
                    );
                }
                if self.unmask != Unmask::Count {
                    return contradiction(
                        "unmask",
                        "`--policy ar` commits exactly one token per step".into(),
                    );
                }
                if self.remask.revises_in_block() {
                    return contradiction(
                        "remask",
                        format!(
                            "`{}` has nothing to revise with one token per block",
                            self.remask
                        ),
                    );
                }
            }
            Policy::Diffusion => {
                if self.block_length.is_some_and(|b| b != self.gen_length) {
                    return contradiction(
                        "block-length",
                        "`--policy diffusion` decodes the span as one block".into(),
                    );
                }
            }
            Policy::Hybrid => {
                if !matches!(self.unmask, Unmask::Count | Unmask::Threshold(_)) {
                    return contradiction(
                        "unmask",
                        format!("`--policy hybrid` uses a threshold, not `{}`", self.unmask),
                    );
                }
                if self.remask.revises_in_block() {
                    return contradiction(
                        "remask",
                        format!(
                            "`{}` needs the count schedule, not `--policy hybrid`",
                            self.remask
                        ),
                    );
                }
            }
            Policy::Block => {}
        }
        if self.until_eos && self.eos_id.is_none() {
            return contradiction("until-eos", "the model has no EOS id".into());
        }
        if self.expand && self.eos_id.is_none() {
            return contradiction("expand", "the model has no EOS id".into());
        }
        if self.expand && matches!(self.policy, Policy::Ar | Policy::Diffusion) {
            return contradiction(
                "expand",
                format!(
                    "expansion grows whole blocks; `--policy {}` has none",
                    self.policy
                ),
            );
        }
        if let Some(insert) = &self.insert {
            insert.validate()?;
            if self.eos_id.is_none() {
                return contradiction("insert", "the model has no EOS id".into());
            }
            if !matches!(self.policy, Policy::Block | Policy::Hybrid)
                || !matches!(self.unmask, Unmask::Threshold(_))
            {
                return contradiction(
                    "insert",
                    "insertion decodes blocks with a confidence threshold: use `--policy block` \
                     or `hybrid` with `--unmask threshold:T`"
                        .into(),
                );
            }
            if self.cache != CacheMode::None {
                return contradiction(
                    "cache",
                    "insertion changes the canvas every step; it runs without a cache".into(),
                );
            }
            if self.remask != Remask::None {
                return contradiction(
                    "remask",
                    format!("`{}` does not combine with insertion", self.remask),
                );
            }
            if self.until_eos {
                return contradiction(
                    "until-eos",
                    "insertion decides the answer's length itself".into(),
                );
            }
        }
        if let Some(max) = self.max_length {
            if !self.expand && self.insert.is_none() {
                return contradiction(
                    "max-length",
                    "only applies with `--expand` or `--insert`".into(),
                );
            }
            if max < self.gen_length {
                return contradiction(
                    "max-length",
                    format!("{max} is below gen-length {}", self.gen_length),
                );
            }
        }
        Ok(())
    }

    /// Segments: their sums match, and each is valid on its own (errors say which one).
    fn validate_segments(&self) -> Result<(), Error> {
        let length: usize = self.segments.iter().map(|s| s.length).sum();
        let steps: usize = self.segments.iter().map(Segment::effective_steps).sum();
        if length != self.gen_length || steps != self.steps {
            return Err(Error::option(
                "segments",
                format!(
                    "the segments add up to {length} tokens in {steps} steps, but gen-length is {} \
                     and steps {}",
                    self.gen_length, self.steps
                ),
            ));
        }
        if self.expand || self.insert.is_some() {
            return Err(Error::option(
                if self.expand { "expand" } else { "insert" },
                "expansion grows a single span; it does not combine with segments",
            ));
        }
        for (i, seg) in self.segments.iter().enumerate() {
            self.for_segment(seg).validate().map_err(|e| match e {
                Error::InvalidOption { option, reason } => Error::InvalidOption {
                    option,
                    reason: format!("segment {} (`{seg}`): {reason}", i + 1),
                },
                other => other,
            })?;
        }
        Ok(())
    }

    /// Checks the options against each other.
    ///
    /// # Errors
    /// [`Error::InvalidOption`] naming the offending option.
    pub fn validate(&self) -> Result<(), Error> {
        if !self.segments.is_empty() {
            return self.validate_segments();
        }
        if self.gen_length == 0 {
            return Err(Error::option("gen-length", "must be at least 1"));
        }
        self.validate_policy()?;
        let block = self.effective_block_length();
        if block == 0 {
            return Err(Error::option("block-length", "must be at least 1"));
        }
        if !self.gen_length.is_multiple_of(block) {
            return Err(Error::option(
                "block-length",
                format!(
                    "gen-length {} is not divisible by block-length {block}",
                    self.gen_length
                ),
            ));
        }
        let blocks = self.gen_length / block;
        if self.steps == 0 || !self.steps.is_multiple_of(blocks) {
            return Err(Error::option(
                "steps",
                format!(
                    "{} steps cannot be split evenly over {blocks} blocks",
                    self.steps
                ),
            ));
        }
        if !(self.temperature.is_finite() && self.temperature >= 0.0) {
            return Err(Error::option("temperature", "must be a finite number ≥ 0"));
        }
        if !(self.cfg_scale.is_finite() && self.cfg_scale >= 0.0) {
            return Err(Error::option("cfg-scale", "must be a finite number ≥ 0"));
        }
        if self.top_p.is_some_and(|p| !(p > 0.0 && p <= 1.0)) {
            return Err(Error::option("top-p", "must lie in (0, 1]"));
        }
        if self.top_k == Some(0) {
            return Err(Error::option("top-k", "must be at least 1"));
        }
        self.unmask.validate()?;
        self.remask.validate()?;
        if self.remask.revises_in_block() && self.unmask != Unmask::Count {
            return Err(Error::option(
                "remask",
                format!(
                    "`{}` keeps the count schedule's tokens; it does not combine with `--unmask {}`",
                    self.remask, self.unmask
                ),
            ));
        }
        if self.remask.remdm().is_some() && self.schedule != Schedule::Linear {
            return Err(Error::option(
                "remask",
                format!(
                    "`{}` follows the linear schedule, not `--schedule {}`",
                    self.remask, self.schedule
                ),
            ));
        }
        if self.unmask != Unmask::Count && self.schedule != Schedule::Linear {
            return Err(Error::option(
                "schedule",
                format!(
                    "a schedule applies to `--unmask count`, not `{}`",
                    self.unmask
                ),
            ));
        }
        if (self.logits_eos_inf || self.confidence_eos_eot_inf) && self.eos_id.is_none() {
            return Err(Error::option("logits-eos-inf", "the model has no EOS id"));
        }
        if self.confidence_eos_eot_inf && self.eot_id.is_none() {
            return Err(Error::option(
                "confidence-eos-eot-inf",
                "the model has no end-of-turn id",
            ));
        }
        Ok(())
    }
}

/// Runs LLaDA's sampler on `prompts` and returns the finished canvases.
///
/// `on_step` is called after every step (for progress displays).
///
/// # Errors
/// Invalid options ([`Error::InvalidOption`]), ids outside the model's vocabulary
/// ([`Error::InvalidPrompt`]), a denoiser failure, or missing recorded noise.
pub fn generate<D: Denoiser + ?Sized>(
    model: &D,
    prompts: &PromptBatch,
    opts: &LladaOptions,
    noise: &dyn NoiseSource,
    on_step: &mut dyn FnMut(StepInfo),
) -> Result<Generation, Error> {
    opts.validate()?;
    let structure = model.attention();
    opts.cache.validate_for(structure)?;
    let vocab = model.logits_width();
    check_ids(prompts, opts.mask_id, vocab)?;
    for (name, id) in [("eos", opts.eos_id), ("eot", opts.eot_id)] {
        if id.is_some_and(|id| id as usize >= vocab) {
            return Err(Error::option(
                "special-ids",
                format!("{name} id outside the vocabulary ({vocab})"),
            ));
        }
    }
    let mut probe_nfe = 0;
    let expanded;
    let opts = if let (true, Some(eos)) = (opts.expand, opts.eos_id) {
        let block = opts.effective_block_length();
        let per_block = opts.steps / (opts.gen_length / block);
        let max = opts.max_length.unwrap_or(8 * opts.gen_length);
        let e = expand(
            model,
            prompts,
            opts.mask_id,
            eos,
            opts.cfg_scale,
            opts.gen_length,
            block,
            max,
        )?;
        probe_nfe = e.nfe;
        expanded = opts
            .clone()
            .gen_length(e.gen_length)
            .block_length(block)
            .steps(per_block * e.gen_length / block);
        &expanded
    } else {
        opts
    };
    if let (Some(insertion), Some(eos), Unmask::Threshold(_)) =
        (opts.insert, opts.eos_id, opts.unmask)
    {
        if structure != Attention::Full {
            return Err(Error::option(
                "insert",
                format!("insertion needs full attention; this model's is {structure}"),
            ));
        }
        let max = opts.max_length.unwrap_or(8 * opts.gen_length);
        return crate::daedal::denoise(
            model, prompts, opts, insertion, max, eos, probe_nfe, noise, on_step,
        );
    }
    let rows = prompts.rows();
    let prompt_len = prompts.len();
    let total = prompt_len + opts.gen_length;
    let mask = opts.mask_id;
    let (mut x, attention) = prompts.canvas(opts.gen_length, mask);
    let prompt_index: Vec<bool> = x.iter().map(|&t| t != mask).collect();
    let plan = opts.plan();
    if let Some(v) = plan
        .iter()
        .filter_map(|b| b.vocab.as_ref())
        .find(|v| v.is_empty() || v.end as usize > vocab)
    {
        return Err(Error::option(
            "segments",
            format!(
                "vocabulary {}..{} is empty or outside the model's {vocab} logits",
                v.start, v.end
            ),
        ));
    }
    let ends: Vec<usize> = plan.iter().map(|b| prompt_len + b.end).collect();
    let pass = Pass::new(
        rows,
        total,
        mask,
        vocab,
        attention.as_deref(),
        opts.cfg_scale,
        &prompt_index,
    )
    .with_groups(structure.groups_for_blocks(prompt_len, &ends));
    // Under structured attention a block sees nothing after it, so steps predict only the
    // block (uncached and cached alike, which keeps the two identical).
    let structured = pass.groups.is_some();
    // The exact block cache: keys and values of `0..covered`, all final.
    let mut block_kv = D::Cache::default();
    let mut covered = 0;

    let mut scorer = Scorer::new(opts, vocab);
    let mut nfe = probe_nfe;
    let mut revised = 0;
    let mut global_step = 0;
    // The confidence each committed position was decoded with (RCR and refinement rank by it).
    let mut running = vec![f64::INFINITY; x.len()];
    let rules: Vec<Box<dyn UnmaskRule>> = plan.iter().map(|b| opts.step_rule(b.policy)).collect();
    let rcr = opts.remask == Remask::Rcr;
    let remdm = opts.remask.remdm();
    let total_steps = plan
        .iter()
        .zip(&rules)
        .map(|(b, rule)| {
            if rule.fixed_steps() {
                b.steps
            } else {
                b.end - b.start
            }
        })
        .sum::<usize>()
        + opts.remask.refine_rounds();
    'decode: for (planned, rule) in plan.iter().zip(&rules) {
        let (block_start, block_end) = (prompt_len + planned.start, prompt_len + planned.end);
        let steps_per_block = planned.steps;
        let fixed = rule.fixed_steps();
        let block_masks = |x: &[u32], r: usize| {
            x[r * total + block_start..r * total + block_end]
                .iter()
                .filter(|&&t| t == mask)
                .count()
        };
        let initial: Vec<usize> = (0..rows).map(|r| block_masks(&x, r)).collect();
        // Count rules run the planned steps; confidence rules run until the block is decoded
        // (each step commits at least one token per row, so this bounds them).
        let max_steps = if fixed {
            steps_per_block
        } else {
            (0..rows)
                .map(|r| {
                    x[r * total..r * total + block_end]
                        .iter()
                        .filter(|&&t| t == mask)
                        .count()
                })
                .max()
                .unwrap_or(0)
        };
        // The block's first pass (re)builds the cache; later passes recompute only the span.
        let mut kv: Option<D::Cache> = None;
        let span = opts.cache.span(block_start, block_end, total);
        for i in 0..max_steps {
            let cached = opts.cache != CacheMode::None && kv.is_some();
            // A cached pass predicts only inside its span (masks left in the prompt are
            // decoded by the block's full passes).
            let first = if cached || structured || opts.cache == CacheMode::Block {
                block_start
            } else {
                0
            };
            let positions: Vec<usize> = (first..block_end)
                .filter(|&p| (0..rows).any(|r| x[r * total + p] == mask))
                .collect();
            if !fixed && (0..rows).all(|r| block_masks(&x, r) == 0) {
                break;
            }
            let mut tokens = Vec::new();
            let mut remasked = Vec::new();
            if !positions.is_empty() {
                let reuse = match (&kv, opts.cache) {
                    (_, CacheMode::None) => Reuse::Full,
                    (_, CacheMode::Block) => {
                        // The block's first pass also recomputes the blocks finished since the
                        // cache was last extended, and appends them.
                        let span = crate::Span {
                            start: covered,
                            end: block_end,
                        };
                        covered = block_start;
                        Reuse::Extend {
                            cache: &mut block_kv,
                            span,
                            keep: block_start,
                        }
                    }
                    (Some(cache), _) => Reuse::Span(cache, span),
                    (None, _) => Reuse::Build(&mut kv),
                };
                let logits = pass.run(model, &x, &positions, reuse)?;
                nfe += 1;
                for r in 0..rows {
                    let ctx = StepContext {
                        step: i,
                        steps: steps_per_block,
                        initial_masked: initial[r],
                        masked: block_masks(&x, r),
                    };
                    let row = &mut x[r * total..(r + 1) * total];
                    let conf = &mut running[r * total..(r + 1) * total];
                    let mut candidates = Vec::with_capacity(positions.len());
                    for (k, &p) in positions.iter().enumerate() {
                        if row[p] != mask {
                            continue;
                        }
                        let key = NoiseKey {
                            purpose: NoisePurpose::Gumbel,
                            step: global_step as u32,
                            row: r as u32,
                            position: p as u32,
                        };
                        let (scores, offset) = restrict(logits.row(r, k), &planned.vocab);
                        let (token, confidence) = scorer.score(scores, offset, key, noise)?;
                        let entropy = if rule.needs_entropy() {
                            f64::from(entropy(scores))
                        } else {
                            0.0
                        };
                        candidates.push(Candidate {
                            position: p,
                            token,
                            confidence,
                            entropy,
                        });
                    }
                    if rcr {
                        // Keep the schedule's cumulative count among the block's committed
                        // tokens and the new predictions together.
                        let keep: usize = num_transfer_tokens(initial[r], steps_per_block)[..=i]
                            .iter()
                            .sum();
                        let old: Vec<Candidate> = (block_start..block_end)
                            .filter(|&p| row[p] != mask && !prompt_index[r * total + p])
                            .map(|p| Candidate {
                                position: p,
                                token: row[p],
                                confidence: conf[p],
                                entropy: 0.0,
                            })
                            .collect();
                        let (commit, remask) = running_confidence(&candidates, &old, keep);
                        for c in &commit {
                            row[c.position] = c.token;
                            conf[c.position] = c.confidence;
                            tokens.push(token_event(r, c));
                        }
                        for &position in &remask {
                            row[position] = mask;
                            remasked.push(PositionEvent { row: r, position });
                        }
                        revised += remask.len();
                    } else if let Some(remdm) = remdm {
                        // ReMDM: fill the block up to its target count, then mask tokens
                        // decoded before this step again with the schedule's probability.
                        let before: Vec<usize> = (block_start..block_end)
                            .filter(|&p| row[p] != mask && !prompt_index[r * total + p])
                            .collect();
                        let target = remdm.target(i, steps_per_block, initial[r]);
                        by_confidence(&mut candidates);
                        let n = target.saturating_sub(before.len()).min(candidates.len());
                        for c in &candidates[..n] {
                            row[c.position] = c.token;
                            conf[c.position] = c.confidence;
                            tokens.push(token_event(r, c));
                        }
                        let psi: Vec<f64> = before.iter().map(|&p| conf[p]).collect();
                        let sigmas = remdm.sigmas(i, steps_per_block, initial[r], &psi);
                        for (&position, &sigma) in before.iter().zip(&sigmas) {
                            let key = NoiseKey {
                                purpose: NoisePurpose::Revise,
                                step: global_step as u32,
                                row: r as u32,
                                position: position as u32,
                            };
                            if sigma > 0.0 && noise.uniform(key)? < sigma {
                                row[position] = mask;
                                remasked.push(PositionEvent { row: r, position });
                                revised += 1;
                            }
                        }
                    } else {
                        let n = rule.select(&ctx, &mut candidates).min(candidates.len());
                        for c in &candidates[..n] {
                            row[c.position] = c.token;
                            conf[c.position] = c.confidence;
                            tokens.push(token_event(r, c));
                        }
                    }
                }
            }
            global_step += 1;
            on_step(StepInfo::new(global_step, total_steps, tokens, remasked));
            if let (true, Some(eos)) = (opts.until_eos, opts.eos_id)
                && finish_at_eos(&mut x, rows, prompt_len, mask, eos)
            {
                break 'decode;
            }
        }
    }
    let mut canvas = refine::Canvas {
        pass: &pass,
        plan: &plan,
        x: &mut x,
        running: &mut running,
        prompt_len,
    };
    for _ in 0..opts.remask.refine_rounds() {
        let round = match opts.remask {
            Remask::Refine { fraction, .. } => refine::refine_round(
                model,
                &mut canvas,
                fraction,
                &mut scorer,
                noise,
                global_step,
            )?,
            Remask::Recheck { groups, below, .. } => refine::recheck_round(
                model,
                &mut canvas,
                groups,
                below,
                &mut scorer,
                noise,
                global_step,
            )?,
            _ => break,
        };
        nfe += round.nfe;
        revised += round.changed;
        // A round that re-masks nothing (a recheck that found every token supported) ends
        // the refinement: another would find the same.
        if round.remasked.is_empty() {
            break;
        }
        global_step += 1;
        on_step(StepInfo::new(
            global_step,
            total_steps,
            round.tokens,
            round.remasked,
        ));
    }
    Ok(Generation {
        tokens: x,
        rows,
        prompt_len,
        total_len: total,
        nfe,
        revised,
        forward_seconds: pass.forward_seconds.get(),
    })
}

/// One block of the decoding plan (offsets from the end of the prompt).
#[derive(Debug, Clone)]
pub(crate) struct PlannedBlock {
    pub(crate) start: usize,
    pub(crate) end: usize,
    steps: usize,
    policy: Policy,
    pub(crate) vocab: Option<std::ops::Range<u32>>,
}

/// If every row has committed EOS with everything before it decided, fills what follows
/// each row's first EOS with EOS and returns `true`.
fn finish_at_eos(x: &mut [u32], rows: usize, prompt_len: usize, mask: u32, eos: u32) -> bool {
    let total = x.len() / rows;
    let mut ends = Vec::with_capacity(rows);
    for r in 0..rows {
        let generated = &x[r * total + prompt_len..(r + 1) * total];
        match generated.iter().position(|&t| t == eos) {
            Some(e) if generated[..e].iter().all(|&t| t != mask) => ends.push(e),
            _ => return false,
        }
    }
    for (r, e) in ends.into_iter().enumerate() {
        x[r * total + prompt_len + e..(r + 1) * total].fill(eos);
    }
    true
}

fn token_event(row: usize, c: &Candidate) -> TokenEvent {
    TokenEvent {
        row,
        position: c.position,
        token: c.token,
        confidence: c.confidence,
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

/// Picks the token and confidence of one position, with the reference's EOS quirks.
#[derive(Debug)]
pub(crate) struct Scorer<'a> {
    opts: &'a LladaOptions,
    row: Vec<f32>,
    uniforms: Vec<f64>,
    probs: Vec<f32>,
    order: Vec<u32>,
}

impl<'a> Scorer<'a> {
    pub(crate) fn new(opts: &'a LladaOptions, vocab: usize) -> Self {
        let uniforms = if opts.temperature > 0.0 {
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
        let o = self.opts;
        self.row.clear();
        self.row.extend_from_slice(logits);
        let local = |id: Option<u32>| {
            id.and_then(|i| i.checked_sub(offset))
                .map(|i| i as usize)
                .filter(|&i| i < logits.len())
        };
        let eos = local(o.eos_id);
        let eot = local(o.eot_id);
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

/// The slice of `row` a position may sample from, and the id of its first entry.
pub(crate) fn restrict<'r>(
    row: &'r [f32],
    vocab: &Option<std::ops::Range<u32>>,
) -> (&'r [f32], u32) {
    match vocab {
        Some(v) => (&row[v.start as usize..v.end as usize], v.start),
        None => (row, 0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::SeededNoise;
    use crate::Segment;
    use crate::testing::{EosAfter, Ramp, Structured, prompt};

    #[test]
    fn margin_and_entropy_scores_and_filters() {
        // Two positions: position 2 has a clear winner, position 3 a near tie between two
        // tokens; margin and entropy both commit position 2 first.
        #[derive(Debug)]
        struct TwoRows;
        impl Denoiser for TwoRows {
            crate::testing::exact_cache!();
            fn logits_width(&self) -> usize {
                4
            }
            fn denoise(
                &self,
                input: &crate::DenoiseInput<'_>,
            ) -> Result<Logits, crate::DenoiseError> {
                let mut l = Logits::filled(1, input.positions.len(), 4, 0.0);
                for (k, &p) in input.positions.iter().enumerate() {
                    let row = l.row_mut(0, k);
                    if p == 2 {
                        row.copy_from_slice(&[0.0, 3.0, 0.0, -9.0]);
                    } else {
                        row.copy_from_slice(&[2.0, 2.1, 1.9, -9.0]);
                    }
                }
                Ok(l)
            }
        }
        for scoring in [
            Remasking::Margin,
            Remasking::Entropy,
            Remasking::LowConfidence,
        ] {
            let opts = LladaOptions::new(3)
                .gen_length(2)
                .steps(2)
                .remasking(scoring);
            let mut first = Vec::new();
            generate(&TwoRows, &prompt(), &opts, &SeededNoise::new(1), &mut |s| {
                first.extend(s.tokens.iter().map(|t| t.position))
            })
            .unwrap();
            assert_eq!(first, vec![2, 3], "{scoring:?}");
        }
        // top-k 1 leaves one token: sampling at any temperature picks it, with certainty.
        let opts = LladaOptions::new(3)
            .gen_length(2)
            .steps(2)
            .temperature(5.0)
            .top_k(Some(1));
        let mut confidences = Vec::new();
        let out = generate(&TwoRows, &prompt(), &opts, &SeededNoise::new(4), &mut |s| {
            confidences.extend(s.tokens.iter().map(|t| t.confidence))
        })
        .unwrap();
        assert_eq!(out.generated(0), &[1, 1]);
        assert!(confidences.iter().all(|&c| c == 1.0));
        let bad = LladaOptions::new(3).gen_length(2).steps(2).top_p(Some(0.0));
        assert!(matches!(
            generate(&TwoRows, &prompt(), &bad, &SeededNoise::new(4), &mut |_| {}),
            Err(Error::InvalidOption {
                option: "top-p",
                ..
            })
        ));
    }

    #[test]
    fn segments_decode_in_order_each_with_its_policy() {
        let opts = LladaOptions::new(11).segments(vec![
            Segment::new(3, Policy::Ar),
            Segment::new(8, Policy::Diffusion).steps(4),
            Segment::new(4, Policy::Block).block_length(2),
        ]);
        assert_eq!((opts.gen_length, opts.steps), (15, 11));
        let mut steps = Vec::new();
        let out = generate(&Ramp, &prompt(), &opts, &SeededNoise::new(1), &mut |s| {
            steps.push(s.tokens.iter().map(|t| t.position).collect::<Vec<_>>())
        })
        .unwrap();
        assert_eq!(out.nfe(), 3 + 4 + 4);
        // AR: one token per step, left to right (the prompt is 2 long).
        assert_eq!(steps[..3], [vec![2], vec![3], vec![4]]);
        // Diffusion: 8 positions in 4 steps of 2, most confident (rightmost for Ramp) first.
        assert!(steps[3..7].iter().all(|s| s.len() == 2));
        let mut diffused: Vec<usize> = steps[3..7].concat();
        diffused.sort_unstable();
        assert_eq!(diffused, (5..13).collect::<Vec<_>>());
        assert_eq!(steps[3], vec![12, 11]);
        // Block: two blocks of 2, two steps each.
        assert_eq!(steps[7..], [vec![14], vec![13], vec![16], vec![15]]);
        // One segment is the plain sampler.
        let one = LladaOptions::new(11).segments(vec![Segment::new(4, Policy::Block).steps(4)]);
        let plain = LladaOptions::new(11).gen_length(4).steps(4);
        let run = |o: &LladaOptions| {
            generate(&Ramp, &prompt(), o, &SeededNoise::new(1), &mut |_| {}).unwrap()
        };
        assert_eq!(run(&one), run(&plain));
    }

    #[test]
    fn a_segment_vocabulary_restricts_what_its_positions_become() {
        // Ramp wants token p % 10 at position p; the second segment may only use ids 3..6.
        let opts = LladaOptions::new(11)
            .segments(vec![
                Segment::new(4, Policy::Diffusion),
                Segment::new(6, Policy::Diffusion).vocab(3..6),
            ])
            .temperature(0.8);
        let out = generate(&Ramp, &prompt(), &opts, &SeededNoise::new(2), &mut |_| {}).unwrap();
        let generated = out.generated(0);
        assert!(
            generated[4..].iter().all(|t| (3..6).contains(t)),
            "{generated:?}"
        );
        // Position 8 wants 8 (outside): the greedy choice inside 3..6 is the first maximum.
        let greedy =
            LladaOptions::new(11).segments(vec![Segment::new(8, Policy::Diffusion).vocab(3..6)]);
        let out = generate(&Ramp, &prompt(), &greedy, &SeededNoise::new(2), &mut |_| {}).unwrap();
        assert_eq!(out.generated(0), &[3, 3, 4, 5, 3, 3, 3, 3]);
        let empty = LladaOptions::new(11).segments(vec![Segment::new(4, Policy::Ar).vocab(5..40)]);
        assert!(matches!(
            generate(&Ramp, &prompt(), &empty, &SeededNoise::new(2), &mut |_| {}),
            Err(Error::InvalidOption {
                option: "segments",
                ..
            })
        ));
    }

    #[test]
    fn segment_errors_say_which_segment() {
        let run =
            |o: LladaOptions| generate(&Ramp, &prompt(), &o, &SeededNoise::new(1), &mut |_| {});
        let bad = LladaOptions::new(11).segments(vec![
            Segment::new(4, Policy::Ar),
            Segment::new(6, Policy::Block).block_length(4),
        ]);
        match run(bad) {
            Err(Error::InvalidOption { option, reason }) => {
                assert_eq!(option, "block-length");
                assert!(reason.contains("segment 2"), "{reason}");
            }
            other => panic!("{other:?}"),
        }
        let mismatch = LladaOptions::new(11)
            .segments(vec![Segment::new(4, Policy::Ar)])
            .gen_length(8);
        assert!(matches!(
            run(mismatch),
            Err(Error::InvalidOption {
                option: "segments",
                ..
            })
        ));
    }

    #[test]
    fn segments_keep_the_block_cache_exact() {
        let prompts = PromptBatch::left_padded(vec![vec![1, 2, 3], vec![4, 5]], 0).unwrap();
        let model = Structured {
            attention: crate::Attention::BlockCausal,
        };
        let opts = LladaOptions::new(11)
            .segments(vec![
                Segment::new(3, Policy::Ar),
                Segment::new(6, Policy::Block).steps(4).block_length(3),
                Segment::new(4, Policy::Diffusion).steps(2),
            ])
            .temperature(0.5);
        let run = |o: &LladaOptions| {
            generate(&model, &prompts, o, &SeededNoise::new(3), &mut |_| {}).unwrap()
        };
        assert_eq!(run(&opts), run(&opts.clone().cache(CacheMode::Block)));
    }

    #[test]
    fn remdm_events_account_for_every_revision() {
        let opts = LladaOptions::new(11)
            .gen_length(8)
            .steps(8)
            .block_length(8)
            .remask(Remask::RemdmCap { eta: 1.0 });
        let mut remasked = 0;
        let out = generate(&Ramp, &prompt(), &opts, &SeededNoise::new(5), &mut |s| {
            remasked += s.remasked.len()
        })
        .unwrap();
        assert!(out.revised() > 0);
        assert_eq!(remasked, out.revised());
        // Ramp predicts the same token wherever it is asked: revisions re-decode it.
        let plain = generate(
            &Ramp,
            &prompt(),
            &opts.clone().remask(Remask::None),
            &SeededNoise::new(5),
            &mut |_| {},
        )
        .unwrap();
        assert_eq!(out.generated(0), plain.generated(0));
        assert_eq!(out.nfe(), 8);
    }

    #[test]
    fn recheck_re_predicts_what_the_finished_answer_contradicts() {
        use crate::testing::Majority;
        let model = Majority { prompt: 2 };
        // All six answer tokens in one step: `5 4 4 4 4 4`, the 5 disagreeing with the rest.
        let plain_opts = LladaOptions::new(11).gen_length(6).steps(1);
        let run = |opts: &LladaOptions| {
            let mut events = Vec::new();
            let out = generate(&model, &prompt(), opts, &SeededNoise::new(0), &mut |s| {
                events.push((s.tokens.len(), s.remasked.len()))
            })
            .unwrap();
            (out, events)
        };
        let (plain, _) = run(&plain_opts);
        assert_eq!(plain.generated(0), [5, 4, 4, 4, 4, 4]);
        assert_eq!(plain.nfe(), 1);
        let recheck = Remask::Recheck {
            rounds: 3,
            groups: 2,
            below: 0.5,
        };
        let (fixed, events) = run(&plain_opts.clone().remask(recheck));
        assert_eq!(fixed.generated(0), [4; 6]);
        assert_eq!(fixed.revised(), 1);
        // Round 1: two scoring passes and one re-prediction of the one unsupported token;
        // round 2: two scoring passes find nothing, and round 3 is never run.
        assert_eq!(fixed.nfe(), 1 + 3 + 2);
        assert_eq!(events, [(6, 0), (1, 1)]);
        // A consistent answer is left alone and costs only the scoring.
        let (kept, events) = run(&LladaOptions::new(11).gen_length(6).steps(6).remask(recheck));
        assert_eq!(kept.generated(0), [5; 6]);
        assert_eq!((kept.revised(), kept.nfe(), events.len()), (0, 6 + 2, 6));
        // Bad parameters are refused by name.
        for bad in [
            "recheck:1:0",
            "recheck:1:4:0",
            "recheck:1:4:1.5",
            "recheck:x",
        ] {
            let err = Remask::parse(bad).unwrap_err();
            assert!(err.to_string().contains("remask"), "{bad}: {err}");
        }
        assert_eq!(
            Remask::parse("recheck:2").unwrap(),
            Remask::Recheck {
                rounds: 2,
                groups: 4,
                below: 0.5
            }
        );
        assert_eq!(recheck.to_string(), "recheck:3:2:0.5");
    }

    #[test]
    fn block_cache_decodes_exactly_as_recomputation() {
        let prompts = PromptBatch::left_padded(vec![vec![1, 2, 3], vec![4, 5]], 0).unwrap();
        for attention in [crate::Attention::BlockCausal, crate::Attention::Causal] {
            let model = Structured { attention };
            for (steps, unmask, policy) in [
                (12, Unmask::Count, Policy::Block),
                (6, Unmask::Count, Policy::Block),
                (12, Unmask::Threshold(0.5), Policy::Block),
                (12, Unmask::Count, Policy::Hybrid),
            ] {
                let base = LladaOptions::new(11)
                    .gen_length(12)
                    .steps(steps)
                    .block_length(4)
                    .unmask(unmask)
                    .policy(policy)
                    .temperature(0.5);
                let run = |o: &LladaOptions| {
                    generate(&model, &prompts, o, &SeededNoise::new(3), &mut |_| {}).unwrap()
                };
                let plain = run(&base);
                let cached = run(&base.clone().cache(CacheMode::Block));
                assert_eq!(plain.tokens, cached.tokens, "{attention} {steps} {unmask}");
                assert_eq!(plain.nfe(), cached.nfe());
                // A stale cache (extended but never refreshed) would differ: the prefix
                // cache under block-causal attention is exact too.
                let prefix = run(&base.clone().cache(CacheMode::Prefix));
                assert_eq!(plain.tokens, prefix.tokens);
            }
        }
        // Full-attention models refuse the block cache by name.
        let opts = LladaOptions::new(11)
            .gen_length(4)
            .steps(4)
            .cache(CacheMode::Block);
        assert!(matches!(
            generate(&Ramp, &prompt(), &opts, &SeededNoise::new(1), &mut |_| {}),
            Err(Error::InvalidOption {
                option: "cache",
                ..
            })
        ));
    }

    #[test]
    fn commits_most_confident_first_block_by_block() {
        let mut order = Vec::new();
        let opts = LladaOptions::new(11).gen_length(4).steps(4).block_length(2);
        let out = generate(&Ramp, &prompt(), &opts, &SeededNoise::new(1), &mut |s| {
            order.push(s.committed)
        })
        .unwrap();
        assert_eq!(out.generated(0), &[2, 3, 4, 5]);
        assert_eq!(order, vec![1, 1, 1, 1]);
        assert_eq!(out.nfe(), 4);
    }

    #[test]
    fn rejects_bad_options_by_name() {
        let run =
            |o: LladaOptions| generate(&Ramp, &prompt(), &o, &SeededNoise::new(1), &mut |_| {});
        let named = |r: Result<Generation, Error>| match r {
            Err(Error::InvalidOption { option, .. }) => option,
            other => panic!("expected an option error, got {other:?}"),
        };
        assert_eq!(
            named(run(LladaOptions::new(11).gen_length(6).block_length(4))),
            "block-length"
        );
        assert_eq!(
            named(run(LladaOptions::new(11)
                .gen_length(4)
                .block_length(2)
                .steps(3))),
            "steps"
        );
        assert_eq!(
            named(run(LladaOptions::new(11)
                .gen_length(4)
                .steps(4)
                .temperature(-1.0))),
            "temperature"
        );
        assert_eq!(
            named(run(LladaOptions::new(11)
                .gen_length(4)
                .steps(4)
                .logits_eos_inf(true))),
            "logits-eos-inf"
        );
        assert_eq!(
            named(run(LladaOptions::new(40).gen_length(4).steps(4))),
            "mask-id"
        );
        let bad = PromptBatch::left_padded(vec![vec![1, 99]], 0).unwrap();
        assert!(matches!(
            generate(
                &Ramp,
                &bad,
                &LladaOptions::new(11).gen_length(4).steps(4),
                &SeededNoise::new(1),
                &mut |_| {}
            ),
            Err(Error::InvalidPrompt(_))
        ));
    }

    #[test]
    fn eos_options_keep_eos_out() {
        // Ramp predicts token p % 10; positions 2..6 → tokens 2..5; make 3 the EOS.
        let opts = LladaOptions::new(11)
            .gen_length(4)
            .steps(4)
            .special_ids(Some(3), Some(4))
            .logits_eos_inf(true);
        let out = generate(&Ramp, &prompt(), &opts, &SeededNoise::new(1), &mut |_| {}).unwrap();
        assert!(!out.generated(0).contains(&3));
    }

    #[test]
    fn until_eos_stops_once_eos_and_everything_before_it_are_decided() {
        // Prompt [1, 2]; positions 2, 3 get token 5, EOS from position 4 on.
        let opts = LladaOptions::new(11)
            .gen_length(8)
            .steps(8)
            .special_ids(Some(3), None);
        let full = generate(
            &EosAfter { at: 4 },
            &prompt(),
            &opts,
            &SeededNoise::new(1),
            &mut |_| {},
        )
        .unwrap();
        assert_eq!(full.nfe(), 8);
        let early = generate(
            &EosAfter { at: 4 },
            &prompt(),
            &opts.clone().until_eos(true),
            &SeededNoise::new(1),
            &mut |_| {},
        )
        .unwrap();
        assert_eq!(early.generated(0), &[5, 5, 3, 3, 3, 3, 3, 3]);
        assert_eq!(early.nfe(), 3, "two content tokens, then the first EOS");
        assert_eq!(early.generated(0), full.generated(0));
    }

    #[test]
    fn expansion_grows_by_blocks_until_eos_is_expected() {
        // Prompt [1, 2]; EOS is predicted from position 6 on. Start with 4 tokens (positions
        // 2..5, no EOS in sight), grow one block of 4: positions 6..9 expect EOS → stop.
        let opts = LladaOptions::new(11)
            .gen_length(4)
            .steps(4)
            .block_length(4)
            .special_ids(Some(3), None)
            .expand(true, Some(32));
        let out = generate(
            &EosAfter { at: 6 },
            &prompt(),
            &opts,
            &SeededNoise::new(1),
            &mut |_| {},
        )
        .unwrap();
        assert_eq!(out.generated(0), &[5, 5, 5, 5, 3, 3, 3, 3]);
        assert_eq!(out.nfe(), 2 + 8, "two probes, then 4 steps per block");
        // The hard maximum wins.
        let capped = opts.clone().expand(true, Some(4));
        let out = generate(
            &EosAfter { at: 6 },
            &prompt(),
            &capped,
            &SeededNoise::new(1),
            &mut |_| {},
        )
        .unwrap();
        assert_eq!(out.generated(0).len(), 4);
        let named = |o: LladaOptions| match o.validate() {
            Err(Error::InvalidOption { option, .. }) => option,
            other => panic!("expected an option error, got {other:?}"),
        };
        assert_eq!(named(opts.clone().expand(true, Some(2))), "max-length");
        assert_eq!(named(opts.clone().expand(false, Some(8))), "max-length");
        assert_eq!(named(opts.clone().special_ids(None, None)), "expand");
        assert_eq!(named(opts.policy(Policy::Diffusion)), "expand");
    }

    #[test]
    fn insertion_grows_each_row_where_the_model_lacks_room() {
        use crate::daedal::Insertion;
        use crate::testing::NeedsRoom;
        // Prompts end with the answer length each row wants (7 and 10); both start with 4.
        let prompts = PromptBatch::left_padded(vec![vec![1, 7], vec![1, 10]], 0).unwrap();
        let opts = LladaOptions::new(11)
            .gen_length(4)
            .steps(4)
            .block_length(4)
            .policy(Policy::Hybrid)
            .unmask(Unmask::Threshold(0.9))
            .special_ids(Some(3), None)
            .insert(Some(Insertion::default()))
            .max_length(Some(32));
        let mut committed = 0;
        let out = generate(
            &NeedsRoom { prompt: 2 },
            &prompts,
            &opts,
            &SeededNoise::new(1),
            &mut |s| committed += s.committed,
        )
        .unwrap();
        // Each step inserts a mask at the unsure position until the row has its room; the
        // shorter row ends with EOS padding.
        assert_eq!(out.generated(0), &[5, 5, 5, 5, 5, 5, 5, 3, 3, 3]);
        assert_eq!(out.generated(1), &[5; 10]);
        assert_eq!(committed, 7 + 10, "every token is committed once");
        assert_eq!(out.nfe(), 7, "six insertions, then the last step");
        // The hard maximum wins: the row stops growing at 6 and commits its unsure position.
        let capped = generate(
            &NeedsRoom { prompt: 2 },
            &prompts,
            &opts.clone().max_length(Some(6)),
            &SeededNoise::new(1),
            &mut |_| {},
        )
        .unwrap();
        assert_eq!(capped.generated(1).len(), 6);
        assert_eq!(&capped.generated(1)[1..], &[5; 5]);
        // Without insertion the same request keeps its 4 tokens.
        let fixed = generate(
            &NeedsRoom { prompt: 2 },
            &prompts,
            &opts.clone().insert(None).max_length(None),
            &SeededNoise::new(1),
            &mut |_| {},
        )
        .unwrap();
        assert_eq!(fixed.generated(0).len(), 4);
        let named = |o: LladaOptions| match o.validate() {
            Err(Error::InvalidOption { option, .. }) => option,
            other => panic!("expected an option error, got {other:?}"),
        };
        assert_eq!(named(opts.clone().unmask(Unmask::Count)), "insert");
        assert_eq!(
            named(opts.clone().policy(Policy::Diffusion).block_length(4)),
            "insert"
        );
        assert_eq!(named(opts.clone().cache(CacheMode::Dual)), "cache");
        assert_eq!(named(opts.clone().special_ids(None, None)), "insert");
        assert_eq!(named(opts.clone().until_eos(true)), "until-eos");
        assert_eq!(
            named(opts.clone().insert(Some(Insertion {
                factor: 1,
                ..Insertion::default()
            }))),
            "insert"
        );
    }

    #[test]
    fn policies_set_the_order_and_refuse_contradictions() {
        let run =
            |o: LladaOptions| generate(&Ramp, &prompt(), &o, &SeededNoise::new(1), &mut |_| {});
        // AR: one token per step, left to right, whatever the confidences.
        let mut order = Vec::new();
        let ar = LladaOptions::new(11)
            .gen_length(4)
            .steps(4)
            .policy(Policy::Ar);
        generate(&Ramp, &prompt(), &ar, &SeededNoise::new(1), &mut |s| {
            order.push(s.committed)
        })
        .unwrap();
        assert_eq!(order, vec![1, 1, 1, 1]);
        let named = |r: Result<Generation, Error>| match r {
            Err(Error::InvalidOption { option, .. }) => option,
            other => panic!("expected an option error, got {other:?}"),
        };
        assert_eq!(named(run(ar.clone().steps(2))), "steps");
        assert_eq!(named(run(ar.clone().block_length(2))), "block-length");
        assert_eq!(
            named(run(ar.clone().unmask(Unmask::Threshold(0.5)))),
            "unmask"
        );
        assert_eq!(named(run(ar.remask(Remask::Rcr))), "remask");
        let diffusion = LladaOptions::new(11)
            .gen_length(4)
            .steps(4)
            .policy(Policy::Diffusion);
        assert_eq!(named(run(diffusion.block_length(2))), "block-length");
        let hybrid = LladaOptions::new(11)
            .gen_length(4)
            .steps(4)
            .policy(Policy::Hybrid);
        assert_eq!(
            named(run(hybrid.clone().unmask(Unmask::Factor(1.0)))),
            "unmask"
        );
        assert!(run(hybrid).unwrap().generated(0).iter().all(|&t| t != 11));
        assert_eq!(
            named(run(LladaOptions::new(11)
                .gen_length(4)
                .steps(4)
                .until_eos(true))),
            "until-eos"
        );
    }

    #[test]
    fn seeded_sampling_is_reproducible() {
        let opts = LladaOptions::new(11)
            .gen_length(4)
            .steps(4)
            .temperature(1.0);
        let a = generate(&Ramp, &prompt(), &opts, &SeededNoise::new(5), &mut |_| {}).unwrap();
        let b = generate(&Ramp, &prompt(), &opts, &SeededNoise::new(5), &mut |_| {}).unwrap();
        assert_eq!(a, b);
    }
}
