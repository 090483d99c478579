//! The SDK's `Engine` end to end on the fixtures: batches of prompts of different lengths,
//! option validation across samplers, typed errors.

mod common;

use common::{fixture, json_rows, reference_json};
use tessera::{
    CacheMode, DecodeOptions, DreamAlg, Engine, Error, GenerateRequest, Policy, Prompt, Remask,
    SamplerKind, Segment, Unmask,
};

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
fn a_dream_model_takes_every_controller_option_and_dream_options_stay_dream_s() {
    let engine = Engine::load(fixture("dream-tiny")).unwrap();
    let req = |o: DecodeOptions| {
        let steps = o.steps.unwrap_or(4);
        GenerateRequest::new(Prompt::Ids(vec![1, 2])).options(o.gen_length(8).steps(steps))
    };
    let field = |r: Result<tessera::Response, Error>| match r {
        Err(Error::InvalidRequest { field, .. }) => field,
        other => panic!("expected an invalid request, got {other:?}"),
    };
    // Under its own (Dream) preset, with no `sampler` given, every controller option runs.
    for opts in [
        DecodeOptions::new().block_length(4),
        DecodeOptions::new().cfg_scale(1.0),
        DecodeOptions::new().policy(Policy::Ar).steps(8),
        DecodeOptions::new()
            .policy(Policy::Block)
            .block_length(4)
            .unmask(Unmask::Threshold(0.9)),
        DecodeOptions::new().block_length(4).cache(CacheMode::Dual),
        DecodeOptions::new().cache(CacheMode::Prefix),
        DecodeOptions::new().remask(Remask::Rcr),
        DecodeOptions::new().alg(DreamAlg::Entropy),
        DecodeOptions::new()
            .segments(vec![
                Segment::new(4, Policy::Ar),
                Segment::new(4, Policy::Diffusion),
            ])
            .steps(8),
    ] {
        let out = engine
            .generate(&req(opts.clone()))
            .unwrap_or_else(|e| panic!("{opts:?}: {e}"));
        assert_eq!(out.outputs[0].ids.len(), 8, "{opts:?}");
        assert!(out.stats.nfe >= 1);
    }
    // Dream's own options are refused by name under the LLaDA preset, never ignored.
    let llada = DecodeOptions::new().sampler(SamplerKind::Llada);
    assert_eq!(
        field(engine.generate(&req(llada.clone().alg(DreamAlg::Entropy)))),
        "alg"
    );
    let mut eps = llada.clone();
    eps.eps = Some(0.01);
    assert_eq!(field(engine.generate(&req(eps))), "eps");
    // `alg` is a shorthand for unmask + remasking: giving both is refused.
    assert_eq!(
        field(
            engine.generate(&req(DecodeOptions::new()
                .alg(DreamAlg::Entropy)
                .unmask(Unmask::Count)))
        ),
        "alg"
    );
    // The Dream model can run the LLaDA preset when asked.
    let out = engine.generate(&req(llada.block_length(4))).unwrap();
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

#[test]
fn segments_decode_with_their_own_policies_through_the_sdk() {
    let engine = Engine::load(fixture("llada-tiny")).unwrap();
    let opts = DecodeOptions::new().segments(vec![
        Segment::new(4, Policy::Ar),
        Segment::new(8, Policy::Diffusion).steps(2),
    ]);
    let json = serde_json::to_string(&opts).unwrap();
    assert_eq!(
        serde_json::from_str::<DecodeOptions>(&json).unwrap(),
        opts,
        "{json}"
    );
    let out = engine
        .generate(&GenerateRequest::new(Prompt::Ids(vec![281, 259, 68])).options(opts))
        .unwrap();
    assert_eq!(out.outputs[0].ids.len(), 12);
    assert_eq!(out.stats.nfe, 4 + 2);
    // Totals that contradict the segments are refused by name.
    let err = engine
        .generate(
            &GenerateRequest::new(Prompt::Ids(vec![1, 2])).options(
                DecodeOptions::new()
                    .segments(vec![Segment::new(4, Policy::Ar)])
                    .gen_length(8),
            ),
        )
        .unwrap_err();
    assert!(err.to_string().contains("segments"), "{err}");
}
