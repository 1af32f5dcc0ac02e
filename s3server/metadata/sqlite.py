"""The embedded metadata backend: one SQLite file in WAL mode, run by `s3server.sqlitedb.Database`.

Object keys are stored as BLOBs of their UTF-8 bytes, so SQLite's memcmp ordering is S3's listing
order and every range bound is computed on bytes. Per-bucket object count and byte total live in the
buckets row and change in the same transaction as the object, so statistics never scan. The
object_blobs table maps each referenced blob to its object, and parts.blob_id is indexed, making the
reaper's question (is any object or upload part still using this blob?) an index probe.
"""

from __future__ import annotations

import math
import sqlite3
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

from s3server.metadata.base import (
    NULL_VERSION,
    Bucket,
    BucketStats,
    Completion,
    DeleteResult,
    Lease,
    ListPage,
    MetadataError,
    ObjectLockedError,
    ObjectRecord,
    Part,
    PartsPage,
    RetentionChange,
    Upload,
    UploadsPage,
    VersionsPage,
    WriteCondition,
)
from s3server.metadata.common import (
    ABOVE_ALL_KEYS,
    ListRange,
    MarkerSeq,
    NextKey,
    VersionQuery,
    as_utc,
    delete_marker,
    dump_json,
    dump_part_sizes,
    dump_segments,
    key_successor,
    listing_range,
    load_dict,
    load_part_sizes,
    load_segments,
    plan_delete,
    plan_put,
    prefix_successor,
    walk_versions,
)
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
    (
        # Multipart uploads: (bucket, key, upload_id) orders ListMultipartUploads; upload ids are
        # unique on their own, so parts hang off the id alone.
        """CREATE TABLE uploads (
            bucket TEXT NOT NULL REFERENCES buckets (name),
            key BLOB NOT NULL,
            upload_id TEXT NOT NULL,
            initiated INTEGER NOT NULL,
            owner TEXT NOT NULL,
            content_type TEXT NOT NULL,
            headers TEXT,
            user_metadata TEXT,
            tags TEXT,
            storage_class TEXT NOT NULL,
            checksum_algorithm TEXT,
            checksum_type TEXT,
            PRIMARY KEY (bucket, key, upload_id)
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
    (
        # Access control: canned ACLs on buckets, objects and (for the object to be) uploads; the
        # bucket policy document and CORS rules as their owner set them.
        "ALTER TABLE buckets ADD COLUMN acl TEXT NOT NULL DEFAULT 'private'",
        "ALTER TABLE buckets ADD COLUMN policy TEXT",
        "ALTER TABLE buckets ADD COLUMN cors TEXT",
        "ALTER TABLE objects ADD COLUMN acl TEXT NOT NULL DEFAULT 'private'",
        "ALTER TABLE uploads ADD COLUMN acl TEXT NOT NULL DEFAULT 'private'",
    ),
    (
        # Versioning and Object Lock. `objects` keeps each key's current version only, so listings
        # and point lookups never read past old versions; noncurrent versions and delete markers
        # live in `object_versions`, newest first per key (seq grows with every version a key gets).
        "ALTER TABLE buckets ADD COLUMN versioning TEXT NOT NULL DEFAULT ''",
        "ALTER TABLE buckets ADD COLUMN object_lock TEXT",
        "ALTER TABLE buckets ADD COLUMN version_count INTEGER NOT NULL DEFAULT 0",
        "ALTER TABLE buckets ADD COLUMN version_bytes INTEGER NOT NULL DEFAULT 0",
        "ALTER TABLE objects ADD COLUMN version_id TEXT NOT NULL DEFAULT 'null'",
        "ALTER TABLE objects ADD COLUMN lock_mode TEXT",
        "ALTER TABLE objects ADD COLUMN lock_until INTEGER",
        "ALTER TABLE objects ADD COLUMN legal_hold INTEGER NOT NULL DEFAULT 0",
        "ALTER TABLE uploads ADD COLUMN lock_mode TEXT",
        "ALTER TABLE uploads ADD COLUMN lock_until INTEGER",
        "ALTER TABLE uploads ADD COLUMN legal_hold INTEGER NOT NULL DEFAULT 0",
        """CREATE TABLE object_versions (
            bucket TEXT NOT NULL REFERENCES buckets (name),
            key BLOB NOT NULL,
            seq INTEGER NOT NULL,
            delete_marker INTEGER NOT NULL,
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
            acl TEXT NOT NULL,
            version_id TEXT NOT NULL,
            lock_mode TEXT,
            lock_until INTEGER,
            legal_hold INTEGER NOT NULL,
            PRIMARY KEY (bucket, key, seq DESC)
        ) WITHOUT ROWID""",
        "CREATE UNIQUE INDEX object_versions_by_id ON object_versions (bucket, key, version_id)",
    ),
    (
        # Lifecycle: a bucket's rules (they go with the bucket), and leases on background work (one
        # lifecycle pass at a time across processes) with the holder's progress.
        """CREATE TABLE bucket_lifecycle (
            bucket TEXT PRIMARY KEY REFERENCES buckets (name) ON DELETE CASCADE,
            config TEXT NOT NULL
        ) WITHOUT ROWID""",
        """CREATE TABLE leases (
            name TEXT PRIMARY KEY,
            holder TEXT NOT NULL,
            expires INTEGER NOT NULL,
            state TEXT
        ) WITHOUT ROWID""",
    ),
]

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)
_IN_CHUNK = 500  # bound parameters per IN (...) query

_OBJECT_COLUMNS = (
    "key, size, etag, last_modified, content_type, segments, headers, user_metadata, checksums, tags, "
    "parts_count, part_sizes, storage_class, owner, acl, version_id, lock_mode, lock_until, legal_hold"
)
_VERSION_COLUMNS = f"{_OBJECT_COLUMNS}, delete_marker"
_SELECT_VERSION = (
    f"SELECT {_VERSION_COLUMNS} FROM object_versions WHERE bucket = ? AND key = ? AND version_id = ?"
)
_NEWEST_VERSION = (
    f"SELECT {_VERSION_COLUMNS}, seq FROM object_versions WHERE bucket = ? AND key = ? "
    "ORDER BY seq DESC LIMIT 1"
)
_INSERT_VERSION = (
    f"INSERT INTO object_versions (bucket, {_OBJECT_COLUMNS}, delete_marker, seq) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
_ADD_VERSION_STATS = (
    "UPDATE buckets SET version_count = version_count + ?, version_bytes = version_bytes + ? WHERE name = ?"
)
_SELECT_OBJECT = f"SELECT {_OBJECT_COLUMNS} FROM objects WHERE bucket = ? AND key = ?"
# A listing shows only these; decoding the rest (JSON) for a thousand rows costs more than the query.
_LIST_COLUMNS = "key, size, etag, last_modified, checksums, storage_class, owner"
_SELECT_RANGE = (
    f"SELECT {_LIST_COLUMNS} FROM objects WHERE bucket = ? AND key >= ? AND key < ? ORDER BY key LIMIT ?"
)
_UPSERT_OBJECT = (
    f"INSERT OR REPLACE INTO objects (bucket, {_OBJECT_COLUMNS}) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
_ADD_STATS = (
    "UPDATE buckets SET object_count = object_count + ?, total_bytes = total_bytes + ? WHERE name = ?"
)
_UPLOAD_COLUMNS = (
    "key, upload_id, initiated, owner, content_type, headers, user_metadata, tags, storage_class, "
    "checksum_algorithm, checksum_type, acl, lock_mode, lock_until, legal_hold"
)
_UPLOAD_EXISTS = "SELECT 1 FROM uploads WHERE bucket = ? AND key = ? AND upload_id = ?"
_PART_COLUMNS = "part_number, size, etag, last_modified, blob_id, checksums"
_BUCKET_COLUMNS = "name, owner, region, created, acl, policy, cors, versioning, object_lock"


def _to_micros(when: datetime) -> int:
    return (as_utc(when) - _EPOCH) // _MICROSECOND


def _from_micros(micros: int) -> datetime:
    return _EPOCH + timedelta(microseconds=micros)


def _maybe_micros(when: datetime | None) -> int | None:
    return None if when is None else _to_micros(when)


def _maybe_time(micros: int | None) -> datetime | None:
    return None if micros is None else _from_micros(micros)


def _object_params(record: ObjectRecord, key: bytes) -> tuple[Any, ...]:
    return (
        record.bucket,
        key,
        record.size,
        record.etag,
        _to_micros(record.last_modified),
        record.content_type,
        dump_segments(record.segments),
        dump_json(record.headers),
        dump_json(record.user_metadata),
        dump_json(record.checksums),
        dump_json(record.tags),
        record.parts_count,
        dump_part_sizes(record.part_sizes),
        record.storage_class,
        record.owner,
        record.acl,
        record.version_id,
        record.lock_mode,
        _maybe_micros(record.lock_until),
        int(record.legal_hold),
    )


def _record(bucket: str, row: tuple[Any, ...]) -> ObjectRecord:
    (key, size, etag, modified, content_type, segments, headers, user_metadata, checksums, tags,
     parts_count, part_sizes, storage_class, owner, acl, version_id, lock_mode, lock_until,
     legal_hold) = row[:19]  # fmt: skip
    return ObjectRecord(
        bucket=bucket,
        key=key.decode("utf-8"),
        size=size,
        etag=etag,
        last_modified=_from_micros(modified),
        segments=load_segments(segments),
        content_type=content_type,
        headers=load_dict(headers),
        user_metadata=load_dict(user_metadata),
        checksums=load_dict(checksums),
        tags=load_dict(tags),
        parts_count=parts_count,
        part_sizes=load_part_sizes(part_sizes),
        storage_class=storage_class,
        owner=owner,
        acl=acl,
        version_id=version_id,
        lock_mode=lock_mode,
        lock_until=_maybe_time(lock_until),
        legal_hold=bool(legal_hold),
    )


def _version(bucket: str, row: tuple[Any, ...]) -> ObjectRecord:
    """A row of object_versions (_VERSION_COLUMNS): a noncurrent version or a delete marker."""
    record = _record(bucket, row)
    record.delete_marker = bool(row[19])
    record.is_latest = False
    return record


def _listed(bucket: str, row: tuple[Any, ...]) -> ObjectRecord:
    """A listing's record (see MetadataStore.list_objects): the fields a listing shows."""
    key, size, etag, modified, checksums, storage_class, owner = row
    return ObjectRecord(
        bucket=bucket,
        key=key.decode("utf-8"),
        size=size,
        etag=etag,
        last_modified=_from_micros(modified),
        segments=[],
        checksums=load_dict(checksums),
        storage_class=storage_class,
        owner=owner,
    )


def _upload(bucket: str, row: tuple[Any, ...]) -> Upload:
    (key, upload_id, initiated, owner, content_type, headers, user_metadata, tags, storage_class,
     checksum_algorithm, checksum_type, acl, lock_mode, lock_until, legal_hold) = row  # fmt: skip
    return Upload(
        bucket=bucket,
        key=key.decode("utf-8"),
        upload_id=upload_id,
        initiated=_from_micros(initiated),
        owner=owner,
        content_type=content_type,
        headers=load_dict(headers),
        user_metadata=load_dict(user_metadata),
        tags=load_dict(tags),
        storage_class=storage_class,
        checksum_algorithm=checksum_algorithm,
        checksum_type=checksum_type,
        acl=acl,
        lock_mode=lock_mode,
        lock_until=_maybe_time(lock_until),
        legal_hold=bool(legal_hold),
    )


def _part(row: tuple[Any, ...]) -> Part:
    part_number, size, etag, modified, blob_id, checksums = row
    return Part(
        part_number=part_number,
        size=size,
        etag=etag,
        last_modified=_from_micros(modified),
        blob_id=blob_id,
        checksums=load_dict(checksums),
    )


def _no_such_upload(upload_id: str) -> S3Error:
    return S3Error("NoSuchUpload", UploadId=upload_id)


def _bucket(row: tuple[Any, ...]) -> Bucket:
    name, owner, region, created, acl, policy, cors, versioning, object_lock = row
    return Bucket(
        name=name,
        owner=owner,
        region=region,
        created=_from_micros(created),
        acl=acl,
        policy=policy,
        cors=cors,
        versioning=versioning,
        object_lock=object_lock,
    )


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

    async def _lookup(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """A point lookup, run on the event loop (see Database.read_now); a reader thread if busy."""
        try:
            return self.db.read_now(fn)
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
                f"INSERT INTO buckets ({_BUCKET_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    bucket.name,
                    bucket.owner,
                    bucket.region,
                    _to_micros(bucket.created),
                    bucket.acl,
                    bucket.policy,
                    bucket.cors,
                    bucket.versioning,
                    bucket.object_lock,
                ),
            )

        await self._write(run)

    async def get_bucket(self, name: str) -> Bucket | None:
        def run(conn: sqlite3.Connection) -> Bucket | None:
            row = conn.execute(f"SELECT {_BUCKET_COLUMNS} FROM buckets WHERE name = ?", (name,)).fetchone()
            return None if row is None else _bucket(row)

        return await self._lookup(run)

    async def list_buckets(self, owner: str | None = None) -> list[Bucket]:
        def run(conn: sqlite3.Connection) -> list[Bucket]:
            if owner is None:
                rows = conn.execute(f"SELECT {_BUCKET_COLUMNS} FROM buckets ORDER BY name")
            else:
                rows = conn.execute(
                    f"SELECT {_BUCKET_COLUMNS} FROM buckets WHERE owner = ? ORDER BY name", (owner,)
                )
            return [_bucket(row) for row in rows]

        return await self._read(run)

    async def delete_bucket(self, name: str) -> list[str]:
        def run(conn: sqlite3.Connection) -> list[str]:
            row = conn.execute("SELECT object_count FROM buckets WHERE name = ?", (name,)).fetchone()
            if row is None:
                raise S3Error("NoSuchBucket", BucketName=name)
            if (
                row[0]
                or conn.execute("SELECT 1 FROM objects WHERE bucket = ? LIMIT 1", (name,)).fetchone()
                or conn.execute("SELECT 1 FROM object_versions WHERE bucket = ? LIMIT 1", (name,)).fetchone()
            ):
                raise S3Error("BucketNotEmpty", BucketName=name)
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
                raise S3Error("NoSuchBucket", BucketName=name)

        await self._write(run)

    async def set_bucket_acl(self, name: str, acl: str) -> None:
        await self._set_bucket_column(name, "acl", acl)

    async def set_bucket_policy(self, name: str, policy: str | None) -> None:
        await self._set_bucket_column(name, "policy", policy)

    async def set_bucket_cors(self, name: str, cors: str | None) -> None:
        await self._set_bucket_column(name, "cors", cors)

    async def set_bucket_versioning(self, name: str, status: str) -> None:
        await self._set_bucket_column(name, "versioning", status)

    async def set_bucket_object_lock(self, name: str, config: str) -> None:
        await self._set_bucket_column(name, "object_lock", config)

    # -- objects

    async def put_object(
        self, record: ObjectRecord, condition: WriteCondition | None = None
    ) -> ObjectRecord | None:
        key = record.key.encode("utf-8")
        return await self._write(lambda conn: _store_object(conn, record, key, condition))

    async def get_object(self, bucket: str, key: str, version_id: str | None = None) -> ObjectRecord | None:
        raw = key.encode("utf-8")

        def run(conn: sqlite3.Connection) -> ObjectRecord | None:
            row = conn.execute(_SELECT_OBJECT, (bucket, raw)).fetchone()
            current = None if row is None else _record(bucket, row)
            if version_id is None or (current is not None and current.version_id == version_id):
                return current
            found = conn.execute(_SELECT_VERSION, (bucket, raw, version_id)).fetchone()
            if found is None:
                return None
            record = _version(bucket, found)
            if current is None:
                newest = conn.execute(_NEWEST_VERSION, (bucket, raw)).fetchone()
                record.is_latest = newest is not None and newest[15] == version_id
            return record

        return await self._lookup(run)

    async def get_delete_marker(self, bucket: str, key: str) -> ObjectRecord | None:
        raw = key.encode("utf-8")

        def run(conn: sqlite3.Connection) -> ObjectRecord | None:
            if conn.execute("SELECT 1 FROM objects WHERE bucket = ? AND key = ?", (bucket, raw)).fetchone():
                return None
            row = conn.execute(_NEWEST_VERSION, (bucket, raw)).fetchone()
            if row is None or not row[19]:
                return None
            marker = _version(bucket, row)
            marker.is_latest = True
            return marker

        return await self._lookup(run)

    async def update_tags(
        self, bucket: str, key: str, tags: dict[str, str], version_id: str | None = None
    ) -> ObjectRecord | None:
        return await self._modify(bucket, key, version_id, lambda _: {"tags": dump_json(tags)})

    async def set_object_acl(
        self, bucket: str, key: str, acl: str, version_id: str | None = None
    ) -> ObjectRecord | None:
        return await self._modify(bucket, key, version_id, lambda _: {"acl": acl})

    async def set_retention(
        self, bucket: str, key: str, version_id: str, change: RetentionChange
    ) -> ObjectRecord | None:
        def columns(record: ObjectRecord) -> dict[str, Any]:
            change.check(record)
            return {"lock_mode": change.mode, "lock_until": _maybe_micros(change.until)}

        return await self._modify(bucket, key, version_id, columns)

    async def set_legal_hold(self, bucket: str, key: str, version_id: str, on: bool) -> ObjectRecord | None:
        return await self._modify(bucket, key, version_id, lambda _: {"legal_hold": int(on)})

    async def _modify(
        self,
        bucket: str,
        key: str,
        version_id: str | None,
        columns: Callable[[ObjectRecord], dict[str, Any]],
    ) -> ObjectRecord | None:
        """Change columns of one version in place (never of a delete marker): `columns` sees the row
        in the writing transaction (and may refuse); the updated record, or None if no such version."""
        raw = key.encode("utf-8")

        def run(conn: sqlite3.Connection) -> ObjectRecord | None:
            row = conn.execute(_SELECT_OBJECT, (bucket, raw)).fetchone()
            if row is not None and version_id in (None, row[15]):
                table, where, args = "objects", "bucket = ? AND key = ?", (bucket, raw)
                select, load = _SELECT_OBJECT, _record
            elif version_id is None:
                return None
            else:
                row = conn.execute(_SELECT_VERSION, (bucket, raw, version_id)).fetchone()
                if row is None or row[19]:
                    return None
                table, where, args = (
                    "object_versions",
                    "bucket = ? AND key = ? AND version_id = ?",
                    (
                        bucket,
                        raw,
                        version_id,
                    ),
                )
                select, load = _SELECT_VERSION, _version
            changes = columns(load(bucket, row))
            assignments = ", ".join(f"{name} = ?" for name in changes)
            conn.execute(f"UPDATE {table} SET {assignments} WHERE {where}", (*changes.values(), *args))
            return load(bucket, conn.execute(select, args).fetchone())

        return await self._write(run)

    async def delete_object(
        self,
        bucket: str,
        key: str,
        version_id: str | None = None,
        *,
        marker_id: str = NULL_VERSION,
        bypass_governance: bool = False,
    ) -> DeleteResult:
        raw = key.encode("utf-8")
        return await self._write(
            lambda conn: _delete_object(conn, bucket, raw, version_id, marker_id, bypass_governance)
        )

    async def list_object_versions(
        self,
        bucket: str,
        *,
        prefix: str = "",
        delimiter: str = "",
        key_marker: str = "",
        version_id_marker: str = "",
        max_keys: int = 1000,
    ) -> VersionsPage:
        span = listing_range(prefix, delimiter, key_marker)

        def run(conn: sqlite3.Connection) -> VersionsPage:
            walk = walk_versions(span, key_marker, version_id_marker, max_keys)
            try:
                query = next(walk)
                while True:
                    query = walk.send(_answer(conn, bucket, query))
            except StopIteration as done:
                return done.value

        return await self._read(run)

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
        span = listing_range(prefix, delimiter, after)
        if span.delimiter:
            return await self._read(
                lambda conn: _list_delimited(
                    conn, bucket, span.prefix, span.delimiter, span.lower, span.upper, max_keys
                )
            )
        return await self._read(lambda conn: _list_flat(conn, bucket, span.lower, span.upper, max_keys))

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
        params = (
            upload.bucket,
            upload.key.encode("utf-8"),
            upload.upload_id,
            _to_micros(upload.initiated),
            upload.owner,
            upload.content_type,
            dump_json(upload.headers),
            dump_json(upload.user_metadata),
            dump_json(upload.tags),
            upload.storage_class,
            upload.checksum_algorithm,
            upload.checksum_type,
            upload.acl,
            upload.lock_mode,
            _maybe_micros(upload.lock_until),
            int(upload.legal_hold),
        )

        def run(conn: sqlite3.Connection) -> None:
            if conn.execute("SELECT 1 FROM buckets WHERE name = ?", (upload.bucket,)).fetchone() is None:
                raise S3Error("NoSuchBucket", BucketName=upload.bucket)
            conn.execute(
                f"INSERT INTO uploads (bucket, {_UPLOAD_COLUMNS}) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                params,
            )

        await self._write(run)

    async def get_upload(self, bucket: str, key: str, upload_id: str) -> Upload | None:
        raw = key.encode("utf-8")

        def run(conn: sqlite3.Connection) -> Upload | None:
            row = conn.execute(
                f"SELECT {_UPLOAD_COLUMNS} FROM uploads WHERE bucket = ? AND key = ? AND upload_id = ?",
                (bucket, raw, upload_id),
            ).fetchone()
            return None if row is None else _upload(bucket, row)

        return await self._read(run)

    async def put_part(self, bucket: str, key: str, upload_id: str, part: Part) -> Part | None:
        raw = key.encode("utf-8")
        params = (
            upload_id,
            part.part_number,
            part.size,
            part.etag,
            _to_micros(part.last_modified),
            part.blob_id,
            dump_json(part.checksums),
        )

        def run(conn: sqlite3.Connection) -> Part | None:
            if conn.execute(_UPLOAD_EXISTS, (bucket, raw, upload_id)).fetchone() is None:
                raise _no_such_upload(upload_id)
            row = conn.execute(
                f"SELECT {_PART_COLUMNS} FROM parts WHERE upload_id = ? AND part_number = ?",
                (upload_id, part.part_number),
            ).fetchone()
            conn.execute(
                f"INSERT OR REPLACE INTO parts (upload_id, {_PART_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?)",
                params,
            )
            return None if row is None else _part(row)

        return await self._write(run)

    async def list_parts(
        self, bucket: str, key: str, upload_id: str, *, after: int = 0, max_parts: int = 1000
    ) -> PartsPage:
        raw = key.encode("utf-8")
        limit = max(max_parts, 0)

        def run(conn: sqlite3.Connection) -> PartsPage:
            if conn.execute(_UPLOAD_EXISTS, (bucket, raw, upload_id)).fetchone() is None:
                raise _no_such_upload(upload_id)
            rows = conn.execute(
                f"SELECT {_PART_COLUMNS} FROM parts WHERE upload_id = ? AND part_number > ? "
                "ORDER BY part_number LIMIT ?",
                (upload_id, after, limit + 1),
            ).fetchall()
            return PartsPage(parts=[_part(row) for row in rows[:limit]], is_truncated=len(rows) > limit)

        return await self._read(run)

    async def complete_upload(
        self,
        bucket: str,
        key: str,
        upload_id: str,
        record: ObjectRecord,
        condition: WriteCondition | None = None,
    ) -> Completion:
        raw = key.encode("utf-8")
        used = {seg.blob_id for seg in record.segments}

        def run(conn: sqlite3.Connection) -> Completion:
            if conn.execute(_UPLOAD_EXISTS, (bucket, raw, upload_id)).fetchone() is None:
                raise _no_such_upload(upload_id)
            part_blobs = [
                r[0] for r in conn.execute("SELECT blob_id FROM parts WHERE upload_id = ?", (upload_id,))
            ]
            if not used <= set(part_blobs):
                # A part was uploaded again since the caller read the parts: its old blob is gone.
                raise S3Error("InvalidPart", UploadId=upload_id)
            replaced = _store_object(conn, record, raw, condition)
            _drop_upload(conn, upload_id)
            return Completion(replaced=replaced, unused_blobs=[b for b in part_blobs if b not in used])

        return await self._write(run)

    async def abort_upload(self, bucket: str, key: str, upload_id: str) -> list[str]:
        raw = key.encode("utf-8")

        def run(conn: sqlite3.Connection) -> list[str]:
            if conn.execute(_UPLOAD_EXISTS, (bucket, raw, upload_id)).fetchone() is None:
                raise _no_such_upload(upload_id)
            return _drop_upload(conn, upload_id)

        return await self._write(run)

    async def list_uploads(
        self,
        bucket: str,
        *,
        prefix: str = "",
        delimiter: str = "",
        key_marker: str = "",
        upload_id_marker: str = "",
        max_uploads: int = 1000,
    ) -> UploadsPage:
        if max_uploads <= 0:
            return UploadsPage([], [], is_truncated=False, next_key_marker=None, next_upload_id_marker=None)
        span = listing_range(prefix, delimiter, key_marker)
        marker = key_marker.encode("utf-8")
        id_marker = upload_id_marker if key_marker else ""
        return await self._read(
            lambda conn: _list_uploads(conn, bucket, span, marker, id_marker, max_uploads)
        )

    async def stale_uploads(self, initiated_before: datetime, limit: int = 100) -> list[Upload]:
        def run(conn: sqlite3.Connection) -> list[Upload]:
            rows = conn.execute(
                f"SELECT bucket, {_UPLOAD_COLUMNS} FROM uploads WHERE initiated < ? "
                "ORDER BY initiated LIMIT ?",
                (_to_micros(initiated_before), limit),
            )
            return [_upload(row[0], row[1:]) for row in rows]

        return await self._read(run)

    # -- bucket lifecycle configuration and leases on background work

    async def get_bucket_lifecycle(self, name: str) -> str | None:
        def run(conn: sqlite3.Connection) -> str | None:
            row = conn.execute("SELECT config FROM bucket_lifecycle WHERE bucket = ?", (name,)).fetchone()
            return None if row is None else row[0]

        return await self._lookup(run)

    async def set_bucket_lifecycle(self, name: str, config: str | None) -> None:
        def run(conn: sqlite3.Connection) -> None:
            if conn.execute("SELECT 1 FROM buckets WHERE name = ?", (name,)).fetchone() is None:
                raise S3Error("NoSuchBucket", BucketName=name)
            if config is None:
                conn.execute("DELETE FROM bucket_lifecycle WHERE bucket = ?", (name,))
            else:
                conn.execute(
                    "INSERT OR REPLACE INTO bucket_lifecycle (bucket, config) VALUES (?, ?)", (name, config)
                )

        await self._write(run)

    async def lifecycle_buckets(self, after: str = "", limit: int = 100) -> list[tuple[str, str]]:
        def run(conn: sqlite3.Connection) -> list[tuple[str, str]]:
            rows = conn.execute(
                "SELECT bucket, config FROM bucket_lifecycle WHERE bucket > ? ORDER BY bucket LIMIT ?",
                (after, limit),
            )
            return [(row[0], row[1]) for row in rows]

        return await self._read(run)

    async def take_lease(self, name: str, holder: str, ttl: float) -> Lease | None:
        def run(conn: sqlite3.Connection) -> Lease | None:
            now = _to_micros(datetime.now(UTC))
            conn.execute(
                "INSERT INTO leases (name, holder, expires) VALUES (?, ?, ?) ON CONFLICT (name) DO UPDATE "
                "SET holder = excluded.holder, expires = excluded.expires "
                "WHERE leases.holder = excluded.holder OR leases.expires <= ?",
                (name, holder, now + int(ttl * 1e6), now),
            )
            row = conn.execute("SELECT holder, expires, state FROM leases WHERE name = ?", (name,)).fetchone()
            if row[0] != holder:
                return None
            return Lease(name, row[0], _from_micros(row[1]), row[2])

        return await self._write(run)

    async def keep_lease(self, name: str, holder: str, ttl: float, state: str | None) -> bool:
        def run(conn: sqlite3.Connection) -> bool:
            expires = _to_micros(datetime.now(UTC)) + int(ttl * 1e6)
            cursor = conn.execute(
                "UPDATE leases SET expires = ?, state = ? WHERE name = ? AND holder = ?",
                (expires, state, name, holder),
            )
            return cursor.rowcount == 1

        return await self._write(run)


# -- functions that run in the database threads


def _store_object(
    conn: sqlite3.Connection,
    record: ObjectRecord,
    key: bytes,
    condition: WriteCondition | None,
) -> ObjectRecord | None:
    """Make `record` the key's current version (see MetadataStore.put_object), with the bucket's
    counters and blob links; return the version whose blobs are now free.

    The condition is checked here, in the writing transaction, so concurrent conditional writers
    are decided by the database's serial order.
    """
    state = _versioning(conn, record.bucket)
    if state is None:
        raise S3Error("NoSuchBucket", BucketName=record.bucket)
    row = conn.execute(_SELECT_OBJECT, (record.bucket, key)).fetchone()
    old = None if row is None else _record(record.bucket, row)
    if condition is not None:
        condition.check(old, record.key)
    plan = plan_put(state, old, record.version_id)
    record.version_id = plan.version_id
    freed: ObjectRecord | None = None
    if plan.archive_current and old is not None:
        _to_noncurrent(conn, old, key)
        old = None
    if plan.drop_null:
        freed = _drop_version(conn, record.bucket, key, NULL_VERSION)
    added = (0, record.size - old.size) if old is not None else (1, record.size)
    conn.execute(_ADD_STATS, (*added, record.bucket))
    conn.execute(_UPSERT_OBJECT, _object_params(record, key))
    if old is not None:
        _unlink_blobs(conn, old, key)
        freed = old
    _link_blobs(conn, record, key)
    return freed


def _versioning(conn: sqlite3.Connection, bucket: str) -> str | None:
    """The bucket's versioning state, None when there is no such bucket."""
    row = conn.execute("SELECT versioning FROM buckets WHERE name = ?", (bucket,)).fetchone()
    return None if row is None else row[0]


def _link_blobs(conn: sqlite3.Connection, record: ObjectRecord, key: bytes) -> None:
    conn.executemany(
        "INSERT OR IGNORE INTO object_blobs (blob_id, bucket, key) VALUES (?, ?, ?)",
        [(blob_id, record.bucket, key) for blob_id in {s.blob_id for s in record.segments}],
    )


def _next_seq(conn: sqlite3.Connection, bucket: str, key: bytes) -> int:
    row = conn.execute(
        "SELECT seq FROM object_versions WHERE bucket = ? AND key = ? ORDER BY seq DESC LIMIT 1",
        (bucket, key),
    ).fetchone()
    return 1 if row is None else row[0] + 1


def _add_version(conn: sqlite3.Connection, record: ObjectRecord, key: bytes) -> None:
    """Insert a noncurrent version or a delete marker as the key's newest entry in object_versions."""
    conn.execute(
        _INSERT_VERSION,
        (*_object_params(record, key), int(record.delete_marker), _next_seq(conn, record.bucket, key)),
    )
    conn.execute(_ADD_VERSION_STATS, (1, record.size, record.bucket))


def _to_noncurrent(conn: sqlite3.Connection, current: ObjectRecord, key: bytes) -> None:
    """The current version becomes the newest noncurrent one (its blobs stay linked)."""
    conn.execute("DELETE FROM objects WHERE bucket = ? AND key = ?", (current.bucket, key))
    conn.execute(_ADD_STATS, (-1, -current.size, current.bucket))
    _add_version(conn, current, key)


def _drop_version(conn: sqlite3.Connection, bucket: str, key: bytes, version_id: str) -> ObjectRecord | None:
    """Remove one noncurrent version or marker; the removed record (its blobs unlinked) or None."""
    row = conn.execute(_SELECT_VERSION, (bucket, key, version_id)).fetchone()
    if row is None:
        return None
    old = _version(bucket, row)
    conn.execute(
        "DELETE FROM object_versions WHERE bucket = ? AND key = ? AND version_id = ?",
        (bucket, key, version_id),
    )
    conn.execute(_ADD_VERSION_STATS, (-1, -old.size, bucket))
    _unlink_blobs(conn, old, key)
    return old


def _delete_current(conn: sqlite3.Connection, current: ObjectRecord, key: bytes) -> None:
    conn.execute("DELETE FROM objects WHERE bucket = ? AND key = ?", (current.bucket, key))
    conn.execute(_ADD_STATS, (-1, -current.size, current.bucket))
    _unlink_blobs(conn, current, key)


def _delete_object(
    conn: sqlite3.Connection,
    bucket: str,
    key: bytes,
    version_id: str | None,
    marker_id: str,
    bypass: bool,
) -> DeleteResult:
    """DeleteObject in one transaction (see MetadataStore.delete_object)."""
    state = _versioning(conn, bucket)
    if state is None:
        return DeleteResult(None)
    row = conn.execute(_SELECT_OBJECT, (bucket, key)).fetchone()
    current = None if row is None else _record(bucket, row)
    if version_id is None:
        plan = plan_delete(state, current, marker_id)
        freed: ObjectRecord | None = None
        if current is not None and plan.remove_current:
            _delete_current(conn, current, key)
            freed = current
        elif current is not None and plan.archive_current:
            _to_noncurrent(conn, current, key)
        if plan.drop_null:
            freed = _drop_version(conn, bucket, key, NULL_VERSION)
        if plan.marker_id is None:
            return DeleteResult(freed)
        owner = current.owner if current is not None else _bucket_owner(conn, bucket)
        marker = delete_marker(bucket, key.decode("utf-8"), plan.marker_id, owner, datetime.now(UTC))
        _add_version(conn, marker, key)
        return DeleteResult(freed, plan.marker_id, True)
    now = datetime.now(UTC)
    if current is not None and current.version_id == version_id:
        if current.locked(now, bypass):
            raise ObjectLockedError(current.key, version_id)
        _delete_current(conn, current, key)
        _promote(conn, bucket, key)
        return DeleteResult(current, version_id, False)
    row = conn.execute(_SELECT_VERSION, (bucket, key, version_id)).fetchone()
    if row is None:
        return DeleteResult(None, version_id, False)
    target = _version(bucket, row)
    if target.locked(now, bypass):
        raise ObjectLockedError(target.key, version_id)
    _drop_version(conn, bucket, key, version_id)
    if current is None:
        _promote(conn, bucket, key)
    return DeleteResult(target, version_id, target.delete_marker)


def _promote(conn: sqlite3.Connection, bucket: str, key: bytes) -> None:
    """A key without a current version gets its newest remaining one back as current, unless that
    is a delete marker (which then stays the key's newest version)."""
    newest = conn.execute(_NEWEST_VERSION, (bucket, key)).fetchone()
    if newest is None or newest[19]:
        return
    promoted = _version(bucket, newest)
    conn.execute(
        "DELETE FROM object_versions WHERE bucket = ? AND key = ? AND seq = ?", (bucket, key, newest[20])
    )
    conn.execute(_ADD_VERSION_STATS, (-1, -promoted.size, bucket))
    conn.execute(_ADD_STATS, (1, promoted.size, bucket))
    conn.execute(_UPSERT_OBJECT, _object_params(promoted, key))


def _bucket_owner(conn: sqlite3.Connection, bucket: str) -> str:
    row = conn.execute("SELECT owner FROM buckets WHERE name = ?", (bucket,)).fetchone()
    return "" if row is None else row[0]


def _answer(conn: sqlite3.Connection, bucket: str, query: VersionQuery) -> Any:
    """Run one request of common.walk_versions."""
    if isinstance(query, NextKey):
        row = conn.execute(
            "SELECT min(k) FROM ("
            "SELECT * FROM (SELECT key AS k FROM objects WHERE bucket = ? AND key >= ? AND key < ? "
            "ORDER BY key LIMIT 1) UNION ALL "
            "SELECT * FROM (SELECT key AS k FROM object_versions WHERE bucket = ? AND key >= ? AND key < ? "
            "ORDER BY key LIMIT 1))",
            (bucket, query.lower, query.upper, bucket, query.lower, query.upper),
        ).fetchone()
        return None if row is None else row[0]
    if isinstance(query, MarkerSeq):
        row = conn.execute(
            "SELECT 1 FROM objects WHERE bucket = ? AND key = ? AND version_id = ?",
            (bucket, query.key, query.version_id),
        ).fetchone()
        if row is not None:
            return math.inf
        row = conn.execute(
            "SELECT seq FROM object_versions WHERE bucket = ? AND key = ? AND version_id = ?",
            (bucket, query.key, query.version_id),
        ).fetchone()
        return None if row is None else row[0]
    records: list[ObjectRecord] = []
    if query.below is None:
        row = conn.execute(_SELECT_OBJECT, (bucket, query.key)).fetchone()
        if row is not None:
            records.append(_record(bucket, row))
    below = query.below if query.below is not None and query.below != math.inf else None
    rows = conn.execute(
        f"SELECT {_VERSION_COLUMNS} FROM object_versions WHERE bucket = ? AND key = ?"
        + (" AND seq < ?" if below is not None else "")
        + " ORDER BY seq DESC LIMIT ?",
        (bucket, query.key, *(() if below is None else (int(below),)), query.limit - len(records)),
    ).fetchall()
    records.extend(_version(bucket, r) for r in rows)
    if records and query.below is None:
        records[0].is_latest = True
    return records[: query.limit]


def _drop_upload(conn: sqlite3.Connection, upload_id: str) -> list[str]:
    """Delete an upload and its parts; the parts' blob ids (now unreferenced) are returned."""
    blobs = [r[0] for r in conn.execute("SELECT blob_id FROM parts WHERE upload_id = ?", (upload_id,))]
    conn.execute("DELETE FROM parts WHERE upload_id = ?", (upload_id,))
    conn.execute("DELETE FROM uploads WHERE upload_id = ?", (upload_id,))
    return blobs


def _list_uploads(
    conn: sqlite3.Connection,
    bucket: str,
    span: ListRange,
    key_marker: bytes,
    upload_id_marker: str,
    max_uploads: int,
) -> UploadsPage:
    """Like `_list_delimited`, over (key, upload_id): first the marker key's own uploads after
    upload_id_marker, then the keys after it, re-seeking past each common prefix."""
    uploads: list[Upload] = []
    prefixes: list[str] = []
    next_key: str | None = None
    next_id: str | None = None
    entries = 0
    want = max_uploads + 1
    delim = span.delimiter
    start = len(span.prefix)
    in_range = key_marker.startswith(span.prefix) and not (delim and key_marker.find(delim, start) >= 0)
    if upload_id_marker and in_range:
        rows = conn.execute(
            f"SELECT {_UPLOAD_COLUMNS} FROM uploads WHERE bucket = ? AND key = ? AND upload_id > ? "
            "ORDER BY upload_id LIMIT ?",
            (bucket, key_marker, upload_id_marker, want),
        ).fetchall()
        for row in rows:
            entries += 1
            if entries <= max_uploads:
                upload = _upload(bucket, row)
                uploads.append(upload)
                next_key, next_id = upload.key, upload.upload_id
    lower, upper = span.lower, span.upper
    while entries < want and lower < upper:
        cursor = conn.execute(
            f"SELECT {_UPLOAD_COLUMNS} FROM uploads WHERE bucket = ? AND key >= ? AND key < ? "
            "ORDER BY key, upload_id LIMIT ?",
            (bucket, lower, upper, want - entries),
        )
        reseek = False
        for row in cursor:
            key: bytes = row[0]
            cut = key.find(delim, start) if delim else -1
            entries += 1
            if cut >= 0:
                common = key[: cut + len(delim)]
                if entries <= max_uploads:
                    next_key, next_id = common.decode("utf-8"), None
                    prefixes.append(next_key)
                lower = prefix_successor(common) or ABOVE_ALL_KEYS
                reseek = True
                break
            if entries <= max_uploads:
                upload = _upload(bucket, row)
                uploads.append(upload)
                next_key, next_id = upload.key, upload.upload_id
        cursor.close()
        if not reseek:
            break
    return UploadsPage(
        uploads=uploads,
        common_prefixes=prefixes,
        is_truncated=entries > max_uploads,
        next_key_marker=next_key,
        next_upload_id_marker=next_id,
    )


def _unlink_blobs(conn: sqlite3.Connection, old: ObjectRecord, key: bytes) -> None:
    if not old.segments:
        return
    conn.executemany(
        "DELETE FROM object_blobs WHERE blob_id = ? AND bucket = ? AND key = ?",
        [(blob_id, old.bucket, key) for blob_id in {s.blob_id for s in old.segments}],
    )


def _list_flat(conn: sqlite3.Connection, bucket: str, lower: bytes, upper: bytes, max_keys: int) -> ListPage:
    """No delimiter: one range query for one more row than asked, to know whether more exist."""
    rows = conn.execute(_SELECT_RANGE, (bucket, lower, upper, max_keys + 1)).fetchall()
    objects = [_listed(bucket, row) for row in rows[:max_keys]]
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
                lower = prefix_successor(common) or ABOVE_ALL_KEYS
                reseek = True
                break
            if entries <= max_keys:
                record = _listed(bucket, row)
                objects.append(record)
                last = record.key
            lower = key_successor(key)
        cursor.close()
        if not reseek:
            break  # the range ran out (or we have all we want)
    return ListPage(
        objects=objects, common_prefixes=prefixes, is_truncated=entries > max_keys, next_marker=last
    )
