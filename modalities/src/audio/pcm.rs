//! Mono PCM audio and the limits that guard against absurd inputs.

use super::AudioError;

/// Mono audio: `samples` at `sample_rate` Hz.
///
/// Samples are `f32` in the range [-1, 1] (full scale); values outside are allowed in memory
/// but are clipped when written as 16-bit WAV. Decoded 16-bit PCM is read as `sample / 32768`,
/// so `i16::MIN` maps to exactly -1.0 and `i16::MAX` to 32767/32768.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Pcm {
    /// The samples, one per frame, in [-1, 1].
    pub samples: Vec<f32>,
    /// Frames per second.
    pub sample_rate: u32,
}

impl Pcm {
    /// Wraps mono samples.
    ///
    /// # Errors
    /// [`AudioError::InvalidAudio`] if `sample_rate` is zero or a sample is not finite.
    pub fn new(samples: Vec<f32>, sample_rate: u32) -> Result<Self, AudioError> {
        if sample_rate == 0 {
            return Err(AudioError::InvalidAudio("sample rate 0".into()));
        }
        if let Some(i) = samples.iter().position(|s| !s.is_finite()) {
            return Err(AudioError::InvalidAudio(format!(
                "sample {i} is not finite"
            )));
        }
        Ok(Self {
            samples,
            sample_rate,
        })
    }

    /// Mixes interleaved multi-channel audio down to mono: each frame becomes the mean of its
    /// channels.
    ///
    /// # Errors
    /// [`AudioError::InvalidAudio`] if `channels` is zero, the sample count is not a multiple
    /// of it, or the rate is zero.
    pub fn from_interleaved(
        interleaved: &[f32],
        channels: usize,
        sample_rate: u32,
    ) -> Result<Self, AudioError> {
        if channels == 0 || !interleaved.len().is_multiple_of(channels) {
            return Err(AudioError::InvalidAudio(format!(
                "{} interleaved samples do not divide into {channels} channels",
                interleaved.len()
            )));
        }
        let samples = if channels == 1 {
            interleaved.to_vec()
        } else {
            let inv = 1.0 / channels as f32;
            interleaved
                .chunks_exact(channels)
                .map(|frame| frame.iter().sum::<f32>() * inv)
                .collect()
        };
        Self::new(samples, sample_rate)
    }

    /// The number of samples.
    pub fn len(&self) -> usize {
        self.samples.len()
    }

    /// Whether there are no samples.
    pub fn is_empty(&self) -> bool {
        self.samples.is_empty()
    }

    /// The duration in seconds.
    pub fn duration_s(&self) -> f64 {
        self.samples.len() as f64 / f64::from(self.sample_rate.max(1))
    }

    /// Checks the audio is non-empty, has a rate, and fits `limits`.
    ///
    /// # Errors
    /// [`AudioError::Empty`], [`AudioError::InvalidAudio`] or [`AudioError::TooLong`].
    pub fn check(&self, limits: &AudioLimits) -> Result<(), AudioError> {
        if self.sample_rate == 0 {
            return Err(AudioError::InvalidAudio("sample rate 0".into()));
        }
        if self.samples.is_empty() {
            return Err(AudioError::Empty);
        }
        limits.check_frames(self.samples.len(), self.sample_rate)
    }
}

/// Bounds on the audio the module accepts, so that a hostile or mistaken input cannot make
/// it allocate without limit.
#[derive(Debug, Clone, Copy, PartialEq)]
#[non_exhaustive]
pub struct AudioLimits {
    /// The longest audio accepted, in seconds (decoding stops with [`AudioError::TooLong`]
    /// once it is passed; tokenizers refuse longer input). Default: 600 s.
    pub max_duration_s: f64,
}

impl Default for AudioLimits {
    fn default() -> Self {
        Self {
            max_duration_s: 600.0,
        }
    }
}

impl AudioLimits {
    /// Limits with the given maximum duration in seconds.
    pub fn with_max_duration_s(max_duration_s: f64) -> Self {
        Self { max_duration_s }
    }

    /// The most frames allowed at `sample_rate`.
    pub fn max_frames(&self, sample_rate: u32) -> usize {
        let n = self.max_duration_s.max(0.0) * f64::from(sample_rate);
        if n >= usize::MAX as f64 {
            usize::MAX
        } else {
            n as usize
        }
    }

    /// Checks `frames` at `sample_rate` against the limit.
    ///
    /// # Errors
    /// [`AudioError::TooLong`] when it is longer.
    pub fn check_frames(&self, frames: usize, sample_rate: u32) -> Result<(), AudioError> {
        if frames > self.max_frames(sample_rate) {
            return Err(AudioError::TooLong {
                seconds: frames as f64 / f64::from(sample_rate.max(1)),
                max_seconds: self.max_duration_s,
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mixdown_is_the_channel_mean() {
        let pcm = Pcm::from_interleaved(&[1.0, 0.0, -0.5, 0.5, 0.25, 0.75], 2, 8000).unwrap();
        assert_eq!(pcm.samples, vec![0.5, 0.0, 0.5]);
        assert!(Pcm::from_interleaved(&[1.0, 0.0, 0.5], 2, 8000).is_err());
        assert!(Pcm::from_interleaved(&[1.0], 0, 8000).is_err());
    }

    #[test]
    fn limits_refuse_long_audio() {
        let pcm = Pcm::new(vec![0.0; 16_001], 16_000).unwrap();
        assert!(pcm.check(&AudioLimits::with_max_duration_s(2.0)).is_ok());
        assert!(matches!(
            pcm.check(&AudioLimits::with_max_duration_s(1.0)),
            Err(AudioError::TooLong { .. })
        ));
        let empty = Pcm::new(vec![], 16_000).unwrap();
        assert!(matches!(
            empty.check(&AudioLimits::default()),
            Err(AudioError::Empty)
        ));
        assert!(Pcm::new(vec![f32::NAN], 16_000).is_err());
        assert!(Pcm::new(vec![0.0], 0).is_err());
    }
}
