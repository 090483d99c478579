//! One denoising pass of a sampler over its batch: classifier-free guidance (a doubled batch
//! with the prompt masked in the second half) and the cached paths, in one place.

use crate::llada::check_shape;
use crate::{CacheMode, DenoiseInput, Denoiser, Error, Logits, Span};

/// What every pass of one generation shares.
#[derive(Debug)]
pub(crate) struct Pass<'a> {
    pub(crate) rows: usize,
    pub(crate) len: usize,
    pub(crate) mask: u32,
    pub(crate) vocab: usize,
    pub(crate) attention: Option<&'a [bool]>,
    /// `Some(scale)` runs CFG.
    pub(crate) cfg_scale: Option<f64>,
    /// Which canvas positions are prompt (masked in the unconditional half).
    pub(crate) prompt_index: &'a [bool],
    cfg_attention: Option<Vec<bool>>,
    /// Attention groups per canvas position (`None` = full attention).
    pub(crate) groups: Option<Vec<u32>>,
    /// Seconds spent in the denoiser so far.
    pub(crate) forward_seconds: std::cell::Cell<f64>,
}

/// How a pass uses the per-request cache.
#[derive(Debug)]
pub(crate) enum Reuse<'c, C> {
    /// A plain full pass.
    Full,
    /// A full pass that (re)builds the cache.
    Build(&'c mut Option<C>),
    /// Recompute only the span, the rest from the cache.
    Span(&'c C, Span),
    /// The exact block cache: compute only the span over the cached prefix, then append
    /// `span.start..keep` to the cache ([`Denoiser::denoise_extend`]).
    Extend {
        /// The block cache.
        cache: &'c mut C,
        /// The rows computed.
        span: Span,
        /// The cache covers `0..keep` afterwards.
        keep: usize,
    },
}

impl<'a> Pass<'a> {
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn new(
        rows: usize,
        len: usize,
        mask: u32,
        vocab: usize,
        attention: Option<&'a [bool]>,
        cfg_scale: f64,
        prompt_index: &'a [bool],
    ) -> Self {
        let cfg = cfg_scale > 0.0;
        Pass {
            rows,
            len,
            mask,
            vocab,
            attention,
            cfg_scale: cfg.then_some(cfg_scale),
            prompt_index,
            cfg_attention: attention.filter(|_| cfg).map(|a| [a, a].concat()),
            forward_seconds: std::cell::Cell::new(0.0),
            groups: None,
        }
    }

    /// Lays the canvas out under `groups` (see [`crate::Attention::groups`]).
    pub(crate) fn with_groups(mut self, groups: Option<Vec<u32>>) -> Self {
        self.groups = groups;
        self
    }

    /// Logits at `positions` of every row of `x`.
    pub(crate) fn run<D: Denoiser + ?Sized>(
        &self,
        model: &D,
        x: &[u32],
        positions: &[usize],
        reuse: Reuse<'_, D::Cache>,
    ) -> Result<Logits, Error> {
        let both: Vec<u32>;
        let input = match self.cfg_scale {
            Some(_) => {
                both = x
                    .iter()
                    .copied()
                    .chain(
                        x.iter()
                            .zip(self.prompt_index)
                            .map(|(&t, &is_prompt)| if is_prompt { self.mask } else { t }),
                    )
                    .collect();
                DenoiseInput::new(&both, self.len, positions)
                    .with_attention(self.cfg_attention.as_deref())
            }
            None => DenoiseInput::new(x, self.len, positions).with_attention(self.attention),
        }
        .with_groups(self.groups.as_deref());
        let start = std::time::Instant::now();
        let raw = match reuse {
            Reuse::Full => model.denoise(&input)?,
            Reuse::Span(cache, span) => model.denoise_span(&input, span, cache)?,
            Reuse::Extend { cache, span, keep } => {
                model.denoise_extend(&input, span, keep, cache)?
            }
            Reuse::Build(slot) => {
                let (logits, cache) = model.denoise_and_cache(&input)?;
                *slot = Some(cache);
                logits
            }
        };
        self.forward_seconds
            .set(self.forward_seconds.get() + start.elapsed().as_secs_f64());
        let logits = match self.cfg_scale {
            Some(scale) => guided(&raw, self.rows, scale)?,
            None => raw,
        };
        check_shape(&logits, self.rows, positions.len(), self.vocab)?;
        Ok(logits)
    }
}

impl CacheMode {
    /// The span a cached pass recomputes for the block `start..end` of a canvas of `len`.
    pub(crate) fn span(&self, start: usize, end: usize, len: usize) -> Span {
        match self {
            CacheMode::Dual => Span { start, end },
            _ => Span { start, end: len },
        }
    }
}

/// Classifier-free guidance over a doubled batch `[cond; uncond]`:
/// `un + (scale + 1)·(cond − un)`, in `f32` one rounding per operation like the reference.
fn guided(both: &Logits, rows: usize, scale: f64) -> Result<Logits, Error> {
    if both.rows() != 2 * rows {
        return Err(Error::Denoiser(
            format!(
                "CFG pass returned {} rows, expected {}",
                both.rows(),
                2 * rows
            )
            .into(),
        ));
    }
    let half = both.as_slice().len() / 2;
    let (cond, un) = both.as_slice().split_at(half);
    let w = (scale + 1.0) as f32;
    let data = cond
        .iter()
        .zip(un)
        .map(|(&c, &u)| u + w * (c - u))
        .collect();
    Logits::from_vec(data, rows, both.positions(), both.vocab())
        .ok_or_else(|| Error::Denoiser("CFG logits have an inconsistent shape".into()))
}
