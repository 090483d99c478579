//! `tessera bench forward`: forward-pass time, achieved GFLOP/s, LLaDA sampler throughput
//! and load/decode memory per model and precision, measured side by side in one run; with
//! `--breakdown` the op-by-op profile, with `--compare-candle` Tessera's kernels against
//! candle's ops.

use std::path::{Path, PathBuf};
use std::time::Instant;

use tessera::backbone::{Backbone, Dtype, LoadOptions, ModelInfo};
use tessera::hybrid::llada;
use tessera::hybrid::{DenoiseInput, SeededNoise};

use super::CliError;
use super::bench::{Row, Size, median_time, on_models, print_rows, row_pusher};

#[derive(Debug, clap::Args)]
pub(crate) struct ForwardArgs {
    /// Model sizes to run.
    #[arg(long, value_enum, value_delimiter = ',', default_values_t = vec![Size::Small, Size::Medium])]
    sizes: Vec<Size>,
    /// Use this model folder instead of random models.
    #[arg(long)]
    model: Option<PathBuf>,
    /// Timed repetitions per forward measurement (the median is reported).
    #[arg(long, default_value_t = 5)]
    repeat: usize,
    /// Skip the sampler run (it takes 128 forward passes per model).
    #[arg(long)]
    no_sampler: bool,
    /// Print where a forward pass at canvas `--canvas` spends its time, op by op, against
    /// this machine's ceilings measured in the same run, instead of the timing rows.
    #[arg(long)]
    breakdown: bool,
    /// Canvas length of `--breakdown` and `--compare-candle`.
    #[arg(long, default_value_t = 160)]
    canvas: usize,
    /// Instead of the timing rows, time a forward pass and a sampler step with Tessera's CPU
    /// kernels against the same model run through candle's ops alone, interleaved in one run.
    #[arg(long)]
    compare_candle: bool,
    /// Precisions to load each model in, one after another (f32, bf16, f16, q8_0, q4_0,
    /// q4k, q6k; default: the checkpoint's). The model column names each; every one after
    /// the first also gets its sampler speed as a multiple of the first's, same run.
    #[arg(long, value_delimiter = ',', value_parser = super::generate::parse_dtype)]
    dtypes: Vec<Dtype>,
    /// Device of the timing rows (`cpu`, `cuda`, `cuda:N`; CUDA needs a build with the `cuda`
    /// feature). Load memory is measured on the CPU.
    #[arg(long, default_value = "cpu", value_parser = super::generate::parse_device)]
    device: tessera::kernels::Device,
    /// Canvas lengths of the forward rows.
    #[arg(long, value_delimiter = ',', default_values_t = vec![160, 512])]
    canvases: Vec<usize>,
    /// Print JSON lines instead of a table.
    #[arg(long)]
    json: bool,
}

pub(super) fn run(args: ForwardArgs) -> Result<(), CliError> {
    if args.compare_candle {
        let rows = on_models(&args.sizes, args.model.as_deref(), |name, dir, rows| {
            let both = super::bench_profile::compare_candle(dir, args.canvas, args.repeat)?;
            let (params, both) = both;
            let push = row_pusher(name, params);
            for (measure, value, unit) in both {
                push(rows, measure, value, unit);
            }
            Ok(())
        })?;
        print_rows(&rows, args.json);
        return Ok(());
    }
    if args.breakdown {
        if args.json {
            return Err("--breakdown prints a table; it has no --json form".into());
        }
        let ceilings = super::bench_profile::Ceilings::measure()?;
        ceilings.print();
        on_models(&args.sizes, args.model.as_deref(), |name, dir, _| {
            let model = Backbone::load(dir)?;
            super::bench_profile::breakdown(name, &model, args.canvas, args.repeat, &ceilings)
        })?;
        return Ok(());
    }
    let dtypes: Vec<Option<Dtype>> = match args.dtypes.len() {
        0 => vec![None],
        _ => args.dtypes.iter().copied().map(Some).collect(),
    };
    let rows = on_models(&args.sizes, args.model.as_deref(), |name, dir, rows| {
        let mut first = None;
        for &dtype in &dtypes {
            let label = match dtype {
                Some(d) if dtypes.len() > 1 || d != Dtype::F32 => format!("{name} {d}"),
                _ => name.to_string(),
            };
            let speed = bench_model(&label, dir, dtype, &args, rows)?;
            match (first, speed) {
                (None, _) => first = speed,
                (Some(base), Some(s)) => {
                    let params = rows.last().map_or(0, |r| r.params);
                    row_pusher(&label, params)(
                        rows,
                        format!(
                            "  sampler speed vs {}",
                            dtypes[0].map_or("stored".into(), |d| d.to_string())
                        ),
                        s / base,
                        "x",
                    );
                }
                _ => {}
            }
        }
        Ok(())
    })?;
    print_rows(&rows, args.json);
    Ok(())
}

/// The rows of one model in one precision; returns the sampler's tokens/s, if it ran.
fn bench_model(
    name: &str,
    dir: &Path,
    dtype: Option<Dtype>,
    args: &ForwardArgs,
    rows: &mut Vec<Row>,
) -> Result<Option<f64>, CliError> {
    // Memory is the CPU's question: measured only when the rows run there.
    let nums = if matches!(args.device, tessera::kernels::Device::Cpu) {
        load_memory(dir, dtype)?
    } else {
        Vec::new()
    };
    let start = Instant::now();
    let mut opts = LoadOptions::default().device(args.device);
    opts.dtype = dtype;
    let model = Backbone::load_with(dir, &opts)?;
    let load_s = start.elapsed().as_secs_f64();
    let info = model.info().clone();
    let push = row_pusher(name, info.parameters);
    push(rows, "load time".into(), load_s, "s");
    if let [peak, bytes, decode, weights] = nums[..] {
        push(rows, "weights in memory".into(), weights / 1e6, "MB");
        push(
            rows,
            "load peak RSS / checkpoint size".into(),
            peak / bytes,
            "x",
        );
        push(
            rows,
            "decode peak RSS / weights in memory".into(),
            decode / weights,
            "x",
        );
    }
    // Saturating: a model of one or two ids still runs (every token 0), no `% 0`.
    let spread1 = (info.embedding_size as u32).saturating_sub(1).max(1);
    for &canvas in &args.canvases {
        if canvas < 32 {
            return Err(format!("--canvases: {canvas} is under the 32 logits of a row").into());
        }
        let tokens: Vec<u32> = (0..canvas as u32)
            .map(|i| i.wrapping_mul(2_654_435_761u32) % spread1)
            .collect();
        for (label, positions) in [
            ("all logits", (0..canvas).collect::<Vec<_>>()),
            ("32 logits", (canvas - 32..canvas).collect()),
        ] {
            let secs = median_time(args.repeat, || {
                model
                    .logits(&DenoiseInput::new(&tokens, canvas, &positions))
                    .map(|_| ())
            })?;
            let gflops = flops(&info, canvas, positions.len()) / secs / 1e9;
            push(
                rows,
                format!("forward canvas {canvas}, {label}"),
                secs * 1e3,
                "ms",
            );
            push(
                rows,
                format!("  achieved, canvas {canvas}, {label}"),
                gflops,
                "GFLOP/s",
            );
        }
    }
    if args.no_sampler {
        return Ok(None);
    }
    let (batch, opts) = super::bench::llada_bench_run(&info, 128)?;
    let start = Instant::now();
    let out = llada::generate(&model, &batch, &opts, &SeededNoise::new(0), &mut |_| {})?;
    let secs = start.elapsed().as_secs_f64();
    push(
        rows,
        "LLaDA sampler gen 128/block 32/128 steps".into(),
        128.0 / secs,
        "tok/s",
    );
    push(
        rows,
        "  time per step".into(),
        secs / out.nfe() as f64 * 1e3,
        "ms",
    );
    Ok(Some(128.0 / secs))
}

/// Peak memory of loading `dir` in `dtype` and of decoding after it, measured in a fresh
/// process so nothing else counts: `[load peak, checkpoint bytes, decode peak, weights]`.
fn load_memory(dir: &Path, dtype: Option<Dtype>) -> Result<Vec<f64>, CliError> {
    let mut probe = std::process::Command::new(std::env::current_exe()?);
    probe.args(["bench", "load-rss", "--model"]).arg(dir);
    if let Some(d) = dtype {
        probe.args(["--dtype", &d.to_string()]);
    }
    let out = probe.output()?;
    Ok(String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .filter_map(|v| v.parse().ok())
        .collect())
}

/// Multiply-add FLOPs of one forward over `canvas` tokens with logits at `p` positions (the
/// last block runs queries and MLP at those `p` rows only).
fn flops(info: &ModelInfo, canvas: usize, p: usize) -> f64 {
    let (l, p) = (canvas as f64, p as f64);
    let d = info.hidden_size as f64;
    let kv = d / info.heads as f64 * info.kv_heads as f64;
    let m = info.intermediate_size as f64;
    let full = 2.0 * l * (2.0 * d * d + 2.0 * d * kv + 3.0 * d * m) + 4.0 * l * l * d;
    let last = 2.0 * l * 2.0 * d * kv + 2.0 * p * (2.0 * d * d + 3.0 * d * m) + 4.0 * p * l * d;
    let head = 2.0 * p * d * info.embedding_size as f64;
    full * (info.layers as f64 - 1.0) + last + head
}
