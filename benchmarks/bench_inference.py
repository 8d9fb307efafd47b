"""Benchmark 4: from uploaded bytes to probabilities, one image and a batch of 64, and
predictions per second over a test set of 10,000 images.

    .venv/bin/python benchmarks/bench_inference.py [--repeats 200]

The app's path (`cifar.study.infer.prepare_image` then `cifar.study.infer.predict`, a direct model call)
runs side by side with Keras' `model.predict` on the same pixels, the reference. The model is
the tutorial's, untrained: inference costs the same whatever the weights.
"""

from __future__ import annotations

import argparse
import io
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np
from common import median, percentile, save, timed
from PIL import Image

from cifar.config.settings import ModelConfig
from cifar.data import aligned
from cifar.network.build import VALIDATION_BATCH_SIZE, build_model
from cifar.study.infer import predict, prepare_image
from cifar.training.fit import shared_tensor


def photo_bytes(width: int, height: int, seed: int, kind: str = "JPEG") -> bytes:
    """A photo-like image: smooth gradients plus noise, so JPEG has real work to do."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width]
    base = np.stack([x / width * 255, y / height * 255, (x + y) / (width + height) * 255], axis=-1)
    pixels = np.clip(base + rng.normal(0, 20, base.shape), 0, 255).astype(np.uint8)
    buffer = io.BytesIO()
    options = {"quality": 90} if kind == "JPEG" else {}
    Image.fromarray(pixels).save(buffer, kind, **options)
    return buffer.getvalue()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=200)
    args = parser.parse_args()

    model = build_model(ModelConfig())
    uploads = {
        "phone photo 4032×3024 JPEG": photo_bytes(4032, 3024, 0),
        "photo 1024×768 JPEG": photo_bytes(1024, 768, 1),
        "32×32 PNG": photo_bytes(32, 32, 2, "PNG"),
    }
    pixels = prepare_image(uploads["photo 1024×768 JPEG"]).pixels
    for _ in range(5):  # warm up both paths: graph tracing and oneDNN kernels
        predict(model, pixels)
        model.predict(pixels[None], verbose=0)

    results: dict[str, dict] = {}
    for name, data in uploads.items():
        repeats = max(10, args.repeats // 10) if "4032" in name else args.repeats
        whole = timed(lambda data=data: predict(model, prepare_image(data).pixels), repeats)
        decode = timed(lambda data=data: prepare_image(data), repeats)
        results[f"one image, {name}"] = {
            "repeats": repeats,
            "median_ms": round(median(whole) * 1000, 2),
            "p95_ms": round(percentile(whole, 0.95) * 1000, 2),
            "of_which_decode_median_ms": round(median(decode) * 1000, 2),
        }
    app_model = timed(lambda: predict(model, pixels), args.repeats)
    keras_predict = timed(lambda: model.predict(pixels[None], verbose=0), args.repeats)
    results["model only, one image"] = {
        "app_median_ms": round(median(app_model) * 1000, 2),
        "keras_predict_median_ms": round(median(keras_predict) * 1000, 2),
        "ratio_keras_to_app": round(median(keras_predict) / median(app_model), 2),
    }

    batch = [photo_bytes(1024, 768, seed) for seed in range(64)]
    batch_times = timed(lambda: predict(model, np.stack([prepare_image(b).pixels for b in batch])), 10)
    results["batch of 64 photos 1024×768"] = {
        "median_ms": round(median(batch_times) * 1000, 1),
        "per_image_ms": round(median(batch_times) * 1000 / 64, 2),
    }

    # The trainer's validation pass (a shared tensor at its batch), and numpy at batch 500 as before.
    test = aligned(np.random.default_rng(0).integers(0, 256, (10_000, 32, 32, 3), dtype=np.uint8))
    passes = {
        f"test set, 10,000 images, the trainer's way (batch {VALIDATION_BATCH_SIZE})": (
            lambda: model.predict(shared_tensor(test), batch_size=VALIDATION_BATCH_SIZE, verbose=0)
        ),
        "test set, 10,000 images, numpy at batch 500": lambda: model.predict(test, batch_size=500, verbose=0),
    }
    for name, run in passes.items():
        seconds = median(timed(run, 5))
        results[name] = {"median_s": round(seconds, 2), "images_per_second": round(10_000 / seconds)}
    save("inference", f"python benchmarks/bench_inference.py --repeats {args.repeats}", results)


if __name__ == "__main__":
    main()
