from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
# Read once, before the autouse fixture hides it from every test that does not ask for it.
REAL_CIFAR10_DIR = os.environ.get("CIFAR10_DIR")

from synthetic import write_batches, write_tree  # noqa: E402


@pytest.fixture(autouse=True)
def isolated_env(tmp_path_factory, monkeypatch):
    """No test reads the user's cache or runs, or the real data unless it asks for it."""
    monkeypatch.setenv("CIFAR_CACHE_DIR", str(tmp_path_factory.mktemp("cache")))
    monkeypatch.setenv("CIFAR_RUNS_DIR", str(tmp_path_factory.mktemp("runs")))
    monkeypatch.setenv("PYTHONPATH", str(ROOT))
    monkeypatch.delenv("CIFAR10_DIR", raising=False)


@pytest.fixture(scope="session")
def real_data_cache(tmp_path_factory) -> Path:
    """One decoded cache of the real data for the whole session: decoding its 60,000 JPEGs once."""
    return tmp_path_factory.mktemp("real-data-cache")


@pytest.fixture
def real_data_dir(real_data_cache, monkeypatch) -> Path:
    """The real CIFAR-10 (CIFAR10_DIR), decoded once for every test that asks; the test is
    skipped, saying why, when it is not set."""
    if not REAL_CIFAR10_DIR:
        pytest.skip(
            "real CIFAR-10 not available: set CIFAR10_DIR to an unpacked copy "
            "(.ci/run does this from ../shared/data/cifar10-jpeg.tar.gz)"
        )
    monkeypatch.setenv("CIFAR_CACHE_DIR", str(real_data_cache))
    return Path(REAL_CIFAR10_DIR)


@pytest.fixture(scope="session")
def batches_dir(tmp_path_factory) -> Path:
    return write_batches(tmp_path_factory.mktemp("batches") / "cifar-10-batches-py")


@pytest.fixture(scope="session")
def long_batches_dir(tmp_path_factory) -> Path:
    """`batches_dir`'s 100 test images with 50,000 training images, as many as CIFAR-10's: 500
    epochs of the tiny network on it take hours here, so a test that needs a training running
    meanwhile never finds it ended, however fast the machine. Runs on it and on `batches_dir`
    are tested on the same images."""
    return write_batches(tmp_path_factory.mktemp("long-batches") / "cifar-10-batches-py", train=50_000)


@pytest.fixture(scope="session")
def tree_dir(tmp_path_factory) -> Path:
    return write_tree(tmp_path_factory.mktemp("tree") / "cifar10")


@pytest.fixture
def runs_dir() -> Path:
    return Path(os.environ["CIFAR_RUNS_DIR"])


@pytest.fixture(scope="session")
def finished_run(batches_dir, tmp_path_factory):
    """One finished two-epoch run on the synthetic batches, made through the command line."""
    from helpers import train_run

    return train_run(batches_dir, tmp_path_factory.mktemp("finished-runs"))
