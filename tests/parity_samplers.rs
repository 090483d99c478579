//! The LLaDA and Dream samplers against the reference runs recorded by
//! `scripts/make_fixtures.py` (transformers models + the reference algorithms), token for
//! token, including recorded noise for the stochastic cases.

mod common;

use common::{fixture, json_rows, reference_json, reference_tensors};
use serde_json::Value;
use tessera_backbone::Backbone;
use tessera_hybrid::dream::{DreamAlg, DreamOptions};
use tessera_hybrid::llada::{LladaOptions, Remasking};
use tessera_hybrid::{
    NoisePurpose, PromptBatch, RecordedNoise, SeededNoise, dream, llada, schedule,
};

fn prompts(case: &Value) -> PromptBatch {
    let rows = json_rows(&case["prompt"]);
    let mask = case["attention_mask"].as_array().map(|_| {
        json_rows(&case["attention_mask"])
            .into_iter()
            .map(|r| r.into_iter().map(|v| v == 1).collect())
            .collect()
    });
    PromptBatch::from_padded(rows, mask).unwrap()
}

/// Recorded noise `{case}.{suffix}` as `purpose`, widened to f64.
fn add_noise(noise: RecordedNoise, file: &str, key: &str, purpose: NoisePurpose) -> RecordedNoise {
    let refs = reference_tensors(file);
    let Some(t) = refs.get(key) else { return noise };
    let dims = t.dims().to_vec();
    let shape = match dims.as_slice() {
        [s, b, l, v] => [*s, *b, *l, *v],
        [s, b, l] => [*s, *b, *l, 1],
        other => panic!("unexpected noise shape {other:?}"),
    };
    let data: Vec<f64> = t
        .to_dtype(candle_core::DType::F64)
        .unwrap()
        .flatten_all()
        .unwrap()
        .to_vec1()
        .unwrap();
    noise.with(purpose, shape, data).unwrap()
}

#[test]
fn llada_generate_matches_reference_token_for_token() {
    let model = Backbone::load(fixture("llada-tiny")).unwrap();
    let reference = reference_json("llada_generate.json");
    let mask_id = reference["mask_id"].as_u64().unwrap() as u32;
    let eos = reference["eos_id"].as_u64().map(|v| v as u32);
    let eot = reference["eot_id"].as_u64().map(|v| v as u32);
    let cases = reference["cases"].as_array().unwrap();
    assert!(cases.len() >= 10);
    for case in cases {
        let name = case["name"].as_str().unwrap();
        let opts = LladaOptions::new(mask_id)
            .gen_length(case["gen_length"].as_u64().unwrap() as usize)
            .steps(case["steps"].as_u64().unwrap() as usize)
            .block_length(case["block_length"].as_u64().unwrap() as usize)
            .temperature(case["temperature"].as_f64().unwrap())
            .cfg_scale(case["cfg_scale"].as_f64().unwrap())
            .remasking(match case["remasking"].as_str().unwrap() {
                "random" => Remasking::Random,
                _ => Remasking::LowConfidence,
            })
            .special_ids(eos, eot)
            .logits_eos_inf(case["logits_eos_inf"].as_bool().unwrap())
            .confidence_eos_eot_inf(case["confidence_eos_eot_inf"].as_bool().unwrap());
        let mut noise = RecordedNoise::new();
        noise = add_noise(
            noise,
            "llada_noise.safetensors",
            &format!("{name}.gumbel"),
            NoisePurpose::Gumbel,
        );
        noise = add_noise(
            noise,
            "llada_noise.safetensors",
            &format!("{name}.remask"),
            NoisePurpose::Remask,
        );
        let out = llada::generate(&model, &prompts(case), &opts, &noise, &mut |_| {})
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        let expected = json_rows(&case["output"]);
        for (r, row) in expected.iter().enumerate() {
            assert_eq!(out.canvas(r), row.as_slice(), "case {name}, row {r}");
        }
    }
}

#[test]
fn dream_generate_matches_reference_token_for_token() {
    let model = Backbone::load(fixture("dream-tiny")).unwrap();
    let reference = reference_json("dream_generate.json");
    let mask_id = reference["mask_id"].as_u64().unwrap() as u32;
    let cases = reference["cases"].as_array().unwrap();
    assert!(cases.len() >= 10);
    for case in cases {
        let name = case["name"].as_str().unwrap();
        let alg = match case["alg"].as_str().unwrap() {
            "origin" => DreamAlg::Origin,
            "maskgit_plus" => DreamAlg::MaskgitPlus,
            "topk_margin" => DreamAlg::TopkMargin,
            "entropy" => DreamAlg::Entropy,
            other => panic!("unknown alg {other}"),
        };
        let opts = DreamOptions::new(mask_id)
            .gen_length(case["gen_length"].as_u64().unwrap() as usize)
            .steps(case["steps"].as_u64().unwrap() as usize)
            .eps(case["eps"].as_f64().unwrap())
            .alg(alg)
            .alg_temp(case["alg_temp"].as_f64())
            .temperature(case["temperature"].as_f64().unwrap())
            .top_p(case["top_p"].as_f64())
            .top_k(case["top_k"].as_u64().map(|k| k as usize));
        let noise = add_noise(
            RecordedNoise::new(),
            "dream_noise.safetensors",
            &format!("{name}.transfer"),
            NoisePurpose::Transfer,
        );
        let out = dream::generate(&model, &prompts(case), &opts, &noise, &mut |_| {})
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        let expected = json_rows(&case["output"]);
        for (r, row) in expected.iter().enumerate() {
            assert_eq!(out.canvas(r), row.as_slice(), "case {name}, row {r}");
        }
    }
}

#[test]
fn dream_timesteps_match_torch_linspace_bit_for_bit() {
    let reference = reference_json("timesteps.json");
    let cases = reference.as_array().unwrap();
    assert!(cases.len() > 20);
    for case in cases {
        let steps = case["steps"].as_u64().unwrap() as usize;
        let eps = case["eps"].as_f64().unwrap() as f32;
        let bits: Vec<u32> = case["bits"]
            .as_array()
            .unwrap()
            .iter()
            .map(|b| b.as_u64().unwrap() as u32)
            .collect();
        let ours: Vec<u32> = schedule::dream_timesteps(steps, eps)
            .iter()
            .map(|v| v.to_bits())
            .collect();
        assert_eq!(ours, bits, "steps {steps}, eps {eps}");
    }
}

#[test]
fn a_seeded_run_is_reproducible_and_seed_dependent() {
    let model = Backbone::load(fixture("llada-tiny")).unwrap();
    let batch = PromptBatch::left_padded(vec![vec![5, 6, 7, 8]], 295).unwrap();
    let opts = LladaOptions::new(299)
        .gen_length(8)
        .steps(8)
        .block_length(4)
        .temperature(1.0);
    let run = |seed| {
        llada::generate(&model, &batch, &opts, &SeededNoise::new(seed), &mut |_| {}).unwrap()
    };
    assert_eq!(run(1), run(1));
    assert!((2..10).any(|s| run(s).generated(0) != run(1).generated(0)));
}
