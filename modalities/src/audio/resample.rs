//! Sample-rate conversion with rubato's synchronous FFT resampler.

use rubato::audioadapter_buffers::direct::InterleavedSlice;
use rubato::{Fft, FixedSync, Resampler};

use super::{AudioError, AudioLimits, Pcm};

/// FFT chunk size handed to rubato: long enough for a sharp anti-aliasing filter, short
/// enough that a clip of a few milliseconds is not dominated by padding.
const CHUNK: usize = 1024;

/// Resamples `pcm` to `target_rate` Hz, with both rates within the default
/// [`AudioLimits`] (1 000..=384 000 Hz); see [`resample_with`].
///
/// The output has `ceil(len · target / source)` samples (rubato trims its filter delay, so
/// the signal is not shifted). Content above the lower Nyquist frequency is filtered out.
/// Returns a copy when the rates already agree.
///
/// # Errors
/// [`AudioError::InvalidAudio`] if a rate is zero; [`AudioError::SampleRateOutOfRange`] if a
/// rate is outside the limits; [`AudioError::Resample`] if rubato refuses the conversion.
///
/// # Example
/// ```
/// use tessera_modalities::audio::{resample, Pcm};
/// # fn main() -> Result<(), tessera_modalities::audio::AudioError> {
/// let pcm = Pcm::new(vec![0.0; 16_000], 16_000)?;
/// let up = resample(&pcm, 24_000)?;
/// assert_eq!(up.samples.len(), 24_000);
/// # Ok(()) }
/// ```
pub fn resample(pcm: &Pcm, target_rate: u32) -> Result<Pcm, AudioError> {
    resample_with(pcm, target_rate, &AudioLimits::default())
}

/// [`resample`] with both rates checked against `limits`' sample-rate range before the
/// resampler is built: its FFT sizes grow with `rate / gcd(source, target)`, so an absurd
/// rate (2 147 483 647 Hz, or 1 Hz to 24 kHz) would otherwise allocate gigabytes.
///
/// # Errors
/// As [`resample`].
pub fn resample_with(pcm: &Pcm, target_rate: u32, limits: &AudioLimits) -> Result<Pcm, AudioError> {
    if pcm.sample_rate == 0 || target_rate == 0 {
        return Err(AudioError::InvalidAudio(format!(
            "cannot resample {} Hz to {target_rate} Hz",
            pcm.sample_rate
        )));
    }
    if pcm.sample_rate == target_rate || pcm.samples.is_empty() {
        return Ok(Pcm {
            samples: pcm.samples.clone(),
            sample_rate: target_rate,
        });
    }
    limits.check_sample_rate(pcm.sample_rate)?;
    limits.check_sample_rate(target_rate)?;
    let err = |reason: String| AudioError::Resample {
        from: pcm.sample_rate,
        to: target_rate,
        reason,
    };
    // The output length, ceil(len · target / source), must be addressable.
    let len = pcm.samples.len();
    let out_len = (len as u128 * u128::from(target_rate)).div_ceil(u128::from(pcm.sample_rate));
    if usize::try_from(out_len).is_err() {
        return Err(err(format!(
            "{out_len} output samples do not fit in memory"
        )));
    }
    let mut resampler = Fft::<f32>::new(
        pcm.sample_rate as usize,
        target_rate as usize,
        CHUNK,
        1,
        FixedSync::Both,
    )
    .map_err(|e| err(e.to_string()))?;
    let input = InterleavedSlice::new(&pcm.samples[..], 1, len).map_err(|e| err(e.to_string()))?;
    // rubato unwraps its FFT's results: a panic there is bad input, not the caller's bug.
    let out = crate::contain::contain(|| resampler.process_all(&input, len, None))
        .map_err(|panic| err(format!("the resampler failed ({panic})")))?
        .map_err(|e| err(e.to_string()))?;
    Ok(Pcm {
        samples: out.take_data(),
        sample_rate: target_rate,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn samples_past_full_scale_are_an_error_or_a_result_never_a_panic() {
        // Found by fuzzing: f32 values near f32::MAX overflow rubato's FFT, which unwraps.
        let loud = Pcm {
            samples: (0..4000)
                .map(|i| if i % 2 == 0 { 3e38 } else { -3e38 })
                .collect(),
            sample_rate: 73_536,
        };
        let _ = resample_with(&loud, 16_000, &AudioLimits::default());
    }
}
