"""How the code is kept: small functions and classes, the package free of Streamlit, each
config field named where it is described and where it is used, and no more."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest
from helpers import ROOT

from cifar.config.settings import FIELDS

APP_CODE = sorted([*(ROOT / "cifar").rglob("*.py"), *(ROOT / "pages").rglob("*.py"), ROOT / "streamlit_app.py"])
MAX_FUNCTION_LINES, MAX_CLASS_LINES = 60, 120
# The training loop's own settings: the trainer, the time estimate and the progress all use
# them, besides the network. Every other field is the table's entry and its use in the network.
# The training loop's own fields; the learning rate and the epochs are also steered while it runs.
# Fields the trainer reads too: the input pipeline flips in turn, the whitening layer is set from
# the training images.
TRAINING_LOOP_FIELDS = {
    "batch_size",
    "epochs",
    "train_size",
    "holdout",
    "seed",
    "learning_rate",
    "alternating_flip",
    "whiten",
}


def _relative(path: Path) -> str:
    return str(path.relative_to(ROOT))


def _definitions(path: Path):
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            yield node, node.end_lineno - node.lineno + 1


def test_no_function_over_60_lines_and_no_class_over_120():
    too_long = [
        f"{_relative(path)}:{node.lineno} {node.name} ({lines} lines)"
        for path in APP_CODE
        for node, lines in _definitions(path)
        if lines > (MAX_CLASS_LINES if isinstance(node, ast.ClassDef) else MAX_FUNCTION_LINES)
    ]
    assert not too_long, "split these: " + "; ".join(too_long)


def test_the_package_never_imports_streamlit():
    importers = []
    for path in (ROOT / "cifar").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            modules = [alias.name for alias in node.names] if isinstance(node, ast.Import) else []
            if isinstance(node, ast.ImportFrom) and node.module:
                modules = [node.module]
            if any(module.split(".")[0] == "streamlit" for module in modules):
                importers.append(_relative(path))
    assert not importers


def _identifiers(path: Path) -> set[str]:
    """Every name, attribute, keyword and string constant in the file's code (not its comments)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Attribute):
            found.add(node.attr)
        elif isinstance(node, ast.Name):
            found.add(node.id)
        elif isinstance(node, ast.keyword) and node.arg:
            found.add(node.arg)
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            found.add(node.value)
    return found


@pytest.mark.parametrize("name", sorted(set(FIELDS) - TRAINING_LOOP_FIELDS))
def test_a_model_field_is_named_only_where_it_is_described_and_where_the_network_uses_it(name):
    """The field table and the presets (cifar/config/) and its use in building or counting the
    network (cifar/network/): widgets, flags, validation and comparisons are all made from the
    table, so no other file needs the field's name."""
    naming = sorted(_relative(path) for path in APP_CODE if name in _identifiers(path))
    assert "cifar/config/settings.py" in naming
    assert not [path for path in naming if not path.startswith(("cifar/config/", "cifar/network/"))], naming


def _readme_rooms() -> dict[str, set[str]]:
    """The README's table of rooms: for each room, the modules its rows name."""
    readme = (ROOT / "README.md").read_text()
    section = readme[readme.index("## How it fits together") :]
    rooms: dict[str, set[str]] = {}
    room = ""
    for line in section.splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if len(cells) != 3 or not line.startswith("|") or cells[0] == "room" or cells[0].startswith("---"):
            continue
        room = cells[0].strip("`") or room
        rooms.setdefault(room, set()).update(re.findall(r"`(\w+\.py)`", cells[1]))
    return rooms


def test_the_readme_names_every_module_in_its_room():
    rooms = _readme_rooms()
    missing = []
    for path in sorted((ROOT / "cifar").rglob("*.py")):
        if path.name in ("__init__.py", "__main__.py"):
            continue
        room = path.parent.name if path.parent.name != "cifar" else "bottom"
        if path.name not in rooms.get(room, set()):
            missing.append(_relative(path))
    assert not missing, f"the README's rooms table lacks {missing}"
    assert set(rooms) == {
        "bottom",
        *(path.name for path in (ROOT / "cifar").iterdir() if (path / "__init__.py").exists()),
    }


# Where two rooms have a module of the same name, the one named here has test_<module>.py and
# the other test_<room>_<module>.py, so that neither is taken for the other's.
PLAIN_TEST_NAME = {
    "attack": "study",
    "audit": "runs",
    "control": "runs",
    "estimate": "launch",
    "explain": "study",
    "progress": "runs",
}


def _test_files_for(path: Path, stems: set[str]) -> list[str]:
    """The names a module's own test file may have: test_<module>.py (for a module whose name is
    its own, or the room PLAIN_TEST_NAME names), test_<room>_<module>.py, and test_<room>.py for
    a room's main.py."""
    room, module = path.parent.name, path.stem
    names = [f"test_{room}_{module}.py"]
    if module not in stems or PLAIN_TEST_NAME.get(module) == room:
        names.append(f"test_{module}.py")
    return [*names, f"test_{room}.py"] if module == "main" else names


def test_every_module_of_the_package_has_a_test_module_of_its_own():
    modules = [
        path for path in sorted((ROOT / "cifar").rglob("*.py")) if path.name not in ("__init__.py", "__main__.py")
    ]
    seen = [path.stem for path in modules]
    shared = {stem for stem in seen if seen.count(stem) > 1}
    assert shared == set(PLAIN_TEST_NAME), f"name which room's {shared} gets the plain test name"
    missing = [
        _relative(path)
        for path in modules
        if not any((ROOT / "tests" / name).is_file() for name in _test_files_for(path, shared))
    ]
    assert not missing, f"no test module for {missing}"
