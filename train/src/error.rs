//! The trainer's errors.

use std::path::PathBuf;

/// Why training could not start or go on.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TrainError {
    /// A field of the training config is missing, mistyped or out of range.
    #[error("training config: `{field}`: {reason}")]
    Config {
        /// The field at fault (dotted path).
        field: String,
        /// What is wrong.
        reason: String,
    },
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// A checkpoint is missing, truncated, or does not match the config.
    #[error("checkpoint: {0}")]
    Checkpoint(String),
    /// Inputs of inconsistent shapes reached the model.
    #[error("shape: {0}")]
    Shape(String),
    /// The data pipeline failed (a tokenizer, a world).
    #[error("data: {0}")]
    Data(String),
    /// The loss became NaN or infinite.
    #[error("the loss diverged at step {step} ({loss})")]
    Diverged {
        /// The step.
        step: u64,
        /// The loss value.
        loss: f32,
    },
    /// A tensor operation failed.
    #[error(transparent)]
    Tensor(#[from] candle_core::Error),
}

impl TrainError {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        TrainError::Io {
            path: path.into(),
            source,
        }
    }
}
