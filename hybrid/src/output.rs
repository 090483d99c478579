//! What a sampler returns and reports while it runs.

/// Progress of a running sampler, reported once per step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StepInfo {
    /// Steps finished so far (1-based after the first step).
    pub step: usize,
    /// Steps the run will take in total.
    pub total_steps: usize,
    /// Tokens committed in this step, over all rows.
    pub committed: usize,
}

/// The finished canvases of a batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Generation {
    pub(crate) tokens: Vec<u32>,
    pub(crate) rows: usize,
    pub(crate) prompt_len: usize,
    pub(crate) total_len: usize,
    pub(crate) nfe: usize,
    pub(crate) revised: usize,
}

impl Generation {
    /// Number of rows.
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// The whole canvas of `row`: padded prompt, then the generated tokens.
    pub fn canvas(&self, row: usize) -> &[u32] {
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
}
