//! Multimodal requests: text-to-image and image understanding (MMaDA's tasks).

use serde::{Deserialize, Serialize};
use tessera_hybrid::maskgit::{Annealing, MaskGitOptions};

use crate::{DecodeOptions, Stats};

/// How to decode an image (MaskGIT over the image span; MMaDA's defaults).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct ImageOptions {
    /// Decoding steps (default 15).
    pub steps: usize,
    /// Guidance weight `w` of `(1 + w)·cond − w·uncond` (default 3.5; 0 = off).
    pub cfg_scale: f64,
    /// Initial choice temperature (default 1.0).
    pub temperature: f64,
    /// How the choice temperature anneals: `mmada` (default, compounding) or `maskgit`.
    pub annealing: Annealing,
    /// Text slots of the t2i template (MMaDA's `max_seq_length`, default 512).
    pub text_length: usize,
    /// Seed of the sampler's noise.
    pub seed: u64,
}

impl Default for ImageOptions {
    /// The decoder's own defaults (MMaDA's demo settings), MMaDA's text length, seed 0.
    fn default() -> Self {
        let m = MaskGitOptions::new(0, 0..1);
        ImageOptions {
            steps: m.steps,
            cfg_scale: m.cfg_scale,
            temperature: m.temperature,
            annealing: m.annealing,
            text_length: tessera_modalities::mmada::DEFAULT_TEXT_LENGTH,
            seed: 0,
        }
    }
}

impl ImageOptions {
    /// MMaDA's defaults.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets the number of steps.
    pub fn steps(mut self, steps: usize) -> Self {
        self.steps = steps;
        self
    }

    /// Sets the guidance weight.
    pub fn cfg_scale(mut self, w: f64) -> Self {
        self.cfg_scale = w;
        self
    }

    /// Sets the initial choice temperature.
    pub fn temperature(mut self, t: f64) -> Self {
        self.temperature = t;
        self
    }

    /// Sets the annealing.
    pub fn annealing(mut self, a: Annealing) -> Self {
        self.annealing = a;
        self
    }

    /// Sets the text slots of the template.
    pub fn text_length(mut self, n: usize) -> Self {
        self.text_length = n;
        self
    }

    /// Sets the seed.
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }
}

/// A text-to-image request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ImageRequest {
    /// What to draw.
    pub prompt: String,
    /// How to decode.
    #[serde(default)]
    pub options: ImageOptions,
}

impl ImageRequest {
    /// A request for `prompt` with MMaDA's defaults.
    pub fn new(prompt: impl Into<String>) -> Self {
        ImageRequest {
            prompt: prompt.into(),
            options: ImageOptions::default(),
        }
    }

    /// Sets the options.
    pub fn options(mut self, options: ImageOptions) -> Self {
        self.options = options;
        self
    }
}

/// Generated image codes (decode them with an image tokenizer).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[non_exhaustive]
pub struct ImageResponse {
    /// Codebook entries, row-major over the grid.
    pub codes: Vec<u32>,
    /// Grid height in codes.
    pub height: usize,
    /// Grid width in codes.
    pub width: usize,
    /// Counters (`tokens_per_second` counts image codes).
    pub stats: Stats,
}

/// Where a text-to-image decoding's codes lie in its canvas
/// ([`Engine::text_to_image_decoding`](crate::Engine::text_to_image_decoding)).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageLayout {
    /// The image span of the canvas.
    pub(crate) span: std::ops::Range<usize>,
    /// The id of code 0.
    pub(crate) first_code: u32,
}

impl ImageLayout {
    /// The image in row 0 of a finished decoding, with its counters (`seconds`: the wall
    /// time the caller measured).
    pub fn response(&self, generation: &tessera_hybrid::Generation, seconds: f64) -> ImageResponse {
        // cannot fail for the generation of the decoding this layout came with: row 0 exists
        // and `MaskGitRun::new` checked the span against the canvas length.
        let codes: Vec<u32> = generation.canvas(0)[self.span.clone()]
            .iter()
            .map(|&t| t.saturating_sub(self.first_code))
            .collect();
        let n = codes.len();
        let side = (n as f64).sqrt() as usize;
        let (height, width) = if side * side == n {
            (side, side)
        } else {
            (1, n)
        };
        ImageResponse {
            codes,
            height,
            width,
            stats: Stats {
                nfe: generation.nfe(),
                seconds,
                forward_seconds: generation.forward_seconds(),
                tokens_per_second: if seconds > 0.0 {
                    n as f64 / seconds
                } else {
                    0.0
                },
                tokens_per_forward: n as f64 / generation.nfe().max(1) as f64,
                revised: 0,
            },
        }
    }
}

/// An image-understanding request: the image's codes and a question about it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct CaptionRequest {
    /// The image as codebook entries (row-major), e.g. from an image tokenizer.
    pub codes: Vec<u32>,
    /// The question (rendered with the model's chat template).
    #[serde(default = "default_question")]
    pub question: String,
    /// How to decode the answer (LLaDA's block sampler).
    #[serde(default)]
    pub options: DecodeOptions,
}

/// The question asked when a caption request gives none.
pub const DEFAULT_QUESTION: &str = "Please describe this image in detail.";

fn default_question() -> String {
    DEFAULT_QUESTION.to_string()
}

impl CaptionRequest {
    /// A request to describe the image `codes` with default options.
    pub fn new(codes: Vec<u32>) -> Self {
        CaptionRequest {
            codes,
            question: default_question(),
            options: DecodeOptions::default(),
        }
    }

    /// Sets the question.
    pub fn question(mut self, q: impl Into<String>) -> Self {
        self.question = q.into();
        self
    }

    /// Sets the decoding options.
    pub fn options(mut self, options: DecodeOptions) -> Self {
        self.options = options;
        self
    }
}
