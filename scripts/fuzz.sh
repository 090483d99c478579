#!/usr/bin/env bash
# Coverage-guided fuzzing of Tessera's input readers with AFL++ through cargo-afl (stable
# Rust; cargo-afl installs from crates.io). Each target (fuzz/src/lib.rs) runs for SECONDS
# under a 2 GiB memory cap and a 5 s per-input timeout; afterwards its queue is minimised
# into fuzz/corpus/<target>/ and any crash input is copied to fuzz/crashes/<target>/, where
# `cargo test -p tessera-fuzz` (and so .ci/run) replays them. Prints each target's
# executions, coverage and findings (record them in docs/FUZZING.md).
#
# usage: scripts/fuzz.sh [SECONDS_PER_TARGET (default 600)] [TARGET ...]
set -euo pipefail
cd "$(dirname "$0")/.."

secs=${1:-600}
shift || true
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
    targets=(safetensors index config generation_config tokenizer chat_template image audio options request)
fi

command -v cargo-afl >/dev/null || cargo install cargo-afl
cargo afl config --build >/dev/null 2>&1 || true
(cd fuzz/afl && CARGO_TARGET_DIR=../../target/afl cargo afl build --release)
bin=target/afl/release/tessera-fuzz-afl

export AFL_SKIP_CPUFREQ=1 AFL_I_DONT_CARE_ABOUT_MISSING_CRASHES=1 AFL_NO_UI=1
mkdir -p target/afl-out target/afl-cmin
for t in "${targets[@]}"; do
    out=target/afl-out/$t
    rm -rf "$out" "target/afl-cmin/$t"
    TESSERA_FUZZ_TARGET=$t timeout $((secs + 60)) \
        cargo afl fuzz -i "fuzz/corpus/$t" -o "$out" -m 2048 -t 5000 -V "$secs" -- "$bin" \
        >"target/afl-$t.log" 2>&1 || true
    stats=$out/default/fuzzer_stats
    if [ -f "$stats" ]; then
        echo "== $t"
        grep -E "^(execs_done|execs_per_sec|corpus_count|bitmap_cvg|saved_crashes|saved_hangs|run_time) " "$stats"
    else
        echo "== $t: no stats (see target/afl-$t.log)"
        continue
    fi
    if TESSERA_FUZZ_TARGET=$t cargo afl cmin -i "$out/default/queue" -o "target/afl-cmin/$t" \
        -m 2048 -t 5000 -- "$bin" >/dev/null 2>&1; then
        rm -f "fuzz/corpus/$t"/*
        cp "target/afl-cmin/$t"/* "fuzz/corpus/$t/"
    fi
    for f in "$out"/default/crashes/id* "$out"/default/hangs/id*; do
        [ -f "$f" ] && cp "$f" "fuzz/crashes/$t/afl-$(basename "$f" | tr ':,' '__')"
    done
done
