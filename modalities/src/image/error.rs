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
    /// The picture has more pixels than the configured limit
    /// ([`ImageLimits::max_pixels`], checked before its pixels are decoded).
    ///
    /// [`ImageLimits::max_pixels`]: crate::image::ImageLimits::max_pixels
    #[error(
        "image of {width}x{height} = {pixels} pixels exceeds ImageLimits::max_pixels = \
         {max_pixels}; raise ImageLimits::max_pixels (or ImageLoader::with_max_pixels) to \
         accept it",
        pixels = pixel_count(*.width, *.height)
    )]
    TooLarge {
        /// Width in pixels, as declared by the file.
        width: u32,
        /// Height in pixels, as declared by the file.
        height: u32,
        /// The configured limit (width × height).
        max_pixels: u64,
    },
    /// A side of the picture is longer than [`ImageLimits::max_side`] (checked before its
    /// pixels are decoded).
    ///
    /// [`ImageLimits::max_side`]: crate::image::ImageLimits::max_side
    #[error(
        "image of {width}x{height} pixels has a side longer than ImageLimits::max_side = \
         {max_side}; raise ImageLimits::max_side to accept it"
    )]
    SideTooLong {
        /// Width in pixels, as declared by the file.
        width: u32,
        /// Height in pixels, as declared by the file.
        height: u32,
        /// The configured limit.
        max_side: u32,
    },
    /// The file or byte buffer is larger than [`ImageLimits::max_file_bytes`]; checked from
    /// the file's metadata before reading, or while reading a stream of unknown length.
    ///
    /// [`ImageLimits::max_file_bytes`]: crate::image::ImageLimits::max_file_bytes
    #[error("{}", file_too_large(*.bytes, *.max_file_bytes))]
    FileTooLarge {
        /// The size in bytes, or `None` for a stream (such as `/dev/zero`) whose reading
        /// stopped once it passed the limit.
        bytes: Option<u64>,
        /// The configured limit.
        max_file_bytes: u64,
    },
    /// Resizing the picture to cover the target size would need an intermediate picture of
    /// more than [`ImageLimits::max_pixels`] pixels (checked before it is allocated).
    ///
    /// [`ImageLimits::max_pixels`]: crate::image::ImageLimits::max_pixels
    #[error(
        "resizing a {width}x{height} image to {target_width}x{target_height} needs {pixels} \
         pixels of intermediate image, more than ImageLimits::max_pixels = {max_pixels}; raise \
         ImageLimits::max_pixels or ask for a smaller size"
    )]
    ResizeTooLarge {
        /// Width of the picture being resized.
        width: u32,
        /// Height of the picture being resized.
        height: u32,
        /// The requested width.
        target_width: u32,
        /// The requested height.
        target_height: u32,
        /// Pixels the resize would allocate (`u64::MAX` if that does not fit in a `u64`).
        pixels: u64,
        /// The configured limit.
        max_pixels: u64,
    },
    /// Decoding would allocate more than its budget
    /// ([`ImageLoader::decode_budget`]: 8 bytes per [`ImageLimits::max_pixels`] plus 64 MiB);
    /// typically a compressed metadata chunk (a PNG's ICC profile) that expands without bound.
    ///
    /// [`ImageLoader::decode_budget`]: crate::image::ImageLoader::decode_budget
    /// [`ImageLimits::max_pixels`]: crate::image::ImageLimits::max_pixels
    #[error(
        "decoding the image needs more than its memory budget of {budget} bytes (8 bytes per \
         ImageLimits::max_pixels plus 64 MiB), e.g. for metadata that decompresses without \
         bound; raise ImageLimits::max_pixels if the file is genuine"
    )]
    AllocationLimit {
        /// The budget in bytes.
        budget: u64,
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

/// `width × height` (cannot overflow: both fit in 32 bits).
fn pixel_count(width: u32, height: u32) -> u64 {
    u64::from(width) * u64::from(height)
}

fn file_too_large(bytes: Option<u64>, max_file_bytes: u64) -> String {
    match bytes {
        Some(n) => format!(
            "image file of {n} bytes exceeds ImageLimits::max_file_bytes = {max_file_bytes}; \
             raise ImageLimits::max_file_bytes to accept it"
        ),
        None => format!(
            "image stream is longer than ImageLimits::max_file_bytes = {max_file_bytes} bytes \
             (reading stopped there); raise ImageLimits::max_file_bytes to accept it"
        ),
    }
}

impl From<candle_core::Error> for ImageError {
    fn from(e: candle_core::Error) -> Self {
        ImageError::Compute(e.to_string())
    }
}
