//! The controller's error type.

use crate::DenoiseError;

/// Errors from the decoding controller: invalid options (each names the option) or a
/// failure of the denoiser it drives.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// An option is out of range or inconsistent with another; `option` names it as the
    /// CLI and JSON spell it.
    #[error("invalid option `{option}`: {reason}")]
    InvalidOption {
        /// The option's name, e.g. `block-length`.
        option: &'static str,
        /// Why it was refused.
        reason: String,
    },
    /// The prompt batch is unusable (empty, ragged mask, ids out of range).
    #[error("invalid prompt: {0}")]
    InvalidPrompt(String),
    /// The denoiser failed.
    #[error("denoiser failed: {0}")]
    Denoiser(#[from] DenoiseError),
    /// A steppable [`crate::Decoding`] was driven out of order (logits handed to a decoding
    /// that asked for none, or a result taken before it finished); says what was wrong.
    #[error("decoding driven out of order: {0}")]
    OutOfOrder(&'static str),
}

impl Error {
    pub(crate) fn option(option: &'static str, reason: impl Into<String>) -> Self {
        Error::InvalidOption {
            option,
            reason: reason.into(),
        }
    }
}
