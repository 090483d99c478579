//! The scheduler thread: step-level continuous batching over one [`Driver`].
//!
//! Every turn it takes what was submitted, drops waiting or active requests whose caller
//! went away (a dropped future or stream: their slot and cache are freed here, before the
//! next step), admits waiting requests in arrival order while the active count and the
//! canvas positions in flight stay within their limits, and then advances **every** active
//! request by one pass with [`Driver::step`] (passes that can share a forward do). A request
//! admitted is advanced every step until it finishes, so a long request cannot starve a
//! short one and the other way round; a request waits only for admission, in order.
//!
//! Step events go to a stream's bounded channel with `try_send`: a reader that falls behind
//! misses intermediate steps (they are provisional anyway), never the final answer, which
//! travels on its own one-shot channel. The scheduler never blocks on a caller.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::mpsc::{Receiver, TryRecvError};
use std::time::Instant;

use tessera_backbone::BackboneCache;
use tessera_hybrid::{Driver, DriverEvent, RequestId};
use tokio::sync::{mpsc, oneshot};

use super::ServiceOptions;
use super::metrics::Metrics;
use crate::{Engine, Error, Finisher, Job, Reply, StepEvent};

/// A submitted request on its way to the scheduler.
pub(crate) struct Admission {
    pub(crate) job: Job,
    /// Canvas positions it occupies (all rows).
    pub(crate) tokens: usize,
    pub(crate) events: Option<mpsc::Sender<StepEvent>>,
    pub(crate) done: oneshot::Sender<Result<Reply, Error>>,
    pub(crate) submitted: Instant,
    /// Its place in the admission queue, given back when it is admitted.
    pub(crate) permit: tokio::sync::OwnedSemaphorePermit,
}

/// An admitted request.
struct Active {
    finisher: Finisher,
    tokens: usize,
    events: Option<mpsc::Sender<StepEvent>>,
    done: oneshot::Sender<Result<Reply, Error>>,
    submitted: Instant,
    admitted: Instant,
    heard: bool,
}

/// Runs the scheduler until every service handle is gone and every request is answered.
pub(crate) fn run(
    engine: Engine,
    options: ServiceOptions,
    submitted: Receiver<Admission>,
    metrics: Arc<Metrics>,
) {
    let mut driver: Driver<'static, BackboneCache> = Driver::new();
    let mut waiting: VecDeque<Admission> = VecDeque::new();
    let mut active: HashMap<RequestId, Active> = HashMap::new();
    let mut in_flight = 0usize;
    let mut open = true;
    loop {
        if active.is_empty() && waiting.is_empty() {
            if !open {
                return;
            }
            // Idle: sleep until a request arrives (or the last handle is dropped).
            match submitted.recv() {
                Ok(a) => waiting.push_back(a),
                Err(_) => return,
            }
        }
        loop {
            match submitted.try_recv() {
                Ok(a) => waiting.push_back(a),
                Err(TryRecvError::Empty) => break,
                Err(TryRecvError::Disconnected) => {
                    open = false;
                    break;
                }
            }
        }
        waiting.retain(|a| {
            let gone = a.done.is_closed();
            if gone {
                metrics.queued.fetch_sub(1, Relaxed);
                metrics.cancelled.fetch_add(1, Relaxed);
            }
            !gone
        });
        while let Some(next) = waiting.front() {
            let fits = in_flight.saturating_add(next.tokens) <= options.max_tokens_in_flight;
            if active.len() >= options.max_active.max(1) || !fits {
                break;
            }
            let Some(a) = waiting.pop_front() else { break };
            drop(a.permit);
            metrics.queued.fetch_sub(1, Relaxed);
            metrics.admitted.fetch_add(1, Relaxed);
            in_flight += a.tokens;
            let Job { decoding, finisher } = a.job;
            let id = driver.join(decoding);
            tracing::debug!(
                request = id.0,
                tokens = a.tokens,
                waited_ms = a.submitted.elapsed().as_millis() as u64,
                "admitted"
            );
            active.insert(
                id,
                Active {
                    finisher,
                    tokens: a.tokens,
                    events: a.events,
                    done: a.done,
                    submitted: a.submitted,
                    admitted: Instant::now(),
                    heard: false,
                },
            );
        }
        active.retain(|&id, a| {
            let gone = a.done.is_closed();
            if gone {
                tracing::info!(request = id.0, "cancelled: the caller went away");
                driver.leave(id);
                // cannot underflow: `in_flight` is the sum over admitted requests, this one's
                // included.
                in_flight -= a.tokens;
                metrics.cancelled.fetch_add(1, Relaxed);
            }
            !gone
        });
        metrics.active.store(active.len() as u64, Relaxed);
        metrics.tokens_in_flight.store(in_flight as u64, Relaxed);
        if active.is_empty() {
            continue;
        }
        let forwards = driver.forwards();
        let rows = driver.len();
        let step_started = Instant::now();
        let events = driver.step(engine.backbone());
        tracing::trace!(
            requests = rows,
            forwards = driver.forwards() - forwards,
            ms = step_started.elapsed().as_secs_f64() * 1e3,
            "step"
        );
        metrics.steps.fetch_add(1, Relaxed);
        metrics
            .forwards
            .fetch_add((driver.forwards() - forwards) as u64, Relaxed);
        metrics.batch_rows.fetch_add(rows as u64, Relaxed);
        for event in events {
            match event {
                DriverEvent::Step(id, info) => {
                    let Some(a) = active.get_mut(&id) else {
                        continue;
                    };
                    if !a.heard {
                        a.heard = true;
                        metrics.first_event.observe(a.admitted.elapsed());
                    }
                    if let Some(tx) = &a.events {
                        let every = options.preview_every;
                        let picture = every > 0 && (info.step == 1 || info.step % every == 0);
                        let event = StepEvent::new(info, driver.get(id), &a.finisher, picture);
                        // A full channel: the reader is behind; this step is skipped for it.
                        let _ = tx.try_send(event);
                    }
                }
                DriverEvent::Finished(id, result) => {
                    let Some(a) = active.remove(&id) else {
                        continue;
                    };
                    in_flight -= a.tokens;
                    let reply = result.map_err(Error::from).and_then(|generation| {
                        metrics.nfe.fetch_add(generation.nfe() as u64, Relaxed);
                        a.finisher.reply(&generation)
                    });
                    match &reply {
                        Ok(r) => tracing::info!(
                            request = id.0,
                            tokens = r.ids.len(),
                            nfe = r.stats.nfe,
                            seconds = a.submitted.elapsed().as_secs_f64(),
                            "answered"
                        ),
                        Err(e) => tracing::warn!(request = id.0, error = %e, "failed"),
                    }
                    match &reply {
                        Ok(r) => {
                            metrics.completed.fetch_add(1, Relaxed);
                            metrics
                                .generated_tokens
                                .fetch_add(r.ids.len() as u64, Relaxed);
                        }
                        Err(_) => {
                            metrics.failed.fetch_add(1, Relaxed);
                        }
                    }
                    metrics.latency.observe(a.submitted.elapsed());
                    // The caller may have gone in the meantime: nothing to do then.
                    let _ = a.done.send(reply);
                }
                _ => {}
            }
        }
        metrics.active.store(active.len() as u64, Relaxed);
        metrics.tokens_in_flight.store(in_flight as u64, Relaxed);
    }
}
