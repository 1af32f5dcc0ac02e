"""The layer order of the house: no module imports one from a layer above its own, and no import circles.

Imports are read with `ast` from every module of `s3server` and `ui`, at module level and inside
functions alike (and under `if TYPE_CHECKING:`), so a deferred import cannot hide an upward one.
Where a lower layer needs something of a higher one, it is handed in from above (app.py, ui.server),
not imported. And SQL lives only in the stores: no other module holds a statement or a database driver.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("s3server", "ui")

# Lowest first. A module belongs to the first layer with a prefix that names it or a package it is
# in (the most specific prefix wins); it may import modules of its own layer and of the layers below.
LAYERS: list[tuple[str, tuple[str, ...]]] = [
    ("leaf utilities", ("s3server", "s3server.config", "s3server.tls", "s3server.sqlitedb", "s3server.pgdb")),
    # Storage nodes: the signed protocol and the gateway's remote BlobStore are storage; the
    # cluster's repair and reaper passes sit beside the reaper; the node's own server is a process.
    ("stores", ("s3server.storage", "s3server.metadata", "s3server.identity", "s3server.node")),
    ("orchestration", ("s3server.saga", "s3server.reaper", "s3server.faults", "s3server.node.cluster")),
    # The S3 wire vocabulary (the error catalogue, the one XML parser, shared helpers) sits below
    # access control, which parses S3 documents (ACL, policy, CORS) and answers with S3 errors.
    ("s3 vocabulary", ("s3server.s3.errors", "s3server.s3.xml", "s3server.s3.common")),
    ("access", ("s3server.access",)),
    ("s3", ("s3server.s3",)),
    ("gateway", ("s3server.gateway",)),
    # The lifecycle worker applies S3 rules (s3.lifecycle) through the saga, as the admin API does.
    ("ops", ("s3server.ops", "s3server.lifecycle")),
    # The console is its own aiohttp app that speaks S3 over HTTP; it uses only the leaf utilities,
    # and `s3server serve` starts it, so it sits below the process layer.
    ("ui", ("ui",)),
    (
        "process",
        (
            "s3server.app",
            "s3server.cli",
            "s3server.admin_cli",
            "s3server.nodes_cli",
            "s3server.kms_cli",
            "s3server.store_cli",
            "s3server.runner",
            "s3server.workers",
            "s3server.node.server",
            "s3server.__main__",
        ),
    ),
]


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _modules() -> dict[str, Path]:
    found: dict[str, Path] = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            found[_module_name(path)] = path
    return found


MODULES = _modules()


def _imports(name: str, path: Path) -> set[str]:
    """The modules of ours that `name` imports, anywhere in its source."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    is_package = path.name == "__init__.py"
    found: set[str] = set()
    for node in ast.walk(tree):
        targets: list[str] = []
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = name.split(".") if is_package else name.split(".")[:-1]
                base = base[: len(base) - (node.level - 1)]
                module = ".".join([*base, node.module] if node.module else base)
            else:
                module = node.module or ""
            # `from package import module` imports the module; `from module import name` the module.
            targets = [
                f"{module}.{alias.name}" for alias in node.names if f"{module}.{alias.name}" in MODULES
            ]
            targets = targets or [module]
        for target in targets:
            while target and target not in MODULES:
                target = target.rpartition(".")[0]
            if target and target != name:
                found.add(target)
    return found


IMPORTS = {name: _imports(name, path) for name, path in MODULES.items()}


def layer_of(module: str) -> int:
    best: tuple[int, int] | None = None  # (prefix length, layer index)
    for index, (_, prefixes) in enumerate(LAYERS):
        for prefix in prefixes:
            within = module == prefix or module.startswith(prefix + ".")
            if within and (best is None or len(prefix) > best[0]):
                best = (len(prefix), index)
    assert best is not None, f"{module} is in no layer: add it to LAYERS"
    return best[1]


def test_every_module_is_in_a_layer() -> None:
    assert MODULES, "no modules found"
    for module in MODULES:
        layer_of(module)


@pytest.mark.parametrize("module", sorted(MODULES))
def test_no_import_from_a_layer_above(module: str) -> None:
    own = layer_of(module)
    upward = sorted(
        f"{target} ({LAYERS[layer_of(target)][0]})" for target in IMPORTS[module] if layer_of(target) > own
    )
    assert not upward, f"{module} ({LAYERS[own][0]}) imports from above: {', '.join(upward)}"


def test_no_import_circles() -> None:
    """No module reaches itself through its imports (deferred and TYPE_CHECKING imports count)."""
    circles: list[list[str]] = []
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(module: str) -> None:
        state[module] = 1
        path.append(module)
        for target in sorted(IMPORTS[module]):
            if state.get(target) == 1:
                circles.append([*path[path.index(target) :], target])
            elif target not in state:
                visit(target)
        path.pop()
        state[module] = 2

    for module in sorted(MODULES):
        if module not in state:
            visit(module)
    assert not circles, "import circles: " + "; ".join(" -> ".join(c) for c in circles)


def test_the_order_is_seen_by_the_checker() -> None:
    """The checker itself: the layers and the imports it reads, on modules whose imports are known."""
    assert (
        layer_of("s3server.metadata.sqlite")
        < layer_of("s3server.s3.errors")
        < layer_of("s3server.s3.objects")
    )
    assert "s3server.metadata.base" in IMPORTS["s3server.metadata.sqlite"]
    assert "s3server.gateway.sigv4" in IMPORTS["s3server.gateway.auth"]  # `from package import module`
    assert "s3server.s3.errors" in IMPORTS["s3server.gateway.ratelimit"]


# The modules that may speak SQL: the metadata and identity stores, storage's index, and the two
# database runners they sit on. Everything else calls store methods with domain values.
SQL_MODULES = (
    "s3server.metadata",
    "s3server.identity",
    "s3server.storage.index",
    "s3server.sqlitedb",
    "s3server.pgdb",
)
SQL_DRIVERS = ("sqlite3", "asyncpg")
SQL_STATEMENT = re.compile(
    r"\b(SELECT\b[\s\S]+\bFROM|INSERT\s+(OR\s+\w+\s+)?INTO|UPDATE\s+\w+\s+SET|DELETE\s+FROM"
    r"|CREATE\s+(UNLOGGED\s+|TEMP\s+)?(TABLE|INDEX)|ALTER\s+TABLE|DROP\s+TABLE|PRAGMA)\b"
)


def sql_in(path: Path) -> list[str]:
    """The database drivers a module imports and the lines of its string constants that read as SQL."""
    found: list[str] = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            modules = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            modules = [node.module or ""] if not node.level else []
        else:
            modules = []
        found += [f"imports {m}" for m in modules if m.split(".")[0] in SQL_DRIVERS]
        if (
            isinstance(node, ast.Constant)
            and isinstance(node.value, str)
            and SQL_STATEMENT.search(node.value)
        ):
            found.append(f"SQL on line {node.lineno}")
    return found


def speaks_sql(module: str) -> bool:
    return any(module == prefix or module.startswith(prefix + ".") for prefix in SQL_MODULES)


@pytest.mark.parametrize("module", sorted(m for m in MODULES if not speaks_sql(m)))
def test_no_sql_outside_the_stores(module: str) -> None:
    assert not sql_in(MODULES[module]), f"{module}: {', '.join(sql_in(MODULES[module]))}"


def test_the_sql_check_sees_sql() -> None:
    """The checker itself, on modules known to hold SQL."""
    assert "imports sqlite3" in sql_in(MODULES["s3server.metadata.sqlite"])
    assert any(hit.startswith("SQL on line") for hit in sql_in(MODULES["s3server.metadata.postgres"]))
    assert speaks_sql("s3server.metadata.ratelimit") and not speaks_sql("s3server.gateway.ratelimit")
