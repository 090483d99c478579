//! The decoding path's scorer against the kernels' fused sampling pass
//! ([`tessera_kernels::sample_rows`], the CPU twin `kernels/cuda/sample.cu` is tested
//! against): the same rows, options and draws give the same tokens and confidences. With this
//! the CUDA kernel is tied to what the controller actually does on the CPU, not only to its
//! own twin.
//!
//! Exact where both follow the reference bit for bit (the token; the probability, summed in
//! index order in `f32` by both); the margin and the entropy within a stated tolerance (the
//! pass takes the entropy from the normaliser's running sums, the scorer from the
//! probabilities). Outside the pass, and so not compared: LLaDA's EOS/EoT quirks
//! (`logits_eos_inf`, `confidence_eos_eot_inf`), Dream's `alg_temp` and random remasking —
//! a device step with any of them set would score on the host.

use tessera_kernels::{Arithmetic, SampleSpec, Sampled, sample_rows};

use super::{Draw, Remasking, ScoreOptions, Scorer};
use crate::{NoiseKey, NoisePurpose, NoiseSource, SeededNoise};

/// Rows of `vocab` logits on a coarse grid (so ties occur), a few of them `-∞`.
fn rows(n: usize, vocab: usize, seed: u64) -> Vec<f32> {
    let mut s = seed;
    (0..n * vocab)
        .map(|_| {
            s = s
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            let u = (s >> 40) as u32 % 97;
            if u == 0 {
                f32::NEG_INFINITY
            } else {
                (u as f32 - 48.0) * 0.125
            }
        })
        .collect()
}

fn options(temperature: f64, draw: Draw, remasking: Remasking) -> ScoreOptions {
    ScoreOptions {
        temperature,
        top_p: None,
        top_k: None,
        remasking,
        logits_eos_inf: false,
        confidence_eos_eot_inf: false,
        eos_id: None,
        eot_id: None,
        draw,
        alg_temp: None,
    }
}

/// The key the scorer draws row `r`'s noise at (purpose set by the draw).
fn key(r: usize, purpose: NoisePurpose) -> NoiseKey {
    NoiseKey {
        purpose,
        step: 3,
        row: r as u32,
        position: 7 + r as u32,
    }
}

/// One configuration: every row through the scorer and through the pass.
fn compare(o: ScoreOptions, allowed: Option<std::ops::Range<usize>>, vocab: usize, seed: u64) {
    let n = 24;
    let logits = rows(n, vocab, seed);
    let noise = SeededNoise::new(seed);
    let range = allowed.clone().unwrap_or(0..vocab);
    let mut spec = SampleSpec::new(o.temperature)
        .with_draw(match o.draw {
            Draw::Gumbel => tessera_kernels::Draw::Gumbel,
            Draw::Categorical => tessera_kernels::Draw::Categorical,
        })
        .with_arithmetic(Arithmetic::Reference);
    if let Some(k) = o.top_k {
        spec = spec.with_top_k(k);
    }
    if let Some(p) = o.top_p {
        spec = spec.with_top_p(p as f32);
    }
    if let Some(r) = allowed.clone() {
        spec = spec.with_allowed(r);
    }
    // The draws the scorer makes for each row, laid out as the pass takes them.
    let per_row = spec.noise_per_row(vocab);
    let purpose = match o.draw {
        Draw::Gumbel => NoisePurpose::Gumbel,
        Draw::Categorical => NoisePurpose::Categorical,
    };
    let mut u = vec![0.0; n * per_row];
    for r in 0..n {
        noise
            .fill(key(r, purpose), &mut u[r * per_row..][..per_row])
            .unwrap();
    }
    let mut out = vec![Sampled::default(); n];
    sample_rows(&logits, vocab, &spec, &u, &mut out).unwrap();
    let mut scorer = Scorer::new(o, vocab);
    for (r, pass) in out.iter().enumerate() {
        let row = &logits[r * vocab..][range.clone()];
        let (token, conf) = scorer
            .score(
                row,
                range.start as u32,
                key(r, NoisePurpose::Gumbel),
                &noise,
            )
            .unwrap();
        let what = format!("{o:?} allowed {allowed:?} row {r}");
        assert_eq!(token, pass.token, "token: {what}");
        match o.remasking {
            Remasking::LowConfidence => {
                assert_eq!(conf, f64::from(pass.prob), "probability: {what}");
            }
            Remasking::Margin => {
                assert!(
                    (conf - f64::from(pass.margin)).abs() < 1e-6,
                    "margin: {what}"
                );
            }
            Remasking::Entropy => {
                assert!(
                    (conf + f64::from(pass.entropy)).abs() < 1e-4,
                    "entropy: {what}"
                );
            }
            Remasking::Random => unreachable!("a random score is not the pass's"),
        }
    }
}

#[test]
fn scorer_and_sampling_pass_agree_on_every_draw_filter_and_confidence() {
    let vocab = 301;
    let mut seed = 1;
    for draw in [Draw::Gumbel, Draw::Categorical] {
        for temperature in [0.0, 0.7, 1.3] {
            for remasking in [
                Remasking::LowConfidence,
                Remasking::Margin,
                Remasking::Entropy,
            ] {
                for (top_p, top_k) in [
                    (None, None),
                    (Some(0.9), None),
                    (None, Some(5)),
                    (Some(0.9), Some(3)),
                ] {
                    for allowed in [None, Some(10..200)] {
                        let o = ScoreOptions {
                            top_p,
                            top_k,
                            ..options(temperature, draw, remasking)
                        };
                        compare(o, allowed, vocab, seed);
                        seed += 1;
                    }
                }
            }
        }
    }
}
