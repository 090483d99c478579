//! Running-confidence remasking as a commit strategy (the ranking is
//! [`crate::remask::running_confidence`]).

use super::{CommitStrategy, Committed, RowStep};
use crate::remask::running_confidence;
use crate::schedule::transfer_total;
use crate::unmask::Candidate;
use crate::{Error, NoiseSource};

/// Keeps the schedule's cumulative count among the block's committed tokens and the new
/// predictions together.
#[derive(Debug)]
pub(crate) struct RunningConfidence;

impl CommitStrategy for RunningConfidence {
    fn commit(
        &self,
        mut row: RowStep<'_>,
        candidates: Vec<Candidate>,
        _: &dyn NoiseSource,
        out: &mut Committed,
    ) -> Result<(), Error> {
        let ctx = row.ctx;
        let keep = transfer_total(ctx.initial_masked, ctx.steps, ctx.step);
        let old: Vec<Candidate> = row
            .decoded()
            // cannot fail: decoded positions lie in the row.
            .map(|p| Candidate::new(p, row.x[p], row.conf[p]))
            .collect();
        let (commit, remask) = running_confidence(&candidates, &old, keep);
        for c in &commit {
            row.commit(c, out);
        }
        for &position in &remask {
            row.remask(position, out);
        }
        Ok(())
    }
}
