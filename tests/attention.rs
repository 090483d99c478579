//! Attention structures: block-causal and causal logits against `transformers` (4-D masks
//! built from the same groups), the exact block cache against full recomputation, and the
//! LLaDA sampler with `--cache block` token for token against decoding without it.

mod common;

use common::{fixture, ids, max_diff, reference_mask, reference_tensors, with_attention};
use tessera::hybrid::llada::LladaOptions;
use tessera::hybrid::policy::Policy;
use tessera::hybrid::unmask::Unmask;
use tessera::hybrid::{
    Attention, CacheMode, DenoiseInput, Error, PromptBatch, SeededNoise, Span, llada,
};
use tessera_backbone::{Backbone, BackboneCache, ForwardError};

#[test]
fn structured_logits_match_transformers() {
    let model = Backbone::load(fixture("llada-tiny")).unwrap();
    let refs = reference_tensors("llada_structured_logits.safetensors");
    assert_eq!(
        ids(&refs["omni.groups"].unsqueeze(0).unwrap()).remove(0),
        tessera::hybrid::omni_groups(&[(6, false), (10, true), (8, false)]),
        "the fixture's omni layout is the one omni_groups builds"
    );
    for layout in ["block", "causal", "omni"] {
        let groups: Vec<u32> =
            ids(&refs[&format!("{layout}.groups")].unsqueeze(0).unwrap()).remove(0);
        for case in ["single", "batch"] {
            let input = ids(&refs[&format!("{case}.input_ids")]);
            let mask = reference_mask(&refs, case);
            let len = input[0].len();
            let tokens = input.concat();
            let positions: Vec<usize> = (0..len).collect();
            let ours = model
                .logits(
                    &DenoiseInput::new(&tokens, len, &positions)
                        .with_attention(mask.as_deref())
                        .with_groups(Some(&groups)),
                )
                .unwrap();
            let expected = refs[&format!("{layout}.{case}.logits")]
                .to_vec3::<f32>()
                .unwrap();
            for (r, row) in expected.iter().enumerate() {
                for (p, want) in row.iter().enumerate() {
                    let d = max_diff(ours.row(r, p), want);
                    assert!(d <= 1e-4, "{layout} {case} row {r} position {p}: {d}");
                }
            }
        }
    }
}

#[test]
fn the_block_cache_equals_recomputation_and_checks_its_preconditions() {
    let model = Backbone::load(fixture("llada-tiny")).unwrap();
    let len = 20;
    // Two rows, the first left-padded by 3; prompt 8, then blocks of 4.
    let mut tokens: Vec<u32> = (0..2 * len as u32).map(|i| (i * 37 + 11) % 290).collect();
    tokens[..3].fill(model.info().pad_id.unwrap());
    let attention: Vec<bool> = (0..2 * len).map(|i| i >= 3).collect();
    let groups = Attention::BlockCausal.groups(8, len, 4).unwrap();
    let all: Vec<usize> = (0..len).collect();
    let full = model
        .logits(
            &DenoiseInput::new(&tokens, len, &all)
                .with_attention(Some(&attention))
                .with_groups(Some(&groups)),
        )
        .unwrap();
    let mut cache = BackboneCache::default();
    // The first pass covers the prompt and block 1 and keeps the prompt; each later pass
    // recomputes the last finished block and the next, keeping the finished one.
    for (start, end, keep) in [(0, 12, 8), (8, 16, 12), (12, 16, 12), (12, 20, 16)] {
        let positions: Vec<usize> = (end - 4..end).collect();
        let step = model
            .logits_extend(
                &DenoiseInput::new(&tokens, len, &positions)
                    .with_attention(Some(&attention))
                    .with_groups(Some(&groups)),
                Span { start, end },
                keep,
                &mut cache,
            )
            .unwrap();
        for r in 0..2 {
            for (k, &p) in positions.iter().enumerate() {
                let d = max_diff(step.row(r, k), full.row(r, p));
                assert!(d < 1e-5, "span {start}..{end} row {r} position {p}: {d}");
            }
        }
    }
    let bad = |start, end, keep, groups: Option<&[u32]>, cache: &mut BackboneCache| {
        model.logits_extend(
            &DenoiseInput::new(&tokens, len, &[end - 1])
                .with_attention(Some(&attention))
                .with_groups(groups),
            Span { start, end },
            keep,
            cache,
        )
    };
    // A span that does not start where the cache ends, a boundary inside a block, and a
    // canvas without groups are typed errors.
    for (start, end, keep) in [(12, 20, 16), (16, 18, 16), (16, 20, 17)] {
        assert!(
            matches!(
                bad(start, end, keep, Some(&groups), &mut cache),
                Err(ForwardError::Input(_))
            ),
            "{start}..{end} keep {keep}"
        );
    }
    assert!(matches!(
        bad(16, 20, 16, None, &mut cache),
        Err(ForwardError::Input(_))
    ));
    // A place embedding makes a cached row depend on later rows: no block cache.
    let places = with_attention("llada-places", "block-causal");
    let places = Backbone::load(&places.0).unwrap();
    let err = places
        .logits_extend(
            &DenoiseInput::new(&tokens[..len], len, &[9]).with_groups(Some(&groups)),
            Span { start: 0, end: 12 },
            8,
            &mut BackboneCache::default(),
        )
        .unwrap_err();
    assert!(err.to_string().contains("place embedding"), "{err}");
    // Dream predicts shifted: no block cache.
    let dream = Backbone::load(fixture("dream-tiny")).unwrap();
    assert!(matches!(
        dream.logits_extend(
            &DenoiseInput::new(&tokens[..len], len, &[9]).with_groups(Some(&groups)),
            Span { start: 0, end: 12 },
            8,
            &mut BackboneCache::default(),
        ),
        Err(ForwardError::Input(_))
    ));
}

#[test]
fn block_cache_decoding_is_token_for_token_the_uncached_decoding() {
    let dir = with_attention("llada-tiny", "block-causal");
    let model = Backbone::load(&dir.0).unwrap();
    assert_eq!(model.info().attention, Attention::BlockCausal);
    let eos = model.info().eos_id;
    let prompts =
        PromptBatch::left_padded(vec![vec![5, 17, 40, 77, 102, 9], vec![33, 250, 61]], 295)
            .unwrap();
    let base = LladaOptions::new(model.info().mask_id)
        .gen_length(16)
        .steps(16)
        .block_length(4)
        .special_ids(eos, None);
    let cases = [
        ("count", base.clone()),
        ("fewer steps", base.clone().steps(8)),
        ("threshold", base.clone().unmask(Unmask::Threshold(0.3))),
        ("hybrid", base.clone().policy(Policy::Hybrid)),
        ("ar", base.clone().policy(Policy::Ar).block_length(1)),
        ("cfg", base.clone().cfg_scale(1.5)),
        ("sampled", base.clone().temperature(0.7)),
        ("until eos", base.clone().until_eos(true)),
    ];
    for (name, opts) in cases {
        let plain =
            llada::generate(&model, &prompts, &opts, &SeededNoise::new(9), &mut |_| {}).unwrap();
        let cached = llada::generate(
            &model,
            &prompts,
            &opts.clone().cache(CacheMode::Block),
            &SeededNoise::new(9),
            &mut |_| {},
        )
        .unwrap();
        for r in 0..2 {
            assert_eq!(plain.canvas(r), cached.canvas(r), "{name} row {r}");
        }
        assert_eq!(plain.nfe(), cached.nfe(), "{name}");
    }
    // A full-attention model refuses the block cache, naming the option.
    let full = Backbone::load(fixture("llada-tiny")).unwrap();
    assert!(matches!(
        llada::generate(
            &full,
            &prompts,
            &base.clone().cache(CacheMode::Block),
            &SeededNoise::new(9),
            &mut |_| {}
        ),
        Err(Error::InvalidOption {
            option: "cache",
            ..
        })
    ));
}
