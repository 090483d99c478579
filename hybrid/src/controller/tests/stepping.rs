//! Stepping a [`Decoding`] by hand, over a spread of requests that covers every phase (the
//! spread also feeds the driver's tests).

use super::super::options::ControllerOptions;
use crate::controller::decoding::Decoding;
use crate::controller::generate;
use crate::policy::Policy;
use crate::remask::Remask;
use crate::testing::{EosAfter, Ramp, Structured, prompt};
use crate::unmask::Unmask;
use crate::{CacheMode, Denoiser, Error, Logits, PromptBatch, SeededNoise};

/// A spread of requests over every phase of the controller, for the test doubles: each with
/// the model it runs on (by name) and its prompts.
pub(crate) fn spread() -> Vec<(&'static str, PromptBatch, ControllerOptions)> {
    use crate::length::insert::Insertion;
    let p = prompt();
    let two = PromptBatch::left_padded(vec![vec![1, 2, 3], vec![4, 5]], 0).unwrap();
    let base = ControllerOptions::new(11).gen_length(8).steps(8);
    vec![
        ("ramp", p.clone(), base.clone().block_length(4)),
        ("ramp", two.clone(), base.clone().policy(Policy::Ar)),
        (
            "ramp",
            p.clone(),
            base.clone()
                .policy(Policy::Diffusion)
                .steps(4)
                .temperature(0.7),
        ),
        (
            "ramp",
            two.clone(),
            base.clone()
                .block_length(4)
                .policy(Policy::Hybrid)
                .cache(CacheMode::Dual),
        ),
        (
            "ramp",
            p.clone(),
            base.clone()
                .block_length(4)
                .unmask(Unmask::Threshold(0.5))
                .cache(CacheMode::Prefix),
        ),
        (
            "ramp",
            p.clone(),
            base.clone().remask(Remask::RemdmCap { eta: 1.0 }),
        ),
        (
            "ramp",
            two.clone(),
            base.clone().block_length(4).remask(Remask::Rcr),
        ),
        (
            "ramp",
            p.clone(),
            base.clone().cfg_scale(1.5).temperature(0.3),
        ),
        (
            "majority",
            p.clone(),
            ControllerOptions::new(11)
                .gen_length(6)
                .steps(1)
                .remask(Remask::recheck(3, 2, 0.5)),
        ),
        (
            "majority",
            p.clone(),
            ControllerOptions::new(11)
                .gen_length(6)
                .steps(2)
                .remask(Remask::Refine {
                    rounds: 2,
                    fraction: 0.5,
                    keep: 1.0,
                }),
        ),
        (
            "eos",
            p.clone(),
            base.clone()
                .gen_length(4)
                .steps(4)
                .block_length(4)
                .special_ids(Some(3), None)
                .expand(true, Some(32)),
        ),
        (
            "eos",
            p.clone(),
            base.clone().special_ids(Some(3), None).until_eos(true),
        ),
        (
            "room",
            PromptBatch::left_padded(vec![vec![1, 7], vec![1, 10]], 0).unwrap(),
            ControllerOptions::new(11)
                .gen_length(4)
                .steps(4)
                .block_length(4)
                .policy(Policy::Hybrid)
                .unmask(Unmask::Threshold(0.9))
                .special_ids(Some(3), None)
                .insert(Some(Insertion::default()))
                .max_length(Some(32)),
        ),
        (
            "structured",
            two.clone(),
            base.clone()
                .gen_length(12)
                .steps(12)
                .block_length(4)
                .temperature(0.5)
                .cache(CacheMode::Block),
        ),
        (
            "structured",
            two,
            base.gen_length(12)
                .steps(6)
                .block_length(4)
                .temperature(0.5),
        ),
    ]
}

/// The test double a [`spread`] entry runs on.
pub(crate) fn run_on<T>(
    name: &str,
    f: impl FnOnce(&dyn Denoiser<Cache = crate::testing::SeenTokens>) -> T,
) -> T {
    use crate::testing::{Majority, NeedsRoom};
    // One cache type for all: the doubles without a cache are wrapped.
    #[derive(Debug)]
    struct Uncached<M>(M);
    impl<M: Denoiser<Cache = ()>> Denoiser for Uncached<M> {
        type Cache = crate::testing::SeenTokens;
        fn logits_width(&self) -> usize {
            self.0.logits_width()
        }
        fn denoise(&self, input: &crate::DenoiseInput<'_>) -> Result<Logits, crate::DenoiseError> {
            self.0.denoise(input)
        }
        fn denoise_and_cache(
            &self,
            input: &crate::DenoiseInput<'_>,
        ) -> Result<(Logits, Self::Cache), crate::DenoiseError> {
            Ok((self.0.denoise(input)?, Default::default()))
        }
        fn denoise_span(
            &self,
            input: &crate::DenoiseInput<'_>,
            _: crate::Span,
            _: &Self::Cache,
        ) -> Result<Logits, crate::DenoiseError> {
            self.0.denoise(input)
        }
    }
    match name {
        "ramp" => f(&Uncached(Ramp)),
        "majority" => f(&Uncached(Majority { prompt: 2 })),
        "eos" => f(&Uncached(EosAfter { at: 6 })),
        "room" => f(&Uncached(NeedsRoom { prompt: 2 })),
        _ => f(&Structured {
            attention: crate::Attention::BlockCausal,
        }),
    }
}

#[test]
fn stepping_by_hand_gives_what_generate_gives_events_included() {
    for (i, (model, prompts, opts)) in spread().into_iter().enumerate() {
        run_on(model, |m| {
            let noise = SeededNoise::new(7);
            let mut looped = Vec::new();
            let expected = generate(m, &prompts, &opts, &noise, &mut |s| looped.push(s)).unwrap();
            let mut decoding = Decoding::new(m, &prompts, &opts, &noise).unwrap();
            let mut stepped = Vec::new();
            let mut passes = 0;
            while let Some(pass) = decoding.next_pass().unwrap() {
                assert!(pass.input.rows() >= prompts.rows());
                let raw = decoding.forward(m).unwrap();
                decoding.advance(raw).unwrap();
                passes += 1;
                stepped.extend(decoding.take_events());
            }
            stepped.extend(decoding.take_events());
            // Handing logits to a decoding that asked for none is refused by name.
            assert!(matches!(
                decoding.advance(Logits::filled(1, 1, 12, 0.0)),
                Err(Error::OutOfOrder(_))
            ));
            let got = decoding.finish().unwrap();
            assert_eq!(got, expected, "request {i} ({model})");
            assert_eq!(stepped, looped, "request {i} ({model}): events");
            assert!(passes <= got.nfe(), "request {i}: passes {passes}");
        });
    }
}

#[test]
fn an_unfinished_decoding_cannot_be_finished() {
    let opts = ControllerOptions::new(11).gen_length(4).steps(4);
    let noise = SeededNoise::new(1);
    let mut d = Decoding::new(&Ramp, &prompt(), &opts, &noise).unwrap();
    assert!(d.next_pass().unwrap().is_some());
    assert!(matches!(d.finish(), Err(Error::OutOfOrder(_))));
}
