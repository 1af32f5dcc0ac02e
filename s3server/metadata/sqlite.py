"""The embedded metadata backend: one SQLite file in WAL mode, run by `s3server.sqlitedb.Database`.

Object keys are stored as BLOBs of their UTF-8 bytes, so SQLite's memcmp ordering is S3's listing
order and every range bound is computed on bytes. Per-bucket object count and byte total live in the
buckets row and change in the same transaction as the object, so statistics never scan. The
object_blobs table maps each referenced blob to its object, making the reaper's question an index probe.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

from s3server.metadata.base import Bucket, ListPage, MetadataError, ObjectRecord, Segment
from s3server.s3.errors import S3Error
from s3server.sqlitedb import Database, apply_migrations
from s3server.sqlitedb import schema_version as read_schema_version

__all__ = ["MIGRATIONS", "SqliteMetadataStore", "key_successor", "prefix_successor"]

T = TypeVar("T")

# Each migration is a sequence of statements applied in one transaction; index + 1 is the schema
# version it produces. Append new migrations; never edit an applied one.
MIGRATIONS: list[tuple[str, ...]] = [
    (
        """CREATE TABLE buckets (
            name TEXT PRIMARY KEY,
            owner TEXT NOT NULL,
            region TEXT NOT NULL,
            created INTEGER NOT NULL,
            object_count INTEGER NOT NULL DEFAULT 0,
            total_bytes INTEGER NOT NULL DEFAULT 0
        ) WITHOUT ROWID""",
        "CREATE INDEX buckets_by_owner ON buckets (owner, name)",
        """CREATE TABLE objects (
            bucket TEXT NOT NULL REFERENCES buckets (name),
            key BLOB NOT NULL,
            size INTEGER NOT NULL,
            etag TEXT NOT NULL,
            last_modified INTEGER NOT NULL,
            content_type TEXT NOT NULL,
            segments TEXT NOT NULL,
            headers TEXT,
            user_metadata TEXT,
            checksums TEXT,
            tags TEXT,
            parts_count INTEGER,
            part_sizes TEXT,
            storage_class TEXT NOT NULL,
            owner TEXT NOT NULL,
            PRIMARY KEY (bucket, key)
        ) WITHOUT ROWID""",
        """CREATE TABLE object_blobs (
            blob_id TEXT NOT NULL,
            bucket TEXT NOT NULL,
            key BLOB NOT NULL,
            PRIMARY KEY (blob_id, bucket, key)
        ) WITHOUT ROWID""",
    ),
]

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)
# No UTF-8 string contains the byte 0xFF, so b"\xff" is above every key: the open upper bound.
_ABOVE_ALL_KEYS = b"\xff"
_IN_CHUNK = 500  # bound parameters per IN (...) query

_OBJECT_COLUMNS = (
    "key, size, etag, last_modified, content_type, segments, headers, user_metadata, checksums, tags, "
    "parts_count, part_sizes, storage_class, owner"
)
_SELECT_OBJECT = f"SELECT {_OBJECT_COLUMNS} FROM objects WHERE bucket = ? AND key = ?"
_SELECT_RANGE = (
    f"SELECT {_OBJECT_COLUMNS} FROM objects WHERE bucket = ? AND key >= ? AND key < ? ORDER BY key LIMIT ?"
)
_UPSERT_OBJECT = (
    f"INSERT OR REPLACE INTO objects (bucket, {_OBJECT_COLUMNS}) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
_ADD_STATS = (
    "UPDATE buckets SET object_count = object_count + ?, total_bytes = total_bytes + ? WHERE name = ?"
)


def prefix_successor(prefix: bytes) -> bytes | None:
    """The smallest byte string greater than every string starting with `prefix` (None: no bound)."""
    stripped = prefix.rstrip(b"\xff")
    if not stripped:
        return None
    return stripped[:-1] + bytes([stripped[-1] + 1])


def key_successor(key: bytes) -> bytes:
    """The smallest byte string greater than `key` itself: `key > x` is `key >= key_successor(x)`."""
    return key + b"\x00"


def _to_micros(when: datetime) -> int:
    if when.tzinfo is None:  # a naive timestamp is taken to be UTC
        when = when.replace(tzinfo=UTC)
    return (when - _EPOCH) // _MICROSECOND


def _from_micros(micros: int) -> datetime:
    return _EPOCH + timedelta(microseconds=micros)


def _dump(value: Any) -> str | None:
    """Compact JSON, or NULL for an empty/absent value (most objects carry no tags or metadata)."""
    if not value:
        return None
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def _load_dict(text: str | None) -> dict[str, str]:
    return json.loads(text) if text else {}


def _object_params(record: ObjectRecord, key: bytes) -> tuple[Any, ...]:
    segments = json.dumps([[s.blob_id, s.size] for s in record.segments], separators=(",", ":"))
    return (
        record.bucket,
        key,
        record.size,
        record.etag,
        _to_micros(record.last_modified),
        record.content_type,
        segments,
        _dump(record.headers),
        _dump(record.user_metadata),
        _dump(record.checksums),
        _dump(record.tags),
        record.parts_count,
        None if record.part_sizes is None else json.dumps(record.part_sizes, separators=(",", ":")),
        record.storage_class,
        record.owner,
    )


def _record(bucket: str, row: tuple[Any, ...]) -> ObjectRecord:
    (key, size, etag, modified, content_type, segments, headers, user_metadata, checksums, tags,
     parts_count, part_sizes, storage_class, owner) = row  # fmt: skip
    return ObjectRecord(
        bucket=bucket,
        key=key.decode("utf-8"),
        size=size,
        etag=etag,
        last_modified=_from_micros(modified),
        segments=[Segment(blob_id, blob_size) for blob_id, blob_size in json.loads(segments)],
        content_type=content_type,
        headers=_load_dict(headers),
        user_metadata=_load_dict(user_metadata),
        checksums=_load_dict(checksums),
        tags=_load_dict(tags),
        parts_count=parts_count,
        part_sizes=None if part_sizes is None else json.loads(part_sizes),
        storage_class=storage_class,
        owner=owner,
    )


def _bucket(row: tuple[Any, ...]) -> Bucket:
    name, owner, region, created = row
    return Bucket(name=name, owner=owner, region=region, created=_from_micros(created))


class SqliteMetadataStore:
    """MetadataStore on an embedded SQLite database (the single-machine default)."""

    def __init__(self, path: Path, *, readers: int = 3, busy_timeout: float = 10.0) -> None:
        self.path = Path(path)
        self.db = Database(self.path, readers=readers, busy_timeout=busy_timeout)

    # -- plumbing

    async def _call(
        self,
        run: Callable[[Callable[[sqlite3.Connection], T]], Awaitable[T]],
        fn: Callable[[sqlite3.Connection], T],
    ) -> T:
        """Run fn through the database, turning SQLite failures into MetadataError (S3Errors pass)."""
        try:
            return await run(fn)
        except sqlite3.Error as exc:
            raise MetadataError(f"sqlite metadata {self.path}: {exc}") from exc

    async def _write(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        return await self._call(self.db.write, fn)

    async def _read(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        return await self._call(self.db.read, fn)

    # -- lifecycle

    async def open(self) -> None:
        """Open the database and bring its schema up to date (safe to repeat, and across processes)."""
        try:
            await self.db.open()
        except (sqlite3.Error, OSError) as exc:
            raise MetadataError(f"cannot open sqlite metadata {self.path}: {exc}") from exc
        try:
            await self._write(lambda conn: apply_migrations(conn, MIGRATIONS))
        except BaseException:
            await self.db.close()
            raise

    async def close(self) -> None:
        await self.db.close()

    async def ping(self) -> None:
        await self._read(lambda conn: conn.execute("SELECT 1").fetchone())

    async def schema_version(self) -> int:
        """The schema version the database is at (len(MIGRATIONS) once open)."""
        return await self._read(read_schema_version)

    # -- buckets

    async def create_bucket(self, bucket: Bucket) -> None:
        def run(conn: sqlite3.Connection) -> None:
            row = conn.execute("SELECT owner FROM buckets WHERE name = ?", (bucket.name,)).fetchone()
            if row is not None:
                raise S3Error(
                    "BucketAlreadyOwnedByYou" if row[0] == bucket.owner else "BucketAlreadyExists",
                    BucketName=bucket.name,
                )
            conn.execute(
                "INSERT INTO buckets (name, owner, region, created) VALUES (?, ?, ?, ?)",
                (bucket.name, bucket.owner, bucket.region, _to_micros(bucket.created)),
            )

        await self._write(run)

    async def get_bucket(self, name: str) -> Bucket | None:
        def run(conn: sqlite3.Connection) -> Bucket | None:
            row = conn.execute(
                "SELECT name, owner, region, created FROM buckets WHERE name = ?", (name,)
            ).fetchone()
            return None if row is None else _bucket(row)

        return await self._read(run)

    async def list_buckets(self, owner: str | None = None) -> list[Bucket]:
        def run(conn: sqlite3.Connection) -> list[Bucket]:
            if owner is None:
                rows = conn.execute("SELECT name, owner, region, created FROM buckets ORDER BY name")
            else:
                rows = conn.execute(
                    "SELECT name, owner, region, created FROM buckets WHERE owner = ? ORDER BY name", (owner,)
                )
            return [_bucket(row) for row in rows]

        return await self._read(run)

    async def delete_bucket(self, name: str) -> None:
        def run(conn: sqlite3.Connection) -> None:
            row = conn.execute("SELECT object_count FROM buckets WHERE name = ?", (name,)).fetchone()
            if row is None:
                raise S3Error("NoSuchBucket", BucketName=name)
            if row[0] or conn.execute("SELECT 1 FROM objects WHERE bucket = ? LIMIT 1", (name,)).fetchone():
                raise S3Error("BucketNotEmpty", BucketName=name)
            conn.execute("DELETE FROM buckets WHERE name = ?", (name,))

        await self._write(run)

    async def bucket_stats(self, name: str) -> tuple[int, int] | None:
        """(object count, total bytes) of a bucket without scanning its objects; None if no bucket."""

        def run(conn: sqlite3.Connection) -> tuple[int, int] | None:
            row = conn.execute(
                "SELECT object_count, total_bytes FROM buckets WHERE name = ?", (name,)
            ).fetchone()
            return None if row is None else (row[0], row[1])

        return await self._read(run)

    # -- objects

    async def put_object(self, record: ObjectRecord) -> ObjectRecord | None:
        key = record.key.encode("utf-8")
        params = _object_params(record, key)
        blob_ids = {s.blob_id for s in record.segments}

        def run(conn: sqlite3.Connection) -> ObjectRecord | None:
            row = conn.execute(_SELECT_OBJECT, (record.bucket, key)).fetchone()
            old = None if row is None else _record(record.bucket, row)
            added = (0, record.size - old.size) if old is not None else (1, record.size)
            if conn.execute(_ADD_STATS, (*added, record.bucket)).rowcount == 0:
                raise S3Error("NoSuchBucket", BucketName=record.bucket)
            conn.execute(_UPSERT_OBJECT, params)
            if old is not None:
                _unlink_blobs(conn, old, key)
            conn.executemany(
                "INSERT OR IGNORE INTO object_blobs (blob_id, bucket, key) VALUES (?, ?, ?)",
                [(blob_id, record.bucket, key) for blob_id in blob_ids],
            )
            return old

        return await self._write(run)

    async def get_object(self, bucket: str, key: str) -> ObjectRecord | None:
        raw = key.encode("utf-8")

        def run(conn: sqlite3.Connection) -> ObjectRecord | None:
            row = conn.execute(_SELECT_OBJECT, (bucket, raw)).fetchone()
            return None if row is None else _record(bucket, row)

        return await self._read(run)

    async def delete_object(self, bucket: str, key: str) -> ObjectRecord | None:
        raw = key.encode("utf-8")

        def run(conn: sqlite3.Connection) -> ObjectRecord | None:
            row = conn.execute(_SELECT_OBJECT, (bucket, raw)).fetchone()
            if row is None:
                return None
            old = _record(bucket, row)
            conn.execute("DELETE FROM objects WHERE bucket = ? AND key = ?", (bucket, raw))
            conn.execute(_ADD_STATS, (-1, -old.size, bucket))
            _unlink_blobs(conn, old, raw)
            return old

        return await self._write(run)

    async def list_objects(
        self,
        bucket: str,
        *,
        prefix: str = "",
        delimiter: str = "",
        after: str = "",
        max_keys: int = 1000,
    ) -> ListPage:
        if max_keys <= 0:
            return ListPage(objects=[], common_prefixes=[], is_truncated=False, next_marker=None)
        pfx = prefix.encode("utf-8")
        delim = delimiter.encode("utf-8")
        marker = after.encode("utf-8")
        upper = prefix_successor(pfx) or _ABOVE_ALL_KEYS
        lower = max(pfx, key_successor(marker)) if marker else pfx
        if delim and marker.startswith(pfx):
            # `after` lies inside a common prefix (or is one): that prefix was already returned, and
            # every key under it rolls up into it, so resume after the whole prefix.
            cut = marker.find(delim, len(pfx))
            if cut >= 0:
                lower = max(lower, prefix_successor(marker[: cut + len(delim)]) or _ABOVE_ALL_KEYS)
        if delim:
            return await self._read(
                lambda conn: _list_delimited(conn, bucket, pfx, delim, lower, upper, max_keys)
            )
        return await self._read(lambda conn: _list_flat(conn, bucket, lower, upper, max_keys))

    async def referenced_blobs(self, blob_ids: Sequence[str]) -> set[str]:
        wanted = list(dict.fromkeys(blob_ids))

        def run(conn: sqlite3.Connection) -> set[str]:
            found: set[str] = set()
            for i in range(0, len(wanted), _IN_CHUNK):
                chunk = wanted[i : i + _IN_CHUNK]
                marks = ",".join("?" * len(chunk))
                found.update(
                    row[0]
                    for row in conn.execute(
                        f"SELECT DISTINCT blob_id FROM object_blobs WHERE blob_id IN ({marks})", chunk
                    )
                )
            return found

        if not wanted:
            return set()
        return await self._read(run)


# -- functions that run in the database threads


def _unlink_blobs(conn: sqlite3.Connection, old: ObjectRecord, key: bytes) -> None:
    conn.executemany(
        "DELETE FROM object_blobs WHERE blob_id = ? AND bucket = ? AND key = ?",
        [(blob_id, old.bucket, key) for blob_id in {s.blob_id for s in old.segments}],
    )


def _list_flat(conn: sqlite3.Connection, bucket: str, lower: bytes, upper: bytes, max_keys: int) -> ListPage:
    """No delimiter: one range query for one more row than asked, to know whether more exist."""
    rows = conn.execute(_SELECT_RANGE, (bucket, lower, upper, max_keys + 1)).fetchall()
    objects = [_record(bucket, row) for row in rows[:max_keys]]
    return ListPage(
        objects=objects,
        common_prefixes=[],
        is_truncated=len(rows) > max_keys,
        next_marker=objects[-1].key if objects else None,
    )


def _list_delimited(
    conn: sqlite3.Connection,
    bucket: str,
    prefix: bytes,
    delim: bytes,
    lower: bytes,
    upper: bytes,
    max_keys: int,
) -> ListPage:
    """Walk the range in key order; on a key that rolls up into a common prefix, emit the prefix and
    re-seek just past it. Rows are stepped lazily, so each common prefix costs one query and one row."""
    objects: list[ObjectRecord] = []
    prefixes: list[str] = []
    last: str | None = None
    entries = 0
    want = max_keys + 1  # one more than returned, to know whether the listing is truncated
    start = len(prefix)  # the delimiter is looked for only after the prefix
    while entries < want and lower < upper:
        cursor = conn.execute(_SELECT_RANGE, (bucket, lower, upper, want - entries))
        reseek = False
        for row in cursor:
            key: bytes = row[0]
            cut = key.find(delim, start)
            entries += 1
            if cut >= 0:
                common = key[: cut + len(delim)]
                if entries <= max_keys:
                    last = common.decode("utf-8")
                    prefixes.append(last)
                lower = prefix_successor(common) or _ABOVE_ALL_KEYS
                reseek = True
                break
            if entries <= max_keys:
                record = _record(bucket, row)
                objects.append(record)
                last = record.key
            lower = key_successor(key)
        cursor.close()
        if not reseek:
            break  # the range ran out (or we have all we want)
    return ListPage(
        objects=objects, common_prefixes=prefixes, is_truncated=entries > max_keys, next_marker=last
    )
