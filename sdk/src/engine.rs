//! [`Engine`]: a loaded model with its tokenizer, ready to generate.

use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use tessera_backbone::{Backbone, LoadOptions, ModelInfo};
use tessera_hybrid::{PromptBatch, SeededNoise, StepInfo, dream, llada};
use tessera_modalities::TextTokenizer;

use crate::options::Resolved;
use crate::{Error, GenerateRequest, Output, Prompt, Response, Stats};

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
}

impl Engine {
    /// Loads the model folder `dir` (checkpoint precision, CPU).
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
        let dir = dir.as_ref();
        let backbone = Backbone::load_with(dir, opts)?;
        let tokenizer = if dir.join("tokenizer.json").exists() {
            Some(Arc::new(TextTokenizer::from_dir(dir)?))
        } else {
            None
        };
        let eot_id = tokenizer.as_ref().and_then(|t| {
            t.token_to_id("<|eot_id|>")
                .or_else(|| t.token_to_id("<|im_end|>"))
        });
        Ok(Engine {
            backbone,
            tokenizer,
            eot_id,
        })
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
        let ids = match prompt {
            Prompt::Ids(ids) => ids.clone(),
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
        if req.prompts.is_empty() {
            return Err(Error::invalid("prompts", "the request has no prompt"));
        }
        let info = self.backbone.info();
        let resolved = req.options.resolve(info, self.eot_id)?;
        let ids = req
            .prompts
            .iter()
            .map(|p| self.prompt_ids(p))
            .collect::<Result<Vec<_>, _>>()?;
        let longest = ids.iter().map(Vec::len).max().unwrap_or(0);
        let mut resolved = resolved;
        if let Resolved::Llada(o) = &mut resolved
            && o.expand
        {
            let room = info.max_length.saturating_sub(longest);
            match o.max_length {
                Some(max) if max > room => {
                    return Err(Error::invalid(
                        "max-length",
                        format!(
                            "prompt ({longest}) + max-length ({max}) exceeds the model's maximum length {}",
                            info.max_length
                        ),
                    ));
                }
                Some(_) => {}
                None => o.max_length = Some((8 * o.gen_length).min(room).max(o.gen_length)),
            }
        }
        let gen_length = resolved.gen_length();
        if longest + gen_length > info.max_length {
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
        let noise = SeededNoise::new(req.options.seed);
        let start = Instant::now();
        let generation = match &resolved {
            Resolved::Llada(o) => llada::generate(&self.backbone, &batch, o, &noise, on_step)?,
            Resolved::Dream(o) => dream::generate(&self.backbone, &batch, o, &noise, on_step)?,
        };
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
        let generated = generation.generated(0).len();
        let tokens = (generated * generation.rows()) as f64;
        Ok(Response {
            outputs,
            stats: Stats {
                nfe: generation.nfe(),
                seconds,
                forward_seconds: generation.forward_seconds(),
                tokens_per_second: if seconds > 0.0 { tokens / seconds } else { 0.0 },
                tokens_per_forward: generated as f64 / generation.nfe().max(1) as f64,
                revised: generation.revised(),
            },
        })
    }
}
