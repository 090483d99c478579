//! The plan: which blocks a request is decoded in, in order, each with its steps, policy,
//! vocabulary and step rule.

use super::options::{ControllerOptions, DEFAULT_HYBRID_THRESHOLD};
use crate::Segment;
use crate::policy::{Adaptive, Policy};
use crate::unmask::{Unmask, UnmaskRule};

/// One block of the decoding plan (offsets from the end of the prompt).
#[derive(Debug, Clone)]
pub(crate) struct PlannedBlock {
    pub(crate) start: usize,
    pub(crate) end: usize,
    pub(crate) steps: usize,
    pub(crate) policy: Policy,
    pub(crate) vocab: Option<std::ops::Range<u32>>,
}

/// The vocabulary of canvas position `p` (prompt of `prompt_len`) under `plan`.
pub(crate) fn vocab_at(
    plan: &[PlannedBlock],
    prompt_len: usize,
    p: usize,
) -> Option<std::ops::Range<u32>> {
    // cannot underflow: refinement positions lie in the generation (`p ≥ prompt_len`).
    plan.iter()
        .find(|b| (b.start..b.end).contains(&(p - prompt_len)))
        .and_then(|b| b.vocab.clone())
}

impl ControllerOptions {
    /// The options of one segment on its own (its length, steps, policy and block length).
    pub(crate) fn for_segment(&self, seg: &Segment) -> ControllerOptions {
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
    pub(crate) fn plan(&self) -> Vec<PlannedBlock> {
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
            // cannot fail: the plan is made from validated options (each segment too): `block ≥ 1`
            // divides `gen_length ≥ 1`, so `blocks ≥ 1`; offsets sum to at most `gen_length`.
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
    /// The step rule the options imply for a block decoded with `policy`.
    pub(crate) fn step_rule(&self, policy: Policy) -> Box<dyn UnmaskRule> {
        match (policy, self.unmask) {
            (Policy::Hybrid, Unmask::Threshold(t)) => Box::new(Adaptive::new(t)),
            (Policy::Hybrid, _) => Box::new(Adaptive::new(DEFAULT_HYBRID_THRESHOLD)),
            _ => self.unmask.rule(self.schedule),
        }
    }
}
