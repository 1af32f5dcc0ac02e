"""What every metadata backend shares: byte-order key arithmetic, listing bounds, and field encoding.

Keys are compared as their UTF-8 bytes by every backend, so the bounds of a listing's range scan are
computed here once, on bytes, and each backend only turns them into its own SQL.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from s3server.metadata.base import Segment

__all__ = [
    "ABOVE_ALL_KEYS",
    "ListRange",
    "as_utc",
    "dump_json",
    "dump_part_sizes",
    "dump_segments",
    "key_successor",
    "listing_range",
    "load_dict",
    "load_part_sizes",
    "load_segments",
    "prefix_successor",
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
