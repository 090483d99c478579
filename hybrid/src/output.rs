//! What a sampler returns and reports while it runs.

/// What one step did, reported once per step (progress bars, streaming UIs).
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[non_exhaustive]
pub struct StepInfo {
    /// Steps finished so far (1-based after the first step).
    pub step: usize,
    /// Steps the run will take at most.
    pub total_steps: usize,
    /// Tokens committed in this step, over all rows (`tokens.len()`).
    pub committed: usize,
    /// The tokens committed in this step.
    pub tokens: Vec<TokenEvent>,
    /// Positions re-masked in this step (remasking).
    pub remasked: Vec<PositionEvent>,
}

impl StepInfo {
    pub(crate) fn new(
        step: usize,
        total_steps: usize,
        tokens: Vec<TokenEvent>,
        remasked: Vec<PositionEvent>,
    ) -> Self {
        StepInfo {
            step,
            total_steps,
            committed: tokens.len(),
            tokens,
            remasked,
        }
    }
}

/// A token committed at a position.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct TokenEvent {
    /// Batch row.
    pub row: usize,
    /// Canvas position.
    pub position: usize,
    /// The token.
    pub token: u32,
    /// The confidence it was committed with.
    pub confidence: f64,
}

/// A position of a batch row.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct PositionEvent {
    /// Batch row.
    pub row: usize,
    /// Canvas position.
    pub position: usize,
}

/// The finished canvases of a batch. Two generations are equal when their tokens and
/// counters are; timings are not compared.
#[derive(Debug, Clone)]
pub struct Generation {
    pub(crate) tokens: Vec<u32>,
    pub(crate) rows: usize,
    pub(crate) prompt_len: usize,
    pub(crate) total_len: usize,
    pub(crate) nfe: usize,
    pub(crate) revised: usize,
    pub(crate) forward_seconds: f64,
}

impl Generation {
    /// Number of rows.
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// The whole canvas of `row`: padded prompt, then the generated tokens.
    pub fn canvas(&self, row: usize) -> &[u32] {
        // cannot fail for `row < rows()`: `tokens` holds `rows × total_len` ids, and
        // `prompt_len ≤ total_len` (the decoding made them together).
        &self.tokens[row * self.total_len..(row + 1) * self.total_len]
    }

    /// The generated tokens of `row` only.
    pub fn generated(&self, row: usize) -> &[u32] {
        &self.canvas(row)[self.prompt_len..]
    }

    /// Forward passes of the denoiser (a CFG pass over the doubled batch counts once).
    pub fn nfe(&self) -> usize {
        self.nfe
    }

    /// Committed tokens that remasking took back or changed, over all rows.
    pub fn revised(&self) -> usize {
        self.revised
    }

    /// Wall-clock seconds spent inside the denoiser (the rest of the run is the controller).
    pub fn forward_seconds(&self) -> f64 {
        self.forward_seconds
    }
}

impl PartialEq for Generation {
    fn eq(&self, other: &Self) -> bool {
        self.tokens == other.tokens
            && self.rows == other.rows
            && self.prompt_len == other.prompt_len
            && self.total_len == other.total_len
            && self.nfe == other.nfe
            && self.revised == other.revised
    }
}

impl Eq for Generation {}
