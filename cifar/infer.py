"""From image bytes to the 32×32 array the model sees, and to class probabilities.

The command line's `predict` and the dashboard's Classify page both go through
`prepare_image`, so a photo gets the same treatment wherever it is dropped: EXIF
orientation, RGB on white, centre crop to a square, resize to 32×32.
"""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

MAX_BYTES = 20 * 1024 * 1024  # an upload larger than this is refused before it is read
MAX_PIXELS = 50_000_000  # refused before decoding: a few-KB PNG can claim 30,000 × 30,000
MODEL_SIZE = 32


class ImageError(ValueError):
    """An image that cannot be used; the message names the file and says why."""


@dataclass(frozen=True)
class PreparedImage:
    name: str
    original: Image.Image  # upright RGB, as the user sees it
    pixels: np.ndarray  # (32, 32, 3) uint8, what the model sees


def prepare_image(data: bytes, name: str = "image") -> PreparedImage:
    """Decode `data` and turn it into the model's 32×32 RGB input.

    Args:
        data: the file's bytes.
        name: shown in error messages.

    Raises:
        ImageError: empty, too large, not an image, or damaged.
    """
    if not data:
        raise ImageError(f"{name}: the file is empty.")
    if len(data) > MAX_BYTES:
        raise ImageError(f"{name}: {len(data) / 2**20:.1f} MB is over the {MAX_BYTES // 2**20} MB limit.")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data))
            width, height = image.size
            if width * height > MAX_PIXELS:
                raise ImageError(
                    f"{name}: {width}×{height} pixels is over the {MAX_PIXELS // 1_000_000} megapixel limit."
                )
            if image.format == "JPEG":
                image.draft("RGB", (MODEL_SIZE * 8, MODEL_SIZE * 8))  # decode at reduced size: fast
            image.seek(0)  # the first frame of an animation
            image.load()
            image = ImageOps.exif_transpose(image)
            rgb = _to_rgb(image)
    except ImageError:
        raise
    except (UnidentifiedImageError, Image.DecompressionBombError, Image.DecompressionBombWarning) as error:
        raise ImageError(f"{name}: not an image this app can read ({_short(error)}).") from error
    except (OSError, SyntaxError, ValueError, EOFError) as error:
        raise ImageError(f"{name}: the image is damaged or cut short ({_short(error)}).") from error
    return PreparedImage(name, rgb, to_model_input(rgb))


def to_model_input(image: Image.Image) -> np.ndarray:
    """Centre-crop to a square and resize to 32×32; uint8 (32, 32, 3)."""
    side = min(image.size)
    left, top = (image.width - side) // 2, (image.height - side) // 2
    square = image.crop((left, top, left + side, top + side))
    small = square.resize((MODEL_SIZE, MODEL_SIZE), Image.Resampling.LANCZOS, reducing_gap=3.0)
    return np.asarray(small, dtype=np.uint8)


def _to_rgb(image: Image.Image) -> Image.Image:
    if image.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        # 16-bit and float greyscale: scale to 8 bits instead of clipping everything to white.
        array = np.asarray(image, dtype=np.float64)
        high = array.max() or 1.0
        image = Image.fromarray((array / high * 255).astype(np.uint8), "L")
    if image.mode == "P":
        image = image.convert("RGBA")
    if image.mode in ("RGBA", "LA", "PA"):
        background = Image.new("RGBA", image.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, image.convert("RGBA")).convert("RGB")
    return image.convert("RGB")


def _short(error: BaseException) -> str:
    return str(error).splitlines()[0][:120] if str(error) else type(error).__name__


def predict(model, pixels: np.ndarray) -> np.ndarray:
    """Class probabilities for uint8 images (N, 32, 32, 3) or one image (32, 32, 3)."""
    batch = pixels[np.newaxis] if pixels.ndim == 3 else pixels
    probabilities = np.asarray(model(batch, training=False))
    return probabilities[0] if pixels.ndim == 3 else probabilities


def top_classes(probabilities: np.ndarray, class_names: tuple[str, ...], k: int = 3) -> list[tuple[str, float]]:
    """The `k` most probable classes with their probabilities, most probable first."""
    order = np.argsort(-probabilities, kind="stable")[:k]
    return [(class_names[i], float(probabilities[i])) for i in order]
