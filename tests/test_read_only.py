"""Reading never writes: with the runs folder bind-mounted read-only (in a mount namespace of the
test's own, `unshare --mount`; chmod would not stop root), the read-only commands answer and
every page opens a finished run, and a run whose training process died, without an error."""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import ROOT
from PIL import Image
from synthetic import make_images

from cifar.runs.layout import RunFiles
from cifar.runs.status import read_status, write_status

PAGES = sorted(str(path.relative_to(ROOT)) for path in (ROOT / "pages").glob("*.py"))
# Each page through AppTest, with the run in its address, as a student's link opens it.
OPEN_EVERY_PAGE = """
import sys
from streamlit.testing.v1 import AppTest
run_ids, pages = sys.argv[1].split(","), sys.argv[2:]
for run_id in run_ids:
    for page in pages:
        at = AppTest.from_file(page, default_timeout=120)
        at.query_params["run"] = run_id
        at.run()
        problems = [str(e.value) for e in at.exception] + [e.value for e in at.error]
        print(run_id, page, "ok" if not problems else problems, flush=True)
"""


def _read_only(runs_dir: Path, out: Path, *commands: list[str]) -> subprocess.CompletedProcess:
    """Run `commands` one after another with `runs_dir` mounted read-only onto itself, in a mount
    namespace of their own (the mount is gone when they end); command N prints to `out`/N.txt."""
    out.mkdir()
    steps = [f"mount --bind -o ro {shlex.quote(str(runs_dir))} {shlex.quote(str(runs_dir))}"]
    steps.append(f"touch {shlex.quote(str(runs_dir / 'proof'))} 2>/dev/null && echo WRITABLE")
    for number, command in enumerate(commands):
        printed = shlex.quote(str(out / f"{number}.txt"))
        steps.append(f"{shlex.join(command)} > {printed} || echo FAILED: {shlex.quote(' '.join(command[1:4]))}")
    return subprocess.run(
        ["unshare", "--mount", "--map-root-user", "sh", "-c", "\n".join(steps)],
        capture_output=True,
        text=True,
        timeout=900,
        cwd=ROOT,
        env=os.environ,
    )


def test_reads_answer_and_pages_open_on_a_read_only_runs_folder(finished_run, batches_dir, tmp_path, monkeypatch):
    source = finished_run
    runs_dir = tmp_path / "runs"
    run = shutil.copytree(source.path, runs_dir / source.id)
    killed = shutil.copytree(source.path, runs_dir / f"{source.id}-killed")  # its process died mid-epoch 3
    status = read_status(RunFiles(killed).status)
    write_status(RunFiles(killed).status, status.replace(state="running", epochs=5, pid=2**22 + 1, pid_start=1))
    photo = tmp_path / "photo.png"
    Image.fromarray(make_images(1, seed=3)[0][0]).save(photo)
    monkeypatch.setenv("CIFAR_RUNS_DIR", str(runs_dir))
    monkeypatch.setenv("CIFAR10_DIR", str(batches_dir))
    before = sorted(str(path.relative_to(runs_dir)) for path in runs_dir.rglob("*"))
    python = sys.executable
    out = tmp_path / "printed"
    done = _read_only(
        runs_dir,
        out,
        [python, "-m", "cifar", "runs", "--json"],
        [python, "-m", "cifar", "evaluate", run.name, "--json"],
        [python, "-m", "cifar", "explain", run.name, str(photo), "--out", str(tmp_path / "maps")],
        [python, "-c", OPEN_EVERY_PAGE, f"{run.name},{killed.name}", *PAGES],
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "WRITABLE" not in done.stdout, "the mount did not make the runs folder read-only"
    assert "FAILED" not in done.stdout, done.stdout[-3000:] + done.stderr[-3000:]
    listed = json.loads((out / "0.txt").read_text())
    assert [(row["id"], row["state"]) for row in listed] == [(killed.name, "interrupted"), (run.name, "finished")]
    evaluated = json.loads((out / "1.txt").read_text())
    assert evaluated["test_accuracy"] == pytest.approx(source.history()["val_accuracy"][-1], abs=0.011)
    assert "photo.png" in (out / "2.txt").read_text() and (tmp_path / "maps" / "photo-gradcam.png").is_file()
    opened = [f"{run_id} {page} ok" for run_id in (run.name, killed.name) for page in PAGES]
    assert (out / "3.txt").read_text().splitlines() == opened
    assert sorted(str(path.relative_to(runs_dir)) for path in runs_dir.rglob("*")) == before  # nothing new
