//! `tessera eval`: a world model's accuracy per task and decoding policy on held-out
//! examples, with forward passes per token and throughput, in one run.

use std::path::PathBuf;

use tessera::eval::{EvalConfig, EvalPolicy, EvalRow, Pick, evaluate, summarize, tasks_for};
use tessera::{Dtype, Engine, EngineOptions};
use tessera_worlds::{Rendering, Task};

use super::CliError;

/// `tessera eval`.
#[derive(Debug, clap::Args)]
pub(crate) struct EvalArgs {
    /// Model folder (default: tessera-tiny).
    #[arg(long)]
    model: Option<PathBuf>,
    /// Tasks, comma-separated (t2i, caption, t2a, transcribe, addition, sorting, sudoku,
    /// fill-addition, fill-sorting, fill-caption; default all the model does).
    #[arg(long, value_delimiter = ',')]
    tasks: Vec<String>,
    /// Policies, comma-separated (ar, diffusion, diffusion-half, parallel, block, hybrid, each
    /// with an optional +refine or +recheck, then an optional +prefix or +dual cache; default:
    /// ar, diffusion, block and hybrid, with and without +refine).
    #[arg(long, value_delimiter = ',')]
    policies: Vec<String>,
    /// Held-out examples per task.
    #[arg(long, default_value_t = 200)]
    n: usize,
    /// Examples decoded together (at most the engine's `max_prompts`, 64).
    #[arg(long, default_value_t = 64)]
    batch: usize,
    /// Renderings of the pictures to caption and the tunes to transcribe, comma-separated:
    /// canonical (default); tunes: phase, amplitude, detune, timing, noise, timbre; pictures:
    /// shift, size, colour, antialias, background; or all (every aspect at once). Each gives
    /// of those two tasks whose input it changes a row per policy.
    #[arg(long, value_delimiter = ',')]
    renderings: Vec<String>,
    /// Policies of the rows of non-canonical renderings, comma-separated (default: every one
    /// of --policies), e.g. `--varied-policies hybrid` for a robustness table.
    #[arg(long, value_delimiter = ',')]
    varied_policies: Vec<String>,
    /// Compute precision (f32, bf16, f16, q8_0, q4_0, q4k, q6k; default: the checkpoint's).
    #[arg(long, value_parser = super::generate::parse_dtype)]
    dtype: Option<Dtype>,
    /// Print one JSON object instead of the table.
    #[arg(long)]
    json: bool,
    /// After the rows, per task: the best policy committing one token per forward, the
    /// fastest policy within one point of it, and that policy with remasking (run the
    /// policies to compare, e.g. `--policies
    /// ar,diffusion,parallel@0.5,parallel@0.9,parallel@0.5+refine,parallel@0.9+refine`).
    #[arg(long)]
    summary: bool,
}

pub(crate) fn run(args: EvalArgs) -> Result<(), CliError> {
    let loading = super::progress::spinner("loading the model", args.json);
    let mut opts = EngineOptions::default();
    opts.dtype = args.dtype;
    let engine = Engine::load_with(super::model_dir(args.model.as_deref())?, &opts)?;
    loading.finish_and_clear();
    let mut cfg = EvalConfig {
        n: args.n,
        batch: args.batch,
        ..EvalConfig::default()
    };
    // By default every task the model was trained for: the fill tasks need a model that fills
    // blanks.
    cfg.tasks = tasks_for(&engine);
    if !args.tasks.is_empty() {
        cfg.tasks = args
            .tasks
            .iter()
            .map(|t| Task::parse(t).map_err(|e| e.to_string()))
            .collect::<Result<_, _>>()?;
    }
    if !args.policies.is_empty() {
        cfg.policies = args
            .policies
            .iter()
            .map(|p| EvalPolicy::parse(p))
            .collect::<Result<_, _>>()?;
    }
    cfg.varied_policies = args
        .varied_policies
        .iter()
        .map(|p| EvalPolicy::parse(p))
        .collect::<Result<_, _>>()?;
    if !args.renderings.is_empty() {
        cfg.renderings = args
            .renderings
            .iter()
            .map(|r| Rendering::parse(r).map_err(|e| e.to_string()))
            .collect::<Result<_, _>>()?;
    }
    let json = args.json;
    if !json {
        println!(
            "| task | rendering | policy | accuracy | correct/n | forwards/token | tokens/s | revised |\n|---|---|---|---|---|---|---|---|"
        );
    }
    let runs: usize = cfg
        .tasks
        .iter()
        .flat_map(|&t| cfg.renderings_for(t))
        .map(|r| cfg.policies_for(&r).len())
        .sum();
    let bar = super::progress::bar(runs as u64, "eval", json);
    let rows = evaluate(&engine, &cfg, &mut |r: &EvalRow| {
        bar.inc(1);
        if !json {
            println!(
                "| {} | {} | {} | {:.1} % | {}/{} | {:.3} | {:.0} | {} |",
                r.task,
                r.rendering,
                r.policy,
                100.0 * r.accuracy,
                r.correct,
                r.n,
                r.forwards_per_token,
                r.tokens_per_second,
                r.revised
            );
        }
    })?;
    bar.finish_and_clear();
    let summary = args.summary.then(|| summarize(&rows));
    if json {
        let mut out = serde_json::json!({ "n": cfg.n, "rows": rows });
        if let Some(s) = &summary {
            out["summary"] = serde_json::json!(s);
        }
        println!("{out}");
    } else if let Some(summary) = &summary {
        println!(
            "\n| task | rendering | best one-token policy | fastest within 1 point | with remasking |\n|---|---|---|---|---|"
        );
        let pick = |p: &Pick| {
            format!(
                "{} {:.1} % ({:.2} tokens/forward)",
                p.policy,
                100.0 * p.accuracy,
                1.0 / p.forwards_per_token.max(1e-9)
            )
        };
        for s in summary {
            println!(
                "| {} | {} | {} | {} | {} |",
                s.task,
                s.rendering,
                pick(&s.best_one_token),
                pick(&s.fastest_within),
                s.fastest_with_remask.as_ref().map_or("—".into(), pick)
            );
        }
    }
    Ok(())
}
