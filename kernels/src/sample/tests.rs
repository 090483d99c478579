//! [`sample_rows`] against a plain reference that materialises, sorts and filters the
//! softmax row the way the reference samplers do.

use super::*;
use crate::{row_stats, softmax_into, top2};

/// SplitMix64: uniforms in (0, 1) and normal-ish logits for the tests.
pub(super) struct Rng(pub(super) u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    pub(super) fn uniform(&mut self) -> f64 {
        ((self.next() >> 11) as f64 + 0.5) / (1u64 << 53) as f64
    }
    fn logit(&mut self, scale: f64) -> f32 {
        let (a, b) = (self.uniform(), self.uniform());
        ((-2.0 * a.ln()).sqrt() * (std::f64::consts::TAU * b).cos() * scale) as f32
    }
}

/// The reference pipeline on one row: restrict, temper, top-p, top-k (as Dream's
/// `top_p_logits` / `top_k_logits`), softmax, draw. Returns the local token and the probs.
fn reference(row: &[f32], spec: &SampleSpec, u: &[f64]) -> (usize, Vec<f32>) {
    let row = &row[spec.allowed.clone().unwrap_or(0..row.len())];
    let mut l = row.to_vec();
    let tempered = spec.draw == Draw::Categorical && spec.temperature > 0.0;
    if tempered {
        let t = spec.temperature as f32;
        l.iter_mut().for_each(|v| *v /= t);
    }
    if let Some(p) = spec.top_p.filter(|&p| p < 1.0) {
        let mut order: Vec<usize> = (0..l.len()).collect();
        order.sort_by(|&a, &b| l[b].total_cmp(&l[a]));
        let sorted: Vec<f32> = order.iter().map(|&i| l[i]).collect();
        let mut sp = vec![0.0; sorted.len()];
        softmax_into(&sorted, &mut sp);
        let (mut cum, mut remove) = (0.0f64, false);
        for (r, &i) in order.iter().enumerate() {
            if r > 0 && remove {
                l[i] = f32::MIN;
            }
            cum += f64::from(sp[r]);
            remove = (cum as f32) > p;
        }
    }
    if let Some(k) = spec.top_k {
        let k = k.min(l.len());
        let mut buf = l.clone();
        let (_, kth, _) = buf.select_nth_unstable_by(k - 1, |a, b| b.total_cmp(a));
        let kth = *kth;
        l.iter_mut()
            .filter(|v| **v < kth)
            .for_each(|v| *v = f32::MIN);
    }
    let mut probs = vec![0.0; l.len()];
    let stats = softmax_into(&l, &mut probs);
    let token = if spec.temperature == 0.0 {
        stats.argmax
    } else if spec.draw == Draw::Gumbel {
        crate::gumbel_argmax(&l, u, spec.temperature)
    } else {
        let (mut acc, mut last) = (0.0f64, 0);
        let mut pick = None;
        for (i, &p) in probs.iter().enumerate() {
            if p > 0.0 {
                last = i;
                acc += f64::from(p);
                if u[0] < acc {
                    pick = Some(i);
                    break;
                }
            }
        }
        pick.unwrap_or(last)
    };
    (token, probs)
}

fn entropy_of(p: &[f32]) -> f32 {
    let h: f64 = p
        .iter()
        .filter(|&&q| q > 0.0)
        .map(|&q| -f64::from(q) * f64::from(q).ln())
        .sum();
    h as f32
}

pub(super) fn close(a: f32, b: f32, what: &str) {
    close_to(a, b, 1e-5, what);
}

fn close_to(a: f32, b: f32, rel: f32, what: &str) {
    let tol = rel * a.abs().max(b.abs()).max(1e-3);
    assert!((a - b).abs() <= tol, "{what}: {a} vs {b}");
}

pub(super) fn random_rows(rng: &mut Rng, rows: usize, vocab: usize) -> Vec<f32> {
    (0..rows * vocab)
        .map(|i| {
            let scale = [0.5, 2.0, 6.0][(i / vocab) % 3];
            if i % 97 == 5 {
                f32::NEG_INFINITY
            } else {
                rng.logit(scale)
            }
        })
        .collect()
}

#[test]
fn default_is_row_stats_bit_for_bit() {
    let mut rng = Rng(7);
    let vocab = 5003;
    let logits = random_rows(&mut rng, 9, vocab);
    for allowed in [None, Some(100..4000)] {
        let spec = SampleSpec {
            allowed: allowed.clone(),
            ..SampleSpec::new(0.0)
        };
        let mut out = vec![Sampled::default(); 9];
        sample_rows(&logits, vocab, &spec, &[], &mut out).unwrap();
        for (o, row) in out.iter().zip(logits.chunks(vocab)) {
            let row = &row[allowed.clone().unwrap_or(0..vocab)];
            let s = row_stats(row);
            let start = allowed.as_ref().map_or(0, |r| r.start);
            assert_eq!(o.token as usize, s.argmax + start);
            assert_eq!(o.prob.to_bits(), s.prob(row[s.argmax]).to_bits());
            let mut p = vec![0.0; row.len()];
            softmax_into(row, &mut p);
            let ((_, p1), (_, p2)) = top2(&p);
            assert_eq!(o.margin.to_bits(), (p1 - p2).to_bits());
            // The entropy of the probabilities as computed; `crate::entropy` moves its
            // log-normaliser by the f32 sum's rounding (≈3e-5 relative here).
            close(o.entropy, entropy_of(&p), "entropy");
            close_to(o.entropy, crate::entropy(row), 1e-4, "entropy");
        }
    }
}

#[test]
fn every_combination_matches_the_plain_reference() {
    let mut rng = Rng(42);
    let (rows, vocab) = (12, 3001);
    let logits = random_rows(&mut rng, rows, vocab);
    let mut checked = 0;
    let mut fast_token_misses = 0;
    for arithmetic in [Arithmetic::Reference, Arithmetic::Fast] {
        for draw in [Draw::Gumbel, Draw::Categorical] {
            for temperature in [0.0, 0.7, 1.3] {
                for top_k in [None, Some(1), Some(7), Some(400), Some(5000)] {
                    for top_p in [None, Some(0.3), Some(0.9), Some(1.0)] {
                        for allowed in [None, Some(1000..1800)] {
                            let spec = SampleSpec {
                                temperature,
                                top_k,
                                top_p,
                                allowed,
                                draw,
                                arithmetic,
                            };
                            let per_row = spec.noise_per_row(vocab);
                            let u: Vec<f64> = (0..rows * per_row).map(|_| rng.uniform()).collect();
                            let mut out = vec![Sampled::default(); rows];
                            sample_rows(&logits, vocab, &spec, &u, &mut out).unwrap();
                            for (r, o) in out.iter().enumerate() {
                                let row = &logits[r * vocab..][..vocab];
                                let ur = &u[r * per_row..][..per_row];
                                let (t, p) = reference(row, &spec, ur);
                                let t = t + spec.allowed.as_ref().map_or(0, |a| a.start);
                                let what = format!("{spec:?} row {r}");
                                if arithmetic == Arithmetic::Fast && o.token as usize != t {
                                    fast_token_misses += 1;
                                    continue;
                                }
                                assert_eq!(o.token as usize, t, "{what}");
                                let local = t - spec.allowed.as_ref().map_or(0, |a| a.start);
                                close(o.prob, p[local], &format!("prob {what}"));
                                if arithmetic == Arithmetic::Reference {
                                    assert_eq!(o.prob.to_bits(), p[local].to_bits(), "{what}");
                                }
                                let ((_, p1), (_, p2)) = top2(&p);
                                close(o.margin, p1 - p2, &format!("margin {what}"));
                                close(o.entropy, entropy_of(&p), &format!("entropy {what}"));
                                checked += 1;
                            }
                        }
                    }
                }
            }
        }
    }
    assert!(
        fast_token_misses <= 2,
        "{fast_token_misses} fast draws differ"
    );
    assert!(checked > 5000);
}

#[test]
fn edges() {
    let mut out = [Sampled::default()];
    sample_rows(&[3.5], 1, &SampleSpec::new(0.0), &[], &mut out).unwrap();
    assert_eq!((out[0].token, out[0].prob, out[0].margin), (0, 1.0, 0.0));
    assert_eq!(out[0].entropy, 0.0);
    // Ties: the first maximum wins and the margin is 0.
    sample_rows(&[1.0, 4.0, 4.0], 3, &SampleSpec::new(0.0), &[], &mut out).unwrap();
    assert_eq!((out[0].token, out[0].margin), (1, 0.0));
    // -inf entries never win, even under noise.
    let spec = SampleSpec::new(1.0);
    sample_rows(
        &[f32::NEG_INFINITY, -5.0],
        2,
        &spec,
        &[0.999, 0.001],
        &mut out,
    )
    .unwrap();
    assert_eq!(out[0].token, 1);
    // A restriction picks inside the range and reports full-vocabulary ids.
    let spec = SampleSpec::new(0.0).with_allowed(2..4);
    sample_rows(&[9.0, 8.0, 1.0, 2.0, 7.0], 5, &spec, &[], &mut out).unwrap();
    assert_eq!(out[0].token, 3);
    // No rows is fine.
    sample_rows(&[], 5, &SampleSpec::new(0.0), &[], &mut []).unwrap();
}

#[test]
fn bad_arguments_name_the_field() {
    let logits = [0.0f32; 8];
    let mut out = [Sampled::default(); 2];
    let err = |spec: SampleSpec, vocab: usize, noise: &[f64], out: &mut [Sampled]| match sample_rows(
        &logits, vocab, &spec, noise, out,
    ) {
        Err(KernelError::Shape(m)) => m,
        other => panic!("{other:?}"),
    };
    let g = SampleSpec::new(0.0);
    assert!(err(g.clone(), 0, &[], &mut out).starts_with("vocab"));
    assert!(err(g.clone(), 3, &[], &mut out).starts_with("logits"));
    assert!(err(g.clone(), 4, &[], &mut out[..1]).starts_with("logits"));
    assert!(err(g.clone().with_top_k(0), 4, &[], &mut out).starts_with("top_k"));
    for p in [0.0, -0.5, 1.5, f32::NAN] {
        assert!(err(g.clone().with_top_p(p), 4, &[], &mut out).starts_with("top_p"));
    }
    for r in [2..2, 3..5, 5..6] {
        assert!(err(g.clone().with_allowed(r), 4, &[], &mut out).starts_with("allowed"));
    }
    for t in [-1.0, f64::NAN, f64::INFINITY] {
        assert!(err(SampleSpec::new(t), 4, &[], &mut out).starts_with("temperature"));
    }
    assert!(err(SampleSpec::new(1.0), 4, &[0.5; 7], &mut out).starts_with("noise"));
    let cat = SampleSpec::new(1.0).with_draw(Draw::Categorical);
    assert!(err(cat, 4, &[0.5; 1], &mut out).starts_with("noise"));
}

#[test]
#[cfg(target_arch = "x86_64")]
fn vector_sweeps_match_the_plain_fast_sweep() {
    let mut rng = Rng(11);
    // Lengths around the block and vector sizes, rows with -inf, a NaN and a late maximum.
    for len in [1, 7, 8, 17, 2047, 2048, 2049, 5003, 3 * BLOCK + 5] {
        let mut row = random_rows(&mut rng, 3, len);
        row[len - 1] = 40.0;
        if len > 3 {
            row[len + 2] = f32::NAN;
        }
        for x in row.chunks(len) {
            for t in [1.0f32, 0.7] {
                let plain = sweep::<true>(x, |v| v / t);
                let mut got = vec![];
                if is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma") {
                    // SAFETY: checked just above.
                    got.push(unsafe { simd::sweep_avx2(x, t, t != 1.0) });
                }
                if is_x86_feature_detected!("avx512f") {
                    // SAFETY: checked just above.
                    got.push(unsafe { simd::sweep_avx512(x, t, t != 1.0) });
                }
                for g in got {
                    let what = format!("len {len} t {t}");
                    assert_eq!(g.max.to_bits(), plain.max.to_bits(), "{what}");
                    assert_eq!(g.argmax, plain.argmax, "{what}");
                    assert_eq!(g.second.to_bits(), plain.second.to_bits(), "{what}");
                    if plain.sum.is_nan() {
                        assert!(g.sum.is_nan(), "{what}");
                        continue;
                    }
                    close_to(g.sum, plain.sum, 2e-6, &what);
                    let (a, b) = (g.tsum / g.sum as f64, plain.tsum / plain.sum as f64);
                    assert!(
                        (a - b).abs() <= 1e-5 * b.abs().max(1.0),
                        "{what}: {a} vs {b}"
                    );
                }
            }
        }
    }
}
