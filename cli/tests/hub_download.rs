//! Downloading models by Hub id (`hub` feature) against a fake Hugging Face Hub on
//! 127.0.0.1: what `hf-hub`'s blocking client asks for (`GET /{repo}/resolve/{rev}/{file}`
//! with a `Range`, answered with `etag`, `x-repo-commit` and `Content-Range`), the files
//! landing in a Hub cache that offline resolution then finds, and the typed errors for
//! files the Hub lacks.
#![cfg(feature = "hub")]

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex};

use tessera::{Engine, Error, ModelDownload, resolve_model_in};

/// The commit every file of the fake Hub is served at.
const COMMIT: &str = "5e1f0c0ffee0000000000000000000000000cafe";

/// Each request's target and `Authorization` header, in order.
type Seen = Mutex<Vec<(String, Option<String>)>>;

/// A fake Hub serving `files` (`"{repo}/resolve/{rev}/{file}"` → bytes) and recording each
/// request's target and `Authorization` header.
struct FakeHub {
    url: String,
    seen: Arc<Seen>,
}

impl FakeHub {
    fn start(files: HashMap<String, Vec<u8>>) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let seen = Arc::new(Mutex::new(Vec::new()));
        let files = Arc::new(files);
        let log = Arc::clone(&seen);
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let (files, log) = (Arc::clone(&files), Arc::clone(&log));
                std::thread::spawn(move || serve(stream, &files, &log));
            }
        });
        Self { url, seen }
    }

    fn requests(&self) -> Vec<(String, Option<String>)> {
        self.seen.lock().unwrap().clone()
    }
}

/// Answers one request, then closes the connection.
fn serve(stream: TcpStream, files: &HashMap<String, Vec<u8>>, log: &Seen) {
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut line = String::new();
    reader.read_line(&mut line).unwrap();
    let target = line.split_whitespace().nth(1).unwrap_or("/").to_string();
    let (mut range, mut auth) = (None, None);
    loop {
        let mut header = String::new();
        if reader.read_line(&mut header).unwrap() == 0 || header.trim().is_empty() {
            break;
        }
        let (name, value) = header.split_once(':').unwrap();
        match name.trim().to_ascii_lowercase().as_str() {
            "range" => range = Some(value.trim().to_string()),
            "authorization" => auth = Some(value.trim().to_string()),
            _ => {}
        }
    }
    log.lock().unwrap().push((target.clone(), auth));
    let mut out = stream;
    let Some(body) = files.get(target.trim_start_matches('/')) else {
        // `connection: close` as on every answer: the server closes after one request, and
        // a client that pooled the connection would otherwise reuse it into a reset.
        let _ = out
            .write_all(b"HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\nconnection: close\r\n\r\n");
        return;
    };
    // `bytes=START-` or `bytes=START-END`, as the client sends them.
    let (start, end) = range
        .as_deref()
        .and_then(|r| r.strip_prefix("bytes="))
        .and_then(|r| r.split_once('-'))
        .map(|(a, b)| {
            let last = body.len().saturating_sub(1);
            let end = b.parse().map_or(last, |e: usize| e.min(last));
            (a.parse().unwrap_or(0), end)
        })
        .unwrap_or((0, body.len().saturating_sub(1)));
    let part = body.get(start..=end).unwrap_or(&[]);
    let head = format!(
        "HTTP/1.1 206 Partial Content\r\netag: \"{etag:016x}\"\r\nx-repo-commit: {COMMIT}\r\n\
         content-range: bytes {start}-{end}/{len}\r\ncontent-length: {n}\r\n\
         connection: close\r\n\r\n",
        etag = fnv(body),
        len = body.len(),
        n = part.len(),
    );
    let _ = out
        .write_all(head.as_bytes())
        .and_then(|()| out.write_all(part));
}

/// A content hash standing in for the Hub's etags (a blob's name in the cache).
fn fnv(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf29ce484222325, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x100000001b3)
    })
}

/// The files of `dir` named `names`, served as `repo` at `revision`.
fn repo_files(repo: &str, revision: &str, dir: &Path, names: &[&str]) -> HashMap<String, Vec<u8>> {
    names
        .iter()
        .map(|name| {
            let bytes = std::fs::read(dir.join(name)).unwrap();
            (format!("{repo}/resolve/{revision}/{name}"), bytes)
        })
        .collect()
}

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// An empty scratch folder for one test.
fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("tessera-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn reason(err: Error) -> String {
    match err {
        Error::InvalidRequest { field, reason } => {
            assert_eq!(field, "model", "{reason}");
            reason
        }
        other => panic!("expected an invalid `model`, got {other:?}"),
    }
}

const LLADA_TINY: [&str; 7] = [
    "config.json",
    "generation_config.json",
    "tokenizer.json",
    "tokenizer_config.json",
    "model.safetensors.index.json",
    "model-00001-of-00002.safetensors",
    "model-00002-of-00002.safetensors",
];

#[test]
fn a_sharded_model_downloads_into_the_cache_and_loads() {
    let fixture = root().join("tests/fixtures/llada-tiny");
    let hub = FakeHub::start(repo_files(
        "GSAI-ML/llada-tiny",
        "main",
        &fixture,
        &LLADA_TINY,
    ));
    let cache = scratch("hub-sharded");
    let dir = ModelDownload::from_env()
        .cache(&cache)
        .endpoint(&hub.url)
        .token(Some("hf_test".into()))
        .fetch("GSAI-ML/llada-tiny")
        .unwrap();
    assert_eq!(dir, resolve_model_in("GSAI-ML/llada-tiny", &cache).unwrap());
    assert!(
        dir.ends_with(Path::new("snapshots").join(COMMIT)),
        "{dir:?}"
    );
    for name in LLADA_TINY {
        let got = std::fs::read(dir.join(name)).unwrap();
        assert_eq!(got, std::fs::read(fixture.join(name)).unwrap(), "{name}");
    }
    let requests = hub.requests();
    assert!(
        requests
            .iter()
            .all(|(_, auth)| auth.as_deref() == Some("Bearer hf_test")),
        "{requests:?}"
    );
    let engine = Engine::load(&dir).unwrap();
    let direct = Engine::load(&fixture).unwrap();
    assert_eq!(engine.info().parameters, direct.info().parameters);
    assert!(engine.tokenizer().is_some());

    // Again: the weights are in the cache and are not fetched a second time.
    let before = hub.requests().len();
    ModelDownload::from_env()
        .cache(&cache)
        .endpoint(&hub.url)
        .fetch("GSAI-ML/llada-tiny")
        .unwrap();
    let again: Vec<String> = hub.requests()[before..]
        .iter()
        .map(|(t, _)| t.clone())
        .collect();
    assert!(
        again.iter().all(|t| !t.ends_with("-of-00002.safetensors")),
        "{again:?}"
    );
    std::fs::remove_dir_all(&cache).unwrap();
}

#[test]
fn a_world_model_at_a_revision_downloads_through_the_cli_and_resolves_by_name() {
    let names = [
        "config.json",
        "tokenizer.json",
        "model.safetensors",
        "image-vq/config.json",
        "image-vq/model.safetensors",
        "audio-vq/config.json",
        "audio-vq/model.safetensors",
    ];
    let model = root().join("models/tessera-tiny");
    let hub = FakeHub::start(repo_files("tessera/tiny", "v1", &model, &names));
    let cache = scratch("hub-cli");
    let tessera = |args: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_tessera"))
            .args(args)
            .env("HF_ENDPOINT", &hub.url)
            .env("HF_HUB_CACHE", &cache)
            .env_remove("HF_TOKEN")
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr).to_string();
        assert!(out.status.success(), "tessera {args:?}: {stderr}");
        String::from_utf8(out.stdout).unwrap()
    };
    let printed = tessera(&["download", "tessera/tiny@v1"]);
    let dir = resolve_model_in("tessera/tiny@v1", &cache).unwrap();
    assert_eq!(printed.trim(), dir.to_str().unwrap());
    for name in names {
        assert!(dir.join(name).is_file(), "{name}");
    }
    // `--model ID` finds it in $HF_HUB_CACHE, offline.
    let info: serde_json::Value = serde_json::from_str(&tessera(&[
        "inspect",
        "--model",
        "tessera/tiny@v1",
        "--json",
    ]))
    .unwrap();
    let direct = Engine::load(&model).unwrap();
    assert_eq!(info["parameters"], direct.info().parameters);
    std::fs::remove_dir_all(&cache).unwrap();
}

#[test]
fn files_the_hub_lacks_are_typed_errors_naming_the_file() {
    let fixture = root().join("tests/fixtures/llada-tiny");
    let cache = scratch("hub-missing");
    let fetch = |files: HashMap<String, Vec<u8>>| {
        // A fresh cache each time: the fake Hub serves different files at one commit.
        let _ = std::fs::remove_dir_all(&cache);
        let hub = FakeHub::start(files);
        let got = ModelDownload::from_env()
            .cache(&cache)
            .endpoint(&hub.url)
            .fetch("GSAI-ML/llada-tiny");
        reason(got.unwrap_err())
    };
    let repo = |names: &[&str]| repo_files("GSAI-ML/llada-tiny", "main", &fixture, names);

    let no_config = fetch(repo(&LLADA_TINY[1..]));
    assert!(
        no_config.contains("config.json") && no_config.contains("404"),
        "{no_config}"
    );
    let no_weights = fetch(repo(&LLADA_TINY[..4]));
    assert!(no_weights.contains("model.safetensors"), "{no_weights}");
    let no_shard = fetch(repo(&LLADA_TINY[..6]));
    assert!(
        no_shard.contains("model-00002-of-00002.safetensors"),
        "{no_shard}"
    );

    // An index naming a shard outside the snapshot folder is refused before any fetch.
    let mut evil = repo(&LLADA_TINY[..4]);
    evil.insert(
        "GSAI-ML/llada-tiny/resolve/main/model.safetensors.index.json".into(),
        br#"{"weight_map": {"w": "../../evil.safetensors"}}"#.to_vec(),
    );
    let escaped = fetch(evil);
    assert!(
        escaped.contains("not a plain file name") && escaped.contains("evil"),
        "{escaped}"
    );
    std::fs::remove_dir_all(&cache).unwrap();
}
