//! Dream's `sample_tokens` on one logits row: temperature, top-p, top-k, then the token and
//! its confidence (probability, top-1 − top-2 margin, or negative entropy).

use tessera_kernels::{neg_entropy, softmax_into, top2};

/// Which confidence the caller ranks positions by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Confidence {
    /// Probability of the chosen token.
    Prob,
    /// Top-1 minus top-2 probability.
    Margin,
    /// `Σ p·ln(p + 1e-10)`.
    NegEntropy,
}

/// Per-row sampling parameters.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RowSampler {
    pub(crate) temperature: f64,
    pub(crate) top_p: Option<f64>,
    pub(crate) top_k: Option<usize>,
}

/// Scratch space reused across rows so a step allocates nothing per position.
#[derive(Debug, Default)]
pub(crate) struct Scratch {
    logits: Vec<f32>,
    probs: Vec<f32>,
    order: Vec<u32>,
}

impl RowSampler {
    /// Samples one token from `row`. `uniform` (in (0,1)) is used only when
    /// `temperature > 0` (inverse-CDF categorical draw). Returns `(token, confidence)`.
    pub(crate) fn sample(
        &self,
        row: &[f32],
        conf: Confidence,
        uniform: f64,
        s: &mut Scratch,
    ) -> (u32, f32) {
        s.logits.clear();
        s.logits.extend_from_slice(row);
        if self.temperature > 0.0 {
            let t = self.temperature as f32;
            s.logits.iter_mut().for_each(|l| *l /= t);
        }
        if let Some(p) = self.top_p.filter(|&p| p < 1.0) {
            top_p_filter(&mut s.logits, p as f32, &mut s.order, &mut s.probs);
        }
        if let Some(k) = self.top_k {
            top_k_filter(&mut s.logits, k, &mut s.probs);
        }
        s.probs.resize(s.logits.len(), 0.0);
        let stats = softmax_into(&s.logits, &mut s.probs);
        // cannot fail: rows are never empty and `categorical`/argmax return an index into them.
        let (token, prob) = if self.temperature > 0.0 {
            let t = categorical(&s.probs, uniform);
            (t, s.probs[t])
        } else {
            (stats.argmax, s.probs[stats.argmax])
        };
        let confidence = match conf {
            Confidence::Prob => prob,
            Confidence::Margin => {
                let ((_, p1), (_, p2)) = top2(&s.probs);
                p1 - p2
            }
            Confidence::NegEntropy => neg_entropy(&s.probs),
        };
        (token as u32, confidence)
    }
}

/// Inverse-CDF draw from `probs` with `u ∈ (0,1)`; falls back to the last non-zero entry
/// when rounding leaves the cumulative sum short of `u`.
pub(crate) fn categorical(probs: &[f32], u: f64) -> usize {
    let mut acc = 0.0f64;
    let mut last = 0;
    for (i, &p) in probs.iter().enumerate() {
        if p > 0.0 {
            last = i;
            acc += f64::from(p);
            if u < acc {
                return i;
            }
        }
    }
    last
}

/// Keeps the smallest set of top tokens whose probability mass reaches `top_p` (the first
/// token always stays); the rest become `f32::MIN`, as Dream's `top_p_logits` does. The
/// cumulative sum runs in `f64` and is rounded per entry, like PyTorch's CPU `cumsum`.
pub(crate) fn top_p_filter(
    logits: &mut [f32],
    top_p: f32,
    order: &mut Vec<u32>,
    sorted_probs: &mut Vec<f32>,
) {
    // cannot fail: `order` is a permutation of the row's indices, `sorted_probs` as long.
    order.clear();
    order.extend(0..logits.len() as u32);
    order.sort_by(|&a, &b| logits[b as usize].total_cmp(&logits[a as usize]));
    let sorted: Vec<f32> = order.iter().map(|&i| logits[i as usize]).collect();
    sorted_probs.resize(sorted.len(), 0.0);
    softmax_into(&sorted, sorted_probs);
    let mut cum = 0.0f64;
    let mut remove_next = false;
    for (rank, &idx) in order.iter().enumerate() {
        // Removal is shifted right by one: entry `rank` is removed if the cumulative mass
        // *before* it already exceeded top_p.
        if rank > 0 && remove_next {
            logits[idx as usize] = f32::MIN;
        }
        cum += f64::from(sorted_probs[rank]);
        remove_next = (cum as f32) > top_p;
    }
}

/// Sets every logit below the `k`-th largest to `f32::MIN` (Dream's `top_k_logits`).
pub(crate) fn top_k_filter(logits: &mut [f32], k: usize, buf: &mut Vec<f32>) {
    // cannot fail: `1 ≤ k ≤ len` for the never-empty rows the scorer passes.
    let k = k.min(logits.len()).max(1);
    buf.clear();
    buf.extend_from_slice(logits);
    let (_, kth, _) = buf.select_nth_unstable_by(k - 1, |a, b| b.total_cmp(a));
    let kth = *kth;
    logits
        .iter_mut()
        .filter(|l| **l < kth)
        .for_each(|l| *l = f32::MIN);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn greedy() -> RowSampler {
        RowSampler {
            temperature: 0.0,
            top_p: None,
            top_k: None,
        }
    }

    #[test]
    fn greedy_picks_argmax_with_its_probability() {
        let mut s = Scratch::default();
        let (t, c) = greedy().sample(&[0.0, 2.0, 1.0], Confidence::Prob, 0.5, &mut s);
        assert_eq!(t, 1);
        let z = 1.0 + 2f32.exp() + 1f32.exp();
        assert!((c - 2f32.exp() / z).abs() < 1e-6);
    }

    #[test]
    fn top_p_renormalises_over_the_kept_tokens() {
        // probs ≈ [0.665, 0.245, 0.09]: top_p 0.5 keeps only the first.
        let mut s = Scratch::default();
        let sampler = RowSampler {
            top_p: Some(0.5),
            ..greedy()
        };
        let (t, c) = sampler.sample(&[2.0, 1.0, 0.0], Confidence::Prob, 0.5, &mut s);
        assert_eq!((t, c), (0, 1.0));
        // top_p 0.8 keeps two: the first is kept, the second too since 0.665 < 0.8.
        let sampler = RowSampler {
            top_p: Some(0.8),
            ..greedy()
        };
        let (_, c) = sampler.sample(&[2.0, 1.0, 0.0], Confidence::Prob, 0.5, &mut s);
        assert!((c - 1.0 / (1.0 + (-1f32).exp())).abs() < 1e-6);
    }

    #[test]
    fn top_k_and_margin_and_entropy() {
        let mut s = Scratch::default();
        let sampler = RowSampler {
            top_k: Some(2),
            ..greedy()
        };
        let (_, m) = sampler.sample(&[3.0, 3.0, -1.0], Confidence::Margin, 0.5, &mut s);
        assert_eq!(m, 0.0);
        let (_, h) = sampler.sample(&[3.0, 3.0, -1.0], Confidence::NegEntropy, 0.5, &mut s);
        assert!((h + std::f32::consts::LN_2).abs() < 1e-5);
    }

    #[test]
    fn categorical_follows_the_uniform() {
        assert_eq!(categorical(&[0.2, 0.5, 0.3], 0.1), 0);
        assert_eq!(categorical(&[0.2, 0.5, 0.3], 0.6), 1);
        assert_eq!(categorical(&[0.2, 0.5, 0.3], 0.95), 2);
        assert_eq!(categorical(&[0.5, 0.5, 0.0], 0.999_999_999), 1);
    }
}
