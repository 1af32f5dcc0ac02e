"""Blobs on one local filesystem: UUID-partitioned paths, temp file + fsync + rename + directory fsync.

Layout under the root: `blobs/ab/cd/<uuid>` for committed blobs, `tmp/<uuid>` while writing. A blob
file holds exactly the blob's bytes, so an operator can recover data with `cp`.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import uuid
from collections.abc import AsyncIterator, Iterable
from concurrent.futures import Executor
from pathlib import Path

from s3server.storage.base import StorageError

READ_PIECE = 1024 * 1024


def _fsync_dir(path: str) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class LocalBlobWriter:
    """Writes into tmp/, then commit() moves the file into blobs/ durably."""

    def __init__(self, store: LocalBlobStore, blob_id: str) -> None:
        self.blob_id = blob_id
        self.size = 0
        self._store = store
        self._tmp = os.path.join(store.tmp_dir, blob_id)
        self._fd: int | None = None
        self._done = False

    def write(self, data: bytes | bytearray | memoryview) -> None:
        try:
            if self._fd is None:
                self._fd = os.open(self._tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
            view = memoryview(data)
            while view:
                written = os.write(self._fd, view)
                view = view[written:]
            self.size += len(data)
        except OSError as exc:
            raise StorageError(f"write of blob {self.blob_id} failed: {exc}") from exc

    def commit(self) -> None:
        try:
            if self._fd is None:  # empty blob
                self._fd = os.open(self._tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
            os.fsync(self._fd)
            os.close(self._fd)
            self._fd = None
            final = self._store.path_of(self.blob_id)
            parent = os.path.dirname(final)
            self._store.ensure_dir(parent)
            os.rename(self._tmp, final)
            _fsync_dir(parent)
            self._done = True
        except OSError as exc:
            self.abort()
            raise StorageError(f"commit of blob {self.blob_id} failed: {exc}") from exc

    def abort(self) -> None:
        if self._fd is not None:
            with contextlib.suppress(OSError):
                os.close(self._fd)
            self._fd = None
        if not self._done:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self._tmp)


class LocalBlobStore:
    """A BlobStore on one directory."""

    def __init__(self, root: Path, executor: Executor | None = None) -> None:
        self.root = Path(root)
        self.blob_dir = str(self.root / "blobs")
        self.tmp_dir = str(self.root / "tmp")
        self._executor = executor
        self._known_dirs: set[str] = set()

    async def open(self) -> None:
        os.makedirs(self.blob_dir, exist_ok=True)
        os.makedirs(self.tmp_dir, exist_ok=True)
        # Anything left in tmp/ is from a write that was never acknowledged.
        for name in os.listdir(self.tmp_dir):
            with contextlib.suppress(OSError):
                os.unlink(os.path.join(self.tmp_dir, name))

    async def close(self) -> None:
        return None

    def path_of(self, blob_id: str) -> str:
        return os.path.join(self.blob_dir, blob_id[0:2], blob_id[2:4], blob_id)

    def ensure_dir(self, path: str) -> None:
        if path not in self._known_dirs:
            os.makedirs(path, exist_ok=True)
            self._known_dirs.add(path)

    def new_writer(self) -> LocalBlobWriter:
        return LocalBlobWriter(self, uuid.uuid4().hex)

    async def _run(self, fn, *args):  # type: ignore[no-untyped-def]
        return await asyncio.get_running_loop().run_in_executor(self._executor, fn, *args)

    def _pread(self, blob_id: str, offset: int, length: int) -> bytes:
        try:
            fd = os.open(self.path_of(blob_id), os.O_RDONLY)
        except OSError as exc:
            raise StorageError(f"blob {blob_id} cannot be opened: {exc}") from exc
        try:
            data = os.pread(fd, length, offset)
        finally:
            os.close(fd)
        if len(data) != length:
            raise StorageError(f"blob {blob_id} is shorter than its metadata says")
        return data

    async def read_small(self, blob_id: str, offset: int, length: int) -> bytes:
        return await self._run(self._pread, blob_id, offset, length)

    async def read(self, blob_id: str, offset: int, length: int) -> AsyncIterator[bytes]:
        path = self.path_of(blob_id)
        try:
            fd = await self._run(os.open, path, os.O_RDONLY)
        except OSError as exc:
            raise StorageError(f"blob {blob_id} cannot be opened: {exc}") from exc
        try:
            end = offset + length
            pos = offset
            while pos < end:
                piece = await self._run(os.pread, fd, min(READ_PIECE, end - pos), pos)
                if not piece:
                    raise StorageError(f"blob {blob_id} is shorter than its metadata says")
                pos += len(piece)
                yield piece
        finally:
            os.close(fd)

    def _delete(self, blob_ids: list[str]) -> None:
        for blob_id in blob_ids:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.path_of(blob_id))

    async def delete(self, blob_ids: Iterable[str]) -> None:
        ids = list(blob_ids)
        if ids:
            await self._run(self._delete, ids)

    def _ping(self) -> None:
        probe = os.path.join(self.tmp_dir, f".ping-{uuid.uuid4().hex}")
        with open(probe, "wb") as fh:
            fh.write(b"ok")
        os.unlink(probe)

    async def ping(self) -> None:
        try:
            await self._run(self._ping)
        except OSError as exc:
            raise StorageError(str(exc)) from exc
