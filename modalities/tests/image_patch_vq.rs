//! The patch VQ tokenizer: fitting, exact round trips of flat-colour pictures, the on-disk
//! format (checked against a codebook written by the Python fixture script) and bad folders.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use candle_core::{DType, Device, Tensor};
use image::Rgb;
use tessera_modalities::image::{
    ImageCodes, ImageError, ImageTokenizer, PatchVq, ResizeFilter, RgbImage, load_image,
    load_image_tokenizer,
};

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures")
}

struct Scratch(PathBuf);

impl Scratch {
    fn new(name: &str) -> Self {
        let dir =
            std::env::temp_dir().join(format!("tessera-patchvq-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        Scratch(dir)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

const PALETTE: [[u8; 3]; 6] = [
    [255, 0, 0],
    [0, 255, 0],
    [0, 0, 255],
    [255, 255, 0],
    [0, 255, 255],
    [255, 255, 255],
];

/// A 64×64 "synthetic shapes" picture: black, with flat-colour rectangles aligned to 4 px.
fn shapes(seed: u32) -> RgbImage {
    let mut img = RgbImage::new(64, 64);
    for s in 0..3u32 {
        let k = seed.wrapping_mul(2_654_435_761).wrapping_add(s * 40_503);
        let (x0, y0) = ((k % 12) * 4, ((k / 12) % 12) * 4);
        let (w, h) = (4 + (k / 144) % 4 * 4, 4 + (k / 576) % 4 * 4);
        let colour = Rgb(PALETTE[((k / 2304) % 6) as usize]);
        for y in y0..(y0 + h).min(64) {
            for x in x0..(x0 + w).min(64) {
                img.put_pixel(x, y, colour);
            }
        }
    }
    img
}

#[test]
fn flat_colour_pictures_round_trip_exactly() {
    let train: Vec<RgbImage> = (0..20).map(shapes).collect();
    // Patches are flat black or one of 6 colours: 7 distinct patches, 16 codes are enough.
    let vq = PatchVq::fit(&train, 4, 16, 10, 42).unwrap();
    assert_eq!(vq.grid(), (16, 16));
    assert_eq!(vq.resolution(), (64, 64));
    for img in train.iter().chain([&shapes(1000), &RgbImage::new(64, 64)]) {
        let codes = vq.encode(img).unwrap();
        assert!(codes.codes().iter().all(|&c| c < 16));
        assert_eq!(&vq.decode(&codes).unwrap(), img);
    }
}

#[test]
fn every_distinct_patch_gets_its_own_code_when_k_allows() {
    // Four quadrants of different flat colours, plus a patch of noise.
    let img = RgbImage::from_fn(16, 16, |x, y| {
        if x >= 12 && y >= 12 {
            Rgb([(x * 17 + y * 3) as u8, (x * y) as u8, 200])
        } else {
            Rgb(PALETTE[((x / 8) + 2 * (y / 8)) as usize])
        }
    });
    let vq = PatchVq::fit(std::slice::from_ref(&img), 4, 5, 3, 0).unwrap();
    let codes = vq.encode(&img).unwrap();
    assert_eq!(vq.decode(&codes).unwrap(), img);
    let distinct: std::collections::BTreeSet<u32> = codes.codes().iter().copied().collect();
    assert_eq!(distinct.len(), 5);
}

#[test]
fn fitting_is_deterministic_and_compresses_when_k_is_small() {
    // Smooth gradients: many distinct patches, few codes.
    let train: Vec<RgbImage> = (0..4)
        .map(|s| {
            RgbImage::from_fn(32, 32, |x, y| {
                Rgb([(x * 8) as u8, (y * 8) as u8, ((x + y) * 4 + s * 16) as u8])
            })
        })
        .collect();
    let a = PatchVq::fit(&train, 4, 8, 25, 7).unwrap();
    let b = PatchVq::fit(&train, 4, 8, 25, 7).unwrap();
    assert_eq!(a, b);
    let c = PatchVq::fit(&train, 4, 8, 25, 8).unwrap();
    assert_eq!(c.codebook().len(), 8 * 48);
    // Lloyd steps lower the reconstruction error relative to the k-means++ seeding alone.
    let mse = |vq: &PatchVq| -> f64 {
        train
            .iter()
            .map(|img| {
                let back = vq.decode(&vq.encode(img).unwrap()).unwrap();
                back.as_raw()
                    .iter()
                    .zip(img.as_raw())
                    .map(|(a, b)| (f64::from(*a) - f64::from(*b)).powi(2))
                    .sum::<f64>()
            })
            .sum::<f64>()
    };
    let seeded_only = PatchVq::fit(&train, 4, 8, 0, 7).unwrap();
    assert!(
        mse(&a) < mse(&seeded_only),
        "{} vs {}",
        mse(&a),
        mse(&seeded_only)
    );
}

#[test]
fn save_load_round_trip_and_dispatch() {
    let train: Vec<RgbImage> = (0..5).map(shapes).collect();
    let vq = PatchVq::fit(&train, 8, 12, 5, 1).unwrap();
    let s = Scratch::new("save");
    vq.save(&s.0).unwrap();
    let loaded = PatchVq::load(&s.0).unwrap();
    assert_eq!(loaded, vq);
    let boxed = load_image_tokenizer(&s.0).unwrap();
    assert_eq!(boxed.grid(), (8, 8));
    assert_eq!(boxed.codebook_size(), 12);
    let codes = boxed.encode(&train[0]).unwrap();
    assert_eq!(codes, vq.encode(&train[0]).unwrap());
    assert_eq!(boxed.decode(&codes).unwrap(), vq.decode(&codes).unwrap());
}

#[test]
fn fixture_codebook_written_by_python_encodes_as_reference() {
    let dir = fixtures().join("patch-vq-tiny");
    let vq = load_image_tokenizer(&dir).unwrap();
    let expected: HashMap<String, Tensor> =
        candle_core::safetensors::load(dir.join("expected_shapes_16.safetensors"), &Device::Cpu)
            .unwrap();
    let img = load_image(&fixtures().join("images/shapes_16.png")).unwrap();
    let codes = vq.encode(&img).unwrap();
    let want: Vec<u32> = expected["codes"]
        .to_dtype(DType::I64)
        .unwrap()
        .to_vec1::<i64>()
        .unwrap()
        .into_iter()
        .map(|c| c as u32)
        .collect();
    assert_eq!(codes.codes(), want);
    let decoded = vq.decode(&codes).unwrap();
    let want_px: Vec<u8> = expected["decoded_u8"]
        .flatten_all()
        .unwrap()
        .to_vec1()
        .unwrap();
    assert_eq!(decoded.as_raw(), &want_px);
}

#[test]
fn encode_resizes_other_sizes() {
    let vq = PatchVq::fit(&[shapes(3)], 4, 8, 5, 0)
        .unwrap()
        .with_resize_filter(ResizeFilter::Nearest);
    // 128×96 of one colour → resized (cover) and cropped to 64×64: still that colour.
    let big = RgbImage::from_pixel(128, 96, Rgb(PALETTE[0]));
    let codes = vq.encode(&big).unwrap();
    let back = vq.decode(&codes).unwrap();
    assert_eq!(back.dimensions(), (64, 64));
    assert!(matches!(
        vq.encode(&RgbImage::new(0, 10)),
        Err(ImageError::InvalidArgument { .. })
    ));
}

#[test]
fn bad_codes_and_bad_fit_arguments_are_typed_errors() {
    let vq = PatchVq::fit(&[shapes(1)], 4, 8, 5, 0).unwrap();
    let too_big = ImageCodes::new(vec![8; 256], 16, 16).unwrap();
    assert!(matches!(
        vq.decode(&too_big),
        Err(ImageError::CodeOutOfRange {
            code: 8,
            position: 0,
            codebook_size: 8
        })
    ));
    let wrong_count = ImageCodes::new(vec![0; 255], 15, 17).unwrap();
    assert!(matches!(
        vq.decode(&wrong_count),
        Err(ImageError::ShapeMismatch { .. })
    ));
    let arg = |r: Result<PatchVq, ImageError>| match r {
        Err(ImageError::InvalidArgument { name, .. }) => name,
        other => panic!("{other:?}"),
    };
    assert_eq!(arg(PatchVq::fit(&[], 4, 8, 5, 0)), "images");
    assert_eq!(arg(PatchVq::fit(&[shapes(1)], 0, 8, 5, 0)), "patch");
    assert_eq!(arg(PatchVq::fit(&[shapes(1)], 5, 8, 5, 0)), "images");
    assert_eq!(arg(PatchVq::fit(&[shapes(1)], 4, 0, 5, 0)), "k");
    assert_eq!(
        arg(PatchVq::fit(
            &[shapes(1), RgbImage::new(32, 32)],
            4,
            8,
            5,
            0
        )),
        "images"
    );
}

/// A 32×32 grey picture with a filled triangle (apex up) or square of side 8 at `(x0, y0)`.
fn shape_at(triangle: bool, x0: u32, y0: u32) -> RgbImage {
    RgbImage::from_fn(32, 32, |x, y| {
        let inside = (x0..x0 + 8).contains(&x)
            && (y0..y0 + 8).contains(&y)
            && (!triangle || (x as i32 - x0 as i32 - 4).unsigned_abs() <= (y - y0) / 2);
        if inside {
            Rgb([200, 40, 40])
        } else {
            Rgb([90, 90, 90])
        }
    })
}

#[test]
fn alignment_reads_a_moved_shape_as_in_place() {
    // Fitted on shapes on the 8 px grid only: each patch is background, a square or a
    // triangle, so a shape moved off the grid crosses patches the codebook never saw.
    let train: Vec<RgbImage> = [(0, 0), (8, 8), (16, 16), (8, 16)]
        .iter()
        .flat_map(|&(x, y)| [shape_at(true, x, y), shape_at(false, x, y)])
        .collect();
    let vq = PatchVq::fit(&train, 8, 8, 20, 7).unwrap();
    let aligned = vq.clone().with_alignment(3).unwrap();
    assert_eq!(aligned.alignment(), 3);
    let mut misread = 0;
    for triangle in [true, false] {
        let in_place = vq.encode(&shape_at(triangle, 8, 8)).unwrap();
        // In place, aligned or not: the same codes.
        assert_eq!(aligned.encode(&shape_at(triangle, 8, 8)).unwrap(), in_place);
        for (dx, dy) in [(2, 0), (0, 3), (1, 2), (3, 3)] {
            let moved = shape_at(triangle, 8 + dx, 8 + dy);
            misread += usize::from(vq.encode(&moved).unwrap() != in_place);
            assert_eq!(
                aligned.encode(&moved).unwrap(),
                in_place,
                "{triangle} {dx} {dy}"
            );
        }
    }
    // Without the alignment, moved shapes code otherwise (most of these do).
    assert!(
        misread >= 4,
        "{misread} of 8 moved shapes misread without alignment"
    );
    // Saved with the codebook; too large an alignment is refused, naming it.
    let s = Scratch::new("align");
    aligned.save(&s.0).unwrap();
    assert_eq!(PatchVq::load(&s.0).unwrap().alignment(), 3);
    match vq.with_alignment(16) {
        Err(ImageError::InvalidArgument { name, .. }) => assert_eq!(name, "align"),
        other => panic!("{other:?}"),
    }
}

fn write_folder(dir: &Path, config: &str, codebook: Option<Tensor>) {
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(dir.join("config.json"), config).unwrap();
    if let Some(t) = codebook {
        candle_core::safetensors::save(
            &HashMap::from([("codebook".to_string(), t)]),
            dir.join("model.safetensors"),
        )
        .unwrap();
    }
}

#[test]
fn bad_folders_are_typed_errors() {
    let good = r#"{"type": "patch-vq", "patch": 4, "codebook_size": 8, "resolution": [16, 16]}"#;
    let zeros = |k: usize, d: usize| Some(Tensor::zeros((k, d), DType::F32, &Device::Cpu).unwrap());
    let s = Scratch::new("bad");

    // Tensor shape disagrees with the config: [8, 47] for patch 4 (needs 48), and K = 9.
    write_folder(&s.0, good, zeros(8, 47));
    match PatchVq::load(&s.0) {
        Err(ImageError::ShapeMismatch { what, .. }) => assert!(what.contains("codebook")),
        other => panic!("{other:?}"),
    }
    write_folder(&s.0, good, zeros(9, 48));
    assert!(matches!(
        load_image_tokenizer(&s.0),
        Err(ImageError::ShapeMismatch { .. })
    ));

    // Config fields.
    let cases = [
        (
            r#"{"type": "patch-vq", "patch": 0, "codebook_size": 8, "resolution": [16, 16]}"#,
            "patch",
        ),
        (
            r#"{"type": "patch-vq", "patch": 4, "codebook_size": -2, "resolution": [16, 16]}"#,
            "codebook_size",
        ),
        (
            r#"{"type": "patch-vq", "patch": 4, "codebook_size": 8, "resolution": [16]}"#,
            "resolution",
        ),
        (
            r#"{"type": "patch-vq", "patch": 4, "codebook_size": 8, "resolution": [18, 16]}"#,
            "resolution",
        ),
        (
            r#"{"type": "patch-vq", "codebook_size": 8, "resolution": [16, 16]}"#,
            "patch",
        ),
        (
            r#"{"type": "patch-vq", "patch": 4, "codebook_size": 8, "resolution": [16, 16], "align": 8}"#,
            "align",
        ),
        (
            r#"{"type": "patch-vq", "patch": 4, "codebook_size": 8, "resolution": [16, 16], "align": "2"}"#,
            "align",
        ),
    ];
    for (config, field) in cases {
        write_folder(&s.0, config, zeros(8, 48));
        match PatchVq::load(&s.0) {
            Err(ImageError::Config { field: f, .. }) => assert_eq!(f, field, "{config}"),
            other => panic!("{config}: {other:?}"),
        }
    }
    write_folder(&s.0, r#"{"type": "magvit-v2"}"#, None);
    match PatchVq::load(&s.0) {
        Err(ImageError::Config { field, .. }) => assert_eq!(field, "type"),
        other => panic!("{other:?}"),
    }

    // Non-finite values, a missing tensor, a truncated and a missing weights file.
    let nan = Tensor::full(f32::NAN, (8, 48), &Device::Cpu).unwrap();
    write_folder(&s.0, good, Some(nan));
    assert!(matches!(
        PatchVq::load(&s.0),
        Err(ImageError::Weights { .. })
    ));
    candle_core::safetensors::save(
        &HashMap::from([(
            "other".to_string(),
            Tensor::zeros((8, 48), DType::F32, &Device::Cpu).unwrap(),
        )]),
        s.0.join("model.safetensors"),
    )
    .unwrap();
    match PatchVq::load(&s.0) {
        Err(ImageError::Weights { reason, .. }) => assert!(reason.contains("codebook")),
        other => panic!("{other:?}"),
    }
    write_folder(&s.0, good, zeros(8, 48));
    let bytes = std::fs::read(s.0.join("model.safetensors")).unwrap();
    std::fs::write(s.0.join("model.safetensors"), &bytes[..bytes.len() - 10]).unwrap();
    assert!(matches!(
        PatchVq::load(&s.0),
        Err(ImageError::Weights { .. })
    ));
    std::fs::remove_file(s.0.join("model.safetensors")).unwrap();
    assert!(matches!(
        PatchVq::load(&s.0),
        Err(ImageError::Weights { .. })
    ));
    // f16 weights are accepted and converted.
    write_folder(
        &s.0,
        good,
        Some(Tensor::zeros((8, 48), DType::F16, &Device::Cpu).unwrap()),
    );
    assert!(PatchVq::load(&s.0).is_ok());
}
