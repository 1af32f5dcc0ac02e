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

import math
from collections.abc import Generator, Sequence
from datetime import UTC, datetime
from typing import Any

import asyncpg

from s3server.metadata import tables
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
from s3server.metadata.common import (
    Columns,
    Completing,
    Entry,
    ListRange,
    MarkerSeq,
    NextKey,
    SharedStore,
    UploadsRange,
    VersionQuery,
    as_utc,
    delete_marker,
    plan_delete,
    plan_put,
)
from s3server.metadata.errors import (
    BucketExistsError,
    BucketNotEmptyError,
    MetadataError,
    NoSuchBucketError,
    NoSuchUploadError,
    ObjectLockedError,
)
from s3server.metadata.leases import LIFECYCLE_MIGRATION_POSTGRES, PostgresLeases
from s3server.pgdb import PgClient, PgDatabase

__all__ = ["COMPONENT", "MIGRATIONS", "PostgresMetadataStore"]

COMPONENT = "metadata"
COUNTER_SHARDS = 16

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
]


def _same(value: Any) -> Any:
    """Timestamps come and go as asyncpg's aware datetimes."""
    return value


def _qualified(columns: str, alias: str) -> str:
    return ", ".join(f"{alias}.{c.strip()}" for c in columns.split(","))


_SELECT_OBJECT = f"SELECT {tables.OBJECT_COLUMNS} FROM objects WHERE bucket = $1 AND key = $2"
_LOCK_OBJECT = f"{_SELECT_OBJECT} FOR UPDATE"
_OBJECT_VALUES = ", ".join(f"${i}" for i in range(1, 21))
_INSERT_OBJECT = (
    f"INSERT INTO objects (bucket, {tables.OBJECT_COLUMNS}) VALUES ({_OBJECT_VALUES}) "
    "ON CONFLICT (bucket, key) DO NOTHING"
)
_UPDATE_OBJECT = (
    "UPDATE objects SET size = $3, etag = $4, last_modified = $5, content_type = $6, segments = $7, "
    "headers = $8, user_metadata = $9, checksums = $10, tags = $11, parts_count = $12, part_sizes = $13, "
    "storage_class = $14, owner = $15, acl = $16, version_id = $17, lock_mode = $18, lock_until = $19, "
    "legal_hold = $20 WHERE bucket = $1 AND key = $2"
)
# Add to one of the bucket's counter rows (creating it on first use): $1 bucket, $2 shard,
# $3 objects, $4 bytes.
_COUNT = """
INSERT INTO bucket_counters AS c (bucket, shard, objects, bytes) VALUES ($1, $2, $3, $4)
ON CONFLICT (bucket, shard)
DO UPDATE SET objects = c.objects + excluded.objects, bytes = c.bytes + excluded.bytes
"""
# A new key of an unversioned bucket in one statement: the row, its blob links and the counters,
# or nothing at all when the key exists or the bucket has (had) versioning, which takes the
# transaction. $21 blob ids, $22 counter shard. Answers (rows created, the bucket's versioning).
_CREATE_OBJECT = f"""
WITH state AS (
    SELECT versioning FROM buckets WHERE name = $1
), created AS (
    INSERT INTO objects (bucket, {tables.OBJECT_COLUMNS})
    SELECT {_OBJECT_VALUES} FROM state WHERE state.versioning = ''
    ON CONFLICT (bucket, key) DO NOTHING
    RETURNING bucket, key, size
), linked AS (
    INSERT INTO object_blobs (bucket, key, blob_id)
    SELECT created.bucket, created.key, blob_id FROM created, unnest($21::text[]) AS blob_id
    ON CONFLICT DO NOTHING
), counted AS (
    INSERT INTO bucket_counters AS c (bucket, shard, objects, bytes)
    SELECT created.bucket, $22, 1, created.size FROM created
    ON CONFLICT (bucket, shard) DO UPDATE SET objects = c.objects + 1, bytes = c.bytes + excluded.bytes
)
SELECT (SELECT count(*) FROM created) AS created, (SELECT versioning FROM state) AS versioning
"""
# Versioned writes of one key queue on a transaction-scoped advisory lock of (bucket, key): the
# key may have no row to lock (a delete marker is its newest version), and each step below reads
# what the one before it committed.
_LOCK_KEY = "SELECT pg_advisory_xact_lock(hashtextextended($1 || '/' || encode($2::bytea, 'hex'), 7841))"
_SELECT_VERSION = (
    f"SELECT {tables.VERSION_COLUMNS}, seq FROM object_versions "
    "WHERE bucket = $1 AND key = $2 AND version_id = $3"
)
_NEWEST_VERSION = (
    f"SELECT {tables.VERSION_COLUMNS}, seq FROM object_versions WHERE bucket = $1 AND key = $2 "
    "ORDER BY seq DESC LIMIT 1"
)
_INSERT_VERSION = (
    f"INSERT INTO object_versions (bucket, {tables.OBJECT_COLUMNS}, delete_marker, seq) "
    f"SELECT {_OBJECT_VALUES}, $21, coalesce(max(seq), 0) + 1 FROM object_versions "
    "WHERE bucket = $1 AND key = $2"
)
_COUNT_VERSIONS = """
INSERT INTO bucket_counters AS c (bucket, shard, objects, bytes, versions, version_bytes)
VALUES ($1, $2, 0, 0, $3, $4)
ON CONFLICT (bucket, shard)
DO UPDATE SET versions = c.versions + excluded.versions,
    version_bytes = c.version_bytes + excluded.version_bytes
"""
# After replacing the object row (locked): point the blob index at the new blobs. A statement of
# its own, so its snapshot includes every link committed for this key before we took the lock.
_RELINK = """
WITH unlinked AS (
    DELETE FROM object_blobs WHERE bucket = $1 AND key = $2 AND blob_id <> ALL ($3::text[])
)
INSERT INTO object_blobs (bucket, key, blob_id)
SELECT $1, $2, blob_id FROM unnest($3::text[]) AS blob_id
ON CONFLICT DO NOTHING
"""
_LINK = """
INSERT INTO object_blobs (bucket, key, blob_id) SELECT $1, $2, blob_id FROM unnest($3::text[]) AS blob_id
ON CONFLICT DO NOTHING
"""
_DELETE_OBJECT = f"DELETE FROM objects WHERE bucket = $1 AND key = $2 RETURNING {tables.OBJECT_COLUMNS}"
_UNLINK = "DELETE FROM object_blobs WHERE bucket = $1 AND key = $2"
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


async def _replace_row(
    conn: asyncpg.Connection, lock: str, insert: str, update: str, params: Sequence[Any], what: str
) -> asyncpg.Record | None:
    """Insert or replace one row whose key is params[0:2]; return the row it replaced, read under
    its lock. Lock the current row if there is one, else insert; an insert that loses a race with
    another creator finds that row committed, so go round and lock it instead. Racing writers thus
    run one after another, and each learns exactly which row it replaced."""
    for _ in range(16):
        row = await conn.fetchrow(lock, params[0], params[1])
        if row is not None:
            await conn.execute(update, *params)
            return row
        if (await conn.execute(insert, *params)).endswith(" 1"):
            return None
    raise MetadataError(f"{what} kept being created and deleted under us; retry")  # pragma: no cover


def _shard(conn: asyncpg.Connection) -> int:
    """The counter row of this connection's writes: the same one for every statement of a
    transaction, since two transactions locking two counter rows in opposite orders would deadlock."""
    return conn.get_server_pid() % COUNTER_SHARDS


async def _create_object(
    conn: asyncpg.Connection, record: ObjectRecord, params: tuple[Any, ...], blob_ids: list[str]
) -> tuple[bool, str | None]:
    """Insert a key of an unversioned bucket that does not exist yet, in one statement: (created,
    the bucket's versioning state, None when there is no bucket)."""
    try:
        row = await conn.fetchrow(_CREATE_OBJECT, *params, blob_ids, _shard(conn))
    except asyncpg.ForeignKeyViolationError as exc:
        raise NoSuchBucketError(record.bucket) from exc
    return bool(row["created"]), row["versioning"]


async def _versioning(conn: asyncpg.Connection, bucket: str) -> str | None:
    return await conn.fetchval("SELECT versioning FROM buckets WHERE name = $1", bucket)


async def _store_object(
    conn: asyncpg.Connection,
    record: ObjectRecord,
    key: bytes,
    condition: WriteCondition | None,
    *,
    try_create: bool = True,
) -> ObjectRecord | None:
    """Make `record` the key's current version (see MetadataStore.put_object), with its blob links
    and the bucket's counters, inside the caller's transaction; return the version whose blobs are
    now free. The condition is checked on the locked row, so of concurrent conditional writers
    exactly one wins."""
    candidate = record.version_id
    blob_ids = list(dict.fromkeys(s.blob_id for s in record.segments))
    if_match = condition is not None and condition.if_match is not None
    if try_create and not if_match:
        record.version_id = NULL_VERSION
        created, state = await _create_object(
            conn, record, tables.object_params(record, key, as_utc), blob_ids
        )
        if created:
            return None
        record.version_id = candidate
    else:
        state = await _versioning(conn, record.bucket)
    if state is None:
        raise NoSuchBucketError(record.bucket)
    if state:
        return await _store_version(conn, record, key, condition, state, blob_ids)
    record.version_id = NULL_VERSION
    params = tables.object_params(record, key, as_utc)
    if condition is not None:
        row = await conn.fetchrow(_LOCK_OBJECT, record.bucket, key)
        condition.check(None if row is None else tables.record_from(record.bucket, row, _same), record.key)
    try:
        row = await _replace_row(
            conn, _LOCK_OBJECT, _INSERT_OBJECT, _UPDATE_OBJECT, params, f"{record.bucket}/{record.key}"
        )
    except asyncpg.ForeignKeyViolationError as exc:
        raise NoSuchBucketError(record.bucket) from exc
    old = None if row is None else tables.record_from(record.bucket, row, _same)
    if condition is not None:
        condition.check(old, record.key)  # the row may have appeared since the first look
    await conn.execute(_RELINK, record.bucket, key, blob_ids)
    added = (0, record.size - old.size) if old is not None else (1, record.size)
    await conn.execute(_COUNT, record.bucket, _shard(conn), *added)
    return old


async def _store_version(
    conn: asyncpg.Connection,
    record: ObjectRecord,
    key: bytes,
    condition: WriteCondition | None,
    state: str,
    blob_ids: list[str],
) -> ObjectRecord | None:
    """_store_object in a bucket that has (had) versioning, under the key's advisory lock."""
    bucket = record.bucket
    await conn.execute(_LOCK_KEY, bucket, key)
    row = await conn.fetchrow(_LOCK_OBJECT, bucket, key)
    old = None if row is None else tables.record_from(bucket, row, _same)
    if condition is not None:
        condition.check(old, record.key)
    plan = plan_put(state, old, record.version_id)
    record.version_id = plan.version_id
    params = tables.object_params(record, key, as_utc)
    freed: ObjectRecord | None = None
    if old is not None:
        if plan.archive_current:
            await _add_version(conn, old, key)
        else:
            await _unlink(conn, old, key)
            freed = old
        await conn.execute(_UPDATE_OBJECT, *params)
        await conn.execute(_COUNT, bucket, _shard(conn), 0, record.size - old.size)
    else:
        if not (await conn.execute(_INSERT_OBJECT, *params)).endswith(" 1"):
            raise MetadataError(f"{bucket}/{record.key} was created under us; retry")  # pragma: no cover
        await conn.execute(_COUNT, bucket, _shard(conn), 1, record.size)
    if plan.drop_null:
        freed = await _drop_version(conn, bucket, key, NULL_VERSION)
    await conn.execute(_LINK, bucket, key, blob_ids)
    return freed


async def _unlink(conn: asyncpg.Connection, old: ObjectRecord, key: bytes) -> None:
    blob_ids = list({s.blob_id for s in old.segments})
    if blob_ids:
        await conn.execute(
            "DELETE FROM object_blobs WHERE bucket = $1 AND key = $2 AND blob_id = ANY ($3::text[])",
            old.bucket,
            key,
            blob_ids,
        )


async def _add_version(conn: asyncpg.Connection, record: ObjectRecord, key: bytes) -> None:
    """Insert a noncurrent version or a delete marker as the key's newest entry in object_versions."""
    await conn.execute(_INSERT_VERSION, *tables.object_params(record, key, as_utc), record.delete_marker)
    await conn.execute(_COUNT_VERSIONS, record.bucket, _shard(conn), 1, record.size)


async def _drop_version(
    conn: asyncpg.Connection, bucket: str, key: bytes, version_id: str
) -> ObjectRecord | None:
    """Remove one noncurrent version or marker; the removed record (its blobs unlinked) or None."""
    row = await conn.fetchrow(
        f"DELETE FROM object_versions WHERE bucket = $1 AND key = $2 AND version_id = $3 "
        f"RETURNING {tables.VERSION_COLUMNS}",
        bucket,
        key,
        version_id,
    )
    if row is None:
        return None
    old = tables.version_from(bucket, row, _same)
    await conn.execute(_COUNT_VERSIONS, bucket, _shard(conn), -1, -old.size)
    await _unlink(conn, old, key)
    return old


async def _delete_current(conn: asyncpg.Connection, current: ObjectRecord, key: bytes, unlink: bool) -> None:
    await conn.execute("DELETE FROM objects WHERE bucket = $1 AND key = $2", current.bucket, key)
    await conn.execute(_COUNT, current.bucket, _shard(conn), -1, -current.size)
    if unlink:
        await _unlink(conn, current, key)


async def _promote(conn: asyncpg.Connection, bucket: str, key: bytes) -> None:
    """A key without a current version gets its newest remaining one back as current, unless that
    is a delete marker (which then stays the key's newest version)."""
    newest = await conn.fetchrow(_NEWEST_VERSION, bucket, key)
    if newest is None or newest["delete_marker"]:
        return
    promoted = tables.version_from(bucket, newest, _same)
    await conn.execute(
        "DELETE FROM object_versions WHERE bucket = $1 AND key = $2 AND seq = $3", bucket, key, newest["seq"]
    )
    await conn.execute(_COUNT_VERSIONS, bucket, _shard(conn), -1, -promoted.size)
    await conn.execute(_INSERT_OBJECT, *tables.object_params(promoted, key, as_utc))
    await conn.execute(_COUNT, bucket, _shard(conn), 1, promoted.size)


async def _delete_version(
    conn: asyncpg.Connection,
    bucket: str,
    key: bytes,
    version_id: str | None,
    marker_id: str,
    bypass: bool,
) -> DeleteResult:
    """DeleteObject by version id, or in a bucket that has (had) versioning, under the key's lock."""
    state = await _versioning(conn, bucket)
    if state is None:
        return DeleteResult(None)
    await conn.execute(_LOCK_KEY, bucket, key)
    row = await conn.fetchrow(_LOCK_OBJECT, bucket, key)
    current = None if row is None else tables.record_from(bucket, row, _same)
    if version_id is None:
        plan = plan_delete(state, current, marker_id)
        freed: ObjectRecord | None = None
        if current is not None and (plan.remove_current or plan.archive_current):
            await _delete_current(conn, current, key, unlink=plan.remove_current)
            if plan.remove_current:
                freed = current
            else:
                await _add_version(conn, current, key)
        if plan.drop_null:
            freed = await _drop_version(conn, bucket, key, NULL_VERSION)
        if plan.marker_id is None:
            return DeleteResult(freed)
        owner = current.owner if current is not None else await _bucket_owner(conn, bucket)
        marker = delete_marker(bucket, key.decode("utf-8"), plan.marker_id, owner, datetime.now(UTC))
        await _add_version(conn, marker, key)
        return DeleteResult(freed, plan.marker_id, True)
    now = datetime.now(UTC)
    if current is not None and current.version_id == version_id:
        if current.locked(now, bypass):
            raise ObjectLockedError(current.key, version_id)
        await _delete_current(conn, current, key, unlink=True)
        await _promote(conn, bucket, key)
        return DeleteResult(current, version_id, False)
    found = await conn.fetchrow(_SELECT_VERSION, bucket, key, version_id)
    if found is None:
        return DeleteResult(None, version_id, False)
    target = tables.version_from(bucket, found, _same)
    if target.locked(now, bypass):
        raise ObjectLockedError(target.key, version_id)
    await _drop_version(conn, bucket, key, version_id)
    if current is None:
        await _promote(conn, bucket, key)
    return DeleteResult(target, version_id, target.delete_marker)


async def _bucket_owner(conn: asyncpg.Connection, bucket: str) -> str:
    return await conn.fetchval("SELECT owner FROM buckets WHERE name = $1", bucket) or ""


async def _answer(conn: asyncpg.Connection, bucket: str, query: VersionQuery) -> Any:
    """Run one request of common.walk_versions."""
    if isinstance(query, NextKey):
        found = await conn.fetchval(
            "SELECT least("
            "(SELECT key FROM objects WHERE bucket = $1 AND key >= $2 AND key < $3 "
            "ORDER BY key LIMIT 1), "
            "(SELECT key FROM object_versions WHERE bucket = $1 AND key >= $2 AND key < $3 "
            "ORDER BY key LIMIT 1))",
            bucket,
            query.lower,
            query.upper,
        )
        return None if found is None else bytes(found)
    if isinstance(query, MarkerSeq):
        if await conn.fetchval(
            "SELECT 1 FROM objects WHERE bucket = $1 AND key = $2 AND version_id = $3",
            bucket,
            query.key,
            query.version_id,
        ):
            return math.inf
        return await conn.fetchval(
            "SELECT seq FROM object_versions WHERE bucket = $1 AND key = $2 AND version_id = $3",
            bucket,
            query.key,
            query.version_id,
        )
    records: list[ObjectRecord] = []
    if query.below is None:
        row = await conn.fetchrow(_SELECT_OBJECT, bucket, query.key)
        if row is not None:
            records.append(tables.record_from(bucket, row, _same))
    below = None if query.below is None or query.below == math.inf else int(query.below)
    rows = await conn.fetch(
        f"SELECT {tables.VERSION_COLUMNS} FROM object_versions WHERE bucket = $1 AND key = $2 "
        "AND ($3::bigint IS NULL OR seq < $3) ORDER BY seq DESC LIMIT $4",
        bucket,
        query.key,
        below,
        query.limit - len(records),
    )
    records.extend(tables.version_from(bucket, r, _same) for r in rows)
    if records and query.below is None:
        records[0].is_latest = True
    return records[: query.limit]


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


def _walked(rows: Sequence[asyncpg.Record]) -> list[Entry]:
    """The entries of a delimiter walk: its first column is the common prefix a row rolled up into."""
    return [row[1:] if row[0] is None else bytes(row[0]) for row in rows]


def _walk_args(bucket: str, span: ListRange, want: int) -> tuple[Any, ...]:
    return (bucket, span.lower, span.upper, span.delimiter, len(span.prefix) + 1, len(span.delimiter), want)


class PostgresMetadataStore(PostgresLeases, SharedStore, PgClient):
    """MetadataStore on PostgreSQL; `db` may be shared with the identity store (one pool)."""

    when = staticmethod(_same)
    stamp = staticmethod(as_utc)
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
        params = tables.bucket_params(bucket, as_utc)

        async def run(conn: asyncpg.Connection) -> None:
            # A name deleted between the failed insert and the owner lookup is simply tried again.
            for _ in range(8):
                status = await conn.execute(
                    f"INSERT INTO buckets ({tables.BUCKET_COLUMNS}) "
                    "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT (name) DO NOTHING",
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
            params = tables.object_params(record, key, as_utc)
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
            row = await conn.fetchrow(_NEWEST_VERSION, bucket, raw)
            if row is None or not row["delete_marker"]:
                return None
            marker = tables.version_from(bucket, row, _same)
            marker.is_latest = True
            return marker

        return await self._run(run)

    async def _modify(
        self, bucket: str, key: bytes, version_id: str | None, columns: Columns
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

        async def run(conn: asyncpg.Connection) -> DeleteResult:
            if version_id is None and await _versioning(conn, bucket) == "":
                row = await conn.fetchrow(_DELETE_OBJECT, bucket, raw)
                if row is None:
                    return DeleteResult(None)
                old = tables.record_from(bucket, row, _same)
                # A new statement, so a new snapshot: it sees the links of whichever write we deleted.
                await conn.execute(_UNLINK, bucket, raw)
                await conn.execute(_COUNT, bucket, _shard(conn), -1, -old.size)
                return DeleteResult(old)
            return await _delete_version(conn, bucket, raw, version_id, marker_id, bypass_governance)

        return await self._transaction(run)

    async def _walk_versions(
        self, bucket: str, walk: Generator[VersionQuery, Any, VersionsPage]
    ) -> VersionsPage:
        async def run(conn: asyncpg.Connection) -> VersionsPage:
            try:
                query = next(walk)
                while True:
                    query = walk.send(await _answer(conn, bucket, query))
            except StopIteration as done:
                return done.value

        return await self._run(run)

    async def _list_entries(self, bucket: str, span: ListRange, want: int) -> Sequence[Entry]:
        async def run(conn: asyncpg.Connection) -> Sequence[Entry]:
            if span.delimiter:
                return _walked(await conn.fetch(_LIST_DELIMITED, *_walk_args(bucket, span, want)))
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
        params = tables.upload_params(upload, as_utc)

        async def run(conn: asyncpg.Connection) -> None:
            try:
                await conn.execute(
                    f"INSERT INTO uploads (bucket, {tables.UPLOAD_COLUMNS}) "
                    "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)",
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
        params = tables.part_params(upload_id, part, as_utc)

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

    async def _complete(self, job: Completing) -> tuple[ObjectRecord | None, list[str]]:
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

    async def _upload_entries(self, bucket: str, where: UploadsRange, want: int) -> Sequence[Entry]:
        span = where.span

        async def run(conn: asyncpg.Connection) -> list[Entry]:
            entries: list[Entry] = []
            if where.marker_first:
                entries += await conn.fetch(_LIST_MARKER_UPLOADS, bucket, where.marker, where.id_marker, want)
            if len(entries) < want and not span.empty:
                if span.delimiter:
                    args = _walk_args(bucket, span, want - len(entries))
                    entries += _walked(await conn.fetch(_LIST_UPLOADS_DELIMITED, *args))
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
                as_utc(initiated_before),
                limit,
            )
            return [tables.upload_from(row[0], row[1:], _same) for row in rows]

        return await self._run(run)
