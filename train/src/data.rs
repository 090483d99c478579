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
use tessera_modalities::audio::{
    AnalysisConfig, AudioCodes, AudioTokenizer, FitOptions, FrameVq, FrameVqConfig, Pcm,
};
use tessera_modalities::image::{ImageTokenizer, PatchVq};
use tessera_modalities::rng::{SplitMix64, fnv1a};
use tessera_modalities::tessera::{TesseraPrompting, TextAlign};
use tessera_modalities::{TextTokenizer, TokenSpace};
use tessera_worlds::{
    Example, FillExample, OperandDraw, Rendering, SAMPLE_RATE, ShapeSpec, Split, Task, Tune,
    example_rng,
};

use crate::config::TrainConfig;
use crate::masking::Sequence;
use crate::model::TrainModel;
use crate::trainer::{DataSource, mix};
use crate::{TrainError, vocab};

/// Sub-folder of the image tokenizer inside a model folder.
pub const IMAGE_DIR: &str = "image-vq";
/// Sub-folder of the audio tokenizer inside a model folder.
pub const AUDIO_DIR: &str = "audio-vq";

/// Gives `out` the tokenizers of the model folder `from` (`tokenizer.json`, and with
/// `media` also `image-vq/` and `audio-vq/`), so a run initialised from `from`'s weights
/// ([`crate::Start::InitFrom`]) sees the very token ids those weights were trained on
/// (without `media`, [`WorldData::prepare`] fits new media tokenizers: the config's
/// `refit_media`). Files already in `out` must equal `from`'s.
///
/// # Errors
/// [`TrainError::Io`] for unreadable or unwritable files, [`TrainError::Data`] when `out`
/// already holds a different tokenizer.
pub fn adopt_tokenizers(from: &Path, out: &Path, media: bool) -> Result<(), TrainError> {
    let mut files = vec![std::path::PathBuf::from("tokenizer.json")];
    let media_dirs: &[&str] = if media { &[IMAGE_DIR, AUDIO_DIR] } else { &[] };
    for &dir in media_dirs {
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
    heard: HashMap<Tune, Vec<u32>>,
    varied_inputs: f64,
    varied_all: Option<f64>,
    image_vq: PatchVq,
    audio_vq: FrameVq,
}

/// Where the stream of the tokenizers' varied fitting examples starts (far from the
/// training examples' indices).
const FIT_STREAM: u64 = 1 << 62;

/// The rendering family of example `index` of `task`: with probability `share` one of
/// [`Rendering::varied_for`] `task`, otherwise the canonical one. A varied example is
/// [`Rendering::ALL`] with probability `all` when given, else one aspect alone (uniformly);
/// without `all`, uniform over every varied family (the draw of the runs before the option,
/// kept bit for bit).
fn varied_family(seed: u64, task: Task, index: u64, share: f64, all: Option<f64>) -> Rendering {
    let mut rng = SplitMix64::new(mix(seed, index, 0x7265_6e64 ^ fnv1a(task.name())));
    let varied = Rendering::varied_for(task);
    if varied.is_empty() || rng.next_f64() >= share {
        return Rendering::CANONICAL;
    }
    let Some(all) = all else {
        return varied[rng.below(varied.len())];
    };
    let single: Vec<Rendering> = varied
        .into_iter()
        .filter(|r| *r != Rendering::ALL)
        .collect();
    if single.is_empty() || rng.next_f64() < all {
        Rendering::ALL
    } else {
        single[rng.below(single.len())]
    }
}

/// An audio clip's codes as model ids, level-major.
fn audio_ids(space: &TokenSpace, codes: &AudioCodes) -> Result<Vec<u32>, TrainError> {
    let mut ids = Vec::new();
    for (level, row) in codes.codes.iter().enumerate() {
        for &c in row {
            ids.push(space.audio_id(level, c).map_err(data_err)?);
        }
    }
    Ok(ids)
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
            let mut pictures: Vec<RgbImage> = ShapeSpec::all().map(|s| s.render()).collect();
            pictures.extend((0..d.fit_varied_pictures as u64).map(|i| {
                let index = FIT_STREAM + i;
                let spec = ShapeSpec::sample(&mut example_rng(Task::Caption, Split::Train, index));
                varied_family(cfg.seed, Task::Caption, index, 1.0, None).image(
                    &spec,
                    Task::Caption,
                    Split::Train,
                    index,
                )
            }));
            let vq = PatchVq::fit(&pictures, d.image_patch, d.image_codes, 50, cfg.seed)
                .map_err(data_err)?;
            // Saved once, below, with the alignment the config asks for.
            if d.image_align == 0 {
                vq.save(&image_dir).map_err(data_err)?;
            }
            vq
        };
        let image_vq = if d.image_align > 0 && image_vq.alignment() != d.image_align {
            let vq = image_vq.with_alignment(d.image_align).map_err(data_err)?;
            vq.save(&image_dir).map_err(data_err)?;
            vq
        } else {
            image_vq
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
            let varied = (0..d.fit_varied_tunes as u64).map(|i| {
                let index = FIT_STREAM + i;
                let tune = Tune::sample(&mut example_rng(Task::Transcribe, Split::Train, index));
                varied_family(cfg.seed, Task::Transcribe, index, 1.0, None).audio(
                    &tune,
                    Task::Transcribe,
                    Split::Train,
                    index,
                )
            });
            let clips = Tune::all()
                .map(|t| t.render())
                .chain(varied)
                .map(|s| Pcm::new(s, SAMPLE_RATE))
                .collect::<Result<Vec<_>, _>>()
                .map_err(data_err)?;
            let mut vq = FrameVq::fit(
                &clips,
                FrameVqConfig::new(SAMPLE_RATE, d.audio_frame, d.audio_codes, d.audio_levels),
                FitOptions::with_seed(cfg.seed),
            )
            .map_err(data_err)?;
            if d.audio_analysis {
                vq = vq
                    .with_analysis(&clips, AnalysisConfig::default())
                    .map_err(data_err)?;
            }
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
        if d.tasks
            .iter()
            .any(|(name, &w)| w > 0.0 && name.starts_with("fill-"))
        {
            config["tessera"]["infill"] = json!(true);
        }
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
        // What a model plays (t2a) is taught as the codes that reconstruct the canonical
        // rendering best; what it hears (transcription) as the tokenizer encodes heard audio.
        let mut tunes = HashMap::new();
        let mut heard = HashMap::new();
        for tune in Tune::all() {
            let pcm = Pcm::new(tune.render(), SAMPLE_RATE).map_err(data_err)?;
            let codes = audio_vq.encode_exact(&pcm).map_err(data_err)?;
            tunes.insert(tune, audio_ids(&space, &codes)?);
            let codes = audio_vq.encode(&pcm).map_err(data_err)?;
            heard.insert(tune, audio_ids(&space, &codes)?);
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
            heard,
            varied_inputs: d.varied_inputs,
            varied_all: d.varied_all,
            image_vq,
            audio_vq,
        })
    }

    /// The token space.
    pub fn space(&self) -> &TokenSpace {
        &self.space
    }

    fn words(&self, text: &str) -> Result<Vec<u32>, TrainError> {
        let ids = self.text.encode(text).map_err(data_err)?;
        self.prompting
            .check_known("prompt", &ids, text)
            .map_err(data_err)?;
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

    /// The prompt and answer ids of `example` for `task`, pictures and tunes in their
    /// canonical rendering.
    ///
    /// # Errors
    /// [`TrainError::Data`] for an example that does not fit the task or the vocabulary.
    pub fn sequence(&self, task: Task, example: &Example) -> Result<Sequence, TrainError> {
        self.sequence_in(task, example, Rendering::CANONICAL, 0)
    }

    /// [`WorldData::sequence`] for training example `index`: the picture or tune a task
    /// reads is drawn with natural variation as the config's `varied_inputs` says.
    ///
    /// # Errors
    /// As [`WorldData::sequence`].
    pub fn sequence_at(
        &self,
        task: Task,
        example: &Example,
        index: u64,
    ) -> Result<Sequence, TrainError> {
        let family = varied_family(self.seed, task, index, self.varied_inputs, self.varied_all);
        self.sequence_in(task, example, family, index)
    }

    /// The image ids of `spec` as `task`'s example `index` sees it in `family`.
    fn picture(
        &self,
        task: Task,
        spec: &ShapeSpec,
        family: Rendering,
        index: u64,
    ) -> Result<Vec<u32>, TrainError> {
        if family == Rendering::CANONICAL {
            // cannot fail: `prepare` encoded every picture of `ShapeSpec::all()`.
            return Ok(self.images[spec].clone());
        }
        let picture = family.image(spec, task, Split::Train, index);
        let codes = self.image_vq.encode(&picture).map_err(data_err)?;
        codes
            .codes()
            .iter()
            .map(|&c| self.space.image_id(c))
            .collect::<Result<Vec<_>, _>>()
            .map_err(data_err)
    }

    /// The audio ids of `tune` as `task`'s example `index` hears it in `family`.
    fn clip(
        &self,
        task: Task,
        tune: &Tune,
        family: Rendering,
        index: u64,
    ) -> Result<Vec<u32>, TrainError> {
        if family == Rendering::CANONICAL {
            // cannot fail: `prepare` encoded every tune of `Tune::all()`.
            return Ok(self.heard[tune].clone());
        }
        let samples = family.audio(tune, task, Split::Train, index);
        let pcm = Pcm::new(samples, SAMPLE_RATE).map_err(data_err)?;
        audio_ids(&self.space, &self.audio_vq.encode(&pcm).map_err(data_err)?)
    }

    /// A fill-in-the-blank example: the head (and picture), the text with each blank's fill
    /// in place; the prompt ends where the first blank starts and the text after it is
    /// fixed.
    fn fill_sequence(
        &self,
        example: &FillExample,
        image: Option<&[u32]>,
    ) -> Result<Sequence, TrainError> {
        let p = &self.prompting;
        let pieces = example
            .pieces()
            .iter()
            .map(|t| self.words(t))
            .collect::<Result<Vec<_>, _>>()?;
        let bad = || TrainError::Data(format!("`{}` does not fit its blanks", example.template));
        let (mut ids, blanks) = p
            .fill_canvas(&p.fill_head(image), &pieces, &example.widths, p.eos)
            .ok_or_else(bad)?;
        if blanks.len() != example.fills.len() || blanks.is_empty() {
            return Err(bad());
        }
        for (blank, fill) in blanks.iter().zip(&example.fills) {
            let answer = p
                .blank_answer(&self.words(fill)?, blank.len())
                .ok_or_else(bad)?;
            ids[blank.clone()].copy_from_slice(&answer);
        }
        let prompt_len = blanks[0].start;
        let fixed = (prompt_len..ids.len())
            .filter(|i| !blanks.iter().any(|b| b.contains(i)))
            .collect();
        Ok(Sequence {
            ids,
            prompt_len,
            fixed,
        })
    }

    fn sequence_in(
        &self,
        task: Task,
        example: &Example,
        family: Rendering,
        index: u64,
    ) -> Result<Sequence, TrainError> {
        let p = &self.prompting;
        // cannot fail: `prepare` encoded every picture of `ShapeSpec::all()` and every tune of
        // `Tune::all()`, which are every value of those types.
        let (prompt, answer) = match (task, example) {
            (Task::T2i, Example::Image { spec }) => (
                p.t2i(&self.words(&spec.caption())?),
                self.images[spec].clone(),
            ),
            (Task::Caption, Example::Image { spec }) => (
                p.caption(&self.picture(task, spec, family, index)?),
                self.answer(&spec.caption())?,
            ),
            (Task::T2a, Example::Tones { tune }) => (
                p.t2a(&self.words(&tune.caption())?),
                self.tunes[tune].clone(),
            ),
            (Task::Transcribe, Example::Tones { tune }) => (
                p.transcribe(&self.clip(task, tune, family, index)?),
                self.answer(&tune.caption())?,
            ),
            (_, Example::Fill { example, spec }) if task.is_fill() => {
                let image = match spec {
                    Some(spec) => Some(self.picture(task, spec, family, index)?),
                    None => None,
                };
                return self.fill_sequence(example, image.as_deref());
            }
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
        Ok(Sequence::new(ids, prompt_len))
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
                self.sequence_at(
                    task,
                    &task.sample_with(Split::Train, index, self.draw),
                    index,
                )
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

#[cfg(test)]
mod tests {
    use super::*;

    /// How many of 3,000 caption examples draw each kind of family.
    fn counts(all: Option<f64>) -> (usize, usize, usize) {
        let (mut canonical, mut every, mut single) = (0, 0, 0);
        for index in 0..3000 {
            match varied_family(7, Task::Caption, index, 0.75, all) {
                r if r == Rendering::CANONICAL => canonical += 1,
                r if r == Rendering::ALL => every += 1,
                _ => single += 1,
            }
        }
        (canonical, every, single)
    }

    #[test]
    fn varied_all_sets_the_share_of_every_aspect_at_once() {
        // Without the option: uniform over the six picture families (`all` one of them).
        let (canonical, every, single) = counts(None);
        assert!((650..850).contains(&canonical), "{canonical}");
        assert!((300..460).contains(&every), "{every}");
        assert_eq!(canonical + every + single, 3000);
        // The varied share is drawn the same way whatever the option says.
        assert_eq!(counts(Some(0.5)).0, canonical);
        let (_, every, single) = counts(Some(0.5));
        assert!(every.abs_diff(single) < 150, "{every} {single}");
        assert_eq!(counts(Some(0.0)).1, 0);
        assert_eq!(counts(Some(1.0)).2, 0);
        // Tasks that read no picture or tune stay canonical.
        assert_eq!(
            varied_family(7, Task::Sorting, 3, 1.0, Some(1.0)),
            Rendering::CANONICAL
        );
    }
}
