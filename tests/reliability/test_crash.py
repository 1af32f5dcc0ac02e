"""kill -9 in the middle of 200 concurrent PUTs and overwrites, then restart: every acknowledged
write reads back, nothing unacknowledged is half-visible, and once the reaper ran nothing is orphaned."""

from __future__ import annotations

import asyncio
import random

import aiohttp

from tests.reliability.helpers import BUCKET, StorageSetup, md5
from tests.support.aioclient import S3Client

WRITERS = 200
PREEXISTING = 100  # keys 0..99 have a version before the storm (so their writes are overwrites)
ACKS_BEFORE_KILL = 150


def content(key: str, version: int) -> bytes:
    """Each (key, version) has its own bytes and size: small, medium, and a few multi-block ones."""
    rng = random.Random(f"{key}/{version}")
    size = rng.choice(
        [rng.randint(1, 16 * 1024), rng.randint(64 * 1024, 512 * 1024), rng.randint(1, 3) * 1024**2 + 7]
    )
    return rng.randbytes(size)


async def test_kill_9_during_concurrent_puts(setup: StorageSetup) -> None:
    server = setup.start()
    keys = [f"key-{n:03d}" for n in range(WRITERS)]
    acked: dict[str, int] = {}  # key -> last acknowledged version
    sent: dict[str, int] = {}  # key -> version whose PUT had no answer when the server died
    async with S3Client(server, connections=WRITERS + 8) as s3:
        await s3.create_bucket(BUCKET)
        for key in keys[:PREEXISTING]:
            assert (await s3.put(BUCKET, key, content(key, 0))).status == 200
            acked[key] = 0
        storm_acks = 0
        killed = asyncio.Event()

        async def writer(key: str) -> None:
            nonlocal storm_acks
            version = acked.get(key, -1) + 1
            while not killed.is_set():
                sent[key] = version
                try:
                    reply = await s3.put(BUCKET, key, content(key, version))
                except (TimeoutError, aiohttp.ClientError, ConnectionError):
                    return  # the server died with this PUT unanswered
                assert reply.status == 200, reply
                del sent[key]
                acked[key] = version
                version += 1
                storm_acks += 1
                if storm_acks >= ACKS_BEFORE_KILL and not killed.is_set():
                    killed.set()
                    setup.kill()

        await asyncio.gather(*(writer(key) for key in keys))
    assert killed.is_set() and storm_acks >= ACKS_BEFORE_KILL
    assert len(sent) > 0, "the kill should catch PUTs in flight"

    # Restart with no grace (no client writes from here on), let the reaper walk the drives.
    server = setup.start("--reaper-grace", "0")
    async with S3Client(server) as s3:
        report = await s3.admin("POST", "/_admin/reaper", {"walk": True})
        assert report.status == 200, report.body
        for key in keys:
            allowed = {}
            if key in acked:
                allowed[md5(content(key, acked[key]))] = acked[key]
            if key in sent:
                allowed[md5(content(key, sent[key]))] = sent[key]
            reply = await s3.get(BUCKET, key)
            if reply.status == 404:
                assert key not in acked, f"{key}: acknowledged version {acked.get(key)} is lost"
                continue
            assert reply.status == 200, (key, reply.status, reply.body[:300])
            digest = md5(reply.body)
            assert digest in allowed, f"{key}: read back bytes of no version it was written with"
            assert reply.headers["ETag"].strip('"') == digest  # metadata and bytes agree: a whole version
    rows = await setup.audit()
    assert len(rows) >= len(acked)
