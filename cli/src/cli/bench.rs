//! `tessera bench`: forward-pass time, achieved GFLOP/s, sampler throughput and load memory
//! on random LLaDA-format models (≈30M and ≈239M parameters), measured side by side in one run;
//! on a world model (`--model models/tessera-tiny`) `bench decode` adds accuracy per policy and
//! cache next to its speed.

use std::path::{Path, PathBuf};
use std::time::Instant;

use clap::{Subcommand, ValueEnum};
use tessera::backbone::random::RandomLlada;
use tessera::backbone::{Backbone, BackboneCache, Family};
use tessera::hybrid::llada::LladaOptions;
use tessera::hybrid::unmask::Unmask;
use tessera::hybrid::{Attention, CacheMode, DenoiseInput, PromptBatch, SeededNoise, Span, llada};

use super::CliError;

/// `tessera bench …`
#[derive(Debug, clap::Args)]
pub(crate) struct BenchArgs {
    #[command(subcommand)]
    what: BenchCommand,
}

#[derive(Debug, Subcommand)]
enum BenchCommand {
    /// Forward time at canvas 160 and 512, GFLOP/s, LLaDA sampler tokens/s, load peak RSS.
    Forward(super::bench_forward::ForwardArgs),
    /// Write a random LLaDA-format model folder (for trying the CLI and benchmarks).
    Random {
        /// Size of the model.
        #[arg(long, value_enum, default_value_t = Size::Small)]
        size: Size,
        /// Write weights in bf16.
        #[arg(long)]
        bf16: bool,
        /// Output folder.
        #[arg(long)]
        out: PathBuf,
    },
    /// Decoding: full vs cached step time (prompt 64, gen 256, block 32), and the LLaDA
    /// sampler per unmask rule / cache against the plain sampler as baseline.
    Decode(DecodeArgs),
    /// Image and audio tokenizers at their published sizes (random weights): MAGVIT-v2 on a
    /// 256×256 picture, EnCodec 24 kHz on 10 s of sound.
    Media(super::bench_media::MediaArgs),
    /// Training steps of a world-model config: one shard worker against one per core.
    Train(super::bench_train::TrainBenchArgs),
    /// Step-level batching against one request at a time, and the HTTP server under load.
    #[cfg(feature = "http")]
    Serve(super::bench_serve::ServeBenchArgs),
    /// (internal) Load a model and print the peak resident memory it took, the checkpoint's
    /// size and the peak while it then decodes (LLaDA sampler, gen 128, 8 steps), in bytes.
    #[command(hide = true)]
    LoadRss {
        /// Model folder.
        #[arg(long)]
        model: PathBuf,
        /// Precision to load in (default: the checkpoint's).
        #[arg(long, value_parser = super::generate::parse_dtype)]
        dtype: Option<tessera::backbone::Dtype>,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(super) enum Size {
    /// ≈30M parameters (d_model 512, 8 layers, vocabulary 8192).
    Small,
    /// ≈239M parameters (d_model 1024, 16 layers, vocabulary 16384).
    Medium,
}

impl BenchArgs {
    /// Whether this benchmark trains (see [`super::Cli::trains`]).
    pub(crate) fn trains(&self) -> bool {
        matches!(self.what, BenchCommand::Train(_))
    }
}

impl Size {
    fn spec(self) -> RandomLlada {
        match self {
            Size::Small => RandomLlada::small(),
            Size::Medium => RandomLlada::medium(),
        }
    }

    fn name(self) -> &'static str {
        match self {
            Size::Small => "random-30M",
            Size::Medium => "random-239M",
        }
    }
}

#[derive(Debug, clap::Args)]
struct DecodeArgs {
    /// Model sizes to run.
    #[arg(long, value_enum, value_delimiter = ',', default_values_t = vec![Size::Small, Size::Medium])]
    sizes: Vec<Size>,
    /// Use this model folder instead of random models.
    #[arg(long)]
    model: Option<PathBuf>,
    /// Timed repetitions per step measurement (the median is reported).
    #[arg(long, default_value_t = 3)]
    repeat: usize,
    /// Total sampler steps for the 256-token runs (8 blocks of 32).
    #[arg(long, default_value_t = 32)]
    steps: usize,
    /// Run the sampler rows on every model, not only the first (slow on the 239M model).
    #[arg(long)]
    sampler_all: bool,
    /// Held-out examples per task for the accuracy rows (world models such as tessera-tiny
    /// only).
    #[arg(long, default_value_t = 50)]
    accuracy_n: usize,
    /// Concurrent requests of the batching rows (the driver against the same requests one
    /// after another).
    #[arg(long, value_delimiter = ',', default_values_t = vec![1, 4, 8, 16])]
    concurrency: Vec<usize>,
    /// Print JSON lines instead of a table.
    #[arg(long)]
    json: bool,
}

pub(crate) fn run(args: BenchArgs) -> Result<(), CliError> {
    match args.what {
        BenchCommand::Forward(a) => super::bench_forward::run(a),
        BenchCommand::Decode(a) => decode(a),
        BenchCommand::Media(a) => super::bench_media::run(a),
        BenchCommand::Train(a) => super::bench_train::run(a),
        #[cfg(feature = "http")]
        BenchCommand::Serve(a) => super::bench_serve::run(a),
        BenchCommand::Random { size, bf16, out } => {
            size.spec().bf16(bf16).write(&out)?;
            eprintln!("wrote {}", out.display());
            Ok(())
        }
        BenchCommand::LoadRss { model, dtype } => super::bench_memory::load_rss(&model, dtype),
    }
}

/// The LLaDA sampler run the forward, memory and candle benches time: a 32-token prompt
/// spread over the vocabulary (never the last two ids), gen 128, block 32, `steps` steps.
pub(super) fn llada_bench_run(
    info: &tessera::backbone::ModelInfo,
    steps: usize,
) -> Result<(PromptBatch, LladaOptions), CliError> {
    // Saturating: a model of one or two ids still runs (every token 0), no `% 0`.
    let spread = (info.embedding_size as u32).saturating_sub(2).max(1);
    let prompt: Vec<u32> = (0..32u32).map(|i| (i * 7919) % spread).collect();
    let opts = LladaOptions::new(info.mask_id)
        .gen_length(128)
        .steps(steps)
        .block_length(32);
    Ok((PromptBatch::left_padded(vec![prompt], 0)?, opts))
}

pub(super) struct Row {
    model: String,
    pub(super) params: u64,
    measure: String,
    value: f64,
    unit: &'static str,
}

/// Runs `f` on each model: `model` if given, else a random model of each size (written to a
/// temporary folder and removed afterwards).
pub(super) fn on_models(
    sizes: &[Size],
    model: Option<&Path>,
    mut f: impl FnMut(&str, &Path, &mut Vec<Row>) -> Result<(), CliError>,
) -> Result<Vec<Row>, CliError> {
    let mut rows = Vec::new();
    if let Some(dir) = model {
        f(&dir.display().to_string(), dir, &mut rows)?;
        return Ok(rows);
    }
    for size in sizes {
        let name = size.name();
        let dir = std::env::temp_dir().join(format!("tessera-bench-{name}-{}", std::process::id()));
        eprintln!("writing {name} to {}", dir.display());
        size.spec().write(&dir)?;
        let result = f(name, &dir, &mut rows);
        let _ = std::fs::remove_dir_all(&dir);
        result?;
    }
    Ok(rows)
}

/// A closure that appends a measurement of model `name` (with `params` parameters) to the rows.
pub(super) fn row_pusher(
    name: &str,
    params: u64,
) -> impl Fn(&mut Vec<Row>, String, f64, &'static str) + '_ {
    move |rows, measure, value, unit| {
        rows.push(Row {
            model: name.to_string(),
            params,
            measure,
            value,
            unit,
        })
    }
}

pub(super) fn print_rows(rows: &[Row], json: bool) {
    if json {
        for r in rows {
            println!(
                "{}",
                serde_json::json!({"model": r.model, "params": r.params, "measure": r.measure, "value": r.value, "unit": r.unit})
            );
        }
        return;
    }
    println!(
        "{:<19} {:>8}  {:<52} {:>12}",
        "model", "params", "measure", "value"
    );
    for r in rows {
        println!(
            "{:<19} {:>7.1}M  {:<52} {:>9.2} {}",
            r.model,
            r.params as f64 / 1e6,
            r.measure,
            r.value,
            r.unit
        );
    }
}

const PROMPT: usize = 64;
const GEN: usize = 256;
const BLOCK: usize = 32;

fn decode(args: DecodeArgs) -> Result<(), CliError> {
    let mut first = true;
    let rows = on_models(&args.sizes, args.model.as_deref(), |name, dir, rows| {
        let sampler = first || args.sampler_all;
        first = false;
        // One load serves the speed rows (its backbone) and, on a world model, the accuracy rows.
        let engine = tessera::Engine::load(dir)?;
        bench_decode(name, engine.backbone(), dir, &args, sampler, rows)?;
        bench_batching(name, engine.backbone(), &args.concurrency, rows)?;
        if engine.is_world_model() {
            bench_accuracy(name, &engine, args.accuracy_n, rows)?;
        }
        Ok(())
    })?;
    print_rows(&rows, args.json);
    Ok(())
}

fn bench_decode(
    name: &str,
    model: &Backbone,
    dir: &Path,
    args: &DecodeArgs,
    sampler: bool,
    rows: &mut Vec<Row>,
) -> Result<(), CliError> {
    let info = model.info().clone();
    let push = row_pusher(name, info.parameters);
    // Saturating: a model of one or two ids still runs (every token 0), no `% 0`.
    let spread = (info.embedding_size as u32).saturating_sub(2).max(1);
    let len = PROMPT + GEN;
    let mask = info.mask_id;
    // A canvas mid-way through decoding the first block: prompt, then masks.
    let mut tokens: Vec<u32> = (0..len as u32)
        .map(|i| i.wrapping_mul(2_654_435_761u32) % spread)
        .collect();
    tokens[PROMPT + BLOCK / 2..].fill(mask);
    let block: Vec<usize> = (PROMPT..PROMPT + BLOCK).collect();
    let input = DenoiseInput::new(&tokens, len, &block);
    let full = median_time(args.repeat, || model.logits(&input).map(|_| ()))?;
    let (_, cache) = model.logits_and_cache(&input)?;
    let prefix_span = Span {
        start: PROMPT,
        end: len,
    };
    let dual_span = Span {
        start: PROMPT,
        end: PROMPT + BLOCK,
    };
    let prefix = median_time(args.repeat, || {
        model.logits_span(&input, prefix_span, &cache).map(|_| ())
    })?;
    let dual = median_time(args.repeat, || {
        model.logits_span(&input, dual_span, &cache).map(|_| ())
    })?;
    push(
        rows,
        format!("full step (canvas {len}, {BLOCK} logits)"),
        full * 1e3,
        "ms",
    );
    push(rows, "prefix-cache step".into(), prefix * 1e3, "ms");
    push(rows, "  prefix / full".into(), prefix / full, "x");
    push(rows, "dual-cache step".into(), dual * 1e3, "ms");
    push(rows, "  dual / full".into(), dual / full, "x");
    // The same weights declared block-causal: the exact block cache.
    let linked = matches!(info.family, Family::Llada | Family::Mmada)
        .then(|| BlockCausalCopy::new(dir))
        .transpose()?;
    let mut causal = linked.as_ref().map(|l| Backbone::load(&l.0)).transpose()?;
    // A model the block cache cannot serve exactly (a place embedding) has no block rows.
    if let Some(bc) = &causal {
        let groups = Attention::BlockCausal.groups(PROMPT, len, BLOCK);
        let probe = input.with_groups(groups.as_deref());
        let first = Span {
            start: 0,
            end: PROMPT + BLOCK,
        };
        if let Err(e) = bc.logits_extend(&probe, first, PROMPT, &mut BackboneCache::default()) {
            eprintln!("{name}: no block-cache rows ({e})");
            causal = None;
        }
    }
    if let Some(bc) = &causal {
        let groups = Attention::BlockCausal.groups(PROMPT, len, BLOCK);
        let input = input.with_groups(groups.as_deref());
        let full_bc = median_time(args.repeat, || bc.logits(&input).map(|_| ()))?;
        let mut kv = BackboneCache::default();
        let first = Span {
            start: 0,
            end: PROMPT + BLOCK,
        };
        bc.logits_extend(&input, first, PROMPT, &mut kv)?;
        let step = median_time(args.repeat, || {
            bc.logits_extend(&input, dual_span, PROMPT, &mut kv)
                .map(|_| ())
        })?;
        push(rows, "block-causal full step".into(), full_bc * 1e3, "ms");
        push(rows, "block-cache step (exact)".into(), step * 1e3, "ms");
        push(rows, "  block / full".into(), step / full_bc, "x");
    }
    if !sampler {
        return Ok(());
    }
    let prompt: Vec<u32> = (0..PROMPT as u32).map(|i| (i * 7919) % spread).collect();
    let batch = PromptBatch::left_padded(vec![prompt], 0)?;
    let base = LladaOptions::new(mask)
        .gen_length(GEN)
        .steps(args.steps)
        .block_length(BLOCK);
    let combos = [
        ("llada (baseline)", Unmask::Count, CacheMode::None),
        ("llada + prefix cache", Unmask::Count, CacheMode::Prefix),
        ("llada + dual cache", Unmask::Count, CacheMode::Dual),
        ("threshold:0.9", Unmask::Threshold(0.9), CacheMode::None),
        (
            "threshold:0.9 + dual cache",
            Unmask::Threshold(0.9),
            CacheMode::Dual,
        ),
    ];
    let mut run =
        |model: &Backbone, label: &str, opts: &LladaOptions, baseline: &mut Option<Vec<u32>>| {
            let start = Instant::now();
            let out = llada::generate(model, &batch, opts, &SeededNoise::new(0), &mut |_| {})?;
            let secs = start.elapsed().as_secs_f64();
            let ids = out.generated(0).to_vec();
            push(
                rows,
                format!("{label}: forward passes"),
                out.nfe() as f64,
                "",
            );
            push(
                rows,
                format!("{label}: time per step"),
                secs / out.nfe().max(1) as f64 * 1e3,
                "ms",
            );
            push(
                rows,
                format!("{label}: tokens/s"),
                GEN as f64 / secs,
                "tok/s",
            );
            match baseline {
                None => *baseline = Some(ids),
                Some(b) => {
                    let same = b.iter().zip(&ids).filter(|(a, b)| a == b).count();
                    push(
                        rows,
                        format!("{label}: tokens equal to baseline"),
                        100.0 * same as f64 / GEN as f64,
                        "%",
                    );
                }
            }
            Ok::<(), CliError>(())
        };
    let mut baseline = None;
    for (label, unmask, cache) in combos {
        let opts = base.clone().unmask(unmask).cache(cache);
        run(model, label, &opts, &mut baseline)?;
    }
    if let Some(bc) = &causal {
        // Compared with block-causal decoding without the cache: exact means 100 %.
        let mut baseline = None;
        for (label, unmask, cache) in [
            ("block-causal (no cache)", Unmask::Count, CacheMode::None),
            (
                "block-causal + block cache",
                Unmask::Count,
                CacheMode::Block,
            ),
            (
                "block-causal threshold:0.9 + block cache",
                Unmask::Threshold(0.9),
                CacheMode::Block,
            ),
        ] {
            let opts = base.clone().unmask(unmask).cache(cache);
            run(bc, label, &opts, &mut baseline)?;
        }
    }
    Ok(())
}

/// Step-level continuous batching: `n` requests (prompts of different lengths, 32 tokens each,
/// blocks of 8, one token per step) decoded one after another, then together through the
/// driver, in the same run; tokens/s of each and their ratio. The single-request run also
/// gives the controller's overhead: the share of a step spent outside the forward pass.
fn bench_batching(
    name: &str,
    model: &Backbone,
    concurrency: &[usize],
    rows: &mut Vec<Row>,
) -> Result<(), CliError> {
    use tessera::hybrid::{Decoding, Driver, DriverEvent};
    const GEN_B: usize = 32;
    let info = model.info().clone();
    let push = row_pusher(name, info.parameters);
    // Saturating: a model of one or two ids still runs (every token 0), no `% 0`.
    let spread = (info.embedding_size as u32).saturating_sub(2).max(1);
    let longest = (info.max_length.saturating_sub(GEN_B)).clamp(1, 48);
    let opts = LladaOptions::new(info.mask_id)
        .gen_length(GEN_B)
        .steps(GEN_B)
        .block_length(8);
    let requests = |n: usize| -> Result<Vec<PromptBatch>, CliError> {
        (0..n)
            .map(|i| {
                let len = (longest / 2 + (i * 7) % (longest / 2 + 1)).max(1);
                let prompt: Vec<u32> = (0..len as u32)
                    // Wrapping: a pseudo-random id; `--concurrency` may be large.
                    .map(|j| (j * 7919).wrapping_add((i as u32).wrapping_mul(104_729)) % spread)
                    .filter(|&t| t != info.mask_id)
                    .collect();
                Ok(PromptBatch::left_padded(vec![prompt], 0)?)
            })
            .collect()
    };
    let noise = SeededNoise::new(0);
    for &n in concurrency.iter().filter(|&&n| n > 0) {
        let batches = requests(n)?;
        let start = Instant::now();
        let mut forward = 0.0;
        let mut alone = Vec::with_capacity(n);
        for b in &batches {
            let out = llada::generate(model, b, &opts, &noise, &mut |_| {})?;
            forward += out.forward_seconds();
            alone.push(out);
        }
        let sequential = start.elapsed().as_secs_f64();
        let start = Instant::now();
        let mut driver = Driver::new();
        let mut ids = Vec::with_capacity(n);
        for b in &batches {
            ids.push(driver.join(Decoding::new(model, b, &opts, &noise)?));
        }
        let mut together = vec![None; n];
        while !driver.is_empty() {
            for event in driver.step(model) {
                if let DriverEvent::Finished(id, result) = event {
                    // cannot fail: `ids` and `together` both have one entry per request.
                    let i = ids.iter().position(|&x| x == id).unwrap_or(0);
                    together[i] = Some(result?);
                }
            }
        }
        let batched = start.elapsed().as_secs_f64();
        let same = alone
            .iter()
            .zip(&together)
            .filter(|(a, t)| t.as_ref() == Some(*a))
            .count();
        let tokens = n as f64 * GEN_B as f64;
        push(
            rows,
            format!("{n} requests one by one: tokens/s"),
            tokens / sequential,
            "tok/s",
        );
        push(
            rows,
            format!("{n} requests through the driver: tokens/s"),
            tokens / batched,
            "tok/s",
        );
        push(
            rows,
            format!("  driver / one by one ({n} requests)"),
            sequential / batched,
            "x",
        );
        push(
            rows,
            format!("  driver forwards for {n} requests"),
            driver.forwards() as f64,
            "",
        );
        push(
            rows,
            format!("  requests equal to alone ({n})"),
            100.0 * same as f64 / n as f64,
            "%",
        );
        if n == 1 {
            push(
                rows,
                "controller overhead (outside the forward)".into(),
                100.0 * (1.0 - forward / sequential),
                "%",
            );
        }
    }
    Ok(())
}

/// Policy / cache combinations of the accuracy rows: one token per step with exact
/// recomputation (the baseline), Fast-dLLM's approximate caches, threshold decoding.
const ACCURACY_POLICIES: [&str; 6] = [
    "diffusion",
    "diffusion+dual",
    "block",
    "block+prefix",
    "block+dual",
    "hybrid",
];

/// On a world model, accuracy next to speed: each combination of [`ACCURACY_POLICIES`] on `n`
/// held-out examples of a text, an image and an audio task, judged by the worlds' checkers.
fn bench_accuracy(
    name: &str,
    engine: &tessera::Engine,
    n: usize,
    rows: &mut Vec<Row>,
) -> Result<(), CliError> {
    use tessera::eval::{EvalConfig, EvalPolicy, evaluate};
    use tessera_worlds::Task;
    let push = row_pusher(name, engine.info().parameters);
    let cfg = EvalConfig {
        tasks: vec![Task::Sudoku, Task::Caption, Task::T2a],
        policies: ACCURACY_POLICIES
            .iter()
            .map(|p| EvalPolicy::parse(p))
            .collect::<Result<_, _>>()?,
        n,
        batch: n.min(100),
        ..EvalConfig::default()
    };
    for r in evaluate(engine, &cfg, &mut |_| {})? {
        let label = format!("{} on {}", r.policy, r.task);
        push(rows, format!("{label}: accuracy"), 100.0 * r.accuracy, "%");
        push(
            rows,
            format!("{label}: forwards/token"),
            r.forwards_per_token,
            "",
        );
        push(
            rows,
            format!("{label}: tokens/s"),
            r.tokens_per_second,
            "tok/s",
        );
    }
    Ok(())
}

/// A temporary folder holding a model's files linked, with `config.json` declaring
/// block-causal attention (the same weights under another attention structure).
struct BlockCausalCopy(PathBuf);

impl BlockCausalCopy {
    fn new(dir: &Path) -> Result<Self, CliError> {
        let io = |e: std::io::Error| -> CliError { format!("block-causal copy: {e}").into() };
        let to = std::env::temp_dir().join(format!("tessera-bench-bc-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&to);
        std::fs::create_dir_all(&to).map_err(io)?;
        let copy = BlockCausalCopy(to);
        for entry in std::fs::read_dir(dir).map_err(io)? {
            let path = std::fs::canonicalize(entry.map_err(io)?.path()).map_err(io)?;
            let file = path.file_name().unwrap_or_default().to_owned();
            if file == "config.json" {
                let text = std::fs::read_to_string(&path).map_err(io)?;
                let mut config: serde_json::Value = serde_json::from_str(&text)
                    .map_err(|e| -> CliError { format!("{}: {e}", path.display()).into() })?;
                // cannot fail: `Backbone::load` just read this file as a config object.
                config["attention"] = Attention::BlockCausal.to_string().into();
                std::fs::write(copy.0.join(file), config.to_string()).map_err(io)?;
            } else {
                std::os::unix::fs::symlink(&path, copy.0.join(file)).map_err(io)?;
            }
        }
        Ok(copy)
    }
}

impl Drop for BlockCausalCopy {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

pub(super) fn median_time(
    repeat: usize,
    mut f: impl FnMut() -> Result<(), tessera::backbone::ForwardError>,
) -> Result<f64, CliError> {
    f()?; // warm-up
    let mut times = Vec::with_capacity(repeat.max(1));
    for _ in 0..repeat.max(1) {
        let start = Instant::now();
        f()?;
        times.push(start.elapsed().as_secs_f64());
    }
    times.sort_by(f64::total_cmp);
    // cannot fail: the loop above ran at least once.
    Ok(times[times.len() / 2])
}
