//! Cached forwards: a span pass over an unchanged canvas equals the full pass; the LLaDA
//! sampler with Fast-dLLM's prefix and dual caches.

mod common;

use common::{fixture, max_diff};
use tessera::hybrid::llada::LladaOptions;
use tessera::hybrid::{CacheMode, DenoiseInput, PromptBatch, SeededNoise, Span, llada};
use tessera_backbone::Backbone;

#[test]
fn a_span_pass_over_an_unchanged_canvas_equals_the_full_pass() {
    for name in ["llada-tiny", "dream-tiny"] {
        let model = Backbone::load(fixture(name)).unwrap();
        // Two rows, the first left-padded, so padding and (for Dream) shifted positions count.
        let len = 24;
        let mut tokens: Vec<u32> = (0..2 * len as u32).map(|i| (i * 37 + 11) % 290).collect();
        tokens[..3].fill(model.info().pad_id.unwrap());
        let attention: Vec<bool> = (0..2 * len).map(|i| i >= 3).collect();
        let all: Vec<usize> = (0..len).collect();
        let (full, cache) = model
            .logits_and_cache(
                &DenoiseInput::new(&tokens, len, &all).with_attention(Some(&attention)),
            )
            .unwrap();
        for (start, end) in [(8, 16), (8, 24), (0, 24), (23, 24)] {
            let positions: Vec<usize> = (start..end).collect();
            let span = model
                .logits_span(
                    &DenoiseInput::new(&tokens, len, &positions).with_attention(Some(&attention)),
                    Span { start, end },
                    &cache,
                )
                .unwrap();
            for r in 0..2 {
                for (k, &p) in positions.iter().enumerate() {
                    if r == 0 && p < 4 {
                        continue; // padded rows (and Dream's first real token, fed by a pad)
                    }
                    let d = max_diff(span.row(r, k), full.row(r, p));
                    assert!(
                        d < 1e-4,
                        "{name} span {start}..{end} row {r} position {p}: {d}"
                    );
                }
            }
        }
        // Positions outside the span, or a cache of another shape, are typed errors.
        assert!(
            model
                .logits_span(
                    &DenoiseInput::new(&tokens, len, &[2]).with_attention(Some(&attention)),
                    Span { start: 8, end: 16 },
                    &cache
                )
                .is_err()
        );
        assert!(
            model
                .logits_span(
                    &DenoiseInput::new(&tokens[..len], len, &[9]),
                    Span { start: 8, end: 16 },
                    &cache
                )
                .is_err()
        );
    }
}

#[test]
fn caches_are_exact_when_each_block_takes_one_step_and_close_otherwise() {
    let model = Backbone::load(fixture("llada-tiny")).unwrap();
    let batch =
        PromptBatch::left_padded(vec![common::llada_case("t0_g16_s16_b16").0], 295).unwrap();
    let run = |steps, cache| {
        let opts = LladaOptions::new(299)
            .gen_length(16)
            .steps(steps)
            .block_length(8)
            .cache(cache);
        llada::generate(&model, &batch, &opts, &SeededNoise::new(0), &mut |_| {}).unwrap()
    };
    // One step per block: only the block's first (full) pass runs, so the caches are exact.
    for cache in [CacheMode::Prefix, CacheMode::Dual] {
        assert_eq!(run(2, cache), run(2, CacheMode::None), "{cache}");
    }
    // Many steps per block: approximate; every position is still decoded, with the same NFE.
    let exact = run(16, CacheMode::None);
    for cache in [CacheMode::Prefix, CacheMode::Dual] {
        let approx = run(16, cache);
        assert_eq!(approx.nfe(), exact.nfe());
        assert!(approx.generated(0).iter().all(|&t| t != 299));
        let same = approx
            .generated(0)
            .iter()
            .zip(exact.generated(0))
            .filter(|(a, b)| a == b)
            .count();
        eprintln!("{cache}: {same}/16 tokens equal to full recomputation");
    }
}

#[test]
fn block_cache_is_refused_for_full_attention_models() {
    let model = Backbone::load(fixture("llada-tiny")).unwrap();
    let batch = PromptBatch::left_padded(vec![vec![1, 2, 3]], 295).unwrap();
    let opts = LladaOptions::new(299)
        .gen_length(8)
        .steps(8)
        .cache(CacheMode::Block);
    let err =
        llada::generate(&model, &batch, &opts, &SeededNoise::new(0), &mut |_| {}).unwrap_err();
    assert!(err.to_string().contains("cache"), "{err}");
}

#[test]
fn dream_under_the_controller_caches_exactly_and_decodes_by_threshold() {
    use tessera::hybrid::dream::{DreamAlg, DreamOptions};
    use tessera::hybrid::policy::Policy;
    use tessera::hybrid::unmask::{Schedule, Unmask};
    let model = Backbone::load(fixture("dream-tiny")).unwrap();
    let info = model.info().clone();
    let pad = info.pad_id.unwrap();
    let batch = PromptBatch::left_padded(vec![vec![5, 6, 7, 8, 9], vec![10, 11]], pad).unwrap();
    // The Dream preset (categorical draw, timesteps schedule, its algorithms) under blocks.
    let preset = |alg| {
        DreamOptions::new(info.mask_id)
            .gen_length(16)
            .steps(2)
            .alg(alg)
            .controller()
            .policy(Policy::Block)
            .block_length(8)
    };
    let run = |opts: &tessera::hybrid::ControllerOptions| {
        tessera::hybrid::controller::generate(
            &model,
            &batch,
            opts,
            &SeededNoise::new(3),
            &mut |_| {},
        )
        .unwrap()
    };
    // One step per block: only the block's first (full) pass runs, so caches are exact.
    for alg in [DreamAlg::Origin, DreamAlg::Entropy] {
        let full = run(&preset(alg));
        for cache in [CacheMode::Prefix, CacheMode::Dual] {
            assert_eq!(run(&preset(alg).cache(cache)), full, "{alg:?} {cache}");
        }
    }
    // Threshold decoding under the preset runs, decodes every position and reports its NFE.
    for cache in [CacheMode::None, CacheMode::Dual] {
        let opts = preset(DreamAlg::MaskgitPlus)
            .steps(16)
            .unmask(Unmask::Threshold(0.3))
            .schedule(Schedule::Linear)
            .cache(cache);
        let out = run(&opts);
        for r in 0..2 {
            assert!(out.generated(r).iter().all(|&t| t != info.mask_id));
        }
        assert!(
            (2..=16).contains(&out.nfe()),
            "{cache}: nfe {} outside 2..=16",
            out.nfe()
        );
        eprintln!("dream threshold 0.3, cache {cache}: nfe {}", out.nfe());
    }
}
