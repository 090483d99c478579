//! # Tessera
//!
//! A Rust SDK for masked discrete-diffusion language models. Load a public checkpoint
//! (LLaDA, Dream) from its Hugging Face folder, and generate with the reference samplers,
//! reproduced token for token:
//!
//! ```no_run
//! use tessera::{DecodeOptions, Engine, GenerateRequest, Prompt};
//!
//! let engine = Engine::load("models/LLaDA-8B-Instruct")?;
//! let chat = vec![tessera::ChatMessage::user("Write a haiku about rust.")];
//! let req = GenerateRequest::new(Prompt::Chat(chat))
//!     .options(DecodeOptions::new().gen_length(128).steps(128).block_length(32));
//! let out = engine.generate(&req)?;
//! println!("{} ({} forward passes)", out.outputs[0].text.as_deref().unwrap_or(""), out.stats.nfe);
//! # Ok::<(), tessera::Error>(())
//! ```
//!
//! The crates underneath are re-exported for users who need the lower layers:
//! [`backbone`] (model loading, the `Denoiser` implementation), [`hybrid`] (the decoding
//! controller), [`modalities`] (tokenizers), [`kernels`] (devices and hot ops).
//!
//! The package is `tessera-sdk`; its features are opt-in: `service` (the `tower` service with
//! step-level continuous batching, `service::TesseraService`) and `http` (the axum server,
//! `http::serve`, with `service`); `hub` downloads models from the Hugging Face Hub. The
//! `tessera` package is the command line, with `http` on.

mod engine;
mod error;
pub mod eval;
#[cfg(feature = "http")]
pub mod http;
mod hub;
mod infill;
mod job;
mod limits;
mod options;
mod parts;
mod reply;
mod request;
mod response;
#[cfg(feature = "service")]
pub mod service;
mod stream;
mod tasks;
mod world;

pub use engine::{Engine, EngineDecoding, EngineOptions};
pub use error::Error;
pub use hub::{
    DEFAULT_ENDPOINT, ModelDownload, download_model, hub_cache, resolve_model, resolve_model_in,
};
pub use job::{Finisher, Job, MASK_SYMBOL};
pub use limits::{AudioReadLimits, ImageReadLimits, Limits};
pub use options::{DecodeOptions, OptionSpec, SamplerKind};
pub use parts::{Part, Request, RgbImage, Target};
pub use reply::{Generated, Reply};
pub use request::{GenerateRequest, Prompt};
pub use response::{Output, Response, Stats};
pub use stream::{Event, PREVIEW_EVERY, StepEvent, Steps};
pub use tasks::{
    CaptionRequest, DEFAULT_QUESTION, ImageLayout, ImageOptions, ImageRequest, ImageResponse,
};
pub use tessera_backbone::{Dtype, Family, ModelInfo};
pub use tessera_hybrid::dream::DreamAlg;
pub use tessera_hybrid::llada::Remasking;
pub use tessera_hybrid::maskgit::Annealing;
pub use tessera_hybrid::policy::Policy;
pub use tessera_hybrid::remask::Remask;
pub use tessera_hybrid::unmask::{Schedule, Unmask};
pub use tessera_hybrid::{CacheMode, Draw, Segment, StepInfo};
pub use tessera_kernels::Device;
pub use tessera_modalities::{ChatMessage, Modality, TokenSpace};
pub use world::{
    DEFAULT_THRESHOLD, FINE_CODES_PER_STEP, TaskInput, TaskOutput, TaskRequest, TaskResponse,
    WorldTask,
};

pub use tessera_backbone as backbone;
pub use tessera_hybrid as hybrid;
pub use tessera_kernels as kernels;
pub use tessera_modalities as modalities;
