//! The four attributes of a drawn shape — its form, colour, size and position — with their
//! exact caption words and pixel values.

use crate::named::named_enum;

named_enum! {
    /// The form of the shape.
    pub enum Shape ("shape") {
        /// A filled disc inscribed in the bounding box.
        Circle => "circle",
        /// The whole bounding box.
        Square => "square",
        /// An isosceles triangle: apex at the top-centre of the box, base along its bottom.
        Triangle => "triangle",
    }
}

named_enum! {
    /// The colour the shape is filled with (exact RGB, see [`Colour::rgb`]).
    pub enum Colour ("colour") {
        /// (255, 0, 0).
        Red => "red",
        /// (0, 255, 0).
        Green => "green",
        /// (0, 0, 255).
        Blue => "blue",
        /// (255, 255, 0).
        Yellow => "yellow",
        /// (255, 0, 255).
        Magenta => "magenta",
        /// (0, 255, 255).
        Cyan => "cyan",
        /// (255, 255, 255).
        White => "white",
    }
}

impl Colour {
    /// The exact RGB value.
    pub fn rgb(self) -> [u8; 3] {
        match self {
            Colour::Red => [255, 0, 0],
            Colour::Green => [0, 255, 0],
            Colour::Blue => [0, 0, 255],
            Colour::Yellow => [255, 255, 0],
            Colour::Magenta => [255, 0, 255],
            Colour::Cyan => [0, 255, 255],
            Colour::White => [255, 255, 255],
        }
    }

    /// The palette colour nearest to `rgb` by Euclidean distance in RGB; ties go to the
    /// earlier colour of [`Colour::ALL`].
    pub fn nearest(rgb: [u8; 3]) -> Colour {
        let dist = |c: Colour| -> u32 {
            c.rgb()
                .iter()
                .zip(rgb)
                .map(|(&a, b)| {
                    let d = i32::from(a) - i32::from(b);
                    d.unsigned_abs().pow(2)
                })
                .sum()
        };
        let mut best = Colour::ALL[0];
        for c in Colour::ALL {
            if dist(c) < dist(best) {
                best = c;
            }
        }
        best
    }
}

named_enum! {
    /// The side of the shape's square bounding box (see [`Size::side`]).
    pub enum Size ("size") {
        /// A 16×16 px box.
        Small => "small",
        /// A 28×28 px box.
        Large => "large",
    }
}

impl Size {
    /// The bounding box's side in pixels: 16 or 28.
    pub fn side(self) -> u32 {
        match self {
            Size::Small => 16,
            Size::Large => 28,
        }
    }
}

named_enum! {
    /// Where the centre of the shape's bounding box is (see [`Position::centre`]).
    pub enum Position ("position") {
        /// Centre (16, 16).
        TopLeft => "top left",
        /// Centre (48, 16).
        TopRight => "top right",
        /// Centre (16, 48).
        BottomLeft => "bottom left",
        /// Centre (48, 48).
        BottomRight => "bottom right",
        /// Centre (32, 32).
        Center => "center",
    }
}

impl Position {
    /// The bounding box's centre `(x, y)` in pixel-edge coordinates, y down: the box of side
    /// `s` covers columns `x - s/2 .. x + s/2` and rows `y - s/2 .. y + s/2`.
    pub fn centre(self) -> (u32, u32) {
        match self {
            Position::TopLeft => (16, 16),
            Position::TopRight => (48, 16),
            Position::BottomLeft => (16, 48),
            Position::BottomRight => (48, 48),
            Position::Center => (32, 32),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::WorldError;

    #[test]
    fn names_round_trip_and_are_distinct() {
        for s in Shape::ALL {
            assert_eq!(Shape::parse(s.name()), Ok(s));
        }
        for c in Colour::ALL {
            assert_eq!(c.name().parse::<Colour>(), Ok(c));
        }
        for s in Size::ALL {
            assert_eq!(Size::parse(s.name()), Ok(s));
        }
        for p in Position::ALL {
            assert_eq!(Position::parse(p.name()), Ok(p));
            assert_eq!(p.to_string(), p.name());
        }
        assert_eq!(Shape::ALL.len() * Colour::ALL.len() * Size::ALL.len(), 42);
        assert_eq!(Position::ALL.len(), 5);
    }

    #[test]
    fn unknown_words_are_errors() {
        assert_eq!(
            Shape::parse("hexagon"),
            Err(WorldError::UnknownWord {
                kind: "shape",
                word: "hexagon".into()
            })
        );
        assert!(Colour::parse("Red").is_err());
        assert!(Position::parse("top  left").is_err());
        assert!(Size::parse("").is_err());
    }

    #[test]
    fn nearest_colour() {
        for c in Colour::ALL {
            assert_eq!(Colour::nearest(c.rgb()), c);
        }
        assert_eq!(Colour::nearest([200, 30, 20]), Colour::Red);
        assert_eq!(Colour::nearest([220, 210, 40]), Colour::Yellow);
        assert_eq!(Colour::nearest([230, 230, 230]), Colour::White);
        assert_eq!(Colour::nearest([20, 200, 190]), Colour::Cyan);
    }

    #[test]
    fn boxes_fit_the_picture() {
        for s in Size::ALL {
            for p in Position::ALL {
                let (cx, cy) = p.centre();
                let h = s.side() / 2;
                assert!(cx >= h && cy >= h && cx + h <= 64 && cy + h <= 64);
            }
        }
    }
}
