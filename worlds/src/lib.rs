//! Tessera's training worlds: synthetic data whose answers a program checks exactly, to
//! train and evaluate a tiny model on every task of the SDK.
//!
//! - [`shapes`]: 64×64 pictures of one coloured shape and their captions (text-to-image,
//!   captioning); [`check_image`] reads a picture back.
//! - [`tones`]: three-note tunes at 16 kHz and their note names (text-to-audio,
//!   transcription); [`check_audio`] reads a clip back.
//! - [`text`]: addition, sorting and 4×4 sudoku prompts with answers judged by rule.
//! - [`fill`]: fill-in-the-blank tasks over the other worlds (`123+[_]=168`).
//! - [`Task`], [`Split`], [`example_rng`], [`is_held_out`]: the ten tasks and the seeded,
//!   disjoint train and eval streams of [`Example`]s.
//! - [`Rendering`]: the canonical rendering of a picture or tune, or one drawn with natural
//!   variation ([`shapes::Drawing`], [`tones::Performance`]).
//!
//! Every generator takes a [`SplitMix64`](tessera_modalities::rng::SplitMix64), so a dataset
//! is the same on every platform for the same seed.

mod error;
pub mod fill;
mod named;
mod rendering;
pub mod shapes;
mod split;
mod task;
pub mod text;
pub mod tones;

pub use error::WorldError;
pub use fill::{FillExample, FillKind, check_fill};
pub use rendering::Rendering;
pub use shapes::{Colour, Position, Shape, ShapeSpec, Size, check_image};
pub use split::{HELD_OUT_MODULUS, Split, example_rng, is_held_out};
pub use task::{Example, Task};
pub use text::{OperandDraw, TextExample, TextTask, check_sudoku};
pub use tones::{Note, SAMPLE_RATE, Tune, check_audio};
