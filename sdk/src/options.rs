//! Decoding options at the SDK boundary: one serde type whose field names are the CLI flags'
//! names, validated against the model and turned into the controller's options.

use serde::{Deserialize, Serialize};
use tessera_backbone::{Family, ModelInfo};
use tessera_hybrid::dream::{DreamAlg, DreamOptions};
use tessera_hybrid::llada::{LladaOptions, Remasking};
use tessera_hybrid::policy::Policy;
use tessera_hybrid::remask::Remask;
use tessera_hybrid::unmask::{Schedule, Unmask};
use tessera_hybrid::{CacheMode, Segment};

use crate::Error;

/// Which reference sampler decodes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum SamplerKind {
    /// LLaDA's semi-autoregressive block sampler.
    Llada,
    /// Dream's `diffusion_generate`.
    Dream,
}

/// How to decode. Unset fields take the sampler's reference defaults; options that belong
/// to the other sampler are refused by name rather than ignored.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "snake_case", deny_unknown_fields)]
#[non_exhaustive]
pub struct DecodeOptions {
    /// Sampler; defaults to the model family's own.
    pub sampler: Option<SamplerKind>,
    /// Tokens to generate.
    pub gen_length: Option<usize>,
    /// Denoising steps.
    pub steps: Option<usize>,
    /// LLaDA block length (default: one block).
    pub block_length: Option<usize>,
    /// How the LLaDA sampler scores positions: `low-confidence` (default), `random`,
    /// `margin`, `entropy`.
    pub remasking: Option<Remasking>,
    /// Unmask rule: `count` (default), `threshold`, `factor`, `entropy-bound` (LLaDA sampler).
    pub unmask: Option<Unmask>,
    /// Schedule of the `count` rule: `linear` (default) or `cosine` (LLaDA sampler).
    pub schedule: Option<Schedule>,
    /// Cached forwards: `none` (default), `prefix`, `dual` (LLaDA sampler).
    pub cache: Option<CacheMode>,
    /// Remasking of committed tokens: `none` (default), `rcr`, `refine`, `remdm-cap`,
    /// `remdm-rescale`, `remdm-conf`, `remdm-loop` (LLaDA sampler).
    pub remask: Option<Remask>,
    /// Decoding order: `ar`, `diffusion`, `block` (default), `hybrid` (LLaDA sampler).
    pub policy: Option<Policy>,
    /// Stop once EOS is committed with everything before it decided (LLaDA sampler).
    pub until_eos: bool,
    /// DAEDAL: `gen_length` is a starting length, grown by blocks while the model does not
    /// expect the answer to end (LLaDA sampler).
    pub expand: bool,
    /// DAEDAL's second stage: while denoising, replace the least sure masked position of the
    /// block by more masks while the model is not confident the answer ends (LLaDA sampler;
    /// `block` or `hybrid` policy with a threshold; default parameters
    /// [`Insertion::default`](tessera_hybrid::daedal::Insertion)).
    pub insert: bool,
    /// Hard maximum of generated tokens with `expand` or `insert` (default: 8 × gen_length,
    /// within the model's maximum length).
    pub max_length: Option<usize>,
    /// Several spans decoded one after another, each with its own policy, steps and block
    /// length (LLaDA sampler); `gen_length` and `steps` then default to their sums.
    pub segments: Option<Vec<Segment>>,
    /// Dream algorithm.
    pub alg: Option<DreamAlg>,
    /// Dream position-sampling temperature.
    pub alg_temp: Option<f64>,
    /// Dream final timestep.
    pub eps: Option<f64>,
    /// Token temperature (0 = greedy).
    pub temperature: Option<f64>,
    /// Nucleus filter before sampling and scoring.
    pub top_p: Option<f64>,
    /// Top-k filter before sampling and scoring.
    pub top_k: Option<usize>,
    /// LLaDA classifier-free guidance scale.
    pub cfg_scale: Option<f64>,
    /// LLaDA: never generate EOS.
    pub logits_eos_inf: bool,
    /// LLaDA: commit EOS/EoT only after everything else.
    pub confidence_eos_eot_inf: bool,
    /// Seed of the sampler's noise.
    pub seed: u64,
}

/// Options resolved for one model.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Resolved {
    Llada(LladaOptions),
    Dream(DreamOptions),
}

impl Resolved {
    pub(crate) fn gen_length(&self) -> usize {
        match self {
            Resolved::Llada(o) => o.gen_length,
            Resolved::Dream(o) => o.gen_length,
        }
    }
}

impl DecodeOptions {
    /// Options with everything at its default.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets the sampler.
    pub fn sampler(mut self, s: SamplerKind) -> Self {
        self.sampler = Some(s);
        self
    }

    /// Sets the number of tokens to generate.
    pub fn gen_length(mut self, n: usize) -> Self {
        self.gen_length = Some(n);
        self
    }

    /// Sets the number of steps.
    pub fn steps(mut self, n: usize) -> Self {
        self.steps = Some(n);
        self
    }

    /// Sets the block length.
    pub fn block_length(mut self, n: usize) -> Self {
        self.block_length = Some(n);
        self
    }

    /// Sets the temperature.
    pub fn temperature(mut self, t: f64) -> Self {
        self.temperature = Some(t);
        self
    }

    /// Sets the CFG scale.
    pub fn cfg_scale(mut self, s: f64) -> Self {
        self.cfg_scale = Some(s);
        self
    }

    /// Sets the unmask rule.
    pub fn unmask(mut self, rule: Unmask) -> Self {
        self.unmask = Some(rule);
        self
    }

    /// Sets the schedule of the count rule.
    pub fn schedule(mut self, schedule: Schedule) -> Self {
        self.schedule = Some(schedule);
        self
    }

    /// Sets the cache mode.
    pub fn cache(mut self, cache: CacheMode) -> Self {
        self.cache = Some(cache);
        self
    }

    /// Sets the remask rule.
    pub fn remask(mut self, remask: Remask) -> Self {
        self.remask = Some(remask);
        self
    }

    /// Sets the policy.
    pub fn policy(mut self, policy: Policy) -> Self {
        self.policy = Some(policy);
        self
    }

    /// Turns EOS-aware early stopping on or off.
    pub fn until_eos(mut self, on: bool) -> Self {
        self.until_eos = on;
        self
    }

    /// Turns DAEDAL length expansion on, with an optional hard maximum.
    pub fn expand(mut self, max_length: Option<usize>) -> Self {
        self.expand = true;
        self.max_length = max_length;
        self
    }

    /// Turns DAEDAL's mask insertion while denoising on, with an optional hard maximum.
    pub fn insert(mut self, max_length: Option<usize>) -> Self {
        self.insert = true;
        self.max_length = max_length;
        self
    }

    /// Decodes the generation as these segments, in order.
    pub fn segments(mut self, segments: Vec<Segment>) -> Self {
        self.segments = Some(segments);
        self
    }

    /// Sets the seed.
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }

    /// The sampler that will run on a model of `family`.
    pub fn sampler_for(&self, family: Family) -> SamplerKind {
        self.sampler.unwrap_or(match family {
            Family::Dream => SamplerKind::Dream,
            _ => SamplerKind::Llada,
        })
    }

    /// Resolves against a model: fills special ids, refuses options of the other sampler.
    pub(crate) fn resolve(&self, info: &ModelInfo, eot_id: Option<u32>) -> Result<Resolved, Error> {
        let refuse = |set: bool, field: &str, sampler: &str| -> Result<(), Error> {
            if set {
                Err(Error::invalid(
                    field,
                    format!("is not an option of the {sampler} sampler"),
                ))
            } else {
                Ok(())
            }
        };
        let resolved = match self.sampler_for(info.family) {
            SamplerKind::Llada => {
                refuse(self.alg.is_some(), "alg", "llada")?;
                refuse(self.alg_temp.is_some(), "alg-temp", "llada")?;
                refuse(self.eps.is_some(), "eps", "llada")?;
                let mut o = LladaOptions::new(info.mask_id).special_ids(info.eos_id, eot_id);
                o.gen_length = self.gen_length.unwrap_or(o.gen_length);
                o.steps = self.steps.unwrap_or(o.gen_length);
                o.block_length = self.block_length;
                o.temperature = self.temperature.unwrap_or(0.0);
                o.top_p = self.top_p;
                o.top_k = self.top_k;
                o.cfg_scale = self.cfg_scale.unwrap_or(0.0);
                o.remasking = self.remasking.unwrap_or_default();
                o.logits_eos_inf = self.logits_eos_inf;
                o.confidence_eos_eot_inf = self.confidence_eos_eot_inf;
                o.unmask = self.unmask.unwrap_or_default();
                o.schedule = self.schedule.unwrap_or_default();
                o.cache = self.cache.unwrap_or_default();
                o.remask = self.remask.unwrap_or_default();
                o.policy = self.policy.unwrap_or_default();
                o.until_eos = self.until_eos;
                o.expand = self.expand;
                o.insert = self.insert.then(tessera_hybrid::daedal::Insertion::default);
                o.max_length = self.max_length;
                if let Some(segments) = &self.segments {
                    o = o.segments(segments.clone());
                    // Explicit totals must agree with the segments (validation says so).
                    o.gen_length = self.gen_length.unwrap_or(o.gen_length);
                    o.steps = self.steps.unwrap_or(o.steps);
                }
                o.validate()?;
                Resolved::Llada(o)
            }
            SamplerKind::Dream => {
                refuse(self.block_length.is_some(), "block-length", "dream")?;
                refuse(self.remasking.is_some(), "remasking", "dream")?;
                refuse(
                    self.cfg_scale.is_some_and(|c| c != 0.0),
                    "cfg-scale",
                    "dream",
                )?;
                refuse(self.logits_eos_inf, "logits-eos-inf", "dream")?;
                refuse(self.unmask.is_some(), "unmask", "dream")?;
                refuse(self.schedule.is_some(), "schedule", "dream")?;
                refuse(self.cache.is_some(), "cache", "dream")?;
                refuse(self.remask.is_some(), "remask", "dream")?;
                refuse(self.policy.is_some(), "policy", "dream")?;
                refuse(self.until_eos, "until-eos", "dream")?;
                refuse(self.expand, "expand", "dream")?;
                refuse(self.insert, "insert", "dream")?;
                refuse(self.segments.is_some(), "segments", "dream")?;
                refuse(
                    self.confidence_eos_eot_inf,
                    "confidence-eos-eot-inf",
                    "dream",
                )?;
                let mut o = DreamOptions::new(info.mask_id);
                o.gen_length = self.gen_length.unwrap_or(o.gen_length);
                o.steps = self.steps.unwrap_or(o.gen_length);
                o.eps = self.eps.unwrap_or(o.eps);
                o.alg = self.alg.unwrap_or_default();
                o.alg_temp = self.alg_temp;
                o.temperature = self.temperature.unwrap_or(0.0);
                o.top_p = self.top_p;
                o.top_k = self.top_k;
                o.validate()?;
                Resolved::Dream(o)
            }
        };
        Ok(resolved)
    }
}
