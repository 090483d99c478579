//! A loaded backbone: config + weights of one family, serving the [`Denoiser`] seam.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use candle_core::DType;
use tessera_hybrid::{Attention, DenoiseError, DenoiseInput, Denoiser, Logits, Span};
use tessera_kernels::Device;

use crate::config::{Family, GenerationIds, ModelConfig};
use crate::dream::DreamNames;
use crate::llada::LladaNames;
use crate::safetensors::Checkpoint;
use crate::spec::Spec;
use crate::transformer::{KvCache, Mode, TensorNames, Transformer};
use crate::{ForwardError, LoadError};

/// Weight precision to compute in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum Dtype {
    /// 32-bit float.
    F32,
    /// bfloat16 (what the public 7–8B checkpoints ship).
    Bf16,
    /// IEEE half.
    F16,
}

impl Dtype {
    fn candle(self) -> DType {
        match self {
            Dtype::F32 => DType::F32,
            Dtype::Bf16 => DType::BF16,
            Dtype::F16 => DType::F16,
        }
    }

    fn from_stored(s: &str) -> Option<Self> {
        match s {
            "F32" => Some(Dtype::F32),
            "BF16" => Some(Dtype::Bf16),
            "F16" => Some(Dtype::F16),
            _ => None,
        }
    }

    /// Parses `f32`, `bf16` or `f16`.
    pub fn parse(s: &str) -> Option<Self> {
        match s.to_ascii_lowercase().as_str() {
            "f32" | "float32" => Some(Dtype::F32),
            "bf16" | "bfloat16" => Some(Dtype::Bf16),
            "f16" | "float16" => Some(Dtype::F16),
            _ => None,
        }
    }
}

impl std::fmt::Display for Dtype {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Dtype::F32 => "f32",
            Dtype::Bf16 => "bf16",
            Dtype::F16 => "f16",
        })
    }
}

/// How to load a checkpoint.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct LoadOptions {
    /// Compute precision; `None` keeps the checkpoint's own.
    pub dtype: Option<Dtype>,
    /// Device to load onto.
    pub device: Device,
    /// Run every op through candle, even where Tessera's CPU kernels apply (packed GEMM,
    /// fused attention, vectorised SwiGLU): the baseline `tessera bench forward
    /// --compare-candle` measures them against.
    pub candle_only: bool,
}

impl LoadOptions {
    /// Sets the compute precision.
    pub fn dtype(mut self, dtype: Dtype) -> Self {
        self.dtype = Some(dtype);
        self
    }

    /// Sets the device.
    pub fn device(mut self, device: Device) -> Self {
        self.device = device;
        self
    }

    /// Sets [`LoadOptions::candle_only`].
    pub fn candle_only(mut self, yes: bool) -> Self {
        self.candle_only = yes;
        self
    }
}

/// What `tessera inspect` reports about a model.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[non_exhaustive]
pub struct ModelInfo {
    /// The family.
    pub family: Family,
    /// Parameter count.
    pub parameters: u64,
    /// Transformer blocks.
    pub layers: usize,
    /// Hidden size.
    pub hidden_size: usize,
    /// Attention heads.
    pub heads: usize,
    /// Key/value heads.
    pub kv_heads: usize,
    /// MLP hidden size.
    pub intermediate_size: usize,
    /// Tokenizer vocabulary from the config.
    pub vocab_size: usize,
    /// Logits width (embedding rows).
    pub embedding_size: usize,
    /// Longest supported canvas.
    pub max_length: usize,
    /// Mask id.
    pub mask_id: u32,
    /// EOS id.
    pub eos_id: Option<u32>,
    /// Padding id.
    pub pad_id: Option<u32>,
    /// BOS id.
    pub bos_id: Option<u32>,
    /// Precision stored in the checkpoint.
    pub stored_dtype: Dtype,
    /// Precision computed in.
    pub dtype: Dtype,
    /// Bytes of tensor data in the checkpoint.
    pub checkpoint_bytes: u64,
    /// The attention structure the model was trained with.
    pub attention: Attention,
}

#[derive(Debug)]
struct Inner {
    dir: PathBuf,
    config: ModelConfig,
    info: ModelInfo,
    transformer: Transformer,
}

/// A loaded model of any supported family. Cheap to clone (the weights are shared), `Send +
/// Sync`, and usable from many threads at once.
#[derive(Debug, Clone)]
pub struct Backbone {
    inner: Arc<Inner>,
}

impl Backbone {
    /// Loads the model in `dir` with default options (checkpoint precision, CPU).
    ///
    /// # Errors
    /// Any [`LoadError`]: unreadable or malformed config, unknown family, missing or
    /// truncated weights, a tensor of the wrong shape (named, with both shapes).
    pub fn load(dir: impl AsRef<Path>) -> Result<Self, LoadError> {
        Self::load_with(dir, &LoadOptions::default())
    }

    /// Loads the model in `dir` with `opts`.
    ///
    /// # Errors
    /// As [`Backbone::load`], plus device errors.
    pub fn load_with(dir: impl AsRef<Path>, opts: &LoadOptions) -> Result<Self, LoadError> {
        let dir = dir.as_ref();
        let config = ModelConfig::from_dir(dir)?;
        let device = opts.device.to_candle()?;
        let ck = Checkpoint::open(dir)?;
        let (spec, names, ids): (Spec, &dyn TensorNames, _) = match &config {
            ModelConfig::Llada(c) | ModelConfig::Mmada(c) => (
                c.spec(),
                &LladaNames,
                (
                    c.vocab_size,
                    c.max_sequence_length,
                    c.mask_token_id,
                    c.eos_token_id,
                    c.pad_token_id,
                    c.bos_token_id,
                ),
            ),
            ModelConfig::Dream(c) => (
                c.spec(),
                &DreamNames,
                (
                    c.vocab_size,
                    c.max_position_embeddings,
                    c.mask_token_id,
                    c.eos_token_id,
                    c.pad_token_id,
                    c.bos_token_id,
                ),
            ),
        };
        let embed_name = names.embedding();
        let stored = ck
            .dtype_of(&embed_name)
            .ok_or_else(|| LoadError::MissingTensor(embed_name.clone()))?;
        let stored_dtype = Dtype::from_stored(stored).ok_or_else(|| LoadError::Dtype {
            name: embed_name.clone(),
            dtype: stored.to_string(),
        })?;
        let dtype = opts.dtype.unwrap_or(stored_dtype);
        let (vocab_size, max_length, mask_id, eos_id, pad_id, bos_id) = ids;
        let generation = GenerationIds::from_dir(dir, spec.embed_rows)?;
        let (eos_id, pad_id, bos_id) = (
            eos_id.or(generation.eos),
            pad_id.or(generation.pad),
            bos_id.or(generation.bos),
        );
        let info = ModelInfo {
            family: config.family(),
            parameters: spec.parameters(),
            layers: spec.layers,
            hidden_size: spec.hidden,
            heads: spec.heads,
            kv_heads: spec.kv_heads,
            intermediate_size: spec.intermediate,
            vocab_size,
            embedding_size: spec.embed_rows,
            max_length,
            mask_id,
            eos_id,
            pad_id,
            bos_id,
            stored_dtype,
            dtype,
            checkpoint_bytes: ck.data_bytes(),
            attention: spec.attention,
        };
        let transformer =
            Transformer::load(&ck, names, spec, dtype.candle(), &device, !opts.candle_only)?;
        drop(ck);
        Ok(Backbone {
            inner: Arc::new(Inner {
                dir: dir.to_path_buf(),
                config,
                info,
                transformer,
            }),
        })
    }

    /// Facts about the model (family, sizes, special ids, precision).
    pub fn info(&self) -> &ModelInfo {
        &self.inner.info
    }

    /// The parsed config.
    pub fn config(&self) -> &ModelConfig {
        &self.inner.config
    }

    /// The folder the model was loaded from.
    pub fn dir(&self) -> &Path {
        &self.inner.dir
    }

    /// Runs the model and returns logits predicting the tokens at `input.positions` of each
    /// row (shifted families shift internally), under the input's padding mask and attention
    /// groups.
    ///
    /// # Errors
    /// [`ForwardError::Input`] for inconsistent input (ids outside the embedding, positions
    /// out of range or unsorted, groups of the wrong length or decreasing, a canvas longer
    /// than the model supports); [`ForwardError::NonFinite`] when a logit is NaN or infinite
    /// (a NaN weight, an overflow).
    pub fn logits(&self, input: &DenoiseInput<'_>) -> Result<Logits, ForwardError> {
        self.run(input, Mode::Full)
    }

    /// As [`Backbone::logits`], also keeping every layer's keys and values for
    /// [`Backbone::logits_span`].
    ///
    /// # Errors
    /// As [`Backbone::logits`].
    pub fn logits_and_cache(
        &self,
        input: &DenoiseInput<'_>,
    ) -> Result<(Logits, BackboneCache), ForwardError> {
        let mut cache = KvCache::default();
        let logits = self.run(input, Mode::Capture(&mut cache))?;
        Ok((logits, BackboneCache(cache)))
    }

    /// Recomputes only positions `span` of each row, taking the other rows' keys and values
    /// from `cache` (exact if those rows are unchanged since the cache was made, Fast-dLLM's
    /// approximation otherwise). Every requested position must lie in the span.
    ///
    /// # Errors
    /// As [`Backbone::logits`], plus a cache of another shape or positions outside the span.
    pub fn logits_span(
        &self,
        input: &DenoiseInput<'_>,
        span: Span,
        cache: &BackboneCache,
    ) -> Result<Logits, ForwardError> {
        let mode = Mode::Span {
            start: span.start,
            end: span.end,
            cache: &cache.0,
        };
        self.run(input, mode)
    }

    /// The exact block cache ([`Denoiser::denoise_extend`]): computes only rows `span`,
    /// attending to `cache` (which must cover `0..span.start`; start from
    /// `BackboneCache::default()`) and to the span itself, then appends rows
    /// `span.start..keep` to the cache. Needs attention groups with boundaries at
    /// `span.start`, `keep` and `span.end`.
    ///
    /// # Errors
    /// As [`Backbone::logits`], plus a cache that does not cover `0..span.start`, missing
    /// groups or a boundary inside a group, or a shifted family (Dream).
    pub fn logits_extend(
        &self,
        input: &DenoiseInput<'_>,
        span: Span,
        keep: usize,
        cache: &mut BackboneCache,
    ) -> Result<Logits, ForwardError> {
        let mode = Mode::Extend {
            start: span.start,
            end: span.end,
            keep,
            cache: &mut cache.0,
        };
        self.run(input, mode)
    }

    fn run(&self, input: &DenoiseInput<'_>, mode: Mode<'_>) -> Result<Logits, ForwardError> {
        let info = &self.inner.info;
        if input.len > info.max_length {
            return Err(ForwardError::Input(format!(
                "canvas of {} tokens exceeds the model's maximum of {}",
                input.len, info.max_length
            )));
        }
        let data = self.inner.transformer.forward(input, mode)?;
        let rows = input.tokens.len() / input.len;
        let vocab = self.inner.transformer.spec().embed_rows;
        Logits::from_vec(data, rows, input.positions.len(), vocab)
            .ok_or_else(|| ForwardError::Input("logits have an unexpected size".into()))
    }

    /// The candle dtype weights are held in.
    pub fn candle_dtype(&self) -> DType {
        self.inner.transformer.dtype()
    }
}

/// Every layer's keys and values (`f32`, after RoPE), owned by the request that made it: a
/// full pass's capture (prefix/dual caches) or the block cache's finished prefix. The default
/// is an empty block cache.
#[derive(Debug, Default)]
pub struct BackboneCache(KvCache);

impl Denoiser for Backbone {
    type Cache = BackboneCache;

    fn logits_width(&self) -> usize {
        self.inner.info.embedding_size
    }

    fn attention(&self) -> Attention {
        self.inner.info.attention
    }

    fn denoise(&self, input: &DenoiseInput<'_>) -> Result<Logits, DenoiseError> {
        Ok(self.logits(input)?)
    }

    fn denoise_and_cache(
        &self,
        input: &DenoiseInput<'_>,
    ) -> Result<(Logits, BackboneCache), DenoiseError> {
        Ok(self.logits_and_cache(input)?)
    }

    fn denoise_span(
        &self,
        input: &DenoiseInput<'_>,
        span: Span,
        cache: &BackboneCache,
    ) -> Result<Logits, DenoiseError> {
        Ok(self.logits_span(input, span, cache)?)
    }

    fn denoise_extend(
        &self,
        input: &DenoiseInput<'_>,
        span: Span,
        keep: usize,
        cache: &mut BackboneCache,
    ) -> Result<Logits, DenoiseError> {
        Ok(self.logits_extend(input, span, keep, cache)?)
    }
}
