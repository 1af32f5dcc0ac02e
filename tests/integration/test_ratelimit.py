"""`--rate-limit`: a token bucket per access key (anonymous callers: per client IP). Over the limit the
S3 API answers 503 SlowDown (which SDKs back off from and retry) and the JSON admin API 429; health
checks and metrics are never limited."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import BACKENDS, backend_args
from tests.integration.helpers import request, send
from tests.support.server import RunningServer, start_server
from tests.support.users import admin_client, create_user

LIMIT = 5  # per minute: one token back every 12 s, so nothing refills during the test


@pytest.fixture(params=BACKENDS)
def limited(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[RunningServer]:
    server = start_server(
        tmp_path / "data", args=["--rate-limit", f"{LIMIT}/min", *backend_args(request, request.param)]
    )
    yield server
    assert server.stop() == 0, server.log()[-3000:]


def test_over_the_limit(limited: RunningServer) -> None:
    server = limited
    # The readiness probe of start_server used one anonymous token; creating a user one of root's.
    _, access_key, secret_key = create_user(server)
    for _ in range(LIMIT - 1):
        assert send(server, "GET", "/").status == 200
    slow = send(server, "GET", "/")
    assert slow.status == 503
    assert slow.error_code() == "SlowDown"
    assert slow.error_message() == "Please reduce your request rate."
    assert slow.headers["x-amz-request-id"]

    # The admin API, signed by the same (exhausted) key, answers 429 with a JSON error.
    status, answer = admin_client(server).call("GET", "/_admin/users")
    assert status == 429
    assert answer["error"]["code"] == "TooManyRequests"

    # Another key has its own bucket of tokens.
    for _ in range(LIMIT):
        assert send(server, "GET", "/", access_key=access_key, secret_key=secret_key).status == 200
    assert send(server, "GET", "/", access_key=access_key, secret_key=secret_key).status == 503

    # Anonymous callers are counted by address (one token went to the readiness probe).
    for _ in range(LIMIT - 1):
        assert send(server, "GET", "/", auth="none").status == 403  # AccessDenied, but counted
    assert send(server, "GET", "/", auth="none").error_code() == "SlowDown"

    # Health checks and metrics are never limited.
    for _ in range(LIMIT + 2):
        assert request(server, "GET", "/_admin/health/live", {}, b"").status == 200
        assert request(server, "GET", "/metrics", {}, b"").status == 200
    exposition = request(server, "GET", "/metrics", {}, b"").body.decode()
    assert 's3_requests_total{operation="ListBuckets",status="503"} 3.0' in exposition


def test_off_by_default(server: RunningServer) -> None:
    """The shared test server runs without --rate-limit: many quick requests all succeed."""
    for _ in range(50):
        assert send(server, "GET", "/").status == 200
