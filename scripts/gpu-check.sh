#!/usr/bin/env bash
# Issue 19's GPU check, in two halves:
#
#   scripts/gpu-check.sh build   # here, with the Rust toolchain and no GPU: builds the CUDA
#                                # binaries into target/gpu-check/ (stripped and compressed)
#   scripts/gpu-check.sh run     # on a machine with an NVIDIA GPU and no Rust toolchain:
#                                # runs them against the CPU, prints the table
#
# `build` needs python3 (the pinned CUDA 13.0 wheels from PyPI: nvcc for candle's kernels,
# NVRTC and the runtime) and a C++ compiler; it links against stand-ins of the driver, cuBLAS
# and cuRAND (scripts/cuda_stubs.py), takes ~20 minutes on 2 cores from scratch (candle's
# kernels ~6 minutes, twice: the binary's and the kernel tests' builds resolve features
# apart) and builds in its own target folder, target/gpu-build. The three binaries, stripped
# and xz-compressed, are ~20 MB.
#
# `run` needs the NVIDIA driver and CUDA 13's libraries (cuBLAS, cuBLASLt, cuRAND, NVRTC, the
# runtime: the CUDA toolkit, or PyTorch's `nvidia-*` wheels, which it finds on its own) and
# finishes in a few minutes. It runs, each against the CPU on the same machine:
#   1. Tessera's own kernels (`kernels/cuda/*.cu`) against the CPU kernels, and the sampling
#      and remask-scoring kernels' read bandwidth against the card's copy bandwidth;
#   2. end-to-end decoding at temperature 0 on the parity fixtures and tessera-tiny: the
#      tokens of `tessera generate --device cuda` against `--device cpu`;
#   3. forward time of the ~239M random model at canvas 160/512/1024 (bf16 and f32), beside
#      PyTorch's on the same shapes when python3 has torch, and the LLaDA sampler's tokens/s;
#   4. step-level batching on tessera-tiny (`tessera bench serve`): 16 text requests through
#      the service against one at a time, on the CPU and on the GPU.
# With $OUT set it writes its report to $OUT/gpu-check.txt. Exit status 1 when a check fails.
set -euo pipefail
cd "$(dirname "$0")/.."
dir=target/gpu-check
case "${1:-}" in
build)
    venv=target/cuda-check-venv
    [ -x "$venv/bin/python" ] || python3 -m venv "$venv"
    "$venv/bin/pip" install -q nvidia-cuda-nvrtc==13.0.88 nvidia-cuda-nvcc==13.0.88 \
        nvidia-cuda-crt==13.0.88 nvidia-nvvm==13.0.88 nvidia-cuda-runtime==13.0.96 \
        nvidia-cuda-cccl==13.0.85
    cu=$(cd "$venv"/lib/python3*/site-packages/nvidia/cu13 && pwd)
    # A CUDA root as cudarc's and candle's build scripts expect one: the wheels' tools and
    # headers, their NVRTC and runtime, and the stand-ins of the libraries no wheel here has.
    root=$dir/cuda-root
    rm -rf "$dir" && mkdir -p "$root/lib"
    ln -s "$cu/bin" "$root/bin"
    ln -s "$cu/include" "$root/include"
    ln -s "$cu/nvvm" "$root/nvvm"
    python3 scripts/cuda_stubs.py "$root/lib"
    ln -s "$cu/lib/libnvrtc.so.13" "$root/lib/libnvrtc.so"
    ln -s "$cu/lib/libcudart.so.13" "$root/lib/libcudart.so"
    root=$(cd "$root" && pwd)
    export CUDA_ROOT=$root CUDA_PATH=$root NVCC=$root/bin/nvcc PATH=$root/bin:$PATH
    # The GPU machines are H100/H200 (sm_90); another card: set CUDA_COMPUTE_CAP.
    export CUDA_COMPUTE_CAP=${CUDA_COMPUTE_CAP:-90}
    export CARGO_TARGET_DIR=target/gpu-build
    # A stand-in nvcc (scripts/nvcc-typecheck) leaves empty PTX that candle's build cache
    # would keep: never link with it.
    if grep -qs "stand-in" "$CARGO_TARGET_DIR"/release/build/candle-kernels-*/out/*.ptx; then
        rm -rf "$CARGO_TARGET_DIR"/release/build/candle-kernels-*
    fi
    artifact() { # the executable of a cargo --message-format=json build
        python3 -c 'import json,sys
for l in sys.stdin:
    m = json.loads(l)
    if m.get("reason") == "compiler-artifact" and m.get("executable") and m["target"]["name"] == sys.argv[1]:
        print(m["executable"])' "$1"
    }
    cargo build --release -p tessera --features cuda
    cp "$CARGO_TARGET_DIR/release/tessera" "$dir/tessera"
    cp "$(cargo test -p tessera-kernels --features cuda --release --lib --no-run \
        --message-format=json 2>/dev/null | artifact tessera_kernels)" "$dir/kernels-tests"
    cargo build -q -p tessera-kernels --features cuda --release --example cuda_sample_bench
    cp "$CARGO_TARGET_DIR/release/examples/cuda_sample_bench" "$dir/"
    strip "$dir"/tessera "$dir"/kernels-tests "$dir"/cuda_sample_bench
    # Compressed, all three fit the 64 MiB a device call carries.
    xz -T0 -6 "$dir"/tessera "$dir"/kernels-tests "$dir"/cuda_sample_bench
    rm -rf "$dir/cuda-root"
    ls -la "$dir"
    ;;
run)
    for f in "$dir"/*.xz; do [ -e "$f" ] && xz -d -f "$f"; done
    chmod +x "$dir"/tessera "$dir"/kernels-tests "$dir"/cuda_sample_bench
    # CUDA 13's libraries: the toolkit's, else those of PyTorch's wheels.
    libs=$(python3 -c 'import glob, site
dirs = {d for p in site.getsitepackages() for d in glob.glob(p + "/nvidia/*/lib")}
print(":".join(sorted(dirs)))' 2>/dev/null || true)
    export LD_LIBRARY_PATH=/usr/local/cuda/lib64:${libs}:${LD_LIBRARY_PATH:-}
    tessera=$dir/tessera
    report=$(mktemp)
    status=0
    {
        failed=0
        echo "== device"
        nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader || true
        echo
        echo "== 1. Tessera's CUDA kernels against the CPU kernels"
        "$dir/kernels-tests" cuda:: --nocapture --test-threads=1 || failed=1
        "$dir/cuda_sample_bench" || failed=1
        echo
        echo "== 2. decoding at temperature 0: the tokens on cuda against the tokens on cpu"
        ids() { # the generated ids of $model/$prompt/$opts on device $1
            # shellcheck disable=SC2086
            "$tessera" generate --model "$model" --prompt "$prompt" --temperature 0 \
                --device "$1" --json $opts | python3 -c 'import json,sys; print(json.load(sys.stdin)["ids"])'
        }
        echo "| model | prompt | cpu | cuda | same |"
        echo "|---|---|---|---|---|"
        for spec in "tests/fixtures/llada-tiny|hello world|--gen-length 32 --steps 32 --block-length 8" \
            "tests/fixtures/llada-tiny|the quick brown|--gen-length 16 --steps 8 --block-length 16 --cache dual" \
            "tests/fixtures/dream-tiny|hello world|--gen-length 32 --steps 32" \
            "tests/fixtures/dream-tiny-bf16|hello world|--gen-length 16 --steps 16" \
            "models/tessera-tiny|137+16=|" \
            "models/tessera-tiny|sort 5 3 9 1 =|"; do
            IFS='|' read -r model prompt opts <<<"$spec"
            cpu=$(ids cpu 2>&1) || true
            gpu=$(ids cuda 2>&1) || true
            same=yes
            case "$cpu" in "["*) ;; *) same="NO (cpu failed)" ;; esac
            [ "$cpu" = "$gpu" ] || same=NO
            [ "$same" = yes ] || failed=1
            echo "| $model | $prompt $opts | $cpu | $gpu | $same |"
        done
        echo
        echo "== 3. forward time, ~239M random model (Tessera: candle's CUDA backend)"
        for dtype in bf16 f32; do
            "$tessera" bench forward --sizes medium --device cuda --dtypes "$dtype" \
                --canvases 160,512,1024 --repeat 10 || failed=1
        done
        if python3 -c 'import torch, transformers; assert torch.cuda.is_available()' 2>/dev/null; then
            for dtype in bf16 f32; do
                python3 scripts/bench_torch_forward.py --sizes medium --device cuda \
                    --dtype "$dtype" --canvases 160,512,1024 --repeat 10 2>&1 | grep -v Warning || true
            done
        else
            echo "(no PyTorch with CUDA here: no PyTorch rows)"
        fi
        echo
        echo "== 4. step-level batching on tessera-tiny: 16 text requests together against one at a time"
        for device in cpu cuda; do
            echo "-- $device"
            "$tessera" bench serve --requests 0 --rounds 3 --device "$device" || failed=1
        done
        exit "$failed"
    } 2>&1 | tee "$report" || status=$?
    if [ -n "${OUT:-}" ]; then cp "$report" "$OUT/gpu-check.txt"; fi
    # A kernel test that found no device says "not run": on a GPU machine that is a failure.
    if grep -q "not run" "$report"; then status=1; fi
    exit "$status"
    ;;
*)
    echo "usage: scripts/gpu-check.sh build|run" >&2
    exit 2
    ;;
esac
