"""`python -m cifar explain`: where a run's network looked in image files (Grad-CAM), as pictures."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from cifar.atomic import write_atomic
from cifar.errors import CifarError, ConfigError, os_errors_as
from cifar.runs.run import find_run
from cifar.study import explain, infer
from cifar.study.explain import overlay
from cifar.study.infer import centre_square

EXPLAIN_OUT = "gradcam"  # explain's folder for its pictures, in the current folder
PICTURE_SIDE = 256  # pixels a side of explain's pictures: a photo's centre shrunk, a small image enlarged
MAP_OPACITY = 0.5  # how much of explain's picture is the map rather than the image, 0 to 1


def add_explain_command(commands) -> None:
    explain = commands.add_parser(
        "explain",
        help="where a run's network looked in image files (Grad-CAM), as pictures",
        description=(
            "Grad-CAM for image files: where a run's network looked when it scored a class. Each image is "
            "prepared as `predict` prepares it. For each, DIR/<name>-gradcam.png is the image's centre "
            f"square (the part the model saw) at {PICTURE_SIDE}×{PICTURE_SIDE}, the map over it: red where "
            "the class's score rose most, blue where it did not rise. A flat map (no part of the layer raised "
            "the score) leaves the picture plain. Two images of one name get -2, -3 … before -gradcam. "
            "Exit codes: 0 every image explained, 1 an image could not be read, 2 bad arguments."
        ),
    )
    explain.add_argument("run", help="run id or run directory")
    explain.add_argument("images", nargs="+", metavar="IMAGE", help="PNG, JPEG, WebP, BMP or GIF files")
    explain.add_argument("--epoch", type=int, help="the network after this epoch (default: the last kept)")
    explain.add_argument(
        "--class", dest="class_name", metavar="NAME", help="explain this class (default: the predicted one)"
    )
    explain.add_argument(
        "--layer", metavar="NAME", help="the convolution layer to look at (default: the last; a wrong name lists them)"
    )
    explain.add_argument(
        "--out",
        metavar="DIR",
        default=EXPLAIN_OUT,
        help=f"where the pictures go (default: ./{EXPLAIN_OUT}, made if missing)",
    )
    explain.add_argument("--json", action="store_true", help="print JSON, with each 32×32 map as numbers in 0..1")
    explain.add_argument("--runs-dir", help="where runs live (default: $CIFAR_RUNS_DIR, else ./runs)")


def cmd_explain(args: argparse.Namespace) -> int:
    run = find_run(args.run, args.runs_dir)
    names = run.class_names()
    class_index = None if args.class_name is None else _class_index(args.class_name, names)
    kept = run.inside_epochs()
    epoch = kept[-1] if args.epoch is None and kept else args.epoch
    inspector = explain.Inspector(explain.open_epoch(run, epoch))
    layer = _cam_layer(args.layer, inspector)
    out = _out_folder(Path(args.out))
    taken = {Path(image).resolve() for image in args.images}  # an input is never written over
    results: list[dict[str, Any]] = []
    for image_path in args.images:
        try:
            prepared = infer.prepare_image(infer.read_image_file(Path(image_path)), image_path)
        except infer.ImageError as error:
            results.append({"file": image_path, "error": str(error)})
            continue
        png = _png_path(out, Path(image_path).stem, taken)
        result = _explain_image(inspector, prepared, names, class_index, layer, png)
        results.append({**result, "epoch": epoch})
    if args.json:
        print(json.dumps({"images": results}, indent=2))
    else:
        _print_explained(results)
    return 1 if any("error" in result for result in results) else 0


def _class_index(name: str, names: tuple[str, ...]) -> int:
    if name not in names:
        raise ConfigError(f"--class {name!r} is not one of this run's classes: {', '.join(names)}.")
    return names.index(name)


def _cam_layer(name: str | None, inspector) -> str:
    if name is None:
        return inspector.default_cam_layer
    if name not in inspector.cam_layers:
        raise ConfigError(
            f"--layer {name!r} is not a convolution layer of this network; it has {', '.join(inspector.cam_layers)} "
            f"(default: {inspector.default_cam_layer})."
        )
    return name


def _out_folder(out: Path) -> Path:
    if out.exists() and not out.is_dir():
        raise ConfigError(f"--out {out} is a file, not a folder; name a folder (it is made if missing).")
    with os_errors_as(CifarError, f"Could not make the folder {out}", "name a folder you can write to with --out"):
        out.mkdir(parents=True, exist_ok=True)
    return out


def _png_path(out: Path, stem: str, taken: set[Path]) -> Path:
    """`out/<stem>-gradcam.png`, or -2, -3 … before -gradcam when this call already wrote that
    name or it is one of the inputs. Our own name from an earlier call is written over."""
    number, suffix = 1, ""
    while (out / f"{stem}{suffix}-gradcam.png").resolve() in taken:
        number += 1
        suffix = f"-{number}"
    path = out / f"{stem}{suffix}-gradcam.png"
    taken.add(path.resolve())
    return path


def _explain_image(inspector, prepared, names: tuple[str, ...], class_index: int | None, layer: str, png: Path):
    """Grad-CAM of one prepared image, its picture written to `png`; the JSON answer for it."""
    import numpy as np

    probabilities = inspector.probabilities(prepared.pixels)[0]
    predicted = int(np.argmax(probabilities))
    cam = inspector.grad_cam(prepared.pixels, predicted if class_index is None else class_index, layer)
    _write_png(png, _picture(prepared, cam))
    return {
        "file": prepared.name,
        "predicted": names[predicted],
        "class": names[cam.class_index],
        "probabilities": {name: float(p) for name, p in zip(names, probabilities, strict=True)},
        "heatmap": np.round(cam.heatmap.astype(np.float64), 4).tolist(),
        "png": str(png),
        "layer": layer,
        "flat": cam.flat,
    }


def _picture(prepared, cam):
    """The image's centre square at PICTURE_SIDE pixels a side, the map over it unless it is flat."""
    import numpy as np
    from PIL import Image

    square = centre_square(prepared.original, largest=PICTURE_SIDE)
    if square.width < PICTURE_SIDE:  # a small image: every pixel a crisp block, as the dashboard enlarges
        square = square.resize((PICTURE_SIDE, PICTURE_SIDE), Image.Resampling.NEAREST)
    pixels = np.asarray(square)
    return pixels if cam.flat else overlay(pixels, cam.heatmap, MAP_OPACITY)


def _write_png(path: Path, pixels) -> None:
    from PIL import Image

    with os_errors_as(CifarError, f"Could not write {path}", "name a folder you can write to with --out"):
        write_atomic(path, lambda temporary: Image.fromarray(pixels).save(temporary, format="PNG"))


def _print_explained(results: list[dict[str, Any]]) -> None:
    for result in results:
        if "error" in result:
            print(f"error: {result['error']}", file=sys.stderr)  # the message starts with the file's name
            continue
        chance = result["probabilities"][result["predicted"]]
        if result["flat"]:
            seen = (
                f"the map is flat: no part of layer {result['layer']} raised the score of {result['class']}; "
                f"the plain image in {result['png']}"
            )
        else:
            seen = f"where it looked for {result['class']} on {result['layer']} in {result['png']}"
        print(f"{result['file']}: {result['predicted']} {chance:.1%}; {seen}")
