//! [`Performance`]: how a [`Tune`] is played — the natural variation a listener still hears
//! as the same three notes: each note's phase, loudness, tuning, timing, length and timbre,
//! and background noise. [`Tune::render`] is one performance of the family
//! ([`Performance::canonical`]); [`Performance::sample`] draws others, varying the aspects a
//! [`Variation`] names (one at a time for a robustness table, or all together).

use serde::{Deserialize, Serialize};
use tessera_modalities::rng::SplitMix64;

use super::render::{NOTE_SAMPLES, SAMPLE_RATE, TUNE_SAMPLES, fade_in_out};
use super::{AMPLITUDE, Tune};

/// The sound of a note: how its energy spreads over harmonics and time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Timbre {
    /// A pure tone (the canonical rendering).
    Sine,
    /// Six harmonics at amplitudes 1/k (a bright, organ- or reed-like tone).
    Harmonic,
    /// A plucked string: harmonics 1–4 at 1/k², each decaying exponentially, the higher ones
    /// faster (time constants 0.12 s / k).
    Pluck,
}

impl Timbre {
    /// Every timbre, canonical first.
    pub const ALL: [Timbre; 3] = [Timbre::Sine, Timbre::Harmonic, Timbre::Pluck];

    /// The timbre's sample `t` seconds into the note, where the fundamental has turned `w`
    /// radians from its starting `phase`; peak-normalised so that every timbre reaches about
    /// ±1.
    fn sample(self, w: f64, t: f64, phase: f64) -> f64 {
        match self {
            Timbre::Sine => (w + phase).sin(),
            Timbre::Harmonic => {
                // Σ 1/k is 2.45 for k ≤ 6: the peak stays under 1 after the division.
                (1..=6)
                    .map(|k| (k as f64 * (w + phase)).sin() / k as f64)
                    .sum::<f64>()
                    / 2.45
            }
            Timbre::Pluck => {
                (1..=4)
                    .map(|k| {
                        let k = k as f64;
                        (k * (w + phase)).sin() / (k * k) * (-t * k / 0.12).exp()
                    })
                    .sum::<f64>()
                    / 1.42
            }
        }
    }
}

/// How one note of a performance is played.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Voicing {
    /// Starting phase of the fundamental, radians.
    pub phase: f64,
    /// Peak amplitude (canonical 0.5; varied 0.2–0.8).
    pub amplitude: f64,
    /// Frequency multiplier (canonical 1; varied within ±1.5 %).
    pub detune: f64,
    /// Onset relative to the note's slot, in samples (canonical 0; varied within ±10 ms).
    pub onset: i32,
    /// Length in samples (canonical 4000 = 0.25 s; varied 0.22–0.28 s).
    pub length: usize,
    /// The note's timbre.
    pub timbre: Timbre,
}

impl Voicing {
    /// The canonical note: phase 0, amplitude 0.5, in tune, on time, 0.25 s, a sine.
    pub const CANONICAL: Voicing = Voicing {
        phase: 0.0,
        amplitude: AMPLITUDE,
        detune: 1.0,
        onset: 0,
        length: NOTE_SAMPLES,
        timbre: Timbre::Sine,
    };
}

/// The aspects of a performance that vary (each `true` aspect is drawn from its range).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Variation {
    /// Each note's starting phase, uniform in [0, 2π).
    pub phase: bool,
    /// Each note's amplitude, uniform in [0.2, 0.8].
    pub amplitude: bool,
    /// Each note's tuning, uniform within ±1.5 %.
    pub detune: bool,
    /// Each note's onset, uniform within ±10 ms, and length, uniform in 0.22–0.28 s.
    pub timing: bool,
    /// White noise at a signal-to-noise ratio uniform in 25–45 dB.
    pub noise: bool,
    /// The timbre, one of [`Timbre::ALL`] for the whole tune.
    pub timbre: bool,
}

impl Variation {
    /// Nothing varies: the canonical rendering.
    pub const NONE: Variation = Variation {
        phase: false,
        amplitude: false,
        detune: false,
        timing: false,
        noise: false,
        timbre: false,
    };

    /// Everything varies at once.
    pub const ALL: Variation = Variation {
        phase: true,
        amplitude: true,
        detune: true,
        timing: true,
        noise: true,
        timbre: true,
    };

    /// Each aspect alone, by name: the rows of a robustness table ([`Variation::ALL`]
    /// varies them together).
    pub fn each() -> [(&'static str, Variation); 6] {
        crate::rendering::one_at_a_time(
            Variation::NONE,
            [
                ("phase", |v| v.phase = true),
                ("amplitude", |v| v.amplitude = true),
                ("detune", |v| v.detune = true),
                ("timing", |v| v.timing = true),
                ("noise", |v| v.noise = true),
                ("timbre", |v| v.timbre = true),
            ],
        )
    }
}

/// How a tune is played: one [`Voicing`] per note, and the background noise.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Performance {
    /// The three notes' voicings, in playing order.
    pub notes: [Voicing; 3],
    /// Signal-to-noise ratio of added white noise in dB (`None`: silence between notes).
    pub snr_db: Option<f64>,
    /// Seed of the noise samples.
    pub noise_seed: u64,
}

impl Performance {
    /// The canonical performance, the one [`Tune::render`] plays.
    pub fn canonical() -> Self {
        Performance {
            notes: [Voicing::CANONICAL; 3],
            snr_db: None,
            noise_seed: 0,
        }
    }

    /// A performance whose aspects named by `variation` are drawn from `rng` (the others
    /// canonical). Every aspect consumes its draws whether it varies or not, so one seed
    /// gives the same phases with and without, say, noise.
    pub fn sample(rng: &mut SplitMix64, variation: Variation) -> Self {
        let timbre = Timbre::ALL[rng.below(Timbre::ALL.len())];
        let notes = [0; 3].map(|_| {
            let (phase, amplitude, detune) = (rng.next_f64(), rng.next_f64(), rng.next_f64());
            let (onset, length) = (rng.next_f64(), rng.next_f64());
            let c = Voicing::CANONICAL;
            Voicing {
                phase: pick(variation.phase, phase * std::f64::consts::TAU, c.phase),
                amplitude: pick(variation.amplitude, 0.2 + 0.6 * amplitude, c.amplitude),
                detune: pick(variation.detune, 1.0 + 0.03 * (detune - 0.5), c.detune),
                onset: pick(variation.timing, (onset * 321.0) as i32 - 160, c.onset),
                length: pick(variation.timing, 3520 + (length * 961.0) as usize, c.length),
                timbre: pick(variation.timbre, timbre, c.timbre),
            }
        });
        let snr = 25.0 + 20.0 * rng.next_f64();
        let noise_seed = rng.next_u64();
        Performance {
            notes,
            snr_db: variation.noise.then_some(snr),
            noise_seed,
        }
    }
}

fn pick<T>(varies: bool, drawn: T, canonical: T) -> T {
    if varies { drawn } else { canonical }
}

impl Tune {
    /// Plays the tune as `performance` says: [`TUNE_SAMPLES`] samples at 16 kHz mono.
    ///
    /// Note `k` starts at sample `4000k + onset` and lasts `length` samples (clipped to the
    /// clip), with the canonical 10 ms linear fades at both ends; its sample at `i` samples
    /// into the note is `amplitude · timbre(f · detune, i / 16000, phase) · fade(i)`. Notes
    /// that overlap add. Noise, when asked, is white Gaussian at the given SNR relative to the
    /// clip's mean power. With [`Performance::canonical`] this is [`Tune::render`].
    pub fn render_with(&self, performance: &Performance) -> Vec<f32> {
        let mut out = vec![0f64; TUNE_SAMPLES];
        for (k, (note, v)) in self.notes.iter().zip(&performance.notes).enumerate() {
            // Radians per sample at the fundamental (computed as the canonical rendering
            // always has: its waveform is bit for bit the one the tokenizers were fitted on).
            let step =
                std::f64::consts::TAU * (note.frequency() * v.detune) / f64::from(SAMPLE_RATE);
            let start = (k * NOTE_SAMPLES) as i64 + i64::from(v.onset);
            for i in 0..v.length {
                let at = start + i as i64;
                let Some(slot) = usize::try_from(at).ok().and_then(|a| out.get_mut(a)) else {
                    continue;
                };
                let gain = fade_in_out(i, v.length);
                let t = i as f64 / f64::from(SAMPLE_RATE);
                *slot += v.amplitude * v.timbre.sample(step * i as f64, t, v.phase) * gain;
            }
        }
        if let Some(snr) = performance.snr_db {
            let power = out.iter().map(|s| s * s).sum::<f64>() / out.len() as f64;
            let sd = (power / 10f64.powf(snr / 10.0)).sqrt();
            let mut rng = SplitMix64::new(performance.noise_seed);
            for s in &mut out {
                *s += sd * gaussian(&mut rng);
            }
        }
        out.into_iter().map(|s| s as f32).collect()
    }
}

/// A standard normal draw (Box–Muller).
fn gaussian(rng: &mut SplitMix64) -> f64 {
    let u = rng.next_f64().max(f64::MIN_POSITIVE);
    let v = rng.next_f64();
    (-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tones::check_audio;

    /// Bit for bit the documented waveform (`render.rs`), which the tokenizers were fitted on.
    #[test]
    fn the_canonical_performance_is_the_documented_waveform() {
        for tune in Tune::all().step_by(37) {
            let mut want = Vec::new();
            for note in tune.notes {
                let step = std::f64::consts::TAU * note.frequency() / 16000.0;
                want.extend(
                    (0..4000)
                        .map(|i| (0.5 * (step * i as f64).sin() * crate::tones::fade(i)) as f32),
                );
            }
            assert_eq!(tune.render_with(&Performance::canonical()), want);
        }
    }

    #[test]
    fn draws_stay_in_their_ranges() {
        let mut rng = SplitMix64::new(7);
        for _ in 0..500 {
            let p = Performance::sample(&mut rng, Variation::ALL);
            for v in p.notes {
                assert!((0.0..std::f64::consts::TAU).contains(&v.phase));
                assert!((0.2..=0.8).contains(&v.amplitude));
                assert!((0.985..=1.015).contains(&v.detune));
                assert!((-160..=160).contains(&v.onset));
                assert!((3520..=4480).contains(&v.length));
            }
            assert!(p.snr_db.is_some_and(|s| (25.0..=45.0).contains(&s)));
        }
        let p = Performance::sample(&mut rng, Variation::NONE);
        assert_eq!(p.notes, [Voicing::CANONICAL; 3]);
        assert_eq!(p.snr_db, None);
    }

    #[test]
    fn every_timbre_peaks_near_one_and_is_heard_at_its_fundamental() {
        for timbre in Timbre::ALL {
            let peak = (0..4000)
                .map(|i| {
                    let t = i as f64 / 16000.0;
                    timbre
                        .sample(std::f64::consts::TAU * 261.63 * t, t, 0.3)
                        .abs()
                })
                .fold(0f64, f64::max);
            assert!((0.5..=1.0).contains(&peak), "{timbre:?}: {peak}");
        }
    }

    /// The checker reads the notes played, whatever the performance: every aspect alone and
    /// all together, over many tunes.
    #[test]
    fn the_checker_hears_the_same_tune_in_every_performance() {
        let mut rng = SplitMix64::new(2026);
        for (name, variation) in Variation::each()
            .into_iter()
            .chain([("all", Variation::ALL)])
        {
            let mut wrong = Vec::new();
            for tune in Tune::all().step_by(5) {
                let p = Performance::sample(&mut rng, variation);
                let clip = tune.render_with(&p);
                match check_audio(&clip, SAMPLE_RATE) {
                    Ok(t) if t == tune => {}
                    other => wrong.push((tune.caption(), format!("{other:?}"), p)),
                }
            }
            assert!(
                wrong.is_empty(),
                "{name}: {} misread: {:?}",
                wrong.len(),
                &wrong[..1]
            );
        }
    }
}
