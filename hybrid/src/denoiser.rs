//! The seam between the controller and a model: [`Denoiser`].

/// Boxed error a [`Denoiser`] implementation returns (the backbone's typed errors travel
/// inside it; downcast to recover them).
pub type DenoiseError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// One forward request: a batch of canvases (equal length, row-major), which key positions
/// are real (padding mask), and which positions the caller needs predictions for.
#[derive(Debug, Clone, Copy)]
pub struct DenoiseInput<'a> {
    /// Token ids, `rows × len`, row-major; masked positions hold the mask id.
    pub tokens: &'a [u32],
    /// Length of each row.
    pub len: usize,
    /// `rows × len` key validity (`false` = left padding), or `None` when every position is real.
    pub attention: Option<&'a [bool]>,
    /// Canvas positions (ascending, shared by every row) whose token distributions are wanted.
    pub positions: &'a [usize],
}

impl DenoiseInput<'_> {
    /// Number of rows in the batch.
    pub fn rows(&self) -> usize {
        self.tokens.len().checked_div(self.len).unwrap_or(0)
    }
}

/// Logits for `rows × positions`, each a row of `vocab` scores, stored contiguously.
#[derive(Debug, Clone, PartialEq)]
pub struct Logits {
    data: Vec<f32>,
    rows: usize,
    positions: usize,
    vocab: usize,
}

impl Logits {
    /// Wraps `data` laid out `[rows][positions][vocab]`; `None` if the length does not match.
    pub fn from_vec(data: Vec<f32>, rows: usize, positions: usize, vocab: usize) -> Option<Self> {
        (data.len() == rows * positions * vocab).then_some(Logits {
            data,
            rows,
            positions,
            vocab,
        })
    }

    /// Logits of the given shape, every entry `value`.
    pub fn filled(rows: usize, positions: usize, vocab: usize, value: f32) -> Self {
        Logits {
            data: vec![value; rows * positions * vocab],
            rows,
            positions,
            vocab,
        }
    }

    /// The scores of row `row` at the `p`-th requested position.
    pub fn row(&self, row: usize, p: usize) -> &[f32] {
        let start = (row * self.positions + p) * self.vocab;
        &self.data[start..start + self.vocab]
    }

    /// Mutable scores of row `row` at the `p`-th requested position.
    pub fn row_mut(&mut self, row: usize, p: usize) -> &mut [f32] {
        let start = (row * self.positions + p) * self.vocab;
        &mut self.data[start..start + self.vocab]
    }

    /// Number of batch rows.
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// Number of positions per row.
    pub fn positions(&self) -> usize {
        self.positions
    }

    /// Width of each score row.
    pub fn vocab(&self) -> usize {
        self.vocab
    }

    /// The flat `[rows][positions][vocab]` storage.
    pub fn as_slice(&self) -> &[f32] {
        &self.data
    }
}

/// A masked-diffusion model as the controller sees it: given canvases, predict the token at
/// each requested position.
///
/// # Contract
/// - `denoise` returns logits of shape `rows × positions.len() × vocab_size()`, where entry
///   `(r, i)` is the model's distribution for the token at canvas position
///   `positions[i]` of row `r`. A model that predicts "shifted" (Dream: position `i−1`'s
///   output predicts token `i`) does the shift itself; the controller never knows.
/// - It takes `&self`: weights are shared and read-only, so one loaded model serves many
///   requests at once. Anything per request (caches) belongs to the caller, not the model.
/// - It must not mutate or keep the input, and must be deterministic for the same input.
///
/// A wrong way, for contrast: a denoiser that keeps a KV cache in `&mut self` would
/// serialise every request through one lock and silently mix two requests' states.
pub trait Denoiser: Send + Sync + std::fmt::Debug {
    /// Width of each logits row (the model's embedding size, ≥ its tokenizer's vocabulary).
    fn logits_width(&self) -> usize;

    /// Runs the model on `input` and returns logits at `input.positions`.
    ///
    /// # Errors
    /// Whatever the implementation fails with (shape errors, device errors), boxed.
    fn denoise(&self, input: &DenoiseInput<'_>) -> Result<Logits, DenoiseError>;
}

impl<D: Denoiser + ?Sized> Denoiser for &D {
    fn logits_width(&self) -> usize {
        (**self).logits_width()
    }
    fn denoise(&self, input: &DenoiseInput<'_>) -> Result<Logits, DenoiseError> {
        (**self).denoise(input)
    }
}

impl<D: Denoiser + ?Sized> Denoiser for std::sync::Arc<D> {
    fn logits_width(&self) -> usize {
        (**self).logits_width()
    }
    fn denoise(&self, input: &DenoiseInput<'_>) -> Result<Logits, DenoiseError> {
        (**self).denoise(input)
    }
}
