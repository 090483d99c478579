//! The trainer end to end on a tiny synthetic task: the loss falls, a resumed run equals an
//! uninterrupted one bit for bit, and the inference backbone loads what the trainer wrote and
//! computes the same logits.

use std::path::{Path, PathBuf};

use tessera_backbone::Backbone;
use tessera_hybrid::DenoiseInput;
use tessera_modalities::rng::SplitMix64;
use tessera_train::masking::Sequence;
use tessera_train::model::TrainModel;
use tessera_train::{DataSource, Start, TrainConfig, TrainError, train, train_with_workers};

/// Answer = the prompt's digits reversed: prompt `1 d₁ … d₄`, answer `d₄ … d₁ 0`.
struct Reverse;

impl DataSource for Reverse {
    fn batch(&self, step: u64, size: usize) -> Result<Vec<Sequence>, TrainError> {
        let mut rng = SplitMix64::new(step);
        Ok((0..size)
            .map(|_| {
                let digits: Vec<u32> = (0..4).map(|_| 2 + rng.below(10) as u32).collect();
                let mut ids = vec![1];
                ids.extend(&digits);
                ids.extend(digits.iter().rev());
                ids.push(0);
                Sequence::new(ids, 5)
            })
            .collect())
    }
    fn mask_id(&self) -> u32 {
        12
    }
    fn pad_id(&self) -> u32 {
        0
    }
    fn rows(&self) -> usize {
        13
    }
}

fn config(steps: u64) -> TrainConfig {
    TrainConfig::from_json(&format!(
        r#"{{"model": {{"d_model": 32, "n_layers": 2, "n_heads": 2, "mlp_hidden_size": 64}},
            "data": {{"tasks": {{"addition": 1.0}}}},
            "steps": {steps}, "batch_size": 16, "lr": 1e-2, "warmup": 5, "weight_decay": 0.01,
            "seed": 3, "checkpoint_every": 2,
            "masking": {{"eps": 0.001, "block_probability": 0.3, "block_lengths": [1, 2]}}}}"#
    ))
    .unwrap()
}

struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> Self {
        let p = std::env::temp_dir().join(format!("tessera-train-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        TempDir(p)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Trains `steps` steps of the test config on [`Reverse`] into `dir`.
fn run(
    steps: u64,
    dir: &Path,
    start: &Start,
    stop: Option<u64>,
) -> Result<tessera_train::Summary, TrainError> {
    train(&config(steps), &Reverse, dir, start, stop, &mut |_| {})
}

fn mean(xs: &[f32]) -> f32 {
    xs.iter().sum::<f32>() / xs.len() as f32
}

#[test]
fn loss_falls_on_a_learnable_task() {
    let dir = TempDir::new("falls");
    // A third of the other tests' rate: at 1e-2 this tiny model's loss wanders by ±20 %
    // over tens of steps, so whether it has fallen enough at step 600 is luck.
    let mut cfg = config(600);
    cfg.lr = 3e-3;
    let s = train(&cfg, &Reverse, &dir.0, &Start::Fresh, None, &mut |_| {}).unwrap();
    let losses: Vec<f32> = s.history.iter().map(|r| r.loss).collect();
    let (first, last) = (mean(&losses[..20]), mean(&losses[losses.len() - 20..]));
    assert!(last < 0.6 * first, "loss {first} → {last}");
    assert!(dir.0.join("loss.png").exists());
    assert!(dir.0.join("train/loss.csv").exists());
}

fn bytes(p: &Path) -> Vec<u8> {
    std::fs::read(p).unwrap()
}

#[test]
fn the_number_of_shard_workers_does_not_change_the_run() {
    let (a, b) = (TempDir::new("one-worker"), TempDir::new("three-workers"));
    // Batches of 16 are cut into shards of at most 4 rows: several shards per step.
    let cfg = config(4);
    train_with_workers(&cfg, &Reverse, &a.0, &Start::Fresh, None, 1, &mut |_| {}).unwrap();
    train_with_workers(&cfg, &Reverse, &b.0, &Start::Fresh, None, 3, &mut |_| {}).unwrap();
    for f in [
        "model.safetensors",
        "train/optimizer.safetensors",
        "train/loss.csv",
    ] {
        assert!(bytes(&a.0.join(f)) == bytes(&b.0.join(f)), "{f} differs");
    }
}

#[test]
fn resuming_gives_the_uninterrupted_run_bit_for_bit() {
    let (a, b) = (TempDir::new("straight"), TempDir::new("resumed"));
    run(6, &a.0, &Start::Fresh, None).unwrap();
    let first = run(6, &b.0, &Start::Fresh, Some(4)).unwrap();
    assert_eq!(first.steps, 4);
    let second = run(6, &b.0, &Start::Resume, None).unwrap();
    assert_eq!((second.steps, second.ran), (6, 2));
    assert_eq!(second.history.len(), 6);
    for f in ["model.safetensors", "train/optimizer.safetensors"] {
        assert!(bytes(&a.0.join(f)) == bytes(&b.0.join(f)), "{f} differs");
    }
    // A different config refuses to resume.
    let mut other = config(6);
    other.lr = 1e-3;
    let err = train(&other, &Reverse, &b.0, &Start::Resume, None, &mut |_| {}).unwrap_err();
    assert!(err.to_string().contains("different config"), "{err}");
    // Fewer steps than the checkpoint has taken are refused by name, not wrapped.
    let err = run(3, &b.0, &Start::Resume, None).unwrap_err();
    assert!(err.to_string().contains("`steps`"), "{err}");
    // A sitting of any length ends at the config's steps.
    let done = run(6, &b.0, &Start::Resume, Some(u64::MAX)).unwrap();
    assert_eq!((done.steps, done.ran), (6, 0));
}

/// [`Reverse`] whose digits (ids 2..=11) a place embedding counts.
struct ReversePlaces;

impl DataSource for ReversePlaces {
    fn batch(&self, step: u64, size: usize) -> Result<Vec<Sequence>, TrainError> {
        Reverse.batch(step, size)
    }
    fn mask_id(&self) -> u32 {
        Reverse.mask_id()
    }
    fn pad_id(&self) -> u32 {
        Reverse.pad_id()
    }
    fn rows(&self) -> usize {
        Reverse.rows()
    }
    fn digit_ids(&self) -> Vec<u32> {
        (2..12).collect()
    }
}

/// Trains 3 steps of `cfg` on `data`, writes the model's config, and checks that the
/// backbone's logits on a canvas with digits and masks equal the trainer's.
fn backbone_matches_trainer(tag: &str, cfg: &TrainConfig, data: &dyn DataSource) {
    let dir = TempDir::new(tag);
    let s = train(cfg, data, &dir.0, &Start::Fresh, None, &mut |_| {}).unwrap();
    assert_eq!(s.steps, 3);
    let mut model =
        TrainModel::load(cfg.model.clone(), 13, &dir.0.join("model.safetensors")).unwrap();
    if cfg.model.places > 0 {
        model.set_place_tokens(data.digit_ids(), 12).unwrap();
    }
    let config = model.llada_config(12, 0, 1);
    assert_eq!(
        config.get("place_embedding").is_some(),
        cfg.model.places > 0
    );
    std::fs::write(dir.0.join("config.json"), config.to_string()).unwrap();
    let backbone = Backbone::load(&dir.0).unwrap();
    let ids: Vec<u32> = vec![1, 3, 4, 5, 6, 12, 12, 7, 12, 0];
    let positions: Vec<usize> = (0..10).collect();
    let want = backbone
        .logits(&DenoiseInput::new(&ids, 10, &positions))
        .unwrap();
    let flat: Vec<u32> = (0..10).collect();
    let got = model
        .forward(&ids, 1, &[true; 10], &flat)
        .unwrap()
        .flatten_all()
        .unwrap()
        .to_vec1::<f32>()
        .unwrap();
    let want = want.as_slice();
    assert_eq!(got.len(), want.len());
    let diff = got
        .iter()
        .zip(want)
        .map(|(a, b)| (a - b).abs())
        .fold(0f32, f32::max);
    assert!(diff < 1e-4, "{tag}: max |Δ| {diff}");
}

#[test]
fn the_backbone_computes_the_trainers_logits() {
    backbone_matches_trainer("parity", &config(3), &Reverse);
}

#[test]
fn a_place_embedding_is_trained_saved_and_loaded_by_the_backbone() {
    let mut cfg = config(3);
    cfg.model.places = 6;
    backbone_matches_trainer("places", &cfg, &ReversePlaces);
    // Without digits to count, the trainer refuses before its first step.
    let dir = TempDir::new("places-no-digits");
    let err = train(&cfg, &Reverse, &dir.0, &Start::Fresh, None, &mut |_| {}).unwrap_err();
    assert!(err.to_string().contains("model.places"), "{err}");
    // A place embedding changes the logits: the same weights without it differ.
    let dir = TempDir::new("places-matter");
    train(
        &cfg,
        &ReversePlaces,
        &dir.0,
        &Start::Fresh,
        None,
        &mut |_| {},
    )
    .unwrap();
    let mut with =
        TrainModel::load(cfg.model.clone(), 13, &dir.0.join("model.safetensors")).unwrap();
    with.set_place_tokens((2..12).collect(), 12).unwrap();
    let logits = |m: &TrainModel| {
        m.forward(&[1, 3, 4, 12, 12, 0], 1, &[true; 6], &[3, 4])
            .unwrap()
            .flatten_all()
            .unwrap()
            .to_vec1::<f32>()
            .unwrap()
    };
    let mut bad = cfg.model.clone();
    bad.places = 1;
    let err = TrainModel::init(bad, 13, 1).unwrap_err();
    assert!(err.to_string().contains("places"), "{err}");
    let mut other = with_places_zeroed(&cfg, &dir.0);
    other.set_place_tokens((2..12).collect(), 12).unwrap();
    assert_ne!(logits(&with), logits(&other));
}

/// The model of `dir` with its place embedding set to zero.
fn with_places_zeroed(cfg: &TrainConfig, dir: &Path) -> TrainModel {
    let path = dir.join("model.safetensors");
    let mut tensors = candle_core::safetensors::load(&path, &candle_core::Device::Cpu).unwrap();
    let name = tessera_backbone::places::PLACE_TENSOR.to_string();
    let zero = tensors[&name].zeros_like().unwrap();
    tensors.insert(name, zero);
    let out = dir.join("zeroed.safetensors");
    candle_core::safetensors::save(&tensors, &out).unwrap();
    TrainModel::load(cfg.model.clone(), 13, &out).unwrap()
}

#[test]
fn a_second_stage_starts_from_another_runs_weights() {
    let (a, b, c) = (
        TempDir::new("stage1"),
        TempDir::new("stage2"),
        TempDir::new("stage2-wrong"),
    );
    let first = run(150, &a.0, &Start::Fresh, None).unwrap();
    let from = Start::InitFrom(a.0.clone());
    // Zero steps: the checkpoint is the source's weights, the run is at step 0.
    let none = run(6, &b.0, &from, Some(0)).unwrap();
    assert_eq!((none.steps, none.ran), (0, 0));
    let load = |d: &Path| {
        TrainModel::load(config(1).model, 13, &d.join("model.safetensors"))
            .unwrap()
            .forward(&[1, 3, 12, 12, 0], 1, &[true; 5], &[0, 1, 2, 3, 4])
            .unwrap()
            .flatten_all()
            .unwrap()
            .to_vec1::<f32>()
            .unwrap()
    };
    assert_eq!(load(&a.0), load(&b.0));
    let state = std::fs::read_to_string(b.0.join("train/state.json")).unwrap();
    assert!(state.contains("init_from"), "{state}");
    // Its first step sees the batch a fresh model saw first (same seed, step 0): the
    // trained weights do far better on it.
    let second = run(6, &b.0, &Start::Resume, None).unwrap();
    assert_eq!((second.steps, second.history.len()), (6, 6));
    let fresh = first.history[0].loss;
    assert!(
        second.history[0].loss < 0.7 * fresh,
        "{second:?} vs {fresh}"
    );
    // Other dimensions: a typed error naming the tensor.
    let mut wide = config(6);
    wide.model.d_model = 64;
    let err = train(&wide, &Reverse, &c.0, &from, None, &mut |_| {}).unwrap_err();
    assert!(matches!(err, TrainError::Checkpoint(_)), "{err}");
    assert!(err.to_string().contains("shape"), "{err}");
}
