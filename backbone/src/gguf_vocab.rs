//! The tokenizer a GGUF file carries (`tokenizer.ggml.*`), rebuilt as a Hugging Face
//! `tokenizer.json`, for GGUF files that come without the model's own tokenizer files.
//!
//! llama.cpp stores a byte-level BPE as `tokenizer.ggml.model = "gpt2"`: the tokens in id
//! order, their types (1 normal, 3 control, 4 user-defined, 5 unused), the merges as `"a b"`
//! strings, and the name of the pre-tokenizer (`tokenizer.ggml.pre`) whose split rule
//! llama.cpp hard-codes per name (`llama-vocab.cpp`). The rule is not in the file, so only
//! names whose rule is known here are rebuilt: `gpt-2`/`default` (GPT-2's), `qwen2` (Dream's
//! Qwen2 tokenizer) and `llama-bpe` (LLaMA 3's). Any other is an error naming it; a
//! `tokenizer.json` beside the file is always preferred.

use std::path::Path;

use candle_core::quantized::gguf_file::{Content, Value};
use serde_json::{Map, json};

use crate::LoadError;

/// Qwen2's split rule (its `tokenizer.json`, and llama.cpp's `LLAMA_VOCAB_PRE_TYPE_QWEN2`).
const QWEN2: &str = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";

/// LLaMA 3's split rule (`LLAMA_VOCAB_PRE_TYPE_LLAMA3`): Qwen2's with digits in threes.
const LLAMA3: &str = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";

/// A GGUF file's tokenizer as Hugging Face files would hold it.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct GgufTokenizer {
    /// The `tokenizer.json` text.
    pub json: String,
    /// `tokenizer.chat_template`, if the file has one.
    pub chat_template: Option<String>,
    /// The text of the BOS token, if the file names one.
    pub bos_token: Option<String>,
    /// The text of the EOS token, if the file names one.
    pub eos_token: Option<String>,
}

/// The tokenizer stored in the GGUF file at `path`: `Ok(None)` if it stores none.
///
/// # Errors
/// [`LoadError::Io`] for an unreadable file, [`LoadError::Gguf`] for a malformed header, a
/// tokenizer model other than `gpt2`, a pre-tokenizer whose rule is unknown here, or token
/// lists of the wrong types or lengths.
pub fn gguf_tokenizer(path: &Path) -> Result<Option<GgufTokenizer>, LoadError> {
    let err = |reason: String| LoadError::Gguf {
        path: path.to_path_buf(),
        reason,
    };
    let file = std::fs::File::open(path).map_err(|source| LoadError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let content = Content::read(&mut &file).map_err(|e| err(format!("unreadable header: {e}")))?;
    let md = &content.metadata;
    let string = |key: &str| match md.get(key) {
        Some(Value::String(s)) => Ok(Some(s.clone())),
        None => Ok(None),
        Some(_) => Err(err(format!("`{key}` is not a string"))),
    };
    let Some(model) = string("tokenizer.ggml.model")? else {
        return Ok(None);
    };
    if model != "gpt2" {
        return Err(err(format!(
            "`tokenizer.ggml.model` is `{model}`; only byte-level BPE (`gpt2`) is rebuilt — \
             put the model's tokenizer.json beside the file"
        )));
    }
    let strings = |key: &str| -> Result<Vec<String>, LoadError> {
        match md.get(key) {
            Some(Value::Array(items)) => items
                .iter()
                .map(|v| match v {
                    Value::String(s) => Ok(s.clone()),
                    _ => Err(err(format!("`{key}` holds a non-string"))),
                })
                .collect(),
            None => Ok(Vec::new()),
            Some(_) => Err(err(format!("`{key}` is not an array"))),
        }
    };
    let tokens = strings("tokenizer.ggml.tokens")?;
    let merges = strings("tokenizer.ggml.merges")?;
    let types: Vec<i64> = match md.get("tokenizer.ggml.token_type") {
        Some(Value::Array(items)) => items.iter().map(|v| int(v).unwrap_or(1)).collect(),
        _ => vec![1; tokens.len()],
    };
    if types.len() != tokens.len() {
        return Err(err(format!(
            "`tokenizer.ggml.token_type` has {} entries for {} tokens",
            types.len(),
            tokens.len()
        )));
    }
    let pre = string("tokenizer.ggml.pre")?;
    let split = match pre.as_deref() {
        None | Some("gpt-2" | "gpt2" | "default") => None,
        Some("qwen2" | "deepseek-r1-qwen") => Some((QWEN2, false)),
        Some("llama-bpe" | "llama3" | "llama-v3") => Some((LLAMA3, true)),
        Some(other) => {
            return Err(err(format!(
                "`tokenizer.ggml.pre` is `{other}`, whose split rule Tessera does not know \
                 (known: gpt-2, qwen2, llama-bpe) — put the model's tokenizer.json beside the file"
            )));
        }
    };
    let byte_level = |use_regex: bool| json!({"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true, "use_regex": use_regex});
    let (pre_tokenizer, ignore_merges) = match split {
        None => (byte_level(true), false),
        Some((pattern, ignore_merges)) => (
            json!({"type": "Sequence", "pretokenizers": [
                {"type": "Split", "pattern": {"Regex": pattern}, "behavior": "Isolated", "invert": false},
                byte_level(false),
            ]}),
            ignore_merges,
        ),
    };
    let mut vocab = Map::new();
    let mut added = Vec::new();
    for (id, (token, kind)) in tokens.iter().zip(&types).enumerate() {
        vocab.entry(token.clone()).or_insert(json!(id));
        // Control (3) and user-defined (4) tokens match whole, before BPE.
        if matches!(kind, 3 | 4) {
            added.push(json!({
                "id": id, "content": token, "single_word": false, "lstrip": false,
                "rstrip": false, "normalized": false, "special": *kind == 3,
            }));
        }
    }
    let tokenizer = json!({
        "version": "1.0",
        "truncation": null,
        "padding": null,
        "added_tokens": added,
        "normalizer": null,
        "pre_tokenizer": pre_tokenizer,
        "post_processor": null,
        "decoder": byte_level(true),
        "model": {
            "type": "BPE", "dropout": null, "unk_token": null,
            "continuing_subword_prefix": null, "end_of_word_suffix": null,
            "fuse_unk": false, "byte_fallback": false, "ignore_merges": ignore_merges,
            "vocab": vocab, "merges": merges,
        },
    });
    let token_of = |key: &str| {
        md.get(key)
            .and_then(int)
            .and_then(|id| usize::try_from(id).ok())
            .and_then(|id| tokens.get(id).cloned())
    };
    Ok(Some(GgufTokenizer {
        json: tokenizer.to_string(),
        chat_template: string("tokenizer.chat_template")?,
        bos_token: token_of("tokenizer.ggml.bos_token_id"),
        eos_token: token_of("tokenizer.ggml.eos_token_id"),
    }))
}

/// An integer metadata value.
fn int(v: &Value) -> Option<i64> {
    crate::gguf::to_json(v).as_i64()
}
