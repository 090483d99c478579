//! `refine:ROUNDS:FRACTION[:KEEP]`: after decoding, each round re-masks the least confident
//! `FRACTION` of the answer, by the confidence each token was decoded with, except tokens
//! decoded with confidence `KEEP` or more, and re-predicts them in one pass with everything
//! else visible. Cheap (one forward), but that confidence is
//! stale: it was measured when less of the answer was visible ([`super::recheck`] re-scores
//! first).
//!
//! A re-prediction replaces a token only when it is surer of its new token than the decoding
//! was of the old one ([`revises`]): the running confidence of RCR applied to refinement.
//! Taking every re-prediction's argmax instead turns right answers wrong where the model is
//! torn: tessera-tiny sorting `3 2 1 4 0 4 4 0` commits the last `4` at 0.51 in a parallel
//! step, re-predicts `4` at 0.71 in round 1 and `3` at 0.51 in round 2 — a coin flip that
//! replaced a right answer (1–2 of 200 sorted lists at `parallel@0.5+refine`, issue 20).
//! A token decoded at 0.51 that the model, seeing the rest, re-predicts at 0.9 as another
//! token is still revised: that is what refinement is for.

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

/// Whether a refine round's re-prediction `(new, new_confidence)` replaces the token `old`
/// committed at `old_confidence`: when it is another token and the model is now surer of it
/// than it was of `old` (a tie keeps `old`).
pub(crate) fn revises(old: u32, old_confidence: f64, new: u32, new_confidence: f64) -> bool {
    new != old && new_confidence > old_confidence
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

    #[test]
    fn revises_only_for_a_surer_other_token() {
        // The sorting case of the module docs: a 4 kept at 0.71 against a 3 at 0.51.
        assert!(!revises(20, 0.71, 19, 0.51));
        assert!(revises(20, 0.51, 19, 0.9));
        // A tie keeps the old token; the same token is no revision.
        assert!(!revises(20, 0.5, 19, 0.5));
        assert!(!revises(20, 0.2, 20, 0.9));
    }
}
