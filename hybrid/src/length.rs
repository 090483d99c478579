//! Variable length: DAEDAL's initial length adjustment (Li et al., "Beyond Fixed: Variable-Length
//! Denoising for Diffusion LLMs"). Start short; while the model is not confident that the
//! answer ends within the canvas (mean EOS probability over the canvas's last block below 0.5),
//! append masks; never beyond a hard maximum.
//!
//! Deviation from the paper, on purpose: masks are appended a whole block at a time (the paper
//! appends 8) so the block schedule stays whole. DAEDAL's second stage (inserting masks at
//! low-confidence positions during denoising) is [`crate::daedal`].

use crate::pass::{Pass, Reuse};
use crate::{Denoiser, Error, PromptBatch};

/// EOS confidence below which the canvas grows.
pub const EXPAND_BELOW: f32 = 0.5;

/// What the adjustment decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Expansion {
    /// Tokens to generate.
    pub(crate) gen_length: usize,
    /// Forward passes the probing took.
    pub(crate) nfe: usize,
}

/// Grows `start` by `block` while the least sure row's mean EOS probability over the last
/// block is below [`EXPAND_BELOW`] and the length stays within `max`.
#[allow(clippy::too_many_arguments)]
pub(crate) fn expand<D: Denoiser + ?Sized>(
    model: &D,
    prompts: &PromptBatch,
    mask: u32,
    eos: u32,
    cfg_scale: f64,
    start: usize,
    block: usize,
    max: usize,
) -> Result<Expansion, Error> {
    let mut gen_length = start;
    let mut nfe = 0;
    while gen_length + block <= max {
        let (x, attention) = prompts.canvas(gen_length, mask);
        let prompt_index: Vec<bool> = x.iter().map(|&t| t != mask).collect();
        let total = prompts.len() + gen_length;
        let pass = Pass::new(
            prompts.rows(),
            total,
            mask,
            model.logits_width(),
            attention.as_deref(),
            cfg_scale,
            &prompt_index,
        )
        .with_groups(model.attention().groups(prompts.len(), total, block));
        let tail: Vec<usize> = (total - block..total).collect();
        let logits = pass.run(model, &x, &tail, Reuse::Full)?;
        nfe += 1;
        let least_sure = (0..prompts.rows())
            .map(|r| {
                let sum: f32 = (0..tail.len())
                    .map(|k| {
                        let row = logits.row(r, k);
                        tessera_kernels::row_stats(row).prob(row[eos as usize])
                    })
                    .sum();
                sum / tail.len() as f32
            })
            .fold(f32::INFINITY, f32::min);
        if least_sure >= EXPAND_BELOW {
            break;
        }
        gen_length += block;
    }
    Ok(Expansion { gen_length, nfe })
}
