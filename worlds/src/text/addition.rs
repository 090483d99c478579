//! Addition: `123+45=` → `168`.

use tessera_modalities::rng::SplitMix64;

use crate::WorldError;

/// An addition problem `a+b=`; generated operands are uniform in `0..=999`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct AdditionProblem {
    /// The first operand.
    pub a: u64,
    /// The second operand.
    pub b: u64,
}

/// The largest generated operand.
pub const MAX_OPERAND: u64 = 999;

/// Operands of more digits than this are refused when parsing (so the sum fits a `u64`).
const MAX_DIGITS: usize = 18;

impl AdditionProblem {
    /// A problem with both operands uniform in `0..=999`, independently.
    pub fn sample(rng: &mut SplitMix64) -> AdditionProblem {
        let n = MAX_OPERAND as usize + 1;
        AdditionProblem {
            a: rng.below(n) as u64,
            b: rng.below(n) as u64,
        }
    }

    /// The prompt, `{a}+{b}=` in decimal, e.g. `123+45=`.
    pub fn prompt(&self) -> String {
        format!("{}+{}=", self.a, self.b)
    }

    /// The answer: the sum in decimal without leading zeros, e.g. `168`.
    pub fn answer(&self) -> String {
        (self.a + self.b).to_string()
    }

    /// Reads a prompt back. Surrounding whitespace is ignored; inside, the form is exact:
    /// two decimal numbers of 1 to 18 digits without leading zeros (`0` itself is fine),
    /// joined by `+` and followed by `=`.
    pub fn parse(prompt: &str) -> Result<AdditionProblem, WorldError> {
        let bad = |reason: &str| WorldError::Prompt {
            task: "addition",
            prompt: prompt.to_owned(),
            reason: reason.to_owned(),
        };
        let body = prompt
            .trim()
            .strip_suffix('=')
            .ok_or_else(|| bad("does not end with `=`"))?;
        let (a, b) = body.split_once('+').ok_or_else(|| bad("expected `A+B=`"))?;
        let operand = |s: &str| -> Result<u64, WorldError> {
            if s.is_empty() || !s.bytes().all(|c| c.is_ascii_digit()) {
                return Err(bad("operands must be decimal digits"));
            }
            if s.len() > 1 && s.starts_with('0') {
                return Err(bad("operands have no leading zeros"));
            }
            if s.len() > MAX_DIGITS {
                return Err(bad("operands have at most 18 digits"));
            }
            s.parse()
                .map_err(|_| bad("operands must be decimal digits"))
        };
        Ok(AdditionProblem {
            a: operand(a)?,
            b: operand(b)?,
        })
    }
}

/// Whether `answer` is right for the addition `prompt`: after trimming surrounding
/// whitespace it must equal the sum in decimal without leading zeros. A malformed prompt
/// has no right answer (`false`).
pub fn check_addition(prompt: &str, answer: &str) -> bool {
    AdditionProblem::parse(prompt).is_ok_and(|p| answer.trim() == p.answer())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prompt_and_answer_form() {
        let p = AdditionProblem { a: 123, b: 45 };
        assert_eq!(p.prompt(), "123+45=");
        assert_eq!(p.answer(), "168");
        assert_eq!(AdditionProblem { a: 0, b: 0 }.prompt(), "0+0=");
        assert_eq!(AdditionProblem { a: 999, b: 999 }.answer(), "1998");
    }

    #[test]
    fn parse_round_trips_and_refuses_malformed() {
        let mut rng = SplitMix64::new(2);
        for _ in 0..1000 {
            let p = AdditionProblem::sample(&mut rng);
            assert!(p.a <= 999 && p.b <= 999);
            assert_eq!(AdditionProblem::parse(&p.prompt()), Ok(p));
        }
        assert_eq!(
            AdditionProblem::parse(" 7+8=\n"),
            Ok(AdditionProblem { a: 7, b: 8 })
        );
        for bad in [
            "",
            "=",
            "+=",
            "1+=",
            "+1=",
            "1+2",
            "1-2=",
            "1+2+3=",
            "01+2=",
            "1 + 2=",
            "a+b=",
            "-1+2=",
            "1+2==",
            "1234567890123456789+1=",
        ] {
            assert!(
                matches!(
                    AdditionProblem::parse(bad),
                    Err(WorldError::Prompt {
                        task: "addition",
                        ..
                    })
                ),
                "`{bad}` parsed"
            );
        }
    }

    #[test]
    fn operands_cover_the_range() {
        let mut rng = SplitMix64::new(4);
        let (mut lo, mut hi) = (u64::MAX, 0);
        for _ in 0..20_000 {
            let p = AdditionProblem::sample(&mut rng);
            lo = lo.min(p.a).min(p.b);
            hi = hi.max(p.a).max(p.b);
        }
        assert_eq!((lo, hi), (0, 999));
    }

    #[test]
    fn checking() {
        assert!(check_addition("123+45=", "168"));
        assert!(check_addition("123+45=", " 168\n"));
        assert!(!check_addition("123+45=", "0168"));
        assert!(!check_addition("123+45=", "167"));
        assert!(!check_addition("123+45=", "168.0"));
        assert!(!check_addition("123+45=", ""));
        assert!(!check_addition("123+45", "168"));
        assert!(check_addition(
            "999999999999999999+999999999999999999=",
            "1999999999999999998"
        ));
    }
}
