//! Forged and corrupted checkpoints, built on the fly from copies of the fixtures: shard names
//! that leave the model folder, safetensors headers that lie (duplicate keys, overlapping or
//! gapped offsets, wrong byte counts, truncation, oversized lengths), configs whose values make
//! no sense, and NaN weights. Each is a typed error naming what is wrong, and the untouched
//! copy still loads.

mod common;

use std::fs;
use std::path::{Path, PathBuf};

use common::{TempDir, fixture, with_attention};
use serde_json::{Map, Value, json};
use tessera::hybrid::DenoiseInput;
use tessera::{DecodeOptions, Engine, Error, GenerateRequest, Prompt};
use tessera_backbone::{Backbone, ForwardError, LoadError, Stage};

/// A safetensors file: its JSON header and its data section.
#[derive(Clone)]
struct Safetensors {
    header: Map<String, Value>,
    data: Vec<u8>,
}

impl Safetensors {
    fn read(path: &Path) -> Self {
        let bytes = fs::read(path).unwrap();
        let n = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
        let header = serde_json::from_slice(&bytes[8..8 + n]).unwrap();
        Safetensors {
            header,
            data: bytes[8 + n..].to_vec(),
        }
    }

    /// Writes the file with its header as serialized JSON.
    fn write(&self, path: &Path) {
        write_safetensors(
            path,
            &Value::Object(self.header.clone()).to_string(),
            &self.data,
        );
    }

    /// Tensor names sorted by their start offset.
    fn by_offset(&self) -> Vec<String> {
        let mut names: Vec<String> = self
            .header
            .keys()
            .filter(|k| *k != "__metadata__")
            .cloned()
            .collect();
        names.sort_by_key(|n| self.offsets(n));
        names
    }

    fn offsets(&self, name: &str) -> (u64, u64) {
        let o = &self.header[name]["data_offsets"];
        (o[0].as_u64().unwrap(), o[1].as_u64().unwrap())
    }

    fn set_offsets(&mut self, name: &str, start: u64, end: u64) {
        self.header[name]["data_offsets"] = json!([start, end]);
    }
}

/// A safetensors file by hand: 8-byte little-endian header length, the header text as given
/// (so it may say anything, duplicate keys included), then the data.
fn write_safetensors(path: &Path, header: &str, data: &[u8]) {
    let mut bytes = (header.len() as u64).to_le_bytes().to_vec();
    bytes.extend_from_slice(header.as_bytes());
    bytes.extend_from_slice(data);
    fs::write(path, bytes).unwrap();
}

/// A real copy (no links) of fixture `name` in `to`.
fn copy_fixture(name: &str, to: &Path) {
    fs::create_dir_all(to).unwrap();
    for entry in fs::read_dir(fixture(name)).unwrap() {
        let entry = entry.unwrap();
        fs::copy(entry.path(), to.join(entry.file_name())).unwrap();
    }
}

fn edit_config(dir: &Path, f: impl FnOnce(&mut Value)) {
    let path = dir.join("config.json");
    let mut v: Value = serde_json::from_str(&fs::read_to_string(&path).unwrap()).unwrap();
    f(&mut v);
    fs::write(path, v.to_string()).unwrap();
}

/// Points every tensor of `shard` in the index of `dir` at `name` instead.
fn rename_shard(dir: &Path, shard: &str, name: &str) {
    let path = dir.join("model.safetensors.index.json");
    let mut index: Value = serde_json::from_str(&fs::read_to_string(&path).unwrap()).unwrap();
    for file in index["weight_map"].as_object_mut().unwrap().values_mut() {
        if file == shard {
            *file = name.into();
        }
    }
    fs::write(path, index.to_string()).unwrap();
}

/// Logits of a short fixed input, to compare loads.
fn logits(model: &Backbone) -> Vec<f32> {
    model
        .logits(&DenoiseInput::new(&[5, 17, 40, 77], 4, &[1, 3]))
        .unwrap()
        .as_slice()
        .to_vec()
}

const SHARD1: &str = "model-00001-of-00002.safetensors";
const SHARD2: &str = "model-00002-of-00002.safetensors";

#[test]
fn untouched_and_rewritten_copies_load_as_the_fixtures_do() {
    for name in ["llada-tiny", "dream-tiny"] {
        let reference = logits(&Backbone::load(fixture(name)).unwrap());
        let dir = TempDir::new(&format!("untouched-{name}"));
        copy_fixture(name, &dir.0);
        assert_eq!(logits(&Backbone::load(&dir.0).unwrap()), reference);
        // Files written by this test's own writer are valid when nothing is corrupted.
        for entry in fs::read_dir(&dir.0).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e == "safetensors") {
                Safetensors::read(&path).write(&path);
            }
        }
        assert_eq!(logits(&Backbone::load(&dir.0).unwrap()), reference);
    }
    // A folder of links into another folder (every file, the index included), as the
    // Hugging Face hub cache lays out a snapshot, still loads.
    let linked = with_attention("llada-tiny", "full");
    let reference = logits(&Backbone::load(fixture("llada-tiny")).unwrap());
    assert_eq!(logits(&Backbone::load(&linked.0).unwrap()), reference);
}

#[test]
fn shard_names_must_stay_inside_the_model_folder() {
    let root = TempDir::new("confined");
    let model = root.0.join("model");
    copy_fixture("llada-tiny", &model);
    // A valid shard outside the folder (which would load if it were reachable), and a secret.
    let outside = root.0.join("outside.safetensors");
    fs::copy(model.join(SHARD2), &outside).unwrap();
    let secret = root.0.join("secret.txt");
    fs::write(&secret, "TOP-SECRET-CONTENT ".repeat(8)).unwrap();
    let absolute = |p: &PathBuf| p.to_str().unwrap().to_string();
    for (bad, why) in [
        ("../outside.safetensors".to_string(), ".."),
        ("sub/../../outside.safetensors".to_string(), ".."),
        ("../secret.txt".to_string(), ".."),
        (absolute(&outside), "absolute"),
        (absolute(&secret), "absolute"),
        ("/etc/passwd".to_string(), "absolute"),
    ] {
        rename_shard(&model, SHARD2, &bad);
        match Backbone::load(&model) {
            Err(e @ LoadError::ShardPath { .. }) => {
                let message = e.to_string();
                assert!(message.contains(why), "{message}");
                assert!(!message.contains("TOP-SECRET"), "{message}");
                let LoadError::ShardPath { shard, index, .. } = e else {
                    unreachable!()
                };
                assert_eq!(shard, bad);
                assert!(index.ends_with("model.safetensors.index.json"));
            }
            other => panic!("expected ShardPath for {bad}, got {other:?}"),
        }
        rename_shard(&model, &bad, SHARD2);
    }
    Backbone::load(&model).expect("the restored index loads");
    // A shard that is a link to a file outside the folder is refused before it is opened.
    fs::remove_file(model.join(SHARD2)).unwrap();
    for target in [&outside, &secret] {
        std::os::unix::fs::symlink(target, model.join(SHARD2)).unwrap();
        match Backbone::load(&model) {
            Err(e @ LoadError::ShardPath { .. }) => {
                let message = e.to_string();
                assert!(message.contains("outside the model folder"), "{message}");
                assert!(!message.contains("TOP-SECRET"), "{message}");
            }
            other => panic!("expected ShardPath for a link to {target:?}, got {other:?}"),
        }
        fs::remove_file(model.join(SHARD2)).unwrap();
    }
    // A link that stays inside the folder is fine.
    fs::create_dir_all(model.join("blobs")).unwrap();
    fs::copy(&outside, model.join("blobs/shard-2")).unwrap();
    std::os::unix::fs::symlink(model.join("blobs/shard-2"), model.join(SHARD2)).unwrap();
    Backbone::load(&model).expect("a link inside the folder loads");
}

#[test]
fn duplicate_keys_and_tensors_are_refused() {
    let dir = TempDir::new("duplicates");
    copy_fixture("dream-tiny", &dir.0);
    let path = dir.0.join("model.safetensors");
    let file = Safetensors::read(&path);
    let names = file.by_offset();
    // The same key twice, once with the offsets of another tensor of the same size: a JSON
    // map would keep one of them silently.
    let (a, b) = (&names[0], &names[1]);
    let text = Value::Object(file.header.clone()).to_string();
    let mut twin = file.header[a].clone();
    twin["data_offsets"] = file.header[b]["data_offsets"].clone();
    twin["shape"] = file.header[b]["shape"].clone();
    let forged = format!("{{{}:{twin},{}", json!(a), &text[1..]);
    write_safetensors(&path, &forged, &file.data);
    match Backbone::load(&dir.0) {
        Err(LoadError::DuplicateKey { key, path }) => {
            assert_eq!(&key, a);
            assert!(path.ends_with("model.safetensors"));
        }
        other => panic!("expected DuplicateKey, got {other:?}"),
    }
    file.write(&path);
    Backbone::load(&dir.0).expect("the restored file loads");
    // The same tensor stored in two shards.
    let dir = TempDir::new("duplicate-shards");
    copy_fixture("llada-tiny", &dir.0);
    let first = Safetensors::read(&dir.0.join(SHARD1));
    let name = first.by_offset()[0].clone();
    let (start, end) = first.offsets(&name);
    let mut second = Safetensors::read(&dir.0.join(SHARD2));
    let at = second.data.len() as u64;
    second
        .header
        .insert(name.clone(), first.header[&name].clone());
    second.set_offsets(&name, at, at + end - start);
    second
        .data
        .extend_from_slice(&first.data[start as usize..end as usize]);
    second.write(&dir.0.join(SHARD2));
    match Backbone::load(&dir.0) {
        Err(LoadError::DuplicateTensor {
            tensor,
            first,
            second,
        }) => {
            assert_eq!(tensor, name);
            assert!(first.ends_with(SHARD1) && second.ends_with(SHARD2));
        }
        other => panic!("expected DuplicateTensor, got {other:?}"),
    }
}

#[test]
fn offsets_must_tile_the_data_section() {
    let dir = TempDir::new("offsets");
    copy_fixture("dream-tiny", &dir.0);
    let path = dir.0.join("model.safetensors");
    let good = Safetensors::read(&path);
    let names = good.by_offset();
    let (prev, next) = (&names[3], &names[4]);
    let (p0, p1) = good.offsets(prev);
    let (n0, n1) = good.offsets(next);
    let load = |file: &Safetensors| {
        file.write(&path);
        Backbone::load(&dir.0).map(|_| ())
    };

    // Overlap: `next` moved 4 bytes back into `prev`.
    let mut file = good.clone();
    file.set_offsets(next, n0 - 4, n1 - 4);
    match load(&file) {
        Err(LoadError::Overlap {
            tensor,
            range,
            other,
            other_range,
            ..
        }) => {
            assert_eq!((&tensor, range), (next, (n0 - 4, n1 - 4)));
            assert_eq!((&other, other_range), (prev, (p0, p1)));
        }
        other => panic!("expected Overlap, got {other:?}"),
    }
    // Out of order and overlapping: `next` placed at the very start of `prev`.
    let mut file = good.clone();
    file.set_offsets(next, p0, p0 + (n1 - n0));
    assert!(matches!(load(&file), Err(LoadError::Overlap { .. })));

    // A gap: 8 unexplained bytes between `prev` and `next`.
    let mut file = good.clone();
    file.data.splice(p1 as usize..p1 as usize, [0u8; 8]);
    for name in &names[4..] {
        let (s, e) = good.offsets(name);
        file.set_offsets(name, s + 8, e + 8);
    }
    match load(&file) {
        Err(LoadError::Gap {
            start, end, after, ..
        }) => {
            assert_eq!((start, end), (p1, p1 + 8));
            assert_eq!(after.as_ref(), Some(prev));
        }
        other => panic!("expected Gap, got {other:?}"),
    }
    // Trailing padding is a gap too.
    let mut file = good.clone();
    file.data.extend_from_slice(&[0; 8]);
    let data_end = good.data.len() as u64;
    match load(&file) {
        Err(LoadError::Gap {
            start, end, after, ..
        }) => {
            assert_eq!((start, end), (data_end, data_end + 8));
            assert_eq!(after.as_ref(), names.last());
        }
        other => panic!("expected a trailing Gap, got {other:?}"),
    }

    // A byte count that does not match dtype × shape, and a shape whose product overflows.
    let vector = names
        .iter()
        .find(|n| good.header[*n]["shape"].as_array().unwrap().len() == 1)
        .unwrap();
    let len = good.header[vector]["shape"][0].as_u64().unwrap();
    let mut file = good.clone();
    file.header[vector]["shape"] = json!([len - 1]);
    match load(&file) {
        Err(e @ LoadError::TensorSize { .. }) => {
            assert!(e.to_string().contains(vector.as_str()), "{e}");
            let LoadError::TensorSize { needed, found, .. } = e else {
                unreachable!()
            };
            assert_eq!((needed, found), (Some(4 * (len - 1)), 4 * len));
        }
        other => panic!("expected TensorSize, got {other:?}"),
    }
    file.header[vector]["shape"] = json!([1u64 << 40, 1u64 << 40]);
    assert!(matches!(
        load(&file),
        Err(LoadError::TensorSize { needed: None, .. })
    ));
    // Reversed offsets.
    let mut file = good.clone();
    file.set_offsets(next, n1, n0);
    assert!(matches!(
        load(&file),
        Err(LoadError::Offsets { start, end, .. }) if (start, end) == (n1, n0)
    ));
    // Offsets past the end of the file: a truncated download.
    let mut file = good.clone();
    file.data.truncate(file.data.len() - 4);
    match load(&file) {
        Err(LoadError::Truncated {
            tensor,
            needed,
            available,
            ..
        }) => {
            assert_eq!(Some(&tensor), names.last());
            assert_eq!(needed, available + 4);
        }
        other => panic!("expected Truncated, got {other:?}"),
    }
    // The untouched file still loads.
    load(&good).expect("the original layout loads");
}

#[test]
fn header_lengths_are_bounded() {
    let dir = TempDir::new("header-length");
    copy_fixture("dream-tiny", &dir.0);
    let path = dir.0.join("model.safetensors");
    for claimed in [200_000_000u64, u64::MAX] {
        let mut bytes = claimed.to_le_bytes().to_vec();
        bytes.extend_from_slice(b"{}");
        fs::write(&path, bytes).unwrap();
        match Backbone::load(&dir.0) {
            Err(LoadError::HeaderTooLarge { len, limit, .. }) => {
                assert_eq!(len, claimed);
                assert_eq!(limit, 100_000_000);
            }
            other => panic!("expected HeaderTooLarge, got {other:?}"),
        }
    }
    // Under the limit but past the end of the file: refused without reading past it.
    let mut bytes = 1000u64.to_le_bytes().to_vec();
    bytes.extend_from_slice(b"{}");
    fs::write(&path, bytes).unwrap();
    assert!(matches!(
        Backbone::load(&dir.0),
        Err(LoadError::Safetensors { .. })
    ));
}

#[test]
fn config_values_must_make_sense() {
    let cases: [(&str, &str, Value); 9] = [
        ("llada-tiny", "rms_norm_eps", json!(-1)),
        ("llada-tiny", "rope_theta", json!(0)),
        ("llada-tiny", "layer_norm_eps", json!(0)),
        ("llada-tiny", "n_heads", json!(0)),
        ("llada-tiny", "max_sequence_length", json!(0)),
        ("dream-tiny", "rms_norm_eps", json!(1e-60)),
        ("dream-tiny", "rope_theta", json!(-1e6)),
        ("dream-tiny", "vocab_size", json!(0)),
        ("dream-tiny", "num_key_value_heads", json!(3)),
    ];
    for (i, (name, field, value)) in cases.into_iter().enumerate() {
        let dir = TempDir::new(&format!("config-{i}"));
        copy_fixture(name, &dir.0);
        edit_config(&dir.0, |v| v[field] = value.clone());
        match Backbone::load(&dir.0) {
            Err(e @ LoadError::Config { .. }) => {
                let message = e.to_string();
                let LoadError::Config { field: named, .. } = e else {
                    unreachable!()
                };
                assert_eq!(named, field, "{message}");
                if field.ends_with("eps") || field == "rope_theta" {
                    assert!(message.contains(&value.to_string()), "{message}");
                }
            }
            other => panic!("expected a config error for {field} = {value}, got {other:?}"),
        }
    }
}

/// Writes `value` as the `element`-th number of tensor `tensor` in the model in `dir`.
fn poison(dir: &Path, tensor: &str, element: usize, value: f32) {
    let index = dir.join("model.safetensors.index.json");
    let file = if index.exists() {
        let index: Value = serde_json::from_str(&fs::read_to_string(index).unwrap()).unwrap();
        index["weight_map"][tensor].as_str().unwrap().to_string()
    } else {
        "model.safetensors".to_string()
    };
    let path = dir.join(file);
    let mut st = Safetensors::read(&path);
    assert_eq!(st.header[tensor]["dtype"], "F32");
    let at = st.offsets(tensor).0 as usize + 4 * element;
    st.data[at..at + 4].copy_from_slice(&value.to_le_bytes());
    st.write(&path);
}

#[test]
fn a_nan_in_the_embedding_ends_generation_with_a_typed_error() {
    let dir = TempDir::new("nan-embedding");
    copy_fixture("llada-tiny", &dir.0);
    let model = Backbone::load(&dir.0).unwrap();
    let (mask, width) = (model.info().mask_id as usize, model.info().hidden_size);
    // One NaN in the mask token's embedding row: every generation step sees it.
    poison(
        &dir.0,
        "model.transformer.wte.weight",
        mask * width,
        f32::NAN,
    );
    let model = Backbone::load(&dir.0).expect("weights are not scanned at load");
    assert!(
        model
            .logits(&DenoiseInput::new(&[5, 17, 40], 3, &[2]))
            .is_ok(),
        "a row without the mask never touches the NaN"
    );
    match model.logits(&DenoiseInput::new(&[5, 17, mask as u32], 3, &[1, 2])) {
        Err(ForwardError::NonFinite {
            stage,
            row,
            position,
            value,
            ..
        }) => {
            assert_eq!(stage, Stage::Embedding);
            assert_eq!((row, position), (0, 1));
            assert!(value.is_nan());
        }
        other => panic!("expected NonFinite, got {other:?}"),
    }
    let engine = Engine::load(&dir.0).unwrap();
    let request = GenerateRequest::new(Prompt::Ids(vec![5, 17, 40]))
        .options(DecodeOptions::new().gen_length(8).steps(8).block_length(8));
    match engine.generate(&request) {
        Err(Error::Forward(e @ ForwardError::NonFinite { .. })) => {
            assert!(e.to_string().contains("the embedding"), "{e}");
        }
        other => panic!("expected a NonFinite forward error, got {other:?}"),
    }
}

#[test]
fn non_finite_outputs_name_the_first_stage_that_went_non_finite() {
    let dir = TempDir::new("nan-stages");
    copy_fixture("dream-tiny", &dir.0);
    let input = DenoiseInput::new(&[5, 17, 40, 77], 4, &[1, 3]);
    poison(
        &dir.0,
        "model.layers.1.mlp.down_proj.weight",
        0,
        f32::INFINITY,
    );
    let model = Backbone::load(&dir.0).unwrap();
    match model.logits(&input) {
        Err(ForwardError::NonFinite { stage, .. }) => assert_eq!(stage, Stage::Block(1)),
        other => panic!("expected NonFinite in block 1, got {other:?}"),
    }
    copy_fixture("dream-tiny", &dir.0);
    poison(&dir.0, "model.norm.weight", 0, f32::NAN);
    let model = Backbone::load(&dir.0).unwrap();
    match model.logits(&input) {
        Err(e @ ForwardError::NonFinite { .. }) => {
            assert!(e.to_string().contains("LM head"), "{e}");
            assert!(matches!(
                e,
                ForwardError::NonFinite {
                    stage: Stage::Head,
                    ..
                }
            ));
        }
        other => panic!("expected NonFinite at the head, got {other:?}"),
    }
}
