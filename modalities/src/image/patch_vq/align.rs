//! Registration: reading a picture at the small offset its patches code best at.
//!
//! A codebook fitted on pictures drawn on one pixel grid codes a shape moved a few pixels off
//! that grid badly: the shape's edges cross patch borders at new places, and those patches lie
//! nearest codewords of *other* shapes' edges (a triangle moved 2 px can read as a square).
//! Tokenizers for text meet no such problem; for pictures it is the first thing a new user's
//! renderer does differently. With an alignment of `r` pixels, [`super::PatchVq`] reads the
//! picture translated by every offset `(dx, dy)` with `|dx|, |dy| <= r` and keeps the offset
//! whose patches lie nearest their codewords (the least total squared distance), which is the
//! offset that puts the shape back where the codebook has seen it. Offsets are tried from the
//! smallest (`|dx| + |dy|`, then `dy`, then `dx`) and only a strictly better one replaces the
//! current best, so a picture whose patches are codewords exactly (distance 0 in place) codes
//! as without alignment.
//!
//! Pixels moved in from outside the picture repeat its nearest edge pixel (a plain background
//! stays plain). `r` should be below the distance that tells two *named* positions apart, or
//! the alignment would move a shape to another position: it is a property of the data, saved
//! with the codebook (`"align"` in `config.json`).
//!
//! This is image registration (search over translations for the least error) with the
//! codebook's quantisation error as the criterion.

use image::RgbImage;

/// The largest alignment accepted, in pixels: `(2·16 + 1)² = 1089` readings per picture.
pub(crate) const MAX_ALIGN: u32 = 16;

/// Every offset within `r` pixels on each axis, smallest first: by `|dx| + |dy|`, then `dy`,
/// then `dx` (so `(0, 0)` first and the order deterministic).
pub(super) fn offsets(r: u32) -> Vec<(i32, i32)> {
    let r = r as i32;
    let mut all: Vec<(i32, i32)> = (-r..=r)
        .flat_map(|dy| (-r..=r).map(move |dx| (dx, dy)))
        .collect();
    all.sort_by_key(|&(dx, dy)| (dx.abs() + dy.abs(), dy, dx));
    all
}

/// `img` with its content moved by `(dx, dy)`: output pixel `(x, y)` is input pixel
/// `(x - dx, y - dy)`, clamped to the picture (edge pixels repeat).
pub(super) fn translate(img: &RgbImage, dx: i32, dy: i32) -> RgbImage {
    let (w, h) = (img.width() as i32, img.height() as i32);
    RgbImage::from_fn(img.width(), img.height(), |x, y| {
        let sx = (x as i32 - dx).clamp(0, w - 1);
        let sy = (y as i32 - dy).clamp(0, h - 1);
        *img.get_pixel(sx as u32, sy as u32)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::Rgb;

    #[test]
    fn offsets_start_in_place_and_cover_the_square() {
        let o = offsets(2);
        assert_eq!(o.len(), 25);
        assert_eq!(o[0], (0, 0));
        assert_eq!(&o[1..5], &[(0, -1), (-1, 0), (1, 0), (0, 1)]);
        assert!(o.windows(2).all(|p| {
            let d = |(x, y): (i32, i32)| x.abs() + y.abs();
            d(p[0]) <= d(p[1])
        }));
        assert_eq!(offsets(0), vec![(0, 0)]);
    }

    #[test]
    fn translate_moves_content_and_repeats_edges() {
        let img = RgbImage::from_fn(4, 3, |x, y| Rgb([x as u8, y as u8, 7]));
        let t = translate(&img, 1, -1);
        // Output (x, y) reads input (x - 1, y + 1), clamped.
        assert_eq!(t.get_pixel(2, 0), &Rgb([1, 1, 7]));
        assert_eq!(t.get_pixel(0, 0), &Rgb([0, 1, 7]));
        assert_eq!(t.get_pixel(3, 2), &Rgb([2, 2, 7]));
        assert_eq!(translate(&img, 0, 0), img);
    }
}
