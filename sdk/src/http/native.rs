//! `POST /v1/generate`: the native, multimodal endpoint.
//!
//! ```json
//! {"parts": [{"text": "a large red circle at the top left"}, {"generate": "image"}],
//!  "options": {"seed": 7}, "stream": false}
//! ```
//!
//! A part is one of `{"text": STRING}`, `{"chat": [{"role", "content"}…]}`, `{"ids": [ID…]}`,
//! `{"image": BASE64}` (PNG or JPEG), `{"audio": BASE64}` (WAV, FLAC, MP3, OGG), or a target:
//! `{"generate": "text", "max_len": N}`, `{"generate": "image"}`,
//! `{"generate": "audio", "seconds": S}`, `{"blank": N}`. `options` takes every decode option
//! under its own name ([`DecodeOptions`](crate::DecodeOptions)). The answer:
//! `{"parts": [{"text"} | {"image": BASE64_PNG, "mime", "width", "height"} |
//! {"audio": BASE64_WAV, "mime", "seconds"} | {"image_codes", "height", "width"} | {"ids"}],
//! "ids", "stats"}`. With `"stream": true` it is Server-Sent Events: `step` events (the
//! step's committed and re-masked positions, the text with masks shown, a picture preview as
//! base64 PNG) and a final `done` event with the answer, or an `error` event.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use serde::Deserialize;
use serde_json::{Value, json};
use tessera_modalities::ChatMessage;
use tessera_modalities::audio::{decode_bytes_with, wav_bytes};
use tessera_modalities::image::{decode_image_with, encode_png};

use super::ApiError;
use crate::{DecodeOptions, Generated, Limits, Part, Reply, Request, StepEvent, Target};

/// The body of `POST /v1/generate`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct GenerateBody {
    parts: Vec<WirePart>,
    #[serde(default)]
    options: DecodeOptions,
    #[serde(default)]
    pub(crate) stream: bool,
}

/// One part as JSON: exactly one of its keys (with `max_len`/`seconds` beside `generate`).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct WirePart {
    text: Option<String>,
    chat: Option<Vec<ChatMessage>>,
    ids: Option<Vec<u32>>,
    image: Option<String>,
    audio: Option<String>,
    generate: Option<String>,
    max_len: Option<usize>,
    seconds: Option<f64>,
    blank: Option<usize>,
}

impl GenerateBody {
    /// The SDK request, media decoded under `limits`; errors name `parts[i]`.
    pub(crate) fn request(self, limits: &Limits) -> Result<Request, ApiError> {
        let mut request = Request::new().options(self.options);
        for (i, p) in self.parts.into_iter().enumerate() {
            let at = |key: &str| format!("parts[{i}].{key}");
            let keys = [
                p.text.is_some(),
                p.chat.is_some(),
                p.ids.is_some(),
                p.image.is_some(),
                p.audio.is_some(),
                p.generate.is_some(),
                p.blank.is_some(),
            ];
            if keys.iter().filter(|&&k| k).count() != 1 {
                return Err(ApiError::invalid(
                    format!("parts[{i}]"),
                    "a part has exactly one of text, chat, ids, image, audio, generate, blank",
                ));
            }
            if p.generate.as_deref() != Some("text") && p.max_len.is_some() {
                return Err(ApiError::invalid(
                    at("max_len"),
                    "belongs to {\"generate\": \"text\"}",
                ));
            }
            if p.generate.as_deref() != Some("audio") && p.seconds.is_some() {
                return Err(ApiError::invalid(
                    at("seconds"),
                    "belongs to {\"generate\": \"audio\"}",
                ));
            }
            let part = if let Some(text) = p.text {
                Part::Text(text)
            } else if let Some(chat) = p.chat {
                Part::Chat(chat)
            } else if let Some(ids) = p.ids {
                Part::Ids(ids)
            } else if let Some(image) = p.image {
                let bytes = base64(&image, &at("image"))?;
                Part::Image(
                    decode_image_with(&bytes, &limits.image.reader())
                        .map_err(|e| ApiError::invalid(at("image"), e.to_string()))?,
                )
            } else if let Some(audio) = p.audio {
                let bytes = base64(&audio, &at("audio"))?;
                Part::Audio(
                    decode_bytes_with(bytes, None, &limits.audio.reader())
                        .map_err(|e| ApiError::invalid(at("audio"), e.to_string()))?,
                )
            } else if let Some(len) = p.blank {
                Part::Generate(Target::Blank { len })
            } else {
                Part::Generate(match p.generate.as_deref() {
                    Some("text") => Target::Text { max_len: p.max_len },
                    Some("image") => Target::Image,
                    Some("audio") => Target::Audio { seconds: p.seconds },
                    other => {
                        return Err(ApiError::invalid(
                            at("generate"),
                            format!("unknown target {other:?} (text, image, audio)"),
                        ));
                    }
                })
            };
            request = request.part(part);
        }
        Ok(request)
    }
}

/// Base64 (standard alphabet, padding optional; a `data:…;base64,` prefix is allowed).
fn base64(text: &str, field: &str) -> Result<Vec<u8>, ApiError> {
    let data = text.split_once(";base64,").map_or(text, |(_, d)| d);
    B64.decode(data.trim_end_matches('='))
        .or_else(|_| B64.decode(data))
        .map_err(|e| ApiError::invalid(field, format!("is not valid base64: {e}")))
}

/// The answer as JSON.
pub(crate) fn reply_json(reply: &Reply) -> Result<Value, ApiError> {
    let parts = reply
        .parts
        .iter()
        .map(part_json)
        .collect::<Result<Vec<_>, _>>()?;
    Ok(json!({"parts": parts, "ids": reply.ids, "stats": reply.stats}))
}

fn part_json(part: &Generated) -> Result<Value, ApiError> {
    let server = |e: String| ApiError {
        status: axum::http::StatusCode::INTERNAL_SERVER_ERROR,
        kind: "server_error",
        message: e,
        param: None,
    };
    Ok(match part {
        Generated::Text(t) => json!({"text": t}),
        Generated::Image(img) => json!({
            "image": B64.encode(encode_png(img).map_err(|e| server(e.to_string()))?),
            "mime": "image/png",
            "width": img.width(),
            "height": img.height(),
        }),
        Generated::Audio(pcm) => json!({
            "audio": B64.encode(wav_bytes(pcm).map_err(|e| server(e.to_string()))?),
            "mime": "audio/wav",
            "seconds": pcm.samples.len() as f64 / f64::from(pcm.sample_rate.max(1)),
        }),
        Generated::ImageCodes {
            codes,
            height,
            width,
        } => json!({"image_codes": codes, "height": height, "width": width}),
        Generated::Ids(ids) => json!({"ids": ids}),
    })
}

/// A step event as JSON.
pub(crate) fn step_json(step: &StepEvent) -> Value {
    let image = step
        .image
        .as_ref()
        .and_then(|img| encode_png(img).ok())
        .map(|png| B64.encode(png));
    json!({
        "step": step.step,
        "total_steps": step.total_steps,
        "answer_start": step.answer_start,
        "committed": step.committed,
        "remasked": step.remasked,
        "text": step.text,
        "image": image,
    })
}
