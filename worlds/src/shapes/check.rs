//! [`check_image`]: reads the [`ShapeSpec`] back from a picture, also from an imperfect
//! reconstruction (a tokenizer's decode, with blurred or miscoloured edges).

use image::RgbImage;

use super::draw::inside;
use super::{Colour, IMAGE_SIDE, Position, Shape, ShapeSpec, Size};
use crate::WorldError;

/// A pixel is lit when its largest channel is above this.
pub const LIT_THRESHOLD: u8 = 100;

/// Fewer lit pixels than this is an empty picture (the smallest shape, a small triangle, has
/// 128).
const MIN_LIT: usize = 24;

/// Templates are matched at every shift of up to this many pixels in x and y, so a picture
/// drawn slightly off its place still reads by its form.
const MAX_SHIFT: i64 = 3;

/// ... and at every side up to this many pixels larger or smaller, so a shape drawn a little
/// small is not read as another form of the exact size.
const MAX_GROW: i32 = 2;

/// The best template must overlap the shape's pixels by at least this intersection over
/// union, else the picture shows no shape of the world.
const MIN_IOU: f64 = 0.4;

/// Reads the shape, colour, size and position from a 64×64 picture.
///
/// The rule, made to survive lossy reconstructions:
///
/// 1. a pixel is *lit* when its largest channel is above [`LIT_THRESHOLD`] (100);
/// 2. the colour is the most common nearest palette colour ([`Colour::nearest`]) among lit
///    pixels (ties to the earlier colour of [`Colour::ALL`]);
/// 3. the shape's pixels (the *mask*) are the lit pixels whose nearest colour is that colour;
/// 4. every one of the 3·2·5 = 30 (shape, size, position) templates is drawn by the pixel
///    rule of [`ShapeSpec::render`], with its side up to 2 px larger or smaller and shifted
///    by up to 3 px in x and y (the range of [`Drawing`](super::Drawing)'s variation), to
///    where it differs from the mask in the fewest pixels; the template differing least wins
///    (ties to the earlier in `ALL` order). This is the most likely picture when pixels
///    are flipped independently, and it weighs every cue at once: the extent and centre of
///    the mask (size, position) and how it fills its box (square ≈ 1, circle ≈ π/4,
///    triangle ≈ 1/2). Stray pixels far from the shape cost every template alike.
///
/// Errors: a picture not 64×64 ([`WorldError::ImageSize`]); fewer than 24 lit pixels, or a
/// best template overlapping the mask by an intersection over union below 0.4, as for noise
/// ([`WorldError::NoShape`]).
pub fn check_image(image: &RgbImage) -> Result<ShapeSpec, WorldError> {
    let (width, height) = image.dimensions();
    if (width, height) != (IMAGE_SIDE, IMAGE_SIDE) {
        return Err(WorldError::ImageSize {
            width,
            height,
            expected: IMAGE_SIDE,
        });
    }

    // cannot fail: the picture is 64×64 (checked above), so `y × side + x` indexes `nearest`;
    // `votes` has a slot per colour.
    let side = IMAGE_SIDE as usize;
    let mut nearest: Vec<Option<Colour>> = vec![None; side * side];
    let mut votes = [0usize; Colour::ALL.len()];
    for (x, y, p) in image.enumerate_pixels() {
        if p.0.iter().any(|&c| c > LIT_THRESHOLD) {
            let c = Colour::nearest(p.0);
            votes[c as usize] += 1;
            nearest[y as usize * side + x as usize] = Some(c);
        }
    }
    let lit: usize = votes.iter().sum();
    if lit < MIN_LIT {
        return Err(WorldError::NoShape(format!(
            "{lit} lit pixels (channel above {LIT_THRESHOLD}), a shape has at least {MIN_LIT}"
        )));
    }
    let mut colour = Colour::ALL[0];
    for c in Colour::ALL {
        if votes[c as usize] > votes[colour as usize] {
            colour = c;
        }
    }
    let mask: Vec<bool> = nearest.iter().map(|&n| n == Some(colour)).collect();
    let mask_len = votes[colour as usize];

    let mut best: Option<(usize, f64, ShapeSpec)> = None;
    for shape in Shape::ALL {
        for size in Size::ALL {
            for position in Position::ALL {
                let (differ, iou) = closest(&mask, mask_len, shape, size, position);
                if best.as_ref().is_none_or(|b| differ < b.0) {
                    let spec = ShapeSpec {
                        shape,
                        colour,
                        size,
                        position,
                    };
                    best = Some((differ, iou, spec));
                }
            }
        }
    }
    match best {
        Some((_, iou, spec)) if iou >= MIN_IOU => Ok(spec),
        Some((_, iou, spec)) => Err(WorldError::NoShape(format!(
            "the {colour} pixels match no shape: the best, {spec}, overlaps them by \
             intersection over union {iou:.2} < {MIN_IOU}"
        ))),
        None => Err(WorldError::NoShape("no templates".into())),
    }
}

/// `(pixels differing from the mask, intersection over union)` of one template at the side
/// (up to [`MAX_GROW`] px off) and shift (up to [`MAX_SHIFT`] px) that differ least.
fn closest(
    mask: &[bool],
    mask_len: usize,
    shape: Shape,
    size: Size,
    position: Position,
) -> (usize, f64) {
    let (cx, cy) = position.centre();
    let centre = (f64::from(cx), f64::from(cy));
    let side = i64::from(IMAGE_SIDE);
    let mut best = (usize::MAX, 0.0);
    for grow in -MAX_GROW..=MAX_GROW {
        let s = size.side() as i32 + grow;
        let (x0, y0) = (cx as i32 - s / 2 - 1, cy as i32 - s / 2 - 1);
        let pixels: Vec<(i64, i64)> = (y0..y0 + s + 2)
            .flat_map(|y| (x0..x0 + s + 2).map(move |x| (x, y)))
            .filter(|&(x, y)| {
                let p = (f64::from(x) + 0.5, f64::from(y) + 0.5);
                inside(shape, f64::from(s), centre, p)
            })
            .map(|(x, y)| (i64::from(x), i64::from(y)))
            .collect();
        for dy in -MAX_SHIFT..=MAX_SHIFT {
            for dx in -MAX_SHIFT..=MAX_SHIFT {
                let both = pixels
                    .iter()
                    .map(|&(x, y)| (x + dx, y + dy))
                    .filter(|&(x, y)| {
                        // cannot fail: `x` and `y` are inside the 64×64 mask (the tests before).
                        (0..side).contains(&x)
                            && (0..side).contains(&y)
                            && mask[(y * side + x) as usize]
                    })
                    .count();
                // cannot underflow: `both ≤ min(mask_len, template)`.
                let differ = mask_len + pixels.len() - 2 * both;
                if differ < best.0 {
                    let iou = both as f64 / (mask_len + pixels.len() - both) as f64;
                    best = (differ, iou);
                }
            }
        }
    }
    best
}

#[cfg(test)]
mod tests {
    use image::Rgb;
    use tessera_modalities::rng::SplitMix64;

    use super::*;

    #[test]
    fn every_picture_reads_back_exactly() {
        for spec in ShapeSpec::all() {
            assert_eq!(check_image(&spec.render()), Ok(spec), "{spec}");
        }
    }

    #[test]
    fn wrong_size_and_empty_pictures_are_errors() {
        assert!(matches!(
            check_image(&RgbImage::new(32, 32)),
            Err(WorldError::ImageSize {
                width: 32,
                height: 32,
                ..
            })
        ));
        assert!(matches!(
            check_image(&RgbImage::new(64, 65)),
            Err(WorldError::ImageSize { .. })
        ));
        assert!(matches!(
            check_image(&RgbImage::new(0, 0)),
            Err(WorldError::ImageSize { .. })
        ));
        assert!(matches!(
            check_image(&RgbImage::new(64, 64)),
            Err(WorldError::NoShape(_))
        ));
        // Dim pixels (at most 100) are not lit.
        let dim = RgbImage::from_pixel(64, 64, Rgb([100, 100, 100]));
        assert!(matches!(check_image(&dim), Err(WorldError::NoShape(_))));
        // A handful of lit pixels is not a shape.
        let mut few = RgbImage::new(64, 64);
        for i in 0..10 {
            few.put_pixel(i * 6, i * 5, Rgb([255, 0, 0]));
        }
        assert!(matches!(check_image(&few), Err(WorldError::NoShape(_))));
    }

    #[test]
    fn noise_and_full_frames_are_not_shapes() {
        let mut rng = SplitMix64::new(11);
        let noise = RgbImage::from_fn(64, 64, |_, _| {
            Rgb([0; 3].map(|_: u8| (rng.next_u64() & 0xff) as u8))
        });
        assert!(matches!(check_image(&noise), Err(WorldError::NoShape(_))));
        let white = RgbImage::from_pixel(64, 64, Rgb([255, 255, 255]));
        assert!(matches!(check_image(&white), Err(WorldError::NoShape(_))));
    }

    /// Every pixel within `radius` (Chebyshev) of the shape's boundary.
    fn near_edge(img: &RgbImage, x: u32, y: u32, radius: i64) -> bool {
        let here = img.get_pixel(x, y).0;
        for dy in -radius..=radius {
            for dx in -radius..=radius {
                let (nx, ny) = (i64::from(x) + dx, i64::from(y) + dy);
                if (0..64).contains(&nx)
                    && (0..64).contains(&ny)
                    && img.get_pixel(nx as u32, ny as u32).0 != here
                {
                    return true;
                }
            }
        }
        false
    }

    #[test]
    fn survives_edge_noise() {
        let mut rng = SplitMix64::new(5);
        let mut wrong = Vec::new();
        for spec in ShapeSpec::all() {
            for _ in 0..3 {
                let clean = spec.render();
                let mut img = clean.clone();
                let edge: Vec<(u32, u32)> = clean
                    .enumerate_pixels()
                    .filter(|&(x, y, _)| near_edge(&clean, x, y, 2))
                    .map(|(x, y, _)| (x, y))
                    .collect();
                // 5% of the picture's pixels, all near the shape's edge: black, the shape's
                // colour, or a random colour.
                for _ in 0..(64 * 64 / 20) {
                    let (x, y) = edge[rng.below(edge.len())];
                    let p = match rng.below(3) {
                        0 => [0, 0, 0],
                        1 => spec.colour.rgb(),
                        _ => [0; 3].map(|_: u8| (rng.next_u64() & 0xff) as u8),
                    };
                    img.put_pixel(x, y, Rgb(p));
                }
                if check_image(&img) != Ok(spec) {
                    wrong.push(spec);
                }
            }
        }
        assert!(
            wrong.len() <= 6,
            "{} of 630 misread: {wrong:?}",
            wrong.len()
        );
    }

    fn box_blur(img: &RgbImage) -> RgbImage {
        RgbImage::from_fn(64, 64, |x, y| {
            let mut sum = [0u32; 3];
            let mut n = 0;
            for ny in y.saturating_sub(1)..=(y + 1).min(63) {
                for nx in x.saturating_sub(1)..=(x + 1).min(63) {
                    for (s, c) in sum.iter_mut().zip(img.get_pixel(nx, ny).0) {
                        *s += u32::from(c);
                    }
                    n += 1;
                }
            }
            Rgb(sum.map(|s| (s / n) as u8))
        })
    }

    #[test]
    fn survives_blur_colour_jitter_and_a_small_shift() {
        let mut rng = SplitMix64::new(9);
        let mut wrong = Vec::new();
        for spec in ShapeSpec::all() {
            // Blurred twice, then every channel jittered by up to ±40, then shifted.
            let blurred = box_blur(&box_blur(&spec.render()));
            let (sx, sy) = (rng.below(3) as i64 - 1, rng.below(3) as i64 - 1);
            let img = RgbImage::from_fn(64, 64, |x, y| {
                let (ox, oy) = (i64::from(x) - sx, i64::from(y) - sy);
                let p = if (0..64).contains(&ox) && (0..64).contains(&oy) {
                    blurred.get_pixel(ox as u32, oy as u32).0
                } else {
                    [0; 3]
                };
                Rgb(p.map(|c| {
                    let j = rng.below(81) as i64 - 40;
                    (i64::from(c) + j).clamp(0, 255) as u8
                }))
            });
            if check_image(&img) != Ok(spec) {
                wrong.push(spec);
            }
        }
        assert!(wrong.is_empty(), "misread: {wrong:?}");
    }

    #[test]
    fn blocky_reconstruction() {
        // A crude 8×8 patch coder: each patch keeps the shape colour where at least half of
        // its 4×4 quarter is lit, black elsewhere (edges move by up to 2 px).
        for spec in ShapeSpec::all() {
            let clean = spec.render();
            let img = RgbImage::from_fn(64, 64, |x, y| {
                let (qx, qy) = (x / 4 * 4, y / 4 * 4);
                let lit = (qy..qy + 4)
                    .flat_map(|yy| (qx..qx + 4).map(move |xx| (xx, yy)))
                    .filter(|&(xx, yy)| clean.get_pixel(xx, yy).0 != [0, 0, 0])
                    .count();
                if lit >= 8 {
                    Rgb(spec.colour.rgb())
                } else {
                    Rgb([0, 0, 0])
                }
            });
            assert_eq!(check_image(&img), Ok(spec), "{spec}");
        }
    }
}
