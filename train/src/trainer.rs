//! The training loop: noise a batch, forward, ELBO loss, backward, clip, AdamW; checkpoints
//! with exact resume; progress reports; the loss history (CSV) and its curve (PNG).
//!
//! Determinism: step `s`'s batch and noise come from generators seeded by `(seed, s)` alone,
//! and the weights and optimizer moments are saved in f32, so stopping after any checkpoint
//! and resuming gives the same weights, bit for bit, as an uninterrupted run.

use std::path::{Path, PathBuf};
use std::time::Instant;

use candle_core::backprop::GradStore;
use candle_core::{D, Tensor};
use tessera_modalities::rng::SplitMix64;

use crate::config::TrainConfig;
pub use crate::log_row::LogRow;
use crate::masking::{NoisyBatch, Sequence, noise_batch};
use crate::model::TrainModel;
use crate::optim::AdamW;
use crate::{TrainError, plot};

/// How much longer than a group's shortest row a row may be and still share its forward pass
/// (see [`crate::masking::NoisyBatch::pack`]).
const PACK_SLACK: f64 = 0.25;

/// Rows per shard: each length group is cut into shards of at most this many rows, whose
/// forward and backward passes run on the workers in parallel. A fixed cut (not one per
/// worker) keeps every result independent of the number of workers.
const SHARD_ROWS: usize = 4;

/// Where training data comes from: a deterministic function of the step.
pub trait DataSource {
    /// The sequences of step `step` (`size` of them), the same on every call.
    ///
    /// # Errors
    /// [`TrainError::Data`] when the data cannot be made.
    fn batch(&self, step: u64, size: usize) -> Result<Vec<Sequence>, TrainError>;
    /// The mask id (the model's last embedding row).
    fn mask_id(&self) -> u32;
    /// The id written into right padding.
    fn pad_id(&self) -> u32;
    /// Embedding rows the model needs.
    fn rows(&self) -> usize;
    /// The token ids that are digits (what a place embedding counts; see
    /// [`crate::model::ModelDims::places`]). Empty by default.
    fn digit_ids(&self) -> Vec<u32> {
        Vec::new()
    }
}

/// What the progress callback sees after each step.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Progress {
    /// Steps done.
    pub step: u64,
    /// Steps of the run.
    pub total: u64,
    /// This step's loss.
    pub loss: f32,
    /// Exponential moving average of the loss (α = 0.05).
    pub smoothed: f32,
    /// Real tokens per second over this sitting.
    pub tokens_per_second: f64,
    /// Seconds left at this sitting's pace.
    pub eta_seconds: f64,
}

/// Where a sitting's weights and optimizer come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Start {
    /// Fresh weights from the config's seed, a fresh optimizer.
    Fresh,
    /// The run checkpointed in the output folder: weights, optimizer moments, step and loss
    /// history (its config must equal this one apart from `steps`).
    Resume,
    /// A new run (step 0, fresh optimizer, this config's schedule and data) whose weights
    /// start from the `model.safetensors` of another model folder with the same dimensions:
    /// a second training stage with a different task mix or learning rate.
    InitFrom(PathBuf),
}

/// The result of a sitting.
#[derive(Debug, Clone, PartialEq)]
pub struct Summary {
    /// Steps done in total.
    pub steps: u64,
    /// Steps done in this sitting.
    pub ran: u64,
    /// The loss history of the whole run.
    pub history: Vec<LogRow>,
    /// Parameters.
    pub parameters: usize,
}

/// The files of a run inside its output folder.
#[derive(Debug, Clone)]
pub struct RunFiles {
    /// `model.safetensors`: the weights (LLaDA names, f32).
    pub weights: PathBuf,
    /// `train/optimizer.safetensors`.
    pub optimizer: PathBuf,
    /// `train/state.json`: config and step.
    pub state: PathBuf,
    /// `train/loss.csv`.
    pub history: PathBuf,
    /// `loss.png`.
    pub curve: PathBuf,
}

impl RunFiles {
    /// The files under `out`.
    pub fn new(out: &Path) -> Self {
        RunFiles {
            weights: out.join("model.safetensors"),
            optimizer: out.join("train").join("optimizer.safetensors"),
            state: out.join("train").join("state.json"),
            history: out.join("train").join("loss.csv"),
            curve: out.join("loss.png"),
        }
    }
}

/// Trains per `cfg` on `data`, writing into `out`, starting as `start` says (see [`Start`]). `stop_after` ends the sitting early after that many steps (a
/// checkpoint is written), so a long run can be done in several sittings. `progress` is
/// called after every step.
///
/// # Errors
/// [`TrainError`] for unreadable/mismatched checkpoints, data or tensor failures, and a
/// diverged loss.
pub fn train(
    cfg: &TrainConfig,
    data: &dyn DataSource,
    out: &Path,
    start: &Start,
    stop_after: Option<u64>,
    progress: &mut dyn FnMut(&Progress),
) -> Result<Summary, TrainError> {
    train_with_workers(
        cfg,
        data,
        out,
        start,
        stop_after,
        default_workers(),
        progress,
    )
}

/// How many shard workers [`train`] uses: one per core when candle's own ops are
/// single-threaded (`RAYON_NUM_THREADS=1`, as `tessera train` sets it), else one (candle then
/// spreads each op over the cores itself). At tessera-tiny's size the matrices are too small
/// for candle to keep two cores busy inside one op; two shards at a time do (1.5× on
/// the 2-core machine).
pub fn default_workers() -> usize {
    if candle_core::utils::get_num_threads() == 1 {
        std::thread::available_parallelism().map_or(1, |n| n.get())
    } else {
        1
    }
}

/// [`train`] with `workers` threads running shards' forward and backward passes at once
/// (at least one). Every result is the same, bit for bit, for any number of workers: the
/// shards are fixed and their losses and gradients are summed in shard order.
///
/// # Errors
/// As [`train`].
pub fn train_with_workers(
    cfg: &TrainConfig,
    data: &dyn DataSource,
    out: &Path,
    start: &Start,
    stop_after: Option<u64>,
    workers: usize,
    progress: &mut dyn FnMut(&Progress),
) -> Result<Summary, TrainError> {
    cfg.validate()?;
    let files = RunFiles::new(out);
    std::fs::create_dir_all(out.join("train")).map_err(|e| TrainError::io(out, e))?;
    let rows = data.rows();
    let (mut model, mut opt, mut history, init_from) = match start {
        Start::Resume => {
            let state = read_state(&files.state)?;
            let mut saved = state.config.clone();
            saved.steps = cfg.steps;
            if &saved != cfg {
                return Err(TrainError::Checkpoint(format!(
                    "{} was written by a different config (only `steps` may change on resume)",
                    files.state.display()
                )));
            }
            let model = TrainModel::load(cfg.model.clone(), rows, &files.weights)?;
            let opt = AdamW::load(cfg.adamw(), model.params(), &files.optimizer)?;
            if opt.steps() != state.step {
                return Err(TrainError::Checkpoint(
                    "the optimizer and the state disagree on the step".into(),
                ));
            }
            let history = read_history(&files.history, state.step)?;
            (model, opt, history, state.init_from)
        }
        Start::Fresh => {
            let model = TrainModel::init(cfg.model.clone(), rows, cfg.seed)?;
            let opt = AdamW::new(cfg.adamw(), model.params())?;
            (model, opt, Vec::new(), None)
        }
        Start::InitFrom(dir) => {
            let model = TrainModel::load(cfg.model.clone(), rows, &RunFiles::new(dir).weights)?;
            let opt = AdamW::new(cfg.adamw(), model.params())?;
            (model, opt, Vec::new(), Some(dir.display().to_string()))
        }
    };
    if cfg.model.places > 0 {
        model.set_place_tokens(data.digit_ids(), data.mask_id())?;
    }
    let schedule = cfg.schedule();
    let masking = cfg.masking();
    let start = opt.steps();
    if start > cfg.steps {
        return Err(TrainError::Config {
            field: "steps".into(),
            reason: format!(
                "{} is below the {start} steps the checkpoint has already taken",
                cfg.steps
            ),
        });
    }
    let end = stop_after.map_or(cfg.steps, |n| start.saturating_add(n).min(cfg.steps));
    let began = Instant::now();
    let mut tokens = 0usize;
    let mut smoothed = history.last().map_or(f32::NAN, |r| r.loss);
    for step in start..end {
        let seqs = data.batch(step, cfg.batch_size)?;
        let mut rng = SplitMix64::new(mix(cfg.seed, step, 0x006e_6f69_7365));
        let b = noise_batch(&seqs, data.mask_id(), data.pad_id(), &masking, &mut rng)?;
        tokens += b.tokens;
        let lr = schedule.at(step);
        let (loss, grad_norm) = if b.positions.is_empty() {
            (0.0, 0.0)
        } else {
            let shards: Vec<NoisyBatch> = b
                .pack(PACK_SLACK)
                .into_iter()
                .flat_map(|g| g.split_rows(SHARD_ROWS))
                .filter(|g| !g.positions.is_empty())
                .collect();
            let (value, grads) = shard_gradients(&model, &shards, workers)?;
            if !value.is_finite() {
                return Err(TrainError::Diverged {
                    step: step + 1,
                    loss: value,
                });
            }
            let report = opt.step(model.params(), &grads, lr)?;
            (value, report.grad_norm)
        };
        if b.positions.is_empty() {
            // Nothing masked: the step still counts, so the schedule and the data stay
            // aligned with the step number.
            opt.skip();
        }
        history.push(LogRow {
            step: step + 1,
            loss,
            lr,
            grad_norm,
        });
        smoothed = if smoothed.is_nan() {
            loss
        } else {
            0.95 * smoothed + 0.05 * loss
        };
        let done = step + 1;
        let secs = began.elapsed().as_secs_f64().max(1e-9);
        let pace = secs / (done - start) as f64;
        progress(&Progress {
            step: done,
            total: cfg.steps,
            loss,
            smoothed,
            tokens_per_second: tokens as f64 / secs,
            eta_seconds: pace * (cfg.steps - done) as f64,
        });
        if done.is_multiple_of(cfg.checkpoint_every) || done == end {
            checkpoint(cfg, init_from.as_deref(), &model, &opt, &history, &files)?;
        }
    }
    if start == end {
        checkpoint(cfg, init_from.as_deref(), &model, &opt, &history, &files)?;
    }
    Ok(Summary {
        steps: end,
        ran: end - start,
        parameters: model.parameter_count(),
        history,
    })
}

/// The summed loss of `shards` and the summed gradients of every weight, each shard's
/// forward and backward pass run on one of `workers` threads; sums are taken in shard order.
fn shard_gradients(
    model: &TrainModel,
    shards: &[NoisyBatch],
    workers: usize,
) -> Result<(f32, GradStore), TrainError> {
    let one = |g: &NoisyBatch| -> Result<(f32, GradStore), TrainError> {
        let logits = model.forward(&g.ids, g.batch, &g.valid, &g.positions)?;
        let loss = elbo(&logits, &g.targets, &g.weights)?;
        Ok((loss.to_scalar::<f32>()?, loss.backward()?))
    };
    let workers = workers.clamp(1, shards.len().max(1));
    let results: Vec<Result<(f32, GradStore), TrainError>> = if workers == 1 {
        shards.iter().map(one).collect()
    } else {
        let next = std::sync::atomic::AtomicUsize::new(0);
        let mut slots: Vec<Option<Result<(f32, GradStore), TrainError>>> =
            (0..shards.len()).map(|_| None).collect();
        std::thread::scope(|scope| {
            let handles: Vec<_> = (0..workers)
                .map(|_| {
                    scope.spawn(|| {
                        let mut done = Vec::new();
                        loop {
                            let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                            let Some(g) = shards.get(i) else { break };
                            done.push((i, one(g)));
                        }
                        done
                    })
                })
                .collect();
            for h in handles {
                for (i, r) in h.join().unwrap_or_default() {
                    // cannot fail: `i` indexed `shards`, and `slots` has one slot per shard.
                    slots[i] = Some(r);
                }
            }
        });
        slots
            .into_iter()
            .map(|r| r.unwrap_or_else(|| Err(TrainError::Data("a shard worker stopped".into()))))
            .collect()
    };
    let mut total = 0f32;
    let mut sum = GradStore::default();
    let mut first = true;
    for r in results {
        let (loss, grads) = r?;
        total += loss;
        for v in model.params().values() {
            let Some(g) = grads.get(v.as_tensor()) else {
                continue;
            };
            let merged = match sum.get(v.as_tensor()) {
                Some(have) => (have + g)?,
                None => g.clone(),
            };
            sum.insert(v.as_tensor(), merged);
        }
        first = false;
    }
    if first {
        return Err(TrainError::Data("a batch without loss".into()));
    }
    Ok((total, sum))
}

/// `Σ wᵢ · (−log softmax(logitsᵢ)[targetᵢ])`.
fn elbo(logits: &Tensor, targets: &[u32], weights: &[f32]) -> Result<Tensor, TrainError> {
    let dev = logits.device();
    let max = logits.max_keepdim(D::Minus1)?.detach();
    let shifted = logits.broadcast_sub(&max)?;
    let lse = shifted.exp()?.sum_keepdim(D::Minus1)?.log()?;
    let idx = Tensor::from_slice(targets, (targets.len(), 1), dev)?;
    let picked = shifted.gather(&idx, 1)?;
    let nll = (lse - picked)?.squeeze(1)?;
    let w = Tensor::from_slice(weights, weights.len(), dev)?;
    Ok((nll * w)?.sum_all()?)
}

/// A seed for stream `tag` of step `step`.
pub(crate) fn mix(seed: u64, step: u64, tag: u64) -> u64 {
    let mut r = SplitMix64::new(seed ^ tag.rotate_left(17));
    let a = r.next_u64();
    SplitMix64::new(a ^ step.wrapping_mul(0x9E37_79B9_7F4A_7C15)).next_u64()
}

#[derive(serde::Serialize, serde::Deserialize)]
struct State {
    step: u64,
    config: TrainConfig,
    /// The model folder whose weights the run started from ([`Start::InitFrom`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    init_from: Option<String>,
}

fn read_state(path: &Path) -> Result<State, TrainError> {
    let text = std::fs::read_to_string(path).map_err(|e| TrainError::io(path, e))?;
    serde_json::from_str(&text)
        .map_err(|e| TrainError::Checkpoint(format!("{}: {e}", path.display())))
}

fn read_history(path: &Path, steps: u64) -> Result<Vec<LogRow>, TrainError> {
    let text = std::fs::read_to_string(path).map_err(|e| TrainError::io(path, e))?;
    let mut rows = Vec::new();
    for line in text.lines().skip(1) {
        let f: Vec<&str> = line.split(',').collect();
        let parse = || -> Option<LogRow> {
            Some(LogRow {
                step: f.first()?.parse().ok()?,
                loss: f.get(1)?.parse().ok()?,
                lr: f.get(2)?.parse().ok()?,
                grad_norm: f.get(3)?.parse().ok()?,
            })
        };
        let row = parse().ok_or_else(|| {
            TrainError::Checkpoint(format!("{}: bad line `{line}`", path.display()))
        })?;
        if row.step <= steps {
            rows.push(row);
        }
    }
    Ok(rows)
}

/// Writes weights, optimizer, history, curve and state (state last, each through a
/// temporary file renamed into place, so an interrupted write leaves the previous
/// checkpoint whole).
fn checkpoint(
    cfg: &TrainConfig,
    init_from: Option<&str>,
    model: &TrainModel,
    opt: &AdamW,
    history: &[LogRow],
    files: &RunFiles,
) -> Result<(), TrainError> {
    let tmp = |p: &Path| p.with_extension("tmp");
    let commit = |p: &Path| std::fs::rename(tmp(p), p).map_err(|e| TrainError::io(p, e));
    model.save(&tmp(&files.weights))?;
    opt.save(&tmp(&files.optimizer))?;
    let mut csv = String::from("step,loss,lr,grad_norm\n");
    for r in history {
        csv.push_str(&format!("{},{},{},{}\n", r.step, r.loss, r.lr, r.grad_norm));
    }
    std::fs::write(tmp(&files.history), csv).map_err(|e| TrainError::io(&files.history, e))?;
    plot::loss_curve(history, &tmp(&files.curve))?;
    let state = State {
        step: opt.steps(),
        config: cfg.clone(),
        init_from: init_from.map(str::to_string),
    };
    let json =
        serde_json::to_string_pretty(&state).map_err(|e| TrainError::Checkpoint(e.to_string()))?;
    std::fs::write(tmp(&files.state), json).map_err(|e| TrainError::io(&files.state, e))?;
    for p in [
        &files.weights,
        &files.optimizer,
        &files.history,
        &files.curve,
        &files.state,
    ] {
        commit(p)?;
    }
    Ok(())
}
