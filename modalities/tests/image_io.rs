//! Loading pictures: formats, the pixel limit, bad files, and a fuzz of the decode entry
//! point.

mod common;

use common::push_chunk;
use std::io::Cursor;
use std::path::{Path, PathBuf};

use image::ImageFormat;
use proptest::prelude::*;
use tessera_modalities::image::{
    ImageError, ImageLoader, RgbImage, decode_image, encode_png, load_image, save_png,
};

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/images")
}

fn png_bytes() -> Vec<u8> {
    std::fs::read(fixtures().join("pattern_32.png")).unwrap()
}

fn jpeg_bytes() -> Vec<u8> {
    std::fs::read(fixtures().join("photo_48x40.jpg")).unwrap()
}

/// A well-formed PNG that declares `w × h` RGB pixels but whose image data is an empty
/// zlib stream (a few bytes for any size).
fn png_header_only(w: u32, h: u32) -> Vec<u8> {
    let mut out = b"\x89PNG\r\n\x1a\n".to_vec();
    let mut ihdr = w.to_be_bytes().to_vec();
    ihdr.extend_from_slice(&h.to_be_bytes());
    ihdr.extend_from_slice(&[8, 2, 0, 0, 0]); // 8-bit RGB, no interlace
    push_chunk(&mut out, b"IHDR", &ihdr);
    push_chunk(
        &mut out,
        b"IDAT",
        &[0x78, 0x9C, 0x03, 0x00, 0x00, 0x00, 0x00, 0x01],
    );
    push_chunk(&mut out, b"IEND", &[]);
    out
}

#[test]
fn png_and_jpeg_load_from_path_and_bytes() {
    let a = load_image(&fixtures().join("pattern_32.png")).unwrap();
    assert_eq!(a.dimensions(), (32, 32));
    assert_eq!(decode_image(&png_bytes()).unwrap(), a);
    let j = load_image(&fixtures().join("photo_48x40.jpg")).unwrap();
    assert_eq!(j.dimensions(), (48, 40));
    assert_eq!(decode_image(&jpeg_bytes()).unwrap(), j);
}

#[test]
fn png_round_trips_through_save_and_encode() {
    let img = RgbImage::from_fn(7, 5, |x, y| image::Rgb([x as u8 * 30, y as u8 * 50, 77]));
    assert_eq!(decode_image(&encode_png(&img).unwrap()).unwrap(), img);
    let path = std::env::temp_dir().join(format!("tessera-image-io-{}.png", std::process::id()));
    save_png(&img, &path).unwrap();
    let back = load_image(&path);
    let _ = std::fs::remove_file(&path);
    assert_eq!(back.unwrap(), img);
    // Writing into a folder that does not exist is an I/O error, not a panic.
    assert!(matches!(
        save_png(&img, Path::new("/nonexistent-dir/x.png")),
        Err(ImageError::Io { .. })
    ));
}

#[test]
fn alpha_and_grey_pictures_become_rgb() {
    let rgba = image::RgbaImage::from_pixel(3, 2, image::Rgba([10, 20, 30, 40]));
    let mut bytes = Cursor::new(Vec::new());
    rgba.write_to(&mut bytes, ImageFormat::Png).unwrap();
    let img = decode_image(bytes.get_ref()).unwrap();
    assert_eq!(img.get_pixel(2, 1).0, [10, 20, 30]);
    let grey = image::GrayImage::from_pixel(2, 2, image::Luma([99]));
    let mut bytes = Cursor::new(Vec::new());
    grey.write_to(&mut bytes, ImageFormat::Png).unwrap();
    assert_eq!(
        decode_image(bytes.get_ref()).unwrap().get_pixel(0, 0).0,
        [99; 3]
    );
}

#[test]
fn pixel_limit_is_checked_before_decoding() {
    // 32×32 = 1024 pixels: refused at 1023, accepted at 1024.
    let strict = ImageLoader::new().with_max_pixels(1023);
    match strict.decode(&png_bytes()) {
        Err(ImageError::TooLarge {
            width: 32,
            height: 32,
            max_pixels: 1023,
        }) => {}
        other => panic!("{other:?}"),
    }
    assert!(
        ImageLoader::new()
            .with_max_pixels(1024)
            .decode(&png_bytes())
            .is_ok()
    );
    assert!(matches!(
        ImageLoader::new()
            .with_max_pixels(100)
            .load(&fixtures().join("photo_48x40.jpg")),
        Err(ImageError::TooLarge {
            width: 48,
            height: 40,
            ..
        })
    ));
    // A header declaring 100000 × 100000 pixels with no data behind it: refused by size
    // (not by a failed decode, and without allocating the picture).
    match decode_image(&png_header_only(100_000, 100_000)) {
        Err(ImageError::TooLarge {
            width: 100_000,
            height: 100_000,
            ..
        }) => {}
        other => panic!("{other:?}"),
    }
    // Under the limit, the same empty file is a decode error.
    assert!(matches!(
        decode_image(&png_header_only(10, 10)),
        Err(ImageError::Decode { .. })
    ));
}

#[test]
fn bad_files_are_typed_errors() {
    // Not a picture at all.
    assert!(matches!(
        decode_image(b"hello, this is a text file\n"),
        Err(ImageError::Unsupported { .. })
    ));
    assert!(matches!(
        decode_image(&[]),
        Err(ImageError::Unsupported { .. })
    ));
    // A recognised format that is not supported (GIF magic).
    assert!(matches!(
        decode_image(b"GIF89a\x01\x00\x01\x00\x00\x00\x00;"),
        Err(ImageError::Unsupported { .. })
    ));
    // Corrupt PNG: the signature, then garbage.
    let mut corrupt = png_bytes()[..8].to_vec();
    corrupt.extend_from_slice(&[0xAB; 64]);
    assert!(matches!(
        decode_image(&corrupt),
        Err(ImageError::Decode { .. })
    ));
    // A PNG whose pixel data is damaged.
    let mut damaged = png_bytes();
    let n = damaged.len();
    for b in &mut damaged[n / 2..n / 2 + 40] {
        *b ^= 0x5A;
    }
    assert!(matches!(
        decode_image(&damaged),
        Err(ImageError::Decode { .. })
    ));
    // Truncated PNG and JPEG.
    let png = png_bytes();
    assert!(matches!(
        decode_image(&png[..png.len() / 2]),
        Err(ImageError::Decode { .. })
    ));
    let jpeg = jpeg_bytes();
    assert!(matches!(
        decode_image(&jpeg[..jpeg.len() / 2]),
        Err(ImageError::Decode { .. })
    ));
    assert!(matches!(
        decode_image(&jpeg[..20]),
        Err(ImageError::Decode { .. })
    ));
    // A missing file, and a folder in place of a file.
    assert!(matches!(
        load_image(&fixtures().join("no-such-picture.png")),
        Err(ImageError::Io { .. })
    ));
    assert!(load_image(&fixtures()).is_err());
}

/// 512 cases per property by default; `PROPTEST_CASES=N` runs more.
fn fuzz_config() -> ProptestConfig {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(512);
    ProptestConfig {
        cases,
        ..ProptestConfig::default()
    }
}

proptest! {
    #![proptest_config(fuzz_config())]

    /// Random bytes, with or without a PNG / JPEG signature in front, never panic.
    #[test]
    fn random_bytes_never_panic(
        body in proptest::collection::vec(any::<u8>(), 0..2048),
        prefix in 0usize..3,
    ) {
        let mut bytes = match prefix {
            0 => Vec::new(),
            1 => b"\x89PNG\r\n\x1a\n".to_vec(),
            _ => vec![0xFF, 0xD8, 0xFF],
        };
        bytes.extend_from_slice(&body);
        let _ = ImageLoader::new().with_max_pixels(1 << 20).decode(&bytes);
    }

    /// Real PNG / JPEG files with bytes overwritten and the tail cut never panic, and any
    /// picture that still decodes respects the limit.
    #[test]
    fn mutated_pictures_never_panic(
        jpeg in any::<bool>(),
        edits in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..16),
        keep in any::<prop::sample::Index>(),
    ) {
        let mut bytes = if jpeg { jpeg_bytes() } else { png_bytes() };
        for (at, value) in edits {
            let i = at.index(bytes.len());
            bytes[i] = value;
        }
        let keep = keep.index(bytes.len()) + 1;
        bytes.truncate(keep);
        let limit = 4096;
        if let Ok(img) = ImageLoader::new().with_max_pixels(limit).decode(&bytes) {
            prop_assert!(u64::from(img.width()) * u64::from(img.height()) <= limit);
        }
    }
}
