//! Weighted k-means with k-means++ initialisation, seeded and deterministic.
//!
//! Points are the distinct patches of the training set, each weighted by how often it
//! occurs, so a training set of flat-colour pictures (millions of identical patches) costs
//! as much as its few distinct patches.

use crate::rng::SplitMix64;

/// Squared Euclidean distance.
pub(crate) fn dist2(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| (x - y) * (x - y)).sum()
}

/// Index of the nearest centre (the lowest index among ties) and its distance.
///
/// A centre is dropped as soon as its partial sum reaches the best distance so far: the sum
/// is taken in [`dist2`]'s order and only grows (every term is non-negative and rounding is
/// monotone), so a dropped centre could not have won and the answer is [`dist2`]'s, bit for
/// bit — several times faster on patches, where most centres are far after a few pixels.
pub(crate) fn nearest(point: &[f32], centres: &[f32], dim: usize) -> (usize, f32) {
    const CHECK_EVERY: usize = 16;
    let mut best = (0, f32::INFINITY);
    'centres: for (i, c) in centres.chunks_exact(dim).enumerate() {
        let mut d = 0f32;
        for (p, q) in point.chunks(CHECK_EVERY).zip(c.chunks(CHECK_EVERY)) {
            for (x, y) in p.iter().zip(q) {
                d += (x - y) * (x - y);
            }
            if d >= best.1 {
                continue 'centres;
            }
        }
        best = (i, d);
    }
    best
}

/// `k` centres (row-major, `k × dim`) for `points` (row-major, `n × dim`, distinct) with
/// `weights` (occurrence counts).
///
/// With `n <= k` every point is its own centre (exactly) and the remaining slots repeat
/// points cyclically (nearest-centre search prefers the lower index, so the repeats are
/// never chosen). Otherwise: k-means++ seeding (first centre drawn ∝ weight, each next one
/// ∝ weight × squared distance to the nearest chosen centre), then up to `iterations`
/// Lloyd steps with weighted means; an empty cluster is re-seeded with the point that
/// contributes most to the error. Stops early when no assignment changes.
pub(crate) fn fit(
    points: &[f32],
    weights: &[f64],
    dim: usize,
    k: usize,
    iterations: usize,
    seed: u64,
) -> Vec<f32> {
    let n = weights.len();
    if n <= k {
        return (0..k)
            .flat_map(|i| points[(i % n) * dim..(i % n + 1) * dim].iter().copied())
            .collect();
    }
    let mut rng = SplitMix64::new(seed);
    let mut centres = kmeans_pp(points, weights, dim, k, &mut rng);
    let mut assign = vec![usize::MAX; n];
    for _ in 0..iterations {
        let mut changed = false;
        let mut errs = vec![0f64; n];
        for (i, p) in points.chunks_exact(dim).enumerate() {
            let (c, d) = nearest(p, &centres, dim);
            errs[i] = f64::from(d) * weights[i];
            if assign[i] != c {
                assign[i] = c;
                changed = true;
            }
        }
        if !changed {
            break;
        }
        let mut sums = vec![0f64; k * dim];
        let mut mass = vec![0f64; k];
        for (i, p) in points.chunks_exact(dim).enumerate() {
            let c = assign[i];
            mass[c] += weights[i];
            for (s, &x) in sums[c * dim..(c + 1) * dim].iter_mut().zip(p) {
                *s += f64::from(x) * weights[i];
            }
        }
        for c in 0..k {
            if mass[c] > 0.0 {
                for (dst, s) in centres[c * dim..(c + 1) * dim]
                    .iter_mut()
                    .zip(&sums[c * dim..(c + 1) * dim])
                {
                    *dst = (s / mass[c]) as f32;
                }
            } else {
                // Re-seed an empty cluster with the worst-served point; take it out of
                // the running so two empty clusters do not get the same point.
                let worst = (0..n)
                    .max_by(|&a, &b| errs[a].total_cmp(&errs[b]).then(b.cmp(&a)))
                    .unwrap_or(0);
                centres[c * dim..(c + 1) * dim]
                    .copy_from_slice(&points[worst * dim..(worst + 1) * dim]);
                errs[worst] = f64::NEG_INFINITY;
                assign[worst] = c;
            }
        }
    }
    centres
}

fn kmeans_pp(
    points: &[f32],
    weights: &[f64],
    dim: usize,
    k: usize,
    rng: &mut SplitMix64,
) -> Vec<f32> {
    let n = weights.len();
    let mut centres = Vec::with_capacity(k * dim);
    let first = draw(weights, rng);
    centres.extend_from_slice(&points[first * dim..(first + 1) * dim]);
    let mut d2: Vec<f64> = points
        .chunks_exact(dim)
        .map(|p| f64::from(dist2(p, &centres[..dim])))
        .collect();
    for _ in 1..k {
        let scores: Vec<f64> = d2.iter().zip(weights).map(|(d, w)| d * w).collect();
        // All points already coincide with a centre only if n <= k, handled by the caller;
        // fall back to a weight draw anyway rather than divide by zero.
        let next = if scores.iter().sum::<f64>() > 0.0 {
            draw(&scores, rng)
        } else {
            draw(weights, rng)
        };
        let c = &points[next * dim..(next + 1) * dim];
        centres.extend_from_slice(c);
        for (i, p) in points.chunks_exact(dim).enumerate().take(n) {
            d2[i] = d2[i].min(f64::from(dist2(p, c)));
        }
    }
    centres
}

/// An index drawn with probability proportional to `scores` (non-negative, positive sum).
fn draw(scores: &[f64], rng: &mut SplitMix64) -> usize {
    let total: f64 = scores.iter().sum();
    let mut target = rng.next_f64() * total;
    for (i, &s) in scores.iter().enumerate() {
        if s > 0.0 && target < s {
            return i;
        }
        target -= s;
    }
    // Rounding left us past the end: the last index with a positive score.
    scores.iter().rposition(|&s| s > 0.0).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn separated_clusters_are_found_and_fit_is_deterministic() {
        // Three tight 1-D clusters around 0, 10, 20.
        let points: Vec<f32> = [0.0, 0.1, 0.2, 10.0, 10.1, 20.0, 20.2, 19.9]
            .into_iter()
            .collect();
        let weights = vec![1.0; points.len()];
        let a = fit(&points, &weights, 1, 3, 20, 5);
        let b = fit(&points, &weights, 1, 3, 20, 5);
        assert_eq!(a, b);
        let mut sorted = a.clone();
        sorted.sort_by(f32::total_cmp);
        assert!((sorted[0] - 0.1).abs() < 1e-5, "{sorted:?}");
        assert!((sorted[1] - 10.05).abs() < 1e-5, "{sorted:?}");
        assert!((sorted[2] - 20.033_333).abs() < 1e-4, "{sorted:?}");
    }

    #[test]
    fn few_points_become_exact_centres() {
        let points = [0.25f32, 0.5, 0.75, 1.0];
        let c = fit(&points, &[3.0, 1.0], 2, 3, 10, 0);
        assert_eq!(c, [0.25, 0.5, 0.75, 1.0, 0.25, 0.5]);
        assert_eq!(nearest(&[0.25, 0.5], &c, 2), (0, 0.0));
    }

    #[test]
    fn early_exit_search_is_the_full_search() {
        // Against a plain scan with `dist2`, on pseudo-random points and centres (with a
        // repeated centre, whose tie goes to the lower index).
        let mut rng = SplitMix64::new(3);
        let dim = 48;
        let mut centres: Vec<f32> = (0..40 * dim).map(|_| rng.next_f64() as f32).collect();
        centres.extend_from_within(5 * dim..6 * dim);
        for _ in 0..200 {
            let point: Vec<f32> = (0..dim).map(|_| rng.next_f64() as f32).collect();
            let mut want = (0, f32::INFINITY);
            for (i, c) in centres.chunks_exact(dim).enumerate() {
                let d = dist2(&point, c);
                if d < want.1 {
                    want = (i, d);
                }
            }
            let got = nearest(&point, &centres, dim);
            assert_eq!((got.0, got.1.to_bits()), (want.0, want.1.to_bits()));
        }
        assert_eq!(nearest(&centres[5 * dim..6 * dim], &centres, dim), (5, 0.0));
    }

    #[test]
    fn weights_pull_the_mean() {
        let points = [0.0f32, 1.0, 100.0];
        let c = fit(&points, &[1.0, 3.0, 1.0], 1, 2, 10, 1);
        let mut sorted = c.clone();
        sorted.sort_by(f32::total_cmp);
        assert_eq!(sorted, [0.75, 100.0]);
    }
}
