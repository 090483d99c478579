//! The text tokenizer of a model folder.

use std::path::{Path, PathBuf};

use serde_json::Value;
use tokenizers::Tokenizer;

use crate::{ChatMessage, ChatTemplate, TextError};

/// `tokenizer.json` + `tokenizer_config.json` of a model folder.
#[derive(Debug)]
pub struct TextTokenizer {
    tokenizer: Tokenizer,
    chat: Option<ChatTemplate>,
    vocab: usize,
}

impl TextTokenizer {
    /// Loads `dir/tokenizer.json` and, if present, `dir/tokenizer_config.json`.
    ///
    /// # Errors
    /// [`TextError::Io`] / [`TextError::Tokenizer`] for a missing or invalid tokenizer,
    /// [`TextError::Config`] naming the field for a malformed config, and
    /// [`TextError::Template`] for a chat template that does not compile.
    pub fn from_dir(dir: &Path) -> Result<Self, TextError> {
        let path = dir.join("tokenizer.json");
        let bytes = std::fs::read(&path).map_err(|source| TextError::Io {
            path: path.clone(),
            source,
        })?;
        let mut tokenizer = Self::from_json(&bytes, None, &path)?;
        let config_path = dir.join("tokenizer_config.json");
        if config_path.exists() {
            tokenizer.chat = load_chat(&config_path)?;
        }
        Ok(tokenizer)
    }

    /// A tokenizer from `tokenizer.json` text and an optional chat template; `origin` names
    /// where the text came from in errors (a GGUF file's rebuilt vocabulary, say).
    ///
    /// # Errors
    /// [`TextError::Tokenizer`] if the `tokenizers` crate cannot read the text.
    pub fn from_json(
        json: &[u8],
        chat: Option<ChatTemplate>,
        origin: &Path,
    ) -> Result<Self, TextError> {
        // The `tokenizers` crate panics on some malformed files (an `unwrap` while
        // deserializing decoders, found by fuzzing): a panic there is a bad file, not a bug
        // of the caller's, so it becomes the same typed error.
        let parsed = crate::contain::contain(|| Tokenizer::from_bytes(json))
            .map_err(|panic| format!("the tokenizers crate could not read it: {panic}"))
            .and_then(|parsed| parsed.map_err(|e| e.to_string()));
        let tokenizer = parsed.map_err(|reason| TextError::Tokenizer {
            path: origin.to_path_buf(),
            reason,
        })?;
        let vocab = tokenizer.get_vocab_size(true);
        Ok(TextTokenizer {
            tokenizer,
            chat,
            vocab,
        })
    }

    /// Ids of `text`, without adding special tokens (templates add their own).
    ///
    /// # Errors
    /// [`TextError::Encode`] if the tokenizer fails.
    pub fn encode(&self, text: &str) -> Result<Vec<u32>, TextError> {
        let enc = self
            .tokenizer
            .encode(text, false)
            .map_err(|e| TextError::Encode(e.to_string()))?;
        Ok(enc.get_ids().to_vec())
    }

    /// Text of `ids`; with `skip_special` special tokens (EOS, mask…) are left out.
    ///
    /// # Errors
    /// [`TextError::UnknownId`] for an id outside the vocabulary (e.g. MMaDA image codes),
    /// [`TextError::Encode`] if the tokenizer fails.
    pub fn decode(&self, ids: &[u32], skip_special: bool) -> Result<String, TextError> {
        if let Some(&id) = ids.iter().find(|&&id| id as usize >= self.vocab) {
            return Err(TextError::UnknownId {
                id,
                vocab: self.vocab,
            });
        }
        self.tokenizer
            .decode(ids, skip_special)
            .map_err(|e| TextError::Encode(e.to_string()))
    }

    /// The id of a token string, if it exists (e.g. `<|eot_id|>`).
    pub fn token_to_id(&self, token: &str) -> Option<u32> {
        self.tokenizer.token_to_id(token)
    }

    /// Vocabulary size including added tokens.
    pub fn vocab_size(&self) -> usize {
        self.vocab
    }

    /// Whether the model ships a chat template.
    pub fn has_chat_template(&self) -> bool {
        self.chat.is_some()
    }

    /// Renders `messages` with the model's chat template (generation prompt appended).
    ///
    /// # Errors
    /// [`TextError::NoChatTemplate`] if there is none; template errors.
    pub fn render_chat(&self, messages: &[ChatMessage]) -> Result<String, TextError> {
        self.chat
            .as_ref()
            .ok_or(TextError::NoChatTemplate)?
            .render(messages, true)
    }

    /// Ids of `messages` rendered with the chat template.
    ///
    /// # Errors
    /// As [`TextTokenizer::render_chat`] and [`TextTokenizer::encode`].
    pub fn encode_chat(&self, messages: &[ChatMessage]) -> Result<Vec<u32>, TextError> {
        self.encode(&self.render_chat(messages)?)
    }
}

fn load_chat(path: &PathBuf) -> Result<Option<ChatTemplate>, TextError> {
    let text = std::fs::read_to_string(path).map_err(|source| TextError::Io {
        path: path.clone(),
        source,
    })?;
    let bad = |field: &str, reason: &str| TextError::Config {
        path: path.clone(),
        field: field.into(),
        reason: reason.into(),
    };
    let config: Value = serde_json::from_str(&text).map_err(|e| bad("(root)", &e.to_string()))?;
    let token = |field: &str| -> Result<Option<String>, TextError> {
        match config.get(field) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            // AddedToken objects: {"content": "...", ...}
            Some(Value::Object(o)) => match o.get("content") {
                Some(Value::String(s)) => Ok(Some(s.clone())),
                _ => Err(bad(field, "expected a string or an object with `content`")),
            },
            Some(_) => Err(bad(field, "expected a string or an object with `content`")),
        }
    };
    let (bos, eos) = (token("bos_token")?, token("eos_token")?);
    let source = match config.get("chat_template") {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::String(s)) => s.clone(),
        // A list of named templates: use "default".
        Some(Value::Array(list)) => list
            .iter()
            .find(|t| t.get("name").and_then(Value::as_str) == Some("default"))
            .and_then(|t| t.get("template").and_then(Value::as_str))
            .ok_or_else(|| bad("chat_template", "a list without a `default` template"))?
            .to_string(),
        Some(_) => {
            return Err(bad(
                "chat_template",
                "expected a string or a list of named templates",
            ));
        }
    };
    ChatTemplate::new(&source, bos, eos).map(Some)
}
