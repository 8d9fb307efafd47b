#!/usr/bin/env bash
# Set everything up, then lint and run the whole test suite (extra arguments go to pytest).
# The real CIFAR-10 is used when CIFAR10_DIR names it, else ../shared's archive, unpacked once.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh requirements-dev.txt
export TF_CPP_MIN_LOG_LEVEL="${TF_CPP_MIN_LOG_LEVEL:-2}"
if [ -z "${CIFAR10_DIR:-}" ]; then
  if CIFAR10_DIR=$(scripts/shared_data.sh); then
    export CIFAR10_DIR
    echo "test: the real CIFAR-10 from $CIFAR10_DIR"
  else
    unset CIFAR10_DIR
    echo "test: no real CIFAR-10 (no ../shared/data/cifar10-jpeg.tar.gz, CIFAR10_DIR unset): its tests skip, and fail in CI"
  fi
fi
.venv/bin/ruff check .
.venv/bin/ruff format --check .
# Two workers (TEST_WORKERS; 0 runs in this process), each taking whole test files, so that a
# module's shared fixtures are made once, in the order tests/conftest.py gives them (the slow
# files first). Arguments after these win (-n 0 for one at a time).
exec .venv/bin/python -m pytest -n "${TEST_WORKERS:-2}" --dist loadfile --no-loadscope-reorder "$@"
