//! The service's counters: what the scheduler did, readable at any time without a lock
//! ([`Metrics::snapshot`]) and as Prometheus text ([`MetricsSnapshot::prometheus`]).

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::{Duration, Instant};

/// Upper bounds (seconds) of the latency histograms' buckets (the last is `+Inf`).
pub const LATENCY_BUCKETS: [f64; 12] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];

/// A histogram of durations with fixed buckets.
#[derive(Debug, Default)]
pub(crate) struct Histogram {
    counts: [AtomicU64; LATENCY_BUCKETS.len() + 1],
    sum_micros: AtomicU64,
}

impl Histogram {
    pub(crate) fn observe(&self, d: Duration) {
        let s = d.as_secs_f64();
        let i = LATENCY_BUCKETS
            .iter()
            .position(|&b| s <= b)
            .unwrap_or(LATENCY_BUCKETS.len());
        // cannot fail: `i` is at most `LATENCY_BUCKETS.len()`, the last index of `counts`.
        self.counts[i].fetch_add(1, Relaxed);
        let micros = u64::try_from(d.as_micros()).unwrap_or(u64::MAX);
        self.sum_micros.fetch_add(micros, Relaxed);
    }

    fn snapshot(&self) -> HistogramSnapshot {
        HistogramSnapshot {
            counts: self.counts.iter().map(|c| c.load(Relaxed)).collect(),
            sum_seconds: self.sum_micros.load(Relaxed) as f64 / 1e6,
        }
    }
}

/// The live counters, shared by the scheduler (writer) and every service handle (readers).
#[derive(Debug)]
pub(crate) struct Metrics {
    started: Instant,
    pub(crate) queued: AtomicU64,
    pub(crate) active: AtomicU64,
    pub(crate) tokens_in_flight: AtomicU64,
    pub(crate) admitted: AtomicU64,
    pub(crate) completed: AtomicU64,
    pub(crate) failed: AtomicU64,
    pub(crate) cancelled: AtomicU64,
    pub(crate) forwards: AtomicU64,
    pub(crate) steps: AtomicU64,
    pub(crate) batch_rows: AtomicU64,
    pub(crate) generated_tokens: AtomicU64,
    pub(crate) nfe: AtomicU64,
    pub(crate) first_event: Histogram,
    pub(crate) latency: Histogram,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics {
            started: Instant::now(),
            queued: AtomicU64::new(0),
            active: AtomicU64::new(0),
            tokens_in_flight: AtomicU64::new(0),
            admitted: AtomicU64::new(0),
            completed: AtomicU64::new(0),
            failed: AtomicU64::new(0),
            cancelled: AtomicU64::new(0),
            forwards: AtomicU64::new(0),
            steps: AtomicU64::new(0),
            batch_rows: AtomicU64::new(0),
            generated_tokens: AtomicU64::new(0),
            nfe: AtomicU64::new(0),
            first_event: Histogram::default(),
            latency: Histogram::default(),
        }
    }
}

impl Metrics {
    /// The counters now.
    pub(crate) fn snapshot(&self) -> MetricsSnapshot {
        let get = |c: &AtomicU64| c.load(Relaxed);
        MetricsSnapshot {
            uptime_seconds: self.started.elapsed().as_secs_f64(),
            queue_depth: get(&self.queued),
            active: get(&self.active),
            tokens_in_flight: get(&self.tokens_in_flight),
            admitted: get(&self.admitted),
            completed: get(&self.completed),
            failed: get(&self.failed),
            cancelled: get(&self.cancelled),
            forwards: get(&self.forwards),
            steps: get(&self.steps),
            batch_rows: get(&self.batch_rows),
            generated_tokens: get(&self.generated_tokens),
            nfe: get(&self.nfe),
            first_event: self.first_event.snapshot(),
            latency: self.latency.snapshot(),
        }
    }
}

/// A histogram's counts per bucket of [`LATENCY_BUCKETS`] (plus `+Inf`) and their sum.
#[derive(Debug, Clone, PartialEq)]
pub struct HistogramSnapshot {
    /// Observations per bucket (not cumulative), the last one above every bound.
    pub counts: Vec<u64>,
    /// The sum of every observation, in seconds.
    pub sum_seconds: f64,
}

impl HistogramSnapshot {
    /// Observations in all.
    pub fn count(&self) -> u64 {
        self.counts.iter().sum()
    }
}

/// The service's counters at one moment.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct MetricsSnapshot {
    /// Seconds since the service started.
    pub uptime_seconds: f64,
    /// Requests waiting for admission.
    pub queue_depth: u64,
    /// Requests decoding now.
    pub active: u64,
    /// Canvas positions of the requests decoding now.
    pub tokens_in_flight: u64,
    /// Requests admitted so far.
    pub admitted: u64,
    /// Requests answered.
    pub completed: u64,
    /// Requests that failed while decoding.
    pub failed: u64,
    /// Requests whose caller went away (dropped future or stream) before the answer.
    pub cancelled: u64,
    /// Forward passes run (a merged pass over many requests counts once).
    pub forwards: u64,
    /// Scheduler steps (each advances every active request by one pass).
    pub steps: u64,
    /// Request passes run, over all forwards (`batch_rows / forwards` = rows per forward).
    pub batch_rows: u64,
    /// Tokens generated by answered requests.
    pub generated_tokens: u64,
    /// Forward passes of answered requests, each counted for its own request.
    pub nfe: u64,
    /// Time from admission to a request's first event.
    pub first_event: HistogramSnapshot,
    /// Time from submission to the answer.
    pub latency: HistogramSnapshot,
}

impl MetricsSnapshot {
    /// Request passes per forward pass (how well step-level batching merges).
    pub fn rows_per_forward(&self) -> f64 {
        self.batch_rows as f64 / self.forwards.max(1) as f64
    }

    /// Forward passes per second since the start.
    pub fn forwards_per_second(&self) -> f64 {
        self.forwards as f64 / self.uptime_seconds.max(1e-9)
    }

    /// Generated tokens per second since the start.
    pub fn tokens_per_second(&self) -> f64 {
        self.generated_tokens as f64 / self.uptime_seconds.max(1e-9)
    }

    /// Forward passes per generated token (each request's own passes).
    pub fn nfe_per_token(&self) -> f64 {
        self.nfe as f64 / self.generated_tokens.max(1) as f64
    }

    /// The counters in Prometheus' text exposition format (names prefixed `tessera_`).
    pub fn prometheus(&self) -> String {
        let mut out = String::new();
        let mut metric = |name: &str, kind: &str, help: &str, value: f64| {
            // cannot fail: writing to a String.
            let _ = writeln!(
                out,
                "# HELP tessera_{name} {help}\n# TYPE tessera_{name} {kind}\ntessera_{name} {value}"
            );
        };
        metric(
            "queue_depth",
            "gauge",
            "Requests waiting for admission.",
            self.queue_depth as f64,
        );
        metric(
            "active_requests",
            "gauge",
            "Requests decoding now.",
            self.active as f64,
        );
        metric(
            "tokens_in_flight",
            "gauge",
            "Canvas positions decoding now.",
            self.tokens_in_flight as f64,
        );
        metric(
            "requests_admitted_total",
            "counter",
            "Requests admitted.",
            self.admitted as f64,
        );
        metric(
            "requests_completed_total",
            "counter",
            "Requests answered.",
            self.completed as f64,
        );
        metric(
            "requests_failed_total",
            "counter",
            "Requests failed while decoding.",
            self.failed as f64,
        );
        metric(
            "requests_cancelled_total",
            "counter",
            "Requests whose caller went away.",
            self.cancelled as f64,
        );
        metric(
            "forward_passes_total",
            "counter",
            "Forward passes run.",
            self.forwards as f64,
        );
        metric(
            "batch_rows_total",
            "counter",
            "Request passes run over all forwards.",
            self.batch_rows as f64,
        );
        metric(
            "generated_tokens_total",
            "counter",
            "Tokens generated.",
            self.generated_tokens as f64,
        );
        metric(
            "rows_per_forward",
            "gauge",
            "Request passes per forward pass.",
            self.rows_per_forward(),
        );
        metric(
            "forwards_per_second",
            "gauge",
            "Forward passes per second since the start.",
            self.forwards_per_second(),
        );
        metric(
            "tokens_per_second",
            "gauge",
            "Generated tokens per second since the start.",
            self.tokens_per_second(),
        );
        metric(
            "nfe_per_token",
            "gauge",
            "Forward passes per generated token.",
            self.nfe_per_token(),
        );
        for (name, help, h) in [
            (
                "time_to_first_event_seconds",
                "Admission to a request's first event.",
                &self.first_event,
            ),
            (
                "request_latency_seconds",
                "Submission to the answer.",
                &self.latency,
            ),
        ] {
            let _ = writeln!(
                out,
                "# HELP tessera_{name} {help}\n# TYPE tessera_{name} histogram"
            );
            let mut cumulative = 0;
            for (i, count) in h.counts.iter().enumerate() {
                cumulative += count;
                let le = LATENCY_BUCKETS
                    .get(i)
                    .map_or_else(|| "+Inf".to_string(), |b| b.to_string());
                let _ = writeln!(out, "tessera_{name}_bucket{{le=\"{le}\"}} {cumulative}");
            }
            let _ = writeln!(out, "tessera_{name}_sum {}", h.sum_seconds);
            let _ = writeln!(out, "tessera_{name}_count {cumulative}");
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histograms_bucket_and_render_cumulatively() {
        let m = Metrics::default();
        m.latency.observe(Duration::from_millis(3));
        m.latency.observe(Duration::from_millis(300));
        m.latency.observe(Duration::from_secs(100));
        let s = m.snapshot();
        assert_eq!(s.latency.count(), 3);
        assert_eq!(s.latency.counts[0], 1);
        assert_eq!(s.latency.counts[LATENCY_BUCKETS.len()], 1);
        let text = s.prometheus();
        assert!(
            text.contains("tessera_request_latency_seconds_bucket{le=\"0.5\"} 2"),
            "{text}"
        );
        assert!(text.contains("tessera_request_latency_seconds_bucket{le=\"+Inf\"} 3"));
        assert!(text.contains("# TYPE tessera_queue_depth gauge"));
    }
}
