"""cifar/data/image_tree.py: an image-folder tree `<root>/{train,test}/<class>/*.png` read as the
pixels synthetic.py wrote, its classes in CIFAR-10's order (or alphabetical for another set),
its progress in images, and every flaw named with its file or folder."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
from PIL import Image
from synthetic import make_images, write_tree

from cifar.data import CLASS_NAMES, DataError, image_tree


def _expected_by_class(count: int, seed: int):
    """make_images' images and labels in the order a tree gives them: class by class, each in file order."""
    images, labels = make_images(count, seed)
    order = np.argsort(labels, kind="stable")
    return images[order], labels[order]


def _remove(folder) -> None:
    shutil.rmtree(folder)


def test_an_image_tree_reads_as_the_pixels_written_in_cifar_label_order(tree_dir):
    (x_train, y_train), (x_test, y_test), class_names = image_tree.read(tree_dir)
    assert class_names == CLASS_NAMES
    expected_train, expected_test = _expected_by_class(200, seed=1), _expected_by_class(100, seed=2)
    # PNG is lossless and files sort in the order they were written.
    np.testing.assert_array_equal(x_train, expected_train[0])
    np.testing.assert_array_equal(y_train, expected_train[1])
    np.testing.assert_array_equal(x_test, expected_test[0])
    np.testing.assert_array_equal(y_test, expected_test[1])


def test_a_tree_root_is_found_itself_or_one_level_down(tree_dir):
    # ../shared's layout: the archive unpacks to cifar10-jpeg/{train,test}
    assert image_tree.find_root(tree_dir.parent) == tree_dir
    assert image_tree.find_root(tree_dir) == tree_dir


def test_the_root_is_the_first_subfolder_by_name_that_has_a_split(tmp_path):
    for name in ("b-copy", "a-copy", "0-notes"):
        (tmp_path / name).mkdir()
    (tmp_path / "b-copy" / "train").mkdir()
    (tmp_path / "a-copy" / "test").mkdir()
    assert image_tree.find_root(tmp_path) == tmp_path / "a-copy"


def test_a_folder_without_any_split_is_no_tree(tmp_path):
    (tmp_path / "photos" / "cat").mkdir(parents=True)
    assert image_tree.find_root(tmp_path) is None


def test_a_jpeg_tree_with_some_of_cifar_s_classes_keeps_their_order(tmp_path):
    root = write_tree(tmp_path / "t", train=40, test=20, suffix=".jpg")
    for split in ("train", "test"):
        for name in CLASS_NAMES[:2]:  # drop airplane and automobile everywhere
            _remove(root / split / name)
    (_, y_train), _, class_names = image_tree.read(root)
    assert class_names == CLASS_NAMES[2:]
    assert set(np.unique(y_train)) == set(range(8))


def test_other_labelled_sets_use_alphabetical_classes(tmp_path):
    for split in ("train", "test"):
        for name in ("zebra", "apple"):
            folder = tmp_path / split / name
            folder.mkdir(parents=True)
            Image.new("RGB", (32, 32), "red").save(folder / "a.png")
    assert image_tree.read(tmp_path)[2] == ("apple", "zebra")


def test_other_suffixes_are_skipped_and_capital_ones_are_read(tmp_path):
    root = write_tree(tmp_path / "t", train=10, test=10)
    (root / "train" / "cat" / "Thumbs.db").write_bytes(b"not an image")
    (root / "train" / "cat" / "notes.txt").write_text("cats")
    Image.new("RGB", (32, 32), (1, 2, 3)).save(root / "train" / "cat" / "zz.PNG")
    (x_train, y_train), _, _ = image_tree.read(root)
    assert len(y_train) == 11
    cat = CLASS_NAMES.index("cat")
    np.testing.assert_array_equal(x_train[y_train == cat][-1], np.full((32, 32, 3), (1, 2, 3), np.uint8))


def test_grey_and_transparent_images_are_read_as_rgb(tmp_path):
    root = write_tree(tmp_path / "t", train=10, test=10)
    Image.new("L", (32, 32), 77).save(root / "test" / "dog" / "zz-grey.png")
    Image.new("RGBA", (32, 32), (10, 20, 30, 0)).save(root / "test" / "dog" / "zz-rgba.png")
    _, (x_test, y_test), _ = image_tree.read(root)
    dogs = x_test[y_test == CLASS_NAMES.index("dog")]
    assert x_test.shape[1:] == (32, 32, 3)
    np.testing.assert_array_equal(dogs[-2], np.full((32, 32, 3), 77, np.uint8))
    np.testing.assert_array_equal(dogs[-1], np.full((32, 32, 3), (10, 20, 30), np.uint8))


def test_a_test_split_may_lack_a_class_that_train_has(tmp_path):
    root = write_tree(tmp_path / "t", train=20, test=10)
    _remove(root / "test" / "truck")
    _, (_, y_test), class_names = image_tree.read(root)
    assert class_names == CLASS_NAMES and len(y_test) == 9
    assert CLASS_NAMES.index("truck") not in y_test


def test_decoding_a_tree_reports_images_done_of_all_images(tmp_path, monkeypatch):
    root = write_tree(tmp_path / "tree", train=200, test=100)
    monkeypatch.setattr(image_tree, "REPORT_EVERY", 50)
    seen = []
    (x_train, _), (x_test, _), _ = image_tree.read(root, seen.append)
    assert {p.total for p in seen} == {300} and {p.unit for p in seen} == {"images"}
    assert [p.done for p in seen] == [50, 100, 150, 200, 250, 300]
    assert seen[-1].describe() == "Decoding CIFAR-10: 300 of 300 images, done"
    np.testing.assert_array_equal(x_train, _expected_by_class(200, seed=1)[0])
    np.testing.assert_array_equal(x_test, _expected_by_class(100, seed=2)[0])


def test_a_tree_whose_count_is_not_a_multiple_still_ends_at_the_total(tmp_path, monkeypatch):
    root = write_tree(tmp_path / "tree", train=23, test=11)
    monkeypatch.setattr(image_tree, "REPORT_EVERY", 10)
    seen = []
    image_tree.read(root, seen.append)
    assert [p.done for p in seen] == [10, 20, 30, 34] and seen[-1].total == 34


def test_a_tree_without_a_test_folder_says_so(tmp_path):
    root = write_tree(tmp_path / "t", train=20, test=10)
    _remove(root / "test")
    with pytest.raises(DataError, match="no test/ folder"):
        image_tree.read(root)


def test_a_train_split_without_class_folders_says_what_it_expects(tmp_path):
    root = write_tree(tmp_path / "t", train=20, test=10)
    _remove(root / "train")
    (root / "train").mkdir()
    with pytest.raises(DataError, match=r"train has no class folders \(expected e\.g\. train/cat/\)"):
        image_tree.read(root)


def test_a_class_only_in_test_is_named(tmp_path):
    root = write_tree(tmp_path / "t", train=20, test=10)
    (root / "test" / "kangaroo").mkdir()
    with pytest.raises(DataError, match=r"class folder\(s\) kangaroo that train/ does not"):
        image_tree.read(root)


def test_unknown_class_folder_is_named(tmp_path):
    root = write_tree(tmp_path / "t", train=20, test=10)
    (root / "train" / "kangaroo").mkdir()
    with pytest.raises(DataError, match="kangaroo"):
        image_tree.read(root)


def test_a_split_without_images_is_named(tmp_path):
    root = write_tree(tmp_path / "t", train=20, test=10)
    for file in (root / "test").rglob("*.png"):
        file.rename(file.with_suffix(".txt"))
    with pytest.raises(DataError, match=r"test has no images \(\.png, \.jpg"):
        image_tree.read(root)


def test_unreadable_image_is_named(tmp_path):
    root = write_tree(tmp_path / "t", train=20, test=10)
    bad = root / "train" / "dog" / "broken.png"
    bad.write_bytes(b"this is not a png")
    with pytest.raises(DataError, match=r"broken\.png"):
        image_tree.read(root)


def test_wrong_image_size_is_named(tmp_path):
    root = write_tree(tmp_path / "t", train=20, test=10)
    Image.new("RGB", (64, 64)).save(root / "test" / "cat" / "big.png")
    with pytest.raises(DataError, match=r"big.png is 64×64"):
        image_tree.read(root)
