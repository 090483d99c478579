//! The HTTP server (feature `http`): [`router`] puts a [`TesseraService`] behind `axum`.
//!
//! | route | what |
//! |---|---|
//! | `POST /v1/generate` | the native, multimodal endpoint (parts as JSON, base64 media); SSE with `"stream": true` |
//! | `POST /v1/completions`, `POST /v1/chat/completions` | OpenAI-compatible (what the official clients send), SSE with `"stream": true` |
//! | `GET /v1/models` | the served model; beside OpenAI's fields, `"infill"`: whether it fills `{"blank": N}` parts, and `"world"`: whether it is a Tessera world model |
//! | `GET /health` | readiness: `{"status": "ok", …}` |
//! | `GET /metrics` | the service's counters, Prometheus text |
//! | `GET /` | the playground: pick a task and watch the canvas denoise step by step |
//!
//! Errors are JSON in OpenAI's shape with the status of [`ApiError`]'s table. The limits of
//! [`ServerConfig`] hold before any work: the body size (413), `max_tokens`, the number of
//! open streams and the admission queue (503 with `Retry-After`), the request timeout (408);
//! the engine's [`Limits`](crate::Limits) bound pictures, sounds and canvases.

mod error;
mod native;
mod openai;
mod playground;

use std::convert::Infallible;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{StatusCode, header};
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use futures_util::StreamExt;
use serde::Deserialize;
use serde_json::json;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tower::{Service, ServiceBuilder, ServiceExt};

pub use error::ApiError;

use crate::service::{ReplyStream, Streaming, TesseraService};
use crate::{Event, Request};

/// The server's own limits (the engine's [`Limits`](crate::Limits) apply too). Read from a
/// TOML file (`tessera serve --config FILE`, keys as the fields) and flags.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct ServerConfig {
    /// Largest request body in bytes (default 16 MiB: base64 pictures and sounds).
    pub max_body_bytes: usize,
    /// Largest `max_tokens` / `max_len` a request may ask (default 1024).
    pub max_tokens: usize,
    /// Seconds a request may take, queueing included (default 120); past it: 408.
    pub request_timeout_secs: u64,
    /// Streams open at once (default 64); past it: 503.
    pub max_streams: usize,
    /// Seconds in-flight requests get to finish after a shutdown signal (default 30).
    pub shutdown_grace_secs: u64,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            max_body_bytes: 16 << 20,
            max_tokens: 1024,
            request_timeout_secs: 120,
            max_streams: 64,
            shutdown_grace_secs: 30,
        }
    }
}

impl ServerConfig {
    /// Sets [`ServerConfig::max_body_bytes`].
    pub fn max_body_bytes(mut self, n: usize) -> Self {
        self.max_body_bytes = n;
        self
    }

    /// Sets [`ServerConfig::max_tokens`].
    pub fn max_tokens(mut self, n: usize) -> Self {
        self.max_tokens = n;
        self
    }

    /// Sets [`ServerConfig::request_timeout_secs`].
    pub fn request_timeout_secs(mut self, secs: u64) -> Self {
        self.request_timeout_secs = secs;
        self
    }

    /// Sets [`ServerConfig::max_streams`].
    pub fn max_streams(mut self, n: usize) -> Self {
        self.max_streams = n;
        self
    }
}

/// What every handler shares.
#[derive(Clone)]
struct AppState {
    service: TesseraService,
    config: ServerConfig,
    model: Arc<str>,
    streams: Arc<Semaphore>,
}

/// The routes of the server for `service`, serving the model under the id `model`.
pub fn router(service: TesseraService, model: &str, config: ServerConfig) -> Router {
    let state = AppState {
        streams: Arc::new(Semaphore::new(config.max_streams)),
        service,
        model: Arc::from(model),
        config: config.clone(),
    };
    Router::new()
        .route("/", get(playground::index))
        .route("/playground/app.js", get(playground::app))
        .route("/playground/style.css", get(playground::style))
        .route("/v1/generate", post(generate))
        .route("/v1/completions", post(completions))
        .route("/v1/chat/completions", post(chat_completions))
        .route("/v1/models", get(models))
        .route("/health", get(health))
        .route("/metrics", get(metrics))
        .fallback(|| async { ApiError::not_found("no such route") })
        .layer(DefaultBodyLimit::max(config.max_body_bytes))
        .layer(axum::middleware::from_fn(log_request))
        .with_state(state)
}

/// Serves `router` on `listener` until `shutdown` resolves, then lets in-flight requests
/// finish for at most `grace`. Make the listener with [`listen`] (a deep accept queue) so
/// that overload is answered with 503s rather than connection resets.
///
/// # Errors
/// The listener's I/O errors.
pub async fn serve(
    listener: tokio::net::TcpListener,
    router: Router,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    grace: Duration,
) -> std::io::Result<()> {
    let (signalled, mut heard) = tokio::sync::watch::channel(false);
    let server = axum::serve(listener, router).with_graceful_shutdown(async move {
        shutdown.await;
        let _ = signalled.send(true);
    });
    tokio::select! {
        result = server => result,
        () = async move {
            let _ = heard.wait_for(|&s| s).await;
            tokio::time::sleep(grace).await;
        } => Ok(()),
    }
}

/// Connections the kernel queues for `accept` on a [`listen`]ed socket.
pub const ACCEPT_BACKLOG: u32 = 4096;

/// A listener on `addr` (the first of its addresses that binds) with a deep accept queue
/// ([`ACCEPT_BACKLOG`]): under a burst of connections, each waits its turn to be answered —
/// with a 503 when the admission queue is full — instead of being reset by the kernel while
/// the accept loop catches up, which a default-sized queue let happen on a busy machine.
///
/// # Errors
/// The last address's bind or listen error, or the resolver's.
pub async fn listen(
    addr: impl tokio::net::ToSocketAddrs,
) -> std::io::Result<tokio::net::TcpListener> {
    let mut last = None;
    for addr in tokio::net::lookup_host(addr).await? {
        let socket = if addr.is_ipv4() {
            tokio::net::TcpSocket::new_v4()?
        } else {
            tokio::net::TcpSocket::new_v6()?
        };
        // As std's `TcpListener::bind` does on Unix: a restarted server can rebind at once.
        #[cfg(unix)]
        socket.set_reuseaddr(true)?;
        match socket
            .bind(addr)
            .and_then(|()| socket.listen(ACCEPT_BACKLOG))
        {
            Ok(listener) => return Ok(listener),
            Err(e) => last = Some(e),
        }
    }
    Err(last.unwrap_or_else(|| {
        std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            "the address resolved to nothing",
        )
    }))
}

/// Resolves on Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { () = ctrl_c => {}, () = term => {} }
}

impl AppState {
    fn timeout(&self) -> Duration {
        Duration::from_secs(self.config.request_timeout_secs.max(1))
    }

    /// Runs `request` to its answer under the queue's load shedding and the timeout.
    async fn answer(&self, request: Request) -> Result<crate::Reply, ApiError> {
        let mut svc = ServiceBuilder::new()
            .timeout(self.timeout())
            .load_shed()
            .service(self.service.clone());
        let ready = ServiceExt::<Request>::ready(&mut svc)
            .await
            .map_err(ApiError::from_service)?;
        ready.call(request).await.map_err(ApiError::from_service)
    }

    /// Starts streaming `request`: a place among the open streams, then the queue's.
    async fn stream(
        &self,
        request: Request,
    ) -> Result<(ReplyStream, OwnedSemaphorePermit), ApiError> {
        let permit = Arc::clone(&self.streams)
            .try_acquire_owned()
            .map_err(|_| ApiError::overloaded("too many open streams; retry shortly"))?;
        let mut svc = ServiceBuilder::new()
            .load_shed()
            .service(self.service.clone());
        let ready = ServiceExt::<Streaming>::ready(&mut svc)
            .await
            .map_err(ApiError::from_service)?;
        let stream = ready
            .call(Streaming(request))
            .await
            .map_err(ApiError::from_service)?;
        Ok((stream, permit))
    }

    fn check_length(&self, request: &Request) -> Result<(), ApiError> {
        for part in &request.parts {
            if let crate::Part::Generate(crate::Target::Text { max_len: Some(n) }) = part
                && *n > self.config.max_tokens
            {
                return Err(ApiError::invalid(
                    "max_len",
                    format!(
                        "{n} is over this server's limit of {}",
                        self.config.max_tokens
                    ),
                ));
            }
        }
        Ok(())
    }
}

/// An SSE response from a stream of (event name, JSON) pairs, ending the stream with a
/// timeout error event past the request timeout.
fn sse<S>(events: S, timeout: Duration) -> Response
where
    S: futures_util::Stream<Item = SseEvent> + Send + 'static,
{
    let deadline = tokio::time::Instant::now() + timeout;
    let bounded = events
        .take_until(tokio::time::sleep_until(deadline))
        .map(Ok::<_, Infallible>);
    Sse::new(bounded)
        .keep_alive(KeepAlive::default())
        .into_response()
}

fn json_event(name: &str, value: &serde_json::Value) -> SseEvent {
    SseEvent::default().event(name).data(value.to_string())
}

async fn generate(State(state): State<AppState>, body: Bytes) -> Result<Response, ApiError> {
    let body: native::GenerateBody =
        serde_json::from_slice(&body).map_err(|e| ApiError::invalid("body", e.to_string()))?;
    let stream = body.stream;
    let request = body.request(state.service.engine().limits())?;
    state.check_length(&request)?;
    if !stream {
        let reply = state.answer(request).await?;
        return Ok(axum::Json(native::reply_json(&reply)?).into_response());
    }
    let (replies, permit) = state.stream(request).await?;
    let events = replies.map(move |event| {
        let _held = &permit;
        match event {
            Ok(Event::Step(step)) => json_event("step", &native::step_json(&step)),
            Ok(Event::Done(reply)) => match native::reply_json(&reply) {
                Ok(v) => json_event("done", &v),
                Err(e) => json_event("error", &e.body()),
            },
            Err(e) => json_event("error", &ApiError::from(e).body()),
        }
    });
    Ok(sse(events, state.timeout()))
}

async fn completions(state: State<AppState>, body: Bytes) -> Result<Response, ApiError> {
    completion(state, body, false).await
}

async fn chat_completions(state: State<AppState>, body: Bytes) -> Result<Response, ApiError> {
    completion(state, body, true).await
}

async fn completion(
    State(state): State<AppState>,
    body: Bytes,
    chat: bool,
) -> Result<Response, ApiError> {
    let engine = state.service.engine().clone();
    let c = openai::Completion::parse(&body, chat, &engine, &state.model, state.config.max_tokens)?;
    let created = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let id = format!(
        "{}-{created}{:x}",
        if chat { "chatcmpl" } else { "cmpl" },
        rand_suffix()
    );
    let model = state.model.to_string();
    if !c.stream {
        let reply = state.answer(c.request.clone()).await?;
        let (text, finish) = c.finish(&reply, &engine);
        let mut object = c.object(&id, &model, created, Some(&text), Some(finish), false);
        let tokens = reply
            .ids
            .len()
            .min(engine_tokens(&engine, &text, reply.ids.len()));
        object["usage"] = openai::usage(&reply, tokens);
        return Ok(axum::Json(object).into_response());
    }
    let (replies, permit) = state.stream(c.request.clone()).await?;
    let first = chat.then(|| {
        let mut head = c.object(&id, &model, created, None, None, true);
        head["choices"][0]["delta"] = json!({"role": "assistant", "content": ""});
        SseEvent::default().data(head.to_string())
    });
    let mut sent = String::new();
    let events = replies.flat_map(move |event| {
        let _held = &permit;
        let mut out = Vec::new();
        match event {
            Ok(Event::Step(step)) => {
                if let Some(prefix) = step.text.as_deref().and_then(|t| c.decided(t))
                    && let Some(delta) = prefix.strip_prefix(sent.as_str())
                    && !delta.is_empty()
                {
                    out.push(chunk(&c, &id, &model, created, Some(delta), None));
                    sent = prefix.to_string();
                }
            }
            Ok(Event::Done(reply)) => {
                let (text, finish) = c.finish(&reply, &engine);
                // What was streamed is a prefix of the answer (committed tokens were
                // final); the rest goes now, then the finish reason.
                let rest = text.strip_prefix(sent.as_str()).unwrap_or_default();
                if !rest.is_empty() {
                    out.push(chunk(&c, &id, &model, created, Some(rest), None));
                }
                let mut last = c.object(&id, &model, created, None, Some(finish), true);
                if c.include_usage {
                    let tokens = engine_tokens(&engine, &text, reply.ids.len());
                    last["usage"] = openai::usage(&reply, tokens);
                }
                out.push(SseEvent::default().data(last.to_string()));
                out.push(SseEvent::default().data("[DONE]"));
            }
            Err(e) => out.push(SseEvent::default().data(ApiError::from(e).body().to_string())),
        }
        futures_util::stream::iter(out)
    });
    let events = futures_util::stream::iter(first).chain(events);
    Ok(sse(events, state.timeout()))
}

fn chunk(
    c: &openai::Completion,
    id: &str,
    model: &str,
    created: u64,
    text: Option<&str>,
    finish: Option<&str>,
) -> SseEvent {
    SseEvent::default().data(c.object(id, model, created, text, finish, true).to_string())
}

/// Completion tokens of `text`: its tokens as the tokenizer counts them, at most `cap`.
fn engine_tokens(engine: &crate::Engine, text: &str, cap: usize) -> usize {
    engine
        .tokenizer()
        .and_then(|t| t.encode(text).ok())
        .map_or(cap, |ids| ids.len().min(cap))
}

/// A few hex digits to tell responses of the same second apart.
fn rand_suffix() -> u32 {
    use std::sync::atomic::{AtomicU32, Ordering::Relaxed};
    static NEXT: AtomicU32 = AtomicU32::new(0);
    NEXT.fetch_add(1, Relaxed)
}

/// `GET /v1/models`: OpenAI's list with the served model, plus what it can do beyond
/// OpenAI's endpoints: `infill`, whether `{"blank": N}` parts are filled (text models such as
/// LLaDA and Dream, and Tessera world models trained for it — `"tessera": {"infill": true}`,
/// as tessera-tiny; other world models refuse them), and `world`, whether it is a Tessera
/// world model (whose blanks fill the templates it was trained on). The playground reads both
/// to offer its Infill task with fitting examples.
async fn models(State(state): State<AppState>) -> Response {
    axum::Json(json!({
        "object": "list",
        "data": [{
            "id": &*state.model,
            "object": "model",
            "created": 0,
            "owned_by": "tessera",
            "infill": state.service.engine().fills_blanks()
                || !state.service.engine().is_world_model(),
            "world": state.service.engine().is_world_model(),
        }],
    }))
    .into_response()
}

async fn health(State(state): State<AppState>) -> Response {
    let m = state.service.metrics();
    axum::Json(json!({
        "status": "ok",
        "model": &*state.model,
        "family": format!("{:?}", state.service.engine().info().family),
        "active": m.active,
        "queue_depth": m.queue_depth,
    }))
    .into_response()
}

async fn metrics(State(state): State<AppState>) -> Response {
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        state.service.metrics().prometheus(),
    )
        .into_response()
}

/// Logs every request's method, path, status and time to its answer's head (`tracing`).
async fn log_request(request: axum::extract::Request, next: axum::middleware::Next) -> Response {
    let method = request.method().clone();
    let path = request.uri().path().to_string();
    let started = std::time::Instant::now();
    let response = next.run(request).await;
    tracing::info!(
        %method,
        %path,
        status = response.status().as_u16(),
        ms = started.elapsed().as_secs_f64() * 1e3,
        "http"
    );
    response
}
