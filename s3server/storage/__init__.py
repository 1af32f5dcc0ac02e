"""Storage: blobs on local drives, replicated, indexed in SQLite, verified block by block on read.

`build_blob_store` turns Settings into the store the server and `s3server scrub` use.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Executor
from pathlib import Path

from s3server.config import Settings
from s3server.storage.drives import Drive
from s3server.storage.replicated import ReplicatedBlobStore

INDEX_FILE = "storage-index.db"
DEFAULT_DRIVE = "storage"  # inside the data dir, where a single-drive server has always kept blobs
MAX_DEFAULT_REPLICAS = 3


def drive_paths(settings: Settings) -> list[Path]:
    return [Path(p) for p in settings.drives] or [settings.data_path / DEFAULT_DRIVE]


def replica_count(settings: Settings) -> int:
    return settings.replicas or min(MAX_DEFAULT_REPLICAS, len(drive_paths(settings)))


def build_blob_store(
    settings: Settings, executor: Executor | None = None, drive_factory: Callable[..., Drive] = Drive
) -> ReplicatedBlobStore:
    """The blob store described by --data-dir, --drive and --replicas (not opened yet)."""
    return ReplicatedBlobStore(
        settings.data_path / INDEX_FILE,
        drive_paths(settings),
        replica_count(settings),
        executor,
        drive_factory=drive_factory,
    )
