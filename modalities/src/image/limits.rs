//! Bounds on the pictures the image module accepts.

use serde::{Deserialize, Serialize};

use super::ImageError;

/// Bounds on the pictures the image module reads and prepares, so that a hostile or
/// mistaken file cannot make it allocate without limit.
///
/// Every bound is checked before any allocation proportional to the input: the file size
/// from the file's metadata (and, for a stream such as `/dev/zero`, by reading at most
/// `max_file_bytes + 1` bytes), the picture size from the decoder's header before a pixel is
/// decoded, and the size of a resize's intermediate picture before it is allocated.
///
/// The defaults keep a worst-case input within about 1 GB of memory:
///
/// | field | default |
/// |---|---|
/// | [`max_file_bytes`](Self::max_file_bytes) | 64 MiB |
/// | [`max_pixels`](Self::max_pixels) | 64 Mpx (8192 × 8192) |
/// | [`max_side`](Self::max_side) | 65 535 px |
///
/// ```
/// use tessera_modalities::image::ImageLimits;
/// let limits = ImageLimits::default().with_max_pixels(4096 * 4096);
/// assert_eq!(limits.max_file_bytes, ImageLimits::DEFAULT_MAX_FILE_BYTES);
/// assert_eq!(limits.max_pixels, 4096 * 4096);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
#[non_exhaustive]
pub struct ImageLimits {
    /// The largest file (or byte buffer) accepted, in bytes. Default
    /// [`Self::DEFAULT_MAX_FILE_BYTES`] (64 MiB).
    pub max_file_bytes: u64,
    /// The most pixels (width × height) of a decoded picture, and of the intermediate picture
    /// a resize may allocate. Default [`Self::DEFAULT_MAX_PIXELS`] (64 Mpx).
    pub max_pixels: u64,
    /// The longest side of a decoded picture, in pixels. Default [`Self::DEFAULT_MAX_SIDE`]
    /// (65 535, the largest JPEG side): a longer side is almost always a strip crafted to
    /// stay under `max_pixels`.
    pub max_side: u32,
}

impl Default for ImageLimits {
    fn default() -> Self {
        Self {
            max_file_bytes: Self::DEFAULT_MAX_FILE_BYTES,
            max_pixels: Self::DEFAULT_MAX_PIXELS,
            max_side: Self::DEFAULT_MAX_SIDE,
        }
    }
}

impl ImageLimits {
    /// Default [`Self::max_file_bytes`]: 64 MiB.
    pub const DEFAULT_MAX_FILE_BYTES: u64 = 64 * 1024 * 1024;
    /// Default [`Self::max_pixels`]: 64 megapixels (8192 × 8192).
    pub const DEFAULT_MAX_PIXELS: u64 = 8192 * 8192;
    /// Default [`Self::max_side`]: 65 535 pixels.
    pub const DEFAULT_MAX_SIDE: u32 = 65_535;

    /// The same limits with `max_file_bytes`.
    pub fn with_max_file_bytes(mut self, max_file_bytes: u64) -> Self {
        self.max_file_bytes = max_file_bytes;
        self
    }

    /// The same limits with `max_pixels`.
    pub fn with_max_pixels(mut self, max_pixels: u64) -> Self {
        self.max_pixels = max_pixels;
        self
    }

    /// The same limits with `max_side`.
    pub fn with_max_side(mut self, max_side: u32) -> Self {
        self.max_side = max_side;
        self
    }

    /// Checks a file or buffer of `bytes` bytes.
    ///
    /// # Errors
    /// [`ImageError::FileTooLarge`] when it is larger than [`Self::max_file_bytes`].
    pub fn check_file_bytes(&self, bytes: u64) -> Result<(), ImageError> {
        if bytes > self.max_file_bytes {
            return Err(ImageError::FileTooLarge {
                bytes: Some(bytes),
                max_file_bytes: self.max_file_bytes,
            });
        }
        Ok(())
    }

    /// Checks the declared size of a picture.
    ///
    /// # Errors
    /// [`ImageError::TooLarge`] over [`Self::max_pixels`], [`ImageError::SideTooLong`] over
    /// [`Self::max_side`].
    pub fn check_dimensions(&self, width: u32, height: u32) -> Result<(), ImageError> {
        // u32 × u32 always fits in u64.
        if u64::from(width) * u64::from(height) > self.max_pixels {
            return Err(ImageError::TooLarge {
                width,
                height,
                max_pixels: self.max_pixels,
            });
        }
        if width.max(height) > self.max_side {
            return Err(ImageError::SideTooLong {
                width,
                height,
                max_side: self.max_side,
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_checks() {
        let l = ImageLimits::default();
        assert_eq!(l.max_pixels, 67_108_864);
        assert!(l.check_dimensions(8192, 8192).is_ok());
        assert!(matches!(
            l.check_dimensions(8193, 8192),
            Err(ImageError::TooLarge { .. })
        ));
        assert!(matches!(
            l.check_dimensions(1_000_000, 1),
            Err(ImageError::SideTooLong { .. })
        ));
        assert!(matches!(
            l.with_max_file_bytes(10).check_file_bytes(11),
            Err(ImageError::FileTooLarge {
                bytes: Some(11),
                max_file_bytes: 10
            })
        ));
        let json = serde_json::to_string(&l).unwrap();
        let back: ImageLimits = serde_json::from_str(&json).unwrap();
        assert_eq!(back, l);
        let partial: ImageLimits = serde_json::from_str(r#"{"max_side": 100}"#).unwrap();
        assert_eq!(partial, l.with_max_side(100));
    }
}
