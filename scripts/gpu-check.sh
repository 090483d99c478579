#!/usr/bin/env bash
# Issue 19's GPU check, in two halves:
#
#   scripts/gpu-check.sh build   # here, with the Rust toolchain: builds the CUDA test binary
#                                # and benchmark into target/gpu-check/ (a few MB)
#   scripts/gpu-check.sh run     # on a machine with an NVIDIA GPU and no Rust toolchain:
#                                # runs them against the CPU reference, prints the table
#
# `run` needs only the NVIDIA driver and NVRTC (libcuda, libnvrtc: the CUDA toolkit or the
# `nvidia-cuda-nvrtc` wheel on LD_LIBRARY_PATH); it finishes in well under a minute. With
# $OUT set, it also writes its report to $OUT/gpu-check.txt.
#
# What it covers today: Tessera's own kernels (the fused sampling pass, `kernels/cuda/`)
# against the CPU pass on the same logits, and the sampling kernel's read bandwidth
# against the card's copy bandwidth. The transformer forward on CUDA (candle's backend) is
# not built yet, so there are no forward or tokens/s rows.
set -euo pipefail
cd "$(dirname "$0")/.."
dir=target/gpu-check
case "${1:-}" in
build)
    mkdir -p "$dir"
    bin=$(cargo test -p tessera-kernels --features cuda --release --lib --no-run \
        --message-format=json 2>/dev/null |
        python3 -c 'import json,sys
for l in sys.stdin:
    m = json.loads(l)
    if m.get("reason") == "compiler-artifact" and m.get("executable") and m["target"]["name"] == "tessera_kernels":
        print(m["executable"])')
    cp "$bin" "$dir/kernels-tests"
    cargo build -q -p tessera-kernels --features cuda --release --example cuda_sample_bench
    cp target/release/examples/cuda_sample_bench "$dir/"
    # Without symbols both fit the 64 MiB a device call carries, many times over.
    strip "$dir"/kernels-tests "$dir"/cuda_sample_bench
    ls -la "$dir"
    ;;
run)
    report=$(mktemp)
    {
        echo "== device"
        nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader || true
        echo "== CUDA kernels against the CPU reference"
        "$dir/kernels-tests" cuda:: --nocapture --test-threads=1
        echo "== sampling kernel bandwidth"
        "$dir/cuda_sample_bench"
    } 2>&1 | tee "$report"
    if [ -n "${OUT:-}" ]; then cp "$report" "$OUT/gpu-check.txt"; fi
    if grep -q "not run" "$report"; then
        echo "gpu-check: the CUDA tests did not run (see above)" >&2
        exit 1
    fi
    ;;
*)
    echo "usage: scripts/gpu-check.sh build|run" >&2
    exit 2
    ;;
esac
