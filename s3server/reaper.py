"""The reaper: one background task that runs the housekeeping passes, at start-up and periodically.

- `UploadReaper` aborts multipart uploads abandoned longer than --upload-expiry, parts and all. Each
  abort goes through the saga (metadata first, then the part blobs), so a pass interrupted halfway
  leaves nothing inconsistent and the next pass finishes the job.
- `BlobReaper` removes what a crash or a failed compensation left in storage: temporary files,
  blobs whose deletion could not finish, and blobs older than --reaper-grace that no metadata
  references (the metadata store is asked; nothing it references is ever removed). Its first pass
  also walks every drive, so replica files written just before a crash, whose index row never
  committed, are removed too, or indexed when metadata does reference them.

The grace period is what makes this safe beside writes in flight (also in other worker processes):
a blob is written before the metadata that references it commits, so a young unreferenced blob is
probably about to be referenced.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from s3server.metadata.base import MetadataStore
from s3server.saga import Saga
from s3server.storage.base import StorageError
from s3server.storage.drives import Drive
from s3server.storage.replicated import ReplicatedBlobStore

log = logging.getLogger("s3server.reaper")

MIN_INTERVAL = 1.0  # seconds
MAX_INTERVAL = 3600.0
PAGE = 500  # blobs per metadata question
# A pass that finds most of a large store unreferenced is far more likely to be talking to the wrong
# metadata database than to be right; it deletes nothing and says so.
SUSPICIOUS_FRACTION = 0.5
SUSPICIOUS_MINIMUM = 1000


class Pass(Protocol):
    name: str
    interval: float

    @property
    def enabled(self) -> bool: ...

    async def reap_once(self) -> Any: ...


class UploadReaper:
    """Aborts uploads initiated more than `expiry_hours` ago; a non-positive expiry disables it."""

    name = "upload reaper"

    def __init__(self, saga: Saga, expiry_hours: float) -> None:
        self.saga = saga
        self.expiry = timedelta(hours=expiry_hours)
        # Check a few times per expiry period, so an upload outlives its expiry by at most a quarter.
        self.interval = min(MAX_INTERVAL, max(MIN_INTERVAL, self.expiry.total_seconds() / 4))

    @property
    def enabled(self) -> bool:
        return self.expiry > timedelta(0)

    async def reap_once(self) -> int:
        """One pass; returns how many uploads were aborted."""
        aborted = await self.saga.reap_uploads(datetime.now(UTC) - self.expiry)
        if aborted:
            log.info("aborted %d multipart upload(s) older than %s", aborted, self.expiry)
        return aborted


@dataclass
class BlobReport:
    temp_files: int = 0  # crash leftovers in tmp/
    deletes_finished: int = 0  # blobs whose earlier deletion had failed on some drive
    unreferenced: int = 0  # indexed blobs no metadata references
    stray_files: int = 0  # replica files without an index row (or on a drive their row does not list)
    adopted: int = 0  # replica files without an index row that metadata references: indexed now
    walked: bool = False

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class BlobReaper:
    """Removes unreferenced blobs and crash leftovers; see the module docstring."""

    name = "blob reaper"

    def __init__(
        self, store: ReplicatedBlobStore, meta: MetadataStore, grace: float, interval: float
    ) -> None:
        self.store = store
        self.meta = meta
        self.grace = max(0.0, grace)
        self.interval = max(MIN_INTERVAL, interval)
        self._walked = False
        self._lock = asyncio.Lock()

    @property
    def enabled(self) -> bool:
        return True

    async def reap_once(self, walk: bool | None = None) -> BlobReport:
        """One pass; walks the drives on the first pass (or when asked)."""
        async with self._lock:
            report = BlobReport()
            cutoff = time.time() - self.grace
            store = self.store
            report.temp_files = await store.run(store.clean_temp, cutoff)
            report.deletes_finished = await store.finish_deletes()
            await self._unreferenced(cutoff, report)
            if walk or (walk is None and not self._walked):
                await self._walk(cutoff, report)
                self._walked = True
                report.walked = True
            if any(v for k, v in report.as_dict().items() if k != "walked"):
                log.info("blob reaper: %s", report.as_dict())
            return report

    async def _unreferenced(self, cutoff: float, report: BlobReport) -> None:
        """Ask metadata about every indexed blob older than the cutoff; delete the unreferenced ones,
        unless so many are that the metadata store is probably the wrong one."""
        orphans: list[str] = []
        checked = 0
        after = ""
        while True:
            rows = await self.store.index.page(after, PAGE, created_before=cutoff)
            if not rows:
                break
            after = rows[-1].blob_id
            ids = [r.blob_id for r in rows]
            referenced = await self.meta.referenced_blobs(ids)
            orphans += [b for b in ids if b not in referenced]
            checked += len(ids)
            if checked >= SUSPICIOUS_MINIMUM and len(orphans) > SUSPICIOUS_FRACTION * checked:
                log.error(
                    "blob reaper: %d of the first %d blobs look unreferenced; is this the right metadata "
                    "store? Deleting nothing.",
                    len(orphans),
                    checked,
                )
                return
            if len(rows) < PAGE:
                break
        for i in range(0, len(orphans), PAGE):
            try:
                await self.store.delete(orphans[i : i + PAGE])
            except StorageError as exc:  # retried from state 'deleting' next pass
                log.warning("blob reaper: %s", exc)
        report.unreferenced += len(orphans)

    async def _walk(self, cutoff: float, report: BlobReport) -> None:
        """Compare the replica files on every drive with the index, one top directory at a time."""
        store = self.store
        tops: set[str] = set()
        for drive in store.drives:
            tops.update(await store.run(store.top_dirs, drive))
        for top in sorted(tops):
            files: dict[str, list[tuple[Drive, float]]] = {}
            for drive in store.drives:
                for blob_id, mtime in await store.run(store.scan_files, drive, top):
                    files.setdefault(blob_id, []).append((drive, mtime))
            if files:
                await self._settle(files, cutoff, report)

    async def _settle(
        self, files: dict[str, list[tuple[Drive, float]]], cutoff: float, report: BlobReport
    ) -> None:
        store = self.store
        rows = await store.index.get_many(list(files))
        unindexed = [b for b in files if b not in rows]
        referenced = await self.meta.referenced_blobs(unindexed) if unindexed else set()
        doomed: list[tuple[Drive, str]] = []
        for blob_id, copies in files.items():
            row = rows.get(blob_id)
            if row is not None:
                doomed += [
                    (d, blob_id) for d, mtime in copies if d.drive_id not in row.replicas and mtime < cutoff
                ]
            elif blob_id in referenced:
                info = await store.run(store.adopt, blob_id, [d.drive_id for d, _ in copies])
                if info is not None:
                    await store.index.insert(info, on_conflict="IGNORE")
                    report.adopted += 1
                    log.warning("blob %s had no index row but is referenced: indexed it", blob_id)
            elif all(mtime < cutoff for _, mtime in copies):
                doomed += [(d, blob_id) for d, _ in copies]
        if doomed:
            await store.run(_unlink_all, doomed)
            report.stray_files += len(doomed)


def _unlink_all(files: Sequence[tuple[Drive, str]]) -> None:
    for drive, blob_id in files:
        try:
            drive.unlink(blob_id)
        except OSError as exc:
            log.warning("could not remove stray replica %s on %s: %s", blob_id, drive, exc)


class Reaper:
    """Runs every enabled pass right away, then each again after its own interval, in one task."""

    def __init__(self, passes: Sequence[Pass]) -> None:
        self.passes = [p for p in passes if p.enabled]
        self._task: asyncio.Task[None] | None = None

    async def _run(self) -> None:
        due = dict.fromkeys(range(len(self.passes)), 0.0)
        loop = asyncio.get_running_loop()
        while True:
            for i, job in enumerate(self.passes):
                if loop.time() < due[i]:
                    continue
                try:
                    await job.reap_once()
                except asyncio.CancelledError:
                    raise
                except Exception:  # a metadata or storage hiccup: try again next round
                    log.exception("%s pass failed", job.name)
                due[i] = loop.time() + job.interval
            await asyncio.sleep(max(0.0, min(due.values()) - loop.time()))

    def start(self) -> None:
        if self.passes and self._task is None:
            self._task = asyncio.create_task(self._run(), name="reaper")

    async def stop(self) -> None:
        task, self._task = self._task, None
        await cancel(task)


async def cancel(task: asyncio.Task[None] | None) -> None:
    """Cancel a background task (if any) and wait until it has stopped."""
    if task is not None:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
