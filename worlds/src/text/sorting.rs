//! Sorting: `sort 5 3 9 1 =` → `1 3 5 9`.

use tessera_modalities::rng::SplitMix64;

use crate::WorldError;

/// A sorting problem: digits to sort ascending, duplicates kept.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SortingProblem {
    /// The digits, each `0..=9`, in prompt order.
    pub digits: Vec<u8>,
}

/// The fewest digits a generated problem has.
pub const MIN_DIGITS: usize = 4;

/// The most digits a generated problem has.
pub const MAX_DIGITS: usize = 8;

impl SortingProblem {
    /// A problem of 4 to 8 digits (the count uniform), each digit uniform in `0..=9`.
    pub fn sample(rng: &mut SplitMix64) -> SortingProblem {
        let count = MIN_DIGITS + rng.below(MAX_DIGITS - MIN_DIGITS + 1);
        SortingProblem {
            digits: (0..count).map(|_| rng.below(10) as u8).collect(),
        }
    }

    /// The prompt: `sort `, the digits separated by single spaces, ` =`; e.g.
    /// `sort 5 3 9 1 =`.
    pub fn prompt(&self) -> String {
        format!("sort {} =", join(&self.digits))
    }

    /// The answer: the digits ascending, duplicates kept, separated by single spaces; e.g.
    /// `1 3 5 9`.
    pub fn answer(&self) -> String {
        let mut sorted = self.digits.clone();
        sorted.sort_unstable();
        join(&sorted)
    }

    /// Reads a prompt back. Surrounding whitespace is ignored; inside, the form is exact:
    /// `sort `, one or more single digits separated by single spaces, ` =`.
    pub fn parse(prompt: &str) -> Result<SortingProblem, WorldError> {
        let bad = |reason: &str| WorldError::Prompt {
            task: "sorting",
            prompt: prompt.to_owned(),
            reason: reason.to_owned(),
        };
        let body = prompt
            .trim()
            .strip_prefix("sort ")
            .and_then(|s| s.strip_suffix(" ="))
            .ok_or_else(|| bad("expected `sort D D … D =`"))?;
        let digits = body
            .split(' ')
            .map(|word| match word.as_bytes() {
                [c @ b'0'..=b'9'] => Ok(c - b'0'),
                _ => Err(bad("expected single digits separated by single spaces")),
            })
            .collect::<Result<Vec<u8>, _>>()?;
        Ok(SortingProblem { digits })
    }
}

fn join(digits: &[u8]) -> String {
    digits
        .iter()
        .map(u8::to_string)
        .collect::<Vec<_>>()
        .join(" ")
}

/// Whether `answer` is right for the sorting `prompt`: after trimming surrounding whitespace
/// it must equal the sorted digits separated by single spaces. A malformed prompt has no
/// right answer (`false`).
pub fn check_sorting(prompt: &str, answer: &str) -> bool {
    SortingProblem::parse(prompt).is_ok_and(|p| answer.trim() == p.answer())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prompt_and_answer_form() {
        let p = SortingProblem {
            digits: vec![5, 3, 9, 1],
        };
        assert_eq!(p.prompt(), "sort 5 3 9 1 =");
        assert_eq!(p.answer(), "1 3 5 9");
        let p = SortingProblem {
            digits: vec![2, 0, 2, 0, 9],
        };
        assert_eq!(p.answer(), "0 0 2 2 9");
    }

    #[test]
    fn sampling_and_parsing() {
        let mut rng = SplitMix64::new(8);
        let mut counts = [0usize; 9];
        for _ in 0..5000 {
            let p = SortingProblem::sample(&mut rng);
            counts[p.digits.len()] += 1;
            assert!(p.digits.iter().all(|&d| d <= 9));
            assert_eq!(SortingProblem::parse(&p.prompt()), Ok(p));
        }
        assert_eq!(counts[..4], [0; 4]);
        assert!(
            counts[4..].iter().all(|&c| (850..=1150).contains(&c)),
            "{counts:?}"
        );
    }

    #[test]
    fn malformed_prompts_are_errors() {
        for bad in [
            "",
            "sort =",
            "sort  =",
            "sort 1 2",
            "1 2 3 =",
            "sort 1  2 =",
            "sort 12 3 =",
            "sort a b =",
            "sort 1,2 =",
            "Sort 1 2 =",
        ] {
            assert!(
                matches!(
                    SortingProblem::parse(bad),
                    Err(WorldError::Prompt {
                        task: "sorting",
                        ..
                    })
                ),
                "`{bad}` parsed"
            );
        }
    }

    #[test]
    fn checking() {
        assert!(check_sorting("sort 5 3 9 1 =", "1 3 5 9"));
        assert!(check_sorting("sort 5 3 9 1 =", "  1 3 5 9 \n"));
        assert!(!check_sorting("sort 5 3 9 1 =", "1 3 9 5"));
        assert!(!check_sorting("sort 5 3 9 1 =", "1  3 5 9"));
        assert!(!check_sorting("sort 5 3 9 1 =", "1359"));
        assert!(!check_sorting("sort 5 5 1 1 =", "1 5"));
        assert!(check_sorting("sort 5 5 1 1 =", "1 1 5 5"));
        assert!(!check_sorting("sort 5 3 9 1", "1 3 5 9"));
    }
}
