//! [`Drawing`]: how a [`ShapeSpec`] is drawn — the natural variation a viewer still calls the
//! same picture: the shape a few pixels off its named place, a little larger or smaller, its
//! colour a little off, soft edges, a faintly noisy background. [`ShapeSpec::render`] is one
//! drawing of the family ([`Drawing::canonical`]); [`Drawing::sample`] draws others, varying
//! the aspects a [`Variation`] names (one at a time for a robustness table, or all together).

use image::{Rgb, RgbImage};
use serde::{Deserialize, Serialize};
use tessera_modalities::rng::SplitMix64;

use super::render::IMAGE_SIDE;
use super::{Shape, ShapeSpec};

/// How one picture is drawn.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Drawing {
    /// The shape's offset from its named position, pixels `(x, y)` (varied within ±3).
    pub offset: (i32, i32),
    /// Pixels added to the bounding box's side (varied within ±2).
    pub grow: i32,
    /// Added to each colour channel, clamped to 0–255 (varied within ±16).
    pub tint: [i32; 3],
    /// Edges anti-aliased by 4×4 supersampling (the colour blended with the background by
    /// the share of the pixel the shape covers).
    pub antialias: bool,
    /// Background noise: each channel of each pixel uniform in `0..=noise` (0: black).
    pub noise: u8,
    /// Seed of the background noise.
    pub noise_seed: u64,
}

/// The aspects of a drawing that vary (each `true` aspect is drawn from its range).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Variation {
    /// Position jitter within ±3 px in x and y.
    pub shift: bool,
    /// Size within ±2 px.
    pub size: bool,
    /// Colour within ±16 per channel.
    pub colour: bool,
    /// Anti-aliased edges (on for half the draws).
    pub antialias: bool,
    /// A faintly noisy background (channels up to 24) for half the draws.
    pub background: bool,
}

impl Variation {
    /// Nothing varies: the canonical picture.
    pub const NONE: Variation = Variation {
        shift: false,
        size: false,
        colour: false,
        antialias: false,
        background: false,
    };

    /// Everything varies at once.
    pub const ALL: Variation = Variation {
        shift: true,
        size: true,
        colour: true,
        antialias: true,
        background: true,
    };

    /// Each aspect alone, by name: the rows of a robustness table ([`Variation::ALL`]
    /// varies them together).
    pub fn each() -> [(&'static str, Variation); 5] {
        crate::rendering::one_at_a_time(
            Variation::NONE,
            [
                ("shift", |v| v.shift = true),
                ("size", |v| v.size = true),
                ("colour", |v| v.colour = true),
                ("antialias", |v| v.antialias = true),
                ("background", |v| v.background = true),
            ],
        )
    }
}

impl Drawing {
    /// The canonical drawing, the one [`ShapeSpec::render`] draws.
    pub fn canonical() -> Self {
        Drawing {
            offset: (0, 0),
            grow: 0,
            tint: [0; 3],
            antialias: false,
            noise: 0,
            noise_seed: 0,
        }
    }

    /// A drawing whose aspects named by `variation` are drawn from `rng` (the others
    /// canonical). Every aspect consumes its draws whether it varies or not.
    pub fn sample(rng: &mut SplitMix64, variation: Variation) -> Self {
        let mut within = |r: i32| rng.below((2 * r + 1) as usize) as i32 - r;
        let offset = (within(3), within(3));
        let grow = within(2);
        let tint = [within(16), within(16), within(16)];
        let (antialias, noisy) = (rng.below(2) == 1, rng.below(2) == 1);
        let noise_seed = rng.next_u64();
        let c = Drawing::canonical();
        Drawing {
            offset: if variation.shift { offset } else { c.offset },
            grow: if variation.size { grow } else { c.grow },
            tint: if variation.colour { tint } else { c.tint },
            antialias: variation.antialias && antialias,
            noise: if variation.background && noisy { 24 } else { 0 },
            noise_seed,
        }
    }
}

/// Whether the point `(px, py)` is inside or on `shape` with a bounding box of side `s`
/// centred at `(cx, cy)` (the pixel rule of `render.rs`, at any point).
pub(crate) fn inside(shape: Shape, s: f64, (cx, cy): (f64, f64), (px, py): (f64, f64)) -> bool {
    let (x0, y0) = (cx - s / 2.0, cy - s / 2.0);
    if px < x0 || px >= x0 + s || py < y0 || py >= y0 + s {
        return false;
    }
    match shape {
        Shape::Square => true,
        Shape::Circle => (px - cx).powi(2) + (py - cy).powi(2) <= (s / 2.0).powi(2),
        Shape::Triangle => {
            let (apex, left, right) = ((cx, y0), (x0, y0 + s), (x0 + s, y0 + s));
            let edge =
                |u: (f64, f64), v: (f64, f64)| (v.0 - u.0) * (py - u.1) - (v.1 - u.1) * (px - u.0);
            let e = [edge(apex, left), edge(left, right), edge(right, apex)];
            e.iter().all(|&v| v >= 0.0) || e.iter().all(|&v| v <= 0.0)
        }
    }
}

impl ShapeSpec {
    /// Draws the picture as `drawing` says: 64×64 RGB.
    ///
    /// The shape's box has side `side + grow` and centre `centre + offset`; a pixel's share of
    /// the shape is 1 or 0 by the pixel rule at its centre ([`ShapeSpec::render`]), or with
    /// `antialias` the share of its 4×4 sub-pixel centres inside. A pixel is the background
    /// (black, or noise up to `noise` per channel) blended toward the tinted colour by that
    /// share. With [`Drawing::canonical`] this is [`ShapeSpec::render`].
    pub fn render_with(&self, drawing: &Drawing) -> RgbImage {
        let s = f64::from(self.size.side() as i32 + drawing.grow);
        let (cx, cy) = self.position.centre();
        let centre = (
            f64::from(cx as i32 + drawing.offset.0),
            f64::from(cy as i32 + drawing.offset.1),
        );
        let rgb = self.colour.rgb();
        let colour: [f64; 3] =
            std::array::from_fn(|c| f64::from((i32::from(rgb[c]) + drawing.tint[c]).clamp(0, 255)));
        let mut rng = SplitMix64::new(drawing.noise_seed);
        RgbImage::from_fn(IMAGE_SIDE, IMAGE_SIDE, |x, y| {
            let (x, y) = (f64::from(x), f64::from(y));
            let share = if drawing.antialias {
                let hits = (0..16)
                    .filter(|i| {
                        let (sx, sy) = (f64::from(i % 4) + 0.5, f64::from(i / 4) + 0.5);
                        inside(self.shape, s, centre, (x + sx / 4.0, y + sy / 4.0))
                    })
                    .count();
                hits as f64 / 16.0
            } else if inside(self.shape, s, centre, (x + 0.5, y + 0.5)) {
                1.0
            } else {
                0.0
            };
            let background: [f64; 3] = std::array::from_fn(|_| {
                if drawing.noise == 0 {
                    0.0
                } else {
                    rng.below(usize::from(drawing.noise) + 1) as f64
                }
            });
            Rgb(std::array::from_fn(|c| {
                (background[c] + share * (colour[c] - background[c])).round() as u8
            }))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::shapes::check_image;

    #[test]
    fn draws_stay_in_their_ranges() {
        let mut rng = SplitMix64::new(3);
        let mut seen = (false, false);
        for _ in 0..300 {
            let d = Drawing::sample(&mut rng, Variation::ALL);
            assert!((-3..=3).contains(&d.offset.0) && (-3..=3).contains(&d.offset.1));
            assert!((-2..=2).contains(&d.grow));
            assert!(d.tint.iter().all(|t| (-16..=16).contains(t)));
            assert!(d.noise == 0 || d.noise == 24);
            seen = (seen.0 || d.antialias, seen.1 || d.noise > 0);
        }
        assert_eq!(seen, (true, true));
        let d = Drawing::sample(&mut rng, Variation::NONE);
        assert_eq!(Drawing { noise_seed: 0, ..d }, Drawing::canonical());
    }

    /// The checker reads the named attributes, whatever the drawing: every aspect alone and
    /// all together, over every picture of the world.
    #[test]
    fn the_checker_reads_the_same_picture_in_every_drawing() {
        let mut rng = SplitMix64::new(2026);
        for (name, variation) in Variation::each()
            .into_iter()
            .chain([("all", Variation::ALL)])
        {
            let mut wrong = Vec::new();
            for spec in ShapeSpec::all() {
                let d = Drawing::sample(&mut rng, variation);
                match check_image(&spec.render_with(&d)) {
                    Ok(s) if s == spec => {}
                    other => wrong.push((spec.to_string(), format!("{other:?}"), d)),
                }
            }
            assert!(
                wrong.is_empty(),
                "{name}: {} misread: {:?}",
                wrong.len(),
                &wrong[..1]
            );
        }
    }
}
