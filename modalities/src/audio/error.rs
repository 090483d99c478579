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
    /// The audio is longer than the configured maximum
    /// ([`AudioLimits::max_duration_s`](super::AudioLimits::max_duration_s)).
    #[error("{}", too_long(*.seconds, *.max_seconds, *.lower_bound))]
    TooLong {
        /// Its duration: exact (from the header or the samples) unless `lower_bound`.
        seconds: f64,
        /// The configured limit.
        max_seconds: f64,
        /// `seconds` is only how far decoding got before it stopped at the limit: the audio
        /// is longer, by an unknown amount.
        lower_bound: bool,
    },
    /// The file or byte buffer is larger than
    /// [`AudioLimits::max_file_bytes`](super::AudioLimits::max_file_bytes); checked from the
    /// file's metadata before decoding, or while reading a stream of unknown length.
    #[error("{}", file_too_large(*.bytes, *.max_file_bytes))]
    FileTooLarge {
        /// The size in bytes, or `None` for a stream (such as `/dev/zero`) whose reading
        /// stopped once it passed the limit.
        bytes: Option<u64>,
        /// The configured limit.
        max_file_bytes: u64,
    },
    /// A sample rate (declared by a header, or asked of the resampler) outside
    /// [`AudioLimits::min_sample_rate`](super::AudioLimits::min_sample_rate)..=
    /// [`AudioLimits::max_sample_rate`](super::AudioLimits::max_sample_rate); checked before
    /// anything is sized by it.
    #[error(
        "sample rate {rate} Hz is outside the accepted range {min}..={max} Hz; adjust \
         AudioLimits::min_sample_rate / AudioLimits::max_sample_rate to accept it"
    )]
    SampleRateOutOfRange {
        /// The rate in Hz.
        rate: u32,
        /// The configured lowest rate.
        min: u32,
        /// The configured highest rate.
        max: u32,
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

/// The message of [`AudioError::TooLong`].
fn too_long(seconds: f64, max_seconds: f64, lower_bound: bool) -> String {
    let max = fmt_seconds(max_seconds);
    if lower_bound {
        format!(
            "audio is longer than the maximum of {max} s (decoding stopped there); raise \
             AudioLimits::max_duration_s to accept it"
        )
    } else {
        // Enough decimals that the duration does not print as the limit itself.
        let mut shown = format!("{seconds:.1}");
        if seconds > max_seconds && shown == format!("{max_seconds:.1}") {
            shown = format!("{seconds:.6}");
        }
        format!(
            "audio of {shown} s exceeds the maximum of {max} s; raise \
             AudioLimits::max_duration_s to accept it"
        )
    }
}

/// `600` for whole seconds, `0.25` otherwise.
fn fmt_seconds(s: f64) -> String {
    if s.fract() == 0.0 && s.abs() < 1e15 {
        format!("{s:.0}")
    } else {
        format!("{s}")
    }
}

/// The message of [`AudioError::FileTooLarge`].
fn file_too_large(bytes: Option<u64>, max_file_bytes: u64) -> String {
    match bytes {
        Some(n) => format!(
            "audio file of {n} bytes exceeds AudioLimits::max_file_bytes = {max_file_bytes}; \
             raise AudioLimits::max_file_bytes to accept it"
        ),
        None => format!(
            "audio stream is longer than AudioLimits::max_file_bytes = {max_file_bytes} bytes \
             (reading stopped there); raise AudioLimits::max_file_bytes to accept it"
        ),
    }
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

    #[test]
    fn too_long_shows_the_real_duration_or_says_more_than() {
        let e = super::AudioError::TooLong {
            seconds: 3600.0,
            max_seconds: 600.0,
            lower_bound: false,
        };
        assert!(
            e.to_string()
                .starts_with("audio of 3600.0 s exceeds the maximum of 600 s")
        );
        let e = super::AudioError::TooLong {
            seconds: 600.02,
            max_seconds: 600.0,
            lower_bound: false,
        };
        assert!(e.to_string().contains("600.020000 s exceeds"), "{e}");
        let e = super::AudioError::TooLong {
            seconds: 600.0,
            max_seconds: 600.0,
            lower_bound: true,
        };
        assert!(
            e.to_string()
                .starts_with("audio is longer than the maximum of 600 s")
        );
    }
}
