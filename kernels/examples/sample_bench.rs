//! Sampling over the masked positions' logits, four ways, at [256 × 126464] (LLaDA's
//! vocabulary) and [256 × 32000]: (a) an unfused candle pipeline (max, sub, exp, sum, div,
//! argmax, top-2 by masking, entropy), (b) the existing per-row ops in a loop, (c) the fused
//! [`sample_rows`] in both arithmetics, (d) the bound of reading the logits once at the
//! measured read bandwidth of all the pool's threads.
//!
//! `cargo run --release -p tessera-kernels --example sample_bench`

use std::time::Instant;

use candle_core::{D, DType, Device, Tensor};
use rayon::prelude::*;
use tessera_kernels::{
    Arithmetic, SampleSpec, Sampled, neg_entropy, row_stats, sample_rows, softmax_into, top2,
};

fn best_of<T>(reps: usize, mut f: impl FnMut() -> T) -> (f64, T) {
    let mut best = f64::INFINITY;
    let mut last = None;
    for _ in 0..reps {
        let t = Instant::now();
        last = Some(f());
        best = best.min(t.elapsed().as_secs_f64());
    }
    (best, last.expect("reps > 0"))
}

/// Read bandwidth (GB/s) of the rayon pool streaming a 512 MiB buffer.
fn pool_read_bandwidth() -> f64 {
    let data = vec![1.0f32; 128 << 20];
    let (t, _) = best_of(3, || {
        data.par_chunks(1 << 16)
            .map(|c| {
                let mut s = [0.0f32; 8];
                for ch in c.chunks_exact(8) {
                    for (a, x) in s.iter_mut().zip(ch) {
                        *a += x;
                    }
                }
                s.iter().sum::<f32>()
            })
            .sum::<f32>()
    });
    (data.len() * 4) as f64 / t / 1e9
}

fn candle_unfused(x: &Tensor) -> candle_core::Result<Vec<u32>> {
    let max = x.max_keepdim(D::Minus1)?;
    let e = x.broadcast_sub(&max)?.exp()?;
    let sum = e.sum_keepdim(D::Minus1)?;
    let p = e.broadcast_div(&sum)?;
    let token = p.argmax_keepdim(D::Minus1)?;
    let p1 = p.max_keepdim(D::Minus1)?;
    // Runner-up: the max of what is below the top probability.
    let below = p.broadcast_lt(&p1)?;
    let p2 = below
        .where_cond(&p, &p.zeros_like()?)?
        .max_keepdim(D::Minus1)?;
    let margin = (&p1 - &p2)?;
    let entropy = (&p * (&p + 1e-10)?.log()?)?.sum_keepdim(D::Minus1)?.neg()?;
    let _ = (
        margin.to_dtype(DType::F32)?,
        entropy.sum_all()?.to_scalar::<f32>()?,
    );
    token.flatten_all()?.to_vec1::<u32>()
}

fn row_ops(logits: &[f32], vocab: usize) -> Vec<(usize, f32, f32, f32)> {
    logits
        .par_chunks(vocab)
        .map_init(
            || vec![0.0f32; vocab],
            |probs, row| {
                let s = row_stats(row);
                let prob = s.prob(row[s.argmax]);
                softmax_into(row, probs);
                let ((_, p1), (_, p2)) = top2(probs);
                (s.argmax, prob, p1 - p2, -neg_entropy(probs))
            },
        )
        .collect()
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let threads = rayon::current_num_threads();
    let bw1 = tessera_kernels::ceiling::read_bandwidth();
    let bw = pool_read_bandwidth();
    println!("read bandwidth: 1 thread {bw1:.1} GB/s, {threads} threads {bw:.1} GB/s");
    println!(
        "{:>16} {:>10} {:>10} {:>10} {:>10} {:>10} {:>10} {:>10}",
        "shape", "candle", "row ops", "fused ref", "fused fast", "bound", "cand/fast", "fast/bnd"
    );
    for vocab in [126_464usize, 32_000] {
        let rows = 256;
        let mut state = 0x2545_F491_4F6C_DD1Du64;
        let logits: Vec<f32> = (0..rows * vocab)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                (state >> 40) as f32 / (1u64 << 24) as f32 * 16.0 - 8.0
            })
            .collect();
        let x = Tensor::from_slice(&logits, (rows, vocab), &Device::Cpu)?;
        let (t_candle, tok_candle) = best_of(3, || candle_unfused(&x));
        let tok_candle = tok_candle?;
        let (t_rows, rows_out) = best_of(3, || row_ops(&logits, vocab));
        let mut out = vec![Sampled::default(); rows];
        let exact = SampleSpec::new(0.0);
        let fast = SampleSpec::new(0.0).with_arithmetic(Arithmetic::Fast);
        let (t_ref, _) = best_of(5, || sample_rows(&logits, vocab, &exact, &[], &mut out));
        for (o, r) in out.iter().zip(&rows_out) {
            assert_eq!((o.token as usize, o.prob.to_bits()), (r.0, r.1.to_bits()));
        }
        let (t_fast, _) = best_of(5, || sample_rows(&logits, vocab, &fast, &[], &mut out));
        for ((o, r), &c) in out.iter().zip(&rows_out).zip(&tok_candle) {
            assert_eq!(o.token as usize, r.0);
            assert_eq!(o.token, c);
            assert!((o.entropy - r.3).abs() < 1e-3 * r.3.abs().max(1.0));
        }
        let bound = (logits.len() * 4) as f64 / (bw * 1e9);
        let ms = |t: f64| format!("{:.2} ms", t * 1e3);
        println!(
            "{:>16} {:>10} {:>10} {:>10} {:>10} {:>10} {:>9.1}× {:>9.2}×",
            format!("{rows}×{vocab}"),
            ms(t_candle),
            ms(t_rows),
            ms(t_ref),
            ms(t_fast),
            ms(bound),
            t_candle / t_fast,
            t_fast / bound
        );
        // Filters and draws, for the record (not part of the target).
        let u: Vec<f64> = (0..rows).map(|i| (i as f64 + 0.5) / rows as f64).collect();
        for (name, spec) in [
            ("top-k 50", fast.clone().with_top_k(50)),
            ("top-p 0.95", fast.clone().with_top_p(0.95)),
            (
                "categorical T=0.7",
                SampleSpec::new(0.7)
                    .with_draw(tessera_kernels::Draw::Categorical)
                    .with_arithmetic(Arithmetic::Fast),
            ),
        ] {
            let (t, r) = best_of(3, || sample_rows(&logits, vocab, &spec, &u, &mut out));
            r?;
            println!("{:>16}   fused fast {name}: {}", "", ms(t));
        }
    }
    Ok(())
}
