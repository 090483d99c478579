//! Fuzzing the audio decode entry point and the tokenizers' decode: random bytes and mutated
//! real files must come back as `Ok` or a typed `AudioError`, never a panic.
//!
//! symphonia is wrapped in `catch_unwind` by the decoder (a debug build of symphonia 0.6.1
//! trips an integer-overflow check on some malformed WAV headers, `wave/chunks.rs`); a
//! thread-local panic hook counts what had to be caught, and each test prints its tally.
//! 256 cases per property by default; set `PROPTEST_CASES` for a longer run.

use std::cell::Cell;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Once, OnceLock};

use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::{Config, TestRunner};
use tessera_modalities::audio::{
    AudioCodes, AudioError, AudioLimits, AudioTokenizer, FrameVq, decode_bytes_with,
};

thread_local! {
    static CAUGHT: Cell<usize> = const { Cell::new(0) };
}
static HOOK: Once = Once::new();

fn install_hook() {
    HOOK.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            CAUGHT.with(|c| c.set(c.get() + 1));
            previous(info);
        }));
    });
}

fn fixture_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures")
}

const FILES: [&str; 5] = [
    "sine440.wav",
    "sine440.mp3",
    "sine440.flac",
    "sine440.ogg",
    "stereo.wav",
];

fn files() -> &'static [Vec<u8>] {
    static DATA: OnceLock<Vec<Vec<u8>>> = OnceLock::new();
    DATA.get_or_init(|| {
        FILES
            .iter()
            .map(|n| std::fs::read(fixture_dir().join("audio").join(n)).unwrap())
            .collect()
    })
}

fn outcome(r: &Result<impl Sized, AudioError>) -> &'static str {
    match r {
        Ok(_) => "ok",
        Err(AudioError::UnsupportedFormat(_)) => "unsupported",
        Err(AudioError::Corrupt(_)) => "corrupt",
        Err(AudioError::Empty) => "empty",
        Err(AudioError::TooLong { .. }) => "too long",
        Err(_) => "other error",
    }
}

/// Runs `cases` inputs from `strategy` through `decode`; an escaping panic fails the test.
fn fuzz<S: Strategy>(name: &str, strategy: S, decode: impl Fn(S::Value) -> &'static str) {
    install_hook();
    let mut runner = TestRunner::new(Config::default());
    let cases = runner.config().cases;
    let mut tally: BTreeMap<&str, usize> = BTreeMap::new();
    let caught_before = CAUGHT.with(Cell::get);
    for _ in 0..cases {
        let value = strategy.new_tree(&mut runner).unwrap().current();
        *tally.entry(decode(value)).or_default() += 1;
    }
    let caught = CAUGHT.with(Cell::get) - caught_before;
    eprintln!("{name}: {cases} cases, {tally:?}, internal panics caught: {caught}");
}

fn decode(bytes: Vec<u8>, ext: Option<&str>) -> &'static str {
    outcome(&decode_bytes_with(
        bytes,
        ext,
        &AudioLimits::with_max_duration_s(30.0),
    ))
}

#[test]
fn random_bytes_never_panic() {
    fuzz(
        "random bytes",
        proptest::collection::vec(any::<u8>(), 0..4096),
        |b| decode(b, None),
    );
}

#[test]
fn headers_with_random_tails_never_panic() {
    let strategy = (
        0..FILES.len(),
        0usize..512,
        proptest::collection::vec(any::<u8>(), 0..2048),
    );
    fuzz("header + random tail", strategy, |(file, keep, tail)| {
        let mut bytes = files()[file].clone();
        bytes.truncate(keep.min(bytes.len()));
        bytes.extend(tail);
        decode(bytes, None)
    });
}

#[test]
fn mutated_files_never_panic() {
    let strategy = (
        0..FILES.len(),
        proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..24),
        any::<prop::sample::Index>(),
        any::<bool>(),
    );
    fuzz("mutated files", strategy, |(file, edits, cut, truncate)| {
        let mut bytes = files()[file].clone();
        for (at, value) in edits {
            let i = at.index(bytes.len());
            bytes[i] = value;
        }
        if truncate {
            bytes.truncate(cut.index(bytes.len()));
        }
        decode(bytes, Some(["wav", "mp3", "flac", "ogg", "wav"][file]))
    });
}

#[test]
fn arbitrary_codes_never_panic() {
    let vq = FrameVq::load(fixture_dir().join("frame-vq-tiny")).unwrap();
    let strategy = (
        proptest::collection::vec(proptest::collection::vec(0u32..80, 0..40), 0..4),
        prop_oneof![Just(16_000u32), any::<u32>()],
    );
    fuzz("frame-VQ codes", strategy, |(rows, rate)| {
        outcome(&vq.decode(&AudioCodes::new(rows, rate)))
    });
}
