//! [`Job`]: a [`Request`] planned on an [`Engine`] — a steppable decoding plus the
//! [`Finisher`] that turns its finished canvas into a [`Reply`] (and its canvas in progress
//! into a preview).
//!
//! A job is what every way of running a request shares: [`Engine::run`] steps it to the end
//! on the calling thread, [`Engine::stream`] steps it one event at a time, and the service's
//! scheduler hands its decoding to the batched driver next to other requests' and keeps the
//! finisher for when it is done.

use std::ops::Range;
use std::time::Instant;

use tessera_modalities::image::{ImageCodes, RgbImage};
use tessera_modalities::{AnswerSpan, Modality};

use crate::engine::{codes_of, generation_stats};
use crate::parts::Part;
use crate::{
    DecodeOptions, Engine, EngineDecoding, Error, GenerateRequest, Generated, ImageLayout,
    ImageOptions, ImageRequest, Limits, Prompt, Reply, Request, Target, TaskInput, TaskRequest,
    WorldTask,
};

/// A planned request: its decoding and its finisher.
#[derive(Debug)]
pub struct Job {
    /// The decoding, ready to step (alone or in a [`Driver`](tessera_hybrid::Driver)).
    pub decoding: EngineDecoding,
    /// What turns the finished decoding into the [`Reply`].
    pub finisher: Finisher,
}

/// Turns a finished (or in-progress) canvas of one request into its [`Reply`] (or preview).
#[derive(Debug, Clone)]
pub struct Finisher {
    engine: Engine,
    /// Where the answer starts in the canvas (it runs to the canvas's end, whose length
    /// length-expanding policies may change).
    start: usize,
    kind: Kind,
    started: Instant,
}

#[derive(Debug, Clone)]
enum Kind {
    /// Text (or ids, without a tokenizer).
    Text,
    /// A world model's picture or sound: its answer spans.
    WorldMedia(Modality, Vec<AnswerSpan>),
    /// MMaDA's picture codes.
    MmadaImage(ImageLayout),
    /// Filled blanks: their ranges in the answer (the template after the prefix).
    Infill(Vec<std::ops::Range<usize>>),
}

/// The symbol a still-masked position shows as in a preview.
pub const MASK_SYMBOL: char = '▒';

impl Finisher {
    /// The finisher of an infilling whose answer starts at canvas position `start`, with the
    /// blanks at `blanks` (ranges in the answer).
    pub(crate) fn infill(engine: &Engine, start: usize, blanks: Vec<Range<usize>>) -> Self {
        Finisher {
            engine: engine.clone(),
            start,
            kind: Kind::Infill(blanks),
            started: Instant::now(),
        }
    }

    /// The reply for the finished `generation` of this job's decoding.
    ///
    /// # Errors
    /// Tokenizer errors decoding text, image/audio tokenizer errors decoding media.
    pub fn reply(&self, generation: &tessera_hybrid::Generation) -> Result<Reply, Error> {
        let seconds = self.started.elapsed().as_secs_f64();
        let canvas = generation.canvas(0);
        let ids = canvas.get(self.start..).unwrap_or_default().to_vec();
        let mut stats = generation_stats(generation, seconds);
        let part = match &self.kind {
            Kind::Text => match self.engine.tokenizer() {
                Some(t) => Generated::Text(t.decode(&ids, true)?),
                None => Generated::Ids(ids.clone()),
            },
            Kind::WorldMedia(Modality::Image, answer) => {
                let vq = self.engine.image_tokenizer().ok_or(Error::NoTokenizer)?;
                let (h, w) = vq.grid();
                Generated::Image(vq.decode(&ImageCodes::new(codes_of(&ids, answer), h, w)?)?)
            }
            Kind::WorldMedia(_, answer) => {
                let codec = self.engine.audio_tokenizer().ok_or(Error::NoTokenizer)?;
                let codes = self.engine.audio_codes(&codes_of(&ids, answer))?;
                Generated::Audio(codec.decode(&codes)?)
            }
            Kind::Infill(blanks) => {
                // Only the blanks are generated: the template's given text is not.
                let masked: usize = blanks.iter().map(|b| b.len()).sum();
                stats.tokens_per_forward = masked as f64 / stats.nfe.max(1) as f64;
                stats.tokens_per_second = if seconds > 0.0 {
                    (masked * generation.rows()) as f64 / seconds
                } else {
                    0.0
                };
                let mut parts = Vec::with_capacity(blanks.len());
                let mut filled = Vec::new();
                for blank in blanks {
                    let here = ids.get(blank.clone()).unwrap_or_default();
                    filled.extend_from_slice(here);
                    parts.push(match self.engine.tokenizer() {
                        Some(t) => Generated::Text(t.decode(here, true)?),
                        None => Generated::Ids(here.to_vec()),
                    });
                }
                return Ok(Reply {
                    parts,
                    ids: filled,
                    prompt_tokens: self.answer_start(),
                    stats,
                });
            }
            Kind::MmadaImage(layout) => {
                let image = layout.response(generation, seconds);
                stats = image.stats;
                Generated::ImageCodes {
                    codes: image.codes,
                    height: image.height,
                    width: image.width,
                }
            }
        };
        Ok(Reply {
            parts: vec![part],
            ids,
            prompt_tokens: self.answer_start(),
            stats,
        })
    }

    /// Where the answer starts in the canvas.
    pub fn answer_start(&self) -> usize {
        match &self.kind {
            Kind::MmadaImage(layout) => layout.span.start,
            _ => self.start,
        }
    }

    /// The answer's part of `canvas` (row 0 of a [`Decoding::canvas`]), still-masked
    /// positions as the mask id.
    ///
    /// [`Decoding::canvas`]: tessera_hybrid::Decoding::canvas
    pub fn answer<'c>(&self, canvas: &'c [u32]) -> &'c [u32] {
        match &self.kind {
            Kind::MmadaImage(layout) => canvas.get(layout.span.clone()).unwrap_or_default(),
            _ => canvas.get(self.start..).unwrap_or_default(),
        }
    }

    /// The answer of `canvas` as text, each still-masked position shown as
    /// [`MASK_SYMBOL`]; `None` for media answers or without a tokenizer.
    pub fn preview_text(&self, canvas: &[u32]) -> Option<String> {
        if !matches!(self.kind, Kind::Text | Kind::Infill(_)) {
            return None;
        }
        let tokenizer = self.engine.tokenizer()?;
        let mask = self.engine.backbone().info().mask_id;
        let mut text = String::new();
        for run in self
            .answer(canvas)
            .chunk_by(|a, b| (*a == mask) == (*b == mask))
        {
            if run.first() == Some(&mask) {
                text.extend(std::iter::repeat_n(MASK_SYMBOL, run.len()));
            } else {
                text.push_str(&tokenizer.decode(run, true).ok()?);
            }
        }
        Some(text)
    }

    /// The picture of `canvas` as far as it is decoded (world models' image answers; each
    /// still-masked code shown as code 0); `None` for other answers.
    pub fn preview_image(&self, canvas: &[u32]) -> Option<RgbImage> {
        let Kind::WorldMedia(Modality::Image, answer) = &self.kind else {
            return None;
        };
        let vq = self.engine.image_tokenizer()?;
        let (h, w) = vq.grid();
        let mask = self.engine.backbone().info().mask_id;
        let first = answer.first()?.vocab.start;
        let ids: Vec<u32> = self
            .answer(canvas)
            .iter()
            .map(|&t| if t == mask { first } else { t })
            .collect();
        vq.decode(&ImageCodes::new(codes_of(&ids, answer), h, w).ok()?)
            .ok()
    }
}

impl Engine {
    /// Plans `req` on this engine: the request's parts and options are checked (errors name
    /// `parts` or the option) and its canvas built, nothing is decoded yet.
    ///
    /// # Errors
    /// [`Error::InvalidRequest`] for parts the model does not take, everything the task's
    /// own method returns ([`Engine::generate`], [`Engine::run_task`],
    /// [`Engine::text_to_image`]), and the limits.
    pub fn job(&self, req: &Request) -> Result<Job, Error> {
        if req.is_infill() {
            return self.infill_job(req);
        }
        let (given, target) = req.split()?;
        let started = Instant::now();
        let finisher = |start, kind| Finisher {
            engine: self.clone(),
            start,
            kind,
            started,
        };
        if self.is_world_model() {
            let (task, input) = self.world_task(&given, target)?;
            // The model answers text in its own length (padded with end-of-text): a larger
            // maximum is met as it is, a smaller one cannot be.
            if let (Target::Text { max_len: Some(n) }, Some(length)) =
                (target, self.task_length(task))
                && n < length
            {
                return Err(Error::invalid(
                    "max_len",
                    format!("this model answers in {length} tokens; ask for at least that"),
                ));
            }
            let treq = TaskRequest::new(task, input).options(req.options.clone());
            let (decoding, answer) = self.task_decoding_spans(&treq)?;
            let length: usize = answer.iter().map(|s| s.length).sum();
            let start = decoding.canvas().1.saturating_sub(length);
            let kind = match task.output() {
                Modality::Text => Kind::Text,
                media => Kind::WorldMedia(media, answer),
            };
            return Ok(Job {
                decoding,
                finisher: finisher(start, kind),
            });
        }
        match target {
            Target::Text { .. } => {
                let ids = self.given_ids(&given)?;
                let start = ids.len();
                let options = text_length(target, req.options.clone());
                let greq = GenerateRequest::new(Prompt::Ids(ids)).options(options);
                Ok(Job {
                    decoding: self.generate_decoding(&greq)?,
                    finisher: finisher(start, Kind::Text),
                })
            }
            Target::Image => {
                let [Part::Text(prompt)] = given.as_slice() else {
                    return Err(Error::invalid(
                        "parts",
                        "text-to-image takes one given text part",
                    ));
                };
                let ireq = ImageRequest::new(prompt.clone()).options(image_options(&req.options)?);
                let (decoding, layout) = self.text_to_image_decoding(&ireq)?;
                let start = layout.span.start;
                Ok(Job {
                    decoding,
                    finisher: finisher(start, Kind::MmadaImage(layout)),
                })
            }
            _ => Err(Error::invalid(
                "parts",
                format!(
                    "a {:?} model generates text (and MMaDA pictures), not {target:?}",
                    self.info().family
                ),
            )),
        }
    }

    /// The codes of a given picture, within the pixel limit.
    pub(crate) fn picture_codes(&self, image: &RgbImage) -> Result<Vec<u32>, Error> {
        let pixels = u64::from(image.width()) * u64::from(image.height());
        let limits = self.limits();
        if pixels > limits.image.max_image_pixels {
            return Err(Error::Limit {
                limit: "max_image_pixels",
                value: pixels.to_string(),
                max: usize::try_from(limits.image.max_image_pixels).unwrap_or(usize::MAX),
            });
        }
        let vq = self
            .image_tokenizer()
            .ok_or_else(|| Error::invalid("parts", "the model folder has no image tokenizer"))?;
        Ok(vq.encode(image)?.into_codes())
    }

    /// Runs `req` to the end on the calling thread.
    ///
    /// # Errors
    /// As [`Engine::job`], and forward or decoding failures.
    pub fn run(&self, req: &Request) -> Result<Reply, Error> {
        let Job { decoding, finisher } = self.job(req)?;
        let generation = decoding.run(self.backbone(), &mut |_| {})?;
        finisher.reply(&generation)
    }

    /// The prompt ids of a text model's given parts, in order.
    pub(crate) fn given_ids(&self, given: &[&Part]) -> Result<Vec<u32>, Error> {
        let mut ids = Vec::new();
        for part in given {
            let prompt = match part {
                Part::Text(t) => Prompt::Text(t.clone()),
                Part::Chat(m) => Prompt::Chat(m.clone()),
                Part::Ids(i) => Prompt::Ids(i.clone()),
                Part::Image(_) | Part::Audio(_) => {
                    return Err(Error::invalid(
                        "parts",
                        format!(
                            "a {:?} model takes text, chat turns and ids to generate text",
                            self.info().family
                        ),
                    ));
                }
                Part::Generate(_) => continue,
            };
            ids.extend(self.prompt_ids(&prompt)?);
            Limits::check("max_canvas", ids.len(), self.limits().max_canvas)?;
        }
        if ids.is_empty() {
            return Err(Error::invalid("parts", "nothing is given to generate from"));
        }
        Ok(ids)
    }

    /// The world task a world model's parts name, with its input.
    fn world_task(&self, given: &[&Part], target: Target) -> Result<(WorldTask, TaskInput), Error> {
        let limits = self.limits();
        Ok(match (given, target) {
            ([Part::Text(t)], Target::Text { .. }) => (WorldTask::Text, TaskInput::Text(t.clone())),
            ([Part::Text(t)], Target::Image) => (WorldTask::T2i, TaskInput::Text(t.clone())),
            ([Part::Text(t)], Target::Audio { seconds }) => {
                if let (Some(want), Some(audio)) = (seconds, self.audio_tokenizer()) {
                    let frames =
                        self.task_length(WorldTask::T2a).unwrap_or(0) / audio.levels().max(1);
                    let have = frames as f64 / audio.frame_rate();
                    if (want - have).abs() > 0.5 / audio.frame_rate() {
                        return Err(Error::invalid(
                            "seconds",
                            format!("this model generates clips of {have:.2} s, not {want} s"),
                        ));
                    }
                }
                (WorldTask::T2a, TaskInput::Text(t.clone()))
            }
            ([Part::Image(image)], Target::Text { .. }) => (
                WorldTask::Caption,
                TaskInput::ImageCodes(self.picture_codes(image)?),
            ),
            ([Part::Audio(pcm)], Target::Text { .. }) => {
                let seconds = pcm.samples.len() as f64 / f64::from(pcm.sample_rate.max(1));
                if seconds > f64::from(limits.audio.max_audio_seconds) {
                    return Err(Error::Limit {
                        limit: "max_audio_seconds",
                        value: format!("{seconds:.1}"),
                        max: limits.audio.max_audio_seconds as usize,
                    });
                }
                let codec = self.audio_tokenizer().ok_or_else(|| {
                    Error::invalid("parts", "the model folder has no audio tokenizer")
                })?;
                (
                    WorldTask::Transcribe,
                    TaskInput::AudioCodes(codec.encode(pcm)?.codes.concat()),
                )
            }
            _ => {
                return Err(Error::invalid(
                    "parts",
                    "a Tessera world model takes one given part and one target: text → text, \
                     text → image, text → audio, image → text or audio → text",
                ));
            }
        })
    }
}

/// `options` with a text target's `max_len` as the generation length.
fn text_length(target: Target, mut options: DecodeOptions) -> DecodeOptions {
    if let Target::Text { max_len: Some(n) } = target {
        options.gen_length = Some(n);
    }
    options
}

/// The text-to-image options a request's decode options give (steps, cfg_scale,
/// temperature and seed apply; any other option is refused by name).
fn image_options(o: &DecodeOptions) -> Result<ImageOptions, Error> {
    const TAKEN: [&str; 4] = ["steps", "cfg_scale", "temperature", "seed"];
    if let Some(other) = o.set_options().into_iter().find(|n| !TAKEN.contains(n)) {
        return Err(Error::invalid(
            other,
            "does not apply to text-to-image (it takes steps, cfg_scale, temperature, seed)",
        ));
    }
    let mut image = ImageOptions::default().seed(o.seed);
    if let Some(steps) = o.steps {
        image = image.steps(steps);
    }
    if let Some(w) = o.cfg_scale {
        image = image.cfg_scale(w);
    }
    if let Some(t) = o.temperature {
        image = image.temperature(t);
    }
    Ok(image)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Event, TaskOutput};

    fn tiny() -> Engine {
        Engine::load(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../models/tessera-tiny"
        ))
        .unwrap()
    }

    fn task(engine: &Engine, task: WorldTask, input: TaskInput) -> TaskOutput {
        let mut out = engine.run_task(&TaskRequest::new(task, input)).unwrap();
        out.outputs.remove(0)
    }

    #[test]
    fn every_world_task_is_a_request_with_the_task_methods_answer() {
        let engine = tiny();
        let reply = engine.run(&Request::new().text("123+45=").generate(Target::text(64)));
        let reply = reply.unwrap();
        let want = task(&engine, WorldTask::Text, TaskInput::Text("123+45=".into()));
        assert_eq!(reply.text(), want.text.as_deref());
        assert_eq!(reply.ids, want.ids);

        let prompt = "a large red circle at the top left";
        let reply = engine
            .run(&Request::new().text(prompt).generate(Target::Image))
            .unwrap();
        let want = task(&engine, WorldTask::T2i, TaskInput::Text(prompt.into()));
        assert_eq!(reply.ids, want.ids);
        let Generated::Image(picture) = &reply.parts[0] else {
            panic!("{:?}", reply.parts)
        };
        // The picture back to text: the caption task through a request.
        let caption = engine
            .run(
                &Request::new()
                    .image(picture.clone())
                    .generate(Target::text(64)),
            )
            .unwrap();
        let vq = engine.image_tokenizer().unwrap();
        let codes = vq.encode(picture).unwrap().into_codes();
        let want = task(&engine, WorldTask::Caption, TaskInput::ImageCodes(codes));
        assert_eq!(caption.text(), want.text.as_deref());

        let reply = engine.run(
            &Request::new()
                .text("C4 E4 G4")
                .generate(Target::Audio { seconds: None }),
        );
        let reply = reply.unwrap();
        let Generated::Audio(pcm) = &reply.parts[0] else {
            panic!("{:?}", reply.parts)
        };
        let heard = engine.run(&Request::new().audio(pcm.clone()).generate(Target::text(64)));
        assert!(heard.unwrap().text().is_some());
    }

    #[test]
    fn a_stream_ends_with_the_reply_run_gives() {
        let engine = tiny();
        let req = Request::new()
            .text("a small blue square at the center")
            .generate(Target::Image);
        let events: Vec<Event> = engine.stream(&req).unwrap().map(Result::unwrap).collect();
        let Some(Event::Done(last)) = events.last() else {
            panic!("no final event")
        };
        assert_eq!(last.ids, engine.run(&req).unwrap().ids);
        let steps: Vec<_> = events
            .iter()
            .filter_map(|e| match e {
                Event::Step(s) => Some(s),
                Event::Done(_) => None,
            })
            .collect();
        assert!(!steps.is_empty());
        assert!(steps.iter().any(|s| s.image.is_some()), "no image preview");
        let committed: usize = steps.iter().map(|s| s.committed.len()).sum();
        assert!(committed >= last.ids.len());

        let req = Request::new().text("123+45=").generate(Target::text(64));
        let texts: Vec<String> = engine
            .stream(&req)
            .unwrap()
            .filter_map(|e| match e.unwrap() {
                Event::Step(s) => s.text,
                Event::Done(_) => None,
            })
            .collect();
        assert!(texts[0].contains(crate::MASK_SYMBOL), "{texts:?}");
        assert!(
            !texts.last().unwrap().contains(crate::MASK_SYMBOL),
            "{texts:?}"
        );
    }

    #[test]
    fn requests_a_model_cannot_take_are_refused_naming_parts() {
        let engine = tiny();
        for (req, needle) in [
            (Request::new().text("hi"), "nothing to generate"),
            (
                Request::new().text("1+1=").generate(Target::text(1)),
                "max_len",
            ),
            (
                Request::new()
                    .text("hi")
                    .generate(Target::text(2))
                    .generate(Target::Image),
                "one part to generate",
            ),
            (
                // tessera-tiny fills blanks, in its own vocabulary only.
                Request::new()
                    .text("a")
                    .generate(Target::Blank { len: 2 })
                    .text("b"),
                "`parts`: `b` has a word outside",
            ),
            (
                Request::new().generate(Target::text(2)).text("late"),
                "must come last",
            ),
            (
                Request::new().text("a").text("b").generate(Target::text(2)),
                "one given part",
            ),
            (
                Request::new().text("C4 E4 G4").generate(Target::Audio {
                    seconds: Some(60.0),
                }),
                "seconds",
            ),
        ] {
            let err = engine.run(&req).unwrap_err().to_string();
            assert!(err.contains(needle), "{req:?}: {err}");
        }
    }

    #[test]
    fn a_trailing_blank_is_llada_generation_and_given_text_between_blanks_stays() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/fixtures/llada-tiny");
        let engine = Engine::load(dir).unwrap();
        // A blank at the end is what LLaDA's `generate` decodes: one block of it.
        let reply = engine
            .run(
                &Request::new()
                    .ids(vec![5, 6, 7])
                    .generate(Target::Blank { len: 8 }),
            )
            .unwrap();
        let options = DecodeOptions::new().gen_length(8).steps(8).block_length(8);
        let want = engine
            .generate(&GenerateRequest::new(Prompt::Ids(vec![5, 6, 7])).options(options))
            .unwrap();
        assert_eq!(reply.ids, want.outputs[0].ids);
        assert_eq!(reply.stats.nfe, 8);

        // Two blanks around given ids: the given ids stay, each blank is filled, one token
        // per step, and the reply has a part per blank.
        let req = Request::new()
            .ids(vec![5, 6])
            .generate(Target::Blank { len: 3 })
            .ids(vec![9, 10, 11])
            .generate(Target::Blank { len: 2 })
            .ids(vec![12]);
        let job = engine.job(&req).unwrap();
        let generation = job.decoding.run(engine.backbone(), &mut |_| {}).unwrap();
        let canvas = generation.canvas(0);
        let mask = engine.info().mask_id;
        assert_eq!(canvas.len(), 2 + 3 + 3 + 2 + 1);
        assert_eq!(&canvas[..2], &[5, 6]);
        assert_eq!(&canvas[5..8], &[9, 10, 11]);
        assert_eq!(canvas[10], 12);
        assert!(canvas.iter().all(|&t| t != mask), "{canvas:?}");
        assert_eq!(generation.nfe(), 5);
        let reply = job.finisher.reply(&generation).unwrap();
        assert_eq!(reply.parts.len(), 2);
        assert_eq!(reply.ids, [&canvas[2..5], &canvas[8..10]].concat());
        // Five blank tokens in five forwards: the given ids between them are not counted.
        assert_eq!(reply.stats.tokens_per_forward, 1.0);
        // Refinement revises the blanks only: the given ids between them stay.
        let refine = tessera_hybrid::remask::Remask::Refine {
            rounds: 2,
            fraction: 1.0,
            keep: 1.0,
        };
        let job = engine
            .job(&req.options(DecodeOptions::new().remask(refine)))
            .unwrap();
        let refined = job.decoding.run(engine.backbone(), &mut |_| {}).unwrap();
        let c = refined.canvas(0);
        assert_eq!(
            (&c[..2], &c[5..8], c[10]),
            (&[5, 6][..], &[9, 10, 11][..], 12)
        );
        assert_eq!(refined.nfe(), 5 + 2);

        for (req, needle) in [
            (
                Request::new()
                    .generate(Target::Blank { len: 2 })
                    .ids(vec![5]),
                "before the first blank",
            ),
            (
                Request::new()
                    .ids(vec![5])
                    .generate(Target::Blank { len: 2 })
                    .options(DecodeOptions::new().gen_length(9)),
                "gen_length",
            ),
            (
                Request::new()
                    .ids(vec![5])
                    .generate(Target::Blank { len: 0 }),
                "at least one token",
            ),
        ] {
            let err = engine.run(&req).unwrap_err().to_string();
            assert!(err.contains(needle), "{err}");
        }
    }

    #[test]
    fn a_text_model_concatenates_its_given_parts() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/fixtures/llada-tiny");
        let engine = Engine::load(dir).unwrap();
        let options = DecodeOptions::new().gen_length(8).steps(8).block_length(8);
        let reply = engine
            .run(
                &Request::new()
                    .ids(vec![5, 6])
                    .ids(vec![7])
                    .generate(Target::text(8))
                    .options(options.clone()),
            )
            .unwrap();
        let want = engine
            .generate(&GenerateRequest::new(Prompt::Ids(vec![5, 6, 7])).options(options))
            .unwrap();
        assert_eq!(reply.ids, want.outputs[0].ids);
        let err = engine.run(&Request::new().ids(vec![5]).generate(Target::Image));
        assert!(err.unwrap_err().to_string().contains("text-to-image"));
    }
}
