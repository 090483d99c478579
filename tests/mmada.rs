//! MMaDA on the tiny MMaDA-format fixture: the token space its config describes, and
//! text-to-image decoding token for token against a transcription of MMaDA's `t2i_generate`
//! run by `transformers` with recorded draws (`scripts/make_mmada_fixtures.py`).

mod common;

use common::{fixture, json_rows, reference_json, reference_tensors};
use tessera::hybrid::maskgit::{self, Annealing, MaskGitOptions, SpanCanvas};
use tessera::hybrid::{NoisePurpose, RecordedNoise};
use tessera_backbone::{Backbone, Family};

fn recorded(case: &str) -> RecordedNoise {
    let refs = reference_tensors("mmada_noise.safetensors");
    let mut noise = RecordedNoise::new();
    for (suffix, purpose) in [
        ("categorical", NoisePurpose::Categorical),
        ("gumbel", NoisePurpose::Gumbel),
    ] {
        let t = &refs[&format!("{case}.{suffix}")];
        let [s, b, l]: [usize; 3] = t.dims().try_into().unwrap();
        let data = t.flatten_all().unwrap().to_vec1::<f64>().unwrap();
        noise = noise.with(purpose, [s, b, l, 1], data).unwrap();
    }
    noise
}

#[test]
fn t2i_decoding_matches_mmada_token_for_token() {
    let model = Backbone::load(fixture("mmada-tiny")).unwrap();
    assert_eq!(model.info().family, Family::Mmada);
    let reference = reference_json("mmada_t2i.json");
    let flat = |key: &str| json_rows(&reference[key]).concat();
    let mask = |key: &str| -> Vec<bool> { flat(key).into_iter().map(|v| v == 1).collect() };
    let tokens = flat("input_ids");
    let uncond = flat("uncond_input_ids");
    let (attention, uncond_attention) = (mask("attention_mask"), mask("uncond_attention_mask"));
    let len = json_rows(&reference["input_ids"])[0].len();
    let offset = reference["image_offset"].as_u64().unwrap() as u32;
    let codes = reference["codebook_size"].as_u64().unwrap() as u32;
    let span = len - 1 - 256..len - 1;
    for case in reference["cases"].as_array().unwrap() {
        let name = case["name"].as_str().unwrap();
        let opts = MaskGitOptions::new(model.info().mask_id, offset..offset + codes)
            .steps(case["steps"].as_u64().unwrap() as usize)
            .cfg_scale(case["cfg_scale"].as_f64().unwrap())
            .temperature(case["temperature"].as_f64().unwrap())
            .annealing(Annealing::parse(case["annealing"].as_str().unwrap()).unwrap());
        let canvas = SpanCanvas {
            tokens: &tokens,
            len,
            attention: Some(&attention),
            span: span.clone(),
            uncond: Some((&uncond, Some(&uncond_attention))),
        };
        let out = maskgit::generate(&model, &canvas, &opts, &recorded(name), &mut |_| {}).unwrap();
        let expected = json_rows(&case["output"]);
        for (r, want) in expected.iter().enumerate() {
            assert_eq!(&out.canvas(r)[span.clone()], &want[..], "{name} row {r}");
        }
        assert_eq!(out.nfe(), opts.steps);
    }
}
