"""The PostgreSQL metadata backend (asyncpg), for many gateway processes on one or more machines.

Keys are `bytea` holding their UTF-8 bytes, so PostgreSQL compares them as S3 does (byte order),
whatever the database's collation; bucket names are `COLLATE "C"` for the same reason. The range
bounds of a listing are the same bytes the SQLite backend computes (`metadata.common`).

A delimiter listing is one recursive query that walks the (bucket, key) index: each step is one index
probe for the next key, and when that key rolls up into a common prefix the next probe starts at the
prefix's successor, so the keys under a common prefix are never read.

Every object write moves the bucket's object count and byte total in the same transaction. The
counters are spread over a few rows per bucket (`bucket_counters`, one picked at random per write),
so writers to one bucket do not queue behind a single row lock that is held until each commit is
flushed; a bucket's statistics are the sum of at most COUNTER_SHARDS rows, never a scan.

Writes to one key are serialised by the row lock on it (SELECT … FOR UPDATE, or the unique index
for a key being created), so concurrent PUTs from any number of processes leave exactly one row and
exact counters. Creating a new key is one statement (insert, blob links and counters together);
replacing one is a short transaction that first locks the row it replaces.
"""

from __future__ import annotations

import math
import random
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime
from typing import Any, TypeVar

import asyncpg

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
    ListRange,
    MarkerSeq,
    NextKey,
    VersionQuery,
    as_utc,
    delete_marker,
    dump_json,
    dump_part_sizes,
    dump_segments,
    listing_range,
    load_dict,
    load_part_sizes,
    load_segments,
    plan_delete,
    plan_put,
    walk_versions,
)
from s3server.pgdb import UNAVAILABLE, PgDatabase, apply_migrations
from s3server.pgdb import schema_version as read_schema_version
from s3server.s3.errors import S3Error

__all__ = ["COMPONENT", "MIGRATIONS", "PostgresMetadataStore"]

T = TypeVar("T")

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
        """CREATE TABLE objects (
            bucket TEXT COLLATE "C" NOT NULL REFERENCES buckets (name),
            key BYTEA NOT NULL,
            size BIGINT NOT NULL,
            etag TEXT NOT NULL,
            last_modified TIMESTAMPTZ NOT NULL,
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
        """CREATE TABLE uploads (
            bucket TEXT COLLATE "C" NOT NULL REFERENCES buckets (name),
            key BYTEA NOT NULL,
            upload_id TEXT COLLATE "C" NOT NULL UNIQUE,
            initiated TIMESTAMPTZ NOT NULL,
            owner TEXT NOT NULL,
            content_type TEXT NOT NULL,
            headers TEXT,
            user_metadata TEXT,
            tags TEXT,
            storage_class TEXT NOT NULL,
            checksum_algorithm TEXT,
            checksum_type TEXT,
            PRIMARY KEY (bucket, key, upload_id)
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
        "ALTER TABLE bucket_counters ADD COLUMN versions BIGINT NOT NULL DEFAULT 0",
        "ALTER TABLE bucket_counters ADD COLUMN version_bytes BIGINT NOT NULL DEFAULT 0",
        "ALTER TABLE objects ADD COLUMN version_id TEXT COLLATE \"C\" NOT NULL DEFAULT 'null'",
        "ALTER TABLE objects ADD COLUMN lock_mode TEXT",
        "ALTER TABLE objects ADD COLUMN lock_until TIMESTAMPTZ",
        "ALTER TABLE objects ADD COLUMN legal_hold BOOLEAN NOT NULL DEFAULT false",
        "ALTER TABLE uploads ADD COLUMN lock_mode TEXT",
        "ALTER TABLE uploads ADD COLUMN lock_until TIMESTAMPTZ",
        "ALTER TABLE uploads ADD COLUMN legal_hold BOOLEAN NOT NULL DEFAULT false",
        """CREATE TABLE object_versions (
            bucket TEXT COLLATE "C" NOT NULL REFERENCES buckets (name),
            key BYTEA NOT NULL,
            seq BIGINT NOT NULL,
            delete_marker BOOLEAN NOT NULL,
            size BIGINT NOT NULL,
            etag TEXT NOT NULL,
            last_modified TIMESTAMPTZ NOT NULL,
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
            version_id TEXT COLLATE "C" NOT NULL,
            lock_mode TEXT,
            lock_until TIMESTAMPTZ,
            legal_hold BOOLEAN NOT NULL,
            PRIMARY KEY (bucket, key, seq)
        )""",
        "CREATE UNIQUE INDEX object_versions_by_id ON object_versions (bucket, key, version_id)",
    ),
    (
        # Lifecycle: a bucket's rules (they go with the bucket), and leases on background work (one
        # lifecycle pass at a time across processes and gateways) with the holder's progress.
        """CREATE TABLE bucket_lifecycle (
            bucket TEXT COLLATE "C" PRIMARY KEY REFERENCES buckets (name) ON DELETE CASCADE,
            config TEXT NOT NULL
        )""",
        """CREATE TABLE leases (
            name TEXT COLLATE "C" PRIMARY KEY,
            holder TEXT NOT NULL,
            expires TIMESTAMPTZ NOT NULL,
            state TEXT
        )""",
    ),
]

_OBJECT_COLUMNS = (
    "key, size, etag, last_modified, content_type, segments, headers, user_metadata, checksums, tags, "
    "parts_count, part_sizes, storage_class, owner, acl, version_id, lock_mode, lock_until, legal_hold"
)
_UPLOAD_COLUMNS = (
    "key, upload_id, initiated, owner, content_type, headers, user_metadata, tags, storage_class, "
    "checksum_algorithm, checksum_type, acl, lock_mode, lock_until, legal_hold"
)
_BUCKET_COLUMNS = "name, owner, region, created, acl, policy, cors, versioning, object_lock"
_VERSION_COLUMNS = f"{_OBJECT_COLUMNS}, delete_marker"
_PART_COLUMNS = "part_number, size, etag, last_modified, blob_id, checksums"


def _qualified(columns: str, alias: str) -> str:
    return ", ".join(f"{alias}.{c.strip()}" for c in columns.split(","))


_SELECT_OBJECT = f"SELECT {_OBJECT_COLUMNS} FROM objects WHERE bucket = $1 AND key = $2"
_LOCK_OBJECT = f"{_SELECT_OBJECT} FOR UPDATE"
_OBJECT_VALUES = ", ".join(f"${i}" for i in range(1, 21))
_INSERT_OBJECT = (
    f"INSERT INTO objects (bucket, {_OBJECT_COLUMNS}) VALUES ({_OBJECT_VALUES}) "
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
    INSERT INTO objects (bucket, {_OBJECT_COLUMNS})
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
    f"SELECT {_VERSION_COLUMNS}, seq FROM object_versions WHERE bucket = $1 AND key = $2 AND version_id = $3"
)
_NEWEST_VERSION = (
    f"SELECT {_VERSION_COLUMNS}, seq FROM object_versions WHERE bucket = $1 AND key = $2 "
    "ORDER BY seq DESC LIMIT 1"
)
_INSERT_VERSION = (
    f"INSERT INTO object_versions (bucket, {_OBJECT_COLUMNS}, delete_marker, seq) "
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
_DELETE_OBJECT = f"DELETE FROM objects WHERE bucket = $1 AND key = $2 RETURNING {_OBJECT_COLUMNS}"
_UNLINK = "DELETE FROM object_blobs WHERE bucket = $1 AND key = $2"
_BUCKET_STATS = (
    "SELECT coalesce(sum(objects), 0)::bigint, coalesce(sum(bytes), 0)::bigint, "
    "coalesce(sum(versions), 0)::bigint FROM bucket_counters WHERE bucket = $1"
)
# A listing shows only these; decoding the rest for a thousand rows costs more than the query.
_LIST_COLUMNS = "key, size, etag, last_modified, checksums, storage_class, owner"
_LIST_FLAT = (
    f"SELECT {_LIST_COLUMNS} FROM objects WHERE bucket = $1 AND key >= $2 AND key < $3 ORDER BY key LIMIT $4"
)
_LOCK_UPLOAD = "SELECT 1 FROM uploads WHERE bucket = $1 AND key = $2 AND upload_id = $3 FOR UPDATE"
# Part writers share the upload's row lock with each other, but not with Complete or Abort.
_SHARE_UPLOAD = "SELECT 1 FROM uploads WHERE bucket = $1 AND key = $2 AND upload_id = $3 FOR SHARE"
_LOCK_PART = f"SELECT {_PART_COLUMNS} FROM parts WHERE upload_id = $1 AND part_number = $2 FOR UPDATE"
_INSERT_PART = (
    f"INSERT INTO parts (upload_id, {_PART_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7) "
    "ON CONFLICT (upload_id, part_number) DO NOTHING"
)
_UPDATE_PART = (
    "UPDATE parts SET size = $3, etag = $4, last_modified = $5, blob_id = $6, checksums = $7 "
    "WHERE upload_id = $1 AND part_number = $2"
)
_LIST_UPLOADS_FLAT = (
    f"SELECT NULL::bytea AS common, {_UPLOAD_COLUMNS} FROM uploads "
    "WHERE bucket = $1 AND key >= $2 AND key < $3 ORDER BY key, upload_id LIMIT $4"
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
    _LIST_COLUMNS,
    "t.key",
    f"t.key >= CASE WHEN w.cut > 0 THEN {_COMMON_SUCCESSOR} ELSE w.key || '\\x00'::bytea END",
)
# Uploads step through (key, upload_id); after a common prefix, (successor, '') is below every
# upload id of the successor key.
_LIST_UPLOADS_DELIMITED = _walk(
    "uploads",
    _UPLOAD_COLUMNS,
    "t.key, t.upload_id",
    f"(t.key, t.upload_id) > (CASE WHEN w.cut > 0 THEN {_COMMON_SUCCESSOR} ELSE w.key END,"
    " CASE WHEN w.cut > 0 THEN '' ELSE w.upload_id END)",
)


def _object_params(record: ObjectRecord, key: bytes) -> tuple[Any, ...]:
    return (
        record.bucket,
        key,
        record.size,
        record.etag,
        as_utc(record.last_modified),
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
        None if record.lock_until is None else as_utc(record.lock_until),
        record.legal_hold,
    )


def _record(bucket: str, row: asyncpg.Record) -> ObjectRecord:
    return ObjectRecord(
        bucket=bucket,
        key=bytes(row["key"]).decode("utf-8"),
        size=row["size"],
        etag=row["etag"],
        last_modified=row["last_modified"],
        segments=load_segments(row["segments"]),
        content_type=row["content_type"],
        headers=load_dict(row["headers"]),
        user_metadata=load_dict(row["user_metadata"]),
        checksums=load_dict(row["checksums"]),
        tags=load_dict(row["tags"]),
        parts_count=row["parts_count"],
        part_sizes=load_part_sizes(row["part_sizes"]),
        storage_class=row["storage_class"],
        owner=row["owner"],
        acl=row["acl"],
        version_id=row["version_id"],
        lock_mode=row["lock_mode"],
        lock_until=row["lock_until"],
        legal_hold=row["legal_hold"],
    )


def _version(bucket: str, row: asyncpg.Record) -> ObjectRecord:
    """A row of object_versions: a noncurrent version or a delete marker."""
    record = _record(bucket, row)
    record.delete_marker = row["delete_marker"]
    record.is_latest = False
    return record


def _listed(bucket: str, row: asyncpg.Record) -> ObjectRecord:
    """A listing's record (see MetadataStore.list_objects): the fields a listing shows."""
    return ObjectRecord(
        bucket=bucket,
        key=bytes(row["key"]).decode("utf-8"),
        size=row["size"],
        etag=row["etag"],
        last_modified=row["last_modified"],
        segments=[],
        checksums=load_dict(row["checksums"]),
        storage_class=row["storage_class"],
        owner=row["owner"],
    )


def _upload(bucket: str, row: asyncpg.Record) -> Upload:
    return Upload(
        bucket=bucket,
        key=bytes(row["key"]).decode("utf-8"),
        upload_id=row["upload_id"],
        initiated=row["initiated"],
        owner=row["owner"],
        content_type=row["content_type"],
        headers=load_dict(row["headers"]),
        user_metadata=load_dict(row["user_metadata"]),
        tags=load_dict(row["tags"]),
        storage_class=row["storage_class"],
        checksum_algorithm=row["checksum_algorithm"],
        checksum_type=row["checksum_type"],
        acl=row["acl"],
        lock_mode=row["lock_mode"],
        lock_until=row["lock_until"],
        legal_hold=row["legal_hold"],
    )


def _part(row: asyncpg.Record) -> Part:
    return Part(
        part_number=row["part_number"],
        size=row["size"],
        etag=row["etag"],
        last_modified=row["last_modified"],
        blob_id=row["blob_id"],
        checksums=load_dict(row["checksums"]),
    )


def _bucket(row: asyncpg.Record) -> Bucket:
    return Bucket(
        name=row["name"],
        owner=row["owner"],
        region=row["region"],
        created=row["created"],
        acl=row["acl"],
        policy=row["policy"],
        cors=row["cors"],
        versioning=row["versioning"],
        object_lock=row["object_lock"],
    )


def _no_such_upload(upload_id: str) -> S3Error:
    return S3Error("NoSuchUpload", UploadId=upload_id)


def _empty_uploads_page() -> UploadsPage:
    return UploadsPage([], [], is_truncated=False, next_key_marker=None, next_upload_id_marker=None)


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


def _shard() -> int:
    return random.randrange(COUNTER_SHARDS)


async def _create_object(
    conn: asyncpg.Connection, record: ObjectRecord, params: tuple[Any, ...], blob_ids: list[str]
) -> tuple[bool, str | None]:
    """Insert a key of an unversioned bucket that does not exist yet, in one statement: (created,
    the bucket's versioning state, None when there is no bucket)."""
    try:
        row = await conn.fetchrow(_CREATE_OBJECT, *params, blob_ids, _shard())
    except asyncpg.ForeignKeyViolationError as exc:
        raise S3Error("NoSuchBucket", BucketName=record.bucket) from exc
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
        created, state = await _create_object(conn, record, _object_params(record, key), blob_ids)
        if created:
            return None
        record.version_id = candidate
    else:
        state = await _versioning(conn, record.bucket)
    if state is None:
        raise S3Error("NoSuchBucket", BucketName=record.bucket)
    if state:
        return await _store_version(conn, record, key, condition, state, blob_ids)
    record.version_id = NULL_VERSION
    params = _object_params(record, key)
    if condition is not None:
        row = await conn.fetchrow(_LOCK_OBJECT, record.bucket, key)
        condition.check(None if row is None else _record(record.bucket, row), record.key)
    try:
        row = await _replace_row(
            conn, _LOCK_OBJECT, _INSERT_OBJECT, _UPDATE_OBJECT, params, f"{record.bucket}/{record.key}"
        )
    except asyncpg.ForeignKeyViolationError as exc:
        raise S3Error("NoSuchBucket", BucketName=record.bucket) from exc
    old = None if row is None else _record(record.bucket, row)
    if condition is not None:
        condition.check(old, record.key)  # the row may have appeared since the first look
    await conn.execute(_RELINK, record.bucket, key, blob_ids)
    added = (0, record.size - old.size) if old is not None else (1, record.size)
    await conn.execute(_COUNT, record.bucket, _shard(), *added)
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
    old = None if row is None else _record(bucket, row)
    if condition is not None:
        condition.check(old, record.key)
    plan = plan_put(state, old, record.version_id)
    record.version_id = plan.version_id
    params = _object_params(record, key)
    freed: ObjectRecord | None = None
    if old is not None:
        if plan.archive_current:
            await _add_version(conn, old, key)
        else:
            await _unlink(conn, old, key)
            freed = old
        await conn.execute(_UPDATE_OBJECT, *params)
        await conn.execute(_COUNT, bucket, _shard(), 0, record.size - old.size)
    else:
        if not (await conn.execute(_INSERT_OBJECT, *params)).endswith(" 1"):
            raise MetadataError(f"{bucket}/{record.key} was created under us; retry")  # pragma: no cover
        await conn.execute(_COUNT, bucket, _shard(), 1, record.size)
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
    await conn.execute(_INSERT_VERSION, *_object_params(record, key), record.delete_marker)
    await conn.execute(_COUNT_VERSIONS, record.bucket, _shard(), 1, record.size)


async def _drop_version(
    conn: asyncpg.Connection, bucket: str, key: bytes, version_id: str
) -> ObjectRecord | None:
    """Remove one noncurrent version or marker; the removed record (its blobs unlinked) or None."""
    row = await conn.fetchrow(
        f"DELETE FROM object_versions WHERE bucket = $1 AND key = $2 AND version_id = $3 "
        f"RETURNING {_VERSION_COLUMNS}",
        bucket,
        key,
        version_id,
    )
    if row is None:
        return None
    old = _version(bucket, row)
    await conn.execute(_COUNT_VERSIONS, bucket, _shard(), -1, -old.size)
    await _unlink(conn, old, key)
    return old


async def _delete_current(conn: asyncpg.Connection, current: ObjectRecord, key: bytes, unlink: bool) -> None:
    await conn.execute("DELETE FROM objects WHERE bucket = $1 AND key = $2", current.bucket, key)
    await conn.execute(_COUNT, current.bucket, _shard(), -1, -current.size)
    if unlink:
        await _unlink(conn, current, key)


async def _promote(conn: asyncpg.Connection, bucket: str, key: bytes) -> None:
    """A key without a current version gets its newest remaining one back as current, unless that
    is a delete marker (which then stays the key's newest version)."""
    newest = await conn.fetchrow(_NEWEST_VERSION, bucket, key)
    if newest is None or newest["delete_marker"]:
        return
    promoted = _version(bucket, newest)
    await conn.execute(
        "DELETE FROM object_versions WHERE bucket = $1 AND key = $2 AND seq = $3", bucket, key, newest["seq"]
    )
    await conn.execute(_COUNT_VERSIONS, bucket, _shard(), -1, -promoted.size)
    await conn.execute(_INSERT_OBJECT, *_object_params(promoted, key))
    await conn.execute(_COUNT, bucket, _shard(), 1, promoted.size)


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
    current = None if row is None else _record(bucket, row)
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
    target = _version(bucket, found)
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
            records.append(_record(bucket, row))
    below = None if query.below is None or query.below == math.inf else int(query.below)
    rows = await conn.fetch(
        f"SELECT {_VERSION_COLUMNS} FROM object_versions WHERE bucket = $1 AND key = $2 "
        "AND ($3::bigint IS NULL OR seq < $3) ORDER BY seq DESC LIMIT $4",
        bucket,
        query.key,
        below,
        query.limit - len(records),
    )
    records.extend(_version(bucket, r) for r in rows)
    if records and query.below is None:
        records[0].is_latest = True
    return records[: query.limit]


async def _drop_upload(conn: asyncpg.Connection, upload_id: str) -> list[str]:
    """Delete an upload and its parts; the parts' blob ids (now unreferenced) are returned."""
    rows = await conn.fetch("DELETE FROM parts WHERE upload_id = $1 RETURNING blob_id", upload_id)
    await conn.execute("DELETE FROM uploads WHERE upload_id = $1", upload_id)
    return [row[0] for row in rows]


class PostgresMetadataStore:
    """MetadataStore on PostgreSQL; `db` may be shared with the identity store (one pool)."""

    def __init__(self, db: PgDatabase | str) -> None:
        self.db = PgDatabase(db) if isinstance(db, str) else db

    # -- plumbing

    async def _call(
        self,
        run: Callable[[Callable[[asyncpg.Connection], Awaitable[T]]], Awaitable[T]],
        fn: Callable[[asyncpg.Connection], Awaitable[T]],
    ) -> T:
        """Run fn through the database, turning database failures into MetadataError (S3Errors pass)."""
        try:
            return await run(fn)
        except UNAVAILABLE as exc:
            raise MetadataError(f"postgresql metadata {self.db.name}: {type(exc).__name__}: {exc}") from exc

    async def _run(self, fn: Callable[[asyncpg.Connection], Awaitable[T]]) -> T:
        return await self._call(self.db.run, fn)

    async def _transaction(self, fn: Callable[[asyncpg.Connection], Awaitable[T]]) -> T:
        return await self._call(self.db.transaction, fn)

    # -- lifecycle

    async def open(self) -> None:
        """Connect and bring the schema up to date (safe to repeat, and from many processes at once)."""
        try:
            await self.db.open()
        except UNAVAILABLE as exc:
            raise MetadataError(f"cannot open postgresql metadata {self.db.name}: {exc}") from exc
        try:
            await self._run(lambda conn: apply_migrations(conn, COMPONENT, MIGRATIONS))
        except BaseException:
            await self.db.close()
            raise

    async def close(self) -> None:
        await self.db.close()

    async def ping(self) -> None:
        await self._run(lambda conn: conn.fetchval("SELECT 1"))

    async def schema_version(self) -> int:
        """The schema version the database is at (len(MIGRATIONS) once open)."""
        return await self._run(lambda conn: read_schema_version(conn, COMPONENT))

    # -- buckets

    async def create_bucket(self, bucket: Bucket) -> None:
        async def run(conn: asyncpg.Connection) -> None:
            # A name deleted between the failed insert and the owner lookup is simply tried again.
            for _ in range(8):
                status = await conn.execute(
                    f"INSERT INTO buckets ({_BUCKET_COLUMNS}) "
                    "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT (name) DO NOTHING",
                    bucket.name,
                    bucket.owner,
                    bucket.region,
                    as_utc(bucket.created),
                    bucket.acl,
                    bucket.policy,
                    bucket.cors,
                    bucket.versioning,
                    bucket.object_lock,
                )
                if status.endswith(" 1"):
                    return
                owner = await conn.fetchval("SELECT owner FROM buckets WHERE name = $1", bucket.name)
                if owner is not None:
                    raise S3Error(
                        "BucketAlreadyOwnedByYou" if owner == bucket.owner else "BucketAlreadyExists",
                        BucketName=bucket.name,
                    )
            raise MetadataError(f"bucket {bucket.name} kept being created and deleted under us; retry")

        await self._run(run)

    async def get_bucket(self, name: str) -> Bucket | None:
        async def run(conn: asyncpg.Connection) -> Bucket | None:
            row = await conn.fetchrow(f"SELECT {_BUCKET_COLUMNS} FROM buckets WHERE name = $1", name)
            return None if row is None else _bucket(row)

        return await self._run(run)

    async def list_buckets(self, owner: str | None = None) -> list[Bucket]:
        async def run(conn: asyncpg.Connection) -> list[Bucket]:
            if owner is None:
                rows = await conn.fetch(f"SELECT {_BUCKET_COLUMNS} FROM buckets ORDER BY name")
            else:
                rows = await conn.fetch(
                    f"SELECT {_BUCKET_COLUMNS} FROM buckets WHERE owner = $1 ORDER BY name", owner
                )
            return [_bucket(row) for row in rows]

        return await self._run(run)

    async def delete_bucket(self, name: str) -> list[str]:
        async def run(conn: asyncpg.Connection) -> list[str]:
            # The row lock waits for in-flight creations of objects and uploads (they hold a
            # key-share lock on it through their foreign keys), so what is read after it is final.
            if await conn.fetchval("SELECT 1 FROM buckets WHERE name = $1 FOR UPDATE", name) is None:
                raise S3Error("NoSuchBucket", BucketName=name)
            count, _, versions = await conn.fetchrow(_BUCKET_STATS, name)
            if (
                count
                or versions
                or await conn.fetchval("SELECT 1 FROM objects WHERE bucket = $1 LIMIT 1", name)
                or await conn.fetchval("SELECT 1 FROM object_versions WHERE bucket = $1 LIMIT 1", name)
            ):
                raise S3Error("BucketNotEmpty", BucketName=name)
            # Uploads in progress do not keep a bucket alive on AWS; they go with it.
            blobs: list[str] = []
            for row in await conn.fetch("SELECT upload_id FROM uploads WHERE bucket = $1 FOR UPDATE", name):
                blobs.extend(await _drop_upload(conn, row[0]))
            try:
                await conn.execute("DELETE FROM buckets WHERE name = $1", name)
            except asyncpg.ForeignKeyViolationError as exc:
                raise S3Error("BucketNotEmpty", BucketName=name) from exc
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
                "coalesce(sum(c.bytes), 0)::bigint AS bytes, "
                "coalesce(sum(c.versions), 0)::bigint AS versions, "
                "coalesce(sum(c.version_bytes), 0)::bigint AS version_bytes "
                "FROM buckets AS b LEFT JOIN bucket_counters AS c ON c.bucket = b.name "
                "GROUP BY b.name, b.owner ORDER BY b.name"
            )
            return [
                BucketStats(
                    r["name"], r["owner"], r["objects"], r["bytes"], r["versions"], r["version_bytes"]
                )
                for r in rows
            ]

        return await self._run(run)

    async def _set_bucket_column(self, name: str, column: str, value: str | None) -> None:
        async def run(conn: asyncpg.Connection) -> None:
            status = await conn.execute(f"UPDATE buckets SET {column} = $2 WHERE name = $1", name, value)
            if not status.endswith(" 1"):
                raise S3Error("NoSuchBucket", BucketName=name)

        await self._run(run)

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
        if condition is None or condition.if_match is None:
            # Most PUTs create a key of an unversioned bucket: one statement, no transaction.
            candidate = record.version_id
            record.version_id = NULL_VERSION
            params = _object_params(record, key)
            blob_ids = list(dict.fromkeys(s.blob_id for s in record.segments))
            created, state = await self._run(lambda conn: _create_object(conn, record, params, blob_ids))
            if created:
                return None
            record.version_id = candidate
            if state is None:
                raise S3Error("NoSuchBucket", BucketName=record.bucket)
            if condition is not None and not state:  # If-None-Match: * and the key exists
                condition.check(record, record.key)
        return await self._transaction(
            lambda conn: _store_object(conn, record, key, condition, try_create=False)
        )

    async def get_object(self, bucket: str, key: str, version_id: str | None = None) -> ObjectRecord | None:
        raw = key.encode("utf-8")

        async def run(conn: asyncpg.Connection) -> ObjectRecord | None:
            row = await conn.fetchrow(_SELECT_OBJECT, bucket, raw)
            current = None if row is None else _record(bucket, row)
            if version_id is None or (current is not None and current.version_id == version_id):
                return current
            found = await conn.fetchrow(_SELECT_VERSION, bucket, raw, version_id)
            if found is None:
                return None
            record = _version(bucket, found)
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
            marker = _version(bucket, row)
            marker.is_latest = True
            return marker

        return await self._run(run)

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
            return {
                "lock_mode": change.mode,
                "lock_until": None if change.until is None else as_utc(change.until),
            }

        return await self._modify(bucket, key, version_id, columns)

    async def set_legal_hold(self, bucket: str, key: str, version_id: str, on: bool) -> ObjectRecord | None:
        return await self._modify(bucket, key, version_id, lambda _: {"legal_hold": on})

    async def _modify(
        self,
        bucket: str,
        key: str,
        version_id: str | None,
        columns: Callable[[ObjectRecord], dict[str, Any]],
    ) -> ObjectRecord | None:
        """Change columns of one version in place (never of a delete marker): `columns` sees the
        locked row (and may refuse); the updated record, or None if no such version."""
        raw = key.encode("utf-8")

        async def run(conn: asyncpg.Connection) -> ObjectRecord | None:
            row = await conn.fetchrow(_LOCK_OBJECT, bucket, raw)
            if row is not None and version_id in (None, row["version_id"]):
                table, where, load = "objects", "bucket = $1 AND key = $2", _record
                args: tuple[Any, ...] = (bucket, raw)
            elif version_id is None:
                return None
            else:
                row = await conn.fetchrow(f"{_SELECT_VERSION} FOR UPDATE", bucket, raw, version_id)
                if row is None or row["delete_marker"]:
                    return None
                table, where, load = (
                    "object_versions",
                    "bucket = $1 AND key = $2 AND version_id = $3",
                    _version,
                )
                args = (bucket, raw, version_id)
            changes = columns(load(bucket, row))
            first = len(args) + 1
            assignments = ", ".join(f"{name} = ${first + i}" for i, name in enumerate(changes))
            updated = await conn.fetchrow(
                f"UPDATE {table} SET {assignments} WHERE {where} RETURNING *", *args, *changes.values()
            )
            return load(bucket, updated)

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
                old = _record(bucket, row)
                # A new statement, so a new snapshot: it sees the links of whichever write we deleted.
                await conn.execute(_UNLINK, bucket, raw)
                await conn.execute(_COUNT, bucket, _shard(), -1, -old.size)
                return DeleteResult(old)
            return await _delete_version(conn, bucket, raw, version_id, marker_id, bypass_governance)

        return await self._transaction(run)

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

        async def run(conn: asyncpg.Connection) -> VersionsPage:
            walk = walk_versions(span, key_marker, version_id_marker, max_keys)
            try:
                query = next(walk)
                while True:
                    query = walk.send(await _answer(conn, bucket, query))
            except StopIteration as done:
                return done.value

        return await self._run(run)

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
        if span.empty:
            return ListPage(objects=[], common_prefixes=[], is_truncated=False, next_marker=None)

        async def run(conn: asyncpg.Connection) -> ListPage:
            if span.delimiter:
                rows = await conn.fetch(_LIST_DELIMITED, *_walk_args(bucket, span, max_keys + 1))
            else:
                rows = await conn.fetch(_LIST_FLAT, bucket, span.lower, span.upper, max_keys + 1)
            objects: list[ObjectRecord] = []
            prefixes: list[str] = []
            last: str | None = None
            for row in rows[:max_keys]:
                common = row["common"] if span.delimiter else None
                if common is not None:
                    last = bytes(common).decode("utf-8")
                    prefixes.append(last)
                else:
                    record = _listed(bucket, row)
                    objects.append(record)
                    last = record.key
            return ListPage(objects, prefixes, len(rows) > max_keys, last)

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
        params = (
            upload.bucket,
            upload.key.encode("utf-8"),
            upload.upload_id,
            as_utc(upload.initiated),
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
            None if upload.lock_until is None else as_utc(upload.lock_until),
            upload.legal_hold,
        )

        async def run(conn: asyncpg.Connection) -> None:
            try:
                await conn.execute(
                    f"INSERT INTO uploads (bucket, {_UPLOAD_COLUMNS}) "
                    "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)",
                    *params,
                )
            except asyncpg.ForeignKeyViolationError as exc:
                raise S3Error("NoSuchBucket", BucketName=upload.bucket) from exc

        await self._run(run)

    async def get_upload(self, bucket: str, key: str, upload_id: str) -> Upload | None:
        raw = key.encode("utf-8")

        async def run(conn: asyncpg.Connection) -> Upload | None:
            row = await conn.fetchrow(
                f"SELECT {_UPLOAD_COLUMNS} FROM uploads WHERE bucket = $1 AND key = $2 AND upload_id = $3",
                bucket,
                raw,
                upload_id,
            )
            return None if row is None else _upload(bucket, row)

        return await self._run(run)

    async def put_part(self, bucket: str, key: str, upload_id: str, part: Part) -> Part | None:
        raw = key.encode("utf-8")
        params = (
            upload_id,
            part.part_number,
            part.size,
            part.etag,
            as_utc(part.last_modified),
            part.blob_id,
            dump_json(part.checksums),
        )

        async def run(conn: asyncpg.Connection) -> Part | None:
            if await conn.fetchval(_SHARE_UPLOAD, bucket, raw, upload_id) is None:
                raise _no_such_upload(upload_id)
            row = await _replace_row(
                conn,
                _LOCK_PART,
                _INSERT_PART,
                _UPDATE_PART,
                params,
                f"part {part.part_number} of {upload_id}",
            )
            return None if row is None else _part(row)

        return await self._transaction(run)

    async def list_parts(
        self, bucket: str, key: str, upload_id: str, *, after: int = 0, max_parts: int = 1000
    ) -> PartsPage:
        raw = key.encode("utf-8")
        limit = max(max_parts, 0)

        async def run(conn: asyncpg.Connection) -> PartsPage:
            exists = await conn.fetchval(
                "SELECT 1 FROM uploads WHERE bucket = $1 AND key = $2 AND upload_id = $3",
                bucket,
                raw,
                upload_id,
            )
            if exists is None:
                raise _no_such_upload(upload_id)
            rows = await conn.fetch(
                f"SELECT {_PART_COLUMNS} FROM parts WHERE upload_id = $1 AND part_number > $2 "
                "ORDER BY part_number LIMIT $3",
                upload_id,
                after,
                limit + 1,
            )
            return PartsPage(parts=[_part(row) for row in rows[:limit]], is_truncated=len(rows) > limit)

        return await self._run(run)

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

        async def run(conn: asyncpg.Connection) -> Completion:
            # The exclusive lock waits out part writers in flight and keeps new ones away.
            if await conn.fetchval(_LOCK_UPLOAD, bucket, raw, upload_id) is None:
                raise _no_such_upload(upload_id)
            part_blobs = [
                r[0] for r in await conn.fetch("SELECT blob_id FROM parts WHERE upload_id = $1", upload_id)
            ]
            if not used <= set(part_blobs):
                # A part was uploaded again since the caller read the parts: its old blob is gone.
                raise S3Error("InvalidPart", UploadId=upload_id)
            replaced = await _store_object(conn, record, raw, condition)
            await _drop_upload(conn, upload_id)
            return Completion(replaced=replaced, unused_blobs=[b for b in part_blobs if b not in used])

        return await self._transaction(run)

    async def abort_upload(self, bucket: str, key: str, upload_id: str) -> list[str]:
        raw = key.encode("utf-8")

        async def run(conn: asyncpg.Connection) -> list[str]:
            if await conn.fetchval(_LOCK_UPLOAD, bucket, raw, upload_id) is None:
                raise _no_such_upload(upload_id)
            return await _drop_upload(conn, upload_id)

        return await self._transaction(run)

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
            return _empty_uploads_page()
        span = listing_range(prefix, delimiter, key_marker)
        marker = key_marker.encode("utf-8")
        id_marker = upload_id_marker if key_marker else ""
        want = max_uploads + 1
        # The marker key's own uploads after the id marker come first, unless that key is outside
        # the listing or rolls up into a common prefix (which was returned already).
        in_range = marker.startswith(span.prefix) and not (
            span.delimiter and marker.find(span.delimiter, len(span.prefix)) >= 0
        )

        async def run(conn: asyncpg.Connection) -> UploadsPage:
            rows: list[asyncpg.Record] = []
            if id_marker and in_range:
                rows = await conn.fetch(
                    f"SELECT NULL::bytea AS common, {_UPLOAD_COLUMNS} FROM uploads "
                    "WHERE bucket = $1 AND key = $2 AND upload_id > $3 ORDER BY upload_id LIMIT $4",
                    bucket,
                    marker,
                    id_marker,
                    want,
                )
            if len(rows) < want and not span.empty:
                if span.delimiter:
                    args = _walk_args(bucket, span, want - len(rows))
                    rows += await conn.fetch(_LIST_UPLOADS_DELIMITED, *args)
                else:
                    rows += await conn.fetch(
                        _LIST_UPLOADS_FLAT, bucket, span.lower, span.upper, want - len(rows)
                    )
            uploads: list[Upload] = []
            prefixes: list[str] = []
            next_key: str | None = None
            next_id: str | None = None
            for row in rows[:max_uploads]:
                common = row["common"]
                if common is not None:
                    next_key, next_id = bytes(common).decode("utf-8"), None
                    prefixes.append(next_key)
                else:
                    upload = _upload(bucket, row)
                    uploads.append(upload)
                    next_key, next_id = upload.key, upload.upload_id
            return UploadsPage(
                uploads=uploads,
                common_prefixes=prefixes,
                is_truncated=len(rows) > max_uploads,
                next_key_marker=next_key,
                next_upload_id_marker=next_id,
            )

        return await self._run(run)

    async def stale_uploads(self, initiated_before: datetime, limit: int = 100) -> list[Upload]:
        async def run(conn: asyncpg.Connection) -> list[Upload]:
            rows = await conn.fetch(
                f"SELECT bucket, {_UPLOAD_COLUMNS} FROM uploads WHERE initiated < $1 "
                "ORDER BY initiated LIMIT $2",
                as_utc(initiated_before),
                limit,
            )
            return [_upload(row["bucket"], row) for row in rows]

        return await self._run(run)

    # -- bucket lifecycle configuration and leases on background work (times are the database's
    # clock, so gateways on several machines agree on when a lease ran out)

    async def get_bucket_lifecycle(self, name: str) -> str | None:
        return await self._run(
            lambda conn: conn.fetchval("SELECT config FROM bucket_lifecycle WHERE bucket = $1", name)
        )

    async def set_bucket_lifecycle(self, name: str, config: str | None) -> None:
        async def run(conn: asyncpg.Connection) -> None:
            if config is None:
                if await conn.fetchval("SELECT 1 FROM buckets WHERE name = $1", name) is None:
                    raise S3Error("NoSuchBucket", BucketName=name)
                await conn.execute("DELETE FROM bucket_lifecycle WHERE bucket = $1", name)
                return
            try:
                await conn.execute(
                    "INSERT INTO bucket_lifecycle (bucket, config) VALUES ($1, $2) "
                    "ON CONFLICT (bucket) DO UPDATE SET config = excluded.config",
                    name,
                    config,
                )
            except asyncpg.ForeignKeyViolationError as exc:
                raise S3Error("NoSuchBucket", BucketName=name) from exc

        await self._run(run)

    async def lifecycle_buckets(self, after: str = "", limit: int = 100) -> list[tuple[str, str]]:
        async def run(conn: asyncpg.Connection) -> list[tuple[str, str]]:
            rows = await conn.fetch(
                "SELECT bucket, config FROM bucket_lifecycle WHERE bucket > $1 ORDER BY bucket LIMIT $2",
                after,
                limit,
            )
            return [(row["bucket"], row["config"]) for row in rows]

        return await self._run(run)

    async def take_lease(self, name: str, holder: str, ttl: float) -> Lease | None:
        async def run(conn: asyncpg.Connection) -> Lease | None:
            row = await conn.fetchrow(
                "INSERT INTO leases (name, holder, expires) "
                "VALUES ($1, $2, clock_timestamp() + make_interval(secs => $3)) ON CONFLICT (name) DO UPDATE "
                "SET holder = excluded.holder, expires = excluded.expires "
                "WHERE leases.holder = excluded.holder OR leases.expires <= clock_timestamp() "
                "RETURNING holder, expires, state",
                name,
                holder,
                float(ttl),
            )
            return None if row is None else Lease(name, row["holder"], row["expires"], row["state"])

        return await self._run(run)

    async def keep_lease(self, name: str, holder: str, ttl: float, state: str | None) -> bool:
        async def run(conn: asyncpg.Connection) -> bool:
            status = await conn.execute(
                "UPDATE leases SET expires = clock_timestamp() + make_interval(secs => $3), state = $4 "
                "WHERE name = $1 AND holder = $2",
                name,
                holder,
                float(ttl),
                state,
            )
            return status.endswith(" 1")

        return await self._run(run)


def _walk_args(bucket: str, span: ListRange, want: int) -> tuple[Any, ...]:
    return (bucket, span.lower, span.upper, span.delimiter, len(span.prefix) + 1, len(span.delimiter), want)
