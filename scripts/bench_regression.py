#!/usr/bin/env python3
"""Single-request speed of this tree against an earlier commit, measured side by side.

Builds the `tessera` binary of REF (default: HEAD~1) in a temporary git worktree, with its
own target folder (target/regression), and this tree's release binary; then alternates runs
of the two (ROUNDS times, so drift on a shared machine hits both alike) and prints the
median of each measure and the ratio HEAD / REF:

- on the ~30M random LLaDA-format model (`tessera bench decode --sizes small`): the plain
  LLaDA sampler's tokens/s (gen 256, block 32, 32 steps) and the full step time;
- on tessera-tiny (`tessera generate`, one request at a time): tokens/s over a fixed set of
  task prompts (addition, sorting, sudoku, text-to-image).

Only flags both binaries understand are used. Usage, from the repository root:

    python3 scripts/bench_regression.py [--ref REF] [--rounds 3] [--ref-binary PATH]
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TINY = os.path.join(ROOT, "models", "tessera-tiny")
TINY_PROMPTS = [
    ["--prompt", "123+45="],
    ["--prompt", "sort 5 3 9 1 7 2 ="],
    ["--prompt", "sudoku 1.3.|.41.|4..3|2.4. ="],
    ["--prompt", "a large green triangle at the top right", "--task", "t2i", "--json"],
]


def build(ref, workdir):
    """Builds REF's release binary; returns its path."""
    subprocess.run(["git", "-C", ROOT, "worktree", "add", "-q", "--detach", workdir, ref], check=True)
    target = os.path.join(ROOT, "target", "regression")
    try:
        subprocess.run(
            ["cargo", "build", "--release", "-q", "-p", "tessera", "--bin", "tessera"],
            cwd=workdir,
            env={**os.environ, "CARGO_TARGET_DIR": target},
            check=True,
        )
    finally:
        subprocess.run(["git", "-C", ROOT, "worktree", "remove", "--force", workdir], check=False)
    return os.path.join(target, "release", "tessera")


def small_model(binary):
    """tokens/s of the plain LLaDA sampler and the full step (ms) on the ~30M model."""
    out = subprocess.run(
        [binary, "bench", "decode", "--sizes", "small", "--repeat", "3", "--json"],
        capture_output=True, text=True, check=True,
    ).stdout
    rows = {}
    for line in out.splitlines():
        r = json.loads(line)
        rows[r["measure"]] = r["value"]
    full = next(v for k, v in rows.items() if k.startswith("full step"))
    return {
        "30M: llada sampler tokens/s": rows["llada (baseline): tokens/s"],
        "30M: full step ms": full,
    }


def tiny(binary, repeat=5):
    """tokens/s of single requests on tessera-tiny (sum of tokens over sum of seconds)."""
    tokens, seconds = 0, 0.0
    for _ in range(repeat):
        for args in TINY_PROMPTS:
            cmd = [binary, "generate", "--model", TINY] + args
            if "--json" not in args:
                cmd.append("--json")
            out = json.loads(subprocess.run(cmd, capture_output=True, text=True, check=True).stdout)
            n = len(out["ids"]) if "ids" in out else len(out["codes"])
            tokens += n
            seconds += out["stats"]["seconds"]
    return {"tessera-tiny: tokens/s (single requests)": tokens / seconds}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ref", default="HEAD~1", help="the earlier commit (default HEAD~1)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--ref-binary", help="REF's tessera binary, already built (skips the build)")
    args = parser.parse_args()
    subprocess.run(["cargo", "build", "--release", "-q", "-p", "tessera", "--bin", "tessera"], cwd=ROOT, check=True)
    head = os.path.join(ROOT, "target", "release", "tessera")
    if args.ref_binary:
        ref = args.ref_binary
    else:
        with tempfile.TemporaryDirectory() as tmp:
            ref = build(args.ref, os.path.join(tmp, "ref"))
    results = {"ref": {}, "head": {}}
    for i in range(args.rounds):
        for name, binary in (("ref", ref), ("head", head)):
            for measure, value in {**small_model(binary), **tiny(binary)}.items():
                results[name].setdefault(measure, []).append(value)
        print(f"round {i + 1}/{args.rounds} done", file=sys.stderr)
    print(f"{'measure':<44} {args.ref:>12} {'HEAD':>12} {'HEAD/ref':>9}")
    for measure in results["head"]:
        r = statistics.median(results["ref"][measure])
        h = statistics.median(results["head"][measure])
        print(f"{measure:<44} {r:>12.2f} {h:>12.2f} {h / r:>8.2f}x")


if __name__ == "__main__":
    main()
