//! The SDK's `Engine` end to end on the fixtures: batches of prompts of different lengths,
//! option validation across samplers, typed errors.

mod common;

use common::{fixture, json_rows, reference_json};
use tessera::{DecodeOptions, Engine, Error, GenerateRequest, Prompt, SamplerKind};

#[test]
fn a_left_padded_batch_matches_the_reference_batch() {
    let engine = Engine::load(fixture("llada-tiny")).unwrap();
    let reference = reference_json("llada_generate.json");
    let case = reference["cases"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "t0_batch_left_padded")
        .unwrap();
    let masks = json_rows(&case["attention_mask"]);
    let prompts: Vec<Prompt> = json_rows(&case["prompt"])
        .into_iter()
        .zip(&masks)
        .map(|(row, mask)| {
            Prompt::Ids(
                row.into_iter()
                    .zip(mask)
                    .filter(|(_, m)| **m == 1)
                    .map(|(t, _)| t)
                    .collect(),
            )
        })
        .collect();
    let options = DecodeOptions::new()
        .gen_length(case["gen_length"].as_u64().unwrap() as usize)
        .steps(case["steps"].as_u64().unwrap() as usize)
        .block_length(case["block_length"].as_u64().unwrap() as usize);
    let response = engine
        .generate(&GenerateRequest::batch(prompts).options(options))
        .unwrap();
    let expected = json_rows(&case["output"]);
    let prompt_len = case["prompt"][0].as_array().unwrap().len();
    for (out, row) in response.outputs.iter().zip(&expected) {
        assert_eq!(out.ids, row[prompt_len..]);
        assert!(out.text.is_some());
    }
    assert_eq!(response.stats.nfe, case["steps"].as_u64().unwrap() as usize);
}

#[test]
fn options_of_the_other_sampler_are_refused_by_name() {
    let engine = Engine::load(fixture("dream-tiny")).unwrap();
    let req = |o: DecodeOptions| {
        GenerateRequest::new(Prompt::Ids(vec![1, 2])).options(o.gen_length(8).steps(4))
    };
    let field = |r: Result<tessera::Response, Error>| match r {
        Err(Error::InvalidRequest { field, .. }) => field,
        other => panic!("expected an invalid request, got {other:?}"),
    };
    assert_eq!(
        field(engine.generate(&req(DecodeOptions::new().block_length(4)))),
        "block-length"
    );
    assert_eq!(
        field(engine.generate(&req(DecodeOptions::new().cfg_scale(1.0)))),
        "cfg-scale"
    );
    // The Dream model can run the LLaDA sampler when asked.
    let out = engine
        .generate(&req(DecodeOptions::new()
            .sampler(SamplerKind::Llada)
            .block_length(4)))
        .unwrap();
    assert_eq!(out.outputs[0].ids.len(), 8);
    assert!(matches!(
        engine.generate(&GenerateRequest::batch(vec![])),
        Err(Error::InvalidRequest { .. })
    ));
    assert!(matches!(
        engine.generate(
            &GenerateRequest::new(Prompt::Ids(vec![1, 9999]))
                .options(DecodeOptions::new().gen_length(8).steps(4))
        ),
        Err(Error::Decode(_))
    ));
}

#[test]
fn options_round_trip_through_json_and_reject_unknown_fields() {
    let o = DecodeOptions::new()
        .gen_length(32)
        .steps(16)
        .block_length(8)
        .seed(3);
    let text = serde_json::to_string(&o).unwrap();
    assert_eq!(serde_json::from_str::<DecodeOptions>(&text).unwrap(), o);
    let bad = serde_json::from_str::<DecodeOptions>(r#"{"gen_lenght": 3}"#)
        .unwrap_err()
        .to_string();
    assert!(bad.contains("gen_lenght"), "{bad}");
}
