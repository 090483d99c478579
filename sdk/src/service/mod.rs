//! [`TesseraService`]: an [`Engine`] as a [`tower::Service`], many callers sharing one
//! scheduler thread that batches their steps (feature `service`).
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), tessera::Error> {
//! use tessera::service::{ServiceOptions, TesseraService};
//! use tessera::{Engine, Request, Target};
//! use tower::ServiceExt;
//!
//! let engine = Engine::load(concat!(env!("CARGO_MANIFEST_DIR"), "/../models/tessera-tiny"))?;
//! let service = TesseraService::new(engine, ServiceOptions::default())?;
//! let request = Request::new().text("123+45=").generate(Target::text(64));
//! let reply = service.clone().oneshot(request).await?;
//! assert_eq!(reply.text(), Some("168"));
//! # Ok(()) }
//! ```
//!
//! # Admission and backpressure
//! `call` plans the request on the caller's thread (tokenizing, encoding pictures and
//! sounds: errors come back at once, naming the field) and queues it for the scheduler.
//! The queue is bounded ([`ServiceOptions::queue_capacity`]): `poll_ready` waits for a place
//! in it, so tower's `Buffer`, `ConcurrencyLimit`, `Timeout`, `LoadShed` and `RateLimit`
//! compose as usual — under `LoadShed` a full queue is an immediate `Overloaded` error.
//! The scheduler ([`scheduler`](self) docs) admits queued requests in order while at most
//! [`ServiceOptions::max_active`] decode at once over at most
//! [`ServiceOptions::max_tokens_in_flight`] canvas positions.
//!
//! # Cancellation
//! Dropping the future of `call` (a `Timeout`, a client gone) or a [`ReplyStream`] cancels
//! the request: the scheduler drops it, with its cache, before its next step.

mod metrics;
mod scheduler;

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::{Arc, mpsc as std_mpsc};
use std::task::{Context, Poll, ready};
use std::time::Instant;

use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc, oneshot};
use tokio_util::sync::PollSemaphore;

pub use metrics::{HistogramSnapshot, LATENCY_BUCKETS, MetricsSnapshot};

use crate::{Engine, Error, Event, Limits, PREVIEW_EVERY, Reply, Request, StepEvent};
use metrics::Metrics;
use scheduler::Admission;

/// How the service schedules (the `[scheduler]` table of `tessera serve --config`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct ServiceOptions {
    /// Requests that may wait for admission (default 64); past it `poll_ready` waits.
    pub queue_capacity: usize,
    /// Requests decoding at once (default 16).
    pub max_active: usize,
    /// Canvas positions decoding at once, over all active requests (default 65,536); a
    /// request larger than this alone is refused when it is submitted.
    pub max_tokens_in_flight: usize,
    /// Streams get an image preview at the first step and every this many steps (default
    /// [`PREVIEW_EVERY`]; 0: never); the answer has the finished picture.
    pub preview_every: usize,
    /// Step events a stream buffers before a slow reader starts missing steps (default 256).
    pub event_buffer: usize,
}

impl Default for ServiceOptions {
    fn default() -> Self {
        ServiceOptions {
            queue_capacity: 64,
            max_active: 16,
            max_tokens_in_flight: 65_536,
            preview_every: PREVIEW_EVERY,
            event_buffer: 256,
        }
    }
}

impl ServiceOptions {
    /// Sets [`ServiceOptions::queue_capacity`].
    pub fn queue_capacity(mut self, n: usize) -> Self {
        self.queue_capacity = n;
        self
    }

    /// Sets [`ServiceOptions::max_active`].
    pub fn max_active(mut self, n: usize) -> Self {
        self.max_active = n;
        self
    }

    /// Sets [`ServiceOptions::max_tokens_in_flight`].
    pub fn max_tokens_in_flight(mut self, n: usize) -> Self {
        self.max_tokens_in_flight = n;
        self
    }
}

/// Where a request's answer arrives.
type Answer = oneshot::Receiver<Result<Reply, Error>>;

/// What every handle of one service shares.
#[derive(Debug)]
struct Shared {
    engine: Engine,
    options: ServiceOptions,
    submit: std_mpsc::Sender<Admission>,
    metrics: Arc<Metrics>,
}

/// An [`Engine`] behind a scheduler thread, as a cloneable [`tower::Service`]:
/// `Service<Request>` answers with the [`Reply`], `Service<Streaming>` with a
/// [`ReplyStream`] of step events. The scheduler stops once every handle is dropped and
/// every admitted request is answered.
#[derive(Debug)]
pub struct TesseraService {
    shared: Arc<Shared>,
    slots: PollSemaphore,
    permit: Option<OwnedSemaphorePermit>,
}

impl Clone for TesseraService {
    fn clone(&self) -> Self {
        // A clone has no reserved place of its own (tower's contract: poll_ready again).
        TesseraService {
            shared: Arc::clone(&self.shared),
            slots: self.slots.clone(),
            permit: None,
        }
    }
}

/// A request to stream: `Service<Streaming>` answers with a [`ReplyStream`].
#[derive(Debug, Clone)]
pub struct Streaming(pub Request);

impl TesseraService {
    /// Starts the scheduler thread for `engine`.
    ///
    /// # Errors
    /// [`Error::Unavailable`] if the thread cannot be started.
    pub fn new(engine: Engine, options: ServiceOptions) -> Result<Self, Error> {
        let (submit, submitted) = std_mpsc::channel();
        let metrics = Arc::new(Metrics::default());
        let slots = Arc::new(Semaphore::new(options.queue_capacity.max(1)));
        let scheduler_engine = engine.clone();
        let scheduler_metrics = Arc::clone(&metrics);
        std::thread::Builder::new()
            .name("tessera-scheduler".into())
            .spawn(move || {
                scheduler::run(scheduler_engine, options, submitted, scheduler_metrics);
            })
            .map_err(|_| Error::Unavailable("the scheduler thread could not be started"))?;
        Ok(TesseraService {
            shared: Arc::new(Shared {
                engine,
                options,
                submit,
                metrics,
            }),
            slots: PollSemaphore::new(slots),
            permit: None,
        })
    }

    /// The engine the service runs.
    pub fn engine(&self) -> &Engine {
        &self.shared.engine
    }

    /// The scheduling options.
    pub fn options(&self) -> &ServiceOptions {
        &self.shared.options
    }

    /// The counters now.
    pub fn metrics(&self) -> MetricsSnapshot {
        self.shared.metrics.snapshot()
    }

    /// The place reserved by `poll_ready`, or one taken now if the queue has room.
    fn take_permit(&mut self) -> Result<OwnedSemaphorePermit, Error> {
        if let Some(p) = self.permit.take() {
            return Ok(p);
        }
        self.slots
            .clone_inner()
            .try_acquire_owned()
            .map_err(|_| Error::Unavailable("the admission queue is full (call poll_ready first)"))
    }

    /// Plans `req` and queues it; the receivers of its events and answer.
    fn submit(
        &mut self,
        req: &Request,
        stream: bool,
    ) -> Result<(Option<mpsc::Receiver<StepEvent>>, Answer), Error> {
        let permit = self.take_permit()?;
        let submitted = Instant::now();
        let job = self.shared.engine.job(req)?;
        let (canvas, _) = job.decoding.canvas();
        let tokens = canvas.len();
        Limits::check(
            "max_tokens_in_flight",
            tokens,
            self.shared.options.max_tokens_in_flight,
        )?;
        let (events, events_rx) = if stream {
            let (tx, rx) = mpsc::channel(self.shared.options.event_buffer.max(1));
            (Some(tx), Some(rx))
        } else {
            (None, None)
        };
        let (done, done_rx) = oneshot::channel();
        self.shared.metrics.queued.fetch_add(1, Relaxed);
        self.shared
            .submit
            .send(Admission {
                job,
                tokens,
                events,
                done,
                submitted,
                permit,
            })
            .map_err(|_| {
                self.shared.metrics.queued.fetch_sub(1, Relaxed);
                Error::Unavailable("the scheduler has stopped")
            })?;
        Ok((events_rx, done_rx))
    }
}

impl tower::Service<Request> for TesseraService {
    type Response = Reply;
    type Error = Error;
    type Future = ReplyFuture;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        if self.permit.is_none() {
            match ready!(self.slots.poll_acquire(cx)) {
                Some(p) => self.permit = Some(p),
                None => return Poll::Ready(Err(Error::Unavailable("the service has stopped"))),
            }
        }
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Request) -> ReplyFuture {
        ReplyFuture {
            state: self.submit(&req, false).map(|(_, done)| done).map_err(Some),
        }
    }
}

impl tower::Service<Streaming> for TesseraService {
    type Response = ReplyStream;
    type Error = Error;
    type Future = std::future::Ready<Result<ReplyStream, Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        tower::Service::<Request>::poll_ready(self, cx)
    }

    fn call(&mut self, req: Streaming) -> Self::Future {
        std::future::ready(self.submit(&req.0, true).map(|(events, done)| ReplyStream {
            events,
            done: Some(done),
        }))
    }
}

/// The answer of `Service<Request>::call`; dropping it cancels the request.
#[derive(Debug)]
pub struct ReplyFuture {
    state: Result<Answer, Option<Error>>,
}

impl Future for ReplyFuture {
    type Output = Result<Reply, Error>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match &mut self.state {
            Ok(done) => Poll::Ready(
                ready!(Pin::new(done).poll(cx))
                    .unwrap_or(Err(Error::Unavailable("the scheduler has stopped"))),
            ),
            Err(e) => Poll::Ready(Err(e.take().unwrap_or(Error::Unavailable(
                "the future was polled after it finished",
            )))),
        }
    }
}

/// A request's step events and then its answer ([`Event::Done`]), as a
/// [`Stream`](futures_core::Stream); dropping it cancels the request.
#[derive(Debug)]
pub struct ReplyStream {
    events: Option<mpsc::Receiver<StepEvent>>,
    done: Option<Answer>,
}

impl futures_core::Stream for ReplyStream {
    type Item = Result<Event, Error>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if let Some(events) = &mut self.events {
            match ready!(events.poll_recv(cx)) {
                Some(step) => return Poll::Ready(Some(Ok(Event::Step(step)))),
                // The scheduler drops the sender after the answer: every step is read.
                None => self.events = None,
            }
        }
        let Some(done) = &mut self.done else {
            return Poll::Ready(None);
        };
        let answer = ready!(Pin::new(done).poll(cx));
        self.done = None;
        Poll::Ready(Some(
            answer
                .unwrap_or(Err(Error::Unavailable("the scheduler has stopped")))
                .map(Event::Done),
        ))
    }
}
