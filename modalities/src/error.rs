//! Errors of the text modality.

use std::path::PathBuf;

/// Errors loading or using a tokenizer or chat template.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TextError {
    /// A file could not be read.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// `tokenizer.json` could not be parsed.
    #[error("{path} is not a valid tokenizer: {reason}")]
    Tokenizer {
        /// The file.
        path: PathBuf,
        /// The library's message.
        reason: String,
    },
    /// `tokenizer_config.json` is malformed; names the field.
    #[error("{path}: field `{field}`: {reason}")]
    Config {
        /// The file.
        path: PathBuf,
        /// The field.
        field: String,
        /// What is wrong.
        reason: String,
    },
    /// Encoding or decoding failed.
    #[error("tokenization failed: {0}")]
    Encode(String),
    /// Ids outside the tokenizer's vocabulary were given to decode.
    #[error("token id {id} is outside the tokenizer's vocabulary of {vocab}")]
    UnknownId {
        /// The id.
        id: u32,
        /// The vocabulary size.
        vocab: usize,
    },
    /// The model has no chat template.
    #[error("this model has no chat template (tokenizer_config.json has no `chat_template`)")]
    NoChatTemplate,
    /// The chat template failed to compile or render.
    #[error("chat template error: {0}")]
    Template(String),
}
