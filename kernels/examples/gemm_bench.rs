//! GFLOP/s of [`matmul_packed`] against candle's CPU matmul on the linear-layer shapes of
//! Tessera's backbones, in the same run, plus this machine's FMA peak for scale.
//!
//! ```text
//! cargo run --release -p tessera-kernels --example gemm_bench            # all threads
//! RAYON_NUM_THREADS=1 cargo run --release -p tessera-kernels --example gemm_bench
//! cargo run --release -p tessera-kernels --example gemm_bench -- quick   # skip the LM head
//! cargo run --release -p tessera-kernels --example gemm_bench -- 4096x12288 # one (n, k)
//! ```
//! Both libraries take their thread count from `RAYON_NUM_THREADS`. candle gets the weight
//! as nn.Linear keeps it (`[n, k]`, multiplied through a transposed view), so it repacks the
//! weight on every call; ours was packed once beforehand and that time is not counted.

use std::time::{Duration, Instant};

use candle_core::{Device, Tensor};
use tessera_kernels::{PackedWeights, ceiling, matmul_packed};

/// `(n, k)` of the linear layers measured, with the row counts `m` to run each at.
const SHAPES: &[((usize, usize), &[usize])] = &[
    ((768, 256), &[40, 160, 640, 2560]),
    ((1536, 256), &[40, 160, 640, 2560]),
    ((256, 768), &[40, 160, 640, 2560]),
    ((521, 256), &[40, 160, 640, 2560]),
    ((4096, 4096), &[40, 160, 640]),
    ((12288, 4096), &[40, 160]),
    ((4096, 12288), &[40, 160]),
    ((126464, 4096), &[40]),
];

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let quick = args.iter().any(|a| a == "quick");
    let only: Vec<&String> = args.iter().filter(|a| a.contains('x')).collect();
    let threads = rayon::current_num_threads();
    let peak = ceiling::fma_peak(threads, Duration::from_millis(300));
    println!("threads {threads}, FMA peak {peak:.0} GFLOP/s (AVX2 register-only loop)");
    println!(
        "{:>6} {:>7} {:>6} | {:>9} {:>9} | {:>6}",
        "m", "n", "k", "ours", "candle", "ratio"
    );
    for &((n, k), ms) in SHAPES {
        let picked = only.is_empty() || only.iter().any(|a| **a == format!("{n}x{k}"));
        if !picked || (quick && n * k > 64 << 20) {
            continue;
        }
        let w = values(n * k, 1);
        let packed = PackedWeights::from_rows(&w, n, k)?;
        let bias = values(n, 2);
        let wt = Tensor::from_vec(w, (n, k), &Device::Cpu)?.t()?;
        for &m in ms {
            let x = values(m * k, 3);
            let mut out = vec![0.0f32; m * n];
            let xt = Tensor::from_vec(x.clone(), (m, k), &Device::Cpu)?;
            let (ours, theirs) = race(
                || matmul_packed(&x, m, &packed, Some(&bias), &mut out).unwrap(),
                || {
                    std::hint::black_box(xt.matmul(&wt).unwrap());
                },
            );
            let gflops = |s: f64| 2.0 * (m * n * k) as f64 / s / 1e9;
            println!(
                "{m:>6} {n:>7} {k:>6} | {:>9.1} {:>9.1} | {:>5.2}x",
                gflops(ours),
                gflops(theirs),
                theirs / ours
            );
        }
    }
    Ok(())
}

/// Best seconds per call of `a` and of `b`, calling them in turn for about half a second
/// (at least three calls each after a warm-up), so both see the same machine load.
fn race(mut a: impl FnMut(), mut b: impl FnMut()) -> (f64, f64) {
    a();
    b();
    let start = Instant::now();
    let (mut best_a, mut best_b) = (f64::INFINITY, f64::INFINITY);
    let mut calls = 0;
    while calls < 3 || (start.elapsed() < Duration::from_millis(500) && calls < 300) {
        let t = seconds();
        a();
        best_a = best_a.min(seconds() - t);
        let t = seconds();
        b();
        best_b = best_b.min(seconds() - t);
        calls += 1;
    }
    (best_a, best_b)
}

/// Seconds since the first call.
fn seconds() -> f64 {
    static START: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();
    START.get_or_init(Instant::now).elapsed().as_secs_f64()
}

/// Deterministic values in [-1, 1).
fn values(len: usize, seed: u64) -> Vec<f32> {
    let mut s = seed;
    (0..len)
        .map(|_| {
            s = s
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((s >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
        })
        .collect()
}
