//! The data of Tessera's world models: the seven tasks of [`tessera_worlds`] turned into
//! token sequences with the model's own tokenizers and templates.
//!
//! [`WorldData::prepare`] makes the model folder's tokenizers once (the word-level text
//! tokenizer; a patch VQ fitted on all 210 pictures; a frame VQ fitted on all 512 tunes —
//! every picture and tune of the worlds, so nothing held out can be unseen by a tokenizer)
//! and writes `config.json` with the token space: text, then image codes, then audio codes,
//! then the mask id. Every task is laid out by
//! [`TesseraPrompting`], the template the
//! SDK generates with.

use std::collections::HashMap;
use std::path::Path;

use image::RgbImage;
use serde_json::json;
use tessera_backbone::places::PlaceEmbedding;
use tessera_modalities::audio::{AudioTokenizer, FitOptions, FrameVq, FrameVqConfig, Pcm};
use tessera_modalities::image::{ImageTokenizer, PatchVq};
use tessera_modalities::rng::SplitMix64;
use tessera_modalities::tessera::{TesseraPrompting, TextAlign};
use tessera_modalities::{TextTokenizer, TokenSpace};
use tessera_worlds::{Example, OperandDraw, SAMPLE_RATE, ShapeSpec, Split, Task, Tune};

use crate::config::TrainConfig;
use crate::masking::Sequence;
use crate::model::TrainModel;
use crate::trainer::{DataSource, mix};
use crate::{TrainError, vocab};

/// Sub-folder of the image tokenizer inside a model folder.
pub const IMAGE_DIR: &str = "image-vq";
/// Sub-folder of the audio tokenizer inside a model folder.
pub const AUDIO_DIR: &str = "audio-vq";

/// Gives `out` the tokenizers of the model folder `from` (`tokenizer.json`, `image-vq/`,
/// `audio-vq/`), so a run initialised from `from`'s weights ([`crate::Start::InitFrom`])
/// sees the very token ids those weights were trained on. Files already in `out` must equal
/// `from`'s.
///
/// # Errors
/// [`TrainError::Io`] for unreadable or unwritable files, [`TrainError::Data`] when `out`
/// already holds a different tokenizer.
pub fn adopt_tokenizers(from: &Path, out: &Path) -> Result<(), TrainError> {
    let mut files = vec![std::path::PathBuf::from("tokenizer.json")];
    for dir in [IMAGE_DIR, AUDIO_DIR] {
        let src = from.join(dir);
        let entries = std::fs::read_dir(&src).map_err(|e| TrainError::io(&src, e))?;
        for entry in entries {
            let entry = entry.map_err(|e| TrainError::io(&src, e))?;
            files.push(Path::new(dir).join(entry.file_name()));
        }
    }
    for rel in files {
        let (src, dst) = (from.join(&rel), out.join(&rel));
        let bytes = std::fs::read(&src).map_err(|e| TrainError::io(&src, e))?;
        if dst.exists() {
            let have = std::fs::read(&dst).map_err(|e| TrainError::io(&dst, e))?;
            if have != bytes {
                return Err(TrainError::Data(format!(
                    "{} differs from {}: the output folder has another model's tokenizer",
                    dst.display(),
                    src.display()
                )));
            }
            continue;
        }
        if let Some(parent) = dst.parent() {
            std::fs::create_dir_all(parent).map_err(|e| TrainError::io(parent, e))?;
        }
        std::fs::write(&dst, bytes).map_err(|e| TrainError::io(&dst, e))?;
    }
    Ok(())
}

/// The seven tasks as token sequences.
#[derive(Debug)]
pub struct WorldData {
    tasks: Vec<(Task, f64)>,
    seed: u64,
    draw: OperandDraw,
    digits: Vec<u32>,
    text: TextTokenizer,
    prompting: TesseraPrompting,
    text_length: usize,
    space: TokenSpace,
    images: HashMap<ShapeSpec, Vec<u32>>,
    tunes: HashMap<Tune, Vec<u32>>,
}

fn data_err(e: impl std::fmt::Display) -> TrainError {
    TrainError::Data(e.to_string())
}

impl WorldData {
    /// Makes (or, when present, loads) the tokenizers in `out`, writes `config.json` for the
    /// model of `cfg`, and encodes every picture and tune once.
    ///
    /// # Errors
    /// [`TrainError::Io`] / [`TrainError::Data`] when a tokenizer cannot be fitted, written
    /// or loaded.
    pub fn prepare(cfg: &TrainConfig, out: &Path) -> Result<Self, TrainError> {
        // The invariants below (sizes, a task with a positive weight) are the config's checks.
        cfg.validate()?;
        let d = &cfg.data;
        std::fs::create_dir_all(out).map_err(|e| TrainError::io(out, e))?;
        let tok_path = out.join("tokenizer.json");
        if !tok_path.exists() {
            let text = serde_json::to_string_pretty(&vocab::tokenizer_json()).map_err(data_err)?;
            std::fs::write(&tok_path, text).map_err(|e| TrainError::io(&tok_path, e))?;
        }
        let image_dir = out.join(IMAGE_DIR);
        let image_vq = if image_dir.join("config.json").exists() {
            PatchVq::load(&image_dir).map_err(data_err)?
        } else {
            let pictures: Vec<RgbImage> = ShapeSpec::all().map(|s| s.render()).collect();
            let vq = PatchVq::fit(&pictures, d.image_patch, d.image_codes, 50, cfg.seed)
                .map_err(data_err)?;
            vq.save(&image_dir).map_err(data_err)?;
            vq
        };
        let audio_dir = out.join(AUDIO_DIR);
        let audio_vq = if audio_dir.join("config.json").exists() {
            let vq = FrameVq::load(&audio_dir).map_err(data_err)?;
            if (vq.levels(), vq.codebook_size()) != (d.audio_levels, d.audio_codes) {
                return Err(TrainError::Data(format!(
                    "{} has {} levels of {} codes; the config asks for {} of {}",
                    audio_dir.display(),
                    vq.levels(),
                    vq.codebook_size(),
                    d.audio_levels,
                    d.audio_codes
                )));
            }
            vq
        } else {
            let clips = Tune::all()
                .map(|t| Pcm::new(t.render(), SAMPLE_RATE))
                .collect::<Result<Vec<_>, _>>()
                .map_err(data_err)?;
            let vq = FrameVq::fit(
                &clips,
                FrameVqConfig::new(SAMPLE_RATE, d.audio_frame, d.audio_codes, d.audio_levels),
                FitOptions::with_seed(cfg.seed),
            )
            .map_err(data_err)?;
            vq.save(&audio_dir).map_err(data_err)?;
            vq
        };
        let text = TextTokenizer::from_dir(out).map_err(data_err)?;
        let text_vocab = text.vocab_size() as u32;
        let space_json = json!({
            "text": text_vocab,
            "image_codes": d.image_codes,
            "audio_codes": vec![d.audio_codes; d.audio_levels],
        });
        // cannot overflow: codebooks ≤ 65 536 (validated), 1..=16 audio levels (the frame VQ
        // checks them when fitted or loaded, and its levels equal the config's), and a word
        // vocabulary far below `u32::MAX`.
        let mask = text_vocab + (d.image_codes + d.audio_codes * d.audio_levels) as u32;
        let rows = mask + 1;
        let digits = (0..10)
            .map(|d| {
                text.token_to_id(&d.to_string()).ok_or_else(|| {
                    TrainError::Data(format!("the tokenizer has no token for the digit {d}"))
                })
            })
            .collect::<Result<Vec<u32>, _>>()?;
        let places = match cfg.model.places {
            0 => None,
            p => Some(
                PlaceEmbedding::new(p, digits.clone())
                    .map_err(|e| TrainError::Data(format!("model.places: {e}")))?,
            ),
        };
        let mut config =
            TrainModel::llada_config_for(&cfg.model, rows as usize, places.as_ref(), mask, 0, 1);
        config["token_space"] = space_json;
        let frames = audio_vq
            .encode(
                &Pcm::new(
                    Tune::all().next().map(|t| t.render()).unwrap_or_default(),
                    SAMPLE_RATE,
                )
                .map_err(data_err)?,
            )
            .map_err(data_err)?
            .frames();
        config["tessera"] = json!({"text_length": d.text_length, "image_tokenizer": IMAGE_DIR,
                                   "audio_tokenizer": AUDIO_DIR, "audio_frames": frames});
        if d.text_align != TextAlign::Left {
            config["tessera"]["text_align"] = json!(d.text_align.name());
        }
        let space = TokenSpace::from_config(&config, mask, rows).map_err(data_err)?;
        let prompting = TesseraPrompting::new(&text, &config).map_err(data_err)?;
        if prompting.eos != 0 || prompting.bos != 1 {
            return Err(TrainError::Data(
                "the tokenizer's <|eos|> and <|bos|> must be ids 0 and 1".into(),
            ));
        }
        let cfg_path = out.join("config.json");
        let pretty = serde_json::to_string_pretty(&config).map_err(data_err)?;
        std::fs::write(&cfg_path, pretty).map_err(|e| TrainError::io(&cfg_path, e))?;
        let mut images = HashMap::new();
        for spec in ShapeSpec::all() {
            let codes = image_vq.encode(&spec.render()).map_err(data_err)?;
            let ids = codes
                .codes()
                .iter()
                .map(|&c| space.image_id(c))
                .collect::<Result<Vec<_>, _>>()
                .map_err(data_err)?;
            images.insert(spec, ids);
        }
        let mut tunes = HashMap::new();
        for tune in Tune::all() {
            let pcm = Pcm::new(tune.render(), SAMPLE_RATE).map_err(data_err)?;
            let codes = audio_vq.encode(&pcm).map_err(data_err)?;
            let mut ids = Vec::new();
            for (level, row) in codes.codes.iter().enumerate() {
                for &c in row {
                    ids.push(space.audio_id(level, c).map_err(data_err)?);
                }
            }
            tunes.insert(tune, ids);
        }
        let tasks = d
            .tasks
            .iter()
            .filter(|(_, w)| **w > 0.0)
            .map(|(name, &w)| Ok((Task::parse(name).map_err(data_err)?, w)))
            .collect::<Result<Vec<_>, TrainError>>()?;
        Ok(WorldData {
            tasks,
            seed: cfg.seed,
            draw: d.addition_operands,
            digits,
            text,
            prompting,
            text_length: d.text_length,
            space,
            images,
            tunes,
        })
    }

    /// The token space.
    pub fn space(&self) -> &TokenSpace {
        &self.space
    }

    fn words(&self, text: &str) -> Result<Vec<u32>, TrainError> {
        let ids = self.text.encode(text).map_err(data_err)?;
        self.prompting.check_known(&ids, text).map_err(data_err)?;
        Ok(ids)
    }

    fn answer(&self, text: &str) -> Result<Vec<u32>, TrainError> {
        let ids = self.words(text)?;
        self.prompting
            .text_answer(&ids, self.text_length)
            .ok_or_else(|| {
                TrainError::Data(format!(
                    "`{text}` does not fit a text answer of {} tokens",
                    self.text_length
                ))
            })
    }

    /// The prompt and answer ids of `example` for `task`.
    ///
    /// # Errors
    /// [`TrainError::Data`] for an example that does not fit the task or the vocabulary.
    pub fn sequence(&self, task: Task, example: &Example) -> Result<Sequence, TrainError> {
        let p = &self.prompting;
        // cannot fail: `prepare` encoded every picture of `ShapeSpec::all()` and every tune of
        // `Tune::all()`, which are every value of those types.
        let (prompt, answer) = match (task, example) {
            (Task::T2i, Example::Image { spec }) => (
                p.t2i(&self.words(&spec.caption())?),
                self.images[spec].clone(),
            ),
            (Task::Caption, Example::Image { spec }) => {
                (p.caption(&self.images[spec]), self.answer(&spec.caption())?)
            }
            (Task::T2a, Example::Tones { tune }) => (
                p.t2a(&self.words(&tune.caption())?),
                self.tunes[tune].clone(),
            ),
            (Task::Transcribe, Example::Tones { tune }) => (
                p.transcribe(&self.tunes[tune]),
                self.answer(&tune.caption())?,
            ),
            (_, Example::Text { example, .. }) if task.text_task().is_some() => (
                p.text(&self.words(&example.prompt)?),
                self.answer(&example.answer)?,
            ),
            _ => {
                return Err(TrainError::Data(format!(
                    "a {task} task cannot use this example"
                )));
            }
        };
        let prompt_len = prompt.len();
        let mut ids = prompt;
        ids.extend(answer);
        Ok(Sequence { ids, prompt_len })
    }

    /// The tasks of step `step`'s `size` rows, each drawn by weight: every batch mixes the
    /// tasks. (Drawing one task per step, the first recipe, left the shared optimizer moments
    /// swinging between tasks and the model ignoring its prompts; see the model card.)
    pub fn tasks_of(&self, step: u64, size: usize) -> Vec<Task> {
        let total: f64 = self.tasks.iter().map(|t| t.1).sum();
        let mut rng = SplitMix64::new(mix(self.seed, step, 0x7461_736b));
        (0..size)
            .map(|_| {
                let mut r = rng.next_f64() * total;
                for &(task, w) in &self.tasks {
                    if r < w {
                        return task;
                    }
                    r -= w;
                }
                // cannot fail: validation requires a task with a positive weight.
                self.tasks[self.tasks.len() - 1].0
            })
            .collect()
    }
}

impl DataSource for WorldData {
    fn batch(&self, step: u64, size: usize) -> Result<Vec<Sequence>, TrainError> {
        self.tasks_of(step, size)
            .into_iter()
            .zip(0..size as u64)
            .map(|(task, i)| {
                let index = step
                    .wrapping_mul(size as u64)
                    .wrapping_add(i)
                    .wrapping_add(self.seed.wrapping_mul(0x1_0000_0000));
                self.sequence(task, &task.sample_with(Split::Train, index, self.draw))
            })
            .collect()
    }

    fn mask_id(&self) -> u32 {
        self.space.mask
    }

    fn pad_id(&self) -> u32 {
        self.prompting.eos
    }

    fn rows(&self) -> usize {
        self.space.logits_width as usize
    }

    fn digit_ids(&self) -> Vec<u32> {
        self.digits.clone()
    }
}
