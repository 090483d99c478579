//! [`Request`]: one request type for every task — a list of parts in order, given and to
//! generate.
//!
//! ```
//! use tessera::{DecodeOptions, Request, Target};
//! let caption = Request::new().text("a large red circle at the top left").generate(Target::Image);
//! let answer = Request::new()
//!     .text("12+30=")
//!     .generate(Target::text(8))
//!     .options(DecodeOptions::new().seed(7));
//! assert_eq!(answer.parts.len(), 2);
//! # let _ = caption;
//! ```
//!
//! Which part lists a model takes: a text model (LLaDA, Dream, MMaDA's text mode) takes given
//! text, chat turns and ids followed by one text target; a Tessera world model (tessera-tiny)
//! one given part and one target, the pair naming its task (text → text, text → image,
//! picture → text, text → audio, sound → text); MMaDA text → image. Anything else is refused
//! with [`Error::InvalidRequest`](crate::Error) naming `parts`.

use tessera_modalities::ChatMessage;
use tessera_modalities::audio::Pcm;

use crate::DecodeOptions;

/// A decoded picture (8-bit RGB).
pub type RgbImage = tessera_modalities::image::RgbImage;

/// One part of a [`Request`].
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Part {
    /// Given text (tokenized as is; world models put it in their task template).
    Text(String),
    /// Given chat turns, rendered with the model's chat template (generation prompt appended).
    Chat(Vec<ChatMessage>),
    /// Given token ids, used as is.
    Ids(Vec<u32>),
    /// A given picture (encoded with the model's image tokenizer).
    Image(RgbImage),
    /// Given sound (encoded with the model's audio tokenizer).
    Audio(Pcm),
    /// Something to generate.
    Generate(Target),
}

/// What a [`Part::Generate`] asks for.
#[derive(Debug, Clone, Copy, PartialEq)]
#[non_exhaustive]
pub enum Target {
    /// Text of at most `max_len` tokens (`None`: the options' `gen_length`, or the model's
    /// default).
    Text {
        /// The most tokens to generate.
        max_len: Option<usize>,
    },
    /// A picture, of the size the model's image tokenizer makes.
    Image,
    /// A sound; `seconds`, when given, must be the length the model generates.
    Audio {
        /// The clip's length in seconds.
        seconds: Option<f64>,
    },
    /// A blank of `len` tokens inside given text, decoded with both sides visible
    /// (fill-in-the-blank): `[text, Blank, text, Blank, …]`; the reply has one text part per
    /// blank. Text models (LLaDA, Dream, MMaDA) only; the first part must be given.
    Blank {
        /// The blank's length in tokens.
        len: usize,
    },
}

impl Target {
    /// Text of the model's own default length (the options' `gen_length`, or a world
    /// model's answer length).
    pub const TEXT: Target = Target::Text { max_len: None };

    /// Text of at most `max_len` tokens.
    pub fn text(max_len: usize) -> Self {
        Target::Text {
            max_len: Some(max_len),
        }
    }
}

/// A request: parts in order, and how to decode.
#[derive(Debug, Clone, PartialEq, Default)]
#[non_exhaustive]
pub struct Request {
    /// Given parts and parts to generate, in order.
    pub parts: Vec<Part>,
    /// Decoding options (validated against the model when the request is planned).
    pub options: DecodeOptions,
}

impl Request {
    /// An empty request with default options.
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends a part.
    pub fn part(mut self, part: Part) -> Self {
        self.parts.push(part);
        self
    }

    /// Appends given text.
    pub fn text(self, text: impl Into<String>) -> Self {
        self.part(Part::Text(text.into()))
    }

    /// Appends given chat turns.
    pub fn chat(self, messages: Vec<ChatMessage>) -> Self {
        self.part(Part::Chat(messages))
    }

    /// Appends given token ids.
    pub fn ids(self, ids: Vec<u32>) -> Self {
        self.part(Part::Ids(ids))
    }

    /// Appends a given picture.
    pub fn image(self, image: RgbImage) -> Self {
        self.part(Part::Image(image))
    }

    /// Appends given sound.
    pub fn audio(self, pcm: Pcm) -> Self {
        self.part(Part::Audio(pcm))
    }

    /// Appends a part to generate.
    pub fn generate(self, target: Target) -> Self {
        self.part(Part::Generate(target))
    }

    /// Sets the decoding options.
    pub fn options(mut self, options: DecodeOptions) -> Self {
        self.options = options;
        self
    }

    /// Whether the request asks to fill blanks ([`Target::Blank`]).
    pub(crate) fn is_infill(&self) -> bool {
        self.parts
            .iter()
            .any(|p| matches!(p, Part::Generate(Target::Blank { .. })))
    }

    /// The given parts and the one target, or the error naming `parts`.
    pub(crate) fn split(&self) -> Result<(Vec<&Part>, Target), crate::Error> {
        let mut given = Vec::new();
        let mut targets = Vec::new();
        for part in &self.parts {
            match part {
                Part::Generate(t) => targets.push(*t),
                other => given.push(other),
            }
        }
        if targets.iter().any(|t| matches!(t, Target::Blank { .. })) {
            return Err(crate::Error::invalid(
                "parts",
                "blanks (infilling) go with given text and ids only, not with other targets",
            ));
        }
        match targets.as_slice() {
            [one] if matches!(self.parts.last(), Some(Part::Generate(_))) => Ok((given, *one)),
            [_] => Err(crate::Error::invalid(
                "parts",
                "the part to generate must come last (blanks inside text are infilling)",
            )),
            [] => Err(crate::Error::invalid(
                "parts",
                "the request has nothing to generate: add a `generate` part",
            )),
            _ => Err(crate::Error::invalid(
                "parts",
                "one part to generate per request (several are not supported yet)",
            )),
        }
    }
}
