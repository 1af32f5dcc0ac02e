"""What every metadata backend shares: byte-order key arithmetic, listing bounds, field encoding,
listing pages, and (`SharedStore`) the store methods that are the same around their SQL.

Keys are compared as their UTF-8 bytes by every backend, so the bounds of a listing's range scan are
computed here once, on bytes, and each backend only turns them into its own SQL. A backend hands a
listing back as its entries in order, each a common prefix (`bytes`) or a row (`metadata.rows`), and
one function here makes the page.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from s3server.metadata.base import (
    Completion,
    ListPage,
    ObjectRecord,
    PartsPage,
    Upload,
    UploadsPage,
    WriteCondition,
)
from s3server.metadata.errors import InvalidPartError
from s3server.metadata.tables import When, dump_json, listed_from, part_from, upload_from

__all__ = [
    "ABOVE_ALL_KEYS",
    "Completing",
    "ListRange",
    "SharedStore",
    "UploadsRange",
    "as_utc",
    "key_successor",
    "list_page",
    "listing_range",
    "prefix_successor",
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


@dataclass(slots=True)
class Completing:
    """A CompleteMultipartUpload for a backend to commit in one transaction: check the upload is
    there and still has the parts `record` uses (`check_parts`), store the record, drop the upload."""

    bucket: str
    key: bytes
    upload_id: str
    record: ObjectRecord
    condition: WriteCondition | None
    used: set[str] = field(init=False)  # the blobs the record's segments are

    def __post_init__(self) -> None:
        self.used = {seg.blob_id for seg in self.record.segments}

    def check_parts(self, part_blobs: list[str]) -> None:
        """InvalidPartError when the record uses a blob that is not one of the upload's parts (a part
        was uploaded again since the caller read them)."""
        if not self.used <= set(part_blobs):
            raise InvalidPartError(self.upload_id)


class SharedStore:
    """The MetadataStore methods that are the same for every backend around its SQL; a backend
    provides the hooks below and its `when` converter."""

    when: When

    async def _set_bucket_column(self, name: str, column: str, value: str | None) -> None:
        """Change one column of a bucket's row; NoSuchBucketError if there is none."""
        raise NotImplementedError

    async def _set_object_column(
        self, bucket: str, key: bytes, column: str, value: str | None
    ) -> ObjectRecord | None:
        """Change one column of an object's row; the updated record, or None if there is no object."""
        raise NotImplementedError

    async def _put_object(
        self, record: ObjectRecord, key: bytes, condition: WriteCondition | None
    ) -> ObjectRecord | None:
        """put_object, given the key's bytes."""
        raise NotImplementedError

    async def _list_entries(self, bucket: str, span: ListRange, want: int) -> Sequence[Entry]:
        """Up to `want` entries of a ListObjects over a non-empty span (rows of LIST_COLUMNS)."""
        raise NotImplementedError

    async def _part_rows(
        self, bucket: str, key: bytes, upload_id: str, after: int, want: int
    ) -> Sequence[Any]:
        """Up to `want` rows (PART_COLUMNS) of the upload's parts numbered above `after`, ascending;
        NoSuchUploadError if the upload is gone."""
        raise NotImplementedError

    async def _complete(self, job: Completing) -> tuple[ObjectRecord | None, list[str]]:
        """complete_upload's transaction: (the record replaced, the blobs of all the upload's parts)."""
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

    async def put_object(
        self, record: ObjectRecord, condition: WriteCondition | None = None
    ) -> ObjectRecord | None:
        return await self._put_object(record, record.key.encode("utf-8"), condition)

    async def update_tags(self, bucket: str, key: str, tags: dict[str, str]) -> ObjectRecord | None:
        return await self._set_object_column(bucket, key.encode("utf-8"), "tags", dump_json(tags))

    async def set_object_acl(self, bucket: str, key: str, acl: str) -> ObjectRecord | None:
        return await self._set_object_column(bucket, key.encode("utf-8"), "acl", acl)

    async def list_parts(
        self, bucket: str, key: str, upload_id: str, *, after: int = 0, max_parts: int = 1000
    ) -> PartsPage:
        limit = max(max_parts, 0)
        rows = await self._part_rows(bucket, key.encode("utf-8"), upload_id, after, limit + 1)
        parts = [part_from(row, self.when) for row in rows[:limit]]
        return PartsPage(parts=parts, is_truncated=len(rows) > limit)

    async def complete_upload(
        self,
        bucket: str,
        key: str,
        upload_id: str,
        record: ObjectRecord,
        condition: WriteCondition | None = None,
    ) -> Completion:
        job = Completing(bucket, key.encode("utf-8"), upload_id, record, condition)
        replaced, blobs = await self._complete(job)
        return Completion(replaced=replaced, unused_blobs=[b for b in blobs if b not in job.used])

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
