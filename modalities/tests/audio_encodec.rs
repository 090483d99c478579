//! EnCodec against `transformers`' `EncodecModel` (tests/fixtures/reference/encodec_tiny.*,
//! made by scripts/make_audio_fixtures.py), plus its errors and a published-size benchmark.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use candle_core::{Device, Tensor};
use tessera_modalities::audio::{
    AudioCodes, AudioError, AudioLimits, AudioTokenizer, Encodec, EncodecConfig, Pcm,
    load_audio_tokenizer,
};

/// Largest allowed |Rust − PyTorch| of decoded samples (peaks ≈ 0.3). Both run the same f32
/// graph; only summation order differs (im2col GEMM vs oneDNN convolutions, our LSTM vs
/// PyTorch's), worth a few float32 ulps per layer through ~25 layers: ~1e-6 observed.
const AUDIO_TOL: f32 = 2e-5;

fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures")
}

fn tiny_dir() -> PathBuf {
    fixtures().join("encodec-tiny")
}

fn reference() -> HashMap<String, Tensor> {
    candle_core::safetensors::load(
        fixtures().join("reference/encodec_tiny.safetensors"),
        &Device::Cpu,
    )
    .unwrap()
}

fn codes_of(t: &Tensor) -> Vec<Vec<u32>> {
    t.to_vec2::<i64>()
        .unwrap()
        .into_iter()
        .map(|row| row.into_iter().map(|c| c as u32).collect())
        .collect()
}

fn max_abs_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

#[test]
fn codes_and_audio_match_transformers() {
    let codec = Encodec::load(tiny_dir()).unwrap();
    let reference = reference();
    let mut worst = 0f32;
    for name in ["chirp", "odd", "short"] {
        let signal = reference[&format!("signal.{name}")]
            .to_vec1::<f32>()
            .unwrap();
        let pcm = Pcm::new(signal.clone(), 24_000).unwrap();
        for bw in [7.5, 10.0, 15.0] {
            let key = format!("{name}.bw{bw:?}");
            let expect = codes_of(&reference[&format!("codes.{key}")]);
            let got = codec.encode_with_bandwidth(&pcm, bw).unwrap();
            assert_eq!(got.codes, expect, "codes {key}");
            assert_eq!(got.sample_rate, 24_000);
            assert_eq!(got.frames(), signal.len().div_ceil(24));

            let audio = reference[&format!("audio.{key}")].to_vec1::<f32>().unwrap();
            // Decode the reference codes, so decoding is checked on its own.
            let decoded = codec.decode(&AudioCodes::new(expect, 24_000)).unwrap();
            assert_eq!(decoded.sample_rate, 24_000);
            let diff = max_abs_diff(&decoded.samples, &audio);
            assert!(diff < AUDIO_TOL, "{key}: max |Δ| = {diff:e}");
            worst = worst.max(diff);
        }
    }
    eprintln!("largest |Rust − PyTorch| decoded sample: {worst:e}");
}

#[test]
fn bandwidth_picks_codebooks_like_transformers() {
    let codec = Encodec::load(tiny_dir()).unwrap();
    let cfg = codec.config();
    // 1000 frames/s, 5 bits per code: 5 kbps per codebook, floored, at least 1.
    assert_eq!(
        (cfg.frame_rate(), cfg.codebook_nbits(), cfg.num_quantizers()),
        (1000, 5, 3)
    );
    assert_eq!(cfg.num_quantizers_for_bandwidth(7.5), 1);
    assert_eq!(cfg.num_quantizers_for_bandwidth(10.0), 2);
    assert_eq!(cfg.num_quantizers_for_bandwidth(15.0), 3);
    assert_eq!(cfg.num_quantizers_for_bandwidth(0.1), 1);
    // Default: the lowest target bandwidth.
    assert_eq!(
        (codec.bandwidth(), codec.levels(), codec.max_levels()),
        (7.5, 1, 3)
    );
    let codec = codec.with_bandwidth(10.0).unwrap();
    assert_eq!(codec.levels(), 2);
    let r = codec.with_bandwidth(6.0);
    assert!(
        matches!(r, Err(AudioError::UnsupportedBandwidth { .. })),
        "{r:?}"
    );

    let published = EncodecConfig::default();
    assert_eq!(
        (published.frame_rate(), published.num_quantizers()),
        (75, 32)
    );
    let levels: Vec<usize> = published
        .target_bandwidths
        .iter()
        .map(|&b| published.num_quantizers_for_bandwidth(b))
        .collect();
    assert_eq!(levels, vec![2, 4, 8, 16, 32]);
}

#[test]
fn round_trip_and_coarse_to_fine() {
    let codec = load_audio_tokenizer(tiny_dir()).unwrap();
    assert_eq!(
        (
            codec.sample_rate(),
            codec.codebook_size(),
            codec.frame_rate()
        ),
        (24_000, 32, 1000.0)
    );
    // 16 kHz input is resampled to 24 kHz: 800 → 1200 samples → 50 frames.
    let tone: Vec<f32> = (0..800).map(|i| (i as f32 * 0.2).sin() * 0.4).collect();
    let codes = codec.encode(&Pcm::new(tone, 16_000).unwrap()).unwrap();
    assert_eq!((codes.levels(), codes.frames()), (1, 50));
    let audio = codec.decode(&codes).unwrap();
    assert_eq!((audio.sample_rate, audio.samples.len()), (24_000, 1200));
    assert!(audio.samples.iter().all(|s| s.is_finite()));

    let fine = Encodec::load(tiny_dir())
        .unwrap()
        .with_bandwidth(15.0)
        .unwrap();
    let pcm = Pcm::new(
        (0..480).map(|i| (i as f32 * 0.05).sin() * 0.5).collect(),
        24_000,
    )
    .unwrap();
    let all = fine.encode(&pcm).unwrap();
    assert_eq!(all.levels(), 3);
    let coarse = AudioCodes::new(all.codes[..1].to_vec(), 24_000);
    let a = fine.decode(&coarse).unwrap();
    let b = fine.decode(&all).unwrap();
    assert_eq!(a.samples.len(), b.samples.len());
    assert!(
        max_abs_diff(&a.samples, &b.samples) > 0.0,
        "finer levels change the audio"
    );
    // JSON contract.
    let json = serde_json::to_string(&coarse).unwrap();
    assert!(json.starts_with(r#"{"codes":[["#) && json.ends_with(r#"]],"sample_rate":24000}"#));
}

#[test]
fn bad_codes_are_typed_errors() {
    let codec = Encodec::load(tiny_dir()).unwrap();
    let cases = [
        (AudioCodes::new(vec![vec![0, 32]], 24_000), "out of range"),
        (AudioCodes::new(vec![vec![0, 1], vec![2]], 24_000), "ragged"),
        (AudioCodes::new(vec![vec![0]; 4], 24_000), "too many levels"),
        (AudioCodes::new(vec![], 24_000), "no levels"),
        (AudioCodes::new(vec![vec![]], 24_000), "no frames"),
        (AudioCodes::new(vec![vec![0]], 16_000), "wrong rate"),
    ];
    for (codes, what) in cases {
        let r = codec.decode(&codes);
        assert!(
            matches!(
                r,
                Err(AudioError::CodeOutOfRange { .. } | AudioError::CodesShape(_))
            ),
            "{what}: {r:?}"
        );
    }
    assert!(matches!(
        codec.decode(&AudioCodes::new(vec![vec![0, u32::MAX]], 24_000)),
        Err(AudioError::CodeOutOfRange {
            level: 0,
            frame: 1,
            ..
        })
    ));
    assert!(matches!(
        codec.encode(&Pcm::new(vec![], 24_000).unwrap()),
        Err(AudioError::Empty)
    ));
    // Longer than the default 60 s, or than a limit set by the caller.
    let long = Pcm::new(vec![0.0; 24_000 * 61], 24_000).unwrap();
    assert!(matches!(
        codec.encode(&long),
        Err(AudioError::TooLong { .. })
    ));
    let short_limit = codec.with_limits(AudioLimits::with_max_duration_s(0.01));
    let r = short_limit.encode(&Pcm::new(vec![0.0; 480], 24_000).unwrap());
    assert!(matches!(r, Err(AudioError::TooLong { .. })), "{r:?}");
    let r = short_limit.decode(&AudioCodes::new(vec![vec![0; 20]], 24_000));
    assert!(matches!(r, Err(AudioError::CodesShape(_))), "{r:?}");
}

/// A copy of the tiny model with `edit` applied to its config.json and `rename` to its tensors.
fn variant(
    tag: &str,
    edit: impl Fn(&mut serde_json::Value),
    rename: impl Fn(&str) -> Option<String>,
) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("tessera-encodec-{tag}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut cfg: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(tiny_dir().join("config.json")).unwrap())
            .unwrap();
    edit(&mut cfg);
    std::fs::write(dir.join("config.json"), cfg.to_string()).unwrap();
    let tensors =
        candle_core::safetensors::load(tiny_dir().join("model.safetensors"), &Device::Cpu).unwrap();
    let renamed: HashMap<String, Tensor> = tensors
        .into_iter()
        .filter_map(|(k, v)| rename(&k).map(|k| (k, v)))
        .collect();
    candle_core::safetensors::save(&renamed, dir.join("model.safetensors")).unwrap();
    dir
}

fn config_field(r: Result<Encodec, AudioError>) -> String {
    match r {
        Err(AudioError::Config { field, .. }) => field,
        other => panic!("expected a config error, got {other:?}"),
    }
}

#[test]
fn transformers5_weight_names_load_too() {
    let dir = variant(
        "tf5",
        |_| {},
        |k| {
            Some(
                k.replace(".weight_g", ".parametrizations.weight.original0")
                    .replace(".weight_v", ".parametrizations.weight.original1"),
            )
        },
    );
    let a = Encodec::load(&dir).unwrap();
    let b = Encodec::load(tiny_dir()).unwrap();
    let pcm = Pcm::new(
        (0..240).map(|i| (i as f32 * 0.3).cos() * 0.3).collect(),
        24_000,
    )
    .unwrap();
    assert_eq!(a.encode(&pcm).unwrap(), b.encode(&pcm).unwrap());
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn checkpoints_that_disagree_with_their_config_are_typed() {
    let keep = |k: &str| Some(k.to_string());
    // Shapes disagree: the config says a wider latent than the weights have.
    let dir = variant(
        "wide",
        |c| {
            c["hidden_size"] = 32.into();
            c["codebook_dim"] = 32.into();
        },
        keep,
    );
    match Encodec::load(&dir) {
        Err(AudioError::Weights { reason, .. }) => assert!(reason.contains("shape"), "{reason}"),
        other => panic!("{other:?}"),
    }
    std::fs::remove_dir_all(dir).unwrap();
    // More codebooks in the file than the bandwidths imply.
    let dir = variant(
        "fewer",
        |c| c["target_bandwidths"] = serde_json::json!([7.5, 10.0]),
        keep,
    );
    assert!(matches!(
        Encodec::load(&dir),
        Err(AudioError::Weights { .. })
    ));
    std::fs::remove_dir_all(dir).unwrap();
    // A tensor missing.
    let dir = variant(
        "missing",
        |_| {},
        |k| (!k.starts_with("decoder.layers.0.")).then(|| k.to_string()),
    );
    match Encodec::load(&dir) {
        Err(AudioError::Weights { reason, .. }) => {
            assert!(reason.contains("decoder.layers.0"), "{reason}")
        }
        other => panic!("{other:?}"),
    }
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn bad_config_fields_are_named() {
    let keep = |k: &str| Some(k.to_string());
    type Edit = Box<dyn Fn(&mut serde_json::Value)>;
    let cases: Vec<(&str, Edit)> = vec![
        ("pad_mode", Box::new(|c| c["pad_mode"] = "circular".into())),
        (
            "upsampling_ratios",
            Box::new(|c| c["upsampling_ratios"] = "fast".into()),
        ),
        (
            "codebook_size",
            Box::new(|c| c["codebook_size"] = 30.into()),
        ),
        (
            "norm_type",
            Box::new(|c| c["norm_type"] = "time_group_norm".into()),
        ),
        ("normalize", Box::new(|c| c["normalize"] = true.into())),
        (
            "audio_channels",
            Box::new(|c| c["audio_channels"] = 2.into()),
        ),
        ("num_filters", Box::new(|c| c["num_filters"] = (-4).into())),
        (
            "target_bandwidths",
            Box::new(|c| c["target_bandwidths"] = serde_json::json!([])),
        ),
    ];
    for (field, edit) in cases {
        let dir = variant(field, edit, keep);
        assert_eq!(config_field(Encodec::load(&dir)), field);
        std::fs::remove_dir_all(dir).unwrap();
    }
    let r = Encodec::load(Path::new("/nonexistent/encodec"));
    assert!(matches!(r, Err(AudioError::Io { .. })), "{r:?}");
    let dir = variant("noweights", |_| {}, |_| None);
    std::fs::remove_file(dir.join("model.safetensors")).unwrap();
    assert!(matches!(
        Encodec::load(&dir),
        Err(AudioError::Weights { .. })
    ));
    std::fs::write(dir.join("model.safetensors"), b"garbage").unwrap();
    assert!(matches!(
        Encodec::load(&dir),
        Err(AudioError::Weights { .. })
    ));
    std::fs::remove_dir_all(dir).unwrap();
}
