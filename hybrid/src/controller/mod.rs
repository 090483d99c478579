//! The decoding controller: family-agnostic, one request's decoding as a value that can be
//! stepped ([`Decoding`]), and the blocking [`generate`] that loops over it.
//!
//! Canvas `[prompt | mask × gen_length]`, split by the plan into blocks decoded left to right
//! (segments, policies `ar`/`diffusion`/`block`/`hybrid`); inside a block, each step predicts
//! the masked positions and a commit strategy decides what to keep (an
//! [`unmask`](crate::unmask) rule, or RCR/ReMDM remasking). Around the block plan: DAEDAL's
//! length strategies ([`crate::length`]) and refinement rounds ([`crate::remask`]).
//!
//! | file | concern |
//! |---|---|
//! | `options.rs` | [`ControllerOptions`]: the request's choices, with LLaDA's defaults |
//! | `validate.rs` | the options checked against each other, errors naming the option |
//! | `plan.rs` | blocks, their steps, policies, vocabularies and step rules |
//! | `decoding/` | [`Decoding`]: the state and its phases (`blocks.rs`: block steps; `rounds.rs`: refinement rounds) |
//! | `commit/` | commit strategies behind one small trait (rules, RCR, ReMDM) |
//! | `finish.rs` | early stopping at EOS |
//!
//! Dependencies flow one way: presets ([`crate::samplers`]) → controller → strategies
//! (`unmask`, `remask`, `length`, `score`) → leaves (`pass`, `denoiser`, `noise`).

mod commit;
mod decoding;
mod finish;
mod options;
mod plan;
mod validate;

#[cfg(test)]
pub(crate) mod tests;

pub use decoding::{CachePass, Decoding, NoiseRef, PassRequest};
pub use options::{ControllerOptions, DEFAULT_HYBRID_THRESHOLD};

use crate::{Denoiser, Error, Generation, NoiseSource, PromptBatch, StepInfo};

/// Decodes `prompts` with `opts` and returns the finished canvases: a [`Decoding`] run to
/// the end, one pass at a time, on `model` alone.
///
/// `on_step` is called after every step (for progress displays).
///
/// # Errors
/// Invalid options ([`Error::InvalidOption`]), ids outside the model's vocabulary
/// ([`Error::InvalidPrompt`]), a denoiser failure, or missing recorded noise.
pub fn generate<D: Denoiser + ?Sized>(
    model: &D,
    prompts: &PromptBatch,
    opts: &ControllerOptions,
    noise: &dyn NoiseSource,
    on_step: &mut dyn FnMut(StepInfo),
) -> Result<Generation, Error> {
    Decoding::new(model, prompts, opts, noise)?.run(model, on_step)
}
