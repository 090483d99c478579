//! Preparing a picture for a tokenizer: resize so it covers the target, then centre-crop.
//!
//! For a square target this is the Show-o / MMaDA preprocessing (torchvision
//! `Resize(size, BICUBIC)` — shorter side to `size`, longer side `int(size·long/short)` — then
//! `CenterCrop(size)` with offsets `round((dim − size)/2)`, Python's round-half-to-even).

use image::RgbImage;
use image::imageops::{self, FilterType};

use super::ImageError;

/// The interpolation used when a picture is resized.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum ResizeFilter {
    /// Nearest neighbour: keeps flat colours flat (no new colours at edges).
    Nearest,
    /// Bilinear (triangle filter).
    Bilinear,
    /// Bicubic (Catmull-Rom, the cubic PIL's `BICUBIC` uses); the Show-o / MMaDA choice.
    #[default]
    Bicubic,
}

impl ResizeFilter {
    fn filter_type(self) -> FilterType {
        match self {
            ResizeFilter::Nearest => FilterType::Nearest,
            ResizeFilter::Bilinear => FilterType::Triangle,
            ResizeFilter::Bicubic => FilterType::CatmullRom,
        }
    }
}

/// Resizes `img` so that it covers `width × height` (one side equal, the other at least as
/// large, aspect ratio kept) and centre-crops it to exactly `width × height`.
///
/// A picture that already has the target size is returned unchanged (copied).
///
/// # Errors
/// [`ImageError::InvalidArgument`] if the target or the picture has a zero side.
pub fn prepare_image(
    img: &RgbImage,
    width: u32,
    height: u32,
    filter: ResizeFilter,
) -> Result<RgbImage, ImageError> {
    check_nonempty(img, width, height)?;
    let (w, h) = img.dimensions();
    if (w, h) == (width, height) {
        return Ok(img.clone());
    }
    let (w64, h64) = (u64::from(w), u64::from(h));
    let (tw, th) = (u64::from(width), u64::from(height));
    // Compare aspect ratios exactly: w/h >= tw/th.
    let (nw, nh) = if w64 * th >= h64 * tw {
        (th * w64 / h64, th)
    } else {
        (tw, tw * h64 / w64)
    };
    // nw >= tw and nh >= th by construction; both fit in u32 as long as the inputs do,
    // except for absurd aspect ratios, which are refused rather than wrapped.
    let (nw, nh) = match (u32::try_from(nw), u32::try_from(nh)) {
        (Ok(a), Ok(b)) => (a, b),
        _ => {
            return Err(ImageError::InvalidArgument {
                name: "img",
                reason: format!("aspect ratio of {w}x{h} is too extreme to resize"),
            });
        }
    };
    let resized = if (nw, nh) == (w, h) {
        img.clone()
    } else {
        imageops::resize(img, nw, nh, filter.filter_type())
    };
    center_crop(&resized, width, height)
}

/// Cuts the central `width × height` window out of `img`; offsets are
/// `round((dim − size) / 2)` with ties to even, as torchvision's `CenterCrop` computes them.
///
/// # Errors
/// [`ImageError::InvalidArgument`] if the window is empty or larger than the picture.
pub fn center_crop(img: &RgbImage, width: u32, height: u32) -> Result<RgbImage, ImageError> {
    check_nonempty(img, width, height)?;
    let (w, h) = img.dimensions();
    if width > w || height > h {
        return Err(ImageError::InvalidArgument {
            name: "width/height",
            reason: format!("cannot crop {width}x{height} out of a {w}x{h} picture"),
        });
    }
    let left = half_round_even(w - width);
    let top = half_round_even(h - height);
    Ok(imageops::crop_imm(img, left, top, width, height).to_image())
}

/// `round(d / 2)` with ties to even (Python's `round`).
fn half_round_even(d: u32) -> u32 {
    let k = d / 2;
    if d % 2 == 1 && k % 2 == 1 { k + 1 } else { k }
}

fn check_nonempty(img: &RgbImage, width: u32, height: u32) -> Result<(), ImageError> {
    if width == 0 || height == 0 {
        return Err(ImageError::InvalidArgument {
            name: "width/height",
            reason: format!("target size {width}x{height} is empty"),
        });
    }
    let (w, h) = img.dimensions();
    if w == 0 || h == 0 {
        return Err(ImageError::InvalidArgument {
            name: "img",
            reason: format!("the picture is empty ({w}x{h})"),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ties_round_to_even_like_python() {
        // Python: round(0.5)=0, round(1.5)=2, round(2.5)=2, round(3.5)=4.
        assert_eq!([1, 3, 5, 7, 4].map(half_round_even), [0, 2, 2, 4, 2],);
    }

    #[test]
    fn shorter_side_goes_to_target_then_crop() {
        let img = RgbImage::from_fn(40, 20, |x, _| image::Rgb([x as u8, 0, 0]));
        let out = prepare_image(&img, 10, 10, ResizeFilter::Nearest).unwrap();
        assert_eq!(out.dimensions(), (10, 10));
        // 40x20 -> 20x10, crop left = 5; pixel-centre sampling maps resized column 5 to
        // source position (5 + 0.5)·2 = 11.
        assert_eq!(out.get_pixel(0, 0)[0], 11);
        assert_eq!(out.get_pixel(9, 0)[0], 29);
        let tall = RgbImage::new(7, 30);
        assert_eq!(
            prepare_image(&tall, 8, 4, ResizeFilter::Bilinear)
                .unwrap()
                .dimensions(),
            (8, 4)
        );
    }

    #[test]
    fn same_size_is_untouched_and_bad_sizes_are_errors() {
        let img = RgbImage::from_fn(5, 3, |x, y| image::Rgb([x as u8, y as u8, 9]));
        assert_eq!(
            prepare_image(&img, 5, 3, ResizeFilter::Bicubic).unwrap(),
            img
        );
        assert!(matches!(
            prepare_image(&img, 0, 3, ResizeFilter::Bicubic),
            Err(ImageError::InvalidArgument { .. })
        ));
        assert!(matches!(
            center_crop(&img, 6, 3),
            Err(ImageError::InvalidArgument { .. })
        ));
        assert!(matches!(
            prepare_image(&RgbImage::new(0, 4), 2, 2, ResizeFilter::Nearest),
            Err(ImageError::InvalidArgument { .. })
        ));
    }
}
