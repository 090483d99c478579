#!/usr/bin/env python3
"""Link-time stand-ins for the CUDA libraries a `--features cuda` build links against.

candle's CUDA backend has cudarc link the CUDA driver, cuBLAS, cuBLASLt and cuRAND (besides
NVRTC and the runtime, which the pinned PyPI wheels provide). This machine has no GPU and no
CUDA toolkit, so `scripts/gpu-check.sh build` links against these stubs instead: one shared
library per CUDA library, with the real library's soname and an empty function for every
symbol cudarc declares for it. The stubs never run: on the GPU machine the dynamic loader
finds the real libraries by soname (`scripts/gpu-check.sh run` puts them on the path).

    python3 scripts/cuda_stubs.py OUT_DIR     # writes OUT_DIR/lib{cuda,cublas,cublasLt,curand}.so
"""
import glob
import os
import re
import subprocess
import sys

# cudarc's module, the library it links (`-l`), and the soname of CUDA 13's library.
LIBS = [
    ("driver", "cuda", "libcuda.so.1"),
    ("cublas", "cublas", "libcublas.so.13"),
    ("cublaslt", "cublasLt", "libcublasLt.so.13"),
    ("curand", "curand", "libcurand.so.10"),
]


def cudarc_src():
    home = os.environ.get("CARGO_HOME", os.path.expanduser("~/.cargo"))
    found = sorted(glob.glob(os.path.join(home, "registry/src/*/cudarc-0.19.*/src")))
    if not found:
        sys.exit("cuda_stubs: cudarc 0.19 is not in the cargo registry (run `cargo fetch` first)")
    return found[-1]


def symbols(path):
    text = open(path).read()
    names = set(re.findall(r"\bfn ([A-Za-z_][A-Za-z0-9_]*)\s*\(", text))
    names |= set(re.findall(r'link_name\s*=\s*"([A-Za-z_][A-Za-z0-9_]*)"', text))
    # Only the C entry points (cu*, cublas*, curand*), not the Rust helpers of the module.
    return sorted(n for n in names if re.match(r"^(cu|cublas|curand)[A-Z_]", n))


def main(out):
    os.makedirs(out, exist_ok=True)
    src = cudarc_src()
    for module, lib, soname in LIBS:
        names = symbols(os.path.join(src, module, "sys", "mod.rs"))
        c = os.path.join(out, f"{lib}_stub.c")
        with open(c, "w") as f:
            f.write(f"/* Link-time stub of {soname} (scripts/cuda_stubs.py): never run. */\n")
            for n in names:
                f.write(f"void {n}(void) {{}}\n")
        so = os.path.join(out, f"lib{lib}.so")
        subprocess.run(
            ["cc", "-shared", "-fPIC", "-o", so, c, f"-Wl,-soname,{soname}"], check=True
        )
        print(f"{so}: {len(names)} symbols, soname {soname}")


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    main(sys.argv[1])
