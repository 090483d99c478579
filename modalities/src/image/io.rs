//! Reading pictures (PNG, JPEG) with a pixel limit, and writing PNG.

use std::io::Cursor;
use std::path::Path;

use image::{DynamicImage, ImageDecoder, ImageFormat, ImageReader, Limits, RgbImage};

use super::ImageError;

/// Reads pictures, refusing any whose declared size exceeds a pixel limit.
///
/// The format is recognised from the content (magic bytes), never from the file name; PNG
/// and JPEG are supported. The size is read from the header and checked before any pixel
/// is decoded, so a small file declaring a huge picture costs nothing. Pictures come back
/// as 8-bit RGB: grey is expanded, 16-bit samples are scaled, an alpha channel is dropped.
///
/// ```
/// use tessera_modalities::image::ImageLoader;
/// let loader = ImageLoader::new().with_max_pixels(1024 * 1024);
/// assert!(loader.decode(b"not a picture").is_err());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ImageLoader {
    max_pixels: u64,
}

impl Default for ImageLoader {
    fn default() -> Self {
        Self::new()
    }
}

impl ImageLoader {
    /// The default limit: 64 megapixels (8192 × 8192).
    pub const DEFAULT_MAX_PIXELS: u64 = 8192 * 8192;

    /// A loader with the default limit, [`Self::DEFAULT_MAX_PIXELS`].
    pub fn new() -> Self {
        ImageLoader {
            max_pixels: Self::DEFAULT_MAX_PIXELS,
        }
    }

    /// The same loader with a limit of `max_pixels` (width × height).
    pub fn with_max_pixels(self, max_pixels: u64) -> Self {
        ImageLoader { max_pixels }
    }

    /// The pixel limit.
    pub fn max_pixels(&self) -> u64 {
        self.max_pixels
    }

    /// Reads and decodes the picture at `path` (the file is read into memory first).
    ///
    /// # Errors
    /// [`ImageError::Io`] if the file cannot be read, [`ImageError::Unsupported`] if it is
    /// not a PNG or JPEG, [`ImageError::TooLarge`] over the limit, [`ImageError::Decode`] if
    /// it is corrupt or truncated.
    pub fn load(&self, path: &Path) -> Result<RgbImage, ImageError> {
        let bytes = std::fs::read(path).map_err(|source| ImageError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        self.decode(&bytes)
    }

    /// Decodes a picture held in memory.
    ///
    /// # Errors
    /// As [`Self::load`], without the I/O case.
    pub fn decode(&self, bytes: &[u8]) -> Result<RgbImage, ImageError> {
        let mut reader = ImageReader::new(Cursor::new(bytes))
            .with_guessed_format()
            .map_err(|e| map_image_error(image::ImageError::IoError(e)))?;
        match reader.format() {
            Some(ImageFormat::Png) => {}
            Some(ImageFormat::Jpeg) => check_jpeg_complete(bytes)?,
            Some(other) => {
                return Err(ImageError::Unsupported {
                    reason: format!("{other:?} pictures are not supported (PNG and JPEG are)"),
                });
            }
            None => {
                return Err(ImageError::Unsupported {
                    reason: "the data is not a PNG or JPEG picture".into(),
                });
            }
        }
        // Read the header without the crate's default limits so that an oversized picture
        // is reported by its size, then decode under an allocation limit that follows ours.
        reader.no_limits();
        let mut decoder = reader.into_decoder().map_err(map_image_error)?;
        let (width, height) = decoder.dimensions();
        let pixels = u64::from(width) * u64::from(height);
        if pixels > self.max_pixels {
            return Err(ImageError::TooLarge {
                width,
                height,
                max_pixels: self.max_pixels,
            });
        }
        if pixels == 0 {
            return Err(ImageError::Decode {
                reason: format!("the picture declares an empty size {width}x{height}"),
            });
        }
        let mut limits = Limits::default();
        // Room for the widest layout (RGBA, 16 bits) plus decoder workspace.
        limits.max_alloc = Some((self.max_pixels.saturating_mul(8)).max(DEFAULT_MAX_ALLOC));
        let too_large = || ImageError::TooLarge {
            width,
            height,
            max_pixels: self.max_pixels,
        };
        decoder.set_limits(limits).map_err(|e| match e {
            image::ImageError::Limits(_) => too_large(),
            e => map_image_error(e),
        })?;
        let img = DynamicImage::from_decoder(decoder).map_err(|e| match e {
            image::ImageError::Limits(_) => too_large(),
            e => map_image_error(e),
        })?;
        Ok(img.into_rgb8())
    }
}

/// The image crate's default allocation limit (512 MiB).
const DEFAULT_MAX_ALLOC: u64 = 512 * 1024 * 1024;

/// Walks the JPEG's segments and refuses a stream that ends before its end-of-image marker.
///
/// JPEG decoders (zune-jpeg included) fill missing scan data with grey and report success;
/// a truncated upload should be an error instead. Entropy-coded data cannot contain a
/// marker (`0xFF` is stuffed as `FF 00`), so the walk is exact.
fn check_jpeg_complete(bytes: &[u8]) -> Result<(), ImageError> {
    let truncated = || ImageError::Decode {
        reason: "truncated JPEG: the data ends before the end-of-image marker".into(),
    };
    let mut i = 2; // after SOI (FF D8), which format detection has seen
    loop {
        // Next marker: FF, optional FF fill bytes, then the code.
        if bytes.get(i) != Some(&0xFF) {
            return Err(ImageError::Decode {
                reason: format!("corrupt JPEG: expected a marker at byte {i}"),
            });
        }
        while bytes.get(i) == Some(&0xFF) {
            i += 1;
        }
        let code = *bytes.get(i).ok_or_else(truncated)?;
        i += 1;
        match code {
            0xD9 => return Ok(()),                 // EOI
            0x01 | 0xD0..=0xD7 | 0xD8 => continue, // no length field
            _ => {}
        }
        let len = match bytes.get(i..i + 2) {
            Some(&[a, b]) => usize::from(u16::from_be_bytes([a, b])),
            _ => return Err(truncated()),
        };
        if len < 2 {
            return Err(ImageError::Decode {
                reason: format!("corrupt JPEG: segment length {len} at byte {i}"),
            });
        }
        i += len;
        if i > bytes.len() {
            return Err(truncated());
        }
        if code == 0xDA {
            // SOS: skip the entropy-coded data up to the next real marker.
            loop {
                let ff = bytes[i..]
                    .iter()
                    .position(|&b| b == 0xFF)
                    .ok_or_else(truncated)?;
                i += ff;
                match bytes.get(i + 1) {
                    None => return Err(truncated()),
                    Some(0x00 | 0xD0..=0xD7) => i += 2, // stuffed byte or restart marker
                    Some(0xFF) => i += 1,               // fill byte
                    Some(_) => break,
                }
            }
        }
    }
}

/// Decoding reads from memory, so an I/O error inside a decoder means the data ended early.
fn map_image_error(e: image::ImageError) -> ImageError {
    match e {
        image::ImageError::Unsupported(u) => ImageError::Unsupported {
            reason: u.to_string(),
        },
        image::ImageError::IoError(e) => ImageError::Decode {
            reason: format!("truncated or unreadable data: {e}"),
        },
        e => ImageError::Decode {
            reason: e.to_string(),
        },
    }
}

/// Reads the picture at `path` with the default [`ImageLoader`].
///
/// # Errors
/// See [`ImageLoader::load`].
pub fn load_image(path: &Path) -> Result<RgbImage, ImageError> {
    ImageLoader::new().load(path)
}

/// Decodes an in-memory picture with the default [`ImageLoader`].
///
/// # Errors
/// See [`ImageLoader::decode`].
pub fn decode_image(bytes: &[u8]) -> Result<RgbImage, ImageError> {
    ImageLoader::new().decode(bytes)
}

/// Encodes `img` as PNG bytes.
///
/// # Errors
/// [`ImageError::Encode`] if the encoder fails.
pub fn encode_png(img: &RgbImage) -> Result<Vec<u8>, ImageError> {
    let mut out = Cursor::new(Vec::new());
    img.write_to(&mut out, ImageFormat::Png)
        .map_err(|e| ImageError::Encode {
            reason: e.to_string(),
        })?;
    Ok(out.into_inner())
}

/// Writes `img` to `path` as PNG (whatever the file's extension).
///
/// # Errors
/// [`ImageError::Encode`] if encoding fails, [`ImageError::Io`] if the file cannot be written.
pub fn save_png(img: &RgbImage, path: &Path) -> Result<(), ImageError> {
    let bytes = encode_png(img)?;
    std::fs::write(path, bytes).map_err(|source| ImageError::Io {
        path: path.to_path_buf(),
        source,
    })
}
