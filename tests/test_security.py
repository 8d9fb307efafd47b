"""Hostile input: run ids and file names that try to leave the runs folder, model files that
carry code, the upload limits, and where the server listens.

Reads are watched with a Python audit hook (PEP 578): every `open`, `os.listdir` and
`os.scandir` anywhere in this process, AppTest's script thread included, is checked against a
real run made outside the runs folder. The hook is tested on a read it must catch.
"""

from __future__ import annotations

import contextlib
import io
import os
import re
import shutil
import socket
import subprocess
import sys
import threading
import tomllib
import urllib.error
import urllib.request
import zipfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from helpers import ROOT, TINY, wait_until
from PIL import Image
from streamlit.testing.v1 import AppTest

from cifar.errors import ImageError, RunError
from cifar.infer import MAX_BYTES, prepare_image
from cifar.layout import RunFiles
from cifar.runs import Run, list_runs, open_run, open_run_dir
from cifar.status import read_status, write_status

OUTSIDE_ID = "29990101-000000-outside-beef"  # sorts newest: a listing that let it in would show it first
LINKED_ID = "29991231-000000-linked-beef"  # a link inside the runs folder to the run outside it
PAGES = re.findall(r'st\.Page\("(pages/\w+\.py)"', (ROOT / "streamlit_app.py").read_text())
QUIET_PAGES = {"pages/data.py"}  # pages that never read the selected run, so have nothing to warn about


# --- watching every file this process opens -----------------------------------------------------

_watched: list[tuple[str, list[str]]] = []  # (folder prefix, paths read under it) while watched
_inside_hook = threading.local()


def _audit(event: str, args: tuple) -> None:
    if not _watched or event not in ("open", "os.listdir", "os.scandir") or getattr(_inside_hook, "busy", False):
        return
    target = args[0] if args else None
    if not isinstance(target, str | bytes | os.PathLike):
        return  # an open file descriptor: it was checked when it was opened
    _inside_hook.busy = True  # realpath reads links, which must not re-enter the hook
    try:
        real = os.path.realpath(os.fsdecode(target))
        for prefix, hits in list(_watched):
            if (real + os.sep).startswith(prefix):
                hits.append(real)
    finally:
        _inside_hook.busy = False


sys.addaudithook(_audit)  # cannot be removed; costs nothing while nothing is watched


@contextlib.contextmanager
def reads_under(folder: Path) -> Iterator[list[str]]:
    """Collect the path of every file or folder read below `folder` (links followed)."""
    hits: list[str] = []
    entry = (os.path.realpath(folder) + os.sep, hits)
    _watched.append(entry)
    try:
        yield hits
    finally:
        _watched.remove(entry)


# --- runs inside and outside the runs folder ----------------------------------------------------


@pytest.fixture
def with_data(batches_dir, monkeypatch):
    monkeypatch.setenv("CIFAR10_DIR", str(batches_dir))


@pytest.fixture
def inside(finished_run, runs_dir) -> Run:
    _, run = finished_run
    return open_run_dir(shutil.copytree(run.path, runs_dir / run.id))


@pytest.fixture
def outside(finished_run, runs_dir, tmp_path) -> Path:
    """A real, complete run in a folder beside the runs folder, and a link to it from inside."""
    _, run = finished_run
    elsewhere = shutil.copytree(run.path, tmp_path / "elsewhere" / OUTSIDE_ID)
    files = RunFiles(elsewhere)
    write_status(files.status, read_status(files.status).replace(name="OUTSIDE"))
    (runs_dir / LINKED_ID).symlink_to(elsewhere, target_is_directory=True)
    return elsewhere


def hostile_ids(inside: Run, outside: Path) -> list[str]:
    return [
        "../",
        "..",
        ".",
        "~",
        "../../etc",
        "/etc/passwd",
        "%2e%2e%2f",
        "..%2F..%2F",
        "%252e%252e%252f",  # encoded twice
        "a/b",
        "..\\..\\windows",
        "x" * 5000,
        "\x00",
        f"{inside.id}\x00",
        f"{inside.id}\n",  # a real id and a newline: `$` alone would match it
        " ",
        "\u2024\u2024/",  # one-dot leaders, which some normalisers turn into dots
        OUTSIDE_ID,  # a real run, but outside
        LINKED_ID,  # a link inside that leads outside
        f"../elsewhere/{OUTSIDE_ID}",
        f"..%2Felsewhere%2F{OUTSIDE_ID}",
        str(outside),  # the absolute path of the run outside
        f"{inside.id}/../../elsewhere/{OUTSIDE_ID}",
    ]


def elements(node) -> Iterator:
    children = getattr(node, "children", None)
    if children is None:
        yield node
        return
    for child in children.values():
        yield from elements(child)


def shown(at: AppTest) -> str:
    """Everything the page shows except its warnings (a warning may quote the bad id)."""
    nodes = [*elements(at.main), *elements(at.sidebar)]
    return "\n".join(str(getattr(node, "proto", "")) for node in nodes if type(node).__name__ != "Warning")


def test_the_read_watcher_sees_a_read_outside(outside):
    with reads_under(outside) as hits:
        open_run_dir(outside).history()
    assert any(hit.endswith("history.json") for hit in hits)
    with reads_under(outside) as hits:
        (outside.parent.parent / "unrelated.txt").write_text("not watched")
    assert not hits


def test_ids_never_reach_outside_the_runs_folder(inside, outside, runs_dir):
    ids = hostile_ids(inside, outside)
    for bad in ids:
        with reads_under(outside) as hits, pytest.raises(RunError):
            open_run(bad, runs_dir)
        assert not hits, f"{bad!r} read {hits}"
    with reads_under(outside) as hits:
        assert [run.id for run in list_runs(runs_dir)] == [inside.id]  # the link is not listed
    assert not hits
    print(f"\nFIGURE hostile run ids tried against open_run: {len(ids)}")


@pytest.mark.parametrize("page", ["streamlit_app.py", *PAGES])
def test_every_page_refuses_hostile_ids_and_reads_nothing_outside(page, inside, outside, runs_dir, with_data):
    ids = hostile_ids(inside, outside)
    for bad in ids:
        at = AppTest.from_file(str(ROOT / page), default_timeout=120)
        at.query_params["run"] = bad
        with reads_under(outside) as hits, reads_under(inside.path) as inside_reads:
            at.run()
        assert not at.exception, f"{page} with ?run={bad[:40]!r}: {at.exception}"
        assert not hits, f"{page} with ?run={bad[:40]!r} read outside the runs folder: {hits}"
        assert OUTSIDE_ID not in shown(at) and "OUTSIDE" not in shown(at)
        if page in QUIET_PAGES:
            continue
        if page == "streamlit_app.py":
            # The sidebar's picker drops an id it does not list and puts a real one in the address.
            assert at.query_params["run"] == inside.id
            continue
        refusals = [w.value for w in at.warning if "is not a run id" in w.value or "No run" in w.value]
        assert refusals and all("newest run instead" in w for w in refusals), (
            f"{page} with ?run={bad[:40]!r} said {[w.value for w in at.warning]}"
        )
        assert all(len(w) < 400 for w in refusals)  # the 5000-character id is cut, not echoed whole
        assert inside_reads  # and the page goes on with the run that is there
    print(f"\nFIGURE hostile ?run= values tried on {page}: {len(ids)}")


def test_run_names_from_a_form_stay_inside(runs_dir):
    from cifar.jobs import prepare_run

    for name in ["../../../tmp/evil", "/etc/cron.d/x", "..", "a/../../b", "\x00", "x" * 5000, "%2e%2e%2f"]:
        path = prepare_run(TINY, runs_dir, name=name)
        assert path.parent == runs_dir and open_run(path.name, runs_dir).path == path
    assert sorted(p.name for p in runs_dir.iterdir() if not p.name.startswith(".")) == sorted(
        run.id for run in list_runs(runs_dir)
    )


def test_upload_names_are_only_shown(inside, runs_dir, with_data, tmp_path):
    photo = io.BytesIO()
    Image.new("RGB", (40, 40), (20, 160, 60)).save(photo, "PNG")
    names = ["../../evil.png", "/etc/evil.png", "..%2F..%2Fevil.png", "a" * 300 + ".png", "<b>bold</b>.png"]
    before = sorted(str(p) for p in runs_dir.rglob("*"))
    at = AppTest.from_file(str(ROOT / "pages" / "classify.py"), default_timeout=120).run()
    at.file_uploader(key="uploads").set_value([(name, photo.getvalue(), "image/png") for name in names]).run()
    assert not at.exception
    answers = [md.value for md in at.markdown if "looks like a" in md.value]
    assert len(answers) == len(names)
    assert sorted(str(p) for p in runs_dir.rglob("*")) == before
    for folder in (ROOT, ROOT.parent, runs_dir.parent, Path("/etc"), Path.cwd().parent):
        assert not (folder / "evil.png").exists()


# --- models that carry code, or are damaged -----------------------------------------------------


def _save_lambda_model(path: Path, marker: Path) -> None:
    """A model whose Lambda layer would create `marker` if its code ever ran."""
    import keras
    from keras import layers

    # eval: the marker's path becomes a constant inside the lambda's own code object.
    body = eval(f"lambda t: (__import__('pathlib').Path({str(marker)!r}).touch(), t)[1]")
    inputs = keras.Input((32, 32, 3))
    outputs = layers.Dense(10, activation="softmax")(layers.Flatten()(layers.Lambda(body)(inputs)))
    keras.Model(inputs, outputs).save(path)
    marker.unlink()  # building the model ran it once, here, on purpose


def _point_lambda_at(model_path: Path, function: dict) -> None:
    """Rewrite the saved model's Lambda to name `function` from another module."""
    import json

    with zipfile.ZipFile(model_path) as archive:
        parts = {name: archive.read(name) for name in archive.namelist()}
    config = json.loads(parts["config.json"])
    layer = next(layer for layer in config["config"]["layers"] if layer["class_name"] == "Lambda")
    layer["config"]["function"] = function
    parts["config.json"] = json.dumps(config).encode()
    with zipfile.ZipFile(model_path, "w") as archive:
        for name, data in parts.items():
            archive.writestr(name, data)


def _spoil(model: Path, kind: str, tmp_path: Path) -> None:
    marker = tmp_path / "code-ran"
    if kind == "garbage":
        model.write_bytes(b"this is not a zip file")
    elif kind == "truncated":
        model.write_bytes(model.read_bytes()[: model.stat().st_size // 2])
    elif kind == "empty":
        model.write_bytes(b"")
    elif kind == "link":
        elsewhere = tmp_path / "elsewhere.keras"
        shutil.copyfile(model, elsewhere)
        model.unlink()
        model.symlink_to(elsewhere)
    else:
        _save_lambda_model(model, marker)
        if kind == "foreign-function":  # os.system by name, as in CVE-2025-1550-style files
            _point_lambda_at(model, {"module": "os", "class_name": "function", "config": "system"})


REFUSALS = {
    "lambda": "holds Python code",
    "foreign-function": "not a Keras model",
    "garbage": "not a Keras model",
    "truncated": "not a Keras model",
    "empty": "not a Keras model",
    "link": "is a link",
}


@pytest.mark.parametrize("kind", list(REFUSALS))
def test_a_model_that_carries_code_or_is_damaged_is_refused_in_words(kind, inside, with_data, tmp_path):
    _spoil(inside.files.model, kind, tmp_path)
    with pytest.raises(RunError, match=REFUSALS[kind]) as refused:
        inside.load_model()
    assert inside.id in str(refused.value) and "Traceback" not in str(refused.value)
    at = AppTest.from_file(str(ROOT / "pages" / "classify.py"), default_timeout=120)
    at.query_params["run"] = inside.id
    at.run()
    assert not at.exception
    assert any(REFUSALS[kind] in error.value and "cannot be used" in error.value for error in at.error)
    assert not (tmp_path / "code-ran").exists()  # safe_mode: the Lambda's code never ran
    assert inside.history()["epoch"] == [1, 2]  # the rest of the run still reads


# --- limits in the config and the code ----------------------------------------------------------


def streamlit_config() -> dict:
    with open(ROOT / ".streamlit" / "config.toml", "rb") as handle:
        return tomllib.load(handle)


def test_upload_limit_and_types_agree_in_config_and_code(inside, with_data):
    config = streamlit_config()
    assert config["server"]["maxUploadSize"] * 2**20 == MAX_BYTES
    at = AppTest.from_file(str(ROOT / "pages" / "classify.py"), default_timeout=120).run()
    uploader = at.file_uploader(key="uploads").proto
    assert uploader.max_upload_size_mb == MAX_BYTES // 2**20  # what the browser is told
    # Every type the page accepts is either read, or refused by the code with what to do instead.
    formats = {".png": "PNG", ".jpg": "JPEG", ".jpeg": "JPEG", ".webp": "WEBP", ".bmp": "BMP", ".gif": "GIF"}
    documents = {".svg": b'<svg xmlns="http://www.w3.org/2000/svg"/>', ".pdf": b"%PDF-1.4\n%%EOF\n"}
    accepted = [kind for kind in uploader.type if kind.startswith(".")]
    assert accepted and set(accepted) <= set(formats) | set(documents), "a new type: add a sample of it here"
    for kind in accepted:
        if kind in documents:
            with pytest.raises(ImageError, match="PNG"):
                prepare_image(documents[kind], f"drawing{kind}")
            continue
        data = io.BytesIO()
        Image.new("RGB", (50, 40), (200, 30, 30)).save(data, formats[kind])
        assert prepare_image(data.getvalue(), f"photo{kind}").pixels.shape == (32, 32, 3)


def test_server_binds_to_this_machine_only_and_the_readme_says_how_to_open_it():
    assert streamlit_config()["server"]["address"] == "127.0.0.1"
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## A classroom server", 1)[1].split("\n## ", 1)[0]
    assert "--server.address 0.0.0.0" in section and "CIFAR_MAX_TRAININGS" in section
    app_script = (ROOT / "scripts" / "app.sh").read_text()
    assert re.search(r'streamlit run streamlit_app\.py "\$@"', app_script)  # extra arguments reach streamlit


# --- a real server: where it listens, and paths that try to leave ------------------------------


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def other_address() -> str | None:
    """An IPv4 address of this machine that is not loopback, or None when it has none."""
    with contextlib.suppress(OSError), socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.connect(("192.0.2.1", 9))  # TEST-NET: picks the outgoing interface, sends nothing
        address = probe.getsockname()[0]
        if not address.startswith("127.") and address != "0.0.0.0":
            return address
    with contextlib.suppress(OSError):
        for info in socket.getaddrinfo(socket.gethostname(), None, socket.AF_INET):
            if not info[4][0].startswith("127."):
                return info[4][0]
    return None


def answers(url: str) -> bool:
    try:
        return urllib.request.urlopen(url, timeout=3).status == 200
    except OSError:
        return False


@contextlib.contextmanager
def streamlit_server(runs_dir: Path, log_path: Path, *args: str) -> Iterator[int]:
    """`streamlit run` as scripts/app.sh starts it (this folder's config), with `args` added."""
    port = free_port()
    env = dict(os.environ, CIFAR_RUNS_DIR=str(runs_dir))
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "streamlit", "run", "streamlit_app.py", "--server.port", str(port), *args],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            wait_until(
                lambda: answers(f"http://127.0.0.1:{port}/_stcore/health") or process.poll() is not None,
                timeout=120,
                what="the server to answer",
            )
            assert process.poll() is None, log_path.read_text()
            yield port
        finally:
            process.terminate()
            process.wait(timeout=30)


def test_server_answers_on_localhost_only_and_keeps_paths_inside(runs_dir, tmp_path):
    secret = Path("/etc/passwd").read_text()[:20] if Path("/etc/passwd").exists() else None
    other = other_address()
    with streamlit_server(runs_dir, tmp_path / "local.log") as port:
        assert answers(f"http://127.0.0.1:{port}/_stcore/health")
        if other:
            assert not answers(f"http://{other}:{port}/_stcore/health"), f"the server also answers on {other}"
        probes = [
            "/../../../../etc/passwd",
            "/%2e%2e/%2e%2e/%2e%2e/etc/passwd",
            "/..%2f..%2f..%2fetc%2fpasswd",
            "/media/..%2f..%2f..%2fetc%2fpasswd",
            "/app/static/..%2f..%2f..%2fetc%2fpasswd",
            "/component/..%2f..%2f..%2fetc%2fpasswd",
            "/static/..%2f..%2f..%2fetc%2fpasswd",
            "/_stcore/..%2f..%2fetc%2fpasswd",
            f"/{'%2e%2e%2f' * 12}etc/passwd",
            "/?run=../../../../etc/passwd",
        ]
        for probe in probes:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}{probe}", timeout=10) as response:
                    body = response.read().decode(errors="replace")
            except urllib.error.HTTPError as error:
                body = error.read().decode(errors="replace")
            assert secret is None or secret not in body, f"{probe} served /etc/passwd"
    print(f"\nFIGURE hostile URL paths tried on the server: {len(probes)}; other interface checked: {other}")


def test_the_readme_way_to_open_it_to_a_classroom_works(runs_dir, tmp_path):
    other = other_address()
    if other is None:
        pytest.skip("this machine has no address but loopback, so there is no classroom side to test from")
    with streamlit_server(runs_dir, tmp_path / "open.log", "--server.address", "0.0.0.0") as port:
        assert answers(f"http://{other}:{port}/_stcore/health") and answers(f"http://127.0.0.1:{port}/_stcore/health")


def test_prediction_files_are_never_unpickled(inside):
    # np.load with allow_pickle=False: a predictions file holding Python objects is refused, not run.
    with open(inside.files.prediction(2), "wb") as handle:
        np.save(handle, np.array([{"not": "numbers"}], dtype=object), allow_pickle=True)
    with pytest.raises(RunError, match="missing or damaged"):
        inside.predictions(2)
