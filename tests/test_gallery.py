from __future__ import annotations

import numpy as np
import pytest

from cifar.errors import ConfigError
from cifar.study.gallery import class_counts, enlarge, filter_predictions, page_of, samples_per_class

LABELS = np.array([0, 0, 1, 1, 2])
# image:            0 right 0.9   1 wrong(->1) 0.8   2 right 0.6   3 wrong(->0) 0.5   4 right 0.7
PROBABILITIES = np.array(
    [[0.9, 0.05, 0.05], [0.1, 0.8, 0.1], [0.2, 0.6, 0.2], [0.5, 0.3, 0.2], [0.2, 0.1, 0.7]], dtype=np.float16
)


def test_class_counts_and_samples():
    assert class_counts(LABELS, 4) == [2, 2, 1, 0]
    samples = samples_per_class(np.repeat(np.arange(3), 10), 3, per_class=4, seed=1)
    assert [len(s) for s in samples] == [4, 4, 4]
    assert all((s // 10 == c).all() for c, s in enumerate(samples))
    assert [s.tolist() for s in samples] == [
        s.tolist() for s in samples_per_class(np.repeat(np.arange(3), 10), 3, 4, 1)
    ]


def test_enlarge_is_nearest_neighbour():
    image = np.array([[[0, 0, 0], [255, 255, 255]]], dtype=np.uint8)  # 1×2
    big = enlarge(image, 3)
    assert big.shape == (3, 6, 3)
    assert (big[:, :3] == 0).all() and (big[:, 3:] == 255).all()


def test_confident_mistakes_first_is_the_default():
    assert filter_predictions(LABELS, PROBABILITIES).tolist() == [1, 3, 0, 4, 2]


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        ({"correctness": "wrong"}, [1, 3]),
        ({"correctness": "right", "sort": "least confident first"}, [2, 4, 0]),
        ({"true_class": 1}, [3, 2]),
        ({"predicted_class": 1, "sort": "test-set order"}, [1, 2]),
        ({"confidence": (0.55, 0.85), "sort": "most confident first"}, [1, 4, 2]),
        ({"true_class": 2, "correctness": "wrong"}, []),
    ],
)
def test_filters(options, expected):
    assert filter_predictions(LABELS, PROBABILITIES, **options).tolist() == expected


def test_bad_filter_values_are_refused():
    with pytest.raises(ConfigError, match="correctness must be"):
        filter_predictions(LABELS, PROBABILITIES, correctness="maybe")
    with pytest.raises(ConfigError, match="sort must be one of"):
        filter_predictions(LABELS, PROBABILITIES, sort="random")


def test_paging_clamps():
    indices = np.arange(25)
    page = page_of(indices, 3, per_page=10)
    assert page.indices.tolist() == list(range(20, 25)) and (page.number, page.count, page.total) == (3, 3, 25)
    assert page_of(indices, 99, 10).number == 3 and page_of(indices, 0, 10).number == 1
    empty = page_of(np.array([], dtype=int), 1, 10)
    assert empty.count == 1 and empty.indices.tolist() == []


def test_strip_lays_images_side_by_side():
    from cifar.study.gallery import strip

    images = np.zeros((3, 2, 2, 3), dtype=np.uint8)
    row = strip(images, scale=2, gap=1)
    assert row.shape == (4, 3 * 4 + 2 * 1, 3)
    assert (row[:, 4] == 255).all() and (row[:, :4] == 0).all()
