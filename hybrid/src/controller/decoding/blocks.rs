//! The block plan's steps: which positions a step predicts and with which cache, then the
//! scored candidates of each row handed to the commit strategy.

use super::{CachePass, Decoding, Pending, Phase, Purpose};
use crate::cache::CacheMode;
use crate::controller::commit::{Committed, RowStep};
use crate::controller::finish::finish_at_eos;
use crate::score::restrict;
use crate::unmask::{Candidate, StepContext};
use crate::{Error, Logits, NoiseKey, NoisePurpose, Span, StepInfo};

impl<C> Decoding<'_, C> {
    /// Prepares the block plan's next step; `false` when the step needed no pass or the
    /// block (or plan) ended.
    pub(super) fn prepare_block_step(&mut self) -> bool {
        let Some(b) = self.blocks.as_mut() else {
            self.phase = Phase::Done;
            return false;
        };
        if b.block >= b.plan.len() {
            self.end_blocks();
            return false;
        }
        // cannot fail: `block < plan.len()` (just above) and `rules` has one rule per block;
        // the plan's blocks lie inside the canvas, `x` holds `rows × total` tokens.
        let planned = &b.plan[b.block];
        let (start, end) = (b.prompt_len + planned.start, b.prompt_len + planned.end);
        let fixed = b.rules[b.block].fixed_steps();
        let mask = b.pass.mask;
        if !b.started {
            b.initial = (0..b.rows).map(|r| b.block_masks(r)).collect();
            // Count rules run the planned steps; confidence rules run until the block is
            // decoded (each step commits at least one token per row, so this bounds them).
            b.max_steps = if fixed {
                planned.steps
            } else {
                (0..b.rows)
                    .map(|r| {
                        b.x[r * b.total..r * b.total + end]
                            .iter()
                            .filter(|&&t| t == mask)
                            .count()
                    })
                    .max()
                    .unwrap_or(0)
            };
            // The block's first pass (re)builds the cache; later passes recompute the span.
            self.kv = None;
            b.started = true;
            b.step = 0;
        }
        if b.step >= b.max_steps || (!fixed && (0..b.rows).all(|r| b.block_masks(r) == 0)) {
            b.block += 1;
            b.started = false;
            return false;
        }
        let cache = self.opts.cache;
        let cached = cache != CacheMode::None && self.kv.is_some();
        // A cached pass predicts only inside its span (masks left in the prompt are decoded
        // by the block's full passes).
        let first = if cached || b.structured || cache == CacheMode::Block {
            start
        } else {
            0
        };
        let positions: Vec<usize> = (first..end)
            .filter(|&p| (0..b.rows).any(|r| b.x[r * b.total + p] == mask))
            .collect();
        if positions.is_empty() {
            // Nothing left to predict: the block's remaining steps pass without a forward.
            // With no masks left anywhere in the block they are skipped as one report, so a
            // schedule of far more steps than tokens costs nothing.
            let skipped = if (0..b.rows).all(|r| b.block_masks(r) == 0) {
                b.max_steps.saturating_sub(b.step).max(1)
            } else {
                1
            };
            b.step += skipped;
            self.global_step += skipped;
            self.events.push(StepInfo::new(
                self.global_step,
                self.total_steps,
                Vec::new(),
                Vec::new(),
            ));
            self.check_until_eos();
            return false;
        }
        let how = match (cached, cache) {
            (_, CacheMode::None) => CachePass::None,
            (_, CacheMode::Block) => {
                // The block's first pass also recomputes the blocks finished since the cache
                // was last extended, and appends them.
                let span = Span {
                    start: self.covered,
                    end,
                };
                self.covered = start;
                CachePass::Extend { span, keep: start }
            }
            (true, _) => CachePass::Span(cache.span(start, end, b.total)),
            (false, _) => CachePass::Build,
        };
        self.pending = Some(Pending {
            purpose: Purpose::BlockStep,
            tokens: b.pass.tokens(&b.x),
            pass: None,
            positions,
            cache: how,
        });
        true
    }

    /// `--until-eos`: once every row has committed EOS with everything before it decided,
    /// the block plan ends.
    pub(super) fn check_until_eos(&mut self) {
        if let (true, Some(eos), Some(b)) =
            (self.opts.until_eos, self.opts.eos_id, &mut self.blocks)
            && finish_at_eos(&mut b.x, b.rows, b.prompt_len, b.pass.mask, eos)
        {
            self.end_blocks();
        }
    }

    /// One block step: score every masked position of the pass, commit by the strategy.
    pub(super) fn block_step(&mut self, logits: &Logits, positions: &[usize]) -> Result<(), Error> {
        let noise = self.noise.get();
        let Some(b) = self.blocks.as_mut() else {
            return Err(Error::OutOfOrder("a block step without a canvas"));
        };
        // cannot fail: this step was prepared by `prepare_block_step` with `block < plan.len()`;
        // `finish` checked the logits against the pass's positions, which are canvas positions.
        let planned = &b.plan[b.block];
        let (start, end) = (b.prompt_len + planned.start, b.prompt_len + planned.end);
        let rule = b.rules[b.block].as_ref();
        let mask = b.pass.mask;
        let total = b.total;
        let mut out = Committed::default();
        for r in 0..b.rows {
            let ctx = StepContext {
                step: b.step,
                steps: planned.steps,
                initial_masked: b.initial[r],
                masked: b.block_masks(r),
            };
            let row = &mut b.x[r * total..(r + 1) * total];
            let mut candidates = Vec::with_capacity(positions.len());
            for (k, &p) in positions.iter().enumerate() {
                if row[p] != mask {
                    continue;
                }
                let key = NoiseKey {
                    purpose: NoisePurpose::Gumbel,
                    step: self.global_step as u32,
                    row: r as u32,
                    position: p as u32,
                };
                let (scores, offset) = restrict(logits.row(r, k), &planned.vocab);
                let (token, confidence) = self.scorer.score(scores, offset, key, noise)?;
                let mut candidate = Candidate::new(p, token, confidence);
                if rule.needs_entropy() {
                    candidate.entropy = f64::from(tessera_kernels::entropy(scores));
                }
                if rule.needs_draw() {
                    candidate.draw = noise.uniform(NoiseKey {
                        purpose: NoisePurpose::Transfer,
                        ..key
                    })?;
                }
                candidates.push(candidate);
            }
            let step = RowStep {
                row: r,
                x: row,
                conf: &mut b.running[r * total..(r + 1) * total],
                is_prompt: &b.prompt_index[r * total..(r + 1) * total],
                block: start..end,
                mask,
                ctx,
                rule,
                global_step: self.global_step,
            };
            self.strategy.commit(step, candidates, noise, &mut out)?;
        }
        b.step += 1;
        self.revised += out.remasked.len();
        self.events.push(StepInfo::new(
            self.global_step + 1,
            self.total_steps,
            out.tokens,
            out.remasked,
        ));
        Ok(())
    }
}
