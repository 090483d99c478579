//! The text tasks: prompts with answers judged by rule.
//!
//! | task | prompt | answer |
//! |---|---|---|
//! | addition | `123+45=` | `168` |
//! | sorting | `sort 5 3 9 1 =` | `1 3 5 9` |
//! | sudoku | `sudoku 1.3.\|.41.\|4..3\|2.4. =` | `1234\|3412\|4123\|2341` |
//!
//! [`TextTask`] samples ([`TextTask::sample`]) and judges ([`TextTask::check`]) any of them;
//! [`AdditionProblem`], [`SortingProblem`] and [`SudokuPuzzle`] are the typed problems, each
//! with `parse` (typed errors for malformed prompts), `prompt` and `sample`.

mod addition;
mod sorting;
mod sudoku;
mod task;

pub use addition::{AdditionProblem, MAX_OPERAND, OperandDraw, check_addition};
pub use sorting::{MAX_DIGITS, MIN_DIGITS, SortingProblem, check_sorting};
pub use sudoku::{
    MAX_BLANKS, MIN_BLANKS, SudokuGrid, SudokuPuzzle, all_grids, check_sudoku, format_grid,
    is_valid_grid, parse_grid,
};
pub use task::{TextExample, TextTask};
