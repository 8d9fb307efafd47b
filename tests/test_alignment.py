"""cifar/data/alignment.py: arrays that start on a 64-byte boundary, C-ordered and writeable, so
that TensorFlow can use their memory in place; `aligned` copies only an array that is not one."""

from __future__ import annotations

import numpy as np
import pytest

from cifar.data import alignment

BOUNDARY = 64  # bytes: what TensorFlow asks of memory it uses in place


def _usable_in_place(array: np.ndarray) -> bool:
    return array.ctypes.data % BOUNDARY == 0 and array.flags.c_contiguous and array.flags.writeable


def test_aligned_copies_only_what_is_not_aligned():
    array = alignment.aligned_empty((5, 32, 32, 3), np.uint8)
    assert array.ctypes.data % alignment.ALIGNMENT == 0 and alignment.aligned(array) is array
    offset = np.arange(1001, dtype=np.uint8)[1:]  # starts one byte past an allocation
    moved = alignment.aligned(offset)
    assert moved is not offset and moved.ctypes.data % alignment.ALIGNMENT == 0
    np.testing.assert_array_equal(moved, offset)


@pytest.mark.parametrize(
    ("shape", "dtype"),
    [((5, 32, 32, 3), np.uint8), ((7,), np.uint8), ((3, 5), np.float32), ((2, 3, 4), np.int64)],
)
def test_an_aligned_empty_array_has_the_shape_and_type_asked_for_and_starts_on_the_boundary(shape, dtype):
    array = alignment.aligned_empty(shape, dtype)
    assert array.shape == shape and array.dtype == np.dtype(dtype)
    assert _usable_in_place(array)


def test_aligned_empty_arrays_made_one_after_another_each_start_on_the_boundary():
    # Odd sizes leave the allocator's next block anywhere: every array must still be aligned.
    arrays = [alignment.aligned_empty((size,), np.uint8) for size in range(1, 200, 7)]
    assert all(_usable_in_place(array) for array in arrays)


def test_an_aligned_empty_array_can_be_filled_without_touching_another():
    first = alignment.aligned_empty((10, 3), np.int32)
    second = alignment.aligned_empty((10, 3), np.int32)
    first[...] = np.arange(30).reshape(10, 3)
    second[...] = -1
    np.testing.assert_array_equal(first, np.arange(30).reshape(10, 3))


def _aligned_copy(array: np.ndarray) -> np.ndarray:
    # The cases below start from aligned memory, so that one flaw alone is what needs the copy.
    copy = alignment.aligned_empty(array.shape, array.dtype)
    copy[...] = array
    return copy


def _read_only(array: np.ndarray) -> np.ndarray:
    array.flags.writeable = False
    return array


@pytest.mark.parametrize(
    "make",
    [
        pytest.param(lambda: _aligned_copy(np.arange(65, dtype=np.uint8))[1:], id="one-byte-off"),
        pytest.param(lambda: _aligned_copy(np.arange(60, dtype=np.float32).reshape(5, 4, 3)).T, id="fortran"),
        pytest.param(lambda: _aligned_copy(np.arange(60, dtype=np.uint8).reshape(6, 10))[:, ::2], id="strided"),
        pytest.param(lambda: _read_only(_aligned_copy(np.arange(60, dtype=np.uint8).reshape(6, 10))), id="read-only"),
    ],
)
def test_an_array_that_cannot_be_used_in_place_becomes_an_aligned_copy_with_the_same_values(make):
    original = make()
    expected = np.array(original, copy=True)
    moved = alignment.aligned(original)
    assert moved is not original and not np.shares_memory(moved, original)
    assert _usable_in_place(moved) and moved.dtype == original.dtype
    np.testing.assert_array_equal(moved, expected)
