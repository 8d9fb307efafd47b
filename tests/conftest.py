from __future__ import annotations

import hashlib
import http.server
import os
import sys
import threading
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
# Read once, before the autouse fixture hides it from every test that does not ask for it.
REAL_CIFAR10_DIR = os.environ.get("CIFAR10_DIR")

from ci_skips import pytest_make_collect_report, pytest_runtest_makereport  # noqa: E402, F401  (hooks)
from synthetic import write_archive, write_batches, write_tree  # noqa: E402
from xdist_lanes import pytest_collection_modifyitems, pytest_xdist_make_scheduler  # noqa: E402, F401  (hooks)

from cifar.data.batches import find_folder  # noqa: E402
from cifar.data.image_tree import find_root  # noqa: E402


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
            "(scripts/test.sh does this from ../shared/data/cifar10-jpeg.tar.gz when it is there)"
        )
    found = Path(REAL_CIFAR10_DIR)
    if not found.is_dir() or not (find_root(found) or find_folder(found)):
        pytest.fail(
            f"CIFAR10_DIR={REAL_CIFAR10_DIR} holds no CIFAR-10 (neither image folders nor the Python batches): "
            "point it at an unpacked copy, or unset it (scripts/test.sh unpacks ../shared's archive)."
        )
    monkeypatch.setenv("CIFAR_CACHE_DIR", str(real_data_cache))
    return found


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


class _ArchiveHandler(http.server.BaseHTTPRequestHandler):
    """Serves the server's `body` whole, cut off halfway, without its size, or not at all."""

    def do_HEAD(self) -> None:
        if self.server.mode == "missing":
            self.send_error(404, "Not Found")
            return
        self._headers()

    def do_GET(self) -> None:
        if self.server.mode == "missing":
            self.send_error(404, "Not Found")
            return
        self._headers()
        body = self.server.body
        end = len(body) // 2 if self.server.mode == "drop" else len(body)
        for start in range(0, end, 16 << 10):  # in pieces, as a real line delivers it
            self.wfile.write(body[start : min(end, start + (16 << 10))])
            self.wfile.flush()
        # In "drop" mode the handler returns here and the server closes the connection, short.

    def _headers(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "application/gzip")
        if self.server.mode != "unsized":
            self.send_header("Content-Length", str(len(self.server.body)))
        self.end_headers()

    def log_message(self, *args) -> None:
        pass


@pytest.fixture(scope="session")
def served_archive(tmp_path_factory) -> bytes:
    return write_archive(tmp_path_factory.mktemp("served") / "cifar-10-python.tar.gz").read_bytes()


@pytest.fixture
def archive_server(served_archive):
    """A server on 127.0.0.1 with `url`, `md5`, `body` and `mode` ("whole", "drop", "unsized" or
    "missing")."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _ArchiveHandler)
    server.body, server.mode = served_archive, "whole"
    server.url = f"http://127.0.0.1:{server.server_address[1]}/cifar-10-python.tar.gz"
    server.md5 = hashlib.md5(served_archive).hexdigest()
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def _closed_port_url() -> str:
    from app_server import free_port

    return f"http://127.0.0.1:{free_port()}/cifar-10-python.tar.gz"  # nothing listens there now


@pytest.fixture
def closed_port_url() -> str:
    """An archive URL on a local port where nothing listens."""
    return _closed_port_url()


@pytest.fixture
def nothing_reaches_the_internet(monkeypatch, tmp_path):
    """Every default URL points at a closed local port, no proxy is asked, no Keras copy is found."""
    from cifar.data import download

    monkeypatch.setattr(download, "ARCHIVE_URL", _closed_port_url())
    monkeypatch.setattr(download, "_online_answers", {})
    for name in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras-home"))


@pytest.fixture
def fake_backend(monkeypatch):
    """A backend that starts nothing and records what it was asked (helpers.FakeBackend), known by its name."""
    from helpers import FakeBackend, registered

    return registered(monkeypatch, FakeBackend())
