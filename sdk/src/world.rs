//! Tasks of Tessera's own unified models (`tessera-tiny`): text, text → image, image →
//! caption, notes → audio, audio → notes. One model, one token space; every task is the
//! model's template ([`TesseraPrompting`]) followed by a span the decoding controller fills,
//! restricted to the span's modality (image positions only become image codes, and so on).
//!
//! ```no_run
//! use tessera::{DecodeOptions, Engine, TaskInput, TaskRequest, WorldTask};
//! let engine = Engine::load("models/tessera-tiny")?;
//! let req = TaskRequest::new(WorldTask::Text, TaskInput::Text("123+45=".into()));
//! let out = engine.run_task(&req)?;
//! assert_eq!(out.outputs[0].text.as_deref(), Some("168"));
//! # Ok::<(), tessera::Error>(())
//! ```

use std::path::Path;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use tessera_modalities::audio::{AudioTokenizer, load_audio_tokenizer};
use tessera_modalities::image::{ImageTokenizer, load_image_tokenizer};
use tessera_modalities::tessera::TesseraPrompting;
use tessera_modalities::{AnswerSpan, Canvas, Modality, TextTokenizer, TokenSpace};

use crate::{DecodeOptions, Error, Policy, Segment, Stats, Unmask};

/// Confidence threshold of the world tasks' default decoding.
pub const DEFAULT_THRESHOLD: f64 = 0.9;

/// Codes per step on the finer levels of a multi-level clip: coarse to fine, as SoundStorm
/// and MaskGCT decode residual codes — level 0 (which carries the content) gets a step per
/// frame by default, each finer level (which refines it) one step per this many frames.
pub const FINE_CODES_PER_STEP: usize = 8;

/// A task of a Tessera world model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum WorldTask {
    /// Text prompt → text answer (`123+45=`, `sort 5 3 9 1 =`, `sudoku … =`).
    Text,
    /// Caption → image codes.
    T2i,
    /// Image codes → caption.
    Caption,
    /// Note names → audio codes.
    T2a,
    /// Audio codes → note names.
    Transcribe,
}

impl WorldTask {
    /// Every task.
    pub const ALL: [WorldTask; 5] = [
        WorldTask::Text,
        WorldTask::T2i,
        WorldTask::Caption,
        WorldTask::T2a,
        WorldTask::Transcribe,
    ];

    /// The task's name (`text`, `t2i`, `caption`, `t2a`, `transcribe`).
    pub fn name(self) -> &'static str {
        match self {
            WorldTask::Text => "text",
            WorldTask::T2i => "t2i",
            WorldTask::Caption => "caption",
            WorldTask::T2a => "t2a",
            WorldTask::Transcribe => "transcribe",
        }
    }

    /// The task named `name`.
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.name() == name)
    }

    /// The task's default decoding, used when a request sets none of `policy`, `unmask`,
    /// `block_length` and `steps` (per-modality defaults of the hybrid controller): text is
    /// decoded block-wise and adaptively (`hybrid`, blocks of 8, threshold 0.9: parallel
    /// steps where the model is sure, single tokens where it is not); pictures and sounds,
    /// whose codes depend on each other less, fully in parallel (`diffusion` over the whole
    /// span with threshold 0.9). `tessera eval` measures these against one token per step.
    pub fn default_options(self, length: usize, mut options: DecodeOptions) -> DecodeOptions {
        let untouched = options.policy.is_none()
            && options.unmask.is_none()
            && options.block_length.is_none()
            && options.steps.is_none()
            && options.segments.is_none();
        if !untouched {
            return options;
        }
        options.unmask = Some(Unmask::Threshold(DEFAULT_THRESHOLD));
        match self.output() {
            Modality::Text => {
                options.policy = Some(Policy::Hybrid);
                options.block_length = Some(if length.is_multiple_of(8) { 8 } else { length });
            }
            _ => options.policy = Some(Policy::Diffusion),
        }
        options
    }

    /// What the task generates.
    pub fn output(self) -> Modality {
        match self {
            WorldTask::T2i => Modality::Image,
            WorldTask::T2a => Modality::Audio,
            _ => Modality::Text,
        }
    }
}

impl std::fmt::Display for WorldTask {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// The input of one task instance.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum TaskInput {
    /// A text prompt, caption or note names (`text`, `t2i`, `t2a`).
    Text(String),
    /// Image codebook entries, row-major (`caption`).
    ImageCodes(Vec<u32>),
    /// Audio codebook entries, level-major (`transcribe`): every frame of level 0, then
    /// every frame of level 1, … (`AudioCodes::codes.concat()`).
    AudioCodes(Vec<u32>),
}

/// The levels of level-major audio codes (`levels` equal parts, one per residual level).
///
/// # Errors
/// [`Error::InvalidRequest`] naming `field` when the codes are empty or not a whole number of
/// frames of `levels` levels.
pub(crate) fn split_levels<'c>(
    codes: &'c [u32],
    levels: usize,
    field: &str,
) -> Result<std::slice::Chunks<'c, u32>, Error> {
    let levels = levels.max(1);
    if codes.is_empty() || !codes.len().is_multiple_of(levels) {
        return Err(Error::invalid(
            field,
            format!(
                "has {} codes, not a whole number of frames of the tokenizer's {levels} levels \
                 (level-major)",
                codes.len()
            ),
        ));
    }
    // cannot fail: the codes are non-empty and a multiple of `levels`, so the size is ≥ 1.
    Ok(codes.chunks(codes.len() / levels))
}

/// The decoding segments of a level-major multi-level answer (`spans`, one per level):
/// coarse to fine. With `options.segments` unset, level 0 gets `options.steps` steps (default:
/// one per frame) and every finer level `⌈steps / FINE_CODES_PER_STEP⌉`, all with
/// `options.policy` (default `diffusion`), and `options.steps` becomes their total. Segments
/// the request gives must follow the levels (one per level, of its length); those without a
/// vocabulary get their level's.
pub(crate) fn coarse_to_fine(
    spans: &[AnswerSpan],
    options: &mut DecodeOptions,
) -> Result<(), Error> {
    if let Some(given) = options.segments.as_mut() {
        let follows = given.len() == spans.len()
            && given.iter().zip(spans).all(|(g, s)| g.length == s.length);
        if !follows {
            return Err(Error::invalid(
                "segments",
                format!(
                    "the answer has {} audio levels of {} codes each, decoded level by level: \
                     give one segment per level",
                    spans.len(),
                    spans.first().map_or(0, |s| s.length)
                ),
            ));
        }
        for (level, (g, s)) in given.iter_mut().zip(spans).enumerate() {
            let vocab = g.vocab.get_or_insert_with(|| s.vocab.clone());
            if *vocab != s.vocab {
                return Err(Error::invalid(
                    "segments",
                    format!(
                        "segment {level} draws from ids {vocab:?}, but audio level {level} is {:?}",
                        s.vocab
                    ),
                ));
            }
        }
        return Ok(());
    }
    let policy = options.policy.unwrap_or(Policy::Diffusion);
    let frames = spans.first().map_or(0, |s| s.length);
    let coarse = options.steps.unwrap_or(frames).clamp(1, frames.max(1));
    let fine = coarse.div_ceil(FINE_CODES_PER_STEP);
    let segments: Vec<Segment> = spans
        .iter()
        .enumerate()
        .map(|(level, s)| {
            Segment::new(s.length, policy)
                .vocab(s.vocab.clone())
                .steps(if level == 0 { coarse } else { fine })
        })
        .collect();
    // Saturating: level sizes come from the model's config; a total past `usize::MAX` is then
    // refused by the `max_steps` limit instead of wrapping.
    options.steps = Some(
        segments
            .iter()
            .filter_map(|s| s.steps)
            .fold(0, usize::saturating_add),
    );
    options.policy = Some(policy);
    options.segments = Some(segments);
    Ok(())
}

/// One task over one input or a batch of inputs, decoded together.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct TaskRequest {
    /// The task.
    pub task: WorldTask,
    /// Its inputs (one output each).
    pub inputs: Vec<TaskInput>,
    /// How to decode. `gen_length` is the task's (the model's text length, or the image's
    /// or clip's code count) and may not be changed for media. Leaving `policy`, `unmask`,
    /// `block_length` and `steps` unset picks the task's default
    /// ([`WorldTask::default_options`]).
    #[serde(default)]
    pub options: DecodeOptions,
}

impl TaskRequest {
    /// A request for one input with default options.
    pub fn new(task: WorldTask, input: TaskInput) -> Self {
        TaskRequest {
            task,
            inputs: vec![input],
            options: DecodeOptions::default(),
        }
    }

    /// A batch request.
    pub fn batch(task: WorldTask, inputs: Vec<TaskInput>) -> Self {
        TaskRequest {
            task,
            inputs,
            options: DecodeOptions::default(),
        }
    }

    /// Sets the options.
    pub fn options(mut self, options: DecodeOptions) -> Self {
        self.options = options;
        self
    }
}

/// One task output.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[non_exhaustive]
pub struct TaskOutput {
    /// The generated ids (model token space).
    pub ids: Vec<u32>,
    /// For text outputs, the text (specials skipped).
    pub text: Option<String>,
    /// For image and audio outputs, the codebook entries (decode them with
    /// [`crate::Engine::image_tokenizer`] / [`crate::Engine::audio_tokenizer`]).
    pub codes: Option<Vec<u32>>,
}

/// The outputs of a [`TaskRequest`], one per input, and the counters.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[non_exhaustive]
pub struct TaskResponse {
    /// One per input.
    pub outputs: Vec<TaskOutput>,
    /// Counters of the batch.
    pub stats: Stats,
}

/// What a Tessera model folder adds to an engine: templates and media tokenizers.
#[derive(Debug)]
pub(crate) struct WorldModel {
    pub(crate) prompting: TesseraPrompting,
    pub(crate) image: Option<Box<dyn ImageTokenizer>>,
    pub(crate) audio: Option<Box<dyn AudioTokenizer>>,
    /// Code frames of a generated clip.
    pub(crate) audio_frames: usize,
    /// Whether the model was trained to fill blanks (`"tessera": {"infill": true}`).
    pub(crate) infill: bool,
}

/// The tokenizer folder `tessera.KEY` of config.json names, confined to the model folder
/// `dir`: a relative path without `..` that resolves (links followed) inside it.
fn subfolder(dir: &Path, t: &Value, key: &str) -> Result<Option<std::path::PathBuf>, Error> {
    let field = format!("tessera.{key}");
    let name = match t.get(key) {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::String(s)) => s,
        Some(other) => {
            return Err(Error::invalid(
                &field,
                format!("is {other} in config.json; it must be a folder name (a string)"),
            ));
        }
    };
    let refuse = |why: &str| Error::invalid(&field, format!("{name:?} in config.json {why}"));
    let relative = Path::new(name);
    let plain = relative
        .components()
        .all(|c| matches!(c, std::path::Component::Normal(_)));
    if name.is_empty() || !plain {
        return Err(refuse(
            "must name a folder inside the model folder (no `..`, no absolute path)",
        ));
    }
    let path = dir.join(relative);
    let inside = match (std::fs::canonicalize(&path), std::fs::canonicalize(dir)) {
        (Ok(p), Ok(root)) => p.starts_with(&root) && p != root,
        // Missing: the tokenizer's loader names the file it did not find.
        (Err(_), _) | (_, Err(_)) => true,
    };
    if !inside {
        return Err(refuse("resolves outside the model folder"));
    }
    Ok(Some(path))
}

impl WorldModel {
    /// Reads the `"tessera"` object of `config` (absent: not a Tessera model → `None`).
    pub(crate) fn load(
        dir: &Path,
        config: &Value,
        tokenizer: Option<&TextTokenizer>,
    ) -> Result<Option<Self>, Error> {
        let Some(t) = config.get("tessera") else {
            return Ok(None);
        };
        let tokenizer = tokenizer.ok_or(Error::NoTokenizer)?;
        let prompting = TesseraPrompting::new(tokenizer, config)?;
        let image = subfolder(dir, t, "image_tokenizer")?
            .map(|p| load_image_tokenizer(&p))
            .transpose()?;
        let audio = subfolder(dir, t, "audio_tokenizer")?
            .map(load_audio_tokenizer)
            .transpose()?;
        let audio_frames = match t.get("audio_frames") {
            None | Some(Value::Null) => 0,
            Some(v) => {
                // A clip's frames lie on the canvas: no more than the model's positions.
                let most = config
                    .get("max_sequence_length")
                    .and_then(Value::as_u64)
                    .unwrap_or(1 << 20);
                v.as_u64().filter(|&n| n <= most).map_or_else(
                    || {
                        Err(Error::invalid(
                            "tessera.audio_frames",
                            format!(
                                "is {v} in config.json; it must be a whole number of frames \
                                 up to max_sequence_length ({most})"
                            ),
                        ))
                    },
                    |n| Ok(n as usize),
                )?
            }
        };
        let infill = match t.get("infill") {
            None | Some(Value::Null) => false,
            Some(Value::Bool(b)) => *b,
            Some(other) => {
                return Err(Error::invalid(
                    "tessera.infill",
                    format!("is {other} in config.json; it must be true or false"),
                ));
            }
        };
        Ok(Some(WorldModel {
            prompting,
            image,
            audio,
            audio_frames,
            infill,
        }))
    }

    /// The canvas of one input: the task's template, given parts then generated ones (one
    /// per audio level for a clip).
    pub(crate) fn canvas(
        &self,
        task: WorldTask,
        input: &TaskInput,
        tokenizer: &TextTokenizer,
        space: &TokenSpace,
    ) -> Result<Canvas, Error> {
        let p = &self.prompting;
        let words = |text: &str| -> Result<Vec<u32>, Error> {
            let ids = tokenizer.encode(text)?;
            if ids.is_empty() {
                return Err(Error::invalid("prompt", "is empty"));
            }
            p.check_known("prompt", &ids, text).map_err(unknown_word)?;
            Ok(ids)
        };
        Ok(match (task, input) {
            (WorldTask::Text, TaskInput::Text(t)) => p.text_canvas(&words(t)?),
            (WorldTask::T2i, TaskInput::Text(t)) => {
                // `h × w` cannot overflow: the tokenizer's loader bounds the grid's sides.
                let (h, w) = self.image_tokenizer()?.grid();
                p.t2i_canvas(&words(t)?, h * w)
            }
            (WorldTask::T2a, TaskInput::Text(t)) => {
                let audio = self.audio_tokenizer()?;
                if self.audio_frames == 0 {
                    return Err(Error::invalid(
                        "task",
                        "text-to-audio needs `tessera.audio_frames` in the model's config",
                    ));
                }
                p.t2a_canvas(&words(t)?, audio.levels().max(1), self.audio_frames)
            }
            (WorldTask::Caption, TaskInput::ImageCodes(codes)) => {
                p.caption_canvas(&self.image_ids(codes, space)?)
            }
            (WorldTask::Transcribe, TaskInput::AudioCodes(codes)) => {
                let levels = self.audio_tokenizer()?.levels().max(1);
                if codes.is_empty() {
                    return Err(Error::invalid("audio", "has no codes"));
                }
                let mut ids = Vec::with_capacity(codes.len());
                for (level, part) in split_levels(codes, levels, "audio")?.enumerate() {
                    for &c in part {
                        ids.push(space.audio_id(level, c)?);
                    }
                }
                p.transcribe_canvas(&ids, levels)
            }
            _ => {
                return Err(Error::invalid(
                    "input",
                    format!("the {task} task does not take this kind of input"),
                ));
            }
        })
    }

    /// A fill-in-the-blank canvas in the model's template ([`TesseraPrompting::fill_canvas`]):
    /// the picture's codes (if the text is about one), then `pieces` of text with a blank
    /// of `widths[i]` mask positions after piece `i`. The ids and the blanks' ranges.
    pub(crate) fn fill_canvas(
        &self,
        image: Option<&[u32]>,
        pieces: &[String],
        widths: &[usize],
        tokenizer: &TextTokenizer,
        space: &TokenSpace,
    ) -> Result<(Vec<u32>, Vec<std::ops::Range<usize>>), Error> {
        if !self.infill {
            return Err(Error::invalid(
                "parts",
                "this Tessera world model was not trained to fill blanks \
                 (its config.json has no `tessera.infill`)",
            ));
        }
        let p = &self.prompting;
        let image = match image {
            None => None,
            Some(codes) => Some(self.image_ids(codes, space)?),
        };
        let pieces = pieces
            .iter()
            .map(|text| {
                let ids = tokenizer.encode(text)?;
                // The request's text is its parts: a word outside the vocabulary names them.
                p.check_known("parts", &ids, text).map_err(unknown_word)?;
                Ok(ids)
            })
            .collect::<Result<Vec<_>, Error>>()?;
        p.fill_canvas(&p.fill_head(image.as_deref()), &pieces, widths, space.mask)
            .ok_or_else(|| Error::invalid("parts", "text and blanks do not alternate"))
    }

    /// A picture's codes as model ids, checked against the tokenizer's grid.
    fn image_ids(&self, codes: &[u32], space: &TokenSpace) -> Result<Vec<u32>, Error> {
        let (h, w) = self.image_tokenizer()?.grid();
        if codes.len() != h * w {
            return Err(Error::invalid(
                "image",
                format!(
                    "has {} codes; the model's pictures have {h}×{w}",
                    codes.len()
                ),
            ));
        }
        Ok(codes
            .iter()
            .map(|&c| space.image_id(c))
            .collect::<Result<Vec<_>, _>>()?)
    }

    pub(crate) fn image_tokenizer(&self) -> Result<&dyn ImageTokenizer, Error> {
        self.image
            .as_deref()
            .ok_or_else(|| Error::invalid("task", "the model folder has no image tokenizer"))
    }

    pub(crate) fn audio_tokenizer(&self) -> Result<&dyn AudioTokenizer, Error> {
        self.audio
            .as_deref()
            .ok_or_else(|| Error::invalid("task", "the model folder has no audio tokenizer"))
    }
}

/// A word outside the model's vocabulary ([`TesseraPrompting::check_known`]'s error) as an
/// invalid request naming the field the word came in (`prompt`, `parts`): the caller's to
/// fix, answered over HTTP as a 400 naming it.
fn unknown_word(e: tessera_modalities::SpaceError) -> Error {
    match e {
        tessera_modalities::SpaceError::Config { field, reason } => Error::invalid(&field, reason),
        other => other.into(),
    }
}
