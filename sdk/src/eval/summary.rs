//! What remasking and parallel decoding buy, per task: from an evaluation's rows, the best
//! policy that commits one token per forward, the fastest policy within one point of it, and
//! that fast policy with remasking.

use serde::Serialize;

use super::{EvalPolicy, EvalRow, Steps};

/// How far below the best one-token policy a fast policy may be: one point of accuracy.
pub const WITHIN: f64 = 0.01;

/// One policy's result in a [`Summary`].
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Pick {
    /// The policy's name.
    pub policy: String,
    /// Its accuracy.
    pub accuracy: f64,
    /// Forward passes per generated token.
    pub forwards_per_token: f64,
}

impl Pick {
    fn of(row: &EvalRow) -> Pick {
        Pick {
            policy: row.policy.clone(),
            accuracy: row.accuracy,
            forwards_per_token: row.forwards_per_token,
        }
    }
}

/// One task (and rendering) of the summary.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Summary {
    /// The task.
    pub task: String,
    /// The rendering of its input.
    pub rendering: String,
    /// The most accurate policy committing one token per forward (`ar`, `diffusion`), fewer
    /// forwards breaking ties.
    pub best_one_token: Pick,
    /// The policy without remasking with the fewest forwards per token whose accuracy is
    /// within [`WITHIN`] of [`Summary::best_one_token`]'s.
    pub fastest_within: Pick,
    /// [`Summary::fastest_within`]'s policy with remasking (`+refine`, `+recheck` or a full
    /// rule), the most accurate such row, if the evaluation ran one.
    pub fastest_with_remask: Option<Pick>,
}

/// The summary of `rows`, one entry per task and rendering that has a one-token policy row,
/// in the rows' order.
pub fn summarize(rows: &[EvalRow]) -> Vec<Summary> {
    let parsed: Vec<(&EvalRow, EvalPolicy)> = rows
        .iter()
        .filter_map(|r| EvalPolicy::parse(&r.policy).ok().map(|p| (r, p)))
        .collect();
    let mut out: Vec<Summary> = Vec::new();
    for (row, _) in &parsed {
        if out
            .iter()
            .any(|s| s.task == row.task && s.rendering == row.rendering)
        {
            continue;
        }
        let group: Vec<&(&EvalRow, EvalPolicy)> = parsed
            .iter()
            .filter(|(r, _)| r.task == row.task && r.rendering == row.rendering)
            .collect();
        let better = |a: &EvalRow, b: &EvalRow| {
            a.accuracy > b.accuracy
                || (a.accuracy == b.accuracy && a.forwards_per_token < b.forwards_per_token)
        };
        let mut best: Option<&EvalRow> = None;
        for (r, p) in &group {
            if p.steps == Steps::One && p.refine.is_none() && best.is_none_or(|b| better(r, b)) {
                best = Some(r);
            }
        }
        let Some(best) = best else { continue };
        let mut fast: Option<(&EvalRow, &EvalPolicy)> = None;
        for (r, p) in &group {
            let close = r.accuracy >= best.accuracy - WITHIN - 1e-12;
            let quicker = fast.is_none_or(|(f, _)| {
                r.forwards_per_token < f.forwards_per_token
                    || (r.forwards_per_token == f.forwards_per_token && r.accuracy > f.accuracy)
            });
            if p.refine.is_none() && close && quicker {
                fast = Some((r, p));
            }
        }
        // cannot fail: the best one-token row is itself within reach.
        let Some((fast, fast_policy)) = fast else {
            continue;
        };
        let mut remask: Option<&EvalRow> = None;
        for (r, p) in &group {
            let same = p.policy == fast_policy.policy
                && p.steps == fast_policy.steps
                && p.cache == fast_policy.cache;
            if same && p.refine.is_some() && remask.is_none_or(|m| better(r, m)) {
                remask = Some(r);
            }
        }
        out.push(Summary {
            task: row.task.clone(),
            rendering: row.rendering.clone(),
            best_one_token: Pick::of(best),
            fastest_within: Pick::of(fast),
            fastest_with_remask: remask.map(Pick::of),
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(task: &str, policy: &str, accuracy: f64, fpt: f64) -> EvalRow {
        EvalRow {
            task: task.into(),
            policy: policy.into(),
            rendering: "canonical".into(),
            n: 200,
            correct: (accuracy * 200.0) as usize,
            accuracy,
            forwards_per_token: fpt,
            tokens_per_second: 1.0,
            revised: 0,
        }
    }

    #[test]
    fn picks_the_best_one_token_policy_the_fastest_close_one_and_its_remasked_twin() {
        let rows = [
            row("sudoku", "ar", 0.97, 1.0),
            row("sudoku", "diffusion", 0.99, 1.0),
            row("sudoku", "parallel@0.5", 0.85, 0.2),
            row("sudoku", "parallel@0.9", 0.985, 0.3),
            row("sudoku", "hybrid", 0.975, 0.25),
            row("sudoku", "parallel@0.9+refine", 0.99, 0.35),
            row("sudoku", "parallel@0.5+refine", 1.0, 0.3),
            row("t2i", "diffusion", 1.0, 1.0),
            row("t2i", "block", 0.95, 0.2),
        ];
        let s = summarize(&rows);
        assert_eq!(s.len(), 2);
        assert_eq!(s[0].best_one_token.policy, "diffusion");
        // hybrid is faster but 1.5 points down; parallel@0.9 is within one.
        assert_eq!(s[0].fastest_within.policy, "parallel@0.9");
        let remask = s[0].fastest_with_remask.as_ref().unwrap();
        assert_eq!(remask.policy, "parallel@0.9+refine");
        // Nothing close but the one-token policy itself, and no remasked row.
        assert_eq!(s[1].fastest_within.policy, "diffusion");
        assert!(s[1].fastest_with_remask.is_none());
    }
}
