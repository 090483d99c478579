"""Why tessera-tiny does not learn addition: a small, CPU-sized probe.

Trains the tessera-tiny architecture (d 256, 4 layers, 8 heads, MLP 768) on addition alone with
the trainer's objective (`recipe_sweep.noise`: masked-diffusion ELBO over the answer, 40 %
block-structured noise) and reports held-out accuracy on uniform 0-999 operands, plus the
accuracy of each answer digit counted from the right (units first), under one-token-per-step
confidence decoding.

Variants (all combinable):
  --align left         the template's layout: the answer, then <|eos|> padding (default)
  --align right        <|eos|> padding, then the answer (right-aligned: the units digit always
                       sits in the answer span's last position)
  --operands uniform   both operands uniform in 0..=999, as the world draws them (default)
  --operands balanced  each operand's digit count uniform in 1..=3 first
  --significance       adds a learned embedding of each digit's place (counted from the right
                       of its number; answer positions counted from the span's end), as in
                       McLeish et al. 2024, "Transformers Can Do Arithmetic with the Right
                       Embeddings" (Abacus), adapted to most-significant-first numbers
  --answer sum|a|b|mod the answer: the sum (default), a copy of one operand, or only the units
                       digit of the sum, (a + b) mod 10 - controls separating "find the digits"
                       from "combine them"

usage: python3 scripts/addition_probe.py [--align A] [--operands O] [--significance]
           [--answer A] [--steps N] [--lr LR] [--every K]
(about 0.4 s per step on the 2-core machine; uses scripts/recipe_sweep.py's model and noise)
"""

import argparse
import math
import os
import random
import sys
import time

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from recipe_sweep import Model, decode, noise  # noqa: E402

# The tessera-tiny tokenizer's ids for the few tokens addition uses (tokenizer.json).
EOS, BOS, PLUS, EQ, D0 = 0, 1, 12, 13, 16
MASK = 26  # a compact vocabulary: the ids above plus one mask row
ROWS = 27
SPAN = 24  # text answer span of tessera-tiny
PLACES = 16


def tokens(s):
    return [D0 + int(ch) if ch.isdigit() else {"+": PLUS, "=": EQ}[ch] for ch in s]


def example(a, b, args):
    prompt = [BOS] + tokens(f"{a}+{b}=")
    value = {"sum": a + b, "a": a, "b": b, "mod": (a + b) % 10}[args.answer]
    digits = tokens(str(value))
    pad = [EOS] * (SPAN - len(digits))
    return prompt, (digits + pad if args.align == "left" else pad + digits)


def operands(rng, how):
    if how == "uniform":
        return rng.randint(0, 999), rng.randint(0, 999)

    def one():
        n = rng.randint(1, 3)
        return rng.randint(0 if n == 1 else 10 ** (n - 1), 10**n - 1)

    return one(), one()


def pack(rows):
    width = max(len(p) + len(a) for p, a in rows)
    ids = torch.zeros(len(rows), width, dtype=torch.long)
    for r, (p, a) in enumerate(rows):
        ids[r, : len(p) + len(a)] = torch.tensor(p + a)
    plen = torch.tensor([len(p) for p, _ in rows])
    lens = torch.tensor([len(p) + len(a) for p, a in rows])
    return ids, plen, lens


def places(ids, plen, lens):
    """Each prompt digit's place in its number (units = 1), each answer position's distance
    from the span's end (last = 1), everything else 0; capped at PLACES - 1."""
    out = torch.zeros_like(ids)
    digit = (ids >= D0) & (ids <= D0 + 9)
    for r in range(ids.shape[0]):
        p, n = plen[r].item(), lens[r].item()
        run = 0
        for j in range(p - 1, -1, -1):
            run = run + 1 if digit[r, j] else 0
            out[r, j] = min(run, PLACES - 1)
        for j in range(p, n):
            out[r, j] = min(n - j, PLACES - 1)
    return out


class PlaceModel(Model):
    """recipe_sweep's model with a place embedding added to the token embedding's output."""

    def __init__(self, c, rows):
        super().__init__(c, rows)
        self.place = torch.nn.Embedding(PLACES, c["d_model"])
        torch.nn.init.normal_(self.place.weight, std=0.02)
        self.places = None
        self.emb.register_forward_hook(lambda _m, _i, out: out + self.place(self.places))


def answer_digits(row, align):
    if align == "left":
        return row[: row.index(EOS)] if EOS in row else row
    return [t for t in row if t != EOS]


def evaluate(model, ev, args):
    ids, plen, lens = ev
    if args.significance:
        model.places = places(ids, plen, lens)
    out, _ = decode(model, ids, plen, lens, (0, MASK), MASK, None)
    exact, hits, counts = 0, [0] * 4, [0] * 4
    for r in range(ids.shape[0]):
        a, b = plen[r].item(), lens[r].item()
        want = [t for t in ids[r, a:b].tolist() if t != EOS]
        got = answer_digits(out[r, a:b].tolist(), args.align)
        exact += want == got
        for k in range(1, min(len(want), 4) + 1):
            counts[k - 1] += 1
            hits[k - 1] += len(got) >= k and got[-k] == want[-k]
    per_place = [round(h / c, 2) for h, c in zip(hits, counts) if c]
    return exact / ids.shape[0], per_place


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--align", choices=["left", "right"], default="left")
    ap.add_argument("--operands", choices=["uniform", "balanced"], default="uniform")
    ap.add_argument("--significance", action="store_true")
    ap.add_argument("--answer", choices=["sum", "a", "b", "mod"], default="sum")
    ap.add_argument("--steps", type=int, default=1000)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--every", type=int, default=250)
    ap.add_argument("--eval", type=int, default=300)
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(2)
    c = dict(d_model=256, n_layers=4, n_heads=8, mlp=768, eps=1e-3, block_p=0.4,
             block_lengths=[1, 4, 8, 16], stratified=False, weighting="elbo", batch=args.batch)
    torch.manual_seed(args.seed)
    rng, gen = random.Random(args.seed), torch.Generator().manual_seed(args.seed)
    model = PlaceModel(c, ROWS) if args.significance else Model(c, ROWS)
    matrices = [p for p in model.parameters() if p.dim() >= 2]
    vectors = [p for p in model.parameters() if p.dim() < 2]
    opt = torch.optim.AdamW([{"params": matrices, "weight_decay": 0.05},
                             {"params": vectors, "weight_decay": 0.0}],
                            lr=args.lr, betas=(0.9, 0.98))
    held = random.Random(999)  # a different stream from training's
    ev = pack([example(*operands(held, "uniform"), args) for _ in range(args.eval)])
    start, total, warm = time.time(), 0.0, 100
    for step in range(1, args.steps + 1):
        f = step / warm if step < warm else 0.05 + 0.475 * (
            1 + math.cos(math.pi * (step - warm) / max(1, args.steps - warm)))
        for g in opt.param_groups:
            g["lr"] = args.lr * f
        ids, plen, lens = pack([example(*operands(rng, args.operands), args)
                                for _ in range(args.batch)])
        if args.significance:
            model.places = places(ids, plen, lens)
        noisy, valid, loss_at, w = noise(c, ids, plen, lens, MASK, gen)
        nll = F.cross_entropy(model(noisy, valid).transpose(1, 2), ids, reduction="none")
        loss = (nll * w * loss_at).sum()
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        total += loss.item()
        if step % args.every == 0 or step == args.steps:
            model.eval()
            exact, per_place = evaluate(model, ev, args)
            model.train()
            print(f"align={args.align} {args.operands} places={args.significance} "
                  f"answer={args.answer} @{step} loss={total / args.every:.3f} "
                  f"exact={exact:.3f} digit_from_right={per_place} {time.time() - start:.0f}s",
                  flush=True)
            total = 0.0


if __name__ == "__main__":
    main()
