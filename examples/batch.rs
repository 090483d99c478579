//! Many requests through one engine: the embedded `models/tessera-tiny` answers a pile of
//! sums from several threads, each with its own clone of the `Engine` (clones share the
//! weights; an `Engine` is `Send + Sync`).
//!
//! ```text
//! cargo run --release --example batch -- [REQUESTS]
//! ```
//! Default 64 requests, on as many threads as the machine has cores (at most 8). Prints every
//! answer and the throughput; the answers are checked against the sums.
//! (`cargo run --example embed_in_tower` shows the other way: one service whose scheduler
//! merges concurrent requests' steps into shared forward passes.)

use std::time::Instant;

use tessera::{Engine, Request, Target};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let engine = Engine::load(concat!(env!("CARGO_MANIFEST_DIR"), "/models/tessera-tiny"))?;
    // Arguments that look like flags (`cargo test -- --nocapture`) are not ours.
    let n: usize = match std::env::args().skip(1).find(|a| !a.starts_with('-')) {
        Some(n) => n.parse()?,
        None => 64,
    };
    let threads = std::thread::available_parallelism().map_or(2, |c| c.get().min(8));
    let sums: Vec<(usize, usize)> = (0..n).map(|i| (i * 37 % 1000, i * 91 % 1000)).collect();
    let requests: Vec<Request> = sums
        .iter()
        .map(|(a, b)| {
            Request::new()
                .text(format!("{a}+{b}="))
                .generate(Target::text(64))
        })
        .collect();

    let started = Instant::now();
    let replies: Vec<_> = std::thread::scope(|scope| {
        let workers: Vec<_> = requests
            .chunks(n.div_ceil(threads).max(1))
            .map(|chunk| {
                let engine = engine.clone();
                scope.spawn(move || chunk.iter().map(|r| engine.run(r)).collect::<Vec<_>>())
            })
            .collect();
        // Each worker's replies, in the order of the requests.
        workers
            .into_iter()
            .flat_map(|w| w.join().expect("a worker panicked"))
            .collect()
    });
    let seconds = started.elapsed().as_secs_f64();

    let (mut right, mut tokens, mut nfe) = (0, 0, 0);
    for (i, (&(a, b), reply)) in sums.iter().zip(replies).enumerate() {
        let reply = reply?;
        let answer = reply.text().unwrap_or_default();
        let ok = answer == (a + b).to_string();
        right += usize::from(ok);
        (tokens, nfe) = (tokens + reply.ids.len(), nfe + reply.stats.nfe);
        let line = format!("{a}+{b}={answer}{}", if ok { "" } else { " ✗" });
        print!("{line:<16}{}", if i % 6 == 5 { "\n" } else { "" });
    }
    println!(
        "\n{n} requests on {threads} threads in {seconds:.2} s: {:.0} requests/s, {:.0} tokens/s, \
         {:.1} forward passes per request, {right}/{n} right",
        n as f64 / seconds,
        tokens as f64 / seconds,
        nfe as f64 / n.max(1) as f64
    );
    // A model this small may slip on a sum; a broken pipeline gets (almost) none right.
    assert!(right * 10 >= n * 9, "only {right} of {n} sums are right");
    Ok(())
}
