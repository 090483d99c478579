//! Tessera's transformer backbones, loaded from the public checkpoint formats.
//!
//! A model folder in Hugging Face layout (`config.json`, `model.safetensors` or a sharded
//! `model.safetensors.index.json`) is memory-mapped, validated (shard paths confined to the
//! folder; headers bounded, free of duplicate keys, with tensors that tile the data exactly;
//! truncation, shapes, dtypes; config values that make sense) and loaded as a [`Backbone`],
//! which implements the controller's
//! [`Denoiser`](tessera_hybrid::Denoiser) seam. The family is detected from `config.json`:
//!
//! - [`llada`]: LLaDA-8B / LLaDA-1.5 (OLMo-style names, `embedding_size ≥ vocab_size`);
//! - [`dream`]: Dream-v0-7B (Qwen2 names, q/k/v bias, grouped-query attention, shifted logits).
//!
//! Attention is bidirectional (with a key mask for left padding), weights are f32, bf16 or
//! f16 on the CPU, and logits are computed only for the positions asked for. A pass whose
//! logits hold a NaN or an infinity fails with [`ForwardError::NonFinite`], naming the first
//! stage whose output was non-finite, instead of handing garbage to a sampler.
//!
//! ```no_run
//! use tessera_backbone::Backbone;
//! let model = Backbone::load("models/LLaDA-8B-Instruct")?;
//! println!("{} with {} parameters", model.info().family, model.info().parameters);
//! # Ok::<(), tessera_backbone::LoadError>(())
//! ```

mod attention;
mod config;
mod dense;
pub mod dream;
mod dtype;
mod error;
mod fields;
mod fused;
mod gguf;
mod gguf_vocab;
pub mod llada;
mod model;
pub mod places;
pub mod profile;
pub mod random;
mod safetensors;
mod spec;
mod transformer;
mod weights;

pub use config::{Family, ModelConfig};
pub use dtype::Dtype;
pub use error::{ForwardError, LoadError, Stage};
pub use gguf_vocab::{GgufTokenizer, gguf_tokenizer};
pub use model::{Backbone, BackboneCache, Format, LoadOptions, ModelInfo};
pub use transformer::{Part, TensorNames};
