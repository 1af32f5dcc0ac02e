"""The metadata tables as both backends have them: field encoding, column orders, the table text
they share, and the mappings between rows and domain types.

Rows are tuples in the column orders below (an asyncpg Record unpacks like one); the backends differ
only in how a timestamp is stored, so each mapping takes the backend's converter (`Stamp` to the
database, `When` from it).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from s3server.metadata.base import LISTED_FIELDS, Bucket, Encryption, ObjectRecord, Part, Segment, Upload

__all__ = [
    "ACCESS_CONTROL_MIGRATION",
    "BUCKET_ACCESS_MIGRATION",
    "BUCKET_COLUMNS",
    "ENCRYPTION_MIGRATION",
    "LIST_COLUMNS",
    "OBJECT_COLUMNS",
    "OBJECT_FIELDS_DDL",
    "OBJECT_WIDTH",
    "PART_COLUMNS",
    "UPLOAD_COLUMNS",
    "UPLOAD_FIELDS_DDL",
    "VERSION_COLUMNS",
    "Micros",
    "Stamp",
    "When",
    "bucket_from",
    "bucket_params",
    "dump_encryption",
    "dump_json",
    "dump_parts",
    "dump_segments",
    "latest_marker",
    "listed_from",
    "load_dict",
    "load_encryption",
    "load_parts",
    "load_segments",
    "object_params",
    "part_from",
    "part_params",
    "record_from",
    "upload_from",
    "upload_params",
    "version_from",
    "versioning_migration",
]


def dump_json(value: Any) -> str | None:
    """Compact JSON, or NULL for an empty/absent value (most objects carry no tags or metadata)."""
    if not value:
        return None
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def load_dict(text: str | None) -> dict[str, str]:
    return json.loads(text) if text and text != "{}" else {}


def dump_segments(segments: list[Segment]) -> str:
    return json.dumps([[s.blob_id, s.size] for s in segments], separators=(",", ":"))


def load_segments(text: str) -> list[Segment]:
    return [Segment(blob_id, size) for blob_id, size in json.loads(text)]


def dump_parts(sizes: list[int] | None, checksums: list[dict[str, str]] | None) -> str | None:
    """The part_sizes column: `[size, …]`, or `[[size, {algorithm: base64}], …]` when the parts
    had checksums (GetObjectAttributes lists them), so rows written before read unchanged."""
    if sizes is None:
        return None
    if checksums and any(checksums):
        return json.dumps(
            [[size, sums] for size, sums in zip(sizes, checksums, strict=True)], separators=(",", ":")
        )
    return json.dumps(sizes, separators=(",", ":"))


def dump_encryption(value: Encryption | None) -> str | None:
    """An encryption record as compact JSON (absent fields left out), NULL for an object in clear."""
    if value is None:
        return None
    fields = {
        "mode": value.mode,
        "wrapped_key": value.wrapped_key,
        "key_id": value.key_id,
        "key_hmac": value.key_hmac,
        "bucket_key": value.bucket_key or None,
        "context": value.context,
    }
    return dump_json({name: v for name, v in fields.items() if v is not None})


def load_encryption(text: str | None) -> Encryption | None:
    if not text:
        return None
    fields = json.loads(text)
    return Encryption(
        mode=fields["mode"],
        wrapped_key=fields["wrapped_key"],
        key_id=fields.get("key_id"),
        key_hmac=fields.get("key_hmac"),
        bucket_key=bool(fields.get("bucket_key")),
        context=fields.get("context"),
    )


def load_parts(text: str | None) -> tuple[list[int] | None, list[dict[str, str]] | None]:
    """(part sizes, part checksums or None) of a part_sizes column."""
    if text is None:
        return None, None
    loaded = json.loads(text)
    if loaded and isinstance(loaded[0], list):
        return [size for size, _ in loaded], [sums for _, sums in loaded]
    return loaded, None


# -- schema: what both backends' tables share (their applied migrations keep these exact texts)

# The object and upload columns after the backend's own key and timestamp columns.
_OBJECT_FIELDS = """content_type TEXT NOT NULL,
            segments TEXT NOT NULL,
            headers TEXT,
            user_metadata TEXT,
            checksums TEXT,
            tags TEXT,
            parts_count INTEGER,
            part_sizes TEXT,
            storage_class TEXT NOT NULL,
            owner TEXT NOT NULL"""
OBJECT_FIELDS_DDL = (
    _OBJECT_FIELDS
    + """,
            PRIMARY KEY (bucket, key)"""
)
UPLOAD_FIELDS_DDL = """owner TEXT NOT NULL,
            content_type TEXT NOT NULL,
            headers TEXT,
            user_metadata TEXT,
            tags TEXT,
            storage_class TEXT NOT NULL,
            checksum_algorithm TEXT,
            checksum_type TEXT,
            PRIMARY KEY (bucket, key, upload_id)"""
# Access control: canned ACLs on buckets, objects and (for the object to be) uploads; the bucket
# policy document and CORS rules as their owner set them.
ACCESS_CONTROL_MIGRATION = (
    "ALTER TABLE buckets ADD COLUMN acl TEXT NOT NULL DEFAULT 'private'",
    "ALTER TABLE buckets ADD COLUMN policy TEXT",
    "ALTER TABLE buckets ADD COLUMN cors TEXT",
    "ALTER TABLE objects ADD COLUMN acl TEXT NOT NULL DEFAULT 'private'",
    "ALTER TABLE uploads ADD COLUMN acl TEXT NOT NULL DEFAULT 'private'",
)


# Server-side encryption: each object version's and upload's encryption record (JSON, see
# dump_encryption; NULL for bytes kept in clear) and each bucket's default encryption.
ENCRYPTION_MIGRATION = (
    "ALTER TABLE buckets ADD COLUMN encryption TEXT",
    "ALTER TABLE objects ADD COLUMN encryption TEXT",
    "ALTER TABLE object_versions ADD COLUMN encryption TEXT",
    "ALTER TABLE uploads ADD COLUMN encryption TEXT",
)


# Object Ownership and the public access block: two more bucket settings that every access decision
# reads with the bucket's row (so a change governs the next request in every process).
BUCKET_ACCESS_MIGRATION = (
    "ALTER TABLE buckets ADD COLUMN ownership TEXT",
    "ALTER TABLE buckets ADD COLUMN public_access_block TEXT",
)


def versioning_migration(
    *, key: str, stamp: str, flag: str, false: str, big: str, text: str
) -> tuple[str, ...]:
    """Versioning and Object Lock, in a backend's types (`key` bytes, `stamp` timestamps, `flag`
    booleans with `false`, `big` integers, `text` for ids that sort as bytes).

    `objects` keeps each key's current version only, so listings and point lookups never read past
    old versions; noncurrent versions and delete markers live in `object_versions`, newest first
    per key (seq grows with every version a key gets)."""
    return (
        "ALTER TABLE buckets ADD COLUMN versioning TEXT NOT NULL DEFAULT ''",
        "ALTER TABLE buckets ADD COLUMN object_lock TEXT",
        f"ALTER TABLE objects ADD COLUMN version_id {text} NOT NULL DEFAULT 'null'",
        "ALTER TABLE objects ADD COLUMN lock_mode TEXT",
        f"ALTER TABLE objects ADD COLUMN lock_until {stamp}",
        f"ALTER TABLE objects ADD COLUMN legal_hold {flag} NOT NULL DEFAULT {false}",
        "ALTER TABLE uploads ADD COLUMN lock_mode TEXT",
        f"ALTER TABLE uploads ADD COLUMN lock_until {stamp}",
        f"ALTER TABLE uploads ADD COLUMN legal_hold {flag} NOT NULL DEFAULT {false}",
        f"""CREATE TABLE object_versions (
            bucket {text} NOT NULL REFERENCES buckets (name),
            key {key} NOT NULL,
            seq {big} NOT NULL,
            delete_marker {flag} NOT NULL,
            size {big} NOT NULL,
            etag TEXT NOT NULL,
            last_modified {stamp} NOT NULL,
            {_OBJECT_FIELDS},
            acl TEXT NOT NULL,
            version_id {text} NOT NULL,
            lock_mode TEXT,
            lock_until {stamp},
            legal_hold {flag} NOT NULL,
            PRIMARY KEY (bucket, key, seq)
        )""",
        "CREATE UNIQUE INDEX object_versions_by_id ON object_versions (bucket, key, version_id)",
    )


# -- rows: column orders, and the mappings between rows and domain types

OBJECT_COLUMNS = (
    "key, size, etag, last_modified, content_type, segments, headers, user_metadata, checksums, tags, "
    "parts_count, part_sizes, storage_class, owner, acl, version_id, lock_mode, lock_until, legal_hold, "
    "encryption"
)
OBJECT_WIDTH = 20  # how many OBJECT_COLUMNS there are (a row of VERSION_COLUMNS has one more)
# A row of object_versions: an object's columns and whether it is a delete marker.
VERSION_COLUMNS = f"{OBJECT_COLUMNS}, delete_marker"
# A listing shows only these; decoding the rest (JSON) for a thousand rows costs more than the query.
LIST_COLUMNS = ", ".join(LISTED_FIELDS)  # what a listing shows, as ListedRows has it
UPLOAD_COLUMNS = (
    "key, upload_id, initiated, owner, content_type, headers, user_metadata, tags, storage_class, "
    "checksum_algorithm, checksum_type, acl, lock_mode, lock_until, legal_hold, encryption"
)
PART_COLUMNS = "part_number, size, etag, last_modified, blob_id, checksums"
BUCKET_COLUMNS = (
    "name, owner, region, created, acl, policy, cors, versioning, object_lock, encryption, ownership, "
    "public_access_block"
)

Stamp = Callable[[datetime], Any]  # a datetime as the backend stores it
When = Callable[[Any], datetime]  # and back
Micros = Callable[[Any], int]  # a stored timestamp as microseconds since the Unix epoch


def object_params(record: ObjectRecord, key: bytes, stamp: Stamp) -> tuple[Any, ...]:
    """(bucket, OBJECT_COLUMNS…) of a record."""
    return (
        record.bucket,
        key,
        record.size,
        record.etag,
        stamp(record.last_modified),
        record.content_type,
        dump_segments(record.segments),
        dump_json(record.headers),
        dump_json(record.user_metadata),
        dump_json(record.checksums),
        dump_json(record.tags),
        record.parts_count,
        dump_parts(record.part_sizes, record.part_checksums),
        record.storage_class,
        record.owner,
        record.acl,
        record.version_id,
        record.lock_mode,
        None if record.lock_until is None else stamp(record.lock_until),
        record.legal_hold,
        dump_encryption(record.encryption),
    )


def record_from(bucket: str, row: Sequence[Any], when: When) -> ObjectRecord:
    """The record of a row of OBJECT_COLUMNS (or the first of VERSION_COLUMNS)."""
    (key, size, etag, modified, content_type, segments, headers, user_metadata, checksums, tags,
     parts_count, part_sizes, storage_class, owner, acl, version_id, lock_mode, lock_until,
     legal_hold, encryption) = row[:OBJECT_WIDTH]  # fmt: skip
    sizes, part_checksums = load_parts(part_sizes)
    return ObjectRecord(
        bucket=bucket,
        key=key.decode("utf-8"),
        size=size,
        etag=etag,
        last_modified=when(modified),
        segments=load_segments(segments),
        content_type=content_type,
        headers=load_dict(headers),
        user_metadata=load_dict(user_metadata),
        checksums=load_dict(checksums),
        tags=load_dict(tags),
        parts_count=parts_count,
        part_sizes=sizes,
        part_checksums=part_checksums,
        storage_class=storage_class,
        owner=owner,
        acl=acl,
        version_id=version_id,
        lock_mode=lock_mode,
        lock_until=None if lock_until is None else when(lock_until),
        legal_hold=bool(legal_hold),
        encryption=load_encryption(encryption),
    )


def version_from(bucket: str, row: Sequence[Any], when: When) -> ObjectRecord:
    """The record of a row of VERSION_COLUMNS: a noncurrent version or a delete marker."""
    record = record_from(bucket, row, when)
    record.delete_marker = bool(row[OBJECT_WIDTH])
    record.is_latest = False
    return record


def latest_marker(bucket: str, row: Sequence[Any] | None, when: When) -> ObjectRecord | None:
    """A key's newest row of VERSION_COLUMNS as its latest delete marker; None when the key has none
    or its newest version is not one."""
    if row is None or not row[OBJECT_WIDTH]:
        return None
    marker = version_from(bucket, row, when)
    marker.is_latest = True
    return marker


def listed_from(bucket: str, row: Sequence[Any], when: When) -> ObjectRecord:
    """A listing's record (see MetadataStore.list_objects) of a row of LIST_COLUMNS."""
    key, size, etag, modified, checksums, storage_class, owner = row
    return ObjectRecord(
        bucket=bucket,
        key=key.decode("utf-8"),
        size=size,
        etag=etag,
        last_modified=when(modified),
        segments=[],
        checksums=load_dict(checksums),
        storage_class=storage_class,
        owner=owner,
    )


def upload_params(upload: Upload, stamp: Stamp) -> tuple[Any, ...]:
    """(bucket, UPLOAD_COLUMNS…) of an upload."""
    return (
        upload.bucket,
        upload.key.encode("utf-8"),
        upload.upload_id,
        stamp(upload.initiated),
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
        None if upload.lock_until is None else stamp(upload.lock_until),
        upload.legal_hold,
        dump_encryption(upload.encryption),
    )


def upload_from(bucket: str, row: Sequence[Any], when: When) -> Upload:
    """The upload of a row of UPLOAD_COLUMNS."""
    (key, upload_id, initiated, owner, content_type, headers, user_metadata, tags, storage_class,
     checksum_algorithm, checksum_type, acl, lock_mode, lock_until, legal_hold, encryption) = row  # fmt: skip
    return Upload(
        bucket=bucket,
        key=key.decode("utf-8"),
        upload_id=upload_id,
        initiated=when(initiated),
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
        lock_until=None if lock_until is None else when(lock_until),
        legal_hold=bool(legal_hold),
        encryption=load_encryption(encryption),
    )


def part_params(upload_id: str, part: Part, stamp: Stamp) -> tuple[Any, ...]:
    """(upload_id, PART_COLUMNS…) of a part."""
    return (
        upload_id,
        part.part_number,
        part.size,
        part.etag,
        stamp(part.last_modified),
        part.blob_id,
        dump_json(part.checksums),
    )


def part_from(row: Sequence[Any], when: When) -> Part:
    """The part of a row of PART_COLUMNS."""
    part_number, size, etag, modified, blob_id, checksums = row
    return Part(
        part_number=part_number,
        size=size,
        etag=etag,
        last_modified=when(modified),
        blob_id=blob_id,
        checksums=load_dict(checksums),
    )


def bucket_params(bucket: Bucket, stamp: Stamp) -> tuple[Any, ...]:
    """BUCKET_COLUMNS of a bucket."""
    return (
        bucket.name,
        bucket.owner,
        bucket.region,
        stamp(bucket.created),
        bucket.acl,
        bucket.policy,
        bucket.cors,
        bucket.versioning,
        bucket.object_lock,
        bucket.encryption,
        bucket.ownership,
        bucket.public_access_block,
    )


def bucket_from(row: Sequence[Any], when: When) -> Bucket:
    """The bucket of a row of BUCKET_COLUMNS."""
    (name, owner, region, created, acl, policy, cors, versioning, object_lock, encryption, ownership,
     public_access_block) = row  # fmt: skip
    return Bucket(
        name=name,
        owner=owner,
        region=region,
        created=when(created),
        acl=acl,
        policy=policy,
        cors=cors,
        versioning=versioning,
        object_lock=object_lock,
        encryption=encryption,
        ownership=ownership,
        public_access_block=public_access_block,
    )
