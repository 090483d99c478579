//! The controller's behaviour through its blocking loop (options, policies, segments, caches,
//! remasking, length strategies).

use super::*;
use crate::SeededNoise;
use crate::Segment;
use crate::policy::Policy;
use crate::remask::Remask;
use crate::score::Remasking;
use crate::testing::{EosAfter, Ramp, Structured, prompt};
use crate::unmask::Unmask;
use crate::{CacheMode, Denoiser, Error, Generation, Logits, PromptBatch};

#[test]
fn margin_and_entropy_scores_and_filters() {
    // Two positions: position 2 has a clear winner, position 3 a near tie between two
    // tokens; margin and entropy both commit position 2 first.
    #[derive(Debug)]
    struct TwoRows;
    impl Denoiser for TwoRows {
        crate::testing::exact_cache!();
        fn logits_width(&self) -> usize {
            4
        }
        fn denoise(&self, input: &crate::DenoiseInput<'_>) -> Result<Logits, crate::DenoiseError> {
            let mut l = Logits::filled(1, input.positions.len(), 4, 0.0);
            for (k, &p) in input.positions.iter().enumerate() {
                let row = l.row_mut(0, k);
                if p == 2 {
                    row.copy_from_slice(&[0.0, 3.0, 0.0, -9.0]);
                } else {
                    row.copy_from_slice(&[2.0, 2.1, 1.9, -9.0]);
                }
            }
            Ok(l)
        }
    }
    for scoring in [
        Remasking::Margin,
        Remasking::Entropy,
        Remasking::LowConfidence,
    ] {
        let opts = ControllerOptions::new(3)
            .gen_length(2)
            .steps(2)
            .remasking(scoring);
        let mut first = Vec::new();
        generate(&TwoRows, &prompt(), &opts, &SeededNoise::new(1), &mut |s| {
            first.extend(s.tokens.iter().map(|t| t.position))
        })
        .unwrap();
        assert_eq!(first, vec![2, 3], "{scoring:?}");
    }
    // top-k 1 leaves one token: sampling at any temperature picks it, with certainty.
    let opts = ControllerOptions::new(3)
        .gen_length(2)
        .steps(2)
        .temperature(5.0)
        .top_k(Some(1));
    let mut confidences = Vec::new();
    let out = generate(&TwoRows, &prompt(), &opts, &SeededNoise::new(4), &mut |s| {
        confidences.extend(s.tokens.iter().map(|t| t.confidence))
    })
    .unwrap();
    assert_eq!(out.generated(0), &[1, 1]);
    assert!(confidences.iter().all(|&c| c == 1.0));
    let bad = ControllerOptions::new(3)
        .gen_length(2)
        .steps(2)
        .top_p(Some(0.0));
    assert!(matches!(
        generate(&TwoRows, &prompt(), &bad, &SeededNoise::new(4), &mut |_| {}),
        Err(Error::InvalidOption {
            option: "top-p",
            ..
        })
    ));
}

#[test]
fn segments_decode_in_order_each_with_its_policy() {
    let opts = ControllerOptions::new(11).segments(vec![
        Segment::new(3, Policy::Ar),
        Segment::new(8, Policy::Diffusion).steps(4),
        Segment::new(4, Policy::Block).block_length(2),
    ]);
    assert_eq!((opts.gen_length, opts.steps), (15, 11));
    let mut steps = Vec::new();
    let out = generate(&Ramp, &prompt(), &opts, &SeededNoise::new(1), &mut |s| {
        steps.push(s.tokens.iter().map(|t| t.position).collect::<Vec<_>>())
    })
    .unwrap();
    assert_eq!(out.nfe(), 3 + 4 + 4);
    // AR: one token per step, left to right (the prompt is 2 long).
    assert_eq!(steps[..3], [vec![2], vec![3], vec![4]]);
    // Diffusion: 8 positions in 4 steps of 2, most confident (rightmost for Ramp) first.
    assert!(steps[3..7].iter().all(|s| s.len() == 2));
    let mut diffused: Vec<usize> = steps[3..7].concat();
    diffused.sort_unstable();
    assert_eq!(diffused, (5..13).collect::<Vec<_>>());
    assert_eq!(steps[3], vec![12, 11]);
    // Block: two blocks of 2, two steps each.
    assert_eq!(steps[7..], [vec![14], vec![13], vec![16], vec![15]]);
    // One segment is the plain sampler.
    let one = ControllerOptions::new(11).segments(vec![Segment::new(4, Policy::Block).steps(4)]);
    let plain = ControllerOptions::new(11).gen_length(4).steps(4);
    let run = |o: &ControllerOptions| {
        generate(&Ramp, &prompt(), o, &SeededNoise::new(1), &mut |_| {}).unwrap()
    };
    assert_eq!(run(&one), run(&plain));
}

#[test]
fn a_segment_vocabulary_restricts_what_its_positions_become() {
    // Ramp wants token p % 10 at position p; the second segment may only use ids 3..6.
    let opts = ControllerOptions::new(11)
        .segments(vec![
            Segment::new(4, Policy::Diffusion),
            Segment::new(6, Policy::Diffusion).vocab(3..6),
        ])
        .temperature(0.8);
    let out = generate(&Ramp, &prompt(), &opts, &SeededNoise::new(2), &mut |_| {}).unwrap();
    let generated = out.generated(0);
    assert!(
        generated[4..].iter().all(|t| (3..6).contains(t)),
        "{generated:?}"
    );
    // Position 8 wants 8 (outside): the greedy choice inside 3..6 is the first maximum.
    let greedy =
        ControllerOptions::new(11).segments(vec![Segment::new(8, Policy::Diffusion).vocab(3..6)]);
    let out = generate(&Ramp, &prompt(), &greedy, &SeededNoise::new(2), &mut |_| {}).unwrap();
    assert_eq!(out.generated(0), &[3, 3, 4, 5, 3, 3, 3, 3]);
    let empty = ControllerOptions::new(11).segments(vec![Segment::new(4, Policy::Ar).vocab(5..40)]);
    assert!(matches!(
        generate(&Ramp, &prompt(), &empty, &SeededNoise::new(2), &mut |_| {}),
        Err(Error::InvalidOption {
            option: "segments",
            ..
        })
    ));
}

#[test]
fn segment_errors_say_which_segment() {
    let run =
        |o: ControllerOptions| generate(&Ramp, &prompt(), &o, &SeededNoise::new(1), &mut |_| {});
    let bad = ControllerOptions::new(11).segments(vec![
        Segment::new(4, Policy::Ar),
        Segment::new(6, Policy::Block).block_length(4),
    ]);
    match run(bad) {
        Err(Error::InvalidOption { option, reason }) => {
            assert_eq!(option, "block-length");
            assert!(reason.contains("segment 2"), "{reason}");
        }
        other => panic!("{other:?}"),
    }
    let mismatch = ControllerOptions::new(11)
        .segments(vec![Segment::new(4, Policy::Ar)])
        .gen_length(8);
    assert!(matches!(
        run(mismatch),
        Err(Error::InvalidOption {
            option: "segments",
            ..
        })
    ));
}

#[test]
fn segments_keep_the_block_cache_exact() {
    let prompts = PromptBatch::left_padded(vec![vec![1, 2, 3], vec![4, 5]], 0).unwrap();
    let model = Structured {
        attention: crate::Attention::BlockCausal,
    };
    let opts = ControllerOptions::new(11)
        .segments(vec![
            Segment::new(3, Policy::Ar),
            Segment::new(6, Policy::Block).steps(4).block_length(3),
            Segment::new(4, Policy::Diffusion).steps(2),
        ])
        .temperature(0.5);
    let run = |o: &ControllerOptions| {
        generate(&model, &prompts, o, &SeededNoise::new(3), &mut |_| {}).unwrap()
    };
    assert_eq!(run(&opts), run(&opts.clone().cache(CacheMode::Block)));
}

#[test]
fn remdm_events_account_for_every_revision() {
    let opts = ControllerOptions::new(11)
        .gen_length(8)
        .steps(8)
        .block_length(8)
        .remask(Remask::RemdmCap { eta: 1.0 });
    let mut remasked = 0;
    let out = generate(&Ramp, &prompt(), &opts, &SeededNoise::new(5), &mut |s| {
        remasked += s.remasked.len()
    })
    .unwrap();
    assert!(out.revised() > 0);
    assert_eq!(remasked, out.revised());
    // Ramp predicts the same token wherever it is asked: revisions re-decode it.
    let plain = generate(
        &Ramp,
        &prompt(),
        &opts.clone().remask(Remask::None),
        &SeededNoise::new(5),
        &mut |_| {},
    )
    .unwrap();
    assert_eq!(out.generated(0), plain.generated(0));
    assert_eq!(out.nfe(), 8);
}

#[test]
fn refinement_of_an_infilling_revises_only_the_blanks() {
    use crate::testing::Majority;
    let model = Majority { prompt: 2 };
    // Five blanks and a given 7: decoded at once, the blanks follow the given token.
    let batch = prompt().with_template(vec![11, 11, 11, 11, 11, 7]).unwrap();
    let run = |remask| {
        let opts = ControllerOptions::new(11)
            .gen_length(6)
            .steps(1)
            .remask(remask);
        generate(&model, &batch, &opts, &SeededNoise::new(0), &mut |_| {}).unwrap()
    };
    assert_eq!(run(Remask::None).generated(0), [7; 6]);
    // Re-masking "all of the answer" is all of the blanks: the given 7 stays visible, so
    // the blanks come back as 7 (re-masking it too would give `5 4 4 4 4 4`).
    let refined = run(Remask::Refine {
        rounds: 1,
        fraction: 1.0,
        keep: 1.0,
    });
    assert_eq!(refined.generated(0), [7; 6]);
    assert_eq!((refined.revised(), refined.nfe()), (0, 2));
    // Rechecking scores and re-predicts only the blanks too (every blank's support is below
    // 1): one pass, two scoring passes, one re-prediction.
    let rechecked = run(Remask::Recheck {
        rounds: 1,
        groups: 2,
        below: 1.0,
        keep: 1.0,
    });
    assert_eq!(rechecked.generated(0), [7; 6]);
    assert_eq!((rechecked.revised(), rechecked.nfe()), (0, 4));
}

#[test]
fn recheck_re_predicts_what_the_finished_answer_contradicts() {
    use crate::testing::Majority;
    let model = Majority { prompt: 2 };
    // All six answer tokens in one step: `5 4 4 4 4 4`, the 5 disagreeing with the rest.
    let plain_opts = ControllerOptions::new(11).gen_length(6).steps(1);
    let run = |opts: &ControllerOptions| {
        let mut events = Vec::new();
        let out = generate(&model, &prompt(), opts, &SeededNoise::new(0), &mut |s| {
            events.push((s.tokens.len(), s.remasked.len()))
        })
        .unwrap();
        (out, events)
    };
    let (plain, _) = run(&plain_opts);
    assert_eq!(plain.generated(0), [5, 4, 4, 4, 4, 4]);
    assert_eq!(plain.nfe(), 1);
    let recheck = Remask::recheck(3, 2, 0.5);
    let (fixed, events) = run(&plain_opts.clone().remask(recheck));
    assert_eq!(fixed.generated(0), [4; 6]);
    assert_eq!(fixed.revised(), 1);
    // Round 1: two scoring passes and one re-prediction of the one unsupported token;
    // round 2: two scoring passes find nothing, and round 3 is never run.
    assert_eq!(fixed.nfe(), 1 + 3 + 2);
    assert_eq!(events, [(6, 0), (1, 1)]);
    // A consistent answer is left alone and costs only the scoring.
    let (kept, events) = run(&ControllerOptions::new(11)
        .gen_length(6)
        .steps(6)
        .remask(recheck));
    assert_eq!(kept.generated(0), [5; 6]);
    assert_eq!((kept.revised(), kept.nfe(), events.len()), (0, 6 + 2, 6));
    // More groups than answer tokens: the empty ones are skipped together, counters saturate.
    let (kept, _) = run(&ControllerOptions::new(11)
        .gen_length(6)
        .steps(6)
        .remask(Remask::recheck(3, usize::MAX, 0.5)));
    assert_eq!(kept.generated(0), [5; 6]);
    assert_eq!(kept.nfe(), usize::MAX);
    // Bad parameters are refused by name.
    for bad in [
        "recheck:1:0",
        "recheck:1:4:0",
        "recheck:1:4:1.5",
        "recheck:x",
    ] {
        let err = Remask::parse(bad).unwrap_err();
        assert!(err.to_string().contains("remask"), "{bad}: {err}");
    }
    assert_eq!(
        Remask::parse("recheck:2").unwrap(),
        Remask::recheck(2, 4, 0.5)
    );
    assert_eq!(recheck.to_string(), "recheck:3:2:0.5");
    // A token committed with confidence KEEP or more is never re-predicted: the 5 was
    // committed at e³/(e³ + 11) ≈ 0.646, so with KEEP 0.6 the answer stands after the one
    // scoring round, and no re-prediction is spent.
    let spare = Remask::Recheck {
        rounds: 3,
        groups: 2,
        below: 0.5,
        keep: 0.6,
    };
    let (spared, events) = run(&plain_opts.clone().remask(spare));
    assert_eq!(spared.generated(0), [5, 4, 4, 4, 4, 4]);
    assert_eq!((spared.revised(), spared.nfe()), (0, 1 + 2));
    assert_eq!(events, [(6, 0)]);
}

#[test]
fn refine_spares_sure_tokens_and_spends_nothing_when_all_are() {
    use crate::testing::Majority;
    let model = Majority { prompt: 2 };
    let opts = ControllerOptions::new(11).gen_length(6).steps(1);
    let run = |remask| {
        generate(
            &model,
            &prompt(),
            &opts.clone().remask(remask),
            &SeededNoise::new(0),
            &mut |_| {},
        )
        .unwrap()
    };
    // Every token was committed at ≈ 0.646: at KEEP 0.6 nothing is re-masked, no pass spent.
    let sure = run(Remask::Refine {
        rounds: 2,
        fraction: 0.5,
        keep: 0.6,
    });
    assert_eq!((sure.nfe(), sure.revised()), (1, 0));
    // KEEP 1 spares none: both rounds re-mask half of the answer, and the 5 is outvoted.
    let all = run(Remask::Refine {
        rounds: 2,
        fraction: 0.5,
        keep: 1.0,
    });
    assert_eq!(all.nfe(), 3);
    assert_eq!(all.generated(0), [4; 6]);
}

#[test]
fn block_cache_decodes_exactly_as_recomputation() {
    let prompts = PromptBatch::left_padded(vec![vec![1, 2, 3], vec![4, 5]], 0).unwrap();
    for attention in [crate::Attention::BlockCausal, crate::Attention::Causal] {
        let model = Structured { attention };
        for (steps, unmask, policy) in [
            (12, Unmask::Count, Policy::Block),
            (6, Unmask::Count, Policy::Block),
            (12, Unmask::Threshold(0.5), Policy::Block),
            (12, Unmask::Count, Policy::Hybrid),
        ] {
            let base = ControllerOptions::new(11)
                .gen_length(12)
                .steps(steps)
                .block_length(4)
                .unmask(unmask)
                .policy(policy)
                .temperature(0.5);
            let run = |o: &ControllerOptions| {
                generate(&model, &prompts, o, &SeededNoise::new(3), &mut |_| {}).unwrap()
            };
            let plain = run(&base);
            let cached = run(&base.clone().cache(CacheMode::Block));
            assert_eq!(plain.tokens, cached.tokens, "{attention} {steps} {unmask}");
            assert_eq!(plain.nfe(), cached.nfe());
            // A stale cache (extended but never refreshed) would differ: the prefix
            // cache under block-causal attention is exact too.
            let prefix = run(&base.clone().cache(CacheMode::Prefix));
            assert_eq!(plain.tokens, prefix.tokens);
        }
    }
    // Full-attention models refuse the block cache by name.
    let opts = ControllerOptions::new(11)
        .gen_length(4)
        .steps(4)
        .cache(CacheMode::Block);
    assert!(matches!(
        generate(&Ramp, &prompt(), &opts, &SeededNoise::new(1), &mut |_| {}),
        Err(Error::InvalidOption {
            option: "cache",
            ..
        })
    ));
}

#[test]
fn commits_most_confident_first_block_by_block() {
    let mut order = Vec::new();
    let opts = ControllerOptions::new(11)
        .gen_length(4)
        .steps(4)
        .block_length(2);
    let out = generate(&Ramp, &prompt(), &opts, &SeededNoise::new(1), &mut |s| {
        order.push(s.committed)
    })
    .unwrap();
    assert_eq!(out.generated(0), &[2, 3, 4, 5]);
    assert_eq!(order, vec![1, 1, 1, 1]);
    assert_eq!(out.nfe(), 4);
}

#[test]
fn rejects_bad_options_by_name() {
    let run =
        |o: ControllerOptions| generate(&Ramp, &prompt(), &o, &SeededNoise::new(1), &mut |_| {});
    let named = |r: Result<Generation, Error>| match r {
        Err(Error::InvalidOption { option, .. }) => option,
        other => panic!("expected an option error, got {other:?}"),
    };
    assert_eq!(
        named(run(ControllerOptions::new(11)
            .gen_length(6)
            .block_length(4))),
        "block-length"
    );
    assert_eq!(
        named(run(ControllerOptions::new(11)
            .gen_length(4)
            .block_length(2)
            .steps(3))),
        "steps"
    );
    assert_eq!(
        named(run(ControllerOptions::new(11)
            .gen_length(4)
            .steps(4)
            .temperature(-1.0))),
        "temperature"
    );
    assert_eq!(
        named(run(ControllerOptions::new(11)
            .gen_length(4)
            .steps(4)
            .logits_eos_inf(true))),
        "logits-eos-inf"
    );
    assert_eq!(
        named(run(ControllerOptions::new(40).gen_length(4).steps(4))),
        "mask-id"
    );
    let bad = PromptBatch::left_padded(vec![vec![1, 99]], 0).unwrap();
    assert!(matches!(
        generate(
            &Ramp,
            &bad,
            &ControllerOptions::new(11).gen_length(4).steps(4),
            &SeededNoise::new(1),
            &mut |_| {}
        ),
        Err(Error::InvalidPrompt(_))
    ));
}

#[test]
fn eos_options_keep_eos_out() {
    // Ramp predicts token p % 10; positions 2..6 → tokens 2..5; make 3 the EOS.
    let opts = ControllerOptions::new(11)
        .gen_length(4)
        .steps(4)
        .special_ids(Some(3), Some(4))
        .logits_eos_inf(true);
    let out = generate(&Ramp, &prompt(), &opts, &SeededNoise::new(1), &mut |_| {}).unwrap();
    assert!(!out.generated(0).contains(&3));
}

#[test]
fn until_eos_stops_once_eos_and_everything_before_it_are_decided() {
    // Prompt [1, 2]; positions 2, 3 get token 5, EOS from position 4 on.
    let opts = ControllerOptions::new(11)
        .gen_length(8)
        .steps(8)
        .special_ids(Some(3), None);
    let full = generate(
        &EosAfter { at: 4 },
        &prompt(),
        &opts,
        &SeededNoise::new(1),
        &mut |_| {},
    )
    .unwrap();
    assert_eq!(full.nfe(), 8);
    let early = generate(
        &EosAfter { at: 4 },
        &prompt(),
        &opts.clone().until_eos(true),
        &SeededNoise::new(1),
        &mut |_| {},
    )
    .unwrap();
    assert_eq!(early.generated(0), &[5, 5, 3, 3, 3, 3, 3, 3]);
    assert_eq!(early.nfe(), 3, "two content tokens, then the first EOS");
    assert_eq!(early.generated(0), full.generated(0));
}

#[test]
fn expansion_grows_by_blocks_until_eos_is_expected() {
    // Prompt [1, 2]; EOS is predicted from position 6 on. Start with 4 tokens (positions
    // 2..5, no EOS in sight), grow one block of 4: positions 6..9 expect EOS → stop.
    let opts = ControllerOptions::new(11)
        .gen_length(4)
        .steps(4)
        .block_length(4)
        .special_ids(Some(3), None)
        .expand(true, Some(32));
    let out = generate(
        &EosAfter { at: 6 },
        &prompt(),
        &opts,
        &SeededNoise::new(1),
        &mut |_| {},
    )
    .unwrap();
    assert_eq!(out.generated(0), &[5, 5, 5, 5, 3, 3, 3, 3]);
    assert_eq!(out.nfe(), 2 + 8, "two probes, then 4 steps per block");
    // The hard maximum wins.
    let capped = opts.clone().expand(true, Some(4));
    let out = generate(
        &EosAfter { at: 6 },
        &prompt(),
        &capped,
        &SeededNoise::new(1),
        &mut |_| {},
    )
    .unwrap();
    assert_eq!(out.generated(0).len(), 4);
    let named = |o: ControllerOptions| match o.validate() {
        Err(Error::InvalidOption { option, .. }) => option,
        other => panic!("expected an option error, got {other:?}"),
    };
    assert_eq!(named(opts.clone().expand(true, Some(2))), "max-length");
    assert_eq!(named(opts.clone().expand(false, Some(8))), "max-length");
    assert_eq!(named(opts.clone().special_ids(None, None)), "expand");
    assert_eq!(named(opts.policy(Policy::Diffusion)), "expand");
}

#[test]
fn insertion_grows_each_row_where_the_model_lacks_room() {
    use crate::length::insert::Insertion;
    use crate::testing::NeedsRoom;
    // Prompts end with the answer length each row wants (7 and 10); both start with 4.
    let prompts = PromptBatch::left_padded(vec![vec![1, 7], vec![1, 10]], 0).unwrap();
    let opts = ControllerOptions::new(11)
        .gen_length(4)
        .steps(4)
        .block_length(4)
        .policy(Policy::Hybrid)
        .unmask(Unmask::Threshold(0.9))
        .special_ids(Some(3), None)
        .insert(Some(Insertion::default()))
        .max_length(Some(32));
    let mut committed = 0;
    let out = generate(
        &NeedsRoom { prompt: 2 },
        &prompts,
        &opts,
        &SeededNoise::new(1),
        &mut |s| committed += s.committed,
    )
    .unwrap();
    // Each step inserts a mask at the unsure position until the row has its room; the
    // shorter row ends with EOS padding.
    assert_eq!(out.generated(0), &[5, 5, 5, 5, 5, 5, 5, 3, 3, 3]);
    assert_eq!(out.generated(1), &[5; 10]);
    assert_eq!(committed, 7 + 10, "every token is committed once");
    assert_eq!(out.nfe(), 7, "six insertions, then the last step");
    // The hard maximum wins: the row stops growing at 6 and commits its unsure position.
    let capped = generate(
        &NeedsRoom { prompt: 2 },
        &prompts,
        &opts.clone().max_length(Some(6)),
        &SeededNoise::new(1),
        &mut |_| {},
    )
    .unwrap();
    assert_eq!(capped.generated(1).len(), 6);
    assert_eq!(&capped.generated(1)[1..], &[5; 5]);
    // Without insertion the same request keeps its 4 tokens.
    let fixed = generate(
        &NeedsRoom { prompt: 2 },
        &prompts,
        &opts.clone().insert(None).max_length(None),
        &SeededNoise::new(1),
        &mut |_| {},
    )
    .unwrap();
    assert_eq!(fixed.generated(0).len(), 4);
    let named = |o: ControllerOptions| match o.validate() {
        Err(Error::InvalidOption { option, .. }) => option,
        other => panic!("expected an option error, got {other:?}"),
    };
    assert_eq!(named(opts.clone().unmask(Unmask::Count)), "insert");
    assert_eq!(
        named(opts.clone().policy(Policy::Diffusion).block_length(4)),
        "insert"
    );
    assert_eq!(named(opts.clone().cache(CacheMode::Dual)), "cache");
    assert_eq!(named(opts.clone().special_ids(None, None)), "insert");
    assert_eq!(named(opts.clone().until_eos(true)), "until-eos");
    assert_eq!(
        named(opts.clone().insert(Some(Insertion {
            factor: 1,
            ..Insertion::default()
        }))),
        "insert"
    );
}

#[test]
fn policies_set_the_order_and_refuse_contradictions() {
    let run =
        |o: ControllerOptions| generate(&Ramp, &prompt(), &o, &SeededNoise::new(1), &mut |_| {});
    // AR: one token per step, left to right, whatever the confidences.
    let mut order = Vec::new();
    let ar = ControllerOptions::new(11)
        .gen_length(4)
        .steps(4)
        .policy(Policy::Ar);
    generate(&Ramp, &prompt(), &ar, &SeededNoise::new(1), &mut |s| {
        order.push(s.committed)
    })
    .unwrap();
    assert_eq!(order, vec![1, 1, 1, 1]);
    let named = |r: Result<Generation, Error>| match r {
        Err(Error::InvalidOption { option, .. }) => option,
        other => panic!("expected an option error, got {other:?}"),
    };
    assert_eq!(named(run(ar.clone().steps(2))), "steps");
    assert_eq!(named(run(ar.clone().block_length(2))), "block-length");
    assert_eq!(
        named(run(ar.clone().unmask(Unmask::Threshold(0.5)))),
        "unmask"
    );
    assert_eq!(named(run(ar.remask(Remask::Rcr))), "remask");
    let diffusion = ControllerOptions::new(11)
        .gen_length(4)
        .steps(4)
        .policy(Policy::Diffusion);
    assert_eq!(named(run(diffusion.block_length(2))), "block-length");
    let hybrid = ControllerOptions::new(11)
        .gen_length(4)
        .steps(4)
        .policy(Policy::Hybrid);
    assert_eq!(
        named(run(hybrid.clone().unmask(Unmask::Factor(1.0)))),
        "unmask"
    );
    assert!(run(hybrid).unwrap().generated(0).iter().all(|&t| t != 11));
    assert_eq!(
        named(run(ControllerOptions::new(11)
            .gen_length(4)
            .steps(4)
            .until_eos(true))),
        "until-eos"
    );
}

#[test]
fn seeded_sampling_is_reproducible() {
    let opts = ControllerOptions::new(11)
        .gen_length(4)
        .steps(4)
        .temperature(1.0);
    let a = generate(&Ramp, &prompt(), &opts, &SeededNoise::new(5), &mut |_| {}).unwrap();
    let b = generate(&Ramp, &prompt(), &opts, &SeededNoise::new(5), &mut |_| {}).unwrap();
    assert_eq!(a, b);
}

mod stepping;
pub(crate) use stepping::{run_on, spread};
