//! Lookup-free quantisation (LFQ, MAGVIT-v2): each latent channel is one bit.
//!
//! Follows `LFQuantizer` in Gen-Verse/MMaDA `models/modeling_magvitv2.py`: bit `c` is
//! `[z_c > 0]`, the index is `Σ_c 2^(bits−1−c)·bit_c` (channel 0 is the most significant bit)
//! and the code vector of an index is `bit·2 − 1`, so there is no learned codebook.

use candle_core::{Device, Tensor};

use super::ImageError;

/// A lookup-free quantiser over `bits` channels (MAGVIT-v2 uses 13: 8192 codes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lfq {
    bits: usize,
}

impl Lfq {
    /// Largest supported number of bits (codes must fit in `u32`).
    pub const MAX_BITS: usize = 31;

    /// A quantiser over `bits` channels.
    ///
    /// # Errors
    /// [`ImageError::InvalidArgument`] unless `1 <= bits <= 31`.
    pub fn new(bits: usize) -> Result<Self, ImageError> {
        if !(1..=Self::MAX_BITS).contains(&bits) {
            return Err(ImageError::InvalidArgument {
                name: "bits",
                reason: format!("must be between 1 and {}, got {bits}", Self::MAX_BITS),
            });
        }
        Ok(Lfq { bits })
    }

    /// Number of channels (bits per code).
    pub fn bits(&self) -> usize {
        self.bits
    }

    /// Number of codes, `2^bits`.
    pub fn codebook_size(&self) -> usize {
        1usize << self.bits
    }

    /// The index of one latent vector `z` (one value per channel).
    ///
    /// # Errors
    /// [`ImageError::ShapeMismatch`] if `z.len() != bits`.
    pub fn index(&self, z: &[f32]) -> Result<u32, ImageError> {
        self.check_len(z.len())?;
        Ok(z.iter()
            .fold(0u32, |acc, &v| (acc << 1) | u32::from(v > 0.0)))
    }

    /// The code vector (entries ±1) of `index`.
    ///
    /// # Errors
    /// [`ImageError::CodeOutOfRange`] if `index >= 2^bits`.
    pub fn code_vector(&self, index: u32) -> Result<Vec<f32>, ImageError> {
        self.check_code(index, 0)?;
        Ok((0..self.bits)
            .map(|c| {
                if (index >> (self.bits - 1 - c)) & 1 == 1 {
                    1.0
                } else {
                    -1.0
                }
            })
            .collect())
    }

    /// Codes of a latent tensor of shape `(1, bits, h, w)`, row-major over `(h, w)`.
    ///
    /// # Errors
    /// [`ImageError::ShapeMismatch`] for a tensor of another shape.
    pub fn quantize(&self, z: &Tensor) -> Result<Vec<u32>, ImageError> {
        let (b, c, h, w) = z.dims4()?;
        if b != 1 {
            return Err(ImageError::ShapeMismatch {
                what: "latents".into(),
                expected: "a batch of 1".into(),
                found: format!("a batch of {b}"),
            });
        }
        self.check_len(c)?;
        let values = z
            .squeeze(0)?
            .to_dtype(candle_core::DType::F32)?
            .flatten_all()?
            .to_vec1::<f32>()?;
        let n = h * w;
        let mut codes = vec![0u32; n];
        // Channel-major walk: channel 0 ends up as the most significant bit.
        for channel in values.chunks_exact(n) {
            for (code, &v) in codes.iter_mut().zip(channel) {
                *code = (*code << 1) | u32::from(v > 0.0);
            }
        }
        Ok(codes)
    }

    /// The code vectors of a `h × w` grid of codes as a `(1, bits, h, w)` f32 tensor.
    ///
    /// # Errors
    /// [`ImageError::ShapeMismatch`] if `codes.len() != h·w`, [`ImageError::CodeOutOfRange`]
    /// for a code outside the codebook.
    pub fn embed(
        &self,
        codes: &[u32],
        h: usize,
        w: usize,
        device: &Device,
    ) -> Result<Tensor, ImageError> {
        let n = h * w;
        if codes.len() != n {
            return Err(ImageError::ShapeMismatch {
                what: "codes".into(),
                expected: format!("{h}x{w} codes"),
                found: format!("{} codes", codes.len()),
            });
        }
        let mut data = vec![0f32; self.bits * n];
        for (p, &code) in codes.iter().enumerate() {
            self.check_code(code, p)?;
            for c in 0..self.bits {
                let bit = (code >> (self.bits - 1 - c)) & 1;
                data[c * n + p] = if bit == 1 { 1.0 } else { -1.0 };
            }
        }
        Ok(Tensor::from_vec(data, (1, self.bits, h, w), device)?)
    }

    fn check_len(&self, len: usize) -> Result<(), ImageError> {
        if len != self.bits {
            return Err(ImageError::ShapeMismatch {
                what: "latent channels".into(),
                expected: self.bits.to_string(),
                found: len.to_string(),
            });
        }
        Ok(())
    }

    fn check_code(&self, code: u32, position: usize) -> Result<(), ImageError> {
        if u64::from(code) >= 1u64 << self.bits {
            return Err(ImageError::CodeOutOfRange {
                code,
                position,
                codebook_size: self.codebook_size(),
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The reference formula, written independently of the shift-based code above.
    fn reference_index(z: &[f32]) -> u32 {
        let bits = z.len();
        z.iter()
            .enumerate()
            .map(|(c, &v)| {
                if v > 0.0 {
                    2u32.pow((bits - 1 - c) as u32)
                } else {
                    0
                }
            })
            .sum()
    }

    #[test]
    fn all_8192_indices_round_trip_exactly() {
        let lfq = Lfq::new(13).unwrap();
        assert_eq!(lfq.codebook_size(), 8192);
        let dev = Device::Cpu;
        let all: Vec<u32> = (0..8192).collect();
        let embedded = lfq.embed(&all, 64, 128, &dev).unwrap();
        assert_eq!(lfq.quantize(&embedded).unwrap(), all);
        for index in 0..8192u32 {
            let v = lfq.code_vector(index).unwrap();
            assert!(v.iter().all(|&x| x == 1.0 || x == -1.0));
            for (c, &x) in v.iter().enumerate() {
                // bit c = (index >> (12 - c)) & 1, channel 0 most significant.
                let bit = (index / 2u32.pow(12 - c as u32)) % 2;
                assert_eq!(x, bit as f32 * 2.0 - 1.0, "index {index} channel {c}");
            }
            assert_eq!(lfq.index(&v).unwrap(), index);
            assert_eq!(reference_index(&v), index);
            // Any positive/negative magnitudes give the same index as the ±1 vector.
            let scaled: Vec<f32> = v
                .iter()
                .enumerate()
                .map(|(c, &x)| x * (0.001 + c as f32 * 3.7))
                .collect();
            assert_eq!(lfq.index(&scaled).unwrap(), index);
        }
        assert_eq!(lfq.index(&[1.0; 13]).unwrap(), 8191);
        let mut first = [-1.0f32; 13];
        first[0] = 0.5;
        assert_eq!(lfq.index(&first).unwrap(), 4096);
    }

    #[test]
    fn zero_is_the_negative_bit_and_bad_inputs_are_errors() {
        let lfq = Lfq::new(3).unwrap();
        assert_eq!(lfq.index(&[0.0, -0.0, 1e-30]).unwrap(), 0b001);
        assert!(matches!(
            lfq.code_vector(8),
            Err(ImageError::CodeOutOfRange { code: 8, .. })
        ));
        assert!(matches!(
            lfq.index(&[1.0]),
            Err(ImageError::ShapeMismatch { .. })
        ));
        assert!(matches!(
            lfq.embed(&[0, 9], 1, 2, &Device::Cpu),
            Err(ImageError::CodeOutOfRange {
                code: 9,
                position: 1,
                ..
            })
        ));
        assert!(Lfq::new(0).is_err() && Lfq::new(32).is_err());
    }
}
