//! Errors of the image modality.

use std::path::PathBuf;

/// Errors loading pictures or image tokenizers, and encoding or decoding image codes.
///
/// Every failure that user input can cause (a file, its bytes, a config, a weights file, a
/// list of codes) is one of these variants; the library does not panic on user input.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ImageError {
    /// A file could not be read or written.
    #[error("cannot access {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// The bytes are not a picture in a supported format (PNG or JPEG).
    #[error("unsupported or unrecognised image format: {reason}")]
    Unsupported {
        /// What was found.
        reason: String,
    },
    /// The bytes look like a supported format but are corrupt or truncated.
    #[error("cannot decode image: {reason}")]
    Decode {
        /// The decoder's message.
        reason: String,
    },
    /// The picture has more pixels than the configured limit (checked before its pixels are
    /// decoded).
    #[error("image of {width}x{height} pixels exceeds the limit of {max_pixels} pixels")]
    TooLarge {
        /// Width in pixels, as declared by the file.
        width: u32,
        /// Height in pixels, as declared by the file.
        height: u32,
        /// The configured limit (width × height).
        max_pixels: u64,
    },
    /// The picture could not be encoded (e.g. as PNG).
    #[error("cannot encode image: {reason}")]
    Encode {
        /// The encoder's message.
        reason: String,
    },
    /// A code is outside the tokenizer's codebook.
    #[error("code {code} at position {position} is outside the codebook of {codebook_size}")]
    CodeOutOfRange {
        /// The code.
        code: u32,
        /// Its row-major position in the grid.
        position: usize,
        /// Size of the codebook.
        codebook_size: usize,
    },
    /// A grid of codes, a picture or a tensor has a shape that disagrees with the tokenizer's
    /// configuration.
    #[error("shape mismatch for {what}: expected {expected}, found {found}")]
    ShapeMismatch {
        /// What has the wrong shape (a tensor name, `codes`, `image`…).
        what: String,
        /// The shape the configuration implies.
        expected: String,
        /// The shape found.
        found: String,
    },
    /// A config file is missing, malformed, or a field has an invalid value; names the field.
    #[error("{path}: field `{field}`: {reason}")]
    Config {
        /// The file (empty for configs built in code).
        path: PathBuf,
        /// The field, dotted for nested ones (`encoder.ch_mult`).
        field: String,
        /// What is wrong.
        reason: String,
    },
    /// A weights file is missing, truncated, or lacks or misshapes a tensor.
    #[error("weights {path}: {reason}")]
    Weights {
        /// The file.
        path: PathBuf,
        /// What is wrong (names the tensor where known).
        reason: String,
    },
    /// An argument given in code is invalid (e.g. a patch size of 0 for [`PatchVq::fit`]).
    ///
    /// [`PatchVq::fit`]: crate::image::PatchVq::fit
    #[error("invalid argument `{name}`: {reason}")]
    InvalidArgument {
        /// The argument.
        name: &'static str,
        /// What is wrong.
        reason: String,
    },
    /// The tensor backend failed while running a model.
    #[error("tensor computation failed: {0}")]
    Compute(String),
}

impl From<candle_core::Error> for ImageError {
    fn from(e: candle_core::Error) -> Self {
        ImageError::Compute(e.to_string())
    }
}
