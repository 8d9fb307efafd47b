"""The steerable learning rate (cifar/network/schedule.py) against Keras' own schedules: the
same rates unsteered, the cosine scaled and lengthened as asked, and saved and loaded."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from cifar.errors import ConfigError
from cifar.network.schedule import OptimizerRate, SteerableRate


@pytest.mark.parametrize("step", [0, 1, 50, 99, 100, 101, 500, 999, 1000, 1500])
def test_unsteered_it_gives_keras_cosine_decays_rates(step):
    reference = keras.optimizers.schedules.CosineDecay(
        0.0004, decay_steps=900, alpha=0.0, warmup_target=0.004, warmup_steps=100
    )
    ours = SteerableRate(0.004, warmup_steps=100, total_steps=1000)
    assert float(ours(step)) == pytest.approx(float(reference(step)), rel=1e-6, abs=1e-12)
    assert ours.value_at(step) == pytest.approx(float(reference(step)), rel=1e-5, abs=1e-10)


def test_unsteered_every_rate_of_best_s_schedule_is_keras_own_bit_for_bit():
    """Bit for bit, not nearly: a last-digit difference in the rate changes where a run's training
    goes, and a run would no longer match what its preset measured."""
    steps = 391 * 8  # `best`: 8 epochs of 50,000 images in batches of 128
    warmup = int(steps * 0.1)
    reference = keras.optimizers.schedules.CosineDecay(
        0.0004, decay_steps=steps - warmup, alpha=0.0, warmup_target=0.004, warmup_steps=warmup
    )
    ours = SteerableRate(0.004, warmup_steps=warmup, total_steps=steps)
    theirs = np.array([float(reference(step)) for step in range(steps + 3)], dtype=np.float32)
    assert np.array_equal(np.array([float(ours(step)) for step in range(steps + 3)], dtype=np.float32), theirs)


def test_a_new_rate_scales_the_whole_cosine_from_that_step():
    ours = SteerableRate(0.004, warmup_steps=100, total_steps=1000)
    planned = [ours.value_at(step) for step in range(1000)]
    ours.set_rate(0.001, 500)
    assert float(ours(500)) == pytest.approx(0.001, rel=1e-6)
    factor = 0.001 / planned[500]
    for step in (600, 800, 999):
        assert float(ours(step)) == pytest.approx(planned[step] * factor, rel=1e-4, abs=1e-9)


def test_more_steps_move_the_cosines_end_and_a_constant_rate_has_none():
    ours = SteerableRate(0.004, warmup_steps=100, total_steps=1000)
    ours.set_total_steps(2000)
    reference = keras.optimizers.schedules.CosineDecay(
        0.0004, decay_steps=1900, alpha=0.0, warmup_target=0.004, warmup_steps=100
    )
    assert float(ours(1500)) == pytest.approx(float(reference(1500)), rel=1e-6)
    constant = SteerableRate(0.001)
    constant.set_total_steps(5000)
    assert not constant.cosine and float(constant(10_000)) == pytest.approx(0.001)


def test_a_cosine_at_zero_cannot_be_scaled_back_up():
    ours = SteerableRate(0.004, warmup_steps=10, total_steps=100)
    with pytest.raises(ValueError, match="reached zero"):
        ours.set_rate(0.001, 100)


def test_the_rate_and_its_scale_survive_a_save_and_a_safe_load(tmp_path):
    inputs = keras.Input((2,))
    model = keras.Model(inputs, keras.layers.Dense(1)(inputs))
    model.compile(optimizer=keras.optimizers.Adam(SteerableRate(0.001)), loss="mse")
    model.fit(np.array([[0.0, 1.0]]), np.array([[1.0]]), verbose=0)
    rate = OptimizerRate(model.optimizer)
    rate.set(0.0003)
    model.save(tmp_path / "m.keras")
    loaded = keras.saving.load_model(
        tmp_path / "m.keras", safe_mode=True, custom_objects={"SteerableRate": SteerableRate}
    )
    assert OptimizerRate(loaded.optimizer).now() == pytest.approx(0.0003)


@pytest.mark.parametrize("rate", [0.0, -1.0, 11.0])
def test_a_rate_out_of_the_fields_range_is_refused(rate):
    optimizer = keras.optimizers.Adam(SteerableRate(0.001))
    with pytest.raises(ConfigError, match="learning_rate must be above 0 and at most 10"):
        OptimizerRate(optimizer).set(rate)
    assert OptimizerRate(optimizer).now() == pytest.approx(0.001)


def test_a_rate_asked_during_the_warm_up_is_not_passed_later():
    """The warm-up ends where the rate was asked: the cosine starts from it and only falls."""
    ours = SteerableRate(0.004, warmup_steps=100, total_steps=1000)
    ours.set_rate(0.001, 10)
    assert float(ours(10)) == pytest.approx(0.001, rel=1e-6)
    later = [float(ours(step)) for step in range(10, 1000, 7)]
    assert max(later) <= 0.001 * (1 + 1e-6) and later == sorted(later, reverse=True)


@pytest.mark.parametrize(
    ("step", "share"),
    [(0, 0.2), (115, 0.2 + 0.8 * 0.5), (230, 1.0), (615, 1 - 0.93 * 0.5), (1000, 0.07), (1200, 0.07)],
)
def test_a_triangle_climbs_from_a_fifth_to_its_peak_then_falls_to_seven_percent(step, share):
    ours = SteerableRate(0.1, warmup_steps=230, total_steps=1000, triangular=True)
    assert float(ours(step)) == pytest.approx(0.1 * share, rel=1e-5)
    assert ours.value_at(step) == pytest.approx(0.1 * share, rel=1e-6)


def test_a_triangle_is_scaled_moved_and_saved_like_a_cosine(tmp_path):
    ours = SteerableRate(0.1, warmup_steps=230, total_steps=1000, triangular=True)
    ours.set_rate(0.05, 500)
    assert float(ours(500)) == pytest.approx(0.05, rel=1e-5)
    ours.set_total_steps(2000)
    assert float(ours(2000)) == pytest.approx(0.07 * 0.1 * ours.scale, rel=1e-5)
    copy = SteerableRate.from_config(ours.get_config())
    assert copy.triangular and [float(copy(step)) for step in (0, 700, 2000)] == pytest.approx(
        [float(ours(step)) for step in (0, 700, 2000)]
    )
