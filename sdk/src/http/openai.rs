//! The OpenAI-compatible endpoints: `POST /v1/completions`, `POST /v1/chat/completions`
//! (with `stream`), `GET /v1/models` — what the official clients send and parse.
//!
//! Taken: `model` (the served model's id), `prompt` (a string or a one-string list) or
//! `messages` (string or text-part contents), `max_tokens` (`max_completion_tokens`),
//! `temperature`, `top_p`, `seed`, `stop` (a string or up to four), `stream`, `n` = 1,
//! `stream_options`, `user`. Every decode option is also accepted under its own name
//! (`steps`, `block_length`, `policy`, `unmask`, `remask`, …). Anything else — `logprobs`,
//! `n` > 1, penalties, `tools` — is refused by name (400), not ignored.
//!
//! A diffusion model decodes the whole answer at once, so `max_tokens` is its length (a
//! Tessera world model answers in its own fixed length, cut to `max_tokens`), `stop` cuts
//! the text at the first stop sequence, and streaming sends the text as its prefix becomes
//! decided (the positions decode in any order; without remasking a committed token is
//! final). With remasking or a growing canvas the text is sent whole at the end.

use serde_json::{Map, Value, json};

use super::ApiError;
use crate::{ChatMessage, DecodeOptions, Engine, MASK_SYMBOL, Part, Reply, Request, Target};

/// What a completion request asks, parsed.
#[derive(Debug)]
pub(crate) struct Completion {
    pub(crate) request: Request,
    pub(crate) stream: bool,
    pub(crate) include_usage: bool,
    max_tokens: usize,
    stop: Vec<String>,
    /// Whether committed tokens are final (no remasking, no growing canvas): the text may
    /// stream as its prefix is decided.
    pub(crate) prefix_final: bool,
    pub(crate) chat: bool,
}

/// OpenAI's default `max_tokens` for completions.
const DEFAULT_MAX_TOKENS: usize = 16;

/// Fields OpenAI defines that are taken (the rest of OpenAI's are refused by name).
const TAKEN: [&str; 12] = [
    "model",
    "prompt",
    "messages",
    "max_tokens",
    "max_completion_tokens",
    "temperature",
    "top_p",
    "seed",
    "stop",
    "stream",
    "stream_options",
    "user",
];

impl Completion {
    /// Parses a `/v1/completions` (`chat`: `/v1/chat/completions`) body for `engine`, whose
    /// served id is `model`.
    pub(crate) fn parse(
        body: &[u8],
        chat: bool,
        engine: &Engine,
        model: &str,
        max_tokens_limit: usize,
    ) -> Result<Self, ApiError> {
        let mut map: Map<String, Value> = serde_json::from_slice(body)
            .map_err(|e| ApiError::invalid("body", format!("is not a JSON object: {e}")))?;
        let asked = map
            .remove("model")
            .ok_or_else(|| ApiError::invalid("model", "is required"))?;
        if asked.as_str() != Some(model) {
            return Err(ApiError::not_found(format!(
                "model {asked} is not served here (this server serves \"{model}\")"
            )));
        }
        match map.remove("n") {
            None | Some(Value::Null) => {}
            Some(n) if n.as_u64() == Some(1) => {}
            Some(_) => return Err(ApiError::invalid("n", "only n = 1 is supported")),
        }
        let max_tokens = match map
            .remove("max_completion_tokens")
            .or_else(|| map.remove("max_tokens"))
        {
            None | Some(Value::Null) if chat => engine_default_length(engine),
            None | Some(Value::Null) => DEFAULT_MAX_TOKENS,
            Some(v) => v
                .as_u64()
                .and_then(|v| usize::try_from(v).ok())
                .filter(|&v| v > 0)
                .ok_or_else(|| ApiError::invalid("max_tokens", "must be a positive integer"))?,
        };
        if max_tokens > max_tokens_limit {
            return Err(ApiError::invalid(
                "max_tokens",
                format!("{max_tokens} is over this server's limit of {max_tokens_limit}"),
            ));
        }
        let stream = take_bool(&mut map, "stream")?;
        let include_usage = match map.remove("stream_options") {
            None | Some(Value::Null) => false,
            Some(Value::Object(o)) => o.get("include_usage").and_then(Value::as_bool) == Some(true),
            Some(_) => return Err(ApiError::invalid("stream_options", "must be an object")),
        };
        map.remove("user");
        let stop = match map.remove("stop") {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::String(s)) => vec![s],
            Some(Value::Array(a)) if a.len() <= 4 => a
                .into_iter()
                .map(|v| match v {
                    Value::String(s) if !s.is_empty() => Ok(s),
                    _ => Err(ApiError::invalid("stop", "must be non-empty strings")),
                })
                .collect::<Result<_, _>>()?,
            Some(_) => return Err(ApiError::invalid("stop", "is a string or up to 4 strings")),
        };
        let given = if chat {
            let messages = map
                .remove("messages")
                .ok_or_else(|| ApiError::invalid("messages", "is required"))?;
            chat_part(messages, engine)?
        } else {
            match map.remove("prompt") {
                Some(Value::String(s)) => Part::Text(s),
                // `a[0]` and `remove(0)` cannot fail: the guard checked `a.len() == 1`.
                Some(Value::Array(mut a)) if a.len() == 1 && a[0].is_string() => {
                    Part::Text(a.remove(0).as_str().unwrap_or_default().to_string())
                }
                Some(Value::Array(_)) => {
                    return Err(ApiError::invalid("prompt", "one prompt per request"));
                }
                _ => return Err(ApiError::invalid("prompt", "is required (a string)")),
            }
        };
        // What is left: decode options under their own names (unknown keys are refused by
        // `DecodeOptions`' own `deny_unknown_fields`, naming the key).
        for key in map.keys() {
            if !DecodeOptions::OPTIONS.iter().any(|o| o.name == key)
                && !TAKEN.contains(&key.as_str())
            {
                return Err(ApiError::invalid(
                    key.clone(),
                    "is not supported by this server (diffusion decode options are taken under \
                     their own names)",
                ));
            }
        }
        let options: DecodeOptions = serde_json::from_value(Value::Object(map))
            .map_err(|e| ApiError::invalid("options", e.to_string()))?;
        let prefix_final = options.remask.is_none() && !options.expand && !options.insert;
        let target = if engine.is_world_model() {
            Target::Text { max_len: None }
        } else {
            Target::text(max_tokens)
        };
        Ok(Completion {
            request: Request::new().part(given).generate(target).options(options),
            stream,
            include_usage,
            max_tokens,
            stop,
            prefix_final,
            chat,
        })
    }

    /// The answer's text cut to `max_tokens` tokens and at the first stop sequence, and the
    /// finish reason.
    pub(crate) fn finish(&self, reply: &Reply, engine: &Engine) -> (String, &'static str) {
        let info = engine.info();
        let ends = [info.eos_id, engine.eot_id()];
        let ended = reply.ids.iter().any(|t| ends.contains(&Some(*t)));
        // The answer's own tokens (a world model pads its fixed-length answer): past
        // `max_tokens` of them the text is cut, as OpenAI's `length` finish.
        let content: Vec<u32> = reply
            .ids
            .iter()
            .copied()
            .filter(|t| !ends.contains(&Some(*t)) && Some(*t) != info.pad_id && *t != info.mask_id)
            .collect();
        let (text, ended) = match engine.tokenizer() {
            Some(t) if content.len() > self.max_tokens => (
                t.decode(content.get(..self.max_tokens).unwrap_or(&content), true)
                    .unwrap_or_default(),
                false,
            ),
            _ => (reply.text().unwrap_or_default().to_string(), ended),
        };
        match self.cut(&text) {
            Some(cut) => (cut.to_string(), "stop"),
            None => (text, if ended { "stop" } else { "length" }),
        }
    }

    /// `text` up to its first stop sequence, if it has one.
    fn cut<'t>(&self, text: &'t str) -> Option<&'t str> {
        self.stop
            .iter()
            .filter_map(|s| text.find(s.as_str()))
            .min()
            .and_then(|at| text.get(..at))
    }

    /// The decided prefix of a step's preview text (up to the first masked position, a stop
    /// sequence, or a trailing incomplete character), when it may be streamed.
    pub(crate) fn decided<'t>(&self, preview: &'t str) -> Option<&'t str> {
        if !self.prefix_final {
            return None;
        }
        let end = preview.find(MASK_SYMBOL).unwrap_or(preview.len());
        let prefix = preview.get(..end)?;
        let prefix = self.cut(prefix).unwrap_or(prefix);
        Some(prefix.trim_end_matches('\u{FFFD}'))
    }

    /// One response object (or a stream chunk, `delta`) in OpenAI's shape.
    pub(crate) fn object(
        &self,
        id: &str,
        model: &str,
        created: u64,
        text: Option<&str>,
        finish: Option<&str>,
        chunk: bool,
    ) -> Value {
        let choice = match (self.chat, chunk) {
            (true, true) => json!({
                "index": 0,
                "delta": match text { Some(t) => json!({"content": t}), None => json!({}) },
                "finish_reason": finish,
                "logprobs": null,
            }),
            (true, false) => json!({
                "index": 0,
                "message": {"role": "assistant", "content": text.unwrap_or_default()},
                "finish_reason": finish,
                "logprobs": null,
            }),
            (false, _) => json!({
                "index": 0,
                "text": text.unwrap_or_default(),
                "finish_reason": finish,
                "logprobs": null,
            }),
        };
        let object = match (self.chat, chunk) {
            (true, true) => "chat.completion.chunk",
            (true, false) => "chat.completion",
            (false, _) => "text_completion",
        };
        json!({
            "id": id,
            "object": object,
            "created": created,
            "model": model,
            "system_fingerprint": null,
            "choices": [choice],
        })
    }
}

/// `usage` of a reply.
pub(crate) fn usage(reply: &Reply, completion_tokens: usize) -> Value {
    json!({
        "prompt_tokens": reply.prompt_tokens,
        "completion_tokens": completion_tokens,
        "total_tokens": reply.prompt_tokens + completion_tokens,
    })
}

/// A chat's length when `max_tokens` is not given: the world model's own, else 128.
fn engine_default_length(engine: &Engine) -> usize {
    engine
        .task_length(crate::WorldTask::Text)
        .filter(|_| engine.is_world_model())
        .unwrap_or(128)
}

fn take_bool(map: &mut Map<String, Value>, key: &str) -> Result<bool, ApiError> {
    match map.remove(key) {
        None | Some(Value::Null) => Ok(false),
        Some(Value::Bool(b)) => Ok(b),
        Some(_) => Err(ApiError::invalid(key, "must be true or false")),
    }
}

/// The chat's given part: the turns under the model's chat template, or for a model without
/// one (Tessera world models) the single user turn as its prompt.
fn chat_part(messages: Value, engine: &Engine) -> Result<Part, ApiError> {
    let Value::Array(list) = messages else {
        return Err(ApiError::invalid("messages", "must be a list"));
    };
    let mut turns = Vec::with_capacity(list.len());
    for (i, m) in list.into_iter().enumerate() {
        let role = m.get("role").and_then(Value::as_str).unwrap_or_default();
        let content = match m.get("content") {
            Some(Value::String(s)) => s.clone(),
            Some(Value::Array(parts)) => parts
                .iter()
                .map(
                    |p| match (p.get("type").and_then(Value::as_str), p.get("text")) {
                        (Some("text"), Some(Value::String(t))) => Ok(t.as_str()),
                        _ => Err(ApiError::invalid(
                            format!("messages[{i}].content"),
                            "only text content parts are supported here",
                        )),
                    },
                )
                .collect::<Result<Vec<_>, _>>()?
                .concat(),
            _ => {
                return Err(ApiError::invalid(
                    format!("messages[{i}].content"),
                    "must be a string or a list of text parts",
                ));
            }
        };
        if !matches!(role, "system" | "user" | "assistant" | "developer") {
            return Err(ApiError::invalid(
                format!("messages[{i}].role"),
                format!("unknown role {role:?}"),
            ));
        }
        turns.push(ChatMessage::new(role, content));
    }
    let has_template = engine.tokenizer().is_some_and(|t| t.has_chat_template());
    if has_template {
        return Ok(Part::Chat(turns));
    }
    match turns.as_slice() {
        [one] if one.role == "user" => Ok(Part::Text(one.content.clone())),
        _ => Err(ApiError::invalid(
            "messages",
            "this model has no chat template: send exactly one user message",
        )),
    }
}
