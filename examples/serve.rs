//! The HTTP server in a dozen lines: the embedded `models/tessera-tiny` behind
//! `tessera::http::router` (native `/v1/generate`, OpenAI-compatible `/v1/completions` and
//! `/v1/chat/completions`, `/health`, `/metrics`), until Ctrl-C or SIGTERM.
//!
//! ```text
//! cargo run --release --example serve -- [PORT]     # or PORT=8081 …; default 8080
//! curl -s localhost:8080/v1/generate -d '{"parts": [{"text": "123+45="}, {"generate": "text"}]}'
//! ```
//! With `--oneshot` (or the environment variable `TESSERA_EXAMPLE_ONESHOT` set) it binds a
//! free port instead, sends itself one request over a raw TCP connection, checks the answer
//! and exits. `cargo test --example serve` (and so CI's `cargo test --workspace`) runs that
//! oneshot mode through the test at the bottom of this file.

use std::time::Duration;

use tessera::Engine;
use tessera::http::{ServerConfig, listen, router, serve, shutdown_signal};
use tessera::service::{ServiceOptions, TesseraService};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    let oneshot = std::env::var_os("TESSERA_EXAMPLE_ONESHOT").is_some()
        || std::env::args().any(|a| a == "--oneshot");
    let port = std::env::args().skip(1).find(|a| !a.starts_with('-'));
    let port = match port.or_else(|| std::env::var("PORT").ok()) {
        Some(port) => port.parse()?,
        None => 8080,
    };
    run(if oneshot { 0 } else { port }, oneshot).await
}

async fn run(port: u16, oneshot: bool) -> Result<(), BoxError> {
    let engine = Engine::load(concat!(env!("CARGO_MANIFEST_DIR"), "/models/tessera-tiny"))?;
    let service = TesseraService::new(engine, ServiceOptions::default())?;
    let app = router(service, "tessera-tiny", ServerConfig::default());
    let listener = listen(("127.0.0.1", port)).await?;
    let addr = listener.local_addr()?;
    println!("serving tessera-tiny on http://{addr}");
    if !oneshot {
        // In-flight requests get 30 s to finish after the signal.
        return Ok(serve(listener, app, shutdown_signal(), Duration::from_secs(30)).await?);
    }

    // Oneshot: serve in the background until our own request is answered.
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let shutdown = async move {
        let _ = stopped.await;
    };
    let server = tokio::spawn(serve(listener, app, shutdown, Duration::from_secs(5)));
    let body = r#"{"parts": [{"text": "123+45="}, {"generate": "text"}]}"#;
    let mut tcp = TcpStream::connect(addr).await?;
    let head = format!(
        "POST /v1/generate HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    tcp.write_all(format!("{head}{body}").as_bytes()).await?;
    let mut response = String::new();
    tcp.read_to_string(&mut response).await?;
    let (status, json) = response.split_once("\r\n\r\n").ok_or("no HTTP response")?;
    let status = status.lines().next().unwrap_or_default();
    println!("POST /v1/generate {body}\n{status}\n{json}");
    assert!(status.starts_with("HTTP/1.1 200"), "{response}");
    let reply: serde_json::Value = serde_json::from_str(json)?;
    assert_eq!(reply["parts"][0]["text"], "168", "{json}");
    let _ = stop.send(());
    Ok(server.await??)
}

#[cfg(test)]
mod tests {
    #[tokio::test]
    async fn serves_one_request_and_exits() {
        super::run(0, true).await.unwrap();
    }
}
