//! `recheck:ROUNDS:GROUPS:BELOW:KEEP`: after decoding, each round first *re-scores* every answer
//! token with the finished answer as its context — the answer is split into `GROUPS`
//! interleaved groups, each masked in turn, and each token's support is the probability the
//! model gives it there — then re-masks only tokens whose support is below `BELOW`, and stops
//! as soon as none is. A token that contradicts the rest of a finished answer (a sudoku digit
//! repeated in its row) gets low support however confidently it was first decoded, and a
//! consistent answer is left alone. Tokens committed with confidence `KEEP` or more are spared
//! (default 0.99). Costs `GROUPS` forwards per round, plus one when something is
//! re-masked. This is the self-verification idea of re-scoring a finished sample with the
//! denoiser itself (as in the "remasking as self-correction" line of work, e.g. ReMDM's
//! confidence variant), applied once the whole answer is known.

/// The answer positions masked together in scoring pass `g` of `groups`: of the answer
/// `prompt_len..given.len()` less the positions `given` marks (an infilling template's
/// text), the `i`-th with `i % groups == g`.
pub(crate) fn group(given: &[bool], prompt_len: usize, groups: usize, g: usize) -> Vec<usize> {
    // cannot fail: `Remask::validate` refuses zero groups (`step_by(0)` would panic).
    (prompt_len..given.len())
        .filter(|&p| !given[p])
        .skip(g)
        .step_by(groups)
        .collect()
}

/// The answer positions of a row (not `given`) whose support is below `below` and whose
/// decoding confidence `conf` is below `keep` (any confidence when `keep` is 1), ascending.
pub(crate) fn unsupported(
    support: &[f64],
    conf: &[f64],
    given: &[bool],
    prompt_len: usize,
    below: f64,
    keep: f64,
) -> Vec<usize> {
    // cannot fail: `p < support.len() = conf.len() = given.len()` (rows of the canvas).
    (prompt_len..support.len())
        .filter(|&p| !given[p] && support[p] < below && (keep >= 1.0 || conf[p] < keep))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn groups_interleave_and_cover_the_answer_once() {
        let none = [false; 9];
        let mut all: Vec<usize> = (0..3).flat_map(|g| group(&none, 2, 3, g)).collect();
        assert_eq!(group(&none, 2, 3, 1), vec![3, 6]);
        all.sort_unstable();
        assert_eq!(all, (2..9).collect::<Vec<_>>());
        assert!(group(&none, 2, 3, 7).is_empty());
        // An infilling template's text is neither scored nor re-predicted.
        let mut given = none;
        (given[3], given[4]) = (true, true);
        assert_eq!(group(&given, 2, 3, 0), vec![2, 7]);
        assert_eq!(group(&given, 2, 3, 1), vec![5, 8]);
        let conf = [1.0, 1.0, 0.3, 0.3, 0.3];
        let support = [0.0, 0.0, 0.9, 0.2, 0.5];
        assert_eq!(
            unsupported(&support, &conf, &none[..5], 2, 0.5, 1.0),
            vec![3]
        );
        assert!(unsupported(&support, &conf, &given[..5], 2, 0.5, 1.0).is_empty());
        let sure = [1.0, 1.0, 0.3, 0.95, 0.3];
        assert!(unsupported(&support, &sure, &none[..5], 2, 0.5, 0.9).is_empty());
    }
}
