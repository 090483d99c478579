//! [`check_audio`]: reads the [`Tune`] back from a clip, also from a lossy reconstruction
//! (an audio codec's decode: padded, noisy, slightly delayed or detuned).

use super::render::{NOTE_SAMPLES, TUNE_SAMPLES};
use super::{Note, SAMPLE_RATE, Tune};
use crate::WorldError;

/// The shortest clip accepted: 90% of a tune (10800 samples).
pub const MIN_CLIP_SAMPLES: usize = TUNE_SAMPLES * 9 / 10;

/// The longest clip accepted: 110% of a tune (13200 samples; a codec may pad to its frame).
pub const MAX_CLIP_SAMPLES: usize = TUNE_SAMPLES * 11 / 10;

/// Samples skipped at each end of a note's window: the fades and a 15 ms margin for delay.
const MARGIN: usize = 400;

/// A note's window with an RMS below this is silent.
const MIN_RMS: f64 = 0.01;

/// A note's window whose strongest candidate holds less than this share of the power a pure
/// tone would show is noise, not a note.
const MIN_TONALITY: f64 = 0.1;

/// Each note is searched ±50 cents around its frequency, in steps of this many cents.
const CENT_STEP: i32 = 10;

/// Reads the three notes of a 16 kHz clip.
///
/// The rule: note `k` (0, 1, 2) is read from samples `4000k + 400 .. 4000k + 3600` (clipped
/// to the clip's end), skipping the fades. That window is weighted by a Hann window, and each
/// of the eight notes scores the largest Goertzel power at its frequency detuned by −50 to
/// +50 cents in 10-cent steps (so a slightly detuned reconstruction still reads right); the
/// best score wins (ties to the lower note).
///
/// Errors: a rate other than 16000 ([`WorldError::SampleRate`]); a length outside
/// [`MIN_CLIP_SAMPLES`]`..=`[`MAX_CLIP_SAMPLES`] (10800..=13200, 0.75 s ± 10%;
/// [`WorldError::AudioLength`]); a NaN or infinite sample ([`WorldError::NonFinite`]); a
/// window with an RMS below 0.01, or whose best score is under a tenth of what a pure tone
/// of the window's energy gives, as for noise ([`WorldError::NoTone`]).
pub fn check_audio(samples: &[f32], sample_rate: u32) -> Result<Tune, WorldError> {
    if sample_rate != SAMPLE_RATE {
        return Err(WorldError::SampleRate {
            got: sample_rate,
            expected: SAMPLE_RATE,
        });
    }
    if !(MIN_CLIP_SAMPLES..=MAX_CLIP_SAMPLES).contains(&samples.len()) {
        return Err(WorldError::AudioLength {
            got: samples.len(),
            expected: TUNE_SAMPLES,
            min: MIN_CLIP_SAMPLES,
            max: MAX_CLIP_SAMPLES,
        });
    }
    if let Some(index) = samples.iter().position(|s| !s.is_finite()) {
        return Err(WorldError::NonFinite { index });
    }
    let mut notes = [Note::C4; 3];
    for (k, note) in notes.iter_mut().enumerate() {
        // cannot fail: the clip has at least `MIN_CLIP_SAMPLES` (checked above), more than the
        // last window's start, so `start ≤ end ≤ samples.len()`.
        let start = k * NOTE_SAMPLES + MARGIN;
        let end = (k * NOTE_SAMPLES + NOTE_SAMPLES - MARGIN).min(samples.len());
        *note = read_note(&samples[start..end])
            .map_err(|reason| WorldError::NoTone { note: k, reason })?;
    }
    Ok(Tune { notes })
}

/// The note of one window, or why there is none.
fn read_note(window: &[f32]) -> Result<Note, String> {
    let n = window.len();
    let raw_energy: f64 = window.iter().map(|&s| f64::from(s).powi(2)).sum();
    let rms = (raw_energy / n as f64).sqrt();
    if rms < MIN_RMS {
        return Err(format!("silent (RMS {rms:.4} < {MIN_RMS})"));
    }
    let hann: Vec<f64> = (0..n)
        .map(|i| 0.5 - 0.5 * (std::f64::consts::TAU * (i as f64 + 0.5) / n as f64).cos())
        .collect();
    let weighted: Vec<f64> = window
        .iter()
        .zip(&hann)
        .map(|(&s, w)| f64::from(s) * w)
        .collect();
    let mut best = (Note::C4, f64::NEG_INFINITY);
    for note in Note::ALL {
        let score = (-50 / CENT_STEP..=50 / CENT_STEP)
            .map(|c| {
                let f = note.frequency() * 2f64.powf(f64::from(c * CENT_STEP) / 1200.0);
                goertzel(&weighted, f / f64::from(SAMPLE_RATE))
            })
            .fold(f64::NEG_INFINITY, f64::max);
        if score > best.1 {
            best = (note, score);
        }
    }
    // A pure tone of amplitude A gives power A²(Σw)²/4 and weighted energy A²Σw²/2.
    let sum_w: f64 = hann.iter().sum();
    let sum_w2: f64 = hann.iter().map(|w| w * w).sum();
    let energy: f64 = weighted.iter().map(|v| v * v).sum();
    let tonality = best.1 * 2.0 * sum_w2 / (sum_w * sum_w * energy);
    if tonality < MIN_TONALITY {
        return Err(format!(
            "no tone (the best note, {}, holds {tonality:.3} of a pure tone's power)",
            best.0
        ));
    }
    Ok(best.0)
}

/// `|Σ x[n] e^{−2πi·f·n}|²` for `f` in cycles per sample (the Goertzel recurrence).
fn goertzel(x: &[f64], f: f64) -> f64 {
    let coeff = 2.0 * (std::f64::consts::TAU * f).cos();
    let (mut s1, mut s2) = (0.0, 0.0);
    for &v in x {
        let s = v + coeff * s1 - s2;
        s2 = s1;
        s1 = s;
    }
    s1 * s1 + s2 * s2 - coeff * s1 * s2
}

#[cfg(test)]
mod tests {
    use tessera_modalities::rng::SplitMix64;

    use super::*;
    use crate::tones::render::fade;

    /// Gaussian-ish noise of standard deviation `sd` (a sum of 4 uniforms).
    fn noise(rng: &mut SplitMix64, sd: f64) -> f32 {
        let u: f64 = (0..4).map(|_| rng.next_f64() - 0.5).sum();
        (u * sd * 3f64.sqrt()) as f32
    }

    #[test]
    fn goertzel_is_the_dft_power() {
        let x: Vec<f64> = (0..64).map(|i| ((i * 7) % 13) as f64 - 6.0).collect();
        for f in [0.0, 0.1, 0.23, 0.5] {
            let (re, im) = x.iter().enumerate().fold((0.0, 0.0), |(re, im), (n, v)| {
                let a = std::f64::consts::TAU * f * n as f64;
                (re + v * a.cos(), im - v * a.sin())
            });
            let want = re * re + im * im;
            assert!((goertzel(&x, f) - want).abs() < 1e-6 * want.max(1.0));
        }
    }

    #[test]
    fn every_tune_reads_back_exactly() {
        for tune in Tune::all() {
            assert_eq!(check_audio(&tune.render(), SAMPLE_RATE), Ok(tune), "{tune}");
        }
    }

    #[test]
    fn survives_noise_padding_delay_and_gain() {
        let mut rng = SplitMix64::new(17);
        for (i, tune) in Tune::all().enumerate() {
            let clean = tune.render();
            // Noise at about 5 dB SNR, a gain, a delay of up to 160 samples, and padding or
            // truncation to a frame size.
            let delay = rng.below(161);
            let gain = 0.2 + 1.6 * rng.next_f64();
            let len = [10_800, 11_520, 12_000, 12_288, 12_800, 13_200][i % 6];
            let clip: Vec<f32> = (0..len)
                .map(|j: usize| {
                    let s = j.checked_sub(delay).and_then(|k| clean.get(k)).copied();
                    s.unwrap_or(0.0) * gain as f32 + noise(&mut rng, 0.2 * gain)
                })
                .collect();
            assert_eq!(check_audio(&clip, SAMPLE_RATE), Ok(tune), "{tune} ({i})");
        }
    }

    #[test]
    fn survives_coarse_quantisation_clipping_and_detuning() {
        for (i, tune) in Tune::all().enumerate().step_by(7) {
            // Detuned by up to ±30 cents, clipped at 0.3 and quantised to 16 levels.
            let cents = (i % 7) as f64 * 10.0 - 30.0;
            let mut clip = Vec::new();
            for note in tune.notes {
                let f = note.frequency() * 2f64.powf(cents / 1200.0);
                clip.extend((0..NOTE_SAMPLES).map(|j| {
                    let v = 0.5 * (std::f64::consts::TAU * f * j as f64 / 16000.0).sin() * fade(j);
                    ((v.clamp(-0.3, 0.3) * 25.0).round() / 25.0) as f32
                }));
            }
            assert_eq!(
                check_audio(&clip, SAMPLE_RATE),
                Ok(tune),
                "{tune} at {cents} cents"
            );
        }
    }

    #[test]
    fn bad_clips_are_errors() {
        let good = Tune::all().nth(100).map(|t| t.render()).unwrap_or_default();
        assert_eq!(
            check_audio(&good, 44_100),
            Err(WorldError::SampleRate {
                got: 44_100,
                expected: 16_000
            })
        );
        for len in [0, 4_000, 10_799, 13_201, 24_000] {
            let mut clip = good.clone();
            clip.resize(len, 0.0);
            assert!(
                matches!(
                    check_audio(&clip, SAMPLE_RATE),
                    Err(WorldError::AudioLength { got, .. }) if got == len
                ),
                "{len}"
            );
        }
        assert!(matches!(
            check_audio(&vec![0.0; 12_000], SAMPLE_RATE),
            Err(WorldError::NoTone { note: 0, .. })
        ));
        // A silent last note.
        let mut clip = good.clone();
        clip[8_000..].fill(0.0);
        assert!(matches!(
            check_audio(&clip, SAMPLE_RATE),
            Err(WorldError::NoTone { note: 2, .. })
        ));
        let mut clip = good.clone();
        clip[5_000] = f32::NAN;
        assert_eq!(
            check_audio(&clip, SAMPLE_RATE),
            Err(WorldError::NonFinite { index: 5_000 })
        );
        // Loud noise holds no note.
        let mut rng = SplitMix64::new(3);
        let hiss: Vec<f32> = (0..12_000).map(|_| noise(&mut rng, 0.3)).collect();
        assert!(matches!(
            check_audio(&hiss, SAMPLE_RATE),
            Err(WorldError::NoTone { .. })
        ));
    }
}
