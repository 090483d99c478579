//! The digit-place embedding: a Tessera extension of the LLaDA format that adds, to each
//! position's token embedding, a learned vector for the position's place in its run of digits,
//! counted from the run's right end (1 = units). It is how a small model lines up the digits
//! of equal significance in `123+45=` and in its answer, which plain RoPE positions do not
//! (McLeish et al. 2024, "Transformers Can Do Arithmetic with the Right Embeddings", whose
//! Abacus embedding counts from the left of least-significant-first numbers; here numbers are
//! written most-significant first, so places count from the right).
//!
//! Config (`config.json`): `"place_embedding": {"places": P, "digit_ids": [...]}`; weight
//! [`PLACE_TENSOR`] `[P, d_model]`. A run is a maximal stretch of digit ids *or mask ids*: the
//! place is a pure function of the ids the model sees, so training (on noisy ids) and decoding
//! (on a canvas being filled) compute it alike, and a fully masked answer span that ends a
//! right-aligned answer gets places 1, 2, 3, … from its end — the significance each answer
//! digit will have. Positions outside runs get place 0; places are capped at `P − 1`.

use serde::Serialize;

/// The weight of the place embedding, `[places, d_model]`.
pub const PLACE_TENSOR: &str = "model.transformer.wpe_place.weight";

/// Most places a config may ask for.
pub const MAX_PLACES: usize = 4096;

/// The place embedding's parameters.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PlaceEmbedding {
    /// Rows of the embedding: places `0..places` (0 = not in a run).
    pub places: usize,
    /// The token ids that are digits.
    pub digit_ids: Vec<u32>,
}

impl PlaceEmbedding {
    /// A place embedding of `places` rows over the digits `digit_ids`.
    ///
    /// # Errors
    /// A reason, when `places` is outside `2..=`[`MAX_PLACES`] or `digit_ids` is empty.
    pub fn new(places: usize, digit_ids: Vec<u32>) -> Result<Self, String> {
        if !(2..=MAX_PLACES).contains(&places) {
            return Err(format!(
                "places must be in 2..={MAX_PLACES}, found {places}"
            ));
        }
        if digit_ids.is_empty() {
            return Err("digit_ids is empty".into());
        }
        Ok(PlaceEmbedding { places, digit_ids })
    }

    /// Checks the ids against an embedding of `rows` rows whose mask id is `mask`.
    ///
    /// # Errors
    /// A reason naming the first bad id.
    pub fn check_ids(&self, rows: usize, mask: u32) -> Result<(), String> {
        if let Some(&bad) = self.digit_ids.iter().find(|&&d| d as usize >= rows) {
            return Err(format!(
                "digit id {bad} is outside the embedding ({rows} rows)"
            ));
        }
        if self.digit_ids.contains(&mask) {
            return Err(format!("the mask id {mask} cannot be a digit"));
        }
        Ok(())
    }

    /// The place of every position of `tokens` (rows of `len` ids, row-major): within a run
    /// of digit-or-`mask` ids, the distance to the run's right end plus one, capped at
    /// `places − 1`; 0 elsewhere.
    pub fn place_ids(&self, tokens: &[u32], len: usize, mask: u32) -> Vec<u32> {
        self.place_ids_keyed(tokens, len, mask, None)
    }

    /// As [`PlaceEmbedding::place_ids`], with the rows' key mask (`false` = padding): a
    /// padding position belongs to no run, whatever its id, so a row's places are the same
    /// however it is padded (a batch driver pads rows on the right with arbitrary ids).
    pub fn place_ids_keyed(
        &self,
        tokens: &[u32],
        len: usize,
        mask: u32,
        keys: Option<&[bool]>,
    ) -> Vec<u32> {
        let cap = (self.places - 1) as u32;
        let mut out = vec![0u32; tokens.len()];
        if len == 0 {
            return out;
        }
        for (r, (row, places)) in tokens.chunks(len).zip(out.chunks_mut(len)).enumerate() {
            let mut run = 0u32;
            for (j, (t, p)) in row.iter().zip(places.iter_mut()).enumerate().rev() {
                let real = keys.is_none_or(|k| k.get(r * len + j).copied().unwrap_or(true));
                run = if real && (*t == mask || self.digit_ids.contains(t)) {
                    run.saturating_add(1)
                } else {
                    0
                };
                *p = run.min(cap);
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn places_count_digits_and_masks_from_the_right_of_each_run() {
        // <bos> 1 2 3 + 4 5 = M M M M <eos> <eos>, digits 17..=26, mask 99.
        let pe = PlaceEmbedding::new(16, (17..27).collect()).unwrap();
        let m = 99;
        let row = [1, 18, 19, 20, 12, 21, 22, 13, m, m, m, m, 0, 0];
        assert_eq!(
            pe.place_ids(&row, row.len(), m),
            [0, 3, 2, 1, 0, 2, 1, 0, 4, 3, 2, 1, 0, 0]
        );
        // Two rows are independent; a run longer than the cap saturates.
        let capped = PlaceEmbedding::new(3, vec![5]).unwrap();
        assert_eq!(
            capped.place_ids(&[5, 5, 5, 5, 0, 5], 3, m),
            [2, 2, 1, 1, 0, 1]
        );
        // Padding breaks a run whatever its id.
        let keys = [true, true, false, true, true, true];
        assert_eq!(
            capped.place_ids_keyed(&[5, 5, 5, 5, 0, 5], 6, m, Some(&keys)),
            [2, 1, 0, 1, 0, 1]
        );
    }

    #[test]
    fn bad_parameters_are_refused() {
        assert!(PlaceEmbedding::new(1, vec![3]).is_err());
        assert!(PlaceEmbedding::new(MAX_PLACES + 1, vec![3]).is_err());
        assert!(PlaceEmbedding::new(8, vec![]).is_err());
        let pe = PlaceEmbedding::new(8, vec![3, 40]).unwrap();
        assert!(pe.check_ids(40, 39).is_err());
        assert!(pe.check_ids(41, 3).is_err());
        assert!(pe.check_ids(41, 39).is_ok());
    }
}
