//! Evaluation of a Tessera world model on the worlds' held-out examples: every task under
//! several decoding policies, judged by the worlds' own checkers (a picture is read back by
//! [`tessera_worlds::check_image`], a clip by [`tessera_worlds::check_audio`], a sudoku by
//! its rules), with the work each policy spent.

mod summary;

use std::time::Instant;

use serde::Serialize;
use tessera_hybrid::CacheMode;
use tessera_hybrid::policy::Policy;
use tessera_hybrid::remask::Remask;
use tessera_hybrid::unmask::Unmask;
use tessera_modalities::image::{ImageCodes, RgbImage};
use tessera_worlds::{
    Example, FillExample, Rendering, Split, Task, check_audio, check_fill, check_image,
};

use crate::{DecodeOptions, Engine, Error, Request, Target, TaskInput, TaskRequest, WorldTask};

pub use summary::{Pick, Summary, WITHIN, summarize};

/// The refinement budget of the `+refine` policies: 2 rounds re-masking the least confident
/// 10 % of the answer.
pub const REFINE: Remask = Remask::refine(2, 0.1);

/// The verification budget of the `+recheck` policies: up to 2 rounds, each re-scoring the
/// finished answer in 4 interleaved masked passes and re-predicting the tokens it gives
/// less than 0.5 probability (none: the answer is kept and no more is spent).
pub const RECHECK: Remask = Remask::recheck(2, 4, 0.5);

/// Confidence threshold of the `parallel`, `block` and `hybrid` policies unless the name gives
/// one (`block@0.99`).
pub const THRESHOLD: f64 = 0.9;

/// A decoding policy of the evaluation, by name: `ar`, `diffusion` (count rule, one token
/// per step in confidence order), `diffusion-half` (two tokens per step), `parallel` (the
/// whole span at once, every position above threshold 0.9 per step, at least one: Fast-dLLM's
/// threshold rule without blocks), `block` (blocks of 8, threshold 0.9), `hybrid` (threshold
/// 0.9, single-token fallback), each optionally with
/// `+refine` ([`REFINE`]) or `+recheck` ([`RECHECK`]), then optionally `+prefix` or `+dual`
/// (Fast-dLLM's approximate caches: accuracy and tokens/s side by side with exact
/// recomputation).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EvalPolicy {
    /// The name (`block+refine`, …).
    pub name: String,
    policy: Policy,
    steps: Steps,
    /// The refinement rule (`+refine`, `+recheck`).
    #[serde(skip)]
    refine: Option<Remask>,
    /// Fast-dLLM's approximate cache (`+prefix`, `+dual`), refreshed once per block; none
    /// recomputes the whole canvas every step.
    #[serde(skip)]
    cache: Option<CacheMode>,
}

/// How many positions a step of an evaluation policy commits.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
enum Steps {
    /// One per step (`ar`, `diffusion`).
    One,
    /// Two per step (`diffusion-half`).
    Two,
    /// Every position above `threshold` ([`THRESHOLD`] unless the name says `@T`), at least
    /// one; in blocks of 8 where they tile the answer (`block`, `hybrid`) or over the whole
    /// span (`parallel`).
    Threshold {
        /// Whether the answer is decoded in blocks of 8.
        blocks: bool,
        /// The confidence a position needs.
        threshold: f64,
    },
}

impl EvalPolicy {
    /// The policies of the default table.
    pub const DEFAULT: [&'static str; 8] = [
        "ar",
        "diffusion",
        "block",
        "hybrid",
        "ar+refine",
        "diffusion+refine",
        "block+refine",
        "hybrid+refine",
    ];

    /// Parses a policy name.
    ///
    /// # Errors
    /// [`Error::InvalidRequest`] naming `policies`.
    pub fn parse(name: &str) -> Result<Self, Error> {
        let unknown = || {
            Error::invalid(
                "policies",
                format!(
                    "unknown policy `{name}` (ar, diffusion, diffusion-half, or parallel, block \
                     or hybrid with an optional @THRESHOLD in (0, 1], then \
                     optionally +refine or +recheck (or a full refine:… / recheck:… rule), \
                     then optionally +prefix or +dual)"
                ),
            )
        };
        let mut parts = name.split('+');
        let first = parts.next().unwrap_or_default();
        let (base, threshold) = match first.split_once('@') {
            // The controller's own check of a threshold's range.
            Some((base, t)) => match t.parse::<f64>() {
                Ok(t) if Unmask::Threshold(t).validate().is_ok() => (base, Some(t)),
                _ => return Err(unknown()),
            },
            None => (first, None),
        };
        let at = |blocks| Steps::Threshold {
            blocks,
            threshold: threshold.unwrap_or(THRESHOLD),
        };
        let (policy, steps) = match base {
            "ar" => (Policy::Ar, Steps::One),
            "diffusion" => (Policy::Diffusion, Steps::One),
            "diffusion-half" => (Policy::Diffusion, Steps::Two),
            "parallel" => (Policy::Diffusion, at(false)),
            "block" => (Policy::Block, at(true)),
            "hybrid" => (Policy::Hybrid, at(true)),
            _ => return Err(unknown()),
        };
        if threshold.is_some() && !matches!(steps, Steps::Threshold { .. }) {
            return Err(unknown());
        }
        let mut rest: Vec<&str> = parts.collect();
        let cache = match rest.last() {
            Some(&"prefix") => Some(CacheMode::Prefix),
            Some(&"dual") => Some(CacheMode::Dual),
            _ => None,
        };
        if cache.is_some() {
            rest.pop();
        }
        let refine = match rest.as_slice() {
            [] => None,
            ["refine"] => Some(REFINE),
            ["recheck"] => Some(RECHECK),
            // A full spelling: `+refine:2:0.1:1`, `+recheck:2:4:0.5:0.9`.
            [rule] if rule.starts_with("refine:") || rule.starts_with("recheck:") => {
                Some(Remask::parse(rule).map_err(|_| unknown())?)
            }
            _ => return Err(unknown()),
        };
        Ok(EvalPolicy {
            name: name.to_string(),
            policy,
            steps,
            refine,
            cache,
        })
    }

    /// The decoding options for an answer of `length` tokens.
    pub fn options(&self, length: usize, seed: u64) -> DecodeOptions {
        let mut o = DecodeOptions::new()
            .seed(seed)
            .gen_length(length)
            .steps(length);
        o.policy = Some(self.policy);
        match self.steps {
            Steps::One => {}
            Steps::Two => {
                if length.is_multiple_of(2) {
                    o.steps = Some(length / 2);
                }
            }
            Steps::Threshold { blocks, threshold } => {
                o.unmask = Some(Unmask::Threshold(threshold));
                // Blocks of 8 where they tile the answer; otherwise one block.
                let tiled = blocks && length.is_multiple_of(8);
                o.block_length = Some(if tiled { 8 } else { length });
            }
        }
        if let Some(rule) = self.refine {
            o.remask = Some(rule);
        }
        if let Some(cache) = self.cache {
            o = o.cache(cache);
        }
        o.temperature = Some(0.0);
        o
    }
}

/// What to evaluate.
#[derive(Debug, Clone, PartialEq)]
pub struct EvalConfig {
    /// Tasks (default: all ten).
    pub tasks: Vec<Task>,
    /// Policies (default: [`EvalPolicy::DEFAULT`]).
    pub policies: Vec<EvalPolicy>,
    /// Held-out examples per task (indices `0..n` of the eval split).
    pub n: usize,
    /// Examples decoded together (at most the engine's
    /// [`Limits::max_prompts`](crate::Limits::max_prompts); a larger batch is split).
    pub batch: usize,
    /// The renderings the pictures to caption and the tunes to transcribe are drawn from
    /// (default: the canonical one); each that changes a task's input gives it a row per
    /// policy ([`Rendering::varies`]: captioning takes the pictures' aspects, transcription
    /// the tunes'). A task left with none runs once, under the canonical rendering.
    pub renderings: Vec<Rendering>,
    /// The policies of the rows of non-canonical renderings (empty, the default: every one
    /// of [`EvalConfig::policies`]); a robustness table needs one policy per rendering, not
    /// the whole policy table again.
    pub varied_policies: Vec<EvalPolicy>,
}

impl Default for EvalConfig {
    fn default() -> Self {
        EvalConfig {
            tasks: Task::ALL.to_vec(),
            policies: EvalPolicy::DEFAULT
                .iter()
                // cannot fail: `DEFAULT` is constant and every name in it parses (tested).
                .map(|p| EvalPolicy::parse(p).expect("default policies parse"))
                .collect(),
            n: 200,
            batch: 64,
            renderings: vec![Rendering::CANONICAL],
            varied_policies: Vec::new(),
        }
    }
}

/// The tasks `engine`'s world model does: every task of [`Task::ALL`], the fill tasks only
/// for a model trained to fill blanks ([`Engine::fills_blanks`]).
pub fn tasks_for(engine: &Engine) -> Vec<Task> {
    Task::ALL
        .into_iter()
        .filter(|t| !t.is_fill() || engine.fills_blanks())
        .collect()
}

impl EvalConfig {
    /// The policies of `rendering`'s rows: all of them for the canonical rendering, else
    /// [`EvalConfig::varied_policies`] when given.
    pub fn policies_for(&self, rendering: &Rendering) -> &[EvalPolicy] {
        if *rendering == Rendering::CANONICAL || self.varied_policies.is_empty() {
            &self.policies
        } else {
            &self.varied_policies
        }
    }

    /// The renderings `task` runs under: those of [`EvalConfig::renderings`] that change its
    /// input, and the canonical one when asked; only the canonical one if that leaves none.
    pub fn renderings_for(&self, task: Task) -> Vec<Rendering> {
        let own: Vec<Rendering> = self
            .renderings
            .iter()
            .filter(|r| **r == Rendering::CANONICAL || r.varies(task))
            .copied()
            .collect();
        if own.is_empty() {
            vec![Rendering::CANONICAL]
        } else {
            own
        }
    }
}

/// One row of the table.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EvalRow {
    /// The task.
    pub task: String,
    /// The policy.
    pub policy: String,
    /// The rendering of the task's input picture or tune ([`Rendering::name`]).
    pub rendering: String,
    /// Examples judged.
    pub n: usize,
    /// Judged correct.
    pub correct: usize,
    /// `correct / n`.
    pub accuracy: f64,
    /// Forward passes per generated token (per row).
    pub forwards_per_token: f64,
    /// Generated tokens per second (over all rows).
    pub tokens_per_second: f64,
    /// Committed tokens that remasking revised.
    pub revised: usize,
}

fn world_task(task: Task) -> WorldTask {
    match task {
        Task::T2i => WorldTask::T2i,
        Task::Caption => WorldTask::Caption,
        Task::T2a => WorldTask::T2a,
        Task::Transcribe => WorldTask::Transcribe,
        _ => WorldTask::Text,
    }
}

/// Evaluates `engine` per `cfg`, calling `on_row` as each row completes.
///
/// # Errors
/// [`Error::InvalidRequest`] for a model that is not a Tessera world model; decoding and
/// tokenizer errors.
pub fn evaluate(
    engine: &Engine,
    cfg: &EvalConfig,
    on_row: &mut dyn FnMut(&EvalRow),
) -> Result<Vec<EvalRow>, Error> {
    if !engine.is_world_model() {
        return Err(Error::invalid(
            "model",
            "evaluation needs a Tessera world model (e.g. tessera-tiny)",
        ));
    }
    if cfg.n == 0 {
        return Err(Error::invalid("n", "must be at least 1"));
    }
    if cfg.batch == 0 {
        return Err(Error::invalid("batch", "must be at least 1"));
    }
    // A batch the engine's limits refuse is split further (the limits guard a server; an
    // evaluation is the same work in more passes).
    let batch = cfg.batch.min(engine.limits().max_prompts.max(1));
    let mut rows = Vec::new();
    for &task in &cfg.tasks {
        let renderings = cfg.renderings_for(task);
        let examples: Vec<Example> = (0..cfg.n as u64)
            .map(|i| task.sample(Split::Eval, i))
            .collect();
        if task.is_fill() {
            if !engine.fills_blanks() {
                return Err(Error::invalid(
                    "tasks",
                    format!("{task}: this model was not trained to fill blanks"),
                ));
            }
            for rendering in &renderings {
                for policy in cfg.policies_for(rendering) {
                    let row = fill_row(engine, task, policy, &examples, rendering)?;
                    on_row(&row);
                    rows.push(row);
                }
            }
            continue;
        }
        for rendering in &renderings {
            let inputs = (0..cfg.n as u64)
                .zip(&examples)
                .map(|(i, ex)| input_of(engine, task, ex, rendering, i))
                .collect::<Result<Vec<_>, _>>()?;
            for policy in cfg.policies_for(rendering) {
                let row = eval_row(engine, task, policy, &inputs, &examples, batch, rendering)?;
                on_row(&row);
                rows.push(row);
            }
        }
    }
    Ok(rows)
}

/// One row: `policy` on `task`'s `inputs`, judged against their `examples`.
fn eval_row(
    engine: &Engine,
    task: Task,
    policy: &EvalPolicy,
    inputs: &[TaskInput],
    examples: &[Example],
    batch: usize,
    rendering: &Rendering,
) -> Result<EvalRow, Error> {
    let n = examples.len();
    let (mut correct, mut nfe, mut tokens, mut revised) = (0, 0usize, 0usize, 0);
    let mut generated_rows = 0usize;
    let start = Instant::now();
    for (chunk, exs) in inputs.chunks(batch).zip(examples.chunks(batch)) {
        let probe = engine.run_task(
            &TaskRequest::batch(world_task(task), chunk.to_vec())
                .options(policy.options(answer_length(engine, task)?, 0)),
        )?;
        nfe += probe.stats.nfe;
        revised += probe.stats.revised;
        for (out, ex) in probe.outputs.iter().zip(exs) {
            tokens += out.ids.len();
            generated_rows += 1;
            if judge(engine, task, ex, out)? {
                correct += 1;
            }
        }
    }
    let seconds = start.elapsed().as_secs_f64();
    let per_row_tokens = tokens as f64 / generated_rows.max(1) as f64;
    let batches = n.div_ceil(batch);
    Ok(EvalRow {
        task: task.name().to_string(),
        policy: policy.name.clone(),
        rendering: rendering.name.to_string(),
        n,
        correct,
        accuracy: correct as f64 / n as f64,
        // nfe counts each batched pass once: per row, per token.
        forwards_per_token: nfe as f64 / batches as f64 / per_row_tokens.max(1.0),
        tokens_per_second: tokens as f64 / seconds.max(1e-9),
        revised,
    })
}

/// The request of a fill-in-the-blank example: the picture it is about (if any), then its
/// text with a [`Target::Blank`] of the example's width at each blank.
pub fn fill_request(example: &FillExample, picture: Option<RgbImage>) -> Request {
    let mut req = Request::new();
    if let Some(picture) = picture {
        req = req.image(picture);
    }
    let pieces = example.pieces();
    req = req.text(pieces[0]);
    for (&len, piece) in example.widths.iter().zip(&pieces[1..]) {
        req = req.generate(Target::Blank { len }).text(*piece);
    }
    req
}

/// One row of a fill-in-the-blank task: each example a request of its own (the picture,
/// drawn from `rendering`, then the text with its blanks), its fills judged by
/// [`check_fill`].
fn fill_row(
    engine: &Engine,
    task: Task,
    policy: &EvalPolicy,
    examples: &[Example],
    rendering: &Rendering,
) -> Result<EvalRow, Error> {
    let (mut correct, mut nfe, mut tokens, mut revised) = (0, 0usize, 0usize, 0);
    let start = Instant::now();
    for (index, ex) in (0..).zip(examples) {
        let Example::Fill { example, spec } = ex else {
            return Err(Error::invalid(
                "task",
                format!("{task} cannot use this example"),
            ));
        };
        let picture = spec.map(|s| rendering.image(&s, task, Split::Eval, index));
        let req = fill_request(example, picture);
        let masked: usize = example.widths.iter().sum();
        let mut options = policy.options(masked, 0);
        // The job sizes the answer to the template, one block over it (`ar`: a block per
        // position, the job's own steps).
        (options.gen_length, options.block_length) = (None, None);
        if policy.policy == Policy::Ar {
            options.steps = None;
        }
        let reply = engine.run(&req.options(options))?;
        nfe += reply.stats.nfe;
        revised += reply.stats.revised;
        tokens += masked;
        let fills = reply.texts();
        // cannot fail: a fill task's example has a fill kind.
        if ex
            .fill_kind(task)
            .is_some_and(|k| check_fill(k, example, &fills))
        {
            correct += 1;
        }
    }
    let seconds = start.elapsed().as_secs_f64();
    let n = examples.len();
    Ok(EvalRow {
        task: task.name().to_string(),
        policy: policy.name.clone(),
        rendering: rendering.name.to_string(),
        n,
        correct,
        accuracy: correct as f64 / n.max(1) as f64,
        forwards_per_token: nfe as f64 / tokens.max(1) as f64,
        tokens_per_second: tokens as f64 / seconds.max(1e-9),
        revised,
    })
}

/// The answer length of `task` on this model.
fn answer_length(engine: &Engine, task: Task) -> Result<usize, Error> {
    engine
        .task_length(world_task(task))
        .ok_or_else(|| Error::invalid("task", format!("the model cannot do {task}")))
}

/// The input of held-out example `index`, its picture or tune drawn from `rendering`.
fn input_of(
    engine: &Engine,
    task: Task,
    ex: &Example,
    rendering: &Rendering,
    index: u64,
) -> Result<TaskInput, Error> {
    Ok(match (task, ex) {
        (Task::T2i, Example::Image { spec }) => TaskInput::Text(spec.caption()),
        (Task::Caption, Example::Image { spec }) => {
            let vq = engine
                .image_tokenizer()
                .ok_or_else(|| Error::invalid("task", "no image tokenizer"))?;
            let picture = rendering.image(spec, task, Split::Eval, index);
            TaskInput::ImageCodes(vq.encode(&picture)?.into_codes())
        }
        (Task::T2a, Example::Tones { tune }) => TaskInput::Text(tune.caption()),
        (Task::Transcribe, Example::Tones { tune }) => {
            let codec = engine
                .audio_tokenizer()
                .ok_or_else(|| Error::invalid("task", "no audio tokenizer"))?;
            let clip = rendering.audio(tune, task, Split::Eval, index);
            let pcm = tessera_modalities::audio::Pcm::new(clip, tessera_worlds::SAMPLE_RATE)?;
            TaskInput::AudioCodes(codec.encode(&pcm)?.codes.concat())
        }
        (_, Example::Text { example, .. }) => TaskInput::Text(example.prompt.clone()),
        _ => {
            return Err(Error::invalid(
                "task",
                format!("{task} cannot use this example"),
            ));
        }
    })
}

fn judge(
    engine: &Engine,
    task: Task,
    ex: &Example,
    out: &crate::TaskOutput,
) -> Result<bool, Error> {
    let text = out.text.as_deref().unwrap_or("");
    Ok(match (task, ex) {
        (Task::T2i, Example::Image { spec }) => {
            let vq = engine
                .image_tokenizer()
                .ok_or_else(|| Error::invalid("task", "no image tokenizer"))?;
            let (h, w) = vq.grid();
            let codes = ImageCodes::new(out.codes.clone().unwrap_or_default(), h, w)?;
            check_image(&vq.decode(&codes)?).is_ok_and(|got| got == *spec)
        }
        (Task::Caption, Example::Image { spec }) => text == spec.caption(),
        (Task::T2a, Example::Tones { tune }) => {
            let codec = engine
                .audio_tokenizer()
                .ok_or_else(|| Error::invalid("task", "no audio tokenizer"))?;
            let codes = engine.audio_codes(out.codes.as_deref().unwrap_or_default())?;
            let pcm = codec.decode(&codes)?;
            check_audio(&pcm.samples, pcm.sample_rate).is_ok_and(|got| got == *tune)
        }
        (Task::Transcribe, Example::Tones { tune }) => text == tune.caption(),
        (_, Example::Text { task: t, example }) => t.check(&example.prompt, text),
        _ => false,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policy_names_parse_with_refinement_and_caches() {
        let p = EvalPolicy::parse("hybrid+refine+dual").unwrap();
        assert!(p.refine.is_some());
        assert_eq!(
            p.steps,
            Steps::Threshold {
                blocks: true,
                threshold: THRESHOLD
            }
        );
        assert_eq!(p.cache, Some(CacheMode::Dual));
        let o = p.options(24, 0);
        assert_eq!(o.cache, Some(CacheMode::Dual));
        assert_eq!(o.remask, Some(REFINE));
        assert_eq!(
            EvalPolicy::parse("block+prefix").unwrap().cache,
            Some(CacheMode::Prefix)
        );
        assert_eq!(EvalPolicy::parse("ar").unwrap().options(24, 0).cache, None);
        let parallel = EvalPolicy::parse("parallel+refine").unwrap().options(24, 0);
        assert_eq!(parallel.policy, Some(Policy::Diffusion));
        assert_eq!(parallel.block_length, Some(24));
        assert_eq!(parallel.unmask, Some(Unmask::Threshold(THRESHOLD)));
        assert_eq!(parallel.remask, Some(REFINE));
        let full = EvalPolicy::parse("parallel@0.5+refine:2:0.1:1+dual").unwrap();
        assert_eq!(full.refine, Some(Remask::parse("refine:2:0.1:1").unwrap()));
        assert_eq!(full.cache, Some(CacheMode::Dual));
        assert!(EvalPolicy::parse("parallel+refine:2").is_err());
        assert!(EvalPolicy::parse("parallel+rcr").is_err());
        assert_eq!(
            EvalPolicy::parse("block")
                .unwrap()
                .options(24, 0)
                .block_length,
            Some(8)
        );
        let strict = EvalPolicy::parse("hybrid@0.99+recheck")
            .unwrap()
            .options(24, 0);
        assert_eq!(strict.unmask, Some(Unmask::Threshold(0.99)));
        assert_eq!(strict.remask, Some(RECHECK));
        assert_eq!(
            EvalPolicy::parse("block+recheck")
                .unwrap()
                .options(24, 0)
                .remask,
            Some(RECHECK)
        );
        for bad in [
            "hybrid+dual+refine",
            "ar+refine+refine",
            "ar+refine+recheck",
            "ar@0.9",
            "block@1.5",
            "block@",
            "parallel@x",
            "juggle",
            "ar+",
            "dual",
        ] {
            let err = EvalPolicy::parse(bad).unwrap_err();
            assert!(err.to_string().contains(bad), "{err}");
        }
    }
}
