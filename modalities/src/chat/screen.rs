//! What a chat template may not do, checked before it is compiled.
//!
//! A chat template is code shipped in the model folder. minijinja's fuel bounds how many
//! instructions one render runs, but a few single instructions allocate in proportion to a
//! number the template chooses, outside any fuel: `[] * 8888888888` is a lazily repeated
//! sequence whose iteration (`~`, `join`, `list`) loops billions of times without spending
//! fuel (found by fuzzing), `'x' * 99999999` allocates 100 MB in one step, and
//! `indent(99999999999)` asks for 100 GB at once, which aborts the process. Published chat
//! templates (LLaMA-3, Qwen2, Mistral, LLaDA, Dream, MMaDA …) use neither repetition nor
//! numbers anywhere near these sizes, so both are refused when the template is loaded:
//!
//! - the `*` operator (`**`, power on integers, is checked arithmetic and stays allowed);
//! - any number literal above [`MAX_LITERAL`].
//!
//! The rendered prompt is bounded separately (see [`super::MAX_RENDER_BYTES`]).

use minijinja::machinery::{Token, WhitespaceConfig, tokenize};
use minijinja::syntax::SyntaxConfig;

use crate::TextError;

/// The largest number literal a chat template may contain (minijinja's own `range` stops
/// at 100,000 items too).
pub const MAX_LITERAL: u64 = 100_000;

/// Refuses `source` if it uses an operation that can allocate without bound (module docs).
///
/// # Errors
/// [`TextError::Template`] naming what was found and where; a template that does not
/// tokenize is left for the compiler to report.
pub(super) fn screen(source: &str) -> Result<(), TextError> {
    for item in tokenize(source, false, SyntaxConfig, WhitespaceConfig::default()) {
        let Ok((token, span)) = item else {
            return Ok(());
        };
        let refused = match token {
            Token::Mul => Some("the repetition operator `*`".to_string()),
            Token::Int(n) if n > MAX_LITERAL => Some(format!("the number {n}")),
            Token::Int128(n) if *n > u128::from(MAX_LITERAL) => Some(format!("the number {n}")),
            Token::Float(x) if x.is_nan() || x.abs() > MAX_LITERAL as f64 => {
                Some(format!("the number {x}"))
            }
            _ => None,
        };
        if let Some(what) = refused {
            return Err(TextError::Template(format!(
                "chat template line {}: {what} is refused (a template may not use `*` or \
                 numbers above {MAX_LITERAL}: they can allocate without bound)",
                span.start_line
            )));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repetition_and_huge_numbers_are_refused_by_line() {
        for (source, what) in [
            ("{{ ([] * 8888888888) | join }}", "`*`"),
            ("hi\n{{ 'x' * 3 }}", "line 2"),
            (
                "{{ messages[0].content | indent(99999999999) }}",
                "99999999999",
            ),
            ("{{ 1e300 }}", "number"),
        ] {
            let err = screen(source).unwrap_err().to_string();
            assert!(err.contains(what), "{source}: {err}");
        }
    }

    #[test]
    fn ordinary_templates_pass() {
        for source in [
            "{% for m in messages %}<|{{ m.role }}|>{{ m.content | trim }}{% endfor %}",
            "{{ 2 ** 10 }} {{ '**bold** * star' }} {# a * comment #} a * b outside tags",
            "{% if loop.index0 == 0 and 100000 > 3 %}{% endif %}{{ 1.5 }}",
            "{% for %}",
        ] {
            screen(source).unwrap();
        }
    }
}
