#!/usr/bin/env python3
"""Generate the tiny MMaDA-format fixture and its reference outputs.

What it makes:

* ``tests/fixtures/mmada-tiny/``: a tiny random MMaDA checkpoint — LLaDA's network and tensor
  names (``model_type: "mmada"``), tied embeddings, a text vocabulary of 310 (the llada-tiny
  tokenizer plus MMaDA's task tokens ``<|soi|>`` … ``[iPAD]``) continued by 8192 image codes
  (the codebook of ``tests/fixtures/magvit-tiny``, 16×16 = 256 codes per 32×32 image).
* ``tests/fixtures/reference/mmada_t2i.json`` + ``mmada_noise.safetensors``: MMaDA's
  text-to-image decoding (``t2i_generate`` of Gen-Verse/MMaDA ``models/modeling_mmada.py``,
  transcribed below, with the t2i prompt template of ``training/prompting_utils.py``) run by
  ``transformers``' ``LlamaForCausalLM`` on the checkpoint, with its random draws recorded:
  ``torch.multinomial`` is replaced by an inverse-CDF draw from a recorded uniform and the
  Gumbel noise of ``mask_by_random_topk`` comes from recorded uniforms, so the Rust port can
  replay them exactly. Cases: with and without guidance, both annealings.
* ``tests/fixtures/reference/mmada_mmu.json``: the understanding (caption) canvas built as
  ``inference_mmu.py`` builds it: ``<|mmu|> <|soi|> image ids <|eoi|>`` + the chat-templated
  question with the generation prompt.

Every recorded decision is checked for margin (categorical draws away from the cumulative
boundaries, the masking cut-off away from its neighbours) so float rounding cannot decide it.

Run from the repository root (after ``scripts/make_fixtures.py``):

    /work/pyref/bin/python scripts/make_mmada_fixtures.py
"""

import json
import math
import sys
from pathlib import Path

import numpy as np
import torch
from tokenizers import AddedToken, Tokenizer
from transformers import LlamaConfig, LlamaForCausalLM

sys.path.insert(0, str(Path(__file__).resolve().parent))
import make_fixtures as mf  # noqa: E402  (shared helpers: names, writers, weights)

torch.set_num_threads(1)
ROOT = Path(__file__).resolve().parent.parent
FIX = ROOT / "tests" / "fixtures"
OUT = FIX / "mmada-tiny"
REF = FIX / "reference"

SPECIALS = ["<|soi|>", "<|eoi|>", "<|sov|>", "<|eov|>", "<|t2i|>", "<|mmu|>", "<|t2v|>", "<|v2v|>",
            "<|lvg|>", "[iPAD]"]
CODEBOOK = 8192
NUM_VQ = 256
CFG = dict(d_model=32, n_layers=2, n_heads=4, mlp_hidden=64)
TEXT_LENGTH = 16  # MMaDA's dataset.preprocessing.max_seq_length, tiny
WEIGHT_SEED = 777


def build_tokenizer():
    tok = Tokenizer.from_file(str(FIX / "llada-tiny" / "tokenizer.json"))
    base = tok.get_vocab_size(with_added_tokens=True)
    tok.add_special_tokens([AddedToken(s, special=True, normalized=False) for s in SPECIALS])
    ids = {s: tok.token_to_id(s) for s in SPECIALS}
    assert sorted(ids.values()) == list(range(base, base + len(SPECIALS))), ids
    return tok, ids, tok.get_vocab_size(with_added_tokens=True)


def write_checkpoint(text_vocab):
    llada_cfg = json.loads((FIX / "llada-tiny" / "config.json").read_text())
    emb = text_vocab + CODEBOOK
    c = CFG
    config = dict(llada_cfg)
    config.update({
        "architectures": ["MMadaModelLM"],
        "model_type": "mmada",
        "d_model": c["d_model"],
        "n_layers": c["n_layers"],
        "n_heads": c["n_heads"],
        "n_kv_heads": c["n_heads"],
        "mlp_hidden_size": c["mlp_hidden"],
        "vocab_size": emb,
        "embedding_size": emb,
        "new_vocab_size": emb,
        "llm_vocab_size": text_vocab,
        "codebook_size": CODEBOOK,
        "num_vq_tokens": NUM_VQ,
        "num_new_special_tokens": 0,
        "weight_tying": True,
        "max_sequence_length": 1024,
    })
    mf.write_json(OUT / "config.json", config)
    gen = torch.Generator().manual_seed(WEIGHT_SEED)
    w = mf.random_weights(gen, hidden=c["d_model"], layers=c["n_layers"], heads=c["n_heads"],
                          kv_heads=c["n_heads"], inter=c["mlp_hidden"], vocab=emb, qkv_bias=False,
                          demote=[], boost={})
    # Tied head: the embedding; keep the mask row unlikely so it is never drawn as text.
    del w["lm_head.weight"]
    w["model.embed_tokens.weight"][config["mask_token_id"]] *= 0.05
    tensors = {mf.llada_name(k): v for k, v in w.items()}
    mf.save_st(tensors, OUT / "model.safetensors")
    hf = LlamaConfig(hidden_size=c["d_model"], num_hidden_layers=c["n_layers"],
                     num_attention_heads=c["n_heads"], num_key_value_heads=c["n_heads"],
                     intermediate_size=c["mlp_hidden"], vocab_size=emb, max_position_embeddings=1024,
                     rope_parameters={"rope_type": "default", "rope_theta": 500000.0}, rms_norm_eps=1e-5,
                     attention_bias=False, mlp_bias=False, tie_word_embeddings=True, hidden_act="silu")
    model = LlamaForCausalLM._from_config(hf, attn_implementation="eager", dtype=torch.float32)
    state = {k: v for k, v in w.items()}
    state["lm_head.weight"] = w["model.embed_tokens.weight"]
    model.load_state_dict(state, strict=True)
    return model.eval(), config


def t2i_canvas(tok, ids, config, prompt):
    """``UniversalPrompting.t2i_gen_prompt`` for one prompt: returns ids and attention mask."""
    bos, eos, mask = config["bos_token_id"], config["eos_token_id"], config["mask_token_id"]
    text = tok.encode(prompt, add_special_tokens=False).ids
    if len(text) == 0:
        text = [bos]
    elif text[0] != bos:
        text = [bos] + text
    temp = [ids["<|t2i|>"]] + text + [eos]
    max_text_len = TEXT_LENGTH + 1
    if max_text_len >= len(temp):
        pad = max_text_len - len(temp)
        am = [0] * pad + [1] * (len(temp) + NUM_VQ + 2)
        temp = [ids["[iPAD]"]] * pad + temp
    else:
        temp = temp[: max_text_len - 1] + [eos]
        am = [1] * (len(temp) + NUM_VQ + 2)
    seq = temp + [ids["<|soi|>"]] + [mask] * NUM_VQ + [ids["<|eoi|>"]]
    return seq, am


@torch.no_grad()
def forward(model, x, am):
    B, L = x.shape
    mask4 = torch.zeros(B, 1, L, L, dtype=torch.float32).masked_fill(
        (am == 0)[:, None, None, :], torch.finfo(torch.float32).min)
    pos = torch.arange(L).unsqueeze(0).expand(B, L)
    return model(input_ids=x, attention_mask=mask4, position_ids=pos, use_cache=False).logits.float()


def inverse_cdf(probs, u):
    """Rust's categorical: first index whose f64 running sum of f32 probs exceeds u."""
    p = probs.astype(np.float64)
    acc, last = 0.0, 0
    for i, v in enumerate(p):
        if v > 0:
            last = i
            acc += v
            if u < acc:
                return i, min(abs(u - acc), abs(u - (acc - v)))
    return last, 0.0


def t2i_generate(model, x, am, ux, uam, *, steps, w, tau0, annealing, offset, mask_id, cat_u, gum_u):
    """MMaDA's t2i_generate over one batch, draws from the recorded uniforms."""
    x = x.clone()
    B, L = x.shape
    start, end = L - 1 - NUM_VQ, L - 1
    N = end - start
    tau = tau0
    margins = []
    for step in range(steps):
        if w > 0:
            un = ux.clone()
            un[:, start:end] = x[:, start:end]
            logits = forward(model, torch.cat([x, un]), torch.cat([am, uam]))
            cond, unc = logits.chunk(2)
            logits = (1 + w) * cond - w * unc
        else:
            logits = forward(model, x, am)
        logits = logits[:, start:end, offset:offset + CODEBOOK]
        probs = logits.softmax(dim=-1)
        sampled = torch.zeros(B, N, dtype=torch.long)
        for b in range(B):
            for k in range(N):
                if x[b, start + k] == mask_id:
                    i, m = inverse_cdf(probs[b, k].numpy(), float(cat_u[step, b, start + k]))
                    sampled[b, k] = i
                    margins.append(("categorical", m))
        unknown = x[:, start:end] == mask_id
        sampled = torch.where(unknown, sampled, x[:, start:end] - offset)
        ratio = 1.0 * (step + 1) / steps
        mask_ratio = torch.cos(torch.tensor(ratio) * math.pi * 0.5)
        sel = torch.gather(probs, -1, sampled[..., None]).squeeze(-1)
        sel = torch.where(unknown, sel, torch.finfo(sel.dtype).max)
        mask_len = (N * mask_ratio).floor().unsqueeze(0)
        mask_len = torch.max(torch.tensor([1.0]), torch.min(unknown.sum(dim=-1, keepdim=True) - 1, mask_len))
        tau = tau * (1.0 - ratio) if annealing == "mmada" else tau0 * (1.0 - ratio)
        u = torch.from_numpy(gum_u[step][:, start:end].astype(np.float32))
        g = -torch.log((-torch.log(u.clamp(min=1e-20))).clamp(min=1e-20))
        conf = torch.log(sel.clamp(min=1e-20)) + tau * g
        conf = torch.where(unknown, conf, torch.tensor(float("inf")))
        srt = torch.sort(conf, dim=-1).values
        cut = torch.gather(srt, 1, mask_len.long())
        for b in range(B):
            ml = int(mask_len[b])
            margins.append(("cut", float(min(srt[b, ml] - srt[b, ml - 1],
                                             (srt[b, ml + 1] - srt[b, ml]) if ml + 1 < N else 1.0))))
        masking = conf < cut
        x[:, start:end] = torch.where(masking, torch.tensor(mask_id), sampled + offset)
    return (sampled + offset), margins


def main():
    print(f"torch {torch.__version__}")
    mf.fresh_dir(OUT)
    tok, ids, text_vocab = build_tokenizer()
    tok.save(str(OUT / "tokenizer.json"))
    tcfg = json.loads((FIX / "llada-tiny" / "tokenizer_config.json").read_text())
    mf.write_json(OUT / "tokenizer_config.json", tcfg)
    model, config = write_checkpoint(text_vocab)
    mask_id, offset = config["mask_token_id"], text_vocab
    print("text vocab", text_vocab, "special ids", ids)

    prompts = ["a red circle at the top left", "a small blue square"]
    rows = [t2i_canvas(tok, ids, config, p) for p in prompts]
    x = torch.tensor([r[0] for r in rows])
    am = torch.tensor([r[1] for r in rows])
    un = [t2i_canvas(tok, ids, config, "") for _ in prompts]
    ux = torch.tensor([r[0] for r in un])
    uam = torch.tensor([r[1] for r in un])
    B, L = x.shape
    cases, noise = [], {}
    for name, steps, w, tau0, annealing in [
        ("guided_mmada", 4, 3.5, 1.0, "mmada"),
        ("plain_maskgit", 3, 0.0, 4.5, "maskgit"),
    ]:
        for attempt in range(50):
            rng = np.random.default_rng(1000 * attempt + steps)
            cat_u = rng.uniform(0.0, 1.0, size=(steps, B, L))
            gum_u = rng.uniform(0.0, 1.0, size=(steps, B, L))
            out, margins = t2i_generate(model, x, am, ux, uam, steps=steps, w=w, tau0=tau0,
                                        annealing=annealing, offset=offset, mask_id=mask_id,
                                        cat_u=cat_u, gum_u=gum_u)
            worst_cat = min(m for k, m in margins if k == "categorical")
            worst_cut = min(m for k, m in margins if k == "cut")
            if worst_cat > 2e-6 and worst_cut > 1e-5:
                break
        else:
            raise SystemExit(f"{name}: no draw with safe margins")
        print(f"{name}: attempt {attempt}, min categorical margin {worst_cat:.2e}, min cut gap {worst_cut:.2e}")
        noise[f"{name}.categorical"] = torch.from_numpy(cat_u)
        noise[f"{name}.gumbel"] = torch.from_numpy(gum_u)
        cases.append({"name": name, "steps": steps, "cfg_scale": w, "temperature": tau0,
                      "annealing": annealing, "output": out.tolist()})
    mf.save_st(noise, REF / "mmada_noise.safetensors")
    mf.write_json(REF / "mmada_t2i.json", {
        "prompts": prompts, "text_length": TEXT_LENGTH, "input_ids": x.tolist(),
        "attention_mask": am.tolist(), "uncond_input_ids": ux.tolist(),
        "uncond_attention_mask": uam.tolist(), "image_offset": offset, "codebook_size": CODEBOOK,
        "cases": cases,
    })

    # Understanding: <|mmu|> <|soi|> image <|eoi|> + chat template(question, generation prompt).
    codes = [(i * 2654435761) % CODEBOOK for i in range(NUM_VQ)]
    question = "Describe the image."
    from transformers import PreTrainedTokenizerFast
    hf_tok = PreTrainedTokenizerFast(tokenizer_file=str(OUT / "tokenizer.json"))
    hf_tok.chat_template = tcfg["chat_template"]
    for key in ("bos_token", "eos_token", "pad_token"):
        if tcfg.get(key):
            setattr(hf_tok, key, tcfg[key])
    chat = hf_tok.apply_chat_template([{"role": "user", "content": question}], tokenize=True,
                                      add_generation_prompt=True)
    chat = chat["input_ids"] if isinstance(chat, dict) or hasattr(chat, "keys") else chat
    mmu = [ids["<|mmu|>"], ids["<|soi|>"]] + [c + offset for c in codes] + [ids["<|eoi|>"]] + list(chat)
    mf.write_json(REF / "mmada_mmu.json", {"codes": codes, "question": question, "input_ids": mmu})
    print("mmu canvas length", len(mmu))
    total = sum(p.stat().st_size for p in OUT.rglob("*") if p.is_file())
    print(f"mmada-tiny size: {total} bytes")


if __name__ == "__main__":
    main()
