//! Fill-in-the-blank tasks: given text with blanks, each blank's answer needs what stands on
//! both sides of it.
//!
//! - `fill-addition`: `123+[_]=168` → `45` (an addend from the sum and the other addend);
//! - `fill-sorting`: `sort 5 3 9 1 = 1 [_] 5 [_]` → `3`, `9` (a sorted list with digits
//!   missing: which ones depends on the list before `=` and the digits given after it);
//! - `fill-caption`: a picture and `a [_] blue square at the center` → `small` (the
//!   attribute the picture shows, in the place the caption's words give it).
//!
//! A template writes each blank as [`BLANK`]; [`FillExample::widths`] says how many tokens
//! the model fills for each (a number up to three digits, a word or a digit), and
//! [`check_fill`] judges a filled template whatever the reference fills were.

use serde::{Deserialize, Serialize};
use tessera_modalities::rng::SplitMix64;

use crate::shapes::ShapeSpec;
use crate::text::{AdditionProblem, OperandDraw, SortingProblem, check_addition, check_sorting};

/// How a template writes a blank.
pub const BLANK: &str = "[_]";

/// Tokens of an addend's blank: the largest operand has three digits; shorter answers are
/// padded with `<|eos|>` in front (the model's right-aligned text).
pub const ADDEND_WIDTH: usize = 3;

/// One fill-in-the-blank example.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct FillExample {
    /// The given text with each blank written as [`BLANK`].
    pub template: String,
    /// A right fill of each blank, in order.
    pub fills: Vec<String>,
    /// Each blank's length in tokens.
    pub widths: Vec<usize>,
}

impl FillExample {
    /// The text pieces around the blanks: one more than there are blanks.
    pub fn pieces(&self) -> Vec<&str> {
        self.template.split(BLANK).collect()
    }

    /// The template with `fills` in its blanks (`None` if the counts differ).
    pub fn filled(&self, fills: &[String]) -> Option<String> {
        let pieces = self.pieces();
        if fills.len() + 1 != pieces.len() {
            return None;
        }
        let mut out = pieces[0].to_owned();
        for (fill, piece) in fills.iter().zip(&pieces[1..]) {
            out.push_str(fill.trim());
            out.push_str(piece);
        }
        Some(out)
    }
}

/// `a+[_]=s` or `[_]+b=s` for the addition problem `p` (`second`: which addend is blank).
pub fn fill_addition(p: AdditionProblem, second: bool) -> FillExample {
    let sum = p.a + p.b;
    let (template, fill) = if second {
        (format!("{}+{BLANK}={sum}", p.a), p.b)
    } else {
        (format!("{BLANK}+{}={sum}", p.b), p.a)
    };
    FillExample {
        template,
        fills: vec![fill.to_string()],
        widths: vec![ADDEND_WIDTH],
    }
}

/// `sort … = …` for `p` with the sorted digits at `blanks` (indices into the answer,
/// ascending, distinct) left blank.
pub fn fill_sorting(p: &SortingProblem, blanks: &[usize]) -> FillExample {
    let mut sorted = p.digits.clone();
    sorted.sort_unstable();
    let words: Vec<String> = sorted
        .iter()
        .enumerate()
        .map(|(i, d)| {
            if blanks.contains(&i) {
                BLANK.to_owned()
            } else {
                d.to_string()
            }
        })
        .collect();
    FillExample {
        template: format!("{} {}", p.prompt(), words.join(" ")),
        fills: blanks.iter().map(|&i| sorted[i].to_string()).collect(),
        widths: vec![1; blanks.len()],
    }
}

/// The caption of `spec` with its size (`attribute` 0), colour (1) or shape (2) blank.
pub fn fill_caption(spec: &ShapeSpec, attribute: usize) -> FillExample {
    let (size, colour, shape) = (spec.size.name(), spec.colour.name(), spec.shape.name());
    let (words, fill) = match attribute % 3 {
        0 => ([BLANK, colour, shape], size),
        1 => ([size, BLANK, shape], colour),
        _ => ([size, colour, BLANK], shape),
    };
    FillExample {
        template: format!("a {} at the {}", words.join(" "), spec.position),
        fills: vec![fill.to_owned()],
        widths: vec![1],
    }
}

/// A random `fill-addition` example from `rng` (operands as `draw` says, either addend
/// blank); `keep` decides whether the underlying addition prompt may be used (the split).
pub(crate) fn sample_addition(
    rng: &mut SplitMix64,
    draw: OperandDraw,
    keep: impl Fn(&str) -> bool,
) -> FillExample {
    loop {
        let p = AdditionProblem::sample_with(rng, draw);
        let second = rng.below(2) == 1;
        if keep(&p.prompt()) {
            return fill_addition(p, second);
        }
    }
}

/// A random `fill-sorting` example from `rng`: one or two of the sorted digits blank.
pub(crate) fn sample_sorting(rng: &mut SplitMix64, keep: impl Fn(&str) -> bool) -> FillExample {
    loop {
        let p = SortingProblem::sample(rng);
        let n = p.digits.len();
        let first = rng.below(n);
        let mut blanks = vec![first];
        if rng.below(2) == 1 {
            let second = rng.below(n - 1);
            blanks.push(if second >= first { second + 1 } else { second });
        }
        blanks.sort_unstable();
        if keep(&p.prompt()) {
            return fill_sorting(&p, &blanks);
        }
    }
}

/// Which fill-in-the-blank task a template is (`fill-addition`, `fill-sorting`,
/// `fill-caption`) for [`check_fill`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FillKind {
    /// `a+[_]=s`.
    Addition,
    /// `sort … = … [_] …`.
    Sorting,
    /// A caption with a blank attribute, of the given picture.
    Caption(ShapeSpec),
}

/// Whether `fills` fill `example`'s blanks rightly: the filled addition holds, the filled
/// list is the sorted digits, the filled caption is the picture's. A fill is judged as
/// trimmed text; a wrong count of fills, an empty fill or one holding a blank is wrong.
pub fn check_fill(kind: FillKind, example: &FillExample, fills: &[String]) -> bool {
    if fills
        .iter()
        .any(|f| f.trim().is_empty() || f.contains(BLANK) || f.trim().contains(' '))
    {
        return false;
    }
    let Some(text) = example.filled(fills) else {
        return false;
    };
    match kind {
        FillKind::Addition => match text.split_once('=') {
            Some((sum_of, total)) => check_addition(&format!("{sum_of}="), total),
            None => false,
        },
        FillKind::Sorting => match text.split_once(" = ") {
            Some((prompt, answer)) => check_sorting(&format!("{prompt} ="), answer),
            None => false,
        },
        FillKind::Caption(spec) => ShapeSpec::parse_caption(&text).is_ok_and(|s| s == spec),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::shapes::{Colour, Position, Shape, Size};

    fn fills(words: &[&str]) -> Vec<String> {
        words.iter().map(|w| w.to_string()).collect()
    }

    #[test]
    fn the_issue_examples() {
        let ex = fill_addition(AdditionProblem { a: 123, b: 45 }, true);
        assert_eq!(ex.template, "123+[_]=168");
        assert_eq!(ex.fills, ["45"]);
        assert!(check_fill(FillKind::Addition, &ex, &fills(&["45"])));
        assert!(check_fill(FillKind::Addition, &ex, &fills(&[" 45 "])));
        assert!(!check_fill(FillKind::Addition, &ex, &fills(&["46"])));
        assert!(!check_fill(FillKind::Addition, &ex, &fills(&["4 5"])));
        assert!(!check_fill(FillKind::Addition, &ex, &fills(&[])));
        let first = fill_addition(AdditionProblem { a: 123, b: 45 }, false);
        assert_eq!(first.template, "[_]+45=168");
        assert!(check_fill(FillKind::Addition, &first, &fills(&["123"])));

        let p = SortingProblem {
            digits: vec![5, 3, 9, 1],
        };
        let ex = fill_sorting(&p, &[1, 3]);
        assert_eq!(ex.template, "sort 5 3 9 1 = 1 [_] 5 [_]");
        assert_eq!(ex.fills, ["3", "9"]);
        assert!(check_fill(FillKind::Sorting, &ex, &ex.fills));
        assert!(!check_fill(FillKind::Sorting, &ex, &fills(&["9", "3"])));
        assert!(!check_fill(FillKind::Sorting, &ex, &fills(&["3"])));

        let spec = ShapeSpec {
            shape: Shape::Square,
            colour: Colour::Blue,
            size: Size::Small,
            position: Position::Center,
        };
        let ex = fill_caption(&spec, 0);
        assert_eq!(ex.template, "a [_] blue square at the center");
        assert!(check_fill(FillKind::Caption(spec), &ex, &fills(&["small"])));
        assert!(!check_fill(
            FillKind::Caption(spec),
            &ex,
            &fills(&["large"])
        ));
        assert!(!check_fill(FillKind::Caption(spec), &ex, &fills(&["blue"])));
    }

    #[test]
    fn samples_check_against_their_fills_and_need_both_sides() {
        let mut rng = SplitMix64::new(9);
        for _ in 0..300 {
            let ex = sample_addition(&mut rng, OperandDraw::Uniform, |_| true);
            assert!(check_fill(FillKind::Addition, &ex, &ex.fills), "{ex:?}");
            assert_eq!(ex.pieces().len(), 2);
            // The sum after the blank, always.
            assert!(ex.pieces()[1].starts_with(['+', '=']), "{ex:?}");
            let ex = sample_sorting(&mut rng, |_| true);
            assert!(check_fill(FillKind::Sorting, &ex, &ex.fills), "{ex:?}");
            assert!((1..=2).contains(&ex.fills.len()));
            assert!(ex.template.starts_with("sort ") && !ex.template.ends_with('='));
        }
        // The split's filter is honoured.
        let ex = sample_addition(&mut rng, OperandDraw::Uniform, |p| p.starts_with('7'));
        assert!(
            ex.template.starts_with('7') || ex.fills[0].starts_with('7'),
            "{ex:?}"
        );
    }
}
