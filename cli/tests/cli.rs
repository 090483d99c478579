//! The `tessera` CLI contract on the committed fixtures: reference outputs reproduced
//! exactly, JSON shape, and bad input giving a clear message and a non-zero exit code.

mod adversarial;
mod common;

use common::{bounded, fails_with, fixtures, ok, tessera, tessera_tiny};
use serde_json::Value;

fn json_ok(args: &[&str]) -> Value {
    serde_json::from_slice(&ok(args)).expect("one JSON object on stdout")
}

fn reference_case(file: &str, name: &str) -> Value {
    let text = std::fs::read_to_string(fixtures().join("reference").join(file)).unwrap();
    let v: Value = serde_json::from_str(&text).unwrap();
    v["cases"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == name)
        .cloned()
        .unwrap_or_else(|| panic!("no case {name}"))
}

fn ids_arg(v: &Value) -> String {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.to_string())
        .collect::<Vec<_>>()
        .join(",")
}

fn generated(case: &Value) -> Vec<u64> {
    let prompt_len = case["prompt"][0].as_array().unwrap().len();
    case["output"][0].as_array().unwrap()[prompt_len..]
        .iter()
        .map(|v| v.as_u64().unwrap())
        .collect()
}

fn ids_of(v: &Value) -> Vec<u64> {
    v["ids"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_u64().unwrap())
        .collect()
}

#[test]
fn llada_generate_reproduces_the_reference_with_cfg() {
    let model = fixtures().join("llada-tiny");
    let model = model.to_str().unwrap();
    for name in ["t0_g16_s8_b8", "t0_cfg1.5_g16_s8_b8", "t0_g16_s6_b8_uneven"] {
        let case = reference_case("llada_generate.json", name);
        let prompt = ids_arg(&case["prompt"][0]);
        let (gen_len, steps, block) = (
            case["gen_length"].to_string(),
            case["steps"].to_string(),
            case["block_length"].to_string(),
        );
        let cfg = case["cfg_scale"].to_string();
        let out = json_ok(&[
            "generate",
            "--model",
            model,
            "--prompt-ids",
            &prompt,
            "--gen-length",
            &gen_len,
            "--steps",
            &steps,
            "--block-length",
            &block,
            "--cfg-scale",
            &cfg,
            "--json",
        ]);
        assert_eq!(ids_of(&out), generated(&case), "{name}");
        assert!(out["text"].is_string());
        assert_eq!(
            out["stats"]["nfe"].as_u64().unwrap(),
            case["steps"].as_u64().unwrap()
        );
        assert!(out["stats"]["seconds"].as_f64().unwrap() >= 0.0);
        assert!(out["stats"]["tokens_per_forward"].as_f64().unwrap() > 0.0);
    }
}

#[test]
fn dream_generate_reproduces_the_reference() {
    let model = fixtures().join("dream-tiny");
    let model = model.to_str().unwrap();
    for (name, alg) in [
        ("entropy_g16_s5", "entropy"),
        ("topk_margin_g16_s16", "topk-margin"),
    ] {
        let case = reference_case("dream_generate.json", name);
        let prompt = ids_arg(&case["prompt"][0]);
        let out = json_ok(&[
            "generate",
            "--model",
            model,
            "--prompt-ids",
            &prompt,
            "--gen-length",
            "16",
            "--steps",
            &case["steps"].to_string(),
            "--alg",
            alg,
            "--json",
        ]);
        assert_eq!(ids_of(&out), generated(&case), "{name}");
        assert_eq!(out["family"], "dream");
    }
}

#[test]
fn chat_prompt_equals_the_transformers_rendering() {
    let chat: Value = serde_json::from_str(
        &std::fs::read_to_string(fixtures().join("reference/chat.json")).unwrap(),
    )
    .unwrap();
    let case = chat
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["model"] == "llada-tiny" && c["messages"].as_array().unwrap().len() == 1)
        .unwrap();
    let model = fixtures().join("llada-tiny");
    let model = model.to_str().unwrap();
    let text = case["messages"][0]["content"].as_str().unwrap();
    let common = ["--gen-length", "8", "--steps", "8", "--json"];
    let by_chat = json_ok(
        &[
            &["generate", "--model", model, "--prompt", text, "--chat"][..],
            &common,
        ]
        .concat(),
    );
    let ids = ids_arg(&case["ids"]);
    let by_ids = json_ok(
        &[
            &["generate", "--model", model, "--prompt-ids", &ids][..],
            &common,
        ]
        .concat(),
    );
    assert_eq!(by_chat["ids"], by_ids["ids"]);
}

#[test]
fn inspect_reports_the_model() {
    let model = fixtures().join("dream-tiny");
    let v = json_ok(&["inspect", "--model", model.to_str().unwrap(), "--json"]);
    assert_eq!(v["family"], "dream");
    assert_eq!(v["layers"], 2);
    assert_eq!(v["hidden_size"], 64);
    assert_eq!(v["heads"], 4);
    assert_eq!(v["kv_heads"], 2);
    assert_eq!(v["vocab_size"], 320);
    assert_eq!(v["mask_id"], 319);
    assert_eq!(v["dtype"], "f32");
    assert!(v["parameters"].as_u64().unwrap() > 100_000);
    let text = tessera(&[
        "inspect",
        "--model",
        fixtures().join("llada-tiny").to_str().unwrap(),
    ]);
    let text = String::from_utf8_lossy(&text.stdout);
    for needle in [
        "family          llada",
        "parameters",
        "layers",
        "hidden size",
        "heads",
        "vocabulary",
        "special ids",
        "dtype",
    ] {
        assert!(text.contains(needle), "{needle} missing from {text}");
    }
}

#[test]
fn inspect_shows_a_gguf_files_quantization_and_generate_runs_it() {
    let file = fixtures().join("llada-tiny-gguf/model-q8_0.gguf");
    let file = file.to_str().unwrap();
    let v = json_ok(&["inspect", "--model", file, "--json"]);
    assert_eq!(v["format"], "gguf");
    assert_eq!(v["stored_dtype"], "q8_0");
    assert_eq!(v["tensor_types"], serde_json::json!({"F32": 5, "Q8_0": 16}));
    assert_eq!(v["mask_id"], 299);
    assert_eq!(
        v["tokenizer_vocab_size"], 300,
        "tokenizer.json beside the file"
    );
    let text = tessera(&["inspect", "--model", file]);
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(
        text.contains("weights         gguf: F32 ×5, Q8_0 ×16"),
        "{text}"
    );
    let out = json_ok(&[
        "generate",
        "--model",
        file,
        "--prompt",
        "Hello",
        "--gen-length",
        "8",
        "--steps",
        "8",
        "--json",
    ]);
    assert_eq!(out["ids"].as_array().map(Vec::len), Some(8), "{out}");
    // Quantizing a safetensors model as it loads, and a dtype that does not exist.
    let llada = fixtures().join("llada-tiny");
    let llada = llada.to_str().unwrap();
    let q = [
        "generate",
        "--model",
        llada,
        "--prompt-ids",
        "5,6",
        "--gen-length",
        "8",
    ];
    let out = json_ok(&[&q[..], &["--steps", "8", "--dtype", "q8_0", "--json"]].concat());
    assert_eq!(out["ids"].as_array().map(Vec::len), Some(8), "{out}");
    let bad = tessera(&[&q[..], &["--dtype", "q5k"]].concat());
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("q4k"));
}

#[test]
fn bad_input_is_a_clear_error_with_nonzero_exit() {
    let llada = fixtures().join("llada-tiny");
    let llada = llada.to_str().unwrap();
    let dream = fixtures().join("dream-tiny");
    let dream = dream.to_str().unwrap();
    let base = |extra: &[&'static str]| -> Vec<String> {
        let mut v: Vec<String> = [
            "generate",
            "--model",
            llada,
            "--gen-length",
            "16",
            "--steps",
            "8",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        v.extend(extra.iter().map(|s| s.to_string()));
        v
    };
    let run = |v: Vec<String>, needle: &str| {
        fails_with(&v.iter().map(String::as_str).collect::<Vec<_>>(), needle)
    };
    run(
        base(&["--prompt-ids", "1,2,4000"]),
        "outside the model's vocabulary",
    );
    run(
        base(&["--prompt-ids", "1,2", "--block-length", "5"]),
        "block-length",
    );
    fails_with(
        &[
            "generate",
            "--model",
            llada,
            "--prompt-ids",
            "1",
            "--gen-length",
            "16",
            "--steps",
            "6",
            "--block-length",
            "4",
        ],
        "steps",
    );
    run(base(&["--prompt", ""]), "prompt");
    run(base(&["--prompt-ids", "1,2", "--top-p", "0"]), "top-p");
    run(base(&["--prompt-ids", "1,2", "--top-k", "0"]), "top-k");
    run(
        base(&["--prompt-ids", "1,2", "--temperature", "-1"]),
        "temperature",
    );
    fails_with(
        &[
            "generate",
            "--model",
            dream,
            "--prompt-ids",
            "1",
            "--gen-length",
            "8",
            "--steps",
            "4",
            "--sampler",
            "llada",
            "--eps",
            "0.01",
        ],
        "is not an option of the llada preset",
    );
    fails_with(
        &[
            "generate",
            "--model",
            dream,
            "--prompt-ids",
            "1",
            "--gen-length",
            "8",
            "--alg",
            "entropy",
            "--remasking",
            "margin",
        ],
        "give `alg` or `remasking`",
    );
    fails_with(
        &[
            "generate",
            "--model",
            dream,
            "--prompt-ids",
            "1",
            "--gen-length",
            "8",
            "--steps",
            "4",
            "--top-p",
            "1.5",
        ],
        "top-p",
    );
    fails_with(
        &[
            "generate",
            "--model",
            llada,
            "--prompt-ids",
            "1",
            "--gen-length",
            "1024",
            "--steps",
            "1024",
        ],
        "maximum length",
    );
    fails_with(
        &[
            "generate",
            "--model",
            "/nonexistent/model",
            "--prompt",
            "x",
            "--gen-length",
            "8",
            "--steps",
            "8",
        ],
        "config.json",
    );
    fails_with(
        &[
            "generate",
            "--model",
            llada,
            "--gen-length",
            "8",
            "--steps",
            "8",
        ],
        "--prompt",
    );
    fails_with(
        &[
            "generate",
            "--model",
            llada,
            "--prompt-ids",
            "1,x",
            "--gen-length",
            "8",
            "--steps",
            "8",
        ],
        "prompt-ids",
    );
    fails_with(
        &[
            "generate",
            "--model",
            llada,
            "--prompt-ids",
            "1",
            "--gen-length",
            "8",
            "--steps",
            "8",
            "--device",
            "cuda",
        ],
        "cuda",
    );
}

/// Requests that once wrapped, allocated without bound or hung: each is now a named error,
/// under a 2 GiB address-space cap and a 60 s timeout (exit 124 = timed out).
#[test]
fn hostile_requests_are_refused_within_bounds() {
    let llada = fixtures().join("llada-tiny");
    let llada = llada.to_str().unwrap();
    let cases: &[(&[&str], &str)] = &[
        (
            &[
                "--segment",
                "8:diffusion",
                "--segment",
                "18446744073709551610:ar",
            ],
            "segments",
        ),
        (&["--gen-length", "18446744073709551615"], "steps"),
        (
            &["--gen-length", "18446744073709551615", "--steps", "4"],
            "max_canvas",
        ),
        (
            &["--segment", "18446744073709551615:diffusion:1"],
            "max_canvas",
        ),
        (
            &["--gen-length", "16", "--steps", "1000000000"],
            "max_steps",
        ),
        (
            &["--gen-length", "16", "--remask", "refine:1000000000:0.5"],
            "max_rounds",
        ),
        (
            &[
                "--gen-length",
                "16",
                "--steps",
                "100000000",
                "--sampler",
                "dream",
            ],
            "max_steps",
        ),
        (
            &[
                "--gen-length",
                "16",
                "--expand",
                "--max-length",
                "99999999999",
                "--block-length",
                "8",
            ],
            "max_canvas",
        ),
        (&["--gen-length", "64", "--max-canvas", "32"], "max_canvas"),
    ];
    for (extra, needle) in cases {
        let mut args = vec!["generate", "--model", llada, "--prompt-ids", "1,2,3"];
        args.extend_from_slice(extra);
        let out = bounded(&args, 2048, 60);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_ne!(out.status.code(), Some(124), "{extra:?} timed out");
        assert!(!out.status.success(), "{extra:?} should fail");
        assert!(stderr.contains(needle), "{extra:?}: {stderr}");
        assert!(!stderr.contains("panicked"), "{extra:?}: {stderr}");
    }
    // A prompt holding the mask id is refused (infilling is not a prompt), not decoded into
    // an answer with holes.
    let mask = "299,299,299";
    let out = bounded(
        &[
            "generate",
            "--model",
            llada,
            "--prompt-ids",
            mask,
            "--gen-length",
            "8",
        ],
        2048,
        60,
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && stderr.contains("mask id"),
        "{stderr}"
    );
    // More steps than tokens is legal and costs nothing once the tokens are decoded.
    let out = bounded(
        &[
            "generate",
            "--model",
            llada,
            "--prompt-ids",
            "1,2,3",
            "--gen-length",
            "8",
            "--steps",
            "1000000000",
            "--max-steps",
            "1000000000",
            "--json",
        ],
        2048,
        60,
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Flags the model or task would not use are refused by name, never silently dropped.
#[test]
fn flags_that_do_not_apply_are_refused_by_name() {
    let mmada = fixtures().join("mmada-tiny");
    let mmada = mmada.to_str().unwrap();
    let llada = fixtures().join("llada-tiny");
    let llada = llada.to_str().unwrap();
    let tiny = tessera_tiny();
    let tiny = tiny.to_str().unwrap();
    let cases: &[(&[&str], &str)] = &[
        (
            &["--model", tiny, "--prompt", "1+1=", "--vq", "/nonexistent"],
            "`--vq`",
        ),
        (
            &["--model", tiny, "--prompt", "1+1=", "--text-length", "4"],
            "`--text-length`",
        ),
        (
            &["--model", tiny, "--prompt", "1+1=", "--question", "why"],
            "`--question`",
        ),
        (&["--model", tiny, "--prompt", "1+1=", "--chat"], "`--chat`"),
        (
            &["--model", tiny, "--prompt", "1+1=", "--image", "x.png"],
            "`--image`",
        ),
        (
            &["--model", tiny, "--prompt", "1+1=", "--annealing", "mmada"],
            "`--annealing`",
        ),
        (
            &[
                "--model",
                tiny,
                "--task",
                "t2i",
                "--prompt",
                "a red circle",
                "-o",
                "x.wav",
            ],
            "writes a .png",
        ),
        (
            &[
                "--model", tiny, "--task", "t2a", "--prompt", "C4", "-o", "x.png",
            ],
            "writes a .wav",
        ),
        (
            &[
                "--model",
                llada,
                "--prompt-ids",
                "1,2",
                "--annealing",
                "maskgit",
            ],
            "`--annealing`",
        ),
        (
            &["--model", llada, "--prompt-ids", "1,2", "-o", "x.png"],
            "`-o/--output`",
        ),
        (
            &[
                "--model", mmada, "--task", "t2i", "--prompt", "x", "--policy", "ar", "--json",
            ],
            "`--policy`",
        ),
    ];
    for (args, needle) in cases {
        let mut all = vec!["generate"];
        all.extend_from_slice(args);
        fails_with(&all, needle);
    }
}
