from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from cifar.errors import ImageError
from cifar.study.infer import KEEP_PIXELS, prepare_image, to_model_input, top_classes


def encode(image: Image.Image, fmt: str, **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **options)
    return buffer.getvalue()


def test_png_to_32x32_rgb():
    prepared = prepare_image(encode(Image.new("RGB", (100, 60), (200, 10, 10)), "PNG"), "red.png")
    assert prepared.pixels.shape == (32, 32, 3) and prepared.pixels.dtype == np.uint8
    assert prepared.pixels[16, 16].tolist() == [200, 10, 10]
    assert prepared.original.size == (100, 60)


def test_centre_crop_keeps_the_middle():
    image = Image.new("RGB", (300, 100), (0, 0, 255))
    image.paste((255, 0, 0), (100, 0, 200, 100))  # the centre square is red, the sides blue
    pixels = to_model_input(image)
    assert (pixels[:, :, 0] > 250).all() and (pixels[:, :, 2] < 5).all()


def test_exif_rotation_is_applied():
    image = Image.new("RGB", (80, 40), (0, 255, 0))
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90° clockwise to display
    prepared = prepare_image(encode(image, "JPEG", exif=exif), "phone.jpg")
    assert prepared.original.size == (40, 80)


def test_transparency_goes_on_white():
    image = Image.new("RGBA", (32, 32), (0, 0, 0, 0))
    assert prepare_image(encode(image, "PNG"), "clear.png").pixels.min() == 255


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"", "the file is empty."),
        (b"hello, I am text", "this is text, not an image."),
        (b"\x89PNG\r\n\x1a\n" + b"\0" * 30, "the image is damaged or cut short (its header cannot be read)."),
    ],
)
def test_bad_bytes_name_the_file(data, reason):
    with pytest.raises(ImageError) as refused:
        prepare_image(data, "upload.png")
    assert str(refused.value) == f"upload.png: {reason}"


def test_truncated_jpeg_is_refused():
    data = encode(Image.new("RGB", (64, 64), "white"), "JPEG")
    with pytest.raises(ImageError, match="damaged or cut short"):
        prepare_image(data[: len(data) // 2], "half.jpg")


def test_top_classes_order():
    assert top_classes(np.array([0.1, 0.7, 0.2]), ("a", "b", "c"), k=2) == [
        ("b", pytest.approx(0.7)),
        ("c", pytest.approx(0.2)),
    ]


def test_a_colour_key_marks_transparency_too():
    image = Image.new("RGB", (32, 32), (0, 0, 0))
    image.paste((0, 0, 255), (0, 16, 32, 32))
    prepared = prepare_image(encode(image, "PNG", transparency=(0, 0, 0)), "keyed.png")
    assert prepared.original.getpixel((16, 4)) == (255, 255, 255)
    assert prepared.original.getpixel((16, 28)) == (0, 0, 255)


def test_a_big_image_is_shrunk_at_once_and_still_turned_upright():
    """Over KEEP_PIXELS: reduced by a whole factor right after decoding, EXIF orientation kept."""
    image = Image.new("RGB", (3000, 1500), (255, 0, 0))
    image.paste((0, 0, 255), (1500, 0, 3000, 1500))
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90° clockwise to display: the red left half goes on top
    prepared = prepare_image(encode(image, "PNG", exif=exif), "big.png")
    assert KEEP_PIXELS < 3000 * 1500 and prepared.original.size == (750, 1500)
    assert prepared.original.getpixel((375, 100)) == (255, 0, 0)
    assert prepared.original.getpixel((375, 1400)) == (0, 0, 255)
