"""`--rate-limit` held across processes: two gateways on one PostgreSQL, and two worker processes on
one SQLite data dir, give a caller the configured number of requests, not that many per process."""

from __future__ import annotations

from pathlib import Path

from tests.integration.helpers import send
from tests.support.postgres import PostgresCluster
from tests.support.server import RunningServer, start_server

LIMIT = 10  # per hour: nothing refills while the test runs, so the count is exact
REQUESTS = 16


def allowed(servers: list[RunningServer]) -> int:
    """Send REQUESTS signed requests, spread over the servers (each on a new connection)."""
    statuses = [send(servers[i % len(servers)], "GET", "/").status for i in range(REQUESTS)]
    assert set(statuses) <= {200, 503}, statuses
    return statuses.count(200)


def test_two_gateways_on_one_postgres_share_the_limit(
    tmp_path: Path, postgres_cluster: PostgresCluster
) -> None:
    url = postgres_cluster.create_database("ratelimit")
    args = ["--metadata", url, "--rate-limit", f"{LIMIT}/hour"]
    env = {"S3SERVER_IDENTITY_KEY": "s3server-test-shared-identity-key"}
    gateways = [start_server(tmp_path / f"gateway{i}", args=args, env=env) for i in (1, 2)]
    try:
        assert allowed(gateways) == LIMIT
    finally:
        for gateway in gateways:
            assert gateway.stop() == 0, gateway.log()[-3000:]


def test_worker_processes_share_the_limit(tmp_path: Path) -> None:
    server = start_server(tmp_path / "data", args=["--rate-limit", f"{LIMIT}/hour"], workers=2)
    try:
        assert allowed([server]) == LIMIT
    finally:
        assert server.stop() == 0, server.log()[-3000:]
