//! 4×4 sudoku: `sudoku 1.3.|.41.|4..3|2.4. =` → `1234|3412|4123|2341`.
//!
//! A grid has digits 1–4; every row, column and 2×2 box holds each digit once (288 grids).
//! Rows are written left to right, separated by `|`, a blank is `.`. Generated puzzles have
//! 6 to 10 blanks and exactly one solution; an answer is judged by the rules and the givens
//! ([`check_sudoku`]), not by comparing strings.

use std::sync::OnceLock;

use tessera_modalities::rng::SplitMix64;

use crate::WorldError;

/// A full 4×4 grid, `grid[row][column]`, digits 1–4.
pub type SudokuGrid = [[u8; 4]; 4];

/// The fewest blanks of a generated puzzle.
pub const MIN_BLANKS: usize = 6;

/// The most blanks of a generated puzzle.
pub const MAX_BLANKS: usize = 10;

/// A puzzle: the givens, `cells[row][column]`, `None` for a blank.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SudokuPuzzle {
    /// The givens (1–4) and blanks.
    pub cells: [[Option<u8>; 4]; 4],
}

/// Every valid 4×4 grid (288), in lexicographic order of their rows.
pub fn all_grids() -> &'static [SudokuGrid] {
    static GRIDS: OnceLock<Vec<SudokuGrid>> = OnceLock::new();
    GRIDS.get_or_init(|| {
        let mut out = Vec::new();
        fill(&mut [[0; 4]; 4], 0, &mut out, usize::MAX);
        out
    })
}

/// Whether `digit` may go at `(r, c)` given the other non-zero cells of `grid`.
fn allowed(grid: &SudokuGrid, r: usize, c: usize, digit: u8) -> bool {
    // cannot fail: callers pass `r, c < 4`, so every index (`i`, box corner + `i / 2`) is < 4.
    let (br, bc) = (r / 2 * 2, c / 2 * 2);
    (0..4).all(|i| {
        (i == c || grid[r][i] != digit)
            && (i == r || grid[i][c] != digit)
            && ((br + i / 2, bc + i % 2) == (r, c) || grid[br + i / 2][bc + i % 2] != digit)
    })
}

/// Completes `grid` (0 = to fill) from cell `at` on, in every way, pushing up to `limit`
/// completions to `out`.
fn fill(grid: &mut SudokuGrid, at: usize, out: &mut Vec<SudokuGrid>, limit: usize) {
    if out.len() >= limit {
        return;
    }
    if at == 16 {
        out.push(*grid);
        return;
    }
    // cannot fail: `at < 16` here, so `r, c < 4`.
    let (r, c) = (at / 4, at % 4);
    if grid[r][c] != 0 {
        if allowed(grid, r, c, grid[r][c]) {
            fill(grid, at + 1, out, limit);
        }
        return;
    }
    for digit in 1..=4 {
        if allowed(grid, r, c, digit) {
            grid[r][c] = digit;
            fill(grid, at + 1, out, limit);
            grid[r][c] = 0;
        }
    }
}

/// Whether every row, column and 2×2 box of `grid` is a permutation of 1–4.
pub fn is_valid_grid(grid: &SudokuGrid) -> bool {
    (0..4).all(|r| (0..4).all(|c| (1..=4).contains(&grid[r][c]) && allowed(grid, r, c, grid[r][c])))
}

/// `grid` written as rows separated by `|`, e.g. `1234|3412|4123|2341`.
pub fn format_grid(grid: &SudokuGrid) -> String {
    // `b'0' + d` cannot overflow: grids here are generated or parsed, digits 0–4.
    grid.map(|row| row.map(|d| char::from(b'0' + d)).iter().collect::<String>())
        .join("|")
}

/// Reads a full grid written as by [`format_grid`] (surrounding whitespace ignored): four
/// rows of four digits 1–4 separated by `|`. Says nothing about the rules.
pub fn parse_grid(text: &str) -> Option<SudokuGrid> {
    let rows = parse_rows(text.trim(), |c| match c {
        b'1'..=b'4' => Some(c - b'0'),
        _ => None,
    })?;
    Some(rows.map(|row| row.map(|d| d.unwrap_or(0))))
}

/// Four `|`-separated rows of four cells, each read by `cell` (`None`: not a cell).
fn parse_rows(text: &str, cell: impl Fn(u8) -> Option<u8>) -> Option<[[Option<u8>; 4]; 4]> {
    let mut out = [[None; 4]; 4];
    let mut rows = text.split('|');
    for row in &mut out {
        let bytes = rows.next()?.as_bytes();
        if bytes.len() != 4 {
            return None;
        }
        for (slot, &b) in row.iter_mut().zip(bytes) {
            *slot = Some(cell(b)?);
        }
    }
    rows.next().is_none().then_some(out)
}

impl SudokuPuzzle {
    /// A puzzle with a unique solution: a grid uniform over the 288, a blank count uniform
    /// in 6..=10, blank positions uniform; a draw whose puzzle has several solutions is
    /// discarded and the whole draw repeated (so puzzles with fewer blanks, more often
    /// unique, are somewhat more common than 1 in 5). Returns the puzzle and its solution.
    pub fn sample(rng: &mut SplitMix64) -> (SudokuPuzzle, SudokuGrid) {
        // cannot fail: there are 288 grids; `i < blanks ≤ 10 < 16`; `at < 16`.
        let grids = all_grids();
        loop {
            let grid = grids[rng.below(grids.len())];
            let blanks = MIN_BLANKS + rng.below(MAX_BLANKS - MIN_BLANKS + 1);
            let mut order: [usize; 16] = std::array::from_fn(|i| i);
            for i in 0..blanks {
                let j = i + rng.below(16 - i);
                order.swap(i, j);
            }
            let mut cells = grid.map(|row| row.map(Some));
            for &at in &order[..blanks] {
                cells[at / 4][at % 4] = None;
            }
            let puzzle = SudokuPuzzle { cells };
            if puzzle.solutions(2).len() == 1 {
                return (puzzle, grid);
            }
        }
    }

    /// The number of blanks.
    pub fn blanks(&self) -> usize {
        self.cells.iter().flatten().filter(|c| c.is_none()).count()
    }

    /// Up to `limit` grids that agree with every given, in lexicographic order.
    pub fn solutions(&self, limit: usize) -> Vec<SudokuGrid> {
        let mut out = Vec::new();
        let mut grid = self.cells.map(|row| row.map(|c| c.unwrap_or(0)));
        fill(&mut grid, 0, &mut out, limit);
        out
    }

    /// The prompt: `sudoku `, the rows (`.` a blank) separated by `|`, ` =`; e.g.
    /// `sudoku 1.3.|.41.|4..3|2.4. =`.
    pub fn prompt(&self) -> String {
        // `b'0' + d` cannot overflow: givens are generated or parsed, digits 1–4.
        let rows = self.cells.map(|row| {
            row.map(|c| c.map_or('.', |d| char::from(b'0' + d)))
                .iter()
                .collect::<String>()
        });
        format!("sudoku {} =", rows.join("|"))
    }

    /// Reads a prompt back. Surrounding whitespace is ignored; inside, the form is exact:
    /// `sudoku `, four rows of four cells (`1`–`4` or `.`) separated by `|`, ` =`. Givens
    /// that break the rules are not refused (such a puzzle has no right answer).
    pub fn parse(prompt: &str) -> Result<SudokuPuzzle, WorldError> {
        let body = prompt
            .trim()
            .strip_prefix("sudoku ")
            .and_then(|s| s.strip_suffix(" ="));
        let cells = body.and_then(|b| {
            parse_rows(b, |c| match c {
                b'1'..=b'4' => Some(c - b'0'),
                b'.' => Some(0),
                _ => None,
            })
        });
        match cells {
            Some(cells) => Ok(SudokuPuzzle {
                cells: cells.map(|row| row.map(|c| c.filter(|&d| d != 0))),
            }),
            None => Err(WorldError::Prompt {
                task: "sudoku",
                prompt: prompt.to_owned(),
                reason: "expected `sudoku RRRR|RRRR|RRRR|RRRR =` with cells 1-4 or `.`".into(),
            }),
        }
    }

    /// Whether `grid` agrees with every given and keeps the rules.
    pub fn is_solved_by(&self, grid: &SudokuGrid) -> bool {
        is_valid_grid(grid)
            && self
                .cells
                .iter()
                .flatten()
                .zip(grid.iter().flatten())
                .all(|(given, &d)| given.is_none_or(|g| g == d))
    }
}

/// Whether `answer` solves the sudoku `prompt`: it reads as four rows of four digits 1–4
/// separated by `|` (surrounding whitespace ignored), agrees with every given, and every row,
/// column and 2×2 box is a permutation of 1–4. A malformed prompt has no right answer
/// (`false`).
pub fn check_sudoku(prompt: &str, answer: &str) -> bool {
    match (SudokuPuzzle::parse(prompt), parse_grid(answer)) {
        (Ok(puzzle), Some(grid)) => puzzle.is_solved_by(&grid),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;

    const EXAMPLE: &str = "sudoku 1.3.|.41.|4..3|2.4. =";

    #[test]
    fn there_are_288_grids_all_valid() {
        let grids = all_grids();
        assert_eq!(grids.len(), 288);
        assert!(grids.iter().all(is_valid_grid));
        let distinct: HashSet<_> = grids.iter().collect();
        assert_eq!(distinct.len(), 288);
        assert!(!is_valid_grid(&[
            [1, 2, 3, 4],
            [1, 2, 3, 4],
            [3, 4, 1, 2],
            [4, 3, 2, 1]
        ]));
        assert!(!is_valid_grid(&[
            [1, 2, 3, 4],
            [3, 4, 1, 2],
            [2, 1, 4, 3],
            [4, 3, 2, 0]
        ]));
        // Rows and columns fine, boxes not.
        assert!(!is_valid_grid(&[
            [1, 2, 3, 4],
            [2, 3, 4, 1],
            [3, 4, 1, 2],
            [4, 1, 2, 3]
        ]));
    }

    #[test]
    fn the_example() {
        let p = SudokuPuzzle::parse(EXAMPLE).expect("parses");
        assert_eq!(p.prompt(), EXAMPLE);
        assert_eq!(p.blanks(), 8);
        let sols = p.solutions(10);
        assert_eq!(sols.len(), 1);
        assert_eq!(format_grid(&sols[0]), "1234|3412|4123|2341");
        assert!(check_sudoku(EXAMPLE, "1234|3412|4123|2341"));
        assert!(check_sudoku(EXAMPLE, " 1234|3412|4123|2341\n"));
    }

    #[test]
    fn answers_are_judged_by_the_rules() {
        // Two solutions of an almost empty puzzle are both right.
        let open = "sudoku 1...|....|....|.... =";
        let p = SudokuPuzzle::parse(open).expect("parses");
        let sols = p.solutions(usize::MAX);
        assert_eq!(sols.len(), 288 / 4);
        for s in &sols {
            assert!(check_sudoku(open, &format_grid(s)));
        }
        // A valid grid that ignores a given is wrong.
        assert!(!check_sudoku(EXAMPLE, "2143|3412|4321|1234"));
        // Breaking the rules, or the form, is wrong.
        for bad in [
            "1234|3412|4123|2314",
            "1234|3412|4123",
            "1234|3412|4123|2341|1234",
            "1234 3412 4123 2341",
            "1234|3412|4123|234",
            "1234|3412|4123|23411",
            "1234|3412|4123|2345",
            "1234||3412|4123|2341",
            "",
        ] {
            assert!(!check_sudoku(EXAMPLE, bad), "`{bad}` accepted");
        }
        assert!(!check_sudoku(
            "sudoku 1.3.|.41.|4..3 =",
            "1234|3412|4123|2341"
        ));
    }

    #[test]
    fn malformed_prompts_are_errors() {
        for bad in [
            "",
            "sudoku =",
            "sudoku 1.3.|.41.|4..3|2.4.",
            "1.3.|.41.|4..3|2.4. =",
            "sudoku 1.3.|.41.|4..3 =",
            "sudoku 1.3.|.41.|4..3|2.4.|.... =",
            "sudoku 1.3.|.41.|4..3|2.5. =",
            "sudoku 1.3.|.41.|4..3|2.4 . =",
            "sudoku 1030|0410|4003|2040 =",
        ] {
            assert!(
                matches!(
                    SudokuPuzzle::parse(bad),
                    Err(WorldError::Prompt { task: "sudoku", .. })
                ),
                "`{bad}` parsed"
            );
        }
    }

    #[test]
    fn generated_puzzles_are_unique_and_in_range() {
        let mut rng = SplitMix64::new(12);
        let mut blank_counts = HashSet::new();
        for _ in 0..500 {
            let (p, solution) = SudokuPuzzle::sample(&mut rng);
            assert!((MIN_BLANKS..=MAX_BLANKS).contains(&p.blanks()));
            blank_counts.insert(p.blanks());
            assert_eq!(p.solutions(usize::MAX), vec![solution]);
            assert_eq!(SudokuPuzzle::parse(&p.prompt()), Ok(p));
            assert!(check_sudoku(&p.prompt(), &format_grid(&solution)));
        }
        assert_eq!(blank_counts.len(), MAX_BLANKS - MIN_BLANKS + 1);
    }

    #[test]
    fn grid_text_round_trips() {
        for g in all_grids() {
            assert_eq!(parse_grid(&format_grid(g)), Some(*g));
        }
    }
}
