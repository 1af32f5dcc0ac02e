"""The MetadataStore protocol and the domain types it speaks (never rows, but for `ListedRows`: a
listing's entries as read, for the handler that writes them out as text without a record per entry).

Keys are `str` at this boundary and compare as their UTF-8 bytes: every backend must list in that order.
The errors the stores raise (MetadataError and the DomainError tree) live in `metadata.errors`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from s3server.config import Rate
from s3server.metadata.errors import (
    MetadataError,
    NoSuchKeyError,
    NoSuchVersionError,
    ObjectLockedError,
    PreconditionFailedError,
)

__all__ = [
    "LISTED_FIELDS",
    "NULL_VERSION",
    "Bucket",
    "BucketStats",
    "Completion",
    "DeleteCondition",
    "DeleteResult",
    "Encryption",
    "KmsKey",
    "ListPage",
    "ListedRows",
    "MetadataError",
    "MetadataStore",
    "NodeEntry",
    "ObjectRecord",
    "Part",
    "PartsPage",
    "RetentionChange",
    "Segment",
    "Upload",
    "UploadsPage",
    "VersionsPage",
    "WriteCondition",
]

NULL_VERSION = "null"  # the version id of objects written while a bucket is unversioned or suspended


@dataclass(frozen=True, slots=True)
class Bucket:
    name: str
    owner: str
    region: str
    created: datetime
    acl: str = "private"  # the bucket's canned ACL
    policy: str | None = None  # the bucket policy document as the owner sent it
    cors: str | None = None  # the CORS rules (JSON, see s3server.access.cors), None when unset
    versioning: str = ""  # "" (never versioned), "Enabled" or "Suspended"
    # The Object Lock configuration (JSON: {} or {"Mode": …, "Days"|"Years": n}); None: no lock.
    object_lock: str | None = None
    # Default encryption (JSON: {"SSEAlgorithm": …, "KMSMasterKeyID"?: …, "BucketKeyEnabled"?: bool});
    # None: PutBucketEncryption never set one.
    encryption: str | None = None
    # Object Ownership (BucketOwnerEnforced, BucketOwnerPreferred, ObjectWriter); None: not set.
    ownership: str | None = None
    # The public access block (JSON of its four flags, see s3server.access.exposure); None: not set.
    public_access_block: str | None = None


@dataclass(frozen=True, slots=True)
class BucketStats:
    """A bucket's maintained counters (never a scan of its objects)."""

    name: str
    owner: str
    objects: int
    bytes: int
    versions: int = 0  # noncurrent versions and delete markers
    version_bytes: int = 0  # bytes of the noncurrent versions


@dataclass(frozen=True, slots=True)
class Segment:
    """One run of an object's bytes: `size` bytes of blob `blob_id`, from its start."""

    blob_id: str
    size: int


@dataclass(frozen=True, slots=True)
class Encryption:
    """How an object's (or an upload's) bytes are encrypted at rest (see s3server.storage.encryption)."""

    mode: str  # "AES256" (SSE-S3), "aws:kms" (SSE-KMS) or "SSE-C"
    wrapped_key: str  # base64: the data key sealed under the mode's key-encryption key
    key_id: str | None = None  # SSE-KMS: the ARN of the KMS key that wraps the data key
    key_hmac: str | None = None  # SSE-C: base64 of salt ‖ HMAC-SHA256(salt, customer key)
    bucket_key: bool = False  # x-amz-server-side-encryption-bucket-key-enabled, as asked
    context: str | None = None  # SSE-KMS: the encryption context (base64 JSON) as sent, if any


@dataclass(slots=True)
class ObjectRecord:
    """What the metadata knows about one object version: the current one of a key, a noncurrent one,
    or a delete marker (no bytes, `delete_marker` True)."""

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
    # each part's checksums ({algorithm: base64}) when the upload had an algorithm (multipart only)
    part_checksums: list[dict[str, str]] | None = None
    storage_class: str = "STANDARD"
    owner: str = ""
    acl: str = "private"  # the object's canned ACL
    version_id: str = NULL_VERSION
    delete_marker: bool = False
    is_latest: bool = True  # the key's newest version (listings of versions say so per entry)
    lock_mode: str | None = None  # "GOVERNANCE" | "COMPLIANCE" with lock_until
    lock_until: datetime | None = None
    legal_hold: bool = False
    encryption: Encryption | None = None  # None: stored in clear

    def locked(self, at: datetime, bypass_governance: bool = False) -> bool:
        """Whether Object Lock forbids removing this version now."""
        if self.legal_hold:
            return True
        if self.lock_mode is None or self.lock_until is None or self.lock_until <= at:
            return False
        return self.lock_mode == "COMPLIANCE" or not bypass_governance


@dataclass(frozen=True, slots=True)
class RetentionChange:
    """PutObjectRetention's request: the new mode and date (None, None removes the retention)."""

    mode: str | None
    until: datetime | None
    bypass: bool  # x-amz-bypass-governance-retention from a principal allowed to use it
    at: datetime

    def check(self, current: ObjectRecord) -> None:
        """Retention may be lengthened freely; shortening, removing or changing the mode of an active
        one is refused (ObjectLockedError) for COMPLIANCE, and for GOVERNANCE without bypass."""
        if current.lock_mode is None or current.lock_until is None or current.lock_until <= self.at:
            return
        keeps = self.mode == current.lock_mode and self.until is not None and self.until >= current.lock_until
        if keeps:
            return
        if current.lock_mode == "COMPLIANCE" or not self.bypass:
            raise ObjectLockedError(current.key, current.version_id)


@dataclass(frozen=True, slots=True)
class DeleteResult:
    """What DeleteObject did: the version removed (its blobs are the caller's to delete) and what to
    answer (x-amz-version-id, x-amz-delete-marker)."""

    removed: ObjectRecord | None
    version_id: str | None = None
    delete_marker: bool = False


@dataclass(slots=True)
class VersionsPage:
    """One page of ListObjectVersions: versions and delete markers by key, newest first, with
    rolled-up prefixes; `next_*` say where the next page starts."""

    versions: list[ObjectRecord]
    common_prefixes: list[str]
    is_truncated: bool
    next_key_marker: str | None
    next_version_id_marker: str | None


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
            if not etag_listed(self.if_match, current.etag):
                raise PreconditionFailedError("If-Match")


def etag_listed(header: str, etag: str) -> bool:
    """Whether an If-Match value (quoted or not, a list, or `*`) names `etag`."""
    wanted = [tag.strip().removeprefix("W/").strip('"') for tag in header.split(",")]
    return "*" in wanted or etag in wanted


@dataclass(frozen=True, slots=True)
class DeleteCondition:
    """DeleteObject's preconditions (If-Match, x-amz-if-match-last-modified-time,
    x-amz-if-match-size), checked on the version the delete would act on inside the deleting
    transaction, so a racing write or delete cannot slip between the check and the delete."""

    if_match: str | None = None
    last_modified: datetime | None = None  # compared to the second, as HTTP dates carry it
    size: int | None = None

    def check(self, target: ObjectRecord | None, key: str, version_id: str | None) -> None:
        """Raise the domain error for a condition that `target` (the current version, or the
        version named by `version_id`; None when there is none) breaks.

        As on AWS, If-Match needs an object: none (or a delete marker) is NoSuchKey, or
        NoSuchVersion for a version id. The size and time conditions alone hold when there is no
        object, as the API reference says for them.
        """
        if target is None or target.delete_marker:
            if self.if_match is None:
                return
            if version_id is None:
                raise NoSuchKeyError(key)
            raise NoSuchVersionError(key, version_id)
        if self.if_match is not None and not etag_listed(self.if_match, target.etag):
            raise PreconditionFailedError("If-Match")
        if self.last_modified is not None:
            stored = target.last_modified.replace(microsecond=0)
            if stored.tzinfo is None:
                stored = stored.replace(tzinfo=self.last_modified.tzinfo)
            if stored != self.last_modified.replace(microsecond=0):
                raise PreconditionFailedError("x-amz-if-match-last-modified-time")
        if self.size is not None and target.size != self.size:
            raise PreconditionFailedError("x-amz-if-match-size")


@dataclass(frozen=True, slots=True)
class Lease:
    """A named lease on background work (the lifecycle pass): who holds it, until when (the
    database's clock), and the holder's saved progress, so a successor can resume."""

    name: str
    holder: str
    expires: datetime
    state: str | None = None


@dataclass(frozen=True, slots=True)
class NodeEntry:
    """A storage node of the list kept in the database (`s3server admin nodes`): its placement name
    (what rendezvous hashing ranks, so it must not change while the node holds replicas) and URL."""

    name: str
    url: str


@dataclass(frozen=True, slots=True)
class KmsKey:
    """A key of the built-in key service (SSE-KMS, `identity.kms`): every version of its material,
    each sealed under the server identity key; the newest seals new data keys, all of them open."""

    key_id: str
    created: datetime
    materials: tuple[str, ...]  # version n's sealed material at index n - 1
    alias: str | None = None  # "alias/NAME"
    enabled: bool = True


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
    lock_mode: str | None = None  # the Object Lock the completed object gets
    lock_until: datetime | None = None
    legal_hold: bool = False
    encryption: Encryption | None = None  # every part is sealed under this record's data key


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


@dataclass(slots=True)
class ListedRows:
    """One page of ListObjects as `ListPage`, its entries left as the store read them: each a common
    prefix (UTF-8 bytes) or a key's row in LISTED_FIELDS order: key (UTF-8 bytes), size, etag, last
    modified (as stored: `when` makes it a datetime, `micros` microseconds since the Unix epoch),
    checksums (JSON text, None or "{}" when there are none), storage class, owner. A page of 1,000
    keys costs no record per key."""

    entries: Sequence[bytes | Sequence[Any]]
    is_truncated: bool
    next_marker: str | None
    when: Callable[[Any], datetime]
    micros: Callable[[Any], int]


LISTED_FIELDS = ("key", "size", "etag", "last_modified", "checksums", "storage_class", "owner")


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

    async def set_bucket_ownership(self, name: str, ownership: str | None) -> None:
        """Set (or with None remove) the bucket's Object Ownership. Raises NoSuchBucketError."""

    async def set_public_access_block(self, name: str, config: str | None) -> None:
        """Set (or with None remove) the bucket's public access block. Raises NoSuchBucketError."""

    async def bucket_stats(self, name: str) -> tuple[int, int] | None:
        """(object count, total bytes) from the maintained counters; None if there is no bucket."""

    async def all_bucket_stats(self) -> list[BucketStats]:
        """Every bucket's counters, by name (for /_admin/stats; one query, no scan of objects)."""

    # -- objects
    async def set_bucket_versioning(self, name: str, status: str) -> None:
        """Set the versioning state ("Enabled" or "Suspended"). Raises NoSuchBucket."""

    async def set_bucket_object_lock(self, name: str, config: str) -> None:
        """Set the Object Lock configuration (JSON, see Bucket.object_lock). Raises NoSuchBucket."""

    async def set_bucket_encryption(self, name: str, config: str | None) -> None:
        """Set (or with None remove) the default encryption (JSON, see Bucket.encryption).
        Raises NoSuchBucketError."""

    # -- objects
    async def put_object(
        self, record: ObjectRecord, condition: WriteCondition | None = None
    ) -> ObjectRecord | None:
        """Make `record` the key's current version in one transaction, as the bucket's versioning
        state at commit time says: unversioned, it replaces the current version; Enabled, the current
        version becomes noncurrent and `record` keeps its (new) version_id; Suspended, `record` is
        the "null" version and replaces the previous null version wherever it is. record.version_id
        is set to the id it was stored under. Returns the version whose blobs are now free (the
        caller's to delete), or None. Raises NoSuchBucketError if the bucket is gone, and
        PreconditionFailedError / NoSuchKeyError when `condition` does not hold at commit time."""

    async def get_object(self, bucket: str, key: str, version_id: str | None = None) -> ObjectRecord | None:
        """The current version (never a delete marker), or with `version_id` that version, delete
        markers included (is_latest set)."""

    async def get_delete_marker(self, bucket: str, key: str) -> ObjectRecord | None:
        """The delete marker that is the key's newest version, if it is one (for GET/HEAD's 404)."""

    async def update_tags(
        self, bucket: str, key: str, tags: dict[str, str], version_id: str | None = None
    ) -> ObjectRecord | None:
        """Replace a version's tag set in place (its blobs are untouched); the updated record, or
        None if there is no such version (delete markers have no tags)."""

    async def set_object_acl(
        self, bucket: str, key: str, acl: str, version_id: str | None = None
    ) -> ObjectRecord | None:
        """Replace a version's canned ACL in place; the updated record, or None if no such version."""

    async def set_retention(
        self, bucket: str, key: str, version_id: str, change: RetentionChange
    ) -> ObjectRecord | None:
        """Apply PutObjectRetention to a version after change.check (ObjectLockedError) on its row
        in the writing transaction; the updated record, or None if no such version."""

    async def set_legal_hold(self, bucket: str, key: str, version_id: str, on: bool) -> ObjectRecord | None:
        """Set or clear a version's legal hold; the updated record, or None if no such version."""

    async def delete_object(
        self,
        bucket: str,
        key: str,
        version_id: str | None = None,
        *,
        marker_id: str = NULL_VERSION,
        bypass_governance: bool = False,
        condition: DeleteCondition | None = None,
    ) -> DeleteResult:
        """Without `version_id`: in an unversioned bucket remove the current version; in an Enabled
        one the current version becomes noncurrent and a delete marker with id `marker_id` becomes
        the newest version; Suspended, the same with a "null" marker that replaces the previous null
        version. With `version_id`: remove exactly that version or marker (a removed current version
        is replaced by the newest remaining one unless that is a marker). A locked version raises
        ObjectLockedError (see ObjectRecord.locked). `condition` is checked on the version the
        delete acts on (the current one, or `version_id`) in the same transaction: it raises
        PreconditionFailedError, NoSuchKeyError or NoSuchVersionError and changes nothing."""

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
        """Versions and delete markers by key (bytes), newest first, starting after key_marker's
        version version_id_marker (after every version of key_marker when that is empty), with keys
        sharing prefix+…+delimiter rolled up into one common prefix; at most `max_keys` entries.
        Entries carry what a listing shows plus version_id, delete_marker, is_latest."""

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

    async def list_object_rows(
        self,
        bucket: str,
        *,
        prefix: str = "",
        delimiter: str = "",
        after: str = "",
        max_keys: int = 1000,
    ) -> ListedRows:
        """`list_objects`, its keys left as rows (see ListedRows)."""

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

    # -- bucket lifecycle configuration and leases on background work
    async def get_bucket_lifecycle(self, name: str) -> str | None:
        """The bucket's lifecycle configuration (JSON, see s3server.s3.lifecycle), None when unset."""

    async def set_bucket_lifecycle(self, name: str, config: str | None) -> None:
        """Set (or with None remove) the lifecycle configuration. Raises NoSuchBucketError. A
        configuration goes with its bucket when the bucket is deleted."""

    async def lifecycle_buckets(self, after: str = "", limit: int = 100) -> list[tuple[str, str]]:
        """(bucket, configuration) of buckets with a lifecycle configuration, by name after `after`."""

    async def take_lease(self, name: str, holder: str, ttl: float) -> Lease | None:
        """Take the lease for `ttl` seconds if it is free, expired or already `holder`'s (then it is
        extended); the lease with its saved state, or None when someone else holds it. Atomic across
        processes and gateways sharing the database."""

    async def keep_lease(self, name: str, holder: str, ttl: float, state: str | None) -> bool:
        """Save `state` and extend the lease by `ttl` seconds (0 releases it), only while `holder`
        still holds it; whether it did."""

    # -- what the gateways of a cluster share: the rate limit's buckets and the storage node list
    async def take_tokens(self, caller: str, want: int, rate: Rate) -> int:
        """Take up to `want` whole tokens from `caller`'s bucket (`rate.requests` deep, refilled at
        `rate.per_second`; a caller never seen has a full one); how many it gave. Atomic across the
        processes sharing the store (SQLite: one host's workers; PostgreSQL: every gateway)."""

    async def add_storage_node(self, node: NodeEntry) -> bool:
        """Add a node to the list, or give a listed name its new URL; whether the name was new."""

    async def remove_storage_node(self, name: str) -> bool:
        """Take the node of that name off the list; whether it was listed."""

    async def storage_nodes(self) -> list[NodeEntry]:
        """The listed nodes, by name."""

    # -- the keys of the built-in key service (SSE-KMS), their material already sealed
    async def create_kms_key(self, key: KmsKey) -> None:
        """Add a key with its versions; raises KmsAliasExistsError when its alias is taken."""

    async def get_kms_key(self, name: str) -> KmsKey | None:
        """The key whose id, or alias ("alias/NAME"), is `name`."""

    async def kms_keys(self) -> list[KmsKey]:
        """Every key, oldest first."""

    async def set_kms_key_enabled(self, key_id: str, enabled: bool) -> bool:
        """Enable or disable a key; whether it exists."""

    async def add_kms_key_version(self, key_id: str, version: int, material: str) -> bool:
        """Add version `version` of a key's material; False when the key does not exist or that
        version already does (a racing rotation won: read the key again)."""
