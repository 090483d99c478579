//! The backbone's error types: loading (named files, fields and tensors) and forward passes.

use std::path::PathBuf;

/// Why a checkpoint could not be loaded. Every variant names what was wrong.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LoadError {
    /// A file could not be read.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// A JSON file is not valid JSON (or not the expected shape).
    #[error("{path} is not valid: {source}")]
    Json {
        /// The file.
        path: PathBuf,
        /// The parse error.
        #[source]
        source: serde_json::Error,
    },
    /// A config field is missing, has the wrong type, or holds an unsupported value.
    #[error("config field `{field}` in {path}: {reason}")]
    Config {
        /// The config file.
        path: PathBuf,
        /// The field's name as spelt in the file.
        field: String,
        /// What is wrong with it.
        reason: String,
    },
    /// `config.json` does not describe a known model family.
    #[error(
        "{path}: unknown model family (model_type {model_type:?}, architectures {architectures:?}); supported: llada, dream"
    )]
    UnknownFamily {
        /// The config file.
        path: PathBuf,
        /// Its `model_type`, if any.
        model_type: Option<String>,
        /// Its `architectures`, if any.
        architectures: Vec<String>,
    },
    /// The folder has no weights.
    #[error("no weights in {0}: expected model.safetensors or model.safetensors.index.json")]
    NoWeights(PathBuf),
    /// A safetensors file is malformed (bad header, offsets outside the file).
    #[error("{path} is not a valid safetensors file: {reason}")]
    Safetensors {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// A GGUF file is malformed (bad magic, a header that overruns the file, a tensor whose
    /// bytes lie outside it), or holds what Tessera does not run.
    #[error("{path}: {reason}")]
    Gguf {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// A safetensors file is shorter than its header says.
    #[error(
        "{path} is truncated: tensor `{tensor}` needs bytes up to {needed}, the file has {available}"
    )]
    Truncated {
        /// The file.
        path: PathBuf,
        /// The first tensor that does not fit.
        tensor: String,
        /// Bytes the tensor needs (end offset in the file).
        needed: u64,
        /// Bytes the file has.
        available: u64,
    },
    /// A shard named by `model.safetensors.index.json` is not a plain file inside the model
    /// folder: an absolute path, a path with a `..` component, or one whose resolved form
    /// (symlinks followed) leaves the folder. The shard is refused before it is opened, so
    /// nothing of its content reaches the error.
    #[error("{index}: shard `{shard}` is refused: {reason}")]
    ShardPath {
        /// The index file.
        index: PathBuf,
        /// The shard name as spelt in the index.
        shard: String,
        /// Why it is refused.
        reason: String,
    },
    /// A JSON file (config, generation config, index) is larger than the loader reads.
    #[error("{path} is {len} bytes, more than the {limit} bytes a JSON file may have")]
    FileTooLarge {
        /// The file.
        path: PathBuf,
        /// Its size.
        len: u64,
        /// The largest size read.
        limit: u64,
    },
    /// A safetensors header length is larger than the loader reads (the reference
    /// `safetensors` implementation's limit, 100 MB).
    #[error("{path}: header length {len} is more than the limit of {limit} bytes")]
    HeaderTooLarge {
        /// The file.
        path: PathBuf,
        /// The header length the file declares.
        len: u64,
        /// The largest header read.
        limit: u64,
    },
    /// A key appears twice in a safetensors header (JSON parsers silently keep one).
    #[error("{path}: key `{key}` appears more than once in the header")]
    DuplicateKey {
        /// The file.
        path: PathBuf,
        /// The repeated key.
        key: String,
    },
    /// The same tensor is stored in two shards.
    #[error("tensor `{tensor}` is stored both in {first} and in {second}")]
    DuplicateTensor {
        /// The tensor.
        tensor: String,
        /// The shard that holds it first (in load order).
        first: PathBuf,
        /// The shard that holds it again.
        second: PathBuf,
    },
    /// A tensor's data offsets are reversed (`start > end`).
    #[error("{path}: tensor `{tensor}` has reversed data offsets {start}..{end}")]
    Offsets {
        /// The file.
        path: PathBuf,
        /// The tensor.
        tensor: String,
        /// Its start offset in the data section.
        start: u64,
        /// Its end offset in the data section.
        end: u64,
    },
    /// Two tensors' byte ranges overlap.
    #[error(
        "{path}: tensor `{tensor}` (data bytes {}..{}) overlaps tensor `{other}` (data bytes {}..{})",
        .range.0, .range.1, .other_range.0, .other_range.1
    )]
    Overlap {
        /// The file.
        path: PathBuf,
        /// The later-starting tensor.
        tensor: String,
        /// Its byte range in the data section.
        range: (u64, u64),
        /// The tensor it overlaps.
        other: String,
        /// That tensor's byte range.
        other_range: (u64, u64),
    },
    /// Bytes of the data section belong to no tensor (between tensors, before the first or
    /// after the last: trailing padding counts).
    #[error("{path}: data bytes {start}..{end} belong to no tensor ({})", match .after {
        Some(t) => format!("after tensor `{t}`"),
        None => "before the first tensor".to_string(),
    })]
    Gap {
        /// The file.
        path: PathBuf,
        /// First uncovered byte (data-section offset).
        start: u64,
        /// One past the last uncovered byte.
        end: u64,
        /// The tensor the gap follows, `None` for a gap at the start of the data.
        after: Option<String>,
    },
    /// A tensor's byte range does not hold `dtype size × product(shape)` bytes.
    #[error("{path}: tensor `{tensor}` of dtype {dtype} and shape {shape:?} needs {} bytes, its data offsets span {found}", match .needed {
        Some(n) => n.to_string(),
        None => "more than 2^64".to_string(),
    })]
    TensorSize {
        /// The file.
        path: PathBuf,
        /// The tensor.
        tensor: String,
        /// Its dtype.
        dtype: String,
        /// Its shape (boxed, to keep the error small).
        shape: Box<[usize]>,
        /// Bytes the dtype and shape imply (`None`: the product overflows 64 bits).
        needed: Option<u64>,
        /// Bytes its offsets span.
        found: u64,
    },
    /// A tensor the family needs is absent.
    #[error("tensor `{0}` is missing from the checkpoint")]
    MissingTensor(String),
    /// A tensor has the wrong shape.
    #[error("tensor `{name}` has shape {found:?}, expected {expected:?}")]
    Shape {
        /// The tensor.
        name: String,
        /// The shape the config implies.
        expected: Vec<usize>,
        /// The shape in the file.
        found: Vec<usize>,
    },
    /// A tensor is stored in a dtype this loader does not read.
    #[error(
        "tensor `{name}` has unsupported dtype {dtype} (supported: F32, BF16, F16; GGUF files also the llama.cpp block formats)"
    )]
    Dtype {
        /// The tensor.
        name: String,
        /// Its dtype string.
        dtype: String,
    },
    /// The device could not be used.
    #[error(transparent)]
    Device(#[from] tessera_kernels::KernelError),
    /// The tensor library failed.
    #[error("tensor backend error: {0}")]
    Backend(#[from] candle_core::Error),
}

/// Why a forward pass failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ForwardError {
    /// The input is inconsistent (lengths, positions, ids).
    #[error("invalid forward input: {0}")]
    Input(String),
    /// The forward pass produced a NaN or an infinity: the first non-finite logit, and the
    /// first stage whose output was already non-finite (a NaN weight, an overflow).
    #[error(
        "non-finite logit {value} (row {row}, position {position}, token {token}); first non-finite output: {stage}"
    )]
    NonFinite {
        /// The first stage whose output held a NaN or an infinity.
        stage: Stage,
        /// The canvas row of the first non-finite logit.
        row: usize,
        /// The requested position (canvas index) of that logit.
        position: usize,
        /// The vocabulary column (token id) of that logit.
        token: usize,
        /// The value itself (NaN, inf or -inf).
        value: f32,
    },
    /// The tensor library failed.
    #[error("tensor backend error: {0}")]
    Backend(#[from] candle_core::Error),
}

/// A stage of the forward pass, as named by [`ForwardError::NonFinite`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Stage {
    /// The token embedding lookup (with the place embedding, if any).
    Embedding,
    /// The output of transformer block `i` (0-based).
    Block(usize),
    /// The final norm and the LM head.
    Head,
}

impl std::fmt::Display for Stage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Stage::Embedding => f.write_str("the embedding"),
            Stage::Block(i) => write!(f, "block {i}"),
            Stage::Head => f.write_str("the final norm and LM head"),
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn errors_stay_small() {
        // They travel inside other crates' errors; clippy's `result_large_err` starts at 128.
        assert!(std::mem::size_of::<super::LoadError>() <= 112);
        assert!(std::mem::size_of::<super::ForwardError>() <= 112);
    }
}
