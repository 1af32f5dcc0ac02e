"""The PostgreSQL metadata backend (asyncpg), for many gateway processes on one or more machines.

Keys are `bytea` holding their UTF-8 bytes, so PostgreSQL compares them as S3 does (byte order),
whatever the database's collation; bucket names are `COLLATE "C"` for the same reason. The range
bounds of a listing are the same bytes the SQLite backend computes (`metadata.common`).

A delimiter listing is one recursive query that walks the (bucket, key) index: each step is one index
probe for the next key, and when that key rolls up into a common prefix the next probe starts at the
prefix's successor, so the keys under a common prefix are never read.

Every object write moves the bucket's object count and byte total in the same transaction. The
counters are spread over a few rows per bucket (`bucket_counters`, the row of the writing connection),
so writers to one bucket do not queue behind a single row lock that is held until each commit is
flushed; a bucket's statistics are the sum of at most COUNTER_SHARDS rows, never a scan.

Writes to one key are serialised by the row lock on it (SELECT … FOR UPDATE, or the unique index
for a key being created), so concurrent PUTs from any number of processes leave exactly one row and
exact counters. Creating a new key is one statement (insert, blob links and counters together);
replacing one is a short transaction that first locks the row it replaces.
"""

from __future__ import annotations

from collections.abc import Generator, Sequence
from datetime import datetime
from typing import Any

import asyncpg

from s3server.metadata import common, tables
from s3server.metadata.base import (
    NULL_VERSION,
    Bucket,
    BucketStats,
    DeleteResult,
    ObjectRecord,
    Part,
    Upload,
    VersionsPage,
    WriteCondition,
)
from s3server.metadata.errors import (
    BucketExistsError,
    BucketNotEmptyError,
    MetadataError,
    NoSuchBucketError,
    NoSuchUploadError,
)
from s3server.metadata.kms import KMS_MIGRATION_POSTGRES, PostgresKmsKeys
from s3server.metadata.leases import LIFECYCLE_MIGRATION_POSTGRES, PostgresLeases
from s3server.metadata.nodes import NODES_MIGRATION_POSTGRES, PostgresNodes
from s3server.metadata.postgres_objects import (
    _COUNT,
    _DELETE_OBJECT,
    _LOCK_OBJECT,
    _NEWEST_VERSION,
    _SELECT_OBJECT,
    _SELECT_VERSION,
    _UNLINK,
    _answer,
    _create_object,
    _delete_version,
    _replace_row,
    _same,
    _shard,
    _store_object,
    _versioning,
)
from s3server.metadata.ratelimit import RATE_BUCKETS_MIGRATION_POSTGRES, PostgresTokenBuckets
from s3server.pgdb import PgClient, PgDatabase

__all__ = ["COMPONENT", "MIGRATIONS", "PostgresMetadataStore"]

COMPONENT = "metadata"

# Each migration is a sequence of statements applied in one transaction; index + 1 is the schema
# version it produces. Append new migrations; never edit an applied one.
MIGRATIONS: list[tuple[str, ...]] = [
    (
        """CREATE TABLE buckets (
            name TEXT COLLATE "C" PRIMARY KEY,
            owner TEXT NOT NULL,
            region TEXT NOT NULL,
            created TIMESTAMPTZ NOT NULL
        )""",
        "CREATE INDEX buckets_by_owner ON buckets (owner, name)",
        """CREATE TABLE bucket_counters (
            bucket TEXT COLLATE "C" NOT NULL REFERENCES buckets (name) ON DELETE CASCADE,
            shard SMALLINT NOT NULL,
            objects BIGINT NOT NULL,
            bytes BIGINT NOT NULL,
            PRIMARY KEY (bucket, shard)
        )""",
        f"""CREATE TABLE objects (
            bucket TEXT COLLATE "C" NOT NULL REFERENCES buckets (name),
            key BYTEA NOT NULL,
            size BIGINT NOT NULL,
            etag TEXT NOT NULL,
            last_modified TIMESTAMPTZ NOT NULL,
            {tables.OBJECT_FIELDS_DDL}
        )""",
        """CREATE TABLE object_blobs (
            bucket TEXT COLLATE "C" NOT NULL,
            key BYTEA NOT NULL,
            blob_id TEXT NOT NULL,
            PRIMARY KEY (bucket, key, blob_id)
        )""",
        "CREATE INDEX object_blobs_by_blob ON object_blobs (blob_id)",
        # Multipart uploads: (bucket, key, upload_id) orders ListMultipartUploads; upload ids are
        # unique on their own, so parts hang off the id alone.
        f"""CREATE TABLE uploads (
            bucket TEXT COLLATE "C" NOT NULL REFERENCES buckets (name),
            key BYTEA NOT NULL,
            upload_id TEXT COLLATE "C" NOT NULL UNIQUE,
            initiated TIMESTAMPTZ NOT NULL,
            {tables.UPLOAD_FIELDS_DDL}
        )""",
        "CREATE INDEX uploads_by_age ON uploads (initiated)",
        """CREATE TABLE parts (
            upload_id TEXT COLLATE "C" NOT NULL REFERENCES uploads (upload_id),
            part_number INTEGER NOT NULL,
            size BIGINT NOT NULL,
            etag TEXT NOT NULL,
            last_modified TIMESTAMPTZ NOT NULL,
            blob_id TEXT NOT NULL,
            checksums TEXT,
            PRIMARY KEY (upload_id, part_number)
        )""",
        "CREATE INDEX parts_by_blob ON parts (blob_id)",
    ),
    tables.ACCESS_CONTROL_MIGRATION,
    (
        *tables.versioning_migration(
            key="BYTEA",
            stamp="TIMESTAMPTZ",
            flag="BOOLEAN",
            false="false",
            big="BIGINT",
            text='TEXT COLLATE "C"',
        ),
        # The counter rows count noncurrent versions and delete markers beside current objects.
        "ALTER TABLE bucket_counters ADD COLUMN versions BIGINT NOT NULL DEFAULT 0",
        "ALTER TABLE bucket_counters ADD COLUMN version_bytes BIGINT NOT NULL DEFAULT 0",
    ),
    # Lifecycle: a bucket's rules (they go with the bucket), and leases on background work.
    LIFECYCLE_MIGRATION_POSTGRES,
    tables.ENCRYPTION_MIGRATION,
    # What the gateways of a cluster share: the rate limit's buckets and the storage node list.
    (*RATE_BUCKETS_MIGRATION_POSTGRES, *NODES_MIGRATION_POSTGRES),
    tables.BUCKET_ACCESS_MIGRATION,
    # The keys of the built-in key service (SSE-KMS).
    KMS_MIGRATION_POSTGRES,
]


def _qualified(columns: str, alias: str) -> str:
    return ", ".join(f"{alias}.{c.strip()}" for c in columns.split(","))


_BUCKET_STATS = (
    "SELECT coalesce(sum(objects), 0)::bigint, coalesce(sum(bytes), 0)::bigint, "
    "coalesce(sum(versions), 0)::bigint FROM bucket_counters WHERE bucket = $1"
)
_LIST_FLAT = (
    f"SELECT {tables.LIST_COLUMNS} FROM objects "
    "WHERE bucket = $1 AND key >= $2 AND key < $3 ORDER BY key LIMIT $4"
)
_UPLOAD_EXISTS = "SELECT 1 FROM uploads WHERE bucket = $1 AND key = $2 AND upload_id = $3"
_LOCK_PART = f"SELECT {tables.PART_COLUMNS} FROM parts WHERE upload_id = $1 AND part_number = $2 FOR UPDATE"
_INSERT_PART = (
    f"INSERT INTO parts (upload_id, {tables.PART_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7) "
    "ON CONFLICT (upload_id, part_number) DO NOTHING"
)
_UPDATE_PART = (
    "UPDATE parts SET size = $3, etag = $4, last_modified = $5, blob_id = $6, checksums = $7 "
    "WHERE upload_id = $1 AND part_number = $2"
)
_LIST_UPLOADS_FLAT = (
    f"SELECT {tables.UPLOAD_COLUMNS} FROM uploads "
    "WHERE bucket = $1 AND key >= $2 AND key < $3 ORDER BY key, upload_id LIMIT $4"
)
_LIST_MARKER_UPLOADS = (
    f"SELECT {tables.UPLOAD_COLUMNS} FROM uploads "
    "WHERE bucket = $1 AND key = $2 AND upload_id > $3 ORDER BY upload_id LIMIT $4"
)


# Where the common prefix of walk row `w` ends (its length), and its successor (its last byte + 1:
# a delimiter's last byte is never 0xFF in UTF-8, so there is no carry).
_COMMON_LENGTH = "($5::int + w.cut + $6::int - 2)"
_COMMON_SUCCESSOR = (
    f"substring(w.key FROM 1 FOR {_COMMON_LENGTH} - 1)"
    f" || set_byte('\\x00'::bytea, 0, get_byte(w.key, {_COMMON_LENGTH} - 1) + 1)"
)


def _walk(table: str, columns: str, order: str, after_row: str) -> str:
    """A delimiter listing over `table` in one statement: a recursive walk of its (bucket, key, …)
    index, one index probe per entry returned.

    $1 bucket, $2 lower, $3 upper, $4 delimiter, $5 where the delimiter search starts (1-based: the
    prefix length + 1), $6 delimiter length, $7 entries wanted. `cut` is where the delimiter occurs
    after the prefix (1-based, 0 if none). After a row that stands for itself the next probe starts
    just after it (`after_row`); after a key that rolls up, at the successor of its common prefix,
    so the rows under a common prefix are never read. Each step carries its whole row, so no join
    is left for the planner to turn into a scan of the table.
    """
    cols = _qualified(columns, "t")
    probe = f"position($4::bytea IN substring(t.key FROM $5::int)) AS cut, {cols}"
    return f"""
WITH RECURSIVE walk AS (
    (
        SELECT 1 AS n, {probe}
        FROM {table} AS t
        WHERE t.bucket = $1 AND t.key >= $2::bytea AND t.key < $3::bytea
        ORDER BY {order}
        LIMIT 1
    )
    UNION ALL
    SELECT w.n + 1, nxt.*
    FROM walk AS w
    CROSS JOIN LATERAL (
        SELECT {probe}
        FROM {table} AS t
        WHERE t.bucket = $1 AND t.key < $3::bytea AND {after_row}
        ORDER BY {order}
        LIMIT 1
    ) AS nxt
    WHERE w.n < $7::int
)
SELECT CASE WHEN w.cut > 0 THEN substring(w.key FROM 1 FOR {_COMMON_LENGTH}) END AS common,
       {_qualified(columns, "w")}
FROM walk AS w
ORDER BY w.n
"""


_LIST_DELIMITED = _walk(
    "objects",
    tables.LIST_COLUMNS,
    "t.key",
    f"t.key >= CASE WHEN w.cut > 0 THEN {_COMMON_SUCCESSOR} ELSE w.key || '\\x00'::bytea END",
)
# Uploads step through (key, upload_id); after a common prefix, (successor, '') is below every
# upload id of the successor key.
_LIST_UPLOADS_DELIMITED = _walk(
    "uploads",
    tables.UPLOAD_COLUMNS,
    "t.key, t.upload_id",
    f"(t.key, t.upload_id) > (CASE WHEN w.cut > 0 THEN {_COMMON_SUCCESSOR} ELSE w.key END,"
    " CASE WHEN w.cut > 0 THEN '' ELSE w.upload_id END)",
)


async def _drop_upload(conn: asyncpg.Connection, upload_id: str) -> list[str]:
    """Delete an upload and its parts; the parts' blob ids (now unreferenced) are returned."""
    rows = await conn.fetch("DELETE FROM parts WHERE upload_id = $1 RETURNING blob_id", upload_id)
    await conn.execute("DELETE FROM uploads WHERE upload_id = $1", upload_id)
    return [row[0] for row in rows]


async def _require_upload(
    conn: asyncpg.Connection, lock: str, bucket: str, key: bytes, upload_id: str
) -> None:
    """Take the upload's row lock (`lock`: FOR SHARE, FOR UPDATE or none); NoSuchUploadError if the
    upload is gone."""
    if await conn.fetchval(f"{_UPLOAD_EXISTS} {lock}", bucket, key, upload_id) is None:
        raise NoSuchUploadError(upload_id)


def _walk_args(bucket: str, span: common.ListRange, want: int) -> tuple[Any, ...]:
    return (bucket, span.lower, span.upper, span.delimiter, len(span.prefix) + 1, len(span.delimiter), want)


# One placeholder per column of BUCKET_COLUMNS.
_BUCKET_VALUES = ", ".join(f"${n}" for n in range(1, tables.BUCKET_COLUMNS.count(",") + 2))


class PostgresMetadataStore(
    PostgresLeases, PostgresNodes, PostgresKmsKeys, PostgresTokenBuckets, common.SharedStore, PgClient
):
    """MetadataStore on PostgreSQL; `db` may be shared with the identity store (one pool)."""

    when = staticmethod(_same)
    stamp = staticmethod(common.as_utc)
    micros = staticmethod(common.epoch_micros)
    unavailable = MetadataError
    label = "postgresql metadata"

    def __init__(self, db: PgDatabase | str) -> None:
        self.db = PgDatabase(db) if isinstance(db, str) else db

    # -- lifecycle

    async def open(self) -> None:
        """Connect and bring the schema up to date (safe to repeat, and from many processes at once)."""
        await self._open_migrated(COMPONENT, MIGRATIONS)

    async def close(self) -> None:
        await self.db.close()

    async def ping(self) -> None:
        await self._run(lambda conn: conn.fetchval("SELECT 1"))

    async def schema_version(self) -> int:
        """The schema version the database is at (len(MIGRATIONS) once open)."""
        return await self._schema_version(COMPONENT)

    # -- buckets

    async def create_bucket(self, bucket: Bucket) -> None:
        params = tables.bucket_params(bucket, common.as_utc)

        async def run(conn: asyncpg.Connection) -> None:
            # A name deleted between the failed insert and the owner lookup is simply tried again.
            for _ in range(8):
                status = await conn.execute(
                    f"INSERT INTO buckets ({tables.BUCKET_COLUMNS}) "
                    f"VALUES ({_BUCKET_VALUES}) ON CONFLICT (name) DO NOTHING",
                    *params,
                )
                if status.endswith(" 1"):
                    return
                owner = await conn.fetchval("SELECT owner FROM buckets WHERE name = $1", bucket.name)
                if owner is not None:
                    raise BucketExistsError(bucket.name, owned_by_you=owner == bucket.owner)
            raise MetadataError(f"bucket {bucket.name} kept being created and deleted under us; retry")

        await self._run(run)

    async def get_bucket(self, name: str) -> Bucket | None:
        async def run(conn: asyncpg.Connection) -> Bucket | None:
            row = await conn.fetchrow(f"SELECT {tables.BUCKET_COLUMNS} FROM buckets WHERE name = $1", name)
            return None if row is None else tables.bucket_from(row, _same)

        return await self._run(run)

    async def list_buckets(self, owner: str | None = None) -> list[Bucket]:
        async def run(conn: asyncpg.Connection) -> list[Bucket]:
            if owner is None:
                rows = await conn.fetch(f"SELECT {tables.BUCKET_COLUMNS} FROM buckets ORDER BY name")
            else:
                rows = await conn.fetch(
                    f"SELECT {tables.BUCKET_COLUMNS} FROM buckets WHERE owner = $1 ORDER BY name", owner
                )
            return [tables.bucket_from(row, _same) for row in rows]

        return await self._run(run)

    async def delete_bucket(self, name: str) -> list[str]:
        async def run(conn: asyncpg.Connection) -> list[str]:
            # The row lock waits for in-flight creations of objects and uploads (they hold a
            # key-share lock on it through their foreign keys), so what is read after it is final.
            if await conn.fetchval("SELECT 1 FROM buckets WHERE name = $1 FOR UPDATE", name) is None:
                raise NoSuchBucketError(name)
            count, _, versions = await conn.fetchrow(_BUCKET_STATS, name)
            if (
                count
                or versions
                or await conn.fetchval("SELECT 1 FROM objects WHERE bucket = $1 LIMIT 1", name)
                or await conn.fetchval("SELECT 1 FROM object_versions WHERE bucket = $1 LIMIT 1", name)
            ):
                raise BucketNotEmptyError(name)
            # Uploads in progress do not keep a bucket alive on AWS; they go with it.
            blobs: list[str] = []
            for row in await conn.fetch("SELECT upload_id FROM uploads WHERE bucket = $1 FOR UPDATE", name):
                blobs.extend(await _drop_upload(conn, row[0]))
            try:
                await conn.execute("DELETE FROM buckets WHERE name = $1", name)
            except asyncpg.ForeignKeyViolationError as exc:
                raise BucketNotEmptyError(name) from exc
            return blobs

        return await self._transaction(run)

    async def bucket_stats(self, name: str) -> tuple[int, int] | None:
        """(object count, total bytes) of a bucket without scanning its objects; None if no bucket."""

        async def run(conn: asyncpg.Connection) -> tuple[int, int] | None:
            if await conn.fetchval("SELECT 1 FROM buckets WHERE name = $1", name) is None:
                return None
            count, size, _ = await conn.fetchrow(_BUCKET_STATS, name)
            return count, size

        return await self._run(run)

    async def all_bucket_stats(self) -> list[BucketStats]:
        async def run(conn: asyncpg.Connection) -> list[BucketStats]:
            rows = await conn.fetch(
                "SELECT b.name, b.owner, coalesce(sum(c.objects), 0)::bigint AS objects, "
                "coalesce(sum(c.bytes), 0)::bigint AS bytes, coalesce(sum(c.versions), 0)::bigint, "
                "coalesce(sum(c.version_bytes), 0)::bigint "
                "FROM buckets AS b LEFT JOIN bucket_counters AS c ON c.bucket = b.name "
                "GROUP BY b.name, b.owner ORDER BY b.name"
            )
            return [BucketStats(*row) for row in rows]

        return await self._run(run)

    async def _set_bucket_column(self, name: str, column: str, value: str | None) -> None:
        async def run(conn: asyncpg.Connection) -> None:
            status = await conn.execute(f"UPDATE buckets SET {column} = $2 WHERE name = $1", name, value)
            if not status.endswith(" 1"):
                raise NoSuchBucketError(name)

        await self._run(run)

    # -- objects

    async def _put_object(
        self, record: ObjectRecord, key: bytes, condition: WriteCondition | None
    ) -> ObjectRecord | None:
        if condition is None or condition.if_match is None:
            # Most PUTs create a key of an unversioned bucket: one statement, no transaction.
            candidate = record.version_id
            record.version_id = NULL_VERSION
            params = tables.object_params(record, key, common.as_utc)
            blob_ids = list(dict.fromkeys(s.blob_id for s in record.segments))
            created, state = await self._run(lambda conn: _create_object(conn, record, params, blob_ids))
            if created:
                return None
            record.version_id = candidate
            if state is None:
                raise NoSuchBucketError(record.bucket)
            if condition is not None and not state:  # If-None-Match: * and the key exists
                condition.check(record, record.key)
        return await self._transaction(
            lambda conn: _store_object(conn, record, key, condition, try_create=False)
        )

    async def get_object(self, bucket: str, key: str, version_id: str | None = None) -> ObjectRecord | None:
        raw = key.encode("utf-8")

        async def run(conn: asyncpg.Connection) -> ObjectRecord | None:
            row = await conn.fetchrow(_SELECT_OBJECT, bucket, raw)
            current = None if row is None else tables.record_from(bucket, row, _same)
            if version_id is None or (current is not None and current.version_id == version_id):
                return current
            found = await conn.fetchrow(_SELECT_VERSION, bucket, raw, version_id)
            if found is None:
                return None
            record = tables.version_from(bucket, found, _same)
            if current is None:
                newest = await conn.fetchrow(_NEWEST_VERSION, bucket, raw)
                record.is_latest = newest is not None and newest["version_id"] == version_id
            return record

        return await self._run(run)

    async def get_delete_marker(self, bucket: str, key: str) -> ObjectRecord | None:
        raw = key.encode("utf-8")

        async def run(conn: asyncpg.Connection) -> ObjectRecord | None:
            if await conn.fetchval("SELECT 1 FROM objects WHERE bucket = $1 AND key = $2", bucket, raw):
                return None
            return tables.latest_marker(bucket, await conn.fetchrow(_NEWEST_VERSION, bucket, raw), _same)

        return await self._run(run)

    async def _modify(
        self, bucket: str, key: bytes, version_id: str | None, columns: common.Columns
    ) -> ObjectRecord | None:
        raw = key

        async def run(conn: asyncpg.Connection) -> ObjectRecord | None:
            row = await conn.fetchrow(_LOCK_OBJECT, bucket, raw)
            if row is not None and version_id in (None, row["version_id"]):
                table, where, load = "objects", "bucket = $1 AND key = $2", tables.record_from
                args: tuple[Any, ...] = (bucket, raw)
                returned = tables.OBJECT_COLUMNS
            elif version_id is None:
                return None
            else:
                row = await conn.fetchrow(f"{_SELECT_VERSION} FOR UPDATE", bucket, raw, version_id)
                if row is None or row["delete_marker"]:
                    return None
                table, where, load = (
                    "object_versions",
                    "bucket = $1 AND key = $2 AND version_id = $3",
                    tables.version_from,
                )
                args = (bucket, raw, version_id)
                returned = tables.VERSION_COLUMNS
            changes = columns(load(bucket, row, _same))
            first = len(args) + 1
            assignments = ", ".join(f"{name} = ${first + i}" for i, name in enumerate(changes))
            updated = await conn.fetchrow(
                f"UPDATE {table} SET {assignments} WHERE {where} RETURNING {returned}",
                *args,
                *changes.values(),
            )
            return load(bucket, updated, _same)

        return await self._transaction(run)

    async def _delete(self, job: common.Deletion) -> DeleteResult:
        bucket, raw = job.bucket, job.key

        async def run(conn: asyncpg.Connection) -> DeleteResult:
            plain = job.version_id is None and job.condition is None
            if plain and await _versioning(conn, bucket) == "":
                row = await conn.fetchrow(_DELETE_OBJECT, bucket, raw)
                if row is None:
                    return DeleteResult(None)
                old = tables.record_from(bucket, row, _same)
                # A new statement, so a new snapshot: it sees the links of whichever write we deleted.
                await conn.execute(_UNLINK, bucket, raw)
                await conn.execute(_COUNT, bucket, _shard(conn), -1, -old.size)
                return DeleteResult(old)
            return await _delete_version(conn, job)

        return await self._transaction(run)

    async def _walk_versions(
        self, bucket: str, walk: Generator[common.VersionQuery, Any, VersionsPage]
    ) -> VersionsPage:
        async def run(conn: asyncpg.Connection) -> VersionsPage:
            try:
                query = next(walk)
                while True:
                    query = walk.send(await _answer(conn, bucket, query))
            except StopIteration as done:
                return done.value

        return await self._run(run)

    async def _list_entries(self, bucket: str, span: common.ListRange, want: int) -> Sequence[common.Entry]:
        async def run(conn: asyncpg.Connection) -> Sequence[common.Entry]:
            if span.delimiter:
                return common.walked(await conn.fetch(_LIST_DELIMITED, *_walk_args(bucket, span, want)))
            return await conn.fetch(_LIST_FLAT, bucket, span.lower, span.upper, want)

        return await self._run(run)

    async def referenced_blobs(self, blob_ids: Sequence[str]) -> set[str]:
        wanted = list(dict.fromkeys(blob_ids))
        if not wanted:
            return set()

        async def run(conn: asyncpg.Connection) -> set[str]:
            rows = await conn.fetch(
                "SELECT blob_id FROM object_blobs WHERE blob_id = ANY ($1::text[]) "
                "UNION SELECT blob_id FROM parts WHERE blob_id = ANY ($1::text[])",
                wanted,
            )
            return {row[0] for row in rows}

        return await self._run(run)

    # -- multipart uploads

    async def create_upload(self, upload: Upload) -> None:
        params = tables.upload_params(upload, common.as_utc)

        async def run(conn: asyncpg.Connection) -> None:
            try:
                await conn.execute(
                    f"INSERT INTO uploads (bucket, {tables.UPLOAD_COLUMNS}) "
                    "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17)",
                    *params,
                )
            except asyncpg.ForeignKeyViolationError as exc:
                raise NoSuchBucketError(upload.bucket) from exc

        await self._run(run)

    async def get_upload(self, bucket: str, key: str, upload_id: str) -> Upload | None:
        raw = key.encode("utf-8")

        async def run(conn: asyncpg.Connection) -> Upload | None:
            row = await conn.fetchrow(
                f"SELECT {tables.UPLOAD_COLUMNS} FROM uploads "
                "WHERE bucket = $1 AND key = $2 AND upload_id = $3",
                bucket,
                raw,
                upload_id,
            )
            return None if row is None else tables.upload_from(bucket, row, _same)

        return await self._run(run)

    async def put_part(self, bucket: str, key: str, upload_id: str, part: Part) -> Part | None:
        raw = key.encode("utf-8")
        params = tables.part_params(upload_id, part, common.as_utc)

        async def run(conn: asyncpg.Connection) -> Part | None:
            # Part writers share the upload's row lock with each other, but not with Complete or Abort.
            await _require_upload(conn, "FOR SHARE", bucket, raw, upload_id)
            row = await _replace_row(
                conn,
                _LOCK_PART,
                _INSERT_PART,
                _UPDATE_PART,
                params,
                f"part {part.part_number} of {upload_id}",
            )
            return None if row is None else tables.part_from(row, _same)

        return await self._transaction(run)

    async def _part_rows(
        self, bucket: str, key: bytes, upload_id: str, after: int, want: int
    ) -> list[asyncpg.Record]:
        async def run(conn: asyncpg.Connection) -> list[asyncpg.Record]:
            await _require_upload(conn, "", bucket, key, upload_id)
            return await conn.fetch(
                f"SELECT {tables.PART_COLUMNS} FROM parts WHERE upload_id = $1 AND part_number > $2 "
                "ORDER BY part_number LIMIT $3",
                upload_id,
                after,
                want,
            )

        return await self._run(run)

    async def _complete(self, job: common.Completing) -> tuple[ObjectRecord | None, list[str]]:
        async def run(conn: asyncpg.Connection) -> tuple[ObjectRecord | None, list[str]]:
            # The exclusive lock waits out part writers in flight and keeps new ones away.
            await _require_upload(conn, "FOR UPDATE", job.bucket, job.key, job.upload_id)
            rows = await conn.fetch("SELECT blob_id FROM parts WHERE upload_id = $1", job.upload_id)
            blobs = [r[0] for r in rows]
            job.check_parts(blobs)
            replaced = await _store_object(conn, job.record, job.key, job.condition)
            await _drop_upload(conn, job.upload_id)
            return replaced, blobs

        return await self._transaction(run)

    async def abort_upload(self, bucket: str, key: str, upload_id: str) -> list[str]:
        raw = key.encode("utf-8")

        async def run(conn: asyncpg.Connection) -> list[str]:
            await _require_upload(conn, "FOR UPDATE", bucket, raw, upload_id)
            return await _drop_upload(conn, upload_id)

        return await self._transaction(run)

    async def _upload_entries(
        self, bucket: str, where: common.UploadsRange, want: int
    ) -> Sequence[common.Entry]:
        span = where.span

        async def run(conn: asyncpg.Connection) -> list[common.Entry]:
            entries: list[common.Entry] = []
            if where.marker_first:
                entries += await conn.fetch(_LIST_MARKER_UPLOADS, bucket, where.marker, where.id_marker, want)
            if len(entries) < want and not span.empty:
                if span.delimiter:
                    args = _walk_args(bucket, span, want - len(entries))
                    entries += common.walked(await conn.fetch(_LIST_UPLOADS_DELIMITED, *args))
                else:
                    entries += await conn.fetch(
                        _LIST_UPLOADS_FLAT, bucket, span.lower, span.upper, want - len(entries)
                    )
            return entries

        return await self._run(run)

    async def stale_uploads(self, initiated_before: datetime, limit: int = 100) -> list[Upload]:
        async def run(conn: asyncpg.Connection) -> list[Upload]:
            rows = await conn.fetch(
                f"SELECT bucket, {tables.UPLOAD_COLUMNS} FROM uploads WHERE initiated < $1 "
                "ORDER BY initiated LIMIT $2",
                common.as_utc(initiated_before),
                limit,
            )
            return [tables.upload_from(row[0], row[1:], _same) for row in rows]

        return await self._run(run)
