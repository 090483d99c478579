"""Recipe experiments for tessera-tiny on a GPU, outside the Rust trainer.

The Rust trainer (`tessera train`) is what makes the committed model, on the 2-core CPU machine.
This script is a faster stand-in for choosing its recipe: a PyTorch port of the same objective
(LLaDA architecture, masked-diffusion ELBO with SFT answer masking, block-structured noise,
AdamW with global-norm clipping, warm-up + cosine) over the same token sequences, dumped by
`cargo run --release -p tessera-train --example dump_sequences -- DIR train.json > seqs.json`.
Each variant trains in its own process; all of them share one GPU.

Held-out accuracy here is exact match of the answer tokens (up to the first <|eos|> for text
answers; every code for image and audio answers, stricter than the pixel/pitch checkers), with
two greedy decoders: one token per forward by confidence, and a 0.9 confidence threshold.

usage: python3 recipe_sweep.py SEQS.json WORK_DIR OUT_DIR [VARIANT ...]   (no variants: all)
Per-variant logs and results go to WORK_DIR; OUT_DIR gets table.txt, all.json and all.log.
SWEEP_BUDGET=SECONDS stops each variant's training after that long (then a last evaluation).

Three options test the addition probe's findings (`addition_probe.py`) inside the mixed recipe:
  align="right"   every text answer right-aligned in its span (<|eos|> padding first);
  balanced=True   the addition training pool redrawn with each operand's digit count uniform in
                  1..3 (prompts of the held-out set excluded), as the probe's `--operands balanced`;
  places=P        a learned embedding of each position's place in its run of digits-or-masks,
                  counted from the run's right end (1 = units; 0 outside runs; capped at P - 1),
                  added to the token embedding. A pure function of the (noisy) ids, so training
                  and decoding compute it the same way; on a fully masked right-aligned answer it
                  is the distance from the span's end, the probe's `--significance`.
Held-out text answers are compared as their non-<|eos|> tokens (what the SDK's decoder keeps).
"""

import json
import math
import multiprocessing as mp
import os
import sys
import time

import torch
import torch.nn.functional as F

BASE = dict(
    d_model=256, n_layers=4, n_heads=8, mlp=768, steps=6000, batch=32, lr=2e-3,
    min_lr_ratio=0.05, warmup=150, wd=0.05, beta1=0.9, beta2=0.98, clip=1.0, eps=1e-3,
    block_p=0.4, block_lengths=[1, 4, 8, 16], mixed=False, stratified=False, weighting="elbo",
    weights=dict(t2i=1.5, caption=1.0, t2a=1.0, transcribe=0.7, addition=2.0, sorting=1.0,
                 sudoku=2.0),
    eval_at=[1500, 3000, 4500, 6000], seed=1, align="left", balanced=False, places=0,
    n_eval=200,
)

# The tessera-tiny tokenizer's ids for the tokens of an addition prompt (tokenizer.json).
EOS, BOS, PLUS, EQ, D0 = 0, 1, 12, 13, 16
TEXT = dict(t2i=1.5, caption=1.0, t2a=1.0, transcribe=0.7, addition=4.0, sorting=2.0, sudoku=2.0)
TEXT6 = dict(t2i=1.5, caption=1.0, t2a=1.0, transcribe=0.7, addition=6.0, sorting=3.0, sudoku=2.0)
TEN = dict(mixed=True, lr=5e-4, steps=10000, eval_at=[2500, 5000, 7500, 10000])
ABACUS = dict(TEN, align="right", balanced=True, places=16)

VARIANTS = {
    "base": {},
    "mixed": dict(mixed=True),
    "mixed_strat": dict(mixed=True, stratified=True),
    "mixed_lr1e-3": dict(mixed=True, lr=1e-3),
    "mixed_uniform": dict(mixed=True, weighting="uniform"),
    "mixed_5layers": dict(mixed=True, n_layers=5),
    "mixed_b64": dict(mixed=True, batch=64),
    "mixed_12k": dict(mixed=True, steps=12000, eval_at=[3000, 6000, 9000, 12000]),
    "lr1e-3_text": dict(mixed=True, lr=1e-3, weights=dict(
        t2i=1.5, caption=1.0, t2a=1.0, transcribe=0.7, addition=4.0, sorting=2.0, sudoku=2.0)),
    "lr5e-4": dict(mixed=True, lr=5e-4),
    "lr1e-3_uniform": dict(mixed=True, lr=1e-3, weighting="uniform"),
    "lr1e-3_noblock": dict(mixed=True, lr=1e-3, block_p=0.0),
    "lr1e-3_6layers_d192": dict(mixed=True, lr=1e-3, d_model=192, n_layers=6, n_heads=6, mlp=576),
    "smoke": dict(mixed=True, steps=40, eval_at=[40], n_eval=8),
    "smoke_abacus": dict(ABACUS, steps=40, eval_at=[40], n_eval=8),
    # The addition probe's three changes in the mixed recipe, 10k steps (2026-11-28).
    "ctrl_10k": dict(TEN),
    "abacus_10k": dict(ABACUS),
    "abacus_text_10k": dict(ABACUS, weights=TEXT),
    "abacus_text6_10k": dict(ABACUS, weights=TEXT6),
    "abacus_text_lr1e-3": dict(ABACUS, weights=TEXT, lr=1e-3),
    "right_bal_text_10k": dict(ABACUS, weights=TEXT, places=0),
}


class Block(torch.nn.Module):
    def __init__(self, c):
        super().__init__()
        d, m = c["d_model"], c["mlp"]
        self.h = c["n_heads"]
        self.n1 = torch.nn.Parameter(torch.ones(d))
        self.n2 = torch.nn.Parameter(torch.ones(d))
        self.q = torch.nn.Linear(d, d, bias=False)
        self.k = torch.nn.Linear(d, d, bias=False)
        self.v = torch.nn.Linear(d, d, bias=False)
        self.o = torch.nn.Linear(d, d, bias=False)
        self.gate = torch.nn.Linear(d, m, bias=False)
        self.up = torch.nn.Linear(d, m, bias=False)
        self.down = torch.nn.Linear(m, d, bias=False)

    def forward(self, x, cos, sin, keep):
        b, l, d = x.shape
        hd = d // self.h

        def heads(t):
            return t.view(b, l, self.h, hd).transpose(1, 2)

        def rope(t):
            t1, t2 = t[..., : hd // 2], t[..., hd // 2:]
            return t * cos + torch.cat([-t2, t1], -1) * sin

        y = rms(x, self.n1)
        q, k, v = rope(heads(self.q(y))), rope(heads(self.k(y))), heads(self.v(y))
        a = F.scaled_dot_product_attention(q, k, v, attn_mask=keep)
        x = x + self.o(a.transpose(1, 2).reshape(b, l, d))
        y = rms(x, self.n2)
        return x + self.down(F.silu(self.gate(y)) * self.up(y))


def rms(x, w, eps=1e-5):
    return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps) * w


def place_ids(ids, mask_id, places):
    """Each position's place in its run of digits-or-masks, counted from the run's right end
    (1 = the rightmost), 0 outside runs, capped at places - 1."""
    b, l = ids.shape
    member = ((ids >= D0) & (ids <= D0 + 9)) | (ids == mask_id)
    j = torch.arange(l, device=ids.device).expand(b, l)
    # The first non-member at or after each position (l when none): a reversed running min.
    stop = torch.where(member, torch.full_like(j, l), j)
    stop = torch.flip(torch.cummin(torch.flip(stop, [1]), 1).values, [1])
    return torch.where(member, (stop - j).clamp(max=places - 1), torch.zeros_like(j))


class Model(torch.nn.Module):
    def __init__(self, c, rows, mask_id=None):
        super().__init__()
        d = c["d_model"]
        self.emb = torch.nn.Embedding(rows, d)
        self.places = c.get("places", 0)
        self.mask_id = mask_id
        if self.places:
            self.place = torch.nn.Embedding(self.places, d)
        self.blocks = torch.nn.ModuleList(Block(c) for _ in range(c["n_layers"]))
        self.nf = torch.nn.Parameter(torch.ones(d))
        self.head = torch.nn.Linear(d, rows, bias=False)
        self.hd = d // c["n_heads"]
        out = 0.02 / math.sqrt(2 * c["n_layers"])
        for name, p in self.named_parameters():
            if p.dim() >= 2:
                std = out if name.endswith(("o.weight", "down.weight")) else 0.02
                torch.nn.init.normal_(p, std=std)

    def forward(self, ids, valid):
        b, l = ids.shape
        pos = torch.arange(l, device=ids.device, dtype=torch.float32)
        inv = 1.0 / (10000.0 ** (torch.arange(0, self.hd, 2, device=ids.device) / self.hd))
        ang = torch.outer(pos, inv)
        ang = torch.cat([ang, ang], -1)
        cos, sin = ang.cos(), ang.sin()
        keep = valid[:, None, None, :]
        x = self.emb(ids)
        if self.places:
            x = x + self.place(place_ids(ids, self.mask_id, self.places))
        for blk in self.blocks:
            x = blk(x, cos, sin, keep)
        return self.head(rms(x, self.nf))


def right_align(rows):
    """Each answer's non-<|eos|> tokens moved to the end of its span."""
    out = []
    for p, ids in rows:
        words = [t for t in ids[p:] if t != EOS]
        out.append([p, ids[:p] + [EOS] * (len(ids) - p - len(words)) + words])
    return out


def balanced_addition(n, like, held, seed):
    """n addition sequences laid out like `like` (prompt, then the sum and <|eos|> padding to
    the same span), each operand's digit count uniform in 1..3, no prompt of `held`."""
    import random
    rng = random.Random(seed)
    span = len(like[1]) - like[0]
    held = {tuple(ids[:p]) for p, ids in held}

    def tokens(s):
        return [D0 + int(ch) if ch.isdigit() else {"+": PLUS, "=": EQ}[ch] for ch in s]

    def operand():
        k = rng.randint(1, 3)
        return rng.randint(0 if k == 1 else 10 ** (k - 1), 10**k - 1)

    out = []
    while len(out) < n:
        a, b = operand(), operand()
        prompt = [BOS] + tokens(f"{a}+{b}=")
        if tuple(prompt) in held:
            continue
        answer = tokens(str(a + b))
        out.append([len(prompt), prompt + answer + [EOS] * (span - len(answer))])
    return out


def load(path, device, c=None):
    raw = json.load(open(path))
    c = c or {}
    tasks = {}
    for name, t in raw["tasks"].items():
        text = t["answer_range"][0] == 0
        if name == "addition" and c.get("balanced"):
            t = dict(t, train=balanced_addition(len(t["train"]), t["train"][0], t["eval"],
                                                c["seed"]))
        if text and c.get("align") == "right":
            t = dict(t, train=right_align(t["train"]), eval=right_align(t["eval"]))
        def pack(rows):
            width = max(len(ids) for _, ids in rows)
            ids = torch.zeros(len(rows), width, dtype=torch.long)
            plen = torch.tensor([p for p, _ in rows])
            lens = torch.tensor([len(i) for _, i in rows])
            for r, (_, i) in enumerate(rows):
                ids[r, : len(i)] = torch.tensor(i)
            return ids.to(device), plen.to(device), lens.to(device)

        tasks[name] = dict(range=t["answer_range"], train=pack(t["train"]),
                           eval=pack(t["eval"][: c.get("n_eval", 200)]), text=text)
    return raw, tasks


def batch(c, tasks, names, probs, gen, device):
    b = c["batch"]
    if c["mixed"]:
        pick = torch.multinomial(probs, b, replacement=True, generator=gen).tolist()
    else:
        pick = [torch.multinomial(probs, 1, generator=gen).item()] * b
    parts = []
    for ti in sorted(set(pick)):
        ids, plen, lens = tasks[names[ti]]["train"]
        n = pick.count(ti)
        idx = torch.randint(0, ids.shape[0], (n,), generator=gen).to(device, non_blocking=True)
        parts.append((ids[idx], plen[idx], lens[idx]))
    width = max(p[0].shape[1] for p in parts)
    ids = torch.cat([F.pad(p[0], (0, width - p[0].shape[1])) for p in parts])
    return ids, torch.cat([p[1] for p in parts]), torch.cat([p[2] for p in parts])


def noise(c, ids, plen, lens, mask_id, gen):
    """The Rust trainer's `noise_batch`, vectorised."""
    dev = ids.device
    b, l = ids.shape
    def rand(*shape):
        return torch.rand(*shape, generator=gen, device=gen.device).to(dev)

    u = rand(b)
    if c["stratified"]:
        u = (u[:1] + torch.arange(b, device=dev) / b) % 1.0
    t = c["eps"] + (1 - c["eps"]) * u
    a = lens - plen
    lo = torch.zeros_like(a)
    hi = a.clone()
    if c["block_p"] > 0:
        use = rand(b) < c["block_p"]
        bl = torch.tensor(c["block_lengths"], device=dev)
        bsz = torch.minimum(bl[(rand(b) * len(bl)).long().clamp(max=len(bl) - 1)], a)
        nb = (a + bsz - 1) // bsz
        k = (rand(b) * nb).long()
        lo = torch.where(use, k * bsz, lo)
        hi = torch.where(use, torch.minimum((k + 1) * bsz, a), hi)
    j = torch.arange(l, device=dev)[None, :] - plen[:, None]
    ans = (j >= 0) & (j < a[:, None])
    inblk = (j >= lo[:, None]) & (j < hi[:, None])
    r = rand(b, l)
    masked = ans & ((j >= hi[:, None]) | (inblk & (r < t[:, None])))
    loss_at = masked & inblk
    if c["weighting"] == "elbo":
        w = (1.0 / (t * (hi - lo) * b))[:, None].expand(b, l)
    else:
        w = torch.full((b, l), 1.0, device=dev) / loss_at.sum().clamp(min=1)
    noisy = torch.where(masked, torch.full_like(ids, mask_id), ids)
    valid = torch.arange(l, device=dev)[None, :] < lens[:, None]
    return noisy, valid, loss_at, w


@torch.no_grad()
def decode(model, ids, plen, lens, rng, mask_id, threshold):
    dev = ids.device
    n, l = ids.shape
    j = torch.arange(l, device=dev)[None, :]
    ans = (j >= plen[:, None]) & (j < lens[:, None])
    valid = j < lens[:, None]
    canvas = torch.where(ans, torch.full_like(ids, mask_id), ids)
    masked = ans.clone()
    forwards = torch.zeros(n, device=dev)
    while masked.any():
        live = masked.any(1)
        forwards += live.float()
        logits = model(canvas, valid)[..., rng[0]:rng[1]].float()
        conf, pred = logits.softmax(-1).max(-1)
        pred = pred + rng[0]
        conf = torch.where(masked, conf, torch.full_like(conf, -1.0))
        top = F.one_hot(conf.argmax(1), l).bool() & live[:, None]
        commit = top if threshold is None else (top | (masked & (conf > threshold)))
        canvas = torch.where(commit, pred, canvas)
        masked &= ~commit
    return canvas, forwards


def accuracy(model, task, mask_id, threshold):
    ids, plen, lens = task["eval"]
    out, fw = decode(model, ids, plen, lens, task["range"], mask_id, threshold)
    ok = []
    for r in range(ids.shape[0]):
        a, b = plen[r].item(), lens[r].item()
        want, got = ids[r, a:b].tolist(), out[r, a:b].tolist()
        if task["text"]:
            want, got = [t for t in want if t != EOS], [t for t in got if t != EOS]
        ok.append(want == got)
    toks = (lens - plen).float()
    return sum(ok) / len(ok), (toks.sum() / fw.sum()).item()


def run(name, over, seqs, out_dir):
    c = dict(BASE)
    c.update(over)
    torch.set_num_threads(1)
    budget = float(os.environ["SWEEP_BUDGET"]) if "SWEEP_BUDGET" in os.environ else None
    dev = "cuda" if torch.cuda.is_available() else "cpu"
    torch.backends.cuda.matmul.allow_tf32 = True
    torch.manual_seed(c["seed"])
    raw, tasks = load(seqs, dev, c)
    names = sorted(c["weights"])
    probs = torch.tensor([c["weights"][k] for k in names], dtype=torch.float)
    gen = torch.Generator().manual_seed(c["seed"])  # the batch's tasks and rows
    noise_gen = torch.Generator(device=dev).manual_seed(c["seed"])  # the noise, on the device
    model = Model(c, raw["rows"], raw["mask"]).to(dev)
    decay = [p for p in model.parameters() if p.dim() >= 2]
    other = [p for p in model.parameters() if p.dim() < 2]
    opt = torch.optim.AdamW([dict(params=decay, weight_decay=c["wd"]),
                             dict(params=other, weight_decay=0.0)],
                            lr=c["lr"], betas=(c["beta1"], c["beta2"]), eps=1e-8,
                            fused=dev == "cuda")
    log = open(os.path.join(out_dir, f"{name}.log"), "w")
    res = dict(name=name, config=over, evals=[], params=sum(p.numel() for p in model.parameters()))
    began = time.time()
    # Losses stay on the device (no per-step synchronisation) until they are printed.
    window, since = torch.zeros((), device=dev), 0
    last = float("nan")
    for step in range(c["steps"]):
        if step < c["warmup"]:
            lr = c["lr"] * (step + 1) / c["warmup"]
        else:
            prog = min(1.0, (step - c["warmup"]) / max(1, c["steps"] - c["warmup"]))
            lr = c["lr"] * (c["min_lr_ratio"] + (1 - c["min_lr_ratio"]) * 0.5 * (1 + math.cos(math.pi * prog)))
        for g in opt.param_groups:
            g["lr"] = lr
        ids, plen, lens = batch(c, tasks, names, probs, gen, dev)
        noisy, valid, loss_at, w = noise(c, ids, plen, lens, raw["mask"], noise_gen)
        logits = model(noisy, valid)
        nll = F.cross_entropy(logits.transpose(1, 2), ids, reduction="none")
        loss = (nll * w * loss_at).sum()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        if c["clip"] > 0:
            torch.nn.utils.clip_grad_norm_(model.parameters(), c["clip"])
        opt.step()
        window += loss.detach()
        since += 1
        if (step + 1) % 500 == 0:
            last = window.item() / since
            window.zero_()
            since = 0
            print(f"{name} step {step + 1} loss {last:.4f} "
                  f"{time.time() - began:.0f}s", file=log, flush=True)
        late = budget is not None and time.time() - began > budget
        if step + 1 in c["eval_at"] or late:
            model.eval()
            row = dict(step=step + 1, loss=last if since == 0 else window.item() / since,
                       seconds=round(time.time() - began))
            for tname in names:
                a1, _ = accuracy(model, tasks[tname], raw["mask"], None)
                at, tpf = accuracy(model, tasks[tname], raw["mask"], 0.9)
                row[tname] = dict(one=a1, thr=at, tpf=tpf)
            res["evals"].append(row)
            print(json.dumps(row), file=log, flush=True)
            model.train()
        if late:
            res["stopped_at"] = step + 1
            break
    res["seconds"] = time.time() - began
    json.dump(res, open(os.path.join(out_dir, f"{name}.json"), "w"), indent=1)


def main():
    seqs, work, final = sys.argv[1], sys.argv[2], sys.argv[3]
    chosen = sys.argv[4:] or [v for v in VARIANTS if v != "smoke"]
    out_dir = work
    os.makedirs(out_dir, exist_ok=True)
    os.makedirs(final, exist_ok=True)
    mp.set_start_method("spawn")
    procs = [mp.Process(target=run, args=(n, VARIANTS[n], seqs, out_dir)) for n in chosen]
    for p in procs:
        p.start()
    for p in procs:
        p.join()
    table, results, logs = [], [], []
    for n in chosen:
        lp = os.path.join(out_dir, f"{n}.log")
        if os.path.exists(lp):
            logs.append(open(lp).read())
        path = os.path.join(out_dir, f"{n}.json")
        if not os.path.exists(path):
            table.append(f"{n}: no result")
            continue
        r = json.load(open(path))
        results.append(r)
        for e in r["evals"]:
            cells = " ".join(f"{k}={e[k]['one']:.2f}/{e[k]['thr']:.2f}"
                             for k in sorted(e) if isinstance(e[k], dict))
            table.append(f"{n} @{e['step']} loss={e['loss']:.3f} {cells}")
    print("\n".join(table))
    open(os.path.join(final, "table.txt"), "w").write("\n".join(table) + "\n")
    json.dump(results, open(os.path.join(final, "all.json"), "w"), indent=1)
    open(os.path.join(final, "all.log"), "w").write("\n".join(logs))


if __name__ == "__main__":
    main()
