//! Committing the `k` best candidates of a row.

/// Sorts `candidates` (`(confidence, position, token)`) by confidence, best first, and
/// writes the tokens of the first `k` into `row`. Returns how many were committed (fewer
/// than `k` only when there are fewer candidates). Ties go to the lower position.
pub(crate) fn commit_top_k(
    row: &mut [u32],
    candidates: &mut [(f64, usize, u32)],
    k: usize,
) -> usize {
    candidates.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
    let n = k.min(candidates.len());
    for &(_, p, token) in &candidates[..n] {
        row[p] = token;
    }
    n
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commits_the_most_confident() {
        let mut row = vec![9; 4];
        let mut c = vec![(0.1, 0, 5), (0.9, 2, 6), (0.5, 3, 7)];
        assert_eq!(commit_top_k(&mut row, &mut c, 2), 2);
        assert_eq!(row, vec![9, 9, 6, 7]);
        assert_eq!(commit_top_k(&mut row, &mut c, 10), 3);
        assert_eq!(row, vec![5, 9, 6, 7]);
    }
}
