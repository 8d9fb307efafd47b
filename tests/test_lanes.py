"""tests/xdist_lanes.py: the class-sized browser files are one unit for the two test workers,
and the workers take the unit first, then the one-core files, then the other slow files."""

from __future__ import annotations

from dataclasses import dataclass

from helpers import ROOT
from xdist_lanes import CLASS_SIZED, CLASS_SIZED_UNIT, run_order, unit_of


@dataclass
class Item:
    nodeid: str


def test_the_class_sized_files_are_there():
    assert all((ROOT / name).is_file() for name in CLASS_SIZED), "rename them here too"


def test_the_class_sized_files_are_one_unit_and_every_other_file_its_own():
    assert {unit_of(f"{name}::test_x") for name in CLASS_SIZED} == {CLASS_SIZED_UNIT}
    assert unit_of("tests/test_board.py::test_a[1]") == "tests/test_board.py"
    assert unit_of("tests/test_board.py::Case::test_b") == "tests/test_board.py"


def test_the_unit_goes_first_then_one_core_files_then_the_other_slow_files():
    names = [
        "tests/test_best.py::test_slow",
        "tests/test_atomic.py::test_one",
        CLASS_SIZED[1] + "::test_ten",
        "tests/test_atomic.py::test_two",
        CLASS_SIZED[0] + "::test_thirty",
        "tests/test_board.py::test_three",
    ]
    ordered = [item.nodeid for item in run_order([Item(name) for name in names], {"tests/test_best.py"})]
    assert ordered == [
        CLASS_SIZED[1] + "::test_ten",  # the unit, in collection order
        CLASS_SIZED[0] + "::test_thirty",
        "tests/test_atomic.py::test_one",  # files without a slow test, each in its own order
        "tests/test_atomic.py::test_two",
        "tests/test_board.py::test_three",
        "tests/test_best.py::test_slow",  # the other slow files last
    ]
