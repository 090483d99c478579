//! Streaming a request: [`Event`]s, one per denoising step and a final one with the
//! [`Reply`], as a blocking iterator ([`Engine::stream`]).
//!
//! ```
//! # let engine = tessera::Engine::load(concat!(env!("CARGO_MANIFEST_DIR"), "/../models/tessera-tiny"))?;
//! use tessera::{Event, Request, Target};
//! let request = Request::new().text("123+45=").generate(Target::text(64));
//! for event in engine.stream(&request)? {
//!     match event? {
//!         Event::Step(step) => println!("{}", step.text.unwrap_or_default()),
//!         Event::Done(reply) => assert_eq!(reply.text(), Some("168")),
//!     }
//! }
//! # Ok::<(), tessera::Error>(())
//! ```

use tessera_hybrid::{PositionEvent, TokenEvent};

use crate::{Engine, EngineDecoding, Error, Finisher, Job, Reply, Request, RgbImage};

/// What a streamed request reports.
#[derive(Debug, Clone)]
pub enum Event {
    /// A denoising step was taken.
    Step(StepEvent),
    /// The request finished: its reply (always the last event).
    Done(Reply),
}

/// One denoising step of one request.
///
/// `committed` tokens are decided for now; `remasked` positions went back to the mask
/// (remasking revises its own least certain tokens), so a committed token is provisional
/// until the [`Event::Done`] reply: that is the answer.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct StepEvent {
    /// Steps taken so far (1-based).
    pub step: usize,
    /// Steps the decoding takes at most.
    pub total_steps: usize,
    /// Where the answer starts in the canvas: `position - answer_start` is a position's
    /// index in the answer ([`Reply::ids`](crate::Reply)).
    pub answer_start: usize,
    /// Tokens committed in this step (canvas positions, tokens and confidences).
    pub committed: Vec<TokenEvent>,
    /// Positions re-masked in this step.
    pub remasked: Vec<PositionEvent>,
    /// The answer as it stands, still-masked positions shown as
    /// [`MASK_SYMBOL`](crate::MASK_SYMBOL) (text answers).
    pub text: Option<String>,
    /// The picture as far as it is decoded (image answers of world models, every
    /// [`Steps::preview_every`] steps and at the last step).
    pub image: Option<RgbImage>,
}

impl StepEvent {
    /// The event of a step report `info` of `decoding`, with previews from `finisher`
    /// (`picture`: whether to decode an image preview this step).
    /// (`decoding`: `None` once it has left a driver, then without previews).
    pub(crate) fn new(
        info: tessera_hybrid::StepInfo,
        decoding: Option<&EngineDecoding>,
        finisher: &Finisher,
        picture: bool,
    ) -> Self {
        let canvas = decoding.map(EngineDecoding::canvas);
        let row = canvas
            .as_ref()
            .and_then(|(canvas, len)| canvas.get(..*len))
            .unwrap_or_default();
        let any = canvas.is_some();
        StepEvent {
            step: info.step,
            total_steps: info.total_steps,
            answer_start: finisher.answer_start(),
            committed: info.tokens,
            remasked: info.remasked,
            text: finisher.preview_text(row).filter(|_| any),
            image: if picture && any {
                finisher.preview_image(row)
            } else {
                None
            },
        }
    }
}

/// A request decoding on the calling thread, one [`Event`] per [`Iterator::next`]. Dropping
/// it stops the decoding.
#[derive(Debug)]
pub struct Steps {
    engine: Engine,
    job: Option<Job>,
    pending: std::collections::VecDeque<Event>,
    preview_every: usize,
}

/// The default of [`Steps::preview_every`].
pub const PREVIEW_EVERY: usize = 4;

impl Steps {
    /// Decodes an image preview every `n` steps (default [`PREVIEW_EVERY`]; 0: never).
    pub fn preview_every(mut self, n: usize) -> Self {
        self.preview_every = n;
        self
    }

    fn advance(&mut self) -> Result<(), Error> {
        let Some(job) = self.job.as_mut() else {
            return Ok(());
        };
        let finished = job.decoding.step(self.engine.backbone())? || job.decoding.is_finished();
        let infos = job.decoding.take_events();
        let last = infos.len();
        for (i, info) in infos.into_iter().enumerate() {
            let picture = self.preview_every > 0
                && (info.step % self.preview_every == 0 || (finished && i + 1 == last));
            self.pending.push_back(Event::Step(StepEvent::new(
                info,
                Some(&job.decoding),
                &job.finisher,
                picture,
            )));
        }
        if finished && let Some(Job { decoding, finisher }) = self.job.take() {
            let generation = decoding.finish()?;
            self.pending
                .push_back(Event::Done(finisher.reply(&generation)?));
        }
        Ok(())
    }
}

impl Iterator for Steps {
    type Item = Result<Event, Error>;

    fn next(&mut self) -> Option<Self::Item> {
        while self.pending.is_empty() && self.job.is_some() {
            if let Err(e) = self.advance() {
                self.job = None;
                return Some(Err(e));
            }
        }
        self.pending.pop_front().map(Ok)
    }
}

impl Engine {
    /// Streams `req`: a step event per denoising step, then [`Event::Done`] with the reply
    /// (what [`Engine::run`] returns).
    ///
    /// # Errors
    /// As [`Engine::job`]; a failure while decoding is the iterator's last item.
    pub fn stream(&self, req: &Request) -> Result<Steps, Error> {
        Ok(Steps {
            engine: self.clone(),
            job: Some(self.job(req)?),
            pending: Default::default(),
            preview_every: PREVIEW_EVERY,
        })
    }
}
