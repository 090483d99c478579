//! The text tokenizer of Tessera's world models: a word-level Hugging Face `tokenizer.json`
//! (so the SDK's ordinary [`tessera_modalities::TextTokenizer`] loads it) whose vocabulary is
//! exactly the words, digits and symbols of the worlds, with the special tokens of
//! [`tessera_modalities::tessera::SPECIAL_TOKENS`] first.
//!
//! Pre-tokenization splits note names (`C4`), lower-case words, single digits, single
//! spaces and single symbols; the `Fuse` decoder concatenates tokens back, so decoding gives
//! the text exactly (spaces are tokens). A word outside the vocabulary becomes `<|unk|>`,
//! which the SDK turns into an error naming the prompt.

use serde_json::{Value, json};
use tessera_modalities::tessera::SPECIAL_TOKENS;
use tessera_worlds::{Colour, Note, Position, Shape, Size};

/// Every ordinary (non-special) token, in id order after the specials.
pub fn words() -> Vec<String> {
    let mut w: Vec<String> = [" ", "+", "=", ".", "|"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    w.extend((0..10).map(|d| d.to_string()));
    w.extend(["a", "at", "the", "sort", "sudoku"].map(String::from));
    w.extend(Size::ALL.iter().map(|x| x.name().to_string()));
    w.extend(Colour::ALL.iter().map(|x| x.name().to_string()));
    w.extend(Shape::ALL.iter().map(|x| x.name().to_string()));
    for p in Position::ALL {
        for part in p.name().split(' ') {
            if !w.iter().any(|x| x == part) {
                w.push(part.to_string());
            }
        }
    }
    w.extend(Note::ALL.iter().map(|x| x.name().to_string()));
    w
}

/// The `tokenizer.json` document.
pub fn tokenizer_json() -> Value {
    let specials: Vec<Value> = SPECIAL_TOKENS
        .iter()
        .enumerate()
        .map(|(i, t)| {
            json!({"id": i, "content": t, "single_word": false, "lstrip": false,
                   "rstrip": false, "normalized": false, "special": true})
        })
        .collect();
    let mut vocab = serde_json::Map::new();
    for (i, t) in SPECIAL_TOKENS
        .iter()
        .map(|s| s.to_string())
        .chain(words())
        .enumerate()
    {
        vocab.insert(t, json!(i));
    }
    json!({
        "version": "1.0",
        "truncation": null,
        "padding": null,
        "added_tokens": specials,
        "normalizer": null,
        "pre_tokenizer": {
            "type": "Split",
            "pattern": {"Regex": "[A-G][0-9]|[a-z]+|[0-9]|\\s|[^A-Za-z0-9\\s]"},
            "behavior": "Isolated",
            "invert": false
        },
        "post_processor": null,
        "decoder": {"type": "Fuse"},
        "model": {"type": "WordLevel", "vocab": vocab, "unk_token": "<|unk|>"}
    })
}

/// Size of the vocabulary (specials included).
pub fn vocab_size() -> usize {
    SPECIAL_TOKENS.len() + words().len()
}
