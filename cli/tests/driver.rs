//! The batched driver on real checkpoints: a mixed set of requests decoded together (joining
//! at different steps) gives each the same tokens and NFE as decoding it alone — on the
//! LLaDA and Dream fixtures (each under its own preset and the other's) and on tessera-tiny's
//! tasks (text-to-image, transcription, text).

mod common;

use common::{fixtures, tessera_tiny};
use tessera::hybrid::{Driver, DriverEvent, Generation};
use tessera::{
    CacheMode, DecodeOptions, DreamAlg, Engine, EngineDecoding, GenerateRequest, ImageOptions,
    ImageRequest, Policy, Prompt, Remask, SamplerKind, TaskInput, TaskRequest, Unmask, WorldTask,
};

/// Decodes `decodings` together on `engine`'s backbone, request `i` joining at round `i`;
/// returns each one's generation and the number of forward calls made.
fn together(engine: &Engine, decodings: Vec<EngineDecoding>) -> (Vec<Generation>, usize) {
    let n = decodings.len();
    let mut waiting = decodings.into_iter();
    let mut driver = Driver::new();
    let mut ids = Vec::new();
    let mut out: Vec<Option<Generation>> = vec![None; n];
    while out.iter().any(Option::is_none) {
        if let Some(d) = waiting.next() {
            ids.push(driver.join(d));
        }
        for event in driver.step(engine.backbone()) {
            if let DriverEvent::Finished(id, result) = event {
                let i = ids.iter().position(|&x| x == id).unwrap();
                out[i] = Some(result.unwrap());
            }
        }
    }
    (
        out.into_iter().map(Option::unwrap).collect(),
        driver.forwards(),
    )
}

#[test]
fn fixture_requests_decoded_together_match_each_decoded_alone() {
    // Each model under its own preset (LLaDA's, Dream's), plus one request under the other.
    for name in ["llada-tiny", "dream-tiny"] {
        let engine = Engine::load(fixtures().join(name)).unwrap();
        let base = |n: usize| DecodeOptions::new().gen_length(n).steps(n);
        let requests = [
            (vec![11, 12, 13], base(8).block_length(4)),
            (vec![21, 22], base(8).policy(Policy::Ar)),
            (vec![31; 7], base(16).policy(Policy::Diffusion).steps(8)),
            (
                vec![41, 42, 43, 44],
                base(16)
                    .block_length(8)
                    .policy(Policy::Hybrid)
                    .cache(CacheMode::Dual),
            ),
            (
                vec![51, 52],
                base(8)
                    .block_length(4)
                    .unmask(Unmask::Threshold(0.5))
                    .cache(CacheMode::Prefix),
            ),
            (vec![61, 62, 63], base(8).temperature(0.8).seed(3)),
            (
                vec![71],
                base(8).remask(Remask::Refine {
                    rounds: 2,
                    fraction: 0.25,
                    keep: 1.0,
                }),
            ),
            (vec![81, 82], base(8).remask(Remask::recheck(2, 2, 0.5))),
            (
                vec![91, 92, 93],
                base(8)
                    .sampler(SamplerKind::Dream)
                    .alg(DreamAlg::Entropy)
                    .steps(4),
            ),
            (
                vec![94, 95],
                base(8)
                    .sampler(SamplerKind::Dream)
                    .temperature(0.5)
                    .seed(7)
                    .steps(4),
            ),
            (
                vec![96],
                base(8).sampler(SamplerKind::Llada).block_length(4).steps(4),
            ),
        ];
        let mut alone = Vec::new();
        let mut decodings = Vec::new();
        for (ids, options) in &requests {
            let req = GenerateRequest::new(Prompt::Ids(ids.clone())).options(options.clone());
            let response = engine.generate(&req).unwrap();
            alone.push((response.outputs[0].ids.clone(), response.stats.nfe));
            decodings.push(engine.generate_decoding(&req).unwrap());
        }
        let (together, forwards) = together(&engine, decodings);
        for (i, (g, (ids, nfe))) in together.iter().zip(&alone).enumerate() {
            assert_eq!(g.generated(0), ids.as_slice(), "{name} request {i}: tokens");
            assert_eq!(g.nfe(), *nfe, "{name} request {i}: NFE");
        }
        let passes: usize = alone.iter().map(|(_, nfe)| nfe).sum();
        assert!(
            forwards < passes,
            "{name}: {forwards} forwards for {passes} passes"
        );
    }
}

#[test]
fn tessera_tiny_tasks_decoded_together_match_each_decoded_alone() {
    let engine = Engine::load(tessera_tiny()).unwrap();
    let t2a = engine
        .run_task(&TaskRequest::new(
            WorldTask::T2a,
            TaskInput::Text("C4 E4 G4".into()),
        ))
        .unwrap();
    let tune = t2a.outputs[0].codes.clone().unwrap();
    let requests = [
        TaskRequest::new(
            WorldTask::T2i,
            TaskInput::Text("a large green triangle at the top right".into()),
        ),
        TaskRequest::new(WorldTask::Transcribe, TaskInput::AudioCodes(tune)),
        TaskRequest::new(WorldTask::Text, TaskInput::Text("123+45=".into())),
        TaskRequest::new(WorldTask::Text, TaskInput::Text("sort 5 3 9 1 =".into()))
            .options(DecodeOptions::new().policy(Policy::Ar)),
        TaskRequest::new(
            WorldTask::Text,
            TaskInput::Text("sudoku 1.3.|.41.|4..3|2.4. =".into()),
        )
        .options(DecodeOptions::new().remask(Remask::recheck(2, 4, 0.5))),
        TaskRequest::new(
            WorldTask::T2i,
            TaskInput::Text("a small red circle at the center".into()),
        )
        .options(DecodeOptions::new().cache(CacheMode::Dual)),
    ];
    let mut alone = Vec::new();
    let mut decodings = Vec::new();
    for req in &requests {
        let response = engine.run_task(req).unwrap();
        alone.push((response.outputs[0].ids.clone(), response.stats.nfe));
        decodings.push(engine.task_decoding(req).unwrap());
    }
    let (together, forwards) = together(&engine, decodings);
    for (i, (g, (ids, nfe))) in together.iter().zip(&alone).enumerate() {
        assert_eq!(g.generated(0), ids.as_slice(), "request {i}: tokens");
        assert_eq!(g.nfe(), *nfe, "request {i}: NFE");
    }
    assert_eq!(
        engine
            .tokenizer()
            .unwrap()
            .decode(together[2].generated(0), true)
            .unwrap(),
        "168"
    );
    let passes: usize = alone.iter().map(|(_, nfe)| nfe).sum();
    assert!(forwards < passes, "{forwards} forwards for {passes} passes");
}

#[test]
fn mmada_text_to_image_and_captions_decoded_together_match_each_decoded_alone() {
    let engine = Engine::load(fixtures().join("mmada-tiny")).unwrap();
    // MaskGIT text-to-image (guided: both halves of its batch as rows) beside the
    // controller's caption and text requests.
    let images = [
        ImageRequest::new("a red circle")
            .options(ImageOptions::new().steps(4).text_length(16).seed(3)),
        ImageRequest::new("two blue squares on grass")
            .options(ImageOptions::new().steps(6).text_length(16).seed(5)),
    ];
    let mut alone_images = Vec::new();
    let mut decodings = Vec::new();
    let mut layouts = Vec::new();
    for req in &images {
        alone_images.push(engine.text_to_image(req).unwrap());
        let (d, layout) = engine.text_to_image_decoding(req).unwrap();
        decodings.push(d);
        layouts.push(layout);
    }
    let text = GenerateRequest::new(Prompt::Ids(vec![5, 6, 7]))
        .options(DecodeOptions::new().gen_length(8).steps(8).block_length(4));
    let alone_text = engine.generate(&text).unwrap();
    decodings.push(engine.generate_decoding(&text).unwrap());
    let (together, forwards) = together(&engine, decodings);
    for (i, (layout, image)) in layouts.iter().zip(&alone_images).enumerate() {
        let batched = layout.response(&together[i], 0.0);
        assert_eq!(batched.codes, image.codes, "image {i}: codes");
        assert_eq!(batched.stats.nfe, image.stats.nfe, "image {i}: NFE");
    }
    assert_eq!(
        together[2].generated(0),
        alone_text.outputs[0].ids.as_slice()
    );
    let passes = 4 + 6 + alone_text.stats.nfe;
    assert!(forwards < passes, "{forwards} forwards for {passes} passes");
}
