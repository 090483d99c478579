#!/usr/bin/env python3
"""Make the GGUF test fixtures from the tiny Hugging Face checkpoints.

Converts

    tests/fixtures/llada-tiny/  ->  tests/fixtures/llada-tiny-gguf/   (arch "llada")
    tests/fixtures/dream-tiny/  ->  tests/fixtures/dream-tiny-gguf/   (arch "dream")

each into ``model-f32.gguf``, ``model-f16.gguf``, ``model-q8_0.gguf``,
``model-q4_0.gguf`` and ``model-mixed.gguf`` (formats mixed per tensor, as
``llama-quantize``'s Q4_K_M mix does; see ``stored_type``), and copies the tokenizer files beside them
(``tokenizer.json``, ``tokenizer_config.json``; for Dream also
``generation_config.json``).

The files are written the way llama.cpp's ``convert_hf_to_gguf.py`` writes them
(its ``conversion/`` package: ``base.py`` classes ``ModelBase`` / ``TextModel``,
``llada.py`` class ``LLaDAModel`` for ``LLaDAModelLM``, ``dream.py`` class
``DreamModel`` for ``DreamModel``), re-done here with nothing but the ``gguf``
package from PyPI, numpy and the standard library (no torch, no transformers,
nothing from Tessera):

* Tensors are read in convert's order (the shards named in
  ``model.safetensors.index.json``, sorted, each in header order; read with
  ``gguf.utility.SafetensorsLocal`` as convert does), renamed with gguf-py's
  ``TensorNameMap`` for the architecture (``try_suffixes=(".weight", ".bias")``,
  as ``ModelBase.map_tensor_name``), and stored as numpy arrays in row-major
  ``[rows, cols]`` order (GGUF records the dims reversed, ``{cols, rows}``).

* **Q/K permutation.** ``LLaDAModel`` sets ``undo_permute = True`` and its
  ``modify_tensors`` applies ``LLaDAModel.permute`` to every ``q_proj.weight``
  (with ``n_head``) and ``k_proj.weight`` (with ``n_kv_heads``)::

      w.reshape(n_head, 2, rows // n_head // 2, cols).swapaxes(1, 2).reshape(rows, cols)

  i.e. within each head, output row ``h*hd + 2*i + j`` of the GGUF tensor is row
  ``h*hd + j*hd/2 + i`` of the checkpoint (``hd`` = head dim, ``i < hd/2``,
  ``j`` in {0, 1}). Why: llama.cpp runs LLaDA with ``LLAMA_ROPE_TYPE_NORM``
  (rotation of adjacent pairs ``(2i, 2i+1)``, ``llama_model_rope_type`` in
  ``src/llama-model.cpp``), while the checkpoint was trained with the Hugging
  Face ``rotate_half`` convention (pairs ``(i, i + hd/2)``); interleaving the
  two halves of each head makes the two equivalent. ``DreamModel`` does not
  permute anything (its ``modify_tensors`` passes tensors straight through):
  Dream is a Qwen2 network and llama.cpp runs it with NEOX rope, which is the
  ``rotate_half`` convention. So: LLaDA ``attn_q``/``attn_k`` are permuted,
  Dream's (and all other tensors) are not.

* Tensor types (``ModelBase.prepare_tensors``): 1-D tensors and ``*_norm.weight``
  are always F32; every other tensor (2-D weights, token_embd and output
  included) takes the file's type, computed with ``gguf.quants.quantize``.
  convert itself writes f32, f16, bf16 and q8_0 but not q4_0 (that is
  ``llama-quantize``'s job); the q4_0 file here is "pure" q4_0, every 2-D weight
  Q4_0, as ``llama-quantize --pure`` would make it (plain ``llama-quantize
  Q4_0`` would store ``output.weight`` as Q6_K, which falls back to Q8_0 at a
  row length of 64).

* Metadata, in convert's order: ``general.architecture``, ``general.type``,
  ``gguf.Metadata`` (``general.name`` from the source folder name,
  ``general.size_label``), the architecture keys of
  ``TextModel.set_gguf_parameters`` plus the model class's own (LLaDA:
  ``vocab_size``, ``rope.dimension_count``, ``attention.causal`` = false,
  ``diffusion.shift_logits`` = false, ``tokenizer.ggml.mask_token_id``; Dream:
  ``attention.causal`` = false, ``tokenizer.ggml.mask_token_id``; no
  ``diffusion.shift_logits``, llama.cpp's default for Dream is to shift),
  ``general.quantization_version``, then the tokenizer (``_set_vocab_gpt2``:
  model ``gpt2``, the token list built like ``LLaDAModel.get_vocab_base`` /
  ``DreamModel.get_vocab_base`` — ids ``0 .. config vocab_size - 1``, holes
  filled with ``[PAD{i}]`` of type UNUSED, special added tokens CONTROL — then
  ``gguf.SpecialVocab``: merges, bos/eos/pad/mask ids, ``add_bos_token``,
  chat template). The token list has ``config.json``'s ``vocab_size`` entries,
  as in convert: 300 for llada-tiny, whose embedding matrix has 320 rows
  (``embedding_size``), and 320 for dream-tiny.

* ``tokenizer.ggml.pre``: convert picks it by hashing the tokenization of a test
  text and fails on unknown tokenizers such as these tiny ones. Their
  pre-tokenizer is a plain ``ByteLevel`` with ``use_regex`` (the GPT-2 split
  regex), which is llama.cpp's ``gpt-2`` pre-tokenizer, so that is written.

After writing, the script reads every file back with ``gguf.GGUFReader``, lists
its keys and tensor types, and checks the tensors against the checkpoint (f32
exact after undoing the permutation, f16 exact to the f16 rounding, q8_0
within 1 % and q4_0 within 15 % relative error, Dream unpermuted). It exits
non-zero if a check fails. Re-running it gives byte-identical files.

Run from the repository root:

    python3 -m venv /work/ggufenv && /work/ggufenv/bin/pip install gguf safetensors numpy   # once
    /work/ggufenv/bin/python scripts/make_gguf_fixtures.py
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
import logging
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

import numpy as np

import gguf
from gguf.utility import SafetensorsLocal

FIXTURES = Path("tests/fixtures")

# (output file name, LlamaFileType, type of every tensor that is not kept in F32)
FILE_TYPES = [
    ("model-f32.gguf", gguf.LlamaFileType.ALL_F32, gguf.GGMLQuantizationType.F32),
    ("model-f16.gguf", gguf.LlamaFileType.MOSTLY_F16, gguf.GGMLQuantizationType.F16),
    ("model-q8_0.gguf", gguf.LlamaFileType.MOSTLY_Q8_0, gguf.GGMLQuantizationType.Q8_0),
    ("model-q4_0.gguf", gguf.LlamaFileType.MOSTLY_Q4_0, gguf.GGMLQuantizationType.Q4_0),
    ("model-mixed.gguf", gguf.LlamaFileType.MOSTLY_Q8_0, "mixed"),
]


def stored_type(qtype, name: str) -> gguf.GGMLQuantizationType:
    """The type of 2-D weight ``name`` in a file of ``qtype``.

    ``"mixed"`` imitates what ``llama-quantize``'s mixes (Q4_K_M: Q6_K for ``attn_v``, some
    ``ffn_down`` and ``output``, Q4_K elsewhere) do to a loader, with the types gguf-py can
    write: Q8_0 by default, Q4_0 for every ``attn_v`` and block 0's ``ffn_up``, F16 for block
    1's ``ffn_gate`` — so keys and values, and gate and up, are stored in different formats.
    """
    if qtype != "mixed":
        return qtype
    if ".attn_v." in name or name.startswith("blk.0.ffn_up."):
        return gguf.GGMLQuantizationType.Q4_0
    if name.startswith("blk.1.ffn_gate."):
        return gguf.GGMLQuantizationType.F16
    return gguf.GGMLQuantizationType.Q8_0

# Largest relative error (Frobenius norm) of a stored 2-D weight, per type.
TOLERANCE = {
    gguf.GGMLQuantizationType.F32: 0.0,
    gguf.GGMLQuantizationType.F16: 1e-3,
    gguf.GGMLQuantizationType.Q8_0: 0.01,
    gguf.GGMLQuantizationType.Q4_0: 0.15,
}

SAFETENSORS_DTYPES = {"F32": np.float32, "F16": np.float16}


# --------------------------------------------------------------------------- reading


def load_json(path: Path) -> dict:
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def part_names(dir_model: Path) -> list[str]:
    """The safetensors files in convert's order (ModelBase.index_tensors)."""
    index = dir_model / "model.safetensors.index.json"
    if index.is_file():
        return sorted(dict.fromkeys(load_json(index)["weight_map"].values()))
    return sorted(p.name for p in dir_model.iterdir()
                  if p.name.startswith("model") and p.name.endswith(".safetensors"))


def read_tensors(dir_model: Path) -> Iterator[tuple[str, np.ndarray]]:
    """(name, array) of every checkpoint tensor, in convert's order; anything
    that is not F16/F32 is widened to F32 as prepare_tensors does."""
    for part in part_names(dir_model):
        st = SafetensorsLocal(dir_model / part)
        for name, t in st.tensors.items():
            raw = np.asarray(t.mmap_bytes())
            if t.dtype == "BF16":
                data = (raw.view(np.uint16).astype(np.uint32) << 16).view(np.float32)
            else:
                data = raw.view(SAFETENSORS_DTYPES[t.dtype])
            yield name, np.array(data.reshape(t.shape))


def permute(w: np.ndarray, n_head: int) -> np.ndarray:
    """LLaDAModel.permute: interleave the two rotate_half halves of each head."""
    return w.reshape(n_head, 2, w.shape[0] // n_head // 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


def unpermute(w: np.ndarray, n_head: int) -> np.ndarray:
    """Inverse of permute()."""
    return w.reshape(n_head, w.shape[0] // n_head // 2, 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


# --------------------------------------------------------------------------- vocab


def get_vocab_base(dir_model: Path, vocab_size: int) -> tuple[list[str], list[int]]:
    """LLaDAModel/DreamModel.get_vocab_base without transformers.

    ``AutoTokenizer.get_vocab()`` of a fast tokenizer is the BPE vocab of
    tokenizer.json plus its added tokens; ``added_tokens_decoder`` is the added
    tokens with their ``special`` flag (tokenizer_config.json's copy wins, as in
    transformers).
    """
    tok = load_json(dir_model / "tokenizer.json")
    vocab: dict[str, int] = dict(tok["model"]["vocab"])
    added: dict[int, tuple[str, bool]] = {
        a["id"]: (a["content"], bool(a.get("special", False))) for a in tok.get("added_tokens", [])
    }
    cfg_path = dir_model / "tokenizer_config.json"
    if cfg_path.is_file():
        for i, a in load_json(cfg_path).get("added_tokens_decoder", {}).items():
            added[int(i)] = (a["content"], bool(a.get("special", False)))
    for i, (content, _) in added.items():
        vocab[content] = i
    assert max(vocab.values()) < vocab_size

    reverse = {i: t for t, i in vocab.items()}
    added_contents = {content for content, _ in added.values()}
    tokens: list[str] = []
    toktypes: list[int] = []
    for i in range(vocab_size):
        if i not in reverse:
            tokens.append(f"[PAD{i}]")
            toktypes.append(gguf.TokenType.UNUSED)
        elif reverse[i] in added_contents:
            tokens.append(reverse[i])
            if i in added:
                special = added[i][1]
                toktypes.append(gguf.TokenType.CONTROL if special else gguf.TokenType.USER_DEFINED)
            else:
                toktypes.append(gguf.TokenType.CONTROL)
        else:
            tokens.append(reverse[i])
            toktypes.append(gguf.TokenType.NORMAL)
    return tokens, toktypes


def tokenizer_pre(dir_model: Path) -> str:
    """A plain ByteLevel pre-tokenizer with the GPT-2 regex is llama.cpp's "gpt-2"."""
    pre = load_json(dir_model / "tokenizer.json").get("pre_tokenizer") or {}
    if pre.get("type") == "ByteLevel" and pre.get("use_regex", True):
        return "gpt-2"
    return "default"


def set_vocab_gpt2(w: gguf.GGUFWriter, dir_model: Path, vocab_size: int) -> None:
    """TextModel._set_vocab_gpt2."""
    tokens, toktypes = get_vocab_base(dir_model, vocab_size)
    w.add_tokenizer_model("gpt2")
    w.add_tokenizer_pre(tokenizer_pre(dir_model))
    w.add_token_list(tokens)
    w.add_token_types(toktypes)
    gguf.SpecialVocab(dir_model, load_merges=True).add_to_gguf(w, quiet=True)


# --------------------------------------------------------------------------- architectures


def base_parameters(w: gguf.GGUFWriter, hp: dict, block_count: int, ftype: gguf.LlamaFileType) -> None:
    """TextModel.set_gguf_parameters, the branches these checkpoints reach."""
    def find(*keys: str):
        return next((hp[k] for k in keys if k in hp), None)

    w.add_block_count(block_count)
    if (n_ctx := find("max_position_embeddings", "n_ctx", "n_positions", "max_length",
                      "max_sequence_length", "model_max_length")) is not None:
        w.add_context_length(n_ctx)
    if (n_embd := find("hidden_size", "n_embd", "dim")) is not None:
        w.add_embedding_length(n_embd)
    if (n_ff := find("intermediate_size", "n_inner", "hidden_dim")) is not None:
        w.add_feed_forward_length(n_ff)
    if (n_head := find("num_attention_heads", "n_head", "n_heads")) is not None:
        w.add_head_count(n_head)
    if (n_head_kv := find("num_key_value_heads", "n_kv_heads")) is not None:
        w.add_head_count_kv(n_head_kv)
    if hp.get("is_causal") is False:
        w.add_causal_attention(False)
    rope = hp.get("rope_parameters", hp.get("rope_scaling")) or {}
    if rope.get("rope_type", rope.get("type")) is not None:
        raise NotImplementedError("rope scaling is not handled by this script")
    if (rope_theta := rope.get("rope_theta", find("rope_theta"))) is not None:
        w.add_rope_freq_base(rope_theta)
    if (eps := find("rms_norm_eps", "norm_eps")) is not None:
        w.add_layer_norm_rms_eps(eps)
    if (eps := find("layer_norm_eps", "layer_norm_epsilon", "norm_epsilon")) is not None:
        w.add_layer_norm_eps(eps)
    if (head_dim := hp.get("head_dim")) is not None:
        w.add_key_length(head_dim)
        w.add_value_length(head_dim)
    w.add_file_type(ftype)


@dataclass
class Arch:
    """What differs between LLaDAModel and DreamModel."""
    name: str                      # source folder under tests/fixtures
    model_arch: gguf.MODEL_ARCH
    extra_copies: tuple[str, ...]  # files copied besides tokenizer.json / tokenizer_config.json
    prepare_hparams: Callable[[dict], dict]
    modify_tensor: Callable[[dict, str, np.ndarray], np.ndarray]
    set_parameters: Callable[[gguf.GGUFWriter, dict], None]   # after TextModel's
    set_vocab_extra: Callable[[gguf.GGUFWriter], None]        # after _set_vocab_gpt2


def llada_hparams(hp: dict) -> dict:
    # LLaDAModel.set_gguf_parameters maps the OLMo names before TextModel's.
    hp = dict(hp)
    hp.setdefault("hidden_size", hp["d_model"])
    hp.setdefault("intermediate_size", hp["mlp_hidden_size"])
    return hp


def llada_modify(hp: dict, name: str, data: np.ndarray) -> np.ndarray:
    n_head = hp.get("num_attention_heads", hp.get("n_heads"))
    n_kv_head = hp.get("num_key_value_heads", hp.get("n_kv_heads"))
    if name.endswith(("q_proj.weight", "q_proj.bias")):
        data = permute(data, n_head)
    if name.endswith(("k_proj.weight", "k_proj.bias")):
        data = permute(data, n_kv_head if n_kv_head is not None else n_head)
    return data


def llada_parameters(w: gguf.GGUFWriter, hp: dict) -> None:
    w.add_vocab_size(hp["vocab_size"])
    rope_dim = hp.get("head_dim") or hp["hidden_size"] // hp.get("num_attention_heads", hp.get("n_heads"))
    w.add_rope_dimension_count(rope_dim)
    w.add_causal_attention(False)
    w.add_diffusion_shift_logits(False)
    if (mask := hp.get("mask_token_id")) is not None:
        w.add_mask_token_id(int(mask))


def dream_parameters(w: gguf.GGUFWriter, hp: dict) -> None:
    w.add_causal_attention(False)
    if (mask := hp.get("mask_token_id")) is not None:
        w.add_mask_token_id(mask)


ARCHS = [
    Arch("llada-tiny", gguf.MODEL_ARCH.LLADA, (),
         llada_hparams, llada_modify, llada_parameters,
         lambda w: w.add_add_bos_token(True)),
    Arch("dream-tiny", gguf.MODEL_ARCH.DREAM, ("generation_config.json",),
         lambda hp: dict(hp), lambda hp, name, data: data, dream_parameters,
         lambda w: None),
]


# --------------------------------------------------------------------------- writing


def convert(arch: Arch, ftype: gguf.LlamaFileType, qtype: gguf.GGMLQuantizationType, out: Path,
            dir_model: Path | None = None,
            set_vocab: Callable[[gguf.GGUFWriter, dict], None] | None = None) -> None:
    """ModelBase.write for one output type. ``dir_model`` defaults to the fixture's folder;
    ``set_vocab(writer, hparams)`` replaces the vocabulary read from its tokenizer files
    (``make_bench_gguf.py``'s synthetic one for tokenizer-less random models)."""
    dir_model = dir_model or FIXTURES / arch.name
    hp = arch.prepare_hparams(load_json(dir_model / "config.json"))
    block_count = next(hp[k] for k in ("n_layers", "num_hidden_layers", "n_layer", "num_layers") if k in hp)
    tensor_map = gguf.get_tensor_name_map(arch.model_arch, block_count)
    w = gguf.GGUFWriter(path=None, arch=gguf.MODEL_ARCH_NAMES[arch.model_arch])

    # prepare_tensors
    for name, data in read_tensors(dir_model):
        data = arch.modify_tensor(hp, name, data)
        new_name = tensor_map.get_name(name, try_suffixes=(".weight", ".bias"))
        if new_name is None:
            raise ValueError(f"Can not map tensor {name!r}")
        if data.ndim <= 1 or new_name.endswith("_norm.weight") or not new_name.endswith(".weight"):
            data_qtype = gguf.GGMLQuantizationType.F32
        else:
            data_qtype = stored_type(qtype, new_name)
        w.add_tensor(new_name, gguf.quants.quantize(data, data_qtype), raw_dtype=data_qtype)

    # prepare_metadata (ModelBase, then TextModel's set_vocab)
    total, shared, expert, n_expert = w.get_total_parameter_count()
    meta = gguf.Metadata.load(None, dir_model, None, total)
    if meta.name is None:
        meta.name = dir_model.name
    if meta.size_label is None and total > 0:
        meta.size_label = gguf.size_label(total, shared, expert, n_expert)
    w.add_type(gguf.GGUFType.MODEL)
    meta.set_gguf_meta_model(w)
    base_parameters(w, hp, block_count, ftype)
    arch.set_parameters(w, hp)
    w.add_quantization_version(gguf.GGML_QUANT_VERSION)
    if set_vocab is None:
        set_vocab_gpt2(w, dir_model, hp["vocab_size"])
        arch.set_vocab_extra(w)
    else:
        set_vocab(w, hp)

    w.write_header_to_file(path=out)
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


# --------------------------------------------------------------------------- checking


def show_value(field: gguf.ReaderField) -> str:
    value = field.contents()
    if isinstance(value, list) and len(value) > 6:
        return f"[{len(value)} items: {', '.join(repr(v) for v in value[:3])}, ...]"
    if isinstance(value, str) and len(value) > 60:
        return repr(value[:57] + "...")
    return repr(value)


def check(arch: Arch, out_dir: Path) -> list[str]:
    """Read every file back; return the failures."""
    failures: list[str] = []
    dir_model = FIXTURES / arch.name
    hp = arch.prepare_hparams(load_json(dir_model / "config.json"))
    n_head = hp.get("num_attention_heads", hp.get("n_heads"))
    n_kv = hp.get("num_key_value_heads", hp.get("n_kv_heads"))
    source = dict(read_tensors(dir_model))
    block_count = next(hp[k] for k in ("n_layers", "num_hidden_layers") if k in hp)
    tensor_map = gguf.get_tensor_name_map(arch.model_arch, block_count)
    source_of = {tensor_map.get_name(n, try_suffixes=(".weight", ".bias")): n for n in source}
    permuted = arch.model_arch == gguf.MODEL_ARCH.LLADA

    for fname, ftype, qtype in FILE_TYPES:
        path = out_dir / fname
        r = gguf.GGUFReader(path)
        digest = hashlib.sha256(path.read_bytes()).hexdigest()[:16]
        print(f"\n{path}  ({path.stat().st_size} bytes, sha256 {digest}…)")
        for key, field in r.fields.items():
            if key.startswith("GGUF."):
                continue
            print(f"  {key} = {show_value(field)}")
        types: dict[str, list[str]] = {}
        for t in r.tensors:
            types.setdefault(t.tensor_type.name, []).append(t.name)
        for tname, names in types.items():
            print(f"  {tname}: {len(names)} tensors")

        if r.fields["general.file_type"].contents() != int(ftype):
            failures.append(f"{path}: general.file_type != {ftype.name}")
        for t in r.tensors:
            src = source[source_of[t.name]]
            expect_type = (gguf.GGMLQuantizationType.F32 if src.ndim <= 1 or t.name.endswith("_norm.weight")
                           else stored_type(qtype, t.name))
            if t.tensor_type != expect_type:
                failures.append(f"{path}: {t.name} is {t.tensor_type.name}, expected {expect_type.name}")
                continue
            got = gguf.quants.dequantize(t.data, t.tensor_type).reshape(src.shape).astype(np.float32)
            if permuted and t.name.endswith("attn_q.weight"):
                got = unpermute(got, n_head)
            elif permuted and t.name.endswith("attn_k.weight"):
                got = unpermute(got, n_kv)
            ref = src.astype(np.float32)
            if t.tensor_type == gguf.GGMLQuantizationType.F32:
                ok, err = bool(np.array_equal(got, ref)), float(np.abs(got - ref).max())
            elif t.tensor_type == gguf.GGMLQuantizationType.F16:
                ok, err = bool(np.array_equal(got, ref.astype(np.float16).astype(np.float32))), 0.0
            else:
                err = float(np.linalg.norm(got - ref) / np.linalg.norm(ref))
                ok = err <= TOLERANCE[t.tensor_type]
            if not ok:
                failures.append(f"{path}: {t.name} differs from {source_of[t.name]} (error {err:.3g})")
            if t.name == "blk.0.attn_q.weight":
                how = "after un-permuting" if permuted else "not permuted"
                print(f"  check blk.0.attn_q.weight vs {source_of[t.name]} ({how}): "
                      f"{'exact' if t.tensor_type in (gguf.GGMLQuantizationType.F32, gguf.GGMLQuantizationType.F16) else f'relative error {err:.4f}'}"
                      f" -> {'ok' if ok else 'FAIL'}")
        if permuted:
            # The permutation must really be there: the stored attn_q differs from q_proj.
            q = next(t for t in r.tensors if t.name == "blk.0.attn_q.weight")
            if qtype == gguf.GGMLQuantizationType.F32 and np.array_equal(
                    q.data.reshape(source["model.transformer.blocks.0.q_proj.weight"].shape),
                    source["model.transformer.blocks.0.q_proj.weight"]):
                failures.append(f"{path}: blk.0.attn_q.weight is not permuted")
    return failures


def main() -> int:
    logging.basicConfig(level=logging.WARNING)
    # LLaDA/Dream write tokenizer.ggml.mask_token_id from config.json, then
    # SpecialVocab writes it again from tokenizer_config.json's mask_token (same
    # value, same place in the file): convert logs a "Duplicated key" warning there.
    logging.getLogger("gguf.gguf_writer").setLevel(logging.ERROR)
    print(f"gguf {importlib.metadata.version('gguf')}, numpy {np.__version__}")
    failures: list[str] = []
    for arch in ARCHS:
        out_dir = FIXTURES / f"{arch.name}-gguf"
        out_dir.mkdir(exist_ok=True)
        for fname, ftype, qtype in FILE_TYPES:
            convert(arch, ftype, qtype, out_dir / fname)
        for extra in ("tokenizer.json", "tokenizer_config.json", *arch.extra_copies):
            shutil.copyfile(FIXTURES / arch.name / extra, out_dir / extra)
        failures += check(arch, out_dir)
    print()
    if failures:
        for f in failures:
            print(f"FAIL: {f}")
        return 1
    print("all checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
