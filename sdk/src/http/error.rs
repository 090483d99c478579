//! [`ApiError`]: every failure as an HTTP status and a JSON body in OpenAI's error shape
//! (`{"error": {"message", "type", "param", "code"}}`), which the official clients parse.
//!
//! | cause | status |
//! |---|---|
//! | malformed JSON, wrong types, unknown fields, invalid base64, undecodable media, options or parts the model does not take, ids out of range | 400 |
//! | a body over the size limit | 413 |
//! | a request over a [`Limits`](crate::Limits) value | 400 (the limit named in `param`) |
//! | unknown route / model | 404 |
//! | the request timed out | 408 |
//! | the admission queue or the stream limit is full, the scheduler stopped | 503 + `Retry-After` |
//! | the model failed (non-finite logits, a broken checkpoint) | 500 |

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::Error;

/// An HTTP error: status, message, and the field it names (if any).
#[derive(Debug, Clone, PartialEq)]
pub struct ApiError {
    /// The status.
    pub status: StatusCode,
    /// OpenAI's error `type` (`invalid_request_error`, `not_found_error`, …).
    pub kind: &'static str,
    /// What went wrong.
    pub message: String,
    /// The request field or limit concerned.
    pub param: Option<String>,
}

impl ApiError {
    /// A 400 naming `param`.
    pub fn invalid(param: impl Into<String>, message: impl Into<String>) -> Self {
        ApiError {
            status: StatusCode::BAD_REQUEST,
            kind: "invalid_request_error",
            message: message.into(),
            param: Some(param.into()),
        }
    }

    /// A 404.
    pub fn not_found(message: impl Into<String>) -> Self {
        ApiError {
            status: StatusCode::NOT_FOUND,
            kind: "not_found_error",
            message: message.into(),
            param: None,
        }
    }

    /// A 503 (the client should retry).
    pub fn overloaded(message: impl Into<String>) -> Self {
        ApiError {
            status: StatusCode::SERVICE_UNAVAILABLE,
            kind: "overloaded_error",
            message: message.into(),
            param: None,
        }
    }

    /// The error of a failed service call: tower's `Overloaded` and `Elapsed`, or Tessera's.
    pub fn from_service(e: tower::BoxError) -> Self {
        if e.is::<tower::load_shed::error::Overloaded>() {
            return Self::overloaded("the server is at capacity; retry shortly");
        }
        if e.is::<tower::timeout::error::Elapsed>() {
            return ApiError {
                status: StatusCode::REQUEST_TIMEOUT,
                kind: "timeout_error",
                message: "the request took longer than the server's request timeout".into(),
                param: None,
            };
        }
        match e.downcast::<Error>() {
            Ok(e) => Self::from(*e),
            Err(other) => ApiError {
                status: StatusCode::INTERNAL_SERVER_ERROR,
                kind: "server_error",
                message: other.to_string(),
                param: None,
            },
        }
    }

    /// The JSON body.
    pub fn body(&self) -> serde_json::Value {
        json!({"error": {
            "message": self.message,
            "type": self.kind,
            "param": self.param,
            "code": self.status.as_u16(),
        }})
    }
}

impl From<Error> for ApiError {
    fn from(e: Error) -> Self {
        let message = e.to_string();
        use tessera_hybrid::Error as Controller;
        let param = match &e {
            Error::InvalidRequest { field, .. } => Some(field.clone()),
            Error::Limit { limit, .. } => Some((*limit).to_string()),
            Error::Decode(Controller::InvalidOption { option, .. }) => Some(option.to_string()),
            _ => None,
        };
        let (status, kind) = match e {
            Error::Unavailable(_) => (StatusCode::SERVICE_UNAVAILABLE, "overloaded_error"),
            // The options or prompt the controller refused: the caller's to fix.
            Error::Decode(Controller::InvalidOption { .. } | Controller::InvalidPrompt(_)) => {
                (StatusCode::BAD_REQUEST, "invalid_request_error")
            }
            Error::Load(_) | Error::Forward(_) | Error::Decode(_) => {
                (StatusCode::INTERNAL_SERVER_ERROR, "server_error")
            }
            _ => (StatusCode::BAD_REQUEST, "invalid_request_error"),
        };
        ApiError {
            status,
            kind,
            message,
            param,
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = (self.status, Json(self.body())).into_response();
        if self.status == StatusCode::SERVICE_UNAVAILABLE {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        }
        response
    }
}
