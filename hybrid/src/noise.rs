//! Randomness for the samplers: counter-based, so a draw depends only on *what* it is for
//! (step, row, position), never on how many draws came before. That makes a seeded run
//! reproducible however the work is split (which positions a forward computes, batching),
//! and lets tests replay the exact draws a reference implementation made.

use std::sync::Arc;

use crate::Error;

/// What a draw is used for; each purpose is an independent stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum NoisePurpose {
    /// Gumbel-max token sampling: one uniform per vocabulary entry (LLaDA, `f64`).
    Gumbel,
    /// LLaDA `random` remasking: one uniform per position.
    Remask,
    /// Dream `origin`: whether a masked position is revealed this step; one per position.
    Transfer,
    /// Categorical token sampling by inverse CDF: one uniform per position.
    Categorical,
    /// Position sampling with `alg_temp` (Gumbel-top-k over positions): one per position.
    PositionGumbel,
    /// ReMDM: whether a decoded token is masked again this step; one per position.
    Revise,
}

impl NoisePurpose {
    fn code(self) -> u64 {
        match self {
            NoisePurpose::Gumbel => 1,
            NoisePurpose::Remask => 2,
            NoisePurpose::Transfer => 3,
            NoisePurpose::Categorical => 4,
            NoisePurpose::PositionGumbel => 5,
            NoisePurpose::Revise => 6,
        }
    }
}

/// The address of a block of draws.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct NoiseKey {
    /// What the draws are for.
    pub purpose: NoisePurpose,
    /// Global step index (counted across blocks, from 0).
    pub step: u32,
    /// Batch row.
    pub row: u32,
    /// Canvas position.
    pub position: u32,
}

/// A source of uniform draws in the open interval (0, 1).
pub trait NoiseSource: Send + Sync + std::fmt::Debug {
    /// Fills `out` with the draws addressed by `key` (`out.len()` of them).
    ///
    /// # Errors
    /// A recorded source that has no draws for `key` says so.
    fn fill(&self, key: NoiseKey, out: &mut [f64]) -> Result<(), Error>;

    /// One draw at `key`.
    ///
    /// # Errors
    /// As [`NoiseSource::fill`].
    fn uniform(&self, key: NoiseKey) -> Result<f64, Error> {
        let mut v = [0.0];
        self.fill(key, &mut v)?;
        Ok(v[0])
    }
}

/// Seeded counter-based noise (SplitMix64 over a hash of seed and key).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SeededNoise {
    seed: u64,
}

impl SeededNoise {
    /// Noise determined entirely by `seed`.
    pub fn new(seed: u64) -> Self {
        SeededNoise { seed }
    }
}

fn splitmix64(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

impl NoiseSource for SeededNoise {
    fn fill(&self, key: NoiseKey, out: &mut [f64]) -> Result<(), Error> {
        let mut h = splitmix64(self.seed ^ key.purpose.code().rotate_left(56));
        h = splitmix64(h ^ u64::from(key.step));
        h = splitmix64(h ^ (u64::from(key.row) << 32 | u64::from(key.position)));
        for (i, o) in out.iter_mut().enumerate() {
            let bits = splitmix64(h.wrapping_add((i as u64).wrapping_mul(0xD1B5_4A32_D192_ED03)));
            // 53 random bits, centred in their cell so 0 and 1 are never produced.
            *o = ((bits >> 11) as f64 + 0.5) * (1.0 / (1u64 << 53) as f64);
        }
        Ok(())
    }
}

/// Draws recorded from another implementation, replayed by key.
///
/// Each purpose holds a dense array `[steps][rows][len][width]` (`width` = vocabulary for
/// [`NoisePurpose::Gumbel`], 1 for the per-position purposes).
#[derive(Debug, Clone, Default)]
pub struct RecordedNoise {
    tables: Vec<(NoisePurpose, [usize; 4], Vec<f64>)>,
}

impl RecordedNoise {
    /// An empty recording (every `fill` fails until a table is added).
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds the draws for `purpose`, shaped `[steps, rows, len, width]`.
    ///
    /// # Errors
    /// [`Error::InvalidOption`] if `data` does not have `steps·rows·len·width` entries.
    pub fn with(
        mut self,
        purpose: NoisePurpose,
        shape: [usize; 4],
        data: Vec<f64>,
    ) -> Result<Self, Error> {
        let values = shape.iter().try_fold(1usize, |n, &d| n.checked_mul(d));
        if values != Some(data.len()) {
            return Err(Error::option(
                "noise",
                format!(
                    "recorded {purpose:?} noise has {} values, shape {shape:?}",
                    data.len()
                ),
            ));
        }
        self.tables.push((purpose, shape, data));
        Ok(self)
    }
}

impl NoiseSource for RecordedNoise {
    fn fill(&self, key: NoiseKey, out: &mut [f64]) -> Result<(), Error> {
        let (_, [steps, rows, len, width], data) = self
            .tables
            .iter()
            .find(|(p, _, _)| *p == key.purpose)
            .ok_or_else(|| {
                Error::option("noise", format!("no recorded {:?} noise", key.purpose))
            })?;
        let (s, r, p) = (key.step as usize, key.row as usize, key.position as usize);
        if s >= *steps || r >= *rows || p >= *len || out.len() != *width {
            return Err(Error::option(
                "noise",
                format!("recorded noise has no entry for {key:?} × {}", out.len()),
            ));
        }
        // cannot fail: each index is below its dimension (checked above) and `with` checked
        // that the dimensions multiply to `data.len()` without overflow.
        let start = ((s * rows + r) * len + p) * width;
        out.copy_from_slice(&data[start..start + width]);
        Ok(())
    }
}

/// The noise a [`crate::Decoding`] draws from: borrowed for a blocking call, shared for a value
/// that outlives its caller's frame (a server's queue).
#[derive(Debug, Clone)]
pub enum NoiseRef<'n> {
    /// A source the caller keeps.
    Borrowed(&'n dyn NoiseSource),
    /// A source the decoding co-owns.
    Shared(Arc<dyn NoiseSource>),
}

impl NoiseRef<'_> {
    pub(crate) fn get(&self) -> &dyn NoiseSource {
        match self {
            NoiseRef::Borrowed(n) => *n,
            NoiseRef::Shared(n) => n.as_ref(),
        }
    }
}

impl<'n> From<&'n dyn NoiseSource> for NoiseRef<'n> {
    fn from(n: &'n dyn NoiseSource) -> Self {
        NoiseRef::Borrowed(n)
    }
}

impl<'n, N: NoiseSource + 'static> From<&'n N> for NoiseRef<'n> {
    fn from(n: &'n N) -> Self {
        NoiseRef::Borrowed(n)
    }
}

impl From<Arc<dyn NoiseSource>> for NoiseRef<'static> {
    fn from(n: Arc<dyn NoiseSource>) -> Self {
        NoiseRef::Shared(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(step: u32, position: u32) -> NoiseKey {
        NoiseKey {
            purpose: NoisePurpose::Gumbel,
            step,
            row: 0,
            position,
        }
    }

    #[test]
    fn seeded_noise_is_keyed_and_in_open_interval() {
        let n = SeededNoise::new(42);
        let mut a = vec![0.0; 1000];
        let mut b = vec![0.0; 1000];
        n.fill(key(3, 5), &mut a).unwrap();
        n.fill(key(3, 5), &mut b).unwrap();
        assert_eq!(a, b, "same key, same draws");
        n.fill(key(3, 6), &mut b).unwrap();
        assert_ne!(a, b, "different position, different draws");
        assert!(a.iter().all(|&u| u > 0.0 && u < 1.0));
        let mean = a.iter().sum::<f64>() / a.len() as f64;
        assert!((mean - 0.5).abs() < 0.05, "mean {mean}");
        let other = SeededNoise::new(43).uniform(key(3, 5)).unwrap();
        assert_ne!(other, a[0]);
    }

    #[test]
    fn recorded_noise_replays_by_key_and_refuses_gaps() {
        let data: Vec<f64> = (0..2 * 3 * 2).map(|i| i as f64).collect();
        let n = RecordedNoise::new()
            .with(NoisePurpose::Gumbel, [2, 1, 3, 2], data)
            .unwrap();
        let mut out = [0.0; 2];
        n.fill(key(1, 2), &mut out).unwrap();
        assert_eq!(out, [10.0, 11.0]);
        assert!(n.fill(key(2, 0), &mut out).is_err());
        assert!(
            n.uniform(NoiseKey {
                purpose: NoisePurpose::Remask,
                ..key(0, 0)
            })
            .is_err()
        );
        assert!(
            RecordedNoise::new()
                .with(NoisePurpose::Remask, [1, 1, 1, 1], vec![])
                .is_err()
        );
        // A shape whose product wraps to the data's length is refused, not wrapped.
        assert!(
            RecordedNoise::new()
                .with(NoisePurpose::Remask, [usize::MAX / 2 + 1, 2, 1, 1], vec![])
                .is_err()
        );
        assert!(crate::Logits::from_vec(vec![], usize::MAX / 2 + 1, 2, 1).is_none());
    }
}
