//! Images: loading and preparing pictures, and image tokenizers (vector quantisers).
//!
//! - [`ImageLoader`] reads PNG and JPEG (from a path or bytes) within [`ImageLimits`] (file
//!   size, pixel count, side length), all checked before the pixels are decoded;
//!   [`load_image_with`] / [`decode_image_with`] take the limits directly; [`save_png`] /
//!   [`encode_png`] write pictures.
//! - [`prepare_image`] resizes a picture to cover a target size and centre-crops it (the
//!   Show-o / MMaDA preprocessing), with its intermediate picture bounded
//!   ([`prepare_image_with`]); every tokenizer's `encode` does this itself.
//! - [`ImageTokenizer`] turns a picture into a grid of codes ([`ImageCodes`]) and back.
//!   Two implementations: [`MagvitV2`] (`showlab/magvitv2`, the tokenizer of Show-o and
//!   MMaDA, with its lookup-free quantiser [`Lfq`]) and [`PatchVq`] (a k-means codebook of
//!   pixel patches for small models). [`load_image_tokenizer`] picks one from a folder.

mod codes;
mod error;
mod io;
mod lfq;
mod limits;
mod magvit;
mod patch_vq;
mod preprocess;

use std::fmt::Debug;
use std::path::Path;

pub use image::RgbImage;
use serde_json::Value;

pub use codes::ImageCodes;
pub use error::ImageError;
pub use io::{
    ImageLoader, decode_image, decode_image_with, encode_png, load_image, load_image_with, save_png,
};
pub use lfq::Lfq;
pub use limits::ImageLimits;
pub use magvit::{CoderConfig, MagvitV2, MagvitV2Config, image_to_tensor, tensor_to_image};
pub use patch_vq::PatchVq;
pub use preprocess::{ResizeFilter, center_crop, prepare_image, prepare_image_with};

/// Turns pictures into grids of discrete codes and back.
///
/// Contract:
/// - `encode` accepts a picture of any size: it resizes it to cover
///   [`resolution`](Self::resolution) and centre-crops it first. It returns a grid of
///   [`grid`](Self::grid) codes, each below [`codebook_size`](Self::codebook_size).
/// - `decode` accepts exactly such a grid and returns a picture of
///   [`resolution`](Self::resolution); any other grid shape or an out-of-range code is an
///   error ([`ImageError::ShapeMismatch`], [`ImageError::CodeOutOfRange`]), never a panic.
/// - Implementations hold no per-call state: one tokenizer may serve many threads.
pub trait ImageTokenizer: Send + Sync + Debug {
    /// The codes of `img`.
    ///
    /// # Errors
    /// [`ImageError::InvalidArgument`] for an empty picture, [`ImageError::Compute`] if a
    /// model's backend fails.
    fn encode(&self, img: &RgbImage) -> Result<ImageCodes, ImageError>;

    /// The picture of `codes`.
    ///
    /// # Errors
    /// [`ImageError::ShapeMismatch`] if the grid is not [`grid`](Self::grid),
    /// [`ImageError::CodeOutOfRange`] for a code ≥ [`codebook_size`](Self::codebook_size).
    fn decode(&self, codes: &ImageCodes) -> Result<RgbImage, ImageError>;

    /// Number of distinct codes.
    fn codebook_size(&self) -> usize;

    /// The picture size the tokenizer works at, `(width, height)` in pixels.
    fn resolution(&self) -> (u32, u32);

    /// The code grid, `(height, width)`.
    fn grid(&self) -> (usize, usize);
}

/// Loads the image tokenizer in `dir`, chosen by `dir/config.json`:
/// `"type": "patch-vq"` → [`PatchVq`]; `"type": "magvit-v2"`, or the published MAGVIT-v2
/// config (`"_class_name": "MAGVITv2"`, no `type`) → [`MagvitV2`] on the CPU.
///
/// # Errors
/// [`ImageError::Io`] if `config.json` cannot be read, [`ImageError::Config`] (field
/// `type`) if it names no known tokenizer, and the loaders' own errors.
pub fn load_image_tokenizer(dir: &Path) -> Result<Box<dyn ImageTokenizer>, ImageError> {
    let config_path = dir.join("config.json");
    let value = read_json(&config_path)?;
    let kind = value.get("type");
    let class = value.get("_class_name").and_then(Value::as_str);
    match (kind, class) {
        (Some(Value::String(t)), _) if t == patch_vq::TYPE_NAME => {
            Ok(Box::new(PatchVq::load_with(dir, &value, &config_path)?))
        }
        (Some(Value::String(t)), _) if t == magvit::TYPE_NAME => Ok(Box::new(MagvitV2::load_with(
            dir,
            &value,
            &config_path,
            &candle_core::Device::Cpu,
        )?)),
        (None, Some("MAGVITv2")) => Ok(Box::new(MagvitV2::load_with(
            dir,
            &value,
            &config_path,
            &candle_core::Device::Cpu,
        )?)),
        (Some(other), _) => Err(ImageError::Config {
            path: config_path,
            field: "type".into(),
            reason: format!(
                "unknown image tokenizer {other}; expected \"{}\" or \"{}\"",
                patch_vq::TYPE_NAME,
                magvit::TYPE_NAME
            ),
        }),
        (None, _) => Err(ImageError::Config {
            path: config_path,
            field: "type".into(),
            reason: format!(
                "missing: say \"{}\" or \"{}\" (or give the published MAGVIT-v2 `_class_name`)",
                patch_vq::TYPE_NAME,
                magvit::TYPE_NAME
            ),
        }),
    }
}

/// Reads a JSON file; a parse failure is a [`ImageError::Config`] error.
fn read_json(path: &Path) -> Result<Value, ImageError> {
    let text = std::fs::read_to_string(path).map_err(|source| ImageError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    serde_json::from_str(&text).map_err(|e| ImageError::Config {
        path: path.to_path_buf(),
        field: "(file)".into(),
        reason: format!("not valid JSON: {e}"),
    })
}
