//! The live playground (`GET /`): a page without a build step (HTML, JS and CSS embedded in
//! the binary) that runs the native endpoint's SSE stream and draws the canvas as it denoises.
//!
//! | route | what |
//! |---|---|
//! | `GET /` | `playground/index.html` |
//! | `GET /playground/app.js` | the page's script |
//! | `GET /playground/style.css` | its style |
//!
//! The page learns the model from `GET /v1/models`: its id, and whether it fills blanks
//! (`"infill"`), which enables the Infill task (text with `[___]` blanks, sent as
//! `{"text"}` and `{"blank": N}` parts); on a model that cannot, the task stays disabled and
//! says why. It takes its form from URL parameters (`task`, `prompt`, `blank`, `policy`,
//! `steps`, `block_length`, `threshold`, `refine`, `fraction`, `temperature`, `seed`,
//! `sample`) and runs at once with `autorun=1`; it records its state on `<body>`
//! (`data-steps`, `data-done`, `data-errors`) for headless tests.

use axum::http::header;
use axum::response::{IntoResponse, Response};

const INDEX: &str = include_str!("playground/index.html");
const APP: &str = include_str!("playground/app.js");
const STYLE: &str = include_str!("playground/style.css");

/// A static file with its type; the page is small and changes with the binary, so it is
/// never cached.
fn file(mime: &'static str, body: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, mime),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        body,
    )
        .into_response()
}

/// `GET /`.
pub(super) async fn index() -> Response {
    file("text/html; charset=utf-8", INDEX)
}

/// `GET /playground/app.js`.
pub(super) async fn app() -> Response {
    file("text/javascript; charset=utf-8", APP)
}

/// `GET /playground/style.css`.
pub(super) async fn style() -> Response {
    file("text/css; charset=utf-8", STYLE)
}
