//! The tower service on tessera-tiny: answers equal the engine's alone, requests share
//! forwards, streams end with the answer, backpressure composes with tower's layers, and
//! cancelled requests leave nothing behind.

use std::time::Duration;

use tessera::service::{ServiceOptions, Streaming, TesseraService};
use tessera::{Engine, Event, Generated, Request, Target};
use tower::{Service, ServiceBuilder, ServiceExt};

#[cfg(feature = "http")]
mod http_api;
#[cfg(feature = "http")]
mod playground;

fn tiny() -> Engine {
    Engine::load(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../models/tessera-tiny"
    ))
    .unwrap()
}

fn text(prompt: &str) -> Request {
    Request::new().text(prompt).generate(Target::text(64))
}

/// Waits (bounded) until the scheduler holds nothing.
async fn drained(service: &TesseraService) {
    for _ in 0..2000 {
        let m = service.metrics();
        if m.active == 0 && m.queue_depth == 0 && m.tokens_in_flight == 0 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    panic!("the scheduler did not drain: {:?}", service.metrics());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_requests_share_forwards_and_answer_as_alone() {
    let engine = tiny();
    let service = TesseraService::new(engine.clone(), ServiceOptions::default()).unwrap();
    let requests: Vec<Request> = (0..12)
        .map(|i| match i % 3 {
            0 => text(&format!("{}+{}=", 100 + i, 7 * i)),
            1 => Request::new()
                .text("a large red circle at the top left")
                .generate(Target::Image),
            _ => text("sort 5 3 9 1 ="),
        })
        .collect();
    let mut tasks = tokio::task::JoinSet::new();
    for (i, req) in requests.iter().cloned().enumerate() {
        let service = service.clone();
        tasks.spawn(async move { (i, service.oneshot(req).await) });
    }
    let mut answered = 0;
    while let Some(joined) = tasks.join_next().await {
        let (i, reply) = joined.unwrap();
        let alone = engine.run(&requests[i]).unwrap();
        let reply = reply.unwrap();
        assert_eq!(reply.ids, alone.ids, "request {i}");
        assert_eq!(reply.parts, alone.parts, "request {i}");
        answered += 1;
    }
    assert_eq!(answered, requests.len());
    drained(&service).await;
    let m = service.metrics();
    assert_eq!(m.completed, 12);
    assert!(m.rows_per_forward() > 1.5, "no batching: {m:?}");
    assert!(m.latency.count() == 12 && m.first_event.count() == 12);
    assert!(
        m.prometheus()
            .contains("tessera_requests_completed_total 12")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_reports_steps_then_the_answer() {
    let engine = tiny();
    let service = TesseraService::new(engine.clone(), ServiceOptions::default()).unwrap();
    let req = Request::new()
        .text("a small blue square at the center")
        .generate(Target::Image);
    let mut stream = service
        .clone()
        .oneshot(Streaming(req.clone()))
        .await
        .unwrap();
    let mut steps = 0;
    let mut last = None;
    while let Some(event) = std::future::poll_fn(|cx| {
        futures_core::Stream::poll_next(std::pin::Pin::new(&mut stream), cx)
    })
    .await
    {
        match event.unwrap() {
            Event::Step(s) => {
                assert!(last.is_none(), "a step after the answer");
                steps += s.step.min(1);
            }
            Event::Done(reply) => last = Some(reply),
        }
    }
    let reply = last.expect("the stream ended without its answer");
    assert!(steps > 0);
    assert_eq!(reply.ids, engine.run(&req).unwrap().ids);
    assert!(matches!(reply.parts[0], Generated::Image(_)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_queue_sheds_load_and_the_service_recovers() {
    let options = ServiceOptions::default().queue_capacity(2).max_active(1);
    let service = TesseraService::new(tiny(), options).unwrap();
    let shed = ServiceBuilder::new().load_shed().service(service.clone());
    // LoadShed answers `poll_ready` at once and fails the call when the queue is full.
    let mut calls = Vec::new();
    for i in 0..20 {
        let mut s = shed.clone();
        let ready = ServiceExt::<Request>::ready(&mut s).await.unwrap();
        calls.push(ready.call(text(&format!("{i}+1="))));
    }
    let mut overloaded = 0;
    for call in calls {
        match call.await {
            Ok(_) => {}
            Err(e) => {
                assert!(e.is::<tower::load_shed::error::Overloaded>(), "{e}");
                overloaded += 1;
            }
        }
    }
    // Two fit the queue (and one of those may already be decoding); the rest are shed.
    assert!(overloaded >= 17, "only {overloaded} shed");
    drained(&service).await;
    let reply = service.clone().oneshot(text("2+2=")).await.unwrap();
    assert_eq!(reply.text(), Some("4"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancelled_requests_free_their_slots_and_memory() {
    let options = ServiceOptions::default().queue_capacity(64).max_active(8);
    let service = TesseraService::new(tiny(), options).unwrap();
    // Warm up: a first round of cancellations lets the allocator's per-thread arenas and
    // lazily built tables reach their steady size before the baseline is taken.
    cancel(&service, 200).await;
    drained(&service).await;
    let baseline = rss_kib();
    cancel(&service, 1000).await;
    drained(&service).await;
    let m = service.metrics();
    // Every request is accounted for: answered (a timeout that lost the race) or cancelled.
    assert_eq!(m.completed + m.cancelled, 1200, "{m:?}");
    assert_eq!(m.failed, 0);
    assert!(m.cancelled >= 1000, "{m:?}");
    assert_eq!((m.active, m.tokens_in_flight, m.queue_depth), (0, 0, 0));
    let grown = rss_kib().saturating_sub(baseline);
    eprintln!("resident memory after 1000 cancellations: {grown} KiB over the baseline");
    assert!(
        grown < 64 * 1024,
        "resident memory grew by {grown} KiB after 1000 cancellations"
    );
    let reply = service.clone().oneshot(text("2+3=")).await.unwrap();
    assert_eq!(reply.text(), Some("5"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn planning_errors_come_back_at_once_naming_the_field() {
    let service = TesseraService::new(tiny(), ServiceOptions::default()).unwrap();
    let err = service
        .clone()
        .oneshot(Request::new().text("no target"))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("parts"), "{err}");
    let small = ServiceOptions::default().max_tokens_in_flight(4);
    let service = TesseraService::new(tiny(), small).unwrap();
    let err = service.clone().oneshot(text("1+1=")).await.unwrap_err();
    assert!(err.to_string().contains("max_tokens_in_flight"), "{err}");
}

/// Submits `n` requests (text and pictures) and cancels each: every fourth by a 1 ms
/// `Timeout` (while waiting or decoding), the others by dropping the call's future at once.
async fn cancel(service: &TesseraService, n: usize) {
    let mut timed = ServiceBuilder::new()
        .timeout(Duration::from_millis(1))
        .service(service.clone());
    for i in 0..n {
        let req = match i % 2 {
            0 => text(&format!("{i}+{i}=")),
            _ => Request::new()
                .text("a large green triangle at the bottom right")
                .generate(Target::Image),
        };
        if i % 4 == 0 {
            let answer = ServiceExt::<Request>::ready(&mut timed)
                .await
                .unwrap()
                .call(req)
                .await;
            // A 1 ms request may still win the race; it is then an answer, not an error.
            if let Err(e) = answer {
                assert!(e.is::<tower::timeout::error::Elapsed>(), "{e}");
            }
        } else {
            let mut s = service.clone();
            drop(
                ServiceExt::<Request>::ready(&mut s)
                    .await
                    .unwrap()
                    .call(req),
            );
        }
    }
}

/// This process's resident set in KiB (Linux).
fn rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

/// The official OpenAI Python client (pinned, installed from PyPI into `target/`) against
/// `tessera serve` on a free loopback port: completions and chat, streaming included.
#[cfg(feature = "http")]
#[test]
fn the_official_openai_client_talks_to_the_server() {
    use std::process::Command;

    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let venv = root.join("target/openai-venv");
    let python = venv.join("bin/python");
    if !python.exists() {
        let made = Command::new("python3")
            .args(["-m", "venv"])
            .arg(&venv)
            .status()
            .expect("python3 runs");
        assert!(made.success(), "python3 -m venv failed");
    }
    let installed = Command::new(&python)
        .args(["-m", "pip", "install", "-q", "--disable-pip-version-check"])
        .arg(format!("openai=={OPENAI_VERSION}"))
        .status()
        .expect("pip runs");
    assert!(
        installed.success(),
        "pip could not install openai=={OPENAI_VERSION}"
    );

    run_client(Command::new(&python).arg(root.join("scripts/openai_client_test.py")));
}

/// The official OpenAI JavaScript client (pinned, installed from npm into `target/`) against
/// `tessera serve`: completions and chat, streaming included.
#[cfg(feature = "http")]
#[test]
fn the_official_openai_js_client_talks_to_the_server() {
    use std::process::Command;

    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let prefix = root.join("target/openai-js");
    std::fs::create_dir_all(&prefix).unwrap();
    let installed = Command::new("npm")
        .args(["install", "--silent", "--no-audit", "--no-fund", "--prefix"])
        .arg(&prefix)
        .arg(format!("openai@{OPENAI_JS_VERSION}"))
        .status()
        .expect("npm runs");
    assert!(
        installed.success(),
        "npm could not install openai@{OPENAI_JS_VERSION}"
    );
    // The script runs from the install folder so that `import "openai"` finds it.
    let script = prefix.join("openai_client_test.mjs");
    std::fs::copy(root.join("scripts/openai_client_test.mjs"), &script).unwrap();
    run_client(Command::new("node").arg(&script));
}

/// Runs a client script (`client`, given the server's URL as its last argument) against a
/// fresh `tessera serve`, and asserts it passed every check.
#[cfg(feature = "http")]
fn run_client(client: &mut std::process::Command) {
    let (mut server, url) = start_server();
    let out = client.arg(&url).output().expect("the client script runs");
    let _ = server.kill();
    let _ = server.wait();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("all checks passed"), "{stdout}");
}

/// `tessera serve` on a free loopback port, and the URL it prints.
#[cfg(feature = "http")]
fn start_server() -> (std::process::Child, String) {
    use std::io::{BufRead, BufReader};
    use std::process::{Command, Stdio};

    let mut server = Command::new(env!("CARGO_BIN_EXE_tessera"))
        .args(["serve", "--port", "0"])
        .stderr(Stdio::piped())
        .spawn()
        .expect("tessera serve starts");
    let stderr = server.stderr.take().expect("piped stderr");
    let (tx, rx) = std::sync::mpsc::channel();
    // Keep reading (and dropping) the log after the URL, so the server never blocks on a
    // full pipe.
    std::thread::spawn(move || {
        let mut sent = false;
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if !sent && let Some(url) = line.split_whitespace().find(|w| w.starts_with("http://")) {
                let _ = tx.send(url.to_string());
                sent = true;
            }
        }
    });
    let url = rx
        .recv_timeout(std::time::Duration::from_secs(60))
        .expect("the server prints its URL");
    (server, url)
}

/// The JavaScript client version the compatibility test pins.
#[cfg(feature = "http")]
const OPENAI_JS_VERSION: &str = "7.60.0";

/// The client version the compatibility test pins.
#[cfg(feature = "http")]
const OPENAI_VERSION: &str = "3.63.0";

/// The load test's short form: `tessera bench serve` on loopback — a mix of every task,
/// plain and streamed, at 8 in flight; every answer a 200, then a burst at ten times the
/// admission queue answered partly with 503s, and the next request served normally.
#[cfg(feature = "http")]
#[test]
fn the_load_test_short_form_has_no_failures_but_intended_503s() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_tessera"))
        .args([
            "bench",
            "serve",
            "--requests",
            "48",
            "--load-concurrency",
            "8",
        ])
        .args(["--concurrent", "4", "--rounds", "1", "--json"])
        .output()
        .expect("tessera bench serve runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("one JSON object");
    let load = &v["load"];
    assert_eq!(load["statuses"], serde_json::json!({"200": 48}), "{v}");
    let burst = &load["burst"]["statuses"];
    assert!(
        burst["503"].as_u64().unwrap_or(0) > 0,
        "no 503 at 10x the queue: {v}"
    );
    assert_eq!(
        burst
            .as_object()
            .map(|o| o.keys().cloned().collect::<Vec<_>>()),
        Some(vec!["200".to_string(), "503".to_string()]),
        "{v}"
    );
    assert_eq!(load["burst"]["next_request_status"], 200, "{v}");
    assert!(v["batching"]["ratio"].as_f64().is_some_and(f64::is_finite));
}
