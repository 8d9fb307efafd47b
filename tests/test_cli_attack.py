"""`python -m cifar attack`: its answers against the run's stored predictions and its own model
on the same pixels, the budget never passed, a target reached, another run shown the changed
image, the accuracy-under-attack curve, and what it refuses, in words and without a traceback."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
from helpers import TINY, run_cli, train_run
from PIL import Image

from cifar.cli import main as cli_main
from cifar.cli import study as study_command
from cifar.launch import launcher
from cifar.runs.owner import ALONE
from cifar.study import attack
from cifar.study.explain import open_epoch
from cifar.study.infer import predict, prepare_image
from cifar.study.kept import STUDY_FOLDER

KEYS = {"method", "eps", "target", "before", "after", "fooled", "largest_change", "changed_values", "run", "image"}


@pytest.fixture(scope="module")
def other_run(batches_dir, tmp_path_factory):
    """A second run, one epoch with another seed, to be shown the first run's changed image."""
    return train_run(batches_dir, tmp_path_factory.mktemp("other-runs"), "--seed", "7", epochs=1)


def attack_json(*args: str, capsys) -> dict:
    code = cli_main.main(["attack", *args, "--json"])
    captured = capsys.readouterr()
    assert code == 0 and "Traceback" not in captured.err, captured.err
    return json.loads(captured.out)


def answer(probabilities: np.ndarray, names) -> tuple[str, float]:
    return names[int(probabilities.argmax())], float(probabilities.max())


def test_a_test_image_is_changed_within_its_budget(finished_run):
    """A real process: FGSM at ε = 8 on test image 0, answered as the run itself answered it."""
    run = finished_run
    result = run_cli("attack", str(run.path), "--image", "0", "--eps", "8", "--json")
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    report = json.loads(result.stdout)
    names = run.class_names()
    assert set(report) == KEYS | {"true_class"}
    assert (report["run"], report["image"], report["true_class"]) == (run.id, "test image #0", names[run.labels()[0]])
    assert (report["method"], report["eps"], report["target"]) == ("fgsm", 8, None)
    assert 0 < report["largest_change"] <= 8 and 0 < report["changed_values"] <= 32 * 32 * 3
    # "before" is the answer the run stored for test image 0 after its last epoch (float16 there).
    stored_class, stored_probability = answer(run.predictions(2)[0].astype(np.float32), names)
    assert report["before"]["class"] == stored_class
    assert report["before"]["probability"] == pytest.approx(stored_probability, abs=2e-3)
    assert report["fooled"] == (report["after"]["class"] != report["before"]["class"])
    assert 0 < report["after"]["probability"] <= 1


def test_a_budget_of_zero_changes_nothing(finished_run, capsys):
    report = attack_json(str(finished_run.path), "--image", "3", "--eps", "0", capsys=capsys)
    assert (report["eps"], report["largest_change"], report["changed_values"]) == (0, 0, 0)
    assert report["after"] == report["before"] and report["fooled"] is False


def test_pgd_with_a_target_makes_the_network_answer_it(finished_run, capsys):
    run = finished_run
    names = run.class_names()
    true_class = names[run.labels()[0]]
    before = answer(run.predictions(2)[0].astype(np.float32), names)[0]
    target = next(name for name in reversed(names) if name not in (true_class, before))
    report = attack_json(
        str(run.path), "--image", "0", "--method", "pgd", "--target", target.upper(), "--eps", "64", capsys=capsys
    )
    assert (report["method"], report["eps"], report["target"], report["true_class"]) == ("pgd", 64, target, true_class)
    assert report["before"]["class"] == before
    assert report["after"]["class"] == target and report["fooled"] is True
    assert 0 < report["largest_change"] <= 64


def test_against_shows_the_same_changed_image_to_another_run(finished_run, other_run, capsys):
    run = finished_run
    names = run.class_names()
    alone = attack_json(str(run.path), "--image", "0", capsys=capsys)
    report = attack_json(str(run.path), "--image", "0", "--against", str(other_run.path), capsys=capsys)
    against = report.pop("against")
    assert report == alone  # the first run's answers are unchanged by the second
    assert set(against) == {"run", "before", "after"} and against["run"] == other_run.id
    # The same FGSM change, worked out here, shown to the other run's network.
    images, _ = study_command.tested_images(run)
    made = attack.attack_image(attack.Attacker(open_epoch(run)), images[0], 8, true_class=int(run.labels()[0]))
    assert made.largest_change() == alone["largest_change"]
    other = open_epoch(other_run)
    for key, pixels in (("before", images[0]), ("after", made.attacked)):
        expected_class, expected_probability = answer(predict(other, pixels), names)
        assert against[key]["class"] == expected_class
        assert against[key]["probability"] == pytest.approx(expected_probability, abs=1e-4)


def test_an_image_file_is_attacked_as_predict_sees_it(finished_run, tmp_path, capsys):
    run = finished_run
    photo = tmp_path / "photo.png"
    Image.fromarray(np.random.default_rng(4).integers(0, 256, (48, 80, 3), dtype=np.uint8)).save(photo)
    report = attack_json(str(run.path), "--file", str(photo), "--eps", "4", capsys=capsys)
    assert (report["image"], report["true_class"], report["eps"]) == (str(photo), None, 4)
    probabilities = predict(run.load_model(), prepare_image(photo.read_bytes()).pixels)
    expected_class, expected_probability = answer(probabilities, run.class_names())
    assert report["before"]["class"] == expected_class
    assert report["before"]["probability"] == pytest.approx(expected_probability, abs=1e-4)
    assert report["largest_change"] <= 4
    # With no true class, "fooled" means the network's own answer changed.
    assert report["fooled"] == (report["after"]["class"] != expected_class)


def test_the_curve_falls_from_the_clean_accuracy_and_pgd_is_no_weaker(finished_run, capsys):
    run = finished_run
    files_before = sorted(path.relative_to(run.path) for path in run.path.rglob("*"))
    curve = attack_json(str(run.path), "--curve", capsys=capsys)
    assert (curve["run"], curve["epoch"], curve["budgets"]) == (run.id, 2, [0, 1, 2, 4, 8])
    assert curve["images"] == 100  # the whole synthetic test set: fewer than the 500 of the sample
    fgsm, pgd = curve["accuracy"]["fgsm"], curve["accuracy"]["pgd"]
    assert set(curve["accuracy"]) == {"fgsm", "pgd"} and len(fgsm) == len(pgd) == 5
    assert all(0 <= value <= 1 for value in fgsm + pgd)
    # At ε = 0 nothing is changed: both are the clean accuracy the run stored for that epoch.
    clean = float((run.predictions(2).astype(np.float32).argmax(axis=1) == run.labels()).mean())
    assert fgsm[0] == pgd[0] == pytest.approx(clean, abs=0.011)
    assert all(p <= f + 0.03 for f, p in zip(fgsm, pgd, strict=True))
    kept = [path.name for path in (Path(os.environ["CIFAR_CACHE_DIR"]) / STUDY_FOLDER / run.id).iterdir()]
    assert len(kept) == 1 and kept[0].startswith("robustness-e2-") and kept[0].endswith(".json")
    assert sorted(path.relative_to(run.path) for path in run.path.rglob("*")) == files_before


@pytest.mark.parametrize(
    ("flags", "said"),
    [
        (["--image", "0", "--eps", "-1"], "ε must be a whole number of pixel levels from 0 to 64 (8 is the usual"),
        (["--image", "0", "--eps", "65"], "from 0 to 64 (8 is the usual budget on CIFAR-10); got 65."),
        (["--image", "0", "--eps", "abc"], "ε must be a whole number of pixel levels from 0 to 64; got 'abc'."),
        (
            ["--image", "0", "--target", "dragon"],
            "'dragon' is not a class of this run; the classes are airplane, automobile, bird, cat, deer, dog, "
            "frog, horse, ship, truck.",
        ),
        (["--image", "999999"], "--image 999999 is not a test image: choose a number from 0 to 99."),
        (["--image", "0", "--epoch", "7"], "kept its network for epochs 1, 2, not for epoch 7."),
    ],
    ids=["negative", "too-large", "not-a-number", "no-such-class", "no-such-image", "no-such-epoch"],
)
def test_a_bad_choice_is_refused_in_words(finished_run, capsys, flags, said):
    code = cli_main.main(["attack", str(finished_run.path), *flags])
    captured = capsys.readouterr()
    assert code == 2 and captured.out == "" and "Traceback" not in captured.err
    assert captured.err.startswith("error: ") and said in captured.err


def test_a_text_file_or_an_unknown_run_is_refused_in_words(finished_run, tmp_path):
    """Real processes: the exit code and the words a terminal shows, and no traceback."""
    notes = tmp_path / "notes.png"
    notes.write_text("not an image")
    result = run_cli("attack", str(finished_run.path), "--file", str(notes))
    assert result.returncode == 2 and "Traceback" not in result.stderr and result.stdout == ""
    assert f"error: {notes}: this is text, not an image." in result.stderr
    runs = finished_run.path.parent
    missing = run_cli("attack", "no-such-run", "--image", "0", "--runs-dir", str(runs))
    assert missing.returncode == 2 and "Traceback" not in missing.stderr and missing.stdout == ""
    assert f"error: No run 'no-such-run' in {runs}" in missing.stderr


def test_a_run_with_no_network_is_refused_in_words(finished_run, runs_dir, capsys):
    copy = runs_dir / finished_run.id
    shutil.copytree(finished_run.path, copy)
    (copy / "model.keras").unlink()
    shutil.rmtree(copy / "weights")
    code = cli_main.main(["attack", finished_run.id, "--image", "0", "--runs-dir", str(runs_dir)])
    error = capsys.readouterr().err
    assert code == 2 and error.startswith(f"error: Run {finished_run.id} has no finished epoch yet")


@pytest.mark.parametrize("source", [["--image", "0"], ["--curve"]], ids=["image", "curve"])
def test_a_launched_run_with_no_finished_epoch_says_so(batches_dir, runs_dir, capsys, source):
    path = launcher.prepare_run(TINY, runs_dir, "new", data=batches_dir, person=ALONE)
    code = cli_main.main(["attack", path.name, *source, "--runs-dir", str(runs_dir)])
    error = capsys.readouterr().err
    assert code == 2 and f"error: Run {path.name} has no finished epoch yet" in error


@pytest.mark.parametrize("flags", [["--eps", "4"], ["--method", "pgd"], ["--target", "cat"], ["--against", "x"]])
def test_the_curve_refuses_the_flags_of_one_image(finished_run, capsys, flags):
    code = cli_main.main(["attack", str(finished_run.path), "--curve", *flags])
    error = capsys.readouterr().err
    assert code == 2 and "--curve measures both methods at every budget" in error and flags[0] in error
