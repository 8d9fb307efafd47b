"""Hostile uploads, made in memory: each is a real file of its kind, with what a user should get back.

Every case is either a prediction (with a check that the image was read the right way up, in
the right colours) or a refusal whose message names the file and gives a specific reason.
Used by tests/test_uploads.py and tests/test_browser_uploads.py; nothing here touches the disk.
"""

from __future__ import annotations

import functools
import io
import pickle
import struct
import tempfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from cifar.study.infer import MAX_BYTES, PreparedImage

# If anything ever unpickles the pickle below, this file appears: the tests check that it never does.
UNPICKLED_MARKER = Path(tempfile.gettempdir()) / "cifar-lab-an-upload-was-unpickled"


@dataclass(frozen=True)
class HostileFile:
    name: str  # the file name it is uploaded under
    data: bytes
    refusal: str | None  # a phrase the refusal must contain; None when a prediction is expected
    check: Callable[[PreparedImage], None] | None = None  # what a sensible prediction looks like


def encode(image: Image.Image, fmt: str, **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **options)
    return buffer.getvalue()


def png_chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def png_bomb(width: int = 30_000, height: int = 30_000) -> bytes:
    """A valid 1-bit greyscale PNG of `width` × `height` black pixels: about 110 KB for 30,000²."""
    header = png_chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0))
    compressor = zlib.compressobj(9)
    row = bytes(1 + (width + 7) // 8)  # filter byte 0, then the packed bits of one row
    data = b"".join(compressor.compress(row) for _ in range(height)) + compressor.flush()
    return b"\x89PNG\r\n\x1a\n" + header + png_chunk(b"IDAT", data) + png_chunk(b"IEND", b"")


def gif_with_oversized_frame(width: int = 10_000, height: int = 6_000) -> bytes:
    """A GIF whose screen is 10×10 but whose first frame claims `width` × `height`.

    Pillow grows the image to the frame when it opens the file, so only a check after opening
    and before decoding catches it.
    """
    screen = b"GIF89a" + struct.pack("<HHBBB", 10, 10, 0x80, 0, 0) + b"\0\0\0\xff\xff\xff"
    frame = b"," + struct.pack("<HHHHB", 0, 0, width, height, 0)
    pixels = b"\x02" + b"\x01\x2c" + b"\x00"  # LZW code size 2: a clear code, then end of data
    return screen + frame + pixels + b";"


def webp_claiming(width: int = 8_000, height: int = 8_000) -> bytes:
    """A small lossless WebP whose header is patched to claim `width` × `height`.

    libwebp's animation decoder, which Pillow uses for every WebP, allocates the whole canvas
    as soon as it is created, before any pixel is decoded.
    """
    data = bytearray(encode(Image.new("RGB", (16, 16), (10, 200, 10)), "WEBP", lossless=True))
    assert data[12:16] == b"VP8L" and data[20] == 0x2F
    bits = struct.unpack("<I", data[21:25])[0]
    bits = (bits & ~((1 << 28) - 1)) | (width - 1) | ((height - 1) << 14)
    data[21:25] = struct.pack("<I", bits)
    return bytes(data)


def minimal_pdf() -> bytes:
    """A real one-page PDF with a correct cross-reference table."""
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 200 200] /Contents 4 0 R >>",
        b"<< /Length 35 >>\nstream\n1 0 0 rg 50 50 100 100 re f\nendstream",
    ]
    body = b"%PDF-1.4\n"
    offsets = []
    for number, content in enumerate(objects, 1):
        offsets.append(len(body))
        body += f"{number} 0 obj\n".encode() + content + b"\nendobj\n"
    xref = len(body)
    body += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
    body += b"".join(f"{offset:010d} 00000 n \n".encode() for offset in offsets)
    body += f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode()
    return body


def heic_like() -> bytes:
    """The start of an iPhone HEIC: an ISO-BMFF `ftyp` box with brand heic, then a `meta` box.

    Pillow cannot write HEIC, and the app must refuse it by its first bytes anyway.
    """
    ftyp = struct.pack(">I", 24) + b"ftyp" + b"heic" + b"\0\0\0\0" + b"mif1heic"
    meta = struct.pack(">I", 40) + b"meta" + bytes(32)
    return ftyp + meta + bytes(2000)


class _OpensAFile:
    """Unpickling this runs `open(UNPICKLED_MARKER, "w")`: what a malicious pickle would do."""

    def __reduce__(self):
        return (open, (str(UNPICKLED_MARKER), "w"))


def _rgb_at(prepared: PreparedImage, x: int, y: int) -> np.ndarray:
    return np.asarray(prepared.original.getpixel((x, y)), dtype=int)


def _near(actual, expected, tolerance: int = 40) -> bool:
    return bool(np.abs(np.asarray(actual, dtype=int) - np.asarray(expected, dtype=int)).max() <= tolerance)


def _check_dot(prepared: PreparedImage) -> None:
    assert prepared.original.size == (1, 1)
    assert (prepared.pixels == (0, 128, 0)).all()


def _check_strip(prepared: PreparedImage) -> None:
    assert prepared.original.size == (10_000, 10)
    assert (prepared.pixels == (0, 200, 0)).all()  # the centre square, green; the rest is blue


def _check_first_frame(prepared: PreparedImage) -> None:
    assert (prepared.pixels == (255, 0, 0)).all()  # frame 1 is red, frame 2 blue


def _check_sixteen_bit(prepared: PreparedImage) -> None:
    grey = prepared.pixels[:, :, 0].astype(int)
    assert grey.min() < 64 and grey.max() > 190  # the gradient survives: not clipped to white
    assert (np.diff(grey.mean(axis=0)) >= 0).all()  # dark on the left, light on the right


def _check_cmyk(prepared: PreparedImage) -> None:
    assert _near(prepared.pixels[16, 16], (255, 0, 0))


def _check_palette_transparency(prepared: PreparedImage) -> None:
    assert _near(_rgb_at(prepared, 16, 4), (255, 255, 255), 0)  # the transparent top: white
    assert _near(_rgb_at(prepared, 16, 28), (0, 0, 255), 0)


def _check_grey_alpha(prepared: PreparedImage) -> None:
    assert _near(_rgb_at(prepared, 16, 4), (255, 255, 255), 0)  # the transparent top: white
    assert _near(_rgb_at(prepared, 16, 28), (100, 100, 100), 0)


def _check_rotated(prepared: PreparedImage) -> None:
    assert prepared.original.size == (40, 80)  # stored 80×40; EXIF says turn it 90° clockwise
    assert _near(_rgb_at(prepared, 20, 10), (255, 0, 0))  # the stored left half, now on top
    assert _near(_rgb_at(prepared, 20, 70), (0, 0, 255))


def _check_photo(prepared: PreparedImage) -> None:
    assert prepared.pixels.shape == (32, 32, 3)


def _animated_gif() -> bytes:
    frames = [Image.new("RGB", (48, 48), colour) for colour in ((255, 0, 0), (0, 0, 255))]
    return encode(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=100, loop=0)


def _sixteen_bit_png() -> bytes:
    gradient = np.tile(np.linspace(0, 65_535, 64, dtype=np.uint16), (64, 1))
    image = Image.fromarray(gradient)
    assert image.mode == "I;16"
    return encode(image, "PNG")


def _palette_png_with_transparency() -> bytes:
    image = Image.new("P", (32, 32), 0)
    image.putpalette([0, 0, 0, 0, 0, 255])  # index 0 black (made transparent), index 1 blue
    image.paste(1, (0, 16, 32, 32))
    return encode(image, "PNG", transparency=0)


def _grey_with_alpha() -> bytes:
    image = Image.new("LA", (32, 32), (0, 0))
    image.paste((100, 255), (0, 16, 32, 32))
    return encode(image, "PNG")


def _exif_rotated_jpeg() -> bytes:
    image = Image.new("RGB", (80, 40), (255, 0, 0))
    image.paste((0, 0, 255), (40, 0, 80, 40))
    exif = Image.Exif()
    exif[0x0112] = 6  # orientation: rotate 90° clockwise to display
    return encode(image, "JPEG", exif=exif, quality=95)


def _strip() -> bytes:
    image = Image.new("RGB", (10_000, 10), (0, 0, 255))
    image.paste((0, 200, 0), (4995, 0, 5005, 10))
    return encode(image, "PNG")


def _noise_png() -> bytes:
    noise = np.random.default_rng(0).integers(0, 255, (64, 64, 3), dtype=np.uint8)
    return encode(Image.fromarray(noise), "PNG")


def _over_the_size_limit() -> bytes:
    """An uncompressed BMP just over MAX_BYTES: a real image, with few enough pixels to decode."""
    side = int((MAX_BYTES / 3) ** 0.5) + 16
    data = encode(Image.new("RGB", (side, side), (90, 90, 90)), "BMP")
    assert len(data) > MAX_BYTES
    return data


SVG = b"""<?xml version="1.0" encoding="UTF-8"?>
<svg xmlns="http://www.w3.org/2000/svg" width="64" height="64" viewBox="0 0 64 64">
  <circle cx="32" cy="32" r="24" fill="red"/>
</svg>
"""


@functools.cache
def hostile_files() -> tuple[HostileFile, ...]:
    """Every hostile case, built once: the good photo first, then the rest in the issue's order."""
    jpeg = encode(Image.new("RGB", (64, 64), (30, 90, 200)), "JPEG")
    return (
        HostileFile("photo.jpg", jpeg, None, _check_photo),
        HostileFile("empty.png", b"", "the file is empty"),
        HostileFile("notes.png", b"Shopping list:\n- eggs\n- flour\n", "text, not an image"),
        HostileFile("cut.jpg", jpeg[: len(jpeg) // 2], "damaged or cut short"),
        HostileFile("cut.png", _noise_png()[:5000], "damaged or cut short"),
        HostileFile("bomb.png", png_bomb(), "over the 50 megapixel limit"),
        HostileFile("dot.png", encode(Image.new("RGB", (1, 1), (0, 128, 0)), "PNG"), None, _check_dot),
        HostileFile("strip.png", _strip(), None, _check_strip),
        HostileFile("blink.gif", _animated_gif(), None, _check_first_frame),
        HostileFile("depth16.png", _sixteen_bit_png(), None, _check_sixteen_bit),
        HostileFile("print.jpg", encode(Image.new("CMYK", (64, 64), (0, 255, 255, 0)), "JPEG"), None, _check_cmyk),
        HostileFile("palette.png", _palette_png_with_transparency(), None, _check_palette_transparency),
        HostileFile("grey-alpha.png", _grey_with_alpha(), None, _check_grey_alpha),
        HostileFile("phone.jpg", _exif_rotated_jpeg(), None, _check_rotated),
        HostileFile("drawing.svg", SVG, "SVG is a vector drawing"),
        HostileFile("scan.pdf", minimal_pdf(), "PDF is a document"),
        HostileFile("IMG_4031.heic", heic_like(), "HEIC"),  # the page's picker leaves .heic out, see UPLOAD_TYPES
        HostileFile("IMG_4032.jpg", heic_like(), "HEIC"),  # so on the page: the same photo renamed
        HostileFile("big.bmp", _over_the_size_limit(), "over the 20 MB limit"),
        # Beyond the list: the other ways to claim pixels before decoding, other formats.
        HostileFile("tiny-screen.gif", gif_with_oversized_frame(), "over the 50 megapixel limit"),
        HostileFile("claims-big.webp", webp_claiming(), "over the 50 megapixel limit"),
        HostileFile("weights.png", pickle.dumps(_OpensAFile()), "pickle"),
        HostileFile("scan.png", encode(Image.new("RGB", (16, 16)), "TIFF"), "not a PNG, JPEG, WebP, BMP or GIF"),
        HostileFile("photo.webp", encode(Image.new("RGB", (40, 30), (10, 200, 10)), "WEBP"), None, _check_photo),
    )


def by_name(name: str) -> HostileFile:
    return next(hostile for hostile in hostile_files() if hostile.name == name)
