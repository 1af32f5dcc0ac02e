"""The embedded metadata backend: one SQLite file in WAL mode, run by `s3server.sqlitedb.Database`.

Object keys are stored as BLOBs of their UTF-8 bytes, so SQLite's memcmp ordering is S3's listing
order and every range bound is computed on bytes. Per-bucket object count and byte total live in the
buckets row and change in the same transaction as the object, so statistics never scan. The
object_blobs table maps each referenced blob to its object, and parts.blob_id is indexed, making the
reaper's question (is any object or upload part still using this blob?) an index probe.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Awaitable, Callable, Generator, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

from s3server.config import Rate
from s3server.metadata import base, tables
from s3server.metadata.base import Bucket, BucketStats, ObjectRecord, Part, Upload, WriteCondition
from s3server.metadata.common import (
    ABOVE_ALL_KEYS,
    Columns,
    Completing,
    Deletion,
    Entry,
    ListRange,
    SharedStore,
    UploadsRange,
    VersionQuery,
    drive,
    epoch_micros,
    from_epoch_micros,
    key_successor,
    prefix_successor,
)
from s3server.metadata.errors import (
    BucketExistsError,
    BucketNotEmptyError,
    MetadataError,
    NoSuchBucketError,
    NoSuchUploadError,
)
from s3server.metadata.hotrows import HotRows, clone_record
from s3server.metadata.kms import KMS_MIGRATION_SQLITE, SqliteKmsKeys
from s3server.metadata.leases import LIFECYCLE_MIGRATION_SQLITE, SqliteLeases
from s3server.metadata.nodes import NODES_MIGRATION_SQLITE, SqliteNodes
from s3server.metadata.ratelimit import SqliteTokenBuckets
from s3server.metadata.sqlite_objects import (
    _DELETE_MARKER,
    _NEWEST_VERSION,
    _SELECT_OBJECT,
    _SELECT_VERSION,
    _VERSION_ID,
    _answer,
    _delete_object,
    _store_object,
)
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
        f"""CREATE TABLE objects (
            bucket TEXT NOT NULL REFERENCES buckets (name),
            key BLOB NOT NULL,
            size INTEGER NOT NULL,
            etag TEXT NOT NULL,
            last_modified INTEGER NOT NULL,
            {tables.OBJECT_FIELDS_DDL}
        ) WITHOUT ROWID""",
        """CREATE TABLE object_blobs (
            blob_id TEXT NOT NULL,
            bucket TEXT NOT NULL,
            key BLOB NOT NULL,
            PRIMARY KEY (blob_id, bucket, key)
        ) WITHOUT ROWID""",
    ),
    (
        # Multipart uploads: (bucket, key, upload_id) orders ListMultipartUploads; upload ids are
        # unique on their own, so parts hang off the id alone.
        f"""CREATE TABLE uploads (
            bucket TEXT NOT NULL REFERENCES buckets (name),
            key BLOB NOT NULL,
            upload_id TEXT NOT NULL,
            initiated INTEGER NOT NULL,
            {tables.UPLOAD_FIELDS_DDL}
        ) WITHOUT ROWID""",
        "CREATE UNIQUE INDEX uploads_by_id ON uploads (upload_id)",
        "CREATE INDEX uploads_by_age ON uploads (initiated)",
        """CREATE TABLE parts (
            upload_id TEXT NOT NULL,
            part_number INTEGER NOT NULL,
            size INTEGER NOT NULL,
            etag TEXT NOT NULL,
            last_modified INTEGER NOT NULL,
            blob_id TEXT NOT NULL,
            checksums TEXT,
            PRIMARY KEY (upload_id, part_number)
        ) WITHOUT ROWID""",
        "CREATE INDEX parts_by_blob ON parts (blob_id)",
    ),
    tables.ACCESS_CONTROL_MIGRATION,
    (
        *tables.versioning_migration(
            key="BLOB", stamp="INTEGER", flag="INTEGER", false="0", big="INTEGER", text="TEXT"
        ),
        # The buckets row counts noncurrent versions and delete markers beside current objects.
        "ALTER TABLE buckets ADD COLUMN version_count INTEGER NOT NULL DEFAULT 0",
        "ALTER TABLE buckets ADD COLUMN version_bytes INTEGER NOT NULL DEFAULT 0",
    ),
    # Lifecycle: a bucket's rules (they go with the bucket), and leases on background work.
    LIFECYCLE_MIGRATION_SQLITE,
    tables.ENCRYPTION_MIGRATION,
    # The storage node list (the rate limit's buckets live in a file of their own: metadata.ratelimit).
    NODES_MIGRATION_SQLITE,
    tables.BUCKET_ACCESS_MIGRATION,
    # The keys of the built-in key service (SSE-KMS).
    KMS_MIGRATION_SQLITE,
]

_IN_CHUNK = 500  # bound parameters per IN (...) query
_UPLOAD_EXISTS = "SELECT 1 FROM uploads WHERE bucket = ? AND key = ? AND upload_id = ?"
_SELECT_RANGE = (
    f"SELECT {tables.LIST_COLUMNS} FROM objects "
    "WHERE bucket = ? AND key >= ? AND key < ? ORDER BY key LIMIT ?"
)


_MISSING = object()  # not among the kept lookups (None is kept too: a bucket or key that is not there)

# One placeholder per column of BUCKET_COLUMNS.
_BUCKET_VALUES = ", ".join("?" * (tables.BUCKET_COLUMNS.count(",") + 1))


class SqliteMetadataStore(SqliteLeases, SqliteNodes, SqliteKmsKeys, SharedStore):
    """MetadataStore on an embedded SQLite database (the single-machine default)."""

    when = staticmethod(from_epoch_micros)
    stamp = staticmethod(epoch_micros)
    micros = staticmethod(int)  # stored as microseconds since the epoch already

    def __init__(self, path: Path, *, readers: int = 3, busy_timeout: float = 10.0) -> None:
        self.path = Path(path)
        self.db = Database(self.path, readers=readers, busy_timeout=busy_timeout)
        self.token_buckets = SqliteTokenBuckets(self.path)
        self.hot = HotRows()  # bucket and object lookups kept while nothing is committed

    # -- plumbing

    async def _call(
        self,
        run: Callable[[Callable[[sqlite3.Connection], T]], Awaitable[T]],
        fn: Callable[[sqlite3.Connection], T],
    ) -> T:
        """Run fn through the database, turning SQLite failures into MetadataError (domain errors pass)."""
        try:
            return await run(fn)
        except sqlite3.Error as exc:
            raise MetadataError(f"sqlite metadata {self.path}: {exc}") from exc

    async def _write(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        return await self._call(self.db.write, fn)

    async def _read(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        return await self._call(self.db.read, fn)

    async def _lookup(self, fn: Callable[[sqlite3.Connection], T], *, transaction: bool = True) -> T:
        """A point lookup, run on the event loop (see Database.read_now); a reader thread if busy.
        `transaction=False` for a lookup of one query after the kept-lookup check: each statement is
        its own snapshot, and a row read after the check is at least as new as the version it is
        kept under (see hotrows), so BEGIN and COMMIT would only add two statements."""
        try:
            return self.db.read_now(fn, transaction=transaction)
        except sqlite3.OperationalError:
            return await self._read(fn)
        except sqlite3.Error as exc:
            raise MetadataError(f"sqlite metadata {self.path}: {exc}") from exc

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
        self.token_buckets.close()
        await self.db.close()

    async def ping(self) -> None:
        await self._read(lambda conn: conn.execute("SELECT 1").fetchone())

    async def schema_version(self) -> int:
        """The schema version the database is at (len(MIGRATIONS) once open)."""
        return await self._read(read_schema_version)

    async def take_tokens(self, caller: str, want: int, rate: Rate) -> int:
        return await self.token_buckets.take(caller, want, rate)

    # -- buckets

    async def create_bucket(self, bucket: Bucket) -> None:
        def run(conn: sqlite3.Connection) -> None:
            row = conn.execute("SELECT owner FROM buckets WHERE name = ?", (bucket.name,)).fetchone()
            if row is not None:
                raise BucketExistsError(bucket.name, owned_by_you=row[0] == bucket.owner)
            conn.execute(
                f"INSERT INTO buckets ({tables.BUCKET_COLUMNS}) VALUES ({_BUCKET_VALUES})",
                tables.bucket_params(bucket, epoch_micros),
            )

        await self._write(run)

    async def get_bucket(self, name: str) -> Bucket | None:
        def run(conn: sqlite3.Connection) -> Bucket | None:
            kept = self.hot.on(conn)
            found = kept.get(("b", name), _MISSING)
            if found is not _MISSING:
                return found  # type: ignore[no-any-return]
            row = conn.execute(
                f"SELECT {tables.BUCKET_COLUMNS} FROM buckets WHERE name = ?", (name,)
            ).fetchone()
            bucket = None if row is None else tables.bucket_from(row, from_epoch_micros)
            kept[("b", name)] = bucket
            return bucket

        return await self._lookup(run, transaction=False)

    async def list_buckets(self, owner: str | None = None) -> list[Bucket]:
        def run(conn: sqlite3.Connection) -> list[Bucket]:
            if owner is None:
                rows = conn.execute(f"SELECT {tables.BUCKET_COLUMNS} FROM buckets ORDER BY name")
            else:
                rows = conn.execute(
                    f"SELECT {tables.BUCKET_COLUMNS} FROM buckets WHERE owner = ? ORDER BY name", (owner,)
                )
            return [tables.bucket_from(row, from_epoch_micros) for row in rows]

        return await self._read(run)

    async def delete_bucket(self, name: str) -> list[str]:
        def run(conn: sqlite3.Connection) -> list[str]:
            row = conn.execute("SELECT object_count FROM buckets WHERE name = ?", (name,)).fetchone()
            if row is None:
                raise NoSuchBucketError(name)
            if (
                row[0]
                or conn.execute("SELECT 1 FROM objects WHERE bucket = ? LIMIT 1", (name,)).fetchone()
                or conn.execute("SELECT 1 FROM object_versions WHERE bucket = ? LIMIT 1", (name,)).fetchone()
            ):
                raise BucketNotEmptyError(name)
            # Uploads in progress do not keep a bucket alive on AWS; they go with it.
            ids = [r[0] for r in conn.execute("SELECT upload_id FROM uploads WHERE bucket = ?", (name,))]
            blobs: list[str] = []
            for upload_id in ids:
                blobs.extend(_drop_upload(conn, upload_id))
            conn.execute("DELETE FROM buckets WHERE name = ?", (name,))
            return blobs

        return await self._write(run)

    async def bucket_stats(self, name: str) -> tuple[int, int] | None:
        """(object count, total bytes) of a bucket without scanning its objects; None if no bucket."""

        def run(conn: sqlite3.Connection) -> tuple[int, int] | None:
            row = conn.execute(
                "SELECT object_count, total_bytes FROM buckets WHERE name = ?", (name,)
            ).fetchone()
            return None if row is None else (row[0], row[1])

        return await self._read(run)

    async def all_bucket_stats(self) -> list[BucketStats]:
        def run(conn: sqlite3.Connection) -> list[BucketStats]:
            rows = conn.execute(
                "SELECT name, owner, object_count, total_bytes, version_count, version_bytes "
                "FROM buckets ORDER BY name"
            )
            return [BucketStats(*row) for row in rows]

        return await self._read(run)

    async def _set_bucket_column(self, name: str, column: str, value: str | None) -> None:
        def run(conn: sqlite3.Connection) -> None:
            if conn.execute(f"UPDATE buckets SET {column} = ? WHERE name = ?", (value, name)).rowcount == 0:
                raise NoSuchBucketError(name)

        await self._write(run)

    # -- objects

    async def _put_object(
        self, record: ObjectRecord, key: bytes, condition: WriteCondition | None
    ) -> ObjectRecord | None:
        return await self._write(lambda conn: _store_object(conn, record, key, condition))

    async def get_object(self, bucket: str, key: str, version_id: str | None = None) -> ObjectRecord | None:
        raw = key.encode("utf-8")

        def run(conn: sqlite3.Connection) -> ObjectRecord | None:
            kept = self.hot.on(conn)
            found = kept.get(("o", bucket, raw), _MISSING)
            if found is _MISSING:
                row = conn.execute(_SELECT_OBJECT, (bucket, raw)).fetchone()
                found = None if row is None else tables.record_from(bucket, row, from_epoch_micros)
                kept[("o", bucket, raw)] = found
            current = None if found is None else clone_record(found)
            if version_id is None or (current is not None and current.version_id == version_id):
                return current
            found = conn.execute(_SELECT_VERSION, (bucket, raw, version_id)).fetchone()
            if found is None:
                return None
            record = tables.version_from(bucket, found, from_epoch_micros)
            if current is None:
                newest = conn.execute(_NEWEST_VERSION, (bucket, raw)).fetchone()
                record.is_latest = newest is not None and newest[_VERSION_ID] == version_id
            return record

        return await self._lookup(run, transaction=version_id is not None)

    async def get_delete_marker(self, bucket: str, key: str) -> ObjectRecord | None:
        raw = key.encode("utf-8")

        def run(conn: sqlite3.Connection) -> ObjectRecord | None:
            if conn.execute("SELECT 1 FROM objects WHERE bucket = ? AND key = ?", (bucket, raw)).fetchone():
                return None
            return tables.latest_marker(
                bucket, conn.execute(_NEWEST_VERSION, (bucket, raw)).fetchone(), from_epoch_micros
            )

        return await self._lookup(run)

    async def _modify(
        self, bucket: str, key: bytes, version_id: str | None, columns: Columns
    ) -> ObjectRecord | None:
        def run(conn: sqlite3.Connection) -> ObjectRecord | None:
            row = conn.execute(_SELECT_OBJECT, (bucket, key)).fetchone()
            if row is not None and version_id in (None, row[_VERSION_ID]):
                table, where, args = "objects", "bucket = ? AND key = ?", (bucket, key)
                select, load = _SELECT_OBJECT, tables.record_from
            elif version_id is None:
                return None
            else:
                row = conn.execute(_SELECT_VERSION, (bucket, key, version_id)).fetchone()
                if row is None or row[_DELETE_MARKER]:
                    return None
                table, where = "object_versions", "bucket = ? AND key = ? AND version_id = ?"
                args, select, load = (bucket, key, version_id), _SELECT_VERSION, tables.version_from
            changes = columns(load(bucket, row, from_epoch_micros))
            assignments = ", ".join(f"{name} = ?" for name in changes)
            conn.execute(f"UPDATE {table} SET {assignments} WHERE {where}", (*changes.values(), *args))
            return load(bucket, conn.execute(select, args).fetchone(), from_epoch_micros)

        return await self._write(run)

    async def _delete(self, job: Deletion) -> base.DeleteResult:
        return await self._write(lambda conn: _delete_object(conn, job))

    async def _walk_versions(
        self, bucket: str, walk: Generator[VersionQuery, Any, base.VersionsPage]
    ) -> base.VersionsPage:
        return await self._read(lambda conn: drive(walk, lambda query: _answer(conn, bucket, query)))

    async def _list_entries(self, bucket: str, span: ListRange, want: int) -> list[Entry]:
        if span.delimiter:
            return await self._read(lambda conn: _list_delimited(conn, bucket, span, want))
        return await self._read(
            lambda conn: conn.execute(_SELECT_RANGE, (bucket, span.lower, span.upper, want)).fetchall()
        )

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
                        f"SELECT blob_id FROM object_blobs WHERE blob_id IN ({marks}) "
                        f"UNION SELECT blob_id FROM parts WHERE blob_id IN ({marks})",
                        chunk + chunk,
                    )
                )
            return found

        if not wanted:
            return set()
        return await self._read(run)

    # -- multipart uploads

    async def create_upload(self, upload: Upload) -> None:
        params = tables.upload_params(upload, epoch_micros)

        def run(conn: sqlite3.Connection) -> None:
            if conn.execute("SELECT 1 FROM buckets WHERE name = ?", (upload.bucket,)).fetchone() is None:
                raise NoSuchBucketError(upload.bucket)
            conn.execute(
                f"INSERT INTO uploads (bucket, {tables.UPLOAD_COLUMNS}) VALUES ({', '.join('?' * 17)})",
                params,
            )

        await self._write(run)

    async def get_upload(self, bucket: str, key: str, upload_id: str) -> Upload | None:
        raw = key.encode("utf-8")

        def run(conn: sqlite3.Connection) -> Upload | None:
            row = conn.execute(
                f"SELECT {tables.UPLOAD_COLUMNS} FROM uploads WHERE bucket = ? AND key = ? AND upload_id = ?",
                (bucket, raw, upload_id),
            ).fetchone()
            return None if row is None else tables.upload_from(bucket, row, from_epoch_micros)

        return await self._read(run)

    async def put_part(self, bucket: str, key: str, upload_id: str, part: Part) -> Part | None:
        raw = key.encode("utf-8")
        params = tables.part_params(upload_id, part, epoch_micros)

        def run(conn: sqlite3.Connection) -> Part | None:
            _require_upload(conn, bucket, raw, upload_id)
            row = conn.execute(
                f"SELECT {tables.PART_COLUMNS} FROM parts WHERE upload_id = ? AND part_number = ?",
                (upload_id, part.part_number),
            ).fetchone()
            conn.execute(
                f"INSERT OR REPLACE INTO parts (upload_id, {tables.PART_COLUMNS}) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                params,
            )
            return None if row is None else tables.part_from(row, from_epoch_micros)

        return await self._write(run)

    async def _part_rows(self, bucket: str, key: bytes, upload_id: str, after: int, want: int) -> list[Any]:
        def run(conn: sqlite3.Connection) -> list[Any]:
            _require_upload(conn, bucket, key, upload_id)
            return conn.execute(
                f"SELECT {tables.PART_COLUMNS} FROM parts WHERE upload_id = ? AND part_number > ? "
                "ORDER BY part_number LIMIT ?",
                (upload_id, after, want),
            ).fetchall()

        return await self._read(run)

    async def _complete(self, job: Completing) -> tuple[ObjectRecord | None, list[str]]:

        def run(conn: sqlite3.Connection) -> tuple[ObjectRecord | None, list[str]]:
            _require_upload(conn, job.bucket, job.key, job.upload_id)
            part_blobs = conn.execute("SELECT blob_id FROM parts WHERE upload_id = ?", (job.upload_id,))
            blobs = [r[0] for r in part_blobs]
            job.check_parts(blobs)
            replaced = _store_object(conn, job.record, job.key, job.condition)
            _drop_upload(conn, job.upload_id)
            return replaced, blobs

        return await self._write(run)

    async def abort_upload(self, bucket: str, key: str, upload_id: str) -> list[str]:
        raw = key.encode("utf-8")

        def run(conn: sqlite3.Connection) -> list[str]:
            _require_upload(conn, bucket, raw, upload_id)
            return _drop_upload(conn, upload_id)

        return await self._write(run)

    async def _upload_entries(self, bucket: str, where: UploadsRange, want: int) -> list[Entry]:
        return await self._read(lambda conn: _list_uploads(conn, bucket, where, want))

    async def stale_uploads(self, initiated_before: datetime, limit: int = 100) -> list[Upload]:
        def run(conn: sqlite3.Connection) -> list[Upload]:
            rows = conn.execute(
                f"SELECT bucket, {tables.UPLOAD_COLUMNS} FROM uploads WHERE initiated < ? "
                "ORDER BY initiated LIMIT ?",
                (epoch_micros(initiated_before), limit),
            )
            return [tables.upload_from(row[0], row[1:], from_epoch_micros) for row in rows]

        return await self._read(run)


# -- functions that run in the database threads


def _require_upload(conn: sqlite3.Connection, bucket: str, key: bytes, upload_id: str) -> None:
    if conn.execute(_UPLOAD_EXISTS, (bucket, key, upload_id)).fetchone() is None:
        raise NoSuchUploadError(upload_id)


def _drop_upload(conn: sqlite3.Connection, upload_id: str) -> list[str]:
    """Delete an upload and its parts; the parts' blob ids (now unreferenced) are returned."""
    blobs = [r[0] for r in conn.execute("SELECT blob_id FROM parts WHERE upload_id = ?", (upload_id,))]
    conn.execute("DELETE FROM parts WHERE upload_id = ?", (upload_id,))
    conn.execute("DELETE FROM uploads WHERE upload_id = ?", (upload_id,))
    return blobs


def _walk(
    conn: sqlite3.Connection, select: str, bucket: str, span: ListRange, want: int, entries: list[Entry]
) -> list[Entry]:
    """Walk the span in key order, appending to `entries` until it holds `want`: a row for a key
    that stands for itself; for one that rolls up into a common prefix, the prefix, and re-seek
    just past it. Rows are stepped lazily, so each common prefix costs one query and one row."""
    delim = span.delimiter
    start = len(span.prefix)  # the delimiter is looked for only after the prefix
    lower, upper = span.lower, span.upper
    while len(entries) < want and lower < upper:
        cursor = conn.execute(select, (bucket, lower, upper, want - len(entries)))
        reseek = False
        for row in cursor:
            key: bytes = row[0]
            cut = key.find(delim, start) if delim else -1
            if cut >= 0:
                common = key[: cut + len(delim)]
                entries.append(common)
                lower = prefix_successor(common) or ABOVE_ALL_KEYS
                reseek = True
                break
            entries.append(row)
        cursor.close()
        if not reseek:
            break  # the range ran out (or we have all we want)
    return entries


# Where the delimiter occurs in walk row `w`'s key after the prefix (1-based in what follows the
# prefix, 0 if nowhere), and the length of the common prefix it rolls up into.
_CUT = "instr(substr(w.key, ?5), ?4)"
_COMMON_LENGTH = f"(?5 + {_CUT} + ?6 - 2)"
# The keys a delimiter listing visits, walked in one statement so that a common prefix costs one index
# probe inside SQLite instead of one query from Python. ?1 bucket, ?2 lower, ?3 upper, ?4 delimiter,
# ?5 where the delimiter search starts (the prefix length + 1), ?6 delimiter length, ?7 entries
# wanted. After a key that rolls up, the next probe starts above every key under its common prefix
# (`common || x'ff'`: no UTF-8 key holds the byte 0xFF), after one that stands for itself just above
# it. The walk yields keys only: joining every step with its listed columns, and cutting the common
# prefix in SQL, had cost more than the walk itself.
_WALK_DELIMITED = f"""
WITH RECURSIVE walk(n, key) AS (
    SELECT 1, (SELECT key FROM objects WHERE bucket = ?1 AND key >= ?2 AND key < ?3 ORDER BY key LIMIT 1)
    UNION ALL
    SELECT w.n + 1, (
        SELECT t.key FROM objects AS t
        WHERE t.bucket = ?1 AND t.key < ?3 AND t.key > CASE WHEN {_CUT} > 0
            THEN CAST(substr(w.key, 1, {_COMMON_LENGTH}) || x'ff' AS BLOB) ELSE w.key END
        ORDER BY t.key LIMIT 1
    )
    FROM walk AS w
    WHERE w.key IS NOT NULL AND w.n < ?7
)
SELECT key FROM walk WHERE key IS NOT NULL ORDER BY n
"""
_SELECT_RUN = (
    f"SELECT {tables.LIST_COLUMNS} FROM objects WHERE bucket = ? AND key >= ? AND key <= ? ORDER BY key"
)
_SELECT_KEYS = f"SELECT {tables.LIST_COLUMNS} FROM objects WHERE bucket = ? AND key IN"
_RANGE_READS = 4  # runs always read as ranges
_RUN_LENGTH = 4  # more runs are read as ranges when they average at least this many keys


def _list_delimited(conn: sqlite3.Connection, bucket: str, span: ListRange, want: int) -> list[Entry]:
    """The walk's keys, each cut to its common prefix or read with its listed columns (one read
    transaction: the walk and the reads see one snapshot). A page of common prefixes reads no rows."""
    delim, start = span.delimiter, len(span.prefix)
    args = (bucket, span.lower, span.upper, delim, start + 1, len(delim), want)
    entries: list[Entry | None] = []  # None: a key that stands for itself, its row read below
    own: list[bytes] = []
    runs: list[list[bytes]] = []  # [first, last] of each run of such keys with no entry between
    for (key,) in conn.execute(_WALK_DELIMITED, args).fetchall():
        cut = key.find(delim, start)
        if cut >= 0:
            entries.append(key[: cut + len(delim)])
            continue
        if entries and entries[-1] is None:
            runs[-1][1] = key
        else:
            runs.append([key, key])
        entries.append(None)
        own.append(key)
    if not own:
        return entries  # type: ignore[return-value]
    # No other key lies inside a run (the walk stepped from each to the next), so a run is one range
    # read; many short runs are read by key instead, a statement per run costing more.
    if len(runs) <= _RANGE_READS or len(runs) * _RUN_LENGTH <= len(own):
        rows = [row for first, last in runs for row in conn.execute(_SELECT_RUN, (bucket, first, last))]
    else:
        found: dict[bytes, Any] = {}
        for i in range(0, len(own), _IN_CHUNK):
            chunk = own[i : i + _IN_CHUNK]
            select = f"{_SELECT_KEYS} ({','.join('?' * len(chunk))})"
            found.update((row[0], row) for row in conn.execute(select, (bucket, *chunk)))
        rows = [found[key] for key in own if key in found]
    if len(rows) != len(own):
        raise sqlite3.DatabaseError(f"listing {bucket!r}: {len(own)} keys walked, {len(rows)} read")
    read = iter(rows)
    return [next(read) if entry is None else entry for entry in entries]


def _list_uploads(conn: sqlite3.Connection, bucket: str, where: UploadsRange, want: int) -> list[Entry]:
    """Like `_list_delimited`, over (key, upload_id): first the marker key's own uploads after the
    id marker, then the keys after it."""
    entries: list[Entry] = []
    if where.marker_first:
        entries += conn.execute(
            f"SELECT {tables.UPLOAD_COLUMNS} FROM uploads WHERE bucket = ? AND key = ? AND upload_id > ? "
            "ORDER BY upload_id LIMIT ?",
            (bucket, where.marker, where.id_marker, want),
        ).fetchall()
    select = (
        f"SELECT {tables.UPLOAD_COLUMNS} FROM uploads WHERE bucket = ? AND key >= ? AND key < ? "
        "ORDER BY key, upload_id LIMIT ?"
    )
    return _walk(conn, select, bucket, where.span, want, entries)
