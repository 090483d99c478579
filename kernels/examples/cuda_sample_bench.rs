//! The CUDA sampling kernel (argmax and Gumbel draws) and the remask-scoring kernel
//! (`support`: a committed token's probability) at [256 × 126,464] (LLaDA's vocabulary) and
//! [256 × 32,000]: each one's time, the GB/s it reads the logits at, and that against the
//! card's copy bandwidth measured in the same run (a device-to-device copy of the same
//! logits: read + write).
//! Needs an NVIDIA GPU; prints why not and exits 0 without one.
//!
//! `cargo run --release -p tessera-kernels --features cuda --example cuda_sample_bench`

#[cfg(feature = "cuda")]
fn main() -> Result<(), Box<dyn std::error::Error>> {
    use std::time::Instant;
    use tessera_kernels::{Arithmetic, CudaKernels, SampleSpec};

    let kernels = match CudaKernels::new(0) {
        Ok(k) => k,
        Err(e) => {
            println!("cuda_sample_bench: not run ({e})");
            return Ok(());
        }
    };
    let s = kernels.stream().clone();
    println!(
        "{:>14} {:>8} {:>10} {:>10} {:>12} {:>9}",
        "shape", "draw", "kernel", "read GB/s", "copy GB/s", "of copy"
    );
    for vocab in [126_464usize, 32_000] {
        let rows = 256;
        let host: Vec<f32> = (0..rows * vocab)
            .map(|i| ((i * 7919) % 4001) as f32 * 0.01 - 20.0)
            .collect();
        let logits = s.clone_htod(&host)?;
        let mut copy = s.alloc_zeros::<f32>(rows * vocab)?;
        let bytes = (rows * vocab * 4) as f64;
        let mut best_copy = f64::INFINITY;
        for _ in 0..5 {
            s.synchronize()?;
            let t = Instant::now();
            s.memcpy_dtod(&logits, &mut copy)?;
            s.synchronize()?;
            best_copy = best_copy.min(t.elapsed().as_secs_f64());
        }
        // A copy reads and writes every byte.
        let copy_gbs = 2.0 * bytes / best_copy / 1e9;
        for (name, spec) in [
            (
                "argmax",
                SampleSpec::new(0.0).with_arithmetic(Arithmetic::Fast),
            ),
            (
                "gumbel",
                SampleSpec::new(0.8).with_arithmetic(Arithmetic::Fast),
            ),
        ] {
            let u: Vec<f64> = (0..spec.noise_per_row(vocab) * rows)
                .map(|i| ((i as f64) * 0.618_034).fract().max(1e-9))
                .collect();
            let best = best_of_5(&s, || {
                kernels.sample_rows(&logits, vocab, &spec, &u).map(drop)
            })?;
            // The Gumbel draw also reads one f64 uniform per logit (copied in each call).
            let read = bytes * if u.is_empty() { 1.0 } else { 3.0 };
            report(rows, vocab, name, best, read, copy_gbs);
        }
        // Remask scoring: one committed token's probability per row (reads the logits once).
        let tokens: Vec<u32> = (0..rows as u32).map(|r| r * 97 % vocab as u32).collect();
        let best = best_of_5(&s, || {
            kernels.token_probs(&logits, vocab, None, &tokens).map(drop)
        })?;
        report(rows, vocab, "support", best, bytes, copy_gbs);
    }
    Ok(())
}

/// The best of five timed calls after a warm-up one, the stream idle before each.
#[cfg(feature = "cuda")]
fn best_of_5(
    s: &cudarc::driver::CudaStream,
    mut call: impl FnMut() -> Result<(), tessera_kernels::KernelError>,
) -> Result<f64, Box<dyn std::error::Error>> {
    call()?;
    let mut best = f64::INFINITY;
    for _ in 0..5 {
        s.synchronize()?;
        let t = std::time::Instant::now();
        call()?;
        best = best.min(t.elapsed().as_secs_f64());
    }
    Ok(best)
}

/// One row of the table: a kernel's time, the GB/s it read `read` bytes at, and that
/// against the copy bandwidth.
#[cfg(feature = "cuda")]
fn report(rows: usize, vocab: usize, name: &str, best: f64, read: f64, copy_gbs: f64) {
    let gbs = read / best / 1e9;
    println!(
        "{:>14} {:>8} {:>8.3}ms {:>10.0} {:>12.0} {:>8.0}%",
        format!("{rows}×{vocab}"),
        name,
        best * 1e3,
        gbs,
        copy_gbs,
        100.0 * gbs / copy_gbs
    );
}

#[cfg(not(feature = "cuda"))]
fn main() {
    println!("cuda_sample_bench: built without the `cuda` feature");
}
