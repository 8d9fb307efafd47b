"""`python -m cifar embed`: the map's CSV read back and checked against the run's own labels and
answers, its cache kept outside the run's folder and read on the second call, and what it
refuses, in words and without a traceback."""

from __future__ import annotations

import csv
import io
import json
import math
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
from helpers import TINY, run_cli

from cifar.cli import main as cli_main
from cifar.cli.embed import COLUMNS
from cifar.launch import launcher
from cifar.runs.owner import ALONE
from cifar.study import embedding
from cifar.study.embedding import NEIGHBOURS, embed_layers
from cifar.study.explain import open_epoch
from cifar.study.kept import STUDY_FOLDER


def read_map(text: str) -> list[dict[str, str]]:
    """The rows of an embed CSV, after checking its header is the promised one."""
    reader = csv.DictReader(io.StringIO(text))
    assert tuple(reader.fieldnames) == COLUMNS
    return list(reader)


def files_of(folder: Path) -> dict[str, tuple[int, int]]:
    """Every file under `folder` with its size and when it was written."""
    return {
        str(path.relative_to(folder)): (path.stat().st_size, path.stat().st_mtime_ns)
        for path in folder.rglob("*")
        if path.is_file()
    }


def study_cache(run) -> Path:
    return Path(os.environ["CIFAR_CACHE_DIR"]) / STUDY_FOLDER / run.id


def test_the_csv_has_a_row_per_test_image_with_its_classes_and_neighbours(finished_run, tmp_path):
    """A real process, --json: every test image of the synthetic set (fewer than 2,000) placed once."""
    run = finished_run
    out = tmp_path / "map.csv"
    result = run_cli("embed", str(run.path), "--out", str(out), "--json")
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    summary = json.loads(result.stdout)
    assert set(summary) == {"run", "epoch", "layer", "images", "neighbour_agreement", "chance", "out"}
    model = open_epoch(run)
    labels, names = run.labels(), run.class_names()
    assert (summary["run"], summary["epoch"], summary["out"]) == (run.id, 2, str(out))
    # By default the layer the classifier weighs: the last of those offered, as wide as the last Dense's input.
    assert summary["layer"] == embed_layers(model)[-1]
    assert model.get_layer(summary["layer"]).output.shape[-1] == model.layers[-1].kernel.shape[0]
    assert summary["images"] == len(labels) == 100

    rows = read_map(out.read_text())
    images = [int(row["image"]) for row in rows]
    assert sorted(images) == list(range(len(labels)))
    predicted = run.predictions(2).astype(np.float32).argmax(axis=1)
    for row in rows:
        image = int(row["image"])
        assert math.isfinite(float(row["x"])) and math.isfinite(float(row["y"]))
        assert row["true_class"] == names[labels[image]]
        assert row["predicted_class"] == names[predicted[image]]  # the answers the run stored for that epoch
        assert row["right"] == str(int(row["true_class"] == row["predicted_class"]))
        near = [int(n) for n in row["neighbours"].split()]
        assert len(near) == NEIGHBOURS == len(set(near))
        assert image not in near and set(near) <= set(images)

    # The summary's figures are those of the file.
    true_of = {int(row["image"]): row["true_class"] for row in rows}
    shared = [true_of[int(n)] == row["true_class"] for row in rows for n in row["neighbours"].split()]
    assert summary["neighbour_agreement"] == pytest.approx(np.mean(shared), abs=1e-4)
    counts = np.bincount(labels).astype(float)
    chance = (counts * (counts - 1)).sum() / (len(labels) * (len(labels) - 1))
    assert summary["chance"] == pytest.approx(chance, abs=1e-4)
    assert summary["neighbour_agreement"] > summary["chance"]  # the synthetic classes are easy to tell apart


def test_the_map_is_kept_in_the_cache_and_the_second_call_reads_it(finished_run, tmp_path, capsys, monkeypatch):
    run = finished_run
    before = files_of(run.path)
    assert cli_main.main(["embed", str(run.path), "--out", str(tmp_path / "first.csv")]) == 0
    first = capsys.readouterr()
    assert "Placing 100 test images" in first.err and "Traceback" not in first.err
    assert first.out.startswith(f"{tmp_path / 'first.csv'}: 100 images from ")
    kept = [path.name for path in study_cache(run).iterdir()]
    assert len(kept) == 1 and kept[0].startswith("map-e2-") and kept[0].endswith(".npz")

    def never(*args, **kwargs):
        raise AssertionError("the map was worked out again")

    monkeypatch.setattr(embedding, "make_map", never)
    assert cli_main.main(["embed", str(run.path), "--out", "-"]) == 0
    second = capsys.readouterr()
    assert "Placing" not in second.err
    assert second.out == (tmp_path / "first.csv").read_text()  # the same map, on the terminal
    assert files_of(run.path) == before  # nothing written into the run's folder


def test_layer_and_epoch_choose_what_is_mapped(finished_run, tmp_path, capsys):
    run = finished_run
    out = tmp_path / "early.csv"
    assert (
        cli_main.main(["embed", str(run.path), "--epoch", "1", "--layer", "block1_pool", "--out", str(out), "--json"])
        == 0
    )
    summary = json.loads(capsys.readouterr().out)
    assert (summary["epoch"], summary["layer"], summary["images"]) == (1, "block1_pool", 100)
    assert len(read_map(out.read_text())) == 100
    # Epoch 1's map is laid over the last epoch's, so that is kept too.
    kept = sorted(path.name.split("-")[1] for path in study_cache(run).iterdir())
    assert kept == ["e1", "e2"]


@pytest.mark.parametrize(
    ("flags", "said"),
    [
        (["--layer", "nope"], "There is no layer 'nope' to map; this network has "),
        (["--epoch", "99"], "kept its network for epochs 1, 2, not for epoch 99."),
    ],
    ids=["layer", "epoch"],
)
def test_a_bad_layer_or_epoch_is_refused_in_words(finished_run, tmp_path, capsys, flags, said):
    run = finished_run
    out = tmp_path / "map.csv"
    code = cli_main.main(["embed", str(run.path), *flags, "--out", str(out)])
    error = capsys.readouterr().err
    assert code == 2 and error.startswith("error: ") and said in error and "Traceback" not in error
    if flags[0] == "--layer":
        assert error.rstrip().endswith(", ".join(embed_layers(open_epoch(run))) + ".")
    assert not out.exists()


def test_an_out_that_is_a_folder_is_refused(finished_run, tmp_path, capsys):
    run = finished_run
    (tmp_path / "maps").mkdir()
    code = cli_main.main(["embed", str(run.path), "--out", str(tmp_path / "maps")])
    error = capsys.readouterr().err
    assert code == 2 and "Traceback" not in error
    assert error.endswith(f"error: --out {tmp_path / 'maps'} is a folder: name a file, such as map.csv.\n")
    assert list((tmp_path / "maps").iterdir()) == []


def test_a_run_with_no_network_is_refused_in_words(finished_run, runs_dir, tmp_path):
    """A real process: a run whose epochs left no network behind says so, with no traceback."""
    copy = runs_dir / finished_run.id
    shutil.copytree(finished_run.path, copy)
    (copy / "model.keras").unlink()
    shutil.rmtree(copy / "weights")
    out = tmp_path / "map.csv"
    result = run_cli("embed", finished_run.id, "--runs-dir", str(runs_dir), "--out", str(out))
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert f"error: Run {finished_run.id} has no finished epoch yet" in result.stderr
    assert not out.exists()


def test_a_launched_run_with_no_finished_epoch_says_so(batches_dir, runs_dir, tmp_path, capsys):
    path = launcher.prepare_run(TINY, runs_dir, "new", data=batches_dir, person=ALONE)
    code = cli_main.main(["embed", path.name, "--runs-dir", str(runs_dir), "--out", str(tmp_path / "map.csv")])
    error = capsys.readouterr().err
    assert code == 2 and f"error: Run {path.name} has no finished epoch yet" in error


def test_json_with_the_csv_on_the_terminal_is_refused_before_any_work(finished_run, capsys):
    code = cli_main.main(["embed", str(finished_run.path), "--out", "-", "--json"])
    assert code == 2 and "write the CSV to a file" in capsys.readouterr().err
