#!/usr/bin/env bash
# The GPU figures that compare with benchmarks/RESULTS.md's CPU ones, in one script that a
# machine with an NVIDIA GPU runs in under 10 minutes (about 6 on one H200-class GPU, most of
# it the one-time install of TensorFlow's CUDA libraries).
#
#   benchmarks/gpu.sh            (from the repository, with ../shared/data beside it or
#                                 CIFAR10_DIR set)
#
# It prints: the GPUs TensorFlow sees; the tutorial's bare epoch at batch 10 (images/s and
# seconds, and so its 10-epoch budget); the `best` preset as `python -m cifar train` runs it
# there (mixed_float16 on its own, a MirroredStrategy over two GPUs or more), with its images/s,
# the time from launch to 0.80 and its final accuracy. It writes the same JSON as the CPU run
# (benchmarks/results/best.json) and copies it to benchmarks/results/best-gpu.json.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v nvidia-smi >/dev/null 2>&1 || ! nvidia-smi -L >/dev/null 2>&1; then
  echo "gpu.sh: no NVIDIA GPU here (nvidia-smi finds none); run it on a machine with one." >&2
  exit 2
fi
nvidia-smi -L

# The project's environment plus TensorFlow's CUDA libraries (pip packages, no system CUDA).
scripts/setup.sh
version=$(.venv/bin/python -c "import tensorflow as tf; print(tf.__version__)")
.venv/bin/python -m pip install --quiet "tensorflow[and-cuda]==$version"

if [ -z "${CIFAR10_DIR:-}" ]; then
  archive="../shared/data/cifar10-jpeg.tar.gz"
  if [ ! -f "$archive" ]; then
    echo "gpu.sh: no data: set CIFAR10_DIR, or put $archive beside the repository." >&2
    exit 2
  fi
  data_dir=$(mktemp -d)
  trap 'rm -rf "$data_dir"' EXIT
  tar -xzf "$archive" -C "$data_dir"
  export CIFAR10_DIR="$data_dir/cifar10-jpeg"
  export CIFAR_CACHE_DIR="$data_dir/cache"
fi

.venv/bin/python - <<'PY'
import tensorflow as tf
gpus = tf.config.list_physical_devices("GPU")
print(f"TensorFlow {tf.__version__} sees {len(gpus)} GPU(s): {[d.name for d in gpus]}")
if not gpus:
    raise SystemExit("gpu.sh: TensorFlow sees no GPU (its CUDA libraries did not load); nothing to measure.")
PY

.venv/bin/python benchmarks/bench_best.py --repeats 1 --target 0.80
cp benchmarks/results/best.json benchmarks/results/best-gpu.json
.venv/bin/python - <<'PY'
import json
r = json.load(open("benchmarks/results/best-gpu.json"))["results"]
run, tutorial = r["runs"][0], r["tutorial_epochs"][0]
print()
print(f"machine:                   {run['machine']} ({run['precision']})")
print(f"tutorial epoch, batch 10:  {tutorial['epoch_seconds']:.1f} s, {tutorial['steady_images_per_second']:.0f} images/s")
print(f"tutorial's 10 epochs:      {r['tutorial_ten_epochs_seconds'][0]:.0f} s")
print(f"best, whole process:       {run['seconds']:.0f} s, {run['images_per_second_median']:.0f} images/s, "
      f"test accuracy {run['accuracy']:.4f}")
print(f"best, launch to 0.80:      {run['seconds_to_target']} s")
print(f"ratio best / tutorial:     {r['ratio_median']}")
PY
