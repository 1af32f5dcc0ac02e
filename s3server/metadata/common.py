"""What every metadata backend shares: byte-order key arithmetic, listing bounds, and field encoding.

Keys are compared as their UTF-8 bytes by every backend, so the bounds of a listing's range scan are
computed here once, on bytes, and each backend only turns them into its own SQL.
"""

from __future__ import annotations

import json
from collections.abc import Generator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from s3server.metadata.base import NULL_VERSION, ObjectRecord, Segment, VersionsPage

__all__ = [
    "ABOVE_ALL_KEYS",
    "DeletePlan",
    "KeyVersions",
    "ListRange",
    "MarkerSeq",
    "NextKey",
    "PutPlan",
    "VersionQuery",
    "as_utc",
    "delete_marker",
    "dump_json",
    "dump_part_sizes",
    "dump_segments",
    "key_successor",
    "listing_range",
    "load_dict",
    "load_part_sizes",
    "load_segments",
    "plan_delete",
    "plan_put",
    "prefix_successor",
    "walk_versions",
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
class DeletePlan:
    """How DeleteObject without a version id changes a key, given the bucket's state."""

    remove_current: bool  # the current version goes, its blobs freed
    archive_current: bool  # the current version becomes noncurrent
    drop_null: bool  # the noncurrent "null" version (if any) goes, its blobs freed
    marker_id: str | None  # a delete marker with this id becomes the newest version


def plan_delete(state: str, current: ObjectRecord | None, marker_id: str) -> DeletePlan:
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
