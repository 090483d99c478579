//! The Tessera decoding controller.
//!
//! This crate drives a masked-diffusion denoiser without knowing which transformer it is:
//! everything it needs from a model goes through the [`Denoiser`] trait, and everything
//! random goes through a [`NoiseSource`] (seeded, or recorded so tests can replay a
//! reference run's draws).
//!
//! - [`controller`]: the family-agnostic controller. A request's whole decoding is a
//!   [`Decoding`], stepped one forward pass at a time (every policy, unmask and remask rule,
//!   cache, segment, DAEDAL expansion and insertion, refinement); [`controller::generate`] is
//!   a loop over one.
//! - [`driver`]: the [`Driver`] advances many decodings together, merging their passes into
//!   one forward per round (step-level continuous batching).
//! - Strategies, one concern per module: [`unmask`] (how many to commit), [`remask`] (RCR,
//!   ReMDM, refine, recheck), [`length`] (DAEDAL), scoring (`score`), [`policy`].
//! - [`samplers`]: the family presets over the controller, reproduced exactly — [`llada`]
//!   (LLaDA's `generate`: the controller under its defaults, Gumbel-max in `f64`, CFG, the EOS
//!   options), [`dream`] (Dream's `diffusion_generate`: timesteps schedule, categorical draw,
//!   its algorithms as rules and scores) and [`maskgit`] (MMaDA's image decoding, a phase of
//!   [`Decoding`]).
//!
//! Batches of prompts of different lengths are one [`PromptBatch`] (left-padded, with the
//! attention mask).
//!
//! ```
//! use tessera_hybrid::{llada, Denoiser, DenoiseError, DenoiseInput, Logits, PromptBatch, SeededNoise, Span};
//!
//! /// A toy denoiser that always predicts token 7 with certainty.
//! #[derive(Debug)]
//! struct Sevens;
//! impl Denoiser for Sevens {
//!     type Cache = ();
//!     fn logits_width(&self) -> usize { 10 }
//!     fn denoise_and_cache(&self, input: &DenoiseInput<'_>) -> Result<(Logits, ()), DenoiseError> {
//!         Ok((self.denoise(input)?, ()))
//!     }
//!     fn denoise_span(&self, input: &DenoiseInput<'_>, _: Span, _: &()) -> Result<Logits, DenoiseError> {
//!         self.denoise(input) // no cheaper path: recomputing everything is exact
//!     }
//!     fn denoise(&self, input: &DenoiseInput<'_>) -> Result<Logits, tessera_hybrid::DenoiseError> {
//!         let mut logits = Logits::filled(input.rows(), input.positions.len(), 10, -10.0);
//!         for r in 0..input.rows() {
//!             for p in 0..input.positions.len() { logits.row_mut(r, p)[7] = 10.0; }
//!         }
//!         Ok(logits)
//!     }
//! }
//!
//! let prompts = PromptBatch::left_padded(vec![vec![1, 2, 3]], 0)?;
//! let opts = llada::LladaOptions::new(9).gen_length(4).steps(4).block_length(4);
//! let out = llada::generate(&Sevens, &prompts, &opts, &SeededNoise::new(0), &mut |_| {})?;
//! assert_eq!(out.generated(0), &[7, 7, 7, 7]);
//! # Ok::<(), tessera_hybrid::Error>(())
//! ```

mod attention;
mod batch;
mod cache;
pub mod controller;
mod denoiser;
pub mod driver;
mod error;
pub mod length;
mod noise;
mod output;
mod pass;
pub mod policy;
pub mod remask;
pub mod samplers;
pub mod schedule;
mod score;
mod segment;
mod span_decode;
#[cfg(test)]
mod testing;
pub mod unmask;

pub use attention::{Attention, group_boundary, omni_groups, visible};
pub use batch::PromptBatch;
pub use cache::CacheMode;
pub use controller::{CachePass, ControllerOptions, Decoding, NoiseRef, PassRequest};
pub use denoiser::{DenoiseError, DenoiseInput, Denoiser, Logits, Span};
pub use driver::{Driver, DriverEvent, RequestId};
pub use error::Error;
/// DAEDAL's mask insertion (kept at its earlier path; it lives in [`length::insert`]).
pub use length::insert as daedal;
pub use noise::{NoiseKey, NoisePurpose, NoiseSource, RecordedNoise, SeededNoise};
pub use output::{Generation, PositionEvent, StepInfo, TokenEvent};
pub use samplers::{dream, llada, maskgit};
pub use score::{Draw, Remasking};
pub use segment::Segment;
