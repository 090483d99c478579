"""Byte-level writers of the adversarial suite's input files (Python 3 stdlib only).

Used by ``make_adversarial.py``: PNG and WAV files built chunk by chunk (so a header may
declare anything), JPEG marker patching, safetensors headers re-serialised from a committed
fixture, and deterministic pseudo-random bytes. Nothing here writes large data: huge sizes
are declared in headers, and runs of zeros are stored compressed.
"""

import json
import math
import struct
import zlib


def rand_bytes(n, seed):
    """`n` deterministic pseudo-random bytes (xorshift64*), the same on every Python."""
    x = (seed * 0x9E3779B97F4A7C15 + 1) & 0xFFFFFFFFFFFFFFFF
    out = bytearray()
    while len(out) < n:
        x ^= (x >> 12) & 0xFFFFFFFFFFFFFFFF
        x ^= (x << 25) & 0xFFFFFFFFFFFFFFFF
        x ^= (x >> 27) & 0xFFFFFFFFFFFFFFFF
        out += struct.pack("<Q", (x * 0x2545F4914F6CDD1D) & 0xFFFFFFFFFFFFFFFF)
    return bytes(out[:n])


# ---------------------------------------------------------------------------------------
# PNG


def png_chunk(kind, data):
    body = kind + data
    return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body) & 0xFFFFFFFF)


def png_ihdr(width, height, bit_depth=8, color_type=2):
    return png_chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, bit_depth, color_type, 0, 0, 0))


def png(width, height, bit_depth=8, color_type=2, pixel=None, plte=None, idat=None, extra=()):
    """A PNG of `width` × `height` (filter 0 rows of `pixel`, default zero bytes), or with the
    given raw `idat` payload (then the declared size may be anything)."""
    channels = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}[color_type]
    if idat is None:
        bpp = max(1, channels * bit_depth // 8)
        px = pixel if pixel is not None else b"\x00" * bpp
        row = b"\x00" + px * width
        comp = zlib.compressobj(9)
        data = b"".join(comp.compress(row) for _ in range(height)) + comp.flush()
        idat = data
    out = b"\x89PNG\r\n\x1a\n" + png_ihdr(width, height, bit_depth, color_type)
    for kind, data in extra:
        out += png_chunk(kind, data)
    if plte is not None:
        out += png_chunk(b"PLTE", plte)
    if idat is not False:
        out += png_chunk(b"IDAT", idat)
    return out + png_chunk(b"IEND", b"")


def png_header_only(width, height, bit_depth=8, color_type=2):
    """A picture that declares its size and holds a few bytes: signature, IHDR, one short
    IDAT (so a decoder reads the header as a whole) and IEND."""
    return (b"\x89PNG\r\n\x1a\n" + png_ihdr(width, height, bit_depth, color_type)
            + png_chunk(b"IDAT", zlib.compress(b"\x00" * 16)) + png_chunk(b"IEND", b""))


# ---------------------------------------------------------------------------------------
# JPEG


def jpeg_with_size(jpeg, width, height):
    """`jpeg` with the height and width of its first SOF0/SOF2 marker replaced."""
    i = 2
    while i + 4 <= len(jpeg):
        if jpeg[i] != 0xFF:
            raise ValueError("not at a marker")
        marker = jpeg[i + 1]
        length = struct.unpack(">H", jpeg[i + 2 : i + 4])[0]
        if marker in (0xC0, 0xC1, 0xC2):
            at = i + 5
            return jpeg[:at] + struct.pack(">HH", height, width) + jpeg[at + 4 :]
        i += 2 + length
    raise ValueError("no SOF marker")


# ---------------------------------------------------------------------------------------
# WAV


def wav(
    rate=16000,
    channels=1,
    bits=16,
    fmt_tag=1,
    frames=200,
    data=None,
    data_size=None,
    riff_size=None,
    block_align=None,
    byte_rate=None,
    fmt_size=None,
    fmt_extra=b"",
    chunks_before=(),
    with_fmt=True,
    with_data=True,
):
    """A RIFF/WAVE file whose every header field may lie: the declared sizes default to the
    truth, any of them may be overridden."""
    if block_align is None:
        block_align = (channels * bits // 8) & 0xFFFF
    if byte_rate is None:
        byte_rate = (rate * block_align) & 0xFFFFFFFF
    if data is None:
        data = b"\x00" * (frames * max(1, block_align))
    fmt = struct.pack("<HHIIHH", fmt_tag, channels, rate, byte_rate, block_align, bits) + fmt_extra
    body = b"WAVE"
    for kind, payload in chunks_before:
        body += kind + struct.pack("<I", len(payload)) + payload
    if with_fmt:
        body += b"fmt " + struct.pack("<I", len(fmt) if fmt_size is None else fmt_size) + fmt
    if with_data:
        size = len(data) if data_size is None else data_size
        body += b"data" + struct.pack("<I", size) + data
    return b"RIFF" + struct.pack("<I", len(body) if riff_size is None else riff_size) + body


def sine_pcm16(frames, rate, freq=440.0, channels=1):
    """`frames` frames of a 16-bit sine, `channels` identical channels."""
    out = bytearray()
    for n in range(frames):
        s = int(12000 * math.sin(2 * math.pi * freq * n / rate))
        out += struct.pack("<h", s) * channels
    return bytes(out)


# ---------------------------------------------------------------------------------------
# safetensors


class Safetensors:
    """A committed safetensors file: its header (order kept) and where its data starts."""

    def __init__(self, path):
        with open(path, "rb") as f:
            raw = f.read()
        (n,) = struct.unpack("<Q", raw[:8])
        self.header_len = n
        self.header = json.loads(raw[8 : 8 + n], object_pairs_hook=dict)
        self.size = len(raw)
        self.data_start = 8 + n

    def names_by_offset(self):
        names = [k for k in self.header if k != "__metadata__"]
        return sorted(names, key=lambda k: self.header[k]["data_offsets"][0])

    def offsets(self, name):
        return tuple(self.header[name]["data_offsets"])

    def head(self, header=None, text=None):
        """The 8-byte length and header bytes for `header` (a dict) or raw `text`."""
        if text is None:
            text = json.dumps(header if header is not None else self.header, separators=(",", ":"))
        body = text.encode()
        return struct.pack("<Q", len(body)) + body

    def copy(self):
        return json.loads(json.dumps(self.header), object_pairs_hook=dict)
