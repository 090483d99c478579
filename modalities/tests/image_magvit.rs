//! MAGVIT-v2 against the PyTorch reference (`scripts/make_image_fixtures.py`): a tiny random
//! model in the published parameter naming, its latents, codes and decoded pixels.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use candle_core::{DType, Device, Tensor};
use tessera_modalities::image::{
    ImageCodes, ImageError, ImageTokenizer, MagvitV2, MagvitV2Config, ResizeFilter, RgbImage,
    image_to_tensor, load_image, load_image_tokenizer, prepare_image, tensor_to_image,
};

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures")
}

fn model_dir() -> PathBuf {
    fixtures().join("magvit-tiny")
}

fn reference() -> HashMap<String, Tensor> {
    candle_core::safetensors::load(
        fixtures().join("reference/magvit_tiny.safetensors"),
        &Device::Cpu,
    )
    .expect("reference outputs")
}

fn f32s(t: &Tensor) -> Vec<f32> {
    t.to_dtype(DType::F32)
        .unwrap()
        .flatten_all()
        .unwrap()
        .to_vec1()
        .unwrap()
}

fn u32s(t: &Tensor) -> Vec<u32> {
    t.to_dtype(DType::I64)
        .unwrap()
        .to_vec1::<i64>()
        .unwrap()
        .into_iter()
        .map(|c| u32::try_from(c).unwrap())
        .collect()
}

fn rgb_from(t: &Tensor) -> RgbImage {
    let (h, w, c) = t.dims3().unwrap();
    assert_eq!(c, 3);
    RgbImage::from_raw(
        w as u32,
        h as u32,
        t.flatten_all().unwrap().to_vec1().unwrap(),
    )
    .unwrap()
}

/// Largest |a − b| / (|b| + scale), with `scale` the reference's RMS: a relative error that
/// does not blow up on values near zero.
fn rel_err(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    let rms = (b.iter().map(|x| x * x).sum::<f32>() / b.len() as f32).sqrt();
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs() / (y.abs() + rms))
        .fold(0.0, f32::max)
}

const TOL: f32 = 1e-4;

fn test_picture() -> RgbImage {
    load_image(&fixtures().join("images/pattern_32.png")).unwrap()
}

#[test]
fn input_normalisation_is_bit_exact() {
    let r = reference();
    let x = image_to_tensor(&test_picture(), &Device::Cpu).unwrap();
    assert_eq!(x.dims(), [1, 3, 32, 32]);
    assert_eq!(f32s(&x), f32s(&r["input"]));
}

#[test]
fn encoder_latents_and_codes_match_reference() {
    let r = reference();
    let model = MagvitV2::load(&model_dir()).unwrap();
    assert_eq!(model.grid(), (16, 16));
    assert_eq!(model.codebook_size(), 8192);
    assert_eq!(model.resolution(), (32, 32));
    let img = test_picture();
    let z = model.encode_latents(&img).unwrap();
    assert_eq!(z.dims(), [1, 13, 16, 16]);
    let (got, want) = (f32s(&z), f32s(&r["latents"]));
    let err = rel_err(&got, &want);
    println!("latents: max relative error {err:.2e}");
    assert!(err < TOL, "latents differ: {err}");
    // The fixture guarantees |z| > 1e-3, so no sign can flip within the tolerance.
    let codes = model.encode(&img).unwrap();
    assert_eq!((codes.height(), codes.width()), (16, 16));
    assert_eq!(codes.codes(), u32s(&r["codes"]));
}

#[test]
fn decoder_pixels_match_reference_for_encoded_and_random_codes() {
    let r = reference();
    let model = MagvitV2::load(&model_dir()).unwrap();
    for (codes, pixels) in [("codes", "decoded"), ("random_codes", "random_decoded")] {
        let codes = ImageCodes::new(u32s(&r[codes]), 16, 16).unwrap();
        let out = model.decode_pixels(&codes).unwrap();
        assert_eq!(out.dims(), [1, 3, 32, 32]);
        let err = rel_err(&f32s(&out), &f32s(&r[pixels]));
        println!("{pixels}: max relative error {err:.2e}");
        assert!(err < TOL, "{pixels} differ: {err}");
    }
}

/// The u8 picture equals the reference's `astype(uint8)`, except that a value the reference
/// puts within 1e-3 of a grey-level boundary may land one level either side.
#[test]
fn round_trip_picture_matches_reference_u8() {
    let r = reference();
    let tokenizer = load_image_tokenizer(&model_dir()).unwrap();
    let img = test_picture();
    let codes = tokenizer.encode(&img).unwrap();
    let decoded = tokenizer.decode(&codes).unwrap();
    assert_eq!(decoded.dimensions(), (32, 32));
    let want = rgb_from(&r["decoded_u8"]);
    let raw = f32s(&r["decoded"]);
    let (mut exact, mut near) = (0, 0);
    for (x, y, px) in decoded.enumerate_pixels() {
        for c in 0..3 {
            let (got, exp) = (px[c], want.get_pixel(x, y)[c]);
            let v = ((raw[c * 1024 + (y * 32 + x) as usize] + 1.0) / 2.0).clamp(0.0, 1.0) * 255.0;
            if v > 0.0 && v < 255.0 && (v - v.round()).abs() < 1e-3 {
                near += 1;
                assert!(got.abs_diff(exp) <= 1, "({x},{y},{c}): {got} vs {exp}");
            } else {
                exact += 1;
                assert_eq!(got, exp, "({x},{y},{c}) value {v}");
            }
        }
    }
    println!("u8 pixels: {exact} exact, {near} at a boundary (±1 allowed)");
    // tensor_to_image is the same mapping on the reference floats themselves.
    let from_ref = tensor_to_image(&r["decoded"]).unwrap();
    assert_eq!(from_ref, want);
}

#[test]
fn jpeg_and_showo_preprocessing_are_close_to_pillow() {
    let r = reference();
    let jpeg = load_image(&fixtures().join("images/photo_48x40.jpg")).unwrap();
    let pil = rgb_from(&r["jpeg_rgb"]);
    assert_eq!(jpeg.dimensions(), (48, 40));
    // Different IDCTs (zune-jpeg vs libjpeg) may differ by a level or two.
    let max_jpeg = jpeg
        .as_raw()
        .iter()
        .zip(pil.as_raw())
        .map(|(a, b)| a.abs_diff(*b))
        .max()
        .unwrap();
    println!("JPEG decode vs Pillow: max difference {max_jpeg}");
    assert!(
        max_jpeg <= 3,
        "JPEG decode differs from Pillow by {max_jpeg}"
    );
    // Bicubic resize of the shorter side (40 -> 32, so 48 -> 38) and centre crop, from the
    // same decoded pixels; Pillow's fixed-point bicubic vs image's f32 Catmull-Rom.
    let ours = prepare_image(&pil, 32, 32, ResizeFilter::Bicubic).unwrap();
    let want = rgb_from(&r["jpeg_prepared"]);
    let diffs: Vec<u8> = ours
        .as_raw()
        .iter()
        .zip(want.as_raw())
        .map(|(a, b)| a.abs_diff(*b))
        .collect();
    let max = diffs.iter().copied().max().unwrap();
    let mean = diffs.iter().map(|&d| f64::from(d)).sum::<f64>() / diffs.len() as f64;
    println!("Show-o preprocessing vs Pillow: max difference {max}, mean {mean:.3}");
    // Pillow rounds and clips to u8 between its horizontal and vertical passes, the image
    // crate keeps f32: a few overshooting pixels near hard edges differ by several levels,
    // the rest agree (a half-pixel misalignment would give a mean error of several levels).
    assert!(max <= 8 && mean < 0.5, "max {max}, mean {mean}");
}

#[test]
fn encode_prepares_any_picture_size() {
    let model = MagvitV2::load(&model_dir()).unwrap();
    let jpeg = load_image(&fixtures().join("images/photo_48x40.jpg")).unwrap();
    let codes = model.encode(&jpeg).unwrap();
    let prepared = prepare_image(&jpeg, 32, 32, ResizeFilter::Bicubic).unwrap();
    assert_eq!(codes, model.encode(&prepared).unwrap());
}

#[test]
fn decode_refuses_bad_codes() {
    let model = MagvitV2::load(&model_dir()).unwrap();
    let mut codes = vec![0u32; 256];
    codes[17] = 8192;
    let bad = ImageCodes::new(codes, 16, 16).unwrap();
    match model.decode(&bad) {
        Err(ImageError::CodeOutOfRange {
            code: 8192,
            position: 17,
            codebook_size: 8192,
        }) => {}
        other => panic!("{other:?}"),
    }
    let wrong_grid = ImageCodes::new(vec![0; 64], 8, 8).unwrap();
    assert!(matches!(
        model.decode(&wrong_grid),
        Err(ImageError::ShapeMismatch { .. })
    ));
    // The CLI's JSON form with the wrong count is refused before it reaches a tokenizer.
    let json = r#"{"codes": [1, 2, 3], "height": 16, "width": 16}"#;
    assert!(serde_json::from_str::<ImageCodes>(json).is_err());
}

/// A scratch copy of the fixture folder that a test may damage.
struct Scratch(PathBuf);

impl Scratch {
    fn new(name: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("tessera-image-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        for f in ["config.json", "model.safetensors"] {
            std::fs::copy(model_dir().join(f), dir.join(f)).unwrap();
        }
        Scratch(dir)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[test]
fn damaged_weights_are_typed_errors() {
    // Truncated file.
    let s = Scratch::new("truncated");
    let bytes = std::fs::read(s.0.join("model.safetensors")).unwrap();
    std::fs::write(s.0.join("model.safetensors"), &bytes[..bytes.len() / 2]).unwrap();
    assert!(matches!(
        MagvitV2::load(&s.0),
        Err(ImageError::Weights { .. })
    ));
    // Missing file.
    std::fs::remove_file(s.0.join("model.safetensors")).unwrap();
    assert!(matches!(
        MagvitV2::load(&s.0),
        Err(ImageError::Weights { .. })
    ));

    // A missing tensor and a misshaped one are named.
    let s = Scratch::new("tensors");
    let mut ts =
        candle_core::safetensors::load(s.0.join("model.safetensors"), &Device::Cpu).unwrap();
    ts.remove("encoder.mid.attn_1.q.weight");
    candle_core::safetensors::save(&ts, s.0.join("model.safetensors")).unwrap();
    match MagvitV2::load(&s.0) {
        Err(ImageError::Weights { reason, .. }) => {
            assert!(reason.contains("encoder.mid.attn_1.q.weight"), "{reason}")
        }
        other => panic!("{other:?}"),
    }
    let mut ts =
        candle_core::safetensors::load(model_dir().join("model.safetensors"), &Device::Cpu)
            .unwrap();
    ts.insert(
        "decoder.conv_out.bias".into(),
        Tensor::zeros(4, DType::F16, &Device::Cpu).unwrap(),
    );
    candle_core::safetensors::save(&ts, s.0.join("model.safetensors")).unwrap();
    match MagvitV2::load(&s.0) {
        Err(ImageError::Weights { reason, .. }) => {
            assert!(reason.contains("decoder.conv_out.bias"), "{reason}")
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn bad_configs_name_the_field() {
    let s = Scratch::new("config");
    let cases = [
        (
            r#"{"_class_name": "MAGVITv2", "encoder": {"ch_mult": 3}}"#,
            "encoder.ch_mult",
        ),
        (
            r#"{"_class_name": "MAGVITv2", "encoder": {"ch": 32, "ch_mult": [2, 1], "num_res_blocks": [1, 2], "resolution": 32}, "decoder": {"ch": 32, "ch_mult": [2, 1], "num_res_blocks": [2, 1], "resolution": 64}}"#,
            "decoder.resolution",
        ),
        (
            r#"{"_class_name": "MAGVITv2", "codebook_dim": 14}"#,
            "encoder.z_channels",
        ),
        (r#"{"type": "vqgan"}"#, "type"),
        (r#"{"hello": 1}"#, "type"),
        ("{not json", "(file)"),
    ];
    for (config, field) in cases {
        std::fs::write(s.0.join("config.json"), config).unwrap();
        match load_image_tokenizer(&s.0) {
            Err(ImageError::Config { field: f, .. }) => assert_eq!(f, field, "{config}"),
            other => panic!("{config}: {other:?}"),
        }
    }
    std::fs::write(s.0.join("config.json"), r#"{"encoder": {"ch": "wide"}}"#).unwrap();
    match MagvitV2::load(&s.0) {
        Err(ImageError::Config { field, .. }) => assert_eq!(field, "encoder.ch"),
        other => panic!("{other:?}"),
    }
    std::fs::remove_file(s.0.join("config.json")).unwrap();
    assert!(matches!(MagvitV2::load(&s.0), Err(ImageError::Io { .. })));
}

#[test]
fn typed_config_and_random_model_agree_with_the_fixture_architecture() {
    let text = std::fs::read_to_string(model_dir().join("config.json")).unwrap();
    let cfg = MagvitV2Config::from_json(&serde_json::from_str(&text).unwrap()).unwrap();
    assert_eq!(cfg.encoder.ch_mult, [2, 1]);
    assert_eq!(cfg.decoder.num_res_blocks, [2, 1]);
    assert_eq!(cfg.encoder.attn_resolutions, [16]);
    // Same architecture, other weights: every tensor name and shape of the fixture is
    // produced by `random`, so both build; different seeds give different models.
    let a = MagvitV2::random(&cfg, 1).unwrap();
    let b = MagvitV2::random(&cfg, 2).unwrap();
    let img = test_picture();
    let za = f32s(&a.encode_latents(&img).unwrap());
    assert_eq!(
        za,
        f32s(
            &MagvitV2::random(&cfg, 1)
                .unwrap()
                .encode_latents(&img)
                .unwrap()
        )
    );
    assert_ne!(za, f32s(&b.encode_latents(&img).unwrap()));
    let codes = a.encode(&img).unwrap();
    assert_eq!(a.decode(&codes).unwrap().dimensions(), (32, 32));
}
