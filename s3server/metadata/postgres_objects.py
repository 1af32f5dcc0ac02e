"""PostgreSQL: how an object's versions are written, removed and walked, in one transaction each.

Writes to one key are serialised by the row lock on its current version (SELECT … FOR UPDATE, or the
unique index for a key being created); in a bucket that has (had) versioning also by a
transaction-scoped advisory lock of (bucket, key), since the key may have no row to lock (a delete
marker is its newest version). Creating a key of an unversioned bucket is one statement (row, blob
links and counters together). A transaction moves one bucket counter row only, its connection's:
two transactions locking two counter rows in opposite orders would deadlock.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import asyncpg

from s3server.metadata import common, tables
from s3server.metadata.base import (
    NULL_VERSION,
    DeleteResult,
    ObjectRecord,
    WriteCondition,
)
from s3server.metadata.errors import (
    MetadataError,
    NoSuchBucketError,
    ObjectLockedError,
)

COUNTER_SHARDS = 16


def _same(value: Any) -> Any:
    """Timestamps come and go as asyncpg's aware datetimes."""
    return value


_SELECT_OBJECT = f"SELECT {tables.OBJECT_COLUMNS} FROM objects WHERE bucket = $1 AND key = $2"
_LOCK_OBJECT = f"{_SELECT_OBJECT} FOR UPDATE"
_OBJECT_VALUES = ", ".join(f"${i}" for i in range(1, tables.OBJECT_WIDTH + 2))
_INSERT_OBJECT = (
    f"INSERT INTO objects (bucket, {tables.OBJECT_COLUMNS}) VALUES ({_OBJECT_VALUES}) "
    "ON CONFLICT (bucket, key) DO NOTHING"
)
_UPDATE_OBJECT = (
    "UPDATE objects SET size = $3, etag = $4, last_modified = $5, content_type = $6, segments = $7, "
    "headers = $8, user_metadata = $9, checksums = $10, tags = $11, parts_count = $12, part_sizes = $13, "
    "storage_class = $14, owner = $15, acl = $16, version_id = $17, lock_mode = $18, lock_until = $19, "
    "legal_hold = $20, encryption = $21 WHERE bucket = $1 AND key = $2"
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
# transaction. $22 blob ids, $23 counter shard. Answers (rows created, the bucket's versioning).
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
    SELECT created.bucket, created.key, blob_id FROM created, unnest($22::text[]) AS blob_id
    ON CONFLICT DO NOTHING
), counted AS (
    INSERT INTO bucket_counters AS c (bucket, shard, objects, bytes)
    SELECT created.bucket, $23, 1, created.size FROM created
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
    f"SELECT {_OBJECT_VALUES}, $22, coalesce(max(seq), 0) + 1 FROM object_versions "
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
            conn, record, tables.object_params(record, key, common.as_utc), blob_ids
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
    params = tables.object_params(record, key, common.as_utc)
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
    plan = common.plan_put(state, old, record.version_id)
    record.version_id = plan.version_id
    params = tables.object_params(record, key, common.as_utc)
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
    await conn.execute(
        _INSERT_VERSION, *tables.object_params(record, key, common.as_utc), record.delete_marker
    )
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
    await conn.execute(_INSERT_OBJECT, *tables.object_params(promoted, key, common.as_utc))
    await conn.execute(_COUNT, bucket, _shard(conn), 1, promoted.size)


async def _delete_version(conn: asyncpg.Connection, job: common.Deletion) -> DeleteResult:
    """DeleteObject by version id, in a bucket that has (had) versioning, or with a condition, under
    the key's lock (the condition is checked on the locked row)."""
    bucket, key, version_id = job.bucket, job.key, job.version_id
    await conn.execute(_LOCK_KEY, bucket, key)  # before anything is read: the key may have no row
    state = await _versioning(conn, bucket)
    if state is None:
        return DeleteResult(None)
    row = await conn.fetchrow(_LOCK_OBJECT, bucket, key)
    current = None if row is None else tables.record_from(bucket, row, _same)
    if version_id is None:
        plan = common.plan_delete(state, current, job)
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
        marker = common.delete_marker(bucket, key.decode("utf-8"), plan.marker_id, owner, datetime.now(UTC))
        await _add_version(conn, marker, key)
        return DeleteResult(freed, plan.marker_id, True)
    now = datetime.now(UTC)
    if current is not None and current.version_id == version_id:
        job.check(current)
        if current.locked(now, job.bypass):
            raise ObjectLockedError(current.key, version_id)
        await _delete_current(conn, current, key, unlink=True)
        await _promote(conn, bucket, key)
        return DeleteResult(current, version_id, False)
    found = await conn.fetchrow(_SELECT_VERSION, bucket, key, version_id)
    if found is None:
        job.check(None)
        return DeleteResult(None, version_id, False)
    target = tables.version_from(bucket, found, _same)
    job.check(target)
    if target.locked(now, job.bypass):
        raise ObjectLockedError(target.key, version_id)
    await _drop_version(conn, bucket, key, version_id)
    if current is None:
        await _promote(conn, bucket, key)
    return DeleteResult(target, version_id, target.delete_marker)


async def _bucket_owner(conn: asyncpg.Connection, bucket: str) -> str:
    return await conn.fetchval("SELECT owner FROM buckets WHERE name = $1", bucket) or ""


async def _answer(conn: asyncpg.Connection, bucket: str, query: common.VersionQuery) -> Any:
    """Run one request of common.walk_versions."""
    if isinstance(query, common.NextKey):
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
    if isinstance(query, common.MarkerSeq):
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
