//! A loaded backbone: config + weights of one family, serving the [`Denoiser`] seam.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use candle_core::DType;
use tessera_hybrid::{Attention, DenoiseError, DenoiseInput, Denoiser, Logits, Span};
use tessera_kernels::Device;

use crate::Dtype;
use crate::config::{Family, GenerationIds, ModelConfig};
use crate::dream::DreamNames;
use crate::gguf::{GgufFile, GgufNames};
use crate::llada::LladaNames;
use crate::safetensors::Checkpoint;
use crate::spec::Spec;
use crate::transformer::{KvCache, Mode, TensorNames, Transformer};
use crate::weights::{Matrices, Quantize, Source};
use crate::{ForwardError, LoadError};

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
    /// The file format the weights came from.
    pub format: Format,
    /// How many tensors the checkpoint stores in each format, by the format's name
    /// (`F32`, `BF16`, llama.cpp's `Q4_K`, …).
    pub tensor_types: BTreeMap<String, usize>,
}

/// A checkpoint's file format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum Format {
    /// A Hugging Face folder: `config.json` and safetensors (one file or shards).
    Safetensors,
    /// A llama.cpp GGUF file.
    Gguf,
}

impl std::fmt::Display for Format {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Format::Safetensors => "safetensors",
            Format::Gguf => "gguf",
        })
    }
}

/// What a checkpoint says about its stored weights.
struct Stored {
    /// The precision of (most of) its matrices.
    dtype: Dtype,
    bytes: u64,
    types: BTreeMap<String, usize>,
    format: Format,
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
    /// Loads the model at `path` with default options (checkpoint precision, CPU): a
    /// Hugging Face folder (`config.json` + safetensors), a GGUF file (its folder may
    /// hold the tokenizer and `generation_config.json`), or a folder without `config.json`
    /// holding exactly one GGUF file.
    ///
    /// # Errors
    /// Any [`LoadError`]: unreadable or malformed config, unknown family, missing or
    /// truncated weights, a tensor of the wrong shape (named, with both shapes).
    pub fn load(path: impl AsRef<Path>) -> Result<Self, LoadError> {
        Self::load_with(path, &LoadOptions::default())
    }

    /// Loads the model at `path` (as [`Backbone::load`]) with `opts`.
    ///
    /// # Errors
    /// As [`Backbone::load`], plus device errors.
    pub fn load_with(path: impl AsRef<Path>, opts: &LoadOptions) -> Result<Self, LoadError> {
        let path = path.as_ref();
        let path = &crate::gguf::only_gguf_in(path)?.unwrap_or_else(|| path.to_path_buf());
        if crate::gguf::is_gguf(path) {
            let mut file = GgufFile::open(path)?;
            let config = file.config()?;
            let stored = Stored {
                dtype: file.stored_dtype()?,
                bytes: file.data_bytes(),
                types: file.tensor_types(),
                format: Format::Gguf,
            };
            let folder = path.parent().unwrap_or(Path::new("."));
            return Self::assemble(path, folder, config, &file, &GgufNames, stored, opts);
        }
        if path.is_file() {
            return Err(LoadError::Gguf {
                path: path.to_path_buf(),
                reason: "not a GGUF file (no `GGUF` magic) and not a model folder".into(),
            });
        }
        let config = ModelConfig::from_dir(path)?;
        let ck = Checkpoint::open(path)?;
        let names: &dyn TensorNames = match &config {
            ModelConfig::Llada(_) | ModelConfig::Mmada(_) => &LladaNames,
            ModelConfig::Dream(_) => &DreamNames,
        };
        let embed_name = names.embedding();
        let stored = ck
            .dtype_of(&embed_name)
            .ok_or_else(|| LoadError::MissingTensor(embed_name.clone()))?;
        let stored = Stored {
            dtype: Dtype::from_stored(stored).ok_or_else(|| LoadError::Dtype {
                name: embed_name.clone(),
                dtype: stored.to_string(),
            })?,
            bytes: ck.data_bytes(),
            types: ck.tensor_types(),
            format: Format::Safetensors,
        };
        Self::assemble(path, path, config, &ck, names, stored, opts)
    }

    /// Builds the model of `config` from `source`; `folder` may hold
    /// `generation_config.json`.
    fn assemble(
        path: &Path,
        folder: &Path,
        config: ModelConfig,
        source: &dyn Source,
        names: &dyn TensorNames,
        stored: Stored,
        opts: &LoadOptions,
    ) -> Result<Self, LoadError> {
        let device = opts.device.to_candle()?;
        let (spec, ids): (Spec, _) = match &config {
            ModelConfig::Llada(c) | ModelConfig::Mmada(c) => (
                c.spec(),
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
        let dtype = opts.dtype.unwrap_or(stored.dtype);
        let (vocab_size, max_length, mask_id, eos_id, pad_id, bos_id) = ids;
        let generation = GenerationIds::from_dir(folder, spec.embed_rows)?;
        let (eos_id, pad_id, bos_id) = (
            eos_id.or(generation.eos),
            pad_id.or(generation.pad),
            bos_id.or(generation.bos),
        );
        let quantize = match (opts.dtype, dtype.ggml()) {
            // A quantized file loaded in its own precision keeps every tensor's format.
            (None, Some(_)) => Quantize::AsStored,
            (_, Some(g)) => Quantize::To(g),
            (_, None) => Quantize::No,
        };
        let matrices = Matrices {
            source,
            device: &device,
            dtype: dtype.candle(),
            quantize,
            kernels: !opts.candle_only,
        };
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
            stored_dtype: stored.dtype,
            dtype,
            checkpoint_bytes: stored.bytes,
            attention: spec.attention,
            format: stored.format,
            tensor_types: stored.types,
        };
        let transformer = Transformer::load(&matrices, names, spec)?;
        if quantize != Quantize::No {
            // Quantizing left the heap full of freed float matrices between the packed
            // weights; hand those pages back (a 239M `q4k` model: 215 MB resident → 143 MB).
            crate::weights::return_freed_heap();
        }
        Ok(Backbone {
            inner: Arc::new(Inner {
                dir: path.to_path_buf(),
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

    /// The folder (or GGUF file) the model was loaded from.
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

    /// Bytes the loaded weights occupy in memory: packed, quantized or as loaded (compare
    /// [`ModelInfo::checkpoint_bytes`], the file's).
    pub fn weight_bytes(&self) -> u64 {
        self.inner.transformer.weight_bytes()
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
