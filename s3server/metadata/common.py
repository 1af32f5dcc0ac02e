"""What every metadata backend shares: byte-order key arithmetic, listing bounds, field encoding,
listing pages, and (`SharedStore`) the store methods that are the same around their SQL.

Keys are compared as their UTF-8 bytes by every backend, so the bounds of a listing's range scan are
computed here once, on bytes, and each backend only turns them into its own SQL. A backend hands a
listing back as its entries in order, each a common prefix (`bytes`) or a row (`metadata.rows`), and
one function here makes the page.
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from s3server.metadata.base import (
    NULL_VERSION,
    Completion,
    DeleteCondition,
    DeleteResult,
    ListedRows,
    ListPage,
    ObjectRecord,
    PartsPage,
    RetentionChange,
    Upload,
    UploadsPage,
    VersionsPage,
    WriteCondition,
)
from s3server.metadata.errors import InvalidPartError
from s3server.metadata.tables import Micros, Stamp, When, dump_json, listed_from, part_from, upload_from

Columns = Callable[[ObjectRecord], dict[str, Any]]  # a version's record → the column values to set

__all__ = [
    "ABOVE_ALL_KEYS",
    "Completing",
    "DeletePlan",
    "Deletion",
    "KeyVersions",
    "ListRange",
    "MarkerSeq",
    "NextKey",
    "PutPlan",
    "SharedStore",
    "UploadsRange",
    "VersionQuery",
    "as_utc",
    "delete_marker",
    "epoch_micros",
    "from_epoch_micros",
    "key_successor",
    "list_page",
    "listing_range",
    "plan_delete",
    "plan_put",
    "prefix_successor",
    "uploads_page",
    "walk_versions",
    "walked",
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


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)


def epoch_micros(when: datetime) -> int:
    """Microseconds since the Unix epoch (a naive timestamp is taken to be UTC)."""
    return (as_utc(when) - _EPOCH) // _MICROSECOND


def from_epoch_micros(micros: int) -> datetime:
    """epoch_micros, undone (an aware UTC datetime)."""
    return _EPOCH + timedelta(microseconds=micros)


def as_utc(when: datetime) -> datetime:
    """A naive timestamp is taken to be UTC; an aware one is converted to UTC."""
    if when.tzinfo is None:
        return when.replace(tzinfo=UTC)
    return when.astimezone(UTC)


# -- listing pages

Entry = bytes | Sequence[Any]  # a common prefix, or a row


def list_page(bucket: str, rows: ListedRows) -> ListPage:
    """A ListObjects page of records, from the page of rows (LIST_COLUMNS) it was read as."""
    objects: list[ObjectRecord] = []
    prefixes: list[str] = []
    for entry in rows.entries:
        if isinstance(entry, bytes):
            prefixes.append(entry.decode("utf-8"))
        else:
            objects.append(listed_from(bucket, entry, rows.when))
    return ListPage(objects, prefixes, rows.is_truncated, rows.next_marker)


def walked(rows: Sequence[Sequence[Any]]) -> list[Entry]:
    """The entries of a delimiter walk done in one statement: its first column is the common prefix
    a row rolled up into (NULL for a row that stands for itself, the rest of its columns)."""
    return [row[1:] if row[0] is None else bytes(row[0]) for row in rows]


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


# -- ListObjectVersions, walked once for every backend
#
# The walk asks its store for rows through the requests below (a generator's yields, answered with
# `send`), so the paging and roll-up logic lives here once while each store runs its own SQL, on a
# database thread (SQLite) or awaited (PostgreSQL).


@dataclass(frozen=True, slots=True)
class MarkerSeq:
    """Where version `version_id` of `key` sits: its seq, math.inf for the current version, None
    when there is no such version."""

    key: bytes
    version_id: str


@dataclass(frozen=True, slots=True)
class NextKey:
    """The smallest key in [lower, upper) that has a current or a noncurrent version, or None."""

    lower: bytes
    upper: bytes


@dataclass(frozen=True, slots=True)
class KeyVersions:
    """The key's versions newest first (the current one, then noncurrent ones and markers), at most
    `limit`, only those older than `below` (a seq) when it is set."""

    key: bytes
    limit: int
    below: float | None = None


VersionQuery = MarkerSeq | NextKey | KeyVersions


def drive(
    walk: Generator[VersionQuery, Any, VersionsPage], answer: Callable[[VersionQuery], Any]
) -> VersionsPage:
    """Run a walk whose queries are answered synchronously (on a database thread)."""
    try:
        query = next(walk)
        while True:
            query = walk.send(answer(query))
    except StopIteration as done:
        return done.value


def walk_versions(
    span: ListRange, key_marker: str, version_id_marker: str, max_keys: int
) -> Generator[VersionQuery, Any, VersionsPage]:
    """One page of ListObjectVersions; KeyVersions answers are lists of ObjectRecord (current first,
    with is_latest set on the key's newest)."""
    entries: list[ObjectRecord] = []
    prefixes: list[str] = []
    next_key: str | None = None
    next_version: str | None = None
    want = max_keys + 1
    count = 0
    delim = span.delimiter
    start = len(span.prefix)
    marker = key_marker.encode("utf-8")
    lower, upper = span.lower, span.upper
    in_range = marker.startswith(span.prefix) and not (delim and marker.find(delim, start) >= 0)
    if key_marker and version_id_marker and in_range:
        seq = yield MarkerSeq(marker, version_id_marker)
        if seq is not None:
            for record in (yield KeyVersions(marker, want, below=seq)):
                record.is_latest = False
                count += 1
                if count <= max_keys:
                    entries.append(record)
                    next_key, next_version = record.key, record.version_id
    while count < want and lower < upper:
        key = yield NextKey(lower, upper)
        if key is None:
            break
        cut = key.find(delim, start) if delim else -1
        if cut >= 0:
            common = key[: cut + len(delim)]
            count += 1
            if count <= max_keys:
                next_key, next_version = common.decode("utf-8"), None
                prefixes.append(next_key)
            lower = prefix_successor(common) or ABOVE_ALL_KEYS
            continue
        for record in (yield KeyVersions(key, want - count)):
            count += 1
            if count <= max_keys:
                entries.append(record)
                next_key, next_version = record.key, record.version_id
        lower = key_successor(key)
    truncated = count > max_keys
    return VersionsPage(
        versions=entries,
        common_prefixes=prefixes,
        is_truncated=truncated,
        next_key_marker=next_key if truncated else None,
        next_version_id_marker=next_version if truncated else None,
    )


# -- what a write or a delete does to a key's versions, decided once for every backend


@dataclass(frozen=True, slots=True)
class PutPlan:
    """How PutObject (or a completion, or a copy) changes a key, given the bucket's state."""

    version_id: str  # the id the new current version gets
    archive_current: bool  # the current version becomes the newest noncurrent one
    drop_null: bool  # the noncurrent "null" version (if any) is removed, its blobs freed
    # Otherwise a current version is replaced and its blobs freed.


def plan_put(state: str, current: ObjectRecord | None, candidate_id: str) -> PutPlan:
    """Enabled keeps every version; Suspended writes "null", replacing only the null version;
    unversioned replaces the current version."""
    if state == "Enabled":
        return PutPlan(candidate_id, archive_current=current is not None, drop_null=False)
    if state == "Suspended":
        archive = current is not None and current.version_id != NULL_VERSION
        return PutPlan(NULL_VERSION, archive_current=archive, drop_null=current is None or archive)
    return PutPlan(NULL_VERSION, archive_current=False, drop_null=False)


@dataclass(frozen=True, slots=True)
class Deletion:
    """A DeleteObject for a backend to carry out in one transaction."""

    bucket: str
    key: bytes
    version_id: str | None  # None: the current version (a delete marker in a versioned bucket)
    marker_id: str  # the id of the delete marker it may write
    bypass: bool  # x-amz-bypass-governance-retention, allowed
    condition: DeleteCondition | None = None  # checked on the version it acts on, in its transaction

    def check(self, target: ObjectRecord | None) -> None:
        """Raise when the condition does not hold for `target`, the version the delete acts on
        (the current one, or the one version_id names; None when there is none)."""
        if self.condition is not None:
            self.condition.check(target, self.key.decode("utf-8"), self.version_id)


@dataclass(frozen=True, slots=True)
class DeletePlan:
    """How DeleteObject without a version id changes a key, given the bucket's state."""

    remove_current: bool  # the current version goes, its blobs freed
    archive_current: bool  # the current version becomes noncurrent
    drop_null: bool  # the noncurrent "null" version (if any) goes, its blobs freed
    marker_id: str | None  # a delete marker with this id becomes the newest version


def plan_delete(state: str, current: ObjectRecord | None, job: Deletion) -> DeletePlan:
    """The plan for `job` (no version id) on the key whose current version is `current`, read in
    the deleting transaction; raises when the job's condition does not hold for it."""
    job.check(current)
    marker_id = job.marker_id
    if state == "Enabled":
        return DeletePlan(False, current is not None, False, marker_id)
    if state == "Suspended":
        null_current = current is not None and current.version_id == NULL_VERSION
        archive = current is not None and not null_current
        return DeletePlan(null_current, archive, not null_current, NULL_VERSION)
    return DeletePlan(current is not None, False, False, None)


def delete_marker(bucket: str, key: str, version_id: str, owner: str, at: datetime) -> ObjectRecord:
    return ObjectRecord(
        bucket=bucket,
        key=key,
        size=0,
        etag="",
        last_modified=at,
        segments=[],
        owner=owner,
        version_id=version_id,
        delete_marker=True,
    )


class SharedStore:
    """The MetadataStore methods that are the same for every backend around its SQL; a backend
    provides the hooks below and its timestamp converters."""

    when: When
    stamp: Stamp
    micros: Micros  # what a listing formats, skipping the datetime

    async def _set_bucket_column(self, name: str, column: str, value: str | None) -> None:
        """Change one column of a bucket's row; NoSuchBucketError if there is none."""
        raise NotImplementedError

    async def _modify(
        self, bucket: str, key: bytes, version_id: str | None, columns: Columns
    ) -> ObjectRecord | None:
        """Change columns of one version in place (the current one without `version_id`; never a
        delete marker): `columns` sees the row in the writing transaction (and may refuse) and says
        which columns take which stored values; the updated record, or None if no such version."""
        raise NotImplementedError

    async def _delete(self, job: Deletion) -> DeleteResult:
        """delete_object, as one Deletion."""
        raise NotImplementedError

    async def _walk_versions(
        self, bucket: str, walk: Generator[VersionQuery, Any, VersionsPage]
    ) -> VersionsPage:
        """Drive `walk_versions`, answering its queries from one consistent read."""
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

    async def set_bucket_ownership(self, name: str, ownership: str | None) -> None:
        await self._set_bucket_column(name, "ownership", ownership)

    async def set_public_access_block(self, name: str, config: str | None) -> None:
        await self._set_bucket_column(name, "public_access_block", config)

    async def put_object(
        self, record: ObjectRecord, condition: WriteCondition | None = None
    ) -> ObjectRecord | None:
        return await self._put_object(record, record.key.encode("utf-8"), condition)

    async def set_bucket_versioning(self, name: str, status: str) -> None:
        await self._set_bucket_column(name, "versioning", status)

    async def set_bucket_object_lock(self, name: str, config: str) -> None:
        await self._set_bucket_column(name, "object_lock", config)

    async def set_bucket_encryption(self, name: str, config: str | None) -> None:
        await self._set_bucket_column(name, "encryption", config)

    async def update_tags(
        self, bucket: str, key: str, tags: dict[str, str], version_id: str | None = None
    ) -> ObjectRecord | None:
        return await self._modify(
            bucket, key.encode("utf-8"), version_id, lambda _: {"tags": dump_json(tags)}
        )

    async def set_object_acl(
        self, bucket: str, key: str, acl: str, version_id: str | None = None
    ) -> ObjectRecord | None:
        return await self._modify(bucket, key.encode("utf-8"), version_id, lambda _: {"acl": acl})

    async def set_retention(
        self, bucket: str, key: str, version_id: str, change: RetentionChange
    ) -> ObjectRecord | None:
        stamp = self.stamp

        def columns(record: ObjectRecord) -> dict[str, Any]:
            change.check(record)
            return {
                "lock_mode": change.mode,
                "lock_until": None if change.until is None else stamp(change.until),
            }

        return await self._modify(bucket, key.encode("utf-8"), version_id, columns)

    async def set_legal_hold(self, bucket: str, key: str, version_id: str, on: bool) -> ObjectRecord | None:
        return await self._modify(bucket, key.encode("utf-8"), version_id, lambda _: {"legal_hold": on})

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
        job = Deletion(bucket, key.encode("utf-8"), version_id, marker_id, bypass_governance, condition)
        return await self._delete(job)

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
        return await self._walk_versions(bucket, walk_versions(span, key_marker, version_id_marker, max_keys))

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
        rows = await self.list_object_rows(
            bucket, prefix=prefix, delimiter=delimiter, after=after, max_keys=max_keys
        )
        return list_page(bucket, rows)

    async def list_object_rows(
        self,
        bucket: str,
        *,
        prefix: str = "",
        delimiter: str = "",
        after: str = "",
        max_keys: int = 1000,
    ) -> ListedRows:
        span = listing_range(prefix, delimiter, after)
        if max_keys <= 0 or span.empty:
            return ListedRows([], False, None, self.when, self.micros)
        entries = await self._list_entries(bucket, span, max_keys + 1)
        page = entries[:max_keys]
        last = page[-1] if page else None
        marker = None if last is None else (last if isinstance(last, bytes) else last[0]).decode("utf-8")
        return ListedRows(page, len(entries) > max_keys, marker, self.when, self.micros)

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
