"""The house: `cifar/` in rooms by job, each importing only the rooms below it (imports inside
functions included); backends told apart in one place; status written in two."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest
from helpers import ROOT

# A room may import the rooms of a lower level, never its own level's others or a higher one
# (../shared/DESIGN.md, "The rooms"). `config` and `data` sit side by side above the bottom.
LEVELS = {
    "errors": 0,
    "atomic": 1,
    "config": 2,
    "data": 2,
    "network": 3,
    "runs": 4,
    "training": 5,
    "launch": 6,
    "study": 7,
    "classroom": 8,
    "cli": 9,
    "__main__": 10,
}
# Imports of the package inside a function, each with its reason; any other is a hidden arrow.
LAZY_IMPORTS = {
    # The trainer's entry says in words that a Python lacks NumPy or TensorFlow; fit imports both.
    ("cifar/training/process.py", "cifar.training.fit"),
    # The learning-rate schedule is a Keras class. build.py serves the launcher and the pages,
    # which need no Keras, and imports Keras only when it builds a model; saving.py is imported
    # by the trainer's writer before it checks its packages, and needs Keras only to load one.
    ("cifar/network/build.py", "cifar.network.schedule"),
    ("cifar/network/saving.py", "cifar.network.schedule"),
    # Our own layer (BatchNorm's faster offset) is a Keras class too, for the same reasons.
    ("cifar/network/build.py", "cifar.network.layers"),
    ("cifar/network/saving.py", "cifar.network.layers"),
}
CODE = sorted([*(ROOT / "cifar").rglob("*.py"), *(ROOT / "pages").rglob("*.py"), ROOT / "streamlit_app.py"])


def _relative(path: Path) -> str:
    return str(path.relative_to(ROOT))


def _room(module: str) -> str:
    parts = module.split(".")
    if parts[0] in ("pages", "streamlit_app"):
        return parts[0]
    return parts[1] if len(parts) > 1 else "cifar"


def _imports(path: Path) -> list[tuple[str, bool, int]]:
    """(module imported, inside a function, line) for every import of the package or the pages."""
    tree = ast.parse(path.read_text())
    inside = {id(node) for function in ast.walk(tree) if isinstance(function, ast.FunctionDef | ast.AsyncFunctionDef)
              for node in ast.walk(function)}  # fmt: skip
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            modules = [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
            modules = [module for module in modules if _exists(module)][-1:] or [node.module]
        elif isinstance(node, ast.Import):
            modules = [alias.name for alias in node.names]
        else:
            continue
        found += [(module, id(node) in inside, node.lineno) for module in modules]
    return [entry for entry in found if entry[0].split(".")[0] in ("cifar", "pages")]


def _exists(module: str) -> bool:
    path = ROOT.joinpath(*module.split("."))
    return path.with_suffix(".py").is_file() or (path / "__init__.py").is_file() or path.is_dir()


def _allowed(importer: str, module: str) -> bool:
    """Whether module `importer` (dotted, as `cifar.runs.run`) may import `module`."""
    room, target = _room(importer), _room(module)
    if room in ("pages", "streamlit_app"):
        return target not in ("cli", "__main__")
    if target == "pages" or target == room or room == "cifar":
        return target == room
    return LEVELS[target] < LEVELS[room]


def test_a_room_imports_only_the_rooms_below_it_and_never_the_pages():
    wrong = []
    for path in CODE:
        name = _relative(path).removesuffix(".py").replace("/", ".")
        for module, _, line in _imports(path):
            if not _allowed(name, module):
                wrong.append(f"{_relative(path)}:{line} ({_room(name)}) imports {module} ({_room(module)})")
    assert not wrong, "\n".join(wrong)


def test_no_import_of_the_package_hides_inside_a_function():
    hidden = [
        f"{_relative(path)}:{line} {module}"
        for path in CODE
        for module, inside, line in _imports(path)
        if inside and (_relative(path), module) not in LAZY_IMPORTS
    ]
    assert not hidden, "move to the top of the file, or the code to the room it belongs in: " + "; ".join(hidden)


@pytest.mark.parametrize(
    ("importer", "module", "allowed"),
    [
        ("cifar.launch.launcher", "cifar.runs.run", True),
        ("cifar.runs.run", "cifar.launch.launcher", False),  # up
        ("cifar.config.settings", "cifar.data.dataset", False),  # side by side
        ("cifar.data.cache", "cifar.config.settings", False),
        ("cifar.runs.writer", "cifar.runs.status", True),  # its own room
        ("cifar.study.compare", "cifar.cli.main", False),
        ("cifar.cli.main", "cifar.classroom.board", True),
        ("cifar.errors", "cifar.atomic", False),
        ("cifar.__main__", "cifar.cli.main", True),
        ("pages.train", "cifar.launch.launcher", True),
        ("pages.train", "cifar.cli.main", False),
        ("cifar.study.charts", "pages.shared.common", False),
        ("streamlit_app", "pages.shared.common", True),
    ],
)
def test_the_directions_as_the_check_reads_them(importer, module, allowed):
    assert _allowed(importer, module) is allowed


def test_the_check_reads_imports_at_the_top_and_inside_functions(tmp_path):
    written = tmp_path / "sample.py"
    written.write_text("from cifar.launch.launcher import launch\n\ndef f():\n    from cifar.study import charts\n")
    assert _imports(written) == [("cifar.launch.launcher", False, 1), ("cifar.study.charts", True, 4)]


def _code_lines(path: Path) -> str:
    """The file's code without its comments and docstrings: what it does, not what it says."""
    tree = ast.parse(path.read_text())
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if (
            isinstance(body, list)
            and body
            and isinstance(body[0], ast.Expr)
            and isinstance(body[0].value, ast.Constant)
        ):
            body.pop(0)
    return ast.unparse(tree)


def test_only_the_ray_backend_and_the_map_name_a_backend():
    """No code outside the Ray backend's own file and the name-to-backend map names it, and no
    code compares a backend's name or checks a backend's class."""
    naming = sorted(_relative(path) for path in CODE if re.search(r"""["']ray["']|RayBackend""", _code_lines(path)))
    assert naming == ["cifar/launch/backends.py", "cifar/launch/ray_backend.py"], naming
    comparing = [
        _relative(path)
        for path in CODE
        if re.search(r"\.backend\s*[!=]=|[!=]=\s*\w+\.backend\b|isinstance\([^)]*Backend", _code_lines(path))
    ]
    assert not comparing, comparing


def test_a_runs_status_is_written_by_the_trainer_and_the_launcher_only():
    writers = sorted(_relative(path) for path in CODE if "write_status(" in _code_lines(path))
    assert writers == ["cifar/launch/launcher.py", "cifar/runs/status.py", "cifar/runs/writer.py"], writers
