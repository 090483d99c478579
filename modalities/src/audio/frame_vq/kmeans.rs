//! Seeded, deterministic k-means (Lloyd's algorithm with k-means++ seeding, Arthur &
//! Vassilvitskii 2007) and nearest-codeword search, over row vectors.

use candle_core::{Device, Tensor};

use crate::audio::AudioError;
use crate::rng::SplitMix64;

/// Rows per distance block, to bound the `(rows, k)` distance matrix.
const BLOCK: usize = 4096;

/// Index of the nearest codeword (`codebook`: `(k, d)`) for each row of `x` (`(n, d)`), and
/// the squared distance to it. Ties go to the lower index.
pub(crate) fn nearest(x: &Tensor, codebook: &Tensor) -> Result<(Vec<u32>, Vec<f32>), AudioError> {
    let n = x.dim(0)?;
    let x_norm = x.sqr()?.sum(1)?.to_vec1::<f32>()?;
    let c_norm = codebook.sqr()?.sum_keepdim(1)?.t()?.contiguous()?; // (1, k)
    let ct = codebook.t()?.contiguous()?;
    let mut idx = Vec::with_capacity(n);
    let mut dist = Vec::with_capacity(n);
    for start in (0..n).step_by(BLOCK) {
        let rows = BLOCK.min(n - start);
        let d = c_norm
            .broadcast_sub(&(x.narrow(0, start, rows)?.matmul(&ct)? * 2.0)?)?
            .to_vec2::<f32>()?;
        for (r, row) in d.iter().enumerate() {
            let mut best = 0;
            for (j, &v) in row.iter().enumerate() {
                if v < row[best] {
                    best = j;
                }
            }
            idx.push(best as u32);
            dist.push((row[best] + x_norm[start + r]).max(0.0));
        }
    }
    Ok((idx, dist))
}

/// Fits `k` centroids to the rows of `x` (`(n, d)`, `n ≥ k`) with at most `iterations`
/// Lloyd steps after k-means++ seeding from `seed`. An emptied cluster is re-seeded with the
/// point farthest from its centroid, so all `k` codewords stay in use.
pub(crate) fn kmeans(
    x: &Tensor,
    k: usize,
    iterations: usize,
    seed: u64,
) -> Result<Tensor, AudioError> {
    let (n, d) = x.dims2()?;
    if n < k {
        return Err(AudioError::Fit(format!(
            "{n} training frames cannot fit {k} codewords"
        )));
    }
    let rows = x.to_vec2::<f32>()?;
    let mut rng = SplitMix64::new(seed);

    // k-means++: each next centre is drawn with probability ∝ squared distance to the
    // nearest centre so far.
    let mut centres: Vec<Vec<f32>> = Vec::with_capacity(k);
    centres.push(rows[rng.below(n)].clone());
    let mut min_d = sq_dist_to(x, &centres[0])?;
    while centres.len() < k {
        let total: f64 = min_d.iter().map(|&v| f64::from(v)).sum();
        let pick = if total > 0.0 {
            let target = rng.next_f64() * total;
            let mut acc = 0.0;
            let mut pick = n - 1;
            for (i, &v) in min_d.iter().enumerate() {
                acc += f64::from(v);
                if acc > target {
                    pick = i;
                    break;
                }
            }
            pick
        } else {
            // Every point already sits on a centre: duplicates are all that is left.
            centres.len() % n
        };
        centres.push(rows[pick].clone());
        let dn = sq_dist_to(x, &rows[pick])?;
        for (m, v) in min_d.iter_mut().zip(dn) {
            *m = m.min(v);
        }
    }

    let mut assign: Vec<u32> = vec![u32::MAX; n];
    for _ in 0..iterations {
        let cb = to_tensor(&centres, d)?;
        let (new_assign, dist) = nearest(x, &cb)?;
        let changed = new_assign != assign;
        assign = new_assign;
        let mut sums = vec![vec![0f64; d]; k];
        let mut counts = vec![0usize; k];
        for (row, &a) in rows.iter().zip(&assign) {
            counts[a as usize] += 1;
            for (s, &v) in sums[a as usize].iter_mut().zip(row) {
                *s += f64::from(v);
            }
        }
        // Farthest points first, for re-seeding empty clusters deterministically.
        let mut order: Vec<usize> = (0..n).collect();
        order.sort_by(|&a, &b| dist[b].total_cmp(&dist[a]).then(a.cmp(&b)));
        let mut spare = order.into_iter();
        for j in 0..k {
            if counts[j] > 0 {
                let inv = 1.0 / counts[j] as f64;
                centres[j] = sums[j].iter().map(|&s| (s * inv) as f32).collect();
            } else if let Some(p) = spare.next() {
                centres[j] = rows[p].clone();
            }
        }
        if !changed {
            break;
        }
    }
    to_tensor(&centres, d)
}

fn to_tensor(rows: &[Vec<f32>], d: usize) -> Result<Tensor, AudioError> {
    let flat: Vec<f32> = rows.iter().flatten().copied().collect();
    Ok(Tensor::from_vec(flat, (rows.len(), d), &Device::Cpu)?)
}

/// Squared distance of every row of `x` to `c`.
fn sq_dist_to(x: &Tensor, c: &[f32]) -> Result<Vec<f32>, AudioError> {
    let c = Tensor::from_slice(c, (c.len(), 1), &Device::Cpu)?;
    let d = x.broadcast_sub(&c.t()?)?.sqr()?.sum(1)?;
    Ok(d.to_vec1()?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_separated_clusters_deterministically() {
        let mut data = Vec::new();
        for i in 0..60 {
            let c = (i % 3) as f32 * 10.0;
            data.extend([
                c + (i as f32 * 0.37).sin() * 0.1,
                -c + (i as f32).cos() * 0.1,
            ]);
        }
        let x = Tensor::from_vec(data, (60, 2), &Device::Cpu).unwrap();
        let a = kmeans(&x, 3, 20, 7).unwrap();
        let b = kmeans(&x, 3, 20, 7).unwrap();
        assert_eq!(a.to_vec2::<f32>().unwrap(), b.to_vec2::<f32>().unwrap());
        let (idx, dist) = nearest(&x, &a).unwrap();
        assert!(dist.iter().all(|&d| d < 0.1), "{dist:?}");
        for i in 0..60 {
            assert_eq!(idx[i], idx[i % 3], "points of one cluster share a codeword");
        }
        assert!(kmeans(&x, 61, 5, 0).is_err());
    }
}
