"""The storage index: one SQLite row per blob, the source of truth for GET verification, scrub and the
reaper.

A row is written once, when the blob's replicas are durable (one transaction, group-committed with
its neighbours by `sqlitedb.Database`), so a write that never committed leaves no row, only temporary
files that the reaper removes. A row holds the blob's size, its MD5 (from the saga), one xxh3-64
checksum per fixed-size block (the checksums live here, never inside the replica files) and the
drives holding its replicas, in placement order. State is 'committed', or 'deleting' for a blob
whose metadata is gone but some replica could not be removed yet (the reaper retries).

The index commits with synchronous=NORMAL (WAL): a row survives a process crash, and only a power
loss can take back the last rows. That costs no acknowledged data: the replicas themselves were
fsync'd before the row was written, and a replica file without a row that metadata references is
indexed again from its bytes (on first read, and by the reaper's start-up walk). Paying a second
fsync'd transaction per PUT for rows that can be rebuilt would halve small-object throughput.
"""

from __future__ import annotations

import asyncio
import random
import sqlite3
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TypeVar

import xxhash

from s3server.sqlitedb import Database, apply_migrations
from s3server.storage.base import StorageError

T = TypeVar("T")

BLOCK_SIZE = 1024 * 1024
DIGEST_SIZE = 8  # xxh3-64
_IN_CHUNK = 400  # ids per IN (...) list, under SQLite's variable limit
OPEN_ATTEMPTS = 100

MIGRATIONS: list[list[str]] = [
    [
        """CREATE TABLE drives (
            drive_id TEXT PRIMARY KEY,
            path TEXT NOT NULL,
            added REAL NOT NULL
        )""",
        """CREATE TABLE blobs (
            blob_id TEXT PRIMARY KEY,
            size INTEGER NOT NULL,
            md5 TEXT,
            block_size INTEGER NOT NULL,
            blocks BLOB NOT NULL,
            replicas TEXT NOT NULL,
            state TEXT NOT NULL DEFAULT 'committed' CHECK (state IN ('committed', 'deleting')),
            created REAL NOT NULL
        ) WITHOUT ROWID""",
        "CREATE INDEX blobs_deleting ON blobs (state) WHERE state = 'deleting'",
    ]
]


def block_digest(data: bytes | bytearray | memoryview) -> bytes:
    return xxhash.xxh3_64_digest(data)


class BlockHasher:
    """One xxh3-64 digest per BLOCK_SIZE block of a stream fed in pieces of any size: what a writer
    records in the index, and what a gateway compares with a storage node's answer."""

    __slots__ = ("_fill", "_hasher", "digests")

    def __init__(self) -> None:
        self._hasher = xxhash.xxh3_64()
        self._fill = 0
        self.digests = bytearray()

    def update(self, view: memoryview) -> None:
        pos, n = 0, len(view)
        while pos < n:
            take = min(BLOCK_SIZE - self._fill, n - pos)
            self._hasher.update(view[pos : pos + take])
            self._fill += take
            pos += take
            if self._fill == BLOCK_SIZE:
                self.digests += self._hasher.digest()
                self._hasher.reset()
                self._fill = 0

    def finish(self) -> bytes:
        """The digests of every block, the last (short) one included; call once, at the end."""
        if self._fill:
            self.digests += self._hasher.digest()
            self._fill = 0
        return bytes(self.digests)


@dataclass(frozen=True, slots=True)
class BlobInfo:
    blob_id: str
    size: int
    md5: str | None
    block_size: int
    blocks: bytes  # DIGEST_SIZE bytes per block
    replicas: tuple[str, ...]  # drive ids, placement order
    state: str = "committed"
    created: float = 0.0

    @property
    def block_count(self) -> int:
        return len(self.blocks) // DIGEST_SIZE

    def digest(self, block: int) -> bytes:
        return self.blocks[block * DIGEST_SIZE : (block + 1) * DIGEST_SIZE]

    def block_length(self, block: int) -> int:
        return min(self.block_size, self.size - block * self.block_size)

    def with_replicas(self, replicas: Sequence[str]) -> BlobInfo:
        return replace(self, replicas=tuple(replicas))


_COLUMNS = "blob_id, size, md5, block_size, blocks, replicas, state, created"


def _row(row: tuple) -> BlobInfo:  # type: ignore[type-arg]
    blob_id, size, md5, block_size, blocks, replicas, state, created = row
    return BlobInfo(
        blob_id,
        size,
        md5,
        block_size,
        bytes(blocks),
        tuple(r for r in replicas.split(",") if r),
        state,
        created,
    )


class _IndexDatabase(Database):
    """The shared SQLite runner, with the writer committing at synchronous=NORMAL (see above)."""

    def _connect(self, *, writer: bool, busy_ms: int | None = None) -> sqlite3.Connection:
        conn = super()._connect(writer=writer, busy_ms=busy_ms)
        if writer:
            conn.execute("PRAGMA synchronous = NORMAL")
        return conn


class StorageIndex:
    """Async access to the index database; every failure is a StorageError."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.db = _IndexDatabase(self.path, readers=2)

    async def _run(self, write: bool, fn):  # type: ignore[no-untyped-def]
        try:
            return await (self.db.write(fn) if write else self.db.read(fn))
        except sqlite3.Error as exc:
            raise StorageError(f"storage index {self.path}: {exc}") from exc

    async def open(self) -> None:
        try:
            await self._open_db()
            await self.db.write(lambda conn: apply_migrations(conn, MIGRATIONS))
        except sqlite3.Error as exc:
            await self.db.close()
            raise StorageError(f"storage index {self.path}: {exc}") from exc

    async def _open_db(self) -> None:
        """Open the database; several processes (workers, scrub) opening a new index at once may see
        "database is locked" while one of them switches it to WAL, which no busy timeout covers."""
        for attempt in range(OPEN_ATTEMPTS):
            try:
                await self.db.open()
                return
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) or attempt == OPEN_ATTEMPTS - 1:
                    raise
                await asyncio.sleep(0.05 + random.random() * 0.1)

    async def close(self) -> None:
        await self.db.close()

    # -- drives

    async def drives(self) -> dict[str, str]:
        """path -> drive id for every drive the index has seen."""
        rows = await self._run(False, lambda c: c.execute("SELECT path, drive_id FROM drives").fetchall())
        return dict(rows)

    async def record_drives(self, drives: Sequence[tuple[str, str]]) -> None:
        """Remember (drive id, path) pairs; a drive that moved keeps its id under its new path."""
        now = time.time()

        def run(conn: sqlite3.Connection) -> None:
            for drive_id, path in drives:
                conn.execute(
                    "INSERT INTO drives (drive_id, path, added) VALUES (?, ?, ?) "
                    "ON CONFLICT (drive_id) DO UPDATE SET path = excluded.path",
                    (drive_id, path, now),
                )

        await self._run(True, run)

    # -- blobs

    async def get(self, blob_id: str) -> BlobInfo | None:
        def run(conn: sqlite3.Connection) -> BlobInfo | None:
            row = conn.execute(f"SELECT {_COLUMNS} FROM blobs WHERE blob_id = ?", (blob_id,)).fetchone()
            return _row(row) if row else None

        try:  # a point lookup: on the calling (event loop) thread, see Database.read_now
            return self.db.read_now(run)
        except sqlite3.OperationalError:
            return await self._run(False, run)
        except sqlite3.Error as exc:
            raise StorageError(f"storage index {self.path}: {exc}") from exc

    async def get_many(self, blob_ids: Sequence[str]) -> dict[str, BlobInfo]:
        ids = list(dict.fromkeys(blob_ids))

        def run(conn: sqlite3.Connection) -> dict[str, BlobInfo]:
            found: dict[str, BlobInfo] = {}
            for i in range(0, len(ids), _IN_CHUNK):
                chunk = ids[i : i + _IN_CHUNK]
                marks = ",".join("?" * len(chunk))
                for row in conn.execute(f"SELECT {_COLUMNS} FROM blobs WHERE blob_id IN ({marks})", chunk):
                    info = _row(row)
                    found[info.blob_id] = info
            return found

        return await self._run(False, run) if ids else {}

    async def insert(self, info: BlobInfo, *, on_conflict: str = "ABORT") -> None:
        """Add a row; `on_conflict="IGNORE"` keeps a row another process wrote first."""
        verb = f"INSERT OR {on_conflict}"

        def run(conn: sqlite3.Connection) -> None:
            conn.execute(
                f"{verb} INTO blobs ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    info.blob_id,
                    info.size,
                    info.md5,
                    info.block_size,
                    info.blocks,
                    ",".join(info.replicas),
                    info.state,
                    info.created,
                ),
            )

        await self._run(True, run)

    async def set_replicas(self, blob_id: str, replicas: Sequence[str]) -> bool:
        """Record a new replica set; False when the blob is gone meanwhile."""

        def run(conn: sqlite3.Connection) -> bool:
            cur = conn.execute(
                "UPDATE blobs SET replicas = ? WHERE blob_id = ? AND state = 'committed'",
                (",".join(replicas), blob_id),
            )
            return cur.rowcount > 0

        return await self._run(True, run)

    async def begin_delete(self, blob_ids: Sequence[str]) -> dict[str, BlobInfo]:
        """Mark blobs 'deleting' (so no repair writes them again) and return their rows, in one
        transaction, before their files are removed."""
        ids = list(dict.fromkeys(blob_ids))

        def run(conn: sqlite3.Connection) -> dict[str, BlobInfo]:
            found: dict[str, BlobInfo] = {}
            for i in range(0, len(ids), _IN_CHUNK):
                chunk = ids[i : i + _IN_CHUNK]
                marks = ",".join("?" * len(chunk))
                for row in conn.execute(f"SELECT {_COLUMNS} FROM blobs WHERE blob_id IN ({marks})", chunk):
                    info = _row(row)
                    found[info.blob_id] = info
                conn.execute(f"UPDATE blobs SET state = 'deleting' WHERE blob_id IN ({marks})", chunk)
            return found

        return await self._run(True, run) if ids else {}

    async def drop(self, blob_ids: Sequence[str]) -> None:
        """Forget blobs whose files are all gone."""

        def run(conn: sqlite3.Connection) -> None:
            conn.executemany("DELETE FROM blobs WHERE blob_id = ?", [(b,) for b in blob_ids])

        if blob_ids:
            await self._run(True, run)

    async def known(self, blob_ids: Sequence[str]) -> set[str]:
        """Which of these ids have a row (in any state)."""
        ids = list(dict.fromkeys(blob_ids))

        def run(conn: sqlite3.Connection) -> set[str]:
            found: set[str] = set()
            for i in range(0, len(ids), _IN_CHUNK):
                chunk = ids[i : i + _IN_CHUNK]
                marks = ",".join("?" * len(chunk))
                found.update(
                    r[0] for r in conn.execute(f"SELECT blob_id FROM blobs WHERE blob_id IN ({marks})", chunk)
                )
            return found

        return await self._run(False, run) if ids else set()

    async def page(self, after: str, limit: int, *, created_before: float | None = None) -> list[BlobInfo]:
        """Committed blobs with ids above `after`, in id order; optionally only older ones."""

        def run(conn: sqlite3.Connection) -> list[BlobInfo]:
            if created_before is None:
                rows = conn.execute(
                    f"SELECT {_COLUMNS} FROM blobs WHERE blob_id > ? AND state = 'committed' "
                    "ORDER BY blob_id LIMIT ?",
                    (after, limit),
                )
            else:
                rows = conn.execute(
                    f"SELECT {_COLUMNS} FROM blobs WHERE blob_id > ? AND state = 'committed' AND created < ? "
                    "ORDER BY blob_id LIMIT ?",
                    (after, created_before, limit),
                )
            return [_row(r) for r in rows]

        return await self._run(False, run)

    async def deleting(self, limit: int) -> list[BlobInfo]:
        def run(conn: sqlite3.Connection) -> list[BlobInfo]:
            rows = conn.execute(f"SELECT {_COLUMNS} FROM blobs WHERE state = 'deleting' LIMIT ?", (limit,))
            return [_row(r) for r in rows]

        return await self._run(False, run)

    async def totals(self) -> tuple[int, int]:
        """(number of committed blobs, their total size)."""

        def run(conn: sqlite3.Connection) -> tuple[int, int]:
            count, size = conn.execute(
                "SELECT count(*), coalesce(sum(size), 0) FROM blobs WHERE state = 'committed'"
            ).fetchone()
            return count, size

        return await self._run(False, run)
