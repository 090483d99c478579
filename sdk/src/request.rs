//! What a caller asks for.

use serde::{Deserialize, Serialize};
use tessera_modalities::ChatMessage;

use crate::DecodeOptions;

/// A prompt: plain text, a chat (rendered with the model's template), or token ids.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Prompt {
    /// Text, tokenized as is (no template, no special tokens added).
    Text(String),
    /// Chat turns rendered with the model's chat template, generation prompt appended.
    Chat(Vec<ChatMessage>),
    /// Token ids, used as is.
    Ids(Vec<u32>),
}

/// A generation request: one prompt or a batch, and how to decode.
///
/// ```
/// use tessera::{DecodeOptions, GenerateRequest, Prompt};
/// let req = GenerateRequest::new(Prompt::Text("Hello".into()))
///     .options(DecodeOptions::new().gen_length(32).steps(32).block_length(8));
/// assert_eq!(req.prompts.len(), 1);
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct GenerateRequest {
    /// The prompts (decoded together as one left-padded batch).
    pub prompts: Vec<Prompt>,
    /// Decoding options.
    #[serde(default)]
    pub options: DecodeOptions,
}

impl GenerateRequest {
    /// A request for one prompt with default options.
    pub fn new(prompt: Prompt) -> Self {
        GenerateRequest {
            prompts: vec![prompt],
            options: DecodeOptions::default(),
        }
    }

    /// A batch request.
    pub fn batch(prompts: Vec<Prompt>) -> Self {
        GenerateRequest {
            prompts,
            options: DecodeOptions::default(),
        }
    }

    /// Sets the options.
    pub fn options(mut self, options: DecodeOptions) -> Self {
        self.options = options;
        self
    }
}
