#!/usr/bin/env python3
"""Generates the adversarial suite of the `tessera` CLI (issue 16, item 5).

Writes ``tests/fixtures/adversarial/cases.json`` and the small input files under
``tests/fixtures/adversarial/files/``; the runner is ``cli/tests/adversarial/mod.rs`` (run by
``cargo test -p tessera --test cli adversarial``). Python 3 standard library only; the output
is deterministic, so regenerating without changes leaves the tree unchanged.

Every case is built by a loop over options × hostile values, files × corruptions or
configs × fields (one function per kind below). Each expects either a typed error (exit code,
and substrings of stderr naming the option, limit, field or file) or, for odd-but-valid input,
exit 0 and a checked answer. Model-folder cases never copy weights here: they name a base
folder and the edits the runner applies to a temporary copy (see the README).

    python3 scripts/make_adversarial.py
"""

import json
import os
import shutil
import struct
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import adversarial_cases as more  # noqa: E402  (the model-folder kinds)
from adversarial_files import (  # noqa: E402
    jpeg_with_size, png, png_chunk, png_header_only, rand_bytes, sine_pcm16, wav,
)

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FIXTURES = os.path.join(ROOT, "tests", "fixtures")
OUT = os.path.join(FIXTURES, "adversarial")
FILES = os.path.join(OUT, "files")

U64_MAX = "18446744073709551615"
U64_WRAP = "18446744073709551616"


class Suite:
    """The cases and the files they read."""

    def __init__(self):
        self.cases = []
        self.files = {}

    def file(self, name, data):
        """Registers `data` as files/`name`; returns the path as a case argument."""
        assert name not in self.files or self.files[name] == data, name
        self.files[name] = data
        return "{files}/" + name

    def add(self, kind, name, args, expect, model=None, mib=None, secs=None, rss=None):
        case = {"name": f"{kind}/{name}", "kind": kind, "args": list(args), "expect": expect}
        if model is not None:
            case["model"] = model
        for key, value in (("mib", mib), ("secs", secs), ("max_rss_mib", rss)):
            if value is not None:
                case[key] = value
        assert all(c["name"] != case["name"] for c in self.cases), case["name"]
        self.cases.append(case)


def fails(*needles, code=1):
    """A typed error: exit `code`, each needle in stderr."""
    return {"exit": code, "stderr": list(needles)}


def usage(*needles):
    """An argument the parser refuses (clap's exit code 2), naming the flag."""
    return fails(*needles, code=2)


def succeeds(json_checks=None, files=None, stdout=None):
    """Exit 0 with a checked answer (see the README for the check keys)."""
    e = {"exit": 0}
    if json_checks:
        e["stdout_json"] = json_checks
    if files:
        e["files"] = files
    if stdout:
        e["stdout"] = stdout
    return e


LLADA = ["generate", "--model", "{llada}", "--prompt-ids", "1,2,3"]
DREAM = ["generate", "--model", "{dream}", "--prompt-ids", "1,2,3"]
SIXTEEN = ["--gen-length", "16", "--steps", "8"]


def llada(*extra):
    """`generate` on llada-tiny, 16 tokens in 8 steps, with `extra` flags (a flag given here
    replaces the default's)."""
    base = LLADA + SIXTEEN
    given = {a for a in extra if a.startswith("--")}
    out, i = [], 0
    while i < len(base):
        if base[i] in given and base[i] in SIXTEEN:
            i += 2
            continue
        out.append(base[i])
        i += 1
    return out + list(extra)


def text_ok(n, mask, below):
    """`--json` ids of a text generation: `n` of them, none the mask id, all below `below`."""
    return {"len": {"/ids": n}, "not_in": {"/ids": [mask]}, "below": {"/ids": below}}


# ---------------------------------------------------------------------------------------
# Decoding options: numbers, specs, limits, prompts.


def numbers(s):
    ints = {
        "--gen-length": "usize", "--steps": "usize", "--block-length": "usize",
        "--top-k": "usize", "--max-length": "usize", "--seed": "u64",
        "--max-canvas": "usize", "--max-steps": "usize", "--max-rounds": "usize",
        "--max-segments": "usize", "--max-prompts": "usize", "--max-request-bytes": "usize",
        "--max-image-bytes": "u64", "--max-image-pixels": "u64", "--max-audio-bytes": "u64",
        "--max-audio-seconds": "u32", "--text-length": "usize",
    }
    for flag, ty in ints.items():
        # One wrap past the type for every flag; the other spellings on a few.
        values = [("wrap", "4294967296" if ty == "u32" else U64_WRAP)]
        if flag == "--gen-length":
            values += [("negative", "-1"), ("fraction", "1.5"), ("empty", ""), ("hex", "0x10")]
        for label, value in values:
            s.add("parse", f"{flag[2:]}-{label}", LLADA + [flag, value], usage(f"'{flag} <"))
    for flag in ("--temperature", "--top-p", "--cfg-scale", "--alg-temp", "--eps"):
        s.add("parse", f"{flag[2:]}-word", DREAM + [flag, "abc"], usage(f"'{flag} <"))
    s.add("parse", "temperature-flag-as-value", DREAM + ["--temperature", "--json"], usage("'--temperature <", "--json"))
    # Values that parse but make no sense: each refused naming its option.
    floats = {
        "temperature": ["nan", "inf", "-inf", "-1e-300"],
        "top-p": ["nan", "-inf", "0", "-0.0", "1.0000001", "1e309"],
        "cfg-scale": ["nan", "inf", "-1"],
        "alg-temp": ["nan", "-inf"],
    }
    for opt, values in floats.items():
        for v in values:
            s.add("option", f"{opt}={v}", llada(f"--{opt}", v), fails(f"`{opt}`"))
    for v in ("nan", "-inf", "0", "1"):
        s.add("option", f"dream-eps={v}", DREAM + SIXTEEN + ["--eps", v], fails("eps", "(0, 1)"))
    for opt, v, needle in (
        ("gen-length", "0", "`gen-length`"),
        ("block-length", "0", "`block-length`"),
        ("block-length", U64_MAX, "`block-length`"),
        ("block-length", "5", "`block-length`"),
        ("top-k", "0", "`top-k`"),
    ):
        s.add("option", f"{opt}={v}", llada(f"--{opt}", v), fails(needle))
    s.add("option", "steps=0", LLADA + ["--gen-length", "16", "--steps", "0"], fails("`steps`"))
    s.add("option", "steps-uneven", LLADA + ["--gen-length", "16", "--steps", "6", "--block-length", "4"], fails("`steps`"))
    s.add("option", "max-length=0", LLADA + SIXTEEN + ["--expand", "--max-length", "0"], fails("`max-length`"))
    s.add("option", "max-length-no-expand", LLADA + SIXTEEN + ["--max-length", "64"], fails("max-length"))
    s.add("option", "events-without-json", LLADA + SIXTEEN + ["--events"], usage("--json"))
    s.add("option", "dream-only-eps-on-llada", LLADA + SIXTEEN + ["--eps", "0.01"], fails("`eps`", "llada preset"))
    s.add("option", "dream-only-alg-on-llada", LLADA + SIXTEEN + ["--alg", "entropy"], fails("`alg`", "llada preset"))
    s.add("option", "alg-and-remasking", DREAM + SIXTEEN + ["--alg", "entropy", "--remasking", "margin"], fails("`alg` or `remasking`"))
    s.add("option", "dtype-f64", LLADA + SIXTEEN + ["--dtype", "f64"], usage("'--dtype <", "f64"))
    for dev in ("tpu", "cuda:x"):
        s.add("option", f"device-{dev}", LLADA + SIXTEEN + ["--device", dev], usage("'--device <"))
    s.add("option", "device-cuda-huge", LLADA + SIXTEEN + ["--device", "cuda:99999999999"], fails("cuda"))


def specs(s):
    bad = {
        "unmask": ["", "bogus", "threshold", "threshold:nan", "threshold:2", "factor:inf",
                   "entropy-bound:nan"],
        "remask": ["bogus", "refine:x:0.5", "refine:2:nan", "refine:2:1.5",
                   "refine:" + U64_WRAP + ":0.5", "remdm-cap:nan", "remdm-rescale:-1", "recheck:2:0"],
        "schedule": ["cubic", "timesteps:nan", "timesteps:0", "timesteps:-inf"],
        "segment": ["", "8", "8:bogus", "-8:ar", U64_WRAP + ":ar", "8:diffusion:4:4:9"],
        "policy": ["bogus"],
        "cache": ["dual:1"],
        "remasking": ["bogus"],
        "draw": ["bogus"],
        "alg": ["bogus"],
        "sampler": ["LLaDA"],
    }
    for opt, values in bad.items():
        for v in values:
            s.add("spec", f"{opt}={v or 'empty'}", llada(f"--{opt}", v), usage(f"'--{opt} <"))
    # Specs that parse but do not fit the request: refused by the controller, naming it.
    for name, extra, needle in (
        ("segment-zero-length", ["--segment", "0:diffusion"], "segment 1"),
        ("segment-zero-steps", ["--segment", "8:diffusion:0"], "segment 1"),
        ("segment-block-not-dividing", ["--segment", "8:block:4:3"], "segment 1"),
        ("segment-sum-disagrees", ["--segment", "8:ar", "--segment", "8:diffusion", "--gen-length", "20"], "gen-length"),
        ("segment-steps-disagree", ["--segment", "8:ar:8", "--steps", "3"], "steps"),
    ):
        s.add("spec", name, LLADA + extra, fails(needle))


def limits(s):
    cases = [
        ("segments-wrap", ["--segment", "8:diffusion", "--segment", "18446744073709551610:ar"], "segments"),
        ("gen-length-u64-max", ["--gen-length", U64_MAX], "steps"),
        ("gen-length-u64-max-steps", ["--gen-length", U64_MAX, "--steps", "4"], "max_canvas"),
        ("segment-u64-max", ["--segment", U64_MAX + ":diffusion:1"], "max_canvas"),
        ("two-segments-near-max", ["--segment", "9223372036854775808:ar:1", "--segment", "9223372036854775808:ar:1"], "segments"),
        ("steps-1e9", ["--gen-length", "16", "--steps", "1000000000"], "max_steps"),
        ("steps-u64-max", ["--gen-length", "16", "--steps", U64_MAX], "more than a decoding can count"),
        ("refine-rounds-1e9", ["--gen-length", "16", "--remask", "refine:1000000000:0.5"], "max_rounds"),
        ("recheck-rounds-1e9", ["--gen-length", "16", "--remask", "recheck:1000000000"], "max_rounds"),
        ("dream-steps-1e8", ["--gen-length", "16", "--steps", "100000000", "--sampler", "dream"], "max_steps"),
        ("expand-max-length-huge", ["--gen-length", "16", "--expand", "--max-length", "99999999999", "--block-length", "8"], "max_canvas"),
        ("expand-max-length-u64", ["--gen-length", "16", "--expand", "--max-length", U64_MAX, "--block-length", "8"], "max_canvas"),
        ("insert-max-length-u64", ["--gen-length", "16", "--insert", "--unmask", "threshold:0.9", "--max-length", U64_MAX, "--block-length", "8"], "max_canvas"),
        ("canvas-over-flag", ["--gen-length", "64", "--max-canvas", "32"], "max_canvas"),
        ("steps-over-flag", ["--gen-length", "16", "--steps", "16", "--max-steps", "4"], "max_steps"),
        ("rounds-over-flag", ["--gen-length", "16", "--remask", "refine:2:0.5", "--max-rounds", "1"], "max_rounds"),
        ("segments-over-flag", ["--segment", "8:ar", "--segment", "8:ar", "--max-segments", "1"], "max_segments"),
        ("prompts-over-flag", ["--gen-length", "16", "--max-prompts", "0"], "max_prompts"),
        ("model-max-length", ["--gen-length", "1024", "--steps", "1024"], "maximum length"),
    ]
    for name, extra, needle in cases:
        s.add("limit", name, LLADA + extra, fails(needle))
    many = []
    for _ in range(1025):
        many += ["--segment", "1:ar"]
    s.add("limit", "segments-1025", LLADA + many, fails("max_segments"))
    s.add("limit", "request-bytes-text", ["generate", "--model", "{llada}", "--prompt", "x" * 17, "--max-request-bytes", "16"] + SIXTEEN, fails("max_request_bytes"))
    s.add("limit", "request-bytes-chat", ["generate", "--model", "{llada}", "--prompt", "y" * 40, "--chat", "--max-request-bytes", "16"] + SIXTEEN, fails("max_request_bytes"))
    s.add("limit", "request-bytes-world", ["generate", "--prompt", "1+1=" * 8, "--max-request-bytes", "16"], fails("max_request_bytes"))
    s.add("limit", "request-bytes-question", ["generate", "--model", "{mmada}", "--task", "caption", "--image", "{fixtures}/images/shapes_16.png", "--vq", "{fixtures}/magvit-tiny", "--question", "q" * 64, "--max-request-bytes", "16"], fails("max_request_bytes"))
    s.add("limit", "request-bytes-t2i", ["generate", "--model", "{mmada}", "--task", "t2i", "--prompt", "z" * 64, "--json", "--max-request-bytes", "16"], fails("max_request_bytes"))


def prompts(s):
    for model, mask, vocab in (("llada", 299, 320), ("dream", 319, 320), ("mmada", 299, 8502)):
        base = ["generate", "--model", "{" + model + "}"] + SIXTEEN
        places = (("alone", [mask]), ("first", [mask, 1, 2]), ("last", [1, 2, mask]))
        for where, ids in places if model == "llada" else places[2:]:
            s.add("prompt", f"{model}-mask-id-{where}", base + ["--prompt-ids", ",".join(map(str, ids))], fails("mask id"))
        for label, tid in (("embedding-size", vocab), ("u32-max", 4294967295)):
            s.add("prompt", f"{model}-id-{label}", base + ["--prompt-ids", f"1,{tid}"], fails(str(tid), "vocabulary"))
    for label, ids in (("u32-wrap", "1,4294967296"), ("negative-first", "-1,2"), ("word", "1,x"), ("empty", "")):
        s.add("prompt", f"ids-{label}", LLADA[:3] + SIXTEEN + ["--prompt-ids", ids], usage("'--prompt-ids <"))
    s.add("prompt", "text-empty", LLADA[:3] + SIXTEEN + ["--prompt", ""], fails("prompt"))
    s.add("prompt", "none", LLADA[:3] + SIXTEEN, usage("--prompt"))
    s.add("prompt", "text-and-ids", LLADA + SIXTEEN + ["--prompt", "x"], usage("--prompt"))
    s.add("prompt", "text-without-tokenizer", ["generate", "--model", "{fixtures}/llada-places", "--prompt", "x"] + SIXTEEN, fails("tokenizer.json"))
    s.add("prompt", "chat-with-ids", LLADA + SIXTEEN + ["--chat"], fails("`--chat`", "--prompt-ids"))
    s.add("prompt", "dream-prompt-over-max-length", ["generate", "--model", "{dream}", "--prompt-ids", ",".join(["5"] * 250)] + SIXTEEN, fails("maximum length"))
    s.add("prompt", "world-ids", ["generate", "--prompt-ids", "1,2"], fails("--prompt text"))
    s.add("prompt", "world-empty", ["generate", "--prompt", ""], fails("prompt"))
    s.add("prompt", "world-over-max-length", ["generate", "--prompt", "1+1=" * 300], fails("maximum length 1024"))
    s.add("prompt", "world-unknown-characters", ["generate", "--prompt", "\u2211\u222b\U0001F600"], fails("prompt"))


# ---------------------------------------------------------------------------------------
# Flags that do not apply to the model or task.


def inapplicable(s):
    img, wavf = "{fixtures}/images/shapes_16.png", "{fixtures}/audio/sine440.wav"
    # (name, base args, world model?, task)
    contexts = [
        ("llada-text", ["--model", "{llada}", "--prompt-ids", "1,2"] + SIXTEEN, False, "text"),
        ("dream-text", ["--model", "{dream}", "--prompt-ids", "1,2"] + SIXTEEN, False, "text"),
        ("mmada-t2i", ["--model", "{mmada}", "--task", "t2i", "--prompt", "x", "--json"], False, "t2i"),
        ("mmada-caption", ["--model", "{mmada}", "--task", "caption", "--image", img, "--vq", "{fixtures}/magvit-tiny"], False, "caption"),
        ("tiny-text", ["--prompt", "1+1="], True, "text"),
        ("tiny-t2i", ["--task", "t2i", "--prompt", "a red circle", "--json"], True, "t2i"),
        ("tiny-caption", ["--task", "caption", "--image", img], True, "caption"),
        ("tiny-t2a", ["--task", "t2a", "--prompt", "C4", "--json"], True, "t2a"),
        ("tiny-transcribe", ["--task", "transcribe", "--audio", wavf], True, "transcribe"),
    ]
    flags = [
        ("vq", ["--vq", "{fixtures}/magvit-tiny"], "`--vq`", lambda w, t: not w and t in ("t2i", "caption")),
        ("image", ["--image", img], "`--image`", lambda w, t: t == "caption"),
        ("audio", ["--audio", wavf], "`--audio`", lambda w, t: w and t == "transcribe"),
        ("question", ["--question", "why"], "`--question`", lambda w, t: not w and t == "caption"),
        ("text-length", ["--text-length", "4"], "`--text-length`", lambda w, t: not w and t == "t2i"),
        ("annealing", ["--annealing", "maskgit"], "`--annealing`", lambda w, t: not w and t == "t2i"),
        ("chat", ["--chat"], "`--chat`", lambda w, t: not w and t == "text"),
        ("output", ["-o", "{out}/x.png"], "`-o/--output`", lambda w, t: t == "t2i" or (w and t == "t2a")),
    ]
    # Each flag on three of the contexts it does not apply to (rotating, so every context is
    # met by several flags).
    for i, (fname, extra, needle, applies) in enumerate(flags):
        wrong = [c for c in contexts if not applies(c[2], c[3]) and not (fname == "chat" and "--prompt" not in c[1])
                 and extra[0] not in c[1]]
        for cname, base, _, _ in (wrong[i % len(wrong):] + wrong[: i % len(wrong)])[:3]:
            s.add("inapplicable", f"{fname}-on-{cname}", ["generate"] + base + extra, fails(needle))
    for opt, v in (("policy", "ar"), ("remask", "rcr"), ("top-p", "0.9"), ("until-eos", None), ("gen-length", "8")):
        extra = [f"--{opt}"] + ([v] if v is not None else [])
        s.add("inapplicable", f"{opt}-on-mmada-t2i", ["generate", "--model", "{mmada}", "--task", "t2i", "--prompt", "x", "--json"] + extra, fails(f"`--{opt}`", "text-to-image"))
    for task in ("t2a", "transcribe"):
        s.add("inapplicable", f"{task}-on-llada", ["generate", "--model", "{llada}", "--task", task, "--prompt", "x"], fails(f"`--task {task}`", "world model"))
    s.add("inapplicable", "t2i-on-llada", ["generate", "--model", "{llada}", "--task", "t2i", "--prompt", "x", "--vq", "{fixtures}/magvit-tiny", "-o", "{out}/x.png"], fails("task"))
    for ctx, base, want in (
        ("tiny-t2i", ["--task", "t2i", "--prompt", "a red circle"], ".png"),
        ("tiny-t2a", ["--task", "t2a", "--prompt", "C4"], ".wav"),
        ("mmada-t2i", ["--model", "{mmada}", "--task", "t2i", "--prompt", "x", "--vq", "{fixtures}/magvit-tiny"], ".png"),
    ):
        wrong = "x.wav" if want == ".png" else "x.png"
        for out in (wrong, "x"):
            s.add("inapplicable", f"{ctx}-output-{out}", ["generate"] + base + ["-o", "{out}/" + out], fails("writes a " + want))
    s.add("inapplicable", "tiny-t2i-no-output", ["generate", "--task", "t2i", "--prompt", "a red circle"], fails("-o"))
    s.add("inapplicable", "mmada-t2i-no-output", ["generate", "--model", "{mmada}", "--task", "t2i", "--prompt", "x", "--vq", "{fixtures}/magvit-tiny"], fails("-o out.png"))
    s.add("inapplicable", "caption-without-image", ["generate", "--task", "caption", "--prompt", "x"], fails("--image"))
    s.add("inapplicable", "transcribe-without-audio", ["generate", "--task", "transcribe", "--prompt", "x"], fails("--audio"))
    s.add("inapplicable", "mmada-caption-no-vq", ["generate", "--model", "{mmada}", "--task", "caption", "--image", img], fails("--vq"))
    s.add("inapplicable", "bandwidth-on-frame-vq", ["audio", "encode", "--codec", "{tiny}/audio-vq", wavf, "--bandwidth", "1.5"], fails("bandwidth"))
    for bw in ("99", "nan", "-1"):
        s.add("inapplicable", f"encodec-bandwidth-{bw}", ["audio", "encode", "--codec", "{fixtures}/encodec-tiny", wavf, "--bandwidth", bw], fails("bandwidth"))


# ---------------------------------------------------------------------------------------
# Pictures and sounds.


def images(s):
    photo = open(os.path.join(FIXTURES, "images", "photo_48x40.jpg"), "rb").read()
    good = open(os.path.join(FIXTURES, "images", "pattern_32.png"), "rb").read()
    bad = [
        ("strip-1000000x1.png", png(1_000_000, 1), ["max_side"]),
        ("strip-1x1000000.png", png(1, 1_000_000), ["max_side"]),
        ("declared-100000x100000.png", png_header_only(100_000, 100_000), ["max_pixels"]),
        ("declared-2147483647sq.png", png_header_only(2_147_483_647, 2_147_483_647), ["max_pixels"]),
        ("declared-8193x8193.png", png_header_only(8193, 8193), ["max_pixels"]),
        ("declared-65536x1.png", png_header_only(65_536, 1), ["max_side"]),
        ("declared-0x0.png", png_header_only(0, 0), ["cannot decode image", "dimensions"]),
        ("declared-0x16.png", png(0, 16, idat=b""), ["cannot decode image", "dimensions"]),
        ("no-idat.png", png(16, 16, idat=False), ["cannot decode image"]),
        ("idat-random.png", png(16, 16, idat=rand_bytes(300, 1)), ["cannot decode image"]),
        ("idat-half.png", idat_half(good), ["cannot decode image"]),
        ("truncated-half.png", good[: len(good) // 2], ["cannot decode image"]),
        ("truncated-signature.png", good[:12], ["cannot decode image"]),
        ("bad-crc.png", good[:29] + bytes([good[29] ^ 0xFF]) + good[30:], ["cannot decode image"]),
        ("bit-depth-3.png", png_header_only(16, 16, bit_depth=3), ["cannot decode image", "bit depth"]),
        ("color-type-5.png", png_header_only(16, 16, color_type=5), ["cannot decode image", "color type"]),
        ("palette-missing.png", png(4, 4, color_type=3), ["cannot decode image"]),
        ("declared-65500sq.jpg", jpeg_with_size(photo, 65_500, 65_500), ["max_pixels"]),
        ("declared-0x0.jpg", jpeg_with_size(photo, 0, 0), ["cannot decode image", "zero"]),
        ("truncated-half.jpg", photo[: len(photo) // 2], ["cannot decode image"]),
        ("truncated-header.jpg", photo[:100], ["cannot decode image"]),
        ("soi-then-random.jpg", b"\xff\xd8" + rand_bytes(2000, 2), ["unsupported or unrecognised image format"]),
        ("jfif-then-random.jpg", photo[:20] + rand_bytes(2000, 7), ["cannot decode image"]),
        ("empty.png", b"", ["unsupported or unrecognised image format"]),
        ("random.png", rand_bytes(4096, 3), ["unsupported or unrecognised image format"]),
        ("gif.png", b"GIF89a" + b"\x01\x00\x01\x00\x00\x00\x00;", ["unsupported or unrecognised image format"]),
        ("bmp.png", b"BM" + rand_bytes(60, 4), ["unsupported or unrecognised image format"]),
        ("wav-named.png", wav(frames=100), ["unsupported or unrecognised image format"]),
    ]
    entries = {
        "encode": ["image", "encode", "--vq", "{tiny}/image-vq"],
        "caption": ["generate", "--task", "caption", "--image"],
        "mmada": ["generate", "--model", "{mmada}", "--vq", "{fixtures}/magvit-tiny", "--task", "caption", "--gen-length", "8", "--steps", "8", "--image"],
    }
    for i, (fname, data, needles) in enumerate(bad):
        path = s.file("image/" + fname, data)
        # Every file through the tokenizer; every third one through a world model's caption.
        for entry in ("encode", "caption") if i % 3 == 0 else ("encode",):
            s.add("image", f"{entry}-{fname}", entries[entry] + [path], fails(*needles))
    for fname in ("strip-1x1000000.png", "truncated-half.jpg"):
        s.add("image", f"mmada-{fname}", entries["mmada"] + ["{files}/image/" + fname], fails(*dict(bad_map(bad))[fname]))
    # Devices: refused from their first bytes (no format), never read to the end.
    for entry, dev in (("encode", "/dev/zero"), ("caption", "/dev/urandom")):
        s.add("image", f"{entry}-{dev[5:]}", entries[entry] + [dev], fails("unsupported or unrecognised image format"))
    s.add("image", "encode-directory", entries["encode"] + ["{files}"], fails("{files}"))
    s.add("image", "encode-missing", entries["encode"] + ["{files}/image/missing.png"], fails("missing.png"))
    s.add("image", "caption-over-byte-limit", entries["caption"] + ["{fixtures}/images/pattern_32.png", "--max-image-bytes", "100"], fails("max_file_bytes = 100", "--max-image-bytes"))
    s.add("image", "encode-over-pixel-limit", entries["encode"] + ["{fixtures}/images/pattern_32.png", "--max-image-pixels", "100"], fails("max_pixels = 100", "--max-image-pixels"))
    s.add("image", "caption-strip-flag-hint", entries["caption"] + ["{files}/image/declared-8193x8193.png"], fails("max_pixels", "--max-image-pixels"))
    # Odd but valid pictures: each encodes to the tokenizer's whole grid and captions.
    valid = [
        ("1x1.png", png(1, 1, pixel=b"\xff\x00\x00")),
        ("gray-1x3.png", png(1, 3, color_type=0, pixel=b"\x80")),
        ("gray-alpha-3x1.png", png(3, 1, color_type=4, pixel=b"\x80\xff")),
        ("rgba16-5x2.png", png(5, 2, bit_depth=16, color_type=6, pixel=b"\x12\x34" * 4)),
        ("palette-2x2.png", png(2, 2, color_type=3, pixel=b"\x00", plte=b"\x00\xff\x00")),
        ("strip-4096x1.png", png(4096, 1)),
        ("jpeg-named.png", photo),
        ("png-named.jpg", good),
    ]
    for i, (fname, data) in enumerate(valid):
        path = s.file("image/valid/" + fname, data)
        s.add("valid", f"encode-{fname}", entries["encode"] + [path, "--json"],
              succeeds({"eq": {"/height": 8, "/width": 8}, "len": {"/codes": 64}, "below": {"/codes": 272}}))
        if i % 2 == 0:
            s.add("valid", f"caption-{fname}", entries["caption"] + [path, "--json"],
                  succeeds({"type": {"/text": "string"}, "eq": {"/task": "caption"}}))
    s.add("valid", "mmada-caption-1x1", entries["mmada"] + ["{files}/image/valid/1x1.png", "--json"], succeeds(text_ok(8, 299, 310)))


def idat_half(png_bytes):
    """`png_bytes` with its IDAT payload cut in half (length and CRC rewritten to match)."""
    out, i = png_bytes[:8], 8
    while i < len(png_bytes):
        (n,) = struct.unpack(">I", png_bytes[i : i + 4])
        kind, data = png_bytes[i + 4 : i + 8], png_bytes[i + 8 : i + 8 + n]
        out += png_chunk(kind, data[: len(data) // 2] if kind == b"IDAT" else data)
        i += 12 + n
    return out


def bad_map(bad):
    return [(f, n) for f, _, n in bad]


def audio(s):
    pcm = sine_pcm16(1600, 16000)
    bad = [
        ("rate-2147483647.wav", wav(rate=2_147_483_647), ["sample rate", "2147483647"]),
        ("rate-4294967295.wav", wav(rate=4_294_967_295), ["sample rate", "4294967295"]),
        ("rate-1.wav", wav(rate=1), ["sample rate"]),
        ("rate-0.wav", wav(rate=0), ["sample rate 0 Hz"]),
        ("rate-999.wav", wav(rate=999), ["sample rate", "999"]),
        ("rate-384001.wav", wav(rate=384_001), ["sample rate", "384001"]),
        ("channels-0.wav", wav(channels=0, block_align=2), ["corrupt or truncated audio", "channel"]),
        ("channels-65535.wav", wav(channels=65_535, data=b"\x00" * 400), ["corrupt or truncated audio"]),
        ("bits-0.wav", wav(bits=0, block_align=2), ["corrupt or truncated audio", "bits per sample"]),
        ("bits-7.wav", wav(bits=7, block_align=1), ["corrupt or truncated audio", "bits per sample"]),
        ("bits-64-pcm.wav", wav(bits=64), ["corrupt or truncated audio", "bits per sample"]),
        ("format-mp3-in-wav.wav", wav(fmt_tag=0x55), ["unsupported audio format"]),
        ("format-unknown.wav", wav(fmt_tag=0x1234), ["unsupported audio format"]),
        ("data-size-huge.wav", wav(data=pcm[:400], data_size=0xFFFFFFF0), ["corrupt or truncated audio"]),
        ("data-size-huge-riff-too.wav", wav(data=pcm[:400], data_size=0xFFFFFFF0, riff_size=0xFFFFFFFF), ["max_duration_s"]),
        ("data-size-zero.wav", wav(data=b"", data_size=0), ["empty"]),
        ("duration-bomb-1khz.wav", wav(rate=1000, data=b"\x00" * 400, data_size=0xFFFFFFF0, riff_size=0xFFFFFFFF), ["max_duration_s", "--max-audio-seconds"]),
        ("fmt-size-huge.wav", wav(fmt_size=0xFFFFFFF0), ["corrupt or truncated audio"]),
        ("fmt-size-2.wav", wav(fmt_size=2), ["corrupt or truncated audio", "fmt"]),
        ("no-fmt.wav", wav(with_fmt=False), ["corrupt or truncated audio", "format chunk"]),
        ("no-data.wav", wav(with_data=False), ["unsupported audio format", "data chunk"]),
        ("riff-only.wav", b"RIFF\x04\x00\x00\x00WAVE", ["data chunk"]),
        ("empty.wav", b"", ["empty"]),
        ("random.wav", rand_bytes(4096, 5), ["unsupported audio format"]),
        ("png-named.wav", png(4, 4), ["unsupported audio format"]),
    ]
    for src in ("flac", "mp3", "ogg", "wav"):
        data = open(os.path.join(FIXTURES, "audio", "sine440." + src), "rb").read()
        bad.append((f"truncated-16-bytes.{src}", data[:16], ["audio format" if src == "mp3" else "truncated"]))
        bad.append((f"truncated-half.{src}", data[: len(data) // 2], ["truncated"]))
        if src != "wav":  # random PCM samples are a valid (noisy) sound
            why = {"flac": "truncated", "mp3": "unsupported audio format", "ogg": "corrupt or truncated audio"}[src]
            bad.append((f"garbled-middle.{src}", data[:200] + rand_bytes(len(data) - 400, 6) + data[-200:], [why]))
    entries = {
        "encode": ["audio", "encode", "--codec", "{tiny}/audio-vq"],
        "transcribe": ["generate", "--task", "transcribe", "--audio"],
        "encodec": ["audio", "encode", "--codec", "{fixtures}/encodec-tiny"],
    }
    for i, (fname, data, needles) in enumerate(bad):
        path = s.file("audio/" + fname, data)
        # Every file through the codec; every third one through a world model's transcription.
        for entry in ("encode", "transcribe") if i % 3 == 0 else ("encode",):
            s.add("audio", f"{entry}-{fname}", entries[entry] + [path], fails(*needles))
    for fname in ("rate-2147483647.wav", "duration-bomb-1khz.wav", "truncated-half.flac"):
        needles = dict(bad_map(bad))[fname]
        s.add("audio", f"encodec-{fname}", entries["encodec"] + ["{files}/audio/" + fname], fails(*needles))
    for entry, dev in (("encode", "/dev/zero"), ("transcribe", "/dev/urandom")):
        s.add("audio", f"{entry}-{dev[5:]}", entries[entry] + [dev, "--max-audio-bytes", "1048576"], fails("max_file_bytes = 1048576", "--max-audio-bytes"))
    s.add("audio", "encode-dev-zero-default-limit", entries["encode"] + ["/dev/zero"], fails("unsupported audio format"), secs=120)
    s.add("audio", "encode-directory", entries["encode"] + ["{files}"], fails("{files}"))
    s.add("audio", "encode-over-seconds", entries["encode"] + ["{fixtures}/audio/sine440.wav", "--max-audio-seconds", "0"], fails("max_duration_s", "--max-audio-seconds"))
    s.add("audio", "transcribe-over-bytes", entries["transcribe"] + ["{fixtures}/audio/sine440.wav", "--max-audio-bytes", "100"], fails("max_file_bytes = 100", "--max-audio-bytes"))
    # Odd but valid sounds: decoded, resampled to the codec's rate, encoded.
    valid = [
        ("mono16-11025.wav", wav(rate=11025, data=sine_pcm16(2205, 11025))),
        ("mono16-1000.wav", wav(rate=1000, data=sine_pcm16(200, 1000))),
        ("mono16-384000.wav", wav(rate=384_000, data=sine_pcm16(19200, 384_000, freq=1000.0)[: 19200 * 2])),
        ("stereo16-22050.wav", wav(rate=22050, channels=2, data=sine_pcm16(2205, 22050, channels=2))),
        ("float32-16000.wav", wav(fmt_tag=3, bits=32, data=b"\x00\x00\x00\x3f\x00\x00\x00\xbf" * 800)),
        ("riff-size-lies.wav", wav(data=pcm, riff_size=0xFFFFFFFF)),
        ("junk-chunk-first.wav", wav(data=pcm, chunks_before=[(b"JUNK", b"\x00" * 30)])),
        ("wav-named.mp3", wav(data=pcm)),
        ("flac-named.wav", open(os.path.join(FIXTURES, "audio", "sine440.flac"), "rb").read()),
    ]
    for i, (fname, data) in enumerate(valid):
        path = s.file("audio/valid/" + fname, data)
        s.add("valid", f"encode-{fname}", entries["encode"] + [path, "--json"],
              succeeds({"eq": {"/sample_rate": 16000}, "nonempty": ["/codes/0"], "below": {"/codes/0": 192}}))
        if i % 2 == 0:
            s.add("valid", f"transcribe-{fname}", entries["transcribe"] + [path, "--json"],
                  succeeds({"type": {"/text": "string"}, "eq": {"/task": "transcribe"}}))


def valid_requests(s):
    s.add("valid", "seed-u64-max", LLADA + SIXTEEN + ["--seed", U64_MAX, "--json"], succeeds(text_ok(16, 299, 320)))
    s.add("valid", "gen-length-at-canvas-limit", LLADA + SIXTEEN + ["--max-canvas", "19", "--json"], succeeds(text_ok(16, 299, 320)))
    s.add("valid", "one-token-one-step", LLADA + ["--gen-length", "1", "--steps", "1", "--json"], succeeds(text_ok(1, 299, 320)))
    s.add("valid", "steps-beyond-tokens", LLADA + ["--gen-length", "8", "--steps", "1000000000", "--max-steps", "1000000000", "--json"], succeeds(text_ok(8, 299, 320)), secs=60)
    s.add("valid", "top-k-u64-max", LLADA + SIXTEEN + ["--top-k", U64_MAX, "--temperature", "1", "--json"], succeeds(text_ok(16, 299, 320)))
    s.add("valid", "top-p-one-tiny-temperature", LLADA + SIXTEEN + ["--top-p", "1", "--temperature", "1e-300", "--json"], succeeds(text_ok(16, 299, 320)))
    s.add("valid", "max-rounds-0-without-remask", LLADA + SIXTEEN + ["--max-rounds", "0", "--json"], succeeds(text_ok(16, 299, 320)))
    s.add("valid", "max-segments-0-without-segments", LLADA + SIXTEEN + ["--max-segments", "0", "--json"], succeeds(text_ok(16, 299, 320)))
    s.add("valid", "recheck-zero-rounds", LLADA + SIXTEEN + ["--remask", "recheck:0", "--json"], succeeds(text_ok(16, 299, 320)))
    s.add("valid", "segments-ar-then-diffusion", LLADA + ["--segment", "4:ar", "--segment", "12:diffusion:6", "--json"], succeeds(text_ok(16, 299, 320)))
    s.add("valid", "dream-seed-u64-max", DREAM + SIXTEEN + ["--seed", U64_MAX, "--json"], succeeds(text_ok(16, 319, 320)))
    s.add("valid", "dream-eps-tiny", DREAM + SIXTEEN + ["--eps", "1e-300", "--json"], succeeds(text_ok(16, 319, 320)))
    s.add("valid", "dream-bf16", ["generate", "--model", "{fixtures}/dream-tiny-bf16", "--prompt-ids", "1,2,3", "--json"] + SIXTEEN, succeeds(text_ok(16, 319, 320)))
    s.add("valid", "llada-chat-prompt", ["generate", "--model", "{llada}", "--prompt", "hello", "--chat", "--json"] + SIXTEEN, succeeds(text_ok(16, 299, 320)))
    s.add("valid", "request-bytes-exactly-at-limit", ["generate", "--model", "{llada}", "--prompt", "x" * 16, "--max-request-bytes", "16", "--json"] + SIXTEEN, succeeds(text_ok(16, 299, 320)))
    s.add("valid", "prompt-text-starting-with-hyphen", ["generate", "--model", "{llada}", "--prompt", "-hello", "--json"] + SIXTEEN, succeeds(text_ok(16, 299, 320)))
    s.add("valid", "world-text", ["generate", "--prompt", "1+1=", "--json"], succeeds({"type": {"/text": "string"}, "eq": {"/task": "text"}}))
    s.add("valid", "world-t2i-uppercase-ext", ["generate", "--task", "t2i", "--prompt", "a red circle", "-o", "{out}/X.PNG"], succeeds(files={"X.PNG": "89504e470d0a1a0a"}))
    s.add("valid", "world-t2a", ["generate", "--task", "t2a", "--prompt", "C4", "-o", "{out}/x.wav"], succeeds(files={"x.wav": "52494646"}))
    s.add("valid", "mmada-t2i-json", ["generate", "--model", "{mmada}", "--task", "t2i", "--prompt", "x", "--steps", "2", "--text-length", "8", "--json"],
          succeeds({"eq": {"/height": 16, "/width": 16}, "len": {"/codes": 256}, "below": {"/codes": 8192}}))


# ---------------------------------------------------------------------------------------


def main():
    s = Suite()
    for kind in (numbers, specs, limits, prompts, inapplicable, images, audio, valid_requests):
        kind(s)
    more.all_kinds(s, fails, usage, succeeds, text_ok)
    if os.path.isdir(FILES):
        shutil.rmtree(FILES)
    for name, data in sorted(s.files.items()):
        path = os.path.join(FILES, name)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as f:
            f.write(data)
    with open(os.path.join(OUT, "cases.json"), "w") as f:
        json.dump({"cases": s.cases}, f, indent=1, ensure_ascii=False)
        f.write("\n")
    kinds = {}
    for c in s.cases:
        kinds[c["kind"]] = kinds.get(c["kind"], 0) + 1
    total = sum(len(d) for d in s.files.values())
    print(f"{len(s.cases)} cases ({', '.join(f'{k} {n}' for k, n in kinds.items())}); "
          f"{len(s.files)} files, {total} bytes")


if __name__ == "__main__":
    main()
