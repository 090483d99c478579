//! Fused per-row ops over a logits row (one vocabulary-wide vector).
//!
//! The arithmetic follows what the PyTorch reference samplers do so that, given the same
//! logits, the same tokens are picked: softmax is `exp(x - max) / Σ exp(x - max)` in `f32`,
//! argmax returns the first maximum, Gumbel-max runs in `f64`.

/// One sweep's worth of facts about a logits row.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RowStats {
    /// The largest logit.
    pub max: f32,
    /// Index of the first largest logit.
    pub argmax: usize,
    /// `Σ exp(x - max)` over the row.
    pub sum_exp: f32,
}

impl RowStats {
    /// Softmax probability of the entry whose logit is `logit`.
    pub fn prob(&self, logit: f32) -> f32 {
        (logit - self.max).exp() / self.sum_exp
    }

    /// Softmax probability of the argmax entry.
    pub fn max_prob(&self) -> f32 {
        1.0 / self.sum_exp
    }
}

/// Max, first argmax and the softmax normaliser of `row` (which must not be empty).
pub fn row_stats(row: &[f32]) -> RowStats {
    let mut max = f32::NEG_INFINITY;
    let mut argmax = 0;
    for (i, &x) in row.iter().enumerate() {
        if x > max {
            max = x;
            argmax = i;
        }
    }
    let sum_exp = row.iter().map(|&x| (x - max).exp()).sum();
    RowStats {
        max,
        argmax,
        sum_exp,
    }
}

/// Writes `softmax(row)` into `out` (same length) and returns the row's stats.
pub fn softmax_into(row: &[f32], out: &mut [f32]) -> RowStats {
    let stats = row_stats(row);
    for (o, &x) in out.iter_mut().zip(row) {
        *o = (x - stats.max).exp() / stats.sum_exp;
    }
    stats
}

/// The two largest entries of `row` as `((index, value), (index, value))`, first one first
/// among ties. A row of length 1 repeats its only entry as the runner-up.
pub fn top2(row: &[f32]) -> ((usize, f32), (usize, f32)) {
    let mut best = (0, f32::NEG_INFINITY);
    let mut second = (0, f32::NEG_INFINITY);
    for (i, &x) in row.iter().enumerate() {
        if x > best.1 {
            second = best;
            best = (i, x);
        } else if x > second.1 {
            second = (i, x);
        }
    }
    if row.len() == 1 {
        second = best;
    }
    (best, second)
}

/// `Σ p·ln(p + 1e-10)` of a probability row: Dream's `entropy` confidence (higher = surer).
pub fn neg_entropy(probs: &[f32]) -> f32 {
    probs.iter().map(|&p| p * (p + 1e-10).ln()).sum()
}

/// Entropy (nats) of `softmax(row)`, without materialising the probabilities:
/// `H = lse − Σ pᵢ·xᵢ` with `pᵢ = exp(xᵢ − lse)`; `-inf` entries contribute nothing.
pub fn entropy(row: &[f32]) -> f32 {
    let s = row_stats(row);
    let lse = f64::from(s.max) + f64::from(s.sum_exp).ln();
    let mut expect = 0.0f64;
    for &x in row {
        if x > f32::NEG_INFINITY {
            let x = f64::from(x);
            expect += (x - lse).exp() * x;
        }
    }
    (lse - expect) as f32
}

/// Gumbel-max in `f64` as LLaDA's `add_gumbel_noise` + `argmax` do it:
/// `argmax_i exp(l_i) / (-ln u_i)^temperature`, with `u` uniform in (0, 1).
///
/// `uniforms` must be as long as `row`. Returns the first maximising index.
pub fn gumbel_argmax(row: &[f32], uniforms: &[f64], temperature: f64) -> usize {
    let mut best = f64::NEG_INFINITY;
    let mut arg = 0;
    for (i, (&l, &u)) in row.iter().zip(uniforms).enumerate() {
        let v = f64::from(l).exp() / (-u.ln()).powf(temperature);
        if v > best {
            best = v;
            arg = i;
        }
    }
    arg
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stats_match_a_plain_softmax() {
        let row = [1.0f32, 3.0, -2.0, 3.0, 0.5];
        let s = row_stats(&row);
        assert_eq!(s.argmax, 1, "first maximum wins");
        let z: f32 = row.iter().map(|x| x.exp()).sum();
        assert!((s.prob(row[0]) - row[0].exp() / z).abs() < 1e-6);
        assert!((s.max_prob() - 3.0f32.exp() / z).abs() < 1e-6);
        let mut p = [0.0; 5];
        softmax_into(&row, &mut p);
        assert!((p.iter().sum::<f32>() - 1.0).abs() < 1e-6);
    }

    #[test]
    fn top2_and_entropy() {
        let ((i1, v1), (i2, v2)) = top2(&[0.1, 0.7, 0.2]);
        assert_eq!((i1, i2), (1, 2));
        assert_eq!((v1, v2), (0.7, 0.2));
        let ((_, a), (_, b)) = top2(&[4.0]);
        assert_eq!(a, b);
        let h = neg_entropy(&[0.5, 0.5]);
        assert!((h + std::f32::consts::LN_2).abs() < 1e-6);
        assert!(neg_entropy(&[1.0, 0.0]).abs() < 1e-6);
    }

    #[test]
    fn entropy_matches_the_definition() {
        let row = [0.3f32, -1.0, 2.0, f32::NEG_INFINITY];
        let mut p = [0.0; 4];
        softmax_into(&row, &mut p);
        let h: f32 = p.iter().filter(|&&q| q > 0.0).map(|&q| -q * q.ln()).sum();
        assert!((entropy(&row) - h).abs() < 1e-5);
        assert!(entropy(&[5.0]).abs() < 1e-6);
        assert!((entropy(&[1.0, 1.0]) - std::f32::consts::LN_2).abs() < 1e-6);
    }

    #[test]
    fn gumbel_argmax_follows_the_noise() {
        let row = [0.0f32, 0.0, 0.0];
        // -ln(u) smallest (u closest to 1) wins when logits tie.
        assert_eq!(gumbel_argmax(&row, &[0.2, 0.9, 0.5], 1.0), 1);
        // With temperature 0 the noise is ignored: (-ln u)^0 = 1.
        assert_eq!(gumbel_argmax(&[0.0, 2.0, 1.0], &[0.9, 0.1, 0.99], 0.0), 1);
        // -inf logits are never chosen.
        assert_eq!(
            gumbel_argmax(&[f32::NEG_INFINITY, -5.0], &[0.999, 0.001], 1.0),
            1
        );
    }
}
