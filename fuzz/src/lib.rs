//! Tessera's fuzz targets: every reader of untrusted input as a function of bytes.
//!
//! A target must return for every input — a typed error is fine, a panic, a hang or an
//! allocation beyond the readers' limits is a finding. Two drivers run them:
//!
//! - `fuzz/afl` (outside the workspace; `scripts/fuzz.sh`): coverage-guided campaigns with
//!   AFL++ through `cargo-afl` on stable Rust, under a memory and a time cap per input. Their
//!   minimised corpora land in `fuzz/corpus/<target>/`, crash inputs in
//!   `fuzz/crashes/<target>/`.
//! - This crate's tests (`cargo test -p tessera-fuzz`, part of `.ci/run`): every committed
//!   corpus and crash input replayed, then a short bounded random pass per target (mutations
//!   of the corpus from a fixed seed).
//!
//! | target | input | reader |
//! |---|---|---|
//! | `safetensors` | a `model.safetensors` beside a fixed config | `Backbone::load` (header, offsets, dtypes, shapes) |
//! | `index` | a `model.safetensors.index.json` beside real shards | `Backbone::load` (shard paths, duplicates) |
//! | `config` | `config.json` text | `ModelConfig::from_json` (every family) |
//! | `generation_config` | a `generation_config.json` beside a real checkpoint | `Backbone::load` |
//! | `tokenizer` | `tokenizer.json` | `TextTokenizer::from_dir`, then encode/decode |
//! | `chat_template` | a Jinja chat template | `ChatTemplate::new` + `render` |
//! | `image` | PNG/JPEG bytes | `decode_image_with` + `prepare_image_with` |
//! | `audio` | WAV/FLAC/MP3/OGG bytes | `decode_bytes_with` + `resample_with` |
//! | `options` | one option spelling | every CLI option parser (segments, remask, unmask, …) |
//! | `request` | a JSON request body | `GenerateRequest` / `DecodeOptions` / `Limits`, validated by an `Engine` |

mod mutate;

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

pub use mutate::Mutator;

/// Every target, by name.
pub const TARGETS: [&str; 10] = [
    "safetensors",
    "index",
    "config",
    "generation_config",
    "tokenizer",
    "chat_template",
    "image",
    "audio",
    "options",
    "request",
];

/// Runs target `name` on `data`; `false` for an unknown target name.
pub fn run(name: &str, data: &[u8]) -> bool {
    match name {
        "safetensors" => safetensors(data),
        "index" => index(data),
        "config" => config(data),
        "generation_config" => generation_config(data),
        "tokenizer" => tokenizer(data),
        "chat_template" => chat_template(data),
        "image" => image(data),
        "audio" => audio(data),
        "options" => options(data),
        "request" => request(data),
        _ => return false,
    }
    true
}

/// The repository's test fixtures.
fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures")
}

/// A scratch folder of this thread for `target`, holding `seed`'s files (copied once). Per
/// thread: a file rewritten while another thread's loader has it memory-mapped would fault.
fn scratch(target: &str, seed: &[&str]) -> PathBuf {
    let thread = format!("{:?}", std::thread::current().id());
    let thread: String = thread.chars().filter(char::is_ascii_digit).collect();
    let dir = std::env::temp_dir().join(format!(
        "tessera-fuzz-{}-{thread}-{target}",
        std::process::id()
    ));
    if !dir.exists() {
        let _ = std::fs::create_dir_all(&dir);
        for name in seed {
            let _ = std::fs::copy(fixtures().join("llada-tiny").join(name), dir.join(name));
        }
    }
    dir
}

/// Writes `data` as `file` into `dir` and loads the checkpoint there.
fn load_with(dir: &Path, file: &str, data: &[u8]) {
    if std::fs::write(dir.join(file), data).is_ok() {
        let _ = tessera_backbone::Backbone::load(dir);
    }
}

fn safetensors(data: &[u8]) {
    let dir = scratch("safetensors", &["config.json"]);
    load_with(&dir, "model.safetensors", data);
}

fn index(data: &[u8]) {
    let dir = scratch(
        "index",
        &[
            "config.json",
            "model-00001-of-00002.safetensors",
            "model-00002-of-00002.safetensors",
        ],
    );
    load_with(&dir, "model.safetensors.index.json", data);
}

fn generation_config(data: &[u8]) {
    let dir = scratch(
        "generation_config",
        &[
            "config.json",
            "model.safetensors.index.json",
            "model-00001-of-00002.safetensors",
            "model-00002-of-00002.safetensors",
        ],
    );
    load_with(&dir, "generation_config.json", data);
}

fn config(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    if let Ok(c) = tessera_backbone::ModelConfig::from_json(&text, Path::new("config.json")) {
        let _ = c.family();
    }
}

fn tokenizer(data: &[u8]) {
    let dir = scratch("tokenizer", &[]);
    if std::fs::write(dir.join("tokenizer.json"), data).is_ok()
        && let Ok(t) = tessera_modalities::TextTokenizer::from_dir(&dir)
        && let Ok(ids) = t.encode("Hello, world! 123")
    {
        let _ = t.decode(&ids, true);
    }
}

fn chat_template(data: &[u8]) {
    use tessera_modalities::{ChatMessage, ChatTemplate};
    let source = String::from_utf8_lossy(data);
    if let Ok(t) = ChatTemplate::new(&source, Some("<s>".into()), Some("</s>".into())) {
        let messages = [
            ChatMessage::new("system", "Be brief."),
            ChatMessage::user("Hello"),
        ];
        let _ = t.render(&messages, true);
    }
}

fn image(data: &[u8]) {
    use tessera_modalities::image::{
        ImageLimits, ResizeFilter, decode_image_with, prepare_image_with,
    };
    // Tighter than the defaults so one input stays well inside a 2 GiB fuzzing cap.
    let limits = ImageLimits::default()
        .with_max_pixels(1 << 22)
        .with_max_file_bytes(1 << 22);
    if let Ok(img) = decode_image_with(data, &limits) {
        let _ = prepare_image_with(&img, 64, 64, ResizeFilter::Bicubic, &limits);
    }
}

fn audio(data: &[u8]) {
    use tessera_modalities::audio::{AudioLimits, decode_bytes_with, resample_with};
    let limits = AudioLimits::with_max_duration_s(30.0).with_max_file_bytes(1 << 22);
    if let Ok(pcm) = decode_bytes_with(data.to_vec(), None, &limits) {
        let _ = resample_with(&pcm, 16_000, &limits);
    }
}

fn options(data: &[u8]) {
    use tessera::{
        CacheMode, Draw, DreamAlg, Policy, Remask, Remasking, Schedule, Segment, Unmask,
    };
    let s = String::from_utf8_lossy(data);
    let _ = Segment::parse(&s);
    let _ = Remask::parse(&s);
    let _ = Unmask::parse(&s);
    let _ = Schedule::parse(&s);
    let _ = CacheMode::parse(&s);
    let _ = Policy::parse(&s);
    let _ = DreamAlg::parse(&s);
    let _ = Draw::parse(&s);
    let _ = Remasking::parse(&s);
    let _ = tessera::Annealing::parse(&s);
    let _ = tessera::SamplerKind::parse(&s);
}

/// The engine requests are validated against (llada-tiny, loaded once per process).
fn engine() -> Option<&'static tessera::Engine> {
    static ENGINE: OnceLock<Option<tessera::Engine>> = OnceLock::new();
    ENGINE
        .get_or_init(|| tessera::Engine::load(fixtures().join("llada-tiny")).ok())
        .as_ref()
}

fn request(data: &[u8]) {
    let _ = serde_json::from_slice::<tessera::Limits>(data);
    let _ = serde_json::from_slice::<tessera::DecodeOptions>(data);
    if let (Ok(req), Some(engine)) = (
        serde_json::from_slice::<tessera::GenerateRequest>(data),
        engine(),
    ) {
        // Everything is checked when the decoding starts; nothing runs a forward here.
        let _ = engine.generate_decoding(&req);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inputs(kind: &str, target: &str) -> Vec<(PathBuf, Vec<u8>)> {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join(kind)
            .join(target);
        let Ok(entries) = std::fs::read_dir(&dir) else {
            return Vec::new();
        };
        let mut files: Vec<(PathBuf, Vec<u8>)> = entries
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| p.is_file() && p.file_name().is_some_and(|n| n != ".gitkeep"))
            .filter_map(|p| std::fs::read(&p).ok().map(|d| (p, d)))
            .collect();
        files.sort();
        files
    }

    #[test]
    fn every_corpus_and_crash_input_replays_without_a_panic() {
        for target in TARGETS {
            let corpus = inputs("corpus", target);
            assert!(!corpus.is_empty(), "{target} has no corpus");
            for (path, data) in corpus.iter().chain(&inputs("crashes", target)) {
                let started = std::time::Instant::now();
                if std::env::var_os("TESSERA_FUZZ_TRACE").is_some() {
                    eprintln!("{target} {}", path.display());
                }
                assert!(run(target, data));
                assert!(
                    started.elapsed().as_secs() < 20,
                    "{target}: {} took {:?}",
                    path.display(),
                    started.elapsed()
                );
            }
        }
    }

    #[test]
    fn a_bounded_random_pass_per_target_finds_nothing() {
        // A few seconds in all: mutations of each corpus from a fixed seed.
        for target in TARGETS {
            let corpus: Vec<Vec<u8>> = inputs("corpus", target)
                .into_iter()
                .map(|(_, d)| d)
                .collect();
            let mut m = Mutator::new(0x7e55_e4a0 ^ target.len() as u64);
            let runs = if matches!(target, "index" | "generation_config" | "request") {
                20
            } else {
                120
            };
            for _ in 0..runs {
                let input = m.mutate(&corpus);
                let outcome = std::panic::catch_unwind(|| run(target, &input));
                if outcome.is_err() {
                    // Keep the finding as a regression input, to commit with its fix.
                    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
                        .join("crashes")
                        .join(target);
                    let name = format!("random-{:016x}", fnv(&input));
                    let _ = std::fs::write(dir.join(&name), &input);
                    panic!("{target} panicked; the input is fuzz/crashes/{target}/{name}");
                }
            }
        }
    }

    /// FNV-1a, to name a finding by its content.
    fn fnv(data: &[u8]) -> u64 {
        data.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
            (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
        })
    }

    #[test]
    fn unknown_targets_are_refused() {
        assert!(!run("nope", b""));
    }
}
