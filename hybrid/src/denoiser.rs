//! The seam between the controller and a model: [`Denoiser`].

/// Boxed error a [`Denoiser`] implementation returns (the backbone's typed errors travel
/// inside it; downcast to recover them).
pub type DenoiseError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// One forward request: a batch of canvases (equal length, row-major), which key positions
/// are real (padding mask), the attention structure, and which positions the caller needs
/// predictions for.
///
/// ```
/// use tessera_hybrid::DenoiseInput;
/// let tokens = [5, 6, 9, 9];
/// let groups = [0, 0, 1, 1];
/// let input = DenoiseInput::new(&tokens, 4, &[2, 3]).with_groups(Some(&groups));
/// assert_eq!(input.rows(), 1);
/// ```
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub struct DenoiseInput<'a> {
    /// Token ids, `rows × len`, row-major; masked positions hold the mask id.
    pub tokens: &'a [u32],
    /// Length of each row.
    pub len: usize,
    /// `rows × len` key validity (`false` = left padding), or `None` when every position is real.
    pub attention: Option<&'a [bool]>,
    /// Canvas positions (ascending, shared by every row) whose token distributions are wanted.
    pub positions: &'a [usize],
    /// Attention groups per canvas position (shared by every row, non-decreasing): position
    /// `i` sees key `j` iff `groups[j] ≤ groups[i]` (see [`crate::Attention`]); `None` =
    /// full attention.
    pub groups: Option<&'a [u32]>,
}

impl<'a> DenoiseInput<'a> {
    /// A request for `positions` of the rows of length `len` in `tokens`, every position
    /// real and attending to every other.
    pub fn new(tokens: &'a [u32], len: usize, positions: &'a [usize]) -> Self {
        DenoiseInput {
            tokens,
            len,
            attention: None,
            positions,
            groups: None,
        }
    }

    /// Sets the padding mask (`rows × len`, `false` = padding).
    pub fn with_attention(mut self, attention: Option<&'a [bool]>) -> Self {
        self.attention = attention;
        self
    }

    /// Sets the attention groups (one per canvas position).
    pub fn with_groups(mut self, groups: Option<&'a [u32]>) -> Self {
        self.groups = groups;
        self
    }

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
        let cells = rows
            .checked_mul(positions)
            .and_then(|n| n.checked_mul(vocab));
        (cells == Some(data.len())).then_some(Logits {
            data,
            rows,
            positions,
            vocab,
        })
    }

    /// Logits of the given shape, every entry `value`.
    pub fn filled(rows: usize, positions: usize, vocab: usize, value: f32) -> Self {
        // Not input-derived: the shape a denoiser was asked for, whose canvas already exists.
        Logits {
            data: vec![value; rows * positions * vocab],
            rows,
            positions,
            vocab,
        }
    }

    /// The scores of row `row` at the `p`-th requested position.
    pub fn row(&self, row: usize, p: usize) -> &[f32] {
        // cannot fail for `row < rows`, `p < positions` (callers check the shape first):
        // `data` holds exactly `rows × positions × vocab` scores (`from_vec`, `filled`).
        let start = (row * self.positions + p) * self.vocab;
        &self.data[start..start + self.vocab]
    }

    /// Mutable scores of row `row` at the `p`-th requested position.
    pub fn row_mut(&mut self, row: usize, p: usize) -> &mut [f32] {
        // cannot fail for `row < rows`, `p < positions`: as in `row`.
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
///
/// # Caching
/// [`Denoiser::denoise_and_cache`] runs a full pass and hands back per-request state (for a
/// transformer: every layer's keys and values); [`Denoiser::denoise_span`] then recomputes only
/// the rows of a [`Span`], taking everything else from that state. When tokens outside the
/// span changed since the cache was made, the result is an approximation (Fast-dLLM's prefix
/// and dual caches); when nothing outside changed it equals a full pass. The cache belongs to
/// the caller, never to the model. An implementation without a cheaper path may recompute
/// everything in `denoise_span`: that is exact, just not faster.
///
/// For models whose attention has groups ([`Denoiser::attention`] is not full),
/// [`Denoiser::denoise_extend`] is the exact block cache: it computes only a span, sees
/// nothing after it, and appends the finished part of the span to the cache.
pub trait Denoiser: Send + Sync + std::fmt::Debug {
    /// Per-request state of the cached paths (`Default` = an empty block cache).
    type Cache: Send + Default;

    /// Width of each logits row (the model's embedding size, ≥ its tokenizer's vocabulary).
    fn logits_width(&self) -> usize;

    /// The attention structure the model was trained with (default: full).
    fn attention(&self) -> crate::Attention {
        crate::Attention::Full
    }

    /// Runs the model on `input` and returns logits at `input.positions`.
    ///
    /// # Errors
    /// Whatever the implementation fails with (shape errors, device errors), boxed.
    fn denoise(&self, input: &DenoiseInput<'_>) -> Result<Logits, DenoiseError>;

    /// As [`Denoiser::denoise`], also returning the state [`Denoiser::denoise_span`] reuses.
    ///
    /// # Errors
    /// As [`Denoiser::denoise`].
    fn denoise_and_cache(
        &self,
        input: &DenoiseInput<'_>,
    ) -> Result<(Logits, Self::Cache), DenoiseError>;

    /// Recomputes only `span` of every row (all `input.positions` must lie in it), reusing
    /// `cache` for the other rows.
    ///
    /// # Errors
    /// As [`Denoiser::denoise`], plus a cache that does not match the input's shape.
    fn denoise_span(
        &self,
        input: &DenoiseInput<'_>,
        span: Span,
        cache: &Self::Cache,
    ) -> Result<Logits, DenoiseError>;

    /// The exact block cache. `cache` holds the keys and values of positions `0..span.start`
    /// (empty when `span.start` is 0); this computes rows `span` only, attending to the cache
    /// and to the span itself (nothing after `span.end`; `input.groups` must hide it), returns
    /// logits at `input.positions` (inside the span), and appends rows `span.start..keep` to
    /// the cache, which then covers `0..keep`. Exact whenever group boundaries fall at
    /// `span.start`, `keep` and `span.end`.
    ///
    /// The default recomputes the whole canvas under `input.groups` (exact, not faster) and
    /// leaves the cache untouched.
    ///
    /// # Errors
    /// As [`Denoiser::denoise`], plus a cache that does not cover `0..span.start`.
    fn denoise_extend(
        &self,
        input: &DenoiseInput<'_>,
        span: Span,
        keep: usize,
        cache: &mut Self::Cache,
    ) -> Result<Logits, DenoiseError> {
        let _ = (span, keep, cache);
        self.denoise(input)
    }
}

/// A half-open range `start..end` of canvas positions recomputed by a cached pass.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Span {
    /// First recomputed position.
    pub start: usize,
    /// One past the last recomputed position.
    pub end: usize,
}

macro_rules! forward_denoiser {
    ($($ty:ty),*) => {$(
        impl<D: Denoiser + ?Sized> Denoiser for $ty {
            type Cache = D::Cache;
            fn logits_width(&self) -> usize {
                (**self).logits_width()
            }
            fn attention(&self) -> crate::Attention {
                (**self).attention()
            }
            fn denoise_extend(&self, input: &DenoiseInput<'_>, span: Span, keep: usize, cache: &mut Self::Cache) -> Result<Logits, DenoiseError> {
                (**self).denoise_extend(input, span, keep, cache)
            }
            fn denoise(&self, input: &DenoiseInput<'_>) -> Result<Logits, DenoiseError> {
                (**self).denoise(input)
            }
            fn denoise_and_cache(&self, input: &DenoiseInput<'_>) -> Result<(Logits, Self::Cache), DenoiseError> {
                (**self).denoise_and_cache(input)
            }
            fn denoise_span(&self, input: &DenoiseInput<'_>, span: Span, cache: &Self::Cache) -> Result<Logits, DenoiseError> {
                (**self).denoise_span(input, span, cache)
            }
        }
    )*};
}

forward_denoiser!(&D, std::sync::Arc<D>);
