//! The HTTP routes on tessera-tiny, called in-process through the router (the socket is the
//! OpenAI-client script's, `scripts/openai_client_test.py`).

use axum::body::{Body, to_bytes};
use axum::http::{Request as HttpRequest, StatusCode};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use serde_json::{Value, json};
use tessera::http::{ServerConfig, router};
use tessera::service::{ServiceOptions, TesseraService};
use tessera::{Request, Target};
use tower::ServiceExt;

use super::tiny;

fn app(options: ServiceOptions, config: ServerConfig) -> axum::Router {
    router(
        TesseraService::new(tiny(), options).unwrap(),
        "tessera-tiny",
        config,
    )
}

async fn call(app: &axum::Router, path: &str, body: &str) -> (StatusCode, Vec<u8>) {
    let request = HttpRequest::post(path)
        .header("content-type", "application/json")
        .body(Body::from(body.to_string()))
        .unwrap();
    let response = app.clone().oneshot(request).await.unwrap();
    let status = response.status();
    (
        status,
        to_bytes(response.into_body(), usize::MAX)
            .await
            .unwrap()
            .to_vec(),
    )
}

async fn json_call(app: &axum::Router, path: &str, body: Value) -> (StatusCode, Value) {
    let (status, bytes) = call(app, path, &body.to_string()).await;
    (status, serde_json::from_slice(&bytes).expect("a JSON body"))
}

/// `GET path`, its JSON body.
async fn get_json(app: &axum::Router, path: &str) -> Value {
    let response = app
        .clone()
        .oneshot(HttpRequest::get(path).body(Body::empty()).unwrap())
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK, "GET {path}");
    serde_json::from_slice(&to_bytes(response.into_body(), usize::MAX).await.unwrap()).unwrap()
}

/// The `data:` payloads of an SSE body, with their event names.
fn sse(bytes: &[u8]) -> Vec<(String, String)> {
    let text = String::from_utf8_lossy(bytes);
    text.split("\n\n")
        .filter(|block| !block.trim().is_empty())
        .map(|block| {
            let mut name = String::new();
            let mut data = String::new();
            for line in block.lines() {
                if let Some(v) = line.strip_prefix("event:") {
                    name = v.trim().to_string();
                } else if let Some(v) = line.strip_prefix("data:") {
                    data.push_str(v.trim_start());
                }
            }
            (name, data)
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_native_endpoint_round_trips_every_task() {
    let app = app(ServiceOptions::default(), ServerConfig::default());
    let engine = tiny();
    let (status, v) = json_call(
        &app,
        "/v1/generate",
        json!({"parts": [{"text": "123+45="}, {"generate": "text"}]}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert_eq!(v["parts"][0]["text"], "168");

    // A picture out, then back in as an uploaded PNG to caption.
    let prompt = "a large red circle at the top left";
    let (_, v) = json_call(
        &app,
        "/v1/generate",
        json!({"parts": [{"text": prompt}, {"generate": "image"}]}),
    )
    .await;
    assert_eq!(v["parts"][0]["mime"], "image/png");
    let want = engine
        .run(&Request::new().text(prompt).generate(Target::Image))
        .unwrap();
    assert_eq!(v["ids"], json!(want.ids));
    let png = v["parts"][0]["image"].as_str().unwrap().to_string();
    let (status, v) = json_call(
        &app,
        "/v1/generate",
        json!({"parts": [{"image": png}, {"generate": "text"}]}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert!(
        v["parts"][0]["text"].as_str().unwrap().contains("circle"),
        "{v}"
    );

    // A sound out, then back in as an uploaded WAV to transcribe.
    let (_, v) = json_call(
        &app,
        "/v1/generate",
        json!({"parts": [{"text": "C4 E4 G4"}, {"generate": "audio"}]}),
    )
    .await;
    assert_eq!(v["parts"][0]["mime"], "audio/wav");
    let wav = v["parts"][0]["audio"].as_str().unwrap().to_string();
    let (status, v) = json_call(
        &app,
        "/v1/generate",
        json!({"parts": [{"audio": wav}, {"generate": "text"}]}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert_eq!(v["parts"][0]["text"], "C4 E4 G4");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streams_are_server_sent_events_ending_with_the_answer() {
    let app = app(ServiceOptions::default(), ServerConfig::default());
    let (status, body) = call(
        &app,
        "/v1/generate",
        r#"{"parts": [{"text": "a small blue square at the center"}, {"generate": "image"}], "stream": true}"#,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let events = sse(&body);
    let (last, data) = events.last().unwrap();
    assert_eq!(last, "done", "{events:?}");
    let done: Value = serde_json::from_str(data).unwrap();
    assert_eq!(done["parts"][0]["mime"], "image/png");
    let steps: Vec<Value> = events
        .iter()
        .filter(|(n, _)| n == "step")
        .map(|(_, d)| serde_json::from_str(d).unwrap())
        .collect();
    assert!(!steps.is_empty());
    assert!(steps.iter().any(|s| s["image"].is_string()), "no preview");

    for (path, body) in [
        (
            "/v1/completions",
            json!({"model": "tessera-tiny", "prompt": "12+30=", "stream": true}),
        ),
        (
            "/v1/chat/completions",
            json!({"model": "tessera-tiny", "stream": true,
                   "messages": [{"role": "user", "content": "sort 5 3 9 1 ="}]}),
        ),
    ] {
        let (status, bytes) = call(&app, path, &body.to_string()).await;
        assert_eq!(status, StatusCode::OK);
        let events = sse(&bytes);
        assert_eq!(events.last().unwrap().1, "[DONE]", "{events:?}");
        let mut text = String::new();
        let mut finish = Value::Null;
        for (_, data) in &events[..events.len() - 1] {
            let chunk: Value = serde_json::from_str(data).unwrap();
            let choice = &chunk["choices"][0];
            let piece = choice["text"]
                .as_str()
                .or(choice["delta"]["content"].as_str());
            text.push_str(piece.unwrap_or_default());
            if !choice["finish_reason"].is_null() {
                finish = choice["finish_reason"].clone();
            }
        }
        assert!(
            ["42", "1 3 5 9"].contains(&text.as_str()),
            "{path}: {text:?}"
        );
        assert_eq!(finish, "stop");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_openai_endpoints_answer_in_openai_shape() {
    let app = app(ServiceOptions::default(), ServerConfig::default());
    let (status, v) = json_call(
        &app,
        "/v1/chat/completions",
        json!({"model": "tessera-tiny", "temperature": 0, "seed": 3, "max_tokens": 64,
               "messages": [{"role": "user", "content": [{"type": "text", "text": "2+2="}]}]}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert_eq!(v["object"], "chat.completion");
    assert_eq!(v["choices"][0]["message"]["role"], "assistant");
    assert_eq!(v["choices"][0]["message"]["content"], "4");
    assert!(v["usage"]["prompt_tokens"].as_u64().unwrap() > 0);
    // `stop` cuts the text; a diffusion option rides along under its own name.
    let (status, v) = json_call(
        &app,
        "/v1/completions",
        json!({"model": "tessera-tiny", "prompt": "sort 5 3 9 1 =", "stop": [" 5"],
               "max_tokens": 64, "policy": "block"}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert_eq!(v["choices"][0]["text"], "1 3");
    assert_eq!(v["choices"][0]["finish_reason"], "stop");
    let v = get_json(&app, "/v1/models").await;
    assert_eq!(v["data"][0]["id"], "tessera-tiny");
    // tessera-tiny is a world model trained to fill blanks, and says so (the playground
    // reads both to offer its Infill task with the world's templates).
    assert_eq!(
        (&v["data"][0]["infill"], &v["data"][0]["world"]),
        (&json!(true), &json!(true)),
        "{v}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_requests_are_4xx_json_naming_the_field() {
    let config = ServerConfig::default().max_body_bytes(64 << 10);
    let app = app(ServiceOptions::default(), config);
    let png = B64.encode(b"\x89PNG\r\n\x1a\nnot really");
    let huge = "x".repeat(100 << 10);
    let cases: Vec<(&str, String, u16, &str)> = vec![
        ("/v1/generate", "{not json".into(), 400, "body"),
        ("/v1/generate", r#"{"parts": "no"}"#.into(), 400, "body"),
        (
            "/v1/generate",
            r#"{"parts": [{"text": "1+1="}, {"generate": "text"}], "options": {"stepz": 3}}"#.into(),
            400,
            "body",
        ),
        (
            "/v1/generate",
            r#"{"parts": [{"image": "***"}, {"generate": "text"}]}"#.into(),
            400,
            "parts[0].image",
        ),
        (
            "/v1/generate",
            json!({"parts": [{"image": png}, {"generate": "text"}]}).to_string(),
            400,
            "parts[0].image",
        ),
        (
            "/v1/generate",
            r#"{"parts": [{"text": "a"}, {"blank": 3}, {"text": "b"}]}"#.into(),
            400,
            "parts",
        ),
        (
            "/v1/generate",
            r#"{"parts": [{"text": "a", "ids": [1]}, {"generate": "text"}]}"#.into(),
            400,
            "parts[0]",
        ),
        (
            "/v1/generate",
            r#"{"parts": [{"ids": [999999]}, {"generate": "text"}]}"#.into(),
            400,
            "",
        ),
        (
            "/v1/generate",
            r#"{"parts": [{"text": "1+1="}, {"generate": "text", "max_len": 99999}]}"#.into(),
            400,
            "max_len",
        ),
        (
            "/v1/generate",
            json!({"parts": [{"text": huge}, {"generate": "text"}]}).to_string(),
            413,
            "",
        ),
        ("/v1/nothing", "{}".into(), 404, ""),
        (
            "/v1/completions",
            r#"{"model": "gpt-4", "prompt": "hi"}"#.into(),
            404,
            "",
        ),
        (
            "/v1/completions",
            r#"{"model": "tessera-tiny", "prompt": "hi", "n": 2}"#.into(),
            400,
            "n",
        ),
        (
            "/v1/completions",
            r#"{"model": "tessera-tiny", "prompt": "hi", "logprobs": 2}"#.into(),
            400,
            "logprobs",
        ),
        (
            "/v1/completions",
            r#"{"model": "tessera-tiny", "prompt": "hi", "max_tokens": 5000}"#.into(),
            400,
            "max_tokens",
        ),
        (
            "/v1/chat/completions",
            r#"{"model": "tessera-tiny", "messages": [{"role": "user", "content": "a"}, {"role": "user", "content": "b"}]}"#.into(),
            400,
            "messages",
        ),
        (
            "/v1/chat/completions",
            r#"{"model": "tessera-tiny", "messages": [{"role": "wizard", "content": "a"}]}"#.into(),
            400,
            "messages[0].role",
        ),
        // A word outside tessera-tiny's vocabulary names the prompt it came in.
        (
            "/v1/completions",
            r#"{"model": "tessera-tiny", "prompt": "a tiny dog"}"#.into(),
            400,
            "prompt",
        ),
    ];
    for (path, body, want, param) in cases {
        let (status, bytes) = call(&app, path, &body).await;
        let shown = String::from_utf8_lossy(&bytes[..bytes.len().min(300)]).into_owned();
        assert_eq!(
            status.as_u16(),
            want,
            "{path} {}: {shown}",
            &body[..body.len().min(80)]
        );
        if want == 413 {
            continue;
        }
        let v: Value = serde_json::from_slice(&bytes).unwrap_or_else(|_| panic!("{shown}"));
        assert!(v["error"]["message"].is_string(), "{shown}");
        if !param.is_empty() {
            assert_eq!(v["error"]["param"], param, "{shown}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_overloaded_server_answers_503_and_then_serves_normally() {
    let options = ServiceOptions::default().queue_capacity(1).max_active(1);
    let app = app(options, ServerConfig::default());
    let body =
        json!({"parts": [{"text": "a large red circle at the top left"}, {"generate": "image"}]});
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..12 {
        let app = app.clone();
        let body = body.to_string();
        tasks.spawn(async move {
            let request = HttpRequest::post("/v1/generate")
                .body(Body::from(body))
                .unwrap();
            let response = app.oneshot(request).await.unwrap();
            (
                response.status(),
                response.headers().get("retry-after").cloned(),
            )
        });
    }
    let mut shed = 0;
    while let Some(joined) = tasks.join_next().await {
        let (status, retry) = joined.unwrap();
        if status == StatusCode::SERVICE_UNAVAILABLE {
            assert!(retry.is_some(), "a 503 without Retry-After");
            shed += 1;
        } else {
            assert_eq!(status, StatusCode::OK);
        }
    }
    assert!(shed > 0, "nothing was shed at 12× the queue");
    let (status, v) = json_call(
        &app,
        "/v1/generate",
        json!({"parts": [{"text": "2+2="}, {"generate": "text"}]}),
    )
    .await;
    assert_eq!(
        (status, v["parts"][0]["text"].clone()),
        (StatusCode::OK, json!("4"))
    );
    let metrics = app
        .clone()
        .oneshot(HttpRequest::get("/metrics").body(Body::empty()).unwrap())
        .await
        .unwrap();
    let text = to_bytes(metrics.into_body(), usize::MAX).await.unwrap();
    assert!(String::from_utf8_lossy(&text).contains("tessera_requests_completed_total"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn blanks_are_filled_over_http_on_a_text_model() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/fixtures/llada-tiny");
    let engine = tessera::Engine::load(dir).unwrap();
    let service = TesseraService::new(engine.clone(), ServiceOptions::default()).unwrap();
    let app = router(service, "llada-tiny", ServerConfig::default());
    let v = get_json(&app, "/v1/models").await;
    assert_eq!(
        (
            &v["data"][0]["id"],
            &v["data"][0]["infill"],
            &v["data"][0]["world"]
        ),
        (&json!("llada-tiny"), &json!(true), &json!(false)),
        "{v}"
    );
    let (status, v) = json_call(
        &app,
        "/v1/generate",
        json!({"parts": [{"ids": [5, 6]}, {"blank": 3}, {"ids": [9, 10]}, {"blank": 2}]}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert_eq!(v["parts"].as_array().map(Vec::len), Some(2), "{v}");
    let want = engine
        .run(
            &Request::new()
                .ids(vec![5, 6])
                .generate(Target::Blank { len: 3 })
                .ids(vec![9, 10])
                .generate(Target::Blank { len: 2 }),
        )
        .unwrap();
    assert_eq!(v["ids"], json!(want.ids));
    assert_eq!(want.ids.len(), 5);
}
