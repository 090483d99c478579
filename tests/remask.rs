//! Remasking in the LLaDA block sampler on the LLaDA fixture: running-confidence remasking
//! and the refinement budget.

mod common;

use common::fixture;
use tessera::{DecodeOptions, Engine, Error, GenerateRequest, Prompt, Remask, Unmask};

fn run(engine: &Engine, remask: Remask) -> Result<tessera::Response, Error> {
    let prompt = vec![281, 259, 68, 64, 276, 269, 72, 67, 68, 13];
    engine.generate(
        &GenerateRequest::new(Prompt::Ids(prompt)).options(
            DecodeOptions::new()
                .gen_length(16)
                .steps(16)
                .block_length(8)
                .remask(remask),
        ),
    )
}

#[test]
fn refinement_spends_its_budget_and_reports_revisions() {
    let engine = Engine::load(fixture("llada-tiny")).unwrap();
    let mask = engine.info().mask_id;
    let plain = run(&engine, Remask::None).unwrap();
    assert_eq!(plain.stats.revised, 0);
    // Zero rounds is the plain sampler.
    let zero = run(
        &engine,
        Remask::Refine {
            rounds: 0,
            fraction: 0.5,
            keep: 1.0,
        },
    )
    .unwrap();
    assert_eq!(zero.outputs, plain.outputs);
    for rounds in [1, 3] {
        let out = run(
            &engine,
            Remask::Refine {
                rounds,
                fraction: 0.25,
                keep: 1.0,
            },
        )
        .unwrap();
        assert_eq!(out.stats.nfe, plain.stats.nfe + rounds);
        assert!(
            out.stats.revised <= rounds * 4,
            "at most 4 of 16 re-predicted per round"
        );
        assert!(out.outputs[0].ids.iter().all(|&t| t != mask));
    }
    // Re-predicting everything with the full answer visible revises at least one token here.
    let all = run(
        &engine,
        Remask::Refine {
            rounds: 2,
            fraction: 1.0,
            keep: 1.0,
        },
    )
    .unwrap();
    assert!(all.stats.revised > 0);
}

#[test]
fn running_confidence_remasking_decodes_every_position() {
    let engine = Engine::load(fixture("llada-tiny")).unwrap();
    let plain = run(&engine, Remask::None).unwrap();
    let rcr = run(&engine, Remask::Rcr).unwrap();
    assert_eq!(rcr.stats.nfe, plain.stats.nfe);
    assert!(
        rcr.outputs[0]
            .ids
            .iter()
            .all(|&t| t != engine.info().mask_id)
    );
    // RCR with a confidence-driven unmask rule is contradictory and refused by name.
    let err = engine
        .generate(
            &GenerateRequest::new(Prompt::Ids(vec![1, 2])).options(
                DecodeOptions::new()
                    .gen_length(8)
                    .steps(8)
                    .remask(Remask::Rcr)
                    .unmask(Unmask::Threshold(0.9)),
            ),
        )
        .unwrap_err();
    assert!(err.to_string().contains("remask"), "{err}");
}

#[test]
fn remdm_schedules_revise_and_still_finish_every_block() {
    let engine = Engine::load(fixture("llada-tiny")).unwrap();
    let mask = engine.info().mask_id;
    let plain = run(&engine, Remask::None).unwrap();
    // A vanishing η never remasks: ReMDM's targets are LLaDA's schedule.
    let still = run(&engine, Remask::RemdmCap { eta: 1e-12 }).unwrap();
    assert_eq!(still.outputs, plain.outputs);
    assert_eq!(still.stats.revised, 0);
    for rule in [
        Remask::RemdmCap { eta: 1.0 },
        Remask::RemdmRescale { eta: 1.0 },
        Remask::RemdmConf,
        Remask::RemdmLoop { eta: 1.0 },
    ] {
        let out = run(&engine, rule).unwrap();
        assert_eq!(out.stats.nfe, plain.stats.nfe, "{rule}");
        assert!(out.outputs[0].ids.iter().all(|&t| t != mask), "{rule}");
        if !matches!(rule, Remask::RemdmConf) {
            assert!(out.stats.revised > 0, "{rule} revised nothing");
        }
    }
    // Contradictions are refused by name.
    for (opts, option) in [
        (
            DecodeOptions::new()
                .gen_length(8)
                .steps(8)
                .remask(Remask::RemdmConf)
                .unmask(Unmask::Threshold(0.9)),
            "remask",
        ),
        (
            DecodeOptions::new()
                .gen_length(8)
                .steps(8)
                .remask(Remask::RemdmLoop { eta: 0.02 })
                .policy(tessera::Policy::Ar),
            "remask",
        ),
    ] {
        let err = engine
            .generate(&GenerateRequest::new(Prompt::Ids(vec![1, 2])).options(opts))
            .unwrap_err();
        assert!(err.to_string().contains(option), "{err}");
    }
}
