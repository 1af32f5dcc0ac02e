"""The MetadataStore protocol and the domain types it speaks (never rows).

Keys are `str` at this boundary and compare as their UTF-8 bytes: every backend must list in that order.
The errors the stores raise (MetadataError and the DomainError tree) live in `metadata.errors`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from s3server.metadata.errors import (
    MetadataError,
    NoSuchKeyError,
    PreconditionFailedError,
)

__all__ = [
    "Bucket",
    "BucketStats",
    "Completion",
    "ListPage",
    "MetadataError",
    "MetadataStore",
    "ObjectRecord",
    "Part",
    "PartsPage",
    "Segment",
    "Upload",
    "UploadsPage",
    "WriteCondition",
]


@dataclass(frozen=True, slots=True)
class Bucket:
    name: str
    owner: str
    region: str
    created: datetime
    acl: str = "private"  # the bucket's canned ACL
    policy: str | None = None  # the bucket policy document as the owner sent it
    cors: str | None = None  # the CORS rules (JSON, see s3server.access.cors), None when unset


@dataclass(frozen=True, slots=True)
class BucketStats:
    """A bucket's maintained counters (never a scan of its objects)."""

    name: str
    owner: str
    objects: int
    bytes: int


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
    acl: str = "private"  # the object's canned ACL


@dataclass(frozen=True, slots=True)
class WriteCondition:
    """A conditional write's precondition, checked inside the transaction that writes the key, so of
    racing writers exactly one can win."""

    if_none_match: bool = False  # If-None-Match: * — the key must not exist (else PreconditionFailed)
    if_match: str | None = None  # If-Match: the key must exist (else NoSuchKey) with this ETag

    def check(self, current: ObjectRecord | None, key: str) -> None:
        """Raise the domain error for a condition that `current` (the key's record now) breaks."""
        if self.if_none_match and current is not None:
            raise PreconditionFailedError("If-None-Match")
        if self.if_match is not None:
            if current is None:
                raise NoSuchKeyError(key)
            wanted = [tag.strip().removeprefix("W/").strip('"') for tag in self.if_match.split(",")]
            if "*" not in wanted and current.etag not in wanted:
                raise PreconditionFailedError("If-Match")


@dataclass(slots=True)
class Upload:
    """A multipart upload in progress: what CreateMultipartUpload fixed for the object to be."""

    bucket: str
    key: str
    upload_id: str
    initiated: datetime
    owner: str = ""
    content_type: str = "binary/octet-stream"
    headers: dict[str, str] = field(default_factory=dict)
    user_metadata: dict[str, str] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    storage_class: str = "STANDARD"
    checksum_algorithm: str | None = None  # "CRC32", "SHA256", … when the client asked for one
    checksum_type: str | None = None  # "COMPOSITE" | "FULL_OBJECT", with checksum_algorithm
    acl: str = "private"  # the canned ACL the completed object gets


@dataclass(slots=True)
class Part:
    """One uploaded part; its bytes are the whole of blob `blob_id`."""

    part_number: int
    size: int
    etag: str  # hex MD5, unquoted
    last_modified: datetime
    blob_id: str
    checksums: dict[str, str] = field(default_factory=dict)  # algorithm -> base64


@dataclass(slots=True)
class PartsPage:
    parts: list[Part]  # ascending part numbers
    is_truncated: bool


@dataclass(slots=True)
class UploadsPage:
    """One page of ListMultipartUploads: uploads by key then upload id, with rolled-up prefixes."""

    uploads: list[Upload]
    common_prefixes: list[str]
    is_truncated: bool
    # Where the next page starts: the last upload's key and id, or the last common prefix and None.
    next_key_marker: str | None
    next_upload_id_marker: str | None


@dataclass(slots=True)
class Completion:
    """What completing an upload left for the caller to delete, once committed."""

    replaced: ObjectRecord | None  # the object the key pointed at before (its blobs are free)
    unused_blobs: list[str]  # blobs of parts the Complete request left out


@dataclass(slots=True)
class ListPage:
    """One page of a listing: keys and rolled-up common prefixes, in byte order, merged."""

    objects: list[ObjectRecord]
    common_prefixes: list[str]
    is_truncated: bool
    # The last key or common prefix returned (the marker to continue after), None if none returned.
    next_marker: str | None


class MetadataStore(Protocol):
    """Buckets, objects and multipart uploads. Every method may raise MetadataError when the
    backend fails."""

    async def open(self) -> None: ...

    async def close(self) -> None: ...

    async def ping(self) -> None:
        """Cheap round trip for health checks."""

    # -- buckets
    async def create_bucket(self, bucket: Bucket) -> None:
        """Raises BucketExistsError if the name is taken."""

    async def get_bucket(self, name: str) -> Bucket | None: ...

    async def list_buckets(self, owner: str | None = None) -> list[Bucket]:
        """All buckets by name (owner None) or the buckets of one owner."""

    async def delete_bucket(self, name: str) -> list[str]:
        """Remove an empty bucket with its uploads in progress (as AWS does); return the blob ids of
        those uploads' parts, which are the caller's to delete. Raises NoSuchBucketError or
        BucketNotEmptyError (any object)."""

    async def set_bucket_acl(self, name: str, acl: str) -> None:
        """Replace the bucket's canned ACL. Raises NoSuchBucketError."""

    async def set_bucket_policy(self, name: str, policy: str | None) -> None:
        """Set (or with None remove) the bucket policy document. Raises NoSuchBucketError."""

    async def set_bucket_cors(self, name: str, cors: str | None) -> None:
        """Set (or with None remove) the bucket's CORS rules. Raises NoSuchBucketError."""

    async def bucket_stats(self, name: str) -> tuple[int, int] | None:
        """(object count, total bytes) from the maintained counters; None if there is no bucket."""

    async def all_bucket_stats(self) -> list[BucketStats]:
        """Every bucket's counters, by name (for /_admin/stats; one query, no scan of objects)."""

    # -- objects
    async def put_object(
        self, record: ObjectRecord, condition: WriteCondition | None = None
    ) -> ObjectRecord | None:
        """Insert or replace the key in one transaction; return the replaced record (its blobs are
        the caller's to delete). Raises NoSuchBucketError if the bucket is gone, and
        PreconditionFailedError / NoSuchKeyError when `condition` does not hold at commit time."""

    async def get_object(self, bucket: str, key: str) -> ObjectRecord | None: ...

    async def update_tags(self, bucket: str, key: str, tags: dict[str, str]) -> ObjectRecord | None:
        """Replace the object's tag set in place (its blobs are untouched); the updated record, or
        None if there is no such key."""

    async def set_object_acl(self, bucket: str, key: str, acl: str) -> ObjectRecord | None:
        """Replace the object's canned ACL in place; the updated record, or None if no such key."""

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
        skipped past as a whole: the scan never reads the keys under it one by one. Listed records
        carry what a listing shows (key, size, etag, last_modified, checksums, storage_class, owner);
        their other fields are left at their defaults (segments empty)."""

    async def referenced_blobs(self, blob_ids: Sequence[str]) -> set[str]:
        """Which of these blob ids some committed object or some part of an upload in progress
        still points at (for the reaper)."""

    # -- multipart uploads
    async def create_upload(self, upload: Upload) -> None:
        """Record a new upload. Raises NoSuchBucketError."""

    async def get_upload(self, bucket: str, key: str, upload_id: str) -> Upload | None:
        """The upload, or None when the id is unknown or belongs to another bucket or key."""

    async def put_part(self, bucket: str, key: str, upload_id: str, part: Part) -> Part | None:
        """Insert or replace a part; return the part it replaced (its blob is the caller's to
        delete). Raises NoSuchUploadError when the upload is gone."""

    async def list_parts(
        self, bucket: str, key: str, upload_id: str, *, after: int = 0, max_parts: int = 1000
    ) -> PartsPage:
        """Parts numbered above `after`, ascending, at most `max_parts`. Raises NoSuchUploadError."""

    async def complete_upload(
        self,
        bucket: str,
        key: str,
        upload_id: str,
        record: ObjectRecord,
        condition: WriteCondition | None = None,
    ) -> Completion:
        """In ONE transaction: point the key at `record` (whose segments are blobs of this upload's
        parts), and remove the upload and all its parts. Raises NoSuchUploadError; InvalidPartError
        when a segment's blob is no longer one of the upload's parts (a part was re-uploaded
        meanwhile); PreconditionFailedError / NoSuchKeyError for `condition`; NoSuchBucketError."""

    async def abort_upload(self, bucket: str, key: str, upload_id: str) -> list[str]:
        """Remove the upload and its parts; return the parts' blob ids (the caller's to delete).
        Raises NoSuchUploadError."""

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
        """Uploads ordered by key (bytes) then upload id, starting after (key_marker,
        upload_id_marker) — after every upload of key_marker when upload_id_marker is empty — with
        keys sharing prefix+…+delimiter rolled up into one common prefix (skipped past as a
        whole); at most `max_uploads` entries (uploads plus prefixes)."""

    async def stale_uploads(self, initiated_before: datetime, limit: int = 100) -> list[Upload]:
        """Uploads initiated before the given time, oldest first (for the upload reaper)."""
