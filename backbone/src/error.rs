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
    #[error("tensor `{name}` has unsupported dtype {dtype} (supported: F32, BF16, F16)")]
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
    /// The tensor library failed.
    #[error("tensor backend error: {0}")]
    Backend(#[from] candle_core::Error),
}
