//! Shared helpers for the integration tests: fixture paths and reference files.
#![allow(dead_code, unreachable_pub)]

use std::collections::HashMap;
use std::path::PathBuf;

use candle_core::{Device, Tensor};

/// `tests/fixtures/<name>`.
pub fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

/// Loads a reference safetensors file from `tests/fixtures/reference/`.
pub fn reference_tensors(file: &str) -> HashMap<String, Tensor> {
    candle_core::safetensors::load(fixture("reference").join(file), &Device::Cpu)
        .expect("reference file")
}

/// Reads a reference JSON file from `tests/fixtures/reference/`.
pub fn reference_json(file: &str) -> serde_json::Value {
    let text = std::fs::read_to_string(fixture("reference").join(file)).expect("reference json");
    serde_json::from_str(&text).expect("valid json")
}

/// The first prompt row and its generated reference tokens of an LLaDA reference case.
pub fn llada_case(name: &str) -> (Vec<u32>, Vec<u32>) {
    let reference = reference_json("llada_generate.json");
    let case = reference["cases"]
        .as_array()
        .expect("cases")
        .iter()
        .find(|c| c["name"] == name)
        .unwrap_or_else(|| panic!("no case {name}"))
        .clone();
    let prompt = json_rows(&case["prompt"]).remove(0);
    let output = json_rows(&case["output"]).remove(0);
    let generated = output[prompt.len()..].to_vec();
    (prompt, generated)
}

/// The largest absolute difference between two rows of scores.
pub fn max_diff(a: &[f32], b: &[f32]) -> f32 {
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

/// The padding mask `{case}.attention_mask` of a reference logits file, flattened over rows
/// (`None` when the case has no padding).
pub fn reference_mask(refs: &HashMap<String, Tensor>, case: &str) -> Option<Vec<bool>> {
    refs.get(&format!("{case}.attention_mask"))
        .map(|m| ids(m).concat().into_iter().map(|v| v == 1).collect())
}

/// A 2-D integer tensor as rows of `u32`.
pub fn ids(t: &Tensor) -> Vec<Vec<u32>> {
    t.to_dtype(candle_core::DType::I64)
        .unwrap()
        .to_vec2::<i64>()
        .unwrap()
        .into_iter()
        .map(|r| r.into_iter().map(|v| v as u32).collect())
        .collect()
}

/// A JSON array of arrays of integers.
pub fn json_rows(v: &serde_json::Value) -> Vec<Vec<u32>> {
    v.as_array()
        .expect("rows")
        .iter()
        .map(|r| {
            r.as_array()
                .expect("row")
                .iter()
                .map(|x| x.as_u64().expect("id") as u32)
                .collect()
        })
        .collect()
}

/// A temporary directory removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> Self {
        let p = std::env::temp_dir().join(format!(
            "tessera-test-{tag}-{}-{:?}",
            std::process::id(),
            std::thread::current().id()
        ));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).unwrap();
        TempDir(p)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A copy of fixture `name` whose `config.json` declares `attention` (the weights are
/// linked, not copied).
pub fn with_attention(name: &str, attention: &str) -> TempDir {
    let dir = TempDir::new(&format!("{name}-{attention}"));
    std::fs::create_dir_all(&dir.0).expect("temp dir");
    for entry in std::fs::read_dir(fixture(name)).expect("fixture") {
        let path = entry.expect("entry").path();
        let file = path.file_name().expect("file name").to_owned();
        if file == "config.json" {
            let mut config: serde_json::Value =
                serde_json::from_str(&std::fs::read_to_string(&path).expect("config"))
                    .expect("json");
            config["attention"] = attention.into();
            std::fs::write(dir.0.join(file), config.to_string()).expect("write config");
        } else {
            std::os::unix::fs::symlink(&path, dir.0.join(file)).expect("link");
        }
    }
    dir
}
