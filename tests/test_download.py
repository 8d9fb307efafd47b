"""cifar/data/download.py: the official archive downloaded into the cache folder whole and
checked, or not at all; the online check; and what a failure says.

Every URL here is on 127.0.0.1: a small valid archive served by http.server in a thread
(conftest.py's `archive_server`); the MD5 a test expects is worked out here with hashlib.
"""

from __future__ import annotations

import hashlib
import os
import time

import pytest

from cifar.data import DataError, Progress, cache, download

pytestmark = pytest.mark.usefixtures("nothing_reaches_the_internet")


def _files_in_cache() -> list[str]:
    folder = cache.cache_dir()
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


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


def test_the_archive_is_kept_in_the_cache_folder_under_its_official_name(tmp_path, monkeypatch):
    monkeypatch.setenv("CIFAR_CACHE_DIR", str(tmp_path / "elsewhere"))
    assert download.archive_path() == tmp_path / "elsewhere" / "cifar-10-python.tar.gz"


def test_without_url_and_checksum_the_download_reads_the_module_defaults_at_call_time(archive_server, monkeypatch):
    monkeypatch.setattr(download, "ARCHIVE_URL", archive_server.url)
    monkeypatch.setattr(download, "ARCHIVE_MD5", hashlib.md5(archive_server.body).hexdigest())
    assert download.download_archive().read_bytes() == archive_server.body


def test_a_checksum_in_capitals_is_the_same_checksum(archive_server):
    md5 = hashlib.md5(archive_server.body).hexdigest().upper()
    assert download.download_archive(url=archive_server.url, md5=md5).read_bytes() == archive_server.body


def test_a_server_that_sends_no_size_is_downloaded_whole_with_an_unknown_total(archive_server):
    archive_server.mode = "unsized"
    seen = []
    path = download.download_archive(
        seen.append, url=archive_server.url, md5=hashlib.md5(archive_server.body).hexdigest(), report_every_seconds=0
    )
    assert path.read_bytes() == archive_server.body
    assert seen and {p.total for p in seen} == {None} and seen[-1].done == len(archive_server.body)


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


def test_a_download_deletes_the_part_files_a_killed_download_left_but_not_a_fresh_one(archive_server):
    folder = cache.cache_dir()
    folder.mkdir(parents=True, exist_ok=True)
    stale, fresh = folder / ".cifar-10-python.tar.gz.old.part", folder / ".cifar-10-python.tar.gz.live.part"
    stale.write_bytes(b"half")
    fresh.write_bytes(b"half")
    two_hours_ago = time.time() - 2 * 3600
    os.utime(stale, (two_hours_ago, two_hours_ago))
    download.download_archive(url=archive_server.url, md5=archive_server.md5)
    assert not stale.exists(), "a part file two hours old belongs to a download that died"
    assert fresh.exists(), "a part file written just now may belong to a download under way"


def test_a_cache_folder_that_cannot_be_made_says_to_make_room_and_leaves_nothing(archive_server, tmp_path, monkeypatch):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    monkeypatch.setenv("CIFAR_CACHE_DIR", str(blocker / "cache"))
    with pytest.raises(DataError, match=r"Could not save the download in .*a-file/cache .*Make room for 163 MB"):
        download.download_archive(url=archive_server.url, md5=archive_server.md5)
    assert blocker.read_text() == "not a folder"


def test_unreachable_server_says_the_machine_seems_offline_and_what_to_do(closed_port_url):
    with pytest.raises(DataError) as caught:
        download.download_archive(url=closed_port_url)
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


def test_online_check_is_short_and_kept_for_a_minute(archive_server, closed_port_url):
    assert download.is_online(archive_server.url)
    assert not download.is_online(closed_port_url)
    archive_server.shutdown()
    archive_server.server_close()
    assert download.is_online(archive_server.url), "the answer is kept, not asked again at once"
    kept_at, _ = download._online_answers[archive_server.url]
    download._online_answers[archive_server.url] = (kept_at - download.ONLINE_KEPT_SECONDS, True)
    assert not download.is_online(archive_server.url), "after a minute it asks again"


def test_a_server_that_answers_with_an_error_is_still_online(archive_server):
    archive_server.mode = "missing"
    assert download.is_online(archive_server.url)


def test_the_offline_advice_names_the_official_page_and_the_cache_folder():
    advice = download.offline_advice()
    assert "https://www.cs.toronto.edu/~kriz/cifar.html" in advice and "163 MB" in advice
    assert str(cache.cache_dir()) in advice and "CIFAR10_DIR" in advice
