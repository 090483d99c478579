//! Preparing a picture for a tokenizer: resize so it covers the target, then centre-crop.
//!
//! For a square target this is the Show-o / MMaDA preprocessing (torchvision
//! `Resize(size, BICUBIC)` — shorter side to `size`, longer side `int(size·long/short)` — then
//! `CenterCrop(size)` with offsets `round((dim − size)/2)`, Python's round-half-to-even).
//!
//! The intermediate picture is bounded by [`ImageLimits::max_pixels`]: a picture of extreme
//! aspect ratio is cropped to the target's aspect ratio before it is resized.

use image::RgbImage;
use image::imageops::{self, FilterType};

use super::{ImageError, ImageLimits};

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
/// large, aspect ratio kept) and centre-crops it to exactly `width × height`, within the
/// default [`ImageLimits`]; see [`prepare_image_with`].
///
/// A picture that already has the target size is returned unchanged (copied).
///
/// # Errors
/// [`ImageError::InvalidArgument`] if the target or the picture has a zero side,
/// [`ImageError::ResizeTooLarge`] if even the bounded resize would exceed
/// [`ImageLimits::max_pixels`].
pub fn prepare_image(
    img: &RgbImage,
    width: u32,
    height: u32,
    filter: ResizeFilter,
) -> Result<RgbImage, ImageError> {
    prepare_image_with(img, width, height, filter, &ImageLimits::default())
}

/// [`prepare_image`] with the intermediate picture bounded by `limits.max_pixels`.
///
/// The exact torchvision order — resize to cover, then crop — is used whenever its
/// intermediate pictures (the resize samples vertically into `img_width × covered_height`,
/// then horizontally into `covered_width × covered_height`) hold at most
/// [`ImageLimits::max_pixels`] pixels each. A picture of extreme aspect ratio (say
/// 1 000 000 × 1, which would cover 256 × 256 as 256 000 000 × 256) is instead cropped to the
/// target's aspect ratio first, the window resize-then-crop would keep, and that window is
/// resized straight to the target: the same picture up to sub-pixel sampling offsets, and
/// intermediates of `window_width × height` and `width × height` pixels, also checked against
/// [`ImageLimits::max_pixels`].
///
/// # Errors
/// As [`prepare_image`].
pub fn prepare_image_with(
    img: &RgbImage,
    width: u32,
    height: u32,
    filter: ResizeFilter,
    limits: &ImageLimits,
) -> Result<RgbImage, ImageError> {
    check_nonempty(img, width, height)?;
    let (w, h) = img.dimensions();
    if (w, h) == (width, height) {
        return Ok(img.clone());
    }
    let too_large = |pixels: u128| ImageError::ResizeTooLarge {
        width: w,
        height: h,
        target_width: width,
        target_height: height,
        pixels: u64::try_from(pixels).unwrap_or(u64::MAX),
        max_pixels: limits.max_pixels,
    };
    let max = u128::from(limits.max_pixels);
    // All sizes in u128: products of two u32 values (or of a u64 and a u32) cannot overflow.
    let (w128, h128) = (u128::from(w), u128::from(h));
    let (tw, th) = (u128::from(width), u128::from(height));
    let target = tw * th;
    if target > max {
        return Err(too_large(target));
    }
    // Compare aspect ratios exactly: w/h >= tw/th means the picture is wider than the target.
    let wider = w128 * th >= h128 * tw;
    // The covering size: shorter (relative) side to the target, the other floored.
    let (nw, nh) = if wider {
        (th * w128 / h128, th)
    } else {
        (tw, tw * h128 / w128)
    };
    // Both passes of `imageops::resize`: `w × nh` (vertical) then `nw × nh` (horizontal).
    let exact_cost = (w128 * nh).max(nw * nh);
    if exact_cost <= max {
        // `nw, nh <= exact_cost <= max_pixels`, which may still exceed `u32::MAX` if the
        // limit is raised that far: such a size takes the crop-first path below.
        if let (Ok(nw), Ok(nh)) = (u32::try_from(nw), u32::try_from(nh)) {
            let resized = if (nw, nh) == (w, h) {
                img.clone()
            } else {
                imageops::resize(img, nw, nh, filter.filter_type())
            };
            return center_crop(&resized, width, height);
        }
    }
    // Crop first: the window of the target's aspect ratio, rounded to the nearest pixel and
    // kept within the picture (at least one pixel).
    let (cw, ch) = if wider {
        ((h128 * tw * 2 + th) / (th * 2), h128)
    } else {
        (w128, (w128 * th * 2 + tw) / (tw * 2))
    };
    let cw = cw.clamp(1, w128);
    let ch = ch.clamp(1, h128);
    let cost = (cw * th).max(target);
    if cost > max {
        return Err(too_large(cost));
    }
    // `cw <= w` and `ch <= h` after the clamps, so both fit in u32.
    let (cw, ch) = match (u32::try_from(cw), u32::try_from(ch)) {
        (Ok(a), Ok(b)) => (a, b),
        _ => return Err(too_large(cost)),
    };
    let left = half_round_even(w - cw);
    let top = half_round_even(h - ch);
    let window = imageops::crop_imm(img, left, top, cw, ch);
    Ok(imageops::resize(
        &*window,
        width,
        height,
        filter.filter_type(),
    ))
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
