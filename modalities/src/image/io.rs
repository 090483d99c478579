//! Reading pictures (PNG, JPEG) within [`ImageLimits`], and writing PNG.

use std::io::{Cursor, Read};
use std::path::Path;

use image::{DynamicImage, ImageDecoder, ImageFormat, ImageReader, Limits, RgbImage};

use super::{ImageError, ImageLimits};

/// Reads pictures within [`ImageLimits`]: file size, pixel count and side length.
///
/// The format is recognised from the content (magic bytes), never from the file name; PNG
/// and JPEG are supported. The file size is checked from its metadata before it is read (a
/// stream such as `/dev/zero` is read at most one byte past the limit, and is refused after
/// its first 16 bytes if they are not a PNG or JPEG signature); the picture size is read from
/// the header and checked before any pixel is decoded, so a small file declaring a huge
/// picture costs nothing. Pictures come back as 8-bit RGB: grey is expanded, 16-bit samples
/// are scaled, an alpha channel is dropped.
///
/// ```
/// use tessera_modalities::image::ImageLoader;
/// let loader = ImageLoader::new().with_max_pixels(1024 * 1024);
/// assert!(loader.decode(b"not a picture").is_err());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ImageLoader {
    limits: ImageLimits,
}

impl ImageLoader {
    /// The default pixel limit, [`ImageLimits::DEFAULT_MAX_PIXELS`]: 64 Mpx (8192 × 8192).
    pub const DEFAULT_MAX_PIXELS: u64 = ImageLimits::DEFAULT_MAX_PIXELS;

    /// A loader with the default [`ImageLimits`].
    pub fn new() -> Self {
        Self::default()
    }

    /// A loader with `limits`.
    pub fn with_limits(limits: ImageLimits) -> Self {
        ImageLoader { limits }
    }

    /// The same loader with a limit of `max_pixels` (width × height).
    pub fn with_max_pixels(self, max_pixels: u64) -> Self {
        ImageLoader {
            limits: self.limits.with_max_pixels(max_pixels),
        }
    }

    /// The pixel limit.
    pub fn max_pixels(&self) -> u64 {
        self.limits.max_pixels
    }

    /// All the limits.
    pub fn limits(&self) -> &ImageLimits {
        &self.limits
    }

    /// The allocation budget of one decode: 8 bytes per allowed pixel (RGBA, 16 bits) plus
    /// 64 MiB of decoder workspace. With the default limits, 576 MiB.
    pub fn decode_budget(&self) -> u64 {
        self.limits
            .max_pixels
            .saturating_mul(8)
            .saturating_add(WORKSPACE_BYTES)
    }

    /// Reads and decodes the picture at `path` (the file is read into memory first, at most
    /// [`ImageLimits::max_file_bytes`] of it).
    ///
    /// # Errors
    /// [`ImageError::Io`] if the file cannot be read, [`ImageError::FileTooLarge`] past
    /// [`ImageLimits::max_file_bytes`], and the errors of [`Self::decode`].
    pub fn load(&self, path: &Path) -> Result<RgbImage, ImageError> {
        let bytes = read_bounded(path, self.limits.max_file_bytes)?;
        self.decode(&bytes)
    }

    /// Decodes a picture held in memory.
    ///
    /// # Errors
    /// [`ImageError::FileTooLarge`] for more than [`ImageLimits::max_file_bytes`] bytes,
    /// [`ImageError::Unsupported`] if they are not a PNG or JPEG, [`ImageError::TooLarge`] or
    /// [`ImageError::SideTooLong`] for a picture over the limits,
    /// [`ImageError::AllocationLimit`] if decoding would pass [`Self::decode_budget`],
    /// [`ImageError::Decode`] if it is corrupt or truncated.
    pub fn decode(&self, bytes: &[u8]) -> Result<RgbImage, ImageError> {
        let len = u64::try_from(bytes.len()).unwrap_or(u64::MAX);
        self.limits.check_file_bytes(len)?;
        let format = sniff_format(bytes)?;
        if format == ImageFormat::Jpeg {
            check_jpeg_complete(bytes)?;
        }
        // One allocation budget for the whole decode: room for the widest layout (RGBA,
        // 16 bits) of the largest picture allowed, plus decoder workspace. It also bounds what
        // the header may expand to (a PNG's compressed ICC profile or text can be a zlib bomb).
        // No width/height limits: the picture's size is checked below, by our own limits, so
        // that an oversized picture is reported by its size.
        let budget = self.decode_budget();
        let mut limits = Limits::default();
        limits.max_image_width = None;
        limits.max_image_height = None;
        limits.max_alloc = Some(budget);
        let over_budget = |e: image::ImageError| match e {
            image::ImageError::Limits(_) => ImageError::AllocationLimit { budget },
            e => map_image_error(e),
        };
        let mut reader = ImageReader::with_format(Cursor::new(bytes), format);
        reader.limits(limits.clone());
        let mut decoder = reader.into_decoder().map_err(over_budget)?;
        let (width, height) = decoder.dimensions();
        self.limits.check_dimensions(width, height)?;
        if width == 0 || height == 0 {
            return Err(ImageError::Decode {
                reason: format!("the picture declares an empty size {width}x{height}"),
            });
        }
        decoder.set_limits(limits).map_err(over_budget)?;
        let img = DynamicImage::from_decoder(decoder).map_err(over_budget)?;
        Ok(img.into_rgb8())
    }
}

/// The supported format of `bytes` from its magic bytes.
fn sniff_format(bytes: &[u8]) -> Result<ImageFormat, ImageError> {
    match image::guess_format(bytes) {
        Ok(f @ (ImageFormat::Png | ImageFormat::Jpeg)) => Ok(f),
        Ok(other) => Err(ImageError::Unsupported {
            reason: format!("{other:?} pictures are not supported (PNG and JPEG are)"),
        }),
        Err(_) => Err(ImageError::Unsupported {
            reason: "the data is not a PNG or JPEG picture".into(),
        }),
    }
}

/// Bytes read before the format is checked: enough for every signature `image` knows.
const SNIFF_BYTES: usize = 16;

/// Reads the file at `path` into memory, refusing more than `max` bytes.
///
/// A regular file's size comes from its metadata, so an oversized file is refused before it
/// is read. Other files (devices, pipes) are read through `Read::take(max + 1)`, and their
/// first [`SNIFF_BYTES`] are checked for a picture signature first, so `/dev/zero` fails
/// after 16 bytes.
fn read_bounded(path: &Path, max: u64) -> Result<Vec<u8>, ImageError> {
    let io = |source| ImageError::Io {
        path: path.to_path_buf(),
        source,
    };
    let file = std::fs::File::open(path).map_err(io)?;
    let meta = file.metadata().map_err(io)?;
    let regular = meta.is_file();
    if regular && meta.len() > max {
        return Err(ImageError::FileTooLarge {
            bytes: Some(meta.len()),
            max_file_bytes: max,
        });
    }
    let mut reader = file.take(max.saturating_add(1));
    let mut head = [0u8; SNIFF_BYTES];
    let mut got = 0;
    while got < SNIFF_BYTES {
        // `got < SNIFF_BYTES` by the loop condition, so the range is in bounds.
        match reader.read(&mut head[got..]) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(io(e)),
        }
    }
    // `got <= SNIFF_BYTES`: `read` never reports more than the buffer it was given.
    let head = &head[..got];
    if got == SNIFF_BYTES {
        sniff_format(head)?;
    }
    // A regular file's length is at most `max` here; other files start small and grow.
    let capacity = if regular {
        usize::try_from(meta.len()).unwrap_or(0)
    } else {
        SNIFF_BYTES
    };
    let mut bytes = Vec::with_capacity(capacity);
    bytes.extend_from_slice(head);
    reader.read_to_end(&mut bytes).map_err(io)?;
    if u64::try_from(bytes.len()).unwrap_or(u64::MAX) > max {
        return Err(ImageError::FileTooLarge {
            bytes: None,
            max_file_bytes: max,
        });
    }
    Ok(bytes)
}

/// Decoder workspace allowed on top of the decoded picture itself (64 MiB).
const WORKSPACE_BYTES: u64 = 64 * 1024 * 1024;

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
                let ff = bytes
                    .get(i..)
                    .ok_or_else(truncated)?
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

/// Reads the picture at `path` within the default [`ImageLimits`].
///
/// # Errors
/// See [`ImageLoader::load`].
pub fn load_image(path: &Path) -> Result<RgbImage, ImageError> {
    ImageLoader::new().load(path)
}

/// Reads the picture at `path` within `limits`.
///
/// # Errors
/// See [`ImageLoader::load`].
pub fn load_image_with(path: &Path, limits: &ImageLimits) -> Result<RgbImage, ImageError> {
    ImageLoader::with_limits(*limits).load(path)
}

/// Decodes an in-memory picture within the default [`ImageLimits`].
///
/// # Errors
/// See [`ImageLoader::decode`].
pub fn decode_image(bytes: &[u8]) -> Result<RgbImage, ImageError> {
    ImageLoader::new().decode(bytes)
}

/// Decodes an in-memory picture within `limits`.
///
/// # Errors
/// See [`ImageLoader::decode`].
pub fn decode_image_with(bytes: &[u8], limits: &ImageLimits) -> Result<RgbImage, ImageError> {
    ImageLoader::with_limits(*limits).decode(bytes)
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
