//! Tessera's modalities: turning user content into ids of the model's token space and back.
//!
//! Text is here now: [`TextTokenizer`] wraps a Hugging Face `tokenizer.json` (through the
//! `tokenizers` crate) together with what `tokenizer_config.json` adds: special tokens and
//! the chat template, rendered by a real Jinja engine ([`ChatTemplate`], `minijinja`) with
//! the same settings `transformers` uses, so LLaDA-Instruct and Dream-Instruct prompts are
//! built exactly as their model cards build them.

pub mod audio;
mod canvas;
mod chat;
mod error;
pub mod image;
pub mod mmada;
pub mod rng;
mod space;
pub mod tessera;
mod text;

pub use canvas::{AnswerSpan, Canvas, Part, Role};
pub use chat::{ChatMessage, ChatTemplate};
pub use error::TextError;
pub use space::{Modality, SpaceError, TokenSpace};
pub use text::TextTokenizer;
