//! `tessera bench train`: training throughput of a world-model config, one shard worker
//! against one per core, measured side by side in one run (candle single-threaded per op in
//! both, as `tessera train` runs it; one worker runs at the speed candle's own threads gave
//! before shards existed). Both runs train the same steps from the same seed, so their last
//! losses are equal: the number of workers does not change the result.

use std::path::PathBuf;
use std::time::Instant;

use tessera_train::data::{WorldData, adopt_tokenizers};
use tessera_train::{Start, TrainConfig, default_workers, train_with_workers};

use super::CliError;

/// Options of `bench train`.
#[derive(Debug, clap::Args)]
pub(crate) struct TrainBenchArgs {
    /// Training config (default: the embedded model's `train.json`).
    #[arg(long)]
    config: Option<PathBuf>,
    /// Model folder whose tokenizers the runs use (default: the embedded model).
    #[arg(long)]
    model: Option<PathBuf>,
    /// Timed steps per run (after one untimed warm-up step).
    #[arg(long, default_value_t = 12)]
    steps: u64,
    /// Print JSON lines instead of a table.
    #[arg(long)]
    json: bool,
}

pub(crate) fn run(args: TrainBenchArgs) -> Result<(), CliError> {
    let model = super::model_dir(args.model.as_deref())?;
    let mut cfg = TrainConfig::from_file(&args.config.unwrap_or_else(|| model.join("train.json")))?;
    let steps = args.steps.max(1);
    cfg.steps = steps.saturating_add(1);
    cfg.checkpoint_every = cfg.steps;
    let dir = std::env::temp_dir().join(format!("tessera-bench-train-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    adopt_tokenizers(&model, &dir, true)?;
    let data = WorldData::prepare(&cfg, &dir)?;
    let many = default_workers();
    let mut rows = Vec::new();
    for workers in [1, many] {
        let out = dir.join(format!("w{workers}"));
        std::fs::create_dir_all(&out)?;
        let mut timer: Option<Instant> = None;
        let summary =
            train_with_workers(&cfg, &data, &out, &Start::Fresh, None, workers, &mut |p| {
                // The first step warms up; the clock starts after it (the last checkpoint's write
                // is inside the timed part of both runs alike).
                if p.step == 1 {
                    timer = Some(Instant::now());
                }
            })?;
        let seconds = timer.map_or(0.0, |t| t.elapsed().as_secs_f64());
        let last = summary.history.last().map_or(f32::NAN, |r| r.loss);
        rows.push((workers, seconds / steps as f64, last));
        if many == 1 {
            break;
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
    // cannot fail: the loop's first run always pushes a row.
    let base = rows[0].1;
    if !args.json {
        println!("| workers | s/step | ratio vs 1 worker | last loss |");
        println!("|---|---|---|---|");
    }
    for &(workers, per_step, last) in &rows {
        if args.json {
            println!(
                "{}",
                serde_json::json!({"bench": "train", "workers": workers, "seconds_per_step": per_step,
                                   "speedup": base / per_step, "last_loss": last})
            );
        } else {
            println!(
                "| {workers} | {per_step:.3} | {:.2}× | {last:.4} |",
                base / per_step
            );
        }
    }
    Ok(())
}
