"""Hostile uploads through every way in: `prepare_image`, the Classify page (AppTest), and
`python -m cifar predict`. Each file gets a prediction or a message that names it and says why;
nothing is written to disk, nothing is unpickled, and a decompression bomb costs no memory.
"""

from __future__ import annotations

import os
import pickle
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from helpers import ROOT, app_page, run_cli
from hostile_files import UNPICKLED_MARKER, HostileFile, by_name, encode, hostile_files
from PIL import Image, ImageFile, WebPImagePlugin
from streamlit.testing.v1 import AppTest

from cifar.errors import ImageError
from cifar.study.infer import UPLOAD_TYPES, prepare_image

HOSTILE = hostile_files()
BOMBS = ["bomb.png", "tiny-screen.gif", "claims-big.webp"]


@pytest.fixture(autouse=True)
def no_marker_before_and_after():
    """The pickle among the hostile files creates UNPICKLED_MARKER if anything ever unpickles it."""
    UNPICKLED_MARKER.unlink(missing_ok=True)
    yield
    assert not UNPICKLED_MARKER.exists(), "an uploaded pickle was unpickled"


@pytest.fixture
def with_run(batches_dir, finished_run, runs_dir, monkeypatch):
    monkeypatch.setenv("CIFAR10_DIR", str(batches_dir))
    run = finished_run
    shutil.copytree(run.path, runs_dir / run.id)
    return run


def classify_page() -> AppTest:
    return app_page("classify", timeout=180)


def mime(name: str) -> str:
    return {".jpg": "image/jpeg", ".svg": "image/svg+xml", ".pdf": "application/pdf"}.get(
        Path(name).suffix, f"image/{Path(name).suffix[1:]}"
    )


def assert_refused(error: ImageError, hostile: HostileFile) -> None:
    message = str(error)
    assert message.startswith(f"{hostile.name}: "), message
    assert hostile.refusal in message, message


@pytest.mark.parametrize("hostile", HOSTILE, ids=[h.name for h in HOSTILE])
def test_prepare_image_answers_or_names_the_file_and_the_reason(hostile: HostileFile):
    if hostile.refusal:
        with pytest.raises(ImageError) as refused:
            prepare_image(hostile.data, hostile.name)
        assert_refused(refused.value, hostile)
    else:
        prepared = prepare_image(hostile.data, hostile.name)
        assert prepared.pixels.shape == (32, 32, 3) and prepared.pixels.dtype == np.uint8
        assert prepared.original.mode == "RGB"
        hostile.check(prepared)


@pytest.mark.parametrize("name", BOMBS)
def test_a_bomb_is_refused_before_any_pixel_is_allocated(name, monkeypatch):
    """No pixel memory, no decoding, no WebP canvas: the size is refused from the header."""
    calls = []

    def record(what):
        def called(*args, **kwargs):
            calls.append(what)
            raise RuntimeError(f"{what} was called")

        return called

    monkeypatch.setattr(Image.core, "new", record("Image.core.new"))  # where Pillow allocates pixels
    monkeypatch.setattr(Image.core, "fill", record("Image.core.fill"))
    monkeypatch.setattr(ImageFile.ImageFile, "load", record("ImageFile.load"))
    monkeypatch.setattr(WebPImagePlugin._webp, "WebPAnimDecoder", record("WebPAnimDecoder"))
    hostile = by_name(name)
    with pytest.raises(ImageError) as refused:
        prepare_image(hostile.data, hostile.name)
    assert calls == []
    assert_refused(refused.value, hostile)
    with pytest.raises(ImageError):  # the control: the same watch does see a real decode
        prepare_image(by_name("dot.png").data, "dot.png")
    assert calls


# Peak RSS from /proc, not getrusage: ru_maxrss survives fork and exec, so a child of pytest starts
# with pytest's own peak (hundreds of MB) and a bomb would hide under it. Writing 5 to clear_refs
# starts the peak (VmHWM) again from the current RSS.
MEASURE = """
import re, sys
from cifar.errors import ImageError
from cifar.study.infer import prepare_image

def kilobytes(field):
    return int(re.search(field + r":\\s+(\\d+) kB", open("/proc/self/status").read()).group(1))

data = open(sys.argv[1], "rb").read()
with open("/proc/self/clear_refs", "w") as clear:
    clear.write("5")
before = kilobytes("VmRSS")
try:
    prepare_image(data, sys.argv[1])
except ImageError as error:
    print(error, file=sys.stderr)
print(kilobytes("VmHWM") - before)
"""


def peak_growth_mb(path: Path) -> float:
    """How much `prepare_image` on the file raises peak RSS over Python with PIL and numpy loaded."""
    if not Path("/proc/self/clear_refs").exists():
        pytest.skip("needs Linux's /proc/self/clear_refs to measure peak memory")
    result = subprocess.run(
        [sys.executable, "-c", MEASURE, str(path)], capture_output=True, text=True, timeout=120, cwd=ROOT
    )
    assert result.returncode == 0, result.stderr
    return int(result.stdout) / 1024


BOMB_GROWTH_MB = 10  # what no decode costs, with room for the allocator; a decode is tens of MB at least


@pytest.mark.parametrize("name", BOMBS)
def test_a_bomb_costs_no_memory(name, tmp_path):
    """Peak memory grows by less than 10 MB (0–4 MB measured, the README's figure); decoded,
    bomb.png alone would take 900 MB at one byte a pixel, and the control below sees 49 MB."""
    path = tmp_path / name
    path.write_bytes(by_name(name).data)
    growth = peak_growth_mb(path)
    print(f"{name}: peak RSS grew {growth:.1f} MB")
    assert growth < BOMB_GROWTH_MB, f"{name}: peak RSS grew {growth:.0f} MB"


def test_the_memory_measure_sees_a_real_decode(tmp_path):
    """The control for the test above: a 7000 × 7000 greyscale PNG (49 MB decoded) is seen."""
    path = tmp_path / "just-under-the-limit.png"
    Image.new("L", (7000, 7000), 90).save(path, compress_level=1)
    growth = peak_growth_mb(path)
    print(f"{path.name}: peak RSS grew {growth:.1f} MB")
    assert growth > 45


def test_random_damage_gives_a_message_never_a_crash():
    """Thousands of files with a few bytes changed: each is answered or refused with ImageError."""
    rng = np.random.default_rng(7)
    noise = Image.fromarray(rng.integers(0, 255, (40, 56, 3), dtype=np.uint8))
    exif = Image.Exif()
    exif[0x0112] = 6
    seeds = [encode(noise, kind) for kind in ("PNG", "GIF", "BMP", "WEBP")]
    seeds += [encode(noise, "JPEG", exif=exif), encode(noise, "JPEG", progressive=True)]
    seeds += [hostile.data for hostile in HOSTILE if hostile.refusal is None]
    outcomes = {"answered": 0, "refused": 0}
    for index in range(3000):
        data = bytearray(seeds[index % len(seeds)])
        reach = min(len(data), 200) if index % 3 else len(data)  # headers most often: sizes, modes, counts
        for position in rng.integers(0, reach, size=rng.integers(1, 4)):
            data[position] = rng.integers(0, 256)
        try:
            prepared = prepare_image(bytes(data), f"damaged-{index}.png")
        except ImageError as error:
            assert str(error).startswith(f"damaged-{index}.png: ")
            outcomes["refused"] += 1
        else:
            assert prepared.pixels.shape == (32, 32, 3)
            outcomes["answered"] += 1
    assert min(outcomes.values()) > 100, outcomes  # both kinds happened: the damage was real


def upload_value(files: list[HostileFile]) -> list[tuple[str, bytes, str]]:
    return [(hostile.name, hostile.data, mime(hostile.name)) for hostile in files]


def test_the_classify_page_takes_every_hostile_file_at_once(with_run):
    """One upload of every file that the picker lets in: each good one answered, each bad one an error."""
    offered = [h for h in HOSTILE if Path(h.name).suffix[1:].lower() in UPLOAD_TYPES]
    assert [h.name for h in HOSTILE if h not in offered] == ["IMG_4031.heic"]  # kept out by the picker
    at = classify_page().run()
    at.file_uploader(key="uploads").set_value(upload_value(offered)).run()
    assert not at.exception
    answers = [markdown.value for markdown in at.markdown if "looks like a" in markdown.value]
    errors = [error.value for error in at.error]
    good = [h for h in offered if h.refusal is None]
    bad = [h for h in offered if h.refusal]
    assert len(answers) == len(good) and len(errors) == len(bad)
    for hostile in good:
        assert any(answer.startswith(f"**{hostile.name}**: looks like a") for answer in answers), hostile.name
    for hostile in bad:
        (message,) = [error for error in errors if error.startswith(f"{hostile.name}: ")]
        assert hostile.refusal in message, message

    # The page still works: a new upload of one good file gets its answer.
    at.file_uploader(key="uploads").set_value(upload_value([by_name("photo.webp")])).run()
    assert not at.exception and not at.error
    assert any("**photo.webp**: looks like a" in markdown.value for markdown in at.markdown)


def test_predict_on_the_command_line_answers_each_file(finished_run, tmp_path):
    """One call with every hostile file and three things that are not files; exit status 1."""
    run = finished_run
    paths = {}
    for hostile in HOSTILE:
        paths[hostile.name] = tmp_path / hostile.name
        paths[hostile.name].write_bytes(hostile.data)
    (tmp_path / "folder.png").mkdir()
    others = {"/dev/zero": "not a regular file", str(tmp_path / "folder.png"): "not a regular file"}
    others[str(tmp_path / "missing.png")] = "cannot read the file (No such file or directory)"
    result = run_cli("predict", str(run.path), *map(str, paths.values()), *others)
    assert result.returncode == 1, result.stderr
    answers = result.stdout.splitlines()
    errors = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert len(answers) == sum(h.refusal is None for h in HOSTILE)
    assert len(errors) == sum(bool(h.refusal) for h in HOSTILE) + len(others)
    for hostile in HOSTILE:
        path = paths[hostile.name]
        if hostile.refusal is None:
            (line,) = [line for line in answers if line.startswith(f"{path}: ")]
            assert line.count("%") == 3  # the top three classes with their probabilities
        else:
            (line,) = [line for line in errors if line.startswith(f"error: {path}: ")]
            assert hostile.refusal in line, line
    for path, reason in others.items():
        (line,) = [line for line in errors if line.startswith(f"error: {path}: ")]
        assert reason in line, line


def listing(folder: Path) -> set[str]:
    found = set()
    for parent, folders, files in os.walk(folder):
        folders[:] = [name for name in folders if name not in (".git", ".venv", "node_modules")]
        found.update(os.path.relpath(os.path.join(parent, name), folder) for name in folders + files)
    return found


def test_uploads_are_never_written_to_disk_nor_unpickled(with_run, runs_dir, tmp_path, monkeypatch):
    """Names that climb out of the folder or look like a pickle: nothing appears anywhere, and a
    pickle that would create a file when unpickled is refused as a pickle, never opened."""
    canary = by_name("weights.png").data  # creates UNPICKLED_MARKER if unpickled
    photo = encode(Image.new("RGB", (50, 40), (200, 30, 30)), "PNG")
    uploads = [("../../evil.png", photo), ("../../evil-pickle.png", canary), ("x.pkl.png", canary)]
    cwd = tmp_path / "a" / "b" / "cwd"
    cwd.mkdir(parents=True)
    monkeypatch.chdir(cwd)
    watched = [runs_dir, cwd, tmp_path, ROOT]
    before = {folder: listing(folder) for folder in watched}

    at = classify_page().run()
    at.file_uploader(key="uploads").set_value([(name, data, "image/png") for name, data in uploads]).run()
    assert not at.exception
    assert any("**../../evil.png**: looks like a" in markdown.value for markdown in at.markdown)
    assert [error.value.split(":")[0] for error in at.error] == ["../../evil-pickle.png", "x.pkl.png"]
    assert all("Python pickle" in error.value for error in at.error)

    # A name the picker does not offer never reaches the page's code: Streamlit refuses it itself
    # (a browser does not even send it).
    at = classify_page().run()
    at.file_uploader(key="uploads").set_value([("x.pkl", canary, "application/octet-stream")]).run()
    assert "Invalid file extension: `.pkl`" in at.exception[0].message and not at.error

    # The same bytes from the command line, under a .pkl name.
    (tmp_path / "x.pkl").write_bytes(canary)
    result = run_cli("predict", str(with_run.path), str(tmp_path / "x.pkl"))
    assert result.returncode == 1 and "Python pickle" in result.stderr
    (tmp_path / "x.pkl").unlink()

    after = {folder: listing(folder) for folder in watched}
    assert after[runs_dir] == before[runs_dir] and after[cwd] == before[cwd] == set()
    assert after[tmp_path] == before[tmp_path]
    new_in_repo = after[ROOT] - before[ROOT]
    assert not [path for path in new_in_repo if "evil" in path or "pkl" in path], new_in_repo
    for name, _ in uploads:
        assert not (cwd / name).exists()


def test_the_pickle_among_the_hostile_files_is_a_real_threat():
    """Unpickled, it creates the marker: so the marker's absence after every test above means something."""
    pickle.loads(by_name("weights.png").data)  # the one place anything is unpickled, on purpose
    assert UNPICKLED_MARKER.exists()
    UNPICKLED_MARKER.unlink()
