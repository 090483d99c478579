//! [`Decoding`]: one request's whole decoding state, advanced one forward pass at a time.
//!
//! The value says what its next pass needs ([`Decoding::next_pass`]), takes that pass's
//! logits ([`Decoding::advance`]), and says when it is finished ([`Decoding::finish`]). The
//! blocking [`super::generate`] is a loop over it; the batched driver
//! ([`crate::driver::Driver`]) advances many of them with one forward call.
//!
//! Phases, in order: length probing (`--expand`), then either the block plan (every policy,
//! unmask rule, commit strategy and cache) or DAEDAL insertion (`--insert`), then refinement
//! rounds (`refine`, `recheck`). A MaskGIT span decode ([`Decoding::maskgit`], MMaDA's
//! text-to-image) is a phase of its own.

use std::time::Instant;

mod blocks;
mod rounds;

use super::commit::{CommitStrategy, strategy};
use super::options::ControllerOptions;
use super::plan::{PlannedBlock, vocab_at};
use super::validate::check_canvas;
use crate::length::expand::Probe;
use crate::length::insert::{InsertRun, InsertSpan};
pub use crate::noise::NoiseRef;
pub use crate::pass::CachePass;
use crate::pass::{Pass, forward};
use crate::score::{Scorer, check_ids, restrict, support_of};
use crate::span_decode::{MaskGitOptions, MaskGitRun, SpanCanvas};
use crate::unmask::{Unmask, UnmaskRule};
use crate::{Attention, DenoiseInput, Denoiser, Error, Generation, Logits, PromptBatch, StepInfo};

/// The next forward pass a [`Decoding`] needs.
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub struct PassRequest<'a> {
    /// The model's input (under CFG the doubled batch, conditional rows first).
    pub input: DenoiseInput<'a>,
    /// How the pass uses the request's cache; only [`CachePass::None`] may be run outside
    /// [`Decoding::forward`] (a driver merging requests), the others need the request's cache.
    pub cache: CachePass,
}

/// The block plan's canvas and cursor.
struct Blocks {
    rows: usize,
    prompt_len: usize,
    total: usize,
    x: Vec<u32>,
    prompt_index: Vec<bool>,
    pass: Pass,
    plan: Vec<PlannedBlock>,
    rules: Vec<Box<dyn UnmaskRule>>,
    /// The confidence each committed position was decoded with (RCR and refinement rank by it).
    running: Vec<f64>,
    /// Under structured attention a block sees nothing after it, so steps predict only the
    /// block (uncached and cached alike, which keeps the two identical).
    structured: bool,
    /// Block being decoded, step inside it, and whether its first step has been prepared.
    block: usize,
    step: usize,
    started: bool,
    initial: Vec<usize>,
    max_steps: usize,
}

impl Blocks {
    /// The canvas with `positions[row]` masked in each row (`positions` of one row = all).
    fn masked(&self, positions: &[Vec<usize>]) -> Vec<u32> {
        // cannot fail: `x` holds `rows × total` tokens and every position is a canvas position.
        let mut x = self.x.clone();
        for r in 0..self.rows {
            let row = positions
                .get(r)
                .or(positions.first())
                .map_or(&[][..], Vec::as_slice);
            for &p in row {
                x[r * self.total + p] = self.pass.mask;
            }
        }
        x
    }

    fn block_masks(&self, r: usize) -> usize {
        // cannot fail: called while `block < plan.len()`, whose blocks end inside the canvas.
        let b = &self.plan[self.block];
        let (start, end) = (self.prompt_len + b.start, self.prompt_len + b.end);
        self.x[r * self.total + start..r * self.total + end]
            .iter()
            .filter(|&&t| t == self.pass.mask)
            .count()
    }
}

/// Where the decoding is.
enum Phase {
    /// DAEDAL's length probing.
    Expand(Probe),
    /// The block plan.
    Blocks,
    /// DAEDAL insertion.
    Insert(Box<InsertRun>),
    /// A MaskGIT span decode (it stays in this phase once finished: it holds the result).
    MaskGit(Box<MaskGitRun>),
    /// Refinement rounds after decoding.
    Refine {
        round: usize,
        group: usize,
        support: Vec<f64>,
    },
    /// Finished.
    Done,
}

/// What the prepared pass is for.
enum Purpose {
    Probe,
    BlockStep,
    Insert(Vec<bool>),
    MaskGit,
    Support,
    Repredict {
        chosen: Vec<Vec<usize>>,
        extra_nfe: usize,
    },
}

/// The prepared pass.
struct Pending {
    purpose: Purpose,
    /// A pass of its own (probing, insertion), else the block plan's.
    pass: Option<Pass>,
    tokens: Vec<u32>,
    positions: Vec<usize>,
    cache: CachePass,
}

impl Pending {
    /// The pass this one runs under: its own (probing, insertion) or the block plan's.
    fn pass<'a>(&'a self, blocks: &'a Option<Blocks>) -> Result<&'a Pass, Error> {
        match (&self.pass, blocks) {
            (Some(p), _) => Ok(p),
            (None, Some(b)) => Ok(&b.pass),
            (None, None) => Err(Error::OutOfOrder("a pass without a canvas")),
        }
    }
}

/// One request's decoding, advanced one forward pass at a time.
///
/// ```
/// use tessera_hybrid::{Decoding, ControllerOptions, PromptBatch, SeededNoise};
/// # use tessera_hybrid::{Denoiser, DenoiseError, DenoiseInput, Logits, Span};
/// # #[derive(Debug)] struct Sevens;
/// # impl Denoiser for Sevens {
/// #     type Cache = ();
/// #     fn logits_width(&self) -> usize { 10 }
/// #     fn denoise_and_cache(&self, i: &DenoiseInput<'_>) -> Result<(Logits, ()), DenoiseError> { Ok((self.denoise(i)?, ())) }
/// #     fn denoise_span(&self, i: &DenoiseInput<'_>, _: Span, _: &()) -> Result<Logits, DenoiseError> { self.denoise(i) }
/// #     fn denoise(&self, i: &DenoiseInput<'_>) -> Result<Logits, DenoiseError> {
/// #         let mut l = Logits::filled(i.rows(), i.positions.len(), 10, -10.0);
/// #         for r in 0..i.rows() { for p in 0..i.positions.len() { l.row_mut(r, p)[7] = 10.0; } }
/// #         Ok(l)
/// #     }
/// # }
/// let model = Sevens;
/// let prompts = PromptBatch::left_padded(vec![vec![1, 2, 3]], 0)?;
/// let opts = ControllerOptions::new(9).gen_length(4).steps(4);
/// let noise = SeededNoise::new(0);
/// let mut decoding = Decoding::new(&model, &prompts, &opts, &noise)?;
/// while let Some(pass) = decoding.next_pass()? {
///     // A server would merge this pass with other requests' (see `Driver`).
///     let _rows = pass.input.rows();
///     let logits = decoding.forward(&model)?;
///     decoding.advance(logits)?;
///     for step in decoding.take_events() {
///         println!("step {}: {} committed", step.step, step.committed);
///     }
/// }
/// assert_eq!(decoding.finish()?.generated(0), &[7, 7, 7, 7]);
/// # Ok::<(), tessera_hybrid::Error>(())
/// ```
pub struct Decoding<'n, C> {
    opts: ControllerOptions,
    noise: NoiseRef<'n>,
    vocab: usize,
    structure: Attention,
    prompts: PromptBatch,
    scorer: Scorer,
    strategy: Box<dyn CommitStrategy>,
    phase: Phase,
    blocks: Option<Blocks>,
    /// The canvases insertion finished with.
    inserted: Option<(Vec<u32>, usize)>,
    pending: Option<Pending>,
    events: Vec<StepInfo>,
    kv: Option<C>,
    block_kv: C,
    covered: usize,
    nfe: usize,
    revised: usize,
    global_step: usize,
    total_steps: usize,
    forward_seconds: f64,
    failed: bool,
}

impl<C> std::fmt::Debug for Decoding<'_, C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Decoding")
            .field("rows", &self.prompts.rows())
            .field("nfe", &self.nfe)
            .field("step", &self.global_step)
            .field("total_steps", &self.total_steps)
            .field("finished", &matches!(self.phase, Phase::Done))
            .finish_non_exhaustive()
    }
}

impl<'n, C: Send + Default> Decoding<'n, C> {
    /// Starts decoding `prompts` with `opts` for `model` (which is only asked for its
    /// vocabulary width and attention structure here). Everything is checked now: a decoding
    /// that starts can only fail on a denoiser error or missing recorded noise.
    ///
    /// # Errors
    /// Invalid options ([`Error::InvalidOption`], naming the option), ids outside the model's
    /// vocabulary ([`Error::InvalidPrompt`]).
    pub fn new<D: Denoiser<Cache = C> + ?Sized>(
        model: &D,
        prompts: &PromptBatch,
        opts: &ControllerOptions,
        noise: impl Into<NoiseRef<'n>>,
    ) -> Result<Self, Error> {
        opts.validate()?;
        check_canvas(prompts, opts)?;
        let structure = model.attention();
        opts.cache.validate_for(structure)?;
        let vocab = model.logits_width();
        check_ids(prompts, opts.mask_id, vocab)?;
        for (name, id) in [("eos", opts.eos_id), ("eot", opts.eot_id)] {
            if id.is_some_and(|id| id as usize >= vocab) {
                return Err(Error::option(
                    "special-ids",
                    format!("{name} id outside the vocabulary ({vocab})"),
                ));
            }
        }
        if opts.insert.is_some() && structure != Attention::Full {
            return Err(Error::option(
                "insert",
                format!("insertion needs full attention; this model's is {structure}"),
            ));
        }
        if let Some(v) = opts
            .plan()
            .iter()
            .filter_map(|b| b.vocab.as_ref())
            .find(|v| v.is_empty() || v.end as usize > vocab)
        {
            return Err(Error::option(
                "segments",
                format!(
                    "vocabulary {}..{} is empty or outside the model's {vocab} logits",
                    v.start, v.end
                ),
            ));
        }
        let mut decoding = Decoding::bare(opts.clone(), noise.into(), model, prompts.clone());
        match (opts.expand, opts.eos_id) {
            (true, Some(eos)) => {
                decoding.phase = Phase::Expand(Probe {
                    gen_length: opts.gen_length,
                    block: opts.effective_block_length(),
                    max: opts.effective_max_length(),
                    eos,
                    nfe: 0,
                });
            }
            _ => decoding.start(),
        }
        Ok(decoding)
    }

    /// Starts a MaskGIT decode of `canvas.span` (MMaDA's text-to-image; see
    /// [`crate::maskgit`]) for `model`: every step draws every unknown span position and keeps
    /// all but the least confident. Stepped and batched like any other decoding; the finished
    /// canvases hold the last step's draws in the span (`prompt_len` = the span's start).
    ///
    /// # Errors
    /// Invalid options or shapes ([`Error::InvalidOption`], [`Error::InvalidPrompt`]).
    pub fn maskgit<D: Denoiser<Cache = C> + ?Sized>(
        model: &D,
        canvas: &SpanCanvas<'_>,
        opts: &MaskGitOptions,
        noise: impl Into<NoiseRef<'n>>,
    ) -> Result<Self, Error> {
        let run = MaskGitRun::new(model.logits_width(), canvas, opts)?;
        // cannot fail: `MaskGitRun::new` refused `canvas.len == 0`.
        let rows: Vec<Vec<u32>> = canvas
            .tokens
            .chunks(canvas.len)
            .map(<[u32]>::to_vec)
            .collect();
        let padding = canvas
            .attention
            .map(|a| a.chunks(canvas.len).map(<[bool]>::to_vec).collect());
        let prompts = PromptBatch::from_padded(rows, padding)?;
        let mut decoding = Decoding::bare(
            ControllerOptions::new(opts.mask_id),
            noise.into(),
            model,
            prompts,
        );
        decoding.total_steps = run.total_steps();
        decoding.phase = Phase::MaskGit(Box::new(run));
        Ok(decoding)
    }

    /// A decoding of `prompts` under `opts` that has not entered a phase yet.
    fn bare<D: Denoiser<Cache = C> + ?Sized>(
        opts: ControllerOptions,
        noise: NoiseRef<'n>,
        model: &D,
        prompts: PromptBatch,
    ) -> Self {
        let vocab = model.logits_width();
        Decoding {
            scorer: Scorer::new(opts.score_options(), vocab),
            strategy: strategy(opts.remask),
            opts,
            noise,
            vocab,
            structure: model.attention(),
            prompts,
            phase: Phase::Done,
            blocks: None,
            inserted: None,
            pending: None,
            events: Vec::new(),
            kv: None,
            block_kv: C::default(),
            covered: 0,
            nfe: 0,
            revised: 0,
            global_step: 0,
            total_steps: 0,
            forward_seconds: 0.0,
            failed: false,
        }
    }
}

impl<C> Decoding<'_, C> {
    /// Enters the decoding proper (after any length probing): insertion or the block plan.
    fn start(&mut self) {
        let opts = &self.opts;
        if let (Some(insertion), Some(eos), Unmask::Threshold(_)) =
            (opts.insert, opts.eos_id, opts.unmask)
        {
            let span = InsertSpan {
                gen_length: opts.gen_length,
                max_length: opts.effective_max_length(),
                block_length: opts.effective_block_length(),
                mask: opts.mask_id,
                eos,
                vocab: self.vocab,
                cfg_scale: opts.cfg_scale,
                restrict_to: opts.vocab.clone(),
            };
            let run = InsertRun::new(
                &self.prompts,
                span,
                insertion,
                opts.unmask.rule(opts.schedule),
            );
            self.total_steps = run.total_steps();
            self.phase = Phase::Insert(Box::new(run));
            return;
        }
        let rows = self.prompts.rows();
        let prompt_len = self.prompts.len();
        let total = prompt_len + opts.gen_length;
        let mask = opts.mask_id;
        let (x, attention) = self.prompts.canvas(opts.gen_length, mask);
        let prompt_index: Vec<bool> = x.iter().map(|&t| t != mask).collect();
        let plan = opts.plan();
        let ends: Vec<usize> = plan.iter().map(|b| prompt_len + b.end).collect();
        let pass = Pass::new(
            rows,
            total,
            mask,
            self.vocab,
            attention,
            opts.cfg_scale,
            prompt_index.clone(),
        )
        .with_groups(self.structure.groups_for_blocks(prompt_len, &ends));
        let rules: Vec<Box<dyn UnmaskRule>> =
            plan.iter().map(|b| opts.step_rule(b.policy)).collect();
        self.total_steps = plan
            .iter()
            .zip(&rules)
            .map(|(b, rule)| {
                if rule.fixed_steps() {
                    b.steps
                } else {
                    b.end - b.start
                }
            })
            .sum::<usize>()
            .saturating_add(opts.remask.refine_rounds());
        self.blocks = Some(Blocks {
            rows,
            prompt_len,
            total,
            running: vec![f64::INFINITY; x.len()],
            x,
            prompt_index,
            structured: pass.groups.is_some(),
            pass,
            plan,
            rules,
            block: 0,
            step: 0,
            started: false,
            initial: Vec::new(),
            max_steps: 0,
        });
        self.phase = Phase::Blocks;
    }

    /// Ends the block plan: refinement rounds follow (if any).
    fn end_blocks(&mut self) {
        let len = self.blocks.as_ref().map_or(0, |b| b.x.len());
        self.phase = Phase::Refine {
            round: 0,
            group: 0,
            support: vec![1.0; len],
        };
    }

    /// The pass the decoding needs next, preparing it if needed; `None` once it is finished.
    /// Steps that need no forward (a block with nothing left to predict) are taken here, and
    /// their events queued.
    ///
    /// # Errors
    /// [`Error::OutOfOrder`] after a failed pass.
    pub fn next_pass(&mut self) -> Result<Option<PassRequest<'_>>, Error> {
        if self.failed {
            return Err(Error::OutOfOrder("an earlier pass of this decoding failed"));
        }
        if self.pending.is_none() {
            self.prepare();
        }
        match &self.pending {
            None => Ok(None),
            Some(p) => Ok(Some(PassRequest {
                input: p.pass(&self.blocks)?.input(&p.tokens, &p.positions),
                cache: p.cache,
            })),
        }
    }

    /// Whether the decoding has nothing left to do ([`Decoding::finish`] gives the result).
    pub fn is_finished(&mut self) -> bool {
        matches!(self.next_pass(), Ok(None))
    }

    /// Runs the prepared pass alone on `model`, with the request's own cache, and returns
    /// the raw logits for [`Decoding::advance`].
    ///
    /// # Errors
    /// [`Error::OutOfOrder`] when no pass is prepared; the denoiser's failure.
    pub fn forward<D: Denoiser<Cache = C> + ?Sized>(&mut self, model: &D) -> Result<Logits, Error> {
        let pending = self
            .pending
            .as_ref()
            .ok_or(Error::OutOfOrder("forward without a prepared pass"))?;
        let input = pending
            .pass(&self.blocks)?
            .input(&pending.tokens, &pending.positions);
        let started = Instant::now();
        let out = forward(
            model,
            &input,
            pending.cache,
            &mut self.kv,
            &mut self.block_kv,
        );
        self.forward_seconds += started.elapsed().as_secs_f64();
        if out.is_err() {
            self.failed = true;
        }
        out
    }

    /// Adds `seconds` of denoiser time spent on this decoding's behalf (a driver's merged
    /// forward).
    pub(crate) fn add_forward_seconds(&mut self, seconds: f64) {
        self.forward_seconds += seconds;
    }

    /// Takes the logits of the prepared pass (as the denoiser returned them for
    /// [`PassRequest::input`]) and advances: commits, re-masks, reports the step.
    ///
    /// # Errors
    /// [`Error::OutOfOrder`] when no pass is prepared; logits of the wrong shape; missing
    /// recorded noise.
    pub fn advance(&mut self, raw: Logits) -> Result<(), Error> {
        let pending = self
            .pending
            .take()
            .ok_or(Error::OutOfOrder("logits without a prepared pass"))?;
        let result = self.apply(pending, raw);
        if result.is_err() {
            self.failed = true;
        }
        result
    }

    /// The step reports queued since the last call, oldest first.
    pub fn take_events(&mut self) -> Vec<StepInfo> {
        std::mem::take(&mut self.events)
    }

    /// Forward passes so far.
    pub fn nfe(&self) -> usize {
        self.nfe
    }

    /// Steps taken so far, and the most the decoding will take.
    pub fn progress(&self) -> (usize, usize) {
        (self.global_step, self.total_steps)
    }

    /// The canvases as they stand (row-major, the mask id where undecided) and their length.
    pub fn canvas(&self) -> (Vec<u32>, usize) {
        if let Some((x, len)) = &self.inserted {
            return (x.clone(), *len);
        }
        match (&self.phase, &self.blocks) {
            (Phase::Insert(run), _) => run.canvas(),
            (Phase::MaskGit(run), _) => run.canvas(),
            (_, Some(b)) => (b.x.clone(), b.total),
            (_, None) => {
                let gen_length = match &self.phase {
                    Phase::Expand(p) => p.gen_length,
                    _ => self.opts.gen_length,
                };
                let (x, _) = self.prompts.canvas(gen_length, self.opts.mask_id);
                (x, self.prompts.len() + gen_length)
            }
        }
    }

    /// The finished canvases.
    ///
    /// # Errors
    /// [`Error::OutOfOrder`] when the decoding is not finished (or a pass failed).
    pub fn finish(mut self) -> Result<Generation, Error> {
        if !self.is_finished() {
            return Err(Error::OutOfOrder("finish before the decoding is finished"));
        }
        let (tokens, total_len) = self.canvas();
        let prompt_len = match &self.phase {
            Phase::MaskGit(run) => run.span.start,
            _ => self.prompts.len(),
        };
        Ok(Generation {
            tokens,
            rows: self.prompts.rows(),
            prompt_len,
            total_len,
            nfe: self.nfe,
            revised: self.revised,
            forward_seconds: self.forward_seconds,
        })
    }

    /// Prepares the next pass (or finishes), taking pass-free steps on the way.
    fn prepare(&mut self) {
        loop {
            match &mut self.phase {
                Phase::Done => return,
                Phase::Expand(probe) => {
                    let next = probe.next(
                        &self.prompts,
                        self.opts.mask_id,
                        self.vocab,
                        self.opts.cfg_scale,
                        self.structure,
                    );
                    match next {
                        Some(p) => {
                            self.pending = Some(Pending {
                                purpose: Purpose::Probe,
                                tokens: p.pass.tokens(&p.x),
                                pass: Some(p.pass),
                                positions: p.positions,
                                cache: CachePass::None,
                            });
                            return;
                        }
                        None => self.settle_length(),
                    }
                }
                Phase::Insert(run) => match run.next() {
                    Some(p) => {
                        self.pending = Some(Pending {
                            purpose: Purpose::Insert(p.live),
                            tokens: p.pass.tokens(&p.x),
                            pass: Some(p.pass),
                            positions: p.positions,
                            cache: CachePass::None,
                        });
                        return;
                    }
                    None => {
                        self.inserted = Some(run.canvas());
                        self.phase = Phase::Done;
                    }
                },
                Phase::MaskGit(run) => {
                    if let Some(tokens) = run.next_tokens() {
                        self.pending = Some(Pending {
                            purpose: Purpose::MaskGit,
                            tokens,
                            pass: Some(run.pass.clone()),
                            positions: run.positions.clone(),
                            cache: CachePass::None,
                        });
                    }
                    return;
                }
                Phase::Blocks => {
                    if self.prepare_block_step() {
                        return;
                    }
                }
                Phase::Refine { .. } => {
                    if self.prepare_refine() {
                        return;
                    }
                }
            }
        }
    }

    /// The probe settled: decode at its length.
    fn settle_length(&mut self) {
        if let Phase::Expand(probe) = &self.phase {
            let o = &self.opts;
            let block = o.effective_block_length();
            // cannot fail: validated options have `block ≥ 1` dividing `gen_length ≥ 1`, and
            // `per_block × gen_length` ≤ `u32::MAX²` (steps and canvases are bounded by u32).
            let per_block = o.steps / (o.gen_length / block);
            let gen_length = probe.gen_length;
            self.nfe += probe.nfe;
            self.opts = o
                .clone()
                .gen_length(gen_length)
                .block_length(block)
                .steps(per_block * gen_length / block);
        }
        self.start();
    }

    /// Applies a pass's logits.
    fn apply(&mut self, pending: Pending, raw: Logits) -> Result<(), Error> {
        let logits = pending
            .pass(&self.blocks)?
            .finish(raw, pending.positions.len())?;
        match pending.purpose {
            Purpose::Probe => {
                if let Phase::Expand(probe) = &mut self.phase
                    && probe.advance(&logits)
                {
                    self.settle_length();
                }
            }
            Purpose::Insert(live) => {
                self.nfe += 1;
                if let Phase::Insert(run) = &mut self.phase {
                    let noise = self.noise.get();
                    let step = run.advance(&logits, &live, &mut self.scorer, noise)?;
                    self.events.push(step);
                }
            }
            Purpose::MaskGit => {
                self.nfe += 1;
                if let Phase::MaskGit(run) = &mut self.phase {
                    let step = run.advance(&logits, self.noise.get())?;
                    self.global_step += 1;
                    self.events.push(step);
                }
            }
            Purpose::BlockStep => {
                self.nfe += 1;
                self.block_step(&logits, &pending.positions)?;
                self.global_step += 1;
                self.check_until_eos();
            }
            Purpose::Support => {
                if let (Phase::Refine { group, support, .. }, Some(b)) =
                    (&mut self.phase, &self.blocks)
                {
                    // cannot fail: `finish` checked the logits' shape; `support` and `x` hold
                    // `rows × total` entries and the positions are canvas positions.
                    for r in 0..b.rows {
                        for (k, &p) in pending.positions.iter().enumerate() {
                            let vocab = vocab_at(&b.plan, b.prompt_len, p);
                            let (scores, offset) = restrict(logits.row(r, k), &vocab);
                            support[r * b.total + p] =
                                support_of(scores, offset, b.x[r * b.total + p]);
                        }
                    }
                    *group += 1;
                }
            }
            Purpose::Repredict { chosen, extra_nfe } => {
                // Saturating: `extra_nfe` is the request's recheck group count.
                self.nfe = self.nfe.saturating_add(extra_nfe).saturating_add(1);
                self.repredict(&logits, &pending.positions, &chosen)?;
            }
        }
        Ok(())
    }
}

impl<C> Decoding<'_, C> {
    /// Runs one pass alone on `model` (preparing, forwarding and advancing); `true` once the
    /// decoding is finished.
    ///
    /// # Errors
    /// As [`Decoding::forward`] and [`Decoding::advance`].
    pub fn step<D: Denoiser<Cache = C> + ?Sized>(&mut self, model: &D) -> Result<bool, Error> {
        if self.next_pass()?.is_none() {
            return Ok(true);
        }
        let raw = self.forward(model)?;
        self.advance(raw)?;
        Ok(false)
    }

    /// Runs the decoding to the end on `model` alone, handing every step's report to
    /// `on_step`, and returns the result (what the blocking `generate` functions do).
    ///
    /// # Errors
    /// As [`Decoding::step`].
    pub fn run<D: Denoiser<Cache = C> + ?Sized>(
        mut self,
        model: &D,
        on_step: &mut dyn FnMut(StepInfo),
    ) -> Result<Generation, Error> {
        loop {
            let finished = self.step(model)?;
            self.take_events().into_iter().for_each(&mut *on_step);
            if finished {
                return self.finish();
            }
        }
    }
}
