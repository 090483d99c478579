//! `tessera bench serve`: what step-level batching buys, and the server under load, on one
//! model (default tessera-tiny), measured in one run.
//!
//! 1. **Batching**: `--concurrent` text requests decoded one at a time with
//!    [`Engine::run`] against the same requests submitted together to the
//!    [`TesseraService`]; prints both throughputs and their ratio (best of `--rounds`).
//! 2. **Load** (`--requests` > 0): the HTTP server on a loopback port and a client keeping
//!    `--load-concurrency` requests in flight: a mix of text, text-to-image, caption (an
//!    uploaded PNG), text-to-audio and transcription (an uploaded WAV), half of them
//!    streamed; prints p50/p99 latency, throughput and the responses by status. Then a burst
//!    at ten times the admission queue's capacity, which must be answered with 503s (and the
//!    next request served normally).

use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use serde_json::json;
use tessera::http::{ServerConfig, router, serve};
use tessera::modalities::audio::wav_bytes;
use tessera::modalities::image::encode_png;
use tessera::service::{ServiceOptions, TesseraService};
use tessera::{Engine, Generated, Request, Target};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tower::ServiceExt;

use super::{CliError, model_dir};

/// Options of `bench serve`.
#[derive(Debug, clap::Args)]
pub(crate) struct ServeBenchArgs {
    /// Model folder (default: tessera-tiny; the load mix needs a Tessera world model).
    #[arg(long)]
    model: Option<std::path::PathBuf>,
    /// Requests submitted together in the batching comparison.
    #[arg(long, default_value_t = 16)]
    concurrent: usize,
    /// Rounds of the batching comparison (the best of each side is reported).
    #[arg(long, default_value_t = 2)]
    rounds: usize,
    /// Requests of the HTTP load test (0: skip it).
    #[arg(long, default_value_t = 500)]
    requests: usize,
    /// Requests the load test keeps in flight.
    #[arg(long, default_value_t = 32)]
    load_concurrency: usize,
    /// Device to run on (`cpu`, `cuda`, `cuda:N`; CUDA needs a build with `--features
    /// cuda`): step-level batching pays most where one request leaves the hardware idle.
    #[arg(long, default_value = "cpu", value_parser = super::generate::parse_device)]
    device: tessera::Device,
    /// Print one JSON object instead of tables.
    #[arg(long)]
    json: bool,
}

pub(crate) fn run(args: ServeBenchArgs) -> Result<(), CliError> {
    let engine = Engine::load_with(
        model_dir(args.model.as_deref())?,
        &tessera::EngineOptions::default().device(args.device),
    )?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let requests: Vec<Request> = (0..args.concurrent)
        .map(|i| {
            Request::new()
                .text(format!("{}+{}=", 100 + 37 * i, 11 * i + 5))
                .generate(Target::Text { max_len: None })
        })
        .collect();
    let (mut alone, mut together) = (f64::INFINITY, f64::INFINITY);
    let mut rows_per_forward = 0.0;
    for _ in 0..args.rounds.max(1) {
        let t = Instant::now();
        for r in &requests {
            engine.run(r)?;
        }
        alone = alone.min(t.elapsed().as_secs_f64());
        let service = TesseraService::new(engine.clone(), ServiceOptions::default())?;
        let t = Instant::now();
        runtime.block_on(async {
            let mut tasks = tokio::task::JoinSet::new();
            for r in requests.iter().cloned() {
                let s = service.clone();
                tasks.spawn(async move { s.oneshot(r).await });
            }
            while let Some(joined) = tasks.join_next().await {
                joined.map_err(|e| e.to_string())??;
            }
            Ok::<(), CliError>(())
        })?;
        together = together.min(t.elapsed().as_secs_f64());
        rows_per_forward = service.metrics().rows_per_forward();
    }
    let n = requests.len() as f64;
    let ratio = alone / together.max(1e-9);
    let load = if args.requests > 0 {
        Some(runtime.block_on(load_test(&engine, &args))?)
    } else {
        None
    };
    if args.json {
        println!(
            "{}",
            json!({
                "batching": {
                    "requests": requests.len(),
                    "alone_rps": n / alone,
                    "service_rps": n / together,
                    "ratio": ratio,
                    "rows_per_forward": rows_per_forward,
                },
                "load": load,
            })
        );
        return Ok(());
    }
    println!("| {} text requests | requests/s | ratio |", requests.len());
    println!("|---|---|---|");
    println!("| one at a time (Engine::run) | {:.1} | 1.00× |", n / alone);
    println!(
        "| together (TesseraService, {rows_per_forward:.1} rows per forward) | {:.1} | {ratio:.2}× |",
        n / together
    );
    if let Some(load) = load {
        println!();
        println!("{}", serde_json::to_string_pretty(&load)?);
    }
    Ok(())
}

/// The HTTP load test and the overload burst.
async fn load_test(engine: &Engine, args: &ServeBenchArgs) -> Result<serde_json::Value, CliError> {
    let options = ServiceOptions::default();
    let capacity = options.queue_capacity;
    let service = TesseraService::new(engine.clone(), options)?;
    let app = router(service, "bench", ServerConfig::default());
    let listener = tessera::http::listen("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(serve(
        listener,
        app,
        async {
            let _ = stopped.await;
        },
        Duration::from_secs(5),
    ));
    let bodies = mix(engine)?;
    let started = Instant::now();
    let mut latencies = Vec::with_capacity(args.requests);
    let mut statuses: std::collections::BTreeMap<u16, usize> = Default::default();
    let mut tasks = tokio::task::JoinSet::new();
    let mut next = 0;
    while next < args.requests || !tasks.is_empty() {
        while next < args.requests && tasks.len() < args.load_concurrency.max(1) {
            let (path, body) = bodies[next % bodies.len()].clone();
            tasks.spawn(async move {
                let t = Instant::now();
                let status = post(addr, path, &body).await;
                (status, t.elapsed())
            });
            next += 1;
        }
        if let Some(joined) = tasks.join_next().await {
            let (status, took) = joined.map_err(|e| e.to_string())?;
            *statuses.entry(status?).or_default() += 1;
            latencies.push(took.as_secs_f64());
        }
    }
    let seconds = started.elapsed().as_secs_f64();
    latencies.sort_by(f64::total_cmp);
    let pct = |p: f64| latencies[((latencies.len() - 1) as f64 * p) as usize];

    // The burst: ten times the queue's capacity at once.
    let burst = 10 * capacity;
    let (path, body) = bodies[0].clone();
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..burst {
        let body = body.clone();
        tasks.spawn(async move { post(addr, path, &body).await });
    }
    let mut burst_statuses: std::collections::BTreeMap<u16, usize> = Default::default();
    while let Some(joined) = tasks.join_next().await {
        *burst_statuses
            .entry(joined.map_err(|e| e.to_string())??)
            .or_default() += 1;
    }
    let after = post(addr, path, &body).await?;
    let _ = stop.send(());
    let _ = server.await;
    Ok(json!({
        "requests": args.requests,
        "concurrency": args.load_concurrency,
        "seconds": seconds,
        "requests_per_second": args.requests as f64 / seconds,
        "p50_seconds": pct(0.5),
        "p99_seconds": pct(0.99),
        "statuses": statuses,
        "burst": {"requests": burst, "statuses": burst_statuses, "next_request_status": after},
    }))
}

/// The request mix: (path, JSON body) of every task, plain and streamed.
fn mix(engine: &Engine) -> Result<Vec<(&'static str, String)>, CliError> {
    let picture = engine.run(
        &Request::new()
            .text("a large red circle at the top left")
            .generate(Target::Image),
    )?;
    let sound = engine.run(
        &Request::new()
            .text("C4 E4 G4")
            .generate(Target::Audio { seconds: None }),
    )?;
    let (Some(Generated::Image(img)), Some(Generated::Audio(pcm))) =
        (picture.parts.first(), sound.parts.first())
    else {
        return Err("the load mix needs a Tessera world model (pictures and sounds)".into());
    };
    let png = B64.encode(encode_png(img)?);
    let wav = B64.encode(wav_bytes(pcm)?);
    let parts = [
        json!([{"text": "123+45="}, {"generate": "text"}]),
        json!([{"text": "a small blue square at the center"}, {"generate": "image"}]),
        json!([{"image": png}, {"generate": "text"}]),
        json!([{"text": "E4 G4 C5"}, {"generate": "audio"}]),
        json!([{"audio": wav}, {"generate": "text"}]),
        json!([{"text": "sort 5 3 9 1 ="}, {"generate": "text"}]),
    ];
    let mut bodies = Vec::new();
    for stream in [false, true] {
        for p in &parts {
            bodies.push((
                "/v1/generate",
                json!({"parts": p, "stream": stream}).to_string(),
            ));
        }
    }
    Ok(bodies)
}

/// POSTs `body` to `path` over one HTTP/1.1 connection and reads the whole answer (SSE
/// included); the status code.
async fn post(addr: std::net::SocketAddr, path: &str, body: &str) -> Result<u16, CliError> {
    let mut stream = tokio::net::TcpStream::connect(addr).await?;
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).await?;
    stream.write_all(body.as_bytes()).await?;
    let mut answer = Vec::new();
    stream
        .read_to_end(&mut answer)
        .await
        .map_err(|e| format!("POST {path}: no answer ({e})"))?;
    let line = answer.split(|&b| b == b'\n').next().unwrap_or_default();
    String::from_utf8_lossy(line)
        .split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
        .ok_or_else(|| format!("not an HTTP answer: {:?}", String::from_utf8_lossy(line)).into())
}
