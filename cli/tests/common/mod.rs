//! Shared helpers of the CLI tests: run the binary, and check a failure's message.
#![allow(dead_code, unreachable_pub)]

use std::path::PathBuf;
use std::process::{Command, Output};

/// The repository's `tests/fixtures`.
pub fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures")
}

/// Runs `tessera` with `args`.
pub fn tessera(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_tessera"))
        .args(args)
        .output()
        .expect("run tessera")
}

/// Runs `tessera args` under an address-space cap of `mib` MiB and a `secs`-second timeout
/// (`ulimit -v` and coreutils' `timeout`): a request that tries to allocate or run without
/// bound fails here instead of taking the machine down.
pub fn bounded(args: &[&str], mib: u64, secs: u64) -> Output {
    Command::new("timeout")
        .arg(secs.to_string())
        .arg("sh")
        .arg("-c")
        .arg(format!("ulimit -v {}; exec \"$0\" \"$@\"", mib * 1024))
        .arg(env!("CARGO_BIN_EXE_tessera"))
        .args(args)
        .output()
        .expect("run tessera under limits")
}

/// Asserts that `tessera args` fails, without a panic, with `needle` in its stderr.
pub fn fails_with(args: &[&str], needle: &str) {
    let out = tessera(args);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "tessera {args:?} should fail");
    assert!(
        stderr.contains(needle),
        "stderr of {args:?} lacks {needle:?}: {stderr}"
    );
    assert!(!stderr.contains("panicked"), "{stderr}");
}

/// Runs `tessera args`, asserts success, and returns its stdout.
pub fn ok(args: &[&str]) -> Vec<u8> {
    let out = tessera(args);
    assert!(
        out.status.success(),
        "tessera {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// The committed default model.
pub fn tessera_tiny() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../models/tessera-tiny")
}

/// A fresh temporary folder, removed on drop.
pub struct Scratch(pub PathBuf);

impl Scratch {
    /// `$TMPDIR/tessera-{tag}-{pid}`, empty.
    pub fn new(tag: &str) -> Self {
        let p = std::env::temp_dir().join(format!("tessera-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).expect("create scratch folder");
        Scratch(p)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
