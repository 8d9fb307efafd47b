"""A machine with no CIFAR-10 yet: the download, the first decode, and what the pages say.

Every URL here is on 127.0.0.1: a small valid archive served by http.server in a thread.
"""

from __future__ import annotations

import hashlib
import http.server
import socket
import threading
from collections.abc import Callable

import numpy as np
import pytest
from helpers import ROOT
from streamlit.testing.v1 import AppTest
from synthetic import write_archive, write_batches, write_tree

from cifar.data import (
    DataError,
    Progress,
    cache,
    download,
    find_source,
    image_tree,
    load_dataset,
    needs_decoding,
    sources,
)


class _ArchiveHandler(http.server.BaseHTTPRequestHandler):
    """Serves the server's `body` with its Content-Length, whole, cut off halfway, or not at all."""

    def do_HEAD(self) -> None:
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
        self.send_header("Content-Length", str(len(self.server.body)))
        self.end_headers()

    def log_message(self, *args) -> None:
        pass


@pytest.fixture(scope="session")
def served_archive(tmp_path_factory) -> bytes:
    return write_archive(tmp_path_factory.mktemp("served") / "cifar-10-python.tar.gz").read_bytes()


@pytest.fixture
def archive_server(served_archive):
    """A server on 127.0.0.1 with `url`, `md5`, `body` and `mode` ("whole", "drop" or "missing")."""
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
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}/cifar-10-python.tar.gz"  # nothing listens there now


@pytest.fixture(autouse=True)
def nothing_reaches_the_internet(monkeypatch, tmp_path):
    """Every default URL points at a closed local port, no proxy is asked, no Keras copy is found."""
    monkeypatch.setattr(download, "ARCHIVE_URL", _closed_port_url())
    monkeypatch.setattr(download, "_online_answers", {})
    for name in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras-home"))


def _files_in_cache() -> list[str]:
    folder = cache.cache_dir()
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


# The download.


def test_download_reports_progress_and_renames_into_place_at_the_end(archive_server):
    seen = []

    def record(progress: Progress) -> None:
        seen.append((progress.done, progress.total, download.archive_path().exists()))

    path = download.download_archive(record, url=archive_server.url, md5=archive_server.md5, report_every_seconds=0)
    size = len(archive_server.body)
    assert path == download.archive_path() and path.read_bytes() == archive_server.body
    assert len(seen) > 3, "a download of several chunks reports more than once"
    dones = [done for done, _, _ in seen]
    assert dones == sorted(set(dones)) and dones[-1] == size
    assert {total for _, total, _ in seen} == {size}
    assert not any(in_place for _, _, in_place in seen), "the archive appeared before it was whole and checked"
    assert _files_in_cache() == ["cifar-10-python.tar.gz"]


def test_wrong_checksum_leaves_nothing(archive_server):
    with pytest.raises(DataError) as caught:
        download.download_archive(url=archive_server.url, md5="0" * 32)
    message = str(caught.value)
    assert "not the official cifar-10-python.tar.gz" in message and "try the download again" in message
    assert archive_server.md5 in message
    assert _files_in_cache() == []


def test_connection_dropped_midway_leaves_nothing(archive_server):
    archive_server.mode = "drop"
    with pytest.raises(DataError, match=r"The download stopped after 0\.\d of 0\.\d MB") as caught:
        download.download_archive(url=archive_server.url, md5=archive_server.md5)
    assert "partial file was deleted" in str(caught.value)
    assert _files_in_cache() == []


def test_interrupted_download_leaves_nothing(archive_server):
    def leave_the_page(progress: Progress) -> None:
        if progress.done > 100_000:
            raise KeyboardInterrupt  # what a closed page or Ctrl-C raises inside the callback

    with pytest.raises(KeyboardInterrupt):
        download.download_archive(
            leave_the_page, url=archive_server.url, md5=archive_server.md5, report_every_seconds=0
        )
    assert _files_in_cache() == []


def test_unreachable_server_says_the_machine_seems_offline_and_what_to_do():
    with pytest.raises(DataError) as caught:
        download.download_archive(url=_closed_port_url())
    message = str(caught.value)
    assert "Could not reach 127.0.0.1" in message and "this machine seems to be offline" in message
    assert "cifar-10-python.tar.gz" in message and str(cache.cache_dir()) in message
    assert "CIFAR10_DIR" in message and "restart the app" in message
    assert "--data" not in message
    assert _files_in_cache() == []


def test_server_error_is_said_in_words(archive_server):
    archive_server.mode = "missing"
    with pytest.raises(DataError, match=r"127\.0\.0\.1 answered 404 Not Found\. Try again later\."):
        download.download_archive(url=archive_server.url)
    assert _files_in_cache() == []


def test_online_check_is_short_and_kept_for_a_minute(archive_server, monkeypatch):
    assert download.is_online(archive_server.url)
    assert not download.is_online(_closed_port_url())
    archive_server.shutdown()
    archive_server.server_close()
    assert download.is_online(archive_server.url), "the answer is kept, not asked again at once"
    kept_at, _ = download._online_answers[archive_server.url]
    download._online_answers[archive_server.url] = (kept_at - download.ONLINE_KEPT_SECONDS, True)
    assert not download.is_online(archive_server.url), "after a minute it asks again"


# Where load_dataset() looks.


def _keras_must_not_be_called(monkeypatch) -> None:
    def keras_download():
        raise AssertionError("Keras' download was asked for although a local copy is there")

    monkeypatch.setattr(sources, "from_keras", keras_download)


def test_load_uses_the_downloaded_archive_without_keras(tmp_path, monkeypatch):
    _keras_must_not_be_called(monkeypatch)
    cache.cache_dir().mkdir(parents=True, exist_ok=True)
    write_archive(download.archive_path())
    assert find_source() == download.archive_path().resolve()
    assert needs_decoding()
    dataset = load_dataset()
    assert dataset.source == str(download.archive_path().resolve()) and len(dataset.y_train) == 200
    assert not needs_decoding()


def test_environment_variable_comes_before_the_downloaded_archive(batches_dir, monkeypatch):
    cache.cache_dir().mkdir(parents=True, exist_ok=True)
    write_archive(download.archive_path())
    monkeypatch.setenv("CIFAR10_DIR", str(batches_dir))
    assert find_source() == batches_dir.resolve()


def test_load_uses_what_an_earlier_keras_download_left(tmp_path, monkeypatch):
    _keras_must_not_be_called(monkeypatch)
    folder = write_batches(tmp_path / "keras-home" / "datasets" / "cifar-10-batches-py-target" / "cifar-10-batches-py")
    assert load_dataset().source == str(folder.resolve())


def test_without_any_copy_only_keras_download_is_left(monkeypatch):
    assert find_source() is None and not needs_decoding()
    monkeypatch.setattr(sources, "from_keras", lambda: "keras")
    assert load_dataset() == "keras"


# Progress while decoding.


def _record() -> tuple[list[Progress], Callable[[Progress], None]]:
    seen: list[Progress] = []
    return seen, seen.append


def test_tree_decoding_reports_images_done_of_all_images(tmp_path, monkeypatch):
    root = write_tree(tmp_path / "tree", train=200, test=100)
    monkeypatch.setattr(image_tree, "REPORT_EVERY", 50)
    seen, record = _record()
    with_progress = load_dataset(root, on_progress=record)
    assert {p.total for p in seen} == {300} and {p.unit for p in seen} == {"images"}
    assert [p.done for p in seen] == [50, 100, 150, 200, 250, 300]
    assert seen[-1].describe() == "Decoding CIFAR-10: 300 of 300 images, done"
    monkeypatch.setenv("CIFAR_CACHE_DIR", str(tmp_path / "another-cache"))
    without = load_dataset(root)
    for name in ("x_train", "y_train", "x_test", "y_test"):
        np.testing.assert_array_equal(getattr(with_progress, name), getattr(without, name))
    assert with_progress.class_names == without.class_names


def test_a_tree_whose_count_is_not_a_multiple_still_ends_at_the_total(tmp_path, monkeypatch):
    root = write_tree(tmp_path / "tree", train=23, test=11)
    monkeypatch.setattr(image_tree, "REPORT_EVERY", 10)
    seen, record = _record()
    load_dataset(root, on_progress=record)
    assert [p.done for p in seen] == [10, 20, 30, 34] and seen[-1].total == 34


@pytest.mark.parametrize("form", ["archive", "folder"])
def test_batches_report_bytes_done_of_all_bytes(tmp_path, form):
    if form == "archive":
        source = write_archive(tmp_path / "cifar-10-python.tar.gz")
        total = source.stat().st_size
    else:
        source = write_batches(tmp_path / "cifar-10-batches-py")
        total = sum(p.stat().st_size for p in source.iterdir() if "batch_" in p.name or p.name == "test_batch")
    seen, record = _record()
    dataset = load_dataset(source, on_progress=record)
    assert seen and {p.total for p in seen} == {total} and seen[-1].done == total
    assert [p.done for p in seen] == sorted(p.done for p in seen)
    np.testing.assert_array_equal(dataset.x_test, load_dataset(source).x_test)


def test_a_cached_load_reports_nothing(tmp_path):
    root = write_tree(tmp_path / "tree", train=20, test=10)
    load_dataset(root)
    seen, record = _record()
    load_dataset(root, on_progress=record)
    assert seen == []


def test_progress_in_words():
    assert Progress("Decoding CIFAR-10", 12_000, 60_000, "images", 2.6).describe() == (
        "Decoding CIFAR-10: 12,000 of 60,000 images, about 10 s left"
    )
    mb = 1 << 20
    assert Progress("Downloading CIFAR-10", 40 * mb, 160 * mb, "bytes", 40.0).describe() == (
        "Downloading CIFAR-10: 40.0 of 160.0 MB, about 2 min left"
    )
    assert Progress("Downloading CIFAR-10", 1, 160 * mb, "bytes", 0.1).describe() == (
        "Downloading CIFAR-10: 0.0 of 160.0 MB"  # too early to tell the time left
    )
    assert Progress("Downloading CIFAR-10", 5 * mb, None, "bytes", 1.0).describe() == "Downloading CIFAR-10: 5.0 MB"


# What the pages say.


@pytest.fixture
def fresh_page_cache():
    """The app's dataset cache emptied before and after: a test that loads data must not leak it."""
    from pages.shared import common

    common._dataset.clear()
    yield common
    common._dataset.clear()


def _page(name: str) -> AppTest:
    return AppTest.from_file(str(ROOT / "pages" / f"{name}.py"), default_timeout=60)


def _texts(elements) -> list[str]:
    return [str(element.value) for element in elements if isinstance(getattr(element, "value", None), str)]


def _all_text(at: AppTest) -> str:
    return "\n".join(_texts(at.markdown) + _texts(at.error) + _texts(at.info) + _texts(at.caption))


def test_offline_page_says_where_to_put_the_archive(fresh_page_cache, monkeypatch):
    monkeypatch.setattr(download, "is_online", lambda: False)
    at = _page("data").run()
    assert not at.exception
    text = _all_text(at)
    assert [header.value for header in at.subheader] == ["No CIFAR-10 data yet"]
    assert not at.button, "offline, there is nothing to click"
    assert "seems to be offline" in text and "`cifar-10-python.tar.gz`" in text
    assert "https://www.cs.toronto.edu/~kriz/cifar.html" in text and f"`{cache.cache_dir()}`" in text
    assert "`CIFAR10_DIR`" in text and "restart the app" in text
    assert "`<root>/train/<class>/*.png`" in text, "the pattern must be code, or Markdown eats it"
    assert "--data" not in text and not at.error


def test_online_page_offers_the_download(fresh_page_cache, monkeypatch):
    monkeypatch.setattr(download, "is_online", lambda: True)
    at = _page("data").run()
    assert not at.exception
    assert at.button(key="download_cifar").label == "Download CIFAR-10 (163 MB)"
    text = _all_text(at)
    assert "offline" not in text and "--data" not in text
    assert "`<root>/train/<class>/*.png`" in text  # in the "copy you already have" expander


def test_download_button_downloads_decodes_and_shows_the_data(fresh_page_cache, archive_server, monkeypatch):
    monkeypatch.setattr(download, "is_online", lambda: True)
    monkeypatch.setattr(download, "ARCHIVE_URL", archive_server.url)
    monkeypatch.setattr(download, "ARCHIVE_MD5", archive_server.md5)
    at = _page("data").run()
    at.button(key="download_cifar").click().run()
    assert not at.exception
    assert "200 training and 100 test images" in at.markdown[0].value
    assert download.archive_path().is_file() and not needs_decoding()


def test_failed_download_says_why_on_the_page_and_keeps_the_button(fresh_page_cache, archive_server, monkeypatch):
    monkeypatch.setattr(download, "is_online", lambda: True)
    monkeypatch.setattr(download, "ARCHIVE_URL", archive_server.url)
    monkeypatch.setattr(download, "ARCHIVE_MD5", "0" * 32)
    at = _page("data").run()
    at.button(key="download_cifar").click().run()
    assert not at.exception
    assert len(at.error) == 1 and "not the official cifar-10-python.tar.gz" in at.error[0].value
    assert at.button(key="download_cifar") and not download.archive_path().exists()


def test_first_load_decodes_with_progress_then_reads_the_cache(fresh_page_cache, tmp_path, monkeypatch):
    root = write_tree(tmp_path / "tree", train=200, test=100)
    monkeypatch.setenv("CIFAR10_DIR", str(root))
    monkeypatch.setattr(image_tree, "REPORT_EVERY", 100)
    reports = []
    real_load = fresh_page_cache.load_dataset

    def load(source, on_progress=None):
        recorder = None if on_progress is None else (lambda p: reports.append(p.done) or on_progress(p))
        return real_load(source, on_progress=recorder)

    monkeypatch.setattr(fresh_page_cache, "load_dataset", load)
    at = _page("data").run()
    assert not at.exception
    assert reports == [100, 200, 300]
    assert "200 training and 100 test images" in at.markdown[0].value and not needs_decoding(root)


def test_entry_script_says_it_once_and_the_sidebar_briefly(fresh_page_cache, monkeypatch):
    monkeypatch.setattr(download, "is_online", lambda: False)
    at = AppTest.from_file(str(ROOT / "streamlit_app.py"), default_timeout=60).run()
    assert not at.exception
    assert _texts(at.sidebar.caption)[0] == "No CIFAR-10 data yet: the **Data** page says how to get it."
    sidebar_text = "\n".join(_texts(at.sidebar.markdown) + _texts(at.sidebar.error) + _texts(at.sidebar.caption))
    assert "CIFAR10_DIR" not in sidebar_text and not at.sidebar.error
    assert [header.value for header in at.subheader] == ["No CIFAR-10 data yet"]
    assert sum("seems to be offline" in text for text in _texts(at.markdown)) == 1


def test_a_wrong_cifar10_dir_is_named_without_flags(fresh_page_cache, tmp_path, monkeypatch):
    monkeypatch.setattr(download, "is_online", lambda: False)
    missing = tmp_path / "_no_ such*dir"
    monkeypatch.setenv("CIFAR10_DIR", str(missing))
    at = _page("data").run()
    assert not at.exception
    assert len(at.error) == 1 and "CIFAR10_DIR is set to" in at.error[0].value
    assert "/\\_no\\_ such\\*dir" in at.error[0].value, "a path in a message is escaped, not read as Markdown"
    assert "--data" not in _all_text(at)


def test_train_page_without_data_still_runs(fresh_page_cache, monkeypatch):
    monkeypatch.setattr(download, "is_online", lambda: False)
    at = _page("train").run()
    assert not at.exception
    assert "No CIFAR-10 data yet" in [header.value for header in at.subheader]


def test_sidebar_names_the_data_once_the_first_decode_is_done(fresh_page_cache, tmp_path, monkeypatch):
    monkeypatch.setenv("CIFAR10_DIR", str(write_tree(tmp_path / "tree", train=20, test=10)))
    at = AppTest.from_file(str(ROOT / "streamlit_app.py"), default_timeout=60).run()
    assert not at.exception
    assert _texts(at.sidebar.caption)[0].startswith("Data: 20 train and 10 test images from")
