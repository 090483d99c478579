//! The masked-diffusion training objective's noise: which answer tokens are masked and how
//! much each masked token's cross-entropy weighs.
//!
//! Plain (LLaDA's SFT objective, Nie et al. 2025, eq. 5): `t ~ U(ε, 1)` per sequence, each
//! answer token masked with probability `t`, the prompt never; a masked token weighs
//! `1 / (t · answer length)`, averaged over the batch. `<|eos|>` padding inside the answer
//! carries loss, so the model learns where answers end.
//!
//! Block-structured (for block and autoregressive decoding, BD3-LM style but with full
//! attention): the answer is cut into blocks of a drawn length; one block `b` is drawn; blocks
//! before `b` are clean, block `b` is masked with probability `t`, blocks
//! after it are fully masked, and only block `b` carries loss (`1 / (t · block length)`). This
//! is exactly what the semi-autoregressive decoder shows the model, so one model serves
//! `diffusion`, `block`, `ar` and `hybrid` decoding.

use tessera_modalities::rng::SplitMix64;

use crate::TrainError;

/// One training sequence: the prompt followed by the answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sequence {
    /// Prompt and answer ids.
    pub ids: Vec<u32>,
    /// How many leading ids are prompt (never masked, no loss).
    pub prompt_len: usize,
    /// Positions after the prompt that are given all the same (never masked, no loss),
    /// ascending: the text between and after the blanks of a fill-in-the-blank example.
    /// The answer is the other positions after the prompt; noise and blocks are drawn over
    /// them in order, as if they stood side by side.
    pub fixed: Vec<usize>,
}

impl Sequence {
    /// A prompt and its answer, every answer position to be learned.
    pub fn new(ids: Vec<u32>, prompt_len: usize) -> Self {
        Sequence {
            ids,
            prompt_len,
            fixed: Vec::new(),
        }
    }

    /// The answer's positions: after the prompt and not [`Sequence::fixed`].
    pub fn answer_positions(&self) -> Vec<usize> {
        (self.prompt_len..self.ids.len())
            .filter(|i| self.fixed.binary_search(i).is_err())
            .collect()
    }
}

/// How answers are noised.
#[derive(Debug, Clone, PartialEq)]
pub struct MaskingOptions {
    /// Smallest mask probability `ε`.
    pub eps: f64,
    /// Chance that a sequence gets block-structured noise instead of plain noise.
    pub block_probability: f64,
    /// Block lengths to draw from (uniformly) for block-structured noise.
    pub block_lengths: Vec<usize>,
}

/// A noised, right-padded batch ready for the model.
#[derive(Debug, Clone, PartialEq)]
pub struct NoisyBatch {
    /// `batch × len` ids, masked positions set to the mask id, padding to `pad`.
    pub ids: Vec<u32>,
    /// Whether each position is a real token (false: right padding).
    pub valid: Vec<bool>,
    /// Rows.
    pub batch: usize,
    /// Row length.
    pub len: usize,
    /// Flat positions that carry loss, ascending.
    pub positions: Vec<u32>,
    /// The clean token at each loss position.
    pub targets: Vec<u32>,
    /// Each loss position's weight (the batch's loss is `Σ weight · cross-entropy`).
    pub weights: Vec<f32>,
    /// Real tokens in the batch (for tokens/s).
    pub tokens: usize,
}

/// Noises `seqs` with `rng`.
///
/// # Errors
/// [`TrainError::Data`] for an empty batch or a sequence without an answer.
pub fn noise_batch(
    seqs: &[Sequence],
    mask: u32,
    pad: u32,
    opts: &MaskingOptions,
    rng: &mut SplitMix64,
) -> Result<NoisyBatch, TrainError> {
    let len = seqs.iter().map(|s| s.ids.len()).max().unwrap_or(0);
    if seqs.is_empty() || len == 0 {
        return Err(TrainError::Data("an empty batch".into()));
    }
    let answers: Vec<Vec<usize>> = seqs.iter().map(Sequence::answer_positions).collect();
    if let Some((s, _)) = seqs.iter().zip(&answers).find(|(_, a)| a.is_empty()) {
        return Err(TrainError::Data(format!(
            "a sequence of {} ids has no answer after its {}-id prompt",
            s.ids.len(),
            s.prompt_len
        )));
    }
    let batch = seqs.len();
    // Loss positions are u32 flat indices into the `batch × len` canvas.
    let Some(cells) = batch.checked_mul(len).filter(|&n| n <= u32::MAX as usize) else {
        return Err(TrainError::Data(format!(
            "a batch of {batch} rows of {len} ids has more positions than u32 indices address"
        )));
    };
    let mut out = NoisyBatch {
        ids: Vec::with_capacity(cells),
        valid: Vec::with_capacity(cells),
        batch,
        len,
        positions: Vec::new(),
        targets: Vec::new(),
        weights: Vec::new(),
        tokens: seqs.iter().map(|s| s.ids.len()).sum(),
    };
    for (r, (s, positions)) in seqs.iter().zip(&answers).enumerate() {
        // cannot fail below: every sequence has an answer (`answer ≥ 1`, checked above), so the
        // clamp is ordered and `blocks ≥ 1`; `block_lengths` is non-empty where indexed;
        // `masked` covers the answer; `base + i < cells ≤ u32::MAX`.
        let answer = positions.len();
        let t = opts.eps + (1.0 - opts.eps) * rng.next_f64();
        // (first, end) of the span carrying loss; positions after `end` fully masked.
        let block = (!opts.block_lengths.is_empty() && rng.next_f64() < opts.block_probability)
            .then(|| {
                let b = opts.block_lengths[rng.below(opts.block_lengths.len())].clamp(1, answer);
                let blocks = answer.div_ceil(b);
                let k = rng.below(blocks);
                (k * b, ((k + 1) * b).min(answer))
            });
        let (lo, hi) = block.unwrap_or((0, answer));
        let masked: Vec<bool> = (0..answer)
            .map(|i| i >= hi || (i >= lo && rng.next_f64() < t))
            .collect();
        let weight = 1.0 / (t * (hi - lo) as f64 * batch as f64);
        let base = r * len;
        for (i, &id) in s.ids.iter().enumerate() {
            // The index of position `i` among the answer's positions.
            let a = positions.binary_search(&i).ok();
            let m = a.is_some_and(|a| masked[a]);
            out.ids.push(if m { mask } else { id });
            out.valid.push(true);
            if let Some(a) = a
                && m
                && (lo..hi).contains(&a)
            {
                out.positions.push((base + i) as u32);
                out.targets.push(id);
                out.weights.push(weight as f32);
            }
        }
        for _ in s.ids.len()..len {
            out.ids.push(pad);
            out.valid.push(false);
        }
    }
    Ok(out)
}

impl NoisyBatch {
    /// Splits the batch into groups of rows of similar length, each trimmed to its longest
    /// row, so a batch mixing short and long tasks does not pay for padding every row to the
    /// longest one. Rows are taken shortest first; a group closes when the next row is longer
    /// than `1 + slack` times its shortest row. Weights are kept as they are (they were
    /// normalised by the whole batch), so the sum of the groups' losses is the batch's loss:
    /// padding never changes a real position's logits (keys beyond a row's end are masked).
    pub fn pack(&self, slack: f64) -> Vec<NoisyBatch> {
        // cannot fail for a batch from `noise_batch`: `ids`/`valid` hold `batch × len` entries,
        // loss positions are below that, and `targets`/`weights` run alongside them.
        let real = |r: usize| {
            self.valid[r * self.len..(r + 1) * self.len]
                .iter()
                .rposition(|&v| v)
                .map_or(0, |i| i + 1)
        };
        let mut rows: Vec<(usize, usize)> = (0..self.batch).map(|r| (real(r), r)).collect();
        rows.sort_unstable();
        let mut groups: Vec<Vec<(usize, usize)>> = Vec::new();
        for row in rows {
            match groups.last_mut() {
                Some(g) if row.0 as f64 <= g[0].0 as f64 * (1.0 + slack) => g.push(row),
                _ => groups.push(vec![row]),
            }
        }
        // Loss positions of each original row, in order.
        let mut by_row: Vec<Vec<usize>> = vec![Vec::new(); self.batch];
        for (k, &p) in self.positions.iter().enumerate() {
            by_row[p as usize / self.len].push(k);
        }
        groups
            .into_iter()
            .map(|g| {
                let len = g.iter().map(|r| r.0).max().unwrap_or(0).max(1);
                let mut out = NoisyBatch {
                    ids: Vec::with_capacity(g.len() * len),
                    valid: Vec::with_capacity(g.len() * len),
                    batch: g.len(),
                    len,
                    positions: Vec::new(),
                    targets: Vec::new(),
                    weights: Vec::new(),
                    tokens: g.iter().map(|r| r.0).sum(),
                };
                for (k, &(_, r)) in g.iter().enumerate() {
                    let row = r * self.len..r * self.len + len;
                    out.ids.extend_from_slice(&self.ids[row.clone()]);
                    out.valid.extend_from_slice(&self.valid[row]);
                    for &i in &by_row[r] {
                        let col = self.positions[i] as usize % self.len;
                        out.positions.push((k * len + col) as u32);
                        out.targets.push(self.targets[i]);
                        out.weights.push(self.weights[i]);
                    }
                }
                out
            })
            .collect()
    }

    /// Cuts the batch into consecutive pieces of at most `rows` rows (at least one row
    /// each), every loss position moved with its row. The pieces' losses sum to the batch's.
    pub fn split_rows(self, rows: usize) -> Vec<NoisyBatch> {
        let rows = rows.max(1);
        if self.batch <= rows {
            return vec![self];
        }
        let len = self.len;
        // cannot fail: as in `pack` (row ranges inside `batch × len ≤ u32::MAX`).
        let real = |r: usize| {
            self.valid[r * len..(r + 1) * len]
                .iter()
                .filter(|&&v| v)
                .count()
        };
        (0..self.batch)
            .step_by(rows)
            .map(|first| {
                let last = (first + rows).min(self.batch);
                let (lo, hi) = ((first * len) as u32, (last * len) as u32);
                let keep: Vec<usize> = (0..self.positions.len())
                    .filter(|&k| (lo..hi).contains(&self.positions[k]))
                    .collect();
                NoisyBatch {
                    ids: self.ids[lo as usize..hi as usize].to_vec(),
                    valid: self.valid[lo as usize..hi as usize].to_vec(),
                    batch: last - first,
                    len,
                    positions: keep.iter().map(|&k| self.positions[k] - lo).collect(),
                    targets: keep.iter().map(|&k| self.targets[k]).collect(),
                    weights: keep.iter().map(|&k| self.weights[k]).collect(),
                    tokens: (first..last).map(real).sum(),
                }
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seq(prompt: usize, answer: usize) -> Sequence {
        Sequence {
            ids: (0..(prompt + answer) as u32).map(|i| 10 + i).collect(),
            prompt_len: prompt,
            fixed: Vec::new(),
        }
    }

    #[test]
    fn fixed_positions_stay_given_and_carry_no_loss() {
        let opts = MaskingOptions {
            eps: 1e-3,
            block_probability: 0.5,
            block_lengths: vec![1, 2],
        };
        // prompt 0..3, answer 3..9 with 4, 5 and 8 given (a blank, text, a blank, text).
        let mut s = seq(3, 6);
        s.fixed = vec![4, 5, 8];
        assert_eq!(s.answer_positions(), [3, 6, 7]);
        let mut rng = SplitMix64::new(11);
        let mut lossy = std::collections::HashSet::new();
        for _ in 0..200 {
            let b = noise_batch(std::slice::from_ref(&s), 1, 0, &opts, &mut rng).unwrap();
            for i in [0, 1, 2, 4, 5, 8] {
                assert_eq!(b.ids[i], s.ids[i], "position {i} was masked");
            }
            lossy.extend(b.positions.iter().copied());
        }
        assert_eq!(lossy, [3, 6, 7].into_iter().collect());
        // Everything fixed: no answer.
        s.fixed = (3..9).collect();
        assert!(noise_batch(&[s], 1, 0, &opts, &mut rng).is_err());
    }

    #[test]
    fn split_rows_keeps_every_row_and_loss_position() {
        let opts = MaskingOptions {
            eps: 1e-3,
            block_probability: 0.0,
            block_lengths: vec![],
        };
        let seqs: Vec<Sequence> = (0..7).map(|i| seq(2 + i % 3, 4 + i)).collect();
        let b = noise_batch(&seqs, 1, 0, &opts, &mut SplitMix64::new(3)).unwrap();
        let parts = b.clone().split_rows(3);
        assert_eq!(parts.iter().map(|p| p.batch).collect::<Vec<_>>(), [3, 3, 1]);
        let mut row = 0;
        let (mut ids, mut positions, mut targets, mut weights) = (vec![], vec![], vec![], vec![]);
        for p in &parts {
            assert_eq!(p.len, b.len);
            ids.extend(&p.ids);
            positions.extend(p.positions.iter().map(|&q| q + (row * b.len) as u32));
            targets.extend(&p.targets);
            weights.extend(&p.weights);
            row += p.batch;
        }
        assert_eq!(
            (ids, positions, targets, weights),
            (
                b.ids.clone(),
                b.positions.clone(),
                b.targets.clone(),
                b.weights.clone()
            )
        );
        assert_eq!(parts.iter().map(|p| p.tokens).sum::<usize>(), b.tokens);
        assert_eq!(b.clone().split_rows(7), vec![b]);
    }

    #[test]
    fn prompts_are_never_masked_and_padding_is_invalid() {
        let opts = MaskingOptions {
            eps: 1e-3,
            block_probability: 0.0,
            block_lengths: vec![],
        };
        let mut rng = SplitMix64::new(1);
        for _ in 0..50 {
            let b = noise_batch(&[seq(3, 5), seq(5, 6)], 1, 0, &opts, &mut rng).unwrap();
            assert_eq!((b.batch, b.len), (2, 11));
            assert!(b.ids[..3].iter().all(|&t| t != 1));
            assert!(b.ids[11..16].iter().all(|&t| t != 1));
            assert_eq!(&b.valid[8..11], &[false; 3]);
            assert_eq!(b.ids[8], 0);
            for (&p, &t) in b.positions.iter().zip(&b.targets) {
                assert_eq!(b.ids[p as usize], 1);
                let (r, i) = (p as usize / 11, p as usize % 11);
                assert_eq!(t, 10 + i as u32, "row {r}");
            }
        }
    }

    #[test]
    fn weights_are_an_unbiased_estimate_of_the_mean_answer_loss() {
        // With every cross-entropy equal to 1, E[Σ w] = 1 (the loss of a batch whose
        // tokens each cost 1): 1/t times the expected t·len masked tokens over len.
        let opts = MaskingOptions {
            eps: 1e-3,
            block_probability: 0.5,
            block_lengths: vec![1, 4],
        };
        let mut rng = SplitMix64::new(7);
        let n = 20_000;
        let mut total = 0.0f64;
        for _ in 0..n {
            let b = noise_batch(&[seq(2, 8), seq(4, 12)], 1, 0, &opts, &mut rng).unwrap();
            total += b.weights.iter().map(|&w| f64::from(w)).sum::<f64>();
        }
        let mean = total / n as f64;
        assert!((mean - 1.0).abs() < 0.1, "mean {mean}");
    }

    #[test]
    fn block_noise_keeps_earlier_blocks_clean_and_masks_later_ones() {
        let opts = MaskingOptions {
            eps: 1e-3,
            block_probability: 1.0,
            block_lengths: vec![4],
        };
        let mut rng = SplitMix64::new(3);
        for _ in 0..100 {
            let b = noise_batch(&[seq(2, 12)], 1, 0, &opts, &mut rng).unwrap();
            let Some(&first) = b.positions.first() else {
                continue;
            };
            let first = first as usize - 2;
            let k = first / 4;
            let answer = &b.ids[2..];
            assert!(answer[..k * 4].iter().all(|&t| t != 1));
            assert!(answer[(k + 1) * 4..].iter().all(|&t| t == 1));
            assert!(b.positions.iter().all(|&p| (p as usize - 2) / 4 == k));
        }
    }

    #[test]
    fn packing_keeps_every_row_and_loss_position_and_trims_padding() {
        let opts = MaskingOptions {
            eps: 1e-3,
            block_probability: 0.3,
            block_lengths: vec![2],
        };
        let mut rng = SplitMix64::new(11);
        let seqs = [seq(2, 3), seq(10, 20), seq(3, 3), seq(9, 19), seq(2, 4)];
        for _ in 0..50 {
            let b = noise_batch(&seqs, 1, 0, &opts, &mut rng).unwrap();
            let groups = b.pack(0.25);
            assert_eq!(groups.len(), 2);
            assert_eq!(groups.iter().map(|g| g.batch).sum::<usize>(), 5);
            assert_eq!(groups.iter().map(|g| g.tokens).sum::<usize>(), b.tokens);
            assert_eq!((groups[0].len, groups[1].len), (6, 30));
            let mut before: Vec<(u32, f32)> = b
                .targets
                .iter()
                .copied()
                .zip(b.weights.iter().copied())
                .collect();
            let mut after = Vec::new();
            for g in &groups {
                assert_eq!(g.ids.len(), g.batch * g.len);
                for ((&p, &t), &w) in g.positions.iter().zip(&g.targets).zip(&g.weights) {
                    assert_eq!(g.ids[p as usize], 1, "a loss position is masked");
                    assert!(g.valid[p as usize]);
                    after.push((t, w));
                }
                // Each packed row is one of the original rows, trimmed.
                for r in 0..g.batch {
                    let row = &g.ids[r * g.len..(r + 1) * g.len];
                    let n = g.valid[r * g.len..(r + 1) * g.len]
                        .iter()
                        .filter(|&&v| v)
                        .count();
                    assert!((0..b.batch).any(|o| b.ids[o * b.len..o * b.len + n] == row[..n]));
                }
            }
            let key = |x: &(u32, f32)| (x.0, x.1.to_bits());
            before.sort_by_key(key);
            after.sort_by_key(key);
            assert_eq!(before, after);
        }
    }
}
