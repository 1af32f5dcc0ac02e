"""Blobs replicated across drives, with per-block checksums verified on every read.

Write: one pass over the incoming stream; each piece is hashed once (xxh3-64 per 1 MiB block) and
written to a temporary file on each of the N drives the blob ranks highest on (rendezvous hashing).
seal() closes every replica and renames it into place; commit() waits for the group flush of each
replica's file system (storage/groupsync.py: one syncfs covers every blob written before it), and only
then records the blob in the storage index. A small blob is written straight to its place (no
temporary file, no rename: each costs a journal-heavy system call). A crash before the flush can
leave a placed but incomplete file; it has no index row and no object references it, so the reaper
removes it once it is older than its grace period. A replica that fails while writing is dropped as long as
a majority remains (the index lists the replicas actually written; scrub tops the blob up later).

Read: whole blocks, aligned to block boundaries, each verified against the index before any of its
bytes leave; a missing, unreadable or corrupt replica fails over to the next one mid-stream and is
repaired in the background from the good copies. When no replica has a good copy of a block the
read raises BlobUnreadable: before the first byte the client gets a 503, after it the connection is
cut; never wrong bytes.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import os
import threading
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Sequence
from concurrent.futures import Executor, Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

from s3server.storage.base import BlobNotFound, BlobUnreadable, Opener, StorageError
from s3server.storage.drives import Drive, is_blob_id, open_drives, rank
from s3server.storage.groupsync import start_writeback
from s3server.storage.index import BLOCK_SIZE, BlobInfo, BlockHasher, StorageIndex, block_digest

log = logging.getLogger("s3server.storage")

T = TypeVar("T")

CACHE_ENTRIES = 16384  # index rows kept in memory for GETs (rows never change, except replica lists)
REPAIRS_AT_ONCE = 2
INLINE_READ = 64 * 1024  # read_small reads at most this much on the event loop itself
WRITEBACK_BYTES = 8 * 1024 * 1024  # a large blob's bytes are pushed to disk in windows of this size
HOPELESS_SECONDS = 600.0  # after a failed repair, reads of that blob do not trigger another for a while


def _close(fd: int | None) -> None:
    if fd is not None:
        with contextlib.suppress(OSError):
            os.close(fd)


def _unlink(path: str | None) -> None:
    if path:
        with contextlib.suppress(OSError):
            os.unlink(path)


class _Target:
    """One replica being written."""

    __slots__ = ("drive", "fd", "final", "tmp")

    def __init__(self, drive: Drive) -> None:
        self.drive = drive
        self.tmp: str | None = None
        self.fd: int | None = None
        self.final: str | None = None


class ReplicatedWriter:
    """Writes one blob to its replicas; see the module docstring for the commit protocol."""

    def __init__(self, store: ReplicatedBlobStore, blob_id: str, drives: Sequence[Drive]) -> None:
        self.blob_id = blob_id
        self.size = 0
        self._store = store
        self._targets = [_Target(d) for d in drives]
        self._opened = False
        self._finished = False
        self._hasher = BlockHasher()
        self.blocks = b""  # the block checksums, once committed
        # commit() and abort() may overlap when a request is cancelled mid-commit: abort then waits
        # and finds the blob committed (an unreferenced blob the reaper removes later).
        self._lock = threading.Lock()

    @property
    def replicas(self) -> tuple[str, ...]:
        return tuple(t.drive.drive_id for t in self._targets)

    def _open(self, direct: bool = False) -> None:
        self._opened = True
        for target in list(self._targets):
            try:
                if direct:
                    target.final = target.drive.final_path(self.blob_id)
                    target.fd = target.drive.create(target.final)
                    continue
                target.tmp = target.drive.new_tmp_path(self.blob_id)
                target.fd = target.drive.create(target.tmp)
            except OSError as exc:
                target.tmp = target.final = None
                self._drop(target, exc)
            else:
                if target.tmp is not None:
                    self._store.live_tmp.add(target.tmp)
        self._check_quorum()

    def write_whole(self, data: bytes | bytearray | memoryview) -> None:
        """Write a small blob in one go straight to its final place: no temporary file, no rename.
        Until commit() indexes it, the file is like any unindexed one (see the module docstring)."""
        if not self._opened:
            self._open(direct=True)
        self.write(data)

    def _drop(self, target: _Target, exc: BaseException) -> None:
        log.warning("blob %s: dropping the replica on %s: %s", self.blob_id, target.drive, exc)
        self._discard(target)
        self._targets.remove(target)

    def _discard(self, target: _Target) -> None:
        _close(target.fd)
        target.fd = None
        if target.tmp is not None:
            _unlink(target.tmp)
            self._store.live_tmp.discard(target.tmp)
            target.tmp = None
        if target.final is not None:
            _unlink(target.final)
            target.final = None

    def _check_quorum(self) -> None:
        if len(self._targets) < self._store.write_quorum:
            self._abort()
            raise StorageError(
                f"blob {self.blob_id}: only {len(self._targets)} of {self._store.replicas} replicas could be "
                f"written (at least {self._store.write_quorum} needed)"
            )

    def write(self, data: bytes | bytearray | memoryview) -> None:
        if self._finished:
            raise StorageError(f"blob {self.blob_id} is already committed or aborted")
        if not self._opened:
            self._open()
        view = memoryview(data)
        self._hasher.update(view)
        start = self.size
        end = start + len(view)
        window = (end // WRITEBACK_BYTES) * WRITEBACK_BYTES  # a window boundary crossed: write it out
        for target in list(self._targets):
            try:
                target.drive.write(target.fd, view)  # type: ignore[arg-type]
                if window > start:
                    start_writeback(target.fd, window - WRITEBACK_BYTES, WRITEBACK_BYTES)  # type: ignore[arg-type]
            except OSError as exc:
                self._drop(target, exc)
        self._check_quorum()
        self.size = end

    def _on_every_target(self, step: Callable[[_Target], None]) -> None:
        """Run `step` for each replica (in parallel when there are several and we are on a worker
        thread; the event loop only ever runs quick steps, one after another); failed replicas are
        dropped."""
        targets = list(self._targets)
        if len(targets) == 1 or threading.get_ident() == self._store.loop_thread:
            outcomes: list[BaseException | None] = []
            for target in targets:
                try:
                    step(target)
                    outcomes.append(None)
                except OSError as exc:
                    outcomes.append(exc)
        else:
            futures = [self._store.fanout.submit(step, t) for t in targets[1:]]
            outcomes = []
            try:
                step(targets[0])
                outcomes.append(None)
            except OSError as exc:
                outcomes.append(exc)
            for future in futures:
                exc = future.exception()
                if exc is not None and not isinstance(exc, OSError):
                    raise exc
                outcomes.append(exc)
        for target, exc in zip(targets, outcomes, strict=True):
            if exc is not None:
                self._drop(target, exc)
        self._check_quorum()

    def seal(self) -> None:
        """Close every replica file and move it into place (not yet durable: see commit)."""
        with self._lock:
            if self._finished:
                raise StorageError(f"blob {self.blob_id} is already committed or aborted")
            try:
                if not self._opened:
                    self._open()

                def seal(target: _Target) -> None:
                    target.drive.seal(target.fd)  # type: ignore[arg-type]
                    target.fd = None

                def publish(target: _Target) -> None:
                    if target.tmp is None:
                        return  # written in place (write_whole)
                    target.final = target.drive.publish(target.tmp, self.blob_id, durable=False)
                    self._store.live_tmp.discard(target.tmp)
                    target.tmp = None

                self._on_every_target(seal)
                self._on_every_target(publish)
            except BaseException as exc:
                self._abort()
                if isinstance(exc, OSError):
                    raise StorageError(f"commit of blob {self.blob_id} failed: {exc}") from exc
                raise

    async def commit(self, md5_hex: str | None = None) -> None:
        """After seal(): wait for the group flush of every replica's file system, then record the
        blob in the storage index. Only then does the blob exist."""
        try:
            if self._finished:
                raise StorageError(f"blob {self.blob_id} is already committed or aborted")
            if not self.blocks:
                self.blocks = self._hasher.finish()
            flushers = {id(t.drive.flusher): t.drive for t in self._targets}
            await asyncio.gather(*(drive.flush() for drive in flushers.values()))
        except BaseException as exc:
            self.abort()
            if isinstance(exc, OSError):
                raise StorageError(f"commit of blob {self.blob_id} failed: {exc}") from exc
            raise
        info = BlobInfo(
            blob_id=self.blob_id,
            size=self.size,
            md5=md5_hex,
            block_size=BLOCK_SIZE,
            blocks=self.blocks,
            replicas=self.replicas,
            created=time.time(),
        )
        # From here the files are the index's: a cancelled caller leaves a committed blob that no
        # object references, which the reaper removes; a failed insert removes the files.
        self._finished = True
        insert = asyncio.ensure_future(self._store.index.insert(info))
        try:
            await asyncio.shield(insert)
        except asyncio.CancelledError:
            raise
        except BaseException:
            self._finished = False
            self.abort()
            raise
        self._store.remember(info)

    def abort(self) -> None:
        with self._lock:
            self._abort()

    def _abort(self) -> None:
        if self._finished:
            return
        self._finished = True
        for target in self._targets:
            self._discard(target)


class _Reader:
    """Verified blocks of one blob, failing over between replicas; runs on worker threads."""

    def __init__(self, store: ReplicatedBlobStore, info: BlobInfo) -> None:
        self.info = info
        self.drives = [store.by_id.get(d) for d in info.replicas]
        self.fds: dict[int, int] = {}
        self.dead: set[int] = set()  # replicas that could not be opened or read at all
        self.current = 0
        self.bad: list[str] = []  # what went wrong, for the log and the repair

    def block(self, b: int, buf: memoryview | None = None) -> bytes | memoryview:
        """Block b, verified; read into `buf` (at least a block long) when given, else a new bytes."""
        info = self.info
        want = info.block_length(b)
        offset = b * info.block_size
        expected = info.digest(b)
        n = len(self.drives)
        for k in range(n):
            i = (self.current + k) % n
            drive = self.drives[i]
            if i in self.dead:
                continue
            if drive is None:
                self.dead.add(i)
                self.bad.append(f"replica {info.replicas[i]} is on a drive that is not configured")
                continue
            try:
                fd = self.fds.get(i)
                if fd is None:
                    fd = drive.open_read(info.blob_id)
                    self.fds[i] = fd
                if buf is None:
                    data: bytes | memoryview = drive.pread(fd, want, offset)
                else:
                    data = buf[: drive.pread_into(fd, buf[:want], offset)]
            except OSError as exc:
                self.dead.add(i)
                self.bad.append(f"replica on {drive}: {exc}")
                continue
            if len(data) != want or block_digest(data) != expected:
                self.bad.append(f"replica on {drive}: block {b} fails its checksum")
                continue
            self.current = i
            return data
        raise BlobUnreadable(f"blob {info.blob_id}: no replica has a good copy of block {b}")

    def range(self, offset: int, length: int) -> bytes:
        bs = self.info.block_size
        b = offset // bs
        if (offset + length - 1) // bs == b:  # one block (every small object): one pread, no copies
            data = self.block(b)
            start = offset - b * bs
            return data if start == 0 and length == len(data) else data[start : start + length]
        out = bytearray()
        pos, end = offset, offset + length
        while pos < end:
            b = pos // bs
            data = self.block(b)
            start = pos - b * bs
            piece = data[start : min(len(data), end - b * bs)]
            out += piece
            pos += len(piece)
        return bytes(out)

    def close(self) -> None:
        for fd in self.fds.values():
            _close(fd)
        self.fds.clear()


@dataclass
class Verdict:
    """What checking one blob found, and did."""

    blob_id: str
    # "ok"; "repaired"; "degraded" (every block has a good copy, but fewer good replicas than wanted
    # remain and none could be written); "unrecoverable" (some block has no good copy anywhere)
    status: str
    problems: list[str] = field(default_factory=list)
    written: list[str] = field(default_factory=list)  # drive ids that received a fresh replica


class ReplicatedBlobStore:
    """A BlobStore over several local drives with a SQLite storage index."""

    def __init__(
        self,
        index_path: Path,
        drive_paths: Sequence[Path],
        replicas: int,
        executor: Executor | None = None,
        *,
        fsync: bool = True,
        drive_factory: Callable[..., Drive] = Drive,
    ) -> None:
        """`fsync=False` exists to measure what durability costs; the server always flushes."""
        if not drive_paths:
            raise ValueError("at least one drive is needed")
        if not 1 <= replicas <= len(drive_paths):
            raise ValueError(
                f"--replicas {replicas} needs between 1 and {len(drive_paths)} (the number of drives)"
            )
        self.index = StorageIndex(index_path)
        self.drive_paths = [Path(p) for p in drive_paths]
        self.replicas = replicas
        self.write_quorum = replicas // 2 + 1
        self.fsync = fsync
        self.drives: list[Drive] = []
        self.by_id: dict[str, Drive] = {}
        self.live_tmp: set[str] = set()  # temporary files of writers in this process
        self._executor = executor
        self._own_executor: ThreadPoolExecutor | None = None
        self._drive_factory = drive_factory
        self._cache: dict[str, BlobInfo] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self.loop_thread = 0
        self._repairing: set[str] = set()
        self._hopeless: dict[str, float] = {}  # blob id -> when a repair last found it unrecoverable
        self._tasks: set[asyncio.Task[None]] = set()
        self._deleting: list[tuple[list[str], asyncio.Future[int]]] = []  # waiting for a delete pass
        self._delete_task: asyncio.Task[None] | None = None
        self._passing = False  # a delete pass is running (a caller's own, or the task's)
        self._repair_slots = asyncio.Semaphore(REPAIRS_AT_ONCE)
        self.fanout = ThreadPoolExecutor(
            max_workers=min(64, 8 * len(drive_paths)), thread_name_prefix="s3rep"
        )

    # -- lifecycle

    async def open(self) -> None:
        self._loop = asyncio.get_running_loop()
        self.loop_thread = threading.get_ident()
        if self._executor is None:
            self._own_executor = ThreadPoolExecutor(max_workers=8, thread_name_prefix="s3blob")
            self._executor = self._own_executor
        await self.index.open()
        try:
            known = await self.index.drives()
            self.drives = await self.run(
                open_drives, self.drive_paths, known, fsync=self.fsync, factory=self._drive_factory
            )
            await self.index.record_drives([(d.drive_id, str(d.path)) for d in self.drives])
        except BaseException:
            await self.index.close()
            raise
        self.by_id = {d.drive_id: d for d in self.drives}

    async def close(self) -> None:
        if self._delete_task is not None:
            with contextlib.suppress(BaseException):
                await self._delete_task
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(BaseException):
                await task
        # A cancelled repair's thread may still be waiting on an index call that needs this loop,
        # so the pools are drained from another thread while the loop keeps running, and only
        # then is the index closed.
        await asyncio.to_thread(self.fanout.shutdown, wait=True)
        if self._own_executor is not None:
            await asyncio.to_thread(self._own_executor.shutdown, wait=True)
        await self.index.close()
        for flusher in {id(d.flusher): d.flusher for d in self.drives if d.flusher is not None}.values():
            flusher.close()

    # -- plumbing

    async def run(self, fn: Callable[..., T], *args: object, **kwargs: object) -> T:
        loop = asyncio.get_running_loop()
        if kwargs:
            return await loop.run_in_executor(self._executor, lambda: fn(*args, **kwargs))
        return await loop.run_in_executor(self._executor, fn, *args)

    def blocking(self, coro: Awaitable[T]) -> T:
        """Run an index coroutine from a worker thread and wait for it."""
        assert self._loop is not None
        if threading.get_ident() == self.loop_thread:
            raise RuntimeError("blocking index call on the event loop thread")
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result()  # type: ignore[arg-type]

    def remember(self, info: BlobInfo) -> None:
        cache = self._cache
        cache[info.blob_id] = info
        if len(cache) > CACHE_ENTRIES:
            del cache[next(iter(cache))]

    async def info(self, blob_id: str) -> BlobInfo:
        """The blob's index row (cached); BlobNotFound when there is none."""
        found = self._cache.get(blob_id)
        if found is not None:
            return found
        found = await self.index.get(blob_id)
        if found is None:
            found = await self._reindex(blob_id)
        if found is None or found.state != "committed":
            raise BlobNotFound(f"blob {blob_id} does not exist")
        self.remember(found)
        return found

    async def _reindex(self, blob_id: str) -> BlobInfo | None:
        """Index replica files that have no row (lost in a power cut, see index.py). Only blobs that
        metadata references are ever read, and deletion unlinks files before dropping the row, so a
        file found here belongs to a live object."""
        if not is_blob_id(blob_id):
            return None
        holders = await self.run(
            lambda: [d.drive_id for d in self.drives if os.path.exists(d.path_of(blob_id))]
        )
        if not holders:
            return None
        info = await self.run(self.adopt, blob_id, holders)
        if info is None:
            return None
        log.warning("blob %s had no index row: indexed it again from its replica files", blob_id)
        await self.index.insert(info, on_conflict="IGNORE")
        return await self.index.get(blob_id)

    def drive(self, key: str | int) -> Drive:
        """A configured drive by position, id or path."""
        if isinstance(key, int) or key.isdigit():
            if 0 <= int(key) < len(self.drives):
                return self.drives[int(key)]
            raise KeyError(key)
        for drive in self.drives:
            if key == drive.drive_id or Path(key).absolute() == drive.path:
                return drive
        raise KeyError(key)

    # -- writing

    def new_writer(self, blob_id: str | None = None) -> ReplicatedWriter:
        """A writer for a new blob; `blob_id` is given by a storage node, whose gateway chose it."""
        blob_id = blob_id or uuid.uuid4().hex
        ranked = rank(blob_id, self.drives)
        chosen = [d for d in ranked if d.online][: self.replicas]
        return ReplicatedWriter(self, blob_id, chosen)

    # -- reading

    @staticmethod
    def _check_range(info: BlobInfo, offset: int, length: int) -> None:
        if offset < 0 or length < 0 or offset + length > info.size:
            raise StorageError(f"blob {info.blob_id} has {info.size} bytes, not {offset}+{length}")

    async def _after_failure(self, info: BlobInfo, reader: _Reader, exc: BlobUnreadable) -> StorageError:
        """Tell a deleted blob (row gone, or being deleted) from a damaged one."""
        row = await self.index.get(info.blob_id)
        if row is None or row.state != "committed":
            self._cache.pop(info.blob_id, None)
            return BlobNotFound(f"blob {info.blob_id} does not exist")
        log.error("%s (%s)", exc, "; ".join(reader.bad))
        return exc

    def _note(self, info: BlobInfo, reader: _Reader, reported: int) -> int:
        """Log new replica failures and schedule the repair once; returns how many were reported."""
        if len(reader.bad) > reported:
            for problem in reader.bad[reported:]:
                log.warning("blob %s: %s", info.blob_id, problem)
            self.repair_later(info.blob_id)
        return len(reader.bad)

    async def read(
        self,
        blob_id: str,
        offset: int,
        length: int,
        *,
        then: Opener | None = None,
    ) -> AsyncIterator[bytes]:
        """The bytes [offset, offset+length) in verified pieces of up to a block.

        One block is read ahead: block b+1's read runs on a worker thread while the caller sends
        block b, so the disk read overlaps the event loop's work instead of adding to it. `then`
        (decryption) turns each piece into what is yielded, on that worker thread, in order; its
        piece is a view of one buffer the read reuses, valid only during the call, which spares a
        fresh megabyte (and its page faults) per block.
        """
        info = await self.info(blob_id)
        self._check_range(info, offset, length)
        if length <= 0:
            return
        assert self._executor is not None
        reader = _Reader(self, info)
        reported = 0
        bs = info.block_size
        end = offset + length
        b, last = offset // bs, (end - 1) // bs

        buf = None if then is None else memoryview(bytearray(bs))

        def fetch(b: int) -> bytes:
            data = reader.block(b, buf)
            start, stop = max(0, offset - b * bs), min(len(data), end - b * bs)
            piece = data if start == 0 and stop == len(data) else data[start:stop]
            if then is None:
                assert isinstance(piece, bytes)
                return piece
            return then(memoryview(piece))

        ahead: Future[bytes] | None = self._executor.submit(fetch, b)
        try:
            while ahead is not None:
                try:
                    piece = await asyncio.wrap_future(ahead)
                except BlobUnreadable as exc:
                    ahead = None
                    self._note(info, reader, reported)
                    raise await self._after_failure(info, reader, exc) from None
                # The reader is the next read's alone from here on: note this block's failures first.
                reported = self._note(info, reader, reported)
                ahead = self._executor.submit(fetch, b + 1) if b < last else None
                b += 1
                yield piece
        finally:
            if ahead is not None and not ahead.done():
                ahead.add_done_callback(lambda _: reader.close())  # close its files once it is done
            else:
                reader.close()

    async def read_small(self, blob_id: str, offset: int, length: int) -> bytes:
        info = await self.info(blob_id)
        self._check_range(info, offset, length)
        reader = _Reader(self, info)
        try:
            if length <= INLINE_READ:
                data = reader.range(offset, length)  # a few system calls: cheaper than a thread hop
            else:
                data = await self.run(reader.range, offset, length)
        except BlobUnreadable as exc:
            self._note(info, reader, 0)
            raise await self._after_failure(info, reader, exc) from None
        finally:
            reader.close()
        self._note(info, reader, 0)
        return data

    # -- deleting

    def _unlink_replicas(
        self, blob_ids: list[str], infos: dict[str, BlobInfo]
    ) -> tuple[list[str], list[str]]:
        removed: list[str] = []
        pending: list[str] = []
        for blob_id in blob_ids:
            info = infos.get(blob_id)
            drives = [self.by_id[d] for d in info.replicas if d in self.by_id] if info else self.drives
            ok = True
            for drive in drives:
                try:
                    drive.unlink(blob_id)
                except OSError as exc:
                    log.warning("blob %s: could not remove the replica on %s: %s", blob_id, drive, exc)
                    ok = False
            (removed if ok else pending).append(blob_id)
        return removed, pending

    async def delete(self, blob_ids: Iterable[str]) -> None:
        """Remove blobs: marked 'deleting' in the index, their files unlinked, their rows dropped,
        all before this returns. Deletes that arrive while a pass runs share the next one (one
        index commit each side, one trip to a worker thread): DeleteObject at c=32 removes a blob
        per request, and the pass per blob had cost more than the rest of the request."""
        ids = list(dict.fromkeys(blob_ids))
        if not ids:
            return
        for blob_id in ids:
            self._cache.pop(blob_id, None)
        loop = asyncio.get_running_loop()
        done: asyncio.Future[int] = loop.create_future()
        self._deleting.append((ids, done))
        if not self._passing:
            # No pass running: this caller runs one itself (a delete alone costs no task), then
            # hands the deletes that arrived meanwhile to a task that passes until none waits.
            self._passing = True
            try:
                await self._delete_pass()
            finally:
                if self._deleting:
                    self._delete_task = loop.create_task(self._delete_passes())
                else:
                    self._passing = False
        left = await done
        if left:
            raise StorageError(f"{left} blob(s) could not be removed from every drive yet")

    async def _delete_pass(self) -> None:
        """One pass over every delete waiting; each waiter learns how many of its blobs are left."""
        batch, self._deleting = self._deleting, []
        ids = list(dict.fromkeys(blob_id for wanted, _ in batch for blob_id in wanted))
        try:
            infos = await self.index.begin_delete(ids)
            removed, pending = await self.run(self._unlink_replicas, ids, infos)
            await self.index.drop(removed)
        except BaseException as exc:
            for _, done in batch:
                if not done.done():
                    done.set_exception(exc)
            if not isinstance(exc, Exception):
                raise
            return
        left = set(pending)
        for wanted, done in batch:
            if not done.done():
                done.set_result(sum(1 for blob_id in wanted if blob_id in left))

    async def _delete_passes(self) -> None:
        """Passes until no delete waits (one arriving during a pass waits for the next)."""
        try:
            while self._deleting:
                await self._delete_pass()
        finally:
            self._passing = False
            self._delete_task = None
            stranded, self._deleting = self._deleting, []  # only when a pass was cancelled
            for _, done in stranded:
                if not done.done():
                    done.set_exception(StorageError("blob deletion stopped (the store is closing)"))

    async def finish_deletes(self, limit: int = 500) -> int:
        """Retry blobs left in state 'deleting'; returns how many are now gone."""
        rows = await self.index.deleting(limit)
        if not rows:
            return 0
        removed, _ = await self.run(
            self._unlink_replicas, [r.blob_id for r in rows], {r.blob_id: r for r in rows}
        )
        await self.index.drop(removed)
        return len(removed)

    # -- health

    def _ping(self) -> None:
        for drive in self.drives:
            if not drive.online:
                raise StorageError(f"{drive} is offline (its {drive.marker} is missing)")
            probe = os.path.join(drive.tmp_dir, f".ping-{uuid.uuid4().hex}")
            with open(probe, "wb") as fh:
                fh.write(b"ok")
            os.unlink(probe)

    async def ping(self) -> None:
        try:
            await self.run(self._ping)
        except OSError as exc:
            raise StorageError(str(exc)) from exc

    # -- verification and repair (background after a failed read, and scrub)

    def repair_later(self, blob_id: str) -> None:
        """Check and repair a blob in the background, once at a time per blob."""
        if blob_id in self._repairing or self._loop is None:
            return
        failed_at = self._hopeless.get(blob_id)
        if failed_at is not None and time.monotonic() - failed_at < HOPELESS_SECONDS:
            return  # every read would otherwise re-read every replica in full, again and again
        self._repairing.add(blob_id)
        task = self._loop.create_task(self._repair(blob_id))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def wait_repairs(self) -> None:
        """Wait for the background repairs scheduled so far (tests, orderly shutdown)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def _repair(self, blob_id: str) -> None:
        try:
            async with self._repair_slots:
                info = await self.index.get(blob_id)
                if info is None or info.state != "committed":
                    return
                verdict = await self.run(self.check_blob, info, True)
                if verdict.status == "repaired":
                    log.info(
                        "blob %s repaired: wrote %s (%s)",
                        blob_id,
                        verdict.written,
                        "; ".join(verdict.problems),
                    )
                elif verdict.status == "unrecoverable":
                    log.error("blob %s is unrecoverable: %s", blob_id, "; ".join(verdict.problems))
                if verdict.status in ("repaired", "ok"):
                    self._hopeless.pop(blob_id, None)
                else:
                    if len(self._hopeless) > CACHE_ENTRIES:
                        self._hopeless.clear()
                    self._hopeless[blob_id] = time.monotonic()
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("background repair of blob %s failed", blob_id)
        finally:
            self._repairing.discard(blob_id)

    def _verify_replica(self, drive: Drive, info: BlobInfo, problems: list[str]) -> list[bool] | None:
        """Per-block verdicts of one replica, or None when it cannot be read at all. Also None for a
        replica with the wrong size, which is rewritten whole."""
        try:
            fd = drive.open_read(info.blob_id)
        except OSError as exc:
            problems.append(f"replica on {drive}: {exc.strerror or exc}")
            return None
        try:
            size = os.fstat(fd).st_size
            oks = []
            for b in range(info.block_count):
                want = info.block_length(b)
                data = drive.pread(fd, want, b * info.block_size)
                oks.append(len(data) == want and block_digest(data) == info.digest(b))
        except OSError as exc:
            problems.append(f"replica on {drive}: {exc.strerror or exc}")
            return None
        finally:
            _close(fd)
        bad = oks.count(False)
        if bad:
            problems.append(f"replica on {drive}: {bad} of {len(oks)} block(s) fail their checksum")
        if size != info.size:
            problems.append(f"replica on {drive}: {size} bytes, expected {info.size}")
            return [ok and (b + 1) * info.block_size <= size for b, ok in enumerate(oks)] + [False]
        return oks

    def _good_block(
        self, info: BlobInfo, b: int, sources: list[tuple[Drive, list[bool]]], fds: dict[str, int]
    ) -> bytes:
        want = info.block_length(b)
        for drive, oks in sources:
            if b >= len(oks) or not oks[b]:
                continue
            try:
                fd = fds.get(drive.drive_id)
                if fd is None:
                    fd = fds[drive.drive_id] = drive.open_read(info.blob_id)
                data = drive.pread(fd, want, b * info.block_size)
            except OSError:
                continue
            if len(data) == want and block_digest(data) == info.digest(b):
                return data
        raise BlobUnreadable(f"blob {info.blob_id}: block {b} has no good copy left")

    def _rebuild(self, drive: Drive, info: BlobInfo, sources: list[tuple[Drive, list[bool]]]) -> bool:
        """Write a fresh replica on `drive` from verified blocks of the others, atomically."""
        tmp = drive.new_tmp_path(info.blob_id)
        fds: dict[str, int] = {}
        fd: int | None = None
        try:
            fd = drive.create(tmp)
            self.live_tmp.add(tmp)
            for b in range(info.block_count):
                drive.write(fd, memoryview(self._good_block(info, b, sources, fds)))
            drive.sync(fd)
            os.close(fd)
            fd = None
            if self._loop is not None:
                row = self.blocking(self.index.get(info.blob_id))
                if row is None or row.state != "committed":
                    return False  # being deleted meanwhile
            drive.publish(tmp, info.blob_id)
            return True
        except (OSError, BlobUnreadable) as exc:
            log.warning("blob %s: could not write a replica on %s: %s", info.blob_id, drive, exc)
            return False
        finally:
            _close(fd)
            for source_fd in fds.values():
                _close(source_fd)
            _unlink(tmp)
            self.live_tmp.discard(tmp)

    def check_blob(self, info: BlobInfo, repair: bool = True) -> Verdict:
        """Read every replica in full; rewrite the damaged ones from good blocks and add replicas
        until the blob has --replicas of them again. Runs on a worker thread."""
        problems: list[str] = []
        states: list[tuple[str, Drive | None, list[bool] | None]] = []
        for drive_id in info.replicas:
            drive = self.by_id.get(drive_id)
            if drive is None:
                problems.append(f"replica on drive {drive_id}, which is not configured")
                states.append((drive_id, None, None))
            else:
                states.append((drive_id, drive, self._verify_replica(drive, info, problems)))
        sources = [(d, oks) for _, d, oks in states if d is not None and oks is not None]
        intact = [d for _, d, oks in states if d is not None and oks is not None and all(oks)]
        broken = [(i, d) for i, d, oks in states if d is None or oks is None or not all(oks)]
        if not broken and len(intact) >= self.replicas:
            return Verdict(info.blob_id, "ok", problems)
        recoverable = all(any(b < len(oks) and oks[b] for _, oks in sources) for b in range(info.block_count))
        if not recoverable:
            return Verdict(info.blob_id, "unrecoverable", problems)
        if not repair:
            return Verdict(info.blob_id, "degraded", problems)
        healthy = [d.drive_id for d in intact]
        written: list[str] = []
        tried: set[str] = set(healthy)
        for _, drive in broken:
            if drive is None:
                continue
            tried.add(drive.drive_id)
            if drive.online and self._rebuild(drive, info, sources):
                healthy.append(drive.drive_id)
                written.append(drive.drive_id)
        for drive in rank(info.blob_id, self.drives):
            if len(healthy) >= self.replicas:
                break
            if drive.drive_id in tried or not drive.online:
                continue
            tried.add(drive.drive_id)
            if self._rebuild(drive, info, sources):
                healthy.append(drive.drive_id)
                written.append(drive.drive_id)
                problems.append(f"added a replica on {drive}")
        if not healthy:
            return Verdict(info.blob_id, "unrecoverable", problems, written)
        if tuple(healthy) != info.replicas:
            ordered = [d for d in info.replicas if d in healthy] + [
                d for d in healthy if d not in info.replicas
            ]
            if self.blocking(self.index.set_replicas(info.blob_id, ordered)):
                self._cache.pop(info.blob_id, None)
                for drive_id in info.replicas:
                    if drive_id not in healthy and drive_id in self.by_id:
                        with contextlib.suppress(OSError):
                            self.by_id[drive_id].unlink(info.blob_id)
        degraded = len(healthy) < min(self.replicas, len(info.replicas))
        return Verdict(
            info.blob_id, "degraded" if degraded and not written else "repaired", problems, written
        )

    # -- housekeeping for the reaper

    def clean_temp(self, older_than: float) -> int:
        """Remove temporary files (crash leftovers) last modified before `older_than`."""
        removed = 0
        for drive in self.drives:
            try:
                names = os.listdir(drive.tmp_dir)
            except OSError:
                continue
            for name in names:
                path = os.path.join(drive.tmp_dir, name)
                if path in self.live_tmp:
                    continue
                try:
                    if os.stat(path).st_mtime < older_than:
                        os.unlink(path)
                        removed += 1
                except OSError:
                    continue
        return removed

    def scan_files(self, drive: Drive, top: str) -> list[tuple[str, float]]:
        """(blob id, mtime) of the replica files under blobs/<top>/ on one drive."""
        found: list[tuple[str, float]] = []
        base = os.path.join(drive.blobs_dir, top)
        try:
            subdirs = os.listdir(base)
        except OSError:
            return found
        for sub in subdirs:
            try:
                with os.scandir(os.path.join(base, sub)) as entries:
                    for entry in entries:
                        if is_blob_id(entry.name):
                            with contextlib.suppress(OSError):
                                found.append((entry.name, entry.stat().st_mtime))
            except OSError:
                continue
        return found

    def top_dirs(self, drive: Drive) -> list[str]:
        try:
            return sorted(os.listdir(drive.blobs_dir))
        except OSError:
            return []

    def adopt(self, blob_id: str, drive_ids: Sequence[str]) -> BlobInfo | None:
        """Index a replica file the index does not know but metadata references (an index lost or
        older than the data): checksums are computed from the first copy that reads in full."""
        for drive_id in drive_ids:
            drive = self.by_id[drive_id]
            try:
                fd = drive.open_read(blob_id)
            except OSError:
                continue
            try:
                size = os.fstat(fd).st_size
                md5 = hashlib.md5()
                digests = bytearray()
                for offset in range(0, size, BLOCK_SIZE):
                    data = drive.pread(fd, min(BLOCK_SIZE, size - offset), offset)
                    md5.update(data)
                    digests += block_digest(data)
            except OSError:
                continue
            finally:
                _close(fd)
            return BlobInfo(
                blob_id=blob_id,
                size=size,
                md5=md5.hexdigest(),
                block_size=BLOCK_SIZE,
                blocks=bytes(digests),
                replicas=tuple(drive_ids),
                created=time.time(),
            )
        return None
