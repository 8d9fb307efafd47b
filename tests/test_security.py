"""Hostile input: run ids and file names that try to leave the runs folder, model files that
carry code, the upload limits, and where the server listens.

Reads are watched with a Python audit hook (PEP 578): every `open`, `os.listdir` and
`os.scandir` anywhere in this process, AppTest's script thread included, is resolved (links
followed) and must land in the runs folder or in one of the few places a page reads on purpose
(`readable_besides_runs`). Files that C code opens itself (TensorFlow's) raise no audit event,
and `os.stat` has none. The hook is tested on reads it must catch.
"""

from __future__ import annotations

import contextlib
import io
import mimetypes
import os
import re
import shlex
import shutil
import socket
import sys
import tempfile
import threading
import tomllib
import urllib.error
import urllib.request
import zipfile
import zoneinfo
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest
from app_server import answers, running_app
from helpers import ROOT, TINY, app_page, run_cli
from PIL import Image
from streamlit.testing.v1 import AppTest

from cifar.errors import ImageError, RunError
from cifar.runs.layout import RunFiles
from cifar.runs.run import Run, list_runs, open_run, open_run_dir
from cifar.runs.status import read_status, write_status
from cifar.study.infer import MAX_BYTES, prepare_image

OUTSIDE_ID = "29990101-000000-outside-beef"  # sorts newest: a listing that let it in would show it first
LINKED_ID = "29991231-000000-linked-beef"  # a link inside the runs folder to the run outside it
# Links inside the runs folder, with names a run could have, to /etc, the home folder and the
# runs folder's parent.
LINKS_OUT = {"29991230-000000-etc-beef": Path("/etc"), "29991229-000000-home-beef": Path.home()}
PARENT_LINK = "29991228-000000-parent-beef"
PAGES = re.findall(r'st\.Page\("(pages/\w+\.py)"', (ROOT / "streamlit_app.py").read_text())
QUIET_PAGES = {"pages/data.py", "pages/board.py"}  # pages that never read the selected run: nothing to warn about


# --- watching every file this process opens -----------------------------------------------------

_watchers: list[tuple[Callable[[str], bool], list[str]]] = []  # (which real paths to keep, kept) while watched
_inside_hook = threading.local()
READ_EVENTS = ("open", "os.listdir", "os.scandir")


def _audit(event: str, args: tuple) -> None:
    if not _watchers or event not in READ_EVENTS or getattr(_inside_hook, "busy", False):
        return
    target = args[0] if args else None
    if target is None:  # os.listdir() and os.scandir() without an argument read the current folder
        target = "."
    if not isinstance(target, str | bytes | os.PathLike):
        return  # an open file descriptor: it was checked when it was opened
    _inside_hook.busy = True  # realpath reads links, which must not re-enter the hook
    try:
        real = os.path.realpath(os.fsdecode(target))
        for keep, hits in list(_watchers):
            if keep(real):
                hits.append(f"{event} {real}")
    finally:
        _inside_hook.busy = False


sys.addaudithook(_audit)  # cannot be removed; costs nothing while nothing is watched


def _below(real: str, folders: list[str]) -> bool:
    return any((real + os.sep).startswith(folder) for folder in folders)


@contextlib.contextmanager
def _watching(keep: Callable[[str], bool]) -> Iterator[list[str]]:
    hits: list[str] = []
    entry = (keep, hits)
    _watchers.append(entry)
    try:
        yield hits
    finally:
        _watchers.remove(entry)


def reads_under(folder: Path) -> contextlib.AbstractContextManager[list[str]]:
    """Collect every file or folder read below `folder` (links followed)."""
    folders = [os.path.realpath(folder) + os.sep]
    return _watching(lambda real: _below(real, folders))


def reads_outside(allowed: list[Path]) -> contextlib.AbstractContextManager[list[str]]:
    """Collect every file or folder read anywhere but below the `allowed` ones (links followed)."""
    folders = [os.path.realpath(folder) + os.sep for folder in allowed]
    return _watching(lambda real: not _below(real, folders))


def readable_besides_runs() -> list[Path]:
    """What a page reads on purpose that is not in the runs folder, and nothing more."""
    return [
        Path(sys.prefix),  # the venv: packages, Streamlit's static assets
        Path(sys.base_prefix),  # Python's own library
        ROOT / "streamlit_app.py",  # the app's source and its Streamlit config
        ROOT / "pages",
        ROOT / "cifar",
        ROOT / ".streamlit",
        Path(os.environ["CIFAR_CACHE_DIR"]),  # the decoded dataset
        Path(os.environ["CIFAR10_DIR"]),  # the dataset itself
        Path("/proc"),  # whether a training process still runs: /proc/<pid>/stat
        Path("/dev"),  # /dev/null, /dev/urandom
        # The CPU quota, read once by pandas' read_csv to size its workers (cgroup v2, then v1).
        Path("/sys/fs/cgroup/cpu.max"),
        Path("/sys/fs/cgroup/cpu/cpu.cfs_quota_us"),
        Path("/sys/fs/cgroup/cpu/cpu.cfs_period_us"),
        Path(os.environ.get("KERAS_HOME") or Path.home() / ".keras") / "keras.json",  # Keras' settings, on import
        *(Path(name) for name in mimetypes.knownfiles),  # Python's table of file types, read once
        *(Path(folder) for folder in zoneinfo.TZPATH),  # the time-zone database, read once
    ]


# --- runs inside and outside the runs folder ----------------------------------------------------


@pytest.fixture
def with_data(batches_dir, monkeypatch):
    monkeypatch.setenv("CIFAR10_DIR", str(batches_dir))


@pytest.fixture
def inside(finished_run, runs_dir) -> Run:
    run = finished_run
    return open_run_dir(shutil.copytree(run.path, runs_dir / run.id))


@pytest.fixture
def outside(finished_run, runs_dir, tmp_path) -> Path:
    """A real, complete run in a folder beside the runs folder, and a link to it from inside;
    links from inside to /etc, the home folder and the runs folder's parent."""
    run = finished_run
    elsewhere = shutil.copytree(run.path, tmp_path / "elsewhere" / OUTSIDE_ID)
    files = RunFiles(elsewhere)
    write_status(files.status, read_status(files.status).replace(name="OUTSIDE"))
    (runs_dir / LINKED_ID).symlink_to(elsewhere, target_is_directory=True)
    for name, target in {**LINKS_OUT, PARENT_LINK: runs_dir.parent}.items():
        (runs_dir / name).symlink_to(target, target_is_directory=True)
    return elsewhere


def hostile_ids(inside: Run, outside: Path) -> list[str]:
    runs_dir = inside.path.parent
    return [
        "../",
        "..",
        ".",
        "~",
        "~/",
        "~root",
        "../../etc",
        "../" * 12 + "etc/passwd",
        "/etc",
        "/etc/passwd",
        "%2Fetc%2Fpasswd",
        "file:///etc/passwd",
        "%2e%2e%2f",
        "%2e%2e",
        "..%2F..%2F",
        "%252e%252e%252f",  # encoded twice
        "..%c0%af",  # an overlong UTF-8 slash
        "a/b",
        "..\\..\\windows",
        "x" * 5000,
        "\x00",
        f"{inside.id}\x00",
        f"{inside.id}\n",  # a real id and a newline: `$` alone would match it
        " ",
        "\u2024\u2024/",  # one-dot leaders, which some normalisers turn into dots
        "\uff0e\uff0e\uff0f",  # fullwidth dots and slash, which NFKC turns into ../
        OUTSIDE_ID,  # a real run, but outside
        LINKED_ID,  # a link inside that leads outside
        *LINKS_OUT,  # links inside to /etc and the home folder
        PARENT_LINK,  # a link inside to the runs folder's parent
        f"{PARENT_LINK}/{runs_dir.name}/{inside.id}",  # back in through the link to the parent
        f"../elsewhere/{OUTSIDE_ID}",
        f"..%2Felsewhere%2F{OUTSIDE_ID}",
        str(outside),  # the absolute path of the run outside
        str(runs_dir.parent),  # the absolute path of the runs folder's parent
        str(Path.home()),
        f"{inside.id}/../../elsewhere/{OUTSIDE_ID}",
    ]


def expected_refusal(bad: str) -> str:
    """What the page says: a name a run could have is looked for and not found; anything else
    is not a run id at all."""
    return "No run" if bad in (OUTSIDE_ID, LINKED_ID, PARENT_LINK, *LINKS_OUT) else "is not a run id"


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


def test_the_read_watcher_sees_a_read_outside(outside, runs_dir, tmp_path):
    with reads_under(outside) as hits:
        open_run_dir(outside).history()
    assert any(hit.endswith("history.json") for hit in hits)
    with reads_under(outside) as hits:
        (outside.parent.parent / "unrelated.txt").write_text("not watched")
    assert not hits
    # Everything outside the allowed folders: through a link, a folder listing, a scan, a low-level open.
    (tmp_path / "secret.txt").write_text("outside")
    with reads_outside([runs_dir]) as hits:
        (runs_dir / LINKED_ID / "config.json").read_bytes()
        os.listdir(runs_dir.parent)
        os.scandir(runs_dir / PARENT_LINK).close()
        os.close(os.open(tmp_path / "secret.txt", os.O_RDONLY))
        os.listdir(runs_dir)  # the runs folder itself is allowed
    assert hits == [
        f"open {outside / 'config.json'}",
        f"os.listdir {runs_dir.parent}",
        f"os.scandir {runs_dir.parent}",
        f"open {tmp_path / 'secret.txt'}",
    ]


def test_ids_never_reach_outside_the_runs_folder(inside, outside, runs_dir):
    ids = hostile_ids(inside, outside)
    for bad in ids:
        with reads_outside([runs_dir]) as hits, pytest.raises(RunError, match=expected_refusal(bad)):
            open_run(bad, runs_dir)
        assert not hits, f"{bad!r} read {hits}"
    with reads_outside([runs_dir]) as hits:
        assert [run.id for run in list_runs(runs_dir)] == [inside.id]  # the links are not listed
    assert not hits
    print(f"\nFIGURE hostile run ids tried against open_run: {len(ids)}")


@pytest.mark.parametrize("page", ["streamlit_app.py", *PAGES])
def test_every_page_refuses_hostile_ids_and_reads_nothing_outside(page, inside, outside, runs_dir, with_data):
    ids = hostile_ids(inside, outside)
    allowed = [runs_dir, *readable_besides_runs()]
    for bad in ids:
        at = AppTest.from_file(str(ROOT / page), default_timeout=120)
        at.query_params["run"] = bad
        with reads_outside(allowed) as hits, reads_under(inside.path) as inside_reads:
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
        said = [w.value for w in at.warning]
        refusals = [w for w in said if expected_refusal(bad) in w]
        assert refusals and all("newest run instead" in w for w in refusals), f"{page} with ?run={bad[:40]!r}: {said}"
        assert all(len(w) < 400 for w in refusals)  # the 5000-character id is cut, not echoed whole
        assert inside_reads  # and the page goes on with the run that is there
    print(f"\nFIGURE hostile ?run= values tried on {page}: {len(ids)}")


def test_run_names_from_a_form_stay_inside(runs_dir):
    from cifar.launch.launcher import prepare_run
    from cifar.runs.owner import ALONE

    for name in ["../../../tmp/evil", "/etc/cron.d/x", "..", "a/../../b", "\x00", "x" * 5000, "%2e%2e%2f"]:
        path = prepare_run(TINY, runs_dir, name=name, person=ALONE)
        assert path.parent == runs_dir and open_run(path.name, runs_dir).path == path
    assert sorted(p.name for p in runs_dir.iterdir() if not p.name.startswith(".")) == sorted(
        run.id for run in list_runs(runs_dir)
    )


def test_upload_names_are_only_shown(inside, runs_dir, with_data, tmp_path):
    photo = io.BytesIO()
    Image.new("RGB", (40, 40), (20, 160, 60)).save(photo, "PNG")
    names = ["../../evil.png", "/etc/evil.png", "..%2F..%2Fevil.png", "a" * 300 + ".png", "<b>bold</b>.png"]
    before = sorted(str(p) for p in runs_dir.rglob("*"))
    at = app_page("classify", timeout=120).run()
    at.file_uploader(key="uploads").set_value([(name, photo.getvalue(), "image/png") for name in names]).run()
    assert not at.exception
    answers = [md.value for md in at.markdown if "looks like a" in md.value]
    assert len(answers) == len(names)
    assert sorted(str(p) for p in runs_dir.rglob("*")) == before
    for folder in (ROOT, ROOT.parent, runs_dir.parent, Path("/etc"), Path.cwd().parent):
        assert not (folder / "evil.png").exists()


# --- models that carry code, or are damaged -----------------------------------------------------


def _save_lambda_model(path: Path, marker: Path, shell: bool = False) -> None:
    """A model whose Lambda layer would create `marker` if its code ever ran: with Python's own
    `touch`, or with `os.system("touch …")` when `shell`."""
    import keras
    from keras import layers

    # eval: the marker's path becomes a constant inside the lambda's own code object.
    if shell:
        body = eval(f"lambda t: (__import__('os').system({'touch ' + shlex.quote(str(marker))!r}), t)[1]")
    else:
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
        _save_lambda_model(model, marker, shell=kind == "os-system")
        if kind == "foreign-function":  # os.system by name, as in CVE-2025-1550-style files
            _point_lambda_at(model, {"module": "os", "class_name": "function", "config": "system"})


REFUSALS = {
    "lambda": "holds Python code",
    "os-system": "holds Python code",
    "foreign-function": "not a Keras model",
    "garbage": "not a Keras model",
    "truncated": "not a Keras model",
    "empty": "not a Keras model",
    "link": "is a link",
}


def _fingerprint(path: Path) -> tuple[bytes, int]:
    return path.read_bytes(), path.stat().st_mtime_ns


@pytest.mark.parametrize("kind", list(REFUSALS))
def test_a_model_that_carries_code_or_is_damaged_is_refused_in_words(kind, inside, runs_dir, with_data, tmp_path):
    marker = tmp_path / "code-ran"  # what the model's code creates if it ever runs
    _spoil(inside.files.model, kind, tmp_path)
    before = _fingerprint(inside.files.model)
    photo = tmp_path / "photo.png"
    Image.new("RGB", (40, 40), (20, 160, 60)).save(photo)

    # Loaded three ways: the package, the Classify page, the command line's predict.
    try:
        inside.load_model()
        refused = None
    except RunError as error:
        refused = str(error)
    assert not marker.exists(), "Run.load_model ran the model's code"  # safe_mode
    at = app_page("classify", timeout=120)
    at.query_params["run"] = inside.id
    at.run()
    assert not marker.exists(), "the Classify page ran the model's code"
    predict = run_cli("predict", inside.id, str(photo), "--runs-dir", str(runs_dir))
    assert not marker.exists(), "`python -m cifar predict` ran the model's code"
    assert _fingerprint(inside.files.model) == before, "the model file was changed"
    assert refused and REFUSALS[kind] in refused and inside.id in refused and "Traceback" not in refused
    assert not at.exception
    assert any(REFUSALS[kind] in error.value and "cannot be used" in error.value for error in at.error)
    assert predict.returncode == 2 and REFUSALS[kind] in predict.stderr and not predict.stdout, predict.stderr[-2000:]
    assert "Traceback" not in predict.stderr
    assert inside.history()["epoch"] == [1, 2]  # the rest of the run still reads


# --- limits in the config and the code ----------------------------------------------------------


def streamlit_config() -> dict:
    with open(ROOT / ".streamlit" / "config.toml", "rb") as handle:
        return tomllib.load(handle)


def test_upload_limit_and_types_agree_in_config_and_code(inside, with_data):
    config = streamlit_config()
    assert config["server"]["maxUploadSize"] * 2**20 == MAX_BYTES
    at = app_page("classify", timeout=120).run()
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


def listening_addresses(port: int) -> set[str]:
    """The addresses this machine's sockets listen on at TCP `port`, from the kernel's own table
    (/proc/net/tcp and tcp6, what `ss -ltn` prints): which side of the machine can reach it,
    without sending a packet anywhere but the loopback."""
    found = set()
    for table, family in (("/proc/net/tcp", socket.AF_INET), ("/proc/net/tcp6", socket.AF_INET6)):
        with contextlib.suppress(FileNotFoundError), open(table) as lines:
            for line in list(lines)[1:]:
                local, state = line.split()[1], line.split()[3]
                address, _, hex_port = local.partition(":")
                if state != "0A" or int(hex_port, 16) != port:  # 0A: LISTEN
                    continue
                # The kernel writes each 32-bit word of the address in the machine's byte order.
                raw = b"".join(
                    int(address[i : i + 8], 16).to_bytes(4, sys.byteorder) for i in range(0, len(address), 8)
                )
                found.add(socket.inet_ntop(family, raw))
    return found


LOOPBACK = {"127.0.0.1", "::1"}
EVERY_INTERFACE = {"0.0.0.0", "::"}


@contextlib.contextmanager
def streamlit_server(runs_dir: Path, log_path: Path, *args: str) -> Iterator[int]:
    """`streamlit run` as scripts/app.sh starts it (this folder's config), with `args` added: its port."""
    with running_app(log_path, *args, CIFAR_RUNS_DIR=str(runs_dir)) as url:
        yield int(url.rsplit(":", 1)[1])


def test_server_answers_on_localhost_only_and_keeps_paths_inside(runs_dir, tmp_path):
    secret = Path("/etc/passwd").read_text()[:20] if Path("/etc/passwd").exists() else None
    with streamlit_server(runs_dir, tmp_path / "local.log") as port:
        assert answers(f"http://127.0.0.1:{port}/_stcore/health")
        listening = listening_addresses(port)
        assert listening and listening <= LOOPBACK, f"the server listens on {listening}, not only on the loopback"
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
    print(f"\nFIGURE hostile URL paths tried on the server: {len(probes)}; it listened on {sorted(listening)}")


def test_the_readme_way_to_open_it_to_a_classroom_works(runs_dir, tmp_path):
    with streamlit_server(runs_dir, tmp_path / "open.log", "--server.address", "0.0.0.0") as port:
        assert answers(f"http://127.0.0.1:{port}/_stcore/health")
        listening = listening_addresses(port)
        assert listening & EVERY_INTERFACE, f"opened to a class, the server listens only on {listening}"


OVER_THE_LIMIT = int(21.2 * 2**20)  # bytes: the README's "21.2 MB"
SHOTS = ROOT / "test-output" / "screenshots"


def files_below(folder: Path) -> list[tuple[str, int]]:
    return sorted((str(path), path.stat().st_size) for path in folder.rglob("*") if path.is_file())


def drop_on_classify(port: int, run: Run, name: str, data: bytes, shot: str) -> tuple[list[str], list[str]]:
    """Drop one file on the Classify page in headless Chromium: what the file picker's chip says
    when it refuses the file (its label, its tooltip, what a screen reader says), and what the
    page says about the file. The page is kept as screenshot `shot`."""
    import browser_fixtures  # skips the test, saying why, without Playwright or Chromium

    with browser_fixtures.playwright_api.sync_playwright() as driver:
        browser = browser_fixtures.launch_chromium(driver)
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.set_default_timeout(60_000)
        page.goto(f"http://127.0.0.1:{port}/classify?run={run.id}")
        picker = page.locator("input[type='file']")
        picker.wait_for(state="attached")
        browser_fixtures.settle(page)
        picker.set_input_files(files=[{"name": name, "mimeType": "image/png", "buffer": data}])
        refused = page.locator("[data-testid='stFileChip'][aria-invalid='true']").filter(has_text=name)
        answer = page.get_by_text(f"{name}: ")  # the page's answer or refusal, once the file reaches it
        refused.or_(answer).first.wait_for()
        browser_fixtures.settle(page)
        chip_says = []
        if refused.count():
            refused.get_by_test_id("stFileChipIconError").hover()  # the red mark's tooltip says why
            page.get_by_role("tooltip").first.wait_for()
            chip_says = [
                refused.get_attribute("aria-label"),
                *page.get_by_role("tooltip").all_inner_texts(),
                refused.get_by_role("alert").text_content(),
            ]
        SHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SHOTS / shot))
        page_says = answer.all_inner_texts()
        browser.close()
    return chip_says, page_says


@pytest.mark.slow  # a real browser against a real server
def test_a_photo_over_20_mb_is_refused_in_the_browser_and_nothing_is_kept(inside, runs_dir, with_data, tmp_path):
    photo = b"\x89PNG\r\n\x1a\n" + bytes(OVER_THE_LIMIT - 8)
    runs_before, temporary_before = files_below(runs_dir), files_below(Path(tempfile.gettempdir()) / "streamlit")
    with streamlit_server(runs_dir, tmp_path / "server.log") as port:
        chip_says, page_says = drop_on_classify(port, inside, "photo.png", photo, "classify-over-20mb.png")
    assert not page_says, f"the file reached the page: {page_says}"
    # Streamlit's picker, from maxUploadSize, never sends it; it gives the file's size in decimal
    # MB and the limit in binary MB.
    assert chip_says == [
        "photo.png, 22.2MB",
        "File must be 20.0MB or smaller.",
        "Error: File must be 20.0MB or smaller.",
    ], chip_says
    assert files_below(runs_dir) == runs_before
    assert files_below(Path(tempfile.gettempdir()) / "streamlit") == temporary_before
    for folder in (ROOT, runs_dir.parent, Path(tempfile.gettempdir())):
        assert not (folder / "photo.png").exists()


@pytest.mark.slow  # a real browser against a real server
def test_past_streamlits_upload_limit_the_code_refuses_it_too(inside, runs_dir, with_data, tmp_path):
    photo = b"\x89PNG\r\n\x1a\n" + bytes(OVER_THE_LIMIT - 8)
    runs_before = files_below(runs_dir)
    # A server whose own limit was raised: the file reaches the page, and the code says no.
    with streamlit_server(runs_dir, tmp_path / "server.log", "--server.maxUploadSize", "25") as port:
        chip_says, page_says = drop_on_classify(port, inside, "photo.png", photo, "classify-over-20mb-code.png")
    assert not chip_says
    assert page_says == ["photo.png: 21.2 MB is over the 20 MB limit."]
    assert files_below(runs_dir) == runs_before


def test_prediction_files_are_never_unpickled(inside):
    # np.load with allow_pickle=False: a predictions file holding Python objects is refused, not run.
    with open(inside.files.prediction(2), "wb") as handle:
        np.save(handle, np.array([{"not": "numbers"}], dtype=object), allow_pickle=True)
    with pytest.raises(RunError, match="missing or damaged"):
        inside.predictions(2)
