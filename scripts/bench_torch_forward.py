"""Baseline for `tessera bench forward`: the same random LLaDA-shaped models in PyTorch.

Builds transformers' LlamaForCausalLM with the dimensions of `RandomLlada::small()` /
`::medium()` (random weights; bidirectional attention through an all-zero 4-D mask, as LLaDA
runs), and prints the median time of one full forward (all logits) at canvas 160 and 512 in
f32, plus the reference LLaDA sampler's tokens/s at gen 128 / block 32 / 128 steps when
`--sampler` is given. Run it next to `tessera bench forward` in the same session and compare
ratios (these machines are shared and noisy):

    python scripts/bench_torch_forward.py [--sizes small,medium] [--sampler]

On a GPU (`scripts/gpu-check.sh run` does this): `--device cuda --dtype bf16 --canvases
160,512,1024`, each time taken after `torch.cuda.synchronize()`, logits copied to the host
as Tessera's forward returns them.
"""
import argparse
import statistics
import time

import torch
from transformers import LlamaConfig, LlamaForCausalLM

SIZES = {
    "small": dict(hidden_size=512, num_hidden_layers=8, num_attention_heads=8, intermediate_size=1024, vocab_size=8192),
    "medium": dict(hidden_size=1024, num_hidden_layers=16, num_attention_heads=16, intermediate_size=2816, vocab_size=16384),
}


DTYPES = {"f32": torch.float32, "bf16": torch.bfloat16, "f16": torch.float16}


def build(dims, device="cpu", dtype=torch.float32):
    cfg = LlamaConfig(**dims, num_key_value_heads=dims["num_attention_heads"], rope_theta=500000.0,
                      rms_norm_eps=1e-5, tie_word_embeddings=False, max_position_embeddings=4096)
    model = LlamaForCausalLM._from_config(cfg, attn_implementation="eager", torch_dtype=dtype)
    return model.to(device).eval()


def forward(model, ids):
    mask = torch.zeros(ids.shape[0], 1, ids.shape[1], ids.shape[1], device=ids.device, dtype=model.dtype)
    return model(input_ids=ids, attention_mask=mask).logits


def forward_to_host(model, ids):
    # Tessera's forward hands its logits to the host: so does this one (and it synchronises).
    return forward(model, ids).float().cpu()


def median_time(fn, repeat):
    fn()
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def llada_sampler(model, prompt, mask_id, gen=128, block=32, steps=128):
    x = torch.full((1, prompt.shape[1] + gen), mask_id, dtype=torch.long)
    x[:, : prompt.shape[1]] = prompt
    per_block = steps // (gen // block)
    for b in range(gen // block):
        start, end = prompt.shape[1] + b * block, prompt.shape[1] + (b + 1) * block
        for _ in range(per_block):
            logits = forward(model, x)
            x0 = logits.argmax(-1)
            p = torch.softmax(logits, -1).gather(-1, x0.unsqueeze(-1)).squeeze(-1)
            masked = x == mask_id
            conf = torch.where(masked, p, torch.tensor(-float("inf")))
            conf[:, end:] = -float("inf")
            k = max(1, block // per_block)
            idx = conf[0].topk(k).indices
            x[0, idx] = x0[0, idx]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="small,medium")
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--sampler", action="store_true")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--dtype", default="f32", choices=sorted(DTYPES))
    ap.add_argument("--canvases", default="160,512")
    args = ap.parse_args()
    torch.manual_seed(0)
    print(f"torch {torch.__version__}, threads {torch.get_num_threads()}")
    with torch.no_grad():
        for name in args.sizes.split(","):
            dims = SIZES[name]
            model = build(dims, args.device, DTYPES[args.dtype])
            params = sum(p.numel() for p in model.parameters()) / 1e6
            for canvas in map(int, args.canvases.split(",")):
                ids = torch.randint(0, dims["vocab_size"] - 1, (1, canvas), device=args.device)
                t = median_time(lambda: forward_to_host(model, ids), args.repeat)
                print(f"torch {name} ({params:.1f}M) {args.device} {args.dtype} forward canvas {canvas}, "
                      f"all logits: {t * 1e3:.2f} ms")
            if args.sampler and args.device == "cpu":
                prompt = torch.randint(0, dims["vocab_size"] - 2, (1, 32))
                t = time.perf_counter()
                llada_sampler(model, prompt, dims["vocab_size"] - 1)
                t = time.perf_counter() - t
                print(f"torch {name} LLaDA sampler gen 128/block 32/128 steps: {128 / t:.2f} tok/s")


if __name__ == "__main__":
    main()
