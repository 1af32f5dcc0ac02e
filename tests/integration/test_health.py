"""Health endpoints: unauthenticated, secret-free, every component checked with its latency; not ready
(503) when PostgreSQL is stopped, when the metadata fails, or when too few drives can take a write."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import BACKENDS, backend_args
from tests.integration.helpers import request
from tests.support.postgres import PostgresCluster, running_cluster
from tests.support.server import RunningServer, start_server
from tests.support.users import admin_client

CHECK_DEADLINE = 3.0  # s3server.ops.health.CHECK_TIMEOUT


def get(server: RunningServer, path: str) -> tuple[int, Any]:
    reply = request(server, "GET", path, {}, b"")
    assert reply.headers["Content-Type"].startswith("application/json")
    return reply.status, json.loads(reply.body)


def component(answer: dict[str, Any], name: str) -> dict[str, Any]:
    return next(c for c in answer["components"] if c["name"] == name)


def fault(server: RunningServer, body: dict[str, Any]) -> None:
    admin_client(server).expect("POST", "/_admin/faults", body)


def clear_faults(server: RunningServer) -> None:
    admin_client(server).expect("DELETE", "/_admin/faults")


def test_healthy_server(server: RunningServer) -> None:
    assert get(server, "/_admin/health/live") == (200, {"status": "alive"})
    status, ready = get(server, "/_admin/health/ready")
    assert status == 200 and ready["status"] == "ready" and ready["failing"] == []
    reply = request(server, "GET", "/_admin/health", {}, b"")
    assert reply.status == 200
    answer = json.loads(reply.body)
    assert answer["status"] == "ok" and answer["ready"] is True and answer["failing"] == []
    names = [c["name"] for c in answer["components"]]
    assert names == ["gateway", "identity", "metadata", "drive:0"]
    for item in answer["components"]:
        assert item["status"] == "ok"
        assert isinstance(item["latency_ms"], float | int) and item["latency_ms"] >= 0
    drive = component(answer, "drive:0")
    assert drive["free_bytes"] > 0 and drive["total_bytes"] >= drive["free_bytes"]
    assert answer["drives"] == {"total": 1, "writable": 1, "write_quorum": 1}
    # Nothing secret in it: no credentials, no database URL.
    text = reply.body.decode()
    for secret in (server.secret_key, server.access_key, "postgresql://", "password"):
        assert secret not in text


def test_health_needs_no_signature_but_other_admin_paths_do(server: RunningServer) -> None:
    assert request(server, "GET", "/_admin/health", {}, b"").status == 200
    denied = request(server, "GET", "/_admin/stats", {}, b"")
    assert denied.status == 403


@pytest.fixture(params=BACKENDS)
def faulty(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[RunningServer]:
    server = start_server(
        tmp_path / "data", args=["--enable-fault-injection", *backend_args(request, request.param)]
    )
    yield server
    assert server.stop() == 0, server.log()[-3000:]


def test_failed_drive(faulty: RunningServer) -> None:
    server = faulty
    fault(server, {"target": "drive", "drive": 0, "reads": True, "writes": True})
    status, answer = get(server, "/_admin/health")
    assert status == 503
    assert answer["status"] == "fail" and answer["ready"] is False
    assert answer["failing"] == ["drive:0"]
    drive = component(answer, "drive:0")
    assert drive["status"] == "fail" and "injected fault" in drive["error"]
    assert component(answer, "metadata")["status"] == "ok"
    status, ready = get(server, "/_admin/health/ready")
    assert status == 503 and ready == {"status": "not ready", "health": "fail", "failing": ["drive:0"]}
    assert get(server, "/_admin/health/live")[0] == 200
    # A drive that only fails reads is caught too: the probe reads back what it wrote.
    fault(server, {"target": "drive", "drive": 0, "reads": True, "writes": False})
    assert get(server, "/_admin/health")[0] == 503
    clear_faults(server)
    status, answer = get(server, "/_admin/health")
    assert status == 200 and answer["status"] == "ok"


def test_failed_metadata(faulty: RunningServer) -> None:
    server = faulty
    fault(server, {"target": "metadata", "mode": "all"})
    status, answer = get(server, "/_admin/health")
    assert status == 503 and answer["failing"] == ["metadata"]
    assert "injected fault" in component(answer, "metadata")["error"]
    assert get(server, "/_admin/health/ready")[0] == 503
    clear_faults(server)
    assert get(server, "/_admin/health/ready")[0] == 200


def test_one_failed_drive_of_three_is_degraded(tmp_path: Path) -> None:
    drives = [str(tmp_path / f"disk{i}") for i in range(3)]
    args = ["--enable-fault-injection", "--replicas", "3"]
    for drive in drives:
        args += ["--drive", drive]
    server = start_server(tmp_path / "data", args=args)
    try:
        status, answer = get(server, "/_admin/health")
        assert status == 200 and answer["drives"] == {"total": 3, "writable": 3, "write_quorum": 2}
        fault(server, {"target": "drive", "drive": 1})
        status, answer = get(server, "/_admin/health")
        assert status == 200  # writes still reach a majority of the replicas
        assert answer["status"] == "degraded" and answer["failing"] == ["drive:1"]
        assert get(server, "/_admin/health/ready") == (
            200,
            {"status": "ready", "health": "degraded", "failing": ["drive:1"]},
        )
        fault(server, {"target": "drive", "drive": 2})
        status, answer = get(server, "/_admin/health")
        assert status == 503 and answer["status"] == "fail"
        assert answer["drives"]["writable"] == 1
    finally:
        assert server.stop() == 0, server.log()[-3000:]


@pytest.fixture(scope="module")
def own_cluster() -> Iterator[PostgresCluster]:
    """This module's own PostgreSQL (stopping the session's would break other tests)."""
    with running_cluster() as started:
        yield started


def test_postgres_stopped(own_cluster: PostgresCluster, tmp_path: Path) -> None:
    server = start_server(tmp_path / "data", args=["--metadata", own_cluster.create_database("health")])
    try:
        assert get(server, "/_admin/health")[0] == 200
        own_cluster.stop("fast")
        try:
            started = time.monotonic()
            status, answer = get(server, "/_admin/health")
            took = time.monotonic() - started
            assert status == 503, answer
            assert answer["status"] == "fail" and answer["ready"] is False
            assert set(answer["failing"]) == {"identity", "metadata"}
            assert component(answer, "metadata")["status"] == "fail"
            assert component(answer, "drive:0")["status"] == "ok"
            assert component(answer, "gateway")["status"] == "ok"
            assert took < CHECK_DEADLINE + 2
            assert get(server, "/_admin/health/ready")[0] == 503
            assert get(server, "/_admin/health/live")[0] == 200
            # The database's URL (with its user) stays out of the answer.
            assert own_cluster.dsn("x").split("/x")[0] not in json.dumps(answer)
        finally:
            own_cluster.start()
        deadline = time.monotonic() + 30
        while get(server, "/_admin/health/ready")[0] != 200:
            assert time.monotonic() < deadline, "still not ready after PostgreSQL came back"
            time.sleep(0.2)
        assert get(server, "/_admin/health")[1]["status"] == "ok"
    finally:
        assert server.stop() == 0, server.log()[-3000:]
