"""Health for load balancers, orchestrators and the console: unauthenticated, and free of secrets.

    GET /_admin/health/live    200 while the process answers at all
    GET /_admin/health/ready   200 when it can serve S3 requests, else 503 with what is failing
    GET /_admin/health         every component, checked in parallel, with its status and latency

Components: the gateway itself, the identity database, the metadata database, and each drive (a
probe file written, synced, read back and removed through the drive's own I/O, so an injected drive
fault shows; plus its free space). Each check has a deadline, so a hung database makes the answer
"fail", never a hung health check. The aggregate is "ok"; "degraded" when some drive failed but
enough remain for a write quorum; "fail" (503) when the identity or metadata database fails or too
few drives are writable. A gateway with --storage-nodes has no drives of its own: each node is a
component instead (its /health probe), and the same quorum rule applies to nodes.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from s3server.metadata.base import MetadataError
from s3server.node.client import StorageNode
from s3server.ops.admin import AdminApi, AdminRequest, Route
from s3server.ops.gauges import drive_space
from s3server.storage.base import StorageError
from s3server.storage.drives import Drive

CHECK_TIMEOUT = 3.0
MIN_FREE_BYTES = 16 * 1024 * 1024  # below this a drive cannot take a write worth the name
OK, DEGRADED, FAIL = "ok", "degraded", "fail"

Check = Callable[[], Awaitable[dict[str, Any] | None]]


async def _timed(name: str, check: Check, timeout: float = CHECK_TIMEOUT) -> dict[str, Any]:
    """Run one check under a deadline: {"name", "status", "latency_ms", …details}."""
    started = time.perf_counter()
    result: dict[str, Any] = {"name": name}
    try:
        details = await asyncio.wait_for(check(), timeout)
        result["status"] = OK
        if details:
            result.update(details)
    except TimeoutError:
        result.update(status=FAIL, error=f"no answer within {timeout:g}s")
    except Exception as exc:  # a health check reports failures, it never raises them
        result.update(status=FAIL, error=_describe(exc))
    result["latency_ms"] = round((time.perf_counter() - started) * 1000, 2)
    return result


def _describe(exc: BaseException) -> str:
    """A failure, said without secrets: a database error caused by its driver names the cause's kind
    only (the driver's message carries the database's URL); others say what they say."""
    if isinstance(exc, MetadataError):
        cause = exc.__cause__
        return f"unavailable ({type(cause).__name__})" if cause is not None else str(exc)[:300]
    if isinstance(exc, OSError | StorageError):  # a path, or a storage node's URL and answer
        return str(exc)[:300]
    return type(exc).__name__


def _probe_drive(drive: Drive) -> dict[str, Any]:
    """Write, sync, read back and remove a small file through the drive's I/O; report its space."""
    space = drive_space(drive)
    details: dict[str, Any] = {"drive": drive.drive_id, "free_bytes": space.free, "total_bytes": space.total}
    if not space.online:
        raise OSError(f"offline: {drive.marker} is missing")
    path = os.path.join(drive.tmp_dir, f".health-{uuid.uuid4().hex}")
    payload = b"s3server health probe"
    fd = drive.create(path)
    try:
        try:
            drive.write(fd, memoryview(payload))
            drive.sync(fd)
        finally:
            os.close(fd)
        fd = os.open(path, os.O_RDONLY)
        try:
            if drive.pread(fd, len(payload), 0) != payload:
                raise OSError("the probe file read back different bytes")
        finally:
            os.close(fd)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)
    if space.free < MIN_FREE_BYTES:
        raise OSError(f"only {space.free} bytes free")
    return details


def _checks(api: AdminApi) -> list[tuple[str, str, Check]]:
    """(component kind, name, check) for everything this server depends on."""
    services = api.services
    gateway = api.extras.get("gateway")

    async def gateway_check() -> dict[str, Any]:
        return {"in_flight": getattr(gateway, "in_flight", 0), "pid": os.getpid()}

    async def identity_check() -> dict[str, Any]:
        return {"schema_version": await services.identity.schema_version()}

    async def metadata_check() -> None:
        await services.meta.ping()

    def drive_check(drive: Drive) -> Check:
        async def run() -> dict[str, Any]:
            return await api.store.run(_probe_drive, drive)

        return run

    checks: list[tuple[str, str, Check]] = [
        ("gateway", "gateway", gateway_check),
        ("identity", "identity", identity_check),
        ("metadata", "metadata", metadata_check),
    ]
    for position, drive in enumerate(api.store.drives):
        checks.append(("drive", f"drive:{position}", drive_check(drive)))
    if api.cluster is not None:
        for node in api.cluster.nodes:
            checks.append(("node", f"node:{node.name}", _node_check(node)))
    return checks


def _node_check(node: StorageNode) -> Check:
    """A storage node's own health answer (its drives written and read back), under the deadline."""

    async def run() -> dict[str, Any]:
        answer = await node.probe(CHECK_TIMEOUT)
        return {"node": answer.get("node_id", ""), "url": node.url, "drives": answer.get("drives", [])}

    return run


async def report(api: AdminApi) -> dict[str, Any]:
    """Every component's check, run in parallel, and the aggregate status."""
    started = time.perf_counter()
    checks = _checks(api)
    results = await asyncio.gather(*(_timed(name, check) for _, name, check in checks))
    components: list[dict[str, Any]] = []
    failing: list[str] = []
    drives_ok = drives = 0
    core_ok = True
    for (kind, _, _), result in zip(checks, results, strict=True):
        result["kind"] = kind
        components.append(result)
        healthy = result["status"] == OK
        if not healthy:
            failing.append(result["name"])
        if kind in ("drive", "node"):  # where replicas go: local drives, or storage nodes
            drives += 1
            drives_ok += healthy
        elif not healthy:
            core_ok = False
    quorum = min(api.store.write_quorum, drives) if drives else 0
    if not core_ok or drives_ok < quorum:
        status = FAIL
    elif failing:
        status = DEGRADED
    else:
        status = OK
    return {
        "status": status,
        "ready": status != FAIL,
        "failing": failing,
        ("nodes" if api.cluster is not None else "drives"): {
            "total": drives,
            "writable": drives_ok,
            "write_quorum": quorum,
        },
        "latency_ms": round((time.perf_counter() - started) * 1000, 2),
        "components": components,
    }


async def health(api: AdminApi, req: AdminRequest) -> tuple[int, Any]:
    answer = await report(api)
    return (200 if answer["ready"] else 503), answer


async def ready(api: AdminApi, req: AdminRequest) -> tuple[int, Any]:
    answer = await report(api)
    if answer["ready"]:
        return 200, {"status": "ready", "health": answer["status"], "failing": answer["failing"]}
    return 503, {"status": "not ready", "health": answer["status"], "failing": answer["failing"]}


async def live(api: AdminApi, req: AdminRequest) -> tuple[int, Any]:
    return 200, {"status": "alive"}


ROUTES: tuple[Route, ...] = (
    Route("GET", "/_admin/health", health, public=True),
    Route("GET", "/_admin/health/ready", ready, public=True),
    Route("GET", "/_admin/health/live", live, public=True),
)
