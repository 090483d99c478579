//! The multimodal CLI on the committed fixtures: `generate --task t2i|caption` on the tiny
//! MMaDA model with the tiny MAGVIT-v2, `image encode|decode` and `audio encode|decode` round
//! trips with the JSON shapes as contracts, and bad input as clear errors.

mod common;

use std::path::PathBuf;

use common::{fails_with, fixtures, ok};
use serde_json::Value;

fn fixture(name: &str) -> String {
    fixtures().join(name).display().to_string()
}

struct Scratch(PathBuf);

impl Scratch {
    fn new(tag: &str) -> Self {
        let p = std::env::temp_dir().join(format!("tessera-cli-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).unwrap();
        Scratch(p)
    }
    fn path(&self, name: &str) -> String {
        self.0.join(name).display().to_string()
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[test]
fn t2i_writes_a_picture_and_caption_answers_in_text() {
    let dir = Scratch::new("t2i");
    let (model, vq) = (fixture("mmada-tiny"), fixture("magvit-tiny"));
    let png = dir.path("out.png");
    let v: Value = serde_json::from_slice(&ok(&[
        "generate",
        "--model",
        &model,
        "--task",
        "t2i",
        "--prompt",
        "a small blue square at the center",
        "--vq",
        &vq,
        "--steps",
        "3",
        "--text-length",
        "16",
        "-o",
        &png,
        "--json",
    ]))
    .unwrap();
    assert_eq!(
        (v["height"].as_u64(), v["width"].as_u64()),
        (Some(16), Some(16))
    );
    assert_eq!(v["codes"].as_array().unwrap().len(), 256);
    let bytes = std::fs::read(&png).unwrap();
    assert_eq!(&bytes[1..4], b"PNG");
    // The generated picture captions (through the same VQ) with text ids only.
    let v: Value = serde_json::from_slice(&ok(&[
        "generate",
        "--model",
        &model,
        "--task",
        "caption",
        "--image",
        &png,
        "--vq",
        &vq,
        "--gen-length",
        "8",
        "--steps",
        "8",
        "--block-length",
        "4",
        "--json",
    ]))
    .unwrap();
    let ids = v["ids"].as_array().unwrap();
    assert_eq!(ids.len(), 8);
    assert!(ids.iter().all(|t| t.as_u64().unwrap() < 310));
    fails_with(
        &[
            "generate", "--model", &model, "--task", "t2i", "--prompt", "x", "--vq", &vq,
        ],
        "-o out.png",
    );
    fails_with(
        &[
            "generate",
            "--model",
            &model,
            "--task",
            "caption",
            "--image",
            &fixture("audio/sine440.wav"),
            "--vq",
            &vq,
        ],
        "error",
    );
    fails_with(
        &[
            "generate",
            "--model",
            &fixture("llada-tiny"),
            "--task",
            "t2i",
            "--prompt",
            "x",
            "--vq",
            &vq,
            "-o",
            &png,
        ],
        "task",
    );
}

#[test]
fn image_and_audio_codes_round_trip_through_their_json() {
    let dir = Scratch::new("media");
    let vq = fixture("magvit-tiny");
    let codes = ok(&[
        "image",
        "encode",
        "--vq",
        &vq,
        &fixture("images/pattern_32.png"),
        "--json",
    ]);
    let v: Value = serde_json::from_slice(&codes).unwrap();
    let (h, w) = (v["height"].as_u64().unwrap(), v["width"].as_u64().unwrap());
    assert_eq!(v["codes"].as_array().unwrap().len() as u64, h * w);
    let file = dir.path("codes.json");
    std::fs::write(&file, &codes).unwrap();
    let png = dir.path("back.png");
    ok(&["image", "decode", "--vq", &vq, "--codes", &file, "-o", &png]);
    assert_eq!(&std::fs::read(&png).unwrap()[1..4], b"PNG");
    // Codes out of range are refused by the decoder, not clamped.
    std::fs::write(&file, r#"{"codes": [99999], "height": 1, "width": 1}"#).unwrap();
    fails_with(
        &["image", "decode", "--vq", &vq, "--codes", &file, "-o", &png],
        "error",
    );

    for codec in ["encodec-tiny", "frame-vq-tiny"] {
        let codec = fixture(codec);
        let codes = ok(&[
            "audio",
            "encode",
            "--codec",
            &codec,
            &fixture("audio/sine440.wav"),
            "--json",
        ]);
        let v: Value = serde_json::from_slice(&codes).unwrap();
        assert!(v["sample_rate"].as_u64().unwrap() > 0);
        let levels = v["codes"].as_array().unwrap();
        assert!(!levels.is_empty() && levels.iter().all(|l| !l.as_array().unwrap().is_empty()));
        std::fs::write(&file, &codes).unwrap();
        let wav = dir.path("back.wav");
        ok(&[
            "audio", "decode", "--codec", &codec, "--codes", &file, "-o", &wav,
        ]);
        assert_eq!(&std::fs::read(&wav).unwrap()[..4], b"RIFF");
    }
    fails_with(
        &[
            "audio",
            "encode",
            "--codec",
            &fixture("encodec-tiny"),
            &fixture("images/pattern_32.png"),
        ],
        "error",
    );
    fails_with(
        &[
            "audio",
            "encode",
            "--codec",
            &fixture("encodec-tiny"),
            &fixture("audio/sine440.wav"),
            "--bandwidth",
            "99",
        ],
        "bandwidth",
    );
}

/// Hostile pictures and sounds through the CLI, under a 2 GiB address-space cap and a 60 s
/// timeout: each is refused by name from its header, before it is decoded.
#[test]
fn hostile_media_is_refused_within_bounds() {
    let scratch = common::Scratch::new("hostile-media");
    let dir = &scratch.0;
    // A 1,000,000 × 1 PNG (a few KB compressed; 3 MB decoded, 12 GB if resized naively).
    let strip = dir.join("strip.png");
    image::RgbImage::new(1_000_000, 1).save(&strip).unwrap();
    // WAVs declaring absurd sample rates.
    let wav = |rate: u32, name: &str| {
        let data = vec![0u8; 200];
        let mut bytes = b"RIFF".to_vec();
        bytes.extend((36 + data.len() as u32).to_le_bytes());
        bytes.extend(b"WAVEfmt ");
        bytes.extend(16u32.to_le_bytes());
        bytes.extend(1u16.to_le_bytes());
        bytes.extend(1u16.to_le_bytes());
        bytes.extend(rate.to_le_bytes());
        bytes.extend(rate.wrapping_mul(2).to_le_bytes());
        bytes.extend(2u16.to_le_bytes());
        bytes.extend(16u16.to_le_bytes());
        bytes.extend(b"data");
        bytes.extend((data.len() as u32).to_le_bytes());
        bytes.extend(&data);
        let path = dir.join(name);
        std::fs::write(&path, bytes).unwrap();
        path
    };
    let fast = wav(2_147_483_647, "fast.wav");
    let slow = wav(1, "slow.wav");
    let tiny = common::tessera_tiny();
    let tiny = tiny.to_str().unwrap();
    let vq = format!("{tiny}/image-vq");
    let codec = format!("{tiny}/audio-vq");
    let s = |p: &PathBuf| p.to_str().unwrap().to_string();
    let cases: Vec<(Vec<String>, &str)> = vec![
        (
            vec![
                "generate".into(),
                "--task".into(),
                "caption".into(),
                "--image".into(),
                s(&strip),
            ],
            "max_side",
        ),
        (
            vec![
                "image".into(),
                "encode".into(),
                "--vq".into(),
                vq.clone(),
                s(&strip),
            ],
            "max_side",
        ),
        (
            vec![
                "generate".into(),
                "--task".into(),
                "transcribe".into(),
                "--audio".into(),
                s(&fast),
            ],
            "sample rate",
        ),
        (
            vec![
                "audio".into(),
                "encode".into(),
                "--codec".into(),
                codec.clone(),
                s(&slow),
            ],
            "sample rate",
        ),
        (
            vec![
                "image".into(),
                "encode".into(),
                "--vq".into(),
                vq,
                s(&dir.join("fast.wav")),
                "--max-image-bytes".into(),
                "10".into(),
            ],
            "max_file_bytes",
        ),
    ];
    for (args, needle) in &cases {
        let mut all: Vec<&str> = args.iter().map(String::as_str).collect();
        if all[0] == "generate" {
            all.extend(["--model", tiny]);
        }
        let out = common::bounded(&all, 2048, 60);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_ne!(out.status.code(), Some(124), "{args:?} timed out");
        assert!(!out.status.success(), "{args:?} should fail");
        assert!(stderr.contains(needle), "{args:?}: {stderr}");
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
    }
}
