//! Tessera's modalities: user content to ids of the model's token space and back, and the
//! canvases (prompt plus spans to generate) that a model denoises.
//!
//! - `space`: [`TokenSpace`], the disjoint id ranges of each [`Modality`] (text, image codes,
//!   audio codebook levels) and the mask id, read from the model's config; [`SpaceError`].
//! - `text`: [`TextTokenizer`], a Hugging Face `tokenizer.json` (through `tokenizers`) with
//!   the special tokens and chat template of `tokenizer_config.json`.
//! - `chat`: [`ChatTemplate`] and [`ChatMessage`], chat templates rendered by `minijinja` with
//!   the settings `transformers` uses, so Instruct prompts match their model cards.
//! - `error`: [`TextError`], the failures of the text tokenizer and chat templates.
//! - `canvas`: [`Canvas`], a sequence of given and generated [`Part`]s (each with a [`Role`]),
//!   and the [`AnswerSpan`]s (length and allowed ids) of its generated parts.
//! - [`tessera`]: the task templates of Tessera's own models (text, text → image, caption,
//!   notes → audio, transcription), the same in training and in generation.
//! - [`mmada`]: MMaDA's text-to-image and image-understanding canvases.
//! - [`image`]: loading, saving and preprocessing pictures; image tokenizers (MAGVIT-v2 with
//!   its lookup-free quantiser, patch VQ).
//! - [`audio`]: decoding, resampling and writing audio; audio tokenizers (EnCodec, frame VQ).
//! - [`rng`]: SplitMix64 and FNV-1a, the seeded generator and hash shared by the tokenizers,
//!   the worlds and the trainer.

pub mod audio;
mod canvas;
mod chat;
mod contain;
mod error;
pub mod image;
pub mod mmada;
pub mod rng;
mod space;
pub mod tessera;
mod text;

pub use canvas::{AnswerSpan, Canvas, Part, Role};
pub use chat::{CHAT_FUEL, ChatMessage, ChatTemplate, MAX_LITERAL, MAX_RENDER_BYTES};
pub use error::TextError;
pub use space::{Modality, SpaceError, TokenSpace};
pub use text::TextTokenizer;
