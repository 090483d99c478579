//! [`TextTask`]: the three text tasks as one type, and their examples ([`TextExample`]).

use serde::{Deserialize, Serialize};
use tessera_modalities::rng::SplitMix64;

use super::{
    AdditionProblem, OperandDraw, SortingProblem, SudokuPuzzle, check_addition, check_sorting,
};
use super::{check_sudoku, format_grid};
use crate::named::named_enum;

named_enum! {
    /// A text task: a prompt to complete with an answer a program checks.
    pub enum TextTask ("text task") {
        /// `123+45=` → `168`.
        Addition => "addition",
        /// `sort 5 3 9 1 =` → `1 3 5 9`.
        Sorting => "sorting",
        /// `sudoku 1.3.|.41.|4..3|2.4. =` → `1234|3412|4123|2341`.
        Sudoku => "sudoku",
    }
}

/// One text example: the prompt and its reference answer.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct TextExample {
    /// What the model is given.
    pub prompt: String,
    /// A right answer (for sudoku the unique solution; [`TextTask::check`] judges any
    /// answer).
    pub answer: String,
}

impl TextTask {
    /// A random example of the task (the distributions are documented on
    /// [`AdditionProblem::sample`], [`SortingProblem::sample`] and
    /// [`SudokuPuzzle::sample`]). Not split-aware: see [`Task::sample`](crate::Task::sample).
    pub fn sample(self, rng: &mut SplitMix64) -> TextExample {
        self.sample_with(rng, OperandDraw::Uniform)
    }

    /// [`TextTask::sample`] with addition operands drawn as `draw` says (the other tasks
    /// ignore it).
    pub fn sample_with(self, rng: &mut SplitMix64, draw: OperandDraw) -> TextExample {
        match self {
            TextTask::Addition => {
                let p = AdditionProblem::sample_with(rng, draw);
                TextExample {
                    prompt: p.prompt(),
                    answer: p.answer(),
                }
            }
            TextTask::Sorting => {
                let p = SortingProblem::sample(rng);
                TextExample {
                    prompt: p.prompt(),
                    answer: p.answer(),
                }
            }
            TextTask::Sudoku => {
                let (p, solution) = SudokuPuzzle::sample(rng);
                TextExample {
                    prompt: p.prompt(),
                    answer: format_grid(&solution),
                }
            }
        }
    }

    /// Whether `answer` is right for `prompt`. Surrounding whitespace of the answer is
    /// ignored; otherwise addition and sorting need the exact reference answer
    /// ([`check_addition`], [`check_sorting`]) and sudoku any grid that keeps the rules and
    /// the givens ([`check_sudoku`]). A prompt that is not of this task is never answered
    /// right (`false`).
    pub fn check(self, prompt: &str, answer: &str) -> bool {
        match self {
            TextTask::Addition => check_addition(prompt, answer),
            TextTask::Sorting => check_sorting(prompt, answer),
            TextTask::Sudoku => check_sudoku(prompt, answer),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn samples_check_against_their_own_answers() {
        let mut rng = SplitMix64::new(21);
        for task in TextTask::ALL {
            for _ in 0..300 {
                let ex = task.sample(&mut rng);
                assert!(task.check(&ex.prompt, &ex.answer), "{task}: {ex:?}");
                assert!(!task.check(&ex.prompt, "0 0"), "{task}: {ex:?}");
                for other in TextTask::ALL.into_iter().filter(|&o| o != task) {
                    assert!(!other.check(&ex.prompt, &ex.answer));
                }
            }
        }
    }

    #[test]
    fn forms() {
        let mut rng = SplitMix64::new(5);
        let ex = TextTask::Addition.sample(&mut rng);
        assert!(ex.prompt.ends_with('=') && ex.prompt.contains('+'));
        let ex = TextTask::Sorting.sample(&mut rng);
        assert!(ex.prompt.starts_with("sort ") && ex.prompt.ends_with(" ="));
        let ex = TextTask::Sudoku.sample(&mut rng);
        assert!(ex.prompt.starts_with("sudoku ") && ex.prompt.ends_with(" ="));
        assert_eq!(ex.answer.len(), 19);
        assert_eq!(TextTask::parse("sorting"), Ok(TextTask::Sorting));
    }
}
