"""SQLite: how an object's versions are written, removed and walked, in one write transaction each
(the database's single writer orders them). Timestamps are microseconds since the epoch.
"""

from __future__ import annotations

import math
import sqlite3
from datetime import UTC, datetime
from typing import Any

from s3server.metadata import tables
from s3server.metadata.base import (
    NULL_VERSION,
    DeleteResult,
    ObjectRecord,
    WriteCondition,
)
from s3server.metadata.common import (
    Deletion,
    MarkerSeq,
    NextKey,
    VersionQuery,
    delete_marker,
    epoch_micros,
    from_epoch_micros,
    plan_delete,
    plan_put,
)
from s3server.metadata.errors import (
    NoSuchBucketError,
    ObjectLockedError,
)

_SELECT_OBJECT = f"SELECT {tables.OBJECT_COLUMNS} FROM objects WHERE bucket = ? AND key = ?"
_UPSERT_OBJECT = (
    f"INSERT OR REPLACE INTO objects (bucket, {tables.OBJECT_COLUMNS}) VALUES ({', '.join('?' * 21)})"
)
_SELECT_VERSION = (
    f"SELECT {tables.VERSION_COLUMNS} FROM object_versions WHERE bucket = ? AND key = ? AND version_id = ?"
)
_NEWEST_VERSION = (
    f"SELECT {tables.VERSION_COLUMNS}, seq FROM object_versions WHERE bucket = ? AND key = ? "
    "ORDER BY seq DESC LIMIT 1"
)
_INSERT_VERSION = (
    f"INSERT INTO object_versions (bucket, {tables.OBJECT_COLUMNS}, delete_marker, seq) "
    f"VALUES ({', '.join('?' * 23)})"
)
_ADD_VERSION_STATS = (
    "UPDATE buckets SET version_count = version_count + ?, version_bytes = version_bytes + ? WHERE name = ?"
)
_ADD_STATS = (
    "UPDATE buckets SET object_count = object_count + ?, total_bytes = total_bytes + ? WHERE name = ?"
)
# Where a row of VERSION_COLUMNS (+ seq) keeps these.
_VERSION_ID, _DELETE_MARKER, _SEQ = 15, tables.OBJECT_WIDTH, tables.OBJECT_WIDTH + 1


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
        raise NoSuchBucketError(record.bucket)
    row = conn.execute(_SELECT_OBJECT, (record.bucket, key)).fetchone()
    old = None if row is None else tables.record_from(record.bucket, row, from_epoch_micros)
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
    conn.execute(_UPSERT_OBJECT, tables.object_params(record, key, epoch_micros))
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
        (
            *tables.object_params(record, key, epoch_micros),
            int(record.delete_marker),
            _next_seq(conn, record.bucket, key),
        ),
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
    old = tables.version_from(bucket, row, from_epoch_micros)
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


def _delete_object(conn: sqlite3.Connection, job: Deletion) -> DeleteResult:
    """DeleteObject in one transaction (see MetadataStore.delete_object)."""
    bucket, key, version_id = job.bucket, job.key, job.version_id
    state = _versioning(conn, bucket)
    if state is None:
        return DeleteResult(None)
    row = conn.execute(_SELECT_OBJECT, (bucket, key)).fetchone()
    current = None if row is None else tables.record_from(bucket, row, from_epoch_micros)
    if version_id is None:
        plan = plan_delete(state, current, job)
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
        job.check(current)
        if current.locked(now, job.bypass):
            raise ObjectLockedError(current.key, version_id)
        _delete_current(conn, current, key)
        _promote(conn, bucket, key)
        return DeleteResult(current, version_id, False)
    row = conn.execute(_SELECT_VERSION, (bucket, key, version_id)).fetchone()
    if row is None:
        job.check(None)
        return DeleteResult(None, version_id, False)
    target = tables.version_from(bucket, row, from_epoch_micros)
    job.check(target)
    if target.locked(now, job.bypass):
        raise ObjectLockedError(target.key, version_id)
    _drop_version(conn, bucket, key, version_id)
    if current is None:
        _promote(conn, bucket, key)
    return DeleteResult(target, version_id, target.delete_marker)


def _promote(conn: sqlite3.Connection, bucket: str, key: bytes) -> None:
    """A key without a current version gets its newest remaining one back as current, unless that
    is a delete marker (which then stays the key's newest version)."""
    newest = conn.execute(_NEWEST_VERSION, (bucket, key)).fetchone()
    if newest is None or newest[_DELETE_MARKER]:
        return
    promoted = tables.version_from(bucket, newest, from_epoch_micros)
    conn.execute(
        "DELETE FROM object_versions WHERE bucket = ? AND key = ? AND seq = ?", (bucket, key, newest[_SEQ])
    )
    conn.execute(_ADD_VERSION_STATS, (-1, -promoted.size, bucket))
    conn.execute(_ADD_STATS, (1, promoted.size, bucket))
    conn.execute(_UPSERT_OBJECT, tables.object_params(promoted, key, epoch_micros))


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
            records.append(tables.record_from(bucket, row, from_epoch_micros))
    below = query.below if query.below is not None and query.below != math.inf else None
    rows = conn.execute(
        f"SELECT {tables.VERSION_COLUMNS} FROM object_versions WHERE bucket = ? AND key = ?"
        + (" AND seq < ?" if below is not None else "")
        + " ORDER BY seq DESC LIMIT ?",
        (bucket, query.key, *(() if below is None else (int(below),)), query.limit - len(records)),
    ).fetchall()
    records.extend(tables.version_from(bucket, r, from_epoch_micros) for r in rows)
    if records and query.below is None:
        records[0].is_latest = True
    return records[: query.limit]


def _unlink_blobs(conn: sqlite3.Connection, old: ObjectRecord, key: bytes) -> None:
    if not old.segments:
        return
    conn.executemany(
        "DELETE FROM object_blobs WHERE blob_id = ? AND bucket = ? AND key = ?",
        [(blob_id, old.bucket, key) for blob_id in {s.blob_id for s in old.segments}],
    )
