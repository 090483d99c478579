//! Variable length: DAEDAL's initial length adjustment (Li et al., "Beyond Fixed: Variable-Length
//! Denoising for Diffusion LLMs"). Start short; while the model is not confident that the
//! answer ends within the canvas (mean EOS probability over the canvas's last block below 0.5),
//! append masks; never beyond a hard maximum.
//!
//! Deviation from the paper, on purpose: masks are appended a whole block at a time (the paper
//! appends 8) so the block schedule stays whole. DAEDAL's second stage (inserting masks at
//! low-confidence positions during denoising) is [`super::insert`].
//!
//! The adjustment is a `Probe`: the controller asks it for its next pass, runs it, and hands
//! the logits back, until the probe settles on a length.

use crate::pass::Pass;
use crate::{Attention, Logits, PromptBatch};

/// EOS confidence below which the canvas grows.
pub const EXPAND_BELOW: f32 = 0.5;

/// The length adjustment in progress.
#[derive(Debug, Clone)]
pub(crate) struct Probe {
    /// The length decided so far.
    pub(crate) gen_length: usize,
    /// Growth step (the block length).
    pub(crate) block: usize,
    /// Hard maximum.
    pub(crate) max: usize,
    /// The EOS id.
    pub(crate) eos: u32,
    /// Forward passes the probing took.
    pub(crate) nfe: usize,
}

/// One probing pass: the canvas, how to run it, and the positions it asks for.
#[derive(Debug)]
pub(crate) struct ProbePass {
    pub(crate) pass: Pass,
    pub(crate) x: Vec<u32>,
    pub(crate) positions: Vec<usize>,
}

impl Probe {
    /// The next probe, or `None` once the length is decided (growing would pass the maximum).
    pub(crate) fn next(
        &self,
        prompts: &PromptBatch,
        mask: u32,
        vocab: usize,
        cfg_scale: f64,
        structure: Attention,
    ) -> Option<ProbePass> {
        if self.gen_length + self.block > self.max {
            return None;
        }
        let (x, attention) = prompts.canvas(self.gen_length, mask);
        let prompt_index: Vec<bool> = x.iter().map(|&t| t != mask).collect();
        let total = prompts.len() + self.gen_length;
        let pass = Pass::new(
            prompts.rows(),
            total,
            mask,
            vocab,
            attention,
            cfg_scale,
            prompt_index,
        )
        .with_groups(structure.groups(prompts.len(), total, self.block));
        Some(ProbePass {
            pass,
            x,
            // cannot underflow: `gen_length ≥ block`.
            positions: (total - self.block..total).collect(),
        })
    }

    /// Takes a probe's logits (the canvas's last block): returns `true` when the least sure
    /// row's mean EOS probability reaches [`EXPAND_BELOW`] (the length is decided), else grows
    /// by a block and returns `false`.
    pub(crate) fn advance(&mut self, logits: &Logits) -> bool {
        self.nfe += 1;
        let least_sure = (0..logits.rows())
            .map(|r| {
                let sum: f32 = (0..logits.positions())
                    .map(|k| {
                        // cannot fail: `finish` checked the shape; `Decoding::new` checked the
                        // EOS id against the logits width.
                        let row = logits.row(r, k);
                        tessera_kernels::row_stats(row).prob(row[self.eos as usize])
                    })
                    .sum();
                sum / logits.positions() as f32
            })
            .fold(f32::INFINITY, f32::min);
        if least_sure >= EXPAND_BELOW {
            return true;
        }
        self.gen_length += self.block;
        false
    }
}
