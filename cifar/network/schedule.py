"""The learning rate a training follows, which its owner may change while it runs.

Keras 3 will not set the rate of an optimizer built with a schedule, and a schedule's own
numbers are fixed once built. `SteerableRate` keeps the numbers a steered training changes in
variables that the compiled training step reads: a scale (`--lr` rescales the whole schedule
so that its value now is the rate asked for) and the step the schedule ends at (`--epochs`
moves it). Unsteered, it gives the same rates as Keras' constant rate and `CosineDecay`, or
airbench's triangle: from TRIANGLE_START of the rate up to it, then down to TRIANGLE_END.
"""

from __future__ import annotations

import math

import keras
from keras import ops

from cifar.config.settings import FIELDS
from cifar.errors import ConfigError

TRIANGLE_START, TRIANGLE_END = 0.2, 0.07  # a triangular schedule's first and last rate, as shares of its peak


@keras.saving.register_keras_serializable(package="cifar")
class SteerableRate(keras.optimizers.schedules.LearningRateSchedule):
    """A constant rate; or a linear warm-up from a tenth of it then a cosine down to zero; or a
    triangle (`triangular`): linear from TRIANGLE_START of it up to it, then down to TRIANGLE_END;
    times a scale.

    Args:
        rate: the rate asked for: the constant rate, or the warm-up's target (the triangle's peak).
        warmup_steps: steps of the warm-up, or up to the triangle's peak.
        total_steps: the step the cosine reaches zero at, or the triangle its end; 0 for a constant rate.
        scale: what every rate is multiplied by (1 until someone changes the rate).
        triangular: a triangle rather than a cosine.
    """

    def __init__(
        self, rate: float, warmup_steps: int = 0, total_steps: int = 0, scale: float = 1.0, triangular: bool = False
    ) -> None:
        self.rate = float(rate)
        self.cosine = total_steps > 0  # fixed: the compiled step branches on it once (a rate that ends)
        self.triangular = triangular and self.cosine
        self._warmup = keras.Variable(float(warmup_steps), dtype="float32", trainable=False, name="rate_warmup")
        self._scale = keras.Variable(float(scale), dtype="float32", trainable=False, name="rate_scale")
        self._total = keras.Variable(float(total_steps), dtype="float32", trainable=False, name="rate_total_steps")

    @property
    def warmup_steps(self) -> int:
        return round(float(self._warmup.numpy()))

    @property
    def total_steps(self) -> int:
        return round(float(self._total.numpy()))

    @property
    def scale(self) -> float:
        return float(self._scale.numpy())

    def __call__(self, step):
        # The same float32 operations, in the same order, as Keras' CosineDecay with a warm-up:
        # unsteered, a run trains bit for bit as it would with Keras' own schedule.
        scale = self._scale.value
        target = ops.convert_to_tensor(self.rate)
        if not self.cosine:
            return target * scale
        if self.triangular:
            return self._triangle(step) * scale
        initial = ops.convert_to_tensor(self.rate / 10)
        warmup = self._warmup.value
        decay_steps = ops.maximum(self._total.value - warmup, 1.0)
        step = ops.minimum(ops.cast(step, "float32"), decay_steps + warmup)
        warming = (target - initial) * (step / warmup) + initial
        completed = ops.divide(step - warmup, decay_steps)
        cosine = 0.5 * (1.0 + ops.cos(ops.multiply(ops.array(math.pi, dtype="float32"), completed)))
        decayed = ops.multiply(target, (1 - 0.0) * cosine + 0.0)
        return ops.where(step < warmup, warming, decayed) * scale

    def _triangle(self, step):
        peak, end = ops.maximum(self._warmup.value, 1.0), ops.maximum(self._total.value, 1.0)
        step = ops.minimum(ops.cast(step, "float32"), end)
        rising = TRIANGLE_START + (1 - TRIANGLE_START) * step / peak
        falling = 1 - (1 - TRIANGLE_END) * (step - peak) / ops.maximum(end - peak, 1.0)
        return ops.convert_to_tensor(self.rate) * ops.where(step < peak, rising, falling)

    def unscaled(self, step: int) -> float:
        """The schedule's rate at `step` before scaling, in Python numbers."""
        if not self.cosine:
            return self.rate
        if self.triangular:
            peak, end = max(self.warmup_steps, 1), max(self.total_steps, 1)
            step = min(step, end)
            if step < peak:
                return self.rate * (TRIANGLE_START + (1 - TRIANGLE_START) * step / peak)
            return self.rate * (1 - (1 - TRIANGLE_END) * (step - peak) / max(end - peak, 1))
        if step < self.warmup_steps:
            start = self.rate / 10
            return start + (self.rate - start) * step / max(self.warmup_steps, 1)
        decay_steps = max(self.total_steps - self.warmup_steps, 1)
        done = min(max(step - self.warmup_steps, 0), decay_steps) / decay_steps
        return self.rate * 0.5 * (1 + math.cos(math.pi * done))

    def value_at(self, step: int) -> float:
        """The rate the optimizer uses at `step`."""
        return self.unscaled(step) * self.scale

    def set_rate(self, rate: float, step: int) -> None:
        """Scale the schedule so that its rate at `step` is `rate`; later steps follow, scaled (a
        warm-up still under way ends at `step`).

        Raises:
            ValueError: the schedule has reached zero at `step`, so no scale can lift it.
        """
        if step < self.warmup_steps:
            # Asked during the warm-up, the rate would go on climbing from the one asked for: the
            # warm-up ends here, and the cosine starts from the rate asked for.
            self._warmup.assign(float(step))
        base = self.unscaled(step)
        if base <= 0:
            raise ValueError("the cosine schedule has reached zero: there is no rate left to scale")
        self._scale.assign(rate / base)

    def set_total_steps(self, total_steps: int) -> None:
        """End the cosine (or triangle) at `total_steps` instead (more or fewer epochs); a constant rate has no end."""
        if self.cosine:
            self._total.assign(float(max(total_steps, 1)))

    def get_config(self) -> dict:
        return {
            "rate": self.rate,
            "warmup_steps": self.warmup_steps,
            "total_steps": self.total_steps,
            "scale": self.scale,
            "triangular": self.triangular,
        }


class OptimizerRate:
    """A model's learning rate, as a steered training reads and changes it."""

    def __init__(self, optimizer) -> None:
        self.optimizer = optimizer
        # Keras keeps an optimizer's schedule in `_learning_rate` and has no public way to reach it.
        schedule = getattr(optimizer, "_learning_rate", None)
        self.schedule = schedule if isinstance(schedule, SteerableRate) else None

    def now(self) -> float:
        """The rate of the next batch."""
        if self.schedule is None:
            return float(self.optimizer.learning_rate)
        return self.schedule.value_at(int(self.optimizer.iterations.numpy()))

    def set(self, rate: float) -> None:
        """The rate from the next batch on; a schedule goes on from it, scaled.

        Raises:
            ConfigError: the rate is out of the field's range, or a cosine has reached zero.
        """
        FIELDS["learning_rate"].check(rate)
        if self.schedule is None:  # a model saved before rates could be steered: a plain variable
            self.optimizer.learning_rate = rate
            return
        try:
            self.schedule.set_rate(rate, int(self.optimizer.iterations.numpy()))
        except ValueError as error:
            raise ConfigError(f"The rate cannot change now: {error}.") from error

    @property
    def schedule_ends(self) -> bool:
        """Whether the rate falls to zero at the end (a cosine): such a run gains nothing from more epochs."""
        return self.schedule is not None and self.schedule.cosine

    def end_at(self, total_steps: int) -> None:
        """A cosine now reaches zero at `total_steps`; a constant rate has no end to move."""
        if self.schedule is not None:
            self.schedule.set_total_steps(total_steps)


def rate_of(model) -> OptimizerRate:
    """The learning rate of a compiled model's optimizer."""
    return OptimizerRate(model.optimizer)
