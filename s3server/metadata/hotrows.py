"""Point-lookup results kept between requests, on one SQLite connection, for as long as nothing has
been committed to the database since.

Why it is correct across threads and worker processes: `PRAGMA data_version` on a connection changes
whenever any other connection (this process's writer, another worker's, the admin CLI's) has
committed to the database file, and every write goes through a connection other than the ones that
read. Each lookup asks it first (a few microseconds, no table read) and drops everything kept when it
moved; a GET then skips the bucket and object rows' queries and their decoding while the database is
quiet, and sees every write on its very next lookup. Results are per connection (one per thread), so
a connection's counter is only ever compared with itself.

Records are mutable dataclasses: callers get a copy. Buckets are frozen and shared as they are.
"""

from __future__ import annotations

import sqlite3
import threading
from typing import Any

from s3server.metadata.base import ObjectRecord

__all__ = ["HotRows", "clone_record"]

LIMIT = 8192  # entries kept per connection before they are dropped wholesale

_RECORD_SLOTS = ObjectRecord.__slots__
_new = object.__new__
_set = object.__setattr__


def clone_record(record: ObjectRecord) -> ObjectRecord:
    """A shallow copy (fields reassigned by a caller stay its own; nested values are never mutated)."""
    copy = _new(ObjectRecord)
    for name in _RECORD_SLOTS:
        _set(copy, name, getattr(record, name))
    return copy


class _Kept:
    __slots__ = ("rows", "version")

    def __init__(self) -> None:
        self.version: int | None = None
        self.rows: dict[Any, Any] = {}


class HotRows:
    """One dict of kept lookups per thread (each thread reads on its own connection)."""

    def __init__(self) -> None:
        self._local = threading.local()

    def on(self, conn: sqlite3.Connection) -> dict[Any, Any]:
        """The lookups kept on `conn`, emptied first if anything was committed since they were."""
        kept: _Kept | None = getattr(self._local, "kept", None)
        if kept is None:
            kept = self._local.kept = _Kept()
        version = conn.execute("PRAGMA data_version").fetchone()[0]
        if version != kept.version or len(kept.rows) >= LIMIT:
            kept.rows.clear()
            kept.version = version
        return kept.rows
