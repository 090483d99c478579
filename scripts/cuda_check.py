#!/usr/bin/env python3
"""Compiles every CUDA kernel of tessera-kernels without a GPU, as the GPU path will.

Each ``kernels/cuda/*.cu`` (the host shim and its C++ wrappers excepted) goes through NVRTC
— the run-time compiler Tessera calls on a GPU machine — for ``compute_80`` and
``compute_90``; the PTX is then assembled by ``ptxas`` for ``sm_80`` and ``sm_90`` with its
resource report printed (registers, shared memory, stack, spills). A compile error, an
assembler error, or a spill in a kernel listed in ``NO_SPILLS`` fails the check.

NVRTC and ptxas come from NVIDIA's PyPI wheels, pinned to CUDA 13.0 (the driver of the GPU
machines Tessera is checked on: PTX newer than the driver's cannot be loaded there):

    python3 -m venv V && V/bin/pip install nvidia-cuda-nvrtc==13.0.88 nvidia-cuda-nvcc==13.0.88
    V/bin/python scripts/cuda_check.py

(``scripts/cuda_check.sh`` does both; ``.ci/run`` calls it.)
"""

import ctypes
import glob
import os
import re
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ARCHES = ("80", "90")
# Kernels whose every access to local memory would cost a round trip per logit.
NO_SPILLS = ("tessera_sample_rows", "tessera_token_probs")


def cuda_dir():
    import nvidia

    for base in nvidia.__path__:
        d = os.path.join(base, "cu13")
        if os.path.isdir(d):
            return d
    sys.exit("no nvidia/cu13 in this Python: install nvidia-cuda-nvrtc and nvidia-cuda-nvcc 13.0")


def nvrtc_compile(lib, source, name, arch):
    prog = ctypes.c_void_p()
    check(lib, lib.nvrtcCreateProgram(ctypes.byref(prog), source.encode(), name.encode(), 0, None, None))
    opts = [f"--gpu-architecture=compute_{arch}".encode(), b"--std=c++17", b"-default-device"]
    arr = (ctypes.c_char_p * len(opts))(*opts)
    status = lib.nvrtcCompileProgram(prog, len(opts), arr)
    size = ctypes.c_size_t()
    lib.nvrtcGetProgramLogSize(prog, ctypes.byref(size))
    log = ctypes.create_string_buffer(size.value)
    lib.nvrtcGetProgramLog(prog, log)
    if status != 0:
        sys.exit(f"NVRTC failed on {name} for compute_{arch}:\n{log.value.decode()}")
    if log.value.strip():
        print(log.value.decode())
    check(lib, lib.nvrtcGetPTXSize(prog, ctypes.byref(size)))
    ptx = ctypes.create_string_buffer(size.value)
    check(lib, lib.nvrtcGetPTX(prog, ptx))
    lib.nvrtcDestroyProgram(ctypes.byref(prog))
    return ptx.value.decode()


def check(lib, status):
    if status != 0:
        lib.nvrtcGetErrorString.restype = ctypes.c_char_p
        sys.exit(f"NVRTC error {status}: {lib.nvrtcGetErrorString(status).decode()}")


def main():
    cu = cuda_dir()
    # NVRTC opens its builtins library by name: load it first, globally.
    for builtins in glob.glob(os.path.join(cu, "lib", "libnvrtc-builtins.so.*")):
        ctypes.CDLL(builtins, mode=ctypes.RTLD_GLOBAL)
    lib = ctypes.CDLL(os.path.join(cu, "lib", "libnvrtc.so.13"))
    major, minor = ctypes.c_int(), ctypes.c_int()
    lib.nvrtcVersion(ctypes.byref(major), ctypes.byref(minor))
    ptxas = os.path.join(cu, "bin", "ptxas")
    print(f"NVRTC {major.value}.{minor.value}, ptxas {ptxas}", flush=True)
    sources = sorted(glob.glob(os.path.join(ROOT, "kernels", "cuda", "*.cu")))
    if not sources:
        sys.exit("no kernels/cuda/*.cu")
    failures = []
    seen = set()
    with tempfile.TemporaryDirectory() as tmp:
        for path in sources:
            name = os.path.basename(path)
            with open(path) as f:
                source = f.read()
            for arch in ARCHES:
                ptx = nvrtc_compile(lib, source, name, arch)
                ptx_path = os.path.join(tmp, f"{name}.{arch}.ptx")
                with open(ptx_path, "w") as f:
                    f.write(ptx)
                run = subprocess.run(
                    [ptxas, f"-arch=sm_{arch}", "-v", ptx_path, "-o", os.path.join(tmp, "out.cubin")],
                    capture_output=True,
                    text=True,
                )
                report = run.stdout + run.stderr
                print(f"--- {name}, sm_{arch}\n{report.strip()}", flush=True)
                if run.returncode != 0:
                    failures.append(f"ptxas failed on {name} for sm_{arch}")
                    continue
                # ptxas reports per function: "Compiling entry function 'X' ...", then
                # "N bytes stack frame, N bytes spill stores, N bytes spill loads".
                for func, block in re.findall(r"Function properties for (\S+)\n(.*?)(?=\nptxas|\Z)", report, re.S):
                    spills = [int(v) for v in re.findall(r"(\d+) bytes spill (?:stores|loads)", block)]
                    seen.add((func, arch))
                    if func in NO_SPILLS and any(spills):
                        failures.append(f"{func} spills on sm_{arch}: {block.strip()}")
    for func in NO_SPILLS:
        for arch in ARCHES:
            if (func, arch) not in seen:
                failures.append(f"no ptxas report for {func} on sm_{arch}")
    if failures:
        sys.exit("\n".join(failures))
    print(f"ok: {len(sources)} source(s) × {len(ARCHES)} architectures compiled and assembled")


if __name__ == "__main__":
    main()
