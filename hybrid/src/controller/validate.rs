//! Validation: the options checked against each other before anything runs; every error
//! names the option (as the CLI spells it) and says why.

use super::options::{ControllerOptions, checked_sum};
use crate::cache::CacheMode;
use crate::policy::Policy;
use crate::remask::Remask;
use crate::score::Draw;
use crate::unmask::{Schedule, Unmask};
use crate::{Error, PromptBatch, Segment};

impl ControllerOptions {
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
        let (Some(length), Some(steps)) = (
            checked_sum(self.segments.iter().map(|s| s.length)),
            checked_sum(self.segments.iter().map(Segment::effective_steps)),
        ) else {
            return Err(Error::option(
                "segments",
                "the segments' lengths or steps add up to more than this machine can count",
            ));
        };
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
        if self.steps > u32::MAX as usize {
            return Err(Error::option(
                "steps",
                format!("{} steps are more than a decoding can count", self.steps),
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
        if self.alg_temp.is_some_and(|t| !(t.is_finite() && t >= 0.0)) {
            return Err(Error::option("alg-temp", "must be a finite number ≥ 0"));
        }
        self.unmask.validate()?;
        self.schedule.validate()?;
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
        if !matches!(self.unmask, Unmask::Count | Unmask::Origin)
            && self.schedule != Schedule::Linear
        {
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
        if self.confidence_eos_eot_inf && self.draw != Draw::Gumbel {
            return Err(Error::option(
                "confidence-eos-eot-inf",
                format!(
                    "is LLaDA's Gumbel draw's quirk, not `--draw {}`'s",
                    self.draw
                ),
            ));
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

/// Refuses a canvas too large to address: positions are `u32` in noise keys and attention
/// groups, and `rows × positions` (doubled under CFG) must be allocatable. Checked before
/// anything proportional to the request is allocated; an SDK's limits are far tighter.
pub(super) fn check_canvas(prompts: &PromptBatch, opts: &ControllerOptions) -> Result<(), Error> {
    if let Some(n) = prompts.template_len() {
        if n != opts.gen_length {
            return Err(Error::option(
                "gen-length",
                format!(
                    "is {} but the answer template (infilling) is {n} long",
                    opts.gen_length
                ),
            ));
        }
        if opts.expand || opts.insert.is_some() {
            return Err(Error::option(
                if opts.expand { "expand" } else { "insert" },
                "does not apply to infilling: the blanks have their lengths",
            ));
        }
    }
    let longest = opts.longest_generation();
    let halves = if opts.cfg_scale > 0.0 { 2 } else { 1 };
    // `rows × halves` cannot overflow: the batch already holds `rows` non-empty prompts.
    let fits = prompts
        .len()
        .checked_add(longest)
        .filter(|&total| total <= u32::MAX as usize)
        .and_then(|total| total.checked_mul(prompts.rows() * halves))
        .is_some_and(|cells| cells <= isize::MAX as usize / 64);
    if fits {
        Ok(())
    } else {
        Err(Error::option(
            if longest == opts.gen_length {
                "gen-length"
            } else {
                "max-length"
            },
            format!(
                "a canvas of {} row(s) × ({} prompt + {longest} generated) positions is too \
                 large to decode",
                prompts.rows(),
                prompts.len()
            ),
        ))
    }
}
