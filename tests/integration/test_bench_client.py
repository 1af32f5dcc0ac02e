"""bench.server and bench.client against a real `s3server serve`: the pieces every single-server
workload stands on, checked on their own so that a broken one fails here and not as a strange figure.

The server is the bench's own (its flags, its credentials), not the suite's fixture: what runs is what
`python -m bench …` runs.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
from pathlib import Path

import pytest

from bench import server as bench_server
from bench.client import Client
from bench.server import Server


async def _round_trip(server: Server) -> None:
    small = os.urandom(4096)
    large = os.urandom(3 * 1024 * 1024)  # past the client's inline-body limit: written separately
    async with Client(server, connections=8) as client:
        await client.create_bucket("bench")
        puts = await asyncio.gather(*(client.put("bench", f"dir/key {i}+", small) for i in range(16)))
        assert [r.status for r in puts] == [200] * 16
        assert {r.headers[b"etag"].strip(b'"').decode() for r in puts} == {hashlib.md5(small).hexdigest()}
        assert (await client.put("bench", "large", large)).status == 200
        gets = await asyncio.gather(*(client.get("bench", f"dir/key {i}+") for i in range(16)))
        assert all(r.status == 200 and r.body == small for r in gets)
        assert (await client.get("bench", "large")).body == large
        listed = await client.request(
            "GET", "bench", params={"list-type": "2", "prefix": "dir/", "max-keys": "5"}
        )
        assert listed.status == 200 and listed.body.count(b"<Key>") == 5, listed.body[:300]
        missing = await client.get("bench", "no such key")
        assert missing.status == 404 and b"<Code>NoSuchKey</Code>" in missing.body
        with pytest.raises(RuntimeError, match="CreateBucket"):
            await client.create_bucket("Not A Valid Bucket Name")


def test_bench_server_and_client_round_trip(tmp_path: Path) -> None:
    with bench_server.running(tmp_path / "data", ["--replicas", "1"]) as server:
        assert server.endpoint.startswith("http://127.0.0.1:")
        asyncio.run(_round_trip(server))
    assert server.process.returncode == 0
    assert server.log_path.exists()


def test_bench_server_reports_a_server_that_cannot_start(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError, match="s3server exited with"):
        bench_server.start(tmp_path / "data", ["--no-such-flag"])
