"""Tessera against the PyTorch reference, side by side in one run, one table of ratios.

Runs `scripts/bench_torch_forward.py` (PyTorch/transformers, the same random LLaDA-shaped
models: forward at canvas 160 and 512, the reference LLaDA sampler at gen 128 / block 32 /
128 steps) and `tessera bench forward --json` on the same sizes, alternating rounds so that
both see the same machine, keeps each side's best, and prints one markdown table with
Tessera's speed as a multiple of PyTorch's (> 1 is faster). Needs `torch` and
`transformers` from PyPI in the Python that runs it, and a release build of `tessera`:

    cargo build --release -p tessera
    python scripts/bench_compare.py [--sizes small,medium] [--rounds 2] [--tessera target/release/tessera]

llama.cpp's rows, on GGUF files of the same models, come from `scripts/bench_llamacpp.py`.
"""
import argparse
import json
import os
import re
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
NAMES = {"small": "random-30M", "medium": "random-239M"}


def torch_round(sizes, repeat, python=sys.executable):
    """{(size, measure): (unit, value)} of one `bench_torch_forward.py --sampler` run under
    `python` (a Python with torch and transformers)."""
    out = subprocess.run(
        [python, os.path.join(HERE, "bench_torch_forward.py"), "--sizes", sizes,
         "--repeat", str(repeat), "--sampler"],
        check=True, capture_output=True, text=True).stdout
    rows = {}
    for line in out.splitlines():
        m = re.match(r"torch (\w+) \([\d.]+M\) forward canvas (\d+), all logits: ([\d.]+) ms", line)
        if m:
            rows[(m[1], f"forward canvas {m[2]}")] = ("ms", float(m[3]))
        m = re.match(r"torch (\w+) LLaDA sampler .*: ([\d.]+) tok/s", line)
        if m:
            rows[(m[1], "LLaDA sampler")] = ("tok/s", float(m[2]))
    return rows


def tessera_round(binary, sizes, repeat):
    out = subprocess.run(
        [binary, "bench", "forward", "--sizes", sizes, "--repeat", str(repeat), "--json"],
        check=True, capture_output=True, text=True).stdout
    by_model = {v: k for k, v in NAMES.items()}
    rows = {}
    for line in out.splitlines():
        r = json.loads(line)
        size = by_model.get(r["model"])
        m = re.fullmatch(r"forward canvas (\d+), all logits", r["measure"])
        if m:
            rows[(size, f"forward canvas {m[1]}")] = ("ms", r["value"])
        elif r["measure"].startswith("LLaDA sampler"):
            rows[(size, "LLaDA sampler")] = ("tok/s", r["value"])
    return rows


def best(a, b):
    """The better of two measurements of one unit (lower ms, higher tok/s)."""
    if a is None:
        return b
    unit, x = a
    y = b[1]
    return (unit, min(x, y) if unit == "ms" else max(x, y))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="small,medium")
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--tessera", default=os.path.join(HERE, "..", "target", "release", "tessera"))
    args = ap.parse_args()
    torch_rows, tessera_rows = {}, {}
    for _ in range(max(1, args.rounds)):
        for k, v in torch_round(args.sizes, args.repeat).items():
            torch_rows[k] = best(torch_rows.get(k), v)
        for k, v in tessera_round(args.tessera, args.sizes, args.repeat).items():
            tessera_rows[k] = best(tessera_rows.get(k), v)
    print(f"| model | measure | PyTorch | Tessera | Tessera speed vs PyTorch |")
    print("|---|---|---|---|---|")
    for key in sorted(torch_rows, key=lambda k: (list(NAMES).index(k[0]), k[1])):
        if key not in tessera_rows:
            continue
        unit, t = torch_rows[key]
        _, s = tessera_rows[key]
        ratio = t / s if unit == "ms" else s / t
        print(f"| {NAMES[key[0]]} | {key[1]} | {t:.1f} {unit} | {s:.1f} {unit} | {ratio:.2f}× |")


if __name__ == "__main__":
    main()
