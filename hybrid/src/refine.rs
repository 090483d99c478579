//! Refinement after decoding: committed tokens are masked again and re-predicted with the
//! rest of the answer visible. Two ways of choosing what to re-mask:
//!
//! - [`refine_round`] (`refine:ROUNDS:FRACTION`): the least confident `FRACTION` of the
//!   answer, by the confidence each token was decoded with — cheap (one forward), but that
//!   confidence is stale: it was measured when less of the answer was visible.
//! - [`recheck_round`] (`recheck:ROUNDS:GROUPS:BELOW`): first *re-score* every token with
//!   the finished answer as its context — the answer is split into `GROUPS` interleaved
//!   groups, each masked in turn, and each token's support is the probability the model
//!   gives it there — then re-mask only tokens whose support is below `BELOW`, and stop as
//!   soon as none is. A token that contradicts the rest of a finished answer (a sudoku digit
//!   repeated in its row) gets low support however confidently it was first decoded, and a
//!   consistent answer is left alone. Costs `GROUPS` forwards per round, plus one when
//!   something is re-masked. This is the self-verification idea of re-scoring a finished
//!   sample with the denoiser itself (as in the "remasking as self-correction" line of work,
//!   e.g. ReMDM's confidence variant), applied once the whole answer is known.

use tessera_kernels::row_stats;

use crate::llada::{PlannedBlock, Scorer, restrict};
use crate::pass::{Pass, Reuse};
use crate::{Denoiser, Error, NoiseKey, NoisePurpose, NoiseSource, PositionEvent, TokenEvent};

/// The result of one refinement round.
#[derive(Debug, Default)]
pub(crate) struct Round {
    /// Forward passes spent.
    pub nfe: usize,
    /// Tokens that changed.
    pub changed: usize,
    /// Tokens committed.
    pub tokens: Vec<TokenEvent>,
    /// Positions re-masked.
    pub remasked: Vec<PositionEvent>,
}

/// What a refinement round works on: the decoding's pass, plan and canvas.
pub(crate) struct Canvas<'c, 'p> {
    /// The forward pass.
    pub pass: &'c Pass<'p>,
    /// The blocks (for each position's vocabulary).
    pub plan: &'c [PlannedBlock],
    /// `[rows × len]` tokens.
    pub x: &'c mut [u32],
    /// The confidence each token was committed with.
    pub running: &'c mut [f64],
    /// Prompt length (the answer follows it).
    pub prompt_len: usize,
}

impl Canvas<'_, '_> {
    fn vocab_at(&self, p: usize) -> Option<std::ops::Range<u32>> {
        self.plan
            .iter()
            .find(|b| (b.start..b.end).contains(&(p - self.prompt_len)))
            .and_then(|b| b.vocab.clone())
    }
}

/// One `refine:ROUNDS:FRACTION` round: in every row, re-mask the least confident `fraction`
/// of the answer and re-predict it.
pub(crate) fn refine_round<D: Denoiser + ?Sized>(
    model: &D,
    canvas: &mut Canvas<'_, '_>,
    fraction: f64,
    scorer: &mut Scorer<'_>,
    noise: &dyn NoiseSource,
    step: usize,
) -> Result<Round, Error> {
    let (total, prompt_len) = (canvas.pass.len, canvas.prompt_len);
    let gen_length = total - prompt_len;
    let count = ((gen_length as f64 * fraction).ceil() as usize).clamp(1, gen_length);
    let chosen: Vec<Vec<usize>> = (0..canvas.pass.rows)
        .map(|r| {
            let conf = &canvas.running[r * total..(r + 1) * total];
            let mut order: Vec<usize> = (prompt_len..total).collect();
            order.sort_by(|&a, &b| conf[a].total_cmp(&conf[b]).then(a.cmp(&b)));
            order.truncate(count);
            order.sort_unstable();
            order
        })
        .collect();
    repredict(model, canvas, &chosen, scorer, noise, step)
}

/// One `recheck:ROUNDS:GROUPS:BELOW` round: re-score every answer token in `groups` masked
/// passes, then re-mask and re-predict those whose support is below `below`. When no token
/// in any row is below it, nothing is re-masked (the round's `remasked` is empty) and the
/// caller skips the remaining rounds.
pub(crate) fn recheck_round<D: Denoiser + ?Sized>(
    model: &D,
    canvas: &mut Canvas<'_, '_>,
    groups: usize,
    below: f64,
    scorer: &mut Scorer<'_>,
    noise: &dyn NoiseSource,
    step: usize,
) -> Result<Round, Error> {
    let support = support(model, canvas, groups)?;
    let (total, prompt_len) = (canvas.pass.len, canvas.prompt_len);
    let chosen: Vec<Vec<usize>> = (0..canvas.pass.rows)
        .map(|r| {
            (prompt_len..total)
                .filter(|&p| support[r * total + p] < below)
                .collect()
        })
        .collect();
    if chosen.iter().all(Vec::is_empty) {
        return Ok(Round {
            nfe: groups,
            ..Round::default()
        });
    }
    let mut round = repredict(model, canvas, &chosen, scorer, noise, step)?;
    round.nfe += groups;
    Ok(round)
}

/// The probability the model gives each answer token with the rest of the answer visible:
/// positions `prompt_len + i` with `i % groups == g` are masked together in pass `g`.
/// Entries outside the answer are 1.
fn support<D: Denoiser + ?Sized>(
    model: &D,
    canvas: &mut Canvas<'_, '_>,
    groups: usize,
) -> Result<Vec<f64>, Error> {
    let (total, prompt_len, rows) = (canvas.pass.len, canvas.prompt_len, canvas.pass.rows);
    let mut support = vec![1.0; canvas.x.len()];
    for g in 0..groups {
        let positions: Vec<usize> = (prompt_len + g..total).step_by(groups).collect();
        if positions.is_empty() {
            continue;
        }
        let saved: Vec<u32> = (0..rows)
            .flat_map(|r| positions.iter().map(move |&p| r * total + p))
            .map(|i| canvas.x[i])
            .collect();
        for r in 0..rows {
            for &p in &positions {
                canvas.x[r * total + p] = canvas.pass.mask;
            }
        }
        let logits = canvas.pass.run(model, canvas.x, &positions, Reuse::Full);
        // Put the answer back before looking at the result, so an error loses nothing.
        for (i, &t) in (0..rows)
            .flat_map(|r| positions.iter().map(move |&p| r * total + p))
            .zip(&saved)
        {
            canvas.x[i] = t;
        }
        let logits = logits?;
        for r in 0..rows {
            for (k, &p) in positions.iter().enumerate() {
                let (scores, offset) = restrict(logits.row(r, k), &canvas.vocab_at(p));
                let token = canvas.x[r * total + p];
                support[r * total + p] = token
                    .checked_sub(offset)
                    .and_then(|t| scores.get(t as usize))
                    .map_or(0.0, |&logit| f64::from(row_stats(scores).prob(logit)));
            }
        }
    }
    Ok(support)
}

/// Re-masks `chosen[row]` in every row, predicts them in one pass with everything else
/// visible, and commits the predictions.
fn repredict<D: Denoiser + ?Sized>(
    model: &D,
    canvas: &mut Canvas<'_, '_>,
    chosen: &[Vec<usize>],
    scorer: &mut Scorer<'_>,
    noise: &dyn NoiseSource,
    step: usize,
) -> Result<Round, Error> {
    let total = canvas.pass.len;
    let mut previous = Vec::with_capacity(chosen.len());
    for (r, row_positions) in chosen.iter().enumerate() {
        let row = &mut canvas.x[r * total..(r + 1) * total];
        previous.push(
            row_positions
                .iter()
                .map(|&p| (p, row[p]))
                .collect::<Vec<_>>(),
        );
        for &p in row_positions {
            row[p] = canvas.pass.mask;
        }
    }
    let mut positions: Vec<usize> = chosen.iter().flatten().copied().collect();
    positions.sort_unstable();
    positions.dedup();
    let logits = canvas.pass.run(model, canvas.x, &positions, Reuse::Full);
    let logits = match logits {
        Ok(l) => l,
        Err(e) => {
            // Put the answer back: a failed pass loses nothing.
            for (r, old) in previous.iter().enumerate() {
                for &(p, before) in old {
                    canvas.x[r * total + p] = before;
                }
            }
            return Err(e);
        }
    };
    let mut round = Round {
        nfe: 1,
        remasked: previous
            .iter()
            .enumerate()
            .flat_map(|(row, old)| {
                old.iter()
                    .map(move |&(position, _)| PositionEvent { row, position })
            })
            .collect(),
        ..Round::default()
    };
    for (r, old) in previous.iter().enumerate() {
        for &(p, before) in old {
            let k = positions
                .binary_search(&p)
                .map_err(|_| Error::Denoiser("refine position lost".into()))?;
            let key = NoiseKey {
                purpose: NoisePurpose::Gumbel,
                step: step as u32,
                row: r as u32,
                position: p as u32,
            };
            let (scores, offset) = restrict(logits.row(r, k), &canvas.vocab_at(p));
            let (token, confidence) = scorer.score(scores, offset, key, noise)?;
            canvas.x[r * total + p] = token;
            canvas.running[r * total + p] = confidence;
            round.changed += usize::from(token != before);
            round.tokens.push(TokenEvent {
                row: r,
                position: p,
                token,
                confidence,
            });
        }
    }
    Ok(round)
}
