//! `refine:ROUNDS:FRACTION[:KEEP]`: after decoding, each round re-masks the least confident
//! `FRACTION` of the answer, by the confidence each token was decoded with, except tokens
//! decoded with confidence `KEEP` or more, and re-predicts them in one pass with everything
//! else visible. Cheap (one forward), but that confidence is
//! stale: it was measured when less of the answer was visible ([`super::recheck`] re-scores
//! first).

/// The positions one refine round re-masks in a row: of the `fraction` (at least one) of the
/// answer — `prompt_len..conf.len()` less the positions `given` marks (an infilling
/// template's text) — with the lowest decoding confidence `conf`, those below `keep` (all of
/// them when `keep` is 1), ascending (none when the model was sure of every one).
pub(crate) fn least_confident(
    conf: &[f64],
    given: &[bool],
    prompt_len: usize,
    fraction: f64,
    keep: f64,
) -> Vec<usize> {
    // cannot fail: `conf` and `given` are whole rows (`prompt_len ≤ total`), so `order`
    // indexes both; an answer of only given positions re-masks nothing.
    let total = conf.len();
    let mut order: Vec<usize> = (prompt_len..total).filter(|&p| !given[p]).collect();
    let gen_length = order.len();
    if gen_length == 0 {
        return Vec::new();
    }
    let count = ((gen_length as f64 * fraction).ceil() as usize).clamp(1, gen_length);
    order.sort_by(|&a, &b| conf[a].total_cmp(&conf[b]).then(a.cmp(&b)));
    order.truncate(count);
    order.retain(|&p| keep >= 1.0 || conf[p] < keep);
    order.sort_unstable();
    order
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn picks_the_least_confident_fraction_in_canvas_order() {
        let conf = [9.0, 9.0, 0.5, 0.1, 0.9, 0.2];
        let none = [false; 6];
        assert_eq!(least_confident(&conf, &none, 2, 0.5, 1.0), vec![3, 5]);
        assert_eq!(least_confident(&conf, &none, 2, 0.01, 1.0), vec![3]);
        assert_eq!(least_confident(&conf, &none, 2, 1.0, 1.0), vec![2, 3, 4, 5]);
        // Sure tokens are spared; a sure answer leaves nothing to re-mask.
        assert_eq!(least_confident(&conf, &none, 2, 1.0, 0.9), vec![2, 3, 5]);
        assert_eq!(least_confident(&conf, &none, 2, 0.5, 0.15), vec![3]);
        assert!(least_confident(&conf, &none, 2, 0.5, 0.05).is_empty());
        // An infilling template's given text is never re-masked, whatever `KEEP` says; the
        // fraction is of the blanks.
        let given = [true, true, false, true, false, true];
        assert_eq!(least_confident(&conf, &given, 2, 1.0, 1.0), vec![2, 4]);
        assert_eq!(least_confident(&conf, &given, 2, 0.5, 1.0), vec![2]);
        assert!(least_confident(&conf, &[true; 6], 2, 1.0, 1.0).is_empty());
    }
}
