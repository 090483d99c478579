#!/usr/bin/env python3
"""Tessera against llama.cpp's ``llama-diffusion-cli`` on the same random LLaDA models, one table.

For each size (``small`` ≈30M, ``medium`` ≈239M parameters) it writes the random model with
``tessera bench random``, converts it to GGUF with ``scripts/make_bench_gguf.py`` (F32, then
``llama-quantize`` F16, Q8_0 and Q4_K_M), and then, in alternating rounds (each side's best of
``--rounds`` is kept), runs

* llama.cpp: ``llama-diffusion-cli`` on every GGUF file — LLaDA's block schedule, prompt 32
  tokens, gen 128, block 32, 128 denoising steps, greedy (``--temp 0 --top-k 1``), 2 threads::

      llama-diffusion-cli -m model-f32.gguf -p '<t256><t8175>…' (32 tokens) \\
          -ub 160 -b 160 -c 160 --diffusion-block-length 32 --diffusion-steps 160 \\
          --temp 0 --top-k 1 --seed 0 -t 2 -tb 2 --log-timestamps

  The canvas is ``-ub`` (prompt + gen = 160). diffusion-cli counts its blocks over the whole
  canvas (160 / 32 = 5) but starts them at the end of the prompt, so blocks 1-4 cover the 128
  generated tokens and the fifth is empty. ``--diffusion-steps`` must be a multiple of the 5
  blocks, so 160 steps = 32 per block = 128 steps over the generated tokens (one token each);
  the empty block then stops at its first step. Time is read from the log timestamps (µs, on
  by default; ``--log-timestamps`` is passed) of diffusion-cli's progress lines
  ``diffusion step: 0/160`` and ``diffusion step: 128/160``, each logged as that step starts:
  T = the 128 steps over the generated tokens, forward passes and sampling; time per step =
  T / 128, tokens/s = 128 / T. (The ``total time: … ms`` line it prints at the end agrees
  with T to within a few ms, but its "time per step" divides by the 160 requested steps, and
  llama.cpp's logger, never flushed at exit, loses that line in about one run of three.)
  ``--top-k 1`` makes every sampled token the argmax (``--temp 0`` alone does not:
  diffusion-cli's sampler chain always ends in a random ``dist`` draw); the confidence of
  every candidate is then 1, so within a block llama.cpp unmasks left to right instead of
  by confidence — the same work per step. llama.cpp computes logits for all 160 positions
  every step.
* Tessera: ``tessera bench forward --model <folder> --dtypes f32,q8_0,q4k --json --repeat 1``
  (its "LLaDA sampler gen 128/block 32/128 steps" tokens/s and "time per step" = time / NFE,
  NFE = 128), and the same on ``model-f32.gguf`` (``--dtypes f32``).

* PyTorch, with ``--torch-python PY`` (a Python with ``torch`` and ``transformers``): the
  reference LLaDA sampler on a ``transformers`` Llama of the same dimensions
  (``scripts/bench_torch_forward.py --sampler``, the rows ``scripts/bench_compare.py``
  measures), in the same alternating rounds; time per step = 1 / tokens/s at one token per
  step.

It prints one markdown table: model, engine and precision, time per step, tokens/s, and the
speed as a multiple of PyTorch's (when measured), of llama.cpp F32's and of llama.cpp's
fastest file (> 1 is faster).

llama.cpp is not a dependency: ``llama-diffusion-cli`` and ``llama-quantize`` are looked up
in ``--llama-cpp-bin``, then on ``PATH``; without them the llama.cpp rows are skipped (with a
message) and only Tessera's are printed. A CPU build of just those two targets::

    cmake -B build -S llama.cpp -DCMAKE_BUILD_TYPE=Release -DGGML_NATIVE=ON -DLLAMA_OPENSSL=OFF
    cmake --build build --target llama-diffusion-cli llama-quantize -j2

(llama.cpp's source also ships in the ``llama-cpp-python`` sdist, ``vendor/llama.cpp``). Run
from the repository root with a Python that has ``gguf``, ``numpy`` and ``safetensors``::

    cargo build --release -p tessera
    /work/ggufenv/bin/python scripts/bench_llamacpp.py [--sizes small,medium] [--rounds 2] \\
        [--llama-cpp-bin /work/llamacpp-build/bin] [--torch-python /work/pyref/bin/python] \\
        [--threads 2] [--work DIR] [--keep]

The models and GGUF files go to a temporary folder under /tmp (about 3 GB for both sizes),
removed at the end unless ``--keep``; ``--work DIR`` uses (and keeps) DIR, reusing files there.
"""
import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import bench_compare  # noqa: E402
import make_bench_gguf  # noqa: E402

NAMES = {"small": "random-30M", "medium": "random-239M"}
PROMPT, GEN, BLOCK, STEPS = 32, 128, 32, 128
LLAMA_TYPES = ["f32", "f16", "q8_0", "q4_k_m"]
LLAMA_LABEL = {"f32": "F32", "f16": "F16", "q8_0": "Q8_0", "q4_k_m": "Q4_K_M"}
TESSERA_DTYPES = ["f32", "q8_0", "q4k"]


def llama_cmd(cli, gguf_path, vocab_size, threads):
    canvas = PROMPT + GEN
    assert canvas % BLOCK == 0
    n_blocks = canvas // BLOCK
    per_block = STEPS // (GEN // BLOCK)
    return [cli, "-m", str(gguf_path), "-p", make_bench_gguf.prompt_text(PROMPT, vocab_size),
            "-ub", str(canvas), "-b", str(canvas), "-c", str(canvas),
            "--diffusion-block-length", str(BLOCK), "--diffusion-steps", str(per_block * n_blocks),
            "--temp", "0", "--top-k", "1", "--seed", "0",
            "-t", str(threads), "-tb", str(threads), "--log-timestamps"]


STEP_LINE = re.compile(r"(\d+)\.(\d+)\.(\d+)\.(\d+) I \s*diffusion step: (\d+)/\d+")


def llama_run(cli, gguf_path, vocab_size, threads, tries=3):
    """(ms per step, tok/s, generated text or None) of one diffusion-cli run.

    Timed from the log timestamps (µs) of the progress lines of step 0 and step STEPS, i.e.
    the STEPS steps over the generated tokens, forward and sampling; the empty block's
    forward after them is left out. (llama.cpp's logger may lose its last lines at exit, the
    "total time" line with them; a run whose step-STEPS line is missing is repeated.)"""
    for _ in range(tries):
        r = subprocess.run(llama_cmd(cli, gguf_path, vocab_size, threads), capture_output=True,
                           text=True)
        text = r.stdout + r.stderr
        if r.returncode != 0:
            raise SystemExit(f"llama-diffusion-cli failed on {gguf_path}:\n{text[-3000:]}")
        at = {int(m[5]): ((int(m[1]) * 60 + int(m[2])) * 1000 + int(m[3])) + int(m[4]) / 1000
              for m in STEP_LINE.finditer(text)}
        if 0 in at and STEPS in at:
            ms = at[STEPS] - at[0]
            return ms / STEPS, GEN / (ms / 1e3), make_bench_gguf.generated_text(text)
    raise SystemExit(f"llama-diffusion-cli on {gguf_path}: no progress line for step {STEPS}:\n"
                     f"{text[-3000:]}")


def tessera_run(binary, model, dtypes):
    """{dtype: (ms per step, tok/s)} of one `tessera bench forward` run."""
    out = subprocess.run(
        [binary, "bench", "forward", "--model", str(model), "--dtypes", ",".join(dtypes),
         "--json", "--repeat", "1"], check=True, capture_output=True, text=True).stdout
    rows = {}
    for line in out.splitlines():
        r = json.loads(line)
        dtype = r["model"].rsplit(" ", 1)[1] if len(dtypes) > 1 else dtypes[0]
        if r["measure"].startswith("LLaDA sampler"):
            rows.setdefault(dtype, [None, None])[1] = r["value"]
        elif r["measure"] == "  time per step":
            rows.setdefault(dtype, [None, None])[0] = r["value"]
    return {k: tuple(v) for k, v in rows.items()}


def keep_best(store, key, value):
    old = store.get(key)
    if old is None or value[1] > old[1]:
        store[key] = value


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sizes", default="small,medium")
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--threads", type=int, default=2, help="llama.cpp threads (-t, -tb)")
    ap.add_argument("--tessera", default=os.path.join(HERE, "..", "target", "release", "tessera"))
    ap.add_argument("--llama-cpp-bin", help="folder with llama-diffusion-cli and llama-quantize")
    ap.add_argument("--work", type=Path, help="folder for models and GGUF files (kept)")
    ap.add_argument("--keep", action="store_true", help="keep the temporary folder")
    ap.add_argument("--torch-python", help="a Python with torch and transformers: adds PyTorch's rows")
    args = ap.parse_args()
    sizes = [s for s in args.sizes.split(",") if s]

    cli = make_bench_gguf.find_tool("llama-diffusion-cli", args.llama_cpp_bin)
    quantize = make_bench_gguf.find_tool("llama-quantize", args.llama_cpp_bin)
    if cli is None or quantize is None:
        print("llama.cpp not found (llama-diffusion-cli / llama-quantize in --llama-cpp-bin or on "
              "PATH): skipping its rows", file=sys.stderr)
        cli = None

    work = args.work or Path(tempfile.mkdtemp(prefix="tessera-llamacpp-"))
    try:
        models, ggufs, vocab = {}, {}, {}
        for size in sizes:
            d = work / size
            if not (d / "model.safetensors").is_file():
                subprocess.run([args.tessera, "bench", "random", "--size", size, "--out", str(d)],
                               check=True, stdout=subprocess.DEVNULL)
            models[size] = d
            vocab[size] = make_bench_gguf.load_json(d / "config.json")["vocab_size"]
            ggufs[size] = make_bench_gguf.make(
                d, work / f"{size}-gguf", args.llama_cpp_bin if cli else None,
                LLAMA_TYPES[1:] if cli else ())

        llama, tessera, torch, samples = {}, {}, {}, {}
        for rnd in range(max(1, args.rounds)):
            for size in sizes:
                if args.torch_python:
                    rows = bench_compare.torch_round(size, 1, args.torch_python)
                    unit, tps = rows[(size, "LLaDA sampler")]
                    print(f"round {rnd + 1} {size} pytorch: {tps:.2f} tok/s", file=sys.stderr)
                    keep_best(torch, size, (1e3 / tps, tps))
                if cli:
                    for t in LLAMA_TYPES:
                        ms, tps, text = llama_run(cli, ggufs[size][t], vocab[size], args.threads)
                        print(f"round {rnd + 1} {size} llama.cpp {t}: {ms:.1f} ms/step, "
                              f"{tps:.2f} tok/s", file=sys.stderr)
                        keep_best(llama, (size, t), (ms, tps))
                        if text is not None:
                            samples[(size, t)] = text
                for t, v in tessera_run(args.tessera, models[size], TESSERA_DTYPES).items():
                    print(f"round {rnd + 1} {size} tessera {t}: {v[0]:.1f} ms/step, {v[1]:.2f} tok/s",
                          file=sys.stderr)
                    keep_best(tessera, (size, t), v)
                for t, v in tessera_run(args.tessera, ggufs[size]["f32"], ["f32"]).items():
                    print(f"round {rnd + 1} {size} tessera gguf {t}: {v[0]:.1f} ms/step, "
                          f"{v[1]:.2f} tok/s", file=sys.stderr)
                    keep_best(tessera, (size, "gguf-f32"), v)

        for (size, t), text in samples.items():
            n = len(re.findall(r"<t\d+>", text))
            print(f"llama.cpp {size} {t} output ({n} <tN> tokens): {text[:100]}…", file=sys.stderr)

        print("| model | engine, precision | time per step | tokens/s | vs PyTorch | "
              "vs llama.cpp F32 | vs llama.cpp fastest |")
        print("|---|---|---|---|---|---|---|")
        for size in sizes:
            rows = [("PyTorch reference f32", torch[size])] if size in torch else []
            rows += [(f"llama.cpp {LLAMA_LABEL[t]} (GGUF)", llama[(size, t)])
                     for t in LLAMA_TYPES if (size, t) in llama]
            rows += [(f"Tessera {t} (safetensors)", tessera[(size, t)])
                     for t in TESSERA_DTYPES if (size, t) in tessera]
            if (size, "gguf-f32") in tessera:
                rows.append(("Tessera f32 (GGUF F32 file)", tessera[(size, "gguf-f32")]))
            base = llama.get((size, "f32"))
            fastest = max((v for (s, _), v in llama.items() if s == size), key=lambda v: v[1],
                          default=None)
            ref = torch.get(size)
            for label, (ms, tps) in rows:
                r0 = f"{tps / ref[1]:.2f}×" if ref else "–"
                r1 = f"{tps / base[1]:.2f}×" if base else "–"
                r2 = f"{tps / fastest[1]:.2f}×" if fastest else "–"
                print(f"| {NAMES.get(size, size)} | {label} | {ms:.1f} ms | {tps:.3g} | {r0} | {r1} "
                      f"| {r2} |")
        if not cli:
            print("\n(llama.cpp rows skipped: llama-diffusion-cli / llama-quantize not found)")
    finally:
        if args.work is None and not args.keep:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
