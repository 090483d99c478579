//! [`Reply`]: what a [`Request`](crate::Request) returns — the generated parts, typed.

use tessera_modalities::audio::Pcm;

use crate::{RgbImage, Stats};

/// One generated part.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Generated {
    /// Text (special tokens skipped).
    Text(String),
    /// A picture, decoded with the model's image tokenizer.
    Image(RgbImage),
    /// A sound, decoded with the model's audio tokenizer.
    Audio(Pcm),
    /// Image codes, for a model whose folder has no image decoder (MMaDA: decode them with
    /// its MAGVIT-v2 tokenizer).
    ImageCodes {
        /// Codebook entries, row-major.
        codes: Vec<u32>,
        /// Grid height in codes.
        height: usize,
        /// Grid width in codes.
        width: usize,
    },
    /// Token ids, for a model without a tokenizer.
    Ids(Vec<u32>),
}

/// The result of a [`Request`](crate::Request).
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Reply {
    /// The generated parts, in the order of the request's targets.
    pub parts: Vec<Generated>,
    /// The generated ids (model token space), all targets together.
    pub ids: Vec<u32>,
    /// The canvas positions before the answer: the given parts' tokens, with the model's
    /// template.
    pub prompt_tokens: usize,
    /// Counters.
    pub stats: Stats,
}

impl Reply {
    /// Every part's text, in order (an empty string for a part that is not text): the fills
    /// of a request with blanks, one per blank.
    pub fn texts(&self) -> Vec<String> {
        self.parts
            .iter()
            .map(|p| match p {
                Generated::Text(t) => t.clone(),
                _ => String::new(),
            })
            .collect()
    }

    /// The first text part, if any.
    pub fn text(&self) -> Option<&str> {
        self.parts.iter().find_map(|p| match p {
            Generated::Text(t) => Some(t.as_str()),
            _ => None,
        })
    }
}
