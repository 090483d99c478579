#!/usr/bin/env bash
# Coverage-guided fuzzing of Tessera's input readers with AFL++ through cargo-afl (stable
# Rust; cargo-afl installs from crates.io). Each target (fuzz/src/lib.rs) runs for SECONDS
# under a 2 GiB memory cap and a 5 s per-input timeout; afterwards its corpus is refreshed
# in fuzz/corpus/<target>/ and any crash or hang input is copied to fuzz/crashes/<target>/,
# where `cargo test -p tessera-fuzz` (and so .ci/run) replays them. Prints each target's
# executions, coverage and findings (record them in docs/FUZZING.md).
#
# usage: scripts/fuzz.sh [SECONDS_PER_TARGET (default 600)] [TARGET ...]
#        scripts/fuzz.sh --collect TARGET ...   (refresh corpora from target/afl-out only)
set -euo pipefail
cd "$(dirname "$0")/.."
bin=target/afl/release/tessera-fuzz-afl

# The corpus kept for a target: afl-cmin's minimisation of the queue, or where afl-cmin
# cannot run ("no instrumentation output detected" under cargo-afl 0.18 here), the seeds plus
# the queue entries that added coverage (+cov), the smallest 300. Files are named by their
# content's hash, so a later campaign adds to what earlier ones kept instead of overwriting.
collect() {
    local t=$1 out=$2
    if TESSERA_FUZZ_TARGET=$t cargo afl cmin -i "$out/default/queue" -o "target/afl-cmin/$t" \
        -m 2048 -t 5000 -- "$bin" >/dev/null 2>&1; then
        rm -f "fuzz/corpus/$t"/*
        cp "target/afl-cmin/$t"/* "fuzz/corpus/$t/"
    else
        find "$out/default/queue" -maxdepth 1 -type f -name 'id:*+cov*' -printf '%s %p\n' \
            | sort -n | head -300 | while read -r _ f; do
                cp "$f" "fuzz/corpus/$t/q$(sha1sum "$f" | cut -c1-12)"
            done
    fi
    for f in "$out"/default/crashes/id* "$out"/default/hangs/id*; do
        if [ -f "$f" ]; then
            cp "$f" "fuzz/crashes/$t/afl-$(sha1sum "$f" | cut -c1-12)"
        fi
    done
}

if [ "${1:-}" = "--collect" ]; then
    shift
    for t in "$@"; do collect "$t" "target/afl-out/$t"; done
    exit 0
fi

secs=${1:-600}
shift || true
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
    targets=(safetensors index config generation_config tokenizer chat_template image audio options request)
fi

command -v cargo-afl >/dev/null || cargo install cargo-afl
cargo afl config --build >/dev/null 2>&1 || true
(cd fuzz/afl && CARGO_TARGET_DIR=../../target/afl cargo afl build --release)

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
        collect "$t" "$out"
    else
        echo "== $t: no stats (see target/afl-$t.log)"
    fi
done
