//! The plain strategy: the block's unmask rule picks, committed tokens are final.

use super::{CommitStrategy, Committed, RowStep};
use crate::unmask::Candidate;
use crate::{Error, NoiseSource};

/// Commits what the unmask rule selects.
#[derive(Debug)]
pub(crate) struct Rules;

impl CommitStrategy for Rules {
    fn commit(
        &self,
        mut row: RowStep<'_>,
        mut candidates: Vec<Candidate>,
        _: &dyn NoiseSource,
        out: &mut Committed,
    ) -> Result<(), Error> {
        let n = row
            .rule
            .select(&row.ctx, &mut candidates)
            .min(candidates.len());
        // cannot fail: `n ≤ candidates.len()` (the `min` above).
        for c in &candidates[..n] {
            row.commit(c, out);
        }
        Ok(())
    }
}
