//! `tessera bench forward --breakdown`: where a forward pass spends its time, op by op, each
//! op's rate set against this machine's ceilings measured in the same run.

use std::time::{Duration, Instant};

use candle_core::{Device, Tensor};
use tessera_backbone::profile::{OpTime, profiled};
use tessera_backbone::{Backbone, LoadOptions};
use tessera_hybrid::DenoiseInput;
use tessera_hybrid::SeededNoise;
use tessera_hybrid::llada;
use tessera_kernels::ceiling;

use super::CliError;

/// The machine's ceilings, measured once per run.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Ceilings {
    /// FMA peak of one thread, GFLOP/s.
    pub(crate) fma_1: f64,
    /// FMA peak of two threads, GFLOP/s.
    pub(crate) fma_2: f64,
    /// A large square `f32` matmul through candle (the engine's matmul before packing).
    pub(crate) gemm_candle: f64,
    /// One thread's read bandwidth, GB/s.
    pub(crate) read_gbs: f64,
}

impl Ceilings {
    /// Measures them (about two seconds).
    pub(crate) fn measure() -> Result<Self, CliError> {
        let n = 1024;
        let a = Tensor::ones((n, n), candle_core::DType::F32, &Device::Cpu)?;
        let b = Tensor::ones((n, n), candle_core::DType::F32, &Device::Cpu)?;
        let secs = best_of(3, || a.matmul(&b).map(|_| ()))?;
        Ok(Ceilings {
            fma_1: ceiling::fma_peak(1, Duration::from_millis(300)),
            fma_2: ceiling::fma_peak(2, Duration::from_millis(300)),
            gemm_candle: 2.0 * (n * n * n) as f64 / secs / 1e9,
            read_gbs: ceiling::read_bandwidth(),
        })
    }

    /// The ceilings as table lines.
    pub(crate) fn print(&self) {
        println!("| ceiling (measured now) | value |");
        println!("|---|---|");
        println!("| FMA peak, 1 thread | {:.1} GFLOP/s |", self.fma_1);
        println!("| FMA peak, 2 threads | {:.1} GFLOP/s |", self.fma_2);
        println!(
            "| candle matmul 1024×1024×1024 | {:.1} GFLOP/s |",
            self.gemm_candle
        );
        println!("| read bandwidth, 1 thread | {:.1} GB/s |", self.read_gbs);
        println!();
    }
}

/// Best wall time of `n` runs of `f`, in seconds.
fn best_of(n: usize, mut f: impl FnMut() -> candle_core::Result<()>) -> Result<f64, CliError> {
    let mut best = f64::INFINITY;
    for _ in 0..n.max(1) {
        let start = Instant::now();
        f()?;
        best = best.min(start.elapsed().as_secs_f64());
    }
    Ok(best)
}

/// Prints the per-op table of `model`'s forward pass at canvas `canvas` (all logits),
/// averaged over `repeat` profiled passes after one warm-up.
pub(crate) fn breakdown(
    name: &str,
    model: &Backbone,
    canvas: usize,
    repeat: usize,
    ceilings: &Ceilings,
) -> Result<(), CliError> {
    let vocab = (model.info().embedding_size as u32)
        .saturating_sub(1)
        .max(1);
    let tokens: Vec<u32> = (0..canvas as u32)
        .map(|i| i.wrapping_mul(2_654_435_761u32) % vocab)
        .collect();
    let positions: Vec<usize> = (0..canvas).collect();
    let input = DenoiseInput::new(&tokens, canvas, &positions);
    model.logits(&input)?;
    let repeat = repeat.max(1);
    let mut ops: Vec<OpTime> = Vec::new();
    let mut total = 0.0;
    for _ in 0..repeat {
        let start = Instant::now();
        let (out, table) = profiled(|| model.logits(&input));
        total += start.elapsed().as_secs_f64();
        out?;
        for op in table {
            match ops
                .iter_mut()
                .find(|o| o.op == op.op && o.shape == op.shape)
            {
                Some(o) => {
                    o.calls += op.calls;
                    o.seconds += op.seconds;
                    o.flops += op.flops;
                    o.bytes += op.bytes;
                }
                None => ops.push(op),
            }
        }
    }
    let per = |x: f64| x / repeat as f64;
    let total_ms = per(total) * 1e3;
    ops.sort_by(|a, b| b.seconds.total_cmp(&a.seconds));
    println!(
        "{name}: forward at canvas {canvas}, all logits — {total_ms:.2} ms (mean of {repeat})"
    );
    println!();
    println!("| op | shape | calls | ms / forward | share | rate | of ceiling |");
    println!("|---|---|---|---|---|---|---|");
    let mut timed = 0.0;
    for op in &ops {
        let ms = per(op.seconds) * 1e3;
        timed += ms;
        let (rate, of) = if op.flops > 0.0 {
            let g = op.flops / op.seconds / 1e9;
            (format!("{g:.1} GFLOP/s"), g / ceilings.fma_2)
        } else if op.bytes > 0.0 {
            let g = op.bytes / op.seconds / 1e9;
            (format!("{g:.1} GB/s"), g / ceilings.read_gbs)
        } else {
            ("—".into(), f64::NAN)
        };
        let of = if of.is_nan() {
            "—".into()
        } else {
            format!("{:.0} %", of * 100.0)
        };
        println!(
            "| {} | {} | {} | {ms:.3} | {:.1} % | {rate} | {of} |",
            op.op,
            op.shape,
            op.calls / repeat as u64,
            ms / total_ms * 100.0
        );
    }
    let rest = (total_ms - timed).max(0.0);
    println!(
        "| (outside the ops: bookkeeping, allocation) | | | {rest:.3} | {:.1} % | | |",
        rest / total_ms * 100.0
    );
    println!();
    println!(
        "(matmul rates against the 2-thread FMA peak; data movement against 1-thread read \
         bandwidth)"
    );
    println!();
    Ok(())
}

/// Rows comparing Tessera's CPU kernels with candle's ops on the model in `dir`: a forward
/// pass at canvas `canvas` (all logits) and a step of the LLaDA sampler (prompt 32, gen 128,
/// block 32, 32 steps), each the median of `repeat` interleaved runs, and the speed-ups.
/// Returns the model's parameter count and `(measure, value, unit)` rows.
#[allow(clippy::type_complexity)]
pub(crate) fn compare_candle(
    dir: &std::path::Path,
    canvas: usize,
    repeat: usize,
) -> Result<(u64, Vec<(String, f64, &'static str)>), CliError> {
    let fast = Backbone::load(dir)?;
    let slow = Backbone::load_with(dir, &LoadOptions::default().candle_only(true))?;
    let info = fast.info().clone();
    let vocab = (info.embedding_size as u32).saturating_sub(2).max(1);
    let tokens: Vec<u32> = (0..canvas as u32)
        .map(|i| i.wrapping_mul(2_654_435_761u32) % vocab)
        .collect();
    let positions: Vec<usize> = (0..canvas).collect();
    let input = DenoiseInput::new(&tokens, canvas, &positions);
    let (batch, opts) = super::bench::llada_bench_run(&info, 32)?;
    let step = |m: &Backbone| -> Result<f64, CliError> {
        let start = Instant::now();
        let out = llada::generate(m, &batch, &opts, &SeededNoise::new(0), &mut |_| {})?;
        Ok(start.elapsed().as_secs_f64() / out.nfe().max(1) as f64)
    };
    let (mut f_fast, mut f_slow, mut s_fast, mut s_slow) = (vec![], vec![], vec![], vec![]);
    fast.logits(&input)?;
    slow.logits(&input)?;
    let same = {
        let a = llada::generate(&fast, &batch, &opts, &SeededNoise::new(0), &mut |_| {})?;
        let b = llada::generate(&slow, &batch, &opts, &SeededNoise::new(0), &mut |_| {})?;
        a.canvas(0) == b.canvas(0)
    };
    for _ in 0..repeat.max(1) {
        for (m, times) in [(&fast, &mut f_fast), (&slow, &mut f_slow)] {
            let start = Instant::now();
            m.logits(&input)?;
            times.push(start.elapsed().as_secs_f64());
        }
        s_fast.push(step(&fast)?);
        s_slow.push(step(&slow)?);
    }
    let median = |mut v: Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let (ff, fs, sf, ss) = (
        median(f_fast),
        median(f_slow),
        median(s_fast),
        median(s_slow),
    );
    Ok((
        info.parameters,
        vec![
            (
                format!("forward canvas {canvas}, Tessera kernels"),
                ff * 1e3,
                "ms",
            ),
            (
                format!("forward canvas {canvas}, candle ops"),
                fs * 1e3,
                "ms",
            ),
            ("  speed-up".into(), fs / ff, "x"),
            (
                "LLaDA step (gen 128/block 32), Tessera kernels".into(),
                sf * 1e3,
                "ms",
            ),
            (
                "LLaDA step (gen 128/block 32), candle ops".into(),
                ss * 1e3,
                "ms",
            ),
            ("  speed-up".into(), ss / sf, "x"),
            (
                "  same tokens as candle ops (1 = yes)".into(),
                f64::from(u8::from(same)),
                "",
            ),
        ],
    ))
}
