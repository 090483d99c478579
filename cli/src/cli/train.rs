//! `tessera train --config FILE`: trains a Tessera world model with the masked-diffusion
//! ELBO, writing a loadable model folder (weights, config, tokenizers, loss curve).

use std::path::PathBuf;

use tessera_train::data::{WorldData, adopt_tokenizers};
use tessera_train::{Progress, Start, TrainConfig, train};

use super::CliError;

/// `tessera train`.
#[derive(Debug, clap::Args)]
pub(crate) struct TrainArgs {
    /// Training config (JSON: model, data, steps, batch_size, lr, …; see
    /// `models/tessera-tiny/train.json`).
    #[arg(long)]
    config: PathBuf,
    /// Output model folder (created; receives config.json, tokenizer.json, image-vq/,
    /// audio-vq/, model.safetensors, loss.png and train/ with the resume state).
    #[arg(long, short = 'o')]
    out: PathBuf,
    /// Continue the run checkpointed in `--out` (same config; `steps` may grow).
    #[arg(long, conflicts_with = "init_from")]
    resume: bool,
    /// Start a new run (this config's schedule, task mix and seed; a fresh optimizer) from
    /// the weights and tokenizers of the model folder DIR, e.g. a second stage that trains
    /// a model further on a new task mix. DIR's model must have
    /// the config's dimensions.
    #[arg(long, value_name = "DIR")]
    init_from: Option<PathBuf>,
    /// End this sitting after N steps (a checkpoint is written; `--resume` continues).
    #[arg(long)]
    sitting: Option<u64>,
    /// No progress line.
    #[arg(long)]
    quiet: bool,
}

pub(crate) fn run(args: TrainArgs) -> Result<(), CliError> {
    let cfg = TrainConfig::from_file(&args.config)?;
    if let Some(from) = &args.init_from {
        adopt_tokenizers(from, &args.out, !cfg.data.refit_media)?;
    }
    let data = WorldData::prepare(&cfg, &args.out)?;
    // Keep the config next to the model (unless it already is that file: copying a file
    // onto itself would truncate it).
    let kept = args.out.join("train.json");
    let same = match (args.config.canonicalize(), kept.canonicalize()) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    };
    if !same {
        std::fs::copy(&args.config, &kept)?;
    }
    let bar = super::progress::bar(0, "train", args.quiet);
    let mut report = |p: &Progress| {
        bar.set_length(p.total);
        bar.set_position(p.step);
        bar.set_message(format!(
            "loss {:.4} (avg {:.4}) {:.0} tok/s",
            p.loss, p.smoothed, p.tokens_per_second
        ));
    };
    let start = match (&args.init_from, args.resume) {
        (Some(dir), _) => Start::InitFrom(dir.clone()),
        (None, true) => Start::Resume,
        (None, false) => Start::Fresh,
    };
    let summary = train(&cfg, &data, &args.out, &start, args.sitting, &mut report)?;
    bar.finish_and_clear();
    let last = summary.history.last().map_or(f32::NAN, |r| r.loss);
    println!(
        "trained {} steps ({} this sitting), {} parameters, last loss {last:.4}; model in {}",
        summary.steps,
        summary.ran,
        summary.parameters,
        args.out.display()
    );
    Ok(())
}
