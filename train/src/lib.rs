//! Tessera's trainer: masked-diffusion models trained on candle autograd, written in the
//! LLaDA checkpoint format so the inference [`tessera_backbone::Backbone`] runs them.
//!
//! - [`model::TrainModel`]: the LLaDA architecture over [`candle_core::Var`]s;
//! - [`masking`]: the ELBO's noise (plain SFT masking of the answer, block-structured
//!   masking for block/AR decoding);
//! - [`optim::AdamW`], [`schedule::WarmupCosine`]: the optimizer and its schedule;
//! - [`trainer::train`]: the loop, checkpoints with exact resume, progress, loss curve;
//! - [`config::TrainConfig`]: the JSON config of `tessera train`;
//! - [`data::WorldData`], [`vocab`]: the worlds' tasks as token sequences, and the word-level
//!   tokenizer of Tessera's world models.

pub mod config;
pub mod data;
mod error;
pub mod fused;
mod log_row;
pub mod masking;
pub mod model;
pub mod optim;
pub mod plot;
pub mod schedule;
pub mod trainer;
pub mod vocab;

pub use config::TrainConfig;
pub use error::TrainError;
pub use trainer::{
    DataSource, Progress, Start, Summary, default_workers, train, train_with_workers,
};
