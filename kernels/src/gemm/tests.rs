//! The GEMM against a naive `f64`-accumulated triple loop, on both kernels.

use super::*;

/// `x · Wᵀ + bias` with `f64` accumulation: the reference every kernel is held to.
fn reference(x: &[f32], m: usize, w: &[f32], n: usize, k: usize, bias: Option<&[f32]>) -> Vec<f32> {
    let mut out = vec![0.0; m * n];
    for i in 0..m {
        for j in 0..n {
            let dot: f64 = (0..k)
                .map(|kk| f64::from(x[i * k + kk]) * f64::from(w[j * k + kk]))
                .sum();
            out[i * n + j] = (dot + bias.map_or(0.0, |b| f64::from(b[j]))) as f32;
        }
    }
    out
}

/// Deterministic values in [-1, 1) (a small LCG; no rand dependency).
fn values(len: usize, seed: u64) -> Vec<f32> {
    let mut s = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    (0..len)
        .map(|_| {
            s = s
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((s >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
        })
        .collect()
}

/// The kernels this CPU can run.
fn isas() -> Vec<Isa> {
    let mut isas = vec![Isa::Portable];
    #[cfg(target_arch = "x86_64")]
    if avx2::available() {
        isas.push(Isa::Avx2Fma);
    }
    isas
}

fn check_shape(isa: Isa, m: usize, n: usize, k: usize, with_bias: bool) {
    let x = values(m * k, (m * 31 + k) as u64);
    let w = values(n * k, (n * 17 + k) as u64);
    let bias = with_bias.then(|| values(n, n as u64 + 5));
    let packed = PackedWeights::from_rows(&w, n, k).unwrap();
    let mut out = vec![f32::NAN; m * n];
    matmul_with(isa, &x, m, &packed, bias.as_deref(), &mut out).unwrap();
    let want = reference(&x, m, &w, n, k, bias.as_deref());
    // |error| ≤ tol · (Σ|x·w| + |bias|), the natural scale of a float dot product.
    let tol = 1e-5 * (k as f32).sqrt().max(1.0);
    for i in 0..m {
        for j in 0..n {
            let scale: f32 = (0..k)
                .map(|kk| (x[i * k + kk] * w[j * k + kk]).abs())
                .sum::<f32>()
                + bias.as_ref().map_or(0.0, |b| b[j].abs());
            let (got, exp) = (out[i * n + j], want[i * n + j]);
            assert!(
                (got - exp).abs() <= tol * scale.max(1e-30),
                "{isa:?} m={m} n={n} k={k} bias={with_bias}: [{i},{j}] = {got}, want {exp}"
            );
        }
    }
}

#[test]
fn matches_reference_on_edge_sizes() {
    let sizes = [1, 2, 5, 6, 7, 13, 16, 17, 33];
    for isa in isas() {
        for &m in &[1, 5, 6, 7, 13, 25] {
            for &n in &sizes {
                for &k in &[1, 3, 16, 257] {
                    check_shape(isa, m, n, k, (m + n + k) % 2 == 0);
                }
            }
        }
    }
}

#[test]
fn matches_reference_across_blocks_and_threads() {
    // k spans several KC blocks and a ragged tail; m spans several row blocks; n several
    // column blocks with a ragged panel; k = 2048 takes the copied-activation path. Big
    // enough to take both threaded paths.
    for isa in isas() {
        for &(m, n, k) in &[
            (40, 300, 600),
            (1, 521, 256),
            (450, 37, 130),
            (1000, 20, 70),
            (13, 40, 2048),
        ] {
            check_shape(isa, m, n, k, true);
            check_shape(isa, m, n, k, false);
        }
    }
}

#[test]
fn empty_shapes_and_zero_k() {
    for isa in isas() {
        let w = PackedWeights::from_rows(&[], 3, 0).unwrap();
        let mut out = vec![f32::NAN; 6];
        matmul_with(isa, &[], 2, &w, Some(&[1.0, 2.0, 3.0]), &mut out).unwrap();
        assert_eq!(out, [1.0, 2.0, 3.0, 1.0, 2.0, 3.0]);
        matmul_with(isa, &[], 2, &w, None, &mut out).unwrap();
        assert_eq!(out, [0.0; 6]);

        let w = PackedWeights::from_rows(&values(12, 1), 3, 4).unwrap();
        matmul_with(isa, &[], 0, &w, None, &mut []).unwrap();
        let w = PackedWeights::from_rows(&[], 0, 4).unwrap();
        matmul_with(isa, &values(8, 2), 2, &w, Some(&[]), &mut []).unwrap();
    }
}

#[test]
fn bad_lengths_are_errors_not_panics() {
    let shape_err = |r: Result<(), KernelError>| match r {
        Err(KernelError::ShapeMismatch { operand, .. }) => operand,
        other => panic!("expected a shape error, got {other:?}"),
    };
    assert!(matches!(
        PackedWeights::from_rows(&[0.0; 5], 2, 3),
        Err(KernelError::ShapeMismatch {
            operand: "weight",
            expected: 6,
            actual: 5
        })
    ));
    assert!(matches!(
        PackedWeights::from_rows(&[0.0; 5], usize::MAX, 3),
        Err(KernelError::ShapeMismatch {
            expected: usize::MAX,
            ..
        })
    ));
    let w = PackedWeights::from_rows(&[0.0; 6], 2, 3).unwrap();
    let mut out = [7.0f32; 4];
    assert_eq!(
        shape_err(matmul_packed(&[0.0; 5], 2, &w, None, &mut out)),
        "x"
    );
    assert_eq!(
        shape_err(matmul_packed(&[0.0; 6], 2, &w, None, &mut out[..3])),
        "out"
    );
    assert_eq!(
        shape_err(matmul_packed(&[0.0; 6], 2, &w, Some(&[0.0]), &mut out)),
        "bias"
    );
    assert_eq!(
        shape_err(matmul_packed(&[0.0; 6], usize::MAX, &w, None, &mut out)),
        "x"
    );
    assert_eq!(out, [7.0; 4], "a rejected call writes nothing");
}

#[test]
fn single_thread_pool_gives_the_same_answer() {
    let (m, n, k) = (160, 96, 300);
    let x = values(m * k, 9);
    let w = PackedWeights::from_rows(&values(n * k, 10), n, k).unwrap();
    let mut two = vec![0.0; m * n];
    matmul_packed(&x, m, &w, None, &mut two).unwrap();
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .unwrap();
    let mut one = vec![0.0; m * n];
    pool.install(|| matmul_packed(&x, m, &w, None, &mut one))
        .unwrap();
    assert_eq!(
        one, two,
        "blocking, not threading, fixes the summation order"
    );
}
