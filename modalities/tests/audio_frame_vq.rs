//! The frame-VQ codec: against the fixture script's numpy MDCT/VQ, fitting on a world of sine
//! notes, determinism, persistence, and typed errors.

use std::collections::HashMap;
use std::path::PathBuf;

use candle_core::{Device, Tensor};
use tessera_modalities::audio::{
    AudioCodes, AudioError, AudioTokenizer, FitOptions, FrameVq, FrameVqConfig, Pcm,
    load_audio_tokenizer,
};

const SR: u32 = 16_000;

fn tiny_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/frame-vq-tiny")
}

fn temp_dir(tag: &str) -> PathBuf {
    std::env::temp_dir().join(format!("tessera-framevq-{tag}-{}", std::process::id()))
}

/// Semitone `s` above C4 (C4 = 0 … C5 = 12).
fn pitch(s: i32) -> f64 {
    261.63 * 2f64.powf(f64::from(s) / 12.0)
}

/// A note as the sine world makes it: 0.25 s at 16 kHz, 10 ms linear fades, amplitude 0.5.
fn note(freq: f64, phase: f64) -> Pcm {
    let n = 4000;
    let fade = 160;
    let samples = (0..n)
        .map(|i| {
            let ramp = (i.min(n - 1 - i) as f64 / (fade - 1) as f64).min(1.0);
            (0.5 * ramp
                * (2.0 * std::f64::consts::PI * freq * i as f64 / f64::from(SR) + phase).sin())
                as f32
        })
        .collect();
    Pcm::new(samples, SR).unwrap()
}

/// Frequency (Hz, 0.5 Hz grid in `lo..hi`) with the most energy in `x`.
fn dominant_frequency(x: &[f32], lo: f64, hi: f64) -> f64 {
    let mut best = (0.0, lo);
    let mut f = lo;
    while f < hi {
        let w = 2.0 * std::f64::consts::PI * f / f64::from(SR);
        let (mut re, mut im) = (0.0, 0.0);
        for (i, &s) in x.iter().enumerate() {
            re += f64::from(s) * (w * i as f64).cos();
            im += f64::from(s) * (w * i as f64).sin();
        }
        if re * re + im * im > best.0 {
            best = (re * re + im * im, f);
        }
        f += 0.5;
    }
    best.1
}

fn snr_db(reference: &[f32], test: &[f32]) -> f64 {
    let sig: f64 = reference.iter().map(|&x| f64::from(x).powi(2)).sum();
    let err: f64 = reference
        .iter()
        .zip(test)
        .map(|(&a, &b)| f64::from(a - b).powi(2))
        .sum();
    10.0 * (sig / err).log10()
}

fn sine_world(phases_per_note: usize, seed: u64) -> Vec<Pcm> {
    let mut notes = Vec::new();
    for s in 0..=12 {
        for k in 0..phases_per_note {
            let phase =
                ((seed as f64 + 1.0) * 0.618_033_99 * (k as f64 + 1.0) + f64::from(s)) % 1.0;
            notes.push(note(pitch(s), phase * 2.0 * std::f64::consts::PI));
        }
    }
    notes
}

#[test]
fn matches_the_numpy_reference() {
    let vq = FrameVq::load(tiny_dir()).unwrap();
    let reference: HashMap<String, Tensor> =
        candle_core::safetensors::load(tiny_dir().join("reference.safetensors"), &Device::Cpu)
            .unwrap();
    let signal = reference["signal"].to_vec1::<f32>().unwrap();
    let expect: Vec<Vec<u32>> = reference["codes"]
        .to_vec2::<i64>()
        .unwrap()
        .into_iter()
        .map(|r| r.into_iter().map(|c| c as u32).collect())
        .collect();
    let codes = vq.encode(&Pcm::new(signal.clone(), SR).unwrap()).unwrap();
    assert_eq!(codes.codes, expect);
    let audio = vq.decode(&codes).unwrap();
    let want = reference["audio"].to_vec1::<f32>().unwrap();
    assert_eq!(audio.samples.len(), want.len());
    // f32 matrix products against numpy's f64: a few ulps of the 0.5 amplitude.
    let diff = audio
        .samples
        .iter()
        .zip(&want)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0, f32::max);
    assert!(diff < 1e-5, "max |Δ| = {diff:e}");
}

#[test]
fn sine_notes_round_trip_with_their_pitch() {
    let config = FrameVqConfig::new(SR, 160, 128, 2);
    let vq = FrameVq::fit(&sine_world(4, 1), config, FitOptions::with_seed(3)).unwrap();
    assert_eq!(
        (vq.levels(), vq.codebook_size(), vq.frame_rate()),
        (2, 128, 100.0)
    );
    let mut worst_snr = f64::MAX;
    for s in 0..=12 {
        // Phases never seen in training.
        let held_out = note(pitch(s), 0.1 + 0.37 * f64::from(s));
        let codes = vq.encode(&held_out).unwrap();
        assert_eq!((codes.levels(), codes.frames()), (2, 26));
        let audio = vq.decode(&codes).unwrap();
        assert_eq!(audio.samples.len(), 4000);
        let f = dominant_frequency(&audio.samples, 200.0, 700.0);
        // Within a tenth of a semitone (0.6 %) of the note played.
        assert!(
            (f / pitch(s)).ln().abs() < 0.1 * 2f64.ln() / 12.0,
            "note {s}: {f} Hz vs {:.1} Hz",
            pitch(s)
        );
        worst_snr = worst_snr.min(snr_db(&held_out.samples, &audio.samples));
        // One level alone is coarser than two.
        let coarse = vq
            .decode(&AudioCodes::new(codes.codes[..1].to_vec(), SR))
            .unwrap();
        assert!(
            snr_db(&held_out.samples, &coarse.samples) < snr_db(&held_out.samples, &audio.samples)
        );
    }
    eprintln!("frame VQ 2×128, held-out notes: worst SNR {worst_snr:.1} dB");
    assert!(worst_snr > 10.0, "worst SNR {worst_snr:.1} dB");
}

#[test]
fn fitting_is_deterministic_and_persists() {
    let signals = sine_world(2, 5);
    let config = FrameVqConfig::new(SR, 160, 32, 2);
    let a = FrameVq::fit(&signals, config, FitOptions::with_seed(11)).unwrap();
    let b = FrameVq::fit(&signals, config, FitOptions::with_seed(11)).unwrap();
    let c = FrameVq::fit(&signals, config, FitOptions::with_seed(12)).unwrap();
    let probe = note(pitch(7), 0.5);
    assert_eq!(a.encode(&probe).unwrap(), b.encode(&probe).unwrap());

    let (da, db, dc) = (temp_dir("a"), temp_dir("b"), temp_dir("c"));
    a.save(&da).unwrap();
    b.save(&db).unwrap();
    c.save(&dc).unwrap();
    let bytes = |d: &PathBuf| std::fs::read(d.join("model.safetensors")).unwrap();
    assert_eq!(bytes(&da), bytes(&db), "same seed, same codebooks");
    assert_ne!(bytes(&da), bytes(&dc), "another seed, other codebooks");

    let loaded = load_audio_tokenizer(&da).unwrap();
    assert_eq!(loaded.encode(&probe).unwrap(), a.encode(&probe).unwrap());
    let codes = a.encode(&probe).unwrap();
    assert_eq!(loaded.decode(&codes).unwrap(), a.decode(&codes).unwrap());
    for d in [da, db, dc] {
        std::fs::remove_dir_all(d).unwrap();
    }
}

#[test]
fn resamples_input_to_its_rate() {
    let vq = FrameVq::load(tiny_dir()).unwrap();
    let at_24k: Vec<f32> = (0..6000).map(|i| (i as f32 * 0.08).sin() * 0.4).collect();
    let codes = vq.encode(&Pcm::new(at_24k, 24_000).unwrap()).unwrap();
    // 6000 samples at 24 kHz → 4000 at 16 kHz → 25 hops + 1.
    assert_eq!((codes.frames(), codes.sample_rate), (26, SR));
}

#[test]
fn errors_are_typed() {
    let few = vec![note(440.0, 0.0)];
    let r = FrameVq::fit(
        &few,
        FrameVqConfig::new(SR, 160, 64, 1),
        FitOptions::default(),
    );
    assert!(matches!(r, Err(AudioError::Fit(_))), "{r:?}");
    let r = FrameVq::fit(&few, FrameVqConfig::new(SR, 0, 4, 1), FitOptions::default());
    assert!(
        matches!(r, Err(AudioError::Config { ref field, .. }) if field == "frame_size"),
        "{r:?}"
    );
    let r = FrameVq::fit(
        &[Pcm::new(vec![], SR).unwrap()],
        FrameVqConfig::new(SR, 160, 4, 1),
        FitOptions::default(),
    );
    assert!(matches!(r, Err(AudioError::Empty)), "{r:?}");

    let vq = FrameVq::load(tiny_dir()).unwrap();
    let r = vq.decode(&AudioCodes::new(vec![vec![64]], SR));
    assert!(matches!(r, Err(AudioError::CodeOutOfRange { .. })), "{r:?}");
    let r = vq.decode(&AudioCodes::new(vec![vec![1, 2], vec![3]], SR));
    assert!(matches!(r, Err(AudioError::CodesShape(_))), "{r:?}");

    // A folder whose config disagrees with its tensors, or names a bad field.
    let dir = temp_dir("bad");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::copy(
        tiny_dir().join("model.safetensors"),
        dir.join("model.safetensors"),
    )
    .unwrap();
    let write = |cfg: &str| std::fs::write(dir.join("config.json"), cfg).unwrap();
    write(
        r#"{"type": "frame-vq", "sample_rate": 16000, "frame_size": 160, "codebook_size": 128, "levels": 2}"#,
    );
    let r = FrameVq::load(&dir);
    assert!(matches!(r, Err(AudioError::Weights { .. })), "{r:?}");
    write(
        r#"{"type": "frame-vq", "sample_rate": 16000, "frame_size": 160, "codebook_size": 64, "levels": 3}"#,
    );
    assert!(matches!(
        FrameVq::load(&dir),
        Err(AudioError::Weights { .. })
    ));
    write(
        r#"{"type": "frame-vq", "sample_rate": 16000, "frame_size": 160, "codebook_size": 64, "levels": 1}"#,
    );
    assert!(
        matches!(FrameVq::load(&dir), Err(AudioError::Weights { .. })),
        "extra level in the file"
    );
    write(
        r#"{"type": "frame-vq", "sample_rate": 16000, "frame_size": "big", "codebook_size": 64, "levels": 2}"#,
    );
    assert!(
        matches!(FrameVq::load(&dir), Err(AudioError::Config { ref field, .. }) if field == "frame_size")
    );
    write(r#"{"type": "frame-vq", "frame_size": 160, "codebook_size": 64, "levels": 2}"#);
    assert!(
        matches!(FrameVq::load(&dir), Err(AudioError::Config { ref field, .. }) if field == "sample_rate")
    );
    write(r#"{"type": "wavelet-vq"}"#);
    assert!(
        matches!(load_audio_tokenizer(&dir), Err(AudioError::Config { ref field, .. }) if field == "type")
    );
    write(r#"{"model_type": "dac"}"#);
    assert!(
        matches!(load_audio_tokenizer(&dir), Err(AudioError::Config { ref field, .. }) if field == "model_type")
    );
    write("[1, 2");
    assert!(matches!(
        load_audio_tokenizer(&dir),
        Err(AudioError::Config { .. })
    ));
    std::fs::remove_dir_all(dir).unwrap();
}

/// `pcm` scaled by `gain` and detuned: the same note as another player would play it.
fn played(freq: f64, phase: f64, gain: f32) -> Pcm {
    let mut pcm = note(freq, phase);
    for s in &mut pcm.samples {
        *s *= gain;
    }
    pcm
}

#[test]
fn the_analysis_hears_a_note_whatever_its_phase_loudness_or_tuning() {
    use tessera_modalities::audio::AnalysisConfig;
    // A codebook of the C major scale's notes, each at one phase (the canonical rendering).
    let scale = [0, 2, 4, 5, 7, 9, 11, 12];
    let world: Vec<Pcm> = scale.iter().map(|&s| note(pitch(s), 0.0)).collect();
    let cfg = FrameVqConfig::new(SR, 400, 64, 1);
    let exact = FrameVq::fit(&world, cfg, FitOptions::with_seed(3)).unwrap();
    let heard = FrameVq::fit(&world, cfg, FitOptions::with_seed(3))
        .unwrap()
        .with_analysis(&world, AnalysisConfig::default())
        .unwrap();
    assert_eq!(heard.analysis(), Some(AnalysisConfig::default()));
    // The codes of each note's interior frames (centres away from the fades).
    let interior = |vq: &FrameVq, pcm: &Pcm| vq.encode(pcm).unwrap().codes[0][2..=8].to_vec();
    // A note's own codewords: those of all its frames (the fades' too).
    let own: Vec<Vec<u32>> = world
        .iter()
        .map(|n| exact.encode(n).unwrap().codes[0].clone())
        .collect();
    let right = |vq: &FrameVq, k: usize, pcm: &Pcm| {
        interior(vq, pcm)
            .iter()
            .filter(|c| own[k].contains(c))
            .count()
    };
    let (mut by_analysis, mut by_waveform, mut frames) = (0, 0, 0);
    for (k, &s) in scale.iter().enumerate() {
        for (phase, gain, tuning) in [(1.0, 1.0, 1.0), (2.5, 0.5, 1.012), (4.0, 1.5, 0.988)] {
            let pcm = played(pitch(s) * tuning, phase, gain);
            by_analysis += right(&heard, k, &pcm);
            by_waveform += right(&exact, k, &pcm);
            frames += 7;
        }
    }
    // Every frame of every note is heard as a codeword of that note; matched by waveform,
    // some are not.
    assert_eq!(by_analysis, frames, "{by_analysis} of {frames}");
    assert!(by_waveform < frames, "{by_waveform} of {frames}");
    // The exact codes are still there, and decode as the codec always did.
    assert_eq!(
        heard.encode_exact(&world[0]).unwrap(),
        exact.encode(&world[0]).unwrap()
    );

    // Saved and loaded, the analysis hears the same.
    let dir = temp_dir("analysis");
    heard.save(&dir).unwrap();
    let back = FrameVq::load(&dir).unwrap();
    let probe = played(pitch(4), 1.7, 0.6);
    assert_eq!(back.encode(&probe).unwrap(), heard.encode(&probe).unwrap());
    assert_eq!(back.analysis(), heard.analysis());
    // A config and tensors that disagree, or bad analysis fields, are named.
    let cfg_path = dir.join("config.json");
    let good = std::fs::read_to_string(&cfg_path).unwrap();
    let bad = |edit: &dyn Fn(&mut serde_json::Value)| {
        let mut v: serde_json::Value = serde_json::from_str(&good).unwrap();
        edit(&mut v);
        std::fs::write(&cfg_path, v.to_string()).unwrap();
        FrameVq::load(&dir).unwrap_err()
    };
    let field = |e: AudioError| match e {
        AudioError::Config { field, .. } => field,
        other => format!("{other:?}"),
    };
    assert_eq!(
        field(bad(&|v| v["analysis"] = "cepstrum".into())),
        "analysis"
    );
    assert_eq!(
        field(bad(&|v| v["analysis_window"] = 1601.into())),
        "analysis_window"
    );
    assert_eq!(
        field(bad(&|v| v["analysis_high_hz"] = 9000.0.into())),
        "analysis_high_hz"
    );
    assert_eq!(
        field(bad(&|v| v["analysis_step_hz"] = 0.0.into())),
        "analysis_step_hz"
    );
    // Another band has another number of frequencies than the stored signatures.
    assert!(matches!(
        bad(&|v| v["analysis_low_hz"] = 100.0.into()),
        AudioError::Weights { .. }
    ));
    // Signatures without an analysis in the config.
    assert!(matches!(
        bad(&|v| {
            v.as_object_mut().unwrap().remove("analysis");
        }),
        AudioError::Weights { .. }
    ));
    std::fs::remove_dir_all(&dir).unwrap();
    // Residual levels refine a waveform, which an analysis does not match.
    let two = FrameVq::fit(
        &world,
        FrameVqConfig::new(SR, 400, 8, 2),
        FitOptions::default(),
    )
    .unwrap()
    .with_analysis(&world, AnalysisConfig::default())
    .unwrap_err();
    assert_eq!(field(two), "analysis");
}
