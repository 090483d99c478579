//! How many tokens to reveal at each step, as the reference samplers compute it.

/// LLaDA's `get_num_transfer_tokens`: `masked` tokens over `steps` steps; every step gets
/// `masked / steps`, the first `masked % steps` steps one more.
///
/// `steps` must be positive (the samplers validate it before calling).
pub fn num_transfer_tokens(masked: usize, steps: usize) -> Vec<usize> {
    (0..steps.max(1))
        .filter_map(|i| transfer_count(masked, steps, i))
        .collect()
}

/// Entry `i` of [`num_transfer_tokens`]`(masked, steps)` without building the vector (`None`
/// past the last step): a schedule of a billion steps costs nothing until it runs.
pub fn transfer_count(masked: usize, steps: usize, i: usize) -> Option<usize> {
    let steps = steps.max(1);
    (i < steps).then(|| masked / steps + usize::from(i < masked % steps))
}

/// The sum of entries `0..=i` of [`num_transfer_tokens`]`(masked, steps)` (all of them
/// past the last step), without building the vector.
pub fn transfer_total(masked: usize, steps: usize, i: usize) -> usize {
    let steps = steps.max(1);
    let n = i.saturating_add(1).min(steps);
    // cannot overflow: `n ≤ steps`, so the sum is at most `masked`.
    n * (masked / steps) + n.min(masked % steps)
}

/// Dream's timesteps: `torch.linspace(1, eps, steps + 1)` in `f32`, bit for bit.
///
/// PyTorch fills a linspace from both ends, `start + step·i` for the first half and
/// `end − step·(n−1−i)` for the second, each a single fused multiply-add (verified against
/// PyTorch 2.x on CPU for steps up to 512; the fixture test pins it).
pub fn dream_timesteps(steps: usize, eps: f32) -> Vec<f32> {
    (0..=steps).map(|i| dream_timestep(i, steps, eps)).collect()
}

/// Entry `i` of [`dream_timesteps`]`(steps, eps)`, computed on its own (bit for bit the same).
pub fn dream_timestep(i: usize, steps: usize, eps: f32) -> f32 {
    // cannot fail: callers pass `i ≤ steps` with steps ≤ u32::MAX (validated options).
    let n = steps + 1;
    let (start, end) = (1.0f32, eps);
    if n == 1 {
        return start;
    }
    let step = (end - start) / (n - 1) as f32;
    if i < n / 2 {
        step.mul_add(i as f32, start)
    } else {
        (-step).mul_add((n - 1 - i) as f32, end)
    }
}

/// Dream's probability of revealing a masked position at step `i` of `steps` (timesteps
/// `t = t_i`, `s = t_{i+1}`): `1 − s/t` in `f32`, and 1 at the last step.
pub fn dream_reveal_probability(i: usize, steps: usize, eps: f32) -> f32 {
    if i + 1 >= steps {
        return 1.0;
    }
    let (t, s) = (
        dream_timestep(i, steps, eps),
        dream_timestep(i + 1, steps, eps),
    );
    1.0 - s / t
}

/// Dream's count of tokens to reveal at step `i` of `steps` with `masked` masks left:
/// `⌊masked · (1 − s/t)⌋` in `f32`, everything left at the last step. (The reference
/// averages `masked` over the batch; rows of one request keep equal counts under this rule.)
pub fn dream_transfer_count(masked: usize, i: usize, steps: usize, eps: f32) -> usize {
    if i + 1 >= steps {
        return masked;
    }
    (masked as f32 * dream_reveal_probability(i, steps, eps)) as usize
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transfer_counts_split_evenly_front_loaded() {
        assert_eq!(num_transfer_tokens(8, 3), vec![3, 3, 2]);
        assert_eq!(num_transfer_tokens(32, 32), vec![1; 32]);
        assert_eq!(num_transfer_tokens(2, 4), vec![1, 1, 0, 0]);
        for m in 0..40 {
            for s in 1..20 {
                let v = num_transfer_tokens(m, s);
                for (i, &k) in v.iter().enumerate() {
                    assert_eq!(transfer_count(m, s, i), Some(k));
                    assert_eq!(transfer_total(m, s, i), v[..=i].iter().sum::<usize>());
                }
                assert_eq!(transfer_count(m, s, s), None);
                assert_eq!(transfer_total(m, s, usize::MAX), m);
                assert_eq!(v.iter().sum::<usize>(), m);
                assert!(v.windows(2).all(|w| w[0] >= w[1] && w[0] - w[1] <= 1));
            }
        }
    }

    #[test]
    fn timesteps_run_from_one_to_eps() {
        let t = dream_timesteps(4, 0.2);
        assert_eq!(t.len(), 5);
        assert_eq!(t[0], 1.0);
        assert_eq!(t[4], 0.2);
        assert!(t.windows(2).all(|w| w[0] > w[1]));
        assert_eq!(dream_timesteps(0, 0.5), vec![1.0]);
        for steps in [1, 2, 7, 64] {
            for (i, v) in dream_timesteps(steps, 1e-3).iter().enumerate() {
                assert_eq!(v.to_bits(), dream_timestep(i, steps, 1e-3).to_bits());
            }
        }
    }

    #[test]
    fn dream_counts_reveal_everything_by_the_last_step() {
        let mut left = 16;
        for i in 0..5 {
            let k = dream_transfer_count(left, i, 5, 1e-3).min(left);
            left -= k;
        }
        assert_eq!(left, 0);
    }
}
