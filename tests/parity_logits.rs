//! Logits of the LLaDA and Dream backbones against `transformers` (LlamaModel / Qwen2Model
//! with renamed weights and an all-visible mask), recorded by `scripts/make_fixtures.py`.

mod common;
#[path = "parity_logits/gguf.rs"]
mod gguf;
#[path = "parity_logits/quantized.rs"]
mod quantized;

use candle_core::Tensor;
use common::{fixture, ids, reference_mask, reference_tensors};
use tessera::hybrid::DenoiseInput;
use tessera_backbone::{Backbone, Dtype, LoadOptions};

/// Compares our logits at `positions` of every row against the reference, skipping
/// positions before `first_valid[row]`.
fn compare(model: &Backbone, file: &str, case: &str, first_valid: &[usize], tol: f32) -> f32 {
    let refs = reference_tensors(file);
    let input = ids(&refs[&format!("{case}.input_ids")]);
    let expected: Tensor = refs[&format!("{case}.logits")].clone();
    let mask = reference_mask(&refs, case);
    let len = input[0].len();
    let tokens = input.concat();
    let positions: Vec<usize> = (0..len).collect();
    let ours = model
        .logits(&DenoiseInput::new(&tokens, len, &positions).with_attention(mask.as_deref()))
        .expect("forward");
    let expected = expected.to_vec3::<f32>().unwrap();
    let mut worst = 0f32;
    for (r, row) in expected.iter().enumerate() {
        for (p, expected_row) in row.iter().enumerate().skip(first_valid[r]) {
            for (a, b) in ours.row(r, p).iter().zip(expected_row) {
                worst = worst.max((a - b).abs());
            }
        }
    }
    assert!(worst <= tol, "{file} {case}: max abs diff {worst} > {tol}");
    worst
}

#[test]
fn llada_logits_match_transformers() {
    let model = Backbone::load(fixture("llada-tiny")).unwrap();
    assert_eq!(
        model.info().embedding_size,
        320,
        "logits cover embedding_size, not vocab_size"
    );
    compare(&model, "llada_logits.safetensors", "single", &[0], 1e-4);
    compare(&model, "llada_logits.safetensors", "batch", &[5, 0], 1e-4);
}

#[test]
fn dream_logits_match_transformers_shifted() {
    let model = Backbone::load(fixture("dream-tiny")).unwrap();
    compare(&model, "dream_logits.safetensors", "single", &[0], 1e-4);
    // Row 0 is left-padded by 5: position 5's shifted logits come from pad position 4.
    compare(&model, "dream_logits.safetensors", "batch", &[6, 0], 1e-4);
}

#[test]
fn bf16_checkpoint_loads_as_f32_exactly_and_as_bf16_closely() {
    let f32_model = Backbone::load_with(
        fixture("dream-tiny-bf16"),
        &LoadOptions::default().dtype(Dtype::F32),
    )
    .unwrap();
    assert_eq!(f32_model.info().stored_dtype, Dtype::Bf16);
    compare(
        &f32_model,
        "dream_bf16_logits.safetensors",
        "single",
        &[0],
        1e-4,
    );
    let bf16_model = Backbone::load(fixture("dream-tiny-bf16")).unwrap();
    assert_eq!(bf16_model.info().dtype, Dtype::Bf16);
    // bf16 keeps ~3 significant digits; logits here span about ±10.
    compare(
        &bf16_model,
        "dream_bf16_logits.safetensors",
        "single",
        &[0],
        0.25,
    );
}

#[test]
fn logits_at_a_subset_of_positions_equal_the_full_pass() {
    for name in ["llada-tiny", "dream-tiny"] {
        let model = Backbone::load(fixture(name)).unwrap();
        let tokens: Vec<u32> = (0..20).map(|i| (i * 7 % 250) as u32).collect();
        let all: Vec<usize> = (0..20).collect();
        let full = model.logits(&DenoiseInput::new(&tokens, 20, &all)).unwrap();
        let some = [0usize, 1, 9, 19];
        let part = model
            .logits(&DenoiseInput::new(&tokens, 20, &some))
            .unwrap();
        for (k, &p) in some.iter().enumerate() {
            for (a, b) in part.row(0, k).iter().zip(full.row(0, p)) {
                assert!((a - b).abs() < 1e-5, "{name} position {p}");
            }
        }
    }
}

#[test]
fn llada_place_embedding_matches_transformers_with_places_added() {
    let model = Backbone::load(fixture("llada-places")).unwrap();
    let refs = reference_tensors("llada_places_logits.safetensors");
    let input = ids(&refs["input_ids"]);
    let len = input[0].len();
    let tokens = input.concat();
    // The place ids the reference counted with a plain loop.
    let want_places: Vec<u32> = ids(&refs["place_ids"]).concat();
    let config = tessera_backbone::ModelConfig::from_dir(&fixture("llada-places")).unwrap();
    let tessera_backbone::ModelConfig::Llada(c) = config else {
        panic!("not a LLaDA config")
    };
    let pe = c.place_embedding.expect("a place embedding");
    assert_eq!(pe.place_ids(&tokens, len, c.mask_token_id), want_places);
    let positions: Vec<usize> = (0..len).collect();
    let ours = model
        .logits(&DenoiseInput::new(&tokens, len, &positions))
        .unwrap();
    let expected = refs["logits"].to_vec3::<f32>().unwrap();
    let mut worst = 0f32;
    for (r, row) in expected.iter().enumerate() {
        for (p, want) in row.iter().enumerate() {
            for (a, b) in ours.row(r, p).iter().zip(want) {
                worst = worst.max((a - b).abs());
            }
        }
    }
    assert!(worst <= 1e-4, "max abs diff {worst}");
    // The place rows count as parameters: llada-tiny has the same dimensions without them.
    let tiny = Backbone::load(fixture("llada-tiny")).unwrap();
    assert_eq!(
        model.info().parameters,
        tiny.info().parameters + (pe.places * 64) as u64
    );
}
