"""The feature map (cifar/study/embedding.py): honest about what a network learned (a trained one
groups the classes, the same network untrained does not), neighbours against brute force,
Procrustes alignment, and maps kept in the cache, not in the run."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import keras
import numpy as np
import pytest
from helpers import ROOT
from synthetic import make_images

from cifar.config.settings import ModelConfig
from cifar.data import load_dataset
from cifar.data.cache import cache_dir
from cifar.errors import CifarError, RunError
from cifar.network.build import build_model
from cifar.runs.run import Run
from cifar.study import embedding
from cifar.study.embedding import (
    MAP_IMAGES,
    NEIGHBOURS,
    align,
    check_layer,
    default_layer,
    embed_layers,
    layout,
    make_map,
    map_of,
    map_sample,
    nearest,
    reduce,
)

MARKED = ModelConfig(conv_blocks=1, filters=(8,), convs_per_block=1, dense_units=32, dropout=0.0, batch_size=20, seed=1)
PLAIN = ModelConfig(conv_blocks=2, filters=(6, 8), convs_per_block=2, dense_units=12, dropout=0.0)
# Each class's mark: a 4×4 square of its own saturated colour at its own place.
PLACES = [(3 + 7 * (k % 4), 3 + 9 * (k // 4)) for k in range(10)]
COLOURS = np.random.default_rng(5).integers(0, 2, (10, 3)) * 255


def marked_noise(count: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Uniform noise in every pixel but a small square that alone says the class: nothing else
    in the image groups the classes, so only a network that learned the mark can."""
    rng = np.random.default_rng(seed)
    labels = np.arange(count) % 10
    images = rng.integers(0, 256, (count, 32, 32, 3), dtype=np.uint8)
    for image, label in zip(images, labels, strict=True):
        row, column = PLACES[label]
        image[row : row + 4, column : column + 4] = COLOURS[label]
    return images, labels


def test_a_trained_network_groups_the_classes_and_the_same_network_untrained_does_not():
    images, labels = marked_noise(500, seed=1)
    test_images, test_labels = marked_noise(200, seed=2)
    keras.utils.set_random_seed(1)
    trained = build_model(MARKED, precision="float32")
    trained.fit(images, labels, epochs=12, batch_size=20, verbose=0)
    assert (trained.predict(test_images, verbose=0).argmax(axis=1) == test_labels).mean() >= 0.9
    keras.utils.set_random_seed(2)
    untrained = build_model(MARKED, precision="float32")

    everything = np.arange(len(test_labels))
    learned = make_map(trained, test_images, test_labels, everything, default_layer(trained), 12)
    random = make_map(untrained, test_images, test_labels, everything, default_layer(untrained), 0)
    print("agreement trained", learned.agreement(), "untrained", random.agreement(), "chance", learned.chance())
    # Seen: 0.98 trained, 0.14 untrained, 0.095 by chance.
    assert learned.chance() == random.chance() == pytest.approx(19 / 199)  # 20 of each class: 19 others alike
    assert learned.agreement() > 6 * learned.chance() and learned.agreement() > 0.7
    assert random.agreement() < 2 * random.chance()
    assert learned.points.shape == (200, 2) and np.isfinite(learned.points).all()
    assert learned.neighbours.shape == (200, NEIGHBOURS) and (learned.predicted == test_labels).mean() >= 0.9


def test_agreement_and_chance_count_alike_neighbours():
    found = embedding.FeatureMap(
        1, "dense", np.arange(4), np.zeros((4, 2), np.float32), np.array([0, 0, 1, 1]), np.zeros(4, np.int64),
        np.array([[1, 2], [2, 3], [3, 0], [2, 1]]),
    )  # fmt: skip
    assert found.agreement() == pytest.approx(3 / 8) and found.chance() == pytest.approx(1 / 3)


def test_align_undoes_a_turn_a_reflection_a_scale_and_a_shift():
    points = np.random.default_rng(0).normal(size=(50, 2))
    angle = 1.1
    turn = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    moved = 3.5 * points @ turn @ np.diag([1.0, -1.0]) + np.array([40.0, -7.0])
    np.testing.assert_allclose(align(moved, points), points, atol=1e-5)
    np.testing.assert_allclose(align(points, points), points, atol=1e-6)  # already in place: unchanged


def _distance_to_reference(reduced: np.ndarray) -> float:
    """How far the layout of `reduced` started from its own layout lands from it, in spreads."""
    reference = layout(reduced)
    again = layout(reduced, reference)
    assert again.shape == reference.shape and np.isfinite(again).all()
    spread = np.linalg.norm(reference - reference.mean(axis=0), axis=1).mean()
    return float(np.linalg.norm(again - reference, axis=1).mean() / spread)


def test_a_layout_started_from_its_own_reference_lands_close_to_it():
    rng = np.random.default_rng(0)
    turns = np.sort(rng.uniform(0, 3 * np.pi, 120))
    helix = np.stack([np.cos(turns), np.sin(turns), turns / 3], axis=1) @ rng.normal(size=(3, 10))
    assert _distance_to_reference(helix.astype(np.float32)) < 0.25  # seen: 0.04; points shuffled: 1.0


def test_islands_started_from_their_own_layout_stay_where_they_were():
    rng = np.random.default_rng(1)
    centres = rng.normal(0, 8, (4, 10))
    islands = centres[np.arange(120) % 4] + rng.normal(0, 1, (120, 10))  # as a trained network's classes
    assert _distance_to_reference(islands.astype(np.float32)) < 0.25


def test_nearest_lists_the_true_nearest_others_never_the_point_itself():
    points = np.random.default_rng(2).normal(size=(60, 5)).astype(np.float32)
    points[10] = points[11] = points[12]  # duplicates: one may come before the point itself
    found = nearest(points, count=6)
    distances = np.linalg.norm(points[:, None] - points[None], axis=2)
    assert found.shape == (60, 6)
    for i, row in enumerate(found):
        assert i not in row and len(set(row)) == 6
        others = np.sort(np.delete(distances[i], i))[:6]
        np.testing.assert_allclose(distances[i, row], others, atol=1e-5)  # nearest first
    assert set(found[10][:2]) == {11, 12}
    assert nearest(points[:4]).shape == (4, 3)  # fewer points than NEIGHBOURS: every other one


def test_the_map_sample_is_balanced_fixed_or_everything():
    labels = np.random.default_rng(3).permutation(np.arange(10_000) % 10)
    sample = map_sample(labels)
    assert len(sample) == MAP_IMAGES and (np.bincount(labels[sample]) == 200).all()
    assert len(set(sample)) == MAP_IMAGES and (np.diff(sample) > 0).all()
    np.testing.assert_array_equal(map_sample(labels), sample)
    np.testing.assert_array_equal(map_sample(labels, everything=True), np.arange(10_000))
    np.testing.assert_array_equal(map_sample(labels[:300]), np.arange(300))  # fewer than MAP_IMAGES: all


def test_the_layers_to_map_end_with_the_classifier_input_never_the_classifier():
    model = build_model(PLAIN)
    layers = embed_layers(model)
    assert layers == [
        "block1_conv1", "block1_conv2", "block1_pool", "block2_conv1", "block2_conv2", "block2_pool", "flatten", "dense"
    ]  # fmt: skip
    assert default_layer(model) == "dense" == check_layer(model, None) and check_layer(model, "block1_pool")
    no_dense = build_model(
        ModelConfig(conv_blocks=1, filters=(4,), convs_per_block=1, dense_units=0, head="average", batch_norm=True)
    )
    assert embed_layers(no_dense) == ["block1_conv1_relu", "block1_pool", "global_average"]
    assert default_layer(no_dense) == "global_average"
    for wrong in ("class_probabilities", "nope"):
        with pytest.raises(CifarError, match=f"no layer '{wrong}' to map; this network has block1_conv1, block1_conv2"):
            check_layer(model, wrong)


def test_a_dead_layer_reduces_to_zeros():
    dead = reduce(np.zeros((30, 40), np.float32))
    assert len(dead) == 30 and dead.dtype == np.float32 and not dead.any()
    fixed = reduce(np.tile(np.arange(40, dtype=np.float32), (30, 1)))  # each unit fixed, the units apart
    assert len(fixed) == 30 and not fixed.any()
    live = reduce(np.random.default_rng(4).normal(size=(80, 64)))
    assert live.shape == (80, 50) and np.isfinite(live).all()


DEAD_MAP = """
import numpy as np
from cifar.study.embedding import layout
points = layout(np.zeros((40, 5), np.float32))
print(points.shape, bool(np.isfinite(points).all()))
"""


def test_the_map_of_a_dead_network_is_drawn_not_a_crash():
    # In a process of its own: the crash it guards against would take the test session with it.
    done = subprocess.run([sys.executable, "-c", DEAD_MAP], capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert done.returncode == 0 and done.stdout.split()[-1] == "True", (done.returncode, done.stderr[-2000:])


def test_a_dead_or_diverged_layer_is_refused_in_words_not_drawn():
    model = build_model(PLAIN)
    dense = model.get_layer("dense")
    dense.kernel.assign(np.zeros(dense.kernel.shape))  # every image: relu(0) = 0
    dense.bias.assign(np.zeros(dense.bias.shape))
    images, labels = make_images(40)
    with pytest.raises(CifarError, match="same features in dense after epoch 3: that layer is dead"):
        make_map(model, images, labels, np.arange(40), "dense", 3)
    dense.bias.assign(np.full(dense.bias.shape, np.nan))
    with pytest.raises(CifarError, match="are not numbers: the training diverged"):
        make_map(model, images, labels, np.arange(40), "dense", 3)


def _files(folder) -> list[str]:
    return sorted(str(path.relative_to(folder)) for path in folder.rglob("*"))


def test_a_run_s_map_is_kept_in_the_cache_and_an_earlier_epoch_is_aligned_to_the_last(
    finished_run, batches_dir, monkeypatch
):
    run = finished_run
    data = load_dataset(batches_dir)
    before = _files(run.path)
    said = []
    last = map_of(run, data.x_test, data.y_test, on_step=said.append)
    assert last.epoch == 2 and last.layer == "dense" and len(last.indices) == 100 and np.isfinite(last.points).all()
    assert said == ["Placing 100 test images by their features in dense (epoch 2)…"]
    kept = _files(cache_dir() / "study" / run.id)
    assert len(kept) == 1 and kept[0].startswith("map-e2-dense-2000-") and kept[0].endswith(".npz")

    first = map_of(run, data.x_test, data.y_test, epoch=1)
    assert first.epoch == 1 and np.isfinite(first.points).all()
    assert not np.allclose(first.points, last.points)  # another network, another map…
    np.testing.assert_allclose(align(first.points, last.points), first.points, atol=1e-3)  # …turned onto it
    assert len(_files(cache_dir() / "study" / run.id)) == 2
    assert _files(run.path) == before  # nothing written in the run's own folder

    def made_again(*args, **kwargs):
        raise AssertionError("worked out again")

    monkeypatch.setattr(embedding, "make_map", made_again)
    for epoch, made in ((2, last), (1, first), (None, last)):
        again = map_of(run, data.x_test, data.y_test, epoch=epoch)
        assert again.epoch == made.epoch and again.layer == made.layer
        for name in ("indices", "points", "labels", "predicted", "neighbours"):
            np.testing.assert_array_equal(getattr(again, name), getattr(made, name))
    with pytest.raises(RunError, match="kept its network for epochs 1, 2, not for epoch 3"):
        map_of(run, data.x_test, data.y_test, epoch=3)
    with pytest.raises(CifarError, match="no layer 'nope' to map"):
        map_of(run, data.x_test, data.y_test, layer="nope")


def test_a_damaged_kept_map_is_made_again(finished_run, batches_dir):
    data = load_dataset(batches_dir)
    made = map_of(finished_run, data.x_test, data.y_test)
    (path,) = (cache_dir() / "study" / finished_run.id).glob("map-e2-*.npz")
    path.write_bytes(b"not an npz")
    again = map_of(finished_run, data.x_test, data.y_test)
    np.testing.assert_array_equal(again.neighbours, made.neighbours)
    assert np.load(path)["points"].shape == (100, 2)  # written anew


def test_an_earlier_epoch_s_map_is_made_anew_once_the_run_trains_on(finished_run, batches_dir, tmp_path, monkeypatch):
    # An earlier epoch is turned onto the last epoch's layout: once another epoch is kept, the
    # map kept for epoch 1 was turned onto a layout that is no longer the last, and is stale.
    run = Run(shutil.copytree(finished_run.path, tmp_path / finished_run.id))
    data = load_dataset(batches_dir)
    first = map_of(run, data.x_test, data.y_test, epoch=1)
    kept = run.files.weights_file(2)
    with np.load(kept) as weights:
        shaken = {name: weights[name] * np.float32(1.5) for name in weights.files}
    np.savez(run.files.weights_file(3), **shaken)
    history = json.loads(run.files.history.read_text())
    history = {key: values + values[-1:] for key, values in history.items()} | {"epoch": [1, 2, 3]}
    run.files.history.write_text(json.dumps(history))
    assert run.inside_epochs()[-1] == 3

    made = []
    make = embedding.make_map
    monkeypatch.setattr(embedding, "make_map", lambda *a, **k: made.append(a[5]) or make(*a, **k))
    again = map_of(run, data.x_test, data.y_test, epoch=1)
    assert made == [3, 1]  # the new last epoch's layout, then epoch 1 turned onto it
    last = map_of(run, data.x_test, data.y_test, epoch=3)
    np.testing.assert_allclose(align(again.points, last.points), again.points, atol=1e-3)
    assert not np.allclose(again.points, first.points)
