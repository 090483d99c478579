#!/usr/bin/env python3
"""Regenerates the audio fixtures of tessera-modalities (and benchmarks EnCodec with --bench).

Writes, from the repository root:

- tests/fixtures/encodec-tiny/: a tiny random `transformers.EncodecModel` (config.json as
  `save_pretrained` writes it; weights renamed to the published weight-norm naming
  `weight_g` / `weight_v`, as in facebook/encodec_24khz).
- tests/fixtures/reference/encodec_tiny.safetensors: test signals, the codes `EncodecModel`
  gives at every target bandwidth and the audio it decodes them to.
- tests/fixtures/frame-vq-tiny/: a frame-VQ codec (MDCT + 2-level residual VQ) fitted here with
  numpy on sine notes C4..C5, and reference.safetensors: codes and decoded audio computed by
  this script's own numpy MDCT for a held-out note (an independent check of the Rust MDCT/VQ).
- tests/fixtures/audio/: a short 440 Hz sine as 16-bit WAV, FLAC, MP3 (libsndfile/LAME with a
  LAME gapless tag), OGG/Vorbis, and a stereo 16-bit WAV.

Every recorded nearest-codeword decision is checked to have a clear margin (second-nearest
minus nearest squared distance), so the codes are not decided by float rounding; the script
exits with an error otherwise.

Usage (repository root): /work/pyref/bin/python scripts/make_audio_fixtures.py [--bench]
Needs torch, transformers, safetensors, numpy, soundfile.
"""

import argparse
import json
import os
import shutil
import sys
import tempfile
import time

import numpy as np
import soundfile as sf
import torch
import transformers
from safetensors.numpy import save_file as save_np
from safetensors.torch import load_file, save_file
from transformers import EncodecConfig, EncodecModel

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FIX = os.path.join(ROOT, "tests", "fixtures")

# Smallest allowed robustness radius of a recorded nearest-codeword decision, relative to the
# residual's norm (see `margins`). Another f32 implementation's latents agree with PyTorch to
# ~1e-6 relative (the decoded audio agrees to that order), so 1e-4 leaves two orders of
# magnitude.
MIN_REL_MARGIN = 1e-4


def tiny_config():
    # hop 4·3·2 = 24 samples → 1000 frames/s at 24 kHz; 5 bits per code → 5 kbps per
    # codebook: 7.5 kbps → 1 codebook, 10 → 2, 15 → 3 (= num_quantizers).
    # kernel_size != last_kernel_size catches a decoder that takes the wrong one; two residual
    # layers exercise dilation 2.
    return EncodecConfig(
        target_bandwidths=[7.5, 10.0, 15.0],
        sampling_rate=24000,
        audio_channels=1,
        normalize=False,
        hidden_size=16,
        num_filters=4,
        num_residual_layers=2,
        upsampling_ratios=[4, 3, 2],
        norm_type="weight_norm",
        kernel_size=7,
        last_kernel_size=5,
        residual_kernel_size=3,
        dilation_growth_rate=2,
        use_causal_conv=True,
        pad_mode="reflect",
        compress=2,
        num_lstm_layers=2,
        trim_right_ratio=1.0,
        codebook_size=32,
        use_conv_shortcut=True,
    )


def randomize_weights(model, gen):
    """Perturb weight-norm gains (so g ≠ ‖v‖ and a loader that ignored g would fail) and draw
    random biases."""
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("original0"):
                p.mul_(torch.rand(p.shape, generator=gen) + 0.5)
            elif name.endswith("bias") or "bias_" in name:
                p.copy_((torch.rand(p.shape, generator=gen) - 0.5) * 0.02)


def randomize_codebooks(model, gen, latent_source):
    """Codebooks drawn around each level's residual statistics."""
    with torch.no_grad():
        latent = model.encoder(latent_source)[0].T  # (frames, dim)
        residual = latent
        for layer in model.quantizer.layers:
            cb = layer.codebook
            std = residual.std(dim=0, keepdim=True)
            mean = residual.mean(dim=0, keepdim=True)
            embed = mean + std * torch.randn(cb.embed.shape, generator=gen)
            cb.embed.copy_(embed)
            cb.embed_avg.copy_(embed)
            idx = cb.quantize(residual)
            residual = residual - embed[idx]


def margins(residuals_and_books):
    """The smallest relative robustness radius of the nearest-codeword decisions.

    Moving a residual r by δ changes d₂ − d₁ (second-nearest minus nearest squared distance)
    by exactly 2·δ·(e₁ − e₂), so the decision cannot change while
    ‖δ‖ < (d₂ − d₁) / (2‖e₁ − e₂‖). Returned relative to ‖r‖: how far (relatively) another
    implementation's latent may stray before a code could differ."""
    worst = float("inf")
    for residual, embed in residuals_and_books:
        d = ((residual[:, None, :] - embed[None, :, :]) ** 2).sum(-1)
        s, order = torch.sort(d, dim=1)
        gap_vec = (embed[order[:, 0]] - embed[order[:, 1]]).norm(dim=-1)
        radius = (s[:, 1] - s[:, 0]) / (2 * gap_vec + 1e-30)
        worst = min(worst, float((radius / (residual.norm(dim=-1) + 1e-30)).min()))
    return worst


def rvq_margin(model, signal, n_q):
    with torch.no_grad():
        latent = model.encoder(signal)[0].T
        residual = latent
        pairs = []
        for layer in model.quantizer.layers[:n_q]:
            embed = layer.codebook.embed
            pairs.append((residual, embed))
            idx = layer.codebook.quantize(residual)
            residual = residual - embed[idx]
        return margins(pairs)


def test_signals():
    rng = np.random.default_rng(1234)
    sr = 24000

    def chirp(n):
        t = np.arange(n) / sr
        x = 0.5 * np.sin(2 * np.pi * (200 + 4000 * t) * t) + 0.05 * rng.standard_normal(n)
        return x.astype(np.float32)

    return {
        # a whole number of hops (30 frames)
        "chirp": chirp(720),
        # not a multiple of the hop: exercises the extra right padding
        "odd": chirp(421),
        # shorter than the reflect pad of the first convolution (6): the zero-extension path
        "short": (0.3 * rng.standard_normal(5)).astype(np.float32),
    }


def make_encodec():
    torch.manual_seed(0)
    gen = torch.Generator().manual_seed(0)
    cfg = tiny_config()
    model = EncodecModel(cfg).eval()
    signals = test_signals()
    source = torch.from_numpy(signals["chirp"])[None, None, :]
    randomize_weights(model, gen)
    # Of 20 codebook draws, keep the one whose decisions have the widest margin.
    best = None
    for attempt in range(20):
        randomize_codebooks(model, gen, source)
        worst = min(
            rvq_margin(model, torch.from_numpy(x)[None, None, :], cfg.num_quantizers)
            for x in signals.values()
        )
        if best is None or worst > best[0]:
            best = (worst, attempt, {k: v.clone() for k, v in model.state_dict().items()})
    worst, attempt, state = best
    model.load_state_dict(state)
    if worst <= MIN_REL_MARGIN:
        sys.exit(f"no codebook draw with a decision margin above {MIN_REL_MARGIN}")
    # Random decoders come out quiet; scale the last convolution's gain so the decoded audio
    # peaks near 0.3 and an absolute tolerance means something.
    with torch.no_grad():
        enc = model.encode(source, bandwidth=cfg.target_bandwidths[-1])
        peak = float(model.decode(enc.audio_codes, enc.audio_scales)[0].abs().max())
        last = model.decoder.layers[-1].conv
        last.parametrizations.weight.original0.mul_(0.3 / peak)
        last.bias.mul_(0.3 / peak)
    print(f"encodec-tiny: codebook draw {attempt}, smallest relative decision radius {worst:.3e}")

    out_dir = os.path.join(FIX, "encodec-tiny")
    with tempfile.TemporaryDirectory() as tmp:
        model.save_pretrained(tmp)
        sd = load_file(os.path.join(tmp, "model.safetensors"))
        os.makedirs(out_dir, exist_ok=True)
        shutil.copy(os.path.join(tmp, "config.json"), os.path.join(out_dir, "config.json"))
    renamed = {}
    for k, v in sd.items():
        k = k.replace(".parametrizations.weight.original0", ".weight_g")
        k = k.replace(".parametrizations.weight.original1", ".weight_v")
        renamed[k] = v.contiguous()
    assert not any("parametrizations" in k for k in renamed)
    save_file(renamed, os.path.join(out_dir, "model.safetensors"), metadata={"format": "pt"})

    # The reference: what EncodecModel gives, through its public encode/decode.
    ref = {}
    with torch.no_grad():
        for name, x in signals.items():
            ref[f"signal.{name}"] = torch.from_numpy(x)
            inp = torch.from_numpy(x)[None, None, :]
            for bw in cfg.target_bandwidths:
                enc = model.encode(inp, bandwidth=bw)
                codes = enc.audio_codes[0, 0]  # (levels, frames)
                audio = model.decode(enc.audio_codes, enc.audio_scales)[0][0, 0]
                ref[f"codes.{name}.bw{bw}"] = codes.to(torch.int64).contiguous()
                ref[f"audio.{name}.bw{bw}"] = audio.contiguous()
                print(f"  {name} ({len(x)} samples) @ {bw} kbps: codes {tuple(codes.shape)}, "
                      f"audio {tuple(audio.shape)}, peak {float(audio.abs().max()):.3f}")
    ref_path = os.path.join(FIX, "reference", "encodec_tiny.safetensors")
    os.makedirs(os.path.dirname(ref_path), exist_ok=True)
    save_file(ref, ref_path)
    print(f"wrote {out_dir}/ ({len(renamed)} tensors) and {ref_path}")


# ---------------------------------------------------------------------------------------
# Frame VQ: an independent numpy MDCT (sine window, orthonormal scaling) and k-means.

def mdct_basis(n):
    t = np.arange(2 * n)[None, :]
    k = np.arange(n)[:, None]
    window = np.sin(np.pi * (t + 0.5) / (2 * n))
    return np.sqrt(2.0 / n) * window * np.cos(np.pi / n * (t + 0.5 + n / 2) * (k + 0.5))


def mdct(x, n, basis):
    frames = -(-len(x) // n) + 1
    padded = np.zeros((frames + 1) * n)
    padded[n:n + len(x)] = x
    blocks = np.stack([padded[f * n:f * n + 2 * n] for f in range(frames)])
    return blocks @ basis.T


def imdct(c, n, basis):
    blocks = c @ basis
    out = np.zeros((len(c) + 1) * n)
    for f, b in enumerate(blocks):
        out[f * n:f * n + 2 * n] += b
    return out[n:len(c) * n]


def note(freq, sr=16000, dur=0.25, fade=0.01, phase=0.0, amp=0.5):
    n = int(round(sr * dur))
    t = np.arange(n) / sr
    x = amp * np.sin(2 * np.pi * freq * t + phase)
    nf = int(round(sr * fade))
    ramp = np.linspace(0.0, 1.0, nf)
    x[:nf] *= ramp
    x[-nf:] *= ramp[::-1]
    return x


def kmeans_np(x, k, iters, rng):
    centres = x[rng.choice(len(x), k, replace=False)].copy()
    for _ in range(iters):
        d = ((x[:, None, :] - centres[None]) ** 2).sum(-1)
        a = d.argmin(1)
        for j in range(k):
            if (a == j).any():
                centres[j] = x[a == j].mean(0)
    return centres


def make_frame_vq():
    sr, n, k, levels = 16000, 160, 64, 2
    basis = mdct_basis(n)
    rng = np.random.default_rng(7)
    freqs = [261.63 * 2 ** (s / 12) for s in range(13)]  # C4..C5
    train = [note(f, phase=rng.uniform(0, 2 * np.pi)) for f in freqs for _ in range(3)]
    coeffs = np.concatenate([mdct(x, n, basis) for x in train])
    residual = coeffs
    books = []
    for _ in range(levels):
        cb = kmeans_np(residual, k, 15, rng)
        books.append(cb.astype(np.float32))
        idx = ((residual[:, None, :] - cb[None]) ** 2).sum(-1).argmin(1)
        residual = residual - cb[idx]

    # Held-out note: E4 at a phase not in training; float32 like the Rust side.
    test = note(freqs[4], phase=1.234).astype(np.float32)
    books64 = [b.astype(np.float64) for b in books]
    c = mdct(test.astype(np.float64), n, basis)
    codes, pairs = [], []
    residual = c
    for cb in books64:
        d = ((residual[:, None, :] - cb[None]) ** 2).sum(-1)
        pairs.append(margins([(torch.from_numpy(residual), torch.from_numpy(cb))]))
        idx = d.argmin(1)
        codes.append(idx)
        residual = residual - cb[idx]
    worst = min(pairs)
    if worst <= MIN_REL_MARGIN:
        sys.exit(f"frame-vq reference margin {worst:.2e} is too small")
    decoded = imdct(sum(cb[i] for cb, i in zip(books64, codes)), n, basis)

    out_dir = os.path.join(FIX, "frame-vq-tiny")
    os.makedirs(out_dir, exist_ok=True)
    cfg = {"type": "frame-vq", "transform": "mdct", "sample_rate": sr, "frame_size": n,
           "codebook_size": k, "levels": levels}
    with open(os.path.join(out_dir, "config.json"), "w") as f:
        f.write(json.dumps(cfg, indent=2) + "\n")
    save_np({f"codebook.{i}": b for i, b in enumerate(books)},
            os.path.join(out_dir, "model.safetensors"))
    save_np({"signal": test, "codes": np.stack(codes).astype(np.int64),
             "audio": decoded.astype(np.float32)},
            os.path.join(out_dir, "reference.safetensors"))
    snr = 10 * np.log10((test**2).sum() / ((test - decoded[:len(test)]) ** 2).sum())
    print(f"frame-vq-tiny: {levels}×{k} codewords of {n}; held-out E4: {len(codes[0])} frames, "
          f"SNR {snr:.1f} dB, smallest relative decision radius {worst:.3e}")


# ---------------------------------------------------------------------------------------
# Audio files.

def _ogg_crc(data):
    # Ogg's CRC-32: polynomial 0x04C11DB7, no reflection, initial value 0.
    crc = 0
    for b in data:
        crc ^= b << 24
        for _ in range(8):
            crc = ((crc << 1) ^ 0x04C11DB7) if crc & 0x80000000 else (crc << 1)
            crc &= 0xFFFFFFFF
    return crc


def fix_ogg_serial(path, serial=0x7E55E4A):
    """libsndfile draws a random stream serial number; pin it (and redo each page's CRC) so
    the file is the same on every run."""
    data = bytearray(open(path, "rb").read())
    pos = 0
    while pos < len(data):
        assert data[pos:pos + 4] == b"OggS", "not an Ogg page"
        nseg = data[pos + 26]
        size = 27 + nseg + sum(data[pos + 27:pos + 27 + nseg])
        data[pos + 14:pos + 18] = serial.to_bytes(4, "little")
        data[pos + 22:pos + 26] = b"\0\0\0\0"
        data[pos + 22:pos + 26] = _ogg_crc(data[pos:pos + size]).to_bytes(4, "little")
        pos += size
    open(path, "wb").write(bytes(data))

def make_audio_files():
    d = os.path.join(FIX, "audio")
    os.makedirs(d, exist_ok=True)
    sr, n = 16000, 8000
    t = np.arange(n) / sr
    pcm = np.round(0.5 * np.sin(2 * np.pi * 440 * t) * 32767).astype(np.int16)
    sf.write(os.path.join(d, "sine440.wav"), pcm, sr, subtype="PCM_16")
    sf.write(os.path.join(d, "sine440.flac"), pcm, sr, subtype="PCM_16")
    # libsndfile's MPEG encoder (LAME) writes a Xing/LAME tag with encoder delay and padding.
    sf.write(os.path.join(d, "sine440.mp3"), pcm.astype(np.float32) / 32768, sr,
             format="MP3", subtype="MPEG_LAYER_III")
    sf.write(os.path.join(d, "sine440.ogg"), pcm.astype(np.float32) / 32768, sr,
             format="OGG", subtype="VORBIS")
    fix_ogg_serial(os.path.join(d, "sine440.ogg"))
    assert sf.info(os.path.join(d, "sine440.ogg")).frames == n
    left = pcm
    right = np.round(0.25 * np.sin(2 * np.pi * 660 * t) * 32767).astype(np.int16)
    sf.write(os.path.join(d, "stereo.wav"), np.stack([left, right], 1), sr, subtype="PCM_16")
    for f in sorted(os.listdir(d)):
        info = sf.info(os.path.join(d, f))
        print(f"  audio/{f}: {os.path.getsize(os.path.join(d, f))} bytes, {info.channels} ch, "
              f"{info.samplerate} Hz, {info.frames} frames")


# ---------------------------------------------------------------------------------------

def bench():
    """Encode + decode of 10 s through EnCodec 24 kHz at its published size, random weights."""
    torch.set_num_threads(int(os.environ.get("BENCH_THREADS", "2")))
    torch.manual_seed(0)
    model = EncodecModel(EncodecConfig()).eval()
    with torch.no_grad():
        for layer in model.quantizer.layers:
            layer.codebook.embed.normal_()
    x = torch.from_numpy(np.random.default_rng(0).uniform(-0.5, 0.5, 240000).astype(np.float32))
    x = x[None, None, :]
    for bw in (1.5, 6.0):
        with torch.inference_mode():
            model.decode(*model.encode(x, bandwidth=bw)[:2])  # warm-up
            times = []
            for _ in range(3):
                t0 = time.perf_counter()
                enc = model.encode(x, bandwidth=bw)
                t1 = time.perf_counter()
                model.decode(enc.audio_codes, enc.audio_scales)
                t2 = time.perf_counter()
                times.append((t1 - t0, t2 - t1))
        enc_s, dec_s = min(times, key=lambda p: p[0] + p[1])
        print(f"pytorch {torch.__version__}, {torch.get_num_threads()} threads, 10 s @ {bw} kbps: "
              f"encode {enc_s:.3f} s + decode {dec_s:.3f} s = {enc_s + dec_s:.3f} s (best of 3)")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--bench", action="store_true", help="time EnCodec 24 kHz instead")
    args = ap.parse_args()
    if args.bench:
        bench()
        return
    print(f"torch {torch.__version__}, transformers {transformers.__version__}, "
          f"numpy {np.__version__}, soundfile {sf.__version__} (libsndfile {sf.__libsndfile_version__})")
    torch.set_num_threads(1)
    make_encodec()
    make_frame_vq()
    make_audio_files()


if __name__ == "__main__":
    main()
