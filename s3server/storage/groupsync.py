"""Group commit for replica files: one syncfs(2) makes every write before it durable.

fsync'ing each small blob (file, then its directory) costs two journal commits per PUT and most of
the CPU of a small write. Instead a writer closes and renames its file and then waits for the next
flush of the file system it lives on: one thread per file system calls syncfs, which writes back
every dirty file and directory entry of that file system and commits the journal once, and then
releases every writer that was waiting when it started. A writer arriving during a flush waits for
the next one, so nothing is acknowledged before its own bytes are on disk.

Where syncfs is missing (not Linux) the flush falls back to sync(2), which is durable but global.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import ctypes.util
import os
import threading
from collections.abc import Callable

Done = Callable[[BaseException | None], None]


def _load_syncfs() -> Callable[[int], int] | None:
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name, use_errno=True)
        fn = libc.syncfs
    except (OSError, AttributeError):
        return None
    fn.argtypes = [ctypes.c_int]
    fn.restype = ctypes.c_int
    return fn  # type: ignore[no-any-return]


_SYNCFS = _load_syncfs()


def _load_sync_file_range() -> Callable[[int, int, int, int], int] | None:
    try:
        fn = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True).sync_file_range
    except (OSError, AttributeError):
        return None
    fn.argtypes = [ctypes.c_int, ctypes.c_longlong, ctypes.c_longlong, ctypes.c_uint]
    fn.restype = ctypes.c_int
    return fn  # type: ignore[no-any-return]


_SYNC_FILE_RANGE = _load_sync_file_range()
_SYNC_FILE_RANGE_WRITE = 2


def start_writeback(fd: int, offset: int, length: int) -> None:
    """Ask the kernel to start writing a range of a file out now, without waiting: a large blob's
    bytes then reach the disk while the rest still arrives, and the flush at the end waits only for
    the tail. Best effort (a no-op where sync_file_range is missing)."""
    if _SYNC_FILE_RANGE is not None:
        _SYNC_FILE_RANGE(fd, offset, length, _SYNC_FILE_RANGE_WRITE)


def syncfs(fd: int) -> None:
    """Flush the whole file system holding `fd` (and wait); raise OSError on a write-back error."""
    if _SYNCFS is None:
        os.sync()
        return
    if _SYNCFS(fd) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"syncfs: {os.strerror(err)}")


def _resolve(future: asyncio.Future[None], error: BaseException | None) -> None:
    if future.done():
        return
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(None)


class GroupSync:
    """The flusher of one file system (any directory on it will do)."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._fd: int | None = None
        self._cv = threading.Condition()
        self._waiting: list[Done] = []
        self._thread: threading.Thread | None = None
        self._closed = False
        self.flushes = 0  # how many syncfs calls ran (tests read it to see that writers share them)

    def _start(self) -> None:
        if self._thread is None:
            self._fd = os.open(self.path, os.O_RDONLY | os.O_DIRECTORY)
            self._thread = threading.Thread(target=self._main, name="s3-groupsync", daemon=True)
            self._thread.start()

    def _main(self) -> None:
        while True:
            with self._cv:
                while not self._waiting and not self._closed:
                    self._cv.wait()
                if not self._waiting:
                    return
                batch, self._waiting = self._waiting, []
            error: BaseException | None = None
            try:
                assert self._fd is not None
                syncfs(self._fd)
            except OSError as exc:
                error = exc
            self.flushes += 1
            for done in batch:
                done(error)

    def submit(self, done: Done) -> None:
        """Call done(error or None) once a flush that starts after this call has finished."""
        with self._cv:
            if self._closed:
                raise OSError(f"the flusher of {self.path} is closed")
            self._start()
            self._waiting.append(done)
            self._cv.notify()

    async def flush(self) -> None:
        """Wait (without blocking the loop) until everything written so far is durable."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[None] = loop.create_future()

        def done(error: BaseException | None) -> None:
            with contextlib.suppress(RuntimeError):  # the loop closed meanwhile
                loop.call_soon_threadsafe(_resolve, future, error)

        self.submit(done)
        await future

    def close(self) -> None:
        """Finish the flushes asked for, then stop the thread."""
        with self._cv:
            self._closed = True
            self._cv.notify()
        if self._thread is not None:
            self._thread.join()
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


def flushers_for(paths: list[str]) -> dict[str, GroupSync]:
    """One flusher per file system among `paths` (by st_dev), keyed by path."""
    by_dev: dict[int, GroupSync] = {}
    out: dict[str, GroupSync] = {}
    for path in paths:
        dev = os.stat(path).st_dev
        if dev not in by_dev:
            by_dev[dev] = GroupSync(path)
        out[path] = by_dev[dev]
    return out
