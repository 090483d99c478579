//! Parallel unmask rules in the LLaDA block sampler, end to end on the LLaDA fixture.

mod common;

use common::{fixture, llada_case};
use tessera::{DecodeOptions, Engine, GenerateRequest, Prompt, Schedule, Unmask};

fn run(engine: &Engine, prompt: &[u32], options: DecodeOptions) -> tessera::Response {
    engine
        .generate(&GenerateRequest::new(Prompt::Ids(prompt.to_vec())).options(options))
        .unwrap()
}

#[test]
fn strict_rules_reduce_to_the_reference_one_token_per_step() {
    // gen 16, steps 16, one block: the reference commits the single most confident token per
    // step. Threshold 1.0 keeps only the best (nothing else reaches 1.0), so it must
    // reproduce the reference token for token. (A tiny factor does not: Fast-dLLM's loop
    // commits both of the last two candidates when only the last one fails.)
    let engine = Engine::load(fixture("llada-tiny")).unwrap();
    let (prompt, expected) = llada_case("t0_g16_s16_b16");
    for rule in [Unmask::Count, Unmask::Threshold(1.0)] {
        let out = run(
            &engine,
            &prompt,
            DecodeOptions::new()
                .gen_length(16)
                .steps(16)
                .block_length(16)
                .unmask(rule),
        );
        assert_eq!(out.outputs[0].ids, expected, "{rule}");
        assert_eq!(out.stats.nfe, 16, "{rule}");
        assert_eq!(out.stats.tokens_per_forward, 1.0);
    }
}

#[test]
fn looser_rules_take_fewer_forward_passes_and_fill_every_position() {
    let engine = Engine::load(fixture("llada-tiny")).unwrap();
    let (prompt, _) = llada_case("t0_g16_s16_b16");
    let mask = engine.info().mask_id;
    let strict = run(
        &engine,
        &prompt,
        DecodeOptions::new()
            .gen_length(16)
            .steps(16)
            .block_length(8),
    );
    for rule in [
        Unmask::Threshold(0.3),
        Unmask::Factor(4.0),
        Unmask::EntropyBound(2.0),
    ] {
        let out = run(
            &engine,
            &prompt,
            DecodeOptions::new()
                .gen_length(16)
                .steps(16)
                .block_length(8)
                .unmask(rule),
        );
        assert!(
            out.outputs[0].ids.iter().all(|&t| t != mask),
            "{rule} left a mask"
        );
        assert!(
            out.stats.nfe < strict.stats.nfe,
            "{rule}: {} forwards",
            out.stats.nfe
        );
        assert!(out.stats.tokens_per_forward > 1.0);
    }
    // A permissive threshold decodes each 8-token block in very few passes.
    let fast = run(
        &engine,
        &prompt,
        DecodeOptions::new()
            .gen_length(16)
            .steps(16)
            .block_length(8)
            .unmask(Unmask::Threshold(0.01)),
    );
    assert!(fast.stats.nfe <= 4, "{} forwards", fast.stats.nfe);
}

#[test]
fn cosine_schedule_follows_maskgit_counts() {
    let engine = Engine::load(fixture("llada-tiny")).unwrap();
    let (prompt, _) = llada_case("t0_g16_s16_b16");
    let mut committed = Vec::new();
    let req = GenerateRequest::new(Prompt::Ids(prompt)).options(
        DecodeOptions::new()
            .gen_length(16)
            .steps(8)
            .block_length(16)
            .schedule(Schedule::Cosine),
    );
    let out = engine
        .generate_with_progress(&req, &mut |s| committed.push(s.committed))
        .unwrap();
    assert_eq!(committed, vec![1, 1, 1, 2, 3, 2, 3, 3]);
    assert!(
        out.outputs[0]
            .ids
            .iter()
            .all(|&t| t != engine.info().mask_id)
    );
}
