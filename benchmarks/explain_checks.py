"""Deletion and sanity figures for Grad-CAM on trained runs (the README's "Is the map true?").

    .venv/bin/python benchmarks/explain_checks.py RUN [RUN ...] [--images 200] [--runs-dir DIR]

For each run, on the first `--images` test images of the data the run was tested on
(`CIFAR10_DIR`): the deletion test (Petsiuk et al. 2018) greys 10, 20, 30 and 40% of the
pixels, ranked by the image's own map, then by the map of an image of another predicted class,
and reports the mean fall of the explained class's probability; the sanity check (Adebayo et
al. 2018) reports the mean rank correlation with the maps of the same network re-initialised at
random. Not timed: these are properties of the maps, not of the machine.
"""

from __future__ import annotations

import argparse
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from common import save

from cifar.data import load_dataset
from cifar.network.build import build_model
from cifar.runs.run import find_run
from cifar.study.explain import Inspector, open_epoch
from cifar.study.faithfulness import deletion, sanity


def check(run_text: str, images: int, runs_dir: str | None) -> dict:
    import keras

    run = find_run(run_text, runs_dir)
    data = load_dataset(run.written_status().data_path)
    sample = data.x_test[:images]
    trained = Inspector(open_epoch(run))
    keras.utils.set_random_seed(12345)  # a re-initialisation unlike the run's own seed
    randomised = Inspector(build_model(run.config()))
    result = deletion(trained, sample)
    return {
        "run": run.id,
        "config": run.config().to_dict(),
        "test_accuracy": run.history()["val_accuracy"][-1],
        "images": result.images,
        "deletion_own_map": round(result.own, 4),
        "deletion_other_map": round(result.other, 4),
        "deletion_ratio": round(result.own / result.other, 2) if result.other > 0 else None,
        "deletion_by_share": [
            {"share": share, "own_map": round(own, 4), "other_map": round(other, 4)}
            for share, own, other in result.by_share
        ],
        "sanity_rank_correlation": round(sanity(trained, randomised, sample), 4),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", metavar="RUN")
    parser.add_argument("--images", type=int, default=200)
    parser.add_argument("--runs-dir")
    args = parser.parse_args()
    results = [check(run, args.images, args.runs_dir) for run in args.runs]
    save("explain_checks", " ".join(["benchmarks/explain_checks.py", *sys.argv[1:]]), {"runs": results})


if __name__ == "__main__":
    main()
