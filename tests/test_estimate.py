from __future__ import annotations

import math
import socket

import pytest
from helpers import TINY, finished_here

from cifar.config.presets import PRESETS, nearest_preset
from cifar.config.settings import ModelConfig
from cifar.data import CLASS_NAMES
from cifar.errors import CifarError
from cifar.launch import estimate
from cifar.launch.estimate import check_feasible, estimate_seconds
from cifar.launch.launcher import prepare_run
from cifar.network import devices, speed
from cifar.runs.config_file import load_config, save_config
from cifar.runs.layout import RunFiles
from cifar.runs.owner import ALONE
from cifar.runs.status import DataInfo, RunStatus, write_status


@pytest.mark.parametrize(
    ("name", "measured_seconds"), [("tutorial", 1111), ("quick", 64), ("fast", 152), ("better", 810), ("best", 330)]
)
def test_the_arithmetic_alone_lands_within_twice_the_measured_float32_presets(name, measured_seconds, monkeypatch):
    # What scales a config from its nearest preset: the multiply-adds, checked against the
    # presets' measured whole runs (README's results table). `best` (bfloat16, wide
    # convolutions at batch 128) is three times faster than its arithmetic.
    monkeypatch.setattr(devices, "cpu_flags", lambda: frozenset({"avx512_bf16"}))  # the project's CPU
    assert PRESETS[name].seconds == measured_seconds  # the figures this test was written against
    arithmetic = estimate._arithmetic_seconds(PRESETS[name].config, 50_000, 10_000)
    assert (measured_seconds / 2 < arithmetic < measured_seconds * 2) == (name != "best"), arithmetic


def test_a_config_near_a_preset_is_scaled_like_it_and_bfloat16_counts_only_where_the_cpu_has_it(monkeypatch):
    monkeypatch.setattr(devices, "cpu_flags", lambda: frozenset({"avx512_bf16"}))
    best = PRESETS["best"].config
    twice_the_epochs = estimate.estimate_seconds(best.replace(epochs=16), 50_000, 10_000)
    assert 1.9 * 330 < twice_the_epochs < 2 * 330  # twice the epochs, the start-up once
    float32 = estimate.estimate_seconds(best.replace(mixed_precision=False), 50_000, 10_000)
    assert float32 == pytest.approx(330 * estimate.BFLOAT16_SPEEDUP, rel=0.01)
    monkeypatch.setattr(devices, "cpu_flags", lambda: frozenset({"avx2"}))  # no bfloat16: it trains in float32
    assert estimate.estimate_seconds(best, 50_000, 10_000) == pytest.approx(float32)


def test_more_epochs_take_longer():
    one = estimate_seconds(ModelConfig(epochs=1), 50_000, 10_000)
    assert estimate_seconds(ModelConfig(epochs=2), 50_000, 10_000) > one


def test_runs_of_the_preset_this_machine_trained_are_the_best_basis(tmp_path):
    quick = PRESETS["quick"].config
    finished_here(tmp_path, "a", quick, 80)
    finished_here(tmp_path, "bb", quick, 100)
    finished_here(tmp_path, "ccc", quick, 90)
    # Not counted: another machine, a continued run, a stopped one, another config, other data.
    finished_here(tmp_path, "d", quick, 500, machine="1 × NVIDIA H200")
    finished_here(tmp_path, "ee", quick, 500, start_epoch=2)
    finished_here(tmp_path, "fff", quick, 500, state="stopped")
    finished_here(tmp_path, "gggg", quick.replace(dropout=0.5), 500)
    finished_here(tmp_path, "hhhhh", quick, 500, data=DataInfo("tiny", CLASS_NAMES, 300, 100))
    assert sorted(estimate.trained_here(quick, tmp_path)) == [80, 90, 100]
    found = estimate.estimate(quick, 50_000, 10_000, tmp_path)
    assert found.seconds == pytest.approx(90) and found.basis.startswith("the 3 `quick` runs this machine trained")
    twice = estimate.estimate(quick.replace(epochs=12), 50_000, 10_000, tmp_path)
    assert 1.8 * 90 < twice.seconds < 2 * 90  # scaled by the arithmetic: twice the epochs, one start-up


def test_a_measured_speed_is_kept_for_this_machine_and_the_estimate_rests_on_it(tmp_path, monkeypatch):
    nearest = PRESETS[nearest_preset(TINY)[0]].config
    assert speed.kept_speed(TINY) is None and estimate.network_to_measure(TINY) == nearest
    assert "not measured yet" in estimate.estimate(TINY, 50_000, 10_000, tmp_path).basis
    measured = speed.measure_speed(TINY, seconds=0.3)
    assert 0 < measured.step_seconds < 5 and 0 < measured.image_seconds < 1
    assert speed.kept_speed(TINY) == measured and speed.kept_speed(TINY.replace(epochs=9, seed=4)) == measured
    assert speed.kept_speed(TINY.replace(batch_size=TINY.batch_size * 2)) is None  # another step: another figure
    assert estimate.network_to_measure(TINY) is None
    found = estimate.estimate(TINY, 50_000, 10_000, tmp_path)
    steps = math.ceil(50_000 / TINY.batch_size)
    whole = estimate.MEASURED_START_SECONDS + TINY.epochs * (
        steps * measured.step_seconds + 10_000 * measured.image_seconds + estimate.EPOCH_OVERHEAD_SECONDS
    )
    assert found.seconds == pytest.approx(whole) and found.basis.startswith("this machine's measured speed")
    assert estimate.estimate(TINY.replace(train_size=5_000), 50_000, 10_000, tmp_path).seconds < found.seconds
    # Another machine (or TensorFlow) keeps figures of its own: these are not its.
    monkeypatch.setattr(speed, "machine_key", lambda: "another-machine")
    assert speed.kept_speed(TINY) is None


def test_the_nearest_preset_s_measured_speed_scales_to_a_config_near_it(tmp_path):
    fast = PRESETS["fast"].config
    measured = speed.measure_speed(fast, seconds=0.3)
    whole = estimate.put_together(fast, measured, 50_000, 10_000)
    longer = fast.replace(epochs=3)  # the same network: its own figures
    assert estimate.estimate(longer, 50_000, 10_000, tmp_path).seconds == pytest.approx(
        estimate.put_together(longer, measured, 50_000, 10_000)
    )
    wider = estimate.estimate(fast.replace(dense_units=512), 50_000, 10_000, tmp_path)
    assert wider.basis.startswith("this machine's measured speed for `fast`") and wider.seconds > whole


def test_the_speed_is_never_measured_while_a_training_runs_here(tmp_path, monkeypatch):
    finished_here(tmp_path, "live", PRESETS["quick"].config, 10, state="running", host=socket.gethostname())
    monkeypatch.setattr(estimate, "measure_speed", lambda config: pytest.fail("measured while a training ran"))
    refusal = estimate.measure_here(TINY, tmp_path)
    assert refusal and "is training here: measuring now would find this machine slower" in refusal
    finished_here(tmp_path, "elsewhere", PRESETS["quick"].config, 10, state="running", host="another-host")
    write_status(RunFiles(next(tmp_path.glob("*-live"))).status, RunStatus(state="finished"))
    measured = []
    monkeypatch.setattr(estimate, "measure_speed", measured.append)
    assert estimate.measure_here(TINY, tmp_path) is None and measured == [TINY]


def test_switches_that_clash_are_refused_before_launch_and_a_saved_run_with_them_still_opens(tmp_path):
    both = TINY.replace(alternating_flip=True, augment=True)
    refusal = check_feasible(both, 50_000, 10_000, available_bytes=1e12).refusal
    assert refusal and refusal.startswith("alternating_flip and augment cannot both be on")
    with pytest.raises(CifarError, match="alternating_flip and augment cannot both be on"):
        prepare_run(both, tmp_path / "runs", person=ALONE)
    save_config(both, tmp_path / "config.json")  # saved before the rule: read as it is
    assert load_config(tmp_path / "config.json") == both


def test_a_hold_out_that_leaves_nothing_to_train_on_is_refused_before_launch():
    config = TINY.replace(holdout=5000)
    assert check_feasible(config, 5000, 1000, available_bytes=1e12).refusal == (
        "Holding out 5,000 images leaves none of this dataset's 5,000 training images to train on: hold out fewer."
    )
    fits = check_feasible(config, 50_000, 10_000, available_bytes=1e12)
    assert fits.refusal is None and "epochs of 45,000 images" in fits.summary
