//! [`ShapeSpec`]: one picture of the shapes world, its caption and its random draw.

use serde::{Deserialize, Serialize};
use tessera_modalities::rng::SplitMix64;

use super::{Colour, Position, Shape, Size};
use crate::WorldError;

/// One picture of the shapes world: a single filled shape on black.
///
/// There are 3·7·2·5 = 210 of them ([`ShapeSpec::all`]); [`ShapeSpec::render`] draws one and
/// [`check_image`](super::check_image) reads one back.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ShapeSpec {
    /// The form.
    pub shape: Shape,
    /// The fill colour.
    pub colour: Colour,
    /// The bounding box's size.
    pub size: Size,
    /// The bounding box's centre.
    pub position: Position,
}

impl ShapeSpec {
    /// How many distinct pictures the world has: 210.
    pub const COUNT: usize =
        Shape::ALL.len() * Colour::ALL.len() * Size::ALL.len() * Position::ALL.len();

    /// Every picture of the world, each once.
    pub fn all() -> impl Iterator<Item = ShapeSpec> {
        Shape::ALL.into_iter().flat_map(|shape| {
            Colour::ALL.into_iter().flat_map(move |colour| {
                Size::ALL.into_iter().flat_map(move |size| {
                    Position::ALL.into_iter().map(move |position| ShapeSpec {
                        shape,
                        colour,
                        size,
                        position,
                    })
                })
            })
        })
    }

    /// A picture drawn uniformly from the 210 (each attribute uniform and independent).
    pub fn sample(rng: &mut SplitMix64) -> ShapeSpec {
        // cannot fail: `below(n)` is `< n`.
        ShapeSpec {
            shape: Shape::ALL[rng.below(Shape::ALL.len())],
            colour: Colour::ALL[rng.below(Colour::ALL.len())],
            size: Size::ALL[rng.below(Size::ALL.len())],
            position: Position::ALL[rng.below(Position::ALL.len())],
        }
    }

    /// The caption: `a {size} {colour} {shape} at the {position}`, e.g.
    /// `a large red circle at the top left`.
    pub fn caption(&self) -> String {
        format!(
            "a {} {} {} at the {}",
            self.size, self.colour, self.shape, self.position
        )
    }

    /// Reads a caption back. Words are separated by any run of whitespace (surrounding
    /// whitespace is ignored) and must be exactly the caption's words, lower case.
    pub fn parse_caption(caption: &str) -> Result<ShapeSpec, WorldError> {
        let bad = |reason: String| WorldError::Caption {
            caption: caption.to_owned(),
            reason,
        };
        let words: Vec<&str> = caption.split_whitespace().collect();
        let [article, size, colour, shape, at, the, position @ ..] = words.as_slice() else {
            return Err(bad(format!(
                "expected `a SIZE COLOUR SHAPE at the POSITION`, got {} words",
                words.len()
            )));
        };
        for (got, want) in [(article, "a"), (at, "at"), (the, "the")] {
            if *got != want {
                return Err(bad(format!("expected `{want}`, got `{got}`")));
            }
        }
        if position.is_empty() {
            return Err(bad("missing the position".into()));
        }
        Ok(ShapeSpec {
            shape: Shape::parse(shape)?,
            colour: Colour::parse(colour)?,
            size: Size::parse(size)?,
            position: Position::parse(&position.join(" "))?,
        })
    }
}

impl std::fmt::Display for ShapeSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.caption())
    }
}

#[cfg(test)]
mod tests {
    use std::collections::{HashMap, HashSet};

    use super::*;

    #[test]
    fn the_world_has_210_distinct_pictures() {
        let all: HashSet<ShapeSpec> = ShapeSpec::all().collect();
        assert_eq!(all.len(), 210);
        assert_eq!(ShapeSpec::COUNT, 210);
        let captions: HashSet<String> = all.iter().map(ShapeSpec::caption).collect();
        assert_eq!(captions.len(), 210);
    }

    #[test]
    fn caption_form() {
        let spec = ShapeSpec {
            shape: Shape::Circle,
            colour: Colour::Red,
            size: Size::Large,
            position: Position::TopLeft,
        };
        assert_eq!(spec.caption(), "a large red circle at the top left");
        let spec = ShapeSpec {
            shape: Shape::Triangle,
            colour: Colour::Cyan,
            size: Size::Small,
            position: Position::Center,
        };
        assert_eq!(spec.to_string(), "a small cyan triangle at the center");
    }

    #[test]
    fn captions_round_trip() {
        for spec in ShapeSpec::all() {
            assert_eq!(ShapeSpec::parse_caption(&spec.caption()), Ok(spec));
        }
        let spec = ShapeSpec::parse_caption("  a small blue square  at the\tbottom right\n");
        assert_eq!(
            spec,
            Ok(ShapeSpec {
                shape: Shape::Square,
                colour: Colour::Blue,
                size: Size::Small,
                position: Position::BottomRight,
            })
        );
    }

    #[test]
    fn malformed_captions_are_errors() {
        for caption in [
            "",
            "a large red circle",
            "a large red circle at the",
            "the large red circle at the top left",
            "a large red circle in the top left",
            "a red large circle at the top left",
            "a large red circle at the top left corner",
            "a large red circle at the middle",
            "A large red circle at the top left",
            "a huge red circle at the top left",
        ] {
            assert!(
                ShapeSpec::parse_caption(caption).is_err(),
                "`{caption}` parsed"
            );
        }
    }

    #[test]
    fn sampling_is_uniform_and_seeded() {
        let mut rng = SplitMix64::new(7);
        let mut counts: HashMap<ShapeSpec, usize> = HashMap::new();
        let n = 210 * 200;
        for _ in 0..n {
            *counts.entry(ShapeSpec::sample(&mut rng)).or_default() += 1;
        }
        assert_eq!(counts.len(), 210);
        for (spec, &c) in &counts {
            // Expected 200 each; binomial sd ≈ 14.
            assert!((130..=270).contains(&c), "{spec}: {c}");
        }
        let a: Vec<_> = (0..5)
            .scan(SplitMix64::new(3), |r, _| Some(ShapeSpec::sample(r)))
            .collect();
        let b: Vec<_> = (0..5)
            .scan(SplitMix64::new(3), |r, _| Some(ShapeSpec::sample(r)))
            .collect();
        assert_eq!(a, b);
    }
}
