"""From image bytes to the 32×32 array the model sees, and to class probabilities.

The command line's `predict` and the dashboard's Classify page both go through
`prepare_image`, so a photo gets the same treatment wherever it is dropped: EXIF
orientation, RGB on white, centre crop to a square, resize to 32×32.

Uploads come from strangers. Before any decoder runs, a file is refused by its size and its
first bytes (PDF, SVG, HEIC, a pickle, a WebP canvas too large), and only five of Pillow's
decoders can be reached; the pixel count is checked before pixels are allocated. Nothing is
written to disk and nothing is unpickled.
"""

from __future__ import annotations

import io
import math
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from cifar.config.settings import ModelConfig
from cifar.errors import ImageError
from cifar.network.build import probabilities_as_tested

MAX_BYTES = 20 * 1024 * 1024  # an upload larger than this is refused before it is read
MAX_PIXELS = 50_000_000  # refused before decoding: a few-KB PNG can claim 30,000 × 30,000
MODEL_SIZE = 32
# A decoded image with more pixels than this is shrunk by a whole factor at once, before any
# conversion copies it. A 7000×7000 RGBA PNG (850 KB) peaked at 749 MB without this, 387 MB with it
# (peak RSS growth, Pillow 13): what is left is the decoded image and one premultiplied copy.
KEEP_PIXELS = 4_000_000
# The only decoders an upload ever reaches. Pillow knows dozens more (EPS hands the file to
# Ghostscript); none of them is needed for a photo, so none of them runs on what a stranger sent.
FORMATS = ("PNG", "JPEG", "WEBP", "BMP", "GIF")
# What the Classify page's file picker offers: the formats above, plus SVG and PDF so that their
# users are told how to make an image of them. HEIC stays out on purpose: Safari converts an
# iPhone's HEIC photo to JPEG when the page does not list HEIC.
UPLOAD_TYPES = ("png", "jpg", "jpeg", "webp", "bmp", "gif", "svg", "pdf")

_HEIF_BRANDS = {b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx", b"hevm", b"hevs", b"mif1", b"msf1"}
_AVIF_BRANDS = {b"avif", b"avis"}
_SIGNATURES = (b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff", b"GIF87a", b"GIF89a", b"BM")  # and WebP: RIFF....WEBP
# Bytes that occur in text files; anything else in the first few KB means binary (as `file` decides).
_TEXT_BYTES = bytes({7, 8, 9, 10, 12, 13, 27} | set(range(0x20, 0x100)) - {0x7F})


@dataclass(frozen=True)
class PreparedImage:
    name: str
    original: Image.Image  # upright RGB, as the user sees it
    pixels: np.ndarray  # (32, 32, 3) uint8, what the model sees


def read_image_file(path: Path) -> bytes:
    """A file's bytes for `prepare_image`, refused before reading when it is not a regular file
    or is over MAX_BYTES (read no further than that: it may grow meanwhile).

    Raises:
        ImageError: not a regular file, too large, or unreadable; the message starts with the path.
    """
    try:
        if path.exists() and not path.is_file():  # a folder, a device such as /dev/zero, a pipe
            raise ImageError(f"{path}: not a regular file.")
        size, data = path.stat().st_size, b""
        if size <= MAX_BYTES:
            with path.open("rb") as handle:
                data = handle.read(MAX_BYTES + 1)
            size = max(size, len(data))
        if size > MAX_BYTES:
            raise ImageError(f"{path}: {size / 2**20:.1f} MB is over the {MAX_BYTES // 2**20} MB limit.")
        return data
    except OSError as error:
        raise ImageError(f"{path}: cannot read the file ({error.strerror}).") from error


def prepare_image(data: bytes, name: str = "image") -> PreparedImage:
    """Decode `data` and turn it into the model's 32×32 RGB input.

    The size in pixels is checked before any pixel is decoded, and only the first frame of an
    animation is ever decoded, so memory stays bounded whatever the file claims.

    Args:
        data: the file's bytes.
        name: shown in error messages.

    Returns:
        The upright RGB image and the model's (32, 32, 3) uint8 input.

    Raises:
        ImageError: empty, too large, not an image this app reads, or damaged; the message
            starts with `name` and says what to do where there is something to do.
    """
    reason = _refusal(data)
    if reason:
        raise ImageError(f"{name}: {reason}")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            warnings.simplefilter("ignore", UserWarning)  # "Corrupt EXIF data" and such: nothing a user can act on
            image = Image.open(io.BytesIO(data), formats=FORMATS)  # reads the header only
            _check_pixels(image.size, name)
            if image.format in ("JPEG", "MPO"):
                image.draft("RGB", (MODEL_SIZE * 8, MODEL_SIZE * 8))  # libjpeg decodes at 1/2 to 1/8 size
            image.load()  # the first frame: later frames of an animation are never decoded
            image = ImageOps.exif_transpose(_shrink(image))
            rgb = _to_rgb(image)
    except ImageError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as error:
        # Pillow's own check, in Image.open: the file claims far more pixels than the limit.
        raise ImageError(f"{name}: over the {MAX_PIXELS // 1_000_000} megapixel limit; not decoded.") from error
    except UnidentifiedImageError as error:
        raise ImageError(f"{name}: {_unidentified(data)}") from error
    except MemoryError as error:
        raise ImageError(f"{name}: too large to decode in the memory available.") from error
    except Exception as error:  # malformed files make Pillow's parsers raise struct.error, IndexError, ...
        raise ImageError(f"{name}: the image is damaged or cut short ({_short(error)}).") from error
    return PreparedImage(name, rgb, to_model_input(rgb))


def _refusal(data: bytes) -> str | None:
    """Why `data` is refused before any decoder sees it, or None."""
    if not data:
        return "the file is empty."
    if len(data) > MAX_BYTES:
        return f"{len(data) / 2**20:.1f} MB is over the {MAX_BYTES // 2**20} MB limit."
    start = data[:4096]
    if start.startswith(b"%PDF-"):
        return "PDF is a document, not an image; export the page as PNG or JPEG and upload that."
    markup = start.lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    if markup.startswith(b"<") and b"<svg" in markup:
        return "SVG is a vector drawing, not a photo; export it as PNG and upload that."
    if start[4:8] == b"ftyp":  # an ISO media file: the brands say which kind
        brands = {start[i : i + 4] for i in range(8, min(int.from_bytes(start[:4], "big"), len(start)), 4)}
        if brands & _AVIF_BRANDS:
            return "AVIF cannot be read here; export it as JPEG or PNG and upload that."
        if brands & _HEIF_BRANDS:
            return (
                "HEIC/HEIF photos (an iPhone's default) cannot be read here; export it as JPEG and upload that "
                "(or set the iPhone's Settings › Camera › Formats to Most Compatible)."
            )
    if start[:1] == b"\x80" and start[1:2] in (b"\x02", b"\x03", b"\x04", b"\x05"):
        return "this is a Python pickle, not an image; pickles can run code, so this app never opens them."
    size = _webp_canvas(start)
    if size and size[0] * size[1] > MAX_PIXELS:
        return _too_many_pixels(size)
    return None


def _webp_canvas(start: bytes) -> tuple[int, int] | None:
    """The canvas a WebP header claims. libwebp allocates it when its decoder is created, before the
    size can be checked on the opened image, so it is checked here, first."""
    if start[:4] != b"RIFF" or start[8:12] != b"WEBP" or len(start) < 30:
        return None
    chunk = start[12:16]
    if chunk == b"VP8X":
        return int.from_bytes(start[24:27], "little") + 1, int.from_bytes(start[27:30], "little") + 1
    if chunk == b"VP8L" and start[20] == 0x2F:
        bits = int.from_bytes(start[21:25], "little")
        return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
    if chunk == b"VP8 ":
        return int.from_bytes(start[26:28], "little") & 0x3FFF, int.from_bytes(start[28:30], "little") & 0x3FFF
    return None


def _shrink(image: Image.Image) -> Image.Image:
    factor = math.ceil(math.sqrt(image.width * image.height / KEEP_PIXELS))
    if factor < 2 or image.mode not in ("L", "LA", "RGB", "RGBA", "CMYK", "I", "F"):
        return image  # palettes, 1-bit and 16-bit cannot be averaged as they are; they are rarely large
    return image.reduce(factor)


def _check_pixels(size: tuple[int, int], name: str) -> None:
    if size[0] * size[1] > MAX_PIXELS:
        raise ImageError(f"{name}: {_too_many_pixels(size)}")


def _too_many_pixels(size: tuple[int, int]) -> str:
    return f"{size[0]}×{size[1]} pixels is over the {MAX_PIXELS // 1_000_000} megapixel limit; not decoded."


def _unidentified(data: bytes) -> str:
    if not data[:4096].translate(None, _TEXT_BYTES):
        return "this is text, not an image."
    if data.startswith(_SIGNATURES) or (data[:4] == b"RIFF" and data[8:12] == b"WEBP"):
        return "the image is damaged or cut short (its header cannot be read)."
    return "not a PNG, JPEG, WebP, BMP or GIF image."


def centre_square(image: Image.Image, largest: int | None = None) -> Image.Image:
    """The image's centre square, the part the model sees; shrunk to `largest` pixels a side if given."""
    side = min(image.size)
    left, top = (image.width - side) // 2, (image.height - side) // 2
    square = image.crop((left, top, left + side, top + side))
    if largest and side > largest:
        square = square.resize((largest, largest), Image.Resampling.LANCZOS)
    return square


def to_model_input(image: Image.Image) -> np.ndarray:
    """Centre-crop to a square and resize to 32×32; uint8 (32, 32, 3)."""
    square = centre_square(image)
    small = square.resize((MODEL_SIZE, MODEL_SIZE), Image.Resampling.LANCZOS, reducing_gap=3.0)
    return np.asarray(small, dtype=np.uint8)


def _to_rgb(image: Image.Image) -> Image.Image:
    if image.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        # 16-bit and float greyscale: scale to 8 bits instead of clipping everything to white.
        array = np.asarray(image, dtype=np.float32)
        high = max(float(array.max()), 1.0)
        image = Image.fromarray(np.clip(array / high * 255, 0, 255).astype(np.uint8), "L")
    if image.mode == "P" or "transparency" in image.info:
        image = image.convert("RGBA")  # a palette or a colour key marks transparent pixels: they go white too
    if image.mode in ("RGBA", "LA", "PA"):
        background = Image.new("RGBA", image.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, image.convert("RGBA")).convert("RGB")
    return image.convert("RGB")


def _short(error: BaseException) -> str:
    return str(error).splitlines()[0][:120] if str(error) else type(error).__name__


def predict(model, pixels: np.ndarray, config: ModelConfig | None = None) -> np.ndarray:
    """Class probabilities for uint8 images (N, 32, 32, 3) or one image (32, 32, 3).

    Given the run's `config`, answered as the run was tested (with a test-time flip, the mean
    of the answers for each image and its mirror image).
    """
    batch = pixels[np.newaxis] if pixels.ndim == 3 else pixels
    probabilities = probabilities_as_tested(
        lambda images: model(images, training=False), batch, config or ModelConfig()
    )
    return probabilities[0] if pixels.ndim == 3 else probabilities


def top_classes(probabilities: np.ndarray, class_names: tuple[str, ...], k: int = 3) -> list[tuple[str, float]]:
    """The `k` most probable classes with their probabilities, most probable first."""
    order = np.argsort(-probabilities, kind="stable")[:k]
    return [(class_names[i], float(probabilities[i])) for i in order]
