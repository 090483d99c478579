//! Family presets: the reference samplers of the model families, each reproduced so that the
//! same logits and the same noise give the same tokens.
//!
//! - [`llada`]: LLaDA's `generate` is the controller ([`crate::controller`]) under its
//!   default options — semi-autoregressive blocks, low-confidence / random remasking,
//!   Gumbel-max in `f64`, classifier-free guidance, the EOS/EoT options.
//! - [`dream`]: Dream's `diffusion_generate` (`origin`, `maskgit_plus`, `topk_margin`,
//!   `entropy`, with `f32` timesteps as PyTorch computes them) is the controller under
//!   [`dream::DreamOptions::controller`]: timesteps schedule, categorical draw, the `origin`
//!   rule or a count with the algorithm's score.
//! - [`maskgit`]: MaskGIT's image decoding (MMaDA text-to-image), a phase of the same
//!   [`crate::Decoding`] ([`crate::Decoding::maskgit`]).
//!
//! Every `generate` here is [`crate::Decoding::run`]: one loop, and every preset's requests can
//! share a [`crate::Driver`].

pub mod dream;
pub mod llada;
pub mod maskgit;
