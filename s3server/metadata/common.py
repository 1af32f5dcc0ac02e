"""What every metadata backend shares: byte-order key arithmetic, listing bounds, field encoding,
rows to records and back, listing pages, and the store methods that are the same around their SQL.

Keys are compared as their UTF-8 bytes by every backend, so the bounds of a listing's range scan are
computed here once, on bytes, and each backend only turns them into its own SQL.

Rows are tuples in the column orders below (an asyncpg Record unpacks like one); the backends differ
only in how a timestamp is stored, so each mapping takes the backend's converter (`Stamp` to the
database, `When` from it). A listing backend hands back its entries in order, each a common prefix
(`bytes`) or a row, and one function here makes the page.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from s3server.metadata.base import (
    Bucket,
    ListPage,
    ObjectRecord,
    Part,
    Segment,
    Upload,
    UploadsPage,
)
from s3server.metadata.errors import InvalidPartError

__all__ = [
    "ABOVE_ALL_KEYS",
    "BUCKET_COLUMNS",
    "LIST_COLUMNS",
    "OBJECT_COLUMNS",
    "PART_COLUMNS",
    "UPLOAD_COLUMNS",
    "ListRange",
    "SharedStore",
    "UploadsRange",
    "as_utc",
    "bucket_from",
    "bucket_params",
    "check_parts",
    "dump_json",
    "dump_part_sizes",
    "dump_segments",
    "key_successor",
    "list_page",
    "listed_from",
    "listing_range",
    "load_dict",
    "load_part_sizes",
    "load_segments",
    "object_params",
    "part_from",
    "part_params",
    "prefix_successor",
    "record_from",
    "upload_from",
    "upload_params",
    "uploads_page",
]

# No UTF-8 string contains the byte 0xFF, so b"\xff" is above every key: the open upper bound.
ABOVE_ALL_KEYS = b"\xff"


def prefix_successor(prefix: bytes) -> bytes | None:
    """The smallest byte string greater than every string starting with `prefix` (None: no bound)."""
    stripped = prefix.rstrip(b"\xff")
    if not stripped:
        return None
    return stripped[:-1] + bytes([stripped[-1] + 1])


def key_successor(key: bytes) -> bytes:
    """The smallest byte string greater than `key` itself: `key > x` is `key >= key_successor(x)`."""
    return key + b"\x00"


@dataclass(frozen=True, slots=True)
class ListRange:
    """A listing as a half-open byte range [lower, upper) plus what rolls up inside it."""

    prefix: bytes
    delimiter: bytes
    lower: bytes
    upper: bytes

    @property
    def empty(self) -> bool:
        return self.lower >= self.upper


def listing_range(prefix: str, delimiter: str, after: str) -> ListRange:
    """The key range a listing scans: keys starting with `prefix` that sort after `after`.

    When `after` lies inside a common prefix (or is one), that prefix was already returned and every
    key under it rolls up into it, so the range starts after the whole prefix.
    """
    pfx = prefix.encode("utf-8")
    delim = delimiter.encode("utf-8")
    marker = after.encode("utf-8")
    upper = prefix_successor(pfx) or ABOVE_ALL_KEYS
    lower = max(pfx, key_successor(marker)) if marker else pfx
    if delim and marker.startswith(pfx):
        cut = marker.find(delim, len(pfx))
        if cut >= 0:
            lower = max(lower, prefix_successor(marker[: cut + len(delim)]) or ABOVE_ALL_KEYS)
    return ListRange(prefix=pfx, delimiter=delim, lower=lower, upper=upper)


def as_utc(when: datetime) -> datetime:
    """A naive timestamp is taken to be UTC; an aware one is converted to UTC."""
    if when.tzinfo is None:
        return when.replace(tzinfo=UTC)
    return when.astimezone(UTC)


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


def check_parts(upload_id: str, part_blobs: list[str], used: set[str]) -> None:
    """Raise InvalidPartError when `used` names a blob that is not one of the upload's parts."""
    if not used <= set(part_blobs):
        raise InvalidPartError(upload_id)


# -- listing pages

Entry = bytes | Sequence[Any]  # a common prefix, or a row


def list_page(bucket: str, entries: Sequence[Entry], max_keys: int, when: When) -> ListPage:
    """A ListObjects page of up to max_keys + 1 entries (rows of LIST_COLUMNS); one more than
    returned says the listing is truncated."""
    objects: list[ObjectRecord] = []
    prefixes: list[str] = []
    last: str | None = None
    for entry in entries[:max_keys]:
        if isinstance(entry, bytes):
            last = entry.decode("utf-8")
            prefixes.append(last)
        else:
            record = listed_from(bucket, entry, when)
            objects.append(record)
            last = record.key
    return ListPage(objects, prefixes, len(entries) > max_keys, last)


def uploads_page(bucket: str, entries: Sequence[Entry], max_uploads: int, when: When) -> UploadsPage:
    """A ListMultipartUploads page of up to max_uploads + 1 entries (rows of UPLOAD_COLUMNS)."""
    uploads: list[Upload] = []
    prefixes: list[str] = []
    next_key: str | None = None
    next_id: str | None = None
    for entry in entries[:max_uploads]:
        if isinstance(entry, bytes):
            next_key, next_id = entry.decode("utf-8"), None
            prefixes.append(next_key)
        else:
            upload = upload_from(bucket, entry, when)
            uploads.append(upload)
            next_key, next_id = upload.key, upload.upload_id
    return UploadsPage(
        uploads=uploads,
        common_prefixes=prefixes,
        is_truncated=len(entries) > max_uploads,
        next_key_marker=next_key,
        next_upload_id_marker=next_id,
    )


@dataclass(frozen=True, slots=True)
class UploadsRange:
    """Where a ListMultipartUploads page starts: first the marker key's own uploads after the id
    marker (`marker_first`), then the keys of `span`."""

    span: ListRange
    marker: bytes
    id_marker: str

    @property
    def marker_first(self) -> bool:
        """Unless the marker key is outside the listing or rolls up into a common prefix (which was
        returned already)."""
        span, marker = self.span, self.marker
        return (
            bool(self.id_marker)
            and marker.startswith(span.prefix)
            and not (span.delimiter and marker.find(span.delimiter, len(span.prefix)) >= 0)
        )


class SharedStore:
    """The MetadataStore methods that are the same for every backend around its SQL; a backend
    provides the hooks below and its `when` converter."""

    when: When

    async def _set_bucket_column(self, name: str, column: str, value: str | None) -> None:
        """Change one column of a bucket's row; NoSuchBucketError if there is none."""
        raise NotImplementedError

    async def _set_object_column(
        self, bucket: str, key: str, column: str, value: str | None
    ) -> ObjectRecord | None:
        """Change one column of an object's row; the updated record, or None if there is no object."""
        raise NotImplementedError

    async def _list_entries(self, bucket: str, span: ListRange, want: int) -> Sequence[Entry]:
        """Up to `want` entries of a ListObjects over a non-empty span (rows of LIST_COLUMNS)."""
        raise NotImplementedError

    async def _upload_entries(self, bucket: str, where: UploadsRange, want: int) -> Sequence[Entry]:
        """Up to `want` entries of a ListMultipartUploads (rows of UPLOAD_COLUMNS)."""
        raise NotImplementedError

    async def set_bucket_acl(self, name: str, acl: str) -> None:
        await self._set_bucket_column(name, "acl", acl)

    async def set_bucket_policy(self, name: str, policy: str | None) -> None:
        await self._set_bucket_column(name, "policy", policy)

    async def set_bucket_cors(self, name: str, cors: str | None) -> None:
        await self._set_bucket_column(name, "cors", cors)

    async def update_tags(self, bucket: str, key: str, tags: dict[str, str]) -> ObjectRecord | None:
        return await self._set_object_column(bucket, key, "tags", dump_json(tags))

    async def set_object_acl(self, bucket: str, key: str, acl: str) -> ObjectRecord | None:
        return await self._set_object_column(bucket, key, "acl", acl)

    async def list_objects(
        self,
        bucket: str,
        *,
        prefix: str = "",
        delimiter: str = "",
        after: str = "",
        max_keys: int = 1000,
    ) -> ListPage:
        span = listing_range(prefix, delimiter, after)
        if max_keys <= 0 or span.empty:
            return ListPage(objects=[], common_prefixes=[], is_truncated=False, next_marker=None)
        return list_page(bucket, await self._list_entries(bucket, span, max_keys + 1), max_keys, self.when)

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
        where = UploadsRange(
            span=listing_range(prefix, delimiter, key_marker),
            marker=key_marker.encode("utf-8"),
            id_marker=upload_id_marker if key_marker else "",
        )
        entries = await self._upload_entries(bucket, where, max_uploads + 1)
        return uploads_page(bucket, entries, max_uploads, self.when)
