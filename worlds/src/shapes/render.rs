//! The pixel rule: which pixels a shape covers, and [`ShapeSpec::render`].
//!
//! Coordinates are pixel edges, y down: pixel `(x, y)` is the unit square
//! `[x, x+1) × [y, y+1)` and is tested at its centre `(x + 0.5, y + 0.5)`. A bounding box of
//! side `s` centred at `(cx, cy)` covers columns `x0 .. x0 + s` with `x0 = cx - s/2`, and
//! rows `y0 .. y0 + s` with `y0 = cy - s/2` (a small box at 16 covers 8..24, a large one
//! 2..30). Every side and centre is even, so the box is exact. A pixel is lit when:
//!
//! - square: it is in the box (every pixel of the box, s² pixels);
//! - circle: its centre `(px, py)` has `(px - cx)² + (py - cy)² <= (s/2)²`;
//! - triangle: its centre lies inside or on the triangle with apex `(cx, y0)` and base corners
//!   `(x0, y0 + s)`, `(x0 + s, y0 + s)`.
//!
//! The tests are evaluated in `f64`, exactly: every coordinate is a multiple of 1/8 (a pixel
//! centre, or a sub-pixel centre of an anti-aliased drawing), so every sum and product is a
//! short binary fraction. Lit pixels get the exact colour, every other pixel is black: there
//! is no anti-aliasing.

use image::RgbImage;

use super::ShapeSpec;

/// The side of every picture of the shapes world, in pixels.
pub const IMAGE_SIDE: u32 = 64;

impl ShapeSpec {
    /// Draws the picture: 64×64 RGB, black background, the shape's pixels in the exact
    /// colour, no anti-aliasing.
    ///
    /// The pixel rule. Coordinates are pixel edges, y down; pixel `(x, y)` is tested at its
    /// centre `(x + 0.5, y + 0.5)`. The bounding box of side `s`
    /// ([`Size::side`](super::Size::side)) centred at `(cx, cy)`
    /// ([`Position::centre`](super::Position::centre)) covers columns `x0 .. x0 + s`,
    /// `x0 = cx - s/2`, and rows `y0 .. y0 + s`, `y0 = cy - s/2` (small at 16: 8..24; large at
    /// 16: 2..30). Lit:
    ///
    /// - square: every pixel of the box;
    /// - circle: centre `(px, py)` with `(px - cx)² + (py - cy)² <= (s/2)²`;
    /// - triangle: centre inside or on the triangle with apex `(cx, y0)` and base corners
    ///   `(x0, y0 + s)`, `(x0 + s, y0 + s)` (so its top row of pixels is empty: their centres
    ///   are 0.25 px from the apex's sides).
    ///
    /// Evaluated exactly. This is [`ShapeSpec::render_with`] the
    /// [`Drawing::canonical`](super::Drawing).
    pub fn render(&self) -> RgbImage {
        self.render_with(&super::Drawing::canonical())
    }
}

#[cfg(test)]
mod tests {
    /// The documented pixel rule, in integers at twice the scale: the reference
    /// [`ShapeSpec::render`] is held to, pixel for pixel.
    fn covers(shape: Shape, size: Size, position: Position, x: u32, y: u32) -> bool {
        let s = i64::from(size.side());
        let (cx, cy) = position.centre();
        let (cx, cy) = (i64::from(cx), i64::from(cy));
        let (x0, y0) = (cx - s / 2, cy - s / 2);
        let (x, y) = (i64::from(x), i64::from(y));
        if x < x0 || x >= x0 + s || y < y0 || y >= y0 + s {
            return false;
        }
        // The pixel's centre, doubled so that it is an integer.
        let (px, py) = (2 * x + 1, 2 * y + 1);
        match shape {
            Shape::Square => true,
            Shape::Circle => {
                let (dx, dy) = (px - 2 * cx, py - 2 * cy);
                dx * dx + dy * dy <= s * s
            }
            Shape::Triangle => {
                let apex = (2 * cx, 2 * y0);
                let left = (2 * x0, 2 * (y0 + s));
                let right = (2 * (x0 + s), 2 * (y0 + s));
                let edge = |u: (i64, i64), v: (i64, i64)| {
                    (v.0 - u.0) * (py - u.1) - (v.1 - u.1) * (px - u.0)
                };
                let e = [edge(apex, left), edge(left, right), edge(right, apex)];
                e.iter().all(|&v| v >= 0) || e.iter().all(|&v| v <= 0)
            }
        }
    }

    #[test]
    fn every_picture_is_the_integer_pixel_rule() {
        for spec in ShapeSpec::all() {
            let img = spec.render();
            for (x, y, p) in img.enumerate_pixels() {
                let lit = covers(spec.shape, spec.size, spec.position, x, y);
                assert_eq!(
                    p.0,
                    if lit { spec.colour.rgb() } else { [0; 3] },
                    "{spec} {x},{y}"
                );
            }
        }
    }

    use super::*;
    use crate::shapes::{Colour, Position, Shape, Size};

    fn lit(spec: &ShapeSpec) -> Vec<(u32, u32)> {
        let img = spec.render();
        img.enumerate_pixels()
            .filter(|(_, _, p)| p.0 != [0, 0, 0])
            .map(|(x, y, _)| (x, y))
            .collect()
    }

    fn spec(shape: Shape, size: Size, position: Position) -> ShapeSpec {
        ShapeSpec {
            shape,
            colour: Colour::Green,
            size,
            position,
        }
    }

    #[test]
    fn squares_fill_exactly_their_box() {
        let small = lit(&spec(Shape::Square, Size::Small, Position::TopLeft));
        assert_eq!(small.len(), 256);
        assert!(
            small
                .iter()
                .all(|&(x, y)| (8..24).contains(&x) && (8..24).contains(&y))
        );
        let large = lit(&spec(Shape::Square, Size::Large, Position::TopLeft));
        assert_eq!(large.len(), 784);
        assert!(
            large
                .iter()
                .all(|&(x, y)| (2..30).contains(&x) && (2..30).contains(&y))
        );
        let br = lit(&spec(Shape::Square, Size::Large, Position::BottomRight));
        assert!(
            br.iter()
                .all(|&(x, y)| (34..62).contains(&x) && (34..62).contains(&y))
        );
    }

    #[test]
    fn only_the_shape_colour_or_black() {
        for spec in ShapeSpec::all() {
            let img = spec.render();
            assert_eq!(img.dimensions(), (64, 64));
            assert!(
                img.pixels()
                    .all(|p| p.0 == [0, 0, 0] || p.0 == spec.colour.rgb())
            );
        }
    }

    #[test]
    fn circles_are_symmetric_discs_touching_the_box() {
        for size in Size::ALL {
            let px = lit(&spec(Shape::Circle, size, Position::Center));
            let s = size.side();
            let (x0, x1) = (32 - s / 2, 32 + s / 2);
            let xs: Vec<u32> = px.iter().map(|p| p.0).collect();
            let ys: Vec<u32> = px.iter().map(|p| p.1).collect();
            assert_eq!(xs.iter().min(), Some(&x0));
            assert_eq!(xs.iter().max(), Some(&(x1 - 1)));
            assert_eq!(ys.iter().min(), Some(&x0));
            assert_eq!(ys.iter().max(), Some(&(x1 - 1)));
            // Mirror-symmetric in both axes and the diagonal.
            for &(x, y) in &px {
                assert!(px.contains(&(63 - x, y)));
                assert!(px.contains(&(x, 63 - y)));
                assert!(px.contains(&(y, x)));
            }
            let ratio = px.len() as f64 / f64::from(s * s);
            assert!(
                (ratio - std::f64::consts::FRAC_PI_4).abs() < 0.04,
                "{ratio}"
            );
        }
        // The corner of the box is out, the pixels beside the centre are in.
        assert!(!covers(Shape::Circle, Size::Small, Position::TopLeft, 8, 8));
        assert!(covers(
            Shape::Circle,
            Size::Small,
            Position::TopLeft,
            15,
            15
        ));
        assert!(covers(Shape::Circle, Size::Small, Position::TopLeft, 8, 15));
    }

    #[test]
    fn triangles_point_up() {
        for size in Size::ALL {
            let s = size.side();
            let (x0, y0) = (16 - s / 2, 48 - s / 2);
            let px = lit(&spec(Shape::Triangle, size, Position::BottomLeft));
            let row = |y: u32| -> Vec<u32> {
                let mut r: Vec<u32> = px.iter().filter(|p| p.1 == y).map(|p| p.0).collect();
                r.sort_unstable();
                r
            };
            // The apex row's pixel centres are 0.25 px from the apex line: empty.
            assert!(row(y0).is_empty());
            // Row k (from the top) spans a width k + 0.5 at its centre.
            assert_eq!(row(y0 + 1), vec![15, 16]);
            assert_eq!(row(y0 + s - 1), (x0..x0 + s).collect::<Vec<_>>());
            for k in 1..s {
                let r = row(y0 + k);
                assert!(!r.is_empty());
                // Contiguous and symmetric about x = 16.
                assert_eq!(r.len() as u32, r[r.len() - 1] - r[0] + 1);
                assert_eq!(r[0] + r[r.len() - 1], 31);
                // Rows widen downwards.
                if k > 1 {
                    assert!(r.len() >= row(y0 + k - 1).len());
                }
            }
            let ratio = px.len() as f64 / f64::from(s * s);
            assert!((ratio - 0.5).abs() < 0.05, "{ratio}");
        }
    }
}
