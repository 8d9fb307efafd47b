"""Images made to fool a network: FGSM (Goodfellow et al. 2015) and PGD (Madry et al. 2018).

Pixels are levels 0..255, as the network takes them, and a budget ε is in the same levels: at
ε = 8 no colour of any pixel moves by more than 8 of 255 (8/255, the usual budget on CIFAR-10).
Each attack follows the sign of the gradient of the cross-entropy of the logits (the scores
before the softmax: a saturated probability has no gradient left, a logit has) with respect to
the pixels. Untargeted, it climbs the loss of the true class; targeted, it descends the loss of
the class asked for. The result is rounded to whole levels and clipped to 0..255: it is an image
again, and never leaves its budget (both budget and image are whole levels).

The gradient comes from `tf.GradientTape` through a float-input twin of the network that
shares its layers and weights: the network itself takes uint8, which has no gradient. The
Adversarial Robustness Toolbox was not used: its TensorFlow v2 classifier expects a float
model and a loss object of its own, and would be a large dependency for two short loops.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from cifar.config.settings import IMAGE_SHAPE
from cifar.errors import CifarError
from cifar.runs.run import Run
from cifar.study import kept
from cifar.study.explain import check_image_size, kept_epoch, open_epoch
from cifar.study.gallery import samples_per_class

BUDGETS = (1, 2, 4, 8)  # the budgets a page offers and a robustness curve measures, in levels of 255
MAX_BUDGET = 64  # past this a change is plain to see: no longer an attack worth the name
UNSEEN_BUDGET = 8  # up to this a change is too small for a person to see on a 32×32 image
METHODS = ("fgsm", "pgd")
PGD_STEPS = 10
PGD_STEP_SHARE = 2.5  # each PGD step moves 2.5·ε/steps, as Madry et al. do
ROBUSTNESS_IMAGES = 500  # a fixed, class-balanced sample of the test set: 50 of each class
# The "hardest to fool" figure of the Runs page and the class board: each run's own accuracy at
# ε = 8, the usual budget on CIFAR-10. FGSM, the attack a student meets first; an undefended
# network falls near 0% under either at 8 (RESULTS.md, section 12), so the figure rewards a run
# that resists, which is what the column asks.
HARDEST_BUDGET, HARDEST_METHOD = 8, "fgsm"
_SAMPLE_SEED = 1  # a sample of its own, not the map's
_BATCH = 250


class AttackError(CifarError, ValueError):
    """A budget, method or target class that cannot be used."""


def check_budget(budget: object) -> int:
    """ε as a whole number of pixel levels, 0 to `MAX_BUDGET`.

    Raises:
        AttackError: not a number, not whole, negative or above the limit.
    """
    try:
        value = float(budget)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise AttackError(f"ε must be a whole number of pixel levels from 0 to {MAX_BUDGET}; got {budget!r}.") from None
    if not math.isfinite(value) or value != int(value) or not 0 <= value <= MAX_BUDGET:
        raise AttackError(
            f"ε must be a whole number of pixel levels from 0 to {MAX_BUDGET} (8 is the usual budget on CIFAR-10); "
            f"got {budget}."
        )
    return int(value)


def check_method(method: str) -> str:
    """`method` if it is one of `METHODS`; else an AttackError that lists them."""
    if method not in METHODS:
        raise AttackError(f"The attack must be one of {', '.join(METHODS)}; got {method!r}.")
    return method


def class_index(name: str, names: tuple[str, ...]) -> int:
    """The index of class `name` (any case).

    Raises:
        AttackError: it is not one of the run's classes; the message lists them.
    """
    folded = [known.casefold() for known in names]
    if name.strip().casefold() not in folded:
        raise AttackError(f"{name!r} is not a class of this run; the classes are {', '.join(names)}.")
    return folded.index(name.strip().casefold())


class Attacker:
    """Gradients of a network built by cifar.network with respect to its input pixels."""

    def __init__(self, model, what: str = "This network") -> None:
        import keras

        check_image_size(model, what)
        self.model = model
        final = model.layers[-1]
        features = keras.Model(model.input, final.input)  # what the last Dense weighs
        pixels = keras.Input(IMAGE_SHAPE, dtype="float32", name="pixels")
        self._features = keras.models.clone_model(features, input_tensors=pixels, clone_function=lambda layer: layer)
        self._kernel, self._bias = final.kernel, final.bias

    def probabilities(self, images: np.ndarray) -> np.ndarray:
        """Class probabilities (N, classes) for uint8 images."""
        found = [self.model(images[i : i + _BATCH], training=False) for i in range(0, len(images), _BATCH)]
        return np.concatenate([np.asarray(part, dtype=np.float32) for part in found])

    def objective(self, pixels: np.ndarray, classes: np.ndarray, targeted: bool):
        """Each image's loss to climb (N,) and its gradient (N, 32, 32, 3): the true class's
        cross-entropy, or, targeted, minus the target's."""
        import tensorflow as tf

        x = tf.convert_to_tensor(pixels, tf.float32)
        classes = tf.convert_to_tensor(np.asarray(classes, np.int64))
        with tf.GradientTape() as tape:
            tape.watch(x)
            features = tf.cast(self._features(x, training=False), tf.float32)
            logits = tf.matmul(features, tf.cast(self._kernel, tf.float32)) + tf.cast(self._bias, tf.float32)
            loss = tf.nn.sparse_softmax_cross_entropy_with_logits(labels=classes, logits=logits)
            loss = -loss if targeted else loss
        gradient = tape.gradient(loss, x)  # a vector target: the gradient of its sum
        return loss.numpy(), gradient.numpy()

    def fgsm(self, images: np.ndarray, classes: np.ndarray, budget: int, targeted: bool = False) -> np.ndarray:
        """One step of ε along the gradient's sign."""
        original = images.astype(np.float32)
        if budget == 0:
            return images.copy()
        _, gradient = self._in_batches(original, classes, targeted)
        return _as_image(original + budget * np.sign(gradient), original, budget)

    def pgd(self, images, classes, budget: int, targeted: bool = False, steps: int = PGD_STEPS, seed: int = 0):
        """`steps` signed steps from a random start within ε, each projected back into the budget;
        each image keeps the step where its loss was highest. Each step is scored (and its
        gradient taken) as the image it would be returned as, in whole levels: a step of under
        one level must not win on a loss its rounded image does not have."""
        original = images.astype(np.float32)
        if budget == 0:
            return images.copy()
        step = PGD_STEP_SHARE * budget / steps
        start = np.random.default_rng(seed).uniform(-budget, budget, original.shape).astype(np.float32)
        current = np.clip(original + start, 0, 255)
        best, best_loss = images.copy(), np.full(len(images), -np.inf, np.float32)
        for _ in range(steps + 1):
            candidate = _as_image(current, original, budget)
            loss, gradient = self._in_batches(candidate.astype(np.float32), classes, targeted)
            better = loss > best_loss
            best[better], best_loss[better] = candidate[better], loss[better]
            current = np.clip(np.clip(current + step * np.sign(gradient), original - budget, original + budget), 0, 255)
        return best

    def _in_batches(self, pixels: np.ndarray, classes: np.ndarray, targeted: bool):
        parts = [
            self.objective(pixels[i : i + _BATCH], classes[i : i + _BATCH], targeted)
            for i in range(0, len(pixels), _BATCH)
        ]
        return np.concatenate([loss for loss, _ in parts]), np.concatenate([gradient for _, gradient in parts])

    def attack(self, images, classes, budget: int, method: str = "fgsm", targeted: bool = False) -> np.ndarray:
        """`images` (uint8) changed by `method` within `budget` levels, away from `classes` (or,
        targeted, towards them)."""
        classes = np.broadcast_to(np.asarray(classes, np.int64), (len(images),))
        chosen = self.pgd if check_method(method) == "pgd" else self.fgsm
        return chosen(images, classes, check_budget(budget), targeted)


def _as_image(pixels: np.ndarray, original: np.ndarray, budget: int) -> np.ndarray:
    """Whole levels, within `budget` of `original` and within 0..255 (unchanged where a gradient
    was not a number)."""
    pixels = np.where(np.isfinite(pixels), pixels, original)
    bounded = np.clip(np.rint(pixels), original - budget, original + budget)
    return np.clip(bounded, 0, 255).astype(np.uint8)


@dataclass(frozen=True)
class Attack:
    """One image attacked: before and after, and the network's answers to each."""

    method: str
    budget: int
    target: int | None  # the class it was pushed towards; None: away from the right answer
    original: np.ndarray  # (32, 32, 3) uint8
    attacked: np.ndarray  # (32, 32, 3) uint8
    before: np.ndarray  # (classes,) probabilities
    after: np.ndarray

    @property
    def change(self) -> np.ndarray:
        """The change in levels, (32, 32, 3) int16, each within ±budget."""
        return self.attacked.astype(np.int16) - self.original.astype(np.int16)

    def largest_change(self) -> int:
        return int(np.abs(self.change).max())

    def fooled(self) -> bool:
        """Targeted: it now answers the target, which it did not before. Untargeted: its answer changed."""
        answer, first = int(self.after.argmax()), int(self.before.argmax())
        return answer == self.target != first if self.target is not None else answer != first

    def verdict(self, names: tuple[str, ...], true_class: int | None = None) -> tuple[str, str]:
        """("fooled" | "already" | "held", the outcome in words), for a page or a terminal."""
        first, answer = names[int(self.before.argmax())], names[int(self.after.argmax())]
        unseen = "a change too small to see" if self.budget <= UNSEEN_BUDGET else f"a change of {self.budget} levels"
        if self.fooled():
            return "fooled", f"Fooled: {unseen} turned **{first}** into **{answer}**."
        if self.target is not None and int(self.before.argmax()) == self.target:
            return "already", f"It already says **{first}**: choose another class to make it say."
        if self.target is None and true_class is not None and int(self.before.argmax()) != true_class:
            return "already", f"It was already wrong about this {names[true_class]}: it said {first} before the attack."
        advice = (
            "raise the budget, or try PGD, which takes ten smaller steps"
            if self.method == "fgsm"
            else "raise the budget"
        )
        return "held", f"Not fooled at ε = {self.budget}: {advice}."


def transfer(other: Attacker, made: Attack) -> tuple[np.ndarray, np.ndarray, bool]:
    """Another network's probabilities for the original and the attacked image, and whether the
    change fooled it too (its answer changed)."""
    before, after = other.probabilities(np.stack([made.original, made.attacked]))
    return before, after, int(after.argmax()) != int(before.argmax())


def attack_image(
    attacker: Attacker,
    image,
    budget: int,
    method: str = "fgsm",
    target: int | None = None,
    true_class: int | None = None,
) -> Attack:
    """Attack one image: towards `target`, or away from its true class (when known), else away
    from the network's own answer.

    Args:
        attacker: the network to fool.
        image: one (32, 32, 3) image of pixel levels 0–255.
        budget: ε, the largest change of any colour of any pixel, in levels (checked).
        method: "fgsm" or "pgd".
        target: the class to make it answer; None to make it answer anything else.
        true_class: the image's true class, when known.

    Returns:
        The Attack: both images and both answers.

    Raises:
        AttackError: a budget or method out of range, or a network whose answers are not numbers.
    """
    image = np.asarray(image, np.uint8)
    before = attacker.probabilities(image[None])[0]
    if not np.isfinite(before).all():
        raise AttackError("This network's answers are not numbers: its training diverged. Choose an earlier epoch.")
    away = true_class if true_class is not None else int(before.argmax())
    classes = away if target is None else target
    attacked = attacker.attack(image[None], classes, budget, method, targeted=target is not None)[0]
    return Attack(
        method, check_budget(budget), target, image, attacked, before, attacker.probabilities(attacked[None])[0]
    )


def change_picture(change: np.ndarray, budget: int) -> tuple[np.ndarray, float]:
    """The change as a picture: grey where nothing changed, brighter or darker where a colour
    rose or fell, ε made the full range; and the amplification."""
    amplification = 127.0 / max(budget, 1)
    return np.clip(128 + change.astype(np.float32) * amplification, 0, 255).astype(np.uint8), amplification


@dataclass(frozen=True)
class Robustness:
    """Test accuracy under attack on a fixed sample, at each budget."""

    epoch: int
    images: int
    budgets: tuple[int, ...]  # 0 first: the clean accuracy
    accuracy: dict[str, tuple[float, ...]]  # method → accuracy at each budget

    def at(self, budget: int, method: str = "pgd") -> float:
        return self.accuracy[method][self.budgets.index(budget)]

    def as_record(self) -> dict:
        return {
            "epoch": self.epoch,
            "images": self.images,
            "budgets": list(self.budgets),
            "accuracy": {m: list(v) for m, v in self.accuracy.items()},
        }


def robustness_sample(labels: np.ndarray) -> np.ndarray:
    """The test images a robustness figure is measured on: the same `ROBUSTNESS_IMAGES` each time."""
    classes = int(labels.max()) + 1
    per_class = max(1, ROBUSTNESS_IMAGES // classes)
    return np.sort(np.concatenate(samples_per_class(labels, classes, per_class, seed=_SAMPLE_SEED)))


def accuracy_under_attack(
    attacker: Attacker, images, labels, budgets=(0, *BUDGETS), methods=METHODS, on_step=None
) -> dict[str, tuple[float, ...]]:
    """For each method, the share of `images` still classified as `labels` after an attack at each budget."""
    labels = np.asarray(labels, np.int64)
    found: dict[str, tuple[float, ...]] = {}
    for method in methods:
        scores = []
        for budget in budgets:
            if on_step:
                on_step(f"{method.upper()} at ε = {budget}…")
            attacked = attacker.attack(images, labels, budget, method)
            scores.append(float((attacker.probabilities(attacked).argmax(axis=1) == labels).mean()))
        found[method] = tuple(scores)
    return found


def robustness_of(
    run: Run, images, labels, epoch: int | None = None, on_step: Callable[[str], None] | None = None
) -> Robustness:
    """The run's accuracy under FGSM and PGD at ε = 0, 1, 2, 4 and 8 on the fixed sample, kept
    in the cache; worked out only when asked (never inside a training).

    Args:
        run: the run whose network is attacked.
        images, labels: the whole test set the run was tested on; the fixed sample is drawn here.
        epoch: the kept epoch (default: the last).
        on_step: told in words what is measured, for a page's spinner.

    Returns:
        The Robustness, read from the cache when it was measured on these same images.

    Raises:
        RunError: no kept epoch, an epoch not kept, or a network that cannot be opened.
    """
    epoch = kept_epoch(run, epoch)
    path = kept.kept_file(run, epoch, "robustness", str(ROBUSTNESS_IMAGES), ".json")
    sample = robustness_sample(np.asarray(labels))
    data = kept.images_digest(images[sample])
    found = _from_record(kept.read_record(path), data)
    if found is not None:
        return found
    model = open_epoch(run, epoch)
    accuracy = accuracy_under_attack(
        Attacker(model, f"Run {run.id}'s network"), images[sample], np.asarray(labels)[sample], on_step=on_step
    )
    made = Robustness(epoch, len(sample), (0, *BUDGETS), accuracy)
    kept.keep_record(path, made.as_record() | {"data": data})
    return made


def kept_robustness(run: Run) -> Robustness | None:
    """The robustness of the run's last kept epoch if it was worked out already; never works it out."""
    epochs = run.inside_epochs()
    if not epochs:
        return None
    try:
        path = kept.kept_file(run, epochs[-1], "robustness", str(ROBUSTNESS_IMAGES), ".json")
    except CifarError:
        return None
    return _from_record(kept.read_record(path))


def _from_record(record: dict | None, data: str | None = None) -> Robustness | None:
    """The robustness a kept record holds, if it is whole (and, given `data`, of those images)."""
    try:
        budgets = tuple(int(b) for b in record["budgets"])  # type: ignore[index]
        accuracy = {m: tuple(float(v) for v in values) for m, values in record["accuracy"].items()}  # type: ignore[index]
        whole = budgets == (0, *BUDGETS) and set(accuracy) == set(METHODS)
        whole = whole and all(
            len(values) == len(budgets) and all(0 <= v <= 1 for v in values) for values in accuracy.values()
        )
        if not whole or (data is not None and record.get("data") != data):  # type: ignore[union-attr]
            return None
        return Robustness(int(record["epoch"]), int(record["images"]), budgets, accuracy)  # type: ignore[index]
    except (TypeError, KeyError, ValueError, AttributeError):
        return None


def under_attack(run: Run) -> float | None:
    """The run's test accuracy under FGSM at ε = 8 of 255 if it was measured (never measured here)."""
    found = kept_robustness(run)
    return None if found is None else found.at(HARDEST_BUDGET, HARDEST_METHOD)
