"""The package's shape: its public API, and functions short enough to read at once.

Which layer may import which is checked by import-linter (`make check`, contracts in
pyproject.toml).
"""

import ast
import importlib
import importlib.metadata
import tomllib
from pathlib import Path

import pytest

import rag

PACKAGE = Path(rag.__file__).parent
MAX_FUNCTION_LINES = 80


def test_every_public_name_is_importable_from_rag_and_is_its_home_objects() -> None:
    for name in rag.__all__:
        value = getattr(rag, name)
        if name != "__version__":
            home = importlib.import_module(value.__module__)
            assert getattr(home, name) is value, name
    assert set(dir(rag)) == set(rag.__all__)


def test_the_version_is_the_one_pyproject_gives() -> None:
    pyproject = tomllib.loads((PACKAGE.parent / "pyproject.toml").read_text(encoding="utf-8"))
    assert rag.__version__ == importlib.metadata.version("rag") == pyproject["project"]["version"]


def test_no_module_of_the_package_imports_from_rag_itself() -> None:
    """`rag/__init__.py` is the API for users; the package's own modules import the modules
    that hold the names, so that no layer climbs back to the top."""
    climbing = []
    for path in sorted(PACKAGE.rglob("*.py")):
        if path == PACKAGE / "__init__.py":
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module == "rag" and not node.level:
                climbing.append(f"{path.relative_to(PACKAGE)}:{node.lineno}")
    assert not climbing, climbing


def test_an_unknown_name_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match="no_such_thing"):
        rag.no_such_thing  # noqa: B018


def test_the_public_api_answers_a_question(default_index: "rag.Index") -> None:
    from rag import SearchFilters, SearchResponse, search

    response = search(default_index, "Qui est le maire de Hangzhou ?", 3, filters=SearchFilters())
    assert isinstance(response, SearchResponse)
    assert len(response.results) == 3


def test_no_function_in_the_package_is_longer_than_80_lines() -> None:
    long = []
    for path in sorted(PACKAGE.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                lines = (node.end_lineno or node.lineno) - node.lineno + 1
                if lines > MAX_FUNCTION_LINES:
                    long.append(f"{path.relative_to(PACKAGE)}:{node.lineno} {node.name} ({lines})")
    assert not long, long


def test_test_files_have_unique_names() -> None:
    """pytest imports test files by name: two `test_x.py` in different folders collide."""
    names = [p.name for p in (PACKAGE.parent / "tests").rglob("test_*.py")]
    assert len(names) == len(set(names)), sorted(n for n in names if names.count(n) > 1)


def test_no_folder_holds_more_than_35_percent_of_the_package() -> None:
    lines = {
        path: len(path.read_text(encoding="utf-8").splitlines()) for path in PACKAGE.rglob("*.py")
    }
    total = sum(lines.values())
    folders = {p.relative_to(PACKAGE).parts[0] for p in lines if p.parent != PACKAGE}
    shares = {
        folder: sum(n for p, n in lines.items() if p.relative_to(PACKAGE).parts[0] == folder)
        / total
        for folder in folders
    }
    assert {"index", "indexing", "retrieval", "service"} <= set(shares)
    assert max(shares.values()) <= 0.35, shares
