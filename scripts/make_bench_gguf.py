#!/usr/bin/env python3
"""GGUF files of a random LLaDA benchmark model, for llama.cpp's ``llama-diffusion-cli``.

``tessera bench random --size small|medium --out DIR`` writes an f32 LLaDA-format folder
(``config.json`` + ``model.safetensors``) with no tokenizer. This script converts it the way
``scripts/make_gguf_fixtures.py`` converts the tiny fixtures (that is, as llama.cpp's
``convert_hf_to_gguf.py`` class ``LLaDAModel`` does: convert's tensor order, gguf-py's tensor
names, ``attn_q``/``attn_k`` rows permuted for llama.cpp's interleaved RoPE, the same metadata
keys; the helpers are imported from that script) into ``model-f32.gguf``, then runs llama.cpp's
``llama-quantize`` to make ``model-f16.gguf``, ``model-q8_0.gguf`` and ``model-q4_k_m.gguf``
beside it.

The vocabulary is synthetic, since the model has no tokenizer (``tokenizer.ggml.model`` =
``gpt2``, pre-tokenizer ``gpt-2``, ``config.json``'s ``vocab_size`` entries):

* ids 0..255: the 256 GPT-2 byte-level symbols (id = byte value), NORMAL, so that any text —
  the newline llama.cpp tokenizes while loading included — tokenizes;
* the other ids: ``<tN>`` (N = the id), USER_DEFINED, so a prompt written as
  ``<t300><t8219>…`` tokenizes to exactly those ids (llama.cpp matches user-defined tokens
  before BPE); ``eos_token_id`` (= ``pad_token_id``) is ``<|endoftext|>`` and
  ``mask_token_id`` ``<|mdm_mask|>``, both CONTROL;
* one merge (``Ġ Ġ``): llama.cpp refuses a gpt2 vocabulary without a merges key, and gguf-py
  does not write an empty array;
* ``add_bos_token`` false (bos = eos), and a chat template that passes the text through
  (``llama-diffusion-cli`` always applies one, ChatML if the file has none), so a prompt of
  N ``<tK>`` tokens is N tokens.

``prompt_text(n, vocab_size)`` gives such a prompt. Usage (from the repository root):

    target/release/tessera bench random --size small --out /tmp/bench-small
    /work/ggufenv/bin/python scripts/make_bench_gguf.py /tmp/bench-small \\
        [--out DIR] [--llama-cpp-bin DIR] [--types f16,q8_0,q4_k_m] [--check]

``--out`` defaults to the model folder. ``llama-quantize`` (and, for ``--check``,
``llama-diffusion-cli``) is looked up in ``--llama-cpp-bin``, then on ``PATH``; without it only
the F32 file is written. ``--check`` reads the F32 file back (every tensor equal to the
checkpoint after undoing the permutation) and runs ``llama-diffusion-cli`` for a few steps on
every file. Needs the ``gguf``, ``numpy`` and ``safetensors`` packages (the venv of
``make_gguf_fixtures.py``).
"""

from __future__ import annotations

import argparse
import logging
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np

import gguf

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_gguf_fixtures import (  # noqa: E402
    ARCHS, convert, llada_hparams, load_json, read_tensors, unpermute)

# llama-diffusion-cli always formats the prompt with the model's chat template (ChatML when the
# file has none, which would add ~50 byte tokens); this one passes the text through unchanged.
CHAT_TEMPLATE = "{% for message in messages %}{{ message['content'] }}{% endfor %}"

# output name -> llama-quantize type name (None: written by this script)
FILES = {
    "f32": ("model-f32.gguf", None),
    "f16": ("model-f16.gguf", "F16"),
    "q8_0": ("model-q8_0.gguf", "Q8_0"),
    "q4_k_m": ("model-q4_k_m.gguf", "Q4_K_M"),
}


def bytes_to_unicode() -> dict[int, str]:
    """GPT-2's byte -> printable character map (the byte-level BPE alphabet)."""
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + \
        list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return {b: chr(c) for b, c in zip(bs, cs)}


def synthetic_vocab(hp: dict) -> tuple[list[str], list[int]]:
    vocab_size = hp["vocab_size"]
    byte_sym = bytes_to_unicode()
    eos, mask = hp.get("eos_token_id"), hp.get("mask_token_id")
    tokens, types = [], []
    for i in range(vocab_size):
        if i == mask:
            tokens.append("<|mdm_mask|>")
            types.append(gguf.TokenType.CONTROL)
        elif i == eos:
            tokens.append("<|endoftext|>")
            types.append(gguf.TokenType.CONTROL)
        elif i < 256:
            tokens.append(byte_sym[i])
            types.append(gguf.TokenType.NORMAL)
        else:
            tokens.append(f"<t{i}>")
            types.append(gguf.TokenType.USER_DEFINED)
    return tokens, types


def prompt_ids(n: int, vocab_size: int) -> list[int]:
    """n prompt ids, all <tK> tokens (256 <= K < vocab_size - 2), spread over the vocabulary
    like `tessera bench forward`'s prompt (i * 7919 mod ...)."""
    span = vocab_size - 2 - 256
    return [256 + (i * 7919) % span for i in range(n)]


def prompt_text(n: int, vocab_size: int) -> str:
    return "".join(f"<t{i}>" for i in prompt_ids(n, vocab_size))


def set_synthetic_vocab(w: gguf.GGUFWriter, hp: dict) -> None:
    """The vocabulary of the module docs, in place of convert's ``_set_vocab_gpt2``."""
    tokens, types = synthetic_vocab(hp)
    w.add_tokenizer_model("gpt2")
    w.add_tokenizer_pre("gpt-2")
    w.add_token_list(tokens)
    w.add_token_types(types)
    w.add_token_merges(["Ġ Ġ"])
    eos = hp.get("eos_token_id", hp["vocab_size"] - 2)
    w.add_bos_token_id(eos)
    w.add_eos_token_id(eos)
    w.add_pad_token_id(hp.get("pad_token_id", eos))
    w.add_add_bos_token(False)
    w.add_chat_template(CHAT_TEMPLATE)


def convert_f32(dir_model: Path, out: Path) -> None:
    """make_gguf_fixtures.convert for an f32 LLaDA folder, with the synthetic vocabulary."""
    llada = next(a for a in ARCHS if a.model_arch == gguf.MODEL_ARCH.LLADA)
    convert(llada, gguf.LlamaFileType.ALL_F32, gguf.GGMLQuantizationType.F32, out,
            dir_model=dir_model, set_vocab=set_synthetic_vocab)


def check_f32(dir_model: Path, path: Path) -> None:
    hp = llada_hparams(load_json(dir_model / "config.json"))
    tensor_map = gguf.get_tensor_name_map(gguf.MODEL_ARCH.LLADA, hp["n_layers"])
    source = dict(read_tensors(dir_model))
    source_of = {tensor_map.get_name(n, try_suffixes=(".weight", ".bias")): n for n in source}
    r = gguf.GGUFReader(path)
    for t in r.tensors:
        src = source[source_of[t.name]]
        got = np.asarray(t.data).reshape(src.shape)
        if t.name.endswith("attn_q.weight"):
            got = unpermute(got, hp["n_heads"])
        elif t.name.endswith("attn_k.weight"):
            got = unpermute(got, hp.get("n_kv_heads") or hp["n_heads"])
        if not np.array_equal(got, src):
            raise SystemExit(f"{path}: {t.name} differs from {source_of[t.name]}")
    print(f"{path}: {len(r.tensors)} tensors equal to the checkpoint")


def find_tool(name: str, bin_dir: str | None) -> str | None:
    if bin_dir:
        p = Path(bin_dir) / name
        if p.is_file() and os.access(p, os.X_OK):
            return str(p)
    return shutil.which(name)


def make(dir_model: Path, out_dir: Path | None = None, bin_dir: str | None = None,
         types=("f16", "q8_0", "q4_k_m"), threads: int = 2) -> dict[str, Path]:
    """Write model-f32.gguf and, if llama-quantize is found, the quantized files; returns
    {type: path} of the files that exist. Files already there are kept."""
    out_dir = out_dir or dir_model
    out_dir.mkdir(parents=True, exist_ok=True)
    f32 = out_dir / FILES["f32"][0]
    if not f32.is_file():
        tmp = f32.with_suffix(".tmp")
        convert_f32(dir_model, tmp)
        tmp.replace(f32)
        print(f"wrote {f32}", file=sys.stderr)
    made = {"f32": f32}
    quantize = find_tool("llama-quantize", bin_dir)
    if quantize is None:
        if types:
            print("llama-quantize not found (--llama-cpp-bin or PATH): only the F32 file",
                  file=sys.stderr)
        return made
    for t in types:
        name, qname = FILES[t]
        path = out_dir / name
        if not path.is_file():
            r = subprocess.run([quantize, str(f32), str(path), qname, str(threads)],
                               capture_output=True, text=True)
            if r.returncode != 0:
                raise SystemExit(f"llama-quantize {qname} failed:\n{r.stdout[-2000:]}{r.stderr[-2000:]}")
            print(f"wrote {path}", file=sys.stderr)
        made[t] = path
    return made


def smoke(cli: str, path: Path, vocab_size: int) -> str:
    """A 32-token prompt, 64 generated tokens in 2 blocks of one step each (then the empty
    third block diffusion-cli runs one forward on): loads and runs, or raises. Success is
    the progress line of the last step: llama.cpp's logger may drop its last lines at exit
    (common/log.cpp leaks the logger on purpose), so "total time" and the text can be missing."""
    cmd = [cli, "-m", str(path), "-p", prompt_text(32, vocab_size), "-ub", "96", "-b", "96",
           "-c", "96", "--diffusion-block-length", "32", "--diffusion-steps", "3",
           "--temp", "0", "--top-k", "1", "-t", "2", "-tb", "2"]
    r = subprocess.run(cmd, capture_output=True, text=True)
    text = r.stdout + r.stderr
    if r.returncode != 0 or "diffusion step: 2/3" not in text:
        raise SystemExit(f"llama-diffusion-cli failed on {path}:\n{text[-3000:]}")
    return text


def generated_text(log: str) -> str | None:
    """The text diffusion-cli prints after its timing line (None if the logger lost it)."""
    if "sampling time per step" not in log:
        return None
    lines = [l for l in log.rsplit("sampling time per step", 1)[1].splitlines()[1:]
             if not re.fullmatch(r"[\d.]+ I\s*", l.strip())]
    return lines[0] if lines else ""


def main() -> int:
    logging.basicConfig(level=logging.WARNING)
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("model", type=Path, help="random LLaDA folder (tessera bench random)")
    ap.add_argument("--out", type=Path, help="output folder (default: the model folder)")
    ap.add_argument("--llama-cpp-bin", help="folder with llama-quantize / llama-diffusion-cli")
    ap.add_argument("--types", default="f16,q8_0,q4_k_m")
    ap.add_argument("--check", action="store_true")
    args = ap.parse_args()
    types = [t for t in args.types.split(",") if t and t != "f32"]
    made = make(args.model, args.out, args.llama_cpp_bin, types)
    if args.check:
        check_f32(args.model, made["f32"])
        cli = find_tool("llama-diffusion-cli", args.llama_cpp_bin)
        if cli is None:
            print("llama-diffusion-cli not found: not run")
        else:
            vocab = load_json(args.model / "config.json")["vocab_size"]
            for t, path in made.items():
                gen = generated_text(smoke(cli, path, vocab))
                if gen is None:
                    print(f"{path}: llama-diffusion-cli ran (its logger lost the output text)")
                else:
                    n = len(re.findall(r"<t\d+>", gen))
                    print(f"{path}: llama-diffusion-cli ran; output has {n} <tN> tokens: {gen[:120]}")
    for t, path in made.items():
        print(f"{t}: {path} ({path.stat().st_size / 1e6:.1f} MB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
