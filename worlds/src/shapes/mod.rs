//! The shapes world: 64×64 pictures of one filled shape on black, captioned
//! `a {size} {colour} {shape} at the {position}` (210 pictures in all).
//!
//! - [`Shape`], [`Colour`], [`Size`], [`Position`]: the attributes and their caption words;
//! - [`ShapeSpec`]: one picture — [`caption`](ShapeSpec::caption),
//!   [`parse_caption`](ShapeSpec::parse_caption), [`render`](ShapeSpec::render) (the exact
//!   pixel rule is documented there), [`sample`](ShapeSpec::sample);
//! - [`Drawing`]: how a picture is drawn (position and size jitter, colour, soft edges, a
//!   noisy background), [`ShapeSpec::render_with`] draws it; [`Variation`] names what varies;
//! - [`check_image`]: reads a picture back, also a lossy reconstruction of one.

mod attributes;
mod check;
mod draw;
mod render;
mod spec;

pub use attributes::{Colour, Position, Shape, Size};
pub use check::{LIT_THRESHOLD, check_image};
pub use draw::{Drawing, Variation};
pub use render::IMAGE_SIDE;
pub use spec::ShapeSpec;
