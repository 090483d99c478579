#!/usr/bin/env python3
"""Fixture for the digit-place embedding (a Tessera extension of the LLaDA format).

Makes ``tests/fixtures/llada-places/``: a tiny random LLaDA checkpoint (the dimensions of
``make_fixtures.py``'s ``llada-tiny``, one ``model.safetensors``) whose config has
``"place_embedding": {"places": 6, "digit_ids": [10..19]}`` and whose weights include
``model.transformer.wpe_place.weight`` [6, 64]; and
``tests/fixtures/reference/llada_places_logits.safetensors``: logits from HF
``transformers`` ``LlamaForCausalLM`` (bidirectional 4-D mask, the renamed weights) fed
``inputs_embeds = wte[ids] + wpe_place[place(ids)]``, with ``place`` computed here by a plain
loop from its definition: within a run of digit-or-mask ids, the distance to the run's right
end plus one, capped at places - 1; 0 outside runs. The place ids are recorded too.

Deterministic (fixed seed, one thread). Run from the repository root:

    /work/pyref/bin/python scripts/make_place_fixtures.py
"""

import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from make_fixtures import (  # noqa: E402
    FIX,
    LLADA,
    key_padding_mask,
    llada_hf_config,
    llada_name,
    save_st,
    write_json,
)
from transformers import LlamaForCausalLM  # noqa: E402

OUT = FIX / "llada-places"
PLACES = 6
DIGITS = list(range(10, 20))
MASK = LLADA["emb"] - 1


def places(row):
    out, run = [0] * len(row), 0
    for j in range(len(row) - 1, -1, -1):
        run = run + 1 if (row[j] == MASK or row[j] in DIGITS) else 0
        out[j] = min(run, PLACES - 1)
    return out


def main():
    torch.manual_seed(20261128)
    model = LlamaForCausalLM._from_config(llada_hf_config(), attn_implementation="eager",
                                          dtype=torch.float32).eval()
    with torch.no_grad():
        for p in model.parameters():
            p.normal_(0.0, 0.5 if p.dim() >= 2 else 0.1).add_(1.0 if p.dim() == 1 else 0.0)
    place = torch.randn(PLACES, LLADA["d_model"]) * 0.5
    c = LLADA
    config = {
        "architectures": ["LLaDAModelLM"], "model_type": "llada", "block_type": "llama",
        "d_model": c["d_model"], "n_layers": c["n_layers"], "n_heads": c["n_heads"],
        "n_kv_heads": c["n_kv_heads"], "mlp_hidden_size": c["mlp_hidden"],
        "activation_type": "silu", "vocab_size": c["vocab"], "embedding_size": c["emb"],
        "max_sequence_length": 256, "rope": True, "rope_theta": 500000.0,
        "layer_norm_type": "rms", "rms_norm_eps": 1e-5, "include_bias": False,
        "include_qkv_bias": False, "weight_tying": False, "alibi": False,
        "mask_token_id": MASK, "eos_token_id": 0, "pad_token_id": 0, "bos_token_id": 1,
        "place_embedding": {"places": PLACES, "digit_ids": DIGITS},
    }
    OUT.mkdir(parents=True, exist_ok=True)
    write_json(OUT / "config.json", config)
    weights = {llada_name(k): v.detach().clone() for k, v in model.state_dict().items()}
    weights["model.transformer.wpe_place.weight"] = place
    save_st(weights, OUT / "model.safetensors")

    # Two rows: an addition-like canvas with a masked answer, and digits, masks and words
    # mixed (runs longer than the cap, a run at the very end).
    m = MASK
    rows = [
        [1, 11, 12, 13, 5, 14, 15, 6, m, m, m, m, m, m, m, 0, 12],
        [1, 19, 18, 17, 16, 15, 14, 13, 7, m, 10, m, 8, 9, 12, m, m],
    ]
    ids = torch.tensor(rows)
    pid = torch.tensor([places(r) for r in rows])
    B, L = ids.shape
    with torch.no_grad():
        emb = model.model.embed_tokens.weight[ids] + place[pid]
        pos = torch.arange(L).unsqueeze(0).expand(B, L)
        logits = model(inputs_embeds=emb, attention_mask=key_padding_mask(None, B, L),
                       position_ids=pos, use_cache=False).logits.float()
    save_st({"input_ids": ids.to(torch.int64), "place_ids": pid.to(torch.int64),
             "logits": logits.contiguous()},
            FIX / "reference" / "llada_places_logits.safetensors")
    print("wrote", OUT, "and reference/llada_places_logits.safetensors", tuple(logits.shape))


if __name__ == "__main__":
    main()
