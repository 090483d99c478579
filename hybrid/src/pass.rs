//! One denoising pass of a request over its rows: classifier-free guidance (a doubled batch
//! with the prompt masked in the second half), attention groups and the cached paths, in one
//! place. A pass is built in two halves so a driver can run many requests' passes as one
//! forward: [`Pass::tokens`] lays out what the model sees, [`Pass::finish`] turns what it
//! returned into the request's logits.

use crate::score::check_shape;
use crate::{CacheMode, DenoiseInput, Denoiser, Error, Logits, Span};

/// What every pass of one canvas shares.
#[derive(Debug, Clone)]
pub(crate) struct Pass {
    pub(crate) rows: usize,
    pub(crate) len: usize,
    pub(crate) mask: u32,
    pub(crate) vocab: usize,
    /// `Some(scale)` runs CFG.
    pub(crate) cfg_scale: Option<f64>,
    /// Which canvas positions are prompt (masked in the unconditional half).
    prompt_index: Vec<bool>,
    /// Key validity of the model's rows (doubled under CFG).
    attention: Option<Vec<bool>>,
    /// Attention groups per canvas position (`None` = full attention).
    pub(crate) groups: Option<Vec<u32>>,
}

/// What a pass does with the request's cache (see [`crate::Denoiser`]'s cached methods).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum CachePass {
    /// A plain full pass: any driver may run it together with other requests' passes.
    None,
    /// A full pass that (re)builds the request's cache.
    Build,
    /// Recompute only the span, the rest from the request's cache.
    Span(Span),
    /// The exact block cache: compute the span, append `span.start..keep` to the cache.
    Extend {
        /// The rows computed.
        span: Span,
        /// The cache covers `0..keep` afterwards.
        keep: usize,
    },
}

impl Pass {
    /// A pass over `rows` canvases of `len` with key validity `attention` (`None`: all real).
    pub(crate) fn new(
        rows: usize,
        len: usize,
        mask: u32,
        vocab: usize,
        attention: Option<Vec<bool>>,
        cfg_scale: f64,
        prompt_index: Vec<bool>,
    ) -> Self {
        let cfg = cfg_scale > 0.0;
        Pass {
            rows,
            len,
            mask,
            vocab,
            cfg_scale: cfg.then_some(cfg_scale),
            prompt_index,
            attention: match attention {
                Some(a) if cfg => Some([a.as_slice(), a.as_slice()].concat()),
                other => other,
            },
            groups: None,
        }
    }

    /// Lays the canvas out under `groups` (see [`crate::Attention::groups`]).
    pub(crate) fn with_groups(mut self, groups: Option<Vec<u32>>) -> Self {
        self.groups = groups;
        self
    }

    /// The token rows the model sees for canvas `x` (the doubled batch under CFG).
    pub(crate) fn tokens(&self, x: &[u32]) -> Vec<u32> {
        match self.cfg_scale {
            Some(_) => x
                .iter()
                .copied()
                .chain(
                    x.iter()
                        .zip(&self.prompt_index)
                        .map(|(&t, &is_prompt)| if is_prompt { self.mask } else { t }),
                )
                .collect(),
            None => x.to_vec(),
        }
    }

    /// The model's input for `tokens` (from [`Pass::tokens`]) at `positions`.
    pub(crate) fn input<'a>(
        &'a self,
        tokens: &'a [u32],
        positions: &'a [usize],
    ) -> DenoiseInput<'a> {
        DenoiseInput::new(tokens, self.len, positions)
            .with_attention(self.attention.as_deref())
            .with_groups(self.groups.as_deref())
    }

    /// The request's logits from what the model returned for [`Pass::input`] (guided under
    /// CFG), checked against the shape asked for.
    pub(crate) fn finish(&self, raw: Logits, positions: usize) -> Result<Logits, Error> {
        let logits = match self.cfg_scale {
            Some(scale) => guided(&raw, self.rows, scale)?,
            None => raw,
        };
        check_shape(&logits, self.rows, positions, self.vocab)?;
        Ok(logits)
    }
}

/// Runs `input` through `model` alone, using the request's `cache` as `how` says.
pub(crate) fn forward<D: Denoiser + ?Sized>(
    model: &D,
    input: &DenoiseInput<'_>,
    how: CachePass,
    kv: &mut Option<D::Cache>,
    block_kv: &mut D::Cache,
) -> Result<Logits, Error> {
    Ok(match how {
        CachePass::None => model.denoise(input)?,
        CachePass::Span(span) => match kv {
            Some(cache) => model.denoise_span(input, span, cache)?,
            None => return Err(Error::Denoiser("a cached pass without its cache".into())),
        },
        CachePass::Extend { span, keep } => model.denoise_extend(input, span, keep, block_kv)?,
        CachePass::Build => {
            let (logits, cache) = model.denoise_and_cache(input)?;
            *kv = Some(cache);
            logits
        }
    })
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
