"""bench/ runs from a plain install: no bench module imports the test suite (`tests`) or pytest.

Imports are read with `ast`, at module level and inside functions alike (and under `if TYPE_CHECKING:`),
together with `importlib.import_module("…")` and `__import__("…")` calls naming a module in a string,
so that neither a deferred nor a dynamic import can hide one. The checker is tried on planted files
first, so that a checker that finds nothing cannot pass for a clean bench/.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BENCH = ROOT / "bench"
FORBIDDEN = ("tests", "pytest", "_pytest")  # top-level packages bench/ must not import
DYNAMIC = ("import_module", "__import__")


def _imported(node: ast.AST) -> list[tuple[int, str]]:
    """(line, module name) of whatever `node` imports by name; relative imports stay inside bench."""
    if isinstance(node, ast.Import):
        return [(node.lineno, alias.name) for alias in node.names]
    if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
        return [(node.lineno, node.module)]
    if isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant):
        func = node.func
        name = func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else ""
        if name in DYNAMIC and isinstance(node.args[0].value, str):
            return [(node.lineno, node.args[0].value)]
    return []


def forbidden_imports(path: Path) -> list[str]:
    """`path:line: module` for every import of a FORBIDDEN package in the file."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    return [
        f"{path.name}:{line}: {module}"
        for node in ast.walk(tree)
        for line, module in _imported(node)
        if module.split(".", 1)[0] in FORBIDDEN
    ]


BENCH_FILES = sorted(BENCH.rglob("*.py"))


@pytest.mark.parametrize(
    "source, found",
    [
        ("import pytest\n", ["pytest"]),
        ("from tests.support.server import start_server\n", ["tests.support.server"]),
        ("import os, tests.support.postgres as pg\n", ["tests.support.postgres"]),
        ("def f():\n    from tests import conftest\n", ["tests"]),
        ("if TYPE_CHECKING:\n    import _pytest.fixtures\n", ["_pytest.fixtures"]),
        ("import importlib\nimportlib.import_module('tests.support.blobs')\n", ["tests.support.blobs"]),
        ("__import__('pytest')\n", ["pytest"]),
        # names that merely start alike, bench's own modules and relative imports are fine
        ("import testsuite\nimport pytest_timeout\nfrom bench.server import start\nfrom . import sign\n", []),
        ("from s3server.metadata.base import Bucket\nimport importlib\nimportlib.import_module(name)\n", []),
    ],
    ids=[
        "import-pytest", "from-tests", "aliased", "in-function", "type-checking", "import_module",
        "__import__", "look-alikes", "clean",
    ],
)  # fmt: skip
def test_checker_flags_planted_imports(tmp_path: Path, source: str, found: list[str]) -> None:
    planted = tmp_path / "planted.py"
    planted.write_text(source)
    assert [entry.rsplit(": ", 1)[1] for entry in forbidden_imports(planted)] == found


def test_bench_has_its_modules() -> None:
    names = {path.stem for path in BENCH_FILES}
    assert {"__main__", "server", "client", "loadgen", "storage", "ops", "listing", "versions"} <= names


@pytest.mark.parametrize("path", BENCH_FILES, ids=[p.stem for p in BENCH_FILES])
def test_bench_module_imports_neither_tests_nor_pytest(path: Path) -> None:
    assert forbidden_imports(path) == []


def test_bench_modules_import_without_tests_or_pytest() -> None:
    """What the parse cannot see (an import reached through another package): every workload module
    imports in a fresh interpreter in which `tests` and `pytest` cannot be imported at all."""
    modules = [f"bench.{p.stem}" for p in BENCH_FILES if p.stem not in ("__init__", "__main__")]
    script = (
        "import sys\n"
        f"for name in {FORBIDDEN!r}:\n"
        "    sys.modules[name] = None  # an import of it raises ImportError\n"
        "import importlib\n"
        f"for module in {modules!r}:\n"
        "    importlib.import_module(module)\n"
        "print('ok')\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr[-3000:]
