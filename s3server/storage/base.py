"""The BlobStore protocol: immutable blobs of bytes named by UUID, written once, read by range.

Writers are synchronous objects driven from a thread pool by the saga, so that hashing and disk I/O
never run on the event loop; readers are async iterators of bytes.

    Exception
     └── StorageError     a drive failed; the saga answers 503 and nothing is acknowledged
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable
from typing import Protocol


class StorageError(Exception):
    """Storage could not write or read a blob."""


class BlobWriter(Protocol):
    """One blob being written. Not thread-safe: one call at a time, from any thread."""

    blob_id: str
    size: int

    def write(self, data: bytes | bytearray | memoryview) -> None: ...

    def commit(self) -> None:
        """Make the blob durable (fsync data and directory entry) and visible under blob_id."""

    def abort(self) -> None:
        """Remove whatever was written; safe to call more than once and after a failure."""


class BlobStore(Protocol):
    async def open(self) -> None: ...

    async def close(self) -> None: ...

    def new_writer(self) -> BlobWriter: ...

    def read(self, blob_id: str, offset: int, length: int) -> AsyncIterator[bytes]:
        """Stream `length` bytes of the blob from `offset`, in pieces of bounded size."""

    async def read_small(self, blob_id: str, offset: int, length: int) -> bytes:
        """Read a small range in one go (one thread hop); for short objects."""

    async def delete(self, blob_ids: Iterable[str]) -> None:
        """Remove blobs; missing ones are not an error."""

    async def ping(self) -> None:
        """Cheap check that the store can be written (health)."""
