//! Decoding options at the SDK boundary, declared once.
//!
//! Each option is one field of [`DecodeOptions`], written once in the `decode_options!`
//! table below: its name (the JSON key; the CLI flag is the same with `-`), its type, its
//! doc (the rustdoc and the `--help` text), how the CLI parses it and which presets take it.
//! From that one declaration come the struct, its serde form, the `tessera generate` flags
//! (the struct is a `clap::Args`), the [`DecodeOptions::OPTIONS`] table and the "not an
//! option of the … preset" errors. Values are checked by the types' own parsers and the
//! controller's validation, whose errors name the option. Adding an option touches the
//! table and [`DecodeOptions::resolve`] (its effect on the controller).
//!
//! Presets: both run the same controller ([`tessera_hybrid::ControllerOptions`]); a preset
//! only chooses the defaults.
//!
//! | | `llada` (LLaDA's `generate`) | `dream` (Dream's `diffusion_generate`) |
//! |---|---|---|
//! | policy | `block` (one block unless `--block-length`) | `diffusion` (`block` with `--block-length`) |
//! | unmask | `count` | `--alg`'s rule; default `origin` under `diffusion` without in-block remasking, else `maskgit-plus` (`count`) |
//! | schedule | `linear` | `timesteps` for `count`/`origin` (`--eps`, default 1e-3) |
//! | remasking | `low-confidence` | `--alg`'s score (`maskgit-plus` = `low-confidence`, `topk-margin` = `margin`, `entropy`) |
//! | draw | `gumbel` (f64 Gumbel-max) | `categorical` (Dream's `sample_tokens`) |
//!
//! Everything else (caches, threshold rules, block policies, remasking, segments, DAEDAL)
//! applies to both.

use serde::{Deserialize, Serialize};
use tessera_backbone::{Family, ModelInfo};
use tessera_hybrid::dream::{DreamAlg, DreamOptions};
use tessera_hybrid::llada::Remasking;
use tessera_hybrid::policy::Policy;
use tessera_hybrid::remask::Remask;
use tessera_hybrid::unmask::{Schedule, Unmask};
use tessera_hybrid::{CacheMode, ControllerOptions, Draw, Segment};

use crate::Error;

/// A decoding preset: which reference algorithm's defaults the controller starts from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum SamplerKind {
    /// LLaDA's semi-autoregressive block sampler.
    Llada,
    /// Dream's `diffusion_generate`.
    Dream,
}

impl SamplerKind {
    /// Both presets.
    pub const ALL: [SamplerKind; 2] = [SamplerKind::Llada, SamplerKind::Dream];

    /// Parses `llada` or `dream`.
    ///
    /// # Errors
    /// [`Error::InvalidRequest`] naming `sampler`.
    pub fn parse(s: &str) -> Result<Self, Error> {
        match s {
            "llada" => Ok(SamplerKind::Llada),
            "dream" => Ok(SamplerKind::Dream),
            _ => Err(Error::invalid(
                "sampler",
                format!("unknown sampler `{s}` (llada, dream)"),
            )),
        }
    }
}

impl std::fmt::Display for SamplerKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            SamplerKind::Llada => "llada",
            SamplerKind::Dream => "dream",
        })
    }
}

/// One decoding option as declared: its name and which presets take it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OptionSpec {
    /// The JSON key (the CLI flag is the same with `-`).
    pub name: &'static str,
    /// The presets that take it.
    pub presets: &'static [SamplerKind],
    /// What it does.
    pub doc: &'static str,
}

/// Declares the decoding options once: the struct (serde + clap), the option table and the
/// preset refusals all come from this list.
macro_rules! decode_options {
    ($(
        $(#[doc = $doc:literal])*
        #[arg($($arg:tt)*)]
        $field:ident : $ty:ty => $($preset:ident)|+ ;
    )*) => {
        /// How to decode: one field per option; unset fields take the preset's defaults, and
        /// an option the preset does not take is refused by name rather than ignored. The
        /// JSON keys are the field names; the CLI flags are the same with `-`.
        #[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, clap::Args)]
        #[serde(default, rename_all = "snake_case", deny_unknown_fields)]
        #[non_exhaustive]
        pub struct DecodeOptions {
            $(
                $(#[doc = $doc])*
                #[arg($($arg)*)]
                pub $field: $ty,
            )*
        }

        impl DecodeOptions {
            /// Every option, in declaration order.
            pub const OPTIONS: &'static [OptionSpec] = &[$(
                OptionSpec {
                    name: stringify!($field),
                    presets: &[$(SamplerKind::$preset),+],
                    doc: concat!($($doc, "\n"),*),
                },
            )*];

            /// The options set here (different from their defaults), in declaration order.
            pub fn set_options(&self) -> Vec<&'static str> {
                let mut set = Vec::new();
                $(
                    if self.$field != <$ty as Default>::default() {
                        set.push(stringify!($field));
                    }
                )*
                set
            }

            /// The first option set here that `preset` does not take.
            fn refused_by(&self, preset: SamplerKind) -> Option<&'static str> {
                $(
                    if self.$field != <$ty as Default>::default()
                        && ![$(SamplerKind::$preset),+].contains(&preset)
                    {
                        return Some(stringify!($field));
                    }
                )*
                None
            }
        }
    };
}

decode_options! {
    /// Preset: `llada` or `dream` (default: the model family's own). Both run the same
    /// controller; the preset chooses the defaults of policy, unmask, schedule, remasking
    /// and draw.
    #[arg(long, value_parser = SamplerKind::parse)]
    sampler: Option<SamplerKind> => Llada | Dream;
    /// Tokens to generate (default: the task's length on Tessera world models, else 128 under
    /// llada and 512 under dream, the references' defaults).
    #[arg(long)]
    gen_length: Option<usize> => Llada | Dream;
    /// Denoising steps (default: one token per step, i.e. gen-length).
    #[arg(long)]
    steps: Option<usize> => Llada | Dream;
    /// Spans of the generation decoded one after another, each `LEN:POLICY[:STEPS[:BLOCK]]`
    /// (the CLI's `--segment`, repeated); gen-length and steps default to their sums.
    #[arg(long = "segment", value_parser = Segment::parse)]
    segments: Option<Vec<Segment>> => Llada | Dream;
    /// Block length (default: one block of gen-length).
    #[arg(long)]
    block_length: Option<usize> => Llada | Dream;
    /// Decoding order: ar, diffusion, block or hybrid (default: block under llada,
    /// diffusion under dream unless a block length is given).
    #[arg(long, value_parser = Policy::parse)]
    policy: Option<Policy> => Llada | Dream;
    /// Unmask rule: count, threshold:T, factor:F, entropy-bound:G or origin (default:
    /// count under llada, --alg's rule under dream).
    #[arg(long, value_parser = Unmask::parse)]
    unmask: Option<Unmask> => Llada | Dream;
    /// Schedule of the count and origin rules: linear, cosine or `timesteps[:EPS]` (default:
    /// linear under llada, timesteps under dream).
    #[arg(long, value_parser = Schedule::parse)]
    schedule: Option<Schedule> => Llada | Dream;
    /// How positions are scored: low-confidence, random, margin or entropy (default:
    /// low-confidence under llada, --alg's score under dream).
    #[arg(long, value_parser = Remasking::parse)]
    remasking: Option<Remasking> => Llada | Dream;
    /// How tokens are drawn: gumbel (LLaDA's f64 Gumbel-max) or categorical (Dream's
    /// inverse-CDF sample_tokens); default: the preset's.
    #[arg(long, value_parser = Draw::parse)]
    draw: Option<Draw> => Llada | Dream;
    /// Dream algorithm: origin, maskgit-plus, topk-margin or entropy (sets unmask and
    /// remasking; default origin under the diffusion policy without rcr/remdm remasking,
    /// else maskgit-plus).
    #[arg(long, value_parser = DreamAlg::parse)]
    alg: Option<DreamAlg> => Dream;
    /// Dream's final timestep eps in (0, 1) of the timesteps schedule (default 1e-3).
    #[arg(long)]
    eps: Option<f64> => Dream;
    /// Position temperature (Dream's alg_temp): > 0 draws the positions a count rule
    /// commits ∝ softmax(score / alg-temp) instead of taking the best.
    #[arg(long)]
    alg_temp: Option<f64> => Llada | Dream;
    /// Token temperature (0 = greedy).
    #[arg(long)]
    temperature: Option<f64> => Llada | Dream;
    /// Nucleus filter before sampling and scoring.
    #[arg(long)]
    top_p: Option<f64> => Llada | Dream;
    /// Top-k filter before sampling and scoring.
    #[arg(long)]
    top_k: Option<usize> => Llada | Dream;
    /// Classifier-free guidance scale (0 = off).
    #[arg(long)]
    cfg_scale: Option<f64> => Llada | Dream;
    /// Cached forwards: none, prefix or dual (Fast-dLLM), or block (block-causal models).
    #[arg(long, value_parser = CacheMode::parse)]
    cache: Option<CacheMode> => Llada | Dream;
    /// Remasking of committed tokens: none, rcr, `refine:ROUNDS:FRACTION[:KEEP]`,
    /// `recheck:ROUNDS[:GROUPS[:BELOW[:KEEP]]]`, `remdm-cap[:ETA]`, `remdm-rescale[:ETA]`,
    /// remdm-conf or `remdm-loop[:ETA]` (KEEP: tokens committed with that confidence are
    /// never revised).
    #[arg(long, value_parser = Remask::parse)]
    remask: Option<Remask> => Llada | Dream;
    /// Stop once EOS is committed with everything before it decided.
    #[arg(long)]
    until_eos: bool => Llada | Dream;
    /// DAEDAL: gen-length is a starting length, grown by blocks while the model does not
    /// expect the answer to end.
    #[arg(long)]
    expand: bool => Llada | Dream;
    /// DAEDAL's second stage: while denoising, insert masks where the model is least sure
    /// while it does not expect the end (block or hybrid policy with a threshold).
    #[arg(long)]
    insert: bool => Llada | Dream;
    /// Hard maximum of generated tokens with expand or insert (default: 8 × gen-length,
    /// within the model's maximum length).
    #[arg(long)]
    max_length: Option<usize> => Llada | Dream;
    /// Never generate EOS (LLaDA's logits_eos_inf).
    #[arg(long)]
    logits_eos_inf: bool => Llada | Dream;
    /// Commit EOS/EoT only after everything else (LLaDA's confidence_eos_eot_inf; the
    /// gumbel draw's quirk).
    #[arg(long)]
    confidence_eos_eot_inf: bool => Llada | Dream;
    /// Seed of the noise.
    #[arg(long, default_value_t = 0)]
    seed: u64 => Llada | Dream;
}

impl DecodeOptions {
    /// Options with everything at its default.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets the preset.
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

    /// Sets the Dream algorithm.
    pub fn alg(mut self, alg: DreamAlg) -> Self {
        self.alg = Some(alg);
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

    /// The preset that will run on a model of `family`.
    pub fn sampler_for(&self, family: Family) -> SamplerKind {
        self.sampler.unwrap_or(match family {
            Family::Dream => SamplerKind::Dream,
            _ => SamplerKind::Llada,
        })
    }

    /// Resolves against a model: the preset's defaults, then every option given here, the
    /// special ids filled in; options the preset does not take are refused by name.
    pub(crate) fn resolve(
        &self,
        info: &ModelInfo,
        eot_id: Option<u32>,
    ) -> Result<ControllerOptions, Error> {
        let preset = self.sampler_for(info.family);
        if let Some(name) = self.refused_by(preset) {
            return Err(Error::invalid(
                &name.replace('_', "-"),
                format!("is not an option of the {preset} preset"),
            ));
        }
        let mut o = ControllerOptions::new(info.mask_id).special_ids(info.eos_id, eot_id);
        if preset == SamplerKind::Dream {
            // Dream's reference length (`max_new_tokens` 512) unless given.
            o.gen_length = DreamOptions::new(info.mask_id).gen_length;
        }
        o.gen_length = self.gen_length.unwrap_or(o.gen_length);
        o.steps = self.steps.unwrap_or(o.gen_length);
        if preset == SamplerKind::Dream {
            self.dream_defaults(&mut o)?;
        }
        // Every option given overrides the preset's default.
        o.policy = self.policy.unwrap_or(o.policy);
        o.block_length = self.block_length;
        o.unmask = self.unmask.unwrap_or(o.unmask);
        o.remasking = self.remasking.unwrap_or(o.remasking);
        o.schedule = self.schedule.unwrap_or(o.schedule);
        o.draw = self.draw.unwrap_or(o.draw);
        o.alg_temp = self.alg_temp.or(o.alg_temp);
        o.temperature = self.temperature.unwrap_or(0.0);
        o.top_p = self.top_p;
        o.top_k = self.top_k;
        o.cfg_scale = self.cfg_scale.unwrap_or(0.0);
        o.logits_eos_inf = self.logits_eos_inf;
        o.confidence_eos_eot_inf = self.confidence_eos_eot_inf;
        o.cache = self.cache.unwrap_or_default();
        o.remask = self.remask.unwrap_or_default();
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
        Ok(o)
    }

    /// The Dream preset's defaults ([`DreamOptions::controller`]) under this request's
    /// policy and rules: `alg` picks unmask and remasking unless they are given (giving
    /// both is refused); the timesteps schedule applies to the count and origin rules.
    fn dream_defaults(&self, o: &mut ControllerOptions) -> Result<(), Error> {
        if let (Some(_), true) = (self.alg, self.unmask.is_some() || self.remasking.is_some()) {
            let other = if self.unmask.is_some() {
                "unmask"
            } else {
                "remasking"
            };
            return Err(Error::invalid(
                "alg",
                format!("sets unmask and remasking; give `alg` or `{other}`, not both"),
            ));
        }
        if let (Some(_), Some(_)) = (self.eps, self.schedule) {
            return Err(Error::invalid(
                "eps",
                "is the timesteps schedule's; give `eps` or `schedule`, not both",
            ));
        }
        // A block length asks for blocks; origin is the reference's rule for its own setup
        // (one diffusion span, committed tokens final), maskgit-plus's count otherwise.
        let policy = self.policy.unwrap_or(if self.block_length.is_some() {
            Policy::Block
        } else {
            Policy::Diffusion
        });
        let revises = self.remask.is_some_and(|r| r.revises_in_block());
        let diffusion = match &self.segments {
            Some(segments) => segments.iter().all(|s| s.policy == Policy::Diffusion),
            None => policy == Policy::Diffusion,
        };
        let alg = self.alg.unwrap_or(if diffusion && !revises {
            DreamAlg::Origin
        } else {
            DreamAlg::MaskgitPlus
        });
        let mut dream = DreamOptions::new(o.mask_id).alg(alg);
        dream.eps = self.eps.unwrap_or(dream.eps);
        let preset = dream.controller();
        o.policy = policy;
        o.unmask = preset.unmask;
        o.remasking = preset.remasking;
        o.draw = preset.draw;
        let unmask = self.unmask.unwrap_or(preset.unmask);
        let remdm = self.remask.is_some_and(|r| r.remdm().is_some());
        if matches!(unmask, Unmask::Count | Unmask::Origin) && !remdm {
            o.schedule = preset.schedule;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_option_is_documented_and_taken_by_some_preset() {
        assert!(DecodeOptions::OPTIONS.len() >= 25);
        for spec in DecodeOptions::OPTIONS {
            assert!(!spec.doc.trim().is_empty(), "{}", spec.name);
            assert!(!spec.presets.is_empty(), "{}", spec.name);
        }
        let dream_only: Vec<_> = DecodeOptions::OPTIONS
            .iter()
            .filter(|s| s.presets == [SamplerKind::Dream])
            .map(|s| s.name)
            .collect();
        assert_eq!(dream_only, ["alg", "eps"]);
    }

    #[test]
    fn the_json_keys_are_the_declared_names() {
        let json = serde_json::to_value(DecodeOptions::new()).unwrap();
        let keys: Vec<&str> = json
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        for spec in DecodeOptions::OPTIONS {
            assert!(keys.contains(&spec.name), "{}", spec.name);
        }
        assert_eq!(keys.len(), DecodeOptions::OPTIONS.len());
        let err = serde_json::from_str::<DecodeOptions>(r#"{"stepz": 3}"#).unwrap_err();
        assert!(err.to_string().contains("stepz"), "{err}");
    }

    #[test]
    fn the_cli_flags_are_the_declared_names() {
        use clap::CommandFactory;
        #[derive(Debug, clap::Parser)]
        struct Cli {
            #[command(flatten)]
            options: DecodeOptions,
        }
        let cmd = Cli::command();
        for spec in DecodeOptions::OPTIONS {
            let flag = spec.name.replace('_', "-");
            let flag = if flag == "segments" {
                "segment".into()
            } else {
                flag
            };
            assert!(
                cmd.get_arguments()
                    .any(|a| a.get_long() == Some(flag.as_str())),
                "--{flag}"
            );
        }
        use clap::Parser;
        let cli = Cli::try_parse_from([
            "t",
            "--unmask",
            "threshold:0.9",
            "--cache",
            "dual",
            "--alg",
            "topk_margin",
            "--segment",
            "8:ar",
            "--segment",
            "16:block:8:8",
            "--draw",
            "categorical",
        ])
        .unwrap();
        assert_eq!(cli.options.unmask, Some(Unmask::Threshold(0.9)));
        assert_eq!(cli.options.alg, Some(DreamAlg::TopkMargin));
        assert_eq!(cli.options.segments.as_ref().map(Vec::len), Some(2));
        assert_eq!(cli.options.draw, Some(Draw::Categorical));
        let bad = Cli::try_parse_from(["t", "--schedule", "timesteps:2"]).unwrap_err();
        assert!(bad.to_string().contains("schedule"), "{bad}");
    }
}
