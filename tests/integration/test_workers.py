"""`--workers N`: several processes on one port, correct under concurrency on both metadata backends.

Each server here is started by the test itself (not the session's one-worker server), with two
workers; the metadata store is then opened directly to compare its counters with what S3 lists.
"""

from __future__ import annotations

import asyncio
import hashlib
import http.client
import json
import random
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from botocore.exceptions import ClientError

from s3server.config import resolve
from s3server.metadata.postgres import PostgresMetadataStore
from s3server.metadata.sqlite import SqliteMetadataStore
from s3server.workers import available_cores, worker_count
from tests.conftest import make_client
from tests.integration.helpers import UNSIGNED_PAYLOAD, object_path, sign
from tests.support.postgres import PostgresCluster
from tests.support.server import RunningServer, free_port, start_server

WORKERS = 2


class WorkersServer:
    """A running --workers 2 server and the metadata database it uses."""

    def __init__(self, server: RunningServer, metadata_url: str | None) -> None:
        self.server = server
        self.metadata_url = metadata_url

    def bucket_stats(self, bucket: str) -> tuple[int, int] | None:
        """The store's own per-bucket counters, read directly from the database."""

        async def read() -> tuple[int, int] | None:
            store: SqliteMetadataStore | PostgresMetadataStore
            if self.metadata_url is None:
                store = SqliteMetadataStore(self.server.data_dir / "metadata.db")
            else:
                store = PostgresMetadataStore(self.metadata_url)
            await store.open()
            try:
                return await store.bucket_stats(bucket)
            finally:
                await store.close()

        # A thread of its own, so this event loop never meets the test session's.
        with ThreadPoolExecutor(1) as pool:
            return pool.submit(asyncio.run, read()).result()


def worker_pids(server: RunningServer) -> list[int]:
    """The server's child processes, from /proc."""
    children: list[int] = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == server.process.pid:
            children.append(int(stat.parent.name))
    return sorted(children)


def read_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/io").read_text().splitlines():
        if line.startswith("rchar:"):
            return int(line.split()[1])
    raise AssertionError(f"no rchar for {pid}")


def client(server: RunningServer) -> object:
    """A client (so a connection) of one thread's own: the kernel spreads connections over workers."""
    return make_client(server, max_pool_connections=1)


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def workers_server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[WorkersServer]:
    metadata_url = None
    args = ["--workers", str(WORKERS)]
    if request.param == "postgres":
        cluster: PostgresCluster = request.getfixturevalue("postgres_cluster")
        metadata_url = cluster.create_database("workers")
        args += ["--metadata", metadata_url]
    data_dir = tmp_path_factory.mktemp(f"workers-{request.param}") / "data"
    server = start_server(data_dir, args=args, env={"S3SERVER_ACCESS_LOG": "false"})
    yield WorkersServer(server, metadata_url)
    assert server.stop() == 0, server.log()[-4000:]
    assert worker_pids(server) == []


def test_workers_share_the_port(workers_server: WorkersServer) -> None:
    server = workers_server.server
    pids = worker_pids(server)
    assert len(pids) == WORKERS
    before = {pid: read_bytes(pid) for pid in pids}
    s3 = make_client(server)
    s3.create_bucket(Bucket="spread")
    body = b"x" * 4096
    for i in range(200):
        # A new connection each time: SO_REUSEPORT picks a worker per connection.
        conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
        path = object_path("spread", f"k{i}")
        headers = sign(
            server, "PUT", path, headers={"Content-Length": str(len(body))}, payload_hash=UNSIGNED_PAYLOAD
        )
        conn.request("PUT", path, body=body, headers=headers)
        assert conn.getresponse().status == 200
        conn.close()
    for pid in pids:
        assert read_bytes(pid) - before[pid] > 20 * len(body), f"worker {pid} served (almost) nothing"
    assert workers_server.bucket_stats("spread") == (200, 200 * len(body))


def test_racing_puts_of_one_key_leave_one_winner(workers_server: WorkersServer) -> None:
    server = workers_server.server
    make_client(server).create_bucket(Bucket="race")
    bodies: dict[str, bytes] = {}
    threads, rounds = 32, 4

    def put(thread: int) -> None:
        s3 = client(server)
        for round_ in range(rounds):
            body = f"thread {thread} round {round_} ".encode() * (1 + thread * 7 + round_)
            etag = s3.put_object(Bucket="race", Key="contested", Body=body)["ETag"].strip('"')
            assert etag == hashlib.md5(body).hexdigest()
            bodies[etag] = body

    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(put, range(threads)))

    s3 = make_client(server)
    listed = s3.list_objects_v2(Bucket="race")["Contents"]
    assert [o["Key"] for o in listed] == ["contested"]
    got = s3.get_object(Bucket="race", Key="contested")
    body = got["Body"].read()
    etag = got["ETag"].strip('"')
    assert hashlib.md5(body).hexdigest() == etag and bodies[etag] == body
    assert listed[0]["Size"] == len(body) and listed[0]["ETag"].strip('"') == etag
    assert workers_server.bucket_stats("race") == (1, len(body))


def test_counters_never_drift(workers_server: WorkersServer) -> None:
    """Racing PUTs and DELETEs over a few keys from many connections: the counters equal the listing."""
    server = workers_server.server
    make_client(server).create_bucket(Bucket="drift")
    keys = [f"key-{i}" for i in range(6)]

    def churn(thread: int) -> None:
        s3 = client(server)
        rng = random.Random(thread)
        for _ in range(15):
            key = rng.choice(keys)
            if rng.random() < 0.3:
                s3.delete_object(Bucket="drift", Key=key)
            else:
                s3.put_object(Bucket="drift", Key=key, Body=bytes(rng.randrange(1, 5000)))

    with ThreadPoolExecutor(24) as pool:
        list(pool.map(churn, range(24)))

    listed = make_client(server).list_objects_v2(Bucket="drift").get("Contents", [])
    assert workers_server.bucket_stats("drift") == (len(listed), sum(o["Size"] for o in listed))


def test_conditional_create_race_has_one_winner(workers_server: WorkersServer) -> None:
    """If-None-Match: * from many connections at once: exactly one PUT succeeds."""
    server = workers_server.server
    make_client(server).create_bucket(Bucket="once")
    barrier = threading.Barrier(16)

    def attempt(thread: int) -> str:
        s3 = client(server)
        barrier.wait()
        try:
            s3.put_object(Bucket="once", Key="only", Body=f"{thread}".encode(), IfNoneMatch="*")
        except ClientError as exc:
            return str(exc.response["Error"]["Code"])
        return "ok"

    with ThreadPoolExecutor(16) as pool:
        outcomes = list(pool.map(attempt, range(16)))
    assert outcomes.count("ok") == 1, outcomes
    assert set(outcomes) <= {"ok", "PreconditionFailed", "ConditionalRequestConflict"}
    winner = make_client(server).get_object(Bucket="once", Key="only")["Body"].read()
    assert workers_server.bucket_stats("once") == (1, len(winner))


def test_sigterm_lets_every_worker_finish_its_requests(tmp_path: Path) -> None:
    """SIGTERM to the parent: uploads in flight on each worker complete, then everything exits 0."""
    server = start_server(tmp_path / "data", args=["--workers", str(WORKERS)])
    pids = worker_pids(server)
    assert len(pids) == WORKERS
    make_client(server).create_bucket(Bucket="graceful")
    pieces = [bytes([i]) * 32 * 1024 for i in range(8)]
    body = b"".join(pieces)
    connections: list[http.client.HTTPConnection] = []
    try:
        for i in range(8):  # over 8 connections, both workers almost surely hold one
            path = object_path("graceful", f"slow-{i}")
            headers = sign(
                server, "PUT", path, headers={"Content-Length": str(len(body))}, payload_hash=UNSIGNED_PAYLOAD
            )
            conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=20)
            conn.putrequest("PUT", path, skip_accept_encoding=True)
            for name, value in headers.items():
                conn.putheader(name, value)
            conn.endheaders()
            conn.send(pieces[0])
            connections.append(conn)
        time.sleep(0.3)
        server.process.send_signal(signal.SIGTERM)
        for piece in pieces[1:]:
            time.sleep(0.05)
            for conn in connections:
                conn.send(piece)
        for conn in connections:
            response = conn.getresponse()
            assert response.status == 200, response.read()
            conn.close()
        assert server.process.wait(timeout=30) == 0, server.log()[-3000:]
        assert not any(Path(f"/proc/{pid}").exists() for pid in pids)
    finally:
        if server.process.poll() is None:
            server.stop(signal.SIGKILL)

    restarted = start_server(tmp_path / "data", args=["--workers", str(WORKERS)])
    try:
        s3 = make_client(restarted)
        for i in range(8):
            assert s3.get_object(Bucket="graceful", Key=f"slow-{i}")["Body"].read() == body
    finally:
        assert restarted.stop(signal.SIGINT) == 0


def test_generated_root_credentials_are_made_once(tmp_path: Path) -> None:
    """Without S3SERVER_ROOT_*, the parent generates the pair once, before forking; every worker uses it."""
    data_dir = tmp_path / "data"
    server = start_server(data_dir, args=["--workers", str(WORKERS)], root=False, timeout=60)
    try:
        assert server.log().count("generated root credentials") == 1
        stored = json.loads((data_dir / "root-credentials.json").read_text())
        server.access_key, server.secret_key = stored["access_key"], stored["secret_key"]
        assert stored["access_key"] in server.log()
        s3 = client(server)
        s3.create_bucket(Bucket="mine")
        for i in range(40):  # fresh connections: both workers must accept the pair
            s3.put_object(Bucket="mine", Key=f"k{i}", Body=b"v")
        assert len(s3.list_objects_v2(Bucket="mine")["Contents"]) == 40
    finally:
        assert server.stop() == 0


def test_refuses_a_port_that_is_taken(tmp_path: Path) -> None:
    """SO_REUSEPORT must not quietly share the port with another listener: exit 1 instead."""
    port = free_port()
    with socket.socket() as squatter:
        squatter.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        squatter.bind(("127.0.0.1", port))
        squatter.listen()
        result = subprocess.run(
            [sys.executable, "-m", "s3server", "serve", "--port", str(port), "--workers", "2",
             "--no-console", "--data-dir", str(tmp_path / "data")],
            capture_output=True, text=True, timeout=60,
        )  # fmt: skip
    assert result.returncode == 1, result.stdout + result.stderr
    assert "cannot start" in result.stderr


def test_worker_count_from_flag_and_environment(tmp_path: Path) -> None:
    server = start_server(tmp_path / "three", workers=3)
    try:
        assert len(worker_pids(server)) == 3
        assert "3 workers" in server.log()
    finally:
        assert server.stop() == 0
    env = {"S3SERVER_WORKERS": "3"}
    assert resolve(None, env).workers == 3
    assert resolve(None, {}).workers == 0  # the default: one per core
    assert worker_count(0) == available_cores() >= 1


def test_one_worker_runs_in_process(tmp_path: Path) -> None:
    server = start_server(tmp_path / "one", workers=1)
    try:
        assert worker_pids(server) == []
        assert "1 worker;" in server.log()
        make_client(server).list_buckets()
    finally:
        assert server.stop() == 0


def _anonymous_status(conn: http.client.HTTPConnection, path: str, headers: dict[str, str]) -> int:
    conn.request("GET", path, headers=headers)
    response = conn.getresponse()
    response.read()
    return response.status


def connections_on_every_worker(server: RunningServer) -> list[http.client.HTTPConnection]:
    """Kept-alive connections, at least one held by each worker (told apart by who read the request)."""
    pids = worker_pids(server)
    padding = {"X-Padding": "p" * 8192}  # a request only its own worker reads
    held: dict[int, list[http.client.HTTPConnection]] = {pid: [] for pid in pids}
    for _ in range(32):
        conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
        before = {pid: read_bytes(pid) for pid in pids}
        _anonymous_status(conn, "/", padding)
        grown = [pid for pid in pids if read_bytes(pid) - before[pid] >= 8192]
        assert len(grown) == 1
        held[grown[0]].append(conn)
        if all(held.values()) and sum(map(len, held.values())) >= 8:
            break
    assert all(held.values()), "one worker was given no connection"
    return [conn for conns in held.values() for conn in conns]


def test_access_changes_govern_the_next_request_in_every_worker(workers_server: WorkersServer) -> None:
    server = workers_server.server
    s3 = make_client(server)
    s3.create_bucket(Bucket="coherent")
    s3.put_object(Bucket="coherent", Key="k", Body=b"v")
    conns = connections_on_every_worker(server)
    public = json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Principal": "*",
                    "Action": "s3:GetObject",
                    "Resource": "arn:aws:s3:::coherent/*",
                }
            ],
        }
    )
    for _ in range(3):
        s3.put_bucket_policy(Bucket="coherent", Policy=public)
        assert [_anonymous_status(c, "/coherent/k", {}) for c in conns] == [200] * len(conns)
        s3.delete_bucket_policy(Bucket="coherent")
        assert [_anonymous_status(c, "/coherent/k", {}) for c in conns] == [403] * len(conns)
        s3.put_bucket_acl(Bucket="coherent", ACL="public-read")
        assert [_anonymous_status(c, "/coherent", {}) for c in conns] == [200] * len(conns)
        s3.put_bucket_acl(Bucket="coherent", ACL="private")
        assert [_anonymous_status(c, "/coherent", {}) for c in conns] == [403] * len(conns)

    # The public access block and Object Ownership govern the next request as well.
    s3.put_bucket_acl(Bucket="coherent", ACL="public-read")
    ignore = {
        "BlockPublicAcls": False,
        "IgnorePublicAcls": True,
        "BlockPublicPolicy": False,
        "RestrictPublicBuckets": False,
    }
    for _ in range(2):
        s3.put_public_access_block(Bucket="coherent", PublicAccessBlockConfiguration=ignore)
        assert [_anonymous_status(c, "/coherent", {}) for c in conns] == [403] * len(conns)
        s3.delete_public_access_block(Bucket="coherent")
        assert [_anonymous_status(c, "/coherent", {}) for c in conns] == [200] * len(conns)
    s3.put_bucket_acl(Bucket="coherent", ACL="private")
    s3.put_bucket_policy(Bucket="coherent", Policy=public)
    enforced = {"Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]}
    restrict = {**ignore, "IgnorePublicAcls": False, "RestrictPublicBuckets": True}
    for _ in range(2):
        s3.put_public_access_block(Bucket="coherent", PublicAccessBlockConfiguration=restrict)
        assert [_anonymous_status(c, "/coherent/k", {}) for c in conns] == [403] * len(conns)
        s3.delete_public_access_block(Bucket="coherent")
        s3.put_bucket_ownership_controls(Bucket="coherent", OwnershipControls=enforced)
        assert [_anonymous_status(c, "/coherent/k", {}) for c in conns] == [200] * len(
            conns
        )  # a policy, not an ACL
    s3.delete_bucket_policy(Bucket="coherent")
    s3.delete_bucket_ownership_controls(Bucket="coherent")
    s3.put_object_acl(Bucket="coherent", Key="k", ACL="public-read")
    for _ in range(2):
        s3.put_bucket_ownership_controls(Bucket="coherent", OwnershipControls=enforced)
        assert [_anonymous_status(c, "/coherent/k", {}) for c in conns] == [403] * len(conns)
        s3.delete_bucket_ownership_controls(Bucket="coherent")
        assert [_anonymous_status(c, "/coherent/k", {}) for c in conns] == [200] * len(conns)

    def allowed_origin(conn: http.client.HTTPConnection) -> str | None:
        conn.request("GET", "/coherent/k", headers={"Origin": "https://app.example"})
        response = conn.getresponse()
        response.read()
        return response.getheader("Access-Control-Allow-Origin")

    rules = {"CORSRules": [{"AllowedOrigins": ["https://app.example"], "AllowedMethods": ["GET"]}]}
    s3.put_bucket_cors(Bucket="coherent", CORSConfiguration=rules)
    assert [allowed_origin(c) for c in conns] == ["https://app.example"] * len(conns)
    s3.delete_bucket_cors(Bucket="coherent")
    assert [allowed_origin(c) for c in conns] == [None] * len(conns)
    for conn in conns:
        conn.close()
