"""A machine with no CIFAR-10 yet, as the loader and the pages see it: where `load_dataset`
looks, whether it decodes, and what the pages say and do.

The download itself is tested in test_download.py, each format's decoding in its module's file.
Every URL here is on 127.0.0.1: a small valid archive served by http.server in a thread
(conftest.py's `archive_server`).
"""

from __future__ import annotations

import pytest
from helpers import app_page, whole_app
from streamlit.testing.v1 import AppTest
from synthetic import write_archive, write_batches, write_tree

from cifar.data import cache, download, find_source, image_tree, load_dataset, needs_decoding, sources

pytestmark = pytest.mark.usefixtures("nothing_reaches_the_internet")


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


def test_load_uses_what_an_earlier_keras_download_left(tmp_path, monkeypatch):
    _keras_must_not_be_called(monkeypatch)
    folder = write_batches(tmp_path / "keras-home" / "datasets" / "cifar-10-batches-py-target" / "cifar-10-batches-py")
    assert load_dataset().source == str(folder.resolve())


def test_without_any_copy_only_keras_download_is_left(monkeypatch):
    assert find_source() is None and not needs_decoding()
    monkeypatch.setattr(sources, "from_keras", lambda: "keras")
    assert load_dataset() == "keras"


# Progress while decoding: each format's reports are tested in its module's file.


def test_a_cached_load_reports_nothing(tmp_path):
    root = write_tree(tmp_path / "tree", train=20, test=10)
    load_dataset(root)
    seen = []
    load_dataset(root, on_progress=seen.append)
    assert seen == []


# What the pages say.


@pytest.fixture
def fresh_page_cache():
    """The app's dataset cache emptied before and after: a test that loads data must not leak it."""
    from pages.shared import common

    common._dataset.clear()
    yield common
    common._dataset.clear()


def _texts(elements) -> list[str]:
    return [str(element.value) for element in elements if isinstance(getattr(element, "value", None), str)]


def _all_text(at: AppTest) -> str:
    return "\n".join(_texts(at.markdown) + _texts(at.error) + _texts(at.info) + _texts(at.caption))


def test_offline_page_says_where_to_put_the_archive(fresh_page_cache, monkeypatch):
    monkeypatch.setattr(download, "is_online", lambda: False)
    at = app_page("data").run()
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
    at = app_page("data").run()
    assert not at.exception
    assert at.button(key="download_cifar").label == "Download CIFAR-10 (163 MB)"
    text = _all_text(at)
    assert "offline" not in text and "--data" not in text
    assert "`<root>/train/<class>/*.png`" in text  # in the "copy you already have" expander


def test_download_button_downloads_decodes_and_shows_the_data(fresh_page_cache, archive_server, monkeypatch):
    monkeypatch.setattr(download, "is_online", lambda: True)
    monkeypatch.setattr(download, "ARCHIVE_URL", archive_server.url)
    monkeypatch.setattr(download, "ARCHIVE_MD5", archive_server.md5)
    at = app_page("data").run()
    at.button(key="download_cifar").click().run()
    assert not at.exception
    assert "200 training and 100 test images" in at.markdown[0].value
    assert download.archive_path().is_file() and not needs_decoding()


def test_failed_download_says_why_on_the_page_and_keeps_the_button(fresh_page_cache, archive_server, monkeypatch):
    monkeypatch.setattr(download, "is_online", lambda: True)
    monkeypatch.setattr(download, "ARCHIVE_URL", archive_server.url)
    monkeypatch.setattr(download, "ARCHIVE_MD5", "0" * 32)
    at = app_page("data").run()
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
    at = app_page("data").run()
    assert not at.exception
    assert reports == [100, 200, 300]
    assert "200 training and 100 test images" in at.markdown[0].value and not needs_decoding(root)


def test_entry_script_says_it_once_and_the_sidebar_briefly(fresh_page_cache, monkeypatch):
    monkeypatch.setattr(download, "is_online", lambda: False)
    at = whole_app().run()
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
    at = app_page("data").run()
    assert not at.exception
    assert len(at.error) == 1 and "CIFAR10_DIR is set to" in at.error[0].value
    assert "/\\_no\\_ such\\*dir" in at.error[0].value, "a path in a message is escaped, not read as Markdown"
    assert "--data" not in _all_text(at)


def test_train_page_without_data_still_runs(fresh_page_cache, monkeypatch):
    monkeypatch.setattr(download, "is_online", lambda: False)
    at = app_page("train").run()
    assert not at.exception
    assert "No CIFAR-10 data yet" in [header.value for header in at.subheader]


def test_sidebar_names_the_data_once_the_first_decode_is_done(fresh_page_cache, tmp_path, monkeypatch):
    monkeypatch.setenv("CIFAR10_DIR", str(write_tree(tmp_path / "tree", train=20, test=10)))
    at = whole_app().run()
    assert not at.exception
    assert _texts(at.sidebar.caption)[0].startswith("Data: 20 train and 10 test images from")
