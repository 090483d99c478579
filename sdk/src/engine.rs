//! [`Engine`]: a loaded model with its tokenizer, ready to generate.

use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use tessera_backbone::{Backbone, Family, Format, LoadOptions, ModelInfo};
use tessera_hybrid::maskgit::{MaskGitOptions, SpanCanvas};
use tessera_hybrid::{
    ControllerOptions, Decoding, NoiseSource, PromptBatch, SeededNoise, StepInfo,
};
use tessera_modalities::mmada::MmadaPrompting;
use tessera_modalities::{ChatMessage, ChatTemplate, TextTokenizer, TokenSpace};

use crate::world::{WorldModel, coarse_to_fine, split_levels};
use crate::{
    CaptionRequest, DecodeOptions, Error, GenerateRequest, ImageLayout, ImageRequest,
    ImageResponse, Limits, Output, Prompt, Response, Stats, TaskInput, TaskOutput, TaskRequest,
    TaskResponse, WorldTask,
};

/// How to load an [`Engine`]: precision and device (the backbone's load options).
pub type EngineOptions = LoadOptions;

/// A loaded model plus tokenizer. `Send + Sync` and cheap to clone: share one across threads.
///
/// ```no_run
/// use tessera::{DecodeOptions, Engine, GenerateRequest, Prompt};
/// let engine = Engine::load("models/LLaDA-8B-Instruct")?;
/// let req = GenerateRequest::new(Prompt::Text("The capital of France is".into()))
///     .options(DecodeOptions::new().gen_length(64).steps(64).block_length(32));
/// let response = engine.generate(&req)?;
/// println!("{}", response.outputs[0].text.as_deref().unwrap_or(""));
/// # Ok::<(), tessera::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct Engine {
    backbone: Backbone,
    tokenizer: Option<Arc<TextTokenizer>>,
    eot_id: Option<u32>,
    space: TokenSpace,
    mmada: Option<MmadaPrompting>,
    world: Option<Arc<WorldModel>>,
    limits: Limits,
}

impl Engine {
    /// Loads the model folder `dir` (checkpoint precision, CPU); `dir` may also be a GGUF
    /// file (LLaDA or Dream, as llama.cpp converts them; the tokenizer is read from
    /// `tokenizer.json` beside it, else rebuilt from the file's own) or a Hugging Face Hub id
    /// (`GSAI-ML/LLaDA-8B-Instruct[@REVISION]`) found in the local Hub cache
    /// ([`resolve_model`](crate::resolve_model)).
    ///
    /// # Errors
    /// [`Error::Load`] for the model, [`Error::Text`] for a tokenizer that exists but is
    /// broken (a folder without `tokenizer.json` loads; text prompts then fail).
    pub fn load(dir: impl AsRef<Path>) -> Result<Self, Error> {
        Self::load_with(dir, &EngineOptions::default())
    }

    /// Loads `dir` with `opts`.
    ///
    /// # Errors
    /// As [`Engine::load`].
    pub fn load_with(dir: impl AsRef<Path>, opts: &EngineOptions) -> Result<Self, Error> {
        let path = &crate::resolve_model(dir)?;
        let _span = tracing::info_span!("load", model = %path.display()).entered();
        let started = Instant::now();
        let backbone = Backbone::load_with(path, opts)?;
        // A GGUF file's tokenizer and configs are read from the folder holding it.
        let dir = match backbone.info().format {
            Format::Gguf if path.is_file() => path.parent().unwrap_or(Path::new(".")),
            _ => path.as_path(),
        };
        let tokenizer = if dir.join("tokenizer.json").exists() {
            Some(Arc::new(TextTokenizer::from_dir(dir)?))
        } else if backbone.info().format == Format::Gguf {
            gguf_text_tokenizer(backbone.dir())?.map(Arc::new)
        } else {
            None
        };
        let eot_id = tokenizer.as_ref().and_then(|t| {
            t.token_to_id("<|eot_id|>")
                .or_else(|| t.token_to_id("<|im_end|>"))
        });
        let config: serde_json::Value = std::fs::read_to_string(dir.join("config.json"))
            .ok()
            .and_then(|text| serde_json::from_str(&text).ok())
            .unwrap_or_default();
        let info = backbone.info();
        let space = TokenSpace::from_config(&config, info.mask_id, info.embedding_size as u32)?;
        let mmada = match (info.family, &tokenizer) {
            (Family::Mmada, Some(t)) => Some(MmadaPrompting::new(t, &config, info.mask_id)?),
            _ => None,
        };
        let world = WorldModel::load(dir, &config, tokenizer.as_deref())?.map(Arc::new);
        tracing::info!(
            family = ?info.family,
            parameters = info.parameters,
            seconds = started.elapsed().as_secs_f64(),
            "model loaded"
        );
        Ok(Engine {
            backbone,
            tokenizer,
            eot_id,
            space,
            mmada,
            world,
            limits: Limits::default(),
        })
    }

    /// This engine with `limits` on every request (default: [`Limits::default`]).
    pub fn with_limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }

    /// The resource limits every request is checked against.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// The model's token space (text, image and audio id ranges).
    pub fn space(&self) -> &TokenSpace {
        &self.space
    }

    /// Generates an image's codes for `req.prompt` (MMaDA: the t2i template, MaskGIT decoding
    /// with guidance over the image span, codes restricted to the codebook).
    ///
    /// # Errors
    /// [`Error::InvalidRequest`] naming `task` for a model without a t2i template, or an
    /// option; tokenizer and forward errors.
    pub fn text_to_image(&self, req: &ImageRequest) -> Result<ImageResponse, Error> {
        let start = Instant::now();
        let (decoding, layout) = self.text_to_image_decoding(req)?;
        let generation = decoding.run(&self.backbone, &mut |_| {})?;
        Ok(layout.response(&generation, start.elapsed().as_secs_f64()))
    }

    /// The text-to-image request as a steppable [`Decoding`](tessera_hybrid::Decoding) (the
    /// MaskGIT phase) for a [`Driver`](tessera_hybrid::Driver), and the layout that turns its
    /// finished [`Generation`](tessera_hybrid::Generation) into the [`ImageResponse`]
    /// [`Engine::text_to_image`] gives, code for code.
    ///
    /// # Errors
    /// As [`Engine::text_to_image`].
    pub fn text_to_image_decoding(
        &self,
        req: &ImageRequest,
    ) -> Result<(EngineDecoding, ImageLayout), Error> {
        let mmada = self.mmada.as_ref().ok_or_else(|| {
            Error::invalid(
                "task",
                "text-to-image needs a model with image codes and a t2i template (MMaDA)",
            )
        })?;
        let tokenizer = self.tokenizer.as_ref().ok_or(Error::NoTokenizer)?;
        let o = &req.options;
        let info = self.backbone.info();
        // Before the canvases are built: they hold `text_length + 1` text positions, so a
        // length at the model's maximum is refused below anyway (and near `usize::MAX` would
        // overflow building them).
        if o.text_length >= info.max_length {
            return Err(Error::invalid(
                "text-length",
                format!(
                    "{} is not below the model's maximum length {}",
                    o.text_length, info.max_length
                ),
            ));
        }
        self.limits.check_text(&req.prompt)?;
        Limits::check("max_steps", o.steps, self.limits.max_steps)?;
        let text = tokenizer.encode(&req.prompt)?;
        let (ids, attention, span) = mmada.t2i_canvas(&text, o.text_length);
        let (uncond, uncond_attention, _) = mmada.t2i_canvas(&[], o.text_length);
        if ids.len() > info.max_length {
            return Err(Error::invalid(
                "text-length",
                format!(
                    "the t2i canvas ({} tokens) exceeds the model's maximum length {}",
                    ids.len(),
                    info.max_length
                ),
            ));
        }
        let vocab = self.space.range(tessera_modalities::Modality::Image, 0)?;
        let opts = MaskGitOptions::new(info.mask_id, vocab.clone())
            .steps(o.steps)
            .cfg_scale(o.cfg_scale)
            .temperature(o.temperature)
            .annealing(o.annealing);
        let canvas = SpanCanvas {
            tokens: &ids,
            len: ids.len(),
            attention: Some(&attention),
            span: span.clone(),
            uncond: Some((&uncond, Some(&uncond_attention))),
        };
        let noise: Arc<dyn NoiseSource> = Arc::new(SeededNoise::new(o.seed));
        let decoding = Decoding::maskgit(&self.backbone, &canvas, &opts, noise)?;
        Ok((
            decoding,
            ImageLayout {
                span,
                first_code: vocab.start,
            },
        ))
    }

    /// Answers `req.question` about the image `req.codes` (MMaDA: the understanding template,
    /// LLaDA's block sampler, text positions restricted to text ids).
    ///
    /// # Errors
    /// [`Error::InvalidRequest`] naming `task` for a model without an understanding template,
    /// codes outside the codebook ([`Error::Space`]), and everything
    /// [`Engine::generate`] returns.
    pub fn caption(&self, req: &CaptionRequest) -> Result<Response, Error> {
        let mmada = self.mmada.as_ref().ok_or_else(|| {
            Error::invalid(
                "task",
                "captioning needs a model with image codes and an understanding template (MMaDA)",
            )
        })?;
        if req.codes.is_empty() {
            return Err(Error::invalid("image", "has no codes"));
        }
        self.limits.check_text(&req.question)?;
        let tokenizer = self.tokenizer.as_ref().ok_or(Error::NoTokenizer)?;
        let question = tokenizer.encode_chat(&[ChatMessage::user(req.question.clone())])?;
        let canvas = mmada.mmu_canvas(&self.space, &req.codes, &question)?;
        self.generate(&GenerateRequest::new(Prompt::Ids(canvas)).options(req.options.clone()))
    }

    /// Facts about the model.
    pub fn info(&self) -> &ModelInfo {
        self.backbone.info()
    }

    /// The backbone (the controller's `Denoiser`).
    pub fn backbone(&self) -> &Backbone {
        &self.backbone
    }

    /// The text tokenizer, if the folder has one.
    pub fn tokenizer(&self) -> Option<&TextTokenizer> {
        self.tokenizer.as_deref()
    }

    /// The end-of-turn id (`<|eot_id|>` or `<|im_end|>`), if the tokenizer has one.
    pub fn eot_id(&self) -> Option<u32> {
        self.eot_id
    }

    /// Token ids of a prompt.
    ///
    /// # Errors
    /// [`Error::NoTokenizer`] for text without a tokenizer, [`Error::Text`] for template
    /// problems, [`Error::InvalidRequest`] for an empty prompt.
    pub fn prompt_ids(&self, prompt: &Prompt) -> Result<Vec<u32>, Error> {
        match prompt {
            Prompt::Text(text) => self.limits.check_text(text)?,
            Prompt::Chat(messages) => {
                // cannot overflow: the lengths of strings held in memory at once.
                let bytes = messages.iter().map(|m| m.content.len()).sum();
                Limits::check("max_request_bytes", bytes, self.limits.max_request_bytes)?;
            }
            Prompt::Ids(ids) => {
                Limits::check("max_canvas", ids.len(), self.limits.max_canvas)?;
            }
        }
        let ids = match prompt {
            Prompt::Ids(ids) => ids.clone(),
            Prompt::Text(text) if self.world.is_some() => {
                let tokenizer = self.tokenizer.as_ref().ok_or(Error::NoTokenizer)?;
                let world = self.world.as_deref().ok_or(Error::NoTokenizer)?;
                world
                    .canvas(
                        WorldTask::Text,
                        &crate::TaskInput::Text(text.clone()),
                        tokenizer,
                        &self.space,
                    )?
                    .prompt()
            }
            Prompt::Text(text) => self
                .tokenizer
                .as_ref()
                .ok_or(Error::NoTokenizer)?
                .encode(text)?,
            Prompt::Chat(messages) => self
                .tokenizer
                .as_ref()
                .ok_or(Error::NoTokenizer)?
                .encode_chat(messages)?,
        };
        if ids.is_empty() {
            return Err(Error::invalid("prompt", "is empty"));
        }
        Ok(ids)
    }

    /// Generates for every prompt of `req` (as one left-padded batch).
    ///
    /// # Errors
    /// Invalid options or prompts (named), tokenizer errors, forward failures.
    pub fn generate(&self, req: &GenerateRequest) -> Result<Response, Error> {
        self.generate_with_progress(req, &mut |_| {})
    }

    /// As [`Engine::generate`], calling `on_step` after every denoising step.
    ///
    /// # Errors
    /// As [`Engine::generate`].
    pub fn generate_with_progress(
        &self,
        req: &GenerateRequest,
        on_step: &mut dyn FnMut(StepInfo),
    ) -> Result<Response, Error> {
        let (ids, options, vocab) = self.generate_plan(req)?;
        let start = Instant::now();
        let generation = self.decode(ids, &options, vocab, on_step)?;
        let seconds = start.elapsed().as_secs_f64();
        let mut outputs = Vec::with_capacity(generation.rows());
        for r in 0..generation.rows() {
            let ids = generation.generated(r).to_vec();
            let text = match &self.tokenizer {
                Some(t) => Some(t.decode(&ids, true)?),
                None => None,
            };
            outputs.push(Output { ids, text });
        }
        Ok(Response {
            outputs,
            stats: generation_stats(&generation, seconds),
        })
    }

    /// Decodes the prompts `ids` as one left-padded batch with `options`, drawing generated
    /// tokens from `vocab` when given (LLaDA controller).
    fn decode(
        &self,
        ids: Vec<Vec<u32>>,
        options: &DecodeOptions,
        vocab: Option<std::ops::Range<u32>>,
        on_step: &mut dyn FnMut(StepInfo),
    ) -> Result<tessera_hybrid::Generation, Error> {
        let (batch, o) = self.plan(ids, options, vocab)?;
        let noise = SeededNoise::new(options.seed);
        Ok(tessera_hybrid::controller::generate(
            &self.backbone,
            &batch,
            &o,
            &noise,
            on_step,
        )?)
    }

    /// The prompt batch and resolved options [`Engine::decode`] runs: every check on the
    /// request's lengths happens here.
    fn plan(
        &self,
        ids: Vec<Vec<u32>>,
        options: &DecodeOptions,
        vocab: Option<std::ops::Range<u32>>,
    ) -> Result<(PromptBatch, ControllerOptions), Error> {
        let info = self.backbone.info();
        let mut o = options.resolve(info, self.eot_id)?;
        let lens: Vec<usize> = ids.iter().map(Vec::len).collect();
        let longest = lens.iter().copied().max().unwrap_or(0);
        o.vocab = vocab;
        let room = info.max_length.saturating_sub(longest);
        let grows = o.expand || o.insert.is_some();
        let given = o.max_length.filter(|_| grows);
        if grows && given.is_none() {
            o.max_length = Some(o.gen_length.saturating_mul(8).min(room).max(o.gen_length));
        }
        // With the expansion maximum settled: what the request may grow to.
        self.limits.check_decode(&lens, &o)?;
        if let Some(max) = given.filter(|&max| max > room) {
            return Err(Error::invalid(
                "max-length",
                format!(
                    "prompt ({longest}) + max-length ({max}) exceeds the model's maximum length {}",
                    info.max_length
                ),
            ));
        }
        let gen_length = o.gen_length;
        if longest.saturating_add(gen_length) > info.max_length {
            return Err(Error::invalid(
                "gen-length",
                format!(
                    "prompt ({longest}) + gen-length ({gen_length}) exceeds the model's maximum length {}",
                    info.max_length
                ),
            ));
        }
        let pad = info.pad_id.or(info.eos_id).unwrap_or(info.mask_id);
        let batch = PromptBatch::left_padded(ids, pad)?;
        Ok((batch, o))
    }

    /// A steppable [`Decoding`](tessera_hybrid::Decoding) of `ids` under the controller.
    fn decoding(
        &self,
        ids: Vec<Vec<u32>>,
        options: &DecodeOptions,
        vocab: Option<std::ops::Range<u32>>,
    ) -> Result<EngineDecoding, Error> {
        let (batch, o) = self.plan(ids, options, vocab)?;
        let noise: Arc<dyn NoiseSource> = Arc::new(SeededNoise::new(options.seed));
        Ok(Decoding::new(&self.backbone, &batch, &o, noise)?)
    }

    /// The request as a steppable [`Decoding`](tessera_hybrid::Decoding) on this engine's
    /// backbone, for a [`Driver`](tessera_hybrid::Driver) that advances many requests with one
    /// forward pass. Decoding it to the end gives what [`Engine::generate`] gives, token for
    /// token (the generated ids; text is [`Engine::tokenizer`]'s to decode).
    ///
    /// # Errors
    /// As [`Engine::generate`].
    pub fn generate_decoding(&self, req: &GenerateRequest) -> Result<EngineDecoding, Error> {
        let (ids, options, vocab) = self.generate_plan(req)?;
        self.decoding(ids, &options, vocab)
    }

    /// A steppable infilling of `template` (given ids with the mask id at the blanks) after
    /// `prefix`, under `options` (their `gen_length` is the template's length).
    pub(crate) fn infill_decoding(
        &self,
        prefix: Vec<u32>,
        template: Vec<u32>,
        options: &DecodeOptions,
    ) -> Result<EngineDecoding, Error> {
        let vocab = (self.space.image.is_some() || !self.space.audio.is_empty())
            .then(|| self.space.text.clone());
        let (batch, o) = self.plan(vec![prefix], options, vocab)?;
        let batch = batch.with_template(template)?;
        let noise: Arc<dyn NoiseSource> = Arc::new(SeededNoise::new(options.seed));
        Ok(Decoding::new(&self.backbone, &batch, &o, noise)?)
    }

    /// The prompt ids, options and vocabulary of a generate request.
    #[allow(clippy::type_complexity)]
    fn generate_plan(
        &self,
        req: &GenerateRequest,
    ) -> Result<(Vec<Vec<u32>>, DecodeOptions, Option<std::ops::Range<u32>>), Error> {
        if req.prompts.is_empty() {
            return Err(Error::invalid("prompts", "the request has no prompt"));
        }
        Limits::check("max_prompts", req.prompts.len(), self.limits.max_prompts)?;
        let ids = req
            .prompts
            .iter()
            .map(|p| self.prompt_ids(p))
            .collect::<Result<Vec<_>, _>>()?;
        let mask = self.backbone.info().mask_id;
        if let Some((row, at)) = ids
            .iter()
            .enumerate()
            .find_map(|(r, ids)| ids.iter().position(|&t| t == mask).map(|p| (r, p)))
        {
            return Err(Error::invalid(
                "prompt",
                format!(
                    "prompt {row} holds the mask id {mask} at position {at}: masked prompts \
                     (infilling) are not supported; give the prompt without mask tokens and \
                     let gen-length say how many tokens to generate"
                ),
            ));
        }
        let mut options = req.options.clone();
        if let Some(w) = &self.world {
            let length = options.gen_length.unwrap_or(w.prompting.text_length);
            options = WorldTask::Text.default_options(length, options);
            options.gen_length = Some(length);
        }
        // A vocabulary that continues with image or audio codes: text stays text.
        let vocab = (self.space.image.is_some() || !self.space.audio.is_empty())
            .then(|| self.space.text.clone());
        Ok((ids, options, vocab))
    }

    /// Runs a task of a Tessera world model (`tessera-tiny`): builds each input's canvas
    /// with the model's template and decodes the answer span, restricted to the task's
    /// output modality.
    ///
    /// # Errors
    /// [`Error::InvalidRequest`] naming `task` for a model that is not a Tessera world
    /// model, `input` for an input the task does not take, `prompt` for words outside the
    /// vocabulary, `gen-length` for a media task asked for another length; codes outside
    /// the codebooks ([`Error::Space`]); decoding errors.
    pub fn run_task(&self, req: &TaskRequest) -> Result<TaskResponse, Error> {
        self.run_task_with_progress(req, &mut |_| {})
    }

    /// As [`Engine::run_task`], calling `on_step` after every denoising step.
    ///
    /// # Errors
    /// As [`Engine::run_task`].
    pub fn run_task_with_progress(
        &self,
        req: &TaskRequest,
        on_step: &mut dyn FnMut(StepInfo),
    ) -> Result<TaskResponse, Error> {
        let (prompts, options, vocab, answer) = self.task_plan(req)?;
        let tokenizer = self.tokenizer.as_ref().ok_or(Error::NoTokenizer)?;
        let media = req.task.output() != tessera_modalities::Modality::Text;
        let start = Instant::now();
        let generation = self.decode(prompts, &options, vocab, on_step)?;
        let seconds = start.elapsed().as_secs_f64();
        let mut outputs = Vec::with_capacity(generation.rows());
        for r in 0..generation.rows() {
            let ids = generation.generated(r).to_vec();
            let (text, codes) = if media {
                (None, Some(codes_of(&ids, &answer)))
            } else {
                (Some(tokenizer.decode(&ids, true)?), None)
            };
            outputs.push(TaskOutput { ids, text, codes });
        }
        Ok(TaskResponse {
            outputs,
            stats: generation_stats(&generation, seconds),
        })
    }

    /// The canvases, options, vocabulary and answer spans of a task request.
    #[allow(clippy::type_complexity)]
    fn task_plan(
        &self,
        req: &TaskRequest,
    ) -> Result<
        (
            Vec<Vec<u32>>,
            DecodeOptions,
            Option<std::ops::Range<u32>>,
            Vec<tessera_modalities::AnswerSpan>,
        ),
        Error,
    > {
        let world = self.world.as_deref().ok_or_else(|| {
            Error::invalid(
                "task",
                format!(
                    "the {} task needs a Tessera world model (e.g. tessera-tiny)",
                    req.task
                ),
            )
        })?;
        let tokenizer = self.tokenizer.as_ref().ok_or(Error::NoTokenizer)?;
        if req.inputs.is_empty() {
            return Err(Error::invalid("inputs", "the request has no input"));
        }
        Limits::check("max_prompts", req.inputs.len(), self.limits.max_prompts)?;
        let mut prompts = Vec::with_capacity(req.inputs.len());
        let mut answer = Vec::new();
        for input in &req.inputs {
            match input {
                TaskInput::Text(text) => self.limits.check_text(text)?,
                TaskInput::ImageCodes(codes) | TaskInput::AudioCodes(codes) => {
                    Limits::check("max_canvas", codes.len(), self.limits.max_canvas)?;
                }
            }
            let canvas = world.canvas(req.task, input, tokenizer, &self.space)?;
            answer = canvas.answer(&self.space)?;
            prompts.push(canvas.prompt());
        }
        // Saturating: spans come from the model's config; a sum past `usize::MAX` is then
        // refused by the `max_canvas` limit instead of wrapping.
        let length = answer
            .iter()
            .map(|s| s.length)
            .fold(0, usize::saturating_add);
        let media = req.task.output() != tessera_modalities::Modality::Text;
        // One span: one vocabulary for the whole answer. Several (the levels of a residual
        // audio tokenizer): decoded coarse to fine, a segment per level with its own.
        let (mut options, vocab) = match answer.as_slice() {
            [one] => (
                req.task.default_options(length, req.options.clone()),
                Some(one.vocab.clone()),
            ),
            _ => {
                let mut options = req.options.clone();
                coarse_to_fine(&answer, &mut options)?;
                (options, None)
            }
        };
        match options.gen_length {
            Some(n) if media && n != length => {
                return Err(Error::invalid(
                    "gen-length",
                    format!("the {} task generates exactly {length} codes", req.task),
                ));
            }
            Some(_) => {}
            None => options.gen_length = Some(length),
        }
        Ok((prompts, options, vocab, answer))
    }

    /// The task request as a steppable [`Decoding`](tessera_hybrid::Decoding) (see
    /// [`Engine::generate_decoding`]): decoded to the end, its generated ids are
    /// [`Engine::run_task`]'s `ids`, token for token.
    ///
    /// # Errors
    /// As [`Engine::run_task`].
    pub fn task_decoding(&self, req: &TaskRequest) -> Result<EngineDecoding, Error> {
        Ok(self.task_decoding_spans(req)?.0)
    }

    /// As [`Engine::task_decoding`], with the answer's spans (for [`codes_of`]).
    pub(crate) fn task_decoding_spans(
        &self,
        req: &TaskRequest,
    ) -> Result<(EngineDecoding, Vec<tessera_modalities::AnswerSpan>), Error> {
        let (prompts, options, vocab, answer) = self.task_plan(req)?;
        Ok((self.decoding(prompts, &options, vocab)?, answer))
    }

    /// How many tokens `task` generates on this model (Tessera world models; `None` when the
    /// model cannot do the task).
    pub fn task_length(&self, task: WorldTask) -> Option<usize> {
        let w = self.world.as_deref()?;
        match task {
            // cannot overflow: image tokenizers' loaders bound the grid's sides (u32 pictures).
            WorldTask::T2i => w.image.as_deref().map(|t| t.grid().0 * t.grid().1),
            // `audio_frames` is the model config's: a product past `usize::MAX` is no task.
            WorldTask::T2a => w
                .audio
                .as_deref()
                .filter(|_| w.audio_frames > 0)
                .and_then(|a| w.audio_frames.checked_mul(a.levels().max(1))),
            _ => Some(w.prompting.text_length),
        }
    }

    /// The level-major codes of a generated clip (a `t2a` output's `codes`) as the model's
    /// audio tokenizer's [`AudioCodes`](tessera_modalities::audio::AudioCodes), ready to
    /// decode.
    ///
    /// # Errors
    /// [`Error::InvalidRequest`] when the model has no audio tokenizer or the codes are not
    /// a whole number of frames of its levels.
    pub fn audio_codes(
        &self,
        codes: &[u32],
    ) -> Result<tessera_modalities::audio::AudioCodes, Error> {
        let audio = self
            .audio_tokenizer()
            .ok_or_else(|| Error::invalid("task", "the model folder has no audio tokenizer"))?;
        Ok(tessera_modalities::audio::AudioCodes::new(
            split_levels(codes, audio.levels(), "codes")?
                .map(<[u32]>::to_vec)
                .collect(),
            audio.sample_rate(),
        ))
    }

    /// Whether the model is a Tessera world model (runs [`Engine::run_task`]).
    pub fn is_world_model(&self) -> bool {
        self.world.is_some()
    }

    /// Whether this is a Tessera world model trained to fill blanks inside given text
    /// (`"tessera": {"infill": true}` in its config).
    pub fn fills_blanks(&self) -> bool {
        self.world.as_deref().is_some_and(|w| w.infill)
    }

    /// The world model's templates and tokenizers.
    pub(crate) fn world_model(&self) -> Result<&WorldModel, Error> {
        self.world
            .as_deref()
            .ok_or_else(|| Error::invalid("model", "is not a Tessera world model"))
    }

    /// The model folder's image tokenizer (Tessera world models).
    pub fn image_tokenizer(&self) -> Option<&dyn tessera_modalities::image::ImageTokenizer> {
        self.world.as_deref().and_then(|w| w.image.as_deref())
    }

    /// The model folder's audio tokenizer (Tessera world models).
    pub fn audio_tokenizer(&self) -> Option<&dyn tessera_modalities::audio::AudioTokenizer> {
        self.world.as_deref().and_then(|w| w.audio.as_deref())
    }
}

/// The codebook entries of a media task's generated `ids`: each answer span's ids back to
/// its codebook's entries (restricted sampling keeps every id inside its span's range).
pub(crate) fn codes_of(ids: &[u32], answer: &[tessera_modalities::AnswerSpan]) -> Vec<u32> {
    let mut codes = Vec::with_capacity(ids.len());
    let mut rest = ids;
    // `split_at` cannot fail: the index is clamped to `rest.len()`.
    for span in answer {
        let (here, after) = rest.split_at(span.length.min(rest.len()));
        codes.extend(here.iter().map(|&t| t.saturating_sub(span.vocab.start)));
        rest = after;
    }
    codes
}

/// A steppable decoding on an [`Engine`]'s backbone (see [`Engine::generate_decoding`]).
pub type EngineDecoding = Decoding<'static, tessera_backbone::BackboneCache>;

/// The counters of a controller run that took `seconds`.
pub(crate) fn generation_stats(generation: &tessera_hybrid::Generation, seconds: f64) -> Stats {
    // cannot fail: a generation has at least one row, and `generated × rows` ids exist.
    let generated = generation.generated(0).len();
    let tokens = (generated * generation.rows()) as f64;
    Stats {
        nfe: generation.nfe(),
        seconds,
        forward_seconds: generation.forward_seconds(),
        tokens_per_second: if seconds > 0.0 { tokens / seconds } else { 0.0 },
        tokens_per_forward: generated as f64 / generation.nfe().max(1) as f64,
        revised: generation.revised(),
    }
}

/// The tokenizer a GGUF file carries, when no `tokenizer.json` lies beside it. A vocabulary
/// Tessera cannot rebuild (an unknown pre-tokenizer) leaves the engine without a tokenizer,
/// as a folder without one does: ids still work, text says why it cannot.
fn gguf_text_tokenizer(path: &Path) -> Result<Option<TextTokenizer>, Error> {
    let vocab = match tessera_backbone::gguf_tokenizer(path) {
        Ok(Some(v)) => v,
        Ok(None) => return Ok(None),
        Err(e) => {
            tracing::warn!(error = %e, "no tokenizer: the GGUF file's cannot be rebuilt");
            return Ok(None);
        }
    };
    let chat = vocab
        .chat_template
        .as_deref()
        .map(|t| ChatTemplate::new(t, vocab.bos_token.clone(), vocab.eos_token.clone()))
        .transpose()?;
    Ok(Some(TextTokenizer::from_json(
        vocab.json.as_bytes(),
        chat,
        path,
    )?))
}
