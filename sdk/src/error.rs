//! The SDK's error type: one enum a caller can match on, wrapping each layer's typed error.

use tessera_backbone::{ForwardError, LoadError};
use tessera_modalities::{SpaceError, TextError};

/// Everything that can go wrong using Tessera through the SDK.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The model folder could not be loaded.
    #[error(transparent)]
    Load(#[from] LoadError),
    /// Tokenizer or chat template problem.
    #[error(transparent)]
    Text(#[from] TextError),
    /// The request is invalid; `field` names the option as the CLI and JSON spell it.
    #[error("invalid request: `{field}`: {reason}")]
    InvalidRequest {
        /// The option or field.
        field: String,
        /// Why.
        reason: String,
    },
    /// The request asks for more than a resource limit allows
    /// ([`Limits`](crate::Limits)); nothing was allocated for it.
    #[error(
        "limit exceeded: {value} is over `{limit}` = {max} (raise it with --{flag} or \
         Limits::{limit})",
        flag = limit.replace('_', "-")
    )]
    Limit {
        /// The limit's field in [`Limits`](crate::Limits) (the CLI flag is the same with `-`).
        limit: &'static str,
        /// What the request asked for.
        value: String,
        /// The limit.
        max: usize,
    },
    /// The decoding controller refused the options or failed.
    #[error(transparent)]
    Decode(tessera_hybrid::Error),
    /// A forward pass failed.
    #[error(transparent)]
    Forward(#[from] ForwardError),
    /// The token space is inconsistent, or an id/code lies outside its range.
    #[error(transparent)]
    Space(#[from] SpaceError),
    /// An image could not be read, encoded or decoded, or the image tokenizer is broken.
    #[error(transparent)]
    Image(#[from] tessera_modalities::image::ImageError),
    /// Audio could not be read, encoded or decoded, or the audio tokenizer is broken.
    #[error(transparent)]
    Audio(#[from] tessera_modalities::audio::AudioError),
    /// The service's scheduler has stopped (or its admission queue was not reserved with
    /// `poll_ready` before `call`).
    #[error("the service is unavailable: {0}")]
    Unavailable(&'static str),
    /// The request needs a tokenizer and the model folder has none.
    #[error("the model folder has no tokenizer.json; pass token ids instead of text")]
    NoTokenizer,
}

impl Error {
    pub(crate) fn invalid(field: &str, reason: impl Into<String>) -> Self {
        Error::InvalidRequest {
            field: field.to_string(),
            reason: reason.into(),
        }
    }
}

impl From<tessera_hybrid::Error> for Error {
    fn from(e: tessera_hybrid::Error) -> Self {
        match e {
            // A backbone error travelling through the Denoiser seam comes back typed.
            tessera_hybrid::Error::Denoiser(inner) => match inner.downcast::<ForwardError>() {
                Ok(f) => Error::Forward(*f),
                Err(other) => Error::Decode(tessera_hybrid::Error::Denoiser(other)),
            },
            other => Error::Decode(other),
        }
    }
}
