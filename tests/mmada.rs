//! MMaDA on the tiny MMaDA-format fixture: the token space its config describes, and
//! text-to-image decoding token for token against a transcription of MMaDA's `t2i_generate`
//! run by `transformers` with recorded draws (`scripts/make_mmada_fixtures.py`).

mod common;

use common::{fixture, json_rows, reference_json, reference_tensors};
use tessera::hybrid::maskgit::{self, Annealing, MaskGitOptions, SpanCanvas};
use tessera::hybrid::{NoisePurpose, RecordedNoise};
use tessera::modalities::mmada::MmadaPrompting;
use tessera::{CaptionRequest, ChatMessage, DecodeOptions, Engine, ImageOptions, ImageRequest};
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

#[test]
fn templates_build_mmadas_canvases_id_for_id() {
    let engine = Engine::load(fixture("mmada-tiny")).unwrap();
    let space = engine.space();
    assert_eq!(space.text, 0..310);
    assert_eq!(space.image, Some(310..310 + 8192));
    let config: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(fixture("mmada-tiny/config.json")).unwrap())
            .unwrap();
    let tokenizer = engine.tokenizer().unwrap();
    let prompting = MmadaPrompting::new(tokenizer, &config, engine.info().mask_id).unwrap();
    let reference = reference_json("mmada_t2i.json");
    let text_length = reference["text_length"].as_u64().unwrap() as usize;
    let expected = json_rows(&reference["input_ids"]);
    let expected_mask = json_rows(&reference["attention_mask"]);
    for (r, prompt) in reference["prompts"].as_array().unwrap().iter().enumerate() {
        let text = tokenizer.encode(prompt.as_str().unwrap()).unwrap();
        let (ids, attention, span) = prompting.t2i_canvas(&text, text_length);
        assert_eq!(ids, expected[r], "t2i canvas of prompt {r}");
        let mask: Vec<bool> = expected_mask[r].iter().map(|&v| v == 1).collect();
        assert_eq!(attention, mask);
        assert_eq!(span.len(), 256);
    }
    let (uncond, _, _) = prompting.t2i_canvas(&[], text_length);
    assert_eq!(uncond, json_rows(&reference["uncond_input_ids"])[0]);
    let mmu = reference_json("mmada_mmu.json");
    let codes: Vec<u32> = json_rows(&serde_json::json!([mmu["codes"]])).remove(0);
    let question = tokenizer
        .encode_chat(&[ChatMessage::user(mmu["question"].as_str().unwrap())])
        .unwrap();
    let canvas = prompting.mmu_canvas(space, &codes, &question).unwrap();
    assert_eq!(canvas, json_rows(&serde_json::json!([mmu["input_ids"]]))[0]);
    assert!(prompting.mmu_canvas(space, &[8192], &question).is_err());
}

#[test]
fn t2i_and_caption_run_end_to_end_through_the_sdk() {
    let engine = Engine::load(fixture("mmada-tiny")).unwrap();
    let image = engine
        .text_to_image(
            &ImageRequest::new("a red circle")
                .options(ImageOptions::new().steps(4).text_length(16).seed(3)),
        )
        .unwrap();
    assert_eq!(
        (image.height, image.width, image.codes.len()),
        (16, 16, 256)
    );
    assert!(image.codes.iter().all(|&c| c < 8192));
    assert_eq!(image.stats.nfe, 4);
    let answer = engine
        .caption(
            &CaptionRequest::new(image.codes.clone())
                .options(DecodeOptions::new().gen_length(8).steps(8).block_length(4)),
        )
        .unwrap();
    let ids = &answer.outputs[0].ids;
    assert_eq!(ids.len(), 8);
    assert!(
        ids.iter().all(|&t| t < 310),
        "text positions stay text: {ids:?}"
    );
    // Text-only models refuse the multimodal tasks by name.
    let llada = Engine::load(fixture("llada-tiny")).unwrap();
    match llada.text_to_image(&ImageRequest::new("x")) {
        Err(tessera::Error::InvalidRequest { field, .. }) => assert_eq!(field, "task"),
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        engine.caption(&CaptionRequest::new(vec![9000])),
        Err(tessera::Error::Space(_))
    ));
}
