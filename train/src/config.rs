//! The training config (`tessera train --config FILE`): one JSON file, every field named,
//! unknown fields refused, so a run is described completely by its config and seed.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};
use tessera_modalities::image::PatchVq;
use tessera_modalities::tessera::TextAlign;
use tessera_worlds::OperandDraw;

use crate::TrainError;
use crate::masking::MaskingOptions;
use crate::model::ModelDims;
use crate::optim::AdamWParams;
use crate::schedule::WarmupCosine;

/// A whole training run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrainConfig {
    /// The transformer's dimensions.
    pub model: ModelDims,
    /// What it is trained on.
    pub data: DataConfig,
    /// Optimizer steps of the whole run.
    pub steps: u64,
    /// Sequences per step.
    pub batch_size: usize,
    /// Peak learning rate.
    pub lr: f64,
    /// Final learning rate as a fraction of `lr` (cosine floor).
    #[serde(default = "default_min_lr_ratio")]
    pub min_lr_ratio: f64,
    /// Linear warm-up steps.
    #[serde(default)]
    pub warmup: u64,
    /// AdamW decoupled weight decay (matrices only).
    #[serde(default)]
    pub weight_decay: f64,
    /// AdamW β₁.
    #[serde(default = "default_beta1")]
    pub beta1: f64,
    /// AdamW β₂.
    #[serde(default = "default_beta2")]
    pub beta2: f64,
    /// Global gradient-norm clip (0 = off).
    #[serde(default = "default_clip")]
    pub clip: f64,
    /// Seed of the weights, the data order and the noise.
    #[serde(default)]
    pub seed: u64,
    /// The noise of the objective.
    #[serde(default)]
    pub masking: MaskingConfig,
    /// Steps between checkpoints (the last step always writes one).
    #[serde(default = "default_every")]
    pub checkpoint_every: u64,
}

/// The data of the Tessera worlds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DataConfig {
    /// Task name → sampling weight (`t2i`, `caption`, `t2a`, `transcribe`, `addition`,
    /// `sorting`, `sudoku`). Each row of a batch draws its task by weight.
    pub tasks: BTreeMap<String, f64>,
    /// Length of a text answer (answer + `<|eos|>` padding).
    #[serde(default = "default_text_length")]
    pub text_length: usize,
    /// Side of the image tokenizer's square patches.
    #[serde(default = "default_patch")]
    pub image_patch: usize,
    /// Codewords of the image tokenizer (the shapes world has 260 distinct 8×8 patches).
    #[serde(default = "default_image_codes")]
    pub image_codes: usize,
    /// Samples per audio code frame (16 kHz; 400 aligns frames with the 4000-sample notes).
    #[serde(default = "default_frame")]
    pub audio_frame: usize,
    /// Codewords of each level of the audio tokenizer.
    #[serde(default = "default_audio_codes")]
    pub audio_codes: usize,
    /// Levels of the audio tokenizer (residual: each level codes what the previous ones
    /// left). A clip's answer is level-major and is decoded coarse to fine.
    #[serde(default = "default_levels", skip_serializing_if = "is_one")]
    pub audio_levels: usize,
    /// Where text answers sit in their span (`left`: answer then `<|eos|>` padding, the
    /// default; `right`: padding then answer, so a number's digits line up by significance).
    /// Written into the model's `config.json`, so generation uses the same layout.
    #[serde(default, skip_serializing_if = "is_left")]
    pub text_align: TextAlign,
    /// How training draws addition operands (`uniform`, the default and the held-out
    /// distribution, or `balanced`: each operand's digit count uniform in 1..=3 first).
    #[serde(default = "default_draw", skip_serializing_if = "is_uniform")]
    pub addition_operands: OperandDraw,
    /// Share of the pictures and tunes that tasks read (captioning, transcription, caption
    /// filling) drawn with natural variation: each such example draws a rendering family
    /// uniformly from those that vary its input ([`tessera_worlds::Rendering::varied_for`])
    /// and a rendering from it. 0 (the default): canonical renderings only. What a model
    /// *generates* (t2i, t2a) is always taught on the canonical rendering.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub varied_inputs: f64,
    /// Of the varied examples, the share drawn from the `all` family (every aspect of the
    /// input varied at once); the rest draw one aspect uniformly. Unset (the default): one
    /// draw uniform over every varied family, `all` included — one in six for pictures.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub varied_all: Option<f64>,
    /// Varied tunes (drawn as `varied_inputs` draws them, from a stream of their own) added
    /// to the canonical 512 when fitting the audio tokenizer. 0 (the default): canonical only.
    #[serde(default, skip_serializing_if = "is_zero_count")]
    pub fit_varied_tunes: usize,
    /// Varied pictures added to the canonical 210 when fitting the image tokenizer. 0 (the
    /// default): canonical only — which keeps more codes the same under variation (a noisy
    /// background still codes as background; see the training recipe).
    #[serde(default, skip_serializing_if = "is_zero_count")]
    pub fit_varied_pictures: usize,
    /// Read pictures at the offset within this many pixels that the picture codebook fits
    /// best ([`tessera_modalities::image::PatchVq::with_alignment`]), in training and in
    /// the model folder's codec (saved with it). 0 (the default): the codec's own alignment
    /// (none for a freshly fitted one).
    #[serde(default, skip_serializing_if = "is_zero_u32")]
    pub image_align: u32,
    /// Give the audio tokenizer a listening analysis fitted on its clips
    /// ([`tessera_modalities::audio::FrameVq::with_analysis`]): heard audio is then coded by
    /// the codeword that sounds nearest, whatever its phase or loudness.
    #[serde(default, skip_serializing_if = "is_false")]
    pub audio_analysis: bool,
    /// With `--init-from`: fit new image and audio tokenizers (this config's sizes, so the
    /// token space keeps its shape) instead of adopting the initial model's; the text
    /// tokenizer is still adopted. The initial weights' picture and sound knowledge is then
    /// relearned on the new codes.
    #[serde(default, skip_serializing_if = "is_false")]
    pub refit_media: bool,
}

fn is_zero(x: &f64) -> bool {
    *x == 0.0
}

fn is_zero_u32(x: &u32) -> bool {
    *x == 0
}

fn is_zero_count(x: &usize) -> bool {
    *x == 0
}

fn is_false(x: &bool) -> bool {
    !*x
}

/// The objective's noise (see [`crate::masking`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MaskingConfig {
    /// Smallest mask probability.
    pub eps: f64,
    /// Chance of block-structured noise per sequence.
    pub block_probability: f64,
    /// Block lengths drawn from.
    pub block_lengths: Vec<usize>,
}

impl Default for MaskingConfig {
    fn default() -> Self {
        MaskingConfig {
            eps: 1e-3,
            block_probability: 0.0,
            block_lengths: Vec::new(),
        }
    }
}

fn default_min_lr_ratio() -> f64 {
    0.1
}
fn default_beta1() -> f64 {
    0.9
}
fn default_beta2() -> f64 {
    0.98
}
fn default_clip() -> f64 {
    1.0
}
fn default_every() -> u64 {
    100
}
fn default_text_length() -> usize {
    tessera_modalities::tessera::DEFAULT_TEXT_LENGTH
}
fn default_patch() -> usize {
    8
}
fn default_frame() -> usize {
    400
}
fn default_image_codes() -> usize {
    272
}
fn default_audio_codes() -> usize {
    192
}
fn default_levels() -> usize {
    1
}
fn default_draw() -> OperandDraw {
    OperandDraw::Uniform
}
fn is_uniform(d: &OperandDraw) -> bool {
    *d == OperandDraw::Uniform
}
fn is_left(a: &TextAlign) -> bool {
    *a == TextAlign::Left
}
fn is_one(n: &usize) -> bool {
    *n == 1
}

impl TrainConfig {
    /// Reads and validates `path`.
    ///
    /// # Errors
    /// [`TrainError::Io`] if unreadable, [`TrainError::Config`] naming the bad field.
    pub fn from_file(path: &Path) -> Result<Self, TrainError> {
        let text = std::fs::read_to_string(path).map_err(|e| TrainError::io(path, e))?;
        Self::from_json(&text)
    }

    /// Parses and validates a config.
    ///
    /// # Errors
    /// [`TrainError::Config`] naming the bad field.
    pub fn from_json(text: &str) -> Result<Self, TrainError> {
        let cfg: TrainConfig = serde_json::from_str(text).map_err(|e| TrainError::Config {
            field: "(json)".into(),
            reason: e.to_string(),
        })?;
        cfg.validate()?;
        Ok(cfg)
    }

    /// Checks every field's range.
    ///
    /// # Errors
    /// [`TrainError::Config`] naming the bad field.
    pub fn validate(&self) -> Result<(), TrainError> {
        let bad = |field: &str, reason: &str| {
            Err(TrainError::Config {
                field: field.into(),
                reason: reason.into(),
            })
        };
        self.model.validate()?;
        if self.steps == 0 {
            return bad("steps", "must be at least 1");
        }
        if self.batch_size == 0 {
            return bad("batch_size", "must be at least 1");
        }
        if !(self.lr > 0.0 && self.lr.is_finite()) {
            return bad("lr", "must be a positive number");
        }
        if !(0.0..=1.0).contains(&self.min_lr_ratio) {
            return bad("min_lr_ratio", "must be in [0, 1]");
        }
        if !(0.0..1.0).contains(&self.beta1) || !(0.0..1.0).contains(&self.beta2) {
            return bad("beta1", "β₁ and β₂ must be in [0, 1)");
        }
        if self.weight_decay < 0.0 || self.clip < 0.0 {
            return bad("weight_decay", "weight_decay and clip must not be negative");
        }
        if self.checkpoint_every == 0 {
            return bad("checkpoint_every", "must be at least 1");
        }
        if self.data.audio_levels == 0 {
            return bad("data.audio_levels", "must be at least 1");
        }
        if !(0.0..=1.0).contains(&self.data.varied_inputs) {
            return bad("data.varied_inputs", "must be in [0, 1]");
        }
        if let Some(all) = self.data.varied_all
            && !(0.0..=1.0).contains(&all)
        {
            return bad("data.varied_all", "must be in [0, 1]");
        }
        if self.data.fit_varied_tunes > 100_000 {
            return bad("data.fit_varied_tunes", "must be at most 100000");
        }
        if self.data.fit_varied_pictures > 100_000 {
            return bad("data.fit_varied_pictures", "must be at most 100000");
        }
        if self.data.image_align > PatchVq::MAX_ALIGN {
            let most = PatchVq::MAX_ALIGN;
            return bad(
                "data.image_align",
                &format!("must be at most {most} pixels"),
            );
        }
        let m = &self.masking;
        if !(m.eps > 0.0 && m.eps < 1.0) {
            return bad("masking.eps", "must be in (0, 1)");
        }
        if !(0.0..=1.0).contains(&m.block_probability) {
            return bad("masking.block_probability", "must be in [0, 1]");
        }
        if m.block_lengths.contains(&0) || (m.block_probability > 0.0 && m.block_lengths.is_empty())
        {
            return bad(
                "masking.block_lengths",
                "positive lengths, at least one when used",
            );
        }
        let d = &self.data;
        if d.tasks.is_empty() || d.tasks.values().any(|w| !(*w >= 0.0 && w.is_finite())) {
            return bad("data.tasks", "non-negative weights, at least one task");
        }
        if d.tasks.values().sum::<f64>() <= 0.0 {
            return bad("data.tasks", "the weights sum to zero");
        }
        if let Some(name) = d
            .tasks
            .keys()
            .find(|n| tessera_worlds::Task::parse(n).is_err())
        {
            return bad("data.tasks", &format!("unknown task `{name}`"));
        }
        if !(2..=1024).contains(&d.text_length) {
            return bad("data.text_length", "must be in 2..=1024");
        }
        if d.image_patch == 0 || !64usize.is_multiple_of(d.image_patch) {
            return bad("data.image_patch", "must divide 64");
        }
        if !(1..=65_536).contains(&d.image_codes) || !(1..=65_536).contains(&d.audio_codes) {
            return bad("data.image_codes", "codebook sizes must be in 1..=65536");
        }
        if !(2..=4000).contains(&d.audio_frame) {
            return bad("data.audio_frame", "must be in 2..=4000");
        }
        Ok(())
    }

    pub(crate) fn schedule(&self) -> WarmupCosine {
        WarmupCosine {
            peak: self.lr,
            warmup: self.warmup,
            total: self.steps,
            min_ratio: self.min_lr_ratio,
        }
    }

    pub(crate) fn adamw(&self) -> AdamWParams {
        AdamWParams {
            beta1: self.beta1,
            beta2: self.beta2,
            eps: 1e-8,
            weight_decay: self.weight_decay,
            clip: self.clip,
        }
    }

    pub(crate) fn masking(&self) -> MaskingOptions {
        MaskingOptions {
            eps: self.masking.eps,
            block_probability: self.masking.block_probability,
            block_lengths: self.masking.block_lengths.clone(),
        }
    }
}
