"""cifar/data/dataset.py: what every part of the loader shares: CIFAR-10's class names in its own
label order, where the official archive is, the `Dataset`, and `UnusableSource`, whose message
is the problem followed by where to get the data."""

from __future__ import annotations

import dataclasses
import urllib.parse

import numpy as np
import pytest

from cifar.data import CLASS_NAMES, DataError, Dataset, UnusableSource
from cifar.data import dataset as dataset_module

# The label order of the official batches.meta, as published on https://www.cs.toronto.edu/~kriz/cifar.html.
PUBLISHED_CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")


def _dataset(class_names=CLASS_NAMES) -> Dataset:
    images = np.zeros((2, 32, 32, 3), np.uint8)
    labels = np.zeros(2, np.uint8)
    return Dataset(images, labels, images, labels, class_names, "here")


def test_the_class_names_are_cifar_10_s_in_its_label_order():
    assert CLASS_NAMES == PUBLISHED_CLASSES


def test_the_archive_name_is_the_last_part_of_the_official_url_on_the_official_page():
    url = urllib.parse.urlsplit(dataset_module.OFFICIAL_ARCHIVE_URL)
    page = urllib.parse.urlsplit(dataset_module.OFFICIAL_PAGE_URL)
    assert url.scheme == "https" and url.netloc == page.netloc == "www.cs.toronto.edu"
    assert url.path.rsplit("/", 1) == [page.path.rsplit("/", 1)[0], "cifar-10-python.tar.gz"]
    assert dataset_module.ARCHIVE_NAME == "cifar-10-python.tar.gz"


def test_the_advice_names_the_archive_its_url_and_every_way_to_point_at_a_copy():
    advice = dataset_module.HOW_TO_GET_DATA
    assert "cifar-10-python.tar.gz" in advice and "163 MB" in advice
    assert "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz" in advice
    assert "CIFAR10_DIR" in advice and "cifar-10-batches-py" in advice and "--data PATH" in advice
    assert "<root>/train/<class>/*.png" in advice and "<root>/test/<class>/*.png" in advice


def test_an_unusable_source_says_the_problem_then_where_to_get_the_data():
    error = UnusableSource("No CIFAR-10 data at /x.")
    assert isinstance(error, DataError)
    assert error.problem == "No CIFAR-10 data at /x."
    assert str(error) == "No CIFAR-10 data at /x. " + dataset_module.HOW_TO_GET_DATA


def test_an_unusable_source_is_caught_as_a_data_error():
    with pytest.raises(DataError, match=r"^nothing here Download the CIFAR-10 python archive"):
        raise UnusableSource("nothing here")


def test_the_number_of_classes_is_the_number_of_class_names():
    assert _dataset().num_classes == 10
    assert _dataset(("apple", "zebra")).num_classes == 2


def test_a_dataset_cannot_be_changed_once_made():
    dataset = _dataset()
    with pytest.raises(dataclasses.FrozenInstanceError):
        dataset.source = "elsewhere"
