//! The CUDA sampling kernel (`cuda/sample.cu`), compiled as C++ against `cuda/host_shim.h`
//! and run on the CPU, against [`sample_rows`] in the fast arithmetic — every draw, with
//! and without restriction, top-k and top-p: the same tokens, probabilities, margins and
//! entropies within `f32` rounding of the summation order.

use super::record::Record;
use super::*;

unsafe extern "C" {
    fn tessera_sample_rows_host(
        logits: *const f32,
        rows: u64,
        vocab: u64,
        lo: u32,
        hi: u32,
        temperature: f64,
        categorical: u32,
        top_k: u32,
        top_p: f32,
        noise: *const f64,
        out: *mut Record,
    );
}

fn run_kernel(logits: &[f32], vocab: usize, spec: &SampleSpec, noise: &[f64]) -> Vec<Record> {
    let rows = logits.len() / vocab;
    let allowed = spec.allowed.clone().unwrap_or(0..vocab);
    let mut out = vec![Record::default(); rows];
    // SAFETY: `logits` is rows × vocab, `noise` holds rows × allowed-length uniforms when the
    // temperature is positive (the kernel reads nothing else), `out` has one record per row.
    unsafe {
        tessera_sample_rows_host(
            logits.as_ptr(),
            rows as u64,
            vocab as u64,
            allowed.start as u32,
            allowed.end as u32,
            spec.temperature,
            u32::from(spec.draw == Draw::Categorical),
            spec.top_k.map_or(0, |k| k as u32),
            spec.top_p.unwrap_or(1.0),
            noise.as_ptr(),
            out.as_mut_ptr(),
        );
    }
    out
}

#[test]
fn the_cuda_kernel_samples_as_the_cpu_pass_does() {
    let mut rng = super::tests::Rng(5);
    let (rows, vocab) = (5, 3001);
    let mut logits = super::tests::random_rows(&mut rng, rows, vocab);
    // A tie for the max (the first index wins, margin 0) and a NaN (skipped by the maxima).
    logits[2 * vocab + 10] = 50.0;
    logits[2 * vocab + 900] = 50.0;
    logits[3 * vocab + 4] = f32::NAN;
    // Row 4: twenty copies of the max, so top-p's boundary and top-k's k-th fall inside a
    // run of equal values (the CPU keeps the lowest indices, top-k keeps every tie).
    for (i, v) in logits[4 * vocab..5 * vocab].iter_mut().enumerate() {
        *v = if i % 150 == 7 { 3.0 } else { -5.0 };
    }
    let mut checked = 0;
    // (temperature, draw, allowed, top_k, top_p): each draw with and without restriction
    // and filters (every block is 64 OS threads here, so the cases are chosen, not crossed).
    let cases = [
        (0.0, Draw::Gumbel, None, None, None),
        (0.0, Draw::Gumbel, Some(1000..1800), None, None),
        (0.0, Draw::Gumbel, Some(6..7), None, None),
        (0.0, Draw::Gumbel, Some(5..6), None, None),
        (0.0, Draw::Gumbel, None, Some(7), None),
        (0.0, Draw::Gumbel, None, None, Some(0.9)),
        (0.7, Draw::Gumbel, None, None, None),
        (0.7, Draw::Gumbel, Some(1000..1800), Some(40), Some(0.3)),
        (0.7, Draw::Categorical, None, None, None),
        (0.7, Draw::Categorical, Some(1000..1800), None, None),
        (0.7, Draw::Categorical, None, Some(7), None),
        (0.2, Draw::Categorical, None, None, Some(0.95)),
        (1.6, Draw::Categorical, None, Some(5000), Some(0.95)),
        (0.7, Draw::Gumbel, None, None, Some(0.43)),
        (0.7, Draw::Categorical, None, None, Some(0.43)),
        (0.0, Draw::Gumbel, None, Some(5), None),
    ];
    for (temperature, draw, allowed, top_k, top_p) in cases {
        let spec = SampleSpec {
            allowed: allowed.clone(),
            top_k,
            top_p,
            ..SampleSpec::new(temperature)
                .with_draw(draw)
                .with_arithmetic(Arithmetic::Fast)
        };
        let per_row = spec.noise_per_row(vocab);
        let u: Vec<f64> = (0..rows * per_row).map(|_| rng.uniform()).collect();
        let mut want = vec![Sampled::default(); rows];
        sample_rows(&logits, vocab, &spec, &u, &mut want).unwrap();
        let got = run_kernel(&logits, vocab, &spec, &u);
        for (r, (g, w)) in got.iter().zip(&want).enumerate() {
            let what = format!("row {r} T {temperature} {draw:?} {allowed:?} {top_k:?} {top_p:?}");
            if r == 3 && allowed.is_none() && (top_p.is_some() || top_k.is_some()) {
                // A filtered row holding a NaN is unspecified on the device (the CPU's
                // top-p drops the NaN, its top-k keeps it; the backbone rejects
                // non-finite logits before either samples).
                continue;
            }
            assert_eq!(g.token, w.token, "{what} {g:?} {w:?}");
            if w.prob.is_nan() {
                // A NaN logit (row 3) or a lone -inf (ids 5..6 of row 0) poisons both
                // sides' sums.
                assert!(g.prob.is_nan(), "{what}");
                continue;
            }
            super::tests::close(g.prob, w.prob, &format!("prob {what}"));
            super::tests::close(g.margin, w.margin, &format!("margin {what}"));
            super::tests::close(g.entropy, w.entropy, &format!("entropy {what}"));
            checked += 1;
        }
    }
    assert_eq!(
        run_kernel(&logits, vocab, &SampleSpec::new(0.0), &[])[2].margin,
        0.0
    );
    assert!(checked >= 65);
}
