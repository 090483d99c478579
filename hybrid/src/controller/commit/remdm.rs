//! ReMDM as a commit strategy (the schedule is [`crate::remask::ReMdm`]).

use super::{CommitStrategy, Committed, RowStep};
use crate::remask::ReMdm;
use crate::unmask::{Candidate, by_confidence};
use crate::{Error, NoiseKey, NoisePurpose, NoiseSource};

/// Fills the block up to its target count, then masks tokens decoded before this step again
/// with the schedule's probability.
#[derive(Debug)]
pub(crate) struct ReMdmCommit {
    pub(crate) schedule: ReMdm,
}

impl CommitStrategy for ReMdmCommit {
    fn commit(
        &self,
        mut row: RowStep<'_>,
        mut candidates: Vec<Candidate>,
        noise: &dyn NoiseSource,
        out: &mut Committed,
    ) -> Result<(), Error> {
        let ctx = row.ctx;
        let before: Vec<usize> = row.decoded().collect();
        let target = self
            .schedule
            .target(ctx.step, ctx.steps, ctx.initial_masked);
        by_confidence(&mut candidates);
        let n = target.saturating_sub(before.len()).min(candidates.len());
        // cannot fail: `n ≤ candidates.len()` (the `min` above); `before` holds row positions.
        for c in &candidates[..n] {
            row.commit(c, out);
        }
        let psi: Vec<f64> = before.iter().map(|&p| row.conf[p]).collect();
        let sigmas = self
            .schedule
            .sigmas(ctx.step, ctx.steps, ctx.initial_masked, &psi);
        for (&position, &sigma) in before.iter().zip(&sigmas) {
            let key = NoiseKey {
                purpose: NoisePurpose::Revise,
                step: row.global_step as u32,
                row: row.row as u32,
                position: position as u32,
            };
            if sigma > 0.0 && noise.uniform(key)? < sigma {
                row.remask(position, out);
            }
        }
        Ok(())
    }
}
