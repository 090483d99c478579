//! MaskGIT decoding of a span of image (or audio) codes, as MMaDA's `t2i_generate` runs it
//! (Gen-Verse/MMaDA `models/modeling_mmada.py`, after google-research/maskgit
//! `parallel_decode.py`): the strategy — options, the canvas, and the per-step state a
//! [`crate::Decoding`] steps through (the preset [`crate::maskgit`] runs it).
//!
//! Every step predicts every position of the span (restricted to the codebook's id range),
//! draws a token for each still-unknown position from the softmax, and keeps all of them
//! except the `mask_len` least confident, which are masked again; `mask_len =
//! max(1, min(unknown − 1, ⌊N·cos(π/2·(step+1)/T)⌋))`. Confidence is `ln p(token) + τ·g` with
//! Gumbel noise `g` and a choice temperature `τ` that anneals towards 0 — linearly in MaskGIT
//! (`τ₀·(1 − r)`), compounding in MMaDA (`τ ← τ·(1 − r)` every step), the two offered as
//! [`Annealing`]. Guidance uses MUSE's form `(1 + w)·cond − w·uncond` with an explicit
//! unconditional canvas (MMaDA: the same template with an empty prompt). The result is the
//! last step's draws at every position of the span.

use std::ops::Range;

use serde::{Deserialize, Serialize};
use tessera_kernels::softmax_into;

use crate::pass::Pass;
use crate::score::filter::categorical;
use crate::{Error, Logits, NoiseKey, NoisePurpose, NoiseSource, StepInfo, TokenEvent};

/// How the choice temperature anneals.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum Annealing {
    /// MaskGIT's original: `τ_step = τ₀·(1 − (step+1)/T)`.
    Maskgit,
    /// MMaDA's (and Show-o's): `τ ← τ·(1 − (step+1)/T)` each step, compounding.
    #[default]
    Mmada,
}

impl Annealing {
    /// Parses `maskgit` or `mmada`.
    ///
    /// # Errors
    /// [`Error::InvalidOption`] naming `annealing`.
    pub fn parse(s: &str) -> Result<Self, Error> {
        match s {
            "maskgit" => Ok(Annealing::Maskgit),
            "mmada" => Ok(Annealing::Mmada),
            _ => Err(Error::option(
                "annealing",
                format!("unknown annealing `{s}` (maskgit, mmada)"),
            )),
        }
    }
}

/// Options of the MaskGIT span decoder.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct MaskGitOptions {
    /// The mask id.
    pub mask_id: u32,
    /// Decoding steps.
    pub steps: usize,
    /// Guidance weight `w` (0 = off).
    pub cfg_scale: f64,
    /// Initial choice temperature `τ₀`.
    pub temperature: f64,
    /// How `τ` anneals.
    pub annealing: Annealing,
    /// The ids the span may take (the codebook's range); a drawn code `c` is id
    /// `vocab.start + c`.
    pub vocab: Range<u32>,
}

impl MaskGitOptions {
    /// MMaDA's demo settings (15 steps, guidance 3.5, τ₀ = 1, compounding annealing) over
    /// the ids `vocab`.
    pub fn new(mask_id: u32, vocab: Range<u32>) -> Self {
        MaskGitOptions {
            mask_id,
            steps: 15,
            cfg_scale: 3.5,
            temperature: 1.0,
            annealing: Annealing::Mmada,
            vocab,
        }
    }

    /// Sets the number of steps.
    pub fn steps(mut self, steps: usize) -> Self {
        self.steps = steps;
        self
    }

    /// Sets the guidance weight.
    pub fn cfg_scale(mut self, w: f64) -> Self {
        self.cfg_scale = w;
        self
    }

    /// Sets the initial choice temperature.
    pub fn temperature(mut self, t: f64) -> Self {
        self.temperature = t;
        self
    }

    /// Sets the annealing.
    pub fn annealing(mut self, a: Annealing) -> Self {
        self.annealing = a;
        self
    }

    /// Checks the options.
    ///
    /// # Errors
    /// [`Error::InvalidOption`] naming the option.
    pub fn validate(&self, logits_width: usize) -> Result<(), Error> {
        if self.steps == 0 {
            return Err(Error::option("steps", "must be at least 1"));
        }
        if !(self.cfg_scale.is_finite() && self.cfg_scale >= 0.0) {
            return Err(Error::option("cfg-scale", "must be a finite number ≥ 0"));
        }
        if !(self.temperature.is_finite() && self.temperature >= 0.0) {
            return Err(Error::option("temperature", "must be a finite number ≥ 0"));
        }
        if self.vocab.is_empty() || self.vocab.end as usize > logits_width {
            return Err(Error::option(
                "vocab",
                format!(
                    "ids {}..{} are empty or outside the model's {logits_width} logits",
                    self.vocab.start, self.vocab.end
                ),
            ));
        }
        Ok(())
    }
}

/// The canvases a MaskGIT decode runs on: `rows × len` tokens whose positions `span` (the
/// same in every row) are to be generated (they may hold the mask id or codes to keep),
/// an optional padding mask, and with guidance the unconditional canvases (same shape; their
/// `span` is overwritten with the current codes every step).
#[derive(Debug, Clone)]
pub struct SpanCanvas<'a> {
    /// `rows × len` tokens.
    pub tokens: &'a [u32],
    /// Row length.
    pub len: usize,
    /// Padding mask of `tokens` (`false` = left padding).
    pub attention: Option<&'a [bool]>,
    /// The positions to decode.
    pub span: Range<usize>,
    /// Unconditional canvases for guidance, with their padding mask.
    pub uncond: Option<(&'a [u32], Option<&'a [bool]>)>,
}

/// A MaskGIT decode in progress: the state [`Decoding`] steps through its MaskGIT phase.
#[derive(Debug)]
pub(crate) struct MaskGitRun {
    opts: MaskGitOptions,
    pub(crate) rows: usize,
    len: usize,
    pub(crate) span: Range<usize>,
    pub(crate) positions: Vec<usize>,
    x: Vec<u32>,
    /// The last step's draw at every span position.
    sampled: Vec<u32>,
    /// The unconditional canvases under guidance.
    uncond: Option<Vec<u32>>,
    /// The pass every step runs (both halves of a guided batch as plain rows).
    pub(crate) pass: Pass,
    temperature: f64,
    step: usize,
    probs: Vec<f32>,
    guided_row: Vec<f32>,
}

impl MaskGitRun {
    /// Checks `canvas` and `opts` against a model with `width` logits.
    pub(crate) fn new(
        width: usize,
        canvas: &SpanCanvas<'_>,
        opts: &MaskGitOptions,
    ) -> Result<Self, Error> {
        opts.validate(width)?;
        let (len, span) = (canvas.len, canvas.span.clone());
        if len == 0 || canvas.tokens.is_empty() || !canvas.tokens.len().is_multiple_of(len) {
            return Err(Error::InvalidPrompt(
                "canvas rows are ragged or empty".into(),
            ));
        }
        // cannot fail: `len > 0` (just checked).
        let rows = canvas.tokens.len() / len;
        if span.is_empty() || span.end > len {
            return Err(Error::InvalidPrompt(format!(
                "span {}..{} does not fit a canvas of {len}",
                span.start, span.end
            )));
        }
        if canvas
            .attention
            .is_some_and(|a| a.len() != canvas.tokens.len())
        {
            return Err(Error::InvalidPrompt(
                "the padding mask differs in shape from the canvases".into(),
            ));
        }
        let guided = opts.cfg_scale > 0.0;
        let uncond = match (guided, canvas.uncond) {
            (false, _) => None,
            (true, Some((u, a)))
                if u.len() == canvas.tokens.len()
                    && a.is_none_or(|a| a.len() == canvas.tokens.len()) =>
            {
                Some((u, a))
            }
            (true, Some(_)) => {
                return Err(Error::InvalidPrompt(
                    "the unconditional canvases differ in shape from the canvases".into(),
                ));
            }
            (true, None) => {
                return Err(Error::option(
                    "cfg-scale",
                    "guidance needs an unconditional canvas",
                ));
            }
        };
        let tokens = canvas
            .tokens
            .iter()
            .chain(uncond.map_or(&[][..], |(u, _)| u));
        if let Some(&bad) = tokens.clone().find(|&&t| t as usize >= width) {
            return Err(Error::InvalidPrompt(format!(
                "token id {bad} is outside the model's vocabulary of {width}"
            )));
        }
        // Both halves of a guided pass: `[cond rows; uncond rows]`.
        let all = canvas.tokens.len();
        let attention: Option<Vec<bool>> = match (uncond, canvas.attention) {
            (Some((_, ua)), a) if a.is_some() || ua.is_some() => Some(
                a.map_or_else(|| vec![true; all], <[bool]>::to_vec)
                    .into_iter()
                    .chain(ua.map_or_else(|| vec![true; all], <[bool]>::to_vec))
                    .collect(),
            ),
            (Some(_), _) => None,
            (None, a) => a.map(<[bool]>::to_vec),
        };
        let pass_rows = if guided { 2 * rows } else { rows };
        let codes = opts.vocab.len();
        Ok(MaskGitRun {
            opts: opts.clone(),
            rows,
            len,
            positions: span.clone().collect(),
            sampled: vec![0; rows * span.len()],
            span,
            x: canvas.tokens.to_vec(),
            uncond: uncond.map(|(u, _)| u.to_vec()),
            pass: Pass::new(
                pass_rows,
                len,
                opts.mask_id,
                width,
                attention,
                0.0,
                Vec::new(),
            ),
            temperature: opts.temperature,
            step: 0,
            probs: vec![0.0; codes],
            guided_row: vec![0.0; codes],
        })
    }

    /// Steps planned.
    pub(crate) fn total_steps(&self) -> usize {
        self.opts.steps
    }

    /// The rows the next step's pass runs (`None` once every step ran): the canvases, then
    /// under guidance the unconditional canvases with the current span.
    pub(crate) fn next_tokens(&self) -> Option<Vec<u32>> {
        if self.step >= self.opts.steps {
            return None;
        }
        Some(match &self.uncond {
            Some(u) => {
                let mut u = u.clone();
                // cannot fail: `new` checked `span.end ≤ len` and `rows × len` canvases.
                let (len, span) = (self.len, &self.span);
                for r in 0..self.rows {
                    u[r * len + span.start..r * len + span.end]
                        .copy_from_slice(&self.x[r * len + span.start..r * len + span.end]);
                }
                self.x.iter().copied().chain(u).collect()
            }
            None => self.x.clone(),
        })
    }

    /// The canvases: as they stand, and once every step ran, with the last step's draws in
    /// the span.
    pub(crate) fn canvas(&self) -> (Vec<u32>, usize) {
        let mut x = self.x.clone();
        if self.step >= self.opts.steps {
            // cannot fail: `new` checked the span against `len`; `sampled` is `rows × n`.
            let (n, len, span) = (self.span.len(), self.len, &self.span);
            for r in 0..self.rows {
                x[r * len + span.start..r * len + span.end]
                    .copy_from_slice(&self.sampled[r * n..(r + 1) * n]);
            }
        }
        (x, self.len)
    }

    /// One step from the pass's logits (both halves under guidance): draw every unknown
    /// position, keep all but the `mask_len` least confident.
    pub(crate) fn advance(
        &mut self,
        raw: &Logits,
        noise: &dyn NoiseSource,
    ) -> Result<StepInfo, Error> {
        let (rows, len, n) = (self.rows, self.len, self.span.len());
        let step = self.step;
        let opts = &self.opts;
        let ratio = (step + 1) as f64 / opts.steps as f64;
        self.temperature = match opts.annealing {
            Annealing::Maskgit => opts.temperature * (1.0 - ratio),
            Annealing::Mmada => self.temperature * (1.0 - ratio),
        };
        let temperature = self.temperature;
        // cannot fail below: `finish` checked the logits against the pass (`2 × rows` rows under
        // guidance), `new` checked the vocabulary against the logits width and the span
        // (`n ≥ 1`) against the canvas; `unknown ≥ 1` where `unknown - 1` is taken.
        let mut events = Vec::new();
        for r in 0..rows {
            let mut confidence = vec![f32::INFINITY; n];
            let mut unknown = 0;
            for (k, &p) in self.positions.iter().enumerate() {
                let current = self.x[r * len + p];
                if current != opts.mask_id {
                    self.sampled[r * n + k] = current;
                    continue;
                }
                unknown += 1;
                let ids = opts.vocab.start as usize..opts.vocab.end as usize;
                let cond = &raw.row(r, k)[ids.clone()];
                let row: &[f32] = match self.uncond {
                    Some(_) => {
                        let un = &raw.row(rows + r, k)[ids];
                        let (a, b) = ((1.0 + opts.cfg_scale) as f32, opts.cfg_scale as f32);
                        for ((g, &c), &u) in self.guided_row.iter_mut().zip(cond).zip(un) {
                            *g = a * c - b * u;
                        }
                        &self.guided_row
                    }
                    None => cond,
                };
                softmax_into(row, &mut self.probs);
                let key = |purpose| NoiseKey {
                    purpose,
                    step: step as u32,
                    row: r as u32,
                    position: p as u32,
                };
                let code = categorical(&self.probs, noise.uniform(key(NoisePurpose::Categorical))?);
                self.sampled[r * n + k] = opts.vocab.start + code as u32;
                let u = noise.uniform(key(NoisePurpose::Gumbel))? as f32;
                confidence[k] = self.probs[code].max(1e-20).ln() + temperature as f32 * gumbel(u);
            }
            if unknown == 0 {
                continue;
            }
            let mask_ratio = (std::f32::consts::FRAC_PI_2 * ratio as f32).cos();
            let mask_len = ((n as f32 * mask_ratio).floor() as usize)
                .min(unknown - 1)
                .max(1);
            let mut sorted = confidence.clone();
            sorted.sort_by(f32::total_cmp);
            let cut_off = sorted[mask_len.min(n - 1)];
            for (k, &p) in self.positions.iter().enumerate() {
                let at = r * len + p;
                if confidence[k] < cut_off {
                    self.x[at] = opts.mask_id;
                } else if self.x[at] == opts.mask_id {
                    self.x[at] = self.sampled[r * n + k];
                    events.push(TokenEvent {
                        row: r,
                        position: p,
                        token: self.x[at],
                        confidence: f64::from(confidence[k]),
                    });
                }
            }
        }
        self.step += 1;
        Ok(StepInfo::new(step + 1, opts.steps, events, Vec::new()))
    }
}

/// Standard Gumbel noise from a uniform, in `f32` with the reference's clamps:
/// `−ln(−ln(max(u, 1e-20)))`.
fn gumbel(u: f32) -> f32 {
    -(-(u.max(1e-20)).ln()).max(1e-20).ln()
}
