#!/usr/bin/env python3
"""Generate the image-tokenizer fixtures for tessera-modalities, or benchmark MAGVIT-v2.

What it makes:

* ``tests/fixtures/images/``
    - ``pattern_32.png``: a 32x32 RGB test picture (gradients, flat shapes, seeded noise);
    - ``photo_48x40.jpg``: a 48x40 JPEG (quality 90) of a similar pattern, to exercise the
      JPEG path and the resize + centre-crop preprocessing.
* ``tests/fixtures/magvit-tiny/``: a tiny random MAGVIT-v2 in the published parameter
  naming (``encoder.down.{i}.block.{j}.norm1.weight``, ``encoder.quant_conv.weight``,
  ``decoder.post_quant_conv.weight``, ... plus the quantiser's ``quantize.power_vals``
  buffer, a tensor the loader must ignore), weights stored as
  float16 to keep the file small (the model below runs in float32 on the float16-rounded
  values, exactly what a loader that upcasts to f32 sees), and a ``config.json`` with the
  explicit ``encoder`` / ``decoder`` / ``codebook_dim`` fields.
* ``tests/fixtures/patch-vq-tiny/``: a hand-built patch-VQ tokenizer in the documented
  format (``config.json`` + ``model.safetensors`` with ``codebook`` [16, 48] f32), and
  its ``expected_shapes_16.safetensors`` (``codes`` i64 by nearest codeword and
  ``decoded_u8`` [16,16,3] for ``tests/fixtures/images/shapes_16.png``).
* ``tests/fixtures/reference/magvit_tiny.safetensors``: reference outputs of that model:
    - ``input``     [1,3,32,32] f32: ``pattern_32.png`` as ToTensor + Normalize(0.5, 0.5);
    - ``latents``   [1,13,16,16] f32: encoder output after ``quant_conv`` (pre-LFQ);
    - ``codes``     [256] i64: LFQ indices, row-major;
    - ``decoded``   [1,3,32,32] f32: decoder output for ``codes`` (before the u8 mapping);
    - ``decoded_u8`` [32,32,3] u8: ``clamp((x+1)/2, 0, 1)*255`` then ``astype(uint8)``;
    - ``random_codes`` [256] i64 / ``random_decoded`` [1,3,32,32] f32: a second, uniformly
      random code grid and its decoding (decoder checked independently of the encoder);
    - ``jpeg_rgb``  [40,48,3] u8: ``photo_48x40.jpg`` as decoded by Pillow;
    - ``jpeg_prepared`` [32,32,3] u8: Show-o preprocessing of that picture (torchvision's
      ``Resize(32, BICUBIC)`` = Pillow bicubic of the shorter side, then ``CenterCrop(32)``).

The MAGVIT-v2 model here is written for this script, following the public reference
(Gen-Verse/MMaDA ``models/modeling_magvitv2.py`` and ``models/common_modules.py``, after
CompVis/taming-transformers); it shares no code with the Rust implementation.

Margins: LFQ takes the sign of each latent, so the script re-draws the weights (next seed)
until every latent satisfies ``|z| > 1e-3`` (the encoder's ``quant_conv`` is scaled by 8 so
latents have a spread of a few units and few seeds are needed). It also reports how many
decoded values lie within 1e-3 of a u8 rounding boundary (those may legitimately differ by
one grey level between implementations; the Rust test allows it there and nowhere else).

Deterministic (fixed seeds, one thread). Run from the repository root:

    /work/pyref/bin/python scripts/make_image_fixtures.py            # write fixtures
    /work/pyref/bin/python scripts/make_image_fixtures.py --bench    # time published size

(needs torch, safetensors, numpy, pillow; no network access).
"""

import argparse
import io
import json
import math
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from PIL import Image
from safetensors.torch import save_file

ROOT = Path(__file__).resolve().parent.parent
FIX = ROOT / "tests" / "fixtures"

# ----------------------------------------------------------------------------------------
# MAGVIT-v2 (reference architecture, written for this script)
# ----------------------------------------------------------------------------------------


def normalize(channels):
    return nn.GroupNorm(num_groups=32, num_channels=channels, eps=1e-6, affine=True)


def swish(x):
    return x * torch.sigmoid(x)


class ResnetBlock(nn.Module):
    def __init__(self, cin, cout):
        super().__init__()
        self.norm1 = normalize(cin)
        self.conv1 = nn.Conv2d(cin, cout, 3, 1, 1)
        self.norm2 = normalize(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1)
        if cin != cout:
            self.nin_shortcut = nn.Conv2d(cin, cout, 1, 1, 0)
        self.cin, self.cout = cin, cout

    def forward(self, x):
        h = self.conv1(swish(self.norm1(x)))
        h = self.conv2(swish(self.norm2(h)))
        if self.cin != self.cout:
            x = self.nin_shortcut(x)
        return x + h


class AttnBlock(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.norm = normalize(c)
        self.q = nn.Conv2d(c, c, 1)
        self.k = nn.Conv2d(c, c, 1)
        self.v = nn.Conv2d(c, c, 1)
        self.proj_out = nn.Conv2d(c, c, 1)

    def forward(self, x):
        h_ = self.norm(x)
        q, k, v = self.q(h_), self.k(h_), self.v(h_)
        b, c, h, w = q.shape
        q = q.reshape(b, c, h * w).permute(0, 2, 1)
        k = k.reshape(b, c, h * w)
        w_ = torch.bmm(q, k) * (int(c) ** (-0.5))
        w_ = F.softmax(w_, dim=2)
        v = v.reshape(b, c, h * w)
        h_ = torch.bmm(v, w_.permute(0, 2, 1)).reshape(b, c, h, w)
        return x + self.proj_out(h_)


class Downsample(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.conv = nn.Conv2d(c, c, 3, 2, 0)

    def forward(self, x):
        return self.conv(F.pad(x, (0, 1, 0, 1), mode="constant", value=0))


class Upsample(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.conv = nn.Conv2d(c, c, 3, 1, 1)

    def forward(self, x):
        return self.conv(F.interpolate(x, scale_factor=2.0, mode="nearest"))


class Encoder(nn.Module):
    def __init__(self, ch, ch_mult, num_res_blocks, attn_resolutions, in_ch, resolution,
                 z_channels, **_):
        super().__init__()
        self.num_res_blocks = num_res_blocks
        self.conv_in = nn.Conv2d(in_ch, ch, 3, 1, 1)
        curr_res = resolution
        in_ch_mult = (1,) + tuple(ch_mult)
        self.down = nn.ModuleList()
        for i, mult in enumerate(ch_mult):
            block, attn = nn.ModuleList(), nn.ModuleList()
            block_in, block_out = ch * in_ch_mult[i], ch * mult
            for _ in range(num_res_blocks[i]):
                block.append(ResnetBlock(block_in, block_out))
                block_in = block_out
                if curr_res in attn_resolutions:
                    attn.append(AttnBlock(block_in))
            down = nn.Module()
            down.block, down.attn = block, attn
            if i != len(ch_mult) - 1:
                down.downsample = Downsample(block_in)
                curr_res //= 2
            self.down.append(down)
        self.mid = nn.Module()
        self.mid.block_1 = ResnetBlock(block_in, block_in)
        self.mid.attn_1 = AttnBlock(block_in)
        self.mid.block_2 = ResnetBlock(block_in, block_in)
        self.norm_out = normalize(block_in)
        self.conv_out = nn.Conv2d(block_in, z_channels, 3, 1, 1)
        self.quant_conv = nn.Conv2d(z_channels, z_channels, 1)

    def forward(self, x):
        h = self.conv_in(x)
        for i, down in enumerate(self.down):
            for j in range(self.num_res_blocks[i]):
                h = down.block[j](h)
                if len(down.attn) > 0:
                    h = down.attn[j](h)
            if hasattr(down, "downsample"):
                h = down.downsample(h)
        h = self.mid.block_2(self.mid.attn_1(self.mid.block_1(h)))
        h = self.conv_out(swish(self.norm_out(h)))
        return self.quant_conv(h)


class Decoder(nn.Module):
    def __init__(self, ch, ch_mult, num_res_blocks, attn_resolutions, out_ch, resolution,
                 z_channels, **_):
        super().__init__()
        self.num_res_blocks = num_res_blocks
        n = len(ch_mult)
        block_in = ch * ch_mult[n - 1]
        curr_res = resolution // 2 ** (n - 1)
        self.conv_in = nn.Conv2d(z_channels, block_in, 3, 1, 1)
        self.mid = nn.Module()
        self.mid.block_1 = ResnetBlock(block_in, block_in)
        self.mid.attn_1 = AttnBlock(block_in)
        self.mid.block_2 = ResnetBlock(block_in, block_in)
        self.up = nn.ModuleList()
        for i in reversed(range(n)):
            block, attn = nn.ModuleList(), nn.ModuleList()
            block_out = ch * ch_mult[i]
            for _ in range(num_res_blocks[i]):
                block.append(ResnetBlock(block_in, block_out))
                block_in = block_out
                if curr_res in attn_resolutions:
                    attn.append(AttnBlock(block_in))
            up = nn.Module()
            up.block, up.attn = block, attn
            if i != 0:
                up.upsample = Upsample(block_in)
                curr_res *= 2
            self.up.insert(0, up)
        self.norm_out = normalize(block_in)
        self.conv_out = nn.Conv2d(block_in, out_ch, 3, 1, 1)
        self.post_quant_conv = nn.Conv2d(z_channels, z_channels, 1)

    def forward(self, z):
        h = self.conv_in(self.post_quant_conv(z))
        h = self.mid.block_2(self.mid.attn_1(self.mid.block_1(h)))
        for i in reversed(range(len(self.up))):
            up = self.up[i]
            for j in range(self.num_res_blocks[i]):
                h = up.block[j](h)
                if len(up.attn) > 0:
                    h = up.attn[j](h)
            if hasattr(up, "upsample"):
                h = up.upsample(h)
        return self.conv_out(swish(self.norm_out(h)))


class LFQ(nn.Module):
    """Lookup-free quantiser: bit c = z_c > 0, channel 0 most significant."""

    def __init__(self, codebook_dim):
        super().__init__()
        indices = torch.arange(2 ** codebook_dim)
        bits = (indices.unsqueeze(1) >> torch.arange(codebook_dim - 1, -1, -1)) & 1
        self.register_buffer("embedding", bits.float() * 2 - 1)
        self.register_buffer("power_vals", 2 ** torch.arange(codebook_dim - 1, -1, -1))

    def indices(self, z):  # (b, c, h, w) -> (b, h*w)
        idx = (self.power_vals.reshape(1, -1, 1, 1) * (z > 0).float()).sum(1).long()
        return idx.reshape(z.shape[0], -1)

    def embed(self, codes, h, w):  # (b, h*w) -> (b, c, h, w)
        return self.embedding[codes.reshape(-1)].view(codes.shape[0], h, w, -1).permute(0, 3, 1, 2)


class MAGVITv2(nn.Module):
    def __init__(self, enc, dec, codebook_dim):
        super().__init__()
        self.encoder = Encoder(**enc)
        self.decoder = Decoder(**dec)
        self.quantize = LFQ(codebook_dim)


PUBLISHED_ENC = dict(ch=128, ch_mult=[1, 2, 2, 4, 4], num_res_blocks=[4, 3, 4, 3, 4],
                     attn_resolutions=[5], in_ch=3, out_ch=3, resolution=256, z_channels=13,
                     double_z=False)
PUBLISHED_DEC = dict(PUBLISHED_ENC, ch_mult=[1, 1, 2, 2, 4], num_res_blocks=[4, 4, 3, 4, 3])

# Tiny: two levels (x2 down), channel changes in both directions (nin_shortcut), several
# blocks per level with per-block attention at 16 px, and the middle attention.
TINY_ENC = dict(ch=32, ch_mult=[2, 1], num_res_blocks=[1, 2], attn_resolutions=[16], in_ch=3,
                out_ch=3, resolution=32, z_channels=13, double_z=False)
TINY_DEC = dict(TINY_ENC, ch_mult=[2, 1], num_res_blocks=[2, 1])
CODEBOOK_DIM = 13
LATENT_MARGIN = 1e-3
QUANT_SCALE = 8.0


# ----------------------------------------------------------------------------------------
# Pictures and preprocessing
# ----------------------------------------------------------------------------------------


def pattern(w, h, seed):
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w].astype(np.float64)
    img = np.zeros((h, w, 3))
    img[..., 0] = 255 * x / max(w - 1, 1)
    img[..., 1] = 255 * y / max(h - 1, 1)
    img[..., 2] = 128 + 100 * np.sin(x / 3.0) * np.cos(y / 4.0)
    img[(x - w * 0.3) ** 2 + (y - h * 0.35) ** 2 < (min(w, h) * 0.2) ** 2] = [250, 240, 20]
    img[int(h * 0.6):int(h * 0.85), int(w * 0.55):int(w * 0.9)] = [10, 30, 200]
    img += rng.normal(0, 12, img.shape)
    return np.clip(np.round(img), 0, 255).astype(np.uint8)


def to_input(rgb_u8):
    """torchvision ToTensor + Normalize(mean=0.5, std=0.5), in float32."""
    t = torch.from_numpy(rgb_u8).permute(2, 0, 1).contiguous().float().div(255)
    return ((t - 0.5) / 0.5).unsqueeze(0)


def to_u8(pixels):
    """The reference's mapping: clamp((x+1)/2, 0, 1) * 255, then astype(uint8)."""
    x = torch.clamp((pixels + 1.0) / 2.0, min=0.0, max=1.0)
    x = x * 255.0
    return x[0].permute(1, 2, 0).numpy().astype(np.uint8)


def showo_prepare(pil, size):
    """torchvision Resize(size, BICUBIC) + CenterCrop(size) on a PIL picture."""
    w, h = pil.size
    short, long = (w, h) if w <= h else (h, w)
    new_short, new_long = size, int(size * long / short)
    new_w, new_h = (new_short, new_long) if w <= h else (new_long, new_short)
    if (new_w, new_h) != (w, h):
        pil = pil.resize((new_w, new_h), Image.BICUBIC)
    left = int(round((new_w - size) / 2.0))
    top = int(round((new_h - size) / 2.0))
    return pil.crop((left, top, left + size, top + size))


# ----------------------------------------------------------------------------------------
# Fixtures
# ----------------------------------------------------------------------------------------


def build_tiny(seed):
    torch.manual_seed(seed)
    model = MAGVITv2(TINY_ENC, TINY_DEC, CODEBOOK_DIM).eval()
    with torch.no_grad():
        model.encoder.quant_conv.weight.mul_(QUANT_SCALE)
        model.encoder.quant_conv.bias.mul_(QUANT_SCALE)
        # Random GroupNorm affines, so a loader that ignored them would be caught.
        for m in model.modules():
            if isinstance(m, nn.GroupNorm):
                m.weight.uniform_(0.5, 1.5)
                m.bias.uniform_(-0.2, 0.2)
        # Store as float16; compute with the rounded values.
        for p in model.parameters():
            p.copy_(p.half().float())
    return model


def make_fixtures():
    torch.set_num_threads(1)
    (FIX / "images").mkdir(parents=True, exist_ok=True)
    (FIX / "magvit-tiny").mkdir(parents=True, exist_ok=True)
    (FIX / "reference").mkdir(parents=True, exist_ok=True)

    png = pattern(32, 32, seed=1)
    Image.fromarray(png).save(FIX / "images" / "pattern_32.png", optimize=False)
    photo = pattern(48, 40, seed=2)
    Image.fromarray(photo).save(FIX / "images" / "photo_48x40.jpg", quality=90,
                                subsampling=0)
    jpeg = Image.open(FIX / "images" / "photo_48x40.jpg").convert("RGB")
    jpeg_rgb = np.asarray(jpeg).copy()
    jpeg_prepared = np.asarray(showo_prepare(jpeg, 32)).copy()
    png_back = np.asarray(Image.open(FIX / "images" / "pattern_32.png").convert("RGB"))
    assert (png_back == png).all()

    x = to_input(png)
    for seed in range(1000, 1100):
        model = build_tiny(seed)
        with torch.no_grad():
            z = model.encoder(x)
        margin = z.abs().min().item()
        if margin > LATENT_MARGIN:
            break
        print(f"seed {seed}: smallest |latent| {margin:.2e} <= {LATENT_MARGIN}, next seed")
    else:
        raise SystemExit("no seed gave latents clear of zero")

    with torch.no_grad():
        codes = model.quantize.indices(z)
        hz, wz = z.shape[2], z.shape[3]
        decoded = model.decoder(model.quantize.embed(codes, hz, wz))
        gen = torch.Generator().manual_seed(7)
        random_codes = torch.randint(0, 2 ** CODEBOOK_DIM, (1, hz * wz), generator=gen)
        random_decoded = model.decoder(model.quantize.embed(random_codes, hz, wz))

    # Sanity on the LFQ mapping against an independent formula.
    bits = (z[0] > 0).long().reshape(CODEBOOK_DIM, -1)
    manual = sum(bits[c] * 2 ** (CODEBOOK_DIM - 1 - c) for c in range(CODEBOOK_DIM))
    assert torch.equal(manual, codes[0])

    sd = {k: v.detach().contiguous() for k, v in model.state_dict().items()}
    # The published checkpoint also stores the LFQ buffers; keep the small one so loaders
    # are tested to ignore tensors they do not use, drop the 8192x13 table (200 KB).
    del sd["quantize.embedding"]
    weights = {k: (v.half() if v.is_floating_point() else v) for k, v in sd.items()}
    save_file(weights, str(FIX / "magvit-tiny" / "model.safetensors"))
    config = {
        "_class_name": "MAGVITv2",
        "encoder": TINY_ENC,
        "decoder": TINY_DEC,
        "codebook_dim": CODEBOOK_DIM,
    }
    (FIX / "magvit-tiny" / "config.json").write_text(json.dumps(config, indent=2) + "\n")

    ref = {
        "input": x.contiguous(),
        "latents": z.contiguous(),
        "codes": codes[0].contiguous(),
        "decoded": decoded.contiguous(),
        "decoded_u8": torch.from_numpy(to_u8(decoded)).contiguous(),
        "random_codes": random_codes[0].contiguous(),
        "random_decoded": random_decoded.contiguous(),
        "jpeg_rgb": torch.from_numpy(jpeg_rgb).contiguous(),
        "jpeg_prepared": torch.from_numpy(jpeg_prepared).contiguous(),
    }
    save_file(ref, str(FIX / "reference" / "magvit_tiny.safetensors"))

    def boundary_count(pix):
        v = (torch.clamp((pix + 1.0) / 2.0, 0.0, 1.0) * 255.0).flatten()
        inside = (v > 0) & (v < 255)
        frac_dist = (v - v.round()).abs()
        return int(((frac_dist < 1e-3) & inside).sum()), float(inside.float().mean())

    n_params = sum(p.numel() for p in model.parameters())
    print(f"torch {torch.__version__}, numpy {np.__version__}, seed {seed}")
    print(f"tiny MAGVIT-v2: {n_params} parameters (stored f16), latents {tuple(z.shape)}")
    print(f"latents: smallest |z| {margin:.4f}, std {z.std().item():.3f}")
    print(f"codes: {codes.numel()} ({codes.unique().numel()} distinct), first {codes[0, :6].tolist()}")
    for name, pix in [("decoded", decoded), ("random_decoded", random_decoded)]:
        near, inside = boundary_count(pix)
        print(f"{name}: range [{pix.min().item():.3f}, {pix.max().item():.3f}], "
              f"{100 * inside:.1f}% unclamped, {near} values within 1e-3 of a u8 boundary")
    for p in sorted((FIX / "magvit-tiny").iterdir()) + sorted((FIX / "images").iterdir()) + [
            FIX / "reference" / "magvit_tiny.safetensors"]:
        print(f"wrote {p.relative_to(ROOT)} ({p.stat().st_size} bytes)")


def make_patch_vq_fixture():
    """A hand-built patch-VQ folder in the documented format, with reference codes.

    Codebook: K=16 codewords of 4x4 RGB patches (48 floats in [0, 1], layout
    (dy*P + dx)*3 + c): 8 flat colours and 8 seeded random patches. The reference encoding
    is the nearest codeword by squared distance (lowest index on ties) over the 4x4 patches
    of ``shapes_16.png``; every patch is checked to have a clear best codeword.
    """
    P, K, W, H = 4, 16, 16, 16
    rng = np.random.default_rng(11)
    flat = np.array([[0, 0, 0], [255, 0, 0], [0, 255, 0], [0, 0, 255], [255, 255, 0],
                     [255, 255, 255], [128, 64, 32], [10, 200, 180]], dtype=np.float32) / 255.0
    codebook = np.zeros((K, P * P * 3), dtype=np.float32)
    codebook[:8] = np.tile(flat, (1, P * P))
    codebook[8:] = rng.random((8, P * P * 3), dtype=np.float32)

    img = np.zeros((H, W, 3), dtype=np.uint8)
    img[:8, :8] = [255, 0, 0]
    img[:8, 8:] = [10, 200, 180]
    img[8:, :4] = [255, 255, 0]
    img[8:12, 4:16] = rng.integers(0, 256, (4, 12, 3), dtype=np.uint8)
    img[12:, 4:] = [0, 0, 255]
    Image.fromarray(img).save(FIX / "images" / "shapes_16.png", optimize=False)

    patches = img.reshape(H // P, P, W // P, P, 3).transpose(0, 2, 1, 3, 4).reshape(-1, P * P * 3)
    points = patches.astype(np.float32) / np.float32(255.0)
    d = ((points[:, None, :] - codebook[None, :, :]) ** 2).sum(-1)
    codes = d.argmin(1)
    srt = np.sort(d, axis=1)
    gap = float((srt[:, 1] - srt[:, 0]).min())
    assert gap > 1e-3, gap
    decoded = np.clip(np.round(codebook[codes] * 255.0), 0, 255).astype(np.uint8)
    decoded = decoded.reshape(H // P, W // P, P, P, 3).transpose(0, 2, 1, 3, 4).reshape(H, W, 3)

    out = FIX / "patch-vq-tiny"
    out.mkdir(parents=True, exist_ok=True)
    config = {"type": "patch-vq", "patch": P, "codebook_size": K, "resolution": [W, H]}
    (out / "config.json").write_text(json.dumps(config, indent=2) + "\n")
    save_file({"codebook": torch.from_numpy(codebook)}, str(out / "model.safetensors"))
    save_file({"codes": torch.from_numpy(codes.astype(np.int64)),
               "decoded_u8": torch.from_numpy(decoded)},
              str(out / "expected_shapes_16.safetensors"))
    print(f"patch VQ: codes {codes.tolist()}, smallest best/second distance gap {gap:.4f}")
    for p in sorted(out.iterdir()) + [FIX / "images" / "shapes_16.png"]:
        print(f"wrote {p.relative_to(ROOT)} ({p.stat().st_size} bytes)")


# ----------------------------------------------------------------------------------------
# Benchmark
# ----------------------------------------------------------------------------------------


def bench(runs):
    torch.manual_seed(0)
    model = MAGVITv2(PUBLISHED_ENC, PUBLISHED_DEC, 13).eval()
    n_params = sum(p.numel() for p in model.parameters())
    img = pattern(256, 256, seed=3)
    x = to_input(img)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, published MAGVIT-v2 "
          f"({n_params / 1e6:.1f}M parameters, random), 256x256, f32, CPU")
    times = []
    with torch.inference_mode():
        for r in range(runs + 1):
            t0 = time.perf_counter()
            z = model.encoder(x)
            codes = model.quantize.indices(z)
            t1 = time.perf_counter()
            out = model.decoder(model.quantize.embed(codes, z.shape[2], z.shape[3]))
            to_u8(out)
            t2 = time.perf_counter()
            label = "warm-up" if r == 0 else f"run {r}"
            print(f"{label}: encode {t1 - t0:.3f} s, decode {t2 - t1:.3f} s, total {t2 - t0:.3f} s")
            if r > 0:
                times.append((t1 - t0, t2 - t1))
    enc = sorted(t[0] for t in times)[len(times) // 2]
    dec = sorted(t[1] for t in times)[len(times) // 2]
    print(f"median: encode {enc:.3f} s, decode {dec:.3f} s, encode+decode {enc + dec:.3f} s")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--bench", action="store_true",
                    help="time encode+decode of a 256x256 picture through the published-size "
                         "model (random weights) instead of writing fixtures")
    ap.add_argument("--runs", type=int, default=3, help="timed runs for --bench")
    args = ap.parse_args()
    if args.bench:
        bench(args.runs)
    else:
        make_fixtures()
        make_patch_vq_fixture()


if __name__ == "__main__":
    main()
