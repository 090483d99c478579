//! Broken checkpoints and bad requests: each a typed error that names what is wrong.

mod common;

use std::fs;
use std::path::Path;

use common::{TempDir, fixture};
use tessera::hybrid::DenoiseInput;
use tessera_backbone::random::RandomLlada;
use tessera_backbone::{Backbone, ForwardError, LoadError};

fn copy_dir(from: &Path, to: &Path) {
    for entry in fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        fs::copy(entry.path(), to.join(entry.file_name())).unwrap();
    }
}

fn edit_config(dir: &Path, f: impl FnOnce(&mut serde_json::Value)) {
    let path = dir.join("config.json");
    let mut v: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(&path).unwrap()).unwrap();
    f(&mut v);
    fs::write(path, v.to_string()).unwrap();
}

#[test]
fn truncated_safetensors_names_the_tensor() {
    let dir = TempDir::new("truncated");
    copy_dir(&fixture("dream-tiny"), &dir.0);
    let path = dir.0.join("model.safetensors");
    let len = fs::metadata(&path).unwrap().len();
    let file = fs::OpenOptions::new().write(true).open(&path).unwrap();
    file.set_len(len - 1000).unwrap();
    match Backbone::load(&dir.0) {
        Err(LoadError::Truncated {
            tensor,
            needed,
            available,
            ..
        }) => {
            assert!(!tensor.is_empty());
            assert!(needed > available);
        }
        other => panic!("expected Truncated, got {other:?}"),
    }
    file.set_len(4).unwrap();
    assert!(matches!(
        Backbone::load(&dir.0),
        Err(LoadError::Safetensors { .. })
    ));
    fs::write(&path, [200u8, 0, 0, 0, 0, 0, 0, 0, b'{']).unwrap();
    assert!(matches!(
        Backbone::load(&dir.0),
        Err(LoadError::Safetensors { .. })
    ));
    let mut garbage = 4u64.to_le_bytes().to_vec();
    garbage.extend_from_slice(b"nope");
    fs::write(&path, garbage).unwrap();
    let err = Backbone::load(&dir.0).unwrap_err().to_string();
    assert!(err.contains("not JSON"), "{err}");
}

#[test]
fn a_missing_shard_is_an_io_error_naming_the_file() {
    let dir = TempDir::new("shard");
    copy_dir(&fixture("llada-tiny"), &dir.0);
    fs::remove_file(dir.0.join("model-00002-of-00002.safetensors")).unwrap();
    let err = Backbone::load(&dir.0).unwrap_err();
    assert!(matches!(err, LoadError::Io { .. }));
    assert!(
        err.to_string().contains("model-00002-of-00002.safetensors"),
        "{err}"
    );
}

#[test]
fn wrong_shapes_name_the_tensor_and_both_shapes() {
    let dir = TempDir::new("shape");
    RandomLlada::tiny().write(&dir.0).unwrap();
    Backbone::load(&dir.0).expect("the untouched random model loads");
    edit_config(&dir.0, |v| v["mlp_hidden_size"] = 40.into());
    match Backbone::load(&dir.0) {
        Err(LoadError::Shape {
            name,
            expected,
            found,
        }) => {
            assert_eq!(name, "model.transformer.blocks.0.ff_proj.weight");
            assert_eq!(expected, vec![40, 32]);
            assert_eq!(found, vec![48, 32]);
        }
        other => panic!("expected Shape, got {other:?}"),
    }
    edit_config(&dir.0, |v| {
        v["mlp_hidden_size"] = 48.into();
        v["n_layers"] = 3.into();
    });
    match Backbone::load(&dir.0) {
        Err(LoadError::MissingTensor(name)) => {
            assert_eq!(name, "model.transformer.blocks.2.q_proj.weight")
        }
        other => panic!("expected MissingTensor, got {other:?}"),
    }
}

#[test]
fn config_problems_name_the_field() {
    let dir = TempDir::new("config");
    RandomLlada::tiny().write(&dir.0).unwrap();
    let field = |dir: &Path| match Backbone::load(dir) {
        Err(LoadError::Config { field, .. }) => field,
        other => panic!("expected a config error, got {other:?}"),
    };
    edit_config(&dir.0, |v| {
        v.as_object_mut().unwrap().remove("d_model");
    });
    assert_eq!(field(&dir.0), "d_model");
    edit_config(&dir.0, |v| {
        v["d_model"] = 32.into();
        v["layer_norm_type"] = "default".into();
    });
    assert_eq!(field(&dir.0), "layer_norm_type");
    edit_config(&dir.0, |v| {
        v["layer_norm_type"] = "rms".into();
        v["mask_token_id"] = 5000.into();
    });
    assert_eq!(field(&dir.0), "mask_token_id");
    edit_config(&dir.0, |v| {
        v["mask_token_id"] = 63.into();
        v["embedding_size"] = 10.into();
    });
    assert_eq!(field(&dir.0), "embedding_size");
    edit_config(&dir.0, |v| {
        v["embedding_size"] = 64.into();
        v["attention"] = "sliding-window".into();
    });
    assert_eq!(field(&dir.0), "attention");
    // The place embedding: malformed objects, ids outside the embedding or the mask as a
    // digit name the field; a well-formed one whose tensor is missing names the tensor.
    for bad in [
        serde_json::json!([16]),
        serde_json::json!({"places": 1, "digit_ids": [3]}),
        serde_json::json!({"places": 4, "digit_ids": []}),
        serde_json::json!({"places": 4, "digit_ids": [3, 64]}),
        serde_json::json!({"places": 4, "digit_ids": [63]}),
        serde_json::json!({"places": 4, "digit_ids": ["3"]}),
        serde_json::json!({"places": 4, "digits": [3]}),
    ] {
        edit_config(&dir.0, |v| {
            v.as_object_mut().unwrap().remove("attention");
            v["place_embedding"] = bad.clone();
        });
        assert_eq!(field(&dir.0), "place_embedding", "{bad}");
    }
    edit_config(&dir.0, |v| {
        v["place_embedding"] = serde_json::json!({"places": 4, "digit_ids": [3, 4]});
    });
    match Backbone::load(&dir.0) {
        Err(e) => assert!(e.to_string().contains("wpe_place"), "{e}"),
        Ok(_) => panic!("loaded without the place tensor"),
    }
    fs::write(dir.0.join("config.json"), "{\"model_type\": \"bert\"}").unwrap();
    assert!(matches!(
        Backbone::load(&dir.0),
        Err(LoadError::UnknownFamily { .. })
    ));
    fs::remove_file(dir.0.join("config.json")).unwrap();
    assert!(matches!(Backbone::load(&dir.0), Err(LoadError::Io { .. })));
    let empty = TempDir::new("empty");
    fs::copy(
        fixture("dream-tiny/config.json"),
        empty.0.join("config.json"),
    )
    .unwrap();
    assert!(matches!(
        Backbone::load(&empty.0),
        Err(LoadError::NoWeights(_))
    ));
}

#[test]
fn forward_input_errors_are_typed() {
    let model = Backbone::load(fixture("llada-tiny")).unwrap();
    let input = |tokens: &[u32], len, positions: &[usize]| {
        model.logits(&DenoiseInput::new(tokens, len, positions))
    };
    assert!(matches!(
        input(&[1, 2, 3], 3, &[2, 1]),
        Err(ForwardError::Input(_))
    ));
    assert!(matches!(
        input(&[1, 2, 3], 3, &[3]),
        Err(ForwardError::Input(_))
    ));
    assert!(matches!(
        input(&[1, 2, 3], 3, &[]),
        Err(ForwardError::Input(_))
    ));
    assert!(matches!(
        input(&[1, 2, 3], 2, &[0]),
        Err(ForwardError::Input(_))
    ));
    assert!(matches!(
        input(&[1, 2, 999], 3, &[0]),
        Err(ForwardError::Input(_))
    ));
    assert!(matches!(
        model.logits(&DenoiseInput::new(&[1, 2], 2, &[0]).with_attention(Some(&[true]))),
        Err(ForwardError::Input(_))
    ));
    // Attention groups of the wrong length, or decreasing.
    assert!(matches!(
        model.logits(&DenoiseInput::new(&[1, 2], 2, &[0]).with_groups(Some(&[0]))),
        Err(ForwardError::Input(_))
    ));
    assert!(matches!(
        model.logits(&DenoiseInput::new(&[1, 2], 2, &[0]).with_groups(Some(&[1, 0]))),
        Err(ForwardError::Input(_))
    ));
    assert!(input(&[1, 2, 3], 3, &[0, 2]).is_ok());
}

#[test]
fn bf16_random_checkpoints_load() {
    let dir = TempDir::new("bf16");
    RandomLlada::tiny().bf16(true).write(&dir.0).unwrap();
    let model = Backbone::load(&dir.0).unwrap();
    assert_eq!(model.info().dtype, tessera_backbone::Dtype::Bf16);
    let logits = model
        .logits(&DenoiseInput::new(&[1, 2, 3, 4], 4, &[1, 3]))
        .unwrap();
    assert!(logits.as_slice().iter().all(|v| v.is_finite()));
}

#[test]
fn generation_config_fills_missing_ids_and_is_validated() {
    let dir = TempDir::new("generation");
    RandomLlada::tiny().write(&dir.0).unwrap();
    edit_config(&dir.0, |v| {
        let o = v.as_object_mut().unwrap();
        o.remove("eos_token_id");
        o.remove("pad_token_id");
    });
    fs::write(
        dir.0.join("generation_config.json"),
        r#"{"eos_token_id": [60, 61], "pad_token_id": 60}"#,
    )
    .unwrap();
    let model = Backbone::load(&dir.0).unwrap();
    assert_eq!(model.info().eos_id, Some(60));
    assert_eq!(model.info().pad_id, Some(60));
    fs::write(
        dir.0.join("generation_config.json"),
        r#"{"eos_token_id": 4000}"#,
    )
    .unwrap();
    match Backbone::load(&dir.0) {
        Err(LoadError::Config { field, path, .. }) => {
            assert_eq!(field, "eos_token_id");
            assert!(path.ends_with("generation_config.json"));
        }
        other => panic!("expected a config error, got {other:?}"),
    }
}

/// A copy of GGUF fixture `file` with `edit` applied to its bytes.
fn gguf_with(dir: &TempDir, file: &str, edit: impl FnOnce(&mut Vec<u8>)) -> std::path::PathBuf {
    let mut bytes = fs::read(fixture("llada-tiny-gguf").join(file)).unwrap();
    edit(&mut bytes);
    let path = dir.0.join(file);
    fs::write(&path, bytes).unwrap();
    path
}

/// Replaces the first occurrence of `from` by `to` (same length).
fn patch(bytes: &mut [u8], from: &[u8], to: &[u8]) {
    assert_eq!(from.len(), to.len());
    let at = bytes
        .windows(from.len())
        .position(|w| w == from)
        .unwrap_or_else(|| panic!("{} not in the file", String::from_utf8_lossy(from)));
    bytes[at..at + to.len()].copy_from_slice(to);
}

#[test]
fn broken_gguf_files_are_typed_errors_naming_what_is_wrong() {
    let dir = TempDir::new("gguf");
    let reason = |r: Result<Backbone, LoadError>| match r {
        Err(LoadError::Gguf { reason, .. }) => reason,
        other => panic!("expected a GGUF error, got {other:?}"),
    };
    // Cut in the tensor data: the tensor that runs past the end is named.
    let cut = gguf_with(&dir, "model-q8_0.gguf", |b| b.truncate(b.len() - 3000));
    let why = reason(Backbone::load(&cut));
    assert!(
        why.contains("tensor `") && why.contains("remaining"),
        "{why}"
    );
    // Cut in the header.
    let cut = gguf_with(&dir, "model-f16.gguf", |b| b.truncate(900));
    assert!(reason(Backbone::load(&cut)).contains("header"));
    // A file that is not GGUF at all.
    let path = dir.0.join("not.gguf");
    fs::write(&path, b"GGML and then nothing").unwrap();
    assert!(reason(Backbone::load(&path)).contains("not a GGUF file"));
    // An architecture Tessera does not run.
    let other = gguf_with(&dir, "model-f32.gguf", |b| {
        patch(b, b"llada\x0c", b"llama\x0c")
    });
    assert!(
        matches!(Backbone::load(&other), Err(LoadError::UnknownFamily { model_type: Some(t), .. }) if t == "llama")
    );
    // A missing key is named by its GGUF spelling.
    let missing = gguf_with(&dir, "model-f32.gguf", |b| {
        patch(b, b"llada.block_count", b"llada.block_cnnnt")
    });
    match Backbone::load(&missing) {
        Err(LoadError::Config { field, reason, .. }) => {
            assert_eq!(field, "llada.block_count (as n_layers)", "{reason}")
        }
        other => panic!("expected a config error, got {other:?}"),
    }
    // A missing tensor is named.
    let gone = gguf_with(&dir, "model-q8_0.gguf", |b| {
        patch(b, b"blk.1.ffn_up.weight", b"blk.1.ffn_xx.weight")
    });
    assert!(
        matches!(Backbone::load(&gone), Err(LoadError::MissingTensor(n)) if n == "blk.1.ffn_up.weight")
    );
    // Through the SDK the same errors arrive as load errors, not panics.
    assert!(tessera::Engine::load(&cut).is_err());
}
