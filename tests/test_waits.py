"""Where each live run stands (cifar/launch/waits.py): queued runs start in line order, each when
the first of the machine's training slots ahead of it frees up. Estimates are fixed here (a
minute an epoch) and progress written by hand, so every start and end is worked out below."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from helpers import TINY, finished_here, report_progress

from cifar.config.presets import PRESETS
from cifar.launch import estimate, launcher, waits
from cifar.launch.backend import Job
from cifar.launch.waits import Place, places
from cifar.runs.config_file import save_config
from cifar.runs.layout import RunFiles
from cifar.runs.owner import ALONE
from cifar.runs.progress import Progress
from cifar.runs.run import Run


@pytest.fixture(autouse=True)
def minute_an_epoch(monkeypatch):
    monkeypatch.setattr(waits, "estimate_seconds", lambda config, train, test, trained=None: 60.0 * config.epochs)


def _run(runs_dir: Path, name: str, epochs: int, eta: float | None = None) -> Run:
    """A run of `epochs` epochs; with `eta`, one whose trainer has reported a batch with that many seconds left."""
    path = runs_dir / name
    path.mkdir(parents=True)
    save_config(TINY.replace(epochs=epochs), RunFiles(path).config)
    if eta is not None:
        report_progress(path, epoch=2, epochs=epochs, eta_seconds=eta)
    return Run(path)


def _starts_and_ends(where: dict[str, Place]) -> dict[str, tuple[float, float]]:
    return {run_id: (place.starts_in, place.ends_in) for run_id, place in where.items()}


def test_with_one_slot_each_queued_run_starts_when_the_one_before_it_ends(runs_dir):
    training = _run(runs_dir, "t", epochs=4, eta=150)  # 150 s left, whatever its estimate
    b, c, d = _run(runs_dir, "b", 2), _run(runs_dir, "c", 3), _run(runs_dir, "d", 1)
    # Given out of order: the line's numbers decide.
    jobs = [Job(d, "queued", 3), Job(b, "queued", 1), Job(training, "running", 0), Job(c, "queued", 2)]
    assert _starts_and_ends(places(jobs, 1)) == {
        "t": (0, 150),
        "b": (150, 150 + 120),
        "c": (270, 270 + 180),
        "d": (450, 450 + 60),
    }


def test_with_two_slots_a_queued_run_takes_whichever_slot_frees_first(runs_dir):
    training = _run(runs_dir, "t", epochs=9, eta=250)
    b, c, d, e = (_run(runs_dir, name, epochs) for name, epochs in [("b", 2), ("c", 5), ("d", 1), ("e", 4)])
    jobs = [Job(training, "running", 0), *(Job(run, "queued", i) for i, run in enumerate([b, c, d, e], start=1))]
    # Slot 1 is free now, slot 2 at 250 s. b takes slot 1 (0-120), c slot 1 again (120-420),
    # d slot 2 (250-310), e slot 2 again (310-550).
    assert _starts_and_ends(places(jobs, 2)) == {
        "t": (0, 250),
        "b": (0, 120),
        "c": (120, 420),
        "d": (250, 310),
        "e": (310, 550),
    }


def test_a_training_with_no_progress_yet_counts_its_whole_estimate(runs_dir):
    training, queued = _run(runs_dir, "t", epochs=3), _run(runs_dir, "q", epochs=2)
    where = places([Job(training, "running", 0), Job(queued, "queued", 1)], 1)
    assert _starts_and_ends(where) == {"t": (0, 180), "q": (180, 300)}
    assert where["t"].progress is None and where["t"].fraction is None
    assert where["t"].describe() == "training: starting"


def test_with_more_trainings_than_slots_the_line_waits_for_the_first_to_end(runs_dir):
    # Two train while the setting allows one (it was lowered meanwhile): the next starts when either ends.
    long, short = _run(runs_dir, "long", 9, eta=300), _run(runs_dir, "short", 9, eta=100)
    queued = _run(runs_dir, "q", 1)
    where = places([Job(long, "running", 0), Job(short, "running", 0), Job(queued, "queued", 1)], 1)
    assert _starts_and_ends(where)["q"] == (100, 160)


def test_a_queued_run_whose_config_cannot_be_read_counts_as_no_time(runs_dir):
    broken, after = _run(runs_dir, "broken", 2), _run(runs_dir, "after", 1)
    broken.files.config.write_text("{damaged")
    assert _starts_and_ends(places([Job(broken, "queued", 1), Job(after, "queued", 2)], 1)) == {
        "broken": (0, 0),
        "after": (0, 60),
    }


def test_nothing_live_has_no_places():
    assert places([], 1) == {}


def test_a_place_says_where_a_run_stands_in_words(runs_dir):
    training = _run(runs_dir, "t", epochs=4, eta=150)
    where = places([Job(training, "running", 0), Job(_run(runs_dir, "q", 2), "queued", 1)], 1)
    assert where["t"].describe() == "training: epoch 2 of 4, about 2 min left"  # 150 s is 2.5 min
    assert where["t"].fraction == pytest.approx((1 + 5 / 10) / 4)
    assert where["t"].progress == Progress(epoch=2, epochs=4, batch=5, batches=10, eta_seconds=150)
    assert where["q"].describe() == "queued: number 1 in line, starts in about 2 min"
    assert where["q"].fraction is None
    assert Place("x", "queued", 7, 40.0, 100.0).describe() == "queued: number 7 in line, starts in about 40 s"


def test_waits_rest_on_the_listings_own_runs_folder_read_once(runs_dir, tmp_path, monkeypatch):
    # The real estimate here: the finished `quick` run this machine trained (90 s) is its basis.
    monkeypatch.setattr(waits, "estimate_seconds", estimate.estimate_seconds)
    monkeypatch.setenv("CIFAR_RUNS_DIR", str(tmp_path / "another-runs-folder"))  # not the listing's
    quick = PRESETS["quick"].config
    finished_here(runs_dir, "done", quick, 90)
    queued = [Run(launcher.prepare_run(quick, runs_dir, f"q{i}", person=ALONE)) for i in range(5)]
    reads = []
    listing = estimate.list_runs
    monkeypatch.setattr(estimate, "list_runs", lambda folder=None: reads.append(folder) or listing(folder))
    where = places([Job(run, "queued", i) for i, run in enumerate(queued, start=1)], 1)
    assert [where[run.id].ends_in for run in queued] == pytest.approx([90, 180, 270, 360, 450])
    assert reads == [runs_dir]  # one read of the folder for the five, not one each


def test_views_share_one_picture_of_the_folder_while_it_is_as_fresh_as_they_ask(runs_dir, monkeypatch):
    """Thirty tabs redrawn every second read the runs folder once between them; a run launched,
    or a picture older than a view allows, is read afresh; by default every call reads afresh."""
    quick = PRESETS["quick"].config
    first = launcher.prepare_run(quick, runs_dir, "first", person=ALONE)
    reads = []
    listing = launcher.live_jobs
    monkeypatch.setattr(launcher, "live_jobs", lambda folder=None: reads.append(folder) or listing(folder))

    with ThreadPoolExecutor(8) as pool:  # thirty tabs asking at once
        pictures = list(pool.map(lambda _: waits.live_places(runs_dir, fresh_within=60), range(30)))
    assert len(reads) == 1 and all(picture is pictures[0] for picture in pictures)
    jobs, where = pictures[0]
    assert [job.run.id for job in jobs] == [first.name] and where[first.name].state == "queued"

    second = launcher.prepare_run(quick, runs_dir, "second", person=ALONE)  # a launch: the folder changed
    jobs, _ = waits.live_places(runs_dir, fresh_within=60)
    assert len(reads) == 2 and {job.run.id for job in jobs} == {first.name, second.name}
    waits.live_places(runs_dir, fresh_within=60)
    assert len(reads) == 2
    waits.live_places(runs_dir, fresh_within=0)  # older than this view allows
    waits.live_places(runs_dir)  # the command line: always the folder as it is
    assert len(reads) == 4


def test_a_view_redraws_every_second_only_while_its_run_trains(runs_dir):
    run = _run(runs_dir, "r", epochs=1)
    assert waits.redraw_pace(Job(run, "running", 0)) == 1
    assert waits.redraw_pace(Job(run, "queued", 1)) == 2
    assert waits.redraw_pace(None) == 5  # nothing to show: a tab left open costs next to nothing
