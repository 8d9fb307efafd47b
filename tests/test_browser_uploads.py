"""Hostile uploads through the real Classify page: Chromium drops them on `streamlit run`.

A decompression bomb, text named .png, an SVG, an empty file, a truncated JPEG and PNG and a
good photo go up together; each gets its answer or its message, and the page answers the next
upload as usual. An iPhone's .heic never
leaves the browser: the file picker does not take it, and says so.
"""

from __future__ import annotations

import shutil
import urllib.request

import pytest
from browser_fixtures import page_fixture, server_fixture, settle  # noqa: F401 (fixtures page and server)
from helpers import ROOT
from hostile_files import HostileFile, by_name, encode
from PIL import Image

pytestmark = pytest.mark.slow  # a real browser against a real server

SHOTS = ROOT / "test-output" / "screenshots"
MIME = {".png": "image/png", ".jpg": "image/jpeg", ".svg": "image/svg+xml", ".heic": "image/heic"}


def as_upload(hostile: HostileFile) -> dict:
    return {"name": hostile.name, "mimeType": MIME[hostile.name[hostile.name.rindex(".") :]], "buffer": hostile.data}


def alert(page, name: str):
    return page.locator("[data-testid='stAlert']").filter(has_text=f"{name}: ")


def test_hostile_files_in_one_drop_then_a_good_one(server, page, finished_run, runs_dir):
    run = finished_run
    shutil.copytree(run.path, runs_dir / run.id)
    page.goto(f"{server}/classify?run={run.id}")
    picker = page.locator("input[type='file']")
    picker.wait_for(state="attached")
    settle(page)

    names = ("bomb.png", "notes.png", "drawing.svg", "empty.png", "cut.jpg", "cut.png", "photo.jpg")
    hostile = [by_name(name) for name in names]
    assert not by_name("empty.png").data and by_name("cut.jpg").data[:3] == b"\xff\xd8\xff"
    assert by_name("cut.png").data[:8] == b"\x89PNG\r\n\x1a\n"
    picker.set_input_files(files=[as_upload(file) for file in hostile])
    page.get_by_text("photo.jpg: looks like a").wait_for()  # the good file of the same drop is answered
    for file in hostile:
        if file.refusal:
            alert(page, file.name).wait_for()
            said = alert(page, file.name).all_inner_texts()
            assert len(said) == 1 and said[0].startswith(f"{file.name}: ") and file.refusal in said[0], said
    assert "the file is empty" in alert(page, "empty.png").inner_text()
    assert "damaged or cut short" in alert(page, "cut.jpg").inner_text()
    assert "damaged or cut short" in alert(page, "cut.png").inner_text()
    settle(page)
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / "classify-hostile.png"), full_page=True)

    # The iPhone's own file: the picker marks it refused, in the browser, and says why.
    picker.set_input_files(files=[as_upload(by_name("IMG_4031.heic"))])
    chip = page.locator("[data-testid='stFileChip'][aria-invalid='true']").filter(has_text="IMG_4031.heic")
    chip.wait_for()
    assert "image/heic files are not allowed" in chip.get_by_role("alert").text_content()

    # The page still works: a new photo gets its answer, the server is healthy, nothing crashed.
    photo = encode(Image.new("RGB", (90, 60), (220, 180, 20)), "PNG")
    picker.set_input_files(files=[{"name": "again.png", "mimeType": "image/png", "buffer": photo}])
    page.get_by_text("again.png: looks like a").wait_for()
    settle(page)
    page.screenshot(path=str(SHOTS / "classify-hostile-after.png"), full_page=True)
    assert page.locator("[data-testid='stException']").count() == 0
    assert urllib.request.urlopen(f"{server}/_stcore/health", timeout=10).status == 200
