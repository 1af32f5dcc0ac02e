"""The BlobStore protocol: immutable blobs of bytes named by UUID, written once, read by range.

Writers are driven by the saga: write() and seal() from a thread pool, so that hashing and disk I/O
of large bodies never run on the event loop (a small body is cheaper written in place), then an async
commit() that waits for durability; readers are async iterators of bytes. A reader never yields a byte it
has not verified against the checksums recorded when the blob was written.

    Exception
     └── StorageError         a drive failed; the saga answers 503 and nothing is acknowledged
          ├── BlobNotFound     no such blob (deleted, or never committed)
          └── BlobUnreadable   every replica of a blob is missing or corrupt where it was read
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterable
from typing import Protocol

# What a reader may run over each piece it reads (decryption): a piece in, the bytes to stream out.
Opener = Callable[[memoryview], bytes]


class StorageError(Exception):
    """Storage could not write or read a blob."""


class BlobNotFound(StorageError):
    """The storage index has no committed blob of that id."""


class BlobUnreadable(StorageError):
    """No replica could supply a verified copy of some block of the blob."""


class BlobWriter(Protocol):
    """One blob being written. Not thread-safe: one call at a time, from any thread."""

    blob_id: str
    size: int

    def write(self, data: bytes | bytearray | memoryview) -> None: ...

    def write_whole(self, data: bytes | bytearray | memoryview) -> None:
        """The whole of a small blob, as the only write."""

    def seal(self) -> None:
        """Finish writing: close and place every replica (blocking; small blobs may do it on the loop)."""

    async def commit(self, md5_hex: str | None = None) -> None:
        """After seal(): make the blob durable (a group flush of every replica's file system) and
        visible under blob_id; `md5_hex` is the whole blob's MD5 as the caller computed it, kept in
        the index."""

    def abort(self) -> None:
        """Remove whatever was written; safe to call more than once and after a failure."""


class BlobStore(Protocol):
    async def open(self) -> None: ...

    async def close(self) -> None: ...

    def new_writer(self) -> BlobWriter: ...

    def read(
        self, blob_id: str, offset: int, length: int, *, then: Opener | None = None
    ) -> AsyncIterator[bytes]:
        """Stream `length` bytes of the blob from `offset`, in pieces of bounded size; with `then`,
        each piece goes through it, in order, and what it returns is streamed instead. The piece
        handed to `then` is valid only during the call (the store may reuse its buffer)."""

    async def read_small(self, blob_id: str, offset: int, length: int) -> bytes:
        """Read a small range in one go (one thread hop); for short objects."""

    async def delete(self, blob_ids: Iterable[str]) -> None:
        """Remove blobs; missing ones are not an error."""

    async def ping(self) -> None:
        """Cheap check that the store can be written (health)."""
