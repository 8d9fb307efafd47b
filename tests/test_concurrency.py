"""Many people at once: launches in the same second, and readers of runs that are being written.

Readers here read the files raw as well as through cifar.runs, so a torn file would show up
as a JSON error instead of being quietly taken as missing. The fast writer writes some event
lines in two parts, so that readers meet a last line without its newline, and must leave it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
import traceback
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import numpy as np
from helpers import ROOT, TINY, TINY_FLAGS, wait_for_end, wait_until

from cifar.launch import launcher
from cifar.runs.owner import ALONE
from cifar.runs.run import Run, open_run_dir
from cifar.runs.status import LIVE_STATES
from cifar.study.compare import run_summary

MODEL_PADDING = 200_000  # bytes of the stand-in model file: big enough that a torn copy would show
READS_PROMISED = 100_000  # the README's "100,000+ reads tested", by the readers of a real training
SPLIT_EVERY = 10  # epochs: the fast writer writes one event line in two parts this often
CAUGHT_WAIT = 30  # seconds the fast writer waits, mid-line, for a reader to catch the torn tail


def _intervals(runs: list[Run]) -> list[tuple[datetime, datetime]]:
    spans = [
        (datetime.fromisoformat(launcher.status(r).started), datetime.fromisoformat(launcher.status(r).ended))
        for r in runs
    ]
    return sorted(spans)


def _watch_one_at_a_time(runs: list[Run], timeout: float = 300) -> bool:
    """Poll until every run has ended; fail if two ever train at once. Whether one was seen
    waiting while another trained is returned."""
    seen_queued_behind = False
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        states = [launcher.status(run).state for run in runs]
        assert states.count("running") <= 1, f"two trainings at once: {states}"
        seen_queued_behind |= sorted(states) == ["queued", "running"]
        if not any(state in LIVE_STATES for state in states):
            return seen_queued_behind
        time.sleep(0.02)
    raise AssertionError(f"timed out after {timeout} s waiting for {[r.id for r in runs]} to end")


def _assert_one_after_the_other(runs: list[Run], epochs: int) -> None:
    for run in runs:
        status = launcher.status(run)
        assert status.state == "finished", status
        assert run.history()["epoch"] == list(range(1, epochs + 1))
    (first_start, first_end), (second_start, second_end) = _intervals(runs)
    assert first_end <= second_start, f"overlap: {first_start}–{first_end} and {second_start}–{second_end}"


def test_two_launches_in_the_same_second_from_two_threads(batches_dir, runs_dir, monkeypatch):
    """As two people pressing Launch on one server: the server's threads call launcher.launch."""
    monkeypatch.setenv("CIFAR_MAX_TRAININGS", "1")
    config = TINY.replace(epochs=3)
    together = threading.Barrier(2)
    launched: list[Run] = []

    def press_launch(name: str) -> None:
        together.wait()
        launched.append(launcher.launch(config, runs_dir=runs_dir, data=batches_dir, name=name, person=ALONE))

    presses = [threading.Thread(target=press_launch, args=(name,)) for name in ("alice", "bob")]
    for press in presses:
        press.start()
    for press in presses:
        press.join(timeout=120)
    assert len({run.id for run in launched}) == 2
    assert _watch_one_at_a_time(launched), "never saw one queued while the other trained"
    _assert_one_after_the_other(launched, epochs=3)


def test_two_launches_in_the_same_second_from_two_processes(batches_dir, runs_dir, monkeypatch):
    """As two servers, or two terminals, sharing one runs folder."""
    monkeypatch.setenv("CIFAR_MAX_TRAININGS", "1")
    command = [sys.executable, "-m", "cifar", "train", "--data", str(batches_dir), "--runs-dir", str(runs_dir)]
    command += ["--epochs", "2", *TINY_FLAGS]
    processes = [
        subprocess.Popen(
            [*command, "--run-name", name], cwd=ROOT, env=os.environ, stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
        for name in ("carol", "dave")
    ]
    runs = [open_run_dir(process.stdout.readline().decode().strip()) for process in processes]
    assert _watch_one_at_a_time(runs), "never saw one queued while the other trained"
    for process in processes:
        _, errors = process.communicate(timeout=120)
        assert process.returncode == 0, errors.decode()[-2000:]
    _assert_one_after_the_other(runs, epochs=2)


# --- readers while a run is written ----------------------------------------------------------


@dataclass
class Tally:
    """What one reader thread did and found."""

    rounds: int = 0  # passes over every file of the run
    rounds_with_epochs: int = 0  # of those, after the first epoch was saved
    reads_with_epochs: int = 0  # files read in those rounds
    reads: int = 0  # single reads of a file or a reader method
    torn_tails: int = 0  # times the event log ended mid-line (allowed: the reader leaves it)
    models_loaded: int = 0
    most_epochs: int = 0
    errors: list[str] = field(default_factory=list)
    events: list[dict] = field(default_factory=list)  # read bit by bit, with run.events(offset)
    offset: int = 0
    raw_offset: int = 0  # how far the raw check of the event log has got
    loads_models: bool = False  # one reader also loads the whole model now and then
    last_model_load: float = 0.0


def _read_json_raw(path: Path):
    """The parsed file, or None when it does not exist yet; a torn file raises."""
    try:
        text = path.read_text()
    except FileNotFoundError:
        return None
    return json.loads(text)


def read_round(run: Run, tally: Tally, check_model) -> None:
    """Read every file of `run` once, in the order that makes the writer's promises checkable:
    status before history before predictions and model, since the writer writes them in reverse."""
    reads_before = tally.reads
    status = _read_json_raw(run.files.status)
    assert isinstance(status, dict) and status.get("state") in (*LIVE_STATES, "finished", "stopped"), status
    history = _read_json_raw(run.files.history) or {}
    done = len(history.get("epoch", []))
    assert {len(values) for values in history.values()} <= {done}, history  # every list as long
    assert history.get("epoch", []) == list(range(1, done + 1))
    assert status.get("epoch", 0) <= done  # the status's epoch is written last
    predicted = run.prediction_epochs()
    assert set(range(1, done + 1)) <= set(predicted), (done, predicted)  # epoch k's predictions exist
    if done:
        probabilities = run.predictions(done).astype(np.float32)
        assert probabilities.shape == (100, 10) and np.allclose(probabilities.sum(axis=1), 1, atol=0.02)
        assert run.labels().shape == (100,)
        tally.reads += 2
        check_model(run, done, tally)
    with open(run.files.events, "rb") as log:
        log.seek(tally.raw_offset)
        lines = log.read().split(b"\n")
    if lines[-1] != b"":
        tally.torn_tails += 1
        caught_mark(run.path).touch()  # the fast writer waits for a reader to have seen this
    assert all(isinstance(json.loads(line), dict) for line in lines[:-1])  # every whole line is whole JSON
    tally.raw_offset += sum(len(line) + 1 for line in lines[:-1])
    new_events, tally.offset = run.events(tally.offset)
    tally.events += new_events
    progress = run.progress()
    assert progress is None or 0.0 <= progress.fraction <= 1.0
    summary = run_summary(run)
    assert summary["state"] in (*LIVE_STATES, "finished", "stopped") and launcher.status(run).state != "interrupted"
    assert run.config().epochs >= 1
    tally.reads += 9
    tally.rounds += 1
    tally.rounds_with_epochs += done > 0
    tally.reads_with_epochs += (tally.reads - reads_before) if done else 0
    tally.most_epochs = max(tally.most_epochs, done)


def caught_mark(run_dir: Path) -> Path:
    """A file beside the run folder (never in it) that says a reader caught the event log mid-line."""
    return run_dir.parent / f"{run_dir.name}.caught-mid-line"


def read_while_written(run: Run, writer_alive, check_model, tallies: list[Tally]) -> list[Tally]:
    """One thread for each of `tallies` reads the run round after round until `writer_alive()` is false."""

    def reader(tally: Tally) -> None:
        while True:
            alive = writer_alive()  # one last round after the writer has ended
            try:
                read_round(run, tally, check_model)
            except Exception:
                tally.errors.append(traceback.format_exc())
                if len(tally.errors) > 5:
                    return
            if not alive:
                return

    threads = [threading.Thread(target=reader, args=(tally,)) for tally in tallies]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=600)
    return tallies


def _check_outcome(run: Run, tallies: list[Tally], epochs: int, what: str) -> tuple[int, int]:
    """Assert every reader saw the whole run, no read failed and no event was lost or doubled;
    the number of reads and of event-log tails caught mid-line, all readers together."""
    errors = [error for tally in tallies for error in tally.errors]
    assert not errors, f"{len(errors)} failed reads; the first:\n{errors[0]}"
    final, _ = run.events()
    for tally in tallies:
        assert tally.events == final  # read bit by bit while written: the same events, none twice
        assert tally.most_epochs == epochs
    rounds = sum(tally.rounds for tally in tallies)
    with_epochs = sum(tally.rounds_with_epochs for tally in tallies)
    reads = sum(tally.reads for tally in tallies)
    torn = sum(tally.torn_tails for tally in tallies)
    models = sum(tally.models_loaded for tally in tallies)
    print(
        f"\nFIGURE {what}: {len(tallies)} readers, {rounds} rounds ({with_epochs} after epoch 1), {reads} reads, "
        f"0 errors, {torn} event-log tails caught mid-line (left for the next read), {models} model files checked"
    )
    return reads, torn


def test_reading_a_real_training_while_it_writes(batches_dir, runs_dir):
    import keras  # noqa: F401 (imported now, so that the readers' model loads time the load, not the import)

    # A training that would outlast any machine, stopped once the readers have done the reads the
    # README promises: as many reads on a fast machine as on a slow one.
    run = launcher.launch(TINY.replace(epochs=500), runs_dir=runs_dir, data=batches_dir, name="watched", person=ALONE)

    def check_model(run: Run, done: int, tally: Tally) -> None:
        assert run.has_model()  # written before the history says the epoch is done
        if tally.loads_models and time.monotonic() - tally.last_model_load > 1.0:  # slow: now and then
            model = run.load_model()
            assert model.output_shape == (None, 10)
            tally.models_loaded += 1
            tally.last_model_load = time.monotonic()

    wait_until(lambda: run.files.events.exists(), what="the training process to start")
    tallies = [Tally(loads_models=index == 0) for index in range(4)]

    def stop_when_read_enough() -> None:
        def enough() -> bool:  # reads of every file, once an epoch is kept: the writes readers must survive
            return sum(tally.reads_with_epochs for tally in tallies) >= READS_PROMISED

        wait_until(lambda: enough() or not launcher.status(run).live, 1800, "the promised reads")
        launcher.stop(run, person=ALONE)

    stopper = threading.Thread(target=stop_when_read_enough)
    stopper.start()
    read_while_written(run, lambda: launcher.status(run).live, check_model, tallies)
    stopper.join()
    assert wait_for_end(run).state == "stopped", "the training ended before the readers had done the promised reads"
    epochs = len(run.history()["epoch"])
    _check_outcome(run, tallies, epochs, "reads of a real training")
    assert sum(tally.reads_with_epochs for tally in tallies) >= READS_PROMISED and epochs >= 1


# A trainer at full speed: RunWriter's own writes, with a stand-in model file, as fast as they go.


class StandInModel:
    """Saves a file that says which epoch it is from, and ends with a mark a torn copy lacks."""

    def __init__(self, epoch: int) -> None:
        self.epoch = epoch

    def save(self, path: Path) -> None:
        with open(path, "wb") as handle:
            handle.write(f"EPOCH {self.epoch:06d}\n".encode() + b"\0" * MODEL_PADDING + b"END\n")

    def get_weights(self) -> list[np.ndarray]:
        return [np.full(MODEL_PADDING // 8, self.epoch, dtype=np.float64)]  # the epoch's weights file


def write_in_two_parts(path: Path, record: dict) -> None:
    """Append one event line in two writes, as a slow or large write can land, the second once a
    reader has found the last line without its newline (or after CAUGHT_WAIT seconds)."""
    line = json.dumps(record).encode() + b"\n"
    caught = caught_mark(path.parent)
    caught.unlink(missing_ok=True)
    with open(path, "ab") as log:
        log.write(line[: len(line) // 2])
        log.flush()
        deadline = time.monotonic() + CAUGHT_WAIT
        while not caught.exists() and time.monotonic() < deadline:
            time.sleep(0.001)
        log.write(line[len(line) // 2 :])


def write_fast(run_dir: str, epochs: int, batches: int = 5) -> None:
    """Write a whole run through cifar.runs.writer.RunWriter, as fast as the disk allows; every
    SPLIT_EVERY epochs, one event line is written in two parts."""
    from cifar.runs.liveness import process_start_ticks
    from cifar.runs.status import now_iso
    from cifar.runs.writer import RunWriter

    writer = RunWriter(Path(run_dir))
    writer.set_status(state="running", pid=os.getpid(), pid_start=process_start_ticks(os.getpid()), started=now_iso())
    writer.save_labels(np.arange(100, dtype=np.uint8) % 10)
    writer.event("start", epochs=epochs, start_epoch=0, steps=batches)
    rng = np.random.default_rng(0)
    for epoch in range(1, epochs + 1):
        for batch in range(1, batches + 1):
            writer.event("batch", epoch=epoch, batch=batch, batches=batches, loss=2.3, eta_seconds=1.0, note="x" * 300)
        logits = rng.normal(size=(100, 10))
        probabilities = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
        values = {"loss": 2.0, "accuracy": 0.1, "val_loss": 2.1, "val_accuracy": 0.1, "seconds": 0.01}
        writer.save_epoch(StandInModel(epoch), epoch, values, probabilities)
        writer.event("epoch", epoch=epoch, epochs=epochs)
        if epoch % SPLIT_EVERY == 0:
            write_in_two_parts(writer.files.events, {"type": "note", "epoch": epoch, "text": "y" * 300})
    writer.set_status(state="finished", ended=now_iso())
    writer.event("end", state="finished")
    writer.close()


def test_reading_a_run_written_at_full_speed(runs_dir):
    epochs = 300
    run = Run(launcher.prepare_run(TINY.replace(epochs=epochs), runs_dir, name="fast", person=ALONE))
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), str(ROOT / "tests")]))
    code = "import sys, test_concurrency as t; t.write_fast(sys.argv[1], int(sys.argv[2]))"
    writer = subprocess.Popen([sys.executable, "-c", code, str(run.path), str(epochs)], env=env, cwd=ROOT)

    def check_model(run: Run, done: int, tally: Tally) -> None:
        data = run.files.model.read_bytes()
        assert data.endswith(b"END\n") and len(data) == len(b"EPOCH 000000\n") + MODEL_PADDING + 4
        assert int(data[6:12]) >= done  # the model is written before the history
        tally.models_loaded += 1

    wait_until(lambda: run.written_status().pid == writer.pid, what="the writer to start")
    tallies = read_while_written(run, lambda: writer.poll() is None, check_model, [Tally() for _ in range(4)])
    assert writer.wait(timeout=60) == 0
    assert launcher.status(run).state == "finished" and run.history()["epoch"] == list(range(1, epochs + 1))
    _, torn = _check_outcome(run, tallies, epochs, "reads of a run written at full speed")
    # Each split line waited for a reader to catch it: every one was caught, and yet read whole, once.
    assert torn >= epochs // SPLIT_EVERY, "a reader missed a line left half written"
    notes = [event["epoch"] for event in run.events()[0] if event["type"] == "note"]
    assert notes == list(range(SPLIT_EVERY, epochs + 1, SPLIT_EVERY))


def test_a_half_written_event_line_is_left_for_the_next_read(runs_dir):
    run = Run(launcher.prepare_run(TINY, runs_dir, name="half", person=ALONE))
    first = json.dumps({"type": "batch", "epoch": 1}).encode() + b"\n"
    second = json.dumps({"type": "batch", "epoch": 2}).encode() + b"\n"
    run.files.events.write_bytes(first + second[:10])
    events, offset = run.events()
    assert events == [{"type": "batch", "epoch": 1}] and offset == len(first)
    assert run.events(offset) == ([], offset)  # still half: nothing yet, and the same place
    with open(run.files.events, "ab") as log:
        log.write(second[10:])
    assert run.events(offset) == ([{"type": "batch", "epoch": 2}], len(first + second))
