#!/usr/bin/env python3
"""Generate the committed test fixtures for Tessera.

What it makes (everything under ``tests/fixtures/``):

* ``llada-tiny/``      a tiny random LLaDA checkpoint (LLaDA/OLMo tensor names and
                       config fields, f32, sharded into two safetensors files plus
                       ``model.safetensors.index.json``), a tiny byte-level BPE
                       tokenizer (300 tokens) and its ``tokenizer_config.json``.
* ``dream-tiny/``      a tiny random Dream checkpoint (Qwen2 tensor names, f32, one
                       ``model.safetensors``) with its own tokenizer (320 tokens).
* ``dream-tiny-bf16/`` the same Dream weights stored as bf16.
* ``reference/``       reference outputs computed by an independent implementation:
    - ``llada_logits.safetensors``, ``dream_logits.safetensors``,
      ``dream_bf16_logits.safetensors``: forward-pass logits from HF ``transformers``
      ``LlamaForCausalLM`` / ``Qwen2ForCausalLM`` loaded with the renamed weights,
      run with a bidirectional 4-D additive attention mask (Dream logits shifted);
    - ``llada_structured_logits.safetensors``: the same LLaDA model under block-causal
      causal and Show-o omni attention groups (4-D masks built from the groups);
    - ``llada_generate.json`` + ``llada_noise.safetensors``: outputs of a Python
      re-implementation of the LLaDA reference ``generate`` sampler (noise pre-drawn
      from seeded generators and recorded);
    - ``dream_generate.json`` + ``dream_noise.safetensors``: same for Dream's
      ``diffusion_generate`` / ``_sample``;
    - ``timesteps.json``: ``torch.linspace(1, eps, steps + 1)`` float32 values/bits;
    - ``chat.json``, ``tokenize.json``: chat-template renderings and tokenizations.

Every recorded sampler step is checked for "well separated" decisions (the
confidence gap at the top-k selection boundary, the top1-top2 argmax gap, and
the top-p / top-k / 'origin' thresholds), so that a faithful port compared
exactly cannot be decided by float rounding. Each case tries a fixed, ordered
list of prompts and keeps the first one that passes; the script fails if none
does. The minimum margins found are printed at the end.

Everything is deterministic (fixed seeds, one CPU thread): re-running the script
reproduces byte-identical files.

Run from the repository root:

    /work/pyref/bin/python scripts/make_fixtures.py

(needs torch, transformers, safetensors, tokenizers, numpy; no network access).
"""

import json
import math
import os
import shutil
from pathlib import Path

os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import numpy as np
import torch
import torch.nn.functional as F
import transformers
from safetensors.torch import load_file, save_file
from tokenizers import AddedToken, Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import (
    LlamaConfig,
    LlamaForCausalLM,
    PreTrainedTokenizerFast,
    Qwen2Config,
    Qwen2ForCausalLM,
)

torch.set_num_threads(1)  # thread count can change float reduction order
torch.use_deterministic_algorithms(True)

ROOT = Path(__file__).resolve().parent.parent
FIX = ROOT / "tests" / "fixtures"
LLADA_DIR = FIX / "llada-tiny"
DREAM_DIR = FIX / "dream-tiny"
DREAM_BF16_DIR = FIX / "dream-tiny-bf16"
REF = FIX / "reference"

# Seeds. Changing any of them changes every fixture; they were picked so that all
# margin checks pass (see check_margins below).
LLADA_WEIGHT_SEED = 1234
DREAM_WEIGHT_SEED = 5678
NOISE_SEED = 4242

# Required separation of the recorded sampler decisions.
MIN_CONF_GAP_REL = 1e-4  # relative gap between k-th and (k+1)-th ranked confidence
MIN_ARGMAX_GAP = 1e-3  # top1 - top2 logit (or log-score with Gumbel noise)
MIN_NOISE_GAP = 1e-6  # |uniform draw - transfer probability| for Dream 'origin'
MIN_TOPP_GAP = 1e-5  # |cumulative prob - top_p| for top-p filtering
NEG_INF = float("-inf")

# ---------------------------------------------------------------------------
# Tokenizers
# ---------------------------------------------------------------------------

CORPUS = [
    "The quick brown fox jumps over the lazy dog.",
    "Hello world! This is a tiny tokenizer for testing.",
    "Tessera is a software development kit for masked diffusion language models.",
    "A diffusion model starts from a fully masked sequence and unmasks it step by step.",
    "At every step the model predicts all masked tokens at once.",
    "The most confident predictions are kept and the rest stay masked.",
    "You are a helpful assistant.",
    "What is the capital of France? The capital of France is Paris.",
    "Please write a short poem about the sea.",
    "The sea is wide and blue, the waves are soft and slow.",
    "Can you explain how a transformer works?",
    "A transformer uses attention to mix information between tokens.",
    "The user asked a question and the assistant gave an answer.",
    "Numbers like 1, 2, 3, 42 and 2024 appear in text too.",
    "She sells sea shells by the sea shore.",
    "How many steps does the sampler take for each block?",
    "The block length divides the generation length.",
    "Low confidence remasking keeps the tokens with the highest probability.",
    "Random remasking picks tokens to keep at random.",
    "Classifier free guidance mixes conditional and unconditional logits.",
    "The temperature controls how random the sampling is.",
    "Thank you very much for your help today!",
    "It was a bright cold day in April, and the clocks were striking thirteen.",
    "All happy families are alike; each unhappy family is unhappy in its own way.",
    "In the beginning the universe was created.",
    "Write a function that adds two numbers and returns the result.",
    "The weather today is sunny with a light breeze.",
    "My favourite colour is green, and my favourite food is pasta.",
    "Good morning! How are you doing this fine day?",
    "The cat sat on the mat and looked out of the window.",
    "Rust is a systems programming language focused on safety and speed.",
    "Python is often used to write reference implementations.",
    "Every test compares the outputs against recorded reference values.",
    "The model has two layers, four heads and a hidden size of sixty four.",
    "Once upon a time there was a small robot who loved to read books.",
    "The answer is forty two.",
]

LLADA_SPECIALS = [
    "<|startoftext|>",  # bos
    "<|endoftext|>",  # eos (= pad)
    "<|eot_id|>",
    "<|start_header_id|>",
    "<|end_header_id|>",
    "<|mdm_mask|>",  # mask
]
DREAM_SPECIALS = [
    "<|endoftext|>",  # eos (= pad)
    "<|beginoftext|>",  # bos
    "<|im_start|>",
    "<|im_end|>",
    "<|mask|>",  # mask
]

LLADA_CHAT_TEMPLATE = (
    "{% set loop_messages = messages %}{% for message in loop_messages %}"
    "{% set content = '<|start_header_id|>' + message['role'] + '<|end_header_id|>\n\n'"
    "+ message['content'] | trim + '<|eot_id|>' %}"
    "{% if loop.index0 == 0 %}{% set content = bos_token + content %}{% endif %}"
    "{{ content }}{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|start_header_id|>assistant<|end_header_id|>\n\n' }}{% endif %}"
)
DREAM_CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "{% if loop.first and messages[0]['role'] != 'system' %}"
    "{{ '<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n' }}{% endif %}"
    "{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)


def train_tokenizer(total_size, specials):
    """Train a byte-level BPE with `total_size - len(specials)` regular tokens and
    append `specials` as special added tokens at the top of the id range."""
    n_regular = total_size - len(specials)
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=n_regular,
        min_frequency=1,
        show_progress=False,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        special_tokens=[],
    )
    tok.train_from_iterator(CORPUS, trainer=trainer)
    assert tok.get_vocab_size() == n_regular, (tok.get_vocab_size(), n_regular)
    tok.add_special_tokens([AddedToken(s, special=True, normalized=False) for s in specials])
    assert tok.get_vocab_size() == total_size
    ids = {s: tok.token_to_id(s) for s in specials}
    assert sorted(ids.values()) == list(range(n_regular, total_size)), ids
    return tok, ids


def write_tokenizer(out_dir, tok, special_ids, token_roles, chat_template):
    """Write tokenizer.json and a minimal HF tokenizer_config.json."""
    tok.save(str(out_dir / "tokenizer.json"), pretty=True)
    added = {
        str(i): {
            "content": s,
            "lstrip": False,
            "normalized": False,
            "rstrip": False,
            "single_word": False,
            "special": True,
        }
        for s, i in sorted(special_ids.items(), key=lambda kv: kv[1])
    }
    cfg = {"added_tokens_decoder": added}
    cfg.update(token_roles)  # bos_token / eos_token / pad_token / mask_token
    cfg.update(
        {
            "chat_template": chat_template,
            "clean_up_tokenization_spaces": False,
            "model_max_length": 256,
            "tokenizer_class": "PreTrainedTokenizerFast",
        }
    )
    write_json(out_dir / "tokenizer_config.json", cfg)


# ---------------------------------------------------------------------------
# Small helpers
# ---------------------------------------------------------------------------


def write_json(path, obj):
    with open(path, "w", encoding="utf-8") as f:
        json.dump(obj, f, indent=1, ensure_ascii=False)
        f.write("\n")


def save_st(tensors, path):
    save_file({k: v.contiguous() for k, v in tensors.items()}, str(path), metadata={"format": "pt"})


def fresh_dir(path):
    if path.exists():
        shutil.rmtree(path)
    path.mkdir(parents=True)


# ---------------------------------------------------------------------------
# Random weights (HF Llama/Qwen2 names)
# ---------------------------------------------------------------------------

LM_HEAD_STD = 2.5  # logit std ~ 2.5: peaked softmax, not saturated in f32
EOS_BOOST = 2.0  # LM-head row scale of EOS (both models)
EOT_BOOST = 3.0  # LM-head row scale of LLaDA's <|eot_id|>


def random_weights(gen, *, hidden, layers, heads, kv_heads, inter, vocab, qkv_bias, demote, boost):
    """Random weights in HF naming, scaled so that the output distributions are
    peaked (but not saturated) and depend clearly on position and context.

    `demote`: LM-head rows scaled down (token practically never the argmax),
    e.g. the mask token and the padding rows beyond the tokenizer's vocab.
    `boost`:  {row: factor} LM-head rows scaled up (EOS/EOT), so that the
    EOS/EOT options of the samplers have something to act on.
    """
    hd = hidden // heads

    def rn(*shape, std):
        return torch.randn(*shape, generator=gen, dtype=torch.float32) * std

    def norm_w(n):
        return 1.0 + rn(n, std=0.1)

    w = {"model.embed_tokens.weight": rn(vocab, hidden, std=1.0)}
    for i in range(layers):
        p = f"model.layers.{i}."
        w[p + "self_attn.q_proj.weight"] = rn(heads * hd, hidden, std=2.0 / math.sqrt(hidden))
        w[p + "self_attn.k_proj.weight"] = rn(kv_heads * hd, hidden, std=2.0 / math.sqrt(hidden))
        w[p + "self_attn.v_proj.weight"] = rn(kv_heads * hd, hidden, std=1.0 / math.sqrt(hidden))
        w[p + "self_attn.o_proj.weight"] = rn(hidden, heads * hd, std=1.0 / math.sqrt(hidden))
        if qkv_bias:
            w[p + "self_attn.q_proj.bias"] = rn(heads * hd, std=0.3)
            w[p + "self_attn.k_proj.bias"] = rn(kv_heads * hd, std=0.3)
            w[p + "self_attn.v_proj.bias"] = rn(kv_heads * hd, std=0.3)
        w[p + "mlp.gate_proj.weight"] = rn(inter, hidden, std=1.0 / math.sqrt(hidden))
        w[p + "mlp.up_proj.weight"] = rn(inter, hidden, std=1.0 / math.sqrt(hidden))
        w[p + "mlp.down_proj.weight"] = rn(hidden, inter, std=1.0 / math.sqrt(inter))
        w[p + "input_layernorm.weight"] = norm_w(hidden)
        w[p + "post_attention_layernorm.weight"] = norm_w(hidden)
    w["model.norm.weight"] = norm_w(hidden)
    lm = rn(vocab, hidden, std=LM_HEAD_STD / math.sqrt(hidden))
    for r in demote:
        lm[r] *= 0.05
    for r, factor in boost.items():
        lm[r] *= factor
    w["lm_head.weight"] = lm
    return w


# ---------------------------------------------------------------------------
# LLaDA checkpoint
# ---------------------------------------------------------------------------

LLADA = dict(d_model=64, n_layers=2, n_heads=4, n_kv_heads=4, mlp_hidden=96, vocab=300, emb=320)


def llada_name(hf_name):
    """HF Llama parameter name -> LLaDA (OLMo-style) tensor name."""
    if hf_name == "model.embed_tokens.weight":
        return "model.transformer.wte.weight"
    if hf_name == "model.norm.weight":
        return "model.transformer.ln_f.weight"
    if hf_name == "lm_head.weight":
        return "model.transformer.ff_out.weight"
    parts = hf_name.split(".")  # model.layers.{i}.<group>.<proj>.weight
    assert parts[:2] == ["model", "layers"], hf_name
    i, rest = parts[2], ".".join(parts[3:])
    table = {
        "self_attn.q_proj.weight": "q_proj.weight",
        "self_attn.k_proj.weight": "k_proj.weight",
        "self_attn.v_proj.weight": "v_proj.weight",
        "self_attn.o_proj.weight": "attn_out.weight",
        "mlp.gate_proj.weight": "ff_proj.weight",
        "mlp.up_proj.weight": "up_proj.weight",
        "mlp.down_proj.weight": "ff_out.weight",
        "input_layernorm.weight": "attn_norm.weight",
        "post_attention_layernorm.weight": "ff_norm.weight",
    }
    return f"model.transformer.blocks.{i}.{table[rest]}"


def llada_hf_config():
    c = LLADA
    return LlamaConfig(
        hidden_size=c["d_model"],
        num_hidden_layers=c["n_layers"],
        num_attention_heads=c["n_heads"],
        num_key_value_heads=c["n_kv_heads"],
        intermediate_size=c["mlp_hidden"],
        vocab_size=c["emb"],
        max_position_embeddings=256,
        rope_parameters={"rope_type": "default", "rope_theta": 500000.0},
        rms_norm_eps=1e-5,
        attention_bias=False,
        mlp_bias=False,
        tie_word_embeddings=False,
        hidden_act="silu",
    )


def write_llada_checkpoint(hf_weights, ids):
    c = LLADA
    config = {
        "architectures": ["LLaDAModelLM"],
        "model_type": "llada",
        "block_type": "llama",
        "d_model": c["d_model"],
        "n_layers": c["n_layers"],
        "n_heads": c["n_heads"],
        "n_kv_heads": c["n_kv_heads"],
        "mlp_hidden_size": c["mlp_hidden"],
        "mlp_ratio": 4,
        "activation_type": "silu",
        "vocab_size": c["vocab"],
        "embedding_size": c["emb"],
        "max_sequence_length": 256,
        "rope": True,
        "rope_theta": 500000.0,
        "rope_full_precision": True,
        "layer_norm_type": "rms",
        "rms_norm_eps": 1e-5,
        "include_bias": False,
        "include_qkv_bias": False,
        "weight_tying": False,
        "alibi": False,
        "mask_token_id": ids["<|mdm_mask|>"],
        "eos_token_id": ids["<|endoftext|>"],
        "pad_token_id": ids["<|endoftext|>"],
        "bos_token_id": ids["<|startoftext|>"],
        "torch_dtype": "float32",
    }
    write_json(LLADA_DIR / "config.json", config)
    write_json(
        LLADA_DIR / "generation_config.json",
        {
            "bos_token_id": ids["<|startoftext|>"],
            "eos_token_id": ids["<|endoftext|>"],
            "pad_token_id": ids["<|endoftext|>"],
        },
    )
    # Shard: embeddings + block 0 in the first file, the rest in the second.
    shards = ({}, {})
    for name, t in hf_weights.items():
        new = llada_name(name)
        first = new == "model.transformer.wte.weight" or new.startswith("model.transformer.blocks.0.")
        shards[0 if first else 1][new] = t
    files = ["model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors"]
    weight_map, total = {}, 0
    for fname, shard in zip(files, shards):
        save_st(shard, LLADA_DIR / fname)
        for k, t in shard.items():
            weight_map[k] = fname
            total += t.numel() * t.element_size()
    write_json(
        LLADA_DIR / "model.safetensors.index.json",
        {"metadata": {"total_size": total}, "weight_map": dict(sorted(weight_map.items()))},
    )


def load_llada_reference_model():
    """Load the sharded LLaDA checkpoint from disk into an HF Llama model."""
    index = json.loads((LLADA_DIR / "model.safetensors.index.json").read_text())
    tensors = {}
    for fname in sorted(set(index["weight_map"].values())):
        tensors.update(load_file(str(LLADA_DIR / fname)))
    assert set(tensors) == set(index["weight_map"])
    model = LlamaForCausalLM._from_config(llada_hf_config(), attn_implementation="eager", dtype=torch.float32)
    inverse = {llada_name(k): k for k in model.state_dict()}
    assert set(inverse) == set(tensors), set(inverse) ^ set(tensors)
    model.load_state_dict({inverse[k]: v for k, v in tensors.items()}, strict=True)
    return model.eval(), {inverse[k]: v for k, v in tensors.items()}


# ---------------------------------------------------------------------------
# Dream checkpoint
# ---------------------------------------------------------------------------

DREAM = dict(hidden=64, layers=2, heads=4, kv_heads=2, inter=96, vocab=320)


def dream_hf_config():
    c = DREAM
    return Qwen2Config(
        hidden_size=c["hidden"],
        num_hidden_layers=c["layers"],
        num_attention_heads=c["heads"],
        num_key_value_heads=c["kv_heads"],
        intermediate_size=c["inter"],
        vocab_size=c["vocab"],
        max_position_embeddings=256,
        rope_parameters={"rope_type": "default", "rope_theta": 1000000.0},
        rms_norm_eps=1e-6,
        hidden_act="silu",
        tie_word_embeddings=False,
        use_sliding_window=False,
    )


def write_dream_checkpoint(out_dir, hf_weights, ids, dtype):
    c = DREAM
    config = {
        "architectures": ["DreamModel"],
        "model_type": "Dream",
        "hidden_size": c["hidden"],
        "num_hidden_layers": c["layers"],
        "num_attention_heads": c["heads"],
        "num_key_value_heads": c["kv_heads"],
        "intermediate_size": c["inter"],
        "vocab_size": c["vocab"],
        "max_position_embeddings": 256,
        "rope_theta": 1000000.0,
        "rope_scaling": None,
        "rms_norm_eps": 1e-6,
        "hidden_act": "silu",
        "attention_dropout": 0.0,
        "use_sliding_window": False,
        "tie_word_embeddings": False,
        "torch_dtype": {torch.float32: "float32", torch.bfloat16: "bfloat16"}[dtype],
        "mask_token_id": ids["<|mask|>"],
        "pad_token_id": ids["<|endoftext|>"],
        "bos_token_id": ids["<|beginoftext|>"],
        "eos_token_id": ids["<|endoftext|>"],
    }
    write_json(out_dir / "config.json", config)
    write_json(
        out_dir / "generation_config.json",
        {
            "bos_token_id": ids["<|beginoftext|>"],
            "eos_token_id": ids["<|endoftext|>"],
            "pad_token_id": ids["<|endoftext|>"],
        },
    )
    save_st({k: v.to(dtype) for k, v in hf_weights.items()}, out_dir / "model.safetensors")


def load_dream_reference_model(out_dir):
    """Load a Dream checkpoint (any float dtype) into an f32 HF Qwen2 model."""
    tensors = {k: v.to(torch.float32) for k, v in load_file(str(out_dir / "model.safetensors")).items()}
    model = Qwen2ForCausalLM._from_config(dream_hf_config(), attn_implementation="eager", dtype=torch.float32)
    assert set(model.state_dict()) == set(tensors), set(model.state_dict()) ^ set(tensors)
    model.load_state_dict(tensors, strict=True)
    return model.eval(), tensors


# ---------------------------------------------------------------------------
# Forward passes (bidirectional)
# ---------------------------------------------------------------------------


def key_padding_mask(attn2d, B, L):
    """4-D additive mask [B,1,L,L]: 0 everywhere except finfo.min on padded KEY
    columns (for every query row)."""
    mask = torch.zeros(B, 1, L, L, dtype=torch.float32)
    if attn2d is not None:
        mask = mask.masked_fill((attn2d == 0)[:, None, None, :], torch.finfo(torch.float32).min)
    return mask


@torch.no_grad()
def llada_forward(model, x, attn2d=None):
    """LLaDA: bidirectional attention, positions 0..L-1 even with left padding."""
    B, L = x.shape
    pos = torch.arange(L).unsqueeze(0).expand(B, L)
    out = model(input_ids=x, attention_mask=key_padding_mask(attn2d, B, L), position_ids=pos, use_cache=False)
    return out.logits.float()


@torch.no_grad()
def dream_forward(model, x, attn2d=None):
    """Dream: bidirectional attention; with padding, positions = cumsum(mask)-1
    (pads at 1); logits shifted right by one (position 0 keeps its own)."""
    B, L = x.shape
    if attn2d is not None and bool((attn2d == 0).any()):
        pos = attn2d.long().cumsum(-1) - 1
        pos = pos.masked_fill(attn2d == 0, 1)
        mask = key_padding_mask(attn2d, B, L)
    else:
        pos = torch.arange(L).unsqueeze(0).expand(B, L)
        mask = key_padding_mask(None, B, L)
    logits = model(input_ids=x, attention_mask=mask, position_ids=pos, use_cache=False).logits.float()
    return torch.cat([logits[:, :1], logits[:, :-1]], dim=1)


def manual_forward(w, *, layers, heads, kv_heads, theta, eps, x, pos, mask4d):
    """Tiny independent re-implementation (plain torch ops) used only to check that
    the HF models really run bidirectionally with the given positions/mask."""
    B, L = x.shape
    h = w["model.embed_tokens.weight"][x]
    d = h.shape[-1]
    hd = d // heads
    inv_freq = 1.0 / (theta ** (torch.arange(0, hd, 2, dtype=torch.float32) / hd))
    ang = pos.float()[..., None] * inv_freq  # [B,L,hd/2]
    cos = torch.cat([ang.cos(), ang.cos()], -1)[:, None]
    sin = torch.cat([ang.sin(), ang.sin()], -1)[:, None]

    def rms(v, g):
        return g * (v * torch.rsqrt(v.pow(2).mean(-1, keepdim=True) + eps))

    def rot(v):
        a, b = v[..., : hd // 2], v[..., hd // 2 :]
        return torch.cat([-b, a], -1)

    def lin(v, name):
        out = v @ w[name + ".weight"].T
        if name + ".bias" in w:
            out = out + w[name + ".bias"]
        return out

    for i in range(layers):
        p = f"model.layers.{i}."
        a = rms(h, w[p + "input_layernorm.weight"])
        q = lin(a, p + "self_attn.q_proj").view(B, L, heads, hd).transpose(1, 2)
        k = lin(a, p + "self_attn.k_proj").view(B, L, kv_heads, hd).transpose(1, 2)
        v = lin(a, p + "self_attn.v_proj").view(B, L, kv_heads, hd).transpose(1, 2)
        q, k = q * cos + rot(q) * sin, k * cos + rot(k) * sin
        k = k.repeat_interleave(heads // kv_heads, dim=1)
        v = v.repeat_interleave(heads // kv_heads, dim=1)
        att = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(hd) + mask4d, -1)
        o = (att @ v).transpose(1, 2).reshape(B, L, d)
        h = h + lin(o, p + "self_attn.o_proj")
        a = rms(h, w[p + "post_attention_layernorm.weight"])
        m = F.silu(lin(a, p + "mlp.gate_proj")) * lin(a, p + "mlp.up_proj")
        h = h + lin(m, p + "mlp.down_proj")
    h = rms(h, w["model.norm.weight"])
    return h @ w["lm_head.weight"].T


# ---------------------------------------------------------------------------
# Margin bookkeeping
# ---------------------------------------------------------------------------


class Margins:
    """Tracks the smallest decision margins seen while sampling."""

    def __init__(self):
        self.min = {}  # kind -> (value, where)
        self.violations = []
        self.case = "?"
        self.enabled = True  # off while running unrecorded comparison runs

    def snapshot(self):
        return dict(self.min), len(self.violations)

    def restore(self, snap):
        self.min = dict(snap[0])
        del self.violations[snap[1]:]

    def add(self, kind, value, where, threshold):
        if not self.enabled:
            return
        value = float(value)
        if kind not in self.min or value < self.min[kind][0]:
            self.min[kind] = (value, f"{self.case} {where}")
        if not value > threshold:
            self.violations.append(f"{kind}={value:.3g} <= {threshold:g} at {self.case} {where}")

    def boundary(self, conf_row, cand_row, k, where):
        """conf_row: confidences [L]; cand_row: bool [L] of ranked candidates;
        k: how many get selected. Checks the k-th / (k+1)-th gap."""
        c = conf_row[cand_row].double().sort(descending=True).values
        assert k <= c.numel(), f"k={k} exceeds the {c.numel()} candidates at {self.case} {where}"
        if 0 < k < c.numel():
            a, b = float(c[k - 1]), float(c[k])
            rel = (a - b) / max(abs(a), abs(b), 1e-30)
            self.add("confidence boundary gap (relative)", rel, where, MIN_CONF_GAP_REL)

    def argmax(self, scores, where, log_space=False):
        """scores: [N, V] values whose argmax is taken; gap top1 - top2."""
        if scores.shape[0] == 0:
            return
        top = scores.double().topk(2, dim=-1).values
        if log_space:
            gap = (top[:, 0].log() - top[:, 1].log()).min()
        else:
            gap = (top[:, 0] - top[:, 1]).min()
        self.add("argmax gap", gap, where, MIN_ARGMAX_GAP)

    def report(self):
        for kind, (v, where) in sorted(self.min.items()):
            print(f"  min {kind}: {v:.6g}   ({where})")


MARGINS = Margins()

# ---------------------------------------------------------------------------
# LLaDA reference sampler
# ---------------------------------------------------------------------------


def get_num_transfer_tokens(block_mask_index, steps):
    mask_num = block_mask_index.sum(dim=1, keepdim=True)
    base = mask_num // steps
    remainder = mask_num % steps
    num = torch.zeros(mask_num.size(0), steps, dtype=torch.int64) + base
    for i in range(mask_num.size(0)):
        num[i, : int(remainder[i])] += 1
    return num


def add_gumbel_noise(logits, temperature, noise):
    """temperature == 0 returns `logits` itself (aliasing is part of the algorithm)."""
    if temperature == 0:
        return logits
    logits = logits.to(torch.float64)
    gumbel_noise = (-torch.log(noise)) ** temperature
    return logits.exp() / gumbel_noise


@torch.no_grad()
def llada_generate(
    model_fn,
    prompt,
    attention_mask=None,
    *,
    steps,
    gen_length,
    block_length,
    temperature=0.0,
    cfg_scale=0.0,
    remasking="low_confidence",
    mask_id,
    eos_id,
    eot_id,
    logits_eos_inf=False,
    confidence_eos_eot_inf=False,
    gumbel=None,
    remask_noise=None,
):
    """Re-implementation of LLaDA's `generate`; noise comes from the pre-drawn
    tensors `gumbel` [total_steps,B,L,V] / `remask_noise` [total_steps,B,L]."""
    B, P = prompt.shape
    x = torch.full((B, P + gen_length), mask_id, dtype=torch.long)
    x[:, :P] = prompt
    if attention_mask is not None:
        attention_mask = torch.cat([attention_mask, torch.ones(B, gen_length, dtype=attention_mask.dtype)], dim=-1)
    prompt_index = x != mask_id

    assert gen_length % block_length == 0
    num_blocks = gen_length // block_length
    assert steps % num_blocks == 0
    steps_per_block = steps // num_blocks

    g = 0  # global step index into the noise tensors
    for nb in range(num_blocks):
        b0 = P + nb * block_length
        b1 = b0 + block_length
        block_mask_index = x[:, b0:b1] == mask_id
        num_transfer_tokens = get_num_transfer_tokens(block_mask_index, steps_per_block)
        for i in range(steps_per_block):
            where = f"block {nb} step {i}"
            mask_index = x == mask_id
            if cfg_scale > 0.0:
                un_x = x.clone()
                un_x[prompt_index] = mask_id
                x_ = torch.cat([x, un_x], dim=0)
                am = None if attention_mask is None else torch.cat([attention_mask, attention_mask], dim=0)
                logits_all = model_fn(x_, am)
                logits, un_logits = torch.chunk(logits_all, 2, dim=0)
                logits = un_logits + (cfg_scale + 1) * (logits - un_logits)
            else:
                logits = model_fn(x, attention_mask)
            if logits_eos_inf:
                logits[:, :, eos_id] = NEG_INF

            logits_with_noise = add_gumbel_noise(logits, temperature, None if gumbel is None else gumbel[g])
            x0 = torch.argmax(logits_with_noise, dim=-1)

            # margin check of the argmax at every ranked candidate (masked, in block)
            cand = mask_index.clone()
            cand[:, b1:] = False
            MARGINS.argmax(logits_with_noise[cand], where, log_space=temperature != 0)

            if confidence_eos_eot_inf:
                # at temperature 0 both names refer to the same tensor
                logits_with_noise[:, :, eos_id] = logits[:, :, eot_id] = NEG_INF

            if remasking == "low_confidence":
                p = F.softmax(logits, dim=-1)
                x0_p = torch.squeeze(torch.gather(p, dim=-1, index=torch.unsqueeze(x0, -1)), -1)
            elif remasking == "random":
                x0_p = remask_noise[g].clone()
            else:
                raise NotImplementedError(remasking)

            x0_p[:, b1:] = NEG_INF
            x0 = torch.where(mask_index, x0, x)
            confidence = torch.where(mask_index, x0_p, torch.tensor(NEG_INF))

            transfer_index = torch.zeros_like(x0, dtype=torch.bool)
            for j in range(confidence.shape[0]):
                k = int(num_transfer_tokens[j, i])
                MARGINS.boundary(confidence[j], cand[j], k, f"{where} row {j}")
                _, select_index = torch.topk(confidence[j], k=k)
                transfer_index[j, select_index] = True
            assert not bool((x0[transfer_index] == mask_id).any()), "mask id predicted"
            x[transfer_index] = x0[transfer_index]
            g += 1
    return x


# ---------------------------------------------------------------------------
# Dream reference sampler
# ---------------------------------------------------------------------------


def top_p_logits(logits, top_p, where):
    sorted_logits, sorted_indices = torch.sort(logits, descending=True)
    cumulative_probs = torch.cumsum(F.softmax(sorted_logits, dim=-1), dim=-1)
    if logits.shape[0] > 0:
        MARGINS.add("top-p cumulative prob gap", (cumulative_probs - top_p).abs().min(), where, MIN_TOPP_GAP)
    sorted_indices_to_remove = cumulative_probs > top_p
    sorted_indices_to_remove[..., 1:] = sorted_indices_to_remove[..., :-1].clone()
    sorted_indices_to_remove[..., 0] = False
    mask = torch.zeros_like(logits, dtype=torch.bool)
    mask = mask.scatter_(-1, sorted_indices, sorted_indices_to_remove)
    return logits.masked_fill(mask, torch.finfo(logits.dtype).min)


def top_k_logits(logits, top_k, where):
    top_k = min(top_k, logits.size(-1))
    vals = torch.topk(logits, top_k + 1 if top_k < logits.size(-1) else top_k)[0]
    if logits.shape[0] > 0 and top_k < logits.size(-1):
        MARGINS.add("top-k logit gap", (vals[:, top_k - 1] - vals[:, top_k]).min(), where, MIN_ARGMAX_GAP)
    indices_to_remove = logits < torch.topk(logits, top_k)[0][..., -1, None]
    return logits.masked_fill(indices_to_remove, torch.finfo(logits.dtype).min)


def sample_tokens(logits, temperature, top_p, top_k, where, margin_confidence=False, neg_entropy=False):
    assert temperature == 0, "only temperature 0 is recorded for Dream"
    if temperature > 0:
        logits = logits / temperature
    if top_p is not None and top_p < 1:
        logits = top_p_logits(logits, top_p, where)
    if top_k is not None:
        logits = top_k_logits(logits, top_k, where)
    MARGINS.argmax(logits, where)
    probs = torch.softmax(logits, dim=-1)
    confidence, x0 = probs.max(dim=-1)
    if margin_confidence:
        sorted_probs, _ = torch.sort(probs, dim=-1, descending=True)
        confidence = sorted_probs[:, 0] - sorted_probs[:, 1]
    if neg_entropy:
        confidence = torch.sum(probs * torch.log(probs + 1e-10), dim=-1)
    return confidence, x0


@torch.no_grad()
def dream_generate(
    model_fn,
    input_ids,
    attention_mask=None,
    *,
    gen_length,
    steps,
    eps=1e-3,
    alg="origin",
    temperature=0.0,
    top_p=None,
    top_k=None,
    mask_id,
    transfer_noise=None,
):
    """Re-implementation of Dream's `_sample` (alg_temp None). For 'origin',
    `transfer_noise` [steps,B,L] holds pre-drawn U(0,1); the entries actually used
    are copied to the returned `used_noise` (others stay 0)."""
    B, P = input_ids.shape
    max_length = P + gen_length
    x = F.pad(input_ids, (0, max_length - P), value=mask_id)
    if attention_mask is not None and bool((attention_mask == 0).any()):
        attention_mask = F.pad(attention_mask, (0, max_length - P), value=1)
    else:
        attention_mask = None
    timesteps = torch.linspace(1, eps, steps + 1)
    used_noise = torch.zeros(steps, B, max_length, dtype=torch.float32)

    for i in range(steps):
        where = f"step {i}"
        mask_index = x == mask_id
        logits = model_fn(x, attention_mask)
        mask_logits = logits[mask_index]
        t = timesteps[i]
        s = timesteps[i + 1]
        if alg == "origin":
            p_transfer = 1 - s / t if i < steps - 1 else 1
            x0 = torch.zeros(mask_logits.shape[0], dtype=torch.long) + mask_id
            draws = transfer_noise[i][mask_index]  # row-major order of mask positions
            used_noise[i][mask_index] = draws
            if i < steps - 1:
                MARGINS.add("origin |u - p_transfer|", (draws - p_transfer).abs().min(), where, MIN_NOISE_GAP)
            transfer_index_t_s = draws < p_transfer
            if bool(transfer_index_t_s.any()):
                x0[transfer_index_t_s] = sample_tokens(
                    mask_logits[transfer_index_t_s], temperature, top_p, top_k, where
                )[1]
            assert not bool((x0[transfer_index_t_s] == mask_id).any()), "mask id predicted"
            x[mask_index] = x0.clone()
        else:
            confidence, x0 = sample_tokens(
                mask_logits,
                temperature,
                top_p,
                top_k,
                where,
                margin_confidence=alg == "topk_margin",
                neg_entropy=alg == "entropy",
            )
            num_mask_token = mask_index.sum() / mask_index.shape[0]
            number_transfer_tokens = int(num_mask_token * (1 - s / t)) if i < steps - 1 else int(num_mask_token)
            full_confidence = torch.full_like(x, NEG_INF, dtype=logits.dtype)
            full_confidence[mask_index] = confidence
            for j in range(B):
                MARGINS.boundary(full_confidence[j], mask_index[j], number_transfer_tokens, f"{where} row {j}")
            if number_transfer_tokens > 0:
                _, transfer_index = torch.topk(full_confidence, number_transfer_tokens)
                x_ = torch.zeros_like(x, dtype=torch.long) + mask_id
                x_[mask_index] = x0.clone()
                row_indices = torch.arange(x.size(0)).unsqueeze(1).expand_as(transfer_index)
                assert not bool((x_[row_indices, transfer_index] == mask_id).any()), "mask id predicted"
                x[row_indices, transfer_index] = x_[row_indices, transfer_index]
    return x, used_noise


# ---------------------------------------------------------------------------
# Fixture sections
# ---------------------------------------------------------------------------


def left_pad(rows, pad_id):
    """Left-pad lists of ids to a common length; returns (ids, attention_mask)."""
    L = max(len(r) for r in rows)
    ids = torch.tensor([[pad_id] * (L - len(r)) + r for r in rows], dtype=torch.long)
    am = torch.tensor([[0] * (L - len(r)) + [1] * len(r) for r in rows], dtype=torch.long)
    return ids, am


def logits_inputs(tok, mask_id, pad_id):
    """single: [1,24] with some masks; batch: [2,24], row 0 left-padded by 5."""
    text = "Once upon a time there was a small robot who loved to read books about the sea and the sky."
    ids = tok.encode(text, add_special_tokens=False).ids
    assert len(ids) >= 24, len(ids)
    single = ids[:24]
    for p in (3, 10, 11, 17, 22, 23):
        single[p] = mask_id
    row1 = tok.encode("The model predicts all masked tokens at once, and the most confident ones are kept.").ids
    assert len(row1) >= 24, len(row1)
    row1 = row1[:24]
    for p in (6, 7, 15, 20, 23):
        row1[p] = mask_id
    row0 = tok.encode("Good morning! How are you doing this fine day? Thank you very much.").ids
    assert len(row0) >= 19, len(row0)
    row0 = row0[:19]
    for p in (4, 12, 18):
        row0[p] = mask_id
    batch_ids, batch_am = left_pad([row0, row1], pad_id)
    assert batch_ids.shape == (2, 24) and int((batch_am[0] == 0).sum()) == 5
    return torch.tensor([single], dtype=torch.long), batch_ids, batch_am


def record_logits(path, forward, model, inputs):
    single, batch_ids, batch_am = inputs
    out = {
        "single.input_ids": single,
        "single.logits": forward(model, single),
        "batch.input_ids": batch_ids,
        "batch.attention_mask": batch_am,
        "batch.logits": forward(model, batch_ids, batch_am),
    }
    save_st(out, path)
    return out


def structured_mask(groups, attn2d, B, L):
    """4-D additive mask [B,1,L,L] for attention groups: query i sees key j iff
    groups[j] <= groups[i] and j is not padding; every query sees itself."""
    g = torch.tensor(groups)
    vis = (g[None, :] <= g[:, None])[None].expand(B, L, L).clone()
    if attn2d is not None:
        vis &= (attn2d != 0)[:, None, :]
    vis |= torch.eye(L, dtype=torch.bool)[None]
    return torch.zeros(B, 1, L, L, dtype=torch.float32).masked_fill(~vis[:, None], torch.finfo(torch.float32).min)


@torch.no_grad()
def record_structured_logits(path, model, inputs):
    """LLaDA logits under block-causal (prompt 8, then blocks of 4), causal and omni attention."""
    single, batch_ids, batch_am = inputs
    L = single.shape[1]
    layouts = {
        "block": [0] * 8 + [1 + (p - 8) // 4 for p in range(8, L)],
        "causal": list(range(L)),
        # Show-o omni: 6 text tokens causal, a 10-token "image" bidirectional, 8 text causal.
        "omni": list(range(6)) + [6] * 10 + list(range(7, 15)),
    }
    out = {}
    for name, groups in layouts.items():
        out[f"{name}.groups"] = torch.tensor(groups, dtype=torch.long)
        for case, x, am in (("single", single, None), ("batch", batch_ids, batch_am)):
            B = x.shape[0]
            pos = torch.arange(L).unsqueeze(0).expand(B, L)
            mask = structured_mask(groups, am, B, L)
            out[f"{name}.{case}.logits"] = model(
                input_ids=x, attention_mask=mask, position_ids=pos, use_cache=False).logits.float()
    out["single.input_ids"] = single
    out["batch.input_ids"] = batch_ids
    out["batch.attention_mask"] = batch_am
    save_st(out, path)


def check_against_manual(model_weights, cfg, forward_kind, inputs, hf_out):
    """Compare HF outputs with manual_forward (same positions / masks)."""
    single, batch_ids, batch_am = inputs
    worst = 0.0
    for x, am, key in ((single, None, "single.logits"), (batch_ids, batch_am, "batch.logits")):
        B, L = x.shape
        if forward_kind == "dream" and am is not None:
            pos = (am.cumsum(-1) - 1).masked_fill(am == 0, 1)
        else:
            pos = torch.arange(L).unsqueeze(0).expand(B, L)
        logits = manual_forward(model_weights, x=x, pos=pos, mask4d=key_padding_mask(am, B, L), **cfg)
        if forward_kind == "dream":
            logits = torch.cat([logits[:, :1], logits[:, :-1]], dim=1)
        worst = max(worst, float((logits - hf_out[key]).abs().max()))
    assert worst < 1e-4, worst
    return worst


def chat_and_tokenize(specs):
    """specs: list of (model_name, dir, raw Tokenizer, conversations, texts)."""
    chat, tokenize = [], []
    for name, d, raw, convs, texts in specs:
        hf = PreTrainedTokenizerFast.from_pretrained(str(d))
        for messages in convs:
            text = hf.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
            assert isinstance(text, str)
            ids = hf(text, add_special_tokens=False)["input_ids"]
            assert ids == raw.encode(text, add_special_tokens=False).ids
            chat.append(
                {"model": name, "messages": messages, "add_generation_prompt": True, "text": text, "ids": ids}
            )
        for text in texts:
            ids = hf(text, add_special_tokens=False)["input_ids"]
            assert ids == raw.encode(text, add_special_tokens=False).ids
            assert hf.decode(ids) == text, (hf.decode(ids), text)
            tokenize.append({"model": name, "text": text, "ids": ids})
    write_json(REF / "chat.json", chat)
    write_json(REF / "tokenize.json", tokenize)
    return chat


CONVERSATIONS = [
    [{"role": "user", "content": "What is the capital of France?"}],
    [
        {"role": "system", "content": "You are a helpful assistant."},
        {"role": "user", "content": "Write a short poem about the sea."},
    ],
    [
        {"role": "user", "content": "Hello!"},
        {"role": "assistant", "content": "Good morning! How are you?"},
        {"role": "user", "content": "  Can you explain how a transformer works?\n"},
    ],
]


# Prompts for the sampler cases. Each case tries rotations of this list (from its
# own starting point) and keeps the first prompt for which every recorded decision
# passes the margin checks (and, for the EOS/EOT options, the option matters).
PROMPTS = [
    "The sea is wide.",
    "How are you?",
    "Good morning!",
    "The answer is",
    "Thank you!",
    "The model is",
    "Hello world!",
    "Write a poem.",
    "Tell me a story.",
    "The cat sat on the mat.",
]


def prompt_candidates(tok, start, batch=False):
    """Candidate prompt row-sets (lists of id lists) for a case, in trial order.
    Batches pair two consecutive prompts of different token lengths."""
    enc = [tok.encode(s, add_special_tokens=False).ids for s in PROMPTS]
    n = len(enc)
    out = []
    for r in range(n):
        a = enc[(start + r) % n]
        if not batch:
            out.append([a])
            continue
        b = enc[(start + r + 1) % n]
        if len(a) != len(b):
            out.append([a, b])
    return out


class Rejected(Exception):
    """A candidate prompt makes a case meaningless (e.g. an option has no effect)."""


def first_passing(name, candidates, attempt):
    """Run attempt(rows) for each candidate until one raises no Rejected and adds
    no margin violation. Returns attempt's result."""
    MARGINS.case = name
    for n, rows in enumerate(candidates):
        snap = MARGINS.snapshot()
        try:
            result = attempt(rows)
        except Rejected as e:
            MARGINS.restore(snap)
            print(f"    {name}: candidate {n} rejected ({e})")
            continue
        if len(MARGINS.violations) == snap[1]:
            return result
        print(f"    {name}: candidate {n} rejected ({MARGINS.violations[snap[1]]})")
        MARGINS.restore(snap)
    MARGINS.violations.append(f"{name}: no candidate prompt passes")
    return None


def llada_case_specs():
    """LLaDA sampler cases. `start`: first entry of PROMPTS to try; `batch`: two
    left-padded prompts; `chat`: chat-template ids; `noise`: pre-drawn noise."""
    base = dict(temperature=0.0, cfg_scale=0.0, remasking="low_confidence", logits_eos_inf=False,
                confidence_eos_eot_inf=False)
    C = []

    def case(name, start, gen, steps, block, noise=False, batch=False, chat=False, **kw):
        C.append(dict(name=name, start=start, batch=batch, chat=chat, gen_length=gen, steps=steps,
                      block_length=block, noise=noise, **dict(base, **kw)))

    case("t0_g16_s16_b16", 0, 16, 16, 16)
    case("t0_g16_s8_b8", 1, 16, 8, 8)
    case("t0_g24_s12_b8", 2, 24, 12, 8)
    case("t0_g16_s6_b8_uneven", 3, 16, 6, 8)  # 8 masks over 3 steps: 3, 3, 2
    case("t0_cfg1.5_g16_s8_b8", 4, 16, 8, 8, cfg_scale=1.5)
    case("t0_logits_eos_inf", 0, 16, 8, 8, logits_eos_inf=True)
    case("t0_confidence_eos_eot_inf", 0, 16, 16, 8, confidence_eos_eot_inf=True)
    case("t0_batch_left_padded", 1, 16, 8, 8, batch=True)
    case("t0_chat_template", 0, 16, 8, 8, chat=True)
    # noise-driven cases (noise recorded in llada_noise.safetensors)
    case("t0.7_low_confidence", 5, 8, 4, 4, noise=True, temperature=0.7)
    case("t0_random_remask", 6, 16, 8, 8, noise=True, remasking="random")
    case("t0.5_confidence_eos_eot_inf", 0, 8, 4, 8, noise=True, temperature=0.5,
         confidence_eos_eot_inf=True)
    case("t0.7_cfg1.0", 7, 8, 4, 8, noise=True, temperature=0.7, cfg_scale=1.0)
    return C


def run_llada_cases(model, tok, ids, chat_ids):
    mask_id, eos_id, eot_id = ids["<|mdm_mask|>"], ids["<|endoftext|>"], ids["<|eot_id|>"]
    fn = lambda x, am: llada_forward(model, x, am)  # noqa: E731
    out_cases, noise = [], {}
    for ci, c in enumerate(llada_case_specs()):
        if c["chat"]:
            candidates = [[r] for r in chat_ids]
        else:
            candidates = prompt_candidates(tok, c["start"], batch=c["batch"])

        def attempt(rows, c=c, ci=ci):
            if c["batch"]:
                prompt, am = left_pad(rows, eos_id)
            else:
                prompt, am = torch.tensor(rows, dtype=torch.long), None
            B, Lt = prompt.shape[0], prompt.shape[1] + c["gen_length"]
            gen = torch.Generator().manual_seed(NOISE_SEED + ci)
            case_noise, gumbel, remask = {}, None, None
            if c["noise"] and c["temperature"] > 0:
                gumbel = torch.rand((c["steps"], B, Lt, LLADA["emb"]), generator=gen, dtype=torch.float64)
                case_noise[c["name"] + ".gumbel"] = gumbel
            if c["noise"] and c["remasking"] == "random":
                remask = torch.rand((c["steps"], B, Lt), generator=gen, dtype=torch.float32)
                case_noise[c["name"] + ".remask"] = remask
            assert c["noise"] == bool(case_noise)

            def sample(**override):
                p = dict(c, **override)
                return llada_generate(
                    fn, prompt, am, steps=p["steps"], gen_length=p["gen_length"],
                    block_length=p["block_length"], temperature=p["temperature"], cfg_scale=p["cfg_scale"],
                    remasking=p["remasking"], mask_id=mask_id, eos_id=eos_id, eot_id=eot_id,
                    logits_eos_inf=p["logits_eos_inf"], confidence_eos_eot_inf=p["confidence_eos_eot_inf"],
                    gumbel=gumbel, remask_noise=remask,
                )

            x = sample()
            # The EOS/EOT options must change the result, otherwise the case tests
            # nothing: compare with an unrecorded run without them.
            # The confidence option must also differ from plain EOS suppression.
            if c["logits_eos_inf"] or c["confidence_eos_eot_inf"]:
                MARGINS.enabled = False
                plain = sample(logits_eos_inf=False, confidence_eos_eot_inf=False)
                eos_only = sample(logits_eos_inf=True, confidence_eos_eot_inf=False)
                MARGINS.enabled = True
                if torch.equal(x, plain):
                    raise Rejected("EOS/EOT option has no effect")
                if c["confidence_eos_eot_inf"] and torch.equal(x, eos_only):
                    raise Rejected("same result as logits_eos_inf")
            return prompt, am, x, case_noise

        res = first_passing("llada:" + c["name"], candidates, attempt)
        if res is None:
            continue
        prompt, am, x, case_noise = res
        noise.update(case_noise)
        g = x[:, prompt.shape[1]:]
        print(f"  llada {c['name']}: prompt {tuple(prompt.shape)}, generated eos {int((g == eos_id).sum())},"
              f" eot {int((g == eot_id).sum())}")
        out_cases.append({
            "name": c["name"],
            "prompt": prompt.tolist(),
            "attention_mask": None if am is None else am.tolist(),
            "gen_length": c["gen_length"],
            "steps": c["steps"],
            "block_length": c["block_length"],
            "temperature": c["temperature"],
            "cfg_scale": c["cfg_scale"],
            "remasking": c["remasking"],
            "logits_eos_inf": c["logits_eos_inf"],
            "confidence_eos_eot_inf": c["confidence_eos_eot_inf"],
            "noise": c["noise"],
            "output": x.tolist(),
        })
    write_json(REF / "llada_generate.json",
               {"mask_id": mask_id, "eos_id": eos_id, "eot_id": eot_id, "cases": out_cases})
    save_st(noise, REF / "llada_noise.safetensors")
    return out_cases


def dream_case_specs():
    """Dream sampler cases (all at temperature 0); fields as in llada_case_specs."""
    C = []

    def case(name, start, gen, steps, alg, eps=1e-3, top_p=None, top_k=None, batch=False, chat=False,
             noise=False):
        C.append(dict(name=name, start=start, gen_length=gen, steps=steps, alg=alg, eps=eps, top_p=top_p,
                      top_k=top_k, batch=batch, chat=chat, noise=noise))

    for start, alg in enumerate(("maskgit_plus", "topk_margin", "entropy")):
        case(f"{alg}_g16_s16", start, 16, 16, alg)
        case(f"{alg}_g16_s5", start, 16, 5, alg)  # uneven transfer counts
        case(f"{alg}_g16_s8_eps0.05", start, 16, 8, alg, eps=0.05)
    case("maskgit_plus_top_p0.9", 4, 16, 8, "maskgit_plus", top_p=0.9)
    case("maskgit_plus_top_k5", 4, 16, 8, "maskgit_plus", top_k=5)
    case("maskgit_plus_batch_left_padded", 1, 16, 8, "maskgit_plus", batch=True)
    case("maskgit_plus_chat_template", 0, 16, 8, "maskgit_plus", chat=True)
    # 'origin' draws one U(0,1) per masked position and step (recorded noise)
    case("origin_g16_s8", 0, 16, 8, "origin", noise=True)
    case("origin_g16_s5_eps0.05", 2, 16, 5, "origin", eps=0.05, noise=True)
    return C


def run_dream_cases(model, tok, ids, chat_ids):
    mask_id, pad_id = ids["<|mask|>"], ids["<|endoftext|>"]
    fn = lambda x, am: dream_forward(model, x, am)  # noqa: E731
    out_cases, noise = [], {}
    for ci, c in enumerate(dream_case_specs()):
        if c["chat"]:
            candidates = [[r] for r in chat_ids]
        else:
            candidates = prompt_candidates(tok, c["start"], batch=c["batch"])

        def attempt(rows, c=c, ci=ci):
            if c["batch"]:
                prompt, am = left_pad(rows, pad_id)
            else:
                prompt, am = torch.tensor(rows, dtype=torch.long), None
            B, Lt = prompt.shape[0], prompt.shape[1] + c["gen_length"]
            transfer = None
            if c["noise"]:
                gen = torch.Generator().manual_seed(NOISE_SEED + 1000 + ci)
                transfer = torch.rand((c["steps"], B, Lt), generator=gen, dtype=torch.float32)
            x, used = dream_generate(
                fn, prompt, am, gen_length=c["gen_length"], steps=c["steps"], eps=c["eps"], alg=c["alg"],
                temperature=0.0, top_p=c["top_p"], top_k=c["top_k"], mask_id=mask_id, transfer_noise=transfer,
            )
            assert not bool((x == mask_id).any()), f"{c['name']}: masks left"
            return prompt, am, x, ({c["name"] + ".transfer": used} if c["noise"] else {})

        res = first_passing("dream:" + c["name"], candidates, attempt)
        if res is None:
            continue
        prompt, am, x, case_noise = res
        noise.update(case_noise)
        print(f"  dream {c['name']}: prompt {tuple(prompt.shape)}, generated eos"
              f" {int((x[:, prompt.shape[1]:] == pad_id).sum())}")
        out_cases.append({
            "name": c["name"],
            "prompt": prompt.tolist(),
            "attention_mask": None if am is None else am.tolist(),
            "gen_length": c["gen_length"],
            "steps": c["steps"],
            "eps": c["eps"],
            "alg": c["alg"],
            "alg_temp": None,
            "temperature": 0.0,
            "top_p": c["top_p"],
            "top_k": c["top_k"],
            "noise": c["noise"],
            "output": x.tolist(),
        })
    write_json(REF / "dream_generate.json", {"mask_id": mask_id, "cases": out_cases})
    save_st(noise, REF / "dream_noise.safetensors")
    return out_cases


def write_timesteps():
    out = []
    for steps in (1, 2, 3, 5, 7, 8, 16, 31, 64, 100, 128, 256, 512):
        for eps in (1e-3, 0.05):
            t = torch.linspace(1, eps, steps + 1)
            assert t.dtype == torch.float32
            arr = t.numpy()
            out.append({
                "steps": steps,
                "eps": eps,
                "values": [float(v) for v in arr],
                "bits": [int(b) for b in arr.view(np.uint32)],
            })
    write_json(REF / "timesteps.json", out)


# ---------------------------------------------------------------------------
# Main
# ---------------------------------------------------------------------------


def main():
    print(f"torch {torch.__version__}, transformers {transformers.__version__}")
    for d in (LLADA_DIR, DREAM_DIR, DREAM_BF16_DIR, REF):
        fresh_dir(d)

    # --- tokenizers -------------------------------------------------------
    llada_tok, llada_ids = train_tokenizer(LLADA["vocab"], LLADA_SPECIALS)
    dream_tok, dream_ids = train_tokenizer(DREAM["vocab"], DREAM_SPECIALS)
    write_tokenizer(LLADA_DIR, llada_tok, llada_ids, {
        "bos_token": "<|startoftext|>", "eos_token": "<|endoftext|>", "pad_token": "<|endoftext|>",
        "mask_token": "<|mdm_mask|>"}, LLADA_CHAT_TEMPLATE)
    for d in (DREAM_DIR, DREAM_BF16_DIR):
        write_tokenizer(d, dream_tok, dream_ids, {
            "bos_token": "<|beginoftext|>", "eos_token": "<|endoftext|>", "pad_token": "<|endoftext|>",
            "mask_token": "<|mask|>"}, DREAM_CHAT_TEMPLATE)
    print("llada special ids:", llada_ids)
    print("dream special ids:", dream_ids)

    # --- checkpoints ------------------------------------------------------
    c = LLADA
    llada_w = random_weights(
        torch.Generator().manual_seed(LLADA_WEIGHT_SEED), hidden=c["d_model"], layers=c["n_layers"],
        heads=c["n_heads"], kv_heads=c["n_kv_heads"], inter=c["mlp_hidden"], vocab=c["emb"], qkv_bias=False,
        demote=[llada_ids["<|mdm_mask|>"]] + list(range(c["vocab"], c["emb"])),
        boost={llada_ids["<|endoftext|>"]: EOS_BOOST, llada_ids["<|eot_id|>"]: EOT_BOOST},
    )
    write_llada_checkpoint(llada_w, llada_ids)
    c = DREAM
    dream_w = random_weights(
        torch.Generator().manual_seed(DREAM_WEIGHT_SEED), hidden=c["hidden"], layers=c["layers"],
        heads=c["heads"], kv_heads=c["kv_heads"], inter=c["inter"], vocab=c["vocab"], qkv_bias=True,
        demote=[dream_ids["<|mask|>"]], boost={dream_ids["<|endoftext|>"]: EOS_BOOST},
    )
    write_dream_checkpoint(DREAM_DIR, dream_w, dream_ids, torch.float32)
    write_dream_checkpoint(DREAM_BF16_DIR, dream_w, dream_ids, torch.bfloat16)

    # Reference models are loaded back from the files just written.
    llada_model, llada_loaded = load_llada_reference_model()
    dream_model, dream_loaded = load_dream_reference_model(DREAM_DIR)
    dream16_model, dream16_loaded = load_dream_reference_model(DREAM_BF16_DIR)

    # --- chat / tokenize --------------------------------------------------
    tok_texts = [
        "Hello world!",
        "The quick brown fox jumps over the lazy dog.",
        "  leading spaces, trailing newline\n",
        "Unicode: café, naïve, 東京, emoji 🙂.",
        "Numbers 1234567 and symbols #$%&*()",
    ]
    chat = chat_and_tokenize([
        ("llada-tiny", LLADA_DIR, llada_tok, CONVERSATIONS,
         tok_texts + ["<|startoftext|><|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|><|mdm_mask|>"]),
        ("dream-tiny", DREAM_DIR, dream_tok, CONVERSATIONS,
         tok_texts + ["<|im_start|>user\nHi<|im_end|>\n<|mask|><|mask|><|endoftext|>"]),
    ])

    # --- reference logits -------------------------------------------------
    llada_in = logits_inputs(llada_tok, llada_ids["<|mdm_mask|>"], llada_ids["<|endoftext|>"])
    dream_in = logits_inputs(dream_tok, dream_ids["<|mask|>"], dream_ids["<|endoftext|>"])
    llada_out = record_logits(REF / "llada_logits.safetensors", llada_forward, llada_model, llada_in)
    record_structured_logits(REF / "llada_structured_logits.safetensors", llada_model, llada_in)
    dream_out = record_logits(REF / "dream_logits.safetensors", dream_forward, dream_model, dream_in)
    d16_out = record_logits(REF / "dream_bf16_logits.safetensors", dream_forward, dream16_model, dream_in)
    lc = dict(layers=LLADA["n_layers"], heads=LLADA["n_heads"], kv_heads=LLADA["n_kv_heads"], theta=500000.0,
              eps=1e-5)
    dc = dict(layers=DREAM["layers"], heads=DREAM["heads"], kv_heads=DREAM["kv_heads"], theta=1000000.0,
              eps=1e-6)
    print("manual-vs-HF max |diff|: llada %.3g, dream %.3g, dream-bf16 %.3g" % (
        check_against_manual(llada_loaded, lc, "llada", llada_in, llada_out),
        check_against_manual(dream_loaded, dc, "dream", dream_in, dream_out),
        check_against_manual(dream16_loaded, dc, "dream", dream_in, d16_out),
    ))
    s = llada_out["single.logits"][0]
    print("llada single logits: std %.3f, mean top1-top2 %.3f, mean max prob %.3f" % (
        float(s.std()), float((s.topk(2).values[:, 0] - s.topk(2).values[:, 1]).mean()),
        float(s.softmax(-1).max(-1).values.mean())))

    # --- samplers ---------------------------------------------------------
    llada_chat_ids = [e["ids"] for e in chat if e["model"] == "llada-tiny"]
    dream_chat_ids = [e["ids"] for e in chat if e["model"] == "dream-tiny"]
    run_llada_cases(llada_model, llada_tok, llada_ids, llada_chat_ids)
    run_dream_cases(dream_model, dream_tok, dream_ids, dream_chat_ids)
    write_timesteps()

    # --- margins ----------------------------------------------------------
    print("margins:")
    MARGINS.report()
    if MARGINS.violations:
        print("MARGIN VIOLATIONS:")
        for v in MARGINS.violations:
            print("  " + v)
    assert not MARGINS.violations, f"{len(MARGINS.violations)} margin violations"

    total = 0
    for p in sorted(FIX.rglob("*")):
        if p.is_file():
            total += p.stat().st_size
    print(f"total fixture size: {total} bytes")


if __name__ == "__main__":
    main()
