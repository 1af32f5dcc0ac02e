"""PostgreSQL going away under a running server: 503 ServiceUnavailable within a bounded time, never a
500 or a hang, and recovery without a restart of s3server once PostgreSQL is back.

The PostgreSQL server here is this module's own (stopping the session's would break other tests).
"""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import make_client
from tests.integration.helpers import Reply, object_path, send
from tests.support.postgres import PostgresCluster, running_cluster
from tests.support.server import RunningServer, start_server

# The store's deadline for one operation is 10 s; a refused connection is answered at once.
ANSWER_WITHIN = 12.0
RECOVER_WITHIN = 30.0


@pytest.fixture(scope="module")
def cluster() -> Iterator[PostgresCluster]:
    with running_cluster() as started:
        yield started


@pytest.fixture(scope="module")
def outage_server(
    cluster: PostgresCluster, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunningServer]:
    data_dir = tmp_path_factory.mktemp("outage") / "data"
    # Two workers: each has its own pool, and each must recover on its own.
    server = start_server(data_dir, args=["--metadata", cluster.create_database("outage"), "--workers", "2"])
    # The port answers once one worker serves; the outage must begin after both have started.
    deadline = time.monotonic() + 30
    while server.log().count(" serving") < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert server.log().count(" serving") >= 2, server.log()[-4000:]
    yield server
    assert server.stop() == 0, server.log()[-4000:]


def timed(
    server: RunningServer, method: str, path: str, body: bytes = b"", query: str = ""
) -> tuple[Reply, float]:
    started = time.monotonic()
    reply = send(server, method, path, body=body, query=query)
    return reply, time.monotonic() - started


def requests_during_outage(server: RunningServer) -> list[tuple[str, str, bytes, str]]:
    return [
        ("PUT", object_path("steady", "during"), b"written while the database is down", ""),
        ("GET", object_path("steady", "before"), b"", ""),
        ("HEAD", object_path("steady", "before"), b"", ""),
        ("GET", "/steady", b"", "list-type=2"),
        ("DELETE", object_path("steady", "before"), b"", ""),
        ("GET", "/", b"", ""),
        ("PUT", "/another-bucket", b"", ""),
    ]


def wait_until_served(server: RunningServer) -> None:
    deadline = time.monotonic() + RECOVER_WITHIN
    while True:
        reply, _ = timed(server, "PUT", object_path("steady", "after"), b"after the outage")
        if reply.status == 200:
            return
        assert reply.status == 503, (reply.status, reply.body)
        assert time.monotonic() < deadline, f"no recovery within {RECOVER_WITHIN}s: {reply.body!r}"
        time.sleep(0.2)


def no_internal_errors(server: RunningServer) -> None:
    log = server.log()
    assert '" 500 ' not in log and "InternalError" not in log, log[-4000:]


def test_stopped_database_gets_503_then_recovers(
    cluster: PostgresCluster, outage_server: RunningServer
) -> None:
    server = outage_server
    s3 = make_client(server)
    s3.create_bucket(Bucket="steady")
    s3.put_object(Bucket="steady", Key="before", Body=b"written before the outage")

    cluster.stop("fast")
    try:
        for _ in range(3):  # every worker, and again after their cached credentials were used
            for method, path, body, query in requests_during_outage(server):
                reply, took = timed(server, method, path, body, query)
                assert reply.status == 503, (method, path, reply.status, reply.body)
                assert took < ANSWER_WITHIN, (method, path, took)
                if method != "HEAD":
                    assert b"<Code>ServiceUnavailable</Code>" in reply.body
        assert server.process.poll() is None
    finally:
        cluster.start()

    wait_until_served(server)
    for _ in range(10):  # both workers are back, with the data from before the outage
        assert s3.get_object(Bucket="steady", Key="before")["Body"].read() == b"written before the outage"
    assert s3.get_object(Bucket="steady", Key="after")["Body"].read() == b"after the outage"
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket="steady")["Contents"]]
    assert keys == ["after", "before"]  # the PUT answered 503 during the outage left nothing
    no_internal_errors(server)


def test_restart_under_load(cluster: PostgresCluster, outage_server: RunningServer) -> None:
    """Requests keep coming while PostgreSQL restarts: each is answered (200 or 503), none hangs."""
    server = outage_server
    s3 = make_client(server)
    s3.create_bucket(Bucket="busy")
    statuses: list[int] = []
    slowest = [0.0]
    done = threading.Event()

    def load(worker: int) -> None:
        i = 0
        while not done.is_set():
            reply, took = timed(server, "PUT", object_path("busy", f"w{worker}-{i % 20}"), b"x" * 1000)
            statuses.append(reply.status)
            slowest[0] = max(slowest[0], took)
            i += 1

    threads = [threading.Thread(target=load, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    try:
        time.sleep(0.5)
        cluster.restart()
        time.sleep(0.5)
        cluster.restart()
        wait_until_served(server)
        time.sleep(0.5)
    finally:
        done.set()
        for thread in threads:
            thread.join(timeout=60)
    assert set(statuses) <= {200, 503}, sorted(set(statuses))
    assert statuses[-1] == 200 or statuses.count(200) > 0
    assert slowest[0] < ANSWER_WITHIN
    # Whatever was acknowledged is there and the counters agree with the listing.
    listed = s3.list_objects_v2(Bucket="busy").get("Contents", [])
    assert listed and all(o["Size"] == 1000 for o in listed)
    no_internal_errors(server)


def test_server_does_not_start_without_its_database(tmp_path: Path, cluster: PostgresCluster) -> None:
    """At start-up an unreachable database is a clear error and a non-zero exit, not a half-alive server."""
    url = cluster.dsn("no_such_database")
    with pytest.raises(RuntimeError, match="no_such_database"):
        start_server(tmp_path / "data", args=["--metadata", url], timeout=30)


def cluster_pids(cluster: PostgresCluster) -> list[int]:
    """The postmaster (from its pid file) and every process it started."""
    postmaster = int((cluster.data_dir / "postmaster.pid").read_text().split()[0])
    pids = [postmaster]
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            if int(stat.read_text().rsplit(")", 1)[1].split()[1]) == postmaster:
                pids.append(int(stat.parent.name))
        except (OSError, ValueError, IndexError):
            continue
    return pids


def test_hung_database_gets_503_not_a_hang(cluster: PostgresCluster, outage_server: RunningServer) -> None:
    """A PostgreSQL that accepts nothing and answers nothing (stopped processes): the deadline holds."""
    server = outage_server
    s3 = make_client(server)
    s3.create_bucket(Bucket="frozen")
    s3.put_object(Bucket="frozen", Key="k", Body=b"v")
    pids = cluster_pids(cluster)
    for pid in pids:
        os.kill(pid, signal.SIGSTOP)
    try:
        reply, took = timed(server, "GET", object_path("frozen", "k"))
        assert reply.status == 503, (reply.status, reply.body)
        assert took < ANSWER_WITHIN, took
    finally:
        for pid in pids:
            os.kill(pid, signal.SIGCONT)
    deadline = time.monotonic() + RECOVER_WITHIN
    while timed(server, "GET", object_path("frozen", "k"))[0].status != 200:
        assert time.monotonic() < deadline, "no recovery after the database resumed"
        time.sleep(0.2)
    no_internal_errors(server)
