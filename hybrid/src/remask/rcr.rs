//! Running-confidence remasking.

use crate::unmask::Candidate;

/// One RCR step for one row. `fresh` are this step's predictions for the masked positions,
/// `committed` the block's committed tokens with the confidence they were decoded at, and
/// `keep` the schedule's cumulative count for this step. Ranks both together by confidence
/// and keeps the best `keep`. Returns `(to_commit, to_remask)`: fresh candidates that made the
/// cut, and committed positions that did not.
pub(crate) fn running_confidence(
    fresh: &[Candidate],
    committed: &[Candidate],
    keep: usize,
) -> (Vec<Candidate>, Vec<usize>) {
    let mut pool: Vec<(bool, Candidate)> = fresh
        .iter()
        .map(|c| (true, *c))
        .chain(committed.iter().map(|c| (false, *c)))
        .collect();
    // Best first; among equals an already committed token stays (no churn on ties).
    pool.sort_by(|a, b| {
        b.1.confidence
            .total_cmp(&a.1.confidence)
            .then(a.0.cmp(&b.0))
            .then(a.1.position.cmp(&b.1.position))
    });
    // cannot fail: `keep ≤ pool.len()` after this `min`.
    let keep = keep.min(pool.len());
    let commit = pool[..keep]
        .iter()
        .filter(|(new, _)| *new)
        .map(|(_, c)| *c)
        .collect();
    let remask = pool[keep..]
        .iter()
        .filter(|(new, _)| !*new)
        .map(|(_, c)| c.position)
        .collect();
    (commit, remask)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(position: usize, confidence: f64) -> Candidate {
        Candidate::new(position, position as u32, confidence)
    }

    #[test]
    fn a_surer_new_prediction_displaces_a_doubtful_committed_token() {
        let committed = [c(0, 0.3), c(1, 0.9)];
        let fresh = [c(2, 0.8), c(3, 0.1)];
        let (commit, remask) = running_confidence(&fresh, &committed, 3);
        assert_eq!(
            commit.iter().map(|c| c.position).collect::<Vec<_>>(),
            vec![2]
        );
        assert!(remask.is_empty(), "0.3 still makes the top three");
        let (commit, remask) = running_confidence(&fresh, &committed, 2);
        assert_eq!(
            commit.iter().map(|c| c.position).collect::<Vec<_>>(),
            vec![2]
        );
        assert_eq!(remask, vec![0], "0.3 loses its place to 0.8");
        let (commit, remask) = running_confidence(&[], &committed, 5);
        assert!(commit.is_empty() && remask.is_empty());
    }
}
