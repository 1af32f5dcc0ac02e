"""The MetadataStore protocol and the domain types it speaks (never rows).

Keys are `str` at this boundary and compare as their UTF-8 bytes: every backend must list in that order.

    Exception
     └── MetadataError              the backend failed (unreachable, I/O): the saga answers 503
          (domain outcomes are values or S3Errors raised by the store: NoSuchBucket, BucketNotEmpty, …)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol


class MetadataError(Exception):
    """The metadata backend could not do its job; the caller answers ServiceUnavailable."""


@dataclass(frozen=True, slots=True)
class Bucket:
    name: str
    owner: str
    region: str
    created: datetime


@dataclass(frozen=True, slots=True)
class Segment:
    """One run of an object's bytes: `size` bytes of blob `blob_id`, from its start."""

    blob_id: str
    size: int


@dataclass(slots=True)
class ObjectRecord:
    """What the metadata knows about one object version (we keep one version per key)."""

    bucket: str
    key: str
    size: int
    etag: str  # hex, unquoted; "<hex>-N" for multipart
    last_modified: datetime
    segments: list[Segment]
    content_type: str = "binary/octet-stream"
    # Content-Encoding, Content-Disposition, Content-Language, Cache-Control, Expires, as sent.
    headers: dict[str, str] = field(default_factory=dict)
    # x-amz-meta-* with the prefix removed, lower-cased names.
    user_metadata: dict[str, str] = field(default_factory=dict)
    # algorithm name ("CRC32", "SHA256", …) -> base64 value, plus optional "type": "FULL_OBJECT"|"COMPOSITE".
    checksums: dict[str, str] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    parts_count: int | None = None  # multipart objects: number of parts
    # part sizes for GetObject?partNumber=N (multipart only)
    part_sizes: list[int] | None = None
    storage_class: str = "STANDARD"
    owner: str = ""


@dataclass(slots=True)
class ListPage:
    """One page of a listing: keys and rolled-up common prefixes, in byte order, merged."""

    objects: list[ObjectRecord]
    common_prefixes: list[str]
    is_truncated: bool
    # The last key or common prefix returned (the marker to continue after), None if none returned.
    next_marker: str | None


class MetadataStore(Protocol):
    """Buckets and objects. Every method may raise MetadataError when the backend fails."""

    async def open(self) -> None: ...

    async def close(self) -> None: ...

    async def ping(self) -> None:
        """Cheap round trip for health checks."""

    # -- buckets
    async def create_bucket(self, bucket: Bucket) -> None:
        """Raises S3Error BucketAlreadyOwnedByYou / BucketAlreadyExists if the name is taken."""

    async def get_bucket(self, name: str) -> Bucket | None: ...

    async def list_buckets(self, owner: str | None = None) -> list[Bucket]:
        """All buckets by name (owner None) or the buckets of one owner."""

    async def delete_bucket(self, name: str) -> None:
        """Raises S3Error NoSuchBucket or BucketNotEmpty."""

    # -- objects
    async def put_object(self, record: ObjectRecord) -> ObjectRecord | None:
        """Insert or replace the key in one transaction; return the replaced record (its blobs are
        the caller's to delete). Raises S3Error NoSuchBucket if the bucket is gone."""

    async def get_object(self, bucket: str, key: str) -> ObjectRecord | None: ...

    async def delete_object(self, bucket: str, key: str) -> ObjectRecord | None:
        """Remove the key; return the removed record, or None if there was none."""

    async def list_objects(
        self,
        bucket: str,
        *,
        prefix: str = "",
        delimiter: str = "",
        after: str = "",
        max_keys: int = 1000,
    ) -> ListPage:
        """Keys > `after` that start with `prefix`, with keys sharing prefix+…+delimiter rolled up
        into one common prefix; at most `max_keys` entries (keys plus prefixes). A common prefix is
        skipped past as a whole: the scan never reads the keys under it one by one."""

    async def referenced_blobs(self, blob_ids: Sequence[str]) -> set[str]:
        """Which of these blob ids some committed object still points at (for the reaper)."""
