//! Playing a [`Tune`]: the exact waveform.
//!
//! 16 kHz mono. Each note is [`NOTE_SAMPLES`] = 4000 samples (0.25 s); a tune is
//! [`TUNE_SAMPLES`] = 12000 (0.75 s). Sample `i` (`0 ≤ i < 4000`) of a note of frequency `f`
//! is `0.5 · sin(2π · f · i / 16000) · g(i)`: the phase restarts at every note. The gain is
//! `g(i) = min(1, i / 160, (3999 − i) / 160)`: a linear fade in over the first 160 samples
//! (10 ms, `g(0) = 0`, `g(160) = 1`) and out over the last 160 (`g(3839) = 1`,
//! `g(3999) = 0`). Computed in `f64`, stored as `f32`.

use super::Tune;

/// The tones world's sample rate in Hz.
pub const SAMPLE_RATE: u32 = 16_000;

/// Samples per note: 0.25 s.
pub const NOTE_SAMPLES: usize = 4_000;

/// Samples per tune: three notes, 0.75 s.
pub const TUNE_SAMPLES: usize = 3 * NOTE_SAMPLES;

/// Samples of each linear fade (10 ms).
pub const FADE_SAMPLES: usize = 160;

/// The amplitude of every note.
pub const AMPLITUDE: f64 = 0.5;

/// The gain of sample `i` of a note: `min(1, i / 160, (3999 − i) / 160)`, 0 outside the note.
pub fn fade(i: usize) -> f64 {
    fade_in_out(i, NOTE_SAMPLES)
}

/// The gain of sample `i` of a note of `length` samples: `min(1, i / 160, (length − 1 − i) /
/// 160)`, 0 outside the note.
pub(crate) fn fade_in_out(i: usize, length: usize) -> f64 {
    if i >= length {
        return 0.0;
    }
    let fade = FADE_SAMPLES as f64;
    (i as f64 / fade)
        .min((length - 1 - i) as f64 / fade)
        .min(1.0)
}

impl Tune {
    /// Plays the tune: [`TUNE_SAMPLES`] = 12000 samples at [`SAMPLE_RATE`] = 16 kHz mono.
    ///
    /// Each note is [`NOTE_SAMPLES`] = 4000 samples (0.25 s). Sample `i` of a note of
    /// frequency `f` ([`Note::frequency`](super::Note::frequency)) is
    /// `0.5 · sin(2π · f · i / 16000) · g(i)`: the phase restarts at every note, and the gain
    /// [`fade`] `g(i) = min(1, i / 160, (3999 − i) / 160)` fades linearly in over the first
    /// 160 samples (10 ms) and out over the last 160. Computed in `f64`, stored as `f32`.
    /// This is [`Tune::render_with`] the [`Performance::canonical`](super::Performance).
    pub fn render(&self) -> Vec<f32> {
        self.render_with(&super::Performance::canonical())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tones::Note;

    #[test]
    fn fade_shape() {
        assert_eq!(fade(0), 0.0);
        assert_eq!(fade(80), 0.5);
        assert_eq!(fade(160), 1.0);
        assert_eq!(fade(2000), 1.0);
        assert_eq!(fade(3839), 1.0);
        assert_eq!(fade(3919), 0.5);
        assert_eq!(fade(3999), 0.0);
        assert_eq!(fade(4000), 0.0);
        for i in 1..NOTE_SAMPLES {
            assert!((fade(i) - fade(i - 1)).abs() <= 1.0 / 160.0 + 1e-12);
        }
    }

    #[test]
    fn waveform() {
        let tune = Tune {
            notes: [Note::A4, Note::C4, Note::C5],
        };
        let s = tune.render();
        assert_eq!(s.len(), TUNE_SAMPLES);
        // Every note starts and ends silent.
        for n in 0..3 {
            assert_eq!(s[n * NOTE_SAMPLES], 0.0);
            assert_eq!(s[n * NOTE_SAMPLES + NOTE_SAMPLES - 1], 0.0);
        }
        let peak = s.iter().fold(0f32, |m, v| m.max(v.abs()));
        assert!(peak <= 0.5 && peak > 0.499, "{peak}");
        // Sample 500 of the A4 note: 0.5·sin(2π·440·500/16000) = 0.5·sin(27.5π) = -0.5.
        assert!((s[500] + 0.5).abs() < 1e-6);
        // The phase restarts: the C5 note's first full-gain samples follow sin from 0.
        let step = std::f64::consts::TAU * Note::C5.frequency() / 16000.0;
        let i = 500;
        let want = 0.5 * (step * i as f64).sin();
        assert!((f64::from(s[2 * NOTE_SAMPLES + i]) - want).abs() < 1e-6);
        // The A4 note has 440 · 0.25 = 110 periods: ~220 sign changes.
        let crossings = s[..NOTE_SAMPLES]
            .windows(2)
            .filter(|w| (w[0] < 0.0) != (w[1] < 0.0))
            .count();
        assert!((216..=222).contains(&crossings), "{crossings}");
    }
}
