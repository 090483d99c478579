//! Tokenizers and chat templates against `transformers`' `apply_chat_template` and
//! `tokenizers` (Python), recorded by `scripts/make_fixtures.py`.

mod common;

use common::{fixture, reference_json};
use tessera_modalities::{ChatMessage, TextError, TextTokenizer};

fn ids(v: &serde_json::Value) -> Vec<u32> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_u64().unwrap() as u32)
        .collect()
}

#[test]
fn chat_templates_render_like_transformers() {
    let cases = reference_json("chat.json");
    let cases = cases.as_array().unwrap();
    assert!(cases.len() >= 4);
    for case in cases {
        let tok = TextTokenizer::from_dir(&fixture(case["model"].as_str().unwrap())).unwrap();
        let messages: Vec<ChatMessage> = serde_json::from_value(case["messages"].clone()).unwrap();
        assert_eq!(
            tok.render_chat(&messages).unwrap(),
            case["text"].as_str().unwrap()
        );
        assert_eq!(tok.encode_chat(&messages).unwrap(), ids(&case["ids"]));
    }
}

#[test]
fn encode_and_decode_match_python_tokenizers() {
    let cases = reference_json("tokenize.json");
    for case in cases.as_array().unwrap() {
        let tok = TextTokenizer::from_dir(&fixture(case["model"].as_str().unwrap())).unwrap();
        let text = case["text"].as_str().unwrap();
        let expected = ids(&case["ids"]);
        assert_eq!(tok.encode(text).unwrap(), expected, "{text:?}");
        assert_eq!(tok.decode(&expected, false).unwrap(), text);
    }
}

#[test]
fn unknown_ids_and_missing_templates_are_typed_errors() {
    let tok = TextTokenizer::from_dir(&fixture("llada-tiny")).unwrap();
    assert!(matches!(
        tok.decode(&[5, 310], false),
        Err(TextError::UnknownId { id: 310, .. })
    ));
    assert_eq!(tok.token_to_id("<|eot_id|>"), Some(296));
    let dir = common::TempDir::new("no-template");
    std::fs::copy(
        fixture("llada-tiny/tokenizer.json"),
        dir.0.join("tokenizer.json"),
    )
    .unwrap();
    let bare = TextTokenizer::from_dir(&dir.0).unwrap();
    assert!(matches!(
        bare.render_chat(&[ChatMessage::user("hi")]),
        Err(TextError::NoChatTemplate)
    ));
    std::fs::write(dir.0.join("tokenizer.json"), "{\"version\": 1").unwrap();
    assert!(matches!(
        TextTokenizer::from_dir(&dir.0),
        Err(TextError::Tokenizer { .. })
    ));
}
