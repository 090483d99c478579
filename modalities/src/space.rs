//! The unified token space: disjoint id ranges for text, image codes and audio codebooks,
//! plus the mask id, built from the model's own config — never hard-coded per call site.

use std::ops::Range;

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// A token space that cannot be built from a config, or an id/code outside its range.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SpaceError {
    /// A config field is missing, mistyped or inconsistent, or a code/id is out of range;
    /// names the field or modality.
    #[error("token space: `{field}`: {reason}")]
    Config {
        /// The field (or modality) at fault.
        field: String,
        /// What is wrong.
        reason: String,
    },
}

/// What a canvas position holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum Modality {
    /// Text tokens (and the text specials: EOS, chat markers).
    Text,
    /// Image codebook entries.
    Image,
    /// Audio codebook entries (one range per RVQ level, or one shared range).
    Audio,
}

impl std::fmt::Display for Modality {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Modality::Text => "text",
            Modality::Image => "image",
            Modality::Audio => "audio",
        })
    }
}

/// The id ranges of one model's vocabulary.
///
/// Ids are `u32`; every range is half-open and the ranges are disjoint. An image code `c` is
/// id `image.start + c`; an audio code `c` of level `l` is `audio[l].start + c` (levels may
/// share one range).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct TokenSpace {
    /// Text ids (the tokenizer's vocabulary, specials included).
    pub text: Range<u32>,
    /// Image codebook ids, if the model has images.
    pub image: Option<Range<u32>>,
    /// Audio codebook ids per RVQ level (empty: no audio).
    pub audio: Vec<Range<u32>>,
    /// The mask id.
    pub mask: u32,
    /// Rows of the model's logits (every id is below it).
    pub logits_width: u32,
}

impl TokenSpace {
    /// A text-only space: ids `0..text`, logits `logits_width` wide.
    ///
    /// # Errors
    /// [`SpaceError::Config`] if the ranges do not fit the logits or the mask falls outside.
    pub fn text_only(text: u32, mask: u32, logits_width: u32) -> Result<Self, SpaceError> {
        let space = TokenSpace {
            text: 0..text,
            image: None,
            audio: Vec::new(),
            mask,
            logits_width,
        };
        space.validate()?;
        Ok(space)
    }

    /// The space a model's `config.json` describes (the parsed object), `logits_width` being
    /// its embedding size and `mask` its mask id:
    /// - MMaDA: `llm_vocab_size` text ids, then `codebook_size` image codes;
    /// - a Tessera model: `"token_space": {"text": N, "image_codes": K, "audio_codes": [K₀, …]}`
    ///   laid out text, image, then each audio level in turn;
    /// - otherwise text only, `vocab_size` ids.
    ///
    /// # Errors
    /// [`SpaceError::Config`] naming the field that is missing, mistyped or inconsistent.
    pub fn from_config(config: &Value, mask: u32, logits_width: u32) -> Result<Self, SpaceError> {
        let field = |name: &str, v: Option<&Value>| -> Result<Option<u32>, SpaceError> {
            match v {
                None | Some(Value::Null) => Ok(None),
                Some(v) => v
                    .as_u64()
                    .and_then(|n| u32::try_from(n).ok())
                    .map(Some)
                    .ok_or_else(|| {
                        bad(
                            name,
                            &format!("expected a token count in 0..={}, found {v}", u32::MAX),
                        )
                    }),
            }
        };
        let space = if let Some(ts) = config.get("token_space") {
            let text = field("token_space.text", ts.get("text"))?
                .ok_or_else(|| bad("token_space.text", "missing"))?;
            let image = field("token_space.image_codes", ts.get("image_codes"))?;
            let levels: Vec<u32> = match ts.get("audio_codes") {
                None | Some(Value::Null) => Vec::new(),
                Some(Value::Array(a)) => a
                    .iter()
                    .map(|v| {
                        field("token_space.audio_codes", Some(v)).map(Option::unwrap_or_default)
                    })
                    .collect::<Result<_, _>>()?,
                Some(_) => return Err(bad("token_space.audio_codes", "expected a list")),
            };
            // A codebook of no codes is a modality the model cannot write (omit it instead).
            if image == Some(0) {
                return Err(bad(
                    "token_space.image_codes",
                    "must be at least 1, found 0",
                ));
            }
            if levels.contains(&0) {
                return Err(bad(
                    "token_space.audio_codes",
                    "every level needs at least 1 code, found 0",
                ));
            }
            // Ranges laid end to end; a sum past u32 cannot fit any model's logits.
            let mut next = text;
            let mut take = |name: &str, k: u32| {
                let end = next.checked_add(k).ok_or_else(|| {
                    bad(
                        name,
                        "the ranges add up to more ids than a token id can hold",
                    )
                })?;
                let r = next..end;
                next = end;
                Ok::<_, SpaceError>(r)
            };
            let image = image
                .map(|k| take("token_space.image_codes", k))
                .transpose()?;
            let audio = levels
                .into_iter()
                .map(|k| take("token_space.audio_codes", k))
                .collect::<Result<_, _>>()?;
            TokenSpace {
                text: 0..text,
                image,
                audio,
                mask,
                logits_width,
            }
        } else if let Some(text) = field("llm_vocab_size", config.get("llm_vocab_size"))? {
            let codes = field("codebook_size", config.get("codebook_size"))?.ok_or_else(|| {
                bad(
                    "codebook_size",
                    "MMaDA configs give the image codebook size",
                )
            })?;
            TokenSpace {
                text: 0..text,
                image: Some(text..text + codes),
                audio: Vec::new(),
                mask,
                logits_width,
            }
        } else {
            let text = field("vocab_size", config.get("vocab_size"))?.unwrap_or(logits_width);
            return Self::text_only(text, mask, logits_width);
        };
        space.validate()?;
        Ok(space)
    }

    fn validate(&self) -> Result<(), SpaceError> {
        let mut ranges: Vec<(&str, &Range<u32>)> = vec![("text", &self.text)];
        if let Some(i) = &self.image {
            ranges.push(("image", i));
        }
        ranges.extend(self.audio.iter().map(|a| ("audio", a)));
        for (name, r) in &ranges {
            if r.end > self.logits_width {
                return Err(bad(
                    name,
                    &format!(
                        "ids {}..{} do not fit the model's {} logits",
                        r.start, r.end, self.logits_width
                    ),
                ));
            }
        }
        for (i, (a, ra)) in ranges.iter().enumerate() {
            for (b, rb) in &ranges[i + 1..] {
                if ra.start < rb.end && rb.start < ra.end && !ra.is_empty() && !rb.is_empty() {
                    return Err(bad(a, &format!("ids overlap the {b} range")));
                }
            }
        }
        if self.mask >= self.logits_width {
            return Err(bad("mask_token_id", "outside the logits"));
        }
        let media = self.image.iter().chain(&self.audio);
        if media.clone().any(|r| r.contains(&self.mask)) {
            return Err(bad("mask_token_id", "falls inside a codebook range"));
        }
        Ok(())
    }

    /// The ids a position of `modality` may take (level `level` for audio): what the
    /// controller restricts sampling to.
    ///
    /// # Errors
    /// [`SpaceError::Config`] if the model has no such modality or level.
    pub fn range(&self, modality: Modality, level: usize) -> Result<Range<u32>, SpaceError> {
        match modality {
            Modality::Text => Ok(self.text.clone()),
            Modality::Image => self
                .image
                .clone()
                .ok_or_else(|| bad("image", "this model has no image codes")),
            Modality::Audio => self
                .audio
                .get(level)
                .cloned()
                .ok_or_else(|| bad("audio", &format!("this model has no audio level {level}"))),
        }
    }

    /// The model id of image code `code`.
    ///
    /// # Errors
    /// [`SpaceError::Config`] for a code outside the codebook or a model without images.
    pub fn image_id(&self, code: u32) -> Result<u32, SpaceError> {
        let r = self.range(Modality::Image, 0)?;
        offset(&r, code, "image")
    }

    /// The image code of model id `id`.
    ///
    /// # Errors
    /// [`SpaceError::Config`] if `id` is not an image id.
    pub fn image_code(&self, id: u32) -> Result<u32, SpaceError> {
        let r = self.range(Modality::Image, 0)?;
        unoffset(&r, id, "image")
    }

    /// The model id of audio code `code` at RVQ level `level`.
    ///
    /// # Errors
    /// [`SpaceError::Config`] for a code outside that level's codebook.
    pub fn audio_id(&self, level: usize, code: u32) -> Result<u32, SpaceError> {
        let r = self.range(Modality::Audio, level)?;
        offset(&r, code, "audio")
    }

    /// The audio code of model id `id` at level `level`.
    ///
    /// # Errors
    /// [`SpaceError::Config`] if `id` is not an id of that level.
    pub fn audio_code(&self, level: usize, id: u32) -> Result<u32, SpaceError> {
        let r = self.range(Modality::Audio, level)?;
        unoffset(&r, id, "audio")
    }
}

fn offset(r: &Range<u32>, code: u32, what: &str) -> Result<u32, SpaceError> {
    if code < r.end - r.start {
        Ok(r.start + code)
    } else {
        Err(bad(
            what,
            &format!("code {code} is outside the codebook of {}", r.end - r.start),
        ))
    }
}

fn unoffset(r: &Range<u32>, id: u32, what: &str) -> Result<u32, SpaceError> {
    if r.contains(&id) {
        Ok(id - r.start)
    } else {
        Err(bad(
            what,
            &format!("id {id} is not a {what} id ({}..{})", r.start, r.end),
        ))
    }
}

fn bad(field: &str, reason: &str) -> SpaceError {
    SpaceError::Config {
        field: field.to_string(),
        reason: reason.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn mmada_puts_image_codes_after_the_text_vocabulary() {
        let cfg = json!({"llm_vocab_size": 126464, "codebook_size": 8192, "vocab_size": 134656});
        let s = TokenSpace::from_config(&cfg, 126_336, 134_656).unwrap();
        assert_eq!(s.text, 0..126_464);
        assert_eq!(s.image, Some(126_464..134_656));
        assert_eq!(s.image_id(0).unwrap(), 126_464);
        assert_eq!(s.image_code(134_655).unwrap(), 8191);
        assert!(s.image_id(8192).is_err() && s.image_code(5).is_err());
        assert!(s.range(Modality::Audio, 0).is_err());
    }

    #[test]
    fn tessera_layout_and_errors_name_the_field() {
        let cfg = json!({"token_space": {"text": 100, "image_codes": 64, "audio_codes": [32, 32]}});
        let s = TokenSpace::from_config(&cfg, 99, 228).unwrap();
        assert_eq!(s.image, Some(100..164));
        assert_eq!(s.audio, vec![164..196, 196..228]);
        assert_eq!(s.audio_id(1, 3).unwrap(), 199);
        assert_eq!(s.audio_code(0, 170).unwrap(), 6);
        let err = |cfg: Value, mask, width| match TokenSpace::from_config(&cfg, mask, width) {
            Err(SpaceError::Config { field, .. }) => field,
            other => panic!("{other:?}"),
        };
        assert_eq!(err(cfg.clone(), 99, 200), "audio");
        assert_eq!(err(cfg, 150, 228), "mask_token_id");
        assert_eq!(err(json!({"llm_vocab_size": 10}), 9, 20), "codebook_size");
        assert_eq!(
            err(json!({"token_space": {"text": "x"}}), 0, 10),
            "token_space.text"
        );
        let empty = json!({"token_space": {"text": 100, "image_codes": 0}});
        assert_eq!(err(empty, 0, 228), "token_space.image_codes");
        let empty = json!({"token_space": {"text": 100, "audio_codes": [32, 0]}});
        assert_eq!(err(empty, 0, 228), "token_space.audio_codes");
        let wraps =
            json!({"token_space": {"text": 4_000_000_000u32, "image_codes": 4_000_000_000u32}});
        assert_eq!(err(wraps, 0, 10), "token_space.image_codes");
        let text = TokenSpace::from_config(&json!({"vocab_size": 300}), 299, 320).unwrap();
        assert_eq!((text.text, text.image), (0..300, None));
    }
}
