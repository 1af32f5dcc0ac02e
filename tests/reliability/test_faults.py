"""Injected failures: metadata down, a drive gone or failing, replicas corrupted. Every GET is either
right or an error, never wrong bytes; nothing is left behind; scrub repairs what can be repaired."""

from __future__ import annotations

import asyncio
import os
import shutil
import time
from pathlib import Path

from tests.reliability.helpers import BUCKET, StorageSetup, md5
from tests.support.aioclient import S3Client

MiB = 1024 * 1024
SIZES = [0, 1, 4096, 300 * 1024, MiB, 3 * MiB + 5]


async def fill(s3: S3Client, count: int = 12) -> dict[str, bytes]:
    await s3.create_bucket(BUCKET)
    objects = {f"obj-{n}": os.urandom(SIZES[n % len(SIZES)]) for n in range(count)}
    for key, data in objects.items():
        assert (await s3.put(BUCKET, key, data)).status == 200
    return objects


async def read_all_correctly(s3: S3Client, objects: dict[str, bytes]) -> None:
    for key, data in objects.items():
        reply = await s3.get(BUCKET, key)
        assert reply.status == 200, (key, reply.status, reply.body[:300])
        assert reply.body == data, key
        if len(data) > 10:
            ranged = await s3.get(BUCKET, key, {"Range": "bytes=3-9"})
            assert (ranged.status, ranged.body) == (206, data[3:10])


def eventually(check, timeout: float = 10.0) -> bool:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


async def test_metadata_down_is_503_and_leaves_no_bytes(setup: StorageSetup) -> None:
    server = setup.start()
    async with S3Client(server) as s3:
        objects = await fill(s3, 3)
        before = (setup.replica_files(), setup.index_rows())
        fault = await s3.admin("POST", "/_admin/faults", {"target": "metadata", "mode": "writes"})
        assert fault.status == 200 and fault.json()["metadata"] == "writes"
        for key, size in [("new-small", 4096), ("new-large", 3 * MiB), ("obj-0", 10)]:
            reply = await s3.put(BUCKET, key, os.urandom(size))
            assert reply.status == 503 and b"<Code>ServiceUnavailable</Code>" in reply.body, reply
        assert (await s3.delete(BUCKET, "obj-1")).status == 503
        await read_all_correctly(s3, objects)  # reads still work, the overwrite changed nothing
        assert (setup.replica_files(), setup.index_rows()) == before
        assert setup.temp_files() == []

        assert (await s3.admin("POST", "/_admin/faults", {"target": "metadata", "mode": "all"})).status == 200
        assert (await s3.get(BUCKET, "obj-1")).status == 503
        cleared = await s3.admin("DELETE", "/_admin/faults")
        assert cleared.status == 200 and cleared.json()["metadata"] is None
        assert (await s3.put(BUCKET, "new-small", b"works again")).status == 200
        assert (await s3.get(BUCKET, "new-small")).body == b"works again"
    await setup.audit()


async def test_a_drive_gone_or_failing_and_scrub(setup: StorageSetup) -> None:
    setup.drive_count, setup.replicas = 4, 3
    server = setup.start()
    async with S3Client(server) as s3:
        objects = await fill(s3)
        # A drive whose reads fail (an unreadable disk): every GET is still right.
        fault = await s3.admin("POST", "/_admin/faults", {"target": "drive", "drive": 1, "writes": False})
        assert fault.status == 200
        await read_all_correctly(s3, objects)
        assert (await s3.admin("DELETE", "/_admin/faults", None)).status == 200

        # A drive that is gone altogether, while the server runs.
        lost = setup.drives[2]
        lost_id = setup.drive_ids()[lost]
        on_lost = {b for b, drives in setup.replica_files().items() if lost_id in drives}
        assert on_lost
        shutil.rmtree(lost)
        await read_all_correctly(s3, objects)
        # New writes skip the missing drive (it is offline until scrub or a restart sets it up again).
        objects["after-loss"] = os.urandom(2 * MiB)
        assert (await s3.put(BUCKET, "after-loss", objects["after-loss"])).status == 200

        code, output = await asyncio.to_thread(setup.scrub)
        assert code == 0, output
        assert " 0 unrecoverable" in output and " 0 degraded" in output, output
        assert (lost / "drive-id").read_text().strip() == lost_id  # back under its old id
        await read_all_correctly(s3, objects)
        rows = await setup.audit()
        assert all(len(replicas) == 3 for replicas, _ in rows.values())
        code, output = await asyncio.to_thread(setup.scrub)
        assert code == 0 and f"{len(rows)} ok" in output, output


async def test_a_corrupt_replica_is_served_around_and_repaired(setup: StorageSetup) -> None:
    server = setup.start()
    async with S3Client(server) as s3:
        objects = await fill(s3)
        damaged: list[tuple[Path, bytes]] = []
        for key in ["obj-1", "obj-2", "obj-5"]:  # small (one read), 300 KiB, and multi-block
            reply = await s3.admin(
                "POST", "/_admin/faults", {"target": "replica", "bucket": BUCKET, "key": key}
            )
            assert reply.status == 200, reply.body
            (hit,) = reply.json()["corrupted"]
            assert md5(Path(hit["path"]).read_bytes()) != md5(objects[key])
            damaged.append((Path(hit["path"]), objects[key]))
        await read_all_correctly(s3, objects)
        # The GETs noticed and repaired the bad replicas in the background.
        assert eventually(lambda: all(path.read_bytes() == data for path, data in damaged))

        # A replica GET does not read first (not the primary) is left for scrub to find.
        reply = await s3.admin(
            "POST", "/_admin/faults", {"target": "replica", "bucket": BUCKET, "key": "obj-5", "replica": 2}
        )
        path = Path(reply.json()["corrupted"][0]["path"])
        code, output = await asyncio.to_thread(setup.scrub)
        assert code == 0 and "1 repaired" in output, output
        assert path.read_bytes() == objects["obj-5"]
        await read_all_correctly(s3, objects)
    await setup.audit()


async def test_every_replica_corrupt_is_an_error_never_wrong_bytes(setup: StorageSetup) -> None:
    server = setup.start()
    async with S3Client(server) as s3:
        await s3.create_bucket(BUCKET)
        small, large = os.urandom(4096), os.urandom(3 * MiB)
        for key, data in [("small", small), ("large", large), ("early", large)]:
            assert (await s3.put(BUCKET, key, data)).status == 200
        for key, offset in [("small", 100), ("large", 2 * MiB + 10), ("early", 10)]:
            reply = await s3.admin(
                "POST",
                "/_admin/faults",
                {"target": "replica", "bucket": BUCKET, "key": key, "replica": "all", "offset": offset},
            )
            assert reply.status == 200 and len(reply.json()["corrupted"]) == 3

        # Detected before the first byte: an S3 error.
        for key, headers in [
            ("small", None),
            ("early", None),
            ("large", {"Range": f"bytes={2 * MiB}-{2 * MiB + 99}"}),
        ]:
            reply = await s3.get(BUCKET, key, headers)
            assert reply.status == 503 and b"ServiceUnavailable" in reply.body, (key, reply.status)
        # Detected mid-stream: the connection is cut after the good blocks; never a wrong byte.
        status, received, complete = await s3.stream(BUCKET, "large")
        assert status == 200 and not complete
        assert received == large[: len(received)] and len(received) <= 2 * MiB
        # The good parts of the object still serve.
        ranged = await s3.get(BUCKET, "large", {"Range": "bytes=0-99"})
        assert (ranged.status, ranged.body) == (206, large[:100])

        code, output = await asyncio.to_thread(setup.scrub)
        assert code == 1 and "3 unrecoverable" in output, output
