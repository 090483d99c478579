//! `TesseraService` inside your own tower stack: the embedded `models/tessera-tiny` behind a
//! timeout, load shedding, a buffer and a concurrency limit, called by many tasks at once.
//!
//! ```text
//! cargo run --release --example embed_in_tower
//! ```
//! The service is a cloneable `tower::Service<tessera::Request>`; its scheduler thread merges
//! the steps of every request in flight into one forward pass. Prints each answer and the
//! service's metrics; every answer must be right.

use std::time::Duration;

use tessera::service::{ServiceOptions, TesseraService};
use tessera::{DecodeOptions, Engine, Policy, Request, Target, Unmask};
use tessera_worlds::TextTask;
use tower::{ServiceBuilder, ServiceExt};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let engine = Engine::load(concat!(env!("CARGO_MANIFEST_DIR"), "/models/tessera-tiny"))?;
    let service = TesseraService::new(engine, ServiceOptions::default())?;

    // Outermost first: a deadline per request (waiting included), an immediate `Overloaded`
    // error once 32 requests wait, and at most 4 requests in the service at a time.
    let stack = ServiceBuilder::new()
        .timeout(Duration::from_secs(10))
        .load_shed()
        .buffer(32)
        .concurrency_limit(4)
        .service(service.clone());

    let prompts = [
        "123+45=",
        "999+1=",
        "70+8=",
        "sort 5 3 9 1 =",
        "sort 8 2 6 =",
        "sudoku 1.3.|.41.|4..3|2.4. =",
        "sudoku 3..2|..3.|43..|.1.. =",
        "250+250=",
    ];
    // The whole answer at once, each step committing every position the model gives ≥ 0.999:
    // the policy the model card finds within a point of the best on every text task (the
    // default `hybrid`, blocks of 8 at 0.9, misses more sudokus: 97 % against 100 %).
    let options = DecodeOptions::new()
        .policy(Policy::Diffusion)
        .unmask(Unmask::Threshold(0.999));
    // Every request at once, each from its own task with its own handle on the stack.
    let calls: Vec<_> = prompts
        .iter()
        .map(|prompt| {
            let request = Request::new()
                .text(*prompt)
                .generate(Target::text(64))
                .options(options.clone());
            tokio::spawn(stack.clone().oneshot(request))
        })
        .collect();
    for (prompt, call) in prompts.iter().zip(calls) {
        let reply = call.await??;
        let answer = reply.text().unwrap_or_default();
        println!("{prompt:<30} → {answer}");
        let right = TextTask::ALL.iter().any(|t| t.check(prompt, answer));
        assert!(right, "{answer:?} does not answer {prompt:?}");
    }

    let m = service.metrics();
    println!(
        "answered {} (failed {}), {} forward passes for {} request passes ({:.1} per forward), \
         mean latency {:.0} ms",
        m.completed,
        m.failed,
        m.forwards,
        m.batch_rows,
        m.rows_per_forward(),
        1e3 * m.latency.sum_seconds / m.latency.count().max(1) as f64
    );
    assert_eq!((m.completed, m.failed), (prompts.len() as u64, 0));
    Ok(())
}
