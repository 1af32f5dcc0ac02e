"""The blob reaper against a real replicated store and a stand-in metadata store: what it removes,
what it keeps (anything referenced, anything young), and what it indexes again."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import AsyncIterator, Sequence
from pathlib import Path

import pytest

from s3server.reaper import BlobReaper, Reaper
from s3server.storage.index import BlobInfo
from s3server.storage.replicated import ReplicatedBlobStore
from tests.unit.test_storage import all_files, put

OLD = time.time() - 7200


class FakeMeta:
    """Only what the reaper asks: which blob ids are referenced."""

    def __init__(self) -> None:
        self.referenced: set[str] = set()
        self.questions = 0

    async def referenced_blobs(self, blob_ids: Sequence[str]) -> set[str]:
        self.questions += 1
        return {b for b in blob_ids if b in self.referenced}


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[ReplicatedBlobStore]:
    store = ReplicatedBlobStore(tmp_path / "index.db", [tmp_path / f"drive{i}" for i in range(3)], 2)
    await store.open()
    yield store
    await store.close()


def age(store: ReplicatedBlobStore, blob_id: str) -> None:
    """Make a blob's files look old."""
    for drive in store.drives:
        path = drive.path_of(blob_id)
        if os.path.exists(path):
            os.utime(path, (OLD, OLD))


async def backdate(store: ReplicatedBlobStore, blob_id: str) -> None:
    await store.index.db.write(
        lambda c: c.execute("UPDATE blobs SET created = ? WHERE blob_id = ?", (OLD, blob_id))
    )


async def test_unreferenced_old_blobs_go_referenced_and_young_ones_stay(store: ReplicatedBlobStore) -> None:
    meta = FakeMeta()
    kept, orphan, young = [await put(store, os.urandom(n)) for n in (10, 20, 30)]
    meta.referenced.add(kept)
    for blob_id in (kept, orphan):
        await backdate(store, blob_id)
    reaper = BlobReaper(store, meta, grace=3600, interval=60)  # type: ignore[arg-type]
    report = await reaper.reap_once()
    assert report.unreferenced == 1
    assert set((await store.index.get_many([kept, orphan, young])).keys()) == {kept, young}
    assert await store.read_small(kept, 0, 10)


async def test_walk_removes_stray_files_and_indexes_referenced_ones(
    store: ReplicatedBlobStore, tmp_path: Path
) -> None:
    meta = FakeMeta()
    stray, lost_row = [await put(store, os.urandom(5000)) for _ in range(2)]
    meta.referenced.add(lost_row)
    await store.index.db.write(lambda c: c.execute("DELETE FROM blobs"))
    for blob_id in (stray, lost_row):
        age(store, blob_id)
    crash_tmp = Path(store.drives[0].tmp_dir) / "0123.tmp"
    crash_tmp.write_bytes(b"half")
    os.utime(crash_tmp, (OLD, OLD))
    reaper = BlobReaper(store, meta, grace=60, interval=60)  # type: ignore[arg-type]
    report = await reaper.reap_once()
    assert report.walked and report.temp_files == 1 and report.stray_files == 2 and report.adopted == 1
    assert not crash_tmp.exists()
    rows = await store.index.get_many([stray, lost_row])
    assert list(rows) == [lost_row] and len(rows[lost_row].replicas) == 2
    remaining = {p.name for p in all_files(tmp_path)}
    assert remaining == {lost_row}
    # Later passes do not walk unless asked.
    assert not (await reaper.reap_once()).walked
    assert (await reaper.reap_once(walk=True)).walked


async def test_young_stray_files_and_live_temporaries_stay(store: ReplicatedBlobStore) -> None:
    meta = FakeMeta()
    blob_id = await put(store, b"young")
    await store.index.db.write(lambda c: c.execute("DELETE FROM blobs"))

    def start_writing() -> object:
        writer = store.new_writer()
        writer.write(b"in flight")
        return writer

    writer = await asyncio.to_thread(start_writing)
    report = await BlobReaper(store, meta, grace=0, interval=60).reap_once()  # type: ignore[arg-type]
    assert report.temp_files == 0  # the live writer's file is left alone even with no grace
    assert report.stray_files == 2  # grace 0: the young unreferenced files go
    report = await BlobReaper(store, meta, grace=3600, interval=60).reap_once()  # type: ignore[arg-type]
    assert report.stray_files == 0
    await asyncio.to_thread(writer.abort)  # type: ignore[attr-defined]
    assert blob_id


async def test_a_replica_on_a_drive_its_row_does_not_list_is_stray(store: ReplicatedBlobStore) -> None:
    meta = FakeMeta()
    blob_id = await put(store, b"listed")
    meta.referenced.add(blob_id)
    info = await store.info(blob_id)
    extra = next(d for d in store.drives if d.drive_id not in info.replicas)
    Path(extra.path_of(blob_id)).parent.mkdir(parents=True, exist_ok=True)
    Path(extra.path_of(blob_id)).write_bytes(b"listed")
    age(store, blob_id)
    report = await BlobReaper(store, meta, grace=60, interval=60).reap_once()  # type: ignore[arg-type]
    assert report.stray_files == 1
    assert not os.path.exists(extra.path_of(blob_id))
    assert await store.read_small(blob_id, 0, 6) == b"listed"


async def test_a_mostly_unreferenced_store_is_left_alone(store: ReplicatedBlobStore) -> None:
    meta = FakeMeta()
    rows = [
        BlobInfo(f"{n:032x}", 0, None, 1024 * 1024, b"", (store.drives[0].drive_id,), created=OLD)
        for n in range(1200)
    ]

    def insert(conn) -> None:  # type: ignore[no-untyped-def]
        conn.executemany(
            "INSERT INTO blobs (blob_id, size, md5, block_size, blocks, replicas, state, created) "
            "VALUES (?, 0, NULL, 1048576, x'', ?, 'committed', ?)",
            [(r.blob_id, r.replicas[0], r.created) for r in rows],
        )

    await store.index.db.write(insert)
    report = await BlobReaper(store, meta, grace=60, interval=60).reap_once(walk=False)  # type: ignore[arg-type]
    assert report.unreferenced == 0
    assert (await store.index.totals())[0] == 1200


async def test_metadata_failure_deletes_nothing(store: ReplicatedBlobStore) -> None:
    class Down(FakeMeta):
        async def referenced_blobs(self, blob_ids: Sequence[str]) -> set[str]:
            raise RuntimeError("metadata down")

    blob_id = await put(store, b"precious")
    await backdate(store, blob_id)
    with pytest.raises(RuntimeError):
        await BlobReaper(store, Down(), grace=0, interval=60).reap_once()  # type: ignore[arg-type]
    assert await store.read_small(blob_id, 0, 8) == b"precious"


async def test_one_task_runs_every_pass() -> None:
    runs: list[str] = []

    class Job:
        def __init__(self, name: str, interval: float, enabled: bool = True) -> None:
            self.name = name
            self.interval = interval
            self.enabled = enabled

        async def reap_once(self) -> None:
            runs.append(self.name)
            if self.name == "flaky" and runs.count("flaky") == 1:
                raise RuntimeError("hiccup")

    reaper = Reaper([Job("fast", 0.05), Job("flaky", 0.05), Job("off", 0.01, enabled=False)])  # type: ignore[list-item]
    reaper.start()
    await asyncio.sleep(0.3)
    await reaper.stop()
    assert runs.count("fast") >= 3 and runs.count("flaky") >= 3 and "off" not in runs
