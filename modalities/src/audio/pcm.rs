//! Mono PCM audio and the limits that guard against absurd inputs.

use serde::{Deserialize, Serialize};

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

    /// Checks the audio is non-empty, has a rate within `limits`, and is no longer than
    /// `limits` allow.
    ///
    /// # Errors
    /// [`AudioError::Empty`], [`AudioError::InvalidAudio`] (rate 0),
    /// [`AudioError::SampleRateOutOfRange`] or [`AudioError::TooLong`].
    pub fn check(&self, limits: &AudioLimits) -> Result<(), AudioError> {
        if self.sample_rate == 0 {
            return Err(AudioError::InvalidAudio("sample rate 0".into()));
        }
        limits.check_sample_rate(self.sample_rate)?;
        if self.samples.is_empty() {
            return Err(AudioError::Empty);
        }
        limits.check_frames(self.samples.len(), self.sample_rate)
    }
}

/// Bounds on the audio the module accepts, so that a hostile or mistaken input cannot make
/// it allocate without limit.
///
/// Decoding checks them before any allocation proportional to the input: the file size from
/// the file's metadata (a stream such as `/dev/zero` is cut off one byte past the limit), the
/// sample rate and the declared duration from the header; resampling checks both rates before
/// it builds its filters (whose size grows with `rate / gcd(rates)`).
///
/// | field | default |
/// |---|---|
/// | [`max_duration_s`](Self::max_duration_s) | 600 s |
/// | [`max_file_bytes`](Self::max_file_bytes) | 256 MiB |
/// | [`min_sample_rate`](Self::min_sample_rate) | 1 000 Hz |
/// | [`max_sample_rate`](Self::max_sample_rate) | 384 000 Hz |
///
/// At the defaults the decoded signal is at most 600 s × 384 000 Hz × 4 bytes ≈ 920 MB, and
/// a resampler's filters a few tens of MB.
///
/// ```
/// use tessera_modalities::audio::AudioLimits;
/// let limits = AudioLimits::with_max_duration_s(30.0).with_max_file_bytes(1 << 20);
/// assert_eq!(limits.max_sample_rate, AudioLimits::DEFAULT_MAX_SAMPLE_RATE);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default)]
#[non_exhaustive]
pub struct AudioLimits {
    /// The longest audio accepted, in seconds (decoding stops with [`AudioError::TooLong`]
    /// once it is passed; tokenizers refuse longer input). Default
    /// [`Self::DEFAULT_MAX_DURATION_S`] (600 s).
    pub max_duration_s: f64,
    /// The largest file (or byte buffer) decoded, in bytes. Default
    /// [`Self::DEFAULT_MAX_FILE_BYTES`] (256 MiB).
    pub max_file_bytes: u64,
    /// The lowest sample rate accepted, in Hz. Default [`Self::DEFAULT_MIN_SAMPLE_RATE`]
    /// (1 000 Hz).
    pub min_sample_rate: u32,
    /// The highest sample rate accepted, in Hz. Default [`Self::DEFAULT_MAX_SAMPLE_RATE`]
    /// (384 000 Hz).
    pub max_sample_rate: u32,
}

impl Default for AudioLimits {
    fn default() -> Self {
        Self {
            max_duration_s: Self::DEFAULT_MAX_DURATION_S,
            max_file_bytes: Self::DEFAULT_MAX_FILE_BYTES,
            min_sample_rate: Self::DEFAULT_MIN_SAMPLE_RATE,
            max_sample_rate: Self::DEFAULT_MAX_SAMPLE_RATE,
        }
    }
}

impl AudioLimits {
    /// Default [`Self::max_duration_s`]: 600 s.
    pub const DEFAULT_MAX_DURATION_S: f64 = 600.0;
    /// Default [`Self::max_file_bytes`]: 256 MiB.
    pub const DEFAULT_MAX_FILE_BYTES: u64 = 256 * 1024 * 1024;
    /// Default [`Self::min_sample_rate`]: 1 000 Hz.
    pub const DEFAULT_MIN_SAMPLE_RATE: u32 = 1_000;
    /// Default [`Self::max_sample_rate`]: 384 000 Hz.
    pub const DEFAULT_MAX_SAMPLE_RATE: u32 = 384_000;

    /// The default limits with a maximum duration of `max_duration_s` seconds.
    pub fn with_max_duration_s(max_duration_s: f64) -> Self {
        Self {
            max_duration_s,
            ..Self::default()
        }
    }

    /// The same limits with `max_file_bytes`.
    pub fn with_max_file_bytes(mut self, max_file_bytes: u64) -> Self {
        self.max_file_bytes = max_file_bytes;
        self
    }

    /// The same limits accepting sample rates `min..=max` Hz.
    pub fn with_sample_rate_range(mut self, min: u32, max: u32) -> Self {
        self.min_sample_rate = min;
        self.max_sample_rate = max;
        self
    }

    /// The most frames allowed at `sample_rate`.
    pub fn max_frames(&self, sample_rate: u32) -> usize {
        let n = self.max_duration_s.max(0.0) * f64::from(sample_rate);
        if n.is_nan() {
            0
        } else if n >= usize::MAX as f64 {
            usize::MAX
        } else {
            // In [0, usize::MAX): the cast truncates toward zero.
            n as usize
        }
    }

    /// Checks `frames` at `sample_rate` against the limit.
    ///
    /// # Errors
    /// [`AudioError::TooLong`] when it is longer.
    pub fn check_frames(&self, frames: usize, sample_rate: u32) -> Result<(), AudioError> {
        self.check_frames_u64(u64::try_from(frames).unwrap_or(u64::MAX), sample_rate)
    }

    /// [`Self::check_frames`] for a frame count declared by a header (which may not fit in
    /// memory, let alone a `usize`).
    pub(crate) fn check_frames_u64(&self, frames: u64, sample_rate: u32) -> Result<(), AudioError> {
        let max = u64::try_from(self.max_frames(sample_rate)).unwrap_or(u64::MAX);
        if frames > max {
            return Err(AudioError::TooLong {
                seconds: frames as f64 / f64::from(sample_rate.max(1)),
                max_seconds: self.max_duration_s,
                lower_bound: false,
            });
        }
        Ok(())
    }

    /// Checks a sample rate against [`Self::min_sample_rate`]..=[`Self::max_sample_rate`].
    ///
    /// # Errors
    /// [`AudioError::SampleRateOutOfRange`] outside the range.
    pub fn check_sample_rate(&self, rate: u32) -> Result<(), AudioError> {
        if !(self.min_sample_rate..=self.max_sample_rate).contains(&rate) {
            return Err(AudioError::SampleRateOutOfRange {
                rate,
                min: self.min_sample_rate,
                max: self.max_sample_rate,
            });
        }
        Ok(())
    }

    /// Checks a file or buffer of `bytes` bytes.
    ///
    /// # Errors
    /// [`AudioError::FileTooLarge`] when it is larger than [`Self::max_file_bytes`].
    pub fn check_file_bytes(&self, bytes: u64) -> Result<(), AudioError> {
        if bytes > self.max_file_bytes {
            return Err(AudioError::FileTooLarge {
                bytes: Some(bytes),
                max_file_bytes: self.max_file_bytes,
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

    #[test]
    fn limits_check_rates_and_sizes_and_serialise() {
        let l = AudioLimits::default();
        assert!(l.check_sample_rate(1_000).is_ok());
        assert!(l.check_sample_rate(384_000).is_ok());
        assert!(matches!(
            l.check_sample_rate(999),
            Err(AudioError::SampleRateOutOfRange { rate: 999, .. })
        ));
        assert!(matches!(
            Pcm::new(vec![0.0; 4], 1).unwrap().check(&l),
            Err(AudioError::SampleRateOutOfRange { rate: 1, .. })
        ));
        assert!(matches!(
            l.with_max_file_bytes(3).check_file_bytes(4),
            Err(AudioError::FileTooLarge { bytes: Some(4), .. })
        ));
        assert!(matches!(
            l.check_frames_u64(u64::MAX, 48_000),
            Err(AudioError::TooLong {
                lower_bound: false,
                ..
            })
        ));
        let back: AudioLimits = serde_json::from_str(&serde_json::to_string(&l).unwrap()).unwrap();
        assert_eq!(back, l);
        let partial: AudioLimits = serde_json::from_str(r#"{"max_duration_s": 5.0}"#).unwrap();
        assert_eq!(partial, AudioLimits::with_max_duration_s(5.0));
    }
}
