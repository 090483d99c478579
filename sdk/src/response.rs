//! What generation returns.

use serde::Serialize;

/// Timing and work counters of one generation call.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[non_exhaustive]
pub struct Stats {
    /// Forward passes of the model (a CFG pass over the doubled batch counts once).
    pub nfe: usize,
    /// Wall-clock seconds of decoding (tokenization excluded).
    pub seconds: f64,
    /// Of `seconds`, the time spent in the model's forward passes (the rest is the controller).
    pub forward_seconds: f64,
    /// Generated tokens per second, over all rows.
    pub tokens_per_second: f64,
    /// Generated tokens per forward pass, per row (1.0 = one token per step).
    pub tokens_per_forward: f64,
    /// Committed tokens that remasking took back or changed, over all rows.
    pub revised: usize,
}

/// One generated sequence.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[non_exhaustive]
pub struct Output {
    /// The generated ids only (`gen_length` of them).
    pub ids: Vec<u32>,
    /// Their text (special tokens skipped), when the model has a tokenizer.
    pub text: Option<String>,
}

/// The result of a [`GenerateRequest`](crate::GenerateRequest): one output per prompt.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[non_exhaustive]
pub struct Response {
    /// Outputs, in prompt order.
    pub outputs: Vec<Output>,
    /// Counters for the whole batch.
    pub stats: Stats,
}
