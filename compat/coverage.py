"""Which test modules exercise which operation, read from the tests themselves.

A module exercises an operation when it names it the way a client would: boto3's method
(`list_objects_v2`), the aws cli's s3api command (`list-objects-v2`), the JavaScript SDK's command
(`ListObjectsV2Command`) or the AWS name itself (`"ListObjectsV2"`). Whole words only, so
`put_object` does not count for `put_object_tagging`. Reading the tests instead of keeping a mapping
by hand means the matrix changes when the tests do.
"""

from __future__ import annotations

import functools
import io
import re
import tokenize
from collections.abc import Iterable
from pathlib import Path

from botocore import xform_name

ROOT = Path(__file__).resolve().parent.parent

# Folders of tests that speak S3 to a live server, and the suite name each gets in the matrix. Unit
# tests are left out: their `create_bucket` is a metadata store's method, not the S3 operation.
SUITES: dict[str, str] = {
    "tests/integration": "integration",
    "tests/reliability": "reliability",
    "s3-compat-tests": "clients",
}
_SOURCE_SUFFIXES = {".py", ".mjs", ".js"}


def test_modules(root: Path = ROOT) -> list[Path]:
    """Every test module of every suite (`test_*.py`, and the client scripts the client suite runs)."""
    found: list[Path] = []
    for folder in SUITES:
        base = root / folder
        if not base.is_dir():
            continue
        for path in sorted(base.rglob("*")):
            if "node_modules" in path.parts or path.suffix not in _SOURCE_SUFFIXES:
                continue
            if path.suffix == ".py" and not path.name.startswith("test_"):
                continue
            found.append(path)
    return found


def module_label(path: Path, root: Path = ROOT) -> tuple[str, str]:
    """(suite, module) for a test file: ("integration", "test_objects")."""
    rel = path.relative_to(root).as_posix()
    for folder, suite in SUITES.items():
        if rel.startswith(folder + "/"):
            return suite, rel[len(folder) + 1 :].rsplit(".", 1)[0]
    raise ValueError(f"{rel} is in no test suite")


@functools.cache
def _pattern(operation: str) -> re.Pattern[str]:
    snake = xform_name(operation)
    spellings = {operation, f"{operation}Command", snake, snake.replace("_", "-")}
    alternatives = "|".join(sorted((re.escape(s) for s in spellings), key=len, reverse=True))
    return re.compile(rf"(?<![\w-])(?:{alternatives})(?![\w-])")


def code_text(path: Path) -> str:
    """A module's source without its comments: a comment mentioning an operation does not call it."""
    text = path.read_text(errors="replace")
    if path.suffix != ".py":
        return re.sub(r"^\s*//.*$", "", text, flags=re.MULTILINE)
    try:
        tokens = list(tokenize.generate_tokens(io.StringIO(text).readline))
    except (tokenize.TokenError, SyntaxError):
        return text
    return " ".join(t.string for t in tokens if t.type != tokenize.COMMENT)


def exercised_by(operations: Iterable[str], root: Path = ROOT) -> dict[str, list[tuple[str, str]]]:
    """Operation → the (suite, module) pairs whose code names it, in suite then module order."""
    modules = [(module_label(path, root), code_text(path)) for path in test_modules(root)]
    result: dict[str, list[tuple[str, str]]] = {}
    for op in operations:
        pattern = _pattern(op)
        result[op] = [label for label, text in modules if pattern.search(text)]
    return result
