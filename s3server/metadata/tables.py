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

from s3server.metadata.base import Bucket, ObjectRecord, Part, Segment, Upload

__all__ = [
    "ACCESS_CONTROL_MIGRATION",
    "BUCKET_COLUMNS",
    "LIST_COLUMNS",
    "OBJECT_COLUMNS",
    "OBJECT_FIELDS_DDL",
    "PART_COLUMNS",
    "UPLOAD_COLUMNS",
    "UPLOAD_FIELDS_DDL",
    "Stamp",
    "When",
    "bucket_from",
    "bucket_params",
    "dump_json",
    "dump_part_sizes",
    "dump_segments",
    "listed_from",
    "load_dict",
    "load_part_sizes",
    "load_segments",
    "object_params",
    "part_from",
    "part_params",
    "record_from",
    "upload_from",
    "upload_params",
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


def dump_part_sizes(part_sizes: list[int] | None) -> str | None:
    return None if part_sizes is None else json.dumps(part_sizes, separators=(",", ":"))


def load_part_sizes(text: str | None) -> list[int] | None:
    return None if text is None else json.loads(text)


# -- schema: what both backends' tables share (their applied migrations keep these exact texts)

# The object and upload columns after the backend's own key and timestamp columns.
OBJECT_FIELDS_DDL = """content_type TEXT NOT NULL,
            segments TEXT NOT NULL,
            headers TEXT,
            user_metadata TEXT,
            checksums TEXT,
            tags TEXT,
            parts_count INTEGER,
            part_sizes TEXT,
            storage_class TEXT NOT NULL,
            owner TEXT NOT NULL,
            PRIMARY KEY (bucket, key)"""
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


# -- rows: column orders, and the mappings between rows and domain types

OBJECT_COLUMNS = (
    "key, size, etag, last_modified, content_type, segments, headers, user_metadata, checksums, tags, "
    "parts_count, part_sizes, storage_class, owner, acl"
)
# A listing shows only these; decoding the rest (JSON) for a thousand rows costs more than the query.
LIST_COLUMNS = "key, size, etag, last_modified, checksums, storage_class, owner"
UPLOAD_COLUMNS = (
    "key, upload_id, initiated, owner, content_type, headers, user_metadata, tags, storage_class, "
    "checksum_algorithm, checksum_type, acl"
)
PART_COLUMNS = "part_number, size, etag, last_modified, blob_id, checksums"
BUCKET_COLUMNS = "name, owner, region, created, acl, policy, cors"

Stamp = Callable[[datetime], Any]  # a datetime as the backend stores it
When = Callable[[Any], datetime]  # and back


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
        dump_part_sizes(record.part_sizes),
        record.storage_class,
        record.owner,
        record.acl,
    )


def record_from(bucket: str, row: Sequence[Any], when: When) -> ObjectRecord:
    """The record of a row of OBJECT_COLUMNS."""
    (key, size, etag, modified, content_type, segments, headers, user_metadata, checksums, tags,
     parts_count, part_sizes, storage_class, owner, acl) = row  # fmt: skip
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
        part_sizes=load_part_sizes(part_sizes),
        storage_class=storage_class,
        owner=owner,
        acl=acl,
    )


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
    )


def upload_from(bucket: str, row: Sequence[Any], when: When) -> Upload:
    """The upload of a row of UPLOAD_COLUMNS."""
    (key, upload_id, initiated, owner, content_type, headers, user_metadata, tags, storage_class,
     checksum_algorithm, checksum_type, acl) = row  # fmt: skip
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
    )


def bucket_from(row: Sequence[Any], when: When) -> Bucket:
    """The bucket of a row of BUCKET_COLUMNS."""
    name, owner, region, created, acl, policy, cors = row
    return Bucket(
        name=name, owner=owner, region=region, created=when(created), acl=acl, policy=policy, cors=cors
    )
