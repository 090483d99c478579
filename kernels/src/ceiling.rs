//! This machine's arithmetic and memory ceilings, measured, for benchmarks that report how
//! close an op comes to them: [`fma_peak`] (fused multiply-adds per second of one or more
//! threads, in the widest vector unit the CPU has) and [`read_bandwidth`] (bytes per second
//! of one thread streaming through a buffer larger than the caches).

use std::hint::black_box;
use std::time::{Duration, Instant};

/// Independent accumulators: enough to hide the FMA latency (4–5 cycles) on two ports.
const CHAINS: usize = 12;

/// Peak `f32` GFLOP/s (an FMA counts two) of `threads` threads running independent FMA
/// chains for about `for_time`, each on its own core when there are enough. Uses AVX2+FMA
/// where the CPU has them, scalar fused multiply-adds otherwise.
pub fn fma_peak(threads: usize, for_time: Duration) -> f64 {
    let threads = threads.max(1);
    let start = Instant::now();
    let flops: f64 = std::thread::scope(|s| {
        let workers: Vec<_> = (0..threads)
            .map(|_| s.spawn(move || fma_run(for_time)))
            .collect();
        workers.into_iter().map(|w| w.join().unwrap_or(0.0)).sum()
    });
    flops / start.elapsed().as_secs_f64() / 1e9
}

/// Runs FMA chains until `for_time` has passed; returns the flops done.
fn fma_run(for_time: Duration) -> f64 {
    const ROUNDS: usize = 1 << 16;
    let start = Instant::now();
    let mut flops = 0.0;
    while start.elapsed() < for_time {
        flops += fma_rounds(ROUNDS);
    }
    flops
}

/// `rounds` rounds of [`CHAINS`] independent FMAs; returns the flops done.
fn fma_rounds(rounds: usize) -> f64 {
    #[cfg(target_arch = "x86_64")]
    if is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma") {
        // SAFETY: the CPU has AVX2 and FMA (checked just above).
        let sink = unsafe { fma_rounds_avx2(rounds) };
        black_box(sink);
        return (rounds * CHAINS * 8 * 2) as f64;
    }
    let mut acc = [1.0f32; CHAINS];
    let (a, b) = (black_box(0.999_999f32), black_box(1e-7f32));
    for _ in 0..rounds {
        for x in &mut acc {
            *x = x.mul_add(a, b);
        }
    }
    black_box(acc);
    (rounds * CHAINS * 2) as f64
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
fn fma_rounds_avx2(rounds: usize) -> f32 {
    use std::arch::x86_64::*;
    let a = _mm256_set1_ps(black_box(0.999_999));
    let b = _mm256_set1_ps(black_box(1e-7));
    let mut acc = [_mm256_set1_ps(1.0); CHAINS];
    for _ in 0..rounds {
        for x in &mut acc {
            *x = _mm256_fmadd_ps(*x, a, b);
        }
    }
    let mut sum = _mm256_setzero_ps();
    for x in acc {
        sum = _mm256_add_ps(sum, x);
    }
    let mut lanes = [0.0f32; 8];
    // SAFETY: `lanes` holds exactly the 8 floats of one 256-bit vector.
    unsafe { _mm256_storeu_ps(lanes.as_mut_ptr(), sum) };
    lanes.iter().sum()
}

/// One thread's read bandwidth in GB/s: the best of a few sweeps summing a 256 MiB buffer.
pub fn read_bandwidth() -> f64 {
    let data = vec![1.0f32; 64 << 20];
    let mut best = f64::INFINITY;
    for _ in 0..3 {
        let start = Instant::now();
        // Eight partial sums so the adds vectorise and do not bound the sweep.
        let mut sums = [0.0f32; 8];
        for chunk in black_box(&data).chunks_exact(8) {
            for (s, x) in sums.iter_mut().zip(chunk) {
                *s += x;
            }
        }
        black_box(sums);
        best = best.min(start.elapsed().as_secs_f64());
    }
    (data.len() * 4) as f64 / best / 1e9
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ceilings_are_positive() {
        let one = fma_peak(1, Duration::from_millis(30));
        assert!(one > 0.1, "{one} GFLOP/s");
        assert!(read_bandwidth() > 0.1);
    }
}
