//! Addition: `123+45=` → `168`.

use tessera_modalities::rng::SplitMix64;

use crate::WorldError;
use crate::named::named_enum;

named_enum! {
    /// How the operands of an addition problem are drawn.
    pub enum OperandDraw ("operand draw") {
        /// Each operand uniform in `0..=999`, independently: the evaluation distribution
        /// (four in five operands have three digits).
        Uniform => "uniform",
        /// Each operand's digit count uniform in `1..=3` first, then the operand uniform
        /// among the numbers of that many digits: short operands as often as long ones, so
        /// a learner meets every alignment of digits. A training distribution.
        Balanced => "balanced",
    }
}

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

    /// A problem with operands drawn as `draw` says ([`OperandDraw::Uniform`] is
    /// [`AdditionProblem::sample`]).
    pub fn sample_with(rng: &mut SplitMix64, draw: OperandDraw) -> AdditionProblem {
        match draw {
            OperandDraw::Uniform => AdditionProblem::sample(rng),
            OperandDraw::Balanced => {
                let mut operand = || {
                    let digits = 1 + rng.below(3) as u32;
                    let low = if digits == 1 {
                        0
                    } else {
                        10u64.pow(digits - 1)
                    };
                    low + rng.below((10u64.pow(digits) - low) as usize) as u64
                };
                let a = operand();
                AdditionProblem { a, b: operand() }
            }
        }
    }

    /// The prompt, `{a}+{b}=` in decimal, e.g. `123+45=`.
    pub fn prompt(&self) -> String {
        format!("{}+{}=", self.a, self.b)
    }

    /// The answer: the sum in decimal without leading zeros, e.g. `168`.
    pub fn answer(&self) -> String {
        // cannot overflow: operands are sampled (≤ 999) or parsed (at most 18 digits).
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
    fn balanced_draws_give_each_digit_count_a_third() {
        let mut rng = SplitMix64::new(9);
        let mut counts = [0usize; 3];
        let n = 30_000;
        for _ in 0..n {
            let p = AdditionProblem::sample_with(&mut rng, OperandDraw::Balanced);
            assert!(p.a <= MAX_OPERAND && p.b <= MAX_OPERAND);
            for x in [p.a, p.b] {
                counts[x.to_string().len() - 1] += 1;
            }
        }
        for c in counts {
            let share = c as f64 / (2 * n) as f64;
            assert!((share - 1.0 / 3.0).abs() < 0.01, "{counts:?}");
        }
        // Uniform draws are mostly three-digit.
        let p = AdditionProblem::sample_with(&mut SplitMix64::new(3), OperandDraw::Uniform);
        assert_eq!(p, AdditionProblem::sample(&mut SplitMix64::new(3)));
        assert_eq!(OperandDraw::parse("balanced"), Ok(OperandDraw::Balanced));
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
