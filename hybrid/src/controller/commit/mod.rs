//! Commit strategies: what a block step does with one row's scored candidates. One strategy
//! per file behind [`CommitStrategy`], chosen once per request by [`strategy`]:
//!
//! | strategy | from | does |
//! |---|---|---|
//! | [`rule::Rules`] | `--unmask`, `--policy` | commits what the block's unmask rule picks; committed tokens are final |
//! | [`rcr::RunningConfidence`] | `--remask rcr` | ranks new predictions with the block's committed tokens and keeps the schedule's count (may re-mask) |
//! | [`remdm::ReMdmCommit`] | `--remask remdm-*` | fills to the schedule's target, then re-masks earlier tokens at random with ReMDM's σ |

mod rcr;
mod remdm;
mod rule;

use std::ops::Range;

use crate::remask::Remask;
use crate::unmask::{Candidate, StepContext, UnmaskRule};
use crate::{Error, NoiseSource, PositionEvent, TokenEvent};

/// One row of one block step, as a strategy sees it.
pub(crate) struct RowStep<'a> {
    /// Batch row.
    pub(crate) row: usize,
    /// The row's canvas.
    pub(crate) x: &'a mut [u32],
    /// The confidence each committed position of the row was decoded with.
    pub(crate) conf: &'a mut [f64],
    /// Which positions of the row are prompt.
    pub(crate) is_prompt: &'a [bool],
    /// The block being decoded (canvas positions).
    pub(crate) block: Range<usize>,
    /// The mask id.
    pub(crate) mask: u32,
    /// Where the step is in the block's schedule.
    pub(crate) ctx: StepContext,
    /// The block's unmask rule.
    pub(crate) rule: &'a dyn UnmaskRule,
    /// Steps taken by the whole request so far (noise keys).
    pub(crate) global_step: usize,
}

impl RowStep<'_> {
    /// Commits `c` and records it.
    pub(crate) fn commit(&mut self, c: &Candidate, out: &mut Committed) {
        // cannot fail: candidates are positions of this row's canvas (`x` and `conf` alike).
        self.x[c.position] = c.token;
        self.conf[c.position] = c.confidence;
        out.tokens.push(TokenEvent {
            row: self.row,
            position: c.position,
            token: c.token,
            confidence: c.confidence,
        });
    }

    /// Masks `position` again and records it.
    pub(crate) fn remask(&mut self, position: usize, out: &mut Committed) {
        // cannot fail: `position` was decoded earlier in this row's block.
        self.x[position] = self.mask;
        out.remasked.push(PositionEvent {
            row: self.row,
            position,
        });
    }

    /// The block's positions decoded by earlier steps (not prompt, not masked).
    pub(crate) fn decoded(&self) -> impl Iterator<Item = usize> + '_ {
        // cannot fail: the block lies inside the row (`x` and `is_prompt` alike).
        self.block
            .clone()
            .filter(|&p| self.x[p] != self.mask && !self.is_prompt[p])
    }
}

/// What a step committed and re-masked, over its rows.
#[derive(Debug, Default)]
pub(crate) struct Committed {
    pub(crate) tokens: Vec<TokenEvent>,
    pub(crate) remasked: Vec<PositionEvent>,
}

/// Decides, for one row of one block step, which candidates to commit and which committed
/// tokens to mask again.
pub(crate) trait CommitStrategy: Send + Sync + std::fmt::Debug {
    /// Applies the step to `row` (candidates: this step's predictions for its masked
    /// positions), recording every change in `out`.
    ///
    /// # Errors
    /// Missing recorded noise.
    fn commit(
        &self,
        row: RowStep<'_>,
        candidates: Vec<Candidate>,
        noise: &dyn NoiseSource,
        out: &mut Committed,
    ) -> Result<(), Error>;
}

/// The strategy a request's remask option implies.
pub(crate) fn strategy(remask: Remask) -> Box<dyn CommitStrategy> {
    match (remask, remask.remdm()) {
        (Remask::Rcr, _) => Box::new(rcr::RunningConfidence),
        (_, Some(schedule)) => Box::new(remdm::ReMdmCommit { schedule }),
        _ => Box::new(rule::Rules),
    }
}
