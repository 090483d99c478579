//! Fill in the blanks: given text with blanks inside it, a world model decodes each blank
//! with both sides visible — an addend from a sum, the digits missing from a sorted list, a
//! caption's missing word given the picture.
//!
//! ```text
//! cargo run --release --example infill -- [MODEL_DIR]
//! ```
//! A blank is a `Target::Blank { len }` part between given text parts; the reply has one
//! text part per blank. The lengths are the model's: a number up to three digits takes 3
//! positions (a shorter one is padded with end-of-text, which decodes to nothing), a digit or
//! a word one. A model not trained to fill blanks answers with an error naming `parts`.

use tessera::Engine;
use tessera::eval::fill_request;
use tessera_worlds::fill::{fill_addition, fill_caption, fill_sorting};
use tessera_worlds::text::{AdditionProblem, SortingProblem};
use tessera_worlds::{Colour, FillKind, Position, Shape, ShapeSpec, Size, check_fill};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // Arguments that look like flags (`cargo test -- --nocapture`) are not ours.
    let dir = std::env::args().skip(1).find(|a| !a.starts_with('-'));
    let dir =
        dir.unwrap_or_else(|| concat!(env!("CARGO_MANIFEST_DIR"), "/models/tessera-tiny").into());
    let engine = Engine::load(&dir)?;

    let square = ShapeSpec {
        shape: Shape::Square,
        colour: Colour::Blue,
        size: Size::Small,
        position: Position::Center,
    };
    let cases = [
        (
            fill_addition(AdditionProblem { a: 123, b: 45 }, true),
            FillKind::Addition,
            None,
        ),
        (
            fill_sorting(
                &SortingProblem {
                    digits: vec![5, 3, 9, 1],
                },
                &[1, 3],
            ),
            FillKind::Sorting,
            None,
        ),
        (
            fill_caption(&square, 0),
            FillKind::Caption(square),
            Some(square),
        ),
    ];
    let mut wrong = 0;
    for (example, kind, picture) in cases {
        let reply = engine.run(&fill_request(&example, picture.map(|s| s.render())))?;
        let fills = reply.texts();
        let right = check_fill(kind, &example, &fills);
        wrong += usize::from(!right);
        let shown = example.filled(&fills).unwrap_or_default();
        let seen = if picture.is_some() {
            " (given the picture)"
        } else {
            ""
        };
        println!(
            "{}{seen}  ->  {shown}   [{} forward passes, {}]",
            example.template,
            reply.stats.nfe,
            if right { "right" } else { "WRONG" }
        );
    }
    if wrong > 0 {
        return Err(format!("{wrong} of 3 fills are wrong").into());
    }
    Ok(())
}
