//! Refinement rounds after decoding (`refine`, `recheck`): the positions come from
//! [`crate::remask`]; the scoring passes and the re-prediction are passes like any other.

use super::{CachePass, Decoding, Pending, Phase, Purpose};
use crate::controller::plan::vocab_at;
use crate::remask::{Remask, recheck, refine};
use crate::score::restrict;
use crate::{Error, Logits, NoiseKey, NoisePurpose, PositionEvent, StepInfo, TokenEvent};

impl<C> Decoding<'_, C> {
    /// Prepares the next refinement pass; `false` when refinement is over.
    pub(super) fn prepare_refine(&mut self) -> bool {
        let Phase::Refine {
            round,
            group,
            support,
        } = &mut self.phase
        else {
            return false;
        };
        let Some(b) = self.blocks.as_ref() else {
            self.phase = Phase::Done;
            return false;
        };
        if *round >= self.opts.remask.refine_rounds() {
            self.phase = Phase::Done;
            return false;
        }
        // cannot fail: `running` and `support` hold `rows × total` entries.
        let rows = 0..b.rows;
        let (chosen, extra_nfe) = match self.opts.remask {
            Remask::Refine { fraction, keep, .. } => {
                let chosen: Vec<Vec<usize>> = rows
                    .map(|r| {
                        let row = r * b.total..(r + 1) * b.total;
                        let (conf, given) = (&b.running[row.clone()], &b.prompt_index[row]);
                        refine::least_confident(conf, given, b.prompt_len, fraction, keep)
                    })
                    .collect();
                if chosen.iter().all(Vec::is_empty) {
                    // The model is sure of every token: nothing to refine, no pass spent.
                    self.phase = Phase::Done;
                    return false;
                }
                (chosen, 0)
            }
            Remask::Recheck {
                groups,
                below,
                keep,
                ..
            } => {
                while *group < groups {
                    // Every row shares the answer's template (PromptBatch::with_template).
                    let given = &b.prompt_index[..b.total];
                    let positions = recheck::group(given, b.prompt_len, groups, *group);
                    if positions.is_empty() {
                        // Group `g` is empty only past the generation, and so is every later
                        // one: skip them together (a huge `GROUPS` costs nothing).
                        *group = groups;
                        continue;
                    }
                    let x = b.masked(std::slice::from_ref(&positions));
                    self.pending = Some(Pending {
                        purpose: Purpose::Support,
                        tokens: b.pass.tokens(&x),
                        pass: None,
                        positions,
                        cache: CachePass::None,
                    });
                    return true;
                }
                let chosen: Vec<Vec<usize>> = rows
                    .map(|r| {
                        let row = r * b.total..(r + 1) * b.total;
                        recheck::unsupported(
                            &support[row.clone()],
                            &b.running[row.clone()],
                            &b.prompt_index[row],
                            b.prompt_len,
                            below,
                            keep,
                        )
                    })
                    .collect();
                if chosen.iter().all(Vec::is_empty) {
                    // Every token is supported: another round would find the same.
                    self.nfe = self.nfe.saturating_add(groups);
                    self.phase = Phase::Done;
                    return false;
                }
                (chosen, groups)
            }
            _ => {
                self.phase = Phase::Done;
                return false;
            }
        };
        let x = b.masked(&chosen);
        let mut positions: Vec<usize> = chosen.iter().flatten().copied().collect();
        positions.sort_unstable();
        positions.dedup();
        self.pending = Some(Pending {
            purpose: Purpose::Repredict { chosen, extra_nfe },
            tokens: b.pass.tokens(&x),
            pass: None,
            positions,
            cache: CachePass::None,
        });
        true
    }

    /// A refinement round's re-prediction: commit the new predictions of `chosen`.
    pub(super) fn repredict(
        &mut self,
        logits: &Logits,
        positions: &[usize],
        chosen: &[Vec<usize>],
    ) -> Result<(), Error> {
        let noise = self.noise.get();
        let Some(b) = self.blocks.as_mut() else {
            return Err(Error::OutOfOrder("a refinement without a canvas"));
        };
        let mut tokens = Vec::new();
        let mut changed = 0;
        for (r, row_positions) in chosen.iter().enumerate() {
            for &p in row_positions {
                let k = positions
                    .binary_search(&p)
                    .map_err(|_| Error::Denoiser("refine position lost".into()))?;
                let key = NoiseKey {
                    purpose: NoisePurpose::Gumbel,
                    step: self.global_step as u32,
                    row: r as u32,
                    position: p as u32,
                };
                let vocab = vocab_at(&b.plan, b.prompt_len, p);
                let (scores, offset) = restrict(logits.row(r, k), &vocab);
                let (token, confidence) = self.scorer.score(scores, offset, key, noise)?;
                // cannot fail: `p` is a canvas position of row `r < rows`.
                let i = r * b.total + p;
                changed += usize::from(token != b.x[i]);
                b.x[i] = token;
                b.running[i] = confidence;
                tokens.push(TokenEvent {
                    row: r,
                    position: p,
                    token,
                    confidence,
                });
            }
        }
        let remasked: Vec<PositionEvent> = chosen
            .iter()
            .enumerate()
            .flat_map(|(row, ps)| {
                ps.iter()
                    .map(move |&position| PositionEvent { row, position })
            })
            .collect();
        self.revised += changed;
        if let Phase::Refine {
            round,
            group,
            support,
        } = &mut self.phase
        {
            *round += 1;
            *group = 0;
            support.fill(1.0);
        }
        if remasked.is_empty() {
            self.phase = Phase::Done;
            return Ok(());
        }
        self.global_step += 1;
        self.events.push(StepInfo::new(
            self.global_step,
            self.total_steps,
            tokens,
            remasked,
        ));
        Ok(())
    }
}
