#!/usr/bin/env bash
# The GPU-less CUDA checks of issue 19, for CI: NVRTC and ptxas from NVIDIA's PyPI wheels
# (pinned to CUDA 13.0, the GPU machines' driver) compile and assemble every kernel in
# kernels/cuda/ for sm_80 and sm_90 (scripts/cuda_check.py), and the kernels' logic runs on
# the CPU from the same source against the CPU kernels (`--features cuda-shim`; skipped with
# CUDA_CHECK_SHIM_TESTS=0 when the caller's test build ran them). Every wheel
# is pinned to 13.0, those nvcc pulls in too (unpinned, its crt/nvvm headers and the runtime
# came as 13.5 beside its 13.0 tools).
set -euo pipefail
cd "$(dirname "$0")/.."
venv=target/cuda-check-venv
if [ ! -x "$venv/bin/python" ]; then
    python3 -m venv "$venv"
fi
"$venv/bin/pip" install -q nvidia-cuda-nvrtc==13.0.88 nvidia-cuda-nvcc==13.0.88 \
    nvidia-cuda-crt==13.0.88 nvidia-nvvm==13.0.88 nvidia-cuda-runtime==13.0.96
"$venv/bin/python" scripts/cuda_check.py
# CI's test command already ran these (`--features tessera-kernels/cuda-shim` in the
# workspace build); on their own they rebuild the kernels' tests with the shim.
if [ "${CUDA_CHECK_SHIM_TESTS:-1}" != 0 ]; then
    cargo test -p tessera-kernels --features cuda-shim --lib cuda_shim
fi
