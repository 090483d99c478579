//! Remask scoring: the probability a position's softmax gives a token already on the canvas
//! (the support `recheck` re-predicts a committed token by). The decoding path scores one
//! position with [`token_prob`]; [`token_probs`] does many rows at once, and is the CPU twin
//! of `tessera_token_probs` in `cuda/sample.cu`.
//!
//! The arithmetic is the reference's ([`crate::row_stats`]: `f32::exp` summed in index
//! order), so the CPU path's numbers are bit for bit those of a softmax over the row.

use std::ops::Range;

use rayon::prelude::*;

use crate::sample::{check_allowed, check_rows, check_vocab};
use crate::{KernelError, row_stats};

/// The probability the softmax of `row` (ids `offset..offset + row.len()`) gives `token`:
/// 0 for a token outside the row, and for a row without a finite logit.
///
/// ```
/// use tessera_kernels::token_prob;
/// let row = [0.0f32, 0.0];
/// assert_eq!(token_prob(&row, 10, 11), 0.5);
/// assert_eq!(token_prob(&row, 10, 3), 0.0);
/// ```
pub fn token_prob(row: &[f32], offset: u32, token: u32) -> f32 {
    let Some(&logit) = token.checked_sub(offset).and_then(|t| row.get(t as usize)) else {
        return 0.0;
    };
    let stats = row_stats(row);
    if stats.max == f32::NEG_INFINITY {
        return 0.0;
    }
    stats.prob(logit)
}

/// [`token_prob`] for every row of `logits` (`out.len()` rows of `vocab` values), each row
/// restricted to `allowed` (ids in the full vocabulary; `None`: the whole row), `tokens`
/// holding one id per row; rows in parallel on the current rayon pool.
///
/// # Errors
/// [`KernelError::Shape`] naming the field: `vocab` 0, `logits` not `rows × vocab` long,
/// `tokens` not one per row, `allowed` empty or past `vocab`.
pub fn token_probs(
    logits: &[f32],
    vocab: usize,
    allowed: Option<Range<usize>>,
    tokens: &[u32],
    out: &mut [f32],
) -> Result<(), KernelError> {
    let allowed = check(logits.len(), vocab, allowed, tokens.len(), out.len())?;
    let offset = allowed.start as u32;
    out.par_iter_mut()
        .zip(logits.par_chunks_exact(vocab))
        .zip(tokens.par_iter())
        .for_each(|((o, row), &t)| *o = token_prob(&row[allowed.clone()], offset, t));
    Ok(())
}

/// The checks of [`token_probs`] (those of the sampling pass, the same messages); the
/// allowed range (the whole row when `None`).
pub(crate) fn check(
    logits_len: usize,
    vocab: usize,
    allowed: Option<Range<usize>>,
    tokens: usize,
    rows: usize,
) -> Result<Range<usize>, KernelError> {
    check_vocab(vocab)?;
    check_rows(logits_len, vocab, rows)?;
    if tokens != rows {
        return Err(KernelError::Shape(format!(
            "tokens: {tokens} ids for {rows} rows"
        )));
    }
    check_allowed(allowed, vocab)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_gets_its_softmax_probability_within_the_allowed_ids() {
        // Row 0 restricted to ids 1..4: softmax over [1, 2, 3]; row 1 asks for an id outside.
        let logits = [9.0f32, 1.0, 2.0, 3.0, 9.0, 0.0, 0.0, 0.0];
        let mut out = [0.0f32; 2];
        token_probs(&logits, 4, Some(1..4), &[3, 0], &mut out).unwrap();
        let z = 1f32.exp() + 2f32.exp() + 3f32.exp();
        assert!((out[0] - 3f32.exp() / z).abs() < 1e-6);
        assert_eq!(out[1], 0.0);
        // Bit for bit the reference softmax.
        assert_eq!(out[0], row_stats(&logits[1..4]).prob(3.0));
    }

    #[test]
    fn a_row_without_a_finite_logit_supports_nothing() {
        assert_eq!(token_prob(&[f32::NEG_INFINITY; 3], 0, 1), 0.0);
    }

    #[test]
    fn shapes_are_checked_naming_the_field() {
        let mut out = [0.0f32; 2];
        let err = |r: Result<(), KernelError>| r.unwrap_err().to_string();
        assert!(err(token_probs(&[0.0; 8], 4, None, &[0], &mut out)).contains("tokens"));
        assert!(err(token_probs(&[0.0; 7], 4, None, &[0, 0], &mut out)).contains("logits"));
        assert!(err(token_probs(&[0.0; 8], 4, Some(2..5), &[0, 0], &mut out)).contains("allowed"));
        assert!(err(token_probs(&[], 0, None, &[], &mut [])).contains("vocab"));
    }
}

/// The CUDA kernel `tessera_token_probs` (`cuda/sample.cu`), compiled as C++ against
/// `cuda/host_shim.h` and run on the CPU, against [`token_probs`]: the same probabilities
/// within `f32` rounding of the summation order, the same zeros.
#[cfg(all(test, feature = "cuda-shim"))]
mod cuda_shim_tests {
    use super::*;

    unsafe extern "C" {
        fn tessera_token_probs_host(
            logits: *const f32,
            rows: u64,
            vocab: u64,
            lo: u32,
            hi: u32,
            tokens: *const u32,
            out: *mut f32,
        );
    }

    fn run_kernel(logits: &[f32], vocab: usize, allowed: Range<usize>, tokens: &[u32]) -> Vec<f32> {
        let rows = tokens.len();
        assert_eq!(logits.len(), rows * vocab);
        let mut out = vec![f32::NAN; rows];
        // SAFETY: `logits` is rows × vocab, `tokens` and `out` hold one entry per row, and
        // `allowed` lies inside the row: the kernel reads and writes nothing else.
        unsafe {
            tessera_token_probs_host(
                logits.as_ptr(),
                rows as u64,
                vocab as u64,
                allowed.start as u32,
                allowed.end as u32,
                tokens.as_ptr(),
                out.as_mut_ptr(),
            );
        }
        out
    }

    #[test]
    fn the_cuda_kernel_scores_committed_tokens_as_the_cpu_does() {
        let (rows, vocab) = (6, 3001);
        let mut state = 0x2545_F491_4F6C_DD1Du64;
        let mut logits: Vec<f32> = (0..rows * vocab)
            .map(|i| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                let scale = [0.5, 2.0, 6.0][(i / vocab) % 3];
                ((state >> 40) as f32 / (1u64 << 24) as f32 - 0.5) * 2.0 * scale
            })
            .collect();
        // Row 4: no finite logit; row 5: a tie for the max.
        logits[4 * vocab..5 * vocab].fill(f32::NEG_INFINITY);
        logits[5 * vocab + 1200] = 40.0;
        logits[5 * vocab + 1700] = 40.0;
        // Each row's token: its argmax, an ordinary id, ids at and past the slice's edges.
        for allowed in [0..vocab, 1000..1800] {
            let picks = [
                |_: &[f32], a: &Range<usize>| a.start,
                |_: &[f32], a: &Range<usize>| a.end - 1,
                |_: &[f32], a: &Range<usize>| a.end,
                |_: &[f32], a: &Range<usize>| (a.start + a.end) / 2,
                |r: &[f32], a: &Range<usize>| a.start + row_stats(&r[a.clone()]).argmax,
                |_: &[f32], _: &Range<usize>| 1200,
            ];
            for pick in picks {
                let tokens: Vec<u32> = (0..rows)
                    .map(|r| pick(&logits[r * vocab..][..vocab], &allowed) as u32)
                    .collect();
                let mut want = vec![0.0f32; rows];
                token_probs(&logits, vocab, Some(allowed.clone()), &tokens, &mut want).unwrap();
                let got = run_kernel(&logits, vocab, allowed.clone(), &tokens);
                for (r, (g, w)) in got.iter().zip(&want).enumerate() {
                    let tol = 1e-5 * g.abs().max(w.abs()).max(1e-3);
                    assert!(
                        (g - w).abs() <= tol,
                        "row {r} token {} allowed {allowed:?}: {g} vs {w}",
                        tokens[r]
                    );
                }
                assert_eq!(got[4], 0.0, "a row without a finite logit");
            }
        }
    }
}
