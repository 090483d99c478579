//! The error type of the audio modality.

use std::path::PathBuf;

/// Errors decoding, resampling, writing or tokenizing audio.
///
/// Every failure caused by user input (a file, bytes, codes, a codec folder) is one of these
/// variants; nothing in the audio module panics on user input.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AudioError {
    /// A file or folder could not be read or written.
    #[error("cannot access {path}: {source}")]
    Io {
        /// The path.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// The data is not in any audio format this build can read (e.g. a PNG), or uses a
    /// codec feature that is not supported.
    #[error("unsupported audio format: {0}")]
    UnsupportedFormat(String),
    /// The data looks like a known format but is malformed or cut short.
    #[error("corrupt or truncated audio: {0}")]
    Corrupt(String),
    /// The audio holds no samples.
    #[error("the audio is empty (zero samples)")]
    Empty,
    /// The audio is longer than the configured maximum ([`super::AudioLimits`]).
    #[error("audio of {seconds:.1} s exceeds the maximum of {max_seconds:.1} s")]
    TooLong {
        /// Its duration (possibly a lower bound: decoding stops at the limit).
        seconds: f64,
        /// The configured limit.
        max_seconds: f64,
    },
    /// A sample rate or channel count that cannot be used.
    #[error("invalid audio parameters: {0}")]
    InvalidAudio(String),
    /// Resampling failed.
    #[error("resampling from {from} Hz to {to} Hz failed: {reason}")]
    Resample {
        /// Input rate.
        from: u32,
        /// Output rate.
        to: u32,
        /// The library's message.
        reason: String,
    },
    /// Writing a WAV file failed.
    #[error("cannot write WAV: {0}")]
    WavWrite(String),
    /// A bandwidth the codec was not trained for.
    #[error("bandwidth {bandwidth} kbps is not one of the codec's target bandwidths {supported:?}")]
    UnsupportedBandwidth {
        /// The requested bandwidth in kbps.
        bandwidth: f64,
        /// The codec's `target_bandwidths`.
        supported: Vec<f64>,
    },
    /// A code is outside the codebook of its level.
    #[error(
        "code {code} at level {level}, frame {frame} is outside the codebook of size {codebook_size}"
    )]
    CodeOutOfRange {
        /// The level (row of `codes`).
        level: usize,
        /// The frame (column).
        frame: usize,
        /// The offending code.
        code: u32,
        /// The codebook size.
        codebook_size: usize,
    },
    /// The codes' shape does not fit the tokenizer: ragged levels, too many levels, no
    /// frames, or a different sample rate.
    #[error("codes do not fit this tokenizer: {0}")]
    CodesShape(String),
    /// A codec's `config.json` is missing a field or has a bad value; names the field.
    #[error("{path}: field `{field}`: {reason}")]
    Config {
        /// The file.
        path: PathBuf,
        /// The field.
        field: String,
        /// What is wrong.
        reason: String,
    },
    /// A weight is missing from the checkpoint or has the wrong shape for the config.
    #[error("weights in {path}: {reason}")]
    Weights {
        /// The checkpoint folder or file.
        path: PathBuf,
        /// What is wrong (names the tensor).
        reason: String,
    },
    /// Fitting a codebook failed (e.g. fewer training frames than codewords).
    #[error("cannot fit the codec: {0}")]
    Fit(String),
    /// A tensor operation failed inside a codec.
    #[error("tensor operation failed: {0}")]
    Tensor(String),
}

impl AudioError {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Self::Io {
            path: path.into(),
            source,
        }
    }

    pub(crate) fn config(
        path: impl Into<PathBuf>,
        field: impl Into<String>,
        reason: impl Into<String>,
    ) -> Self {
        Self::Config {
            path: path.into(),
            field: field.into(),
            reason: reason.into(),
        }
    }
}

impl From<candle_core::Error> for AudioError {
    fn from(e: candle_core::Error) -> Self {
        Self::Tensor(e.to_string())
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn errors_are_send_sync_static() {
        fn check<T: Send + Sync + 'static + std::error::Error>() {}
        check::<super::AudioError>();
    }
}
