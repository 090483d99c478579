//! GGUF files written by `scripts/make_gguf_fixtures.py` (the `gguf` package from PyPI,
//! laid out as llama.cpp's `convert_hf_to_gguf.py` writes LLaDA — query/key rows permuted —
//! and Dream) from the same weights as the safetensors fixtures.

use tessera::{DecodeOptions, Engine, GenerateRequest, Prompt};
use tessera_backbone::{Backbone, Dtype, Format, LoadOptions};

use crate::common::fixture;
use crate::compare;
use crate::quantized::{all_logits, rel_rms};

fn gguf(family: &str, kind: &str) -> std::path::PathBuf {
    fixture(&format!("{family}-tiny-gguf")).join(format!("model-{kind}.gguf"))
}

fn tokens(len: usize) -> Vec<u32> {
    (0..len as u32)
        .map(|i| i.wrapping_mul(2_654_435_761) % 290)
        .collect()
}

#[test]
fn an_f32_gguf_is_the_safetensors_model_exactly() {
    for family in ["llada", "dream"] {
        let st = Backbone::load(fixture(&format!("{family}-tiny"))).unwrap();
        let gg = Backbone::load(gguf(family, "f32")).unwrap();
        let (a, b) = (st.info(), gg.info());
        assert_eq!(b.format, Format::Gguf);
        assert_eq!((b.dtype, b.stored_dtype), (Dtype::F32, Dtype::F32));
        assert_eq!(b.tensor_types.keys().collect::<Vec<_>>(), ["F32"]);
        assert_eq!(
            (b.family, b.parameters, b.layers, b.heads, b.kv_heads),
            (a.family, a.parameters, a.layers, a.heads, a.kv_heads)
        );
        assert_eq!(
            (
                b.embedding_size,
                b.max_length,
                b.mask_id,
                b.eos_id,
                b.bos_id
            ),
            (
                a.embedding_size,
                a.max_length,
                a.mask_id,
                a.eos_id,
                a.bos_id
            )
        );
        let t = tokens(40);
        assert_eq!(all_logits(&gg, &t, 40), all_logits(&st, &t, 40), "{family}");
        // Through the SDK: the tokenizer comes from the GGUF file's folder, and a whole
        // decode gives the same tokens.
        let generate = |path: std::path::PathBuf| {
            let engine = Engine::load(path).unwrap();
            let req = GenerateRequest::new(Prompt::Text("Hello world".into()))
                .options(DecodeOptions::new().gen_length(16).steps(16));
            engine.generate(&req).unwrap().outputs[0].ids.clone()
        };
        assert_eq!(
            generate(gguf(family, "f32")),
            generate(fixture(&format!("{family}-tiny"))),
            "{family}"
        );
    }
}

#[test]
fn gguf_logits_match_transformers() {
    let llada = Backbone::load(gguf("llada", "f32")).unwrap();
    compare(&llada, "llada_logits.safetensors", "batch", &[5, 0], 1e-4);
    let dream = Backbone::load(gguf("dream", "f32")).unwrap();
    compare(&dream, "dream_logits.safetensors", "batch", &[6, 0], 1e-4);
}

/// Stated tolerances, relative RMS over every logit of a 40-token canvas: the quantized
/// kernels (which also round each activation row to 8-bit blocks, as llama.cpp's do)
/// against the same file's weights dequantized to `f32` — measured 2.0–2.4 % for `Q8_0` and
/// `Q4_0`, 0.2 % for `F16` computed in f16.
#[test]
fn quantized_ggufs_stay_near_their_dequantized_weights() {
    for family in ["llada", "dream"] {
        for (kind, dtype, tol) in [
            ("q8_0", Dtype::Q8_0, 0.04),
            ("q4_0", Dtype::Q4_0, 0.04),
            ("f16", Dtype::F16, 0.01),
            // Keys and values (and gate and up) in different formats, as llama-quantize's
            // mixes store them: one layer per part, nothing re-quantized.
            ("mixed", Dtype::Q8_0, 0.04),
        ] {
            let m = Backbone::load(gguf(family, kind)).unwrap();
            assert_eq!(m.info().stored_dtype, dtype);
            if kind == "mixed" {
                let types: Vec<&str> = m.info().tensor_types.keys().map(String::as_str).collect();
                assert_eq!(types, ["F16", "F32", "Q4_0", "Q8_0"]);
            }
            assert_eq!(m.info().dtype, dtype);
            let deq = Backbone::load_with(
                gguf(family, kind),
                &LoadOptions::default().dtype(Dtype::F32),
            )
            .unwrap();
            assert_eq!(deq.info().dtype, Dtype::F32);
            let t = tokens(40);
            let err = rel_rms(&all_logits(&m, &t, 40), &all_logits(&deq, &t, 40));
            assert!(err < tol, "{family} {kind}: relative RMS {err} ≥ {tol}");
            assert!(
                err > 0.0,
                "{family} {kind}: the quantized kernel did not run"
            );
        }
    }
}

/// A GGUF file alone in a folder (as GGUF-only Hub repositories ship): the tokenizer it
/// carries is rebuilt, and tokenizes like the model's own `tokenizer.json`.
#[test]
fn a_lone_gguf_file_brings_its_own_tokenizer() {
    let texts = [
        "Hello world! This is a tiny tokenizer for testing.",
        "  spaces,\ttabs\nand 12345 digits — ünïcödé",
    ];
    for family in ["llada", "dream"] {
        let own = Engine::load(fixture(&format!("{family}-tiny"))).unwrap();
        let own = own.tokenizer().unwrap();
        let dir = crate::common::TempDir::new(&format!("lone-gguf-{family}"));
        let bytes = std::fs::read(gguf(family, "q8_0")).unwrap();
        for (pre, rebuilt) in [("gpt-2", true), ("qwen2", true), ("nope!", false)] {
            let mut patched = bytes.clone();
            let at = patched
                .windows(5)
                .position(|w| w == b"gpt-2")
                .expect("the fixture's pre-tokenizer");
            patched[at..at + 5].copy_from_slice(pre.as_bytes());
            let file = dir.0.join(format!("{family}-{pre}.gguf"));
            std::fs::write(&file, patched).unwrap();
            let engine = Engine::load(&file).unwrap();
            let Some(t) = engine.tokenizer() else {
                assert!(!rebuilt, "{family} {pre}: no tokenizer");
                // Ids still decode; text says why it cannot.
                let err = engine
                    .generate(&GenerateRequest::new(Prompt::Text("Hello".into())))
                    .unwrap_err();
                assert!(err.to_string().contains("tokenizer"), "{err}");
                continue;
            };
            assert!(rebuilt, "{family} {pre}: an unknown rule was rebuilt");
            assert_eq!(t.vocab_size(), own.vocab_size(), "{family}");
            // ASCII words split alike under GPT-2's and Qwen2's rules.
            let cases: &[&str] = if pre == "gpt-2" { &texts } else { &texts[..1] };
            for text in cases {
                assert_eq!(
                    t.encode(text).unwrap(),
                    own.encode(text).unwrap(),
                    "{family} {pre} {text:?}"
                );
            }
            let ids = own.encode(texts[0]).unwrap();
            assert_eq!(
                t.decode(&ids, true).unwrap(),
                own.decode(&ids, true).unwrap()
            );
            let chat = [tessera::ChatMessage::user("Hi")];
            assert_eq!(
                t.encode_chat(&chat).unwrap(),
                own.encode_chat(&chat).unwrap(),
                "{family}"
            );
        }
        // The folder itself: three GGUF files and no config.json — which one is not guessed.
        match Backbone::load(&dir.0) {
            Err(tessera_backbone::LoadError::Gguf { reason, .. }) => {
                assert!(reason.contains("name the file"), "{reason}")
            }
            other => panic!("expected a GGUF error, got {other:?}"),
        }
        // A folder holding one GGUF file and nothing else loads as that file.
        let single = crate::common::TempDir::new(&format!("one-gguf-{family}"));
        std::fs::write(single.0.join("model.gguf"), &bytes).unwrap();
        let engine = Engine::load(&single.0).unwrap();
        assert_eq!(engine.info().format, Format::Gguf);
        assert_eq!(
            engine.tokenizer().unwrap().encode(texts[0]).unwrap(),
            own.encode(texts[0]).unwrap()
        );
    }
}
