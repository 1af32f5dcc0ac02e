"""The replicated blob store: placement, durable commit, verified reads with failover, repair, deletion,
the storage index, and fault-injecting drives."""

from __future__ import annotations

import asyncio
import hashlib
import os
import shutil
import sqlite3
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest

from s3server.config import resolve
from s3server.faults import DriveFault, Faults, FaultyDrive, FaultyMetadataStore, corrupt_file
from s3server.metadata.base import MetadataError
from s3server.storage import build_blob_store, drive_paths, replica_count
from s3server.storage.base import BlobNotFound, BlobUnreadable, StorageError
from s3server.storage.drives import Drive, rank
from s3server.storage.index import BLOCK_SIZE
from s3server.storage.replicated import ReplicatedBlobStore

MiB = 1024 * 1024

MakeStore = Callable[..., Awaitable[ReplicatedBlobStore]]


@pytest.fixture
async def make_store(tmp_path: Path) -> AsyncIterator[MakeStore]:
    opened: list[ReplicatedBlobStore] = []

    async def make(drives: int = 3, replicas: int = 3, **kwargs: object) -> ReplicatedBlobStore:
        store = ReplicatedBlobStore(
            tmp_path / "index.db",
            [tmp_path / f"drive{i}" for i in range(drives)],
            replicas,
            **kwargs,  # type: ignore[arg-type]
        )
        await store.open()
        opened.append(store)
        return store

    yield make
    for store in opened:
        await store.close()


async def put(store: ReplicatedBlobStore, data: bytes, piece: int = MiB + 17) -> str:
    """Write a blob the way the saga does: pieces and seal on a worker thread, then commit."""
    writer = store.new_writer()

    def run() -> None:
        for i in range(0, len(data), piece):
            writer.write(data[i : i + piece])
        writer.seal()

    await asyncio.to_thread(run)
    await writer.commit(hashlib.md5(data).hexdigest())
    assert writer.size == len(data)
    return writer.blob_id


async def get(store: ReplicatedBlobStore, blob_id: str, offset: int = 0, length: int | None = None) -> bytes:
    info = await store.info(blob_id)
    length = info.size - offset if length is None else length
    return b"".join([piece async for piece in store.read(blob_id, offset, length)])


def replica_paths(store: ReplicatedBlobStore, blob_id: str) -> list[Path]:
    return [Path(d.path_of(blob_id)) for d in store.drives if os.path.exists(d.path_of(blob_id))]


def all_files(root: Path) -> list[Path]:
    return sorted(
        p for p in root.rglob("*") if p.is_file() and p.name != "drive-id" and "index.db" not in p.name
    )


@pytest.mark.parametrize(
    "size", [0, 1, 4096, BLOCK_SIZE - 1, BLOCK_SIZE, BLOCK_SIZE + 1, 3 * BLOCK_SIZE + 12345]
)
async def test_round_trip_and_plain_replicas(make_store: MakeStore, size: int) -> None:
    store = await make_store()
    data = os.urandom(size)
    blob_id = await put(store, data)
    assert await get(store, blob_id) == data
    paths = replica_paths(store, blob_id)
    assert len(paths) == 3
    for path in paths:
        assert path.read_bytes() == data  # plain files: `cp` recovers the object
    info = await store.index.get(blob_id)
    assert info is not None
    assert (info.size, info.md5, info.state) == (size, hashlib.md5(data).hexdigest(), "committed")
    assert info.block_count == -(-size // BLOCK_SIZE)
    assert list(info.replicas) == [d.drive_id for d in rank(blob_id, store.drives)]
    for drive in store.drives:
        assert os.listdir(drive.tmp_dir) == []


@pytest.mark.parametrize(
    ("offset", "length"),
    [
        (0, 1),
        (5, 100),
        (BLOCK_SIZE - 3, 6),
        (BLOCK_SIZE, BLOCK_SIZE),
        (BLOCK_SIZE + 1, 2 * BLOCK_SIZE),
        (0, 0),
    ],
)
async def test_ranges(make_store: MakeStore, offset: int, length: int) -> None:
    store = await make_store()
    data = os.urandom(3 * BLOCK_SIZE + 99)
    blob_id = await put(store, data)
    assert await get(store, blob_id, offset, length) == data[offset : offset + length]
    assert await store.read_small(blob_id, offset, length) == data[offset : offset + length]
    with pytest.raises(StorageError):
        await store.read_small(blob_id, len(data) - 1, 2)


async def test_placement_is_rendezvous(make_store: MakeStore) -> None:
    store = await make_store(drives=5, replicas=2)
    counts = dict.fromkeys(store.by_id, 0)
    for _ in range(60):
        blob_id = await put(store, b"x")
        info = await store.index.get(blob_id)
        assert info is not None and len(set(info.replicas)) == 2
        for drive_id in info.replicas:
            counts[drive_id] += 1
    assert all(count > 0 for count in counts.values())  # spread over every drive
    # Losing a drive moves only the blobs that ranked it among their first two.
    survivors = store.drives[1:]
    for n in range(200):
        blob_id = f"{n:032x}"
        before = [d.drive_id for d in rank(blob_id, store.drives)[:2]]
        after = [d.drive_id for d in rank(blob_id, survivors)[:2]]
        if store.drives[0].drive_id not in before:
            assert after == before


async def test_abort_and_failed_commit_leave_nothing(make_store: MakeStore, tmp_path: Path) -> None:
    store = await make_store()

    def abort() -> None:
        writer = store.new_writer()
        writer.write(b"partial" * 1000)
        writer.abort()
        writer.abort()

    await asyncio.to_thread(abort)
    assert all_files(tmp_path) == []
    assert await store.index.totals() == (0, 0)


async def test_a_corrupt_replica_fails_over_and_is_repaired(make_store: MakeStore) -> None:
    store = await make_store()
    data = os.urandom(2 * BLOCK_SIZE + 10)
    blob_id = await put(store, data)
    info = await store.info(blob_id)
    primary = store.by_id[info.replicas[0]].path_of(blob_id)
    corrupt_file(primary, BLOCK_SIZE + 5)  # the middle block of the replica GET reads first
    assert await get(store, blob_id) == data
    await store.wait_repairs()
    assert Path(primary).read_bytes() == data
    assert (await store.run(store.check_blob, info, False)).status == "ok"


async def test_damage_in_different_blocks_of_every_replica_is_survivable(make_store: MakeStore) -> None:
    store = await make_store()
    data = os.urandom(3 * BLOCK_SIZE)
    blob_id = await put(store, data)
    info = await store.info(blob_id)
    for block, drive_id in enumerate(info.replicas):
        corrupt_file(store.by_id[drive_id].path_of(blob_id), block * BLOCK_SIZE + 7)
    assert await get(store, blob_id) == data
    await store.wait_repairs()
    for path in replica_paths(store, blob_id):
        assert path.read_bytes() == data


async def test_every_replica_bad_is_an_error_not_wrong_bytes(make_store: MakeStore) -> None:
    store = await make_store()
    data = os.urandom(2 * BLOCK_SIZE)
    blob_id = await put(store, data)
    info = await store.info(blob_id)
    for drive_id in info.replicas:
        corrupt_file(store.by_id[drive_id].path_of(blob_id), BLOCK_SIZE + 1)
    received = bytearray()
    with pytest.raises(BlobUnreadable):
        async for piece in store.read(blob_id, 0, len(data)):
            received += piece
    assert bytes(received) == data[:BLOCK_SIZE]  # the good first block, nothing after it
    with pytest.raises(BlobUnreadable):
        await store.read_small(blob_id, BLOCK_SIZE, 10)
    verdict = await store.run(store.check_blob, info, True)
    assert verdict.status == "unrecoverable"


async def test_missing_replica_and_lost_drive_directory(make_store: MakeStore) -> None:
    store = await make_store()
    data = os.urandom(BLOCK_SIZE + 3)
    blob_id = await put(store, data)
    info = await store.info(blob_id)
    os.unlink(store.by_id[info.replicas[0]].path_of(blob_id))
    assert await get(store, blob_id) == data
    await store.wait_repairs()
    assert len(replica_paths(store, blob_id)) == 3


async def test_a_removed_drive_comes_back_under_its_id(make_store: MakeStore, tmp_path: Path) -> None:
    store = await make_store()
    data = os.urandom(5000)
    blob_id = await put(store, data)
    lost = store.drives[1]
    await store.close()
    shutil.rmtree(lost.path)
    store = await make_store()
    assert store.drives[1].drive_id == lost.drive_id
    assert await get(store, blob_id) == data
    verdict = await store.run(store.check_blob, await store.info(blob_id), True)
    assert verdict.status == "repaired" and verdict.written == [lost.drive_id]
    assert Path(store.drives[1].path_of(blob_id)).read_bytes() == data


async def test_delete_removes_files_and_rows(make_store: MakeStore, tmp_path: Path) -> None:
    store = await make_store()
    ids = [await put(store, os.urandom(100)) for _ in range(3)]
    await store.delete([*ids, "0" * 32])
    assert all_files(tmp_path) == []
    assert await store.index.get_many(ids) == {}
    with pytest.raises(BlobNotFound):
        await store.info(ids[0])


async def test_deletes_arriving_together_share_a_pass(make_store: MakeStore) -> None:
    """A delete with no pass running runs its own; the deletes arriving meanwhile share the next
    pass, and each caller hears only of its own blobs."""
    store = await make_store()
    ids = [await put(store, os.urandom(100)) for _ in range(8)]
    # One replica of the last blob cannot be removed: a directory stands where its file was.
    stuck = Path(store.drives[0].path_of(ids[-1]))
    stuck.unlink()
    stuck.mkdir()
    (stuck / "x").touch()
    passes = 0
    begin = store.index.begin_delete

    async def counted(blob_ids: list[str]) -> dict[str, object]:
        nonlocal passes
        passes += 1
        return await begin(blob_ids)  # type: ignore[return-value]

    store.index.begin_delete = counted  # type: ignore[method-assign,assignment]
    results = await asyncio.gather(*(store.delete([blob_id]) for blob_id in ids), return_exceptions=True)
    assert results[:-1] == [None] * 7
    assert isinstance(results[-1], StorageError)
    assert passes == 2  # the first delete's, then one for the seven that arrived during it
    assert await store.index.get_many(ids[:-1]) == {}
    row = await store.index.get(ids[-1])
    assert row is not None and row.state == "deleting"
    # A delete arriving after the pass gets a pass of its own.
    await store.delete([await put(store, b"later")])
    assert passes == 3


async def test_failing_drive_writes_are_dropped_while_a_majority_remains(make_store: MakeStore) -> None:
    faults = Faults()
    store = await make_store(drive_factory=faults.drive_factory())
    assert all(isinstance(d, FaultyDrive) for d in store.drives)
    bad = store.drives[0]
    faults.drives[bad.drive_id] = DriveFault(reads=True, writes=True)
    data = os.urandom(BLOCK_SIZE + 1)
    blob_id = await put(store, data)
    info = await store.info(blob_id)
    assert len(info.replicas) == 2 and bad.drive_id not in info.replicas
    # Two failing drives out of three: no quorum, nothing left behind.
    faults.drives[store.drives[1].drive_id] = DriveFault(reads=False, writes=True)
    with pytest.raises(StorageError):
        await put(store, data)
    for drive in store.drives:
        assert os.listdir(drive.tmp_dir) == []
    # Once the drive is back, a check tops the first blob up to three replicas.
    faults.clear()
    verdict = await store.run(store.check_blob, info, True)
    assert verdict.status == "repaired"
    assert len((await store.info(blob_id)).replicas) == 3


async def test_failing_drive_reads_fail_over(make_store: MakeStore) -> None:
    faults = Faults()
    store = await make_store(drive_factory=faults.drive_factory())
    data = os.urandom(2 * BLOCK_SIZE)
    blob_id = await put(store, data)
    info = await store.info(blob_id)
    faults.drives[info.replicas[0]] = DriveFault(reads=True, writes=False)
    assert await get(store, blob_id) == data
    assert await store.read_small(blob_id, 10, 10) == data[10:20]
    for drive_id in info.replicas:
        faults.drives[drive_id] = DriveFault(reads=True, writes=False)
    with pytest.raises(BlobUnreadable):
        await store.read_small(blob_id, 0, 10)


async def test_failed_delete_is_finished_later(make_store: MakeStore, tmp_path: Path) -> None:
    faults = Faults()
    store = await make_store(drive_factory=faults.drive_factory())
    blob_id = await put(store, b"data")
    faults.drives[store.drives[2].drive_id] = DriveFault(reads=False, writes=True)
    with pytest.raises(StorageError):
        await store.delete([blob_id])
    row = await store.index.get(blob_id)
    assert row is not None and row.state == "deleting"
    with pytest.raises(BlobNotFound):
        await store.info(blob_id)
    faults.clear()
    assert await store.finish_deletes() == 1
    assert all_files(tmp_path) == []
    assert await store.index.get(blob_id) is None


async def test_lost_index_row_is_rebuilt_from_the_replicas(make_store: MakeStore, tmp_path: Path) -> None:
    store = await make_store()
    data = os.urandom(BLOCK_SIZE + 5)
    blob_id = await put(store, data)
    await store.close()
    with sqlite3.connect(tmp_path / "index.db") as conn:
        conn.execute("DELETE FROM blobs")
    store = await make_store()
    assert await get(store, blob_id) == data
    info = await store.index.get(blob_id)
    assert info is not None and info.md5 == hashlib.md5(data).hexdigest() and len(info.replicas) == 3


async def test_fsync_can_be_switched_off(make_store: MakeStore) -> None:
    store = await make_store(fsync=False)
    blob_id = await put(store, b"fast")
    assert await get(store, blob_id) == b"fast"


async def test_bad_replica_counts_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        ReplicatedBlobStore(tmp_path / "i.db", [tmp_path / "a"], 2)
    with pytest.raises(ValueError):
        ReplicatedBlobStore(tmp_path / "i.db", [], 1)


async def test_a_copied_drive_is_refused(make_store: MakeStore, tmp_path: Path) -> None:
    store = await make_store(drives=1, replicas=1)
    await store.close()
    (tmp_path / "drive1").mkdir()
    (tmp_path / "drive1" / "drive-id").write_text((tmp_path / "drive0" / "drive-id").read_text())
    with pytest.raises(ValueError, match="same id"):
        await make_store(drives=2, replicas=1)


def test_drive_and_replica_settings() -> None:
    settings = resolve(None, {"S3SERVER_DATA_DIR": "/srv/data"})
    assert drive_paths(settings) == [Path("/srv/data/storage")]
    assert replica_count(settings) == 1
    settings = resolve(None, {"S3SERVER_DRIVES": "/d1, /d2,/d3,/d4"})
    assert drive_paths(settings) == [Path("/d1"), Path("/d2"), Path("/d3"), Path("/d4")]
    assert replica_count(settings) == 3
    settings = resolve(None, {"S3SERVER_DRIVES": "/d1,/d2", "S3SERVER_REPLICAS": "1"})
    assert replica_count(settings) == 1


async def test_build_blob_store_uses_the_data_dir(tmp_path: Path) -> None:
    settings = resolve(None, {"S3SERVER_DATA_DIR": str(tmp_path)})
    store = build_blob_store(settings)
    await store.open()
    try:
        blob_id = await put(store, b"hello")
        assert (
            Path(tmp_path / "storage" / "blobs" / blob_id[:2] / blob_id[2:4] / blob_id).read_bytes()
            == b"hello"
        )
        assert (tmp_path / "storage-index.db").exists()
    finally:
        await store.close()


class _Meta:
    async def put_object(self, *args: object) -> str:
        return "written"

    async def get_object(self, *args: object) -> str:
        return "read"


async def test_faulty_metadata_store() -> None:
    faults = Faults()
    meta = FaultyMetadataStore(_Meta(), faults)  # type: ignore[arg-type]
    assert await meta.put_object() == "written"
    faults.metadata = "writes"
    with pytest.raises(MetadataError):
        await meta.put_object()
    assert await meta.get_object() == "read"
    faults.metadata = "all"
    with pytest.raises(MetadataError):
        await meta.get_object()
    faults.clear()
    assert await meta.get_object() == "read"


def test_plain_drive_has_no_fault_hooks(tmp_path: Path) -> None:
    assert type(Drive("x", tmp_path)).create is Drive.create


async def test_a_blob_being_deleted_is_not_repaired_back(make_store: MakeStore) -> None:
    store = await make_store()
    data = os.urandom(2000)
    blob_id = await put(store, data)
    info = await store.info(blob_id)
    await store.index.begin_delete([blob_id])  # a delete in flight: row marked, files going
    gone = store.by_id[info.replicas[0]].path_of(blob_id)
    os.unlink(gone)
    verdict = await store.run(store.check_blob, info, True)
    assert verdict.written == [] and not os.path.exists(gone)
    assert await get(store, blob_id) == data  # reads in flight may still finish from what is left
    for path in replica_paths(store, blob_id):
        path.unlink()
    with pytest.raises(BlobNotFound):  # gone, not "damaged": a reader that still had the row cached
        await get(store, blob_id)


def _open_and_list_drives(root: str) -> list[str]:
    async def run() -> list[str]:
        store = ReplicatedBlobStore(Path(root) / "index.db", [Path(root) / "a", Path(root) / "b"], 2)
        await store.open()
        try:
            return [d.drive_id for d in store.drives]
        finally:
            await store.close()

    return asyncio.run(run())


def test_processes_opening_a_new_store_at_once_agree(tmp_path: Path) -> None:
    """Worker processes start together: one index, one id per drive, whoever gets there first."""
    import multiprocessing

    with multiprocessing.get_context("fork").Pool(6) as pool:
        seen = pool.map(_open_and_list_drives, [str(tmp_path)] * 6)
    assert all(ids == seen[0] for ids in seen)


async def test_a_data_dir_from_before_the_index_is_adopted(tmp_path: Path) -> None:
    """Blobs written by the single-directory store (no drive id, no index) stay readable."""
    old = tmp_path / "storage"
    blob_id = "ab" * 16
    data = os.urandom(BLOCK_SIZE + 100)
    (old / "blobs" / "ab" / "ab").mkdir(parents=True)
    (old / "blobs" / "ab" / "ab" / blob_id).write_bytes(data)
    store = build_blob_store(resolve(None, {"S3SERVER_DATA_DIR": str(tmp_path)}))
    await store.open()
    try:
        assert await get(store, blob_id) == data
        info = await store.index.get(blob_id)
        assert info is not None and info.md5 == hashlib.md5(data).hexdigest()
        assert info.replicas == (store.drives[0].drive_id,)
    finally:
        await store.close()


async def test_concurrent_writers_share_group_flushes(make_store: MakeStore) -> None:
    store = await make_store()
    flusher = store.drives[0].flusher
    assert flusher is not None and all(d.flusher is flusher for d in store.drives)  # one file system
    before = flusher.flushes
    bodies = [os.urandom(100 + i) for i in range(64)]
    writers = [store.new_writer() for _ in bodies]
    for writer, body in zip(writers, bodies, strict=True):
        writer.write(body)
        writer.seal()  # on the loop thread: replicas one after another, no fan-out
    pairs = list(zip(writers, bodies, strict=True))
    await asyncio.gather(*(w.commit(hashlib.md5(b).hexdigest()) for w, b in pairs))
    assert 1 <= flusher.flushes - before < len(bodies)
    for writer, body in zip(writers, bodies, strict=True):
        assert await get(store, writer.blob_id) == body


async def test_a_failed_flush_fails_the_write_and_leaves_nothing(
    make_store: MakeStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = await make_store()

    def failing(fd: int) -> None:
        raise OSError(5, "syncfs: Input/output error")

    monkeypatch.setattr("s3server.storage.groupsync.syncfs", failing)
    writer = store.new_writer()
    writer.write(b"lost")
    writer.seal()
    with pytest.raises(StorageError, match="Input/output error"):
        await writer.commit(hashlib.md5(b"lost").hexdigest())
    assert [p for p in all_files(tmp_path) if "blobs" in p.parts] == []
    assert await store.index.get(writer.blob_id) is None
