"""Whether Grad-CAM's maps are true to the network (cifar/study/faithfulness.py): greying the
pixels a map ranks highest, pairing each image with one of another class, rank correlation, and
the deletion and sanity checks, on an inspector small enough to work out by hand; and, with the
real data, on a trained network."""

from __future__ import annotations

import keras
import numpy as np
import pytest
from helpers import run_cli
from scipy.stats import spearmanr

from cifar.network.build import build_model
from cifar.runs.run import open_run_dir
from cifar.study.explain import Inspector, open_epoch
from cifar.study.faithfulness import GREY, Deletion, deletion, grey_top, partners, rank_correlation, sanity


class HalvesInspector:
    """Two classes: 0 for an image whose top half is white, 1 for one whose bottom half is.
    Class 0's probability is 0.5 + 0.5 × (white share of the top half − white share of the
    bottom half); a class's map is 1 on its own half and 0 on the other."""

    default_cam_layer = "halves"

    def __init__(self, flip: tuple[int, ...] = ()):
        self.flip = flip  # images whose map points at the other half, as a network that sees otherwise
        self.asked: list[tuple[list[int], str | None]] = []

    def probabilities(self, images: np.ndarray) -> np.ndarray:
        white = images[..., 0] == 255
        first = 0.5 + 0.5 * (white[:, :16].mean(axis=(1, 2)) - white[:, 16:].mean(axis=(1, 2)))
        return np.stack([first, 1 - first], axis=1)

    def grad_cams(self, images: np.ndarray, classes: np.ndarray, layer: str | None = None):
        self.asked.append(([int(c) for c in classes], layer))
        maps = np.zeros((len(images), 32, 32))
        for index, label in enumerate(classes):
            half = 1 - label if index in self.flip else label
            maps[index, 16 * half : 16 * (half + 1)] = 1.0
        return maps, maps, np.zeros(len(images), dtype=bool)


def _halves() -> np.ndarray:
    """Image 0 white on top, image 1 white below; black elsewhere."""
    images = np.zeros((2, 32, 32, 3), dtype=np.uint8)
    images[0, :16] = 255
    images[1, 16:] = 255
    return images


# --- greying ---------------------------------------------------------------------------------


def test_grey_top_greys_exactly_the_share_a_map_ranks_highest():
    images = np.random.default_rng(0).integers(0, 256, (2, 32, 32, 3), dtype=np.uint8)
    ranks = np.arange(1024, dtype=float).reshape(32, 32)  # the last rows rank highest
    maps = np.stack([ranks, ranks[::-1]])  # the second image's first rows rank highest
    before = images.copy()
    greyed = grey_top(images, maps, 0.25)  # 256 pixels: eight whole rows
    assert (greyed[0, 24:] == GREY).all() and (greyed[0, :24] == images[0, :24]).all()
    assert (greyed[1, :8] == GREY).all() and (greyed[1, 8:] == images[1, 8:]).all()
    assert (images == before).all()  # the originals are untouched


def test_among_equal_ranks_the_first_pixels_in_reading_order_are_greyed():
    images = np.full((1, 32, 32, 3), 7, dtype=np.uint8)
    greyed = grey_top(images, np.zeros((1, 32, 32)), 0.1)  # round(102.4) = 102 pixels
    expected = np.arange(1024).reshape(32, 32) < 102  # rows 0-2 and the first 6 pixels of row 3
    assert ((greyed[0] == GREY).all(axis=-1) == expected).all()
    assert grey_top(images, np.zeros((1, 32, 32)), 0.0) is not images
    assert (grey_top(images, np.zeros((1, 32, 32)), 0.0) == 7).all()


# --- partners and rank correlation ------------------------------------------------------------


def test_each_image_is_paired_with_one_of_another_class_fixed_by_the_seed():
    classes = np.array([0, 0, 1, 2, 2, 2])
    chosen = partners(classes, seed=5)
    assert all(classes[partner] != label for partner, label in zip(chosen, classes, strict=True))
    assert (partners(classes, seed=5) == chosen).all()
    # Chosen at random among the others, not always the same one.
    seen = {int(partners(np.array([0, 1, 1, 1]), seed)[0]) for seed in range(50)}
    assert seen == {1, 2, 3}


def test_where_every_image_has_one_class_each_is_its_own_partner():
    assert partners(np.array([3, 3, 3])).tolist() == [0, 1, 2]


def test_rank_correlation_is_spearmans_for_each_pair_of_maps():
    rng = np.random.default_rng(1)
    first = rng.random((3, 8, 8)).round(1)  # rounded: ties, which take their mean rank
    second = rng.random((3, 8, 8)).round(1)
    expected = [spearmanr(a.ravel(), b.ravel()).statistic for a, b in zip(first, second, strict=True)]
    assert rank_correlation(first, second) == pytest.approx(expected)


def test_rank_correlation_of_the_same_reversed_and_flat_maps():
    ramp = np.arange(16, dtype=float).reshape(1, 4, 4)
    assert rank_correlation(ramp, ramp**3).tolist() == pytest.approx([1.0])  # only the order counts
    assert rank_correlation(ramp, -ramp).tolist() == pytest.approx([-1.0])
    with np.errstate(all="raise"):  # a flat map divides by nothing
        assert rank_correlation(ramp, np.zeros((1, 4, 4))).tolist() == [0.0]


# --- the two checks ----------------------------------------------------------------------------


def test_deletion_by_hand_on_two_halves():
    inspector = HalvesInspector()
    found = deletion(inspector, _halves())
    # Greying k of an image's 512 white pixels lowers its class by k/1024; greying where the other
    # image's map points turns black pixels grey and changes nothing. k = 102, 205, 307, 410.
    assert found == Deletion(
        own=pytest.approx(0.25),
        other=pytest.approx(0.0),
        images=2,
        by_share=(
            (0.1, pytest.approx(102 / 1024), pytest.approx(0.0)),
            (0.2, pytest.approx(205 / 1024), pytest.approx(0.0)),
            (0.3, pytest.approx(307 / 1024), pytest.approx(0.0)),
            (0.4, pytest.approx(410 / 1024), pytest.approx(0.0)),
        ),
    )
    assert inspector.asked == [([0, 1], None)]  # each image explained for its predicted class


def test_deletion_with_chosen_shares_reports_each():
    found = deletion(HalvesInspector(), _halves(), shares=(0.5,))
    assert found.by_share == (pytest.approx((0.5, 512 / 1024, 0.0)),) and found.own == pytest.approx(0.5)


def test_sanity_compares_maps_for_the_trained_networks_classes_on_its_layer():
    trained, randomised = HalvesInspector(), HalvesInspector(flip=(1,))
    images = np.concatenate([_halves(), _halves()[:1]])  # classes 0, 1, 0
    # Images 0 and 2 get the same maps (1 each), image 1 the other half's (-1): a mean of 1/3.
    assert sanity(trained, randomised, images) == pytest.approx(1 / 3)
    assert randomised.asked == [([0, 1, 0], "halves")]


@pytest.mark.slow
def test_grad_cam_is_true_to_a_network_trained_on_real_data(real_data_dir, runs_dir):
    """Deletion (Petsiuk et al. 2018) and sanity (Adebayo et al. 2018) on 200 test images."""
    from cifar.data import load_dataset

    result = run_cli("train", "--preset", "quick", "--epochs", "3", "--data", str(real_data_dir), timeout=600)
    assert result.returncode == 0, result.stderr[-2000:]
    run = open_run_dir(result.stdout.splitlines()[0])
    images = load_dataset(real_data_dir).x_test[:200]
    trained = Inspector(open_epoch(run))
    found = deletion(trained, images)
    assert found.own > 1.2 * found.other and found.own - found.other > 0.03, found
    keras.utils.set_random_seed(99)  # the same network, re-initialised at random
    assert sanity(trained, Inspector(build_model(run.config())), images) < 0.3
