"""Adversarial images (cifar/study/attack.py): the input gradient against finite differences and
a hand-worked linear model, every attacked image within its budget, accuracy that falls as the
budget grows on a trained network, and robustness figures kept in the cache, not the run."""

from __future__ import annotations

import itertools
import json

import keras
import numpy as np
import pytest
import tensorflow as tf
from keras import layers
from synthetic import make_images

from cifar.config.settings import IMAGE_SHAPE, ModelConfig
from cifar.data import CLASS_NAMES, load_dataset
from cifar.data.cache import cache_dir
from cifar.errors import CifarError, RunError
from cifar.network.build import build_model
from cifar.study import attack
from cifar.study.attack import (
    BUDGETS,
    Attack,
    Attacker,
    AttackError,
    accuracy_under_attack,
    attack_image,
    change_picture,
    check_budget,
    class_index,
    kept_robustness,
    robustness_of,
)

TINY = ModelConfig(conv_blocks=1, filters=(4,), convs_per_block=1, dense_units=8, dropout=0.0)
SMALL = ModelConfig(conv_blocks=1, filters=(8,), convs_per_block=1, dense_units=16, dropout=0.0, batch_size=20, seed=1)
CURVE = (0, 1, 2, 4, 8)


def _tiny(seed: int = 3):
    keras.utils.set_random_seed(seed)
    return build_model(TINY, precision="float32")


def _faint(images: np.ndarray, share: float = 0.5) -> np.ndarray:
    """`images` at half their contrast around grey: make_images' colours lie so far apart that no
    budget up to 8 moves one class onto another, and a curve over 0..8 would show nothing."""
    return np.rint(128 + (images.astype(np.float64) - 128) * share).astype(np.uint8)


@pytest.fixture(scope="module")
def trained():
    """The attacker of a small network trained on faint synthetic images, and 100 test images it
    gets right, 10 of each class."""
    images, labels = make_images(400, seed=1)
    keras.utils.set_random_seed(1)
    model = build_model(SMALL, precision="float32")
    model.fit(_faint(images), labels, epochs=20, batch_size=20, verbose=0)
    test_images, test_labels = make_images(100, seed=2)
    return Attacker(model), _faint(test_images), test_labels.astype(np.int64)


def _loss64(model, pixels: np.ndarray, classes: np.ndarray) -> np.ndarray:
    """TINY's cross-entropy worked out by hand in float64, from its weights and float pixels."""

    def weight(name: str, which: str):
        return tf.constant(np.asarray(getattr(model.get_layer(name), which)), tf.float64)

    x = tf.constant(pixels / 255.0, tf.float64)
    x = tf.nn.relu(tf.nn.conv2d(x, weight("block1_conv1", "kernel"), 1, "SAME") + weight("block1_conv1", "bias"))
    x = tf.reshape(tf.nn.max_pool2d(x, 2, 2, "VALID"), (len(pixels), -1))
    x = tf.nn.relu(x @ weight("dense", "kernel") + weight("dense", "bias"))
    logits = x @ weight("class_probabilities", "kernel") + weight("class_probabilities", "bias")
    return tf.nn.sparse_softmax_cross_entropy_with_logits(classes, logits).numpy()


def test_the_loss_is_the_cross_entropy_of_the_logits_and_its_gradient_matches_finite_differences():
    model = _tiny()
    attacker = Attacker(model)
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (3, *IMAGE_SHAPE), dtype=np.uint8)
    classes = np.array([2, 7, 7])
    probabilities = attacker.probabilities(images)
    np.testing.assert_allclose(np.exp(-_loss64(model, images, classes)), probabilities[range(3), classes], rtol=1e-4)

    pixels = images + rng.uniform(-0.4, 0.4, images.shape)  # off whole levels: the gradient at any point
    loss, gradient = attacker.objective(pixels, classes, targeted=False)
    np.testing.assert_allclose(loss, _loss64(model, pixels, classes), rtol=1e-4)
    assert gradient.shape == images.shape and np.abs(gradient).max() > 0
    step = 1e-3  # of a level: float64 differences are exact far past the 1e-2 asked
    for image in range(3):
        for _ in range(12):
            where = (image, *(int(rng.integers(0, side)) for side in IMAGE_SHAPE))
            up, down = pixels.copy(), pixels.copy()
            up[where] += step
            down[where] -= step
            estimate = (_loss64(model, up, classes)[image] - _loss64(model, down, classes)[image]) / (2 * step)
            assert gradient[where] == pytest.approx(estimate, rel=1e-2, abs=1e-3 * float(np.abs(gradient[image]).max()))

    targeted_loss, targeted_gradient = attacker.objective(pixels, classes, targeted=True)
    np.testing.assert_allclose(targeted_loss, -loss, rtol=1e-6)
    np.testing.assert_allclose(targeted_gradient, -gradient, rtol=1e-6, atol=1e-12)


def test_the_gradient_of_a_linear_model_is_its_weights_times_the_probability_error():
    inputs = keras.Input(IMAGE_SHAPE, dtype="uint8", name="image")
    flat = layers.Flatten(name="flatten")(layers.Rescaling(1 / 255, name="rescale")(inputs))
    keras.utils.set_random_seed(5)
    model = keras.Model(inputs, layers.Dense(10, activation="softmax", name="class_probabilities")(flat))
    pixels = np.random.default_rng(1).uniform(0, 255, (4, *IMAGE_SHAPE))
    classes = np.array([0, 3, 3, 9])
    _, gradient = Attacker(model).objective(pixels, classes, targeted=False)

    kernel, bias = (np.asarray(weight, np.float64) for weight in model.layers[-1].weights)  # (3072, 10), (10,)
    logits = pixels.reshape(4, -1) / 255 @ kernel + bias
    probabilities = np.exp(logits - logits.max(axis=1, keepdims=True))
    probabilities /= probabilities.sum(axis=1, keepdims=True)
    error = probabilities - np.eye(10)[classes]
    expected = (error @ kernel.T / 255).reshape(pixels.shape)
    np.testing.assert_allclose(gradient, expected, rtol=1e-4, atol=1e-6 * np.abs(expected).max())


@pytest.mark.parametrize("method", ["fgsm", "pgd"])
def test_a_budget_of_zero_changes_nothing(method):
    images = np.random.default_rng(2).integers(0, 256, (5, *IMAGE_SHAPE), dtype=np.uint8)
    for targeted in (False, True):
        attacked = Attacker(_tiny()).attack(images, 4, 0, method, targeted)
        assert attacked.dtype == np.uint8
        np.testing.assert_array_equal(attacked, images)


def test_every_attacked_image_stays_within_its_budget_and_is_an_image():
    rng = np.random.default_rng(3)
    images = rng.integers(0, 256, (6, *IMAGE_SHAPE), dtype=np.uint8)
    images[0], images[1] = 0, 255  # all black, all white
    images[2, ::2], images[3, :, ::3] = 0, 255  # stripes at both ends beside ordinary pixels
    classes = np.array([0, 1, 2, 3, 4, 5])
    attacker = Attacker(_tiny())
    for method in ("fgsm", "pgd"):
        for targeted in (False, True):
            for budget in (1, 2, 8):
                attacked = attacker.attack(images, classes, budget, method, targeted)
                change = attacked.astype(np.int16) - images.astype(np.int16)
                assert attacked.dtype == np.uint8 and attacked.shape == images.shape
                assert np.abs(change).max() == budget, (method, targeted, budget)  # used, never exceeded
                assert (change[0] >= 0).all() and (change[1] <= 0).all()  # clipped, never wrapped round


def test_accuracy_falls_as_the_budget_grows_and_pgd_is_the_stronger(trained):
    attacker, images, labels = trained
    found = accuracy_under_attack(attacker, images, labels, budgets=CURVE)
    fgsm, pgd = found["fgsm"], found["pgd"]
    print("FGSM", fgsm, "PGD", pgd)  # seen: FGSM 1.0, 1.0, 1.0, 0.85, 0.31; PGD 1.0, 1.0, 0.97, 0.8, 0.15
    assert fgsm[0] == pgd[0] >= 0.9  # the clean accuracy: ε = 0 is no attack
    assert all(later <= earlier for earlier, later in itertools.pairwise(fgsm)), fgsm
    assert fgsm[-1] <= fgsm[0] - 0.4 and pgd[-1] <= fgsm[0] - 0.5
    assert all(p <= f + 0.02 for p, f in zip(pgd, fgsm, strict=True)) and pgd[-1] <= fgsm[-1], (fgsm, pgd)


def test_a_targeted_attack_with_a_large_budget_answers_the_target(trained):
    attacker, images, labels = trained
    targets = (labels + 5) % 10
    attacked = attacker.attack(images, targets, 32, "pgd", targeted=True)
    assert (attacker.probabilities(attacked).argmax(axis=1) == targets).mean() >= 0.95  # seen: all 100
    done = attack_image(attacker, images[0], 32, "pgd", target=5, true_class=int(labels[0]))
    assert labels[0] == 0 and int(done.before.argmax()) == 0 and int(done.after.argmax()) == 5
    assert done.fooled() and done.target == 5 and done.budget == 32 and 0 < done.largest_change() <= 32


def test_a_target_it_already_answers_is_not_a_win(trained):
    attacker, images, labels = trained
    said = int(attacker.probabilities(images[:1]).argmax())
    done = attack_image(attacker, images[0], 8, "pgd", target=said, true_class=int(labels[0]))
    assert int(done.after.argmax()) == said and not done.fooled()
    outcome, words = done.verdict(CLASS_NAMES, int(labels[0]))
    assert outcome == "already" and f"It already says **{CLASS_NAMES[said]}**" in words


def _said(before: int, after: int, method: str = "fgsm", budget: int = 2, target: int | None = None) -> Attack:
    picture = np.zeros(IMAGE_SHAPE, np.uint8)
    return Attack(method, budget, target, picture, picture, np.eye(10)[before], np.eye(10)[after])


def test_the_verdict_says_what_happened_and_what_to_try():
    assert _said(3, 5).verdict(CLASS_NAMES) == (
        "fooled",
        "Fooled: a change too small to see turned **cat** into **dog**.",
    )
    assert "a change of 16 levels turned" in _said(3, 5, budget=16).verdict(CLASS_NAMES)[1]  # visible by then
    assert _said(3, 3).verdict(CLASS_NAMES, 3) == (
        "held",
        "Not fooled at ε = 2: raise the budget, or try PGD, which takes ten smaller steps.",
    )
    assert _said(3, 3, "pgd").verdict(CLASS_NAMES, 3) == ("held", "Not fooled at ε = 2: raise the budget.")
    outcome, words = _said(3, 3).verdict(CLASS_NAMES, 5)
    assert outcome == "already" and "already wrong about this dog: it said cat" in words
    assert _said(3, 9, target=9).verdict(CLASS_NAMES)[0] == "fooled"
    assert _said(3, 4, target=9).verdict(CLASS_NAMES)[0] == "held"  # moved, but not to the target


def test_an_untargeted_attack_moves_away_from_the_right_answer(trained):
    attacker, images, labels = trained
    fooled = [attack_image(attacker, images[i], 16, "pgd", true_class=int(labels[i])).fooled() for i in range(10)]
    assert sum(fooled) >= 8, fooled


@pytest.mark.parametrize("budget", [-1, 65, 2.5, "abc", float("nan"), None])
def test_a_budget_out_of_range_is_refused_in_words(budget):
    with pytest.raises(AttackError, match="whole number of pixel levels from 0 to 64"):
        check_budget(budget)


def test_a_budget_written_as_text_or_a_whole_float_is_taken():
    assert check_budget("8") == 8 and check_budget(8.0) == 8 and check_budget(0) == 0 and check_budget(64) == 64
    assert isinstance(check_budget(8.0), int)


def test_a_class_is_found_in_any_case_and_an_unknown_one_lists_the_classes():
    assert class_index("TRUCK", CLASS_NAMES) == 9 and class_index(" cat ", CLASS_NAMES) == 3
    with pytest.raises(AttackError, match="'dragon' is not a class of this run; the classes are airplane, auto"):
        class_index("dragon", CLASS_NAMES)
    with pytest.raises(AttackError, match="must be one of fgsm, pgd"):
        Attacker(_tiny()).attack(np.zeros((1, *IMAGE_SHAPE), np.uint8), 0, 2, "deepfool")


def test_the_change_picture_is_grey_where_nothing_changed_and_spans_the_budget():
    change = np.zeros((32, 32, 3), np.int16)
    change[0, 0], change[1, 1] = 8, -8
    change[2, 2] = 3
    picture, amplification = change_picture(change, 8)
    assert amplification == pytest.approx(127 / 8) and picture.dtype == np.uint8
    assert (picture[5:] == 128).all() and tuple(picture[0, 0]) == (255,) * 3 and tuple(picture[1, 1]) == (1,) * 3
    assert picture[2, 2, 0] == int(128 + 3 * 127 / 8)
    assert change_picture(np.zeros((2, 2, 3), np.int16), 0)[1] == 127.0  # no budget: no division by zero


def test_a_network_that_does_not_take_cifar_images_is_refused_in_words():
    inputs = keras.Input((64, 64, 3), dtype="uint8", name="image")
    flat = layers.Flatten()(layers.Rescaling(1 / 255)(inputs))
    model = keras.Model(inputs, layers.Dense(10, activation="softmax")(flat))
    with pytest.raises(RunError, match="takes images of 64×64×3, not the 32×32×3 of CIFAR-10") as refused:
        Attacker(model)
    assert isinstance(refused.value, CifarError)


def _files(folder) -> list[str]:
    return sorted(str(path.relative_to(folder)) for path in folder.rglob("*"))


def test_robustness_is_kept_in_the_cache_and_read_back(finished_run, batches_dir, monkeypatch):
    run = finished_run
    data = load_dataset(batches_dir)
    before = _files(run.path)
    assert kept_robustness(run) is None
    first = robustness_of(run, data.x_test, data.y_test)
    assert first.epoch == 2 and first.budgets == (0, *BUDGETS) and first.images == 100  # 10 of each class
    assert set(first.accuracy) == {"fgsm", "pgd"} and first.accuracy["fgsm"][0] == first.accuracy["pgd"][0]
    assert all(0 <= value <= 1 for values in first.accuracy.values() for value in values)
    assert kept_robustness(run) == first
    kept = list((cache_dir() / "study" / run.id).glob("robustness-e2-*.json"))
    assert len(kept) == 1 and json.loads(kept[0].read_text())["accuracy"]["pgd"] == list(first.accuracy["pgd"])
    assert _files(run.path) == before  # nothing written in the run's own folder

    def recomputed(*args, **kwargs):
        raise AssertionError("worked out again")

    monkeypatch.setattr(attack, "accuracy_under_attack", recomputed)
    assert robustness_of(run, data.x_test, data.y_test) == first


def test_a_damaged_kept_robustness_is_worked_out_again(finished_run, batches_dir, monkeypatch):
    run = finished_run
    data = load_dataset(batches_dir)
    robustness_of(run, data.x_test, data.y_test, epoch=1)
    (path,) = (cache_dir() / "study" / run.id).glob("robustness-e1-*.json")
    calls = []
    measure = attack.accuracy_under_attack
    monkeypatch.setattr(attack, "accuracy_under_attack", lambda *a, **k: calls.append(1) or measure(*a, **k))
    whole = json.loads(path.read_text())
    short = whole | {"budgets": [0, 1, 2, 4], "accuracy": {m: v[:4] for m, v in whole["accuracy"].items()}}
    beyond = whole | {"accuracy": {m: [1.5] * 5 for m in whole["accuracy"]}}
    damages = (
        "{not json",
        json.dumps({"epoch": 1, "budgets": [0], "accuracy": {}}),
        json.dumps(short),
        json.dumps(beyond),
    )
    for damage in damages:
        path.write_text(damage)
        again = robustness_of(run, data.x_test, data.y_test, epoch=1)
        assert again.epoch == 1 and len(again.accuracy["pgd"]) == len(again.budgets) == 5
    assert len(calls) == len(damages) and json.loads(path.read_text())["epoch"] == 1


def test_robustness_kept_for_other_images_is_measured_again(finished_run, batches_dir, monkeypatch):
    # Another copy of CIFAR-10 (or a damaged one) has other pixels: a figure kept for one is not the other's.
    run = finished_run
    data = load_dataset(batches_dir)
    robustness_of(run, data.x_test, data.y_test, epoch=1)
    calls = []
    measure = attack.accuracy_under_attack
    monkeypatch.setattr(attack, "accuracy_under_attack", lambda *a, **k: calls.append(1) or measure(*a, **k))
    robustness_of(run, data.x_test, data.y_test, epoch=1)
    assert calls == []
    robustness_of(run, 255 - data.x_test, data.y_test, epoch=1)
    assert calls == [1]


def test_robustness_of_an_epoch_not_kept_is_a_message(finished_run, batches_dir):
    data = load_dataset(batches_dir)
    with pytest.raises(RunError, match="kept its network for epochs 1, 2, not for epoch 3"):
        robustness_of(finished_run, data.x_test, data.y_test, epoch=3)
