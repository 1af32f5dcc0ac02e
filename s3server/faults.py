"""Fault injection for the reliability tests and the console's rollback demo (--enable-fault-injection).

Nothing here is on the request path unless the flag is on: then the metadata store is wrapped in
`FaultyMetadataStore` and drives are built as `FaultyDrive`, both consulting one `Faults` registry
that the admin API (`/_admin/faults`) changes. Corrupting a replica is not a standing fault but an
act: a byte of the replica file is flipped on disk, exactly as bitrot would do it.
"""

from __future__ import annotations

import errno
import functools
import inspect
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from s3server.metadata.base import MetadataError, MetadataStore
from s3server.storage.drives import Drive

# MetadataStore methods that only read; every other coroutine method counts as a write.
METADATA_READS = frozenset(
    {
        "ping",
        "get_bucket",
        "list_buckets",
        "get_object",
        "get_delete_marker",
        "list_objects",
        "list_object_versions",
        "referenced_blobs",
        "get_upload",
        "list_parts",
        "list_uploads",
        "get_kms_key",
        "kms_keys",
        "stale_uploads",
        "bucket_stats",
        "all_bucket_stats",
        "get_bucket_lifecycle",
        "lifecycle_buckets",
    }
)
METADATA_MODES = ("writes", "all")


@dataclass
class DriveFault:
    reads: bool = True
    writes: bool = True


@dataclass
class Faults:
    """The standing faults; plain attributes read without locks (a stale read costs one request)."""

    metadata: str | None = None  # None, "writes" or "all"
    drives: dict[str, DriveFault] = field(default_factory=dict)  # by drive id

    def clear(self) -> None:
        self.metadata = None
        self.drives.clear()

    def describe(self) -> dict[str, Any]:
        return {
            "metadata": self.metadata,
            "drives": {d: {"reads": f.reads, "writes": f.writes} for d, f in self.drives.items()},
        }

    def drive_factory(self) -> Callable[..., Drive]:
        return functools.partial(FaultyDrive, faults=self)


def _injected(what: str) -> OSError:
    return OSError(errno.EIO, f"injected fault: {what}")


class FaultyDrive(Drive):
    """A Drive whose reads and/or writes fail while a fault names it."""

    def __init__(self, drive_id: str, path: Any, *, fsync: bool = True, faults: Faults) -> None:
        super().__init__(drive_id, path, fsync=fsync)
        self.faults = faults

    def _check(self, writing: bool) -> None:
        fault = self.faults.drives.get(self.drive_id)
        if fault is not None and (fault.writes if writing else fault.reads):
            raise _injected(f"drive {self.drive_id} {'write' if writing else 'read'}")

    def create(self, path: str) -> int:
        self._check(True)
        return super().create(path)

    def write(self, fd: int, data: memoryview) -> None:
        self._check(True)
        super().write(fd, data)

    def sync(self, fd: int) -> None:
        self._check(True)
        super().sync(fd)

    def seal(self, fd: int) -> None:
        self._check(True)
        super().seal(fd)

    def publish(self, tmp: str, blob_id: str, durable: bool = True) -> str:
        self._check(True)
        return super().publish(tmp, blob_id, durable)

    def unlink(self, blob_id: str) -> None:
        self._check(True)
        super().unlink(blob_id)

    def open_read(self, blob_id: str) -> int:
        self._check(False)
        return super().open_read(blob_id)

    def pread(self, fd: int, length: int, offset: int) -> bytes:
        self._check(False)
        return super().pread(fd, length, offset)

    def pread_into(self, fd: int, buf: memoryview, offset: int) -> int:
        self._check(False)
        return super().pread_into(fd, buf, offset)


class FaultyMetadataStore:
    """Forwards to the real store, failing writes (or everything) with MetadataError on demand."""

    def __init__(self, inner: MetadataStore, faults: Faults) -> None:
        self._inner = inner
        self._faults = faults

    def __getattr__(self, name: str) -> Any:
        target = getattr(self._inner, name)
        if name in ("open", "close") or not inspect.iscoroutinefunction(target):
            return target
        faults = self._faults
        is_read = name in METADATA_READS

        @functools.wraps(target)
        async def guarded(*args: Any, **kwargs: Any) -> Any:
            mode = faults.metadata
            if mode == "all" or (mode == "writes" and not is_read):
                raise MetadataError(f"injected fault: metadata {name}")
            return await target(*args, **kwargs)

        return guarded


def corrupt_file(path: str, offset: int | None = None) -> int:
    """Flip every bit of one byte of a file in place (the middle byte by default); returns the offset.
    An empty file gets one byte appended, which is just as wrong."""
    fd = os.open(path, os.O_RDWR)
    try:
        size = os.fstat(fd).st_size
        if size == 0:
            os.write(fd, b"\x00")
            return 0
        where = size // 2 if offset is None else max(0, min(offset, size - 1))
        byte = os.pread(fd, 1, where)
        os.pwrite(fd, bytes([byte[0] ^ 0xFF]), where)
        return where
    finally:
        os.close(fd)
