"""Render COMPATIBILITY.md: the client-by-feature matrix, then every operation: supported? tested by?."""

from __future__ import annotations

from pathlib import Path

from compat import coverage, model, operations, results
from s3server.gateway import router

OUTPUT_PATH = coverage.ROOT / "COMPATIBILITY.md"

YES = "✅"
NO = "❌"
NONE = "—"


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(" --- " for _ in header) + "|"]
    lines += ["| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |" for row in rows]
    return lines


def client_section(data: dict[str, object]) -> list[str]:
    clients: dict[str, dict[str, object]] = data.get("clients", {})  # type: ignore[assignment]
    backends = sorted(
        {
            backend
            for entry in clients.values()
            for cells in entry.get("features", {}).values()  # type: ignore[union-attr]
            for backend in cells
        }
    )
    lines = [
        "## Clients",
        "",
        "Each real client, unchanged, against a live `s3server serve` (s3-compat-tests/); every download is",
        "compared with what was uploaded, byte for byte and by MD5, not only by exit code.",
        "",
    ]
    if not clients:
        return [*lines, "No client results yet: run `python -m pytest s3-compat-tests`.", ""]
    lines += [
        f"Last run against the metadata backends: {', '.join(f'`{b}`' for b in backends)}. "
        f"{YES} passed on every backend it ran on, {NO} failed on at least one (see the notes below), "
        f"{NONE} not exercised for that client.",
        "",
    ]
    notes: list[str] = []
    rows: list[list[str]] = []
    for client, title in results.CLIENTS.items():
        entry = clients.get(client)
        if entry is None:
            rows.append([title, NONE, *(NONE for _ in results.FEATURES)])
            continue
        features: dict[str, dict[str, str]] = entry.get("features", {})  # type: ignore[assignment]
        row = [title, f"`{entry['version']}`" if entry.get("version") else NONE]
        for feature in results.FEATURES:
            cells = features.get(feature)
            if not cells:
                row.append(NONE)
                continue
            failed = {b: c for b, c in cells.items() if not results.passed(c)}
            if not failed:
                row.append(YES)
                continue
            by_detail: dict[str, list[str]] = {}
            for backend, cell in failed.items():
                by_detail.setdefault(results.failure_detail(cell), []).append(backend)
            notes.append(
                f"{client} · {feature} · "
                + "; ".join(f"{', '.join(backends)}: {detail}" for detail, backends in by_detail.items())
            )
            row.append(f"{NO} [{len(notes)}]")
        rows.append(row)
    lines += _table(["client", "version", *results.FEATURES], rows)
    lines += ["", "Features:", ""]
    lines += [f"- **{feature}**: {text}" for feature, text in results.FEATURES.items()]
    if notes:
        lines += ["", "Failures and known gaps in the last run:", ""]
        lines += [f"{n}. {note}" for n, note in enumerate(notes, 1)]
    return [*lines, ""]


def _tested_by(labels: list[tuple[str, str]]) -> str:
    by_suite: dict[str, list[str]] = {}
    for suite, module in labels:
        by_suite.setdefault(suite, []).append(module)
    return " · ".join(f"{suite}: {', '.join(modules)}" for suite, modules in by_suite.items()) or NONE


def operation_section() -> list[str]:
    model_ops = model.operations()
    rows_in_router = {op.name for op in router.OPERATIONS}
    names = sorted(set(model_ops) | rows_in_router)
    tested = coverage.exercised_by(names)
    supported = operations.SUPPORTED
    rows: list[list[str]] = []
    for name in names:
        if name in supported:
            state, note = YES, supported[name]
        elif name in operations.SAME_REQUEST_AS:
            target = operations.SAME_REQUEST_AS[name]
            state = YES if target in supported else NONE
            note = f"the same request as {target}, answered as {target}"
        elif name in rows_in_router:
            state, note = NONE, "501 NotImplemented"
        else:
            state, note = NONE, "no row in the router table"
        if name in operations.BEYOND_MODEL:
            note = f"{note}; {operations.BEYOND_MODEL[name]}"
        if name in model_ops and model_ops[name].deprecated:
            note = f"{note} (deprecated by AWS)"
        rows.append([f"`{name}`", state, note, _tested_by(tested[name])])
    count = sum(1 for name in model_ops if name in supported)
    return [
        "## Operations",
        "",
        f"{count} of the {len(model_ops)} operations in botocore's S3 model have a handler; every other",
        "operation is still a row of the router's table and answers `501 NotImplemented`, never a",
        "wrong success. *Tested by* lists the test modules that call the operation by name (boto3",
        "method, aws cli s3api command, JavaScript SDK command or AWS name); the clients above exercise",
        "many more through their own commands.",
        "",
        *_table(["operation", "supported", "notes", "tested by"], rows),
        "",
    ]


def render(data: dict[str, object] | None = None) -> str:
    data = results.load() if data is None else data
    lines = [
        "# S3 compatibility",
        "",
        "Generated by `python -m compat` from botocore's S3 model, the router's operation table",
        "(`s3server/gateway/router.py`), `compat/operations.py` and `compat/client-results.json` (written",
        "by the last run of `s3-compat-tests/`). Do not edit by hand; tests/unit/test_compat_drift.py fails",
        "when this file is out of date.",
        "",
        *client_section(data),
        *operation_section(),
    ]
    return "\n".join(lines).rstrip("\n") + "\n"


def write(path: Path = OUTPUT_PATH) -> bool:
    """Regenerate the file; whether it changed."""
    text = render()
    old = path.read_text() if path.exists() else None
    if old != text:
        path.write_text(text)
    return old != text
