//! DAEDAL's second stage: mask insertion while denoising (Li et al., "Beyond Fixed:
//! Variable-Length Denoising for Diffusion LLMs", 2025; written from the paper's algorithm and
//! its public reference sampler, not copied).
//!
//! Blocks are decoded left to right; a step commits what the threshold rule picks in the current
//! block ([`crate::unmask::Unmask::Threshold`]: every masked position at or above the threshold,
//! at least the most confident one). While a row's
//! model is not yet confident that its answer ends — the mean `<|eos|>` probability over the
//! last [`Insertion::eos_check`] positions predicted as `<|eos|>`, counted from the end of the
//! row's canvas, is below [`Insertion::eos_confident`] — the least confident masked position
//! of the block whose confidence is below [`Insertion::low`] is replaced by
//! [`Insertion::factor`] masks: the answer grows where the model lacks room, never beyond the
//! hard maximum. Rows grow independently; a shorter row's canvas is padded on the right with
//! keys the attention ignores, and its output is filled with `<|eos|>` after its end.
//!
//! The first stage (start short, append whole blocks while the end is not confident) is
//! [`super::expand`]; with `expand` on, both run, as in the paper.

use serde::{Deserialize, Serialize};

use crate::pass::Pass;
use crate::score::{Scorer, restrict};
use crate::unmask::{Candidate, StepContext, UnmaskRule};
use crate::{
    Error, Logits, NoiseKey, NoisePurpose, NoiseSource, PromptBatch, StepInfo, TokenEvent,
};

/// The insertion rule's parameters (defaults: the paper's).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Insertion {
    /// Confidence below which a masked position is a candidate for insertion.
    pub low: f64,
    /// Masks that replace an insertion point (the answer grows by `factor − 1`).
    pub factor: usize,
    /// Mean end-of-answer confidence from which a row stops growing.
    pub eos_confident: f64,
    /// How many `<|eos|>` predictions, counted from the end, the end confidence averages.
    pub eos_check: usize,
}

impl Default for Insertion {
    fn default() -> Self {
        Insertion {
            low: 0.3,
            factor: 2,
            eos_confident: 0.9,
            eos_check: 8,
        }
    }
}

impl Insertion {
    /// Checks the parameters; errors name the `insert` option.
    pub(crate) fn validate(&self) -> Result<(), Error> {
        let bad = |reason: String| Err(Error::option("insert", reason));
        if !(self.low > 0.0 && self.low < 1.0) {
            return bad(format!("low confidence {} must be in (0, 1)", self.low));
        }
        if self.factor < 2 {
            return bad(format!("factor {} must be at least 2", self.factor));
        }
        if !(self.eos_confident > 0.0 && self.eos_confident <= 1.0) {
            return bad(format!(
                "end confidence {} must be in (0, 1]",
                self.eos_confident
            ));
        }
        if self.eos_check == 0 {
            return bad("eos-check must be at least 1".into());
        }
        Ok(())
    }
}

/// One row's answer while it is decoded.
#[derive(Debug, Clone)]
struct Row {
    /// The answer's ids (mask where undecided).
    answer: Vec<u32>,
    /// Start of the block being decoded (answer-relative).
    block: usize,
}

/// Decoding with insertion, in progress. The options are validated by the caller: threshold
/// unmasking (the commit rule), no cache, no remasking, an EOS id, full attention.
pub(crate) struct InsertRun {
    insertion: Insertion,
    max_length: usize,
    eos: u32,
    mask: u32,
    vocab: usize,
    block_length: usize,
    cfg_scale: f64,
    restrict_to: Option<std::ops::Range<u32>>,
    rule: Box<dyn UnmaskRule>,
    prompts: PromptBatch,
    state: Vec<Row>,
    step: usize,
}

impl std::fmt::Debug for InsertRun {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InsertRun")
            .field("insertion", &self.insertion)
            .field("max_length", &self.max_length)
            .field("step", &self.step)
            .finish_non_exhaustive()
    }
}

/// The request's facts insertion needs.
#[derive(Debug, Clone)]
pub(crate) struct InsertSpan {
    /// Starting answer length.
    pub(crate) gen_length: usize,
    /// Hard maximum of the answer's length.
    pub(crate) max_length: usize,
    /// Block length.
    pub(crate) block_length: usize,
    /// The mask id.
    pub(crate) mask: u32,
    /// The EOS id.
    pub(crate) eos: u32,
    /// Width of the model's logits rows.
    pub(crate) vocab: usize,
    /// Classifier-free guidance scale.
    pub(crate) cfg_scale: f64,
    /// The ids answer positions may take.
    pub(crate) restrict_to: Option<std::ops::Range<u32>>,
}

/// One step's pass: the canvas (rows padded on the right to the longest answer), how to run
/// it, and which rows are still decoding.
#[derive(Debug)]
pub(crate) struct InsertPass {
    pub(crate) pass: Pass,
    pub(crate) x: Vec<u32>,
    pub(crate) positions: Vec<usize>,
    pub(crate) live: Vec<bool>,
}

impl InsertRun {
    /// Starts decoding `prompts` with answers of `span.gen_length` masks.
    pub(crate) fn new(
        prompts: &PromptBatch,
        span: InsertSpan,
        insertion: Insertion,
        rule: Box<dyn UnmaskRule>,
    ) -> Self {
        InsertRun {
            insertion,
            max_length: span.max_length,
            eos: span.eos,
            mask: span.mask,
            vocab: span.vocab,
            block_length: span.block_length,
            cfg_scale: span.cfg_scale,
            restrict_to: span.restrict_to,
            rule,
            prompts: prompts.clone(),
            state: (0..prompts.rows())
                .map(|_| Row {
                    answer: vec![span.mask; span.gen_length],
                    block: 0,
                })
                .collect(),
            step: 0,
        }
    }

    /// Each step commits at least one token per unfinished row and grows a row by at most
    /// `factor − 1`, so a row takes at most `max_length` steps.
    pub(crate) fn total_steps(&self) -> usize {
        self.max_length
    }

    /// The next step's pass, or `None` when every row is decoded.
    pub(crate) fn next(&self) -> Option<InsertPass> {
        let live: Vec<bool> = self
            .state
            .iter()
            .map(|s| s.block < s.answer.len())
            .collect();
        if !live.iter().any(|&l| l) {
            return None;
        }
        let (rows, prompt_len) = (self.prompts.rows(), self.prompts.len());
        let width = self.width();
        let total = prompt_len + width;
        // cannot fail: `check_canvas` bounded `rows × (prompt + max-length)`; every answer is at
        // most `width` long; prompt rows are `prompt_len` long.
        let mut x = Vec::with_capacity(rows * total);
        let mut keys = Vec::with_capacity(rows * total);
        for (r, s) in self.state.iter().enumerate() {
            x.extend_from_slice(&self.prompts.tokens()[r * prompt_len..(r + 1) * prompt_len]);
            match self.prompts.attention() {
                Some(a) => keys.extend_from_slice(&a[r * prompt_len..(r + 1) * prompt_len]),
                None => keys.extend(std::iter::repeat_n(true, prompt_len)),
            }
            x.extend_from_slice(&s.answer);
            x.extend(std::iter::repeat_n(self.eos, width - s.answer.len()));
            keys.extend(std::iter::repeat_n(true, s.answer.len()));
            keys.extend(std::iter::repeat_n(false, width - s.answer.len()));
        }
        let prompt_index: Vec<bool> = (0..rows * total).map(|i| i % total < prompt_len).collect();
        let pass = Pass::new(
            rows,
            total,
            self.mask,
            self.vocab,
            Some(keys),
            self.cfg_scale,
            prompt_index,
        );
        Some(InsertPass {
            pass,
            x,
            positions: (prompt_len..total).collect(),
            live,
        })
    }

    /// Takes the logits of the pass [`InsertRun::next`] gave: commits, inserts, and reports
    /// the step.
    pub(crate) fn advance(
        &mut self,
        logits: &Logits,
        live: &[bool],
        scorer: &mut Scorer,
        noise: &dyn NoiseSource,
    ) -> Result<StepInfo, Error> {
        let (prompt_len, mask, eos) = (self.prompts.len(), self.mask, self.eos);
        let (insertion, max_length, block_length) =
            (self.insertion, self.max_length, self.block_length);
        let mut tokens = Vec::new();
        // cannot fail below: `live` has a flag per row; `finish` checked the logits against the
        // pass's `width` positions; the threshold rule selects `n ≤ candidates.len()`;
        // `factor ≥ 2` (validated) and `len < max_length` where `extra` is computed.
        for (r, s) in self.state.iter_mut().enumerate() {
            if !live[r] {
                continue;
            }
            let len = s.answer.len();
            let end_confidence = end_confidence(len, insertion.eos_check, |i| {
                // Over the position's own vocabulary, as its token is sampled.
                let (scores, offset) = restrict(logits.row(r, i), &self.restrict_to);
                let local = eos
                    .checked_sub(offset)
                    .map(|e| e as usize)
                    .filter(|&e| e < scores.len())?;
                let stats = tessera_kernels::row_stats(scores);
                (stats.argmax == local).then(|| stats.prob(scores[local]))
            });
            let block = s.block..(s.block + block_length).min(len);
            let mut candidates = Vec::new();
            for i in block.clone().filter(|&i| s.answer[i] == mask) {
                let key = NoiseKey {
                    purpose: NoisePurpose::Gumbel,
                    step: self.step as u32,
                    row: r as u32,
                    position: (prompt_len + i) as u32,
                };
                let (scores, offset) = restrict(logits.row(r, i), &self.restrict_to);
                let (token, confidence) = scorer.score(scores, offset, key, noise)?;
                candidates.push(Candidate::new(i, token, confidence));
            }
            // The threshold rule orders the candidates surest first and says how many to
            // commit (every one above the threshold, at least one).
            let ctx = StepContext {
                step: self.step,
                steps: max_length,
                initial_masked: block.len(),
                masked: candidates.len(),
            };
            let n = self.rule.select(&ctx, &mut candidates);
            // The insertion point: the least sure uncommitted candidate, if below `low`.
            let insert_at = (end_confidence < insertion.eos_confident && len < max_length)
                .then(|| candidates[n..].last())
                .flatten()
                .filter(|c| c.confidence < insertion.low)
                .map(|c| c.position);
            for c in &candidates[..n] {
                s.answer[c.position] = c.token;
                tokens.push(TokenEvent {
                    row: r,
                    position: prompt_len + c.position,
                    token: c.token,
                    confidence: c.confidence,
                });
            }
            if let Some(i) = insert_at {
                let extra = (insertion.factor - 1).min(max_length - len);
                s.answer
                    .splice(i..i, std::iter::repeat_n(mask, extra))
                    .for_each(drop);
            }
            while s.block < s.answer.len()
                && s.answer[s.block..(s.block + block_length).min(s.answer.len())]
                    .iter()
                    .all(|&t| t != mask)
            {
                s.block += block_length;
            }
        }
        self.step += 1;
        Ok(StepInfo::new(self.step, max_length, tokens, Vec::new()))
    }

    fn width(&self) -> usize {
        self.state.iter().map(|s| s.answer.len()).max().unwrap_or(0)
    }

    /// The canvases as they stand (shorter rows filled with EOS) and their length.
    pub(crate) fn canvas(&self) -> (Vec<u32>, usize) {
        let (rows, prompt_len) = (self.prompts.rows(), self.prompts.len());
        let width = self.width();
        // cannot fail: as in `next`.
        let total_len = prompt_len + width;
        let mut out = Vec::with_capacity(rows * total_len);
        for (r, s) in self.state.iter().enumerate() {
            out.extend_from_slice(&self.prompts.tokens()[r * prompt_len..(r + 1) * prompt_len]);
            out.extend_from_slice(&s.answer);
            out.extend(std::iter::repeat_n(self.eos, width - s.answer.len()));
        }
        (out, total_len)
    }
}

/// DAEDAL's end-of-answer confidence of a row of `len` positions: scanning from the end, the
/// `<|eos|>` probabilities of the first `check` positions whose prediction is `<|eos|>`
/// (`eos_at(i)` gives it, or `None`), summed and divided by `check`.
fn end_confidence(len: usize, check: usize, eos_at: impl Fn(usize) -> Option<f32>) -> f64 {
    let sum: f64 = (0..len)
        .rev()
        .filter_map(|i| eos_at(i).map(f64::from))
        .take(check)
        .sum();
    sum / check as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn end_confidence_averages_the_last_eos_predictions_over_the_check_count() {
        let probs = [None, Some(0.5), None, Some(0.9), Some(0.7)];
        assert!((end_confidence(5, 2, |i| probs[i]) - 0.8).abs() < 1e-6);
        // Fewer EOS predictions than the check count still divide by it.
        assert!((end_confidence(5, 4, |i| probs[i]) - 2.1 / 4.0).abs() < 1e-6);
        assert_eq!(end_confidence(5, 3, |_| None), 0.0);
    }

    #[test]
    fn parameters_are_checked() {
        assert!(Insertion::default().validate().is_ok());
        for bad in [
            Insertion {
                low: 0.0,
                ..Insertion::default()
            },
            Insertion {
                factor: 1,
                ..Insertion::default()
            },
            Insertion {
                eos_confident: 1.5,
                ..Insertion::default()
            },
            Insertion {
                eos_check: 0,
                ..Insertion::default()
            },
        ] {
            assert!(matches!(
                bad.validate(),
                Err(Error::InvalidOption { option, .. }) if option == "insert"
            ));
        }
    }
}
