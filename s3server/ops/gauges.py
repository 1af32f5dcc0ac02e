"""Storage gauges for /metrics: each drive's free and total space and whether it is online, and the
number and bytes of committed blobs, read when a scrape asks rather than on any request's path."""

from __future__ import annotations

import os
import time
from collections.abc import Iterable
from dataclasses import dataclass

from prometheus_client.core import GaugeMetricFamily

from s3server.storage.drives import Drive
from s3server.storage.replicated import ReplicatedBlobStore

BLOB_TOTALS_TTL = 60.0  # counting blobs scans the storage index: at most once a minute


@dataclass(frozen=True, slots=True)
class DriveSpace:
    drive_id: str
    path: str
    online: bool
    free: int
    total: int


def drive_space(drive: Drive) -> DriveSpace:
    """statvfs of the drive's directory (zeros when it cannot be read)."""
    online = drive.online
    try:
        st = os.statvfs(drive.path)
        free, total = st.f_bavail * st.f_frsize, st.f_blocks * st.f_frsize
    except OSError:
        free = total = 0
    return DriveSpace(drive.drive_id, str(drive.path), online, free, total)


class StorageGauges:
    """A Metrics refresher and source pair over a replicated blob store."""

    def __init__(self, store: ReplicatedBlobStore) -> None:
        self.store = store
        self._drives: list[DriveSpace] = []
        self._blobs: tuple[int, int] | None = None
        self._blobs_read = -BLOB_TOTALS_TTL

    async def refresh(self) -> None:
        self._drives = await self.store.run(lambda: [drive_space(d) for d in self.store.drives])
        now = time.monotonic()
        if self._blobs is None or now - self._blobs_read > BLOB_TOTALS_TTL:
            self._blobs = await self.store.index.totals()
            self._blobs_read = now

    def collect(self) -> Iterable[GaugeMetricFamily]:
        labels = ["drive", "path"]
        free = GaugeMetricFamily("s3_drive_free_bytes", "Free space on each drive", labels=labels)
        total = GaugeMetricFamily("s3_drive_size_bytes", "Size of each drive's file system", labels=labels)
        online = GaugeMetricFamily(
            "s3_drive_online", "1 when the drive is mounted and initialised", labels=labels
        )
        for drive in self._drives:
            free.add_metric([drive.drive_id, drive.path], drive.free)
            total.add_metric([drive.drive_id, drive.path], drive.total)
            online.add_metric([drive.drive_id, drive.path], 1 if drive.online else 0)
        yield from (free, total, online)
        if self._blobs is not None:
            count, size = self._blobs
            yield GaugeMetricFamily("s3_blobs", "Committed blobs in the storage index", value=count)
            yield GaugeMetricFamily(
                "s3_blob_bytes", "Bytes of committed blobs (one replica each)", value=size
            )
